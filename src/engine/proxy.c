/*
 * proxy.c - the proxy handshakes of a probe connection, SOCKS5 (RFC 1928, RFC 1929) and HTTP
 * CONNECT (RFC 9110): what to send and what the proxy's replies mean; the bytes are read by
 * src/core/socks5.c and src/core/httpproxy.c.
 */
#include <netinet/in.h>
#include <stdlib.h>
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

const jarm__handshake_t jarm__socks5_handshake = {"socks5", socks5_start, socks5_feed, NULL};

/* ---- HTTP CONNECT ---- */

/* `CONNECT host:port`: by name when the proxy resolves it, else the address. */
static jarm__hs_status_t http_start(jarm__hs_state_t *hs, const jarm__target_t *t,
                                    const jarm__scan_opts_t *o, jarm__hs_out_t *out)
{
    const char *host = t->by_name ? t->host : t->ip;
    size_t host_len = t->by_name ? t->host_len : strlen(t->ip);
    const char *pass = o->proxy_pass != NULL ? o->proxy_pass : "";

    hs->used = 0;
    if ((hs->u.http = malloc(sizeof(*hs->u.http))) == NULL)
        return fail(out, JARM__P_ERROR, NULL);
    jarm__http_reply_init(hs->u.http, 0);
    if (jarm__http_connect_build(host, host_len, t->port, o->proxy_user,
                                 o->proxy_user != NULL ? strlen(o->proxy_user) : 0, pass,
                                 strlen(pass), (char *)out->buf, sizeof(out->buf), &out->len) != 0)
        return fail(out, JARM__P_ERROR, NULL);
    return JARM__HS_MORE;
}

/*
 * The final answer. 2xx: the tunnel is up. 503 (Squid's answer when the target refuses the
 * connection) counts as refused, 502 and 504 (bad gateway, gateway timeout) as unreachable,
 * as SOCKS5's REP 5 and REP 3, 4, 6 do; any other status is the proxy's failure. The row's
 * error keeps the status either way ("proxy said 503").
 */
static jarm__hs_status_t http_final(const jarm__http_reply_t *r, jarm__hs_out_t *out)
{
    if (r->code >= 200 && r->code < 300)
        return JARM__HS_DONE;
    out->code = r->code;
    if (r->code == 503)
        return fail(out, JARM__P_REFUSED, NULL);
    if (r->code == 502 || r->code == 504)
        return fail(out, JARM__P_UNREACHABLE, NULL);
    return fail(out, JARM__P_PROXY, "proxy refused CONNECT");
}

static jarm__hs_status_t http_feed(jarm__hs_state_t *hs, const jarm__target_t *t,
                                   const jarm__scan_opts_t *o, const uint8_t *in, size_t n,
                                   jarm__hs_out_t *out)
{
    jarm__http_reply_t *r = hs->u.http;

    (void)t;
    (void)o;
    out->len = 0;
    out->used = 0;
    for (;;) {
        size_t before = r->len;
        jarm__http_status_t st = jarm__http_reply_feed(r, in + out->used, n - out->used);
        out->used += r->len - before;
        if (st == JARM__HTTP_MORE)
            return JARM__HS_MORE;
        if (st == JARM__HTTP_TOO_LONG)
            return fail(out, JARM__P_PROXY, "proxy reply too long");
        if (st != JARM__HTTP_DONE)
            return fail(out, JARM__P_PROXY, "proxy reply malformed");
        hs->used = (uint16_t)(hs->used + r->len);
        if (r->code >= 200)
            return http_final(r, out);
        /* An interim 1xx head: read the next one, within what is left of the bound. */
        if (hs->used >= JARM__HTTP_REPLY_MAX)
            return fail(out, JARM__P_PROXY, "proxy reply too long");
        jarm__http_reply_init(r, JARM__HTTP_REPLY_MAX - hs->used);
    }
}

static void http_end(jarm__hs_state_t *hs)
{
    free(hs->u.http);
    hs->u.http = NULL;
}

const jarm__handshake_t jarm__http_handshake = {"http", http_start, http_feed, http_end};
