/* The RPC handlers: a user's own in-app notifications (list, mark read,
 * read all, unread count) and preferences. The principal set by the
 * gateway names the user; nothing in a request can.
 *
 * Each method reads top-down, its callbacks in the order they run:
 *  ListNotifications: notify_list (one batch: the page, the unread count)
 *                     -> list_rows -> list_count (reply).
 *  MarkRead, MarkAllRead, GetUnreadCount: one statement each -> reply.
 *  GetNotification:   one statement (the row and its email's) -> got_one
 *                     (reply with a delivery per channel).
 *  GetPreferences:    notify_get_prefs -> prefs_rows (reply).
 *  UpdatePreferences: notify_update_prefs (one transaction: the upserts,
 *                     then the stored choices read back) -> upserted ...
 *                     -> prefs_rows -> prefs_committed (reply). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "notify.h"

/* The caller's user id. Every method here is CC_RPC_AUTH, so the runtime
 * answered an anonymous caller already: never "". */
static const char *caller(const cc_rpc_call *call)
{
    return cc_rpc_principal(call)->id;
}

#define N_COLS "id::text, event, title, body, link, read, extract(epoch from created_at)::bigint"

static Codecourt__V1__Notification *from_row(cc_rpc_call *call, const cc_pg_result *r, int row)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Notification *n = cc_arena_alloc(a, sizeof *n);
    if (!n)
        return NULL;
    codecourt__v1__notification__init(n);
    n->id = cc_pg_text(a, r, row, 0);
    n->event = cc_pg_text(a, r, row, 1);
    n->title = cc_pg_text(a, r, row, 2);
    n->body = cc_pg_text(a, r, row, 3);
    n->link = cc_pg_text(a, r, row, 4);
    n->read = cc_pg_bool(r, row, 5);
    n->created_at = cc_pg_int(r, row, 6);
    if (!n->id || !n->event || !n->title || !n->body || !n->link)
        return NULL;
    return n;
}

/* ---- ListNotifications ------------------------------------------------------ */

typedef struct list_ctx {
    cc_rpc_call *call;
    Codecourt__V1__NotificationList out;
    int page;
    bool failed;
} list_ctx;

static void list_rows(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void list_count(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void notify_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListNotificationsRequest *rq = (const void *)req;
    const char *uid = caller(call);
    if (rq->page_size < 0 || rq->page_size > 100) {
        cc_rpc_fail(call, CC_INVALID, "pageSize: must be 1 to 100");
        return;
    }
    list_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    codecourt__v1__notification_list__init(&c->out);
    c->call = call;
    c->page = rq->page_size ? rq->page_size : 20;
    int cur_read = -1;
    char cur_id[24] = "0";
    if (rq->cursor[0]) {
        char *end;
        long rd = strtol(rq->cursor, &end, 10);
        const char *id = end;
        if ((rd != 0 && rd != 1) || *id != '.' || !id[1] || strlen(id + 1) >= sizeof cur_id ||
            strspn(id + 1, "0123456789") != strlen(id + 1)) {
            cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor of this list");
            return;
        }
        cur_read = (int)rd;
        snprintf(cur_id, sizeof cur_id, "%s", id + 1);
    }
    char rd[4], lim[16];
    snprintf(rd, sizeof rd, "%d", cur_read);
    snprintf(lim, sizeof lim, "%d", c->page + 1);
    cc_pg_batch *b;
    cc_status s = cc_pg_batch_new(notify_state_of(actor)->pg, &b);
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, cc_err_msg(), "list notifications");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(uid), CC_PG_TEXT(rd), CC_PG_TEXT(cur_id), CC_PG_TEXT(lim),
                       CC_PG_TEXT(rq->unread_only ? "t" : "f")};
    s = cc_pg_batch_add(b,
                        "SELECT " N_COLS " FROM notifications WHERE user_id = $1 "
                        "AND (NOT $5::boolean OR NOT read) "
                        "AND ($2::int < 0 OR read::int > $2::int "
                        "     OR (read::int = $2::int AND id < $3::bigint)) "
                        "ORDER BY read, id DESC LIMIT $4::int",
                        p, 5, list_rows, c);
    cc_pg_param q[] = {CC_PG_TEXT(uid)};
    IFOK(s, cc_pg_batch_add(b, "SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read",
                            q, 1, list_count, c));
    if (s != CC_OK) {
        c->failed = true; /* the callbacks still run but answer nothing */
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
    }
    s = cc_pg_batch_run(b, NULL, NULL);
    if (s != CC_OK && !c->failed)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list notifications");
}

