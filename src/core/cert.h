/*
 * cert.h - the server's certificate, taken from the clear-text flight of a JARM probe.
 *
 * Two pure pieces (no I/O, no libuv; libcrypto only), internal to jarmsweep:
 *
 *   1. jarm__cert_parser_t: an incremental, bounded reader of the byte stream a server sent
 *      on one connection, from its first TLS record. It reassembles handshake messages
 *      across records (a message may span records, a record may hold several messages,
 *      records may be one byte long), checks the ServerHello, and stops at the end of the
 *      Certificate message, whose DER certificates it then hands out. Whatever way the
 *      stream is cut into feeds, the result and the number of bytes consumed are the same.
 *      It never reads more than `max` bytes of the stream, and holds at most the largest
 *      handshake message it has seen (never more than `max` bytes) plus the parser struct.
 *
 *   2. jarm__x509_t: a summary of one DER certificate made with libcrypto (hashes, names,
 *      serial, validity, subjectAltName, key, signature algorithm), and its JSON object.
 *
 * Both are internal (jarm__) rather than part of include/jarm.h: the fingerprint core of
 * libjarm is reference-exact and allocation-free, while this is an annotation of the
 * scanner's rows whose fields may still change with the row model; the parser allocates.
 */
#ifndef JARM_CERT_H_
#define JARM_CERT_H_

#include <stddef.h>
#include <stdint.h>

/* Default for max: 64 KiB of stream, record headers included. */
#define JARM__CERT_MAX_DEFAULT 65536
/* The largest max the command line and the scanning API accept (16 MiB). */
#define JARM__CERT_MAX_LIMIT 16777216

/*
 * Outcomes. JARM__CERT_MORE is the only undecided one; every other is final and stays so.
 * The names (jarm__cert_status_name) are what a row's cert_error says.
 */
typedef enum jarm__cert_status_e {
    JARM__CERT_MORE = 0,  /* "need more": feed more bytes, or call jarm__cert_finish at EOF */
    JARM__CERT_FOUND,     /* the Certificate message is complete: see jarm__cert_der */
    JARM__CERT_TLS13,     /* "tls13": the ServerHello selects TLS 1.3 (supported_versions,
                             or a legacy version >= 0x0304); the certificate is encrypted */
    JARM__CERT_NO_CERT,   /* "no_certificate": after the ServerHello came another handshake
                             message, ChangeCipherSpec or application data, or an empty
                             certificate list */
    JARM__CERT_NO_HELLO,  /* "no_server_hello": the first handshake message is not a
                             ServerHello */
    JARM__CERT_ALERT,     /* "alert": an alert record came before the certificate */
    JARM__CERT_NOT_TLS,   /* "not_tls": the first record is not a TLS record */
    JARM__CERT_MALFORMED, /* "malformed": a length that lies (record over 2^14 + 2048 bytes,
                             ServerHello or certificate list fields that do not add up),
                             another record type in the middle of a handshake message, an
                             unknown record type */
    JARM__CERT_TOO_BIG,   /* "too_big": the Certificate message does not end within max
                             bytes of the stream (decided as soon as a length shows it) */
    JARM__CERT_TRUNCATED, /* "truncated": EOF (jarm__cert_finish) before a decision */
    JARM__CERT_NOMEM      /* "no_memory": allocating the message buffer failed */
} jarm__cert_status_t;

typedef struct jarm__cert_parser_s {
    size_t max; /* stream bytes the parser may read */
    size_t pos; /* stream bytes consumed */
    jarm__cert_status_t status;
    /* record layer */
    uint8_t rhdr[5];
    unsigned rhdr_len; /* bytes of the record header read; 5 while inside a record */
    size_t rec_left;   /* payload bytes left in the current record */
    /* handshake layer */
    uint8_t mhdr[4];
    unsigned mhdr_len; /* bytes of the message header read */
    size_t msg_len, msg_have;
    int seen_hello;
    uint8_t *buf; /* the body of the current message (msg_len <= cap <= max) */
    size_t cap;
    /* result (JARM__CERT_FOUND) */
    size_t ncerts;
    uint16_t version; /* the version the ServerHello selected, once seen */
} jarm__cert_parser_t;

/* Start a parser reading at most max stream bytes (0: JARM__CERT_MAX_DEFAULT). No allocation. */
void jarm__cert_init(jarm__cert_parser_t *p, size_t max);

