/*
 * test_resolver.c - the c-ares resolver on libuv against real DNS servers on loopback.
 *
 * Usage: test_resolver [DNSMASQ]   (default $JARM_DNSMASQ, else /usr/sbin/dnsmasq; TAP output)
 *
 * Servers, all on 127.0.0.1 and started by this program (nothing else is ever queried):
 *   - dnsmasq on a free port with --no-resolv --no-hosts and a generated hosts file:
 *     one.jarmsweep.test (one A), multi (three A), v6 (only AAAA ::1), dual (A and AAAA),
 *     big (40 A: the UDP answer is truncated, so c-ares retries over TCP), and 100,000
 *     nNNNNNN.bulk.jarmsweep.test names. --local=/jarmsweep.test/ makes unknown names of
 *     the test domain NXDOMAIN; names outside it are REFUSED (no upstream).
 *   - a silent server: a UDP socket that is never read (timeouts, cancellation);
 *   - a SERVFAIL stub on the test's own loop, answering every query with rcode 2.
 * Every test ends with uv_loop_close() == 0 (MAKE_VALGRIND_HAPPY). dnsmasq is stopped by its
 * PID, also by the watchdog when a test hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "jarm.h"
#include "resolver.h"
#include "helpers/dnsprobe.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
/* From <sanitizer/allocator_interface.h>, which gcc 12 on Debian does not install; both
 * compilers' ASan runtimes export it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#define BULK_NAMES  100000
#define BIG_RECORDS 40
/* Seconds before the watchdog fails the run (a normal run, ASan included, takes a few);
 * $JARM_TEST_WATCHDOG overrides it, e.g. under valgrind. */
#define WATCHDOG_SECS 90

static pid_t dns_pid = -1;
static int dns_port;
static char tmpdir[256];
static char hosts_path[300], log_path[300], pid_path[300];
static char dns_servers[64];
static const char *volatile current_test = "setup";

/* ----------------------------------------------------------------------------------------
 * Helpers
 */

static size_t live_heap(void)
{
#ifdef TEST_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    (void)fclose(f);
    return kb;
}

static void bulk_name(unsigned i, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "n%06u.bulk.jarmsweep.test", i);
}

/* The address of bulk name i in the hosts file, as text. */
static void bulk_addr(unsigned i, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "127.%u.%u.%u", 16 + (i >> 16), (i >> 8) & 255, i & 255);
}

static const char *ss_str(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, ss, sizeof(sin));
        inet_ntop(AF_INET, &sin.sin_addr, buf, (socklen_t)cap);
    } else if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, ss, sizeof(sin6));
        inet_ntop(AF_INET6, &sin6.sin6_addr, buf, (socklen_t)cap);
    } else {
        (void)snprintf(buf, cap, "family %d", (int)ss->ss_family);
    }
    return buf;
}

static unsigned ss_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, ss, sizeof(sin));
        return ntohs(sin.sin_port);
    }
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, ss, sizeof(sin6));
        return ntohs(sin6.sin6_port);
    }
    return 99999;
}

static void stop_dnsmasq(void)
{
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
        dns_pid = -1;
    }
}

/* SIGALRM (the watchdog), SIGTERM (meson's timeout), SIGINT. Async-signal-safe: stop
 * dnsmasq, remove the files, name the test that was running. */
static void on_watchdog(int sig)
{
    static const char alarm_msg[] = "Bail out! watchdog: hung in ";
    static const char term_msg[] = "Bail out! terminated by a signal in ";
    const char *t = current_test;
    if (dns_pid > 0)
        kill(dns_pid, SIGKILL);
    unlink(hosts_path);
    unlink(log_path);
    unlink(pid_path);
    rmdir(tmpdir);
    if (sig == SIGALRM)
        (void)!write(1, alarm_msg, sizeof(alarm_msg) - 1);
    else
        (void)!write(1, term_msg, sizeof(term_msg) - 1);
    (void)!write(1, t, strlen(t));
    (void)!write(1, "\n", 1);
    _exit(1);
}

/* A bound UDP socket on 127.0.0.1 that is never read; its port in *port. */
static int silent_server(int *port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

static int write_hosts(void)
{
    FILE *f = fopen(hosts_path, "w");
    char name[64], addr[32];
    unsigned i;

    if (f == NULL)
        return -1;
    (void)fprintf(f, "127.0.0.2 one.jarmsweep.test\n");
    (void)fprintf(f, "127.0.0.3 multi.jarmsweep.test\n127.0.0.4 multi.jarmsweep.test\n");
    (void)fprintf(f, "127.0.0.5 multi.jarmsweep.test\n");
    (void)fprintf(f, "::1 v6.jarmsweep.test\n");
    (void)fprintf(f, "127.0.0.6 dual.jarmsweep.test\n::1 dual.jarmsweep.test\n");
    for (i = 1; i <= BIG_RECORDS; i++)
        (void)fprintf(f, "127.1.0.%u big.jarmsweep.test\n", i);
    for (i = 0; i < BULK_NAMES; i++) {
        bulk_name(i, name, sizeof(name));
        bulk_addr(i, addr, sizeof(addr));
        (void)fprintf(f, "%s %s\n", addr, name);
    }
    if (fclose(f) != 0)
        return -1;
    return chmod(hosts_path, 0644);
}

/* Start dnsmasq on a free loopback port; 0 or -1. */
static int start_dnsmasq(const char *prog)
{
    int attempt, i;

    for (attempt = 0; attempt < 5; attempt++) {
        char port_arg[32], hosts_arg[320], pid_arg[320];
        int port = dnsprobe_free_port(), status;
        pid_t pid;

        if (port == 0)
            continue;
        (void)snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
        (void)snprintf(hosts_arg, sizeof(hosts_arg), "--addn-hosts=%s", hosts_path);
        (void)snprintf(pid_arg, sizeof(pid_arg), "--pid-file=%s", pid_path);
        (void)fflush(stdout);
        pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            execl(prog, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                  "--no-hosts", hosts_arg, port_arg, "--listen-address=127.0.0.1",
                  "--bind-interfaces", "--local=/jarmsweep.test/", pid_arg, "--log-facility=-",
                  (char *)NULL);
            _exit(127);
        }
        dns_pid = pid;
        for (i = 0; i < 200; i++) { /* up to about 10 s (50 ms receive timeout) */
            if (waitpid(pid, &status, WNOHANG) == pid) {
                dns_pid = -1;
                break;
            }
            if (dnsprobe_ready(port, "one.jarmsweep.test")) {
                dns_port = port;
                return 0;
            }
            usleep(10000);
        }
        stop_dnsmasq();
    }
    return -1;
}

