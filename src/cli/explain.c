/*
 * explain.c - the subcommands `jarmsweep explain FP` and `jarmsweep diff FP1 FP2`: their
 * arguments and errors; what they print is src/interpret/explain.c's.
 *
 * Both subcommands print to standard output only, exit 0 on success (for diff whether or not
 * the fingerprints differ), 2 on a usage error or a malformed fingerprint (one line on
 * standard error) and 1 when standard output cannot be written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "explain.h"
#include "jarm.h"

typedef enum { FMT_TEXT, FMT_NDJSON } fmt_t;

#define EXPLAIN_USAGE "jarmsweep explain [--format text|ndjson] FINGERPRINT"
#define DIFF_USAGE    "jarmsweep diff [--format text|ndjson] FINGERPRINT1 FINGERPRINT2"

/*
 * Parse the arguments of a subcommand (argv[0] is its name): --format/-f text|ndjson,
 * --help/-h, "--" ending the options, and exactly `want` positional arguments stored in pos.
 * Returns -1 to go on, or the exit code: 0 after --help, 2 after a usage error (one line).
 */
static int parse_args(int argc, char **argv, const char *usage, int want, const char **pos,
                      fmt_t *fmt)
{
    int npos = 0, opts_done = 0;
    const char *name = argv[0];

    *fmt = FMT_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (npos == want) {
                fprintf(stderr, "jarmsweep: %s: too many arguments (usage: %s)\n", name, usage);
                return 2;
            }
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("Usage: %s\n", usage);
            return 0;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "jarmsweep: %s: option %s needs an argument\n", name, a);
                return 2;
            }
            val = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            val = a + 9;
        } else if (strncmp(a, "-f", 2) == 0) {
            val = a + 2;
        } else {
            fprintf(stderr, "jarmsweep: %s: unknown option %s (usage: %s)\n", name, a, usage);
            return 2;
        }
        if (val == NULL)
            continue;
        if (strcmp(val, "text") == 0) {
            *fmt = FMT_TEXT;
        } else if (strcmp(val, "ndjson") == 0) {
            *fmt = FMT_NDJSON;
        } else {
            fprintf(stderr, "jarmsweep: %s: bad format '%s' (text or ndjson)\n", name, val);
            return 2;
        }
    }
    if (npos < want) {
        fprintf(stderr, "jarmsweep: usage: %s\n", usage);
        return 2;
    }
    return -1;
}

/*
 * Decode s into *fp, accepting upper-case hex. On failure print the one-line error, with
 * the argument's non-printable bytes escaped so it stays one line, and return -1.
 */
static int fp_load(const char *s, jarm__fpview_t *fp)
{
    size_t len = strlen(s);

    if (jarm__fpview_load(s, len, fp) == 0)
        return 0;
    fputs("jarmsweep: bad fingerprint '", stderr);
    for (size_t i = 0; i < len && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr,
            "%s': want 62 characters, 10 x (cipher code 00-46, version code 0 or a-j) "
            "then 32 hex digits\n",
            len > 200 ? "..." : "");
    return -1;
}

/* Flush standard output; 0, or 1 (the exit code) with a message when it failed. */
static int finish(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "jarmsweep: stdout: %s\n", strerror(errno ? errno : EIO));
        return 1;
    }
    return 0;
}

int jarm__cli_explain(int argc, char **argv)
{
    const char *arg[1];
    fmt_t fmt;
    jarm__fpview_t fp;
    int ret;

    if ((ret = parse_args(argc, argv, EXPLAIN_USAGE, 1, arg, &fmt)) >= 0)
        return ret;
    if (fp_load(arg[0], &fp) != 0)
        return 2;
    jarm__explain_write(stdout, &fp, fmt == FMT_NDJSON);
    return finish();
}

int jarm__cli_diff(int argc, char **argv)
{
    const char *arg[2];
    fmt_t fmt;
    jarm__fpview_t a, b;
    int ret;

    if ((ret = parse_args(argc, argv, DIFF_USAGE, 2, arg, &fmt)) >= 0)
        return ret;
    if (fp_load(arg[0], &a) != 0 || fp_load(arg[1], &b) != 0)
        return 2;
    jarm__diff_write(stdout, &a, &b, fmt == FMT_NDJSON);
    return finish();
}
