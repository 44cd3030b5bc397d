/*
 * fuzz_httpproxy.c - the HTTP proxy reply reader and the CONNECT request builder.
 *
 * The input is what a proxy sent after a CONNECT. Properties checked:
 *   1. Incrementality: fed at once, byte by byte and in pseudo-random chunks (each copied
 *      into an exact-size heap buffer), the reader ends in the same state: status, bytes
 *      consumed, code, version, reason, Proxy-Authenticate scheme, header count. A final
 *      reader takes no more bytes; jarm__http_reply_finish turns only "more" into
 *      "truncated".
 *   2. Bounds and the stop: at most max bytes are consumed (the default and a max of
 *      1..256 from the input); "more" means every byte was consumed and fewer than max;
 *      on "done" the last byte consumed is the LF of a blank line, the head starts with
 *      "HTTP/1.", the code is the three digits at bytes 9..11 and lies in 100..599, the
 *      reason is printable or obs-text and found verbatim in the head, and the head alone
 *      gives the same answer while the head minus its last byte gives "more".
 *   3. The builder: the input, cut into host, user and password, either is refused or gives
 *      a request that starts with "CONNECT ", has CR LF only at line ends, ends with an
 *      empty line, and whose Basic credentials decode back to "user:pass".
 * Any violation aborts.
 */
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "httpproxy.h"
#include "jarm.h"

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void feed(jarm__http_reply_t *r, size_t max, const uint8_t *data, size_t size, int step,
                 uint64_t seed)
{
    size_t at = 0;
    jarm__http_reply_init(r, max);
    while (at < size) {
        size_t n = size - at, before = r->len;
        jarm__http_status_t st = r->status;
        uint8_t *chunk;
        if (step == 1) {
            n = 1;
        } else if (step > 1) {
            size_t want = (size_t)(next_rand(&seed) >> 40) % 64 + 1;
            if (want < n)
                n = want;
        }
        chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + at, n);
        (void)jarm__http_reply_feed(r, chunk, n);
        free(chunk);
        if (st != JARM__HTTP_MORE)
            FUZZ_CHECK(r->status == st && r->len == before);
        else if (r->status == JARM__HTTP_MORE)
            FUZZ_CHECK(r->len == before + n);
        FUZZ_CHECK(r->len <= r->max);
        at += n;
    }
}

static void same(const jarm__http_reply_t *a, const jarm__http_reply_t *b)
{
    FUZZ_CHECK(a->status == b->status && a->len == b->len && a->code == b->code &&
               a->minor == b->minor && a->reason_len == b->reason_len &&
               a->reason_cut == b->reason_cut && a->headers == b->headers);
    FUZZ_CHECK(memcmp(a->reason, b->reason, sizeof(a->reason)) == 0);
    FUZZ_CHECK(memcmp(a->auth_scheme, b->auth_scheme, sizeof(a->auth_scheme)) == 0);
}

