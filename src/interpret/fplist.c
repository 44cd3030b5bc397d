/*
 * fplist.c - fingerprint lists: parsing the TSV files and matching with two hash tables.
 *
 * Each file's text is copied once into a buffer the list keeps, and its columns are cut in
 * place with NULs, so an entry's label, source and notes are pointers into that buffer and
 * stay valid, unmoved, until the list is freed, whatever is loaded later.
 *
 * Two open-addressing tables index the entries: `full` by the whole 62 characters and
 * `half` by the first 30. A slot holds one key's hash and the first and last entry of the
 * key's chain; entries with the same key are linked through next_full / next_half in load
 * order, which is the order labels are reported in. A 62-character entry is in both tables
 * (under its whole text and its half), a 30-character entry only in `half`. The tables are
 * rebuilt from the entries after each file (a file is committed all or nothing, so a bad
 * file never touches them) at twice the entry count or more, so a probe sequence is short
 * and a match is two lookups plus the walk of two (normally one-entry) chains.
 *
 * The zero fingerprint and the all-zero half are not indexed at all, which is how they
 * never match: every failed scan has them, so they carry no information about a server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "fplist.h"
#include "jarm.h"
#include "readfile.h"
#include "util.h"

#define NONE JARM__HTAB_NONE

/* The longest bundled name accepted by jarm__fplist_load_spec. */
#define NAME_MAX_LEN 64

/* How much of a bad column an error message quotes. */
#define QUOTE_MAX 70

static const char zeros[JARM__FPLIST_FULL + 1] =
    "00000000000000000000000000000000000000000000000000000000000000";

/* ASCII lower case, whatever the locale. */
static char lower(char c)
{
    static const char az[] = "abcdefghijklmnopqrstuvwxyz";
    if (c >= 'A' && c <= 'Z')
        return az[c - 'A'];
    return c;
}

/* Lists may spell fingerprints in upper case. */
static int hexval(char c)
{
    return jarm__hex_digit(c, 1);
}

size_t jarm__fplist_valid(const char *s, size_t len, unsigned flags)
{
    size_t codes;

    if (len == JARM__FPLIST_HALF && (flags & JARM__FP_HALF))
        codes = len;
    else if (len == JARM__FPLIST_FULL ||
             ((flags & JARM__FP_LONG) && len > JARM__FPLIST_FULL && (len - 32) % 3 == 0))
        codes = len - 32;
    else
        return 0;
    for (size_t i = 0; i < codes; i += 3) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        char v = lower(s[i + 2]);
        if (hi < 0 || lo < 0 || hi * 16 + lo > 0x46)
            return 0;
        if (v != '0' && (v < 'a' || v > 'j'))
            return 0;
    }
    for (size_t i = codes; i < len; i++)
        if (hexval(s[i]) < 0)
            return 0;
    return len;
}

void jarm__fplist_init(jarm__fplist_t *l)
{
    memset(l, 0, sizeof(*l));
}

void jarm__fplist_free(jarm__fplist_t *l)
{
    for (size_t i = 0; i < l->nbufs; i++)
        free(l->bufs[i]);
    free(l->bufs);
    free(l->v);
    jarm__htab_free(&l->full);
    jarm__htab_free(&l->half);
    jarm__htab_free(&l->cert);
    jarm__fplist_init(l);
}

/* Whether entry idx of the list ctx starts with key (klen bytes). */
static int entry_eq(const void *ctx, uint32_t idx, const void *key, size_t klen)
{
    const jarm__fplist_t *l = ctx;
    return memcmp(l->v[idx].fp, key, klen) == 0;
}

/* The slot of fingerprint key (klen bytes: the whole or the half) in table t. */
static jarm__htslot_t *slot_find(const jarm__fplist_t *l, const jarm__htab_t *t, const char *key,
                                 size_t klen)
{
    return jarm__htab_find(t, jarm__hash_bytes(key, klen, 0), entry_eq, l, key, klen);
}

/* Append entry idx to the chain of its key (its first klen characters) in table t; full:
 * the chain goes through next_full (the whole fingerprint or a certificate), else
 * next_half. */
