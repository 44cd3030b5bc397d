/*
 * responder.c - a fast single-threaded epoll TCP server that answers JARM probes.
 *
 * Used by the loopback tests and the loopback benchmark. It recognises which of the ten JARM
 * ClientHellos a connection sent (jarm(7), THE PROBES: record version, cipher-suites
 * length, first cipher suite) and answers with that probe's recorded reply, or misbehaves in
 * one of the ways a hostile or broken server does (--mode). Plain C11 + Linux; no libuv, so
 * that a bug in the engine's event code can never hide in the peer it is tested against.
 *
 *   responder [--listen ADDR:PORT]... [--port-file FILE] [--replies FILE] [--mode MODE]
 *             [--delay-ms N] [--drip-ms N] [--garbage-mib N] [--backlog N] [--max-conns N]
 *             [--stats]
 *
 * Every reply (and every close or reset decided after the ClientHello) can be held for
 * --delay-ms. Because that delay is the same for every connection, deadlines are appended in
 * increasing order and a FIFO list is a sorted queue: insert, remove and "next due" are O(1),
 * however many replies are pending. Drip ticks use a second FIFO the same way.
 *
 * A connection is indexed by its file descriptor in one table sized from RLIMIT_NOFILE (raised
 * to the hard limit), so there is no allocation per connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NPROBES       10
#define MAX_LISTEN    16
#define HDR_KEEP      80          /* bytes of the ClientHello needed to recognise the probe */
#define HELLO_MAX     (5 + 18432) /* a longer "record" is not a ClientHello: stop reading it */
#define GARBAGE_CHUNK 65536
#define LISTEN_TAG    (UINT64_C(1) << 32)
#define SIGNAL_TAG    (UINT64_C(2) << 32)

enum mode {
    M_REPLAY,
    M_SILENT,
    M_DRIP,
    M_RESET_ACCEPT,
    M_RESET_HELLO,
    M_GARBAGE,
    M_HTTP,
    M_ALERT,
    M_CLOSE
};
static const char *const mode_names[] = {
    "replay", "silent", "drip", "reset-accept", "reset-hello", "garbage", "http", "alert", "close"};

/* What to do with a connection once its ClientHello is complete (and any delay is over). */
enum action { A_REPLY, A_HOLD, A_CLOSE, A_RESET, A_DRIP, A_GARBAGE };

enum state { S_FREE, S_HELLO, S_WAIT, S_SEND, S_DRIP, S_HOLD };

enum { Q_NONE, Q_DELAY, Q_DRIP, Q_COUNT };

struct conn {
    uint64_t due;       /* deadline (ms, CLOCK_MONOTONIC) while in a queue */
    const uint8_t *out; /* reply being sent (garbage: the random chunk) */
    uint64_t out_len;   /* total bytes to send */
    uint64_t out_off;   /* bytes sent so far */
    int prev, next;     /* queue links (fds), -1 at the ends */
    uint32_t got;       /* ClientHello bytes read */
    uint32_t need;      /* ClientHello length from its record header; 0 until known */
    uint8_t state;
    uint8_t queue;
    uint8_t action;
    uint8_t want_out; /* EPOLLOUT registered */
    uint8_t hdr[HDR_KEEP];
};

struct reply {
    enum action action; /* A_REPLY with bytes, or A_HOLD ("-"), A_CLOSE, A_RESET */
    const uint8_t *bytes;
    size_t len;
    uint8_t *owned; /* bytes, when read from --replies */
};

struct queue {
    int head, tail;
};

static struct {
    enum mode mode;
    struct reply replies[NPROBES];
    unsigned delay_ms, drip_ms;
    uint64_t garbage_len;
    int backlog;
    long max_conns;
    int stats;
    const char *port_file;

    int ep, sfd;
    int lfd[MAX_LISTEN];
    int nlisten;
    int paused; /* listeners removed from epoll (EMFILE or --max-conns) */
    struct conn *conns;
    int nconns; /* table size */
    struct queue q[Q_COUNT];
    uint8_t garbage[GARBAGE_CHUNK];

    /* counters */
    unsigned long accepted, hellos, unrecognised, answered, closed, resets, peer_closed;
    unsigned long by_probe[NPROBES];
    long open, peak_open;
} g;

