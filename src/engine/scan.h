/*
 * scan.h - the scan engine: per-target state machines driving probe connections on a
 * caller's libuv loop. Shaped like a libuv handle (init, start, stop, close with callback)
 * so it can become the public scanner API.
 */
#ifndef JARM_SCAN_H_
#define JARM_SCAN_H_

#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "certread.h"
#include "jarm.h"
#include "jarmsweep.h"
#include "poller.h"
#include "queue.h"

/* Per-probe and per-target outcomes: the public enums of jarmsweep.h (meanings there), under
 * the engine's short names. */
typedef jarm_probe_status_t jarm__pstatus_t;
#define JARM__P_PENDING     JARM_PROBE_PENDING
#define JARM__P_OK          JARM_PROBE_OK
#define JARM__P_ALERT       JARM_PROBE_ALERT
#define JARM__P_NO_TLS      JARM_PROBE_NO_TLS
#define JARM__P_MALFORMED   JARM_PROBE_MALFORMED
#define JARM__P_CLOSED      JARM_PROBE_CLOSED
#define JARM__P_REFUSED     JARM_PROBE_REFUSED
#define JARM__P_RESET       JARM_PROBE_RESET
#define JARM__P_UNREACHABLE JARM_PROBE_UNREACHABLE
#define JARM__P_TIMEOUT     JARM_PROBE_TIMEOUT
#define JARM__P_SKIPPED     JARM_PROBE_SKIPPED
#define JARM__P_ERROR       JARM_PROBE_ERROR
#define JARM__P_PROXY       JARM_PROBE_PROXY_ERROR

typedef jarm_status_t jarm__tstatus_t;
#define JARM__T_OK          JARM_STATUS_OK
#define JARM__T_TIMEOUT     JARM_STATUS_TIMEOUT
#define JARM__T_REFUSED     JARM_STATUS_REFUSED
#define JARM__T_UNREACHABLE JARM_STATUS_UNREACHABLE
#define JARM__T_NO_TLS      JARM_STATUS_NO_TLS
#define JARM__T_REJECTED    JARM_STATUS_REJECTED
#define JARM__T_ERROR       JARM_STATUS_ERROR
#define JARM__T_PROXY_ERROR JARM_STATUS_PROXY_ERROR

typedef struct jarm__scan_s jarm__scan_t;
typedef struct jarm__target_s jarm__target_t;
typedef struct jarm__addr_s jarm__addr_t;

/* Connections in flight to one address by default (see --per-ip in the help text). */
#define JARM__PER_IP_DEFAULT 6

/* Inline storage for the ten probe strings of a target; longer results spill to the heap. */
#define JARM__STRS_INLINE 384

/* One fingerprint that passes of a target gave (--repeat), with how many did, and the first
 * such pass's result for the row. */
typedef struct jarm__variant_s {
    char *jarm, *raw; /* heap */
    size_t raw_len;
    unsigned count;
    jarm__tstatus_t status;
    char error[40]; /* its error, or "" */
    struct {
        uint8_t status;
        uint32_t ms;
    } probes[JARM_PROBES];
} jarm__variant_t;

/* What the passes of a target scanned several times gave so far (result.c). */
typedef struct jarm__passes_s {
    jarm__variant_t *v; /* --repeat: each fingerprint seen; most frequent first at the end */
    size_t n, cap;
    jarm_variant_t *row; /* the row's variants, made at the end (n of them) */
    char *jarm_direct;   /* --compare-direct: the direct pass's fingerprint (heap) */
    jarm__tstatus_t direct_status;
} jarm__passes_t;

struct jarm__target_s {
    /* Filled by the pull callback. */
    char host[JARM_HOST_MAX + 1];
    size_t host_len;
    struct sockaddr_storage addr; /* the pinned address, port included */
    uint16_t port;
    char ip[46];     /* addr as text */
    const char *sni; /* server_name: host unless the scanner's sni option is set */
    size_t sni_len;
    void *data;        /* the caller's, untouched by the engine */
    uint64_t seq;      /* likewise */
    int by_name;       /* through the proxy: CONNECT to host by name (socks5h), addr has
                          only the port */
    const char *proxy; /* set by the engine: the proxy's label, or NULL */
    uint64_t lineno;
    const char *source;

