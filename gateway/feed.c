/* GET /api/contests/{id}/event-feed: the CLICS event feed as a streaming
 * NDJSON response (application/x-ndjson), ?since_token=, ?types=,
 * ?stream=false for one read to the end of what is there.
 *
 * The feed's pages come from cc-contest (contest.GetEventFeed, with the
 * caller's principal, so it sees what they may see). In call order:
 *   token check -> rate limit (Redis, as every call) -> first page ->
 *   200 and its lines -> wait -> next page -> ...
 * Waiting: a message on the contest's live channel (cc.live.contest.<id>,
 * or .jury for a reader the page calls jury) is only a hint that the
 * feed moved; the page after the last token sent is the truth, so a hint
 * lost (NATS is best effort) costs at most the poll period. A newline
 * goes out when nothing did for keepalive-ms (the specification asks for
 * one at least every 120 s). h2o gets the next lines only after it asked
 * for them (proceed), so a slow reader slows its own feed and no other. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "codecourt/v1/contest.pb-c.h"
#include "gw.h"

/* How often an idle feed asks for a page anyway, and how long it may stay
 * silent. */
#define POLL_MS 2000
#define KEEPALIVE_MS 30000
#define PAGE_LINES 1000

typedef struct gw_feed gw_feed;
struct gw_feed {
    h2o_generator_t gen; /* first: h2o hands it back */
    h2o_req_t *req;      /* NULL once h2o let go of the request */
    gw_state *g;
    gw_principal who;
    bool authed;
    cc_envelope env;
    char contest[72];
    char since[32];
    char types[256];
    bool stream;
    bool started;     /* the 200 and its headers went out */
    bool sending;     /* h2o has lines it has not asked past yet */
    bool rpc_pending; /* a page is being asked for */
    bool want;        /* ask again as soon as the one in flight is done */
    bool final;       /* the response is ended */
    bool jury;
    cc_bus_sub *sub;
    uv_timer_t timer;
    bool timer_open;
    uint64_t last_out; /* loop ms of the last bytes sent */
    char *buf;
    h2o_iovec_t iov;
    gw_feed *next;
};

static gw_feed *feeds;

static void fetch(gw_feed *f);

/* ---- life --------------------------------------------------------------------- */

