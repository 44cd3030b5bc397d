/*
 * scanner.h - the engine-side scanner: one object that composes the connection engine
 * (scan.h), the target source (input lines expanded over ports, addresses and ranges; names
 * through the resolver; the blocklist; unit numbering for resume) and the result hooks.
 * The command line (src/cli) and the public API (api.c) are its two clients.
 *
 * Life, on a loop the client owns (one state, jarm__scanner_state_t):
 *
 *   jarm__scanner_init()   options checked, files opened, blocklist loaded: nothing on the
 *                          loop. On failure nothing is left: no close.
 *   jarm__scanner_start()  resolver, engine and input on the loop; targets are pulled. On
 *                          failure what reached the loop is closing: close as after a start.
 *   ... hooks.result / hooks.unscanned for each unit, then hooks.done once every unit is
 *       reported (or after a stop); the scanner's handles then close by themselves.
 *   jarm__scanner_close()  from any state; cb runs from the loop (never from inside the
 *                          call) once nothing of the scanner is left on the loop and all its
 *                          memory but the struct itself is released. After close no hook
 *                          runs but cb.
 */
#ifndef JARM_SCANNER_H_
#define JARM_SCANNER_H_

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "blocklist.h"
#include "input.h"
#include "output.h"
#include "resolver.h"
#include "scan.h"

typedef struct jarm__scanner_s jarm__scanner_t;

/* File descriptors kept for everything but probe connections (stdio, loop, input, DNS). */
#define JARM__FD_RESERVE 64

typedef enum jarm__scanner_state_e {
    JARM__SC_IDLE,     /* initialized, not started: nothing on the loop */
    JARM__SC_RUNNING,  /* started: targets are pulled and scanned */
    JARM__SC_STOPPING, /* stopped: no new target, those in flight finish */
    JARM__SC_ENDING,   /* every unit reported (or the start failed): handles closing */
    JARM__SC_ENDED,    /* the handles are closed: only close is left */
    JARM__SC_CLOSING,  /* close was asked: no hook but its callback runs */
    JARM__SC_CLOSED    /* the close callback has run */
} jarm__scanner_state_t;

/* What to scan and how. Pointers are the client's, kept until close. */
typedef struct jarm__scanner_opts_s {
    /* input: arguments, then files ("-" = stdin), then next() on the reader thread; or, with
     * manual, lines from jarm__scanner_add on the loop */
    char **args;
    int nargs;
    char **files;
    int nfiles;
    const char *(*next)(void *data);
    void *next_data;
    int manual;
    /* every line without a port is scanned on each of these */
    const uint16_t *ports;
    size_t nports;
    /* the connection engine */
    unsigned concurrency, probe_parallel, per_ip;
    double timeout, rate; /* seconds; new connections per second (0: unlimited) */
    const char *sni;
    const char *proxy; /* socks5://, socks5h:// or http://[user:pass@]host:port, or NULL */
    int compare_direct; /* each target directly and through the proxy (needs proxy) */
    unsigned repeat;    /* scans of each target (0, 1: one) */
    /* names */
    const char *resolvers; /* NULL: /etc/resolv.conf */
    int family, all_addresses;
    unsigned dns_concurrency, dns_timeout_ms, dns_tries;
    /* sweeps */
    uint64_t seed; /* of the permutation; taken as is (see jarm__scanner_random_seed) */
    uint32_t shard_i, shard_n;
    char **blocklists;
    int nblocklists;
    const char *allowlist;
    int allow_reserved, force, dry_run;
    int cert;        /* read each target's certificate (certread.h) ... */
    size_t cert_max; /* ... at most this many stream bytes (0: 64 KiB) */
    /* resume: units of an earlier run that are done (below resume_low, and those listed,
     * sorted); never scanned again */
    uint64_t resume_low;
    const uint64_t *resume_done;
    size_t resume_ndone;
} jarm__scanner_opts_t;

/* The client's side; any hook may be NULL. Hooks run on the loop thread. */
typedef struct jarm__scanner_hooks_s {
    /* A scanned target (t->seq its unit). The unit is complete when the client says so
     * (jarm__scanner_complete), once its row is safe. */
    void (*result)(jarm__scanner_t *sc, const jarm__target_t *t);
    /* The row of a unit never scanned (bad_target, dns_error, an error of memory), which
     * the client may annotate before it writes it. */
    void (*unscanned)(jarm__scanner_t *sc, jarm__row_t *row, uint64_t seq);
    /* Each unparsable line as it is read, done before or not (for a warning). */
    void (*bad_line)(jarm__scanner_t *sc, const jarm_result_t *r);
    /* A dry run: one unit as host:port ([v6]:port), NUL-terminated, no newline. */
    void (*dry)(jarm__scanner_t *sc, const char *unit);
    /* In the pull: 1 = start nothing now; the client wakes the scanner (jarm__scanner_wake)
     * when it may go on. yield: many units were handled in this pull without a target (rows
     * without a scan, a dry run): a chance to give the loop a turn. */
    int (*hold)(jarm__scanner_t *sc, int yield);
    /* The scanner failed (out of memory): say it; the scan is stopping. */
    void (*fail)(jarm__scanner_t *sc, const char *msg);
    /* Every unit is reported, or the scan was stopped: no more results. */
    void (*done)(jarm__scanner_t *sc);
} jarm__scanner_hooks_t;

