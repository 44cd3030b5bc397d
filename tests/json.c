/*
 * json.c - the vector helpers of the test suites over the tree's JSON reader (json.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *json_hex(const json_t *v, size_t *n)
{
    uint8_t *out;

    if (!json_is_str(v) || v->len % 2 != 0)
        return NULL;
    out = malloc(v->len / 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < v->len / 2; i++) {
        int hi = hexval(v->str[2 * i]), lo = hexval(v->str[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = v->len / 2;
    return out;
}

json_t *json_load_vector(int argc, char **argv, const char *file)
{
    const char *dir = argc > 1 ? argv[1] : getenv("JARM_VECTORS_DIR");
    char path[4096], err[256];
    FILE *f = NULL;
    char *text = NULL;
    long size;
    json_t *root = NULL;

    if (dir == NULL || *dir == '\0') {
        printf("Bail out! no vectors directory: pass it as the first argument or set "
               "JARM_VECTORS_DIR\n");
        return NULL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        printf("Bail out! vectors path too long\n");
        return NULL;
    }
    if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        printf("Bail out! cannot open %s\n", path);
        goto Exit;
    }
    if ((text = malloc((size_t)size + 1)) == NULL ||
        fread(text, 1, (size_t)size, f) != (size_t)size) {
        printf("Bail out! cannot read %s\n", path);
        goto Exit;
    }
    text[size] = '\0';
    if ((root = json_parse(text, (size_t)size, err, sizeof(err))) == NULL)
        printf("Bail out! %s: %s\n", path, err);
Exit:
    if (f != NULL)
        (void)fclose(f);
    free(text);
    return root;
}
