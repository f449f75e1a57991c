/* hiredis on the loop. See cc/redis.h.
 *
 * hiredis (0.14) owns the context's life: after a failed connect or a
 * disconnect it calls every pending reply callback with a NULL reply and
 * frees the context itself, so r->ac is cleared in those callbacks and a
 * new context is made from a timer. */
#include "cc/redis.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/metrics.h"

enum { SWEEP_MS = 50 };

struct cc_redis_script {
    cc_redis_script *next;
    char sha[41];
    char *body;
};

typedef struct cmd {
    struct cmd *prev, *next; /* pending list, for timeouts */
    cc_redis *r;
    cc_redis_cb cb;
    void *ud;
    uint64_t deadline_ns;
    bool reported;
    bool internal;
    const cc_redis_script *script; /* EVALSHA: retried as EVAL on NOSCRIPT */
    bool retried;
    int argc;
    const char **argv;
    size_t *lens;
} cmd;

struct cc_redis {
    uv_loop_t *loop;
    char host[64];
    int port;
    char user[64], password[256];
    int db;
    int64_t cmd_timeout_ms, connect_timeout_ms, reconnect_max_ms, backoff_ms;
    redisAsyncContext *ac;
    bool connected;
    uint64_t connect_deadline_ns;
    uv_timer_t retry, sweep;
    int handles;
    cmd *pending;
    cc_redis_script *scripts;
    bool closing;
    char last_err[256];
    void (*done)(void *);
    void *done_ud;
};

static cc_counter *m_cmds, *m_errs;

static uint64_t ms_ns(int64_t ms)
{
    return (uint64_t)ms * 1000000ull;
}

static void rd_connect(cc_redis *r);

/* ---- lifetime ---------------------------------------------------------------- */

static void maybe_free(cc_redis *r)
{
    if (!r->closing || r->ac || r->handles > 0)
        return;
    while (r->scripts) {
        cc_redis_script *s = r->scripts;
        r->scripts = s->next;
        free(s->body);
        free(s);
    }
    void (*done)(void *) = r->done;
    void *ud = r->done_ud;
    free(r);
    if (done)
        done(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    cc_redis *r = h->data;
    r->handles--;
    maybe_free(r);
}

static void on_retry(uv_timer_t *t)
{
    cc_redis *r = t->data;
    if (!r->closing && !r->ac)
        rd_connect(r);
}

static void schedule_retry(cc_redis *r)
{
    if (r->closing)
        return;
    uv_timer_start(&r->retry, on_retry, (uint64_t)r->backoff_ms, 0);
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 100;
    if (r->backoff_ms > r->reconnect_max_ms)
        r->backoff_ms = r->reconnect_max_ms;
}

/* ---- commands ------------------------------------------------------------------ */

static cmd *cmd_new(cc_redis *r, int argc, const char *const *argv, const size_t *lens)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += (lens ? lens[i] : strlen(argv[i])) + 1;
    cmd *c = calloc(1, sizeof *c + (size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!c)
        return NULL;
    c->r = r;
    c->argc = argc;
    c->argv = (const char **)(c + 1);
    c->lens = (size_t *)(c->argv + argc);
    char *p = (char *)(c->lens + argc);
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], l);
        p[l] = '\0';
        c->argv[i] = p;
        c->lens[i] = l;
        p += l + 1;
    }
    c->deadline_ns = cc_now_ns() + ms_ns(r->cmd_timeout_ms);
    return c;
}

static void list_remove(cmd *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->r->pending == c)
        c->r->pending = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void report(cmd *c, cc_status s, const char *msg, const redisReply *reply)
{
    if (c->reported)
        return;
    c->reported = true;
    list_remove(c);
    cc_counter_inc(m_cmds);
    if (s != CC_OK)
        cc_counter_inc(m_errs);
    if (c->internal && s != CC_OK)
        cc_log(CC_LOG_WARN, NULL, "redis internal command failed", "{s:s, s:s}", "command",
               c->argv[0], "error", msg ? msg : "");
    if (c->cb)
        c->cb(s, s == CC_OK ? NULL : msg, reply, c->ud);
}

static cc_status send_cmd(cc_redis *r, cmd *c, int argc, const char **argv, const size_t *lens);

