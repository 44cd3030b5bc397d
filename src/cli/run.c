/*
 * run.c - one scan on the command line: the scanner of the engine (scanner.h) does the
 * scanning on a loop of ours; around it the command line writes rows to the output (a writer
 * thread, back-pressure on the scanner), annotates them (--match, --baseline), keeps the
 * --resume checkpoint (resume.c), and handles signals, progress and the summary.
 *
 * Nothing but results goes to standard output. Every input target yields exactly one row:
 * scanned targets from the result hook, unparsable lines and failed lookups from the
 * unscanned hook, before they would reach the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/run.h"
#include "internal.h"
#include "jarm.h"
#include "status.h"

/* Output queued and not yet written: at SINK_HIGH bytes no new target is started, until the
 * writer has brought it under SINK_LOW (both above the writer's batch of 64 KiB). */
#define SINK_HIGH (1024 * 1024)
#define SINK_LOW  (512 * 1024)

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("jarmsweep: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A runtime failure (exit 1): say it once, stop reading and starting targets. */
__attribute__((format(printf, 2, 3))) static void fail(jarm__cli_run_t *run, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    if (run->failed)
        return;
    run->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    say("%s", msg);
    if (run->scanner_on)
        jarm__scanner_abort(&run->scanner);
}

static void fail_sink(jarm__cli_run_t *run, int err)
{
    fail(run, "%s: %s", run->opts.output ? run->opts.output : "stdout",
         err == ENOMEM ? "out of memory" : strerror(err));
}

/* Rows the writer has written: count them, and only now let the checkpoint have them. */
static void drain_written(jarm__cli_run_t *run)
{
    int err;
    uint64_t written = jarm__sink_written(&run->sink, &err);

    while (run->pend_n > 0 && run->pend[run->pend_head].end <= written) {
        uint64_t seq = run->pend[run->pend_head].seq;
        run->pend_head = (run->pend_head + 1) & (run->pend_cap - 1);
        run->pend_n--;
        run->rows++;
        if (seq != JARM__NO_UNIT)
            jarm__scanner_complete(&run->scanner, seq);
    }
    if (err != 0)
        fail_sink(run, err);
}

/* Remember that unit seq is complete once the sink has written `end` bytes. */
static int pend_push(jarm__cli_run_t *run, uint64_t end, uint64_t seq)
{
    if (run->pend_n == run->pend_cap) {
        size_t cap = run->pend_cap ? run->pend_cap * 2 : 1024;
        struct jarm__pend_s *p = jarm__fault() ? NULL : malloc(cap * sizeof(*p));
        if (p == NULL)
            return -1;
        for (size_t i = 0; i < run->pend_n; i++)
            p[i] = run->pend[(run->pend_head + i) & (run->pend_cap - 1)];
        free(run->pend);
        run->pend = p;
        run->pend_cap = cap;
        run->pend_head = 0;
    }
    run->pend[(run->pend_head + run->pend_n) & (run->pend_cap - 1)] =
        (struct jarm__pend_s){end, seq};
    run->pend_n++;
    return 0;
}

/* Write the row in run->row (of unit seq, or JARM__NO_UNIT); the unit is complete (and may go
 * in the checkpoint) once the row has been written. */
static void emit(jarm__cli_run_t *run, uint64_t seq)
{
    int err;

    if (run->row.oom) {
        /* The row could not be built: fail rather than write or count a partial one. */
        run->row.oom = 0;
        run->row.len = 0;
        fail(run, "out of memory");
        return;
    }
    if (run->failed) { /* after a failure rows are dropped, and never claimed done */
        run->row.len = 0;
        return;
    }
    err = jarm__sink_write(&run->sink, &run->row);
    run->row.len = 0;
    if (err != 0) {
        fail_sink(run, err);
        return;
    }
    if (pend_push(run, run->sink.queued, seq) != 0)
        fail(run, "out of memory");
    if (!run->sink.started)
        drain_written(run);
}

/* The match, match_prefix, match_cert, baseline and baseline_jarm annotations of a target. */
static void annotate(jarm__cli_run_t *run, jarm__row_t *row)
{
    jarm_result_t *r = &row->r;
    size_t fl = strlen(r->jarm);

    if (run->fplist_on) {
        size_t nexact = 0, nprefix = 0;
        jarm__fplist_match(&run->fplist, r->jarm, fl, row->labels, &nexact,
                           row->labels + JARM__ROW_LABELS, &nprefix, JARM__ROW_LABELS);
        r->match = row->labels;
        r->nmatch = nexact;
        r->match_prefix = row->labels + JARM__ROW_LABELS;
        r->nmatch_prefix = nprefix;
        if (run->opts.cert) {
            size_t n =
                r->cert_sha256 == NULL
                    ? 0
                    : jarm__fplist_match_cert(&run->fplist, r->cert_sha256,
                                              row->labels + 2 * JARM__ROW_LABELS, JARM__ROW_LABELS);
            r->match_cert = row->labels + 2 * JARM__ROW_LABELS;
            r->nmatch_cert = n < JARM__ROW_LABELS ? n : JARM__ROW_LABELS;
        }
    }
    if (run->baseline_on) {
        const char *old = NULL;
        jarm__baseline_verdict_t v =
            jarm__baseline_check(&run->baseline, r->host, r->host_len, r->port, r->jarm, fl, &old);
        run->baseline_count[v]++;
        r->baseline = jarm__baseline_verdict_name(v);
        if (v == JARM__BASELINE_CHANGED)
            r->baseline_jarm = old;
    }
}

/* ---- the scanner's hooks ---- */

static void on_result(jarm__scanner_t *sc, const jarm__target_t *t)
{
    jarm__cli_run_t *run = sc->data;
    jarm__row_t row;
    jarm__row_from_target(&row, t, jarm__wall_ms());
    if (row.r.intercepted != JARM_TRI_ABSENT)
        run->intercept_count[row.r.intercepted == JARM_TRI_TRUE    ? 0
                             : row.r.intercepted == JARM_TRI_FALSE ? 1
                                                                   : 2]++;
    if (row.r.stable != JARM_TRI_ABSENT)
        run->stable_count[row.r.stable == JARM_TRI_TRUE ? 0 : 1]++;
    annotate(run, &row);
    jarm__row_write(&run->row, run->opts.format, &row.r);
    emit(run, t->seq);
}

static void on_unscanned(jarm__scanner_t *sc, jarm__row_t *row, uint64_t seq)
{
    jarm__cli_run_t *run = sc->data;
    jarm__row_write(&run->row, run->opts.format, &row->r);
    run->bad_rows++;
    emit(run, seq);
}

/* An unparsable argument (or any line, in a dry run) is also said on stderr. */
static void on_bad_line(jarm__scanner_t *sc, const jarm_result_t *r)
{
    jarm__cli_run_t *run = sc->data;

    if (run->opts.quiet || (r->source != NULL && !run->opts.dry_run))
        return;
    if (r->source == NULL)
        fprintf(stderr, "jarmsweep: argument %llu: %s\n", (unsigned long long)r->line, r->error);
    else
        fprintf(stderr, "jarmsweep: %s:%llu: %s\n", r->source, (unsigned long long)r->line,
                r->error);
}

static void on_dry(jarm__scanner_t *sc, const char *unit)
{
    jarm__cli_run_t *run = sc->data;
    jarm__buf_printf(&run->row, "%s\n", unit);
    emit(run, JARM__NO_UNIT);
}

static int on_hold(jarm__scanner_t *sc, int yield)
{
    jarm__cli_run_t *run = sc->data;

    if (!run->sink.started)
        return 0;
    if (jarm__sink_backlog(&run->sink) >= SINK_HIGH) {
        run->sink_wait = 1; /* on_sink_progress wakes the scanner once it has drained */
        return 1;
    }
    if (yield) {
        /* Many rows written from one pull (a dry run of a range, bad lines): let the loop
         * serve signals and timers, and come back at once. */
        run->sink_wait = 1;
        uv_async_send(&run->sink.async);
        return 1;
    }
    return 0;
}

static void on_fail(jarm__scanner_t *sc, const char *msg)
{
    fail(sc->data, "%s", msg);
}

static void on_sink_progress(jarm__sink_t *sink)
{
    jarm__cli_run_t *run = sink->data;
    drain_written(run);
    if (run->sink_wait && jarm__sink_backlog(sink) < SINK_LOW) {
        run->sink_wait = 0;
        jarm__scanner_wake(&run->scanner);
    }
}

static void print_progress(jarm__cli_run_t *run, int final)
{
    const jarm__scanner_t *sc = &run->scanner;
    const jarm__scan_stats_t *st = &sc->scan->stats;
    double secs = (double)(uv_now(&run->loop) - run->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)st->targets_done / secs : 0;
    uint64_t sum[JARM__SUM_N] = {0};

    if (final) {
        jarm__status_tally(sum, st->by_status, JARM__ARRAY_SIZE(st->by_status));
        sum[JARM__SUM_UNSCANNED] += run->bad_rows; /* rows of inputs never scanned */
        if (run->progress_on)
            fputs("\r\033[K", stderr);
        fprintf(
            stderr,
            "jarmsweep: %llu rows in %.1f s (%.0f targets/s): %llu ok, %llu timeout, "
            "%llu refused, %llu no_tls, %llu rejected, %llu other, %llu unscanned; "
            "seed %llu, %llu blocklisted; %llu probes confirmed alone\n",
            (unsigned long long)run->rows, secs, rate, (unsigned long long)sum[JARM__SUM_OK],
            (unsigned long long)sum[JARM__SUM_TIMEOUT], (unsigned long long)sum[JARM__SUM_REFUSED],
            (unsigned long long)sum[JARM__SUM_NO_TLS], (unsigned long long)sum[JARM__SUM_REJECTED],
            (unsigned long long)sum[JARM__SUM_OTHER], (unsigned long long)sum[JARM__SUM_UNSCANNED],
            (unsigned long long)run->seed, (unsigned long long)sc->ranges_blocked,
            (unsigned long long)st->probes_retried);
        if (run->opts.compare_direct)
            fprintf(stderr,
                    "jarmsweep: compare-direct: %llu intercepted, %llu not intercepted, "
                    "%llu unknown\n",
                    (unsigned long long)run->intercept_count[0],
                    (unsigned long long)run->intercept_count[1],
                    (unsigned long long)run->intercept_count[2]);
        if (run->opts.repeat > 1)
            fprintf(stderr, "jarmsweep: repeat: %llu stable, %llu unstable\n",
                    (unsigned long long)run->stable_count[0],
                    (unsigned long long)run->stable_count[1]);
        if (run->baseline_on)
            fprintf(stderr, "jarmsweep: baseline: %llu same, %llu changed, %llu new\n",
                    (unsigned long long)run->baseline_count[JARM__BASELINE_SAME],
                    (unsigned long long)run->baseline_count[JARM__BASELINE_CHANGED],
                    (unsigned long long)run->baseline_count[JARM__BASELINE_NEW]);
        return;
    }
    fprintf(stderr, "\r\033[K%llu done, %u targets / %u connections in flight, %.0f targets/s",
            (unsigned long long)(st->targets_done + run->bad_rows), st->targets_active,
            st->conns_active, rate);
    if (sc->input.bytes_total > 0) {
        /* Regular files only: the share of their bytes read so far estimates the rest. */
        double frac = (double)__atomic_load_n(&sc->input.bytes_read, __ATOMIC_RELAXED) /
                      (double)sc->input.bytes_total;
        if (frac > 0.001 && frac <= 1.0)
            fprintf(stderr, ", ETA %.0f s", secs / frac - secs);
    }
}

static void on_progress(uv_timer_t *timer)
{
    jarm__cli_run_t *run = timer->data;
    jarm__sink_flush(&run->sink); /* results show up at least once a second */
    drain_written(run);
    jarm__resume_write(run);
    if (run->progress_on)
        print_progress(run, 0);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    jarm__cli_run_t *run = sig->data;
    (void)signum;
    if (++run->signals > 1) {
        /* A second signal: give up on the targets in flight and on rows not yet written
         * (the checkpoint never claimed them). */
        if (!run->opts.quiet)
            fprintf(stderr, "\njarmsweep: interrupted\n");
        _exit(130);
    }
    if (!run->opts.quiet)
        fprintf(stderr, "%sjarmsweep: stopping: finishing %u targets in flight (again to abort)\n",
                run->progress_on ? "\r\033[K" : "", run->scanner.scan->stats.targets_active);
    jarm__scanner_stop(&run->scanner);
}

/* Close what the command line put on the loop (signals, progress, the writer's async). */
static void close_ours(jarm__cli_run_t *run)
{
    if (run->signals_on) {
        uv_close((uv_handle_t *)&run->sigint, NULL);
        uv_close((uv_handle_t *)&run->sigterm, NULL);
        uv_close((uv_handle_t *)&run->sighup, NULL);
        uv_close((uv_handle_t *)&run->progress, NULL);
        run->signals_on = 0;
    }
    if (run->sink.started && !run->sink.closing)
        jarm__sink_close(&run->sink);
}

static void on_done(jarm__scanner_t *sc)
{
    close_ours(sc->data);
}

/* ---- setup and the end ---- */

/* Load --match lists and the --baseline. Returns 0 or -1 with a message. */
static int load_annotations(jarm__cli_run_t *run, char *msg, size_t msglen)
{
    const jarm__cli_opts_t *o = &run->opts;
    char err[256];

    if (o->nmatches > 0) {
        jarm__fplist_init(&run->fplist);
        run->fplist_on = 1;
        for (int i = 0; i < o->nmatches; i++)
            if (jarm__fplist_load_spec(&run->fplist, o->matches[i], JARM_FINGERPRINT_DIRS, err,
                                       sizeof(err)) < 0) {
                snprintf(msg, msglen, "--match: %s", err);
                return -1;
            }
        if (run->fplist.ncert > 0 && !o->cert && !o->quiet)
            fprintf(stderr,
                    "jarmsweep: warning: --match: %zu certificate entries match only with "
                    "--cert\n",
                    run->fplist.ncert);
    }
    if (o->baseline != NULL) {
        jarm__baseline_init(&run->baseline);
        run->baseline_on = 1;
        if (jarm__baseline_load(&run->baseline, o->baseline, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "--baseline: %s", err);
            return -1;
        }
    }
    return 0;
}

static void scanner_opts(const jarm__cli_run_t *run, jarm__scanner_opts_t *so)
{
    const jarm__cli_opts_t *o = &run->opts;

    memset(so, 0, sizeof(*so));
    so->args = o->args;
    so->nargs = o->nargs;
    so->files = o->files;
    so->nfiles = o->nfiles;
    so->ports = o->ports;
    so->nports = o->nports;
    so->concurrency = o->concurrency;
    so->probe_parallel = o->probe_parallel;
    so->per_ip = o->per_ip;
    so->timeout = o->timeout;
    so->rate = o->rate;
    so->sni = o->sni;
    so->proxy = o->proxy;
    so->compare_direct = o->compare_direct;
    so->repeat = o->repeat;
    so->resolvers = o->resolvers;
    so->family = o->family;
    so->all_addresses = o->all_addresses;
    so->dns_concurrency = o->dns_concurrency;
    so->dns_timeout_ms = o->dns_timeout_ms;
    so->dns_tries = o->dns_tries;
    so->seed = run->seed;
    so->shard_i = o->shard_i;
    so->shard_n = o->shard_n;
    so->blocklists = o->blocklists;
    so->nblocklists = o->nblocklists;
    so->allowlist = o->allowlist;
    so->allow_reserved = o->allow_reserved;
    so->cert = o->cert;
    so->cert_max = o->cert_max;
    so->force = o->force;
    so->dry_run = o->dry_run;
    so->resume_low = run->resume_low;
    so->resume_done = run->resume_done;
    so->resume_ndone = run->resume_ndone;
}

/* Release what is off the loop; returns code. */
static int release(jarm__cli_run_t *run, int code)
{
    if (run->scanner_on) {
        jarm__scanner_close(&run->scanner, NULL);
        run->scanner_on = 0;
    }
    close_ours(run);
    if (run->loop_on) {
        uv_run(&run->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&run->loop) != 0) {
            /* Every handle must be closed by now; a leak here is a bug worth failing on. */
            say("internal error: loop not empty at exit");
            code = 1;
        }
        run->loop_on = 0;
    }
    if (run->sink.started) /* a failed start: nothing was queued, the writer ends at once */
        jarm__sink_finish(&run->sink);
    if (run->sink.fd > STDERR_FILENO) {
        if (close(run->sink.fd) != 0 && code == 0) {
            say("%s: %s", run->opts.output, strerror(errno));
            code = 1;
        }
        run->sink.fd = -1;
    }
    if (run->fplist_on)
        jarm__fplist_free(&run->fplist);
    if (run->baseline_on)
        jarm__baseline_free(&run->baseline);
    run->fplist_on = run->baseline_on = 0;
    jarm__resume_free(run);
    jarm__buf_free(&run->row);
    free(run->pend);
    run->pend = NULL;
    run->pend_n = run->pend_cap = run->pend_head = 0;
    return code;
}

