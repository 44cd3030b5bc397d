/*
 * api.c - the library's scanning calls: jarm_scan(), jarm_fingerprint_row() and the scanner
 * on a caller's loop (jarm_scanner_*).
 *
 * All of them drive the engine's scanner (scanner.h), the same object the command line
 * drives, with two hooks of their own: rows become NDJSON lines for the caller's row(), and
 * targets come from the caller's next() on the input thread (jarm_scan) or from
 * jarm_scanner_add on the loop. Each call owns everything it creates, so calls on different
 * threads are independent.
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "endpoint.h"
#include "jarmsweep.h"
#include "output.h"
#include "scanner.h"
#include "target.h"

struct jarm_scanner_s {
    jarm__scanner_t sc;
    jarm_row_fn row;
    jarm_scanner_cb done, close_cb;
    void *data;
    uint16_t ports[65535];
    char err[256]; /* the first failure, for jarm_scan */
};

/* Hand the row over as data; non-zero from row() stops the scan. */
static void deliver(jarm_scanner_t *api, const jarm_result_t *r, uint64_t seq)
{
    if (api->row(api->data, r) != 0)
        jarm__scanner_stop(&api->sc);
    jarm__scanner_complete(&api->sc, seq);
}

static void on_result(jarm__scanner_t *sc, const jarm__target_t *t)
{
    jarm__row_t row;
    jarm__row_from_target(&row, t, jarm__wall_ms());
    deliver(sc->data, &row.r, t->seq);
}

static void on_unscanned(jarm__scanner_t *sc, jarm__row_t *row, uint64_t seq)
{
    deliver(sc->data, &row->r, seq);
}

static void on_fail(jarm__scanner_t *sc, const char *msg)
{
    jarm_scanner_t *api = sc->data;
    if (api->err[0] == '\0')
        snprintf(api->err, sizeof(api->err), "%s", msg);
}

static void on_done(jarm__scanner_t *sc)
{
    jarm_scanner_t *api = sc->data;
    if (api->done != NULL)
        api->done(api, api->data);
}

static const jarm__scanner_hooks_t api_hooks = {
    .result = on_result, .unscanned = on_unscanned, .fail = on_fail, .done = on_done};

/* The scanner's options from the library's; 0 or JARM_EINVAL with a message. */
static int set_opts(jarm_scanner_t *api, jarm__scanner_opts_t *o, const jarm_scan_opts_t *in,
                    char *err, size_t errlen)
{
    char msg[128];
    int n;

    memset(o, 0, sizeof(*o));
    o->concurrency = in && in->concurrency ? in->concurrency : 1000;
    o->probe_parallel = JARM_PROBES - 1;
    o->timeout = in && in->timeout > 0 ? in->timeout : 5.0;
    o->shard_n = 1;
    o->seed = jarm__scanner_random_seed();
    api->ports[0] = 443;
    o->ports = api->ports;
    o->nports = 1;
    if (in == NULL)
        return 0;
    if (in->ports != NULL) {
        if ((n = jarm__ports_parse(in->ports, api->ports, 65535, msg, sizeof(msg))) < 0) {
            snprintf(err, errlen, "ports: %s", msg);
            return JARM_EINVAL;
        }
        o->nports = (size_t)n;
    }
    if (in->sni != NULL && (strlen(in->sni) == 0 || strlen(in->sni) > JARM_HOST_MAX)) {
        snprintf(err, errlen, "bad sni");
        return JARM_EINVAL;
    }
    if (in->proxy != NULL && jarm__proxy_scheme(in->proxy) < 0) {
        snprintf(err, errlen, "bad proxy '%s' (socks5:// or http://[user:pass@]host:port)",
                 in->proxy);
        return JARM_EINVAL;
    }
    o->sni = in->sni;
    o->resolvers = in->resolvers;
    o->proxy = in->proxy;
    o->allow_reserved = in->allow_reserved != 0;
    o->cert = in->cert != 0;
    o->cert_max = in->cert_max ? in->cert_max : JARM__CERT_MAX_DEFAULT;
    if (o->cert_max > JARM__CERT_MAX_LIMIT) {
        if (err != NULL)
            snprintf(err, errlen, "bad cert_max %zu (bytes, 1-%d)", in->cert_max,
                     JARM__CERT_MAX_LIMIT);
        return JARM_EINVAL;
    }
    return 0;
}

