/* The judges' reports: JudgeProgress and JudgeResult from CC_EVENTS through
 * the durable consumer "submission". Every write is guarded by the
 * natural key (submission, attempt) and the status, so a redelivered
 * event changes nothing: progress of an attempt already judged or
 * replaced by a rejudge is dropped, a test already stored stays, and a
 * result is stored once. Each change is also published live. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "sub.h"

/* How long a report waits before a retry when the database is away. */
#define RETRY_MS 1000

typedef struct ev_ctx {
    sub_state *st;
    cc_js_msg *m;
    ProtobufCMessage *msg; /* unpacked with the default allocator */
    char user_id[65];
    char old_verdict[16];
    bool changed;
    cc_pg_tx *tx;
} ev_ctx;

static void ev_end(ev_ctx *c, cc_status s, const char *errmsg, const char *what)
{
    if (s == CC_OK) {
        cc_js_ack(c->m);
    } else if (s == CC_UNAVAILABLE || s == CC_TIMEOUT || s == CC_CLOSED || s == CC_LIMIT ||
               s == CC_CONFLICT) {
        cc_log(CC_LOG_WARN, cc_js_msg_envelope(c->m), "report not stored; retrying",
               "{s:s, s:s}", "what", what, "error", errmsg ? errmsg : cc_status_str(s));
        cc_js_nak(c->m, RETRY_MS);
    } else {
        cc_log(CC_LOG_ERROR, cc_js_msg_envelope(c->m), "report dropped", "{s:s, s:s}", "what",
               what, "error", errmsg ? errmsg : cc_status_str(s));
        cc_js_term(c->m);
    }
    if (c->msg)
        protobuf_c_message_free_unpacked(c->msg, NULL);
    free(c);
}

/* ---- progress ------------------------------------------------------------------ */

static void progress_done(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    ev_ctx *c = ud;
    const Codecourt__V1__JudgeProgress *p = (const void *)c->msg;
    if (s == CC_OK && cc_pg_nrows(r) == 1) {
        bool running = !strcmp(p->stage, "running");
        const char *user = cc_pg_get(r, 0, 0);
        /* The live channel goes to the submitter, whose role the judge's
         * report does not carry: there only owning the problem opens a
         * secret test's details (an admin reads them with GetSubmission). */
        bool sees = sub_sees_secret(CC_ROLE_USER, user, cc_pg_get(r, 0, 1));
        sub_live(c->st, cc_js_msg_envelope(c->m), user, p->submission_id, p->attempt,
                 running ? "running" : !strcmp(p->stage, "compiling") ? "compiling" : "queued",
                 "", running ? p->test_index : 0, p->test_count, running ? p->test : NULL, sees,
                 0);
    }
    ev_end(c, s, errmsg, "progress");
}

