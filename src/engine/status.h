/*
 * status.h - the one table of statuses: every word a row's "status" (of the target) or a
 * probe's "status" can hold, what it means, whose outcome it is and where the summary line
 * counts it. The engine's enums (scan.h) and the public ones (jarmsweep.h) share its order.
 */
#ifndef JARM_STATUS_H_
#define JARM_STATUS_H_

#include "jarmsweep.h"

/*
 * Whose outcome a target status is. No status changes the exit code (a run that wrote every
 * row exits 0); the class says what a non-ok row tells about the target.
 */
typedef enum jarm__status_class_e {
    JARM__SC_FINGERPRINT, /* the target answered TLS: a fingerprint */
    JARM__SC_TARGET,      /* the target's own answer, or its silence */
    JARM__SC_LOCAL,       /* our side or the path (proxy): nothing is known of the target */
    JARM__SC_INPUT        /* never scanned: the input or its name */
} jarm__status_class_t;

/* The counts of the summary line, in its order. */
typedef enum jarm__summary_e {
    JARM__SUM_OK,
    JARM__SUM_TIMEOUT,
    JARM__SUM_REFUSED,
    JARM__SUM_NO_TLS,
    JARM__SUM_REJECTED,
    JARM__SUM_OTHER,
    JARM__SUM_UNSCANNED,
    JARM__SUM_N
} jarm__summary_t;

typedef struct jarm__status_info_s {
    const char *name;    /* the row's word */
    const char *meaning; /* one line, as in jarmsweep(1) */
    jarm__status_class_t cls;
    jarm__summary_t counted; /* the summary line's count that includes it */
} jarm__status_info_t;

typedef struct jarm__pstatus_info_s {
    const char *name;
    const char *meaning;
    int has_ms; /* the row gives its milliseconds */
} jarm__pstatus_info_t;

/* Indexed by jarm_status_t and jarm_probe_status_t; out-of-range values read as "error". */
const jarm__status_info_t *jarm__status_info(jarm_status_t s);
const jarm__pstatus_info_t *jarm__pstatus_info(jarm_probe_status_t s);

/* Add n[s], the number of rows of each status s < count, to the summary's counts. */
void jarm__status_tally(uint64_t sum[JARM__SUM_N], const uint64_t *n, size_t count);

/* Targets of this status were scanned (they have probes, sni, elapsed time). */
static inline int jarm__status_scanned(jarm_status_t s)
{
    return jarm__status_info(s)->cls != JARM__SC_INPUT;
}

#endif /* JARM_STATUS_H_ */
