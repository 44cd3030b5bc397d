/*
 * format_jarmjson.c - the reference's JSON line, {"host","ip","result","jarm"}: result is the
 * fingerprint and jarm the raw string, as the reference names them. A target never scanned
 * has ip null.
 */
#include "row.h"
#include "status.h"
#include "util.h"

static void jarm_json_row(jarm__out_t *o, const jarm_result_t *r)
{
    jarm__out_puts(o, "{\"host\":");
    jarm__json_put(o, r->host, r->host_len, 0);
    if (jarm__status_scanned(r->status)) {
        jarm__out_puts(o, ",\"ip\":\"");
        if (r->ip != NULL)
            jarm__out_puts(o, r->ip);
        jarm__out_put(o, "\"", 1);
    } else {
        jarm__out_puts(o, ",\"ip\":null");
    }
    jarm__out_puts(o, ",\"result\":\"");
    jarm__out_puts(o, r->jarm);
    jarm__out_puts(o, "\",\"jarm\":");
    jarm__json_put(o, r->raw, r->raw_len, 0);
    jarm__out_put(o, "}", 1);
}

const jarm__format_ops_t jarm__format_jarm_json = {"jarm-json", jarm_json_row};
