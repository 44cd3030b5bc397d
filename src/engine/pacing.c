/*
 * pacing.c - when connections may start: the token bucket (--rate), the connection window
 * and its backoff on a shortage of descriptors, ports or memory, and the per-address limits
 * with their waiting lists and confirmations.
 *
 * Addresses. One entry per address of an active target, in a hash table with chains, keyed
 * by the address bytes under a per-run random seed. An entry counts the connections in
 * flight to the address (across all its targets, ports and names) against its limit:
 * --per-ip, or lower once the address has shown limiting. A target that may not start a
 * connection because its address is full waits in the entry's list, not in the ready queue,
 * so it never holds up targets on other addresses. Entries are freed with their last target,
 * except those with a learned limit, kept (at most ADDR_LEARNED_MAX, least recently used
 * dropped) so later targets on the address start at that limit. Every operation is O(1).
 *
 * Confirmations. A probe that failed the way a limiter makes connections fail (refused,
 * reset, closed without a byte, no answer) while other connections to its address were in
 * flight is run again alone on the address, once the address has drained and settled; if
 * it then answers, the address limits connections per client and its limit is lowered.
 */
#include <stdlib.h>
#include <string.h>

#include "scan_int.h"

/* ---- the address table ---- */

static uint64_t addr_hash(const jarm__scan_t *s, const uint8_t *key, size_t n)
{
    uint64_t h = s->addr_seed ^ n;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = 0;
        memcpy(&w, key + i, 4);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    return h;
}

int jarm__pacing_init(jarm__scan_t *s)
{
    /* Room for the addresses of every target that can be active, and the learned ones. */
    size_t want = (size_t)s->opts.concurrency * 2 + s->park_max + ADDR_LEARNED_MAX, n = 1024;
    while (n < want && n < ((size_t)1 << 18))
        n <<= 1;
    s->addr_buckets = calloc(n, sizeof(*s->addr_buckets));
    if (s->addr_buckets == NULL)
        return UV_ENOMEM;
    s->addr_mask = n - 1;
    jarm_rng_fill(&s->rng, (uint8_t *)&s->addr_seed, sizeof(s->addr_seed));
    jarm__queue_init(&s->lru);
    jarm__queue_init(&s->ready);
    jarm__queue_init(&s->gap);
    return 0;
}

void jarm__pacing_release(jarm__scan_t *s)
{
    free(s->addr_buckets);
    s->addr_buckets = NULL;
}

/* a is in use again, or dropped: off the idle learned list. */
static void idle_unlink(jarm__scan_t *s, jarm__addr_t *a)
{
    if (!a->in_lru)
        return;
    jarm__queue_remove(&a->lru);
    a->in_lru = 0;
    s->lru_n--;
}

static void addr_free(jarm__scan_t *s, jarm__addr_t *a)
{
    jarm__addr_t **pp = &s->addr_buckets[a->hash & s->addr_mask];
    while (*pp != a)
        pp = &(*pp)->hnext;
    *pp = a->hnext;
    idle_unlink(s, a);
    a->hnext = s->free_addrs;
    s->free_addrs = a;
}

