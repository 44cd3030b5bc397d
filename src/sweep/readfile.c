/*
 * readfile.c - see readfile.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readfile.h"

int jarm__read_file(const char *path, char **bufp, size_t *lenp, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ret = -EIO;

    if (f == NULL) {
        ret = errno ? -errno : -EIO;
        (void)snprintf(err, errlen, "%s: %s", path, strerror(-ret));
        return ret;
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            char *p = realloc(buf, ncap);
            if (p == NULL) {
                (void)snprintf(err, errlen, "%s: out of memory", path);
                ret = -ENOMEM;
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
    return ret;
}
