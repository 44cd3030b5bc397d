/*
 * baseline.c - baseline files (text, NDJSON and CSV rows) in a hash table keyed by
 * (host, port).
 *
 * Storage is made for baselines of millions of rows read from NDJSON files of gigabytes:
 * the file is read a line at a time and only a row's normalised host and fingerprint are
 * kept, in one arena of NUL-terminated strings, with a fixed-size record per distinct
 * (host, port, fingerprint). Records of one key are chained in the order first seen; the
 * table slot of a key points at the first and last record, so `changed` reports the last
 * distinct fingerprint in O(1) and `same` walks the (normally one-record) chain. The table
 * is kept at most half full and grown by doubling.
 *
 * A file is added all or nothing: on a bad line the records and arena bytes of the file
 * are cut off again and the table is emptied and relinked from the records that remain, in
 * place (records carry everything needed for that, and errors are rare, so relinking is the
 * simple way, and it cannot fail).
 *
 * An NDJSON row is read whole by the tree's JSON reader (jsonread.h: strict, nesting
 * bounded) and freed before the next one; only "host", "port", "jarm" (or "result"),
 * "status" and "ip" are looked at.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "baseline.h"
#include "jarm.h"
#include "endpoint.h"
#include "jsonread.h"
#include "util.h"
#include "fplist.h"

#define NONE JARM__HTAB_NONE

/* The longest fingerprint kept: 62 + 3k characters (ALPN holding ',', jarm(7)) fit in this. */
#define FP_MAX 255

/* How much of a bad field an error message quotes. */
#define QUOTE_MAX 70

void jarm__baseline_init(jarm__baseline_t *b)
{
    memset(b, 0, sizeof(*b));
}

void jarm__baseline_free(jarm__baseline_t *b)
{
    free(b->v);
    free(b->arena);
    jarm__htab_free(&b->tab);
    jarm__baseline_init(b);
}

const char *jarm__baseline_verdict_name(jarm__baseline_verdict_t v)
{
    switch (v) {
    case JARM__BASELINE_SAME:
        return "same";
    case JARM__BASELINE_CHANGED:
        return "changed";
    case JARM__BASELINE_NEW:
        break;
    }
    return "new";
}

/* ASCII lower case, whatever the locale. */
static char lower(char c)
{
    static const char az[] = "abcdefghijklmnopqrstuvwxyz";
    if (c >= 'A' && c <= 'Z')
        return az[c - 'A'];
    return c;
}

/*
 * The key form of a host (see baseline.h) into out (JARM__BASELINE_HOST_MAX + 1 bytes):
 * an IPv6 address, bracketed or not, in inet_ntop's canonical form; anything else in lower
 * case without trailing dots. Idempotent, so a stored key normalises to itself. Returns
 * its length, or 0 if the host is empty, too long or holds a NUL.
 */
static size_t host_norm(const char *h, size_t n, char *out)
{
    char tmp[JARM__BASELINE_HOST_MAX + 1];
    unsigned char a6[16];
    size_t in = 0, il = n;

    if (n == 0 || n > JARM__BASELINE_HOST_MAX || memchr(h, '\0', n) != NULL)
        return 0;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        in = 1;
        il = n - 2;
    }
    memcpy(tmp, h + in, il);
    tmp[il] = '\0';
    if (memchr(tmp, ':', il) != NULL && inet_pton(AF_INET6, tmp, a6) == 1 &&
        inet_ntop(AF_INET6, a6, out, JARM__BASELINE_HOST_MAX + 1) != NULL)
        return strlen(out);
    for (size_t i = 0; i < n; i++)
        out[i] = lower(h[i]);
    while (n > 1 && out[n - 1] == '.')
        n--;
    out[n] = '\0';
    return n;
}

/* A key: a normalised host and a port. */
typedef struct blkey_s {
    const char *host;
    size_t len;
    unsigned port;
} blkey_t;

static int rec_eq(const void *ctx, uint32_t idx, const void *key, size_t klen)
{
    const jarm__baseline_t *b = ctx;
    const jarm__blrec_t *r = &b->v[idx];
    const blkey_t *k = key;
    (void)klen;
    return r->port == k->port && r->host_len == k->len &&
           memcmp(b->arena + r->host, k->host, k->len) == 0;
}

