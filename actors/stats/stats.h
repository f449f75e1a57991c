/* cc-stats' internal contract: user and problem statistics and
 * recommendations, a read model of CC_EVENTS (cc/projection.h "stats").
 * proj.c applies, stores and loads the events; read.c answers the
 * statistics; reco.c ranks recommendations (a pure function of the
 * model); util.c holds what they share. Internal prefix: st_. */
#ifndef CC_STATS_H
#define CC_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/map.h"
#include "cc/pg.h"
#include "cc/projection.h"
#include "codecourt/v1/problem.pb-c.h"
#include "codecourt/v1/stats.pb-c.h"

/* Bump when what apply makes of the events changes (a rebuild at start). */
#define ST_PROJECTION_VERSION 1
#define ST_PROJECTION "stats"
#define ST_EVT_SUGGESTED "cc.evt.stats.problem_suggested"

typedef struct st_settings {
    char *pg_conninfo;
    char *migrations;
    int64_t suggest_min_solved; /* solved problems of a tag before its new ones are suggested */
    cc_projection_reader reader; /* the read model's NATS user */
} st_settings;

typedef struct st_model st_model;

typedef struct st_state {
    cc_actor *actor;
    const st_settings *cfg;
    /* The read model (cc/projection.h): its pool, projection and relay,
     * and whether this run is `rebuild` (replay, store, exit). */
    cc_projection_actor rm;
    st_model *model;
} st_state;

st_state *st_state_of(void *actor);

/* ---- proj.c: the model --------------------------------------------------------- */

typedef struct st_user st_user;
typedef struct st_problem st_problem;
typedef struct st_sub st_sub;

/* One judged submission: the result of its newest attempt. */
struct st_sub {
    char id[40];
    st_user *user;
    st_problem *problem;
    uint32_t attempt;
    char verdict[8];
    int64_t judged_ms;   /* when the stream stored the result */
    uint64_t seq;
    uint64_t changed;
    uint32_t fmark;
};

/* A user's submissions of one problem. */
typedef struct st_tries {
    st_sub **v;
    size_t n, cap;
} st_tries;

struct st_user {
    char id[40];
    int64_t registered_ms; /* 0 when only their submissions are known */
    uint64_t seq;
    uint64_t changed;
    uint32_t fmark;
    cc_map problems;     /* slug -> st_tries */
};

struct st_problem {
    char slug[68];
    char *title;
    char **tags;
    size_t ntags;
    Codecourt__V1__Difficulty difficulty;
    bool public_, deleted;
    char owner[40];
    uint64_t published_seq; /* the first event that showed it public, 0 never */
    uint64_t seq;
    uint64_t changed;
    uint32_t fmark;
    /* derived from the submissions */
    st_user **solvers;
    size_t nsolvers, capsolvers;
    int attempters, submissions, accepted;
};

typedef enum { ST_D_USER, ST_D_PROBLEM, ST_D_SUB } st_dirty_kind;

/* A suggestion waiting for the next store: problem to user. */
typedef struct st_suggestion {
    st_problem *problem;
    st_user *user;
    const char *tag;
    int solved_in_tag;
    uint64_t seq;
} st_suggestion;

struct st_model {
    st_state *st;
    cc_map users;    /* id -> st_user */
    cc_map problems; /* slug -> st_problem */
    cc_map subs;     /* id -> st_sub */
    void **dirty;
    uint8_t *dirty_kind;
    size_t ndirty, capdirty;
    st_suggestion *sugg;
    size_t nsugg, capsugg;
};

st_model *st_model_new(st_state *st);
void st_model_free(st_model *m);
const cc_projection_def *st_projection_def(st_model *m);
st_user *st_user_get(st_model *m, const char *id);
st_problem *st_problem_get(st_model *m, const char *slug);

/* What one user has done with one problem. */
typedef struct st_progress {
    int attempts, accepted;
    bool solved;
    int64_t first_ac_ms; /* 0 when not solved */
} st_progress;
void st_progress_of(const st_tries *t, st_progress *out);

/* The first solver of p (its earliest AC; ties by user id), or NULL. */
const st_user *st_first_solver(const st_problem *p, int64_t *when_ms);

/* ---- read.c --------------------------------------------------------------------- */

void st_get_user(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void st_get_problem(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void st_get_recommendations(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* Streaks over a user's AC days (UTC day numbers, any order, n of them):
 * the longest run and the run that ends today or yesterday. Pure. */
void st_streaks(const int64_t *days, size_t n, int64_t today, int *current, int *longest);

/* ---- reco.c --------------------------------------------------------------------- */

/* Up to limit recommendations for user (may be NULL: someone new), best
 * first, into arena. Never a problem they solved, own, or that is not
 * public. */
cc_status st_recommend(st_model *m, const char *user_id, int limit, cc_arena *a,
                       Codecourt__V1__RecommendationList *out);

/* ---- util.c --------------------------------------------------------------------- */

/* The caller's user id from the envelope principal (64 bytes, "" when
 * anonymous). */
bool st_principal(const cc_rpc_call *call, char id[64]);
const char *st_difficulty_name(Codecourt__V1__Difficulty d);

#endif
