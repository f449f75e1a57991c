/* The judge fleet as cc-submission sees it: every judge's last JudgeStatus
 * from the key-value bucket CC_JUDGES (loaded at start, then followed as
 * the judges write it), ListJudges and SetJudgeState for admins, and the
 * submissions of a judge that went away put back to queued: JetStream
 * redelivers their jobs after the ack wait, and the next judge to start
 * one takes it over (events.c). A judge is gone when it said so or has
 * been silent for three of its heartbeats. Every replica keeps the whole
 * map; a requeue is one guarded UPDATE, so two replicas doing it change
 * the rows once. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/js.h"
#include "cc/log.h"
#include "cc/mesh.h"
#include "sub.h"

/* How often gone judges are looked for. */
#define SWEEP_MS 1000
/* A judge silent for this many heartbeats is gone. */
#define GONE_AFTER_BEATS 3
/* A gone judge whose submissions were requeued is forgotten after this
 * long, as the bucket forgets its key (entries kept a day): a fleet whose
 * judges get new names at each start must not grow the map for ever. */
#define FORGET_AFTER_MS (24 * 3600 * 1000LL)

typedef struct fleet_judge {
    char key[128];
    Codecourt__V1__JudgeStatus *status; /* unpacked with the default allocator */
    int64_t seen_ms;                    /* when its last status came (Unix ms) */
    bool requeued;                      /* its submissions went back to the queue */
} fleet_judge;

struct sub_fleet {
    sub_state *st;
    fleet_judge *v;
    size_t n, cap;
    cc_bus_sub *sub;
    uv_timer_t *sweep;
    int requests; /* the start's reads in flight */
    bool stopped; /* the last request's callback frees it */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool judge_gone(const fleet_judge *j, int64_t now)
{
    int64_t beat = j->status->heartbeat_ms > 0 ? j->status->heartbeat_ms : 5000;
    return !strcmp(j->status->state, "gone") || now - j->seen_ms > GONE_AFTER_BEATS * beat;
}

static fleet_judge *find(sub_fleet *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i].key, key))
            return &f->v[i];
    return NULL;
}

/* Keeps status (taking it) for key when it is newer than what is known. */
static void upsert(sub_fleet *f, const char *key, Codecourt__V1__JudgeStatus *status,
                   int64_t seen_ms)
{
    fleet_judge *j = find(f, key);
    if (j && j->status->heartbeat_at_ms > status->heartbeat_at_ms) {
        protobuf_c_message_free_unpacked(&status->base, NULL);
        return;
    }
    if (!j) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 16;
            fleet_judge *v = realloc(f->v, cap * sizeof *v);
            if (!v) {
                protobuf_c_message_free_unpacked(&status->base, NULL);
                return;
            }
            f->v = v;
            f->cap = cap;
        }
        j = &f->v[f->n++];
        memset(j, 0, sizeof *j);
        snprintf(j->key, sizeof j->key, "%s", key);
    } else {
        protobuf_c_message_free_unpacked(&j->status->base, NULL);
    }
    j->status = status;
    j->seen_ms = seen_ms;
    if (!judge_gone(j, now_ms()))
        j->requeued = false;
}

static Codecourt__V1__JudgeStatus *unpack_status(const void *data, size_t len)
{
    Codecourt__V1__JudgeStatus *s = (Codecourt__V1__JudgeStatus *)protobuf_c_message_unpack(
        &codecourt__v1__judge_status__descriptor, NULL, len, data);
    if (s && !s->box) {
        protobuf_c_message_free_unpacked(&s->base, NULL);
        return NULL; /* every judge reports its box */
    }
    return s;
}

static void on_status(cc_bus *b, natsMsg *m, void *ud)
{
    sub_fleet *f = ud;
    const char *subj = natsMsg_GetSubject(m);
    const char *key = subj + strlen(CC_KV_JUDGES_STATUS);
    Codecourt__V1__JudgeStatus *s =
        strncmp(subj, CC_KV_JUDGES_STATUS, strlen(CC_KV_JUDGES_STATUS)) == 0
            ? unpack_status(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m))
            : NULL;
    if (s)
        upsert(f, key, s, now_ms());
    else
        cc_log(CC_LOG_WARN, NULL, "unreadable judge status ignored", "{s:s}", "subject", subj);
    cc_bus_msg_release(b, m);
}

