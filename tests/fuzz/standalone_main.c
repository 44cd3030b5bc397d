/*
 * standalone_main.c - replay driver for builds without a fuzzing engine.
 *
 * Usage: fuzz_TARGET FILE|DIR...
 *
 * Every file argument, and every regular file directly inside a directory argument (in
 * name order, dot files skipped), is read into a heap buffer of exactly its size and passed
 * to LLVMFuzzerTestOneInput. The exact size matters: a parser that reads one byte too far
 * then touches memory the sanitizers (or a guard) can see, where a larger stack or static
 * buffer would hide it (c-ares's test/ares-test-fuzz.c does the same for the same reason).
 * A missing argument or unreadable file is an error, so a broken corpus path cannot make the
 * regression test pass vacuously. Exit status 0 when every input ran.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int ret = -1;

    if (f == NULL) {
        (void)fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        (void)fprintf(stderr, "%s: cannot size the file\n", path);
        goto Exit;
    }
    /* Exactly size bytes; malloc(0) may return NULL, which is a valid empty input. */
    buf = malloc((size_t)size);
    if (buf == NULL && size > 0) {
        (void)fprintf(stderr, "%s: out of memory\n", path);
        goto Exit;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        (void)fprintf(stderr, "%s: short read\n", path);
        goto Exit;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    ret = 0;
Exit:
    free(buf);
    (void)fclose(f);
    return ret;
}

static int dot_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -1 on error. */
static long run_dir(const char *dir)
{
    struct dirent **names;
    long count = 0;
    int n = scandir(dir, &names, dot_filter, alphasort);

    if (n < 0) {
        (void)fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + 1 + strlen(names[i]->d_name) + 1;
        char *path = malloc(len);
        struct stat st;

        if (path == NULL) {
            count = -1;
        } else {
            (void)snprintf(path, len, "%s/%s", dir, names[i]->d_name);
            if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                count = run_file(path) == 0 ? count + 1 : -1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;

    if (argc < 2) {
        (void)fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;

        if (stat(argv[i], &st) != 0) {
            (void)fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        (void)fprintf(stderr, "%s: %ld input%s\n", argv[i], n, n == 1 ? "" : "s");
        total += n;
    }
    (void)fprintf(stderr, "replayed %ld input%s without a failure\n", total, total == 1 ? "" : "s");
    return 0;
}
