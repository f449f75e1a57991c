/* Scoreboards over the read model: the ranking (score.c decides the
 * order), the GetScoreboard reply, and the live pushes that follow each
 * batch of applied events:
 *   cc.live.contest.<id>.jury  every change, as the jury sees it;
 *   cc.live.contest.<id>       the same rows as the public sees them (a
 *                              frozen contest shows the freeze's tries as
 *                              pending and nothing more).
 * A push is {"type":"scoreboard","contest","view","position","rows":[...]}
 * with the changed teams' rows (rank included; other teams' ranks may
 * move too, which a client sees by sorting, or by reading the whole
 * board), or {"type":"clarification",...}. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

typedef struct rank_ctx {
    const con_contest *c;
    bool jury;
} rank_ctx;

static _Thread_local rank_ctx sort_ctx;

static const con_total *total_of(const con_team *t, bool jury)
{
    return jury ? &t->tj : &t->tp;
}

static int team_cmp(const void *a, const void *b)
{
    const con_team *x = *(con_team *const *)a, *y = *(con_team *const *)b;
    int r = con_total_cmp(sort_ctx.c->def->scoring, total_of(x, sort_ctx.jury),
                          total_of(y, sort_ctx.jury));
    if (r)
        return r;
    r = strcmp(x->def->name, y->def->name);
    return r ? r : strcmp(x->def->id, y->def->id);
}

static bool ranked(const con_team *t)
{
    return !t->deleted && !t->def->hidden && t->ncells == t->contest->def->n_problems;
}

size_t con_ranked(const con_contest *c, bool jury, con_team **order, int *ranks)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nteams; i++)
        if (ranked(c->team_list[i]))
            order[n++] = c->team_list[i];
    sort_ctx = (rank_ctx){c, jury};
    qsort(order, n, sizeof *order, team_cmp);
    for (size_t i = 0; i < n; i++)
        ranks[i] = i > 0 && con_total_cmp(c->def->scoring, total_of(order[i - 1], jury),
                                          total_of(order[i], jury)) == 0
                       ? ranks[i - 1]
                       : (int)i + 1;
    return n;
}

int64_t con_first_solve(const con_contest *c, bool jury, size_t i)
{
    int64_t best = -1;
    for (size_t k = 0; k < c->nteams; k++) {
        const con_team *t = c->team_list[k];
        if (!ranked(t) || i >= t->ncells)
            continue;
        const con_cell *cl = jury ? &t->jury[i] : &t->pub[i];
        if (cl->solved && (best < 0 || cl->solve_ms < best))
            best = cl->solve_ms;
    }
    return best;
}

/* The rank team t would have: one more than the teams strictly before it. */
static int rank_of(const con_contest *c, const con_team *t, bool jury)
{
    int r = 1;
    for (size_t k = 0; k < c->nteams; k++) {
        const con_team *o = c->team_list[k];
        if (o != t && ranked(o) &&
            con_total_cmp(c->def->scoring, total_of(o, jury), total_of(t, jury)) < 0)
            r++;
    }
    return r;
}

/* ---- GetScoreboard ------------------------------------------------------------- */

static Codecourt__V1__ScoreRow *row_msg(cc_arena *a, const con_contest *c, const con_team *t,
                                        bool jury, int rank, const int64_t *first)
{
    Codecourt__V1__ScoreRow *r = cc_arena_alloc(a, sizeof *r);
    Codecourt__V1__ScoreCell **cells = cc_arena_alloc(a, (t->ncells ? t->ncells : 1) * sizeof *cells);
    Codecourt__V1__ScoreCell *cv = cc_arena_alloc(a, (t->ncells ? t->ncells : 1) * sizeof *cv);
    if (!r || !cells || !cv)
        return NULL;
    codecourt__v1__score_row__init(r);
    const con_total *tot = total_of(t, jury);
    r->rank = rank;
    r->team_id = t->def->id;
    r->team_name = t->def->name;
    r->organization = t->def->organization;
    r->solved = tot->solved;
    r->penalty = tot->penalty;
    r->score = tot->score;
    r->last_improvement_ms = tot->last_ms;
    for (size_t i = 0; i < t->ncells; i++) {
        const con_cell *cl = jury ? &t->jury[i] : &t->pub[i];
        codecourt__v1__score_cell__init(&cv[i]);
        cv[i].label = c->def->problems[i]->label;
        cv[i].solved = cl->solved;
        cv[i].first_to_solve = cl->solved && first && first[i] == cl->solve_ms;
        cv[i].tries = cl->tries;
        cv[i].pending = cl->pending;
        cv[i].time_minutes = cl->minutes;
        cv[i].score = cl->score;
        cv[i].penalty = cl->solved ? cl->penalty : 0;
        cells[i] = &cv[i];
    }
    r->n_cells = t->ncells;
    r->cells = cells;
    return r;
}

