/*
 * scan.c - the scan engine.
 *
 * Targets. A target steps GATE -> PROBING -> DONE. Probe 1 (the gate) runs alone; if it
 * times out the target is done at once with the reference's result for a timeout (ten empty
 * probes, 62 zeros) and nine connections are saved, which is what makes sweeps of mostly
 * dead space cheap. Otherwise probes 2..10 run with at most opts.probe_parallel in flight.
 * All ten go to the one address pinned in the target. As in the reference, a timeout on any
 * probe decides the whole target (the other connections are abandoned), while refusals,
 * resets and non-TLS replies only blank their own probe.
 *
 * Connections. A probe connection lives for one connect, one send and a read or two, and
 * the kernel's cost for that is the ceiling we are measured against. libuv's uv_tcp_t adds
 * four epoll_ctl calls and a getsockopt to every such connection (ADD for connect, a failing
 * ADD and a MOD for reading, DEL on close), about a tenth of the work per target. So the
 * sockets live in a private epoll instance, nested in the libuv loop through one uv_poll_t:
 * each socket is registered once, edge-triggered for both directions, and close() removes
 * it; SO_ERROR is read only when the kernel reports an error. Everything else (timers,
 * signals, the input thread, the resolver) stays on libuv.
 *
 * One struct per probe connection, from a free list: the fd and bookkeeping, ~100 bytes.
 * Each reply is parsed straight from the engine's shared read buffer; only when the parser
 * needs more bytes than one read delivered does the connection take a JARM_RX_MAX buffer
 * from a pool, so idle and single-read connections cost no receive memory. There is no
 * per-connection timer: every connection has the same timeout, so deadlines are ordered by
 * start time and one list plus one uv_timer_t serve them all. Every path ends in
 * conn_finish(), which records the result, closes the socket and queues the connection;
 * flush() then hands results to their targets, returns connections to the free list and
 * refills the window, once per event batch and never from inside another callback.
 *
 * Reading (jarm(7), JARMSWEEP'S DEVIATIONS): stop once jarm_reply_parse() says the answer
 * can no longer change, at JARM_RX_MAX bytes, at EOF or error; a timeout with bytes buffered
 * parses them as final (what the reference's single recv(1484) would have returned).
 *
 * Scheduling. pump() fills the connection window, preferring probes of targets already in
 * flight (so targets finish and free their memory) over pulling new targets. A token bucket
 * limits new connections per second. EMFILE, ENFILE, EADDRNOTAVAIL and ENOBUFS shrink the
 * window and retry the probe later; they never lose a target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "scan.h"

#define ALL_PROBES ((uint16_t)((1u << JARM_PROBES) - 1))

typedef enum conn_state_e { C_CONNECTING, C_SOCKS, C_READING, C_CLOSING } conn_state_t;

/* SOCKS5 steps (RFC 1928, RFC 1929), in conn_t.socks_step. */
enum { S_GREETING, S_AUTH, S_CONNECT_HEAD, S_CONNECT_TAIL };

typedef struct jarm__conn_s {
    int fd;
    jarm__scan_t *s;
    jarm__target_t *t;
    struct jarm__conn_s *dl_prev, *dl_next; /* deadline list, or free list (dl_next) */
    struct jarm__conn_s *closed_next;       /* the closed queue of flush() */
    uint64_t start_ms, deadline;
    uint8_t *rx; /* from the pool once a reply needs more than one read */
    uint8_t *tx; /* the unsent rest of the ClientHello after a partial send */
    uint16_t rx_len, tx_len;
    uint8_t probe;
    uint8_t state;
    uint8_t connected, retry, in_dl;
    uint8_t confirming; /* a confirmation: the probe again, alone on its address */
    uint8_t suspect;    /* failed while crowded: confirm before the failure counts */
    uint16_t at_start;  /* connections in flight to the address when it started, itself included */
    uint16_t crowd;     /* the most connections to the address seen in flight with it */
    uint8_t recent;     /* it started right after another connection to the address ended */
    uint32_t start_seq; /* the address's start count when it started */
    uint8_t socks_step;
    uint16_t socks_len, socks_need;
    uint8_t socks[8]; /* the proxy's reply being read */
} conn_t;

static void pump(jarm__scan_t *s);
static void flush(jarm__scan_t *s);
static void on_kick(uv_timer_t *timer);

/* ---- memory: slabs of connections and targets, a pool of receive buffers ---- */

static int remember_block(jarm__scan_t *s, void *p)
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

#define SLAB 256

