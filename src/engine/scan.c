/*
 * scan.c - the scan engine: the scanner's lifecycle, pulling targets, the pump that fills
 * the connection window, the flush that settles finished connections, the deadline list.
 *
 * Targets. A target steps GATE -> PROBING -> DONE. Probe 1 (the gate) runs alone; if it
 * times out the target is done at once with the reference's result for a timeout (ten empty
 * probes, 62 zeros) and nine connections are saved, which is what makes sweeps of mostly
 * dead space cheap. Otherwise probes 2..10 run with at most opts.probe_parallel in flight.
 * All ten go to the one address pinned in the target. As in the reference, a timeout on any
 * probe decides the whole target (the other connections are abandoned), while refusals,
 * resets and non-TLS replies only blank their own probe.
 *
 * Connections (conn.c) end in jarm__conn_finish(), which queues them; flush() then hands
 * results to their targets, returns connections to the free list and refills the window,
 * once per event batch and never from inside another callback. There is no per-connection
 * timer: every connection has the same timeout, so deadlines are ordered by start time and
 * one list plus one uv_timer_t serve them all.
 *
 * Scheduling. pump() fills the connection window, preferring probes of targets already in
 * flight (so targets finish and free their memory) over pulling new targets; pacing.c says
 * when a connection may start (rate, window, per-address limits). EMFILE, ENFILE,
 * EADDRNOTAVAIL and ENOBUFS shrink the window and retry the probe later; they never lose a
 * target. A target scanned several times (--repeat, --compare-direct) runs its passes one
 * after the other, each behind the targets pulled since the last one ended; result.c keeps
 * what each pass gave, and the target's one row comes after its last pass.
 */
#include <stdlib.h>
#include <string.h>

#include "scan_int.h"

static void on_kick(uv_timer_t *timer);

/* ---- deadlines: one list in start order, one timer for its head ---- */

static void on_deadline(uv_timer_t *timer);

static jarm__conn_t *dl_first(const jarm__scan_t *s)
{
    jarm__queue_t *q = jarm__queue_first(&s->deadlines);
    return q != NULL ? JARM__QUEUE_DATA(q, jarm__conn_t, node) : NULL;
}

static void dl_arm(jarm__scan_t *s)
{
    uint64_t now = uv_now(s->loop);
    jarm__conn_t *c = dl_first(s);
    if (c == NULL) {
        uv_timer_stop(&s->deadline_timer);
        return;
    }
    uv_timer_start(&s->deadline_timer, on_deadline, c->deadline > now ? c->deadline - now : 0, 0);
}

static void dl_append(jarm__scan_t *s, jarm__conn_t *c)
{
    c->deadline = c->start_ms + s->opts.timeout_ms;
    jarm__queue_insert_tail(&s->deadlines, &c->node);
    /* A later head is found by the timer itself; only a new first entry needs arming. */
    if (s->deadlines.next == &c->node && !uv_is_active((uv_handle_t *)&s->deadline_timer))
        dl_arm(s);
}

static void on_deadline(uv_timer_t *timer)
{
    jarm__scan_t *s = JARM__CONTAINER_OF(timer, jarm__scan_t, deadline_timer);
    uint64_t now = uv_now(s->loop);
    jarm__conn_t *c;

    while ((c = dl_first(s)) != NULL && c->deadline <= now) {
        jarm__queue_remove(&c->node); /* off the deadline list */
        jarm__conn_expire(c);
    }
    dl_arm(s);
    jarm__scan_flush(s);
}

/* ---- targets ---- */

/*
 * The probe t would start next, or -1 for none now; *alone is set for a confirmation. The
 * gate (probe 1) runs alone among its target's probes; probes 2..10 follow, at most
 * probe_parallel at once; then the confirmations, one at a time, once nothing else of the
 * target is in flight. A gate that failed while crowded is confirmed before anything else.
 */
int jarm__target_next(const jarm__scan_t *s, const jarm__target_t *t, int *alone)
{
    *alone = 0;
    if (t->abandoned)
        return -1;
    if (!t->gate_done) {
        if (t->in_flight > 0)
            return -1;
        if (t->confirm & 1u) {
            *alone = 1;
            return 0;
        }
        return (t->started & 1u) ? -1 : 0;
    }
    if (t->started != ALL_PROBES)
        return t->in_flight < s->opts.probe_parallel ? __builtin_ctz((unsigned)~t->started) : -1;
    if (t->confirm != 0 && t->in_flight == 0) {
        *alone = 1;
        return __builtin_ctz(t->confirm);
    }
    return -1;
}

