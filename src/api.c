/*
 * api.c - the library's scanning calls: jarm_scan() and jarm_fingerprint_row().
 *
 * They run the same scan as the command line (run.c, feed.c, scan.c) on a private loop, with
 * two hooks instead of files: targets come from the caller's next() on the input thread, and
 * rows go to the caller's row() instead of a file. Each call owns everything it creates, so
 * calls on different threads are independent.
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli/app.h"
#include "jarm.h"

static int set_opts(app_t *app, const jarm_scan_opts_t *in, char *err, size_t errlen)
{
    jarm__cli_opts_t *o = &app->opts;
    char msg[128];
    int n;

    o->concurrency = in && in->concurrency ? in->concurrency : 1000;
    o->probe_parallel = JARM_PROBES - 1;
    o->timeout = in && in->timeout > 0 ? in->timeout : 5.0;
    o->format = JARM__FMT_NDJSON;
    o->shard_n = 1;
    o->quiet = 1;
    o->ports[0] = 443;
    o->nports = 1;
    if (in == NULL)
        return 0;
    if (in->ports != NULL) {
        if ((n = jarm__ports_parse(in->ports, o->ports, JARM__CLI_PORTS_MAX, msg, sizeof(msg))) <
            0) {
            if (err != NULL)
                snprintf(err, errlen, "ports: %s", msg);
            return JARM_EINVAL;
        }
        o->nports = (size_t)n;
    }
    if (in->sni != NULL && (strlen(in->sni) == 0 || strlen(in->sni) > JARM_HOST_MAX)) {
        if (err != NULL)
            snprintf(err, errlen, "bad sni");
        return JARM_EINVAL;
    }
    if (in->proxy != NULL && strncmp(in->proxy, "socks5://", 9) != 0 &&
        strncmp(in->proxy, "socks5h://", 10) != 0) {
        if (err != NULL)
            snprintf(err, errlen, "bad proxy '%s' (socks5://[user:pass@]host:port)", in->proxy);
        return JARM_EINVAL;
    }
    o->sni = in->sni;
    o->resolvers = in->resolvers;
    o->proxy = in->proxy;
    o->allow_reserved = in->allow_reserved != 0;
    return 0;
}

int jarm_scan(const jarm_scan_opts_t *opts, jarm_next_fn next, void *next_data, jarm_row_fn row,
              void *row_data, char *err, size_t errlen)
{
    app_t *app;
    int r;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (next == NULL || row == NULL)
        return JARM_EINVAL;
    if ((app = calloc(1, sizeof(*app))) == NULL)
        return JARM_ENOBUFS;
    if ((r = set_opts(app, opts, err, errlen)) != 0) {
        free(app);
        return r;
    }
    app->lib = 1;
    app->row_cb = row;
    app->row_data = row_data;
    app->input.next = next;
    app->input.next_data = next_data;
    r = jarm__run(app);
    if (r != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", app->err[0] ? app->err : "scan failed");
    free(app);
    return r == 0 ? 0 : JARM_EINVAL;
}

struct one {
    const char *target;
    int given;
    char *out;
    size_t cap;
    int len;
};

static const char *one_next(void *data)
{
    struct one *o = data;
    if (o->given)
        return NULL;
    o->given = 1;
    return o->target;
}

static int one_row(void *data, const char *row, size_t len)
{
    struct one *o = data;
    if (len + 1 > o->cap) {
        o->len = JARM_ENOBUFS;
        return 0;
    }
    memcpy(o->out, row, len + 1);
    o->len = (int)len;
    return 0;
}

int jarm_fingerprint_row(const char *target, double timeout, const char *sni, char *out, size_t cap)
{
    jarm_scan_opts_t opts;
    struct one o = {target, 0, out, cap, JARM_EINVAL};
    int r;

    if (target == NULL || out == NULL)
        return JARM_EINVAL;
    memset(&opts, 0, sizeof(opts));
    opts.concurrency = 16;
    opts.timeout = timeout;
    opts.sni = sni;
    if ((r = jarm_scan(&opts, one_next, &o, one_row, &o, NULL, 0)) != 0)
        return r;
    return o.len;
}

/* ---- on the caller's loop ---- */

struct jarm_scanner_s {
    app_t *app;
    jarm_scanner_cb done, close_cb;
    void *data;
    int started, done_called, handles_closed, close_requested;
};

static void scanner_free(jarm_scanner_t *sc)
{
    jarm_scanner_cb cb = sc->close_cb;
    void *data = sc->data;
    if (sc->started)
        jarm__run_finish(sc->app);
    free(sc->app);
    free(sc);
    if (cb != NULL)
        cb(NULL, data);
}

static void scanner_done(app_t *app)
{
    jarm_scanner_t *sc = app->api;
    sc->done_called = 1;
    if (sc->done != NULL)
        sc->done(sc, sc->data);
}

static void scanner_closed(app_t *app)
{
    jarm_scanner_t *sc = app->api;
    sc->handles_closed = 1;
    if (sc->close_requested)
        scanner_free(sc);
}

int jarm_scanner_init(struct uv_loop_s *loop, jarm_scanner_t **out, const jarm_scan_opts_t *opts,
                      char *err, size_t errlen)
{
    jarm_scanner_t *sc;
    int r;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (loop == NULL || out == NULL)
        return JARM_EINVAL;
    if ((sc = calloc(1, sizeof(*sc))) == NULL || (sc->app = calloc(1, sizeof(*sc->app))) == NULL) {
        free(sc);
        return JARM_ENOBUFS;
    }
    if ((r = set_opts(sc->app, opts, err, errlen)) != 0) {
        free(sc->app);
        free(sc);
        return r;
    }
    sc->app->lib = 1;
    sc->app->lp = loop;
    sc->app->input.manual = 1;
    sc->app->api = sc;
    sc->app->done_cb = scanner_done;
    sc->app->closed_cb = scanner_closed;
    *out = sc;
    return 0;
}

int jarm_scanner_start(jarm_scanner_t *sc, jarm_row_fn row, jarm_scanner_cb done, void *data)
{
    if (sc == NULL || row == NULL || sc->started)
        return JARM_EINVAL;
    sc->app->row_cb = row;
    sc->app->row_data = data;
    sc->done = done;
    sc->data = data;
    sc->started = 1;
    if (jarm__run_start(sc->app) != 0) {
        sc->started = 0; /* nothing runs; close frees what was set up */
        return JARM_EINVAL;
    }
    return 0;
}

int jarm_scanner_add(jarm_scanner_t *sc, const char *target)
{
    if (sc == NULL || target == NULL || !sc->started)
        return JARM_EINVAL;
    return jarm__input_add(&sc->app->input, target, strlen(target));
}

void jarm_scanner_end(jarm_scanner_t *sc)
{
    if (sc != NULL && sc->started)
        jarm__input_end(&sc->app->input);
}

void jarm_scanner_stop(jarm_scanner_t *sc)
{
    if (sc == NULL || !sc->started || sc->done_called)
        return;
    jarm__input_stop(&sc->app->input);
    jarm__scan_stop(sc->app->scan);
}

void jarm_scanner_close(jarm_scanner_t *sc, jarm_scanner_cb close_cb)
{
    if (sc == NULL)
        return;
    sc->close_cb = close_cb;
    sc->close_requested = 1;
    if (!sc->started || sc->handles_closed) {
        scanner_free(sc);
        return;
    }
    jarm_scanner_stop(sc); /* the handles close after done(); scanner_closed frees */
}
