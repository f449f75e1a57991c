/* Rate limits (GCRA) and token revocation, in Redis. The checks of one
 * loop iteration travel together: they are queued, and a check handle (run
 * right after libuv's poll phase, once h2o has read every request that
 * arrived) sends them at once. Redis spends most of a small script call on
 * the call itself (parsing, finding the script, entering Lua), so under
 * load one call for a batch costs it a fraction of one call per request,
 * and the gateway formats one command and parses one reply. A lone request
 * still goes out in the iteration it arrived. A batch also goes out as
 * soon as it holds BATCH_MAX checks, and the commands are written to the
 * socket at once (not at the next poll): Redis works on one part of a
 * burst while the gateway still parses the rest, instead of the two taking
 * turns.
 *
 * Leases. A key that sends many requests takes its allowance from Redis
 * several tokens at a time: the script grants up to `want` tokens in one
 * GCRA step (moving the TAT by that many emission intervals, or by as many
 * as the burst still allows), and the gateway spends them locally. This is
 * the scheme of API gateways that keep local counters in front of a shared
 * store (Kong's `sync_rate`, quota leasing in Doorman), bounded here so the
 * limit stays exact over time:
 *  - `want` starts at 1, doubles while a key keeps using up its lease
 *    before it expires, halves when a lease expires unused, and never
 *    exceeds LEASE_MAX or burst / 16, so a class with a burst under 32 (the
 *    defaults for anon, auth and login) is checked in Redis on every request, as
 *    before;
 *  - a lease lives LEASE_MS; what is left of it then goes back to Redis
 *    (the TAT moves back), so the tokens a gateway holds cannot be lost;
 *  - while one lease request of a key is in flight, other misses of the
 *    key ask for one token, and a lease running low (a quarter left) asks
 *    for the next one ahead of time;
 *  - with several gateways, a key's tokens leased by one gateway cannot be
 *    used at another until they are spent or returned: at most
 *    LEASE_MAX - 1 per gateway, for at most LEASE_MS.
 * Revocation is never leased: a signed-in request whose rate check is
 * local still reads its two revocation keys in Redis (one MGET for the
 * batch, no Lua), so a logout or a disabled user takes effect at once and
 * a signed-in call still fails closed while Redis is down. An anonymous
 * call within a lease needs no Redis at all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/text.h"
#include "gw.h"

/* KEYS holds every check's keys in order: its rate key, then (for a
 * signed-in caller) the two revocation keys, any present = revoked.
 * ARGV[1] is the number of checks n; ARGV[2..9] are each rate class's
 * emission interval T (period / rate) and burst tolerance tau
 * ((burst - 1) * T), in microseconds (so a key may have more than 1,000
 * requests a second: Lua's doubles hold microseconds since 1970 exactly);
 * then three numbers per check: its key count, its class (1-based) and the
 * tokens it asks for, q. q > 0 grants min(q, what the burst allows now)
 * tokens; q < 0 gives -q unused tokens back. Returns five integers per
 * check, in order: revoked, granted, remaining, retry_after_ms, reset_ms.
 * GCRA keeps one number per key, the theoretical arrival time (TAT): a
 * request is allowed when TAT - now <= tau, and then moves TAT by T; so
 * floor((now + tau + T - TAT) / T) requests are allowed at once.
 * Time comes from Redis (TIME), so every gateway replica agrees. The
 * times returned are in milliseconds, rounded up.
 * What Redis spends on a batch is mostly Lua and its glue, not the
 * commands: each redis.call builds a client call and converts the reply,
 * and each reply table is converted again on return. So one MGET reads
 * every key of the batch, a check of a key that an earlier check of the
 * same batch moved reads that TAT from `seen` (checks of one key in one
 * batch see each other like separate calls would), a grant costs one SET,
 * and the reply is one flat array. SET's numbers are formatted as integers
 * here, since Redis turns a Lua number argument into text with "%.17g",
 * the slowest path of printf. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local v = redis.call('MGET', unpack(KEYS))\n"
    "local T, tau = {}, {}\n"
    "for c = 1, 4 do\n"
    "  T[c], tau[c] = tonumber(ARGV[2 * c]), tonumber(ARGV[2 * c + 1])\n"
    "end\n"
    "local seen, out = {}, {}\n"
    "local k, a, o = 1, 10, 0\n"
    "for i = 1, tonumber(ARGV[1]) do\n"
    "  local nk, c, q = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])\n"
    "  a = a + 3\n"
    "  local revoked = false\n"
    "  for j = k + 1, k + nk - 1 do\n"
    "    if v[j] then revoked = true end\n"
    "  end\n"
    "  local r1, r2, r3, r4, r5 = 1, 0, 0, 0, 0\n"
    "  if not revoked then\n"
    "    local key = KEYS[k]\n"
    "    local tat = seen[key] or tonumber(v[k] or now) or now\n"
    "    if tat < now then tat = now end\n"
    "    local fit = math.floor((now + tau[c] + T[c] - tat) / T[c])\n"
    "    if q < 0 then\n"
    "      local back = tat + q * T[c]\n"
    "      if back < now then back = now end\n"
    "      seen[key] = back\n"
    "      if back > now then\n"
    "        redis.call('SET', key, string.format('%d', back), 'PX',\n"
    "                   string.format('%d', math.ceil((back - now) / 1000)))\n"
    "      else\n"
    "        redis.call('DEL', key)\n"
    "      end\n"
    "      r1 = 0\n"
    "    elseif fit < 1 then\n"
    "      r1, r2, r3, r4, r5 = 0, 0, 0, math.ceil((tat - now - tau[c]) / 1000),\n"
    "                           math.ceil((tat - now) / 1000)\n"
    "    else\n"
    "      if q > fit then q = fit end\n"
    "      local new_tat = tat + q * T[c]\n"
    "      seen[key] = new_tat\n"
    "      local ttl = math.ceil((new_tat - now) / 1000)\n"
    "      redis.call('SET', key, string.format('%d', new_tat), 'PX', string.format('%d', ttl))\n"
    "      r1, r2, r3, r4, r5 = 0, q, fit - q, 0, ttl\n"
    "    end\n"
    "  end\n"
    "  out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = r1, r2, r3, r4, r5\n"
    "  o = o + 5\n"
    "  k = k + nk\n"
    "end\n"
    "return out\n";

enum {
    BATCH_MAX = 16,
    KEY_MAX = 160,
    NUM_MAX = CC_DECIMAL_MAX,
    LEASE_MAX = 64,
    LEASE_MS = 1000,
    /* A key unused this long forgets its lease size (its entry is freed). */
    LEASE_IDLE_MS = 10000,
    LEASE_BUCKETS = 4096,
    /* Keys with a lease entry at once; beyond this, keys are checked in
     * Redis on every request (many distinct IPs cannot grow the table). */
    LEASE_KEYS = 65536,
};

