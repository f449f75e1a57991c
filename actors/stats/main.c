/* cc-stats: user and problem statistics and recommendations, a read model
 * of CC_EVENTS (cc/projection.h). Serves cc.rpc.stats.*
 * (schemas/codecourt/v1/stats.proto); owns the cc_stats database; tells
 * users of problems published in the tags they solve
 * (cc.evt.stats.problem_suggested, for cc-notify).
 *
 *   cc-stats [flags]           the service
 *   cc-stats rebuild [flags]   empty the read model, replay CC_EVENTS from
 *                              its first event to its end, store, report and
 *                              exit (with the service stopped) */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cc/log.h"
#include "stats.h"

#ifndef CC_STATS_MIGRATIONS
#define CC_STATS_MIGRATIONS "migrations"
#endif

static st_settings cfg;
static st_state state;

#define S(field) offsetof(st_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_stats", 0, 0, NULL,
     "libpq conninfo of the cc_stats database"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_STATS_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"suggest-min-solved", CC_CFG_INT, S(suggest_min_solved), "1", 1, 1000, NULL,
     "problems of a tag a user solved before a new one of that tag is suggested to them"},
    /* The read model's reader (cc/projection.h): a NATS user of its own. */
    CC_PROJECTION_READER_ROWS(st_settings, reader, "cc-stats-reader"),
};
#undef S

#define M(name, req, resp, fn, flags)                                                              \
    {name, &codecourt__v1__##req##__descriptor, &codecourt__v1__##resp##__descriptor, fn, flags}
static const cc_rpc_method methods[] = {
    M("GetUserStats", get_user_stats_request, user_stats, st_get_user, 0),
    M("GetProblemStats", get_problem_stats_request, problem_stats, st_get_problem, 0),
    M("GetRecommendations", get_recommendations_request, recommendation_list,
      st_get_recommendations, CC_RPC_AUTH),
};
#undef M

st_state *st_state_of(void *actor)
{
    return cc_actor_state(actor);
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    state.model = st_model_new(&state);
    if (!state.model)
        return cc_err_set(CC_NOMEM, "out of memory");
    state.rm.conninfo = cfg.pg_conninfo;
    state.rm.migrations = cfg.migrations;
    state.rm.reader = &cfg.reader;
    return cc_projection_actor_start(&state.rm, a, st_projection_def(state.model), &state);
}

static void drain(cc_actor *a)
{
    (void)a;
    cc_projection_actor_drain(&state.rm);
}

static void stop(cc_actor *a)
{
    (void)a;
    cc_projection_actor_stop(&state.rm);
    st_model_free(state.model);
    state.model = NULL;
}

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "stats",
        .methods = methods,
        .nmethods = sizeof methods / sizeof methods[0],
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    cc_projection_actor_args(&state.rm, &def, &argc, &argv);
    return cc_actor_main(&def, argc, argv);
}
