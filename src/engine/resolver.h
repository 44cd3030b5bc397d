/*
 * resolver.h - asynchronous name resolution on the scan loop: c-ares in fd-callback mode
 * (no thread pool), a per-run cache that also coalesces concurrent requests for one name, and a
 * bound on outstanding queries that the caller checks before pulling the next name.
 *
 * Shaped like a libuv handle: the caller owns the loop and the jarm__resolver_t (embed it or
 * allocate it), calls jarm__resolver_init, and releases it with jarm__resolver_close; the
 * memory may be reused once close_cb has run. Every call must be made on the loop's thread.
 * No c-ares type appears here: the channel is an opaque pointer, so only the resolver's own
 * files (resolver_int.h lists them) include <ares.h>.
 */
#ifndef JARM_RESOLVER_H_
#define JARM_RESOLVER_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "queue.h"

/* Addresses reported for one name at most; further records are dropped. */
#define JARM__DNS_MAX_ADDRS 16

/* Defaults applied to zero fields of jarm__resolver_opts_t. */
#define JARM__DNS_DEFAULT_OUTSTANDING 128
#define JARM__DNS_DEFAULT_TIMEOUT_MS  2000
#define JARM__DNS_DEFAULT_TRIES       2
#define JARM__DNS_DEFAULT_CACHE_MAX   65536

typedef struct jarm__resolver_opts_s {
    /*
     * Servers as "IP[:PORT],...": IPv4 "192.0.2.1" or "192.0.2.1:5353", IPv6 "2001:db8::1",
     * "[2001:db8::1]" or "[2001:db8::1]:5353"; port 1..65535, default 53. NULL: the servers
     * of the system's resolv.conf. Borrowed during jarm__resolver_init only.
     */
    const char *servers;
    int family;               /* 0: A first, AAAA if the name has no A; 4: only A; 6: only AAAA */
    unsigned max_outstanding; /* names being queried at most; 0: 128 (see dns_query.c) */
    unsigned timeout_ms;      /* per try; 0: 2000 */
    unsigned tries;           /* tries per server; 0: 2 */
    size_t cache_max;         /* completed names kept; 0: 65536 */
    /* Called (may be NULL) when jarm__resolver_can_submit may have turned true without an
     * answer: queries passed their first try's timeout. */
    void (*ready_cb)(void *data);
    void *ready_data;
} jarm__resolver_opts_t;

/* Outcome of one name. The names are the `dns_error` reasons of a row. */
typedef enum jarm__dns_status_e {
    JARM__DNS_OK = 0,     /* at least one address */
    JARM__DNS_NXDOMAIN,   /* the name does not exist */
    JARM__DNS_SERVFAIL,   /* the server answered SERVFAIL */
    JARM__DNS_TIMEOUT,    /* no answer on any try */
    JARM__DNS_REFUSED,    /* the server answered REFUSED */
    JARM__DNS_NO_ADDRESS, /* the name exists but has no address of the asked family */
    JARM__DNS_ERROR       /* anything else: not a DNS name, bad reply, no memory, cancelled */
} jarm__dns_status_t;

/* "ok", "nxdomain", "servfail", "timeout", "refused", "no_address" or "error"; never NULL. */
const char *jarm__dns_status_name(jarm__dns_status_t s);

/*
 * The outcome of one jarm__resolver_resolve. status JARM__DNS_OK comes with 1..
 * JARM__DNS_MAX_ADDRS addresses (AF_INET or AF_INET6, port 0), IPv4 first unless the
 * family is 6, otherwise in the order of the answer; any other status comes with none
 * (addrs NULL, naddrs 0). addrs is borrowed for the duration of the call only.
 */
typedef void (*jarm__resolve_cb)(void *data, jarm__dns_status_t status,
                                 const struct sockaddr_storage *addrs, size_t naddrs);

typedef struct jarm__resolver_s jarm__resolver_t;

typedef struct jarm__resolver_stats_s {
    uint64_t queries;     /* names sent to c-ares (the AAAA fallback is not counted again) */
    uint64_t cache_hits;  /* requests answered from a completed cache entry */
    uint64_t coalesced;   /* requests attached to a name already being queried */
    uint64_t evictions;   /* completed entries dropped to respect cache_max */
    size_t cache_entries; /* names in the cache now, being queried or completed */
    unsigned outstanding; /* names being queried now */
    unsigned fresh;       /* of which within their first try (<= max_outstanding) */
    unsigned peak_outstanding;
    unsigned window;      /* jarm__resolver_can_submit's limit now, <= max_outstanding */
    uint64_t window_cuts; /* times the window was halved after lost tries */
    uint64_t retries;     /* names asked again after a connection error */
} jarm__resolver_stats_t;

struct jarm__resolver_s {
    void *data; /* the caller's, untouched by the resolver */

