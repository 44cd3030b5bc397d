/*
 * test_scanner.c - the libuv-shaped scanner API of jarmsweep.h on a loop the test runs, against
 * the replay responder playing the openssl_rsa_default capture (suite 'loopback').
 *
 * Results arrive as jarm_result_t; their fields are checked, and jarm_result_to_json() of a
 * result must be byte for byte the line the command line writes for the same target (with
 * the clock-dependent fields and the input's name taken from the command line's row).
 *
 *   test_scanner RESPONDER VECTORS_DIR JARMSWEEP
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "jarmsweep.h"
#include "json.h"
#include "tap.h"

extern char **environ;

#define N 300

static char expect_fp[JARM_FP_LEN + 1];

struct run {
    jarm_scanner_t *sc;
    int port, added, rows, right, bad, done, closed, stop_at;
    char target[64];
};

static void fill(struct run *r)
{
    while (r->added < N) {
        int e = jarm_scanner_add(r->sc, r->target);
        if (e == JARM_EAGAIN)
            return; /* later, from a row callback */
        if (e != 0)
            return;
        r->added++;
    }
    jarm_scanner_end(r->sc);
}

static int on_row(void *data, const jarm_result_t *res)
{
    struct run *r = data;
    r->rows++;
    if (res->status == JARM_STATUS_OK && strcmp(res->jarm, expect_fp) == 0 &&
        strcmp(jarm_status_name(res->status), "ok") == 0)
        r->right++;
    if (res->status == JARM_STATUS_BAD_TARGET && res->ip == NULL && res->port == 0 &&
        strcmp(res->jarm, "00000000000000000000000000000000000000000000000000000000000000") == 0)
        r->bad++;
    if (r->added < N)
        fill(r);
    return r->stop_at > 0 && r->rows >= r->stop_at;
}

static void on_close(jarm_scanner_t *sc, void *data)
{
    struct run *r = data;
    r->closed++;
}

static void on_done(jarm_scanner_t *sc, void *data)
{
    struct run *r = data;
    r->done++;
    jarm_scanner_close(sc, on_close);
}

static int start_responder(const char *path, const char *replies, pid_t *pid)
{
    char pf[] = "/tmp/jarm-scanner-port-XXXXXX";
    int fd = mkstemp(pf), port = 0;
    char *argv[] = {(char *)path,  "--listen", "127.0.0.1:0", "--replies", (char *)replies,
                    "--port-file", pf,         NULL};
    close(fd);
    unlink(pf);
    if (posix_spawn(pid, path, NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 500 && port == 0; i++) {
        FILE *f = fopen(pf, "r");
        if (f != NULL) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port == 0)
            usleep(10000);
    }
    unlink(pf);
    return port;
}

static void scan(int port, int stop_at, const char *extra, struct run *r)
{
    uv_loop_t loop;
    jarm_scan_opts_t opts;
    char err[256];

    memset(r, 0, sizeof(*r));
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = 200;
    opts.timeout = 5;
    r->stop_at = stop_at;
    snprintf(r->target, sizeof(r->target), "127.0.0.1:%d", port);
    uv_loop_init(&loop);
    ok(jarm_scanner_init(&loop, &r->sc, &opts, err, sizeof(err)) == 0, "init on our loop");
    ok(jarm_scanner_add(r->sc, r->target) == JARM_EINVAL, "add before start is refused");
    ok(jarm_scanner_start(r->sc, on_row, on_done, r) == 0, "start");
    ok(extra == NULL || jarm_scanner_add(r->sc, extra) == 0, "add");
    fill(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "uv_loop_close() == 0: the scanner closed all it opened");
}

/* ---- the lifecycle rules, on a loop of the test's own ---- */

struct life {
    jarm_scanner_t *sc;
    int rows, done, closed, in_start, closed_in_start, close_at, stopped_twice;
    jarm_scanner_t *closed_sc;
};

