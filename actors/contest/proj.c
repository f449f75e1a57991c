/* The read model: CC_EVENTS applied to memory (contests, teams,
 * organizations, submissions with the result kept for each, clarifications
 * and each contest's feed), stored in the proj_* tables by the projection
 * runtime (cc/projection.h), loaded from them at start.
 *
 * Apply, by subject:
 *   cc.evt.contest.updated        the contest's definition; every cell again
 *   cc.evt.contest.state          started / frozen / ended
 *   cc.evt.contest.team           a team (and its organization)
 *   cc.evt.contest.clarification  a clarification
 *   cc.evt.submission.created     a submission in a contest: its team, time, problem
 *   cc.evt.submission.judged      its result: kept when its attempt is newer than the
 *                                 one kept (a rejudge), the first for an attempt wins
 * and nothing else. A result may come before its submission (the outbox
 * retried one publish and not the other): it is kept and placed when the
 * submission arrives. Nothing here reads a clock or calls anyone, so a
 * rebuild makes the same state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

/* A team's submissions of one problem. */
typedef struct con_subs {
    con_sub **v;
    size_t n, cap;
} con_subs;

static uint32_t flush_mark = 1;

/* ---- small helpers ---------------------------------------------------------- */

static void mark(con_model *m, con_dirty_kind kind, void *obj)
{
    if (m->ndirty == m->capdirty) {
        size_t cap = m->capdirty ? m->capdirty * 2 : 256;
        void **d = realloc(m->dirty, cap * sizeof *d);
        uint8_t *k = d ? realloc(m->dirty_kind, cap) : NULL;
        if (!d || !k) {
            if (d)
                m->dirty = d;
            cc_log(CC_LOG_ERROR, NULL, "out of memory marking a change; it is stored at the "
                                       "next change of the same object",
                   NULL);
            return;
        }
        m->dirty = d;
        m->dirty_kind = k;
        m->capdirty = cap;
    }
    m->dirty[m->ndirty] = obj;
    m->dirty_kind[m->ndirty++] = (uint8_t)kind;
}

int con_problem_index(const con_contest *c, const char *slug)
{
    for (size_t i = 0; i < c->def->n_problems; i++)
        if (!strcmp(c->def->problems[i]->problem, slug))
            return (int)i;
    return -1;
}

int64_t con_contest_ms(const con_contest *c, int64_t unix_ms)
{
    return unix_ms - c->def->start_at * 1000;
}

bool con_hidden(const con_contest *c, int64_t contest_ms)
{
    const Codecourt__V1__Contest *d = c->def;
    return d->freeze_s > 0 && d->unfrozen_at == 0 &&
           contest_ms >= (d->duration_s - d->freeze_s) * 1000 && contest_ms < d->duration_s * 1000;
}

bool con_is_jury(const con_contest *c, const char *user)
{
    return con_def_jury(c->def, user, CON_USER);
}

con_team *con_team_of(con_contest *c, const char *user)
{
    if (!user || !user[0])
        return NULL;
    for (size_t i = 0; i < c->nteams; i++) {
        con_team *t = c->team_list[i];
        if (t->deleted)
            continue;
        for (size_t k = 0; k < t->def->n_members; k++)
            if (!strcmp(t->def->members[k], user))
                return t;
    }
    return NULL;
}

con_contest *con_model_contest(con_model *m, const char *id)
{
    return cc_map_get(&m->contests, id);
}

void con_rules_of(const con_contest *c, size_t i, bool public_view, con_rules *out)
{
    const Codecourt__V1__Contest *d = c->def;
    memset(out, 0, sizeof *out);
    out->scoring = d->scoring == CODECOURT__V1__SCORING__SCORING_IOI
                       ? CODECOURT__V1__SCORING__SCORING_IOI
                       : CODECOURT__V1__SCORING__SCORING_ICPC;
    out->penalty_minutes = d->penalty_minutes > 0 ? d->penalty_minutes : 20;
    out->ce_penalty = d->compile_error_penalty;
    out->duration_ms = d->duration_s * 1000;
    out->freeze_ms =
        d->freeze_s > 0 && d->unfrozen_at == 0 ? (d->duration_s - d->freeze_s) * 1000 : -1;
    out->public_view = public_view;
    double pts = i < d->n_problems ? d->problems[i]->points : 0;
    out->points = pts > 0 ? pts : 100;
}

/* ---- cells ------------------------------------------------------------------ */

static void total_again(con_contest *c, con_team *t)
{
    memset(&t->tj, 0, sizeof t->tj);
    memset(&t->tp, 0, sizeof t->tp);
    for (size_t i = 0; i < t->ncells; i++) {
        con_total_add(&t->tj, &t->jury[i]);
        con_total_add(&t->tp, &t->pub[i]);
    }
    t->touched = true;
    c->touched = true;
}

static void cell_again(con_contest *c, con_team *t, size_t i)
{
    con_subs *ss = cc_map_get(&t->subs, c->def->problems[i]->problem);
    size_t n = ss ? ss->n : 0;
    con_try stack[32], *tries = n <= 32 ? stack : calloc(n, sizeof *tries);
    if (!tries)
        return;
    for (size_t k = 0; k < n; k++) {
        const con_sub *s = ss->v[k];
        tries[k] = (con_try){.time_ms = con_contest_ms(c, s->created_ms),
                             .id = s->id,
                             .judged = s->attempt > 0,
                             .verdict = s->verdict,
                             .score = s->score,
                             .max_score = s->max_score,
                             .groups = (const Codecourt__V1__GroupScore *const *)s->groups,
                             .ngroups = s->ngroups};
    }
    con_rules r;
    con_rules_of(c, i, false, &r);
    con_score_cell(&r, tries, n, &t->jury[i]);
    con_rules_of(c, i, true, &r);
    con_score_cell(&r, tries, n, &t->pub[i]);
    if (tries != stack)
        free(tries);
}

