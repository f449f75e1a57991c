/* Reliability of the submission pipeline (issue 6), with real servers and
 * processes really killed. One binary, one case per run (argv[1]), each
 * case its own ctest test with its own stack so they run side by side:
 *
 *   judge-kill-compiling  kill -9 of the judge while it compiles
 *   judge-kill-running    kill -9 of the judge while it runs the tests
 *   pg-crash              a burst, the judge killed -9, PostgreSQL killed -9
 *                         and started again while submitting
 *   pg-restart            PostgreSQL stopped and started during a burst:
 *                         503 + Retry-After while it is down, never 500,
 *                         and it recovers by itself
 *   nats-restart          nats-server restarted during a burst
 *   idempotency           N concurrent requests with one Idempotency-Key
 *
 * Through every case, every submission the API accepted (and every
 * submission the user has, which covers a request whose answer was lost)
 * ends judged with exactly one verdict, attempt 1, a result per test, and
 * CC_EVENTS holds judged events for it that all agree: none is judged twice
 * into different results (cct_check_all). The stack, the accounts, the
 * sources, the burst and the case runner are the harness's
 * (tests/integration/common/cctest_mesh.h). CC_LOCAL_KEEP=1 keeps the
 * folder with every process's log. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/local.h"
#include "cctest_http.h"
#include "cctest_mesh.h"

static cct_mesh mesh;

/* Every case has its own servers, so the seeded admin is the only user it
 * needs: registration is cc-user's business and tested there. */
static void sign_in(cct_account *a)
{
    if (!cct_login_root(&mesh, a))
        exit(1);
}

static long submit(const cct_account *a, const char *src, const char *key, char id[64],
                   bool *retry_after)
{
    char detail[256];
    long st = cct_submit(&mesh, a, src, key, id, retry_after, detail);
    if (st != 201)
        fprintf(stderr, "submit %s: %ld %s\n", key ? key : "", st, detail);
    return st;
}

/* ---- cases --------------------------------------------------------------------- */

static void kill_judge_at(const char *stage, const char *src)
{
    cct_account a;
    sign_in(&a);
    char ids[3][64];
    /* Two at once so both of the worker's slots are busy with one. */
    for (int i = 0; i < 2; i++) {
        char key[32];
        snprintf(key, sizeof key, "k-%d", i);
        CCT_CHECK(submit(&a, src, key, ids[i], NULL) == 201, "submit");
    }
    bool hit = cct_wait_submission(&mesh, &a, ids[0], stage, 60000);
    CCT_CHECK(hit, "never saw %s", stage);
    cc_local_proc_kill(&mesh.procs[CCT_JUDGE]);
    json_t *j = cct_get_submission(&mesh, &a, ids[0]);
    fprintf(stderr, "judge killed -9 with %s %s\n", ids[0], j ? cct_json_str(j, "status") : "?");
    json_decref(j);
    /* One more while no judge runs: it waits in CC_JUDGE. */
    CCT_CHECK(submit(&a, CCT_AC_C, "k-2", ids[2], NULL) == 201, "submit");
    CCT_CHECK(cct_mesh_start_proc(&mesh, CCT_JUDGE), "the judge did not start again");
    cct_check_all(&mesh, &a, ids, 3, 90000);
}

static void case_judge_kill_compiling(void)
{
    kill_judge_at("compiling", cct_slow_compile_c());
}

static void case_judge_kill_running(void)
{
    kill_judge_at("running", CCT_SLOW_RUN_C);
}

/* The case that failed before issue 6's fix: a burst, the judge killed
 * -9, PostgreSQL killed -9 right after the last 201 and started again. A
 * submission answered 201 just before the crash must survive it. */
static void case_pg_crash(void)
{
    cct_account a;
    sign_in(&a);
    enum { N = 12 };
    char ids[N + 2][64];
    int n = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "burst-%d", i);
        if (submit(&a, CCT_AC_C, key, ids[n], NULL) == 201)
            n++;
        else
            CCT_FAIL("burst submit %d", i);
    }
    usleep(300000);
    cc_local_proc_kill(&mesh.procs[CCT_JUDGE]);
    CCT_CHECK(cct_mesh_start_proc(&mesh, CCT_JUDGE), "the judge did not start again");
    CCT_CHECK(cc_local_stack_crash(&mesh.stack, CC_LOCAL_PG) == CC_OK, "crash pg");
    int unavailable = 0;
    for (int i = 0; i < 6; i++) {
        char key[32];
        bool ra = false;
        snprintf(key, sizeof key, "down-%d", i);
        long st = submit(&a, CCT_AC_C, key, ids[n], &ra);
        CCT_CHECK(st != 500, "500 while PostgreSQL is down");
        if (st == 201) {
            n++;
        } else {
            CCT_CHECK(st == 503 && ra, "down: %ld (Retry-After %d)", st, ra);
            unavailable++;
        }
    }
    CCT_CHECK(unavailable > 0, "no 503 while PostgreSQL was down");
    CCT_CHECK(cc_local_stack_start_some(&mesh.stack, CC_LOCAL_PG) == CC_OK, "start pg");
    long st = 0;
    for (int waited = 0; waited < 30000 && st != 201; waited += 500) {
        st = submit(&a, CCT_AC_C, "after-restart", ids[n], NULL);
        if (st != 201)
            usleep(500000);
    }
    CCT_CHECK(st == 201, "no recovery after PostgreSQL came back");
    if (st == 201)
        n++;
    cct_check_all(&mesh, &a, ids, n, 90000);
}

