/*
 * fuzz_socks5.c - the reader of a SOCKS5 proxy's replies and the request builders.
 *
 * The input's first byte chooses the reply kind (method, auth, connect); the rest is what
 * the proxy sent. Properties checked:
 *   1. Incrementality: fed at once, byte by byte and in pseudo-random chunks (each copied
 *      into an exact-size heap buffer), the reader ends in the same state.
 *   2. Bounds and the stop: at most 262 bytes are consumed; "more" means every byte was
 *      consumed; a final reader takes nothing more; on "done" the length is what the
 *      reply's own bytes say (2; 4 for a connect failure; 10, 22 or 7 + name length) and
 *      the bound address and port are those bytes; "malformed" is decided by the last byte
 *      consumed (the reply minus it is "more").
 *   3. The builders: the input, cut into a name and credentials, gives a CONNECT request and
 *      an auth request whose fields read back as given, or is refused for a length.
 * Any violation aborts.
 */
#include <string.h>

#include "fuzz.h"
#include "jarm.h"
#include "socks5.h"

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* step 0: at once; 1: byte by byte; 2: random chunks. */
static void feed(jarm__socks5_reply_t *r, jarm__socks5_kind_t kind, const uint8_t *data,
                 size_t size, int step, uint64_t seed)
{
    size_t at = 0;
    jarm__socks5_reply_init(r, kind);
    while (at < size) {
        size_t n = size - at, used = 0, before = r->len;
        jarm__socks5_status_t st = (jarm__socks5_status_t)r->status;
        uint8_t *chunk;
        if (step == 1) {
            n = 1;
        } else if (step > 1) {
            size_t want = (size_t)(next_rand(&seed) >> 40) % 16 + 1;
            if (want < n)
                n = want;
        }
        chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + at, n);
        (void)jarm__socks5_reply_feed(r, chunk, n, &used);
        free(chunk);
        FUZZ_CHECK(r->len == before + used && used <= n);
        if (st != JARM__SOCKS5_MORE)
            FUZZ_CHECK(used == 0 && r->status == st);
        if (r->status == JARM__SOCKS5_MORE)
            FUZZ_CHECK(used == n);
        FUZZ_CHECK(r->len <= 262);
        at += n;
    }
}

static void check_done(const jarm__socks5_reply_t *r, const uint8_t *d)
{
    size_t want;

    if (r->kind != JARM__SOCKS5_CONNECT_REPLY) {
        FUZZ_CHECK(r->len == 2 && d[0] == (r->kind == JARM__SOCKS5_AUTH_REPLY ? d[0] : 5));
        FUZZ_CHECK(r->kind == JARM__SOCKS5_METHOD_REPLY ? r->method == d[1] : r->code == d[1]);
        return;
    }
    FUZZ_CHECK(d[0] == 5 && r->code == d[1]);
    if (d[1] != 0) {
        FUZZ_CHECK(r->len == 4);
        return;
    }
    FUZZ_CHECK(r->atyp == d[3]);
    want = d[3] == 1 ? 10 : d[3] == 4 ? 22 : (size_t)7 + d[4];
    FUZZ_CHECK(d[3] == 1 || d[3] == 3 || d[3] == 4);
    FUZZ_CHECK(r->len == want);
    FUZZ_CHECK(r->bound_port == (uint16_t)(d[want - 2] << 8 | d[want - 1]));
    if (d[3] != 3)
        FUZZ_CHECK(r->bound_len == want - 6 && memcmp(r->bound, d + 4, want - 6) == 0);
    else
        FUZZ_CHECK(r->bound_len == d[4]);
}

static void builders(const uint8_t *data, size_t size)
{
    uint8_t out[JARM__SOCKS5_REQUEST_MAX];
    size_t cut = size > 0 ? data[0] % (size + 1) : 0, ul = cut, pl = size - cut;
    unsigned port = size >= 2 ? (unsigned)(data[0] << 8 | data[size - 1]) : 443;
    int n;

    n = jarm__socks5_connect_request(3, data, size, port, out);
    if (size == 0 || size > 255) {
        FUZZ_CHECK(n == JARM_EINVAL);
    } else {
        FUZZ_CHECK(n == (int)size + 7 && out[0] == 5 && out[1] == 1 && out[3] == 3);
        FUZZ_CHECK(out[4] == size && memcmp(out + 5, data, size) == 0);
        FUZZ_CHECK((unsigned)(out[5 + size] << 8 | out[6 + size]) == port);
    }
    n = jarm__socks5_auth_request((const char *)data, ul, (const char *)data + cut, pl, out);
    if (ul > 255 || pl > 255) {
        FUZZ_CHECK(n == JARM_EINVAL);
    } else {
        FUZZ_CHECK(n == (int)(ul + pl + 3) && out[0] == 1 && out[1] == ul && out[2 + ul] == pl);
        FUZZ_CHECK(memcmp(out + 2, data, ul) == 0 && memcmp(out + 3 + ul, data + cut, pl) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jarm__socks5_reply_t a, b, c;
    jarm__socks5_kind_t kind;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;

    if (size < 1)
        return 0;
    kind = (jarm__socks5_kind_t)(data[0] % 3);
    data++;
    size--;
    feed(&a, kind, data, size, 0, 0);
    feed(&b, kind, data, size, 1, 0);
    feed(&c, kind, data, size, 2, seed);
    FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0 && memcmp(&a, &c, sizeof(a)) == 0);
    if (a.status == JARM__SOCKS5_DONE)
        check_done(&a, data);
    if (a.status == JARM__SOCKS5_MALFORMED) {
        feed(&b, kind, data, a.len - 1u, 0, 0);
        FUZZ_CHECK(b.status == JARM__SOCKS5_MORE && b.len == a.len - 1u);
    }
    builders(data, size);
    return 0;
}