static bool cells_fit(con_contest *c, con_team *t)
{
    size_t n = c->def->n_problems;
    if (t->ncells == n && (n == 0 || t->jury))
        return true;
    con_cell *j = calloc(n ? n : 1, sizeof *j), *p = calloc(n ? n : 1, sizeof *p);
    if (!j || !p) {
        free(j);
        free(p);
        return false;
    }
    free(t->jury);
    free(t->pub);
    t->jury = j;
    t->pub = p;
    t->ncells = n;
    return true;
}

void con_recompute_team(con_contest *c, con_team *t, const char *slug)
{
    if (!cells_fit(c, t))
        return;
    if (slug) {
        int i = con_problem_index(c, slug);
        if (i >= 0)
            cell_again(c, t, (size_t)i);
    } else {
        for (size_t i = 0; i < t->ncells; i++)
            cell_again(c, t, i);
    }
    total_again(c, t);
}

void con_recompute(con_contest *c)
{
    for (size_t i = 0; i < c->nteams; i++)
        con_recompute_team(c, c->team_list[i], NULL);
}

/* ---- objects --------------------------------------------------------------- */

static void sub_free(con_sub *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i]->name);
        free(s->groups[i]);
    }
    free(s->groups);
    free(s);
}

static void team_free(con_team *t)
{
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&t->subs, &i, &k, &v)) {
        con_subs *ss = v;
        free(ss->v);
        free(ss);
    }
    cc_map_free(&t->subs);
    if (t->def)
        protobuf_c_message_free_unpacked(&t->def->base, NULL);
    free(t->jury);
    free(t->pub);
    free(t);
}

static void contest_free(con_contest *c)
{
    for (size_t i = 0; i < c->nteams; i++)
        team_free(c->team_list[i]);
    free(c->team_list);
    cc_map_free(&c->teams);
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&c->orgs, &i, &k, &v))
        free(v);
    cc_map_free(&c->orgs);
    i = 0;
    while (cc_map_next(&c->langs, &i, &k, &v))
        free(v);
    cc_map_free(&c->langs);
    for (size_t n = 0; n < c->nclars; n++) {
        protobuf_c_message_free_unpacked(&c->clars[n]->def->base, NULL);
        free(c->clars[n]);
    }
    free(c->clars);
    free(c->feed);
    free(c->problem_seq);
    if (c->def)
        protobuf_c_message_free_unpacked(&c->def->base, NULL);
    free(c);
}

static void model_clear(con_model *m)
{
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->subs, &i, &k, &v))
        sub_free(v);
    cc_map_free(&m->subs);
    i = 0;
    while (cc_map_next(&m->contests, &i, &k, &v))
        contest_free(v);
    cc_map_free(&m->contests);
    m->ndirty = 0;
}

con_model *con_model_new(con_state *st)
{
    con_model *m = calloc(1, sizeof *m);
    if (m)
        m->st = st;
    return m;
}

void con_model_free(con_model *m)
{
    if (!m)
        return;
    model_clear(m);
    free(m->dirty);
    free(m->dirty_kind);
    free(m);
}

static con_contest *contest_new(con_model *m, const char *id)
{
    con_contest *c = calloc(1, sizeof *c);
    if (!c || cc_map_put(&m->contests, id, c, NULL) != CC_OK) {
        free(c);
        return NULL;
    }
    return c;
}

static con_team *team_add(con_contest *c, const char *id)
{
    if (c->nteams == c->capteams) {
        size_t cap = c->capteams ? c->capteams * 2 : 16;
        con_team **l = realloc(c->team_list, cap * sizeof *l);
        if (!l)
            return NULL;
        c->team_list = l;
        c->capteams = cap;
    }
    con_team *t = calloc(1, sizeof *t);
    if (!t || cc_map_put(&c->teams, id, t, NULL) != CC_OK) {
        free(t);
        return NULL;
    }
    t->contest = c;
    c->team_list[c->nteams++] = t;
    return t;
}

/* Puts s into its team's list of its problem (once). */
static void place(con_contest *c, con_sub *s)
{
    con_team *t = cc_map_get(&c->teams, s->team);
    if (!t)
        return; /* not a team the contest knows: shown in the feed, not scored */
    con_subs *ss = cc_map_get(&t->subs, s->problem);
    if (!ss) {
        ss = calloc(1, sizeof *ss);
        if (!ss || cc_map_put(&t->subs, s->problem, ss, NULL) != CC_OK) {
            free(ss);
            return;
        }
    }
    for (size_t i = 0; i < ss->n; i++)
        if (ss->v[i] == s)
            return;
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 4;
        con_sub **v = realloc(ss->v, cap * sizeof *v);
        if (!v)
            return;
        ss->v = v;
        ss->cap = cap;
    }
    ss->v[ss->n++] = s;
}

/* An organization named by a team, added the first time its id is met. */
static con_org *org_for(con_model *m, con_contest *c, const char *name, uint64_t seq, char id[40])
{
    con_text_id(name, id);
    if (!id[0])
        return NULL;
    con_org *o = cc_map_get(&c->orgs, id);
    if (o)
        return o;
    o = calloc(1, sizeof *o);
    if (!o || cc_map_put(&c->orgs, id, o, NULL) != CC_OK) {
        free(o);
        return NULL;
    }
    snprintf(o->id, sizeof o->id, "%s", id);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->seq = o->changed = seq;
    o->contest = c;
    if (seq) {
        con_feed_add(c, seq, CON_F_ORG, 0, o);
        mark(m, CON_D_ORG, o);
    }
    return o;
}

static void lang_seen(con_contest *c, const char *id, uint64_t seq)
{
    if (!id[0] || cc_map_get(&c->langs, id))
        return;
    con_lang *l = calloc(1, sizeof *l);
    if (!l || cc_map_put(&c->langs, id, l, NULL) != CC_OK) {
        free(l);
        return;
    }
    snprintf(l->id, sizeof l->id, "%s", id);
    l->seq = seq;
    con_feed_add(c, seq, CON_F_LANGUAGE, 0, l);
}

/* The feed token of s's judgement for everyone but the public: after its
 * submission's, whichever came first. */
static uint64_t judgement_token(const con_sub *s)
{
    return s->judged_seq > s->created_seq ? s->judged_seq : s->created_seq;
}

/* ---- apply -------------------------------------------------------------------- */

