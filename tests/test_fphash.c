/*
 * test_fphash.c - raw strings, the fuzzy hash and fingerprint decoding against
 * vectors/hash.json.
 *
 *   - every case with an expected fingerprint hashes to it; where the reference's SHA-256 input
 *     was recorded, SHA-256 (EVP, computed here) of those bytes gives the last 32 characters;
 *   - the cases on which the reference crashes get the documented non-crashing result
 *     (jarm.h, jarm(7)), built here from the rule: version digit d -> 'a' + d, any other
 *     non-empty version '0', missing fields of a short handshake empty;
 *   - the cipher and version code tables, jarm_raw_join, jarm_fp_decode on every fingerprint
 *     (per-probe suites and names against the raw string) and on malformed input, and the
 *     error names and messages.
 * Raw strings are placed flush against a guard page and outputs end at one.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "guard.h"
#include "jarm.h"
#include "json.h"
#include "tap.h"

#define FP_MAX 256 /* longest fingerprint in the vectors is 65 characters */

static guard_t in_guard, out_guard;

/* The first 32 hex digits of SHA-256(in), computed independently of the library. */
static int sha256_prefix(const void *in, size_t n, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(in, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

/* jarm_fuzzy_hash with the raw string and the output against guard pages. */
static int fuzzy_hash(const char *raw, size_t len, char **out, size_t cap, size_t *out_len)
{
    const char *r = (const char *)guard_place(&in_guard, raw, len);
    *out = (char *)guard_tail(&out_guard, cap);
    return jarm_fuzzy_hash(r, len, *out, cap, out_len);
}

/* Version codes with jarm(7)'s rule for what the reference cannot decode. */
static char version_rule(const char *v, size_t len)
{
    if (len == 0)
        return '0';
    if (len >= 4 && v[3] >= '0' && v[3] <= '9')
        return (char)('a' + (v[3] - '0'));
    return '0';
}

/*
 * The documented result for the inputs that crash the reference, written out from the rule
 * for each raw string in hash.json: the code half and the text whose SHA-256 ends the
 * fingerprint.
 */
static const struct {
    const char *name, *codes, *sha_input;
} crashes[] = {
    /* ten "c02f|0306||ff01": digit 6 -> 'g' */
    {"version_0306_crash", "29g29g29g29g29g29g29g29g29g29g",
     "ff01ff01ff01ff01ff01ff01ff01ff01ff01ff01"},
    /* ten "c02f|030a||ff01": 4th character not a digit -> '0' */
    {"version_030a_crash", "290290290290290290290290290290",
     "ff01ff01ff01ff01ff01ff01ff01ff01ff01ff01"},
    /* ten "c02f|fefd||ff01": likewise */
    {"dtls_fefd_crash", "290290290290290290290290290290",
     "ff01ff01ff01ff01ff01ff01ff01ff01ff01ff01"},
    /*
     * "c02f|0303|h,2|0010-ff01" + nine "|||": 11 handshakes. "c02f|0303|h" lacks field 4
     * (-> "29d", hashes "h"); "2|0010-ff01" lacks fields 3 and 4: cipher "2" is unknown (46),
     * the version "0010-ff01" has '0' as 4th character (a); then nine "000".
     */
    {"alpn_with_comma_crash", "29d46a000000000000000000000000000", "h"},
    /* "c02f|0303|" + nine "|||": the first handshake lacks field 4 -> "29d", hashes "" */
    {"short_probe_field_count_crash", "29d000000000000000000000000000", ""},
};

static void test_hash_cases(const json_t *cases)
{
    char sha[33];
    int ncrash = 0;

    ok(json_count(cases) == 41, "hash.json has 41 cases");
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_t *cs = json_at(cases, i), *raw = json_get(cs, "raw");
        const char *name = json_str(json_get(cs, "name")), *want;
        size_t want_len = 0, olen = 0, olen2 = 0;
        char *out = NULL;
        int ret;

        if (name == NULL || !json_is_str(raw)) {
            ok(0, "case %zu readable", i);
            continue;
        }
        if (json_get(cs, "raises") != NULL) {
            size_t k = 0;
            while (k < sizeof(crashes) / sizeof(crashes[0]) && strcmp(crashes[k].name, name) != 0)
                k++;
            if (k == sizeof(crashes) / sizeof(crashes[0])) {
                ok(0, "%s: the reference crashes; no documented expectation here", name);
                continue;
            }
            ncrash++;
            ret = fuzzy_hash(raw->str, raw->len, &out, FP_MAX, &olen);
            want_len = strlen(crashes[k].codes);
            ok(ret == 0 &&
                   sha256_prefix(crashes[k].sha_input, strlen(crashes[k].sha_input), sha) == 0 &&
                   olen == want_len + 32 && memcmp(out, crashes[k].codes, want_len) == 0 &&
                   memcmp(out + want_len, sha, 32) == 0 && out[olen] == '\0',
               "%s: non-crashing result %s + sha256(\"%s\")[0:32]", name, crashes[k].codes,
               crashes[k].sha_input);
            continue;
        }

        want = json_str(json_get(cs, "expected"));
        want_len = want ? json_get(cs, "expected")->len : 0;
        ret = fuzzy_hash(raw->str, raw->len, &out, FP_MAX, &olen);
        if (!ok(want != NULL && ret == 0 && olen == want_len &&
                    (long)olen == json_long(json_get(cs, "expected_length"), -1) &&
                    memcmp(out, want, olen) == 0 && out[olen] == '\0',
                "%s: %s", name, want ? want : "(no expected value)"))
            note("got ret %d, \"%s\"", ret, ret == 0 ? out : "");

        if (json_get(cs, "sha256_input_utf8_hex") != NULL) {
            size_t n = 0;
            uint8_t *in = json_hex(json_get(cs, "sha256_input_utf8_hex"), &n);
            ok(in != NULL && sha256_prefix(in, n, sha) == 0 && ret == 0 && olen >= 32 &&
                   memcmp(out + olen - 32, sha, 32) == 0,
               "%s: the last 32 characters are SHA-256 of the reference's hash input", name);
            free(in);
        }

        /* One byte short of room for the NUL: ENOBUFS, the length needed, no overflow. */
        ret = fuzzy_hash(raw->str, raw->len, &out, want_len, &olen2);
        ok(ret == JARM_ENOBUFS && olen2 == want_len,
           "%s: cap %zu gives JARM_ENOBUFS and the length needed", name, want_len);
    }
    ok(ncrash == (int)(sizeof(crashes) / sizeof(crashes[0])), "%d crash cases checked", ncrash);
}

static void test_code_tables(const json_t *root)
{
    const json_t *ciphers = json_get(root, "cipher_bytes_cases");
    const json_t *versions = json_get(root, "version_byte_cases");
    int seen[70] = {0}, codes = 0;

    ok(json_count(ciphers) >= 69 + 1, "hash.json has %zu cipher code cases", json_count(ciphers));
    for (size_t i = 0; i < json_count(ciphers); i++) {
        const json_t *c = json_get(json_at(ciphers, i), "cipher");
        const char *want = json_str(json_get(json_at(ciphers, i), "expected"));
        char got[2] = {'?', '?'}, *field;
        unsigned long suite;
        char *end;
        int named, lower;

        if (!json_is_str(c) || want == NULL || strlen(want) != 2) {
            ok(0, "cipher case %zu readable", i);
            continue;
        }
        field = (char *)guard_place(&in_guard, c->str, c->len);
        jarm_cipher_code(field, c->len, got);
        suite = strtoul(c->str, &end, 16);
        lower = c->len == 4 && *end == '\0' && strspn(c->str, "0123456789abcdef") == 4;
        /* A suite of the table has a name; an unknown 4-digit suite has none. */
        named = strcmp(want, "46") != 0;
        if (named) {
            unsigned long code = strtoul(want, NULL, 16);
            if (code >= 1 && code <= 69 && !seen[code]++)
                codes++;
        }
        ok(memcmp(got, want, 2) == 0 &&
               (!lower || (jarm_cipher_name((uint16_t)suite) != NULL) == named),
           "cipher code of \"%s\" is %s (got %.2s)%s", c->str, want, got,
           lower ? (named ? ", named" : ", no name") : "");
    }
    ok(codes == 69, "the cipher cases cover all 69 codes 01..45 (%d)", codes);

    ok(json_count(versions) >= 10, "hash.json has %zu version code cases", json_count(versions));
    for (size_t i = 0; i < json_count(versions); i++) {
        const json_t *v = json_get(json_at(versions, i), "version");
        const char *want = json_str(json_get(json_at(versions, i), "expected"));
        int raises = json_get(json_at(versions, i), "raises") != NULL;
        char got, exp;

        if (!json_is_str(v) || (want == NULL && !raises)) {
            ok(0, "version case %zu readable", i);
            continue;
        }
        got = jarm_version_code((const char *)guard_place(&in_guard, v->str, v->len), v->len);
        if (raises)
            exp = version_rule(v->str, v->len);
        else
            exp = want[0];
        ok(got == exp && (raises || strlen(want) == 1), "version code of \"%s\" is %c%s (got %c)",
           v->str, exp, raises ? " (reference crashes; documented rule)" : "", got);
    }
}

/* Split raw on ',' into at most max pieces; returns the count (max + 1 if more). */
static size_t split(const char *s, size_t len, char sep, const char **p, size_t *l, size_t max)
{
    size_t n = 0, at = 0;

    for (;;) {
        const char *c = memchr(s + at, sep, len - at);
        size_t pl = c ? (size_t)(c - (s + at)) : len - at;
        if (n == max)
            return max + 1;
        p[n] = s + at;
        l[n++] = pl;
        if (c == NULL)
            return n;
        at += pl + 1;
    }
}

static void test_raw_join(const json_t *cases)
{
    const char *p[JARM_PROBES];
    size_t l[JARM_PROBES], need = 0, n = 0;
    char buf[16384], *out;
    int good = 1, joined = 0;

    /* Every 10-handshake raw string of the vectors, split and joined back. */
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_t *raw = json_get(json_at(cases, i), "raw");
        if (!json_is_str(raw) || raw->len >= sizeof(buf) ||
            split(raw->str, raw->len, ',', p, l, JARM_PROBES) != JARM_PROBES)
            continue;
        joined++;
        if (jarm_raw_join(p, l, buf, sizeof(buf), &n) != 0 || n != raw->len ||
            memcmp(buf, raw->str, n) != 0 || buf[n] != '\0') {
            note("join of %s differs", raw->str);
            good = 0;
        }
    }
    ok(good && joined >= 30, "jarm_raw_join rebuilds %d raw strings from their probe strings",
       joined);

    for (unsigned i = 0; i < JARM_PROBES; i++) {
        p[i] = "|||";
        l[i] = 3;
    }
    ok(jarm_raw_join(p, l, buf, sizeof(buf), &n) == 0 && n == strlen(JARM_RAW_EMPTY) &&
           strcmp(buf, JARM_RAW_EMPTY) == 0,
       "ten \"|||\" join to JARM_RAW_EMPTY");

    /* Lengths, not NULs, delimit the probe strings (an ALPN may hold a NUL). */
    p[3] = "c02f|0303|a\0b|0010";
    l[3] = 18;
    p[4] = "|||trailing ignored";
    l[4] = 3;
    {
        static const char want[] = "|||,|||,|||,c02f|0303|a\0b|0010,|||,|||,|||,|||,|||,|||";
        ok(jarm_raw_join(p, l, buf, sizeof(buf), &n) == 0 && n == sizeof(want) - 1 &&
               memcmp(buf, want, n) == 0 && buf[n] == '\0',
           "jarm_raw_join uses lens[] (embedded NUL kept, longer strings cut)");
        need = sizeof(want) - 1;
    }
    out = (char *)guard_tail(&out_guard, need);
    n = 0;
    ok(jarm_raw_join(p, l, out, need, &n) == JARM_ENOBUFS && n == need,
       "cap without room for the NUL: JARM_ENOBUFS and the length needed");
    out = (char *)guard_tail(&out_guard, need + 1);
    ok(jarm_raw_join(p, l, out, need + 1, &n) == 0 && n == need && out[need] == '\0',
       "cap of exactly length + 1 fits");
}

