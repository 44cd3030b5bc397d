/*
 * cert.c - the server's certificate from the clear-text flight of one connection: an
 * incremental, bounded TLS handshake reader, and a libcrypto summary of one certificate.
 *
 * The reader is a byte-driven state machine in two layers. The record layer reads 5-byte
 * record headers and passes the payload of handshake records (type 22) on; the handshake
 * layer reads 4-byte message headers and collects each message body into one buffer of
 * exactly the message's length. Every decision is taken at a fixed byte of the stream (the
 * byte that completes a header or a message, or byte `max`), never at a feed boundary, so
 * the result does not depend on how the stream is cut. A message is only buffered once its
 * header has shown that it ends within `max` stream bytes, so the buffer never exceeds max;
 * a ServerHello and then a Certificate make at most two allocations per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "internal.h"
#include "jarm.h"
#include "util.h"

enum {
    REC_CCS = 20,
    REC_ALERT = 21,
    REC_HANDSHAKE = 22,
    REC_APPDATA = 23,
    HS_SERVER_HELLO = 2,
    HS_CERTIFICATE = 11,
    /* A TLSCiphertext may carry 2^14 + 2048 bytes; a longer record length is a lie. */
    REC_MAX = 16384 + 2048,
    /* version(2) random(32) session_id_len(1) cipher(2) compression(1) */
    HELLO_MIN = 38,
};

void jarm__cert_init(jarm__cert_parser_t *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    p->max = max ? max : JARM__CERT_MAX_DEFAULT;
    p->status = JARM__CERT_MORE;
}

void jarm__cert_free(jarm__cert_parser_t *p)
{
    free(p->buf);
    p->buf = NULL;
    p->cap = 0;
}

const char *jarm__cert_status_name(jarm__cert_status_t s)
{
    switch (s) {
    case JARM__CERT_MORE:
        return "more";
    case JARM__CERT_FOUND:
        return "found";
    case JARM__CERT_TLS13:
        return "tls13";
    case JARM__CERT_NO_CERT:
        return "no_certificate";
    case JARM__CERT_NO_HELLO:
        return "no_server_hello";
    case JARM__CERT_ALERT:
        return "alert";
    case JARM__CERT_NOT_TLS:
        return "not_tls";
    case JARM__CERT_MALFORMED:
        return "malformed";
    case JARM__CERT_TOO_BIG:
        return "too_big";
    case JARM__CERT_TRUNCATED:
        return "truncated";
    case JARM__CERT_NOMEM:
        return "no_memory";
    }
    return "unknown";
}

static size_t get16(const uint8_t *b)
{
    return (size_t)b[0] << 8 | b[1];
}

static size_t get24(const uint8_t *b)
{
    return (size_t)b[0] << 16 | (size_t)b[1] << 8 | b[2];
}

/* A complete ServerHello body: the version it selects, or a final status. */
static jarm__cert_status_t server_hello(jarm__cert_parser_t *p)
{
    const uint8_t *b = p->buf;
    size_t n = p->msg_len, at, end, sid = b[34];
    size_t version = get16(b);

    if (sid > 32 || HELLO_MIN + sid > n)
        return JARM__CERT_MALFORMED;
    at = HELLO_MIN + sid;
    if (at < n) { /* extensions */
        if (n - at < 2 || get16(b + at) != n - at - 2)
            return JARM__CERT_MALFORMED;
        for (at += 2, end = n; at < end;) {
            size_t type, len;
            if (end - at < 4)
                return JARM__CERT_MALFORMED;
            type = get16(b + at);
            len = get16(b + at + 2);
            at += 4;
            if (len > end - at)
                return JARM__CERT_MALFORMED;
            if (type == 0x002b) { /* supported_versions: the selected version */
                if (len != 2)
                    return JARM__CERT_MALFORMED;
                version = get16(b + at);
            }
            at += len;
        }
    }
    p->version = (uint16_t)version;
    /* TLS 1.3 and its drafts (0x7fxx): everything after the ServerHello is encrypted. */
    if ((version >> 8) == 0x7f || (version >> 8 == 3 && (version & 0xff) >= 4))
        return JARM__CERT_TLS13;
    p->seen_hello = 1;
    return JARM__CERT_MORE;
}