typedef struct lease {
    struct lease *next; /* in its bucket */
    int cls;
    int64_t left;      /* tokens granted and not spent */
    int64_t want;      /* the next request's size */
    uint64_t expires;  /* loop time when what is left goes back */
    uint64_t used_at;  /* loop time of the last check */
    int64_t remaining; /* Redis' remaining at the last grant */
    uint64_t reset_at; /* loop time when the TAT is back at now */
    int inflight;      /* script checks of this key not yet answered */
    char key[KEY_MAX];
} lease;

/* How a queued check is answered. (An anonymous check within a lease
 * asks nothing: it waits in `locals`.) */
enum kind {
    K_SCRIPT, /* the script: q tokens (q < 0: a return), revocation too */
    K_REVOKE, /* within a lease, signed in: only the revocation keys */
};

typedef struct check {
    gw_limit_cb cb; /* NULL for a lease prefetch or return */
    void *ud;
    lease *l;
    enum kind kind;
    int cls;
    int64_t q;
    int64_t remaining, reset_ms; /* K_REVOKE: from the lease */
    int nkeys;
    char keys[3][KEY_MAX];
} check;

/* One flush's checks; freed when the replies it waits for have been
 * handed out. */
typedef struct batch {
    int n;
    int replies; /* Redis replies still to come */
    check c[BATCH_MAX];
} batch;