static void on_progress(ev_ctx *c)
{
    const Codecourt__V1__JudgeProgress *p = (const void *)c->msg;
    char att[16], idx[16], cnt[16];
    snprintf(att, sizeof att, "%" PRIu32, p->attempt);
    snprintf(idx, sizeof idx, "%d", p->test_index);
    snprintf(cnt, sizeof cnt, "%d", p->test_count);
    cc_status s;
    if (!strcmp(p->stage, "compiling")) {
        cc_pg_param prm[] = {CC_PG_TEXT(p->submission_id), CC_PG_TEXT(att), CC_PG_TEXT(cnt),
                             CC_PG_TEXT(p->judge)};
        /* Another judge starting the attempt took it over from one that
         * went away (its job came back from JetStream): it starts again. */
        s = cc_pg_query(c->st->pg,
                        "UPDATE submissions SET status = 'compiling', test_count = $3::int, "
                        "judge = $4, test_index = 0 "
                        "WHERE id = $1::uuid AND attempt = $2::int AND (status = 'queued' "
                        "  OR (status IN ('compiling', 'running') AND judge <> $4)) "
                        "RETURNING user_id, problem_owner",
                        prm, 4, progress_done, c);
    } else if (!strcmp(p->stage, "requeued")) {
        /* The judge handed the job back (it was disabled): queued until a
         * judge starts it, unless one already has. */
        cc_pg_param prm[] = {CC_PG_TEXT(p->submission_id), CC_PG_TEXT(att),
                             CC_PG_TEXT(p->judge)};
        s = cc_pg_query(c->st->pg,
                        "UPDATE submissions SET status = 'queued', test_index = 0, judge = '' "
                        "WHERE id = $1::uuid AND attempt = $2::int "
                        "AND status IN ('compiling', 'running') AND judge = $3 "
                        "RETURNING user_id, problem_owner",
                        prm, 3, progress_done, c);
    } else if (!strcmp(p->stage, "running") && p->test && p->test_index > 0) {
        size_t len = protobuf_c_message_get_packed_size(&p->test->base);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            ev_end(c, CC_UNAVAILABLE, "out of memory", "progress");
            return;
        }
        protobuf_c_message_pack(&p->test->base, buf);
        cc_pg_param prm[] = {CC_PG_TEXT(p->submission_id), CC_PG_TEXT(att), CC_PG_TEXT(idx),
                             CC_PG_TEXT(cnt), CC_PG_BYTES(buf, len), CC_PG_TEXT(p->judge)};
        /* The test row and the counters in one statement; the row is kept
         * only for the attempt being judged. */
        s = cc_pg_query(c->st->pg,
                        "WITH cur AS (SELECT id FROM submissions WHERE id = $1::uuid "
                        "  AND attempt = $2::int AND status <> 'judged' FOR UPDATE), "
                        "ins AS (INSERT INTO submission_tests (submission_id, attempt, idx, result) "
                        "  SELECT id, $2::int, $3::int, $5::bytea FROM cur "
                        "  ON CONFLICT DO NOTHING) "
                        "UPDATE submissions s SET status = 'running', "
                        "  test_index = greatest(s.test_index, $3::int), test_count = $4::int, "
                        "  judge = CASE WHEN s.judge = '' THEN $6 ELSE s.judge END "
                        "FROM cur WHERE s.id = cur.id RETURNING s.user_id, s.problem_owner",
                        prm, 6, progress_done, c);
        free(buf);
    } else {
        ev_end(c, CC_OK, NULL, "progress");
        return;
    }
    if (s != CC_OK)
        ev_end(c, s, cc_err_msg(), "progress");
}

/* ---- results --------------------------------------------------------------------- */

static void result_committed(cc_status s, const char *errmsg, void *ud)
{
    ev_ctx *c = ud;
    const Codecourt__V1__JudgeResult *r = (const void *)c->msg;
    if (s == CC_OK && c->changed) {
        cc_log(CC_LOG_INFO, cc_js_msg_envelope(c->m), "submission judged",
               "{s:s, s:i, s:s, s:I}", "id", r->submission_id, "attempt", (int)r->attempt,
               "verdict", r->verdict, "sandbox_ms", (json_int_t)r->sandbox_ms);
        sub_live(c->st, cc_js_msg_envelope(c->m), c->user_id, r->submission_id, r->attempt,
                 "judged", r->verdict, (int)r->n_tests, (int)r->n_tests, NULL, false, r->score);
    }
    ev_end(c, s, errmsg, "result");
}

static void result_updated(cc_status s, const char *errmsg, const cc_pg_result *res, void *ud)
{
    ev_ctx *c = ud;
    const Codecourt__V1__JudgeResult *r = (const void *)c->msg;
    if (s == CC_OK && cc_pg_nrows(res) == 1) {
        c->changed = true;
        snprintf(c->user_id, sizeof c->user_id, "%s", cc_pg_get(res, 0, 0));
        snprintf(c->old_verdict, sizeof c->old_verdict, "%s", cc_pg_get(res, 0, 1));
        const char *nv = r->verdict[0] ? r->verdict : "IE";
        if (r->attempt > 1 && c->old_verdict[0] && strcmp(c->old_verdict, nv) != 0) {
            /* A rejudge changed the verdict: announced in the same
             * transaction as the new verdict. */
            Codecourt__V1__SubmissionRejudged ev = CODECOURT__V1__SUBMISSION_REJUDGED__INIT;
            ev.submission_id = r->submission_id;
            ev.attempt = r->attempt;
            ev.user_id = c->user_id;
            ev.problem = (char *)cc_pg_get(res, 0, 2);
            ev.old_verdict = c->old_verdict;
            ev.new_verdict = (char *)nv;
            uint8_t buf[1024];
            size_t len = protobuf_c_message_get_packed_size(&ev.base);
            char msg_id[160];
            snprintf(msg_id, sizeof msg_id, "rejudged-%s-%" PRIu32, r->submission_id, r->attempt);
            if (len <= sizeof buf) {
                protobuf_c_message_pack(&ev.base, buf);
                cc_outbox_add(c->tx, SUB_REJUDGED_SUBJECT, cc_js_msg_envelope(c->m),
                              r->submission_id, "codecourt.v1.SubmissionRejudged", msg_id, buf, len, NULL, NULL);
            }
        }
    }
    /* Commit (or roll back after a failure) once the decision is made. */
    cc_pg_tx_commit(c->tx, result_committed, c);
}

