/* The statistics' read model: CC_EVENTS applied to users, problems and
 * judged submissions in memory, stored in stats_users, stats_problems and
 * stats_subs by the projection runtime, loaded from them at start.
 *
 * Apply, by subject:
 *   cc.evt.user.registered        a user
 *   cc.evt.problem.*              a problem's title, tags, difficulty and
 *                                 visibility as the event says they are now;
 *                                 the first event that shows it public
 *                                 "publishes" it: its solvers of the same
 *                                 tags get a suggestion (not in a replay)
 *   cc.evt.submission.judged      a submission's result, kept when its attempt
 *                                 is newer than the one kept (a rejudge)
 * What users did with problems, problem counts and first solvers are
 * derived from the submissions, here and at load alike. Suggestions are
 * written to the outbox in the transaction that stores the event that
 * made them (Nats-Msg-Id suggest-<problem>-<user>). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/outbox.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/user.pb-c.h"
#include "stats.h"

static uint32_t flush_mark = 1;

static void mark(st_model *m, st_dirty_kind kind, void *obj)
{
    if (m->ndirty == m->capdirty) {
        size_t cap = m->capdirty ? m->capdirty * 2 : 256;
        void **d = realloc(m->dirty, cap * sizeof *d);
        if (d)
            m->dirty = d;
        uint8_t *k = d ? realloc(m->dirty_kind, cap) : NULL;
        if (!d || !k)
            return;
        m->dirty_kind = k;
        m->capdirty = cap;
    }
    m->dirty[m->ndirty] = obj;
    m->dirty_kind[m->ndirty++] = (uint8_t)kind;
}

st_user *st_user_get(st_model *m, const char *id)
{
    return cc_map_get(&m->users, id);
}

st_problem *st_problem_get(st_model *m, const char *slug)
{
    return cc_map_get(&m->problems, slug);
}

static st_user *user_make(st_model *m, const char *id)
{
    st_user *u = cc_map_get(&m->users, id);
    if (u || strlen(id) >= sizeof u->id || !id[0])
        return u;
    u = calloc(1, sizeof *u);
    if (!u || cc_map_put(&m->users, id, u, NULL) != CC_OK) {
        free(u);
        return NULL;
    }
    snprintf(u->id, sizeof u->id, "%s", id);
    return u;
}

static st_problem *problem_make(st_model *m, const char *slug)
{
    st_problem *p = cc_map_get(&m->problems, slug);
    if (p || strlen(slug) >= sizeof p->slug || !slug[0])
        return p;
    p = calloc(1, sizeof *p);
    if (!p || cc_map_put(&m->problems, slug, p, NULL) != CC_OK) {
        free(p);
        return NULL;
    }
    snprintf(p->slug, sizeof p->slug, "%s", slug);
    return p;
}

void st_progress_of(const st_tries *t, st_progress *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; t && i < t->n; i++) {
        const st_sub *s = t->v[i];
        out->attempts++;
        if (!strcmp(s->verdict, "AC")) {
            out->accepted++;
            if (!out->solved || s->judged_ms < out->first_ac_ms)
                out->first_ac_ms = s->judged_ms;
            out->solved = true;
        }
    }
}

const st_user *st_first_solver(const st_problem *p, int64_t *when_ms)
{
    const st_user *best = NULL;
    int64_t best_ms = 0;
    for (size_t i = 0; i < p->nsolvers; i++) {
        st_progress g;
        st_progress_of(cc_map_get(&p->solvers[i]->problems, p->slug), &g);
        if (g.solved && (!best || g.first_ac_ms < best_ms ||
                         (g.first_ac_ms == best_ms && strcmp(p->solvers[i]->id, best->id) < 0))) {
            best = p->solvers[i];
            best_ms = g.first_ac_ms;
        }
    }
    if (when_ms)
        *when_ms = best_ms;
    return best;
}

/* Adds (sign 1) or takes away (-1) what user u's tries contribute to p. */
static void contribute(st_problem *p, st_user *u, const st_tries *t, int sign)
{
    st_progress g;
    st_progress_of(t, &g);
    if (g.attempts > 0)
        p->attempters += sign;
    p->submissions += sign * g.attempts;
    p->accepted += sign * g.accepted;
    if (!g.solved)
        return;
    if (sign > 0) {
        if (p->nsolvers == p->capsolvers) {
            size_t cap = p->capsolvers ? p->capsolvers * 2 : 8;
            st_user **v = realloc(p->solvers, cap * sizeof *v);
            if (!v)
                return;
            p->solvers = v;
            p->capsolvers = cap;
        }
        p->solvers[p->nsolvers++] = u;
    } else {
        for (size_t i = 0; i < p->nsolvers; i++)
            if (p->solvers[i] == u) {
                p->solvers[i] = p->solvers[--p->nsolvers];
                break;
            }
    }
}

