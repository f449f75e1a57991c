/* cc-bench-runtime: measures, in one run and side by side on one
 * nats-server (started here on a free loopback port):
 *   (a) RPC round trips per second and p50/p99 latency through the runtime
 *       (cc_rpc_call_async -> an actor's RPC table) against raw nats.c
 *       (request with an inbox -> a plain nats.c responder), with 1 and
 *       with 64 requests outstanding;
 *   (b) JetStream publish-then-consume rate through the runtime
 *       (cc_js_publish, cc_js_consume) against raw nats.c (js_PublishAsync,
 *       natsSubscription_Fetch).
 * Every figure is the median of several rounds that alternate runtime and
 * raw, so a noisy machine affects both alike; the ratio runtime/raw is what
 * to read. Usage: cc-bench-runtime [--seconds S] [--rounds R] [--msgs N]
 *                                   [--only rpc|js] [--nats-servers 1|3]
 *                                   [--nats-sync always|interval]
 * --nats-servers 3 runs a JetStream cluster (the streams get 3 replicas) and
 * --nats-sync always makes every store write reach the disk before its ack
 * (what make run does): side by side, the cost of both (docs/benchmarks.md).
 * The server sides run in child processes of this same program
 * (--serve-runtime URL, --serve-raw URL). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cc/metrics.h"
#include "codecourt/v1/runtime.pb-c.h"

static double seconds_per_run = 3.0;
static int rounds = 3;
static int js_msgs = 20000;
static const char *only = ""; /* "rpc" or "js" to run one part */
static int nats_servers = 1, nats_sync = CC_LOCAL_SYNC_INTERVAL, js_replicas = 1;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- latency samples ---------------------------------------------------- */

typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples;

static void sample_add(samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = ns;
}

static uint64_t pct(samples *s, double p)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t i = (size_t)(p * (double)(s->n - 1));
    return s->v[i];
}

typedef struct {
    double rate;
    double p50_us, p99_us;
} rpc_figures;

/* ---- servers (child processes) ---------------------------------------- */

static void raw_responder(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    /* Echo the request bytes: the cheapest possible service. */
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

/* natsOptions_SetURL takes one URL: of a cluster's list, the first. */
/* The first server of url; TLS trusting the stack's CA when it runs TLS
 * (the stack's start exports it as CC_NATS_CA, which the runtime's side
 * reads too). */
static void set_first_url(natsOptions *o, const char *url)
{
    char first[512];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(url, ","), url);
    natsOptions_SetURL(o, first);
    const char *ca = getenv("CC_NATS_CA");
    if (ca && *ca) {
        natsOptions_SetSecure(o, true);
        natsOptions_LoadCATrustedCertificates(o, ca);
    }
}

static int serve_raw(const char *url)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsOptions_Create(&o);
    set_first_url(o, url);
    natsOptions_SetSendAsap(o, true);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        return 1;
    natsConnection_QueueSubscribe(&sub, nc, "bench.raw.Ping", "raw", raw_responder, NULL);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(nc);
    printf("ready\n");
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    nats_Close();
    return 0;
}

static int serve_runtime(const char *url, int argc, char **argv)
{
    char flag[2048];
    snprintf(flag, sizeof flag, "--nats-url=%s", url);
    char *args[] = {argv[0], flag, "--metrics-port=-1", "--log-level=info", NULL};
    cc_actor_def def = {.service = "bench"};
    return cc_actor_main(&def, 4, args);
}

/* ---- runtime client ------------------------------------------------------ */

typedef struct {
    uv_loop_t *loop;
    cc_bus *bus;
    samples lat;
    uint64_t done, errors;
    uint64_t end_ns;
    bool stop;
    int outstanding;
    uint8_t payload[32];
} rt_client;

static void rt_send(rt_client *c);

typedef struct {
    rt_client *c;
    uint64_t t0;
} rt_req;