/* A scanner wrapper, initialized: 0, or an error with a message (nothing left to free). */
static int api_new(jarm_scanner_t **out, uv_loop_t *loop, const jarm_scan_opts_t *opts,
                   jarm_next_fn next, void *next_data, char *err, size_t errlen)
{
    jarm_scanner_t *api;
    jarm__scanner_opts_t o;
    char msg[512];
    int r;

    msg[0] = '\0';
    if ((api = calloc(1, sizeof(*api))) == NULL)
        return JARM_ENOBUFS;
    if ((r = set_opts(api, &o, opts, msg, sizeof(msg))) == 0) {
        o.next = next;
        o.next_data = next_data;
        o.manual = next == NULL;
        r = jarm__scanner_init(&api->sc, loop, &o, &api_hooks, msg, sizeof(msg));
    }
    if (r != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", msg);
        free(api);
        return r == JARM_EINVAL ? JARM_EINVAL : r;
    }
    api->sc.data = api;
    *out = api;
    return 0;
}

static void api_free(jarm__scanner_t *sc)
{
    jarm_scanner_t *api = sc->data;
    if (api->close_cb != NULL)
        api->close_cb(api, api->data);
    free(api);
}

/* ---- a scan on a loop of its own ---- */

int jarm_scan(const jarm_scan_opts_t *opts, jarm_next_fn next, void *next_data, jarm_row_fn row,
              void *row_data, char *err, size_t errlen)
{
    jarm_scanner_t *api;
    uv_loop_t loop;
    char msg[512];
    int r, ret;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (next == NULL || row == NULL)
        return JARM_EINVAL;
    if ((r = uv_loop_init(&loop)) != 0)
        return r;
    if ((r = api_new(&api, &loop, opts, next, next_data, err, errlen)) != 0) {
        uv_loop_close(&loop);
        return r;
    }
    api->row = row;
    api->data = row_data;
    msg[0] = '\0';
    ret = jarm__scanner_start(&api->sc, msg, sizeof(msg));
    if (ret == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    else
        snprintf(api->err, sizeof(api->err), "%s", msg);
    if (ret == 0 && api->sc.input.error[0] != '\0' && api->err[0] == '\0')
        snprintf(api->err, sizeof(api->err), "%s", api->sc.input.error);
    if (ret == 0 && (api->sc.failed || api->err[0] != '\0'))
        ret = JARM_EINVAL;
    jarm__scanner_close(&api->sc, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0 && ret == 0) {
        snprintf(api->err, sizeof(api->err), "internal error: loop not empty at exit");
        ret = JARM_EINVAL;
    }
    if (ret != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", api->err[0] ? api->err : "scan failed");
    free(api);
    return ret == 0 ? 0 : ret == JARM_ENOBUFS ? ret : JARM_EINVAL;
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

int jarm_scanner_init(struct uv_loop_s *loop, jarm_scanner_t **out, const jarm_scan_opts_t *opts,
                      char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (loop == NULL || out == NULL)
        return JARM_EINVAL;
    return api_new(out, loop, opts, NULL, NULL, err, errlen);
}

int jarm_scanner_start(jarm_scanner_t *sc, jarm_row_fn row, jarm_scanner_cb done, void *data)
{
    char msg[512];

    if (sc == NULL || row == NULL || sc->sc.state != JARM__SC_IDLE)
        return JARM_EINVAL;
    sc->row = row;
    sc->done = done;
    sc->data = data;
    return jarm__scanner_start(&sc->sc, msg, sizeof(msg)) == 0 ? 0 : JARM_EINVAL;
}

int jarm_scanner_add(jarm_scanner_t *sc, const char *target)
{
    if (sc == NULL || target == NULL)
        return JARM_EINVAL;
    return jarm__scanner_add(&sc->sc, target, strlen(target));
}

void jarm_scanner_end(jarm_scanner_t *sc)
{
    if (sc != NULL)
        jarm__scanner_end(&sc->sc);
}

void jarm_scanner_stop(jarm_scanner_t *sc)
{
    if (sc != NULL)
        jarm__scanner_stop(&sc->sc);
}

void jarm_scanner_close(jarm_scanner_t *sc, jarm_scanner_cb close_cb)
{
    if (sc == NULL || sc->sc.state == JARM__SC_CLOSING || sc->sc.state == JARM__SC_CLOSED)
        return;
    sc->close_cb = close_cb;
    jarm__scanner_close(&sc->sc, api_free);
}