static const uint8_t http_reply[] = "HTTP/1.1 400 Bad Request\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 12\r\n"
                                    "Connection: close\r\n"
                                    "\r\n"
                                    "Bad Request\n";
static const uint8_t alert_reply[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};

/*
 * Without --replies every probe gets one small TLS 1.2 ServerHello: cipher c02f, version
 * 0303, no session id, extensions renegotiation_info (ff01) and extended_master_secret (0017).
 */
static const uint8_t
    default_reply[] =
        {
            0x16, 0x03, 0x03, 0x00, 0x35,                   /* record, 53 bytes */
            0x02, 0x00, 0x00, 0x31,                         /* ServerHello, 49 bytes */
            0x03, 0x03,                                     /* server_version */
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, /* server random */
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x00, /* session id length */
            0xc0, 0x2f,                                           /* cipher suite */
            0x00,                                                 /* compression */
            0x00, 0x09,                                           /* extensions length */
            0xff, 0x01, 0x00, 0x01, 0x00,                         /* renegotiation_info */
            0x00, 0x17, 0x00, 0x00,                               /* extended_master_secret */
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fprintf(stderr, "responder: ");
    (void)vfprintf(stderr, fmt, ap);
    (void)fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- FIFO queues (sorted because every entry of a queue gets the same delay) ---- */

static void q_push(int qi, int fd, uint64_t due)
{
    struct conn *c = &g.conns[fd];
    struct queue *q = &g.q[qi];
    c->queue = (uint8_t)qi;
    c->due = due;
    c->next = -1;
    c->prev = q->tail;
    if (q->tail >= 0)
        g.conns[q->tail].next = fd;
    else
        q->head = fd;
    q->tail = fd;
}

static void q_remove(int fd)
{
    struct conn *c = &g.conns[fd];
    struct queue *q = &g.q[c->queue];
    if (c->queue == Q_NONE)
        return;
    if (c->prev >= 0)
        g.conns[c->prev].next = c->next;
    else
        q->head = c->next;
    if (c->next >= 0)
        g.conns[c->next].prev = c->prev;
    else
        q->tail = c->prev;
    c->queue = Q_NONE;
    c->prev = c->next = -1;
}

/* ---- listeners ---- */

static void listeners_set(int on)
{
    for (int i = 0; i < g.nlisten; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG | (uint64_t)i};
        if (epoll_ctl(g.ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, g.lfd[i], &ev) != 0)
            die("epoll_ctl(listener): %s", strerror(errno));
    }
    g.paused = !on;
}

/* ---- connection teardown ---- */

static void conn_release(int fd)
{
    struct conn *c = &g.conns[fd];
    q_remove(fd);
    c->state = S_FREE;
    g.open--;
    if (g.paused && (g.max_conns <= 0 || g.open < g.max_conns))
        listeners_set(1);
}

/* Orderly end after the reply: FIN, then close (the peer closes too). */
static void conn_finish(int fd)
{
    shutdown(fd, SHUT_WR);
    close(fd);
    g.closed++;
    conn_release(fd);
}

static void conn_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    g.resets++;
    conn_release(fd);
}

static void conn_drop(int fd)
{
    close(fd);
    conn_release(fd);
}

/* ---- sending ---- */

static void want_out(int fd, int on)
{
    struct conn *c = &g.conns[fd];
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.u64 = (uint64_t)fd};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        die("epoll_ctl(mod): %s", strerror(errno));
    c->want_out = (uint8_t)on;
}

/* Send what the socket takes; finish when everything is out. */
static void conn_send(int fd)
{
    struct conn *c = &g.conns[fd];
    while (c->out_off < c->out_len) {
        const uint8_t *p;
        size_t n;
        if (c->action == A_GARBAGE) {
            size_t at = (size_t)(c->out_off % GARBAGE_CHUNK);
            p = g.garbage + at;
            n = GARBAGE_CHUNK - at;
        } else {
            p = c->out + c->out_off;
            n = (size_t)(c->out_len - c->out_off);
        }
        if (n > c->out_len - c->out_off)
            n = (size_t)(c->out_len - c->out_off);
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_out(fd, 1);
                return;
            }
            if (errno == EINTR)
                continue;
            g.peer_closed++;
            conn_drop(fd);
            return;
        }
        c->out_off += (uint64_t)w;
    }
    g.answered++;
    conn_finish(fd);
}

