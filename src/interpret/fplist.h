/*
 * fplist.h - lists of known JARM fingerprints (the TSV files of contrib/fingerprints/),
 * and matching a scanned fingerprint against them (`--match`).
 *
 * A list file is UTF-8 text with one entry per line and four TAB-separated columns:
 *
 *   fingerprint <TAB> label <TAB> source <TAB> notes
 *
 * fingerprint is a whole 62-character fingerprint, or only its first 30 characters (the
 * cipher and version codes of the ten probes) to name a family of configurations; label is
 * what a match reports and must not be empty; source and notes are optional and free text.
 * Lines starting with '#' and blank lines are skipped; a first entry line whose fingerprint
 * column is the word "fingerprint" is a header and skipped too; spaces around a column are
 * ignored, CR LF line ends are fine, columns after the fourth are ignored. Hex digits may
 * be upper case (they are folded to lower case). A fingerprint must be well formed: ten
 * cipher codes 00-46 each followed by a version code 0 or a-j, then 32 hex digits.
 *
 * Matching a fingerprint FP gives two label lists:
 *   - exact: labels of the 62-character entries equal to FP;
 *   - prefix: labels of the entries that share FP's 30-character cipher/version half (62-
 *     character entries whose first 30 characters equal FP's, and 30-character entries
 *     equal to FP's first 30) and are not exact matches.
 * Labels come in the order their entries were loaded (files in load order, lines in file
 * order), each label at most once per match: a label already reported as exact is not
 * repeated as prefix. The zero fingerprint (62 zeros: every probe failed) never matches, and
 * the all-zero half (no probe got a ServerHello) never prefix-matches; such entries are
 * accepted in files but never reported.
 *
 * A list is read-only once loaded; matches may then run on any thread. Lookups are two
 * hash-table probes, whatever the size of the lists.
 */
#ifndef JARM_FPLIST_H_
#define JARM_FPLIST_H_

#include <stddef.h>
#include <stdint.h>

#include "htab.h"

/* Lengths of a whole fingerprint and of its cipher/version half. */
#define JARM__FPLIST_FULL 62
#define JARM__FPLIST_HALF 30

/* One entry of a list. Strings point into a file buffer the list owns. */
typedef struct jarm__fpentry_s {
    char fp[JARM__FPLIST_FULL + 1]; /* lower case, NUL-terminated; 62 or 30 characters */
    uint8_t len;                    /* JARM__FPLIST_FULL or JARM__FPLIST_HALF */
    const char *label;              /* never empty */
    const char *source;             /* "" when absent */
    const char *notes;              /* "" when absent */
    const char *file;               /* the path it was loaded from */
    uint32_t line;                  /* its line number in that file */
    uint32_t next_full;             /* next entry with the same 62 characters, or UINT32_MAX */
    uint32_t next_half;             /* next entry with the same first 30, or UINT32_MAX */
} jarm__fpentry_t;

typedef struct jarm__fplist_s {
    jarm__fpentry_t *v; /* entries in load order; owned */
    size_t n, cap;
    char **bufs; /* file texts and names the entries point into; owned */
    size_t nbufs;
    jarm__htab_t full, half; /* by the whole fingerprint and by its half; owned */
} jarm__fplist_t;

/* An empty list. Never fails; release with jarm__fplist_free. */
void jarm__fplist_init(jarm__fplist_t *l);

/* Release what l owns (every label pointer a match returned becomes invalid). */
void jarm__fplist_free(jarm__fplist_t *l);

/*
 * Parse a list file's text (buf, len bytes; no NUL needed; borrowed) and add its entries.
 * name is the file name used in messages and in jarm__fpentry_t.file (copied). All or
 * nothing: on the first bad line nothing of the file is added and err receives
 * "NAME:LINE: bad fingerprint 'x'" or "NAME:LINE: missing label". Returns the number of
 * entries added, or JARM_EINVAL (a bad line) or -ENOMEM. Labels returned by earlier matches
 * stay valid.
 */
int64_t jarm__fplist_parse(jarm__fplist_t *l, const char *name, const char *buf, size_t len,
                           char *err, size_t errlen);

/*
 * Load a list given as on the command line (`--match c2`): a bundled name (letters, digits,
 * '-' and '_' only) is looked up as NAME.tsv in each directory of dirs, a ':'-separated
 * search path (NULL or "" for none), first found wins; anything else, or a bare name found
 * in no directory, is a path, read whole and given to jarm__fplist_parse. Errors (a
 * negative code and a message in err): those of jarm__fplist_parse; a file that cannot be
 * read, -errno with "PATH: No such file or directory" (strerror); a bare name found nowhere,
 * -ENOENT with "NAME: no such list file, and no bundled list NAME.tsv in DIRS".
 */
int64_t jarm__fplist_load_spec(jarm__fplist_t *l, const char *spec, const char *dirs, char *err,
                               size_t errlen);

/*
 * Match fingerprint fp (len bytes; 62, or 30 for a prefix-only query; other lengths and
 * malformed text match nothing) against every loaded entry. Up to cap labels of exact
 * matches go to exact[] and their count to *nexact, up to cap labels of prefix matches to
 * prefix[] and *nprefix (see the top of this file for what each means); any of the four
 * may be NULL to skip that kind. The labels are borrowed from l and valid until
 * jarm__fplist_free. Returns the number of distinct labels found, exact and prefix
 * together: 0 for no match; more than *nexact + *nprefix when some did not fit in cap.
 * (Labels are deduplicated exactly for the first 256 of one match.)
 */
size_t jarm__fplist_match(const jarm__fplist_t *l, const char *fp, size_t len, const char **exact,
                          size_t *nexact, const char **prefix, size_t *nprefix, size_t cap);

/* What jarm__fplist_valid accepts besides a 62-character fingerprint. */
#define JARM__FP_HALF 1 /* the 30-character cipher/version half alone */
#define JARM__FP_LONG 2 /* 62 + 3k characters (k >= 1): an ALPN holding ',' (jarm(7)) */

/*
 * Whether s (len bytes) is a well-formed fingerprint, case-insensitively: n cipher codes
 * 00-46 each followed by a version code 0 or a-j, then 32 hex digits, with n = 10 (62
 * characters), or per flags n = 10 and no hex digits (30 characters, JARM__FP_HALF) or
 * n > 10 (JARM__FP_LONG). Returns len if so, else 0.
 */
size_t jarm__fplist_valid(const char *s, size_t len, unsigned flags);

#endif /* JARM_FPLIST_H_ */
