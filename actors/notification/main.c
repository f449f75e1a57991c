/* cc-notify: in-app notifications, email over SMTP, templates, delivery
 * status and preferences. Serves cc.rpc.notify.* (schemas/codecourt/v1/
 * notification.proto); owns the cc_notification database; consumes
 * CC_EVENTS through the durable consumer "notify" (events.c) and sends
 * email with libcurl on the thread pool (mail.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "notify.h"

#ifndef CC_NOTIFY_MIGRATIONS
#define CC_NOTIFY_MIGRATIONS "migrations"
#endif
#ifndef CC_NOTIFY_TEMPLATES
#define CC_NOTIFY_TEMPLATES "templates"
#endif

static notify_settings cfg;
static notify_state state;

#define S(field) offsetof(notify_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_notification", 0, 0, NULL,
     "libpq conninfo of the cc_notification database"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_NOTIFY_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"templates", CC_CFG_STRING, S(templates), CC_NOTIFY_TEMPLATES, 0, 0, NULL,
     "folder of the <event>.<channel>.<part> templates (checked at start)"},
    {"smtp-url", CC_CFG_STRING, S(smtp_url), "", 0, 0, NULL,
     "SMTP server, smtp://host:port (STARTTLS when offered) or smtps://; empty: email "
     "disabled (emails are recorded as failed, and logged)"},
    {"smtp-from", CC_CFG_STRING, S(smtp_from), "CodeCourt <noreply@localhost>", 0, 0, NULL,
     "From: of every email"},
    {"smtp-user", CC_CFG_STRING, S(smtp_user), "", 0, 0, NULL, "SMTP AUTH user (empty: none)"},
    {"smtp-password", CC_CFG_STRING, S(smtp_password), "", 0, 0, NULL, "SMTP AUTH password"},
    {"smtp-timeout", CC_CFG_DURATION, S(smtp_timeout_ms), "30s", 100, 600000, NULL,
     "longest SMTP conversation for one message"},
    {"smtp-attempts", CC_CFG_INT, S(smtp_attempts), "10", 1, 1000, NULL,
     "tries before an email is marked failed"},
    {"smtp-retry-min", CC_CFG_DURATION, S(smtp_retry_min_ms), "5s", 10, 86400000, NULL,
     "delay before the first retry (doubled each time)"},
    {"smtp-retry-max", CC_CFG_DURATION, S(smtp_retry_max_ms), "30m", 10, 86400000, NULL,
     "longest delay between retries"},
    {"smtp-concurrency", CC_CFG_INT, S(smtp_concurrency), "2", 1, 64, NULL,
     "emails sent at once (each holds a thread of the pool)"},
    {"mail-poll", CC_CFG_DURATION, S(mail_poll_ms), "1s", 10, 3600000, NULL,
     "how often due emails (retries) are looked for"},
    {"app-name", CC_CFG_STRING, S(app_name), "CodeCourt", 0, 0, NULL, "{{app_name}} in templates"},
};
#undef S

#define AUTH CC_RPC_AUTH
#define M(name, req, resp, fn)                                                                     \
    {                                                                                              \
        name, &codecourt__v1__##req##__descriptor, &codecourt__v1__##resp##__descriptor, fn, AUTH  \
    }
static const cc_rpc_method methods[] = {
    M("ListNotifications", list_notifications_request, notification_list, notify_list),
    M("MarkRead", mark_read_request, notification, notify_mark_read),
    M("GetNotification", get_notification_request, notification, notify_get),
    M("MarkAllRead", mark_all_read_request, mark_all_read_reply, notify_mark_all_read),
    M("GetUnreadCount", get_unread_count_request, unread_count, notify_unread_count),
    M("GetPreferences", get_preferences_request, notification_preferences, notify_get_prefs),
    M("UpdatePreferences", update_preferences_request, notification_preferences,
      notify_update_prefs),
};
#undef M
#undef AUTH

notify_state *notify_state_of(void *actor)
{
    return cc_actor_state(actor);
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    if (cfg.smtp_retry_max_ms < cfg.smtp_retry_min_ms)
        return cc_err_set(CC_INVALID, "smtp-retry-max must not be below smtp-retry-min");
    /* Templates first: a bad one stops the process before anything runs. */
    cc_status s = notify_templates_load(cfg.templates, &state.tmpl);
    if (s != CC_OK)
        return s;
    IFOK(s, cc_actor_migrate(a, cfg.pg_conninfo, cfg.migrations));
    IFOK(s, cc_actor_open_db(a, cfg.pg_conninfo, &state.pg, NULL));
    cc_actor_set_state(a, &state);
    IFOK(s, notify_mail_start(&state));
    return s;
}

static void drain(cc_actor *a)
{
    state.stopping = true;
    notify_mail_stop(&state);
}

static void stop(cc_actor *a)
{
    state.stopping = true;
    notify_mail_stop(&state);
    cc_actor_close_db(&state.pg);
    notify_templates_free(state.tmpl);
    state.tmpl = NULL;
}

/* nats-server 2.9 takes one filter per consumer: the whole stream, and the
 * rule table decides. */
static const cc_actor_consumer consumers[] = {
    {{.stream = CC_STREAM_EVENTS,
      .durable = NOTIFY_DURABLE,
      .ack_wait_ms = 30000,
      .max_deliver = 1000,
      .max_inflight = 64},
     notify_on_event},
};

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "notify",
        .methods = methods,
        .nmethods = sizeof methods / sizeof methods[0],
        .consumers = consumers,
        .nconsumers = sizeof consumers / sizeof consumers[0],
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
