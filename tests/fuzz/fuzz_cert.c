/*
 * fuzz_cert.c - the certificate reader (jarm__cert_feed) and the X.509 summary on
 * arbitrary server streams.
 *
 * The input is the byte stream a server sent on one connection. Properties checked:
 *   1. Incrementality: the stream fed at once, byte by byte, and in chunks of pseudo-random
 *      sizes (from a generator seeded by the input) gives the same status, the same number
 *      of bytes consumed and the same certificates. Feeding after a final status changes
 *      nothing; jarm__cert_finish turns only "more" into "truncated". Every chunk is copied
 *      into an exact-size heap buffer, so a read past it is an out-of-bounds read.
 *   2. Bounds: at most max bytes are consumed and the message buffer never exceeds max,
 *      with the default max and with a max of 1..512 taken from the input's length. With a
 *      smaller max an answer is the same or "too_big"; a certificate or TLS 1.3 found after
 *      P bytes is the same with max = P and "too_big" with max = P - 1.
 *   3. Certificates: each DER lies inside the message buffer; jarm__x509_summary never crashes, and
 *      on success its JSON object is printable ASCII, fits an exact buffer and gives
 *      JARM_ENOBUFS (without writing past it) one byte short. The whole input is also
 *      summarised as one DER certificate.
 * Any violation aborts.
 */
#include <string.h>

#include "cert.h"
#include "fuzz.h"
#include "jarm.h"

struct run {
    jarm__cert_status_t status;
    size_t pos, ncerts;
};

/* xorshift64*, seeded from the input, for chunk sizes. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Feed data in chunks: step 0 = all at once, 1 = byte by byte, else pseudo-random sizes. */
static struct run feed(jarm__cert_parser_t *p, size_t max, const uint8_t *data, size_t size,
                       int step, uint64_t seed)
{
    struct run r;
    size_t at = 0;

    jarm__cert_init(p, max);
    while (at < size) {
        size_t n = size - at;
        uint8_t *chunk;
        jarm__cert_status_t before = p->status;
        size_t pos_before = p->pos;

        if (step == 1)
            n = 1;
        else if (step > 1) {
            uint64_t v = next_rand(&seed);
            size_t want = (v & 3) == 0 ? (size_t)(v >> 8) % 4096 + 1 : (size_t)(v >> 8) % 8 + 1;
            if (want < n)
                n = want;
        }
        chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + at, n);
        r.status = jarm__cert_feed(p, chunk, n);
        free(chunk);
        FUZZ_CHECK(p->pos <= p->max && p->cap <= p->max);
        if (before != JARM__CERT_MORE) /* final stays final, nothing more consumed */
            FUZZ_CHECK(r.status == before && p->pos == pos_before);
        else if (r.status == JARM__CERT_MORE) /* undecided: everything consumed */
            FUZZ_CHECK(p->pos == pos_before + n);
        at += n;
    }
    r.status = p->status;
    if (r.status == JARM__CERT_MORE)
        FUZZ_CHECK(p->pos == size);
    r.pos = p->pos;
    r.ncerts = jarm__cert_count(p);
    return r;
}

/* A status decided by the last byte of a complete handshake message. */
static int final_at_end(jarm__cert_status_t s)
{
    return s == JARM__CERT_FOUND || s == JARM__CERT_TLS13;
}

static void same(const struct run *a, const jarm__cert_parser_t *pa, const struct run *b,
                 const jarm__cert_parser_t *pb)
{
    FUZZ_CHECK(a->status == b->status && a->pos == b->pos && a->ncerts == b->ncerts);
    for (size_t i = 0; i < a->ncerts; i++) {
        const uint8_t *da, *db;
        size_t la, lb;
        FUZZ_CHECK(jarm__cert_der(pa, i, &da, &la) == 0 && jarm__cert_der(pb, i, &db, &lb) == 0);
        FUZZ_CHECK(la == lb && memcmp(da, db, la) == 0);
    }
}

