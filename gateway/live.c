/* WebSocket /v1/live: a user's open sockets receive what is published on
 * cc.live.user.<their id>, and a socket opened with ?contest=<id> also
 * what cc-contest publishes for that contest: cc.live.contest.<id> (the
 * public scoreboard and announcements), or cc.live.contest.<id>.jury when
 * cc-contest says the caller is its jury (GetContest, with their
 * principal, decides, and refuses a private contest they have no part in
 * with 404). One NATS subscription per user with at least
 * one socket, made on the first and dropped with the last, so the gateway
 * receives only the traffic of users connected to it. Every live-check a
 * timer closes (1008) the sockets whose token expired, and asks Redis
 * whether the others' tokens were revoked meanwhile.
 *
 * The channel is one-way, but a client can still send frames, and wslay
 * buffers a message whole (it allocates a frame's declared length when
 * the frame starts, up to 2 GiB by default). So a message longer than
 * live-max-message, fragments counted together, is refused as its frame
 * starts, with close 1009 (wslay's own check), and more than
 * live-frame-rate frames a second (tiny or empty fragments and pings cost
 * no length, only time) close the socket with 1008.
 *
 * The other way, wslay queues every event for a socket until its client
 * reads it: a client that never reads would make the gateway hold every
 * event of its user. Past live-max-queued bytes the socket is dropped
 * (no close frame: it would wait behind the rest) and counted as
 * live-backlog; the events stay in the database for the client to read. */
#include <h2o/websocket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/log.h"
#include "codecourt/v1/contest.pb-c.h"
#include "gw.h"

typedef struct live_sock live_sock;
typedef struct live_user live_user;

struct live_sock {
    h2o_websocket_conn_t *ws;
    live_user *user;
    live_sock *next;
    uint64_t serial;     /* names the socket to Redis replies that may outlive it */
    char jti[65];
    int64_t exp;         /* the token's, Unix seconds */
    uint64_t closing_at; /* loop ms when a close frame was queued; 0: open */
    uint64_t frames_tat; /* GCRA of the frames received: their theoretical arrival, µs */
    cc_bus_sub *contest_sub; /* ?contest=: that contest's channel, this socket only */
    bool doomed;         /* over live-max-queued: dropped by the reaper */
};

struct live_user {
    char id[37];
    cc_bus_sub *sub;
    live_sock *socks;
    int nsocks;
    live_user *next;
};

static live_user *users;
static uv_timer_t check_timer, reap_timer;
static bool timer_on;
static gw_state *live_g;
static uint64_t next_serial = 1;