/* jarm_fp_decode of fp against the raw string it came from (raw may be NULL). */
static int check_decode(const char *fp, const char *raw, size_t raw_len)
{
    char h1[31], h2[33];
    jarm_fp_probe_t pr[JARM_PROBES];
    const char *hs[JARM_PROBES + 1], *f[5];
    size_t hl[JARM_PROBES + 1], fl[5];
    size_t nhs = raw ? split(raw, raw_len, ',', hs, hl, JARM_PROBES) : 0;

    memset(pr, 0xa5, sizeof(pr));
    if (jarm_fp_decode(fp, strlen(fp), h1, h2, pr) != 0 || memcmp(h1, fp, 30) != 0 ||
        h1[30] != '\0' || strcmp(h2, fp + 30) != 0)
        return 0;
    if (jarm_fp_decode(fp, strlen(fp), NULL, NULL, NULL) != 0)
        return 0;
    for (unsigned p = 0; p < JARM_PROBES; p++) {
        const char *c = fp + (size_t)3 * p;
        char hex2[3] = {c[0], c[1], 0};
        unsigned long code = strtoul(hex2, NULL, 16);
        if (memcmp(pr[p].cipher_code, c, 2) != 0 || pr[p].cipher_code[2] != '\0' ||
            pr[p].version_code != c[2] || (pr[p].version == NULL) != (c[2] == '0') ||
            pr[p].answered != !(code == 0 && c[2] == '0'))
            return 0;
        if ((code >= 1 && code <= 69) != (pr[p].cipher_name != NULL))
            return 0;
        if (nhs == JARM_PROBES) {
            /* The code is that of the raw string's cipher field, and names that suite. */
            size_t nf = split(hs[p], hl[p], '|', f, fl, 4);
            char cc[2], field[5] = {0};
            if (nf < 4)
                return 0;
            jarm_cipher_code(f[0], fl[0], cc);
            if (memcmp(cc, c, 2) != 0)
                return 0;
            if (pr[p].cipher_name != NULL) {
                if (fl[0] != 4)
                    return 0;
                memcpy(field, f[0], 4);
                if (pr[p].cipher != strtoul(field, NULL, 16) ||
                    jarm_cipher_name(pr[p].cipher) != pr[p].cipher_name)
                    return 0;
            }
        }
    }
    return 1;
}

