/*
 * input.c - the line reader thread.
 *
 * Targets are pulled, never pushed (back-pressure): the scan loop asks for the next
 * line when it has room. Reading happens on a thread because a pipe (`zmap ... | jarmsweep
 * -i -`) can block for minutes and the loop must keep serving connections meanwhile. The
 * thread fills a fixed ring of JARM__INPUT_RING lines and sleeps while it is full, so memory
 * is flat whatever the input size. The loop learns about new lines through a uv_async_t; the
 * async is only signalled when the ring goes from empty to non-empty or at the end, so a fast
 * file costs one wakeup per batch, not per line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "jarm.h"
#include "scanner.h"

int jarm__input_open(jarm__input_t *in, char *msg, size_t msglen)
{
    int seekable = 1;
    in->bytes_total = 0;
    in->fps = calloc((size_t)in->nfiles + 1, sizeof(*in->fps));
    if (in->fps == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    for (int i = 0; i < in->nfiles; i++) {
        if (strcmp(in->files[i], "-") == 0) {
            in->fps[i] = stdin;
            continue;
        }
        in->fps[i] = fopen(in->files[i], "r");
        if (in->fps[i] == NULL) {
            snprintf(msg, msglen, "%s: %s", in->files[i], strerror(errno));
            return -1;
        }
    }
    for (int i = 0; i < in->nfiles; i++) {
        struct stat st;
        /* fopen takes a directory; reading it would fail only once the scan has begun. */
        if (fstat(fileno(in->fps[i]), &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(msg, msglen, "%s: %s", in->files[i], strerror(EISDIR));
            return -1;
        }
    }
    for (int i = 0; i < in->nfiles; i++) {
        struct stat st;
        if (fstat(fileno(in->fps[i]), &st) != 0 || !S_ISREG(st.st_mode))
            seekable = 0;
        else
            in->bytes_total += (uint64_t)st.st_size;
    }
    if (!seekable)
        in->bytes_total = 0;
    return 0;
}

/* Append one line to the ring, waiting while it is full. Returns 0, or -1 when stopped. */
static int push(jarm__input_t *in, const char *s, size_t len, const char *source, uint64_t no)
{
    int wake;
    jarm__line_t *l;

    pthread_mutex_lock(&in->mu);
    if (in->count == JARM__INPUT_RING)
        while (in->count > JARM__INPUT_RING / 2 && !in->stop)
            pthread_cond_wait(&in->not_full, &in->mu);
    if (in->stop) {
        pthread_mutex_unlock(&in->mu);
        return -1;
    }
    l = &in->ring[(in->head + in->count) % JARM__INPUT_RING];
    l->truncated = len > JARM__LINE_MAX;
    l->len = l->truncated ? JARM__LINE_MAX : len;
    memcpy(l->text, s, l->len);
    l->text[l->len] = '\0';
    l->source = source;
    l->lineno = no;
    wake = in->count++ == 0;
    pthread_mutex_unlock(&in->mu);
    if (wake)
        uv_async_send(&in->async);
    return 0;
}

/*
 * Read the lines of fd and push them. A line keeps at most JARM__LINE_MAX + 1 bytes, enough
 * for its row to say it is too long; the rest of it is read and dropped, so a huge line (or
 * /dev/zero) costs no memory. read(2), not stdio: a pipe's lines are pushed as they arrive.
 * Returns 0 at the end of the file, 1 when stopped, -1 on a read error (in->error set).
 */
static int read_lines(jarm__input_t *in, int fd, const char *name)
{
    char buf[65536], line[JARM__LINE_MAX + 1];
    size_t len = 0, seen = 0; /* kept bytes of the current line; all of its bytes */
    uint64_t no = 0;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        const char *p = buf, *end;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            pthread_mutex_lock(&in->mu);
            snprintf(in->error, sizeof(in->error), "%s: read error: %s", name, strerror(errno));
            pthread_mutex_unlock(&in->mu);
            return -1;
        }
        if (n == 0)
            break;
        __atomic_fetch_add(&in->bytes_read, (uint64_t)n, __ATOMIC_RELAXED);
        end = buf + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = (size_t)((nl ? nl : end) - p), keep = sizeof(line) - len;
            if (keep > take)
                keep = take;
            memcpy(line + len, p, keep);
            len += keep;
            seen += take;
            if (nl == NULL)
                break;
            p = nl + 1;
            if (push(in, line, seen > len ? sizeof(line) : len, name, ++no) != 0)
                return 1;
            len = seen = 0;
        }
    }
    if (seen > 0 && push(in, line, seen > len ? sizeof(line) : len, name, ++no) != 0)
        return 1;
    return 0;
}

static void *reader_main(void *arg)
{
    jarm__input_t *in = arg;

    for (int i = 0; i < in->nargs; i++)
        if (push(in, in->args[i], strlen(in->args[i]), NULL, (uint64_t)i + 1) != 0)
            goto Exit;
    for (int f = 0; f < in->nfiles; f++) {
        int r = read_lines(in, fileno(in->fps[f]), in->files[f]);
        if (r == 1)
            goto Exit;
        if (r < 0)
            break;
    }
    if (in->next != NULL) {
        uint64_t no = 0;
        const char *s;
        while ((s = in->next(in->next_data)) != NULL)
            if (push(in, s, strlen(s), "next", ++no) != 0)
                goto Exit;
    }
Exit:
    pthread_mutex_lock(&in->mu);
    in->eof = 1;
    pthread_mutex_unlock(&in->mu);
    uv_async_send(&in->async);
    return NULL;
}

