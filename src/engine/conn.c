/*
 * conn.c - one probe connection: connect, the proxy handshake when there is a proxy, send
 * the ClientHello, read the reply until jarm_reply_parse() says it can no longer change
 * (at JARM_RX_MAX bytes, at EOF or error; a timeout with bytes buffered parses them as
 * final, what the reference's single recv(1484) would have returned), and finish.
 *
 * One struct per connection, from a free list: the fd and bookkeeping, ~140 bytes. Each
 * reply is parsed straight from the engine's shared read buffer; only when the parser needs
 * more bytes than one read delivered does the connection take a JARM_RX_MAX buffer from a
 * pool, so idle and single-read connections cost no receive memory. Every path ends in
 * jarm__conn_finish(), which records the result, closes the socket and queues the
 * connection; the scanner's flush then hands the result to the target, once per event batch
 * and never from inside another callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scan_int.h"

static void conn_record(jarm__conn_t *c, jarm__pstatus_t result, const char *str, size_t len)
{
    jarm__scan_t *s = c->s;
    jarm__target_t *t = c->t;

    c->suspect = (uint8_t)jarm__conn_is_suspect(c, result);
    if (c->suspect) {
        unsigned crowd = c->at_start > t->paddr->inflight ? c->at_start : t->paddr->inflight;
        c->crowd = (uint16_t)(crowd < 2 ? 2 : crowd > 0xffff ? 0xffff : crowd);
    }
    if (result == JARM__P_OK && t->paddr != NULL)
        t->paddr->hello_ports |= UINT64_C(1) << (t->port & 63);
    if (!c->retry) {
        t->probes[c->probe].status = (uint8_t)result;
        t->probes[c->probe].ms = (uint32_t)(uv_now(s->loop) - c->start_ms);
        if (str != NULL && !t->abandoned && jarm__target_store(t, c->probe, str, len) != 0)
            t->probes[c->probe].status = JARM__P_ERROR;
    }
}

/*
 * The one way a connection ends: record its result (unless it was recorded when the reply
 * was decided and the connection read on for the after_parse hook), close the socket, and
 * queue the connection for the scanner's flush, which does the accounting once the current
 * callback is over.
 */
/* The proxy handshake is over, whichever way. */
static void conn_hs_end(jarm__conn_t *c)
{
    if (c->s->hs->end != NULL)
        c->s->hs->end(&c->hs);
}

void jarm__conn_finish(jarm__conn_t *c, jarm__pstatus_t result, const char *str, size_t len)
{
    static const struct linger rst = {1, 0};
    jarm__scan_t *s = c->s;
    jarm__target_t *t = c->t;

    if (c->state == JARM__C_CLOSING)
        return;
    if (c->state == JARM__C_PROXY)
        conn_hs_end(c);
    if (c->state == JARM__C_AFTER_PARSE) {
        result = (jarm__pstatus_t)t->probes[c->probe].status;
        (void)s->after_data(s, t, c->probe, NULL, 0); /* the reading is over */
    } else {
        conn_record(c, result, str, len);
    }
    c->state = JARM__C_CLOSING;
    jarm__queue_remove(&c->node); /* off the deadline list */
    if (c->fd >= 0) {
        jarm__poller_del(&s->poller, &c->io);
        /* RST, as scanners do: no TIME_WAIT on our side, nothing left to say. close()
         * also takes the socket out of the epoll set. */
        if (c->connected)
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        close(c->fd);
        c->fd = -1;
    }
    jarm__queue_insert_tail(&s->closed, &c->node);
    if ((result == JARM__P_TIMEOUT || result == JARM__P_PROXY) && !t->abandoned && !c->suspect) {
        t->proxy_failed = result == JARM__P_PROXY;
        jarm__target_abandon(t);
    }
}

/*
 * A probe timed out, or the proxy failed: the whole target is decided (ten empty probes, as
 * the reference does for a timeout); abandon its other connections and start no more.
 */
