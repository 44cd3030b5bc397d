/*
 * rng.c - probe randomness: a ChaCha20 keystream keyed from RAND_bytes.
 *
 * Every probe needs 96 random bytes plus GREASE choices, tens of thousands of times a
 * second. Asking OpenSSL's DRBG each time works but costs a lock and a provider call per
 * request; a ChaCha20 keystream (RFC 8439 block function, 256-bit key from RAND_bytes, a
 * random nonce, a 32-bit block counter) is as unpredictable for this purpose and costs a
 * few nanoseconds per byte. When the counter wraps the generator rekeys from its own output.
 */
#include <string.h>

#include <openssl/rand.h>

#include "jarm.h"

#define ROTL(v, n) ((uint32_t)((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)   \
    do {                 \
        a += b;          \
        d ^= a;          \
        d = ROTL(d, 16); \
        c += d;          \
        b ^= c;          \
        b = ROTL(b, 12); \
        a += b;          \
        d ^= a;          \
        d = ROTL(d, 8);  \
        c += d;          \
        b ^= c;          \
        b = ROTL(b, 7);  \
    } while (0)

static void chacha_block(jarm_rng_t *rng)
{
    uint32_t in[16], x[16];

    in[0] = 0x61707865;
    in[1] = 0x3320646e;
    in[2] = 0x79622d32;
    in[3] = 0x6b206574;
    memcpy(in + 4, rng->key, sizeof(rng->key));
    in[12] = rng->counter++;
    memcpy(in + 13, rng->nonce, sizeof(rng->nonce));
    memcpy(x, in, sizeof(x));
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t v = x[i] + in[i];
        rng->block[4 * i] = (uint8_t)v;
        rng->block[4 * i + 1] = (uint8_t)(v >> 8);
        rng->block[4 * i + 2] = (uint8_t)(v >> 16);
        rng->block[4 * i + 3] = (uint8_t)(v >> 24);
    }
    rng->used = 0;
    if (rng->counter == 0) { /* 2^32 blocks: rekey from the stream before it could repeat */
        memcpy(rng->key, rng->block, sizeof(rng->key));
        memset(rng->block, 0, sizeof(rng->key));
        rng->used = sizeof(rng->key);
    }
}

int jarm_rng_init(jarm_rng_t *rng)
{
    uint8_t seed[sizeof(rng->key) + sizeof(rng->nonce)];

    if (RAND_bytes(seed, sizeof(seed)) != 1)
        return JARM_EINVAL;
    memcpy(rng->key, seed, sizeof(rng->key));
    memcpy(rng->nonce, seed + sizeof(rng->key), sizeof(rng->nonce));
    memset(seed, 0, sizeof(seed));
    rng->counter = 0;
    rng->used = sizeof(rng->block);
    return 0;
}

void jarm_rng_fill(void *ctx, uint8_t *buf, size_t len)
{
    jarm_rng_t *rng = ctx;

    while (len > 0) {
        size_t n;
        if (rng->used >= sizeof(rng->block))
            chacha_block(rng);
        n = sizeof(rng->block) - rng->used;
        if (n > len)
            n = len;
        memcpy(buf, rng->block + rng->used, n);
        memset(rng->block + rng->used, 0, n); /* never hand out the same bytes twice */
        rng->used += (unsigned)n;
        buf += n;
        len -= n;
    }
}