static void list_rows(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (c->failed)
        return;
    if (s != CC_OK) {
        c->failed = true;
        cc_rpc_fail_db(c->call, s, errmsg, "list notifications");
        return;
    }
    int n = cc_pg_nrows(r);
    int take = n > c->page ? c->page : n;
    c->out.notifications =
        cc_arena_alloc(cc_rpc_arena(c->call), sizeof *c->out.notifications * (size_t)(take + 1));
    if (!c->out.notifications) {
        c->failed = true;
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < take; i++) {
        c->out.notifications[i] = from_row(c->call, r, i);
        if (!c->out.notifications[i]) {
            c->failed = true;
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
    }
    c->out.n_notifications = (size_t)take;
    if (n > c->page) {
        /* The cursor is the last row's place in the order (read, id desc). */
        const Codecourt__V1__Notification *last = c->out.notifications[take - 1];
        char cur[48];
        snprintf(cur, sizeof cur, "%d.%s", last->read ? 1 : 0, last->id);
        c->out.next_cursor = cc_arena_strdup(cc_rpc_arena(c->call), cur);
    }
}

static void list_count(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (c->failed)
        return;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "count notifications");
        return;
    }
    c->out.unread_count = cc_pg_int(r, 0, 0);
    cc_rpc_reply(c->call, &c->out.base);
}

/* ---- GetNotification: one, with its delivery per channel ---------------------- */

static void got_one(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

/* The email of a notification is the row with the same natural key (both
 * are written for one event by events.c). */
void notify_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetNotificationRequest *rq = (const void *)req;
    size_t n = strlen(rq->id);
    if (n == 0 || n > 18 || strspn(rq->id, "0123456789") != n) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no such notification");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->id), CC_PG_TEXT(caller(call))};
    cc_status s = cc_pg_query(
        notify_state_of(actor)->pg,
        "SELECT n.id::text, n.event, n.title, n.body, n.link, n.read, "
        "extract(epoch from n.created_at)::bigint, e.status, e.attempts, e.last_error, "
        "coalesce(extract(epoch from e.sent_at)::bigint, 0) "
        "FROM notifications n LEFT JOIN emails e "
        "ON e.natural_key = n.natural_key AND e.user_id = n.user_id "
        "WHERE n.id = $1::bigint AND n.user_id = $2",
        p, 2, got_one, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "get notification");
}

static void got_one(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (!cc_rpc_one_row(call, s, errmsg, r, "get notification", "id: no such notification"))
        return;
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Notification *n = from_row(call, r, 0);
    bool email = !cc_pg_isnull(r, 0, 7);
    Codecourt__V1__NotificationDelivery *d = cc_arena_alloc(a, 2 * sizeof *d);
    Codecourt__V1__NotificationDelivery **dp = cc_arena_alloc(a, 2 * sizeof *dp);
    if (!n || !d || !dp) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__notification_delivery__init(&d[0]);
    d[0].channel = "inapp";
    d[0].status = n->read ? "read" : "delivered";
    dp[0] = &d[0];
    n->n_deliveries = 1;
    if (email) {
        codecourt__v1__notification_delivery__init(&d[1]);
        d[1].channel = "email";
        d[1].status = cc_pg_text(a, r, 0, 7);
        d[1].attempts = (int32_t)cc_pg_int(r, 0, 8);
        d[1].last_error = cc_pg_text(a, r, 0, 9);
        d[1].sent_at = cc_pg_int(r, 0, 10);
        if (!d[1].status || !d[1].last_error) {
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
            return;
        }
        dp[1] = &d[1];
        n->n_deliveries = 2;
    }
    n->deliveries = dp;
    cc_rpc_reply(call, &n->base);
}

/* ---- MarkRead, MarkAllRead, GetUnreadCount ------------------------------------ */

