/* Chaos under load (issue 20): the whole mesh on a three-server JetStream
 * cluster carries a steady mixed load (submissions, problem reads, logins,
 * registrations, live sockets) while, at seeded random moments, one thing
 * at a time is killed -9 and started again: the gateway, each actor, the
 * judge while it compiles and while it runs a submission, a NATS server,
 * PostgreSQL, Redis; or one process is paused with SIGSTOP for longer than
 * the timeouts around it. Every kind of fault comes once per round, in a
 * seeded order; CC_CHAOS_SECONDS (0 by default: one round, about a minute
 * and a half) keeps starting rounds until that much time has passed, and
 * CC_CHAOS_SEED replays a run (the seed is printed).
 *
 * The invariants, printed as figures at the end and checked:
 *   - every accepted submission (and every one the user has, in case a 201
 *     was lost) is judged exactly once, AC, with agreeing judged events
 *     and no outbox row left unsent (cct_check_all);
 *   - no HTTP 5xx other than 503;
 *   - no request that hung past its deadline (the gateway's 10 s request
 *     timeout plus 5 s);
 *   - after every restart the mesh answers again (the time from the
 *     restart to the first successful request that needs what was
 *     restarted is printed, and must be under 60 s);
 *   - no process exited by itself.
 * A 503 (with Retry-After) and a refused connection while the gateway is
 * down are allowed: the load retries a submission with the same
 * Idempotency-Key, as a client would. CC_LOCAL_KEEP=1 keeps the logs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cctest_http.h"
#include "cctest_load.h"
#include "cctest_mesh.h"

static cct_mesh mesh;
static cct_account root; /* its token is renewed each round (it lasts 15 min) */

enum { RECOVER_MS = 60000 };

/* xorshift64*: the fault schedule is a function of the seed alone. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* ---- faults ------------------------------------------------------------------ */

typedef enum {
    F_GATEWAY,
    F_USER,
    F_PROBLEM,
    F_SUBMISSION,
    F_JUDGE_COMPILING,
    F_JUDGE_RUNNING,
    F_NATS,
    F_POSTGRES,
    F_REDIS,
    F_PAUSE,
    F_KINDS
} fault_kind;

static const char *const fault_names[F_KINDS] = {
    "kill -9 cc-gateway",     "kill -9 cc-user",        "kill -9 cc-problem",
    "kill -9 cc-submission",  "kill -9 cc-judge compiling", "kill -9 cc-judge running",
    "kill -9 a nats server",  "kill -9 postgresql",     "kill -9 redis",
    "SIGSTOP a process"};

/* Waits until the mesh does again what needs the thing restarted at t0
 * (when its start began, so the figure includes the process's own start);
 * the seconds from t0, or -1. */
static double recover(fault_kind f, cct_proc_kind paused, double t0)
{
    static int probes;
    while (cct_now_s() - t0 < RECOVER_MS / 1000.0) {
        bool ok;
        cct_proc_kind k = f == F_PAUSE ? paused : CCT_NPROCS;
        if (f == F_USER || f == F_REDIS || f == F_POSTGRES || k == CCT_USER)
            ok = cct_load_login_root() == 200;
        else if (f == F_SUBMISSION || f == F_NATS || k == CCT_SUBMISSION)
            ok = cct_load_submit(CCT_AC_C, cct_fmt("probe-%d", probes++), NULL);
        else if (k == CCT_JUDGE) {
            /* A judge woken up judges a new submission. */
            char id[64];
            ok = cct_load_submit(CCT_AC_C, cct_fmt("probe-%d", probes++), id) &&
                 cct_wait_submission(&mesh, &root, id, "judged", RECOVER_MS);
        } else
            ok = cct_load_read_problem() == 200;
        if (ok)
            return cct_now_s() - t0;
        usleep(100000);
    }
    return -1;
}

static void must_start(cct_proc_kind k)
{
    if (!cct_mesh_start_proc(&mesh, k))
        CCT_FAIL("%s did not start again", cct_proc_name(k));
}