static void slot_add(jarm__fplist_t *l, jarm__htab_t *t, uint32_t idx, size_t klen, int full)
{
    jarm__fpentry_t *e = &l->v[idx];
    uint64_t h = jarm__hash_bytes(e->fp, klen, 0);
    uint32_t prev = jarm__htab_append(t, jarm__htab_find(t, h, entry_eq, l, e->fp, klen), h, idx);

    if (prev == NONE)
        return;
    if (full)
        l->v[prev].next_full = idx;
    else
        l->v[prev].next_half = idx;
}

/* Rebuild the tables from the entries. Returns 0, or -1 if out of memory (l unchanged). */
static int reindex(jarm__fplist_t *l)
{
    jarm__htab_t full, half, cert;

    jarm__htab_init(&full);
    jarm__htab_init(&half);
    jarm__htab_init(&cert);
    if (jarm__htab_reset(&full, 2 * l->n) != 0 || jarm__htab_reset(&half, 2 * l->n) != 0 ||
        jarm__htab_reset(&cert, 2 * l->n) != 0) {
        jarm__htab_free(&full);
        jarm__htab_free(&half);
        return -1;
    }
    jarm__htab_free(&l->full);
    jarm__htab_free(&l->half);
    jarm__htab_free(&l->cert);
    l->full = full;
    l->half = half;
    l->cert = cert;
    l->ncert = 0;
    for (size_t i = 0; i < l->n; i++) {
        jarm__fpentry_t *e = &l->v[i];
        e->next_full = e->next_half = NONE;
        if (e->kind == JARM__FP_KIND_CERT) {
            slot_add(l, &l->cert, (uint32_t)i, JARM__FPLIST_CERT, 1);
            l->ncert++;
            continue;
        }
        if (e->len == JARM__FPLIST_FULL && memcmp(e->fp, zeros, JARM__FPLIST_FULL) != 0)
            slot_add(l, &l->full, (uint32_t)i, JARM__FPLIST_FULL, 1);
        if (memcmp(e->fp, zeros, JARM__FPLIST_HALF) != 0)
            slot_add(l, &l->half, (uint32_t)i, JARM__FPLIST_HALF, 0);
    }
    return 0;
}

