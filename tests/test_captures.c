/*
 * test_captures.c - end-to-end against vectors/captures.json: real traffic between the
 * reference and loopback servers.
 *
 * For each capture:
 *   - every probe's received bytes (flush against a guard page) parse, with final=1, to the
 *     reference's `parsed` string; fed byte by byte with final=0, as the scanner reads, the
 *     parser decides on the same string no later than the end of the bytes;
 *   - a probe without received bytes is a timeout (socket event "recv:TimeoutError": the
 *     whole target becomes JARM_RAW_EMPTY, jarm(7)) or a connection error ("|||");
 *   - the probe strings joined with jarm_raw_join give `raw`, and its hash `fingerprint`;
 *   - each ClientHello the reference sent equals our jarm_probe_build output for the same host:
 *     (a) outside the random and GREASE offsets, which are taken from probes.json for a
 *     target of the same host length (offsets depend only on the length), with
 *     valid GREASE values in the capture; and (b) byte for byte, with a random source that
 *     replays the capture's random bytes and GREASE choices.
 */
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "jarm.h"
#include "json.h"
#include "tap.h"

#define MAX_FIELDS 8

struct field {
    size_t off, len;
};

static guard_t in_guard;

static void zero_rand(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
}

/* Replays a captured record's random fields (32-byte draws) and GREASE fields (1-byte). */
struct replay {
    const uint8_t *rec;
    struct field rnd[MAX_FIELDS], gr[MAX_FIELDS];
    int nrnd, ngr, irnd, igr, bad;
};

static void replay_fill(void *ctx, uint8_t *buf, size_t len)
{
    struct replay *rp = ctx;

    if (len == 1 && rp->igr < rp->ngr) {
        /* The low 4 bits choose the GREASE value: xa xa comes from x. */
        buf[0] = rp->rec[rp->gr[rp->igr++].off] >> 4;
    } else if (rp->irnd < rp->nrnd && rp->rnd[rp->irnd].len == len) {
        memcpy(buf, rp->rec + rp->rnd[rp->irnd++].off, len);
    } else {
        rp->bad = 1;
        memset(buf, 0, len);
    }
}

