/* bench-gateway: issue 4's gateway benchmark in one run, with h2load
 * (nghttp2-client) as the only client.
 *
 *  1. Authenticated GET /v1/users/me through cc-gateway, NATS and cc-user
 *     against a static file of the same size served by bench-h2o-static
 *     (the same h2o library and listener setup, h2o's own file handler):
 *     same h2load, same connections and streams, over h2c on 127.0.0.1.
 *     Both run as --replicas processes sharing their port (SO_REUSEPORT),
 *     one per core by default, as each would be deployed on a machine of
 *     its own; --replicas 1 measures one process of each.
 *     Prints req/s, p99 and the ratio (target >= 0.15x).
 *  2. bcrypt alone: crypt_r at cc-user's cost on one thread per core.
 *  3. A login storm through the gateway: logins/s against (2) (target
 *     >= 0.9x), while authenticated GETs run alongside at a fixed rate;
 *     their p99 against the same GETs with no storm (target <= 2x).
 *  4. Tracing's cost: the GET of (1) through a second cc-user and set of
 *     gateways that record every span (CC_TRACE_SAMPLE=1) and export them
 *     to a live OTLP/HTTP receiver (tests/integration/common/cctest_otlp),
 *     against (1) itself, measured back to back in each round (target
 *     >= 0.9x: at most 10% lower throughput). --storm 0 leaves out 2 and 3.
 *
 * Each is measured --rounds times and the medians of the per-round ratios
 * are the figures: the machine's speed drifts between runs, and what is
 * measured back to back shares it. The gateway's rate limits (1,000,000
 * requests a second, the same burst) are far above what it serves, and
 * the user's key leases 64 tokens at a time, as a busy key does.
 *
 * Servers (NATS, PostgreSQL, Redis) are started by cclocal in a temporary
 * folder on free loopback ports and stopped at the end.
 * Usage: bench-gateway [--cost N] [--seconds S] [--clients C] [--streams M]
 *                      [--rounds R] [--replicas P] [--storm 0|1] */
#include <crypt.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_otlp.h"

static cc_local_stack stack;
/* Processes of cc-gateway (replicas on one port) and of bench-h2o-static,
 * at most; one per core by default. */
enum { MAX_REPLICAS = 8 };
static cc_local_proc procs[3 + 2 * MAX_REPLICAS];
static int nprocs;
static char dir[4096];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench-gateway: %s (logs in %s)\n", what, dir);
    for (int i = nprocs - 1; i >= 0; i--)
        cc_local_proc_stop(&procs[i], SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    exit(1);
}

static void spawn(const char *name, const char *bin, const char *const *args)
{
    char path[4200], log[4200];
    snprintf(path, sizeof path, "%s/%s", CC_BIN_DIR, bin);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    const char *argv[40] = {path};
    int n = 1;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cc_local_spawn_opts o = {.name = name, .path = path, .argv = argv, .log_path = log};
    if (cc_local_spawn(&procs[nprocs], &o) != CC_OK)
        die("cannot spawn");
    nprocs++;
}

/* ---- HTTP with libcurl (setup only) --------------------------------------------- */

typedef struct {
    char *p;
    size_t n;
} buf;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    buf *b = ud;
    char *nb = realloc(b->p, b->n + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->n, p, sz * n);
    b->p = nb;
    b->n += sz * n;
    b->p[b->n] = '\0';
    return sz * n;
}

static long http(const char *method, const char *url, const char *body, const char *token,
                 buf *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[4200];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return st;
}

static bool wait_ok(const char *url, int ms)
{
    for (int w = 0; w < ms; w += 100) {
        buf b = {0};
        long st = http("GET", url, NULL, NULL, &b);
        free(b.p);
        if (st == 200)
            return true;
        usleep(100000);
    }
    return false;
}

/* ---- h2load ------------------------------------------------------------------------ */

typedef struct {
    double rps;      /* as h2load reports */
    long ok, total;  /* 2xx, requests done */
    double p50_ms, p99_ms;
    double seconds;
} load;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static FILE *h2load_start(const char *args, const char *log)
{
    char cmd[12288];
    /* A fresh log: reading an earlier run's lines would report its
     * latencies. */
    remove(log);
    snprintf(cmd, sizeof cmd, "h2load %s --log-file=%s 2>&1", args, log);
    FILE *f = popen(cmd, "r");
    if (!f)
        die("cannot run h2load (apt-get install nghttp2-client)");
    return f;
}