static void show_log(void)
{
    FILE *f = fopen(log_path, "r");
    char line[512];

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        note("dnsmasq: %s", line);
    }
    (void)fclose(f);
}

static void cleanup_files(void)
{
    unlink(hosts_path);
    unlink(log_path);
    unlink(pid_path);
    rmdir(tmpdir);
}

/* ----------------------------------------------------------------------------------------
 * Recording results
 */

typedef struct res_s {
    int calls;
    int sync; /* the (last) call came before jarm__resolver_resolve returned */
    int seq;  /* order of the (last) call among all calls */
    jarm__dns_status_t status;
    size_t naddrs;
    struct sockaddr_storage addrs[JARM__DNS_MAX_ADDRS];
} res_t;

static int in_resolve, call_seq;

static void on_res(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                   size_t naddrs)
{
    res_t *x = data;

    x->calls++;
    x->sync = in_resolve;
    x->seq = ++call_seq;
    x->status = status;
    x->naddrs = naddrs;
    if (naddrs > JARM__DNS_MAX_ADDRS)
        naddrs = JARM__DNS_MAX_ADDRS;
    if (naddrs != 0 && addrs != NULL)
        memcpy(x->addrs, addrs, naddrs * sizeof(*addrs));
}

static int resolve(jarm__resolver_t *r, const char *name, res_t *x)
{
    int ret;

    in_resolve = 1;
    ret = jarm__resolver_resolve(r, name, on_res, x);
    in_resolve = 0;
    return ret;
}

/* x reported OK with exactly the one address want (text), port 0. */
static int is_one(const res_t *x, const char *want)
{
    char buf[64];

    return x->calls == 1 && x->status == JARM__DNS_OK && x->naddrs == 1 &&
           strcmp(ss_str(&x->addrs[0], buf, sizeof(buf)), want) == 0 && ss_port(&x->addrs[0]) == 0;
}

static int closed_calls;

static void on_closed(jarm__resolver_t *r)
{
    (void)r;
    closed_calls++;
}

/* Close r, run loop until everything is closed, and report both. */
static void close_and_finish(jarm__resolver_t *r, uv_loop_t *loop, const char *what)
{
    closed_calls = 0;
    jarm__resolver_close(r, on_closed);
    uv_run(loop, UV_RUN_DEFAULT);
    ok(closed_calls == 1, "%s: close_cb ran once (%d)", what, closed_calls);
    ok(uv_loop_close(loop) == 0, "%s: uv_loop_close() == 0", what);
}

static jarm__resolver_opts_t dnsmasq_opts(int family)
{
    jarm__resolver_opts_t o;

    memset(&o, 0, sizeof(o));
    o.servers = dns_servers;
    o.family = family;
    return o;
}

/* ----------------------------------------------------------------------------------------
 * Tests
 */

static void test_status_names(void)
{
    ok(strcmp(jarm__dns_status_name(JARM__DNS_OK), "ok") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_NXDOMAIN), "nxdomain") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_SERVFAIL), "servfail") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_TIMEOUT), "timeout") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_REFUSED), "refused") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_NO_ADDRESS), "no_address") == 0 &&
           strcmp(jarm__dns_status_name(JARM__DNS_ERROR), "error") == 0,
       "status names: ok nxdomain servfail timeout refused no_address error");
}

