/*
 * scan_int.h - what the files of the scan engine share and nothing outside it sees:
 *
 *   scan.c     the scanner's lifecycle, pulling targets, pump and flush, the deadline list
 *   conn.c     one probe connection: its states, the proxy handshake phase, one finish path
 *   poller.c   socket readiness: the private epoll backend, or a uv_poll_t per socket
 *   pacing.c   token bucket, window and descriptor backoff, per-address limits and waits
 *   result.c   the probe strings of a target, its raw string and fingerprint
 *   proxy.c    the proxy handshakes (SOCKS5, HTTP CONNECT) behind one small interface
 *   mem.c      slabs of connections, targets and addresses; the receive buffer pool
 */
#ifndef JARM_SCAN_INT_H_
#define JARM_SCAN_INT_H_

#include "internal.h"
#include "proxy.h"
#include "queue.h"
#include "scan.h"

#define ALL_PROBES ((uint16_t)((1u << JARM_PROBES) - 1))

/* Targets per slab are a quarter of this. */
#define JARM__SLAB 256

/*
 * A connection's states. Every path ends in CLOSING through jarm__conn_finish():
 *
 *   CONNECTING -> [PROXY] -> SENDING -> READING -> [AFTER_PARSE] -> CLOSING
 *
 * PROXY is the proxy handshake (proxy.h) when the scan goes through one; SENDING holds the
 * part of the ClientHello a full send buffer did not take (reading goes on meanwhile);
 * AFTER_PARSE keeps reading past the decided answer for the after_parse hook (scan.h).
 */
typedef enum jarm__conn_state_e {
    JARM__C_CONNECTING = 0,
    JARM__C_PROXY,
    JARM__C_SENDING,
    JARM__C_READING,
    JARM__C_AFTER_PARSE,
    JARM__C_CLOSING
} jarm__conn_state_t;

typedef struct jarm__conn_s {
    int fd;
    uint8_t probe;
    uint8_t state;     /* jarm__conn_state_t */
    uint8_t connected; /* the TCP connection is up (closed with a RST) */
    uint8_t retry;     /* a resource shortage: give the probe back, it runs again */
    jarm__scan_t *s;
    jarm__target_t *t;
    jarm__queue_t node; /* the deadline list, then the closed queue; free list (next only) */
    jarm__pio_t io;     /* the poller's per-socket state */
    uint64_t start_ms, deadline;
    uint8_t *rx; /* from the pool once a reply needs more than one read */
    uint8_t *tx; /* the unsent rest of a request after a partial send */
    uint16_t rx_len, tx_len;
    uint8_t confirming; /* a confirmation: the probe again, alone on its address */
    uint8_t suspect;    /* failed while crowded: confirm before the failure counts */
    uint8_t recent;     /* it started right after another connection to the address ended */
    uint16_t at_start;  /* connections in flight to the address when it started, itself included */
    uint16_t crowd;     /* the most connections to the address seen in flight with it */
    uint32_t start_seq; /* the address's start count when it started */
    jarm__hs_state_t hs; /* the proxy handshake's state */
} jarm__conn_t;

/*
 * One entry per address of an active target (pacing.c), in a hash table with chains. It
 * counts the connections in flight to the address against its limit and holds the targets
 * waiting for room there.
 */
struct jarm__addr_s {
    jarm__addr_t *hnext;  /* hash chain, or the free list */
    jarm__queue_t lru;    /* the idle learned list */
    jarm__queue_t wait;   /* targets waiting for room: those under way first */
    jarm__target_t *seg_tail; /* the last waiting target that is under way, or NULL */
    unsigned ready_n;         /* its targets in the ready queue */
    uint64_t hash;
    uint8_t key[16];
    uint8_t key_len, in_lru;
    uint8_t exclusive;       /* a confirmation is in flight: nothing else starts */
    uint8_t confirm_waiting; /* a confirmation waits for the address to drain */
    uint64_t hello_ports;    /* ports (a bit per port modulo 64) that gave a ServerHello */
    uint8_t gave_up;         /* confirmations only ever failed again: stop confirming */
    uint16_t confirm_ok, confirm_failed;
    uint8_t closed_once;
    uint64_t last_close; /* when a connection to it last ended */
    uint32_t starts;     /* connections started, to see if one started after another */
    unsigned users;      /* active targets */
    unsigned inflight;   /* connections in flight */
    unsigned limit;
};

