/* Rejudge and RejudgeProblem (admins): the next attempt of a submission
 * on the version it was pinned to. The row is reset to queued with
 * attempt + 1 and the same job is queued again through the outbox in one
 * transaction (Nats-Msg-Id job-<id>-<attempt>); reports of older attempts
 * are ignored from then on. When the new verdict differs from the old one,
 * events.c emits cc.evt.submission.rejudged. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "sub.h"

typedef struct rj_ctx {
    cc_rpc_call *call;
    sub_state *st;
    cc_pg_tx *tx;
    const char *id; /* one submission, or NULL for a problem */
    int count;
    cc_status err;
} rj_ctx;

/* The rows to reset: every column the reply and the job need. */
#define RJ_SET                                                                                     \
    "UPDATE submissions s SET attempt = s.attempt + 1, status = 'queued', "                       \
    "prev_verdict = CASE WHEN s.verdict <> '' THEN s.verdict ELSE s.prev_verdict END, "           \
    "prev_toolchain = CASE WHEN s.toolchain <> '' THEN s.toolchain ELSE s.prev_toolchain END, "   \
    "toolchain = '', judge = '', queued_at = now(), "                                              \
    "verdict = '', score = 0, test_index = 0, result_sealed = NULL, result_key = NULL, sandbox_ms = 0, judged_at = NULL "

static void committed(cc_status s, const char *errmsg, void *ud)
{
    rj_ctx *c = ud;
    if (s == CC_OK && c->err == CC_NOT_FOUND) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "id: no submission %s", c->id);
        return;
    }
    if (s == CC_OK && c->err != CC_OK)
        s = c->err; /* a stored job unreadable, or the outbox refused */
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg ? errmsg : cc_err_msg(), "rejudge");
        return;
    }
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "rejudge queued", "{s:s, s:i}", "what",
           c->id ? c->id : "problem", "count", c->count);
    if (c->id) {
        Codecourt__V1__GetSubmissionRequest rq = CODECOURT__V1__GET_SUBMISSION_REQUEST__INIT;
        rq.id = (char *)c->id;
        sub_get(c->call, &rq.base, c->st->actor);
        return;
    }
    Codecourt__V1__RejudgeReply r = CODECOURT__V1__REJUDGE_REPLY__INIT;
    r.count = c->count;
    cc_rpc_reply(c->call, &r.base);
}

static void reset(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    rj_ctx *c = ud;
    if (s == CC_OK) {
        int n = cc_pg_nrows(r);
        for (int i = 0; i < n && c->err == CC_OK; i++) {
            Codecourt__V1__JudgeJob *job = (Codecourt__V1__JudgeJob *)sub_open_msg(
                c->st, NULL, &codecourt__v1__judge_job__descriptor, r, i, 1, 3,
                cc_pg_get(r, i, 0), "job_sealed");
            if (!job) {
                c->err = cc_err_set(CC_INTERNAL, "stored job of %s does not open or is malformed",
                                    cc_pg_get(r, i, 0));
                break;
            }
            int64_t att = 1;
            cc_pg_get_int64(r, i, 2, &att);
            job->attempt = (uint32_t)att;
            if (sub_queue_job(c->tx, cc_rpc_envelope(c->call), job) != CC_OK)
                c->err = CC_UNAVAILABLE;
            sub_live(c->st, cc_rpc_envelope(c->call), job->user_id, job->submission_id,
                     job->attempt, "queued", "", 0, 0, NULL, false, 0);
            codecourt__v1__judge_job__free_unpacked(job, NULL);
            c->count++;
        }
        if (c->id && n == 0)
            c->err = CC_NOT_FOUND;
    }
    if (c->err != CC_OK)
        cc_pg_tx_rollback(c->tx, committed, c);
    else
        cc_pg_tx_commit(c->tx, committed, c);
}

static void start(cc_rpc_call *call, void *actor, const char *id, const char *problem)
{
    if (!cc_rpc_require_admin(call, "only admins rejudge"))
        return;
    rj_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = sub_state_of(actor);
    c->id = id;
    cc_status s = cc_pg_begin(c->st->pg, &c->tx);
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, cc_err_msg(), "rejudge");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(id ? id : problem)};
    s = cc_pg_tx_query(c->tx,
                       id ? RJ_SET "WHERE s.id = $1::uuid RETURNING s.id::text, s.job_sealed, s.attempt, s.job_key"
                          : RJ_SET "WHERE s.problem = $1 RETURNING s.id::text, s.job_sealed, s.attempt, s.job_key",
                       p, 1, reset, c);
    if (s != CC_OK)
        cc_pg_tx_rollback(c->tx, committed, c);
}

void sub_rejudge(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__RejudgeRequest *rq = (const void *)req;
    if (!sub_uuid_ok(rq->id)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no submission '%.40s'", rq->id);
        return;
    }
    start(call, actor, rq->id, NULL);
}

void sub_rejudge_problem(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__RejudgeProblemRequest *rq = (const void *)req;
    if (!rq->problem[0] || strlen(rq->problem) > 64) {
        cc_rpc_fail(call, CC_INVALID, "problem: a problem slug is required");
        return;
    }
    start(call, actor, NULL, rq->problem);
}
