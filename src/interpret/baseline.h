/*
 * baseline.h - the fingerprints of an earlier scan, to tell each new row whether its
 * server changed (`--baseline FILE`: fleet drift detection).
 *
 * A baseline file holds one of these per line, freely mixed; blank lines and '#' comments
 * (a whole line, or from a '#' to the end of a text line) are skipped, CR LF is fine:
 *
 *   - text: `HOST[:PORT] FINGERPRINT`, separated by blanks; HOST is a name, an IPv4
 *     address, a bare IPv6 address (then without a port) or `[IPv6]`; PORT defaults to 443.
 *   - NDJSON: a line starting with '{' is a row of a previous jarmsweep run (or of the
 *     reference's `-j`), one JSON object. Only its top-level "host", "port", "jarm",
 *     "result" and "status" members are read, everything else is skipped unparsed. The
 *     fingerprint is "result" when present (the reference's `-j` lines, whose "jarm" is the
 *     raw string), else "jarm". A missing or null "port" is 443. Rows whose "status" is
 *     "bad_target" or "dns_error" name no server and are skipped.
 *   - CSV: a line holding ',' is the reference's `-o` line `HOST,IP,FINGERPRINT[,RAW...]`
 *     (also jarmsweep's `-f csv`); its port is 443 (the format has none). Rows whose IP is
 *     empty or "Failed to resolve IP" are skipped.
 *
 * The key of a row is (host, port). Hosts are compared case-insensitively, trailing dots
 * of a name are dropped, and IPv6 addresses, with or without `[...]`, are compared in their
 * canonical form (so "[2001:DB8:0::1]" is "2001:db8::1"). A key may have
 * several fingerprints (a name scanned on each of its addresses, or several scans in one
 * file); each distinct one is kept. A new fingerprint for a key is then:
 *   - same: it is one of the key's baseline fingerprints;
 *   - changed: the key is in the baseline with other fingerprints only; the old
 *     fingerprint reported is the last distinct one the baseline recorded for the key;
 *   - new: the key is not in the baseline.
 * Fingerprints are compared as text, the zero fingerprint included (a server that timed
 * out then and answers now is `changed`).
 *
 * The baseline is read-only once loaded; lookups may then run on any thread.
 */
#ifndef JARM_BASELINE_H_
#define JARM_BASELINE_H_

#include <stddef.h>
#include <stdint.h>

#include "htab.h"

/* Longest host accepted in a baseline row (names have at most 253 characters). */
#define JARM__BASELINE_HOST_MAX 1024

typedef enum jarm__baseline_verdict_e {
    JARM__BASELINE_NEW = 0,
    JARM__BASELINE_SAME = 1,
    JARM__BASELINE_CHANGED = 2
} jarm__baseline_verdict_t;

/* One distinct (host, port, fingerprint); strings live in the baseline's arena. */
typedef struct jarm__blrec_s {
    size_t host;       /* offset of the normalised host in the arena */
    size_t fp;         /* offset of the fingerprint, NUL-terminated */
    uint32_t host_len; /* bytes of the host */
    uint32_t next;     /* next record of the same key, or UINT32_MAX */
    uint16_t port;
    uint16_t fp_len;
} jarm__blrec_t;

typedef struct jarm__baseline_s {
    jarm__blrec_t *v; /* records in the order they were first seen; owned */
    size_t n, cap;
    char *arena; /* hosts and fingerprints, each NUL-terminated; owned */
    size_t alen, acap;
    jarm__htab_t tab; /* by (host, port); tab.keys: the number of distinct keys; owned */
    uint64_t rows;    /* rows read, duplicates included */
    uint64_t skipped; /* rows skipped: bad_target, dns_error, unresolved CSV rows */
} jarm__baseline_t;

/* An empty baseline. Never fails; release with jarm__baseline_free. */
void jarm__baseline_init(jarm__baseline_t *b);

/* Release what b owns. */
void jarm__baseline_free(jarm__baseline_t *b);

/*
 * Parse a baseline file's text (buf, len bytes; no NUL needed; borrowed) and add its rows.
 * name is the file name used in messages. All or nothing: on the first bad line nothing of
 * the file is added and err receives "NAME:LINE: WHAT", WHAT being one of "bad fingerprint
 * 'x'", "bad target 'x'", "bad port", "bad JSON row", "row without a fingerprint", "row
 * without a host", "expected 'host[:port] fingerprint'". Returns the number of rows taken
 * (skipped rows not counted), or JARM_EINVAL (a bad line) or -ENOMEM.
 */
int64_t jarm__baseline_parse(jarm__baseline_t *b, const char *name, const char *buf, size_t len,
                             char *err, size_t errlen);

/*
 * Read the file at path (line by line: an NDJSON file of any size needs memory only for
 * its keys and fingerprints) and add its rows as jarm__baseline_parse. Errors (a negative
 * code and a message in err): -errno and "PATH: No such file or directory" (strerror), the
 * parse errors, -EIO (read error), -ENOMEM.
 */
int64_t jarm__baseline_load(jarm__baseline_t *b, const char *path, char *err, size_t errlen);

/*
 * The verdict for a scan row of host (host_len bytes, as in the row; normalised as above)
 * and port with fingerprint fp (fp_len bytes). For JARM__BASELINE_CHANGED, *old (if old is
 * not NULL) receives the baseline's fingerprint, NUL-terminated and borrowed from b (valid
 * until the next load or jarm__baseline_free); otherwise *old is set to NULL.
 */
jarm__baseline_verdict_t jarm__baseline_check(const jarm__baseline_t *b, const char *host,
                                              size_t host_len, unsigned port, const char *fp,
                                              size_t fp_len, const char **old);

/*
 * The baseline fingerprint of (host, port): the last distinct one recorded, borrowed as for
 * jarm__baseline_check, or NULL if the key is not in the baseline.
 */
const char *jarm__baseline_lookup(const jarm__baseline_t *b, const char *host, size_t host_len,
                                  unsigned port);

/* "new", "same" or "changed". */
const char *jarm__baseline_verdict_name(jarm__baseline_verdict_t v);

#endif /* JARM_BASELINE_H_ */
