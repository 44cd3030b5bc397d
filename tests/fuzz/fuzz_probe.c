/*
 * fuzz_probe.c - build all ten probes for a fuzzed host name and randomness, then re-parse.
 *
 * Input layout: byte 0 is the host length (0..255 = JARM_HOST_MAX, clipped to what
 * follows), then the host bytes (any bytes: the library copies the name verbatim), then
 * the random stream, which the jarm_rand_fn hands out cyclically (all zeros if empty).
 *
 * Each ClientHello is decoded by the small independent decoder below, which checks the
 * record header, the handshake length, every nested length field against its container
 * (cipher suites, extensions block, each extension, server_name list and name, ALPN list
 * and protocols, signature_algorithms, key_share list and entries, supported_versions,
 * psk modes), the per-probe versions, GREASE placement and extension order of jarm(7),
 * that server_name equals the host, and that every random field and GREASE value holds
 * exactly the bytes drawn from the random source, in the order they appear in the record.
 * It also checks JARM_ENOBUFS for a buffer one byte short (exact-size heap buffer, so a
 * write past it is caught), the length reported with a NULL buffer, and JARM_EINVAL for a
 * host of JARM_HOST_MAX + 1 bytes or probe 10. Any violation aborts.
 */
#include <string.h>

#include "fuzz.h"
#include "jarm.h"

/* ---- the random source, with a log of what it handed out ---- */

#define DRAWS_MAX 16

struct rnd {
    const uint8_t *src;
    size_t n, pos;
    size_t ndraws;
    size_t draw_len[DRAWS_MAX];
    uint8_t draw[DRAWS_MAX][32];
};

static void rnd_fill(void *ctx, uint8_t *buf, size_t len)
{
    struct rnd *r = ctx;
    FUZZ_CHECK(len >= 1 && len <= 32 && r->ndraws < DRAWS_MAX);
    for (size_t i = 0; i < len; i++) {
        buf[i] = r->n ? r->src[r->pos] : 0;
        if (r->n)
            r->pos = (r->pos + 1) % r->n;
    }
    r->draw_len[r->ndraws] = len;
    memcpy(r->draw[r->ndraws], buf, len);
    r->ndraws++;
}

/* ---- the decoder ---- */

struct cur {
    const uint8_t *p;
    size_t end, at;
};

static size_t rd(struct cur *c, unsigned bytes)
{
    size_t v = 0;
    FUZZ_CHECK(c->at <= c->end && bytes <= c->end - c->at);
    while (bytes--)
        v = v << 8 | c->p[c->at++];
    return v;
}

static const uint8_t *take(struct cur *c, size_t n)
{
    const uint8_t *q = c->p + c->at;
    FUZZ_CHECK(c->at <= c->end && n <= c->end - c->at);
    c->at += n;
    return q;
}

/* A sub-cursor over the next n bytes of c, which c then skips. */
static struct cur sub(struct cur *c, size_t n)
{
    struct cur s = {c->p, 0, c->at};
    take(c, n);
    s.end = c->at;
    return s;
}

