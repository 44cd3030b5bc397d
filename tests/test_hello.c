/*
 * test_hello.c - jarm_reply_parse against the 270 cases of vectors/parse.json.
 *
 * Every input, and every prefix of it, is placed flush against a guard page, and every
 * output buffer ends at one, so a read past `len` or a write past `cap` faults. Per case:
 *   - the complete input with final=1 gives expected_utf8_hex exactly, with a sensible kind;
 *   - out=NULL/cap=0 reports the same length and kind; a capacity without room for the NUL
 *     gives JARM_ENOBUFS and writes nothing past it;
 *   - every strict prefix with final=0 gives JARM_EAGAIN or exactly the final answer (and once
 *     decided, stays decided), then the whole input with final=1 still gives the answer (the
 *     read-split simulation); final=1 on a prefix never gives JARM_EAGAIN;
 *   - fed byte by byte with final=0 until the parser stops asking for more, the answer is the
 *     expected one (what the scanner does on the wire);
 *   - padded with garbage to 3000 bytes, only the first JARM_RX_MAX bytes count and the
 *     answer is decided without final.
 * A few checks of the JSON reader itself come first, since the expectations go through it.
 */
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "jarm.h"
#include "json.h"
#include "tap.h"

#define PAD_LEN 3000

static guard_t in_guard, out_guard;

/* Parse n bytes of `in` placed flush against the guard page. */
static int parse_at_guard(const uint8_t *in, size_t n, int final, jarm_reply_t *r, char *out,
                          size_t cap)
{
    const uint8_t *p = guard_place(&in_guard, in, n);
    return jarm_reply_parse(p, n, final, r, out, cap);
}

/* An output buffer of capacity cap ending at the guard page. */
static char *out_buf(size_t cap)
{
    return (char *)guard_tail(&out_guard, cap);
}

/* Step A of jarm(7)'s reply parser, and "|||" for a 0x16 record without a ServerHello string. */
static jarm_reply_kind_t expected_kind(const uint8_t *in, size_t n, const char *s, size_t len)
{
    if (in == NULL || n == 0)
        return JARM_REPLY_NONE;
    if (in[0] == 0x15)
        return JARM_REPLY_ALERT;
    if (in[0] != 0x16)
        return JARM_REPLY_NOT_TLS;
    if (len == 3 && memcmp(s, "|||", 3) == 0)
        return JARM_REPLY_MALFORMED;
    return JARM_REPLY_SERVER_HELLO;
}

