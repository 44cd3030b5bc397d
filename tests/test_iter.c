/*
 * test_iter.c - the range grammar and the sweep iterator (suite 'unit').
 *
 * Usage: test_iter [PATH-TO-contrib/blocklist.conf]
 *
 * The sharding property (zmap's test_sharding.py, in C): for several spaces, seeds and
 * shard counts, the union of all shards' targets is exactly the allowed set - computed
 * here independently by enumerating every input range x port and checking the denied
 * networks by hand, IPv4-mapped rule included - with no target twice and no denied target ever.
 * Then a sweep in three shards (127.5.0.0/20 x 443,8443), a /16 x 2 ports,
 * seek and at() against a fresh walk, resume after interruptions (in order and out of order), the
 * counts, the digest and the errors.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iter.h"
#include "tap.h"
#include "target.h"

static const char *conf_path;
static uint64_t rnd_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A range or a single address (which the range grammar leaves to the target grammar). */
static jarm__range_t R(const char *s)
{
    jarm__range_t r;
    char err[160] = "";
    int k = jarm__range_parse(s, strlen(s), JARM__RANGE_FORCE, &r, err, sizeof(err));
    if (k == JARM__RANGE_NONE)
        k = jarm__cidr_parse(s, strlen(s), &r) == 0 ? JARM__RANGE_OK : JARM__RANGE_BAD;
    if (k != JARM__RANGE_OK) {
        note("test bug: %s is not a range: %s", s, err);
        exit(2);
    }
    return r;
}

/* ---- the range grammar ------------------------------------------------------------------ */

/* s for a TAP description: control characters (a CR would end the line) as '?'. */
static const char *shown(const char *s)
{
    static char buf[128];
    size_t i;
    for (i = 0; s[i] && i + 1 < sizeof(buf); i++) {
        char c = s[i];
        if ((unsigned char)c < 0x20)
            c = '?';
        buf[i] = c;
    }
    buf[i] = '\0';
    return buf;
}

static void expect_range(const char *s, unsigned flags, uint64_t count, const char *first)
{
    jarm__range_t r;
    char err[160] = "", buf[JARM__RANGE_STRLEN];
    int k = jarm__range_parse(s, strlen(s), flags, &r, err, sizeof(err));

    if (!ok(k == JARM__RANGE_OK, "'%s' is a range (%s)", shown(s), err))
        return;
    jarm__range_format(&r, buf, sizeof(buf));
    ok(jarm__range_count(&r) == count && strncmp(buf, first, strlen(first)) == 0 &&
           buf[strlen(first)] == '-',
       "'%s': %llu addresses from %s (%s)", shown(s), (unsigned long long)count, first, buf);
}

static void expect_bad(const char *s, unsigned flags, const char *error)
{
    jarm__range_t r;
    char err[160] = "";
    int k = jarm__range_parse(s, strlen(s), flags, &r, err, sizeof(err));
    ok(k == JARM__RANGE_BAD && strcmp(err, error) == 0, "'%s' refused: \"%s\" (got %d \"%s\")", s,
       error, k, err);
}

static void expect_none(const char *s, jarm__target_kind_t kind)
{
    jarm__range_t r;
    jarm__target_spec_t t;
    char err[160] = "";
    int k = jarm__range_parse(s, strlen(s), JARM__RANGE_FORCE, &r, err, sizeof(err));
    jarm__target_parse(s, strlen(s), &t);
    ok(k == JARM__RANGE_NONE && t.kind == kind,
       "'%s' is not a range; the target grammar says kind %d (got %d, %d)", s, kind, k, t.kind);
}