static void on_reply(redisAsyncContext *ac, void *reply_v, void *privdata)
{
    cmd *c = privdata;
    cc_redis *r = c->r;
    redisReply *reply = reply_v;
    if (c->reported) {
        free(c); /* timed out earlier; hiredis is done with it now */
        return;
    }
    if (!reply) {
        const char *why = r->closing      ? "client closed"
                          : ac->errstr[0] ? ac->errstr
                                          : "connection lost";
        report(c, r->closing ? CC_CLOSED : CC_UNAVAILABLE, why, NULL);
        free(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (c->script && !c->retried && !strncmp(reply->str, "NOSCRIPT", 8)) {
            /* EVAL runs the body and caches it again under the same SHA. */
            c->retried = true;
            const char **argv = c->argv;
            size_t *lens = c->lens;
            const char *a0 = argv[0], *a1 = argv[1];
            size_t l0 = lens[0], l1 = lens[1];
            argv[0] = "EVAL";
            lens[0] = 4;
            argv[1] = c->script->body;
            lens[1] = strlen(c->script->body);
            cc_status s = send_cmd(r, c, c->argc, argv, lens);
            argv[0] = a0, argv[1] = a1, lens[0] = l0, lens[1] = l1;
            if (s == CC_OK)
                return;
            report(c, s, cc_err_msg(), NULL);
            free(c);
            return;
        }
        report(c, CC_DB, reply->str, reply);
        free(c);
        return;
    }
    report(c, CC_OK, NULL, reply);
    free(c);
}

/* Hands c to hiredis; from then on hiredis calls on_reply exactly once. */
static cc_status send_cmd(cc_redis *r, cmd *c, int argc, const char **argv, const size_t *lens)
{
    if (!r->ac)
        return cc_err_set(CC_UNAVAILABLE, "redis %s:%d unavailable: %s", r->host, r->port,
                          r->last_err);
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, lens) != REDIS_OK)
        return cc_err_set(CC_UNAVAILABLE, "redis %s:%d: cannot send: %s", r->host, r->port,
                          r->ac->errstr[0] ? r->ac->errstr : "disconnecting");
    if (!c->prev && r->pending != c) {
        c->next = r->pending;
        if (r->pending)
            r->pending->prev = c;
        r->pending = c;
    }
    /* Written now rather than when the loop next polls: Redis starts on it
     * while this iteration goes on (the caller batched what it could).
     * Not through redisAsyncHandleWrite: on a write error it disconnects
     * at once, running every pending callback inside this call and freeing
     * the context, which may be in the middle of delivering a reply (a
     * callback that sends more, after Redis died). redisBufferWrite only
     * writes; an error stays in the context (c.err), and the write event
     * hiredis asked for when the command was queued is still on, so the
     * next poll hands the error to hiredis, which disconnects there. */
    redisAsyncContext *ac = r->ac;
    int done = 0;
    if ((ac->c.flags & REDIS_CONNECTED) && redisBufferWrite(&ac->c, &done) == REDIS_OK) {
        if (done)
            ac->ev.delWrite(ac->ev.data);
        ac->ev.addRead(ac->ev.data);
    }
    return CC_OK;
}

static cc_status accepts(cc_redis *r)
{
    if (r->closing)
        return cc_err_set(CC_CLOSED, "redis client closed");
    if (!r->ac)
        return cc_err_set(CC_UNAVAILABLE, "redis %s:%d unavailable: %s", r->host, r->port,
                          r->last_err);
    return CC_OK;
}

static void load_script(cc_redis *r, cc_redis_script *s)
{
    const char *argv[3] = {"SCRIPT", "LOAD", s->body};
    cmd *c = cmd_new(r, 3, argv, NULL);
    if (!c)
        return;
    c->internal = true;
    if (send_cmd(r, c, c->argc, c->argv, c->lens) != CC_OK)
        free(c);
}

/* AUTH and SELECT go out first on every connection: they are queued right
 * after the connect starts, before anything a caller queues, and hiredis
 * writes in order. A refused AUTH is logged (internal command); the
 * commands after it then fail with Redis's NOAUTH error. */