static uv_loop_t *loop;
static cc_redis_script *script;
static cc_redis *redis;
static uv_check_t flusher;
/* Active while checks are queued, so the loop's poll does not block
 * before the flush (a check queued by a timer, or by a check handle that
 * ran after ours, would otherwise wait for the next event). */
static uv_idle_t waker;
/* Gives back what expired leases left and frees idle entries. */
static uv_timer_t sweeper;
static bool flusher_open;
static batch *pending;
/* Anonymous checks within a lease, answered by the flush handle (never
 * inside gw_limit_check, like the others). */
typedef struct local_answer {
    gw_limit_cb cb;
    void *ud;
    gw_limit_result r;
} local_answer;
static local_answer *locals;
static size_t nlocals, locals_cap;
static lease *buckets[LEASE_BUCKETS];
static int nleases;
/* Each class's burst (the RateLimit-Limit), its largest lease, and its T
 * and tau as text, made once by gw_limit_init: they depend only on the
 * settings. */
static int64_t class_burst[GW_RATE_NCLASSES], class_lease[GW_RATE_NCLASSES];
static char class_nums[GW_RATE_NCLASSES][2][NUM_MAX];
/* The script's 1-based class numbers; it reads four classes. */
static const char *const class_index[] = {"1", "2", "3", "4"};
_Static_assert(GW_RATE_NCLASSES == 4, "gcra_lua reads four rate classes");

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

/* FNV-1a of the key (the class is in its prefix). */
static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)(h % LEASE_BUCKETS);
}

/* key's entry, made when missing; NULL when the table is full. */
static lease *lease_of(int cls, const char *key, uint64_t now)
{
    lease **b = &buckets[bucket_of(key)];
    for (lease *l = *b; l; l = l->next)
        if (strcmp(l->key, key) == 0)
            return l;
    lease *l;
    if (nleases >= LEASE_KEYS || !(l = calloc(1, sizeof *l)))
        return NULL;
    l->cls = cls;
    l->want = 1;
    l->used_at = now;
    memcpy(l->key, key, strlen(key) + 1);
    l->next = *b;
    *b = l;
    nleases++;
    return l;
}

static batch *queue_slot(void);
static void on_wake(uv_idle_t *h);

/* Queues a script check of l's key for q tokens (q < 0: a return); NULL
 * when out of memory. */
static check *queue_script(lease *l, int cls, const char *key, int64_t q)
{
    batch *b = queue_slot();
    if (!b)
        return NULL;
    check *c = &b->c[b->n++];
    c->cb = NULL;
    c->ud = NULL;
    c->l = l;
    c->kind = K_SCRIPT;
    c->cls = cls;
    c->q = q;
    c->nkeys = 1;
    memcpy(c->keys[0], key, strlen(key) + 1);
    if (l)
        l->inflight++;
    return c;
}

/* Gives back what l holds (its lease expired unused, or the gateway
 * stops). */
static void give_back(lease *l)
{
    if (l->left > 0 && queue_script(NULL, l->cls, l->key, -l->left))
        l->left = 0;
    if (l->want > 1)
        l->want /= 2;
}

static void deliver(check *c, cc_status s, const gw_limit_result *r)
{
    if (c->cb)
        c->cb(s, r, c->ud);
}

static void fail(check *c, cc_status s)
{
    if (c->kind == K_SCRIPT && c->l)
        c->l->inflight--;
    deliver(c, s, NULL);
}

/* Done with one of b's replies. */
static void release(batch *b)
{
    if (--b->replies == 0)
        free(b);
}

/* What the checks of a reply that does not fit are told. */
static cc_status failed(cc_status s)
{
    return s == CC_OK || s == CC_DB ? CC_UNAVAILABLE : s;
}

/* Hands each of b's checks of kind k its per elements of rep (one() reads
 * them), or the failure when rep does not fit them all; then lets go of b. */
static void answer(batch *b, enum kind k, size_t per, cc_status s, const redisReply *rep,
                   void (*one)(check *c, redisReply *const *el))
{
    size_t n = 0;
    for (int i = 0; i < b->n; i++)
        n += b->c[i].kind == k;
    bool ok = s == CC_OK && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == n * per;
    size_t e = 0;
    for (int i = 0; i < b->n; i++) {
        check *c = &b->c[i];
        if (c->kind != k)
            continue;
        if (ok)
            one(c, rep->element + e++ * per);
        else
            fail(c, failed(s));
    }
    release(b);
}

