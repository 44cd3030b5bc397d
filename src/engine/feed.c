/*
 * feed.c - the scanner's target source: what the engine scans, in a reproducible order.
 *
 * Every input line becomes an entry in one ordered queue: an IP target (expanded over
 * --ports), a host name (resolved by c-ares on the loop, then expanded over its addresses
 * and ports), a range (a seeded, sharded, blocklisted permutation of addresses x ports from
 * iter.c) or an unparsable line (one bad_target row). The engine pulls units from the head
 * only, so the order of units never depends on DNS timing; names further back are already
 * being resolved while the head is expanded, so lookups still overlap. The queue holds at
 * most QUEUE_MAX lines, so memory is flat whatever the input size.
 *
 * Units. Each target handed to the engine and each row without a scan (bad_target,
 * dns_error, an error of memory: the client's unscanned hook) is a unit with a sequence
 * number. Given the same arguments, input and seed the sequence is the same in every run,
 * which is what --resume relies on: the checkpoint holds the low watermark (every unit below
 * it is complete) and the completed units above it. A resumed run walks the same sequence and
 * skips those units without scanning them. Units complete out of order; a ring of bits from
 * the watermark tracks them (units.c).
 *
 * --shard I/N: ranges are sharded by iter.c (disjoint parts of each permutation); explicit
 * lines go to the shard of their ordinal among non-empty lines, so every line, bad ones
 * included, belongs to exactly one shard.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iter.h"
#include "jarm.h"
#include "range.h"
#include "scanner.h"
#include "target.h"

/* Input lines queued behind the head at most (names being resolved, IPs waiting). */
#define QUEUE_MAX 512
/* Units handled in one pull without a target before the client is offered a yield. */
#define PULL_YIELD 4096

typedef enum entry_kind_e { E_IP, E_NAME, E_RANGE, E_BAD } entry_kind_t;

