/*
 * ceiling.c - the minimal epoll client: the scan-rate ceiling.
 *
 * For every target it does what a JARM scan does on the wire, and nothing else: ten times a
 * non-blocking connect, one send of a fixed ClientHello (probe i's bytes, built once with
 * libjarm), one read of the reply (the reference's single recv; --read eof: read until the
 * server closes), close. It keeps C connections in flight and prints
 * one JSON line: targets/s, connections/s, CPU time, peak RSS. jarmsweep's scan rate is
 * reported as a fraction of this figure, measured in the same run against the same
 * responder (bench/loopback.py).
 *
 *   ceiling (--targets-file FILE | --targets N [--base 127.1.0.1] --port P)
 *           [-c C] [--fin] [--read first|eof] [--stall-s S]
 *
 * Targets are IPv4 or [IPv6] with a port, one per line. --targets N generates N consecutive
 * addresses from --base, skipping those whose last octet is 0 or 255. Connections are closed
 * with an RST (SO_LINGER 0), as jarmsweep does and as the cheapest way for the kernel (no
 * FIN exchange, no TIME_WAIT); --fin closes them plainly instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jarm.h"

enum { S_IDLE, S_CONNECTING, S_READING };

struct slot {
    int fd;
    int state;
    size_t work; /* target * JARM_PROBES + probe */
};

static struct {
    struct sockaddr_storage *targets;
    socklen_t *tlen;
    size_t ntargets;
    uint8_t hello[JARM_PROBES][JARM_HELLO_MAX];
    size_t hello_len[JARM_PROBES];
    struct slot *slots;
    size_t nslots;
    size_t next_work, total_work;
    size_t done_conns;
    size_t errors, resets, bytes_in;
    int rst;      /* close with RST (default) */
    int read_eof; /* read until EOF; default: one read of data, like the reference's recv */
    int ep;
} g;

static void fail(const char *what)
{
    (void)fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_target(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '\n' && *end != '\r') || port < 1 ||
        port > 65535)
        return -1;
    memset(ss, 0, sizeof(*ss));
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof(*s4);
    return 0;
}

static void add_target(const struct sockaddr_storage *ss, socklen_t len, size_t *cap)
{
    if (g.ntargets == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        g.targets = realloc(g.targets, *cap * sizeof(*g.targets));
        g.tlen = realloc(g.tlen, *cap * sizeof(*g.tlen));
        if (g.targets == NULL || g.tlen == NULL)
            fail("realloc");
    }
    g.targets[g.ntargets] = *ss;
    g.tlen[g.ntargets++] = len;
}

static void load_targets(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail(path);
    char line[256];
    size_t cap = 0, lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\r')
            continue;
        struct sockaddr_storage ss;
        socklen_t len;
        if (parse_target(line, &ss, &len) != 0) {
            (void)fprintf(stderr, "ceiling: %s:%zu: bad target\n", path, lineno);
            exit(2);
        }
        add_target(&ss, len, &cap);
    }
    (void)fclose(f);
}

static void gen_targets(size_t n, const char *base, int port)
{
    struct in_addr a;
    if (inet_pton(AF_INET, base, &a) != 1) {
        (void)fprintf(stderr, "ceiling: bad --base\n");
        exit(2);
    }
    uint32_t ip = ntohl(a.s_addr);
    size_t cap = 0;
    while (g.ntargets < n) {
        if ((ip & 0xff) != 0 && (ip & 0xff) != 255) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            s4->sin_addr.s_addr = htonl(ip);
            add_target(&ss, sizeof(*s4), &cap);
        }
        ip++;
    }
}

static void slot_start(size_t si);

static void slot_done(size_t si, int ok)
{
    struct slot *s = &g.slots[si];
    if (g.rst) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(s->fd);
    s->fd = -1;
    s->state = S_IDLE;
    if (ok)
        g.done_conns++;
    else
        g.errors++;
    slot_start(si);
}

/* Take the next (target, probe) and connect; a connect that fails at once is an error. */
static void slot_start(size_t si)
{
    struct slot *s = &g.slots[si];
    while (g.next_work < g.total_work) {
        size_t w = g.next_work++;
        const struct sockaddr_storage *ss = &g.targets[w / JARM_PROBES];
        int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("socket");
        if (connect(fd, (const struct sockaddr *)ss, g.tlen[w / JARM_PROBES]) != 0 &&
            errno != EINPROGRESS) {
            close(fd);
            g.errors++;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u64 = si};
        if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            fail("epoll_ctl");
        s->fd = fd;
        s->work = w;
        s->state = S_CONNECTING;
        return;
    }
}

static void on_event(size_t si, uint32_t events)
{
    static uint8_t buf[JARM_RX_MAX];
    struct slot *s = &g.slots[si];
    if (s->state == S_CONNECTING) {
        if (events & EPOLLERR) {
            slot_done(si, 0);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        size_t p = s->work % JARM_PROBES;
        ssize_t w = send(s->fd, g.hello[p], g.hello_len[p], MSG_NOSIGNAL);
        if (w != (ssize_t)g.hello_len[p]) {
            slot_done(si, 0);
            return;
        }
        s->state = S_READING;
    }
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            g.bytes_in += (size_t)n;
            if (!g.read_eof) {
                slot_done(si, 1);
                return;
            }
            continue;
        }
        if (n == 0) {
            slot_done(si, 1);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR)
            continue;
        g.resets++; /* the reply ended with an RST: still a finished exchange */
        slot_done(si, 1);
        return;
    }
}

