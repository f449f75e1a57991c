/* Events -> notifications. One durable consumer ("notify") reads all of
 * CC_EVENTS; a subject without a row in the rule table is acked at once.
 * For a known event: the user's preferences for its kind, the contact
 * (cc-user GetUserContact), the templates rendered, and one batch that
 * inserts the in-app row and the email row under their natural keys
 * (ON CONFLICT DO NOTHING), so a redelivered event adds nothing. Only a
 * row actually inserted is pushed live or handed to the mailer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/text.h"
#include "cc/trace.h"
#include "codecourt/v1/user.pb-c.h"
#include "notify.h"

#define RETRY_MS 1000

typedef struct ev {
    notify_state *st;
    cc_js_msg *m;
    const notify_rule *rule;
    const notify_tmpl *tmpl;
    ProtobufCMessage *msg;
    json_t *vars;
    char user_id[65];
    char key[320];
    bool want[NOTIFY_NCHANNELS];
    char to[256];
    bool inserted_inapp, inserted_email, add_failed;
    char *render[5]; /* subject, text, html, title, body */
    cc_envelope env; /* its traceparent is the delivery span's */
    cc_span span;    /* "notify deliver <kind>": from the event to its rows stored */
} ev;

static void ev_end(ev *c, cc_status s, const char *errmsg)
{
    if (c->span.recording) {
        cc_span_attr(&c->span, "codecourt.inapp", c->inserted_inapp ? "inserted" : "no");
        cc_span_attr(&c->span, "codecourt.email", c->inserted_email ? "inserted" : "no");
        if (s != CC_OK)
            cc_span_fail(&c->span, errmsg ? errmsg : cc_status_str(s));
    }
    cc_span_end(&c->span);
    if (s == CC_OK) {
        cc_js_ack(c->m);
    } else if (s == CC_UNAVAILABLE || s == CC_TIMEOUT || s == CC_CLOSED || s == CC_LIMIT ||
               s == CC_CONFLICT || s == CC_NOMEM) {
        cc_log(CC_LOG_WARN, &c->env, "event not handled; retrying", "{s:s, s:s}", "subject",
               cc_js_msg_subject(c->m), "error", errmsg ? errmsg : cc_status_str(s));
        cc_js_nak(c->m, RETRY_MS);
    } else {
        cc_log(CC_LOG_ERROR, &c->env, "event dropped", "{s:s, s:s}", "subject",
               cc_js_msg_subject(c->m), "error", errmsg ? errmsg : cc_status_str(s));
        cc_js_term(c->m);
    }
    if (c->msg)
        protobuf_c_message_free_unpacked(c->msg, NULL);
    json_decref(c->vars);
    for (int i = 0; i < 5; i++)
        free(c->render[i]);
    free(c);
}

static void live_push(ev *c, const cc_pg_result *r)
{
    /* createdAt as the API writes times: RFC 3339 (gw/json.h). */
    char when[CC_RFC3339_MAX];
    cc_rfc3339_text(when, (int64_t)strtoll(cc_pg_get(r, 0, 1), NULL, 10));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "type", "notification", "id",
                          cc_pg_get(r, 0, 0), "event", c->rule->kind, "title", c->render[3], "body",
                          c->render[4], "read", 0, "createdAt", when);
    if (!o)
        return;
    json_object_set(o, "link", json_object_get(c->vars, "link"));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    char subject[96];
    snprintf(subject, sizeof subject, "cc.live.user.%s", c->user_id);
    cc_envelope e;
    cc_envelope_child(&e, &c->env, "application/json");
    cc_bus_publish(cc_actor_bus(c->st->actor), subject, &e, NULL, text, strlen(text));
    free(text);
}

static void inapp_inserted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    ev *c = ud;
    if (s == CC_OK && cc_pg_nrows(r) == 1) {
        c->inserted_inapp = true;
        live_push(c, r);
    }
}

static void email_inserted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    ev *c = ud;
    if (s == CC_OK && cc_pg_nrows(r) == 1)
        c->inserted_email = true;
}

static void stored(cc_status s, const char *errmsg, void *ud)
{
    ev *c = ud;
    if (s == CC_OK && c->add_failed)
        s = CC_NOMEM;
    if (s == CC_OK) {
        cc_log(CC_LOG_INFO, &c->env, "event handled", "{s:s, s:s, s:s, s:b, s:b}", "event",
               c->rule->kind, "user_id", c->user_id, "key", c->key, "inapp", c->inserted_inapp,
               "email", c->inserted_email);
        if (c->inserted_email)
            notify_mail_kick(c->st);
    }
    ev_end(c, s, errmsg);
}

