/*
 * test_lifecycle.c - the engine through the public API, on failure paths (suite 'loopback'):
 * allocation failures injected at each of the engine's allocation points (each input line
 * still gets its row, or the start fails and leaves nothing behind), a start that fails on
 * the caller's loop, a second start, close from inside done, and jarm_scan() with a proxy
 * whose name cannot be resolved. Leaks are the ASan tree's LeakSanitizer's to find. With the
 * path of the jarmsweep binary as argument, the same allocation failures on the command line.
 *
 *   test_lifecycle [JARMSWEEP]
 *
 * Every target is on loopback: 127.0.0.1-127.0.0.5 port 1, where nothing listens (refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "jarmsweep.h"
#include "tap.h"

/* ---- jarm_scan with allocation failures ---- */

static const char *const lines[] = {"127.0.0.1", "bad:99999", "127.0.0.2", "127.0.0.4/31"};
#define NLINES 4

struct feed {
    size_t next;
    int rows, oom_rows, line_rows[NLINES + 1], junk;
};

static const char *feed_next(void *data)
{
    struct feed *f = data;
    return f->next < NLINES ? lines[f->next++] : NULL;
}

/* Count one NDJSON row (len bytes) against the input line it belongs to. */
static void count_row(struct feed *f, const char *row, size_t len)
{
    static const char *const hosts[] = {"127.0.0.1",    "bad:99999", "127.0.0.2",
                                        "127.0.0.4/31", "127.0.0.4", "127.0.0.5"};
    static const int host_line[] = {1, 2, 3, 4, 4, 4};
    int line = 0;
    char want[64];

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(want, sizeof(want), "\"host\":\"%s\"", hosts[i]);
        if (strstr(row, want) != NULL)
            line = host_line[i];
    }

    f->rows++;
    if (len != strlen(row) || line < 1 || line > NLINES) {
        f->junk++;
        return;
    }
    f->line_rows[line]++;
    if (strstr(row, "\"status\":\"error\"") != NULL &&
        strstr(row, "\"error\":\"out of memory\"") != NULL)
        f->oom_rows++;
}

static int feed_row(void *data, const jarm_result_t *r)
{
    char row[8192];
    int n = jarm_result_to_json(r, row, sizeof(row));
    if (n < 0)
        ((struct feed *)data)->junk++;
    else
        count_row(data, row, (size_t)n);
    return 0;
}

/* Rows each line yields when nothing fails: the range has two addresses. */
static const int full_rows[NLINES + 1] = {0, 1, 1, 1, 2};

static void test_alloc_faults(void)
{
    int clean = 0, start_failures = 0, oom_lines = 0;

    for (int k = 1; k <= 16; k++) {
        jarm_scan_opts_t opts;
        struct feed f;
        char err[256], env[16];
        int r, every = 1;

        memset(&opts, 0, sizeof(opts));
        memset(&f, 0, sizeof(f));
        opts.ports = "1";
        opts.timeout = 5;
        opts.concurrency = 4;
        opts.allow_reserved = 1;
        snprintf(env, sizeof(env), "%d", k);
        setenv("JARMSWEEP_TEST_FAIL_ALLOC", env, 1);
        r = jarm_scan(&opts, feed_next, &f, feed_row, &f, err, sizeof(err));
        unsetenv("JARMSWEEP_TEST_FAIL_ALLOC");
        if (r != 0) {
            /* The start failed: no row at all, and a message. */
            ok(f.rows == 0 && err[0] != '\0',
               "allocation %d fails: the start fails, no row (%d), \"%s\"", k, f.rows, err);
            start_failures++;
            continue;
        }
        /* Each line has its rows: all of them, or one "out of memory" row. */
        for (int i = 1; i <= NLINES; i++)
            if (f.line_rows[i] != full_rows[i] && f.line_rows[i] != 1)
                every = 0;
        ok(every && f.junk == 0 && f.oom_rows <= 1,
           "allocation %d fails: each line has its row (%d rows, %d out of memory)", k, f.rows,
           f.oom_rows);
        if (f.oom_rows == 1)
            oom_lines++;
        else if (f.rows == 5)
            clean++;
    }
    ok(start_failures >= 3, "failures before the scan make the start fail (%d)", start_failures);
    ok(oom_lines >= 1, "an entry that cannot be allocated still yields its row (%d lines)",
       oom_lines);
    ok(clean >= 1, "past the last allocation point the scan is complete (%d runs)", clean);
}

