/*
 * test_rng.c - the probe random generator (jarm_rng_t).
 *
 * Statistical checks are kept loose enough that a correct generator fails them with
 * negligible probability (well below 2^-60), yet they catch constant, repeating or shared
 * output. The stream must not depend on how it is read: a state copied with memcpy and read
 * in odd-sized chunks across 64-byte block boundaries gives the same bytes as one large
 * fill. With a fixed key and nonce the stream must be the ChaCha20 keystream (RFC 8439),
 * which is checked against OpenSSL's ChaCha20 rather than against hard-coded bytes.
 */
#include <string.h>

#include <openssl/evp.h>

#include "jarm.h"
#include "tap.h"

#define N 1000

static size_t distinct_bytes(const uint8_t *b, size_t n)
{
    int seen[256] = {0};
    size_t d = 0;

    for (size_t i = 0; i < n; i++)
        if (!seen[b[i]]++)
            d++;
    return d;
}

/* OpenSSL's ChaCha20 keystream for a 32-byte key, block counter and 12-byte nonce. */
static int openssl_keystream(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12],
                             uint8_t *out, size_t n)
{
    static uint8_t zeros[N];
    uint8_t iv[16];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ret = -1;

    iv[0] = (uint8_t)counter;
    iv[1] = (uint8_t)(counter >> 8);
    iv[2] = (uint8_t)(counter >> 16);
    iv[3] = (uint8_t)(counter >> 24);
    memcpy(iv + 4, nonce, 12);
    if (ctx != NULL && n <= sizeof(zeros) &&
        EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) == 1 &&
        EVP_EncryptUpdate(ctx, out, &len, zeros, (int)n) == 1 && (size_t)len == n)
        ret = 0;
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int main(void)
{
    static uint8_t a[N], b[N], c[N], d[N];
    jarm_rng_t ra, rb, rc;
    size_t at, chunk;
    int good;

    ok(jarm_rng_init(&ra) == 0 && jarm_rng_init(&rb) == 0, "jarm_rng_init succeeds twice");

    /* Copy the state before any output, then read the same stream two ways. */
    memcpy(&rc, &ra, sizeof(ra));
    jarm_rng_fill(&ra, a, N);
    ok(distinct_bytes(a, N) > 200, "%d bytes are not constant (%zu distinct values)", N,
       distinct_bytes(a, N));
    jarm_rng_fill(&rb, b, N);
    ok(memcmp(a, b, N) != 0 && memcmp(a, b, 16) != 0, "two generators give different streams");
    ok(memcmp(a, a + 64, 64) != 0 && memcmp(a, a + 500, 64) != 0,
       "successive blocks of one stream differ");

    memset(c, 0, sizeof(c));
    for (at = 0, chunk = 1; at < N; at += chunk, chunk += 2) {
        if (chunk > N - at)
            chunk = N - at;
        jarm_rng_fill(&rc, c + at, chunk);
        jarm_rng_fill(&rc, c + at, 0); /* an empty fill consumes nothing */
    }
    ok(memcmp(a, c, N) == 0,
       "one %d-byte fill equals the copied state read in chunks of 1, 3, "
       "5, ... bytes",
       N);

    /* Copy mid-block: both copies continue with the same bytes. */
    memcpy(&rc, &ra, sizeof(ra));
    jarm_rng_fill(&ra, a, 13);
    jarm_rng_fill(&rc, c, 13);
    good = memcmp(a, c, 13) == 0;
    memcpy(&rb, &ra, sizeof(ra));
    jarm_rng_fill(&ra, a, N);
    for (at = 0; at < N; at += 7)
        jarm_rng_fill(&rb, b + at, N - at < 7 ? N - at : 7);
    ok(good && memcmp(a, b, N) == 0, "a state copied in the middle of a block continues the "
                                     "same stream in 7-byte reads");

    /* Known key and nonce: the RFC 8439 keystream, block counter from 0. */
    {
        static const uint8_t nonce[12] = {0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0};
        uint8_t key[32];
        jarm_rng_t rk;

        for (int i = 0; i < 32; i++)
            key[i] = (uint8_t)i;
        memset(&rk, 0, sizeof(rk));
        for (size_t i = 0; i < 8; i++)
            rk.key[i] = le32(key + 4 * i);
        for (size_t i = 0; i < 3; i++)
            rk.nonce[i] = le32(nonce + 4 * i);
        rk.counter = 0;
        rk.used = sizeof(rk.block);
        for (at = 0, chunk = 5; at < N; at += chunk)
            jarm_rng_fill(&rk, d + at, N - at < chunk ? N - at : chunk);
        ok(openssl_keystream(key, 0, nonce, c, N) == 0 && memcmp(c, d, N) == 0,
           "with the RFC 8439 key and nonce the stream is OpenSSL's ChaCha20 keystream");
    }
    return done_testing();
}