static void test_fp_decode(const json_t *captures, const json_t *cases)
{
    static const char base[] = "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d";
    static const struct {
        size_t at;
        char c;
        const char *what;
    } bad[] = {
        {0, '4', "cipher code 47"},   {1, 'g', "cipher code 0g"},   {0, 'f', "cipher code f7"},
        {2, 'k', "version code k"},   {2, 'D', "version code D"},   {2, '1', "version code 1"},
        {30, 'A', "uppercase hash"},  {61, 'g', "non-hex in hash"}, {45, ' ', "space in hash"},
        {1, 'A', "uppercase cipher"},
    };
    char fp[JARM_FP_LEN + 2];
    int n = 0, good = 1;

    for (size_t i = 0; i < json_count(cases); i++) {
        const json_t *cs = json_at(cases, i), *raw = json_get(cs, "raw");
        const char *want = json_str(json_get(cs, "expected"));
        if (want == NULL || strlen(want) != JARM_FP_LEN)
            continue;
        n++;
        if (!check_decode(want, raw->str, raw->len)) {
            note("decode of %s (%s) wrong", want, json_str(json_get(cs, "name")));
            good = 0;
        }
    }
    ok(good && n >= 30,
       "jarm_fp_decode: %d fingerprints; codes, halves, suites and names "
       "match the raw strings",
       n);

    /* The captures' fingerprints, against their raw strings. */
    good = 1;
    n = 0;
    for (size_t i = 0; i < json_count(json_get(captures, "captures")); i++) {
        const json_t *cap = json_at(json_get(captures, "captures"), i);
        const json_t *raw = json_get(cap, "raw");
        const char *want = json_str(json_get(cap, "fingerprint"));
        n++;
        if (want == NULL || !json_is_str(raw) || !check_decode(want, raw->str, raw->len)) {
            note("decode of capture %zu wrong", i);
            good = 0;
        }
    }
    ok(good && n == 8,
       "jarm_fp_decode: the %d capture fingerprints, per-probe suites and names "
       "from the capture raw strings",
       n);

    /* Our own fingerprints with version codes g-j decode too. */
    ok(check_decode("29g29h29i29j29g29d29d29d29d29d0123456789abcdef0123456789abcdef", NULL, 0),
       "jarm_fp_decode accepts version codes g-j");

    good = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(fp, base, sizeof(base));
        fp[bad[i].at] = bad[i].c;
        if (jarm_fp_decode(fp, JARM_FP_LEN, NULL, NULL, NULL) != JARM_EFORMAT) {
            note("%s accepted", bad[i].what);
            good = 0;
        }
    }
    ok(good, "jarm_fp_decode rejects %zu malformed fingerprints with JARM_EFORMAT",
       sizeof(bad) / sizeof(bad[0]));
    memcpy(fp, base, sizeof(base));
    fp[JARM_FP_LEN] = '0';
    fp[JARM_FP_LEN + 1] = '\0';
    ok(jarm_fp_decode(base, JARM_FP_LEN - 1, NULL, NULL, NULL) == JARM_EFORMAT &&
           jarm_fp_decode(fp, JARM_FP_LEN + 1, NULL, NULL, NULL) == JARM_EFORMAT &&
           jarm_fp_decode(NULL, JARM_FP_LEN, NULL, NULL, NULL) == JARM_EFORMAT &&
           jarm_fp_decode(base, 0, NULL, NULL, NULL) == JARM_EFORMAT,
       "jarm_fp_decode: 61 or 63 characters, NULL, empty: JARM_EFORMAT");
}

