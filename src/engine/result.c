/*
 * result.c - the target's result: its probe strings as they arrive, then the raw string
 * (the ten joined) and the fingerprint, made once when the target completes, in buffers
 * of the scanner that are valid during the result callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan_int.h"

/* Store probe `probe`'s string after the others (inline first, then on the heap). */
int jarm__target_store(jarm__target_t *t, unsigned probe, const char *str, size_t len)
{
    if (t->strs_len + len > t->strs_cap) {
        size_t cap = t->strs_cap * 2 > t->strs_len + len ? t->strs_cap * 2 : t->strs_len + len;
        char *p = malloc(cap);
        if (p == NULL)
            return -1;
        memcpy(p, t->strs, t->strs_len);
        if (t->strs != t->strs_inline)
            free(t->strs);
        t->strs = p;
        t->strs_cap = cap;
    }
    memcpy(t->strs + t->strs_len, str, len);
    t->probes[probe].off = (uint16_t)t->strs_len;
    t->probes[probe].len = (uint16_t)len;
    t->strs_len += len;
    return 0;
}

/* Grow a buffer of the scanner to hold need bytes; keeps the old one when out of memory. */
static void grow(char **buf, size_t *cap, size_t need)
{
    char *nb = malloc(need);
    if (nb != NULL) {
        free(*buf);
        *buf = nb;
        *cap = need;
    }
}

static void make_raw(jarm__scan_t *s, jarm__target_t *t)
{
    static const char empty_raw[] = JARM_RAW_EMPTY;
    const char *p[JARM_PROBES];
    size_t l[JARM_PROBES], need;

    if (t->abandoned) {
        t->raw = empty_raw;
        t->raw_len = sizeof(empty_raw) - 1;
        return;
    }
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        int has = t->probes[i].len > 0;
        p[i] = has ? t->strs + t->probes[i].off : "|||";
        l[i] = has ? t->probes[i].len : 3;
    }
    if (jarm_raw_join(p, l, s->rawbuf, s->rawbuf_cap, &need) == JARM_ENOBUFS) {
        grow(&s->rawbuf, &s->rawbuf_cap, need + 1);
        if (jarm_raw_join(p, l, s->rawbuf, s->rawbuf_cap, &need) != 0) {
            t->status = JARM__T_ERROR;
            s->stats.nomem++;
            need = 0;
            s->rawbuf[0] = '\0';
        }
    }
    t->raw = s->rawbuf;
    t->raw_len = need;
}

void jarm__result_make(jarm__scan_t *s, jarm__target_t *t)
{
    size_t fp_len;
    int hr;

    make_raw(s, t);
    hr = jarm_fuzzy_hash(t->raw, t->raw_len, s->fpbuf, s->fpbuf_cap, &fp_len);
    if (hr == JARM_ENOBUFS) {
        /* Only an ALPN holding ',' makes the fingerprint longer than 62 characters; the
         * reference prints it whole, and so do we. */
        grow(&s->fpbuf, &s->fpbuf_cap, fp_len + 1);
        hr = jarm_fuzzy_hash(t->raw, t->raw_len, s->fpbuf, s->fpbuf_cap, &fp_len);
    }
    if (hr != 0) { /* no memory for the buffer or the hash context: never an unset one */
        t->status = JARM__T_ERROR;
        s->stats.nomem++;
        memset(s->fpbuf, '0', JARM_FP_LEN);
        s->fpbuf[JARM_FP_LEN] = '\0';
    }
    t->jarm = s->fpbuf;
}

/* ---- several passes: --repeat and --compare-direct ---- */

unsigned jarm__passes_total(const jarm__scan_t *s)
{
    if (s->opts.compare_direct)
        return 2;
    return s->opts.repeat > 1 ? s->opts.repeat : 1;
}

void jarm__passes_free(jarm__passes_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].jarm);
        free(p->v[i].raw);
    }
    free(p->v);
    free(p->row);
    free(p->jarm_direct);
    free(p);
}

/* Count the pass among the fingerprints seen. Returns 0, or -1 without memory. */
static int variant_add(jarm__passes_t *p, const jarm__target_t *t)
{
    jarm__variant_t *v;

    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].jarm, t->jarm) == 0) {
            p->v[i].count++;
            return 0;
        }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 2;
        jarm__variant_t *nv = realloc(p->v, cap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        p->v = nv;
        p->cap = cap;
    }
    v = &p->v[p->n];
    memset(v, 0, sizeof(*v));
    v->jarm = strdup(t->jarm);
    v->raw = malloc(t->raw_len + 1);
    if (v->jarm == NULL || v->raw == NULL) {
        free(v->jarm);
        free(v->raw);
        return -1;
    }
    memcpy(v->raw, t->raw, t->raw_len);
    v->raw[t->raw_len] = '\0';
    v->raw_len = t->raw_len;
    v->count = 1;
    v->status = t->status;
    if (t->error != NULL)
        snprintf(v->error, sizeof(v->error), "%s", t->error);
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        v->probes[i].status = t->probes[i].status;
        v->probes[i].ms = t->probes[i].ms;
    }
    p->n++;
    return 0;
}

/* The last pass is in: the most frequent fingerprint (the first seen of equals) and the
 * result of the first pass that gave it become t's. Returns 0, or -1 without memory. */
static int variants_final(jarm__passes_t *p, jarm__target_t *t)
{
    const jarm__variant_t *w;

    for (size_t i = 1; i < p->n; i++) { /* stable: equal counts keep the order seen */
        jarm__variant_t v = p->v[i];
        size_t j = i;
        for (; j > 0 && p->v[j - 1].count < v.count; j--)
            p->v[j] = p->v[j - 1];
        p->v[j] = v;
    }
    if (p->n == 0 || (p->row = calloc(p->n, sizeof(*p->row))) == NULL)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        p->row[i].jarm = p->v[i].jarm;
        p->row[i].count = p->v[i].count;
    }
    w = &p->v[0];
    t->jarm = w->jarm;
    t->raw = w->raw;
    t->raw_len = w->raw_len;
    t->status = w->status;
    t->error = w->error[0] != '\0' ? w->error : NULL;
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        t->probes[i].status = w->probes[i].status;
        t->probes[i].ms = w->probes[i].ms;
    }
    return 0;
}

int jarm__passes_step(jarm__scan_t *s, jarm__target_t *t)
{
    jarm__passes_t *p = t->pass_data;

    if (p == NULL && (p = t->pass_data = calloc(1, sizeof(*p))) == NULL) {
        /* The run fails (the command line's result callback sees nomem); t gets its row. */
        s->stats.nomem++;
        return 0;
    }
    if (s->opts.compare_direct) {
        if (t->pass == 0) { /* the direct pass: only its fingerprint and status are kept */
            p->direct_status = t->status;
            if ((p->jarm_direct = strdup(t->jarm)) == NULL)
                s->stats.nomem++;
            return 1;
        }
        if (p->jarm_direct == NULL)
            return 0;
        t->intercepted = p->direct_status == JARM__T_OK && t->status == JARM__T_OK
                             ? strcmp(p->jarm_direct, t->jarm) != 0
                             : -1;
        t->passes = p;
        return 0;
    }
    if (variant_add(p, t) != 0)
        s->stats.nomem++;
    if (t->pass + 1u < jarm__passes_total(s))
        return 1;
    if (variants_final(p, t) != 0)
        s->stats.nomem++;
    else
        t->passes = p;
    return 0;
}
