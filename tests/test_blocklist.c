/*
 * test_blocklist.c - the blocklist file format, painting semantics, lookups and counts
 * (suite 'unit').
 *
 * Usage: test_blocklist [PATH-TO-contrib/blocklist.conf]
 *
 * Lookups are checked at the edges (/0, /32, /128, the first and last address of a family,
 * IPv4-mapped IPv6) and against a naive model - the list of paints, searched backwards for
 * the last one covering the address - over random paint sequences. The shipped default list
 * is loaded and probed, and its allowed IPv4 count compared with a figure computed
 * independently (Python's ipaddress.collapse_addresses over the same file).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocklist.h"
#include "tap.h"

/* 2^32 minus the IPv4 space of contrib/blocklist.conf, computed with Python's ipaddress. */
#define DEFAULT_V4_ALLOWED 3702257664u

static uint64_t rnd_state = 0x1234567;

static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The value of an address literal (either family); aborts the test on a typo. */
static jarm__u128_t A(const char *s, int *family)
{
    jarm__range_t r;
    if (jarm__cidr_parse(s, strlen(s), &r) != 0) {
        note("test bug: bad address %s", s);
        exit(2);
    }
    *family = r.family;
    return r.first;
}

static int allowed(const jarm__blocklist_t *bl, const char *addr)
{
    int f;
    jarm__u128_t a = A(addr, &f);
    return jarm__blocklist_allowed(bl, f, a);
}

/* Parse text into a fresh list (default allowed), painting denied; returns the parse result. */
static int64_t parse(jarm__blocklist_t *bl, const char *text, char *err, size_t errlen)
{
    jarm__blocklist_init(bl, 1);
    return jarm__blocklist_parse(bl, "t.conf", text, strlen(text), 0, err, errlen);
}

static void expect_error(const char *text, const char *error)
{
    jarm__blocklist_t bl;
    char err[160] = "";
    int64_t n = parse(&bl, text, err, sizeof(err));
    ok(n == -1 && strcmp(err, error) == 0, "error \"%s\" (got %lld \"%s\")", error, (long long)n,
       err);
    jarm__blocklist_free(&bl);
}

