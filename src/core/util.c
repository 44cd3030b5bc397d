/*
 * util.c - see util.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void jarm__quote(char *dst, size_t cap, const char *s, size_t n, size_t max, int keep_utf8)
{
    size_t o = 0, i;

    if (cap == 0)
        return;
    for (i = 0; i < n && i < max && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_utf8)) ? '?' : (char)c;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

int jarm__read_file(const char *path, char **bufp, size_t *lenp, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        (void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            char *p = realloc(buf, ncap);
            if (p == NULL) {
                (void)snprintf(err, errlen, "%s: out of memory", path);
                goto Fail;
            }
            buf = p;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        (void)snprintf(err, errlen, "%s: read error", path);
        goto Fail;
    }
    (void)fclose(f);
    *bufp = buf;
    *lenp = len;
    return 0;
Fail:
    free(buf);
    (void)fclose(f);
    return -1;
}