    /* Results, valid in the result callback. */
    jarm__tstatus_t status;
    struct {
        uint8_t status;    /* jarm__pstatus_t */
        uint32_t ms;       /* connect to outcome */
        uint16_t off, len; /* the probe string in strs */
    } probes[JARM_PROBES];
    uint64_t start_ms, end_ms;
    const char *raw; /* the raw string, NUL-terminated, valid during the callback only */
    size_t raw_len;
    const char *jarm; /* the fingerprint, likewise (62 chars; longer only for ALPN with ',') */
    const char *error; /* why, for proxy_error and local errors (a static string or
                          error_buf), or NULL */
    unsigned retried;  /* probes run again alone to confirm a failure */
    /* With the scan's cert option: the server's certificate (certread.h). */
    jarm__certread_t cert;
    /* Several passes (opts.repeat > 1, opts.compare_direct): set for the result callback. */
    const jarm__passes_t *passes; /* NULL for a target scanned once */
    int intercepted;              /* --compare-direct: 1, 0, or -1 when either side failed */

    /* Engine state. */
    struct jarm__conn_s *conns[JARM_PROBES];
    uint16_t started; /* bit i: probe i was started (and not given back for a retry) */
    uint8_t in_flight, gate_done;
    uint8_t queued;       /* 1: in the ready queue, 2: waiting for room on its address,
                             3: a confirmation waiting for its address to settle (node) */
    uint64_t gap_due;     /* queued 3: when it may start */
    uint16_t confirm;     /* bit i: probe i failed while crowded, to be run again alone */
    uint16_t crowd_min;   /* fewest connections in flight to the address at such a failure */
    uint8_t woken;        /* moved from its address's wait list to the ready queue */
    uint8_t seg;          /* waiting among the targets under way */
    jarm__addr_t *paddr;  /* its address's entry (per-address limit), or NULL */
    uint8_t abandoned;    /* a probe timed out or the proxy failed: no more probes */
    uint8_t proxy_failed; /* ... and it was the proxy */
    char *strs;
    size_t strs_len, strs_cap;
    uint16_t pass;             /* the pass under way, from 0 */
    uint8_t direct;            /* this pass connects directly (--compare-direct's first) */
    jarm__passes_t *pass_data; /* what the passes before this one gave (heap), or NULL */
    char error_buf[24];        /* an error made for this target: "proxy said 503" */
    jarm__queue_t node;   /* the ready queue, an address wait list or the gap list; free list */
    char strs_inline[JARM__STRS_INLINE];
};

/*
 * Fill t (host, addr, port, ip, lineno...) with the next target. Returns 1 when t was filled,
 * 0 when none is available now (call jarm__scan_wake when there is), -1 at the end of input.
 */
typedef int (*jarm__pull_cb)(jarm__scan_t *s, jarm__target_t *t);
/* A target is complete; t and t->raw are valid only during the call. */
typedef void (*jarm__result_cb)(jarm__scan_t *s, jarm__target_t *t);
/* Every pulled target has been reported and nothing is in flight. */
typedef void (*jarm__done_cb)(jarm__scan_t *s);
/*
 * Reading past the answer (optional, set after init): once probe `probe`'s reply is decided
 * as a ServerHello, after_parse sees the reply's bytes so far and returns 1 to keep the
 * connection reading (its result is recorded already); each further chunk then goes to
 * after_data until that returns 0, or until EOF, an error or the connection's deadline.
 */
typedef int (*jarm__after_parse_cb)(jarm__scan_t *s, jarm__target_t *t, unsigned probe,
                                    const uint8_t *reply, size_t len);
typedef int (*jarm__after_data_cb)(jarm__scan_t *s, jarm__target_t *t, unsigned probe,
                                   const uint8_t *data, size_t len);

typedef struct jarm__scan_opts_s {
    unsigned concurrency;    /* connections in flight */
    unsigned probe_parallel; /* probes of one target in flight after the gate, 1..9 */
    unsigned per_ip;         /* connections in flight to one address (0: the default) */
    uint64_t timeout_ms;     /* per connection: connect, write and first reply byte */
    double rate;             /* new connections per second, 0 = unlimited */
    const char *sni;         /* override server_name, or NULL */
    /* Every probe connection goes through this proxy (NULL: direct). */
    const struct sockaddr_storage *proxy;
    int proxy_http;                      /* HTTP CONNECT; else SOCKS5 */
    const char *proxy_user, *proxy_pass; /* credentials (SOCKS5 RFC 1929, HTTP Basic), or NULL */
    const char *proxy_label;             /* for rows: "socks5://host:port", "http://host:port" */
    /* Passes: every target scanned directly and through the proxy (needs proxy), or
     * repeat times (0 and 1: once); each next pass waits behind newer targets. */
    int compare_direct;
    unsigned repeat;
    /* Read each target's certificate (certread.h), at most cert_max bytes (0: 64 KiB). */
    int cert;
    size_t cert_max;
} jarm__scan_opts_t;

