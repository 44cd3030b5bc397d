/*
 * jarmsweep.h - libjarmsweep, the scanner of jarmsweep: the JARM core of jarm.h driven over
 * the network by an engine on libuv and c-ares. Link libjarmsweep (it contains libjarm).
 *
 * Targets use the command line's syntax: IP, IP:port, [IPv6]:port, host, host:port,
 * host,port, CIDR and ranges. Every target yields exactly one result, unparsable ones
 * included (status JARM_STATUS_BAD_TARGET). A result is a jarm_result_t, the fields of one
 * row of `jarmsweep` (see jarmsweep(1), OUTPUT); jarm_result_to_json() writes the row's
 * NDJSON line, byte for byte the line the command line writes. libjarm(3) is the manual.
 *
 * Conventions as in jarm.h: 0 or a negative JARM_E* (or libuv UV_E*) code.
 */
#ifndef JARMSWEEP_H_
#define JARMSWEEP_H_

#include <stddef.h>
#include <stdint.h>

#include "jarm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------------------
 * Results
 */

/* A target's outcome, the row's "status" (jarmsweep(1), Target status). */
typedef enum jarm_status_e {
    JARM_STATUS_OK = 0,      /* at least one probe got a ServerHello */
    JARM_STATUS_TIMEOUT,     /* a probe timed out: the reference's rule, ten empty probes */
    JARM_STATUS_REFUSED,     /* every probe refused */
    JARM_STATUS_UNREACHABLE, /* every probe unreachable */
    JARM_STATUS_NO_TLS,      /* no ServerHello, some reply was not TLS */
    JARM_STATUS_REJECTED,    /* answered, but only alerts, resets, empty closes, bad TLS */
    JARM_STATUS_ERROR,       /* local errors only */
    JARM_STATUS_PROXY_ERROR, /* the proxy failed: the target's answer is unknown */
    JARM_STATUS_BAD_TARGET,  /* the input was not a target: never scanned */
    JARM_STATUS_DNS_ERROR    /* the name did not resolve: never scanned */
} jarm_status_t;

/* A probe's outcome, "status" of each entry of the row's "probes" (Probe status). */
typedef enum jarm_probe_status_e {
    JARM_PROBE_PENDING = 0, /* no outcome (never in a result of a finished target) */
    JARM_PROBE_OK,          /* a ServerHello: a real probe string */
    JARM_PROBE_ALERT,       /* a TLS alert */
    JARM_PROBE_NO_TLS,      /* bytes that are not TLS */
    JARM_PROBE_MALFORMED,   /* a TLS record that is not a usable ServerHello */
    JARM_PROBE_CLOSED,      /* EOF without a byte */
    JARM_PROBE_REFUSED,     /* connection refused */
    JARM_PROBE_RESET,       /* reset without a byte */
    JARM_PROBE_UNREACHABLE, /* host or network unreachable */
    JARM_PROBE_TIMEOUT,     /* no byte before the timeout */
    JARM_PROBE_SKIPPED,     /* not sent, or abandoned, because another probe timed out */
    JARM_PROBE_ERROR,       /* any other socket error */
    JARM_PROBE_PROXY_ERROR  /* the proxy failed or refused (not the target) */
} jarm_probe_status_t;

/* The row's word for a status ("ok", "bad_target", ...); "error" when out of range. */
JARM_API const char *jarm_status_name(jarm_status_t s);
JARM_API const char *jarm_probe_status_name(jarm_probe_status_t s);

typedef struct jarm_probe_result_s {
    jarm_probe_status_t status;
    uint32_t ms; /* connect to outcome; not meaningful for pending and skipped */
} jarm_probe_result_t;

/* One fingerprint seen among repeated scans of a target, and how often. */
typedef struct jarm_variant_s {
    const char *jarm;
    uint64_t count;
} jarm_variant_t;

/* A yes/no annotation that may be absent or undecided. */
typedef enum jarm_tristate_e {
    JARM_TRI_ABSENT = 0, /* not asked for: no field */
    JARM_TRI_FALSE,
    JARM_TRI_TRUE,
    JARM_TRI_UNKNOWN /* asked for, but not decidable (a side failed) */
} jarm_tristate_t;

/*
 * One result: what the command line writes as one row. Every pointer is valid only during
 * the callback that receives it; strings are NUL-terminated, and those with a length may
 * hold any bytes (a bad_target's host is the input line as given). A target never scanned
 * (bad_target, dns_error) has ip NULL, jarm 62 zeros, raw JARM_RAW_EMPTY, an error, and no
 * probes, sni or elapsed time. A caller that fills one for jarm_result_to_json() zeroes it
 * first: fields added in later versions are then absent.
 */
