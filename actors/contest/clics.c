/* The ICPC CLICS Contest API (ccs-specs 2022-07) over the read model: the
 * objects of /api/contests/... as the specification names their
 * properties, and the event feed.
 *
 * The feed is each contest's list of (token, object) entries in stream
 * order; a token is the CC_EVENTS sequence of the event that last changed
 * the object, so it is the same after a rebuild and since_token survives
 * one. An entry whose object changed again later is stale and skipped:
 * the feed sends each object's latest state once after any token, which
 * the specification allows ("no guarantee ... whether two consecutive
 * changes cause one or two events; the latest notification sent for any
 * object is the correct and current state"). A judgement the freeze hides
 * is left out for the public and reaches it at the unfreeze's token. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contest.h"

#define API_VERSION "2022-07"
#define API_URL "https://ccs-specs.icpc.io/2022-07/contest_api"

/* Our verdicts as CLICS judgement types, with their names. */
static const struct {
    const char *verdict, *id, *name;
} jtypes[] = {
    {"AC", "AC", "Accepted"},          {"WA", "WA", "Wrong Answer"},
    {"TLE", "TLE", "Time Limit Exceeded"}, {"RE", "RTE", "Run-Time Error"},
    {"MLE", "MLE", "Memory Limit Exceeded"}, {"OLE", "OLE", "Output Limit Exceeded"},
    {"PE", "PE", "Presentation Error"}, {"CE", "CE", "Compile Error"},
    {"IE", "JE", "Judging Error"},
};
#define NJTYPES (sizeof jtypes / sizeof jtypes[0])

const char *con_jtype(const char *verdict)
{
    for (size_t i = 0; i < NJTYPES; i++)
        if (!strcmp(jtypes[i].verdict, verdict))
            return jtypes[i].id;
    return "JE";
}

void con_iso_time(int64_t unix_ms, char *out)
{
    time_t t = (time_t)(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
    int ms = (int)(unix_ms - (int64_t)t * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03d+00:00", ms % 1000);
}

void con_rel_time(int64_t ms, char *out)
{
    const char *sign = ms < 0 ? "-" : "";
    uint64_t a = (uint64_t)(ms < 0 ? -ms : ms);
    snprintf(out, 40, "%s%" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64, sign,
             a / 3600000, a / 60000 % 60, a / 1000 % 60, a % 1000);
}

static json_t *jtime(int64_t unix_ms)
{
    char t[40];
    con_iso_time(unix_ms, t);
    return json_string(t);
}

static json_t *jrel(int64_t ms)
{
    char t[40];
    con_rel_time(ms, t);
    return json_string(t);
}

static json_t *jstr_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

bool con_viewer_for(const con_contest *c, const char *user, bool admin, con_viewer *v)
{
    v->jury = admin || con_is_jury(c, user);
    con_team *t = con_team_of((con_contest *)c, user);
    v->team = t ? t->def->id : "";
    return v->jury || t || c->def->public_;
}

/* ---- objects -------------------------------------------------------------- */

static json_t *o_contest(const con_contest *c)
{
    const Codecourt__V1__Contest *d = c->def;
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:I}", "id", d->id, "name", d->title,
                          "formal_name", jstr_or_null(d->formal_name[0] ? d->formal_name : d->title),
                          "start_time", jtime(d->start_at * 1000), "duration",
                          jrel(d->duration_s * 1000), "scoreboard_type",
                          d->scoring == CODECOURT__V1__SCORING__SCORING_IOI ? "score" : "pass-fail",
                          "penalty_time",
                          (json_int_t)(d->penalty_minutes > 0 ? d->penalty_minutes : 20));
    if (o)
        json_object_set_new(o, "scoreboard_freeze_duration", jrel(d->freeze_s * 1000));
    return o;
}

static json_t *o_state(const con_contest *c, const con_viewer *v)
{
    const Codecourt__V1__Contest *d = c->def;
    json_t *o = json_object();
    json_object_set_new(o, "started", c->started_ms ? jtime(c->started_ms) : json_null());
    json_object_set_new(o, "frozen", c->frozen_ms ? jtime(c->frozen_ms) : json_null());
    json_object_set_new(o, "ended", c->ended_ms ? jtime(c->ended_ms) : json_null());
    json_object_set_new(o, "thawed",
                        d->unfrozen_at && c->frozen_ms ? jtime(d->unfrozen_at * 1000) : json_null());
    json_object_set_new(o, "finalized", json_null());
    json_object_set_new(o, "end_of_updates", json_null());
    (void)v;
    return o;
}

