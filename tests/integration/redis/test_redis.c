/* Integration: cc/redis.h against a real Redis: commands with binary
 * arguments, a script run by SHA (loaded once, reloaded after SCRIPT
 * FLUSH), a command timeout, Redis killed while a reply callback sends
 * more (each of those fails later, never inside the call that sent it),
 * Redis stopped (CC_UNAVAILABLE) and started again (works by itself). */
#include "cc/local.h"
#include "cc/redis.h"

#include <signal.h>
#include <string.h>

#include "testutil.h"

static cc_local_stack stack;
static uv_loop_t loop;

typedef struct res {
    bool done;
    cc_status s;
    char msg[256];
    int type;
    long long integer;
    char str[1024];
} res;

static void on_res(cc_status s, const char *errmsg, const redisReply *r, void *ud)
{
    res *o = ud;
    o->done = true;
    o->s = s;
    snprintf(o->msg, sizeof o->msg, "%s", errmsg ? errmsg : "");
    if (r) {
        o->type = r->type;
        o->integer = r->integer;
        if (r->str) {
            size_t n = r->len < sizeof o->str - 1 ? r->len : sizeof o->str - 1;
            memcpy(o->str, r->str, n); /* binary-safe */
            o->str[n] = '\0';
        }
    }
}

static res cmd(cc_redis *r, int argc, const char *const *argv, const size_t *lens)
{
    res o = {0};
    cc_status s = cc_redis_command(r, argc, argv, lens, on_res, &o);
    if (s != CC_OK) {
        o.s = s;
        return o;
    }
    CHECK(RUN_UNTIL(&loop, o.done, 10000));
    return o;
}

static res eval(cc_redis *r, const cc_redis_script *sc, const char *key, const char *arg)
{
    res o = {0};
    const char *argv[2] = {key, arg};
    cc_status s = cc_redis_eval(r, sc, 1, 2, argv, NULL, on_res, &o);
    if (s != CC_OK) {
        o.s = s;
        return o;
    }
    CHECK(RUN_UNTIL(&loop, o.done, 10000));
    return o;
}

/* Redis killed from inside a reply callback, which then sends more: by
 * then the socket has the peer's FIN, so the first write provokes a reset
 * and the next ones fail. */
static struct {
    cc_redis *r;
    bool inside; /* in on_first's sending loop */
    int early;   /* callbacks run inside that loop */
    res first, more[4];
} chain;

static void on_more(cc_status s, const char *errmsg, const redisReply *r, void *ud)
{
    if (chain.inside)
        chain.early++;
    on_res(s, errmsg, r, ud);
}

static void on_first(cc_status s, const char *errmsg, const redisReply *r, void *ud)
{
    on_res(s, errmsg, r, ud);
    CHECK_OK(cc_local_stack_crash(&stack, CC_LOCAL_REDIS));
    usleep(100000);
    const char *ping[1] = {"PING"};
    chain.inside = true;
    for (int i = 0; i < 4; i++) {
        if (cc_redis_command(chain.r, 1, ping, NULL, on_more, &chain.more[i]) != CC_OK) {
            chain.more[i].done = true;
            chain.more[i].s = CC_UNAVAILABLE;
        }
        usleep(20000);
    }
    chain.inside = false;
}

/* True once PING answers within ms of polling (Redis restarted: the
 * client reconnects by itself); meanwhile every failure is CC_UNAVAILABLE. */
static bool back_within(cc_redis *r, int ms)
{
    const char *ping[1] = {"PING"};
    uint64_t t0 = cc_now_ns();
    while (cc_now_ns() - t0 < (uint64_t)ms * 1000000ull) {
        res x = cmd(r, 1, ping, NULL);
        if (x.s == CC_OK)
            return true;
        CHECK(x.s == CC_UNAVAILABLE);
        run_ms(&loop, 50);
    }
    return false;
}

