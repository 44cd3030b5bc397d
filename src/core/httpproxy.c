/*
 * httpproxy.c - the HTTP CONNECT request and a byte-at-a-time reader of the proxy's reply.
 *
 * The reader is a state machine over single bytes: each byte moves it one step, so the
 * result cannot depend on how the reply is cut into reads, and it stops on the LF of the
 * blank line without looking further. It keeps no copy of the reply: the status code, the
 * HTTP minor version, the reason (cut at JARM__HTTP_REASON_MAX) and the scheme of the first
 * Proxy-Authenticate header are extracted on the way.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "httpproxy.h"
#include "internal.h"
#include "jarm.h"

enum {
    S_VERSION, /* "HTTP/1." */
    S_MINOR,   /* the digit */
    S_SP,      /* the space before the code */
    S_CODE,    /* three digits, r->matched of them read */
    S_AFTER_CODE,
    S_REASON,
    S_STATUS_CR, /* CR seen at the end of the status line (the status line's states come
                    before S_LINE: step() relies on it) */
    S_LINE,      /* start of a header line or of the blank line */
    S_NAME,
    S_VALUE,
    S_HEADER_CR,
    S_END_CR, /* CR of the blank line */
};

static const char version_prefix[] = "HTTP/1.";
static const char auth_header[] = "proxy-authenticate";

void jarm__http_reply_init(jarm__http_reply_t *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max ? max : JARM__HTTP_REPLY_MAX;
    r->state = S_VERSION;
}

const char *jarm__http_status_name(jarm__http_status_t s)
{
    switch (s) {
    case JARM__HTTP_MORE:
        return "more";
    case JARM__HTTP_DONE:
        return "done";
    case JARM__HTTP_MALFORMED:
        return "malformed";
    case JARM__HTTP_TOO_LONG:
        return "too_long";
    case JARM__HTTP_TRUNCATED:
        return "truncated";
    }
    return "unknown";
}

/* RFC 9110 tchar. */
static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed in a reason phrase or a field value: HTAB, SP, VCHAR, obs-text. */
static int is_text(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
}

/* A byte of the status line: "HTTP/1." DIGIT SP 3DIGIT [SP reason] EOL. */
static jarm__http_status_t step_status(jarm__http_reply_t *r, uint8_t c)
{
    switch (r->state) {
    case S_VERSION:
        if (c != (uint8_t)version_prefix[r->matched])
            return JARM__HTTP_MALFORMED;
        if (++r->matched == sizeof(version_prefix) - 1)
            r->state = S_MINOR;
        return JARM__HTTP_MORE;
    case S_MINOR:
        if (c < '0' || c > '9')
            return JARM__HTTP_MALFORMED;
        r->minor = c - (unsigned)'0';
        r->state = S_SP;
        return JARM__HTTP_MORE;
    case S_SP:
        if (c != ' ')
            return JARM__HTTP_MALFORMED;
        r->state = S_CODE;
        r->matched = 0;
        return JARM__HTTP_MORE;
    case S_CODE:
        if (c < '0' || c > '9')
            return JARM__HTTP_MALFORMED;
        r->code = r->code * 10 + (c - (unsigned)'0');
        if (++r->matched < 3)
            return JARM__HTTP_MORE;
        if (r->code < 100 || r->code > 599)
            return JARM__HTTP_MALFORMED;
        r->state = S_AFTER_CODE;
        return JARM__HTTP_MORE;
    case S_AFTER_CODE: /* a reason, or none at all ("HTTP/1.1 200\r\n") */
        if (c == ' ')
            r->state = S_REASON;
        else if (c == '\r')
            r->state = S_STATUS_CR;
        else if (c == '\n')
            r->state = S_LINE;
        else
            return JARM__HTTP_MALFORMED;
        return JARM__HTTP_MORE;
    case S_REASON:
        if (c == '\r') {
            r->state = S_STATUS_CR;
        } else if (c == '\n') {
            r->state = S_LINE;
        } else if (!is_text(c)) {
            return JARM__HTTP_MALFORMED;
        } else if (r->reason_len < JARM__HTTP_REASON_MAX) {
            r->reason[r->reason_len++] = (char)c;
        } else {
            r->reason_cut = 1;
        }
        return JARM__HTTP_MORE;
    default: /* S_STATUS_CR */
        if (c != '\n')
            return JARM__HTTP_MALFORMED;
        r->state = S_LINE;
        return JARM__HTTP_MORE;
    }
}

/* A byte of a header name; r->matched follows "proxy-authenticate" case-insensitively. */
static jarm__http_status_t step_name(jarm__http_reply_t *r, uint8_t c)
{
    if (c == ':') {
        r->state = S_VALUE;
        r->in_auth = r->matched == sizeof(auth_header) - 1 && r->auth_scheme[0] == '\0';
        r->matched = 0;
        return JARM__HTTP_MORE;
    }
    if (!is_tchar(c))
        return JARM__HTTP_MALFORMED;
    if (r->matched > 0 && r->matched < sizeof(auth_header) - 1 &&
        lower(c) == (uint8_t)auth_header[r->matched])
        r->matched++;
    else
        r->matched = 0; /* no match, or a longer name */
    return JARM__HTTP_MORE;
}

