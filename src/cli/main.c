/*
 * main.c - jarmsweep: owns the loop, wires input -> engine -> sink, signals, progress.
 * The only file that exits.
 *
 * Nothing but results goes to standard output. Every input target yields exactly one row:
 * scanned targets from the engine's result callback, unparsable lines and failed lookups
 * from the pull callback, before they would reach the engine.
 *
 * Names. The engine pulls targets; a line naming a host is handed to the resolver (c-ares on
 * this loop) and parked in `names` until its answer arrives, while the pull goes on with the
 * following lines. At most --dns-concurrency names are in the resolver at once, so a file of
 * millions of names never holds more than that window in memory. Resolved names are expanded
 * over their ports (and addresses, with --all-addresses) ahead of new lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "cli/cli.h"
#include "input.h"
#include "jarm.h"
#include "output.h"
#include "resolver.h"
#include "scan.h"
#include "target.h"

/* File descriptors kept for everything but probe connections (stdio, loop, input, DNS). */
#define FD_RESERVE 64

/* A host name from the input, waiting for or expanding its addresses. */
typedef struct name_s {
    struct app_s *app;
    struct name_s *next;
    jarm__line_t line;
    jarm__target_spec_t spec;
    int done; /* the resolver answered */
    jarm__dns_status_t status;
    size_t naddrs, addr_idx, port_idx;
    struct sockaddr_storage addrs[JARM__DNS_MAX_ADDRS]; /* last: not cleared on reuse */
} name_t;

typedef struct app_s {
    jarm__cli_opts_t opts;
    uv_loop_t loop;
    jarm__scan_t *scan;
    jarm__input_t input;
    jarm__sink_t sink;
    jarm__buf_t row;
    uv_signal_t sigint, sigterm;
    uv_timer_t progress;
    int progress_on, signals, failed;
    uint64_t start_ms;
    uint64_t rows, bad_rows;

    /* The line being expanded over --ports. */
    jarm__line_t line;
    jarm__target_spec_t spec;
    size_t port_idx;
    int have_spec;

    /* Names in the resolver or answered, in input order; expanded from the head. */
    jarm__resolver_t resolver;
    int resolver_on, closing;
    name_t *names_head, *names_tail, *free_names;
    unsigned names_pending; /* asked, not answered */
    name_t *blocked;        /* popped but not yet submitted: the resolver was full */
} app_t;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(app_t *app)
{
    jarm__sink_write(&app->sink, &app->row);
    app->row.len = 0;
    app->rows++;
    if (app->sink.error && !app->failed) {
        app->failed = 1;
        fprintf(stderr, "jarmsweep: %s: %s\n", app->opts.output ? app->opts.output : "stdout",
                strerror(app->sink.error));
        jarm__input_stop(&app->input);
        jarm__scan_stop(app->scan);
    }
}

static void emit_error(app_t *app, const jarm__line_t *l, const char *status, const char *error,
                       const char *host, size_t host_len, unsigned port)
{
    jarm__row_error_t e = {host, host_len, port, status, error, l->source, l->lineno};
    jarm__row_error(&app->row, app->opts.format, &e, wall_ms());
    app->bad_rows++;
    if (!app->opts.quiet && l->source == NULL && strcmp(status, "bad_target") == 0)
        fprintf(stderr, "jarmsweep: argument %llu: %s\n", (unsigned long long)l->lineno, error);
    emit(app);
}

static void fill_addr(jarm__target_t *t, const struct sockaddr_storage *addr, uint16_t port)
{
    memcpy(&t->addr, addr, sizeof(t->addr));
    if (t->addr.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
        a->sin_port = htons(port);
        inet_ntop(AF_INET, &a->sin_addr, t->ip, sizeof(t->ip));
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;
        a->sin6_port = htons(port);
        inet_ntop(AF_INET6, &a->sin6_addr, t->ip, sizeof(t->ip));
    }
    t->port = port;
}

static void on_resolved(void *data, jarm__dns_status_t status,
                        const struct sockaddr_storage *addrs, size_t naddrs)
{
    name_t *n = data;
    app_t *app = n->app;

    n->done = 1;
    n->status = status;
    n->naddrs = naddrs < JARM__DNS_MAX_ADDRS ? naddrs : JARM__DNS_MAX_ADDRS;
    if (n->naddrs > 0)
        memcpy(n->addrs, addrs, n->naddrs * sizeof(*addrs));
    if (status == JARM__DNS_OK && n->naddrs == 0)
        n->status = JARM__DNS_NO_ADDRESS;
    app->names_pending--;
    if (!app->closing)
        jarm__scan_wake(app->scan); /* a no-op when this runs inside the pull itself */
}