static void render_and_store(ev *c)
{
    const notify_tmpl *t = c->tmpl;
    const char *parts[5] = {t->subject, t->text, t->html, t->title, t->body};
    for (int i = 0; i < 5; i++) {
        bool used = i < 3 ? c->want[NOTIFY_EMAIL] : c->want[NOTIFY_INAPP];
        if (!used || !parts[i])
            continue;
        c->render[i] = notify_render(parts[i], c->vars, i == 2);
        if (!c->render[i]) {
            ev_end(c, CC_NOMEM, "out of memory");
            return;
        }
    }
    cc_pg_batch *b;
    cc_status s = cc_pg_batch_new(c->st->pg, &b);
    if (s != CC_OK) {
        ev_end(c, s, cc_err_msg());
        return;
    }
    const char *link = json_string_value(json_object_get(c->vars, "link"));
    char key[340];
    if (c->want[NOTIFY_INAPP]) {
        snprintf(key, sizeof key, "%s", c->key);
        cc_pg_param p[] = {CC_PG_TEXT(c->user_id),   CC_PG_TEXT(c->rule->kind),
                           CC_PG_TEXT(key),          CC_PG_TEXT(c->render[3]),
                           CC_PG_TEXT(c->render[4]), CC_PG_TEXT(link ? link : "")};
        IFOK(s, cc_pg_batch_add(b,
                                "INSERT INTO notifications (user_id, event, natural_key, title, "
                                "body, link) VALUES ($1, $2, $3, $4, $5, $6) "
                                "ON CONFLICT (natural_key) DO NOTHING "
                                "RETURNING id::text, extract(epoch from created_at)::bigint",
                                p, 6, inapp_inserted, c));
    }
    if (c->want[NOTIFY_EMAIL]) {
        /* Without an SMTP server the row still records what would have
         * been sent, as failed with the reason. */
        bool enabled = c->st->cfg->smtp_url[0] != '\0';
        cc_pg_param p[] = {CC_PG_TEXT(c->key),
                           CC_PG_TEXT(c->user_id),
                           CC_PG_TEXT(c->rule->kind),
                           CC_PG_TEXT(c->to),
                           CC_PG_TEXT(c->render[0]),
                           CC_PG_TEXT(c->render[1]),
                           CC_PG_TEXT(c->render[2]),
                           CC_PG_TEXT(enabled ? "pending" : "failed"),
                           CC_PG_TEXT(enabled ? "" : "email disabled: smtp-url is not set"),
                           CC_PG_TEXT(c->env.traceparent)};
        IFOK(s, cc_pg_batch_add(b,
                                "INSERT INTO emails (natural_key, user_id, event, to_addr, "
                                "subject, text_body, html_body, status, last_error, traceparent) "
                                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                                "ON CONFLICT (natural_key) DO NOTHING RETURNING id",
                                p, 10, email_inserted, c));
        if (!enabled)
            cc_log(CC_LOG_INFO, &c->env, "email disabled (smtp-url not set); not sent",
                   "{s:s, s:s}", "event", c->rule->kind, "user_id", c->user_id);
    }
    /* A statement that could not be added makes the event retried; the
     * ones added still run (their callbacks need c until stored). */
    c->add_failed = s != CC_OK;
    s = cc_pg_batch_run(b, stored, c);
    if (s != CC_OK)
        ev_end(c, s, cc_err_msg());
}

static void contact_done(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    ev *c = ud;
    if (s == CC_OK) {
        const Codecourt__V1__UserContact *uc = (const void *)resp;
        json_object_set_new(c->vars, "username", json_string(uc->username));
        json_object_set_new(c->vars, "display_name", json_string(uc->display_name));
        json_object_set_new(c->vars, "email", json_string(uc->email));
        snprintf(c->to, sizeof c->to, "%s", uc->email);
        if (uc->disabled)
            c->want[NOTIFY_EMAIL] = false;
    } else if (s == CC_NOT_FOUND) {
        /* No such user at cc-user: in-app only, unless the event itself
         * names an address (registered events do). */
        const char *em = json_string_value(json_object_get(c->vars, "email"));
        snprintf(c->to, sizeof c->to, "%s", em ? em : "");
    } else {
        ev_end(c, s == CC_UNAVAILABLE || s == CC_TIMEOUT ? s : CC_UNAVAILABLE, errmsg);
        return;
    }
    if (!c->to[0] || strlen(c->to) >= sizeof c->to - 1 || strpbrk(c->to, "\r\n<>"))
        c->want[NOTIFY_EMAIL] = false;
    if (!json_object_get(c->vars, "username"))
        json_object_set_new(c->vars, "username", json_string(""));
    if (!c->want[NOTIFY_EMAIL] && !c->want[NOTIFY_INAPP]) {
        ev_end(c, CC_OK, NULL);
        return;
    }
    render_and_store(c);
}

