/*
 * feed.c - what the engine scans, in a reproducible order.
 *
 * Every input line becomes an entry in one ordered queue: an IP target (expanded over
 * --ports), a host name (resolved by c-ares on the loop, then expanded over its addresses
 * and ports), a range (a seeded, sharded, blocklisted permutation of addresses x ports from
 * iter.c) or an unparsable line (one bad_target row). The engine pulls units from the head
 * only, so the order of units never depends on DNS timing; names further back are already
 * being resolved while the head is expanded, so lookups still overlap. The queue holds at
 * most QUEUE_MAX lines, so memory is flat whatever the input size.
 *
 * Units. Each target handed to the engine and each row written here directly (bad_target,
 * dns_error) is a unit with a sequence number. Given the same arguments, input and seed the
 * sequence is the same in every run, which is what --resume relies on: the checkpoint holds
 * the low watermark (every unit below it is complete) and the completed units above it. A
 * resumed run walks the same sequence and skips those units without scanning them. Units
 * complete out of order; a ring of bits from the watermark tracks them.
 *
 * --shard I/N: ranges are sharded by iter.c (disjoint parts of each permutation); explicit
 * lines go to the shard of their ordinal among non-empty lines, so every line, bad ones
 * included, belongs to exactly one shard.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli/app.h"
#include "iter.h"
#include "range.h"
#include "target.h"

/* Input lines queued behind the head at most (names being resolved, IPs waiting). */
#define QUEUE_MAX 512

typedef enum entry_kind_e { E_IP, E_NAME, E_RANGE, E_BAD } entry_kind_t;

typedef struct jarm__entry_s {
    struct jarm__entry_s *next;
    app_t *app;
    entry_kind_t kind;
    int submitted, resolved;
    jarm__dns_status_t status;
    jarm__line_t line;
    jarm__target_spec_t spec;
    /* Unit numbers: entries whose unit count is known when the line is read (IP targets,
     * bad lines, names without --all-addresses) get a block of them in input order, so they
     * may be produced while a name ahead of them is still being resolved. Ranges and names
     * with --all-addresses number their units as they produce them, at the head only; the
     * entries behind them get their blocks when they are gone. */
    int assigned;
    uint64_t seq0, used;
    jarm__iter_t it; /* E_RANGE */
    int it_on;
    size_t naddrs, addr_idx, port_idx;
    struct sockaddr_storage addrs[JARM__DNS_MAX_ADDRS];
} entry_t;

uint64_t jarm__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- completion tracking ---- */

static int ring_get(const app_t *app, uint64_t seq)
{
    uint64_t i = seq & (app->ring_cap - 1);
    return app->ring[i >> 3] >> (i & 7) & 1;
}