static struct life *life_cur; /* close_cb's data is NULL for a scanner never started */

static void life_closed(jarm_scanner_t *sc, void *data)
{
    struct life *l = life_cur;
    if (data != NULL && data != l)
        return; /* not counted: the check fails */
    l->closed++;
    l->closed_sc = sc;
    if (l->in_start)
        l->closed_in_start = 1;
}

static int life_row(void *data, const jarm_result_t *res)
{
    struct life *l = data;
    (void)res;
    if (++l->rows == l->close_at) {
        l->in_start = 1; /* "on the caller's stack" here means inside our own call */
        jarm_scanner_close(l->sc, life_closed);
        l->in_start = 0;
    }
    return 0;
}

static void life_done(jarm_scanner_t *sc, void *data)
{
    struct life *l = data;
    l->done++;
    jarm_scanner_stop(sc); /* after done: no effect */
    jarm_scanner_stop(sc);
    l->in_start = 1;
    jarm_scanner_close(sc, life_closed);
    l->in_start = 0;
}

static void life_init(uv_loop_t *loop, struct life *l, const char *resolvers)
{
    jarm_scan_opts_t opts;
    char err[256];

    memset(l, 0, sizeof(*l));
    life_cur = l;
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = 16;
    opts.timeout = 5;
    opts.resolvers = resolvers;
    uv_loop_init(loop);
    ok(jarm_scanner_init(loop, &l->sc, &opts, err, sizeof(err)) == 0, "init (%s)", err);
}

/* close_cb runs once, from the loop, and the loop is then empty. */
static void life_finish(uv_loop_t *loop, struct life *l, const char *what)
{
    ok(l->closed == 0, "%s: close_cb not run from inside close", what);
    ok(uv_run(loop, UV_RUN_DEFAULT) == 0, "%s: the loop runs empty", what);
    ok(l->closed == 1 && !l->closed_in_start && l->closed_sc == l->sc,
       "%s: close_cb once, from the loop, with the scanner (%d)", what, l->closed);
    ok(uv_loop_close(loop) == 0, "%s: uv_loop_close() == 0", what);
}

static void test_lifecycle(int port)
{
    uv_loop_t loop;
    struct life l;
    char target[64];

    /* A start that fails (a resolver that is not an address), then close. */
    life_init(&loop, &l, "not-an-ip");
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) != 0, "start with a bad resolver fails");
    ok(jarm_scanner_add(l.sc, "127.0.0.1:1") == JARM_EINVAL, "no add after a failed start");
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) == JARM_EINVAL, "nor a second start");
    jarm_scanner_stop(l.sc);
    l.in_start = 1;
    jarm_scanner_close(l.sc, life_closed);
    l.in_start = 0;
    life_finish(&loop, &l, "failed start");
    ok(l.rows == 0 && l.done == 0, "failed start: no row, no done");

    /* Close without start. */
    life_init(&loop, &l, NULL);
    l.in_start = 1;
    jarm_scanner_close(l.sc, life_closed);
    jarm_scanner_close(l.sc, life_closed); /* a second close is ignored */
    l.in_start = 0;
    life_finish(&loop, &l, "close without start");

    /* Add after end; stop twice; done, then close from done. */
    life_init(&loop, &l, NULL);
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) == 0, "start");
    ok(jarm_scanner_add(l.sc, "bad:99999") == 0, "add");
    jarm_scanner_end(l.sc);
    ok(jarm_scanner_add(l.sc, "bad:99998") == JARM_EINVAL, "add after end is refused");
    jarm_scanner_stop(l.sc);
    jarm_scanner_stop(l.sc);
    ok(uv_run(&loop, UV_RUN_DEFAULT) == 0, "stop twice: the loop runs empty");
    /* Stopped before the loop ran: the queued target was never pulled, so it has no row. */
    ok(l.done == 1 && l.closed == 1 && l.rows == 0, "stop twice: done %d, closed %d, rows %d",
       l.done, l.closed, l.rows);
    ok(uv_loop_close(&loop) == 0, "stop twice: uv_loop_close() == 0");

    /* Close inside the row callback, targets still in flight: no more rows, no done. */
    life_init(&loop, &l, NULL);
    l.close_at = 3;
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    ok(jarm_scanner_start(l.sc, life_row, life_done, &l) == 0, "start");
    for (int i = 0; i < 20; i++)
        jarm_scanner_add(l.sc, i < 3 ? "bad:99999" : target);
    ok(uv_run(&loop, UV_RUN_DEFAULT) == 0, "close in row: the loop runs empty");
    ok(l.rows == 3 && l.done == 0 && l.closed == 1 && !l.closed_in_start,
       "close in row: 3 rows, no done, closed once from the loop (%d, %d, %d)", l.rows, l.done,
       l.closed);
    ok(uv_loop_close(&loop) == 0, "close in row: uv_loop_close() == 0");
}

