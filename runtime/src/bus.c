/* NATS on the actor's loop. See cc/bus.h for the threading rule. */
#include "cc/bus.h"

#include "nats_uv.h"
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/mesh.h"
#include "cc/metrics.h"
#include "cc/text.h"

enum { REQ_BUCKETS = 1024, RELEASE_MAX = 256 };

struct cc_bus_sub {
    cc_bus *b;
    natsSubscription *ns;
    cc_bus_handler h;
    void *ud;
    bool closed;
    cc_bus_sub *next;
};



typedef struct cc__req {
    uint64_t token;
    uv_timer_t timer;
    cc_bus_reply_cb cb;
    void *ud;
    cc_bus *b;
    struct cc__req *next;
} cc__req;

struct cc_bus {
    uv_loop_t *loop;
    natsConnection *nc;
    natsOptions *opts;
    /* Subscriptions are synchronous ones: the loop reads the socket (the
     * libuv adapter) and nats.c queues each message on its subscription,
     * then this check handle, which libuv runs right after the poll phase
     * of the same iteration, hands them to their handlers. No thread of
     * nats.c's delivers messages, so none has to wake the loop. */
    uv_check_t drain;
    uv_timer_t safety; /* drains now and then in case a message was queued
                          outside a loop iteration (e.g. during reconnect) */
    int closing_handles;
    int flush_ticks;
    cc_bus_sub *subs;
    char service[64];
    char ca_file[4096];    /* the CA this bus trusts, "" without one */
    char inbox_prefix[80]; /* "_INBOX" or "_INBOX.<service>" */
    char inbox[128];       /* this bus's reply inbox, "<prefix>.<nuid>." */
    size_t inbox_len;
    cc_bus_sub *reply_sub;
    cc__req *reqs[REQ_BUCKETS];
    uint64_t next_token;
    int work;
    natsMsg *released[RELEASE_MAX]; /* see cc_bus_msg_release */
    int nreleased;
    bool closing;
    void (*close_done)(void *);
    void *close_ud;
};

/* Frees the subscriptions cc_bus_unsubscribe marked. Called after the walk
 * of drain_subs, where no handler runs: until this existed they stayed on
 * the list until the bus closed, each with its natsSubscription, and every
 * walk visited them (the gateway subscribes and unsubscribes once per live
 * socket: its RSS grew 24 KiB a minute in the soak test). */
static void sweep_subs(cc_bus *b)
{
    for (cc_bus_sub **pp = &b->subs; *pp;) {
        cc_bus_sub *s = *pp;
        if (!s->closed) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        natsSubscription_Destroy(s->ns);
        free(s);
    }
}

static void drain_subs(cc_bus *b)
{
    /* New subscriptions are added at the head and closed ones are only
     * marked, so walking from a snapshot of the head is safe even when a
     * handler subscribes or unsubscribes; the closed ones go after. */
    for (cc_bus_sub *sub = b->subs; sub && !b->closing; sub = sub->next) {
        while (!sub->closed && !b->closing) {
            int pending = 0;
            if (natsSubscription_GetPending(sub->ns, &pending, NULL) != NATS_OK || pending <= 0)
                break;
            natsMsg *m = NULL;
            if (natsSubscription_NextMsg(&m, sub->ns, 1) != NATS_OK || !m)
                break;
            sub->h(b, m, sub->ud);
        }
    }
    if (!b->closing)
        sweep_subs(b);
}

static void release_all(cc_bus *b)
{
    for (int i = 0; i < b->nreleased; i++)
        natsMsg_Destroy(b->released[i]);
    b->nreleased = 0;
}

void cc_bus_msg_release(cc_bus *b, natsMsg *m)
{
    if (!m)
        return;
    if (b->nreleased == RELEASE_MAX)
        release_all(b);
    b->released[b->nreleased++] = m;
}

static void on_check(uv_check_t *h)
{
    drain_subs(h->data);
}

