/* A small actor for integration tests: serves the runtime's built-in Ping
 * (which can hold a request in flight with sleep_ms) and, when --consume is
 * set, pulls from a durable JetStream consumer and either acks each
 * message after --work-ms or, with --never-ack, holds it forever (a worker
 * that dies mid-job). Every message it takes is printed on stdout as
 * "got <msg id> <delivered>" so the test can follow along. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cc/actor.h"
#include "cc/log.h"

typedef struct {
    char *consume; /* durable name on CC_EVENTS; "" = none */
    char *filter;
    int64_t work_ms;
    bool never_ack;
    int64_t ack_wait_ms;
} settings;

static settings cfg;

static const cc_config_row rows[] = {
    {"consume", CC_CFG_STRING, offsetof(settings, consume), "", 0, 0, NULL,
     "durable consumer on CC_EVENTS to pull from"},
    {"filter", CC_CFG_STRING, offsetof(settings, filter), "cc.evt.test.>", 0, 0, NULL,
     "subject filter of the consumer"},
    {"work-ms", CC_CFG_DURATION, offsetof(settings, work_ms), "0", 0, 600000, NULL,
     "time spent on each message before acking"},
    {"never-ack", CC_CFG_BOOL, offsetof(settings, never_ack), "false", 0, 0, NULL,
     "take messages and never answer them"},
    {"ack-wait", CC_CFG_DURATION, offsetof(settings, ack_wait_ms), "1s", 100, 600000, NULL,
     "ack wait of the consumer"},
};

typedef struct {
    uv_timer_t t;
    cc_js_msg *m;
} job;

static void job_closed(uv_handle_t *h)
{
    free(h->data);
}

static void job_done(uv_timer_t *t)
{
    job *j = t->data;
    cc_js_ack(j->m);
    uv_close((uv_handle_t *)t, job_closed);
}

static void on_msg(cc_js_msg *m, void *ud)
{
    cc_actor *a = ud;
    printf("got %s %llu\n", cc_js_msg_id(m), (unsigned long long)cc_js_msg_delivered(m));
    fflush(stdout);
    if (cfg.never_ack)
        return; /* held until the process dies */
    job *j = calloc(1, sizeof *j);
    if (!j) {
        cc_js_nak(m, 0);
        return;
    }
    j->m = m;
    uv_timer_init(cc_actor_loop(a), &j->t);
    j->t.data = j;
    uv_timer_start(&j->t, job_done, (uint64_t)cfg.work_ms, 0);
}

static void consuming(cc_actor *a, cc_js_consumer *c, void *ud)
{
    (void)a;
    (void)ud;
    if (c) {
        printf("consuming\n");
        fflush(stdout);
    }
}

/* The consumer comes from the settings, so it is started through
 * cc_actor_consume rather than a row of the table. */
static cc_status start(cc_actor *a)
{
    if (!cfg.consume[0])
        return CC_OK;
    cc_js_consumer_config cc = {.stream = CC_STREAM_EVENTS,
                                .durable = cfg.consume,
                                .filter = cfg.filter,
                                .ack_wait_ms = cfg.ack_wait_ms,
                                .max_deliver = 10};
    return cc_actor_consume(a, &cc, on_msg, a, consuming);
}

int main(int argc, char **argv)
{
    const char *service = getenv("CC_TEST_SERVICE");
    cc_actor_def def = {
        .service = service && *service ? service : "test",
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
    };
    return cc_actor_main(&def, argc, argv);
}