/* The row's status from the per-probe outcomes. */
static jarm__tstatus_t target_status(const jarm__target_t *t)
{
    unsigned n[JARM__P_PROXY + 1] = {0};
    for (unsigned i = 0; i < JARM_PROBES; i++)
        n[t->probes[i].status]++;
    if (t->proxy_failed)
        return JARM__T_PROXY_ERROR;
    if (t->abandoned)
        return JARM__T_TIMEOUT;
    if (n[JARM__P_OK])
        return JARM__T_OK;
    if (n[JARM__P_NO_TLS])
        return JARM__T_NO_TLS;
    if (n[JARM__P_REFUSED] == JARM_PROBES)
        return JARM__T_REFUSED;
    if (n[JARM__P_UNREACHABLE] == JARM_PROBES)
        return JARM__T_UNREACHABLE;
    if (n[JARM__P_ALERT] + n[JARM__P_MALFORMED] + n[JARM__P_CLOSED] + n[JARM__P_RESET] +
            n[JARM__P_REFUSED] >
        0)
        return JARM__T_REJECTED;
    return JARM__T_ERROR;
}

/*
 * Between two passes: t starts again from its first probe, behind the targets pulled
 * meanwhile (pump() takes it from the `again` queue when the input has nothing, or when
 * park_max targets wait there), so that its passes are spread over the run.
 */
static void target_again(jarm__scan_t *s, jarm__target_t *t)
{
    memset(t->probes, 0, sizeof(t->probes));
    t->started = 0;
    t->gate_done = 0;
    t->confirm = 0;
    t->crowd_min = 0;
    t->abandoned = 0;
    t->proxy_failed = 0;
    t->strs_len = 0;
    t->error = NULL;
    t->status = JARM__T_OK;
    t->raw = t->jarm = NULL;
    t->pass++;
    t->direct = 0; /* --compare-direct: the direct pass is the first */
    jarm__queue_insert_tail(&s->again, &t->node);
    t->queued = Q_AGAIN;
    s->again_n++;
}

static void target_complete(jarm__scan_t *s, jarm__target_t *t)
{
    t->end_ms = uv_now(s->loop);
    jarm__target_unlink(s, t); /* a target can be decided while it waits for room */
    t->status = target_status(t);
    jarm__result_make(s, t);
    if (jarm__passes_total(s) > 1 && jarm__passes_step(s, t)) {
        target_again(s, t);
        return;
    }
    s->stats.targets_done++;
    s->stats.targets_active--;
    s->stats.by_status[t->status]++;
    s->on_result(s, t);
    if (t->paddr != NULL)
        jarm__addr_put(s, t->paddr);
    jarm__target_put(s, t);
}

/* A closed connection's result reaches its target; called from flush() only. */
static void conn_closed(jarm__scan_t *s, jarm__conn_t *c)
{
    jarm__target_t *t = c->t;
    jarm__addr_t *a = t->paddr;
    uint16_t bit = (uint16_t)(1u << c->probe);
    int alone, finished;

    if (c->rx != NULL)
        jarm__rx_put(s, c->rx);
    free(c->tx);
    t->conns[c->probe] = NULL;
    t->in_flight--;
    s->stats.conns_active--;
    if (a != NULL)
        jarm__addr_conn_closed(s, c);
    if (c->retry) {
        /* Out of sockets: give the probe back; pump() starts it again when there is room. */
        if (!t->abandoned) {
            if (c->confirming) {
                t->confirm |= bit;
            } else {
                t->probes[c->probe].status = JARM__P_PENDING;
                t->started &= (uint16_t)~bit;
            }
        }
    } else {
        s->stats.conns_done++;
        if (c->confirming)
            jarm__confirm_done(s, c);
        if (c->suspect && !t->abandoned) {
            /* Perhaps the address limits connections per client: run the probe again alone. */
            t->confirm |= bit;
            if (t->crowd_min == 0 || c->crowd < t->crowd_min)
                t->crowd_min = c->crowd;
        } else if (c->probe == 0) {
            t->gate_done = 1;
        }
    }
    jarm__conn_put(s, c);

    /* The target goes on first, then the address's waiting targets get the room left:
     * targets already in flight finish before new ones start. */
    finished = t->in_flight == 0 && jarm__target_next(s, t, &alone) < 0;
    if (!finished && t->queued == Q_NONE && jarm__target_next(s, t, &alone) >= 0)
        jarm__ready_push_front(s, t);
    if (a != NULL)
        jarm__addr_wake(s, a);
    if (finished)
        target_complete(s, t);
}