/* A complete Certificate body: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
static jarm__cert_status_t certificate(jarm__cert_parser_t *p)
{
    const uint8_t *b = p->buf;
    size_t n = p->msg_len, at = 3, count = 0;

    if (get24(b) != n - 3)
        return JARM__CERT_MALFORMED;
    while (at < n) {
        size_t len;
        if (n - at < 3)
            return JARM__CERT_MALFORMED;
        len = get24(b + at);
        at += 3;
        if (len == 0 || len > n - at)
            return JARM__CERT_MALFORMED;
        at += len;
        count++;
    }
    if (count == 0)
        return JARM__CERT_NO_CERT;
    p->ncerts = count;
    return JARM__CERT_FOUND;
}

/* Handshake header byte b, which leaves the stream at position `pos`. */
static jarm__cert_status_t message_header(jarm__cert_parser_t *p, uint8_t b, size_t pos)
{
    p->mhdr[p->mhdr_len++] = b;
    if (p->mhdr_len == 1) {
        if (!p->seen_hello && b != HS_SERVER_HELLO)
            return JARM__CERT_NO_HELLO;
        if (p->seen_hello && b != HS_CERTIFICATE)
            return JARM__CERT_NO_CERT;
        return JARM__CERT_MORE;
    }
    if (p->mhdr_len < 4)
        return JARM__CERT_MORE;
    p->msg_len = get24(p->mhdr + 1);
    p->msg_have = 0;
    if (p->mhdr[0] == HS_SERVER_HELLO && p->msg_len < HELLO_MIN)
        return JARM__CERT_MALFORMED;
    if (p->mhdr[0] == HS_CERTIFICATE && p->msg_len < 3)
        return JARM__CERT_MALFORMED;
    /* The body needs msg_len more stream bytes at least (record headers come on top). */
    if (p->msg_len > p->max - pos)
        return JARM__CERT_TOO_BIG;
    if (p->msg_len > p->cap) {
        uint8_t *nb = realloc(p->buf, p->msg_len);
        if (nb == NULL)
            return JARM__CERT_NOMEM;
        p->buf = nb;
        p->cap = p->msg_len;
    }
    return JARM__CERT_MORE;
}

/* Handshake payload bytes data[0..n), the first at stream position pos. Returns bytes used. */
static size_t handshake(jarm__cert_parser_t *p, const uint8_t *data, size_t n, size_t pos)
{
    size_t i = 0;

    while (i < n && p->status == JARM__CERT_MORE) {
        if (p->mhdr_len < 4) {
            i++;
            p->status = message_header(p, data[i - 1], pos + i);
            continue;
        }
        size_t take = p->msg_len - p->msg_have;
        if (take > n - i)
            take = n - i;
        memcpy(p->buf + p->msg_have, data + i, take);
        p->msg_have += take;
        i += take;
        if (p->msg_have < p->msg_len)
            continue;
        if (p->mhdr[0] == HS_SERVER_HELLO) {
            p->status = server_hello(p);
            p->mhdr_len = 0;
        } else {
            p->status = certificate(p);
        }
    }
    return i;
}

/* Record header byte b; p->pos is the stream position of b. */
static jarm__cert_status_t record_header(jarm__cert_parser_t *p, uint8_t b)
{
    int first = p->pos == 0;

    p->rhdr[p->rhdr_len++] = b;
    switch (p->rhdr_len) {
    case 1:
        if (b == REC_HANDSHAKE)
            return JARM__CERT_MORE;
        if (b == REC_ALERT)
            return JARM__CERT_ALERT;
        if (first)
            return JARM__CERT_NOT_TLS;
        if ((b == REC_CCS || b == REC_APPDATA) && p->mhdr_len == 0)
            return p->seen_hello ? JARM__CERT_NO_CERT : JARM__CERT_NO_HELLO;
        return JARM__CERT_MALFORMED;
    case 2:
        if (b != 3)
            return p->pos == 1 ? JARM__CERT_NOT_TLS : JARM__CERT_MALFORMED;
        return JARM__CERT_MORE;
    case 5:
        p->rec_left = get16(p->rhdr + 3);
        if (p->rec_left > REC_MAX)
            return JARM__CERT_MALFORMED;
        if (p->rec_left == 0)
            p->rhdr_len = 0; /* an empty record: only costs its header against max */
        return JARM__CERT_MORE;
    default:
        return JARM__CERT_MORE;
    }
}

