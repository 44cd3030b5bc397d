/*
 * blocklist.c - allowed address space as sorted interval sets.
 *
 * zmap keeps a binary prefix tree and paints subnets into it one at a time. We keep, per
 * family, the allowed addresses as a sorted array of disjoint, non-adjacent inclusive
 * intervals, which is the tree flattened: a lookup is one binary search (the default list
 * compiles to about 20 IPv4 and 25 IPv6 intervals, five or six probes), the array is as
 * small as the data allows, and a range's allowed count is a walk over the intervals it
 * overlaps.
 *
 * Painting is done by batches with set algebra instead of one network at a time: a batch
 * (a whole file, say) is sorted and merged into a set B, then the list becomes A | B
 * (allow) or A - B (deny), both linear merges. Loading a million-line user blocklist is
 * therefore one sort plus one pass, not a million array insertions, and painting order -
 * later batches override earlier ones - falls out of applying the batches in order. Within
 * one batch all networks have the same colour, so their order does not matter.
 *
 * A parsed file is painted only when every line was good, so a typo never leaves half a
 * blocklist in force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "blocklist.h"
#include "readfile.h"
#include "util.h"

/* ::ffff:0:0/96, the IPv4-mapped addresses. */
#define MAPPED_LO 0x0000ffff00000000u
#define MAPPED_HI 0x0000ffffffffffffu

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* The number of values in [lo, hi], saturated. */
static uint64_t span(jarm__u128_t lo, jarm__u128_t hi)
{
    jarm__u128_t d = jarm__u128_sub(hi, lo);
    return d.hi != 0 || d.lo == UINT64_MAX ? UINT64_MAX : d.lo + 1;
}

static jarm__u128_t u128_max(jarm__u128_t a, jarm__u128_t b)
{
    return jarm__u128_cmp(a, b) >= 0 ? a : b;
}

static jarm__u128_t u128_min(jarm__u128_t a, jarm__u128_t b)
{
    return jarm__u128_cmp(a, b) <= 0 ? a : b;
}

/* Append [lo, hi] to out (room guaranteed), merging with the last interval if they touch. */
static void push(jarm__ivl_t *out, size_t *n, jarm__u128_t lo, jarm__u128_t hi)
{
    if (*n > 0 && jarm__u128_absorb(&out[*n - 1].hi, lo, hi))
        return;
    out[*n].lo = lo;
    out[*n].hi = hi;
    (*n)++;
}

/* out = a | b (normal sets); out has room for a->n + b->n. Returns the count. */
static size_t set_union(jarm__ivl_t *out, const jarm__ivlset_t *a, const jarm__ivl_t *b, size_t nb)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n || j < nb) {
        const jarm__ivl_t *x;
        if (j == nb || (i < a->n && jarm__u128_cmp(a->v[i].lo, b[j].lo) <= 0))
            x = &a->v[i++];
        else
            x = &b[j++];
        push(out, &n, x->lo, x->hi);
    }
    return n;
}

/* out = a - b (normal sets); out has room for a->n + b->n. Returns the count. */
static size_t set_subtract(jarm__ivl_t *out, const jarm__ivlset_t *a, const jarm__ivl_t *b,
                           size_t nb)
{
    size_t j = 0, n = 0;
    for (size_t i = 0; i < a->n; i++) {
        jarm__u128_t lo = a->v[i].lo, hi = a->v[i].hi;
        int open = 1; /* [lo, hi] is still to be emitted */
        while (j < nb && jarm__u128_cmp(b[j].hi, lo) < 0)
            j++;
        while (open && j < nb && jarm__u128_cmp(b[j].lo, hi) <= 0) {
            if (jarm__u128_cmp(b[j].lo, lo) > 0) {
                out[n].lo = lo;
                out[n].hi = jarm__u128_sub(b[j].lo, (jarm__u128_t){0, 1});
                n++;
            }
            if (jarm__u128_cmp(b[j].hi, hi) >= 0) {
                open = 0; /* b[j] may cover the next interval of a too: keep j */
            } else {
                lo = jarm__u128_add64(b[j].hi, 1);
                j++;
            }
        }
        if (open) {
            out[n].lo = lo;
            out[n].hi = hi;
            n++;
        }
    }
    return n;
}

/* The new content of set after painting the normal set b (nb intervals): *out (caller
 * frees) and its count, or -1 if out of memory. set is not changed. */
