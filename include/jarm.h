/*
 * jarm.h - libjarm, the reference-exact JARM core of jarmsweep.
 *
 * JARM fingerprints a TLS server by sending it ten crafted ClientHellos, one per TCP
 * connection, turning each reply into a "probe string" and hashing the ten strings into a
 * 62-character fingerprint. The first part of this header is libjarm, the pure core: it
 * builds the probes, parses replies and computes fingerprints, with no I/O and no global
 * state. Every result equals what the reference implementation (Salesforce jarm.py, "JARM
 * version 1.0", commit e00ad79) produces for the same bytes, quirk for quirk; where the
 * reference crashes the library returns what jarm(7) describes (documented at each
 * function). The scanner (libjarmsweep: the engine on libuv and c-ares) has its own header,
 * jarmsweep.h. libjarm(3) is the manual of both; jarm(7) describes the protocol.
 *
 * Conventions: functions return 0 on success or a negative JARM_E* code; the pure functions
 * allocate no memory; every output buffer is owned by the caller; every input pointer is only
 * read during the call.
 */
#ifndef JARM_H_
#define JARM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define JARM_API __attribute__((visibility("default")))
#else
#define JARM_API
#endif

#define JARM_VERSION_MAJOR  0
#define JARM_VERSION_MINOR  1
#define JARM_VERSION_PATCH  0
#define JARM_VERSION_STRING "0.1.0"

/* Number of probes, and so of probe strings in a raw JARM string. */
#define JARM_PROBES 10

/*
 * The reference reads each reply with one recv(1484): nothing past byte 1484 of a reply can
 * ever influence a probe string. Parsers and receive buffers are sized from this.
 */
#define JARM_RX_MAX 1484

/* Longest host name accepted for the server_name extension (a DNS name has at most 253). */
#define JARM_HOST_MAX 255

/* Largest ClientHello: probe 10 is 429 bytes plus the host name. */
#define JARM_HELLO_MAX (429 + JARM_HOST_MAX)

/*
 * Upper bound of one probe string parsed from at most JARM_RX_MAX bytes: cipher (4) and
 * version (4) in hex, an ALPN value of at most JARM_RX_MAX bytes, and at most
 * (JARM_RX_MAX - 49) / 4 + 1 extension types of 5 characters each, plus three '|' and a NUL.
 */
#define JARM_PROBE_STR_MAX (4 + 1 + 4 + 1 + JARM_RX_MAX + 1 + ((JARM_RX_MAX - 49) / 4 + 1) * 5 + 1)

/* Length of a fingerprint made from ten probe strings, without its NUL. */
#define JARM_FP_LEN 62

/* The raw string of a target whose probes all failed, or of a target that timed out. */
#define JARM_RAW_EMPTY "|||,|||,|||,|||,|||,|||,|||,|||,|||,|||"

/* Errors. Codes live in -5000..-5999 so they never collide with libuv's UV_E* values. */
#define JARM_ERRNO_MAP(XX)                                        \
    XX(EAGAIN, -5001, "more reply bytes could change the result") \
    XX(EINVAL, -5002, "invalid argument")                         \
    XX(ENOBUFS, -5003, "output buffer too small")                 \
    XX(EFORMAT, -5004, "malformed fingerprint")

enum {
#define JARM__ERR_ENUM(name, val, msg) JARM_##name = (val),
    JARM_ERRNO_MAP(JARM__ERR_ENUM)
#undef JARM__ERR_ENUM
};

/* A human-readable message for a JARM_E* code (or a libuv UV_E* code); never NULL. */
JARM_API const char *jarm_strerror(int err);
/* The code's name without prefix ("EAGAIN"), or "UNKNOWN"; never NULL. */
JARM_API const char *jarm_err_name(int err);

/* ----------------------------------------------------------------------------------------
 * Probes (ClientHellos)
 */

