/*
 * run.c - one scan: owns the loop, wires input -> engine -> rows, signals, progress. The
 * command line (main.c) and the library's jarm_scan() (api.c) both run scans through here.
 *
 * Nothing but results goes to standard output. Every input target yields exactly one row:
 * scanned targets from the engine's result callback, unparsable lines and failed lookups
 * from the pull callback, before they would reach the engine.
 *
 * What is scanned, in which order, and the checkpoint of --resume: feed.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "cli/app.h"
#include "internal.h"
#include "cli/cli.h"
#include "endpoint.h"
#include "httpproxy.h"
#include "input.h"
#include "jarm.h"
#include "output.h"
#include "resolver.h"
#include "scan.h"
#include "status.h"
#include "target.h"

/* Output queued and not yet written: at SINK_HIGH bytes no new target is started, until the
 * writer has brought it under SINK_LOW (both above the writer's batch of 64 KiB). */
#define SINK_HIGH (1024 * 1024)
#define SINK_LOW  (512 * 1024)
/* Units handled in one pull without giving the loop a turn (rows written directly). */
#define PULL_YIELD 4096

/* File descriptors kept for everything but probe connections (stdio, loop, input, DNS). */
#define FD_RESERVE 64

/* A message for the user: on stderr for the command line, in app->err for the library. */
__attribute__((format(printf, 2, 3))) static void say(app_t *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (app->lib) {
        if (app->err[0] == '\0')
            vsnprintf(app->err, sizeof(app->err), fmt, ap);
    } else {
        fputs("jarmsweep: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

void jarm__app_fail(app_t *app, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    if (app->failed)
        return;
    app->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    say(app, "%s", msg);
    jarm__input_stop(&app->input);
    if (app->scan != NULL && !app->closing)
        jarm__scan_stop(app->scan);
}

static void fail_sink(app_t *app, int err)
{
    jarm__app_fail(app, "%s: %s", app->opts.output ? app->opts.output : "stdout",
                   err == ENOMEM ? "out of memory" : strerror(err));
}

/* Rows the writer has written: count them, and only now let the checkpoint have them. */
static void drain_written(app_t *app)
{
    int err;
    uint64_t written = jarm__sink_written(&app->sink, &err);

    while (app->pend_n > 0 && app->pend[app->pend_head].end <= written) {
        uint64_t seq = app->pend[app->pend_head].seq;
        app->pend_head = (app->pend_head + 1) & (app->pend_cap - 1);
        app->pend_n--;
        app->rows++;
        if (seq != JARM__NO_UNIT)
            jarm__feed_complete(app, seq);
    }
    if (err != 0)
        fail_sink(app, err);
}

/* Remember that unit seq is complete once the sink has written `end` bytes. */
static int pend_push(app_t *app, uint64_t end, uint64_t seq)
{
    if (app->pend_n == app->pend_cap) {
        size_t cap = app->pend_cap ? app->pend_cap * 2 : 1024;
        struct jarm__pend_s *p = malloc(cap * sizeof(*p));
        if (p == NULL)
            return -1;
        for (size_t i = 0; i < app->pend_n; i++)
            p[i] = app->pend[(app->pend_head + i) & (app->pend_cap - 1)];
        free(app->pend);
        app->pend = p;
        app->pend_cap = cap;
        app->pend_head = 0;
    }
    app->pend[(app->pend_head + app->pend_n) & (app->pend_cap - 1)] =
        (struct jarm__pend_s){end, seq};
    app->pend_n++;
    return 0;
}

void jarm__app_emit(app_t *app, uint64_t seq)
{
    int err;

    if (app->row.oom) {
        /* The row could not be built: fail rather than write or count a partial one. */
        app->row.oom = 0;
        app->row.len = 0;
        jarm__app_fail(app, "out of memory");
        return;
    }
    /* After a failure rows are dropped, and never claimed done; the library gets no lines. */
    if (app->failed || app->row_cb != NULL) {
        app->row.len = 0;
        return;
    }
    err = jarm__sink_write(&app->sink, &app->row);
    app->row.len = 0;
    if (err != 0) {
        fail_sink(app, err);
        return;
    }
    if (pend_push(app, app->sink.queued, seq) != 0)
        jarm__app_fail(app, "out of memory");
    if (!app->sink.started)
        drain_written(app);
}

void jarm__app_row(app_t *app, const jarm_result_t *r, uint64_t seq)
{
    if (app->row_cb != NULL) {
        /* The library: hand the row over as data; non-zero means stop. */
        app->rows++;
        if (app->row_cb(app->row_data, r) != 0 && !app->stopping) {
            app->stopping = 1;
            jarm__input_stop(&app->input);
            jarm__scan_stop(app->scan);
        }
        if (seq != JARM__NO_UNIT)
            jarm__feed_complete(app, seq);
        return;
    }
    jarm__row_write(&app->row, app->opts.format, r);
    jarm__app_emit(app, seq);
}

int jarm__app_hold(app_t *app)
{
    if (app->lib || !app->sink.started)
        return 0;
    if (jarm__sink_backlog(&app->sink) >= SINK_HIGH) {
        app->sink_wait = 1; /* on_sink_progress wakes the engine once it has drained */
        return 1;
    }
    if (++app->pull_units >= PULL_YIELD) {
        /* Many rows written from one pull (a dry run of a range, bad lines): let the loop
         * serve signals and timers, and come back at once. */
        app->pull_units = 0;
        app->sink_wait = 1;
        uv_async_send(&app->sink.async);
        return 1;
    }
    return 0;
}

static void on_sink_progress(jarm__sink_t *sink)
{
    app_t *app = sink->data;
    drain_written(app);
    if (app->sink_wait && !app->closing && jarm__sink_backlog(sink) < SINK_LOW) {
        app->sink_wait = 0;
        jarm__scan_wake(app->scan);
    }
}

static void on_result(jarm__scan_t *s, jarm__target_t *t)
{
    app_t *app = s->data;
    jarm__row_t row;
    if (s->stats.nomem != 0) /* the engine could not compute a result: fail the run */
        jarm__app_fail(app, "out of memory");
    jarm__row_from_target(&row, t, jarm__wall_ms());
    if (row.r.intercepted != JARM_TRI_ABSENT)
        app->intercept_count[row.r.intercepted == JARM_TRI_TRUE    ? 0
                             : row.r.intercepted == JARM_TRI_FALSE ? 1
                                                                   : 2]++;
    if (row.r.stable != JARM_TRI_ABSENT)
        app->stable_count[row.r.stable == JARM_TRI_TRUE ? 0 : 1]++;
    jarm__feed_annotate(app, &row);
    jarm__app_row(app, &row.r, t->seq);
}

static void on_input(void *data)
{
    app_t *app = data;
    jarm__scan_wake(app->scan);
}

/* The resolver may take more names although none was answered. */
static void on_resolver_ready(void *data)
{
    app_t *app = data;
    if (!app->closing)
        jarm__scan_wake(app->scan);
}

static void print_progress(app_t *app, int final)
{
    const jarm__scan_stats_t *st = &app->scan->stats;
    double secs = (double)(uv_now(app->lp) - app->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)st->targets_done / secs : 0;
    uint64_t sum[JARM__SUM_N] = {0};

    if (final) {
        jarm__status_tally(sum, st->by_status, JARM__ARRAY_SIZE(st->by_status));
        sum[JARM__SUM_UNSCANNED] += app->bad_rows; /* rows of inputs never scanned */
        if (app->progress_on)
            fputs("\r\033[K", stderr);
        fprintf(
            stderr,
            "jarmsweep: %llu rows in %.1f s (%.0f targets/s): %llu ok, %llu timeout, "
            "%llu refused, %llu no_tls, %llu rejected, %llu other, %llu unscanned; "
            "seed %llu, %llu blocklisted; %llu probes confirmed alone\n",
            (unsigned long long)app->rows, secs, rate, (unsigned long long)sum[JARM__SUM_OK],
            (unsigned long long)sum[JARM__SUM_TIMEOUT], (unsigned long long)sum[JARM__SUM_REFUSED],
            (unsigned long long)sum[JARM__SUM_NO_TLS], (unsigned long long)sum[JARM__SUM_REJECTED],
            (unsigned long long)sum[JARM__SUM_OTHER], (unsigned long long)sum[JARM__SUM_UNSCANNED],
            (unsigned long long)app->seed, (unsigned long long)app->ranges_blocked,
            (unsigned long long)st->probes_retried);
        if (app->opts.compare_direct)
            fprintf(stderr,
                    "jarmsweep: compare-direct: %llu intercepted, %llu not intercepted, "
                    "%llu unknown\n",
                    (unsigned long long)app->intercept_count[0],
                    (unsigned long long)app->intercept_count[1],
                    (unsigned long long)app->intercept_count[2]);
        if (app->opts.repeat > 1)
            fprintf(stderr, "jarmsweep: repeat: %llu stable, %llu unstable\n",
                    (unsigned long long)app->stable_count[0],
                    (unsigned long long)app->stable_count[1]);
        if (app->baseline_on)
            fprintf(stderr, "jarmsweep: baseline: %llu same, %llu changed, %llu new\n",
                    (unsigned long long)app->baseline_count[JARM__BASELINE_SAME],
                    (unsigned long long)app->baseline_count[JARM__BASELINE_CHANGED],
                    (unsigned long long)app->baseline_count[JARM__BASELINE_NEW]);
        return;
    }
    fprintf(stderr, "\r\033[K%llu done, %u targets / %u connections in flight, %.0f targets/s",
            (unsigned long long)(st->targets_done + app->bad_rows), st->targets_active,
            st->conns_active, rate);
    if (app->input.bytes_total > 0) {
        /* Regular files only: the share of their bytes read so far estimates the rest. */
        double frac = (double)__atomic_load_n(&app->input.bytes_read, __ATOMIC_RELAXED) /
                      (double)app->input.bytes_total;
        if (frac > 0.001 && frac <= 1.0)
            fprintf(stderr, ", ETA %.0f s", secs / frac - secs);
    }
}

static void on_progress(uv_timer_t *timer)
{
    app_t *app = timer->data;
    jarm__sink_flush(&app->sink); /* results show up at least once a second */
    drain_written(app);
    jarm__feed_checkpoint(app);
    if (app->progress_on)
        print_progress(app, 0);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    app_t *app = sig->data;
    if (++app->signals > 1) {
        /* A second signal: give up on the targets in flight and on rows not yet written
         * (the checkpoint never claimed them). */
        if (!app->opts.quiet)
            fprintf(stderr, "\njarmsweep: interrupted\n");
        _exit(130);
    }
    if (!app->opts.quiet)
        fprintf(stderr, "%sjarmsweep: stopping: finishing %u targets in flight (again to abort)\n",
                app->progress_on ? "\r\033[K" : "", app->scan->stats.targets_active);
    jarm__input_stop(&app->input);
    jarm__scan_stop(app->scan);
}

/* The caller-loop API learns when everything of the scan is closed. */
static void handle_closed(app_t *app)
{
    if (--app->handles_closing == 0 && app->closed_cb != NULL)
        app->closed_cb(app);
}

static void on_input_closed(jarm__input_t *in)
{
    handle_closed(JARM__CONTAINER_OF(in, app_t, input));
}

static void on_resolver_closed(jarm__resolver_t *r)
{
    handle_closed(JARM__CONTAINER_OF(r, app_t, resolver));
}

static void on_scan_closed(jarm__scan_t *s)
{
    handle_closed(s->data);
}

static void on_done(jarm__scan_t *s)
{
    app_t *app = s->data;

    if (!app->lib) {
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        uv_close((uv_handle_t *)&app->sighup, NULL);
        uv_close((uv_handle_t *)&app->progress, NULL);
        jarm__sink_close(&app->sink);
    }
    app->closing = 1;
    app->handles_closing = 3; /* the input's async, the resolver, the engine */
    jarm__input_close(&app->input, on_input_closed);
    if (app->resolver_on)
        jarm__resolver_close(&app->resolver, on_resolver_closed);
    else
        app->handles_closing--;
    jarm__scan_close(s, on_scan_closed);
    if (app->done_cb != NULL)
        app->done_cb(app);
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

/* Raise the open-files limit to the hard limit; clamp the window to what fits. */
static void fit_concurrency(app_t *app)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)app->opts.concurrency + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > FD_RESERVE + 1 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 1;
        if (!app->opts.quiet && !app->lib)
            fprintf(stderr,
                    "jarmsweep: warning: concurrency %u needs %llu open files, the limit is "
                    "%llu: using %u\n",
                    app->opts.concurrency, (unsigned long long)want,
                    (unsigned long long)rl.rlim_cur, fit);
        app->opts.concurrency = fit;
    }
}

/*
 * Undo a failed jarm__run_start and return code. What is off the loop is released now; the
 * handles already on the loop (resolver, engine, input) are closed, so closed_cb still comes
 * from the loop. A loop of our own is run here until empty and closed: then nothing is left.
 * On a caller's loop, jarm__run_finish frees the rest once closed_cb has run.
 */
static int start_failed(app_t *app, int code)
{
    app->start_failed = 1;
    app->closing = 1;
    app->handles_closing = 1; /* held until every close below is under way */
    if (app->signals_on) {
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        uv_close((uv_handle_t *)&app->sighup, NULL);
        uv_close((uv_handle_t *)&app->progress, NULL);
    }
    if (app->sink.started) { /* nothing was queued: the writer ends at once */
        jarm__sink_close(&app->sink);
        jarm__sink_finish(&app->sink);
    }
    if (app->input.started) {
        app->handles_closing++;
        jarm__input_close(&app->input, on_input_closed);
    } else {
        jarm__input_close(&app->input, NULL);
    }
    if (app->resolver_on) {
        app->handles_closing++;
        jarm__resolver_close(&app->resolver, on_resolver_closed);
    }
    if (app->scan_on) {
        app->handles_closing++;
        jarm__scan_close(app->scan, on_scan_closed);
    }
    jarm__feed_free(app);
    if (app->opts.output != NULL && app->row_cb == NULL && app->sink.fd > STDERR_FILENO)
        close(app->sink.fd);
    handle_closed(app);
    if (app->own_loop) {
        uv_run(app->lp, UV_RUN_DEFAULT);
        if (uv_loop_close(&app->loop) != 0)
            say(app, "internal error: loop not empty after a failed start");
        app->own_loop = 0;
        free(app->scan);
        app->scan = NULL;
    }
    return code;
}

/*
 * Run the scan described by app->opts (and app->row_cb / app->input.next for the library).
 * Returns the process exit code: 0 done, 1 runtime failure, 2 usage error (message on
 * stderr, or in app->err for the library).
 */
int jarm__run_start(app_t *app)
{
    jarm__scan_opts_t so;
    char msg[512];
    int r;

    if (!app->lib)
        signal(SIGPIPE, SIG_IGN);

    app->input.args = app->opts.args;
    app->input.nargs = app->opts.nargs;
    app->input.files = app->opts.files;
    app->input.nfiles = app->opts.nfiles;
    if (jarm__input_open(&app->input, msg, sizeof(msg)) != 0) {
        say(app, "%s", msg);
        return start_failed(app, 2);
    }
    if (jarm__feed_init(app, msg, sizeof(msg)) != 0) {
        say(app, "%s", msg);
        return start_failed(app, 2);
    }
    app->sink.fd = STDOUT_FILENO;
    if (app->opts.output != NULL && app->row_cb == NULL) {
        /* A resumed run adds to what the interrupted ones wrote. */
        app->sink.fd =
            open(app->opts.output,
                 O_WRONLY | O_CREAT | O_CLOEXEC | (app->opts.resume ? O_APPEND : O_TRUNC), 0644);
        if (app->sink.fd < 0) {
            say(app, "%s: %s", app->opts.output, strerror(errno));
            return start_failed(app, 1);
        }
    }
    fit_concurrency(app);

    so.concurrency = app->opts.concurrency;
    so.probe_parallel = app->opts.probe_parallel;
    so.per_ip = app->opts.per_ip;
    so.timeout_ms = (uint64_t)(app->opts.timeout * 1000.0 + 0.5);
    if (so.timeout_ms == 0)
        so.timeout_ms = 1;
    so.rate = app->opts.rate;
    so.sni = app->opts.sni;
    so.compare_direct = app->opts.compare_direct;
    so.repeat = app->opts.repeat;
    so.proxy = NULL;
    so.proxy_user = so.proxy_pass = so.proxy_label = NULL;
    if (app->opts.proxy != NULL) {
        jarm__proxy_t *proxy = &app->proxy;
        if (proxy_parse(app->opts.proxy, proxy, msg, sizeof(msg)) != 0) {
            say(app, "%s", msg);
            return start_failed(app, 2);
        }
        so.proxy = &proxy->addr;
        so.proxy_label = proxy->label;
        so.proxy_http = proxy->http;
        if (proxy->auth) {
            so.proxy_user = proxy->user;
            so.proxy_pass = proxy->pass;
        }
    }

    if ((app->scan = malloc(sizeof(*app->scan))) == NULL) {
        say(app, "out of memory");
        return start_failed(app, 1);
    }
    if (app->lp == NULL) { /* the command line and jarm_scan: a loop of our own */
        if (uv_loop_init(&app->loop) != 0) {
            say(app, "cannot create the event loop");
            return start_failed(app, 1);
        }
        app->lp = &app->loop;
        app->own_loop = 1;
    }
    {
        /* Before the engine: a failed resolver init leaves nothing on the loop. */
        jarm__resolver_opts_t ro = {0};
        ro.servers = app->opts.resolvers;
        ro.family = app->opts.family;
        ro.max_outstanding = app->opts.dns_concurrency;
        ro.timeout_ms = app->opts.dns_timeout_ms;
        ro.tries = app->opts.dns_tries;
        ro.ready_cb = on_resolver_ready;
        ro.ready_data = app;
        if ((r = jarm__resolver_init(&app->resolver, app->lp, &ro)) != 0) {
            const char *why = jarm__resolver_error(&app->resolver);
            say(app, "%s", why && *why ? why : "cannot start the resolver");
            return start_failed(app, app->opts.resolvers ? 2 : 1);
        }
        app->resolver_on = 1;
    }
    if ((r = jarm__scan_init(app->lp, app->scan, &so)) != 0) {
        say(app, "cannot start the engine: %s", jarm_strerror(r));
        return start_failed(app, 1);
    }
    app->scan_on = 1;
    app->scan->data = app;
    app->start_ms = uv_now(app->lp);
    if (!app->lib) {
        app->sink.data = app;
        if ((r = jarm__sink_start(&app->sink, app->lp, on_sink_progress)) != 0) {
            say(app, "cannot start the output writer: %s", uv_strerror(r));
            return start_failed(app, 1);
        }
    }
    if ((r = jarm__input_start(&app->input, app->lp, on_input, app)) != 0) {
        say(app, "cannot read input: %s", jarm_strerror(r));
        return start_failed(app, 1);
    }

    if (!app->lib) {
        uv_signal_init(app->lp, &app->sigint);
        uv_signal_init(app->lp, &app->sigterm);
        uv_signal_init(app->lp, &app->sighup);
        app->sigint.data = app->sigterm.data = app->sighup.data = app;
        uv_signal_start(&app->sigint, on_signal, SIGINT);
        uv_signal_start(&app->sigterm, on_signal, SIGTERM);
        /* A closed terminal or session (ssh dropped): stop as gracefully as on SIGTERM. */
        uv_signal_start(&app->sighup, on_signal, SIGHUP);
        uv_timer_init(app->lp, &app->progress);
        app->progress.data = app;
        app->progress_on = !app->opts.quiet && isatty(STDERR_FILENO);
        uv_timer_start(&app->progress, on_progress, 1000, 1000);
        uv_unref((uv_handle_t *)&app->progress);
        app->signals_on = 1;
    }
    if ((r = jarm__scan_start(app->scan, jarm__feed_pull, on_result, on_done)) != 0) {
        say(app, "cannot start the engine: %s", jarm_strerror(r));
        return start_failed(app, 1);
    }
    return 0;
}

/* After the loop has closed every handle of the scan: flush, checkpoint, summary, free. */
int jarm__run_finish(app_t *app)
{
    int r, ret = 0;

    if (app->start_failed) { /* start_failed released all but the engine's memory */
        free(app->scan);
        app->scan = NULL;
        return 0;
    }
    if (app->input.error[0] != '\0') {
        say(app, "%s", app->input.error);
        ret = 1;
    }
    /* Wait for the writer to write everything queued, then count it written. */
    jarm__sink_finish(&app->sink);
    drain_written(app);
    if (app->failed)
        ret = 1;
    /* The checkpoint claims only rows written, so it is right to keep even after a failure. */
    if ((r = jarm__feed_checkpoint(app)) != 0) {
        say(app, "%s: %s", app->opts.resume, strerror(r));
        ret = 1;
    }
    if (!app->opts.quiet && !app->lib)
        print_progress(app, 1);
    if (app->opts.output != NULL && app->row_cb == NULL && close(app->sink.fd) != 0 && ret == 0) {
        say(app, "%s: %s", app->opts.output, strerror(errno));
        ret = 1;
    }
    if (app->own_loop && (r = uv_loop_close(&app->loop)) != 0) {
        /* Every handle must be closed by now; a leak here is a bug worth failing on. */
        say(app, "internal error: loop not empty at exit (%s)", uv_strerror(r));
        ret = 1;
    }
    jarm__feed_free(app);
    jarm__buf_free(&app->row);
    free(app->pend);
    app->pend = NULL;
    app->pend_n = app->pend_cap = app->pend_head = 0;
    free(app->scan);
    app->scan = NULL;
    return ret;
}

int jarm__run(app_t *app)
{
    int r = jarm__run_start(app);
    if (r != 0)
        return r;
    uv_run(app->lp, UV_RUN_DEFAULT);
    return jarm__run_finish(app);
}