static jarm__addr_t *addr_new(jarm__scan_t *s, uint64_t h, const uint8_t *key, size_t n)
{
    jarm__addr_t *a;

    if (s->free_addrs == NULL) {
        jarm__addr_t *slab = calloc(JARM__SLAB, sizeof(*slab));
        if (slab == NULL || jarm__mem_remember(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < JARM__SLAB; i++) {
            slab[i].hnext = s->free_addrs;
            s->free_addrs = &slab[i];
        }
    }
    a = s->free_addrs;
    s->free_addrs = a->hnext;
    memset(a, 0, sizeof(*a));
    jarm__queue_init(&a->lru);
    jarm__queue_init(&a->wait);
    a->hash = h;
    memcpy(a->key, key, n);
    a->key_len = (uint8_t)n;
    a->limit = s->opts.per_ip;
    a->users = 1;
    a->hnext = s->addr_buckets[h & s->addr_mask];
    s->addr_buckets[h & s->addr_mask] = a;
    return a;
}

/* The entry of t's address, created if needed; NULL when t has none (a name for the proxy)
 * or memory is short (then the target goes without the limit rather than not at all). */
jarm__addr_t *jarm__addr_get(jarm__scan_t *s, const jarm__target_t *t)
{
    const uint8_t *key;
    size_t n;
    uint64_t h;

    if (t->by_name || s->addr_buckets == NULL)
        return NULL;
    if (t->addr.ss_family == AF_INET) {
        key = (const uint8_t *)&((const struct sockaddr_in *)&t->addr)->sin_addr;
        n = 4;
    } else if (t->addr.ss_family == AF_INET6) {
        key = (const uint8_t *)&((const struct sockaddr_in6 *)&t->addr)->sin6_addr;
        n = 16;
    } else {
        return NULL;
    }
    h = addr_hash(s, key, n);
    for (jarm__addr_t *a = s->addr_buckets[h & s->addr_mask]; a != NULL; a = a->hnext)
        if (a->hash == h && a->key_len == n && memcmp(a->key, key, n) == 0) {
            idle_unlink(s, a);
            a->users++;
            return a;
        }
    return addr_new(s, h, key, n);
}

/* t is done with its address: free the entry, or keep what it learned. */
void jarm__addr_put(jarm__scan_t *s, jarm__addr_t *a)
{
    if (--a->users > 0)
        return;
    if (a->limit >= s->opts.per_ip) {
        addr_free(s, a);
        return;
    }
    a->in_lru = 1;
    jarm__queue_insert_tail(&s->lru, &a->lru);
    if (++s->lru_n > ADDR_LEARNED_MAX)
        addr_free(s, JARM__QUEUE_DATA(jarm__queue_first(&s->lru), jarm__addr_t, lru));
}

/* ---- the ready queue, the address wait lists and the gap list (all through t->node) ---- */

static jarm__target_t *node_target(jarm__queue_t *q)
{
    return q != NULL ? JARM__QUEUE_DATA(q, jarm__target_t, node) : NULL;
}

/* Take t out of whichever list holds it. */
void jarm__target_unlink(jarm__scan_t *s, jarm__target_t *t)
{
    if (t->queued == Q_READY) {
        if (t->paddr != NULL)
            t->paddr->ready_n--;
    } else if (t->queued == Q_WAIT) {
        jarm__addr_t *a = t->paddr;
        if (a->seg_tail == t) {
            jarm__target_t *prev = node_target(jarm__queue_before(&a->wait, &t->node));
            a->seg_tail = prev != NULL && prev->seg ? prev : NULL;
        }
        s->parked--;
    } else if (t->queued == Q_AGAIN) {
        s->again_n--;
    }
    jarm__queue_remove(&t->node);
    t->queued = Q_NONE;
}

static void on_gap(uv_timer_t *timer);

/* A confirmation waits until its address has been quiet for SETTLE_MS. */
void jarm__gap_push(jarm__scan_t *s, jarm__target_t *t, uint64_t due)
{
    uint64_t now = uv_now(s->loop);

    jarm__target_unlink(s, t);
    t->queued = Q_GAP;
    t->gap_due = due;
    jarm__queue_insert_tail(&s->gap, &t->node);
    if (!uv_is_active((uv_handle_t *)&s->gap_timer) ||
        uv_timer_get_due_in(&s->gap_timer) > due - now)
        uv_timer_start(&s->gap_timer, on_gap, due > now ? due - now : 0, 0);
}

static void ready_add(jarm__scan_t *s, jarm__target_t *t, int front)
{
    if (t->queued)
        return;
    t->queued = Q_READY;
    if (front)
        jarm__queue_insert_head(&s->ready, &t->node);
    else
        jarm__queue_insert_tail(&s->ready, &t->node);
    if (t->paddr != NULL)
        t->paddr->ready_n++;
}

void jarm__ready_push(jarm__scan_t *s, jarm__target_t *t)
{
    ready_add(s, t, 0);
}

/* A target under way goes on before targets that have not started. */
void jarm__ready_push_front(jarm__scan_t *s, jarm__target_t *t)
{
    ready_add(s, t, 1);
}

/* Confirmations whose address has settled go to the ready queue. */
static void on_gap(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, gap_timer);
    uint64_t now = uv_now(s->loop), next = 0;
    jarm__queue_t *q, *tmp;

    JARM__QUEUE_FOREACH_SAFE(q, tmp, &s->gap)
    {
        jarm__target_t *t = JARM__QUEUE_DATA(q, jarm__target_t, node);
        if (t->gap_due <= now) {
            jarm__target_unlink(s, t);
            jarm__ready_push(s, t);
        } else if (next == 0 || t->gap_due < next) {
            next = t->gap_due;
        }
    }
    if (next != 0)
        uv_timer_start(&s->gap_timer, on_gap, next - now, 0);
    jarm__scan_flush(s);
}

