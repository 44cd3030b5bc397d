/*
 * opts.c - the command line: getopt_long table, --help, validation.
 *
 * Usage errors print one line `jarmsweep: ...` and exit 2 (in main.c); nothing here exits.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "endpoint.h"
#include "cert.h"
#include "iter.h"
#include "scan.h"

enum {
    OPT_PROBE_PARALLEL = 256,
    OPT_PER_IP,
    OPT_SNI,
    OPT_RESOLVERS,
    OPT_ALL_ADDRESSES,
    OPT_DNS_CONCURRENCY,
    OPT_DNS_TIMEOUT,
    OPT_DNS_TRIES,
    OPT_SEED,
    OPT_SHARD,
    OPT_BLOCKLIST,
    OPT_ALLOWLIST,
    OPT_ALLOW_RESERVED,
    OPT_FORCE,
    OPT_DRY_RUN,
    OPT_RESUME,
    OPT_PROXY,
    OPT_COMPARE_DIRECT,
    OPT_REPEAT,
    OPT_MATCH,
    OPT_BASELINE,
    OPT_CERT,
    OPT_CERT_MAX,
};

static const struct option long_opts[] = {
    {"input", required_argument, NULL, 'i'},
    {"ports", required_argument, NULL, 'p'},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, 'f'},
    {"concurrency", required_argument, NULL, 'c'},
    {"probe-parallel", required_argument, NULL, OPT_PROBE_PARALLEL},
    {"per-ip", required_argument, NULL, OPT_PER_IP},
    {"timeout", required_argument, NULL, 't'},
    {"rate", required_argument, NULL, 'r'},
    {"sni", required_argument, NULL, OPT_SNI},
    {"resolvers", required_argument, NULL, OPT_RESOLVERS},
    {"all-addresses", no_argument, NULL, OPT_ALL_ADDRESSES},
    {"dns-concurrency", required_argument, NULL, OPT_DNS_CONCURRENCY},
    {"dns-timeout", required_argument, NULL, OPT_DNS_TIMEOUT},
    {"dns-tries", required_argument, NULL, OPT_DNS_TRIES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"blocklist", required_argument, NULL, OPT_BLOCKLIST},
    {"allowlist", required_argument, NULL, OPT_ALLOWLIST},
    {"allow-reserved", no_argument, NULL, OPT_ALLOW_RESERVED},
    {"force", no_argument, NULL, OPT_FORCE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"proxy", required_argument, NULL, OPT_PROXY},
    {"compare-direct", no_argument, NULL, OPT_COMPARE_DIRECT},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"match", required_argument, NULL, OPT_MATCH},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"cert", no_argument, NULL, OPT_CERT},
    {"cert-max", required_argument, NULL, OPT_CERT_MAX},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

const char *const jarm__cli_help[] = {
    "Usage: jarmsweep [OPTIONS] [TARGET...]\n"
    "       jarmsweep explain [--format text|ndjson] FINGERPRINT\n"
    "       jarmsweep diff [--format text|ndjson] FINGERPRINT1 FINGERPRINT2\n"
    "\n",
    "Fingerprint TLS servers with JARM: ten crafted ClientHellos per target, one TCP\n"
    "connection each, hashed into the 62-character fingerprint that Salesforce's jarm.py\n"
    "prints for the same server. Thousands of targets are scanned concurrently; one result\n"
    "line is written per input target, in completion order.\n"
    "\n",
    "Targets (arguments, or lines of -i files):\n"
    "  IP  IP:PORT  [IPv6]:PORT  IPv6  HOST  HOST:PORT  HOST,PORT\n"
    "  Blank lines and lines starting with '#' are skipped. A target without a port is\n"
    "  scanned on every port of --ports. An unparsable target yields a row with status\n"
    "  bad_target, its input and line number; it never stops the run. The server_name sent\n"
    "  is the host exactly as given (IP literals too, as the reference does).\n"
    "\n",
    "Input and output:\n"
    "  -i, --input FILE        read targets from FILE, one per line ('-' = standard input);\n"
    "                          may be repeated; read as a stream, so pipes and huge files\n"
    "                          are fine\n"
    "  -p, --ports LIST        ports for targets without one: 443 | 443,8443 | 8000-8010\n"
    "                          (default 443)\n"
    "  -o, --output FILE       write results to FILE instead of standard output\n"
    "  -f, --format FORMAT     ndjson (default): one JSON object per target with host, ip,\n"
    "                          port, jarm, status, raw, probes, sni, elapsed_ms, ts;\n"
    "                          csv: the reference's CSV line 'host,ip,jarm';\n"
    "                          jarm-json: the reference's -j -v line\n"
    "                          {\"host\",\"ip\",\"result\",\"jarm\"}\n"
    "\n",
    "Scanning:\n"
    "  -c, --concurrency N     TCP connections in flight (default 1000); the open-files\n"
    "                          limit is raised to its hard limit and N is clamped to fit\n"
    "      --probe-parallel N  probes of one target in flight once its first probe has\n"
    "                          answered, 1-9 (default 9); 1 sends them one by one like\n"
    "                          the reference\n"
    "      --per-ip N          connections in flight to one address, across all its\n"
    "                          targets, ports and names (default 6: browsers open up to 6\n"
    "                          connections per host, so per-client limiters allow at\n"
    "                          least that). A probe refused, reset, closed without a byte\n"
    "                          or timed out while others to its address were in flight is\n"
    "                          run again alone before its failure counts (row field\n"
    "                          'retried'); an address that shows limiting is then probed\n"
    "                          at the lower limit\n"
    "  -t, --timeout SECONDS   per connection, from connect until the reply is decided\n"
    "                          (default 5, fractions allowed; 20 = the reference's); a\n"
    "                          probe with no byte by then is a timeout, bytes that did\n"
    "                          arrive are parsed as the reply\n"
    "  -r, --rate N            at most N new connections per second (default: no limit)\n"
    "      --sni NAME          send NAME as server_name instead of the target's host\n"
    "      --proxy socks5://[USER:PASS@]HOST:PORT\n"
    "      --proxy http://[USER:PASS@]HOST:PORT\n"
    "                          send every probe connection through this SOCKS5 proxy, or\n"
    "                          this HTTP proxy (CONNECT HOST:PORT, Basic authentication);\n"
    "                          host names are resolved by the proxy (socks5h); rows get\n"
    "                          'proxy' and, for names, 'ip' null; when the proxy fails\n"
    "                          the row is proxy_error with 'error' saying why ('proxy\n"
    "                          said 407', 'proxy timed out', ...); an HTTP proxy's 503\n"
    "                          counts as refused, 502 and 504 as unreachable\n"
    "\n",
    "Names (resolved with c-ares on the scan loop, each name once per run):\n"
    "      --resolvers LIST    DNS servers IP[:PORT],... (default: /etc/resolv.conf)\n"
    "  -4, -6                  only A / only AAAA records (default: A, and AAAA when a\n"
    "                          name has no A record)\n"
    "      --all-addresses     scan every address of a name (default: the first, as the\n"
    "                          reference connects to one)\n"
    "      --dns-concurrency N names being resolved at once (default 128); a name past\n"
    "                          its first try no longer counts\n"
    "      --dns-timeout SECONDS  per DNS try (default 2)\n"
    "      --dns-tries N       tries per server (default 2)\n"
    "  A failed lookup yields a dns_error row with 'error' nxdomain, servfail, timeout,\n"
    "  refused, no_address or error.\n"
    "\n",
    "Sweeps (ranges: CIDR a.b.c.d/n or 2001:db8::/112, or a.b.c.d-e.f.g.h, as arguments or\n"
    "lines; each is scanned in a seeded random order of address x port, nothing is\n"
    "materialised; explicit targets keep their order):\n"
    "      --seed N            the permutation's seed (default random; printed in the\n"
    "                          summary so a run can be repeated)\n"
    "      --shard I/N         scan part I (from 0) of N: N runs with one seed cover the\n"
    "                          sweep exactly once together\n"
    "      --blocklist FILE    never scan these CIDRs (repeatable; a line per CIDR, '#'\n"
    "                          comments); applies to ranges, not to explicit targets\n"
    "      --allowlist FILE    scan only these CIDRs of the ranges (the blocklists still win)\n"
    "      --allow-reserved    lift the default blocklist of IANA special-purpose and\n"
    "                          reserved space (contrib/blocklist.conf), e.g. for 127.0.0.0/8\n"
    "      --force             accept IPv6 ranges of more than 2^32 addresses\n"
    "      --dry-run           print the targets in scan order as host:port ([v6]:port),\n"
    "                          one per line, and scan nothing\n"
    "      --resume FILE       keep a checkpoint in FILE (every second and on stop); run\n"
    "                          again with the same arguments and FILE to continue where\n"
    "                          the last run stopped, without repeats or holes (-o appends);\n"
    "                          FILE.lock keeps a second run off the same FILE\n"
    "\n",
    "Certificates (NDJSON rows get the fields named; no extra connection):\n"
    "      --cert              also take the server's certificate from the first probe\n"
    "                          whose ServerHello selects TLS 1.2 or lower (the\n"
    "                          Certificate message follows it in clear): 'cert' holds\n"
    "                          sha256, sha1, subject, issuer (RFC 2253), serial,\n"
    "                          not_before, not_after (UTC), san, key (rsa-2048,\n"
    "                          ec-p256, ed25519...), sig_alg, self_signed, chain_len;\n"
    "                          or 'cert_error' says why there is none: tls13, alert,\n"
    "                          no_server_hello, not_tls, no_certificate, malformed,\n"
    "                          too_big, truncated, bad_der, no_memory. The fingerprint\n"
    "                          is the same as without --cert\n"
    "      --cert-max BYTES    read at most BYTES of the server's flight for it (default\n"
    "                          65536, at most 16777216; implies --cert); a longer one is\n"
    "                          too_big. The reading stops at the probe's --timeout too\n"
    "                          (truncated)\n"
    "\n",
    "Comparing (NDJSON rows get the fields named):\n"
    "      --match LIST        label rows with known fingerprints: a TSV file or a bundled\n"
    "                          list by name (c2: the reference's C2 table; servers: server\n"
    "                          software measured on Debian 12); repeatable. 'match' holds\n"
    "                          the labels of exact matches, 'match_prefix' those sharing\n"
    "                          the 30-character cipher/version half. A fingerprint names a\n"
    "                          TLS stack and configuration, not an application. Entries\n"
    "                          of kind cert-sha256 (fifth column) name certificates: with\n"
    "                          --cert, 'match_cert' holds their labels\n"
    "      --baseline FILE     compare with an earlier scan (its NDJSON output, or lines\n"
    "                          'host[:port] fingerprint'): 'baseline' is same, changed\n"
    "                          (with 'baseline_jarm', the old one) or new; the summary\n"
    "                          counts them\n"
    "      --compare-direct    with --proxy: scan every target directly and through the\n"
    "                          proxy; 'jarm_direct', 'jarm_proxy' and 'intercepted' (true:\n"
    "                          they differ, the proxy answers TLS itself; false; unknown:\n"
    "                          either side failed); the row's jarm is the proxy's; the\n"
    "                          summary counts them. Without direct egress: scan outside\n"
    "                          with -o FILE, then inside through the proxy with\n"
    "                          --baseline FILE ('changed' is the sign)\n"
    "      --repeat N          scan every target N times (1-1000), spread over the run:\n"
    "                          'variants' lists each fingerprint seen with its count, most\n"
    "                          frequent first, 'stable' is true when there was one; the\n"
    "                          row is the most frequent one's (load balancers over mixed\n"
    "                          back ends, stacks that answer differently at random)\n"
    "\n",
    "Other:\n"
    "  -q, --quiet             no progress line, summary or warnings on standard error\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           print the version and exit\n"
    "\n",
    "Status (row field 'status'):\n"
    "  ok           at least one probe got a ServerHello: 'jarm' is the fingerprint\n"
    "  timeout      a probe got no byte within --timeout: as in the reference, the raw\n"
    "               result is ten empty probes and 'jarm' is 62 zeros; when the first\n"
    "               probe times out no other probe is sent\n"
    "  refused      every connection was refused\n"
    "  unreachable  every connection failed with host or network unreachable\n"
    "  no_tls       no ServerHello, and some reply was not TLS (HTTP, SSH, ...)\n"
    "  rejected     the server answered only with alerts, resets or empty closes\n"
    "  bad_target   the input could not be parsed ('error', 'input', 'line' say why)\n"
    "  dns_error    the host name was not resolved ('error' says why)\n"
    "  error        local errors only ('error' says why, e.g. out of file descriptors:\n"
    "               with none left for one connection a probe fails after ~3 s; an\n"
    "               input line with no memory to queue it: one row, out of memory)\n"
    "  proxy_error  the proxy failed: nothing listening, a timeout before its CONNECT\n"
    "               reply, failed authentication, a refusal, a malformed reply ('error'\n"
    "               says which); 'jarm' is 62 zeros\n"
    "Each entry of 'probes' has a status (ok, alert, no_tls, malformed, closed, refused,\n"
    "reset, unreachable, timeout, skipped, error, proxy_error) and 'ms' from connect to\n"
    "outcome.\n"
    "\n",
    "Fingerprints equal the reference's also where the reference crashes (a version byte\n"
    "6-9 gives 'g'-'j', any other unknown version '0'; an ALPN holding ',' keeps the\n"
    "reference's splitting with missing fields empty).\n"
    "\n",
    "Exit status: 0 when every target got its row (whatever the statuses), 1 on a runtime\n"
    "failure (output not writable, read error, out of memory), 2 on a usage error\n"
    "(including an -i FILE that cannot be opened or is a directory, and a --resume FILE\n"
    "that cannot be written or that another run holds).\n"
    "\n",
    "Stopping: the first SIGINT, SIGTERM or SIGHUP stops reading input; the targets in\n"
    "flight finish and get their rows, including those already waiting for a busy address\n"
    "(--per-ip; at most -c of them), so a stop can take several timeouts; targets not\n"
    "taken by then get none (with --resume, a run with the same FILE scans them). A second\n"
    "signal exits at once (status 130).\n"
    "Output is written by a thread of its own: a slow reader never delays the scan's\n"
    "clocks; no new target starts while a megabyte of rows waits to be written.\n"
    "\n",
    "Examples:\n"
    "  jarmsweep 127.0.0.1:8443\n"
    "  jarmsweep -p 443,8443 -c 5000 -t 3 -i hosts.txt -o results.ndjson\n"
    "  zmap -p 443 -o - 10.0.0.0/8 | jarmsweep -i - -f csv\n"
    "  jarmsweep explain 07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d\n",
    NULL,
};

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;
    errno = 0;
    if (*s == '\0')
        return -1;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

#define USAGE(...)                          \
    do {                                    \
        snprintf(msg, msglen, __VA_ARGS__); \
        return -1;                          \
    } while (0)

int jarm__cli_parse(int argc, char **argv, jarm__cli_opts_t *o, char *msg, size_t msglen)
{
    int ch;
    unsigned long v;
    double d;
    char *end;
    char err[128];
    int nports;

    memset(o, 0, sizeof(*o));
    o->concurrency = 1000;
    o->probe_parallel = JARM_PROBES - 1;
    o->per_ip = JARM__PER_IP_DEFAULT;
    o->timeout = 5.0;
    o->format = JARM__FMT_NDJSON;
    o->ports[0] = 443;
    o->nports = 1;
    o->shard_n = 1;
    o->cert_max = JARM__CERT_MAX_DEFAULT;
    o->files = calloc((size_t)argc + 1, sizeof(char *));
    o->blocklists = calloc((size_t)argc + 1, sizeof(char *));
    o->matches = calloc((size_t)argc + 1, sizeof(char *));
    if (o->files == NULL || o->blocklists == NULL || o->matches == NULL)
        USAGE("out of memory");

    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":i:p:o:f:c:t:r:qhV46", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            o->files[o->nfiles++] = optarg;
            break;
        case 'p':
            nports = jarm__ports_parse(optarg, o->ports, JARM__CLI_PORTS_MAX, err, sizeof(err));
            if (nports < 0)
                USAGE("--ports: %s", err);
            o->nports = (size_t)nports;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "ndjson") == 0)
                o->format = JARM__FMT_NDJSON;
            else if (strcmp(optarg, "csv") == 0)
                o->format = JARM__FMT_CSV;
            else if (strcmp(optarg, "jarm-json") == 0)
                o->format = JARM__FMT_JARM_JSON;
            else
                USAGE("bad format '%s' (ndjson, csv or jarm-json)", optarg);
            break;
        case 'c':
            if (parse_uint(optarg, 1, 1000000, &v) != 0)
                USAGE("bad concurrency '%s' (1-1000000)", optarg);
            o->concurrency = (unsigned)v;
            break;
        case OPT_PROBE_PARALLEL:
            if (parse_uint(optarg, 1, JARM_PROBES - 1, &v) != 0)
                USAGE("bad --probe-parallel '%s' (1-9)", optarg);
            o->probe_parallel = (unsigned)v;
            break;
        case OPT_PER_IP:
            if (parse_uint(optarg, 1, 65535, &v) != 0)
                USAGE("bad --per-ip '%s' (1-65535)", optarg);
            o->per_ip = (unsigned)v;
            break;
        case 't':
            if (parse_double(optarg, 0.001, 86400, &d) != 0)
                USAGE("bad timeout '%s' (seconds, 0.001-86400)", optarg);
            o->timeout = d;
            break;
        case 'r':
            if (parse_double(optarg, 0.001, 1e9, &d) != 0)
                USAGE("bad rate '%s' (connections per second)", optarg);
            o->rate = d;
            break;
        case OPT_SNI:
            if (strlen(optarg) == 0 || strlen(optarg) > JARM_HOST_MAX)
                USAGE("bad --sni '%s' (1-%d bytes)", optarg, JARM_HOST_MAX);
            o->sni = optarg;
            break;
        case OPT_RESOLVERS:
            if (*optarg == '\0')
                USAGE("bad --resolvers ''");
            o->resolvers = optarg;
            break;
        case '4':
        case '6':
            o->family = ch - '0';
            break;
        case OPT_ALL_ADDRESSES:
            o->all_addresses = 1;
            break;
        case OPT_DNS_CONCURRENCY:
            if (parse_uint(optarg, 1, 65536, &v) != 0)
                USAGE("bad --dns-concurrency '%s' (1-65536)", optarg);
            o->dns_concurrency = (unsigned)v;
            break;
        case OPT_DNS_TIMEOUT:
            if (parse_double(optarg, 0.001, 3600, &d) != 0)
                USAGE("bad --dns-timeout '%s' (seconds)", optarg);
            o->dns_timeout_ms = (unsigned)(d * 1000.0 + 0.5);
            break;
        case OPT_DNS_TRIES:
            if (parse_uint(optarg, 1, 100, &v) != 0)
                USAGE("bad --dns-tries '%s' (1-100)", optarg);
            o->dns_tries = (unsigned)v;
            break;
        case OPT_SEED:
            errno = 0;
            if (*optarg < '0' || *optarg > '9' || (o->seed = strtoull(optarg, &end, 10), errno) ||
                *end)
                USAGE("bad --seed '%s' (a decimal number)", optarg);
            o->seed_set = 1;
            break;
        case OPT_SHARD:
            if (jarm__shard_parse(optarg, &o->shard_i, &o->shard_n, err, sizeof(err)) != 0)
                USAGE("--shard: %s", err);
            break;
        case OPT_BLOCKLIST:
            o->blocklists[o->nblocklists++] = optarg;
            break;
        case OPT_ALLOWLIST:
            o->allowlist = optarg;
            break;
        case OPT_ALLOW_RESERVED:
            o->allow_reserved = 1;
            break;
        case OPT_FORCE:
            o->force = 1;
            break;
        case OPT_DRY_RUN:
            o->dry_run = 1;
            break;
        case OPT_RESUME:
            o->resume = optarg;
            break;
        case OPT_MATCH:
            o->matches[o->nmatches++] = optarg;
            break;
        case OPT_BASELINE:
            o->baseline = optarg;
            break;
        case OPT_CERT:
            o->cert = 1;
            break;
        case OPT_CERT_MAX:
            if (parse_uint(optarg, 1, JARM__CERT_MAX_LIMIT, &v) != 0)
                USAGE("bad --cert-max '%s' (bytes, 1-%d)", optarg, JARM__CERT_MAX_LIMIT);
            o->cert_max = (size_t)v;
            o->cert = 1;
            break;
        case OPT_PROXY:
            if (jarm__proxy_scheme(optarg) < 0)
                USAGE("bad --proxy '%s' (socks5:// or http://[user:pass@]host:port)", optarg);
            o->proxy = optarg;
            break;
        case OPT_COMPARE_DIRECT:
            o->compare_direct = 1;
            break;
        case OPT_REPEAT:
            if (parse_uint(optarg, 1, 1000, &v) != 0)
                USAGE("bad --repeat '%s' (1-1000)", optarg);
            o->repeat = (unsigned)v;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            o->help = 1;
            return 0;
        case 'V':
            o->version = 1;
            return 0;
        case ':':
            if (optopt)
                USAGE("option -%c needs an argument", optopt);
            USAGE("option %s needs an argument", argv[optind - 1]);
        default:
            if (optopt)
                USAGE("unknown option -%c (see --help)", optopt);
            USAGE("unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    if (o->compare_direct && o->proxy == NULL)
        USAGE("--compare-direct needs --proxy");
    if (o->compare_direct && o->repeat > 1)
        USAGE("--compare-direct and --repeat do not go together");
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (o->nargs == 0 && o->nfiles == 0)
        USAGE("no targets (give TARGET arguments or -i FILE; see --help)");
    return 0;
}

void jarm__cli_opts_free(jarm__cli_opts_t *o)
{
    free(o->files);
    o->files = NULL;
    free(o->blocklists);
    o->blocklists = NULL;
    free(o->matches);
    o->matches = NULL;
}