/* One drip tick: one byte, then the next tick or the end. */
static void conn_drip(int fd, uint64_t now)
{
    struct conn *c = &g.conns[fd];
    ssize_t w = send(fd, c->out + c->out_off, 1, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        g.peer_closed++;
        conn_drop(fd);
        return;
    }
    if (w == 1)
        c->out_off++;
    if (c->out_off >= c->out_len) {
        g.answered++;
        conn_finish(fd);
        return;
    }
    q_push(Q_DRIP, fd, now + g.drip_ms);
}

/* Carry out the action decided for the connection's ClientHello. */
static void conn_act(int fd, uint64_t now)
{
    struct conn *c = &g.conns[fd];
    switch ((enum action)c->action) {
    case A_REPLY:
    case A_GARBAGE:
        c->state = S_SEND;
        conn_send(fd);
        break;
    case A_DRIP:
        c->state = S_DRIP;
        if (c->out_len == 0)
            conn_finish(fd);
        else
            conn_drip(fd, now);
        break;
    case A_HOLD:
        c->state = S_HOLD;
        break;
    case A_CLOSE:
        conn_finish(fd);
        break;
    case A_RESET:
        conn_reset(fd);
        break;
    }
}

/* ---- the ClientHello ---- */

/*
 * Which probe (0..9) a ClientHello is, or -1. The record version tells TLS 1.1
 * (0302, probe 6), TLS 1.2 (0303, probes 1-5) and TLS 1.3 (0301, probes 7-10) apart; the
 * cipher-suites length (offset 76; the session id is always 32 bytes) tells the cipher lists
 * apart, and the first suite tells FORWARD (0016) from REVERSE (0005).
 */
static int classify(const uint8_t *h, size_t n)
{
    if (n < HDR_KEEP || h[0] != 0x16 || h[1] != 0x03 || h[5] != 0x01 || h[43] != 0x20)
        return -1;
    unsigned cs = (unsigned)h[76] << 8 | h[77];
    unsigned first = (unsigned)h[78] << 8 | h[79];
    switch (h[2]) {
    case 0x02:
        return cs == 138 && first == 0x0016 ? 5 : -1;
    case 0x03:
        switch (cs) {
        case 138:
            return first == 0x0016 ? 0 : first == 0x0005 ? 1 : -1;
        case 70:
            return 2;
        case 68:
            return 3;
        case 140:
            return 4;
        }
        return -1;
    case 0x01:
        switch (cs) {
        case 138:
            return first == 0x0016 ? 6 : first == 0x0005 ? 7 : -1;
        case 128:
            return 8;
        case 140:
            return 9;
        }
        return -1;
    }
    return -1;
}

static void hello_complete(int fd, uint64_t now)
{
    struct conn *c = &g.conns[fd];
    int probe = classify(c->hdr, c->got < HDR_KEEP ? c->got : HDR_KEEP);
    g.hellos++;
    if (probe >= 0)
        g.by_probe[probe]++;
    else
        g.unrecognised++;

    const struct reply *r = probe >= 0 ? &g.replies[probe] : NULL;
    c->out = NULL;
    c->out_len = c->out_off = 0;
    switch (g.mode) {
    case M_REPLAY:
    case M_DRIP:
        if (r == NULL) {
            c->action = A_CLOSE;
        } else if (r->action != A_REPLY) {
            c->action = (uint8_t)r->action;
        } else {
            c->action = g.mode == M_DRIP ? A_DRIP : A_REPLY;
            c->out = r->bytes;
            c->out_len = r->len;
        }
        break;
    case M_SILENT:
        c->action = A_HOLD;
        break;
    case M_RESET_ACCEPT: /* not reached: reset at accept */
    case M_RESET_HELLO:
        c->action = A_RESET;
        break;
    case M_GARBAGE:
        c->action = A_GARBAGE;
        c->out_len = g.garbage_len;
        break;
    case M_HTTP:
        c->action = A_REPLY;
        c->out = http_reply;
        c->out_len = sizeof(http_reply) - 1;
        break;
    case M_ALERT:
        c->action = A_REPLY;
        c->out = alert_reply;
        c->out_len = sizeof(alert_reply);
        break;
    case M_CLOSE:
        c->action = A_CLOSE;
        break;
    }
    if (c->action == A_HOLD) {
        c->state = S_HOLD;
    } else if (g.delay_ms > 0) {
        c->state = S_WAIT;
        q_push(Q_DELAY, fd, now + g.delay_ms);
    } else {
        conn_act(fd, now);
    }
}

