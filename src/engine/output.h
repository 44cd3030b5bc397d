/*
 * output.h - growable buffers, rows into them (formats: row.h), and a buffered sink.
 */
#ifndef JARM_OUTPUT_H_
#define JARM_OUTPUT_H_

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include <uv.h>

#include "row.h"

typedef struct jarm__buf_s {
    char *p;
    size_t len, cap;
    int oom;
} jarm__buf_t;

void jarm__buf_put(jarm__buf_t *b, const void *s, size_t n);
void jarm__buf_printf(jarm__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; invalid UTF-8 bytes become \u00XX. */
void jarm__buf_json_str(jarm__buf_t *b, const char *s, size_t n);
void jarm__buf_free(jarm__buf_t *b);
/* Tests: the growth of a buffer after this many fails as if out of memory (-1: never). The
 * command line sets it from JARMSWEEP_TEST_FAIL_GROWTH. */
extern long jarm__buf_fail_after;

/* Append r as one line of format f, newline included. */
void jarm__row_write(jarm__buf_t *b, jarm__format_t f, const jarm_result_t *r);

/*
 * Rows to a file descriptor, written by a thread of their own so that a slow reader (a full
 * pipe, a stalled disk) never freezes the loop and its clocks. The loop appends rows; the
 * writer takes everything queued at once whenever FLUSH_AT bytes are waiting, on a kick, and
 * at close. Bytes are counted when queued and when written, so the caller can hold back what
 * depends on a row being out (the checkpoint) and apply back-pressure (jarm__sink_backlog).
 * A write error stops the writer; later rows are refused. Without jarm__sink_start the sink
 * writes on the caller's thread (blocking), as jarm__sink_flush does.
 */
typedef struct jarm__sink_s {
    int fd;
    jarm__buf_t buf;  /* queued rows (guarded by mu once started) */
    jarm__buf_t out;  /* the batch being written: the writer's own */
    int error;        /* errno of the first failed write, ENOMEM when a row found no room */
    uint64_t queued;  /* bytes accepted so far */
    uint64_t written; /* bytes written so far (guarded by mu once started) */
    int started, closing, kicked;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uv_async_t async; /* the writer finished a batch or failed: wakes the loop */
    void (*progress_cb)(struct jarm__sink_s *s);
    void *data;
} jarm__sink_t;

/* Start the writer thread; progress_cb runs on loop after batches. Returns 0 or an error. */
int jarm__sink_start(jarm__sink_t *s, uv_loop_t *loop, void (*progress_cb)(jarm__sink_t *s));
/* Queue a row. Returns 0, or the sink's error (the row was dropped). */
int jarm__sink_write(jarm__sink_t *s, const jarm__buf_t *row);
/* Write what is queued soon (started) or now (not started). Returns the sink's error. */
int jarm__sink_flush(jarm__sink_t *s);
/* Bytes queued and not yet written. */
uint64_t jarm__sink_backlog(jarm__sink_t *s);
/* Bytes written so far; *error gets the sink's error. */
uint64_t jarm__sink_written(jarm__sink_t *s, int *error);
/* No more rows: close the async handle (on the loop, before it ends). */
void jarm__sink_close(jarm__sink_t *s);
/* After jarm__sink_close: wait until everything queued is written (or failed), free it all.
 * Returns the sink's error. */
int jarm__sink_finish(jarm__sink_t *s);

#endif /* JARM_OUTPUT_H_ */
