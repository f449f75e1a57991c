/* Integration: the mesh's NATS users on a real nats-server, as cclocal
 * configures it from the table in runtime/src/mesh.c (the table
 * Kubernetes renders too). For every service: a forbidden publish, a
 * forbidden subscription and a forbidden JetStream API call are refused by
 * the server (a permissions violation, and nothing arrives), while its own
 * traffic works (a request on a subject it may publish, answered into its
 * own inbox; a request on its own RPC subject, answered through
 * allow_responses). A process without credentials cannot connect. Then the
 * runtime's caller-scoped RPC: the server learns the caller from the
 * subject, and no other service can take the judge's. */
#include <nats/nats.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "cc/bus.h"
#include "cc/js.h"
#include "cc/local.h"
#include "cc/mesh.h"
#include "codecourt/v1/runtime.pb-c.h"
#include "cctest_http.h"

static cc_local_stack stack;
static natsConnection *admin;

/* What one service may not do, and one thing it does every day. */
typedef struct probe {
    const char *service;
    const char *publish[4];   /* forbidden publishes */
    const char *subscribe[3]; /* forbidden subscriptions */
    const char *js_api[3];    /* forbidden JetStream API calls */
    const char *allowed;      /* a subject it may publish (a request) */
} probe;

static const probe probes[] = {
    {"gateway",
     {"cc.evt.user.registered", "cc.rpc.problem.judge.GetBlob", "cc.live.user.42"},
     {"_INBOX.user.>", "_INBOX.>", "cc.rpc.user.>"},
     {"$JS.API.STREAM.CREATE.CC_EVENTS", "$JS.API.STREAM.INFO.CC_EVENTS"},
     "cc.rpc.user.Login"},
    {"user",
     {"cc.evt.submission.judged", "cc.rpc.user.GetMe", "_INBOX.gateway.x.1"},
     {"_INBOX.>", "cc.live.user.42"},
     {"$JS.API.STREAM.DELETE.CC_EVENTS", "$JS.API.STREAM.CREATE.CC_JUDGE"},
     "cc.evt.user.registered"},
    {"problem",
     {"cc.live.user.42", "cc.evt.user.registered"},
     {"cc.rpc.user.Login", "_INBOX.judge.>"},
     {"$JS.API.STREAM.PURGE.CC_EVENTS", "$JS.API.CONSUMER.MSG.NEXT.CC_JUDGE.judges"},
     "cc.evt.problem.created"},
    {"submission",
     {"cc.rpc.problem.judge.GetBlob", "cc.rpc.user.Login", "cc.evt.user.registered"},
     {"_INBOX.judge.>", "cc.evt.>"},
     {"$JS.API.CONSUMER.DELETE.CC_EVENTS.notify", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.notify"},
     "cc.judge.job"},
    {"notify",
     {"cc.rpc.user.Login", "cc.evt.notification.sent", "cc.judge.job"},
     {"cc.live.user.>", "_INBOX.user.>"},
     {"$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.submission", "$JS.API.STREAM.UPDATE.CC_JUDGE"},
     "cc.rpc.user.GetUserContact"},
    /* The read models publish only their own events; their readers may
     * delete their own consumer only. */
    {"contest",
     {"cc.evt.submission.judged", "cc.live.user.42", "cc.rpc.user.Login"},
     {"cc.live.contest.>", "_INBOX.stats.>"},
     {"$JS.API.CONSUMER.DELETE.CC_EVENTS.contest", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.notify",
      "$JS.API.STREAM.PURGE.CC_EVENTS"},
     "cc.live.contest.icpc1"},
    {"stats",
     {"cc.evt.contest.updated", "cc.evt.user.registered", "cc.live.user.42"},
     {"cc.evt.>", "_INBOX.contest.>"},
     {"$JS.API.CONSUMER.DELETE.CC_EVENTS.contest", "$JS.API.CONSUMER.DELETE.CC_EVENTS.submission",
      "$JS.API.STREAM.DELETE.CC_EVENTS"},
     "cc.evt.stats.problem_suggested"},
    {"contest-reader",
     {"cc.evt.contest.updated", "cc.live.contest.icpc1", "cc.rpc.contest.GetContest"},
     {"cc.rpc.contest-reader.>", "_INBOX.contest.>"},
     {"$JS.API.CONSUMER.DELETE.CC_EVENTS.stats", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.notify",
      "$JS.API.STREAM.CREATE.CC_EVENTS"},
     "$JS.API.CONSUMER.INFO.CC_EVENTS.contest"},
    {"stats-reader",
     {"cc.evt.stats.problem_suggested", "cc.live.user.42", "cc.rpc.stats.GetUserStats"},
     {"cc.rpc.stats.>", "_INBOX.stats.>"},
     {"$JS.API.CONSUMER.DELETE.CC_EVENTS.contest", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.contest",
      "$JS.API.STREAM.UPDATE.CC_EVENTS"},
     "$JS.API.CONSUMER.INFO.CC_EVENTS.stats"},
    {"kafka-bridge",
     {"cc.evt.submission.judged", "cc.evt.user.registered", "cc.rpc.user.Login"},
     {"cc.rpc.problem.>", "_INBOX.>"},
     {"$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.submission", "$JS.ACK.CC_EVENTS.notify.1.5.5.0.0",
      "$JS.API.STREAM.CREATE.CC_EVENTS"},
     "cc.evt.kafka.orders.placed"},
    /* cc-admin backup and restore: the streams' snapshot API, nothing of
     * the mesh's traffic. */
    {"backup",
     {"cc.evt.user.registered", "cc.rpc.user.Login", "cc.judge.job", "cc.live.user.42"},
     {"cc.evt.>", "_INBOX.user.>", "cc.judge.job"},
     {"$JS.API.STREAM.CREATE.CC_EVENTS", "$JS.API.STREAM.PURGE.CC_EVENTS",
      "$JS.API.CONSUMER.MSG.NEXT.CC_JUDGE.judges"},
     "$JS.API.STREAM.NAMES"},
    {"judge",
     {"cc.rpc.problem.GetBlob", "cc.live.user.42", "cc.evt.submission.rejudged",
      "cc.rpc.problem.DeleteProblem"},
     {"_INBOX.problem.>", "cc.judge.job"},
     {"$JS.API.STREAM.UPDATE.CC_EVENTS", "$JS.API.STREAM.CREATE.CC_JUDGE_DEAD",
      "$JS.API.CONSUMER.DURABLE.CREATE.CC_EVENTS.judges"},
     "cc.rpc.problem.judge.GetBlob"},
};

/* ---- a service's connection and the violations the server reports ------- */

typedef struct conn {
    natsConnection *nc;
    pthread_mutex_t mu;
    char last_violation[512]; /* the last permissions error the server sent */
    int violations;
} conn;

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *ud)
{
    conn *c = ud;
    if (err != NATS_NOT_PERMITTED)
        return;
    const char *text = NULL;
    natsConnection_GetLastError(nc, &text);
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_violation, sizeof c->last_violation, "%s", text ? text : "");
    c->violations++;
    pthread_mutex_unlock(&c->mu);
}

