/*
 * test_probe.c - the ten ClientHellos against vectors/probes.json.
 *
 * Each of the 40 records (4 targets x 10 probes) is checked three ways:
 *   1. with a random source returning zeros (GREASE then is 0a0a) the whole record must equal
 *      client_hello_hex byte for byte;
 *   2. with a source returning 0xff every byte listed in random_fields must be ff, every
 *      GREASE field fafa, and nothing else may differ from (1): the listed offsets are then
 *      exactly the bytes the random source controls;
 *   3. with the production generator (jarm_rng_t) the record must equal the vector with those
 *      offsets masked, the GREASE values must be valid GREASE, and two builds must differ in
 *      every random field.
 * The host is always placed flush against a guard page, so reading past host_len faults.
 * Then the order transforms, the server_name examples, the probe names and the errors.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "jarm.h"
#include "json.h"
#include "probe.h"
#include "tap.h"

#define MAX_FIELDS 8

struct field {
    size_t off, len;
};

static void zero_rand(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
}

static void ff_rand(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0xff, len);
}

static guard_t host_guard, out_guard;

/* Build with the host flush against a guard page. */
static int build(unsigned probe, const uint8_t *host, size_t host_len, jarm_rand_fn rnd, void *ctx,
                 uint8_t *buf, size_t cap, size_t *len)
{
    const uint8_t *h = guard_place(&host_guard, host, host_len);
    return jarm_probe_build(probe, (const char *)h, host_len, rnd, ctx, buf, cap, len);
}

/* Read a random_fields/grease_fields array; returns the count, or -1 if malformed. */
static int get_fields(const json_t *arr, size_t rec_len, struct field *out)
{
    size_t n = json_count(arr);

    if (n == 0 || n > MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long off = json_long(json_get(json_at(arr, i), "offset"), -1);
        long len = json_long(json_get(json_at(arr, i), "length"), -1);
        if (off < 0 || len <= 0 || (size_t)off + (size_t)len > rec_len)
            return -1;
        out[i].off = (size_t)off;
        out[i].len = (size_t)len;
    }
    return (int)n;
}

static void mark(uint8_t *mask, const struct field *f, int n)
{
    for (int i = 0; i < n; i++)
        memset(mask + f[i].off, 1, f[i].len);
}

/* Offset of the first byte where a and b differ outside mask (mask may be NULL), or -1. */
static long first_diff(const uint8_t *a, const uint8_t *b, size_t n, const uint8_t *mask)
{
    for (size_t i = 0; i < n; i++)
        if ((mask == NULL || !mask[i]) && a[i] != b[i])
            return (long)i;
    return -1;
}

static int is_grease(const uint8_t *p)
{
    return p[0] == p[1] && (p[0] & 0x0f) == 0x0a;
}