static void rt_done(cc_status s, const char *err, const ProtobufCMessage *resp, void *ud)
{
    rt_req *r = ud;
    rt_client *c = r->c;
    uint64_t now = cc_now_ns();
    if (s == CC_OK) {
        sample_add(&c->lat, now - r->t0);
        c->done++;
    } else {
        c->errors++;
    }
    free(r);
    c->outstanding--;
    if (now < c->end_ns)
        rt_send(c);
    else if (c->outstanding == 0)
        c->stop = true;
}

static void rt_send(rt_client *c)
{
    rt_req *r = malloc(sizeof *r);
    r->c = c;
    r->t0 = cc_now_ns();
    Codecourt__V1__PingRequest req = CODECOURT__V1__PING_REQUEST__INIT;
    req.text = "bench";
    if (cc_rpc_call_async(c->bus, "bench", "Ping", NULL, &req.base,
                          &codecourt__v1__ping_reply__descriptor, 5000, rt_done, r) != CC_OK) {
        free(r);
        c->errors++;
        return;
    }
    c->outstanding++;
}

static void run_loop_until(uv_loop_t *loop, bool *stop)
{
    while (!*stop)
        uv_run(loop, UV_RUN_ONCE);
}

static rpc_figures rpc_runtime(uv_loop_t *loop, cc_bus *bus, int depth)
{
    rt_client c = {.loop = loop, .bus = bus};
    /* warm up */
    c.end_ns = cc_now_ns() + 200000000u;
    for (int i = 0; i < depth; i++)
        rt_send(&c);
    run_loop_until(loop, &c.stop);
    c.lat.n = 0;
    c.done = c.errors = 0;
    c.stop = false;
    uint64_t t0 = cc_now_ns();
    c.end_ns = t0 + (uint64_t)(seconds_per_run * 1e9);
    for (int i = 0; i < depth; i++)
        rt_send(&c);
    run_loop_until(loop, &c.stop);
    double secs = (double)(cc_now_ns() - t0) / 1e9;
    rpc_figures f = {(double)c.done / secs, (double)pct(&c.lat, 0.5) / 1e3,
                     (double)pct(&c.lat, 0.99) / 1e3};
    if (c.errors)
        fprintf(stderr, "runtime rpc: %" PRIu64 " errors\n", c.errors);
    free(c.lat.v);
    return f;
}

/* ---- raw nats.c client ------------------------------------------------------ */