/* Connects as service's own user with its inbox prefix, as the runtime
 * does. */
static void conn_open(conn *c, const char *service)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    char prefix[80];
    assert_int_equal(cc_mesh_inbox_prefix(service, prefix, sizeof prefix), CC_OK);
    natsOptions *o = NULL;
    assert_int_equal(cc_local_nats_options(&stack, cc_local_nats_url(&stack, service), &o),
                     NATS_OK);
    assert_int_equal(natsOptions_SetCustomInboxPrefix(o, prefix), NATS_OK);
    assert_int_equal(natsOptions_SetErrorHandler(o, on_error, c), NATS_OK);
    natsStatus s = natsConnection_Connect(&c->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        fail_msg("connect as %s: %s", service, natsStatus_GetText(s));
}

static void conn_close(conn *c)
{
    natsConnection_Destroy(c->nc);
    pthread_mutex_destroy(&c->mu);
}

/* Waits up to 3 s for the server's violation report naming what and
 * subject ("Publish to", "Subscription to"). */
static void expect_violation(conn *c, const char *service, const char *what, const char *subject)
{
    char want[400];
    snprintf(want, sizeof want, "Permissions Violation for %s \"%s\"", what, subject);
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&c->mu);
        bool seen = c->violations > 0 && strstr(c->last_violation, want) != NULL;
        pthread_mutex_unlock(&c->mu);
        if (seen)
            return;
        nats_Sleep(10);
    }
    fail_msg("%s: no \"%s\" from the server (last error: %s)", service, want, c->last_violation);
}

