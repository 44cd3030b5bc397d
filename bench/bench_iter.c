/*
 * bench_iter.c - the sweep iterator's throughput and memory (suite 'micro').
 *
 * Usage: bench_iter [BLOCKLIST]   (contrib/blocklist.conf; without it no blocklist is used)
 *
 * Every case walks targets through the whole pipeline - cyclic permutation, shard,
 * address/port decoding, blocklist lookup, sockaddr fill - and reports targets handed out
 * per second (stepped-over positions and denied targets cost time but are not counted):
 *   iter         100.0.0.0/8 x 1 port, shard 0/1, all 2^24 positions (a quarter of the /8,
 *                100.64.0.0/10, is denied by the default list)
 *   iter_shard   the same /8, shard 3/4
 *   iter_ports   100.0.0.0/12 x 16 ports (2^24 targets, several ports per address)
 *   iter_v4all   0.0.0.0/0 x 443, the first 2^24 positions: the cycle's prime is above
 *                2^32, so every step is a 128-bit modular multiplication
 *   iter_v6      2001:db8::/104 x 443 (2^24 addresses, IPv6 lookups)
 *   iter_mem_kib the process's peak resident set (VmHWM) after walking the /8: the walk
 *                allocates nothing per target, so this is the program's baseline
 *   iter_mem_base_kib VmHWM before the blocklist and the iterator existed
 * Compare figures only between runs on the same machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iter.h"

static volatile uint64_t bench_sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM from /proc/self/status in KiB, or -1. */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    (void)fclose(f);
    return kib;
}

static jarm__range_t range_of(const char *s)
{
    jarm__range_t r;
    char err[160];
    if (jarm__range_parse(s, strlen(s), JARM__RANGE_FORCE, &r, err, sizeof(err)) !=
        JARM__RANGE_OK) {
        (void)fprintf(stderr, "bench_iter: %s\n", err);
        exit(1);
    }
    return r;
}

/* Walk up to max positions of one shard; prints "name  N targets/s". */
static int run(const char *name, const char *range, const uint16_t *ports, size_t nports,
               uint32_t shard_i, uint32_t shard_n, uint64_t max, const jarm__blocklist_t *bl)
{
    jarm__range_t r = range_of(range);
    jarm__iter_t it;
    struct sockaddr_storage ss;
    uint64_t idx, n = 0, sink = 0;
    char err[200];
    double t0, t1;

    if (jarm__iter_init(&it, &r, 1, ports, nports, 0x5eed, shard_i, shard_n, bl, err,
                        sizeof(err)) != 0) {
        (void)fprintf(stderr, "bench_iter: %s\n", err);
        return -1;
    }
    t0 = now();
    while (jarm__iter_position(&it) < max && jarm__iter_next(&it, &ss, &idx)) {
        sink += idx ^ ((const unsigned char *)&ss)[4];
        n++;
    }
    t1 = now();
    bench_sink = sink;
    printf("%-12s %12.0f targets/s   (%llu targets, %llu denied, %.3f s, %.1f ns/target)\n", name,
           (double)n / (t1 - t0), (unsigned long long)n, (unsigned long long)it.blocked, t1 - t0,
           (t1 - t0) * 1e9 / (double)(n ? n : 1));
    jarm__iter_free(&it);
    return 0;
}

int main(int argc, char **argv)
{
    static const uint16_t p443[] = {443};
    uint16_t p16[16];
    jarm__blocklist_t bl;
    const jarm__blocklist_t *blp = NULL;
    long base = vm_hwm_kib();
    int ret = 0;

    for (int i = 0; i < 16; i++)
        p16[i] = (uint16_t)(8000 + i);
    if (jarm__blocklist_init(&bl, 1) != 0)
        return 1;
    if (argc > 1) {
        char err[256];
        if (jarm__blocklist_load(&bl, argv[1], 0, err, sizeof(err)) < 0) {
            (void)fprintf(stderr, "bench_iter: %s\n", err);
            return 1;
        }
        blp = &bl;
    } else {
        (void)fprintf(stderr, "bench_iter: no blocklist given, measuring without one\n");
    }

    ret |= run("iter", "100.0.0.0/8", p443, 1, 0, 1, UINT64_MAX, blp);
    printf("%-12s %12ld\n", "iter_mem_kib", vm_hwm_kib());
    printf("%-12s %12ld\n", "iter_mem_base_kib", base);
    ret |= run("iter_shard", "100.0.0.0/8", p443, 1, 3, 4, UINT64_MAX, blp);
    ret |= run("iter_ports", "100.0.0.0/12", p16, 16, 0, 1, UINT64_MAX, blp);
    ret |= run("iter_v4all", "0.0.0.0/0", p443, 1, 0, 1, (uint64_t)1 << 24, blp);
    ret |= run("iter_v6", "2001:db8::/104", p443, 1, 0, 1, UINT64_MAX, NULL);
    jarm__blocklist_free(&bl);
    return ret != 0;
}
