/*
 * explain.c - `jarmsweep explain FP` and `jarmsweep diff FP1 FP2`: what the probes of a
 * fingerprint say, and where two fingerprints part.
 *
 * A fingerprint is ten 3-character probe codes (two characters for the cipher suite the
 * server chose, one for the TLS version it answered with) followed by 32 hex digits of a
 * SHA-256 over the ALPN and extension lists of all ten replies. Only the first half can be
 * decoded back (jarm_fp_decode); the second half can only be compared, and when it differs
 * nothing says which probe's extensions changed, so diff reports it as one verdict.
 *
 * Both subcommands print to standard output only, exit 0 on success (for diff whether or not
 * the fingerprints differ), 2 on a usage error or a malformed fingerprint (one line on
 * standard error) and 1 when standard output cannot be written.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jarm.h"
#include "util.h"

typedef enum { FMT_TEXT, FMT_NDJSON } fmt_t;

#define EXPLAIN_USAGE "jarmsweep explain [--format text|ndjson] FINGERPRINT"
#define DIFF_USAGE    "jarmsweep diff [--format text|ndjson] FINGERPRINT1 FINGERPRINT2"

/* A decoded fingerprint: the normalised text and its parts. */
typedef struct fp_s {
    char text[JARM_FP_LEN + 1];
    char half1[31], half2[33];
    jarm_fp_probe_t probes[JARM_PROBES];
} fp_t;

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
static int fp_load(const char *s, fp_t *fp)
{
    size_t len = strlen(s);

    if (len == JARM_FP_LEN) {
        for (size_t i = 0; i < len; i++)
            fp->text[i] = (char)tolower((unsigned char)s[i]);
        fp->text[len] = '\0';
        if (jarm_fp_decode(fp->text, len, fp->half1, fp->half2, fp->probes) == 0)
            return 0;
    }
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

/* A JSON string, or null for NULL (the tree's one JSON string writer). */
static void json_str(const char *s)
{
    char buf[1024];
    jarm__out_t o = {buf, 0, sizeof(buf)};

    if (s == NULL) {
        fputs("null", stdout);
        return;
    }
    jarm__json_put(&o, s, strlen(s), 0);
    if (o.len <= o.cap) {
        fwrite(buf, 1, o.len, stdout);
        return;
    }
    o.p = malloc(o.len); /* longer than any string of the tables */
    o.cap = o.p != NULL ? o.len : 0;
    o.len = 0;
    jarm__json_put(&o, s, strlen(s), 0);
    if (o.p != NULL)
        fwrite(o.p, 1, o.len, stdout);
    free(o.p);
}

/* The suite as 4 hex digits, or NULL when the code names none (00 or 46). */
static const char *suite_hex(const jarm_fp_probe_t *p, char buf[5])
{
    if (p->cipher_name == NULL)
        return NULL;
    snprintf(buf, 5, "%04x", p->cipher);
    return buf;
}

/* What the cipher column says for a probe; never NULL. */
static const char *cipher_text(const jarm_fp_probe_t *p)
{
    if (!p->answered)
        return "(no ServerHello)";
    if (p->cipher_name != NULL)
        return p->cipher_name;
    return strcmp(p->cipher_code, "00") == 0 ? "(none)" : "(not in the JARM table)";
}

/* The fields of one decoded probe, inside a JSON object. */
static void json_probe_fields(const jarm_fp_probe_t *p)
{
    char hex[5];
    printf("\"code\":\"%s%c\",\"answered\":%s,\"cipher\":", p->cipher_code, p->version_code,
           p->answered ? "true" : "false");
    json_str(suite_hex(p, hex));
    fputs(",\"cipher_name\":", stdout);
    json_str(p->cipher_name);
    fputs(",\"version\":", stdout);
    json_str(p->version);
}

static unsigned answered_count(const fp_t *fp)
{
    unsigned n = 0;
    for (unsigned i = 0; i < JARM_PROBES; i++)
        n += fp->probes[i].answered != 0;
    return n;
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

static void explain_text(const fp_t *fp)
{
    printf("fingerprint  %s\n", fp->text);
    printf("ciphers      %s  (cipher and version chosen per probe)\n", fp->half1);
    if (answered_count(fp) == 0)
        printf("extensions   %s  (none: no probe got a ServerHello)\n\n", fp->half2);
    else
        printf("extensions   %s  (SHA-256 prefix of ALPN and extension lists)\n\n", fp->half2);
    printf("%-2s  %-18s  %-4s  %-6s  %-44s  %s\n", "#", "probe", "code", "suite", "cipher suite",
           "version");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        const jarm_fp_probe_t *p = &fp->probes[i];
        char hex[5];
        const char *suite = suite_hex(p, hex);
        printf("%-2u  %-18s  %s%c   %-6s  %-44s  %s\n", i + 1, jarm_probe_name(i), p->cipher_code,
               p->version_code, suite ? suite : "-", cipher_text(p), p->version ? p->version : "-");
        printf("    %s\n", jarm_probe_intent(i));
    }
}

static void explain_ndjson(const fp_t *fp)
{
    printf("{\"fingerprint\":\"%s\",\"cipher_half\":\"%s\",\"extension_hash\":\"%s\","
           "\"answered\":%u,\"probes\":[",
           fp->text, fp->half1, fp->half2, answered_count(fp));
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        printf("%s{\"probe\":%u,\"name\":", i ? "," : "", i + 1);
        json_str(jarm_probe_name(i));
        fputs(",\"intent\":", stdout);
        json_str(jarm_probe_intent(i));
        putchar(',');
        json_probe_fields(&fp->probes[i]);
        putchar('}');
    }
    fputs("]}\n", stdout);
}