static void apply_contest(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__ContestChanged *e =
        codecourt__v1__contest_changed__unpack(NULL, ev->len, ev->data);
    if (!e || !e->contest || !con_slug_ok(e->contest->id)) {
        cc_log(CC_LOG_WARN, ev->env, "contest event skipped: malformed", "{s:I}", "seq",
               (json_int_t)ev->seq);
        if (e)
            codecourt__v1__contest_changed__free_unpacked(e, NULL);
        return;
    }
    Codecourt__V1__Contest *d = e->contest;
    e->contest = NULL;
    codecourt__v1__contest_changed__free_unpacked(e, NULL);
    con_contest *c = cc_map_get(&m->contests, d->id);
    bool fresh = !c;
    if (!c && !(c = contest_new(m, d->id))) {
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return;
    }
    uint64_t *pseq = calloc(d->n_problems ? d->n_problems : 1, sizeof *pseq);
    if (!pseq) {
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return;
    }
    /* A problem keeps its token while its entry is unchanged. */
    for (size_t i = 0; i < d->n_problems; i++) {
        pseq[i] = ev->seq;
        for (size_t k = 0; !fresh && k < c->def->n_problems; k++) {
            const Codecourt__V1__ContestProblem *a = d->problems[i], *b = c->def->problems[k];
            if (i == k && !strcmp(a->label, b->label) && !strcmp(a->problem, b->problem) &&
                !strcmp(a->name, b->name) && !strcmp(a->rgb, b->rgb) &&
                !strcmp(a->color, b->color) && a->points == b->points &&
                a->time_limit == b->time_limit && a->test_data_count == b->test_data_count)
                pseq[i] = c->problem_seq[k];
        }
    }
    bool unfreezes = !fresh && c->def->unfrozen_at == 0 && d->unfrozen_at > 0;
    if (c->def)
        protobuf_c_message_free_unpacked(&c->def->base, NULL);
    c->def = d;
    free(c->problem_seq);
    c->problem_seq = pseq;
    c->seq = ev->seq;
    /* The contest first, then what it is made of (the feed's order). */
    con_feed_add(c, ev->seq, CON_F_CONTEST, 0, NULL);
    if (fresh) {
        c->first_seq = ev->seq;
        con_feed_add(c, ev->seq, CON_F_JTYPES, 0, NULL);
    }
    for (size_t i = 0; i < d->n_problems; i++)
        if (pseq[i] == ev->seq)
            con_feed_add(c, ev->seq, CON_F_PROBLEM, (uint32_t)i, NULL);
    if (d->unfrozen_at == 0)
        c->unfrozen_seq = 0;
    if (unfreezes) {
        /* The public sees the judgements the freeze hid from here on. */
        c->unfrozen_seq = ev->seq;
        c->state_seq = ev->seq;
        con_feed_add(c, ev->seq, CON_F_STATE, 0, NULL);
        size_t i = 0;
        const char *k;
        void *v;
        while (cc_map_next(&m->subs, &i, &k, &v)) {
            con_sub *s = v;
            if (s->contest != c || !s->attempt || !s->created_seq)
                continue;
            int64_t cm = con_contest_ms(c, s->created_ms);
            if (d->freeze_s > 0 && cm >= (d->duration_s - d->freeze_s) * 1000 &&
                cm < d->duration_s * 1000)
                con_feed_add(c, ev->seq, CON_F_REVEAL, 0, s);
        }
    }
    c->changed = ev->seq;
    mark(m, CON_D_CONTEST, c);
    con_recompute(c);
}

static void apply_state(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__ContestStateChanged *e =
        codecourt__v1__contest_state_changed__unpack(NULL, ev->len, ev->data);
    con_contest *c = e ? cc_map_get(&m->contests, e->contest) : NULL;
    if (c) {
        c->started_ms = e->started_at_ms;
        c->frozen_ms = e->frozen_at_ms;
        c->ended_ms = e->ended_at_ms;
        c->state_seq = ev->seq;
        c->changed = ev->seq;
        con_feed_add(c, ev->seq, CON_F_STATE, 0, NULL);
        mark(m, CON_D_CONTEST, c);
    }
    if (e)
        codecourt__v1__contest_state_changed__free_unpacked(e, NULL);
}

static void apply_team(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__TeamChanged *e = codecourt__v1__team_changed__unpack(NULL, ev->len, ev->data);
    con_contest *c = e && e->team ? cc_map_get(&m->contests, e->contest) : NULL;
    if (!c || !con_id_ok(e->team->id)) {
        if (e)
            codecourt__v1__team_changed__free_unpacked(e, NULL);
        return;
    }
    Codecourt__V1__Team *d = e->team;
    e->team = NULL;
    bool deleted = e->deleted;
    codecourt__v1__team_changed__free_unpacked(e, NULL);
    con_team *t = cc_map_get(&c->teams, d->id);
    if (!t && !(t = team_add(c, d->id))) {
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return;
    }
    if (t->def)
        protobuf_c_message_free_unpacked(&t->def->base, NULL);
    t->def = d;
    t->deleted = deleted;
    t->seq = t->changed = ev->seq;
    char org[40];
    if (org_for(m, c, d->organization, ev->seq, org))
        snprintf(t->org_id, sizeof t->org_id, "%s", org);
    else
        t->org_id[0] = '\0';
    con_feed_add(c, ev->seq, CON_F_TEAM, 0, t);
    mark(m, CON_D_TEAM, t);
    con_recompute_team(c, t, NULL);
}