static void on_safety(uv_timer_t *t)
{
    drain_subs(t->data);
    release_all(t->data);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    /* nats.c may run this after the bus is freed (its callbacks come from
     * its own thread), so it touches only the connection, which nats.c
     * keeps alive for the callback. Our own close is no news. */
    if (natsConnection_Status(nc) != NATS_CONN_STATUS_CLOSED)
        cc_log(CC_LOG_WARN, NULL, "nats disconnected", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    cc_log(CC_LOG_INFO, NULL, "nats reconnected", NULL);
}

static void on_reply(cc_bus *b, natsMsg *m, void *ud);

/* nats-url may be a comma-separated list (a cluster). nats.c 3.4's
 * natsOptions_SetURL takes one URL only: given a list it parses the whole
 * text as one URL (the host of the last, the password running from the
 * first '@' to the last), so a list goes to natsOptions_SetServers, each URL
 * keeping its own credentials. */
static natsStatus set_urls(natsOptions *opts, const char *url)
{
    if (!strchr(url, ','))
        return natsOptions_SetURL(opts, url);
    char *copy = strdup(url);
    const char *list[16];
    int n = 0;
    if (!copy)
        return NATS_NO_MEMORY;
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok && n < 16;
         tok = strtok_r(NULL, ", ", &save))
        list[n++] = tok;
    natsStatus ns = n > 0 ? natsOptions_SetServers(opts, list, n) : NATS_INVALID_ARG;
    free(copy);
    return ns;
}

