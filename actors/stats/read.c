/* The statistics, read from the model (milliseconds behind CC_EVENTS):
 * a user's (solved and attempted by tag and difficulty, acceptance rate,
 * streaks), a public problem's, and recommendations (reco.c). Tags and
 * difficulties come only from public problems: a draft's tags are its
 * setter's to show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

/* ---- streaks (pure) ----------------------------------------------------------- */

static int day_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void st_streaks(const int64_t *days, size_t n, int64_t today, int *current, int *longest)
{
    *current = *longest = 0;
    if (n == 0)
        return;
    int64_t *v = malloc(n * sizeof *v);
    if (!v)
        return;
    memcpy(v, days, n * sizeof *v);
    qsort(v, n, sizeof *v, day_cmp);
    int run = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && v[i] == prev)
            continue;
        run = i > 0 && v[i] == prev + 1 ? run + 1 : 1;
        prev = v[i];
        if (run > *longest)
            *longest = run;
    }
    /* The last run counts as current while it reaches today or yesterday. */
    *current = prev >= today - 1 && prev <= today ? run : 0;
    free(v);
}

/* ---- GetUserStats --------------------------------------------------------------- */

typedef struct counter {
    const char *name;
    int solved, attempted;
} counter;

static counter *count_in(counter *v, size_t *n, size_t cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    if (*n == cap)
        return NULL;
    v[*n] = (counter){name, 0, 0};
    return &v[(*n)++];
}

static int counter_cmp(const void *a, const void *b)
{
    const counter *x = a, *y = b;
    if (x->solved != y->solved)
        return y->solved - x->solved;
    if (x->attempted != y->attempted)
        return y->attempted - x->attempted;
    return strcmp(x->name, y->name);
}

void st_get_user(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetUserStatsRequest *rq = (const void *)req;
    st_state *st = st_state_of(actor);
    cc_arena *a = cc_rpc_arena(call);
    char me[64];
    bool signed_in = st_principal(call, me);
    const char *id = rq->user_id;
    if (!strcmp(id, "me")) {
        if (!signed_in) {
            cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to read your own statistics");
            return;
        }
        id = me;
    }
    if (!id[0] || strlen(id) > 64) {
        cc_rpc_fail(call, CC_NOT_FOUND, "userId: no user '%.64s'", id);
        return;
    }
    Codecourt__V1__UserStats *out = cc_arena_alloc(a, sizeof *out);
    if (!out) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__user_stats__init(out);
    out->user_id = cc_arena_strdup(a, id);
    out->position = cc_projection_applied(st->rm.proj);
    st_user *u = st_user_get(st->model, id);
    size_t np = u ? u->problems.len : 0, ntags = 0, nd = 0;
    size_t tagcap = np * 8 + 1;
    counter *tags = cc_arena_alloc(a, tagcap * sizeof *tags);
    counter diffs[4];
    int64_t *days = cc_arena_alloc(a, (st->model->subs.len + 1) * sizeof *days);
    size_t ndays = 0;
    if (!tags || !days) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    size_t i = 0;
    const char *slug;
    void *tv;
    while (u && cc_map_next(&u->problems, &i, &slug, &tv)) {
        const st_tries *t = tv;
        st_progress g;
        st_progress_of(t, &g);
        out->submissions += g.attempts;
        out->accepted += g.accepted;
        if (g.attempts)
            out->attempted++;
        if (g.solved)
            out->solved++;
        for (size_t k = 0; k < t->n; k++)
            if (!strcmp(t->v[k]->verdict, "AC"))
                days[ndays++] = t->v[k]->judged_ms / 86400000;
        const st_problem *p = st_problem_get(st->model, slug);
        if (!p || !p->public_ || p->deleted)
            continue;
        for (size_t k = 0; k < p->ntags; k++) {
            counter *c = count_in(tags, &ntags, tagcap, p->tags[k]);
            if (c) {
                c->attempted += g.attempts > 0;
                c->solved += g.solved;
            }
        }
        if (p->difficulty > 0 && p->difficulty < 4) {
            counter *c = count_in(diffs, &nd, 4, st_difficulty_name(p->difficulty));
            if (c) {
                c->attempted += g.attempts > 0;
                c->solved += g.solved;
            }
        }
    }
    out->acceptance_rate = out->submissions ? (double)out->accepted / out->submissions : 0;
    int cur = 0, longest = 0;
    st_streaks(days, ndays, (int64_t)time(NULL) / 86400, &cur, &longest);
    out->current_streak = cur;
    out->longest_streak = longest;
    qsort(tags, ntags, sizeof *tags, counter_cmp);
    out->tags = cc_arena_alloc(a, (ntags ? ntags : 1) * sizeof *out->tags);
    out->difficulties = cc_arena_alloc(a, 4 * sizeof *out->difficulties);
    if (!out->tags || !out->difficulties) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    for (size_t k = 0; k < ntags; k++) {
        Codecourt__V1__TagStat *t = cc_arena_alloc(a, sizeof *t);
        if (!t)
            break;
        codecourt__v1__tag_stat__init(t);
        t->tag = (char *)tags[k].name;
        t->solved = tags[k].solved;
        t->attempted = tags[k].attempted;
        out->tags[out->n_tags++] = t;
    }
    /* Difficulties in their own order: easy, medium, hard. */
    for (int d = 1; d < 4; d++)
        for (size_t k = 0; k < nd; k++)
            if (!strcmp(diffs[k].name, st_difficulty_name((Codecourt__V1__Difficulty)d))) {
                Codecourt__V1__DifficultyStat *x = cc_arena_alloc(a, sizeof *x);
                if (!x)
                    break;
                codecourt__v1__difficulty_stat__init(x);
                x->difficulty = (Codecourt__V1__Difficulty)d;
                x->solved = diffs[k].solved;
                x->attempted = diffs[k].attempted;
                out->difficulties[out->n_difficulties++] = x;
            }
    cc_rpc_reply(call, &out->base);
}