static void apply_clar(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__ClarificationPosted *e =
        codecourt__v1__clarification_posted__unpack(NULL, ev->len, ev->data);
    con_contest *c = e && e->clarification ? cc_map_get(&m->contests, e->clarification->contest)
                                           : NULL;
    if (!c) {
        if (e)
            codecourt__v1__clarification_posted__free_unpacked(e, NULL);
        return;
    }
    con_clar *k = calloc(1, sizeof *k);
    if (c->nclars == c->capclars) {
        size_t cap = c->capclars ? c->capclars * 2 : 16;
        con_clar **l = realloc(c->clars, cap * sizeof *l);
        if (l) {
            c->clars = l;
            c->capclars = cap;
        }
    }
    if (!k || c->nclars == c->capclars) {
        free(k);
        codecourt__v1__clarification_posted__free_unpacked(e, NULL);
        return;
    }
    k->def = e->clarification;
    e->clarification = NULL;
    codecourt__v1__clarification_posted__free_unpacked(e, NULL);
    k->seq = k->changed = ev->seq;
    c->clars[c->nclars++] = k;
    con_feed_add(c, ev->seq, CON_F_CLAR, 0, k);
    mark(m, CON_D_CLAR, k);
    if (m->live) {
        con_push_clar(m, c, k);
        k->pushed = true;
    }
}

static void apply_created(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__SubmissionCreated *e =
        codecourt__v1__submission_created__unpack(NULL, ev->len, ev->data);
    if (!e || !e->contest[0]) {
        if (e)
            codecourt__v1__submission_created__free_unpacked(e, NULL);
        return; /* not a contest's */
    }
    con_contest *c = cc_map_get(&m->contests, e->contest);
    con_sub *s = cc_map_get(&m->subs, e->submission_id);
    if (!c || strlen(e->submission_id) >= sizeof s->id || (s && s->created_seq)) {
        codecourt__v1__submission_created__free_unpacked(e, NULL);
        return;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || cc_map_put(&m->subs, e->submission_id, s, NULL) != CC_OK) {
            free(s);
            codecourt__v1__submission_created__free_unpacked(e, NULL);
            return;
        }
    }
    snprintf(s->id, sizeof s->id, "%s", e->submission_id);
    s->contest = c;
    snprintf(s->team, sizeof s->team, "%s", e->team);
    snprintf(s->user, sizeof s->user, "%s", e->user_id);
    snprintf(s->problem, sizeof s->problem, "%s", e->problem);
    snprintf(s->language, sizeof s->language, "%s", e->language);
    s->created_ms = e->created_at_ms;
    s->created_seq = s->changed = ev->seq;
    codecourt__v1__submission_created__free_unpacked(e, NULL);
    lang_seen(c, s->language, ev->seq);
    con_feed_add(c, ev->seq, CON_F_SUBMISSION, 0, s);
    if (s->attempt)
        con_feed_add(c, judgement_token(s), CON_F_JUDGEMENT, 0, s);
    mark(m, CON_D_SUB, s);
    place(c, s);
    con_team *t = cc_map_get(&c->teams, s->team);
    if (t)
        con_recompute_team(c, t, s->problem);
}

static void apply_judged(con_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__JudgeResult *r = codecourt__v1__judge_result__unpack(NULL, ev->len, ev->data);
    if (!r || !r->contest[0] || strlen(r->submission_id) >= sizeof ((con_sub *)0)->id) {
        if (r)
            codecourt__v1__judge_result__free_unpacked(r, NULL);
        return;
    }
    con_contest *c = cc_map_get(&m->contests, r->contest);
    con_sub *s = cc_map_get(&m->subs, r->submission_id);
    /* An older attempt than the one kept, or a second report of it: the
     * first stored wins, as in cc-submission. */
    if (!c || (s && r->attempt <= s->attempt)) {
        codecourt__v1__judge_result__free_unpacked(r, NULL);
        return;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || cc_map_put(&m->subs, r->submission_id, s, NULL) != CC_OK) {
            free(s);
            codecourt__v1__judge_result__free_unpacked(r, NULL);
            return;
        }
        snprintf(s->id, sizeof s->id, "%s", r->submission_id);
        s->contest = c;
        snprintf(s->user, sizeof s->user, "%s", r->user_id);
        snprintf(s->problem, sizeof s->problem, "%s", r->problem);
    }
    Codecourt__V1__GroupScore **g = calloc(r->n_groups ? r->n_groups : 1, sizeof *g);
    size_t ng = 0;
    for (size_t i = 0; g && i < r->n_groups; i++) {
        Codecourt__V1__GroupScore *x = malloc(sizeof *x);
        char *name = strdup(r->groups[i]->name ? r->groups[i]->name : "");
        if (!x || !name) {
            free(x);
            free(name);
            break;
        }
        codecourt__v1__group_score__init(x);
        x->name = name;
        x->score = r->groups[i]->score;
        x->max_score = r->groups[i]->max_score;
        g[ng++] = x;
    }
    for (size_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i]->name);
        free(s->groups[i]);
    }
    free(s->groups);
    s->groups = g;
    s->ngroups = g ? ng : 0;
    s->attempt = r->attempt ? r->attempt : 1;
    snprintf(s->verdict, sizeof s->verdict, "%s", r->verdict[0] ? r->verdict : "IE");
    s->score = r->score;
    s->max_score = r->max_score;
    s->judged_seq = s->changed = ev->seq;
    s->judged_ms = ev->time_ms;
    codecourt__v1__judge_result__free_unpacked(r, NULL);
    mark(m, CON_D_SUB, s);
    if (!s->created_seq)
        return; /* placed, and its judgement listed, when its submission comes */
    con_feed_add(c, judgement_token(s), CON_F_JUDGEMENT, 0, s);
    con_team *t = cc_map_get(&c->teams, s->team);
    if (t)
        con_recompute_team(c, t, s->problem);
}

static void apply(const cc_projection_event *ev, void *ud)
{
    con_model *m = ud;
    m->live = m->st->rm.proj && !cc_projection_rebuilding(m->st->rm.proj);
    const char *s = ev->subject;
    if (!strcmp(s, "cc.evt.submission.judged"))
        apply_judged(m, ev);
    else if (!strcmp(s, "cc.evt.submission.created"))
        apply_created(m, ev);
    else if (!strcmp(s, CON_EVT_UPDATED))
        apply_contest(m, ev);
    else if (!strcmp(s, CON_EVT_TEAM))
        apply_team(m, ev);
    else if (!strcmp(s, CON_EVT_STATE))
        apply_state(m, ev);
    else if (!strcmp(s, CON_EVT_CLAR))
        apply_clar(m, ev);
}

