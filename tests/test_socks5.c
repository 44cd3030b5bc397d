/*
 * test_socks5.c - the SOCKS5 requests and the reader of the proxy's replies.
 *
 * Every reply kind (method, auth, connect with an IPv4, IPv6 or name bound address, connect
 * failures) and every error (wrong version, unknown address type) is fed at once, byte by
 * byte and cut at every position, with trailing bytes (the TLS reply) that must never be
 * consumed; every way must give the same reader. Each feed is copied into an exact-size heap
 * buffer, so a read past it is an ASan finding.
 */
#include <stdlib.h>
#include <string.h>

#include "jarm.h"
#include "socks5.h"
#include "tap.h"

static const uint8_t tail[] = {0x16, 0x03, 0x03, 0x00, 0x2a}; /* what follows: a TLS record */

/* Feed s[0..n) and then the tail, in chunks of `chunk` bytes (0: at once). */
static void feed(jarm__socks5_reply_t *r, jarm__socks5_kind_t kind, const uint8_t *s, size_t n,
                 size_t chunk)
{
    uint8_t all[300];
    size_t at = 0, total = n + sizeof(tail);

    memcpy(all, s, n);
    memcpy(all + n, tail, sizeof(tail));
    jarm__socks5_reply_init(r, kind);
    while (at < total) {
        size_t k = chunk == 0 || chunk > total - at ? total - at : chunk, used = 0;
        uint8_t *copy = malloc(k);
        if (copy == NULL)
            abort();
        memcpy(copy, all + at, k);
        (void)jarm__socks5_reply_feed(r, copy, k, &used);
        free(copy);
        at += k;
    }
}