static void test_record(const char *host, const uint8_t *hb, size_t hl, unsigned p,
                        const json_t *pr, jarm_rng_t *rng)
{
    uint8_t zero[JARM_HELLO_MAX], ff[JARM_HELLO_MAX], r1[JARM_HELLO_MAX], r2[JARM_HELLO_MAX];
    uint8_t mask[JARM_HELLO_MAX] = {0};
    struct field rf[MAX_FIELDS], gf[MAX_FIELDS];
    size_t want_len = 0, zl = 0, fl = 0, l1 = 0, l2 = 0;
    uint8_t *want = json_hex(json_get(pr, "client_hello_hex"), &want_len);
    int nrf, ngf, ret, good;
    long d;

    if (want == NULL || want_len != (size_t)json_long(json_get(pr, "length"), -1) ||
        want_len > JARM_HELLO_MAX) {
        ok(0, "%s probe %u: vector record readable", host, p + 1);
        free(want);
        return;
    }
    nrf = get_fields(json_get(pr, "random_fields"), want_len, rf);
    ngf = json_count(json_get(pr, "grease_fields")) == 0
              ? 0
              : get_fields(json_get(pr, "grease_fields"), want_len, gf);
    if (nrf > 0 && ngf >= 0) {
        mark(mask, rf, nrf);
        mark(mask, gf, ngf);
    }

    /* 1. Zero randomness: the whole record. */
    ret = build(p, hb, hl, zero_rand, NULL, zero, sizeof(zero), &zl);
    d = ret == 0 && zl == want_len ? first_diff(zero, want, zl, NULL) : 0;
    if (!ok(ret == 0 && zl == want_len && d < 0, "%s probe %u: zero-random record, %zu bytes", host,
            p + 1, want_len))
        note("ret %d (%s), length %zu, first difference at byte %ld", ret, jarm_err_name(ret), zl,
             d);

    /* 2. 0xff randomness: the listed fields are exactly the random bytes. */
    good = nrf > 0 && ngf >= 0;
    if (good) {
        ret = build(p, hb, hl, ff_rand, NULL, ff, sizeof(ff), &fl);
        good = ret == 0 && fl == want_len;
        for (int i = 0; good && i < nrf; i++)
            for (size_t k = 0; k < rf[i].len; k++)
                good = good && ff[rf[i].off + k] == 0xff;
        for (int i = 0; good && i < ngf; i++)
            good = gf[i].len == 2 && ff[gf[i].off] == 0xfa && ff[gf[i].off + 1] == 0xfa;
        good = good && first_diff(ff, want, fl, mask) < 0;
    }
    ok(good, "%s probe %u: %d random and %d GREASE fields are exactly the random bytes", host,
       p + 1, nrf, ngf);

    /* 3. Production randomness: masked compare, valid GREASE, fresh per build. */
    good = nrf > 0 && ngf >= 0;
    if (good) {
        good = build(p, hb, hl, jarm_rng_fill, rng, r1, sizeof(r1), &l1) == 0 &&
               build(p, hb, hl, jarm_rng_fill, rng, r2, sizeof(r2), &l2) == 0 && l1 == want_len &&
               l2 == want_len && first_diff(r1, want, l1, mask) < 0 &&
               first_diff(r2, want, l2, mask) < 0;
        for (int i = 0; good && i < ngf; i++)
            good = is_grease(r1 + gf[i].off) && is_grease(r2 + gf[i].off);
        for (int i = 0; good && i < nrf; i++)
            good = memcmp(r1 + rf[i].off, r2 + rf[i].off, rf[i].len) != 0;
    }
    ok(good, "%s probe %u: jarm_rng_t record equals the vector outside the random fields", host,
       p + 1);
    free(want);
}

static void test_targets(const json_t *root)
{
    const json_t *targets = json_get(root, "targets");
    jarm_rng_t rng;
    size_t ex_len[JARM_PROBES] = {0};

    ok(json_count(targets) == 4 && jarm_rng_init(&rng) == 0, "probes.json has 4 targets");
    for (size_t t = 0; t < json_count(targets); t++) {
        const json_t *tg = json_at(targets, t), *probes = json_get(tg, "probes");
        const char *host = json_str(json_get(tg, "host"));
        size_t hl = json_get(tg, "host") ? json_get(tg, "host")->len : 0;

        if (!ok(host != NULL && json_count(probes) == JARM_PROBES, "target %zu (%s): 10 probes", t,
                host ? host : "?"))
            continue;
        for (unsigned p = 0; p < JARM_PROBES; p++) {
            const json_t *pr = json_at(probes, p);
            const char *ref = json_str(json_get(pr, "reference_name"));
            const char *name = jarm_probe_name(p);
            if (json_long(json_get(pr, "index"), -1) != (long)p + 1 || ref == NULL ||
                name == NULL || strcmp(ref, name) != 0)
                ok(0, "%s probe %u: index %ld, name %s, reference name %s", host, p + 1,
                   json_long(json_get(pr, "index"), -1), name ? name : "NULL", ref ? ref : "NULL");
            if (t == 0) {
                ok(ref != NULL && name != NULL && strcmp(ref, name) == 0,
                   "jarm_probe_name(%u) = %s", p, name ? name : "NULL");
                ex_len[p] = (size_t)json_long(json_get(pr, "length"), 0);
            }
            test_record(host, (const uint8_t *)host, hl, p, pr, &rng);
        }
    }
    ok(jarm_probe_name(JARM_PROBES) == NULL && jarm_probe_name(UINT_MAX) == NULL,
       "jarm_probe_name out of range is NULL");
    {
        int good = jarm_probe_intent(JARM_PROBES) == NULL;
        for (unsigned p = 0; p < JARM_PROBES; p++)
            good = good && jarm_probe_intent(p) != NULL && *jarm_probe_intent(p) != '\0';
        ok(good, "jarm_probe_intent: a sentence for 0..9, NULL past the end");
    }

    /* The longest host: lengths and offsets shift by L - 11 from example.com. */
    {
        uint8_t host[JARM_HOST_MAX + 1], *buf = guard_tail(&out_guard, JARM_HELLO_MAX);
        size_t len = 0;
        int good = 1, ret;
        memset(host, 'h', sizeof(host));
        for (unsigned p = 0; p < JARM_PROBES; p++) {
            buf = guard_tail(&out_guard, JARM_HELLO_MAX);
            ret = build(p, host, JARM_HOST_MAX, zero_rand, NULL, buf, JARM_HELLO_MAX, &len);
            if (ret != 0 || len != ex_len[p] + JARM_HOST_MAX - 11) {
                note("probe %u: ret %d, length %zu, expected %zu", p + 1, ret, len,
                     ex_len[p] + JARM_HOST_MAX - 11);
                good = 0;
            }
        }
        ok(good && len == JARM_HELLO_MAX,
           "host of JARM_HOST_MAX bytes: every probe fits JARM_HELLO_MAX, probe 10 exactly");
        ok(build(0, host, JARM_HOST_MAX + 1, zero_rand, NULL, buf, JARM_HELLO_MAX, &len) ==
               JARM_EINVAL,
           "host of JARM_HOST_MAX + 1 bytes: JARM_EINVAL");
    }
}

