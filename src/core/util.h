/*
 * util.h - small helpers shared by the pure modules: quoting input for messages, hex digits.
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

#endif /* JARM_UTIL_H_ */