/*
 * t may not start a connection on its address now: wait there. The list has two parts:
 * first the targets already under way (and confirmations, first of all, so that one is
 * woken when the address drains), in order; then the targets not started yet, in order.
 * Targets in flight finish before new ones start.
 */
void jarm__addr_park(jarm__scan_t *s, jarm__addr_t *a, jarm__target_t *t, int alone)
{
    int under_way = alone || t->in_flight > 0 || t->gate_done || t->woken;

    jarm__target_unlink(s, t);
    t->queued = Q_WAIT;
    s->parked++;
    t->seg = 0;
    if (alone) {
        t->seg = 1;
        jarm__queue_insert_head(&a->wait, &t->node);
        if (a->seg_tail == NULL)
            a->seg_tail = t;
    } else if (a->confirm_waiting) {
        jarm__queue_insert_tail(&a->wait, &t->node); /* behind the confirmation */
    } else if (under_way) {
        t->seg = 1;
        jarm__queue_insert_after(a->seg_tail != NULL ? &a->seg_tail->node : &a->wait, &t->node);
        a->seg_tail = t;
    } else {
        jarm__queue_insert_tail(&a->wait, &t->node);
    }
    t->woken = 0;
}

/* May a connection start on a now? 1: yes, 0: not until one ends, 2: not until the address
 * has settled (a confirmation, which needs the address to itself: `alone`). */
int jarm__addr_room(jarm__scan_t *s, jarm__addr_t *a, int alone)
{
    if (a->exclusive)
        return 0;
    if (alone) {
        a->confirm_waiting = 1; /* start nothing more there until it has drained */
        if (a->inflight > 0)
            return 0;
        if (a->closed_once && uv_now(s->loop) < a->last_close + SETTLE_MS)
            return 2;
        return 1;
    }
    return !a->confirm_waiting && a->inflight < a->limit;
}

/* A connection to a ended: hand its room to waiting targets (at most one per free slot). */
void jarm__addr_wake(jarm__scan_t *s, jarm__addr_t *a)
{
    unsigned room;
    jarm__target_t *t;

    if (a->exclusive || jarm__queue_empty(&a->wait))
        return;
    if (a->confirm_waiting) {
        if (a->inflight == 0) {
            t = JARM__QUEUE_DATA(a->wait.next, jarm__target_t, node);
            jarm__target_unlink(s, t);
            jarm__ready_push(s, t);
        }
        return;
    }
    /* Targets of the address already in the ready queue take their share first. */
    room = a->limit > a->inflight + a->ready_n ? a->limit - a->inflight - a->ready_n : 0;
    while ((t = node_target(jarm__queue_first(&a->wait))) != NULL && room-- > 0) {
        jarm__target_unlink(s, t);
        jarm__ready_push(s, t);
        t->woken = 1;
    }
}

/* ---- connections to an address: counting, suspect failures, confirmations ---- */

void jarm__addr_conn_started(jarm__scan_t *s, jarm__conn_t *c)
{
    jarm__addr_t *a = c->t->paddr;

    (void)s;
    c->at_start = (uint16_t)(++a->inflight > 0xffff ? 0xffff : a->inflight);
    c->start_seq = ++a->starts;
    c->recent = (uint8_t)(a->closed_once && c->start_ms < a->last_close + SETTLE_MS);
    if (c->confirming) {
        a->exclusive = 1;
        a->confirm_waiting = 0;
    }
}

void jarm__addr_conn_closed(jarm__scan_t *s, jarm__conn_t *c)
{
    jarm__addr_t *a = c->t->paddr;

    a->inflight--;
    a->last_close = uv_now(s->loop);
    a->closed_once = 1;
    if (c->confirming)
        a->exclusive = 0;
}

