/*
 * socks5.h - the client side of a SOCKS5 handshake (RFC 1928, username/password of RFC
 * 1929), as pure pieces: the three requests a client sends and an incremental, bounded
 * reader of each of the proxy's three replies.
 *
 * A client sends a greeting (the methods it offers), reads the method reply; if the proxy
 * chose username/password, sends the credentials and reads the auth reply; then sends
 * CONNECT and reads the connect reply, after which the connection carries the target's
 * bytes. The reader consumes exactly one reply and never a byte more, so whatever follows in
 * the caller's buffer belongs to the next stage.
 *
 * No I/O, no libuv, no allocation. Internal (jarm__): the proxy is a property of the
 * scanning engine, not of the fingerprint core.
 */
#ifndef JARM_SOCKS5_H_
#define JARM_SOCKS5_H_

#include <stddef.h>
#include <stdint.h>

/* Methods of the greeting and the method reply. */
#define JARM__SOCKS5_NO_AUTH     0x00
#define JARM__SOCKS5_USERPASS    0x02
#define JARM__SOCKS5_NO_METHOD   0xff /* the proxy accepts none of those offered */

/* Address types of CONNECT and of the connect reply's bound address. */
#define JARM__SOCKS5_IPV4   1
#define JARM__SOCKS5_DOMAIN 3
#define JARM__SOCKS5_IPV6   4

/* Longest request: the auth request with a 255-byte user and password. */
#define JARM__SOCKS5_REQUEST_MAX (3 + 255 + 255)

/* The reply a reader expects. */
typedef enum jarm__socks5_kind_e {
    JARM__SOCKS5_METHOD_REPLY = 0, /* VER METHOD */
    JARM__SOCKS5_AUTH_REPLY,       /* VER STATUS (RFC 1929) */
    JARM__SOCKS5_CONNECT_REPLY     /* VER REP RSV ATYP BND.ADDR BND.PORT */
} jarm__socks5_kind_t;

/* Reader outcomes: MORE is the only undecided one. */
typedef enum jarm__socks5_status_e {
    JARM__SOCKS5_MORE = 0,  /* every byte given was consumed, the reply is not complete */
    JARM__SOCKS5_DONE,      /* the reply is complete (which says nothing of success) */
    JARM__SOCKS5_MALFORMED  /* not such a reply: wrong version or address type */
} jarm__socks5_status_t;

typedef struct jarm__socks5_reply_s {
    uint8_t kind;   /* jarm__socks5_kind_t */
    uint8_t status; /* jarm__socks5_status_t */
    uint16_t len;   /* bytes consumed */
    uint16_t need;  /* bytes the reply has, as far as known (private) */
    /* The result, complete once status is DONE. */
    uint8_t method; /* method reply: the method chosen */
    uint8_t code;   /* auth reply: 0 success; connect reply: REP, 0 succeeded */
    uint8_t atyp;   /* connect reply: the bound address's type (success only) */
    uint8_t bound_len; /* its length: 4, 16, or the name's length */
    uint16_t bound_port;
    uint8_t bound[16]; /* an IPv4 or IPv6 bound address (a name's bytes are not kept) */
} jarm__socks5_reply_t;

/* Start a reader for one reply of the given kind. */
void jarm__socks5_reply_init(jarm__socks5_reply_t *r, jarm__socks5_kind_t kind);

/*
 * Feed the next len bytes; consumes at most what the reply still lacks and stores in *used
 * how many it took (may be NULL). Returns the status. A reply is at most 262 bytes.
 *
 * Method reply: VER must be 5. Auth reply: VER 1 (a 5 is tolerated, as some proxies send
 * it). Connect reply: VER must be 5 and RSV is ignored; a failure (REP not 0) is DONE after
 * the four-byte header, as proxies often close without the bound address after one; on
 * success the address type must be 1, 3 or 4 and the reply ends after the port. Feeding a
 * reader that is DONE or MALFORMED consumes nothing and changes nothing.
 */
jarm__socks5_status_t jarm__socks5_reply_feed(jarm__socks5_reply_t *r, const uint8_t *data,
                                              size_t len, size_t *used);

/* Text for a failed connect reply's REP ("general failure", ...), never NULL. */
const char *jarm__socks5_rep_text(unsigned rep);

/* The greeting: offer no authentication, and username/password when userpass is set.
 * Writes at most 4 bytes; returns the length. */
size_t jarm__socks5_greeting(int userpass, uint8_t *out);

/* The RFC 1929 request. Returns its length, or JARM_EINVAL for a user or password longer
 * than 255 bytes. out has JARM__SOCKS5_REQUEST_MAX bytes. */
int jarm__socks5_auth_request(const char *user, size_t user_len, const char *pass,
                              size_t pass_len, uint8_t *out);

/* The CONNECT request for a name (atyp 3, 1..255 bytes) or an address (atyp 1 with 4 bytes,
 * atyp 4 with 16). Returns its length (at most 262), or JARM_EINVAL. */
int jarm__socks5_connect_request(unsigned atyp, const uint8_t *addr, size_t addr_len,
                                 unsigned port, uint8_t *out);

#endif /* JARM_SOCKS5_H_ */