static void test_init_errors(void)
{
    static const char *bad[] = {
        "",
        "nonsense",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:",
        "[::1",
        "[::1]x",
        "::1]:53",
        "127.0.0.1,,::1",
        "127.0.0.1 ",
        "256.1.1.1",
        "127.0.0.1:53:53",
        "[127.0.0.1]:53",
        ",",
    };
    jarm__resolver_opts_t o;
    jarm__resolver_t r;
    uv_loop_t loop;
    size_t i;
    int ret, all = 1;

    uv_loop_init(&loop);
    memset(&o, 0, sizeof(o));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.servers = bad[i];
        ret = jarm__resolver_init(&r, &loop, &o);
        if (ret != JARM_EINVAL || jarm__resolver_error(&r)[0] == '\0') {
            note("servers \"%s\": init returned %d, error \"%s\"", bad[i], ret,
                 jarm__resolver_error(&r));
            all = 0;
        }
    }
    ok(all, "init: %zu malformed servers strings -> JARM_EINVAL with a message",
       sizeof(bad) / sizeof(bad[0]));
    o.servers = "127.0.0.1:99999";
    jarm__resolver_init(&r, &loop, &o);
    note("message example: %s", jarm__resolver_error(&r));
    o.servers = "127.0.0.1";
    o.family = 5;
    ok(jarm__resolver_init(&r, &loop, &o) == JARM_EINVAL &&
           strstr(jarm__resolver_error(&r), "family") != NULL,
       "init: family 5 -> JARM_EINVAL");
    ok(uv_loop_close(&loop) == 0, "init errors: nothing left on the loop, uv_loop_close() == 0");

    uv_loop_init(&loop);
    o.family = 0;
    o.servers = "127.0.0.1:53,[::1]:5353,::1,192.0.2.1:1";
    ret = jarm__resolver_init(&r, &loop, &o);
    ok(ret == 0 && jarm__resolver_error(&r)[0] == '\0',
       "init: \"127.0.0.1:53,[::1]:5353,::1,192.0.2.1:1\" accepted (%d)", ret);
    if (ret == 0) {
        ok(jarm__resolver_can_submit(&r) && jarm__resolver_outstanding(&r) == 0,
           "idle resolver: can submit, nothing outstanding");
        close_and_finish(&r, &loop, "idle resolver");
    }
}

static void test_basic(void)
{
    enum {
        ONE,
        ONE_CASE,
        MULTI,
        V6,
        DUAL,
        NX,
        REFUSED,
        BIG,
        LIT4,
        LIT6,
        LOCALHOST,
        ONION,
        BAD1,
        BAD2,
        LONG,
        N
    };
    static const char *names[N] = {
        [ONE] = "one.jarmsweep.test",
        [ONE_CASE] = "ONE.JarmSweep.Test.",
        [MULTI] = "multi.jarmsweep.test",
        [V6] = "v6.jarmsweep.test",
        [DUAL] = "dual.jarmsweep.test",
        [NX] = "nx.jarmsweep.test",
        [REFUSED] = "www.example.invalid",
        [BIG] = "big.jarmsweep.test",
        [LIT4] = "192.0.2.7",
        [LIT6] = "2001:db8::7",
        [LOCALHOST] = "localhost",
        [ONION] = "hidden.onion",
        [BAD1] = "bad..name",
        [BAD2] = "bad name.test",
    };
    char longname[300], buf[64];
    res_t res[N], again, again_nx;
    jarm__resolver_opts_t o = dnsmasq_opts(0);
    jarm__resolver_stats_t st;
    jarm__resolver_t r;
    uv_loop_t loop;
    int i, rets = 0, found[3] = {0, 0, 0}, big_ok = 1;
    size_t k;

    memset(longname, 'a', sizeof(longname));
    for (i = 63; i < 260; i += 64)
        longname[i] = '.';
    longname[260] = '\0';
    names[LONG] = longname;
    memset(res, 0, sizeof(res));
    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o) == 0, "basic: init against dnsmasq %s", dns_servers))
        return;
    for (i = 0; i < N; i++)
        rets |= resolve(&r, names[i], &res[i]);
    ok(rets == 0, "basic: every resolve returned 0");
    ok(res[LIT4].calls == 1 && res[LIT4].sync && is_one(&res[LIT4], "192.0.2.7"),
       "IPv4 literal: answered as itself before resolve returned");
    ok(res[LIT6].calls == 1 && res[LIT6].sync && is_one(&res[LIT6], "2001:db8::7"),
       "IPv6 literal: answered as itself before resolve returned");
    ok(res[LOCALHOST].sync && is_one(&res[LOCALHOST], "127.0.0.1"),
       "localhost: 127.0.0.1 without a query, before resolve returned");
    ok(res[ONION].calls == 1 && res[ONION].sync && res[ONION].status == JARM__DNS_NXDOMAIN,
       "hidden.onion: c-ares completes inside ares_getaddrinfo -> nxdomain, synchronously");
    ok(res[BAD1].sync && res[BAD1].calls == 1 && res[BAD1].status == JARM__DNS_ERROR &&
           res[BAD2].sync && res[BAD2].calls == 1 && res[BAD2].status == JARM__DNS_ERROR,
       "\"bad..name\", \"bad name.test\": error, synchronously");
    ok(res[LONG].sync && res[LONG].calls == 1 && res[LONG].status == JARM__DNS_ERROR,
       "a 260-character name: error, synchronously");
    ok(!res[ONE].sync && res[ONE].calls == 0, "one: pending after resolve returned");

    uv_run(&loop, UV_RUN_DEFAULT);
    ok(jarm__resolver_outstanding(&r) == 0, "basic: uv_run returned with nothing outstanding "
                                            "(timer stopped, poll handles closed)");
    ok(is_one(&res[ONE], "127.0.0.2"), "one.jarmsweep.test -> 127.0.0.2 (AF_INET, port 0)");
    ok(is_one(&res[ONE_CASE], "127.0.0.2") && !res[ONE_CASE].sync,
       "ONE.JarmSweep.Test. -> 127.0.0.2, coalesced with one.jarmsweep.test");
    ok(res[ONE_CASE].seq > res[ONE].seq, "coalesced waiters are answered in request order");
    for (k = 0; k < res[MULTI].naddrs && k < JARM__DNS_MAX_ADDRS; k++) {
        ss_str(&res[MULTI].addrs[k], buf, sizeof(buf));
        for (i = 0; i < 3; i++) {
            char want[16];
            (void)snprintf(want, sizeof(want), "127.0.0.%d", 3 + i);
            if (strcmp(buf, want) == 0)
                found[i]++;
        }
    }
    ok(res[MULTI].calls == 1 && res[MULTI].status == JARM__DNS_OK && res[MULTI].naddrs == 3 &&
           found[0] == 1 && found[1] == 1 && found[2] == 1,
       "multi.jarmsweep.test -> 127.0.0.3, .4, .5 (%zu addresses)", res[MULTI].naddrs);
    ok(is_one(&res[V6], "::1"), "v6.jarmsweep.test, family 0: no A, falls back to AAAA -> ::1");
    ok(is_one(&res[DUAL], "127.0.0.6"), "dual.jarmsweep.test, family 0: the A record only");
    ok(res[NX].calls == 1 && res[NX].status == JARM__DNS_NXDOMAIN,
       "nx.jarmsweep.test -> nxdomain (%s)", jarm__dns_status_name(res[NX].status));
    ok(res[REFUSED].calls == 1 && res[REFUSED].status == JARM__DNS_REFUSED,
       "www.example.invalid (outside dnsmasq's domain) -> refused (%s)",
       jarm__dns_status_name(res[REFUSED].status));
    for (k = 0; k < res[BIG].naddrs && k < JARM__DNS_MAX_ADDRS; k++)
        if (strncmp(ss_str(&res[BIG].addrs[k], buf, sizeof(buf)), "127.1.0.", 8) != 0)
            big_ok = 0;
    ok(res[BIG].calls == 1 && res[BIG].status == JARM__DNS_OK &&
           res[BIG].naddrs == JARM__DNS_MAX_ADDRS && big_ok,
       "big.jarmsweep.test (40 A, truncated UDP answer, TCP retry) -> the first %d addresses",
       JARM__DNS_MAX_ADDRS);

    jarm__resolver_stats(&r, &st);
    ok(st.queries == 8 && st.coalesced == 1,
       "basic: 8 queries for 9 DNS names (onion included), 1 coalesced (%llu, %llu)",
       (unsigned long long)st.queries, (unsigned long long)st.coalesced);

    memset(&again, 0, sizeof(again));
    memset(&again_nx, 0, sizeof(again_nx));
    resolve(&r, "one.jarmsweep.test.", &again);
    resolve(&r, "NX.jarmsweep.test", &again_nx);
    jarm__resolver_stats(&r, &st);
    ok(again.sync && is_one(&again, "127.0.0.2") && again_nx.sync &&
           again_nx.status == JARM__DNS_NXDOMAIN && st.cache_hits == 2 && st.queries == 8,
       "cache: a completed name (also nxdomain) is answered at once, without a query");
    close_and_finish(&r, &loop, "basic");
}

