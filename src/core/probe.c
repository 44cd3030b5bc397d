/*
 * probe.c - the ten JARM ClientHellos, byte for byte as the reference builds them.
 *
 * Each probe is described by one row of `probes[]` (jarm(7), THE PROBES). The record is
 * written front to back by a bounded writer; every length field is back-filled when its block
 * closes, so no length is computed by hand. Quirks of the reference the table encodes:
 *   - probe 6 ("tls1_1_middle_out") sends its ciphers in FORWARD order;
 *   - the "extension order" only reorders the ALPN list and the supported_versions list;
 *   - GREASE is put in front of the cipher list after the order transform;
 *   - TLS 1.3 probes use record version 0301 and client_version 0303;
 *   - key_share and psk_key_exchange_modes are sent in every probe;
 *   - the host goes into server_name verbatim, IP literals included.
 * Random bytes are drawn from the caller's source in the order they appear in the record.
 */
#include <string.h>

#include "internal.h"
#include "jarm.h"
#include "probe.h"

enum cipher_list { ALL, NO13 };
enum alpn_set { ALPN_NORMAL, ALPN_RARE };
enum sv_mode { SV_NONE, SV_12, SV_13 };

struct probe_spec {
    const char *name;
    const char *intent;
    uint8_t rv; /* low byte of the record version, 03 xx */
    uint8_t cv; /* low byte of client_version, 03 xx */
    uint8_t ciphers;
    uint8_t cipher_order;
    uint8_t grease;
    uint8_t alpn;
    uint8_t sv;
    uint8_t ext_reverse; /* the reference's extension order: REVERSE reorders ALPN and sv */
};

/* The ten probes. The supported_versions column already folds in "present when TLS 1.3". */
static const struct probe_spec probes[JARM_PROBES] = {
    {"tls1_2_forward", "TLS 1.2, all ciphers in order, TLS 1.2 supported_versions", 0x03, 0x03, ALL,
     FORWARD, 0, ALPN_NORMAL, SV_12, 1},
    {"tls1_2_reverse", "TLS 1.2, all ciphers reversed, TLS 1.2 supported_versions", 0x03, 0x03, ALL,
     REVERSE, 0, ALPN_NORMAL, SV_12, 0},
    {"tls1_2_top_half", "TLS 1.2, first half of the ciphers reversed, no supported_versions", 0x03,
     0x03, ALL, TOP_HALF, 0, ALPN_NORMAL, SV_NONE, 0},
    {"tls1_2_bottom_half", "TLS 1.2, second half of the ciphers, rare ALPN protocols", 0x03, 0x03,
     ALL, BOTTOM_HALF, 0, ALPN_RARE, SV_NONE, 0},
    {"tls1_2_middle_out", "TLS 1.2, ciphers middle-out with GREASE, rare ALPN reversed", 0x03, 0x03,
     ALL, MIDDLE_OUT, 1, ALPN_RARE, SV_NONE, 1},
    {"tls1_1_middle_out", "TLS 1.1 only, all ciphers in order (despite the name)", 0x02, 0x02, ALL,
     FORWARD, 0, ALPN_NORMAL, SV_NONE, 0},
    {"tls1_3_forward", "TLS 1.3, all ciphers in order, versions 1.3 down to 1.0", 0x01, 0x03, ALL,
     FORWARD, 0, ALPN_NORMAL, SV_13, 1},
    {"tls1_3_reverse", "TLS 1.3, all ciphers reversed, versions 1.0 up to 1.3", 0x01, 0x03, ALL,
     REVERSE, 0, ALPN_NORMAL, SV_13, 0},
    {"tls1_3_invalid", "TLS 1.3 offered but no TLS 1.3 cipher suites", 0x01, 0x03, NO13, FORWARD, 0,
     ALPN_NORMAL, SV_13, 0},
    {"tls1_3_middle_out", "TLS 1.3, ciphers middle-out, GREASE everywhere incl. key_share", 0x01,
     0x03, ALL, MIDDLE_OUT, 1, ALPN_NORMAL, SV_13, 1},
};