static st_tries *tries_of(st_user *u, const char *slug, bool make)
{
    st_tries *t = cc_map_get(&u->problems, slug);
    if (t || !make)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || cc_map_put(&u->problems, slug, t, NULL) != CC_OK) {
        free(t);
        return NULL;
    }
    return t;
}

/* ---- apply --------------------------------------------------------------------- */

static void apply_user(st_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__UserRegistered *e =
        codecourt__v1__user_registered__unpack(NULL, ev->len, ev->data);
    st_user *u = e ? user_make(m, e->user_id) : NULL;
    if (u && !u->registered_ms) {
        u->registered_ms = e->created_at ? e->created_at * 1000 : ev->time_ms;
        u->seq = u->changed = ev->seq;
        mark(m, ST_D_USER, u);
    }
    if (e)
        codecourt__v1__user_registered__free_unpacked(e, NULL);
}

static void add_suggestion(st_model *m, st_problem *p, st_user *u, const char *tag, int n,
                           uint64_t seq)
{
    if (m->nsugg == m->capsugg) {
        size_t cap = m->capsugg ? m->capsugg * 2 : 64;
        st_suggestion *v = realloc(m->sugg, cap * sizeof *v);
        if (!v)
            return;
        m->sugg = v;
        m->capsugg = cap;
    }
    m->sugg[m->nsugg++] = (st_suggestion){p, u, tag, n, seq};
}

/* A problem just published: each user who solved at least the setting's
 * number of public problems of one of its tags (not its owner, not a
 * solver of it already) is told of it, once, for the tag they solve most. */
static void suggest(st_model *m, st_problem *p, uint64_t seq)
{
    int min = (int)(m->st->cfg->suggest_min_solved > 0 ? m->st->cfg->suggest_min_solved : 1);
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->users, &i, &k, &v)) {
        st_user *u = v;
        if (!strcmp(u->id, p->owner) || cc_map_get(&u->problems, p->slug))
            continue;
        const char *best = NULL;
        int best_n = 0;
        for (size_t t = 0; t < p->ntags; t++) {
            int n = 0;
            size_t j = 0;
            const char *slug;
            void *tv;
            while (cc_map_next(&u->problems, &j, &slug, &tv)) {
                st_problem *q = cc_map_get(&m->problems, slug);
                st_progress g;
                st_progress_of(tv, &g);
                if (!q || !g.solved || !q->public_ || q->deleted)
                    continue;
                for (size_t x = 0; x < q->ntags; x++)
                    if (!strcmp(q->tags[x], p->tags[t]))
                        n++;
            }
            if (n > best_n) {
                best_n = n;
                best = p->tags[t];
            }
        }
        if (best && best_n >= min)
            add_suggestion(m, p, u, best, best_n, seq);
    }
}

static void apply_problem(st_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__ProblemEvent *e = codecourt__v1__problem_event__unpack(NULL, ev->len, ev->data);
    st_problem *p = e ? problem_make(m, e->slug) : NULL;
    if (!p) {
        if (e)
            codecourt__v1__problem_event__free_unpacked(e, NULL);
        return;
    }
    bool deleted = e->deleted || !strcmp(ev->subject, "cc.evt.problem.deleted");
    /* Events written before they carried the fields leave them as they
     * were. */
    if (e->title && e->title[0]) {
        free(p->title);
        p->title = strdup(e->title);
        for (size_t i = 0; i < p->ntags; i++)
            free(p->tags[i]);
        free(p->tags);
        p->tags = calloc(e->n_tags ? e->n_tags : 1, sizeof *p->tags);
        p->ntags = 0;
        for (size_t i = 0; p->tags && i < e->n_tags; i++)
            if ((p->tags[p->ntags] = strdup(e->tags[i])))
                p->ntags++;
        p->difficulty = e->difficulty;
        p->public_ = e->visibility == CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC;
    }
    p->deleted = deleted;
    snprintf(p->owner, sizeof p->owner, "%s", e->owner_id ? e->owner_id : "");
    p->seq = p->changed = ev->seq;
    mark(m, ST_D_PROBLEM, p);
    if (p->public_ && !p->deleted && !p->published_seq) {
        p->published_seq = ev->seq;
        /* A replay does not tell anyone again. */
        if (m->st->rm.proj && !cc_projection_rebuilding(m->st->rm.proj) && !m->st->rm.rebuild)
            suggest(m, p, ev->seq);
    }
    codecourt__v1__problem_event__free_unpacked(e, NULL);
}