static void test_format(void)
{
    jarm__blocklist_t bl;
    char err[160] = "";
    int64_t n;
    static const char nul_line[] = "10.0.0.0/8\n1.2\0003.4\n";

    expect_error("# comment\n\n10.0.0.0/33\n", "t.conf:3: bad CIDR '10.0.0.0/33'");
    expect_error("::/129", "t.conf:1: bad CIDR '::/129'");
    expect_error("1.2.3", "t.conf:1: bad CIDR '1.2.3'");
    expect_error("10.0.0.0/8 junk # c", "t.conf:1: bad CIDR '10.0.0.0/8 junk'");
    expect_error("10.0.0.0/", "t.conf:1: bad CIDR '10.0.0.0/'");
    expect_error("/8", "t.conf:1: bad CIDR '/8'");
    expect_error("10.0.0.0/-1", "t.conf:1: bad CIDR '10.0.0.0/-1'");
    expect_error("10.0.0.0/8/8", "t.conf:1: bad CIDR '10.0.0.0/8/8'");
    expect_error("10.0.0.0/0008", "t.conf:1: bad CIDR '10.0.0.0/0008'");
    expect_error("[::1]", "t.conf:1: bad CIDR '[::1]'");
    expect_error("1.2.3.4:80", "t.conf:1: bad CIDR '1.2.3.4:80'");
    expect_error("1.2.3.4-1.2.3.5", "t.conf:1: bad CIDR '1.2.3.4-1.2.3.5'");
    expect_error("fe80::1%eth0", "t.conf:1: bad CIDR 'fe80::1%eth0'");
    expect_error("\r\n\r\nexample.com\r\n", "t.conf:3: bad CIDR 'example.com'");
    expect_error("2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0/64",
                 "t.conf:1: bad CIDR '2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0...'");

    jarm__blocklist_init(&bl, 1);
    n = jarm__blocklist_parse(&bl, "t.conf", nul_line, sizeof(nul_line) - 1, 0, err, sizeof(err));
    ok(n == -1 && strcmp(err, "t.conf:2: bad CIDR '1.2?3.4'") == 0, "NUL in a line: %s", err);
    ok(allowed(&bl, "10.1.2.3"), "all or nothing: the good line before a bad one is not painted");
    jarm__blocklist_free(&bl);

    n = parse(&bl,
              "# header\n"
              "  10.0.0.0/8   # private\r\n"
              "\t192.0.2.7\t\n"
              "2001:db8::/32#doc\n"
              "10.1.2.3/8\n" /* host bits cleared: 10.0.0.0/8 again */
              "::1\n"
              "#\n"
              "   \n"
              "203.0.113.0/24", /* no final newline */
              err, sizeof(err));
    ok(n == 6, "6 entries: comments, CR LF, tabs, trailing comments, no final newline (%lld %s)",
       (long long)n, err);
    ok(!allowed(&bl, "10.200.1.1") && !allowed(&bl, "192.0.2.7") && allowed(&bl, "192.0.2.8") &&
           !allowed(&bl, "2001:db8:ffff::1") && !allowed(&bl, "::1") &&
           !allowed(&bl, "203.0.113.255") && allowed(&bl, "203.0.114.0"),
       "the parsed entries are denied, their neighbours not");
    jarm__blocklist_free(&bl);

    n = parse(&bl, "", err, sizeof(err));
    ok(n == 0 && allowed(&bl, "1.2.3.4"), "an empty file paints nothing");
    jarm__blocklist_free(&bl);

    jarm__blocklist_init(&bl, 1);
    n = jarm__blocklist_load(&bl, "/nonexistent/blocklist.conf", 0, err, sizeof(err));
    ok(n == -1 && strcmp(err, "/nonexistent/blocklist.conf: No such file or directory") == 0,
       "a missing file: %s", err);
    jarm__blocklist_free(&bl);
}