/* ---- every option of jarm_scan that can fail: an error and a message, nothing leaked ---- */

static const char *none_next(void *data)
{
    (void)data;
    return NULL;
}

static int none_row(void *data, const jarm_result_t *res)
{
    (void)res;
    ++*(int *)data;
    return 0;
}

static void test_scan_errors(void)
{
    static const struct {
        const char *what, *ports, *sni, *resolvers, *proxy;
    } bad[] = {
        {"bad ports", "0", NULL, NULL, NULL},
        {"empty sni", NULL, "", NULL, NULL},
        {"bad resolver", NULL, NULL, "not-an-ip", NULL},
        {"bad resolver port", NULL, NULL, "127.0.0.1:99999", NULL},
        {"bad proxy scheme", NULL, NULL, NULL, "ftp://127.0.0.1:1080"},
        {"proxy without port", NULL, NULL, NULL, "socks5://127.0.0.1"},
        {"proxy with a bad port", NULL, NULL, NULL, "socks5://127.0.0.1:99999"},
        {"proxy with empty host", NULL, NULL, NULL, "socks5h://:1080"},
        {"proxy with long credentials", NULL, NULL, NULL, "socks5://:x@127.0.0.1:1080"},
    };
    char sni[JARM_HOST_MAX + 2];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jarm_scan_opts_t opts;
        char err[256];
        int rows = 0;
        memset(&opts, 0, sizeof(opts));
        opts.ports = bad[i].ports;
        opts.sni = bad[i].sni;
        opts.resolvers = bad[i].resolvers;
        opts.proxy = bad[i].proxy;
        ok(jarm_scan(&opts, none_next, NULL, none_row, &rows, err, sizeof(err)) != 0 &&
               err[0] != '\0' && rows == 0,
           "jarm_scan with %s fails: %s", bad[i].what, err);
    }
    memset(sni, 'a', sizeof(sni) - 1);
    sni[sizeof(sni) - 1] = '\0';
    {
        jarm_scan_opts_t opts;
        char err[256];
        int rows = 0;
        memset(&opts, 0, sizeof(opts));
        opts.sni = sni;
        ok(jarm_scan(&opts, none_next, NULL, none_row, &rows, err, sizeof(err)) == JARM_EINVAL,
           "jarm_scan with a too long sni fails: %s", err);
    }
}

/* ---- results as data: the fields, and jarm_result_to_json() against the command line ---- */

/* A result kept past its callback: the struct and copies of its strings. */
struct kept {
    int have;
    jarm_result_t r;
    char *host, *ip, *sni, *jarm, *raw, *error, *source;
};