typedef struct jarm_result_s {
    /* The target. */
    const char *host; /* as given (the name, the IP literal, or the input line) */
    size_t host_len;
    const char *ip;  /* the address scanned; NULL when not known (never scanned, or a name
                        the proxy resolved) */
    unsigned port;   /* 0 when none (a bad_target) */
    const char *sni; /* the server_name sent; NULL when never scanned */
    size_t sni_len;
    const char *proxy;  /* the proxy scanned through ("socks5://host:port" or
                           "http://host:port"), or NULL */
    const char *source; /* the input file, "next" (jarm_scan), "add" (jarm_scanner_add) or
                           NULL (a command-line argument) */
    uint64_t line;      /* its line in source (from 1), or the argument's number */

    /* The outcome. */
    jarm_status_t status;
    const char *jarm; /* the fingerprint: JARM_FP_LEN characters (more only for an ALPN
                         holding ','), 62 zeros when there was no ServerHello */
    const char *raw;  /* the raw string: ten probe strings joined by ',' */
    size_t raw_len;
    jarm_probe_result_t probes[JARM_PROBES]; /* in the reference's order; scanned only */
    unsigned retried;                        /* probes run again alone to confirm a failure */
    const char *error;   /* why (proxy_error, error, bad_target, dns_error), or NULL */
    uint64_t elapsed_ms; /* first connect to last outcome */
    uint64_t ts_ms;      /* when the result was made: wall clock, ms since the epoch */

    /* Annotations, present only when the scan asked for them (the command line's options
     * --match, --baseline ...). NULL or JARM_TRI_ABSENT: no field. */
    const char *const *match;        /* labels of list entries equal to jarm (nmatch of them); */
    size_t nmatch;                   /* with match_prefix: written whenever match is not NULL */
    const char *const *match_prefix; /* labels of entries sharing jarm's first 30 characters */
    size_t nmatch_prefix;
    const char *baseline;      /* "new", "same" or "changed" */
    const char *baseline_jarm; /* the baseline's fingerprint of a changed target, or NULL */
    /* The server's certificate (the cert option, --cert): cert, the leaf's summary as a JSON
     * object's text (sha256, sha1, subject, issuer, serial, not_before, not_after, san, key,
     * sig_alg, self_signed, chain_len; see jarmsweep(1)) and cert_sha256 its "sha256"; or
     * cert_error, why there is none ("tls13", "alert", "truncated", ...). */
    const char *cert;
    const char *cert_error;
    const char *cert_sha256;
    /* Labels of the --match lists' cert-sha256 entries equal to cert_sha256 (nmatch_cert of
     * them); written whenever match_cert is not NULL. */
    const char *const *match_cert;
    size_t nmatch_cert;
    /* --compare-direct: the fingerprint seen directly (62 zeros when that failed), the one
     * through the proxy (= jarm), and whether they differ (UNKNOWN: either side failed). */
    const char *jarm_direct;
    const char *jarm_proxy;
    jarm_tristate_t intercepted;
    /* --repeat N: whether every scan gave one fingerprint, and each fingerprint seen with
     * its count, most frequent first (jarm is the first's). */
    jarm_tristate_t stable;
    const jarm_variant_t *variants;
    size_t nvariants;
    void *reserved[5]; /* NULL: room for later annotations */
} jarm_result_t;

/*
 * The NDJSON line of r (without a newline), exactly as the command line writes it, NUL-
 * terminated into out. Returns its length, or JARM_ENOBUFS when cap is not more than the
 * length (then nothing useful is in out), or JARM_EINVAL (r or out NULL).
 */
JARM_API int jarm_result_to_json(const jarm_result_t *r, char *out, size_t cap);

/* ----------------------------------------------------------------------------------------
 * Scanning
 */

typedef struct jarm_scan_opts_s {
    unsigned concurrency;  /* connections in flight; 0 = 1000 */
    double timeout;        /* seconds per connection; 0 = 5 */
    const char *ports;     /* for targets without one: "443", "443,8443", "8000-8010"; NULL = 443 */
    const char *sni;       /* server_name override, or NULL */
    const char *resolvers; /* "IP[:PORT],..." or NULL for resolv.conf */
    const char *proxy;     /* "socks5://" or "http://[user:pass@]host:port", or NULL */
    int allow_reserved;    /* ranges may cover reserved space (e.g. 127.0.0.0/8) */
    int cert;              /* results get the server's certificate: cert or cert_error */
    size_t cert_max;       /* stream bytes read for it (--cert-max); 0 = 65536 */
} jarm_scan_opts_t;

/*
 * The next target for jarm_scan: return a NUL-terminated string (read before the next call),
 * or NULL when there are no more. Called on a reader thread of jarm_scan, so it may block
 * (a lazily consumed iterable, a pipe); return NULL to end the input.
 */
