/*
 * test_cyclic.c - the seeded permutation of [0, n) and its shards (suite 'unit').
 *
 * Exhaustive where the space allows it (every n in 1..300, several seeds and shard counts):
 * every element exactly once, positions strictly increasing, shards disjoint and complete;
 * then determinism per seed, seek and at() against a fresh walk, the safe prime and the
 * primitive root checked independently, and the limits (n = 0, 2^48, 2^62, 2^62 + 1).
 */
#include <stdlib.h>
#include <string.h>

#include "cyclic.h"
#include "tap.h"

static const uint64_t seeds[] = {0, 1, 2, 42, 0xdeadbeefu, UINT64_MAX};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))

/* Trial division: an oracle independent of the Miller-Rabin under test. */
static int slow_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    for (uint64_t d = 2; d * d <= n; d++) {
        if (n % d == 0)
            return 0;
    }
    return 1;
}

/*
 * Walk every shard of (n, seed, shards) and check: each element of [0, n) seen exactly
 * once over all shards, all in range, positions strictly increasing and < len. Returns 1 if
 * all hold; otherwise 0 with a reason in why.
 */
static int check_partition(uint64_t n, uint64_t seed, uint64_t shards, char *why, size_t wl)
{
    unsigned char *seen = calloc(n ? n : 1, 1);
    uint64_t count = 0;
    int good = 1;

    for (uint64_t s = 0; s < shards && good; s++) {
        jarm__cyclic_t c;
        uint64_t e, pos, last = 0;
        int first = 1;
        if (jarm__cyclic_init(&c, n, seed, s, shards) != 0) {
            (void)snprintf(why, wl, "init failed for shard %llu", (unsigned long long)s);
            good = 0;
            break;
        }
        while (jarm__cyclic_next(&c, &e, &pos)) {
            if (e >= n || seen[e] || pos >= c.len || (!first && pos <= last)) {
                (void)snprintf(why, wl, "n=%llu shard %llu: element %llu pos %llu (%s)",
                               (unsigned long long)n, (unsigned long long)s, (unsigned long long)e,
                               (unsigned long long)pos,
                               e >= n                    ? "out of range"
                               : pos >= c.len            ? "pos >= len"
                               : (!first && pos <= last) ? "position not increasing"
                                                         : "repeated");
                good = 0;
                break;
            }
            seen[e] = 1;
            count++;
            last = pos;
            first = 0;
        }
        if (good && jarm__cyclic_next(&c, &e, &pos)) {
            (void)snprintf(why, wl, "n=%llu shard %llu: next after the end returned 1",
                           (unsigned long long)n, (unsigned long long)s);
            good = 0;
        }
    }
    if (good && count != n) {
        (void)snprintf(why, wl, "n=%llu: %llu of %llu elements visited", (unsigned long long)n,
                       (unsigned long long)count, (unsigned long long)n);
        good = 0;
    }
    free(seen);
    return good;
}

static void test_bijection(void)
{
    static const uint64_t shard_counts[] = {1, 2, 3, 7};
    char why[160] = "";

    for (size_t k = 0; k < NSEEDS; k++) {
        int good = 1;
        for (uint64_t n = 1; n <= 300 && good; n++)
            good = check_partition(n, seeds[k], 1, why, sizeof(why));
        ok(good, "bijection for every n in 1..300, seed %llu%s%s", (unsigned long long)seeds[k],
           good ? "" : ": ", good ? "" : why);
    }
    for (size_t m = 0; m < sizeof(shard_counts) / sizeof(shard_counts[0]); m++) {
        int good = 1;
        for (size_t k = 0; k < 3 && good; k++) {
            for (uint64_t n = 1; n <= 300 && good; n++)
                good = check_partition(n, seeds[k], shard_counts[m], why, sizeof(why));
        }
        ok(good, "%llu shards: disjoint and complete for every n in 1..300, 3 seeds%s%s",
           (unsigned long long)shard_counts[m], good ? "" : ": ", good ? "" : why);
    }
    {
        int good = check_partition(100000, 7, 5, why, sizeof(why)) &&
                   check_partition(65537, 8, 1, why, sizeof(why)) &&
                   check_partition(1, 9, 64, why, sizeof(why));
        ok(good, "n=100000 in 5 shards, n=65537, n=1 in 64 shards%s%s", good ? "" : ": ",
           good ? "" : why);
    }
}

