/* Recommendations: unsolved public problems ranked from what the user did,
 * each with the one reason that weighed most. A problem's score is the sum
 * of four signals:
 *   retry  3        the user tried it and has not solved it yet
 *   tags   n        the most problems of one of its tags the user solved
 *   peers  n / 2    users who solved something the user solved and solved
 *                   this (each solved problem looks at 200 of its solvers)
 *   level  1 or 1/2 its difficulty is the step after the one the user
 *                   solves most (1), or that one (1/2)
 * plus a hundredth of log(1 + its solvers), which orders a newcomer's
 * list by popularity. Never a problem the user solved, owns, or that is
 * not public. A function of the model and the user: recomputed on each
 * call from a model that follows the events. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define PEERS_PER_PROBLEM 200

typedef struct cand {
    st_problem *p;
    double score;
    int retry, peers;
    int tag_n;
    const char *tag;
    double level;
    char reason[160];
} cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->p->nsolvers != y->p->nsolvers)
        return x->p->nsolvers > y->p->nsolvers ? -1 : 1;
    return strcmp(x->p->slug, y->p->slug);
}

static bool listed(const st_problem *p)
{
    return p->public_ && !p->deleted;
}

static void explain(cand *c, const char *mode_name)
{
    double r = c->retry ? 3 : 0, t = c->tag_n, pe = c->peers / 2.0, l = c->level;
    if (r > 0 && r >= t && r >= pe && r >= l)
        snprintf(c->reason, sizeof c->reason, "you tried it %d time%s and it is still unsolved",
                 c->retry, c->retry == 1 ? "" : "s");
    else if (t > 0 && t >= pe && t >= l)
        snprintf(c->reason, sizeof c->reason, "because you solved %d %s problem%s", c->tag_n,
                 c->tag, c->tag_n == 1 ? "" : "s");
    else if (pe > 0 && pe >= l)
        snprintf(c->reason, sizeof c->reason,
                 "solved by %d user%s who solved the same problems as you", c->peers,
                 c->peers == 1 ? "" : "s");
    else if (l > 0) {
        const char *d = st_difficulty_name(c->p->difficulty);
        const char *article = strchr("aeiou", d[0]) && d[0] ? "an" : "a"; /* "an easy" */
        snprintf(c->reason, sizeof c->reason,
                 l >= 1 ? "%s %s problem, the step after the %s ones you solve"
                        : "%s %s problem, like the %s ones you solve",
                 article, d, mode_name);
    }
    else if (c->p->nsolvers > 0)
        snprintf(c->reason, sizeof c->reason, "solved by %zu user%s: a good place to start",
                 c->p->nsolvers, c->p->nsolvers == 1 ? "" : "s");
    else
        snprintf(c->reason, sizeof c->reason, "nobody has solved it yet");
}

/* Solved public problems per tag and per difficulty. */
static void profile(st_model *m, st_user *u, cc_map *tag_n, int diff_n[4])
{
    size_t i = 0;
    const char *slug;
    void *tv;
    while (u && cc_map_next(&u->problems, &i, &slug, &tv)) {
        st_progress g;
        st_progress_of(tv, &g);
        const st_problem *p = st_problem_get(m, slug);
        if (!g.solved || !p || !listed(p))
            continue;
        for (size_t k = 0; k < p->ntags; k++) {
            intptr_t n = (intptr_t)cc_map_get(tag_n, p->tags[k]);
            cc_map_put(tag_n, p->tags[k], (void *)(n + 1), NULL);
        }
        if (p->difficulty > 0 && p->difficulty < 4)
            diff_n[p->difficulty]++;
    }
}

/* Users who share a solved problem with u, then what each of them solved. */
static void peers(st_model *m, st_user *u, cc_map *peer_n)
{
    cc_map seen = {0};
    size_t i = 0;
    const char *slug;
    void *tv;
    while (u && cc_map_next(&u->problems, &i, &slug, &tv)) {
        st_progress g;
        st_progress_of(tv, &g);
        const st_problem *q = st_problem_get(m, slug);
        if (!g.solved || !q)
            continue;
        for (size_t k = 0; k < q->nsolvers && k < PEERS_PER_PROBLEM; k++) {
            st_user *v = q->solvers[k];
            if (v == u || cc_map_get(&seen, v->id))
                continue;
            cc_map_put(&seen, v->id, v, NULL);
            size_t j = 0;
            const char *ps;
            void *pv;
            while (cc_map_next(&v->problems, &j, &ps, &pv)) {
                st_progress h;
                st_progress_of(pv, &h);
                if (!h.solved)
                    continue;
                intptr_t n = (intptr_t)cc_map_get(peer_n, ps);
                cc_map_put(peer_n, ps, (void *)(n + 1), NULL);
            }
        }
    }
    cc_map_free(&seen);
}

