/*
 * poller.c - readiness of the probe sockets: the private epoll backend and the uv_poll_t
 * fallback (poller.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/epoll.h>
#define HAVE_EPOLL 1
#endif

#include "internal.h"
#include "poller.h"

static jarm__poller_kind_t choose_kind(void)
{
    const char *e = getenv("JARMSWEEP_POLLER");
#ifdef HAVE_EPOLL
    if (e == NULL || strcmp(e, "uv") != 0)
        return JARM__POLLER_EPOLL;
#else
    (void)e;
#endif
    return JARM__POLLER_UV;
}

/* ---- epoll ---- */

#ifdef HAVE_EPOLL
static void on_epoll(uv_poll_t *poll, int status, int events)
{
    jarm__poller_t *p = JARM__CONTAINER_OF(poll, jarm__poller_t, ep_poll);
    struct epoll_event ev[256];
    int n;

    (void)status;
    (void)events;
    do {
        n = epoll_wait(p->epfd, ev, (int)JARM__ARRAY_SIZE(ev), 0);
        for (int i = 0; i < n; i++) {
            uint32_t e = ev[i].events;
            p->on_io(p, ev[i].data.ptr,
                     (e & EPOLLIN ? JARM__POLL_IN : 0u) | (e & EPOLLOUT ? JARM__POLL_OUT : 0u) |
                         (e & EPOLLERR ? JARM__POLL_ERR : 0u) |
                         (e & (EPOLLHUP | EPOLLRDHUP) ? JARM__POLL_HUP : 0u));
        }
    } while (n == (int)JARM__ARRAY_SIZE(ev));
    p->on_batch(p);
}
#endif

/* ---- the fallback: a uv_poll_t per socket ---- */

typedef struct sock_poll_s {
    uv_poll_t h; /* h.data: the jarm__pio_t, or the next free one */
    jarm__poller_t *p;
} sock_poll_t;

static unsigned uv_events(unsigned want)
{
    return (want & JARM__POLL_IN ? UV_READABLE | UV_DISCONNECT : 0u) |
           (want & JARM__POLL_OUT ? UV_WRITABLE : 0u);
}

static void on_uv_poll(uv_poll_t *h, int status, int events)
{
    sock_poll_t *sp = JARM__CONTAINER_OF(h, sock_poll_t, h);
    jarm__poller_t *p = sp->p;
    unsigned ev;

    /* An error stops the handle (libuv): the owner reads it from the socket. */
    if (status < 0)
        ev = JARM__POLL_ERR | JARM__POLL_IN | JARM__POLL_OUT;
    else
        ev = (events & UV_READABLE ? JARM__POLL_IN : 0u) |
             (events & UV_WRITABLE ? JARM__POLL_OUT : 0u) |
             (events & UV_DISCONNECT ? JARM__POLL_HUP : 0u);
    p->on_io(p, h->data, ev);
    p->on_batch(p);
}

static void close_done(jarm__poller_t *p)
{
    if (--p->handles == 0 && p->closing && p->close_cb != NULL)
        p->close_cb(p);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_poll_t *sp = JARM__CONTAINER_OF(h, sock_poll_t, h);
    jarm__poller_t *p = sp->p;

    sp->h.data = p->free_polls;
    p->free_polls = &sp->h;
    close_done(p);
}

static int uv_add(jarm__poller_t *p, jarm__pio_t *io, int fd)
{
    sock_poll_t *sp;
    int r;

    if (p->free_polls != NULL) {
        sp = JARM__CONTAINER_OF(p->free_polls, sock_poll_t, h);
        p->free_polls = sp->h.data;
    } else if ((sp = malloc(sizeof(*sp))) == NULL) {
        return UV_ENOMEM;
    }
    sp->p = p;
    if ((r = uv_poll_init(p->loop, &sp->h, fd)) != 0) {
        sp->h.data = p->free_polls;
        p->free_polls = &sp->h;
        return r;
    }
    sp->h.data = io;
    p->handles++;
    io->uvh = &sp->h;
    io->want = JARM__POLL_IN | JARM__POLL_OUT;
    if ((r = uv_poll_start(&sp->h, (int)uv_events(io->want), on_uv_poll)) != 0) {
        jarm__poller_del(p, io);
        return r;
    }
    return 0;
}

void jarm__poller_want_(jarm__poller_t *p, jarm__pio_t *io, unsigned events)
{
    (void)p;
    io->want = (uint8_t)events;
    if (io->uvh != NULL && uv_is_active((uv_handle_t *)io->uvh))
        (void)uv_poll_start(io->uvh, (int)uv_events(events), on_uv_poll);
}

/* ---- the interface ---- */

int jarm__poller_init(uv_loop_t *loop, jarm__poller_t *p, jarm__poller_io_cb on_io,
                      jarm__poller_batch_cb on_batch)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->on_io = on_io;
    p->on_batch = on_batch;
    p->epfd = -1;
    p->kind = choose_kind();
#ifdef HAVE_EPOLL
    if (p->kind == JARM__POLLER_EPOLL) {
        int r;
        if ((p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
            return -errno;
        /* The only step that puts something on the loop and can fail: last, so that a
         * failure leaves nothing to close. The poll starts in jarm__poller_start. */
        if ((r = uv_poll_init(loop, &p->ep_poll, p->epfd)) != 0) {
            close(p->epfd);
            p->epfd = -1;
            return r;
        }
        p->handles = 1;
    }
#endif
    return 0;
}

int jarm__poller_start(jarm__poller_t *p)
{
#ifdef HAVE_EPOLL
    if (p->kind == JARM__POLLER_EPOLL)
        return uv_poll_start(&p->ep_poll, UV_READABLE, on_epoll);
#endif
    (void)p;
    return 0;
}

int jarm__poller_add(jarm__poller_t *p, jarm__pio_t *io, int fd)
{
#ifdef HAVE_EPOLL
    if (p->kind == JARM__POLLER_EPOLL) {
        struct epoll_event ev;
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = io;
        return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 ? -errno : 0;
    }
#endif
    return uv_add(p, io, fd);
}

void jarm__poller_del_(jarm__poller_t *p, jarm__pio_t *io)
{
    (void)p;
    uv_close((uv_handle_t *)io->uvh, on_sock_closed);
    io->uvh = NULL;
}

static void on_ep_closed(uv_handle_t *h)
{
    jarm__poller_t *p = JARM__CONTAINER_OF(h, jarm__poller_t, ep_poll);
    close_done(p);
}

void jarm__poller_close(jarm__poller_t *p, void (*close_cb)(jarm__poller_t *p))
{
    p->closing = 1;
    p->close_cb = close_cb;
    if (p->epfd >= 0) {
        /* Stop the handle before its descriptor goes. */
        uv_close((uv_handle_t *)&p->ep_poll, on_ep_closed);
        close(p->epfd);
        p->epfd = -1;
    }
    if (p->handles == 0 && close_cb != NULL)
        close_cb(p);
}

void jarm__poller_release(jarm__poller_t *p)
{
    while (p->free_polls != NULL) {
        sock_poll_t *sp = JARM__CONTAINER_OF(p->free_polls, sock_poll_t, h);
        p->free_polls = sp->h.data;
        free(sp);
    }
}
