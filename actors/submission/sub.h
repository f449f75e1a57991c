/* cc-submission's internal contract: settings, state, the handlers of each
 * message family (submit.c, query.c, rejudge.c, run.c: custom runs), the
 * judge event consumer (events.c) and shared helpers (util.c). Internal
 * prefix: sub_. */
#ifndef CC_SUB_H
#define CC_SUB_H

#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/outbox.h"
#include "cc/pg.h"
#include "cc/seal.h"
#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/problem.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"
#include "judge/judge.h"

/* Subjects (judge.proto, submission.proto). */
#define SUB_JOB_SUBJECT "cc.judge.job"
#define SUB_PROGRESS_SUBJECT "cc.evt.submission.progress"
#define SUB_JUDGED_SUBJECT "cc.evt.submission.judged"
#define SUB_REJUDGED_SUBJECT "cc.evt.submission.rejudged"
#define SUB_CREATED_SUBJECT "cc.evt.submission.created"
#define SUB_DURABLE "submission"

/* Settings (one row each in main.c; env CC_<NAME>). */
typedef struct sub_settings {
    char *pg_conninfo;
    char *migrations;
    char *languages;        /* the judge's language table (YAML) */
    int64_t max_source;     /* bytes of all files of one submission */
    int64_t max_files;
    int64_t max_queued;     /* a user's submissions not yet judged */
    int64_t rate_per_min;   /* a user's submissions per minute */
    int64_t queue_down_ms;  /* refuse new submissions (503) once JetStream publishes have
                               failed this long */
    bool check_toolchains;  /* probe toolchain paths at start */
    int64_t max_stdin;      /* bytes of a run's input */
    int64_t run_ttl_ms;     /* a run and its output are deleted after this */
    int64_t run_rate_per_min; /* a user's runs per minute */
    int64_t run_max_queued; /* a user's runs waiting for a judge */
    cc_seal_settings seal;  /* the master key and how often data keys are read */
    int64_t rotate_batch;   /* rows per transaction of rotate-keys */
} sub_settings;

typedef struct sub_fleet sub_fleet;

typedef struct sub_state {
    cc_actor *actor;
    const sub_settings *cfg;
    cc_pg *pg;
    cc_outbox_relay *relay;
    judge_langs *langs;
    bool *available; /* per row of langs, probed once at start (stat) */
    bool stopping;
    bool check_toolchains;
    uv_timer_t sweep; /* deletes expired runs (run.c) */
    bool sweep_open;
    cc_seal_service *seal; /* the data keys of the sealed columns */
    sub_fleet *fleet;      /* the judges' registry (fleet.c) */
} sub_state;

/* The actor's state, from a handler's actor argument. */
sub_state *sub_state_of(void *actor);

