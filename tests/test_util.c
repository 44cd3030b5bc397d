/*
 * test_util.c - the shared utilities: the port parser, the endpoint grammar, proxy URLs, hex
 * digits, the hash table (suite 'unit').
 */
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "htab.h"
#include "jarm.h"
#include "tap.h"
#include "util.h"

static void port_ok(const char *s, unsigned want)
{
    uint16_t p = 0;
    int r = jarm__port_parse(s, strlen(s), &p);
    ok(r == 0 && p == want, "port '%s' -> %u (got r=%d, %u)", s, want, r, p);
}

static void port_bad(const char *s, size_t n)
{
    uint16_t p = 7;
    int r = jarm__port_parse(s, n, &p);
    ok(r == JARM_EINVAL && p == 7, "port '%.*s' refused, *port untouched (got r=%d, %u)", (int)n, s,
       r, p);
}

static void test_ports(void)
{
    port_ok("1", 1);
    port_ok("443", 443);
    port_ok("65535", 65535);
    port_ok("00443", 443);
    port_ok("08080", 8080);
    port_bad("0", 1);
    port_bad("00000", 5);
    port_bad("65536", 5);
    port_bad("99999", 5);
    port_bad("000443", 6);
    port_bad("", 0);
    port_bad("+443", 4);
    port_bad("-1", 2);
    port_bad(" 443", 4);
    port_bad("443 ", 4);
    port_bad("44x", 3);
    port_bad("0x1bb", 5);
    port_bad("4\0"
             "43",
             4);
    /* Only n bytes are read: a longer string is cut. */
    {
        uint16_t p = 0;
        ok(jarm__port_parse("4439999", 3, &p) == 0 && p == 443, "only n bytes read (%u)", p);
    }
}

static void ep_ok(const char *s, const char *host, unsigned port, int has_port, int bracketed)
{
    jarm__endpoint_t ep;
    int r = jarm__endpoint_parse(s, strlen(s), &ep);
    ok(r == 0 && ep.bad == JARM__EP_OK && ep.host_len == strlen(host) &&
           memcmp(ep.host, host, ep.host_len) == 0 && ep.port == port &&
           (ep.port_text != NULL) == has_port && ep.bracketed == bracketed,
       "endpoint '%s' -> host '%s' port %u%s (got r=%d bad=%d host '%.*s' port %u)", s, host, port,
       bracketed ? " bracketed" : "", r, ep.bad, (int)ep.host_len, ep.host, ep.port);
}

static void ep_bad(const char *s, jarm__endpoint_bad_t why)
{
    jarm__endpoint_t ep;
    int r = jarm__endpoint_parse(s, strlen(s), &ep);
    ok(r == JARM_EINVAL && ep.bad == why, "endpoint '%s' refused as %d (got r=%d bad=%d)", s, why,
       r, ep.bad);
}

static void test_endpoints(void)
{
    jarm__endpoint_t ep;

    ep_ok("example.com", "example.com", 0, 0, 0);
    ep_ok("example.com:8443", "example.com", 8443, 1, 0);
    ep_ok("192.0.2.1", "192.0.2.1", 0, 0, 0);
    ep_ok("192.0.2.1:53", "192.0.2.1", 53, 1, 0);
    ep_ok("[2001:db8::1]", "2001:db8::1", 0, 0, 1);
    ep_ok("[2001:db8::1]:443", "2001:db8::1", 443, 1, 1);
    ep_ok("[::1]:00053", "::1", 53, 1, 1);
    /* IPv6 without brackets: no port, whatever the last group looks like. */
    ep_ok("2001:db8::1", "2001:db8::1", 0, 0, 0);
    ep_ok("::1:443", "::1:443", 0, 0, 0);
    ep_ok("::", "::", 0, 0, 0);
    /* Brackets are structure only; what is inside is the caller's to judge. */
    ep_ok("[name]:1", "name", 1, 1, 1);

    ep_bad("", JARM__EP_NO_HOST);
    ep_bad(":443", JARM__EP_NO_HOST);
    ep_bad("[]", JARM__EP_NO_HOST);
    ep_bad("[]:443", JARM__EP_NO_HOST);
    ep_bad("[::1", JARM__EP_NO_CLOSE);
    ep_bad("[", JARM__EP_NO_CLOSE);
    ep_bad("[::1]x", JARM__EP_AFTER);
    ep_bad("[::1]443", JARM__EP_AFTER);
    ep_bad("[::1] :443", JARM__EP_AFTER);
    ep_bad("host:", JARM__EP_PORT);
    ep_bad("[::1]:", JARM__EP_PORT);
    ep_bad("host:65536", JARM__EP_PORT);
    ep_bad("host:0", JARM__EP_PORT);
    ep_bad("host:+1", JARM__EP_PORT);
    ep_bad("host: 1", JARM__EP_PORT);
    ep_bad("host:1 ", JARM__EP_PORT);
    ep_bad("host:000001", JARM__EP_PORT);
    ep_bad(":", JARM__EP_PORT);
    ep_bad("[]:", JARM__EP_PORT);

    /* A bad port still tells the host and the port's text. */
    ok(jarm__endpoint_parse("[::2]:99999", 11, &ep) == JARM_EINVAL && ep.bad == JARM__EP_PORT &&
           ep.bracketed && ep.host_len == 3 && memcmp(ep.host, "::2", 3) == 0 && ep.port_len == 5 &&
           memcmp(ep.port_text, "99999", 5) == 0,
       "bad port: host and port text kept");
    /* n bytes only, no NUL needed. */
    ok(jarm__endpoint_parse("h:1junk", 3, &ep) == 0 && ep.port == 1 && ep.host_len == 1,
       "only n bytes read");
}