static live_user *find_user(const char *id)
{
    for (live_user *u = users; u; u = u->next)
        if (strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

static void drop_user(live_user *u)
{
    for (live_user **pp = &users; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    if (u->sub)
        cc_bus_unsubscribe(u->sub);
    free(u);
}

static void unlink_sock(live_sock *s);

/* Drops the sockets over live-max-queued, outside the NATS callback that
 * found them (dropping a user's last socket unsubscribes it). */
static void on_reap(uv_timer_t *t)
{
    (void)t;
    for (live_user *u = users, *un; u; u = un) {
        un = u->next;
        for (live_sock *s = u->socks, *sn; s; s = sn) {
            sn = s->next;
            if (!s->doomed)
                continue;
            h2o_websocket_conn_t *ws = s->ws;
            ws->data = NULL;
            cc_log(CC_LOG_INFO, NULL, "dropped a live socket", "{s:s, s:s}", "user", u->id,
                   "reason", "its client reads nothing");
            gw_count_closed("live-backlog");
            unlink_sock(s); /* may free u: un was read before */
            h2o_websocket_close(ws);
        }
    }
}

static void on_live_msg(cc_bus *b, natsMsg *m, void *ud)
{
    live_user *u = ud;
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    for (live_sock *s = u->socks; s; s = s->next) {
        if (s->doomed)
            continue;
        if (wslay_event_get_queued_msg_length(s->ws->ws_ctx) + (size_t)len >
            (size_t)live_g->cfg->live_max_queued) {
            s->doomed = true;
            uv_timer_start(&reap_timer, on_reap, 0, 0);
            continue;
        }
        struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)data, (size_t)len};
        wslay_event_queue_msg(s->ws->ws_ctx, &msg);
        h2o_websocket_proceed(s->ws);
    }
    natsMsg_Destroy(m);
}

static void unlink_sock(live_sock *s)
{
    if (s->contest_sub)
        cc_bus_unsubscribe(s->contest_sub);
    live_user *u = s->user;
    for (live_sock **pp = &u->socks; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (--u->nsocks == 0)
        drop_user(u);
    free(s);
}

static void on_ws(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    live_sock *s = ws->data;
    if (arg != NULL)
        return; /* the channel is one-way; pings are answered by wslay */
    if (s && wslay_event_get_status_code_sent(ws->ws_ctx) == WSLAY_CODE_MESSAGE_TOO_BIG)
        cc_log(CC_LOG_INFO, NULL, "closed a live socket", "{s:s, s:s}", "user", s->user->id,
               "reason", "message too big");
    if (s)
        unlink_sock(s);
    h2o_websocket_close(ws);
}

/* Queues a close frame (1008 policy violation) without sending it: for
 * wslay's callbacks, whose caller sends it. */
static void queue_close(live_sock *s, const char *why)
{
    if (s->closing_at)
        return;
    s->closing_at = uv_now(live_g->loop);
    cc_log(CC_LOG_INFO, NULL, "closing a live socket", "{s:s, s:s}", "user", s->user->id,
           "reason", why);
    wslay_event_queue_close(s->ws->ws_ctx, 1008, (const uint8_t *)why, strlen(why));
}

/* Queues a close frame (1008) and sends it; on_ws frees the socket when
 * the peer answers it, or the timer does a while later. s may be freed
 * when this returns. */
static void close_sock(live_sock *s, const char *why)
{
    if (s->closing_at)
        return;
    queue_close(s, why);
    h2o_websocket_proceed(s->ws);
}

/* Every frame the client sends, as it starts (wslay has read its header,
 * not yet its payload): live-frame-rate a second, as many at once. Beyond
 * that the socket reads nothing more and is closed. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)arg;
    h2o_websocket_conn_t *ws = ud;
    live_sock *s = ws->data;
    if (!s || s->closing_at)
        return;
    if (!gw_live_frame_ok(&s->frames_tat, uv_now(live_g->loop) * 1000,
                          (uint64_t)live_g->cfg->live_frame_rate)) {
        wslay_event_shutdown_read(ctx);
        queue_close(s, "too many frames");
    }
}

bool gw_live_frame_ok(uint64_t *tat, uint64_t now_us, uint64_t rate)
{
    uint64_t T = 1000000 / rate, tau = T * (rate - 1);
    uint64_t t = *tat > now_us ? *tat : now_us;
    if (t - now_us > tau)
        return false;
    *tat = t + T;
    return true;
}

static live_sock *find_sock(uint64_t serial)
{
    for (live_user *u = users; u; u = u->next)
        for (live_sock *s = u->socks; s; s = s->next)
            if (s->serial == serial)
                return s;
    return NULL;
}

static void on_revoked(cc_status st, const char *errmsg, const redisReply *rep, void *ud)
{
    uint64_t serial = (uint64_t)(uintptr_t)ud;
    /* Redis down: the socket stays; new sockets are refused meanwhile. */
    if (st != CC_OK || !rep || rep->type != REDIS_REPLY_INTEGER || rep->integer == 0)
        return;
    live_sock *s = find_sock(serial);
    if (s)
        close_sock(s, "token revoked");
}

static void on_tick(uv_timer_t *t)
{
    int64_t now = (int64_t)time(NULL);
    uint64_t now_ms = uv_now(t->loop);
    for (live_user *u = users, *un; u; u = un) {
        un = u->next;
        for (live_sock *s = u->socks, *sn; s; s = sn) {
            sn = s->next;
            if (s->closing_at) {
                /* The peer never answered the close frame. */
                if (now_ms - s->closing_at > 5000) {
                    h2o_websocket_conn_t *ws = s->ws;
                    ws->data = NULL;
                    unlink_sock(s);
                    h2o_websocket_close(ws);
                }
                continue;
            }
            if (s->exp <= now) {
                close_sock(s, "token expired");
                continue;
            }
            if (!live_g->redis)
                continue;
            char jti[96], usr[80];
            snprintf(jti, sizeof jti, "cc:revoked:jti:%s", s->jti);
            snprintf(usr, sizeof usr, "cc:revoked:user:%s", u->id);
            const char *argv[] = {"EXISTS", jti, usr};
            cc_redis_command(live_g->redis, 3, argv, NULL, on_revoked,
                             (void *)(uintptr_t)s->serial);
        }
    }
}

typedef struct {
    h2o_req_t *req;
    gw_state *g;
    gw_principal who;
    const char *key;
    bool pending;
    bool proto_live; /* the client offered the cc.live subprotocol */
    char contest[72]; /* ?contest=, or "" */
    char contest_subject[128];
    cc_envelope env;
} live_pending;

static void on_disposed(void *p)
{
    live_pending *lp = *(live_pending **)p;
    lp->req = NULL;
    if (!lp->pending)
        free(lp);
}

static void upgrade(live_pending *lp);

static void on_contest_msg(cc_bus *b, natsMsg *m, void *ud)
{
    live_sock *s = ud;
    (void)b;
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)natsMsg_GetData(m),
                                  (size_t)natsMsg_GetDataLength(m)};
    if (!s->closing_at) {
        wslay_event_queue_msg(s->ws->ws_ctx, &msg);
        h2o_websocket_proceed(s->ws);
    }
    natsMsg_Destroy(m);
}