static load h2load_end(FILE *f, const char *log, bool show)
{
    load l = {0};
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (show)
            fputs(line, stderr);
        char *p;
        if ((p = strstr(line, "finished in ")))
            sscanf(p, "finished in %lfs, %lf req/s", &l.seconds, &l.rps);
        if ((p = strstr(line, "status codes: ")))
            l.ok = strtol(p + 14, NULL, 10);
        if ((p = strstr(line, "requests: ")))
            l.total = strtol(p + 10, NULL, 10);
    }
    if (pclose(f) != 0)
        die("h2load failed");
    /* Latencies from the per-request log: start (us), status, duration (us). */
    FILE *lf = fopen(log, "r");
    size_t n = 0, cap = 1 << 16;
    double *d = malloc(cap * sizeof *d);
    long long t0, dur;
    int status;
    while (lf && fscanf(lf, "%lld %d %lld", &t0, &status, &dur) == 3) {
        if (n == cap)
            d = realloc(d, (cap *= 2) * sizeof *d);
        d[n++] = (double)dur / 1000.0;
    }
    if (lf)
        fclose(lf);
    if (n == 0)
        die("h2load wrote no per-request log");
    qsort(d, n, sizeof *d, cmp_d);
    l.p50_ms = d[n / 2];
    l.p99_ms = d[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1];
    free(d);
    return l;
}

static load h2load(const char *args, const char *log)
{
    return h2load_end(h2load_start(args, log), log, getenv("BENCH_DEBUG") != NULL);
}

/* ---- bcrypt alone ------------------------------------------------------------------- */

static char setting[CRYPT_GENSALT_OUTPUT_SIZE];
static double bc_seconds;

static void *bc_thread(void *ud)
{
    long *count = ud;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    double end = now_s() + bc_seconds;
    while (now_s() < end) {
        crypt_r("benchpassword", setting, cd);
        (*count)++;
    }
    free(cd);
    return NULL;
}

static double bcrypt_rate(int cost, int threads, double seconds)
{
    char rnd[16] = "0123456789abcdef";
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, rnd, sizeof rnd, setting, sizeof setting))
        die("crypt_gensalt_rn failed");
    bc_seconds = seconds;
    pthread_t t[64];
    long counts[64] = {0};
    double start = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, bc_thread, &counts[i]);
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += counts[i];
    }
    return (double)total / (now_s() - start);
}

/* ---- main ------------------------------------------------------------------------------- */

enum { MAX_ROUNDS = 9 };

