/* A rolling restart under load (issue 25): the whole mesh carries a steady
 * load (submissions, problem and submission reads, logins) while each
 * process (cc-user, cc-problem, cc-submission, cc-judge, cc-gateway) is
 * replaced one at a time as a Kubernetes rolling update with
 * maxUnavailable 0 does it (cctest_roll.h): the new one starts next to the
 * old one, becomes ready, both serve side by side for a moment, then the
 * old one gets SIGTERM, drains and must exit 0. The gateways share their
 * port with SO_REUSEPORT (--reuse-port), as replicas behind a Service do.
 *
 * The invariants, printed as figures at the end and checked:
 *   - no lost submission: every accepted one (and every one the user has,
 *     in case a 201 was lost) is judged exactly once, AC, with agreeing
 *     judged events (cct_check_all);
 *   - no HTTP 5xx other than 503, and every 503 carries Retry-After;
 *   - no request past its deadline (the gateway's 10 s request timeout
 *     plus 5 s);
 *   - every old process drains and exits 0, no process exits by itself.
 * A submission answered 503 or not at all is sent again with the same
 * Idempotency-Key, as a client does; such retries are counted.
 *
 * The same program is the previous-release test's rolling upgrade and
 * rollback (tests/integration/upgrade): --from DIR starts the mesh with the
 * binaries in DIR, --to DIR rolls each process onto the binaries in DIR
 * (default for both: this build's). CC_ROLL_ROUNDS (1) replaces every
 * process that many times (the long form, see docs/benchmarks.md). */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cctest_http.h"
#include "cctest_mesh.h"
#include "cctest_roll.h"

static cct_mesh mesh;
static cct_account root;
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;

enum { DEADLINE_MS = 15000, MAX_ACCEPTED = 8192, OVERLAP_MS = 2000 };

static const char *root_token(char *buf)
{
    pthread_mutex_lock(&root_lock);
    memcpy(buf, root.token, sizeof root.token);
    pthread_mutex_unlock(&root_lock);
    return buf;
}

/* ---- figures ------------------------------------------------------------------ */

static atomic_long n_requests, n_ok, n_503, n_5xx, n_4xx, n_unanswered, n_late, n_no_retry_after;
static atomic_long n_resent, max_ms;
static pthread_mutex_t acc_lock = PTHREAD_MUTEX_INITIALIZER;
static char accepted[MAX_ACCEPTED][64];
static int naccepted;

static void add_accepted(const char *id)
{
    pthread_mutex_lock(&acc_lock);
    if (naccepted < MAX_ACCEPTED)
        snprintf(accepted[naccepted++], 64, "%s", id);
    pthread_mutex_unlock(&acc_lock);
}

/* One request through the gateway, counted; its JSON into out (may be
 * NULL). */
static long call(const char *method, const char *path, const char *body, const char *token,
                 const char *extra, json_t **out)
{
    double t0 = cct_now_s();
    cct_resp r = cct_req_url(method, cct_fmt("http://127.0.0.1:%u%s", mesh.gw_port, path), body,
                             token, extra);
    long ms = (long)((cct_now_s() - t0) * 1000), st = r.status;
    atomic_fetch_add(&n_requests, 1);
    for (long m = atomic_load(&max_ms); ms > m && !atomic_compare_exchange_weak(&max_ms, &m, ms);)
        ;
    if (ms > DEADLINE_MS) {
        atomic_fetch_add(&n_late, 1);
        CCT_FAIL("%s %s: answered after %ld ms (status %ld)", method, path, ms, st);
    }
    if (st == 0) {
        atomic_fetch_add(&n_unanswered, 1);
    } else if (st == 503) {
        atomic_fetch_add(&n_503, 1);
        fprintf(stderr, "%s %s: 503 after %ld ms: %s\n", method, path, ms, r.body ? r.body : "");
        if (!strcasestr(r.headers, "\nretry-after:")) {
            atomic_fetch_add(&n_no_retry_after, 1);
            CCT_FAIL("%s %s: 503 without Retry-After", method, path);
        }
    } else if (st >= 500) {
        atomic_fetch_add(&n_5xx, 1);
        CCT_FAIL("%s %s: %ld %s", method, path, st, r.body ? r.body : "");
    } else if (st >= 400) {
        atomic_fetch_add(&n_4xx, 1); /* every request of the load is valid */
        CCT_FAIL("%s %s: %ld %s", method, path, st, r.body ? r.body : "");
    } else {
        atomic_fetch_add(&n_ok, 1);
    }
    if (out)
        *out = r.json ? json_incref(r.json) : NULL;
    cct_resp_free(&r);
    return st;
}