/* ---- GetProblemStats ------------------------------------------------------------- */

void st_get_problem(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetProblemStatsRequest *rq = (const void *)req;
    st_state *st = st_state_of(actor);
    const st_problem *p = strlen(rq->slug) < 68 ? st_problem_get(st->model, rq->slug) : NULL;
    if (!p || !p->public_ || p->deleted) {
        cc_rpc_fail(call, CC_NOT_FOUND, "slug: no public problem '%.64s'", rq->slug);
        return;
    }
    Codecourt__V1__ProblemStats out = CODECOURT__V1__PROBLEM_STATS__INIT;
    out.problem = (char *)p->slug;
    out.solvers = (int32_t)p->nsolvers;
    out.attempters = p->attempters;
    out.submissions = p->submissions;
    out.accepted = p->accepted;
    out.acceptance_rate = p->submissions ? (double)p->accepted / p->submissions : 0;
    int64_t when = 0;
    const st_user *first = st_first_solver(p, &when);
    out.first_solver = first ? (char *)first->id : "";
    out.first_solved_at = first ? when / 1000 : 0;
    cc_rpc_reply(call, &out.base);
}

/* ---- GetRecommendations ------------------------------------------------------------ */

void st_get_recommendations(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetRecommendationsRequest *rq = (const void *)req;
    st_state *st = st_state_of(actor);
    char me[64];
    if (!st_principal(call, me)) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in for recommendations");
        return;
    }
    int limit = rq->limit > 0 && rq->limit <= 50 ? rq->limit : 10;
    Codecourt__V1__RecommendationList out = CODECOURT__V1__RECOMMENDATION_LIST__INIT;
    cc_status s = st_recommend(st->model, me, limit, cc_rpc_arena(call), &out);
    if (s != CC_OK) {
        cc_rpc_fail(call, s, "%s", cc_err_msg());
        return;
    }
    cc_rpc_reply(call, &out.base);
}
