/*
 * httpproxy.h - the HTTP CONNECT handshake of a forward proxy, as pure pieces: the request
 * (with Basic authentication) and an incremental, bounded reader of the proxy's reply.
 *
 * A client sends `CONNECT host:port HTTP/1.1`; the proxy answers with a status line and
 * headers ending in a blank line, after which (on a 2xx) the connection carries the
 * origin's bytes: the TLS reply follows the blank line, possibly in the same read. So the
 * reader consumes exactly up to and including the blank line's LF and never a byte more;
 * the caller passes what is left of its buffer on to the TLS side.
 *
 * No I/O, no libuv, no allocation; libcrypto only for base64. Internal (jarm__): the proxy
 * is a property of the scanning engine, not of the fingerprint core.
 */
#ifndef JARM_HTTPPROXY_H_
#define JARM_HTTPPROXY_H_

#include <stddef.h>
#include <stdint.h>

/* Default bound of a reply's status line and headers, blank line included. */
#define JARM__HTTP_REPLY_MAX 8192

/* Longest reason phrase kept (longer ones are cut, reason_cut says so). */
#define JARM__HTTP_REASON_MAX 127

/* Reader outcomes: MORE is the only undecided one. */
typedef enum jarm__http_status_e {
    JARM__HTTP_MORE = 0,  /* every byte consumed, the blank line not seen yet */
    JARM__HTTP_DONE,      /* status line and headers complete, blank line consumed */
    JARM__HTTP_MALFORMED, /* not an HTTP/1.x status line and header block */
    JARM__HTTP_TOO_LONG,  /* no blank line within max bytes */
    JARM__HTTP_TRUNCATED  /* EOF (jarm__http_reply_finish) before the blank line */
} jarm__http_status_t;

typedef struct jarm__http_reply_s {
    size_t max; /* bytes the reader may consume */
    size_t len; /* bytes consumed */
    jarm__http_status_t status;
    unsigned state;   /* position in the grammar (private) */
    unsigned matched; /* bytes of "HTTP/1." or of a header name matched (private) */
    int in_auth;      /* inside a Proxy-Authenticate value (private) */
    /* The result, filled in as the bytes arrive; complete once status is DONE. */
    unsigned minor;                         /* HTTP/1.<minor> */
    unsigned code;                          /* status code, 100..599 */
    char reason[JARM__HTTP_REASON_MAX + 1]; /* NUL-terminated; control bytes are refused */
    size_t reason_len;
    int reason_cut;
    char auth_scheme[16]; /* scheme of the first Proxy-Authenticate ("Basic"), or "" */
    unsigned headers;     /* header lines */
} jarm__http_reply_t;

/* Start a reader bounded to max bytes (0: JARM__HTTP_REPLY_MAX). */
void jarm__http_reply_init(jarm__http_reply_t *r, size_t max);

/*
 * Feed the next len bytes. Returns the status; r->len counts all bytes consumed so far, so
 * on DONE the bytes data[len - (r->len - before) ..] (with `before` r->len at entry) are the
 * first bytes after the reply, for the TLS side. Feeding a final reader changes nothing.
 *
 * Grammar (RFC 9112, strict where it matters): "HTTP/1." DIGIT SP 3DIGIT [SP reason] EOL,
 * then header lines `token ":" value EOL`, then an empty line; EOL is CRLF or a bare LF.
 * The status code must be 100..599; a reason or value byte below 0x20 (but HTAB) or 0x7f is
 * malformed, as are an obsolete line folding, a header line without ':', an empty or
 * non-token header name and a CR not followed by LF.
 *
 * One reader reads one head. A proxy may send an interim 1xx head before the final one; a
 * caller that wants to skip it re-initialises the reader and feeds it the bytes that follow.
 */
jarm__http_status_t jarm__http_reply_feed(jarm__http_reply_t *r, const uint8_t *data, size_t len);

/* The connection ended: MORE becomes TRUNCATED. Returns the status. */
jarm__http_status_t jarm__http_reply_finish(jarm__http_reply_t *r);

/* "more", "done", "malformed", "too_long", "truncated". */
const char *jarm__http_status_name(jarm__http_status_t s);

/*
 * Write the CONNECT request for host:port (an IPv6 literal, i.e. a host with ':', is put in
 * brackets) with a Host header and, when user is not NULL, `Proxy-Authorization: Basic`
 * with the base64 of "user:pass" (pass may be NULL for empty), NUL-terminated, into out.
 * Stores the length in *out_len. Errors: JARM_EINVAL (empty host, a host with a byte <= 0x20,
 * 0x7f, '/', '@', '[' or ']', port 0 or over 65535, a user with ':' or a control byte, a
 * password with a control byte), JARM_ENOBUFS (then *out_len is the length needed).
 */
int jarm__http_connect_build(const char *host, size_t host_len, unsigned port, const char *user,
                             size_t user_len, const char *pass, size_t pass_len, char *out,
                             size_t cap, size_t *out_len);

#endif /* JARM_HTTPPROXY_H_ */
