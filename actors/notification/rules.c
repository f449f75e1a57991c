/* Which event gives which notification: a table (data). A new event type
 * is a row here plus its template files; the code path is the same for
 * every row. Templates are files <kind>.<channel>.<part> in the templates
 * folder (email: subject, txt, html; in-app: title, body) with {{name}}
 * variables: every scalar field of the event's message by its proto name,
 * plus the contact (username, email, display_name), app_name and link.
 * A template naming anything else stops the process at start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/buf.h"
#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/stats.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"
#include "codecourt/v1/user.pb-c.h"
#include "notify.h"

const char *const notify_channel_names[NOTIFY_NCHANNELS] = {"email", "inapp"};

const notify_rule notify_rules[] = {
    /* A welcome email for every new account. */
    {"cc.evt.user.registered",
     "welcome",
     &codecourt__v1__user_registered__descriptor,
     "user_id",
     {"user_id", NULL},
     "/v1/users/me",
     {true, false},
     {true, false}},
    /* Every verdict in-app; by email only when the user asks for it. */
    {"cc.evt.submission.judged",
     "verdict",
     &codecourt__v1__judge_result__descriptor,
     "user_id",
     {"submission_id", "attempt", NULL},
     "/v1/submissions/{{submission_id}}",
     {true, true},
     {false, true}},
    /* A rejudge that changed a verdict (cc-submission emits only those). */
    {"cc.evt.submission.rejudged",
     "rejudge",
     &codecourt__v1__submission_rejudged__descriptor,
     "user_id",
     {"submission_id", "attempt", NULL},
     "/v1/submissions/{{submission_id}}",
     {true, true},
     {true, true}},
    /* A contest's jury answered or announced (cc-contest emits one per user
     * it reaches; a team's question reaches the jury the same way). */
    {"cc.evt.contest.clarification_sent",
     "clarification",
     &codecourt__v1__clarification_notice__descriptor,
     "user_id",
     {"clarification_id", "user_id", NULL},
     "/v1/contests/{{contest}}/clarifications",
     {true, true},
     {false, true}},
    /* A problem published in a tag the user solves (cc-stats). */
    {"cc.evt.stats.problem_suggested",
     "new_problem",
     &codecourt__v1__problem_suggested__descriptor,
     "user_id",
     {"problem", "user_id", NULL},
     "/v1/problems/{{problem}}",
     {true, true},
     {false, true}},
};
const size_t notify_nrules = sizeof notify_rules / sizeof notify_rules[0];

/* Variables every template may use besides the event's fields. */
static const char *const extra_vars[] = {"username", "email", "display_name",
                                         "app_name", "link",  NULL};

const notify_rule *notify_rule_for_subject(const char *subject)
{
    for (size_t i = 0; i < notify_nrules; i++)
        if (!strcmp(notify_rules[i].subject, subject))
            return &notify_rules[i];
    return NULL;
}

const notify_rule *notify_rule_for_kind(const char *kind)
{
    for (size_t i = 0; i < notify_nrules; i++)
        if (!strcmp(notify_rules[i].kind, kind))
            return &notify_rules[i];
    return NULL;
}

static bool is_scalar(const ProtobufCFieldDescriptor *f)
{
    return f->label != PROTOBUF_C_LABEL_REPEATED && f->type != PROTOBUF_C_TYPE_MESSAGE &&
           f->type != PROTOBUF_C_TYPE_BYTES;
}

static bool var_known(const notify_rule *r, const char *name, size_t n)
{
    for (int i = 0; extra_vars[i]; i++)
        if (strlen(extra_vars[i]) == n && !memcmp(extra_vars[i], name, n))
            return true;
    for (unsigned i = 0; i < r->msg->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &r->msg->fields[i];
        if (is_scalar(f) && strlen(f->name) == n && !memcmp(f->name, name, n))
            return true;
    }
    return false;
}

/* Finds the next {{ name }} at or after p: *start and *end bound the whole
 * placeholder, name/n the trimmed name. False when there is none; an
 * unclosed "{{" sets *bad. */