int jarm__cli_explain(int argc, char **argv)
{
    const char *arg[1];
    fmt_t fmt;
    fp_t fp;
    int ret;

    if ((ret = parse_args(argc, argv, EXPLAIN_USAGE, 1, arg, &fmt)) >= 0)
        return ret;
    if (fp_load(arg[0], &fp) != 0)
        return 2;
    if (fmt == FMT_NDJSON)
        explain_ndjson(&fp);
    else
        explain_text(&fp);
    return finish();
}

/* How probe i differs between a and b: bit 1 cipher, bit 2 version; 0 when equal. */
static unsigned probe_delta(const fp_t *a, const fp_t *b, unsigned i)
{
    const jarm_fp_probe_t *p = &a->probes[i], *q = &b->probes[i];
    return (strcmp(p->cipher_code, q->cipher_code) != 0 ? 1u : 0u) |
           (p->version_code != q->version_code ? 2u : 0u);
}

static const char *delta_text(unsigned d)
{
    static const char *const names[] = {"same", "cipher", "version", "cipher and version"};
    return names[d & 3];
}

static void diff_side(char label, const jarm_fp_probe_t *p)
{
    char hex[5];
    const char *suite = suite_hex(p, hex);
    printf("    %c  %s%c  %-6s  %-44s  %s\n", label, p->cipher_code, p->version_code,
           suite ? suite : "-", cipher_text(p), p->version ? p->version : "-");
}

static void diff_text(const fp_t *a, const fp_t *b)
{
    unsigned ndiff = 0, nc = 0, nv = 0;
    int ext = strcmp(a->half2, b->half2) != 0;

    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        ndiff += d != 0;
        nc += (d & 1) != 0;
        nv += (d & 2) != 0;
    }
    printf("a  %s\nb  %s\n", a->text, b->text);
    if (ndiff == 0 && !ext) {
        printf("identical\n");
        return;
    }
    printf("%u of %u probes differ (cipher in %u, version in %u); extension hashes %s\n", ndiff,
           JARM_PROBES, nc, nv, ext ? "differ" : "match");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        if (d == 0)
            continue;
        printf("\n%-2u  %-18s  differs in %s\n", i + 1, jarm_probe_name(i), delta_text(d));
        diff_side('a', &a->probes[i]);
        diff_side('b', &b->probes[i]);
    }
    if (ext)
        printf("\nextensions differ (which probe's ALPN or extension list changed is not "
               "recoverable from a fingerprint)\n    a  %s\n    b  %s\n",
               a->half2, b->half2);
    else
        printf("\nextensions match  %s\n", a->half2);
}

static void diff_ndjson(const fp_t *a, const fp_t *b)
{
    unsigned ndiff = 0;
    int ext = strcmp(a->half2, b->half2) != 0, first = 1;

    for (unsigned i = 0; i < JARM_PROBES; i++)
        ndiff += probe_delta(a, b, i) != 0;
    printf("{\"a\":\"%s\",\"b\":\"%s\",\"identical\":%s,\"probes_differ\":[", a->text, b->text,
           ndiff == 0 && !ext ? "true" : "false");
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (probe_delta(a, b, i) != 0) {
            printf("%s%u", first ? "" : ",", i + 1);
            first = 0;
        }
    printf("],\"extension_hash_differs\":%s,\"extension_hash_a\":\"%s\","
           "\"extension_hash_b\":\"%s\",\"probes\":[",
           ext ? "true" : "false", a->half2, b->half2);
    first = 1;
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        if (d == 0)
            continue;
        printf("%s{\"probe\":%u,\"name\":", first ? "" : ",", i + 1);
        first = 0;
        json_str(jarm_probe_name(i));
        fputs(",\"intent\":", stdout);
        json_str(jarm_probe_intent(i));
        printf(",\"cipher_differs\":%s,\"version_differs\":%s,\"a\":{", d & 1 ? "true" : "false",
               d & 2 ? "true" : "false");
        json_probe_fields(&a->probes[i]);
        fputs("},\"b\":{", stdout);
        json_probe_fields(&b->probes[i]);
        fputs("}}", stdout);
    }
    fputs("]}\n", stdout);
}

int jarm__cli_diff(int argc, char **argv)
{
    const char *arg[2];
    fmt_t fmt;
    fp_t a, b;
    int ret;

    if ((ret = parse_args(argc, argv, DIFF_USAGE, 2, arg, &fmt)) >= 0)
        return ret;
    if (fp_load(arg[0], &a) != 0 || fp_load(arg[1], &b) != 0)
        return 2;
    if (fmt == FMT_NDJSON)
        diff_ndjson(&a, &b);
    else
        diff_text(&a, &b);
    return finish();
}
