/* The whole mesh for the reliability tests: see cctest_mesh.h. */
#include "cctest_mesh.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "cctest_http.h"
#include "codecourt/v1/judge.pb-c.h"

atomic_bool cct_failed;
const char *cct_dup_ok_prefix;

double cct_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long cct_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static const char *const names[CCT_NPROCS] = {"cc-user", "cc-problem", "cc-submission",
                                              "cc-judge", "cc-gateway"};

const char *cct_proc_name(cct_proc_kind k)
{
    return (unsigned)k < CCT_NPROCS ? names[k] : "?";
}

/* ---- processes -------------------------------------------------------------- */

/* The command line of process k: built again at each start, so a restart
 * gets the same settings and ports. p, ops_port, log_name and bin_dir are
 * k's own unless a rolling replacement starts a second one. */
static bool spawn_as(cct_mesh *m, cct_proc_kind k, cc_local_proc *p, uint16_t ops_port,
                     const char *log_name, const char *bin_dir)
{
    const cc_local_stack *st = &m->stack;
    char a[16][4400];
    const char *args[40];
    int n = 0;
    snprintf(a[0], sizeof a[0], "%s",
             cct_nats_flag(st, k == CCT_USER         ? "user"
                               : k == CCT_PROBLEM    ? "problem"
                               : k == CCT_SUBMISSION ? "submission"
                               : k == CCT_JUDGE      ? "judge"
                                                     : "gateway"));
    args[n++] = a[0];
    snprintf(a[1], sizeof a[1], "--metrics-port=%u", ops_port);
    args[n++] = a[1];
    switch (k) {
    case CCT_USER:
        snprintf(a[2], sizeof a[2], "--redis-url=%s", st->redis_url);
        snprintf(a[3], sizeof a[3], "--pg-conninfo=%s", cc_local_pg_conninfo(st, "cc_user"));
        snprintf(a[4], sizeof a[4], "--jwt-key=%s", m->keypath);
        args[n++] = a[2], args[n++] = a[3], args[n++] = a[4];
        args[n++] = "--bcrypt-cost=4";
        args[n++] = "--admin-username=root";
        args[n++] = "--admin-email=root@example.org";
        args[n++] = "--admin-password=rootpassword";
        break;
    case CCT_PROBLEM:
        snprintf(a[2], sizeof a[2], "--pg-conninfo=%s", cc_local_pg_conninfo(st, "cc_problem"));
        args[n++] = a[2];
        break;
    case CCT_SUBMISSION:
        snprintf(a[2], sizeof a[2], "--pg-conninfo=%s",
                 cc_local_pg_conninfo(st, "cc_submission"));
        snprintf(a[3], sizeof a[3], "--max-queued=%d", m->o.max_queued > 0 ? m->o.max_queued : 200);
        args[n++] = a[2], args[n++] = a[3];
        args[n++] = "--rate-per-min=1000000";
        break;
    case CCT_JUDGE:
        /* cc-judge serve takes its subcommand first. */
        memmove(args + 1, args, (size_t)n * sizeof args[0]);
        args[0] = "serve";
        n++;
        snprintf(a[2], sizeof a[2], "--judge-cache=%s/judge-cache", m->dir);
        snprintf(a[3], sizeof a[3], "--concurrency=%d",
                 m->o.judge_concurrency > 0 ? m->o.judge_concurrency : 2);
        snprintf(a[4], sizeof a[4], "--ack-wait=%s",
                 m->o.judge_ack_wait ? m->o.judge_ack_wait : "3s");
        args[n++] = a[2], args[n++] = a[3], args[n++] = a[4];
        for (int i = 0; m->o.judge_extra && m->o.judge_extra[i] && n < 38; i++)
            args[n++] = m->o.judge_extra[i];
        break;
    case CCT_GATEWAY:
        snprintf(a[2], sizeof a[2], "--redis-url=%s", st->redis_url);
        snprintf(a[3], sizeof a[3], "--http-port=%u", m->gw_port);
        snprintf(a[4], sizeof a[4], "--jwt-key=%s", m->keypath);
        args[n++] = a[2], args[n++] = a[3], args[n++] = a[4];
        args[n++] = "--https-port=-1";
        static const char *const open_limits[] = {
            "--rate-user=1000000", "--burst-user=1000000", "--rate-auth=1000000",
            "--burst-auth=1000000", "--rate-login=1000000", "--burst-login=1000000",
            "--rate-anon=1000000", "--burst-anon=1000000", "--max-live-per-user=1000"};
        for (size_t i = 0; i < sizeof open_limits / sizeof open_limits[0]; i++)
            args[n++] = open_limits[i];
        for (int i = 0; m->o.gateway_extra && m->o.gateway_extra[i] && n < 38; i++)
            args[n++] = m->o.gateway_extra[i];
        break;
    default:
        return false;
    }
    args[n] = NULL;
    if (cct_try_spawn(p, log_name, bin_dir, names[k], m->dir, args) != CC_OK) {
        fprintf(stderr, "cannot start %s/%s: %s\n", bin_dir, names[k], cc_err_msg());
        return false;
    }
    return true;
}