/* ---- on a caller's loop ---- */

struct life {
    jarm_scanner_t *sc;
    int rows, done, closed, in_call;
    int closed_in_call;
};

static int life_row(void *data, const jarm_result_t *r)
{
    struct life *l = data;
    (void)r;
    l->rows++;
    return 0;
}

static void life_closed(jarm_scanner_t *sc, void *data)
{
    struct life *l = data;
    (void)sc;
    l->closed++;
    if (l->in_call)
        l->closed_in_call = 1;
}

static void life_done(jarm_scanner_t *sc, void *data)
{
    struct life *l = data;
    l->done++;
    l->in_call = 1;
    jarm_scanner_close(sc, life_closed);
    ok(jarm_scanner_add(sc, "127.0.0.1:1") == JARM_EINVAL, "no add after close, in done");
    l->in_call = 0;
}

static int life_init(uv_loop_t *loop, struct life *l, const char *resolvers)
{
    jarm_scan_opts_t opts;
    char err[256];

    memset(l, 0, sizeof(*l));
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = 8;
    opts.timeout = 5;
    opts.resolvers = resolvers;
    uv_loop_init(loop);
    return jarm_scanner_init(loop, &l->sc, &opts, err, sizeof(err));
}

static void test_caller_loop(void)
{
    uv_loop_t loop;
    struct life l;

    /* A failed start (the resolver is not an address), then close: close_cb from the loop,
     * and nothing of the scanner left on it. */
    ok(life_init(&loop, &l, "not-an-ip") == 0, "init");
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) != 0, "start with resolvers=not-an-ip");
    l.in_call = 1;
    jarm_scanner_close(l.sc, life_closed);
    l.in_call = 0;
    ok(l.closed == 0, "failed start: close_cb not run inside close");
    ok(uv_run(&loop, UV_RUN_DEFAULT) == 0, "failed start: the loop runs empty");
    ok(l.closed == 1 && !l.closed_in_call, "failed start: close_cb once, from the loop");
    ok(uv_loop_close(&loop) == 0, "failed start: uv_loop_close() == 0");

    /* Start twice, end, then done closes from inside the callback. */
    ok(life_init(&loop, &l, NULL) == 0, "init");
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) == 0, "start");
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) == JARM_EINVAL,
       "a second start is refused");
    ok(jarm_scanner_add(l.sc, "127.0.0.1:1") == 0 && jarm_scanner_add(l.sc, "bad:99999") == 0,
       "add two targets");
    jarm_scanner_end(l.sc);
    ok(jarm_scanner_add(l.sc, "127.0.0.2:1") == JARM_EINVAL, "add after end is refused");
    ok(uv_run(&loop, UV_RUN_DEFAULT) == 0, "close in done: the loop runs empty");
    ok(l.rows == 2 && l.done == 1 && l.closed == 1 && !l.closed_in_call,
       "close in done: 2 rows, done once, close_cb once from the loop (%d, %d, %d)", l.rows, l.done,
       l.closed);
    ok(uv_loop_close(&loop) == 0, "close in done: uv_loop_close() == 0");

    /* Allocation failures in init or start, on the caller's loop: a failed init leaves
     * nothing; a failed start leaves the scanner to close, from the loop. */
    for (int k = 1; k <= 4; k++) {
        char env[16];
        int r;
        snprintf(env, sizeof(env), "%d", k);
        setenv("JARMSWEEP_TEST_FAIL_ALLOC", env, 1);
        r = life_init(&loop, &l, NULL);
        if (r != 0) {
            unsetenv("JARMSWEEP_TEST_FAIL_ALLOC");
            ok(uv_loop_close(&loop) == 0, "allocation %d fails in init: nothing to close", k);
            continue;
        }
        r = jarm_scanner_start(l.sc, life_row, life_done, &l);
        unsetenv("JARMSWEEP_TEST_FAIL_ALLOC");
        if (r == 0) {
            jarm_scanner_add(l.sc, "127.0.0.1:1");
            jarm_scanner_end(l.sc);
        } else {
            jarm_scanner_close(l.sc, life_closed);
        }
        ok(uv_run(&loop, UV_RUN_DEFAULT) == 0 && l.closed == 1 && uv_loop_close(&loop) == 0,
           "allocation %d fails in start (%s): closed from the loop, uv_loop_close() == 0", k,
           r == 0 ? "started" : "start failed");
    }
}

