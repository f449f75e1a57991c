/* cc-notify's internal contract: settings, state, the event rule table and
 * templates (rules.c), the event consumer (events.c), the mailer (mail.c)
 * and the RPC handlers (api.c). Internal prefix: notify_. */
#ifndef CC_NOTIFY_H
#define CC_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/pg.h"
#include "codecourt/v1/notification.pb-c.h"

#define NOTIFY_DURABLE "notify"

/* Settings (one row each in main.c; env CC_<NAME>). */
typedef struct notify_settings {
    char *pg_conninfo;
    char *migrations;
    char *templates; /* folder of <kind>.<channel>.<part> files */
    char *smtp_url;  /* "" = email disabled (rows stored as failed) */
    char *smtp_from; /* "CodeCourt <noreply@localhost>" */
    char *smtp_user;
    char *smtp_password;
    int64_t smtp_timeout_ms; /* one SMTP conversation */
    int64_t smtp_attempts;   /* tries before a message is failed */
    int64_t smtp_retry_min_ms;
    int64_t smtp_retry_max_ms;
    int64_t smtp_concurrency; /* messages being sent at once (thread pool) */
    int64_t mail_poll_ms;     /* how often due messages are looked for */
    char *app_name;           /* {{app_name}} in templates */
} notify_settings;

/* Channels a rule can notify on. */
enum { NOTIFY_EMAIL = 0, NOTIFY_INAPP = 1, NOTIFY_NCHANNELS };
extern const char *const notify_channel_names[NOTIFY_NCHANNELS];

/* One row of the event -> notification table (rules.c). */
typedef struct notify_rule {
    const char *subject;                   /* "cc.evt.submission.judged" */
    const char *kind;                      /* "verdict": template names, preferences */
    const ProtobufCMessageDescriptor *msg; /* the event's message */
    const char *user_field;                /* field holding the user id */
    const char *key_fields[3];             /* natural key of the event (at most 3; NULL-ended) */
    const char *link;                     /* a template, e.g. "/v1/submissions/{{submission_id}}" */
    bool channel[NOTIFY_NCHANNELS];       /* which channels exist */
    bool on_by_default[NOTIFY_NCHANNELS]; /* when the user chose nothing */
} notify_rule;

extern const notify_rule notify_rules[];
extern const size_t notify_nrules;

/* Templates of one rule, loaded at start (NULL for a channel it lacks). */
typedef struct notify_tmpl {
    char *subject, *text, *html; /* email */
    char *title, *body;          /* in-app */
} notify_tmpl;

typedef struct notify_state {
    cc_actor *actor;
    const notify_settings *cfg;
    cc_pg *pg;
    notify_tmpl *tmpl; /* one per rule */
    bool stopping;
    /* mailer */
    uv_timer_t mail_timer;
    bool mail_timer_open;
    bool claiming;
    int sending;
    bool kick;
} notify_state;

notify_state *notify_state_of(void *actor);

/* ---- rules.c ------------------------------------------------------------- */

const notify_rule *notify_rule_for_subject(const char *subject);
const notify_rule *notify_rule_for_kind(const char *kind);
/* Loads and checks every template the table names: a missing file or a
 * variable that is not a field of the event (nor a contact variable) is
 * an error naming the file. On CC_OK *out holds notify_nrules entries. */
cc_status notify_templates_load(const char *dir, notify_tmpl **out);
void notify_templates_free(notify_tmpl *t);
/* The event's variables: every scalar field by its proto name. New
 * object, or NULL when out of memory. */
json_t *notify_vars_from_msg(const ProtobufCMessage *m);
/* Replaces each {{name}} of t with the variable's text (HTML-escaped when
 * html). Returns a malloc'd string or NULL when out of memory. */
char *notify_render(const char *t, json_t *vars, bool html);

/* ---- events.c ------------------------------------------------------------ */
/* The handler of the durable consumer NOTIFY_DURABLE of CC_EVENTS (a row of
 * main.c's table; ud is the actor's notify_state). */
void notify_on_event(cc_js_msg *m, void *ud);

/* ---- mail.c -------------------------------------------------------------- */
cc_status notify_mail_start(notify_state *st);
/* Looks for due messages now (a new email row was committed). */
void notify_mail_kick(notify_state *st);
void notify_mail_stop(notify_state *st);

/* ---- api.c (cc_rpc_fn) --------------------------------------------------- */
void notify_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_mark_read(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_mark_all_read(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_unread_count(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_get_prefs(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void notify_update_prefs(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

#endif
