/*
 * fuzz_hash.c - jarm_fuzzy_hash on arbitrary raw strings.
 *
 * The input is a raw JARM string (any bytes). Properties checked:
 *   - JARM_RAW_EMPTY gives 62 '0'; any other input gives 3 * (commas + 1) + 32 characters,
 *     announced first through JARM_ENOBUFS with a zero-size buffer, then written into an
 *     exact-size heap buffer (length + NUL), while a buffer one byte short is refused;
 *   - per handshake: two cipher-code characters (lowercase hex, at most 0x46) equal to
 *     jarm_cipher_code of field 0, and a version code ('0' or 'a'..'j') equal to
 *     jarm_version_code of field 1;
 *   - the last 32 characters are the first 16 bytes, in lowercase hex, of SHA-256 over
 *     fields 2 and 3 of every handshake, computed here independently the way Python's
 *     str.split(',') / str.split('|') sees the text (missing fields are empty).
 * Any violation aborts.
 */
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "jarm.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Field k of a handshake as Python's hs.split('|')[k] would give it, or "" if absent. */
static void field(const char *hs, size_t hs_len, unsigned k, const char **f, size_t *fl)
{
    size_t at = 0;
    for (unsigned i = 0; i < k; i++) {
        const char *bar = memchr(hs + at, '|', hs_len - at);
        if (bar == NULL) {
            *f = "";
            *fl = 0;
            return;
        }
        at = (size_t)(bar - hs) + 1;
    }
    *f = hs + at;
    {
        const char *bar = memchr(hs + at, '|', hs_len - at);
        *fl = bar ? (size_t)(bar - *f) : hs_len - at;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    const char *raw = (const char *)data;
    size_t commas = 0, need, n = 0, o = 0, at = 0;
    int empty;
    unsigned char md[32];
    EVP_MD_CTX *ctx;
    char *out;

    for (size_t i = 0; i < size; i++)
        commas += raw[i] == ',';
    empty = size == sizeof(JARM_RAW_EMPTY) - 1 && memcmp(raw, JARM_RAW_EMPTY, size) == 0;
    need = empty ? JARM_FP_LEN : 3 * (commas + 1) + 32;

    FUZZ_CHECK(jarm_fuzzy_hash(raw, size, NULL, 0, &n) == JARM_ENOBUFS && n == need);
    out = malloc(need + 1);
    FUZZ_CHECK(out != NULL);
    n = 0;
    FUZZ_CHECK(jarm_fuzzy_hash(raw, size, out, need, &n) == JARM_ENOBUFS && n == need);
    n = 0;
    FUZZ_CHECK(jarm_fuzzy_hash(raw, size, out, need + 1, &n) == 0);
    FUZZ_CHECK(n == need && out[need] == '\0');

    if (empty) {
        for (size_t i = 0; i < need; i++)
            FUZZ_CHECK(out[i] == '0');
        free(out);
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL));
    for (;;) {
        const char *hs = raw + at, *comma = memchr(hs, ',', size - at), *f;
        size_t hs_len = comma ? (size_t)(comma - hs) : size - at, fl;
        char cc[2];
        int hi, lo;

        field(hs, hs_len, 0, &f, &fl);
        jarm_cipher_code(f, fl, cc);
        FUZZ_CHECK(out[o] == cc[0] && out[o + 1] == cc[1]);
        hi = hexval(out[o]);
        lo = hexval(out[o + 1]);
        FUZZ_CHECK(hi >= 0 && lo >= 0 && hi * 16 + lo <= 0x46);
        FUZZ_CHECK((fl == 0) == (hi * 16 + lo == 0));
        field(hs, hs_len, 1, &f, &fl);
        FUZZ_CHECK(out[o + 2] == jarm_version_code(f, fl));
        FUZZ_CHECK(out[o + 2] == '0' || (out[o + 2] >= 'a' && out[o + 2] <= 'j'));
        FUZZ_CHECK(fl != 0 || out[o + 2] == '0');
        o += 3;
        field(hs, hs_len, 2, &f, &fl);
        FUZZ_CHECK(EVP_DigestUpdate(ctx, f, fl));
        field(hs, hs_len, 3, &f, &fl);
        FUZZ_CHECK(EVP_DigestUpdate(ctx, f, fl));
        if (comma == NULL)
            break;
        at += hs_len + 1;
    }
    FUZZ_CHECK(EVP_DigestFinal_ex(ctx, md, NULL));
    EVP_MD_CTX_free(ctx);
    FUZZ_CHECK(o + 32 == need);
    for (size_t i = 0; i < 16; i++)
        FUZZ_CHECK(out[o + 2 * i] == hex[md[i] >> 4] && out[o + 2 * i + 1] == hex[md[i] & 15]);
    free(out);
    return 0;
}