static void apply_judged(st_model *m, const cc_projection_event *ev)
{
    Codecourt__V1__JudgeResult *r = codecourt__v1__judge_result__unpack(NULL, ev->len, ev->data);
    if (!r || !r->submission_id[0] || strlen(r->submission_id) >= sizeof ((st_sub *)0)->id) {
        if (r)
            codecourt__v1__judge_result__free_unpacked(r, NULL);
        return;
    }
    st_sub *s = cc_map_get(&m->subs, r->submission_id);
    if (s && r->attempt <= s->attempt) {
        codecourt__v1__judge_result__free_unpacked(r, NULL);
        return; /* an older attempt, or this one again: the first kept wins */
    }
    st_user *u = s ? s->user : user_make(m, r->user_id);
    st_problem *p = s ? s->problem : problem_make(m, r->problem);
    st_tries *t = u && p ? tries_of(u, p->slug, true) : NULL;
    if (!t) {
        codecourt__v1__judge_result__free_unpacked(r, NULL);
        return;
    }
    contribute(p, u, t, -1);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || cc_map_put(&m->subs, r->submission_id, s, NULL) != CC_OK) {
            free(s);
            contribute(p, u, t, 1);
            codecourt__v1__judge_result__free_unpacked(r, NULL);
            return;
        }
        snprintf(s->id, sizeof s->id, "%s", r->submission_id);
        s->user = u;
        s->problem = p;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 4;
            st_sub **v = realloc(t->v, cap * sizeof *v);
            if (v) {
                t->v = v;
                t->cap = cap;
            }
        }
        if (t->n < t->cap)
            t->v[t->n++] = s;
    }
    s->attempt = r->attempt ? r->attempt : 1;
    snprintf(s->verdict, sizeof s->verdict, "%s", r->verdict[0] ? r->verdict : "IE");
    s->judged_ms = ev->time_ms;
    s->seq = s->changed = ev->seq;
    mark(m, ST_D_SUB, s);
    contribute(p, u, t, 1);
    codecourt__v1__judge_result__free_unpacked(r, NULL);
}

static void apply(const cc_projection_event *ev, void *ud)
{
    st_model *m = ud;
    const char *s = ev->subject;
    if (!strcmp(s, "cc.evt.submission.judged"))
        apply_judged(m, ev);
    else if (!strncmp(s, "cc.evt.problem.", 15))
        apply_problem(m, ev);
    else if (!strcmp(s, "cc.evt.user.registered"))
        apply_user(m, ev);
}

/* ---- store ---------------------------------------------------------------------- */

static cc_status flush_subs(cc_pg_tx *tx, st_sub **v, size_t n)
{
    cc_buf a[7];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        cc_pg_array_add(&a[0], v[i]->id);
        cc_pg_array_add(&a[1], v[i]->user->id);
        cc_pg_array_add(&a[2], v[i]->problem->slug);
        cc_pg_array_num(&a[3], v[i]->attempt);
        cc_pg_array_add(&a[4], v[i]->verdict);
        cc_pg_array_num(&a[5], v[i]->judged_ms);
        cc_pg_array_num(&a[6], (int64_t)v[i]->seq);
    }
    cc_pg_param p[7];
    bool ok = true;
    for (int i = 0; i < 7; i++) {
        const char *t = cc_pg_array_end(&a[i]);
        ok = ok && t;
        p[i] = CC_PG_TEXT(t);
    }
    cc_status s = ok ? cc_pg_tx_query(tx,
                                      "INSERT INTO stats_subs (id, user_id, problem, attempt, "
                                      "verdict, judged_ms, seq) SELECT * FROM unnest($1::text[], "
                                      "$2::text[], $3::text[], $4::int[], $5::text[], "
                                      "$6::bigint[], $7::bigint[]) ON CONFLICT (id) DO UPDATE SET "
                                      "user_id = EXCLUDED.user_id, problem = EXCLUDED.problem, "
                                      "attempt = EXCLUDED.attempt, verdict = EXCLUDED.verdict, "
                                      "judged_ms = EXCLUDED.judged_ms, seq = EXCLUDED.seq",
                                      p, 7, NULL, NULL)
                     : cc_err_set(CC_NOMEM, "out of memory");
    for (int i = 0; i < 7; i++)
        cc_buf_free(&a[i]);
    return s;
}