static int violations(conn *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->violations;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* A literal subject a pattern covers ("cc.live.user.>" gives
 * "cc.live.user.x"). */
static void literal(const char *pattern, char *out, size_t n)
{
    snprintf(out, n, "%s", pattern);
    for (char *p = out; *p; p++)
        if ((*p == '*' || *p == '>') && (p == out || p[-1] == '.') && (!p[1] || p[1] == '.'))
            *p = 'x';
}

/* Nothing published on subject reaches the admin's subscription sub. */
static void nothing_arrives(natsSubscription *sub, const char *service, const char *subject)
{
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, 300);
    if (s == NATS_OK) {
        natsMsg_Destroy(m);
        fail_msg("%s: a message on %s got through", service, subject);
    }
}

/* ---- per service ----------------------------------------------------------- */

static void forbidden_publishes(const probe *p, conn *c)
{
    const char *const *lists[] = {p->publish, p->js_api};
    const size_t sizes[] = {sizeof p->publish / sizeof p->publish[0],
                            sizeof p->js_api / sizeof p->js_api[0]};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < sizes[l] && lists[l][i]; i++) {
            const char *subject = lists[l][i];
            natsSubscription *watch = NULL;
            assert_int_equal(natsConnection_SubscribeSync(&watch, admin, subject), NATS_OK);
            assert_int_equal(natsConnection_Flush(admin), NATS_OK);
            natsMsg *reply = NULL;
            /* As a request, the way the runtime and nats.c publish: no
             * answer comes back either. */
            natsStatus s = natsConnection_RequestString(&reply, c->nc, subject, "{}", 300);
            if (s == NATS_OK)
                fail_msg("%s: %s was answered: %.*s", p->service, subject,
                         natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
            expect_violation(c, p->service, "Publish to", subject);
            nothing_arrives(watch, p->service, subject);
            natsSubscription_Destroy(watch);
        }
    }
}

static void forbidden_subscriptions(const probe *p, conn *c)
{
    for (size_t i = 0; i < sizeof p->subscribe / sizeof p->subscribe[0] && p->subscribe[i]; i++) {
        const char *pattern = p->subscribe[i];
        natsSubscription *sub = NULL;
        /* nats.c sends SUB and returns; the server answers with -ERR. */
        assert_int_equal(natsConnection_SubscribeSync(&sub, c->nc, pattern), NATS_OK);
        natsConnection_Flush(c->nc);
        expect_violation(c, p->service, "Subscription to", pattern);
        char subject[200];
        literal(pattern, subject, sizeof subject);
        assert_int_equal(natsConnection_PublishString(admin, subject, "secret"), NATS_OK);
        assert_int_equal(natsConnection_Flush(admin), NATS_OK);
        nothing_arrives(sub, p->service, subject);
        natsSubscription_Destroy(sub);
    }
}

/* The admin answers what arrives on a subscription: a stand-in for the
 * service that serves it. */
static void answer(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
    if (natsMsg_GetReply(m))
        natsConnection_PublishString(nc, natsMsg_GetReply(m), "pong");
    natsMsg_Destroy(m);
}

