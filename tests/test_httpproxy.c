/*
 * test_httpproxy.c - the HTTP CONNECT request builder and the proxy reply reader.
 *
 * Replies are fed at once, byte by byte and cut at every position; every cut must give the
 * same status, code, reason and number of bytes consumed, and the bytes after the blank line
 * (the TLS reply) must never be consumed. Hostile replies: endless headers, a status line
 * split byte by byte, 200 followed by garbage, a close mid-reply, lines that are not HTTP.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "httpproxy.h"
#include "jarm.h"
#include "tap.h"

/* Feed s[0..n) in chunks of `chunk` bytes (0: at once), then finish if `eof`. */
static jarm__http_status_t feed(jarm__http_reply_t *r, size_t max, const void *bytes, size_t n,
                                size_t chunk, int eof)
{
    const uint8_t *s = bytes;
    size_t at = 0;
    jarm__http_reply_init(r, max);
    while (at < n) {
        size_t k = chunk == 0 || chunk > n - at ? n - at : chunk;
        uint8_t *copy = malloc(k); /* exact size: a read past it is an ASan finding */
        if (copy == NULL)
            abort();
        memcpy(copy, s + at, k);
        (void)jarm__http_reply_feed(r, copy, k);
        free(copy);
        at += k;
    }
    return eof ? jarm__http_reply_finish(r) : r->status;
}

static int same(const jarm__http_reply_t *a, const jarm__http_reply_t *b)
{
    return a->status == b->status && a->len == b->len && a->code == b->code &&
           a->minor == b->minor && a->reason_len == b->reason_len &&
           strcmp(a->reason, b->reason) == 0 && strcmp(a->auth_scheme, b->auth_scheme) == 0 &&
           a->headers == b->headers && a->reason_cut == b->reason_cut;
}

/* Every cut (two feeds split at each position, and byte by byte) gives the same reader. */
static int every_cut_same(const char *s, size_t n, size_t max, const jarm__http_reply_t *want)
{
    jarm__http_reply_t r;
    (void)feed(&r, max, s, n, 1, 0);
    if (!same(&r, want))
        return 0;
    for (size_t cut = 0; cut <= n; cut++) {
        jarm__http_reply_init(&r, max);
        (void)jarm__http_reply_feed(&r, (const uint8_t *)s, cut);
        (void)jarm__http_reply_feed(&r, (const uint8_t *)s + cut, n - cut);
        if (!same(&r, want))
            return 0;
    }
    return 1;
}

struct good {
    const char *what, *reply;
    size_t head; /* bytes up to and including the blank line */
    unsigned code, minor;
    const char *reason, *scheme;
};