static char *dup_bytes(const char *s, size_t n)
{
    char *p;
    if (s == NULL)
        return NULL;
    p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void keep(struct kept *k, const jarm_result_t *r)
{
    k->have = 1;
    k->r = *r;
    k->r.host = k->host = dup_bytes(r->host, r->host_len);
    k->r.ip = k->ip = dup_bytes(r->ip, r->ip ? strlen(r->ip) : 0);
    k->r.sni = k->sni = dup_bytes(r->sni, r->sni_len);
    k->r.jarm = k->jarm = dup_bytes(r->jarm, strlen(r->jarm));
    k->r.raw = k->raw = dup_bytes(r->raw, r->raw_len);
    k->r.error = k->error = dup_bytes(r->error, r->error ? strlen(r->error) : 0);
    k->r.source = k->source = dup_bytes(r->source, r->source ? strlen(r->source) : 0);
}

static void kept_free(struct kept *k)
{
    free(k->host);
    free(k->ip);
    free(k->sni);
    free(k->jarm);
    free(k->raw);
    free(k->error);
    free(k->source);
}

struct two {
    jarm_scanner_t *sc;
    struct kept ok, bad;
    char json_ok[8192];
    int json_len, enobufs_right, rows;
};

static int two_row(void *data, const jarm_result_t *r)
{
    struct two *t = data;
    t->rows++;
    if (r->status == JARM_STATUS_BAD_TARGET && !t->bad.have) {
        keep(&t->bad, r);
    } else if (r->status == JARM_STATUS_OK && !t->ok.have) {
        int n = jarm_result_to_json(r, t->json_ok, sizeof(t->json_ok));
        keep(&t->ok, r);
        t->json_len = n;
        if (n > 0) {
            char small[8192];
            t->enobufs_right = jarm_result_to_json(r, small, (size_t)n) == JARM_ENOBUFS &&
                               jarm_result_to_json(r, small, (size_t)n + 1) == n &&
                               memcmp(small, t->json_ok, (size_t)n + 1) == 0;
        }
    }
    return 0;
}

static void two_done(jarm_scanner_t *sc, void *data)
{
    (void)data;
    jarm_scanner_close(sc, NULL);
}

/* The command line's stdout for `jarmsweep -q -t 5 TARGET` (one row), or NULL. */
static char *cli_row(const char *js, const char *target)
{
    char out[] = "/tmp/jarm-scanner-cli-XXXXXX";
    char *argv[] = {(char *)js, "-q", "-t", "5", (char *)target, NULL};
    posix_spawn_file_actions_t fa;
    static char buf[65536];
    int fd = mkstemp(out), st = 0;
    ssize_t n;
    pid_t pid;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    if (posix_spawn(&pid, js, &fa, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) != pid ||
        !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(fd);
        unlink(out);
        return NULL;
    }
    posix_spawn_file_actions_destroy(&fa);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(out);
    if (n <= 1 || buf[n - 1] != '\n' || memchr(buf, '\n', (size_t)n - 1) != NULL)
        return NULL; /* exactly one line */
    buf[n - 1] = '\0';
    return buf;
}

/* "2026-12-06T13:00:00.123Z" as ms since the epoch. */
static uint64_t parse_ts(const char *s)
{
    struct tm tm;
    unsigned ms = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t)timegm(&tm) * 1000 + ms;
}

/*
 * The command line's row for target, compared with to_json of k: first k takes the row's
 * clock fields (ts, elapsed_ms, each probe's ms) and input name, then the bytes must match.
 */
