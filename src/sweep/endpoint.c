/*
 * endpoint.c - see endpoint.h.
 */
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "jarm.h"
#include "util.h"

int jarm__port_parse(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return JARM_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return JARM_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return JARM_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int jarm__dns_name_valid(const char *s, size_t len, int trailing_dot)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return label != 0 || trailing_dot;
}

static int fail(jarm__endpoint_t *ep, jarm__endpoint_bad_t why)
{
    ep->bad = why;
    return JARM_EINVAL;
}

int jarm__endpoint_parse(const char *s, size_t n, jarm__endpoint_t *ep)
{
    const char *colon = NULL;

    memset(ep, 0, sizeof(*ep));
    ep->host = s;
    ep->host_len = n;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t after;
        if (close == NULL)
            return fail(ep, JARM__EP_NO_CLOSE);
        ep->bracketed = 1;
        ep->host = s + 1;
        ep->host_len = (size_t)(close - s) - 1;
        after = n - (size_t)(close - s) - 1;
        if (after > 0) {
            if (close[1] != ':')
                return fail(ep, JARM__EP_AFTER);
            colon = close + 1;
        }
    } else if (n > 0 && (colon = memchr(s, ':', n)) != NULL) {
        if (memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) != NULL)
            colon = NULL; /* two or more ':': a bare IPv6 literal */
        else
            ep->host_len = (size_t)(colon - s);
    }
    if (colon != NULL) {
        ep->port_text = colon + 1;
        ep->port_len = n - (size_t)(colon + 1 - s);
        if (jarm__port_parse(ep->port_text, ep->port_len, &ep->port) != 0)
            return fail(ep, JARM__EP_PORT);
    }
    if (ep->host_len == 0)
        return fail(ep, JARM__EP_NO_HOST);
    return 0;
}

int jarm__proxy_scheme(const char *url)
{
    if (strncmp(url, "socks5://", 9) == 0)
        return JARM__PROXY_SOCKS5;
    if (strncmp(url, "socks5h://", 10) == 0)
        return JARM__PROXY_SOCKS5H;
    if (strncmp(url, "http://", 7) == 0)
        return JARM__PROXY_HTTP;
    return JARM_EINVAL;
}

/* Percent-decode s (n bytes) into out (JARM__PROXY_FIELD_MAX + 1 bytes, NUL-terminated).
 * Returns the decoded length, or -1 (too long, a bad escape, an escaped NUL). */
static int decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (n - i < 3 || (hi = jarm__hex_digit(s[i + 1], 1)) < 0 ||
                (lo = jarm__hex_digit(s[i + 2], 1)) < 0 || (hi | lo) == 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o == JARM__PROXY_FIELD_MAX)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

int jarm__proxy_url_parse(const char *url, jarm__proxy_url_t *u, char *msg, size_t msglen)
{
    const char *rest, *at, *hp;
    jarm__endpoint_t ep;
    int scheme = jarm__proxy_scheme(url);

    memset(u, 0, sizeof(*u));
    if (scheme < 0)
        goto Bad;
    u->scheme = (jarm__proxy_scheme_t)scheme;
    rest = strstr(url, "://") + 3;
    hp = rest;
    if ((at = strrchr(rest, '@')) != NULL) {
        const char *c = memchr(rest, ':', (size_t)(at - rest));
        size_t ul = c ? (size_t)(c - rest) : (size_t)(at - rest);
        if (ul == 0 || decode(rest, ul, u->user) <= 0 ||
            (c != NULL && decode(c + 1, (size_t)(at - c - 1), u->pass) < 0)) {
            u->bad_credentials = 1;
            if (msg != NULL && msglen > 0)
                (void)snprintf(msg, msglen, "bad proxy credentials (1-255 bytes each)");
            return JARM_EINVAL;
        }
        u->auth = 1;
        hp = at + 1;
    }
    if (jarm__endpoint_parse(hp, strlen(hp), &ep) != 0 || ep.port_text == NULL ||
        ep.host_len > JARM__PROXY_FIELD_MAX)
        goto Bad;
    memcpy(u->host, ep.host, ep.host_len);
    u->host[ep.host_len] = '\0';
    u->port = ep.port;
    return 0;
Bad:
    if (msg != NULL && msglen > 0)
        (void)snprintf(msg, msglen,
                       "bad proxy '%s' (socks5://, socks5h:// or http://, then "
                       "[user:pass@]host:port)",
                       url);
    return JARM_EINVAL;
}