/* The slot of key k (hash *h, computed here), or the empty slot where it would go. */
static jarm__htslot_t *slot_find(const jarm__baseline_t *b, const blkey_t *k, uint64_t *h)
{
    *h = jarm__hash_bytes(k->host, k->len, k->port);
    return jarm__htab_find(&b->tab, *h, rec_eq, b, k, sizeof(*k));
}

/* Link record i into the table (its key's chain, or a new slot). */
static void link_rec(jarm__baseline_t *b, uint32_t i)
{
    jarm__blrec_t *r = &b->v[i];
    blkey_t k = {b->arena + r->host, r->host_len, r->port};
    uint64_t h;
    jarm__htslot_t *s = slot_find(b, &k, &h);
    uint32_t prev = jarm__htab_append(&b->tab, s, h, i);

    r->next = NONE;
    if (prev != NONE)
        b->v[prev].next = i;
}

/* Empty the table and link every record into it again, in order. */
static void relink(jarm__baseline_t *b)
{
    jarm__htab_clear(&b->tab);
    for (size_t i = 0; i < b->n; i++)
        link_rec(b, (uint32_t)i);
}

/* Copy s (n bytes) and a NUL into the arena; returns its offset or SIZE_MAX. */
static size_t arena_put(jarm__baseline_t *b, const char *s, size_t n)
{
    size_t at = b->alen;
    if (b->acap - b->alen < n + 1) {
        size_t ncap = b->acap ? b->acap : 65536;
        char *p;
        while (ncap - b->alen < n + 1)
            ncap *= 2;
        if ((p = realloc(b->arena, ncap)) == NULL)
            return SIZE_MAX;
        b->arena = p;
        b->acap = ncap;
    }
    memcpy(b->arena + at, s, n);
    b->arena[at + n] = '\0';
    b->alen += n + 1;
    return at;
}

/*
 * Add the row (normalised host, port, fingerprint in lower case); a fingerprint the key
 * already has is not stored twice. Returns 0, or -1 if out of memory.
 */
static int add_row(jarm__baseline_t *b, const char *host, size_t hl, unsigned port, const char *fp,
                   size_t fl)
{
    blkey_t k = {host, hl, port};
    uint64_t h;
    jarm__htslot_t *s;
    jarm__blrec_t *r;
    size_t ho, fo;

    if (b->tab.slot == NULL || 2 * (b->tab.keys + 1) > b->tab.mask + 1) {
        if (jarm__htab_reset(&b->tab, b->tab.slot == NULL ? 1024 : 2 * (b->tab.mask + 1)) != 0)
            return -ENOMEM;
        relink(b);
    }
    s = slot_find(b, &k, &h);
    if (s->head != NONE) {
        for (uint32_t i = s->head; i != NONE; i = b->v[i].next)
            if (b->v[i].fp_len == fl && memcmp(b->arena + b->v[i].fp, fp, fl) == 0)
                return 0;
        /* A known key: keep one copy of the host, shared by the key's records. */
        ho = b->v[s->head].host;
    } else {
        if ((ho = arena_put(b, host, hl)) == SIZE_MAX)
            return -ENOMEM;
    }
    if ((fo = arena_put(b, fp, fl)) == SIZE_MAX)
        return -ENOMEM;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? 2 * b->cap : 1024;
        jarm__blrec_t *nv;
        if (b->n >= NONE - 1 || (nv = realloc(b->v, ncap * sizeof(*nv))) == NULL)
            return -ENOMEM;
        b->v = nv;
        b->cap = ncap;
    }
    r = &b->v[b->n];
    r->host = ho;
    r->host_len = (uint32_t)hl;
    r->port = (uint16_t)port;
    r->fp = fo;
    r->fp_len = (uint16_t)fl;
    link_rec(b, (uint32_t)b->n++);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Line parsers. Each returns 0 (row taken), 1 (row skipped), 2 (not a row: blank or
 * comment) or -1 (error, message in err).
 */

typedef struct line_s {
    const char *name;
    uint64_t lineno;
    char *err;
    size_t errlen;
} line_t;

