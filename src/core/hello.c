/*
 * hello.c - the reference's read_packet, as an incremental parser.
 *
 * The reference turns the bytes of one recv(1484) into a probe string (jarm(7), THE REPLY
 * PARSER):
 * classification (step A), fixed fields clipped to the buffer (step B), then a chain of
 * heuristics and an extension walk (step C) whose quirks are reproduced exactly: the
 * session-id length taken unchecked, the record length used as the ServerHello length, the
 * 0x0b and "0eac0b"/"0ff00b" patterns, the walk bounded one byte short and only by the
 * extensions-length field, one-byte length fallbacks, the EMPTY marker of a zero-length
 * extension, and strict UTF-8 for ALPN.
 *
 * Incrementality. Every decision of the parser either reads a byte that exists, or finds
 * that a byte does not exist in the buffer. Only the second kind can change when more bytes
 * arrive. So the parser runs on what it has, remembering whether any "byte i is missing"
 * observation influenced the result (`rd.short_read`); if none did, every longer buffer
 * gives the same result and the answer is final even without EOF. This is jarmsweep's read
 * rule (jarm(7), JARMSWEEP'S DEVIATIONS): stop as soon as every byte the parser inspects is
 * present.
 */
#include <string.h>

#include "internal.h"
#include "jarm.h"
#include "util.h"

struct rd {
    const uint8_t *b;
    size_t n;
    int short_read; /* a missing byte influenced the result */
};

/* Does byte i exist? Records the dependency when it does not. */
static int has(struct rd *r, size_t i)
{
    if (i < r->n)
        return 1;
    r->short_read = 1;
    return 0;
}

enum { NOMATCH, MATCH, UNKNOWN };

/* Three-valued "B[at..at+2] == pat": a present mismatching byte decides NOMATCH. */
static int pattern_at(const struct rd *r, size_t at, const uint8_t pat[3])
{
    size_t k;
    for (k = 0; k < 3; k++) {
        if (at + k >= r->n)
            return UNKNOWN;
        if (r->b[at + k] != pat[k])
            return NOMATCH;
    }
    return MATCH;
}

static void put_hex(jarm__out_t *o, const uint8_t *b, size_t n)
{
    char tmp[2 * 64 + 1];
    while (n > 0) {
        size_t k = n < 64 ? n : 64;
        jarm__hex_encode(tmp, b, k);
        jarm__out_put(o, tmp, 2 * k);
        b += k;
        n -= k;
    }
}

static void put_hex16(jarm__out_t *o, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put_hex(o, b, 2);
}

/* Step C's outcomes. */
enum { EXT_SKIP, EXT_OK, EXT_ABORT };

/* At most this many extension types fit in JARM_RX_MAX bytes (4 bytes each, from S+49). */
#define TYPES_MAX ((JARM_RX_MAX - 49) / 4 + 1)

struct ext_result {
    uint16_t types[TYPES_MAX];
    size_t ntypes;
    const uint8_t *alpn; /* ALPN text after its 3-byte prefix */
    size_t alpn_len;
};

