/* Rate limits (GCRA) and token revocation in one Redis script. The checks
 * of one loop iteration travel together: they are queued, and a check
 * handle (run right after libuv's poll phase, once h2o has read every
 * request that arrived) sends them as one EVALSHA. Redis spends most of a
 * small script call on the call itself (parsing, finding the script,
 * entering Lua), so under load one call for a batch costs it a fraction
 * of one call per request, and the gateway formats one command and parses
 * one reply. A lone request still goes out in the iteration it arrived.
 * A batch also goes out as soon as it holds BATCH_MAX checks, and the
 * command is written to the socket at once (not at the next poll): Redis
 * works on one part of a burst while the gateway still parses the rest,
 * instead of the two taking turns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/text.h"
#include "gw.h"

/* KEYS holds every check's keys in order: its rate key, then (for a
 * signed-in caller) the two revocation keys, any present = revoked.
 * ARGV[1] is the number of checks n; ARGV[2..7] are each rate class's
 * emission interval T in ms (period / rate) and burst tolerance tau in ms
 * ((burst - 1) * T); then two numbers per check: its key count and its
 * class (1-based). Returns five integers per check, in order: revoked,
 * allowed, remaining, retry_after_ms, reset_ms.
 * GCRA keeps one number per key, the theoretical arrival time (TAT): a
 * request is allowed when TAT - now <= tau, and then moves TAT by T.
 * Time comes from Redis (TIME), so every gateway replica agrees.
 * What Redis spends on a batch is mostly Lua and its glue, not the
 * commands: each redis.call builds a client call and converts the reply,
 * and each reply table is converted again on return. So one MGET reads
 * every key of the batch, a check of a key that an earlier check of the
 * same batch moved reads that TAT from `seen` (checks of one key in one
 * batch see each other like separate calls would), an allowed check costs
 * one SET, and the reply is one flat array. SET's numbers are formatted as
 * integers here, since Redis turns a Lua number argument into text with
 * "%.17g", the slowest path of printf. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local v = redis.call('MGET', unpack(KEYS))\n"
    "local T, tau = {}, {}\n"
    "for c = 1, 3 do\n"
    "  T[c], tau[c] = tonumber(ARGV[2 * c]), tonumber(ARGV[2 * c + 1])\n"
    "end\n"
    "local seen, out = {}, {}\n"
    "local k, a, o = 1, 8, 0\n"
    "for i = 1, tonumber(ARGV[1]) do\n"
    "  local nk, c = tonumber(ARGV[a]), tonumber(ARGV[a + 1])\n"
    "  a = a + 2\n"
    "  local revoked = false\n"
    "  for j = k + 1, k + nk - 1 do\n"
    "    if v[j] then revoked = true end\n"
    "  end\n"
    "  local r1, r2, r3, r4, r5 = 1, 0, 0, 0, 0\n"
    "  if not revoked then\n"
    "    local key = KEYS[k]\n"
    "    local tat = seen[key] or tonumber(v[k] or now) or now\n"
    "    if tat < now then tat = now end\n"
    "    if tat - now > tau[c] then\n"
    "      r1, r2, r3, r4, r5 = 0, 0, 0, tat - now - tau[c], tat - now\n"
    "    else\n"
    "      local new_tat = tat + T[c]\n"
    "      seen[key] = new_tat\n"
    "      redis.call('SET', key, string.format('%d', new_tat), 'PX',\n"
    "                 string.format('%d', new_tat - now))\n"
    "      r1, r2, r3, r4, r5 = 0, 1, math.floor((tau[c] - (new_tat - now)) / T[c]) + 1, 0,\n"
    "                           new_tat - now\n"
    "    end\n"
    "  end\n"
    "  out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = r1, r2, r3, r4, r5\n"
    "  o = o + 5\n"
    "  k = k + nk\n"
    "end\n"
    "return out\n";

enum { BATCH_MAX = 16, KEY_MAX = 160, NUM_MAX = CC_DECIMAL_MAX };

typedef struct check {
    gw_limit_cb cb;
    void *ud;
    int64_t limit;
    int nkeys;
    char keys[3][KEY_MAX];
    int cls;
} check;

/* One EVALSHA's checks; freed when its reply has been handed out. */
typedef struct batch {
    int n;
    check c[BATCH_MAX];
} batch;

static cc_redis_script *script;
static cc_redis *redis;
static uv_check_t flusher;
/* Active while checks are queued, so the loop's poll does not block
 * before the flush (a check queued by a timer, or by a check handle that
 * ran after ours, would otherwise wait for the next event). */
static uv_idle_t waker;
static bool flusher_open;
static batch *pending;
/* Each class's burst (the RateLimit-Limit) and its T and tau as text, made
 * once by gw_limit_init: they depend only on the settings. */
static int64_t class_burst[GW_RATE_NCLASSES];
static char class_nums[GW_RATE_NCLASSES][2][NUM_MAX];
/* The script's 1-based class numbers; it reads three classes. */
static const char *const class_index[] = {"1", "2", "3"};
_Static_assert(GW_RATE_NCLASSES == 3, "gcra_lua reads three rate classes");

/* Writes prefix then id into out (cap bytes, NUL-terminated); false when
 * they do not fit. Keys are built on every request. */
static bool make_key(char *out, size_t cap, const char *prefix, const char *id)
{
    size_t lp = strlen(prefix), li = strlen(id);
    if (lp + li >= cap)
        return false;
    memcpy(out, prefix, lp);
    memcpy(out + lp, id, li + 1);
    return true;
}

