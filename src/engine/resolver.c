/*
 * resolver.c - c-ares on the scan loop, in fd-callback mode, with a per-run cache.
 *
 * Event plumbing. c-ares runs in fd-callback mode. sock_state_cb says which sockets to watch:
 * each gets a heap uv_poll_t found through polls[fd] (redis's events[fd]) and started with the
 * asked mask. "(fd, 0, 0)" means c-ares is about to close the socket, so the entry leaves the
 * table and its poll handle is closed inside the notification, because libuv must not watch
 * a closed fd; the memory goes in the close callback. A poll callback hands the ready
 * directions to ares_process_fd (both on a poll error, node's rule) and never touches its
 * entry afterwards, since processing may have closed it.
 *
 * Timer. One one-shot uv_timer_t is armed from ares_timeout(), which is linear in the
 * outstanding queries on c-ares 1.18, so it is not recomputed after every step. Invariant:
 * while queries are outstanding the timer is due no later than the earliest c-ares deadline.
 * A step can only add deadlines at least `slack` away, and removing queries only makes the
 * earliest deadline later, so after a step the timer is recomputed only when it is idle or
 * due more than slack from the (cached, so earlier than real) loop time. slack is timeout_ms
 * before c-ares 1.32 (a retry doubles the per-try timeout, never shortens it) and
 * min(timeout_ms, 250) from 1.32, whose per-server timeouts adapt to 5 times the measured
 * round trip, 250 ms at least. An early expiry costs one empty processing call.
 * The timer stops when nothing is outstanding, so an idle resolver keeps the loop alive with
 * nothing.
 *
 * Re-entrancy. c-ares may run our completion callback inside ares_getaddrinfo
 * (immediate errors), and does inside ares_process_fd and ares_destroy. ares_depth counts
 * c-ares calls on the stack; the timer is updated only when the outermost call returns, and a
 * jarm__resolver_close made from a callback defers ares_destroy to that point, as c-ares
 * forbids destroying a channel from its own callback. Nothing is dereferenced after a c-ares
 * call on the assumption that a request is still pending.
 *
 * Cache. Entries are keyed by the lower-cased name without its trailing dot (FNV-1a, chained
 * buckets that double with the entry count). An entry is either being queried (it carries
 * the waiting requests: the first inline, later ones in nodes kept on a free list) or done
 * (status plus compact addresses, on an LRU list). A request for a done entry is answered at
 * once; for an entry being queried it is appended to its waiters, so one query serves every
 * request for a name. Only done entries are evicted, least recently used first, before a new
 * entry is inserted while cache_max entries exist; as entries being queried number at most
 * max_outstanding, the cache never holds more than max(cache_max, max_outstanding) entries.
 * Every result but JARM__DNS_ERROR (cancellation, no memory, bad reply) is cached for the run:
 * a name that timed out once is not retried for each of its ports.
 *
 * Pacing. Fresh names, those queried less than timeout_ms ago, never exceed max_outstanding
 * (resolve refuses more), but jarm__resolver_can_submit, which the scheduler's pull obeys,
 * follows a smaller window that behaves like TCP Reno's: 32 at first, slow start up to
 * max_outstanding, halved (and additive increase from there) when answers needed retries
 * (c-ares's `timeouts`), at most once per timeout_ms. A lost query costs a whole timeout, and
 * retries sent together are lost together, so a resolver that drops queries (overloaded,
 * rate-limiting) gets fewer, not more. A name that is never answered at all (a lame
 * delegation: common) is no such sign: its final timeout does not shrink the window, and once
 * its first try has timed out it stops counting against the window and max_outstanding, so a
 * few such names cannot hold up the others; all names together stay under LINGER_FACTOR times
 * max_outstanding. c-ares's timer fires when tries time out, and then ready_cb tells the
 * caller that there may be room.
 *
 * Connection errors. c-ares ends with ECONNREFUSED every query that was on a TCP connection
 * the server closed (and, before 1.20, every query to that server then); once some server has
 * answered at all, such names are asked again, a few times, after a random pause
 * (RETRIES_MAX, RETRY_BASE_MS, LANE_AFTER). With no server answering, ECONNREFUSED means
 * nobody listens, and is final at once.
 * The window cannot prevent the first losses: they are only known a timeout later. Hence the
 * default of 128 outstanding: a UDP query occupies about 830 bytes of a receive queue, so 128
 * fit in the 208 KiB default of a single-threaded resolver such as dnsmasq, where 256 were
 * measured to overflow it on loopback (about 130 queries lost per run, some for good after two
 * tries) for no gain in throughput.
 *
 * Family 0 (IPv4 first, IPv6 only if the name has no A record) asks for A alone and falls
 * back to AAAA only when the name exists without an A record (NODATA). AF_UNSPEC would send
 * A and AAAA for every name, doubling the load on the resolver for the common case, and its
 * answer order follows arrival (or RFC 6724 sorting, which on c-ares 1.18 connects a UDP
 * socket per address). NXDOMAIN, SERVFAIL, REFUSED and timeouts of the A query are final.
 *
 * c-ares options: no search domains, ndots 1, no HOSTALIASES, lookups "b" (DNS only, no hosts
 * file: names are absolute and the answer must come from the resolvers the user chose),
 * ARES_AI_NOSORT, a 1 MiB socket receive buffer, rotation over several resolvers, and before
 * c-ares 1.20 ARES_FLAG_NOCHECKRESP (see jarm__resolver_init). c-ares 1.18 treats "localhost"
 * specially only through the hosts file, so "localhost" and "*.localhost" are answered here with
 * the loopback address (RFC 6761 6.3).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ares.h>

#include "endpoint.h"
#include "internal.h"
#include "jarm.h"
#include "resolver.h"

#if ARES_VERSION < 0x011600
/* "don't bury the pointer" (c-ares 1.22): the channel type without its pointer. */
typedef struct ares_channeldata ares_channel_t;
#endif

