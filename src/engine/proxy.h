/*
 * proxy.h - the proxy handshake of a probe connection, behind one small interface.
 *
 * After the TCP connection to the proxy is up, the connection runs the handshake: start()
 * gives the first bytes to send; each read is given to feed(), which answers MORE (wait for
 * more; perhaps send these bytes first), DONE (the tunnel to the target is open; `used`
 * bytes of the input were the proxy's, the rest is the target's) or FAIL (the probe's
 * result and a reason). The connection only moves bytes; the protocol is here, and its
 * parsing is in src/core: socks5.c for SOCKS5, httpproxy.c for HTTP CONNECT.
 */
#ifndef JARM_PROXY_H_
#define JARM_PROXY_H_

#include <stddef.h>
#include <stdint.h>

#include "httpproxy.h"
#include "scan.h"
#include "socks5.h"

/* Bytes a handshake may ask to send at once: a SOCKS5 auth request and CONNECT, or an HTTP
 * CONNECT with a 255-byte host, Basic credentials of 255 + 255 bytes (1300 at most). */
#define JARM__HS_OUT_MAX 1400

typedef enum jarm__hs_status_e { JARM__HS_MORE = 0, JARM__HS_DONE, JARM__HS_FAIL } jarm__hs_status_t;

/* Per connection. */
typedef struct jarm__hs_state_s {
    uint8_t step;
    uint16_t used; /* HTTP: bytes of the reply read so far, interim heads included */
    union {
        jarm__socks5_reply_t socks5;
        jarm__http_reply_t *http; /* from start() until end(): the heap, to keep every
                                     connection small when no HTTP proxy is used */
    } u;
} jarm__hs_state_t;

typedef struct jarm__hs_out_s {
    uint8_t buf[JARM__HS_OUT_MAX]; /* to send now */
    size_t len;
    size_t used;            /* input bytes consumed */
    jarm__pstatus_t result; /* FAIL: JARM__P_PROXY, or what the proxy says of the target */
    const char *reason;     /* FAIL with JARM__P_PROXY: why, a static string */
    unsigned code;          /* FAIL: the HTTP status the proxy answered (the row's error
                               becomes "proxy said CODE"), or 0 (the caller sets 0) */
} jarm__hs_out_t;

typedef struct jarm__handshake_s {
    const char *name;
    /* The first bytes into out; returns 0 or FAIL (out->reason says why). */
    jarm__hs_status_t (*start)(jarm__hs_state_t *hs, const jarm__target_t *t,
                               const jarm__scan_opts_t *o, jarm__hs_out_t *out);
    jarm__hs_status_t (*feed)(jarm__hs_state_t *hs, const jarm__target_t *t,
                              const jarm__scan_opts_t *o, const uint8_t *in, size_t n,
                              jarm__hs_out_t *out);
    /* The handshake is over (DONE, FAIL, or the connection ended during it): release what
     * start() took. NULL when there is nothing to release. */
    void (*end)(jarm__hs_state_t *hs);
} jarm__handshake_t;

extern const jarm__handshake_t jarm__socks5_handshake;
extern const jarm__handshake_t jarm__http_handshake;

#endif /* JARM_PROXY_H_ */