static void check_done(const jarm__http_reply_t *r, const uint8_t *data)
{
    size_t n = r->len;
    jarm__http_reply_t h;

    FUZZ_CHECK(n >= 14 && memcmp(data, "HTTP/1.", 7) == 0);
    FUZZ_CHECK(data[n - 1] == '\n' &&
               (data[n - 2] == '\n' || (data[n - 2] == '\r' && data[n - 3] == '\n')));
    FUZZ_CHECK(r->code == (unsigned)(data[9] - '0') * 100 + (unsigned)(data[10] - '0') * 10 +
                              (unsigned)(data[11] - '0'));
    FUZZ_CHECK(r->code >= 100 && r->code <= 599 && r->minor == (unsigned)(data[7] - '0'));
    FUZZ_CHECK(r->reason_len <= JARM__HTTP_REASON_MAX && r->reason[r->reason_len] == '\0');
    for (size_t i = 0; i < r->reason_len; i++) {
        uint8_t c = (uint8_t)r->reason[i];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    FUZZ_CHECK(r->reason_len == 0 || memmem(data, n, r->reason, r->reason_len) != NULL);
    FUZZ_CHECK(strlen(r->auth_scheme) < sizeof(r->auth_scheme));
    feed(&h, r->max, data, n, 0, 1);
    same(r, &h);
    feed(&h, r->max, data, n - 1, 0, 1);
    FUZZ_CHECK(h.status == JARM__HTTP_MORE && h.len == n - 1);
}

static void check_builder(const uint8_t *data, size_t size)
{
    size_t hl, ul, pl, len, need;
    const char *host, *user, *pass;
    unsigned port;
    char out[2048];
    uint8_t dec[1024];

    if (size < 4)
        return;
    hl = data[0] % 64;
    ul = data[1] % 64;
    port = (unsigned)data[2] << 8 | data[3];
    data += 4;
    size -= 4;
    if (hl > size)
        hl = size;
    if (ul > size - hl)
        ul = size - hl;
    pl = size - hl - ul;
    if (pl > 300)
        pl = 300;
    host = (const char *)data;
    user = (const char *)data + hl;
    pass = (const char *)data + hl + ul;
    if (jarm__http_connect_build(host, hl, port, ul ? user : NULL, ul, pass, pl, out, sizeof(out),
                                 &len) != 0)
        return;
    FUZZ_CHECK(len == strlen(out) && len > 4 && memcmp(out, "CONNECT ", 8) == 0);
    FUZZ_CHECK(memcmp(out + len - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\r')
            FUZZ_CHECK(out[i + 1] == '\n');
        else if (out[i] == '\n')
            FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
        else
            FUZZ_CHECK((uint8_t)out[i] >= 0x20 && (uint8_t)out[i] != 0x7f);
    }
    FUZZ_CHECK(jarm__http_connect_build(host, hl, port, ul ? user : NULL, ul, pass, pl, out, len,
                                        &need) == JARM_ENOBUFS &&
               need == len);
    if (ul) {
        const char *b = strstr(out, "Proxy-Authorization: Basic "), *e;
        int n;
        FUZZ_CHECK(b != NULL);
        b += strlen("Proxy-Authorization: Basic ");
        e = strstr(b, "\r\n");
        FUZZ_CHECK(e != NULL && (e - b) % 4 == 0);
        n = EVP_DecodeBlock(dec, (const uint8_t *)b, (int)(e - b));
        FUZZ_CHECK(n >= 0);
        n -= (e[-1] == '=') + (e[-2] == '=');
        FUZZ_CHECK((size_t)n == ul + 1 + pl && memcmp(dec, user, ul) == 0 && dec[ul] == ':' &&
                   memcmp(dec + ul + 1, pass, pl) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jarm__http_reply_t a, b, c;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
    size_t small = size % 256 + 1;

    for (size_t i = 0; i < size && i < 64; i++)
        seed = (seed ^ data[i]) * 0x100000001b3ull;
    if (seed == 0)
        seed = 1;

    feed(&a, 0, data, size, 0, seed);
    feed(&b, 0, data, size, 1, seed);
    same(&a, &b);
    feed(&c, 0, data, size, 2, seed);
    same(&a, &c);
    if (a.status == JARM__HTTP_MORE)
        FUZZ_CHECK(a.len == size && size < a.max);
    if (a.status == JARM__HTTP_DONE)
        check_done(&a, data);
    if (a.status != JARM__HTTP_MORE)
        FUZZ_CHECK(jarm__http_reply_feed(&c, data, size) == a.status && c.len == a.len);
    FUZZ_CHECK(jarm__http_reply_finish(&c) ==
               (a.status == JARM__HTTP_MORE ? JARM__HTTP_TRUNCATED : a.status));

    /* A small max: the same answer when the head fits, too_long at max otherwise. */
    feed(&b, small, data, size, 2, seed);
    if (a.status != JARM__HTTP_MORE && a.len <= small)
        same(&a, &b);
    else if (a.status != JARM__HTTP_MORE || size >= small)
        FUZZ_CHECK(b.status == JARM__HTTP_TOO_LONG && b.len == small);

    check_builder(data, size);
    return 0;
}