/* The ALL cipher list in the reference's base order. */
static const uint16_t ciphers_all[] = {
    0x0016, 0x0033, 0x0067, 0xc09e, 0xc0a2, 0x009e, 0x0039, 0x006b, 0xc09f, 0xc0a3, 0x009f, 0x0045,
    0x00be, 0x0088, 0x00c4, 0x009a, 0xc008, 0xc009, 0xc023, 0xc0ac, 0xc0ae, 0xc02b, 0xc00a, 0xc024,
    0xc0ad, 0xc0af, 0xc02c, 0xc072, 0xc073, 0xcca9, 0x1302, 0x1301, 0xcc14, 0xc007, 0xc012, 0xc013,
    0xc027, 0xc02f, 0xc014, 0xc028, 0xc030, 0xc060, 0xc061, 0xc076, 0xc077, 0xcca8, 0x1305, 0x1304,
    0x1303, 0xcc13, 0xc011, 0x000a, 0x002f, 0x003c, 0xc09c, 0xc0a0, 0x009c, 0x0035, 0x003d, 0xc09d,
    0xc0a1, 0x009d, 0x0041, 0x00ba, 0x0084, 0x00c0, 0x0007, 0x0004, 0x0005,
};
JARM__STATIC_ASSERT(JARM__ARRAY_SIZE(ciphers_all) == 69, "ALL has 69 suites");

#define CIPHERS_MAX 69

/* The ALPN sets in base order; each entry goes out as a length byte and the name. */
static const char *const alpn_normal[] = {"http/0.9", "http/1.0", "http/1.1", "spdy/1", "spdy/2",
                                          "spdy/3",   "h2",       "h2c",      "hq"};
static const char *const alpn_rare[] = {"http/0.9", "http/1.0", "spdy/1", "spdy/2",
                                        "spdy/3",   "h2c",      "hq"};

static const uint8_t sig_algs[] = {0x00, 0x12, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03,
                                   0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01, 0x02, 0x01};

size_t jarm__order_indices(unsigned order, size_t n, size_t *idx)
{
    size_t m = n / 2, k = 0, i;

    switch (order) {
    case FORWARD:
        for (i = 0; i < n; i++)
            idx[k++] = i;
        break;
    case REVERSE:
        for (i = 0; i < n; i++)
            idx[k++] = n - 1 - i;
        break;
    case BOTTOM_HALF:
        for (i = (n % 2) ? m + 1 : m; i < n; i++)
            idx[k++] = i;
        break;
    case TOP_HALF:
        for (i = (n % 2) ? m + 1 : m; i-- > 0;)
            idx[k++] = i;
        break;
    case MIDDLE_OUT:
        if (n % 2) {
            idx[k++] = m;
            for (i = 1; i <= m; i++) {
                idx[k++] = m + i;
                idx[k++] = m - i;
            }
        } else {
            for (i = 1; i <= m; i++) {
                idx[k++] = m - 1 + i;
                idx[k++] = m - i;
            }
        }
        break;
    default:
        JARM__UNREACHABLE();
    }
    return k;
}

/* A bounded writer: writes past cap set `overflow` and are dropped. */
struct writer {
    uint8_t *p;
    size_t len, cap;
    int overflow;
};

static void wr_u8(struct writer *w, uint8_t v)
{
    if (w->len < w->cap)
        w->p[w->len] = v;
    else
        w->overflow = 1;
    w->len++;
}

static void wr_u16(struct writer *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void wr_bytes(struct writer *w, const void *src, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->p + w->len, src, n);
    else
        w->overflow = 1;
    w->len += n;
}

/* Reserve `size` bytes for a length field; returns its offset for block_close. */
static size_t block_open(struct writer *w, unsigned size)
{
    size_t at = w->len;
    while (size--)
        wr_u8(w, 0);
    return at;
}