/* A judge killed while it compiles or runs this run's submission: submit
 * it, wait for the stage, kill, start again; the recovery is the time to
 * that submission's verdict. */
static double judge_fault(bool compiling, int n)
{
    char id[64] = "";
    const char *src = compiling ? cct_slow_compile_c() : CCT_SLOW_RUN_C;
    if (!cct_load_submit(src, cct_fmt("judge-%d", n), id)) {
        CCT_FAIL("the submission for the judge fault was not accepted");
        return -1;
    }
    if (!cct_wait_submission(&mesh, &root, id, compiling ? "compiling" : "running", 60000))
        fprintf(stderr, "  (%s passed %s before the kill)\n", id,
                compiling ? "compiling" : "running");
    cc_local_proc_kill(&mesh.procs[CCT_JUDGE]);
    double t0 = cct_now_s();
    must_start(CCT_JUDGE);
    if (!cct_wait_submission(&mesh, &root, id, "judged", RECOVER_MS))
        return -1;
    return cct_now_s() - t0;
}

typedef struct {
    char what[96];
    double recover_s;
} fault_log;

static fault_log logs[512];
static int nlogs;

static void fault(fault_kind f, uint64_t *s, int n)
{
    double rec = -1;
    char what[96];
    snprintf(what, sizeof what, "%s", fault_names[f]);
    switch (f) {
    case F_GATEWAY:
    case F_USER:
    case F_PROBLEM:
    case F_SUBMISSION: {
        cct_proc_kind k = f == F_GATEWAY  ? CCT_GATEWAY
                          : f == F_USER   ? CCT_USER
                          : f == F_PROBLEM ? CCT_PROBLEM
                                          : CCT_SUBMISSION;
        cc_local_proc_kill(&mesh.procs[k]);
        usleep((useconds_t)(500 + rnd(s) % 1500) * 1000);
        double t0 = cct_now_s();
        must_start(k);
        rec = recover(f, CCT_NPROCS, t0);
        break;
    }
    case F_JUDGE_COMPILING:
    case F_JUDGE_RUNNING:
        rec = judge_fault(f == F_JUDGE_COMPILING, n);
        break;
    case F_NATS: {
        int i = (int)(rnd(s) % 3);
        snprintf(what, sizeof what, "kill -9 nats server %d", i);
        CCT_CHECK(cc_local_nats_crash(&mesh.stack, i) == CC_OK, "kill nats %d", i);
        usleep((useconds_t)(1000 + rnd(s) % 2000) * 1000);
        double t0 = cct_now_s();
        CCT_CHECK(cc_local_nats_start(&mesh.stack, i) == CC_OK, "start nats %d: %s", i,
                  cc_err_msg());
        rec = recover(f, CCT_NPROCS, t0);
        break;
    }
    case F_POSTGRES:
    case F_REDIS: {
        unsigned which = f == F_POSTGRES ? CC_LOCAL_PG : CC_LOCAL_REDIS;
        CCT_CHECK(cc_local_stack_crash(&mesh.stack, which) == CC_OK, "crash");
        usleep((useconds_t)(500 + rnd(s) % 1500) * 1000);
        double t0 = cct_now_s();
        CCT_CHECK(cc_local_stack_start_some(&mesh.stack, which) == CC_OK, "start again: %s",
                  cc_err_msg());
        rec = recover(f, CCT_NPROCS, t0);
        break;
    }
    case F_PAUSE: {
        /* Longer than what waits on it: the gateway's 10 s for an actor,
         * the judge's 3 s ack wait (its job goes to another attempt). */
        static const cct_proc_kind pausable[] = {CCT_USER, CCT_PROBLEM, CCT_SUBMISSION,
                                                 CCT_JUDGE};
        cct_proc_kind k = pausable[rnd(s) % 4];
        int ms = k == CCT_JUDGE ? 5000 : 11000;
        snprintf(what, sizeof what, "SIGSTOP %s for %d s", cct_proc_name(k), ms / 1000);
        kill(mesh.procs[k].pid, SIGSTOP);
        usleep((useconds_t)ms * 1000);
        kill(mesh.procs[k].pid, SIGCONT);
        rec = recover(f, k, cct_now_s());
        break;
    }
    default:
        break;
    }
    CCT_CHECK(rec >= 0, "%s: the mesh did not recover within %d s", what, RECOVER_MS / 1000);
    fprintf(stderr, "fault %2d: %-34s recovered in %5.1f s\n", n, what, rec);
    if (nlogs < (int)(sizeof logs / sizeof logs[0])) {
        snprintf(logs[nlogs].what, sizeof logs[nlogs].what, "%s", what);
        logs[nlogs++].recover_s = rec;
    }
    /* Nothing else may have died with it. */
    for (int k = 0; k < CCT_NPROCS; k++)
        if (cc_local_proc_poll(&mesh.procs[k])) {
            CCT_FAIL("%s exited by itself (wait status 0x%x) around \"%s\"",
                     cct_proc_name((cct_proc_kind)k), mesh.procs[k].status, what);
            must_start((cct_proc_kind)k);
        }
}