static cc_status nats_err(natsStatus ns, const char *what)
{
    return cc_err_set(CC_NATS, "%s: %s (%s)", what, natsStatus_GetText(ns),
                      nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
}

void cc_bus_redact_url(const char *url, char *out, size_t n)
{
    if (!n)
        return;
    size_t j = 0;
    for (const char *p = url; *p && j + 1 < n;) {
        /* In each URL of the list, the password is what lies between the
         * ':' after "//" and the '@' before the host (a token: all of the
         * user part). */
        const char *slashes = strstr(p, "//");
        const char *end = p + strcspn(p, ",");
        const char *at =
            slashes && slashes < end ? memchr(slashes, '@', (size_t)(end - slashes)) : NULL;
        const char *colon = at ? memchr(slashes + 2, ':', (size_t)(at - slashes - 2)) : NULL;
        const char *secret = at ? (colon ? colon + 1 : slashes + 2) : NULL;
        const char *upto = secret ? secret : end;
        while (p < upto && j + 1 < n)
            out[j++] = *p++;
        if (secret) {
            for (const char *r = "***"; *r && j + 1 < n; r++)
                out[j++] = *r;
            p = at;
            while (p < end && j + 1 < n)
                out[j++] = *p++;
        }
        if (*p == ',' && j + 1 < n)
            out[j++] = *p++;
    }
    out[j] = '\0';
}

const char *cc_bus_ca_file(const cc_bus *b)
{
    return b->ca_file[0] ? b->ca_file : NULL;
}

const char *cc_bus_service(const cc_bus *b)
{
    return b->service[0] ? b->service : NULL;
}

size_t cc_bus_new_inbox(cc_bus *b, char *out, size_t n)
{
    /* natsInbox_Create gives "_INBOX.<nuid>", whatever the connection's
     * prefix: keep the unique part. */
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    const char *nuid = inbox ? strchr((const char *)inbox, '.') : NULL;
    int w = snprintf(out, n, "%s.%s.", b->inbox_prefix, nuid ? nuid + 1 : "0");
    natsInbox_Destroy(inbox);
    return w < 0 ? 0 : (size_t)w < n ? (size_t)w : n - 1;
}

cc_status cc_bus_connect(uv_loop_t *loop, const cc_bus_options *o, cc_bus **out)
{
    cc_bus *b = calloc(1, sizeof *b);
    if (!b)
        return CC_NOMEM;
    b->loop = loop;
    snprintf(b->inbox_prefix, sizeof b->inbox_prefix, "_INBOX");
    if (o->service && *o->service) {
        if (strlen(o->service) >= sizeof b->service || strpbrk(o->service, ".*> ") ||
            cc_mesh_inbox_prefix(o->service, b->inbox_prefix, sizeof b->inbox_prefix) != CC_OK) {
            free(b);
            return cc_err_set(CC_INVALID, "bad service name '%s'", o->service);
        }
        snprintf(b->service, sizeof b->service, "%s", o->service);
    }
    cc_nats_uv_init(loop);
    natsStatus ns = natsOptions_Create(&b->opts);
    if (ns == NATS_OK)
        ns = set_urls(b->opts, o->url);
    if (ns == NATS_OK && o->name)
        ns = natsOptions_SetName(b->opts, o->name);
    if (ns == NATS_OK && o->user && *o->user)
        ns = natsOptions_SetUserInfo(b->opts, o->user, o->password ? o->password : "");
    /* TLS that verifies the server against the CA that signed it, and
     * nothing else: a server without TLS, or with a certificate of any
     * other CA, is refused. */
    const char *ca = o->ca_file ? o->ca_file : getenv("CC_NATS_CA");
    if (ca && *ca && strlen(ca) >= sizeof b->ca_file) {
        natsOptions_Destroy(b->opts);
        free(b);
        return cc_err_set(CC_INVALID, "nats-ca: path too long");
    }
    if (ca && *ca)
        snprintf(b->ca_file, sizeof b->ca_file, "%s", ca);
    if (ns == NATS_OK && b->ca_file[0])
        ns = natsOptions_SetSecure(b->opts, true);
    if (ns == NATS_OK && b->ca_file[0])
        ns = natsOptions_LoadCATrustedCertificates(b->opts, b->ca_file);
    /* Every request nats.c makes itself (the JetStream management calls)
     * gets its replies under the service's own prefix too. */
    if (ns == NATS_OK && b->service[0])
        ns = natsOptions_SetCustomInboxPrefix(b->opts, b->inbox_prefix);
    if (ns == NATS_OK)
        ns = natsOptions_SetEventLoop(b->opts, loop, cc_nats_uv_attach, cc_nats_uv_read,
                                      cc_nats_uv_write, cc_nats_uv_detach);
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxReconnect(b->opts, -1);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectWait(b->opts, 250);
    if (ns == NATS_OK)
        ns = natsOptions_SetTimeout(b->opts, o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                                        : 2000);
    if (ns == NATS_OK)
        ns = natsOptions_SetSendAsap(b->opts, o->send_asap);
    /* nats.c hands a "no responders" status to a synchronous subscription
     * as an error of NextMsg and drops the message, so the reply inbox
     * could not tell which request had nobody to answer it. Without the
     * status a request to a service nobody serves ends at its timeout,
     * which every caller handles anyway. */
    if (ns == NATS_OK)
        ns = natsOptions_DisableNoResponders(b->opts, true);
    /* Keep publishing through a reconnect: nats.c buffers up to this much
     * and sends it when the connection is back. */
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectBufSize(b->opts, 64 * 1024 * 1024);
    if (ns == NATS_OK)
        ns = natsOptions_SetDisconnectedCB(b->opts, on_disconnected, NULL);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectedCB(b->opts, on_reconnected, NULL);
    if (ns != NATS_OK) {
        natsOptions_Destroy(b->opts);
        free(b);
        return nats_err(ns, "nats options");
    }
    ns = natsConnection_Connect(&b->nc, b->opts);
    if (ns != NATS_OK) {
        cc_status s = nats_err(ns, "nats connect");
        char url[256];
        cc_bus_redact_url(o->url, url, sizeof url);
        const char *last = nats_GetLastError(NULL);
        cc_err_set(s, "cannot connect to NATS at %s: %s%s%s", url, natsStatus_GetText(ns),
                   last && *last ? ": " : "", last && *last ? last : "");
        natsOptions_Destroy(b->opts);
        free(b);
        return s;
    }
    uv_check_init(loop, &b->drain);
    b->drain.data = b;
    uv_check_start(&b->drain, on_check);
    uv_unref((uv_handle_t *)&b->drain);
    uv_timer_init(loop, &b->safety);
    b->safety.data = b;
    uv_timer_start(&b->safety, on_safety, 50, 50);
    uv_unref((uv_handle_t *)&b->safety);
    b->inbox_len = cc_bus_new_inbox(b, b->inbox, sizeof b->inbox);
    char wild[sizeof b->inbox + 1];
    snprintf(wild, sizeof wild, "%s*", b->inbox);
    cc_status s = cc_bus_subscribe(b, wild, NULL, on_reply, NULL, &b->reply_sub);
    if (s != CC_OK) {
        cc_bus_close(b, NULL, NULL);
        return s;
    }
    *out = b;
    return CC_OK;
}

uv_loop_t *cc_bus_loop(cc_bus *b)
{
    return b->loop;
}

natsConnection *cc_bus_nats(cc_bus *b)
{
    return b->nc;
}

/* Nothing is published while the connection is down. nats.c 3.4 closes a
 * lost socket before its libuv adapter stops polling it (nats.c issue 814),
 * and a publish then asks the adapter to watch the closed descriptor for
 * writing, which makes libuv abort the process. A caller gets
 * CC_UNAVAILABLE instead (a request fails fast, a JetStream publish retries,
 * an unsent ack means a redelivery) and publishes again once the bus has
 * reconnected. */
bool cc_bus_connected(cc_bus *b)
{
    return b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ---- offload ------------------------------------------------------------ */

typedef struct {
    uv_work_t w;
    cc_status (*work)(void *);
    void (*done)(cc_status, void *);
    void *ud;
    cc_status s;
    char err[512]; /* the worker thread's error message, carried to the loop */
} offload;

static void offload_work(uv_work_t *w)
{
    offload *o = (offload *)w;
    cc_err_clear();
    o->s = o->work(o->ud);
    if (o->s != CC_OK)
        snprintf(o->err, sizeof o->err, "%s", cc_err_msg());
}

static void offload_after(uv_work_t *w, int status)
{
    offload *o = (offload *)w;
    if (o->s != CC_OK)
        cc_err_set(o->s, "%s", o->err);
    if (o->done)
        o->done(status == UV_ECANCELED ? CC_CLOSED : o->s, o->ud);
    free(o);
}

cc_status cc_bus_offload(cc_bus *b, cc_status (*work)(void *), void (*done)(cc_status, void *),
                         void *ud)
{
    offload *o = calloc(1, sizeof *o);
    if (!o)
        return CC_NOMEM;
    o->work = work;
    o->done = done;
    o->ud = ud;
    int r = uv_queue_work(b->loop, &o->w, offload_work, offload_after);
    if (r) {
        free(o);
        return cc_err_set(CC_SYS, "uv_queue_work: %s", uv_strerror(r));
    }
    return CC_OK;
}

/* ---- envelope headers --------------------------------------------------- */

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
        return NULL;
    return v;
}

cc_status cc_envelope_from_msg(cc_envelope *e, natsMsg *m)
{
    memset(e, 0, sizeof *e);
    cc_status s = CC_OK;
    IFOK(s, cc_envelope_set_type(e, hdr(m, CC_HDR_TYPE)));
    IFOK(s, cc_envelope_set_correlation(e, hdr(m, CC_HDR_CORRELATION)));
    IFOK(s, cc_envelope_set_traceparent(e, hdr(m, CC_HDR_TRACEPARENT)));
    IFOK(s, cc_envelope_set_principal(e, hdr(m, CC_HDR_PRINCIPAL)));
    IFOK(s, cc_envelope_set_aggregate(e, hdr(m, CC_HDR_AGGREGATE)));
    if (s != CC_OK)
        return CC_PROTO;
    /* A message from outside the mesh may lack ids: give it fresh ones so
     * its log lines can still be followed. */
    if (!e->correlation_id[0])
        cc_random_hex(e->correlation_id, 32);
    if (!e->traceparent[0]) {
        cc_envelope tmp;
        cc_envelope_new(&tmp, NULL);
        memcpy(e->traceparent, tmp.traceparent, sizeof e->traceparent);
    }
    return CC_OK;
}

cc_status cc_envelope_to_msg(const cc_envelope *e, natsMsg *m)
{
    natsStatus ns = NATS_OK;
    if (e->type[0])
        ns = natsMsgHeader_Set(m, CC_HDR_TYPE, e->type);
    if (ns == NATS_OK && e->correlation_id[0])
        ns = natsMsgHeader_Set(m, CC_HDR_CORRELATION, e->correlation_id);
    if (ns == NATS_OK && e->traceparent[0])
        ns = natsMsgHeader_Set(m, CC_HDR_TRACEPARENT, e->traceparent);
    if (ns == NATS_OK && e->principal[0])
        ns = natsMsgHeader_Set(m, CC_HDR_PRINCIPAL, e->principal);
    if (ns == NATS_OK && e->aggregate_id[0])
        ns = natsMsgHeader_Set(m, CC_HDR_AGGREGATE, e->aggregate_id);
    return ns == NATS_OK ? CC_OK : nats_err(ns, "set headers");
}

/* ---- subscriptions and publishing --------------------------------------- */

cc_status cc_bus_subscribe(cc_bus *b, const char *subject, const char *queue, cc_bus_handler h,
                           void *ud, cc_bus_sub **out)
{
    cc_bus_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return CC_NOMEM;
    sub->b = b;
    sub->h = h;
    sub->ud = ud;
    natsStatus ns;
    if (queue)
        ns = natsConnection_QueueSubscribeSync(&sub->ns, b->nc, subject, queue);
    else
        ns = natsConnection_SubscribeSync(&sub->ns, b->nc, subject);
    if (ns != NATS_OK) {
        free(sub);
        return nats_err(ns, "subscribe");
    }
    /* The loop is the consumer; let nats.c buffer generously instead of
     * declaring the subscription a slow consumer during a burst. */
    natsSubscription_SetPendingLimits(sub->ns, 1 << 20, 1 << 30);
    sub->next = b->subs;
    b->subs = sub;
    if (out)
        *out = sub;
    return CC_OK;
}

void cc_bus_unsubscribe(cc_bus_sub *s)
{
    if (!s || s->closed)
        return;
    s->closed = true;
    natsSubscription_Unsubscribe(s->ns);
}

cc_status cc_bus_publish(cc_bus *b, const char *subject, const cc_envelope *env, const char *type,
                         const void *data, size_t len)
{
    if (!cc_bus_connected(b))
        return cc_err_set(CC_UNAVAILABLE, "not connected to NATS: %s not published", subject);
    natsMsg *m = NULL;
    natsStatus ns = natsMsg_Create(&m, subject, NULL, data, (int)len);
    if (ns != NATS_OK)
        return nats_err(ns, "create message");
    cc_status s = CC_OK;
    if (env)
        s = cc_envelope_to_msg(env, m);
    if (s == CC_OK && type && !(env && strcmp(env->type, type) == 0) &&
        natsMsgHeader_Set(m, CC_HDR_TYPE, type) != NATS_OK)
        s = CC_NATS;
    if (s == CC_OK && (ns = natsConnection_PublishMsg(b->nc, m)) != NATS_OK)
        s = nats_err(ns, "publish");
    cc_bus_msg_release(b, m);
    return s;
}

/* ---- requests ------------------------------------------------------------ */

static void req_free(uv_handle_t *h)
{
    free(h->data);
}

static cc__req *req_take(cc_bus *b, uint64_t token)
{
    cc__req **pp = &b->reqs[token % REQ_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->token == token) {
            cc__req *r = *pp;
            *pp = r->next;
            return r;
        }
    }
    return NULL;
}

