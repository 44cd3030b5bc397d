/*
 * resolver.c - c-ares on the scan loop, in fd-callback mode, with a per-run cache: the API.
 *
 * The resolver's files (see resolver_int.h): this one checks the options, answers what needs
 * no query and routes a name to the cache (dns_cache.c) or a new query (dns_query.c); the
 * channel, its sockets and timer live in dns_channel.c.
 *
 * c-ares 1.18 treats "localhost" specially only through the hosts file, which is not read
 * (lookups "b"), so "localhost" and "*.localhost" are answered here with the loopback address
 * (RFC 6761 6.3).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "resolver_int.h"

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

/* Check the options of r (copied from opts) and fill in the defaults. */
static int opts_apply(jarm__resolver_t *r, const jarm__resolver_opts_t *opts)
{
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
        r->opts.max_outstanding < DNS_WINDOW_INITIAL ? r->opts.max_outstanding : DNS_WINDOW_INITIAL;
    r->window_threshold = r->opts.max_outstanding;
    return 0;
}

int jarm__resolver_init(jarm__resolver_t *r, uv_loop_t *loop, const jarm__resolver_opts_t *opts)
{
    struct ares_addr_port_node *servers = NULL;
    size_t nservers = 0;
    int ret;

    memset(r, 0, sizeof(*r));
    jarm__queue_init(&r->fresh);
    jarm__queue_init(&r->lru);
    r->loop = loop;
    if ((ret = opts_apply(r, opts)) != 0)
        return ret;
    if (opts != NULL && opts->servers != NULL &&
        (ret = jarm__dns_servers_parse(r, opts->servers, &servers, &nservers)) != 0)
        return ret;
    if ((ret = jarm__dns_cache_init(r)) == 0 &&
        (ret = jarm__dns_channel_open(r, servers, nservers)) != 0)
        jarm__dns_cache_free(r);
    jarm__dns_servers_free(servers);
    if (ret != 0)
        return ret;

    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->retry_timer);
    r->handles_open = 2;
    r->rng = (uint64_t)uv_hrtime();
    return 0;
}

const char *jarm__resolver_error(const jarm__resolver_t *r)
{
    return r->error;
}

int jarm__resolver_can_submit(jarm__resolver_t *r)
{
    if (r->closing)
        return 0;
    jarm__dns_fresh_expire(r);
    return r->nfresh < r->stats.window &&
           r->stats.outstanding < r->opts.max_outstanding * DNS_LINGER_FACTOR;
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

static int is_localhost(const char *key, size_t len)
{
    static const char lh[] = "localhost";
    const size_t n = sizeof(lh) - 1;

    if (len == n)
        return memcmp(key, lh, n) == 0;
    return len > n && key[len - n - 1] == '.' && memcmp(key + len - n, lh, n) == 0;
}

/*
 * Answer at once what needs no query and is not cached: a key that is no name (len < 0), an
 * IP literal, a string that cannot be a DNS name, "localhost". Returns 1 when cb was called.
 */
static int answer_at_once(const jarm__resolver_t *r, const char *key, int len, jarm__resolve_cb cb,
                          void *data)
{
    dns_addr_t a;

    if (len < 0) {
        cb(data, JARM__DNS_ERROR, NULL, 0);
        return 1;
    }
    if (inet_pton(AF_INET, key, a.bytes) == 1 || inet_pton(AF_INET6, key, a.bytes) == 1) {
        a.family = strchr(key, ':') != NULL ? 6 : 4;
        if ((r->opts.family == 4 && a.family == 6) || (r->opts.family == 6 && a.family == 4))
            cb(data, JARM__DNS_NO_ADDRESS, NULL, 0);
        else
            jarm__dns_deliver(cb, data, JARM__DNS_OK, &a, 1);
        return 1;
    }
    if (!jarm__dns_name_valid(key, (size_t)len, 0)) { /* c-ares sends it as is */
        cb(data, JARM__DNS_ERROR, NULL, 0);
        return 1;
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
        jarm__dns_deliver(cb, data, JARM__DNS_OK, &a, 1);
        return 1;
    }
    return 0;
}

int jarm__resolver_resolve(jarm__resolver_t *r, const char *name, jarm__resolve_cb cb, void *data)
{
    char key[DNS_NAME_MAX_LEN + 2];
    dns_entry_t *e;
    uint32_t hash;
    int len;

    if (name == NULL || cb == NULL)
        return JARM_EINVAL;
    if (r->closing)
        return UV_ECANCELED;
    len = jarm__dns_make_key(name, key);
    if (answer_at_once(r, key, len, cb, data))
        return 0;

    hash = jarm__dns_key_hash(key, (size_t)len);
    if ((e = jarm__dns_cache_find(r, key, (size_t)len, hash)) != NULL)
        return jarm__dns_cache_request(r, e, cb, data);

    jarm__dns_fresh_expire(r);
    if (r->nfresh >= r->opts.max_outstanding ||
        r->stats.outstanding >= r->opts.max_outstanding * DNS_LINGER_FACTOR)
        return UV_EAGAIN;
    if ((e = jarm__dns_entry_new(r, key, (size_t)len, hash, cb, data)) == NULL)
        return UV_ENOMEM;
    jarm__dns_query_new(r, e); /* may complete e */
    return 0;
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
    jarm__dns_finish_close(r);
}
