/*
 * proxy.c - the SOCKS5 handshake (RFC 1928, RFC 1929) of a probe connection: what to send
 * and what the proxy's replies mean; the bytes are read by src/core/socks5.c.
 */
#include <netinet/in.h>
#include <string.h>

#include "internal.h"
#include "proxy.h"

/* The steps: the reply being read. */
enum { S_METHOD, S_AUTH, S_CONNECT };

static jarm__hs_status_t fail(jarm__hs_out_t *out, jarm__pstatus_t result, const char *reason)
{
    out->result = result;
    out->reason = reason;
    return JARM__HS_FAIL;
}

static jarm__hs_status_t socks5_start(jarm__hs_state_t *hs, const jarm__target_t *t,
                                      const jarm__scan_opts_t *o, jarm__hs_out_t *out)
{
    (void)t;
    hs->step = S_METHOD;
    jarm__socks5_reply_init(&hs->u.socks5, JARM__SOCKS5_METHOD_REPLY);
    out->len = jarm__socks5_greeting(o->proxy_user != NULL, out->buf);
    return JARM__HS_MORE;
}

/* Append the CONNECT request: by name (socks5h) or by address. */
static jarm__hs_status_t socks5_connect(jarm__hs_state_t *hs, const jarm__target_t *t,
                                        jarm__hs_out_t *out)
{
    int n;

    if (t->by_name)
        n = jarm__socks5_connect_request(JARM__SOCKS5_DOMAIN, (const uint8_t *)t->host,
                                         t->host_len, t->port, out->buf + out->len);
    else if (t->addr.ss_family == AF_INET)
        n = jarm__socks5_connect_request(
            JARM__SOCKS5_IPV4, (const uint8_t *)&((const struct sockaddr_in *)&t->addr)->sin_addr,
            4, t->port, out->buf + out->len);
    else
        n = jarm__socks5_connect_request(
            JARM__SOCKS5_IPV6,
            (const uint8_t *)&((const struct sockaddr_in6 *)&t->addr)->sin6_addr, 16, t->port,
            out->buf + out->len);
    if (n < 0)
        return fail(out, JARM__P_ERROR, NULL);
    out->len += (size_t)n;
    hs->step = S_CONNECT;
    jarm__socks5_reply_init(&hs->u.socks5, JARM__SOCKS5_CONNECT_REPLY);
    return JARM__HS_MORE;
}

/* A CONNECT reply code: what the target did, where it says so; else the proxy's failure. */
static jarm__hs_status_t socks5_rep_fail(jarm__hs_out_t *out, unsigned rep)
{
    switch (rep) {
    case 3: /* network unreachable */
    case 4: /* host unreachable */
    case 6: /* TTL expired */
        return fail(out, JARM__P_UNREACHABLE, NULL);
    case 5:
        return fail(out, JARM__P_REFUSED, NULL);
    case 1:
        return fail(out, JARM__P_PROXY, "proxy general failure");
    case 2:
        return fail(out, JARM__P_PROXY, "proxy ruleset forbids connection");
    case 7:
        return fail(out, JARM__P_PROXY, "proxy does not support CONNECT");
    case 8:
        return fail(out, JARM__P_PROXY, "proxy does not support address type");
    default:
        return fail(out, JARM__P_PROXY, "proxy reply malformed");
    }
}

/* A complete reply of the current step. */
static jarm__hs_status_t socks5_step(jarm__hs_state_t *hs, const jarm__target_t *t,
                                     const jarm__scan_opts_t *o, jarm__hs_out_t *out)
{
    const jarm__socks5_reply_t *r = &hs->u.socks5;
    int n;

    switch (hs->step) {
    case S_METHOD:
        if (r->method == JARM__SOCKS5_USERPASS && o->proxy_user != NULL) {
            const char *pass = o->proxy_pass != NULL ? o->proxy_pass : "";
            n = jarm__socks5_auth_request(o->proxy_user, strlen(o->proxy_user), pass,
                                          strlen(pass), out->buf + out->len);
            if (n < 0)
                return fail(out, JARM__P_PROXY, "proxy auth failed");
            out->len += (size_t)n;
            hs->step = S_AUTH;
            jarm__socks5_reply_init(&hs->u.socks5, JARM__SOCKS5_AUTH_REPLY);
            return JARM__HS_MORE;
        }
        if (r->method != JARM__SOCKS5_NO_AUTH)
            return fail(out, JARM__P_PROXY,
                        r->method == JARM__SOCKS5_USERPASS ? "proxy requires authentication"
                                                           : "proxy accepts no offered method");
        return socks5_connect(hs, t, out);
    case S_AUTH:
        if (r->code != 0)
            return fail(out, JARM__P_PROXY, "proxy auth failed");
        return socks5_connect(hs, t, out);
    default:
        return r->code != 0 ? socks5_rep_fail(out, r->code) : JARM__HS_DONE;
    }
}

static jarm__hs_status_t socks5_feed(jarm__hs_state_t *hs, const jarm__target_t *t,
                                     const jarm__scan_opts_t *o, const uint8_t *in, size_t n,
                                     jarm__hs_out_t *out)
{
    out->len = 0;
    out->used = 0;
    /* Replies are read exactly; a proxy that sends the next one early is read on. */
    while (out->used < n) {
        size_t used = 0;
        jarm__socks5_status_t st =
            jarm__socks5_reply_feed(&hs->u.socks5, in + out->used, n - out->used, &used);
        jarm__hs_status_t r;
        out->used += used;
        if (st == JARM__SOCKS5_MORE)
            return JARM__HS_MORE;
        if (st == JARM__SOCKS5_MALFORMED)
            return fail(out, JARM__P_PROXY, "proxy reply malformed");
        if ((r = socks5_step(hs, t, o, out)) != JARM__HS_MORE)
            return r;
    }
    return JARM__HS_MORE;
}

const jarm__handshake_t jarm__socks5_handshake = {"socks5", socks5_start, socks5_feed};