void jarm__target_abandon(jarm__target_t *t)
{
    t->abandoned = 1;
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (t->conns[i] != NULL && t->conns[i]->state != JARM__C_CLOSING)
            jarm__conn_finish(t->conns[i], JARM__P_SKIPPED, NULL, 0);
    for (unsigned i = 0; i < JARM_PROBES; i++)
        if (!(t->started & (1u << i)))
            t->probes[i].status = JARM__P_SKIPPED;
    t->started = ALL_PROBES;
}

/* Through the proxy? Not on the direct pass of --compare-direct. */
static int conn_via_proxy(const jarm__conn_t *c)
{
    return c->s->hs != NULL && !c->t->direct;
}

/* The proxy failed this probe: the row is proxy_error, with the first reason. */
static void conn_proxy_fail(jarm__conn_t *c, const char *reason)
{
    if (c->t->error == NULL)
        c->t->error = reason;
    jarm__conn_finish(c, JARM__P_PROXY, "|||", 3);
}

/* ---- reading the reply ---- */

/* The reply is decided. With an after_parse hook that wants more of a ServerHello's
 * connection, record the result now and read on; else finish. */
static void conn_decided(jarm__conn_t *c, jarm__pstatus_t st, const char *str, size_t len,
                         const uint8_t *reply, size_t reply_len)
{
    jarm__scan_t *s = c->s;

    if (st == JARM__P_OK && s->after_parse != NULL && !c->retry &&
        s->after_parse(s, c->t, c->probe, reply, reply_len)) {
        jarm__target_t *t = c->t;
        conn_record(c, st, str, len);
        c->state = JARM__C_AFTER_PARSE;
        if (c->probe == 0 && !c->confirming) {
            /* The gate answered: the other probes need not wait for the extra reading. */
            int alone;
            t->gate_done = 1;
            if (t->queued == Q_NONE && jarm__target_next(s, t, &alone) >= 0)
                jarm__ready_push_front(s, t);
        }
        return;
    }
    jarm__conn_finish(c, st, str, len);
}