/* A DNS name has at most 253 characters without its trailing dot. */
#define NAME_MAX_LEN 253
/* Initial hash buckets; the table doubles when it holds more entries than buckets. */
#define BUCKETS_INIT 256
/* Spare waiter nodes kept for reuse at most. */
#define FREE_WAITERS_MAX 1024
/*
 * Receive buffer of c-ares's sockets (the kernel caps it at net.core.rmem_max). A small
 * datagram costs about 800 bytes of socket memory, so the usual 208 KiB default holds about
 * 250 answers: fewer than max_outstanding may bring back while the loop is busy elsewhere.
 */
#define SOCK_RCVBUF (1 << 20)
/* The shortest per-try timeout of c-ares >= 1.32 (MIN_TIMEOUT_MS in ares_metrics.c). */
#define ADAPTIVE_TIMEOUT_MIN_MS 250
/* Submission window (see "Pacing" above): first size, and the size it never halves below. */
#define WINDOW_INITIAL 32
#define WINDOW_MIN     4
/* Names queried at once, those past their first try included, as a multiple of
 * max_outstanding (see "Pacing"). */
#define LINGER_FACTOR 8
/* A name whose query c-ares ends with a connection error (a TCP connection closed under it,
 * which fails every query sent on it) is asked again, this many times at most, after a random
 * pause of up to RETRY_BASE_MS << retries (RETRY_MAX_MS at most) so that the retries do not
 * share one connection. */
#define RETRIES_MAX 10
/* A name that failed so LANE_AFTER times is asked again only alone: one such name at a time,
 * so that it gets a connection of its own (it may wait for that; waiting costs no try). */
#define LANE_AFTER    3
#define RETRY_BASE_MS 50
#define RETRY_MAX_MS  1000

/* A request waiting for a name being queried. */
typedef struct jarm__dns_waiter_s {
    jarm__resolve_cb cb;
    void *data;
    struct jarm__dns_waiter_s *next;
} dns_waiter_t;

/* An address as cached: 4 (IPv4, 4 bytes used) or 6 (IPv6) and the bytes. */
typedef struct dns_addr_s {
    uint8_t family;
    uint8_t bytes[16];
} dns_addr_t;

enum dns_state_e { E_QUERY_A = 0, E_QUERY_AAAA, E_DONE };

typedef struct jarm__dns_entry_s {
    struct jarm__dns_entry_s *hnext;               /* hash chain */
    jarm__queue_t lru;                             /* done entries only */
    jarm__resolver_t *r;
    dns_addr_t *addrs;  /* done entries: naddrs addresses, or NULL */
    dns_waiter_t first; /* the first waiter (cb NULL when none); first.next: the others */
    dns_waiter_t *last; /* the last waiter node, or NULL when first.next is empty */
    /* Queried entries: the list of fresh queries (submitted less than timeout_ms ago), and
     * the list of queries waiting to be retried after a connection error. */
    jarm__queue_t fresh_node;
    struct jarm__dns_entry_s *retry_next;
    uint64_t submitted_ms, retry_due_ms;
    uint8_t fresh, retrying, retries;
    uint32_t hash;
    uint8_t state;  /* enum dns_state_e */
    uint8_t status; /* jarm__dns_status_t, done entries */
    uint8_t naddrs;
    uint8_t name_len;
    char name[]; /* the key: lower case, no trailing dot, NUL-terminated */
} dns_entry_t;

typedef struct jarm__dns_poll_s {
    uv_poll_t poll;
    jarm__resolver_t *r;
    ares_socket_t fd;
} dns_poll_t;

JARM__STATIC_ASSERT(JARM__DNS_MAX_ADDRS <= UINT8_MAX, "naddrs is a uint8_t");
JARM__STATIC_ASSERT(NAME_MAX_LEN <= UINT8_MAX, "name_len is a uint8_t");

const char *jarm__dns_status_name(jarm__dns_status_t s)
{
    switch (s) {
    case JARM__DNS_OK:
        return "ok";
    case JARM__DNS_NXDOMAIN:
        return "nxdomain";
    case JARM__DNS_SERVFAIL:
        return "servfail";
    case JARM__DNS_TIMEOUT:
        return "timeout";
    case JARM__DNS_REFUSED:
        return "refused";
    case JARM__DNS_NO_ADDRESS:
        return "no_address";
    case JARM__DNS_ERROR:
        return "error";
    }
    return "error";
}

