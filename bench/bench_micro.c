/*
 * bench_micro.c - micro benchmarks of the pure library, in ns/op.
 *
 * Usage: bench_micro [CASE...]   with CASE one of probe, parse, hash, target (default: all)
 *
 *   probe   jarm_probe_build for each of the ten probes, randomness from jarm_rng_fill
 *           (the production source), host "www.example.com"; and all ten in a row
 *   parse   jarm_reply_parse on a typical 115-byte TLS 1.2 ServerHello (ALPN h2, six
 *           extensions) and a 127-byte TLS 1.3 ServerHello, final and incremental
 *   hash    jarm_fuzzy_hash on the raw string of a typical TLS 1.2 + 1.3 server
 *   target  per target: parse ten replies, jarm_raw_join, jarm_fuzzy_hash
 *
 * Fixed inputs and a tight loop (picohttpparser's bench.c, libuv's benchmark-*.c): batches
 * sized to about BENCH_SECONDS each, the best of BENCH_REPEAT + 1 batches reported, one line
 * per case: `name   12.3 ns/op`.
 * The replies below were written by hand for this file from the TLS 1.2/1.3 wire format;
 * no test vectors are read. Compare figures only between runs on the same machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jarm.h"

#define BENCH_SECONDS 0.1
#define BENCH_REPEAT  4

/* Results land here so no call can be optimised away. */
static volatile size_t bench_sink;

/* TLS 1.2 ServerHello: ECDHE-RSA-AES128-GCM-SHA256, 32-byte session id, extensions
 * renegotiation_info, server_name, ec_point_formats, session_ticket, ALPN "h2",
 * extended_master_secret. Probe string "c02f|0303|h2|ff01-0000-000b-0023-0010-0017". */
static const uint8_t sh12[115] = {
    0x16, 0x03, 0x03, 0x00, 0x6e,                         /* record: handshake, 110 bytes */
    0x02, 0x00, 0x00, 0x6a,                               /* server_hello, 106 bytes */
    0x03, 0x03,                                           /* legacy_version TLS 1.2 */
    0x5f, 0x2a, 0x91, 0x0c, 0xe3, 0x47, 0xb8, 0x16,       /* server random */
    0x2d, 0x70, 0xa4, 0x9b, 0x33, 0xc1, 0x08, 0x6e,       /*   */
    0xf5, 0x12, 0x87, 0x3a, 0xd9, 0x64, 0x0b, 0xbe,       /*   */
    0x41, 0x1c, 0x95, 0x27, 0x7f, 0xe0, 0x58, 0x02,       /*   */
    0x20,                                                 /* session id, 32 bytes */
    0x9a, 0x13, 0x6c, 0xf0, 0x25, 0xd7, 0x48, 0xb1,       /*   */
    0x0e, 0x83, 0x5a, 0xc4, 0x39, 0x7d, 0xe2, 0x16,       /*   */
    0xab, 0x50, 0xf9, 0x04, 0x6f, 0xc8, 0x31, 0x9e,       /*   */
    0x77, 0x2b, 0xd0, 0x15, 0x8c, 0x63, 0xea, 0x4f,       /*   */
    0xc0, 0x2f,                                           /* cipher suite */
    0x00,                                                 /* compression: null */
    0x00, 0x22,                                           /* extensions, 34 bytes */
    0xff, 0x01, 0x00, 0x01, 0x00,                         /* renegotiation_info */
    0x00, 0x00, 0x00, 0x00,                               /* server_name (empty) */
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,       /* ec_point_formats */
    0x00, 0x23, 0x00, 0x00,                               /* session_ticket */
    0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, 0x68, 0x32, /* ALPN: "h2" */
    0x00, 0x17, 0x00, 0x00,                               /* extended_master_secret */
};

/* TLS 1.3 ServerHello: TLS_AES_128_GCM_SHA256, 32-byte session id echo, supported_versions
 * 0304 and an x25519 key_share. Probe string "1301|0303||002b-0033". */
