/*
 * range.c - the range grammar and 128-bit address values.
 *
 * A sweep names address space, not endpoints, so its grammar is deliberately separate from
 * the single-target grammar of target.c and is tried first: a line is a range only if it
 * has a '/' (CIDR) or a '-' right after an IP literal (a-b range). Everything else, host
 * names with dashes included, goes on to jarm__target_parse unchanged, so a host file that
 * worked before still works and keeps its order. A malformed range is reported as such
 * instead of falling through to the name grammar, whose "bad host '10.0.0.0/33'" would hide
 * what the user meant.
 *
 * Ports never appear in a range: a range times the port list is the sweep's index space,
 * and a per-range port would make that space a union of differently shaped blocks for no
 * gain. IPv6 sizes are capped because a /64 is 2^64 addresses, which no sweep can finish;
 * the cap is lifted by --force up to 2^62, the largest index space the permutation
 * handles (cyclic.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "range.h"
#include "util.h"

/* The value of an IPv6 address's 16 bytes (network order). */
static jarm__u128_t from_v6(const unsigned char *b)
{
    jarm__u128_t a = {0, 0};
    for (int i = 0; i < 8; i++) {
        a.hi = a.hi << 8 | b[i];
        a.lo = a.lo << 8 | b[i + 8];
    }
    return a;
}

/* An IPv4 or IPv6 literal, exactly len bytes; returns its family or -1. */
static int parse_addr(const char *s, size_t len, jarm__u128_t *a)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char b[16];

    if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, b) == 1) {
        a->hi = 0;
        a->lo = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
        return AF_INET;
    }
    if (memchr(tmp, ':', len) != NULL && inet_pton(AF_INET6, tmp, b) == 1) {
        *a = from_v6(b);
        return AF_INET6;
    }
    return -1;
}

/* The mask of the low (host) bits of a /prefix of a family with bits address bits. */
static jarm__u128_t host_mask(unsigned bits, unsigned prefix)
{
    unsigned host = bits - prefix; /* 0..128 */
    jarm__u128_t m;
    if (host == 0) {
        m.hi = m.lo = 0;
    } else if (host < 64) {
        m.hi = 0;
        m.lo = ((uint64_t)1 << host) - 1;
    } else if (host == 64) {
        m.hi = 0;
        m.lo = UINT64_MAX;
    } else if (host < 128) {
        m.hi = ((uint64_t)1 << (host - 64)) - 1;
        m.lo = UINT64_MAX;
    } else {
        m.hi = m.lo = UINT64_MAX;
    }
    return m;
}

int jarm__cidr_parse(const char *s, size_t len, jarm__range_t *r)
{
    const char *slash = memchr(s, '/', len);
    size_t al = slash ? (size_t)(slash - s) : len;
    unsigned prefix = 0, bits;
    jarm__u128_t a, m;
    int family = parse_addr(s, al, &a);

    if (family < 0)
        return -1;
    bits = family == AF_INET ? 32 : 128;
    if (slash == NULL) {
        prefix = bits;
    } else {
        const char *p = slash + 1;
        size_t pl = len - al - 1;
        if (pl == 0 || pl > 3)
            return -1;
        for (size_t i = 0; i < pl; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > bits)
            return -1;
    }
    m = host_mask(bits, prefix);
    r->family = family;
    r->first.hi = a.hi & ~m.hi;
    r->first.lo = a.lo & ~m.lo;
    r->last.hi = r->first.hi | m.hi;
    r->last.lo = r->first.lo | m.lo;
    return 0;
}

uint64_t jarm__range_count(const jarm__range_t *r)
{
    jarm__u128_t d = jarm__u128_sub(r->last, r->first);
    if (d.hi != 0 || d.lo == UINT64_MAX)
        return UINT64_MAX;
    return d.lo + 1;
}

static int range_bad(char *err, size_t errlen, const char *what, const char *s, size_t len,
                     const char *why)
{
    char q[48];
    if (errlen > 0) {
        jarm__quote(q, sizeof(q), s, len, 40, 0);
        (void)snprintf(err, errlen, "bad %s '%s'%s", what, q, why);
    }
    return JARM__RANGE_BAD;
}