static bool spawn_proc(cct_mesh *m, cct_proc_kind k)
{
    return spawn_as(m, k, &m->procs[k], m->metrics[k], names[k], cct_mesh_bin_dir(m, k));
}

const char *cct_mesh_bin_dir(const cct_mesh *m, cct_proc_kind k)
{
    return m->bin_dir[k] ? m->bin_dir[k] : m->o.bin_dir ? m->o.bin_dir : CC_BIN_DIR;
}

bool cct_mesh_spawn_as(cct_mesh *m, cct_proc_kind k, cc_local_proc *p, uint16_t ops_port,
                       const char *log_name, const char *bin_dir)
{
    return spawn_as(m, k, p, ops_port, log_name, bin_dir ? bin_dir : CC_BIN_DIR);
}

bool cct_mesh_start_proc(cct_mesh *m, cct_proc_kind k)
{
    if (!spawn_proc(m, k))
        return false;
    uint16_t port = k == CCT_GATEWAY ? m->gw_port : m->metrics[k];
    return cct_wait_status(port, "/readyz", 200, 30000);
}

bool cct_wait_judge_taking(cct_mesh *m, cc_local_proc *p, const char *log_name, int ms)
{
    char path[4400], line[4096];
    snprintf(path, sizeof path, "%s/%s.log", m->dir, log_name);
    double end = cct_now_s() + ms / 1000.0;
    while (cct_now_s() < end) {
        FILE *f = fopen(path, "r");
        bool taking = false;
        while (f && !taking && fgets(line, sizeof line, f))
            taking = strstr(line, "\"taking jobs\"") != NULL;
        if (f)
            fclose(f);
        if (taking)
            return true;
        if (cc_local_proc_poll(p))
            return false;
        usleep(100000);
    }
    return false;
}

static bool wait_judge_taking(cct_mesh *m, int ms)
{
    return cct_wait_judge_taking(m, &m->procs[CCT_JUDGE], "cc-judge", ms);
}

