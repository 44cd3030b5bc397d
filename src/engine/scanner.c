/*
 * scanner.c - the engine-side scanner: options, its life on the client's loop, the result
 * hooks. What is scanned and in which order: feed.c.
 *
 * One state (jarm__scanner_state_t) says where the scanner is; every path ends in release(),
 * which frees what is off the loop and closes the closer timer, so the client's close
 * callback always comes from the loop.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "endpoint.h"
#include "httpproxy.h"
#include "internal.h"
#include "jarm.h"
#include "scanner.h"

/* ---- test hook: allocation failures ---- */

/* Allocation points left before the one that fails; -1: none fails. */
static long fault_left = -1;

void jarm__fault_arm(void)
{
    const char *s = getenv("JARMSWEEP_TEST_FAIL_ALLOC");
    long n = s != NULL ? strtol(s, NULL, 10) : 0;
    __atomic_store_n(&fault_left, n > 0 ? n - 1 : -1, __ATOMIC_RELAXED);
}

int jarm__fault(void)
{
    if (__atomic_load_n(&fault_left, __ATOMIC_RELAXED) < 0)
        return 0;
    return __atomic_fetch_sub(&fault_left, 1, __ATOMIC_RELAXED) == 0;
}

/* ---- setup ---- */

uint64_t jarm__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t jarm__scanner_random_seed(void)
{
    uint64_t seed;
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    return seed & ((((uint64_t)1) << 53) - 1); /* printable and exact in JSON tools */
}

static int proxy_parse(const char *url, jarm__proxy_t *p, char *msg, size_t msglen)
{
    jarm__proxy_url_t u;
    char port[8];
    struct addrinfo hints, *res = NULL;
    int r, v6;

    memset(p, 0, sizeof(*p));
    if (jarm__proxy_url_parse(url, &u, NULL, 0) != 0) {
        if (u.bad_credentials)
            snprintf(msg, msglen, "bad --proxy credentials (1-255 bytes each)");
        else
            snprintf(msg, msglen, "bad --proxy '%s' (socks5:// or http://[user:pass@]host:port)",
                     url);
        return -1;
    }
    p->http = u.scheme == JARM__PROXY_HTTP;
    if (p->http && u.auth) {
        /* Basic: the user may not hold ':', neither may hold control bytes. */
        char req[2048];
        size_t n;
        if (jarm__http_connect_build("x", 1, 1, u.user, strlen(u.user), u.pass, strlen(u.pass), req,
                                     sizeof(req), &n) != 0) {
            snprintf(msg, msglen, "bad --proxy credentials (a ':' in the user, a control byte)");
            return -1;
        }
    }
    memcpy(p->user, u.user, sizeof(p->user));
    memcpy(p->pass, u.pass, sizeof(p->pass));
    p->auth = u.auth;
    snprintf(port, sizeof(port), "%u", (unsigned)u.port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((r = getaddrinfo(u.host, port, &hints, &res)) != 0) {
        snprintf(msg, msglen, "--proxy: %s: %s", u.host, gai_strerror(r));
        return -1;
    }
    memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    v6 = strchr(u.host, ':') != NULL;
    snprintf(p->label, sizeof(p->label), "%s://%s%s%s:%s", p->http ? "http" : "socks5",
             v6 ? "[" : "", u.host, v6 ? "]" : "", port);
    return 0;
}

/* Raise the open-files limit to the hard limit; clamp the window to what fits (the client
 * learns it from concurrency_asked and fd_limit). */
static void fit_concurrency(jarm__scanner_t *sc)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)sc->opts.concurrency + JARM__FD_RESERVE;

    sc->concurrency_asked = sc->opts.concurrency;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        sc->fd_limit = (uint64_t)rl.rlim_cur;
        sc->opts.concurrency =
            rl.rlim_cur > JARM__FD_RESERVE + 1 ? (unsigned)(rl.rlim_cur - JARM__FD_RESERVE) : 1;
    }
}

int jarm__scanner_init(jarm__scanner_t *sc, uv_loop_t *loop, const jarm__scanner_opts_t *opts,
                       const jarm__scanner_hooks_t *hooks, char *msg, size_t msglen)
{
    int r;

    memset(sc, 0, sizeof(*sc));
    sc->loop = loop;
    sc->opts = *opts;
    if (hooks != NULL)
        sc->hooks = *hooks;
    if (sc->opts.shard_n == 0)
        sc->opts.shard_n = 1;
    jarm__fault_arm();
    sc->input.args = opts->args;
    sc->input.nargs = opts->nargs;
    sc->input.files = opts->files;
    sc->input.nfiles = opts->nfiles;
    sc->input.next = opts->next;
    sc->input.next_data = opts->next_data;
    sc->input.manual = opts->manual;
    if (jarm__input_open(&sc->input, msg, msglen) != 0) {
        r = JARM_EINVAL;
        goto Fail;
    }
    if ((r = jarm__feed_init(sc, msg, msglen)) != 0)
        goto Fail;
    fit_concurrency(sc);
    if (opts->proxy != NULL && proxy_parse(opts->proxy, &sc->proxy, msg, msglen) != 0) {
        r = JARM_EINVAL;
        goto Fail;
    }
    sc->state = JARM__SC_IDLE;
    return 0;
Fail:
    jarm__feed_free(sc);
    jarm__input_close(&sc->input, NULL); /* not started: closes the files */
    return r;
}