static void test_good(void)
{
#define TLS "\x16\x03\x03\x00\x31\x02\x00\x00\x2d"
    static const struct good cases[] = {
        {"squid 200", "HTTP/1.1 200 Connection established\r\n\r\n" TLS, 39, 200, 1,
         "Connection established", ""},
        {"HTTP/1.0 with a header",
         "HTTP/1.0 200 Connection established\r\nProxy-agent: x/1\r\n\r\n", 57, 200, 0,
         "Connection established", ""},
        {"407 with Proxy-Authenticate",
         "HTTP/1.1 407 Proxy Authentication Required\r\nServer: squid\r\n"
         "Proxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n",
         0, 407, 1, "Proxy Authentication Required", "Basic"},
        {"header names are case-insensitive",
         "HTTP/1.1 407 x\r\nPROXY-AUTHENTICATE:Negotiate\r\nproxy-authenticate: Basic\r\n\r\n", 0,
         407, 1, "x", "Negotiate"},
        {"a longer header name is not Proxy-Authenticate",
         "HTTP/1.1 407 x\r\nProxy-Authenticate-Info: Basic\r\nProxy-Authenticat: Basic\r\n\r\n", 0,
         407, 1, "x", ""},
        {"bare LF line ends", "HTTP/1.1 403 Forbidden\nX-Squid-Error: ERR_ACCESS_DENIED 0\n\n", 0,
         403, 1, "Forbidden", ""},
        {"no reason", "HTTP/1.1 502\r\n\r\n", 0, 502, 1, "", ""},
        {"empty reason", "HTTP/1.1 200 \r\n\r\n", 0, 200, 1, "", ""},
        {"200 followed by garbage", "HTTP/1.1 200 OK\r\n\r\nGARBAGE\r\n\r\nHTTP/1.1 500 x\r\n\r\n",
         19, 200, 1, "OK", ""},
        {"obs-text and tabs in values", "HTTP/1.1 200 \xc3\xa9t\xe9\r\nX:\t\xff\t\r\n\r\n", 0, 200,
         1, "\xc3\xa9t\xe9", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct good *c = &cases[i];
        size_t n = strlen(c->reply);
        const char *blank = strstr(c->reply, "\r\n\r\n");
        const char *blank_lf = strstr(c->reply, "\n\n");
        size_t head = c->head;
        jarm__http_reply_t r;

        if (head == 0)
            head =
                blank != NULL ? (size_t)(blank - c->reply) + 4 : (size_t)(blank_lf - c->reply) + 2;
        ok(feed(&r, 0, c->reply, n, 0, 0) == JARM__HTTP_DONE, "%s: done", c->what);
        ok(r.len == head, "%s: consumed %zu bytes, exactly the head (%zu)", c->what, r.len, head);
        ok(r.code == c->code && r.minor == c->minor, "%s: HTTP/1.%u %u", c->what, r.minor, r.code);
        ok(strcmp(r.reason, c->reason) == 0 && r.reason_len == strlen(c->reason) && !r.reason_cut,
           "%s: reason '%s'", c->what, r.reason);
        ok(strcmp(r.auth_scheme, c->scheme) == 0, "%s: Proxy-Authenticate scheme '%s'", c->what,
           r.auth_scheme);
        ok(every_cut_same(c->reply, n, 0, &r), "%s: the same at every cut and byte by byte",
           c->what);
        ok(jarm__http_reply_feed(&r, (const uint8_t *)"more", 4) == JARM__HTTP_DONE &&
               r.len == head && jarm__http_reply_finish(&r) == JARM__HTTP_DONE,
           "%s: a done reader takes no more bytes", c->what);
    }
}

static void test_bad(void)
{
    static const struct {
        const char *what, *reply;
        jarm__http_status_t want;
        size_t len; /* bytes consumed when decided (the deciding byte included) */
    } cases[] = {
        {"HTTP/2", "HTTP/2 200\r\n\r\n", JARM__HTTP_MALFORMED, 6},
        {"SSH banner", "SSH-2.0-OpenSSH_9.2\r\n", JARM__HTTP_MALFORMED, 1},
        {"a TLS alert", "\x15\x03\x03\x00\x02\x02\x28", JARM__HTTP_MALFORMED, 1},
        {"lowercase http", "http/1.1 200 OK\r\n\r\n", JARM__HTTP_MALFORMED, 1},
        {"two spaces", "HTTP/1.1  200 OK\r\n\r\n", JARM__HTTP_MALFORMED, 10},
        {"code with a letter", "HTTP/1.1 20x OK\r\n\r\n", JARM__HTTP_MALFORMED, 12},
        {"code 099", "HTTP/1.1 099 x\r\n\r\n", JARM__HTTP_MALFORMED, 12},
        {"code 600", "HTTP/1.1 600 x\r\n\r\n", JARM__HTTP_MALFORMED, 12},
        {"four-digit code", "HTTP/1.1 2000 x\r\n\r\n", JARM__HTTP_MALFORMED, 13},
        {"NUL in the reason", "HTTP/1.1 200 O\0K\r\n\r\n", JARM__HTTP_MALFORMED, 15},
        {"CR without LF", "HTTP/1.1 200 OK\rX: y\r\n\r\n", JARM__HTTP_MALFORMED, 17},
        {"obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", JARM__HTTP_MALFORMED, 24},
        {"header without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", JARM__HTTP_MALFORMED, 25},
        {"empty header name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", JARM__HTTP_MALFORMED, 18},
        {"space before the colon", "HTTP/1.1 200 OK\r\nA : x\r\n\r\n", JARM__HTTP_MALFORMED, 19},
        {"control byte in a value", "HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n", JARM__HTTP_MALFORMED, 21},
        {"DEL in a value", "HTTP/1.1 200 OK\r\nA: \x7f\r\n\r\n", JARM__HTTP_MALFORMED, 21},
        {"CR then garbage at the blank line", "HTTP/1.1 200 OK\r\n\rX", JARM__HTTP_MALFORMED, 19},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].reply);
        jarm__http_reply_t r;
        if (strcmp(cases[i].what, "NUL in the reason") == 0)
            n = 20;
        (void)feed(&r, 0, cases[i].reply, n, 0, 1);
        ok(r.status == cases[i].want && r.len == cases[i].len, "%s: %s after %zu bytes",
           cases[i].what, jarm__http_status_name(r.status), r.len);
        ok(every_cut_same(cases[i].reply, n, 0, &r), "%s: the same at every cut", cases[i].what);
    }
}

