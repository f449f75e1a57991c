/* cc-contest's internal contract. Two halves:
 *  - the write side: contests, teams, jury and clarifications in the
 *    cc_contest database (contests, teams, team_members, clarifications),
 *    each change written with its cc.evt.contest.* event in one
 *    transaction (outbox); admin.c, clar.c, clock.c, read.c;
 *  - the read model (cc/projection.h "contest"): the scoreboards, the
 *    CLICS objects and the event feed, a function of CC_EVENTS alone, in
 *    memory and in the proj_* tables; proj.c applies and stores events,
 *    score.c is the scoring policy (pure), clics.c renders the CLICS API
 *    and the feed, board.c the scoreboards and the live pushes.
 * util.c holds what they share. Internal prefix: con_. */
#ifndef CC_CONTEST_H
#define CC_CONTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/map.h"
#include "cc/pg.h"
#include "cc/projection.h"
#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"

/* Bump when what apply makes of the events changes: a projection stored
 * under another version is rebuilt from the stream at start. */
#define CON_PROJECTION_VERSION 1
#define CON_PROJECTION "contest"

#define CON_EVT_UPDATED "cc.evt.contest.updated"
#define CON_EVT_STATE "cc.evt.contest.state"
#define CON_EVT_TEAM "cc.evt.contest.team"
#define CON_EVT_CLAR "cc.evt.contest.clarification"
#define CON_EVT_CLAR_SENT "cc.evt.contest.clarification_sent"

/* Settings (one row each in main.c; env CC_<NAME>). */
typedef struct con_settings {
    char *pg_conninfo;
    char *migrations;
    int64_t clock_ms;      /* how often due start/freeze/end transitions are looked for */
    int64_t max_teams;     /* per contest */
    int64_t max_problems;  /* per contest */
    cc_projection_reader reader; /* the read model's NATS user */
} con_settings;

typedef struct con_model con_model;

typedef struct con_state {
    cc_actor *actor;
    const con_settings *cfg;
    /* The read model (cc/projection.h): its pool, projection and relay,
     * and whether this run is `rebuild` (replay, store, exit). */
    cc_projection_actor rm;
    con_model *model;
    bool stopping;
    uv_timer_t clock;
    bool clock_open, clock_busy;
} con_state;

con_state *con_state_of(void *actor);

/* ---- score.c: the scoring policy (pure, unit-tested) ----------------------- */

/* One submission as scoring sees it. */
typedef struct con_try {
    int64_t time_ms;       /* contest time of the submission */
    const char *id;        /* breaks ties in time */
    bool judged;
    const char *verdict;   /* AC WA PE TLE MLE OLE RE CE IE */
    double score, max_score;
    const Codecourt__V1__GroupScore *const *groups;
    size_t ngroups;
} con_try;

typedef struct con_rules {
    Codecourt__V1__Scoring scoring;
    int64_t penalty_minutes;
    bool ce_penalty;
    int64_t duration_ms;   /* a try at or after this does not count */
    int64_t freeze_ms;     /* contest time the public view stops at; -1 = no freeze */
    bool public_view;      /* hide what was submitted from freeze_ms on */
    double points;         /* IOI: the problem's full score */
} con_rules;

typedef struct con_cell {
    bool solved;
    int tries;             /* judged tries counted (ICPC: up to and with the first AC) */
    int pending;           /* not judged yet, or hidden by the freeze */
    int64_t solve_ms;      /* ICPC: contest time of the first AC (first-to-solve) */
    int64_t minutes;       /* ICPC: its minute */
    int64_t penalty;       /* ICPC: minutes + penalty per rejected try */
    double score;          /* IOI: best, subtask-wise */
    int64_t improved_ms;   /* contest time of the last improvement */
} con_cell;

/* The cell of one team and one problem from its tries (in any order; n
 * at most 4096, more are not counted). Pure. */
void con_score_cell(const con_rules *r, const con_try *tries, size_t n, con_cell *out);

/* Whether a verdict is a rejected try (ICPC). */
bool con_verdict_rejected(const char *verdict, bool ce_penalty);

typedef struct con_total {
    int solved;
    int64_t penalty;
    double score;
    int64_t last_ms;       /* ICPC: time of the last AC; IOI: of the last improvement */
} con_total;

/* Adds a cell into a team's total. */
void con_total_add(con_total *t, const con_cell *c);

