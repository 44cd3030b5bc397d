/*
 * mem.c - the engine's memory: slabs of connections, targets and addresses (freed at
 * close), and a pool of JARM_RX_MAX receive buffers, so that the steady state allocates
 * nothing per connection.
 */
#include <stdlib.h>
#include <string.h>

#include "scan_int.h"

int jarm__mem_remember(jarm__scan_t *s, void *p)
{
    if (s->nblocks == s->blocks_cap) {
        size_t cap = s->blocks_cap ? s->blocks_cap * 2 : 64;
        void **b = realloc(s->blocks, cap * sizeof(*b));
        if (b == NULL)
            return -1;
        s->blocks = b;
        s->blocks_cap = cap;
    }
    s->blocks[s->nblocks++] = p;
    return 0;
}

/* The free list of connections is singly linked through node.next. */
jarm__conn_t *jarm__conn_get(jarm__scan_t *s)
{
    jarm__conn_t *c = s->free_conns;
    if (c == NULL) {
        jarm__conn_t *slab = calloc(JARM__SLAB, sizeof(*slab));
        if (slab == NULL || jarm__mem_remember(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < JARM__SLAB; i++) {
            slab[i].node.next = s->free_conns != NULL ? &s->free_conns->node : NULL;
            s->free_conns = &slab[i];
        }
        c = s->free_conns;
    }
    s->free_conns = c->node.next != NULL ? JARM__QUEUE_DATA(c->node.next, jarm__conn_t, node)
                                         : NULL;
    memset(c, 0, offsetof(jarm__conn_t, hs));
    jarm__queue_init(&c->node);
    c->s = s;
    c->fd = -1;
    return c;
}

void jarm__conn_put(jarm__scan_t *s, jarm__conn_t *c)
{
    c->node.next = s->free_conns != NULL ? &s->free_conns->node : NULL;
    s->free_conns = c;
}

/* The free list of targets is singly linked through node.next. */
jarm__target_t *jarm__target_get(jarm__scan_t *s)
{
    jarm__target_t *t = s->free_targets;
    if (t == NULL) {
        jarm__target_t *slab = calloc(JARM__SLAB / 4, sizeof(*slab));
        if (slab == NULL || jarm__mem_remember(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < JARM__SLAB / 4; i++) {
            slab[i].node.next = s->free_targets != NULL ? &s->free_targets->node : NULL;
            s->free_targets = &slab[i];
        }
        t = s->free_targets;
    }
    s->free_targets = t->node.next != NULL
                          ? JARM__QUEUE_DATA(t->node.next, jarm__target_t, node)
                          : NULL;
    /* Only the header needs clearing; strs_inline is written before it is read. */
    memset(t, 0, offsetof(jarm__target_t, strs_inline));
    jarm__queue_init(&t->node);
    t->strs = t->strs_inline;
    t->strs_cap = sizeof(t->strs_inline);
    return t;
}

void jarm__target_put(jarm__scan_t *s, jarm__target_t *t)
{
    jarm__certread_free(&t->cert);
    if (t->strs != t->strs_inline)
        free(t->strs);
    if (t->pass_data != NULL)
        jarm__passes_free(t->pass_data);
    t->node.next = s->free_targets != NULL ? &s->free_targets->node : NULL;
    s->free_targets = t;
}

uint8_t *jarm__rx_get(jarm__scan_t *s)
{
    if (s->free_rx_n > 0)
        return s->free_rx[--s->free_rx_n];
    return malloc(JARM_RX_MAX);
}

void jarm__rx_put(jarm__scan_t *s, uint8_t *rx)
{
    if (s->free_rx_n == s->free_rx_cap) {
        size_t cap = s->free_rx_cap ? s->free_rx_cap * 2 : 256;
        uint8_t **p = realloc(s->free_rx, cap * sizeof(*p));
        if (p == NULL) {
            free(rx);
            return;
        }
        s->free_rx = p;
        s->free_rx_cap = cap;
    }
    s->free_rx[s->free_rx_n++] = rx;
}

void jarm__mem_release(jarm__scan_t *s)
{
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i]);
    free(s->blocks);
    while (s->free_rx_n > 0)
        free(s->free_rx[--s->free_rx_n]);
    free(s->free_rx);
    s->blocks = NULL;
    s->free_rx = NULL;
    s->nblocks = s->blocks_cap = s->free_rx_cap = 0;
}