/* The characters of s, without its NUL, at dst. */
static void put_text(uint8_t *dst, const char *s)
{
    while (*s != '\0')
        *dst++ = (uint8_t)*s++;
}

static void test_bounds(void)
{
    jarm__http_reply_t r, w;
    size_t n = 17 + 6 * 100000;
    uint8_t *endless = malloc(n), *longreason;

    if (endless == NULL)
        abort();
    put_text(endless, "HTTP/1.1 200 OK\r\n");
    for (size_t at = 17; at < n; at += 6)
        put_text(endless + at, "X: y\r\n");
    ok(feed(&r, 0, endless, n, 0, 0) == JARM__HTTP_TOO_LONG && r.len == JARM__HTTP_REPLY_MAX,
       "endless headers: too_long after %zu bytes (8 KiB)", r.len);
    ok(feed(&w, 0, endless, n, 1, 0) == JARM__HTTP_TOO_LONG && same(&r, &w),
       "endless headers byte by byte: the same");
    ok(feed(&r, 100, endless, n, 7, 0) == JARM__HTTP_TOO_LONG && r.len == 100,
       "endless headers, max 100: too_long after 100 bytes");
    /* A reply of exactly max bytes is accepted; one byte more is not. */
    ok(feed(&r, 19, "HTTP/1.1 200 OK\r\n\r\n", 19, 0, 0) == JARM__HTTP_DONE && r.len == 19,
       "a reply of exactly max bytes: done");
    ok(feed(&r, 18, "HTTP/1.1 200 OK\r\n\r\n", 19, 0, 0) == JARM__HTTP_TOO_LONG && r.len == 18,
       "a reply of max + 1 bytes: too_long at max");
    free(endless);

    longreason = malloc(300);
    if (longreason == NULL)
        abort();
    put_text(longreason, "HTTP/1.1 200 ");
    memset(longreason + 13, 'r', 300 - 13 - 4);
    put_text(longreason + 296, "\r\n\r\n");
    ok(feed(&r, 0, longreason, 300, 0, 0) == JARM__HTTP_DONE && r.reason_cut &&
           r.reason_len == JARM__HTTP_REASON_MAX && strlen(r.reason) == JARM__HTTP_REASON_MAX,
       "a 283-byte reason: cut at %d bytes, flagged", JARM__HTTP_REASON_MAX);
    free(longreason);

    /* A close mid-reply, at every position of a good reply. */
    {
        const char *good = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                           "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n";
        size_t len = strlen(good), bad = 0;
        for (size_t k = 0; k < len; k++)
            if (feed(&r, 0, good, k, 1, 1) != JARM__HTTP_TRUNCATED || r.len != k)
                bad++;
        ok(bad == 0, "a close at each of %zu positions before the blank line: truncated", len);
    }
    ok(feed(&r, 0, "", 0, 0, 1) == JARM__HTTP_TRUNCATED && r.len == 0,
       "a close before any byte: truncated");
}

/* Decode the base64 after "Proxy-Authorization: Basic " in req; returns its length or -1. */
static int basic_of(const char *req, unsigned char *out)
{
    const char *p = strstr(req, "Proxy-Authorization: Basic "), *e;
    int n, pad = 0;
    if (p == NULL)
        return -1;
    p += strlen("Proxy-Authorization: Basic ");
    e = strstr(p, "\r\n");
    if (e == NULL)
        return -1;
    n = EVP_DecodeBlock(out, (const unsigned char *)p, (int)(e - p));
    if (n < 0)
        return -1;
    if (e - p >= 1 && e[-1] == '=')
        pad++;
    if (e - p >= 2 && e[-2] == '=')
        pad++;
    return n - pad;
}