/* <0 when a ranks before b, 0 for a tie (the same rank), >0 after. ICPC:
 * more solved, then less penalty, then an earlier last AC (in minutes);
 * IOI: a higher score. Pure. */
int con_total_cmp(Codecourt__V1__Scoring s, const con_total *a, const con_total *b);

/* ---- proj.c: the read model ------------------------------------------------ */

typedef struct con_contest con_contest;
typedef struct con_team con_team;
typedef struct con_sub con_sub;

struct con_sub {
    char id[40];
    con_contest *contest;
    char team[40];
    char user[40];
    char problem[68];      /* slug */
    char language[32];
    int64_t created_ms;    /* Unix ms */
    uint64_t created_seq;  /* 0 until its created event was applied */
    uint32_t attempt;      /* of the result kept; 0 = not judged */
    char verdict[8];
    double score, max_score;
    Codecourt__V1__GroupScore **groups;
    size_t ngroups;
    uint64_t judged_seq;
    int64_t judged_ms;     /* when the stream stored the result */
    uint64_t changed;      /* sequence of the last change (flush) */
    uint32_t fmark;        /* the flush that last wrote it */
};

struct con_team {
    Codecourt__V1__Team *def; /* owned, unpacked */
    con_contest *contest;
    uint64_t seq;          /* last change (feed token) */
    uint64_t changed;
    bool deleted;
    char org_id[40];       /* CLICS organization id, "" for none */
    cc_map subs;           /* problem slug -> con_subs */
    con_cell *jury, *pub;  /* per problem of the contest */
    size_t ncells;
    con_total tj, tp;
    bool touched;          /* for the next live push */
    uint32_t fmark;
};

/* One feed entry: the object it names is rendered as it is when read, and
 * left out when that object changed again after (a later entry has it). */
typedef enum {
    CON_F_CONTEST,
    CON_F_STATE,
    CON_F_JTYPES,
    CON_F_PROBLEM,
    CON_F_ORG,
    CON_F_TEAM,
    CON_F_LANGUAGE,
    CON_F_SUBMISSION,
    CON_F_JUDGEMENT,
    CON_F_REVEAL,          /* a judgement the public sees from the unfreeze on */
    CON_F_CLAR,
} con_feed_kind;

typedef struct con_feed {
    uint64_t token;
    uint8_t kind;
    uint32_t index;        /* problem index, or position in a list */
    void *obj;             /* the team, sub, clarification or org (by kind) */
} con_feed;

typedef struct con_clar {
    Codecourt__V1__Clarification *def; /* owned */
    uint64_t seq;
    uint64_t changed;
    uint32_t fmark;
    bool pushed;           /* sent live (or born in a replay) */
} con_clar;

typedef struct con_org {
    char id[40];
    char name[128];
    uint64_t seq;
    uint64_t changed;
    uint32_t fmark;
    con_contest *contest;
} con_org;

typedef struct con_lang {
    char id[32];
    uint64_t seq;
} con_lang;

struct con_contest {
    Codecourt__V1__Contest *def; /* owned, unpacked */
    uint64_t seq;          /* of its last definition */
    uint64_t first_seq;    /* of its first: judgement types and languages */
    uint64_t *problem_seq; /* per problem: when it last changed */
    uint64_t changed;
    int64_t started_ms, frozen_ms, ended_ms;
    uint64_t state_seq;
    uint64_t unfrozen_seq; /* of the definition that unfroze it, 0 while frozen */
    uint32_t fmark;
    cc_map teams;          /* id -> con_team */
    con_team **team_list;  /* in order of arrival */
    size_t nteams, capteams;
    cc_map orgs;           /* id -> con_org */
    cc_map langs;          /* id -> con_lang */
    con_clar **clars;
    size_t nclars, capclars;
    con_feed *feed;
    size_t nfeed, capfeed;
    bool touched;
};

struct con_model {
    cc_map contests;       /* id -> con_contest */
    cc_map subs;           /* submission id -> con_sub (contest submissions only) */
    /* What changed since the last store, as pointers (a thing may appear
     * more than once; its changed sequence says whether it is stored). */
    void **dirty;
    uint8_t *dirty_kind;   /* con_dirty_kind */
    size_t ndirty, capdirty;
    con_state *st;
    bool live;             /* push changes (not during a rebuild) */
};