/* Back-fill the big-endian length of everything written after the field at `at`. */
static void block_close(struct writer *w, size_t at, unsigned size)
{
    size_t v = w->len - at - size;
    if (w->overflow)
        return;
    while (size--) {
        w->p[at + size] = (uint8_t)v;
        v >>= 8;
    }
}

static void wr_random(struct writer *w, jarm_rand_fn rnd, void *ctx, size_t n)
{
    uint8_t tmp[32];
    assert(n <= sizeof(tmp));
    rnd(ctx, tmp, n);
    wr_bytes(w, tmp, n);
}

static uint16_t grease(jarm_rand_fn rnd, void *ctx)
{
    uint8_t b;
    rnd(ctx, &b, 1);
    b = (uint8_t)(((b & 0x0f) << 4) | 0x0a);
    return (uint16_t)(b << 8 | b);
}

static void wr_alpn(struct writer *w, const struct probe_spec *ps)
{
    const char *const *set = ps->alpn == ALPN_RARE ? alpn_rare : alpn_normal;
    size_t n = ps->alpn == ALPN_RARE ? JARM__ARRAY_SIZE(alpn_rare) : JARM__ARRAY_SIZE(alpn_normal);
    size_t idx[JARM__ARRAY_SIZE(alpn_normal)], i, ext, list;

    n = jarm__order_indices(ps->ext_reverse ? REVERSE : FORWARD, n, idx);
    wr_u16(w, 0x0010);
    ext = block_open(w, 2);
    list = block_open(w, 2);
    for (i = 0; i < n; i++) {
        size_t l = strlen(set[idx[i]]);
        wr_u8(w, (uint8_t)l);
        wr_bytes(w, set[idx[i]], l);
    }
    block_close(w, list, 2);
    block_close(w, ext, 2);
}

static void wr_key_share(struct writer *w, const struct probe_spec *ps, jarm_rand_fn rnd, void *ctx)
{
    size_t ext, list;

    wr_u16(w, 0x0033);
    ext = block_open(w, 2);
    list = block_open(w, 2);
    if (ps->grease) {
        wr_u16(w, grease(rnd, ctx));
        wr_u16(w, 0x0001);
        wr_u8(w, 0x00);
    }
    wr_u16(w, 0x001d); /* x25519 */
    wr_u16(w, 0x0020);
    wr_random(w, rnd, ctx, 32);
    block_close(w, list, 2);
    block_close(w, ext, 2);
}

static void wr_supported_versions(struct writer *w, const struct probe_spec *ps, jarm_rand_fn rnd,
                                  void *ctx)
{
    static const uint16_t versions[] = {0x0301, 0x0302, 0x0303, 0x0304};
    size_t idx[4], n, i, ext, list;

    /* Mode 1.2_SUPPORT lists 1.0-1.2, every other mode 1.0-1.3. */
    n = jarm__order_indices(ps->ext_reverse ? REVERSE : FORWARD, ps->sv == SV_12 ? 3 : 4, idx);
    wr_u16(w, 0x002b);
    ext = block_open(w, 2);
    list = block_open(w, 1);
    if (ps->grease)
        wr_u16(w, grease(rnd, ctx));
    for (i = 0; i < n; i++)
        wr_u16(w, versions[idx[i]]);
    block_close(w, list, 1);
    block_close(w, ext, 2);
}