/* ---- the end: hooks, then the handles close, then release ---- */

static void on_closer_closed(uv_handle_t *h)
{
    jarm__scanner_t *sc = h->data;
    sc->state = JARM__SC_CLOSED;
    if (sc->close_cb != NULL)
        sc->close_cb(sc);
}

/* Every handle of the scanner is closed: free the rest, then close_cb from the loop. */
static void release(jarm__scanner_t *sc)
{
    jarm__feed_free(sc);
    if (!sc->input_ran)
        jarm__input_close(&sc->input, NULL); /* never started: its files */
    free(sc->scan);
    sc->scan = NULL;
    uv_timer_init(sc->loop, &sc->closer);
    sc->closer.data = sc;
    uv_close((uv_handle_t *)&sc->closer, on_closer_closed);
}

static void handle_closed(jarm__scanner_t *sc)
{
    if (--sc->handles_closing > 0)
        return;
    if (sc->state == JARM__SC_CLOSING)
        release(sc);
    else
        sc->state = JARM__SC_ENDED;
}

static void on_input_closed(jarm__input_t *in)
{
    handle_closed(JARM__CONTAINER_OF(in, jarm__scanner_t, input));
}

static void on_resolver_closed(jarm__resolver_t *r)
{
    handle_closed(JARM__CONTAINER_OF(r, jarm__scanner_t, resolver));
}

static void on_scan_closed(jarm__scan_t *s)
{
    handle_closed(s->data);
}

/* Close what is on the loop (input, resolver, engine); handle_closed counts them down. */
static void close_handles(jarm__scanner_t *sc)
{
    sc->handles_closing = 1; /* held until every close below is under way */
    if (sc->input.started) {
        sc->handles_closing++;
        sc->input_ran = 1; /* its close frees its files (or leaves them to a reader) */
        jarm__input_close(&sc->input, on_input_closed);
    }
    if (sc->resolver_on) {
        sc->handles_closing++;
        jarm__resolver_close(&sc->resolver, on_resolver_closed);
        sc->resolver_on = 0;
    }
    if (sc->scan_on) {
        sc->handles_closing++;
        jarm__scan_close(sc->scan, on_scan_closed);
        sc->scan_on = 0;
    }
    handle_closed(sc);
}

static void on_done(jarm__scan_t *s)
{
    jarm__scanner_t *sc = s->data;
    int closing = sc->state == JARM__SC_CLOSING;

    if (!closing)
        sc->state = JARM__SC_ENDING;
    close_handles(sc);
    if (!closing && sc->hooks.done != NULL)
        sc->hooks.done(sc);
}

static void on_result(jarm__scan_t *s, jarm__target_t *t)
{
    jarm__scanner_t *sc = s->data;
    if (s->stats.nomem != 0) /* the engine could not compute a result: fail the run */
        jarm__scanner_fail(sc, "out of memory");
    if (sc->state != JARM__SC_CLOSING && sc->hooks.result != NULL)
        sc->hooks.result(sc, t);
}

static void on_input(void *data)
{
    jarm__scanner_t *sc = data;
    jarm__scan_wake(sc->scan);
}

/* The resolver may take more names although none was answered. */
static void on_resolver_ready(void *data)
{
    jarm__scanner_t *sc = data;
    if (sc->state == JARM__SC_RUNNING || sc->state == JARM__SC_STOPPING)
        jarm__scan_wake(sc->scan);
}

/* ---- start ---- */

/* Undo a failed start: what reached the loop is closing; the scanner ends. */
static int start_failed(jarm__scanner_t *sc, int r)
{
    sc->state = JARM__SC_ENDING;
    close_handles(sc);
    return r;
}