void cct_mesh_start(cct_mesh *m, const char *log_name, const cct_mesh_options *o)
{
    memset(m, 0, sizeof *m);
    if (o)
        m->o = *o;
    cc_log_init(log_name, CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    cc_local_options lo = {.what = CC_LOCAL_ALL,
                           .pg_services = (const char *[]){"cc_user", "cc_problem",
                                                           "cc_submission", NULL},
                           .dir = m->o.dir,
                           .nats_servers = m->o.nats_servers};
    if (cc_local_stack_start_with(&m->stack, &lo) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        exit(1);
    }
    /* A folder given by the test is the test's to remove. */
    m->stack.owns_dir = m->stack.owns_dir || m->o.dir != NULL;
    cc_local_guard(&m->stack);
    snprintf(m->dir, sizeof m->dir, "%s", m->stack.dir);
    snprintf(m->keypath, sizeof m->keypath, "%s/jwt-key.pem", m->dir);
    for (int k = 0; k < CCT_NPROCS; k++)
        if (cc_local_free_port(&m->metrics[k]) != CC_OK)
            exit(1);
    if (cc_local_free_port(&m->gw_port) != CC_OK)
        exit(1);
    for (int k = 0; k < CCT_GATEWAY; k++)
        if ((k != CCT_JUDGE || !m->o.no_judge) && !spawn_proc(m, (cct_proc_kind)k))
            exit(1);
    for (int k = 0; k < CCT_GATEWAY; k++) {
        if (k == CCT_JUDGE)
            continue; /* its ops port may be off; it is ready when it takes jobs */
        if (!cct_wait_status(m->metrics[k], "/readyz", 200, 60000)) {
            fprintf(stderr, "%s did not become ready (see %s/%s.log)\n", names[k], m->dir,
                    names[k]);
            exit(1);
        }
    }
    if (!spawn_proc(m, CCT_GATEWAY) || !cct_wait_status(m->gw_port, "/readyz", 200, 30000)) {
        fprintf(stderr, "the gateway did not become ready (see %s/cc-gateway.log)\n", m->dir);
        exit(1);
    }
    /* The judge is ready once its consumer is declared (it logs "taking
     * jobs"); one that gave up would leave every submission waiting. */
    if (!m->o.no_judge && !wait_judge_taking(m, 90000)) {
        fprintf(stderr, "cc-judge did not start taking jobs (see %s/cc-judge.log)\n", m->dir);
        exit(1);
    }
}

void cct_mesh_stop(cct_mesh *m)
{
    for (int k = CCT_NPROCS - 1; k >= 0; k--) {
        cc_local_proc *p = &m->procs[k];
        if (cc_local_proc_poll(p))
            CCT_FAIL("%s exited by itself (wait status 0x%x)", p->name, p->status);
        cc_local_proc_stop(p, SIGTERM, k == CCT_JUDGE ? 20000 : 10000);
    }
    if (atomic_load(&cct_failed) || getenv("CC_LOCAL_KEEP"))
        fprintf(stderr, "logs in %s (kept with CC_LOCAL_KEEP=1)\n", m->dir);
    cc_local_stack_stop(&m->stack);
    curl_global_cleanup();
}

/* ---- accounts and submissions -------------------------------------------------- */

static cct_resp req(const cct_mesh *m, const char *method, const char *path, const char *body,
                    const char *token, const char *extra)
{
    char url[1100];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", m->gw_port, path);
    return cct_req_url(method, url, body, token, extra);
}

static bool login(const cct_mesh *m, const char *user, const char *pw, cct_account *a)
{
    char body[512];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    cct_resp r = req(m, "POST", "/v1/auth/login", body, NULL, NULL);
    bool ok = r.status == 200;
    if (ok) {
        snprintf(a->token, sizeof a->token, "%s", cct_json_str(r.json, "accessToken"));
        snprintf(a->id, sizeof a->id, "%s", cct_json_str(json_object_get(r.json, "user"), "id"));
    } else {
        fprintf(stderr, "login %s: %ld %s\n", user, r.status, r.body ? r.body : "");
    }
    cct_resp_free(&r);
    return ok;
}

bool cct_login_root(const cct_mesh *m, cct_account *a)
{
    return login(m, "root", "rootpassword", a);
}

bool cct_register(const cct_mesh *m, const char *username, cct_account *a)
{
    char body[512], pw[128];
    snprintf(pw, sizeof pw, "password-%s", username);
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"%s\"}", username,
             username, pw);
    cct_resp r = req(m, "POST", "/v1/users", body, NULL, NULL);
    long st = r.status;
    cct_resp_free(&r);
    if (st != 201 && st != 409) {
        fprintf(stderr, "register %s: %ld\n", username, st);
        return false;
    }
    return login(m, username, pw, a);
}

const char CCT_AC_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                        "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                        "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";
const char CCT_SLOW_RUN_C[] = "#include <stdio.h>\\n#include <unistd.h>\\n"
                              "int main(void){long long a,b;usleep(200000);"
                              "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                              "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";

const char *cct_slow_compile_c(void)
{
    static char src[4096];
    if (src[0])
        return src;
    size_t n = 0;
    n += (size_t)snprintf(src + n, sizeof src - n, "#include <stdio.h>\\n#define A0 1\\n");
    for (int i = 1; i <= 21; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "#define A%d (A%d+A%d)\\n", i, i - 1,
                              i - 1);
    snprintf(src + n, sizeof src - n,
             "static long long z = A21;\\nint main(void){long long a,b;"
             "if(scanf(\\\"%%lld %%lld\\\",&a,&b)!=2)return 1;"
             "printf(\\\"%%lld\\\\n\\\",a+b+(z-z));return 0;}\\n");
    return src;
}

long cct_submit(const cct_mesh *m, const cct_account *a, const char *src, const char *key,
                char id[64], bool *retry_after, char *detail)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    size_t blen = strlen(src) + 128;
    char *body = malloc(blen);
    snprintf(body, blen, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"%s\"}", src);
    cct_resp r = req(m, "POST", "/v1/submissions", body, a->token, key ? hdr : NULL);
    free(body);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", st == 201 ? cct_json_str(r.json, "id") : "");
    if (retry_after)
        *retry_after = strcasestr(r.headers, "\nretry-after:") != NULL;
    if (detail)
        snprintf(detail, 256, "%s", r.json ? cct_json_str(r.json, "detail") : "");
    cct_resp_free(&r);
    return st;
}