static json_t *o_jtypes(const con_contest *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < NJTYPES; i++) {
        bool penalty = con_verdict_rejected(jtypes[i].verdict, c->def->compile_error_penalty);
        json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b}", "id", jtypes[i].id, "name",
                                           jtypes[i].name, "penalty", penalty, "solved",
                                           !strcmp(jtypes[i].verdict, "AC")));
    }
    return a;
}

static json_t *o_jtype(const con_contest *c, const char *id)
{
    json_t *a = o_jtypes(c), *found = NULL;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(a, i), "id")), id))
            found = json_incref(json_array_get(a, i));
    json_decref(a);
    return found;
}

static json_t *o_problem(const con_contest *c, size_t i)
{
    const Codecourt__V1__ContestProblem *p = c->def->problems[i];
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:f, s:i}", "id", p->problem, "label", p->label,
                          "name", p->name[0] ? p->name : p->label, "ordinal", (int)i + 1,
                          "time_limit", p->time_limit, "test_data_count", p->test_data_count);
    if (o && p->rgb[0])
        json_object_set_new(o, "rgb", json_string(p->rgb));
    if (o && p->color[0])
        json_object_set_new(o, "color", json_string(p->color));
    if (o && c->def->scoring == CODECOURT__V1__SCORING__SCORING_IOI)
        json_object_set_new(o, "max_score", json_real(p->points > 0 ? p->points : 100));
    return o;
}

static json_t *o_org(const con_org *g)
{
    return json_pack("{s:s, s:s, s:s}", "id", g->id, "name", g->name, "formal_name", g->name);
}

static json_t *o_team(const con_team *t)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:[], s:b}", "id", t->def->id, "name", t->def->name,
                     "display_name", t->def->name, "organization_id", jstr_or_null(t->org_id),
                     "group_ids", "hidden", t->def->hidden);
}

static json_t *o_language(const con_lang *l)
{
    return json_pack("{s:s, s:s, s:b, s:[]}", "id", l->id, "name", l->id, "entry_point_required",
                     0, "extensions");
}

static json_t *o_submission(const con_contest *c, const con_sub *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:n, s:[]}", "id", s->id, "language_id",
                     s->language, "problem_id", s->problem, "team_id", s->team, "time",
                     jtime(s->created_ms), "contest_time",
                     jrel(con_contest_ms(c, s->created_ms)), "entry_point", "files");
}

static void judgement_id(const con_sub *s, char out[32])
{
    snprintf(out, 32, "j%" PRIu64, s->judged_seq);
}

static json_t *o_judgement(const con_contest *c, const con_sub *s)
{
    char id[32];
    judgement_id(s, id);
    int64_t end = s->judged_ms > s->created_ms ? s->judged_ms : s->created_ms;
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:n}", "id", id, "submission_id",
                          s->id, "judgement_type_id", con_jtype(s->verdict), "start_time",
                          jtime(s->created_ms), "start_contest_time",
                          jrel(con_contest_ms(c, s->created_ms)), "end_time", jtime(end),
                          "end_contest_time", jrel(con_contest_ms(c, end)), "max_run_time");
    if (o && c->def->scoring == CODECOURT__V1__SCORING__SCORING_IOI) {
        /* Scaled to the contest's points, as the scoreboard counts it. */
        int i = con_problem_index(c, s->problem);
        double pts = i >= 0 && c->def->problems[i]->points > 0 ? c->def->problems[i]->points : 100;
        double scale = s->max_score > 0 ? pts / s->max_score : 1;
        json_object_set_new(o, "score", json_real(s->score * scale));
    }
    return o;
}

static const char *label_to_slug(const con_contest *c, const char *label)
{
    for (size_t i = 0; i < c->def->n_problems; i++)
        if (!strcmp(c->def->problems[i]->label, label))
            return c->def->problems[i]->problem;
    return "";
}

