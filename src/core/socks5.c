/*
 * socks5.c - SOCKS5 requests and an incremental reader of the proxy's replies (socks5.h).
 */
#include <string.h>

#include "jarm.h"
#include "socks5.h"

void jarm__socks5_reply_init(jarm__socks5_reply_t *r, jarm__socks5_kind_t kind)
{
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->need = kind == JARM__SOCKS5_CONNECT_REPLY ? 4 : 2;
}

/* One byte at offset r->len; returns the new status. */
static jarm__socks5_status_t reply_byte(jarm__socks5_reply_t *r, uint8_t b)
{
    unsigned at = r->len++;

    if (at == 0) {
        int ok = r->kind == JARM__SOCKS5_AUTH_REPLY ? b == 1 || b == 5 : b == 5;
        return ok ? JARM__SOCKS5_MORE : JARM__SOCKS5_MALFORMED;
    }
    if (r->kind == JARM__SOCKS5_METHOD_REPLY) {
        r->method = b;
        return JARM__SOCKS5_DONE;
    }
    if (r->kind == JARM__SOCKS5_AUTH_REPLY) {
        r->code = b;
        return JARM__SOCKS5_DONE;
    }
    if (at == 1) {
        r->code = b;
    } else if (at == 3) {
        if (r->code != 0)
            return JARM__SOCKS5_DONE;
        r->atyp = b;
        if (b == JARM__SOCKS5_IPV4)
            r->bound_len = 4;
        else if (b == JARM__SOCKS5_IPV6)
            r->bound_len = 16;
        else if (b != JARM__SOCKS5_DOMAIN)
            return JARM__SOCKS5_MALFORMED;
        /* A name's length is its first byte: known one byte later. */
        r->need = b == JARM__SOCKS5_DOMAIN ? 5 : (uint16_t)(4 + r->bound_len + 2);
    } else if (at >= 4) {
        if (r->atyp == JARM__SOCKS5_DOMAIN && at == 4) {
            r->bound_len = b;
            r->need = (uint16_t)(5 + b + 2);
        } else if (at >= (unsigned)r->need - 2) {
            r->bound_port = (uint16_t)(r->bound_port << 8 | b);
        } else if (r->atyp != JARM__SOCKS5_DOMAIN) {
            r->bound[at - 4] = b;
        }
    }
    return r->len == r->need ? JARM__SOCKS5_DONE : JARM__SOCKS5_MORE;
}

jarm__socks5_status_t jarm__socks5_reply_feed(jarm__socks5_reply_t *r, const uint8_t *data,
                                              size_t len, size_t *used)
{
    size_t i = 0;

    while (r->status == JARM__SOCKS5_MORE && i < len)
        r->status = (uint8_t)reply_byte(r, data[i++]);
    if (used != NULL)
        *used = i;
    return (jarm__socks5_status_t)r->status;
}

const char *jarm__socks5_rep_text(unsigned rep)
{
    static const char *const text[] = {
        "succeeded",          "general failure",       "connection not allowed by ruleset",
        "network unreachable", "host unreachable",     "connection refused",
        "TTL expired",        "command not supported", "address type not supported"};
    return rep < sizeof(text) / sizeof(text[0]) ? text[rep] : "unassigned reply code";
}

size_t jarm__socks5_greeting(int userpass, uint8_t *out)
{
    out[0] = 5;
    out[1] = userpass ? 2 : 1;
    out[2] = JARM__SOCKS5_NO_AUTH;
    if (!userpass)
        return 3;
    out[3] = JARM__SOCKS5_USERPASS;
    return 4;
}

int jarm__socks5_auth_request(const char *user, size_t user_len, const char *pass,
                              size_t pass_len, uint8_t *out)
{
    size_t n = 0;

    if (user_len > 255 || pass_len > 255)
        return JARM_EINVAL;
    out[n++] = 1;
    out[n++] = (uint8_t)user_len;
    memcpy(out + n, user, user_len);
    n += user_len;
    out[n++] = (uint8_t)pass_len;
    if (pass_len > 0)
        memcpy(out + n, pass, pass_len);
    return (int)(n + pass_len);
}

int jarm__socks5_connect_request(unsigned atyp, const uint8_t *addr, size_t addr_len,
                                 unsigned port, uint8_t *out)
{
    size_t n = 0;

    if ((atyp == JARM__SOCKS5_IPV4 && addr_len != 4) ||
        (atyp == JARM__SOCKS5_IPV6 && addr_len != 16) ||
        (atyp == JARM__SOCKS5_DOMAIN && (addr_len == 0 || addr_len > 255)) ||
        (atyp != JARM__SOCKS5_IPV4 && atyp != JARM__SOCKS5_IPV6 && atyp != JARM__SOCKS5_DOMAIN) ||
        port > 65535)
        return JARM_EINVAL;
    out[n++] = 5;
    out[n++] = 1; /* CONNECT */
    out[n++] = 0;
    out[n++] = (uint8_t)atyp;
    if (atyp == JARM__SOCKS5_DOMAIN)
        out[n++] = (uint8_t)addr_len;
    memcpy(out + n, addr, addr_len);
    n += addr_len;
    out[n++] = (uint8_t)(port >> 8);
    out[n++] = (uint8_t)port;
    return (int)n;
}