/* s[0..n) with non-printable bytes as \xNN, for TAP lines (which must stay one line). */
static const char *printable(const char *s, size_t n, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            buf[o++] = (char)ch;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

static int same(int ret, const jarm_reply_t *r, const char *out, const char *exp, size_t elen)
{
    return ret == 0 && r->len == elen && memcmp(out, exp, elen) == 0 && out[elen] == '\0';
}

static void test_json_reader(void)
{
    static const struct {
        const char *text;
        const char *utf8; /* NULL: must be rejected */
        size_t len;
    } strs[] = {
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\u20ac\\u00fc\\u0041\"", "\xe2\x82\xac\xc3\xbc\x41", 6},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\udc00\"", NULL, 0},
        {"\"\\ud800x\"", NULL, 0},
        {"\"\\ud800\\u0041\"", NULL, 0},
        {"\"a\nb\"", NULL, 0},
        {"\"abc", NULL, 0},
        {"\"\\x\"", NULL, 0},
    };
    static const char *bad[] = {"[1,]", "{\"a\" 1}", "01", "-", "1.", "[1 2]", "tru", "{}x", ""};
    int good = 1;
    json_t *v;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        v = json_parse(strs[i].text, strlen(strs[i].text), NULL, 0);
        if (strs[i].utf8 == NULL ? v != NULL
                                 : (v == NULL || !json_is_str(v) || v->len != strs[i].len ||
                                    memcmp(v->str, strs[i].utf8, strs[i].len) != 0)) {
            note("json string case %zu (%s) wrong", i, strs[i].text);
            good = 0;
        }
        json_free(v);
    }
    ok(good, "json reader: escapes, surrogate pairs, embedded NUL, lone surrogates rejected");

    good = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        v = json_parse(bad[i], strlen(bad[i]), err, sizeof(err));
        if (v != NULL || err[0] == '\0') {
            note("json \"%s\" accepted", bad[i]);
            good = 0;
        }
        json_free(v);
    }
    ok(good, "json reader: syntax errors rejected with a message");

    {
        static const char doc[] = " [1, -2.5e3, true, false, null, {\"k\": [\"v\"], \"n\": 0}] ";
        v = json_parse(doc, sizeof(doc) - 1, NULL, 0);
        ok(v != NULL && json_count(v) == 6 && json_long(json_at(v, 0), 0) == 1 &&
               json_at(v, 1)->num == -2500.0 && json_at(v, 2)->type == JSON_TRUE &&
               json_at(v, 3)->type == JSON_FALSE && json_is_null(json_at(v, 4)) &&
               json_count(json_at(v, 5)) == 2 &&
               strcmp(json_str(json_at(json_get(json_at(v, 5), "k"), 0)), "v") == 0 &&
               json_long(json_get(json_at(v, 5), "n"), 1) == 0 &&
               json_get(json_at(v, 5), "x") == NULL,
           "json reader: numbers, literals, nested containers");
        json_free(v);
    }
}

struct hcase {
    const char *name;
    const uint8_t *in; /* NULL for the connection-error case */
    size_t n;
    const char *exp;
    size_t elen;
};

/* The complete input with final=1, out=NULL mode and small capacities. */
static void check_full(const struct hcase *c)
{
    jarm_reply_t r = {JARM_REPLY_NONE, 0}, r0 = {JARM_REPLY_NONE, 0};
    jarm_reply_kind_t kind = expected_kind(c->in, c->n, c->exp, c->elen);
    char *out = out_buf(JARM_PROBE_STR_MAX);
    char pe[512], pg[512];
    int ret;

    ret = parse_at_guard(c->in, c->n, 1, &r, out, JARM_PROBE_STR_MAX);
    if (!ok(same(ret, &r, out, c->exp, c->elen) && r.kind == kind, "%s: \"%s\" (kind %d)", c->name,
            printable(c->exp, c->elen, pe, sizeof(pe)), (int)kind))
        note("got ret %d (%s), kind %d, \"%s\"", ret, jarm_err_name(ret), (int)r.kind,
             printable(out, ret == 0 ? r.len : 0, pg, sizeof(pg)));

    ret = parse_at_guard(c->in, c->n, 1, &r0, NULL, 0);
    ok(ret == 0 && r0.len == c->elen && r0.kind == kind,
       "%s: out=NULL cap=0 gives the length %zu and kind", c->name, c->elen);

    {
        int good = 1;
        out = out_buf(c->elen);
        good = good && parse_at_guard(c->in, c->n, 1, &r0, out, c->elen) == JARM_ENOBUFS;
        out = out_buf(1);
        good = good && parse_at_guard(c->in, c->n, 1, &r0, out, 1) == JARM_ENOBUFS;
        good = good && parse_at_guard(c->in, c->n, 1, &r0, out, 0) == JARM_ENOBUFS;
        out = out_buf(c->elen + 1);
        ret = parse_at_guard(c->in, c->n, 1, &r0, out, c->elen + 1);
        good = good && same(ret, &r0, out, c->exp, c->elen);
        ok(good, "%s: cap %zu and 1 give JARM_ENOBUFS, cap %zu fits exactly", c->name, c->elen,
           c->elen + 1);
    }
}

