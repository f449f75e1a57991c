/* The mesh's NATS users and their permissions (see cc/mesh.h), and their
 * rendering as nats-server configuration. */
#include "cc/mesh.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

/* One row per service; docs/nats-permissions.md says why each rule is
 * there. Subjects a service serves (cc.rpc.<name>.>) and its inbox
 * (_INBOX.<name>.>) are added to every row by cc_mesh_perms_of. */
static const cc_mesh_service rows[] = {
    {.name = "gateway",
     /* It forwards the routed calls of signed-in users to the services:
      * only their public subjects (one token after the service), never a
      * caller-scoped cc.rpc.<service>.<caller>.<Method>. */
     .publish = LIST("cc.rpc.user.*", "cc.rpc.problem.*", "cc.rpc.submission.*", "cc.rpc.notify.*",
                     "cc.rpc.contest.*", "cc.rpc.stats.*"),
     /* Contest channels: cc.live.contest.<id> (public) and .<id>.jury,
      * which it subscribes to only for a caller cc-contest calls jury. */
     .subscribe = LIST("cc.live.user.*", "cc.live.contest.>")},
    {.name = "user", .publish = LIST("cc.evt.user.>"), .declares = LIST(CC_STREAM_EVENTS)},
    {.name = "problem", .publish = LIST("cc.evt.problem.>"), .declares = LIST(CC_STREAM_EVENTS)},
    {.name = "submission",
     .publish = LIST("cc.evt.submission.>", "cc.judge.job", "cc.live.user.*",
                     "cc.rpc.problem.GetProblem", "cc.rpc.problem.GetVersionManifest",
                     /* As itself: may this user submit in that contest? */
                     "cc.rpc.contest.submission.CheckSubmission",
                     /* An admin's order to a judge (SetJudgeState). */
                     CC_KV_JUDGES_CONTROL "*"),
     /* The judges' heartbeats, as they are written. */
     .subscribe = LIST(CC_KV_JUDGES_STATUS "*"),
     /* The owner of the judging queue declares it, its dead letters and
      * the judges' registry, so the judge needs no right to create or
      * change a stream. */
     .declares = LIST(CC_STREAM_EVENTS, CC_STREAM_JUDGE, CC_STREAM_JUDGE_DEAD,
                      CC_STREAM_JUDGES_KV),
     .consumers = LIST(CC_STREAM_EVENTS ".submission"),
     /* The registry read at start: its keys, then each key's last value. */
     .js_api = LIST("STREAM.INFO." CC_STREAM_JUDGES_KV, "STREAM.MSG.GET." CC_STREAM_JUDGES_KV)},
    {.name = "notify",
     .publish = LIST("cc.live.user.*", "cc.rpc.user.GetUserContact"),
     .declares = LIST(CC_STREAM_EVENTS),
     .consumers = LIST(CC_STREAM_EVENTS ".notify")},
    /* Read models (cc/projection.h): the service, and its reader, which
     * reads CC_EVENTS from the position the service's database holds
     * through a consumer it deletes and makes again at every start (its
     * own only). */
    {.name = "contest",
     /* A contest's problems are looked up as its jury sees them. */
     .publish = LIST("cc.evt.contest.>", "cc.live.contest.>", "cc.rpc.problem.GetProblem"),
     .declares = LIST(CC_STREAM_EVENTS)},
    {.name = "contest-reader",
     .consumers = LIST(CC_STREAM_EVENTS ".contest"),
     .js_api = LIST("CONSUMER.DELETE." CC_STREAM_EVENTS ".contest"),
     .reader = true},
    {.name = "stats", .publish = LIST("cc.evt.stats.>"), .declares = LIST(CC_STREAM_EVENTS)},
    {.name = "stats-reader",
     .consumers = LIST(CC_STREAM_EVENTS ".stats"),
     .js_api = LIST("CONSUMER.DELETE." CC_STREAM_EVENTS ".stats"),
     .reader = true},
    {.name = "kafka-bridge",
     .publish = LIST(CC_MESH_KAFKA_SUBJECTS),
     .consumers = LIST(CC_STREAM_EVENTS ".*")},
    /* The judge runs untrusted code: it may fetch test data as itself,
     * report the verdicts and progress of the jobs it takes (and a custom
     * run's answer, to cc-submission as itself), and work its
     * queue; nothing else (no principal-bearing RPC, no live updates, no
     * stream it could create or repoint). */
    {.name = "judge",
     .publish = LIST("cc.rpc.problem.judge.GetBlob", "cc.evt.submission.judged",
                     "cc.evt.submission.progress", "cc.rpc.submission.judge.FinishRun",
                     /* Its registration and heartbeat. */
                     CC_KV_JUDGES_STATUS "*"),
     /* The operator's orders (drain, disable, enable) as they come. */
     .subscribe = LIST(CC_KV_JUDGES_CONTROL "*"),
     .consumers =
         LIST(CC_STREAM_JUDGE "." CC_JUDGE_CONSUMER, CC_STREAM_JUDGE_DEAD "." CC_JUDGE_CONSUMER),
     /* A dead job is read, then deleted once its IE result is stored;
      * its own last order is read at start. */
     .js_api = LIST("STREAM.MSG.GET." CC_STREAM_JUDGE, "STREAM.MSG.DELETE." CC_STREAM_JUDGE,
                    "STREAM.MSG.GET." CC_STREAM_JUDGES_KV)},
    /* cc-admin backup and restore (admin/): the streams' own snapshot and
     * restore API, acknowledging snapshot chunks and sending restore
     * chunks, and reading messages back for their Nats-Msg-Id. */
    {.name = "backup",
     .publish = LIST("$JS.SNAPSHOT.ACK.>", "$JS.SNAPSHOT.RESTORE.>"),
     .js_api = LIST("STREAM.NAMES", "STREAM.INFO.*", "STREAM.SNAPSHOT.*", "STREAM.RESTORE.*",
                    "STREAM.DELETE.*", "STREAM.MSG.GET.*")},
    {.name = CC_MESH_ADMIN, .publish = LIST(">"), .subscribe = LIST(">"), .local_only = true},
};
#define NROWS (sizeof rows / sizeof rows[0])