/* A read model's reader serves nothing and has no allow_responses (which
 * slow its pulls down): a request that reaches it, here on its own inbox,
 * cannot be answered. */
static void reader_cannot_answer(const probe *p, conn *c, int before)
{
    char prefix[80], subject[128];
    cc_mesh_inbox_prefix(p->service, prefix, sizeof prefix);
    snprintf(subject, sizeof subject, "%s.probe", prefix);
    natsSubscription *own = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&own, c->nc, subject), NATS_OK);
    assert_int_equal(natsConnection_Flush(c->nc), NATS_OK);
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    natsSubscription *back = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&back, admin, inbox), NATS_OK);
    assert_int_equal(natsConnection_PublishRequestString(admin, subject, inbox, "probe"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    natsMsg *req = NULL;
    assert_int_equal(natsSubscription_NextMsg(&req, own, 3000), NATS_OK);
    assert_int_equal(natsConnection_PublishString(c->nc, natsMsg_GetReply(req), "answer"), NATS_OK);
    natsConnection_Flush(c->nc);
    expect_violation(c, p->service, "Publish to", inbox);
    nothing_arrives(back, p->service, "a reader's reply");
    natsMsg_Destroy(req);
    natsSubscription_Destroy(back);
    natsSubscription_Destroy(own);
    natsInbox_Destroy(inbox);
    assert_int_equal(violations(c), before + 1);
}

static void allowed_traffic(const probe *p, conn *c)
{
    int before = violations(c);
    /* A request on a subject it may publish: the stand-in (or the stream,
     * for an event) answers into the service's own inbox. */
    natsSubscription *server = NULL;
    assert_int_equal(natsConnection_Subscribe(&server, admin, p->allowed, answer, NULL), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, c->nc, p->allowed, "ping", 3000);
    if (s != NATS_OK)
        fail_msg("%s: request on %s: %s (%s)", p->service, p->allowed, natsStatus_GetText(s),
                 c->last_violation);
    char prefix[80];
    cc_mesh_inbox_prefix(p->service, prefix, sizeof prefix);
    assert_int_equal(strncmp(natsMsg_GetSubject(reply), prefix, strlen(prefix)), 0);
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(server);

    if (cc_mesh_find(p->service)->reader) {
        reader_cannot_answer(p, c, before);
        return;
    }

    /* A request on its own RPC subject, answered through allow_responses
     * (it may publish into no inbox otherwise). */
    char rpc[128];
    snprintf(rpc, sizeof rpc, "cc.rpc.%s.Probe", p->service);
    natsSubscription *own = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&own, c->nc, rpc), NATS_OK);
    assert_int_equal(natsConnection_Flush(c->nc), NATS_OK);
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    natsSubscription *back = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&back, admin, inbox), NATS_OK);
    assert_int_equal(natsConnection_PublishRequestString(admin, rpc, inbox, "probe"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    natsMsg *req = NULL;
    assert_int_equal(natsSubscription_NextMsg(&req, own, 3000), NATS_OK);
    assert_int_equal(natsConnection_PublishString(c->nc, natsMsg_GetReply(req), "answer"), NATS_OK);
    /* A second answer to the same request is one too many. */
    assert_int_equal(natsConnection_PublishString(c->nc, natsMsg_GetReply(req), "again"), NATS_OK);
    natsConnection_Flush(c->nc);
    natsMsg *got = NULL;
    assert_int_equal(natsSubscription_NextMsg(&got, back, 3000), NATS_OK);
    assert_string_equal(natsMsg_GetData(got), "answer");
    natsMsg_Destroy(got);
    nothing_arrives(back, p->service, "a second reply");
    natsMsg_Destroy(req);
    natsSubscription_Destroy(back);
    natsSubscription_Destroy(own);
    /* Only the second answer was refused. */
    expect_violation(c, p->service, "Publish to", inbox);
    natsInbox_Destroy(inbox);
    assert_int_equal(violations(c), before + 1);
}

static void each_service_gets_only_its_own_subjects(void **state)
{
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const probe *p = &probes[i];
        /* Each probe must be forbidden by the table too: a probe the
         * table allowed would test nothing. */
        const cc_mesh_service *row = cc_mesh_find(p->service);
        assert_non_null(row);
        assert_true(cc_mesh_may_publish(row, p->allowed));
        conn c;
        conn_open(&c, p->service);
        allowed_traffic(p, &c);
        forbidden_publishes(p, &c);
        forbidden_subscriptions(p, &c);
        conn_close(&c);
    }
    /* Nothing the services tried touched the streams. */
    natsMsg *m = NULL;
    assert_int_equal(
        natsConnection_RequestString(&m, admin, "$JS.API.STREAM.INFO.CC_EVENTS", "", 5000),
        NATS_OK);
    assert_null(strstr(natsMsg_GetData(m), "\"error\""));
    natsMsg_Destroy(m);
}