static void tick(bool caught_up, void *ud)
{
    (void)caught_up;
    con_model *m = ud;
    con_state *st = m->st;
    if (st->rm.proj && !cc_projection_rebuilding(st->rm.proj) && !st->rm.rebuild) {
        con_push_touched(m, cc_projection_applied(st->rm.proj));
        return;
    }
    /* A replay pushes nothing: nobody waits for what it finds. */
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->contests, &i, &k, &v)) {
        con_contest *c = v;
        if (!c->touched)
            continue;
        c->touched = false;
        for (size_t n = 0; n < c->nteams; n++)
            c->team_list[n]->touched = false;
    }
}

/* ---- store ---------------------------------------------------------------------- */

static char *groups_json(const con_sub *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->ngroups; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:f}", "name", s->groups[i]->name,
                                           "score", s->groups[i]->score, "maxScore",
                                           s->groups[i]->max_score));
    char *t = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return t;
}

enum { SUB_COLS = 15 };

static cc_status flush_subs(cc_pg_tx *tx, con_sub **v, size_t n)
{
    if (n == 0)
        return CC_OK;
    cc_buf a[SUB_COLS];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        const con_sub *s = v[i];
        char num[64];
        cc_pg_array_add(&a[0], s->id);
        cc_pg_array_add(&a[1], s->contest->def->id);
        cc_pg_array_add(&a[2], s->team);
        cc_pg_array_add(&a[3], s->user);
        cc_pg_array_add(&a[4], s->problem);
        cc_pg_array_add(&a[5], s->language);
        cc_pg_array_num(&a[6], s->created_ms);
        cc_pg_array_num(&a[7], (int64_t)s->created_seq);
        cc_pg_array_num(&a[8], s->attempt);
        cc_pg_array_add(&a[9], s->verdict);
        snprintf(num, sizeof num, "%.17g", s->score);
        cc_pg_array_add(&a[10], num);
        snprintf(num, sizeof num, "%.17g", s->max_score);
        cc_pg_array_add(&a[11], num);
        char *g = groups_json(s);
        cc_pg_array_add(&a[12], g ? g : "[]");
        free(g);
        cc_pg_array_num(&a[13], (int64_t)s->judged_seq);
        cc_pg_array_num(&a[14], s->judged_ms);
    }
    cc_pg_param p[SUB_COLS];
    bool ok = true;
    for (int i = 0; i < SUB_COLS; i++) {
        const char *t = cc_pg_array_end(&a[i]);
        ok = ok && t;
        p[i] = CC_PG_TEXT(t);
    }
    cc_status s = ok ? cc_pg_tx_query(
                           tx,
                           "INSERT INTO proj_subs (id, contest, team, user_id, problem, language, "
                           "created_ms, created_seq, attempt, verdict, score, max_score, groups, "
                           "judged_seq, judged_ms) SELECT * FROM unnest($1::text[], $2::text[], "
                           "$3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], "
                           "$8::bigint[], $9::int[], $10::text[], $11::float8[], $12::float8[], "
                           "$13::jsonb[], $14::bigint[], $15::bigint[]) "
                           "ON CONFLICT (id) DO UPDATE SET contest = EXCLUDED.contest, "
                           "team = EXCLUDED.team, user_id = EXCLUDED.user_id, "
                           "problem = EXCLUDED.problem, language = EXCLUDED.language, "
                           "created_ms = EXCLUDED.created_ms, created_seq = EXCLUDED.created_seq, "
                           "attempt = EXCLUDED.attempt, verdict = EXCLUDED.verdict, "
                           "score = EXCLUDED.score, max_score = EXCLUDED.max_score, "
                           "groups = EXCLUDED.groups, judged_seq = EXCLUDED.judged_seq, "
                           "judged_ms = EXCLUDED.judged_ms",
                           p, SUB_COLS, NULL, NULL)
                     : cc_err_set(CC_NOMEM, "out of memory");
    for (int i = 0; i < SUB_COLS; i++)
        cc_buf_free(&a[i]);
    return s;
}