static void on_closed(void *ud)
{
    *(bool *)ud = true;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as every process of the mesh */
    CHECK_OK(cc_local_stack_start(&stack, CC_LOCAL_REDIS, NULL));
    CHECK_OK(cc_local_guard(&stack));
    uv_loop_init(&loop);

    cc_redis *r;
    cc_redis_options o = {.host = "127.0.0.1", .port = stack.redis_port, .command_timeout_ms = 500};
    CHECK_OK(cc_redis_open(&loop, &o, &r));
    cc_redis_script *incr;
    CHECK_OK(cc_redis_script_add(r, "return redis.call('INCRBY', KEYS[1], ARGV[1])", &incr));

    /* Commands queued while connecting go out once connected. */
    const char *set[3] = {"SET", "k", "a\0b"};
    size_t setl[3] = {3, 1, 3};
    res x = cmd(r, 3, set, setl);
    CHECK_OK(x.s);
    CHECK(cc_redis_connected(r));
    const char *get[2] = {"GET", "k"};
    x = cmd(r, 2, get, NULL);
    CHECK(x.s == CC_OK && x.type == REDIS_REPLY_STRING && !memcmp(x.str, "a\0b", 3));
    const char *bad[2] = {"INCR", "k"};
    x = cmd(r, 2, bad, NULL);
    CHECK(x.s == CC_DB && strstr(x.msg, "not an integer"));
    fprintf(stderr, "ok: commands, binary arguments, error replies\n");

    /* The script was loaded at connect: EVALSHA finds it. */
    const char *exists[3] = {"SCRIPT", "EXISTS", cc_redis_script_sha(incr)};
    x = cmd(r, 3, exists, NULL);
    CHECK(x.s == CC_OK);
    x = eval(r, incr, "counter", "5");
    CHECK(x.s == CC_OK && x.type == REDIS_REPLY_INTEGER && x.integer == 5);

    /* SCRIPT FLUSH: the next call meets NOSCRIPT and reloads by itself. */
    const char *flush[2] = {"SCRIPT", "FLUSH"};
    CHECK_OK(cmd(r, 2, flush, NULL).s);
    x = eval(r, incr, "counter", "2");
    CHECK(x.s == CC_OK && x.integer == 7);
    /* ...and it is cached again: SCRIPT EXISTS says 1. */
    res e = {0};
    CHECK_OK(cc_redis_command(r, 3, exists, NULL, on_res, &e));
    CHECK(RUN_UNTIL(&loop, e.done, 5000));
    CHECK(e.s == CC_OK);
    fprintf(stderr, "ok: script by SHA, NOSCRIPT reload after SCRIPT FLUSH\n");

    /* A command that outlives its timeout. */
    const char *slow[5] = {"EVAL",
                           "local t = redis.call('TIME') while true do "
                           "local n = redis.call('TIME') "
                           "if (n[1]-t[1])*1000000 + (n[2]-t[2]) > 800000 then "
                           "return 1 end end",
                           "0"};
    uint64_t t0 = cc_now_ns();
    x = cmd(r, 3, slow, NULL);
    CHECK(x.s == CC_TIMEOUT);
    CHECK(cc_now_ns() - t0 < 800000000ull);
    run_ms(&loop, 600); /* the late reply arrives and is dropped */
    const char *ping[1] = {"PING"};
    CHECK_OK(cmd(r, 1, ping, NULL).s);
    fprintf(stderr, "ok: command timeout\n");

    /* Redis killed inside a reply callback that sends more. */
    chain.r = r;
    const char *ping1[1] = {"PING"};
    CHECK_OK(cc_redis_command(r, 1, ping1, NULL, on_first, &chain.first));
    CHECK(RUN_UNTIL(&loop, chain.first.done && chain.more[0].done && chain.more[1].done &&
                               chain.more[2].done && chain.more[3].done,
                    5000));
    CHECK(chain.early == 0);
    for (int i = 0; i < 4; i++)
        CHECK(chain.more[i].s == CC_UNAVAILABLE);
    CHECK(RUN_UNTIL(&loop, !cc_redis_connected(r), 5000));
    CHECK_OK(cc_local_stack_start_some(&stack, CC_LOCAL_REDIS));
    CHECK(back_within(r, 15000));
    fprintf(stderr, "ok: Redis killed inside a reply callback that sends more\n");

    /* Redis stops: in-flight and new commands fail with CC_UNAVAILABLE. */
    CHECK_OK(cc_local_stack_stop_some(&stack, CC_LOCAL_REDIS));
    CHECK(RUN_UNTIL(&loop, !cc_redis_connected(r), 5000));
    run_ms(&loop, 100);
    x = cmd(r, 1, ping, NULL);
    if (x.s != CC_UNAVAILABLE)
        fprintf(stderr, "got %s %s\n", cc_status_name(x.s), x.msg);
    CHECK(x.s == CC_UNAVAILABLE);
    x = eval(r, incr, "counter", "1");
    CHECK(x.s == CC_UNAVAILABLE);
    fprintf(stderr, "ok: Redis down -> %s (%s)\n", cc_status_name(x.s), cc_err_msg());

    /* Redis comes back: the client reconnects by itself and the script
     * (gone with the restart) is loaded again. */
    CHECK_OK(cc_local_stack_start_some(&stack, CC_LOCAL_REDIS));
    t0 = cc_now_ns();
    CHECK(back_within(r, 15000));
    x = eval(r, incr, "fresh", "3");
    CHECK(x.s == CC_OK && x.integer == 3);
    fprintf(stderr, "ok: recovered %.2fs after Redis came back\n", (cc_now_ns() - t0) / 1e9);

    /* URLs: the forms redis-url takes, and what is refused. */
    cc_redis_url u;
    CHECK_OK(cc_redis_parse_url("redis://127.0.0.1:6390", &u));
    CHECK(!strcmp(u.host, "127.0.0.1") && u.port == 6390 && !u.password[0] && u.db == 0);
    CHECK_OK(cc_redis_parse_url("cc-redis", &u));
    CHECK(!strcmp(u.host, "cc-redis") && u.port == 6379);
    CHECK_OK(cc_redis_parse_url("redis://:p%40ss%3Aw@cc-redis:6380/3", &u));
    CHECK(!strcmp(u.host, "cc-redis") && u.port == 6380 && !u.user[0] &&
          !strcmp(u.password, "p@ss:w") && u.db == 3);
    CHECK_OK(cc_redis_parse_url("redis://alice:pw@h/0", &u));
    CHECK(!strcmp(u.user, "alice") && !strcmp(u.password, "pw") && u.port == 6379);
    CHECK_OK(cc_redis_parse_url("redis://justapassword@h:1", &u));
    CHECK(!u.user[0] && !strcmp(u.password, "justapassword") && u.port == 1);
    const char *badurls[] = {"", "rediss://h:6379", "http://h", "redis://:6379", "redis://h:0",
                             "redis://h:70000", "redis://h:12x", "redis://h/x",
                             "redis://:%zz@h", "redis://:%4@h", "redis://:a%00b@h"};
    for (size_t i = 0; i < sizeof badurls / sizeof badurls[0]; i++) {
        CHECK(cc_redis_parse_url(badurls[i], &u) == CC_INVALID);
        CHECK(!strstr(cc_err_msg(), "zz") && !strstr(cc_err_msg(), "a%00b"));
    }
    fprintf(stderr, "ok: redis URLs\n");

    /* A password and a database from the URL: AUTH and SELECT go out
     * before anything queued, on every connection. */
    const char *reqpass[4] = {"CONFIG", "SET", "requirepass", "s3cr%t"};
    CHECK_OK(cmd(r, 4, reqpass, NULL).s);
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%u/2", (unsigned)stack.redis_port);
    CHECK_OK(cc_redis_parse_url(url, &u));
    cc_redis_options ao = cc_redis_url_options(&u);
    ao.command_timeout_ms = 500;
    cc_redis *r2;
    CHECK_OK(cc_redis_open(&loop, &ao, &r2));
    const char *info[2] = {"CLIENT", "INFO"};
    x = cmd(r2, 2, info, NULL); /* queued while connecting: still after AUTH */
    CHECK(x.s == CC_OK && x.type == REDIS_REPLY_STRING && strstr(x.str, " db=2 "));
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%u", (unsigned)stack.redis_port);
    CHECK_OK(cc_redis_parse_url(url, &u));
    ao = cc_redis_url_options(&u);
    ao.command_timeout_ms = 500;
    cc_redis *r3;
    CHECK_OK(cc_redis_open(&loop, &ao, &r3));
    x = cmd(r3, 1, ping, NULL);
    CHECK(x.s == CC_DB && strstr(x.msg, "NOAUTH"));
    const char *nopass[4] = {"CONFIG", "SET", "requirepass", ""};
    CHECK_OK(cmd(r, 4, nopass, NULL).s);
    bool c2 = false, c3 = false;
    cc_redis_close(r2, on_closed, &c2);
    cc_redis_close(r3, on_closed, &c3);
    CHECK(RUN_UNTIL(&loop, c2 && c3, 5000));
    fprintf(stderr, "ok: AUTH and SELECT from the URL; a wrong password fails with NOAUTH\n");

    /* Close with a command in flight: its reply still arrives. */
    res last = {0};
    CHECK_OK(cc_redis_command(r, 1, ping, NULL, on_res, &last));
    bool closed = false;
    cc_redis_close(r, on_closed, &closed);
    CHECK(cc_redis_command(r, 1, ping, NULL, on_res, &x) == CC_CLOSED);
    CHECK(RUN_UNTIL(&loop, closed, 5000));
    CHECK(last.done && last.s == CC_OK);
    close_loop(&loop);
    CHECK_OK(cc_local_stack_stop(&stack));
    fprintf(stderr, "ok: all\n");
    return 0;
}