static int cmp_field(const void *a, const void *b)
{
    const struct field *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Read a random_fields/grease_fields array sorted by offset; the count, or -1. */
static int get_fields(const json_t *arr, size_t rec_len, struct field *out)
{
    size_t n = json_count(arr);

    if (n > MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long off = json_long(json_get(json_at(arr, i), "offset"), -1);
        long len = json_long(json_get(json_at(arr, i), "length"), -1);
        if (off < 0 || len <= 0 || (size_t)off + (size_t)len > rec_len)
            return -1;
        out[i].off = (size_t)off;
        out[i].len = (size_t)len;
    }
    qsort(out, n, sizeof(*out), cmp_field);
    return (int)n;
}

/* The probes.json entry of probe p for a target whose host has host_len bytes. */
static const json_t *model_probe(const json_t *probes_json, size_t host_len, unsigned p)
{
    const json_t *targets = json_get(probes_json, "targets");

    for (size_t t = 0; t < json_count(targets); t++) {
        const json_t *h = json_get(json_at(targets, t), "host");
        if (json_is_str(h) && h->len == host_len)
            return json_at(json_get(json_at(targets, t), "probes"), p);
    }
    return NULL;
}

static void check_client_hello(const char *cname, const char *host, unsigned p,
                               const json_t *sent_hex, const json_t *model)
{
    uint8_t ours[JARM_HELLO_MAX], mask[JARM_HELLO_MAX] = {0};
    size_t n = 0, ol = 0, hl = strlen(host);
    uint8_t *sent = json_hex(sent_hex, &n);
    struct replay rp;
    int good;

    memset(&rp, 0, sizeof(rp));
    rp.rec = sent;
    if (sent == NULL || model == NULL || n > JARM_HELLO_MAX ||
        (rp.nrnd = get_fields(json_get(model, "random_fields"), n, rp.rnd)) < 3 ||
        (rp.ngr = get_fields(json_get(model, "grease_fields"), n, rp.gr)) < 0) {
        ok(0, "%s probe %u: ClientHello and model offsets readable", cname, p + 1);
        free(sent);
        return;
    }

    /* (a) Our zero-random record equals the capture outside the random and GREASE bytes. */
    good = jarm_probe_build(p, host, hl, zero_rand, NULL, ours, sizeof(ours), &ol) == 0 && ol == n;
    for (int i = 0; i < rp.nrnd; i++)
        memset(mask + rp.rnd[i].off, 1, rp.rnd[i].len);
    for (int i = 0; i < rp.ngr; i++) {
        const uint8_t *g = sent + rp.gr[i].off;
        memset(mask + rp.gr[i].off, 1, rp.gr[i].len);
        good = good && rp.gr[i].len == 2 && g[0] == g[1] && (g[0] & 0x0f) == 0x0a;
    }
    for (size_t i = 0; good && i < n; i++)
        good = mask[i] || ours[i] == sent[i];
    ok(good,
       "%s probe %u: sent ClientHello (%zu bytes) equals ours outside %d random and %d "
       "GREASE fields",
       cname, p + 1, n, rp.nrnd, rp.ngr);

    /* (b) Replaying the capture's randomness gives the capture exactly. */
    good = jarm_probe_build(p, host, hl, replay_fill, &rp, ours, sizeof(ours), &ol) == 0 &&
           !rp.bad && rp.irnd == rp.nrnd && rp.igr == rp.ngr && ol == n &&
           memcmp(ours, sent, n) == 0;
    ok(good, "%s probe %u: built with the capture's random bytes, equals it byte for byte", cname,
       p + 1);
    free(sent);
}

/* One probe's reply: final=1, and byte by byte as the scanner reads. */
static int check_reply(const char *cname, unsigned p, const uint8_t *rx, size_t n,
                       const json_t *parsed, char *out, size_t *out_len)
{
    jarm_reply_t r = {JARM_REPLY_NONE, 0};
    const uint8_t *g = guard_place(&in_guard, rx, n);
    size_t k = 0;
    int ret = jarm_reply_parse(g, n, 1, &r, out, JARM_PROBE_STR_MAX), good;

    good = ret == 0 && json_is_str(parsed) && r.len == parsed->len &&
           memcmp(out, parsed->str, r.len) == 0;
    if (!ok(good, "%s probe %u: %zu bytes parse to \"%s\"", cname, p + 1, n,
            json_is_str(parsed) ? parsed->str : "?"))
        note("got ret %d, \"%.*s\"", ret, ret == 0 ? (int)r.len : 0, out);
    *out_len = ret == 0 ? r.len : 0;
    if (n == 0)
        return good;

    for (;;) {
        char tmp[JARM_PROBE_STR_MAX];
        g = guard_place(&in_guard, rx, k);
        ret = jarm_reply_parse(g, k, 0, &r, tmp, sizeof(tmp));
        if (ret != JARM_EAGAIN || k == n) {
            if (ret == JARM_EAGAIN) /* EOF after all the bytes */
                ret = jarm_reply_parse(g, k, 1, &r, tmp, sizeof(tmp));
            ok(ret == 0 && r.len == *out_len && memcmp(tmp, out, r.len) == 0,
               "%s probe %u: the incremental reader decides the same after %zu of %zu bytes", cname,
               p + 1, k, n);
            return good;
        }
        k++;
    }
}

static int has_timeout(const json_t *events)
{
    for (size_t i = 0; i < json_count(events); i++) {
        const char *e = json_str(json_at(events, i));
        if (e != NULL && strstr(e, "TimeoutError") != NULL)
            return 1;
    }
    return 0;
}

static void test_capture(const json_t *cap, const json_t *probes_json)
{
    static char strs[JARM_PROBES][JARM_PROBE_STR_MAX];
    const char *cname = json_str(json_get(cap, "name"));
    const char *host = json_str(json_get(json_get(cap, "target"), "host"));
    const json_t *probes = json_get(cap, "probes"), *raw = json_get(cap, "raw");
    const char *fp = json_str(json_get(cap, "fingerprint"));
    const char *ptr[JARM_PROBES];
    size_t lens[JARM_PROBES] = {0}, got_len = 0, fp_len = 0;
    char got[16384], fpo[256];
    int timed_out = 0;

    if (cname == NULL || host == NULL || !json_is_str(raw) || fp == NULL ||
        json_count(probes) == 0 || json_count(probes) > JARM_PROBES) {
        ok(0, "capture readable");
        return;
    }
    for (unsigned p = 0; p < json_count(probes); p++) {
        const json_t *pr = json_at(probes, p), *rx_hex = json_get(pr, "received_hex");
        const json_t *parsed = json_get(pr, "parsed");

        if (json_long(json_get(pr, "index"), -1) != (long)p + 1)
            ok(0, "%s probe %u: index", cname, p + 1);
        check_client_hello(cname, host, p, json_get(pr, "client_hello_sent_hex"),
                           model_probe(probes_json, strlen(host), p));
        ptr[p] = strs[p];
        if (json_is_null(rx_hex)) {
            if (has_timeout(json_get(pr, "socket_events"))) {
                /* Nothing received before the timeout; the scan of the target stops. */
                ok(json_is_null(parsed) && p + 1 == json_count(probes),
                   "%s probe %u: receive timeout, no result, no further probes", cname, p + 1);
                timed_out = 1;
            } else {
                /* A connection error: the reference parsed None, i.e. zero bytes. */
                check_reply(cname, p, NULL, 0, parsed, strs[p], &lens[p]);
            }
        } else {
            size_t n = 0;
            uint8_t *rx = json_hex(rx_hex, &n);
            if (rx == NULL || (long)n != json_long(json_get(pr, "received_length"), -1))
                ok(0, "%s probe %u: received_hex readable", cname, p + 1);
            else
                check_reply(cname, p, rx, n, parsed, strs[p], &lens[p]);
            free(rx);
        }
    }

    if (timed_out) {
        got_len = strlen(JARM_RAW_EMPTY);
        memcpy(got, JARM_RAW_EMPTY, got_len + 1);
    } else if (!ok(json_count(probes) == JARM_PROBES &&
                       jarm_raw_join(ptr, lens, got, sizeof(got), &got_len) == 0,
                   "%s: ten probe strings joined", cname)) {
        return;
    }
    ok(got_len == raw->len && memcmp(got, raw->str, got_len) == 0, "%s: raw %s%s", cname, raw->str,
       timed_out ? " (timeout)" : "");
    ok(jarm_fuzzy_hash(got, got_len, fpo, sizeof(fpo), &fp_len) == 0 && strcmp(fpo, fp) == 0,
       "%s: fingerprint %s", cname, fp);
}

int main(int argc, char **argv)
{
    json_t *caps = json_load_vector(argc, argv, "captures.json");
    json_t *probes = json_load_vector(argc, argv, "probes.json");
    const json_t *list = json_get(caps, "captures");

    if (caps == NULL || probes == NULL) {
        json_free(caps);
        json_free(probes);
        return 1;
    }
    if (guard_init(&in_guard, JARM_RX_MAX) != 0) {
        printf("Bail out! mmap failed\n");
        return 1;
    }
    ok(json_count(list) == 8, "captures.json has 8 captures");
    for (size_t i = 0; i < json_count(list); i++)
        test_capture(json_at(list, i), probes);
    guard_free(&in_guard);
    json_free(caps);
    json_free(probes);
    return done_testing();
}