json_t *cct_get_submission(const cct_mesh *m, const cct_account *a, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/submissions/%s", id);
    cct_resp r = req(m, "GET", path, NULL, a->token, NULL);
    json_t *j = r.status == 200 ? json_incref(r.json) : NULL;
    cct_resp_free(&r);
    return j;
}

bool cct_wait_submission(const cct_mesh *m, const cct_account *a, const char *id,
                         const char *status, int ms)
{
    double end = cct_now_s() + ms / 1000.0;
    while (cct_now_s() < end) {
        json_t *j = cct_get_submission(m, a, id);
        const char *st = j ? cct_json_str(j, "status") : "";
        bool hit = !strcmp(st, status);
        bool past = !strcmp(st, "judged");
        json_decref(j);
        if (hit)
            return true;
        if (past)
            return false;
        usleep(20000);
    }
    return false;
}

/* ---- the end check ---------------------------------------------------------------- */

typedef struct {
    char id[64];
    char verdict[16];
    int events;
    bool mixed;
} seen;

static int cmp_seen_ptr(const void *a, const void *b)
{
    return strcmp((*(seen *const *)a)->id, (*(seen *const *)b)->id);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* v's entries sorted by id, for bsearch: the backlog checks 10,000
 * submissions against 20,000 and more events. */
static seen **seen_index(seen *v, int n)
{
    seen **ix = malloc((size_t)(n ? n : 1) * sizeof *ix);
    for (int i = 0; i < n; i++)
        ix[i] = &v[i];
    qsort(ix, (size_t)n, sizeof *ix, cmp_seen_ptr);
    return ix;
}

static seen *seen_find(seen **ix, int n, const char *id)
{
    seen key;
    snprintf(key.id, sizeof key.id, "%s", id);
    seen *kp = &key;
    seen **hit = bsearch(&kp, ix, (size_t)n, sizeof *ix, cmp_seen_ptr);
    return hit ? *hit : NULL;
}

/* Every judged event on CC_EVENTS, grouped per submission, must agree with
 * the stored verdict; and no two messages of the stream carry one
 * Nats-Msg-Id (each outbox row was stored once). Reads with an ephemeral
 * consumer from the first message up to the stream's last sequence when
 * the read began, with no limit on what may wait in the client, and fails
 * if the client dropped any message or the stream went silent for 10 s
 * before the end. */
static void check_events(const cct_mesh *m, seen *v, int n)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsStreamInfo *si = NULL;
    jsSubOptions so;
    size_t nids = 0, capids = 0;
    char **ids = NULL;
    seen **ix = seen_index(v, n);
    int dup_ids = 0, total = 0;
    if (cc_local_nats_connect(&m->stack, "admin", &nc) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        CCT_FAIL("cannot reach NATS to read CC_EVENTS");
        goto out;
    }
    jsSubOptions_Init(&so);
    so.Stream = "CC_EVENTS";
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckNone;
    /* A cluster that just got its quorum back may not take a consumer at
     * once. */
    natsStatus ns = NATS_ERR;
    jsErrCode jerr = 0;
    for (int i = 0; i < 40 && ns != NATS_OK; i++) {
        jsStreamInfo_Destroy(si);
        si = NULL;
        ns = js_GetStreamInfo(&si, js, "CC_EVENTS", NULL, &jerr);
        if (ns == NATS_OK)
            ns = js_SubscribeSync(&sub, js, "cc.evt.>", NULL, &so, &jerr);
        if (ns != NATS_OK)
            usleep(500000);
    }
    if (ns != NATS_OK) {
        CCT_FAIL("cannot read CC_EVENTS: %s (jetstream error %d) %s", natsStatus_GetText(ns),
                 (int)jerr, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        goto out;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);
    uint64_t last = si->State.LastSeq, seq = 0;
    natsMsg *msg = NULL;
    while (seq < last) {
        ns = natsSubscription_NextMsg(&msg, sub, 10000);
        if (ns != NATS_OK) {
            CCT_FAIL("CC_EVENTS: %s after sequence %llu of %llu (%d messages read)",
                     natsStatus_GetText(ns), (unsigned long long)seq, (unsigned long long)last,
                     total);
            break;
        }
        jsMsgMetaData *md = NULL;
        if (natsMsg_GetMetaData(&md, msg) == NATS_OK) {
            seq = md->Sequence.Stream;
            jsMsgMetaData_Destroy(md);
        }
        total++;
        const char *mid = NULL;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &mid) == NATS_OK && mid) {
            if (nids == capids) {
                capids = capids ? capids * 2 : 256;
                ids = realloc(ids, capids * sizeof *ids);
            }
            ids[nids++] = strdup(mid);
        }
        if (strcmp(natsMsg_GetSubject(msg), "cc.evt.submission.judged") == 0) {
            Codecourt__V1__JudgeResult *r = codecourt__v1__judge_result__unpack(
                NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
            seen *s = r ? seen_find(ix, n, r->submission_id) : NULL;
            if (s) {
                if (r->attempt != 1)
                    CCT_FAIL("%s: judged event of attempt %u", s->id, r->attempt);
                if (strcmp(s->verdict, r->verdict) != 0)
                    s->mixed = true;
                s->events++;
            }
            if (r)
                codecourt__v1__judge_result__free_unpacked(r, NULL);
        }
        natsMsg_Destroy(msg);
    }
    int64_t dropped = 0;
    if (natsSubscription_GetDropped(sub, &dropped) == NATS_OK)
        CCT_CHECK(dropped == 0, "CC_EVENTS: the client dropped %lld messages", (long long)dropped);
    qsort(ids, nids, sizeof *ids, cmp_str_ptr);
    for (size_t i = 1; i < nids; i++) {
        if (strcmp(ids[i - 1], ids[i]) != 0)
            continue;
        dup_ids++;
        if (cct_dup_ok_prefix &&
            !strncmp(ids[i], cct_dup_ok_prefix, strlen(cct_dup_ok_prefix)))
            fprintf(stderr, "Nats-Msg-Id %s stored twice in CC_EVENTS\n", ids[i]);
        else
            CCT_FAIL("Nats-Msg-Id %s stored twice in CC_EVENTS", ids[i]);
    }
    for (int i = 0; i < n; i++) {
        CCT_CHECK(v[i].events >= 1, "%s: no judged event in CC_EVENTS", v[i].id);
        CCT_CHECK(!v[i].mixed, "%s: judged events with different verdicts", v[i].id);
    }
    fprintf(stderr, "CC_EVENTS: %d messages up to sequence %llu, %d Nats-Msg-Id stored twice\n",
            total, (unsigned long long)last, dup_ids);
out:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(ix);
    jsStreamInfo_Destroy(si);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

long cct_outbox_unsent(const cct_mesh *m)
{
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&m->stack, "cc_submission"));
    long n = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM cc_outbox WHERE sent_at IS NULL");
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(c);
    return n;
}