/* ----------------------------------------------------------------------------------------
 * Addresses
 */

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

/* Call cb with status and n addresses expanded into sockaddr_storage on the stack. */
static void deliver(jarm__resolve_cb cb, void *data, jarm__dns_status_t status,
                    const dns_addr_t *addrs, size_t n)
{
    struct sockaddr_storage ss[JARM__DNS_MAX_ADDRS];
    size_t i;

    for (i = 0; i < n; i++)
        addr_to_ss(&addrs[i], &ss[i]);
    cb(data, status, n != 0 ? ss : NULL, n);
}

/* Append the addresses of family af (AF_INET or AF_INET6) in res to out; returns the count. */
static size_t collect(const struct ares_addrinfo *res, int af, dns_addr_t *out)
{
    const struct ares_addrinfo_node *node;
    size_t n = 0;

    for (node = res->nodes; node != NULL && n < JARM__DNS_MAX_ADDRS; node = node->ai_next) {
        if (node->ai_family != af || node->ai_addr == NULL)
            continue;
        if (af == AF_INET && node->ai_addrlen >= sizeof(struct sockaddr_in)) {
            struct sockaddr_in sin;
            memcpy(&sin, node->ai_addr, sizeof(sin));
            out[n].family = 4;
            memcpy(out[n].bytes, &sin.sin_addr, 4);
            n++;
        } else if (af == AF_INET6 && node->ai_addrlen >= sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 sin6;
            memcpy(&sin6, node->ai_addr, sizeof(sin6));
            out[n].family = 6;
            memcpy(out[n].bytes, &sin6.sin6_addr, 16);
            n++;
        }
    }
    return n;
}

static jarm__dns_status_t map_status(int status, size_t naddrs)
{
    switch (status) {
    case ARES_SUCCESS:
        return naddrs != 0 ? JARM__DNS_OK : JARM__DNS_NO_ADDRESS;
    case ARES_ENODATA:
        return JARM__DNS_NO_ADDRESS;
    case ARES_ENOTFOUND:
        return JARM__DNS_NXDOMAIN;
    case ARES_ESERVFAIL:
        return JARM__DNS_SERVFAIL;
    case ARES_ETIMEOUT:
        return JARM__DNS_TIMEOUT;
    case ARES_EREFUSED:
        return JARM__DNS_REFUSED;
    default:
        /* ECONNREFUSED (no server listening), EBADRESP, EFORMERR, ENOTIMP, EBADNAME, ENOMEM,
         * EDESTRUCTION, ECANCELLED. */
        return JARM__DNS_ERROR;
    }
}

/* ----------------------------------------------------------------------------------------
 * Names
 */

/*
 * Copy name into key (NAME_MAX_LEN + 2 bytes) lower-cased and without one trailing dot.
 * Returns the key length, or -1 when the name is too long to be a DNS name or an IP literal.
 */
static int make_key(const char *name, char *key)
{
    size_t len = strnlen(name, NAME_MAX_LEN + 2), i;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > NAME_MAX_LEN)
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

static int is_localhost(const char *key, size_t len)
{
    static const char lh[] = "localhost";
    const size_t n = sizeof(lh) - 1;

    if (len == n)
        return memcmp(key, lh, n) == 0;
    return len > n && key[len - n - 1] == '.' && memcmp(key + len - n, lh, n) == 0;
}

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ----------------------------------------------------------------------------------------
 * Cache
 */