static void test_grammar(void)
{
    jarm__range_t r;
    char buf[JARM__RANGE_STRLEN], err[160];
    static const char *round[] = {
        "0.0.0.0/0",     "10.0.0.0/8", "192.0.2.7-192.0.2.9", "::/66", "2001:db8::1-2001:db8::ffff",
        "::ffff:0:0/96", "1.2.3.4/32", "ffff::/100"};
    int good = 1;

    expect_range("0.0.0.0/0", 0, (uint64_t)1 << 32, "0.0.0.0");
    expect_range("10.0.0.0/8", 0, 1u << 24, "10.0.0.0");
    expect_range("10.1.2.3/8", 0, 1u << 24, "10.0.0.0");
    expect_range("  127.5.0.0/20 \r\n", 0, 4096, "127.5.0.0");
    expect_range("192.0.2.255/32", 0, 1, "192.0.2.255");
    expect_range("255.255.255.255/31", 0, 2, "255.255.255.254");
    expect_range("192.0.2.10-192.0.2.20", 0, 11, "192.0.2.10");
    expect_range("192.0.2.10-192.0.2.10", 0, 1, "192.0.2.10");
    expect_range("0.0.0.0-255.255.255.255", 0, (uint64_t)1 << 32, "0.0.0.0");
    expect_range("2001:db8::/96", 0, (uint64_t)1 << 32, "2001:db8::");
    expect_range("2001:db8::/95", JARM__RANGE_FORCE, (uint64_t)1 << 33, "2001:db8::");
    expect_range("2001:db8::/66", JARM__RANGE_FORCE, (uint64_t)1 << 62, "2001:db8::");
    expect_range("2001:db8::1/128", 0, 1, "2001:db8::1");
    expect_range("::1-::5", 0, 5, "::1");
    expect_range("1.2.3.4 - 1.2.3.5", 0, 2, "1.2.3.4");
    expect_range("2001:db8::/80", JARM__RANGE_FORCE, (uint64_t)1 << 48, "2001:db8::");
    expect_range("2001:db8::ffff:ffff:ffff:ffff-2001:db8:0:1::1", 0, 3,
                 "2001:db8::ffff:ffff:ffff:ffff");

    expect_bad("192.0.2.20-192.0.2.10", 0,
               "bad range '192.0.2.20-192.0.2.10' (first address after the last)");
    expect_bad("10.0.0.0/33", 0, "bad CIDR '10.0.0.0/33'");
    expect_bad("::/129", JARM__RANGE_FORCE, "bad CIDR '::/129'");
    expect_bad("10.0.0.0/", 0, "bad CIDR '10.0.0.0/'");
    expect_bad("10.0.0/8", 0, "bad CIDR '10.0.0/8'");
    expect_bad("example.com/24", 0, "bad CIDR 'example.com/24'");
    expect_bad("10.0.0.0/24:443", 0,
               "bad CIDR '10.0.0.0/24:443' (ranges take their ports from the port list)");
    expect_bad("10.0.0.0/24,443", 0,
               "bad CIDR '10.0.0.0/24,443' (ranges take their ports from the port list)");
    expect_bad("1.2.3.4-", 0, "bad range '1.2.3.4-'");
    expect_bad("1.2.3.4-1.2.3", 0, "bad range '1.2.3.4-1.2.3'");
    expect_bad("1.2.3.4-::1", 0, "bad range '1.2.3.4-::1'");
    expect_bad("1.2.3.4 - 1.2.3", 0, "bad range '1.2.3.4 - 1.2.3'");
    expect_bad("2001:db8::/80", 0,
               "bad CIDR '2001:db8::/80' (IPv6 range of more than 2^32 addresses; use --force)");
    expect_bad("2001:db8::/64", 0,
               "bad CIDR '2001:db8::/64' (more than 2^62 addresses: too large to sweep)");
    expect_bad("2001:db8::/95", 0,
               "bad CIDR '2001:db8::/95' (IPv6 range of more than 2^32 addresses; use --force)");
    expect_bad("2001:db8::/65", JARM__RANGE_FORCE,
               "bad CIDR '2001:db8::/65' (more than 2^62 addresses: too large to sweep)");
    expect_bad("::-ffff::", JARM__RANGE_FORCE,
               "bad range '::-ffff::' (more than 2^62 addresses: too large to sweep)");

    expect_none("192.0.2.1", JARM__TARGET_IP);
    expect_none("192.0.2.1:8443", JARM__TARGET_IP);
    expect_none("[2001:db8::1]:443", JARM__TARGET_IP);
    expect_none("2001:db8::1", JARM__TARGET_IP);
    expect_none("example.com", JARM__TARGET_NAME);
    expect_none("my-host.example:443", JARM__TARGET_NAME);
    expect_none("host-1.example,8443", JARM__TARGET_NAME);
    expect_none("", JARM__TARGET_SKIP);
    expect_none("# 10.0.0.0/8", JARM__TARGET_SKIP);
    expect_none("   ", JARM__TARGET_SKIP);

    for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
        jarm__range_t back;
        r = R(round[i]);
        good &= jarm__range_format(&r, buf, sizeof(buf)) > 0 &&
                jarm__range_parse(buf, strlen(buf), JARM__RANGE_FORCE, &back, err, sizeof(err)) ==
                    JARM__RANGE_OK &&
                back.family == r.family && jarm__u128_cmp(back.first, r.first) == 0 &&
                jarm__u128_cmp(back.last, r.last) == 0;
    }
    ok(good, "jarm__range_format output parses back to the same range");
    r = R("2001:db8::/66");
    ok(jarm__range_format(&r, buf, 10) == -1, "jarm__range_format refuses a short buffer");
}

/* ---- the sweep property ----------------------------------------------------------------- */

typedef struct {
    int family;
    jarm__u128_t a;
    uint16_t port;
    unsigned char denied, seen;
} tkey_t;

static int key_cmp(const void *x, const void *y)
{
    const tkey_t *a = x, *b = y;
    int c;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if ((c = jarm__u128_cmp(a->a, b->a)) != 0)
        return c;
    return a->port < b->port ? -1 : a->port > b->port;
}

static tkey_t key_of(const struct sockaddr_storage *ss)
{
    tkey_t k;
    memset(&k, 0, sizeof(k));
    k.family = jarm__addr_from_sockaddr((const struct sockaddr *)ss, &k.a);
    k.port = ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                            : ((const struct sockaddr_in6 *)ss)->sin6_port);
    return k;
}

typedef struct {
    const char *name;
    const char *ranges[6];
    uint16_t ports[4];
    const char *deny[6]; /* painted denied over an all-allowed list */
} space_t;

