/* Rate limits (GCRA) and token revocation in one Redis script, so an
 * authenticated request costs one round trip to Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

/* KEYS[1]: the rate key; KEYS[2..]: revocation keys (any present = revoked).
 * ARGV[1]: emission interval T in ms (period / rate); ARGV[2]: burst
 * tolerance in ms ((burst - 1) * T).
 * Returns {revoked, allowed, remaining, retry_after_ms, reset_ms}.
 * GCRA keeps one number per key, the theoretical arrival time (TAT): a
 * request is allowed when TAT - now <= tolerance, and then moves TAT by T.
 * Time comes from Redis (TIME), so every gateway replica agrees. */
static const char gcra_lua[] =
    "for i = 2, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 1 then return {1, 0, 0, 0, 0} end\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local T = tonumber(ARGV[1])\n"
    "local tau = tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "if tat < now then tat = now end\n"
    "if tat - now > tau then\n"
    "  return {0, 0, 0, tat - now - tau, tat - now}\n"
    "end\n"
    "local new_tat = tat + T\n"
    "redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)\n"
    "return {0, 1, math.floor((tau - (new_tat - now)) / T) + 1, 0, new_tat - now}\n";

static cc_redis_script *script;

cc_status gw_limit_init(cc_redis *r)
{
    return cc_redis_script_add(r, gcra_lua, &script);
}

typedef struct {
    gw_limit_cb cb;
    void *ud;
    int64_t limit;
} limit_ctx;

static void on_reply(cc_status s, const char *errmsg, const redisReply *rep, void *ud)
{
    limit_ctx c = *(limit_ctx *)ud;
    free(ud);
    gw_limit_result r = {.limit = c.limit};
    if (s == CC_OK && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 5) {
        long long v[5];
        for (int i = 0; i < 5; i++)
            v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
        r.revoked = v[0] != 0;
        r.allowed = v[1] != 0;
        r.remaining = v[2] < 0 ? 0 : v[2];
        r.retry_after_ms = v[3];
        r.reset_ms = v[4];
        c.cb(CC_OK, &r, c.ud);
        return;
    }
    c.cb(s == CC_OK || s == CC_DB ? CC_UNAVAILABLE : s, NULL, c.ud);
}

cc_status gw_limit_check(cc_redis *r, const gw_settings *cfg, int cls, const char *who,
                         const gw_principal *p, gw_limit_cb cb, void *ud)
{
    static const char *const names[] = {"anon", "user", "auth"};
    int64_t rate = cls == GW_RATE_AUTH ? cfg->rate_auth
                   : cls == GW_RATE_USER ? cfg->rate_user
                                         : cfg->rate_anon;
    int64_t burst = cls == GW_RATE_AUTH ? cfg->burst_auth
                    : cls == GW_RATE_USER ? cfg->burst_user
                                          : cfg->burst_anon;
    int64_t T = cfg->rate_period_ms / (rate > 0 ? rate : 1);
    if (T < 1)
        T = 1;
    char key[160], jti[96], usr[80], targ[24], tau[24];
    snprintf(key, sizeof key, "cc:rl:%s:%s", names[cls], who);
    snprintf(targ, sizeof targ, "%lld", (long long)T);
    snprintf(tau, sizeof tau, "%lld", (long long)(T * (burst > 1 ? burst - 1 : 0)));
    const char *argv[5] = {key};
    int nkeys = 1;
    if (p) {
        snprintf(jti, sizeof jti, "cc:revoked:jti:%s", p->jti);
        snprintf(usr, sizeof usr, "cc:revoked:user:%s", p->user_id);
        argv[nkeys++] = jti;
        argv[nkeys++] = usr;
    }
    argv[nkeys] = targ;
    argv[nkeys + 1] = tau;
    limit_ctx *c = malloc(sizeof *c);
    if (!c)
        return CC_NOMEM;
    *c = (limit_ctx){cb, ud, burst};
    cc_status s = cc_redis_eval(r, script, nkeys, nkeys + 2, argv, NULL, on_reply, c);
    if (s != CC_OK)
        free(c);
    return s;
}