static void pump(jarm__scan_t *s);

/*
 * The end of every entry point (event batch, timer, start, wake, stop): settle closed
 * connections and refill the window until neither produces more work.
 */
void jarm__scan_flush(jarm__scan_t *s)
{
    unsigned rounds = 0;
    jarm__queue_t *q;

    if (s->flushing)
        return;
    s->flushing = 1;
    do {
        if (++rounds > 64) {
            /* Connections that fail as they start (refused at once, out of descriptors)
             * could keep this going indefinitely: let the loop run (signals, output, timers)
             * and come back. */
            uv_timer_start(&s->kick_timer, on_kick, 0, 0);
            break;
        }
        while ((q = jarm__queue_first(&s->closed)) != NULL) {
            jarm__queue_remove(q);
            conn_closed(s, JARM__QUEUE_DATA(q, jarm__conn_t, node));
        }
        pump(s);
    } while (!jarm__queue_empty(&s->closed));
    s->flushing = 0;
}

static void on_poller_batch(jarm__poller_t *p)
{
    jarm__scan_flush(JARM__CONTAINER_OF(p, jarm__scan_t, poller));
}

/* flush() gave the loop a turn with work left over: go on. */
static void on_kick(uv_timer_t *timer)
{
    jarm__scan_flush(JARM__CONTAINER_OF(timer, jarm__scan_t, kick_timer));
}

/* ---- starting probes ---- */

/* Start probe `probe` of t (`confirming`: alone on its address, to confirm a failure).
 * Returns 0, or a resource error (the probe was not started). */
static int probe_start(jarm__scan_t *s, jarm__target_t *t, unsigned probe, int confirming)
{
    jarm__conn_t *c = jarm__conn_get(s);
    int r;

    if (c == NULL)
        return UV_ENOMEM;
    c->t = t;
    c->probe = (uint8_t)probe;
    c->state = JARM__C_CONNECTING;
    c->start_ms = uv_now(s->loop);
    c->confirming = (uint8_t)confirming;
    t->conns[probe] = c;
    t->in_flight++;
    s->stats.conns_active++;
    s->stats.conns_started++;
    if (t->paddr != NULL)
        jarm__addr_conn_started(s, c);
    if ((r = jarm__conn_open(c)) <= 0)
        return r;
    dl_append(s, c);
    s->starved = 0;
    s->res_fails = 0;
    return 0;
}

static void check_done(jarm__scan_t *s)
{
    if ((s->input_done || s->stopping) && s->stats.targets_active == 0 && !s->done_called) {
        s->done_called = 1;
        uv_timer_stop(&s->deadline_timer);
        uv_timer_stop(&s->retry_timer);
        uv_timer_stop(&s->kick_timer);
        uv_timer_stop(&s->gap_timer);
        s->on_done(s);
    }
}

/* Pull a new target. Returns it, or NULL (none now, the end of input, or no memory). */
static jarm__target_t *pull_target(jarm__scan_t *s)
{
    jarm__target_t *t;
    int r;

    if ((t = jarm__target_get(s)) == NULL)
        return NULL;
    r = s->pull(s, t);
    if (r <= 0) {
        jarm__target_put(s, t);
        if (r < 0)
            s->input_done = 1;
        return NULL;
    }
    if (s->opts.cert)
        jarm__certread_want(&t->cert, s->opts.cert_max, s->certcache);
    if (s->opts.sni != NULL) {
        t->sni = s->opts.sni;
        t->sni_len = strlen(s->opts.sni);
    } else {
        t->sni = t->host;
        t->sni_len = t->host_len;
    }
    t->start_ms = uv_now(s->loop);
    t->proxy = s->opts.proxy_label;
    t->direct = (uint8_t)(s->opts.compare_direct != 0);
    t->paddr = jarm__addr_get(s, t);
    s->stats.targets_started++;
    s->stats.targets_active++;
    return t;
}