typedef struct jarm__entry_s {
    struct jarm__entry_s *next;
    jarm__scanner_t *sc;
    entry_kind_t kind;
    int oom; /* E_BAD: no memory for the line's entry (this is the reserve): an "error" row */
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

/* ---- unit numbers (units.c keeps which are complete) ---- */

/* Number the next unit of e. Returns 1 if it must be produced, 0 if an earlier run did it. */
static int unit_begin(jarm__scanner_t *sc, entry_t *e, uint64_t *seq)
{
    *seq = e->assigned ? e->seq0 + e->used++ : sc->seq_next++;
    if (jarm__units_fit(sc, *seq) != 0) {
        /* Out of memory for the bookkeeping: claiming units done that are not would lose
         * them for a resumed run, so the run fails here instead. */
        jarm__scanner_fail(sc, "out of memory");
        return 0;
    }
    if (jarm__units_resumed(sc, *seq) || sc->opts.dry_run) {
        jarm__scanner_complete(sc, *seq);
        return 0;
    }
    return 1;
}

/* ---- rows written here ---- */

static void emit_error(jarm__scanner_t *sc, entry_t *en, jarm_status_t status, const char *error,
                       const char *host, size_t host_len, unsigned port)
{
    const jarm__line_t *l = &en->line;
    uint64_t seq;
    jarm__row_t row;

    jarm__row_unscanned(&row, status, error, host, host_len, port, l->source, l->lineno,
                        jarm__wall_ms());
    if (sc->hooks.bad_line != NULL && status == JARM_STATUS_BAD_TARGET)
        sc->hooks.bad_line(sc, &row.r);
    if (!unit_begin(sc, en, &seq))
        return;
    if (sc->hooks.unscanned != NULL)
        sc->hooks.unscanned(sc, &row, seq);
}

/* --dry-run: the unit as `host:port` ([v6]:port), scan order. */
static void dry_print(jarm__scanner_t *sc, const char *host, size_t host_len, uint16_t port)
{
    char unit[JARM__LINE_MAX + 16];

    if (sc->hooks.dry == NULL)
        return;
    if (memchr(host, ':', host_len) != NULL)
        snprintf(unit, sizeof(unit), "[%.*s]:%u", (int)host_len, host, port);
    else
        snprintf(unit, sizeof(unit), "%.*s:%u", (int)host_len, host, port);
    sc->hooks.dry(sc, unit);
}

/* ---- names ---- */

static void on_resolved(void *data, jarm__dns_status_t status, const struct sockaddr_storage *addrs,
                        size_t naddrs)
{
    entry_t *e = data;
    jarm__scanner_t *sc = e->sc;

    e->resolved = 1;
    e->status = status;
    e->naddrs = naddrs < JARM__DNS_MAX_ADDRS ? naddrs : JARM__DNS_MAX_ADDRS;
    if (e->naddrs > 0)
        memcpy(e->addrs, addrs, e->naddrs * sizeof(*addrs));
    if (status == JARM__DNS_OK && e->naddrs == 0)
        e->status = JARM__DNS_NO_ADDRESS;
    sc->names_pending--;
    if (sc->state == JARM__SC_RUNNING || sc->state == JARM__SC_STOPPING)
        jarm__scan_wake(sc->scan); /* a no-op when this runs inside the pull itself */
}

/* Hand queued names to the resolver, in order, while it takes them. */
static void submit_names(jarm__scanner_t *sc)
{
    while (sc->next_submit != NULL) {
        entry_t *e = sc->next_submit;
        if (e->kind == E_NAME && !e->submitted) {
            if (sc->opts.dry_run || (sc->opts.proxy != NULL && !sc->opts.compare_direct)) {
                /* Dry runs print names; a proxy resolves them itself (socks5h, CONNECT by name);
                 * with --compare-direct they are resolved here too, for the direct pass. */
                e->resolved = 1; /* printed as name:port, never looked up */
                e->status = JARM__DNS_OK;
            } else {
                if (!jarm__resolver_can_submit(&sc->resolver))
                    return;
                e->submitted = 1;
                sc->names_pending++;
                if (jarm__resolver_resolve(&sc->resolver, e->spec.host, on_resolved, e) != 0)
                    on_resolved(e, JARM__DNS_ERROR, NULL, 0);
            }
        }
        sc->next_submit = e->next;
    }
}

/* ---- the queue ---- */

/*
 * An entry for the next line. When there is no memory for one, the reserve entry (allocated
 * at the start) carries the line, which then gets its row with status error, "out of memory";
 * while the reserve is in the queue NULL is returned and the line waits (sc->held).
 */
static entry_t *entry_new(jarm__scanner_t *sc)
{
    entry_t *e = sc->free_entries;
    int oom = 0;
    if (e != NULL) {
        sc->free_entries = e->next;
    } else if ((e = jarm__fault() ? NULL : malloc(sizeof(*e))) == NULL) {
        if (sc->reserve_busy)
            return NULL;
        e = sc->reserve;
        sc->reserve_busy = 1;
        oom = 1;
    }
    memset(e, 0, offsetof(entry_t, addrs));
    e->sc = sc;
    e->oom = oom;
    return e;
}

/* An entry taken by entry_new that got no line (skipped, another shard's). */
static void entry_unget(jarm__scanner_t *sc, entry_t *e)
{
    if (e == sc->reserve) {
        sc->reserve_busy = 0;
        return;
    }
    e->next = sc->free_entries;
    sc->free_entries = e;
}

/* Units of e, when known before it is produced; 0 when not (see entry_t). */
static uint64_t entry_units(const jarm__scanner_t *sc, const entry_t *e)
{
    switch (e->kind) {
    case E_BAD:
        return 1;
    case E_IP:
        return e->spec.port ? 1 : sc->opts.nports;
    case E_NAME:
        if (sc->opts.all_addresses && !sc->opts.dry_run &&
            (sc->opts.proxy == NULL || sc->opts.compare_direct))
            return 0;
        return e->spec.port ? 1 : sc->opts.nports;
    case E_RANGE:
        return 0;
    }
    return 0;
}

/* Give unit blocks to the entries from e on, in order, up to the first that cannot have one. */
static void assign_from(jarm__scanner_t *sc, entry_t *e)
{
    for (; e != NULL && !sc->unassigned_tail; e = e->next) {
        uint64_t n;
        if (e->assigned)
            continue;
        if ((n = entry_units(sc, e)) == 0) {
            sc->unassigned_tail = 1; /* it numbers its own; those behind it wait */
            return;
        }
        e->assigned = 1;
        e->seq0 = sc->seq_next;
        sc->seq_next += n;
    }
}

/* e (anywhere in the queue) has no more units: unlink and recycle it. */
static void entry_pop(jarm__scanner_t *sc, entry_t *e)
{
    entry_t *prev = NULL;

    if (sc->head != e)
        for (prev = sc->head; prev->next != e; prev = prev->next)
            ;
    if (prev != NULL)
        prev->next = e->next;
    else
        sc->head = e->next;
    if (sc->tail == e)
        sc->tail = prev;
    if (sc->next_submit == e)
        sc->next_submit = e->next;
    sc->queued--;
    if (e->it_on) {
        sc->ranges_blocked += e->it.blocked;
        jarm__iter_free(&e->it);
    }
    if (!e->assigned) {
        /* It numbered its own units: the entries behind it can have blocks now. */
        sc->unassigned_tail = 0;
        assign_from(sc, sc->head);
    }
    entry_unget(sc, e);
}

static void entry_push(jarm__scanner_t *sc, entry_t *e)
{
    e->next = NULL;
    if (sc->tail)
        sc->tail->next = e;
    else
        sc->head = e;
    sc->tail = e;
    if (sc->next_submit == NULL)
        sc->next_submit = e;
    sc->queued++;
    assign_from(sc, e);
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

/* A bad line's one row (bad_target, or error for a line without memory of its own). */
static int produce_bad(jarm__scanner_t *sc, entry_t *e)
{
    size_t n = e->line.len;
    while (n > 0 && (e->line.text[n - 1] == '\r' || e->line.text[n - 1] == '\n'))
        n--;
    emit_error(sc, e, e->oom ? JARM_STATUS_ERROR : JARM_STATUS_BAD_TARGET, e->spec.error,
               e->line.text, n, 0);
    entry_pop(sc, e);
    return 0;
}

/* The next address and port of a range, from its permutation. */
static int produce_range(jarm__scanner_t *sc, entry_t *e, jarm__target_t *t)
{
    struct sockaddr_storage ss;
    uint64_t index, seq;
    char ip[INET6_ADDRSTRLEN];

    if (jarm__iter_next(&e->it, &ss, &index) != 1) {
        entry_pop(sc, e);
        return 0;
    }
    if (!unit_begin(sc, e, &seq)) {
        if (sc->opts.dry_run && sc->hooks.dry != NULL) {
            char ep[JARM__ENDPOINT_STRLEN];
            jarm__endpoint_format(&ss, ep, sizeof(ep));
            sc->hooks.dry(sc, ep);
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

/* Step to e's next port; pop e after its last. */
static void next_port(jarm__scanner_t *sc, entry_t *e, size_t nports)
{
    if (++e->port_idx >= nports)
        entry_pop(sc, e);
}

/* An IP target on its next port. */
static int produce_ip(jarm__scanner_t *sc, entry_t *e, jarm__target_t *t, uint16_t port,
                      size_t nports)
{
    uint64_t seq;
    int ret = 0;

    if (unit_begin(sc, e, &seq)) {
        fill_target(t, e, e->spec.host, e->spec.host_len, &e->spec.addr, port);
        /* The reference reports an IP literal exactly as given. */
        if (e->spec.host_len < sizeof(t->ip))
            memcpy(t->ip, e->spec.host, e->spec.host_len + 1);
        t->seq = seq;
        ret = 1;
    } else if (sc->opts.dry_run) {
        dry_print(sc, e->spec.host, e->spec.host_len, port);
    }
    next_port(sc, e, nports);
    return ret;
}

/* A name on its next port (and address, with --all-addresses): by name through a proxy that
 * resolves it, else at the addresses the resolver found (or a dns_error row). */
static int produce_name(jarm__scanner_t *sc, entry_t *e, jarm__target_t *t, uint16_t port,
                        size_t nports)
{
    const jarm__scanner_opts_t *o = &sc->opts;
    uint64_t seq;
    int ret = 0;

    if (o->dry_run) {
        unit_begin(sc, e, &seq);
        dry_print(sc, e->spec.host, e->spec.host_len, port);
        next_port(sc, e, nports);
        return 0;
    }
    if (o->proxy != NULL && !o->compare_direct) {
        if (unit_begin(sc, e, &seq)) {
            struct sockaddr_storage none;
            memset(&none, 0, sizeof(none));
            fill_target(t, e, e->spec.host, e->spec.host_len, &none, port);
            t->ip[0] = '\0';
            t->by_name = 1;
            t->seq = seq;
            ret = 1;
        }
        next_port(sc, e, nports);
        return ret;
    }
    if (e->status != JARM__DNS_OK || e->naddrs == 0) {
        /* One row per (name, port), as if each had been scanned. */
        emit_error(sc, e, JARM_STATUS_DNS_ERROR, jarm__dns_status_name(e->status), e->spec.host,
                   e->spec.host_len, port);
        next_port(sc, e, nports);
        return 0;
    }
    if (unit_begin(sc, e, &seq)) {
        fill_target(t, e, e->spec.host, e->spec.host_len, &e->addrs[e->addr_idx], port);
        t->by_name = o->proxy != NULL; /* --compare-direct: the proxy still gets the name */
        t->seq = seq;
        ret = 1;
    }
    /* Ports within an address, then the next address (--all-addresses). */
    if (++e->port_idx >= nports) {
        e->port_idx = 0;
        if (!o->all_addresses || ++e->addr_idx >= e->naddrs)
            entry_pop(sc, e);
    }
    return ret;
}

/*
 * The next unit of the head entry: 1 = t filled, 0 = a unit was handled here (row, skip,
 * dry run) or the entry ended. Pops the entry when it has no more units.
 */
static int produce(jarm__scanner_t *sc, entry_t *e, jarm__target_t *t)
{
    size_t nports = e->spec.port ? 1 : sc->opts.nports;
    uint16_t port = e->spec.port ? e->spec.port : sc->opts.ports[e->port_idx];

    switch (e->kind) {
    case E_BAD:
        return produce_bad(sc, e);
    case E_RANGE:
        return produce_range(sc, e, t);
    case E_IP:
        return produce_ip(sc, e, t, port, nports);
    case E_NAME:
        return produce_name(sc, e, t, port, nports);
    }
    return 0;
}

/* e is a line that gets one row with status bad_target (or error, e->oom) saying why. */
static void entry_bad(entry_t *e, const char *why)
{
    e->kind = E_BAD;
    snprintf(e->spec.error, sizeof(e->spec.error), "%.95s", why);
}

/* Turn an input line into a queue entry (or nothing: skipped, another shard's). Returns 0, or
 * -1 when the line must wait for memory (the caller keeps it and tries again later). */
static int take_line(jarm__scanner_t *sc, const jarm__line_t *l)
{
    const jarm__scanner_opts_t *o = &sc->opts;
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
            return 0;
    }
    if ((e = entry_new(sc)) == NULL)
        return -1;
    /* Explicit lines are sharded by ordinal; ranges inside the iterator. */
    r = l->truncated ? JARM__RANGE_NONE
                     : jarm__range_parse(l->text, l->len, o->force ? JARM__RANGE_FORCE : 0, &range,
                                         err, sizeof(err));
    if (r != JARM__RANGE_OK) {
        uint64_t ord = sc->line_ordinal++;
        jarm__target_spec_t spec;
        memset(&spec, 0, sizeof(spec));
        if (!l->truncated)
            jarm__target_parse(l->text, l->len, &spec);
        if ((!l->truncated && spec.kind == JARM__TARGET_SKIP) || ord % o->shard_n != o->shard_i) {
            entry_unget(sc, e);
            return 0;
        }
        e->line = *l;
        e->spec = spec;
        if (e->oom || l->truncated || r == JARM__RANGE_BAD)
            entry_bad(e, e->oom ? "out of memory" : l->truncated ? "line too long" : err);
        else
            e->kind = spec.kind == JARM__TARGET_BAD    ? E_BAD
                      : spec.kind == JARM__TARGET_NAME ? E_NAME
                                                       : E_IP;
        entry_push(sc, e);
        return 0;
    }
    e->line = *l;
    e->kind = E_RANGE;
    if (e->oom)
        entry_bad(e, "out of memory");
    else if (jarm__iter_init(&e->it, &range, 1, o->ports, o->nports, o->seed, o->shard_i,
                             o->shard_n, sc->blocklist_on ? &sc->blocklist : NULL, err,
                             sizeof(err)) != 0)
        entry_bad(e, err);
    else
        e->it_on = 1;
    entry_push(sc, e);
    return 0;
}

int jarm__feed_pull(jarm__scan_t *s, jarm__target_t *t)
{
    jarm__scanner_t *sc = s->data;

    for (;;) {
        entry_t *e;
        jarm__line_t line;
        int r;

        if (sc->failed || sc->state == JARM__SC_CLOSING)
            return -1; /* a write error or no memory, or closed: stop at once */
        if (sc->hooks.hold != NULL) {
            /* Many units handled in this pull without a target (rows without a scan, a dry
             * run): the client may give its loop a turn. */
            int yield = ++sc->pull_units >= PULL_YIELD;
            if (yield)
                sc->pull_units = 0;
            if (sc->hooks.hold(sc, yield))
                return 0;
        }
        submit_names(sc);
        /* The first entry that can produce: names still being resolved are passed over,
         * as long as what follows them has its unit numbers already. */
        for (e = sc->head; e != NULL; e = e->next) {
            if (e != sc->head && !e->assigned) {
                e = NULL;
                break;
            }
            if (e->kind != E_NAME || e->resolved)
                break;
        }
        if (e != NULL) {
            if (produce(sc, e, t) == 1) {
                sc->pull_units = 0;
                return 1;
            }
            continue;
        }
        if (sc->queued >= QUEUE_MAX)
            return 0; /* the head waits for the resolver, whose answer wakes the engine */
        if (sc->held) {
            /* A line waiting for memory: again once the reserve entry has left the queue. */
            if (sc->reserve_busy)
                return sc->head != NULL ? 0 : -1;
            sc->held = 0;
            if (take_line(sc, &sc->held_line) != 0)
                sc->held = 1;
            continue;
        }
        if (sc->input_eof)
            return sc->head != NULL ? 0 : -1;
        r = jarm__input_pop(&sc->input, &line);
        if (r == 0)
            return 0;
        if (r < 0) {
            sc->input_eof = 1;
            continue;
        }
        if (take_line(sc, &line) != 0) {
            sc->held_line = line;
            sc->held = 1;
        }
    }
}

/* ---- setup ---- */

/* The default blocklist: beside an installed binary, else in the source tree. */
static const char *default_blocklist(void)
{
    static const char *const paths[] = {JARM_BLOCKLIST_INSTALLED, JARM_BLOCKLIST_SOURCE};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

int jarm__feed_init(jarm__scanner_t *sc, char *msg, size_t msglen)
{
    const jarm__scanner_opts_t *o = &sc->opts;
    char err[256];

    sc->ring_cap = 1 << 16;
    if ((sc->ring = jarm__fault() ? NULL : calloc(sc->ring_cap / 8, 1)) == NULL ||
        (sc->reserve = jarm__fault() ? NULL : malloc(sizeof(entry_t))) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return JARM_ENOBUFS;
    }
    /* zmap's painting order: everything allowed (or only the allowlist), then the reserved
     * ranges denied unless --allow-reserved, then each --blocklist. */
    if (jarm__blocklist_init(&sc->blocklist, o->allowlist == NULL) != 0) {
        snprintf(msg, msglen, "out of memory");
        return JARM_EINVAL;
    }
    sc->blocklist_on = 1;
    if (o->allowlist != NULL &&
        jarm__blocklist_load(&sc->blocklist, o->allowlist, 1, err, sizeof(err)) < 0) {
        snprintf(msg, msglen, "%s", err);
        return JARM_EINVAL;
    }
    if (!o->allow_reserved) {
        const char *def = default_blocklist();
        if (def == NULL) {
            snprintf(msg, msglen,
                     "default blocklist not found (%s); give --blocklist FILE or "
                     "--allow-reserved",
                     JARM_BLOCKLIST_INSTALLED);
            return JARM_EINVAL;
        }
        if (jarm__blocklist_load(&sc->blocklist, def, 0, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "%s", err);
            return JARM_EINVAL;
        }
    }
    for (int i = 0; i < o->nblocklists; i++)
        if (jarm__blocklist_load(&sc->blocklist, o->blocklists[i], 0, err, sizeof(err)) < 0) {
            snprintf(msg, msglen, "%s", err);
            return JARM_EINVAL;
        }
    return 0;
}

void jarm__feed_free(jarm__scanner_t *sc)
{
    while (sc->head != NULL)
        entry_pop(sc, sc->head);
    while (sc->free_entries != NULL) {
        entry_t *e = sc->free_entries;
        sc->free_entries = e->next;
        free(e);
    }
    free(sc->reserve);
    sc->reserve = NULL;
    if (sc->blocklist_on)
        jarm__blocklist_free(&sc->blocklist);
    sc->blocklist_on = 0;
    free(sc->ring);
    sc->ring = NULL;
}