static void url_ok(const char *url, int scheme, const char *user, const char *pass, int auth,
                   const char *host, unsigned port)
{
    jarm__proxy_url_t u;
    char msg[200] = "";
    int r = jarm__proxy_url_parse(url, &u, msg, sizeof(msg));
    ok(r == 0 && (int)u.scheme == scheme && u.auth == auth && strcmp(u.user, user) == 0 &&
           strcmp(u.pass, pass) == 0 && strcmp(u.host, host) == 0 && u.port == port,
       "proxy '%s' (got r=%d %s scheme %d user '%s' pass '%s' host '%s' port %u)", url, r, msg,
       (int)u.scheme, u.user, u.pass, u.host, u.port);
}

static void url_bad(const char *url, int credentials)
{
    jarm__proxy_url_t u;
    char msg[300] = "";
    int r = jarm__proxy_url_parse(url, &u, msg, sizeof(msg));
    ok(r == JARM_EINVAL && u.bad_credentials == credentials &&
           strncmp(msg, credentials ? "bad proxy credentials" : "bad proxy '",
                   credentials ? 21 : 11) == 0,
       "proxy '%s' refused%s (got r=%d: %s)", url, credentials ? " (credentials)" : "", r, msg);
}

static void test_proxy_urls(void)
{
    char longuser[300], url[400];

    url_ok("socks5://127.0.0.1:1080", JARM__PROXY_SOCKS5, "", "", 0, "127.0.0.1", 1080);
    url_ok("socks5h://proxy.test:1080", JARM__PROXY_SOCKS5H, "", "", 0, "proxy.test", 1080);
    url_ok("http://[::1]:3128", JARM__PROXY_HTTP, "", "", 0, "::1", 3128);
    url_ok("socks5://u:p@h:1", JARM__PROXY_SOCKS5, "u", "p", 1, "h", 1);
    url_ok("socks5://u@h:1", JARM__PROXY_SOCKS5, "u", "", 1, "h", 1);
    url_ok("socks5://u:@h:1", JARM__PROXY_SOCKS5, "u", "", 1, "h", 1);
    url_ok("http://us%65r:p%40ss%3a@h:8080", JARM__PROXY_HTTP, "user", "p@ss:", 1, "h", 8080);
    url_ok("socks5://a%2Fb:%25@h:1", JARM__PROXY_SOCKS5, "a/b", "%", 1, "h", 1);
    /* The last '@' ends the credentials; a ':' in the password is kept. */
    url_ok("socks5://u:p@x:y@h:2", JARM__PROXY_SOCKS5, "u", "p@x:y", 1, "h", 2);
    url_ok("socks5://h:00080", JARM__PROXY_SOCKS5, "", "", 0, "h", 80);

    url_bad("ftp://h:1", 0);
    url_bad("socks4://h:1", 0);
    url_bad("SOCKS5://h:1", 0);
    url_bad("socks5://h", 0);
    url_bad("socks5://h:", 0);
    url_bad("socks5://h:65536", 0);
    url_bad("socks5://h:0", 0);
    url_bad("socks5://:1080", 0);
    url_bad("socks5://[::1]", 0);
    url_bad("socks5://[::1", 0);
    url_bad("socks5://::1:1080", 0); /* IPv6 needs brackets to carry a port */
    url_bad("socks5://h:1/path", 0);
    url_bad("socks5://u:p@", 0);
    url_bad("socks5://", 0);
    url_bad("socks5://@h:1", 1);
    url_bad("socks5://:p@h:1", 1);
    url_bad("socks5://u%:p@h:1", 1);
    url_bad("socks5://u%4:p@h:1", 1);
    url_bad("socks5://u%zz@h:1", 1);
    url_bad("socks5://u:%00@h:1", 1);
    memset(longuser, 'a', 256);
    longuser[256] = '\0';
    snprintf(url, sizeof(url), "socks5://%s@h:1", longuser);
    url_bad(url, 1);
    /* 255 bytes once decoded is fine, even when the text is longer. */
    memset(longuser, 'a', 255);
    longuser[255] = '\0';
    snprintf(url, sizeof(url), "socks5://u:%s%%41@h:1", longuser + 1);
    {
        jarm__proxy_url_t u;
        ok(jarm__proxy_url_parse(url, &u, NULL, 0) == 0 && strlen(u.pass) == 255 &&
               u.pass[254] == 'A',
           "a 255-byte decoded password");
    }
    snprintf(url, sizeof(url), "socks5://u:%s%%41@h:1", longuser);
    url_bad(url, 1);
    memset(longuser, 'h', 256);
    snprintf(url, sizeof(url), "socks5://%.*s:1", 256, longuser);
    url_bad(url, 0);

    ok(jarm__proxy_scheme("socks5://x") == JARM__PROXY_SOCKS5 &&
           jarm__proxy_scheme("socks5h://x") == JARM__PROXY_SOCKS5H &&
           jarm__proxy_scheme("http://x") == JARM__PROXY_HTTP &&
           jarm__proxy_scheme("https://x") == JARM_EINVAL &&
           jarm__proxy_scheme("socks5:/x") == JARM_EINVAL && jarm__proxy_scheme("") == JARM_EINVAL,
       "proxy schemes");
}

