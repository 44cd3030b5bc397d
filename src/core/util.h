/*
 * util.h - small helpers shared by the pure modules: quoting input for messages and reading
 * a whole file.
 */
#ifndef JARM_UTIL_H_
#define JARM_UTIL_H_

#include <stddef.h>

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

#endif /* JARM_UTIL_H_ */
