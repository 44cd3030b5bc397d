/*
 * format_ndjson.c - the native rows (jarmsweep(1), OUTPUT): one JSON object per input target
 * with every field that explains the fingerprint, and jarm_result_to_json().
 *
 * Strings are escaped properly, unlike the reference, so a host or ALPN holding '"', '\' or
 * control characters still gives valid JSON; bytes that are not UTF-8 (possible only in
 * unparsable input lines: ALPN values are strict UTF-8) are written as \u00XX. Field order is
 * fixed: the target, the outcome, then the annotations that were asked for.
 */
#include <limits.h>
#include <string.h>

#include "row.h"
#include "status.h"
#include "util.h"

static void put_str(jarm__out_t *o, const char *s)
{
    jarm__json_put(o, s, strlen(s), 0);
}

static void put_labels(jarm__out_t *o, const char *key, const char *const *l, size_t n)
{
    jarm__out_puts(o, key);
    jarm__out_put(o, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            jarm__out_put(o, ",", 1);
        put_str(o, l[i]);
    }
    jarm__out_put(o, "]", 1);
}

static void put_opt_str(jarm__out_t *o, const char *key, const char *s)
{
    if (s == NULL)
        return;
    jarm__out_puts(o, key);
    put_str(o, s);
}

/* true, false or "unknown"; nothing when absent. */
static void put_tristate(jarm__out_t *o, const char *key, jarm_tristate_t v)
{
    if (v == JARM_TRI_ABSENT)
        return;
    jarm__out_puts(o, key);
    jarm__out_puts(o, v == JARM_TRI_TRUE ? "true" : v == JARM_TRI_FALSE ? "false" : "\"unknown\"");
}

/* The annotations that were asked for, in a fixed order. */
static void put_annotations(jarm__out_t *o, const jarm_result_t *r)
{
    if (r->cert != NULL) {
        jarm__out_puts(o, ",\"cert\":");
        jarm__out_puts(o, r->cert); /* an object certread.c wrote, escaped already */
    }
    put_opt_str(o, ",\"cert_error\":", r->cert_error);
    if (r->match != NULL) {
        put_labels(o, ",\"match\":", r->match, r->nmatch);
        put_labels(o, ",\"match_prefix\":", r->match_prefix, r->nmatch_prefix);
    }
    if (r->match_cert != NULL)
        put_labels(o, ",\"match_cert\":", r->match_cert, r->nmatch_cert);
    put_opt_str(o, ",\"baseline\":", r->baseline);
    put_opt_str(o, ",\"baseline_jarm\":", r->baseline_jarm);
    put_opt_str(o, ",\"jarm_direct\":", r->jarm_direct);
    put_opt_str(o, ",\"jarm_proxy\":", r->jarm_proxy);
    put_tristate(o, ",\"intercepted\":", r->intercepted);
    put_tristate(o, ",\"stable\":", r->stable);
    if (r->variants != NULL) {
        jarm__out_puts(o, ",\"variants\":[");
        for (size_t i = 0; i < r->nvariants; i++) {
            jarm__out_puts(o, i ? ",{\"jarm\":" : "{\"jarm\":");
            put_str(o, r->variants[i].jarm);
            jarm__out_puts(o, ",\"count\":");
            jarm__out_u64(o, r->variants[i].count);
            jarm__out_put(o, "}", 1);
        }
        jarm__out_put(o, "]", 1);
    }
}

static void put_probes(jarm__out_t *o, const jarm_result_t *r)
{
    jarm__out_puts(o, ",\"probes\":[");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        const jarm__pstatus_info_t *p = jarm__pstatus_info(r->probes[i].status);
        jarm__out_puts(o, i ? ",{\"status\":\"" : "{\"status\":\"");
        jarm__out_puts(o, p->name);
        if (p->has_ms) {
            jarm__out_puts(o, "\",\"ms\":");
            jarm__out_u64(o, r->probes[i].ms);
            jarm__out_put(o, "}", 1);
        } else {
            jarm__out_put(o, "\"}", 2);
        }
    }
    jarm__out_put(o, "]", 1);
}

static void ndjson_row(jarm__out_t *o, const jarm_result_t *r)
{
    jarm__out_puts(o, "{\"host\":");
    jarm__json_put(o, r->host, r->host_len, 0);
    if (r->ip != NULL) {
        jarm__out_puts(o, ",\"ip\":\"");
        jarm__out_puts(o, r->ip);
        jarm__out_put(o, "\"", 1);
    } else {
        jarm__out_puts(o, ",\"ip\":null");
    }
    if (r->port != 0) {
        jarm__out_puts(o, ",\"port\":");
        jarm__out_u64(o, r->port);
    } else {
        jarm__out_puts(o, ",\"port\":null");
    }
    jarm__out_puts(o, ",\"jarm\":\"");
    jarm__out_puts(o, r->jarm);
    jarm__out_puts(o, "\",\"status\":\"");
    jarm__out_puts(o, jarm_status_name(r->status));
    jarm__out_puts(o, "\",\"raw\":");
    jarm__json_put(o, r->raw, r->raw_len, 0);
    if (!jarm__status_scanned(r->status)) {
        /* Never scanned: where the input came from instead of how it was scanned. */
        jarm__out_puts(o, ",\"error\":");
        put_str(o, r->error != NULL ? r->error : "");
        jarm__out_puts(o, ",\"input\":");
        put_str(o, r->source != NULL ? r->source : "argv");
        jarm__out_puts(o, ",\"line\":");
        jarm__out_u64(o, r->line);
        jarm__out_puts(o, ",\"ts\":");
        jarm__row_put_ts(o, r->ts_ms);
    } else {
        put_probes(o, r);
        jarm__out_puts(o, ",\"sni\":");
        jarm__json_put(o, r->sni != NULL ? r->sni : "", r->sni != NULL ? r->sni_len : 0, 0);
        put_opt_str(o, ",\"proxy\":", r->proxy);
        if (r->retried > 0) {
            jarm__out_puts(o, ",\"retried\":");
            jarm__out_u64(o, r->retried);
        }
        put_opt_str(o, ",\"error\":", r->error);
        jarm__out_puts(o, ",\"elapsed_ms\":");
        jarm__out_u64(o, r->elapsed_ms);
        jarm__out_puts(o, ",\"ts\":");
        jarm__row_put_ts(o, r->ts_ms);
    }
    put_annotations(o, r);
    jarm__out_put(o, "}", 1);
}

const jarm__format_ops_t jarm__format_ndjson = {"ndjson", ndjson_row};

int jarm_result_to_json(const jarm_result_t *r, char *out, size_t cap)
{
    jarm__out_t o = {out, 0, cap};

    if (r == NULL || out == NULL)
        return JARM_EINVAL;
    ndjson_row(&o, r);
    if (o.len >= cap || o.len > INT_MAX)
        return JARM_ENOBUFS;
    out[o.len] = '\0';
    return (int)o.len;
}
