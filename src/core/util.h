/*
 * util.h - small helpers shared by the pure modules: quoting input for messages, hex digits,
 * the UTF-8 check and the one JSON string writer of the tree.
 *
 * The error convention of every layer (core, sweep, interpret, engine): a function that can
 * fail returns 0 (or a count, where it says so) on success and a negative code on failure,
 * a JARM_E* code (include/jarm.h) or a UV_E* one (on Unix a negated errno value, so the
 * pure layers use -ENOMEM and the like without linking libuv); jarm_strerror() names both.
 * Where a user must be told more, the function also takes an optional message buffer
 * (char *msg, size_t msglen: NULL/0 for none) and writes one line without a newline into it.
 * errno is read only where a system call is made and turned into such a code or message
 * there; exit codes exist only in the command line (src/cli/).
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

/* Whether c is white space in the C locale: ' ', '\t', '\n', '\v', '\f' or '\r'. */
int jarm__is_space(char c);

/* Narrow [*s, *s + *n) to drop white space (jarm__is_space) at both ends. */
void jarm__trim(const char **s, size_t *n);

/*
 * The value of hex digit c (0-15), or -1. Upper-case digits count only if upper_ok.
 */
int jarm__hex_digit(char c, int upper_ok);

/*
 * Write n bytes as 2n lower-case hex digits and a NUL into dst (2n + 1 bytes).
 */
void jarm__hex_encode(char *dst, const uint8_t *b, size_t n);

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