static int64_t paint_set(const jarm__ivlset_t *set, const jarm__ivl_t *b, size_t nb, int allow,
                         jarm__ivl_t **out)
{
    size_t room = set->n + nb;
    *out = malloc((room ? room : 1) * sizeof(**out));
    if (*out == NULL)
        return -1;
    return (int64_t)(allow ? set_union(*out, set, b, nb) : set_subtract(*out, set, b, nb));
}

static void replace(jarm__ivlset_t *set, jarm__ivl_t *v, int64_t n)
{
    free(set->v);
    set->v = v;
    set->n = (size_t)n;
}

int jarm__blocklist_init(jarm__blocklist_t *bl, int allow)
{
    memset(bl, 0, sizeof(*bl));
    if (!allow)
        return 0;
    bl->v4.v = malloc(sizeof(*bl->v4.v));
    bl->v6.v = malloc(sizeof(*bl->v6.v));
    if (bl->v4.v == NULL || bl->v6.v == NULL) {
        jarm__blocklist_free(bl);
        return -1;
    }
    bl->v4.v[0].lo = bl->v6.v[0].lo = (jarm__u128_t){0, 0};
    bl->v4.v[0].hi = jarm__u128_family_max(AF_INET);
    bl->v6.v[0].hi = jarm__u128_family_max(AF_INET6);
    bl->v4.n = bl->v6.n = 1;
    return 0;
}

void jarm__blocklist_free(jarm__blocklist_t *bl)
{
    free(bl->v4.v);
    free(bl->v6.v);
    memset(bl, 0, sizeof(*bl));
}

int jarm__blocklist_paint(jarm__blocklist_t *bl, const jarm__range_t *nets, size_t n, int allow)
{
    jarm__range_t *sorted;
    jarm__ivl_t *b4 = NULL, *b6, *o4 = NULL, *o6 = NULL;
    size_t m, n4 = 0, n6;
    int64_t c4, c6;
    int ret = -1;

    if (n == 0)
        return 0;
    sorted = malloc(n * sizeof(*sorted));
    b4 = malloc(n * sizeof(*b4));
    if (sorted == NULL || b4 == NULL) {
        free(sorted);
        free(b4);
        return -1;
    }
    /* Normal sets: sorted, merged, the IPv4 ones first. */
    memcpy(sorted, nets, n * sizeof(*sorted));
    m = jarm__range_normalise(sorted, n);
    for (size_t i = 0; i < m; i++) {
        b4[i].lo = sorted[i].first;
        b4[i].hi = sorted[i].last;
        n4 += sorted[i].family == AF_INET;
    }
    free(sorted);
    b6 = b4 + n4;
    n6 = m - n4;
    /* Compute both families' new sets before changing either: a paint is all or nothing. */
    if ((c4 = paint_set(&bl->v4, b4, n4, allow, &o4)) < 0 ||
        (c6 = paint_set(&bl->v6, b6, n6, allow, &o6)) < 0)
        goto Exit;
    replace(&bl->v4, o4, c4);
    replace(&bl->v6, o6, c6);
    o4 = o6 = NULL;
    bl->entries += n;
    ret = 0;
Exit:
    free(o4);
    free(o6);
    free(b4);
    return ret;
}

int64_t jarm__blocklist_parse(jarm__blocklist_t *bl, const char *name, const char *buf, size_t len,
                              int allow, char *err, size_t errlen)
{
    jarm__range_t *nets = NULL;
    size_t n = 0, cap = 0, at = 0;
    uint64_t lineno = 0;
    int64_t ret = -1;

    while (at < len) {
        const char *line = buf + at, *nl = memchr(line, '\n', len - at), *hash;
        size_t ll = nl ? (size_t)(nl - line) : len - at;

        at += ll + (nl != NULL);
        lineno++;
        if ((hash = memchr(line, '#', ll)) != NULL)
            ll = (size_t)(hash - line);
        jarm__trim(&line, &ll);
        if (ll == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            jarm__range_t *p = realloc(nets, ncap * sizeof(*nets));
            if (p == NULL) {
                (void)snprintf(err, errlen, "%s: out of memory", name);
                goto Exit;
            }
            nets = p;
            cap = ncap;
        }
        if (jarm__cidr_parse(line, ll, &nets[n]) != 0) {
            char q[48];
            size_t i, qn = ll > 40 ? 40 : ll;
            for (i = 0; i < qn; i++) {
                char c = line[i];
                if (c < 0x20 || c >= 0x7f)
                    c = '?';
                q[i] = c;
            }
            q[i] = '\0';
            (void)snprintf(err, errlen, "%s:%llu: bad CIDR '%s%s'", name,
                           (unsigned long long)lineno, q, ll > qn ? "..." : "");
            goto Exit;
        }
        n++;
    }
    if (jarm__blocklist_paint(bl, nets, n, allow) != 0) {
        (void)snprintf(err, errlen, "%s: out of memory", name);
        goto Exit;
    }
    ret = (int64_t)n;
Exit:
    free(nets);
    return ret;
}