static void on_contest(cc_status st, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    live_pending *lp = ud;
    lp->pending = false;
    h2o_req_t *req = lp->req;
    if (!req) {
        free(lp);
        return;
    }
    if (st == CC_NOT_FOUND) {
        gw_problem(req, GW_P_NOT_FOUND, errmsg, "contest");
        return;
    }
    if (st != CC_OK) {
        gw_problem(req, GW_P_UNAVAILABLE, "the contest service is unreachable", NULL);
        return;
    }
    const Codecourt__V1__Contest *c = (const void *)resp;
    snprintf(lp->contest_subject, sizeof lp->contest_subject,
             c->is_jury ? "cc.live.contest.%s.jury" : "cc.live.contest.%s", lp->contest);
    upgrade(lp);
}

static void on_checked(cc_status st, const gw_limit_result *r, void *ud)
{
    live_pending *lp = ud;
    lp->pending = false;
    h2o_req_t *req = lp->req;
    if (!req) {
        free(lp);
        return;
    }
    if (st != CC_OK) {
        gw_problem(req, GW_P_UNAVAILABLE, "revocation checks are unavailable", NULL);
        return;
    }
    if (r->revoked) {
        gw_problem(req, GW_P_INVALID_TOKEN, "token revoked", NULL);
        return;
    }
    if (!r->allowed) {
        gw_problem(req, GW_P_RATE_LIMITED, NULL, NULL);
        return;
    }
    if (lp->contest[0]) {
        Codecourt__V1__GetContestRequest rq = CODECOURT__V1__GET_CONTEST_REQUEST__INIT;
        rq.id = lp->contest;
        cc_status s = cc_rpc_call_async(cc_actor_bus(lp->g->actor), "contest", "GetContest",
                                        &lp->env, &rq.base, &codecourt__v1__contest__descriptor,
                                        cc_actor_runtime(lp->g->actor)->rpc_timeout_ms, on_contest,
                                        lp);
        if (s != CC_OK) {
            gw_problem(req, GW_P_UNAVAILABLE, "the contest service is unreachable", NULL);
            return;
        }
        lp->pending = true;
        return;
    }
    upgrade(lp);
}

/* The socket itself, once every check passed. */
static void upgrade(live_pending *lp)
{
    h2o_req_t *req = lp->req;
    live_user *u = find_user(lp->who.user_id);
    if (u && u->nsocks >= lp->g->cfg->max_live_per_user) {
        gw_problem(req, GW_P_TOO_MANY_SOCKETS, NULL, NULL);
        return;
    }
    live_sock *s = calloc(1, sizeof *s);
    if (!u) {
        u = calloc(1, sizeof *u);
        char subject[64];
        snprintf(subject, sizeof subject, "cc.live.user.%s", lp->who.user_id);
        if (!u || !s ||
            cc_bus_subscribe(cc_actor_bus(lp->g->actor), subject, NULL, on_live_msg, u,
                             &u->sub) != CC_OK) {
            free(u);
            free(s);
            gw_problem(req, GW_P_UNAVAILABLE, "cannot subscribe", NULL);
            return;
        }
        memcpy(u->id, lp->who.user_id, sizeof u->id);
        u->next = users;
        users = u;
    }
    if (!s) {
        if (u->nsocks == 0)
            drop_user(u);
        gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
        return;
    }
    s->user = u;
    s->next = u->socks;
    u->socks = s;
    u->nsocks++;
    s->serial = next_serial++;
    memcpy(s->jti, lp->who.jti, sizeof s->jti);
    s->exp = lp->who.exp;
    if (!timer_on) {
        live_g = lp->g;
        uv_timer_init(lp->g->loop, &check_timer);
        uv_unref((uv_handle_t *)&check_timer);
        uv_timer_init(lp->g->loop, &reap_timer);
        uv_unref((uv_handle_t *)&reap_timer);
        uv_timer_start(&check_timer, on_tick, (uint64_t)lp->g->cfg->live_check_ms,
                       (uint64_t)lp->g->cfg->live_check_ms);
        timer_on = true;
    }
    /* A browser that sent its token as a subprotocol needs one chosen:
     * cc.live, never the token. */
    if (lp->proto_live)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"),
                              0, NULL, H2O_STRLIT("cc.live"));
    if (lp->contest_subject[0] &&
        cc_bus_subscribe(cc_actor_bus(lp->g->actor), lp->contest_subject, NULL, on_contest_msg, s,
                         &s->contest_sub) != CC_OK)
        s->contest_sub = NULL; /* the user's own channel still works */
    s->ws = h2o_upgrade_to_websocket(req, lp->key, s, on_ws);
    /* Set before wslay reads anything: h2o starts reading once the 101
     * is written. */
    wslay_event_config_set_max_recv_msg_length(s->ws->ws_ctx,
                                               (uint64_t)lp->g->cfg->live_max_message);
    s->ws->ws_callbacks.on_frame_recv_start_callback = on_frame_start;
    wslay_event_config_set_callbacks(s->ws->ws_ctx, &s->ws->ws_callbacks);
}

