/*
 * row.c - the row model (see row.h): rows from the engine's targets and for inputs never
 * scanned, and the table of formats.
 */
#include <string.h>
#include <time.h>

#include "row.h"
#include "scan.h"
#include "status.h"

const char jarm__zeros[JARM_FP_LEN + 1] =
    "00000000000000000000000000000000000000000000000000000000000000";

const jarm__format_ops_t *jarm__format_ops(jarm__format_t f)
{
    switch (f) {
    case JARM__FMT_CSV:
        return &jarm__format_csv;
    case JARM__FMT_JARM_JSON:
        return &jarm__format_jarm_json;
    case JARM__FMT_NDJSON:
        break;
    }
    return &jarm__format_ndjson;
}

void jarm__row_from_target(jarm__row_t *row, const jarm__target_t *t, uint64_t ts_ms)
{
    jarm_result_t *r = &row->r;

    memset(r, 0, sizeof(*r));
    r->host = t->host;
    r->host_len = t->host_len;
    r->ip = t->ip[0] != '\0' ? t->ip : NULL; /* a name the proxy resolved: not known here */
    r->port = t->port;
    r->sni = t->sni;
    r->sni_len = t->sni_len;
    r->proxy = t->proxy;
    r->source = t->source;
    r->line = t->lineno;
    r->status = (jarm_status_t)t->status;
    r->jarm = t->jarm;
    r->raw = t->raw;
    r->raw_len = t->raw_len;
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        r->probes[i].status = (jarm_probe_status_t)t->probes[i].status;
        r->probes[i].ms = t->probes[i].ms;
    }
    r->retried = t->retried;
    r->error = t->error;
    if (t->passes != NULL && t->passes->jarm_direct != NULL) {
        r->jarm_direct = t->passes->jarm_direct;
        r->jarm_proxy = t->jarm;
        r->intercepted = t->intercepted < 0 ? JARM_TRI_UNKNOWN
                         : t->intercepted   ? JARM_TRI_TRUE
                                            : JARM_TRI_FALSE;
    } else if (t->passes != NULL && t->passes->row != NULL) {
        r->variants = t->passes->row;
        r->nvariants = t->passes->n;
        r->stable = t->passes->n == 1 ? JARM_TRI_TRUE : JARM_TRI_FALSE;
    }
    r->elapsed_ms = t->end_ms - t->start_ms;
    r->ts_ms = ts_ms;
    r->cert = jarm__certread_result(t, &r->cert_error);
    if (r->cert != NULL)
        r->cert_sha256 = t->cert.sha256;
}

void jarm__row_unscanned(jarm__row_t *row, jarm_status_t status, const char *error,
                         const char *host, size_t host_len, unsigned port, const char *source,
                         uint64_t line, uint64_t ts_ms)
{
    jarm_result_t *r = &row->r;

    memset(r, 0, sizeof(*r));
    r->host = host;
    r->host_len = host_len;
    r->port = port;
    r->source = source;
    r->line = line;
    r->status = status;
    r->jarm = jarm__zeros;
    r->raw = JARM_RAW_EMPTY;
    r->raw_len = sizeof(JARM_RAW_EMPTY) - 1;
    r->error = error;
    r->ts_ms = ts_ms;
}

void jarm__row_put_ts(jarm__out_t *o, uint64_t ts_ms)
{
    time_t sec = (time_t)(ts_ms / 1000);
    unsigned ms = (unsigned)(ts_ms % 1000);
    struct tm tm;
    char tmp[48];
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(tmp, sizeof(tmp), "\"%Y-%m-%dT%H:%M:%S.", &tm);
    tmp[n++] = (char)('0' + ms / 100);
    tmp[n++] = (char)('0' + ms / 10 % 10);
    tmp[n++] = (char)('0' + ms % 10);
    tmp[n++] = 'Z';
    tmp[n++] = '"';
    jarm__out_put(o, tmp, n);
}