/* A burst in the background while PostgreSQL is stopped and started, or
 * NATS restarted: every submission is accepted in the end (a 503 carries
 * Retry-After and is retried with the same key), and PostgreSQL's absence
 * shows as 503s. */
static void run_burst_with(unsigned server)
{
    cct_account a;
    sign_in(&a);
    static cct_burst b;
    memset(&b, 0, sizeof b);
    b.m = &mesh;
    b.a = &a;
    b.count = 30;
    b.gap_ms = 60;
    b.prefix = "b";
    b.allow_504 = server == CC_LOCAL_NATS; /* while NATS itself is away */
    pthread_t t;
    pthread_create(&t, NULL, cct_burst_main, &b);
    while (atomic_load(&b.accepted) < 8)
        usleep(20000);
    if (server == CC_LOCAL_PG) {
        CCT_CHECK(cc_local_stack_stop_some(&mesh.stack, CC_LOCAL_PG) == CC_OK, "stop pg");
        usleep(2500000);
        CCT_CHECK(cc_local_stack_start_some(&mesh.stack, CC_LOCAL_PG) == CC_OK, "start pg");
    } else {
        CCT_CHECK(cc_local_stack_restart(&mesh.stack, CC_LOCAL_NATS) == CC_OK, "restart nats");
    }
    pthread_join(t, NULL);
    int acc = atomic_load(&b.accepted);
    fprintf(stderr, "burst: %d accepted, %d answered 503, %d other\n", acc,
            atomic_load(&b.unavailable), atomic_load(&b.other));
    CCT_CHECK(acc == b.count, "only %d of %d submissions accepted in the end", acc, b.count);
    if (server == CC_LOCAL_PG)
        CCT_CHECK(atomic_load(&b.unavailable) > 0, "no 503 while PostgreSQL was down");
    cct_check_all(&mesh, &a, b.ids, acc, 120000);
}

static void case_pg_restart(void)
{
    run_burst_with(CC_LOCAL_PG);
}

static void case_nats_restart(void)
{
    run_burst_with(CC_LOCAL_NATS);
}

typedef struct {
    const cct_account *a;
    const char *src;
    const char *key;
    long status;
    char id[64];
    pthread_barrier_t *go;
} idem_req;

static void *idem_main(void *ud)
{
    idem_req *r = ud;
    pthread_barrier_wait(r->go);
    r->status = submit(r->a, r->src, r->key, r->id, NULL);
    return NULL;
}

/* N parallel requests with one key and one body: exactly one submission,
 * every answer names it. Then N parallel requests with one new key and N
 * different bodies: one wins, the others are 422. */
static void case_idempotency(void)
{
    cct_account a;
    sign_in(&a);
    enum { N = 16 };
    static idem_req rs[N];
    pthread_t t[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (idem_req){.a = &a, .src = CCT_AC_C, .key = "one-key", .go = &go};
        pthread_create(&t[i], NULL, idem_main, &rs[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        CCT_CHECK(rs[i].status == 201, "request %d: %ld", i, rs[i].status);
        CCT_CHECK(!strcmp(rs[i].id, rs[0].id), "request %d named %s, not %s", i, rs[i].id,
                  rs[0].id);
    }
    char ids[2][64];
    snprintf(ids[0], 64, "%s", rs[0].id);
    /* One key, N different bodies (the sources differ by a comment). */
    static char srcs[N][512];
    for (int i = 0; i < N; i++) {
        snprintf(srcs[i], sizeof srcs[i], "%s// variant %d\\n", CCT_AC_C, i);
        rs[i] = (idem_req){.a = &a, .src = srcs[i], .key = "two-key", .go = &go};
        pthread_create(&t[i], NULL, idem_main, &rs[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    int won = 0;
    for (int i = 0; i < N; i++) {
        if (rs[i].status == 201)
            snprintf(ids[1], 64, "%s", rs[i].id), won++;
        else
            CCT_CHECK(rs[i].status == 422, "different body %d: %ld", i, rs[i].status);
    }
    CCT_CHECK(won == 1, "%d winners for one key and different bodies", won);
    int stored = cct_check_all(&mesh, &a, ids, won == 1 ? 2 : 1, 60000);
    CCT_CHECK(stored == 2, "%d submissions for two keys", stored);
}

static const cct_case cases[] = {
    {"judge-kill-compiling", case_judge_kill_compiling},
    {"judge-kill-running", case_judge_kill_running},
    {"pg-crash", case_pg_crash},
    {"pg-restart", case_pg_restart},
    {"nats-restart", case_nats_restart},
    {"idempotency", case_idempotency},
};

int main(int argc, char **argv)
{
    return cct_run_case(&mesh, "test-submission-faults", NULL, cases,
                        sizeof cases / sizeof cases[0], argc, argv);
}
