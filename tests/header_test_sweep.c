/*
 * header_test_sweep.c - the scanner's public header compiles on its own, as the first and
 * only include (it brings jarm.h), and its enums and structures are what the rows promise.
 */
#include <jarmsweep.h>

_Static_assert(JARM_STATUS_OK == 0 && JARM_STATUS_DNS_ERROR == 9, "ten target statuses");
_Static_assert(JARM_PROBE_PENDING == 0 && JARM_PROBE_PROXY_ERROR == 12, "thirteen probe statuses");
_Static_assert(sizeof(((jarm_result_t *)0)->probes) / sizeof(jarm_probe_result_t) == JARM_PROBES,
               "one entry per probe");
_Static_assert(JARM_TRI_ABSENT == 0, "a zeroed result has no annotation");

static int row(void *data, const jarm_result_t *r)
{
    (void)data;
    return r->status != JARM_STATUS_OK;
}

int main(void)
{
    jarm_result_t r = {0};
    jarm_row_fn fn = row;
    jarm_scan_opts_t o = {0};

    return fn(0, &r) + (int)o.concurrency;
}
