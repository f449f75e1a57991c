/* nats.c's event-loop callbacks on a libuv loop. See nats_uv.h.
 *
 * Why not nats.c's adapters/libuv.h: its poll handle watches nats.c's own
 * socket, which nats.c closes on its reconnect thread (or its ping timer's)
 * while the handle is still open on the loop. An update of that handle in
 * the window (nats.c asks for write events from several threads) makes
 * libuv re-arm epoll on a closed descriptor, or on the same number already
 * reused by the next socket, and libuv aborts the process when epoll_ctl
 * fails (seen in integration.chaos: cc-gateway SIGABRT in uv_run right
 * after "nats reconnected"). It also reads its event queue's head without
 * the lock.
 *
 * Here each attach polls a dup() of the socket, owned by the handle and
 * closed only when the handle is: whatever nats.c does with its own
 * descriptor, the one libuv watches stays valid, so epoll_ctl cannot fail.
 * Calls from other threads, and calls on the loop's thread while earlier
 * ones wait, are queued under a lock and run in order on the loop
 * (uv_async), as in nats.c's adapter. */
#include "nats_uv.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

enum op { OP_ATTACH, OP_READ, OP_WRITE, OP_DETACH };

typedef struct op_item {
    enum op op;
    bool add;
    natsSock sock; /* OP_ATTACH */
    struct op_item *next;
} op_item;

typedef struct poller {
    uv_poll_t h;
    int fd; /* our dup, closed with the handle */
} poller;

typedef struct nuv {
    uv_loop_t *loop;
    natsConnection *nc;
    /* Loop thread only. */
    poller *cur;
    int events;
    bool detached;
    int open_handles;
    uv_async_t async;
    /* Under mu. */
    uv_mutex_t mu;
    op_item *head, *tail;
} nuv;

static _Thread_local uv_loop_t *tl_loop;

void cc_nats_uv_init(uv_loop_t *loop)
{
    tl_loop = loop;
}

static void maybe_free(nuv *n)
{
    if (!n->detached || n->open_handles > 0)
        return;
    uv_mutex_lock(&n->mu);
    while (n->head) {
        op_item *i = n->head;
        n->head = i->next;
        free(i);
    }
    uv_mutex_unlock(&n->mu);
    uv_mutex_destroy(&n->mu);
    free(n);
}

static void on_poller_closed(uv_handle_t *h)
{
    poller *p = (poller *)h;
    nuv *n = h->data;
    close(p->fd);
    free(p);
    n->open_handles--;
    maybe_free(n);
}

static void on_async_closed(uv_handle_t *h)
{
    nuv *n = h->data;
    n->open_handles--;
    maybe_free(n);
}

static void drop_poller(nuv *n)
{
    if (!n->cur)
        return;
    uv_close((uv_handle_t *)&n->cur->h, on_poller_closed);
    n->cur = NULL;
}

static void drain_queue(nuv *n);

static void on_poll(uv_poll_t *h, int status, int events)
{
    nuv *n = h->data;
    /* What nats.c asked from its other threads comes first: after it has
     * stopped polling or detached (then destroyed the connection), our
     * dup keeps the socket alive, so an event may still come. */
    drain_queue(n);
    if ((poller *)h != n->cur)
        return; /* a socket nats.c has left, or the connection is detached */
    events &= n->events;
    if (status == 0 && !events)
        return;
    /* An error (status < 0) is read like data: nats.c then sees it on its
     * socket and reconnects. */
    if (status < 0 || (events & UV_READABLE))
        natsConnection_ProcessReadEvent(n->nc);
    if (status == 0 && (events & UV_WRITABLE) && (poller *)h == n->cur)
        natsConnection_ProcessWriteEvent(n->nc);
}

static natsStatus do_attach(nuv *n, natsSock sock)
{
    drop_poller(n);
    poller *p = calloc(1, sizeof *p);
    if (!p)
        return NATS_NO_MEMORY;
    p->fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (p->fd < 0) {
        free(p);
        return NATS_ERR;
    }
    if (uv_poll_init(n->loop, &p->h, p->fd) != 0) {
        close(p->fd);
        free(p);
        return NATS_ERR;
    }
    p->h.data = n;
    n->open_handles++;
    n->cur = p;
    n->events = UV_READABLE;
    return uv_poll_start(&p->h, n->events, on_poll) == 0 ? NATS_OK : NATS_ERR;
}

