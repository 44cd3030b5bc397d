/*
 * endpoint.h - the one grammar of a TCP endpoint as users write it (targets, --resolvers,
 * --proxy, baseline rows), the one port parser, and proxy URLs.
 *
 * An endpoint is one of
 *
 *   HOST            a name or an IPv4 address (no ':')
 *   HOST:PORT       exactly one ':'
 *   IPV6            a bare IPv6 literal: two or more ':' and no port (a port needs brackets)
 *   [IPV6]          brackets, no port
 *   [IPV6]:PORT
 *
 * Only the structure is checked here: what HOST may be (a name, an address of some family)
 * is the caller's business, and so is whether a port is required.
 */
#ifndef JARM_ENDPOINT_H_
#define JARM_ENDPOINT_H_

#include <stddef.h>
#include <stdint.h>

/*
 * A decimal port 1-65535 of n bytes (no NUL needed): one to five ASCII digits, leading zeros
 * allowed, nothing else (no sign, no blank). Returns 0 and stores it in *port, or JARM_EINVAL.
 */
int jarm__port_parse(const char *s, size_t n, uint16_t *port);

/*
 * Whether s (len bytes) is a host name as DNS allows it: 1-253 bytes, labels of 1-63
 * letters, digits, '-' or '_' separated by single dots; a final dot only if trailing_dot.
 */
int jarm__dns_name_valid(const char *s, size_t len, int trailing_dot);

/* What was wrong with an endpoint (jarm__endpoint_t.bad). */
typedef enum jarm__endpoint_bad_e {
    JARM__EP_OK = 0,
    JARM__EP_NO_CLOSE, /* '[' without ']' */
    JARM__EP_AFTER,    /* ']' followed by something other than ':' */
    JARM__EP_PORT,     /* the port is not 1-65535 (port_text says what it was) */
    JARM__EP_NO_HOST   /* the host is empty */
} jarm__endpoint_bad_t;

typedef struct jarm__endpoint_s {
    const char *host; /* inside the input, brackets removed */
    size_t host_len;
    const char *port_text; /* the text after the ':' of a port, or NULL when none */
    size_t port_len;
    uint16_t port; /* 0 when none was given */
    int bracketed; /* the host was written [IPV6] */
    jarm__endpoint_bad_t bad;
} jarm__endpoint_t;

/*
 * Split s (n bytes, no NUL needed, nothing trimmed) into host and port. Returns 0, or
 * JARM_EINVAL with ep->bad saying why. The checks run in the order of jarm__endpoint_bad_t,
 * and whatever was found before the failing one is filled in (for JARM__EP_PORT the host
 * and port_text are set, so a caller can judge the host first).
 */
int jarm__endpoint_parse(const char *s, size_t n, jarm__endpoint_t *ep);

/* ---------------------------------------------------------------------------------------
 * Proxy URLs: SCHEME://[USER[:PASS]@]ENDPOINT with a port required. USER and PASS may hold
 * %XX escapes (percent-encoding), decoded here; the '@' that ends them is the last one.
 */

typedef enum jarm__proxy_scheme_e {
    JARM__PROXY_SOCKS5 = 1, /* socks5:// */
    JARM__PROXY_SOCKS5H,    /* socks5h:// (names resolved by the proxy; so are socks5's) */
    JARM__PROXY_HTTP        /* http:// (HTTP CONNECT) */
} jarm__proxy_scheme_t;

/* Longest user, password and host of a proxy URL (SOCKS5 sends each with a length byte). */
#define JARM__PROXY_FIELD_MAX 255

typedef struct jarm__proxy_url_s {
    jarm__proxy_scheme_t scheme;
    int auth;                             /* USER@ was given */
    char user[JARM__PROXY_FIELD_MAX + 1]; /* decoded, NUL-terminated; 1-255 bytes */
    char pass[JARM__PROXY_FIELD_MAX + 1]; /* decoded, NUL-terminated; 0-255 bytes */
    char host[JARM__PROXY_FIELD_MAX + 1]; /* brackets removed, NUL-terminated */
    uint16_t port;
    int bad_credentials; /* on failure: the user or password was what was wrong */
} jarm__proxy_url_t;

/* The scheme of url (jarm__proxy_scheme_t), or JARM_EINVAL if it is none of the three. */
int jarm__proxy_scheme(const char *url);

/*
 * Parse url into *u. Returns 0, or JARM_EINVAL with u->bad_credentials set when the user or
 * password is empty (the user), longer than 255 bytes once decoded, holds a bad %-escape or
 * an escaped NUL, and a message in msg (msglen bytes; msg may be NULL).
 */
int jarm__proxy_url_parse(const char *url, jarm__proxy_url_t *u, char *msg, size_t msglen);

#endif /* JARM_ENDPOINT_H_ */
