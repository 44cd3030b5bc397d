/*
 * run.h - one jarmsweep run on the command line: the options, the loop, the scanner (the
 * engine's, which does the scanning) and what the command line adds around it: the output
 * file and its writer, --match and --baseline annotations, the --resume checkpoint file,
 * signals, progress and the summary.
 */
#ifndef JARM_CLI_RUN_H_
#define JARM_CLI_RUN_H_

#include <stdint.h>

#include <uv.h>

#include "baseline.h"
#include "cli/cli.h"
#include "fplist.h"
#include "output.h"
#include "scanner.h"

/* A row queued for the writer: unit seq is complete once `end` bytes have been written. */
struct jarm__pend_s {
    uint64_t end, seq;
};
/* The seq of a row that is no unit (a --dry-run line). */
#define JARM__NO_UNIT UINT64_MAX

typedef struct jarm__cli_run_s {
    jarm__cli_opts_t opts;
    uv_loop_t loop;
    jarm__scanner_t scanner;
    int loop_on, scanner_on;
    jarm__sink_t sink;
    jarm__buf_t row;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t progress;
    int progress_on, signals, signals_on, failed;
    uint64_t start_ms;
    uint64_t rows, bad_rows;   /* rows written; rows without a scan among them */
    struct jarm__pend_s *pend; /* rows queued, not yet written: a ring of pend_cap (2^k) */
    size_t pend_head, pend_n, pend_cap;
    int sink_wait; /* a pull held back for the writer: wake the scanner when it drains */

    /* --match, --baseline */
    jarm__fplist_t fplist;
    jarm__baseline_t baseline;
    int fplist_on, baseline_on;
    uint64_t baseline_count[3];  /* new, same, changed */
    uint64_t intercept_count[3]; /* --compare-direct: intercepted, not, unknown */
    uint64_t stable_count[2];    /* --repeat: stable, unstable */

    /* --seed, and --resume (resume.c): the checkpoint of an earlier run */
    uint64_t seed;
    uint64_t resume_low;   /* units below were done */
    uint64_t *resume_done; /* units at or above resume_low that were done, sorted */
    size_t resume_ndone;
    int resume_lock_fd; /* FILE.lock of --resume, held for the run (0: none) */
} jarm__cli_run_t;

/* Run the scan of run->opts on a loop of its own; returns the exit code 0, 1 or 2 (messages
 * on stderr). */
int jarm__cli_run(jarm__cli_run_t *run);

/* resume.c: take FILE.lock and read the checkpoint of --resume (which may set run->seed).
 * Returns 0 or -1 with a message. */
int jarm__resume_open(jarm__cli_run_t *run, char *msg, size_t msglen);
/* Write the checkpoint now (no-op without --resume). Returns 0 or errno. */
int jarm__resume_write(jarm__cli_run_t *run);
void jarm__resume_free(jarm__cli_run_t *run);

#endif /* JARM_CLI_RUN_H_ */
