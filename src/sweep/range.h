/*
 * range.h - address ranges for sweeps: the range grammar (IPv4 and IPv6 CIDR, a-b ranges),
 * the CIDR lines of blocklist files, and the 128-bit arithmetic both need.
 *
 * An address of either family is a jarm__u128_t in host order: an IPv4 address is the value
 * of its 32 bits (hi == 0), an IPv6 address the value of its 128 bits. A range is a family
 * and an inclusive interval [first, last] of such values, so a /0 needs no special case.
 * Pure: no I/O, no allocation.
 */
#ifndef JARM_RANGE_H_
#define JARM_RANGE_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct jarm__u128_s {
    uint64_t hi, lo;
} jarm__u128_t;

typedef struct jarm__range_s {
    int family;         /* AF_INET or AF_INET6 */
    jarm__u128_t first; /* the lowest address */
    jarm__u128_t last;  /* the highest address, inclusive (>= first) */
} jarm__range_t;

/* jarm__range_parse flags. */
#define JARM__RANGE_FORCE 1u /* accept IPv6 ranges of more than 2^32 addresses (--force) */

/* IPv6 ranges larger than this need JARM__RANGE_FORCE. */
#define JARM__RANGE_V6_LIMIT ((uint64_t)1 << 32)
/* No range (and no sweep: jarm__iter_init) may hold more than this, force or not. */
#define JARM__RANGE_MAX ((uint64_t)1 << 62)

/* What jarm__range_parse found. */
#define JARM__RANGE_NONE 0    /* not a range: hand the line to jarm__target_parse */
#define JARM__RANGE_OK   1    /* *r holds the range */
#define JARM__RANGE_BAD  (-1) /* a range, but invalid: err holds "bad CIDR '...'" or similar */

/*
 * Classify and parse one target line or argument (line bytes, len; no NUL needed). Leading
 * and trailing white space is ignored. Forms:
 *   a.b.c.d/n (n 0..32), x:y::z/n (n 0..128)  CIDR; host bits are cleared ("10.1.2.3/8" is
 *                                             10.0.0.0/8)
 *   a.b.c.d-e.f.g.h, x::y-x::z                 inclusive range, both ends of one family,
 *                                             first <= last; blanks around '-' allowed
 * Ranges take their ports from the port list: "10.0.0.0/24:443" is JARM__RANGE_BAD. Any line
 * with a '/', or with a '-' after an IP literal, is a range or JARM__RANGE_BAD; anything else
 * (single addresses, names, blank lines, comments) is JARM__RANGE_NONE and *r is untouched.
 * IPv6 ranges of more than JARM__RANGE_V6_LIMIT addresses are refused unless flags has
 * JARM__RANGE_FORCE; ranges of more than JARM__RANGE_MAX always. err (may be NULL if errlen
 * is 0) receives a one-line reason for JARM__RANGE_BAD.
 */
int jarm__range_parse(const char *line, size_t len, unsigned flags, jarm__range_t *r, char *err,
                      size_t errlen);

/*
 * Parse exactly "ADDR" or "ADDR/N" (IPv4 or IPv6, no white space) into *r, host bits cleared.
 * This is the blocklist line grammar: no size limit. Returns 0, or -1 if s is not one.
 */
int jarm__cidr_parse(const char *s, size_t len, jarm__range_t *r);

/*
 * Sort n ranges (IPv4 first, then by first address) and merge, in place, those of one family
 * that overlap or touch. Returns the new count.
 */
size_t jarm__range_normalise(jarm__range_t *r, size_t n);

/* The number of addresses in r, or UINT64_MAX if there are 2^64 - 1 or more. */
uint64_t jarm__range_count(const jarm__range_t *r);

/*
 * Write r as "first-last" (always parseable by jarm__range_parse with JARM__RANGE_FORCE, if
 * not larger than JARM__RANGE_MAX) and a NUL into buf. Returns the length, or -1 if cap is
 * too small (JARM__RANGE_STRLEN always suffices).
 */
#define JARM__RANGE_STRLEN 96
int jarm__range_format(const jarm__range_t *r, char *buf, size_t cap);

/* Fill *ss with family's address a (host order value) and port (host order). */
void jarm__addr_to_sockaddr(int family, jarm__u128_t a, uint16_t port, struct sockaddr_storage *ss);

/* The address of an AF_INET or AF_INET6 sockaddr as a value; returns its family, or -1. */
int jarm__addr_from_sockaddr(const struct sockaddr *sa, jarm__u128_t *a);

/*
 * Write an endpoint as a target line: "192.0.2.1:443" or "[2001:db8::1]:443" (the port is
 * left out if it is 0), and a NUL. Returns the length, or -1 (cap too small, or not
 * AF_INET/AF_INET6). JARM__ENDPOINT_STRLEN always suffices.
 */
#define JARM__ENDPOINT_STRLEN 56
int jarm__endpoint_format(const struct sockaddr_storage *ss, char *buf, size_t cap);

/* 128-bit helpers. */
static inline int jarm__u128_cmp(jarm__u128_t a, jarm__u128_t b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static inline jarm__u128_t jarm__u128_add64(jarm__u128_t a, uint64_t b)
{
    jarm__u128_t r;
    r.lo = a.lo + b;
    r.hi = a.hi + (r.lo < a.lo);
    return r;
}

/*
 * Merge [lo, nhi] into an interval that starts at or before lo and ends at *hi, if the two
 * overlap or touch (lo <= *hi + 1): *hi becomes the larger end. Returns whether they merged.
 */
static inline int jarm__u128_absorb(jarm__u128_t *hi, jarm__u128_t lo, jarm__u128_t nhi)
{
    if (jarm__u128_cmp(lo, *hi) > 0 && jarm__u128_cmp(jarm__u128_add64(*hi, 1), lo) != 0)
        return 0;
    if (jarm__u128_cmp(nhi, *hi) > 0)
        *hi = nhi;
    return 1;
}

static inline jarm__u128_t jarm__u128_sub(jarm__u128_t a, jarm__u128_t b)
{
    jarm__u128_t r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

/* The highest address of a family: 2^32 - 1 or 2^128 - 1. */
static inline jarm__u128_t jarm__u128_family_max(int family)
{
    jarm__u128_t r;
    r.hi = family == AF_INET ? 0 : UINT64_MAX;
    r.lo = family == AF_INET ? UINT32_MAX : UINT64_MAX;
    return r;
}

#endif /* JARM_RANGE_H_ */
