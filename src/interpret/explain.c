/*
 * explain.c - what the probes of a fingerprint say, and where two fingerprints part: the text
 * and NDJSON that `jarmsweep explain` and `jarmsweep diff` print.
 *
 * A fingerprint is ten 3-character probe codes (two characters for the cipher suite the
 * server chose, one for the TLS version it answered with) followed by 32 hex digits of a
 * SHA-256 over the ALPN and extension lists of all ten replies. Only the first half can be
 * decoded back (jarm_fp_decode); the second half can only be compared, and when it differs
 * nothing says which probe's extensions changed, so a diff reports it as one verdict.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "jarm.h"
#include "util.h"

int jarm__fpview_load(const char *s, size_t len, jarm__fpview_t *fp)
{
    if (len != JARM_FP_LEN)
        return -1;
    for (size_t i = 0; i < len; i++)
        fp->text[i] = (char)tolower((unsigned char)s[i]);
    fp->text[len] = '\0';
    return jarm_fp_decode(fp->text, len, fp->half1, fp->half2, fp->probes) == 0 ? 0 : -1;
}

/* A JSON string, or null for NULL (the tree's one JSON string writer). */
static void json_str(FILE *out, const char *s)
{
    char buf[1024];
    jarm__out_t o = {buf, 0, sizeof(buf)};

    if (s == NULL) {
        fputs("null", out);
        return;
    }
    jarm__json_put(&o, s, strlen(s), 0);
    if (o.len <= o.cap) {
        fwrite(buf, 1, o.len, out);
        return;
    }
    o.p = malloc(o.len); /* longer than any string of the tables */
    o.cap = o.p != NULL ? o.len : 0;
    o.len = 0;
    jarm__json_put(&o, s, strlen(s), 0);
    if (o.p != NULL)
        fwrite(o.p, 1, o.len, out);
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
static void json_probe_fields(FILE *out, const jarm_fp_probe_t *p)
{
    char hex[5];
    fprintf(out, "\"code\":\"%s%c\",\"answered\":%s,\"cipher\":", p->cipher_code, p->version_code,
            p->answered ? "true" : "false");
    json_str(out, suite_hex(p, hex));
    fputs(",\"cipher_name\":", out);
    json_str(out, p->cipher_name);
    fputs(",\"version\":", out);
    json_str(out, p->version);
}

static unsigned answered_count(const jarm__fpview_t *fp)
{
    unsigned n = 0;
    for (unsigned i = 0; i < JARM_PROBES; i++)
        n += fp->probes[i].answered != 0;
    return n;
}

static void explain_text(FILE *out, const jarm__fpview_t *fp)
{
    fprintf(out, "fingerprint  %s\n", fp->text);
    fprintf(out, "ciphers      %s  (cipher and version chosen per probe)\n", fp->half1);
    if (answered_count(fp) == 0)
        fprintf(out, "extensions   %s  (none: no probe got a ServerHello)\n\n", fp->half2);
    else
        fprintf(out, "extensions   %s  (SHA-256 prefix of ALPN and extension lists)\n\n",
                fp->half2);
    fprintf(out, "%-2s  %-18s  %-4s  %-6s  %-44s  %s\n", "#", "probe", "code", "suite",
            "cipher suite", "version");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        const jarm_fp_probe_t *p = &fp->probes[i];
        char hex[5];
        const char *suite = suite_hex(p, hex);
        fprintf(out, "%-2u  %-18s  %s%c   %-6s  %-44s  %s\n", i + 1, jarm_probe_name(i),
                p->cipher_code, p->version_code, suite ? suite : "-", cipher_text(p),
                p->version ? p->version : "-");
        fprintf(out, "    %s\n", jarm_probe_intent(i));
    }
}

static void explain_ndjson(FILE *out, const jarm__fpview_t *fp)
{
    fprintf(out,
            "{\"fingerprint\":\"%s\",\"cipher_half\":\"%s\",\"extension_hash\":\"%s\","
            "\"answered\":%u,\"probes\":[",
            fp->text, fp->half1, fp->half2, answered_count(fp));
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        fprintf(out, "%s{\"probe\":%u,\"name\":", i ? "," : "", i + 1);
        json_str(out, jarm_probe_name(i));
        fputs(",\"intent\":", out);
        json_str(out, jarm_probe_intent(i));
        fputc(',', out);
        json_probe_fields(out, &fp->probes[i]);
        fputc('}', out);
    }
    fputs("]}\n", out);
}

