/*
 * certread.h - the server's certificate for a target's row (--cert): which probe reads it,
 * and what the row says.
 *
 * A JARM probe that negotiates TLS 1.2 or lower is followed, in clear, by the server's
 * Certificate message in the same flight. With the scanner's after_parse hook set
 * (jarm__certread_hook), the first probe of a target whose ServerHello selects TLS 1.2 or
 * lower becomes the target's reader: its connection reads on past the fingerprint's final
 * parse and feeds every byte, from the first, to the bounded parser of cert.h, until the
 * Certificate message is decided, max bytes were read, or the connection ends (EOF, error,
 * its deadline). The fingerprint is untouched: the probe's result is recorded when its
 * reply is decided, as without the hook.
 *
 * Memory: one parser (its message buffer at most max bytes) per target while its reader
 * reads, then the certificate's JSON object until the target's row is written.
 */
#ifndef JARM_CERTREAD_H_
#define JARM_CERTREAD_H_

#include <stddef.h>
#include <stdint.h>

#include "cert.h"

struct jarm__scan_s;
struct jarm__target_s;
struct jarm__certcache_s;

typedef struct jarm__certread_s {
    size_t max;             /* stream bytes the reader may read; 0: the target wants none */
    jarm__cert_parser_t *p; /* the reader's parser while it reads, else NULL */
    char *json;             /* the certificate's JSON object (NUL-terminated), once found */
    char sha256[65];        /* ... and its SHA-256 in hex ("" until then) */
    uint8_t state;          /* CR_NONE, CR_READING or CR_DONE (certread.c) */
    uint8_t status;         /* CR_DONE: the reader's outcome */
    uint8_t tls13;          /* a probe's ServerHello selected TLS 1.3 */
    uint8_t note;           /* a ServerHello that is none of these: the parser's word */
    struct jarm__certcache_s *cache; /* the scan's summaries already made, or NULL */
} jarm__certread_t;

/* The target wants its certificate, reading at most max stream bytes (0: the default). */
void jarm__certread_want(jarm__certread_t *cr, size_t max, struct jarm__certcache_s *cache);

/*
 * A probe's reply is a ServerHello, final for the fingerprint; buf[0..len) is every byte
 * its connection received so far. Returns 1 when this connection is now the reader and
 * must feed the bytes that follow, 0 otherwise.
 */
int jarm__certread_begin(jarm__certread_t *cr, const uint8_t *buf, size_t len);

/* The reader's next bytes. Returns 1 to go on reading, 0 when the outcome is decided. */
int jarm__certread_feed(jarm__certread_t *cr, const uint8_t *buf, size_t len);

/* The reader's stream ended (EOF, error, deadline): undecided means truncated. */
void jarm__certread_end(jarm__certread_t *cr);

/*
 * For the row of target t (its probes' statuses explain a target without a reader): the
 * certificate's JSON object, or NULL and then *error is the cert_error word ("tls13",
 * "alert", "truncated", "bad_der", ...). Both NULL when the target wanted no certificate.
 */
const char *jarm__certread_result(const struct jarm__target_s *t, const char **error);

/* Release what cr holds; it wants nothing afterwards. */
void jarm__certread_free(jarm__certread_t *cr);

/* Set s's after_parse hooks so that the targets that want it read their certificate. */
void jarm__certread_hook(struct jarm__scan_s *s);

/* Free the scan's cache of summaries (NULL: nothing). */
void jarm__certcache_free(struct jarm__certcache_s *c);

#endif /* JARM_CERTREAD_H_ */