/* ---- loading the bucket at start ------------------------------------------------- */

static void fleet_free(sub_fleet *f)
{
    for (size_t i = 0; i < f->n; i++)
        protobuf_c_message_free_unpacked(&f->v[i].status->base, NULL);
    free(f->v);
    free(f);
}

/* Ends one of the start's requests; true when f is still in use. */
static bool request_end(sub_fleet *f)
{
    f->requests--;
    if (f->stopped) {
        if (!f->requests)
            fleet_free(f);
        return false;
    }
    return true;
}

static void on_stored_status(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    sub_fleet *f = ud;
    json_t *o = cc_js_api_reply(s, reply);
    cc_js_stored m;
    if (request_end(f) && cc_js_stored_from(o, &m) && m.subject &&
        !strncmp(m.subject, CC_KV_JUDGES_STATUS, strlen(CC_KV_JUDGES_STATUS))) {
        Codecourt__V1__JudgeStatus *st = unpack_status(m.data, m.len);
        /* Stored before this replica started: its own heartbeat time is
         * the best there is. */
        if (st)
            upsert(f, m.subject + strlen(CC_KV_JUDGES_STATUS), st, st->heartbeat_at_ms);
    }
    cc_js_stored_clear(&m);
    json_decref(o);
}

static void on_bucket_info(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    sub_fleet *f = ud;
    json_t *o = cc_js_api_reply(s, reply);
    if (!request_end(f)) {
        json_decref(o);
        return;
    }
    json_t *subjects = json_object_get(json_object_get(o, "state"), "subjects");
    if (!json_is_object(subjects) && json_object_get(o, "error"))
        cc_log(CC_LOG_WARN, NULL, "cannot read the judges' registry", "{s:s}", "error",
               json_string_value(json_object_get(json_object_get(o, "error"), "description"))
                   ?: "");
    const char *subj;
    json_t *count;
    json_object_foreach(subjects, subj, count)
    {
        char body[400];
        int n = snprintf(body, sizeof body, "{\"last_by_subj\":\"%s\"}", subj);
        if (n > 0 && (size_t)n < sizeof body &&
            cc_bus_request(b, "$JS.API.STREAM.MSG.GET." CC_STREAM_JUDGES_KV, NULL, NULL, NULL,
                           body, (size_t)n, 5000, on_stored_status, f) == CC_OK)
            f->requests++;
    }
    json_decref(o);
}

/* ---- a judge that went away ------------------------------------------------------ */

typedef struct requeue_ctx {
    sub_state *st;
    char key[128];   /* the judge's key in the map */
    char judge[128]; /* its id, as submissions.judge holds it */
} requeue_ctx;

static void requeued(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    requeue_ctx *c = ud;
    if (s != CC_OK) {
        cc_log(CC_LOG_WARN, NULL, "cannot requeue a gone judge's submissions", "{s:s, s:s}",
               "judge", c->judge, "error", errmsg ? errmsg : cc_status_str(s));
        fleet_judge *j = c->st->fleet ? find(c->st->fleet, c->key) : NULL;
        if (j)
            j->requeued = false; /* the next sweep tries again */
        free(c);
        return;
    }
    int n = cc_pg_nrows(r);
    if (n)
        cc_log(CC_LOG_WARN, NULL, "judge gone: its submissions are queued again", "{s:s, s:i}",
               "judge", c->judge, "submissions", n);
    for (int i = 0; i < n; i++)
        sub_live(c->st, NULL, cc_pg_get(r, i, 1), cc_pg_get(r, i, 0),
                 (uint32_t)cc_pg_int(r, i, 2), "queued", "", 0, 0, NULL, false, 0);
    free(c);
}