/*
 * A source of random bytes: fill buf with len bytes. Called by jarm_probe_build for the
 * client random, the session id and the key_share key (32 bytes each) and for each GREASE
 * value (1 byte each, of which the low 4 bits choose one of the 16 GREASE values 0a0a,
 * 1a1a, ..., fafa), in the order the fields appear in the record. A source that returns
 * zeros reproduces probes.json.
 */
typedef void (*jarm_rand_fn)(void *ctx, uint8_t *buf, size_t len);

/*
 * Build probe `probe` (0..9, in the reference's send order) for `host` (host_len bytes,
 * 0..JARM_HOST_MAX; copied verbatim into server_name as the reference does, IP literals
 * included) into buf. Randomness comes from rnd(rnd_ctx, ...). On success stores the record
 * length in *out_len. Errors: JARM_EINVAL (probe out of range, host too long, rnd NULL),
 * JARM_ENOBUFS (cap too small, *out_len is then the length needed; JARM_HELLO_MAX always
 * suffices).
 */
JARM_API int jarm_probe_build(unsigned probe, const char *host, size_t host_len, jarm_rand_fn rnd,
                              void *rnd_ctx, uint8_t *buf, size_t cap, size_t *out_len);

/* The reference's name of probe 0..9 ("tls1_2_forward", ...), or NULL if out of range. */
JARM_API const char *jarm_probe_name(unsigned probe);

/* One sentence on what probe 0..9 asks the server, for `explain`; NULL if out of range. */
JARM_API const char *jarm_probe_intent(unsigned probe);

/*
 * A fast cryptographically secure generator (ChaCha20 keystream), seeded from OpenSSL's
 * RAND_bytes, for production probe randomness. jarm_rng_fill has the jarm_rand_fn shape.
 */
typedef struct jarm_rng_s {
    uint32_t key[8];
    uint32_t counter;
    uint32_t nonce[3];
    uint8_t block[64];
    unsigned used; /* bytes of block consumed */
} jarm_rng_t;

/* Seed from RAND_bytes. Returns 0, or JARM_EINVAL if OpenSSL has no entropy. */
JARM_API int jarm_rng_init(jarm_rng_t *rng);
/* Fill buf with len random bytes; ctx is a jarm_rng_t *. */
JARM_API void jarm_rng_fill(void *ctx, uint8_t *buf, size_t len);

/* ----------------------------------------------------------------------------------------
 * Replies (ServerHello parsing)
 */

/* What a decided reply was. */
typedef enum jarm_reply_kind_e {
    JARM_REPLY_NONE = 0,         /* zero bytes: connection error or EOF without data */
    JARM_REPLY_SERVER_HELLO = 1, /* a ServerHello was recognised: "CIPHER|VERSION|..." */
    JARM_REPLY_ALERT = 2,        /* first byte 0x15: a TLS alert, "|||" */
    JARM_REPLY_NOT_TLS = 3,      /* first byte neither 0x15 nor 0x16: not TLS, "|||" */
    JARM_REPLY_MALFORMED = 4     /* a 0x16 record that is not a usable ServerHello, "|||" */
} jarm_reply_kind_t;

typedef struct jarm_reply_s {
    jarm_reply_kind_t kind;
    size_t len; /* bytes of the probe string written to out, excluding the NUL */
} jarm_reply_t;

/*
 * Parse a server reply into its probe string, incrementally.
 *
 * buf holds the first len bytes the server sent on the connection (bytes past JARM_RX_MAX
 * are ignored, as the reference's recv(1484) never sees them). With final != 0 the reply is
 * complete (EOF, error or timeout after some bytes, or len >= JARM_RX_MAX) and the result
 * is what the reference's read_packet returns for buf[0 .. min(len, JARM_RX_MAX)). With
 * final == 0 the function returns JARM_EAGAIN while further bytes could still change that
 * result; otherwise the result is already the one every extension of buf would give.
 *
 * On success writes the probe string (it may contain any UTF-8 text from the server's ALPN,
 * NUL included, so use r->len) plus a terminating NUL to out, and fills *r. out may be NULL
 * with cap 0 to learn only whether the result is decided. Errors: JARM_EAGAIN (see above),
 * JARM_ENOBUFS (cap too small; JARM_PROBE_STR_MAX always suffices). Never reads buf[len] or
 * beyond.
 */