int gw_live_handle(gw_state *g, h2o_req_t *req)
{
    live_pending *lp = calloc(1, sizeof *lp);
    if (!lp) {
        gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
        return 0;
    }
    /* Authentication comes first, so probing without a token learns
     * nothing else. */
    if (!gw_request_principal(req, &lp->who, true)) {
        free(lp);
        return 0;
    }
    const char *key = NULL;
    if (h2o_is_websocket_handshake(req, &key) != 0 || !key) {
        free(lp);
        gw_problem(req, GW_P_WEBSOCKET_REQUIRED,
                   "GET /v1/live over HTTP/1.1 with Upgrade: websocket", NULL);
        return 0;
    }
    lp->req = req;
    lp->g = g;
    lp->key = key;
    /* ?contest=<id>: a contest slug, checked with cc-contest. */
    if (req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
        const char *k = memmem(q, (size_t)(end - q), "contest=", 8);
        if (k && (k == q || k[-1] == '&')) {
            const char *v = k + 8;
            size_t n = 0;
            while (v + n < end && v[n] != '&' && n < sizeof lp->contest - 1 &&
                   ((v[n] >= 'a' && v[n] <= 'z') || (v[n] >= '0' && v[n] <= '9') || v[n] == '-'))
                n++;
            memcpy(lp->contest, v, n);
            lp->contest[n] = '\0';
        }
    }
    cc_envelope_new(&lp->env, "codecourt.v1.GetContestRequest");
    char principal[sizeof lp->who.user_id + sizeof lp->who.role + 1];
    snprintf(principal, sizeof principal, "%s:%s", lp->who.user_id, lp->who.role);
    cc_envelope_set_principal(&lp->env, principal);
    ssize_t pi = -1;
    while ((pi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"),
                                        pi)) >= 0) {
        h2o_iovec_t v = req->headers.entries[pi].value;
        if (h2o_contains_token(v.base, v.len, H2O_STRLIT("cc.live"), ','))
            lp->proto_live = true;
    }
    live_pending **slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, on_disposed);
    *slot = lp;
    lp->pending = true;
    cc_status s = g->redis ? gw_limit_check(g->redis, GW_RATE_USER, lp->who.user_id,
                                            &lp->who, on_checked, lp)
                           : CC_UNAVAILABLE;
    if (s != CC_OK)
        on_checked(CC_UNAVAILABLE, NULL, lp);
    return 0;
}

void gw_live_close_all(void)
{
    if (timer_on) {
        uv_close((uv_handle_t *)&check_timer, NULL);
        uv_close((uv_handle_t *)&reap_timer, NULL);
        timer_on = false;
    }
    while (users) {
        live_user *u = users;
        while (u->socks) {
            live_sock *s = u->socks;
            u->socks = s->next;
            if (s->contest_sub)
                cc_bus_unsubscribe(s->contest_sub);
            s->ws->data = NULL;
            h2o_websocket_close(s->ws);
            free(s);
        }
        users = u->next;
        if (u->sub)
            cc_bus_unsubscribe(u->sub);
        free(u);
    }
}