static void every_service_is_probed(void **state)
{
    size_t n = 0;
    const cc_mesh_service *rows = cc_mesh_services(&n);
    for (size_t r = 0; r < n; r++) {
        if (rows[r].local_only)
            continue;
        bool found = false;
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            found = found || strcmp(probes[i].service, rows[r].name) == 0;
        if (!found)
            fail_msg("service %s of the mesh's table has no probe here", rows[r].name);
    }
    /* Each probe tries at least one subject the service does not own both
     * ways: a publish and a subscription, each refused. */
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (!probes[i].publish[0] || !probes[i].subscribe[0])
            fail_msg("probe of %s lacks a forbidden publish or subscription", probes[i].service);
    }
}

static void no_credentials_no_connection(void **state)
{
    /* Through TLS the client trusts (the stack's CA), so each refusal is
     * the server's answer to the credentials, not a failed handshake. */
    natsConnection *nc = NULL;
    const char *scheme = stack.tls ? "tls" : "nats";
    assert_int_equal(cc_local_nats_connect_url(&stack, stack.nats_url, &nc),
                     NATS_CONNECTION_AUTH_FAILED);
    char url[400];
    snprintf(url, sizeof url, "%s://cc-judge:wrong@127.0.0.1:%u", scheme,
             (unsigned)stack.nats_port);
    assert_int_equal(cc_local_nats_connect_url(&stack, url, &nc), NATS_CONNECTION_AUTH_FAILED);
    /* One service's password is not another's. */
    const cc_local_nats_user *problem = cc_local_nats_user_of(&stack, "problem");
    snprintf(url, sizeof url, "%s://cc-judge:%s@127.0.0.1:%u", scheme, problem->password,
             (unsigned)stack.nats_port);
    assert_int_equal(cc_local_nats_connect_url(&stack, url, &nc), NATS_CONNECTION_AUTH_FAILED);
}

/* ---- caller-scoped RPC through the runtime --------------------------------------------- */

static uv_loop_t loop;

/* "Who": answers with who called, as the server sees it. */
static void who(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    char text[400];
    snprintf(text, sizeof text, "caller=%s principal=%s",
             cc_rpc_caller(call) ? cc_rpc_caller(call) : "-",
             cc_rpc_envelope(call)->principal[0] ? cc_rpc_envelope(call)->principal : "-");
    Codecourt__V1__PingReply r = CODECOURT__V1__PING_REPLY__INIT;
    r.text = text;
    cc_rpc_reply(call, &r.base);
}

static const cc_rpc_method who_methods[] = {
    {"GetBlob", &codecourt__v1__ping_request__descriptor, &codecourt__v1__ping_reply__descriptor,
     who, 0},
};

typedef struct answer_t {
    bool done;
    cc_status s;
    char text[400];
} answer_t;

static void got(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    answer_t *a = ud;
    a->s = s;
    if (resp)
        snprintf(a->text, sizeof a->text, "%s", ((const Codecourt__V1__PingReply *)resp)->text);
    a->done = true;
}