static void same_as_cli(const char *js, const char *target, struct kept *k, const char *what)
{
    char *line = cli_row(js, target), mine[8192];
    json_t *row = line ? json_parse(line, strlen(line), NULL, 0) : NULL;
    const json_t *probes, *input;
    int n;

    if (!ok(row != NULL && k->have, "%s: the command line wrote one row (%s)", what,
            line ? line : "none")) {
        json_free(row);
        return;
    }
    k->r.ts_ms = parse_ts(json_str(json_get(row, "ts")));
    if (json_get(row, "elapsed_ms") != NULL)
        k->r.elapsed_ms = (uint64_t)json_long(json_get(row, "elapsed_ms"), -1);
    probes = json_get(row, "probes");
    for (size_t i = 0; probes != NULL && i < json_count(probes) && i < JARM_PROBES; i++) {
        const json_t *p = json_at(probes, i), *ms = json_get(p, "ms");
        ok(strcmp(json_str(json_get(p, "status")),
                  jarm_probe_status_name(k->r.probes[i].status)) == 0,
           "%s: probe %zu: status %s in both", what, i, json_str(json_get(p, "status")));
        if (ms != NULL)
            k->r.probes[i].ms = (uint32_t)json_long(ms, -1);
    }
    input = json_get(row, "input");
    if (input != NULL) {
        /* Targets added to a scanner come from "add"; the command line's from "argv". */
        ok(k->r.source != NULL && strcmp(k->r.source, "add") == 0,
           "%s: the scanner's input is \"add\" (%s)", what, k->r.source);
        k->r.source = strcmp(json_str(input), "argv") == 0 ? NULL : json_str(input);
    }
    n = jarm_result_to_json(&k->r, mine, sizeof(mine));
    ok(n > 0 && (size_t)n == strlen(line) && strcmp(mine, line) == 0,
       "%s: jarm_result_to_json() is the command line's row byte for byte\n#   mine %s\n#   cli  %s",
       what, n > 0 ? mine : "(error)", line);
    json_free(row);
}

static void test_results(int port, const char *js)
{
    uv_loop_t loop;
    jarm_scan_opts_t opts;
    struct two t;
    char target[64], err[256];
    /* A line that is no target, with bytes JSON must escape: quote, backslash, control, and
     * a byte that is not UTF-8. */
    static const char bad[] = "b\"a\\d\t\x01\xff:99999";
    static const char zeros[] = "00000000000000000000000000000000000000000000000000000000000000";

    memset(&t, 0, sizeof(t));
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = 16;
    opts.timeout = 5;
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    uv_loop_init(&loop);
    ok(jarm_scanner_init(&loop, &t.sc, &opts, err, sizeof(err)) == 0 &&
           jarm_scanner_start(t.sc, two_row, two_done, &t) == 0 &&
           jarm_scanner_add(t.sc, bad) == 0 && jarm_scanner_add(t.sc, target) == 0,
       "results: a scanner with a bad line and the responder");
    jarm_scanner_end(t.sc);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0 && t.rows == 2, "results: two rows, loop closed (%d)", t.rows);

    if (ok(t.ok.have, "results: the responder's row is ok")) {
        const jarm_result_t *r = &t.ok.r;
        unsigned ok_probes = 0;
        ok(r->host_len == strlen("127.0.0.1") && memcmp(r->host, "127.0.0.1", r->host_len) == 0 &&
               r->ip != NULL && strcmp(r->ip, "127.0.0.1") == 0 && r->port == (unsigned)port,
           "results: host, ip and port");
        ok(strcmp(r->jarm, expect_fp) == 0, "results: jarm is the capture's (%s)", r->jarm);
        ok(r->raw_len > 0 && r->raw_len == strlen(r->raw) && strcmp(r->raw, JARM_RAW_EMPTY) != 0,
           "results: raw (%zu bytes)", r->raw_len);
        ok(r->sni != NULL && r->sni_len == r->host_len && memcmp(r->sni, r->host, r->sni_len) == 0,
           "results: sni is the host");
        for (unsigned i = 0; i < JARM_PROBES; i++)
            ok_probes += r->probes[i].status == JARM_PROBE_OK;
        ok(ok_probes > 0, "results: %u probes got a ServerHello", ok_probes);
        ok(r->error == NULL && r->proxy == NULL && r->match == NULL && r->baseline == NULL &&
               r->ts_ms > 1500000000000ull,
           "results: no error, proxy or annotations; a wall-clock ts");
        ok(t.json_len > 0 && t.enobufs_right,
           "results: jarm_result_to_json needs length + 1 bytes, else JARM_ENOBUFS");
        ok(jarm_result_to_json(NULL, t.json_ok, 1) == JARM_EINVAL &&
               jarm_result_to_json(r, NULL, 0) == JARM_EINVAL,
           "results: jarm_result_to_json refuses NULL");
    }
    if (ok(t.bad.have, "results: the bad line's row is bad_target")) {
        const jarm_result_t *r = &t.bad.r;
        ok(r->host_len == sizeof(bad) - 1 && memcmp(r->host, bad, r->host_len) == 0,
           "results: bad_target's host is the line as given");
        ok(r->ip == NULL && r->port == 0 && r->sni == NULL && r->error != NULL &&
               strcmp(r->jarm, zeros) == 0 && strcmp(r->raw, JARM_RAW_EMPTY) == 0 &&
               r->line == 1 && strcmp(jarm_status_name(r->status), "bad_target") == 0,
           "results: bad_target: no ip, port or sni; zeros; an error (%s); line 1", r->error);
    }
    same_as_cli(js, target, &t.ok, "ok row");
    same_as_cli(js, bad, &t.bad, "bad_target row");
    ok(strcmp(jarm_status_name(JARM_STATUS_DNS_ERROR), "dns_error") == 0 &&
           strcmp(jarm_status_name((jarm_status_t)99), "error") == 0 &&
           strcmp(jarm_probe_status_name(JARM_PROBE_PROXY_ERROR), "proxy_error") == 0,
       "status names");
    kept_free(&t.ok);
    kept_free(&t.bad);
}