/* The expected targets: every input range x port, sorted, duplicates dropped; a target is
 * denied if one of the deny networks contains its address (checked here by hand). */
static tkey_t *expected(const space_t *sp, size_t *n_out, size_t *n_denied)
{
    size_t n = 0, cap = 1024, o = 0;
    tkey_t *k = malloc(cap * sizeof(*k));

    for (size_t r = 0; r < 6 && sp->ranges[r]; r++) {
        jarm__range_t x = R(sp->ranges[r]);
        for (jarm__u128_t a = x.first; jarm__u128_cmp(a, x.last) <= 0; a = jarm__u128_add64(a, 1)) {
            for (size_t p = 0; p < 4 && sp->ports[p]; p++) {
                if (n == cap) {
                    tkey_t *bigger = realloc(k, (cap *= 2) * sizeof(*k));
                    if (bigger == NULL) {
                        note("out of memory");
                        exit(2);
                    }
                    k = bigger;
                }
                memset(&k[n], 0, sizeof(k[n]));
                k[n].family = x.family;
                k[n].a = a;
                k[n].port = sp->ports[p];
                for (size_t d = 0; d < 6 && sp->deny[d]; d++) {
                    jarm__range_t y = R(sp->deny[d]);
                    jarm__u128_t v4 = {0, a.lo & UINT32_MAX};
                    int mapped = x.family == AF_INET6 && a.hi == 0 && (a.lo >> 32) == 0xffff;
                    k[n].denied |= y.family == x.family && jarm__u128_cmp(y.first, a) <= 0 &&
                                   jarm__u128_cmp(a, y.last) <= 0;
                    /* ::ffff:a.b.c.d is denied when a.b.c.d is. */
                    k[n].denied |= mapped && y.family == AF_INET &&
                                   jarm__u128_cmp(y.first, v4) <= 0 &&
                                   jarm__u128_cmp(v4, y.last) <= 0;
                }
                n++;
            }
            if (jarm__u128_cmp(a, x.last) == 0)
                break; /* x.last may be the family's maximum */
        }
    }
    qsort(k, n, sizeof(*k), key_cmp);
    *n_denied = 0;
    for (size_t i = 0; i < n; i++) {
        if (o > 0 && key_cmp(&k[o - 1], &k[i]) == 0)
            continue;
        k[o++] = k[i];
        *n_denied += k[i].denied;
    }
    *n_out = o;
    return k;
}

static size_t nports_of(const space_t *sp)
{
    size_t n = 0;
    while (n < 4 && sp->ports[n])
        n++;
    return n;
}

/* Sweep sp with every shard of shards for seed; 1 if the property holds, else 0 + why. */
static int check_sweep(const space_t *sp, uint64_t seed, uint32_t shards, char *why, size_t wl)
{
    size_t n, ndenied, nranges = 0, got = 0;
    tkey_t *want = expected(sp, &n, &ndenied);
    jarm__range_t ranges[6], deny[6];
    jarm__blocklist_t bl;
    uint64_t blocked = 0, allowed_count = 0;
    size_t ndeny = 0;
    int good = 1;
    char err[160];

    while (nranges < 6 && sp->ranges[nranges]) {
        ranges[nranges] = R(sp->ranges[nranges]);
        nranges++;
    }
    while (ndeny < 6 && sp->deny[ndeny]) {
        deny[ndeny] = R(sp->deny[ndeny]);
        ndeny++;
    }
    jarm__blocklist_init(&bl, 1);
    jarm__blocklist_paint(&bl, deny, ndeny, 0);

    for (uint32_t s = 0; s < shards && good; s++) {
        jarm__iter_t it;
        struct sockaddr_storage ss;
        uint64_t idx, last = 0;
        int first = 1;

        if (jarm__iter_init(&it, ranges, nranges, sp->ports, nports_of(sp), seed, s, shards,
                            ndeny ? &bl : NULL, err, sizeof(err)) != 0) {
            (void)snprintf(why, wl, "init: %s", err);
            good = 0;
            break;
        }
        while (good && jarm__iter_next(&it, &ss, &idx)) {
            tkey_t k = key_of(&ss), *hit = bsearch(&k, want, n, sizeof(*want), key_cmp);
            char ep[JARM__ENDPOINT_STRLEN];
            jarm__endpoint_format(&ss, ep, sizeof(ep));
            if (hit == NULL || hit->seen || hit->denied || (!first && idx <= last) ||
                idx >= jarm__iter_length(&it)) {
                (void)snprintf(why, wl, "shard %u/%u: %s at %llu is %s", s, shards, ep,
                               (unsigned long long)idx,
                               hit == NULL   ? "outside the space"
                               : hit->seen   ? "a repeat"
                               : hit->denied ? "denied"
                                             : "out of order");
                good = 0;
            } else {
                hit->seen = 1;
                got++;
            }
            last = idx;
            first = 0;
        }
        blocked += it.blocked;
        allowed_count = jarm__iter_allowed(&it);
        if (good &&
            (jarm__iter_total(&it) != n || jarm__iter_position(&it) != jarm__iter_length(&it))) {
            (void)snprintf(why, wl, "total %llu, want %zu",
                           (unsigned long long)jarm__iter_total(&it), n);
            good = 0;
        }
        jarm__iter_free(&it);
    }
    if (good && (got != n - ndenied || blocked != ndenied || allowed_count != n - ndenied)) {
        (void)snprintf(
            why, wl, "%zu of %zu allowed targets, %llu blocked of %zu, allowed count %llu", got,
            n - ndenied, (unsigned long long)blocked, ndenied, (unsigned long long)allowed_count);
        good = 0;
    }
    jarm__blocklist_free(&bl);
    free(want);
    return good;
}