/* ---- the load ---------------------------------------------------------------- */

/* One submission under key, sent again on 503 or no answer (same key)
 * until accepted; its id into id_out. */
static bool submit(const char *key, char id_out[64])
{
    char body[8192], hdr[128], tok[sizeof root.token];
    snprintf(body, sizeof body, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"%s\"}",
             CCT_AC_C);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    for (int tries = 0; tries < 240; tries++) {
        json_t *j = NULL;
        long st = call("POST", "/v1/submissions", body, root_token(tok), hdr, &j);
        if (st == 201) {
            snprintf(id_out, 64, "%s", cct_json_str(j, "id"));
            add_accepted(id_out);
            json_decref(j);
            return true;
        }
        json_decref(j);
        if (st != 503 && st != 0)
            return false; /* counted and printed by call */
        atomic_fetch_add(&n_resent, 1);
        usleep(250000);
    }
    CCT_FAIL("submission %s never accepted", key);
    return false;
}

/* A submission a second, each read back once: about what two judge slots
 * keep up with on a shared machine. */
static void *submitter(void *ud)
{
    int t = (int)(intptr_t)ud;
    char id[64], tok[sizeof root.token];
    for (int i = 0; !atomic_load(&stopping); i++) {
        if (submit(cct_fmt("roll-%d-%d-%d", (int)getpid(), t, i), id))
            call("GET", cct_fmt("/v1/submissions/%s", id), NULL, root_token(tok), NULL, NULL);
        usleep(1000000);
    }
    return NULL;
}

/* Problem reads and logins, ten a second. */
static void *reader(void *ud)
{
    char tok[sizeof root.token];
    for (int i = 0; !atomic_load(&stopping); i++) {
        if (i % 5 == 4)
            call("POST", "/v1/auth/login", "{\"username\":\"root\",\"password\":\"rootpassword\"}",
                 NULL, NULL, NULL);
        else
            call("GET", "/v1/problems/aplusb", NULL, root_token(tok), NULL, NULL);
        usleep(100000);
    }
    return NULL;
}

/* "cc-user 0.2.0-dev" of dir's binary, for the figures. */
static const char *version_of(const char *dir, cct_proc_kind k, char *buf, size_t len)
{
    snprintf(buf, len, "?");
    FILE *p = popen(cct_fmt("'%s/%s' --version 2>/dev/null", dir, cct_proc_name(k)), "r");
    if (p) {
        if (fgets(buf, (int)len, p))
            buf[strcspn(buf, "\n")] = 0;
        pclose(p);
    }
    const char *sp = strrchr(buf, ' ');
    return sp ? sp + 1 : buf;
}

