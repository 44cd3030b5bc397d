/*
 * output.c - result rows.
 *
 * NDJSON is the native format (jarmsweep(1), OUTPUT): one object per input target with
 * every field that explains the fingerprint. Strings are escaped properly, unlike the
 * reference, so a host or ALPN holding '"', '\' or control characters still gives valid
 * JSON; bytes that are not UTF-8 (possible only in unparsable input lines) are written as
 * \u00XX. The CSV and jarm-json formats reproduce the reference's own output lines
 * for drop-in use: `host,ip,jarm` and {"host","ip","result","jarm"}.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"

long jarm__buf_fail_after = -1;

static int buf_reserve(jarm__buf_t *b, size_t n)
{
    size_t cap;
    char *p;
    if (b->oom)
        return -1;
    if (b->len + n <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 512;
    while (cap < b->len + n)
        cap *= 2;
    if (jarm__buf_fail_after >= 0 && jarm__buf_fail_after-- == 0) {
        b->oom = 1;
        return -1;
    }
    if ((p = realloc(b->p, cap)) == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void jarm__buf_put(jarm__buf_t *b, const void *s, size_t n)
{
    if (n == 0 || buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void jarm__buf_puts(jarm__buf_t *b, const char *s)
{
    jarm__buf_put(b, s, strlen(s));
}

void jarm__buf_printf(jarm__buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jarm__buf_free(jarm__buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return need + 1;
}

void jarm__buf_json_str(jarm__buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;

    jarm__buf_put(b, "\"", 1);
    while (i < n) {
        unsigned char c = s[i];
        size_t l = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq(s + i, n - i) : 0;
        if (l > 0) {
            i += l;
            run += l;
            continue;
        }
        jarm__buf_put(b, s + i - run, run);
        run = 0;
        switch (c) {
        case '"':
            jarm__buf_put(b, "\\\"", 2);
            break;
        case '\\':
            jarm__buf_put(b, "\\\\", 2);
            break;
        case '\n':
            jarm__buf_put(b, "\\n", 2);
            break;
        case '\r':
            jarm__buf_put(b, "\\r", 2);
            break;
        case '\t':
            jarm__buf_put(b, "\\t", 2);
            break;
        default:
            jarm__buf_printf(b, "\\u%04x", c);
        }
        i++;
    }
    jarm__buf_put(b, s + i - run, run);
    jarm__buf_put(b, "\"", 1);
}

static void put_ts(jarm__buf_t *b, uint64_t ts_ms)
{
    time_t sec = (time_t)(ts_ms / 1000);
    struct tm tm;
    char tmp[40];
    gmtime_r(&sec, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    jarm__buf_printf(b, "\"%s.%03uZ\"", tmp, (unsigned)(ts_ms % 1000));
}

static const char zeros[] = "00000000000000000000000000000000000000000000000000000000000000";

void jarm__row_target(jarm__buf_t *b, jarm__format_t fmt, const jarm__target_t *t, uint64_t ts_ms)
{
    switch (fmt) {
    case JARM__FMT_CSV:
        jarm__buf_put(b, t->host, t->host_len);
        jarm__buf_printf(b, ",%s,%s\n", t->ip, t->jarm);
        return;
    case JARM__FMT_JARM_JSON:
        jarm__buf_puts(b, "{\"host\":");
        jarm__buf_json_str(b, t->host, t->host_len);
        jarm__buf_printf(b, ",\"ip\":\"%s\",\"result\":\"%s\",\"jarm\":", t->ip, t->jarm);
        jarm__buf_json_str(b, t->raw, t->raw_len);
        jarm__buf_puts(b, "}\n");
        return;
    case JARM__FMT_NDJSON:
        break;
    }
    jarm__buf_puts(b, "{\"host\":");
    jarm__buf_json_str(b, t->host, t->host_len);
    if (t->ip[0] != '\0')
        jarm__buf_printf(b, ",\"ip\":\"%s\"", t->ip);
    else /* through a proxy that resolved the name: the address is not known here */
        jarm__buf_puts(b, ",\"ip\":null");
    jarm__buf_printf(b, ",\"port\":%u,\"jarm\":\"%s\",\"status\":\"%s\",\"raw\":", t->port, t->jarm,
                     jarm__tstatus_name(t->status));
    jarm__buf_json_str(b, t->raw, t->raw_len);
    jarm__buf_puts(b, ",\"probes\":[");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        unsigned st = t->probes[i].status;
        if (i)
            jarm__buf_put(b, ",", 1);
        if (st == JARM__P_SKIPPED || st == JARM__P_PENDING)
            jarm__buf_printf(b, "{\"status\":\"%s\"}", jarm__pstatus_name(st));
        else
            jarm__buf_printf(b, "{\"status\":\"%s\",\"ms\":%u}", jarm__pstatus_name(st),
                             (unsigned)t->probes[i].ms);
    }
    jarm__buf_puts(b, "],\"sni\":");
    jarm__buf_json_str(b, t->sni, t->sni_len);
    if (t->proxy != NULL) {
        jarm__buf_puts(b, ",\"proxy\":");
        jarm__buf_json_str(b, t->proxy, strlen(t->proxy));
    }
    if (t->retried > 0)
        jarm__buf_printf(b, ",\"retried\":%u", t->retried);
    if (t->error != NULL) {
        jarm__buf_puts(b, ",\"error\":");
        jarm__buf_json_str(b, t->error, strlen(t->error));
    }
    jarm__buf_printf(b,
                     ",\"elapsed_ms\":%llu,\"ts\":", (unsigned long long)(t->end_ms - t->start_ms));
    put_ts(b, ts_ms);
    jarm__buf_puts(b, "}\n");
}

