/*
 * poller.h - readiness of the probe sockets, behind one small interface.
 *
 * Two backends. The default is a private epoll instance nested in the libuv loop through
 * one uv_poll_t: each socket is registered once, edge-triggered for both directions, and
 * close() removes it; libuv's uv_tcp_t would add four epoll_ctl calls and a getsockopt to
 * every short connection. The portable fallback is a uv_poll_t per socket (level-triggered,
 * so the caller says which events it waits for). The environment variable
 * JARMSWEEP_POLLER=uv chooses the fallback at run time (the tests run both); it is also
 * used where epoll is missing.
 *
 * Events come to on_io, then after each batch on_batch runs once, outside any socket
 * callback (the engine settles finished connections there).
 */
#ifndef JARM_POLLER_H_
#define JARM_POLLER_H_

#include <stdint.h>

#include <uv.h>

#define JARM__POLL_IN  1u /* readable, or EOF */
#define JARM__POLL_OUT 2u /* writable: a connect completed */
#define JARM__POLL_ERR 4u /* an error is pending (SO_ERROR) */
#define JARM__POLL_HUP 8u /* the peer closed or reset */

typedef enum jarm__poller_kind_e { JARM__POLLER_EPOLL = 0, JARM__POLLER_UV } jarm__poller_kind_t;

/* Per socket, embedded in the caller's connection. */
typedef struct jarm__pio_s {
    uv_poll_t *uvh;  /* the fallback's handle, or NULL */
    uint8_t want;    /* the fallback: events being waited for */
} jarm__pio_t;

typedef struct jarm__poller_s jarm__poller_t;
typedef void (*jarm__poller_io_cb)(jarm__poller_t *p, jarm__pio_t *io, unsigned events);
typedef void (*jarm__poller_batch_cb)(jarm__poller_t *p);

struct jarm__poller_s {
    uv_loop_t *loop;
    jarm__poller_kind_t kind;
    jarm__poller_io_cb on_io;
    jarm__poller_batch_cb on_batch;
    void (*close_cb)(jarm__poller_t *p);
    void *data; /* the caller's */
    int epfd;
    uv_poll_t ep_poll;  /* epoll: the instance on the loop */
    unsigned handles;   /* uv handles open (ep_poll, or one per socket and those closing) */
    int closing;
    uv_poll_t *free_polls; /* the fallback's closed handles, for reuse (linked by data) */
};

/* Choose the backend (JARMSWEEP_POLLER) and initialise. Returns 0, or a negative error and
 * then nothing is left to close. */
int jarm__poller_init(uv_loop_t *loop, jarm__poller_t *p, jarm__poller_io_cb on_io,
                      jarm__poller_batch_cb on_batch);
int jarm__poller_start(jarm__poller_t *p);
/* Watch fd for both directions. Returns 0 or a negative errno/UV_E* error. */
int jarm__poller_add(jarm__poller_t *p, jarm__pio_t *io, int fd);
/* The fallback: wait for these events now (a no-op for epoll, edge-triggered for both). */
void jarm__poller_want_(jarm__poller_t *p, jarm__pio_t *io, unsigned events);
static inline void jarm__poller_want(jarm__poller_t *p, jarm__pio_t *io, unsigned events)
{
    if (p->kind != JARM__POLLER_EPOLL && io->want != events)
        jarm__poller_want_(p, io, events);
}
/* Stop watching, before the caller closes fd (epoll: close() does it). */
void jarm__poller_del_(jarm__poller_t *p, jarm__pio_t *io);
static inline void jarm__poller_del(jarm__poller_t *p, jarm__pio_t *io)
{
    if (io->uvh != NULL)
        jarm__poller_del_(p, io);
}
/* Close; close_cb runs once every handle is closed (from the loop, unless the fallback has
 * nothing open, then at once). Sockets must have been removed. */
void jarm__poller_close(jarm__poller_t *p, void (*close_cb)(jarm__poller_t *p));
/* Free what the fallback kept for reuse (after close_cb). */
void jarm__poller_release(jarm__poller_t *p);

#endif /* JARM_POLLER_H_ */