/* Put "NAME:LINE: WHAT" (with " 'Q'" after WHAT when q is given) into the caller's err;
 * returns JARM_EINVAL. */
static int fail(const line_t *ln, const char *what, const char *q)
{
    (void)snprintf(ln->err, ln->errlen, "%s:%llu: %s%s%s%s", ln->name,
                   (unsigned long long)ln->lineno, what, q ? " '" : "", q ? q : "", q ? "'" : "");
    return JARM_EINVAL;
}

static int bad_fp(const line_t *ln, const char *fp, size_t n)
{
    char q[QUOTE_MAX + 4];
    jarm__quote(q, sizeof(q), fp, n, QUOTE_MAX, 1);
    return fail(ln, "bad fingerprint", q);
}

static int bad_target(const line_t *ln, const char *host, size_t n)
{
    char q[QUOTE_MAX + 4];
    jarm__quote(q, sizeof(q), host, n, QUOTE_MAX, 1);
    return fail(ln, "bad target", q);
}

/* Validate and add a row whose host is not yet normalised. */
static int take(jarm__baseline_t *b, const line_t *ln, const char *host, size_t hl, unsigned port,
                const char *fp, size_t fl)
{
    char nh[JARM__BASELINE_HOST_MAX + 1], lfp[FP_MAX];
    size_t nl;

    if (fl > FP_MAX || jarm__fplist_valid(fp, fl, JARM__FP_LONG) == 0)
        return bad_fp(ln, fp, fl);
    if ((nl = host_norm(host, hl, nh)) == 0)
        return bad_target(ln, host, hl);
    for (size_t i = 0; i < fl; i++)
        lfp[i] = lower(fp[i]);
    if (add_row(b, nh, nl, port, lfp, fl) != 0) {
        (void)fail(ln, "out of memory", NULL);
        return -ENOMEM;
    }
    return 0;
}

/* `HOST[:PORT] FINGERPRINT` */
static int parse_text(jarm__baseline_t *b, const line_t *ln, const char *s, size_t n)
{
    const char *tok[3], *host;
    size_t tl[3], nt = 0, p = 0, hl;
    unsigned port = 443;
    jarm__endpoint_t ep;

    while (p < n && nt < 3) {
        while (p < n && jarm__is_space(s[p]))
            p++;
        if (p == n)
            break;
        tok[nt] = s + p;
        while (p < n && !jarm__is_space(s[p]))
            p++;
        tl[nt] = (size_t)(s + p - tok[nt]);
        nt++;
    }
    if (nt != 2)
        return fail(ln, "expected 'host[:port] fingerprint'", NULL);
    switch (jarm__endpoint_parse(tok[0], tl[0], &ep) == 0 ? JARM__EP_OK : ep.bad) {
    case JARM__EP_OK:
        break;
    case JARM__EP_AFTER:
    case JARM__EP_PORT:
        return fail(ln, "bad port", NULL);
    case JARM__EP_NO_CLOSE:
    case JARM__EP_NO_HOST:
        return bad_target(ln, tok[0], tl[0]);
    }
    /* The key form of a host keeps [IPv6] brackets (host_norm drops them). */
    host = ep.bracketed ? ep.host - 1 : ep.host;
    hl = ep.bracketed ? ep.host_len + 2 : ep.host_len;
    if (ep.port_text != NULL)
        port = ep.port;
    return take(b, ln, host, hl, port, tok[1], tl[1]);
}

/* `HOST,IP,FINGERPRINT[,RAW...]`: the first field from the third on that is a fingerprint
 * ends the row; the field before it is the IP, the rest before that the host. */