/* ---- jarm_scan with a proxy whose name does not resolve ---- */

static const char *none_next(void *data)
{
    (void)data;
    return NULL;
}

static int none_row(void *data, const jarm_result_t *r)
{
    (void)r;
    ++*(int *)data;
    return 0;
}

static void test_proxy_unresolvable(void)
{
    /* A 64-byte label cannot be encoded in a DNS query: the lookup fails without sending one. */
    char proxy[160];
    jarm_scan_opts_t opts;
    char err[256];
    int rows = 0;

    snprintf(proxy, sizeof(proxy), "socks5://%064d.invalid:1080", 0);
    memset(&opts, 0, sizeof(opts));
    opts.proxy = proxy;
    for (int i = 0; i < 3; i++)
        ok(jarm_scan(&opts, none_next, NULL, none_row, &rows, err, sizeof(err)) != 0 && rows == 0 &&
               strstr(err, "--proxy") != NULL,
           "jarm_scan with an unresolvable proxy fails: %s", err);
}

/* ---- the command line with allocation failures ---- */

/* Count what jarmsweep printed: rows per input line (by host), out-of-memory rows, and
 * whether stderr says "out of memory" or "internal error". */
static void cli_count(const char *out_path, const char *err_path, struct feed *f, int *err_oom,
                      int *err_internal, int *err_said)
{
    char line[8192];
    FILE *fp;

    if ((fp = fopen(out_path, "r")) != NULL) {
        while (fgets(line, sizeof(line), fp) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            count_row(f, line, strlen(line));
        }
        fclose(fp);
    }
    *err_oom = *err_internal = *err_said = 0;
    if ((fp = fopen(err_path, "r")) != NULL) {
        while (fgets(line, sizeof(line), fp) != NULL) {
            *err_oom |= strstr(line, "out of memory") != NULL;
            *err_internal |= strstr(line, "internal error") != NULL;
            *err_said |= strncmp(line, "jarmsweep: ", 11) == 0;
        }
        fclose(fp);
    }
}

static void test_cli_faults(const char *jarmsweep)
{
    char dir[] = "/tmp/jarm-lifecycle-XXXXXX", out[64], err[64], cmd[1024];
    int oom_lines = 0, clean = 0;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(err, sizeof(err), "%s/err", dir);
    for (int k = 1; k <= 16; k++) {
        struct feed f;
        int st, code, err_oom, err_internal, err_said, every = 1;

        memset(&f, 0, sizeof(f));
        snprintf(cmd, sizeof(cmd),
                 "JARMSWEEP_TEST_FAIL_ALLOC=%d '%s' -q -p 1 -t 5 --allow-reserved "
                 "127.0.0.1 bad:99999 127.0.0.2 127.0.0.4/31 >%s 2>%s",
                 k, jarmsweep, out, err);
        st = system(cmd);
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        cli_count(out, err, &f, &err_oom, &err_internal, &err_said);
        for (int i = 1; i <= NLINES; i++)
            if (f.line_rows[i] != full_rows[i] && f.line_rows[i] != 1)
                every = 0;
        /* Exit 0 with every line's rows; or exit 1 with a message and no row (the start
         * failed: no memory, no thread), or saying "out of memory" after the rows written so
         * far (the run stopped after a row whose bookkeeping failed); never a loop left with
         * handles on it. */
        ok(!err_internal && f.junk == 0 &&
               ((code == 0 && every && !err_oom) ||
                (code == 1 && (err_oom || (err_said && f.rows == 0)))),
           "jarmsweep, allocation %d fails: exit %d, %d rows, %d out of memory", k, code, f.rows,
           f.oom_rows);
        if (code == 0 && f.oom_rows == 1)
            oom_lines++;
        if (code == 0 && f.rows == 5)
            clean++;
    }
    ok(oom_lines >= 1, "jarmsweep: a line without memory for its entry has its row (%d)",
       oom_lines);
    ok(clean >= 1, "jarmsweep: past the last allocation point the scan is complete (%d)", clean);
    unlink(out);
    unlink(err);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    test_alloc_faults();
    if (argc > 1)
        test_cli_faults(argv[1]);
    test_caller_loop();
    test_proxy_unresolvable();
    return done_testing();
}