/* Parse what we have; finish the connection when the answer is decided. */
static void conn_parse(jarm__conn_t *c, const uint8_t *buf, size_t len, int final)
{
    jarm__scan_t *s = c->s;
    jarm_reply_t r;
    jarm__pstatus_t st;
    int ret = jarm_reply_parse(buf, len, final, &r, s->scratch, JARM_PROBE_STR_MAX);

    if (ret == JARM_EAGAIN)
        return;
    if (ret != 0) {
        jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    switch (r.kind) {
    case JARM_REPLY_SERVER_HELLO:
        st = JARM__P_OK;
        break;
    case JARM_REPLY_ALERT:
        st = JARM__P_ALERT;
        break;
    case JARM_REPLY_NOT_TLS:
        st = JARM__P_NO_TLS;
        break;
    case JARM_REPLY_MALFORMED:
        st = JARM__P_MALFORMED;
        break;
    default:
        st = JARM__P_CLOSED;
        break;
    }
    conn_decided(c, st, s->scratch, r.len, buf, len);
}

/* Bytes arrived: parse them where they lie, or append them to the connection's buffer. */
static void conn_data(jarm__conn_t *c, const uint8_t *data, size_t n)
{
    jarm__scan_t *s = c->s;

    if (c->state == JARM__C_AFTER_PARSE) {
        if (!s->after_data(s, c->t, c->probe, data, n))
            jarm__conn_finish(c, JARM__P_OK, NULL, 0);
        return;
    }
    if (c->rx == NULL) {
        /* The common case: the whole answer is in this one read. */
        conn_parse(c, data, n, n >= JARM_RX_MAX);
        if (c->state > JARM__C_READING)
            return;
        if ((c->rx = jarm__rx_get(s)) == NULL) {
            jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
            return;
        }
        memcpy(c->rx, data, n);
        c->rx_len = (uint16_t)n;
        return;
    }
    {
        size_t room = JARM_RX_MAX - c->rx_len, take = n < room ? n : room;
        memcpy(c->rx + c->rx_len, data, take);
        c->rx_len = (uint16_t)(c->rx_len + take);
        conn_parse(c, c->rx, c->rx_len, c->rx_len >= JARM_RX_MAX);
        if (c->state == JARM__C_AFTER_PARSE && take < n && /* the rest of this read */
            !s->after_data(s, c->t, c->probe, data + take, n - take))
            jarm__conn_finish(c, JARM__P_OK, NULL, 0);
    }
}

/* Edge-triggered: read until the answer is decided or the socket has nothing more. */
static void conn_read(jarm__conn_t *c)
{
    jarm__scan_t *s = c->s;

    while (c->state >= JARM__C_SENDING && c->state <= JARM__C_AFTER_PARSE) {
        ssize_t n = recv(c->fd, s->readbuf, sizeof(s->readbuf), 0);
        if (n > 0) {
            conn_data(c, s->readbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->state == JARM__C_AFTER_PARSE) /* the result is recorded already */
            jarm__conn_finish(c, JARM__P_OK, NULL, 0);
        else if (c->rx_len > 0) { /* the bytes a recv() would have returned before EOF */
            conn_parse(c, c->rx, c->rx_len, 1);
            if (c->state == JARM__C_AFTER_PARSE) /* nothing more will come */
                jarm__conn_finish(c, JARM__P_OK, NULL, 0);
        } else if (n == 0)
            jarm__conn_finish(c, JARM__P_CLOSED, "|||", 3);
        else if (errno == ECONNRESET)
            jarm__conn_finish(c, JARM__P_RESET, "|||", 3);
        else
            jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
}

/* ---- connecting ---- */

static jarm__pstatus_t connect_error_status(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return JARM__P_REFUSED;
    case ECONNRESET:
        return JARM__P_RESET;
    case EHOSTUNREACH:
    case ENETUNREACH:
        return JARM__P_UNREACHABLE;
    case ETIMEDOUT:
        return JARM__P_TIMEOUT;
    default:
        return JARM__P_ERROR;
    }
}

/* Errors that mean "the machine is out of sockets or ports now", not "the target is bad". */
static int is_resource_errno(int err)
{
    return err == EMFILE || err == ENFILE || err == EADDRNOTAVAIL || err == ENOBUFS ||
           err == ENOMEM || err == EAGAIN;
}

/* The row's reason for a local shortage that was not retried. */
static const char *resource_reason(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE:
        return "out of file descriptors";
    case EADDRNOTAVAIL:
        return "out of local ports";
    default:
        return "out of memory or buffers";
    }
}

static const char *proxy_connect_reason(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "proxy refused connection";
    case EHOSTUNREACH:
    case ENETUNREACH:
        return "proxy unreachable";
    case ETIMEDOUT:
        return "proxy timed out";
    default:
        return "proxy connection failed";
    }
}

/* Retries of a shortage with no other connection open before the probe fails (~3 s). */
#define STARVED_MAX 6