/* The server_name extension inside a built record, found by walking the ClientHello. */
static int find_ext(const uint8_t *b, size_t n, unsigned type, size_t *at, size_t *len)
{
    size_t p = 43, end;

    if (p >= n)
        return -1;
    p += 1 + b[p]; /* session id */
    if (p + 2 > n)
        return -1;
    p += 2 + ((size_t)b[p] << 8 | b[p + 1]); /* cipher suites */
    if (p + 1 > n)
        return -1;
    p += 1 + b[p]; /* compression methods */
    if (p + 2 > n)
        return -1;
    end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
    p += 2;
    if (end != n)
        return -1;
    while (p + 4 <= end) {
        size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
        if (p + 4 + l > end)
            return -1;
        if (((unsigned)b[p] << 8 | b[p + 1]) == type) {
            *at = p;
            *len = 4 + l;
            return 0;
        }
        p += 4 + l;
    }
    return -1;
}

static void test_server_name(const json_t *root)
{
    const json_t *res = json_get(json_get(root, "server_name_extension_examples"), "results");

    ok(json_count(res) >= 4, "server_name_extension_examples: %zu examples", json_count(res));
    for (size_t i = 0; i < json_count(res); i++) {
        const json_t *ex = json_at(res, i);
        const char *host = json_str(json_get(ex, "host"));
        size_t hl = 0, el = 0, at = 0, len = 0, rl = 0;
        uint8_t *hb = json_hex(json_get(ex, "host_utf8_hex"), &hl);
        uint8_t *want = json_hex(json_get(ex, "extension_hex"), &el);
        uint8_t rec[JARM_HELLO_MAX], exp[4 + 5 + JARM_HOST_MAX];
        long pylen = json_long(json_get(ex, "python_len"), -1);
        int ret, good;

        if (host == NULL || hb == NULL || want == NULL || hl != json_get(ex, "host")->len ||
            memcmp(hb, host, hl) != 0 || hl > JARM_HOST_MAX) {
            ok(0, "server_name example %zu: host_utf8_hex is the UTF-8 of host", i);
            free(hb);
            free(want);
            continue;
        }
        ret = build(0, hb, hl, zero_rand, NULL, rec, sizeof(rec), &rl);
        good = ret == 0 && find_ext(rec, rl, 0x0000, &at, &len) == 0;
        if (pylen == (long)hl) {
            /* ASCII: the reference's character counts are byte counts. */
            ok(good && len == el && memcmp(rec + at, want, el) == 0,
               "server_name for \"%s\" equals the reference's", host);
        } else {
            /* Non-ASCII: we document byte lengths, the reference used character counts. */
            exp[0] = exp[1] = 0;
            exp[2] = (uint8_t)((hl + 5) >> 8);
            exp[3] = (uint8_t)(hl + 5);
            exp[4] = (uint8_t)((hl + 3) >> 8);
            exp[5] = (uint8_t)(hl + 3);
            exp[6] = 0;
            exp[7] = (uint8_t)(hl >> 8);
            exp[8] = (uint8_t)hl;
            memcpy(exp + 9, hb, hl);
            ok(good && len == 9 + hl && memcmp(rec + at, exp, len) == 0 && el == len &&
                   memcmp(rec + at + 9, want + 9, hl) == 0,
               "server_name for non-ASCII \"%s\": lengths are the %zu UTF-8 bytes (the "
               "reference says %ld characters), same host bytes",
               host, hl, pylen);
        }
        free(hb);
        free(want);
    }
}

