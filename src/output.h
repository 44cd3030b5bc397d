/*
 * output.h - result rows (NDJSON, the reference's CSV and -j lines) and a buffered sink.
 */
#ifndef JARM_OUTPUT_H_
#define JARM_OUTPUT_H_

#include <stddef.h>
#include <stdint.h>

#include "scan.h"

typedef struct jarm__buf_s {
    char *p;
    size_t len, cap;
    int oom;
} jarm__buf_t;

void jarm__buf_put(jarm__buf_t *b, const void *s, size_t n);
void jarm__buf_puts(jarm__buf_t *b, const char *s);
void jarm__buf_printf(jarm__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; invalid UTF-8 bytes become \u00XX. */
void jarm__buf_json_str(jarm__buf_t *b, const char *s, size_t n);
void jarm__buf_free(jarm__buf_t *b);

typedef enum jarm__format_e { JARM__FMT_NDJSON, JARM__FMT_CSV, JARM__FMT_JARM_JSON } jarm__format_t;

/* A row for a scanned target. ts_ms is the wall clock (ms since the epoch). */
void jarm__row_target(jarm__buf_t *b, jarm__format_t fmt, const jarm__target_t *t, uint64_t ts_ms);

/* A row for an input that was never scanned (bad_target, dns_error). */
typedef struct jarm__row_error_s {
    const char *host; /* as given (may be any bytes) */
    size_t host_len;
    unsigned port; /* 0: none */
    const char *status;
    const char *error;
    const char *source; /* input file, or NULL for an argument */
    uint64_t lineno;
} jarm__row_error_t;

void jarm__row_error(jarm__buf_t *b, jarm__format_t fmt, const jarm__row_error_t *e,
                     uint64_t ts_ms);

/* A buffered writer to a file descriptor; write errors are remembered, not fatal here. */
typedef struct jarm__sink_s {
    int fd;
    jarm__buf_t buf;
    int error; /* errno of the first failed write */
} jarm__sink_t;

void jarm__sink_write(jarm__sink_t *s, const jarm__buf_t *row);
int jarm__sink_flush(jarm__sink_t *s);

#endif /* JARM_OUTPUT_H_ */
