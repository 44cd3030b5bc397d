/*
 * target.c - the target grammar.
 *
 * A target names one TCP endpoint. The forms are those users type and those the reference
 * reads from its input files (`host,port`), so a list written for jarm.py works here too.
 * Unlike the reference we trim white space instead of chopping the last character, and a
 * line without a port gets the --ports list instead of the previous line's port (the
 * reference's persisting port is a bug nobody relies on; jarm(7)). Bad input never fails the
 * run: it becomes a JARM__TARGET_BAD with a one-line reason that ends up in the row.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "target.h"
#include "util.h"

static void bad(jarm__target_spec_t *t, const char *what, const char *s, size_t len)
{
    char q[40];
    jarm__quote(q, sizeof(q), s, len, 32, 0);
    t->kind = JARM__TARGET_BAD;
    snprintf(t->error, sizeof(t->error), "bad %s '%s'", what, q);
}

static void set_host(jarm__target_spec_t *t, const char *h, size_t len)
{
    memcpy(t->host, h, len);
    t->host[len] = '\0';
    t->host_len = len;
}

/* The reference's "host,port": the host into (*h, *hl), the port into t. 0, or -1 with t
 * made bad. */
static int split_comma(const char *line, size_t len, const char *sep, jarm__target_spec_t *t,
                       const char **h, size_t *hl)
{
    const char *p = sep + 1;
    size_t pl = len - (size_t)(sep - line) - 1;

    *h = line;
    *hl = (size_t)(sep - line);
    while (*hl > 0 && jarm__is_space(line[*hl - 1]))
        (*hl)--;
    while (pl > 0 && jarm__is_space(p[0])) {
        p++;
        pl--;
    }
    if (jarm__port_parse(p, pl, &t->port) != 0) {
        bad(t, "port", p, pl);
        return -1;
    }
    return 0;
}

/* "host", "host:port", "[v6]" or "[v6]:port": the host into (*h, *hl), the port into t. 0, or
 * -1 with t made bad. */
static int split_endpoint(const char *line, size_t len, jarm__target_spec_t *t, const char **h,
                          size_t *hl)
{
    jarm__endpoint_t ep;

    (void)jarm__endpoint_parse(line, len, &ep); /* ep.bad says what failed */
    if (ep.bad == JARM__EP_NO_CLOSE || ep.bad == JARM__EP_AFTER) {
        bad(t, "target", line, len);
        return -1;
    }
    *h = ep.host;
    *hl = ep.host_len;
    if (ep.bracketed && (*hl == 0 || *hl > JARM_HOST_MAX || memchr(*h, ':', *hl) == NULL)) {
        bad(t, "IPv6 address", *h, *hl);
        return -1;
    }
    if (ep.bad == JARM__EP_PORT) {
        bad(t, "port", ep.port_text, ep.port_len);
        return -1;
    }
    t->port = ep.port;
    return 0;
}

/* Classify the host h (hl bytes) of t, whose port is set: an IP address (t->addr), a DNS
 * name, or bad. */
static void set_target_host(jarm__target_spec_t *t, const char *h, size_t hl)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->addr;
    char tmp[JARM_HOST_MAX + 1];

    if (hl == 0) {
        t->kind = JARM__TARGET_BAD;
        snprintf(t->error, sizeof(t->error), "missing host");
        return;
    }
    if (hl > JARM_HOST_MAX) {
        bad(t, "host (too long)", h, hl);
        return;
    }
    memcpy(tmp, h, hl);
    tmp[hl] = '\0';
    if (inet_pton(AF_INET, tmp, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(t->port);
        t->kind = JARM__TARGET_IP;
    } else if (inet_pton(AF_INET6, tmp, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(t->port);
        t->kind = JARM__TARGET_IP;
    } else if (memchr(tmp, ':', hl) != NULL) {
        bad(t, "IPv6 address", h, hl);
        return;
    } else if (jarm__dns_name_valid(h, hl, 1)) {
        t->kind = JARM__TARGET_NAME;
    } else {
        bad(t, "host", h, hl);
        return;
    }
    set_host(t, h, hl);
}

void jarm__target_parse(const char *line, size_t len, jarm__target_spec_t *t)
{
    const char *h = NULL, *sep;
    size_t hl = 0;
    int ret;

    memset(t, 0, sizeof(*t));
    jarm__trim(&line, &len);
    if (len == 0 || line[0] == '#') {
        t->kind = JARM__TARGET_SKIP;
        return;
    }
    if (memchr(line, '\0', len) != NULL) {
        bad(t, "target", line, len);
        return;
    }
    if ((sep = memchr(line, ',', len)) != NULL && line[0] != '[') /* the reference's host,port */
        ret = split_comma(line, len, sep, t, &h, &hl);
    else
        ret = split_endpoint(line, len, t, &h, &hl);
    if (ret == 0)
        set_target_host(t, h, hl);
}

int jarm__ports_parse(const char *s, uint16_t *ports, size_t cap, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = s;

    if (*s == '\0') {
        snprintf(err, errlen, "empty port list");
        return -1;
    }
    while (*p) {
        const char *comma = strchr(p, ','), *dash;
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        uint16_t lo, hi;
        char q[40];

        dash = memchr(p, '-', len);
        lo = hi = 0;
        if (dash) {
            (void)jarm__port_parse(p, (size_t)(dash - p), &lo);
            (void)jarm__port_parse(dash + 1, len - (size_t)(dash - p) - 1, &hi);
        } else if (jarm__port_parse(p, len, &lo) == 0) {
            hi = lo;
        }
        if (lo == 0 || hi == 0 || hi < lo) {
            jarm__quote(q, sizeof(q), p, len, 32, 0);
            snprintf(err, errlen, "bad port '%s'", q);
            return -1;
        }
        for (unsigned v = lo; v <= hi; v++) {
            if (n == cap) {
                snprintf(err, errlen, "too many ports (at most %zu)", cap);
                return -1;
            }
            ports[n++] = (uint16_t)v;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                snprintf(err, errlen, "bad port ''");
                return -1;
            }
        }
    }
    return (int)n;
}