int jarm__scanner_start(jarm__scanner_t *sc, char *msg, size_t msglen)
{
    jarm__scan_opts_t so;
    jarm__resolver_opts_t ro;
    int r;

    if (sc->state != JARM__SC_IDLE)
        return JARM_EINVAL;
    sc->state = JARM__SC_RUNNING;
    memset(&so, 0, sizeof(so));
    so.concurrency = sc->opts.concurrency;
    so.probe_parallel = sc->opts.probe_parallel;
    so.per_ip = sc->opts.per_ip;
    so.timeout_ms = (uint64_t)(sc->opts.timeout * 1000.0 + 0.5);
    if (so.timeout_ms == 0)
        so.timeout_ms = 1;
    so.rate = sc->opts.rate;
    so.sni = sc->opts.sni;
    so.cert = sc->opts.cert;
    so.cert_max = sc->opts.cert_max;
    so.compare_direct = sc->opts.compare_direct;
    so.repeat = sc->opts.repeat;
    if (sc->opts.proxy != NULL) {
        so.proxy = &sc->proxy.addr;
        so.proxy_label = sc->proxy.label;
        so.proxy_http = sc->proxy.http;
        if (sc->proxy.auth) {
            so.proxy_user = sc->proxy.user;
            so.proxy_pass = sc->proxy.pass;
        }
    }
    if ((sc->scan = jarm__fault() ? NULL : malloc(sizeof(*sc->scan))) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return start_failed(sc, JARM_ENOBUFS);
    }
    /* Before the engine: a failed resolver init leaves nothing on the loop. */
    memset(&ro, 0, sizeof(ro));
    ro.servers = sc->opts.resolvers;
    ro.family = sc->opts.family;
    ro.max_outstanding = sc->opts.dns_concurrency;
    ro.timeout_ms = sc->opts.dns_timeout_ms;
    ro.tries = sc->opts.dns_tries;
    ro.ready_cb = on_resolver_ready;
    ro.ready_data = sc;
    if ((r = jarm__resolver_init(&sc->resolver, sc->loop, &ro)) != 0) {
        const char *why = jarm__resolver_error(&sc->resolver);
        snprintf(msg, msglen, "%s", why && *why ? why : "cannot start the resolver");
        return start_failed(sc, sc->opts.resolvers != NULL ? JARM_EINVAL : r);
    }
    sc->resolver_on = 1;
    if ((r = jarm__scan_init(sc->loop, sc->scan, &so)) != 0) {
        snprintf(msg, msglen, "cannot start the engine: %s", jarm_strerror(r));
        return start_failed(sc, r);
    }
    sc->scan_on = 1;
    sc->scan->data = sc;
    if ((r = jarm__input_start(&sc->input, sc->loop, on_input, sc)) != 0) {
        snprintf(msg, msglen, "cannot read input: %s", jarm_strerror(r));
        return start_failed(sc, r);
    }
    if ((r = jarm__scan_start(sc->scan, jarm__feed_pull, on_result, on_done)) != 0) {
        snprintf(msg, msglen, "cannot start the engine: %s", jarm_strerror(r));
        return start_failed(sc, r);
    }
    return 0;
}

/* ---- while it runs ---- */

int jarm__scanner_add(jarm__scanner_t *sc, const char *line, size_t len)
{
    if (sc->state != JARM__SC_RUNNING || !sc->opts.manual)
        return JARM_EINVAL;
    return jarm__input_add(&sc->input, line, len);
}

void jarm__scanner_end(jarm__scanner_t *sc)
{
    if (sc->state == JARM__SC_RUNNING && sc->opts.manual)
        jarm__input_end(&sc->input);
}

void jarm__scanner_stop(jarm__scanner_t *sc)
{
    if (sc->state != JARM__SC_RUNNING)
        return;
    sc->state = JARM__SC_STOPPING;
    jarm__input_stop(&sc->input);
    jarm__scan_stop(sc->scan);
}

void jarm__scanner_abort(jarm__scanner_t *sc)
{
    sc->failed = 1;
    jarm__scanner_stop(sc);
}

void jarm__scanner_fail(jarm__scanner_t *sc, const char *msg)
{
    if (sc->failed)
        return;
    if (sc->hooks.fail != NULL && sc->state != JARM__SC_CLOSING)
        sc->hooks.fail(sc, msg);
    jarm__scanner_abort(sc);
}

void jarm__scanner_wake(jarm__scanner_t *sc)
{
    if (sc->state == JARM__SC_RUNNING || sc->state == JARM__SC_STOPPING)
        jarm__scan_wake(sc->scan);
}

void jarm__scanner_close(jarm__scanner_t *sc, void (*cb)(jarm__scanner_t *sc))
{
    jarm__scanner_state_t was = sc->state;

    if (was == JARM__SC_CLOSING || was == JARM__SC_CLOSED)
        return;
    sc->close_cb = cb;
    sc->state = JARM__SC_CLOSING; /* first: a stop may end the scan at once, done must not run */
    if (was == JARM__SC_RUNNING || was == JARM__SC_STOPPING) {
        /* The engine's handles close after its last result (on_done, then release). */
        jarm__input_stop(&sc->input);
        jarm__scan_stop(sc->scan);
    } else if (was == JARM__SC_IDLE || was == JARM__SC_ENDED) {
        release(sc);
    }
    /* ENDING: handle_closed releases once the last handle is closed. */
}
