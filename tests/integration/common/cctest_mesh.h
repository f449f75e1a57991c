/* The whole mesh as the reliability tests run it (issues 6 and 20): real
 * NATS (one server or a cluster of three), PostgreSQL and Redis from
 * cclocal, then cc-user, cc-problem (with the seeded aplusb), cc-submission,
 * cc-judge serve and cc-gateway as processes that a test may kill, pause
 * and start again; a signed-in account; submissions; and the end check
 * that every accepted submission has exactly one verdict and every judged
 * event agrees with it. Not cmocka: a failure is counted (cct_failed) and
 * printed, so a test goes on to print its figures. Thread-safe where it
 * says so (the load threads of the chaos and soak tests). */
#ifndef CCTEST_MESH_H
#define CCTEST_MESH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "cc/local.h"

extern atomic_bool cct_failed;

#define CCT_FAIL(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                       \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        atomic_store(&cct_failed, true);                                                           \
    } while (0)
#define CCT_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            CCT_FAIL(__VA_ARGS__);                                                                 \
    } while (0)

/* The mesh's processes, in start order. */
typedef enum {
    CCT_USER,
    CCT_PROBLEM,
    CCT_SUBMISSION,
    CCT_JUDGE,
    CCT_GATEWAY,
    CCT_NPROCS
} cct_proc_kind;

typedef struct cct_mesh_options {
    int nats_servers;        /* 1 (0) or 3 */
    const char *dir;         /* the stack's folder (NULL: a temporary one) */
    int judge_concurrency;   /* 0: 2 */
    const char *judge_ack_wait; /* 0: "3s" (a killed worker's job comes back soon) */
    int max_queued;          /* cc-submission's per-user queue; 0: 200 */
    bool no_judge;           /* start without the judge (cct_mesh_start_proc later) */
    const char *const *gateway_extra; /* more gateway flags, NULL-terminated, or NULL */
    const char *const *judge_extra;   /* more judge flags, NULL-terminated, or NULL */
    const char *bin_dir;              /* the processes' binaries (NULL: this build's) */
} cct_mesh_options;

typedef struct cct_mesh {
    cct_mesh_options o;
    cc_local_stack stack;
    cc_local_proc procs[CCT_NPROCS];
    uint16_t metrics[CCT_NPROCS]; /* each one's ops port (the judge's too) */
    uint16_t gw_port;
    char dir[4096], keypath[4200];
    const char *bin_dir[CCT_NPROCS]; /* one process's binaries, if not o.bin_dir's */
} cct_mesh;

/* Starts the servers and every process and waits until each is ready;
 * exits the test (status 1) when that fails. log_name names the test in
 * its own log lines. */
void cct_mesh_start(cct_mesh *m, const char *log_name, const cct_mesh_options *o);
/* Starts one process again (after a kill) with the same settings and
 * ports; true once its /readyz answers 200 (within 30 s). */
bool cct_mesh_start_proc(cct_mesh *m, cct_proc_kind k);
/* Stops everything; a process that exited by itself is a failure. Prints
 * where the logs are when something failed or CC_LOCAL_KEEP is set. */
void cct_mesh_stop(cct_mesh *m);
const char *cct_proc_name(cct_proc_kind k);
/* Where process k's binary comes from (bin_dir[k], o.bin_dir, this build). */
const char *cct_mesh_bin_dir(const cct_mesh *m, cct_proc_kind k);
/* Starts a second process of kind k into p, as a rolling update does: the
 * same settings as k's, its ops port ops_port, its log log_name.log in the
 * mesh's folder, its binary from bin_dir (NULL: this build's). A second
 * gateway shares the HTTP port only when both run with --reuse-port
 * (o.gateway_extra). Waiting for it is the caller's (cctest_roll.h). */
bool cct_mesh_spawn_as(cct_mesh *m, cct_proc_kind k, cc_local_proc *p, uint16_t ops_port,
                       const char *log_name, const char *bin_dir);
/* Waits until the judge p (logging to log_name.log) says it takes jobs;
 * false when it exited or ms passed. */
bool cct_wait_judge_taking(cct_mesh *m, cc_local_proc *p, const char *log_name, int ms);

/* ---- accounts and submissions (thread-safe) ----------------------------- */

typedef struct cct_account {
    char id[64];
    char token[4096];
} cct_account;

