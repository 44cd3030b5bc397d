/*
 * output.c - growable buffers, rows written into them, and the sink that writes them out.
 * What a row holds and how each format writes it: row.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "util.h"

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

/* Run fn(o, arg) into the free space of b; if it did not fit, grow b to its size and run it
 * again. Rows reuse one buffer, so the second pass is rare. */
static void buf_write(jarm__buf_t *b, void (*fn)(jarm__out_t *o, const void *arg),
                      const void *arg)
{
    for (int pass = 0; pass < 2 && !b->oom; pass++) {
        jarm__out_t o = {b->p != NULL ? b->p + b->len : NULL, 0, b->cap - b->len};
        fn(&o, arg);
        if (o.len <= o.cap) {
            b->len += o.len;
            return;
        }
        if (buf_reserve(b, o.len) != 0)
            return;
    }
}

struct json_str_arg {
    const char *s;
    size_t n;
};

static void json_str_fn(jarm__out_t *o, const void *arg)
{
    const struct json_str_arg *a = arg;
    jarm__json_put(o, a->s, a->n, 0);
}

void jarm__buf_json_str(jarm__buf_t *b, const char *s, size_t n)
{
    struct json_str_arg a = {s, n};
    buf_write(b, json_str_fn, &a);
}

struct row_arg {
    const jarm__format_ops_t *ops;
    const jarm_result_t *r;
};

static void row_fn(jarm__out_t *o, const void *arg)
{
    const struct row_arg *a = arg;
    a->ops->row(o, a->r);
    jarm__out_put(o, "\n", 1);
}

void jarm__row_write(jarm__buf_t *b, jarm__format_t f, const jarm_result_t *r)
{
    struct row_arg a = {jarm__format_ops(f), r};
    buf_write(b, row_fn, &a);
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