static void test_errors(void)
{
    static const struct {
        int code;
        const char *name;
    } codes[] = {
#define XX(name, val, msg) {JARM_##name, #name},
        JARM_ERRNO_MAP(XX)
#undef XX
    };
    int good = 1;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *msg = jarm_strerror(codes[i].code), *name = jarm_err_name(codes[i].code);
        if (codes[i].code > -5000 || codes[i].code < -5999 || msg == NULL || *msg == '\0' ||
            name == NULL || strcmp(name, codes[i].name) != 0) {
            note("code %d: name %s, message %s", codes[i].code, name ? name : "NULL",
                 msg ? msg : "NULL");
            good = 0;
        }
        for (size_t k = 0; k < i; k++)
            if (codes[k].code == codes[i].code)
                good = 0;
    }
    ok(good && sizeof(codes) / sizeof(codes[0]) == 4,
       "jarm_err_name/jarm_strerror for the %zu JARM_E* codes", sizeof(codes) / sizeof(codes[0]));
    ok(jarm_strerror(0) != NULL && jarm_strerror(-2) != NULL && jarm_strerror(-5999) != NULL &&
           jarm_strerror(12345) != NULL && strcmp(jarm_err_name(-5999), "UNKNOWN") == 0 &&
           strcmp(jarm_err_name(12345), "UNKNOWN") == 0,
       "unknown codes: a message, and the name UNKNOWN");
}

int main(int argc, char **argv)
{
    json_t *root = json_load_vector(argc, argv, "hash.json");
    json_t *caps = json_load_vector(argc, argv, "captures.json");

    if (root == NULL || caps == NULL) {
        json_free(root);
        json_free(caps);
        return 1;
    }
    if (guard_init(&in_guard, 4096) != 0 || guard_init(&out_guard, 4096) != 0) {
        printf("Bail out! mmap failed\n");
        return 1;
    }
    test_hash_cases(json_get(root, "cases"));
    test_code_tables(root);
    test_raw_join(json_get(root, "cases"));
    test_fp_decode(caps, json_get(root, "cases"));
    test_errors();
    guard_free(&in_guard);
    guard_free(&out_guard);
    json_free(root);
    json_free(caps);
    return done_testing();
}