static void test_families(void)
{
    jarm__resolver_opts_t o4 = dnsmasq_opts(4), o6 = dnsmasq_opts(6);
    jarm__resolver_t r;
    uv_loop_t loop;
    res_t one4, v64, lit4, one6, v66, dual6, lit6, lh6;

    memset(&one4, 0, sizeof(one4));
    v64 = lit4 = one6 = v66 = dual6 = lit6 = lh6 = one4;
    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o4) == 0, "family 4: init"))
        return;
    resolve(&r, "one.jarmsweep.test", &one4);
    resolve(&r, "v6.jarmsweep.test", &v64);
    resolve(&r, "::1", &lit4);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(is_one(&one4, "127.0.0.2"), "family 4: one -> 127.0.0.2");
    ok(v64.calls == 1 && v64.status == JARM__DNS_NO_ADDRESS,
       "family 4: v6 (AAAA only) -> no_address (%s)", jarm__dns_status_name(v64.status));
    ok(lit4.sync && lit4.status == JARM__DNS_NO_ADDRESS, "family 4: literal ::1 -> no_address");
    close_and_finish(&r, &loop, "family 4");

    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o6) == 0, "family 6: init"))
        return;
    resolve(&r, "one.jarmsweep.test", &one6);
    resolve(&r, "v6.jarmsweep.test", &v66);
    resolve(&r, "dual.jarmsweep.test", &dual6);
    resolve(&r, "127.0.0.1", &lit6);
    resolve(&r, "localhost", &lh6);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(one6.calls == 1 && one6.status == JARM__DNS_NO_ADDRESS,
       "family 6: one (A only) -> no_address (%s)", jarm__dns_status_name(one6.status));
    ok(is_one(&v66, "::1"), "family 6: v6 -> ::1 (AF_INET6, port 0)");
    ok(is_one(&dual6, "::1"), "family 6: dual -> ::1 only");
    ok(lit6.sync && lit6.status == JARM__DNS_NO_ADDRESS,
       "family 6: literal 127.0.0.1 -> no_address");
    ok(lh6.sync && is_one(&lh6, "::1"), "family 6: localhost -> ::1");
    close_and_finish(&r, &loop, "family 6");
}