typedef const char *(*jarm_next_fn)(void *data);

/*
 * One result, valid during the call. Called on the thread that called jarm_scan (or on the
 * scanner's loop). Return 0 to go on, non-zero to stop: no new targets are started, the
 * ones in flight finish (at most one timeout) and are delivered, then the scan ends.
 */
typedef int (*jarm_row_fn)(void *data, const jarm_result_t *r);

/*
 * Scan every target from next() on a private event loop and deliver each result to row(), in
 * completion order. Blocks until done or stopped. opts may be NULL (defaults). Returns 0, or
 * a negative JARM_E* / UV_E* error (bad options: JARM_EINVAL with a message in err, if err
 * is not NULL). Safe to call from several threads at once (each has its own loop).
 */
JARM_API int jarm_scan(const jarm_scan_opts_t *opts, jarm_next_fn next, void *next_data,
                       jarm_row_fn row, void *row_data, char *err, size_t errlen);

/*
 * The same scan on a libuv loop the caller runs (libuv-shaped: the caller owns the loop; the
 * scanner owns everything it creates and has released it when close_cb runs):
 *
 *   jarm_scanner_init(loop, &sc, &opts);
 *   jarm_scanner_start(sc, row, data, done);   results arrive from the loop as targets finish
 *   jarm_scanner_add(sc, "192.0.2.1:443");     any number of times, on the loop's thread
 *   jarm_scanner_end(sc);                      no more targets: done() runs after the last row
 *   jarm_scanner_close(sc, close_cb);          after done (or earlier: stops, then closes)
 *
 * loop is a uv_loop_t *. All calls on the loop's thread. The rules are libuv's:
 *
 *  - A failed jarm_scanner_init leaves nothing to free or close. A failed jarm_scanner_start
 *    leaves the scanner only closable (add, start and stop are refused or ignored); what it had
 *    put on the loop is already closing.
 *  - close_cb always runs from the loop (never inside jarm_scanner_close), exactly once, with
 *    the scanner as sc (only for comparison: it is freed when close_cb returns) and the data of
 *    jarm_scanner_start (NULL if the scanner was never started). After that the scanner holds
 *    nothing on the loop, so uv_loop_close() can return 0.
 *  - After jarm_scanner_close no callback but close_cb runs: no more rows (targets still in
 *    flight finish unreported), no done(). Close may be called from any callback, once.
 *  - jarm_scanner_stop is idempotent and does nothing before start or after done().
 */
struct uv_loop_s;
typedef struct jarm_scanner_s jarm_scanner_t;
typedef void (*jarm_scanner_cb)(jarm_scanner_t *sc, void *data);

/* Returns 0 or JARM_EINVAL (bad options: message in err if not NULL). */
JARM_API int jarm_scanner_init(struct uv_loop_s *loop, jarm_scanner_t **sc,
                               const jarm_scan_opts_t *opts, char *err, size_t errlen);
/* Start: row() gets every result (returning non-zero stops the scan); done() runs once every
 * added target has its result after jarm_scanner_end (or after a stop). Returns 0 or an
 * error. */
JARM_API int jarm_scanner_start(jarm_scanner_t *sc, jarm_row_fn row, jarm_scanner_cb done,
                                void *data);
/* Queue a target (command-line syntax). Returns 0, JARM_EAGAIN when 1,024 targets are already
 * waiting (add more from a later row callback), or JARM_EINVAL (not started, or ended). */
JARM_API int jarm_scanner_add(jarm_scanner_t *sc, const char *target);
/* No more targets. */
JARM_API void jarm_scanner_end(jarm_scanner_t *sc);
/* Stop early: no new targets; those in flight finish and get their rows, then done(). Targets
 * already waiting for a busy address (per-address limit) count as in flight, so a stop can
 * take several timeouts. Targets added but not started by then get no row. */
JARM_API void jarm_scanner_stop(jarm_scanner_t *sc);
/* Release the scanner; close_cb (may be NULL) runs from the loop once everything is freed.
 * Before done() this stops the scan first. sc must not be used afterwards. */
JARM_API void jarm_scanner_close(jarm_scanner_t *sc, jarm_scanner_cb close_cb);

/*
 * Fingerprint one target (command-line syntax; port 443 when it has none) on a private loop
 * and write its NDJSON row to out (NUL-terminated). Returns the row length, or a negative
 * error (JARM_ENOBUFS: cap too small; 8192 suffices unless ALPN values are huge).
 */
JARM_API int jarm_fingerprint_row(const char *target, double timeout, const char *sni, char *out,
                                  size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* JARMSWEEP_H_ */