static cc_status flush_users(cc_pg_tx *tx, st_user **v, size_t n)
{
    cc_buf a[3];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        cc_pg_array_add(&a[0], v[i]->id);
        cc_pg_array_num(&a[1], v[i]->registered_ms);
        cc_pg_array_num(&a[2], (int64_t)v[i]->seq);
    }
    const char *t0 = cc_pg_array_end(&a[0]), *t1 = cc_pg_array_end(&a[1]), *t2 = cc_pg_array_end(&a[2]);
    cc_pg_param p[] = {CC_PG_TEXT(t0), CC_PG_TEXT(t1), CC_PG_TEXT(t2)};
    cc_status s = t0 && t1 && t2
                      ? cc_pg_tx_query(tx,
                                       "INSERT INTO stats_users (id, registered_ms, seq) "
                                       "SELECT * FROM unnest($1::text[], $2::bigint[], "
                                       "$3::bigint[]) ON CONFLICT (id) DO UPDATE SET "
                                       "registered_ms = EXCLUDED.registered_ms, seq = EXCLUDED.seq",
                                       p, 3, NULL, NULL)
                      : cc_err_set(CC_NOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        cc_buf_free(&a[i]);
    return s;
}

static cc_status flush_problem(cc_pg_tx *tx, const st_problem *p)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < p->ntags; i++)
        json_array_append_new(tags, json_string(p->tags[i]));
    char *tt = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    char diff[8], pub[32], seq[32];
    snprintf(diff, sizeof diff, "%d", (int)p->difficulty);
    snprintf(pub, sizeof pub, "%" PRIu64, p->published_seq);
    snprintf(seq, sizeof seq, "%" PRIu64, p->seq);
    cc_pg_param prm[] = {CC_PG_TEXT(p->slug),        CC_PG_TEXT(p->title ? p->title : ""),
                         CC_PG_TEXT(tt ? tt : "[]"), CC_PG_TEXT(diff),
                         CC_PG_TEXT(p->public_ ? "t" : "f"), CC_PG_TEXT(p->deleted ? "t" : "f"),
                         CC_PG_TEXT(p->owner),       CC_PG_TEXT(pub),
                         CC_PG_TEXT(seq)};
    cc_status s = cc_pg_tx_query(tx,
                                 "INSERT INTO stats_problems (slug, title, tags, difficulty, "
                                 "public, deleted, owner_id, published_seq, seq) VALUES ($1, $2, "
                                 "$3::jsonb, $4::int, $5::boolean, $6::boolean, $7, $8, $9) "
                                 "ON CONFLICT (slug) DO UPDATE SET title = EXCLUDED.title, "
                                 "tags = EXCLUDED.tags, difficulty = EXCLUDED.difficulty, "
                                 "public = EXCLUDED.public, deleted = EXCLUDED.deleted, "
                                 "owner_id = EXCLUDED.owner_id, "
                                 "published_seq = EXCLUDED.published_seq, seq = EXCLUDED.seq",
                                 prm, 9, NULL, NULL);
    free(tt);
    return s;
}

static cc_status flush_suggestions(cc_pg_tx *tx, st_model *m, uint64_t upto)
{
    cc_status s = CC_OK;
    for (size_t i = 0; i < m->nsugg && s == CC_OK; i++) {
        const st_suggestion *g = &m->sugg[i];
        if (g->seq > upto)
            continue;
        Codecourt__V1__ProblemSuggested ev = CODECOURT__V1__PROBLEM_SUGGESTED__INIT;
        ev.user_id = g->user->id;
        ev.problem = g->problem->slug;
        ev.title = g->problem->title ? g->problem->title : "";
        ev.tag = (char *)g->tag;
        ev.solved_in_tag = g->solved_in_tag;
        uint8_t buf[1024];
        size_t len = protobuf_c_message_get_packed_size(&ev.base);
        if (len > sizeof buf)
            continue;
        protobuf_c_message_pack(&ev.base, buf);
        char msg_id[160];
        snprintf(msg_id, sizeof msg_id, "suggest-%s-%s", g->problem->slug, g->user->id);
        s = cc_outbox_add(tx, ST_EVT_SUGGESTED, NULL, g->user->id, "codecourt.v1.ProblemSuggested", msg_id,
                          buf, len, NULL, NULL);
    }
    return s;
}