static void test_shards(void)
{
    static const space_t spaces[] = {
        {"one /28 x 1 port", {"192.0.2.0/28"}, {443}, {NULL}},
        {"overlapping IPv4 ranges x 3 ports, denied parts",
         {"10.0.0.0/26", "10.0.0.32-10.0.0.90", "10.0.0.91/32", "10.0.1.0/30"},
         {443, 8443, 4433},
         {"10.0.0.16/28", "10.0.0.77", "10.0.1.3"}},
        {"IPv4 and IPv6 mixed, duplicate port",
         {"2001:db8::/122", "192.0.2.0/29", "2001:db8::30-2001:db8::50", "::ffff:10.0.0.0/126"},
         {443, 443, 853},
         {"2001:db8::40/124", "10.0.0.0/30", "192.0.2.7"}},
        {"the top and bottom of both families",
         {"255.255.255.240/28", "0.0.0.0/30", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124",
          "::/126"},
         {1, 65535},
         {"255.255.255.255", "::"}},
        {"everything denied", {"198.51.100.0/28"}, {80}, {"0.0.0.0/0"}},
    };
    static const uint32_t shard_counts[] = {1, 2, 3, 7};
    static const uint64_t seeds[] = {1, 0xfeedface, 31337};
    char why[200] = "";

    for (size_t s = 0; s < sizeof(spaces) / sizeof(spaces[0]); s++) {
        int good = 1;
        for (size_t m = 0; m < 4 && good; m++) {
            for (size_t k = 0; k < 3 && good; k++)
                good = check_sweep(&spaces[s], seeds[k], shard_counts[m], why, sizeof(why));
        }
        ok(good, "%s: shards 1, 2, 3, 7 x 3 seeds cover the allowed set exactly once%s%s",
           spaces[s].name, good ? "" : ": ", good ? "" : why);
    }
}

/* The whole walk of one shard: targets and indices, in order. */
typedef struct {
    struct sockaddr_storage *ss;
    uint64_t *idx;
    size_t n;
} walk_t;

static walk_t walk_shard(const jarm__range_t *r, size_t nr, const uint16_t *ports, size_t np,
                         uint64_t seed, uint32_t i, uint32_t n, const jarm__blocklist_t *bl)
{
    jarm__iter_t it;
    walk_t w;
    char err[160];
    size_t cap = 1024;

    w.n = 0;
    w.ss = malloc(cap * sizeof(*w.ss));
    w.idx = malloc(cap * sizeof(*w.idx));
    if (jarm__iter_init(&it, r, nr, ports, np, seed, i, n, bl, err, sizeof(err)) != 0) {
        note("walk: %s", err);
        return w;
    }
    for (;;) {
        if (w.n == cap) {
            cap *= 2;
            struct sockaddr_storage *ss = realloc(w.ss, cap * sizeof(*w.ss));
            uint64_t *idx = ss ? realloc(w.idx, cap * sizeof(*w.idx)) : NULL;
            if (idx == NULL) {
                note("out of memory");
                exit(2);
            }
            w.ss = ss;
            w.idx = idx;
        }
        if (!jarm__iter_next(&it, &w.ss[w.n], &w.idx[w.n]))
            break;
        w.n++;
    }
    jarm__iter_free(&it);
    return w;
}

static void walk_free(walk_t *w)
{
    free(w->ss);
    free(w->idx);
}

static int same_target(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    tkey_t x = key_of(a), y = key_of(b);
    return key_cmp(&x, &y) == 0;
}

