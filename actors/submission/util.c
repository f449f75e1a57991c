/* Helpers the message families share: who sees secret details, ids,
 * database errors, rows to messages, sealed columns, live updates and
 * queueing a judge job. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "sub.h"

static const cc_seal_column sealed_cols[] = {
    {.sealed = "job_sealed", .key = "job_key", .plain = "job"},
    {.sealed = "result_sealed", .key = "result_key", .plain = "result"},
};
const cc_seal_table sub_sealed_table = {"submissions", "id", sealed_cols, 2};

cc_status sub_seal(const sub_state *st, const char *id, const char *col, const void *plain,
                   size_t len, uint8_t **out, size_t *outlen, char kid[CC_SEAL_ID_MAX])
{
    return cc_seal_value(cc_seal_service_keys(st->seal), "submissions", id, col, plain, len, out,
                         outlen, kid);
}

ProtobufCMessage *sub_open_msg(const sub_state *st, cc_arena *a,
                               const ProtobufCMessageDescriptor *d, const cc_pg_result *r,
                               int row, int sealed_col, int key_col, const char *id,
                               const char *col)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cc_status s = cc_open_pg(cc_seal_service_keys(st->seal), "submissions", id, col, r, row,
                             sealed_col, key_col, &buf, &len);
    if (s == CC_NOT_FOUND)
        return NULL;
    ProtobufCMessage *m = s == CC_OK ? protobuf_c_message_unpack(d, a ? &a->pb : NULL, len, buf)
                                     : NULL;
    if (s != CC_OK)
        cc_log(CC_LOG_ERROR, NULL, "a sealed column does not open", "{s:s}", "error",
               cc_err_msg());
    else if (!m)
        cc_log(CC_LOG_ERROR, NULL, "a sealed column does not unpack", "{s:s, s:s}", "id", id,
               "column", col);
    free(buf);
    return m;
}

bool sub_sees_secret(cc_role role, const char *viewer, const char *problem_owner)
{
    if (role == CC_ROLE_ADMIN)
        return true;
    return role != CC_ROLE_ANON && viewer && viewer[0] && problem_owner &&
           !strcmp(viewer, problem_owner);
}

const char *sub_test_message(const Codecourt__V1__TestResult *test, bool sees_secret)
{
    if (!test->message || !(test->sample || sees_secret))
        return "";
    return test->message;
}

void sub_redact_tests(Codecourt__V1__TestResult **tests, size_t n, bool sees_secret)
{
    for (size_t i = 0; i < n; i++)
        tests[i]->message = (char *)sub_test_message(tests[i], sees_secret);
}

bool sub_uuid_ok(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

void sub_uuid_new(char out[37])
{
    cc_uuid_new(out);
}

Codecourt__V1__Submission *sub_from_row(cc_rpc_call *call, const cc_pg_result *r, int row)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Submission *s = cc_arena_alloc(a, sizeof *s);
    if (!s)
        return NULL;
    codecourt__v1__submission__init(s);
    s->id = cc_pg_text(a, r, row, 0);
    s->user_id = cc_pg_text(a, r, row, 1);
    s->problem = cc_pg_text(a, r, row, 2);
    s->problem_version = cc_pg_text(a, r, row, 3);
    s->language = cc_pg_text(a, r, row, 4);
    s->status = cc_pg_text(a, r, row, 5);
    s->verdict = cc_pg_text(a, r, row, 6);
    s->score = strtod(cc_pg_get(r, row, 7), NULL);
    s->max_score = strtod(cc_pg_get(r, row, 8), NULL);
    s->test_index = (int32_t)cc_pg_int(r, row, 9);
    s->test_count = (int32_t)cc_pg_int(r, row, 10);
    s->attempt = (uint32_t)cc_pg_int(r, row, 11);
    s->created_at = cc_pg_int(r, row, 12);
    s->judged_at = cc_pg_int(r, row, 13);
    s->sandbox_ms = cc_pg_int(r, row, 14);
    s->contest = cc_pg_text(a, r, row, 15);
    s->team = cc_pg_text(a, r, row, 16);
    s->judge = cc_pg_text(a, r, row, 17);
    s->toolchain = cc_pg_text(a, r, row, 18);
    s->previous_toolchain = cc_pg_text(a, r, row, 19);
    if (!s->id || !s->user_id || !s->problem || !s->problem_version || !s->language ||
        !s->status || !s->verdict || !s->contest || !s->team || !s->judge || !s->toolchain ||
        !s->previous_toolchain)
        return NULL;
    s->toolchain_changed = s->toolchain[0] && s->previous_toolchain[0] &&
                           strcmp(s->toolchain, s->previous_toolchain) != 0;
    if (!strcmp(s->status, "queued")) {
        int64_t place = cc_pg_int(r, row, 20), judged = cc_pg_int(r, row, 21);
        s->queue_position = (int32_t)place;
        /* The judging rate of the last minutes, all judges together. */
        s->estimated_wait_ms = judged > 0 ? place * SUB_RATE_WINDOW_S * 1000 / judged : -1;
    }
    return s;
}

void sub_live(sub_state *st, const cc_envelope *env, const char *user_id, const char *id,
              uint32_t attempt, const char *status, const char *verdict, int test_index,
              int test_count, const Codecourt__V1__TestResult *test, bool sees_secret,
              double score)
{
    if (!user_id || !user_id[0] || strlen(user_id) > 64)
        return;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "type", "submission", "id", id,
                          "status", status, "verdict", verdict ? verdict : "", "testIndex",
                          test_index, "testCount", test_count, "attempt", (int)attempt);
    if (!o)
        return;
    if (!strcmp(status, "judged"))
        json_object_set_new(o, "score", json_real(score));
    if (test)
        json_object_set_new(
            o, "test",
            json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:i, s:i, s:s}", "name",
                      test->name ? test->name : "", "verdict", test->verdict ? test->verdict : "",
                      "sample", (int)test->sample, "cpuMs", (json_int_t)test->cpu_ms, "wallMs",
                      (json_int_t)test->wall_ms, "memoryKib", (json_int_t)test->memory_kib,
                      "exitCode", test->exit_code, "signal", test->signal, "message",
                      sub_test_message(test, sees_secret)));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    char subject[96];
    snprintf(subject, sizeof subject, "cc.live.user.%s", user_id);
    cc_envelope e;
    if (env)
        cc_envelope_child(&e, env, "application/json");
    else
        cc_envelope_new(&e, "application/json");
    e.principal[0] = '\0';
    cc_bus_publish(cc_actor_bus(st->actor), subject, &e, NULL, text, strlen(text));
    free(text);
}

cc_status sub_queue_job(cc_pg_tx *tx, const cc_envelope *env, const Codecourt__V1__JudgeJob *job)
{
    size_t len = protobuf_c_message_get_packed_size(&job->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return cc_err_set(CC_NOMEM, "out of memory");
    protobuf_c_message_pack(&job->base, buf);
    char msg_id[160];
    snprintf(msg_id, sizeof msg_id, "job-%s-%" PRIu32, job->submission_id, job->attempt);
    /* The job is the system's work, not the user's: judges fetch test
     * data as the service, so the user's principal stays behind (the
     * correlation id and trace go along). */
    cc_envelope e;
    if (env)
        cc_envelope_child(&e, env, NULL);
    else
        cc_envelope_new(&e, NULL);
    e.principal[0] = '\0';
    cc_status s = cc_outbox_add(tx, SUB_JOB_SUBJECT, &e, job->submission_id, "codecourt.v1.JudgeJob", msg_id, buf,
                                len, NULL, NULL);
    free(buf);
    return s;
}
