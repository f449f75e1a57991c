/* cc-submission: accepts submissions, follows their judging and keeps
 * their history; rejudges. Serves cc.rpc.submission.* (schemas/codecourt/
 * v1/submission.proto); owns the cc_submission database; queues judge jobs
 * on cc.judge.job through the outbox and consumes the judges' reports. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/migrate.h"
#include "codecourt/v1/user.pb-c.h"
#include "sub.h"

#ifndef CC_SUBMISSION_MIGRATIONS
#define CC_SUBMISSION_MIGRATIONS "migrations"
#endif
#ifndef CC_SUBMISSION_LANGUAGES
#define CC_SUBMISSION_LANGUAGES "languages.yaml"
#endif

static sub_settings cfg;
static sub_state state;

#define S(field) offsetof(sub_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_submission", 0, 0, NULL,
     "libpq conninfo of the cc_submission database"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_SUBMISSION_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"languages", CC_CFG_STRING, S(languages), CC_SUBMISSION_LANGUAGES, 0, 0, NULL,
     "the judges' language table (judge-pool/languages.yaml)"},
    {"check-toolchains", CC_CFG_BOOL, S(check_toolchains), "true", 0, 0, NULL,
     "refuse languages whose toolchain is missing here (off when judges run elsewhere)"},
    {"max-source", CC_CFG_SIZE, S(max_source), "64k", 1, 768 << 10, NULL,
     "largest submission (all files)"},
    {"max-files", CC_CFG_INT, S(max_files), "20", 1, 1000, NULL, "most files in a submission"},
    {"max-queued", CC_CFG_INT, S(max_queued), "10", 1, 100000, NULL,
     "most submissions of one user waiting for a verdict"},
    {"rate-per-min", CC_CFG_INT, S(rate_per_min), "30", 1, 1000000, NULL,
     "most submissions of one user per minute"},
    {"max-stdin", CC_CFG_SIZE, S(max_stdin), "64k", 0, 16 << 20, NULL,
     "largest input of a custom run"},
    {"run-ttl", CC_CFG_DURATION, S(run_ttl_ms), "1h", 1000, 7 * 86400000LL, NULL,
     "a custom run and its output are deleted this long after it was made"},
    {"run-rate-per-min", CC_CFG_INT, S(run_rate_per_min), "20", 1, 1000000, NULL,
     "most custom runs of one user per minute"},
    {"run-max-queued", CC_CFG_INT, S(run_max_queued), "3", 1, 1000, NULL,
     "most custom runs of one user waiting for a judge"},
    {"queue-unavailable-after", CC_CFG_DURATION, S(queue_down_ms), "1s", 0, 3600000, NULL,
     "once the judging queue's stream has refused or not answered publishes for this long "
     "(its NATS servers lost their quorum, its store is full), new submissions get 503 with "
     "Retry-After instead of piling up in the outbox; a retried Idempotency-Key still gets "
     "its submission"},
    CC_SEAL_CONFIG_ROWS(sub_settings, seal),
    {"rotate-batch", CC_CFG_INT, S(rotate_batch), "200", 1, 100000, NULL,
     "rows per transaction of rotate-keys"},
};
#undef S

#define AUTH CC_RPC_AUTH
#define M(name, req, resp, fn, flags)                                                              \
    {name, &codecourt__v1__##req##__descriptor, &codecourt__v1__##resp##__descriptor, fn, flags}
static const cc_rpc_method methods[] = {
    M("Submit", submit_request, submission, sub_submit, AUTH),
    M("GetSubmission", get_submission_request, submission, sub_get, AUTH),
    M("ListSubmissions", list_submissions_request, submission_list, sub_list, AUTH),
    M("ListLanguages", list_languages_request, language_list, sub_languages, 0),
    M("Rejudge", rejudge_request, submission, sub_rejudge, AUTH),
    M("RejudgeProblem", rejudge_problem_request, rejudge_reply, sub_rejudge_problem, AUTH),
    M("CreateRun", create_run_request, run, sub_create_run, AUTH),
    M("GetRun", get_run_request, run, sub_get_run, AUTH),
    M("FinishRun", run_result, empty, sub_finish_run, 0),
    M("ListJudges", list_judges_request, judge_list, sub_list_judges, AUTH),
    M("SetJudgeState", set_judge_state_request, judge_status, sub_set_judge_state, AUTH),
};
#undef M
#undef AUTH

sub_state *sub_state_of(void *actor)
{
    return cc_actor_state(actor);
}

bool sub_lang_available(const sub_state *st, const judge_lang *lang)
{
    for (size_t i = 0; i < judge_langs_count(st->langs); i++)
        if (judge_langs_at(st->langs, i) == lang)
            return st->available[i];
    return false;
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    state.check_toolchains = cfg.check_toolchains;
    cc_status s = cc_actor_migrate(a, cfg.pg_conninfo, cfg.migrations);
    if (s != CC_OK)
        return s;
    /* The table and the toolchain probes (stat) are read once, here, so
     * no request touches the disk. */
    s = judge_langs_load(cfg.languages, &state.langs);
    if (s != CC_OK)
        return cc_err_set(s, "languages: %s", cc_err_msg());
    size_t n = judge_langs_count(state.langs);
    state.available = calloc(n ? n : 1, sizeof *state.available);
    if (!state.available)
        return cc_err_set(CC_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        state.available[i] =
            !cfg.check_toolchains || judge_lang_available(judge_langs_at(state.langs, i));
    IFOK(s, cc_actor_open_db(a, cfg.pg_conninfo, &state.pg, &state.relay));
    /* Before any request: rows from before sealing are sealed here. */
    IFOK(s, cc_seal_service_start(cc_actor_loop(a), state.pg, cfg.pg_conninfo, &cfg.seal,
                                  &sub_sealed_table, 1, &state.seal));
    if (s == CC_OK)
        cc_outbox_seal_with(state.seal);
    cc_actor_set_state(a, &state);
    IFOK(s, sub_runs_start(&state));
    IFOK(s, sub_fleet_start(&state));
    return s;
}

