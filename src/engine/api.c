/*
 * api.c - the library's scanning calls: jarm_scan(), jarm_fingerprint_row() and the scanner
 * on a caller's loop (jarm_scanner_*).
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
#include "endpoint.h"
#include "jarmsweep.h"

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
    if (in->proxy != NULL && jarm__proxy_scheme(in->proxy) < 0) {
        if (err != NULL)
            snprintf(err, errlen, "bad proxy '%s' (socks5:// or http://[user:pass@]host:port)",
                     in->proxy);
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

static int one_row(void *data, const jarm_result_t *r)
{
    struct one *o = data;
    o->len = jarm_result_to_json(r, o->out, o->cap);
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

/*
 * The scanner's life, in order. Only jarm_scanner_close() leaves the order: from any state it
 * goes to CLOSING, and close_cb runs from the loop once the engine's handles are closed.
 */
typedef enum {
    SC_IDLE,    /* initialized, not started: nothing on the loop */
    SC_RUNNING, /* started: rows and done() to come */
    SC_ENDING,  /* done() ran, or the start failed: the engine's handles are closing */
    SC_ENDED,   /* the engine's handles are closed: only close is left */
    SC_CLOSING  /* close was asked: no more callbacks but close_cb */
} sc_state_t;

struct jarm_scanner_s {
    app_t *app;
    sc_state_t state;
    uv_loop_t *loop;
    jarm_row_fn row;
    jarm_scanner_cb done, close_cb;
    void *data;
    uv_timer_t closer; /* closed to bring close_cb onto the loop */
};

static void scanner_free(uv_handle_t *h)
{
    jarm_scanner_t *sc = h->data;
    if (sc->app->lp != NULL)
        jarm__run_finish(sc->app);
    free(sc->app);
    if (sc->close_cb != NULL)
        sc->close_cb(sc, sc->data);
    free(sc);
}

/* Everything of the engine is closed: close our own handle, whose callback frees. */
static void scanner_release(jarm_scanner_t *sc)
{
    uv_timer_init(sc->loop, &sc->closer);
    sc->closer.data = sc;
    uv_close((uv_handle_t *)&sc->closer, scanner_free);
}

static int scanner_row(void *data, const jarm_result_t *r)
{
    jarm_scanner_t *sc = data;
    if (sc->state != SC_RUNNING)
        return 1; /* closing: the rows of targets in flight go nowhere */
    return sc->row(sc->data, r);
}

static void scanner_done(app_t *app)
{
    jarm_scanner_t *sc = app->api;
    if (sc->state != SC_RUNNING)
        return;
    sc->state = SC_ENDING;
    if (sc->done != NULL)
        sc->done(sc, sc->data);
}

static void scanner_closed(app_t *app)
{
    jarm_scanner_t *sc = app->api;
    if (sc->state == SC_CLOSING)
        scanner_release(sc);
    else
        sc->state = SC_ENDED;
}

/* No more targets; those in flight finish, then done. Once. */
static void engine_stop(app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    jarm__input_stop(&app->input);
    jarm__scan_stop(app->scan);
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
    sc->state = SC_IDLE;
    sc->loop = loop;
    sc->app->lib = 1;
    sc->app->input.manual = 1;
    sc->app->api = sc;
    sc->app->done_cb = scanner_done;
    sc->app->closed_cb = scanner_closed;
    *out = sc;
    return 0;
}

int jarm_scanner_start(jarm_scanner_t *sc, jarm_row_fn row, jarm_scanner_cb done, void *data)
{
    if (sc == NULL || row == NULL || sc->state != SC_IDLE)
        return JARM_EINVAL;
    sc->row = row;
    sc->done = done;
    sc->data = data;
    sc->app->row_cb = scanner_row;
    sc->app->row_data = sc;
    sc->app->lp = sc->loop;
    sc->state = SC_RUNNING;
    if (jarm__run_start(sc->app) != 0) {
        /* Undone: what reached the loop is closing (scanner_closed may have run already). */
        if (sc->state == SC_RUNNING)
            sc->state = SC_ENDING;
        return JARM_EINVAL;
    }
    return 0;
}

int jarm_scanner_add(jarm_scanner_t *sc, const char *target)
{
    if (sc == NULL || target == NULL || sc->state != SC_RUNNING)
        return JARM_EINVAL;
    return jarm__input_add(&sc->app->input, target, strlen(target));
}

void jarm_scanner_end(jarm_scanner_t *sc)
{
    if (sc != NULL && sc->state == SC_RUNNING)
        jarm__input_end(&sc->app->input);
}

void jarm_scanner_stop(jarm_scanner_t *sc)
{
    if (sc != NULL && sc->state == SC_RUNNING)
        engine_stop(sc->app);
}

void jarm_scanner_close(jarm_scanner_t *sc, jarm_scanner_cb close_cb)
{
    sc_state_t was;

    if (sc == NULL || sc->state == SC_CLOSING)
        return;
    was = sc->state;
    sc->close_cb = close_cb;
    sc->state = SC_CLOSING; /* first: a stop may end the scan at once, done() must not run */
    if (was == SC_RUNNING)
        engine_stop(sc->app); /* the engine's handles close after its last row */
    else if (was == SC_IDLE || was == SC_ENDED)
        scanner_release(sc);
}