static cc_bus *bus_as(const char *service)
{
    cc_bus *b = NULL;
    cc_bus_options o = {.url = cc_local_nats_url(&stack, service),
                        .name = service,
                        .service = service,
                        .connect_timeout_ms = 5000};
    assert_int_equal(cc_bus_connect(&loop, &o, &b), CC_OK);
    return b;
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static answer_t ask(cc_bus *b, bool as_service)
{
    answer_t a = {0};
    cc_envelope env;
    cc_envelope_new(&env, NULL);
    cc_envelope_set_principal(&env, "00000000-0000-0000-0000-000000000001:admin");
    Codecourt__V1__PingRequest rq = CODECOURT__V1__PING_REQUEST__INIT;
    const ProtobufCMessageDescriptor *d = &codecourt__v1__ping_reply__descriptor;
    if (as_service)
        assert_int_equal(
            cc_rpc_call_as_service_async(b, "problem", "GetBlob", &env, &rq.base, d, 1500, got, &a),
            CC_OK);
    else
        assert_int_equal(
            cc_rpc_call_async(b, "problem", "GetBlob", &env, &rq.base, d, 1500, got, &a), CC_OK);
    assert_true(cct_run_until(&loop, &a.done, 5000));
    return a;
}

static void the_caller_is_what_nats_checked(void **state)
{
    uv_loop_init(&loop);
    cc_bus *problem = bus_as("problem");
    cc_rpc_server *srv = NULL;
    assert_int_equal(cc_rpc_serve(problem, "problem", who_methods, 1, NULL, &srv), CC_OK);
    cc_bus *judge = bus_as("judge");
    cc_bus *submission = bus_as("submission");
    cc_bus *gateway = bus_as("gateway");
    cct_run_until(&loop, &(bool){false}, 200); /* the subscriptions reach the server */

    /* The judge as itself: the server names it, and a principal it put in
     * the envelope does not travel. */
    answer_t a = ask(judge, true);
    assert_int_equal(a.s, CC_OK);
    assert_string_equal(a.text, "caller=judge principal=-");
    /* The gateway's ordinary call carries the user's principal and no
     * caller. */
    a = ask(gateway, false);
    assert_int_equal(a.s, CC_OK);
    assert_string_equal(a.text, "caller=- principal=00000000-0000-0000-0000-000000000001:admin");
    /* The judge may not use the principal-bearing subject... */
    assert_int_equal(ask(judge, false).s, CC_TIMEOUT);
    /* ...and no other service can pass for a judge, or call as itself where
     * the table does not let it. */
    assert_int_equal(ask(submission, true).s, CC_TIMEOUT);
    assert_int_equal(ask(gateway, true).s, CC_TIMEOUT);

    cc_rpc_stop(srv);
    bool d[4] = {false, false, false, false};
    cc_bus_close(judge, closed, &d[0]);
    cc_bus_close(submission, closed, &d[1]);
    cc_bus_close(gateway, closed, &d[2]);
    cc_bus_close(problem, closed, &d[3]);
    for (int i = 0; i < 4; i++)
        cct_run_until(&loop, &d[i], 5000);
    cc_rpc_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static int group_setup(void **state)
{
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS, NULL) != CC_OK) {
        fprintf(stderr, "cannot start nats: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    if (cc_local_nats_connect(&stack, CC_MESH_ADMIN, &admin) != NATS_OK)
        return -1;
    /* The streams exist, as when the services that declare them run. */
    if (cc_js_ensure_defaults(admin) != CC_OK) {
        fprintf(stderr, "streams: %s\n", cc_err_msg());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    natsConnection_Destroy(admin);
    cc_local_stack_stop(&stack);
    nats_Close();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_service_is_probed),
        cmocka_unit_test(no_credentials_no_connection),
        cmocka_unit_test(each_service_gets_only_its_own_subjects),
        cmocka_unit_test(the_caller_is_what_nats_checked),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