typedef enum { CON_D_CONTEST, CON_D_TEAM, CON_D_SUB, CON_D_CLAR, CON_D_ORG } con_dirty_kind;

con_model *con_model_new(con_state *st);
void con_model_free(con_model *m);
/* The projection's definition over m (its callbacks are in proj.c). */
const cc_projection_def *con_projection_def(con_model *m);
con_contest *con_model_contest(con_model *m, const char *id);
/* Recomputes every cell of c (after its definition changed). */
void con_recompute(con_contest *c);
/* Recomputes team t's cells of problem slug (all when slug is NULL). */
void con_recompute_team(con_contest *c, con_team *t, const char *slug);
/* The problem index of slug in c, or -1. */
int con_problem_index(const con_contest *c, const char *slug);
/* The rules of problem i of c for the jury or the public view. */
void con_rules_of(const con_contest *c, size_t i, bool public_view, con_rules *out);
/* Contest time (ms) of a Unix ms time. */
int64_t con_contest_ms(const con_contest *c, int64_t unix_ms);
/* True when a submission made at contest time ms is hidden from the
 * public (made in the freeze, not yet unfrozen). */
bool con_hidden(const con_contest *c, int64_t contest_ms);
/* True when user is c's jury (its list or its owner). */
bool con_is_jury(const con_contest *c, const char *user);
/* The team of user in c, or NULL. */
con_team *con_team_of(con_contest *c, const char *user);

/* ---- board.c: scoreboards and live pushes ----------------------------------- */

/* The teams of c in scoreboard order for the jury or the public view:
 * order (c->nteams entries) and their ranks; hidden and deleted teams are
 * left out. Returns how many. */
size_t con_ranked(const con_contest *c, bool jury, con_team **order, int *ranks);
/* The earliest solve time of problem i among ranked teams, -1 for none. */
int64_t con_first_solve(const con_contest *c, bool jury, size_t i);
/* The scoreboard of c as the jury or the public sees it, in arena. NULL
 * when out of memory. */
Codecourt__V1__Scoreboard *con_scoreboard(cc_arena *a, con_contest *c, bool jury,
                                          uint64_t position, int64_t now_ms);
/* After applies: publishes the rows of touched teams on
 * cc.live.contest.<id>.jury and, as the public sees them, on
 * cc.live.contest.<id>; clears the marks. */
void con_push_touched(con_model *m, uint64_t position);
/* Publishes a clarification the public may read on the contest's public
 * channel and every clarification on its jury channel. */
void con_push_clar(con_model *m, con_contest *c, const con_clar *k);

/* ---- clics.c: the CLICS Contest API and its event feed ------------------------ */

/* The reader of the API: jury (everything), a team, or the public. */
typedef struct con_viewer {
    bool jury;
    const char *team; /* "" for none */
} con_viewer;

/* What user (admin or not) may read of c; false when nothing (a private
 * contest they have no part in). */
bool con_viewer_for(const con_contest *c, const char *user, bool admin, con_viewer *v);
/* GET /api..., as JSON text (malloc'd) with *status (200, or 404 with the
 * spec's {"code","message"} body); what user may see. NULL when out of
 * memory. */
char *con_clics_get(con_model *m, const Codecourt__V1__ClicsRequest *rq, const char *user,
                    bool admin, int *status);
/* One page of the feed after since (0 = from the start): NDJSON lines
 * (malloc'd, *len bytes), *last the token of the last line (unchanged
 * when none), *more when the limit cut it. types: comma-separated, or
 * "". CC_INVALID for a token from the future. */
cc_status con_feed_page(con_model *m, con_contest *c, const con_viewer *v, uint64_t since,
                        int limit, const char *types, char **out, size_t *len, uint64_t *last,
                        bool *more);
/* Adds an entry to c's feed (kinds and objects as con_feed says). */
void con_feed_add(con_contest *c, uint64_t token, con_feed_kind kind, uint32_t index, void *obj);
/* Sorts a feed rebuilt from stored objects by token. */
void con_feed_sort(con_contest *c);
/* CLICS times: "2024-05-01T10:00:00.000+00:00" and "1:02:03.456" (into
 * out, at least 40 bytes). */
void con_iso_time(int64_t unix_ms, char *out);
void con_rel_time(int64_t ms, char *out);
/* CLICS judgement type of one of our verdicts ("RE" -> "RTE", "IE" -> "JE"). */
const char *con_jtype(const char *verdict);