static json_t *o_clar(const con_contest *c, const con_clar *k)
{
    const Codecourt__V1__Clarification *d = k->def;
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "id", d->id, "from_team_id",
                          jstr_or_null(d->from_team), "to_team_id", jstr_or_null(d->to_team),
                          "reply_to_id", jstr_or_null(d->reply_to), "problem_id",
                          jstr_or_null(d->problem[0] ? label_to_slug(c, d->problem) : ""), "text",
                          d->text, "time", jtime(d->time_ms), "contest_time",
                          jrel(con_contest_ms(c, d->time_ms)));
    return o;
}

/* ---- who sees what ------------------------------------------------------------ */

static bool clar_visible(const con_clar *k, const con_viewer *v)
{
    const Codecourt__V1__Clarification *d = k->def;
    if (v->jury)
        return true;
    if (!d->from_team[0] && !d->to_team[0])
        return true; /* the jury to everyone */
    return v->team[0] && (!strcmp(d->from_team, v->team) || !strcmp(d->to_team, v->team));
}

static bool in_freeze(const con_contest *c, const con_sub *s)
{
    const Codecourt__V1__Contest *d = c->def;
    int64_t cm = con_contest_ms(c, s->created_ms);
    return d->freeze_s > 0 && cm >= (d->duration_s - d->freeze_s) * 1000 &&
           cm < d->duration_s * 1000;
}

/* The token at which v sees s's judgement, 0 when v does not see it. */
static uint64_t judgement_token_for(const con_contest *c, const con_sub *s, const con_viewer *v)
{
    if (!s->attempt || !s->created_seq)
        return 0;
    uint64_t t = s->judged_seq > s->created_seq ? s->judged_seq : s->created_seq;
    if (v->jury || (v->team[0] && !strcmp(v->team, s->team)) || !in_freeze(c, s))
        return t;
    if (!c->unfrozen_seq)
        return 0;
    return t > c->unfrozen_seq ? t : c->unfrozen_seq;
}

/* The CLICS type of an entry's kind. */
static const char *kind_type(uint8_t k)
{
    switch (k) {
    case CON_F_CONTEST:
        return "contest";
    case CON_F_STATE:
        return "state";
    case CON_F_JTYPES:
        return "judgement-types";
    case CON_F_PROBLEM:
        return "problems";
    case CON_F_ORG:
        return "organizations";
    case CON_F_TEAM:
        return "teams";
    case CON_F_LANGUAGE:
        return "languages";
    case CON_F_SUBMISSION:
        return "submissions";
    case CON_F_CLAR:
        return "clarifications";
    default:
        return "judgements";
    }
}

/* The notification an entry stands for, or NULL when it is stale or not
 * for v. Appends one per judgement type for CON_F_JTYPES (into arr). */
static json_t *entry_json(const con_contest *c, const con_feed *e, const con_viewer *v)
{
    switch (e->kind) {
    case CON_F_CONTEST:
        return e->token == c->seq ? json_pack("{s:s, s:n, s:o}", "type", "contest", "id", "data",
                                              o_contest(c))
                                  : NULL;
    case CON_F_STATE:
        return e->token == c->state_seq
                   ? json_pack("{s:s, s:n, s:o}", "type", "state", "id", "data", o_state(c, v))
                   : NULL;
    case CON_F_JTYPES:
        return e->token == c->first_seq ? json_pack("{s:s, s:n, s:o}", "type", "judgement-types",
                                                    "id", "data", o_jtypes(c))
                                        : NULL;
    case CON_F_PROBLEM:
        if (e->index >= c->def->n_problems || c->problem_seq[e->index] != e->token)
            return NULL;
        return json_pack("{s:s, s:s, s:o}", "type", "problems", "id",
                         c->def->problems[e->index]->problem, "data", o_problem(c, e->index));
    case CON_F_ORG: {
        const con_org *g = e->obj;
        return g->seq == e->token ? json_pack("{s:s, s:s, s:o}", "type", "organizations", "id",
                                              g->id, "data", o_org(g))
                                  : NULL;
    }
    case CON_F_TEAM: {
        const con_team *t = e->obj;
        if (t->seq != e->token)
            return NULL;
        return json_pack("{s:s, s:s, s:o}", "type", "teams", "id", t->def->id, "data",
                         t->deleted ? json_null() : o_team(t));
    }
    case CON_F_LANGUAGE: {
        const con_lang *l = e->obj;
        return l->seq == e->token ? json_pack("{s:s, s:s, s:o}", "type", "languages", "id", l->id,
                                              "data", o_language(l))
                                  : NULL;
    }
    case CON_F_SUBMISSION: {
        const con_sub *s = e->obj;
        return s->created_seq == e->token ? json_pack("{s:s, s:s, s:o}", "type", "submissions",
                                                      "id", s->id, "data", o_submission(c, s))
                                          : NULL;
    }
    case CON_F_JUDGEMENT:
    case CON_F_REVEAL: {
        const con_sub *s = e->obj;
        if (judgement_token_for(c, s, v) != e->token)
            return NULL;
        char id[32];
        judgement_id(s, id);
        return json_pack("{s:s, s:s, s:o}", "type", "judgements", "id", id, "data",
                         o_judgement(c, s));
    }
    case CON_F_CLAR: {
        const con_clar *k = e->obj;
        if (k->seq != e->token || !clar_visible(k, v))
            return NULL;
        return json_pack("{s:s, s:s, s:o}", "type", "clarifications", "id", k->def->id, "data",
                         o_clar(c, k));
    }
    }
    return NULL;
}

