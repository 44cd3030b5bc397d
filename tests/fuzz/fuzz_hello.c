/*
 * fuzz_hello.c - jarm_reply_parse on arbitrary server replies.
 *
 * The input is the byte stream a server sent on one probe connection. Properties checked:
 *   1. With final=1 the parser always decides (returns 0), writes a NUL-terminated probe
 *      string shorter than JARM_PROBE_STR_MAX, and the string has one of the three shapes
 *      "|||", "C|V||" or "C|V|A|T" (A, the ALPN text, may contain '|', ',' and NUL; T, the
 *      extension types, never does). The fields round-trip: C is the hex of the cipher bytes
 *      at 44 + session-id length (clipped to the reply), V the hex of bytes 9..10, A a
 *      verbatim, valid UTF-8 substring of the reply, and the reply kind agrees with byte 0.
 *   2. Incrementality: for every strict prefix, final=0 returns JARM_EAGAIN or exactly the
 *      final answer of the whole input (so every way of splitting the reply into reads
 *      gives the same string), and a decided prefix gives that answer with final=1 too.
 *      Each prefix is placed flush against the end of an exact-size heap buffer, so a read
 *      of buf[len] is an out-of-bounds read the sanitizers report.
 *   3. Bytes past JARM_RX_MAX never matter; out=NULL/cap=0 only reports decidedness;
 *      an output buffer one byte short gives JARM_ENOBUFS without writing past it.
 * Any violation aborts.
 */
#include <string.h>

#include "fuzz.h"
#include "jarm.h"

static char want[JARM_PROBE_STR_MAX], got[JARM_PROBE_STR_MAX];

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int hex_equals(const char *s, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        if (s[2 * i] != hex[b[i] >> 4] || s[2 * i + 1] != hex[b[i] & 15])
            return 0;
    return 1;
}

/* Strict UTF-8 (RFC 3629), written independently of the parser's own check. */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k, need;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0) {
            need = 1;
            cp = s[i] & 0x1fu;
        } else if ((s[i] & 0xf0) == 0xe0) {
            need = 2;
            cp = s[i] & 0x0fu;
        } else if ((s[i] & 0xf8) == 0xf0) {
            need = 3;
            cp = s[i] & 0x07u;
        } else {
            return 0;
        }
        if (n - i - 1 < need)
            return 0;
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000))
            return 0; /* overlong */
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += need + 1;
    }
    return 1;
}

/* T: empty, or 4 lowercase hex digits in groups joined by '-'. Sets *has_alpn. */
static int types_ok(const char *t, size_t n, int *has_alpn)
{
    *has_alpn = 0;
    if (n == 0)
        return 1;
    if (n % 5 != 4)
        return 0;
    for (size_t i = 0; i < n; i += 5) {
        if (!is_lower_hex(t + i, 4) || (i + 4 < n && t[i + 4] != '-'))
            return 0;
        if (memcmp(t + i, "0010", 4) == 0)
            *has_alpn = 1;
    }
    return 1;
}

/* Property 1 for the decided answer (r, s) of buf[0..len). */
static void check_answer(const uint8_t *buf, size_t len, const jarm_reply_t *r, const char *s)
{
    size_t n = r->len, eff = len < JARM_RX_MAX ? len : JARM_RX_MAX, clen, sid, avail;
    const char *bar, *rest, *last, *a, *t;
    size_t rlen, alen, tlen;
    int has_alpn;

    FUZZ_CHECK(n < JARM_PROBE_STR_MAX);
    FUZZ_CHECK(s[n] == '\0');
    switch (r->kind) {
    case JARM_REPLY_NONE:
        FUZZ_CHECK(len == 0);
        break;
    case JARM_REPLY_ALERT:
        FUZZ_CHECK(len > 0 && buf[0] == 0x15);
        break;
    case JARM_REPLY_NOT_TLS:
        FUZZ_CHECK(len > 0 && buf[0] != 0x15 && buf[0] != 0x16);
        break;
    case JARM_REPLY_MALFORMED:
        FUZZ_CHECK(len > 0 && buf[0] == 0x16);
        break;
    case JARM_REPLY_SERVER_HELLO:
        FUZZ_CHECK(eff > 43 && buf[0] == 0x16 && buf[5] == 0x02);
        break;
    default:
        FUZZ_CHECK(!"unknown reply kind");
    }
    if (r->kind != JARM_REPLY_SERVER_HELLO) {
        FUZZ_CHECK(n == 3 && memcmp(s, "|||", 3) == 0);
        return;
    }

    /* C: the cipher bytes at 44 + S, clipped to the reply. */
    bar = memchr(s, '|', n);
    FUZZ_CHECK(bar != NULL);
    clen = (size_t)(bar - s);
    sid = buf[43];
    avail = eff > 44 + sid ? eff - 44 - sid : 0;
    FUZZ_CHECK(clen == 2 * (avail < 2 ? avail : 2));
    FUZZ_CHECK(hex_equals(s, buf + 44 + sid, clen / 2));

    /* V: bytes 9..10. */
    FUZZ_CHECK(n >= clen + 6 && s[clen + 5] == '|');
    FUZZ_CHECK(hex_equals(s + clen + 1, buf + 9, 2));

    /* "A|T": T is what follows the last '|', since T never holds one. */
    rest = s + clen + 6;
    rlen = n - clen - 6;
    last = memrchr(rest, '|', rlen);
    FUZZ_CHECK(last != NULL);
    a = rest;
    alen = (size_t)(last - rest);
    t = last + 1;
    tlen = rlen - alen - 1;
    FUZZ_CHECK(types_ok(t, tlen, &has_alpn));
    FUZZ_CHECK(utf8_ok((const uint8_t *)a, alen));
    if (alen > 0) {
        FUZZ_CHECK(has_alpn);
        FUZZ_CHECK(memmem(buf, eff, a, alen) != NULL);
    }
}