/* ---- admin.c: the write side's requests -------------------------------------- */

void con_create(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_put(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_unfreeze(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_register(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_put_team(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- read.c ------------------------------------------------------------------ */

void con_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_list_teams(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_get_scoreboard(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_clics(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_event_feed(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_check_submission(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- clar.c ------------------------------------------------------------------- */

void con_ask(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_answer(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void con_list_clars(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- clock.c: start, freeze and end become events ---------------------------- */

cc_status con_clock_start(con_state *st);
void con_clock_stop(con_state *st);

/* ---- util.c ------------------------------------------------------------------- */

typedef enum { CON_ANON, CON_USER, CON_SETTER, CON_ADMIN } con_role;

/* The caller from the envelope principal "<user id>:<role>": id (64
 * bytes, "" when anonymous) and role. */
con_role con_principal(const cc_rpc_call *call, char id[64]);
/* True when user acts as d's jury: role is CON_ADMIN, or user (not "")
 * is d's owner or on its jury list. The one rule the write side, the
 * reads and the read model use. */
bool con_def_jury(const Codecourt__V1__Contest *d, const char *user, con_role role);
/* The contest definition stored in column col of r's row, unpacked into
 * the call's arena; NULL when there is no such row or it is unreadable. */
Codecourt__V1__Contest *con_def_of(cc_rpc_call *call, const cc_pg_result *r, int row, int col);
/* True for a contest id: [a-z0-9][a-z0-9-]{1,63}. */
bool con_slug_ok(const char *s);
/* True for a CLICS id: [A-Za-z0-9_.-]{1,36}, not starting with '-' or '.'. */
bool con_id_ok(const char *s);
/* Packs m into the call's arena (*len its size); NULL when out of memory. */
uint8_t *con_pack(cc_rpc_call *call, const ProtobufCMessage *m, size_t *len);
/* Adds the outbox row of event m on subject to tx, with the envelope env
 * (may be NULL) and Nats-Msg-Id msg_id (NULL: the outbox's own). */
cc_status con_emit(cc_pg_tx *tx, const cc_envelope *env, const char *subject,
                   const ProtobufCMessage *m, const char *msg_id);
/* Unix milliseconds now (wall clock): the write side's, never the read
 * model's. */
int64_t con_now_ms(void);
/* A CLICS-safe id from free text (an organization's name): [A-Za-z0-9_.-],
 * at most 36 bytes, "" for empty text. */
void con_text_id(const char *text, char out[40]);

/* ---- write.c: what the write requests share ----------------------------------- */

typedef struct con_write con_write;
/* The answer of a write request whose transaction committed. */
typedef void (*con_write_reply)(con_write *w);

/* The head of a write request's context (its first member): admin.c and
 * clar.c end their transactions and answer through it. */
struct con_write {
    cc_rpc_call *call;
    con_state *st;
    char who[64];        /* the caller ("" when anonymous) */
    con_role role;
    cc_pg_tx *tx;
    cc_status err;       /* the first refusal or failed statement */
    char errmsg[300];    /* the refusal's words ("" for a failed statement) */
    con_write_reply reply;
    const char *what;    /* what a failed commit names: "store contest" */
    const char *exists;  /* what a unique violation means (NULL: the database's words) */
};

/* A context of size bytes (a con_write first) in the call's arena, with
 * the caller read from its principal; NULL with the call failed. */
void *con_write_new(cc_rpc_call *call, void *actor, size_t size, con_write_reply reply,
                    const char *what);
/* The checks every write request makes first: a signed-in caller (else
 * unauthenticated, with anon_msg) and a contest id that can exist (else
 * not found). False with the call failed. */
bool con_write_check(con_write *w, const char *contest, const char *anon_msg);
/* Begins w->tx; false with the call failed (what names the step). */
bool con_write_begin(con_write *w, const char *what);
/* Refuses the request with s and its words, unless it was refused
 * already (the first reason is the answer). */
void con_write_refuse(con_write *w, cc_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Keeps a statement's failure (the first one); true while nothing failed
 * or was refused. */
bool con_write_ok(con_write *w, cc_status s);
/* Commits (nothing refused) or rolls back w->tx, then answers: w->reply,
 * the refusal, or the database's failure. */
void con_write_end(con_write *w);
#endif