Codecourt__V1__Scoreboard *con_scoreboard(cc_arena *a, con_contest *c, bool jury,
                                          uint64_t position, int64_t now_ms)
{
    size_t n = c->nteams;
    Codecourt__V1__Scoreboard *b = cc_arena_alloc(a, sizeof *b);
    con_team **order = cc_arena_alloc(a, (n ? n : 1) * sizeof *order);
    int *ranks = cc_arena_alloc(a, (n ? n : 1) * sizeof *ranks);
    int64_t *first = cc_arena_alloc(a, (c->def->n_problems ? c->def->n_problems : 1) * sizeof *first);
    Codecourt__V1__ScoreRow **rows = cc_arena_alloc(a, (n ? n : 1) * sizeof *rows);
    if (!b || !order || !ranks || !first || !rows)
        return NULL;
    codecourt__v1__scoreboard__init(b);
    n = con_ranked(c, jury, order, ranks);
    for (size_t i = 0; i < c->def->n_problems; i++)
        first[i] = con_first_solve(c, jury, i);
    for (size_t i = 0; i < n; i++)
        if (!(rows[i] = row_msg(a, c, order[i], jury, ranks[i], first)))
            return NULL;
    const Codecourt__V1__Contest *d = c->def;
    int64_t ms = con_contest_ms(c, now_ms);
    b->contest = d->id;
    b->scoring = d->scoring == CODECOURT__V1__SCORING__SCORING_IOI
                     ? CODECOURT__V1__SCORING__SCORING_IOI
                     : CODECOURT__V1__SCORING__SCORING_ICPC;
    b->frozen = !jury && d->freeze_s > 0 && d->unfrozen_at == 0 &&
                ms >= (d->duration_s - d->freeze_s) * 1000;
    b->jury_view = jury;
    b->contest_time_ms = ms;
    b->n_problems = d->n_problems;
    b->problems = d->problems;
    b->n_rows = n;
    b->rows = rows;
    b->position = position;
    return b;
}

/* ---- live ---------------------------------------------------------------------- */

static json_t *row_json(const con_contest *c, const con_team *t, bool jury, const int64_t *first)
{
    const con_total *tot = total_of(t, jury);
    json_t *cells = json_array();
    for (size_t i = 0; i < t->ncells; i++) {
        const con_cell *cl = jury ? &t->jury[i] : &t->pub[i];
        json_array_append_new(
            cells, json_pack("{s:s, s:b, s:b, s:i, s:i, s:I, s:f, s:I}", "label",
                             c->def->problems[i]->label, "solved", cl->solved, "firstToSolve",
                             cl->solved && first && first[i] == cl->solve_ms, "tries", cl->tries,
                             "pending", cl->pending, "timeMinutes", (json_int_t)cl->minutes,
                             "score", cl->score, "penalty",
                             (json_int_t)(cl->solved ? cl->penalty : 0)));
    }
    return json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:f, s:o}", "rank",
                     ranked(t) ? rank_of(c, t, jury) : 0, "teamId", t->def->id, "teamName",
                     t->def->name, "organization", t->def->organization, "solved", tot->solved,
                     "penalty", (json_int_t)tot->penalty, "score", tot->score, "cells", cells);
}

static void publish(con_model *m, const char *subject, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!text)
        return;
    cc_envelope e;
    cc_envelope_new(&e, "application/json");
    cc_bus_publish(cc_actor_bus(m->st->actor), subject, &e, NULL, text, strlen(text));
    free(text);
}

static void push_view(con_model *m, con_contest *c, bool jury, uint64_t position)
{
    size_t np = c->def->n_problems;
    int64_t *first = calloc(np ? np : 1, sizeof *first);
    if (!first)
        return;
    for (size_t i = 0; i < np; i++)
        first[i] = con_first_solve(c, jury, i);
    json_t *rows = json_array();
    for (size_t k = 0; k < c->nteams; k++)
        if (c->team_list[k]->touched && !c->team_list[k]->deleted)
            json_array_append_new(rows, row_json(c, c->team_list[k], jury, first));
    free(first);
    char pos[32];
    snprintf(pos, sizeof pos, "%" PRIu64, position);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "scoreboard", "contest",
                          c->def->id, "view", jury ? "jury" : "public", "position", pos, "rows",
                          rows);
    char subject[128];
    snprintf(subject, sizeof subject, jury ? "cc.live.contest.%s.jury" : "cc.live.contest.%s",
             c->def->id);
    publish(m, subject, o);
    json_decref(o);
}

void con_push_touched(con_model *m, uint64_t position)
{
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->contests, &i, &k, &v)) {
        con_contest *c = v;
        if (!c->touched || !c->def)
            continue;
        push_view(m, c, true, position);
        push_view(m, c, false, position);
        c->touched = false;
        for (size_t n = 0; n < c->nteams; n++)
            c->team_list[n]->touched = false;
    }
}

void con_push_clar(con_model *m, con_contest *c, const con_clar *k)
{
    const Codecourt__V1__Clarification *d = k->def;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "type",
                          "clarification", "contest", d->contest, "id", d->id, "fromTeam",
                          d->from_team, "toTeam", d->to_team, "replyTo", d->reply_to, "problem",
                          d->problem, "text", d->text, "timeMs", (json_int_t)d->time_ms);
    char subject[128];
    snprintf(subject, sizeof subject, "cc.live.contest.%s.jury", c->def->id);
    publish(m, subject, o);
    if (!d->from_team[0] && !d->to_team[0]) {
        snprintf(subject, sizeof subject, "cc.live.contest.%s", c->def->id);
        publish(m, subject, o);
    }
    json_decref(o);
}