static void test_timeout(void)
{
    jarm__resolver_opts_t o;
    jarm__resolver_t r;
    uv_loop_t loop;
    res_t x, y, z;
    char servers[64];
    uint64_t t0, ms1, ms2;
    int port = 0, fd = silent_server(&port);

    if (!ok(fd >= 0, "timeout: silent UDP server bound on 127.0.0.1"))
        return;
    (void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
    memset(&o, 0, sizeof(o));
    memset(&x, 0, sizeof(x));
    y = z = x;
    o.servers = servers;
    o.timeout_ms = 150;
    o.tries = 1;
    uv_loop_init(&loop);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        t0 = uv_hrtime();
        resolve(&r, "one.jarmsweep.test", &x);
        uv_run(&loop, UV_RUN_DEFAULT);
        ms1 = (uv_hrtime() - t0) / 1000000;
        ok(x.calls == 1 && x.status == JARM__DNS_TIMEOUT,
           "silent server, 150 ms x 1 try -> timeout (%s)", jarm__dns_status_name(x.status));
        ok(ms1 >= 140 && ms1 < 3000, "... after %llu ms, driven by the ares_timeout timer",
           (unsigned long long)ms1);
        resolve(&r, "one.jarmsweep.test", &y);
        ok(y.sync && y.status == JARM__DNS_TIMEOUT, "a timed-out name is cached for the run");
        close_and_finish(&r, &loop, "timeout");
    }

    o.tries = 2;
    uv_loop_init(&loop);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        t0 = uv_hrtime();
        resolve(&r, "one.jarmsweep.test", &z);
        uv_run(&loop, UV_RUN_DEFAULT);
        ms2 = (uv_hrtime() - t0) / 1000000;
        ok(z.calls == 1 && z.status == JARM__DNS_TIMEOUT && ms2 >= 440 && ms2 < 5000,
           "2 tries: timeout after %llu ms (150 + 300 expected)", (unsigned long long)ms2);
        close_and_finish(&r, &loop, "timeout, 2 tries");
    }
    close(fd);
}

/* A DNS server on the test loop that answers every query with a fixed rcode. */
typedef struct stub_s {
    uv_udp_t udp;
    int queries;
    int rcode;
    char buf[1500];
} stub_t;

static void stub_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    stub_t *s = h->data;
    (void)size;
    *buf = uv_buf_init(s->buf, sizeof(s->buf));
}

static void stub_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                      unsigned flags)
{
    stub_t *s = u->data;
    uv_buf_t b;
    (void)flags;

    if (n < 12 || addr == NULL)
        return;
    s->queries++;
    buf->base[2] = (char)(buf->base[2] | 0x80);      /* QR: a response */
    buf->base[3] = (char)(0x80 | (s->rcode & 0x0f)); /* RA, rcode */
    b = uv_buf_init(buf->base, (unsigned)n);
    uv_udp_try_send(u, &b, 1, addr);
}

static void test_servfail(void)
{
    struct sockaddr_in sin;
    int len = sizeof(sin);
    jarm__resolver_opts_t o;
    jarm__resolver_t r;
    uv_loop_t loop;
    stub_t stub;
    res_t x;
    char servers[64];

    memset(&stub, 0, sizeof(stub));
    memset(&x, 0, sizeof(x));
    stub.rcode = 2;
    uv_loop_init(&loop);
    uv_udp_init(&loop, &stub.udp);
    stub.udp.data = &stub;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    if (!ok(uv_udp_bind(&stub.udp, (struct sockaddr *)&sin, 0) == 0 &&
                uv_udp_getsockname(&stub.udp, (struct sockaddr *)&sin, &len) == 0 &&
                uv_udp_recv_start(&stub.udp, stub_alloc, stub_recv) == 0,
            "servfail: stub server bound on 127.0.0.1:%d", ntohs(sin.sin_port))) {
        uv_close((uv_handle_t *)&stub.udp, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return;
    }
    (void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", ntohs(sin.sin_port));
    memset(&o, 0, sizeof(o));
    o.servers = servers;
    o.timeout_ms = 1000;
    o.tries = 2;
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        resolve(&r, "one.jarmsweep.test", &x);
        while (x.calls == 0 && uv_run(&loop, UV_RUN_ONCE) != 0)
            ;
        ok(x.calls == 1 && x.status == JARM__DNS_SERVFAIL, "SERVFAIL on every try -> servfail (%s)",
           jarm__dns_status_name(x.status));
        /* c-ares >= 1.20 retries a SERVFAIL per try; before, the resolver passes it through
         * at once (ARES_FLAG_NOCHECKRESP) to keep the reason. */
        ok(stub.queries >= 1 && stub.queries <= 2, "... after %d queries (tries 2)", stub.queries);
        uv_close((uv_handle_t *)&stub.udp, NULL);
        close_and_finish(&r, &loop, "servfail");
    }
}

static void test_cache(void)
{
    enum { COPIES = 50 };
    jarm__resolver_opts_t o = dnsmasq_opts(0);
    jarm__resolver_stats_t st;
    jarm__resolver_t r;
    uv_loop_t loop;
    res_t x[COPIES], y, ev[10], back, still;
    char name[64], addr[32];
    int i, all = 1, order = 1, max_entries = 0;

    memset(x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o) == 0, "cache: init"))
        return;
    for (i = 0; i < COPIES; i++)
        resolve(&r, "multi.jarmsweep.test", &x[i]);
    ok(jarm__resolver_outstanding(&r) == 1, "50 requests for one name: 1 outstanding");
    uv_run(&loop, UV_RUN_DEFAULT);
    for (i = 0; i < COPIES; i++) {
        if (x[i].calls != 1 || x[i].status != JARM__DNS_OK || x[i].naddrs != 3)
            all = 0;
        if (i > 0 && x[i].seq != x[i - 1].seq + 1)
            order = 0;
    }
    jarm__resolver_stats(&r, &st);
    ok(all && st.queries == 1 && st.coalesced == COPIES - 1,
       "... one query, 49 coalesced, 50 callbacks with 3 addresses each");
    ok(order, "... callbacks in request order");
    resolve(&r, "multi.jarmsweep.test", &y);
    ok(y.sync && y.calls == 1 && y.naddrs == 3, "... then a cache hit, synchronously");
    close_and_finish(&r, &loop, "coalescing");

    /* Eviction: cache_max 4, ten names one after another. */
    o.cache_max = 4;
    memset(ev, 0, sizeof(ev));
    memset(&back, 0, sizeof(back));
    memset(&still, 0, sizeof(still));
    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o) == 0, "eviction: init, cache_max 4"))
        return;
    all = 1;
    for (i = 0; i < 10; i++) {
        bulk_name((unsigned)i, name, sizeof(name));
        bulk_addr((unsigned)i, addr, sizeof(addr));
        resolve(&r, name, &ev[i]);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (!is_one(&ev[i], addr))
            all = 0;
        jarm__resolver_stats(&r, &st);
        if ((int)st.cache_entries > max_entries)
            max_entries = (int)st.cache_entries;
    }
    jarm__resolver_stats(&r, &st);
    ok(all, "eviction: ten names resolved");
    ok(max_entries == 4 && st.evictions == 6, "... cache held at most 4 (%d), 6 evictions (%llu)",
       max_entries, (unsigned long long)st.evictions);
    resolve(&r, "n000000.bulk.jarmsweep.test", &back);
    ok(!back.sync, "... the least recently used name was evicted: queried again");
    uv_run(&loop, UV_RUN_DEFAULT);
    resolve(&r, "N000009.BULK.jarmsweep.test.", &still);
    jarm__resolver_stats(&r, &st);
    ok(is_one(&back, "127.16.0.0") && still.sync && is_one(&still, "127.16.0.9") &&
           st.queries == 11,
       "... the most recent one still cached (any case, trailing dot), 11 queries in all");
    close_and_finish(&r, &loop, "eviction");
}