/* How probe i differs between a and b: bit 1 cipher, bit 2 version; 0 when equal. */
static unsigned probe_delta(const jarm__fpview_t *a, const jarm__fpview_t *b, unsigned i)
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

static void diff_side(FILE *out, char label, const jarm_fp_probe_t *p)
{
    char hex[5];
    const char *suite = suite_hex(p, hex);
    fprintf(out, "    %c  %s%c  %-6s  %-44s  %s\n", label, p->cipher_code, p->version_code,
            suite ? suite : "-", cipher_text(p), p->version ? p->version : "-");
}

static void diff_text(FILE *out, const jarm__fpview_t *a, const jarm__fpview_t *b)
{
    unsigned ndiff = 0, nc = 0, nv = 0;
    int ext = strcmp(a->half2, b->half2) != 0;

    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        ndiff += d != 0;
        nc += (d & 1) != 0;
        nv += (d & 2) != 0;
    }
    fprintf(out, "a  %s\nb  %s\n", a->text, b->text);
    if (ndiff == 0 && !ext) {
        fprintf(out, "identical\n");
        return;
    }
    fprintf(out, "%u of %u probes differ (cipher in %u, version in %u); extension hashes %s\n",
            ndiff, JARM_PROBES, nc, nv, ext ? "differ" : "match");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        if (d == 0)
            continue;
        fprintf(out, "\n%-2u  %-18s  differs in %s\n", i + 1, jarm_probe_name(i), delta_text(d));
        diff_side(out, 'a', &a->probes[i]);
        diff_side(out, 'b', &b->probes[i]);
    }
    if (ext)
        fprintf(out,
                "\nextensions differ (which probe's ALPN or extension list changed is not "
                "recoverable from a fingerprint)\n    a  %s\n    b  %s\n",
                a->half2, b->half2);
    else
        fprintf(out, "\nextensions match  %s\n", a->half2);
}

static void diff_ndjson(FILE *out, const jarm__fpview_t *a, const jarm__fpview_t *b)
{
    unsigned ndiff = 0;
    int ext = strcmp(a->half2, b->half2) != 0, first = 1;

    for (unsigned i = 0; i < JARM_PROBES; i++)
        ndiff += probe_delta(a, b, i) != 0;
    fprintf(out, "{\"a\":\"%s\",\"b\":\"%s\",\"identical\":%s,\"probes_differ\":[", a->text,
            b->text, ndiff == 0 && !ext ? "true" : "false");
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (probe_delta(a, b, i) != 0) {
            fprintf(out, "%s%u", first ? "" : ",", i + 1);
            first = 0;
        }
    fprintf(out,
            "],\"extension_hash_differs\":%s,\"extension_hash_a\":\"%s\","
            "\"extension_hash_b\":\"%s\",\"probes\":[",
            ext ? "true" : "false", a->half2, b->half2);
    first = 1;
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned d = probe_delta(a, b, i);
        if (d == 0)
            continue;
        fprintf(out, "%s{\"probe\":%u,\"name\":", first ? "" : ",", i + 1);
        first = 0;
        json_str(out, jarm_probe_name(i));
        fputs(",\"intent\":", out);
        json_str(out, jarm_probe_intent(i));
        fprintf(out, ",\"cipher_differs\":%s,\"version_differs\":%s,\"a\":{",
                d & 1 ? "true" : "false", d & 2 ? "true" : "false");
        json_probe_fields(out, &a->probes[i]);
        fputs("},\"b\":{", out);
        json_probe_fields(out, &b->probes[i]);
        fputs("}}", out);
    }
    fputs("]}\n", out);
}

void jarm__explain_write(FILE *out, const jarm__fpview_t *fp, int ndjson)
{
    if (ndjson)
        explain_ndjson(out, fp);
    else
        explain_text(out, fp);
}

void jarm__diff_write(FILE *out, const jarm__fpview_t *a, const jarm__fpview_t *b, int ndjson)
{
    if (ndjson)
        diff_ndjson(out, a, b);
    else
        diff_text(out, a, b);
}