/* The scanner has ended and the loop is empty of handles: flush, checkpoint, summary. */
static int finish(jarm__cli_run_t *run)
{
    int r, ret = 0;

    if (run->scanner.input.error[0] != '\0') {
        say("%s", run->scanner.input.error);
        ret = 1;
    }
    /* Wait for the writer to write everything queued, then count it written. */
    jarm__sink_finish(&run->sink);
    drain_written(run);
    if (run->failed)
        ret = 1;
    /* The checkpoint claims only rows written, so it is right to keep even after a failure. */
    if ((r = jarm__resume_write(run)) != 0) {
        say("%s: %s", run->opts.resume, strerror(r));
        ret = 1;
    }
    if (!run->opts.quiet)
        print_progress(run, 1);
    return ret;
}

int jarm__cli_run(jarm__cli_run_t *run)
{
    static const jarm__scanner_hooks_t hooks = {on_result, on_unscanned, on_bad_line, on_dry,
                                                on_hold,   on_fail,      on_done};
    jarm__scanner_opts_t so;
    jarm__scanner_t *sc = &run->scanner;
    char msg[512];
    int r;

    signal(SIGPIPE, SIG_IGN);
    run->sink.fd = STDOUT_FILENO;
    run->seed = run->opts.seed_set ? run->opts.seed : jarm__scanner_random_seed();
    if (run->opts.seed_set)
        run->seed &= (((uint64_t)1) << 53) - 1;
    if (uv_loop_init(&run->loop) != 0) {
        say("cannot create the event loop");
        return release(run, 1);
    }
    run->loop_on = 1;
    if (jarm__resume_open(run, msg, sizeof(msg)) != 0) {
        say("%s", msg);
        return release(run, 2);
    }
    scanner_opts(run, &so);
    if ((r = jarm__scanner_init(sc, &run->loop, &so, &hooks, msg, sizeof(msg))) != 0) {
        say("%s", msg);
        return release(run, r == JARM_EINVAL ? 2 : 1);
    }
    sc->data = run;
    run->scanner_on = 1;
    if (load_annotations(run, msg, sizeof(msg)) != 0) {
        say("%s", msg);
        return release(run, 2);
    }
    if (run->opts.output != NULL) {
        /* A resumed run adds to what the interrupted ones wrote. */
        run->sink.fd =
            open(run->opts.output,
                 O_WRONLY | O_CREAT | O_CLOEXEC | (run->opts.resume ? O_APPEND : O_TRUNC), 0644);
        if (run->sink.fd < 0) {
            say("%s: %s", run->opts.output, strerror(errno));
            return release(run, 1);
        }
    }
    if (sc->fd_limit != 0 && !run->opts.quiet)
        fprintf(stderr,
                "jarmsweep: warning: concurrency %u needs %llu open files, the limit is "
                "%llu: using %u\n",
                sc->concurrency_asked, (unsigned long long)sc->concurrency_asked + JARM__FD_RESERVE,
                (unsigned long long)sc->fd_limit, sc->opts.concurrency);
    run->sink.data = run;
    if ((r = jarm__sink_start(&run->sink, &run->loop, on_sink_progress)) != 0) {
        say("cannot start the output writer: %s", uv_strerror(r));
        return release(run, 1);
    }
    run->start_ms = uv_now(&run->loop);
    uv_signal_init(&run->loop, &run->sigint);
    uv_signal_init(&run->loop, &run->sigterm);
    uv_signal_init(&run->loop, &run->sighup);
    run->sigint.data = run->sigterm.data = run->sighup.data = run;
    uv_signal_start(&run->sigint, on_signal, SIGINT);
    uv_signal_start(&run->sigterm, on_signal, SIGTERM);
    /* A closed terminal or session (ssh dropped): stop as gracefully as on SIGTERM. */
    uv_signal_start(&run->sighup, on_signal, SIGHUP);
    uv_timer_init(&run->loop, &run->progress);
    run->progress.data = run;
    run->progress_on = !run->opts.quiet && isatty(STDERR_FILENO);
    uv_timer_start(&run->progress, on_progress, 1000, 1000);
    uv_unref((uv_handle_t *)&run->progress);
    run->signals_on = 1;
    if ((r = jarm__scanner_start(sc, msg, sizeof(msg))) != 0) {
        say("%s", msg);
        return release(run, r == JARM_EINVAL ? 2 : 1);
    }
    uv_run(&run->loop, UV_RUN_DEFAULT);
    return release(run, finish(run));
}