/* The proxy: its address (resolved once), credentials, a label for rows. */
typedef struct jarm__proxy_s {
    struct sockaddr_storage addr;
    char user[256], pass[256], label[300];
    int auth;
    int http; /* http:// (HTTP CONNECT); else SOCKS5 */
} jarm__proxy_t;

struct jarm__entry_s;

struct jarm__scanner_s {
    void *data; /* the client's */
    jarm__scanner_state_t state;
    uv_loop_t *loop;
    jarm__scanner_opts_t opts;
    jarm__scanner_hooks_t hooks;
    void (*close_cb)(jarm__scanner_t *sc);
    uv_timer_t closer; /* closed to bring close_cb onto the loop */
    unsigned handles_closing;
    int resolver_on, scan_on, input_ran, failed;
    jarm__scan_t *scan;
    jarm__input_t input;
    jarm__resolver_t resolver;
    jarm__proxy_t proxy;
    /* Concurrency as asked, and the open-files limit that lowered it (0: it fits). */
    unsigned concurrency_asked;
    uint64_t fd_limit;

    /* The target source (feed.c): input lines in order, each expanded over ports, addresses
     * or a range. */
    struct jarm__entry_s *head, *tail, *next_submit, *free_entries;
    unsigned queued;
    int unassigned_tail;   /* a queued entry numbers its own units: those behind it wait */
    uint64_t line_ordinal; /* non-empty lines read, for shards of explicit targets */
    int input_eof;
    unsigned names_pending, pull_units;
    jarm__blocklist_t blocklist;
    int blocklist_on;
    uint64_t ranges_blocked;       /* targets of ranges the blocklist denied */
    struct jarm__entry_s *reserve; /* carries a line when there is no memory for an entry */
    int reserve_busy, held;        /* held: held_line waits for the reserve to be free */
    jarm__line_t held_line;

    /* Units: targets and rows without a scan, numbered in a reproducible order. */
    uint64_t seq_next; /* the next unit's number */
    uint64_t low;      /* every unit below is complete */
    uint8_t *ring;     /* completion bits of units low.., ring_cap bits */
    uint64_t ring_cap; /* a power of two */
};

/* Check the options, open the input files, load the blocklist, resolve the proxy. Returns 0,
 * JARM_EINVAL (a usage error) or another negative error, with a message in msg; on failure
 * nothing is left to release. */
int jarm__scanner_init(jarm__scanner_t *sc, uv_loop_t *loop, const jarm__scanner_opts_t *opts,
                       const jarm__scanner_hooks_t *hooks, char *msg, size_t msglen);
/* Put the resolver, the engine and the input on the loop and begin. Returns 0, JARM_EINVAL
 * (the resolvers are unusable) or another negative error, with a message in msg. */
int jarm__scanner_start(jarm__scanner_t *sc, char *msg, size_t msglen);
/* Manual input: queue a line. 0, JARM_EAGAIN (the ring is full) or JARM_EINVAL (not running,
 * or ended). */
int jarm__scanner_add(jarm__scanner_t *sc, const char *line, size_t len);
/* Manual input: no more lines. */
void jarm__scanner_end(jarm__scanner_t *sc);
/* No new targets; those in flight finish, then done. Idempotent; nothing before start. */
void jarm__scanner_stop(jarm__scanner_t *sc);
/* Stop at once (a failure of the client, say): no new target is pulled. */
void jarm__scanner_abort(jarm__scanner_t *sc);
/* The client may take targets again (after hold returned 1). */
void jarm__scanner_wake(jarm__scanner_t *sc);
/* Unit seq's row is safe: it counts as done for resume. */
void jarm__scanner_complete(jarm__scanner_t *sc, uint64_t seq);
/* Whether unit seq (low <= seq < seq_next) is complete. */
int jarm__scanner_unit_done(const jarm__scanner_t *sc, uint64_t seq);
/* See the top of this file. */
void jarm__scanner_close(jarm__scanner_t *sc, void (*cb)(jarm__scanner_t *sc));
/* Wall-clock milliseconds, for the rows' ts. */
uint64_t jarm__wall_ms(void);
/* A seed for a sweep's permutation: random, printable and exact in JSON (53 bits). */
uint64_t jarm__scanner_random_seed(void);

/* The target source (feed.c), for scanner.c. */
int jarm__feed_init(jarm__scanner_t *sc, char *msg, size_t msglen);
int jarm__feed_pull(jarm__scan_t *s, jarm__target_t *t);
void jarm__feed_free(jarm__scanner_t *sc);
/* Unit bookkeeping (units.c), for feed.c: room in the ring for unit numbers up to seq (0, or
 * -1 out of memory); whether the checkpoint of --resume lists unit seq as done. */
int jarm__units_fit(jarm__scanner_t *sc, uint64_t seq);
int jarm__units_resumed(const jarm__scanner_t *sc, uint64_t seq);
/* A failure of the scanner's own: hooks.fail, then abort. */
void jarm__scanner_fail(jarm__scanner_t *sc, const char *msg);

/*
 * Test hook for allocation failures: JARMSWEEP_TEST_FAIL_ALLOC=N in the environment makes the
 * N-th of the engine's allocation points passed after a scan's start fail (N = 1 is the first;
 * unset or 0: none). jarm__fault_arm() reads the variable (at the start of each scan);
 * jarm__fault() is called at each allocation point and returns 1 when that one must fail.
 */
void jarm__fault_arm(void);
int jarm__fault(void);

#endif /* JARM_SCANNER_H_ */
