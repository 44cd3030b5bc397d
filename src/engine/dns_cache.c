/*
 * dns_cache.c - the resolver's name cache.
 *
 * Entries are keyed by the lower-cased name without its trailing dot (jarm__hash_bytes,
 * chained buckets that double with the entry count). An entry is either being queried (it
 * carries the waiting requests: the first inline, later ones in nodes kept on a free list) or
 * done (status plus compact addresses, on an LRU list). A request for a done entry is answered
 * at once; for an entry being queried it is appended to its waiters, so one query serves every
 * request for a name. Only done entries are evicted, least recently used first, before a new
 * entry is inserted while cache_max entries exist; as entries being queried number at most
 * max_outstanding, the cache never holds more than max(cache_max, max_outstanding) entries.
 * Every result but JARM__DNS_ERROR (cancellation, no memory, bad reply) is cached for the run:
 * a name that timed out once is not retried for each of its ports.
 */
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "resolver_int.h"

/* Initial hash buckets; the table doubles when it holds more entries than buckets. */
#define BUCKETS_INIT 256
/* Spare waiter nodes kept for reuse at most. */
#define FREE_WAITERS_MAX 1024

/* ----------------------------------------------------------------------------------------
 * Keys and addresses
 */

int jarm__dns_make_key(const char *name, char *key)
{
    size_t len = strnlen(name, DNS_NAME_MAX_LEN + 2), i;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > DNS_NAME_MAX_LEN)
        return -1;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c | 0x20);
        key[i] = c;
    }
    key[len] = '\0';
    return (int)len;
}

static void addr_to_ss(const dns_addr_t *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 4) {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, a->bytes, 4);
        memcpy(ss, &sin, sizeof(sin));
    } else {
        struct sockaddr_in6 sin6;
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        memcpy(&sin6.sin6_addr, a->bytes, 16);
        memcpy(ss, &sin6, sizeof(sin6));
    }
}

void jarm__dns_deliver(jarm__resolve_cb cb, void *data, jarm__dns_status_t status,
                       const dns_addr_t *addrs, size_t n)
{
    struct sockaddr_storage ss[JARM__DNS_MAX_ADDRS];
    size_t i;

    for (i = 0; i < n; i++)
        addr_to_ss(&addrs[i], &ss[i]);
    cb(data, status, n != 0 ? ss : NULL, n);
}

/* ----------------------------------------------------------------------------------------
 * Table
 */

int jarm__dns_cache_init(jarm__resolver_t *r)
{
    r->buckets = calloc(BUCKETS_INIT, sizeof(*r->buckets)); /* NOLINT(bugprone-sizeof-expression) */
    if (r->buckets == NULL)
        return UV_ENOMEM;
    r->nbuckets = BUCKETS_INIT;
    return 0;
}

static void entry_free(dns_entry_t *e)
{
    free(e->addrs);
    free(e);
}

/* Call fn(r, e) for every entry; fn may unlink and free e. */
static void cache_foreach(jarm__resolver_t *r, void (*fn)(jarm__resolver_t *r, dns_entry_t *e))
{
    size_t i;

    for (i = 0; i < r->nbuckets; i++) {
        dns_entry_t *e = r->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            fn(r, e);
        }
    }
}

static void entry_drop(jarm__resolver_t *r, dns_entry_t *e)
{
    (void)r;
    entry_free(e);
}

void jarm__dns_cache_free(jarm__resolver_t *r)
{
    cache_foreach(r, entry_drop);
    free(r->buckets);
    r->buckets = NULL;
    r->nbuckets = r->nentries = 0;
    jarm__queue_init(&r->lru);
    while (r->free_waiters != NULL) {
        dns_waiter_t *w = r->free_waiters;
        r->free_waiters = w->next;
        free(w);
    }
    r->nfree_waiters = 0;
}