/* Every strict prefix, as an incremental reader would see it. */
static void check_prefixes(const struct hcase *c)
{
    jarm_reply_t r = {JARM_REPLY_NONE, 0}, r0 = {JARM_REPLY_NONE, 0};
    jarm_reply_kind_t kind = expected_kind(c->in, c->n, c->exp, c->elen);
    char *out = out_buf(JARM_PROBE_STR_MAX);
    long bad = -1, decided = -1;
    const char *why = "";

    for (size_t k = 0; k < c->n && bad < 0; k++) {
        int ret = parse_at_guard(c->in, k, 0, &r, out, JARM_PROBE_STR_MAX);
        int ret0 = parse_at_guard(c->in, k, 0, &r0, NULL, 0);
        if (ret == JARM_EAGAIN) {
            if (decided >= 0) {
                bad = (long)k;
                why = "JARM_EAGAIN after an earlier prefix was decided";
            } else if (ret0 != JARM_EAGAIN) {
                bad = (long)k;
                why = "out=NULL mode disagrees";
            }
        } else if (!same(ret, &r, out, c->exp, c->elen) || r.kind != kind) {
            bad = (long)k;
            why = "decided on a different answer";
        } else if (ret0 != 0 || r0.len != c->elen || r0.kind != kind) {
            bad = (long)k;
            why = "out=NULL mode disagrees";
        } else if (decided < 0) {
            decided = (long)k;
        }
        /* The rest of the bytes arrive: the whole input, final. */
        ret = parse_at_guard(c->in, c->n, 1, &r, out, JARM_PROBE_STR_MAX);
        if (bad < 0 && (!same(ret, &r, out, c->exp, c->elen) || r.kind != kind)) {
            bad = (long)k;
            why = "whole input after the split";
        }
        /* The connection ends after k bytes: a result, never EAGAIN. */
        ret = parse_at_guard(c->in, k, 1, &r, out, JARM_PROBE_STR_MAX);
        if (bad < 0 && (ret != 0 || r.kind != expected_kind(c->in, k, out, r.len))) {
            bad = (long)k;
            why = "final=1 on the prefix";
        }
    }
    if (!ok(bad < 0, "%s: all %zu strict prefixes with final=0 are JARM_EAGAIN or the answer",
            c->name, c->n))
        note("prefix of %ld bytes: %s", bad, why);
}

/* Byte by byte until the parser stops asking for more. */
static void check_bytewise(const struct hcase *c)
{
    jarm_reply_t r = {JARM_REPLY_NONE, 0};
    char *out = out_buf(JARM_PROBE_STR_MAX);
    size_t k = 0;
    int ret;

    for (;;) {
        ret = parse_at_guard(c->in, k, 0, &r, out, JARM_PROBE_STR_MAX);
        if (ret != JARM_EAGAIN || k == c->n)
            break;
        k++;
    }
    if (ret == JARM_EAGAIN) {
        ret = parse_at_guard(c->in, c->n, 1, &r, out, JARM_PROBE_STR_MAX);
        ok(same(ret, &r, out, c->exp, c->elen),
           "%s: fed byte by byte, undecided after all %zu bytes, then final=1", c->name, c->n);
    } else {
        ok(same(ret, &r, out, c->exp, c->elen),
           "%s: fed byte by byte, decided after %zu of %zu bytes", c->name, k, c->n);
    }
}