static void auth_and_select(cc_redis *r)
{
    if (r->password[0]) {
        const char *with_user[3] = {"AUTH", r->user, r->password};
        const char *plain[2] = {"AUTH", r->password};
        cmd *c = r->user[0] ? cmd_new(r, 3, with_user, NULL) : cmd_new(r, 2, plain, NULL);
        if (c) {
            c->internal = true;
            if (send_cmd(r, c, c->argc, c->argv, c->lens) != CC_OK)
                free(c);
        }
    }
    if (r->db > 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        const char *argv[2] = {"SELECT", db};
        cmd *c = cmd_new(r, 2, argv, NULL);
        if (c) {
            c->internal = true;
            if (send_cmd(r, c, c->argc, c->argv, c->lens) != CC_OK)
                free(c);
        }
    }
}

/* ---- event hooks -------------------------------------------------------------------
 * hiredis's libuv adapter drops poll errors: libuv reports EPOLLERR (a
 * refused connect, a reset connection) as status UV_EBADF with no events
 * and stops watching, and the adapter just returns, so hiredis would wait
 * forever. These hooks replace the adapter's add/del functions after
 * redisLibuvAttach (same struct, same handle) and hand an error to hiredis
 * as a readiness event, so it reads or checks the socket, sees the error
 * and disconnects with callbacks. */

static void fixed_poll(uv_poll_t *h, int status, int events)
{
    redisLibuvEvents *p = h->data;
    if (status < 0 && p->context) {
        redisAsyncContext *ac = p->context;
        if (!(ac->c.flags & REDIS_CONNECTED))
            redisAsyncHandleWrite(ac); /* runs the connect check */
        else
            redisAsyncHandleRead(ac);
        return;
    }
    redisLibuvPoll(h, status, events);
}

static void ev_update(redisLibuvEvents *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, fixed_poll);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *pd)
{
    redisLibuvEvents *p = pd;
    p->events |= UV_READABLE;
    ev_update(p);
}

static void ev_del_read(void *pd)
{
    redisLibuvEvents *p = pd;
    p->events &= ~UV_READABLE;
    ev_update(p);
}

static void ev_add_write(void *pd)
{
    redisLibuvEvents *p = pd;
    p->events |= UV_WRITABLE;
    ev_update(p);
}

static void ev_del_write(void *pd)
{
    redisLibuvEvents *p = pd;
    p->events &= ~UV_WRITABLE;
    ev_update(p);
}

/* ---- connection ------------------------------------------------------------------ */

static void on_connect(const redisAsyncContext *ac, int status)
{
    cc_redis *r = ac->data;
    if (status != REDIS_OK) {
        snprintf(r->last_err, sizeof r->last_err, "%s",
                 ac->errstr[0] ? ac->errstr : "connect failed");
        cc_log(r->backoff_ms <= 100 ? CC_LOG_WARN : CC_LOG_DEBUG, NULL, "redis connect failed",
               "{s:s, s:i, s:s}", "host", r->host, "port", r->port, "error", r->last_err);
        r->ac = NULL; /* hiredis frees it after this returns */
        schedule_retry(r);
        maybe_free(r);
        return;
    }
    r->connected = true;
    r->backoff_ms = 0;
    cc_log(CC_LOG_INFO, NULL, "redis connected", "{s:s, s:i}", "host", r->host, "port", r->port);
    for (cc_redis_script *s = r->scripts; s; s = s->next)
        load_script(r, s);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    cc_redis *r = ac->data;
    r->connected = false;
    r->ac = NULL;
    if (!r->closing) {
        snprintf(r->last_err, sizeof r->last_err, "%s",
                 ac->errstr[0] ? ac->errstr : "connection closed");
        cc_log(CC_LOG_WARN, NULL, "redis connection lost", "{s:s, s:i, s:s}", "host", r->host,
               "port", r->port, "error", r->last_err);
        r->backoff_ms = 0;
        schedule_retry(r);
    }
    maybe_free(r);
}