/* A script check's five numbers: revoked, granted, remaining,
 * retry_after_ms, reset_ms. */
static void script_one(check *c, redisReply *const *el)
{
    long long v[5];
    for (int j = 0; j < 5; j++)
        v[j] = el[j]->type == REDIS_REPLY_INTEGER ? el[j]->integer : 0;
    gw_limit_result r = {.limit = class_burst[c->cls]};
    r.revoked = v[0] != 0;
    r.allowed = v[1] > 0;
    r.remaining = v[2] < 0 ? 0 : v[2];
    r.retry_after_ms = v[3];
    r.reset_ms = v[4];
    lease *l = c->l;
    if (l) {
        uint64_t now = uv_now(loop);
        l->inflight--;
        if (c->q > 0 && v[1] > 0) {
            /* The caller's request takes one token; the rest is the
             * lease. */
            l->left += v[1] - (c->cb ? 1 : 0);
            l->expires = now + LEASE_MS;
            l->remaining = r.remaining;
            l->reset_at = now + (uint64_t)(r.reset_ms > 0 ? r.reset_ms : 0);
        }
        if (!r.allowed && !r.revoked && c->cb && l->left > 0) {
            /* Refused in Redis while this gateway still holds tokens
             * (a lease granted in the same batch): one of them. */
            l->left--;
            r.allowed = true;
            r.retry_after_ms = 0;
        }
        r.remaining += l->left;
    }
    deliver(c, CC_OK, &r);
}

/* A check within a lease: its two revocation keys, either present =
 * revoked. */
static void revoke_one(check *c, redisReply *const *el)
{
    gw_limit_result r = {.limit = class_burst[c->cls],
                         .allowed = true,
                         .remaining = c->remaining,
                         .reset_ms = c->reset_ms};
    r.revoked = el[0]->type != REDIS_REPLY_NIL || el[1]->type != REDIS_REPLY_NIL;
    deliver(c, CC_OK, &r);
}

static void on_script(cc_status s, const char *errmsg, const redisReply *rep, void *ud)
{
    (void)errmsg;
    answer(ud, K_SCRIPT, 5, s, rep, script_one);
}

static void on_revocation(cc_status s, const char *errmsg, const redisReply *rep, void *ud)
{
    (void)errmsg;
    answer(ud, K_REVOKE, 2, s, rep, revoke_one);
}

/* Sends the queued checks: the script for those that need it, one MGET
 * for the revocation keys of the signed-in checks within a lease. */
static void flush(void)
{
    batch *b = pending;
    pending = NULL;
    if (!b)
        return;
    if (nlocals == 0)
        uv_idle_stop(&waker);
    const char *argv[BATCH_MAX * 6 + 1 + GW_RATE_NCLASSES * 2];
    char qtext[BATCH_MAX][NUM_MAX];
    int nscript = 0, nrevoke = 0;
    for (int i = 0; i < b->n; i++) {
        nscript += b->c[i].kind == K_SCRIPT;
        nrevoke += b->c[i].kind == K_REVOKE;
    }
    /* One count for each reply to come, plus one held here until every
     * command is sent (a reply cannot come before, but a failure to send
     * answers at once). */
    b->replies = (nscript > 0) + (nrevoke > 0) + 1;
    if (nscript > 0) {
        int nkeys = 0;
        for (int i = 0; i < b->n; i++)
            if (b->c[i].kind == K_SCRIPT)
                for (int k = 0; k < b->c[i].nkeys; k++)
                    argv[nkeys++] = b->c[i].keys[k];
        char count[NUM_MAX];
        cc_i64_text(count, nscript);
        int argc = nkeys;
        argv[argc++] = count;
        for (int c = 0; c < GW_RATE_NCLASSES; c++) {
            argv[argc++] = class_nums[c][0];
            argv[argc++] = class_nums[c][1];
        }
        for (int i = 0; i < b->n; i++) {
            check *c = &b->c[i];
            if (c->kind != K_SCRIPT)
                continue;
            argv[argc++] = c->nkeys == 3 ? "3" : "1";
            argv[argc++] = class_index[c->cls];
            cc_i64_text(qtext[i], c->q);
            argv[argc++] = qtext[i];
        }
        if (cc_redis_eval(redis, script, nkeys, argc, argv, NULL, on_script, b) != CC_OK)
            on_script(CC_UNAVAILABLE, NULL, NULL, b);
    }
    if (nrevoke > 0) {
        int argc = 0;
        argv[argc++] = "MGET";
        for (int i = 0; i < b->n; i++)
            if (b->c[i].kind == K_REVOKE) {
                argv[argc++] = b->c[i].keys[1];
                argv[argc++] = b->c[i].keys[2];
            }
        if (cc_redis_command(redis, argc, argv, NULL, on_revocation, b) != CC_OK)
            on_revocation(CC_UNAVAILABLE, NULL, NULL, b);
    }
    release(b);
}

