/*
 * row.h - the row model and the output formats.
 *
 * Every row, of a scanned target or of an input never scanned (bad_target, dns_error), is one
 * jarm_result_t (jarmsweep.h): the target's fields, its outcome, and optional annotations
 * (match, baseline, ...) that whoever asked for them fills in before the row is written.
 * A format is a table of functions over that model, in the manner of zmap's output modules:
 * format_ndjson.c (the native rows), format_csv.c and format_jarmjson.c (the reference's
 * own lines). Nothing is ever written and then reopened.
 */
#ifndef JARM_ROW_H_
#define JARM_ROW_H_

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "jarmsweep.h"

struct jarm__target_s;

typedef enum jarm__format_e { JARM__FMT_NDJSON, JARM__FMT_CSV, JARM__FMT_JARM_JSON } jarm__format_t;

typedef struct jarm__format_ops_s {
    const char *name; /* as --format takes it */
    /* r as one line, without its newline, to o. */
    void (*row)(jarm__out_t *o, const jarm_result_t *r);
} jarm__format_ops_t;

extern const jarm__format_ops_t jarm__format_ndjson, jarm__format_csv, jarm__format_jarm_json;

/* The module of a format. */
const jarm__format_ops_t *jarm__format_ops(jarm__format_t f);

/* The row model, with room for the arrays of its annotations. */
#define JARM__ROW_LABELS 32 /* match and match_prefix labels written at most, each */
typedef struct jarm__row_s {
    jarm_result_t r;
    const char *labels[2 * JARM__ROW_LABELS]; /* r.match, then r.match_prefix */
} jarm__row_t;

/* The fingerprint of a target never scanned: 62 zeros. */
extern const char jarm__zeros[JARM_FP_LEN + 1];

/* The row of a finished target (valid while t is: during the engine's result callback). */
void jarm__row_from_target(jarm__row_t *row, const struct jarm__target_s *t, uint64_t ts_ms);

/* The row of an input never scanned. host (host_len bytes, any) and the strings are kept by
 * pointer; port 0 means none. */
void jarm__row_unscanned(jarm__row_t *row, jarm_status_t status, const char *error,
                         const char *host, size_t host_len, unsigned port, const char *source,
                         uint64_t line, uint64_t ts_ms);

/* ts_ms as the rows write it: "2026-12-06T13:00:00.123Z", quotes included. */
void jarm__row_put_ts(jarm__out_t *o, uint64_t ts_ms);

#endif /* JARM_ROW_H_ */
