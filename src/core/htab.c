/*
 * htab.c - see htab.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

uint64_t jarm__hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15u ^ seed ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 29;
    }
    w = 0;
    if (n > 0)
        memcpy(&w, s, n);
    h = (h ^ w) * 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

void jarm__htab_init(jarm__htab_t *t)
{
    memset(t, 0, sizeof(*t));
}

void jarm__htab_clear(jarm__htab_t *t)
{
    if (t->slot != NULL)
        for (size_t i = 0; i <= t->mask; i++)
            t->slot[i].head = t->slot[i].tail = JARM__HTAB_NONE;
    t->keys = 0;
}

int jarm__htab_reset(jarm__htab_t *t, size_t min_slots)
{
    size_t size = 16;
    jarm__htslot_t *s;

    while (size < min_slots) {
        if (size > SIZE_MAX / 2 / sizeof(*s))
            return -ENOMEM;
        size *= 2;
    }
    if ((s = malloc(size * sizeof(*s))) == NULL)
        return -ENOMEM;
    free(t->slot);
    t->slot = s;
    t->mask = size - 1;
    jarm__htab_clear(t);
    return 0;
}

void jarm__htab_free(jarm__htab_t *t)
{
    free(t->slot);
    jarm__htab_init(t);
}

jarm__htslot_t *jarm__htab_find(const jarm__htab_t *t, uint64_t h, jarm__htab_eq_fn eq,
                                const void *ctx, const void *key, size_t klen)
{
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        jarm__htslot_t *s = &t->slot[i];
        if (s->head == JARM__HTAB_NONE || (s->hash == h && eq(ctx, s->head, key, klen)))
            return s;
    }
}

uint32_t jarm__htab_append(jarm__htab_t *t, jarm__htslot_t *s, uint64_t h, uint32_t idx)
{
    uint32_t prev = s->tail;

    if (s->head == JARM__HTAB_NONE) {
        s->hash = h;
        s->head = idx;
        t->keys++;
        prev = JARM__HTAB_NONE;
    }
    s->tail = idx;
    return prev;
}
