/*
 * cyclic.h - a seeded permutation of [0, n) walked in O(1) memory, split into shards.
 *
 * The walk is zmap's: the multiplicative group of integers modulo a prime p > n is cyclic,
 * so the powers of a primitive root g, times a start s, visit every value 1..p-1 exactly
 * once; value v stands for element v - 1, and values >= n + 1 are stepped over. p, g and s
 * depend only on (n, seed), so every shard of one sweep walks the same cycle. Shard i of m
 * takes cycle positions i, i + m, i + 2m, ...; its "position" k is the k-th of those.
 * See cyclic.c for why this is a bijection and why the shards are disjoint and complete.
 */
#ifndef JARM_CYCLIC_H_
#define JARM_CYCLIC_H_

#include <stddef.h>
#include <stdint.h>

/* The largest n: 2^62 (2^32 addresses x 65536 ports is 2^48). */
#define JARM__CYCLIC_MAX ((uint64_t)1 << 62)

typedef struct jarm__cyclic_s {
    uint64_t n;       /* elements: [0, n) */
    uint64_t p;       /* the smallest safe prime > n (p = 2q + 1, q prime) */
    uint64_t g;       /* a primitive root modulo p, chosen by the seed */
    uint64_t s;       /* the start value in [1, p-1], chosen by the seed */
    uint64_t shard_i; /* this shard, < shard_n */
    uint64_t shard_n; /* shards */
    uint64_t step;    /* g^shard_n mod p */
    uint64_t len;     /* positions in this shard: ceil((p - 1 - shard_i) / shard_n) */
    uint64_t pos;     /* the next position to look at, <= len */
    uint64_t cur;     /* the value at pos (when pos < len) */
} jarm__cyclic_t;

/*
 * Prepare the walk of shard shard_i of shard_n over [0, n) for seed. n may be 0 (an empty
 * walk). Returns 0, or -1 if n > JARM__CYCLIC_MAX, shard_n is 0 or above 2^32, or
 * shard_i >= shard_n. The struct holds no pointers: copy it freely, no cleanup.
 */
int jarm__cyclic_init(jarm__cyclic_t *c, uint64_t n, uint64_t seed, uint64_t shard_i,
                      uint64_t shard_n);

/*
 * The next element of this shard: returns 1 with *elem in [0, n) and its position in *pos
 * (may be NULL), or 0 once the shard is exhausted (and on every later call). Positions
 * increase strictly; positions holding no element (values > n) are stepped over.
 */
static inline int jarm__cyclic_next(jarm__cyclic_t *c, uint64_t *elem, uint64_t *pos);

/*
 * Continue from position pos: the next jarm__cyclic_next returns the first element at a
 * position >= pos (none if pos >= len). O(log p): one modular exponentiation.
 */
void jarm__cyclic_seek(jarm__cyclic_t *c, uint64_t pos);

/*
 * The element at position pos of this shard, without moving: returns 1 with *elem, or 0 if
 * pos >= len or the position holds no element. O(log p).
 */
int jarm__cyclic_at(const jarm__cyclic_t *c, uint64_t pos, uint64_t *elem);

/* (a * b) mod m for any 64-bit a, b and m > 0. */
uint64_t jarm__mulmod(uint64_t a, uint64_t b, uint64_t m);
/* (b ^ e) mod m, m > 0. */
uint64_t jarm__powmod(uint64_t b, uint64_t e, uint64_t m);
/* Whether n is prime (deterministic Miller-Rabin for all 64-bit n). */
int jarm__is_prime(uint64_t n);

static inline uint64_t jarm__cyclic_mul_(const jarm__cyclic_t *c, uint64_t a, uint64_t b)
{
    /* Below 2^32 the product fits 64 bits: one plain division instead of a 128-bit one. */
    if (c->p <= ((uint64_t)1 << 32))
        return a * b % c->p;
    return jarm__mulmod(a, b, c->p);
}

static inline int jarm__cyclic_next(jarm__cyclic_t *c, uint64_t *elem, uint64_t *pos)
{
    while (c->pos < c->len) {
        uint64_t v = c->cur;
        c->pos++;
        c->cur = jarm__cyclic_mul_(c, v, c->step);
        if (v <= c->n) {
            *elem = v - 1;
            if (pos != NULL)
                *pos = c->pos - 1;
            return 1;
        }
    }
    return 0;
}

#endif /* JARM_CYCLIC_H_ */