typedef struct {
    natsConnection *nc;
    char inbox[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    samples lat;
    uint64_t done;
    uint64_t end_ns;
    int outstanding;
    uint64_t *sent_at; /* by slot */
    int depth;
} raw_client;

static void raw_send(raw_client *c, int slot)
{
    char reply[96];
    snprintf(reply, sizeof reply, "%s.%d", c->inbox, slot);
    static const uint8_t body[] = {0x0a, 0x05, 'b', 'e', 'n', 'c', 'h'};
    c->sent_at[slot] = cc_now_ns();
    natsConnection_PublishRequest(c->nc, "bench.raw.Ping", reply, body, sizeof body);
}

static void raw_reply(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    raw_client *c = closure;
    const char *subj = natsMsg_GetSubject(m);
    int slot = (int)strtol(strrchr(subj, '.') + 1, NULL, 10);
    natsMsg_Destroy(m);
    uint64_t now = cc_now_ns();
    pthread_mutex_lock(&c->mu);
    sample_add(&c->lat, now - c->sent_at[slot]);
    c->done++;
    bool more = now < c->end_ns;
    if (!more && --c->outstanding == 0)
        pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (more)
        raw_send(c, slot);
}

static rpc_figures rpc_raw(const char *url, int depth)
{
    raw_client c = {0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    set_first_url(o, url);
    natsOptions_SetSendAsap(o, true);
    natsConnection_Connect(&c.nc, o);
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    snprintf(c.inbox, sizeof c.inbox, "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    char wild[80];
    snprintf(wild, sizeof wild, "%s.*", c.inbox);
    natsSubscription *sub = NULL;
    natsConnection_Subscribe(&sub, c.nc, wild, raw_reply, &c);
    natsConnection_Flush(c.nc);
    c.sent_at = calloc((size_t)depth, sizeof *c.sent_at);
    c.depth = depth;
    rpc_figures f = {0};
    for (int pass = 0; pass < 2; pass++) { /* warm-up, then measured */
        pthread_mutex_lock(&c.mu);
        c.lat.n = 0;
        c.done = 0;
        c.outstanding = depth;
        uint64_t t0 = cc_now_ns();
        c.end_ns = t0 + (pass ? (uint64_t)(seconds_per_run * 1e9) : 200000000u);
        pthread_mutex_unlock(&c.mu);
        for (int i = 0; i < depth; i++)
            raw_send(&c, i);
        pthread_mutex_lock(&c.mu);
        while (c.outstanding > 0)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
        double secs = (double)(cc_now_ns() - t0) / 1e9;
        f.rate = (double)c.done / secs;
        f.p50_us = (double)pct(&c.lat, 0.5) / 1e3;
        f.p99_us = (double)pct(&c.lat, 0.99) / 1e3;
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(c.nc);
    natsOptions_Destroy(o);
    free(c.sent_at);
    free(c.lat.v);
    return f;
}

/* ---- JetStream: runtime ------------------------------------------------------- */

typedef struct {
    cc_bus *bus;
    int total, published, acked, consumed;
    int window;
    bool done;
} js_rt;

static void js_rt_publish_next(js_rt *j);

static void js_rt_acked(cc_status s, const char *err, const cc_js_pub_ack *ack, void *ud)
{
    js_rt *j = ud;
    if (s != CC_OK)
        fprintf(stderr, "runtime publish failed: %s\n", err);
    j->acked++;
    js_rt_publish_next(j);
}

static char bench_run_id[17];

static void js_rt_publish_next(js_rt *j)
{
    while (j->published < j->total && j->published - j->acked < j->window) {
        char id[64];
        snprintf(id, sizeof id, "rt-%s-%d", bench_run_id, j->published);
        static const char body[] = "0123456789abcdef0123456789abcdef";
        cc_js_publish(j->bus, "bench.rt.evt", id, NULL, "bench.Event", body, 32, NULL, js_rt_acked,
                      j);
        j->published++;
    }
}

static void js_rt_msg(cc_js_msg *m, void *ud)
{
    js_rt *j = ud;
    cc_js_ack(m);
    if (++j->consumed >= j->total)
        j->done = true;
}

typedef struct {
    natsConnection *nc;
    const char *stream, *subjects, *durable;
    bool done;
} js_setup;

static cc_status js_setup_fn(void *ud)
{
    js_setup *s = ud;
    cc_js_stream_config sc = {.name = s->stream, .subjects = s->subjects,
                              .replicas = js_replicas};
    cc_status st = cc_js_ensure_stream(s->nc, &sc);
    cc_js_consumer_config cc = {.stream = s->stream, .durable = s->durable};
    IFOK(st, cc_js_ensure_consumer(s->nc, &cc));
    return st;
}

static void js_setup_done(cc_status s, void *ud)
{
    if (s != CC_OK)
        fprintf(stderr, "bench setup: %s\n", cc_err_msg());
    ((js_setup *)ud)->done = true;
}

static double js_runtime(uv_loop_t *loop, cc_bus *bus, int round)
{
    char durable[32];
    snprintf(durable, sizeof durable, "rt_%d", round);
    js_setup su = {cc_bus_nats(bus), "BENCH_RT", "bench.rt.>", durable, false};
    cc_bus_offload(bus, js_setup_fn, js_setup_done, &su);
    run_loop_until(loop, &su.done);
    js_rt j = {.bus = bus, .total = js_msgs, .window = 4000};
    /* the consumer starts after the last publish of the previous round */
    uint64_t t0 = cc_now_ns();
    js_rt_publish_next(&j);
    cc_js_consumer_config cc = {.stream = "BENCH_RT", .durable = durable, .max_inflight = 256};
    cc_js_consumer *c = NULL;
    cc_js_consume(bus, &cc, js_rt_msg, &j, &c);
    run_loop_until(loop, &j.done);
    double secs = (double)(cc_now_ns() - t0) / 1e9;
    while (j.acked < j.total) /* publish acks can trail the consumer */
        uv_run(loop, UV_RUN_ONCE);
    cc_js_consumer_free(c);
    return (double)j.total / secs;
}

/* ---- JetStream: raw nats.c ------------------------------------------------------ */

static double js_raw(const char *url, int round)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    set_first_url(o, url);
    natsOptions_SetSendAsap(o, true);
    natsConnection_Connect(&nc, o);
    char durable[32];
    snprintf(durable, sizeof durable, "raw_%d", round);
    js_setup su = {nc, "BENCH_RAW", "bench.raw.>", durable, false};
    js_setup_fn(&su);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4000;
    natsConnection_JetStream(&js, nc, &jo);
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    js_PullSubscribe(&sub, js, "bench.raw.>", durable, NULL, NULL, &jerr);
    uint64_t t0 = cc_now_ns();
    static const char body[] = "0123456789abcdef0123456789abcdef";
    for (int i = 0; i < js_msgs; i++) {
        natsMsg *m = NULL;
        natsMsg_Create(&m, "bench.raw.evt", NULL, body, 32);
        char id[64];
        snprintf(id, sizeof id, "raw-%s-%d", bench_run_id, i);
        natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        if (js_PublishMsgAsync(js, &m, NULL) != NATS_OK)
            natsMsg_Destroy(m);
    }
    int consumed = 0;
    while (consumed < js_msgs) {
        natsMsgList list = {0};
        if (natsSubscription_Fetch(&list, sub, 256, 5000, &jerr) != NATS_OK)
            break;
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        consumed += list.Count;
        natsMsgList_Destroy(&list);
    }
    double secs = (double)(cc_now_ns() - t0) / 1e9;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    js_PublishAsyncComplete(js, &po);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    if (consumed < js_msgs)
        fprintf(stderr, "raw consume stopped at %d\n", consumed);
    return (double)consumed / secs;
}

/* ---- main --------------------------------------------------------------------- */

static bool wait_ready(const char *log)
{
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(log, "r");
        if (f) {
            char line[1024];
            while (fgets(line, sizeof line, f)) {
                if (strstr(line, "ready")) {
                    fclose(f);
                    return true;
                }
            }
            fclose(f);
        }
        usleep(20000);
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--serve-raw") == 0)
        return serve_raw(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "--serve-runtime") == 0)
        return serve_runtime(argv[2], argc, argv);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds_per_run = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--msgs") == 0)
            js_msgs = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
        else if (strcmp(argv[i], "--nats-servers") == 0)
            nats_servers = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--nats-sync") == 0)
            nats_sync = strcmp(argv[i + 1], "always") == 0 ? CC_LOCAL_SYNC_ALWAYS
                                                           : CC_LOCAL_SYNC_INTERVAL;
    }
    if (rounds < 1 || rounds > 50 || seconds_per_run <= 0 || js_msgs < 1) {
        fprintf(stderr, "usage: %s [--seconds S] [--rounds R] [--msgs N]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    cc_random_hex(bench_run_id, 16);
    cc_log_init("cc-bench-runtime", CC_LOG_WARN);
    static cc_local_stack stack;
    cc_local_options lo = {
        .what = CC_LOCAL_NATS, .nats_servers = nats_servers, .nats_sync = nats_sync};
    js_replicas = nats_servers >= 3 ? 3 : 1;
    if (cc_local_stack_start_with(&stack, &lo) != CC_OK) {
        fprintf(stderr, "cannot start nats-server: %s\n", cc_err_msg());
        return 1;
    }
    cc_local_guard(&stack);
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char rt_log[4200], raw_log[4200];
    snprintf(rt_log, sizeof rt_log, "%s/logs/serve-runtime.log", stack.dir);
    snprintf(raw_log, sizeof raw_log, "%s/logs/serve-raw.log", stack.dir);
    /* The benchmark plays every part: the admin user of the stack. */
    const char *url = cc_local_nats_url(&stack, "admin");
    const char *rt_argv[] = {self, "--serve-runtime", url, NULL};
    const char *raw_argv[] = {self, "--serve-raw", url, NULL};
    cc_local_proc rt_proc = {0}, raw_proc = {0};
    cc_local_spawn_opts ro = {
        .name = "serve-runtime", .path = self, .argv = rt_argv, .log_path = rt_log};
    cc_local_spawn_opts wo = {
        .name = "serve-raw", .path = self, .argv = raw_argv, .log_path = raw_log};
    if (cc_local_spawn(&rt_proc, &ro) != CC_OK || cc_local_spawn(&raw_proc, &wo) != CC_OK ||
        !wait_ready(rt_log) || !wait_ready(raw_log)) {
        fprintf(stderr, "bench servers did not start\n");
        cc_local_stack_stop(&stack);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    cc_bus *bus = NULL;
    cc_bus_options bo = {.url = url, .name = "bench", .send_asap = true};
    if (cc_bus_connect(&loop, &bo, &bus) != CC_OK) {
        fprintf(stderr, "connect: %s\n", cc_err_msg());
        return 1;
    }
    printf("cc-bench-runtime: nats-server %s (%s, %d server%s, streams of %d replica%s, store %s), "
           "%d rounds of %.1f s per RPC figure, %d JetStream messages per round; medians\n\n",
           stack.nats_url, stack.tls ? "TLS" : "cleartext (CC_TLS=0)", nats_servers,
           nats_servers > 1 ? "s" : "", js_replicas,
           js_replicas > 1 ? "s" : "", stack.nats_sync ? "synced on each write" : "not synced",
           rounds, seconds_per_run, js_msgs);
    int depths[] = {1, 64};
    for (int d = 0; d < 2 && strcmp(only, "js") != 0; d++) {
        double rt_rate[50], raw_rate[50], rt_p50[50], raw_p50[50], rt_p99[50], raw_p99[50];
        for (int r = 0; r < rounds; r++) {
            rpc_figures a = rpc_runtime(&loop, bus, depths[d]);
            rpc_figures b = rpc_raw(url, depths[d]);
            rt_rate[r] = a.rate, rt_p50[r] = a.p50_us, rt_p99[r] = a.p99_us;
            raw_rate[r] = b.rate, raw_p50[r] = b.p50_us, raw_p99[r] = b.p99_us;
        }
        double a = median(rt_rate, rounds), b = median(raw_rate, rounds);
        printf("RPC, %2d outstanding   runtime %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n",
               depths[d], a, median(rt_p50, rounds), median(rt_p99, rounds));
        printf("                       raw     %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n", b,
               median(raw_p50, rounds), median(raw_p99, rounds));
        printf("                       ratio runtime/raw: %.2fx\n\n", a / b);
    }
    double rt_js[50], raw_js[50];
    for (int r = 0; r < rounds && strcmp(only, "rpc") != 0; r++) {
        rt_js[r] = js_runtime(&loop, bus, r);
        raw_js[r] = js_raw(url, r);
    }
    double a = median(rt_js, rounds), b = median(raw_js, rounds);
    if (strcmp(only, "rpc") != 0) {
        printf("JetStream publish-then-consume   runtime %9.0f msg/s\n", a);
        printf("                                 raw     %9.0f msg/s\n", b);
        printf("                                 ratio runtime/raw: %.2fx\n", a / b);
    }
    cc_bus_close(bus, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cc_local_proc_stop(&rt_proc, SIGTERM, 5000);
    cc_local_proc_stop(&raw_proc, SIGTERM, 5000);
    cc_local_stack_stop(&stack);
    nats_Close();
    return 0;
}
