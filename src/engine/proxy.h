/*
 * proxy.h - the proxy handshake of a probe connection, behind one small interface.
 *
 * After the TCP connection to the proxy is up, the connection runs the handshake: start()
 * gives the first bytes to send; each read is given to feed(), which answers MORE (wait for
 * more; perhaps send these bytes first), DONE (the tunnel to the target is open; `used`
 * bytes of the input were the proxy's, the rest is the target's) or FAIL (the probe's
 * result and a reason). The connection only moves bytes; the protocol is here, and its
 * parsing is in src/core (socks5.c; an HTTP CONNECT handshake over httpproxy.c would be a
 * second jarm__handshake_t).
 */
#ifndef JARM_PROXY_H_
#define JARM_PROXY_H_

#include <stddef.h>
#include <stdint.h>

#include "scan.h"
#include "socks5.h"

/* Bytes a handshake may ask to send at once (an auth request and a CONNECT). */
#define JARM__HS_OUT_MAX 800

typedef enum jarm__hs_status_e { JARM__HS_MORE = 0, JARM__HS_DONE, JARM__HS_FAIL } jarm__hs_status_t;

/* Per connection. */
typedef struct jarm__hs_state_s {
    uint8_t step;
    union {
        jarm__socks5_reply_t socks5;
    } u;
} jarm__hs_state_t;

typedef struct jarm__hs_out_s {
    uint8_t buf[JARM__HS_OUT_MAX]; /* to send now */
    size_t len;
    size_t used;            /* input bytes consumed */
    jarm__pstatus_t result; /* FAIL: JARM__P_PROXY, or what the proxy says of the target */
    const char *reason;     /* FAIL with JARM__P_PROXY: why, a static string */
} jarm__hs_out_t;

typedef struct jarm__handshake_s {
    const char *name;
    /* The first bytes into out; returns 0 or FAIL (out->reason says why). */
    jarm__hs_status_t (*start)(jarm__hs_state_t *hs, const jarm__target_t *t,
                               const jarm__scan_opts_t *o, jarm__hs_out_t *out);
    jarm__hs_status_t (*feed)(jarm__hs_state_t *hs, const jarm__target_t *t,
                              const jarm__scan_opts_t *o, const uint8_t *in, size_t n,
                              jarm__hs_out_t *out);
} jarm__handshake_t;

extern const jarm__handshake_t jarm__socks5_handshake;

#endif /* JARM_PROXY_H_ */
