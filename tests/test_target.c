/*
 * test_target.c - the target grammar, the port list and the row writers (suite 'unit').
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "util.h"
#include "tap.h"
#include "target.h"

static void expect(const char *line, jarm__target_kind_t kind, const char *host, unsigned port)
{
    jarm__target_spec_t t;
    jarm__target_parse(line, strlen(line), &t);
    if (!ok(t.kind == kind, "'%s' kind %d (got %d: %s)", line, kind, t.kind, t.error))
        return;
    if (kind == JARM__TARGET_IP || kind == JARM__TARGET_NAME) {
        ok(strcmp(t.host, host) == 0 && t.host_len == strlen(host), "'%s' host '%s' (got '%s')",
           line, host, t.host);
        ok(t.port == port, "'%s' port %u (got %u)", line, port, t.port);
    }
}

static void expect_bad(const char *line, size_t len, const char *error)
{
    jarm__target_spec_t t;
    jarm__target_parse(line, len, &t);
    ok(t.kind == JARM__TARGET_BAD && strcmp(t.error, error) == 0, "bad '%.*s' -> \"%s\" (got \"%s\")",
       (int)len, line, error, t.error);
}

static void test_grammar(void)
{
    jarm__target_spec_t t;
    char big[600];

    expect("192.0.2.1", JARM__TARGET_IP, "192.0.2.1", 0);
    expect("192.0.2.1:8443", JARM__TARGET_IP, "192.0.2.1", 8443);
    expect("  192.0.2.1:8443 \r", JARM__TARGET_IP, "192.0.2.1", 8443);
    expect("[2001:db8::1]:443", JARM__TARGET_IP, "2001:db8::1", 443);
    expect("[::1]", JARM__TARGET_IP, "::1", 0);
    expect("2001:db8::1", JARM__TARGET_IP, "2001:db8::1", 0);
    expect("example.com", JARM__TARGET_NAME, "example.com", 0);
    expect("example.com:444", JARM__TARGET_NAME, "example.com", 444);
    expect("host-a.example,8443", JARM__TARGET_NAME, "host-a.example", 8443);
    expect("10.0.0.1, 853", JARM__TARGET_IP, "10.0.0.1", 853);
    expect("2001:db8::1,443", JARM__TARGET_IP, "2001:db8::1", 443);
    expect("", JARM__TARGET_SKIP, NULL, 0);
    expect("   \t", JARM__TARGET_SKIP, NULL, 0);
    expect("# a comment", JARM__TARGET_SKIP, NULL, 0);
    expect_bad("1.2.3.4:99999", 13, "bad port '99999'");
    expect_bad("1.2.3.4:0", 9, "bad port '0'");
    expect_bad("1.2.3.4:", 8, "bad port ''");
    expect_bad("host:x1", 7, "bad port 'x1'");
    expect_bad("[::1", 4, "bad target '[::1'");
    expect_bad("[::1]x", 6, "bad target '[::1]x'");
    expect_bad("[]:443", 6, "bad IPv6 address ''");
    expect_bad(":443", 4, "missing host");
    expect_bad("a,b,c", 5, "bad port 'b,c'");
    expect_bad("host c.example", 14, "bad host 'host c.example'");
    expect_bad("bücher.de", strlen("bücher.de"), "bad host 'b??cher.de'");
    expect_bad("a..b", 4, "bad host 'a..b'");
    expect_bad("1:2:3", 5, "bad IPv6 address '1:2:3'");
    expect_bad("a\0b", 3, "bad target 'a?b'");
    memset(big, 'a', sizeof(big));
    jarm__target_parse(big, sizeof(big), &t);
    ok(t.kind == JARM__TARGET_BAD && strstr(t.error, "too long") != NULL,
       "a 600-byte host is bad (%s)", t.error);
    /* A 63-character label is a name, 64 is not. */
    memset(big, 'b', 64);
    big[64] = '\0';
    jarm__target_parse(big, 63, &t);
    ok(t.kind == JARM__TARGET_NAME, "63-character label accepted");
    jarm__target_parse(big, 64, &t);
    ok(t.kind == JARM__TARGET_BAD, "64-character label refused");
    jarm__target_parse("127.0.0.1:443", 13, &t);
    ok(t.addr.ss_family == AF_INET &&
           ((struct sockaddr_in *)&t.addr)->sin_addr.s_addr == htonl(0x7f000001),
       "IPv4 address filled");
}