/* Answers the anonymous checks within a lease queued so far. */
static void answer_locals(void)
{
    local_answer *list = locals;
    size_t n = nlocals;
    locals = NULL;
    nlocals = locals_cap = 0;
    for (size_t i = 0; i < n; i++)
        list[i].cb(CC_OK, &list[i].r, list[i].ud);
    free(list);
}

/* The batch being filled, with room for one more check; NULL when out of
 * memory. */
static batch *queue_slot(void)
{
    if (pending && pending->n == BATCH_MAX)
        flush();
    if (!pending) {
        if (!(pending = malloc(sizeof *pending)))
            return NULL;
        pending->n = 0;
        uv_idle_start(&waker, on_wake);
    }
    return pending;
}

static void on_flush(uv_check_t *h)
{
    (void)h;
    flush();
    if (nlocals > 0) {
        answer_locals();
        if (!pending && nlocals == 0)
            uv_idle_stop(&waker);
    }
}

static void on_wake(uv_idle_t *h)
{
    (void)h;
}

static void on_sweep(uv_timer_t *h)
{
    uint64_t now = uv_now(h->loop);
    for (size_t i = 0; i < LEASE_BUCKETS; i++)
        for (lease **p = &buckets[i]; *p;) {
            lease *l = *p;
            if (l->left > 0 && now >= l->expires && l->inflight == 0)
                give_back(l);
            if (l->left == 0 && l->inflight == 0 && now - l->used_at >= LEASE_IDLE_MS) {
                *p = l->next;
                free(l);
                nleases--;
                continue;
            }
            p = &l->next;
        }
}

cc_status gw_limit_init(uv_loop_t *lp, cc_redis *r, const gw_settings *cfg)
{
    loop = lp;
    redis = r;
    const int64_t rate[GW_RATE_NCLASSES] = {[GW_RATE_ANON] = cfg->rate_anon,
                                            [GW_RATE_USER] = cfg->rate_user,
                                            [GW_RATE_AUTH] = cfg->rate_auth,
                                            [GW_RATE_ACCOUNT] = cfg->rate_login};
    const int64_t burst[GW_RATE_NCLASSES] = {[GW_RATE_ANON] = cfg->burst_anon,
                                             [GW_RATE_USER] = cfg->burst_user,
                                             [GW_RATE_AUTH] = cfg->burst_auth,
                                             [GW_RATE_ACCOUNT] = cfg->burst_login};
    for (int c = 0; c < GW_RATE_NCLASSES; c++) {
        int64_t T = cfg->rate_period_ms * 1000 / (rate[c] > 0 ? rate[c] : 1);
        if (T < 1)
            T = 1;
        class_burst[c] = burst[c];
        class_lease[c] = burst[c] / 16 > LEASE_MAX ? LEASE_MAX : burst[c] / 16;
        cc_i64_text(class_nums[c][0], T);
        cc_i64_text(class_nums[c][1], T * (burst[c] > 1 ? burst[c] - 1 : 0));
    }
    uv_check_init(loop, &flusher);
    uv_check_start(&flusher, on_flush);
    /* It runs only while something else keeps the loop alive; so does the
     * sweep. */
    uv_unref((uv_handle_t *)&flusher);
    uv_idle_init(loop, &waker);
    uv_timer_init(loop, &sweeper);
    uv_timer_start(&sweeper, on_sweep, LEASE_MS / 4, LEASE_MS / 4);
    uv_unref((uv_handle_t *)&sweeper);
    flusher_open = true;
    return cc_redis_script_add(r, gcra_lua, &script);
}