static void test_hex(void)
{
    static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    int good = 1;

    for (int c = 0; c < 256; c++) {
        int lc = jarm__hex_digit((char)c, 0), uc = jarm__hex_digit((char)c, 1);
        int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        int want_uc = want >= 0 ? want : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        good &= lc == want && uc == want_uc;
    }
    ok(good, "hex digits, every byte, both cases");
    memset(out, 'x', sizeof(out));
    jarm__hex_encode(out, b, sizeof(b));
    ok(strcmp(out, "000fa5ff") == 0, "hex encode (got %s)", out);
    jarm__hex_encode(out, b, 0);
    ok(out[0] == '\0', "hex encode of nothing");
}

static void test_names_and_space(void)
{
    char name[300];
    const char *s;
    size_t n;

    ok(jarm__dns_name_valid("example.com", 11, 0) && jarm__dns_name_valid("A-b_c.D9", 8, 0) &&
           jarm__dns_name_valid("x", 1, 0),
       "names: good ones");
    ok(jarm__dns_name_valid("example.com.", 12, 1) && !jarm__dns_name_valid("example.com.", 12, 0),
       "names: a trailing dot only when allowed");
    ok(!jarm__dns_name_valid("", 0, 1) && !jarm__dns_name_valid(".", 1, 1) &&
           !jarm__dns_name_valid("a..b", 4, 1) && !jarm__dns_name_valid(".a", 2, 1) &&
           !jarm__dns_name_valid("a b", 3, 1) && !jarm__dns_name_valid("a:b", 3, 1) &&
           !jarm__dns_name_valid("\xc3\xa9.fr", 5, 1) && !jarm__dns_name_valid("a\0b", 3, 1),
       "names: empty, empty labels, blanks, ':', non-ASCII, NUL");
    memset(name, 'a', sizeof(name));
    ok(jarm__dns_name_valid(name, 63, 0) && !jarm__dns_name_valid(name, 64, 0),
       "names: labels of 63");
    for (int i = 63; i < 253; i += 64)
        name[i] = '.';
    ok(jarm__dns_name_valid(name, 253, 0) && !jarm__dns_name_valid(name, 254, 0),
       "names: at most 253 bytes");

    ok(jarm__is_space(' ') && jarm__is_space('\t') && jarm__is_space('\n') &&
           jarm__is_space('\r') && jarm__is_space('\v') && jarm__is_space('\f') &&
           !jarm__is_space('\0') && !jarm__is_space('x') && !jarm__is_space((char)0xa0),
       "white space is the C locale's");
    s = " \t a b \r\n";
    n = strlen(s);
    jarm__trim(&s, &n);
    ok(n == 3 && memcmp(s, "a b", 3) == 0, "trim both ends, keep the inside");
    s = " \t ";
    n = 3;
    jarm__trim(&s, &n);
    ok(n == 0, "trim all blanks to nothing");
    s = "x";
    n = 0;
    jarm__trim(&s, &n);
    ok(n == 0 && *s == 'x', "trim nothing");
}