/*
 * Feed the next len bytes of the stream. Returns the status: JARM__CERT_MORE when every
 * byte was consumed and more are needed, or a final status (then p->pos tells how many
 * stream bytes were consumed in all; the bytes after them were not looked at). Feeding a
 * parser whose status is final changes nothing.
 */
jarm__cert_status_t jarm__cert_feed(jarm__cert_parser_t *p, const uint8_t *data, size_t len);

/* The stream ended (EOF, error or timeout): JARM__CERT_MORE becomes JARM__CERT_TRUNCATED. */
jarm__cert_status_t jarm__cert_finish(jarm__cert_parser_t *p);

/* Number of certificates in the message (leaf first), 0 unless JARM__CERT_FOUND. */
size_t jarm__cert_count(const jarm__cert_parser_t *p);

/*
 * Certificate i (0 = the leaf) of a JARM__CERT_FOUND parser: *der points into the parser
 * (valid until jarm__cert_free), *len its length. Returns 0, or JARM_EINVAL (i out of range).
 */
int jarm__cert_der(const jarm__cert_parser_t *p, size_t i, const uint8_t **der, size_t *len);

/* Release the buffer; the parser may then be initialised again. */
void jarm__cert_free(jarm__cert_parser_t *p);

/* The short name of a status ("tls13", "too_big", ...; "found" and "more" for those two). */
const char *jarm__cert_status_name(jarm__cert_status_t s);

/*
 * Summary of one certificate. Text fields are NUL-terminated and owned by the struct.
 *   sha256, sha1   digests of the DER, lowercase hex without colons
 *   subject,       RFC 2253 strings, as X509_NAME_print_ex with XN_FLAG_RFC2253 (and
 *   issuer         `openssl x509 -nameopt RFC2253`) print them: non-ASCII and control
 *                  bytes escaped as \XX, so the text is printable ASCII
 *   serial         the serial's bytes in lowercase hex, two digits per byte as openssl
 *                  prints them ("00" for an empty one), '-' first if negative
 *   not_before,    ISO 8601 UTC, "2026-12-06T13:00:00Z"; "" when the time does not decode
 *   not_after
 *   san            subjectAltName DNS names (as stored, any bytes) and IP addresses of 4 or
 *                  16 bytes (inet_ntop text: "192.0.2.1", "2001:db8::1"), in the order of
 *                  the extension; other name types are left out
 *   key            "rsa-2048", "rsa-pss-2048", "dsa-2048", "ec-p256", "ec-p384", "ec-p521",
 *                  "ec-<curve>" for other curves, "ed25519", "ed448", or the key
 *                  algorithm's short name in lowercase; "unknown" if the key does not decode
 *   sig_alg        the signature algorithm's OpenSSL long name, as `openssl x509 -text`
 *                  prints it ("sha256WithRSAEncryption", "ecdsa-with-SHA256", "ED25519"),
 *                  or the dotted OID when OpenSSL has no name for it
 *   self_signed    issuer equals subject and the certificate's own key verifies it
 *   chain_len      certificates in the server's message, leaf included (set by the caller)
 */
typedef struct jarm__x509_s {
    char sha256[65];
    char sha1[41];
    char *subject;
    char *issuer;
    char *serial;
    char not_before[21];
    char not_after[21];
    char **san;      /* nsan strings, NUL-terminated; san_len[i] is the length of san[i], */
    size_t *san_len; /* which may hold a NUL byte ("good.example\0.evil.example") */
    size_t nsan;
    char key[32];
    char sig_alg[64];
    int self_signed;
    size_t chain_len;
} jarm__x509_t;

/*
 * Summarise the DER certificate der[0..len). Returns 0, JARM_EFORMAT when it does not
 * decode as exactly one X.509 certificate (trailing bytes included), or -ENOMEM. On error
 * *x holds nothing to free; on success release it with jarm__x509_free.
 */
int jarm__x509_summary(const uint8_t *der, size_t len, jarm__x509_t *x);

void jarm__x509_free(jarm__x509_t *x);

/*
 * The summary as one JSON object (keys in the order above), NUL-terminated, into out.
 * Strings are escaped (quotes, backslash; a control byte, DEL or a byte >= 0x80 becomes
 * \u00XX), so the object is printable ASCII.
 * Stores the length in *out_len. Returns 0, or JARM_ENOBUFS (then *out_len is the length
 * needed, without the NUL).
 */
int jarm__x509_json(const jarm__x509_t *x, char *out, size_t cap, size_t *out_len);

#endif /* JARM_CERT_H_ */