static int parse_csv(jarm__baseline_t *b, const line_t *ln, const char *s, size_t n)
{
    const char *f[3] = {NULL, NULL, NULL};
    size_t fl[3] = {0, 0, 0}, nf = 0, p = 0;

    for (;;) {
        const char *c = memchr(s + p, ',', n - p);
        size_t end = c ? (size_t)(c - s) : n;
        const char *x = s + p;
        size_t xl = end - p;
        jarm__trim(&x, &xl);
        if (nf < 3) {
            f[nf] = x;
            fl[nf++] = xl;
        } else {
            /* Shift: the host absorbs a field, the IP and candidate move along. */
            f[0] = s;
            fl[0] = (size_t)(f[1] + fl[1] - s);
            f[1] = f[2];
            fl[1] = fl[2];
            f[2] = x;
            fl[2] = xl;
        }
        if (nf == 3 && jarm__fplist_valid(f[2], fl[2], JARM__FP_LONG) != 0)
            break;
        if (c == NULL)
            break;
        p = end + 1;
    }
    if (nf < 3)
        return fail(ln, "expected 'host,ip,fingerprint'", NULL);
    if (fl[1] == 20 && memcmp(f[1], "Failed to resolve IP", 20) == 0)
        return 1;
    /* Keep the host as written, minus blanks around it. */
    while (fl[0] > 0 && jarm__is_space(f[0][0])) {
        f[0]++;
        fl[0]--;
    }
    return take(b, ln, f[0], fl[0], 443, f[2], fl[2]);
}

/* ---- JSON ---- */

/* Member key of a row: NULL when absent; *bad set when present but neither a string nor null. */
static const jarm__json_t *jfield(const jarm__json_t *row, const char *key, int *bad)
{
    const jarm__json_t *v = jarm__json_get(row, key);
    if (v == NULL || jarm__json_is_null(v))
        return v;
    if (!jarm__json_is_str(v))
        *bad = 1;
    return v;
}

static int is_str(const jarm__json_t *v, const char *s)
{
    return jarm__json_is_str(v) && v->len == strlen(s) && memcmp(v->str, s, v->len) == 0;
}

static int json_row(jarm__baseline_t *b, const line_t *ln, const jarm__json_t *row)
{
    int bad = 0;
    const jarm__json_t *host = jfield(row, "host", &bad), *jarm = jfield(row, "jarm", &bad),
                       *result = jfield(row, "result", &bad), *status = jfield(row, "status", &bad),
                       *ip = jfield(row, "ip", &bad), *port = jarm__json_get(row, "port"), *fp;
    unsigned pt = 443;

    if (bad || row->type != JARM__JSON_OBJECT)
        return fail(ln, "bad JSON row", NULL);
    if (port != NULL && !jarm__json_is_null(port)) {
        if (port->type != JARM__JSON_NUMBER || port->num < 1 || port->num > 65535 ||
            port->num != (double)(unsigned)port->num)
            return fail(ln, "bad port", NULL);
        pt = (unsigned)port->num;
    }
    /* Rows that name no server: jarmsweep's, and the reference's unresolved ones. */
    if (is_str(status, "bad_target") || is_str(status, "dns_error"))
        return 1;
    if (status == NULL && jarm__json_is_null(ip))
        return 1;
    fp = result != NULL && !jarm__json_is_null(result) ? result : jarm;
    if (fp == NULL || jarm__json_is_null(fp))
        return fail(ln, "row without a fingerprint", NULL);
    if (host == NULL || jarm__json_is_null(host))
        return fail(ln, "row without a host", NULL);
    if (host->len > JARM__BASELINE_HOST_MAX)
        return fail(ln, "bad target (longer than 1024 bytes)", NULL);
    return take(b, ln, host->str, host->len, pt, fp->str, fp->len);
}

static int parse_json(jarm__baseline_t *b, const line_t *ln, const char *s, size_t n)
{
    jarm__json_t *row = jarm__json_parse(s, n, NULL, 0);
    int r;

    if (row == NULL)
        return fail(ln, "bad JSON row", NULL);
    r = json_row(b, ln, row);
    jarm__json_free(row);
    return r;
}

/* One line (without its LF). */
static int parse_line(jarm__baseline_t *b, const line_t *ln, const char *s, size_t n)
{
    const char *hash;

    jarm__trim(&s, &n);
    if (n == 0 || s[0] == '#')
        return 2;
    if (s[0] == '{')
        return parse_json(b, ln, s, n);
    if (memchr(s, ',', n) != NULL)
        return parse_csv(b, ln, s, n);
    if ((hash = memchr(s, '#', n)) != NULL)
        n = (size_t)(hash - s);
    return parse_text(b, ln, s, n);
}

/* State of one file being added: what to cut back to on error. */
typedef struct mark_s {
    size_t n, alen;
    uint64_t rows, skipped;
} mark_t;