/* A failed connect: a resource shortage is retried, anything else is the probe's result. */
static void conn_fail(jarm__conn_t *c, int err)
{
    jarm__scan_t *s = c->s;
    jarm__pstatus_t st;

    if (is_resource_errno(err)) {
        /* With nothing else open, no close will free what we lack: retry a few times (a
         * descriptor held elsewhere in the process may come back), then report the probe
         * as a local error rather than wait forever. */
        if (s->stats.conns_active > 1 || s->starved < STARVED_MAX) {
            if (s->stats.conns_active <= 1)
                s->starved++;
            c->retry = 1;
            jarm__conn_finish(c, JARM__P_PENDING, NULL, 0);
            return;
        }
        if (c->t->error == NULL)
            c->t->error = resource_reason(err);
        jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    if (conn_via_proxy(c) && c->state == JARM__C_CONNECTING) {
        conn_proxy_fail(c, proxy_connect_reason(err));
        return;
    }
    st = connect_error_status(err);
    jarm__conn_finish(c, st, st == JARM__P_TIMEOUT ? NULL : "|||", 3);
}

/* Send bytes (a proxy request, the ClientHello, or the rest of one); returns 0 when they
 * are all out, 1 when the rest waits for the socket to be writable, -1 when it finished. */
static int conn_send(jarm__conn_t *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w < 0) {
            if (c->state == JARM__C_PROXY)
                conn_proxy_fail(c, "proxy reset connection");
            else
                jarm__conn_finish(c,
                                  errno == ECONNRESET || errno == EPIPE ? JARM__P_RESET
                                                                        : JARM__P_ERROR,
                                  "|||", 3);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    if (n == 0) {
        free(c->tx);
        c->tx = NULL;
        c->tx_len = 0;
        return 0;
    }
    /* A full send buffer on a fresh socket is rare; keep the rest for the next writable. */
    if (c->tx == NULL) {
        if ((c->tx = malloc(n)) == NULL) {
            jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
            return -1;
        }
        memcpy(c->tx, p, n);
    } else {
        memmove(c->tx, p, n);
    }
    c->tx_len = (uint16_t)n;
    return 1;
}

/* The connection to the target is up (directly or through the proxy): send the probe. */
static void conn_hello(jarm__conn_t *c)
{
    jarm__scan_t *s = c->s;
    jarm__target_t *t = c->t;
    uint8_t hello[JARM_HELLO_MAX];
    size_t len;

    c->state = JARM__C_SENDING;
    if (jarm_probe_build(c->probe, t->sni, t->sni_len, jarm_rng_fill, &s->rng, hello,
                         sizeof(hello), &len) != 0) {
        jarm__conn_finish(c, JARM__P_ERROR, "|||", 3);
        return;
    }
    if (conn_send(c, hello, len) == 0)
        c->state = JARM__C_READING;
}

/* ---- the proxy handshake ---- */

static void conn_hs_fail(jarm__conn_t *c, const jarm__hs_out_t *out)
{
    jarm__target_t *t = c->t;

    if (out->code != 0 && t->error == NULL) { /* an HTTP proxy's status: the row says it */
        snprintf(t->error_buf, sizeof(t->error_buf), "proxy said %u", out->code);
        t->error = t->error_buf;
    }
    if (out->result == JARM__P_PROXY)
        conn_proxy_fail(c, out->reason);
    else
        jarm__conn_finish(c, out->result, "|||", 3);
}

static void conn_proxy_begin(jarm__conn_t *c)
{
    jarm__scan_t *s = c->s;
    jarm__hs_out_t out;

    c->state = JARM__C_PROXY;
    out.len = 0;
    out.code = 0;
    out.result = JARM__P_PROXY;
    out.reason = "proxy connection failed";
    if (s->hs->start(&c->hs, c->t, &s->opts, &out) == JARM__HS_FAIL)
        conn_hs_fail(c, &out);
    else
        (void)conn_send(c, out.buf, out.len);
}

/* Read the proxy's replies; what follows the handshake is the target's reply. */
static void conn_proxy_read(jarm__conn_t *c)
{
    jarm__scan_t *s = c->s;

    while (c->state == JARM__C_PROXY) {
        jarm__hs_out_t out;
        jarm__hs_status_t st;
        ssize_t n = recv(c->fd, s->readbuf, sizeof(s->readbuf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_proxy_fail(c, n == 0 ? "proxy closed connection" : "proxy reset connection");
            return;
        }
        out.code = 0;
        st = s->hs->feed(&c->hs, c->t, &s->opts, s->readbuf, (size_t)n, &out);
        if (st == JARM__HS_FAIL) {
            conn_hs_fail(c, &out);
            return;
        }
        if (out.len > 0 && c->tx_len > 0) { /* a reply to a request not yet sent */
            conn_proxy_fail(c, "proxy reply malformed");
            return;
        }
        if (out.len > 0 && conn_send(c, out.buf, out.len) < 0)
            return;
        if (st == JARM__HS_DONE) {
            conn_hs_end(c);
            conn_hello(c);
            if (c->state <= JARM__C_READING && out.used < (size_t)n)
                conn_data(c, s->readbuf + out.used, (size_t)n - out.used);
            return;
        }
    }
}

/* ---- events ---- */

static void conn_event(jarm__conn_t *c, unsigned ev)
{
    if (c->state == JARM__C_CONNECTING) {
        if (ev & JARM__POLL_ERR) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            conn_fail(c, err ? err : ECONNRESET);
            return;
        }
        if (!(ev & JARM__POLL_OUT))
            return;
        c->connected = 1;
        if (conn_via_proxy(c))
            conn_proxy_begin(c);
        else
            conn_hello(c);
    } else if (c->tx_len > 0 && (ev & JARM__POLL_OUT)) {
        int r = conn_send(c, c->tx, c->tx_len);
        if (r < 0)
            return;
        if (r == 0 && c->state == JARM__C_SENDING)
            c->state = JARM__C_READING;
    }
    if (!(ev & (JARM__POLL_IN | JARM__POLL_HUP | JARM__POLL_ERR)))
        return;
    if (c->state == JARM__C_PROXY)
        conn_proxy_read(c);
    if (c->state >= JARM__C_SENDING && c->state <= JARM__C_AFTER_PARSE)
        conn_read(c);
}

void jarm__conn_on_io(jarm__poller_t *p, jarm__pio_t *io, unsigned events)
{
    jarm__conn_t *c = JARM__CONTAINER_OF(io, jarm__conn_t, io);

    /* A connection finished earlier in this batch may still have an event here; its fd is
     * closed and it is only waiting for the flush. */
    if (c->state == JARM__C_CLOSING)
        return;
    conn_event(c, events);
    if (c->state != JARM__C_CLOSING)
        jarm__poller_want(p, io,
                          c->state == JARM__C_CONNECTING || c->tx_len > 0
                              ? JARM__POLL_IN | JARM__POLL_OUT
                              : JARM__POLL_IN);
}

/* Every failure from here on goes through conn_fail() and the flush: a shortage of sockets
 * is retried, anything else (EAFNOSUPPORT, ENETUNREACH...) is the result. */
int jarm__conn_open(jarm__conn_t *c)
{
    jarm__scan_t *s = c->s;
    const struct sockaddr_storage *dest = conn_via_proxy(c) ? s->opts.proxy : &c->t->addr;
    int r;

    c->fd = socket(dest->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        r = errno;
        goto Fail;
    }
    if ((r = jarm__poller_add(&s->poller, &c->io, c->fd)) != 0) {
        r = -r;
        goto Fail;
    }
    if (connect(c->fd, (const struct sockaddr *)dest,
                dest->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in)) != 0 &&
        errno != EINPROGRESS) {
        /* A synchronous failure goes through the flush like every other result. */
        r = errno;
        goto Fail;
    }
    return 1;
Fail:
    conn_fail(c, r);
    return c->retry ? -r : 0;
}

/* The deadline passed: bytes that arrived are the answer; before the CONNECT reply, the
 * proxy is the one we are waiting for. */
void jarm__conn_expire(jarm__conn_t *c)
{
    if (c->state == JARM__C_AFTER_PARSE)
        jarm__conn_finish(c, JARM__P_OK, NULL, 0);
    else if (c->rx_len > 0) {
        conn_parse(c, c->rx, c->rx_len, 1);
        if (c->state == JARM__C_AFTER_PARSE) /* its deadline is over too */
            jarm__conn_finish(c, JARM__P_OK, NULL, 0);
    } else if (c->state == JARM__C_PROXY || (conn_via_proxy(c) && c->state == JARM__C_CONNECTING))
        conn_proxy_fail(c, "proxy timed out");
    else
        jarm__conn_finish(c, JARM__P_TIMEOUT, NULL, 0);
}