static int is_grease(size_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* The random fields in record order: 32-byte values and GREASE values. */
struct seen {
    size_t n;
    size_t len[DRAWS_MAX];
    const uint8_t *bytes[DRAWS_MAX]; /* for 32-byte fields */
    size_t grease[DRAWS_MAX];        /* for GREASE fields (len 1) */
};

static void seen_bytes(struct seen *s, const uint8_t *b)
{
    FUZZ_CHECK(s->n < DRAWS_MAX);
    s->len[s->n] = 32;
    s->bytes[s->n++] = b;
}

static void seen_grease(struct seen *s, size_t v)
{
    FUZZ_CHECK(s->n < DRAWS_MAX && is_grease(v));
    s->len[s->n] = 1;
    s->grease[s->n++] = v;
}

/* The probe parameters of jarm(7), per probe. */
static const struct {
    uint8_t rv, cv, grease, sv, alpn_count;
    unsigned ciphers; /* without GREASE */
} expect[JARM_PROBES] = {
    {0x03, 0x03, 0, 3, 9, 69}, {0x03, 0x03, 0, 3, 9, 69}, {0x03, 0x03, 0, 0, 9, 35},
    {0x03, 0x03, 0, 0, 7, 34}, {0x03, 0x03, 1, 0, 7, 69}, {0x02, 0x02, 0, 0, 9, 69},
    {0x01, 0x03, 0, 4, 9, 69}, {0x01, 0x03, 0, 4, 9, 69}, {0x01, 0x03, 0, 4, 9, 64},
    {0x01, 0x03, 1, 4, 9, 69},
};

static const uint16_t ext_order[] = {0x0000, 0x0017, 0x0001, 0xff01, 0x000a, 0x000b,
                                     0x0023, 0x0010, 0x000d, 0x0033, 0x002d, 0x002b};

static void decode(unsigned probe, const uint8_t *rec, size_t len, const uint8_t *host,
                   size_t host_len, const struct rnd *r)
{
    struct cur c = {rec, len, 0}, hs, cs, exts;
    struct seen s = {0};
    size_t nciph = 0, next_ext = 0, v, v2;
    uint16_t ciph[80];

    FUZZ_CHECK(len <= JARM_HELLO_MAX);
    /* Record and handshake headers. */
    FUZZ_CHECK(rd(&c, 1) == 0x16);
    FUZZ_CHECK(rd(&c, 1) == 0x03);
    FUZZ_CHECK(rd(&c, 1) == expect[probe].rv);
    FUZZ_CHECK(rd(&c, 2) == len - 5);
    FUZZ_CHECK(rd(&c, 1) == 0x01);
    FUZZ_CHECK(rd(&c, 3) == len - 9);
    hs = sub(&c, len - 9);
    FUZZ_CHECK(c.at == len);
    FUZZ_CHECK(rd(&hs, 1) == 0x03);
    FUZZ_CHECK(rd(&hs, 1) == expect[probe].cv);
    seen_bytes(&s, take(&hs, 32));
    FUZZ_CHECK(rd(&hs, 1) == 32);
    seen_bytes(&s, take(&hs, 32));

    /* Cipher suites. */
    v = rd(&hs, 2);
    FUZZ_CHECK(v % 2 == 0 && v / 2 == expect[probe].ciphers + expect[probe].grease);
    cs = sub(&hs, v);
    if (expect[probe].grease)
        seen_grease(&s, rd(&cs, 2)); /* GREASE goes in front of the ordered list */
    while (cs.at < cs.end) {
        v = rd(&cs, 2);
        FUZZ_CHECK(!is_grease(v));
        FUZZ_CHECK(probe != 8 || (v >> 8) != 0x13); /* tls1_3_invalid: no TLS 1.3 suites */
        for (size_t i = 0; i < nciph; i++)
            FUZZ_CHECK(ciph[i] != v);
        FUZZ_CHECK(nciph < sizeof(ciph) / sizeof(ciph[0]));
        ciph[nciph++] = (uint16_t)v;
    }
    FUZZ_CHECK(rd(&hs, 1) == 1); /* compression: null only */
    FUZZ_CHECK(rd(&hs, 1) == 0);

    /* Extensions: the block fills the rest of the handshake exactly. */
    v = rd(&hs, 2);
    FUZZ_CHECK(v == hs.end - hs.at);
    exts = sub(&hs, v);
    FUZZ_CHECK(hs.at == hs.end);
    if (expect[probe].grease) {
        seen_grease(&s, rd(&exts, 2));
        FUZZ_CHECK(rd(&exts, 2) == 0);
    }
    while (exts.at < exts.end) {
        size_t type = rd(&exts, 2), elen = rd(&exts, 2), n;
        struct cur e = sub(&exts, elen), l;

        FUZZ_CHECK(next_ext < sizeof(ext_order) / sizeof(ext_order[0]));
        FUZZ_CHECK(type == ext_order[next_ext]);
        next_ext++;
        switch (type) {
        case 0x0000: /* server_name: list, one host_name entry, equal to the host */
            FUZZ_CHECK(rd(&e, 2) == elen - 2);
            FUZZ_CHECK(rd(&e, 1) == 0x00);
            FUZZ_CHECK(rd(&e, 2) == host_len && elen == host_len + 5);
            FUZZ_CHECK(host_len == 0 || memcmp(take(&e, host_len), host, host_len) == 0);
            break;
        case 0x0010: /* ALPN: list of non-empty protocol names */
            l = sub(&e, rd(&e, 2));
            for (n = 0; l.at < l.end; n++)
                FUZZ_CHECK((v = rd(&l, 1)) > 0 && take(&l, v) != NULL);
            FUZZ_CHECK(n == expect[probe].alpn_count);
            break;
        case 0x000d: /* signature_algorithms */
        case 0x000a: /* supported_groups */
            v = rd(&e, 2);
            FUZZ_CHECK(v == elen - 2 && v % 2 == 0 && v > 0);
            take(&e, v);
            break;
        case 0x000b: /* ec_point_formats */
        case 0x002d: /* psk_key_exchange_modes */
            FUZZ_CHECK(rd(&e, 1) == elen - 1 && elen >= 2);
            take(&e, elen - 1);
            break;
        case 0x0033: /* key_share: [GREASE, 1 byte 00] then x25519 with a 32-byte key */
            l = sub(&e, rd(&e, 2));
            if (expect[probe].grease) {
                seen_grease(&s, rd(&l, 2));
                FUZZ_CHECK(rd(&l, 2) == 1);
                FUZZ_CHECK(rd(&l, 1) == 0);
            }
            FUZZ_CHECK(rd(&l, 2) == 0x001d);
            FUZZ_CHECK(rd(&l, 2) == 32);
            seen_bytes(&s, take(&l, 32));
            FUZZ_CHECK(l.at == l.end);
            break;
        case 0x002b: /* supported_versions: [GREASE] then 3 or 4 versions 0301..0304 */
            v = rd(&e, 1);
            FUZZ_CHECK(v == elen - 1 && v % 2 == 0);
            FUZZ_CHECK(v / 2 == (size_t)expect[probe].sv + expect[probe].grease);
            if (expect[probe].grease)
                seen_grease(&s, rd(&e, 2));
            while (e.at < e.end) {
                v2 = rd(&e, 2);
                FUZZ_CHECK(v2 >= 0x0301 && v2 <= 0x0304);
            }
            break;
        default: /* extended_master_secret, max_fragment_length, renegotiation_info, ticket */
            take(&e, elen);
            break;
        }
        FUZZ_CHECK(e.at == e.end);
    }
    FUZZ_CHECK(next_ext == sizeof(ext_order) / sizeof(ext_order[0]) - (expect[probe].sv == 0));

    /* The random fields hold the draws, in record order. */
    FUZZ_CHECK(s.n == r->ndraws);
    for (size_t i = 0; i < s.n; i++) {
        FUZZ_CHECK(s.len[i] == r->draw_len[i]);
        if (s.len[i] == 32) {
            FUZZ_CHECK(memcmp(s.bytes[i], r->draw[i], 32) == 0);
        } else {
            uint8_t b = (uint8_t)(((r->draw[i][0] & 0x0f) << 4) | 0x0a);
            FUZZ_CHECK(s.grease[i] == ((size_t)b << 8 | b));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t big_host[JARM_HOST_MAX + 1];
    uint8_t buf[JARM_HELLO_MAX], again[JARM_HELLO_MAX], *exact;
    const uint8_t *host;
    size_t host_len, len, len2;
    struct rnd r;

    if (size == 0)
        return 0;
    host_len = data[0];
    if (host_len > size - 1)
        host_len = size - 1;
    host = data + 1;
    r.src = host + host_len;
    r.n = size - 1 - host_len;
    r.pos = 0;

    FUZZ_CHECK(jarm_probe_build(JARM_PROBES, (const char *)host, host_len, rnd_fill, &r, buf,
                                sizeof(buf), &len) == JARM_EINVAL);
    FUZZ_CHECK(jarm_probe_build(0, (const char *)big_host, sizeof(big_host), rnd_fill, &r, buf,
                                sizeof(buf), &len) == JARM_EINVAL);

    for (unsigned p = 0; p < JARM_PROBES; p++) {
        size_t pos = r.pos;

        FUZZ_CHECK(jarm_probe_name(p) != NULL && jarm_probe_intent(p) != NULL);
        r.ndraws = 0;
        FUZZ_CHECK(jarm_probe_build(p, (const char *)host, host_len, rnd_fill, &r, buf, sizeof(buf),
                                    &len) == 0);
        decode(p, buf, len, host, host_len, &r);

        /* Same randomness, same bytes; short and absent buffers report the length. */
        r.pos = pos;
        r.ndraws = 0;
        exact = malloc(len - 1);
        FUZZ_CHECK(exact != NULL);
        FUZZ_CHECK(jarm_probe_build(p, (const char *)host, host_len, rnd_fill, &r, exact, len - 1,
                                    &len2) == JARM_ENOBUFS &&
                   len2 == len);
        free(exact);
        r.pos = pos;
        r.ndraws = 0;
        FUZZ_CHECK(jarm_probe_build(p, (const char *)host, host_len, rnd_fill, &r, NULL, 0,
                                    &len2) == JARM_ENOBUFS &&
                   len2 == len);
        r.pos = pos;
        r.ndraws = 0;
        FUZZ_CHECK(jarm_probe_build(p, (const char *)host, host_len, rnd_fill, &r, again,
                                    sizeof(again), &len2) == 0);
        FUZZ_CHECK(len2 == len && memcmp(buf, again, len) == 0);
    }
    return 0;
}