static conn_t *conn_get(jarm__scan_t *s)
{
    conn_t *c = s->free_conns;
    if (c == NULL) {
        conn_t *slab = calloc(SLAB, sizeof(*slab));
        if (slab == NULL || remember_block(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < SLAB; i++) {
            slab[i].dl_next = s->free_conns;
            s->free_conns = &slab[i];
        }
        c = s->free_conns;
    }
    s->free_conns = c->dl_next;
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->fd = -1;
    return c;
}

static void conn_put(jarm__scan_t *s, conn_t *c)
{
    c->dl_next = s->free_conns;
    s->free_conns = c;
}

static jarm__target_t *target_get(jarm__scan_t *s)
{
    jarm__target_t *t = s->free_targets;
    if (t == NULL) {
        jarm__target_t *slab = calloc(SLAB / 4, sizeof(*slab));
        if (slab == NULL || remember_block(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < SLAB / 4; i++) {
            slab[i].next = s->free_targets;
            s->free_targets = &slab[i];
        }
        t = s->free_targets;
    }
    s->free_targets = t->next;
    /* Only the header needs clearing; strs_inline is written before it is read. */
    memset(t, 0, offsetof(jarm__target_t, strs_inline));
    t->strs = t->strs_inline;
    t->strs_cap = sizeof(t->strs_inline);
    return t;
}

static void target_put(jarm__scan_t *s, jarm__target_t *t)
{
    if (t->strs != t->strs_inline)
        free(t->strs);
    t->next = s->free_targets;
    s->free_targets = t;
}

static uint8_t *rx_get(jarm__scan_t *s)
{
    if (s->free_rx_n > 0)
        return s->free_rx[--s->free_rx_n];
    return malloc(JARM_RX_MAX);
}

static void rx_put(jarm__scan_t *s, uint8_t *rx)
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

/* ---- addresses: connections in flight per address, limits, waiting targets ----
 *
 * One entry per address of an active target, in a hash table with chains, keyed by the
 * address bytes under a per-run random seed. An entry counts the connections in flight to
 * the address (across all its targets, ports and names) against its limit: --per-ip, or
 * lower once the address has shown limiting. A target that may not start a connection
 * because its address is full waits in the entry's list, not in the ready queue, so it never
 * holds up targets on other addresses. Entries are freed with their last target, except
 * those with a learned limit, kept (at most ADDR_LEARNED_MAX, least recently used dropped)
 * so later targets on the address start at that limit. Every operation is O(1).
 */

struct jarm__addr_s {
    jarm__addr_t *hnext;               /* hash chain */
    jarm__addr_t *lru_prev, *lru_next; /* the idle learned list */
    jarm__target_t *wait_head, *wait_tail;
    jarm__target_t *seg_tail; /* the last waiting target that is under way, or NULL */
    unsigned ready_n;         /* its targets in the ready queue */
    uint64_t hash;
    uint8_t key[16];
    uint8_t key_len, in_lru;
    uint8_t exclusive;       /* a confirmation is in flight: nothing else starts */
    uint8_t confirm_waiting; /* a confirmation waits for the address to drain */
    uint64_t hello_ports;    /* ports (a bit per port modulo 64) that gave a ServerHello */
    uint8_t gave_up;         /* confirmations only ever failed again: stop confirming */
    uint16_t confirm_ok, confirm_failed;
    uint8_t closed_once;
    uint64_t last_close;     /* when a connection to it last ended */
    uint32_t starts;         /* connections started, to see if one started after another */
    unsigned users;          /* active targets */
    unsigned inflight;       /* connections in flight */
    unsigned limit;
};

#define ADDR_LEARNED_MAX 4096

/*
 * A limiter counts a connection until it has processed its end, a little after we closed
 * it: a connection started within this long of another one's end may still be counted
 * with it, and a confirmation waits this long after the address's last connection ended.
 */
#define SETTLE_MS 50

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

static void lru_remove(jarm__scan_t *s, jarm__addr_t *a)
{
    if (!a->in_lru)
        return;
    if (a->lru_prev)
        a->lru_prev->lru_next = a->lru_next;
    else
        s->lru_head = a->lru_next;
    if (a->lru_next)
        a->lru_next->lru_prev = a->lru_prev;
    else
        s->lru_tail = a->lru_prev;
    a->lru_prev = a->lru_next = NULL;
    a->in_lru = 0;
    s->lru_n--;
}

static void addr_free(jarm__scan_t *s, jarm__addr_t *a)
{
    jarm__addr_t **pp = &s->addr_buckets[a->hash & s->addr_mask];
    while (*pp != a)
        pp = &(*pp)->hnext;
    *pp = a->hnext;
    lru_remove(s, a);
    a->hnext = s->free_addrs;
    s->free_addrs = a;
}

/* The entry of t's address, created if needed; NULL when t has none (a name for the proxy)
 * or memory is short (then the target goes without the limit rather than not at all). */
static jarm__addr_t *addr_get(jarm__scan_t *s, const jarm__target_t *t)
{
    const uint8_t *key;
    size_t n;
    uint64_t h;
    jarm__addr_t *a;

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
    for (a = s->addr_buckets[h & s->addr_mask]; a != NULL; a = a->hnext)
        if (a->hash == h && a->key_len == n && memcmp(a->key, key, n) == 0) {
            lru_remove(s, a);
            a->users++;
            return a;
        }
    if (s->free_addrs == NULL) {
        jarm__addr_t *slab = calloc(SLAB, sizeof(*slab));
        if (slab == NULL || remember_block(s, slab) != 0) {
            free(slab);
            return NULL;
        }
        for (size_t i = 0; i < SLAB; i++) {
            slab[i].hnext = s->free_addrs;
            s->free_addrs = &slab[i];
        }
    }
    a = s->free_addrs;
    s->free_addrs = a->hnext;
    memset(a, 0, sizeof(*a));
    a->hash = h;
    memcpy(a->key, key, n);
    a->key_len = (uint8_t)n;
    a->limit = s->opts.per_ip;
    a->users = 1;
    a->hnext = s->addr_buckets[h & s->addr_mask];
    s->addr_buckets[h & s->addr_mask] = a;
    return a;
}

/* t is done with its address: free the entry, or keep what it learned. */
static void addr_put(jarm__scan_t *s, jarm__addr_t *a)
{
    if (--a->users > 0)
        return;
    if (a->limit >= s->opts.per_ip) {
        addr_free(s, a);
        return;
    }
    a->in_lru = 1;
    a->lru_prev = s->lru_tail;
    a->lru_next = NULL;
    if (s->lru_tail)
        s->lru_tail->lru_next = a;
    else
        s->lru_head = a;
    s->lru_tail = a;
    if (++s->lru_n > ADDR_LEARNED_MAX)
        addr_free(s, s->lru_head);
}

/* ---- deadlines: one list in start order, one timer for its head ---- */

static void dl_remove(jarm__scan_t *s, conn_t *c)
{
    if (!c->in_dl)
        return;
    if (c->dl_prev)
        c->dl_prev->dl_next = c->dl_next;
    else
        s->dl_head = c->dl_next;
    if (c->dl_next)
        c->dl_next->dl_prev = c->dl_prev;
    else
        s->dl_tail = c->dl_prev;
    c->dl_prev = c->dl_next = NULL;
    c->in_dl = 0;
}

static void on_deadline(uv_timer_t *timer);

static void dl_arm(jarm__scan_t *s)
{
    uint64_t now = uv_now(s->loop);
    if (s->dl_head == NULL) {
        uv_timer_stop(&s->deadline_timer);
        return;
    }
    uv_timer_start(&s->deadline_timer, on_deadline,
                   s->dl_head->deadline > now ? s->dl_head->deadline - now : 0, 0);
}

static void dl_append(jarm__scan_t *s, conn_t *c)
{
    c->deadline = c->start_ms + s->opts.timeout_ms;
    c->dl_prev = s->dl_tail;
    c->dl_next = NULL;
    if (s->dl_tail)
        s->dl_tail->dl_next = c;
    else
        s->dl_head = c;
    s->dl_tail = c;
    c->in_dl = 1;
    /* A later head is found by the timer itself; only a new first entry needs arming. */
    if (s->dl_head == c && !uv_is_active((uv_handle_t *)&s->deadline_timer))
        dl_arm(s);
}

/* ---- probe strings ---- */

static int target_store(jarm__target_t *t, unsigned probe, const char *str, size_t len)
{
    if (t->strs_len + len > t->strs_cap) {
        size_t cap = t->strs_cap * 2 > t->strs_len + len ? t->strs_cap * 2 : t->strs_len + len;
        char *p = malloc(cap);
        if (p == NULL)
            return -1;
        memcpy(p, t->strs, t->strs_len);
        if (t->strs != t->strs_inline)
            free(t->strs);
        t->strs = p;
        t->strs_cap = cap;
    }
    memcpy(t->strs + t->strs_len, str, len);
    t->probes[probe].off = (uint16_t)t->strs_len;
    t->probes[probe].len = (uint16_t)len;
    t->strs_len += len;
    return 0;
}

/* ---- the ready queue and the address wait lists (doubly linked through t->next/prev) ---- */

static void list_append(jarm__target_t **head, jarm__target_t **tail, jarm__target_t *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void list_unlink(jarm__target_t **head, jarm__target_t **tail, jarm__target_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        *tail = t->prev;
    t->next = t->prev = NULL;
}

/* Take t out of whichever list holds it. */
static void target_unlink(jarm__scan_t *s, jarm__target_t *t)
{
    if (t->queued == 1) {
        list_unlink(&s->ready_head, &s->ready_tail, t);
        if (t->paddr != NULL)
            t->paddr->ready_n--;
    } else if (t->queued == 2) {
        jarm__addr_t *a = t->paddr;
        if (a->seg_tail == t)
            a->seg_tail = t->prev != NULL && t->prev->seg ? t->prev : NULL;
        list_unlink(&a->wait_head, &a->wait_tail, t);
        s->parked--;
    } else if (t->queued == 3) {
        list_unlink(&s->gap_head, &s->gap_tail, t);
    }
    t->queued = 0;
}

static void on_gap(uv_timer_t *timer);

/* A confirmation waits until its address has been quiet for SETTLE_MS. */
static void gap_push(jarm__scan_t *s, jarm__target_t *t, uint64_t due)
{
    uint64_t now = uv_now(s->loop);

    target_unlink(s, t);
    t->queued = 3;
    t->gap_due = due;
    list_append(&s->gap_head, &s->gap_tail, t);
    if (!uv_is_active((uv_handle_t *)&s->gap_timer) ||
        uv_timer_get_due_in(&s->gap_timer) > due - now)
        uv_timer_start(&s->gap_timer, on_gap, due > now ? due - now : 0, 0);
}

static void ready_push(jarm__scan_t *s, jarm__target_t *t)
{
    if (t->queued)
        return;
    t->queued = 1;
    list_append(&s->ready_head, &s->ready_tail, t);
    if (t->paddr != NULL)
        t->paddr->ready_n++;
}

/* A target under way goes on before targets that have not started. */
static void ready_push_front(jarm__scan_t *s, jarm__target_t *t)
{
    if (t->queued)
        return;
    t->queued = 1;
    if (t->paddr != NULL)
        t->paddr->ready_n++;
    t->prev = NULL;
    t->next = s->ready_head;
    if (s->ready_head)
        s->ready_head->prev = t;
    else
        s->ready_tail = t;
    s->ready_head = t;
}

/* Insert t into a's wait list after `after` (NULL: at the head). */
static void wait_insert(jarm__addr_t *a, jarm__target_t *after, jarm__target_t *t)
{
    t->prev = after;
    t->next = after ? after->next : a->wait_head;
    if (t->next)
        t->next->prev = t;
    else
        a->wait_tail = t;
    if (after)
        after->next = t;
    else
        a->wait_head = t;
}

/*
 * t may not start a connection on its address now: wait there. The list has two parts:
 * first the targets already under way (and confirmations, first of all, so that one is
 * woken when the address drains), in order; then the targets not started yet, in order.
 * Targets in flight finish before new ones start.
 */
static void addr_park(jarm__scan_t *s, jarm__addr_t *a, jarm__target_t *t, int alone)
{
    int under_way = alone || t->in_flight > 0 || t->gate_done || t->woken;

    target_unlink(s, t);
    t->queued = 2;
    s->parked++;
    t->seg = 0;
    if (alone) {
        t->seg = 1;
        wait_insert(a, NULL, t);
        if (a->seg_tail == NULL)
            a->seg_tail = t;
    } else if (a->confirm_waiting) {
        list_append(&a->wait_head, &a->wait_tail, t); /* behind the confirmation */
    } else if (under_way) {
        t->seg = 1;
        wait_insert(a, a->seg_tail, t);
        a->seg_tail = t;
    } else {
        list_append(&a->wait_head, &a->wait_tail, t);
    }
    t->woken = 0;
}

/* May a connection start on a now? 1: yes, 0: not until one ends, 2: not until the address
 * has settled (a confirmation, which needs the address to itself: `alone`). */
static int addr_room(jarm__scan_t *s, jarm__addr_t *a, int alone)
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
static void addr_wake(jarm__scan_t *s, jarm__addr_t *a)
{
    unsigned room;

    if (a->exclusive || a->wait_head == NULL)
        return;
    if (a->confirm_waiting) {
        if (a->inflight == 0) {
            jarm__target_t *t = a->wait_head;
            target_unlink(s, t);
            ready_push(s, t);
        }
        return;
    }
    /* Targets of the address already in the ready queue take their share first. */
    room = a->limit > a->inflight + a->ready_n ? a->limit - a->inflight - a->ready_n : 0;
    while (a->wait_head != NULL && room-- > 0) {
        jarm__target_t *t = a->wait_head;
        target_unlink(s, t);
        ready_push(s, t);
        t->woken = 1;
    }
}

/*
 * The probe t would start next, or -1 for none now; *alone is set for a confirmation. The
 * gate (probe 1) runs alone among its target's probes; probes 2..10 follow, at most
 * probe_parallel at once; then the confirmations, one at a time, once nothing else of the
 * target is in flight. A gate that failed while crowded is confirmed before anything else.
 */
static int target_next(const jarm__scan_t *s, const jarm__target_t *t, int *alone)
{
    *alone = 0;
    if (t->abandoned)
        return -1;
    if (!t->gate_done) {
        if (t->in_flight > 0)
            return -1;
        if (t->confirm & 1u) {
            *alone = 1;
            return 0;
        }
        return (t->started & 1u) ? -1 : 0;
    }
    if (t->started != ALL_PROBES)
        return t->in_flight < s->opts.probe_parallel ? __builtin_ctz((unsigned)~t->started) : -1;
    if (t->confirm != 0 && t->in_flight == 0) {
        *alone = 1;
        return __builtin_ctz(t->confirm);
    }
    return -1;
}

/* ---- finishing ---- */

static void conn_finish(conn_t *c, jarm__pstatus_t result, const char *str, size_t len);

/*
 * A probe timed out, or the proxy failed: the whole target is decided (ten empty probes, as
 * the reference does for a timeout); abandon its other connections and start no more.
 */
static void target_abandon(jarm__target_t *t)
{
    t->abandoned = 1;
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (t->conns[i] != NULL && t->conns[i]->state != C_CLOSING)
            conn_finish(t->conns[i], JARM__P_SKIPPED, NULL, 0);
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (!(t->started & (1u << i)))
            t->probes[i].status = JARM__P_SKIPPED;
    t->started = ALL_PROBES;
}

/*
 * Did this connection fail the way a server that limits connections per client makes
 * connections fail (refused, reset or closed without a byte, or no answer at all), while
 * other connections to its address were in flight? Then the failure is confirmed alone
 * before it counts. Later probes qualify only when the gate got a ServerHello.
 */
static int is_limit_failure(jarm__pstatus_t result)
{
    return result == JARM__P_REFUSED || result == JARM__P_RESET || result == JARM__P_CLOSED ||
           result == JARM__P_TIMEOUT;
}

static int conn_is_suspect(const conn_t *c, jarm__pstatus_t result)
{
    const jarm__target_t *t = c->t;
    const jarm__addr_t *a = t->paddr;

    if (c->confirming || c->retry || t->abandoned || a == NULL || a->gave_up ||
        !is_limit_failure(result))
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

/*
 * The one way a connection ends: record its result, close the socket, and queue the
 * connection for flush(), which does the accounting once the current callback is over.
 */
static void conn_finish(conn_t *c, jarm__pstatus_t result, const char *str, size_t len)
{
    static const struct linger rst = {1, 0};
    jarm__scan_t *s = c->s;
    jarm__target_t *t = c->t;

    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    dl_remove(s, c);
    c->suspect = (uint8_t)conn_is_suspect(c, result);
    if (c->suspect) {
        unsigned crowd = c->at_start > t->paddr->inflight ? c->at_start : t->paddr->inflight;
        c->crowd = (uint16_t)(crowd < 2 ? 2 : crowd > 0xffff ? 0xffff : crowd);
    }
    if (result == JARM__P_OK && t->paddr != NULL)
        t->paddr->hello_ports |= UINT64_C(1) << (t->port & 63);
    if (!c->retry) {
        t->probes[c->probe].status = (uint8_t)result;
        t->probes[c->probe].ms = (uint32_t)(uv_now(s->loop) - c->start_ms);
        if (str != NULL && !t->abandoned && target_store(t, c->probe, str, len) != 0)
            t->probes[c->probe].status = JARM__P_ERROR;
    }
    if (c->fd >= 0) {
        /* RST, as scanners do: no TIME_WAIT on our side, nothing left to say. close()
         * also takes the socket out of the epoll set. */
        if (c->connected)
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        close(c->fd);
        c->fd = -1;
    }
    c->closed_next = NULL;
    if (s->closed_tail)
        s->closed_tail->closed_next = c;
    else
        s->closed_head = c;
    s->closed_tail = c;
    if ((result == JARM__P_TIMEOUT || result == JARM__P_PROXY) && !t->abandoned && !c->suspect) {
        t->proxy_failed = result == JARM__P_PROXY;
        target_abandon(t);
    }
}

/* The row's status from the per-probe outcomes. */
static jarm__tstatus_t target_status(const jarm__target_t *t)
{
    unsigned n[JARM__P_PROXY + 1] = {0};
    for (unsigned i = 0; i < JARM_PROBES; i++)
        n[t->probes[i].status]++;
    if (t->proxy_failed)
        return JARM__T_PROXY_ERROR;
    if (t->abandoned)
        return JARM__T_TIMEOUT;
    if (n[JARM__P_OK])
        return JARM__T_OK;
    if (n[JARM__P_NO_TLS])
        return JARM__T_NO_TLS;
    if (n[JARM__P_REFUSED] == JARM_PROBES)
        return JARM__T_REFUSED;
    if (n[JARM__P_UNREACHABLE] == JARM_PROBES)
        return JARM__T_UNREACHABLE;
    if (n[JARM__P_ALERT] + n[JARM__P_MALFORMED] + n[JARM__P_CLOSED] + n[JARM__P_RESET] +
            n[JARM__P_REFUSED] >
        0)
        return JARM__T_REJECTED;
    return JARM__T_ERROR;
}

static void target_complete(jarm__scan_t *s, jarm__target_t *t)
{
    static const char empty_raw[] = JARM_RAW_EMPTY;
    size_t fp_len;
    int hr;

    t->end_ms = uv_now(s->loop);
    target_unlink(s, t); /* a target can be decided while it waits for room */
    t->status = target_status(t);
    if (t->abandoned) {
        t->raw = empty_raw;
        t->raw_len = sizeof(empty_raw) - 1;
    } else {
        const char *p[JARM_PROBES];
        size_t l[JARM_PROBES], need;
        for (unsigned i = 0; i < JARM_PROBES; i++) {
            int has = t->probes[i].len > 0;
            p[i] = has ? t->strs + t->probes[i].off : "|||";
            l[i] = has ? t->probes[i].len : 3;
        }
        if (jarm_raw_join(p, l, s->rawbuf, s->rawbuf_cap, &need) == JARM_ENOBUFS) {
            char *nb = malloc(need + 1);
            if (nb != NULL) {
                free(s->rawbuf);
                s->rawbuf = nb;
                s->rawbuf_cap = need + 1;
            }
            if (jarm_raw_join(p, l, s->rawbuf, s->rawbuf_cap, &need) != 0) {
                t->status = JARM__T_ERROR;
                s->stats.nomem++;
                need = 0;
                s->rawbuf[0] = '\0';
            }
        }
        t->raw = s->rawbuf;
        t->raw_len = need;
    }
    hr = jarm_fuzzy_hash(t->raw, t->raw_len, s->fpbuf, s->fpbuf_cap, &fp_len);
    if (hr == JARM_ENOBUFS) {
        /* Only an ALPN holding ',' makes the fingerprint longer than 62 characters; the
         * reference prints it whole, and so do we. */
        char *nb = malloc(fp_len + 1);
        if (nb != NULL) {
            free(s->fpbuf);
            s->fpbuf = nb;
            s->fpbuf_cap = fp_len + 1;
        }
        hr = jarm_fuzzy_hash(t->raw, t->raw_len, s->fpbuf, s->fpbuf_cap, &fp_len);
    }
    if (hr != 0) { /* no memory for the buffer or the hash context: never an unset one */
        t->status = JARM__T_ERROR;
        s->stats.nomem++;
        memset(s->fpbuf, '0', JARM_FP_LEN);
        s->fpbuf[JARM_FP_LEN] = '\0';
    }
    t->jarm = s->fpbuf;
    s->stats.targets_done++;
    s->stats.targets_active--;
    s->stats.by_status[t->status]++;
    s->on_result(s, t);
    if (t->paddr != NULL)
        addr_put(s, t->paddr);
    target_put(s, t);
}


/* A closed connection's result reaches its target; called from flush() only. */
static void conn_closed(jarm__scan_t *s, conn_t *c)
{
    jarm__target_t *t = c->t;
    jarm__addr_t *a = t->paddr;
    uint16_t bit = (uint16_t)(1u << c->probe);
    int alone, finished;

    if (c->rx != NULL)
        rx_put(s, c->rx);
    free(c->tx);
    t->conns[c->probe] = NULL;
    t->in_flight--;
    s->stats.conns_active--;
    if (a != NULL) {
        a->inflight--;
        a->last_close = uv_now(s->loop);
        a->closed_once = 1;
        if (c->confirming)
            a->exclusive = 0;
    }
    if (c->retry) {
        /* Out of sockets: give the probe back; pump() starts it again when there is room. */
        if (!t->abandoned) {
            if (c->confirming) {
                t->confirm |= bit;
            } else {
                t->probes[c->probe].status = JARM__P_PENDING;
                t->started &= (uint16_t)~bit;
            }
        }
    } else {
        s->stats.conns_done++;
        if (c->confirming) {
            t->retried++;
            s->stats.probes_retried++;
            if (a != NULL && !is_limit_failure(t->probes[c->probe].status)) {
                /* Alone it answered: the address limits connections per client. Keep below
                 * the number that was in flight when the probe failed. */
                unsigned learned = t->crowd_min > 1 ? t->crowd_min - 1u : 1u;
                if (a->confirm_ok < UINT16_MAX)
                    a->confirm_ok++;
                if (learned < a->limit) {
                    if (a->limit == s->opts.per_ip)
                        s->stats.addrs_limited++;
                    a->limit = learned;
                }
            } else if (a != NULL) {
                /* A real failure. An address whose failures are always real (a closed probe
                 * path, say) stops paying for confirmations after a few. */
                if (a->confirm_failed < UINT16_MAX)
                    a->confirm_failed++;
                if (a->confirm_failed >= 8 && a->confirm_ok == 0)
                    a->gave_up = 1;
            }
        }
        if (c->suspect && !t->abandoned) {
            /* Perhaps the address limits connections per client: run the probe again alone. */
            t->confirm |= bit;
            if (t->crowd_min == 0 || c->crowd < t->crowd_min)
                t->crowd_min = c->crowd;
        } else if (c->probe == 0) {
            t->gate_done = 1;
        }
    }
    conn_put(s, c);

    /* The target goes on first, then the address's waiting targets get the room left:
     * targets already in flight finish before new ones start. */
    finished = t->in_flight == 0 && target_next(s, t, &alone) < 0;
    if (!finished && t->queued == 0 && target_next(s, t, &alone) >= 0)
        ready_push_front(s, t);
    if (a != NULL)
        addr_wake(s, a);
    if (finished)
        target_complete(s, t);
}

/*
 * The end of every entry point (event batch, timer, start, wake, stop): settle closed
 * connections and refill the window until neither produces more work.
 */
static void flush(jarm__scan_t *s)
{
    unsigned rounds = 0;

    if (s->flushing)
        return;
    s->flushing = 1;
    do {
        if (++rounds > 64) {
            /* Connections that fail as they start (refused at once, out of descriptors)
             * could keep this going indefinitely: let the loop run (signals, output, timers)
             * and come back. */
            uv_timer_start(&s->kick_timer, on_kick, 0, 0);
            break;
        }
        while (s->closed_head != NULL) {
            conn_t *c = s->closed_head;
            s->closed_head = c->closed_next;
            if (s->closed_head == NULL)
                s->closed_tail = NULL;
            conn_closed(s, c);
        }
        pump(s);
    } while (s->closed_head != NULL);
    s->flushing = 0;
}

/* ---- one probe connection ---- */

/* Parse what we have; finish the connection when the answer is decided. */
static void conn_parse(conn_t *c, const uint8_t *buf, size_t len, int final)
{
    jarm__scan_t *s = c->s;
    jarm_reply_t r;
    jarm__pstatus_t st;
    int ret = jarm_reply_parse(buf, len, final, &r, s->scratch, JARM_PROBE_STR_MAX);

    if (ret == JARM_EAGAIN)
        return;
    if (ret != 0) {
        conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    switch (r.kind) {
    case JARM_REPLY_SERVER_HELLO:
        st = JARM__P_OK;
        break;
    case JARM_REPLY_ALERT:
        st = JARM__P_ALERT;
        break;
    case JARM_REPLY_NOT_TLS:
        st = JARM__P_NO_TLS;
        break;
    case JARM_REPLY_MALFORMED:
        st = JARM__P_MALFORMED;
        break;
    default:
        st = JARM__P_CLOSED;
        break;
    }
    conn_finish(c, st, s->scratch, r.len);
}

/* Bytes arrived: parse them where they lie, or append them to the connection's buffer. */
static void conn_data(conn_t *c, const uint8_t *data, size_t n)
{
    jarm__scan_t *s = c->s;

    if (c->rx == NULL) {
        /* The common case: the whole answer is in this one read. */
        conn_parse(c, data, n, n >= JARM_RX_MAX);
        if (c->state == C_CLOSING)
            return;
        if ((c->rx = rx_get(s)) == NULL) {
            conn_finish(c, JARM__P_ERROR, "|||", 3);
            return;
        }
        memcpy(c->rx, data, n);
        c->rx_len = (uint16_t)n;
        return;
    }
    {
        size_t room = JARM_RX_MAX - c->rx_len;
        if (n > room)
            n = room;
        memcpy(c->rx + c->rx_len, data, n);
        c->rx_len = (uint16_t)(c->rx_len + n);
        conn_parse(c, c->rx, c->rx_len, c->rx_len >= JARM_RX_MAX);
    }
}

/* Edge-triggered: read until the answer is decided or the socket has nothing more. */
static void conn_read(conn_t *c)
{
    jarm__scan_t *s = c->s;

    while (c->state == C_READING) {
        ssize_t n = recv(c->fd, s->readbuf, sizeof(s->readbuf), 0);
        if (n > 0) {
            conn_data(c, s->readbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->rx_len > 0) /* the bytes a recv() would have returned before EOF or error */
            conn_parse(c, c->rx, c->rx_len, 1);
        else if (n == 0)
            conn_finish(c, JARM__P_CLOSED, "|||", 3);
        else if (errno == ECONNRESET)
            conn_finish(c, JARM__P_RESET, "|||", 3);
        else
            conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
}

static jarm__pstatus_t connect_error_status(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return JARM__P_REFUSED;
    case ECONNRESET:
        return JARM__P_RESET;
    case EHOSTUNREACH:
    case ENETUNREACH:
        return JARM__P_UNREACHABLE;
    case ETIMEDOUT:
        return JARM__P_TIMEOUT;
    default:
        return JARM__P_ERROR;
    }
}

/* Errors that mean "the machine is out of sockets or ports now", not "the target is bad". */
static int is_resource_errno(int err)
{
    return err == EMFILE || err == ENFILE || err == EADDRNOTAVAIL || err == ENOBUFS ||
           err == ENOMEM || err == EAGAIN;
}

/* The proxy failed this probe: the row is proxy_error, with the first reason. */
static void conn_proxy_fail(conn_t *c, const char *reason)
{
    if (c->t->error == NULL)
        c->t->error = reason;
    conn_finish(c, JARM__P_PROXY, "|||", 3);
}

/* The row's reason for a local shortage that was not retried. */
static const char *resource_reason(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE:
        return "out of file descriptors";
    case EADDRNOTAVAIL:
        return "out of local ports";
    default:
        return "out of memory or buffers";
    }
}

/* Retries of a shortage with no other connection open before the probe fails (~3 s). */
#define STARVED_MAX 6

/* A failed connect: a resource shortage is retried, anything else is the probe's result. */
static void conn_fail(conn_t *c, int err)
{
    jarm__scan_t *s = c->s;
    jarm__pstatus_t st;

    if (is_resource_errno(err)) {
        /* With nothing else open, no close will free what we lack: retry a few times (a
         * descriptor held elsewhere in the process may come back), then report the probe
         * as a local error rather than wait forever. */
        if (s->stats.conns_active > 1 || s->starved < STARVED_MAX) {
            if (s->stats.conns_active <= 1)
                s->starved++;
            c->retry = 1;
            conn_finish(c, JARM__P_PENDING, NULL, 0);
            return;
        }
        if (c->t->error == NULL)
            c->t->error = resource_reason(err);
        conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    if (s->opts.proxy != NULL && c->state == C_CONNECTING) {
        conn_proxy_fail(c, err == ECONNREFUSED                        ? "proxy refused connection"
                           : err == EHOSTUNREACH || err == ENETUNREACH ? "proxy unreachable"
                           : err == ETIMEDOUT                          ? "proxy timed out"
                                                                       : "proxy connection failed");
        return;
    }
    st = connect_error_status(err);
    conn_finish(c, st, st == JARM__P_TIMEOUT ? NULL : "|||", 3);
}

/* Send what is left of the ClientHello; returns 0 when it is all out. */
static int conn_send(conn_t *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w < 0) {
            if (c->state == C_SOCKS)
                conn_proxy_fail(c, "proxy reset connection");
            else
                conn_finish(c,
                            errno == ECONNRESET || errno == EPIPE ? JARM__P_RESET : JARM__P_ERROR,
                            "|||", 3);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    if (n == 0) {
        free(c->tx);
        c->tx = NULL;
        c->tx_len = 0;
        return 0;
    }
    /* A full send buffer on a fresh socket is rare; keep the rest for the next EPOLLOUT. */
    if (c->tx == NULL) {
        if ((c->tx = malloc(n)) == NULL) {
            conn_finish(c, JARM__P_ERROR, "|||", 3);
            return -1;
        }
        memcpy(c->tx, p, n);
    } else {
        memmove(c->tx, p, n);
    }
    c->tx_len = (uint16_t)n;
    return 1;
}

/* The connection to the target is up (directly or through the proxy): send the probe. */
static void conn_connected(conn_t *c)
{
    jarm__scan_t *s = c->s;
    jarm__target_t *t = c->t;
    uint8_t hello[JARM_HELLO_MAX];
    size_t len;

    c->connected = 1;
    c->state = C_READING;
    if (jarm_probe_build(c->probe, t->sni, t->sni_len, jarm_rng_fill, &s->rng, hello, sizeof(hello),
                         &len) != 0) {
        conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    conn_send(c, hello, len);
}

/* ---- SOCKS5 ---- */

static void socks_expect(conn_t *c, unsigned step, unsigned need)
{
    c->socks_step = (uint8_t)step;
    c->socks_len = 0;
    c->socks_need = (uint16_t)need;
}

/* Send the CONNECT request: by name (socks5h) or by address. */
static void socks_connect(conn_t *c)
{
    const jarm__target_t *t = c->t;
    uint8_t req[4 + 1 + 255 + 2];
    size_t n = 0;
    uint16_t port = t->port;

    req[n++] = 5;
    req[n++] = 1; /* CONNECT */
    req[n++] = 0;
    if (t->by_name) {
        req[n++] = 3;
        req[n++] = (uint8_t)t->host_len;
        memcpy(req + n, t->host, t->host_len);
        n += t->host_len;
    } else if (t->addr.ss_family == AF_INET) {
        req[n++] = 1;
        memcpy(req + n, &((const struct sockaddr_in *)&t->addr)->sin_addr, 4);
        n += 4;
    } else {
        req[n++] = 4;
        memcpy(req + n, &((const struct sockaddr_in6 *)&t->addr)->sin6_addr, 16);
        n += 16;
    }
    req[n++] = (uint8_t)(port >> 8);
    req[n++] = (uint8_t)port;
    socks_expect(c, S_CONNECT_HEAD, 5); /* VER REP RSV ATYP + first address byte */
    conn_send(c, req, n);
}

/* A CONNECT reply code: what the target did, where it says so; else the proxy's failure. */
static void socks_rep_fail(conn_t *c, uint8_t rep)
{
    switch (rep) {
    case 3: /* network unreachable */
    case 4: /* host unreachable */
    case 6: /* TTL expired */
        conn_finish(c, JARM__P_UNREACHABLE, "|||", 3);
        return;
    case 5:
        conn_finish(c, JARM__P_REFUSED, "|||", 3);
        return;
    case 1:
        conn_proxy_fail(c, "proxy general failure");
        return;
    case 2:
        conn_proxy_fail(c, "proxy ruleset forbids connection");
        return;
    case 7:
        conn_proxy_fail(c, "proxy does not support CONNECT");
        return;
    case 8:
        conn_proxy_fail(c, "proxy does not support address type");
        return;
    default:
        conn_proxy_fail(c, "proxy reply malformed");
        return;
    }
}

/* A complete reply of the current step is in c->socks. */
static void socks_step(conn_t *c)
{
    const jarm__scan_opts_t *o = &c->s->opts;
    uint8_t *b = c->socks;

    switch (c->socks_step) {
    case S_GREETING:
        if (b[0] != 5) {
            conn_proxy_fail(c, "proxy reply malformed");
            return;
        }
        if ((b[1] != 0 && b[1] != 2) || (b[1] == 2 && o->proxy_user == NULL)) {
            conn_proxy_fail(c, b[1] == 2 ? "proxy requires authentication"
                                         : "proxy accepts no offered method");
            return;
        }
        if (b[1] == 2) {
            uint8_t req[3 + 255 + 255];
            size_t ul = strlen(o->proxy_user), pl = strlen(o->proxy_pass), n = 0;
            req[n++] = 1;
            req[n++] = (uint8_t)ul;
            memcpy(req + n, o->proxy_user, ul);
            n += ul;
            req[n++] = (uint8_t)pl;
            memcpy(req + n, o->proxy_pass, pl);
            n += pl;
            socks_expect(c, S_AUTH, 2);
            conn_send(c, req, n);
            return;
        }
        socks_connect(c);
        return;
    case S_AUTH:
        if (b[1] != 0) {
            conn_proxy_fail(c, "proxy auth failed");
            return;
        }
        socks_connect(c);
        return;
    case S_CONNECT_HEAD:
        if (b[0] != 5) {
            conn_proxy_fail(c, "proxy reply malformed");
            return;
        }
        if (b[1] != 0) {
            socks_rep_fail(c, b[1]);
            return;
        }
        /* The bound address that follows: 4 or 16 bytes, or a name; then the port. */
        socks_expect(c, S_CONNECT_TAIL,
                     b[3] == 1   ? 4 - 1 + 2
                     : b[3] == 4 ? 16 - 1 + 2
                                 : (unsigned)b[4] + 2);
        if (c->socks_need == 0 || (b[3] != 1 && b[3] != 3 && b[3] != 4))
            conn_proxy_fail(c, "proxy reply malformed");
        return;
    case S_CONNECT_TAIL:
        conn_connected(c);
        return;
    }
}

/* Read the proxy's replies exactly, never into the TLS reply that follows them. */
static void socks_read(conn_t *c)
{
    while (c->state == C_SOCKS) {
        uint8_t tmp[8];
        size_t want = (size_t)(c->socks_need - c->socks_len);
        ssize_t n = recv(c->fd, c->socks_step == S_CONNECT_TAIL ? tmp : c->socks + c->socks_len,
                         want > sizeof(tmp) ? sizeof(tmp) : want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_proxy_fail(c, n == 0 ? "proxy closed connection" : "proxy reset connection");
            return;
        }
        c->socks_len = (uint16_t)(c->socks_len + n);
        if (c->socks_len == c->socks_need)
            socks_step(c);
    }
}

static void conn_event(conn_t *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        if (ev & EPOLLERR) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            conn_fail(c, err ? err : ECONNRESET);
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        if (c->s->opts.proxy != NULL) {
            static const uint8_t greet_none[] = {5, 1, 0}, greet_auth[] = {5, 2, 0, 2};
            c->connected = 1;
            c->state = C_SOCKS;
            socks_expect(c, S_GREETING, 2);
            if (c->s->opts.proxy_user != NULL)
                conn_send(c, greet_auth, sizeof(greet_auth));
            else
                conn_send(c, greet_none, sizeof(greet_none));
        } else {
            conn_connected(c);
        }
    } else if (c->tx_len > 0 && (ev & EPOLLOUT)) {
        if (conn_send(c, c->tx, c->tx_len) < 0)
            return;
    }
    if (c->state == C_SOCKS && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
        socks_read(c);
    if (c->state == C_READING && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
        conn_read(c);
}

static void on_epoll(uv_poll_t *poll, int status, int events)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(poll, jarm__scan_t, ep_poll);
    struct epoll_event ev[256];
    int n;

    do {
        n = epoll_wait(s->epfd, ev, (int)JARM__ARRAY_SIZE(ev), 0);
        for (int i = 0; i < n; i++) {
            conn_t *c = ev[i].data.ptr;
            /* A connection finished earlier in this batch may still have an event here;
             * its fd is closed and it is only waiting for flush(). */
            if (c->state != C_CLOSING)
                conn_event(c, ev[i].events);
        }
    } while (n == (int)JARM__ARRAY_SIZE(ev));
    flush(s);
}

/* Start probe `probe` of t (`confirming`: alone on its address, to confirm a failure).
 * Returns 0, or a resource error (the probe was not started). */
static int probe_start(jarm__scan_t *s, jarm__target_t *t, unsigned probe, int confirming)
{
    conn_t *c = conn_get(s);
    const struct sockaddr_storage *dest;
    struct epoll_event ev;
    int r;

    if (c == NULL)
        return UV_ENOMEM;
    c->t = t;
    c->probe = (uint8_t)probe;
    c->state = C_CONNECTING;
    c->start_ms = uv_now(s->loop);
    t->conns[probe] = c;
    t->in_flight++;
    s->stats.conns_active++;
    s->stats.conns_started++;
    c->confirming = (uint8_t)confirming;
    if (t->paddr != NULL) {
        jarm__addr_t *a = t->paddr;
        c->at_start = (uint16_t)(++a->inflight > 0xffff ? 0xffff : a->inflight);
        c->start_seq = ++a->starts;
        c->recent = (uint8_t)(a->closed_once && c->start_ms < a->last_close + SETTLE_MS);
        if (confirming) {
            a->exclusive = 1;
            a->confirm_waiting = 0;
        }
    }

    /* Every failure from here on goes through conn_fail() and flush(): a shortage of
     * sockets is retried, anything else (EAFNOSUPPORT, ENETUNREACH...) is the result. */
    dest = s->opts.proxy != NULL ? s->opts.proxy : &t->addr;
    c->fd = socket(dest->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        r = errno;
        conn_fail(c, r);
        return c->retry ? -r : 0;
    }
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        r = errno;
        conn_fail(c, r);
        return c->retry ? -r : 0;
    }
    if (connect(c->fd, (const struct sockaddr *)dest,
                dest->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in)) != 0 &&
        errno != EINPROGRESS) {
        /* A synchronous failure goes through flush() like every other result. */
        r = errno;
        conn_fail(c, r);
        return c->retry ? -r : 0;
    }
    dl_append(s, c);
    s->starved = 0;
    s->res_fails = 0;
    return 0;
}

static void on_deadline(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, deadline_timer);
    uint64_t now = uv_now(s->loop);

    while (s->dl_head != NULL && s->dl_head->deadline <= now) {
        conn_t *c = s->dl_head;
        dl_remove(s, c);
        if (c->rx_len > 0)
            conn_parse(c, c->rx, c->rx_len, 1); /* bytes arrived: they are the answer */
        else if (c->state == C_SOCKS || (s->opts.proxy != NULL && c->state == C_CONNECTING))
            /* Before the CONNECT reply, the proxy is the one we are waiting for. */
            conn_proxy_fail(c, "proxy timed out");
        else
            conn_finish(c, JARM__P_TIMEOUT, NULL, 0);
    }
    dl_arm(s);
    flush(s);
}

static void on_retry(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, retry_timer);
    /* Grow the window back gradually after a resource shortage. */
    s->backoff = 0;
    if (s->window < s->opts.concurrency)
        s->window += (s->opts.concurrency - s->window + 7) / 8;
    flush(s);
}

/* Confirmations whose address has settled go to the ready queue. */
static void on_gap(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, gap_timer);
    uint64_t now = uv_now(s->loop), next = 0;
    jarm__target_t *t = s->gap_head;

    while (t != NULL) {
        jarm__target_t *n = t->next;
        if (t->gap_due <= now) {
            target_unlink(s, t);
            ready_push(s, t);
        } else if (next == 0 || t->gap_due < next) {
            next = t->gap_due;
        }
        t = n;
    }
    if (next != 0)
        uv_timer_start(&s->gap_timer, on_gap, next - now, 0);
    flush(s);
}

/* flush() gave the loop a turn with work left over: go on. */
static void on_kick(uv_timer_t *timer)
{
    flush(JARM__CONTAINER_OF(timer, jarm__scan_t, kick_timer));
}

/*
 * Out of sockets, ports or memory: shrink the window to the connections still open, so that
 * a new one starts only when one of them closes and gives its descriptor back; grow it again
 * gradually when the retry timer fires (50 ms, doubling to 1.6 s while the shortage lasts).
 * With nothing open, nothing will give a descriptor back: start nothing until the timer.
 * `failed` is the connection that met the shortage, still counted in conns_active until
 * flush(), so it is not counted as open.
 */
static void resource_backoff(jarm__scan_t *s, int failed)
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
static int take_token(jarm__scan_t *s)
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

static void check_done(jarm__scan_t *s)
{
    if ((s->input_done || s->stopping) && s->stats.targets_active == 0 && !s->done_called) {
        s->done_called = 1;
        uv_timer_stop(&s->deadline_timer);
        uv_timer_stop(&s->retry_timer);
        uv_timer_stop(&s->kick_timer);
        uv_timer_stop(&s->gap_timer);
        s->on_done(s);
    }
}


static void pump(jarm__scan_t *s)
{
    if (s->pumping || s->closing || !s->started)
        return;
    s->pumping = 1;
    while (!s->backoff && s->stats.conns_active < s->window) {
        jarm__target_t *t = s->ready_head;
        uint16_t bit;
        int probe, alone, r;

        if (t != NULL) {
            if ((probe = target_next(s, t, &alone)) < 0) {
                target_unlink(s, t); /* conn_closed() queues it again when it can go on */
                continue;
            }
            if (t->paddr != NULL && (r = addr_room(s, t->paddr, alone)) != 1) {
                if (r == 2)
                    gap_push(s, t, t->paddr->last_close + SETTLE_MS);
                else
                    addr_park(s, t->paddr, t, alone); /* and go on with other addresses */
                continue;
            }
            if (!take_token(s))
                break;
        } else {
            /* Targets waiting for their address are bounded: past that, wait for them. */
            if (s->input_done || s->stopping || s->parked >= s->park_max)
                break;
            if (!take_token(s))
                break;
            if ((t = target_get(s)) == NULL)
                break;
            r = s->pull(s, t);
            if (r <= 0) {
                target_put(s, t);
                if (r < 0)
                    s->input_done = 1;
                s->tokens += 1; /* not used */
                break;
            }
            if (s->opts.sni != NULL) {
                t->sni = s->opts.sni;
                t->sni_len = strlen(s->opts.sni);
            } else {
                t->sni = t->host;
                t->sni_len = t->host_len;
            }
            t->start_ms = uv_now(s->loop);
            t->proxy = s->opts.proxy_label;
            t->paddr = addr_get(s, t);
            s->stats.targets_started++;
            s->stats.targets_active++;
            probe = 0;
            alone = 0;
            if (t->paddr != NULL && addr_room(s, t->paddr, 0) != 1) {
                addr_park(s, t->paddr, t, 0);
                s->tokens += 1; /* not used */
                continue;
            }
        }
        bit = (uint16_t)(1u << probe);
        if (alone)
            t->confirm &= (uint16_t)~bit;
        else
            t->started |= bit;
        t->woken = 0;
        r = probe_start(s, t, (unsigned)probe, alone);
        if (r != 0) {
            /* Out of sockets or memory. The probe is given back in conn_closed() (or now, if it
             * never got a connection); back off and retry later. */
            int failed = t->conns[probe] != NULL;
            if (!failed) {
                if (alone)
                    t->confirm |= bit;
                else
                    t->started &= (uint16_t)~bit;
                ready_push(s, t);
            }
            resource_backoff(s, failed);
            break;
        }
        if (t->queued == 1 && target_next(s, t, &alone) < 0)
            target_unlink(s, t);
    }
    s->stats.window = s->window;
    s->pumping = 0;
    check_done(s);
}

/* ---- public ---- */

static void release(jarm__scan_t *s);

int jarm__scan_init(uv_loop_t *loop, jarm__scan_t *s, const jarm__scan_opts_t *opts)
{
    int r;

    memset(s, 0, offsetof(jarm__scan_t, readbuf));
    s->loop = loop;
    s->opts = *opts;
    if (s->opts.concurrency == 0)
        s->opts.concurrency = 1;
    if (s->opts.probe_parallel < 1 || s->opts.probe_parallel > JARM_PROBES - 1)
        s->opts.probe_parallel = JARM_PROBES - 1;
    if (s->opts.per_ip == 0)
        s->opts.per_ip = JARM__PER_IP_DEFAULT;
    s->window = s->opts.concurrency;
    s->park_max = s->opts.concurrency > 64 ? s->opts.concurrency : 64;
    s->epfd = -1;
    if (jarm_rng_init(&s->rng) != 0)
        return UV_EIO;
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
    }
    s->scratch = malloc(JARM_PROBE_STR_MAX);
    s->rawbuf_cap = 4096;
    s->rawbuf = malloc(s->rawbuf_cap);
    s->fpbuf_cap = JARM_FP_LEN + 1;
    s->fpbuf = malloc(s->fpbuf_cap);
    if (s->scratch == NULL || s->rawbuf == NULL || s->fpbuf == NULL) {
        r = UV_ENOMEM;
        goto Fail;
    }
    if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        r = -errno;
        goto Fail;
    }
    /* The only step that puts something on the loop and can fail: first, so that a failure
     * leaves nothing to close. Timers cannot fail; the poll starts in jarm__scan_start. */
    if ((r = uv_poll_init(loop, &s->ep_poll, s->epfd)) != 0)
        goto Fail;
    (void)uv_timer_init(loop, &s->deadline_timer);
    (void)uv_timer_init(loop, &s->retry_timer);
    (void)uv_timer_init(loop, &s->kick_timer);
    (void)uv_timer_init(loop, &s->gap_timer);
    s->handles_open = 5;
    return 0;
Fail:
    release(s);
    return r;
}