static bool next_var(const char *p, const char **start, const char **end, const char **name,
                     size_t *n, bool *bad)
{
    const char *o = strstr(p, "{{");
    if (!o)
        return false;
    const char *c = strstr(o + 2, "}}");
    if (!c) {
        *bad = true;
        return false;
    }
    const char *a = o + 2, *b = c;
    while (a < b && (*a == ' ' || *a == '\t'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    *start = o;
    *end = c + 2;
    *name = a;
    *n = (size_t)(b - a);
    return true;
}

static cc_status check_vars(const notify_rule *r, const char *text, const char *what)
{
    const char *p = text, *s, *e, *name;
    size_t n;
    bool bad = false;
    while (next_var(p, &s, &e, &name, &n, &bad)) {
        if (!var_known(r, name, n))
            return cc_err_set(CC_INVALID, "template %s: unknown variable '%.*s' (event %s)", what,
                              (int)n, name, r->msg->name);
        p = e;
    }
    if (bad)
        return cc_err_set(CC_INVALID, "template %s: '{{' without '}}'", what);
    return CC_OK;
}

static cc_status load_file(const char *dir, const notify_rule *r, const char *channel,
                           const char *part, char **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s.%s", dir, r->kind, channel, part);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "template %s: %s", path, strerror(errno));
    cc_buf b = CC_BUF_INIT;
    char piece[4096];
    size_t k;
    while ((k = fread(piece, 1, sizeof piece, f)) > 0 && b.len <= (1u << 20))
        cc_buf_put(&b, piece, k);
    bool err = ferror(f);
    fclose(f);
    if (err || b.len > (1u << 20)) {
        cc_buf_free(&b);
        return cc_err_set(CC_IO, "template %s: unreadable or larger than 1 MiB", path);
    }
    size_t len;
    char *buf = cc_buf_take(&b, &len);
    if (!buf)
        return cc_err_set(CC_NOMEM, "template %s: out of memory", path);
    /* Subjects and titles are one line. */
    if (!strcmp(part, "subject") || !strcmp(part, "title"))
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
    cc_status s = check_vars(r, buf, path);
    if (s != CC_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return CC_OK;
}

void notify_templates_free(notify_tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < notify_nrules; i++) {
        free(t[i].subject);
        free(t[i].text);
        free(t[i].html);
        free(t[i].title);
        free(t[i].body);
    }
    free(t);
}

cc_status notify_templates_load(const char *dir, notify_tmpl **out)
{
    notify_tmpl *t = calloc(notify_nrules, sizeof *t);
    if (!t)
        return cc_err_set(CC_NOMEM, "out of memory");
    cc_status s = CC_OK;
    for (size_t i = 0; i < notify_nrules && s == CC_OK; i++) {
        const notify_rule *r = &notify_rules[i];
        IFOK(s, check_vars(r, r->link, "link"));
        if (r->channel[NOTIFY_EMAIL]) {
            IFOK(s, load_file(dir, r, "email", "subject", &t[i].subject));
            IFOK(s, load_file(dir, r, "email", "txt", &t[i].text));
            IFOK(s, load_file(dir, r, "email", "html", &t[i].html));
        }
        if (r->channel[NOTIFY_INAPP]) {
            IFOK(s, load_file(dir, r, "inapp", "title", &t[i].title));
            IFOK(s, load_file(dir, r, "inapp", "body", &t[i].body));
        }
    }
    if (s != CC_OK) {
        notify_templates_free(t);
        return s;
    }
    *out = t;
    return CC_OK;
}

json_t *notify_vars_from_msg(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char buf[64];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!is_scalar(f))
            continue;
        const char *p = (const char *)m + f->offset;
        json_t *v = NULL;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
            const char *sv = *(char *const *)p;
            v = json_string(sv ? sv : "");
            break;
        }
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
            snprintf(buf, sizeof buf, "%d", *(const int32_t *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            snprintf(buf, sizeof buf, "%u", *(const uint32_t *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            snprintf(buf, sizeof buf, "%g", *(const double *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_FLOAT:
            snprintf(buf, sizeof buf, "%g", (double)*(const float *)p);
            v = json_string(buf);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            v = json_string(*(const protobuf_c_boolean *)p ? "true" : "false");
            break;
        case PROTOBUF_C_TYPE_ENUM: {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
            v = json_string(ev ? ev->name : "");
            break;
        }
        default:
            break;
        }
        if (v)
            json_object_set_new(o, f->name, v);
    }
    return o;
}

static void put_html(cc_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            cc_buf_put(b, "&amp;", 5);
            break;
        case '<':
            cc_buf_put(b, "&lt;", 4);
            break;
        case '>':
            cc_buf_put(b, "&gt;", 4);
            break;
        case '"':
            cc_buf_put(b, "&quot;", 6);
            break;
        case '\'':
            cc_buf_put(b, "&#39;", 5);
            break;
        default:
            cc_buf_put(b, s, 1);
        }
    }
}

char *notify_render(const char *t, json_t *vars, bool html)
{
    cc_buf b = CC_BUF_INIT;
    const char *p = t, *s, *e, *name;
    size_t n;
    bool bad = false;
    while (next_var(p, &s, &e, &name, &n, &bad)) {
        cc_buf_put(&b, p, (size_t)(s - p));
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), name);
        const char *v = json_string_value(json_object_get(vars, key));
        if (v) {
            if (html)
                put_html(&b, v);
            else
                cc_buf_put(&b, v, strlen(v));
        }
        p = e;
    }
    cc_buf_put(&b, p, strlen(p));
    return cc_buf_take(&b, NULL);
}