static int same(const jarm__socks5_reply_t *a, const jarm__socks5_reply_t *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* The reply at once, byte by byte and cut in two at every position: the same reader, which
 * consumed `want_len` bytes (the reply, never the tail) and ended in `want`. */
static int check(const char *what, jarm__socks5_kind_t kind, const uint8_t *s, size_t n,
                 jarm__socks5_status_t want, size_t want_len, jarm__socks5_reply_t *out)
{
    jarm__socks5_reply_t whole, r;
    int good = 1;

    memset(&whole, 0, sizeof(whole));
    memset(&r, 0, sizeof(r));
    feed(&whole, kind, s, n, 0);
    feed(&r, kind, s, n, 1);
    good &= ok(whole.status == want && whole.len == want_len, "%s: status %d, %u bytes consumed",
               what, whole.status, whole.len);
    good &= ok(same(&whole, &r), "%s: byte by byte the same", what);
    for (size_t cut = 0; cut <= n; cut++) {
        size_t u1 = 0, u2 = 0;
        jarm__socks5_reply_init(&r, kind);
        (void)jarm__socks5_reply_feed(&r, s, cut, &u1);
        (void)jarm__socks5_reply_feed(&r, s + cut, n - cut, &u2);
        (void)jarm__socks5_reply_feed(&r, tail, sizeof(tail), NULL);
        if (!same(&whole, &r) || u1 + u2 > want_len) {
            good &= ok(0, "%s: cut at %zu differs", what, cut);
            break;
        }
    }
    if (out != NULL)
        *out = whole;
    return good;
}

static void method_replies(void)
{
    static const uint8_t none[] = {5, 0}, userpass[] = {5, 2}, refuse[] = {5, 0xff},
                         v4[] = {4, 0}, zero[] = {0, 0};
    jarm__socks5_reply_t r;

    check("method: no auth", JARM__SOCKS5_METHOD_REPLY, none, 2, JARM__SOCKS5_DONE, 2, &r);
    ok(r.method == 0, "method: no auth chosen");
    check("method: username/password", JARM__SOCKS5_METHOD_REPLY, userpass, 2,
          JARM__SOCKS5_DONE, 2, &r);
    ok(r.method == JARM__SOCKS5_USERPASS, "method: username/password chosen");
    check("method: none acceptable", JARM__SOCKS5_METHOD_REPLY, refuse, 2, JARM__SOCKS5_DONE, 2,
          &r);
    ok(r.method == JARM__SOCKS5_NO_METHOD, "method: 0xff reported");
    check("method: SOCKS4 version byte", JARM__SOCKS5_METHOD_REPLY, v4, 2,
          JARM__SOCKS5_MALFORMED, 1, NULL);
    check("method: version 0", JARM__SOCKS5_METHOD_REPLY, zero, 2, JARM__SOCKS5_MALFORMED, 1,
          NULL);
}

static void auth_replies(void)
{
    static const uint8_t good[] = {1, 0}, bad[] = {1, 1}, v5[] = {5, 0}, v2[] = {2, 0};
    jarm__socks5_reply_t r;

    check("auth: success", JARM__SOCKS5_AUTH_REPLY, good, 2, JARM__SOCKS5_DONE, 2, &r);
    ok(r.code == 0, "auth: code 0");
    check("auth: failure", JARM__SOCKS5_AUTH_REPLY, bad, 2, JARM__SOCKS5_DONE, 2, &r);
    ok(r.code == 1, "auth: code 1");
    check("auth: version 5 tolerated", JARM__SOCKS5_AUTH_REPLY, v5, 2, JARM__SOCKS5_DONE, 2, &r);
    check("auth: version 2", JARM__SOCKS5_AUTH_REPLY, v2, 2, JARM__SOCKS5_MALFORMED, 1, NULL);
}

static void connect_replies(void)
{
    static const uint8_t v4[] = {5, 0, 0, 1, 10, 1, 2, 3, 0x1f, 0x90};
    static const uint8_t v6[] = {5, 0, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0,
                                 0, 0, 0,    0, 0,    0,    0, 1, 0x01, 0xbb};
    static const uint8_t name[] = {5, 0, 0, 3, 9, 'l', 'o', 'c', 'a', 'l',
                                   'h', 'o', 's', 't', 0, 80};
    static const uint8_t empty_name[] = {5, 0, 0, 3, 0, 0, 1};
    static const uint8_t long_name_head[] = {5, 0, 0, 3, 255};
    static const uint8_t refused[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};
    static const uint8_t general[] = {5, 1, 0, 1};
    static const uint8_t bad_ver[] = {4, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    static const uint8_t bad_atyp[] = {5, 0, 0, 2, 0, 0, 0, 0, 0, 0};
    static const uint8_t zero_atyp[] = {5, 0, 0, 0};
    uint8_t big[5 + 255 + 2];
    jarm__socks5_reply_t r;
    size_t used = 0;

    check("connect: IPv4 bound address", JARM__SOCKS5_CONNECT_REPLY, v4, sizeof(v4),
          JARM__SOCKS5_DONE, sizeof(v4), &r);
    ok(r.code == 0 && r.atyp == 1 && r.bound_len == 4 && memcmp(r.bound, v4 + 4, 4) == 0 &&
           r.bound_port == 8080,
       "connect: IPv4 10.1.2.3 port 8080");
    check("connect: IPv6 bound address", JARM__SOCKS5_CONNECT_REPLY, v6, sizeof(v6),
          JARM__SOCKS5_DONE, sizeof(v6), &r);
    ok(r.atyp == 4 && r.bound_len == 16 && memcmp(r.bound, v6 + 4, 16) == 0 &&
           r.bound_port == 443,
       "connect: IPv6 2001:db8::1 port 443");
    check("connect: name bound address", JARM__SOCKS5_CONNECT_REPLY, name, sizeof(name),
          JARM__SOCKS5_DONE, sizeof(name), &r);
    ok(r.atyp == 3 && r.bound_len == 9 && r.bound_port == 80, "connect: name of 9 bytes, port 80");
    check("connect: empty name", JARM__SOCKS5_CONNECT_REPLY, empty_name, sizeof(empty_name),
          JARM__SOCKS5_DONE, sizeof(empty_name), &r);
    ok(r.bound_len == 0 && r.bound_port == 1, "connect: empty name, port 1");
    memcpy(big, long_name_head, sizeof(long_name_head));
    memset(big + 5, 'a', 255);
    big[260] = 0x12;
    big[261] = 0x34;
    check("connect: 255-byte name (the longest reply)", JARM__SOCKS5_CONNECT_REPLY, big,
          sizeof(big), JARM__SOCKS5_DONE, sizeof(big), &r);
    ok(r.bound_len == 255 && r.bound_port == 0x1234, "connect: 255-byte name, port 0x1234");
    check("connect: refused, decided after the header", JARM__SOCKS5_CONNECT_REPLY, refused,
          sizeof(refused), JARM__SOCKS5_DONE, 4, &r);
    ok(r.code == 5 && r.atyp == 0, "connect: REP 5");
    check("connect: general failure without an address", JARM__SOCKS5_CONNECT_REPLY, general,
          sizeof(general), JARM__SOCKS5_DONE, 4, &r);
    ok(r.code == 1, "connect: REP 1");
    check("connect: version 4", JARM__SOCKS5_CONNECT_REPLY, bad_ver, sizeof(bad_ver),
          JARM__SOCKS5_MALFORMED, 1, NULL);
    check("connect: address type 2", JARM__SOCKS5_CONNECT_REPLY, bad_atyp, sizeof(bad_atyp),
          JARM__SOCKS5_MALFORMED, 4, NULL);
    check("connect: address type 0", JARM__SOCKS5_CONNECT_REPLY, zero_atyp, sizeof(zero_atyp),
          JARM__SOCKS5_MALFORMED, 4, NULL);

    /* Short replies stay undecided, and every byte given is consumed. */
    jarm__socks5_reply_init(&r, JARM__SOCKS5_CONNECT_REPLY);
    ok(jarm__socks5_reply_feed(&r, v4, 9, &used) == JARM__SOCKS5_MORE && used == 9,
       "connect: 9 of 10 bytes is more, all consumed");
    ok(jarm__socks5_reply_feed(&r, v4 + 9, 0, &used) == JARM__SOCKS5_MORE && used == 0,
       "connect: feeding nothing changes nothing");
    ok(jarm__socks5_reply_feed(&r, v4 + 9, 1, &used) == JARM__SOCKS5_DONE && used == 1,
       "connect: the last byte completes it");
    ok(jarm__socks5_reply_feed(&r, v4, 4, &used) == JARM__SOCKS5_DONE && used == 0 &&
           r.len == 10,
       "connect: a complete reader takes nothing more");
    ok(strcmp(jarm__socks5_rep_text(5), "connection refused") == 0 &&
           strcmp(jarm__socks5_rep_text(200), "unassigned reply code") == 0,
       "REP texts");
}

static void requests(void)
{
    static const uint8_t ip4[] = {127, 0, 0, 1};
    uint8_t ip6[16] = {0}, out[JARM__SOCKS5_REQUEST_MAX];
    char user[256], name[256];
    int n;

    ok(jarm__socks5_greeting(0, out) == 3 && memcmp(out, "\5\1\0", 3) == 0,
       "greeting: no auth");
    ok(jarm__socks5_greeting(1, out) == 4 && memcmp(out, "\5\2\0\2", 4) == 0,
       "greeting: no auth and username/password");
    n = jarm__socks5_auth_request("alice", 5, "s3cret", 6, out);
    ok(n == 14 && memcmp(out, "\1\5alice\6s3cret", 14) == 0, "auth request");
    n = jarm__socks5_auth_request("alice", 5, "", 0, out);
    ok(n == 8 && memcmp(out, "\1\5alice\0", 8) == 0, "auth request: empty password");
    memset(user, 'u', sizeof(user));
    ok(jarm__socks5_auth_request(user, 255, user, 255, out) == 513 && out[1] == 255 &&
           out[257] == 255,
       "auth request: 255-byte user and password");
    ok(jarm__socks5_auth_request(user, 256, "", 0, out) == JARM_EINVAL,
       "auth request: a 256-byte user is refused");
    ok(jarm__socks5_auth_request("a", 1, user, 256, out) == JARM_EINVAL,
       "auth request: a 256-byte password is refused");
    n = jarm__socks5_connect_request(1, ip4, 4, 443, out);
    ok(n == 10 && memcmp(out, "\5\1\0\1\177\0\0\1\1\273", 10) == 0, "connect: IPv4");
    ip6[15] = 1;
    n = jarm__socks5_connect_request(4, ip6, 16, 8443, out);
    ok(n == 22 && out[3] == 4 && out[19] == 1 && out[20] == 0x20 && out[21] == 0xfb,
       "connect: IPv6");
    n = jarm__socks5_connect_request(3, (const uint8_t *)"localhost", 9, 80, out);
    ok(n == 16 && memcmp(out, "\5\1\0\3\11localhost\0\120", 16) == 0, "connect: by name");
    memset(name, 'n', sizeof(name));
    ok(jarm__socks5_connect_request(3, (const uint8_t *)name, 255, 1, out) == 262,
       "connect: 255-byte name");
    ok(jarm__socks5_connect_request(3, (const uint8_t *)name, 256, 1, out) == JARM_EINVAL &&
           jarm__socks5_connect_request(3, (const uint8_t *)name, 0, 1, out) == JARM_EINVAL &&
           jarm__socks5_connect_request(1, ip4, 3, 1, out) == JARM_EINVAL &&
           jarm__socks5_connect_request(4, ip6, 4, 1, out) == JARM_EINVAL &&
           jarm__socks5_connect_request(2, ip4, 4, 1, out) == JARM_EINVAL &&
           jarm__socks5_connect_request(1, ip4, 4, 65536, out) == JARM_EINVAL,
       "connect: bad names, lengths, types and ports are refused");
}

int main(void)
{
    method_replies();
    auth_replies();
    connect_replies();
    requests();
    return done_testing();
}