static const struct {
    const char *name;
    unsigned order;
} orders[] = {
    {"FORWARD", FORWARD},         {"REVERSE", REVERSE},       {"TOP_HALF", TOP_HALF},
    {"BOTTOM_HALF", BOTTOM_HALF}, {"MIDDLE_OUT", MIDDLE_OUT},
};

static void test_transforms(const json_t *root)
{
    const json_t *res = json_get(json_get(root, "transform_examples"), "results");
    size_t total = 0;

    ok(json_count(res) == sizeof(orders) / sizeof(orders[0]), "transform_examples: %zu orders",
       json_count(res));
    for (size_t o = 0; o < json_count(res); o++) {
        const json_t *byn = &res->items[o];
        unsigned order = 99;

        for (size_t k = 0; k < sizeof(orders) / sizeof(orders[0]); k++)
            if (strcmp(res->keys[o], orders[k].name) == 0)
                order = orders[k].order;
        if (!ok(order != 99 && json_count(byn) > 0, "transform %s known", res->keys[o]))
            continue;
        for (size_t i = 0; i < json_count(byn); i++) {
            const json_t *want = &byn->items[i];
            size_t n = strtoul(byn->keys[i], NULL, 10), got, bad = 0;
            /* Exactly n slots, so writing past them is a heap overflow ASan reports. */
            size_t *idx = malloc((n ? n : 1) * sizeof(*idx));

            got = jarm__order_indices(order, n, idx);
            if (got != json_count(want))
                bad = 1;
            for (size_t k = 0; !bad && k < got; k++)
                bad = (long)idx[k] != json_long(json_at(want, k), -1);
            ok(!bad, "%s of %zu items: %zu indices", res->keys[o], n, got);
            free(idx);
            total++;
        }
    }
    ok(total >= 60, "%zu transform examples checked", total);
}

static void test_errors(void)
{
    uint8_t *buf, rec[JARM_HELLO_MAX];
    size_t len = 0, need = 0;
    int good = 1;

    ok(jarm_probe_build(JARM_PROBES, "a", 1, zero_rand, NULL, rec, sizeof(rec), &len) ==
           JARM_EINVAL,
       "probe 10 (the 11th): JARM_EINVAL");
    ok(jarm_probe_build(UINT_MAX, "a", 1, zero_rand, NULL, rec, sizeof(rec), &len) == JARM_EINVAL,
       "probe UINT_MAX: JARM_EINVAL");
    ok(jarm_probe_build(0, "a", 1, NULL, NULL, rec, sizeof(rec), &len) == JARM_EINVAL,
       "NULL random source: JARM_EINVAL");
    /* Every probe, every capacity short of the record: ENOBUFS, no write past cap. */
    for (unsigned p = 0; p < JARM_PROBES; p++) {
        if (jarm_probe_build(p, "example.com", 11, zero_rand, NULL, rec, sizeof(rec), &need))
            good = 0;
        for (size_t cap = 0; good && cap < need; cap++) {
            buf = guard_tail(&out_guard, cap);
            if (build(p, (const uint8_t *)"example.com", 11, zero_rand, NULL, buf, cap, &len) !=
                JARM_ENOBUFS) {
                note("probe %u cap %zu: not ENOBUFS", p + 1, cap);
                good = 0;
            }
        }
        buf = guard_tail(&out_guard, need);
        if (good &&
            (build(p, (const uint8_t *)"example.com", 11, zero_rand, NULL, buf, need, &len) != 0 ||
             len != need))
            good = 0;
    }
    ok(good, "every capacity below the record length gives JARM_ENOBUFS and writes nothing "
             "past it; the exact length succeeds");
}

int main(int argc, char **argv)
{
    json_t *root = json_load_vector(argc, argv, "probes.json");

    if (root == NULL)
        return 1;
    if (guard_init(&host_guard, JARM_HOST_MAX + 1) != 0 ||
        guard_init(&out_guard, JARM_HELLO_MAX) != 0) {
        printf("Bail out! mmap failed\n");
        return 1;
    }
    test_targets(root);
    test_transforms(root);
    test_server_name(root);
    test_errors();
    guard_free(&host_guard);
    guard_free(&out_guard);
    json_free(root);
    return done_testing();
}