/* Step C of jarm(7)'s reply parser: rules C1 to C5. */
static int parse_extensions(struct rd *r, size_t S, struct ext_result *x)
{
    static const uint8_t pat_sid[3] = {0x0e, 0xac, 0x0b}, pat_abs[3] = {0x0f, 0xf0, 0x0b};
    const uint8_t *b = r->b;
    size_t p = S + 47, R = (size_t)b[3] << 8 | b[4], E, pos, stop;
    int m1, m2, alpn_seen = 0, alpn_empty = 0;
    size_t alpn_at = 0, alpn_vlen = 0;

    x->ntypes = 0;
    x->alpn = NULL;
    x->alpn_len = 0;

    if (!has(r, p)) /* C1 */
        return EXT_SKIP;
    if (b[p] == 0x0b) /* C2 */
        return EXT_SKIP;
    m1 = pattern_at(r, S + 50, pat_sid); /* C3 */
    m2 = pattern_at(r, 82, pat_abs);
    if (m1 == MATCH || m2 == MATCH)
        return EXT_SKIP;
    if (m1 == UNKNOWN || m2 == UNKNOWN)
        r->short_read = 1;
    if (S + 42 >= R) /* C4 */
        return EXT_SKIP;

    /* C5: the walk. */
    E = has(r, p + 1) ? (size_t)b[p] << 8 | b[p + 1] : b[p];
    pos = p + 2;
    stop = p + 1 + E;
    while (pos < stop) {
        size_t len;
        uint16_t type;
        if (!has(r, pos + 2))
            return EXT_ABORT;
        type = (uint16_t)(b[pos] << 8 | b[pos + 1]);
        len = has(r, pos + 3) ? (size_t)b[pos + 2] << 8 | b[pos + 3] : b[pos + 2];
        assert(x->ntypes < TYPES_MAX);
        x->types[x->ntypes++] = type;
        if (type == 0x0010 && !alpn_seen) {
            alpn_seen = 1;
            alpn_empty = len == 0;
            alpn_at = pos + 4;
            alpn_vlen = len;
        }
        pos += 4 + len;
    }

    if (alpn_seen) {
        size_t avail = alpn_at < r->n ? r->n - alpn_at : 0;
        size_t vlen = alpn_vlen < avail ? alpn_vlen : avail;
        if (alpn_empty)
            return EXT_ABORT;
        if (vlen < alpn_vlen && alpn_vlen > 3)
            r->short_read = 1; /* the clipped value could still grow */
        if (vlen > 3) {
            x->alpn = b + alpn_at + 3;
            x->alpn_len = vlen - 3;
            if (!jarm__utf8_valid(x->alpn, x->alpn_len))
                return EXT_ABORT;
        }
    }
    return EXT_OK;
}

int jarm_reply_parse(const uint8_t *buf, size_t len, int final, jarm_reply_t *res, char *out,
                     size_t cap)
{
    struct rd r = {buf, len < JARM_RX_MAX ? len : JARM_RX_MAX, 0};
    jarm__out_t o = {out, 0, out ? cap : 0};
    struct ext_result x;
    jarm_reply_kind_t kind;
    size_t S, cipher_len;
    int ext = EXT_SKIP;

    if (len >= JARM_RX_MAX)
        final = 1; /* the reference's single recv(1484) would have returned by now */

    /* Step A: classification. */
    if (!has(&r, 0)) {
        kind = JARM_REPLY_NONE;
        goto Empty;
    }
    if (buf[0] == 0x15) {
        kind = JARM_REPLY_ALERT;
        goto Empty;
    }
    if (buf[0] != 0x16) {
        kind = JARM_REPLY_NOT_TLS;
        goto Empty;
    }
    kind = JARM_REPLY_MALFORMED;
    if (!has(&r, 5) || buf[5] != 0x02 || !has(&r, 43))
        goto Empty;

    /* Steps B and C. */
    S = buf[43];
    cipher_len = has(&r, 44 + S) ? (has(&r, 45 + S) ? 2 : 1) : 0; /* clipped to the buffer */
    ext = parse_extensions(&r, S, &x);
    if (ext == EXT_ABORT)
        goto Empty;
    if (!final && r.short_read)
        return JARM_EAGAIN;
    kind = JARM_REPLY_SERVER_HELLO;
    put_hex(&o, buf + 44 + S, cipher_len);
    jarm__out_put(&o, "|", 1);
    put_hex(&o, buf + 9, 2);
    jarm__out_put(&o, "|", 1);
    if (ext == EXT_SKIP) {
        jarm__out_put(&o, "|", 1);
    } else {
        jarm__out_put(&o, x.alpn, x.alpn_len);
        jarm__out_put(&o, "|", 1);
        for (size_t i = 0; i < x.ntypes; i++) {
            if (i)
                jarm__out_put(&o, "-", 1);
            put_hex16(&o, x.types[i]);
        }
    }
    goto Done;

Empty:
    if (!final && r.short_read)
        return JARM_EAGAIN;
    jarm__out_put(&o, "|||", 3);
Done:
    if (o.len >= o.cap) {
        if (out != NULL || cap != 0)
            return JARM_ENOBUFS;
    } else {
        out[o.len] = '\0';
    }
    if (res != NULL) {
        res->kind = kind;
        res->len = o.len;
    }
    return 0;
}
