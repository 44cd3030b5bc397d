/*
 * certread.c - the certificate of a target's row (--cert): see certread.h.
 *
 * Which probe reads: the first whose reply, final for the fingerprint, holds a ServerHello
 * that selects TLS 1.2 or lower; the reader's outcome is the row's, whatever other probes
 * say later. Without a reader the row's cert_error is "tls13" when some probe's ServerHello
 * selected TLS 1.3 (its certificate is encrypted), else what the first probe that got an
 * answer got (alert, not_tls, malformed), else "no_server_hello".
 *
 * The summary (libcrypto's X.509 decoding, about 150 us of CPU) is kept in a small cache of
 * the scan, keyed by the SHA-256 of the leaf's DER and the chain's length: hosts that share a
 * certificate (a CDN's addresses, a shared host, a C2 framework's default) cost one hash
 * after the first. A slot holds the newest certificate that hashed to it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "certread.h"
#include "jarm.h"
#include "scan.h"

enum { CR_NONE = 0, CR_READING, CR_DONE };

/* An outcome of the reader beyond cert.h's: the leaf does not decode as X.509. */
#define CR_BAD_DER 0xff

#define CACHE_SLOTS 256 /* a power of two */

typedef struct cache_slot_s {
    uint8_t key[32]; /* SHA-256 of the leaf's DER */
    size_t chain_len;
    char *json; /* NULL: empty */
    char sha256[65];
} cache_slot_t;

typedef struct jarm__certcache_s {
    cache_slot_t slot[CACHE_SLOTS];
} jarm__certcache_t;

void jarm__certcache_free(jarm__certcache_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(c->slot[i].json);
    free(c);
}

/* The slot of a leaf's hash: the first bytes of a SHA-256 are as good as any hash of it. */
static cache_slot_t *cache_slot(jarm__certcache_t *c, const uint8_t key[32])
{
    return &c->slot[(key[0] | (size_t)key[1] << 8) & (CACHE_SLOTS - 1)];
}

/* The cached summary of (key, chain_len) into cr: 1, or 0 when it is not there. */
static int cache_get(jarm__certread_t *cr, const uint8_t key[32], size_t chain_len)
{
    cache_slot_t *sl = cache_slot(cr->cache, key);
    size_t n;

    if (sl->json == NULL || sl->chain_len != chain_len || memcmp(sl->key, key, 32) != 0)
        return 0;
    n = strlen(sl->json);
    if ((cr->json = malloc(n + 1)) == NULL)
        return 0; /* summarised again below; that fails alike, or works */
    memcpy(cr->json, sl->json, n + 1);
    memcpy(cr->sha256, sl->sha256, sizeof(cr->sha256));
    return 1;
}

/* Remember cr's summary (best effort: no memory, no entry). */
static void cache_put(jarm__certread_t *cr, const uint8_t key[32], size_t chain_len)
{
    cache_slot_t *sl = cache_slot(cr->cache, key);
    size_t n = strlen(cr->json);
    char *copy = malloc(n + 1);

    if (copy == NULL)
        return;
    memcpy(copy, cr->json, n + 1);
    free(sl->json);
    memcpy(sl->key, key, 32);
    sl->chain_len = chain_len;
    sl->json = copy;
    memcpy(sl->sha256, cr->sha256, sizeof(sl->sha256));
}

void jarm__certread_want(jarm__certread_t *cr, size_t max, jarm__certcache_t *cache)
{
    memset(cr, 0, sizeof(*cr));
    cr->max = max ? max : JARM__CERT_MAX_DEFAULT;
    cr->cache = cache;
}

/* Keep the leaf's summary as JSON. Returns the reader's outcome. */
static uint8_t summarise(jarm__certread_t *cr)
{
    const uint8_t *der;
    uint8_t key[32];
    unsigned key_len = 0;
    size_t len, need = 0, chain_len;
    jarm__x509_t x;
    int err = jarm__cert_der(cr->p, 0, &der, &len), cached = 0;

    chain_len = jarm__cert_count(cr->p);
    if (err == 0 && cr->cache != NULL &&
        EVP_Digest(der, len, key, &key_len, EVP_sha256(), NULL) == 1 && key_len == 32) {
        if (cache_get(cr, key, chain_len))
            return JARM__CERT_FOUND;
        cached = 1;
    }
    if (err == 0)
        err = jarm__x509_summary(der, len, &x);
    if (err != 0)
        return err == JARM_EFORMAT ? CR_BAD_DER : JARM__CERT_NOMEM;
    x.chain_len = chain_len;
    (void)jarm__x509_json(&x, NULL, 0, &need);
    cr->json = malloc(need + 1);
    if (cr->json == NULL || jarm__x509_json(&x, cr->json, need + 1, &need) != 0) {
        free(cr->json);
        cr->json = NULL;
        jarm__x509_free(&x);
        return JARM__CERT_NOMEM;
    }
    memcpy(cr->sha256, x.sha256, sizeof(cr->sha256));
    jarm__x509_free(&x);
    if (cached)
        cache_put(cr, key, chain_len);
    return JARM__CERT_FOUND;
}