static void test_ports(void)
{
    static uint16_t p[65536];
    char err[128];
    int n;

    n = jarm__ports_parse("443", p, 10, err, sizeof(err));
    ok(n == 1 && p[0] == 443, "443");
    n = jarm__ports_parse("443,8443", p, 10, err, sizeof(err));
    ok(n == 2 && p[0] == 443 && p[1] == 8443, "443,8443");
    n = jarm__ports_parse("8000-8010", p, 20, err, sizeof(err));
    ok(n == 11 && p[0] == 8000 && p[10] == 8010, "8000-8010");
    n = jarm__ports_parse("1-65535", p, 65535, err, sizeof(err));
    ok(n == 65535, "1-65535");
    n = jarm__ports_parse("99999", p, 10, err, sizeof(err));
    ok(n < 0 && strcmp(err, "bad port '99999'") == 0, "99999 refused: %s", err);
    n = jarm__ports_parse("10-5", p, 10, err, sizeof(err));
    ok(n < 0, "10-5 refused: %s", err);
    n = jarm__ports_parse("443,", p, 10, err, sizeof(err));
    ok(n < 0, "trailing comma refused: %s", err);
    n = jarm__ports_parse("", p, 10, err, sizeof(err));
    ok(n < 0, "empty list refused: %s", err);
    n = jarm__ports_parse("1-20", p, 10, err, sizeof(err));
    ok(n < 0, "more ports than room refused: %s", err);
}

static void test_json(void)
{
    jarm__buf_t b = {0};
    const char in[] = "a\"b\\c\n\x01\xc3\xa9\xff\xe2\x82";
    jarm__buf_json_str(&b, in, sizeof(in) - 1);
    ok(b.len == strlen("\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\u00ff\\u00e2\\u0082\"") &&
           memcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\u00ff\\u00e2\\u0082\"", b.len) == 0,
       "JSON escaping keeps UTF-8, escapes quotes, controls and invalid bytes: %.*s",
       (int)b.len, b.p);
    jarm__buf_free(&b);
}

/* The one JSON string writer (core/util.c), in both modes, and the UTF-8 check. */
static void test_json_put(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *utf8, *ascii;
    } cases[] = {
        {"\x7f", 1, "\"\x7f\"", "\"\\u007f\""},
        {"\t\r", 2, "\"\\t\\r\"", "\"\\u0009\\u000d\""},
        {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"", "\"\\u00f0\\u009f\\u0098\\u0080\""},
        {"\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"", NULL},            /* a surrogate */
        {"\xc0\x80", 2, "\"\\u00c0\\u0080\"", NULL},                       /* overlong */
        {"\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\"", NULL}, /* > U+10FFFF */
        {"a\0b", 3, "\"a\\u0000b\"", "\"a\\u0000b\""},
        {"", 0, "\"\"", "\"\""},
    };
    char buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (unsigned ascii = 0; ascii < 2; ascii++) {
            const char *want = ascii ? cases[i].ascii : cases[i].utf8;
            jarm__out_t o = {buf, 0, sizeof(buf)};
            if (want == NULL)
                continue;
            jarm__json_put(&o, cases[i].in, cases[i].len, ascii ? JARM__JSON_ASCII : 0);
            ok(o.len == strlen(want) && memcmp(buf, want, o.len) == 0,
               "json_put case %zu (%s): %.*s", i, ascii ? "ascii" : "utf-8", (int)o.len, buf);
        }
    {
        /* Too small: nothing past cap is written, and len is the size needed. */
        jarm__out_t o = {buf, 0, 4};
        memset(buf, 'x', sizeof(buf));
        jarm__json_put(&o, "abcdef", 6, 0);
        ok(o.len == 8 && buf[4] == 'x', "json_put counts what does not fit (%zu)", o.len);
    }
    ok(jarm__utf8_valid((const uint8_t *)"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10) &&
           !jarm__utf8_valid((const uint8_t *)"\xe2\x82", 2) &&
           !jarm__utf8_valid((const uint8_t *)"\xed\xbf\xbf", 3) &&
           jarm__utf8_len((const uint8_t *)"\xf4\x8f\xbf\xbf", 4) == 4 &&
           jarm__utf8_len((const uint8_t *)"\xe0\x9f\x80", 3) == 0,
       "UTF-8: Python's strict rules (truncated, surrogate, overlong, U+10FFFF)");
    {
        /* A string longer than the buffer's first size: the growing path. */
        jarm__buf_t b = {0};
        char big[3000];
        memset(big, '\x01', sizeof(big));
        jarm__buf_json_str(&b, big, sizeof(big));
        ok(b.len == 2 + 6 * sizeof(big) && !b.oom && memcmp(b.p + b.len - 7, "\\u0001\"", 7) == 0,
           "a long JSON string grows the buffer (%zu bytes)", b.len);
        jarm__buf_free(&b);
    }
}

int main(void)
{
    test_grammar();
    test_ports();
    test_json();
    test_json_put();
    return done_testing();
}
