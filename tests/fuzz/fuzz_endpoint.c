/*
 * fuzz_endpoint.c - the endpoint grammar (jarm__endpoint_parse), the port parser
 * (jarm__port_parse) and proxy URLs (jarm__proxy_url_parse) on arbitrary bytes.
 *
 * Properties checked:
 *   - the port parser agrees with a plain reading of 1-5 digits as 1..65535;
 *   - an endpoint that parses has a non-empty host inside the input, a port 1..65535 exactly
 *     when a port was written, and written back as HOST, HOST:PORT, [HOST] or [HOST]:PORT it
 *     parses to the same host and port; a bare host (no brackets) with a port holds no ':';
 *   - a refused endpoint says why, and the reason is one of the grammar's;
 *   - a proxy URL that parses has a scheme, a NUL-terminated host of 1-255 bytes, a port,
 *     credentials of at most 255 bytes; written back with every credential byte escaped it
 *     parses to the same fields.
 * Any violation aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "fuzz.h"
#include "jarm.h"

static void check_port(const uint8_t *d, size_t n)
{
    uint16_t p = 0;
    unsigned v = 0;
    int digits = n >= 1 && n <= 5;

    for (size_t i = 0; i < n && digits; i++) {
        digits = d[i] >= '0' && d[i] <= '9';
        v = v * 10 + (unsigned)(d[i] - '0');
    }
    if (digits && v >= 1 && v <= 65535)
        FUZZ_CHECK(jarm__port_parse((const char *)d, n, &p) == 0 && p == v);
    else
        FUZZ_CHECK(jarm__port_parse((const char *)d, n, &p) == JARM_EINVAL && p == 0);
}

static void check_endpoint(const char *s, size_t n)
{
    jarm__endpoint_t ep, back;
    char *text;
    size_t tl;
    int r = jarm__endpoint_parse(s, n, &ep);

    if (r != 0) {
        FUZZ_CHECK(r == JARM_EINVAL);
        FUZZ_CHECK(ep.bad >= JARM__EP_NO_CLOSE && ep.bad <= JARM__EP_NO_HOST);
        return;
    }
    FUZZ_CHECK(ep.bad == JARM__EP_OK);
    FUZZ_CHECK(ep.host_len > 0 && ep.host >= s && ep.host + ep.host_len <= s + n);
    FUZZ_CHECK((ep.port_text != NULL) == (ep.port != 0));
    if (!ep.bracketed && ep.port_text != NULL)
        FUZZ_CHECK(memchr(ep.host, ':', ep.host_len) == NULL);
    if (ep.bracketed)
        FUZZ_CHECK(memchr(ep.host, ']', ep.host_len) == NULL);

    text = malloc(ep.host_len + 16);
    FUZZ_CHECK(text != NULL);
    tl = 0;
    if (ep.bracketed)
        text[tl++] = '[';
    memcpy(text + tl, ep.host, ep.host_len);
    tl += ep.host_len;
    if (ep.bracketed)
        text[tl++] = ']';
    if (ep.port_text != NULL)
        tl += (size_t)snprintf(text + tl, 8, ":%u", (unsigned)ep.port);
    FUZZ_CHECK(jarm__endpoint_parse(text, tl, &back) == 0);
    FUZZ_CHECK(back.host_len == ep.host_len && memcmp(back.host, ep.host, ep.host_len) == 0 &&
               back.port == ep.port && back.bracketed == ep.bracketed);
    free(text);
}

/* Every byte as %XX. */
static size_t escape(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s != '\0'; s++) {
        out[o++] = '%';
        out[o++] = hex[(unsigned char)*s >> 4];
        out[o++] = hex[(unsigned char)*s & 15];
    }
    return o;
}

static void check_proxy(const char *url)
{
    jarm__proxy_url_t u, back;
    char msg[128] = "", *text;
    size_t hl, o;
    int r = jarm__proxy_url_parse(url, &u, msg, sizeof(msg));

    FUZZ_CHECK(r == 0 || r == JARM_EINVAL);
    if (r != 0) {
        FUZZ_CHECK(strncmp(msg, "bad proxy ", 10) == 0);
        return;
    }
    FUZZ_CHECK(u.scheme >= JARM__PROXY_SOCKS5 && u.scheme <= JARM__PROXY_HTTP);
    hl = strlen(u.host);
    FUZZ_CHECK(hl >= 1 && hl <= JARM__PROXY_FIELD_MAX && u.port != 0);
    FUZZ_CHECK(strlen(u.user) <= JARM__PROXY_FIELD_MAX && strlen(u.pass) <= JARM__PROXY_FIELD_MAX);
    FUZZ_CHECK(u.auth == (u.user[0] != '\0'));

    text = malloc(16 + 6 * JARM__PROXY_FIELD_MAX + hl + 16);
    FUZZ_CHECK(text != NULL);
    o = (size_t)sprintf(text, "%s://",
                        u.scheme == JARM__PROXY_SOCKS5    ? "socks5"
                        : u.scheme == JARM__PROXY_SOCKS5H ? "socks5h"
                                                          : "http");
    if (u.auth) {
        o += escape(text + o, u.user);
        text[o++] = ':';
        o += escape(text + o, u.pass);
        text[o++] = '@';
    }
    o += (size_t)sprintf(text + o, "[%s]:%u", u.host, (unsigned)u.port);
    /* A host holding ']' cannot be bracketed; the other forms are checked by check_endpoint. */
    if (strchr(u.host, ']') == NULL) {
        FUZZ_CHECK(jarm__proxy_url_parse(text, &back, NULL, 0) == 0);
        FUZZ_CHECK(back.scheme == u.scheme && back.auth == u.auth && back.port == u.port &&
                   strcmp(back.user, u.user) == 0 && strcmp(back.pass, u.pass) == 0 &&
                   strcmp(back.host, u.host) == 0);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *z;

    check_port(data, size);
    check_endpoint((const char *)data, size);
    z = malloc(size + 1);
    FUZZ_CHECK(z != NULL);
    if (size > 0)
        memcpy(z, data, size);
    z[size] = '\0';
    check_proxy(z);
    free(z);
    return 0;
}