static cc_status flush(cc_pg_tx *tx, uint64_t from, uint64_t upto, void *ud)
{
    st_model *m = ud;
    uint32_t fm = ++flush_mark;
    size_t cap = m->ndirty ? m->ndirty : 1;
    st_sub **subs = malloc(cap * sizeof *subs);
    st_user **users = malloc(cap * sizeof *users);
    if (!subs || !users) {
        free(subs);
        free(users);
        return cc_err_set(CC_NOMEM, "out of memory");
    }
    size_t nsubs = 0, nusers = 0;
    cc_status s = CC_OK;
    for (size_t i = 0; i < m->ndirty && s == CC_OK; i++) {
        if (m->dirty_kind[i] == ST_D_SUB) {
            st_sub *x = m->dirty[i];
            if (x->changed > from && x->fmark != fm) {
                x->fmark = fm;
                subs[nsubs++] = x;
            }
        } else if (m->dirty_kind[i] == ST_D_USER) {
            st_user *x = m->dirty[i];
            if (x->changed > from && x->fmark != fm) {
                x->fmark = fm;
                users[nusers++] = x;
            }
        } else {
            st_problem *x = m->dirty[i];
            if (x->changed > from && x->fmark != fm) {
                x->fmark = fm;
                s = flush_problem(tx, x);
            }
        }
    }
    for (size_t off = 0; s == CC_OK && off < nusers; off += 20000)
        s = flush_users(tx, users + off, nusers - off < 20000 ? nusers - off : 20000);
    for (size_t off = 0; s == CC_OK && off < nsubs; off += 20000)
        s = flush_subs(tx, subs + off, nsubs - off < 20000 ? nsubs - off : 20000);
    if (s == CC_OK)
        s = flush_suggestions(tx, m, upto);
    free(subs);
    free(users);
    return s;
}

static uint64_t changed_of(const st_model *m, size_t i)
{
    switch (m->dirty_kind[i]) {
    case ST_D_SUB:
        return ((st_sub *)m->dirty[i])->changed;
    case ST_D_USER:
        return ((st_user *)m->dirty[i])->changed;
    default:
        return ((st_problem *)m->dirty[i])->changed;
    }
}

static void flushed(cc_status s, uint64_t upto, void *ud)
{
    st_model *m = ud;
    if (s != CC_OK)
        return;
    size_t k = 0;
    for (size_t i = 0; i < m->ndirty; i++)
        if (changed_of(m, i) > upto) {
            m->dirty[k] = m->dirty[i];
            m->dirty_kind[k++] = m->dirty_kind[i];
        }
    m->ndirty = k;
    k = 0;
    for (size_t i = 0; i < m->nsugg; i++)
        if (m->sugg[i].seq > upto)
            m->sugg[k++] = m->sugg[i];
    m->nsugg = k;
}

/* ---- load and reset -------------------------------------------------------------- */

static void problem_free(st_problem *p)
{
    free(p->title);
    for (size_t i = 0; i < p->ntags; i++)
        free(p->tags[i]);
    free(p->tags);
    free(p->solvers);
    free(p);
}

static void user_free(st_user *u)
{
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&u->problems, &i, &k, &v)) {
        free(((st_tries *)v)->v);
        free(v);
    }
    cc_map_free(&u->problems);
    free(u);
}

static void model_clear(st_model *m)
{
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->subs, &i, &k, &v))
        free(v);
    cc_map_free(&m->subs);
    i = 0;
    while (cc_map_next(&m->users, &i, &k, &v))
        user_free(v);
    cc_map_free(&m->users);
    i = 0;
    while (cc_map_next(&m->problems, &i, &k, &v))
        problem_free(v);
    cc_map_free(&m->problems);
    m->ndirty = 0;
    m->nsugg = 0;
}

st_model *st_model_new(st_state *st)
{
    st_model *m = calloc(1, sizeof *m);
    if (m)
        m->st = st;
    return m;
}

void st_model_free(st_model *m)
{
    if (!m)
        return;
    model_clear(m);
    free(m->dirty);
    free(m->dirty_kind);
    free(m->sugg);
    free(m);
}

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

