/*
 * dns_query.c - the query of one name: pacing, retries, c-ares's answer, completion.
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
 * few such names cannot hold up the others; all names together stay under DNS_LINGER_FACTOR
 * times max_outstanding. c-ares's timer fires when tries time out, and then ready_cb tells the
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
 */
#include <assert.h>
#include <netinet/in.h>
#include <string.h>

#include "resolver_int.h"

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

static void start_query(jarm__resolver_t *r, dns_entry_t *e, int af);

/* ----------------------------------------------------------------------------------------
 * Fresh queries and the window
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

unsigned jarm__dns_fresh_expire(jarm__resolver_t *r)
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
        s->window = s->window / 2 > DNS_WINDOW_MIN ? s->window / 2 : DNS_WINDOW_MIN;
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

/* ----------------------------------------------------------------------------------------
 * Retries after connection errors
 */

static void on_retry_timer(uv_timer_t *t);

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

/* ----------------------------------------------------------------------------------------
 * Queries and answers
 */

/*
 * The query of e ended with status and addrs: cache the result (or drop the entry) and
 * report it to every waiter. The waiters are detached and the result copied first, so a
 * callback may resolve other names, evict e or close the resolver.
 */
void jarm__dns_entry_complete(jarm__resolver_t *r, dns_entry_t *e, jarm__dns_status_t status,
                              const dns_addr_t *addrs, size_t n)
{
    dns_waiter_t first = e->first, *rest = e->first.next;

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
    (void)jarm__dns_cache_settle(r, e, status, addrs, n); /* e may be gone */

    if (first.cb != NULL)
        jarm__dns_deliver(first.cb, first.data, status, addrs, n);
    while (rest != NULL) {
        dns_waiter_t *w = rest;
        jarm__resolve_cb cb = w->cb;
        void *data = w->data;
        rest = w->next;
        jarm__dns_waiter_put(r, w);
        jarm__dns_deliver(cb, data, status, addrs, n);
    }
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
    jarm__dns_entry_complete(r, e, st, addrs, n);
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
    jarm__dns_after_ares(r);
}

void jarm__dns_query_new(jarm__resolver_t *r, dns_entry_t *e)
{
    fresh_push(r, e);
    r->stats.queries++;
    if (++r->stats.outstanding > r->stats.peak_outstanding)
        r->stats.peak_outstanding = r->stats.outstanding;

    start_query(r, e, e->state == E_QUERY_AAAA ? AF_INET6 : AF_INET); /* may complete e */
}