static void marked_one(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void marked_all(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void counted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void notify_mark_read(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__MarkReadRequest *rq = (const void *)req;
    const char *uid = caller(call);
    size_t n = strlen(rq->id);
    if (n == 0 || n > 18 || strspn(rq->id, "0123456789") != n) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no such notification");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->id), CC_PG_TEXT(uid)};
    cc_status s = cc_pg_query(notify_state_of(actor)->pg,
                              "UPDATE notifications SET read = true, "
                              "read_at = coalesce(read_at, now()) "
                              "WHERE id = $1::bigint AND user_id = $2 RETURNING " N_COLS,
                              p, 2, marked_one, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "mark read");
}

static void marked_one(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (!cc_rpc_one_row(call, s, errmsg, r, "mark read", "id: no such notification"))
        return;
    Codecourt__V1__Notification *n = from_row(call, r, 0);
    if (!n) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    cc_rpc_reply(call, &n->base);
}

void notify_mark_all_read(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const char *uid = caller(call);
    cc_pg_param p[] = {CC_PG_TEXT(uid)};
    cc_status s = cc_pg_query(notify_state_of(actor)->pg,
                              "UPDATE notifications SET read = true, read_at = now() "
                              "WHERE user_id = $1 AND NOT read",
                              p, 1, marked_all, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "mark all read");
}

static void marked_all(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "mark all read");
        return;
    }
    Codecourt__V1__MarkAllReadReply out = CODECOURT__V1__MARK_ALL_READ_REPLY__INIT;
    out.marked = cc_pg_affected(r);
    cc_rpc_reply(call, &out.base);
}

void notify_unread_count(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const char *uid = caller(call);
    cc_pg_param p[] = {CC_PG_TEXT(uid)};
    cc_status s = cc_pg_query(notify_state_of(actor)->pg,
                              "SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read",
                              p, 1, counted, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "unread count");
}

static void counted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "unread count");
        return;
    }
    Codecourt__V1__UnreadCount out = CODECOURT__V1__UNREAD_COUNT__INIT;
    out.count = cc_pg_int(r, 0, 0);
    cc_rpc_reply(call, &out.base);
}

/* ---- preferences ------------------------------------------------------------- */

/* Every (event, channel) of the rule table with the stored choice or the
 * default. */
typedef struct prefs_ctx {
    cc_rpc_call *call;
    Codecourt__V1__NotificationPreferences out;
    bool built;
    bool in_tx; /* UpdatePreferences: answer once committed */
} prefs_ctx;

#define PREFS_SQL "SELECT event, channel, enabled FROM preferences WHERE user_id = $1"

static void prefs_rows(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void upserted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void prefs_committed(cc_status s, const char *errmsg, void *ud);

static prefs_ctx *prefs_new(cc_rpc_call *call, bool in_tx)
{
    prefs_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->in_tx = in_tx;
    return c;
}

static cc_status query_prefs(cc_pg_batch *b, const char *uid, prefs_ctx *c)
{
    cc_pg_param p[] = {CC_PG_TEXT(uid)};
    return cc_pg_batch_add(b, PREFS_SQL, p, 1, prefs_rows, c);
}

void notify_get_prefs(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const char *uid = caller(call);
    prefs_ctx *c = prefs_new(call, false);
    if (!c)
        return;
    cc_pg_batch *b = NULL;
    cc_status s = cc_pg_batch_new(notify_state_of(actor)->pg, &b);
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, cc_err_msg(), "preferences");
        return;
    }
    s = query_prefs(b, uid, c);
    if (s != CC_OK) {
        cc_pg_batch_run(b, NULL, NULL); /* empty: frees it */
        cc_rpc_fail_db(call, s, cc_err_msg(), "preferences");
        return;
    }
    s = cc_pg_batch_run(b, NULL, NULL);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "preferences");
}