/* Plumbing: back-pressure, cancellation, close from inside callbacks. */

static jarm__resolver_t *close_target;

static void on_close_timer(uv_timer_t *t)
{
    jarm__resolver_close(close_target, on_closed);
    uv_close((uv_handle_t *)t, NULL);
}

typedef struct inner_s {
    jarm__resolver_t *r;
    int calls, closed_here, ret_after_close;
    int ok_right; /* OK results carried the right address */
    jarm__dns_status_t status;
    unsigned index;
} inner_t;

static int inner_total, inner_ok, inner_error, inner_bad;
static int inner_closed;

static void on_inner(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                     size_t naddrs)
{
    inner_t *x = data;
    char want[32], got[64];

    x->calls++;
    x->status = status;
    inner_total++;
    if (status == JARM__DNS_OK) {
        bulk_addr(x->index, want, sizeof(want));
        if (naddrs == 1 && strcmp(ss_str(&addrs[0], got, sizeof(got)), want) == 0)
            inner_ok++;
        else
            inner_bad++;
    } else if (status == JARM__DNS_ERROR) {
        inner_error++;
    } else {
        inner_bad++;
    }
    if (!inner_closed) {
        inner_closed = 1;
        x->closed_here = 1;
        jarm__resolver_close(x->r, on_closed);
        x->ret_after_close = jarm__resolver_resolve(x->r, "one.jarmsweep.test", on_inner, x);
    }
}