static void prefs_done(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    ev *c = ud;
    if (s != CC_OK) {
        ev_end(c, s, errmsg);
        return;
    }
    for (int i = 0; i < NOTIFY_NCHANNELS; i++)
        c->want[i] = c->rule->channel[i] && c->rule->on_by_default[i];
    for (int row = 0; row < cc_pg_nrows(r); row++)
        for (int i = 0; i < NOTIFY_NCHANNELS; i++)
            if (c->rule->channel[i] && !strcmp(cc_pg_get(r, row, 0), notify_channel_names[i]))
                c->want[i] = cc_pg_get(r, row, 1)[0] == 't';
    if (!c->want[NOTIFY_EMAIL] && !c->want[NOTIFY_INAPP]) {
        ev_end(c, CC_OK, NULL);
        return;
    }
    Codecourt__V1__GetUserContactRequest rq = CODECOURT__V1__GET_USER_CONTACT_REQUEST__INIT;
    rq.user_id = c->user_id;
    cc_envelope e;
    cc_envelope_child(&e, &c->env, NULL);
    e.principal[0] = '\0'; /* a service call: no user's authority */
    s = cc_rpc_call_async(cc_actor_bus(c->st->actor), "user", "GetUserContact", &e, &rq.base,
                          &codecourt__v1__user_contact__descriptor, 5000, contact_done, c);
    if (s != CC_OK)
        ev_end(c, CC_UNAVAILABLE, cc_err_msg());
}

static void notify_event_steps(ev *c);

void notify_on_event(cc_js_msg *m, void *ud)
{
    notify_state *st = ud;
    const notify_rule *rule = notify_rule_for_subject(cc_js_msg_subject(m));
    if (!rule) {
        cc_js_ack(m); /* not an event that notifies anyone */
        return;
    }
    ev *c = calloc(1, sizeof *c);
    if (!c) {
        cc_js_nak(m, RETRY_MS);
        return;
    }
    c->st = st;
    c->m = m;
    c->rule = rule;
    c->tmpl = &st->tmpl[rule - notify_rules];
    c->env = *cc_js_msg_envelope(m);
    char span_name[96];
    snprintf(span_name, sizeof span_name, "notify deliver %s", rule->kind);
    cc_span_enter(&c->span, span_name, CC_SPAN_INTERNAL, &c->env);
    char saved[56];
    cc_trace_push(c->env.traceparent, saved);
    notify_event_steps(c);
    cc_trace_pop(saved);
}

/* The event's first steps, inside its delivery span. */
static void notify_event_steps(ev *c)
{
    notify_state *st = c->st;
    const notify_rule *rule = c->rule;
    cc_js_msg *m = c->m;
    c->msg = protobuf_c_message_unpack(rule->msg, NULL, cc_js_msg_len(m), cc_js_msg_data(m));
    if (!c->msg) {
        ev_end(c, CC_PROTO, "malformed protobuf");
        return;
    }
    c->vars = notify_vars_from_msg(c->msg);
    if (!c->vars) {
        ev_end(c, CC_NOMEM, "out of memory");
        return;
    }
    const char *uid = json_string_value(json_object_get(c->vars, rule->user_field));
    if (!uid || !uid[0] || strlen(uid) >= sizeof c->user_id) {
        ev_end(c, CC_INVALID, "event names no user");
        return;
    }
    snprintf(c->user_id, sizeof c->user_id, "%s", uid);
    /* The natural key: the kind and the event's key fields. */
    size_t n = (size_t)snprintf(c->key, sizeof c->key, "%s", rule->kind);
    for (int i = 0; i < 3 && rule->key_fields[i] && n < sizeof c->key; i++) {
        const char *v = json_string_value(json_object_get(c->vars, rule->key_fields[i]));
        n += (size_t)snprintf(c->key + n, sizeof c->key - n, ":%s", v ? v : "");
    }
    if (n >= sizeof c->key) {
        ev_end(c, CC_INVALID, "natural key too long");
        return;
    }
    json_object_set_new(c->vars, "app_name", json_string(st->cfg->app_name));
    char *link = notify_render(rule->link, c->vars, false);
    if (!link) {
        ev_end(c, CC_NOMEM, "out of memory");
        return;
    }
    json_object_set_new(c->vars, "link", json_string(link));
    free(link);
    cc_pg_param p[] = {CC_PG_TEXT(c->user_id), CC_PG_TEXT(rule->kind)};
    cc_status s = cc_pg_query(st->pg,
                              "SELECT channel, enabled FROM preferences WHERE user_id = $1 "
                              "AND event = $2",
                              p, 2, prefs_done, c);
    if (s != CC_OK)
        ev_end(c, s, cc_err_msg());
}