int jarm__scan_start(jarm__scan_t *s, jarm__pull_cb pull, jarm__result_cb on_result,
                     jarm__done_cb on_done)
{
    int r;

    if ((r = uv_poll_start(&s->ep_poll, UV_READABLE, on_epoll)) != 0)
        return r;
    s->pull = pull;
    s->on_result = on_result;
    s->on_done = on_done;
    s->tokens_at = uv_now(s->loop);
    s->tokens = 1;
    s->started = 1;
    flush(s);
    return 0;
}

void jarm__scan_wake(jarm__scan_t *s)
{
    flush(s);
}

void jarm__scan_stop(jarm__scan_t *s)
{
    s->stopping = 1;
    flush(s);
}

/* Free what jarm__scan_init allocated and what the scan grew since. */
static void release(jarm__scan_t *s)
{
    if (s->epfd >= 0)
        close(s->epfd);
    s->epfd = -1;
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i]);
    free(s->blocks);
    while (s->free_rx_n > 0)
        free(s->free_rx[--s->free_rx_n]);
    free(s->free_rx);
    free(s->addr_buckets);
    free(s->scratch);
    free(s->rawbuf);
    free(s->fpbuf);
    s->blocks = NULL;
    s->free_rx = NULL;
    s->addr_buckets = NULL;
    s->scratch = NULL;
    s->rawbuf = NULL;
    s->fpbuf = NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    jarm__scan_t *s = h->data;
    if (--s->handles_open > 0)
        return;
    release(s);
    if (s->close_cb)
        s->close_cb(s);
}

void jarm__scan_close(jarm__scan_t *s, void (*close_cb)(jarm__scan_t *s))
{
    assert(s->stats.conns_active == 0);
    s->closing = 1;
    s->close_cb = close_cb;
    s->deadline_timer.data = s;
    s->retry_timer.data = s;
    s->kick_timer.data = s;
    s->gap_timer.data = s;
    s->ep_poll.data = s;
    uv_close((uv_handle_t *)&s->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->gap_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->ep_poll, on_handle_closed);
}