/* Issue 5's acceptance case: three shards of 127.5.0.0/20 x 443,8443, one seed. */
static void test_acceptance(void)
{
    const jarm__range_t r = R("127.5.0.0/20");
    const uint16_t ports[] = {443, 8443};
    static unsigned char seen[4096 * 2];
    walk_t w[3], again;
    size_t total = 0;
    int disjoint = 1, same = 1;

    memset(seen, 0, sizeof(seen));
    for (uint32_t s = 0; s < 3; s++) {
        w[s] = walk_shard(&r, 1, ports, 2, 20240501, s, 3, NULL);
        for (size_t k = 0; k < w[s].n; k++) {
            tkey_t x = key_of(&w[s].ss[k]);
            size_t slot = (size_t)(x.a.lo - r.first.lo) * 2 + (x.port == 8443);
            if (x.family != AF_INET || x.a.lo < r.first.lo || x.a.lo > r.last.lo ||
                (x.port != 443 && x.port != 8443) || seen[slot]) {
                disjoint = 0;
                continue;
            }
            seen[slot] = 1;
            total++;
        }
    }
    ok(disjoint, "127.5.0.0/20 x 443,8443, 3 shards: disjoint, nothing outside");
    ok(total == 8192, "127.5.0.0/20 x 443,8443, 3 shards: complete (%zu of 8192; %zu %zu %zu)",
       total, w[0].n, w[1].n, w[2].n);
    for (uint32_t s = 0; s < 3; s++) {
        again = walk_shard(&r, 1, ports, 2, 20240501, s, 3, NULL);
        same &= again.n == w[s].n;
        for (size_t k = 0; same && k < again.n; k++)
            same &= same_target(&again.ss[k], &w[s].ss[k]) && again.idx[k] == w[s].idx[k];
        walk_free(&again);
    }
    ok(same, "127.5.0.0/20 x 443,8443, 3 shards: reproducible, target for target");
    again = walk_shard(&r, 1, ports, 2, 20240502, 0, 3, NULL);
    same = again.n == w[0].n;
    for (size_t k = 0; same && k < again.n; k++)
        same &= same_target(&again.ss[k], &w[0].ss[k]);
    ok(!same, "another seed gives another order");
    walk_free(&again);

    if (conf_path != NULL) {
        jarm__blocklist_t bl;
        jarm__iter_t it;
        struct sockaddr_storage ss;
        char err[200];
        uint64_t idx;
        int n = 0;
        jarm__blocklist_init(&bl, 1);
        jarm__blocklist_load(&bl, conf_path, 0, err, sizeof(err));
        jarm__iter_init(&it, &r, 1, ports, 2, 20240501, 0, 1, &bl, err, sizeof(err));
        while (jarm__iter_next(&it, &ss, &idx))
            n++;
        ok(n == 0 && it.blocked == 8192 && jarm__iter_allowed(&it) == 0 &&
               jarm__iter_total(&it) == 8192,
           "under the default list 127.5.0.0/20 is denied: 0 visited, %llu blocked",
           (unsigned long long)it.blocked);
        jarm__iter_free(&it);
        jarm__blocklist_free(&bl);
    } else {
        ok(0, "the default list: no path given (run from meson, or pass the path)");
    }
    for (int s = 0; s < 3; s++)
        walk_free(&w[s]);
}

