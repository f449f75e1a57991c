/* The scoring policy: one team's cell of one problem from its tries, and
 * the order of teams. Pure functions of their arguments (no clock, no
 * state), so the live read model and a rebuild agree, and the unit tests
 * (tests/unit/contest) can state the rules by hand.
 *
 * ICPC (CLICS "pass-fail"): tries are taken in submission order; the
 * first AC solves the problem at its minute, and each rejected try before
 * it adds the contest's penalty minutes. A compile error is not a try
 * unless the contest says so; an internal error (IE) never is. Nothing
 * after the first AC counts, not even as pending.
 *
 * IOI (CLICS "score"): the problem's score is the best the team reached,
 * subtask by subtask: each test group directly under data/secret keeps
 * its best score across the team's submissions and the problem scores
 * their sum (or the best single total, if that is higher, for results
 * without groups). Scores are scaled from the judge's maximum to the
 * contest's points.
 *
 * Both: a try at or after the contest's end does not count; in the public
 * view of a frozen contest a try made from the freeze on counts as
 * pending, whatever its verdict. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contest.h"

enum { MAX_TRIES = 4096, MAX_GROUPS = 64 };

bool con_verdict_rejected(const char *verdict, bool ce_penalty)
{
    if (!strcmp(verdict, "AC") || !strcmp(verdict, "IE") || !verdict[0])
        return false;
    if (!strcmp(verdict, "CE"))
        return ce_penalty;
    return true;
}

static int try_cmp(const void *a, const void *b)
{
    const con_try *x = *(const con_try *const *)a, *y = *(const con_try *const *)b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static bool counts(const con_rules *r, const con_try *t)
{
    return t->time_ms >= 0 && t->time_ms < r->duration_ms;
}

static bool hidden(const con_rules *r, const con_try *t)
{
    return r->public_view && r->freeze_ms >= 0 && t->time_ms >= r->freeze_ms;
}

static void icpc(const con_rules *r, const con_try *const *v, size_t n, con_cell *out)
{
    int rejected = 0;
    for (size_t i = 0; i < n && !out->solved; i++) {
        const con_try *t = v[i];
        if (!counts(r, t))
            continue;
        if (!t->judged || hidden(r, t)) {
            out->pending++;
            continue;
        }
        if (!strcmp(t->verdict, "AC")) {
            out->solved = true;
            out->tries++;
            out->solve_ms = t->time_ms;
            out->minutes = t->time_ms / 60000;
            out->penalty = out->minutes + r->penalty_minutes * rejected;
            out->improved_ms = t->time_ms;
        } else if (con_verdict_rejected(t->verdict, r->ce_penalty)) {
            out->tries++;
            rejected++;
        }
    }
}

static void ioi(const con_rules *r, const con_try *const *v, size_t n, con_cell *out)
{
    const char *names[MAX_GROUPS];
    double best[MAX_GROUPS];
    size_t ng = 0;
    double best_total = 0, current = 0;
    for (size_t i = 0; i < n; i++) {
        const con_try *t = v[i];
        if (!counts(r, t))
            continue;
        if (!t->judged || hidden(r, t)) {
            out->pending++;
            continue;
        }
        out->tries++;
        double scale = t->max_score > 0 ? r->points / t->max_score : 1;
        double total = t->score * scale;
        if (total > best_total)
            best_total = total;
        for (size_t g = 0; g < t->ngroups; g++) {
            const Codecourt__V1__GroupScore *gs = t->groups[g];
            if (!gs || !gs->name)
                continue;
            size_t k = 0;
            while (k < ng && strcmp(names[k], gs->name) != 0)
                k++;
            if (k == ng) {
                if (ng == MAX_GROUPS)
                    continue;
                names[ng] = gs->name;
                best[ng++] = 0;
            }
            if (gs->score * scale > best[k])
                best[k] = gs->score * scale;
        }
        double sum = 0;
        for (size_t k = 0; k < ng; k++)
            sum += best[k];
        double now = fmax(sum, best_total);
        if (now > current + 1e-9) {
            current = now;
            out->improved_ms = t->time_ms;
        }
    }
    out->score = current;
    out->solved = r->points > 0 && current >= r->points - 1e-9;
}

void con_score_cell(const con_rules *r, const con_try *tries, size_t n, con_cell *out)
{
    memset(out, 0, sizeof *out);
    if (n > MAX_TRIES)
        n = MAX_TRIES;
    const con_try *stack[64];
    const con_try **v = n <= 64 ? stack : malloc(n * sizeof *v);
    if (!v)
        return; /* an empty cell rather than a wrong one */
    for (size_t i = 0; i < n; i++)
        v[i] = &tries[i];
    qsort(v, n, sizeof *v, try_cmp);
    if (r->scoring == CODECOURT__V1__SCORING__SCORING_IOI)
        ioi(r, v, n, out);
    else
        icpc(r, v, n, out);
    if (v != stack)
        free(v);
}

void con_total_add(con_total *t, const con_cell *c)
{
    t->solved += c->solved ? 1 : 0;
    t->penalty += c->solved ? c->penalty : 0;
    t->score += c->score;
    if ((c->solved || c->score > 0) && c->improved_ms > t->last_ms)
        t->last_ms = c->improved_ms;
}

int con_total_cmp(Codecourt__V1__Scoring s, const con_total *a, const con_total *b)
{
    if (s == CODECOURT__V1__SCORING__SCORING_IOI) {
        if (fabs(a->score - b->score) < 1e-9)
            return 0;
        return a->score > b->score ? -1 : 1;
    }
    if (a->solved != b->solved)
        return a->solved > b->solved ? -1 : 1;
    if (a->penalty != b->penalty)
        return a->penalty < b->penalty ? -1 : 1;
    int64_t am = a->last_ms / 60000, bm = b->last_ms / 60000;
    if (am != bm)
        return am < bm ? -1 : 1;
    return 0;
}
