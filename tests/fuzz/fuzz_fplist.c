/*
 * fuzz_fplist.c - the fingerprint list format (jarm__fplist_parse) and the baseline formats
 * (jarm__baseline_parse: text, NDJSON, CSV) on arbitrary bytes; both parsers get every input.
 *
 * Properties checked:
 *   - neither parser crashes or reads outside the input;
 *   - on failure the message is "fuzz:LINE: ..." with one of the documented reasons, and
 *     nothing was added (all or nothing);
 *   - list: every entry is a well-formed lower-case fingerprint of 62 or 30 characters with
 *     a non-empty label, and matching it reports its label (exact for a whole fingerprint,
 *     prefix for a half), unless it is zero and so never matches; a query made of the
 *     input's first bytes never crashes the matcher;
 *   - baseline: rows taken + rows skipped <= lines; every record's key has a slot, and
 *     checking its own host, port and fingerprint says `same` (so normalising a host
 *     twice gives the same key), while a different fingerprint says `changed`.
 * Any violation aborts.
 */
#include <string.h>

#include "baseline.h"
#include "fplist.h"
#include "fuzz.h"

/* At most this many entries and records are checked one by one, to keep runs fast. */
#define CHECK_MAX 256

static int all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

static int has_label(const char *const *v, size_t n, const char *label)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], label) == 0)
            return 1;
    return 0;
}

static void fuzz_list(const char *buf, size_t size)
{
    jarm__fplist_t l;
    char err[256] = "";
    int64_t n;

    jarm__fplist_init(&l);
    n = jarm__fplist_parse(&l, "fuzz", buf, size, err, sizeof(err));
    if (n < 0) {
        FUZZ_CHECK(strncmp(err, "fuzz:", 5) == 0);
        FUZZ_CHECK(strstr(err, ": bad fingerprint '") != NULL ||
                   strstr(err, ": missing label") != NULL || strstr(err, "out of memory") != NULL);
        FUZZ_CHECK(l.n == 0);
        goto Exit;
    }
    FUZZ_CHECK((size_t)n == l.n);
    for (size_t i = 0; i < l.n && i < CHECK_MAX; i++) {
        const jarm__fpentry_t *e = &l.v[i];
        const char *ex[64], *pr[64];
        size_t ne, np, found;

        FUZZ_CHECK(e->len == 62 || e->len == 30);
        FUZZ_CHECK(strlen(e->fp) == e->len);
        FUZZ_CHECK(jarm__fplist_valid(e->fp, e->len, JARM__FP_HALF) == e->len);
        for (size_t k = 0; k < e->len; k++)
            FUZZ_CHECK(!(e->fp[k] >= 'A' && e->fp[k] <= 'Z'));
        FUZZ_CHECK(e->label[0] != '\0' && e->source != NULL && e->notes != NULL);
        found = jarm__fplist_match(&l, e->fp, e->len, ex, &ne, pr, &np, 64);
        FUZZ_CHECK(ne + np <= found);
        if (found > 64)
            continue; /* the label may be among those that did not fit */
        if (e->len == 62 && !all_zero(e->fp, 62))
            FUZZ_CHECK(has_label(ex, ne, e->label));
        else if (e->len == 30 && !all_zero(e->fp, 30))
            FUZZ_CHECK(has_label(pr, np, e->label));
        else
            FUZZ_CHECK(found == 0);
    }
    if (size >= 62)
        (void)jarm__fplist_match(&l, buf, 62, NULL, NULL, NULL, NULL, 0);
    if (size >= 30)
        (void)jarm__fplist_match(&l, buf, 30, NULL, NULL, NULL, NULL, 0);
Exit:
    jarm__fplist_free(&l);
}

static void fuzz_baseline(const char *buf, size_t size)
{
    jarm__baseline_t b;
    char err[256] = "";
    int64_t n;
    size_t lines = 0;

    for (size_t i = 0; i < size; i++)
        lines += buf[i] == '\n';
    lines += size > 0 && buf[size - 1] != '\n';

    jarm__baseline_init(&b);
    n = jarm__baseline_parse(&b, "fuzz", buf, size, err, sizeof(err));
    if (n < 0) {
        FUZZ_CHECK(strncmp(err, "fuzz:", 5) == 0);
        FUZZ_CHECK(b.n == 0 && b.tab.keys == 0 && b.rows == 0 && b.skipped == 0 && b.alen == 0);
        goto Exit;
    }
    FUZZ_CHECK((uint64_t)n == b.rows);
    FUZZ_CHECK(b.rows + b.skipped <= lines);
    FUZZ_CHECK(b.tab.keys <= b.n && b.n <= b.rows);
    for (size_t i = 0; i < b.n && i < CHECK_MAX; i++) {
        const jarm__blrec_t *r = &b.v[i];
        const char *host = b.arena + r->host, *fp = b.arena + r->fp, *old;
        char other[JARM__FPLIST_FULL + 1];

        FUZZ_CHECK(r->host_len > 0 && strlen(host) == r->host_len);
        FUZZ_CHECK(strlen(fp) == r->fp_len);
        FUZZ_CHECK(jarm__fplist_valid(fp, r->fp_len, JARM__FP_LONG) == r->fp_len);
        FUZZ_CHECK(r->port >= 1);
        FUZZ_CHECK(jarm__baseline_check(&b, host, r->host_len, r->port, fp, r->fp_len, &old) ==
                   JARM__BASELINE_SAME);
        FUZZ_CHECK(old == NULL);
        FUZZ_CHECK(jarm__baseline_lookup(&b, host, r->host_len, r->port) != NULL);
        /* A fingerprint no record has: 62 'f's is not well formed, so never stored. */
        memset(other, 'f', JARM__FPLIST_FULL);
        other[JARM__FPLIST_FULL] = '\0';
        FUZZ_CHECK(jarm__baseline_check(&b, host, r->host_len, r->port, other, JARM__FPLIST_FULL,
                                        &old) == JARM__BASELINE_CHANGED);
        FUZZ_CHECK(old != NULL && strlen(old) >= JARM__FPLIST_FULL);
    }
Exit:
    jarm__baseline_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_list((const char *)data, size);
    fuzz_baseline((const char *)data, size);
    return 0;
}