static void drain(cc_actor *a)
{
    state.stopping = true;
    cc_actor_stop_relay(&state.relay);
}

static void stop(cc_actor *a)
{
    state.stopping = true;
    sub_fleet_stop(&state);
    sub_runs_stop(&state);
    cc_seal_service_stop(state.seal);
    state.seal = NULL;
    cc_actor_close_db(&state.pg);
    judge_langs_free(state.langs);
    state.langs = NULL;
    free(state.available);
    state.available = NULL;
}

static const cc_actor_consumer consumers[] = {
    {{.stream = CC_STREAM_EVENTS,
      .durable = SUB_DURABLE,
      .filter = "cc.evt.submission.>",
      .ack_wait_ms = 30000,
      .max_deliver = 100,
      .max_inflight = 64},
     sub_on_judge_event},
};

/* `cc-submission rotate-keys [settings]`: re-seals every row under a new
 * data key while the service runs (cc_seal_rotate), then exits. Only the
 * service's own settings apply; the master key and database are the
 * service's. */
static int rotate_keys(int argc, char **argv)
{
    cc_config_table t = {rows, sizeof rows / sizeof rows[0], &cfg};
    cc_status s = cc_config_load(&t, 1, argc, argv, NULL, 0, NULL);
    if (s == CC_CLOSED)
        return 0;
    cc_migrate_options mo = {
        .conninfo = cfg.pg_conninfo, .service = "submission", .dir = cfg.migrations};
    int applied = 0;
    IFOK(s, cc_migrate(&mo, &applied));
    IFOK(s, cc_seal_rotate(cfg.pg_conninfo, &cfg.seal, &sub_sealed_table, 1,
                           (int)cfg.rotate_batch));
    if (s != CC_OK)
        fprintf(stderr, "cc-submission rotate-keys: %s\n", cc_err_msg());
    cc_config_free(&t, 1);
    return s == CC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "rotate-keys")) {
        argv[1] = argv[0];
        return rotate_keys(argc - 1, argv + 1);
    }
    cc_actor_def def = {
        .service = "submission",
        .methods = methods,
        .nmethods = sizeof methods / sizeof methods[0],
        .consumers = consumers,
        .nconsumers = sizeof consumers / sizeof consumers[0],
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