static void test_plumbing(void)
{
    enum { INNER = 200 };
    static inner_t inner[INNER];
    jarm__resolver_opts_t o;
    jarm__resolver_t r;
    uv_loop_t loop;
    uv_timer_t timer;
    res_t a, a2, b, c, d, on;
    char servers[64], name[64];
    int port = 0, fd = silent_server(&port), i, once = 1;
    unsigned u;

    if (!ok(fd >= 0, "plumbing: silent UDP server bound on 127.0.0.1"))
        return;
    (void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);

    /* Back-pressure and cancellation of pending queries by a close from a timer. */
    memset(&o, 0, sizeof(o));
    memset(&a, 0, sizeof(a));
    a2 = b = c = d = a;
    o.servers = servers;
    o.timeout_ms = 5000;
    o.max_outstanding = 2;
    uv_loop_init(&loop);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        ok(resolve(&r, "a.jarmsweep.test", &a) == 0 && resolve(&r, "b.jarmsweep.test", &b) == 0,
           "max_outstanding 2: two names submitted");
        ok(!jarm__resolver_can_submit(&r) && jarm__resolver_outstanding(&r) == 2,
           "... can_submit is 0 with 2 outstanding");
        ok(resolve(&r, "c.jarmsweep.test", &c) == UV_EAGAIN && c.calls == 0,
           "... a third name -> UV_EAGAIN, no callback");
        ok(resolve(&r, "A.jarmsweep.test", &a2) == 0, "... the same name again is accepted "
                                                      "(coalesced)");
        close_target = &r;
        closed_calls = 0;
        uv_timer_init(&loop, &timer);
        uv_timer_start(&timer, on_close_timer, 50, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        ok(a.calls == 1 && a2.calls == 1 && b.calls == 1 && a.status == JARM__DNS_ERROR &&
               a2.status == JARM__DNS_ERROR && b.status == JARM__DNS_ERROR && c.calls == 0,
           "close with 3 requests pending: each callback once, status error");
        ok(closed_calls == 1, "... close_cb ran once");
        ok(jarm__resolver_resolve(&r, "d.jarmsweep.test", on_res, &d) == UV_ECANCELED &&
               d.calls == 0,
           "... resolve after close -> UV_ECANCELED, no callback");
        ok(uv_loop_close(&loop) == 0, "cancellation: uv_loop_close() == 0");
    }

    /* Close from inside a callback of ares_process_fd: the destroy is deferred. */
    memset(inner, 0, sizeof(inner));
    inner_total = inner_ok = inner_error = inner_bad = inner_closed = 0;
    o = dnsmasq_opts(0);
    o.max_outstanding = INNER;
    closed_calls = 0;
    uv_loop_init(&loop);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        for (u = 0; u < INNER; u++) {
            inner[u].r = &r;
            inner[u].index = 1000 + u;
            bulk_name(1000 + u, name, sizeof(name));
            jarm__resolver_resolve(&r, name, on_inner, &inner[u]);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        for (i = 0; i < INNER; i++) {
            if (inner[i].calls != 1)
                once = 0;
            if (inner[i].closed_here && inner[i].ret_after_close != UV_ECANCELED)
                once = 0;
        }
        note("close inside a callback: %d ok, %d cancelled", inner_ok, inner_error);
        ok(once && inner_total == INNER && inner_bad == 0 && inner_ok >= 1,
           "close inside a callback: %d callbacks, each once, ok or error", inner_total);
        ok(closed_calls == 1, "... close_cb ran once (%d)", closed_calls);
        ok(uv_loop_close(&loop) == 0, "... uv_loop_close() == 0");
    }

    /* Nothing listening: ICMP port unreachable makes c-ares close and reopen its socket
     * (often with the same fd) inside one processing call, once per try. */
    memset(&o, 0, sizeof(o));
    memset(&d, 0, sizeof(d));
    (void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", dnsprobe_free_port());
    o.servers = servers;
    o.tries = 3;
    uv_loop_init(&loop);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        uint64_t t0 = uv_hrtime(), ms;
        resolve(&r, "one.jarmsweep.test", &d);
        uv_run(&loop, UV_RUN_DEFAULT);
        ms = (uv_hrtime() - t0) / 1000000;
        ok(d.calls == 1 && d.status == JARM__DNS_ERROR && ms < 1500,
           "no server listening: error after %llu ms, not a timeout (%s)", (unsigned long long)ms,
           jarm__dns_status_name(d.status));
        close_and_finish(&r, &loop, "no server listening");
    }

    /* Close from a callback that c-ares runs inside ares_getaddrinfo. */
    memset(inner, 0, sizeof(inner));
    inner_total = inner_ok = inner_error = inner_bad = inner_closed = 0;
    closed_calls = 0;
    memset(&on, 0, sizeof(on));
    uv_loop_init(&loop);
    o = dnsmasq_opts(0);
    if (jarm__resolver_init(&r, &loop, &o) == 0) {
        inner[0].r = &r;
        ok(jarm__resolver_resolve(&r, "x.onion", on_inner, &inner[0]) == 0 && inner[0].calls == 1 &&
               inner[0].status == JARM__DNS_NXDOMAIN && inner[0].closed_here &&
               inner[0].ret_after_close == UV_ECANCELED,
           "close inside a callback run by ares_getaddrinfo itself: deferred, no crash");
        uv_run(&loop, UV_RUN_DEFAULT);
        ok(closed_calls == 1 && uv_loop_close(&loop) == 0, "... close_cb once, loop closes");
    }
    close(fd);
}

/* 100,000 names pulled through the resolver as room appears. */
static struct {
    jarm__resolver_t *r;
    unsigned next, done, ok_right, wrong, errors, over_outstanding, over_cache;
    unsigned max_outstanding;
    size_t cache_max, max_entries;
    size_t heap_base, heap_max;
    int in_pump;
} bulk;

static unsigned bulk_index[BULK_NAMES]; /* callback data: the index of each name */

static void bulk_pump(void);

static void on_bulk(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                    size_t naddrs)
{
    unsigned i = *(const unsigned *)data;
    char want[32], got[64];
    jarm__resolver_stats_t st;

    bulk.done++;
    if (status == JARM__DNS_OK && naddrs == 1) {
        bulk_addr(i, want, sizeof(want));
        if (strcmp(ss_str(&addrs[0], got, sizeof(got)), want) == 0)
            bulk.ok_right++;
        else
            bulk.wrong++;
    } else {
        if (bulk.errors++ < 5)
            note("bulk name %u: %s", i, jarm__dns_status_name(status));
    }
    jarm__resolver_stats(bulk.r, &st);
    if (st.fresh > bulk.max_outstanding || st.outstanding > 8 * bulk.max_outstanding)
        bulk.over_outstanding++;
    if (st.cache_entries > bulk.max_entries)
        bulk.max_entries = st.cache_entries;
    if (st.cache_entries > bulk.cache_max)
        bulk.over_cache++;
    if (bulk.done == 5000)
        bulk.heap_base = live_heap();
    if (bulk.done > 5000 && bulk.done % 1000 == 0) {
        size_t h = live_heap();
        if (h > bulk.heap_max)
            bulk.heap_max = h;
    }
    bulk_pump();
}

/* Submit names while the resolver has room (the scheduler's pull). */
static void bulk_pump(void)
{
    char name[64];

    if (bulk.in_pump)
        return; /* a synchronous callback inside resolve: the outer loop continues */
    bulk.in_pump = 1;
    while (bulk.next < BULK_NAMES && jarm__resolver_can_submit(bulk.r)) {
        unsigned i = bulk.next++;
        bulk_name(i, name, sizeof(name));
        bulk_index[i] = i;
        if (jarm__resolver_resolve(bulk.r, name, on_bulk, &bulk_index[i]) != 0)
            bulk.errors++;
    }
    bulk.in_pump = 0;
}

