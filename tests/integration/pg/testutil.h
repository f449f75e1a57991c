/* Shared by the pg, outbox and redis integration tests: checks that abort
 * (so cc_local_guard stops the servers) and helpers that run a libuv loop
 * until a condition holds. */
#ifndef CC_TEST_UTIL_H
#define CC_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "cc/metrics.h"
#include "cc/status.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        cc_status s_ = (expr);                                                                     \
        if (s_ != CC_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s = %s: %s (%s)\n", __FILE__, __LINE__, #expr,                \
                    cc_status_name(s_), cc_err_msg(), cc_err_where());                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uv_timer_t tu_tick;
static bool tu_tick_init;

static void tu_on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop (waking every 5 ms) until cond holds or ms pass; the
 * value of cond at the end. */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
    ({                                                                                             \
        tu_wait_begin(loop);                                                                       \
        uint64_t dl_ = cc_now_ns() + (uint64_t)(ms)*1000000ull;                                    \
        while (!(cond) && cc_now_ns() < dl_)                                                       \
            uv_run((loop), UV_RUN_ONCE);                                                           \
        tu_wait_end();                                                                             \
        (bool)(cond);                                                                              \
    })

static inline void tu_wait_begin(uv_loop_t *loop)
{
    if (!tu_tick_init) {
        uv_timer_init(loop, &tu_tick);
        tu_tick_init = true;
    }
    uv_timer_start(&tu_tick, tu_on_tick, 5, 5);
}

static inline void tu_wait_end(void)
{
    uv_timer_stop(&tu_tick);
}

/* Runs the loop for ms milliseconds. */
static inline void run_ms(uv_loop_t *loop, int ms)
{
    (void)RUN_UNTIL(loop, false, ms);
}

static void tu_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "handle still open: %s\n", uv_handle_type_name(h->type));
}

/* Closes the helper's timer, runs the loop dry and checks that it closes
 * cleanly (libuv's own test habit): every handle was closed. */
static inline void close_loop(uv_loop_t *loop)
{
    if (tu_tick_init) {
        uv_close((uv_handle_t *)&tu_tick, NULL);
        tu_tick_init = false;
    }
    for (int i = 0; i < 200 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
        uv_sleep(5);
    if (uv_loop_close(loop) != 0) {
        uv_walk(loop, tu_walk, NULL);
        CHECK(!"loop closed cleanly");
    }
}

#endif
