/*
 * explain.h - a fingerprint decoded for reading (jarm_fp_decode's parts), and what `jarmsweep
 * explain` and `jarmsweep diff` write about one or two of them, as text or NDJSON.
 */
#ifndef JARM_EXPLAIN_H_
#define JARM_EXPLAIN_H_

#include <stddef.h>
#include <stdio.h>

#include "jarm.h"

/* A decoded fingerprint: the normalised (lower-case) text and its parts. */
typedef struct jarm__fpview_s {
    char text[JARM_FP_LEN + 1];
    char half1[31], half2[33];
    jarm_fp_probe_t probes[JARM_PROBES];
} jarm__fpview_t;

/* Decode s (len bytes; upper-case hex accepted) into *fp: 0, or -1 if it is no fingerprint. */
int jarm__fpview_load(const char *s, size_t len, jarm__fpview_t *fp);
/* What each probe of fp says (ndjson: one JSON object and a newline). */
void jarm__explain_write(FILE *out, const jarm__fpview_t *fp, int ndjson);
/* Where a and b part, probe by probe, and whether their extension halves differ. */
void jarm__diff_write(FILE *out, const jarm__fpview_t *a, const jarm__fpview_t *b, int ndjson);

#endif /* JARM_EXPLAIN_H_ */