int jarm__range_parse(const char *line, size_t len, unsigned flags, jarm__range_t *r, char *err,
                      size_t errlen)
{
    jarm__range_t tmp;
    const char *dash;
    const char *what;
    uint64_t count;

    jarm__trim(&line, &len);
    if (len == 0 || line[0] == '#')
        return JARM__RANGE_NONE;

    if (memchr(line, '/', len) != NULL) {
        what = "CIDR";
        if (jarm__cidr_parse(line, len, &tmp) != 0) {
            const char *slash = memchr(line, '/', len);
            int port = memchr(line, ',', len) != NULL ||
                       memchr(slash, ':', len - (size_t)(slash - line)) != NULL;
            return range_bad(err, errlen, what, line, len,
                             port ? " (ranges take their ports from the port list)" : "");
        }
    } else if ((dash = memchr(line, '-', len)) != NULL) {
        const char *right = dash + 1;
        size_t ll = (size_t)(dash - line), rl = len - ll - 1;
        jarm__u128_t lo, hi;
        int f1, f2;

        while (ll > 0 && jarm__is_space(line[ll - 1])) /* "a - b" is fine too */
            ll--;
        while (rl > 0 && jarm__is_space(right[0])) {
            right++;
            rl--;
        }
        if ((f1 = parse_addr(line, ll, &lo)) < 0)
            return JARM__RANGE_NONE; /* a host name with a dash */
        what = "range";
        f2 = parse_addr(right, rl, &hi);
        if (f2 != f1)
            return range_bad(err, errlen, what, line, len, "");
        if (jarm__u128_cmp(lo, hi) > 0)
            return range_bad(err, errlen, what, line, len, " (first address after the last)");
        tmp.family = f1;
        tmp.first = lo;
        tmp.last = hi;
    } else {
        return JARM__RANGE_NONE;
    }

    count = jarm__range_count(&tmp);
    if (count > JARM__RANGE_MAX)
        return range_bad(err, errlen, what, line, len,
                         " (more than 2^62 addresses: too large to sweep)");
    if (tmp.family == AF_INET6 && count > JARM__RANGE_V6_LIMIT && !(flags & JARM__RANGE_FORCE))
        return range_bad(err, errlen, what, line, len,
                         " (IPv6 range of more than 2^32 addresses; use --force)");
    *r = tmp;
    return JARM__RANGE_OK;
}

void jarm__addr_to_sockaddr(int family, jarm__u128_t a, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        v4->sin_addr.s_addr = htonl((uint32_t)a.lo);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        unsigned char *b = v6->sin6_addr.s6_addr;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        for (int i = 0; i < 8; i++) {
            b[i] = (unsigned char)(a.hi >> (56 - 8 * i));
            b[i + 8] = (unsigned char)(a.lo >> (56 - 8 * i));
        }
    }
}

int jarm__addr_from_sockaddr(const struct sockaddr *sa, jarm__u128_t *a)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        a->hi = 0;
        a->lo = ntohl(v4->sin_addr.s_addr);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
        *a = from_v6(v6->sin6_addr.s6_addr);
        return AF_INET6;
    }
    return -1;
}

/* The text of an address value; buf has INET6_ADDRSTRLEN bytes. */
static void addr_str(int family, jarm__u128_t a, char *buf)
{
    struct sockaddr_storage ss;
    jarm__addr_to_sockaddr(family, a, 0, &ss);
    if (family == AF_INET)
        (void)inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, INET6_ADDRSTRLEN);
    else
        (void)inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, INET6_ADDRSTRLEN);
}

int jarm__range_format(const jarm__range_t *r, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int n;

    addr_str(r->family, r->first, a);
    addr_str(r->family, r->last, b);
    n = snprintf(buf, cap, "%s-%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int jarm__endpoint_format(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    unsigned port;
    int n;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)ss;
        (void)inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
        port = ntohs(v4->sin_port);
        n = port ? snprintf(buf, cap, "%s:%u", a, port) : snprintf(buf, cap, "%s", a);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)ss;
        (void)inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a));
        port = ntohs(v6->sin6_port);
        n = port ? snprintf(buf, cap, "[%s]:%u", a, port) : snprintf(buf, cap, "[%s]", a);
    } else {
        return -1;
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int range_cmp(const void *a, const void *b)
{
    const jarm__range_t *x = a, *y = b;
    if (x->family != y->family)
        return x->family == AF_INET ? -1 : 1;
    return jarm__u128_cmp(x->first, y->first);
}

size_t jarm__range_normalise(jarm__range_t *r, size_t n)
{
    size_t o = 0;

    if (n > 0)
        qsort(r, n, sizeof(*r), range_cmp);
    for (size_t i = 1; i < n; i++)
        if (r[i].family != r[o].family || !jarm__u128_absorb(&r[o].last, r[i].first, r[i].last))
            r[++o] = r[i];
    return n == 0 ? 0 : o + 1;
}