static void req_finish(cc__req *r, cc_status s, natsMsg *reply)
{
    uv_timer_stop(&r->timer);
    cc_bus *b = r->b;
    r->cb(b, s, reply, r->ud);
    uv_close((uv_handle_t *)&r->timer, req_free);
}

static void on_req_timeout(uv_timer_t *t)
{
    cc__req *r = t->data;
    if (req_take(r->b, r->token) == r)
        req_finish(r, CC_TIMEOUT, NULL);
}

static void on_reply(cc_bus *b, natsMsg *m, void *ud)
{
    const char *subj = natsMsg_GetSubject(m);
    uint64_t token = strtoull(subj + b->inbox_len, NULL, 10);
    cc__req *r = req_take(b, token);
    if (!r) {
        /* A reply after its timeout, or a second reply: nobody waits. */
        cc_bus_msg_release(b, m);
        return;
    }
    req_finish(r, CC_OK, m);
}

cc_status cc_bus_request(cc_bus *b, const char *subject, const cc_envelope *env, const char *type,
                         const char *msg_id, const void *data, size_t len, int64_t timeout_ms,
                         cc_bus_reply_cb cb, void *ud)
{
    if (b->closing)
        return cc_err_set(CC_CLOSED, "bus is closing");
    if (!cc_bus_connected(b))
        return cc_err_set(CC_UNAVAILABLE, "not connected to NATS: request to %s not sent",
                          subject);
    uint64_t token = ++b->next_token;
    char reply[sizeof b->inbox + CC_DECIMAL_MAX];
    memcpy(reply, b->inbox, b->inbox_len);
    cc_u64_text(reply + b->inbox_len, token);
    natsMsg *m = NULL;
    natsStatus ns = natsMsg_Create(&m, subject, reply, data, (int)len);
    if (ns != NATS_OK)
        return nats_err(ns, "request message");
    cc_status s = env ? cc_envelope_to_msg(env, m) : CC_OK;
    if (s == CC_OK && type && !(env && strcmp(env->type, type) == 0) &&
        natsMsgHeader_Set(m, CC_HDR_TYPE, type) != NATS_OK)
        s = CC_NATS;
    if (s == CC_OK && msg_id && natsMsgHeader_Set(m, CC_HDR_MSG_ID, msg_id) != NATS_OK)
        s = CC_NATS;
    if (s != CC_OK) {
        natsMsg_Destroy(m);
        return cc_err_set(s, "request headers for %s", subject);
    }
    cc__req *r = calloc(1, sizeof *r);
    if (!r) {
        natsMsg_Destroy(m);
        return CC_NOMEM;
    }
    r->token = token;
    r->cb = cb;
    r->ud = ud;
    r->b = b;
    uv_timer_init(b->loop, &r->timer);
    r->timer.data = r;
    r->next = b->reqs[token % REQ_BUCKETS];
    b->reqs[token % REQ_BUCKETS] = r;
    ns = natsConnection_PublishMsg(b->nc, m);
    cc_bus_msg_release(b, m);
    if (ns != NATS_OK) {
        req_take(b, token);
        uv_close((uv_handle_t *)&r->timer, req_free);
        return nats_err(ns, "publish request");
    }
    uv_timer_start(&r->timer, on_req_timeout, (uint64_t)(timeout_ms > 0 ? timeout_ms : 1), 0);
    return CC_OK;
}