/* VmHWM of this process image; ru_maxrss would include the parent's (it survives exec). */
static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    (void)fclose(f);
    return v;
}

static void zero_rand(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0x42, len);
}

__attribute__((noreturn)) static void usage(void);

static long num_arg(const char *name, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        (void)fprintf(stderr, "ceiling: bad value for %s\n", name);
        usage();
    }
    return v;
}

static void usage(void)
{
    (void)fprintf(stderr, "usage: ceiling (--targets-file FILE | --targets N [--base IP] --port P) "
                          "[-c C] [--fin] [--read first|eof] [--stall-s S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"targets-file", required_argument, NULL, 'f'},
        {"targets", required_argument, NULL, 'n'},
        {"base", required_argument, NULL, 'b'},
        {"port", required_argument, NULL, 'p'},
        {"concurrency", required_argument, NULL, 'c'},
        {"fin", no_argument, NULL, 'F'},
        {"read", required_argument, NULL, 'R'},
        {"stall-s", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *base = "127.1.0.1";
    long ntargets = 0, port = 0, conc = 1000, stall = 30;
    g.rst = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            file = optarg;
            break;
        case 'n':
            ntargets = num_arg("--targets", optarg);
            break;
        case 'b':
            base = optarg;
            break;
        case 'p':
            port = num_arg("--port", optarg);
            break;
        case 'c':
            conc = num_arg("-c", optarg);
            break;
        case 'F':
            g.rst = 0;
            break;
        case 'R':
            if (strcmp(optarg, "eof") == 0)
                g.read_eof = 1;
            else if (strcmp(optarg, "first") != 0)
                usage();
            break;
        case 's':
            stall = num_arg("--stall-s", optarg);
            break;
        default:
            usage();
        }
    }
    if (conc < 1 || stall < 1 || (file == NULL && (ntargets < 1 || port < 1 || port > 65535)))
        usage();

    if (file != NULL)
        load_targets(file);
    else
        gen_targets((size_t)ntargets, base, (int)port);
    if (g.ntargets == 0)
        usage();

    /* The responder only looks at the record header, the cipher list and its first entry. */
    for (unsigned p = 0; p < JARM_PROBES; p++)
        if (jarm_probe_build(p, "127.0.0.1", 9, zero_rand, NULL, g.hello[p], JARM_HELLO_MAX,
                             &g.hello_len[p]) != 0) {
            (void)fprintf(stderr, "ceiling: jarm_probe_build failed\n");
            return 1;
        }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t)conc + 16 > rl.rlim_cur) {
            (void)fprintf(stderr, "ceiling: concurrency %ld exceeds the open-files limit %lu\n",
                          conc, (unsigned long)rl.rlim_cur);
            return 2;
        }
    }

    g.total_work = g.ntargets * JARM_PROBES;
    g.nslots = (size_t)conc < g.total_work ? (size_t)conc : g.total_work;
    g.slots = calloc(g.nslots, sizeof(*g.slots));
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.slots == NULL || g.ep < 0)
        fail("setup");

    double t0 = now_s(), last_progress = t0;
    for (size_t i = 0; i < g.nslots; i++)
        slot_start(i);
    static struct epoll_event evs[1024];
    size_t finished = 0;
    while ((finished = g.done_conns + g.errors) < g.total_work) {
        int n = epoll_wait(g.ep, evs, 1024, 1000);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait");
        for (int i = 0; i < n; i++)
            on_event((size_t)evs[i].data.u64, evs[i].events);
        double t = now_s();
        if (g.done_conns + g.errors != finished)
            last_progress = t;
        else if (t - last_progress > (double)stall) {
            (void)fprintf(stderr, "ceiling: no progress for %ld s (%zu of %zu connections done)\n",
                          stall, finished, g.total_work);
            return 1;
        }
    }
    double wall = now_s() - t0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"tool\":\"ceiling\",\"close\":\"%s\",\"read\":\"%s\",\"targets\":%zu,\"connections\":"
           "%zu,\"errors\":%zu,"
           "\"resets\":%zu,\"concurrency\":%zu,\"wall_s\":%.3f,\"targets_per_s\":%.1f,"
           "\"conns_per_s\":%.1f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
           "\"cpu_us_per_target\":%.1f,\"peak_rss_kib\":%ld,\"bytes_in\":%zu}\n",
           g.rst ? "rst" : "fin", g.read_eof ? "eof" : "first", g.ntargets, g.done_conns, g.errors,
           g.resets, g.nslots, wall, (double)g.ntargets / wall, (double)g.done_conns / wall, user,
           sys, (user + sys) * 1e6 / (double)g.ntargets, peak_rss_kib(), g.bytes_in);
    free(g.slots);
    free(g.targets);
    free(g.tlen);
    close(g.ep);
    return g.errors == 0 ? 0 : 1;
}