/* Keep p (malloc'ed) until the list is freed. Returns 0, or -1 (p is then freed). */
static int keep(jarm__fplist_t *l, char *p)
{
    char **nb = realloc(l->bufs, (l->nbufs + 1) * sizeof(*nb));
    if (nb == NULL) {
        free(p);
        return -1;
    }
    l->bufs = nb;
    l->bufs[l->nbufs++] = p;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim blanks (not TABs: they separate columns) around [*s, *s + *n). */
static void trim(char **s, size_t *n)
{
    while (*n > 0 && is_blank((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

static int grow(jarm__fplist_t *l)
{
    size_t ncap = l->cap ? 2 * l->cap : 64;
    jarm__fpentry_t *nv;

    if (l->n >= NONE - 1)
        return -1;
    nv = realloc(l->v, ncap * sizeof(*nv));
    if (nv == NULL)
        return -1;
    l->v = nv;
    l->cap = ncap;
    return 0;
}

/* The kind column: JARM__FP_KIND_*, or -1. */
static int kind_of(const char *k)
{
    if (k[0] == '\0' || strcmp(k, "jarm") == 0)
        return JARM__FP_KIND_JARM;
    if (strcmp(k, "cert-sha256") == 0)
        return JARM__FP_KIND_CERT;
    return -1;
}

/*
 * A certificate's SHA-256: 64 hex digits, or 32 hex pairs separated by ':' (as `openssl
 * x509 -fingerprint -sha256` prints it), any case. Returns 0 and, if out is not NULL,
 * writes the 64 lower-case digits there; -1 if malformed.
 */
static int cert_hex(const char *s, size_t n, char *out)
{
    size_t step = n == 95 ? 3 : 2, k = 0;

    if (n != 64 && n != 95)
        return -1;
    for (size_t i = 0; i < n; i += step, k += 2) {
        if (hexval(s[i]) < 0 || hexval(s[i + 1]) < 0 || (step == 3 && i + 2 < n && s[i + 2] != ':'))
            return -1;
        if (out != NULL) {
            out[k] = lower(s[i]);
            out[k + 1] = lower(s[i + 1]);
        }
    }
    return 0;
}

/* Copies of buf (NUL-terminated) and name that live as long as l. Returns 0, or -1 when out of
 * memory (whatever was kept stays on l->bufs for the caller to drop). */
static int keep_input(jarm__fplist_t *l, const char *name, const char *buf, size_t len,
                      char **text_out, char **fname_out)
{
    size_t namelen = strlen(name);
    char *text = malloc(len + 1), *fname = malloc(namelen + 1);

    if (text == NULL || fname == NULL) {
        free(text);
        free(fname);
        return -1;
    }
    memcpy(fname, name, namelen + 1);
    if (keep(l, fname) != 0) {
        free(text);
        return -1;
    }
    if (len > 0)
        memcpy(text, buf, len);
    text[len] = '\0';
    if (keep(l, text) != 0)
        return -1;
    *text_out = text;
    *fname_out = fname;
    return 0;
}

/* Whether the line (ll bytes) is blank or a comment. */
static int skip_line(const char *line, size_t ll)
{
    size_t p = 0;

    while (p < ll && (is_blank(line[p]) || line[p] == '\t'))
        p++;
    return p == ll || line[p] == '#';
}

/* Cut the line (ll bytes) into up to five trimmed, NUL-terminated columns at TABs (the rest
 * after the fifth is dropped). Returns the number of columns. */
static size_t split_columns(char *line, size_t ll, char *col[5], size_t cl[5])
{
    size_t ncol = 0, p = 0;

    while (ncol < 5) {
        char *tab = memchr(line + p, '\t', ll - p);
        size_t end = tab ? (size_t)(tab - line) : ll;
        col[ncol] = line + p;
        cl[ncol] = end - p;
        trim(&col[ncol], &cl[ncol]);
        ncol++;
        if (tab == NULL)
            break;
        p = end + 1;
    }
    for (size_t i = 0; i < ncol; i++)
        col[i][cl[i]] = '\0'; /* the byte after a column is a TAB, CR, blank, LF or NUL */
    return ncol;
}

/* Check the columns of line lineno of file name: its kind (JARM__FP_KIND_*), or JARM_EINVAL
 * with a message. */
static int check_columns(const char *name, uint32_t lineno, char *const col[5], const size_t cl[5],
                         size_t ncol, char *err, size_t errlen)
{
    const char *fp = col[0];
    size_t fl = cl[0];
    int kind = kind_of(ncol > 4 ? col[4] : "");
    char q[QUOTE_MAX + 4];

    if (kind < 0) {
        jarm__quote(q, sizeof(q), col[4], cl[4], QUOTE_MAX, 1);
        (void)snprintf(err, errlen, "%s:%lu: bad kind '%s' (jarm or cert-sha256)", name,
                       (unsigned long)lineno, q);
        return JARM_EINVAL;
    }
    if (kind == JARM__FP_KIND_CERT && cert_hex(fp, fl, NULL) != 0) {
        jarm__quote(q, sizeof(q), fp, fl, QUOTE_MAX, 1);
        (void)snprintf(err, errlen, "%s:%lu: bad certificate sha256 '%s'", name,
                       (unsigned long)lineno, q);
        return JARM_EINVAL;
    }
    if (kind == JARM__FP_KIND_JARM && jarm__fplist_valid(fp, fl, JARM__FP_HALF) == 0) {
        const char *sp = memchr(fp, ' ', fl);
        jarm__quote(q, sizeof(q), fp, fl, QUOTE_MAX, 1);
        (void)snprintf(err, errlen, "%s:%lu: bad fingerprint '%s'%s", name, (unsigned long)lineno,
                       q,
                       sp != NULL && jarm__fplist_valid(fp, (size_t)(sp - fp), JARM__FP_HALF)
                           ? " (columns are separated by TABs)"
                           : "");
        return JARM_EINVAL;
    }
    if (ncol < 2 || col[1][0] == '\0') {
        (void)snprintf(err, errlen, "%s:%lu: missing label", name, (unsigned long)lineno);
        return JARM_EINVAL;
    }
    return kind;
}

/* Append the entry (of kind) of the checked columns of line lineno of fname. 0, or -1 if out
 * of memory. */
static int entry_append(jarm__fplist_t *l, int kind, char *const col[5], const size_t cl[5],
                        size_t ncol, const char *fname, uint32_t lineno)
{
    jarm__fpentry_t *e;
    size_t fl = cl[0];

    if (l->n == l->cap && grow(l) != 0)
        return -1;
    e = &l->v[l->n++];
    e->kind = (uint8_t)kind;
    if (kind == JARM__FP_KIND_CERT) {
        (void)cert_hex(col[0], fl, e->fp);
        fl = JARM__FPLIST_CERT;
    } else {
        for (size_t i = 0; i < fl; i++)
            e->fp[i] = lower(col[0][i]);
    }
    e->fp[fl] = '\0';
    e->len = (uint8_t)fl;
    e->label = col[1];
    e->source = ncol > 2 ? col[2] : "";
    e->notes = ncol > 3 ? col[3] : "";
    e->file = fname;
    e->line = lineno;
    e->next_full = e->next_half = NONE;
    return 0;
}

int64_t jarm__fplist_parse(jarm__fplist_t *l, const char *name, const char *buf, size_t len,
                           char *err, size_t errlen)
{
    size_t n0 = l->n, nbufs0 = l->nbufs, at = 0;
    char *text = NULL, *fname = NULL;
    uint32_t lineno = 0;
    int seen_entry = 0;
    int64_t ret = JARM_EINVAL;

    if (keep_input(l, name, buf, len, &text, &fname) != 0)
        goto Oom;
    while (at < len) {
        char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - line) : len - at;
        char *col[5] = {NULL, NULL, NULL, NULL, NULL};
        size_t cl[5] = {0, 0, 0, 0, 0}, ncol;
        int kind;

        at += ll + (nl != NULL);
        lineno++;
        if (skip_line(line, ll))
            continue;
        ncol = split_columns(line, ll, col, cl);
        if (!seen_entry && cl[0] == 11 && strncmp(col[0], "fingerprint", 11) == 0) {
            seen_entry = 1; /* a header line */
            continue;
        }
        seen_entry = 1;
        kind = check_columns(name, lineno, col, cl, ncol, err, errlen);
        if (kind < 0)
            goto Fail;
        if (entry_append(l, kind, col, cl, ncol, fname, lineno) != 0)
            goto Oom;
    }
    if (reindex(l) != 0)
        goto Oom;
    return (int64_t)(l->n - n0);

Oom:
    (void)snprintf(err, errlen, "%s: out of memory", name);
    ret = -ENOMEM;
Fail:
    /* All or nothing: drop the file's entries and buffers; the tables never saw them. */
    l->n = n0;
    while (l->nbufs > nbufs0)
        free(l->bufs[--l->nbufs]);
    return ret;
}

/* Read the file at path and jarm__fplist_parse it. */
static int64_t load(jarm__fplist_t *l, const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int64_t ret;

    if ((ret = jarm__read_file(path, &buf, &len, err, errlen)) != 0)
        return ret;
    ret = jarm__fplist_parse(l, path, buf, len, err, errlen);
    free(buf);
    return ret;
}

static int is_bare_name(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n > 0 && n <= NAME_MAX_LEN;
}

int64_t jarm__fplist_load_spec(jarm__fplist_t *l, const char *spec, const char *dirs, char *err,
                               size_t errlen)
{
    if (is_bare_name(spec) && dirs != NULL) {
        const char *d = dirs;
        while (*d != '\0') {
            const char *colon = strchr(d, ':');
            size_t dl = colon ? (size_t)(colon - d) : strlen(d);
            char path[4096];
            int pl = snprintf(path, sizeof(path), "%.*s/%s.tsv", (int)dl, d, spec);
            if (dl > 0 && pl > 0 && (size_t)pl < sizeof(path) && access(path, F_OK) == 0)
                return load(l, path, err, errlen);
            d += dl + (colon != NULL);
        }
        if (access(spec, F_OK) != 0) {
            (void)snprintf(err, errlen, "%s: no such list file, and no bundled list %s.tsv in %s",
                           spec, spec, dirs[0] != '\0' ? dirs : "(no directory)");
            return -ENOENT;
        }
    }
    return load(l, spec, err, errlen);
}

/* Labels deduplicated exactly up to this many per match; beyond, counted as they come. */
#define SEEN_MAX 256

typedef struct seen_s {
    const char *label[SEEN_MAX];
    size_t n;
} seen_t;

/* Record label; returns 1 if it is new (or cannot be checked any more), 0 if seen before. */
static int seen_add(seen_t *s, const char *label)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->label[i] == label || strcmp(s->label[i], label) == 0)
            return 0;
    if (s->n < SEEN_MAX)
        s->label[s->n++] = label;
    return 1;
}

size_t jarm__fplist_match(const jarm__fplist_t *l, const char *fp, size_t len, const char **exact,
                          size_t *nexact, const char **prefix, size_t *nprefix, size_t cap)
{
    char q[JARM__FPLIST_FULL];
    seen_t seen;
    size_t found = 0, ne = 0, np = 0;

    seen.n = 0;
    if (nexact != NULL)
        *nexact = 0;
    if (nprefix != NULL)
        *nprefix = 0;
    if (l->n == 0 || (len != JARM__FPLIST_FULL && len != JARM__FPLIST_HALF))
        return 0;
    for (size_t i = 0; i < len; i++)
        q[i] = lower(fp[i]);

    /* Exact labels first, so that a label with an exact entry is never also a prefix one. */
    if (len == JARM__FPLIST_FULL && memcmp(q, zeros, JARM__FPLIST_FULL) != 0) {
        const jarm__htslot_t *s = slot_find(l, &l->full, q, JARM__FPLIST_FULL);
        for (uint32_t i = s->head; i != NONE; i = l->v[i].next_full) {
            if (!seen_add(&seen, l->v[i].label))
                continue;
            found++;
            if (exact != NULL && ne < cap)
                exact[ne++] = l->v[i].label;
        }
    }
    if (memcmp(q, zeros, JARM__FPLIST_HALF) != 0) {
        const jarm__htslot_t *s = slot_find(l, &l->half, q, JARM__FPLIST_HALF);
        for (uint32_t i = s->head; i != NONE; i = l->v[i].next_half) {
            const jarm__fpentry_t *e = &l->v[i];
            if (len == JARM__FPLIST_FULL && e->len == JARM__FPLIST_FULL &&
                memcmp(e->fp, q, JARM__FPLIST_FULL) == 0)
                continue; /* an exact match, reported above */
            if (!seen_add(&seen, e->label))
                continue;
            found++;
            if (prefix != NULL && np < cap)
                prefix[np++] = e->label;
        }
    }
    if (nexact != NULL)
        *nexact = ne;
    if (nprefix != NULL)
        *nprefix = np;
    return found;
}

size_t jarm__fplist_match_cert(const jarm__fplist_t *l, const char *sha256, const char **labels,
                               size_t cap)
{
    char q[JARM__FPLIST_CERT];
    const jarm__htslot_t *s;
    seen_t seen;
    size_t found = 0;

    if (l->ncert == 0 || cert_hex(sha256, strlen(sha256), q) != 0)
        return 0;
    seen.n = 0;
    s = slot_find(l, &l->cert, q, JARM__FPLIST_CERT);
    for (uint32_t i = s->head; i != NONE; i = l->v[i].next_full) {
        if (!seen_add(&seen, l->v[i].label))
            continue;
        if (found < cap)
            labels[found] = l->v[i].label;
        found++;
    }
    return found;
}