/* Garbage after the input: only the first JARM_RX_MAX bytes count, and 3000 bytes decide. */
static void check_padded(const struct hcase *c)
{
    static uint8_t pad1[PAD_LEN], pad2[PAD_LEN];
    char a[JARM_PROBE_STR_MAX], b[JARM_PROBE_STR_MAX], d[JARM_PROBE_STR_MAX];
    jarm_reply_t ra = {JARM_REPLY_NONE, 0}, rb = {JARM_REPLY_NONE, 0}, rd = {JARM_REPLY_NONE, 0};
    size_t head = c->n < PAD_LEN ? c->n : PAD_LEN;
    int good;

    memcpy(pad1, c->in, head);
    memcpy(pad2, c->in, head);
    for (size_t i = head; i < PAD_LEN; i++) {
        pad1[i] = (uint8_t)(i * 131 + 7);
        pad2[i] = i < JARM_RX_MAX ? pad1[i] : (uint8_t)~pad1[i];
    }
    /* The 3000-byte buffer is decided without final; bytes past JARM_RX_MAX do not matter. */
    good = parse_at_guard(pad1, PAD_LEN, 0, &ra, a, sizeof(a)) == 0 &&
           parse_at_guard(pad2, PAD_LEN, 0, &rb, b, sizeof(b)) == 0 &&
           parse_at_guard(pad1, JARM_RX_MAX, 0, &rd, d, sizeof(d)) == 0 && ra.len == rb.len &&
           ra.len == rd.len && ra.kind == rb.kind && ra.kind == rd.kind &&
           memcmp(a, b, ra.len) == 0 && memcmp(a, d, ra.len) == 0;
    if (c->n >= JARM_RX_MAX) /* the padding starts past JARM_RX_MAX: the answer stands */
        good = good && ra.len == c->elen && memcmp(a, c->exp, c->elen) == 0;
    ok(good, "%s: padded to %d bytes, only the first %d count and final=0 is decided", c->name,
       PAD_LEN, JARM_RX_MAX);
}

static void test_cases(const json_t *root)
{
    const json_t *cases = json_get(root, "cases");
    size_t bad_utf8 = 0, longest = 0;

    ok(json_count(cases) == 270 && json_long(json_get(root, "count"), 0) == 270,
       "parse.json has 270 cases");
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_t *cs = json_at(cases, i), *hex = json_get(cs, "input_hex");
        struct hcase c = {json_str(json_get(cs, "name")), NULL, 0, NULL, 0};
        uint8_t *in = NULL, *exp = NULL;

        if (c.name == NULL)
            c.name = "?";
        exp = json_hex(json_get(cs, "expected_utf8_hex"), &c.elen);
        if (!json_is_null(hex))
            in = json_hex(hex, &c.n);
        if ((in == NULL && !json_is_null(hex)) || exp == NULL ||
            (in != NULL && (long)c.n != json_long(json_get(cs, "input_length"), -1)) ||
            c.n > PAD_LEN || c.elen >= JARM_PROBE_STR_MAX) {
            ok(0, "%s: vector readable", c.name);
            free(in);
            free(exp);
            continue;
        }
        /* The JSON string and its hex must agree: a check of the JSON reader. */
        if (!json_is_str(json_get(cs, "expected")) || json_get(cs, "expected")->len != c.elen ||
            memcmp(json_get(cs, "expected")->str, exp, c.elen) != 0) {
            note("%s: \"expected\" differs from expected_utf8_hex", c.name);
            bad_utf8++;
        }
        c.in = in;
        c.exp = (const char *)exp;
        if (c.n > longest)
            longest = c.n;

        check_full(&c);
        check_prefixes(&c);
        check_bytewise(&c);
        if (c.in != NULL)
            check_padded(&c);
        free(in);
        free(exp);
    }
    ok(bad_utf8 == 0, "every \"expected\" string decodes to its expected_utf8_hex");
    ok(longest > JARM_RX_MAX, "the vectors include an input longer than JARM_RX_MAX (%zu bytes)",
       longest);
}

int main(int argc, char **argv)
{
    json_t *root;

    test_json_reader();
    if ((root = json_load_vector(argc, argv, "parse.json")) == NULL)
        return 1;
    if (guard_init(&in_guard, PAD_LEN) != 0 || guard_init(&out_guard, JARM_PROBE_STR_MAX) != 0) {
        printf("Bail out! mmap failed\n");
        return 1;
    }
    test_cases(root);
    guard_free(&in_guard);
    guard_free(&out_guard);
    json_free(root);
    return done_testing();
}