static void summarise(const uint8_t *der, size_t len, size_t chain_len)
{
    jarm__x509_t x;
    size_t need, again;
    char *out;

    if (jarm__x509_summary(der, len, &x) != 0)
        return;
    x.chain_len = chain_len;
    FUZZ_CHECK(strlen(x.sha256) == 64 && strlen(x.sha1) == 40);
    FUZZ_CHECK(jarm__x509_json(&x, NULL, 0, &need) == JARM_ENOBUFS && need > 0);
    out = malloc(need);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(jarm__x509_json(&x, out, need, &again) == JARM_ENOBUFS && again == need);
    free(out);
    out = malloc(need + 1);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(jarm__x509_json(&x, out, need + 1, &again) == 0 && again == need);
    FUZZ_CHECK(out[need] == '\0' && out[0] == '{' && out[need - 1] == '}');
    for (size_t i = 0; i < need; i++)
        FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
    free(out);
    jarm__x509_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jarm__cert_parser_t a, b, c;
    struct run ra, rb, rc;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
    size_t small = size % 512 + 1;

    for (size_t i = 0; i < size && i < 64; i++)
        seed = (seed ^ data[i]) * 0x100000001b3ull;
    if (seed == 0)
        seed = 1;

    /* 1. The same answer whatever the cut. */
    ra = feed(&a, 0, data, size, 0, seed);
    rb = feed(&b, 0, data, size, 1, seed);
    same(&ra, &a, &rb, &b);
    jarm__cert_free(&b);
    rc = feed(&c, 0, data, size, 2, seed);
    same(&ra, &a, &rc, &c);
    if (rc.status != JARM__CERT_MORE)
        FUZZ_CHECK(jarm__cert_feed(&c, data, size) == rc.status && c.pos == rc.pos);
    FUZZ_CHECK(jarm__cert_finish(&c) ==
               (rc.status == JARM__CERT_MORE ? JARM__CERT_TRUNCATED : rc.status));
    FUZZ_CHECK(jarm__cert_finish(&c) == c.status && jarm__cert_count(&c) == rc.ncerts);
    jarm__cert_free(&c);

    /* 2. Bounds with a small max, and the decision needs only the bytes it consumed: with
     * a smaller max a lying length may be caught as too_big first, but a decision taken at
     * the end of a message (found, tls13) is the same with max = P, and too_big below. */
    rb = feed(&b, small, data, size, 2, seed);
    FUZZ_CHECK(rb.pos <= small);
    if (final_at_end(ra.status) && ra.pos <= small)
        same(&ra, &a, &rb, &b);
    else if (ra.status != JARM__CERT_MORE && ra.pos <= small)
        FUZZ_CHECK(rb.status == JARM__CERT_TOO_BIG || (rb.status == ra.status && rb.pos == ra.pos));
    jarm__cert_free(&b);
    if (final_at_end(ra.status)) {
        rb = feed(&b, ra.pos, data, size, 1, seed);
        same(&ra, &a, &rb, &b);
        jarm__cert_free(&b);
        if (ra.pos > 1) {
            rb = feed(&b, ra.pos - 1, data, size, 0, seed);
            FUZZ_CHECK(rb.status == JARM__CERT_TOO_BIG);
            jarm__cert_free(&b);
        }
    }

    /* 3. The certificates, and the whole input as one. */
    for (size_t i = 0; i < ra.ncerts; i++) {
        const uint8_t *der;
        size_t len;
        FUZZ_CHECK(jarm__cert_der(&a, i, &der, &len) == 0);
        FUZZ_CHECK(len > 0 && der >= a.buf && der + len <= a.buf + a.msg_len);
        if (i < 4)
            summarise(der, len, ra.ncerts);
    }
    FUZZ_CHECK(jarm__cert_der(&a, ra.ncerts, &(const uint8_t *){NULL}, &(size_t){0}) ==
               JARM_EINVAL);
    jarm__cert_free(&a);
    summarise(data, size, 1);
    return 0;
}