/* A confirmation ended (not for a shortage): learn from it. */
void jarm__confirm_done(jarm__scan_t *s, jarm__conn_t *c)
{
    jarm__target_t *t = c->t;
    jarm__addr_t *a = t->paddr;

    t->retried++;
    s->stats.probes_retried++;
    if (a == NULL)
        return;
    if (!jarm__is_limit_failure(t->probes[c->probe].status)) {
        /* Alone it answered: the address limits connections per client. Keep below the
         * number that was in flight when the probe failed. */
        unsigned learned = t->crowd_min > 1 ? t->crowd_min - 1u : 1u;
        if (a->confirm_ok < UINT16_MAX)
            a->confirm_ok++;
        if (learned < a->limit) {
            if (a->limit == s->opts.per_ip)
                s->stats.addrs_limited++;
            a->limit = learned;
        }
    } else {
        /* A real failure. An address whose failures are always real (a closed probe path,
         * say) stops paying for confirmations after a few. */
        if (a->confirm_failed < UINT16_MAX)
            a->confirm_failed++;
        if (a->confirm_failed >= 8 && a->confirm_ok == 0)
            a->gave_up = 1;
    }
}

/*
 * Did this connection fail the way a server that limits connections per client makes
 * connections fail (refused, reset or closed without a byte, or no answer at all), while
 * other connections to its address were in flight? Then the failure is confirmed alone
 * before it counts. Later probes qualify only when the gate got a ServerHello.
 */
int jarm__is_limit_failure(jarm__pstatus_t result)
{
    return result == JARM__P_REFUSED || result == JARM__P_RESET || result == JARM__P_CLOSED ||
           result == JARM__P_TIMEOUT;
}

int jarm__conn_is_suspect(const jarm__conn_t *c, jarm__pstatus_t result)
{
    const jarm__target_t *t = c->t;
    const jarm__addr_t *a = t->paddr;

    if (c->confirming || c->retry || t->abandoned || a == NULL || a->gave_up ||
        !jarm__is_limit_failure(result))
        return 0;
    /* Crowded: others were in flight when it started, or started while it was in flight, or
     * (for a quick failure) it started while the limiter may still have counted one that
     * had just ended. */
    if (c->at_start < 2 && a->starts == c->start_seq && !(c->recent && result != JARM__P_TIMEOUT))
        return 0;
    if (c->probe > 0)
        return t->probes[0].status == JARM__P_OK;
    /* A gate crowded by other targets on the address: a quick failure costs little to
     * confirm; a timeout is worth another wait only when that port has answered someone
     * (a filtered port beside a live one, or a dead host on many ports, stays as cheap as
     * before). */
    return result != JARM__P_TIMEOUT || (a->hello_ports >> (t->port & 63) & 1);
}

/* ---- the token bucket and the window ---- */

static void on_retry(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, retry_timer);
    /* Grow the window back gradually after a resource shortage. */
    s->backoff = 0;
    if (s->window < s->opts.concurrency)
        s->window += (s->opts.concurrency - s->window + 7) / 8;
    jarm__scan_flush(s);
}

/*
 * Out of sockets, ports or memory: shrink the window to the connections still open, so that
 * a new one starts only when one of them closes and gives its descriptor back; grow it again
 * gradually when the retry timer fires (50 ms, doubling to 1.6 s while the shortage lasts).
 * With nothing open, nothing will give a descriptor back: start nothing until the timer.
 * `failed` is the connection that met the shortage, still counted in conns_active until
 * flush(), so it is not counted as open.
 */
void jarm__resource_backoff(jarm__scan_t *s, int failed)
{
    unsigned open = s->stats.conns_active - (failed ? 1 : 0);
    unsigned shift = s->res_fails < 5 ? s->res_fails : 5;

    s->window = open > 1 ? open : 1;
    if (open == 0)
        s->backoff = 1;
    s->res_fails++;
    uv_timer_start(&s->retry_timer, on_retry, (uint64_t)50 << shift, 0);
}

/* Take a token for one new connection; arms the retry timer when there is none. */
int jarm__take_token(jarm__scan_t *s)
{
    uint64_t now;
    double burst;

    if (s->opts.rate <= 0)
        return 1;
    now = uv_now(s->loop);
    burst = s->opts.rate / 100 > 1 ? s->opts.rate / 100 : 1; /* 10 ms worth */
    s->tokens += (double)(now - s->tokens_at) * s->opts.rate / 1000.0;
    s->tokens_at = now;
    if (s->tokens > burst)
        s->tokens = burst;
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return 1;
    }
    if (!uv_is_active((uv_handle_t *)&s->retry_timer))
        uv_timer_start(&s->retry_timer, on_retry,
                       (uint64_t)((1 - s->tokens) * 1000.0 / s->opts.rate) + 1, 0);
    return 0;
}