static void prefs_rows(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    prefs_ctx *c = ud;
    cc_rpc_call *call = c->call;
    if (s != CC_OK) {
        if (!c->in_tx)
            cc_rpc_fail_db(call, s, errmsg, "preferences");
        return;
    }
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__NotificationPreferences out = CODECOURT__V1__NOTIFICATION_PREFERENCES__INIT;
    out.preferences = cc_arena_alloc(a, sizeof *out.preferences * notify_nrules * NOTIFY_NCHANNELS);
    if (!out.preferences) {
        if (!c->in_tx)
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < notify_nrules; i++) {
        const notify_rule *rule = &notify_rules[i];
        for (int ch = 0; ch < NOTIFY_NCHANNELS; ch++) {
            if (!rule->channel[ch])
                continue;
            Codecourt__V1__NotificationPreference *p = cc_arena_alloc(a, sizeof *p);
            if (!p) {
                if (!c->in_tx)
                    cc_rpc_fail(call, CC_NOMEM, "out of memory");
                return;
            }
            codecourt__v1__notification_preference__init(p);
            p->event = (char *)rule->kind;
            p->channel = (char *)notify_channel_names[ch];
            p->enabled = rule->on_by_default[ch];
            for (int row = 0; row < cc_pg_nrows(r); row++)
                if (!strcmp(cc_pg_get(r, row, 0), rule->kind) &&
                    !strcmp(cc_pg_get(r, row, 1), notify_channel_names[ch]))
                    p->enabled = cc_pg_bool(r, row, 2);
            out.preferences[out.n_preferences++] = p;
        }
    }
    c->out = out;
    c->built = true;
    if (!c->in_tx)
        cc_rpc_reply(call, &c->out.base);
}

void notify_update_prefs(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__UpdatePreferencesRequest *rq = (const void *)req;
    const char *uid = caller(call);
    if (rq->n_preferences > 64) {
        cc_rpc_fail(call, CC_INVALID, "preferences: at most 64");
        return;
    }
    for (size_t i = 0; i < rq->n_preferences; i++) {
        const Codecourt__V1__NotificationPreference *p = rq->preferences[i];
        const notify_rule *rule = notify_rule_for_kind(p->event);
        if (!rule) {
            cc_rpc_fail(call, CC_INVALID, "preferences[%zu].event: unknown event '%s'", i,
                        p->event);
            return;
        }
        int ch = -1;
        for (int k = 0; k < NOTIFY_NCHANNELS; k++)
            if (!strcmp(p->channel, notify_channel_names[k]) && rule->channel[k])
                ch = k;
        if (ch < 0) {
            cc_rpc_fail(call, CC_INVALID, "preferences[%zu].channel: '%s' is not a channel of %s",
                        i, p->channel, p->event);
            return;
        }
    }
    /* One transaction for the upserts; the answer is read inside it, so
     * it shows exactly what was stored. */
    cc_pg_tx *tx;
    cc_status s = cc_pg_begin(notify_state_of(actor)->pg, &tx);
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, cc_err_msg(), "preferences");
        return;
    }
    for (size_t i = 0; i < rq->n_preferences && s == CC_OK; i++) {
        const Codecourt__V1__NotificationPreference *p = rq->preferences[i];
        cc_pg_param q[] = {CC_PG_TEXT(uid), CC_PG_TEXT(p->event), CC_PG_TEXT(p->channel),
                           CC_PG_TEXT(p->enabled ? "t" : "f")};
        s = cc_pg_tx_query(tx,
                           "INSERT INTO preferences (user_id, event, channel, enabled) "
                           "VALUES ($1, $2, $3, $4::boolean) ON CONFLICT (user_id, event, channel) "
                           "DO UPDATE SET enabled = excluded.enabled, updated_at = now()",
                           q, 4, upserted, NULL);
    }
    prefs_ctx *c = prefs_new(call, true);
    if (!c) {
        cc_pg_tx_rollback(tx, NULL, NULL);
        return;
    }
    cc_pg_param q[] = {CC_PG_TEXT(uid)};
    IFOK(s, cc_pg_tx_query(tx, PREFS_SQL, q, 1, prefs_rows, c));
    if (s != CC_OK) {
        cc_pg_tx_rollback(tx, NULL, NULL);
        cc_rpc_fail_db(call, s, cc_err_msg(), "preferences");
        return;
    }
    cc_pg_tx_commit(tx, prefs_committed, c);
}

static void upserted(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    (void)s;
    (void)errmsg;
    (void)r;
    (void)ud; /* the SELECT after it reports; a failure here fails the batch */
}

static void prefs_committed(cc_status s, const char *errmsg, void *ud)
{
    prefs_ctx *c = ud;
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, errmsg, "preferences");
    else if (!c->built)
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
    else
        cc_rpc_reply(c->call, &c->out.base);
}
