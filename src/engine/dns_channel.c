/*
 * dns_channel.c - the resolver's c-ares channel on the loop.
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
 * c-ares options: no search domains, ndots 1, no HOSTALIASES, lookups "b" (DNS only, no hosts
 * file: names are absolute and the answer must come from the resolvers the user chose),
 * ARES_AI_NOSORT, a 1 MiB socket receive buffer, rotation over several resolvers, and before
 * c-ares 1.20 ARES_FLAG_NOCHECKRESP (see channel_options).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "resolver_int.h"

/*
 * Receive buffer of c-ares's sockets (the kernel caps it at net.core.rmem_max). A small
 * datagram costs about 800 bytes of socket memory, so the usual 208 KiB default holds about
 * 250 answers: fewer than max_outstanding may bring back while the loop is busy elsewhere.
 */
#define SOCK_RCVBUF (1 << 20)
/* The shortest per-try timeout of c-ares >= 1.32 (MIN_TIMEOUT_MS in ares_metrics.c). */
#define ADAPTIVE_TIMEOUT_MIN_MS 250

typedef struct jarm__dns_poll_s {
    uv_poll_t poll;
    jarm__resolver_t *r;
    ares_socket_t fd;
} dns_poll_t;

/* ----------------------------------------------------------------------------------------
 * Timer and processing
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

void jarm__dns_after_ares(jarm__resolver_t *r)
{
    if (r->ares_depth > 0)
        return;
    if (r->destroy_pending)
        jarm__dns_finish_close(r);
    else if (!r->closing)
        timer_update(r);
}

static void process(jarm__resolver_t *r, ares_socket_t rfd, ares_socket_t wfd)
{
    if (r->channel == NULL)
        return;
    r->ares_depth++;
    ares_process_fd(r->channel, rfd, wfd);
    r->ares_depth--;
    jarm__dns_after_ares(r);
}

static void on_timer(uv_timer_t *t)
{
    jarm__resolver_t *r = JARM__CONTAINER_OF(t, jarm__resolver_t, timer);

    process(r, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    /* c-ares's timer fires when tries time out, which is when queries stop being fresh: the
     * window may have room now although nothing was answered. */
    if (!r->closing && jarm__dns_fresh_expire(r) > 0 && r->opts.ready_cb != NULL)
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

/* ----------------------------------------------------------------------------------------
 * Handles and release
 */

/* The last handle closed: free the memory and tell the caller. */
static void release(jarm__resolver_t *r)
{
    assert(r->stats.outstanding == 0);
    jarm__dns_cache_free(r);
    free(r->polls);
    r->polls = NULL;
    r->polls_cap = 0;
    ares_library_cleanup();
    if (r->close_cb != NULL)
        r->close_cb(r);
}

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

void jarm__dns_finish_close(jarm__resolver_t *r)
{
    r->destroy_pending = 0;
    r->ares_depth++;
    ares_destroy(r->channel);
    r->ares_depth--;
    r->channel = NULL;

    /* c-ares cancels every query in ares_destroy; this only guards against a version that
     * would not. */
    jarm__dns_cache_cancel(r);

    close_polls(r);
    r->timer.data = r->retry_timer.data = r;
    uv_close((uv_handle_t *)&r->timer, on_timer_close);
    uv_close((uv_handle_t *)&r->retry_timer, on_timer_close);
}

/* ----------------------------------------------------------------------------------------
 * Channel
 */

/* Fill ao for r's options and servers; returns the option mask. */
static int channel_options(jarm__resolver_t *r, struct ares_options *ao, int explicit_servers,
                           size_t nservers)
{
    static char lookups[] = "b", no_resolvconf[] = "/dev/null";
    int optmask, version;

    memset(ao, 0, sizeof(*ao));
    ao->flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    /* Before 1.20, c-ares drops SERVFAIL and REFUSED answers and, once every server was
     * skipped, fails with ECONNREFUSED: the reason is lost. Passing them through keeps it, at
     * the cost of not retrying such a name on the other resolvers. */
    ares_version(&version);
    if (version < 0x011400)
        ao->flags |= ARES_FLAG_NOCHECKRESP;
    r->timer_slack_ms = r->opts.timeout_ms;
    if (version >= 0x012000 && r->timer_slack_ms > ADAPTIVE_TIMEOUT_MIN_MS)
        r->timer_slack_ms = ADAPTIVE_TIMEOUT_MIN_MS;
    ao->timeout = (int)r->opts.timeout_ms; /* milliseconds with ARES_OPT_TIMEOUTMS */
    ao->tries = (int)r->opts.tries;
    ao->ndots = 1;
    ao->domains = NULL;
    ao->ndomains = 0;
    ao->lookups = lookups;
    ao->sock_state_cb = on_sock_state;
    ao->sock_state_cb_data = r;
    ao->socket_receive_buffer_size = SOCK_RCVBUF;
    optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
              ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_SOCK_RCVBUF;
    /* Spread the load over the resolvers the user listed: do not flood one of them. */
    if (nservers > 1)
        optmask |= ARES_OPT_ROTATE;
    /* With explicit resolvers nothing in resolv.conf applies (every option it could set is
     * set above), so it is not read at all: the tests stay hermetic. */
    if (explicit_servers) {
        ao->resolvconf_path = no_resolvconf;
        optmask |= ARES_OPT_RESOLVCONF;
    }
    return optmask;
}

/* A c-ares error rc of what (with ": " after it, or ""): the message and our code. */
static int channel_error(jarm__resolver_t *r, const char *what, int rc)
{
    (void)snprintf(r->error, sizeof(r->error), "c-ares: %s%s", what, ares_strerror(rc));
    return rc == ARES_ENOMEM ? UV_ENOMEM : JARM_EINVAL;
}

int jarm__dns_channel_open(jarm__resolver_t *r, struct ares_addr_port_node *servers,
                           size_t nservers)
{
    struct ares_options ao;
    ares_channel_t *ch = NULL;
    int rc, optmask;

    if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
        return channel_error(r, "", rc);
    optmask = channel_options(r, &ao, servers != NULL, nservers);
    if ((rc = ares_init_options(&ch, &ao, optmask)) != ARES_SUCCESS) {
        ares_library_cleanup();
        return channel_error(r, "", rc);
    }
    if (servers != NULL && (rc = ares_set_servers_ports(ch, servers)) != ARES_SUCCESS) {
        ares_destroy(ch);
        ares_library_cleanup();
        return channel_error(r, "setting resolvers: ", rc);
    }
    r->channel = ch;
    return 0;
}