/* A /16 x 2 ports in 3 shards, with denied parts: 131,072 targets. */
static void test_slash16(void)
{
    const jarm__range_t r = R("198.18.0.0/16");
    const uint16_t ports[] = {443, 8443};
    const jarm__range_t deny[] = {R("198.18.7.0/24"), R("198.18.200.0/22"), R("198.18.255.255"),
                                  R("198.18.0.0")};
    static unsigned char seen[65536 * 2];
    jarm__blocklist_t bl;
    struct timespec t0, t1;
    uint64_t visited = 0, blocked = 0, ndenied = (uint64_t)2 * (256 + 1024 + 2);
    int good = 1;
    double secs;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    jarm__blocklist_init(&bl, 1);
    jarm__blocklist_paint(&bl, deny, 4, 0);
    memset(seen, 0, sizeof(seen));
    for (uint32_t s = 0; s < 3 && good; s++) {
        jarm__iter_t it;
        struct sockaddr_storage ss;
        char err[160];
        uint64_t idx;
        jarm__iter_init(&it, &r, 1, ports, 2, 77, s, 3, &bl, err, sizeof(err));
        while (jarm__iter_next(&it, &ss, &idx)) {
            tkey_t x = key_of(&ss);
            size_t slot = (size_t)(x.a.lo - r.first.lo) * 2 + (x.port == 8443);
            int denied = 0;
            for (size_t d = 0; d < 4; d++)
                denied |= x.a.lo >= deny[d].first.lo && x.a.lo <= deny[d].last.lo;
            if (x.a.lo < r.first.lo || x.a.lo > r.last.lo || seen[slot] || denied) {
                good = 0;
                break;
            }
            seen[slot] = 1;
            visited++;
        }
        blocked += it.blocked;
        jarm__iter_free(&it);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ok(good && visited == 131072 - ndenied && blocked == ndenied,
       "/16 x 2 ports, 3 shards: %llu visited once each, %llu blocked, none denied (%.3f s)",
       (unsigned long long)visited, (unsigned long long)blocked, secs);
    ok(secs < 2.0, "/16 x 2 ports, 3 shards, checked in under 2 s (%.3f s)", secs);
    jarm__blocklist_free(&bl);
}

/* seek(k) then next == the first target at a position >= k in a fresh walk; at() agrees. */
static void test_seek(void)
{
    const jarm__range_t r[] = {R("192.0.2.0/26"), R("2001:db8::/124")};
    const jarm__range_t deny = R("192.0.2.16/29");
    const uint16_t ports[] = {443, 8443, 853};
    jarm__blocklist_t bl;
    jarm__iter_t it;
    struct sockaddr_storage ss;
    char err[160];
    walk_t w;
    int good = 1, at_good = 1;
    uint64_t idx;

    jarm__blocklist_init(&bl, 1);
    jarm__blocklist_paint(&bl, &deny, 1, 0);
    w = walk_shard(r, 2, ports, 3, 9, 1, 2, &bl);
    jarm__iter_init(&it, r, 2, ports, 3, 9, 1, 2, &bl, err, sizeof(err));
    for (uint64_t k = 0; k <= jarm__iter_length(&it) + 1; k++) {
        size_t j = 0;
        while (j < w.n && w.idx[j] < k)
            j++;
        jarm__iter_seek(&it, k);
        if (j < w.n)
            good &=
                jarm__iter_next(&it, &ss, &idx) && idx == w.idx[j] && same_target(&ss, &w.ss[j]);
        else
            good &= !jarm__iter_next(&it, &ss, &idx);
    }
    ok(good, "seek(k) then next == the first target at a position >= k, for every k (%zu)", w.n);
    for (size_t j = 0; j < w.n; j++)
        at_good &= jarm__iter_at(&it, w.idx[j], &ss) && same_target(&ss, &w.ss[j]);
    for (uint64_t k = 0, j = 0; k < jarm__iter_length(&it); k++) {
        int has = j < w.n && w.idx[j] == k;
        at_good &= jarm__iter_at(&it, k, &ss) == has;
        j += (uint64_t)has;
    }
    ok(at_good, "at(k) finds exactly the targets of the walk, at their positions");
    jarm__iter_free(&it);
    walk_free(&w);
    jarm__blocklist_free(&bl);
}

/* Interrupt a sweep at random moments and resume from the checkpoint: every target once. */
static void test_resume(void)
{
    const jarm__range_t r = R("10.20.0.0/19"); /* 8192 addresses x 2 ports = 16384 targets */
    const uint16_t ports[] = {443, 8443};
    static unsigned char seen[16384];
    char err[160];
    int good = 1;
    size_t done = 0;

    /* In order: the checkpoint is jarm__iter_position(); three interruptions. */
    memset(seen, 0, sizeof(seen));
    {
        uint64_t checkpoint = 0;
        for (int run = 0; run < 4; run++) {
            jarm__iter_t it;
            struct sockaddr_storage ss;
            uint64_t idx, stop = run < 3 ? 1 + rnd() % 6000 : UINT64_MAX, k = 0;
            jarm__iter_init(&it, &r, 1, ports, 2, 5, 0, 1, NULL, err, sizeof(err));
            jarm__iter_seek(&it, checkpoint);
            while (k < stop && jarm__iter_next(&it, &ss, &idx)) {
                tkey_t x = key_of(&ss);
                size_t slot = (size_t)(x.a.lo - r.first.lo) * 2 + (x.port == 8443);
                good &= !seen[slot];
                seen[slot] = 1;
                k++;
                done++;
            }
            checkpoint = jarm__iter_position(&it);
            jarm__iter_free(&it);
        }
    }
    ok(good && done == 16384, "interrupted 3 times, resumed from the position: %zu targets once",
       done);

    /*
     * Out of order, as the engine completes them: up to 64 targets in flight finish in
     * random order; the checkpoint is the low watermark W (all below done) plus the done
     * indices >= W. A resume seeks to W and skips the saved indices.
     */
    memset(seen, 0, sizeof(seen));
    done = 0;
    good = 1;
    {
        uint64_t watermark = 0, *saved = NULL;
        size_t nsaved = 0;
        for (int run = 0; run < 4; run++) {
            jarm__iter_t it;
            struct sockaddr_storage ss;
            uint64_t idx, flight[64], stop = run < 3 ? 500 + rnd() % 4000 : UINT64_MAX, k = 0;
            struct sockaddr_storage fss[64];
            uint64_t *done_idx = malloc(16384 * sizeof(*done_idx));
            size_t nflight = 0, ndone = 0;
            int more = 1;

            jarm__iter_init(&it, &r, 1, ports, 2, 6, 0, 1, NULL, err, sizeof(err));
            jarm__iter_seek(&it, watermark);
            while ((more || nflight > 0) && k < stop) {
                while (more && nflight < 64) {
                    more = jarm__iter_next(&it, &ss, &idx);
                    if (!more)
                        break;
                    int skip = 0;
                    for (size_t i = 0; i < nsaved; i++)
                        skip |= saved[i] == idx;
                    if (!skip) {
                        flight[nflight] = idx;
                        fss[nflight++] = ss;
                    }
                }
                if (nflight == 0)
                    break;
                /* One random in-flight target completes. */
                size_t pick = (size_t)(rnd() % nflight);
                tkey_t x = key_of(&fss[pick]);
                size_t slot = (size_t)(x.a.lo - r.first.lo) * 2 + (x.port == 8443);
                good &= !seen[slot];
                seen[slot] = 1;
                done++;
                k++;
                done_idx[ndone++] = flight[pick];
                flight[pick] = flight[--nflight];
                fss[pick] = fss[nflight];
            }
            /* Checkpoint: W = the smallest index still in flight, or the iterator's position
             * if none; saved = done indices >= W (this run's and the previous still-valid
             * ones). */
            {
                uint64_t w = jarm__iter_position(&it);
                size_t o = 0;
                for (size_t i = 0; i < nflight; i++)
                    w = flight[i] < w ? flight[i] : w;
                uint64_t *next = malloc((nsaved + ndone + 1) * sizeof(*next));
                for (size_t i = 0; i < nsaved; i++)
                    if (saved[i] >= w)
                        next[o++] = saved[i];
                for (size_t i = 0; i < ndone; i++)
                    if (done_idx[i] >= w)
                        next[o++] = done_idx[i];
                free(saved);
                saved = next;
                nsaved = o;
                watermark = w;
            }
            free(done_idx);
            jarm__iter_free(&it);
        }
        free(saved);
    }
    ok(good && done == 16384,
       "out-of-order completion, 3 interruptions, watermark + done set: %zu targets once", done);
}

static void test_counts_and_errors(void)
{
    jarm__range_t r[4];
    const uint16_t p443[] = {443}, pdup[] = {443, 8443, 443, 8443, 853}, p0[] = {443, 0};
    jarm__iter_t it, it2;
    jarm__blocklist_t bl;
    char err[200] = "";
    struct sockaddr_storage ss;
    uint64_t idx, d1, d2;
    int good = 1;

    r[0] = R("10.0.0.0/24");
    r[1] = R("10.0.0.128/25");
    r[2] = R("10.0.0.255-10.0.1.3");
    r[3] = R("10.0.1.4");
    good = jarm__iter_init(&it, r, 4, pdup, 5, 1, 0, 1, NULL, err, sizeof(err)) == 0;
    ok(good && it.nranges == 1 && it.naddrs == 261 && it.nports == 3 && it.ports[0] == 443 &&
           it.ports[1] == 8443 && it.ports[2] == 853 && jarm__iter_total(&it) == 783,
       "overlapping and adjacent ranges merge, ports deduplicate in order: %zu range, "
       "%llu x %zu = %llu",
       it.nranges, (unsigned long long)it.naddrs, it.nports,
       (unsigned long long)jarm__iter_total(&it));
    d1 = jarm__iter_digest(&it);
    jarm__iter_free(&it);
    {
        jarm__range_t rev[4] = {r[3], r[1], r[2], r[0]};
        const uint16_t same_ports[] = {443, 8443, 853};
        jarm__iter_init(&it, rev, 4, same_ports, 3, 1, 0, 1, NULL, err, sizeof(err));
        d2 = jarm__iter_digest(&it);
        jarm__iter_free(&it);
        ok(d1 == d2, "the digest depends on the space, not on how it was written");
        jarm__iter_init(&it, rev, 4, same_ports, 3, 2, 0, 1, NULL, err, sizeof(err));
        good = jarm__iter_digest(&it) != d1;
        jarm__iter_free(&it);
        jarm__iter_init(&it, rev, 4, same_ports, 3, 1, 0, 2, NULL, err, sizeof(err));
        good &= jarm__iter_digest(&it) != d1;
        jarm__iter_free(&it);
        jarm__iter_init(&it, rev, 4, same_ports + 1, 2, 1, 0, 1, NULL, err, sizeof(err));
        good &= jarm__iter_digest(&it) != d1;
        jarm__iter_free(&it);
        ok(good, "the digest changes with the seed, the shard and the ports");
    }

    r[0] = R("0.0.0.0/0");
    ok(jarm__iter_init(&it, r, 1, p443, 1, 3, 0, 1, NULL, err, sizeof(err)) == 0 &&
           jarm__iter_total(&it) == ((uint64_t)1 << 32),
       "0.0.0.0/0 x 1 port: total 2^32");
    jarm__iter_free(&it);
    if (conf_path != NULL) {
        size_t k;
        jarm__blocklist_init(&bl, 1);
        jarm__blocklist_load(&bl, conf_path, 0, err, sizeof(err));
        jarm__iter_init(&it, r, 1, p443, 1, 3, 0, 1, &bl, err, sizeof(err));
        ok(jarm__iter_allowed(&it) == 3702257664u, "0.0.0.0/0 under the default list: %llu allowed",
           (unsigned long long)jarm__iter_allowed(&it));
        good = 1;
        for (k = 0; k < 100000 && jarm__iter_next(&it, &ss, &idx); k++)
            good &= jarm__blocklist_allowed_sa(&bl, (struct sockaddr *)&ss);
        ok(good && k == 100000 && it.blocked > 10000 && it.blocked < 20000,
           "0.0.0.0/0: 100000 targets, all allowed; %llu blocked stepped over on the way",
           (unsigned long long)it.blocked);
        jarm__iter_seek(&it, jarm__iter_length(&it) - 1);
        k = 0;
        while (jarm__iter_next(&it, &ss, &idx))
            k++;
        ok(k <= 1 && !jarm__iter_next(&it, &ss, &idx), "0.0.0.0/0: seek to the last position");
        jarm__iter_free(&it);
        jarm__blocklist_free(&bl);
    } else {
        ok(0, "the default list: no path given");
        ok(0, "the default list: no path given");
        ok(0, "the default list: no path given");
    }

    r[1] = R("2001:db8::/66");
    ok(jarm__iter_init(&it, r, 2, p443, 1, 1, 0, 1, NULL, err, sizeof(err)) == -1 &&
           strcmp(err, "sweep too large: more than 2^62 addresses") == 0,
       "0.0.0.0/0 + a forced /66: %s", err);
    ok(jarm__iter_init(&it, &r[1], 1, pdup, 2, 1, 0, 1, NULL, err, sizeof(err)) == -1 &&
           strstr(err, "more than 2^62 targets") != NULL,
       "a /66 x 2 ports: %s", err);
    ok(jarm__iter_init(&it, &r[1], 1, p443, 1, 1, 0, 1, NULL, err, sizeof(err)) == 0 &&
           jarm__iter_next(&it, &ss, &idx),
       "a /66 x 1 port (2^62 targets) walks");
    jarm__iter_free(&it);
    ok(jarm__iter_init(&it, r, 1, p443, 0, 1, 0, 1, NULL, err, sizeof(err)) == -1 &&
           strcmp(err, "no ports to sweep") == 0,
       "no ports: %s", err);
    ok(jarm__iter_init(&it, r, 1, p0, 2, 1, 0, 1, NULL, err, sizeof(err)) == -1 &&
           strcmp(err, "bad port '0'") == 0,
       "port 0: %s", err);
    ok(jarm__iter_init(&it, r, 1, p443, 1, 1, 3, 3, NULL, err, sizeof(err)) == -1 &&
           jarm__iter_init(&it, r, 1, p443, 1, 1, 0, 0, NULL, err, sizeof(err)) == -1,
       "bad shards: %s", err);
    ok(jarm__iter_init(&it, r, 0, p443, 1, 1, 0, 1, NULL, err, sizeof(err)) == 0 &&
           jarm__iter_total(&it) == 0 && !jarm__iter_next(&it, &ss, &idx),
       "no ranges: an empty sweep");
    jarm__iter_free(&it);
    /* Shards share nothing but the arguments: two iterators side by side. */
    r[0] = R("192.0.2.0/24");
    jarm__iter_init(&it, r, 1, p443, 1, 8, 0, 2, NULL, err, sizeof(err));
    jarm__iter_init(&it2, r, 1, p443, 1, 8, 1, 2, NULL, err, sizeof(err));
    ok(jarm__iter_length(&it) + jarm__iter_length(&it2) == it.cyc.p - 1,
       "two shards' lengths add up to the cycle (%llu + %llu)",
       (unsigned long long)jarm__iter_length(&it), (unsigned long long)jarm__iter_length(&it2));
    jarm__iter_free(&it);
    jarm__iter_free(&it2);
}

static void test_shard_parse(void)
{
    uint32_t i = 9, n = 9;
    char err[120] = "";
    static const char *bad[] = {"",    "1",    "/2",   "1/",   "3/3",          "1/0",
                                "a/b", "1/2x", "-1/2", "1 /2", "0/4294967296", "01/2/3"};
    int good = 1;

    ok(jarm__shard_parse("0/1", &i, &n, err, sizeof(err)) == 0 && i == 0 && n == 1, "0/1");
    ok(jarm__shard_parse("2/3", &i, &n, err, sizeof(err)) == 0 && i == 2 && n == 3, "2/3");
    ok(jarm__shard_parse("4294967294/4294967295", &i, &n, err, sizeof(err)) == 0 &&
           n == 4294967295u,
       "4294967294/4294967295");
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        if (jarm__shard_parse(bad[k], &i, &n, err, sizeof(err)) == 0) {
            note("'%s' accepted", bad[k]);
            good = 0;
        }
    }
    ok(good, "%zu malformed shards refused (last: %s)", sizeof(bad) / sizeof(bad[0]), err);
}