static cc_status flush_contest(cc_pg_tx *tx, const con_contest *c)
{
    size_t len = protobuf_c_message_get_packed_size(&c->def->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return cc_err_set(CC_NOMEM, "out of memory");
    protobuf_c_message_pack(&c->def->base, buf);
    cc_buf ps = CC_BUF_INIT;
    for (size_t i = 0; i < c->def->n_problems; i++)
        cc_pg_array_num(&ps, (int64_t)c->problem_seq[i]);
    char n[7][32];
    snprintf(n[0], 32, "%" PRIu64, c->seq);
    snprintf(n[1], 32, "%" PRIu64, c->first_seq);
    snprintf(n[2], 32, "%" PRId64, c->started_ms);
    snprintf(n[3], 32, "%" PRId64, c->frozen_ms);
    snprintf(n[4], 32, "%" PRId64, c->ended_ms);
    snprintf(n[5], 32, "%" PRIu64, c->state_seq);
    snprintf(n[6], 32, "%" PRIu64, c->unfrozen_seq);
    const char *pst = cc_pg_array_end(&ps);
    cc_pg_param p[] = {CC_PG_TEXT(c->def->id), CC_PG_BYTES(buf, len), CC_PG_TEXT(n[0]),
                       CC_PG_TEXT(n[1]),       CC_PG_TEXT(pst ? pst : "{}"),
                       CC_PG_TEXT(n[2]),       CC_PG_TEXT(n[3]),
                       CC_PG_TEXT(n[4]),       CC_PG_TEXT(n[5]),
                       CC_PG_TEXT(n[6])};
    cc_status s = pst ? cc_pg_tx_query(tx,
                                       "INSERT INTO proj_contests (id, def, seq, first_seq, "
                                       "problem_seq, started_ms, frozen_ms, ended_ms, state_seq, "
                                       "unfrozen_seq) VALUES ($1, $2::bytea, $3, $4, $5::bigint[], "
                                       "$6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET "
                                       "def = EXCLUDED.def, seq = EXCLUDED.seq, "
                                       "first_seq = EXCLUDED.first_seq, "
                                       "problem_seq = EXCLUDED.problem_seq, "
                                       "started_ms = EXCLUDED.started_ms, "
                                       "frozen_ms = EXCLUDED.frozen_ms, "
                                       "ended_ms = EXCLUDED.ended_ms, "
                                       "state_seq = EXCLUDED.state_seq, "
                                       "unfrozen_seq = EXCLUDED.unfrozen_seq",
                                       p, 10, NULL, NULL)
                      : cc_err_set(CC_NOMEM, "out of memory");
    cc_buf_free(&ps);
    free(buf);
    return s;
}

static cc_status flush_team(cc_pg_tx *tx, const con_contest *c, const con_team *t)
{
    size_t len = protobuf_c_message_get_packed_size(&t->def->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return cc_err_set(CC_NOMEM, "out of memory");
    protobuf_c_message_pack(&t->def->base, buf);
    char seq[32];
    snprintf(seq, sizeof seq, "%" PRIu64, t->seq);
    cc_pg_param p[] = {CC_PG_TEXT(c->def->id), CC_PG_TEXT(t->def->id), CC_PG_BYTES(buf, len),
                       CC_PG_TEXT(seq),        CC_PG_TEXT(t->deleted ? "t" : "f"),
                       CC_PG_TEXT(t->org_id)};
    cc_status s = cc_pg_tx_query(tx,
                                 "INSERT INTO proj_teams (contest, id, def, seq, deleted, org_id) "
                                 "VALUES ($1, $2, $3::bytea, $4, $5::boolean, $6) "
                                 "ON CONFLICT (contest, id) DO UPDATE SET def = EXCLUDED.def, "
                                 "seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, "
                                 "org_id = EXCLUDED.org_id",
                                 p, 6, NULL, NULL);
    free(buf);
    return s;
}

static cc_status flush_clar(cc_pg_tx *tx, const con_clar *k)
{
    size_t len = protobuf_c_message_get_packed_size(&k->def->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return cc_err_set(CC_NOMEM, "out of memory");
    protobuf_c_message_pack(&k->def->base, buf);
    char seq[32];
    snprintf(seq, sizeof seq, "%" PRIu64, k->seq);
    cc_pg_param p[] = {CC_PG_TEXT(k->def->contest), CC_PG_TEXT(k->def->id),
                       CC_PG_BYTES(buf, len), CC_PG_TEXT(seq)};
    cc_status s = cc_pg_tx_query(tx,
                                 "INSERT INTO proj_clars (contest, id, def, seq) VALUES ($1, $2, "
                                 "$3::bytea, $4) ON CONFLICT (contest, id) DO UPDATE SET "
                                 "def = EXCLUDED.def, seq = EXCLUDED.seq",
                                 p, 4, NULL, NULL);
    free(buf);
    return s;
}

static cc_status flush_org(cc_pg_tx *tx, const con_org *o)
{
    char seq[32];
    snprintf(seq, sizeof seq, "%" PRIu64, o->seq);
    cc_pg_param p[] = {CC_PG_TEXT(o->contest->def->id), CC_PG_TEXT(o->id), CC_PG_TEXT(o->name),
                       CC_PG_TEXT(seq)};
    return cc_pg_tx_query(tx,
                          "INSERT INTO proj_orgs (contest, id, name, seq) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (contest, id) DO UPDATE SET name = EXCLUDED.name, "
                          "seq = EXCLUDED.seq",
                          p, 4, NULL, NULL);
}

/* Writes each thing changed after from once (the dirty list may name it
 * several times). */
static cc_status flush(cc_pg_tx *tx, uint64_t from, uint64_t upto, void *ud)
{
    (void)upto;
    con_model *m = ud;
    uint32_t fm = ++flush_mark;
    con_sub **subs = malloc((m->ndirty ? m->ndirty : 1) * sizeof *subs);
    if (!subs)
        return cc_err_set(CC_NOMEM, "out of memory");
    size_t nsubs = 0;
    cc_status s = CC_OK;
    for (size_t i = 0; i < m->ndirty && s == CC_OK; i++) {
        switch (m->dirty_kind[i]) {
        case CON_D_CONTEST: {
            con_contest *c = m->dirty[i];
            if (c->changed > from && c->fmark != fm) {
                c->fmark = fm;
                s = flush_contest(tx, c);
            }
            break;
        }
        case CON_D_TEAM: {
            con_team *t = m->dirty[i];
            if (t->changed > from && t->fmark != fm) {
                t->fmark = fm;
                s = flush_team(tx, t->contest, t);
            }
            break;
        }
        case CON_D_SUB: {
            con_sub *sb = m->dirty[i];
            if (sb->changed > from && sb->fmark != fm) {
                sb->fmark = fm;
                subs[nsubs++] = sb;
            }
            break;
        }
        case CON_D_CLAR: {
            con_clar *k = m->dirty[i];
            if (k->changed > from && k->fmark != fm) {
                k->fmark = fm;
                s = flush_clar(tx, k);
            }
            break;
        }
        case CON_D_ORG: {
            con_org *o = m->dirty[i];
            if (o->changed > from && o->fmark != fm) {
                o->fmark = fm;
                s = flush_org(tx, o);
            }
            break;
        }
        }
    }
    /* One statement per thousands of submissions: a replay writes each
     * row once per batch. */
    for (size_t off = 0; s == CC_OK && off < nsubs; off += 20000)
        s = flush_subs(tx, subs + off, nsubs - off < 20000 ? nsubs - off : 20000);
    free(subs);
    return s;
}

static uint64_t changed_of(const con_model *m, size_t i)
{
    switch (m->dirty_kind[i]) {
    case CON_D_CONTEST:
        return ((con_contest *)m->dirty[i])->changed;
    case CON_D_TEAM:
        return ((con_team *)m->dirty[i])->changed;
    case CON_D_SUB:
        return ((con_sub *)m->dirty[i])->changed;
    case CON_D_CLAR:
        return ((con_clar *)m->dirty[i])->changed;
    default:
        return ((con_org *)m->dirty[i])->changed;
    }
}

static void flushed(cc_status s, uint64_t upto, void *ud)
{
    con_model *m = ud;
    if (s != CC_OK)
        return; /* written again by the next flush */
    size_t k = 0;
    for (size_t i = 0; i < m->ndirty; i++)
        if (changed_of(m, i) > upto) {
            m->dirty[k] = m->dirty[i];
            m->dirty_kind[k++] = m->dirty_kind[i];
        }
    m->ndirty = k;
}

/* ---- load ----------------------------------------------------------------------- */

static PGresult *query(PGconn *conn, const char *sql)
{
    PGresult *r = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cc_err_set(CC_DB, "load: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static uint64_t u64(PGresult *r, int row, int col)
{
    return strtoull(PQgetvalue(r, row, col), NULL, 10);
}

static int64_t i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void *unpack_bytea(PGresult *r, int row, int col, const ProtobufCMessageDescriptor *d)
{
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!b)
        return NULL;
    void *msg = protobuf_c_message_unpack(d, NULL, n, b);
    PQfreemem(b);
    return msg;
}

static cc_status load_contests(con_model *m, PGconn *conn)
{
    PGresult *r = query(conn, "SELECT id, def, seq, first_seq, array_to_json(problem_seq), "
                              "started_ms, frozen_ms, ended_ms, state_seq, unfrozen_seq "
                              "FROM proj_contests");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        Codecourt__V1__Contest *d = unpack_bytea(r, i, 1, &codecourt__v1__contest__descriptor);
        con_contest *c = d ? contest_new(m, PQgetvalue(r, i, 0)) : NULL;
        if (!c) {
            if (d)
                protobuf_c_message_free_unpacked(&d->base, NULL);
            PQclear(r);
            return cc_err_set(CC_NOMEM, "load: contest %s", PQgetvalue(r, i, 0));
        }
        c->def = d;
        c->seq = u64(r, i, 2);
        c->first_seq = u64(r, i, 3);
        c->problem_seq = calloc(d->n_problems ? d->n_problems : 1, sizeof *c->problem_seq);
        json_t *ps = json_loads(PQgetvalue(r, i, 4), 0, NULL);
        for (size_t k = 0; c->problem_seq && k < d->n_problems; k++)
            c->problem_seq[k] = (uint64_t)json_integer_value(json_array_get(ps, k));
        json_decref(ps);
        c->started_ms = i64(r, i, 5);
        c->frozen_ms = i64(r, i, 6);
        c->ended_ms = i64(r, i, 7);
        c->state_seq = u64(r, i, 8);
        c->unfrozen_seq = u64(r, i, 9);
        c->changed = c->seq;
    }
    PQclear(r);
    return CC_OK;
}

static cc_status load_teams(con_model *m, PGconn *conn)
{
    PGresult *r = query(conn, "SELECT contest, id, def, seq, deleted, org_id FROM proj_teams "
                              "ORDER BY contest, seq, id");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        con_contest *c = cc_map_get(&m->contests, PQgetvalue(r, i, 0));
        Codecourt__V1__Team *d = unpack_bytea(r, i, 2, &codecourt__v1__team__descriptor);
        con_team *t = c && d ? team_add(c, PQgetvalue(r, i, 1)) : NULL;
        if (!t) {
            if (d)
                protobuf_c_message_free_unpacked(&d->base, NULL);
            continue;
        }
        t->def = d;
        t->seq = t->changed = u64(r, i, 3);
        t->deleted = PQgetvalue(r, i, 4)[0] == 't';
        snprintf(t->org_id, sizeof t->org_id, "%s", PQgetvalue(r, i, 5));
    }
    PQclear(r);
    r = query(conn, "SELECT contest, id, name, seq FROM proj_orgs");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        con_contest *c = cc_map_get(&m->contests, PQgetvalue(r, i, 0));
        con_org *o = c ? calloc(1, sizeof *o) : NULL;
        if (!o || cc_map_put(&c->orgs, PQgetvalue(r, i, 1), o, NULL) != CC_OK) {
            free(o);
            continue;
        }
        snprintf(o->id, sizeof o->id, "%s", PQgetvalue(r, i, 1));
        snprintf(o->name, sizeof o->name, "%s", PQgetvalue(r, i, 2));
        o->seq = o->changed = u64(r, i, 3);
        o->contest = c;
    }
    PQclear(r);
    return CC_OK;
}

static void load_groups(con_sub *s, const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    s->groups = calloc(n ? n : 1, sizeof *s->groups);
    for (size_t i = 0; s->groups && i < n; i++) {
        json_t *o = json_array_get(a, i);
        Codecourt__V1__GroupScore *g = malloc(sizeof *g);
        char *name = strdup(json_string_value(json_object_get(o, "name"))
                                ? json_string_value(json_object_get(o, "name"))
                                : "");
        if (!g || !name) {
            free(g);
            free(name);
            break;
        }
        codecourt__v1__group_score__init(g);
        g->name = name;
        g->score = json_number_value(json_object_get(o, "score"));
        g->max_score = json_number_value(json_object_get(o, "maxScore"));
        s->groups[s->ngroups++] = g;
    }
    json_decref(a);
}

static cc_status load_subs(con_model *m, PGconn *conn)
{
    PGresult *r = query(conn, "SELECT id, contest, team, user_id, problem, language, created_ms, "
                              "created_seq, attempt, verdict, score, max_score, groups::text, "
                              "judged_seq, judged_ms FROM proj_subs");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        con_contest *c = cc_map_get(&m->contests, PQgetvalue(r, i, 1));
        con_sub *s = c ? calloc(1, sizeof *s) : NULL;
        if (!s || cc_map_put(&m->subs, PQgetvalue(r, i, 0), s, NULL) != CC_OK) {
            free(s);
            continue;
        }
        snprintf(s->id, sizeof s->id, "%s", PQgetvalue(r, i, 0));
        s->contest = c;
        snprintf(s->team, sizeof s->team, "%s", PQgetvalue(r, i, 2));
        snprintf(s->user, sizeof s->user, "%s", PQgetvalue(r, i, 3));
        snprintf(s->problem, sizeof s->problem, "%s", PQgetvalue(r, i, 4));
        snprintf(s->language, sizeof s->language, "%s", PQgetvalue(r, i, 5));
        s->created_ms = i64(r, i, 6);
        s->created_seq = u64(r, i, 7);
        s->attempt = (uint32_t)u64(r, i, 8);
        snprintf(s->verdict, sizeof s->verdict, "%s", PQgetvalue(r, i, 9));
        s->score = strtod(PQgetvalue(r, i, 10), NULL);
        s->max_score = strtod(PQgetvalue(r, i, 11), NULL);
        load_groups(s, PQgetvalue(r, i, 12));
        s->judged_seq = u64(r, i, 13);
        s->judged_ms = i64(r, i, 14);
        s->changed = s->created_seq > s->judged_seq ? s->created_seq : s->judged_seq;
        if (s->created_seq)
            place(c, s);
    }
    PQclear(r);
    return CC_OK;
}