void jarm__row_error(jarm__buf_t *b, jarm__format_t fmt, const jarm__row_error_t *e, uint64_t ts_ms)
{
    switch (fmt) {
    case JARM__FMT_CSV:
        /* The reference's line for a host it could not resolve. */
        jarm__buf_put(b, e->host, e->host_len);
        jarm__buf_printf(b, ",Failed to resolve IP,%s\n", zeros);
        return;
    case JARM__FMT_JARM_JSON:
        jarm__buf_puts(b, "{\"host\":");
        jarm__buf_json_str(b, e->host, e->host_len);
        jarm__buf_printf(b, ",\"ip\":null,\"result\":\"%s\",\"jarm\":\"%s\"}\n", zeros,
                         JARM_RAW_EMPTY);
        return;
    case JARM__FMT_NDJSON:
        break;
    }
    jarm__buf_puts(b, "{\"host\":");
    jarm__buf_json_str(b, e->host, e->host_len);
    if (e->port)
        jarm__buf_printf(b, ",\"ip\":null,\"port\":%u", e->port);
    else
        jarm__buf_puts(b, ",\"ip\":null,\"port\":null");
    jarm__buf_printf(b, ",\"jarm\":\"%s\",\"status\":\"%s\",\"raw\":\"%s\",\"error\":", zeros,
                     e->status, JARM_RAW_EMPTY);
    jarm__buf_json_str(b, e->error, strlen(e->error));
    jarm__buf_puts(b, ",\"input\":");
    if (e->source)
        jarm__buf_json_str(b, e->source, strlen(e->source));
    else
        jarm__buf_puts(b, "\"argv\"");
    jarm__buf_printf(b, ",\"line\":%llu,\"ts\":", (unsigned long long)e->lineno);
    put_ts(b, ts_ms);
    jarm__buf_puts(b, "}\n");
}

