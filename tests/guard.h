/*
 * guard.h - place test buffers flush against an inaccessible page (picohttpparser's test
 * trick), so that reading or writing even one byte past the end faults at once, with or
 * without a sanitizer. A guard area is `size` usable bytes (whole pages) followed by one
 * PROT_NONE page; guard_place() copies n bytes so that they end exactly at the guard page and
 * returns where they start. A zero-length buffer then points at the guard page itself.
 */
#ifndef JARM_TESTS_GUARD_H_
#define JARM_TESTS_GUARD_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

typedef struct guard_s {
    uint8_t *map;   /* the whole mapping, usable pages then the guard page */
    size_t size;    /* usable bytes before the guard page */
    size_t map_len; /* size + one page */
} guard_t;

/* Map at least `max` usable bytes before a guard page. Returns 0, or -1 if mmap fails. */
static inline int guard_init(guard_t *g, size_t max)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p;

    g->size = (max + page - 1) / page * page;
    if (g->size == 0)
        g->size = page;
    g->map_len = g->size + page;
    p = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    g->map = p;
    if (mprotect(g->map + g->size, page, PROT_NONE) != 0) {
        munmap(g->map, g->map_len);
        return -1;
    }
    return 0;
}

/* Copy n bytes (n <= g->size) so they end right before the guard page; returns the start. */
static inline uint8_t *guard_place(guard_t *g, const void *src, size_t n)
{
    uint8_t *at = g->map + g->size - n;
    if (n > 0 && src != NULL)
        memcpy(at, src, n);
    return at;
}

/* The last n usable bytes, for an output buffer of capacity n that must not overflow. */
static inline uint8_t *guard_tail(guard_t *g, size_t n)
{
    return g->map + g->size - n;
}

static inline void guard_free(guard_t *g)
{
    munmap(g->map, g->map_len);
    g->map = NULL;
}

#endif /* JARM_TESTS_GUARD_H_ */
