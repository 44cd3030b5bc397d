/*
 * cyclic.c - the seeded permutation of [0, n) behind a sweep's scan order (after zmap's
 * src/sweep/cyclic.c).
 *
 * Why it is a permutation. For a prime p the nonzero residues modulo p form a cyclic group
 * of order p - 1 under multiplication: some g (a primitive root) has powers g^0, g^1, ...,
 * g^(p-2) that are pairwise distinct and so are all of 1..p-1. Multiplying by a fixed s in
 * 1..p-1 is itself a bijection of the group, so position c in [0, p-1) -> value
 * s * g^c mod p is a bijection onto 1..p-1. Value v stands for element v - 1; with p > n
 * the elements 0..n-1 are the values 1..n, each met at exactly one position, and the
 * positions whose value exceeds n are stepped over. Nothing is remembered: the next value
 * is the previous one times g, so the walk costs one modular multiplication per position
 * and a few words of memory whatever n is.
 *
 * Why safe primes. Proving g primitive needs the prime factors r of p - 1: g is a
 * primitive root iff g^((p-1)/r) != 1 for each of them. zmap keeps a table of fixed primes
 * (2^32 + 15, ...) whose p - 1 was factored once, at the price of stepping over up to
 * 15/16 of the cycle when n is just above a power of two. We take the smallest safe prime
 * p = 2q + 1 (q prime) above n instead: p - 1 = 2q factors by construction, g in
 * [2, p-2] is primitive iff g^q != 1, and the average gap between safe primes near n is a
 * few hundred for n ~ 2^32, so almost no positions are wasted. Half of [2, p-2] are
 * primitive roots; the seed picks candidates until one is.
 *
 * Why shards are disjoint and complete. Shard i of m owns the positions c = i + k*m
 * (k = 0, 1, ...) with c < p - 1: the residues of c modulo m split [0, p-1) into m disjoint
 * classes whose union is all of it, and the same (p, g, s) - a function of (n, seed) only -
 * is used by every shard. Within a shard, value(k + 1) = value(k) * g^m, so a shard walks
 * as cheaply as the whole cycle, and positions interleave so that every shard sees a
 * uniform sample of the space (zmap's scheme; masscan's "start offset plus stride").
 *
 * Why seek is cheap. The value at shard position k is s * g^(i + k*m) mod p: one modular
 * exponentiation, O(log p) multiplications. A resumed run therefore only needs the position
 * to continue from (see iter.h for the checkpoint semantics).
 *
 * Arithmetic. p < 2^63 (n <= 2^62 and a safe prime lies below 2n), so products need 128
 * bits; below p = 2^32 the 64-bit product suffices (cyclic.h).
 */
#include "cyclic.h"

uint64_t jarm__mulmod(uint64_t a, uint64_t b, uint64_t m)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)((u128)a * b % m);
#else
    uint64_t r = 0;
    a %= m;
    b %= m;
    while (b != 0) {
        if (b & 1)
            r = r >= m - a ? r - (m - a) : r + a;
        b >>= 1;
        a = a >= m - a ? a - (m - a) : a + a;
    }
    return r;
#endif
}

uint64_t jarm__powmod(uint64_t b, uint64_t e, uint64_t m)
{
    uint64_t r = 1 % m;
    b %= m;
    while (e != 0) {
        if (e & 1)
            r = jarm__mulmod(r, b, m);
        b = jarm__mulmod(b, b, m);
        e >>= 1;
    }
    return r;
}

static const uint64_t small_primes[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                        43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

int jarm__is_prime(uint64_t n)
{
    /* These twelve bases decide primality for every n < 3.3 * 10^24. */
    static const uint64_t bases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    uint64_t d;
    unsigned r = 0;

    if (n < 2)
        return 0;
    for (size_t i = 0; i < sizeof(small_primes) / sizeof(small_primes[0]); i++) {
        if (n % small_primes[i] == 0)
            return n == small_primes[i];
    }
    d = n - 1;
    while ((d & 1) == 0) {
        d >>= 1;
        r++;
    }
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        uint64_t x = jarm__powmod(bases[i], d, n);
        unsigned j;
        if (x == 1 || x == n - 1)
            continue;
        for (j = 1; j < r; j++) {
            x = jarm__mulmod(x, x, n);
            if (x == n - 1)
                break;
        }
        if (j == r)
            return 0;
    }
    return 1;
}

/* The smallest safe prime p > n (p = 2q + 1 with q prime); n < 2^62. */
static uint64_t next_safe_prime(uint64_t n)
{
    static const uint64_t first[] = {5, 7, 11, 23};
    uint64_t p;

    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        if (first[i] > n)
            return first[i];
    }
    /* Above 7 a safe prime is 11 mod 12: q odd makes p = 3 mod 4, q != 3 makes p = 2 mod 3. */
    p = n + 1 + (11 + 12 - (n + 1) % 12) % 12;
    for (;; p += 12) {
        uint64_t q = (p - 1) / 2;
        int sieved = 1;
        for (size_t i = 2; i < sizeof(small_primes) / sizeof(small_primes[0]); i++) {
            if (q % small_primes[i] == 0 || p % small_primes[i] == 0) {
                sieved = q == small_primes[i];
                break;
            }
        }
        if (sieved && jarm__is_prime(q) && jarm__is_prime(p))
            return p;
    }
}

/* splitmix64 (Steele, Lea, Flood): a well-mixed 64-bit sequence from any seed. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

int jarm__cyclic_init(jarm__cyclic_t *c, uint64_t n, uint64_t seed, uint64_t shard_i,
                      uint64_t shard_n)
{
    uint64_t state = seed ^ 0x6a61726d73776570u; /* "jarmswep": seed 0 is not special */
    uint64_t q;

    if (n > JARM__CYCLIC_MAX || shard_n == 0 || shard_n > ((uint64_t)1 << 32) || shard_i >= shard_n)
        return -1;
    c->n = n;
    c->p = next_safe_prime(n);
    q = (c->p - 1) / 2;
    do
        c->g = 2 + splitmix64(&state) % (c->p - 3);
    while (jarm__powmod(c->g, q, c->p) == 1);
    c->s = 1 + splitmix64(&state) % (c->p - 1);
    c->shard_i = shard_i;
    c->shard_n = shard_n;
    c->step = jarm__powmod(c->g, shard_n, c->p);
    c->len = n == 0 || shard_i >= c->p - 1 ? 0 : (c->p - 2 - shard_i) / shard_n + 1;
    jarm__cyclic_seek(c, 0);
    return 0;
}

/* The value at shard position k < len: s * g^(i + k*m); i + k*m < p - 1, no overflow. */
static uint64_t value_at(const jarm__cyclic_t *c, uint64_t k)
{
    return jarm__mulmod(c->s, jarm__powmod(c->g, c->shard_i + k * c->shard_n, c->p), c->p);
}

void jarm__cyclic_seek(jarm__cyclic_t *c, uint64_t pos)
{
    c->pos = pos < c->len ? pos : c->len;
    c->cur = c->pos < c->len ? value_at(c, c->pos) : 0;
}

int jarm__cyclic_at(const jarm__cyclic_t *c, uint64_t pos, uint64_t *elem)
{
    uint64_t v;
    if (pos >= c->len)
        return 0;
    v = value_at(c, pos);
    if (v > c->n)
        return 0;
    *elem = v - 1;
    return 1;
}