/* Readable: collect the ClientHello, or after it drain and watch for the peer's close. */
static void conn_readable(int fd, uint64_t now)
{
    static uint8_t scratch[65536];
    struct conn *c = &g.conns[fd];
    for (;;) {
        size_t want = sizeof(scratch);
        if (c->state == S_HELLO && c->need > 0 && c->need - c->got < want)
            want = c->need - c->got;
        ssize_t n = recv(fd, scratch, want, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            g.peer_closed++;
            conn_drop(fd);
            return;
        }
        if (n == 0) {
            g.peer_closed++;
            conn_drop(fd);
            return;
        }
        if (c->state != S_HELLO)
            continue; /* anything after the ClientHello is read and ignored */
        if (c->got < HDR_KEEP) {
            size_t k = HDR_KEEP - c->got < (size_t)n ? HDR_KEEP - c->got : (size_t)n;
            memcpy(c->hdr + c->got, scratch, k);
        }
        c->got += (uint32_t)n;
        if (c->need == 0 && c->got >= 5) {
            if (c->hdr[0] != 0x16)
                c->need = c->got; /* not TLS: what arrived is all there is to read */
            else
                c->need = 5u + ((uint32_t)c->hdr[3] << 8 | c->hdr[4]);
            if (c->need > HELLO_MAX)
                c->need = c->got;
        }
        if (c->need > 0 && c->got >= c->need) {
            hello_complete(fd, now);
            return; /* the connection may be gone; level-triggered epoll reports the rest */
        }
    }
}

static void on_accept(int li)
{
    for (;;) {
        if (g.max_conns > 0 && g.open >= g.max_conns) {
            listeners_set(0);
            return;
        }
        int fd = accept4(g.lfd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (g.open > 0)
                    listeners_set(0); /* resumed when a connection closes */
                return;
            }
            return; /* EAGAIN */
        }
        g.accepted++;
        if (fd >= g.nconns) {
            close(fd);
            continue;
        }
        g.open++;
        if (g.open > g.peak_open)
            g.peak_open = g.open;
        struct conn *c = &g.conns[fd];
        memset(c, 0, offsetof(struct conn, hdr));
        c->prev = c->next = -1;
        c->state = S_HELLO;
        if (g.mode == M_RESET_ACCEPT) {
            conn_reset(fd);
            continue;
        }
        if (g.mode == M_DRIP) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
        if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl(add): %s", strerror(errno));
    }
}

/* ---- timers ---- */

static int next_timeout(uint64_t now)
{
    uint64_t due = UINT64_MAX;
    for (int qi = Q_DELAY; qi < Q_COUNT; qi++)
        if (g.q[qi].head >= 0 && g.conns[g.q[qi].head].due < due)
            due = g.conns[g.q[qi].head].due;
    if (due == UINT64_MAX)
        return -1;
    return due <= now ? 0 : (int)(due - now);
}

static void run_timers(uint64_t now)
{
    int fd;
    while ((fd = g.q[Q_DELAY].head) >= 0 && g.conns[fd].due <= now) {
        q_remove(fd);
        conn_act(fd, now);
    }
    /* Drip ticks re-queue themselves at now + drip_ms, past this pass's horizon. */
    while ((fd = g.q[Q_DRIP].head) >= 0 && g.conns[fd].due <= now) {
        q_remove(fd);
        conn_drip(fd, now);
    }
}

/* ---- setup ---- */