static mark_t mark(const jarm__baseline_t *b)
{
    mark_t m = {b->n, b->alen, b->rows, b->skipped};
    return m;
}

static void rollback(jarm__baseline_t *b, const mark_t *m)
{
    b->n = m->n;
    b->alen = m->alen;
    b->rows = m->rows;
    b->skipped = m->skipped;
    relink(b);
}

/* Count one parsed line; returns 0 or the line's error code. */
static int count(jarm__baseline_t *b, int r)
{
    if (r < 0)
        return r;
    if (r == 0)
        b->rows++;
    else if (r == 1)
        b->skipped++;
    return 0;
}

int64_t jarm__baseline_parse(jarm__baseline_t *b, const char *name, const char *buf, size_t len,
                             char *err, size_t errlen)
{
    mark_t m = mark(b);
    line_t ln = {name, 0, err, errlen};
    size_t at = 0;
    int r;

    if (errlen > 0)
        err[0] = '\0';
    while (at < len) {
        const char *line = buf + at, *nl = memchr(line, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - line) : len - at;

        at += ll + (nl != NULL);
        ln.lineno++;
        if ((r = count(b, parse_line(b, &ln, line, ll))) != 0) {
            rollback(b, &m);
            return r;
        }
    }
    return (int64_t)(b->rows - m.rows);
}

int64_t jarm__baseline_load(jarm__baseline_t *b, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    mark_t m = mark(b);
    line_t ln = {path, 0, err, errlen};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int64_t ret;

    if (f == NULL) {
        ret = errno ? -errno : -EIO;
        (void)snprintf(err, errlen, "%s: %s", path, strerror((int)-ret));
        return ret;
    }
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t ll = (size_t)got;
        if (ll > 0 && line[ll - 1] == '\n')
            ll--;
        ln.lineno++;
        if ((ret = count(b, parse_line(b, &ln, line, ll))) != 0) {
            rollback(b, &m);
            goto Exit;
        }
    }
    if (!feof(f)) {
        ret = errno == ENOMEM ? -ENOMEM : -EIO;
        (void)snprintf(err, errlen, "%s: %s", path,
                       ret == -ENOMEM ? "out of memory" : "read error");
        rollback(b, &m);
        goto Exit;
    }
    ret = (int64_t)(b->rows - m.rows);
Exit:
    free(line);
    (void)fclose(f);
    return ret;
}

/* The slot of (host, port) with the host not yet normalised, or NULL. */
static const jarm__htslot_t *find(const jarm__baseline_t *b, const char *host, size_t hl,
                                  unsigned port)
{
    char nh[JARM__BASELINE_HOST_MAX + 1];
    blkey_t k = {nh, 0, port};
    uint64_t h;
    const jarm__htslot_t *s;

    if (b->tab.slot == NULL || (k.len = host_norm(host, hl, nh)) == 0)
        return NULL;
    s = slot_find(b, &k, &h);
    return s->head == NONE ? NULL : s;
}

const char *jarm__baseline_lookup(const jarm__baseline_t *b, const char *host, size_t host_len,
                                  unsigned port)
{
    const jarm__htslot_t *s = find(b, host, host_len, port);
    return s == NULL ? NULL : b->arena + b->v[s->tail].fp;
}

jarm__baseline_verdict_t jarm__baseline_check(const jarm__baseline_t *b, const char *host,
                                              size_t host_len, unsigned port, const char *fp,
                                              size_t fp_len, const char **old)
{
    const jarm__htslot_t *s = find(b, host, host_len, port);

    if (old != NULL)
        *old = NULL;
    if (s == NULL)
        return JARM__BASELINE_NEW;
    for (uint32_t i = s->head; i != NONE; i = b->v[i].next) {
        const jarm__blrec_t *r = &b->v[i];
        if (r->fp_len != fp_len)
            continue;
        size_t k = 0;
        while (k < fp_len && b->arena[r->fp + k] == lower(fp[k]))
            k++;
        if (k == fp_len)
            return JARM__BASELINE_SAME;
    }
    if (old != NULL)
        *old = b->arena + b->v[s->tail].fp;
    return JARM__BASELINE_CHANGED;
}