int cct_check_all(const cct_mesh *m, const cct_account *a, char (*accepted)[64], int naccepted,
                  int ms)
{
    int cap = naccepted + 256, n = 0;
    seen *v = calloc((size_t)cap, sizeof *v);
    /* The user's list holds everything the service stored for them,
     * including a submission whose 201 never reached us. */
    char cursor[512] = "";
    for (;;) {
        char path[1024];
        snprintf(path, sizeof path, "/v1/submissions?pageSize=100%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        cct_resp r = req(m, "GET", path, NULL, a->token, NULL);
        if (r.status != 200) {
            CCT_FAIL("list: %ld", r.status);
            cct_resp_free(&r);
            free(v);
            return 0;
        }
        json_t *arr = json_object_get(r.json, "submissions");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            if (n == cap) {
                cap *= 2;
                v = realloc(v, (size_t)cap * sizeof *v);
                memset(v + n, 0, (size_t)(cap - n) * sizeof *v);
            }
            snprintf(v[n++].id, 64, "%s", cct_json_str(json_array_get(arr, i), "id"));
        }
        snprintf(cursor, sizeof cursor, "%s", cct_json_str(r.json, "nextCursor"));
        cct_resp_free(&r);
        if (!cursor[0])
            break;
    }
    seen **ix = seen_index(v, n);
    for (int i = 0; i < naccepted; i++)
        CCT_CHECK(seen_find(ix, n, accepted[i]) != NULL, "accepted submission %s is not stored",
                  accepted[i]);
    free(ix);
    double end = cct_now_s() + ms / 1000.0;
    int judged = 0;
    for (int i = 0; i < n; i++) {
        json_t *j = NULL;
        for (;;) {
            j = cct_get_submission(m, a, v[i].id);
            if (j && !strcmp(cct_json_str(j, "status"), "judged"))
                break;
            json_decref(j);
            j = NULL;
            if (cct_now_s() > end)
                break;
            usleep(200000);
        }
        if (!j) {
            CCT_FAIL("submission %s not judged in time", v[i].id);
            continue;
        }
        judged++;
        snprintf(v[i].verdict, sizeof v[i].verdict, "%s", cct_json_str(j, "verdict"));
        CCT_CHECK(!strcmp(v[i].verdict, "AC"), "%s: verdict %s", v[i].id, v[i].verdict);
        CCT_CHECK(json_integer_value(json_object_get(j, "attempt")) == 1, "%s: attempt %lld",
                  v[i].id, (long long)json_integer_value(json_object_get(j, "attempt")));
        json_t *tests = json_object_get(j, "tests");
        CCT_CHECK(json_array_size(tests) == 11, "%s: %zu test results", v[i].id,
                  json_array_size(tests));
        for (size_t t = 0; t < json_array_size(tests); t++)
            CCT_CHECK(!strcmp(cct_json_str(json_array_get(tests, t), "verdict"), "AC"),
                      "%s: test %zu %s", v[i].id, t,
                      cct_json_str(json_array_get(tests, t), "verdict"));
        json_decref(j);
    }
    check_events(m, v, n);
    int twice = 0;
    for (int i = 0; i < n; i++)
        twice += v[i].events > 1;
    /* The relay marks a row once the stream acked it: give it a moment. */
    long unsent = -1;
    for (int i = 0; i < 50 && (unsent = cct_outbox_unsent(m)) != 0; i++)
        usleep(200000);
    CCT_CHECK(unsent == 0, "%ld outbox rows never published", unsent);
    fprintf(stderr,
            "%d accepted, %d stored, %d judged (one verdict each), %d with two judged events "
            "(same verdict), %ld outbox rows unsent\n",
            naccepted, n, judged, twice, unsent);
    free(v);
    return n;
}