static void on_async(uv_async_t *a)
{
    jarm__input_t *in = a->data;
    in->wake_cb(in->wake_data);
}

int jarm__input_start(jarm__input_t *in, uv_loop_t *loop, void (*wake_cb)(void *), void *data)
{
    int r;

    in->ring = jarm__fault() ? NULL : malloc(sizeof(*in->ring) * JARM__INPUT_RING);
    if (in->ring == NULL)
        return UV_ENOMEM;
    in->head = in->count = 0;
    in->eof = in->stop = 0;
    in->error[0] = '\0';
    in->wake_cb = wake_cb;
    in->wake_data = data;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->not_full, NULL);
    if ((r = uv_async_init(loop, &in->async, on_async)) != 0) {
        pthread_mutex_destroy(&in->mu);
        pthread_cond_destroy(&in->not_full);
        free(in->ring);
        in->ring = NULL;
        return r;
    }
    in->async.data = in;
    in->started = 1;
    if (in->manual)
        return 0;
    {
        /* Reading files needs about 70 KiB of stack, and the default would reserve
         * megabytes; a caller's next() (Python, say) gets the default. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (in->next == NULL)
            pthread_attr_setstacksize(&attr, 256 * 1024);
        r = jarm__fault() ? EAGAIN : pthread_create(&in->thread, &attr, reader_main, in);
        pthread_attr_destroy(&attr);
    }
    if (r != 0)
        return -r; /* started, without a thread: jarm__input_close closes the async handle */
    in->thread_on = 1;
    return 0;
}

int jarm__input_pop(jarm__input_t *in, jarm__line_t *out)
{
    int ret;

    pthread_mutex_lock(&in->mu);
    if (in->count > 0 && !in->stop) {
        *out = in->ring[in->head];
        in->head = (in->head + 1) % JARM__INPUT_RING;
        /* Wake the reader only at half full: waking it per line would make the two
         * threads trade a futex call per target. */
        if (in->count-- == JARM__INPUT_RING / 2)
            pthread_cond_signal(&in->not_full);
        ret = 1;
    } else {
        ret = (in->eof || in->stop) ? -1 : 0;
    }
    pthread_mutex_unlock(&in->mu);
    return ret;
}

void jarm__input_stop(jarm__input_t *in)
{
    pthread_mutex_lock(&in->mu);
    in->stop = 1;
    pthread_cond_signal(&in->not_full);
    pthread_mutex_unlock(&in->mu);
}

static void on_async_closed(uv_handle_t *h)
{
    jarm__input_t *in = h->data;
    if (in->close_cb != NULL)
        in->close_cb(in);
}

int jarm__input_add(jarm__input_t *in, const char *s, size_t len)
{
    jarm__line_t *l;
    int wake;

    pthread_mutex_lock(&in->mu);
    if (in->count == JARM__INPUT_RING || in->eof || in->stop) {
        int full = in->count == JARM__INPUT_RING && !in->eof && !in->stop;
        pthread_mutex_unlock(&in->mu);
        return full ? JARM_EAGAIN : JARM_EINVAL;
    }
    l = &in->ring[(in->head + in->count) % JARM__INPUT_RING];
    l->truncated = len > JARM__LINE_MAX;
    l->len = l->truncated ? JARM__LINE_MAX : len;
    memcpy(l->text, s, l->len);
    l->text[l->len] = '\0';
    l->source = "add";
    l->lineno = ++in->manual_no;
    wake = in->count++ == 0;
    pthread_mutex_unlock(&in->mu);
    if (wake)
        uv_async_send(&in->async);
    return 0;
}

void jarm__input_end(jarm__input_t *in)
{
    pthread_mutex_lock(&in->mu);
    in->eof = 1;
    pthread_mutex_unlock(&in->mu);
    uv_async_send(&in->async);
}

void jarm__input_close(jarm__input_t *in, void (*close_cb)(jarm__input_t *in))
{
    int eof = 1, started = in->started;

    if (started) {
        jarm__input_stop(in);
        pthread_mutex_lock(&in->mu);
        eof = in->eof;
        pthread_mutex_unlock(&in->mu);
        /* A reader blocked in getline on a pipe only returns when the writer does; on a
         * graceful stop of the command line we do not wait for it (nor free what it uses):
         * the process exits. The library's next() is the caller's, and the caller frees
         * everything after jarm_scan returns: wait for it to come back. */
        if (!in->thread_on) {
            eof = 1;
        } else if (eof || in->next != NULL) {
            pthread_join(in->thread, NULL);
            eof = 1;
        } else {
            pthread_detach(in->thread);
        }
        in->close_cb = close_cb;
        uv_close((uv_handle_t *)&in->async, on_async_closed);
        in->started = 0;
        if (!eof)
            return;
    }
    if (in->fps != NULL) {
        for (int i = 0; i < in->nfiles; i++)
            if (in->fps[i] != NULL && in->fps[i] != stdin)
                fclose(in->fps[i]);
        free(in->fps);
        in->fps = NULL;
    }
    if (started) {
        free(in->ring);
        in->ring = NULL;
        pthread_mutex_destroy(&in->mu);
        pthread_cond_destroy(&in->not_full);
    }
}