/* ---- work accounting and close ----------------------------------------- */

void cc_bus_work_begin(cc_bus *b)
{
    b->work++;
}

void cc_bus_work_end(cc_bus *b)
{
    b->work--;
}

int cc_bus_work_count(cc_bus *b)
{
    return b->work;
}

static void free_bus(cc_bus *b)
{
    release_all(b);
    cc_bus_sub *s = b->subs;
    while (s) {
        cc_bus_sub *next = s->next;
        natsSubscription_Destroy(s->ns);
        free(s);
        s = next;
    }
    natsOptions_Destroy(b->opts);
    void (*done)(void *) = b->close_done;
    void *ud = b->close_ud;
    free(b);
    if (done)
        done(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    cc_bus *b = h->data;
    if (--b->closing_handles == 0)
        free_bus(b);
}

/* nats.c writes only when the loop polls the socket, so what the last
 * callbacks published (a final ack, a result) may still sit in its buffer.
 * Closing waits, a few loop turns at most, until the buffer is empty. */
static void finish_close(cc_bus *b)
{
    uv_timer_stop(&b->safety);
    if (b->nc) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
        b->nc = NULL;
    }
    b->closing_handles = 2;
    uv_close((uv_handle_t *)&b->drain, on_handle_closed);
    uv_close((uv_handle_t *)&b->safety, on_handle_closed);
}

static void on_flush_tick(uv_timer_t *t)
{
    cc_bus *b = t->data;
    b->flush_ticks++;
    int buffered = b->nc ? natsConnection_Buffered(b->nc) : 0;
    if (buffered <= 0 || b->flush_ticks >= 100 || !cc_bus_connected(b))
        finish_close(b);
}

void cc_bus_close(cc_bus *b, void (*done)(void *), void *ud)
{
    if (b->closing)
        return;
    b->closing = true;
    b->close_done = done;
    b->close_ud = ud;
    for (cc__req **bucket = b->reqs; bucket < b->reqs + REQ_BUCKETS; bucket++) {
        while (*bucket) {
            cc__req *r = *bucket;
            *bucket = r->next;
            req_finish(r, CC_CLOSED, NULL);
        }
    }
    for (cc_bus_sub *s = b->subs; s; s = s->next)
        cc_bus_unsubscribe(s);
    /* The safety timer becomes the flush timer: 5 ms turns, 0.5 s at most. */
    b->flush_ticks = 0;
    uv_ref((uv_handle_t *)&b->safety);
    uv_timer_start(&b->safety, on_flush_tick, 0, 5);
}
