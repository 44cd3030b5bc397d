/*
 * blocklist.h - which addresses a sweep may visit: IPv4 and IPv6 CIDRs painted allowed or
 * denied in order, looked up in O(log n).
 *
 * Semantics (zmap's constraint.c: "paint subnets black to exclude them and white to allow
 * them; only the top color shows"): the list starts all allowed or all denied, and each
 * paint call colours its networks over whatever was there, so later paints override earlier
 * ones where they overlap. The CLI paints, in this order:
 *   1. start allowed; or, with --allowlist FILE, start denied and paint FILE allowed
 *      (a sweep is then confined to the allowlist, as zmap's -w);
 *   2. paint contrib/blocklist.conf denied, unless --allow-reserved;
 *   3. paint each --blocklist FILE denied.
 * The result is "(everything or the allowlist) minus the blocklists": a blocklist always
 * wins over an allowlist, so an opt-out can never be undone by another file.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host a.b.c.d, so it is
 * allowed only if both it and a.b.c.d are allowed.
 *
 * Only ranges are filtered: single targets given explicitly are the caller's business and
 * never silently dropped. The blocklist is read-only once built; lookups may run
 * on any thread.
 */
#ifndef JARM_BLOCKLIST_H_
#define JARM_BLOCKLIST_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "range.h"

/* An inclusive interval of address values. */
typedef struct jarm__ivl_s {
    jarm__u128_t lo, hi;
} jarm__ivl_t;

/* A sorted list of disjoint, non-adjacent intervals: one family's allowed addresses. */
typedef struct jarm__ivlset_s {
    jarm__ivl_t *v;
    size_t n;
} jarm__ivlset_t;

typedef struct jarm__blocklist_s {
    jarm__ivlset_t v4, v6; /* allowed addresses; owned */
    uint64_t entries;      /* networks painted so far, for messages */
} jarm__blocklist_t;

/*
 * Start a list with every address allowed (allow != 0) or denied (allow == 0). Returns 0,
 * or -1 if out of memory. Release with jarm__blocklist_free.
 */
int jarm__blocklist_init(jarm__blocklist_t *bl, int allow);

/* Release what bl owns; bl may then be initialised again. */
void jarm__blocklist_free(jarm__blocklist_t *bl);

/*
 * Paint n networks (any families, any order, may overlap; nets is borrowed) allowed or
 * denied. O((n log n) + size of the list). Returns 0, or -1 if out of memory (bl is then
 * unchanged).
 */
int jarm__blocklist_paint(jarm__blocklist_t *bl, const jarm__range_t *nets, size_t n, int allow);

/*
 * Parse a blocklist file's text (buf, len; no NUL needed) and paint its networks allowed
 * or denied. Format: one CIDR ("10.0.0.0/8", "2001:db8::/32") or single address per line;
 * host bits are cleared; '#' starts a comment (a whole line or the rest of one); blank
 * lines and white space around an entry are ignored; CR LF line ends are fine. name is the
 * file name used in messages. All or nothing: on the first bad line nothing is painted and
 * err receives "NAME:LINE: bad CIDR 'x'". Returns the number of entries painted, or -1.
 */
int64_t jarm__blocklist_parse(jarm__blocklist_t *bl, const char *name, const char *buf, size_t len,
                              int allow, char *err, size_t errlen);

/*
 * Read the file at path and jarm__blocklist_parse it. Errors (-1 and a message in err):
 * "PATH: No such file or directory", the parse errors, out of memory.
 */
int64_t jarm__blocklist_load(jarm__blocklist_t *bl, const char *path, int allow, char *err,
                             size_t errlen);

/* Whether the address a (a value of family AF_INET or AF_INET6) is allowed: 1 or 0. */
int jarm__blocklist_allowed(const jarm__blocklist_t *bl, int family, jarm__u128_t a);

/* Whether the address of sa (AF_INET or AF_INET6; the port is ignored) is allowed. */
int jarm__blocklist_allowed_sa(const jarm__blocklist_t *bl, const struct sockaddr *sa);

/* The number of allowed addresses in r, saturated at UINT64_MAX. O(log n + overlaps). */
uint64_t jarm__blocklist_count(const jarm__blocklist_t *bl, const jarm__range_t *r);

#endif /* JARM_BLOCKLIST_H_ */