static void test_format(void)
{
    struct sockaddr_storage ss;
    char buf[JARM__ENDPOINT_STRLEN];
    int f1, f2;
    jarm__u128_t a = R("2001:db8::1").first;

    jarm__addr_to_sockaddr(AF_INET6, a, 443, &ss);
    f1 = jarm__endpoint_format(&ss, buf, sizeof(buf));
    ok(f1 > 0 && strcmp(buf, "[2001:db8::1]:443") == 0, "IPv6 endpoint: %s", buf);
    jarm__addr_to_sockaddr(AF_INET, R("192.0.2.1").first, 8443, &ss);
    f2 = jarm__endpoint_format(&ss, buf, sizeof(buf));
    ok(f2 > 0 && strcmp(buf, "192.0.2.1:8443") == 0, "IPv4 endpoint: %s", buf);
    jarm__addr_to_sockaddr(AF_INET6, R("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").first, 65535,
                           &ss);
    ok(jarm__endpoint_format(&ss, buf, sizeof(buf)) ==
           (int)strlen("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
       "the longest endpoint fits JARM__ENDPOINT_STRLEN: %s", buf);
}

int main(int argc, char **argv)
{
    conf_path = argc > 1 ? argv[1] : getenv("JARM_BLOCKLIST_CONF");
    test_grammar();
    test_shards();
    test_acceptance();
    test_slash16();
    test_seek();
    test_resume();
    test_counts_and_errors();
    test_shard_parse();
    test_format();
    return done_testing();
}