static const uint8_t sh13[127] = {
    0x16, 0x03, 0x03, 0x00, 0x7a,                   /* record: handshake, 122 bytes */
    0x02, 0x00, 0x00, 0x76,                         /* server_hello, 118 bytes */
    0x03, 0x03,                                     /* legacy_version TLS 1.2 */
    0x3e, 0x81, 0x0a, 0xd4, 0x67, 0x92, 0x1f, 0xc5, /* server random */
    0x58, 0xb3, 0x26, 0xe9, 0x7c, 0x04, 0xaf, 0x61, /*   */
    0x12, 0xde, 0x95, 0x48, 0x3b, 0xf7, 0x80, 0x2c, /*   */
    0xc9, 0x5d, 0x06, 0x73, 0xea, 0x14, 0xbb, 0x90, /*   */
    0x20,                                           /* session id, 32 bytes */
    0x44, 0xe1, 0x7a, 0x09, 0xb6, 0x2f, 0xd3, 0x58, /*   */
    0x8b, 0x10, 0xc7, 0x6e, 0x35, 0xf2, 0x99, 0x03, /*   */
    0x6a, 0xdf, 0x21, 0x84, 0x5b, 0xce, 0x17, 0x70, /*   */
    0xa5, 0x3c, 0xe8, 0x4d, 0x92, 0x0f, 0xb4, 0x61, /*   */
    0x13, 0x01,                                     /* cipher suite */
    0x00,                                           /* compression: null */
    0x00, 0x2e,                                     /* extensions, 46 bytes */
    0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,             /* supported_versions: TLS 1.3 */
    0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, /* key_share: x25519, 32 bytes */
    0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, /*   */
    0x9a, 0x2f, 0xea, 0xa0, 0xc5, 0x5a, 0xd0, 0x15, /*   */
    0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b, 0x82, 0x2c, /*   */
    0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08, /*   */
};

/* A fatal handshake_failure alert, what many servers send to a probe they refuse. */
static const uint8_t alert[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};

/* The replies of a server speaking TLS 1.2 and 1.3, in probe order. */
static const struct {
    const uint8_t *buf;
    size_t len;
} replies[JARM_PROBES] = {
    {sh12, sizeof(sh12)}, {sh12, sizeof(sh12)},   {sh12, sizeof(sh12)}, {sh12, sizeof(sh12)},
    {sh12, sizeof(sh12)}, {alert, sizeof(alert)}, {sh13, sizeof(sh13)}, {sh13, sizeof(sh13)},
    {sh12, sizeof(sh12)}, {sh13, sizeof(sh13)},
};

static const char host[] = "www.example.com";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef void (*bench_fn)(void *ctx, size_t iters);

/*
 * Run fn in batches that grow until one takes BENCH_SECONDS, then BENCH_REPEAT more
 * batches of that size; print and return the best ns/op (the least disturbed run).
 */