void gw_limit_stop(void)
{
    if (flusher_open) {
        /* Leases go back, and what is queued goes out now (or fails, if
         * Redis is closing). */
        for (size_t i = 0; i < LEASE_BUCKETS; i++)
            for (lease *l = buckets[i]; l; l = l->next)
                give_back(l);
        flush();
        answer_locals();
        flusher_open = false;
        uv_close((uv_handle_t *)&flusher, NULL);
        uv_close((uv_handle_t *)&waker, NULL);
        uv_close((uv_handle_t *)&sweeper, NULL);
    }
}

cc_status gw_limit_check(cc_redis *r, int cls, const char *who, const gw_principal *p,
                         gw_limit_cb cb, void *ud)
{
    static const char *const prefixes[] = {
        "cc:rl:anon:", "cc:rl:user:", "cc:rl:auth:", "cc:rl:login:"};
    if (r != redis || !flusher_open)
        return cc_err_set(CC_UNAVAILABLE, "rate limiting is not running");
    if (cls < 0 || cls >= GW_RATE_NCLASSES)
        return cc_err_set(CC_INVALID, "no rate class %d", cls);
    char keys[3][KEY_MAX];
    if (!make_key(keys[0], KEY_MAX, prefixes[cls], who) ||
        (p && (!make_key(keys[1], KEY_MAX, "cc:revoked:jti:", p->jti) ||
               !make_key(keys[2], KEY_MAX, "cc:revoked:user:", p->user_id))))
        return cc_err_set(CC_INVALID, "rate-limit key too long");
    uint64_t now = uv_now(loop);
    lease *l = class_lease[cls] > 1 ? lease_of(cls, keys[0], now) : NULL;
    if (l)
        l->used_at = now;
    check *c;
    if (l && l->left > 0 && now < l->expires) {
        /* Within the lease. Running low (a quarter left): the next lease
         * is asked for now, ahead of this check (queuing may send the
         * batch, and this check's answer must not come before
         * gw_limit_check returns). */
        if (l->inflight == 0 && l->left - 1 <= l->want / 4) {
            if (l->want < class_lease[cls])
                l->want *= 2;
            if (!queue_script(l, cls, keys[0], l->want))
                return CC_NOMEM;
        }
        gw_limit_result ans = {.limit = class_burst[cls],
                               .allowed = true,
                               .remaining = l->remaining + l->left - 1,
                               .reset_ms = l->reset_at > now ? (int64_t)(l->reset_at - now) : 0};
        if (!p) {
            if (nlocals == locals_cap) {
                size_t cap = locals_cap ? locals_cap * 2 : 64;
                local_answer *m = realloc(locals, cap * sizeof *m);
                if (!m)
                    return CC_NOMEM;
                locals = m;
                locals_cap = cap;
            }
            locals[nlocals++] = (local_answer){.cb = cb, .ud = ud, .r = ans};
            uv_idle_start(&waker, on_wake);
            l->left--;
            return CC_OK;
        }
        batch *b = queue_slot();
        if (!b)
            return CC_NOMEM;
        l->left--;
        c = &b->c[b->n++];
        c->l = l;
        c->kind = K_REVOKE;
        c->cls = cls;
        c->q = 0;
        c->nkeys = 0;
        c->remaining = ans.remaining;
        c->reset_ms = ans.reset_ms;
    } else {
        if (l && l->left > 0) /* expired, not yet swept */
            give_back(l);
        else if (l && now < l->expires && l->want < class_lease[cls])
            l->want *= 2; /* used up within its lifetime */
        c = queue_script(l, cls, keys[0], l && l->inflight == 0 ? l->want : 1);
        if (!c)
            return CC_NOMEM;
        c->nkeys = p ? 3 : 1;
    }
    c->cb = cb;
    c->ud = ud;
    if (p) {
        memcpy(c->keys[1], keys[1], strlen(keys[1]) + 1);
        memcpy(c->keys[2], keys[2], strlen(keys[2]) + 1);
    }
    return CC_OK;
}