static void on_sweep(uv_timer_t *t)
{
    sub_fleet *f = t->data;
    int64_t now = now_ms();
    for (size_t i = 0; i < f->n; i++) {
        fleet_judge *j = &f->v[i];
        if (j->requeued && judge_gone(j, now) && now - j->seen_ms > FORGET_AFTER_MS) {
            protobuf_c_message_free_unpacked(&j->status->base, NULL);
            f->v[i--] = f->v[--f->n];
            continue;
        }
        if (j->requeued || !judge_gone(j, now) || !f->st->pg)
            continue;
        requeue_ctx *c = calloc(1, sizeof *c);
        if (!c)
            return;
        c->st = f->st;
        snprintf(c->key, sizeof c->key, "%s", j->key);
        snprintf(c->judge, sizeof c->judge, "%s", j->status->id);
        j->requeued = true;
        cc_pg_param p[] = {CC_PG_TEXT(j->status->id)};
        if (cc_pg_query(f->st->pg,
                        "UPDATE submissions SET status = 'queued', test_index = 0, judge = '' "
                        "WHERE judge = $1 AND status IN ('compiling', 'running') "
                        "RETURNING id::text, user_id, attempt",
                        p, 1, requeued, c) != CC_OK) {
            j->requeued = false;
            free(c);
        }
    }
}

/* ---- start and stop ---------------------------------------------------------------- */

cc_status sub_fleet_start(sub_state *st)
{
    sub_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return cc_err_set(CC_NOMEM, "out of memory");
    f->st = st;
    cc_bus *b = cc_actor_bus(st->actor);
    /* Every replica hears every judge: no queue group. */
    cc_status s = cc_bus_subscribe(b, CC_KV_JUDGES_STATUS "*", NULL, on_status, f, &f->sub);
    if (s != CC_OK) {
        free(f);
        return s;
    }
    f->sweep = malloc(sizeof *f->sweep);
    if (!f->sweep) {
        cc_bus_unsubscribe(f->sub);
        free(f);
        return cc_err_set(CC_NOMEM, "out of memory");
    }
    uv_timer_init(cc_actor_loop(st->actor), f->sweep);
    f->sweep->data = f;
    uv_timer_start(f->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    st->fleet = f;
    static const char body[] = "{\"subjects_filter\":\"" CC_KV_JUDGES_STATUS ">\"}";
    if (cc_bus_request(b, "$JS.API.STREAM.INFO." CC_STREAM_JUDGES_KV, NULL, NULL, NULL, body,
                       sizeof body - 1, 5000, on_bucket_info, f) == CC_OK)
        f->requests++;
    return CC_OK;
}

static void sweep_closed(uv_handle_t *h)
{
    free(h);
}

void sub_fleet_stop(sub_state *st)
{
    sub_fleet *f = st->fleet;
    if (!f)
        return;
    st->fleet = NULL;
    cc_bus_unsubscribe(f->sub);
    uv_close((uv_handle_t *)f->sweep, sweep_closed);
    f->stopped = true;
    if (!f->requests)
        fleet_free(f);
}

/* ---- ListJudges and SetJudgeState ---------------------------------------------------- */

static int by_id(const void *a, const void *b)
{
    const Codecourt__V1__JudgeStatus *x = *(Codecourt__V1__JudgeStatus *const *)a;
    const Codecourt__V1__JudgeStatus *y = *(Codecourt__V1__JudgeStatus *const *)b;
    return strcmp(x->id, y->id);
}

/* A copy of j's status in the call's arena, "gone" when it is. */
static Codecourt__V1__JudgeStatus *view(cc_rpc_call *call, const fleet_judge *j, int64_t now)
{
    Codecourt__V1__JudgeStatus *v = cc_arena_alloc(cc_rpc_arena(call), sizeof *v);
    if (!v)
        return NULL;
    *v = *j->status; /* shallow: packed before the map can change */
    if (judge_gone(j, now)) {
        v->state = "gone";
        v->n_jobs = 0;
    }
    return v;
}

typedef struct list_ctx {
    cc_rpc_call *call;
    sub_state *st;
} list_ctx;

static void got_queue(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "read the queue");
        return;
    }
    sub_fleet *f = c->st->fleet;
    Codecourt__V1__JudgeList out = CODECOURT__V1__JUDGE_LIST__INIT;
    out.queue_depth = cc_pg_int(r, 0, 0);
    out.oldest_queued_ms = cc_pg_int(r, 0, 1);
    size_t n = f ? f->n : 0;
    out.judges = cc_arena_alloc(cc_rpc_arena(c->call), (n ? n : 1) * sizeof *out.judges);
    if (!out.judges) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++)
        if ((out.judges[out.n_judges] = view(c->call, &f->v[i], now)) != NULL)
            out.n_judges++;
    qsort(out.judges, out.n_judges, sizeof *out.judges, by_id);
    cc_rpc_reply(c->call, &out.base);
}