#define SINK_FLUSH_AT (64 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    jarm__sink_t *s = arg;
    jarm__buf_t t;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        int err;
        while (s->error == 0 && !s->closing && !s->kicked && s->buf.len < SINK_FLUSH_AT)
            pthread_cond_wait(&s->cond, &s->mu);
        if (s->error != 0 || (s->closing && s->buf.len == 0))
            break;
        s->kicked = 0;
        if (s->buf.len == 0)
            continue;
        t = s->out; /* take the queue, leave an empty buffer in its place */
        s->out = s->buf;
        s->buf = t;
        s->buf.len = 0;
        pthread_mutex_unlock(&s->mu);
        err = write_all(s->fd, s->out.p, s->out.len);
        pthread_mutex_lock(&s->mu);
        if (err != 0)
            s->error = err;
        else
            s->written += s->out.len;
        s->out.len = 0;
        if (!s->closing)
            uv_async_send(&s->async);
    }
    if (s->error != 0 && !s->closing)
        uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void on_sink_async(uv_async_t *a)
{
    jarm__sink_t *s = a->data;
    if (s->progress_cb != NULL)
        s->progress_cb(s);
}

int jarm__sink_start(jarm__sink_t *s, uv_loop_t *loop, void (*progress_cb)(jarm__sink_t *s))
{
    pthread_attr_t attr;
    int r;

    s->progress_cb = progress_cb;
    if ((r = uv_async_init(loop, &s->async, on_sink_async)) != 0)
        return r;
    s->async.data = s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    /* The writer needs little stack; the default would reserve megabytes. */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    r = pthread_create(&s->thread, &attr, writer_main, s);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        uv_close((uv_handle_t *)&s->async, NULL);
        return -r;
    }
    s->started = 1;
    return 0;
}

int jarm__sink_write(jarm__sink_t *s, const jarm__buf_t *row)
{
    int err;

    if (!s->started) {
        if (s->error == 0) {
            jarm__buf_put(&s->buf, row->p, row->len);
            if (s->buf.oom)
                s->error = ENOMEM;
            else if (s->buf.len >= SINK_FLUSH_AT)
                jarm__sink_flush(s);
        }
        return s->error;
    }
    pthread_mutex_lock(&s->mu);
    if (s->error == 0) {
        size_t before = s->buf.len;
        jarm__buf_put(&s->buf, row->p, row->len);
        if (s->buf.oom) {
            s->buf.len = before;
            s->error = ENOMEM;
            pthread_cond_signal(&s->cond);
        } else {
            s->queued += row->len;
            if (before < SINK_FLUSH_AT && s->buf.len >= SINK_FLUSH_AT)
                pthread_cond_signal(&s->cond);
        }
    }
    err = s->error;
    pthread_mutex_unlock(&s->mu);
    return err;
}

int jarm__sink_flush(jarm__sink_t *s)
{
    int err;

    if (!s->started) {
        if (s->buf.len > 0 && s->error == 0) {
            s->error = write_all(s->fd, s->buf.p, s->buf.len);
            if (s->error == 0)
                s->written += s->buf.len;
        }
        s->buf.len = 0;
        return s->error;
    }
    pthread_mutex_lock(&s->mu);
    s->kicked = 1;
    pthread_cond_signal(&s->cond);
    err = s->error;
    pthread_mutex_unlock(&s->mu);
    return err;
}

uint64_t jarm__sink_backlog(jarm__sink_t *s)
{
    uint64_t n;
    if (!s->started)
        return 0;
    pthread_mutex_lock(&s->mu);
    n = s->queued - s->written;
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t jarm__sink_written(jarm__sink_t *s, int *error)
{
    uint64_t n;
    if (!s->started) {
        *error = s->error;
        return s->written;
    }
    pthread_mutex_lock(&s->mu);
    n = s->written;
    *error = s->error;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void jarm__sink_close(jarm__sink_t *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->async, NULL);
}

int jarm__sink_finish(jarm__sink_t *s)
{
    if (s->started) {
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        s->started = 0;
    } else {
        jarm__sink_flush(s);
    }
    jarm__buf_free(&s->buf);
    jarm__buf_free(&s->out);
    return s->error;
}