typedef struct jarm__scan_stats_s {
    uint64_t targets_started, targets_done, conns_started, conns_done;
    uint64_t probes_retried; /* confirmations: probes run again alone */
    uint64_t addrs_limited;  /* addresses whose limit was lowered after crowded failures */
    uint64_t by_status[JARM__T_PROXY_ERROR + 1];
    unsigned conns_active, targets_active, window;
    uint64_t nomem; /* results that could not be computed for want of memory */
} jarm__scan_stats_t;

struct jarm__scan_s {
    uv_loop_t *loop;
    jarm__scan_opts_t opts;
    jarm__pull_cb pull;
    jarm__result_cb on_result;
    jarm__done_cb on_done;
    void *data; /* the caller's */
    jarm__scan_stats_t stats;

    jarm__after_parse_cb after_parse; /* NULL: a connection ends with its answer */
    jarm__after_data_cb after_data;
    struct jarm__certcache_s *certcache; /* --cert: summaries already made (certread.c) */

    /* Engine state: see scan_int.h. */
    uv_timer_t deadline_timer, retry_timer, kick_timer, gap_timer;
    jarm__poller_t poller; /* readiness of the probe sockets */
    const struct jarm__handshake_s *hs; /* the proxy handshake, or NULL for direct */
    jarm__queue_t closed;   /* finished connections, waiting for the flush */
    int flushing;
    jarm__queue_t deadlines; /* connections by deadline (all timeouts equal: start order) */
    struct jarm__conn_s *free_conns;
    jarm__target_t *free_targets;
    jarm__queue_t ready; /* targets with probes to start */
    /* Addresses of active targets, and learned limits of recent ones (see pacing.c). */
    jarm__addr_t **addr_buckets;
    size_t addr_mask;
    jarm__addr_t *free_addrs;
    jarm__queue_t lru; /* idle addresses that showed limiting, oldest first */
    size_t lru_n;
    uint64_t addr_seed;
    unsigned parked, park_max; /* targets waiting for room on their address */
    jarm__queue_t gap;         /* confirmations waiting for their address to settle */
    jarm__queue_t again;       /* targets between two passes, oldest first */
    unsigned again_n;
    uint8_t **free_rx;         /* pool of JARM_RX_MAX receive buffers */
    size_t free_rx_n, free_rx_cap;
    void **blocks; /* every slab allocated, freed at close */
    size_t nblocks, blocks_cap;
    double tokens;
    uint64_t tokens_at;
    int pumping, input_done, stopping, closing, done_called, started;
    unsigned window; /* current connection window (shrinks on EMFILE) */
    int backoff;     /* a resource shortage: start nothing until the retry timer fires */
    unsigned res_fails; /* consecutive resource shortages, for the backoff delay */
    unsigned starved;   /* ... of them with nothing else in flight */
    void (*close_cb)(jarm__scan_t *s);
    int handles_open;
    jarm_rng_t rng;
    char *scratch; /* JARM_PROBE_STR_MAX bytes for parsing */
    char *rawbuf;  /* raw string of the finishing target */
    size_t rawbuf_cap;
    char *fpbuf; /* its fingerprint */
    size_t fpbuf_cap;
    uint8_t readbuf[65536]; /* shared by every read: data is parsed or copied at once */
};

/* Initialise on loop. Returns 0, or a negative error and then nothing is left to close or
 * free. After a success, jarm__scan_close releases everything (also if never started). */
int jarm__scan_init(uv_loop_t *loop, jarm__scan_t *s, const jarm__scan_opts_t *opts);
/* Start pulling and scanning. Returns 0, or a negative error (nothing started: close s). */
int jarm__scan_start(jarm__scan_t *s, jarm__pull_cb pull, jarm__result_cb on_result,
                     jarm__done_cb on_done);
/* New targets may be available: pull again. */
void jarm__scan_wake(jarm__scan_t *s);
/* Graceful stop: pull nothing more; in-flight targets finish or time out, then on_done. */
void jarm__scan_stop(jarm__scan_t *s);
/* Release everything (only after on_done); close_cb runs once every handle is closed. */
void jarm__scan_close(jarm__scan_t *s, void (*close_cb)(jarm__scan_t *s));

#endif /* JARM_SCAN_H_ */