static void print_stats(void)
{
    (void)fprintf(
        stderr,
        "{\"accepted\":%lu,\"hellos\":%lu,\"unrecognised\":%lu,\"answered\":%lu,"
        "\"closed\":%lu,\"resets\":%lu,\"peer_closed\":%lu,\"open\":%ld,\"peak_open\":%ld,"
        "\"by_probe\":[",
        g.accepted, g.hellos, g.unrecognised, g.answered, g.closed, g.resets, g.peer_closed, g.open,
        g.peak_open);
    for (int i = 0; i < NPROBES; i++)
        (void)fprintf(stderr, "%s%lu", i ? "," : "", g.by_probe[i]);
    (void)fprintf(stderr, "]}\n");
    (void)fflush(stderr);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void load_replies(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int i = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = '\0';
        if (i == NPROBES)
            die("%s: more than 10 lines", path);
        struct reply *r = &g.replies[i++];
        if (strcmp(line, "-") == 0) {
            r->action = A_HOLD;
        } else if (strcmp(line, "close") == 0 || len == 0) {
            r->action = A_CLOSE;
        } else if (strcmp(line, "reset") == 0) {
            r->action = A_RESET;
        } else {
            r->action = A_REPLY;
            uint8_t *buf = malloc((size_t)len / 2 + 1);
            if (buf == NULL)
                die("%s", "out of memory");
            r->bytes = r->owned = buf;
            size_t n = 0;
            int hi = -1;
            for (ssize_t k = 0; k < len; k++) {
                if (line[k] == ' ' || line[k] == ':')
                    continue;
                int v = hexval((unsigned char)line[k]);
                if (v < 0)
                    die("bad hex in replies file %s", path);
                if (hi < 0) {
                    hi = v;
                } else {
                    buf[n++] = (uint8_t)(hi << 4 | v);
                    hi = -1;
                }
            }
            if (hi >= 0)
                die("odd number of hex digits in %s", path);
            r->len = n;
        }
    }
    free(line);
    (void)fclose(f);
    if (i != NPROBES)
        die("%s: need exactly 10 lines", path);
}

static int open_listener(const char *spec)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
        die("bad --listen '%s' (want ADDR:PORT)", spec);
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
        die("bad port in --listen '%s'", spec);
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }

    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        slen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        slen = sizeof(*s6);
    } else {
        die("bad address in --listen '%s'", spec);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0)
        die("bind: %s", strerror(errno));
    if (listen(fd, g.backlog) != 0)
        die("listen: %s", strerror(errno));
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
        die("getsockname: %s", strerror(errno));
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void write_port_file(void)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", g.port_file) >= (int)sizeof(tmp))
        die("%s", "--port-file path too long");
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        die("cannot write %s", tmp);
    for (int i = 0; i < g.nlisten; i++)
        (void)fprintf(f, "%d\n", bound_port(g.lfd[i]));
    if (fclose(f) != 0 || rename(tmp, g.port_file) != 0)
        die("cannot write %s", g.port_file);
}

static void usage(FILE *out)
{
    (void)fprintf(
        out,
        "usage: responder [OPTIONS]\n"
        "  --listen ADDR:PORT   listen here (repeatable; [::1]:0; port 0 = any free port)\n"
        "  --port-file FILE     write the bound ports, one per line, once ready\n"
        "  --replies FILE       10 lines, the reply to probe i as hex, or - (never answer),\n"
        "                       close (close silently), reset (RST)\n"
        "  --mode MODE          replay (default), silent, drip, reset-accept, reset-hello,\n"
        "                       garbage, http, alert, close\n"
        "  --delay-ms N         hold every reply N ms after the ClientHello\n"
        "  --drip-ms N          drip interval (default 100)\n"
        "  --garbage-mib N      megabytes sent in garbage mode (default 4)\n"
        "  --backlog N          listen backlog (default 65535)\n"
        "  --max-conns N        connections open at once (default: unbounded)\n"
        "  --stats              print counters as JSON on stderr at exit (SIGUSR1: anytime)\n");
}