static natsStatus do_update(nuv *n, int what, bool add)
{
    if (!n->cur)
        return NATS_OK;
    n->events = add ? (n->events | what) : (n->events & ~what);
    int r = n->events ? uv_poll_start(&n->cur->h, n->events, on_poll) : uv_poll_stop(&n->cur->h);
    return r == 0 ? NATS_OK : NATS_ERR;
}

static void do_detach(nuv *n)
{
    if (n->detached)
        return;
    n->detached = true;
    drop_poller(n);
    uv_close((uv_handle_t *)&n->async, on_async_closed);
}

static natsStatus run(nuv *n, const op_item *i)
{
    switch (i->op) {
    case OP_ATTACH:
        return do_attach(n, i->sock);
    case OP_READ:
        return do_update(n, UV_READABLE, i->add);
    case OP_WRITE:
        return do_update(n, UV_WRITABLE, i->add);
    case OP_DETACH:
        do_detach(n);
        return NATS_OK;
    }
    return NATS_ERR;
}

/* Runs what is queued, in order. */
static void drain_queue(nuv *n)
{
    for (;;) {
        uv_mutex_lock(&n->mu);
        op_item *i = n->head;
        if (i) {
            n->head = i->next;
            if (!n->head)
                n->tail = NULL;
        }
        uv_mutex_unlock(&n->mu);
        if (!i)
            return;
        bool detach = i->op == OP_DETACH;
        natsStatus s = n->detached ? NATS_OK : run(n, i);
        free(i);
        if (detach)
            return; /* n goes once its handles are closed */
        if (s != NATS_OK) {
            /* As nats.c's adapter: a connection that cannot be polled is
             * closed (nats.c then detaches it). */
            natsConnection_Close(n->nc);
            return;
        }
    }
}

static void on_async(uv_async_t *a)
{
    drain_queue(a->data);
}

/* Runs the call now when on the loop's thread with nothing queued before
 * it, else queues it for the loop, in order. */
static natsStatus submit(nuv *n, enum op op, bool add, natsSock sock)
{
    op_item it = {.op = op, .add = add, .sock = sock};
    uv_mutex_lock(&n->mu);
    bool now = tl_loop == n->loop && !n->head;
    if (!now) {
        op_item *q = malloc(sizeof *q);
        if (!q) {
            uv_mutex_unlock(&n->mu);
            return NATS_NO_MEMORY;
        }
        *q = it;
        if (n->tail)
            n->tail->next = q;
        else
            n->head = q;
        n->tail = q;
    }
    uv_mutex_unlock(&n->mu);
    if (now)
        return run(n, &it);
    return uv_async_send(&n->async) == 0 ? NATS_OK : NATS_ERR;
}

natsStatus cc_nats_uv_attach(void **user_data, void *loop, natsConnection *nc, natsSock sock)
{
    nuv *n = *user_data;
    if (!n) {
        /* The first attach comes from the connect call, on the loop. */
        if (tl_loop != loop)
            return NATS_ILLEGAL_STATE;
        n = calloc(1, sizeof *n);
        if (!n)
            return NATS_NO_MEMORY;
        if (uv_mutex_init(&n->mu) != 0) {
            free(n);
            return NATS_ERR;
        }
        n->loop = loop;
        n->nc = nc;
        if (uv_async_init(n->loop, &n->async, on_async) != 0) {
            uv_mutex_destroy(&n->mu);
            free(n);
            return NATS_ERR;
        }
        n->async.data = n;
        n->open_handles = 1;
        natsStatus s = do_attach(n, sock);
        if (s != NATS_OK) {
            do_detach(n); /* freed once its handles are closed */
            return s;
        }
        *user_data = n;
        return NATS_OK;
    }
    return submit(n, OP_ATTACH, true, sock);
}

natsStatus cc_nats_uv_read(void *user_data, bool add)
{
    return submit(user_data, OP_READ, add, -1);
}

natsStatus cc_nats_uv_write(void *user_data, bool add)
{
    return submit(user_data, OP_WRITE, add, -1);
}

natsStatus cc_nats_uv_detach(void *user_data)
{
    return submit(user_data, OP_DETACH, true, -1);
}
