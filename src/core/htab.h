/*
 * htab.h - the one hash table of the tree: open addressing with linear probing over slots
 * that each name a chain of records kept by the caller (fingerprint lists, baselines).
 *
 * The table holds no keys. A slot stores a key's 64-bit hash and the first and last index
 * of the caller's records with that key; the caller links the records of one key through a
 * field of its own, compares keys through a callback, and decides when to grow (keep the
 * table at most half full: jarm__htab_reset with twice the keys, then relink).
 */
#ifndef JARM_HTAB_H_
#define JARM_HTAB_H_

#include <stddef.h>
#include <stdint.h>

/* The index of no record: an empty slot's head, a chain's end. */
#define JARM__HTAB_NONE UINT32_MAX

typedef struct jarm__htslot_s {
    uint64_t hash;
    uint32_t head, tail; /* first and last record of the key; JARM__HTAB_NONE: empty slot */
} jarm__htslot_t;

typedef struct jarm__htab_s {
    jarm__htslot_t *slot; /* a power of two of them; NULL before the first reset */
    size_t mask;          /* slots - 1 */
    size_t keys;          /* slots in use */
} jarm__htab_t;

/* Whether record idx of the caller (ctx) has the key (key, klen bytes). */
typedef int (*jarm__htab_eq_fn)(const void *ctx, uint32_t idx, const void *key, size_t klen);

/* A 64-bit hash of n bytes with a seed (mixed with MurmurHash3's finaliser). */
uint64_t jarm__hash_bytes(const void *s, size_t n, uint64_t seed);

/* An empty table without slots. Never fails. */
void jarm__htab_init(jarm__htab_t *t);

/*
 * Replace t's slots by at least min_slots empty ones (a power of two, at least 16). Returns
 * 0, or -ENOMEM with t unchanged.
 */
int jarm__htab_reset(jarm__htab_t *t, size_t min_slots);

/* Empty every slot, keeping the size. */
void jarm__htab_clear(jarm__htab_t *t);

/* Release the slots; t is then as after jarm__htab_init. */
void jarm__htab_free(jarm__htab_t *t);

/*
 * The slot of the key with hash h (eq(ctx, slot's head, key, klen) says whether a slot with
 * that hash is the key's), or the empty slot where it would go. t must have slots and at
 * least one empty.
 */
jarm__htslot_t *jarm__htab_find(const jarm__htab_t *t, uint64_t h, jarm__htab_eq_fn eq,
                                const void *ctx, const void *key, size_t klen);

/*
 * Append record idx to the chain of slot s (found by jarm__htab_find with hash h).
 * Returns the index of the record that must now link to idx (the old tail), or
 * JARM__HTAB_NONE when idx starts a new key.
 */
uint32_t jarm__htab_append(jarm__htab_t *t, jarm__htslot_t *s, uint64_t h, uint32_t idx);

#endif /* JARM_HTAB_H_ */