/* Records for the hash table test: keys "k0".."kN" with duplicates chained. */
#define NREC 3000
static char rec_key[NREC][8];
static uint32_t rec_next[NREC];

static int rec_eq(const void *ctx, uint32_t idx, const void *key, size_t klen)
{
    (void)ctx;
    return strlen(rec_key[idx]) == klen && memcmp(rec_key[idx], key, klen) == 0;
}

static void test_htab(void)
{
    jarm__htab_t t;
    jarm__htslot_t *s;
    uint64_t h;
    size_t distinct = NREC / 3, bad = 0;

    jarm__htab_init(&t);
    ok(t.slot == NULL && t.keys == 0, "empty table without slots");
    ok(jarm__htab_reset(&t, 5) == 0 && t.mask == 15 && t.keys == 0, "at least 16 slots");
    ok(jarm__htab_reset(&t, 2 * distinct) == 0 && t.mask + 1 >= 2 * distinct &&
           ((t.mask + 1) & t.mask) == 0,
       "a power of two of at least 2000 slots (%zu)", t.mask + 1);
    /* Each key three times: records i, i + distinct, i + 2 * distinct. */
    for (uint32_t i = 0; i < NREC; i++) {
        uint32_t prev;
        snprintf(rec_key[i], sizeof(rec_key[i]), "k%u", (unsigned)(i % distinct));
        rec_next[i] = JARM__HTAB_NONE;
        h = jarm__hash_bytes(rec_key[i], strlen(rec_key[i]), 7);
        s = jarm__htab_find(&t, h, rec_eq, NULL, rec_key[i], strlen(rec_key[i]));
        prev = jarm__htab_append(&t, s, h, i);
        if ((prev == JARM__HTAB_NONE) != (i < distinct))
            bad++;
        if (prev != JARM__HTAB_NONE)
            rec_next[prev] = i;
    }
    ok(bad == 0 && t.keys == distinct, "one slot per distinct key (%zu, %zu misplaced)", t.keys,
       bad);
    bad = 0;
    for (uint32_t i = 0; i < distinct; i++) {
        uint32_t n = 0, want = i;
        h = jarm__hash_bytes(rec_key[i], strlen(rec_key[i]), 7);
        s = jarm__htab_find(&t, h, rec_eq, NULL, rec_key[i], strlen(rec_key[i]));
        for (uint32_t j = s->head; j != JARM__HTAB_NONE; j = rec_next[j], want += distinct, n++)
            bad += j != want;
        bad += n != 3 || s->tail != i + 2 * distinct;
    }
    ok(bad == 0, "every key's chain in insertion order, head to tail (%zu wrong)", bad);
    h = jarm__hash_bytes("absent", 6, 7);
    s = jarm__htab_find(&t, h, rec_eq, NULL, "absent", 6);
    ok(s->head == JARM__HTAB_NONE, "a missing key finds an empty slot");
    ok(jarm__hash_bytes("abc", 3, 1) != jarm__hash_bytes("abc", 3, 2) &&
           jarm__hash_bytes("abc", 3, 1) == jarm__hash_bytes("abc", 3, 1) &&
           jarm__hash_bytes("abcdefghij", 10, 0) != jarm__hash_bytes("abcdefghik", 10, 0) &&
           jarm__hash_bytes("", 0, 0) != jarm__hash_bytes("\0", 1, 0),
       "the hash depends on seed, bytes and length, and only on them");
    jarm__htab_clear(&t);
    s = jarm__htab_find(&t, jarm__hash_bytes("k1", 2, 7), rec_eq, NULL, "k1", 2);
    ok(t.keys == 0 && s->head == JARM__HTAB_NONE, "cleared: keys gone, size kept (%zu)",
       t.mask + 1);
    jarm__htab_free(&t);
    ok(t.slot == NULL && t.mask == 0 && t.keys == 0, "freed");
}

int main(void)
{
    test_ports();
    test_endpoints();
    test_proxy_urls();
    test_hex();
    test_htab();
    test_names_and_space();
    return done_testing();
}