int main(int argc, char **argv)
{
    json_t *caps;
    const json_t *list, *cap = NULL;
    char replies[] = "/tmp/jarm-scanner-replies-XXXXXX";
    FILE *f;
    pid_t pid;
    int port;
    struct run r;

    if (argc < 4) {
        fprintf(stderr, "usage: test_scanner RESPONDER VECTORS_DIR JARMSWEEP\n");
        return 2;
    }
    caps = json_load_vector(2, argv + 1, "captures.json");
    list = json_get(caps, "captures");
    for (size_t i = 0; i < json_count(list); i++)
        if (strcmp(json_str(json_get(json_at(list, i), "name")), "openssl_rsa_default") == 0)
            cap = json_at(list, i);
    if (!ok(cap != NULL, "captures.json has openssl_rsa_default"))
        return done_testing();
    snprintf(expect_fp, sizeof(expect_fp), "%s", json_str(json_get(cap, "fingerprint")));
    f = fdopen(mkstemp(replies), "w");
    for (size_t i = 0; i < json_count(json_get(cap, "probes")); i++) {
        const json_t *hex = json_get(json_at(json_get(cap, "probes"), i), "received_hex");
        fprintf(f, "%s\n", json_is_str(hex) ? json_str(hex) : "-");
    }
    fclose(f);
    port = start_responder(argv[1], replies, &pid);
    if (!ok(port > 0, "responder started (port %d)", port))
        return done_testing();

    scan(port, 0, "bad:99999", &r);
    ok(r.rows == N + 1, "every added target has its row (%d of %d)", r.rows, N + 1);
    ok(r.right == N, "each with the capture's fingerprint (%d)", r.right);
    ok(r.bad == 1, "the bad target has a bad_target row");
    ok(r.done == 1 && r.closed == 1, "done once, closed once (%d, %d)", r.done, r.closed);

    test_results(port, argv[3]);
    test_lifecycle(port);
    test_scan_errors();

    scan(port, 50, NULL, &r);
    ok(r.rows >= 50 && r.rows < N, "a row callback returning 1 stops the scan (%d rows)", r.rows);
    ok(r.done == 1 && r.closed == 1, "stopped: done once, closed once");

    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(replies);
    json_free(caps);
    return done_testing();
}