    /* Private: see resolver_int.h and the files it lists. */
    uv_loop_t *loop;
    void *channel; /* ares_channel_t * */
    jarm__resolver_opts_t opts;
    uv_timer_t timer;
    uv_timer_t retry_timer; /* names to ask again (retry_head) */
    jarm__queue_t fresh;    /* queries within their first try, oldest first */
    unsigned nfresh;
    struct jarm__dns_entry_s *retry_head;
    struct jarm__dns_entry_s *lane; /* the name asked again alone, or NULL */
    int answered;                   /* some server has answered a query */
    uint64_t rng;
    struct jarm__dns_poll_s **polls; /* indexed by fd */
    size_t polls_cap;
    struct jarm__dns_entry_s **buckets;
    size_t nbuckets, nentries;
    jarm__queue_t lru; /* completed entries, most recent first */
    struct jarm__dns_waiter_s *free_waiters;
    size_t nfree_waiters;
    jarm__resolver_stats_t stats;
    uint64_t window_cut_at; /* loop time of the last halving */
    unsigned window_threshold, window_acks;
    unsigned timer_slack_ms; /* see "Timer" in dns_channel.c */
    int ares_depth;          /* calls into c-ares on the stack */
    int closing;             /* jarm__resolver_close was called */
    int destroy_pending;     /* close was called inside a c-ares call: destroy when it returns */
    int handles_open;
    void (*close_cb)(jarm__resolver_t *r);
    char error[256];
};

/*
 * Initialise r on loop with opts (NULL: every default). Returns 0, or a negative error:
 * JARM_EINVAL for a bad option (family not 0/4/6, a servers string that does not parse), the
 * reason being in jarm__resolver_error(r); UV_ENOMEM. On error nothing needs closing. Sends
 * nothing; reads /etc/resolv.conf only when opts->servers is NULL.
 */
int jarm__resolver_init(jarm__resolver_t *r, uv_loop_t *loop, const jarm__resolver_opts_t *opts);

/* The reason of the last init error, or ""; owned by r. */
const char *jarm__resolver_error(const jarm__resolver_t *r);

/*
 * Nonzero when a new name may be submitted now: the resolver is not closing and fewer names
 * are within their first try than its window (names past it count only against a bound of
 * 8 x max_outstanding). The window starts at 32 (or max_outstanding if lower),
 * grows with the answers up to max_outstanding, and halves (not below 4) when answers needed
 * retries, at most once per timeout_ms (TCP Reno's rules): a resolver that drops queries gets
 * fewer. Callers re-check after each of their callbacks. A request for a name already cached
 * or being queried is accepted even when this returns 0, and jarm__resolver_resolve accepts
 * new names up to max_outstanding regardless of the window.
 */
int jarm__resolver_can_submit(jarm__resolver_t *r);

/* Names being queried now (coalesced requests and cache hits are not counted). */
unsigned jarm__resolver_outstanding(const jarm__resolver_t *r);

/* Counters and gauges; see jarm__resolver_stats_t. */
void jarm__resolver_stats(const jarm__resolver_t *r, jarm__resolver_stats_t *out);

/*
 * Resolve name (borrowed during the call; any case, one trailing dot allowed) and report to
 * cb(data, ...) exactly once, or return a negative error and never call cb.
 *
 * cb MAY RUN BEFORE THIS FUNCTION RETURNS: for a cache hit, an IP literal (answered as
 * itself), "localhost" (127.0.0.1, or ::1 with family 6), a string that cannot be a DNS name
 * (JARM__DNS_ERROR), and a query c-ares completes at once. Put the requester into its
 * "resolving" state before the call (cb may find it there), and do not resolve in a loop
 * inside cb without bounding the recursion: cache hits chain synchronously.
 *
 * A name that is being queried gets its request attached to that query; a completed name is
 * answered from the cache, whatever its status (JARM__DNS_ERROR results are not cached).
 * Errors: JARM_EINVAL (name or cb NULL), UV_EAGAIN (a new name while max_outstanding names
 * are within their first try, or 8 x max_outstanding are being queried), UV_ECANCELED (after
 * jarm__resolver_close), UV_ENOMEM.
 */
int jarm__resolver_resolve(jarm__resolver_t *r, const char *name, jarm__resolve_cb cb, void *data);

/*
 * Cancel everything and release r. Every pending request gets its callback with
 * JARM__DNS_ERROR (during this call, or, when close is called from inside a resolver
 * callback, as soon as that callback's c-ares call returns); later resolves fail with
 * UV_ECANCELED. close_cb (may be NULL) runs from the loop once every libuv handle of r is
 * closed; the loop must run for that to happen. Calling close twice is a programming error.
 */
void jarm__resolver_close(jarm__resolver_t *r, void (*close_cb)(jarm__resolver_t *r));

#endif /* JARM_RESOLVER_H_ */