/* The next probe of the ready queue's first target: 1 to start it, 0 to look again (the
 * target left the queue), -1 to stop for now. */
static int next_ready(jarm__scan_t *s, jarm__target_t *t, int *probe, int *alone)
{
    int r;

    if ((*probe = jarm__target_next(s, t, alone)) < 0) {
        jarm__target_unlink(s, t); /* conn_closed() queues it again when it can go on */
        return 0;
    }
    if (t->paddr != NULL && (r = jarm__addr_room(s, t->paddr, *alone)) != 1) {
        if (r == 2)
            jarm__gap_push(s, t, t->paddr->last_close + SETTLE_MS);
        else
            jarm__addr_park(s, t->paddr, t, *alone); /* and go on with other addresses */
        return 0;
    }
    return jarm__take_token(s) ? 1 : -1;
}

/* Start the probe; 0, or -1 after a shortage (the probe is given back, backoff begins). */
static int pump_start(jarm__scan_t *s, jarm__target_t *t, int probe, int alone)
{
    uint16_t bit = (uint16_t)(1u << probe);

    if (alone)
        t->confirm &= (uint16_t)~bit;
    else
        t->started |= bit;
    t->woken = 0;
    if (probe_start(s, t, (unsigned)probe, alone) != 0) {
        /* Out of sockets or memory. The probe is given back in conn_closed() (or now, if it
         * never got a connection); back off and retry later. */
        int failed = t->conns[probe] != NULL;
        if (!failed) {
            if (alone)
                t->confirm |= bit;
            else
                t->started &= (uint16_t)~bit;
            jarm__ready_push(s, t);
        }
        jarm__resource_backoff(s, failed);
        return -1;
    }
    if (t->queued == Q_READY && jarm__target_next(s, t, &alone) < 0)
        jarm__target_unlink(s, t);
    return 0;
}

static void pump(jarm__scan_t *s)
{
    if (s->pumping || s->closing || !s->started)
        return;
    s->pumping = 1;
    while (!s->backoff && s->stats.conns_active < s->window) {
        jarm__queue_t *q = jarm__queue_first(&s->ready);
        jarm__target_t *t;
        int probe = 0, alone = 0, r;

        if (q != NULL) {
            t = JARM__QUEUE_DATA(q, jarm__target_t, node);
            if ((r = next_ready(s, t, &probe, &alone)) == 0)
                continue;
            if (r < 0)
                break;
        } else {
            /* A target between two passes goes on when the input has nothing now, or when
             * park_max of them wait; before that, new targets go first. */
            int again = !jarm__queue_empty(&s->again) &&
                        (s->input_done || s->stopping || s->again_n >= s->park_max);
            /* Targets waiting for their address are bounded: past that, wait for them. */
            if (!again && (s->input_done || s->stopping || s->parked >= s->park_max))
                break;
            if (!jarm__take_token(s))
                break;
            if (again || (t = pull_target(s)) == NULL) {
                if (jarm__queue_empty(&s->again)) {
                    s->tokens += 1; /* not used */
                    break;
                }
                t = JARM__QUEUE_DATA(jarm__queue_first(&s->again), jarm__target_t, node);
                jarm__target_unlink(s, t);
            }
            if (t->paddr != NULL && jarm__addr_room(s, t->paddr, 0) != 1) {
                jarm__addr_park(s, t->paddr, t, 0);
                s->tokens += 1; /* not used */
                continue;
            }
        }
        if (pump_start(s, t, probe, alone) != 0)
            break;
    }
    s->stats.window = s->window;
    s->pumping = 0;
    check_done(s);
}

/* ---- public ---- */

static void release(jarm__scan_t *s);