int jarm_probe_build(unsigned probe, const char *host, size_t host_len, jarm_rand_fn rnd,
                     void *rnd_ctx, uint8_t *buf, size_t cap, size_t *out_len)
{
    static const uint8_t fixed_exts[] = {
        0x00, 0x17, 0x00, 0x00,                   /* extended_master_secret */
        0x00, 0x01, 0x00, 0x01, 0x01,             /* max_fragment_length 2^9 */
        0xff, 0x01, 0x00, 0x01, 0x00,             /* renegotiation_info */
        0x00, 0x0a, 0x00, 0x0a, 0x00, 0x08, 0x00, /* supported_groups: */
        0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19, /*   x25519, P-256, P-384, P-521 */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,       /* ec_point_formats: uncompressed */
        0x00, 0x23, 0x00, 0x00,                   /* session_ticket */
    };
    static const uint8_t psk_modes[] = {0x00, 0x2d, 0x00, 0x02, 0x01, 0x01};
    const struct probe_spec *ps;
    struct writer w = {buf, 0, cap, 0};
    size_t idx[CIPHERS_MAX], n, i, rec, hs, cs, exts, sni, sni_list, sni_name;
    uint16_t list[CIPHERS_MAX];

    if (probe >= JARM_PROBES || host_len > JARM_HOST_MAX || rnd == NULL || out_len == NULL ||
        (host == NULL && host_len > 0) || (buf == NULL && cap > 0))
        return JARM_EINVAL;
    ps = &probes[probe];

    /* The cipher list: ALL or ALL without the five 13xx suites, then the order transform. */
    n = 0;
    for (i = 0; i < JARM__ARRAY_SIZE(ciphers_all); i++)
        if (ps->ciphers == ALL || (ciphers_all[i] >> 8) != 0x13)
            list[n++] = ciphers_all[i];
    n = jarm__order_indices(ps->cipher_order, n, idx);

    wr_u8(&w, 0x16);
    wr_u8(&w, 0x03);
    wr_u8(&w, ps->rv);
    rec = block_open(&w, 2);
    wr_u8(&w, 0x01); /* client_hello */
    hs = block_open(&w, 3);
    wr_u8(&w, 0x03);
    wr_u8(&w, ps->cv);
    wr_random(&w, rnd, rnd_ctx, 32); /* client random */
    wr_u8(&w, 32);
    wr_random(&w, rnd, rnd_ctx, 32); /* session id */

    cs = block_open(&w, 2);
    if (ps->grease)
        wr_u16(&w, grease(rnd, rnd_ctx));
    for (i = 0; i < n; i++)
        wr_u16(&w, list[idx[i]]);
    block_close(&w, cs, 2);
    wr_u8(&w, 0x01); /* one compression method: null */
    wr_u8(&w, 0x00);

    exts = block_open(&w, 2);
    if (ps->grease) {
        wr_u16(&w, grease(rnd, rnd_ctx));
        wr_u16(&w, 0x0000);
    }
    wr_u16(&w, 0x0000); /* server_name */
    sni = block_open(&w, 2);
    sni_list = block_open(&w, 2);
    wr_u8(&w, 0x00); /* host_name */
    sni_name = block_open(&w, 2);
    wr_bytes(&w, host, host_len);
    block_close(&w, sni_name, 2);
    block_close(&w, sni_list, 2);
    block_close(&w, sni, 2);
    wr_bytes(&w, fixed_exts, sizeof(fixed_exts));
    wr_alpn(&w, ps);
    wr_u16(&w, 0x000d); /* signature_algorithms */
    wr_u16(&w, sizeof(sig_algs));
    wr_bytes(&w, sig_algs, sizeof(sig_algs));
    wr_key_share(&w, ps, rnd, rnd_ctx);
    wr_bytes(&w, psk_modes, sizeof(psk_modes));
    if (ps->sv != SV_NONE)
        wr_supported_versions(&w, ps, rnd, rnd_ctx);
    block_close(&w, exts, 2);
    block_close(&w, hs, 3);
    block_close(&w, rec, 2);

    *out_len = w.len;
    return w.overflow ? JARM_ENOBUFS : 0;
}

const char *jarm_probe_name(unsigned probe)
{
    return probe < JARM_PROBES ? probes[probe].name : NULL;
}

const char *jarm_probe_intent(unsigned probe)
{
    return probe < JARM_PROBES ? probes[probe].intent : NULL;
}