/* ---- handlers (cc_rpc_fn) ----------------------------------------------- */
void sub_submit(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_languages(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_rejudge(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_rejudge_problem(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_create_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_get_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
/* Caller-scoped: only the judge (cc.rpc.submission.judge.FinishRun). */
void sub_finish_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
/* Admins (fleet.c). */
void sub_list_judges(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void sub_set_judge_state(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* Whether lang's toolchain was present at start. */
bool sub_lang_available(const sub_state *st, const judge_lang *lang);

/* ---- events.c ----------------------------------------------------------- */

/* The handler of the durable consumer SUB_DURABLE of CC_EVENTS (judge
 * progress and results; a row of main.c's table, ud is the sub_state). */
void sub_on_judge_event(cc_js_msg *m, void *ud);

/* ---- fleet.c ---------------------------------------------------------- */

/* Loads the judges' registry (the bucket CC_JUDGES), follows the judges'
 * statuses and starts the sweep that puts a gone judge's submissions back
 * to queued; stop ends it. */
cc_status sub_fleet_start(sub_state *st);
void sub_fleet_stop(sub_state *st);

/* ---- run.c -------------------------------------------------------------- */

/* Starts the sweep of expired runs on the actor's loop; stop closes it. */
cc_status sub_runs_start(sub_state *st);
void sub_runs_stop(sub_state *st);

/* ---- util.c ------------------------------------------------------------- */

/* Whether viewer (role, user id) may read the details of a submission's
 * secret tests; the one place this is decided. A checker's or validator's
 * message (the default validator's "token 2: expected '...', got '...'",
 * judgemessage.txt, an interactor's feedback) can quote the expected
 * output: shown to the submitter, one submission per secret test would
 * hand over every hidden answer. So only the problem's owner (the one
 * setter with access to it) and admins see them. problem_owner is the one
 * stored with the submission at submit time rather than asked of
 * cc-problem: problems never change owner, so the stored value is as true
 * and costs no mesh call on each read and each progress event. */
bool sub_sees_secret(cc_role role, const char *viewer, const char *problem_owner);
/* The message of test that a viewer with sees_secret (sub_sees_secret)
 * may read: the test's own for a sample test or a viewer who sees secret
 * details, else "". Never NULL. */
const char *sub_test_message(const Codecourt__V1__TestResult *test, bool sees_secret);
/* Applies sub_test_message to each of n tests in place (messages unpacked
 * into a call's arena, so nothing is freed). */
void sub_redact_tests(Codecourt__V1__TestResult **tests, size_t n, bool sees_secret);

/* The sealed columns of submissions (cc/seal.h): job_sealed, the packed
 * JudgeJob (the sources), and result_sealed, the packed JudgeResult
 * (compile output, messages), each with the id of its data key
 * (job_key, result_key). job and result are the plaintext columns of rows
 * written before sealing; they are sealed and emptied at start. */
extern const cc_seal_table sub_sealed_table;
/* Seals len bytes of column col ("job_sealed", "result_sealed") of
 * submission id into *out (malloc'd, the caller frees); its key in kid. */
cc_status sub_seal(const sub_state *st, const char *id, const char *col, const void *plain,
                   size_t len, uint8_t **out, size_t *outlen, char kid[CC_SEAL_ID_MAX]);
/* Opens column col of submission id from row (the bytea at sealed_col,
 * its key id at key_col) and unpacks it as d into arena a. NULL for a NULL
 * value; NULL with an error logged when it does not open or unpack. */
ProtobufCMessage *sub_open_msg(const sub_state *st, cc_arena *a,
                               const ProtobufCMessageDescriptor *d, const cc_pg_result *r,
                               int row, int sealed_col, int key_col, const char *id,
                               const char *col);

/* True for a canonical UUID text (36 chars, lowercase or uppercase hex). */
bool sub_uuid_ok(const char *s);
/* A fresh random (version 4) UUID in out (37 bytes). */
void sub_uuid_new(char out[37]);

/* The columns sub_from_row reads, in order. */
#define SUB_COLS                                                                                   \
    "s.id::text, s.user_id, s.problem, s.problem_version, s.language, s.status, s.verdict, "     \
    "s.score, s.max_score, s.test_index, s.test_count, s.attempt, "                               \
    "extract(epoch from s.created_at)::bigint, "                                                   \
    "coalesce(extract(epoch from s.judged_at)::bigint, 0), s.sandbox_ms, s.contest, s.team, "    \
    "s.judge, s.toolchain, s.prev_toolchain, " SUB_QUEUE_COLS
/* While queued: the submission's place (1 = next) and how many judgings
 * ended in the last SUB_RATE_WINDOW_S seconds, which give its estimated
 * wait (sub_from_row); 0 and 0 otherwise. */
#define SUB_RATE_WINDOW_S 300
#define SUB_STR_(x) #x
#define SUB_STR(x) SUB_STR_(x)
#define SUB_QUEUE_COLS                                                                             \
    "CASE WHEN s.status = 'queued' THEN 1 + (SELECT count(*) FROM submissions q "                 \
    "  WHERE q.status = 'queued' AND coalesce(q.queued_at, q.created_at) < "                       \
    "  coalesce(s.queued_at, s.created_at)) ELSE 0 END, "                                          \
    "CASE WHEN s.status = 'queued' THEN (SELECT count(*) FROM submissions r "                     \
    "  WHERE r.judged_at > now() - interval '" SUB_STR(SUB_RATE_WINDOW_S) " seconds') ELSE 0 END"
#define SUB_NCOLS 22
/* A Submission from row (SUB_COLS from column 0) in the call's arena, with
 * no tests or files. NULL when out of memory. */
Codecourt__V1__Submission *sub_from_row(cc_rpc_call *call, const cc_pg_result *r, int row);

/* Publishes a best-effort live update for user_id on cc.live.user.<id>:
 * a JSON object {"type":"submission","id","status","verdict",
 * "testIndex","testCount","attempt", optionally "test":{...} and
 * "score"}. test may be NULL; its message goes out only as
 * sub_test_message(test, sees_secret) says, sees_secret being what
 * sub_sees_secret answers for user_id. */
void sub_live(sub_state *st, const cc_envelope *env, const char *user_id, const char *id,
              uint32_t attempt, const char *status, const char *verdict, int test_index,
              int test_count, const Codecourt__V1__TestResult *test, bool sees_secret,
              double score);

/* Adds the outbox row that queues job (attempt set by the caller) inside
 * tx, with Nats-Msg-Id job-<id>-<attempt>. */
cc_status sub_queue_job(cc_pg_tx *tx, const cc_envelope *env, const Codecourt__V1__JudgeJob *job);

#endif
