/* cc-problem: problems, immutable versions, test data and Kattis / ICPC
 * problem packages. Serves cc.rpc.problem.* (schemas/codecourt/v1/
 * problem.proto, and GetBlob from judge.proto); owns the cc_problem
 * database; emits cc.evt.problem.* through the outbox. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "problem.h"

#ifndef CC_PROBLEM_MIGRATIONS
#define CC_PROBLEM_MIGRATIONS "migrations"
#endif

static prob_settings cfg;
static prob_state state;

#define S(field) offsetof(prob_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_problem", 0, 0, NULL,
     "libpq conninfo of the cc_problem database"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_PROBLEM_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"seed", CC_CFG_BOOL, S(seed), "true", 0, 0, NULL,
     "create the sample problem 'aplusb' at start when it is missing"},
    {"max-package", CC_CFG_SIZE, S(max_package), "1G", 1024, (int64_t)64 << 30, NULL,
     "largest problem package, uncompressed"},
    {"max-files", CC_CFG_INT, S(max_files), "10000", 1, 1000000, NULL,
     "most entries in a problem package"},
    {"max-blob", CC_CFG_SIZE, S(max_blob), "1G", 1, (int64_t)64 << 30, NULL,
     "largest blob an upload may announce"},
    {"chunk", CC_CFG_SIZE, S(chunk), "512k", 4096, 768 << 10, NULL,
     "largest PutChunk and GetBlob piece (stays under NATS' 1 MiB max payload)"},
    /* Short TTLs are for tests: a real upload may take minutes. */
    {"upload-ttl", CC_CFG_DURATION, S(upload_ttl_ms), "24h", 1000, 2592000000, NULL,
     "how long an unfinished upload is kept; swept every quarter of it (at most 15m)"},
};
#undef S

#define AUTH CC_RPC_AUTH
#define M(name, req, resp, fn, flags)                                                              \
    {name, &codecourt__v1__##req##__descriptor, &codecourt__v1__##resp##__descriptor, fn, flags}
static const cc_rpc_method methods[] = {
    M("CreateProblem", create_problem_request, problem, prob_create, AUTH),
    M("GetProblem", get_problem_request, problem, prob_get, 0),
    M("UpdateProblem", update_problem_request, problem, prob_update, AUTH),
    M("DeleteProblem", delete_problem_request, problem, prob_delete, AUTH),
    M("ListProblems", list_problems_request, problem_list, prob_list, 0),
    M("ListVersions", list_versions_request, version_list, prob_list_versions, 0),
    M("ListSamples", list_samples_request, sample_list, prob_list_samples, 0),
    M("RenderStatement", render_statement_request, rendered_statement, prob_render_statement,
      AUTH),
    M("GetVersionManifest", get_version_manifest_request, version_manifest, prob_get_manifest,
      0),
    M("BeginUpload", begin_upload_request, upload, prob_begin_upload, AUTH),
    M("PutChunk", put_chunk_request, upload, prob_put_chunk, AUTH),
    M("CommitUpload", commit_upload_request, blob, prob_commit_upload, AUTH),
    M("GetBlob", get_blob_request, get_blob_reply, prob_get_blob, 0),
    M("UploadTests", upload_tests_request, problem, prob_upload_tests, AUTH),
    M("ImportPackage", import_package_request, import_package_reply, prob_import, AUTH),
    M("ExportPackage", export_package_request, blob, prob_export, AUTH),
};
#undef M
#undef AUTH

prob_state *prob_state_of(void *actor)
{
    return cc_actor_state(actor);
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    cc_status s = cc_actor_migrate(a, cfg.pg_conninfo, cfg.migrations);
    /* Blocking, like the migrations: the sample exists once we serve. */
    if (cfg.seed)
        IFOK(s, prob_seed(&state));
    IFOK(s, cc_actor_open_db(a, cfg.pg_conninfo, &state.pg, &state.relay));
    IFOK(s, prob_sweep_start(&state));
    cc_actor_set_state(a, &state);
    return s;
}

static void drain(cc_actor *a)
{
    prob_sweep_stop(&state);
    cc_actor_stop_relay(&state.relay);
}

static void stop(cc_actor *a)
{
    prob_sweep_stop(&state);
    cc_actor_close_db(&state.pg);
}

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "problem",
        .methods = methods,
        .nmethods = sizeof methods / sizeof methods[0],
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