/* ---- a burst in the background, and the case runner ------------------------------ */

void *cct_burst_main(void *ud)
{
    cct_burst *b = ud;
    for (int i = 0; i < b->count && i < CCT_BURST_MAX; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s-%d", b->prefix ? b->prefix : "b", i);
        double t0 = cct_now_s();
        bool accepted = false;
        long st = 0;
        char detail[256] = "";
        while (!accepted && cct_now_s() - t0 < CCT_BURST_KEY_DEADLINE_S) {
            bool ra = false;
            char id[64];
            st = cct_submit(b->m, b->a, CCT_AC_C, key, id, &ra, detail);
            if (st == 201) {
                snprintf(b->ids[atomic_fetch_add(&b->accepted, 1)], 64, "%s", id);
                accepted = true;
                break;
            }
            if (st == 503) {
                CCT_CHECK(ra, "%s: 503 without Retry-After", key);
                atomic_fetch_add(&b->unavailable, 1);
                if (atomic_load(&b->quorum_lost))
                    atomic_fetch_add(&b->unavailable_while_lost, 1);
            } else {
                if (st != 504 || !b->allow_504)
                    CCT_FAIL("%s: status %ld during the burst (%s)", key, st, detail);
                atomic_fetch_add(&b->other, 1);
            }
            usleep(250000);
        }
        if (!accepted) {
            CCT_FAIL("%s not accepted in %d s: last answer %ld (%s); the burst stops", key,
                     CCT_BURST_KEY_DEADLINE_S, st, detail);
            break;
        }
        usleep((useconds_t)b->gap_ms * 1000);
    }
    return NULL;
}

int cct_run_case(cct_mesh *m, const char *log_name, const cct_mesh_options *o,
                 const cct_case *cases, size_t ncases, int argc, char **argv)
{
    for (size_t i = 0; argc == 2 && i < ncases; i++) {
        if (strcmp(argv[1], cases[i].name) != 0)
            continue;
        double t0 = cct_now_s();
        cct_mesh_start(m, log_name, o);
        cases[i].fn();
        cct_mesh_stop(m);
        bool failed = atomic_load(&cct_failed);
        fprintf(stderr, "%s: %s in %.1f s\n", cases[i].name, failed ? "FAILED" : "ok",
                cct_now_s() - t0);
        return failed ? 1 : 0;
    }
    fprintf(stderr, "usage: %s CASE\ncases:", argv[0]);
    for (size_t i = 0; i < ncases; i++)
        fprintf(stderr, " %s", cases[i].name);
    fputc('\n', stderr);
    return 2;
}