/* Hand the name in app->line/spec to the resolver. Returns -1 when it is full (parked). */
static int name_submit(app_t *app, name_t *n)
{
    int r;
    if (!jarm__resolver_can_submit(&app->resolver))
        return -1;
    n->next = NULL;
    if (app->names_tail)
        app->names_tail->next = n;
    else
        app->names_head = n;
    app->names_tail = n;
    app->names_pending++;
    r = jarm__resolver_resolve(&app->resolver, n->spec.host, on_resolved, n);
    if (r != 0) /* refused synchronously: report it like a failed lookup */
        on_resolved(n, JARM__DNS_ERROR, NULL, 0);
    return 0;
}

static int name_add(app_t *app)
{
    name_t *n = app->free_names;
    if (n != NULL)
        app->free_names = n->next;
    else if ((n = malloc(sizeof(*n))) == NULL) {
        emit_error(app, &app->line, "dns_error", "out of memory", app->spec.host,
                   app->spec.host_len, app->spec.port);
        return 0;
    }
    memset(n, 0, offsetof(name_t, addrs));
    n->app = app;
    n->line = app->line;
    n->spec = app->spec;
    if (name_submit(app, n) != 0) {
        app->blocked = n;
        return -1;
    }
    return 0;
}

static void name_free(app_t *app, name_t *n)
{
    n->next = app->free_names;
    app->free_names = n;
}

static int pull_name_head(app_t *app, jarm__target_t *t)
{
    while (app->names_head != NULL && app->names_head->done) {
        name_t *n = app->names_head;
        int ok = n->status == JARM__DNS_OK && n->naddrs > 0;
        size_t nports = n->spec.port ? 1 : app->opts.nports;
        size_t naddrs = app->opts.all_addresses ? n->naddrs : (n->naddrs > 0);
        uint16_t port = n->spec.port ? n->spec.port : app->opts.ports[n->port_idx];

        if (!ok) {
            /* One row per (name, port), as if each had been scanned. */
            char why[64];
            snprintf(why, sizeof(why), "%s", jarm__dns_status_name(n->status));
            emit_error(app, &n->line, "dns_error", why, n->spec.host, n->spec.host_len, port);
        } else {
            memcpy(t->host, n->spec.host, n->spec.host_len + 1);
            t->host_len = n->spec.host_len;
            fill_addr(t, &n->addrs[n->addr_idx], port);
            t->source = n->line.source;
            t->lineno = n->line.lineno;
        }
        /* Advance: ports within an address, then addresses. */
        if (++n->port_idx >= nports) {
            n->port_idx = 0;
            if (!ok || ++n->addr_idx >= naddrs) {
                app->names_head = n->next;
                if (app->names_head == NULL)
                    app->names_tail = NULL;
                name_free(app, n);
            }
        }
        if (ok)
            return 1;
    }
    return 0;
}

/* The next target from a resolved name: 1 = t filled, 0 = none ready. */
static int pull_name(app_t *app, jarm__target_t *t)
{
    if (app->blocked != NULL && name_submit(app, app->blocked) == 0)
        app->blocked = NULL;
    return pull_name_head(app, t);
}

static int pull(jarm__scan_t *s, jarm__target_t *t)
{
    app_t *app = s->data;

    for (;;) {
        if (app->have_spec) {
            jarm__target_spec_t *sp = &app->spec;
            uint16_t port = sp->port ? sp->port : app->opts.ports[app->port_idx];
            int last = sp->port || app->port_idx + 1 >= app->opts.nports;

            app->port_idx++;
            if (last)
                app->have_spec = 0;
            memcpy(t->host, sp->host, sp->host_len + 1);
            t->host_len = sp->host_len;
            memcpy(&t->addr, &sp->addr, sizeof(t->addr));
            if (t->addr.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
                a->sin_port = htons(port);
                inet_ntop(AF_INET, &a->sin_addr, t->ip, sizeof(t->ip));
            } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;
                a->sin6_port = htons(port);
                inet_ntop(AF_INET6, &a->sin6_addr, t->ip, sizeof(t->ip));
            }
            /* The reference reports an IP literal exactly as given. */
            if (sp->host_len < sizeof(t->ip))
                memcpy(t->ip, sp->host, sp->host_len + 1);
            t->port = port;
            t->source = app->line.source;
            t->lineno = app->line.lineno;
            return 1;
        }
        int r = pull_name(app, t);
        if (r == 1)
            return 1;
        if (app->blocked != NULL)
            return 0; /* the resolver is full: its answers wake the engine */
        r = jarm__input_pop(&app->input, &app->line);
        if (r < 0 && (app->names_head != NULL || app->blocked != NULL))
            return 0; /* input done, names still to come */
        if (r <= 0)
            return r;
        if (app->line.truncated) {
            emit_error(app, &app->line, "bad_target", "line too long", app->line.text,
                       app->line.len, 0);
            continue;
        }
        jarm__target_parse(app->line.text, app->line.len, &app->spec);
        switch (app->spec.kind) {
        case JARM__TARGET_SKIP:
            continue;
        case JARM__TARGET_BAD: {
            /* Report the text as given, trimmed of its line end. */
            size_t n = app->line.len;
            while (n > 0 && (app->line.text[n - 1] == '\r' || app->line.text[n - 1] == '\n'))
                n--;
            emit_error(app, &app->line, "bad_target", app->spec.error, app->line.text, n, 0);
            continue;
        }
        case JARM__TARGET_NAME:
            if (name_add(app) != 0)
                return 0;
            continue;
        default:
            app->have_spec = 1;
            app->port_idx = 0;
        }
    }
}