jarm__cert_status_t jarm__cert_feed(jarm__cert_parser_t *p, const uint8_t *data, size_t len)
{
    size_t i = 0;

    while (p->status == JARM__CERT_MORE && i < len) {
        if (p->rhdr_len < 5) {
            p->status = record_header(p, data[i++]);
            p->pos++;
        } else {
            size_t n = len - i, used;
            if (n > p->rec_left)
                n = p->rec_left;
            if (n > p->max - p->pos)
                n = p->max - p->pos;
            used = handshake(p, data + i, n, p->pos);
            i += used;
            p->pos += used;
            p->rec_left -= used;
            if (p->rec_left == 0)
                p->rhdr_len = 0;
        }
        if (p->status == JARM__CERT_MORE && p->pos >= p->max)
            p->status = JARM__CERT_TOO_BIG;
    }
    return p->status;
}

jarm__cert_status_t jarm__cert_finish(jarm__cert_parser_t *p)
{
    if (p->status == JARM__CERT_MORE)
        p->status = JARM__CERT_TRUNCATED;
    return p->status;
}

size_t jarm__cert_count(const jarm__cert_parser_t *p)
{
    return p->status == JARM__CERT_FOUND ? p->ncerts : 0;
}

int jarm__cert_der(const jarm__cert_parser_t *p, size_t i, const uint8_t **der, size_t *len)
{
    size_t at = 3;

    if (i >= jarm__cert_count(p))
        return JARM_EINVAL;
    for (;;) { /* certificate() checked every length */
        size_t n = get24(p->buf + at);
        if (i-- == 0) {
            *der = p->buf + at + 3;
            *len = n;
            return 0;
        }
        at += 3 + n;
    }
}

/* ----------------------------------------------------------------------------------------
 * X.509 summary
 */

static int digest(const EVP_MD *md, const uint8_t *der, size_t len, char *out)
{
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (EVP_Digest(der, len, d, &dlen, md, NULL) != 1)
        return -1;
    jarm__hex_encode(out, d, dlen);
    return 0;
}

static char *name_rfc2253(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *s = NULL;
    long n;

    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(b, &data);
        if (n >= 0 && (s = malloc((size_t)n + 1)) != NULL) {
            if (n > 0)
                memcpy(s, data, (size_t)n);
            s[n] = '\0';
        }
    }
    BIO_free(b);
    return s;
}

/* The serial as openssl's i2a_ASN1_INTEGER prints it, in lowercase. */
static char *serial_hex(const ASN1_INTEGER *serial)
{
    const uint8_t *d = ASN1_STRING_get0_data(serial);
    int n = ASN1_STRING_length(serial), neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
    char *s = malloc(2 * (size_t)(n > 0 ? n : 1) + 2), *at;

    if (s == NULL)
        return NULL;
    at = s;
    if (neg)
        *at++ = '-';
    if (n <= 0)
        memcpy(at, "00", 3);
    else
        jarm__hex_encode(at, d, (size_t)n);
    return s;
}

static void iso_time(const ASN1_TIME *t, char out[21])
{
    struct tm tm;
    char tmp[64];

    out[0] = '\0';
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return;
    if (snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) == 20)
        memcpy(out, tmp, 21);
}