static cc_status load_clars(con_model *m, PGconn *conn)
{
    PGresult *r = query(conn, "SELECT contest, def, seq FROM proj_clars ORDER BY seq, id");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        con_contest *c = cc_map_get(&m->contests, PQgetvalue(r, i, 0));
        Codecourt__V1__Clarification *d =
            c ? unpack_bytea(r, i, 1, &codecourt__v1__clarification__descriptor) : NULL;
        con_clar *k = d ? calloc(1, sizeof *k) : NULL;
        if (k && c->nclars == c->capclars) {
            size_t cap = c->capclars ? c->capclars * 2 : 16;
            con_clar **l = realloc(c->clars, cap * sizeof *l);
            if (l) {
                c->clars = l;
                c->capclars = cap;
            }
        }
        if (!k || c->nclars == c->capclars) {
            free(k);
            if (d)
                protobuf_c_message_free_unpacked(&d->base, NULL);
            continue;
        }
        k->def = d;
        k->seq = k->changed = u64(r, i, 2);
        k->pushed = true;
        c->clars[c->nclars++] = k;
    }
    PQclear(r);
    return CC_OK;
}

/* The feed of c from what is stored: every object at its token. */
static void feed_again(con_model *m, con_contest *c)
{
    c->nfeed = 0;
    con_feed_add(c, c->first_seq, CON_F_JTYPES, 0, NULL);
    con_feed_add(c, c->seq, CON_F_CONTEST, 0, NULL);
    if (c->state_seq)
        con_feed_add(c, c->state_seq, CON_F_STATE, 0, NULL);
    for (size_t i = 0; i < c->def->n_problems; i++)
        con_feed_add(c, c->problem_seq[i], CON_F_PROBLEM, (uint32_t)i, NULL);
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&c->orgs, &i, &k, &v))
        con_feed_add(c, ((con_org *)v)->seq, CON_F_ORG, 0, v);
    for (size_t n = 0; n < c->nteams; n++)
        con_feed_add(c, c->team_list[n]->seq, CON_F_TEAM, 0, c->team_list[n]);
    for (size_t n = 0; n < c->nclars; n++)
        con_feed_add(c, c->clars[n]->seq, CON_F_CLAR, 0, c->clars[n]);
    i = 0;
    while (cc_map_next(&m->subs, &i, &k, &v)) {
        con_sub *s = v;
        if (s->contest != c || !s->created_seq)
            continue;
        con_lang *l = cc_map_get(&c->langs, s->language);
        if (!l && s->language[0]) {
            l = calloc(1, sizeof *l);
            if (l && cc_map_put(&c->langs, s->language, l, NULL) == CC_OK) {
                snprintf(l->id, sizeof l->id, "%s", s->language);
                l->seq = s->created_seq;
            } else {
                free(l);
                l = NULL;
            }
        }
        if (l && s->created_seq < l->seq)
            l->seq = s->created_seq;
        con_feed_add(c, s->created_seq, CON_F_SUBMISSION, 0, s);
        if (s->attempt) {
            con_feed_add(c, judgement_token(s), CON_F_JUDGEMENT, 0, s);
            int64_t cm = con_contest_ms(c, s->created_ms);
            const Codecourt__V1__Contest *d = c->def;
            if (c->unfrozen_seq && d->freeze_s > 0 &&
                cm >= (d->duration_s - d->freeze_s) * 1000 && cm < d->duration_s * 1000 &&
                judgement_token(s) < c->unfrozen_seq)
                con_feed_add(c, c->unfrozen_seq, CON_F_REVEAL, 0, s);
        }
    }
    i = 0;
    while (cc_map_next(&c->langs, &i, &k, &v))
        con_feed_add(c, ((con_lang *)v)->seq, CON_F_LANGUAGE, 0, v);
    con_feed_sort(c);
}

