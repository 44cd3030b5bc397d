/*
 * test_scanner.c - the libuv-shaped scanner API of jarm.h on a loop the test runs, against
 * the replay responder playing the openssl_rsa_default capture (suite 'loopback').
 *
 *   test_scanner RESPONDER VECTORS_DIR
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "jarm.h"
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

static int on_row(void *data, const char *row, size_t len)
{
    struct run *r = data;
    r->rows++;
    if (strstr(row, expect_fp) != NULL && strstr(row, "\"status\":\"ok\"") != NULL)
        r->right++;
    if (strstr(row, "\"status\":\"bad_target\"") != NULL)
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

int main(int argc, char **argv)
{
    json_t *caps;
    const json_t *list, *cap = NULL;
    char replies[] = "/tmp/jarm-scanner-replies-XXXXXX";
    FILE *f;
    pid_t pid;
    int port;
    struct run r;

    if (argc < 3) {
        fprintf(stderr, "usage: test_scanner RESPONDER VECTORS_DIR\n");
        return 2;
    }
    caps = json_load_vector(argc - 1, argv + 1, "captures.json");
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

    scan(port, 50, NULL, &r);
    ok(r.rows >= 50 && r.rows < N, "a row callback returning 1 stops the scan (%d rows)", r.rows);
    ok(r.done == 1 && r.closed == 1, "stopped: done once, closed once");

    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(replies);
    json_free(caps);
    return done_testing();
}