const cc_mesh_service *cc_mesh_services(size_t *n)
{
    *n = NROWS;
    return rows;
}

const cc_mesh_service *cc_mesh_find(const char *name)
{
    for (size_t i = 0; name && i < NROWS; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static cc_status textf(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cc_status textf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n)
        return cc_err_set(CC_LIMIT, "mesh name too long");
    return CC_OK;
}

cc_status cc_mesh_user(const char *service, char *out, size_t n)
{
    return textf(out, n, "cc-%s", service);
}

cc_status cc_mesh_inbox_prefix(const char *service, char *out, size_t n)
{
    return textf(out, n, "_INBOX.%s", service);
}

cc_status cc_mesh_password_var(const char *service, char *out, size_t n)
{
    cc_status s = textf(out, n, "CC_NATS_PASSWORD_%s", service);
    for (char *c = out + strlen("CC_NATS_PASSWORD_"); s == CC_OK && *c; c++)
        *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
    return s;
}

/* ---- expanding a row ----------------------------------------------------- */

static const char *add(cc_mesh_perms *p, const char **list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *add(cc_mesh_perms *p, const char **list, size_t *n, const char *fmt, ...)
{
    if (*n == CC_MESH_MAX_RULES)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof p->buf - p->used;
    int w = vsnprintf(p->buf + p->used, room, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= room)
        return NULL;
    const char *s = p->buf + p->used;
    p->used += (size_t)w + 1;
    list[(*n)++] = s;
    return s;
}

#define ADD(p, which, ...)                                                                         \
    do {                                                                                           \
        if (!add((p), (p)->which, &(p)->n##which, __VA_ARGS__))                                    \
            return cc_err_set(CC_LIMIT, "permissions of %s do not fit", s->name);                  \
    } while (0)

/* The JetStream API of one durable consumer, durable being a name or "*";
 * into allow (deny false) or deny. */
static cc_status consumer_rules(cc_mesh_perms *p, const cc_mesh_service *s, const char *stream,
                                size_t slen, const char *durable, bool deny)
{
    static const char *const api[] = {"CONSUMER.DURABLE.CREATE", "CONSUMER.INFO",
                                      "CONSUMER.MSG.NEXT"};
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        if (deny)
            ADD(p, pub_deny, "$JS.API.%s.%.*s.%s", api[i], (int)slen, stream, durable);
        else
            ADD(p, pub_allow, "$JS.API.%s.%.*s.%s", api[i], (int)slen, stream, durable);
    }
    /* Acks, naks, in-progress and terms go to the reply subject of each
     * delivery, $JS.ACK.<stream>.<durable>.<counters...>. */
    if (deny)
        ADD(p, pub_deny, "$JS.ACK.%.*s.%s.>", (int)slen, stream, durable);
    else
        ADD(p, pub_allow, "$JS.ACK.%.*s.%s.>", (int)slen, stream, durable);
    return CC_OK;
}

/* A wildcard durable may not touch the durables other rows hold on the
 * same stream (they would lose the messages it pulled or acked). */
static cc_status deny_others(cc_mesh_perms *p, const cc_mesh_service *s, const char *stream,
                             size_t slen)
{
    for (size_t r = 0; r < NROWS; r++) {
        if (&rows[r] == s)
            continue;
        for (const char *const *c = rows[r].consumers; c && *c; c++) {
            const char *dot = strchr(*c, '.');
            if (!dot || (size_t)(dot - *c) != slen || strncmp(*c, stream, slen) != 0 ||
                strcmp(dot + 1, "*") == 0)
                continue;
            cc_status st = consumer_rules(p, s, stream, slen, dot + 1, true);
            if (st != CC_OK)
                return st;
        }
    }
    return CC_OK;
}

cc_status cc_mesh_perms_of(const cc_mesh_service *s, cc_mesh_perms *p)
{
    memset(p, 0, sizeof *p);
    for (const char *const *x = s->publish; x && *x; x++)
        ADD(p, pub_allow, "%s", *x);
    for (const char *const *x = s->declares; x && *x; x++) {
        ADD(p, pub_allow, "$JS.API.STREAM.CREATE.%s", *x);
        ADD(p, pub_allow, "$JS.API.STREAM.UPDATE.%s", *x);
    }
    for (const char *const *x = s->consumers; x && *x; x++) {
        const char *dot = strchr(*x, '.');
        if (!dot)
            return cc_err_set(CC_INVALID, "consumer '%s' of %s is not STREAM.DURABLE", *x, s->name);
        cc_status st = consumer_rules(p, s, *x, (size_t)(dot - *x), dot + 1, false);
        if (st == CC_OK && strcmp(dot + 1, "*") == 0)
            st = deny_others(p, s, *x, (size_t)(dot - *x));
        if (st != CC_OK)
            return st;
    }
    for (const char *const *x = s->js_api; x && *x; x++)
        ADD(p, pub_allow, "$JS.API.%s", *x);
    for (const char *const *x = s->subscribe; x && *x; x++)
        ADD(p, sub_allow, "%s", *x);
    if (!s->local_only) {
        if (!s->reader)
            ADD(p, sub_allow, "cc.rpc.%s.>", s->name);
        ADD(p, sub_allow, "_INBOX.%s.>", s->name);
        p->responses = !s->reader;
    }
    return CC_OK;
}

/* ---- matching ------------------------------------------------------------ */

bool cc_mesh_subject_matches(const char *pattern, const char *subject)
{
    const char *p = pattern, *s = subject;
    for (;;) {
        size_t pl = strcspn(p, "."), sl = strcspn(s, ".");
        if (pl == 1 && p[0] == '>')
            return sl > 0;
        if (!(pl == 1 && p[0] == '*') && (pl != sl || strncmp(p, s, pl) != 0))
            return false;
        if (pl == 1 && p[0] == '*' && sl == 0)
            return false;
        p += pl;
        s += sl;
        if (!*p || !*s)
            return !*p && !*s;
        p++;
        s++;
    }
}

static bool any_matches(const char *const *list, size_t n, const char *subject)
{
    for (size_t i = 0; i < n; i++)
        if (cc_mesh_subject_matches(list[i], subject))
            return true;
    return false;
}

bool cc_mesh_may_publish(const cc_mesh_service *s, const char *subject)
{
    cc_mesh_perms *p = malloc(sizeof *p);
    bool ok = p && cc_mesh_perms_of(s, p) == CC_OK &&
              any_matches(p->pub_allow, p->npub_allow, subject) &&
              !any_matches(p->pub_deny, p->npub_deny, subject);
    free(p);
    return ok;
}

bool cc_mesh_may_subscribe(const cc_mesh_service *s, const char *subject)
{
    cc_mesh_perms *p = malloc(sizeof *p);
    bool ok =
        p && cc_mesh_perms_of(s, p) == CC_OK && any_matches(p->sub_allow, p->nsub_allow, subject);
    free(p);
    return ok;
}

/* ---- nats-server configuration -------------------------------------------- */

typedef struct text {
    char *b;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !t->failed; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->b ? t->b + t->len : NULL, t->b ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->failed = true;
            return;
        }
        if (t->b && t->len + (size_t)w < t->cap) {
            t->len += (size_t)w;
            return;
        }
        size_t cap = (t->cap ? t->cap : 4096);
        while (cap <= t->len + (size_t)w)
            cap *= 2;
        char *nb = realloc(t->b, cap);
        if (!nb) {
            t->failed = true;
            return;
        }
        t->b = nb;
        t->cap = cap;
    }
}

static void put_list(text *t, const char *key, const char *const *list, size_t n)
{
    put(t, "        %s: [\n", key);
    for (size_t i = 0; i < n; i++)
        put(t, "          \"%s\"\n", list[i]);
    put(t, "        ]\n");
}

char *cc_mesh_nats_authorization(bool k8s, const char *(*password)(const char *service, void *ud),
                                 void *ud)
{
    text t = {0};
    cc_err_clear();
    cc_mesh_perms *p = malloc(sizeof *p);
    if (!p) {
        cc_err_set(CC_NOMEM, "out of memory");
        return NULL;
    }
    put(&t, "# Generated from runtime/src/mesh.c (the NATS users of the mesh and their\n"
            "# permissions; docs/nats-permissions.md): change it there, never here.\n");
    put(&t, "authorization {\n  users: [\n");
    for (size_t r = 0; r < NROWS && !t.failed; r++) {
        const cc_mesh_service *s = &rows[r];
        if (k8s && s->local_only)
            continue;
        char user[80], var[80];
        if (cc_mesh_perms_of(s, p) != CC_OK || cc_mesh_user(s->name, user, sizeof user) != CC_OK ||
            cc_mesh_password_var(s->name, var, sizeof var) != CC_OK) {
            t.failed = true;
            break;
        }
        const char *pw = k8s ? NULL : password(s->name, ud);
        if (!k8s && (!pw || strpbrk(pw, "\"\\\n"))) {
            cc_err_set(CC_INVALID, "no usable NATS password for %s", s->name);
            free(t.b);
            free(p);
            return NULL;
        }
        if (k8s)
            put(&t, "    { user: \"%s\", password: $%s, permissions: {\n", user, var);
        else
            put(&t, "    { user: \"%s\", password: \"%s\", permissions: {\n", user, pw);
        put(&t, "      publish: {\n");
        put_list(&t, "allow", p->pub_allow, p->npub_allow);
        if (p->npub_deny)
            put_list(&t, "deny", p->pub_deny, p->npub_deny);
        put(&t, "      }\n      subscribe: {\n");
        put_list(&t, "allow", p->sub_allow, p->nsub_allow);
        put(&t, "      }\n");
        /* One reply per request received, for as long as the slowest RPC
         * may take (Ping holds a request up to 10 minutes in tests). */
        if (p->responses)
            put(&t, "      allow_responses: { max: 1, expires: \"10m\" }\n");
        put(&t, "    } }\n");
    }
    put(&t, "  ]\n}\n");
    free(p);
    if (t.failed) {
        free(t.b);
        if (cc_err_last() == CC_OK)
            cc_err_set(CC_NOMEM, "out of memory rendering the NATS users");
        return NULL;
    }
    return t.b;
}