JARM_API int jarm_reply_parse(const uint8_t *buf, size_t len, int final, jarm_reply_t *r, char *out,
                              size_t cap);

/* ----------------------------------------------------------------------------------------
 * Raw string and fingerprint
 */

/*
 * Join ten probe strings (probes[i], lens[i] bytes each) with ',' into out, NUL-terminated,
 * storing the length in *out_len. Errors: JARM_ENOBUFS (then *out_len is the length needed).
 */
JARM_API int jarm_raw_join(const char *const probes[JARM_PROBES], const size_t lens[JARM_PROBES],
                           char *out, size_t cap, size_t *out_len);

/*
 * The fuzzy hash of a raw string (raw_len bytes), exactly as the reference's jarm_hash:
 * the raw string JARM_RAW_EMPTY gives 62 zeros; otherwise the string is split on ',' into
 * handshakes and each on '|' into fields, two cipher-code and one version-code characters
 * are written per handshake, then the first 32 hex digits of SHA-256 over the concatenated
 * ALPN and extension fields. Ten handshakes give JARM_FP_LEN characters; an ALPN containing
 * ',' can give more (3 per extra handshake), as in the reference.
 *
 * Where the reference crashes this function follows jarm(7) (JARMSWEEP'S DEVIATIONS), which
 * agrees with the reference wherever the reference returns a result:
 *   - a version field whose 4th character is a digit 6-9 gets 'g'-'j' ('a' + digit);
 *     any other non-empty version field the reference cannot decode gets '0';
 *   - a handshake with fewer than four '|'-separated fields (only possible with ',' inside
 *     an ALPN value) has its missing fields treated as empty.
 *
 * Writes the fingerprint and a NUL to out and its length to *out_len. Errors: JARM_ENOBUFS
 * (then *out_len is the length needed; JARM_FP_LEN + 1 suffices for ten handshakes),
 * JARM_EINVAL (SHA-256 unavailable).
 */
JARM_API int jarm_fuzzy_hash(const char *raw, size_t raw_len, char *out, size_t cap,
                             size_t *out_len);

/* The 2-character cipher code of a cipher field ("c02f" -> "29"; "" -> "00"; unknown "46"). */
JARM_API void jarm_cipher_code(const char *field, size_t len, char out[2]);
/* The 1-character version code of a version field, with the non-crashing rule above. */
JARM_API char jarm_version_code(const char *field, size_t len);

/* ----------------------------------------------------------------------------------------
 * Reading fingerprints (for `jarmsweep explain`)
 */

typedef struct jarm_fp_probe_s {
    char cipher_code[3];     /* the two characters of the fingerprint, NUL-terminated */
    char version_code;       /* the third character */
    uint16_t cipher;         /* the suite chosen; valid only if cipher_name != NULL */
    const char *cipher_name; /* IANA name of the suite; NULL for code 00 (no answer) or 46 */
    const char *version;     /* "SSL 3.0", "TLS 1.0" ... "TLS 1.3"; NULL for code 0 */
    int answered;            /* 0 when the probe got no ServerHello (code "000") */
} jarm_fp_probe_t;

/*
 * Split a 62-character fingerprint into its 30-character cipher/version half and its
 * 32-character extension-hash half (each NUL-terminated), and decode the first half into
 * per-probe entries. Any of half1, half2, probes may be NULL. Errors: JARM_EFORMAT if fp is
 * not 62 characters of lowercase hex-ish codes (cipher codes 00-46, version codes 0 or
 * a-j, hash lowercase hex).
 */
JARM_API int jarm_fp_decode(const char *fp, size_t len, char half1[31], char half2[33],
                            jarm_fp_probe_t probes[JARM_PROBES]);

/* IANA name of a cipher suite of the JARM table, or NULL if it is not one of the 69. */
JARM_API const char *jarm_cipher_name(uint16_t suite);

#ifdef __cplusplus
}
#endif

#endif /* JARM_H_ */