int jarm__scan_init(uv_loop_t *loop, jarm__scan_t *s, const jarm__scan_opts_t *opts)
{
    int r;

    memset(s, 0, offsetof(jarm__scan_t, readbuf));
    s->loop = loop;
    s->opts = *opts;
    if (s->opts.concurrency == 0)
        s->opts.concurrency = 1;
    if (s->opts.probe_parallel < 1 || s->opts.probe_parallel > JARM_PROBES - 1)
        s->opts.probe_parallel = JARM_PROBES - 1;
    if (s->opts.per_ip == 0)
        s->opts.per_ip = JARM__PER_IP_DEFAULT;
    s->hs = s->opts.proxy == NULL ? NULL
            : s->opts.proxy_http  ? &jarm__http_handshake
                                  : &jarm__socks5_handshake;
    s->window = s->opts.concurrency;
    s->park_max = s->opts.concurrency > 64 ? s->opts.concurrency : 64;
    jarm__queue_init(&s->closed);
    jarm__queue_init(&s->deadlines);
    jarm__queue_init(&s->again);
    if (jarm_rng_init(&s->rng) != 0)
        return UV_EIO;
    if ((r = jarm__pacing_init(s)) != 0)
        return r;
    if (s->opts.cert)
        jarm__certread_hook(s); /* allocates the cache: released by release() from here on */
    s->scratch = malloc(JARM_PROBE_STR_MAX);
    s->rawbuf_cap = 4096;
    s->rawbuf = malloc(s->rawbuf_cap);
    s->fpbuf_cap = JARM_FP_LEN + 1;
    s->fpbuf = malloc(s->fpbuf_cap);
    if (s->scratch == NULL || s->rawbuf == NULL || s->fpbuf == NULL) {
        r = UV_ENOMEM;
        goto Fail;
    }
    /* The only step that puts something on the loop and can fail: last, so that a failure
     * leaves nothing to close. Timers cannot fail; the poller starts in jarm__scan_start. */
    if ((r = jarm__poller_init(loop, &s->poller, jarm__conn_on_io, on_poller_batch)) != 0)
        goto Fail;
    (void)uv_timer_init(loop, &s->deadline_timer);
    (void)uv_timer_init(loop, &s->retry_timer);
    (void)uv_timer_init(loop, &s->kick_timer);
    (void)uv_timer_init(loop, &s->gap_timer);
    s->handles_open = 5;
    return 0;
Fail:
    release(s);
    return r;
}

int jarm__scan_start(jarm__scan_t *s, jarm__pull_cb pull, jarm__result_cb on_result,
                     jarm__done_cb on_done)
{
    int r;

    if ((r = jarm__poller_start(&s->poller)) != 0)
        return r;
    s->pull = pull;
    s->on_result = on_result;
    s->on_done = on_done;
    s->tokens_at = uv_now(s->loop);
    s->tokens = 1;
    s->started = 1;
    jarm__scan_flush(s);
    return 0;
}

void jarm__scan_wake(jarm__scan_t *s)
{
    jarm__scan_flush(s);
}

void jarm__scan_stop(jarm__scan_t *s)
{
    s->stopping = 1;
    jarm__scan_flush(s);
}

/* Free what jarm__scan_init allocated and what the scan grew since. */
static void release(jarm__scan_t *s)
{
    jarm__mem_release(s);
    jarm__certcache_free(s->certcache);
    s->certcache = NULL;
    jarm__pacing_release(s);
    jarm__poller_release(&s->poller);
    free(s->scratch);
    free(s->rawbuf);
    free(s->fpbuf);
    s->scratch = NULL;
    s->rawbuf = NULL;
    s->fpbuf = NULL;
}

static void on_closed(jarm__scan_t *s)
{
    if (--s->handles_open > 0)
        return;
    release(s);
    if (s->close_cb)
        s->close_cb(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    on_closed(h->data);
}

static void on_poller_closed(jarm__poller_t *p)
{
    on_closed(JARM__CONTAINER_OF(p, jarm__scan_t, poller));
}

void jarm__scan_close(jarm__scan_t *s, void (*close_cb)(jarm__scan_t *s))
{
    assert(s->stats.conns_active == 0);
    s->closing = 1;
    s->close_cb = close_cb;
    s->deadline_timer.data = s;
    s->retry_timer.data = s;
    s->kick_timer.data = s;
    s->gap_timer.data = s;
    /* The timers first: their callbacks come from the loop, so the last one is never on
     * this stack even when the poller has nothing to wait for. */
    uv_close((uv_handle_t *)&s->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->gap_timer, on_handle_closed);
    jarm__poller_close(&s->poller, on_poller_closed);
}
