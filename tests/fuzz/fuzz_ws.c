/* Fuzz target: the gateway's WebSocket frame handling on /v1/live. The
 * input is what a hostile client sends after the upgrade, read by wslay in
 * chunks whose sizes the input also chooses, with the gateway's settings:
 * the largest message (live-max-message, 4 KiB) and its frame-rate rule
 * (gw_live_frame_ok, 10 a second, on a clock the input advances). No
 * message longer than the limit may ever be delivered, no frame may start
 * after the rule shut the reading, and nothing may crash or leak. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <wslay/wslay.h>

#include "gw.h"

#define MAX_MESSAGE 4096
#define FRAME_RATE 10

typedef struct {
    const uint8_t *data;
    size_t size, off;
    uint64_t now_us, tat;
    bool shut; /* the rule refused a frame: nothing more may start */
} peer;

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    peer *p = ud;
    if (p->off >= p->size) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    /* One control byte: how much of the rest arrives in this read, and
     * how much time passed before it. */
    uint8_t c = p->data[p->off++];
    size_t n = (size_t)(c & 0x3f) + 1;
    p->now_us += (uint64_t)(c >> 6) * 40000;
    if (n > len)
        n = len;
    if (n > p->size - p->off)
        n = p->size - p->off;
    memcpy(buf, p->data + p->off, n);
    p->off += n;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)ctx, (void)data, (void)flags, (void)ud;
    return (ssize_t)len;
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)arg;
    peer *p = ud;
    if (p->shut)
        __builtin_trap();
    if (!gw_live_frame_ok(&p->tat, p->now_us, FRAME_RATE)) {
        wslay_event_shutdown_read(ctx);
        p->shut = true;
    }
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    (void)ctx, (void)ud;
    if (arg->msg_length > MAX_MESSAGE)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    peer p = {.data = data, .size = size, .now_us = 1000000};
    struct wslay_event_callbacks cb = {.recv_callback = on_recv,
                                       .send_callback = on_send,
                                       .on_frame_recv_start_callback = on_frame_start,
                                       .on_msg_recv_callback = on_msg};
    wslay_event_context_ptr ctx = NULL;
    if (wslay_event_context_server_init(&ctx, &cb, &p) != 0)
        return 0;
    wslay_event_config_set_max_recv_msg_length(ctx, MAX_MESSAGE);
    /* As h2o's loop does: read while wslay wants to and bytes remain,
     * writing what it queued (pongs, close frames) in between. */
    for (int rounds = 0; rounds < 4096 && p.off < p.size; rounds++) {
        if (!wslay_event_want_read(ctx) || wslay_event_recv(ctx) != 0)
            break;
        if (wslay_event_want_write(ctx) && wslay_event_send(ctx) != 0)
            break;
    }
    wslay_event_context_free(ctx);
    return 0;
}
