/*
 * bench_resolver.c - names per second through the resolver (c-ares on libuv) against dnsmasq
 * on loopback.
 *
 * Usage: bench_resolver [--dnsmasq PATH] [--names N] [--concurrency C] [--repeat R]
 *
 * Starts dnsmasq on a free 127.0.0.1 port with --no-resolv --no-hosts and a generated hosts
 * file of N names (default 50,000), then for each of R runs (default 3) resolves every name
 * once through a fresh resolver with C outstanding queries at most (default: the resolver's,
 * JARM__DNS_DEFAULT_OUTSTANDING), submitting as jarm__resolver_can_submit allows, as the
 * scheduler does. Prints the best run, and the best of the same names again from the cache
 * and of the same targets given as IPv4 literals, then the CPU time per name of each side:
 *
 *   resolver            N names/s
 *   resolver_cached     N names/s
 *   resolver_literal    N names/s
 *   # CPU per name: resolver process X us, dnsmasq Y us
 *
 * dnsmasq is single-threaded and shares the machine, so the first figure is the pair's
 * throughput on loopback, not c-ares's alone. Exit 77 (skipped) without dnsmasq.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "resolver.h"
#include "../tests/helpers/dnsprobe.h"

static pid_t dns_pid = -1;
static char tmpdir[256], hosts_path[300], log_path[300], pid_path[300];

static void name_of(unsigned i, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "b%07u.bench.jarmsweep.test", i);
}

static void addr_of(unsigned i, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "127.%u.%u.%u", 16 + (i >> 16), (i >> 8) & 255, i & 255);
}

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
        if ((pid = fork()) < 0)
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
        for (i = 0; i < 200; i++) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                dns_pid = -1;
                break;
            }
            char first[64];
            name_of(0, first, sizeof(first));
            if (dnsprobe_ready(port, first))
                return port;
            usleep(10000);
        }
        if (dns_pid > 0) {
            kill(dns_pid, SIGTERM);
            waitpid(dns_pid, NULL, 0);
            dns_pid = -1;
        }
    }
    return -1;
}

static void cleanup(void)
{
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
        dns_pid = -1;
    }
    unlink(hosts_path);
    unlink(log_path);
    unlink(pid_path);
    rmdir(tmpdir);
}

static struct {
    jarm__resolver_t *r;
    char **names;
    unsigned n, next, done, ok;
    int in_pump;
} run;

static void pump(void);

static void on_done(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                    size_t naddrs)
{
    (void)data;
    (void)addrs;
    run.done++;
    if (status == JARM__DNS_OK && naddrs == 1)
        run.ok++;
    pump();
}

static void pump(void)
{
    if (run.in_pump)
        return;
    run.in_pump = 1;
    while (run.next < run.n && jarm__resolver_can_submit(run.r))
        if (jarm__resolver_resolve(run.r, run.names[run.next++], on_done, NULL) != 0)
            run.done++;
    run.in_pump = 0;
}

/* CPU seconds (user + system) of this process, or of process pid from /proc. */
static double cpu_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double cpu_of(pid_t pid)
{
    char path[64], buf[1024], *p, *field, *save = NULL;
    unsigned long ticks = 0;
    FILE *f;
    int i;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    /* Fields 14 and 15 (utime, stime) are the 12th and 13th after the ")" of the name. */
    if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL) {
        field = strtok_r(p + 1, " ", &save);
        for (i = 1; field != NULL && i <= 13; i++, field = strtok_r(NULL, " ", &save))
            if (i >= 12)
                ticks += strtoul(field, NULL, 10);
    }
    (void)fclose(f);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static void on_closed(jarm__resolver_t *r)
{
    (void)r;
}

/* Resolve names[0..n) through r; returns names per second, or -1 when one failed. */
static double timed_pass(jarm__resolver_t *r, uv_loop_t *loop, char **names, unsigned n)
{
    uint64_t t0;
    double s;

    memset(&run, 0, sizeof(run));
    run.r = r;
    run.names = names;
    run.n = n;
    t0 = uv_hrtime();
    pump();
    uv_run(loop, UV_RUN_DEFAULT);
    s = (double)(uv_hrtime() - t0) / 1e9;
    if (run.done != n || run.ok != n) {
        (void)fprintf(stderr, "bench_resolver: %u of %u names resolved\n", run.ok, n);
        return -1;
    }
    return s > 0 ? n / s : 0;
}

