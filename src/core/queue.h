/*
 * queue.h - an intrusive, circular, doubly linked list.
 *
 * A list is a jarm__queue_t head; an element embeds a jarm__queue_t node and is found from
 * it with JARM__QUEUE_DATA. The head links to itself when the list is empty, and a node
 * that was removed links to itself too, so removing a node twice, or one that was never
 * inserted but initialised, is harmless. Every operation is O(1) and none allocates.
 */
#ifndef JARM_QUEUE_H_
#define JARM_QUEUE_H_

#include <stddef.h>

typedef struct jarm__queue_s {
    struct jarm__queue_s *next, *prev;
} jarm__queue_t;

#define JARM__QUEUE_DATA(node, type, field) \
    ((type *)(void *)((char *)(node)-offsetof(type, field)))

/* for (node = first; node != head; node = node->next), the next taken before the body, so
 * the body may remove node. */
#define JARM__QUEUE_FOREACH_SAFE(node, tmp, head) \
    for ((node) = (head)->next, (tmp) = (node)->next; (node) != (head); \
         (node) = (tmp), (tmp) = (node)->next)

static inline void jarm__queue_init(jarm__queue_t *q)
{
    q->next = q;
    q->prev = q;
}

static inline int jarm__queue_empty(const jarm__queue_t *head)
{
    return head->next == head;
}

/* The first element's node, or NULL when the list is empty. */
static inline jarm__queue_t *jarm__queue_first(const jarm__queue_t *head)
{
    return head->next != head ? head->next : NULL;
}

/* The element after node in the list headed by head, or NULL. */
static inline jarm__queue_t *jarm__queue_after(const jarm__queue_t *head, const jarm__queue_t *node)
{
    return node->next != head ? node->next : NULL;
}

/* The element before node, or NULL when node is the first. */
static inline jarm__queue_t *jarm__queue_before(const jarm__queue_t *head,
                                                const jarm__queue_t *node)
{
    return node->prev != head ? node->prev : NULL;
}

/* Insert node after pos (a head or an element): after a head is at the front. */
static inline void jarm__queue_insert_after(jarm__queue_t *pos, jarm__queue_t *node)
{
    node->prev = pos;
    node->next = pos->next;
    pos->next->prev = node;
    pos->next = node;
}

static inline void jarm__queue_insert_head(jarm__queue_t *head, jarm__queue_t *node)
{
    jarm__queue_insert_after(head, node);
}

static inline void jarm__queue_insert_tail(jarm__queue_t *head, jarm__queue_t *node)
{
    jarm__queue_insert_after(head->prev, node);
}

static inline void jarm__queue_remove(jarm__queue_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node;
    node->prev = node;
}

#endif /* JARM_QUEUE_H_ */