int64_t jarm__blocklist_load(jarm__blocklist_t *bl, const char *path, int allow, char *err,
                             size_t errlen)
{
    char *buf;
    size_t len;
    int64_t ret;

    if (jarm__read_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    ret = jarm__blocklist_parse(bl, path, buf, len, allow, err, errlen);
    free(buf);
    return ret;
}

/* The index of the first interval of the normal set s that ends at or after a (s->n: none). */
static size_t first_ending_from(const jarm__ivlset_t *s, jarm__u128_t a)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jarm__u128_cmp(s->v[mid].hi, a) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether a is in the normal set s. */
static int set_has(const jarm__ivlset_t *s, jarm__u128_t a)
{
    size_t i = first_ending_from(s, a);
    return i < s->n && jarm__u128_cmp(s->v[i].lo, a) <= 0;
}

int jarm__blocklist_allowed(const jarm__blocklist_t *bl, int family, jarm__u128_t a)
{
    if (family == AF_INET)
        return set_has(&bl->v4, a);
    if (!set_has(&bl->v6, a))
        return 0;
    if (a.hi == 0 && a.lo >= MAPPED_LO && a.lo <= MAPPED_HI)
        return set_has(&bl->v4, (jarm__u128_t){0, a.lo & UINT32_MAX});
    return 1;
}

int jarm__blocklist_allowed_sa(const jarm__blocklist_t *bl, const struct sockaddr *sa)
{
    jarm__u128_t a;
    int family = jarm__addr_from_sockaddr(sa, &a);
    return family < 0 ? 0 : jarm__blocklist_allowed(bl, family, a);
}

/*
 * For each part of s inside [lo, hi], call back with the part; returns the saturated sum of
 * what the callback returns. The callback is NULL for plain counting.
 */
typedef uint64_t (*part_fn)(const jarm__blocklist_t *bl, jarm__u128_t lo, jarm__u128_t hi);

static uint64_t set_walk(const jarm__blocklist_t *bl, const jarm__ivlset_t *s, jarm__u128_t lo,
                         jarm__u128_t hi, part_fn fn)
{
    size_t a = first_ending_from(s, lo);
    uint64_t sum = 0;

    for (; a < s->n && jarm__u128_cmp(s->v[a].lo, hi) <= 0; a++) {
        jarm__u128_t x = u128_max(s->v[a].lo, lo), y = u128_min(s->v[a].hi, hi);
        sum = sat_add(sum, fn ? fn(bl, x, y) : span(x, y));
    }
    return sum;
}

/* Allowed IPv4 addresses under the IPv4-mapped part [lo, hi] of an allowed IPv6 interval. */
static uint64_t mapped_part(const jarm__blocklist_t *bl, jarm__u128_t lo, jarm__u128_t hi)
{
    return set_walk(bl, &bl->v4, (jarm__u128_t){0, lo.lo & UINT32_MAX},
                    (jarm__u128_t){0, hi.lo & UINT32_MAX}, NULL);
}

uint64_t jarm__blocklist_count(const jarm__blocklist_t *bl, const jarm__range_t *r)
{
    const jarm__u128_t mlo = {0, MAPPED_LO}, mhi = {0, MAPPED_HI};
    uint64_t sum = 0;

    if (r->family == AF_INET)
        return set_walk(bl, &bl->v4, r->first, r->last, NULL);
    /* Split r around ::ffff:0:0/96: below, inside (both families must allow), above. */
    if (jarm__u128_cmp(r->first, mlo) < 0)
        sum = sat_add(sum, set_walk(bl, &bl->v6, r->first,
                                    u128_min(r->last, (jarm__u128_t){0, MAPPED_LO - 1}), NULL));
    if (jarm__u128_cmp(r->first, mhi) <= 0 && jarm__u128_cmp(r->last, mlo) >= 0)
        sum = sat_add(sum, set_walk(bl, &bl->v6, u128_max(r->first, mlo), u128_min(r->last, mhi),
                                    mapped_part));
    if (jarm__u128_cmp(r->last, mhi) > 0)
        sum =
            sat_add(sum, set_walk(bl, &bl->v6, u128_max(r->first, (jarm__u128_t){0, MAPPED_HI + 1}),
                                  r->last, NULL));
    return sum;
}
