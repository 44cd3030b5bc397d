/*
 * app.h - the state of one jarmsweep run, shared by main.c (loop, signals, progress) and
 * feed.c (what the engine scans: input lines, names, ranges, shards, resume).
 */
#ifndef JARM_APP_H_
#define JARM_APP_H_

#include <stdint.h>

#include <uv.h>

#include "baseline.h"
#include "blocklist.h"
#include "fplist.h"
#include "cli/cli.h"
#include "input.h"
#include "output.h"
#include "resolver.h"
#include "scan.h"

struct jarm__entry_s;

/* A row queued for the writer: unit seq is complete once `end` bytes have been written. */
struct jarm__pend_s {
    uint64_t end, seq;
};
/* The seq of a row that is no unit (a --dry-run line). */
#define JARM__NO_UNIT UINT64_MAX

/* The proxy of --proxy: its address (resolved once), credentials, a label. */
typedef struct jarm__proxy_s {
    struct sockaddr_storage addr;
    char user[256], pass[256], label[300];
    int auth;
    int http; /* http:// (HTTP CONNECT); else SOCKS5 */
} jarm__proxy_t;

typedef struct app_s {
    jarm__cli_opts_t opts;
    uv_loop_t loop; /* ours, when own_loop */
    uv_loop_t *lp;  /* the loop the scan runs on: &loop, or the caller's */
    int own_loop;
    unsigned handles_closing;
    void (*done_cb)(struct app_s *app);   /* every target reported (caller-loop API) */
    void (*closed_cb)(struct app_s *app); /* every handle closed (caller-loop API) */
    void *api;                            /* the jarm_scanner_t owning this app */
    jarm__scan_t *scan;
    jarm__input_t input;
    jarm__sink_t sink;
    jarm__buf_t row;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t progress;
    int progress_on, signals, failed;
    uint64_t start_ms;
    uint64_t rows, bad_rows;   /* rows: written (the library: delivered) */
    struct jarm__pend_s *pend; /* rows queued, not yet written: a ring of pend_cap (2^k) */
    size_t pend_head, pend_n, pend_cap;
    int sink_wait;       /* a pull held back for the writer: wake the engine when it drains */
    unsigned pull_units; /* units handled since a pull last returned a target */

    /* The library (api.c): rows go to row_cb instead of the sink, messages to err. */
    int lib, stopping;
    jarm_row_fn row_cb;
    void *row_data;
    char err[256];
    jarm__proxy_t proxy;

    /* --match, --baseline */
    jarm__fplist_t fplist;
    jarm__baseline_t baseline;
    int fplist_on, baseline_on;
    uint64_t baseline_count[3]; /* new, same, changed */
    uint64_t intercept_count[3]; /* --compare-direct: intercepted, not, unknown */
    uint64_t stable_count[2];    /* --repeat: stable, unstable */

    /* feed.c: input lines in order, each expanded over ports/addresses/a range. */
    struct jarm__entry_s *head, *tail, *next_submit, *free_entries;
    unsigned queued;
    int unassigned_tail;   /* a queued entry numbers its own units: those behind it wait */
    uint64_t line_ordinal; /* non-empty lines read, for --shard of explicit targets */
    int input_eof;
    jarm__resolver_t resolver;
    int resolver_on, closing;
    int scan_on, signals_on, start_failed; /* run.c: on the loop; start was undone */
    unsigned names_pending;
    jarm__blocklist_t blocklist;
    int blocklist_on;
    uint64_t seed;
    uint64_t ranges_blocked; /* targets of ranges the blocklist denied */

    /* feed.c: sequence numbers of units (targets and direct rows), for --resume. */
    uint64_t seq_next;     /* the next unit's number */
    uint64_t low;          /* every unit below is complete */
    uint8_t *ring;         /* completion bits of units low.., ring_cap bits */
    uint64_t ring_cap;     /* a power of two */
    uint64_t resume_low;   /* from the checkpoint: units below were done */
    uint64_t *resume_done; /* from the checkpoint: units at or above resume_low that were done */
    size_t resume_ndone;
    int resume_lock_fd; /* FILE.lock of --resume, held for the run (0: none) */
} app_t;

/* Run one scan (run.c) on its own loop; returns the exit code 0, 1 or 2. */
int jarm__run(app_t *app);
/* The same in two halves around a loop that someone else runs (app->lp set): start returns
 * 0 or an exit code; finish runs once closed_cb has been called. */
int jarm__run_start(app_t *app);
int jarm__run_finish(app_t *app);

/* Deliver the row r of unit seq: to the library's row_cb, or written in the run's format. */
void jarm__app_row(app_t *app, const jarm_result_t *r, uint64_t seq);
/* Write the line in app->row (of unit seq, or JARM__NO_UNIT); the unit is complete (and may go
 * in the checkpoint) once the row has been written. */
void jarm__app_emit(app_t *app, uint64_t seq);
/* A runtime failure (exit 1): say it once, stop reading and starting targets. */
void jarm__app_fail(app_t *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* In the pull: 1 = start nothing now (the output is backed up, or the loop needs a turn); the
 * engine is woken when it may go on. */
int jarm__app_hold(app_t *app);
uint64_t jarm__wall_ms(void);

/* Prepare the feed: blocklist, seed, resume state. Returns 0, or -1 (usage error in msg). */
int jarm__feed_init(app_t *app, char *msg, size_t msglen);
/* The engine's pull callback (data = app). */
int jarm__feed_pull(jarm__scan_t *s, jarm__target_t *t);
/* A pulled target's row was written. */
void jarm__feed_complete(app_t *app, uint64_t seq);
/* Write the --resume checkpoint now (no-op without --resume). Returns 0 or errno. */
int jarm__feed_checkpoint(app_t *app);
/* Fill in the --match / --baseline annotations of a scanned target's row. */
void jarm__feed_annotate(app_t *app, jarm__row_t *row);
/* Release the queue, the blocklist, the resume state. */
void jarm__feed_free(app_t *app);

#endif /* JARM_APP_H_ */