dns_entry_t *jarm__dns_cache_find(const jarm__resolver_t *r, const char *key, size_t len,
                                  uint32_t hash)
{
    dns_entry_t *e;

    for (e = r->buckets[hash & (r->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == hash && e->name_len == len && memcmp(e->name, key, len) == 0)
            return e;
    return NULL;
}

/* Double the bucket array; on allocation failure the chains just grow longer. */
static void cache_grow(jarm__resolver_t *r)
{
    size_t n = r->nbuckets * 2, i;
    dns_entry_t **b = calloc(n, sizeof(*b)); /* NOLINT(bugprone-sizeof-expression) */

    if (b == NULL)
        return;
    for (i = 0; i < r->nbuckets; i++) {
        dns_entry_t *e = r->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static void cache_insert(jarm__resolver_t *r, dns_entry_t *e)
{
    dns_entry_t **head;

    if (r->nentries >= r->nbuckets)
        cache_grow(r);
    head = &r->buckets[e->hash & (r->nbuckets - 1)];
    e->hnext = *head;
    *head = e;
    r->nentries++;
}

static void cache_unlink(jarm__resolver_t *r, dns_entry_t *e)
{
    dns_entry_t **pp = &r->buckets[e->hash & (r->nbuckets - 1)];

    while (*pp != e) {
        assert(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    r->nentries--;
}

/* Drop least recently used done entries until a new entry fits under cache_max. */
static void cache_make_room(jarm__resolver_t *r)
{
    while (r->nentries >= r->opts.cache_max && !jarm__queue_empty(&r->lru)) {
        dns_entry_t *e = JARM__QUEUE_DATA(r->lru.prev, dns_entry_t, lru);
        jarm__queue_remove(&e->lru);
        cache_unlink(r, e);
        entry_free(e);
        r->stats.evictions++;
    }
}

/* ----------------------------------------------------------------------------------------
 * Entries and their requests
 */

static dns_waiter_t *waiter_get(jarm__resolver_t *r)
{
    dns_waiter_t *w = r->free_waiters;

    if (w != NULL) {
        r->free_waiters = w->next;
        r->nfree_waiters--;
        return w;
    }
    return malloc(sizeof(*w));
}

void jarm__dns_waiter_put(jarm__resolver_t *r, dns_waiter_t *w)
{
    if (r->nfree_waiters >= FREE_WAITERS_MAX) {
        free(w);
        return;
    }
    w->next = r->free_waiters;
    r->free_waiters = w;
    r->nfree_waiters++;
}

int jarm__dns_cache_request(jarm__resolver_t *r, dns_entry_t *e, jarm__resolve_cb cb, void *data)
{
    if (e->state == E_DONE) {
        r->stats.cache_hits++;
        jarm__queue_remove(&e->lru); /* most recent first */
        jarm__queue_insert_head(&r->lru, &e->lru);
        jarm__dns_deliver(cb, data, (jarm__dns_status_t)e->status, e->addrs, e->naddrs);
        return 0;
    }
    if (e->first.cb == NULL) {
        e->first.cb = cb;
        e->first.data = data;
    } else {
        dns_waiter_t *w = waiter_get(r);
        if (w == NULL)
            return UV_ENOMEM;
        w->cb = cb;
        w->data = data;
        w->next = NULL;
        if (e->last != NULL)
            e->last->next = w;
        else
            e->first.next = w;
        e->last = w;
    }
    r->stats.coalesced++;
    return 0;
}

dns_entry_t *jarm__dns_entry_new(jarm__resolver_t *r, const char *key, size_t len, uint32_t hash,
                                 jarm__resolve_cb cb, void *data)
{
    dns_entry_t *e;

    cache_make_room(r);
    if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    jarm__queue_init(&e->lru);
    jarm__queue_init(&e->fresh_node);
    e->r = r;
    e->hash = hash;
    e->name_len = (uint8_t)len;
    memcpy(e->name, key, len + 1);
    e->first.cb = cb;
    e->first.data = data;
    e->state = r->opts.family == 6 ? E_QUERY_AAAA : E_QUERY_A;
    cache_insert(r, e);
    return e;
}

int jarm__dns_cache_settle(jarm__resolver_t *r, dns_entry_t *e, jarm__dns_status_t status,
                           const dns_addr_t *addrs, size_t n)
{
    int keep = status != JARM__DNS_ERROR;

    if (keep && n != 0) {
        e->addrs = malloc(n * sizeof(*addrs));
        if (e->addrs != NULL)
            memcpy(e->addrs, addrs, n * sizeof(*addrs));
        else
            keep = 0; /* reported, but not cached */
    }
    if (keep) {
        e->state = E_DONE;
        e->status = (uint8_t)status;
        e->naddrs = (uint8_t)n;
        jarm__queue_insert_head(&r->lru, &e->lru);
    } else {
        cache_unlink(r, e);
        entry_free(e);
    }
    return keep;
}

static void entry_cancel(jarm__resolver_t *r, dns_entry_t *e)
{
    if (e->state != E_DONE)
        jarm__dns_entry_complete(r, e, JARM__DNS_ERROR, NULL, 0);
}

void jarm__dns_cache_cancel(jarm__resolver_t *r)
{
    cache_foreach(r, entry_cancel);
}