static void test_edges(void)
{
    jarm__blocklist_t bl;
    char err[160];

    parse(&bl, "0.0.0.0/0", err, sizeof(err));
    ok(!allowed(&bl, "0.0.0.0") && !allowed(&bl, "255.255.255.255") && !allowed(&bl, "8.8.8.8") &&
           allowed(&bl, "2001:4860::8888") && allowed(&bl, "::"),
       "deny 0.0.0.0/0: all of IPv4, none of IPv6");
    jarm__blocklist_free(&bl);

    parse(&bl, "::/0", err, sizeof(err));
    ok(!allowed(&bl, "::") && !allowed(&bl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") &&
           allowed(&bl, "0.0.0.0") && allowed(&bl, "255.255.255.255"),
       "deny ::/0: all of IPv6, none of IPv4");
    jarm__blocklist_free(&bl);

    parse(&bl, "1.2.3.4/32\n0.0.0.0/32\n255.255.255.255/32", err, sizeof(err));
    ok(!allowed(&bl, "1.2.3.4") && allowed(&bl, "1.2.3.3") && allowed(&bl, "1.2.3.5") &&
           !allowed(&bl, "0.0.0.0") && allowed(&bl, "0.0.0.1") &&
           !allowed(&bl, "255.255.255.255") && allowed(&bl, "255.255.255.254"),
       "/32 denies one address, including the first and the last");
    jarm__blocklist_free(&bl);

    parse(&bl, "2001:db8::5/128\n::/128\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", err,
          sizeof(err));
    ok(!allowed(&bl, "2001:db8::5") && allowed(&bl, "2001:db8::4") && allowed(&bl, "2001:db8::6") &&
           !allowed(&bl, "::") && allowed(&bl, "::1") &&
           !allowed(&bl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") &&
           allowed(&bl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
       "/128 denies one address, including the first and the last");
    jarm__blocklist_free(&bl);

    /* Crossing the 64-bit halves of an IPv6 value. */
    parse(&bl, "2001:db8:0:1::/64", err, sizeof(err));
    ok(!allowed(&bl, "2001:db8:0:1::") && !allowed(&bl, "2001:db8:0:1:ffff:ffff:ffff:ffff") &&
           allowed(&bl, "2001:db8:0:2::") && allowed(&bl, "2001:db8:0:0:ffff:ffff:ffff:ffff"),
       "a /64 ends exactly at the 64-bit boundary");
    jarm__blocklist_free(&bl);
}

static void paint_str(jarm__blocklist_t *bl, const char *text, int allow)
{
    char err[160];
    if (jarm__blocklist_parse(bl, "t.conf", text, strlen(text), allow, err, sizeof(err)) < 0)
        note("test bug: %s", err);
}

static void test_painting(void)
{
    jarm__blocklist_t bl;
    jarm__range_t r[3];
    char err[160];
    struct sockaddr_in6 s6;
    struct sockaddr_in s4;

    /* Later paints override earlier ones. */
    jarm__blocklist_init(&bl, 1);
    paint_str(&bl, "10.0.0.0/8", 0);
    paint_str(&bl, "10.1.0.0/16", 1);
    paint_str(&bl, "10.1.2.0/24", 0);
    ok(!allowed(&bl, "10.0.0.1") && allowed(&bl, "10.1.0.1") && !allowed(&bl, "10.1.2.3") &&
           allowed(&bl, "10.1.3.0") && !allowed(&bl, "10.2.0.0") && allowed(&bl, "11.0.0.0") &&
           allowed(&bl, "9.255.255.255"),
       "deny /8, allow /16 inside, deny /24 inside that: the top colour shows");
    jarm__blocklist_free(&bl);

    /* Allowlist mode: start denied, allow a network, then a blocklist wins inside it. */
    jarm__blocklist_init(&bl, 0);
    ok(!allowed(&bl, "1.1.1.1") && !allowed(&bl, "::1"), "start denied: nothing allowed");
    paint_str(&bl, "192.0.2.0/24\n2001:db8::/126", 1);
    paint_str(&bl, "192.0.2.128/25", 0);
    ok(allowed(&bl, "192.0.2.0") && allowed(&bl, "192.0.2.127") && !allowed(&bl, "192.0.2.128") &&
           !allowed(&bl, "192.0.3.0") && allowed(&bl, "2001:db8::3") &&
           !allowed(&bl, "2001:db8::4"),
       "allowlist minus blocklist");
    jarm__blocklist_free(&bl);

    /* The sets stay in normal form: adjacent and overlapping networks become one interval. */
    jarm__blocklist_init(&bl, 0);
    paint_str(&bl, "10.128.0.0/9\n10.0.0.0/9\n10.64.0.0/10\n11.0.0.0/8", 1);
    paint_str(&bl, "::/1", 1);
    paint_str(&bl, "8000::/1", 1);
    ok(bl.v4.n == 1 && bl.v6.n == 1 && !allowed(&bl, "9.255.255.255") &&
           allowed(&bl, "11.255.255.255") && !allowed(&bl, "12.0.0.0"),
       "adjacent and overlapping networks merge into one interval (%zu, %zu)", bl.v4.n, bl.v6.n);
    jarm__blocklist_free(&bl);

    /* IPv4-mapped addresses need both families' consent. */
    parse(&bl, "10.0.0.0/8", err, sizeof(err));
    ok(!allowed(&bl, "::ffff:10.1.2.3") && allowed(&bl, "::ffff:11.1.2.3") &&
           allowed(&bl, "::10.1.2.3"),
       "deny 10.0.0.0/8: ::ffff:10.1.2.3 denied, ::ffff:11.1.2.3 and ::10.1.2.3 allowed");
    jarm__blocklist_free(&bl);
    parse(&bl, "::ffff:0:0/96", err, sizeof(err));
    ok(!allowed(&bl, "::ffff:11.1.2.3") && allowed(&bl, "11.1.2.3") &&
           allowed(&bl, "::fffe:ffff:ffff") && allowed(&bl, "::1:0:0:0"),
       "deny ::ffff:0:0/96: the mapped address denied, the IPv4 address and neighbours not");
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(443);
    inet_pton(AF_INET6, "::ffff:11.1.2.3", &s6.sin6_addr);
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    s4.sin_port = htons(443);
    inet_pton(AF_INET, "11.1.2.3", &s4.sin_addr);
    ok(!jarm__blocklist_allowed_sa(&bl, (struct sockaddr *)&s6) &&
           jarm__blocklist_allowed_sa(&bl, (struct sockaddr *)&s4),
       "lookups by sockaddr agree");
    jarm__blocklist_free(&bl);

    /* Counting. */
    parse(&bl, "10.0.0.0/8\n::ffff:0:0/97\n2001:db8::/120", err, sizeof(err));
    jarm__cidr_parse("0.0.0.0/0", 9, &r[0]);
    jarm__cidr_parse("::ffff:0:0/96", 13, &r[1]);
    jarm__cidr_parse("2001:db8::/112", 14, &r[2]);
    ok(jarm__blocklist_count(&bl, &r[0]) == 4278190080u, "count 0.0.0.0/0 minus a /8: %llu",
       (unsigned long long)jarm__blocklist_count(&bl, &r[0]));
    /* The upper half of the mapped block is ::ffff:128.0.0.0/97: 2^31 addresses, none in
     * 10/8. */
    ok(jarm__blocklist_count(&bl, &r[1]) == 2147483648u,
       "count ::ffff:0:0/96 when its lower half and 10/8 are denied: %llu",
       (unsigned long long)jarm__blocklist_count(&bl, &r[1]));
    ok(jarm__blocklist_count(&bl, &r[2]) == 65536 - 256, "count a /112 minus a /120: %llu",
       (unsigned long long)jarm__blocklist_count(&bl, &r[2]));
    jarm__blocklist_free(&bl);
    jarm__blocklist_init(&bl, 1);
    jarm__cidr_parse("::/0", 4, &r[0]);
    ok(jarm__blocklist_count(&bl, &r[0]) == UINT64_MAX, "count ::/0 saturates");
    jarm__blocklist_free(&bl);
}

/* The model: paints in order; an address's colour is the last paint covering it. */
typedef struct {
    jarm__range_t r;
    int allow;
} paint_t;

static int covers(const jarm__range_t *r, int family, jarm__u128_t a)
{
    return r->family == family && jarm__u128_cmp(r->first, a) <= 0 &&
           jarm__u128_cmp(a, r->last) <= 0;
}

static int model_one(const paint_t *p, size_t n, int dflt, int family, jarm__u128_t a)
{
    for (size_t i = n; i-- > 0;) {
        if (covers(&p[i].r, family, a))
            return p[i].allow;
    }
    return dflt;
}

static int model(const paint_t *p, size_t n, int dflt, int family, jarm__u128_t a)
{
    int v = model_one(p, n, dflt, family, a);
    if (v && family == AF_INET6 && a.hi == 0 && (a.lo >> 32) == 0xffff)
        v = model_one(p, n, dflt, AF_INET, (jarm__u128_t){0, a.lo & UINT32_MAX});
    return v;
}

/* A random network: IPv4 inside 10.0.0.0/16 or IPv6 inside ::ffff:10.0.0.0/112 or
 * 2001:db8::/112, so that networks overlap often and the mapped case is exercised. */
static jarm__range_t random_net(void)
{
    jarm__range_t r;
    uint64_t x = rnd();
    unsigned host = (unsigned)(rnd() % 17); /* 0..16 host bits */
    jarm__u128_t base = {0, 0x0a000000u + (x & 0xffff)};
    uint64_t mask = ((uint64_t)1 << host) - 1;

    switch (rnd() % 4) {
    case 0:
    case 1:
        r.family = AF_INET;
        break;
    case 2:
        r.family = AF_INET6;
        base.lo |= 0x0000ffff00000000u;
        break;
    default:
        r.family = AF_INET6;
        base.hi = 0x20010db800000000u;
        base.lo &= 0xffff;
        break;
    }
    r.first = base;
    r.first.lo &= ~mask;
    r.last = r.first;
    r.last.lo |= mask;
    return r;
}

static void test_model(void)
{
    enum { PAINTS = 400, PROBES = 20000 };
    static paint_t p[PAINTS];
    jarm__blocklist_t bl;
    size_t n = 0;
    int good = 1, counts = 1;

    for (int round = 0; round < 20 && good && counts; round++) {
        int dflt = (int)(rnd() % 2);
        jarm__blocklist_init(&bl, dflt);
        n = 0;
        while (n < PAINTS) { /* batches of one colour, like files */
            size_t batch = 1 + rnd() % 30, start = n;
            int allow = (int)(rnd() % 2);
            jarm__range_t nets[30];
            for (size_t i = 0; i < batch && n < PAINTS; i++, n++) {
                p[n].r = random_net();
                p[n].allow = allow;
                nets[i] = p[n].r;
            }
            jarm__blocklist_paint(&bl, nets, n - start, allow);
        }
        for (int k = 0; k < PROBES && good; k++) {
            jarm__range_t probe = random_net();
            jarm__u128_t a = probe.first;
            a.lo += rnd() % 3 == 0 ? 0 : (probe.last.lo - probe.first.lo);
            good =
                jarm__blocklist_allowed(&bl, probe.family, a) == model(p, n, dflt, probe.family, a);
            if (!good)
                note("round %d: lookup mismatch", round);
        }
        for (int k = 0; k < 40 && counts; k++) {
            jarm__range_t q = random_net();
            uint64_t want = 0;
            for (jarm__u128_t a = q.first; jarm__u128_cmp(a, q.last) <= 0;
                 a = jarm__u128_add64(a, 1))
                want += (uint64_t)model(p, n, dflt, q.family, a);
            counts = jarm__blocklist_count(&bl, &q) == want;
            if (!counts)
                note("round %d: count %llu, model %llu", round,
                     (unsigned long long)jarm__blocklist_count(&bl, &q), (unsigned long long)want);
        }
        jarm__blocklist_free(&bl);
    }
    ok(good, "lookups agree with the paint-order model (20 rounds x 400 paints x 20000 probes)");
    ok(counts, "allowed counts agree with the model (20 rounds x 40 ranges, enumerated)");
}

static void test_default(const char *path)
{
    jarm__blocklist_t bl;
    jarm__range_t all;
    char err[256] = "";
    int64_t n;
    static const char *denied[] = {
        "0.0.0.0",      "0.255.255.255",   "10.1.2.3",         "100.64.0.1",      "100.127.255.255",
        "127.0.0.1",    "169.254.1.1",     "172.16.0.1",       "172.31.255.255",  "192.0.0.9",
        "192.0.2.1",    "192.31.196.1",    "192.52.193.1",     "192.88.99.1",     "192.168.1.1",
        "192.175.48.1", "198.18.0.1",      "198.19.255.255",   "198.51.100.1",    "203.0.113.1",
        "224.0.0.1",    "239.255.255.255", "240.0.0.1",        "255.255.255.255", "::",
        "::1",          "::ffff:8.8.8.8",  "64:ff9b::808:808", "64:ff9b:1::1",    "100::1",
        "2001::1",      "2001:db8::1",     "2002:808:808::1",  "2620:4f:8000::1", "3fff::1",
        "5f00::1",      "fc00::1",         "fd12:3456::1",     "fe80::1",         "fec0::1",
        "ff02::1",      "4000::1",         "1000::1",          "e000::1",
    };
    static const char *open_[] = {
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",
        "192.0.3.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2001:200::1",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "2a00:1450::1",
        "3ffe::1",
    };
    int good = 1;

    if (path == NULL) {
        ok(0, "the default list: no path given (run from meson, or pass the path)");
        return;
    }
    jarm__blocklist_init(&bl, 1);
    n = jarm__blocklist_load(&bl, path, 0, err, sizeof(err));
    ok(n == 50, "the default list loads: %lld entries %s", (long long)n, err);
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        if (allowed(&bl, denied[i])) {
            note("%s is allowed", denied[i]);
            good = 0;
        }
    }
    ok(good, "%zu reserved and special-purpose addresses denied",
       sizeof(denied) / sizeof(denied[0]));
    good = 1;
    for (size_t i = 0; i < sizeof(open_) / sizeof(open_[0]); i++) {
        if (!allowed(&bl, open_[i])) {
            note("%s is denied", open_[i]);
            good = 0;
        }
    }
    ok(good, "%zu public addresses (including the neighbours of reserved blocks) allowed",
       sizeof(open_) / sizeof(open_[0]));
    jarm__cidr_parse("0.0.0.0/0", 9, &all);
    ok(jarm__blocklist_count(&bl, &all) == DEFAULT_V4_ALLOWED,
       "allowed IPv4 addresses: %llu (independently: %llu)",
       (unsigned long long)jarm__blocklist_count(&bl, &all),
       (unsigned long long)DEFAULT_V4_ALLOWED);
    /* 17 denied IPv4 blocks from 0/8 to 224/3 leave 16 gaps; the IPv6 blocks leave 6 in
     * 2000::/3. */
    ok(bl.v4.n == 16 && bl.v6.n == 6, "compiles to %zu IPv4 and %zu IPv6 intervals", bl.v4.n,
       bl.v6.n);
    jarm__blocklist_free(&bl);
}

/* A user blocklist of 200,000 random /24s and addresses: one sort and one merge, about 50 ms
 * here; the bound is loose for sanitizer and valgrind runs. */
static void test_large(void)
{
    enum { LINES = 200000 };
    size_t cap = (size_t)LINES * 24, len = 0;
    char *text = malloc(cap), err[160] = "";
    uint32_t *first = malloc(LINES * sizeof(*first));
    jarm__blocklist_t bl;
    struct timespec t0, t1;
    double secs;
    int64_t n;
    int good = 1;

    for (size_t i = 0; i < LINES; i++) {
        uint32_t a = (uint32_t)rnd();
        int net = i % 2 == 0;
        if (net)
            a &= 0xffffff00u;
        first[i] = a;
        len += (size_t)snprintf(text + len, cap - len, "%u.%u.%u.%u%s\n", a >> 24, (a >> 16) & 255,
                                (a >> 8) & 255, a & 255, net ? "/24" : "");
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    jarm__blocklist_init(&bl, 1);
    n = jarm__blocklist_parse(&bl, "big", text, len, 0, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (size_t i = 0; i < LINES; i++) {
        jarm__u128_t a = {0, first[i]};
        good &= !jarm__blocklist_allowed(&bl, AF_INET, a);
        if (i % 2 == 0) { /* the /24's last address is denied too */
            a.lo |= 255;
            good &= !jarm__blocklist_allowed(&bl, AF_INET, a);
        }
    }
    ok(n == LINES && good && secs < 5.0, "200,000-line blocklist: parsed in %.3f s, all denied",
       secs);
    jarm__blocklist_free(&bl);
    free(text);
    free(first);
}

int main(int argc, char **argv)
{
    test_format();
    test_edges();
    test_painting();
    test_model();
    test_default(argc > 1 ? argv[1] : getenv("JARM_BLOCKLIST_CONF"));
    test_large();
    return done_testing();
}