static dns_entry_t *cache_find(const jarm__resolver_t *r, const char *key, size_t len,
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

static void entry_free(dns_entry_t *e)
{
    free(e->addrs);
    free(e);
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

static void waiter_put(jarm__resolver_t *r, dns_waiter_t *w)
{
    if (r->nfree_waiters >= FREE_WAITERS_MAX) {
        free(w);
        return;
    }
    w->next = r->free_waiters;
    r->free_waiters = w;
    r->nfree_waiters++;
}

/* ----------------------------------------------------------------------------------------
 * Queries
 */

static void fresh_unlink(jarm__resolver_t *r, dns_entry_t *e)
{
    if (!e->fresh)
        return;
    jarm__queue_remove(&e->fresh_node);
    e->fresh = 0;
    r->nfresh--;
}

static void fresh_push(jarm__resolver_t *r, dns_entry_t *e)
{
    e->submitted_ms = uv_now(r->loop);
    jarm__queue_insert_tail(&r->fresh, &e->fresh_node);
    e->fresh = 1;
    r->nfresh++;
}

/* Queries submitted timeout_ms ago or earlier stop counting against the window. Returns the
 * number that did. */
static unsigned fresh_expire(jarm__resolver_t *r)
{
    uint64_t now = uv_now(r->loop);
    unsigned n = 0;
    dns_entry_t *e;
    while (!jarm__queue_empty(&r->fresh) &&
           now - (e = JARM__QUEUE_DATA(r->fresh.next, dns_entry_t, fresh_node))->submitted_ms >=
               r->opts.timeout_ms) {
        fresh_unlink(r, e);
        n++;
    }
    return n;
}

static void retry_unlink(jarm__resolver_t *r, dns_entry_t *e)
{
    dns_entry_t **pp;
    if (!e->retrying)
        return;
    for (pp = &r->retry_head; *pp != e; pp = &(*pp)->retry_next)
        ;
    *pp = e->retry_next;
    e->retry_next = NULL;
    e->retrying = 0;
}

static void retry_arm(jarm__resolver_t *r);

/*
 * The query of e ended with status and addrs: cache the result (or drop the entry) and
 * report it to every waiter. The waiters are detached and the result copied first, so a
 * callback may resolve other names, evict e or close the resolver.
 */
static void entry_complete(jarm__resolver_t *r, dns_entry_t *e, jarm__dns_status_t status,
                           const dns_addr_t *addrs, size_t n)
{
    dns_waiter_t first = e->first, *rest = e->first.next;
    int keep = status != JARM__DNS_ERROR;

    e->first.cb = NULL;
    e->first.next = NULL;
    e->last = NULL;
    fresh_unlink(r, e);
    retry_unlink(r, e);
    if (r->lane == e) {
        r->lane = NULL;
        retry_arm(r);
    }
    assert(r->stats.outstanding > 0);
    r->stats.outstanding--;

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

    if (first.cb != NULL)
        deliver(first.cb, first.data, status, addrs, n);
    while (rest != NULL) {
        dns_waiter_t *w = rest;
        jarm__resolve_cb cb = w->cb;
        void *data = w->data;
        rest = w->next;
        waiter_put(r, w);
        deliver(cb, data, status, addrs, n);
    }
}

static void start_query(jarm__resolver_t *r, dns_entry_t *e, int af);

/*
 * An answer came back after `timeouts` lost tries: adjust the window the way TCP Reno does.
 * Below the threshold it grows by one per answer (doubling per round trip); above, by one per
 * window of answers. A loss halves it and sets the threshold there, once per timeout period,
 * since the losses of one burst all surface together.
 */
static void window_update(jarm__resolver_t *r, int timeouts, jarm__dns_status_t st)
{
    jarm__resolver_stats_t *s = &r->stats;
    uint64_t now;

    /* A name that never answers (a lame delegation) says nothing about the resolver's load:
     * only an answer that needed retries is a loss. */
    if (timeouts > 0 && st != JARM__DNS_TIMEOUT) {
        now = uv_now(r->loop);
        if (s->window_cuts != 0 && now - r->window_cut_at < r->opts.timeout_ms)
            return;
        r->window_cut_at = now;
        s->window_cuts++;
        s->window = s->window / 2 > WINDOW_MIN ? s->window / 2 : WINDOW_MIN;
        if (s->window > r->opts.max_outstanding)
            s->window = r->opts.max_outstanding;
        r->window_threshold = s->window;
        r->window_acks = 0;
    } else if (st != JARM__DNS_ERROR && s->window < r->opts.max_outstanding) {
        if (s->window < r->window_threshold) {
            s->window++;
        } else if (++r->window_acks >= s->window) {
            r->window_acks = 0;
            s->window++;
        }
    }
}

static void on_retry_timer(uv_timer_t *t);

static void retry_arm(jarm__resolver_t *r)
{
    uint64_t now = uv_now(r->loop), due = UINT64_MAX;
    for (dns_entry_t *e = r->retry_head; e != NULL; e = e->retry_next)
        if (e->retry_due_ms < due)
            due = e->retry_due_ms;
    if (due == UINT64_MAX)
        uv_timer_stop(&r->retry_timer);
    else
        uv_timer_start(&r->retry_timer, on_retry_timer, due > now ? due - now : 1, 0);
}

/* Ask for e again after a random pause (its waiters keep waiting; it stays outstanding). */
static void retry_schedule(jarm__resolver_t *r, dns_entry_t *e)
{
    uint64_t span = (uint64_t)RETRY_BASE_MS << e->retries;
    if (span > RETRY_MAX_MS)
        span = RETRY_MAX_MS;
    if (r->lane == e)
        r->lane = NULL;
    r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
    e->retries++;
    r->stats.retries++;
    e->retry_due_ms = uv_now(r->loop) + 1 + (r->rng >> 33) % span;
    e->retrying = 1;
    e->retry_next = r->retry_head;
    r->retry_head = e;
    retry_arm(r);
}

static void on_retry_timer(uv_timer_t *t)
{
    jarm__resolver_t *r = JARM__CONTAINER_OF(t, jarm__resolver_t, retry_timer);
    uint64_t now = uv_now(r->loop);
    dns_entry_t *due = NULL, **pp = &r->retry_head;

    while (*pp != NULL) {
        dns_entry_t *e = *pp;
        if (e->retry_due_ms <= now && e->retries > LANE_AFTER) {
            if (r->lane != NULL) { /* wait for the lane, and look again soon */
                e->retry_due_ms = now + RETRY_BASE_MS;
                pp = &e->retry_next;
                continue;
            }
            r->lane = e;
        }
        if (e->retry_due_ms <= now) {
            *pp = e->retry_next;
            e->retrying = 0;
            e->retry_next = due;
            due = e;
        } else {
            pp = &e->retry_next;
        }
    }
    retry_arm(r);
    while (due != NULL && !r->closing) {
        dns_entry_t *e = due;
        due = e->retry_next;
        e->retry_next = NULL;
        start_query(r, e, e->state == E_QUERY_AAAA ? AF_INET6 : AF_INET); /* may complete e */
    }
}

/* c-ares's answer for entry e (arg). */
static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    dns_entry_t *e = arg;
    jarm__resolver_t *r = e->r;
    dns_addr_t addrs[JARM__DNS_MAX_ADDRS];
    size_t n = 0;
    jarm__dns_status_t st;

    if (status == ARES_SUCCESS && res != NULL)
        n = collect(res, e->state == E_QUERY_AAAA ? AF_INET6 : AF_INET, addrs);
    if (res != NULL)
        ares_freeaddrinfo(res);
    st = map_status(status, n);
    if (status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND ||
        status == ARES_ESERVFAIL || status == ARES_EREFUSED)
        r->answered = 1;
    /* Only once a server has answered: a connection error is then a connection lost, not a
     * resolver that is not there at all (that one fails at once, as before). */
    if (status == ARES_ECONNREFUSED && r->answered && !r->closing && e->retries < RETRIES_MAX) {
        retry_schedule(r, e);
        return;
    }
    if (!r->closing)
        window_update(r, timeouts, st);

    if (st == JARM__DNS_NO_ADDRESS && e->state == E_QUERY_A && r->opts.family == 0 && !r->closing) {
        e->state = E_QUERY_AAAA;
        start_query(r, e, AF_INET6); /* may complete e before it returns */
        return;
    }
    entry_complete(r, e, st, addrs, n);
}

/* ----------------------------------------------------------------------------------------
 * Event plumbing
 */

static void on_timer(uv_timer_t *t);

static void timer_update(jarm__resolver_t *r)
{
    struct timeval tv, *tvp;
    uint64_t ms;

    if (r->stats.outstanding == 0) {
        uv_timer_stop(&r->timer);
        return;
    }
    if (uv_is_active((uv_handle_t *)&r->timer) &&
        uv_timer_get_due_in(&r->timer) <= r->timer_slack_ms)
        return;
    tvp = ares_timeout(r->channel, NULL, &tv);
    if (tvp == NULL) {
        uv_timer_stop(&r->timer);
        return;
    }
    ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
    uv_timer_start(&r->timer, on_timer, ms != 0 ? ms : 1, 0);
}

static void finish_close(jarm__resolver_t *r);

/* The outermost c-ares call returned: run a deferred destroy, or update the timer. */
static void after_ares(jarm__resolver_t *r)
{
    if (r->ares_depth > 0)
        return;
    if (r->destroy_pending)
        finish_close(r);
    else if (!r->closing)
        timer_update(r);
}

static void start_query(jarm__resolver_t *r, dns_entry_t *e, int af)
{
    struct ares_addrinfo_hints hints;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = af;
    hints.ai_flags = ARES_AI_NOSORT;
    r->ares_depth++;
    ares_getaddrinfo(r->channel, e->name, NULL, &hints, on_addrinfo, e);
    r->ares_depth--;
    after_ares(r);
}

static void process(jarm__resolver_t *r, ares_socket_t rfd, ares_socket_t wfd)
{
    if (r->channel == NULL)
        return;
    r->ares_depth++;
    ares_process_fd(r->channel, rfd, wfd);
    r->ares_depth--;
    after_ares(r);
}

static void on_timer(uv_timer_t *t)
{
    jarm__resolver_t *r = JARM__CONTAINER_OF(t, jarm__resolver_t, timer);

    process(r, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    /* c-ares's timer fires when tries time out, which is when queries stop being fresh: the
     * window may have room now although nothing was answered. */
    if (!r->closing && fresh_expire(r) > 0 && r->opts.ready_cb != NULL)
        r->opts.ready_cb(r->opts.ready_data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    dns_poll_t *p = JARM__CONTAINER_OF(h, dns_poll_t, poll);
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    if (status < 0) {
        rfd = wfd = p->fd;
    } else {
        if (events & UV_READABLE)
            rfd = p->fd;
        if (events & UV_WRITABLE)
            wfd = p->fd;
    }
    process(p->r, rfd, wfd); /* p may be gone now */
}

static void release(jarm__resolver_t *r);

static void handle_closed(jarm__resolver_t *r)
{
    assert(r->handles_open > 0);
    if (--r->handles_open == 0)
        release(r);
}

static void on_poll_close(uv_handle_t *h)
{
    dns_poll_t *p = JARM__CONTAINER_OF((uv_poll_t *)h, dns_poll_t, poll);
    jarm__resolver_t *r = p->r;

    free(p);
    handle_closed(r);
}

static void on_timer_close(uv_handle_t *h)
{
    handle_closed(h->data);
}

/*
 * Make polls[fd] addressable; 0 or -1. (The NOLINTs here and below: clang-tidy takes
 * sizeof(*p) for a mistake when p points to pointers to structs; these are such arrays.)
 */
static int polls_reserve(jarm__resolver_t *r, size_t fd)
{
    const size_t size = sizeof(*r->polls); /* NOLINT(bugprone-sizeof-expression) */
    size_t cap = r->polls_cap != 0 ? r->polls_cap : 64;
    dns_poll_t **p;

    if (fd < r->polls_cap)
        return 0;
    while (cap <= fd)
        cap *= 2;
    if ((p = realloc(r->polls, cap * size)) == NULL)
        return -1;
    memset(p + r->polls_cap, 0, (cap - r->polls_cap) * size);
    r->polls = p;
    r->polls_cap = cap;
    return 0;
}

/*
 * c-ares's socket notifications. A failure to watch a socket is not reported: its queries
 * time out (a per-name error, never a failure of the run).
 */
static void on_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
    jarm__resolver_t *r = arg;
    dns_poll_t *p;

    if (fd < 0)
        return;
    p = (size_t)fd < r->polls_cap ? r->polls[fd] : NULL;
    if (!readable && !writable) {
        /* c-ares closes fd as soon as this returns: stop watching it now. */
        if (p != NULL) {
            r->polls[fd] = NULL;
            uv_close((uv_handle_t *)&p->poll, on_poll_close);
        }
        return;
    }
    if (p == NULL) {
        if (polls_reserve(r, (size_t)fd) != 0 || (p = malloc(sizeof(*p))) == NULL)
            return;
        if (uv_poll_init_socket(r->loop, &p->poll, fd) != 0) {
            free(p);
            return;
        }
        p->r = r;
        p->fd = fd;
        r->polls[fd] = p;
        r->handles_open++;
    }
    uv_poll_start(&p->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void close_polls(jarm__resolver_t *r)
{
    size_t i;

    for (i = 0; i < r->polls_cap; i++) {
        dns_poll_t *p = r->polls[i];
        if (p != NULL) {
            r->polls[i] = NULL;
            uv_close((uv_handle_t *)&p->poll, on_poll_close);
        }
    }
}

/* ----------------------------------------------------------------------------------------
 * Servers
 */

/* Parse one "IP[:PORT]" item (len bytes) into node. */
static int parse_server(const char *s, size_t len, struct ares_addr_port_node *node)
{
    jarm__endpoint_t ep;
    char host[INET6_ADDRSTRLEN];
    int v6;

    if (jarm__endpoint_parse(s, len, &ep) != 0 || ep.host_len >= sizeof(host))
        return JARM_EINVAL;
    memcpy(host, ep.host, ep.host_len);
    host[ep.host_len] = '\0';
    v6 = ep.bracketed || memchr(host, ':', ep.host_len) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host,
                  v6 ? (void *)&node->addr.addr6 : (void *)&node->addr.addr4) != 1)
        return JARM_EINVAL;
    node->family = v6 ? AF_INET6 : AF_INET;
    node->udp_port = node->tcp_port = ep.port_text != NULL ? ep.port : 53;
    return 0;
}

static void servers_free(struct ares_addr_port_node *list)
{
    while (list != NULL) {
        struct ares_addr_port_node *next = list->next;
        free(list);
        list = next;
    }
}

/* Parse "IP[:PORT],..." into a list (free with servers_free); JARM_EINVAL with a message. */
static int parse_servers(jarm__resolver_t *r, const char *csv, struct ares_addr_port_node **out,
                         size_t *count)
{
    struct ares_addr_port_node *head = NULL, **tail = &head;
    const char *s = csv;
    int ret = 0;

    *count = 0;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        struct ares_addr_port_node *node;

        if (len == 0 || len >= 64) {
            (void)snprintf(r->error, sizeof(r->error),
                           len == 0 ? "empty resolver address in \"%s\""
                                    : "invalid resolver address in \"%s\"",
                           csv);
            ret = JARM_EINVAL;
            goto Exit;
        }
        if ((node = calloc(1, sizeof(*node))) == NULL) {
            ret = UV_ENOMEM;
            goto Exit;
        }
        *tail = node;
        tail = &node->next;
        if (parse_server(s, len, node) != 0) {
            (void)snprintf(r->error, sizeof(r->error),
                           "invalid resolver \"%.*s\" (expected IP, IP:PORT or [IPv6]:PORT, "
                           "port 1-65535)",
                           (int)len, s);
            ret = JARM_EINVAL;
            goto Exit;
        }
        (*count)++;
        if (end == NULL)
            break;
        s = end + 1;
    }

Exit:
    if (ret != 0) {
        servers_free(head);
        head = NULL;
    }
    *out = head;
    return ret;
}

/* ----------------------------------------------------------------------------------------
 * API
 */

int jarm__resolver_init(jarm__resolver_t *r, uv_loop_t *loop, const jarm__resolver_opts_t *opts)
{
    static char lookups[] = "b", no_resolvconf[] = "/dev/null";
    struct ares_options ao;
    struct ares_addr_port_node *servers = NULL;
    size_t nservers = 0;
    ares_channel_t *ch = NULL;
    int ret, rc, optmask, version, library = 0;

    memset(r, 0, sizeof(*r));
    jarm__queue_init(&r->fresh);
    jarm__queue_init(&r->lru);
    r->loop = loop;
    if (opts != NULL)
        r->opts = *opts;
    r->opts.servers = NULL; /* borrowed: not kept */
    if (r->opts.family != 0 && r->opts.family != 4 && r->opts.family != 6) {
        (void)snprintf(r->error, sizeof(r->error), "address family must be 0, 4 or 6, not %d",
                       r->opts.family);
        return JARM_EINVAL;
    }
    if (r->opts.max_outstanding == 0)
        r->opts.max_outstanding = JARM__DNS_DEFAULT_OUTSTANDING;
    if (r->opts.timeout_ms == 0)
        r->opts.timeout_ms = JARM__DNS_DEFAULT_TIMEOUT_MS;
    if (r->opts.timeout_ms > INT32_MAX / 2)
        r->opts.timeout_ms = INT32_MAX / 2;
    if (r->opts.tries == 0)
        r->opts.tries = JARM__DNS_DEFAULT_TRIES;
    if (r->opts.tries > 100)
        r->opts.tries = 100;
    if (r->opts.cache_max == 0)
        r->opts.cache_max = JARM__DNS_DEFAULT_CACHE_MAX;
    r->stats.window =
        r->opts.max_outstanding < WINDOW_INITIAL ? r->opts.max_outstanding : WINDOW_INITIAL;
    r->window_threshold = r->opts.max_outstanding;

    if (opts != NULL && opts->servers != NULL &&
        (ret = parse_servers(r, opts->servers, &servers, &nservers)) != 0)
        goto Exit;
    r->buckets = calloc(BUCKETS_INIT, sizeof(*r->buckets)); /* NOLINT(bugprone-sizeof-expression) */
    if (r->buckets == NULL) {
        ret = UV_ENOMEM;
        goto Exit;
    }
    r->nbuckets = BUCKETS_INIT;

    if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
        (void)snprintf(r->error, sizeof(r->error), "c-ares: %s", ares_strerror(rc));
        ret = rc == ARES_ENOMEM ? UV_ENOMEM : JARM_EINVAL;
        goto Exit;
    }
    library = 1;

    memset(&ao, 0, sizeof(ao));
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    /* Before 1.20, c-ares drops SERVFAIL and REFUSED answers and, once every server was
     * skipped, fails with ECONNREFUSED: the reason is lost. Passing them through keeps it, at
     * the cost of not retrying such a name on the other resolvers. */
    ares_version(&version);
    if (version < 0x011400)
        ao.flags |= ARES_FLAG_NOCHECKRESP;
    r->timer_slack_ms = r->opts.timeout_ms;
    if (version >= 0x012000 && r->timer_slack_ms > ADAPTIVE_TIMEOUT_MIN_MS)
        r->timer_slack_ms = ADAPTIVE_TIMEOUT_MIN_MS;
    ao.timeout = (int)r->opts.timeout_ms; /* milliseconds with ARES_OPT_TIMEOUTMS */
    ao.tries = (int)r->opts.tries;
    ao.ndots = 1;
    ao.domains = NULL;
    ao.ndomains = 0;
    ao.lookups = lookups;
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    ao.socket_receive_buffer_size = SOCK_RCVBUF;
    optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
              ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_SOCK_RCVBUF;
    /* Spread the load over the resolvers the user listed: do not flood one of them. */
    if (nservers > 1)
        optmask |= ARES_OPT_ROTATE;
    /* With explicit resolvers nothing in resolv.conf applies (every option it could set is
     * set above), so it is not read at all: the tests stay hermetic. */
    if (servers != NULL) {
        ao.resolvconf_path = no_resolvconf;
        optmask |= ARES_OPT_RESOLVCONF;
    }
    if ((rc = ares_init_options(&ch, &ao, optmask)) != ARES_SUCCESS) {
        ch = NULL;
        (void)snprintf(r->error, sizeof(r->error), "c-ares: %s", ares_strerror(rc));
        ret = rc == ARES_ENOMEM ? UV_ENOMEM : JARM_EINVAL;
        goto Exit;
    }
    if (servers != NULL && (rc = ares_set_servers_ports(ch, servers)) != ARES_SUCCESS) {
        (void)snprintf(r->error, sizeof(r->error), "c-ares: setting resolvers: %s",
                       ares_strerror(rc));
        ret = rc == ARES_ENOMEM ? UV_ENOMEM : JARM_EINVAL;
        goto Exit;
    }

    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->retry_timer);
    r->handles_open = 2;
    r->rng = (uint64_t)uv_hrtime();
    r->channel = ch;
    ch = NULL;
    ret = 0;