static void rd_connect(cc_redis *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        snprintf(r->last_err, sizeof r->last_err, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        snprintf(r->last_err, sizeof r->last_err, "cannot attach to the loop");
        redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    /* hiredis 0.14 learns that a connect finished only from a write event,
     * and asks for one only when a command is queued: ask now, so the
     * connection (and the script loading) does not wait for a command. */
    ev_add_write(ac->ev.data);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->connect_deadline_ns = cc_now_ns() + ms_ns(r->connect_timeout_ms);
    auth_and_select(r);
}

static void on_sweep(uv_timer_t *t)
{
    cc_redis *r = t->data;
    uint64_t now = cc_now_ns();
    if (r->ac && !r->connected && r->connect_deadline_ns <= now) {
        /* Not inside a hiredis callback, so freeing here is allowed; it
         * fails the queued commands with a NULL reply. */
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        snprintf(r->last_err, sizeof r->last_err, "connect timed out");
        redisAsyncFree(ac);
        schedule_retry(r);
    }
    cmd *c = r->pending;
    while (c) {
        cmd *next = c->next;
        if (c->deadline_ns <= now)
            report(c, CC_TIMEOUT, "redis command timed out", NULL); /* freed by on_reply */
        c = next;
    }
}

cc_status cc_redis_open(uv_loop_t *loop, const cc_redis_options *o, cc_redis **out)
{
    if (!o || !o->host || o->port <= 0 || o->port > 65535 || strlen(o->host) >= 64)
        return cc_err_set(CC_INVALID, "redis: host and port are required");
    if ((o->user && strlen(o->user) >= 64) || (o->password && strlen(o->password) >= 256))
        return cc_err_set(CC_INVALID, "redis: user or password too long");
    if (!m_cmds) {
        m_cmds = cc_metrics_counter("cc_redis_commands_total", "Redis commands completed", NULL);
        m_errs =
            cc_metrics_counter("cc_redis_command_errors_total", "Redis commands that failed", NULL);
    }
    cc_redis *r = calloc(1, sizeof *r);
    if (!r)
        return cc_err_set(CC_NOMEM, "redis: out of memory");
    r->loop = loop;
    snprintf(r->host, sizeof r->host, "%s", o->host);
    r->port = o->port;
    snprintf(r->user, sizeof r->user, "%s", o->user ? o->user : "");
    snprintf(r->password, sizeof r->password, "%s", o->password ? o->password : "");
    r->db = o->db > 0 ? o->db : 0;
    r->cmd_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms : 2000;
    r->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000;
    r->reconnect_max_ms = o->reconnect_max_ms > 0 ? o->reconnect_max_ms : 2000;
    snprintf(r->last_err, sizeof r->last_err, "not connected yet");
    uv_timer_init(loop, &r->retry);
    uv_timer_init(loop, &r->sweep);
    r->retry.data = r->sweep.data = r;
    r->handles = 2;
    uv_timer_start(&r->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    rd_connect(r);
    *out = r;
    return CC_OK;
}

void cc_redis_close(cc_redis *r, void (*done)(void *ud), void *ud)
{
    if (!r || r->closing)
        return;
    r->closing = true;
    r->done = done;
    r->done_ud = ud;
    uv_close((uv_handle_t *)&r->retry, on_handle_closed);
    uv_close((uv_handle_t *)&r->sweep, on_handle_closed);
    if (r->ac) {
        if (r->connected) {
            /* Waits for the replies still due, then on_disconnect. */
            redisAsyncDisconnect(r->ac);
        } else {
            /* Still connecting: no disconnect callback will come. */
            redisAsyncContext *ac = r->ac;
            r->ac = NULL;
            redisAsyncFree(ac);
        }
    }
}

bool cc_redis_connected(const cc_redis *r)
{
    return r->connected;
}

cc_status cc_redis_command(cc_redis *r, int argc, const char *const *argv, const size_t *lens,
                           cc_redis_cb cb, void *ud)
{
    if (argc < 1 || !argv)
        return cc_err_set(CC_INVALID, "redis: empty command");
    cc_status s = accepts(r);
    if (s != CC_OK)
        return s;
    cmd *c = cmd_new(r, argc, argv, lens);
    if (!c)
        return cc_err_set(CC_NOMEM, "redis: out of memory");
    c->cb = cb;
    c->ud = ud;
    s = send_cmd(r, c, c->argc, c->argv, c->lens);
    if (s != CC_OK)
        free(c);
    return s;
}

cc_status cc_redis_script_add(cc_redis *r, const char *lua, cc_redis_script **out)
{
    if (!lua || !*lua)
        return cc_err_set(CC_INVALID, "redis: empty script");
    cc_redis_script *s = calloc(1, sizeof *s);
    if (!s || !(s->body = strdup(lua))) {
        free(s);
        return cc_err_set(CC_NOMEM, "redis: out of memory");
    }
    unsigned char md[20];
    unsigned int mdlen = 0;
    if (!EVP_Digest(lua, strlen(lua), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) {
        free(s->body);
        free(s);
        return cc_err_set(CC_INTERNAL, "redis: sha1 failed");
    }
    for (unsigned i = 0; i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    s->next = r->scripts;
    r->scripts = s;
    if (r->connected)
        load_script(r, s);
    *out = s;
    return CC_OK;
}

const char *cc_redis_script_sha(const cc_redis_script *s)
{
    return s->sha;
}

cc_status cc_redis_eval(cc_redis *r, const cc_redis_script *sc, int nkeys, int argc,
                        const char *const *argv, const size_t *lens, cc_redis_cb cb, void *ud)
{
    if (!sc || nkeys < 0 || argc < nkeys || argc > 1000 || (argc > 0 && !argv))
        return cc_err_set(CC_INVALID, "redis: bad script arguments");
    cc_status s = accepts(r);
    if (s != CC_OK)
        return s;
    const char *av[1003];
    size_t lv[1003];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    av[0] = "EVALSHA";
    av[1] = sc->sha;
    av[2] = nk;
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        lv[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    lv[0] = 7;
    lv[1] = 40;
    lv[2] = strlen(nk);
    cmd *c = cmd_new(r, argc + 3, av, lv);
    if (!c)
        return cc_err_set(CC_NOMEM, "redis: out of memory");
    c->cb = cb;
    c->ud = ud;
    c->script = sc;
    s = send_cmd(r, c, c->argc, c->argv, c->lens);
    if (s != CC_OK)
        free(c);
    return s;
}

/* ---- URLs ------------------------------------------------------------------------- */

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Copies n bytes of p into out (cap), decoding %XX; false when it does not
 * fit or an escape is malformed. */
static bool unescape_into(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return false; /* needs two hex digits after it */
            int hi = hexv(p[i + 1]), lo = hexv(p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = (char)(hi * 16 + lo);
            if (ch == '\0')
                return false;
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = ch;
    }
    if (cap == 0)
        return false;
    out[o] = '\0';
    return true;
}

cc_status cc_redis_parse_url(const char *url, cc_redis_url *out)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !url[0])
        return cc_err_set(CC_INVALID, "redis-url is empty");
    const char *p = url;
    if (strncmp(p, "rediss://", 9) == 0)
        return cc_err_set(CC_INVALID, "redis-url: rediss:// (TLS) is not supported by this build "
                                      "(hiredis 0.14 has no TLS)");
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://"))
        return cc_err_set(CC_INVALID, "redis-url: the scheme must be redis://");
    /* user info: everything up to the last '@' before the path */
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (!unescape_into(p, (size_t)(uend - p), out->user, sizeof out->user))
            return cc_err_set(CC_INVALID, "redis-url: bad or too long user name");
        if (colon && !unescape_into(colon + 1, (size_t)(at - colon - 1), out->password,
                                    sizeof out->password))
            return cc_err_set(CC_INVALID, "redis-url: bad or too long password");
        if (!colon) {
            /* redis://secret@host: a lone user info is the password, as
             * redis-cli reads it. */
            memcpy(out->password, out->user, sizeof out->password < sizeof out->user
                                                 ? sizeof out->password
                                                 : sizeof out->user);
            out->user[0] = '\0';
        }
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p || (size_t)(hend - p) >= sizeof out->host)
        return cc_err_set(CC_INVALID, "redis-url: no host, or a host name too long");
    memcpy(out->host, p, (size_t)(hend - p));
    out->host[hend - p] = '\0';
    if (colon) {
        char *e;
        long v = strtol(colon + 1, &e, 10);
        if (e == colon + 1 || e != end || v < 1 || v > 65535)
            return cc_err_set(CC_INVALID, "redis-url: bad port");
        out->port = (int)v;
    }
    if (slash && slash[1]) {
        char *e;
        long v = strtol(slash + 1, &e, 10);
        if (*e != '\0' || v < 0 || v > 1000000)
            return cc_err_set(CC_INVALID, "redis-url: bad database number");
        out->db = (int)v;
    }
    return CC_OK;
}

cc_redis_options cc_redis_url_options(const cc_redis_url *u)
{
    return (cc_redis_options){.host = u->host,
                              .port = u->port,
                              .user = u->user[0] ? u->user : NULL,
                              .password = u->password[0] ? u->password : NULL,
                              .db = u->db};
}