static void on_result(ev_ctx *c)
{
    const Codecourt__V1__JudgeResult *r = (const void *)c->msg;
    size_t len = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        ev_end(c, CC_UNAVAILABLE, "out of memory", "result");
        return;
    }
    protobuf_c_message_pack(&r->base, buf);
    char att[16], score[64], max[64], n[16], sandbox[32];
    snprintf(att, sizeof att, "%" PRIu32, r->attempt);
    snprintf(score, sizeof score, "%.17g", r->score);
    snprintf(max, sizeof max, "%.17g", r->max_score);
    snprintf(n, sizeof n, "%zu", r->n_tests);
    snprintf(sandbox, sizeof sandbox, "%" PRId64, r->sandbox_ms);
    char verdict[16];
    snprintf(verdict, sizeof verdict, "%s", r->verdict[0] ? r->verdict : "IE");
    /* The result holds the compile output: sealed like the sources. */
    uint8_t *sealed = NULL;
    size_t slen = 0;
    char kid[CC_SEAL_ID_MAX];
    cc_status s = sub_uuid_ok(r->submission_id)
                      ? sub_seal(c->st, r->submission_id, "result_sealed", buf, len, &sealed,
                                 &slen, kid)
                      : cc_err_set(CC_INVALID, "result: bad submission id");
    free(buf);
    IFOK(s, cc_pg_begin(c->st->pg, &c->tx));
    if (s != CC_OK) {
        free(sealed);
        ev_end(c, s, cc_err_msg(), "result");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(r->submission_id), CC_PG_TEXT(att),  CC_PG_TEXT(verdict),
                       CC_PG_TEXT(score),            CC_PG_TEXT(max),  CC_PG_TEXT(n),
                       CC_PG_BYTES(sealed, slen),    CC_PG_TEXT(sandbox), CC_PG_TEXT(kid),
                       CC_PG_TEXT(r->judge),         CC_PG_TEXT(r->toolchain)};
    s = cc_pg_tx_query(c->tx,
                       "UPDATE submissions SET status = 'judged', verdict = $3, "
                       "score = $4::float8, max_score = $5::float8, test_index = $6::int, "
                       "test_count = $6::int, result_sealed = $7::bytea, result_key = $9, "
                       "sandbox_ms = $8::bigint, judged_at = now(), judge = $10, "
                       "toolchain = $11 "
                       "WHERE id = $1::uuid AND attempt = $2::int AND status <> 'judged' "
                       "RETURNING user_id, prev_verdict, problem",
                       p, 11, result_updated, c);
    free(sealed);
    if (s != CC_OK)
        cc_pg_tx_commit(c->tx, result_committed, c);
}

/* ---- the consumer ------------------------------------------------------------------- */

void sub_on_judge_event(cc_js_msg *m, void *ud)
{
    sub_state *st = ud;
    const char *subject = cc_js_msg_subject(m);
    const ProtobufCMessageDescriptor *d =
        !strcmp(subject, SUB_PROGRESS_SUBJECT) ? &codecourt__v1__judge_progress__descriptor
        : !strcmp(subject, SUB_JUDGED_SUBJECT) ? &codecourt__v1__judge_result__descriptor
                                               : NULL;
    if (!d) {
        cc_js_ack(m); /* our own rejudged events, and anything newer */
        return;
    }
    ev_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        cc_js_nak(m, RETRY_MS);
        return;
    }
    c->st = st;
    c->m = m;
    c->msg = protobuf_c_message_unpack(d, NULL, cc_js_msg_len(m), cc_js_msg_data(m));
    if (!c->msg) {
        ev_end(c, CC_PROTO, "malformed protobuf", subject);
        return;
    }
    /* Both messages start with submission_id and attempt. */
    const char *id = d == &codecourt__v1__judge_progress__descriptor
                         ? ((Codecourt__V1__JudgeProgress *)c->msg)->submission_id
                         : ((Codecourt__V1__JudgeResult *)c->msg)->submission_id;
    if (!sub_uuid_ok(id)) {
        ev_end(c, CC_INVALID, "not a submission id of ours", subject);
        return;
    }
    if (d == &codecourt__v1__judge_progress__descriptor)
        on_progress(c);
    else
        on_result(c);
}