/* The median of n values (sorts v). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long arg(int argc, char **argv, const char *name, long dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtol(argv[i + 1], NULL, 10);
    return dflt;
}

int main(int argc, char **argv)
{
    int cost = (int)arg(argc, argv, "--cost", 12);
    int secs = (int)arg(argc, argv, "--seconds", 5);
    int clients = (int)arg(argc, argv, "--clients", 4);
    int streams = (int)arg(argc, argv, "--streams", 16);
    int rounds = (int)arg(argc, argv, "--rounds", 3);
    int storm_rounds = arg(argc, argv, "--storm", 1) ? rounds : 0;
    if (rounds < 1 || rounds > MAX_ROUNDS)
        die("--rounds: 1 to 9");
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int replicas = (int)arg(argc, argv, "--replicas", cores < MAX_REPLICAS ? cores : MAX_REPLICAS);
    if (replicas < 1 || replicas > MAX_REPLICAS)
        die("--replicas: 1 to 8");
    cc_log_init("bench-gateway", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL, (const char *[]){"cc_user", NULL}) != CC_OK)
        die("cannot start NATS, PostgreSQL and Redis");
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    uint16_t um, gm[MAX_REPLICAS], gp, sp;
    if (cc_local_free_port(&um) || cc_local_free_port(&gp) || cc_local_free_port(&sp))
        die("no free ports");
    for (int i = 0; i < replicas; i++)
        if (cc_local_free_port(&gm[i]))
            die("no free ports");
    static char a[16][4400];
    snprintf(a[0], sizeof a[0], "--nats-url=%s", cc_local_nats_url(&stack, "user"));
    snprintf(a[9], sizeof a[9], "--nats-url=%s", cc_local_nats_url(&stack, "gateway"));
    snprintf(a[1], sizeof a[0], "--redis-url=%s", stack.redis_url);
    snprintf(a[2], sizeof a[0], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user"));
    snprintf(a[3], sizeof a[0], "--metrics-port=%u", um);
    snprintf(a[4], sizeof a[0], "--jwt-key=%s/jwt-key.pem", dir);
    snprintf(a[5], sizeof a[0], "--bcrypt-cost=%d", cost);
    spawn("cc-user", "cc-user",
          (const char *[]){a[0], a[1], a[2], a[3], a[4], a[5], "--log-level=warn", NULL});
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", um);
    if (!wait_ok(url, 30000))
        die("cc-user not ready");
    /* The gateway as replicas sharing the port, one per core by default,
     * as it is deployed on a machine of its own; each has its ops port. */
    snprintf(a[6], sizeof a[0], "--http-port=%u", gp);
    snprintf(a[8], sizeof a[0], "--max-streams=%d", streams > 100 ? streams : 100);
    for (int i = 0; i < replicas; i++) {
        char name[32], mport[32];
        snprintf(name, sizeof name, "cc-gateway-%d", i + 1);
        snprintf(mport, sizeof mport, "--metrics-port=%u", gm[i]);
        spawn(name, "cc-gateway",
              (const char *[]){a[9], a[1], a[6], "--https-port=-1", mport, a[4], a[8],
                               "--reuse-port", "--rate-period=1s", "--rate-anon=1000000",
                               "--rate-user=1000000", "--rate-auth=1000000", "--burst-anon=1000000",
                               "--burst-user=1000000", "--burst-auth=1000000",
                               "--rate-login=1000000", "--burst-login=1000000", "--log-level=warn",
                               NULL});
        snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", gm[i]);
        if (!wait_ok(url, 30000))
            die("cc-gateway not ready");
    }

    /* 4's traced twin: cc-user and the gateways again, started with
     * tracing on, exporting to a live receiver that counts what comes. */
    cct_otlp *otlp = cct_otlp_start(false);
    if (!otlp)
        die("cannot start the OTLP receiver");
    uint16_t tum, tgp, tgm[MAX_REPLICAS];
    if (cc_local_free_port(&tum) || cc_local_free_port(&tgp))
        die("no free ports");
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u", cct_otlp_port(otlp));
    setenv("CC_OTLP_ENDPOINT", endpoint, 1);
    setenv("CC_TRACE_SAMPLE", "1", 1);
    static char ta[4][4400];
    snprintf(ta[0], sizeof ta[0], "--metrics-port=%u", tum);
    snprintf(ta[1], sizeof ta[1], "--http-port=%u", tgp);
    spawn("cc-user-traced", "cc-user",
          (const char *[]){a[0], a[1], a[2], ta[0], a[4], a[5], "--log-level=warn", NULL});
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", tum);
    if (!wait_ok(url, 30000))
        die("traced cc-user not ready");
    for (int i = 0; i < replicas; i++) {
        char name[40], mport[32];
        if (cc_local_free_port(&tgm[i]))
            die("no free ports");
        snprintf(name, sizeof name, "cc-gateway-traced-%d", i + 1);
        snprintf(mport, sizeof mport, "--metrics-port=%u", tgm[i]);
        spawn(name, "cc-gateway",
              (const char *[]){a[9], a[1], ta[1], "--https-port=-1", mport, a[4], a[8],
                               "--reuse-port", "--rate-period=1s", "--rate-anon=1000000",
                               "--rate-user=1000000", "--rate-auth=1000000", "--burst-anon=1000000",
                               "--burst-user=1000000", "--burst-auth=1000000",
                               "--rate-login=1000000", "--burst-login=1000000", "--log-level=warn",
                               NULL});
        snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", tgm[i]);
        if (!wait_ok(url, 30000))
            die("traced cc-gateway not ready");
    }
    unsetenv("CC_OTLP_ENDPOINT");
    unsetenv("CC_TRACE_SAMPLE");
    char traced_base[128];
    snprintf(traced_base, sizeof traced_base, "http://127.0.0.1:%u", tgp);

    /* One account; its token for the GETs. */
    char base[128], token[4096] = "";
    snprintf(base, sizeof base, "http://127.0.0.1:%u", gp);
    buf b = {0};
    snprintf(url, sizeof url, "%s/v1/users", base);
    if (http("POST", url,
             "{\"username\":\"bench\",\"email\":\"bench@example.org\","
             "\"password\":\"benchpassword\"}",
             NULL, &b) != 201) {
        static char why[512];
        snprintf(why, sizeof why, "register failed: %.400s", b.p ? b.p : "no answer");
        die(why);
    }
    free(b.p);
    b = (buf){0};
    snprintf(url, sizeof url, "%s/v1/auth/login", base);
    if (http("POST", url, "{\"username\":\"bench\",\"password\":\"benchpassword\"}", NULL, &b) !=
        200)
        die("login failed");
    const char *k = strstr(b.p, "\"accessToken\":\"");
    if (!k)
        die("no token");
    k += 15;
    snprintf(token, sizeof token, "%.*s", (int)strcspn(k, "\""), k);
    free(b.p);
    b = (buf){0};
    snprintf(url, sizeof url, "%s/v1/users/me", base);
    if (http("GET", url, NULL, token, &b) != 200)
        die("GET /v1/users/me failed");
    /* The static file has the size of that answer. */
    char sdir[4200], sfile[4300];
    snprintf(sdir, sizeof sdir, "%s/static", dir);
    snprintf(sfile, sizeof sfile, "%s/me.json", sdir);
    mkdir(sdir, 0755);
    FILE *sf = fopen(sfile, "w");
    fwrite(b.p, 1, b.n, sf);
    fclose(sf);
    size_t body_len = b.n;
    free(b.p);
    char sport[16], sprocs[16];
    snprintf(sport, sizeof sport, "%u", sp);
    snprintf(sprocs, sizeof sprocs, "%d", replicas);
    spawn("h2o-static", "bench-h2o-static", (const char *[]){sport, sdir, sprocs, NULL});
    snprintf(url, sizeof url, "http://127.0.0.1:%u/me.json", sp);
    if (!wait_ok(url, 10000))
        die("bench-h2o-static not ready");
    if (getenv("BENCH_HOLD")) {
        /* For profiling by hand: the stack stays up until this is stopped. */
        FILE *tf = fopen(getenv("BENCH_HOLD"), "w");
        if (tf) {
            fprintf(tf, "%s %s %u\n", base, token, sp);
            fclose(tf);
        }
        for (;;)
            pause();
    }
    char loginbody[4300];
    snprintf(loginbody, sizeof loginbody, "%s/login.json", dir);
    sf = fopen(loginbody, "w");
    fputs("{\"username\":\"bench\",\"password\":\"benchpassword\"}", sf);
    fclose(sf);

    printf("bench-gateway: %d cores, %d cc-gateway and %d bench-h2o-static processes "
           "(SO_REUSEPORT), h2load -c %d -m %d for %ds each, h2c on 127.0.0.1, %zu-byte "
           "bodies, bcrypt cost %d, %d rounds\n\n",
           cores, replicas, replicas, clients, streams, secs, body_len, cost, rounds);
    char args[6000], log1[4300], log2[4300];
    snprintf(log1, sizeof log1, "%s/h2load-1.log", dir);
    snprintf(log2, sizeof log2, "%s/h2load-2.log", dir);
    double ratio[MAX_ROUNDS], login_ratio[MAX_ROUNDS], p99_ratio[MAX_ROUNDS];
    double trace_ratio[MAX_ROUNDS];

    /* 1. Proxied against static, one pair per round: the machine's speed
     * drifts, and a pair measured back to back shares it. */
    for (int ri = 0; ri < rounds; ri++) {
        snprintf(args, sizeof args,
                 "-t 1 -c %d -m %d -D %d --warm-up-time=1 -H 'authorization: Bearer %s' "
                 "%s/v1/users/me",
                 clients, streams, secs, token, base);
        load me = h2load(args, log1);
        snprintf(args, sizeof args,
                 "-t 1 -c %d -m %d -D %d --warm-up-time=1 http://127.0.0.1:%u/me.json", clients,
                 streams, secs, sp);
        load st = h2load(args, log2);
        ratio[ri] = st.rps > 0 ? me.rps / st.rps : 0;
        printf("round %d: GET /v1/users/me (gateway->NATS->cc-user): %9.0f req/s  p50 %6.2f ms  "
               "p99 %6.2f ms  (%ld of %ld 2xx)\n",
               ri + 1, me.rps, me.p50_ms, me.p99_ms, me.ok, me.total);
        printf("round %d: GET /me.json (h2o static file)            : %9.0f req/s  p50 %6.2f ms  "
               "p99 %6.2f ms  (%ld of %ld 2xx)\n",
               ri + 1, st.rps, st.p50_ms, st.p99_ms, st.ok, st.total);
        printf("round %d: ratio proxied/static                      : %9.3fx\n", ri + 1,
               ratio[ri]);
        /* 4. The same GET with every span recorded and exported. */
        uint64_t spans0 = cct_otlp_count(otlp);
        snprintf(args, sizeof args,
                 "-t 1 -c %d -m %d -D %d --warm-up-time=1 -H 'authorization: Bearer %s' "
                 "%s/v1/users/me",
                 clients, streams, secs, token, traced_base);
        load tr = h2load(args, log1);
        trace_ratio[ri] = me.rps > 0 ? tr.rps / me.rps : 0;
        printf("round %d: the same GET, traced (100%%, OTLP)          : %9.0f req/s  p50 %6.2f ms  "
               "p99 %6.2f ms  (%ld of %ld 2xx; %llu spans received)\n",
               ri + 1, tr.rps, tr.p50_ms, tr.p99_ms, tr.ok, tr.total,
               (unsigned long long)(cct_otlp_count(otlp) - spans0));
        printf("round %d: ratio traced/untraced                     : %9.3fx\n\n", ri + 1,
               trace_ratio[ri]);
        fflush(stdout);
    }

    /* 2 and 3, per round: bcrypt alone (one thread per core), then GETs at
     * a fixed rate, idle and alongside a login storm. */
    int rps = 100;
    for (int ri = 0; ri < storm_rounds; ri++) {
        double bc = bcrypt_rate(cost, cores, 3.0);
        snprintf(args, sizeof args,
                 "-t 1 -c 2 -m 1 --rps=%d -D %d -H 'authorization: Bearer %s' %s/v1/users/me",
                 rps / 2, secs * 2, token, base);
        load idle = h2load(args, log1);
        FILE *gets = h2load_start(args, log1);
        char sargs[6000];
        snprintf(sargs, sizeof sargs,
                 "-t 1 -c %d -m 1 -D %d -d %s -H 'content-type: application/json' "
                 "%s/v1/auth/login",
                 cores * 4, secs * 2, loginbody, base);
        load storm = h2load(sargs, log2);
        load busy = h2load_end(gets, log1, false);
        double logins = storm.seconds > 0 ? (double)storm.ok / storm.seconds : 0;
        login_ratio[ri] = bc > 0 ? logins / bc : 0;
        p99_ratio[ri] = idle.p99_ms > 0 ? busy.p99_ms / idle.p99_ms : 0;
        printf("round %d: bcrypt alone (cost %d, %d threads): %6.1f hashes/s; login storm (%d "
               "clients): %6.1f logins/s (%ld of %ld 2xx) = %.2fx\n",
               ri + 1, cost, cores, bc, cores * 4, logins, storm.ok, storm.total,
               login_ratio[ri]);
        printf("round %d: GETs at %d req/s: p50/p99 idle %5.2f/%5.2f ms, during the storm "
               "%5.2f/%5.2f ms = %.2fx idle p99\n\n",
               ri + 1, rps, idle.p50_ms, idle.p99_ms, busy.p50_ms, busy.p99_ms, p99_ratio[ri]);
        fflush(stdout);
    }
    printf("median ratio proxied/static : %6.3fx  (target >= 0.15x)\n", median(ratio, rounds));
    if (storm_rounds) {
        printf("median login storm / bcrypt : %6.2fx  (target >= 0.9x)\n",
               median(login_ratio, rounds));
        printf("median GET p99 storm / idle : %6.2fx  (target <= 2x)\n",
               median(p99_ratio, rounds));
    }
    printf("median traced / untraced    : %6.3fx  (target >= 0.9x; %llu spans exported)\n",
           median(trace_ratio, rounds), (unsigned long long)cct_otlp_count(otlp));

    for (int i = nprocs - 1; i >= 0; i--)
        cc_local_proc_stop(&procs[i], SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    cct_otlp_stop(otlp);
    curl_global_cleanup();
    return 0;
}