/* The first max elements of shard 0/1 for (n, seed) into out; returns how many. */
static size_t walk(uint64_t n, uint64_t seed, uint64_t *out, size_t max)
{
    jarm__cyclic_t c;
    size_t k = 0;
    if (jarm__cyclic_init(&c, n, seed, 0, 1) != 0)
        return 0;
    while (k < max && jarm__cyclic_next(&c, &out[k], NULL))
        k++;
    return k;
}

static void test_determinism(void)
{
    enum { N = 1000 };
    static uint64_t a[N], b[N], order[NSEEDS][N];
    int same = 1, distinct = 1, sorted = 0;

    for (size_t k = 0; k < NSEEDS; k++) {
        size_t x = walk(N, seeds[k], a, N), y = walk(N, seeds[k], b, N);
        same &= x == N && y == N && memcmp(a, b, sizeof(a)) == 0;
        memcpy(order[k], a, sizeof(a));
    }
    ok(same, "same seed, same order (n=1000, %zu seeds)", NSEEDS);
    for (size_t i = 0; i < NSEEDS; i++) {
        for (size_t j = i + 1; j < NSEEDS; j++)
            distinct &= memcmp(order[i], order[j], sizeof(order[i])) != 0;
    }
    ok(distinct, "different seeds, different orders (n=1000, %zu seeds pairwise)", NSEEDS);
    /* An identity-like walk would betray a broken generator: count ascending neighbours. */
    for (size_t i = 1; i < N; i++)
        sorted += order[0][i] > order[0][i - 1];
    ok(sorted > 350 && sorted < 650, "order looks shuffled: %d of 999 steps ascend", sorted);
}

static void test_seek(void)
{
    enum { N = 5000 };
    static uint64_t elems[N], poss[N];
    jarm__cyclic_t c, d;
    size_t k = 0;
    int good = 1, at_good = 1;
    uint64_t e, pos;

    jarm__cyclic_init(&c, N, 1234, 1, 3);
    while (jarm__cyclic_next(&c, &elems[k], &poss[k]))
        k++;
    /* Every position, not only those holding an element. */
    for (uint64_t p = 0; p <= c.len + 2; p++) {
        size_t j = 0;
        while (j < k && poss[j] < p)
            j++;
        jarm__cyclic_init(&d, N, 1234, 1, 3);
        jarm__cyclic_seek(&d, p);
        if (j < k) {
            good &= jarm__cyclic_next(&d, &e, &pos) && e == elems[j] && pos == poss[j];
        } else {
            good &= !jarm__cyclic_next(&d, &e, &pos);
        }
    }
    ok(good, "seek(p) then next == the first element at a position >= p, every p of a shard");
    for (size_t j = 0; j < k; j++)
        at_good &= jarm__cyclic_at(&c, poss[j], &e) && e == elems[j];
    at_good &= !jarm__cyclic_at(&c, c.len, &e);
    ok(at_good, "at(position) == the element a walk returned there (%zu elements)", k);
    /* Seeking backwards and forwards on one walker. */
    jarm__cyclic_seek(&d, poss[k / 2]);
    good = jarm__cyclic_next(&d, &e, &pos) && e == elems[k / 2];
    jarm__cyclic_seek(&d, 0);
    good &= jarm__cyclic_next(&d, &e, &pos) && e == elems[0];
    ok(good, "seek backwards and forwards on one walker");
}