int main(void)
{
    const char *e = getenv("CC_CHAOS_SEED");
    uint64_t seed = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (!seed)
        seed = 1;
    e = getenv("CC_CHAOS_SECONDS");
    double seconds = e && *e ? strtod(e, NULL) : 0;
    fprintf(stderr, "chaos: seed %llu (CC_CHAOS_SEED=%llu replays it), %.0f s\n",
            (unsigned long long)seed, (unsigned long long)seed, seconds);
    double t0 = cct_now_s();
    cct_mesh_options o = {.nats_servers = CC_LOCAL_NATS_MAX};
    cct_mesh_start(&mesh, "test-chaos", &o);
    if (!cct_login_root(&mesh, &root))
        exit(1);

    cct_load_start(&mesh, &root, 2);

    uint64_t s = seed;
    double start = cct_now_s();
    int n = 0;
    for (int round = 0;; round++) {
        if (round > 0) {
            cct_account a;
            if (cct_login_root(&mesh, &a)) {
                root = a;
                cct_load_set_root(&a);
            }
        }
        /* One round: every kind once, in a seeded order. */
        int order[F_KINDS];
        for (int i = 0; i < F_KINDS; i++)
            order[i] = i;
        for (int i = F_KINDS - 1; i > 0; i--) {
            int j = (int)(rnd(&s) % (uint64_t)(i + 1));
            int x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        for (int i = 0; i < F_KINDS; i++) {
            usleep((useconds_t)(1000 + rnd(&s) % 2000) * 1000);
            fault((fault_kind)order[i], &s, n++);
        }
        if (cct_now_s() - start >= seconds)
            break;
    }

    usleep(2000000);
    cct_load_stop();

    int naccepted;
    char(*accepted)[64] = cct_load_accepted(&naccepted);
    int stored = cct_check_all(&mesh, &root, accepted, naccepted, 240000);
    double worst = 0, sum = 0;
    for (int i = 0; i < nlogs; i++) {
        sum += logs[i].recover_s > 0 ? logs[i].recover_s : 0;
        if (logs[i].recover_s > worst)
            worst = logs[i].recover_s;
    }
    fprintf(stderr,
            "chaos figures (seed %llu): %d faults in %.0f s; %d submissions accepted, %d "
            "stored; recovery mean %.1f s, worst %.1f s\n",
            (unsigned long long)seed, nlogs, cct_now_s() - start, naccepted, stored,
            nlogs ? sum / nlogs : 0, worst);
    cct_load_print("chaos figures: ");
    CCT_CHECK(atomic_load(&cct_load.s5xx) == 0, "%ld answers 5xx other than 503",
              atomic_load(&cct_load.s5xx));
    CCT_CHECK(atomic_load(&cct_load.hung) == 0, "%ld requests hung", atomic_load(&cct_load.hung));
    cct_mesh_stop(&mesh);
    bool failed = atomic_load(&cct_failed);
    fprintf(stderr, "chaos: %s in %.1f s (seed %llu)\n", failed ? "FAILED" : "ok", cct_now_s() - t0,
            (unsigned long long)seed);
    return failed ? 1 : 0;
}