static void test_request(void)
{
    char out[1024], small[10];
    unsigned char dec[600];
    char user[200], pass[300], creds[600];
    size_t len, need;

    ok(jarm__http_connect_build("example.com", 11, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               0 &&
           strcmp(out, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == 0 &&
           len == strlen(out),
       "CONNECT without credentials");
    ok(jarm__http_connect_build("2001:db8::1", 11, 8443, NULL, 0, NULL, 0, out, sizeof(out),
                                &len) == 0 &&
           strcmp(out, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n") ==
               0,
       "an IPv6 literal in brackets");
    /* RFC 7617's own example. */
    ok(jarm__http_connect_build("192.0.2.1", 9, 443, "Aladdin", 7, "open sesame", 11, out,
                                sizeof(out), &len) == 0 &&
           strstr(out, "\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n") !=
               NULL,
       "Basic credentials: RFC 7617's example");
    ok(jarm__http_connect_build("h", 1, 1, "u", 1, NULL, 0, out, sizeof(out), &len) == 0 &&
           basic_of(out, dec) == 2 && memcmp(dec, "u:", 2) == 0,
       "user without password: base64 of 'u:'");
    memset(user, 'U', sizeof(user));
    for (size_t i = 0; i < sizeof(pass); i++)
        pass[i] = (char)(0x20 + i % 95); /* every printable byte, ':' included */
    memcpy(creds, user, sizeof(user));
    creds[sizeof(user)] = ':';
    memcpy(creds + sizeof(user) + 1, pass, sizeof(pass));
    ok(jarm__http_connect_build("h", 1, 65535, user, sizeof(user), pass, sizeof(pass), out,
                                sizeof(out), &len) == 0 &&
           basic_of(out, dec) == (int)(sizeof(user) + 1 + sizeof(pass)) &&
           memcmp(dec, creds, sizeof(user) + 1 + sizeof(pass)) == 0,
       "501 bytes of credentials round-trip through base64");
    ok(jarm__http_connect_build("example.com", 11, 443, NULL, 0, NULL, 0, small, sizeof(small),
                                &need) == JARM_ENOBUFS &&
           need == strlen("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
       "a small buffer: ENOBUFS with the length needed");
    ok(jarm__http_connect_build("example.com", 11, 443, NULL, 0, NULL, 0, NULL, 0, &need) ==
           JARM_ENOBUFS,
       "no buffer: ENOBUFS");
    ok(jarm__http_connect_build("a\r\nX: y", 7, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
           JARM_EINVAL,
       "CRLF in the host: EINVAL");
    ok(jarm__http_connect_build("a b", 3, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               JARM_EINVAL &&
           jarm__http_connect_build("u@h", 3, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               JARM_EINVAL &&
           jarm__http_connect_build("", 0, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               JARM_EINVAL,
       "space, '@', empty host: EINVAL");
    ok(jarm__http_connect_build("h", 1, 0, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               JARM_EINVAL &&
           jarm__http_connect_build("h", 1, 65536, NULL, 0, NULL, 0, out, sizeof(out), &len) ==
               JARM_EINVAL,
       "port 0 and 65536: EINVAL");
    ok(jarm__http_connect_build("h", 1, 443, "a:b", 3, "p", 1, out, sizeof(out), &len) ==
               JARM_EINVAL &&
           jarm__http_connect_build("h", 1, 443, "a", 1, "p\n", 2, out, sizeof(out), &len) ==
               JARM_EINVAL,
       "':' in the user, a control byte in the password: EINVAL");
    ok(jarm__http_connect_build("h", 1, 443, NULL, 0, NULL, 0, out, sizeof(out), &len) == 0 &&
           (jarm__http_connect_build("h", 1, 443, NULL, 0, NULL, 0, out, len, &need) ==
            JARM_ENOBUFS) &&
           jarm__http_connect_build("h", 1, 443, NULL, 0, NULL, 0, out, len + 1, &need) == 0,
       "the NUL needs one byte more than the length");
}

int main(void)
{
    test_good();
    test_bad();
    test_bounds();
    test_request();
    return done_testing();
}