Exit:
    servers_free(servers);
    if (ch != NULL)
        ares_destroy(ch);
    if (ret != 0) {
        free(r->buckets);
        r->buckets = NULL;
        if (library)
            ares_library_cleanup();
    }
    return ret;
}

const char *jarm__resolver_error(const jarm__resolver_t *r)
{
    return r->error;
}

int jarm__resolver_can_submit(jarm__resolver_t *r)
{
    if (r->closing)
        return 0;
    fresh_expire(r);
    return r->nfresh < r->stats.window &&
           r->stats.outstanding < r->opts.max_outstanding * LINGER_FACTOR;
}

unsigned jarm__resolver_outstanding(const jarm__resolver_t *r)
{
    return r->stats.outstanding;
}

void jarm__resolver_stats(const jarm__resolver_t *r, jarm__resolver_stats_t *out)
{
    *out = r->stats;
    out->cache_entries = r->nentries;
    out->fresh = r->nfresh;
}

int jarm__resolver_resolve(jarm__resolver_t *r, const char *name, jarm__resolve_cb cb, void *data)
{
    char key[NAME_MAX_LEN + 2];
    dns_addr_t a;
    dns_entry_t *e;
    uint32_t hash;
    int len;

    if (name == NULL || cb == NULL)
        return JARM_EINVAL;
    if (r->closing)
        return UV_ECANCELED;

    /* Answers that need no query and are not cached. */
    if ((len = make_key(name, key)) < 0) {
        cb(data, JARM__DNS_ERROR, NULL, 0);
        return 0;
    }
    if (inet_pton(AF_INET, key, a.bytes) == 1 || inet_pton(AF_INET6, key, a.bytes) == 1) {
        a.family = strchr(key, ':') != NULL ? 6 : 4;
        if ((r->opts.family == 4 && a.family == 6) || (r->opts.family == 6 && a.family == 4))
            cb(data, JARM__DNS_NO_ADDRESS, NULL, 0);
        else
            deliver(cb, data, JARM__DNS_OK, &a, 1);
        return 0;
    }
    if (!jarm__dns_name_valid(key, (size_t)len, 0)) { /* c-ares sends it as is */
        cb(data, JARM__DNS_ERROR, NULL, 0);
        return 0;
    }
    if (is_localhost(key, (size_t)len)) {
        memset(&a, 0, sizeof(a));
        if (r->opts.family == 6) {
            a.family = 6;
            a.bytes[15] = 1;
        } else {
            a.family = 4;
            a.bytes[0] = 127;
            a.bytes[3] = 1;
        }
        deliver(cb, data, JARM__DNS_OK, &a, 1);
        return 0;
    }

    hash = name_hash(key, (size_t)len);
    if ((e = cache_find(r, key, (size_t)len, hash)) != NULL) {
        if (e->state == E_DONE) {
            r->stats.cache_hits++;
            jarm__queue_remove(&e->lru); /* most recent first */
            jarm__queue_insert_head(&r->lru, &e->lru);
            deliver(cb, data, (jarm__dns_status_t)e->status, e->addrs, e->naddrs);
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

    fresh_expire(r);
    if (r->nfresh >= r->opts.max_outstanding ||
        r->stats.outstanding >= r->opts.max_outstanding * LINGER_FACTOR)
        return UV_EAGAIN;
    cache_make_room(r);
    if ((e = malloc(sizeof(*e) + (size_t)len + 1)) == NULL)
        return UV_ENOMEM;
    memset(e, 0, sizeof(*e));
    jarm__queue_init(&e->lru);
    jarm__queue_init(&e->fresh_node);
    e->r = r;
    e->hash = hash;
    e->name_len = (uint8_t)len;
    memcpy(e->name, key, (size_t)len + 1);
    e->first.cb = cb;
    e->first.data = data;
    e->state = r->opts.family == 6 ? E_QUERY_AAAA : E_QUERY_A;
    cache_insert(r, e);
    fresh_push(r, e);
    r->stats.queries++;
    if (++r->stats.outstanding > r->stats.peak_outstanding)
        r->stats.peak_outstanding = r->stats.outstanding;

    start_query(r, e, e->state == E_QUERY_AAAA ? AF_INET6 : AF_INET); /* may complete e */
    return 0;
}

/* Destroy the channel (its callbacks cancel every pending name) and close every handle. */
static void finish_close(jarm__resolver_t *r)
{
    size_t i;

    r->destroy_pending = 0;
    r->ares_depth++;
    ares_destroy(r->channel);
    r->ares_depth--;
    r->channel = NULL;

    /* c-ares cancels every query in ares_destroy; this only guards against a version that
     * would not. */
    for (i = 0; i < r->nbuckets; i++) {
        dns_entry_t *e = r->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            if (e->state != E_DONE)
                entry_complete(r, e, JARM__DNS_ERROR, NULL, 0);
        }
    }

    close_polls(r);
    r->timer.data = r->retry_timer.data = r;
    uv_close((uv_handle_t *)&r->timer, on_timer_close);
    uv_close((uv_handle_t *)&r->retry_timer, on_timer_close);
}

void jarm__resolver_close(jarm__resolver_t *r, void (*close_cb)(jarm__resolver_t *r))
{
    assert(!r->closing && "jarm__resolver_close called twice");
    r->closing = 1;
    r->close_cb = close_cb;
    if (r->ares_depth > 0) {
        r->destroy_pending = 1;
        return;
    }
    finish_close(r);
}

/* The last handle closed: free the memory and tell the caller. */
static void release(jarm__resolver_t *r)
{
    size_t i;

    assert(r->stats.outstanding == 0);
    for (i = 0; i < r->nbuckets; i++) {
        dns_entry_t *e = r->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    }
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
    free(r->polls);
    r->polls = NULL;
    r->polls_cap = 0;
    ares_library_cleanup();
    if (r->close_cb != NULL)
        r->close_cb(r);
}