cc_status st_recommend(st_model *m, const char *user_id, int limit, cc_arena *a,
                       Codecourt__V1__RecommendationList *out)
{
    st_user *u = st_user_get(m, user_id);
    cc_map tag_n = {0}, peer_n = {0};
    int diff_n[4] = {0};
    profile(m, u, &tag_n, diff_n);
    peers(m, u, &peer_n);
    int mode = 0, total = 0;
    for (int d = 1; d < 4; d++) {
        total += diff_n[d];
        if (diff_n[d] >= diff_n[mode] && diff_n[d] > 0)
            mode = d;
    }
    /* Three solved at the level the user solves most: time for the next. */
    int next = mode == 0 ? 1 : (diff_n[mode] >= 3 && mode < 3 ? mode + 1 : mode);
    size_t n = 0, cap = m->problems.len ? m->problems.len : 1;
    cand *v = calloc(cap, sizeof *v);
    if (!v) {
        cc_map_free(&tag_n);
        cc_map_free(&peer_n);
        return cc_err_set(CC_NOMEM, "out of memory");
    }
    size_t i = 0;
    const char *slug;
    void *pv;
    while (cc_map_next(&m->problems, &i, &slug, &pv)) {
        st_problem *p = pv;
        if (!listed(p) || !strcmp(p->owner, user_id))
            continue;
        st_progress g = {0};
        if (u)
            st_progress_of(cc_map_get(&u->problems, slug), &g);
        if (g.solved)
            continue;
        cand *c = &v[n++];
        c->p = p;
        c->retry = g.attempts;
        for (size_t k = 0; k < p->ntags; k++) {
            int tn = (int)(intptr_t)cc_map_get(&tag_n, p->tags[k]);
            if (tn > c->tag_n || (tn == c->tag_n && c->tag && strcmp(p->tags[k], c->tag) < 0)) {
                c->tag_n = tn;
                c->tag = p->tags[k];
            }
        }
        c->peers = (int)(intptr_t)cc_map_get(&peer_n, slug);
        c->level = total == 0 ? 0 : (int)p->difficulty == next ? 1 : (int)p->difficulty == mode ? 0.5 : 0;
        c->score = (c->retry ? 3 : 0) + c->tag_n + c->peers / 2.0 + c->level +
                   log1p((double)p->nsolvers) / 100;
        explain(c, mode ? st_difficulty_name((Codecourt__V1__Difficulty)mode) : "");
    }
    qsort(v, n, sizeof *v, cand_cmp);
    size_t shown = n < (size_t)limit ? n : (size_t)limit;
    out->recommendations = cc_arena_alloc(a, (shown ? shown : 1) * sizeof *out->recommendations);
    for (size_t k = 0; out->recommendations && k < shown; k++) {
        Codecourt__V1__Recommendation *r = cc_arena_alloc(a, sizeof *r);
        if (!r)
            break;
        codecourt__v1__recommendation__init(r);
        r->problem = cc_arena_strdup(a, v[k].p->slug);
        r->title = cc_arena_strdup(a, v[k].p->title ? v[k].p->title : "");
        r->tags = cc_arena_alloc(a, (v[k].p->ntags ? v[k].p->ntags : 1) * sizeof *r->tags);
        for (size_t t = 0; r->tags && t < v[k].p->ntags; t++)
            r->tags[r->n_tags++] = cc_arena_strdup(a, v[k].p->tags[t]);
        r->difficulty = v[k].p->difficulty;
        r->score = v[k].score;
        r->reason = cc_arena_strdup(a, v[k].reason);
        out->recommendations[out->n_recommendations++] = r;
    }
    free(v);
    cc_map_free(&tag_n);
    cc_map_free(&peer_n);
    return out->recommendations ? CC_OK : cc_err_set(CC_NOMEM, "out of memory");
}