static void lower_copy(char *dst, size_t cap, const char *prefix, const char *s)
{
    size_t n = 0;
    for (const char *q = prefix; *q != '\0' && n + 1 < cap; q++)
        dst[n++] = *q;
    for (; *s != '\0' && n + 1 < cap; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = "abcdefghijklmnopqrstuvwxyz"[c - 'A'];
        dst[n++] = c;
    }
    dst[n] = '\0';
}

static void key_name(X509 *c, char out[32])
{
    EVP_PKEY *k = X509_get0_pubkey(c);
    char group[64];
    size_t glen = 0;
    int id;

    if (k == NULL) {
        lower_copy(out, 32, "", "unknown");
        return;
    }
    id = EVP_PKEY_get_base_id(k);
    switch (id) {
    case EVP_PKEY_RSA:
        (void)snprintf(out, 32, "rsa-%d", EVP_PKEY_get_bits(k));
        return;
    case EVP_PKEY_RSA_PSS:
        (void)snprintf(out, 32, "rsa-pss-%d", EVP_PKEY_get_bits(k));
        return;
    case EVP_PKEY_DSA:
        (void)snprintf(out, 32, "dsa-%d", EVP_PKEY_get_bits(k));
        return;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1)
            lower_copy(out, 32, "", "ec-unknown");
        else if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            lower_copy(out, 32, "", "ec-p256");
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            lower_copy(out, 32, "", "ec-p384");
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            lower_copy(out, 32, "", "ec-p521");
        else
            lower_copy(out, 32, "ec-", group);
        return;
    default:
        if (id != NID_undef && OBJ_nid2sn(id) != NULL)
            lower_copy(out, 32, "", OBJ_nid2sn(id));
        else if (EVP_PKEY_get0_type_name(k) != NULL)
            lower_copy(out, 32, "", EVP_PKEY_get0_type_name(k));
        else
            lower_copy(out, 32, "", "unknown");
    }
}

/* Append a copy of s[0..n) to x->san. */
static int san_add(jarm__x509_t *x, size_t *cap, const void *s, size_t n)
{
    char *copy;
    if (x->nsan == *cap) {
        size_t ncap = *cap ? 2 * *cap : 8;
        char **ns = realloc(x->san, ncap * sizeof(*ns));
        size_t *nl = realloc(x->san_len, ncap * sizeof(*nl));
        if (ns != NULL)
            x->san = ns;
        if (nl != NULL)
            x->san_len = nl;
        if (ns == NULL || nl == NULL)
            return -ENOMEM;
        *cap = ncap;
    }
    copy = malloc(n + 1);
    if (copy == NULL)
        return -ENOMEM;
    if (n > 0)
        memcpy(copy, s, n);
    copy[n] = '\0';
    x->san[x->nsan] = copy;
    x->san_len[x->nsan++] = n;
    return 0;
}