static cc_status load(PGconn *conn, void *ud)
{
    st_model *m = ud;
    PGresult *r = query(conn, "SELECT id, registered_ms, seq FROM stats_users");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        st_user *u = user_make(m, PQgetvalue(r, i, 0));
        if (!u)
            continue;
        u->registered_ms = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        u->seq = u->changed = strtoull(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    r = query(conn, "SELECT slug, title, tags::text, difficulty, public, deleted, owner_id, "
                    "published_seq, seq FROM stats_problems");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        st_problem *p = problem_make(m, PQgetvalue(r, i, 0));
        if (!p)
            continue;
        p->title = strdup(PQgetvalue(r, i, 1));
        json_t *tags = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        size_t nt = json_array_size(tags);
        p->tags = calloc(nt ? nt : 1, sizeof *p->tags);
        for (size_t k = 0; p->tags && k < nt; k++)
            if ((p->tags[p->ntags] = strdup(json_string_value(json_array_get(tags, k)))))
                p->ntags++;
        json_decref(tags);
        p->difficulty = (Codecourt__V1__Difficulty)strtol(PQgetvalue(r, i, 3), NULL, 10);
        p->public_ = PQgetvalue(r, i, 4)[0] == 't';
        p->deleted = PQgetvalue(r, i, 5)[0] == 't';
        snprintf(p->owner, sizeof p->owner, "%s", PQgetvalue(r, i, 6));
        p->published_seq = strtoull(PQgetvalue(r, i, 7), NULL, 10);
        p->seq = p->changed = strtoull(PQgetvalue(r, i, 8), NULL, 10);
    }
    PQclear(r);
    r = query(conn, "SELECT id, user_id, problem, attempt, verdict, judged_ms, seq FROM stats_subs "
                    "ORDER BY seq");
    if (!r)
        return CC_DB;
    for (int i = 0; i < PQntuples(r); i++) {
        st_user *u = user_make(m, PQgetvalue(r, i, 1));
        st_problem *p = problem_make(m, PQgetvalue(r, i, 2));
        st_tries *t = u && p ? tries_of(u, p->slug, true) : NULL;
        st_sub *s = t ? calloc(1, sizeof *s) : NULL;
        if (!s || cc_map_put(&m->subs, PQgetvalue(r, i, 0), s, NULL) != CC_OK) {
            free(s);
            continue;
        }
        snprintf(s->id, sizeof s->id, "%s", PQgetvalue(r, i, 0));
        s->user = u;
        s->problem = p;
        s->attempt = (uint32_t)strtoul(PQgetvalue(r, i, 3), NULL, 10);
        snprintf(s->verdict, sizeof s->verdict, "%s", PQgetvalue(r, i, 4));
        s->judged_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10);
        s->seq = s->changed = strtoull(PQgetvalue(r, i, 6), NULL, 10);
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 4;
            st_sub **v = realloc(t->v, cap * sizeof *v);
            if (!v)
                continue;
            t->v = v;
            t->cap = cap;
        }
        t->v[t->n++] = s;
    }
    PQclear(r);
    /* What users did with problems is derived, as apply derives it. */
    size_t i = 0;
    const char *k;
    void *v;
    while (cc_map_next(&m->users, &i, &k, &v)) {
        st_user *u = v;
        size_t j = 0;
        const char *slug;
        void *tv;
        while (cc_map_next(&u->problems, &j, &slug, &tv)) {
            st_problem *p = cc_map_get(&m->problems, slug);
            if (p)
                contribute(p, u, tv, 1);
        }
    }
    cc_log(CC_LOG_INFO, NULL, "stats read model loaded", "{s:i, s:i, s:i}", "users",
           (int)m->users.len, "problems", (int)m->problems.len, "submissions", (int)m->subs.len);
    return CC_OK;
}

static void reset(void *ud)
{
    model_clear(ud);
}

static const char *const tables[] = {"stats_users", "stats_problems", "stats_subs", NULL};

const cc_projection_def *st_projection_def(st_model *m)
{
    static cc_projection_def def;
    def = (cc_projection_def){.name = ST_PROJECTION,
                              .version = ST_PROJECTION_VERSION,
                              .tables = tables,
                              .load = load,
                              .reset = reset,
                              .apply = apply,
                              .flush = flush,
                              .flushed = flushed,
                              .ud = m};
    return &def;
}