static void test_bulk(void)
{
    jarm__resolver_opts_t o = dnsmasq_opts(0);
    jarm__resolver_stats_t st;
    jarm__resolver_t r;
    uv_loop_t loop;
    uint64_t t0, ms;
    long hwm0, hwm1;

    o.max_outstanding = 0; /* the default, JARM__DNS_DEFAULT_OUTSTANDING */
    o.cache_max = 1000;
    memset(&bulk, 0, sizeof(bulk));
    bulk.r = &r;
    bulk.max_outstanding = JARM__DNS_DEFAULT_OUTSTANDING;
    bulk.cache_max = o.cache_max;
    uv_loop_init(&loop);
    if (!ok(jarm__resolver_init(&r, &loop, &o) == 0, "bulk: init, %u outstanding, cache 1000",
            JARM__DNS_DEFAULT_OUTSTANDING))
        return;
    hwm0 = vm_hwm_kb();
    t0 = uv_hrtime();
    bulk_pump();
    uv_run(&loop, UV_RUN_DEFAULT);
    ms = (uv_hrtime() - t0) / 1000000;
    hwm1 = vm_hwm_kb();
    jarm__resolver_stats(&r, &st);
    note("bulk: %u names in %llu ms (%.0f names/s), VmHWM %ld -> %ld kB, live heap %zu -> %zu "
         "bytes, window %u, %llu window cuts",
         bulk.done, (unsigned long long)ms, ms ? bulk.done * 1000.0 / (double)ms : 0.0, hwm0, hwm1,
         bulk.heap_base, bulk.heap_max, st.window, (unsigned long long)st.window_cuts);
    ok(bulk.done == BULK_NAMES && bulk.ok_right == BULK_NAMES && bulk.wrong == 0 &&
           bulk.errors == 0,
       "bulk: %u of %u names resolved to their own address", bulk.ok_right, BULK_NAMES);
    ok(bulk.over_outstanding == 0 && st.peak_outstanding == JARM__DNS_DEFAULT_OUTSTANDING,
       "bulk: outstanding never above %u, and reached it (peak %u)", JARM__DNS_DEFAULT_OUTSTANDING,
       st.peak_outstanding);
    ok(bulk.over_cache == 0 && bulk.max_entries <= o.cache_max && st.cache_entries <= o.cache_max,
       "bulk: cache never above 1000 entries (max %zu)", bulk.max_entries);
    ok(st.evictions == BULK_NAMES - o.cache_max && st.queries == BULK_NAMES,
       "bulk: %llu queries, %llu evictions", (unsigned long long)st.queries,
       (unsigned long long)st.evictions);
    /* An unbounded cache would grow by about 95,000 entries (> 10 MB) after the baseline. */
    if (bulk.heap_base == 0)
        note("live heap not measurable here (valgrind's malloc has no mallinfo2): the cache "
             "bound above is the memory check");
    ok(bulk.heap_max < bulk.heap_base + ((size_t)2 << 20),
       "bulk: live heap grew by less than 2 MB over the last 95,000 names (%+ld bytes)",
       (long)bulk.heap_max - (long)bulk.heap_base);
    close_and_finish(&r, &loop, "bulk");
}

int main(int argc, char **argv)
{
    const char *prog = argc > 1 ? argv[1] : getenv("JARM_DNSMASQ");
    const char *tmp = getenv("TMPDIR"), *watchdog = getenv("JARM_TEST_WATCHDOG");
    int ret;

    if (prog == NULL || prog[0] == '\0')
        prog = "/usr/sbin/dnsmasq";
    if (access(prog, X_OK) != 0) {
        printf("1..0 # SKIP dnsmasq not found (%s): install dnsmasq-base\n", prog);
        return 0;
    }
    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    (void)signal(SIGALRM, on_watchdog);
    (void)signal(SIGTERM, on_watchdog);
    (void)signal(SIGINT, on_watchdog);
    alarm(watchdog != NULL ? (unsigned)strtoul(watchdog, NULL, 10) : WATCHDOG_SECS);

    (void)snprintf(tmpdir, sizeof(tmpdir), "%s/jarm-resolver-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    /* dnsmasq reads the hosts file after dropping root for "nobody". */
    chmod(tmpdir, 0755);
    (void)snprintf(hosts_path, sizeof(hosts_path), "%s/hosts", tmpdir);
    (void)snprintf(log_path, sizeof(log_path), "%s/dnsmasq.log", tmpdir);
    (void)snprintf(pid_path, sizeof(pid_path), "%s/dnsmasq.pid", tmpdir);

    test_status_names();
    test_init_errors();

    if (!ok(write_hosts() == 0, "hosts file written (%d bulk names)", BULK_NAMES) ||
        !ok(start_dnsmasq(prog) == 0, "dnsmasq started on a free loopback port")) {
        show_log();
        cleanup_files();
        return done_testing();
    }
    (void)snprintf(dns_servers, sizeof(dns_servers), "127.0.0.1:%d", dns_port);
    note("dnsmasq pid %d on %s", (int)dns_pid, dns_servers);

#define RUN(test) (current_test = #test, test())
    RUN(test_basic);
    RUN(test_families);
    RUN(test_timeout);
    RUN(test_servfail);
    RUN(test_cache);
    RUN(test_plumbing);
    RUN(test_bulk);
    current_test = "teardown";

    ok(dns_pid > 0 && kill(dns_pid, 0) == 0, "dnsmasq still running at the end");
    stop_dnsmasq();
    ret = done_testing();
    if (ret != 0)
        show_log();
    cleanup_files();
    return ret;
}
