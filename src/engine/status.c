/*
 * status.c - the status table (see status.h). jarmsweep(1) and --help list these words;
 * tests/loopback/manpage.py reads them from the two tables below.
 */
#include "status.h"
#include "internal.h"
#include "scan.h"

/* clang-format off */
static const jarm__status_info_t target_statuses[] = {
    [JARM_STATUS_OK] =          {"ok",          "at least one probe got a ServerHello",
                                 JARM__SC_FINGERPRINT, JARM__SUM_OK},
    [JARM_STATUS_TIMEOUT] =     {"timeout",     "a probe timed out (the reference's rule: ten empty probes)",
                                 JARM__SC_TARGET, JARM__SUM_TIMEOUT},
    [JARM_STATUS_REFUSED] =     {"refused",     "every probe was refused",
                                 JARM__SC_TARGET, JARM__SUM_REFUSED},
    [JARM_STATUS_UNREACHABLE] = {"unreachable", "every probe found the host or network unreachable",
                                 JARM__SC_TARGET, JARM__SUM_OTHER},
    [JARM_STATUS_NO_TLS] =      {"no_tls",      "no ServerHello, and some reply was not TLS",
                                 JARM__SC_TARGET, JARM__SUM_NO_TLS},
    [JARM_STATUS_REJECTED] =    {"rejected",    "answered, but only with alerts, resets, empty closes or malformed TLS",
                                 JARM__SC_TARGET, JARM__SUM_REJECTED},
    [JARM_STATUS_ERROR] =       {"error",       "local errors only",
                                 JARM__SC_LOCAL, JARM__SUM_OTHER},
    [JARM_STATUS_PROXY_ERROR] = {"proxy_error", "the proxy failed; the target's answer is unknown",
                                 JARM__SC_LOCAL, JARM__SUM_OTHER},
    [JARM_STATUS_BAD_TARGET] =  {"bad_target",  "the input line is not a target",
                                 JARM__SC_INPUT, JARM__SUM_UNSCANNED},
    [JARM_STATUS_DNS_ERROR] =   {"dns_error",   "the name did not resolve",
                                 JARM__SC_INPUT, JARM__SUM_UNSCANNED},
};

static const jarm__pstatus_info_t probe_statuses[] = {
    [JARM_PROBE_PENDING] =     {"pending",     "no outcome yet (never in a row)", 0},
    [JARM_PROBE_OK] =          {"ok",          "a ServerHello", 1},
    [JARM_PROBE_ALERT] =       {"alert",       "a TLS alert", 1},
    [JARM_PROBE_NO_TLS] =      {"no_tls",      "bytes that are not TLS", 1},
    [JARM_PROBE_MALFORMED] =   {"malformed",   "a TLS record that is not a usable ServerHello", 1},
    [JARM_PROBE_CLOSED] =      {"closed",      "closed without a byte", 1},
    [JARM_PROBE_REFUSED] =     {"refused",     "connection refused", 1},
    [JARM_PROBE_RESET] =       {"reset",       "reset without a byte", 1},
    [JARM_PROBE_UNREACHABLE] = {"unreachable", "host or network unreachable", 1},
    [JARM_PROBE_TIMEOUT] =     {"timeout",     "no byte before the timeout", 1},
    [JARM_PROBE_SKIPPED] =     {"skipped",     "not sent, or abandoned, because another probe timed out", 0},
    [JARM_PROBE_ERROR] =       {"error",       "any other socket error", 1},
    [JARM_PROBE_PROXY_ERROR] = {"proxy_error", "the proxy failed or refused (not the target)", 1},
};
/* clang-format on */

JARM__STATIC_ASSERT(JARM__ARRAY_SIZE(target_statuses) == JARM_STATUS_DNS_ERROR + 1,
                    "a table entry for every target status");
JARM__STATIC_ASSERT(JARM__ARRAY_SIZE(probe_statuses) == JARM_PROBE_PROXY_ERROR + 1,
                    "a table entry for every probe status");

const jarm__status_info_t *jarm__status_info(jarm_status_t s)
{
    return (size_t)s < JARM__ARRAY_SIZE(target_statuses) ? &target_statuses[s]
                                                         : &target_statuses[JARM_STATUS_ERROR];
}

const jarm__pstatus_info_t *jarm__pstatus_info(jarm_probe_status_t s)
{
    return (size_t)s < JARM__ARRAY_SIZE(probe_statuses) ? &probe_statuses[s]
                                                        : &probe_statuses[JARM_PROBE_ERROR];
}

void jarm__status_tally(uint64_t sum[JARM__SUM_N], const uint64_t *n, size_t count)
{
    for (size_t s = 0; s < count; s++)
        sum[jarm__status_info((jarm_status_t)s)->counted] += n[s];
}

const char *jarm_status_name(jarm_status_t s)
{
    return jarm__status_info(s)->name;
}

const char *jarm_probe_status_name(jarm_probe_status_t s)
{
    return jarm__pstatus_info(s)->name;
}