int main(int argc, char **argv)
{
    const char *prog = getenv("JARM_DNSMASQ"), *tmp = getenv("TMPDIR");
    unsigned n = 50000, concurrency = JARM__DNS_DEFAULT_OUTSTANDING, repeat = 3, i;
    char servers[64], buf[64], **names = NULL, **literals = NULL;
    double best = 0, cached = 0, literal = 0, v, cpu_resolver = 0, cpu_dnsmasq = 0;
    jarm__resolver_opts_t o;
    jarm__resolver_t r;
    uv_loop_t loop;
    FILE *f;
    int port, ret = 1;

    for (i = 1; i < (unsigned)argc; i++) {
        if (strcmp(argv[i], "--dnsmasq") == 0 && i + 1 < (unsigned)argc)
            prog = argv[++i];
        else if (strcmp(argv[i], "--names") == 0 && i + 1 < (unsigned)argc)
            n = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < (unsigned)argc)
            concurrency = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < (unsigned)argc)
            repeat = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            (void)fprintf(stderr, "usage: bench_resolver [--dnsmasq PATH] [--names N] "
                                  "[--concurrency C] [--repeat R]\n");
            return 2;
        }
    }
    if (prog == NULL || prog[0] == '\0')
        prog = "/usr/sbin/dnsmasq";
    if (access(prog, X_OK) != 0) {
        (void)fprintf(stderr, "bench_resolver: dnsmasq not found (%s): skipped\n", prog);
        return 77;
    }
    if (n == 0 || n > 1000000 || repeat == 0) {
        (void)fprintf(stderr, "bench_resolver: --names 1..1000000, --repeat >= 1\n");
        return 2;
    }

    (void)snprintf(tmpdir, sizeof(tmpdir), "%s/jarm-bench-resolver-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        (void)fprintf(stderr, "bench_resolver: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    chmod(tmpdir, 0755); /* dnsmasq reads the hosts file as "nobody" */
    (void)snprintf(hosts_path, sizeof(hosts_path), "%s/hosts", tmpdir);
    (void)snprintf(log_path, sizeof(log_path), "%s/dnsmasq.log", tmpdir);
    (void)snprintf(pid_path, sizeof(pid_path), "%s/dnsmasq.pid", tmpdir);

    names = calloc(n, sizeof(*names));
    literals = calloc(n, sizeof(*literals));
    if (names == NULL || literals == NULL || (f = fopen(hosts_path, "w")) == NULL)
        goto Exit;
    for (i = 0; i < n; i++) {
        name_of(i, buf, sizeof(buf));
        names[i] = strdup(buf);
        addr_of(i, buf, sizeof(buf));
        literals[i] = strdup(buf);
        if (names[i] == NULL || literals[i] == NULL) {
            (void)fclose(f);
            goto Exit;
        }
        (void)fprintf(f, "%s %s\n", literals[i], names[i]);
    }
    if (fclose(f) != 0 || chmod(hosts_path, 0644) != 0)
        goto Exit;
    if ((port = start_dnsmasq(prog)) < 0) {
        (void)fprintf(stderr, "bench_resolver: dnsmasq did not start (log: %s)\n", log_path);
        goto Exit;
    }
    (void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);

    memset(&o, 0, sizeof(o));
    o.servers = servers;
    o.max_outstanding = concurrency;
    o.cache_max = n;
    for (i = 0; i < repeat; i++) {
        double self0, dns0, c, l;

        uv_loop_init(&loop);
        if (jarm__resolver_init(&r, &loop, &o) != 0) {
            (void)fprintf(stderr, "bench_resolver: %s\n", jarm__resolver_error(&r));
            goto Exit;
        }
        self0 = cpu_self();
        dns0 = cpu_of(dns_pid);
        v = timed_pass(&r, &loop, names, n);
        cpu_resolver += cpu_self() - self0;
        cpu_dnsmasq += cpu_of(dns_pid) - dns0;
        if (v > best)
            best = v;
        if (v > 0) {
            c = timed_pass(&r, &loop, names, n);
            l = timed_pass(&r, &loop, literals, n);
            cached = c > cached ? c : cached;
            literal = l > literal ? l : literal;
        }
        jarm__resolver_close(&r, on_closed);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&loop) != 0 || v < 0)
            goto Exit;
    }
    printf("resolver            %.0f names/s   (%u names, %u outstanding at most, dnsmasq on "
           "loopback, best of %u)\n",
           best, n, concurrency, repeat);
    printf("resolver_cached     %.0f names/s\n", cached);
    printf("resolver_literal    %.0f names/s\n", literal);
    printf("# CPU per name: resolver process %.1f us, dnsmasq %.1f us\n",
           cpu_resolver * 1e6 / ((double)n * repeat), cpu_dnsmasq * 1e6 / ((double)n * repeat));
    ret = 0;

Exit:
    cleanup();
    for (i = 0; names != NULL && i < n; i++)
        free(names[i]);
    for (i = 0; literals != NULL && i < n; i++)
        free(literals[i]);
    free(names);
    free(literals);
    return ret;
}