static double bench(const char *name, bench_fn fn, void *ctx)
{
    size_t iters = 16;
    double t0, dt, best;

    fn(ctx, iters); /* warm up caches and the SHA-256 fetch */
    for (;;) {
        t0 = now();
        fn(ctx, iters);
        dt = now() - t0;
        if (dt >= BENCH_SECONDS || iters >= ((size_t)1 << 40))
            break;
        iters *= dt > 0.01 ? (size_t)(BENCH_SECONDS / dt) + 1 : 16;
    }
    best = dt;
    for (int rep = 0; rep < BENCH_REPEAT; rep++) {
        t0 = now();
        fn(ctx, iters);
        dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("%-24s %10.1f ns/op\n", name, best * 1e9 / (double)iters);
    (void)fflush(stdout);
    return best * 1e9 / (double)iters;
}

static void die(const char *what, int err)
{
    (void)fprintf(stderr, "bench_micro: %s: %s\n", what, jarm_strerror(err));
    exit(1);
}

/* ---- probe ---- */

struct probe_ctx {
    jarm_rng_t rng;
    unsigned probe;
    uint8_t buf[JARM_HELLO_MAX];
};

static void run_probe(void *arg, size_t iters)
{
    struct probe_ctx *c = arg;
    size_t len = 0;
    for (size_t i = 0; i < iters; i++) {
        int err = jarm_probe_build(c->probe, host, sizeof(host) - 1, jarm_rng_fill, &c->rng, c->buf,
                                   sizeof(c->buf), &len);
        if (err != 0)
            die("jarm_probe_build", err);
        bench_sink += len;
    }
}

static void run_probe_all(void *arg, size_t iters)
{
    struct probe_ctx *c = arg;
    for (size_t i = 0; i < iters; i++)
        for (c->probe = 0; c->probe < JARM_PROBES; c->probe++)
            run_probe(c, 1);
}

static void run_rng(void *arg, size_t iters)
{
    struct probe_ctx *c = arg;
    for (size_t i = 0; i < iters; i++) {
        jarm_rng_fill(&c->rng, c->buf, 32);
        bench_sink += c->buf[0];
    }
}

static void bench_probe(void)
{
    static struct probe_ctx c;
    char name[32];
    int err = jarm_rng_init(&c.rng);

    if (err != 0)
        die("jarm_rng_init", err);
    bench("rng_fill_32", run_rng, &c);
    for (c.probe = 0; c.probe < JARM_PROBES; c.probe++) {
        (void)snprintf(name, sizeof(name), "probe_build[%u]", c.probe);
        bench(name, run_probe, &c);
    }
    bench("probe_build_all10", run_probe_all, &c);
}

/* ---- parse ---- */

struct parse_ctx {
    const uint8_t *buf;
    size_t len;
    int final;
    char out[JARM_PROBE_STR_MAX];
};

static void run_parse(void *arg, size_t iters)
{
    struct parse_ctx *c = arg;
    jarm_reply_t r;
    for (size_t i = 0; i < iters; i++) {
        int err = jarm_reply_parse(c->buf, c->len, c->final, &r, c->out, sizeof(c->out));
        if (err != 0)
            die("jarm_reply_parse", err);
        bench_sink += r.len;
    }
}

static void bench_parse(void)
{
    static struct parse_ctx c;

    c.buf = sh12;
    c.len = sizeof(sh12);
    c.final = 1;
    bench("reply_parse_tls12", run_parse, &c);
    c.final = 0; /* a complete reply decides without EOF */
    bench("reply_parse_tls12_incr", run_parse, &c);
    c.buf = sh13;
    c.len = sizeof(sh13);
    c.final = 1;
    bench("reply_parse_tls13", run_parse, &c);
    c.buf = alert;
    c.len = sizeof(alert);
    bench("reply_parse_alert", run_parse, &c);
}

/* ---- hash and whole target ---- */

struct target_ctx {
    char strs[JARM_PROBES][JARM_PROBE_STR_MAX];
    const char *probes[JARM_PROBES];
    size_t lens[JARM_PROBES];
    char raw[JARM_PROBES * 64];
    size_t raw_len;
    char fp[JARM_FP_LEN + 1];
};

static void target_once(struct target_ctx *c)
{
    jarm_reply_t r;
    size_t fp_len = 0;
    int err;

    for (unsigned p = 0; p < JARM_PROBES; p++) {
        err =
            jarm_reply_parse(replies[p].buf, replies[p].len, 1, &r, c->strs[p], sizeof(c->strs[p]));
        if (err != 0)
            die("jarm_reply_parse", err);
        c->probes[p] = c->strs[p];
        c->lens[p] = r.len;
    }
    err = jarm_raw_join(c->probes, c->lens, c->raw, sizeof(c->raw), &c->raw_len);
    if (err != 0)
        die("jarm_raw_join", err);
    err = jarm_fuzzy_hash(c->raw, c->raw_len, c->fp, sizeof(c->fp), &fp_len);
    if (err != 0)
        die("jarm_fuzzy_hash", err);
    bench_sink += fp_len;
}

static void run_target(void *arg, size_t iters)
{
    for (size_t i = 0; i < iters; i++)
        target_once(arg);
}

static void run_hash(void *arg, size_t iters)
{
    struct target_ctx *c = arg;
    size_t fp_len = 0;
    for (size_t i = 0; i < iters; i++) {
        int err = jarm_fuzzy_hash(c->raw, c->raw_len, c->fp, sizeof(c->fp), &fp_len);
        if (err != 0)
            die("jarm_fuzzy_hash", err);
        bench_sink += fp_len;
    }
}

static void run_hash_empty(void *arg, size_t iters)
{
    struct target_ctx *c = arg;
    size_t fp_len = 0;
    for (size_t i = 0; i < iters; i++) {
        int err = jarm_fuzzy_hash(JARM_RAW_EMPTY, sizeof(JARM_RAW_EMPTY) - 1, c->fp, sizeof(c->fp),
                                  &fp_len);
        if (err != 0)
            die("jarm_fuzzy_hash", err);
        bench_sink += fp_len;
    }
}

static void bench_hash(void)
{
    static struct target_ctx c;

    target_once(&c); /* builds the realistic raw string */
    bench("fuzzy_hash", run_hash, &c);
    bench("fuzzy_hash_empty", run_hash_empty, &c);
}

static void bench_target(void)
{
    static struct target_ctx c;

    target_once(&c);
    printf("# raw %.*s\n# fp  %s\n", (int)c.raw_len, c.raw, c.fp);
    bench("target_parse10_join_hash", run_target, &c);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {
        {"probe", bench_probe},
        {"parse", bench_parse},
        {"hash", bench_hash},
        {"target", bench_target},
    };
    size_t ncases = sizeof(cases) / sizeof(cases[0]);

    if (argc < 2) {
        for (size_t k = 0; k < ncases; k++)
            cases[k].run();
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        size_t k;
        for (k = 0; k < ncases && strcmp(argv[i], cases[k].name) != 0; k++)
            ;
        if (k == ncases) {
            (void)fprintf(stderr, "usage: %s [probe|parse|hash|target]...\n", argv[0]);
            return 2;
        }
        cases[k].run();
    }
    return 0;
}
