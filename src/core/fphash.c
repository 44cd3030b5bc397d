/*
 * fphash.c - the raw JARM string, the fuzzy hash and its decoding.
 *
 * The hash is computed from the raw string exactly as the reference's jarm_hash does it: by
 * splitting the text on ',' and '|' (jarm(7), THE FUZZY HASH). It never looks at structured
 * results, because an ALPN value containing '|' or ',' shifts the fields the reference hashes
 * and the fingerprint must follow it. SHA-256 runs over the pieces of the text directly, so
 * the concatenated ALPN/extension text is never materialised.
 *
 * Where the reference raises an exception (a version it cannot read, a handshake with too few
 * fields) we use the non-crashing rule of jarm(7), JARMSWEEP'S DEVIATIONS; it agrees with
 * the reference on every input the reference survives.
 * One divergence is knowingly left: the reference reads the version digit with Python's
 * int(), which also accepts non-ASCII Unicode decimal digits; such a character can only get
 * there through an ALPN value holding both ',' and '|', and we give it '0'.
 *
 * This and rng.c are the only libcrypto users.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "internal.h"
#include "jarm.h"
#include "util.h"

/* Cipher codes (jarm(7)): code = 1-based position; the 13xx suites are at the end. */
static const struct {
    uint16_t suite;
    const char *name;
} cipher_table[] = {
    {0x0004, "TLS_RSA_WITH_RC4_128_MD5"},
    {0x0005, "TLS_RSA_WITH_RC4_128_SHA"},
    {0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"},
    {0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
    {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"},
    {0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"},
    {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"},
    {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"},
    {0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"},
    {0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"},
    {0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"},
    {0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"},
    {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"},
    {0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"},
    {0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"},
    {0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"},
    {0x009a, "TLS_DHE_RSA_WITH_SEED_CBC_SHA"},
    {0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
    {0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
    {0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
    {0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
    {0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"},
    {0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"},
    {0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"},
    {0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"},
    {0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"},
    {0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"},
    {0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
    {0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"},
    {0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"},
    {0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"},
    {0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
    {0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
    {0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"},
    {0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
    {0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
    {0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
    {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {0xc060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"},
    {0xc061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384"},
    {0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"},
    {0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"},
    {0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"},
    {0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"},
    {0xc09c, "TLS_RSA_WITH_AES_128_CCM"},
    {0xc09d, "TLS_RSA_WITH_AES_256_CCM"},
    {0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"},
    {0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"},
    {0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8"},
    {0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8"},
    {0xc0a2, "TLS_DHE_RSA_WITH_AES_128_CCM_8"},
    {0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"},
    {0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"},
    {0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"},
    {0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"},
    {0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"},
    {0xcc13, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (draft, 0xcc13)"},
    {0xcc14, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 (draft, 0xcc14)"},
    {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0x1301, "TLS_AES_128_GCM_SHA256"},
    {0x1302, "TLS_AES_256_GCM_SHA384"},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
    {0x1304, "TLS_AES_128_CCM_SHA256"},
    {0x1305, "TLS_AES_128_CCM_8_SHA256"},
};
JARM__STATIC_ASSERT(JARM__ARRAY_SIZE(cipher_table) == 69, "the cipher code table has 69 suites");

static const char hexdig[] = "0123456789abcdef";

/* Fingerprints are lower-case hex. */
static int hexval(char c)
{
    return jarm__hex_digit(c, 0);
}

/* The suite whose lowercase 4-digit hex is exactly field[0..len), or -1. */
static int field_suite(const char *field, size_t len)
{
    int v = 0;
    if (len != 4)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        int d = hexval(field[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

void jarm_cipher_code(const char *field, size_t len, char out[2])
{
    size_t code = JARM__ARRAY_SIZE(cipher_table) + 1; /* not found: 70 = "46" */
    int suite;

    if (len == 0) {
        out[0] = out[1] = '0';
        return;
    }
    suite = field_suite(field, len);
    if (suite >= 0) {
        /* The table is ascending but for the five 13xx suites at its end. */
        size_t lo = 0, hi = JARM__ARRAY_SIZE(cipher_table) - 5;
        if ((suite >> 8) == 0x13) {
            lo = hi;
            hi = JARM__ARRAY_SIZE(cipher_table);
        }
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cipher_table[mid].suite < suite)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < JARM__ARRAY_SIZE(cipher_table) && cipher_table[lo].suite == suite)
            code = lo + 1;
    }
    out[0] = hexdig[code >> 4];
    out[1] = hexdig[code & 15];
}

char jarm_version_code(const char *field, size_t len)
{
    size_t i = 0, cp = 0;

    if (len == 0)
        return '0';
    /* The reference takes the 4th character (code point, not byte) of the text. */
    while (i < len && cp < 3) {
        unsigned char c = (unsigned char)field[i];
        i += c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        cp++;
    }
    if (i < len && field[i] >= '0' && field[i] <= '9')
        return (char)('a' + (field[i] - '0'));
    return '0';
}

const char *jarm_cipher_name(uint16_t suite)
{
    for (size_t i = 0; i < JARM__ARRAY_SIZE(cipher_table); i++)
        if (cipher_table[i].suite == suite)
            return cipher_table[i].name;
    return NULL;
}

int jarm_raw_join(const char *const probes[JARM_PROBES], const size_t lens[JARM_PROBES], char *out,
                  size_t cap, size_t *out_len)
{
    size_t need = JARM_PROBES - 1, at = 0;

    for (unsigned i = 0; i < JARM_PROBES; i++)
        need += lens[i];
    *out_len = need;
    if (need >= cap)
        return JARM_ENOBUFS;
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        if (i)
            out[at++] = ',';
        memcpy(out + at, probes[i], lens[i]);
        at += lens[i];
    }
    out[at] = '\0';
    return 0;
}

/* Offset of the first '|' or ',' in s[0..n), or n. Sixteen bytes at a time where SSE2 is. */
static size_t next_sep(const char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i bar = _mm_set1_epi8('|'), comma = _mm_set1_epi8(',');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, bar), _mm_cmpeq_epi8(v, comma)));
        if (m != 0)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i < n; i++)
        if (s[i] == '|' || s[i] == ',')
            return i;
    return n;
}

static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

/*
 * Fetch SHA-256 once, and keep one digest context per thread: an implicit fetch and a
 * context allocation on every call cost more than hashing the few hundred bytes.
 */
static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&sha256_key, ctx_free) != 0 && sha256_md != NULL) {
        EVP_MD_free(sha256_md);
        sha256_md = NULL;
    }
}

static EVP_MD_CTX *sha256_ctx(void)
{
    EVP_MD_CTX *ctx;
    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md == NULL)
        return NULL;
    if ((ctx = pthread_getspecific(sha256_key)) == NULL) {
        if ((ctx = EVP_MD_CTX_new()) == NULL)
            return NULL;
        if (pthread_setspecific(sha256_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            return NULL;
        }
    }
    return EVP_DigestInit_ex(ctx, sha256_md, NULL) ? ctx : NULL;
}

/* The fingerprint of a scan with no answer at all: 62 zeros. */
static int zero_fp(char *out, size_t cap, size_t *out_len)
{
    *out_len = JARM_FP_LEN;
    if (cap < JARM_FP_LEN + 1)
        return JARM_ENOBUFS;
    memset(out, '0', JARM_FP_LEN);
    out[JARM_FP_LEN] = '\0';
    return 0;
}

/* Handshakes in raw: one more than its commas. */
static size_t count_handshakes(const char *raw, size_t raw_len)
{
    size_t handshakes = 1;

    for (const char *p = raw, *end = raw + raw_len; (p = memchr(p, ',', (size_t)(end - p)));) {
        handshakes++;
        p++;
    }
    return handshakes;
}

/*
 * The fields of the handshake starting at raw[i]: its end is at ',' or raw_len, its fields
 * end at '|'; fields past the 4th are ignored and missing ones stay "" (where the reference
 * crashes). Returns the offset of the handshake's end.
 */
static inline size_t split_handshake(const char *raw, size_t raw_len, size_t i, const char *f[4],
                                     size_t fl[4])
{
    size_t start = i;
    unsigned k = 0;

    for (;;) {
        i += next_sep(raw + i, raw_len - i);
        if (i >= raw_len || raw[i] == ',')
            break;
        if (k < 4) { /* a '|' */
            f[k] = raw + start;
            fl[k] = i - start;
        }
        k++;
        start = ++i;
    }
    if (k < 4) {
        f[k] = raw + start;
        fl[k] = i - start;
    }
    return i;
}

int jarm_fuzzy_hash(const char *raw, size_t raw_len, char *out, size_t cap, size_t *out_len)
{
    static const char empty[] = JARM_RAW_EMPTY;
    unsigned char md[32];
    size_t need, o = 0, tl = 0;
    EVP_MD_CTX *ctx;
    char text[2048]; /* the hashed ALPN/extension text, gathered for one update */

    if (raw == NULL)
        raw = "";
    if (raw_len == sizeof(empty) - 1 && memcmp(raw, empty, raw_len) == 0)
        return zero_fp(out, cap, out_len);

    need = count_handshakes(raw, raw_len) * 3 + 32;
    *out_len = need;
    if (cap < need + 1)
        return JARM_ENOBUFS;

    if ((ctx = sha256_ctx()) == NULL)
        return JARM_EINVAL;

    /* One pass: a handshake ends at ',' or the end (Python's "".split(",") yields one empty
     * handshake, so there is always one). */
    for (size_t i = 0;;) {
        const char *f[4] = {"", "", "", ""};
        size_t fl[4] = {0, 0, 0, 0};

        i = split_handshake(raw, raw_len, i, f, fl);
        jarm_cipher_code(f[0], fl[0], out + o);
        out[o + 2] = jarm_version_code(f[1], fl[1]);
        o += 3;
        for (unsigned j = 2; j < 4; j++) {   /* gather the ALPN and extension text */
            if (fl[j] > sizeof(text) - tl) { /* a long text: hash what is gathered so far */
                if (!EVP_DigestUpdate(ctx, text, tl) || !EVP_DigestUpdate(ctx, f[j], fl[j]))
                    return JARM_EINVAL;
                tl = 0;
                continue;
            }
            memcpy(text + tl, f[j], fl[j]);
            tl += fl[j];
        }
        if (i >= raw_len)
            break;
        i++;
    }

    if (!EVP_DigestUpdate(ctx, text, tl) || !EVP_DigestFinal_ex(ctx, md, NULL))
        return JARM_EINVAL;
    jarm__hex_encode(out + o, md, 16);
    o += 32;
    assert(o == need);
    return 0;
}

static const char *version_name(char code)
{
    static const char *const names[] = {
        "SSL 3.0",           "TLS 1.0",           "TLS 1.1",           "TLS 1.2",
        "TLS 1.3 (0304)",    "0305 (unassigned)", "x6 (non-standard)", "x7 (non-standard)",
        "x8 (non-standard)", "x9 (non-standard)",
    };
    return code >= 'a' && code <= 'j' ? names[code - 'a'] : NULL;
}

int jarm_fp_decode(const char *fp, size_t len, char half1[31], char half2[33],
                   jarm_fp_probe_t probes[JARM_PROBES])
{
    if (fp == NULL || len != JARM_FP_LEN)
        return JARM_EFORMAT;
    for (size_t i = 0; i < 30; i += 3) {
        int hi = hexval(fp[i]), lo = hexval(fp[i + 1]);
        char v = fp[i + 2];
        if (hi < 0 || lo < 0 || (hi << 4 | lo) > (int)JARM__ARRAY_SIZE(cipher_table) + 1)
            return JARM_EFORMAT;
        if (v != '0' && (v < 'a' || v > 'j'))
            return JARM_EFORMAT;
    }
    for (size_t i = 30; i < JARM_FP_LEN; i++)
        if (hexval(fp[i]) < 0)
            return JARM_EFORMAT;

    if (half1 != NULL) {
        memcpy(half1, fp, 30);
        half1[30] = '\0';
    }
    if (half2 != NULL) {
        memcpy(half2, fp + 30, 32);
        half2[32] = '\0';
    }
    if (probes != NULL)
        for (unsigned p = 0; p < JARM_PROBES; p++) {
            jarm_fp_probe_t *e = &probes[p];
            const char *c = fp + 3 * p;
            int code = hexval(c[0]) << 4 | hexval(c[1]);
            e->cipher_code[0] = c[0];
            e->cipher_code[1] = c[1];
            e->cipher_code[2] = '\0';
            e->version_code = c[2];
            e->cipher = 0;
            e->cipher_name = NULL;
            if (code >= 1 && code <= (int)JARM__ARRAY_SIZE(cipher_table)) {
                e->cipher = cipher_table[code - 1].suite;
                e->cipher_name = cipher_table[code - 1].name;
            }
            e->version = version_name(c[2]);
            e->answered = !(code == 0 && c[2] == '0');
        }
    return 0;
}
