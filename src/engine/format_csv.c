/*
 * format_csv.c - the reference's CSV line, `host,ip,jarm`, for drop-in use. A target never
 * scanned gets the reference's line for a host it could not resolve. Like the reference,
 * nothing is quoted.
 */
#include "row.h"
#include "status.h"

static void csv_row(jarm__out_t *o, const jarm_result_t *r)
{
    jarm__out_put(o, r->host, r->host_len);
    if (jarm__status_scanned(r->status)) {
        jarm__out_put(o, ",", 1);
        if (r->ip != NULL)
            jarm__out_puts(o, r->ip);
        jarm__out_put(o, ",", 1);
        jarm__out_puts(o, r->jarm);
    } else {
        jarm__out_puts(o, ",Failed to resolve IP,");
        jarm__out_puts(o, jarm__zeros);
    }
}

const jarm__format_ops_t jarm__format_csv = {"csv", csv_row};