/* Learned limits kept for idle addresses, least recently used dropped. */
#define ADDR_LEARNED_MAX 4096

/*
 * A limiter counts a connection until it has processed its end, a little after we closed
 * it: a connection started within this long of another one's end may still be counted
 * with it, and a confirmation waits this long after the address's last connection ended.
 */
#define SETTLE_MS 50

/* t->queued */
enum { Q_NONE = 0, Q_READY, Q_WAIT, Q_GAP, Q_AGAIN /* between two passes (scan.c) */ };

/* ---- scan.c ---- */
void jarm__scan_flush(jarm__scan_t *s);
/* The probe t would start next, or -1 for none now; *alone is set for a confirmation. */
int jarm__target_next(const jarm__scan_t *s, const jarm__target_t *t, int *alone);

/* ---- mem.c ---- */
int jarm__mem_remember(jarm__scan_t *s, void *block);
jarm__conn_t *jarm__conn_get(jarm__scan_t *s);
void jarm__conn_put(jarm__scan_t *s, jarm__conn_t *c);
jarm__target_t *jarm__target_get(jarm__scan_t *s);
void jarm__target_put(jarm__scan_t *s, jarm__target_t *t);
uint8_t *jarm__rx_get(jarm__scan_t *s);
void jarm__rx_put(jarm__scan_t *s, uint8_t *rx);
void jarm__mem_release(jarm__scan_t *s);

/* ---- conn.c ---- */
/* Open the socket and connect (the connection is counted by the caller). Returns 0, or a
 * negative resource error when the probe was given back for a retry. */
int jarm__conn_open(jarm__conn_t *c);
void jarm__conn_finish(jarm__conn_t *c, jarm__pstatus_t result, const char *str, size_t len);
/* The deadline passed. */
void jarm__conn_expire(jarm__conn_t *c);
/* A probe timed out or the proxy failed: finish t's other connections, start no more. */
void jarm__target_abandon(jarm__target_t *t);
void jarm__conn_on_io(jarm__poller_t *p, jarm__pio_t *io, unsigned events);

/* ---- pacing.c ---- */
int jarm__pacing_init(jarm__scan_t *s);
void jarm__pacing_release(jarm__scan_t *s);
jarm__addr_t *jarm__addr_get(jarm__scan_t *s, const jarm__target_t *t);
void jarm__addr_put(jarm__scan_t *s, jarm__addr_t *a);
int jarm__addr_room(jarm__scan_t *s, jarm__addr_t *a, int alone);
void jarm__addr_park(jarm__scan_t *s, jarm__addr_t *a, jarm__target_t *t, int alone);
void jarm__addr_wake(jarm__scan_t *s, jarm__addr_t *a);
void jarm__addr_conn_started(jarm__scan_t *s, jarm__conn_t *c);
void jarm__addr_conn_closed(jarm__scan_t *s, jarm__conn_t *c);
void jarm__confirm_done(jarm__scan_t *s, jarm__conn_t *c);
void jarm__target_unlink(jarm__scan_t *s, jarm__target_t *t);
void jarm__ready_push(jarm__scan_t *s, jarm__target_t *t);
void jarm__ready_push_front(jarm__scan_t *s, jarm__target_t *t);
void jarm__gap_push(jarm__scan_t *s, jarm__target_t *t, uint64_t due);
int jarm__is_limit_failure(jarm__pstatus_t result);
int jarm__conn_is_suspect(const jarm__conn_t *c, jarm__pstatus_t result);
int jarm__take_token(jarm__scan_t *s);
void jarm__resource_backoff(jarm__scan_t *s, int failed);

/* ---- result.c ---- */
int jarm__target_store(jarm__target_t *t, unsigned probe, const char *str, size_t len);
/* t->raw and t->jarm from the probes (t->status becomes error for want of memory). */
void jarm__result_make(jarm__scan_t *s, jarm__target_t *t);
/* Passes per target: 2 with compare_direct, repeat, or 1. */
unsigned jarm__passes_total(const jarm__scan_t *s);
/* A pass of t is complete (t->raw, t->jarm made): keep what it gave. Returns 1 when t has
 * another pass to run, 0 when that was the last and t holds the row's result. */
int jarm__passes_step(jarm__scan_t *s, jarm__target_t *t);
void jarm__passes_free(jarm__passes_t *p);

#endif /* JARM_SCAN_INT_H_ */