static void ring_set(app_t *app, uint64_t seq, int v)
{
    uint64_t i = seq & (app->ring_cap - 1);
    if (v)
        app->ring[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        app->ring[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* Room for unit numbers up to seq in the ring; doubles it when needed. */
static int ring_fit(app_t *app, uint64_t seq)
{
    uint64_t cap = app->ring_cap;
    uint8_t *old = app->ring;
    if (seq - app->low < cap)
        return 0;
    while (seq - app->low >= cap)
        cap *= 2;
    app->ring = calloc(cap / 8, 1);
    if (app->ring == NULL) {
        app->ring = old;
        return -1;
    }
    for (uint64_t s = app->low; s < app->low + app->ring_cap; s++) {
        uint64_t i = s & (app->ring_cap - 1);
        if (old[i >> 3] >> (i & 7) & 1) {
            uint64_t j = s & (cap - 1);
            app->ring[j >> 3] |= (uint8_t)(1u << (j & 7));
        }
    }
    free(old);
    app->ring_cap = cap;
    return 0;
}

void jarm__feed_complete(app_t *app, uint64_t seq)
{
    if (seq < app->low)
        return;
    ring_set(app, seq, 1);
    while (app->low < app->seq_next && ring_get(app, app->low)) {
        ring_set(app, app->low, 0);
        app->low++;
    }
}

/* Was this unit done by an earlier run (--resume)? */
static int resumed_done(const app_t *app, uint64_t seq)
{
    size_t lo = 0, hi = app->resume_ndone;
    if (seq < app->resume_low)
        return 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (app->resume_done[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < app->resume_ndone && app->resume_done[lo] == seq;
}

/* Number the next unit of e. Returns 1 if it must be produced, 0 if an earlier run did it. */
static int unit_begin(app_t *app, entry_t *e, uint64_t *seq)
{
    *seq = e->assigned ? e->seq0 + e->used++ : app->seq_next++;
    if (ring_fit(app, *seq) != 0) {
        /* Out of memory for the bookkeeping: claiming units done that are not would lose
         * them for a resumed run, so the run fails here instead. */
        jarm__app_fail(app, "out of memory");
        return 0;
    }
    if (resumed_done(app, *seq) || app->opts.dry_run) {
        jarm__feed_complete(app, *seq);
        return 0;
    }
    return 1;
}

/* ---- rows written here ---- */

static void emit_error(app_t *app, entry_t *en, jarm_status_t status, const char *error,
                       const char *host, size_t host_len, unsigned port)
{
    const jarm__line_t *l = &en->line;
    uint64_t seq;
    jarm__row_t row;

    if (!app->opts.quiet && status == JARM_STATUS_BAD_TARGET &&
        (l->source == NULL || app->opts.dry_run)) {
        if (l->source == NULL)
            fprintf(stderr, "jarmsweep: argument %llu: %s\n", (unsigned long long)l->lineno, error);
        else
            fprintf(stderr, "jarmsweep: %s:%llu: %s\n", l->source, (unsigned long long)l->lineno,
                    error);
    }
    if (!unit_begin(app, en, &seq))
        return;
    jarm__row_unscanned(&row, status, error, host, host_len, port, l->source, l->lineno,
                        jarm__wall_ms());
    app->bad_rows++;
    jarm__app_row(app, &row.r, seq);
}

/* --dry-run: the unit as `host:port` ([v6]:port), scan order. */
static void dry_print(app_t *app, const char *host, size_t host_len, uint16_t port)
{
    if (memchr(host, ':', host_len) != NULL)
        jarm__buf_printf(&app->row, "[%.*s]:%u\n", (int)host_len, host, port);
    else
        jarm__buf_printf(&app->row, "%.*s:%u\n", (int)host_len, host, port);
    jarm__app_emit(app, JARM__NO_UNIT);
}

/* ---- names ---- */

static void on_resolved(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                        size_t naddrs)
{
    entry_t *e = data;
    app_t *app = e->app;

    e->resolved = 1;
    e->status = status;
    e->naddrs = naddrs < JARM__DNS_MAX_ADDRS ? naddrs : JARM__DNS_MAX_ADDRS;
    if (e->naddrs > 0)
        memcpy(e->addrs, addrs, e->naddrs * sizeof(*addrs));
    if (status == JARM__DNS_OK && e->naddrs == 0)
        e->status = JARM__DNS_NO_ADDRESS;
    app->names_pending--;
    if (!app->closing)
        jarm__scan_wake(app->scan); /* a no-op when this runs inside the pull itself */
}

/* Hand queued names to the resolver, in order, while it takes them. */
static void submit_names(app_t *app)
{
    while (app->next_submit != NULL) {
        entry_t *e = app->next_submit;
        if (e->kind == E_NAME && !e->submitted) {
            if (app->opts.dry_run || (app->opts.proxy != NULL && !app->opts.compare_direct)) {
                /* Dry runs print names; a proxy resolves them itself (socks5h, CONNECT by name);
                 * with --compare-direct they are resolved here too, for the direct pass. */
                e->resolved = 1; /* printed as name:port, never looked up */
                e->status = JARM__DNS_OK;
            } else {
                if (!jarm__resolver_can_submit(&app->resolver))
                    return;
                e->submitted = 1;
                app->names_pending++;
                if (jarm__resolver_resolve(&app->resolver, e->spec.host, on_resolved, e) != 0)
                    on_resolved(e, JARM__DNS_ERROR, NULL, 0);
            }
        }
        app->next_submit = e->next;
    }
}

/* ---- the queue ---- */

static entry_t *entry_new(app_t *app)
{
    entry_t *e = app->free_entries;
    if (e != NULL)
        app->free_entries = e->next;
    else if ((e = malloc(sizeof(*e))) == NULL)
        return NULL;
    memset(e, 0, offsetof(entry_t, addrs));
    e->app = app;
    return e;
}

/* Units of e, when known before it is produced; 0 when not (see entry_t). */
static uint64_t entry_units(const app_t *app, const entry_t *e)
{
    switch (e->kind) {
    case E_BAD:
        return 1;
    case E_IP:
        return e->spec.port ? 1 : app->opts.nports;
    case E_NAME:
        if (app->opts.all_addresses && !app->opts.dry_run &&
            (app->opts.proxy == NULL || app->opts.compare_direct))
            return 0;
        return e->spec.port ? 1 : app->opts.nports;
    case E_RANGE:
        return 0;
    }
    return 0;
}

/* Give unit blocks to the entries from e on, in order, up to the first that cannot have one. */
static void assign_from(app_t *app, entry_t *e)
{
    for (; e != NULL && !app->unassigned_tail; e = e->next) {
        uint64_t n;
        if (e->assigned)
            continue;
        if ((n = entry_units(app, e)) == 0) {
            app->unassigned_tail = 1; /* it numbers its own; those behind it wait */
            return;
        }
        e->assigned = 1;
        e->seq0 = app->seq_next;
        app->seq_next += n;
    }
}

/* e (anywhere in the queue) has no more units: unlink and recycle it. */
static void entry_pop(app_t *app, entry_t *e)
{
    entry_t *prev = NULL;

    if (app->head != e)
        for (prev = app->head; prev->next != e; prev = prev->next)
            ;
    if (prev != NULL)
        prev->next = e->next;
    else
        app->head = e->next;
    if (app->tail == e)
        app->tail = prev;
    if (app->next_submit == e)
        app->next_submit = e->next;
    app->queued--;
    if (e->it_on) {
        app->ranges_blocked += e->it.blocked;
        jarm__iter_free(&e->it);
    }
    if (!e->assigned) {
        /* It numbered its own units: the entries behind it can have blocks now. */
        app->unassigned_tail = 0;
        assign_from(app, app->head);
    }
    e->next = app->free_entries;
    app->free_entries = e;
}

static void entry_push(app_t *app, entry_t *e)
{
    e->next = NULL;
    if (app->tail)
        app->tail->next = e;
    else
        app->head = e;
    app->tail = e;
    if (app->next_submit == NULL)
        app->next_submit = e;
    app->queued++;
    assign_from(app, e);
}

static void fill_target(jarm__target_t *t, const entry_t *e, const char *host, size_t host_len,
                        const struct sockaddr_storage *addr, uint16_t port)
{
    t->by_name = 0;
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    t->host_len = host_len;
    memcpy(&t->addr, addr, sizeof(t->addr));
    if (t->addr.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
        a->sin_port = htons(port);
        inet_ntop(AF_INET, &a->sin_addr, t->ip, sizeof(t->ip));
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;
        a->sin6_port = htons(port);
        inet_ntop(AF_INET6, &a->sin6_addr, t->ip, sizeof(t->ip));
    }
    t->port = port;
    t->source = e->line.source;
    t->lineno = e->line.lineno;
}

/*
 * The next unit of the head entry: 1 = t filled, 0 = a unit was handled here (row, skip,
 * dry run) or the entry ended. Pops the entry when it has no more units.
 */
static int produce(app_t *app, entry_t *e, jarm__target_t *t)
{
    const jarm__cli_opts_t *o = &app->opts;
    size_t nports = e->spec.port ? 1 : o->nports;
    uint16_t port = e->spec.port ? e->spec.port : o->ports[e->port_idx];
    uint64_t seq;
    int go, ret = 0;

    switch (e->kind) {
    case E_BAD: {
        size_t n = e->line.len;
        while (n > 0 && (e->line.text[n - 1] == '\r' || e->line.text[n - 1] == '\n'))
            n--;
        emit_error(app, e, JARM_STATUS_BAD_TARGET, e->spec.error, e->line.text, n, 0);
        entry_pop(app, e);
        return 0;
    }
    case E_RANGE: {
        struct sockaddr_storage ss;
        uint64_t index;
        char ip[INET6_ADDRSTRLEN];
        if (jarm__iter_next(&e->it, &ss, &index) != 1) {
            entry_pop(app, e);
            return 0;
        }
        if (!unit_begin(app, e, &seq)) {
            if (o->dry_run) {
                char ep[JARM__ENDPOINT_STRLEN];
                jarm__endpoint_format(&ss, ep, sizeof(ep));
                jarm__buf_printf(&app->row, "%s\n", ep);
                jarm__app_emit(app, JARM__NO_UNIT);
            }
            return 0;
        }
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
        fill_target(t, e, ip, strlen(ip), &ss,
                    ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port));
        t->seq = seq;
        return 1;
    }
    case E_IP:
        go = unit_begin(app, e, &seq);
        if (go) {
            fill_target(t, e, e->spec.host, e->spec.host_len, &e->spec.addr, port);
            /* The reference reports an IP literal exactly as given. */
            if (e->spec.host_len < sizeof(t->ip))
                memcpy(t->ip, e->spec.host, e->spec.host_len + 1);
            t->seq = seq;
            ret = 1;
        } else if (o->dry_run) {
            dry_print(app, e->spec.host, e->spec.host_len, port);
        }
        if (++e->port_idx >= nports)
            entry_pop(app, e);
        return ret;
    case E_NAME:
        if (o->dry_run) {
            unit_begin(app, e, &seq);
            dry_print(app, e->spec.host, e->spec.host_len, port);
            if (++e->port_idx >= nports)
                entry_pop(app, e);
            return 0;
        }
        if (o->proxy != NULL && !o->compare_direct) {
            go = unit_begin(app, e, &seq);
            if (go) {
                struct sockaddr_storage none;
                memset(&none, 0, sizeof(none));
                fill_target(t, e, e->spec.host, e->spec.host_len, &none, port);
                t->ip[0] = '\0';
                t->by_name = 1;
                t->seq = seq;
                ret = 1;
            }
            if (++e->port_idx >= nports)
                entry_pop(app, e);
            return ret;
        }
        if (e->status != JARM__DNS_OK || e->naddrs == 0) {
            /* One row per (name, port), as if each had been scanned. */
            emit_error(app, e, JARM_STATUS_DNS_ERROR, jarm__dns_status_name(e->status),
                       e->spec.host, e->spec.host_len, port);
            if (++e->port_idx >= nports)
                entry_pop(app, e);
            return 0;
        }
        go = unit_begin(app, e, &seq);
        if (go) {
            fill_target(t, e, e->spec.host, e->spec.host_len, &e->addrs[e->addr_idx], port);
            t->by_name = o->proxy != NULL; /* --compare-direct: the proxy still gets the name */
            t->seq = seq;
            ret = 1;
        }
        /* Ports within an address, then the next address (--all-addresses). */
        if (++e->port_idx >= nports) {
            e->port_idx = 0;
            if (!o->all_addresses || ++e->addr_idx >= e->naddrs)
                entry_pop(app, e);
        }
        return ret;
    }
    return 0;
}

/* Turn an input line into a queue entry (or nothing: skipped, another shard's). */
static void take_line(app_t *app, const jarm__line_t *l)
{
    const jarm__cli_opts_t *o = &app->opts;
    jarm__range_t range;
    entry_t *e;
    char err[128];
    int r;

    if (!l->truncated) {
        const char *p = l->text;
        size_t n = l->len;
        while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
            n--;
        }
        if (n == 0 || *p == '#' || (n == 1 && *p == '\r'))
            return;
    }
    /* Explicit lines are sharded by ordinal; ranges inside the iterator. */
    r = l->truncated ? JARM__RANGE_NONE
                     : jarm__range_parse(l->text, l->len, o->force ? JARM__RANGE_FORCE : 0, &range,
                                         err, sizeof(err));
    if (r != JARM__RANGE_OK) {
        uint64_t ord = app->line_ordinal++;
        jarm__target_spec_t spec;
        memset(&spec, 0, sizeof(spec));
        if (!l->truncated)
            jarm__target_parse(l->text, l->len, &spec);
        if (!l->truncated && spec.kind == JARM__TARGET_SKIP)
            return;
        if (ord % o->shard_n != o->shard_i)
            return;
        if ((e = entry_new(app)) == NULL) {
            jarm__app_fail(app, "out of memory");
            return;
        }
        e->line = *l;
        e->spec = spec;
        if (l->truncated) {
            e->kind = E_BAD;
            snprintf(e->spec.error, sizeof(e->spec.error), "line too long");
        } else if (r == JARM__RANGE_BAD) {
            e->kind = E_BAD;
            snprintf(e->spec.error, sizeof(e->spec.error), "%.95s", err);
        } else {
            e->kind = spec.kind == JARM__TARGET_BAD    ? E_BAD
                      : spec.kind == JARM__TARGET_NAME ? E_NAME
                                                       : E_IP;
        }
        entry_push(app, e);
        return;
    }
    if ((e = entry_new(app)) == NULL) {
        jarm__app_fail(app, "out of memory");
        return;
    }
    e->line = *l;
    e->kind = E_RANGE;
    if (jarm__iter_init(&e->it, &range, 1, o->ports, o->nports, app->seed, o->shard_i, o->shard_n,
                        app->blocklist_on ? &app->blocklist : NULL, err, sizeof(err)) != 0) {
        e->kind = E_BAD;
        snprintf(e->spec.error, sizeof(e->spec.error), "%.95s", err);
    } else {
        e->it_on = 1;
    }
    entry_push(app, e);
}

int jarm__feed_pull(jarm__scan_t *s, jarm__target_t *t)
{
    app_t *app = s->data;

    for (;;) {
        entry_t *e;
        jarm__line_t line;
        int r;

        if (app->failed)
            return -1; /* a write error or no memory: stop at once */
        if (jarm__app_hold(app))
            return 0;
        submit_names(app);
        /* The first entry that can produce: names still being resolved are passed over,
         * as long as what follows them has its unit numbers already. */
        for (e = app->head; e != NULL; e = e->next) {
            if (e != app->head && !e->assigned) {
                e = NULL;
                break;
            }
            if (e->kind != E_NAME || e->resolved)
                break;
        }
        if (e != NULL) {
            if (produce(app, e, t) == 1) {
                app->pull_units = 0;
                return 1;
            }
            continue;
        }
        if (app->queued >= QUEUE_MAX)
            return 0; /* the head waits for the resolver, whose answer wakes the engine */
        if (app->input_eof)
            return app->head != NULL ? 0 : -1;
        r = jarm__input_pop(&app->input, &line);
        if (r == 0)
            return 0;
        if (r < 0) {
            app->input_eof = 1;
            continue;
        }
        take_line(app, &line);
    }
}

/* ---- setup, checkpoint ---- */

/* FNV-1a over what defines the unit sequence, so a checkpoint only resumes the same sweep. */
static uint64_t fp_add(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t fp_str(uint64_t h, const char *s)
{
    return fp_add(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t sweep_fingerprint(const app_t *app)
{
    const jarm__cli_opts_t *o = &app->opts;
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < o->nargs; i++)
        h = fp_str(h, o->args[i]);
    for (int i = 0; i < o->nfiles; i++)
        h = fp_str(h, o->files[i]);
    for (int i = 0; i < o->nblocklists; i++)
        h = fp_str(h, o->blocklists[i]);
    h = fp_str(h, o->allowlist);
    h = fp_add(h, o->ports, o->nports * sizeof(o->ports[0]));
    h = fp_add(h, &app->seed, sizeof(app->seed));
    h = fp_add(h, &o->shard_i, sizeof(o->shard_i));
    h = fp_add(h, &o->shard_n, sizeof(o->shard_n));
    h = fp_add(h, &o->allow_reserved, sizeof(o->allow_reserved));
    h = fp_add(h, &o->force, sizeof(o->force));
    h = fp_add(h, &o->all_addresses, sizeof(o->all_addresses));
    h = fp_add(h, &o->family, sizeof(o->family));
    h = fp_str(h, o->proxy);
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Take FILE.lock (created beside the checkpoint, kept) so that two runs never write one
 * checkpoint, and learn now, not at the first checkpoint, that the directory is writable.
 * The lock goes with the process. Returns 0 or -1 with msg.
 */
static int resume_lock(app_t *app, char *msg, size_t msglen)
{
    char path[4096];
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s.lock", app->opts.resume) >= sizeof(path)) {
        snprintf(msg, msglen, "--resume: file name too long");
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(msg, msglen, "%s: in use by another jarmsweep run (%s is locked)",
                     app->opts.resume, path);
        else
            snprintf(msg, msglen, "%s: %s", path, strerror(e));
        return -1;
    }
    app->resume_lock_fd = fd;
    return 0;
}

/* Read a checkpoint. Returns 0 (loaded or absent) or -1 with msg. */
static int resume_load(app_t *app, char *msg, size_t msglen)
{
    FILE *f = fopen(app->opts.resume, "r");
    char word[32];
    unsigned long long v, fp = 0, seed = 0, low = 0;
    size_t cap = 0;
    int have_seed = 0;

    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(msg, msglen, "%s: %s", app->opts.resume, strerror(errno));
        return -1;
    }
    if (fscanf(f, "jarmsweep-resume %llu", &v) != 1 || v != 1)
        goto Bad;
    while (fscanf(f, "%31s", word) == 1) {
        if (strcmp(word, "fingerprint") == 0 && fscanf(f, "%llx", &fp) == 1)
            continue;
        if (strcmp(word, "seed") == 0 && fscanf(f, "%llu", &seed) == 1) {
            have_seed = 1;
            continue;
        }
        if (strcmp(word, "next") == 0 && fscanf(f, "%llu", &low) == 1)
            continue;
        if (strcmp(word, "done") == 0) {
            while (fscanf(f, "%llu", &v) == 1) {
                if (app->resume_ndone == cap) {
                    uint64_t *p;
                    cap = cap ? cap * 2 : 1024;
                    if ((p = realloc(app->resume_done, cap * sizeof(*p))) == NULL)
                        goto Bad;
                    app->resume_done = p;
                }
                app->resume_done[app->resume_ndone++] = v;
            }
            break;
        }
        goto Bad;
    }
    fclose(f);
    if (!have_seed)
        goto BadClosed;
    if (app->opts.seed_set && app->opts.seed != seed) {
        snprintf(msg, msglen, "%s: written with --seed %llu, not %llu", app->opts.resume, seed,
                 (unsigned long long)app->opts.seed);
        return -1;
    }
    app->seed = seed;
    app->resume_low = low;
    if (app->resume_ndone > 0)
        qsort(app->resume_done, app->resume_ndone, sizeof(uint64_t), cmp_u64);
    if (sweep_fingerprint(app) != fp) {
        snprintf(msg, msglen, "%s: written by a run with other targets or options",
                 app->opts.resume);
        return -1;
    }
    return 0;
Bad:
    fclose(f);
BadClosed:
    snprintf(msg, msglen, "%s: not a jarmsweep checkpoint", app->opts.resume);
    return -1;
}

int jarm__feed_checkpoint(app_t *app)
{
    char tmp[4096];
    FILE *f;
    int err = 0;

    if (app->opts.resume == NULL || app->opts.dry_run)
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", app->opts.resume);
    if ((f = fopen(tmp, "w")) == NULL)
        return errno;
    fprintf(f,
            "jarmsweep-resume 1\nfingerprint %016" PRIx64 "\nseed %" PRIu64 "\nnext %" PRIu64
            "\ndone",
            sweep_fingerprint(app), app->seed, app->low);
    for (uint64_t s = app->low; s < app->seq_next; s++)
        if (ring_get(app, s))
            fprintf(f, " %" PRIu64, s);
    /* Units of the previous run above our watermark that we skipped stay done. */
    for (size_t i = 0; i < app->resume_ndone; i++)
        if (app->resume_done[i] >= app->seq_next)
            fprintf(f, " %" PRIu64, app->resume_done[i]);
    fputc('\n', f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        err = errno;
    if (fclose(f) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, app->opts.resume) != 0)
        err = errno;
    return err;
}

/* The default blocklist: beside an installed binary, else in the source tree. */
static const char *default_blocklist(void)
{
    static const char *const paths[] = {JARM_BLOCKLIST_INSTALLED, JARM_BLOCKLIST_SOURCE};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

int jarm__feed_init(app_t *app, char *msg, size_t msglen)
{
    jarm__cli_opts_t *o = &app->opts;
    char err[256];

    app->ring_cap = 1 << 16;
    if ((app->ring = calloc(app->ring_cap / 8, 1)) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (o->seed_set) {
        app->seed = o->seed;
    } else if (RAND_bytes((unsigned char *)&app->seed, sizeof(app->seed)) != 1) {
        app->seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    }
    app->seed &= (((uint64_t)1) << 53) - 1; /* printable and exact in JSON tools */
    if (o->resume != NULL && !o->dry_run && resume_lock(app, msg, msglen) != 0)
        return -1;
    if (o->resume != NULL && resume_load(app, msg, msglen) != 0)
        return -1;

    /* zmap's painting order: everything allowed (or only the allowlist), then the reserved
     * ranges denied unless --allow-reserved, then each --blocklist. */
    if (jarm__blocklist_init(&app->blocklist, o->allowlist == NULL) != 0) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    app->blocklist_on = 1;
    if (o->allowlist != NULL &&
        jarm__blocklist_load(&app->blocklist, o->allowlist, 1, err, sizeof(err)) < 0) {
        snprintf(msg, msglen, "%s", err);
        return -1;
    }
    if (!o->allow_reserved) {
        const char *def = default_blocklist();
        if (def == NULL) {
            snprintf(msg, msglen,
                     "default blocklist not found (%s); give --blocklist FILE or "
                     "--allow-reserved",
                     JARM_BLOCKLIST_INSTALLED);
            return -1;
        }
        if (jarm__blocklist_load(&app->blocklist, def, 0, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "%s", err);
            return -1;
        }
    }
    for (int i = 0; i < o->nblocklists; i++)
        if (jarm__blocklist_load(&app->blocklist, o->blocklists[i], 0, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "%s", err);
            return -1;
        }
    if (o->nmatches > 0) {
        jarm__fplist_init(&app->fplist);
        app->fplist_on = 1;
        for (int i = 0; i < o->nmatches; i++)
            if (jarm__fplist_load_spec(&app->fplist, o->matches[i], JARM_FINGERPRINT_DIRS, err,
                                       sizeof(err)) < 0) {
                snprintf(msg, msglen, "--match: %s", err);
                return -1;
            }
    }
    if (o->baseline != NULL) {
        jarm__baseline_init(&app->baseline);
        app->baseline_on = 1;
        if (jarm__baseline_load(&app->baseline, o->baseline, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "--baseline: %s", err);
            return -1;
        }
    }
    return 0;
}

/* The match, match_prefix, baseline and baseline_jarm annotations of a scanned target. */
void jarm__feed_annotate(app_t *app, jarm__row_t *row)
{
    jarm_result_t *r = &row->r;
    size_t fl = strlen(r->jarm);

    if (app->fplist_on) {
        size_t nexact = 0, nprefix = 0;
        jarm__fplist_match(&app->fplist, r->jarm, fl, row->labels, &nexact,
                           row->labels + JARM__ROW_LABELS, &nprefix, JARM__ROW_LABELS);
        r->match = row->labels;
        r->nmatch = nexact;
        r->match_prefix = row->labels + JARM__ROW_LABELS;
        r->nmatch_prefix = nprefix;
    }
    if (app->baseline_on) {
        const char *old = NULL;
        jarm__baseline_verdict_t v =
            jarm__baseline_check(&app->baseline, r->host, r->host_len, r->port, r->jarm, fl, &old);
        app->baseline_count[v]++;
        r->baseline = jarm__baseline_verdict_name(v);
        if (v == JARM__BASELINE_CHANGED)
            r->baseline_jarm = old;
    }
}

void jarm__feed_free(app_t *app)
{
    while (app->head != NULL)
        entry_pop(app, app->head);
    while (app->free_entries != NULL) {
        entry_t *e = app->free_entries;
        app->free_entries = e->next;
        free(e);
    }
    if (app->blocklist_on)
        jarm__blocklist_free(&app->blocklist);
    if (app->fplist_on)
        jarm__fplist_free(&app->fplist);
    if (app->baseline_on)
        jarm__baseline_free(&app->baseline);
    free(app->ring);
    free(app->resume_done);
    app->ring = NULL;
    app->resume_done = NULL;
    if (app->resume_lock_fd > 0) {
        close(app->resume_lock_fd);
        app->resume_lock_fd = 0;
    }
}
