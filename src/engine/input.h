/*
 * input.h - target lines from arguments, files and pipes, read on a thread and pulled by
 * the scan loop so that a slow pipe never stalls it and a huge file never fills memory.
 */
#ifndef JARM_INPUT_H_
#define JARM_INPUT_H_

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

/* Lines longer than this are kept truncated; the target parser then reports them. */
#define JARM__LINE_MAX 1024
/* Lines buffered between the reader thread and the loop. */
#define JARM__INPUT_RING 1024

typedef struct jarm__line_s {
    char text[JARM__LINE_MAX + 1];
    size_t len;         /* bytes in text (may be truncated: see truncated) */
    int truncated;      /* the line was longer than JARM__LINE_MAX */
    const char *source; /* file name, "-" for stdin or NULL for a command-line argument */
    uint64_t lineno;    /* 1-based line number in its file, or argument number */
} jarm__line_t;

typedef struct jarm__input_s {
    /* configuration, set before jarm__input_start */
    char **args; /* positional targets */
    int nargs;
    char **files; /* -i files, "-" = stdin */
    int nfiles;
    FILE **fps; /* opened by jarm__input_open */
    /* After args and files: lines from next(next_data) until it returns NULL (the library). */
    const char *(*next)(void *data);
    void *next_data;
    int manual; /* lines from jarm__input_add, no thread */
    uint64_t manual_no;
    void (*close_cb)(struct jarm__input_s *in);

    /* the ring, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    jarm__line_t *ring;
    size_t head, count;
    int eof;         /* the reader has delivered everything */
    int stop;        /* the loop wants no more lines */
    char error[256]; /* a read error, reported at the end */

    /* Progress of regular files, for the ETA: bytes_total is 0 if any input is a pipe. */
    uint64_t bytes_total;
    uint64_t bytes_read; /* written by the reader thread, read with __atomic_load_n */

    pthread_t thread;
    int started, thread_on;
    uv_async_t async; /* wakes the loop when lines arrive or input ends */
    void (*wake_cb)(void *data);
    void *wake_data;
} jarm__input_t;

/* Open every -i file; on failure returns -1 with "FILE: reason" in msg (a usage error). */
int jarm__input_open(jarm__input_t *in, char *msg, size_t msglen);

/* Start the reader thread; wake_cb(wake_data) runs on the loop when lines become available.
 * Returns 0 or a negative error. When the thread cannot be created the async handle is on the
 * loop already (in->started is set): jarm__input_close still closes it, from the loop. On any
 * other error nothing is left to close. */
int jarm__input_start(jarm__input_t *in, uv_loop_t *loop, void (*wake_cb)(void *), void *data);

/* Take the next line: 1 = got one, 0 = none yet (wake_cb will run), -1 = input exhausted. */
int jarm__input_pop(jarm__input_t *in, jarm__line_t *out);

/* Stop reading (graceful stop): later pops return -1. */
void jarm__input_stop(jarm__input_t *in);

/* Join the thread, close files and the async handle; close_cb (may be NULL) runs when the
 * handle is closed. */
void jarm__input_close(jarm__input_t *in, void (*close_cb)(jarm__input_t *in));

/* Manual input (the caller-loop API): no thread; lines come from jarm__input_add on the loop
 * thread. Returns 0, or JARM_EAGAIN while the ring is full. */
int jarm__input_add(jarm__input_t *in, const char *s, size_t len);
/* Manual input: no more lines. */
void jarm__input_end(jarm__input_t *in);

#endif /* JARM_INPUT_H_ */