/* A byte of a header value; the first Proxy-Authenticate's first token is its scheme. */
static jarm__http_status_t step_value(jarm__http_reply_t *r, uint8_t c)
{
    if (c == '\r' || c == '\n') {
        r->state = c == '\r' ? S_HEADER_CR : S_LINE;
        r->in_auth = 0;
        return JARM__HTTP_MORE;
    }
    if (!is_text(c))
        return JARM__HTTP_MALFORMED;
    if (r->in_auth) {
        if (is_tchar(c) && r->matched < sizeof(r->auth_scheme) - 1)
            r->auth_scheme[r->matched++] = (char)c;
        else if (r->matched > 0)
            r->in_auth = 0;
    }
    return JARM__HTTP_MORE;
}

/* A byte of the header block: lines `token ":" value EOL`, then an empty line. */
static jarm__http_status_t step_headers(jarm__http_reply_t *r, uint8_t c)
{
    switch (r->state) {
    case S_LINE:
        if (c == '\r') {
            r->state = S_END_CR;
            return JARM__HTTP_MORE;
        }
        if (c == '\n')
            return JARM__HTTP_DONE;
        if (!is_tchar(c)) /* obs-fold (SP, HTAB) included */
            return JARM__HTTP_MALFORMED;
        r->headers++;
        r->state = S_NAME;
        r->matched = lower(c) == (uint8_t)auth_header[0] ? 1 : 0;
        r->in_auth = 0;
        return JARM__HTTP_MORE;
    case S_NAME:
        return step_name(r, c);
    case S_VALUE:
        return step_value(r, c);
    case S_HEADER_CR:
        if (c != '\n')
            return JARM__HTTP_MALFORMED;
        r->state = S_LINE;
        return JARM__HTTP_MORE;
    case S_END_CR:
        return c == '\n' ? JARM__HTTP_DONE : JARM__HTTP_MALFORMED;
    default:
        JARM__UNREACHABLE();
    }
}

/* One byte. Returns the new status. */
static jarm__http_status_t step(jarm__http_reply_t *r, uint8_t c)
{
    return r->state < S_LINE ? step_status(r, c) : step_headers(r, c);
}

jarm__http_status_t jarm__http_reply_feed(jarm__http_reply_t *r, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len && r->status == JARM__HTTP_MORE; i++) {
        r->status = step(r, data[i]);
        r->len++;
        if (r->status == JARM__HTTP_MORE && r->len >= r->max)
            r->status = JARM__HTTP_TOO_LONG;
    }
    return r->status;
}

jarm__http_status_t jarm__http_reply_finish(jarm__http_reply_t *r)
{
    if (r->status == JARM__HTTP_MORE)
        r->status = JARM__HTTP_TRUNCATED;
    return r->status;
}

/* ----------------------------------------------------------------------------------------
 * The request
 */

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] == 0x7f)
            return 1;
    return 0;
}

/* base64 of "user:pass" into o, in 48-byte slices through EVP_EncodeBlock. */
static void put_basic(jarm__out_t *o, const char *user, size_t user_len, const char *pass,
                      size_t pass_len)
{
    uint8_t in[48], enc[65];
    size_t total = user_len + 1 + pass_len, done = 0;

    while (done < total) {
        size_t n = total - done < sizeof(in) ? total - done : sizeof(in);
        for (size_t k = 0; k < n; k++) {
            size_t at = done + k;
            in[k] = at < user_len    ? (uint8_t)user[at]
                    : at == user_len ? (uint8_t)':'
                                     : (uint8_t)pass[at - user_len - 1];
        }
        jarm__out_put(o, enc, (size_t)EVP_EncodeBlock(enc, in, (int)n));
        done += n;
    }
}

int jarm__http_connect_build(const char *host, size_t host_len, unsigned port, const char *user,
                             size_t user_len, const char *pass, size_t pass_len, char *out,
                             size_t cap, size_t *out_len)
{
    jarm__out_t o = {out, 0, out ? cap : 0};
    char authority[JARM_HOST_MAX + 16], num[8];
    jarm__out_t a = {authority, 0, sizeof(authority)};
    int v6 = memchr(host, ':', host_len) != NULL;

    if (host_len == 0 || host_len > JARM_HOST_MAX || port == 0 || port > 65535)
        return JARM_EINVAL;
    for (size_t i = 0; i < host_len; i++) {
        uint8_t c = (uint8_t)host[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '@' || c == '[' || c == ']')
            return JARM_EINVAL;
    }
    if (user != NULL && (memchr(user, ':', user_len) != NULL || has_ctl(user, user_len) ||
                         (pass != NULL && has_ctl(pass, pass_len))))
        return JARM_EINVAL;

    /* host:port, [v6]:port */
    if (v6)
        jarm__out_put(&a, "[", 1);
    jarm__out_put(&a, host, host_len);
    if (v6)
        jarm__out_put(&a, "]", 1);
    (void)snprintf(num, sizeof(num), ":%u", port);
    jarm__out_puts(&a, num);

    jarm__out_puts(&o, "CONNECT ");
    jarm__out_put(&o, authority, a.len);
    jarm__out_puts(&o, " HTTP/1.1\r\nHost: ");
    jarm__out_put(&o, authority, a.len);
    jarm__out_puts(&o, "\r\n");
    if (user != NULL) {
        jarm__out_puts(&o, "Proxy-Authorization: Basic ");
        put_basic(&o, user, user_len, pass != NULL ? pass : "", pass != NULL ? pass_len : 0);
        jarm__out_puts(&o, "\r\n");
    }
    jarm__out_puts(&o, "\r\n");

    *out_len = o.len;
    if (out == NULL || o.len >= o.cap)
        return JARM_ENOBUFS;
    out[o.len] = '\0';
    return 0;
}
