/* cc-contest: contests, teams, jury, scoreboards (ICPC and IOI), freeze,
 * clarifications and the ICPC CLICS Contest API. Serves cc.rpc.contest.*
 * (schemas/codecourt/v1/contest.proto); owns the cc_contest database;
 * its scoreboards are a read model of CC_EVENTS (cc/projection.h).
 *
 *   cc-contest [flags]           the service
 *   cc-contest rebuild [flags]   empty the read model, replay CC_EVENTS
 *                                from its first event to its end, store,
 *                                report and exit (with the service stopped) */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

#ifndef CC_CONTEST_MIGRATIONS
#define CC_CONTEST_MIGRATIONS "migrations"
#endif

static con_settings cfg;
static con_state state;

#define S(field) offsetof(con_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_contest", 0, 0, NULL,
     "libpq conninfo of the cc_contest database"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_CONTEST_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"clock", CC_CFG_DURATION, S(clock_ms), "1s", 50, 60000, NULL,
     "how often contests' starts, freezes and ends are looked for"},
    {"max-teams", CC_CFG_INT, S(max_teams), "5000", 1, 1000000, NULL, "most teams of one contest"},
    {"max-problems", CC_CFG_INT, S(max_problems), "26", 1, 200, NULL,
     "most problems of one contest"},
    /* The read model's reader (cc/projection.h): a NATS user of its own. */
    CC_PROJECTION_READER_ROWS(con_settings, reader, "cc-contest-reader"),
};
#undef S

#define AUTH CC_RPC_AUTH
#define M(name, req, resp, fn, flags)                                                              \
    {name, &codecourt__v1__##req##__descriptor, &codecourt__v1__##resp##__descriptor, fn, flags}
static const cc_rpc_method methods[] = {
    M("CreateContest", contest, contest, con_create, AUTH),
    M("PutContest", contest, contest, con_put, AUTH),
    M("GetContest", get_contest_request, contest, con_get, 0),
    M("ListContests", list_contests_request, contest_list, con_list, 0),
    M("Unfreeze", unfreeze_request, contest, con_unfreeze, AUTH),
    M("RegisterForContest", contest_register_request, team, con_register, AUTH),
    M("PutTeam", put_team_request, team, con_put_team, AUTH),
    M("ListTeams", list_teams_request, team_list, con_list_teams, 0),
    M("GetScoreboard", get_scoreboard_request, scoreboard, con_get_scoreboard, 0),
    M("AskClarification", ask_clarification_request, clarification, con_ask, AUTH),
    M("AnswerClarification", answer_clarification_request, clarification, con_answer, AUTH),
    M("ListClarifications", list_clarifications_request, clarification_list, con_list_clars, 0),
    M("ClicsGet", clics_request, raw_response, con_clics, 0),
    M("GetEventFeed", event_feed_request, event_feed_page, con_event_feed, 0),
    M("CheckSubmission", check_submission_request, check_submission_reply, con_check_submission,
      0),
};
#undef M
#undef AUTH

con_state *con_state_of(void *actor)
{
    return cc_actor_state(actor);
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    state.model = con_model_new(&state);
    if (!state.model)
        return cc_err_set(CC_NOMEM, "out of memory");
    state.rm.conninfo = cfg.pg_conninfo;
    state.rm.migrations = cfg.migrations;
    state.rm.reader = &cfg.reader;
    cc_status s = cc_projection_actor_start(&state.rm, a, con_projection_def(state.model), &state);
    if (s == CC_OK && !state.rm.rebuild)
        s = con_clock_start(&state);
    return s;
}

static void drain(cc_actor *a)
{
    (void)a;
    state.stopping = true;
    con_clock_stop(&state);
    cc_projection_actor_drain(&state.rm);
}

static void stop(cc_actor *a)
{
    (void)a;
    state.stopping = true;
    cc_projection_actor_stop(&state.rm);
    con_model_free(state.model);
    state.model = NULL;
}

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "contest",
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