int main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *replace = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--from"))
            from = argv[i + 1];
        else if (!strcmp(argv[i], "--to"))
            to = argv[i + 1];
        else if (!strcmp(argv[i], "--replace"))
            replace = argv[i + 1]; /* "user,submission": stopped, then started */
        else {
            fprintf(stderr,
                    "usage: test_rolling [--from BIN_DIR] [--to BIN_DIR] [--replace cc-a,cc-b]\n");
            return 2;
        }
    }
    const char *e = getenv("CC_ROLL_ROUNDS");
    char *end = NULL;
    long rounds_l = e && *e ? strtol(e, &end, 10) : 1;
    if (e && *e && (*end || rounds_l < 1 || rounds_l > 1000)) {
        fprintf(stderr, "CC_ROLL_ROUNDS: '%s' is not a number of rounds (1-1000)\n", e);
        return 2;
    }
    int rounds = (int)rounds_l;
    double t0 = cct_now_s();
    static const char *const gw_extra[] = {"--reuse-port", NULL};
    cct_mesh_options o = {.bin_dir = from, .gateway_extra = gw_extra};
    cct_mesh_start(&mesh, "test-rolling", &o);
    char vfrom[128], vto[128];
    const char *from_v =
        version_of(cct_mesh_bin_dir(&mesh, CCT_USER), CCT_USER, vfrom, sizeof vfrom);
    const char *to_v = version_of(to ? to : CC_BIN_DIR, CCT_USER, vto, sizeof vto);
    fprintf(stderr, "rolling: %s -> %s, %d round(s), mesh up in %.1f s\n", from_v, to_v, rounds,
            cct_now_s() - t0);
    if (!cct_login_root(&mesh, &root))
        exit(1);

    enum { SUBMITTERS = 1, READERS = 2 };
    pthread_t th[SUBMITTERS + READERS];
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_create(&th[i], NULL, submitter, (void *)(intptr_t)i);
    for (int i = 0; i < READERS; i++)
        pthread_create(&th[SUBMITTERS + i], NULL, reader, NULL);

    /* The order of a rolling upgrade: the actors, then the judge, then the
     * gateway (the front door last, as a chart upgrade would). */
    static const cct_proc_kind order[] = {CCT_USER, CCT_PROBLEM, CCT_SUBMISSION, CCT_JUDGE,
                                          CCT_GATEWAY};
    double start = cct_now_s(), worst_ready = 0, worst_drain = 0;
    int rolled = 0;
    usleep(2000000);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            cct_roll_figures f = {0};
            const char *name = cct_proc_name(order[i]);
            bool no_overlap = strstr(replace, name) != NULL;
            if (no_overlap ? cct_mesh_replace(&mesh, order[i], to, &f)
                           : cct_mesh_roll(&mesh, order[i], to, OVERLAP_MS, &f)) {
                rolled++;
                fprintf(stderr,
                        "rolling: %s replaced%s: new ready in %.0f ms, old drained in %.0f ms\n",
                        name, no_overlap ? " (stopped first)" : "", f.ready_ms, f.drain_ms);
            }
            worst_ready = f.ready_ms > worst_ready ? f.ready_ms : worst_ready;
            worst_drain = f.drain_ms > worst_drain ? f.drain_ms : worst_drain;
            for (int k = 0; k < CCT_NPROCS; k++)
                if (cc_local_proc_poll(&mesh.procs[k]))
                    CCT_FAIL("%s exited by itself (wait status 0x%x)",
                             cct_proc_name((cct_proc_kind)k), mesh.procs[k].status);
            usleep(1000000);
        }
        /* The access token lasts 15 minutes: a long run renews it. */
        cct_account a;
        if (cct_login_root(&mesh, &a)) {
            pthread_mutex_lock(&root_lock);
            root = a;
            pthread_mutex_unlock(&root_lock);
        }
    }
    /* The mesh is now wholly the --to build: it must judge on its own. */
    usleep(3000000);
    atomic_store(&stopping, true);
    for (int i = 0; i < SUBMITTERS + READERS; i++)
        pthread_join(th[i], NULL);
    double load_s = cct_now_s() - start;

    int stored = cct_check_all(&mesh, &root, accepted, naccepted, 180000);
    fprintf(stderr,
            "rolling figures (%s -> %s): %d of %d processes replaced in %.0f s under load; %ld "
            "requests: %ld ok, %ld 503 (%ld without Retry-After), %ld other 5xx, %ld 4xx, %ld "
            "unanswered, %ld past %d s (slowest %ld ms); %ld submissions resent with their key; "
            "%d accepted, %d stored and judged once; slowest ready %.0f ms, slowest drain %.0f "
            "ms\n",
            from_v, to_v, rolled, rounds * 5, load_s, atomic_load(&n_requests), atomic_load(&n_ok),
            atomic_load(&n_503), atomic_load(&n_no_retry_after), atomic_load(&n_5xx),
            atomic_load(&n_4xx), atomic_load(&n_unanswered), atomic_load(&n_late),
            DEADLINE_MS / 1000, atomic_load(&max_ms), atomic_load(&n_resent), naccepted, stored,
            worst_ready, worst_drain);
    CCT_CHECK(rolled == rounds * 5, "%d of %d replacements worked", rolled, rounds * 5);
    CCT_CHECK(naccepted > 0 && stored == naccepted, "%d accepted, %d stored", naccepted, stored);
    cct_mesh_stop(&mesh);
    bool failed = atomic_load(&cct_failed);
    fprintf(stderr, "rolling: %s in %.1f s\n", failed ? "FAILED" : "ok", cct_now_s() - t0);
    return failed ? 1 : 0;
}