/* The reader is done: summarise a found certificate, drop the parser. */
static void done(jarm__certread_t *cr, jarm__cert_status_t st)
{
    cr->state = CR_DONE;
    cr->status = st == JARM__CERT_FOUND ? summarise(cr) : (uint8_t)st;
    jarm__cert_free(cr->p);
    free(cr->p);
    cr->p = NULL;
}

int jarm__certread_begin(jarm__certread_t *cr, const uint8_t *buf, size_t len)
{
    jarm__cert_parser_t first;
    jarm__cert_status_t st;

    if (cr->max == 0 || cr->state != CR_NONE || len == 0)
        return 0;
    /* The parser's verdict on the bytes so far says whether this is the reader: a parser on
     * the stack decides, and only the reader's is kept. */
    jarm__cert_init(&first, cr->max);
    st = jarm__cert_feed(&first, buf, len);
    if (st == JARM__CERT_TLS13 || (!first.seen_hello && st != JARM__CERT_MORE &&
                                   st != JARM__CERT_TOO_BIG && st != JARM__CERT_NOMEM)) {
        if (st == JARM__CERT_TLS13)
            cr->tls13 = 1;
        else if (cr->note == 0)
            cr->note = (uint8_t)st;
        jarm__cert_free(&first);
        return 0;
    }
    cr->p = malloc(sizeof(*cr->p));
    if (cr->p == NULL) {
        jarm__cert_free(&first);
        cr->state = CR_DONE;
        cr->status = JARM__CERT_NOMEM;
        return 0;
    }
    *cr->p = first; /* the message buffer moves with it */
    cr->state = CR_READING;
    if (st != JARM__CERT_MORE) {
        done(cr, st);
        return 0;
    }
    return 1;
}

int jarm__certread_feed(jarm__certread_t *cr, const uint8_t *buf, size_t len)
{
    jarm__cert_status_t st;

    if (cr->state != CR_READING)
        return 0;
    st = jarm__cert_feed(cr->p, buf, len);
    if (st == JARM__CERT_MORE)
        return 1;
    done(cr, st);
    return 0;
}

void jarm__certread_end(jarm__certread_t *cr)
{
    if (cr->state == CR_READING)
        done(cr, jarm__cert_finish(cr->p));
}

/* No reader: what the first probe that got an answer got. */
static const char *no_reader(const jarm__target_t *t)
{
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        switch (t->probes[i].status) {
        case JARM__P_ALERT:
            return "alert";
        case JARM__P_NO_TLS:
            return "not_tls";
        case JARM__P_MALFORMED:
            return "malformed";
        default:
            break;
        }
    }
    return "no_server_hello";
}

const char *jarm__certread_result(const jarm__target_t *t, const char **error)
{
    const jarm__certread_t *cr = &t->cert;

    *error = NULL;
    if (cr->max == 0)
        return NULL;
    if (cr->json != NULL)
        return cr->json;
    if (cr->state == CR_DONE)
        *error = cr->status == CR_BAD_DER ? "bad_der"
                                          : jarm__cert_status_name((jarm__cert_status_t)cr->status);
    else if (cr->state == CR_READING)
        *error = "truncated"; /* the reader's end was not seen: it ended undecided */
    else if (cr->tls13)
        *error = "tls13";
    else if (cr->note != 0)
        *error = jarm__cert_status_name((jarm__cert_status_t)cr->note);
    else
        *error = no_reader(t);
    return NULL;
}

void jarm__certread_free(jarm__certread_t *cr)
{
    if (cr->p != NULL) {
        jarm__cert_free(cr->p);
        free(cr->p);
    }
    free(cr->json);
    memset(cr, 0, sizeof(*cr));
}

static int after_parse(jarm__scan_t *s, jarm__target_t *t, unsigned probe, const uint8_t *reply,
                       size_t len)
{
    (void)s;
    (void)probe;
    return jarm__certread_begin(&t->cert, reply, len);
}

/* data NULL: the reader's connection ended. */
static int after_data(jarm__scan_t *s, jarm__target_t *t, unsigned probe, const uint8_t *data,
                      size_t len)
{
    (void)s;
    (void)probe;
    if (data == NULL) {
        jarm__certread_end(&t->cert);
        return 0;
    }
    return jarm__certread_feed(&t->cert, data, len);
}

void jarm__certread_hook(jarm__scan_t *s)
{
    s->after_parse = after_parse;
    s->after_data = after_data;
    /* Without memory for the cache every certificate is summarised: slower, still right. */
    s->certcache = calloc(1, sizeof(*s->certcache));
}