void sub_list_judges(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    (void)req;
    if (!cc_rpc_require_admin(call, "only admins see the judges"))
        return;
    list_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->st = sub_state_of(actor);
    cc_status s = cc_pg_query(
        c->st->pg,
        "SELECT count(*), coalesce((extract(epoch from now() - "
        "  min(coalesce(queued_at, created_at))) * 1000)::bigint, 0) "
        "FROM submissions WHERE status = 'queued'",
        NULL, 0, got_queue, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "read the queue");
}

typedef struct set_ctx {
    cc_rpc_call *call;
    sub_state *st;
    char key[128];
    const char *action;
} set_ctx;

static void order_stored(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    set_ctx *c = ud;
    json_t *o = cc_js_api_reply(s, reply);
    if (s != CC_OK || !json_is_integer(json_object_get(o, "seq"))) {
        const char *why = json_string_value(
            json_object_get(json_object_get(o, "error"), "description"));
        json_decref(o);
        cc_rpc_fail(c->call, s == CC_OK || s == CC_TIMEOUT ? CC_UNAVAILABLE : s,
                    "the judges' registry did not store the order: %s",
                    why ? why : cc_status_str(s));
        return;
    }
    json_decref(o);
    fleet_judge *j = c->st->fleet ? find(c->st->fleet, c->key) : NULL;
    if (!j) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "id: the judge left meanwhile");
        return;
    }
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "judge ordered", "{s:s, s:s}", "judge",
           j->status->id, "action", c->action);
    Codecourt__V1__JudgeStatus *v = view(c->call, j, now_ms());
    if (!v) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    /* The judge obeys when the order reaches it; its next status says so. */
    v->control = (char *)c->action;
    cc_rpc_reply(c->call, &v->base);
}

void sub_set_judge_state(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__SetJudgeStateRequest *rq = (const void *)req;
    sub_state *st = sub_state_of(actor);
    if (!cc_rpc_require_admin(call, "only admins control the judges"))
        return;
    static const char *const actions[] = {"drain", "disable", "enable"};
    const char *action = NULL;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (!strcmp(rq->action, actions[i]))
            action = actions[i];
    if (!action) {
        cc_rpc_fail(call, CC_INVALID, "action: must be drain, disable or enable, not '%.20s'",
                    rq->action);
        return;
    }
    fleet_judge *j = NULL;
    for (size_t i = 0; st->fleet && i < st->fleet->n && !j; i++)
        if (!strcmp(st->fleet->v[i].status->id, rq->id))
            j = &st->fleet->v[i];
    if (!j) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no judge '%.100s'", rq->id);
        return;
    }
    set_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->st = st;
    c->action = action;
    snprintf(c->key, sizeof c->key, "%s", j->key);
    Codecourt__V1__JudgeControl ctl = CODECOURT__V1__JUDGE_CONTROL__INIT;
    ctl.action = (char *)action;
    ctl.by = (char *)cc_rpc_principal(call)->id;
    ctl.at_ms = now_ms();
    uint8_t buf[256];
    size_t len = protobuf_c_message_get_packed_size(&ctl.base);
    if (len > sizeof buf) {
        cc_rpc_fail(call, CC_INVALID, "principal id too long");
        return;
    }
    protobuf_c_message_pack(&ctl.base, buf);
    char subject[256];
    snprintf(subject, sizeof subject, CC_KV_JUDGES_CONTROL "%s", j->key);
    /* A publish the bucket's stream answers: the order is kept for a
     * judge that restarts under the same name. */
    cc_status s = cc_bus_request(cc_actor_bus(st->actor), subject, cc_rpc_envelope(call),
                                 "codecourt.v1.JudgeControl", NULL, buf, len, 5000, order_stored,
                                 c);
    if (s != CC_OK)
        cc_rpc_fail(call, CC_UNAVAILABLE, "cannot reach the judges' registry: %s", cc_err_msg());
}