void con_feed_add(con_contest *c, uint64_t token, con_feed_kind kind, uint32_t index, void *obj)
{
    if (c->nfeed == c->capfeed) {
        size_t cap = c->capfeed ? c->capfeed * 2 : 64;
        con_feed *f = realloc(c->feed, cap * sizeof *f);
        if (!f)
            return; /* the object still shows in its collection */
        c->feed = f;
        c->capfeed = cap;
    }
    c->feed[c->nfeed++] = (con_feed){token, (uint8_t)kind, index, obj};
}

static int feed_cmp(const void *a, const void *b)
{
    const con_feed *x = a, *y = b;
    if (x->token != y->token)
        return x->token < y->token ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

void con_feed_sort(con_contest *c)
{
    qsort(c->feed, c->nfeed, sizeof *c->feed, feed_cmp);
}

static bool type_wanted(const char *types, const char *type)
{
    if (!types || !types[0])
        return true;
    size_t n = strlen(type);
    for (const char *p = types; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, type, n))
            return true;
        p += k;
        if (*p == ',')
            p++;
    }
    return false;
}

/* The first entry with a token after since (binary search: tokens only
 * grow as events are applied, and a loaded feed is sorted). */
static size_t feed_after(const con_contest *c, uint64_t since)
{
    size_t lo = 0, hi = c->nfeed;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->feed[mid].token <= since)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

cc_status con_feed_page(con_model *m, con_contest *c, const con_viewer *v, uint64_t since,
                        int limit, const char *types, char **out, size_t *len, uint64_t *last,
                        bool *more)
{
    (void)m;
    *out = NULL;
    *len = 0;
    *more = false;
    uint64_t newest = c->nfeed ? c->feed[c->nfeed - 1].token : 0;
    if (since > newest && since > c->seq)
        return cc_err_set(CC_INVALID, "since_token: not a token of this feed");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return cc_err_set(CC_NOMEM, "out of memory");
    int lines = 0;
    uint64_t prev = 0;
    for (size_t i = feed_after(c, since); i < c->nfeed; i++) {
        const con_feed *e = &c->feed[i];
        /* A page ends between tokens, never inside one: resuming after a
         * token skips every line that carries it. */
        if (lines >= limit && e->token != prev) {
            *more = true;
            break;
        }
        if (!type_wanted(types, kind_type(e->kind)))
            continue;
        json_t *o = entry_json(c, e, v);
        if (!o)
            continue;
        char tok[32];
        snprintf(tok, sizeof tok, "%" PRIu64, e->token);
        json_object_set_new(o, "token", json_string(tok));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line) {
            free(buf);
            return cc_err_set(CC_NOMEM, "out of memory");
        }
        size_t ll = strlen(line);
        if (n + ll + 2 > cap) {
            while (n + ll + 2 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(line);
                free(buf);
                return cc_err_set(CC_NOMEM, "out of memory");
            }
            buf = nb;
        }
        memcpy(buf + n, line, ll);
        n += ll;
        buf[n++] = '\n';
        free(line);
        lines++;
        prev = e->token;
        *last = e->token;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CC_OK;
}

/* ---- the REST endpoints ---------------------------------------------------------- */