static void on_result(jarm__scan_t *s, jarm__target_t *t)
{
    app_t *app = s->data;
    jarm__row_target(&app->row, app->opts.format, t, wall_ms());
    emit(app);
}

static void on_input(void *data)
{
    app_t *app = data;
    jarm__scan_wake(app->scan);
}

static void print_progress(app_t *app, int final)
{
    const jarm__scan_stats_t *st = &app->scan->stats;
    double secs = (double)(uv_now(&app->loop) - app->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)st->targets_done / secs : 0;

    if (final) {
        if (app->progress_on)
            fputs("\r\033[K", stderr);
        fprintf(stderr,
                "jarmsweep: %llu rows in %.1f s (%.0f targets/s): %llu ok, %llu timeout, "
                "%llu refused, %llu no_tls, %llu rejected, %llu other, %llu unscanned\n",
                (unsigned long long)app->rows, secs, rate,
                (unsigned long long)st->by_status[JARM__T_OK],
                (unsigned long long)st->by_status[JARM__T_TIMEOUT],
                (unsigned long long)st->by_status[JARM__T_REFUSED],
                (unsigned long long)st->by_status[JARM__T_NO_TLS],
                (unsigned long long)st->by_status[JARM__T_REJECTED],
                (unsigned long long)(st->by_status[JARM__T_UNREACHABLE] +
                                     st->by_status[JARM__T_ERROR]),
                (unsigned long long)app->bad_rows);
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
    if (app->progress_on)
        print_progress(app, 0);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    app_t *app = sig->data;
    if (++app->signals > 1) {
        /* A second signal: give up on the targets in flight, keep what is done. */
        jarm__sink_flush(&app->sink);
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

static void on_done(jarm__scan_t *s)
{
    app_t *app = s->data;

    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->progress, NULL);
    jarm__input_close(&app->input);
    app->closing = 1;
    if (app->resolver_on)
        jarm__resolver_close(&app->resolver, NULL);
    jarm__scan_close(s, NULL);
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
        if (!app->opts.quiet)
            fprintf(stderr,
                    "jarmsweep: warning: concurrency %u needs %llu open files, the limit is "
                    "%llu: using %u\n",
                    app->opts.concurrency, (unsigned long long)want,
                    (unsigned long long)rl.rlim_cur, fit);
        app->opts.concurrency = fit;
    }
}

int main(int argc, char **argv)
{
    static app_t app_storage;
    app_t *app = &app_storage;
    jarm__scan_opts_t so;
    char msg[512];
    int r, ret = 0;

    if (argc >= 2 && strcmp(argv[1], "explain") == 0)
        return jarm__cli_explain(argc - 1, argv + 1);
    if (jarm__cli_parse(argc, argv, &app->opts, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "jarmsweep: %s\n", msg);
        jarm__cli_opts_free(&app->opts);
        return 2;
    }
    if (app->opts.help) {
        for (const char *const *h = jarm__cli_help; *h != NULL; h++)
            fputs(*h, stdout);
        jarm__cli_opts_free(&app->opts);
        return 0;
    }
    if (app->opts.version) {
        printf("jarmsweep %s (JARM version 1.0 compatible; libuv %s, %s)\n", JARM_VERSION_STRING,
               uv_version_string(), "OpenSSL libcrypto");
        jarm__cli_opts_free(&app->opts);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);

    app->input.args = app->opts.args;
    app->input.nargs = app->opts.nargs;
    app->input.files = app->opts.files;
    app->input.nfiles = app->opts.nfiles;
    if (jarm__input_open(&app->input, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "jarmsweep: %s\n", msg);
        jarm__input_close(&app->input);
        jarm__cli_opts_free(&app->opts);
        return 2;
    }
    app->sink.fd = STDOUT_FILENO;
    if (app->opts.output != NULL) {
        app->sink.fd = open(app->opts.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (app->sink.fd < 0) {
            fprintf(stderr, "jarmsweep: %s: %s\n", app->opts.output, strerror(errno));
            jarm__input_close(&app->input);
            jarm__cli_opts_free(&app->opts);
            return 1;
        }
    }
    fit_concurrency(app);

    so.concurrency = app->opts.concurrency;
    so.probe_parallel = app->opts.probe_parallel;
    so.timeout_ms = (uint64_t)(app->opts.timeout * 1000.0 + 0.5);
    if (so.timeout_ms == 0)
        so.timeout_ms = 1;
    so.rate = app->opts.rate;
    so.sni = app->opts.sni;

    app->scan = malloc(sizeof(*app->scan));
    if (app->scan == NULL || uv_loop_init(&app->loop) != 0) {
        fprintf(stderr, "jarmsweep: out of memory\n");
        return 1;
    }
    if ((r = jarm__scan_init(&app->loop, app->scan, &so)) != 0) {
        fprintf(stderr, "jarmsweep: cannot start the engine: %s\n", jarm_strerror(r));
        return 1;
    }
    app->scan->data = app;
    app->start_ms = uv_now(&app->loop);
    {
        jarm__resolver_opts_t ro = {0};
        ro.servers = app->opts.resolvers;
        ro.family = app->opts.family;
        ro.max_outstanding = app->opts.dns_concurrency;
        ro.timeout_ms = app->opts.dns_timeout_ms;
        ro.tries = app->opts.dns_tries;
        if ((r = jarm__resolver_init(&app->resolver, &app->loop, &ro)) != 0) {
            const char *why = jarm__resolver_error(&app->resolver);
            fprintf(stderr, "jarmsweep: %s\n",
                    why && *why ? why : "cannot start the resolver");
            return app->opts.resolvers ? 2 : 1;
        }
        app->resolver_on = 1;
    }

    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_timer_init(&app->loop, &app->progress);
    app->progress.data = app;
    app->progress_on = !app->opts.quiet && isatty(STDERR_FILENO);
    uv_timer_start(&app->progress, on_progress, 1000, 1000);
    uv_unref((uv_handle_t *)&app->progress);

    if ((r = jarm__input_start(&app->input, &app->loop, on_input, app)) != 0) {
        fprintf(stderr, "jarmsweep: cannot read input: %s\n", jarm_strerror(r));
        return 1;
    }
    jarm__scan_start(app->scan, pull, on_result, on_done);
    uv_run(&app->loop, UV_RUN_DEFAULT);

    if (app->input.error[0] != '\0') {
        fprintf(stderr, "jarmsweep: %s\n", app->input.error);
        ret = 1;
    }
    if (jarm__sink_flush(&app->sink) != 0) {
        if (!app->failed)
            fprintf(stderr, "jarmsweep: %s: %s\n",
                    app->opts.output ? app->opts.output : "stdout", strerror(app->sink.error));
        ret = 1;
    }
    if (app->failed)
        ret = 1;
    if (!app->opts.quiet)
        print_progress(app, 1);
    if (app->opts.output != NULL && close(app->sink.fd) != 0 && ret == 0) {
        fprintf(stderr, "jarmsweep: %s: %s\n", app->opts.output, strerror(errno));
        ret = 1;
    }
    r = uv_loop_close(&app->loop);
    if (r != 0) {
        /* Every handle must be closed by now; a leak here is a bug worth failing on. */
        fprintf(stderr, "jarmsweep: internal error: loop not empty at exit (%s)\n",
                uv_strerror(r));
        ret = 1;
    }
    while (app->free_names != NULL) {
        name_t *n = app->free_names;
        app->free_names = n->next;
        free(n);
    }
    while (app->names_head != NULL) { /* a graceful stop leaves answered names unexpanded */
        name_t *n = app->names_head;
        app->names_head = n->next;
        free(n);
    }
    free(app->blocked);
    jarm__buf_free(&app->row);
    jarm__buf_free(&app->sink.buf);
    free(app->scan);
    jarm__cli_opts_free(&app->opts);
    return ret;
}
