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
#include <inttypes.h>
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
    {"reader-nats-url", CC_CFG_STRING, S(reader_url), "", 0, 0, NULL,
     "NATS URL of the read model's reader (\"\": nats-url when reader-nats-user is set)"},
    {"reader-nats-user", CC_CFG_STRING, S(reader_user), "", 0, 0, NULL,
     "its NATS user, cc-stats-reader (\"\": read through the service's own connection)"},
    {"reader-nats-password", CC_CFG_STRING, S(reader_password), "", 0, 0, NULL,
     "its NATS password"},
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

static void rebuilt(cc_status s, void *ud)
{
    st_state *st = ud;
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "read model not made", "{s:s}", "error", cc_err_msg());
        cc_actor_exit(st->actor, 1);
        return;
    }
    if (!st->rebuild_only)
        return;
    cc_projection_stats ps;
    cc_projection_get_stats(st->proj, &ps);
    double rate = ps.seconds > 0 ? (double)ps.events / ps.seconds : 0;
    printf("cc-stats rebuild: %" PRIu64 " events replayed to position %" PRIu64
           " in %.3f s (%.0f events/s, %" PRIu64 " stores)\n",
           ps.events, cc_projection_stored(st->proj), ps.seconds, rate, ps.flushes);
    fflush(stdout);
    cc_actor_shutdown(st->actor);
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    cc_status s = cc_actor_migrate(a, cfg.pg_conninfo, cfg.migrations);
    if (s != CC_OK)
        return s;
    state.model = st_model_new(&state);
    if (!state.model)
        return cc_err_set(CC_NOMEM, "out of memory");
    s = cc_projection_open(cfg.pg_conninfo, st_projection_def(state.model), state.rebuild_only,
                           &state.proj);
    if (s != CC_OK)
        return s;
    s = cc_actor_open_db(a, cfg.pg_conninfo, &state.pg, state.rebuild_only ? NULL : &state.relay);
    if (s != CC_OK)
        return s;
    cc_actor_set_state(a, &state);
    cc_projection_options po = {.until_caught_up = state.rebuild_only,
                                .done = rebuilt,
                                .ud = &state,
                                .reader_service = "stats-reader"};
    if (cfg.reader_url[0] || cfg.reader_user[0]) {
        po.reader_url = cfg.reader_url[0] ? cfg.reader_url : cc_actor_runtime(a)->nats_url;
        po.reader_user = cfg.reader_user;
        po.reader_password = cfg.reader_password;
    }
    return cc_projection_start(state.proj, cc_actor_bus(a), state.pg, &po);
}

static void drain(cc_actor *a)
{
    (void)a;
    if (state.proj)
        cc_projection_stop(state.proj, NULL, NULL);
    cc_actor_stop_relay(&state.relay);
}

static void stop(cc_actor *a)
{
    (void)a;
    cc_projection_free(state.proj);
    state.proj = NULL;
    cc_actor_close_db(&state.pg);
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
    if (argc >= 2 && !strcmp(argv[1], "rebuild")) {
        state.rebuild_only = true;
        def.methods = NULL;
        def.nmethods = 0;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    return cc_actor_main(&def, argc, argv);
}