static json_t *o_scoreboard(const con_contest *c, bool jury)
{
    size_t n = c->nteams;
    con_team **order = calloc(n ? n : 1, sizeof *order);
    int *ranks = calloc(n ? n : 1, sizeof *ranks);
    if (!order || !ranks) {
        free(order);
        free(ranks);
        return NULL;
    }
    n = con_ranked(c, jury, order, ranks);
    bool ioi = c->def->scoring == CODECOURT__V1__SCORING__SCORING_IOI;
    int64_t *first = calloc(c->def->n_problems ? c->def->n_problems : 1, sizeof *first);
    for (size_t i = 0; first && i < c->def->n_problems; i++)
        first[i] = con_first_solve(c, jury, i);
    json_t *rows = json_array();
    for (size_t r = 0; r < n; r++) {
        const con_team *t = order[r];
        const con_total *tot = jury ? &t->tj : &t->tp;
        const con_cell *cells = jury ? t->jury : t->pub;
        json_t *score = ioi ? json_pack("{s:f, s:I}", "score", tot->score, "time",
                                        (json_int_t)(tot->last_ms / 60000))
                            : json_pack("{s:i, s:I, s:I}", "num_solved", tot->solved,
                                        "total_time", (json_int_t)tot->penalty, "time",
                                        (json_int_t)(tot->last_ms / 60000));
        json_t *probs = json_array();
        for (size_t i = 0; i < t->ncells; i++) {
            const con_cell *cl = &cells[i];
            json_t *p = json_pack("{s:s, s:i, s:i}", "problem_id", c->def->problems[i]->problem,
                                  "num_judged", cl->tries, "num_pending", cl->pending);
            if (ioi) {
                json_object_set_new(p, "score", json_real(cl->score));
                if (cl->score > 0)
                    json_object_set_new(p, "time", json_integer(cl->improved_ms / 60000));
            } else {
                json_object_set_new(p, "solved", json_boolean(cl->solved));
                if (cl->solved) {
                    json_object_set_new(p, "time", json_integer(cl->minutes));
                    json_object_set_new(p, "first_to_solve",
                                        json_boolean(first && first[i] == cl->solve_ms));
                }
            }
            json_array_append_new(probs, p);
        }
        json_array_append_new(rows, json_pack("{s:i, s:s, s:o, s:o}", "rank", ranks[r], "team_id",
                                              t->def->id, "score", score, "problems", probs));
    }
    free(first);
    free(order);
    free(ranks);
    con_viewer v = {jury, ""};
    int64_t at = c->ended_ms ? c->ended_ms : c->started_ms;
    return json_pack("{s:o, s:o, s:o, s:o}", "time", jtime(at ? at : c->def->start_at * 1000),
                     "contest_time", jrel(at ? con_contest_ms(c, at) : 0), "state",
                     o_state(c, &v), "rows", rows);
}

static json_t *o_access(void)
{
    static const char *const eps[][2] = {
        {"contest", "id,name,formal_name,start_time,duration,scoreboard_freeze_duration,"
                    "scoreboard_type,penalty_time"},
        {"judgement-types", "id,name,penalty,solved"},
        {"languages", "id,name,entry_point_required,extensions"},
        {"problems", "id,label,name,ordinal,rgb,color,time_limit,test_data_count,max_score"},
        {"organizations", "id,name,formal_name"},
        {"teams", "id,name,display_name,organization_id,group_ids,hidden"},
        {"state", "started,frozen,ended,thawed,finalized,end_of_updates"},
        {"submissions", "id,language_id,problem_id,team_id,time,contest_time,entry_point,files"},
        {"judgements", "id,submission_id,judgement_type_id,score,start_time,start_contest_time,"
                       "end_time,end_contest_time,max_run_time"},
        {"clarifications", "id,from_team_id,to_team_id,reply_to_id,problem_id,text,time,"
                           "contest_time"},
    };
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        json_t *props = json_array();
        char buf[256];
        snprintf(buf, sizeof buf, "%s", eps[i][1]);
        for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
            json_array_append_new(props, json_string(w));
        json_array_append_new(a, json_pack("{s:s, s:o}", "type", eps[i][0], "properties", props));
    }
    return json_pack("{s:[], s:o}", "capabilities", "endpoints", a);
}