static void test_params(void)
{
    static const uint64_t ns[] = {1,  2,  4,   5,    6,     10,    22,       23,       24,
                                  46, 47, 100, 1000, 65535, 65536, 1u << 24, 123456789};
    int good = 1;
    jarm__cyclic_t c;

    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        uint64_t p, q, gap = 0;
        jarm__cyclic_init(&c, ns[i], 99, 0, 1);
        p = c.p;
        q = (p - 1) / 2;
        good &= p > ns[i] && slow_prime(p) && slow_prime(q);
        /* The smallest: no safe prime strictly between n and p. */
        for (uint64_t x = ns[i] + 1; x < p && gap < 100000; x++, gap++)
            good &= !(slow_prime(x) && slow_prime((x - 1) / 2) && x % 2 == 1);
        /* g is a primitive root: g^2 != 1 and g^q != 1; s in [1, p-1]. */
        good &= jarm__powmod(c.g, 2, p) != 1 && jarm__powmod(c.g, q, p) != 1;
        good &= c.s >= 1 && c.s < p;
        if (!good) {
            note("n=%llu p=%llu g=%llu", (unsigned long long)ns[i], (unsigned long long)p,
                 (unsigned long long)c.g);
            break;
        }
    }
    ok(good, "p is the smallest safe prime > n, g a primitive root (trial division oracle)");
    good = 1;
    for (uint64_t n = 0; n < 3000; n++)
        good &= jarm__is_prime(n) == slow_prime(n);
    good &= jarm__is_prime(18446744073709551557u) && !jarm__is_prime(18446744073709551556u);
    good &= !jarm__is_prime(3215031751u) && !jarm__is_prime(3825123056546413051u);
    ok(good, "Miller-Rabin agrees with trial division below 3000, and on strong pseudoprimes");
    good = jarm__mulmod(UINT64_MAX, UINT64_MAX, 18446744073709551557u) ==
               jarm__powmod(UINT64_MAX - 18446744073709551557u, 2, 18446744073709551557u) &&
           jarm__mulmod(1u << 31, 1u << 31, 1000000007u) == ((uint64_t)1 << 62) % 1000000007u;
    ok(good, "mulmod near 2^64");
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_limits(void)
{
    enum { STEPS = 200000 };
    static uint64_t got[STEPS];
    jarm__cyclic_t c;
    uint64_t e, pos, big = (uint64_t)1 << 48;
    size_t k;
    int good, tail;

    ok(jarm__cyclic_init(&c, 0, 1, 0, 1) == 0 && c.len == 0 && !jarm__cyclic_next(&c, &e, &pos),
       "n = 0: an empty walk");
    ok(jarm__cyclic_init(&c, JARM__CYCLIC_MAX + 1, 1, 0, 1) != 0, "n = 2^62 + 1 refused");
    ok(jarm__cyclic_init(&c, 10, 1, 0, 0) != 0 && jarm__cyclic_init(&c, 10, 1, 3, 3) != 0 &&
           jarm__cyclic_init(&c, 10, 1, 0, ((uint64_t)1 << 32) + 1) != 0,
       "bad shards refused (0 shards, i >= n, n > 2^32)");
    good = jarm__cyclic_init(&c, JARM__CYCLIC_MAX, 5, 3, 4) == 0;
    ok(good && c.p > JARM__CYCLIC_MAX && c.p < ((uint64_t)1 << 63) &&
           jarm__cyclic_next(&c, &e, &pos) && e < JARM__CYCLIC_MAX,
       "n = 2^62: p = 2^62 + %llu, walks", (unsigned long long)(c.p - JARM__CYCLIC_MAX));

    /* 2^32 addresses x 65536 ports: the first steps are distinct and in range. */
    good = jarm__cyclic_init(&c, big, 77, 0, 1) == 0;
    for (k = 0; k < STEPS && jarm__cyclic_next(&c, &got[k], NULL); k++)
        good &= got[k] < big;
    qsort(got, k, sizeof(got[0]), u64_cmp);
    for (size_t i = 1; i < k; i++)
        good &= got[i] != got[i - 1];
    ok(good && k == STEPS, "n = 2^48: the first %zu steps distinct and in range", k);

    /* The tail of the walk: from len - 64 on, next agrees with at(), then ends. */
    jarm__cyclic_seek(&c, c.len - 64);
    tail = 1;
    while (jarm__cyclic_next(&c, &e, &pos)) {
        uint64_t f;
        tail &= pos >= c.len - 64 && pos < c.len && jarm__cyclic_at(&c, pos, &f) && f == e;
    }
    tail &= c.pos == c.len && !jarm__cyclic_next(&c, &e, &pos);
    ok(tail, "n = 2^48: seek near the end, walk out, stay ended");
}

int main(void)
{
    test_bijection();
    test_determinism();
    test_seek();
    test_params();
    test_limits();
    return done_testing();
}
