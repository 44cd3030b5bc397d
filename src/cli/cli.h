/*
 * cli.h - the jarmsweep command line: options and subcommands.
 */
#ifndef JARM_CLI_H_
#define JARM_CLI_H_

#include <stddef.h>
#include <stdint.h>

#include "output.h"
#include "target.h"

#define JARM__CLI_PORTS_MAX 65535

typedef struct jarm__cli_opts_s {
    char **args; /* positional targets */
    int nargs;
    char **files; /* -i */
    int nfiles;
    uint16_t ports[JARM__CLI_PORTS_MAX];
    size_t nports;
    const char *output;
    jarm__format_t format;
    unsigned concurrency, probe_parallel, per_ip;
    double timeout, rate;
    const char *sni;
    const char *resolvers; /* --resolvers, NULL = resolv.conf */
    int family;            /* 0, 4 or 6 */
    int all_addresses;
    unsigned dns_concurrency, dns_timeout_ms, dns_tries;
    uint64_t seed;
    int seed_set;
    uint32_t shard_i, shard_n;
    char **blocklists; /* --blocklist, repeatable */
    int nblocklists;
    const char *allowlist;
    int allow_reserved, force, dry_run;
    const char *resume;
    const char *proxy;  /* --proxy socks5:// or http://[user:pass@]host:port, as given */
    int compare_direct; /* --compare-direct */
    unsigned repeat;    /* --repeat N (0: not given) */
    char **matches;    /* --match FILE|NAME, repeatable */
    int nmatches;
    const char *baseline; /* --baseline FILE */
    int cert;             /* --cert */
    size_t cert_max;      /* --cert-max BYTES */
    int quiet, help, version;
} jarm__cli_opts_t;

/* --help, in pieces (C limits string literals to 4095 bytes); NULL-terminated. */
extern const char *const jarm__cli_help[];

/* Parse argv into o. Returns 0, or -1 with a one-line usage error in msg. */
int jarm__cli_parse(int argc, char **argv, jarm__cli_opts_t *o, char *msg, size_t msglen);
void jarm__cli_opts_free(jarm__cli_opts_t *o);

/* `jarmsweep explain [--format text|ndjson] FP`; argv[0] is "explain". Returns the process
 * exit code: 0, 2 (usage error or bad fingerprint) or 1 (standard output not writable). */
int jarm__cli_explain(int argc, char **argv);
/* `jarmsweep diff [--format text|ndjson] FP1 FP2`; argv[0] is "diff". Exit codes as explain:
 * 0 whether or not the fingerprints differ. */
int jarm__cli_diff(int argc, char **argv);

#endif /* JARM_CLI_H_ */
