/*
 * util.h - small helpers shared by the pure modules: quoting input for messages, reading a
 * whole file, the UTF-8 check and the one JSON string writer of the tree.
 */
#ifndef JARM_UTIL_H_
#define JARM_UTIL_H_

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/*
 * Copy at most max bytes of s (n bytes) into dst (cap bytes, NUL-terminated) for an error
 * message, "..." marking a cut: control bytes become '?', and so do bytes >= 0x80 unless
 * keep_utf8 (for text such as labels that may be UTF-8). cap >= max + 4 keeps all max.
 */
void jarm__quote(char *dst, size_t cap, const char *s, size_t n, size_t max, int keep_utf8);

/*
 * Read the whole file at path into a malloc'd buffer (*buf, *len; free it). Returns 0, or -1
 * with "PATH: reason" in err.
 */
int jarm__read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s (n > 0 bytes available), or 0 if
 * there is none: Python's strict decoder, so no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 */
size_t jarm__utf8_len(const uint8_t *s, size_t n);

/* Non-zero if s[0..n) is well-formed UTF-8 throughout. */
int jarm__utf8_valid(const uint8_t *s, size_t n);

/* jarm__json_put flags. */
enum {
    /* Printable ASCII only: every byte outside 0x20..0x7e (DEL and UTF-8 included) becomes
     * \u00XX, control characters too (no \n short forms). Without it, well-formed UTF-8 and
     * DEL are written as they are, \n \r \t get their short escapes, and other control
     * bytes and bytes that are not UTF-8 become \u00XX. */
    JARM__JSON_ASCII = 1
};

/*
 * s[0..n) (any bytes) as a JSON string, quotes included, to o. '"' and '\' are always
 * escaped as \" and \\; hex digits are lowercase.
 */
void jarm__json_put(jarm__out_t *o, const char *s, size_t n, unsigned flags);

/* v in decimal, to o. */
void jarm__out_u64(jarm__out_t *o, uint64_t v);

#endif /* JARM_UTIL_H_ */