static void fail_all(batch *b, cc_status s)
{
    for (int i = 0; i < b->n; i++)
        b->c[i].cb(s, NULL, b->c[i].ud);
}

static void on_reply(cc_status s, const char *errmsg, const redisReply *rep, void *ud)
{
    batch *b = ud;
    if (s != CC_OK || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)b->n * 5) {
        fail_all(b, s == CC_OK || s == CC_DB ? CC_UNAVAILABLE : s);
        free(b);
        return;
    }
    for (int i = 0; i < b->n; i++) {
        gw_limit_result r = {.limit = b->c[i].limit};
        long long v[5];
        for (int j = 0; j < 5; j++) {
            const redisReply *x = rep->element[i * 5 + j];
            v[j] = x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
        }
        r.revoked = v[0] != 0;
        r.allowed = v[1] != 0;
        r.remaining = v[2] < 0 ? 0 : v[2];
        r.retry_after_ms = v[3];
        r.reset_ms = v[4];
        b->c[i].cb(CC_OK, &r, b->c[i].ud);
    }
    free(b);
}

/* Sends the queued checks as one script call. */
static void flush(void)
{
    batch *b = pending;
    pending = NULL;
    if (!b)
        return;
    uv_idle_stop(&waker);
    if (b->n == 0) { /* its only check was refused (a key too long) */
        free(b);
        return;
    }
    const char *argv[BATCH_MAX * 5 + 1 + GW_RATE_NCLASSES * 2];
    int nkeys = 0;
    for (int i = 0; i < b->n; i++)
        for (int k = 0; k < b->c[i].nkeys; k++)
            argv[nkeys++] = b->c[i].keys[k];
    char count[CC_DECIMAL_MAX];
    cc_i64_text(count, b->n);
    int argc = nkeys;
    argv[argc++] = count;
    for (int c = 0; c < GW_RATE_NCLASSES; c++) {
        argv[argc++] = class_nums[c][0];
        argv[argc++] = class_nums[c][1];
    }
    for (int i = 0; i < b->n; i++) {
        argv[argc++] = b->c[i].nkeys == 3 ? "3" : "1";
        argv[argc++] = class_index[b->c[i].cls];
    }
    cc_status s = cc_redis_eval(redis, script, nkeys, argc, argv, NULL, on_reply, b);
    if (s != CC_OK) {
        fail_all(b, CC_UNAVAILABLE);
        free(b);
    }
}

static void on_flush(uv_check_t *h)
{
    (void)h;
    flush();
}

static void on_wake(uv_idle_t *h)
{
    (void)h;
}

cc_status gw_limit_init(uv_loop_t *loop, cc_redis *r, const gw_settings *cfg)
{
    redis = r;
    const int64_t rate[GW_RATE_NCLASSES] = {[GW_RATE_ANON] = cfg->rate_anon,
                                            [GW_RATE_USER] = cfg->rate_user,
                                            [GW_RATE_AUTH] = cfg->rate_auth};
    const int64_t burst[GW_RATE_NCLASSES] = {[GW_RATE_ANON] = cfg->burst_anon,
                                             [GW_RATE_USER] = cfg->burst_user,
                                             [GW_RATE_AUTH] = cfg->burst_auth};
    for (int c = 0; c < GW_RATE_NCLASSES; c++) {
        int64_t T = cfg->rate_period_ms / (rate[c] > 0 ? rate[c] : 1);
        if (T < 1)
            T = 1;
        class_burst[c] = burst[c];
        cc_i64_text(class_nums[c][0], T);
        cc_i64_text(class_nums[c][1], T * (burst[c] > 1 ? burst[c] - 1 : 0));
    }
    uv_check_init(loop, &flusher);
    uv_check_start(&flusher, on_flush);
    /* It runs only while something else keeps the loop alive. */
    uv_unref((uv_handle_t *)&flusher);
    uv_idle_init(loop, &waker);
    flusher_open = true;
    return cc_redis_script_add(r, gcra_lua, &script);
}

void gw_limit_stop(void)
{
    /* What is queued goes out now (or fails, if Redis is closing). */
    flush();
    if (flusher_open) {
        flusher_open = false;
        uv_close((uv_handle_t *)&flusher, NULL);
        uv_close((uv_handle_t *)&waker, NULL);
    }
}

cc_status gw_limit_check(cc_redis *r, int cls, const char *who, const gw_principal *p,
                         gw_limit_cb cb, void *ud)
{
    static const char *const prefixes[] = {"cc:rl:anon:", "cc:rl:user:", "cc:rl:auth:"};
    if (r != redis || !flusher_open)
        return cc_err_set(CC_UNAVAILABLE, "rate limiting is not running");
    if (cls < 0 || cls >= GW_RATE_NCLASSES)
        return cc_err_set(CC_INVALID, "no rate class %d", cls);
    if (pending && pending->n == BATCH_MAX)
        flush();
    if (!pending) {
        if (!(pending = malloc(sizeof *pending)))
            return CC_NOMEM;
        pending->n = 0;
        uv_idle_start(&waker, on_wake);
    }
    check *c = &pending->c[pending->n];
    c->cb = cb;
    c->ud = ud;
    c->limit = class_burst[cls];
    c->nkeys = p ? 3 : 1;
    if (!make_key(c->keys[0], KEY_MAX, prefixes[cls], who) ||
        (p && (!make_key(c->keys[1], KEY_MAX, "cc:revoked:jti:", p->jti) ||
               !make_key(c->keys[2], KEY_MAX, "cc:revoked:user:", p->user_id))))
        return cc_err_set(CC_INVALID, "rate-limit key too long");
    c->cls = cls;
    pending->n++;
    return CC_OK;
}