/* A collection as an array, or one item of it (NULL when absent). */
static json_t *collection(con_model *m, const con_contest *c, const char *what, const char *item,
                          const con_viewer *v, bool *known)
{
    *known = true;
    json_t *a = json_array();
    if (!strcmp(what, "judgement-types")) {
        json_decref(a);
        return item ? o_jtype(c, item) : o_jtypes(c);
    } else if (!strcmp(what, "problems")) {
        for (size_t i = 0; i < c->def->n_problems; i++)
            if (!item || !strcmp(item, c->def->problems[i]->problem))
                json_array_append_new(a, o_problem(c, i));
    } else if (!strcmp(what, "organizations")) {
        size_t i = 0;
        const char *k;
        void *o;
        while (cc_map_next(&c->orgs, &i, &k, &o))
            if (!item || !strcmp(item, k))
                json_array_append_new(a, o_org(o));
    } else if (!strcmp(what, "teams")) {
        for (size_t i = 0; i < c->nteams; i++) {
            const con_team *t = c->team_list[i];
            if (!t->deleted && (!item || !strcmp(item, t->def->id)))
                json_array_append_new(a, o_team(t));
        }
    } else if (!strcmp(what, "languages")) {
        size_t i = 0;
        const char *k;
        void *o;
        while (cc_map_next(&c->langs, &i, &k, &o))
            if (!item || !strcmp(item, k))
                json_array_append_new(a, o_language(o));
    } else if (!strcmp(what, "submissions") || !strcmp(what, "judgements")) {
        bool subs = what[0] == 's';
        for (size_t i = 0; i < c->nfeed; i++) {
            const con_feed *e = &c->feed[i];
            if (subs ? e->kind != CON_F_SUBMISSION
                     : (e->kind != CON_F_JUDGEMENT && e->kind != CON_F_REVEAL))
                continue;
            const con_sub *s = e->obj;
            if (subs ? s->created_seq != e->token : judgement_token_for(c, s, v) != e->token)
                continue;
            char jid[32];
            judgement_id(s, jid);
            if (item && strcmp(item, subs ? s->id : jid) != 0)
                continue;
            json_array_append_new(a, subs ? o_submission(c, s) : o_judgement(c, s));
        }
    } else if (!strcmp(what, "clarifications")) {
        for (size_t i = 0; i < c->nclars; i++)
            if (clar_visible(c->clars[i], v) && (!item || !strcmp(item, c->clars[i]->def->id)))
                json_array_append_new(a, o_clar(c, c->clars[i]));
    } else {
        *known = false;
        json_decref(a);
        return NULL;
    }
    (void)m;
    if (!item)
        return a;
    json_t *one = json_incref(json_array_get(a, 0));
    json_decref(a);
    return one;
}

static char *not_found(int *status, const char *what)
{
    *status = 404;
    json_t *o = json_pack("{s:i, s:s}", "code", 404, "message", what);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

char *con_clics_get(con_model *m, const Codecourt__V1__ClicsRequest *rq, const char *user,
                    bool admin, int *status)
{
    *status = 200;
    json_t *out = NULL;
    con_viewer v;
    if (!strcmp(rq->path, "/api") || !strcmp(rq->path, "/api/")) {
        out = json_pack("{s:s, s:s, s:s}", "version", API_VERSION, "version_url", API_URL, "name",
                        "CodeCourt");
    } else if (!rq->contest[0]) {
        out = json_array();
        size_t i = 0;
        const char *k;
        void *c;
        while (cc_map_next(&m->contests, &i, &k, &c))
            if (con_viewer_for(c, user, admin, &v))
                json_array_append_new(out, o_contest(c));
    } else {
        con_contest *c = cc_map_get(&m->contests, rq->contest);
        if (!c || !con_viewer_for(c, user, admin, &v))
            return not_found(status, "no such contest");
        const char *what = rq->collection;
        const char *item = rq->item[0] ? rq->item : NULL;
        if (!what[0]) {
            out = o_contest(c);
        } else if (!strcmp(what, "state")) {
            out = o_state(c, &v);
        } else if (!strcmp(what, "scoreboard")) {
            out = o_scoreboard(c, v.jury);
        } else if (!strcmp(what, "access")) {
            out = o_access();
        } else {
            bool known;
            out = collection(m, c, what, item, &v, &known);
            if (!known)
                return not_found(status, "no such endpoint");
            if (!out)
                return not_found(status, "no such object");
        }
    }
    char *t = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(out);
    return t;
}