static void unlink_feed(gw_feed *f)
{
    for (gw_feed **pp = &feeds; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

static void timer_closed(uv_handle_t *h)
{
    gw_feed *f = h->data;
    f->timer_open = false;
    if (!f->rpc_pending)
        free(f);
}

/* Lets go of what the feed holds once h2o is done with the request; the
 * struct goes when its timer is closed and no page is in flight. */
static void release(gw_feed *f)
{
    if (f->sub) {
        cc_bus_unsubscribe(f->sub);
        f->sub = NULL;
    }
    free(f->buf);
    f->buf = NULL;
    unlink_feed(f);
    if (f->timer_open) {
        uv_timer_stop(&f->timer);
        uv_close((uv_handle_t *)&f->timer, timer_closed);
    } else if (!f->rpc_pending) {
        free(f);
    }
}

static void on_disposed(void *p)
{
    gw_feed *f = *(gw_feed **)p;
    f->req = NULL;
    release(f);
}

/* ---- sending ------------------------------------------------------------------ */

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    gw_feed *f = (gw_feed *)gen;
    (void)req;
    f->sending = false;
    free(f->buf);
    f->buf = NULL;
    if (f->want && !f->final) {
        f->want = false;
        fetch(f);
    }
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    gw_feed *f = (gw_feed *)gen;
    (void)req;
    f->final = true; /* the client went away; on_disposed cleans up */
}

/* Sends text (taken: freed after h2o is done with it); final ends the
 * response. */
static void send_text(gw_feed *f, char *text, size_t len, bool final)
{
    if (!f->req || f->final) {
        free(text);
        return;
    }
    if (!f->started) {
        f->started = true;
        f->req->res.status = 200;
        f->req->res.reason = "OK";
        h2o_add_header(&f->req->pool, &f->req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/x-ndjson"));
        h2o_add_header(&f->req->pool, &f->req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
        h2o_add_header_by_str(&f->req->pool, &f->req->res.headers,
                              H2O_STRLIT("access-control-allow-origin"), 0, NULL, H2O_STRLIT("*"));
        h2o_start_response(f->req, &f->gen);
    }
    f->buf = text;
    f->iov = h2o_iovec_init(text, len);
    f->sending = true;
    f->final = final;
    f->last_out = uv_now(f->g->loop);
    h2o_send(f->req, &f->iov, len ? 1 : 0, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

/* An error before the stream started, as the CLICS API writes errors. */
static void send_error(gw_feed *f, int status, const char *message)
{
    if (!f->req)
        return;
    json_t *o = json_pack("{s:i, s:s}", "code", status, "message", message);
    f->final = true;
    gw_send_json(f->req, status, o);
    json_decref(o);
}

/* ---- pages -------------------------------------------------------------------- */

static void on_hint(cc_bus *b, natsMsg *m, void *ud)
{
    gw_feed *f = ud;
    natsMsg_Destroy(m);
    (void)b;
    if (f->req && !f->final)
        fetch(f);
}

static void subscribe(gw_feed *f)
{
    char subject[128];
    snprintf(subject, sizeof subject, f->jury ? "cc.live.contest.%s.jury" : "cc.live.contest.%s",
             f->contest);
    if (cc_bus_subscribe(cc_actor_bus(f->g->actor), subject, NULL, on_hint, f, &f->sub) != CC_OK)
        f->sub = NULL; /* the poll still finds what changed */
}

static void on_page(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    gw_feed *f = ud;
    f->rpc_pending = false;
    if (!f->req) {
        if (!f->timer_open)
            free(f);
        return;
    }
    if (f->final)
        return;
    if (s != CC_OK) {
        if (!f->started) {
            int status = s == CC_INVALID ? 400 : s == CC_NOT_FOUND ? 404 : 503;
            send_error(f, status, errmsg ? errmsg : cc_status_str(s));
        } else if (s != CC_TIMEOUT && s != CC_UNAVAILABLE) {
            send_text(f, NULL, 0, true);
        }
        return; /* a temporary failure mid-stream: the poll asks again */
    }
    const Codecourt__V1__EventFeedPage *p = (const void *)resp;
    f->jury = p->jury;
    if (f->stream && !f->sub)
        subscribe(f);
    if (p->last_token[0])
        snprintf(f->since, sizeof f->since, "%s", p->last_token);
    bool end = !f->stream && !p->more;
    if (p->ndjson.len > 0 || !f->started || end) {
        /* A first page with nothing yet still opens the stream, with the
         * newline the specification allows as a keep-alive. */
        size_t n = p->ndjson.len ? p->ndjson.len : (f->started ? 0 : 1);
        char *text = malloc(n ? n : 1);
        if (!text) {
            send_text(f, NULL, 0, true);
            return;
        }
        if (p->ndjson.len)
            memcpy(text, p->ndjson.data, n);
        else if (n)
            text[0] = '\n';
        send_text(f, text, n, end);
    }
    if (p->more)
        f->want = true;
    if (f->want && !f->sending) {
        f->want = false;
        fetch(f);
    }
}

static void fetch(gw_feed *f)
{
    if (f->rpc_pending || f->sending || f->final) {
        f->want = true;
        return;
    }
    Codecourt__V1__EventFeedRequest rq = CODECOURT__V1__EVENT_FEED_REQUEST__INIT;
    rq.contest = f->contest;
    rq.since_token = f->since;
    rq.limit = PAGE_LINES;
    rq.types = f->types;
    cc_status s = cc_rpc_call_async(cc_actor_bus(f->g->actor), "contest", "GetEventFeed", &f->env,
                                    &rq.base, &codecourt__v1__event_feed_page__descriptor,
                                    cc_actor_runtime(f->g->actor)->rpc_timeout_ms, on_page, f);
    if (s == CC_OK)
        f->rpc_pending = true;
    else if (!f->started)
        send_error(f, 503, "the contest service is unreachable");
}

static void on_timer(uv_timer_t *t)
{
    gw_feed *f = t->data;
    if (!f->req || f->final || !f->started)
        return;
    uint64_t now = uv_now(t->loop);
    if (!f->sending && !f->rpc_pending && now - f->last_out >= KEEPALIVE_MS) {
        char *nl = malloc(1);
        if (nl) {
            nl[0] = '\n';
            send_text(f, nl, 1, false);
        }
        return;
    }
    fetch(f);
}

/* ---- the request -------------------------------------------------------------- */

static void query_param(h2o_req_t *req, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    if (req->query_at == SIZE_MAX)
        return;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *e = amp ? amp : end;
        if ((size_t)(e - q) > nl && !memcmp(q, name, nl) && q[nl] == '=') {
            size_t n = (size_t)(e - q - (ptrdiff_t)nl - 1);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, q + nl + 1, n);
            out[n] = '\0';
            /* Only what tokens and type lists are made of. */
            for (char *c = out; *c; c++)
                if (!(*c == ',' || *c == '-' || *c == '_' || (*c >= '0' && *c <= '9') ||
                      (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
                    *c = '_';
            return;
        }
        q = e + 1;
    }
}

static void on_checked(cc_status st, const gw_limit_result *r, void *ud)
{
    gw_feed *f = ud;
    f->rpc_pending = false;
    if (!f->req) {
        if (!f->timer_open)
            free(f);
        return;
    }
    if (st != CC_OK && f->authed) {
        send_error(f, 503, "revocation checks are unavailable");
        return;
    }
    if (st == CC_OK && r->revoked) {
        gw_problem(f->req, GW_P_INVALID_TOKEN, "token revoked", NULL);
        f->final = true;
        return;
    }
    if (st == CC_OK && !r->allowed) {
        gw_problem(f->req, GW_P_RATE_LIMITED, NULL, NULL);
        f->final = true;
        return;
    }
    uv_timer_start(&f->timer, on_timer, POLL_MS, POLL_MS);
    fetch(f);
}

int gw_feed_handle(gw_state *g, h2o_req_t *req, const char *contest, size_t clen,
                   const cc_envelope *env)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        gw_problem(req, GW_P_METHOD_NOT_ALLOWED, NULL, NULL);
        return 0;
    }
    gw_feed *f = calloc(1, sizeof *f);
    if (!f || clen == 0 || clen >= sizeof f->contest) {
        free(f);
        gw_problem(req, clen ? GW_P_INTERNAL : GW_P_NO_ROUTE, NULL, NULL);
        return 0;
    }
    f->env = *env;
    cc_envelope_set_type(&f->env, "codecourt.v1.EventFeedRequest");
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) >= 0) {
        if (!gw_request_principal(req, &f->who, false)) {
            free(f);
            return 0;
        }
        f->authed = true;
        char principal[sizeof f->who.user_id + sizeof f->who.role + 1];
        snprintf(principal, sizeof principal, "%s:%s", f->who.user_id, f->who.role);
        cc_envelope_set_principal(&f->env, principal);
    }
    f->req = req;
    f->g = g;
    memcpy(f->contest, contest, clen);
    query_param(req, "since_token", f->since, sizeof f->since);
    query_param(req, "types", f->types, sizeof f->types);
    char stream[8];
    query_param(req, "stream", stream, sizeof stream);
    f->stream = strcmp(stream, "false") != 0;
    f->gen.proceed = on_proceed;
    f->gen.stop = on_stop;
    uv_timer_init(g->loop, &f->timer);
    f->timer.data = f;
    f->timer_open = true;
    f->next = feeds;
    feeds = f;
    gw_feed **slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, on_disposed);
    *slot = f;
    char who[64];
    if (f->authed)
        snprintf(who, sizeof who, "%s", f->who.user_id);
    else
        gw_request_ip(g, req, who, sizeof who);
    f->rpc_pending = true; /* the Redis check holds it like a page */
    cc_status s = g->redis ? gw_limit_check(g->redis, f->authed ? GW_RATE_USER : GW_RATE_ANON,
                                            who, f->authed ? &f->who : NULL, on_checked, f)
                           : CC_UNAVAILABLE;
    if (s != CC_OK)
        on_checked(CC_UNAVAILABLE, NULL, f);
    return 0;
}

void gw_feed_close_all(void)
{
    for (gw_feed *f = feeds; f; f = f->next) {
        if (f->sub) {
            cc_bus_unsubscribe(f->sub);
            f->sub = NULL;
        }
        if (f->timer_open)
            uv_timer_stop(&f->timer);
        if (f->req && f->started && !f->final && !f->sending)
            send_text(f, NULL, 0, true);
        f->final = true;
    }
}