static cc_status load(PGconn *conn, void *ud)
{
    con_model *m = ud;
    cc_status s = load_contests(m, conn);
    IFOK(s, load_teams(m, conn));
    IFOK(s, load_subs(m, conn));
    IFOK(s, load_clars(m, conn));
    if (s != CC_OK)
        return s;
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->contests, &i, &k, &v)) {
        con_recompute(v);
        feed_again(m, v);
        ((con_contest *)v)->touched = false;
        for (size_t n = 0; n < ((con_contest *)v)->nteams; n++)
            ((con_contest *)v)->team_list[n]->touched = false;
    }
    cc_log(CC_LOG_INFO, NULL, "contest read model loaded", "{s:i, s:i}", "contests",
           (int)m->contests.len, "submissions", (int)m->subs.len);
    return CC_OK;
}

static void reset(void *ud)
{
    model_clear(ud);
}

static const char *const tables[] = {"proj_contests", "proj_teams", "proj_orgs",
                                     "proj_subs",     "proj_clars", NULL};

const cc_projection_def *con_projection_def(con_model *m)
{
    static cc_projection_def def;
    def = (cc_projection_def){.name = CON_PROJECTION,
                              .version = CON_PROJECTION_VERSION,
                              .tables = tables,
                              .load = load,
                              .reset = reset,
                              .apply = apply,
                              .tick = tick,
                              .flush = flush,
                              .flushed = flushed,
                              .ud = m};
    return &def;
}
