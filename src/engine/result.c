/*
 * result.c - the target's result: its probe strings as they arrive, then the raw string
 * (the ten joined) and the fingerprint, made once when the target completes, in buffers
 * of the scanner that are valid during the result callback.
 */
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