/* Logs in as the seeded admin (every case has its own servers). */
bool cct_login_root(const cct_mesh *m, cct_account *a);
/* Registers username (password "password-<username>") and logs in. */
bool cct_register(const cct_mesh *m, const char *username, cct_account *a);

/* Right answers to aplusb, as JSON string bodies: every verdict is AC. */
extern const char CCT_AC_C[];
/* Sleeps 200 ms of wall time per test: a judge killed while running. */
extern const char CCT_SLOW_RUN_C[];
/* Seconds of gcc (2^21 terms of macro expansion): killed while compiling. */
const char *cct_slow_compile_c(void);

/* POSTs a submission of src to aplusb with Idempotency-Key key (NULL:
 * none); the status (0: no answer), the id when 201, whether Retry-After
 * came, and the problem's detail into detail (may be NULL, 256 bytes). */
long cct_submit(const cct_mesh *m, const cct_account *a, const char *src, const char *key,
                char id[64], bool *retry_after, char *detail);
/* GET /v1/submissions/ID as JSON, or NULL. */
json_t *cct_get_submission(const cct_mesh *m, const cct_account *a, const char *id);
/* Waits until the submission's status is status; false if it went past
 * it (judged) or ms passed. */
bool cct_wait_submission(const cct_mesh *m, const cct_account *a, const char *id,
                         const char *status, int ms);

/* The end check. Every accepted id is stored for a; every submission a
 * has (which covers a 201 that never reached the client) ends judged AC,
 * attempt 1, with 11 AC test results, within ms; and CC_EVENTS holds
 * judged events for each, all with that verdict. Prints "N accepted, N
 * stored, N judged, N with two events or more" and returns the number of
 * stored submissions (their verdicts are the figures of the tests). */
int cct_check_all(const cct_mesh *m, const cct_account *a, char (*accepted)[64], int naccepted,
                  int ms);

/* Nats-Msg-Ids starting with this (NULL: none) that cct_check_all finds
 * stored twice are printed but not failures: for a test that restarts a
 * nats-server which lost its dedupe state (issue 20's disk full, where
 * nats-server 2.9.10 deadlocks and is killed), and only for events that
 * are not verdicts (the judge's "progress-"). */
extern const char *cct_dup_ok_prefix;

/* The outbox rows cc-submission has not published yet (from its
 * database), or -1. */
long cct_outbox_unsent(const cct_mesh *m);

/* ---- a burst in the background, and the case runner -------------------- */

/* Seconds on the monotonic clock. */
double cct_now_s(void);
/* The resident memory of process pid (VmRSS in /proc/PID/status) in KiB,
 * or -1 when it cannot be read (the process is gone). */
long cct_rss_kib(pid_t pid);

/* At most CCT_BURST_MAX submissions; a key not accepted within
 * CCT_BURST_KEY_DEADLINE_S seconds ends the burst. */
enum { CCT_BURST_MAX = 256, CCT_BURST_KEY_DEADLINE_S = 90 };

/* count AC submissions of aplusb, one every gap_ms, each with its own
 * Idempotency-Key "<prefix>-<i>". A 503 must carry Retry-After and is
 * retried with the same key every 250 ms, as a client would; any other
 * answer is a failure (a 504 only counts in other when allow_504). A key
 * not accepted in time ends the burst with why, rather than hanging the
 * test until ctest kills it. The counters may be read while it runs. */
typedef struct cct_burst {
    const cct_mesh *m;
    const cct_account *a;
    const char *prefix; /* NULL: "b" */
    int count, gap_ms;
    bool allow_504;
    char ids[CCT_BURST_MAX][64]; /* the accepted ids, in order */
    atomic_int accepted, unavailable, other;
    atomic_bool quorum_lost; /* set by the case while it has taken the quorum away */
    atomic_int unavailable_while_lost;
} cct_burst;

/* The burst's thread: pthread_create(&t, NULL, cct_burst_main, &burst). */
void *cct_burst_main(void *burst);

/* One case of a test binary that runs one case per process. */
typedef struct cct_case {
    const char *name;
    void (*fn)(void);
} cct_case;

/* Runs the case argv[1] names between cct_mesh_start (with o, may be
 * NULL) and cct_mesh_stop, prints "<case>: ok|FAILED in S s" and returns
 * the exit status: 0, 1 on a failure, 2 (with the list of cases) when
 * argv names none. */
int cct_run_case(cct_mesh *m, const char *log_name, const cct_mesh_options *o,
                 const cct_case *cases, size_t ncases, int argc, char **argv);

#endif