static long num_arg(const char *name, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
        die("bad value for %s", name);
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"port-file", required_argument, NULL, 'P'},
        {"replies", required_argument, NULL, 'r'},
        {"mode", required_argument, NULL, 'm'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"drip-ms", required_argument, NULL, 'D'},
        {"garbage-mib", required_argument, NULL, 'G'},
        {"backlog", required_argument, NULL, 'b'},
        {"max-conns", required_argument, NULL, 'M'},
        {"stats", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_specs[MAX_LISTEN];
    int nspecs = 0;
    const char *replies_path = NULL;

    g.backlog = 65535;
    g.drip_ms = 100;
    g.garbage_len = 4u << 20;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (nspecs == MAX_LISTEN)
                die("%s", "too many --listen");
            listen_specs[nspecs++] = optarg;
            break;
        case 'P':
            g.port_file = optarg;
            break;
        case 'r':
            replies_path = optarg;
            break;
        case 'm': {
            size_t k;
            for (k = 0; k < sizeof(mode_names) / sizeof(mode_names[0]); k++)
                if (strcmp(optarg, mode_names[k]) == 0)
                    break;
            if (k == sizeof(mode_names) / sizeof(mode_names[0]))
                die("unknown --mode '%s'", optarg);
            g.mode = (enum mode)k;
            break;
        }
        case 'd':
            g.delay_ms = (unsigned)num_arg("--delay-ms", optarg, 0, 86400000);
            break;
        case 'D':
            g.drip_ms = (unsigned)num_arg("--drip-ms", optarg, 1, 86400000);
            break;
        case 'G':
            g.garbage_len = (uint64_t)num_arg("--garbage-mib", optarg, 0, 1 << 20) << 20;
            break;
        case 'b':
            g.backlog = (int)num_arg("--backlog", optarg, 1, 1 << 30);
            break;
        case 'M':
            g.max_conns = num_arg("--max-conns", optarg, 1, 1L << 30);
            break;
        case 's':
            g.stats = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    if (replies_path != NULL) {
        load_replies(replies_path);
    } else {
        for (int i = 0; i < NPROBES; i++)
            g.replies[i] = (struct reply){A_REPLY, default_reply, sizeof(default_reply), NULL};
    }

    /* Random non-TLS bytes: the first byte is neither a handshake (16) nor an alert (15). */
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < GARBAGE_CHUNK; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g.garbage[i] = (uint8_t)(x >> 24);
    }
    g.garbage[0] = 'G';

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    g.nconns =
        rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? 1 << 20 : (int)rl.rlim_cur;
    g.conns = calloc((size_t)g.nconns, sizeof(*g.conns));
    if (g.conns == NULL)
        die("%s", "out of memory");
    for (int qi = 0; qi < Q_COUNT; qi++)
        g.q[qi].head = g.q[qi].tail = -1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    g.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.sfd < 0 || g.ep < 0)
        die("setup: %s", strerror(errno));
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = SIGNAL_TAG};
    epoll_ctl(g.ep, EPOLL_CTL_ADD, g.sfd, &sev);

    if (nspecs == 0)
        listen_specs[nspecs++] = "127.0.0.1:0";
    for (int i = 0; i < nspecs; i++)
        g.lfd[g.nlisten++] = open_listener(listen_specs[i]);
    listeners_set(1);
    if (g.port_file != NULL)
        write_port_file();

    static struct epoll_event evs[1024];
    int running = 1;
    while (running) {
        uint64_t now = now_ms();
        int n = epoll_wait(g.ep, evs, 1024, next_timeout(now));
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        now = now_ms();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == SIGNAL_TAG) {
                struct signalfd_siginfo si;
                while (read(g.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGUSR1)
                        print_stats();
                    else
                        running = 0;
                }
                continue;
            }
            if (tag & LISTEN_TAG) {
                if (!g.paused)
                    on_accept((int)(tag & 0xffffffffu));
                continue;
            }
            int fd = (int)tag;
            struct conn *c = &g.conns[fd];
            if (c->state == S_FREE)
                continue; /* closed earlier in this batch */
            if ((evs[i].events & EPOLLOUT) && c->state == S_SEND) {
                conn_send(fd);
                if (c->state == S_FREE)
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_readable(fd, now);
        }
        run_timers(now_ms());
    }

    for (int fd = 0; fd < g.nconns; fd++)
        if (g.conns[fd].state != S_FREE)
            conn_drop(fd);
    for (int i = 0; i < g.nlisten; i++)
        close(g.lfd[i]);
    if (g.stats)
        print_stats();
    close(g.ep);
    close(g.sfd);
    for (int i = 0; i < NPROBES; i++)
        free(g.replies[i].owned);
    free(g.conns);
    return 0;
}