static int sans(X509 *c, jarm__x509_t *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    size_t cap = 0;
    int err = 0;

    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && err == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char ip[INET6_ADDRSTRLEN];
        const uint8_t *d;
        int n;

        if (g->type == GEN_DNS) {
            d = ASN1_STRING_get0_data(g->d.dNSName);
            n = ASN1_STRING_length(g->d.dNSName);
            err = san_add(x, &cap, d, n > 0 ? (size_t)n : 0);
        } else if (g->type == GEN_IPADD) {
            d = ASN1_STRING_get0_data(g->d.iPAddress);
            n = ASN1_STRING_length(g->d.iPAddress);
            if ((n == 4 && inet_ntop(AF_INET, d, ip, sizeof(ip)) != NULL) ||
                (n == 16 && inet_ntop(AF_INET6, d, ip, sizeof(ip)) != NULL))
                err = san_add(x, &cap, ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(gens);
    return err;
}

void jarm__x509_free(jarm__x509_t *x)
{
    free(x->subject);
    free(x->issuer);
    free(x->serial);
    for (size_t i = 0; i < x->nsan; i++)
        free(x->san[i]);
    free(x->san);
    free(x->san_len);
    memset(x, 0, sizeof(*x));
}

int jarm__x509_summary(const uint8_t *der, size_t len, jarm__x509_t *x)
{
    const unsigned char *q = der;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *obj = NULL;
    X509 *c;
    int err = JARM_EFORMAT;

    memset(x, 0, sizeof(*x));
    if (len == 0 || len > LONG_MAX)
        return JARM_EFORMAT;
    c = d2i_X509(NULL, &q, (long)len);
    if (c == NULL || q != der + len)
        goto Exit;

    err = -ENOMEM;
    if (digest(EVP_sha256(), der, len, x->sha256) != 0 ||
        digest(EVP_sha1(), der, len, x->sha1) != 0)
        goto Exit;
    x->subject = name_rfc2253(X509_get_subject_name(c));
    x->issuer = name_rfc2253(X509_get_issuer_name(c));
    x->serial = serial_hex(X509_get0_serialNumber(c));
    if (x->subject == NULL || x->issuer == NULL || x->serial == NULL)
        goto Exit;
    iso_time(X509_get0_notBefore(c), x->not_before);
    iso_time(X509_get0_notAfter(c), x->not_after);
    if (sans(c, x) != 0)
        goto Exit;
    key_name(c, x->key);
    X509_get0_signature(NULL, &alg, c);
    if (alg != NULL)
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
    if (obj == NULL || OBJ_obj2txt(x->sig_alg, sizeof(x->sig_alg), obj, 0) <= 0)
        x->sig_alg[0] = '\0';
    x->self_signed = X509_self_signed(c, 1) == 1;
    x->chain_len = 1;
    err = 0;

Exit:
    X509_free(c);
    ERR_clear_error(); /* the thread's error queue must not fill up with hostile input */
    if (err != 0)
        jarm__x509_free(x);
    return err;
}

/* Printable ASCII: the summary's strings are RFC 2253 text or SAN bytes (any bytes). */
static void put_str(jarm__out_t *o, const char *s, size_t n)
{
    jarm__json_put(o, s, n, JARM__JSON_ASCII);
}

static void put_field(jarm__out_t *o, const char *key, const char *s, size_t n)
{
    jarm__out_puts(o, ",\"");
    jarm__out_puts(o, key);
    jarm__out_puts(o, "\":");
    put_str(o, s, n);
}

int jarm__x509_json(const jarm__x509_t *x, char *out, size_t cap, size_t *out_len)
{
    jarm__out_t o = {out, 0, out ? cap : 0};
    char num[32];

    jarm__out_puts(&o, "{\"sha256\":\"");
    jarm__out_puts(&o, x->sha256);
    jarm__out_puts(&o, "\",\"sha1\":\"");
    jarm__out_puts(&o, x->sha1);
    jarm__out_puts(&o, "\"");
    put_field(&o, "subject", x->subject ? x->subject : "", x->subject ? strlen(x->subject) : 0);
    put_field(&o, "issuer", x->issuer ? x->issuer : "", x->issuer ? strlen(x->issuer) : 0);
    put_field(&o, "serial", x->serial ? x->serial : "", x->serial ? strlen(x->serial) : 0);
    put_field(&o, "not_before", x->not_before, strlen(x->not_before));
    put_field(&o, "not_after", x->not_after, strlen(x->not_after));
    jarm__out_puts(&o, ",\"san\":[");
    for (size_t i = 0; i < x->nsan; i++) {
        if (i)
            jarm__out_puts(&o, ",");
        put_str(&o, x->san[i], x->san_len[i]);
    }
    jarm__out_puts(&o, "]");
    put_field(&o, "key", x->key, strlen(x->key));
    put_field(&o, "sig_alg", x->sig_alg, strlen(x->sig_alg));
    jarm__out_puts(&o, x->self_signed ? ",\"self_signed\":true" : ",\"self_signed\":false");
    (void)snprintf(num, sizeof(num), ",\"chain_len\":%zu}", x->chain_len);
    jarm__out_puts(&o, num);

    *out_len = o.len;
    if (out == NULL || o.len >= o.cap)
        return JARM_ENOBUFS;
    out[o.len] = '\0';
    return 0;
}