static int same(const jarm_reply_t *x, const char *xs, const jarm_reply_t *y, const char *ys)
{
    return x->kind == y->kind && x->len == y->len && memcmp(xs, ys, x->len + 1) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jarm_reply_t rw, rg;
    size_t last;
    uint8_t *scratch;
    char *exact;
    int ret;

    /* 1. The final answer. */
    FUZZ_CHECK(jarm_reply_parse(data, size, 1, &rw, want, sizeof(want)) == 0);
    check_answer(data, size, &rw, want);

    /* 3. Decidedness only; exact-size and one-short output buffers; the JARM_RX_MAX cut. */
    FUZZ_CHECK(jarm_reply_parse(data, size, 1, &rg, NULL, 0) == 0);
    FUZZ_CHECK(rg.kind == rw.kind && rg.len == rw.len);
    exact = malloc(rw.len + 1);
    FUZZ_CHECK(exact != NULL);
    FUZZ_CHECK(jarm_reply_parse(data, size, 1, &rg, exact, rw.len + 1) == 0);
    FUZZ_CHECK(same(&rw, want, &rg, exact));
    FUZZ_CHECK(jarm_reply_parse(data, size, 1, &rg, exact, rw.len) == JARM_ENOBUFS);
    free(exact);
    if (size > JARM_RX_MAX) {
        FUZZ_CHECK(jarm_reply_parse(data, JARM_RX_MAX, 1, &rg, got, sizeof(got)) == 0);
        FUZZ_CHECK(same(&rw, want, &rg, got));
    }
    ret = jarm_reply_parse(data, size, 0, &rg, got, sizeof(got));
    FUZZ_CHECK(ret == JARM_EAGAIN || (ret == 0 && same(&rw, want, &rg, got)));
    FUZZ_CHECK(ret == 0 || size < JARM_RX_MAX);

    /* 2. Every strict prefix; prefixes of JARM_RX_MAX bytes or more are all alike. */
    if (size == 0)
        return 0;
    last = size - 1 < JARM_RX_MAX ? size - 1 : JARM_RX_MAX;
    scratch = malloc(size);
    FUZZ_CHECK(scratch != NULL);
    for (size_t k = 0; k <= last; k++) {
        uint8_t *p = scratch + (size - k);
        memcpy(p, data, k);
        ret = jarm_reply_parse(p, k, 0, &rg, NULL, 0);
        if (ret == JARM_EAGAIN) {
            FUZZ_CHECK(k < JARM_RX_MAX);
            continue;
        }
        FUZZ_CHECK(ret == 0 && rg.kind == rw.kind && rg.len == rw.len);
        FUZZ_CHECK(jarm_reply_parse(p, k, 0, &rg, got, sizeof(got)) == 0);
        FUZZ_CHECK(same(&rw, want, &rg, got));
        FUZZ_CHECK(jarm_reply_parse(p, k, 1, &rg, got, sizeof(got)) == 0);
        FUZZ_CHECK(same(&rw, want, &rg, got));
    }
    free(scratch);
    return 0;
}
