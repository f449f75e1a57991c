/* bcrypt through libxcrypt, never on the loop: one hash costs tens to
 * hundreds of milliseconds by design, which would stall every other
 * request if it ran there.
 *
 * It runs on workers of its own (bcrypt-threads, one per core by
 * default) that get every cycle nothing else wants, so a login storm
 * still uses all the CPU, while the loops of this and the other processes
 * preempt them at once: idlegroup.c puts the workers in a cgroup with
 * cpu.idle 1 (bcrypt-cgroup), where they run with a 0.1 ms slice (see
 * worker_priority); without that cgroup they run at SCHED_IDLE, which
 * only ranks them below the other threads of cc-user's own group (its
 * autogroup competes at full weight with other processes). Jobs and
 * results travel through
 * two pipes, a pointer per write, so the loop never waits on a worker.
 * libuv's thread pool is not used for this on purpose: its workers report
 * through uv_async_send, and the loop spins (up to ~1,000 pauses, then
 * sched_yield, again and again) while a worker is between the two steps
 * of that call; a preempted bcrypt worker held the loop for 10-25 ms at a
 * time during a login storm, which is what made other requests' p99 jump. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cc/log.h"
#include "user.h"

typedef struct {
    int cost;
    bool check;
    bool ok;
    char password[129];
    char hash[CRYPT_OUTPUT_SIZE];
    user_pw_cb cb;
    void *ud;
} pw_job;

/* A valid bcrypt hash of a random password: checking against it takes as
 * long as a real check, so a login for an unknown name cannot be told
 * apart by its timing. Made once per process at the configured cost. */
static char dummy_hash[CRYPT_OUTPUT_SIZE];

static bool hash_into(const char *password, int cost, char *out, size_t cap)
{
    char rnd[16], setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return false;
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, rnd, sizeof rnd, setting, sizeof setting))
        return false;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *h = crypt_r(password, setting, cd);
    bool ok = h && h[0] == '$' && strlen(h) < cap;
    if (ok)
        memcpy(out, h, strlen(h) + 1);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

static bool check(const char *password, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *h = crypt_r(password, hash, cd);
    /* crypt_r returns a string starting with '*' on failure, never the
     * hash itself; compare in constant time all the same. */
    bool ok = false;
    size_t n = strlen(hash);
    if (h && h[0] == '$' && strlen(h) == n) {
        unsigned char d = 0;
        for (size_t i = 0; i < n; i++)
            d |= (unsigned char)(h[i] ^ hash[i]);
        ok = d == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

char *user_pw_hash_now(const char *password, int cost)
{
    char out[CRYPT_OUTPUT_SIZE];
    if (!hash_into(password, cost, out, sizeof out))
        return NULL;
    return strdup(out);
}

enum { MAX_WORKERS = 64 };

static int jobs_fd[2] = {-1, -1}, done_fd[2] = {-1, -1};
static pthread_t workers[MAX_WORKERS];
static int nworkers;
static uv_poll_t done_poll;
static bool running;
/* Posted by each worker once it is in its cgroup and at idle priority. */
static sem_t settled;

static void run_job(pw_job *j)
{
    if (j->check)
        j->ok = check(j->password, j->hash[0] ? j->hash : dummy_hash) && j->hash[0];
    else
        j->ok = hash_into(j->password, j->cost, j->hash, sizeof j->hash);
    explicit_bzero(j->password, sizeof j->password);
}

/* The workers' scheduling. In the idle cgroup (in_group), the group
 * already yields to everything else, and what is left to bound is how long
 * a worker keeps a CPU once the scheduler picks the group (EEVDF lets the
 * picked entity run a whole slice, ~3 ms here, before anything that woke
 * meanwhile gets the CPU: the gateway and nats-server were seen waiting
 * out exactly that during a login storm). So the workers are SCHED_OTHER at
 * nice 19 with a 0.1 ms slice (sched_attr.sched_runtime, honoured for
 * SCHED_OTHER since Linux 6.12, ignored before; the kernel keeps its own
 * slice for SCHED_IDLE). Outside a cgroup, SCHED_IDLE ranks them below
 * cc-user's own loop. */
static void worker_priority(bool in_group)
{
    /* The kernel's struct sched_attr (ABI version 0, 48 bytes); glibc 2.36
     * declares neither it nor sched_setattr, and <linux/sched/types.h>
     * clashes with <sched.h>. */
    struct {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
    } attr = {
        .size = sizeof attr,
        .sched_policy = in_group ? SCHED_OTHER : SCHED_IDLE,
        .sched_nice = 19,
        .sched_runtime = 100 * 1000, /* ns */
    };
    if (syscall(SYS_sched_setattr, 0, &attr, 0) == 0)
        return;
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        cc_log(CC_LOG_WARN, NULL, "bcrypt worker stays at normal priority", NULL);
}

static void *worker(void *arg)
{
    (void)arg;
    worker_priority(user_idle_join());
    sem_post(&settled);
    for (;;) {
        pw_job *j;
        ssize_t n = read(jobs_fd[0], &j, sizeof j);
        if (n == 0)
            return NULL; /* the write end closed: stopping */
        if (n != (ssize_t)sizeof j) {
            if (n < 0 && errno == EINTR)
                continue;
            return NULL;
        }
        run_job(j);
        while (write(done_fd[1], &j, sizeof j) < 0 && errno == EINTR)
            ;
    }
}

static void on_done(uv_poll_t *h, int status, int events)
{
    (void)h, (void)status, (void)events;
    pw_job *batch[64];
    ssize_t n;
    while ((n = read(done_fd[0], batch, sizeof batch)) > 0) {
        for (size_t i = 0; i < (size_t)n / sizeof batch[0]; i++) {
            pw_job *j = batch[i];
            j->cb(j->ok, !j->check && j->ok ? j->hash : NULL, j->ud);
            free(j);
        }
    }
}

cc_status user_pw_start(user_state *st)
{
    if (pipe2(jobs_fd, O_CLOEXEC) != 0 || pipe2(done_fd, O_CLOEXEC | O_NONBLOCK) != 0)
        return cc_err_set(CC_SYS, "bcrypt pipes: %s", strerror(errno));
    /* A full job pipe means thousands of logins queued: refuse more. */
    fcntl(jobs_fd[1], F_SETFL, fcntl(jobs_fd[1], F_GETFL) | O_NONBLOCK);
    int want = (int)st->cfg->bcrypt_threads;
    if (want <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        want = cores > 0 ? (int)cores : 1;
    }
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    user_idle_open(st->cfg->bcrypt_cgroup);
    sem_init(&settled, 0, 0);
    for (nworkers = 0; nworkers < want; nworkers++)
        if (pthread_create(&workers[nworkers], NULL, worker, NULL) != 0)
            break;
    if (nworkers == 0) {
        user_idle_close();
        return cc_err_set(CC_SYS, "cannot start bcrypt workers");
    }
    /* Ready means settled: every worker is where it will run (a few
     * microseconds), so the log line below and the cgroup tell the truth. */
    for (int i = 0; i < nworkers; i++)
        while (sem_wait(&settled) != 0 && errno == EINTR)
            ;
    user_idle_report(nworkers);
    uv_poll_init(cc_actor_loop(st->actor), &done_poll, done_fd[0]);
    uv_poll_start(&done_poll, UV_READABLE, on_done);
    running = true;
    return CC_OK;
}

void user_pw_stop(void)
{
    if (!running)
        return;
    running = false;
    /* Workers finish the job in hand, read EOF and exit; what was still
     * queued is dropped with its call (the drain waited for calls). */
    close(jobs_fd[1]);
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    user_idle_close();
    sem_destroy(&settled);
    uv_poll_stop(&done_poll);
    uv_close((uv_handle_t *)&done_poll, NULL);
    pw_job *j;
    while (read(jobs_fd[0], &j, sizeof j) == (ssize_t)sizeof j)
        free(j);
    while (read(done_fd[0], &j, sizeof j) == (ssize_t)sizeof j)
        free(j);
    close(jobs_fd[0]);
    close(done_fd[0]);
    close(done_fd[1]);
}

static cc_status submit(user_state *st, bool is_check, const char *password, const char *hash,
                        user_pw_cb cb, void *ud)
{
    if (!running)
        return cc_err_set(CC_UNAVAILABLE, "bcrypt workers are not running");
    if (!dummy_hash[0] && !hash_into("not a password", (int)st->cfg->bcrypt_cost, dummy_hash,
                                     sizeof dummy_hash))
        return cc_err_set(CC_INTERNAL, "bcrypt is not available");
    size_t n = strlen(password);
    if (n >= sizeof((pw_job *)0)->password)
        return cc_err_set(CC_INVALID, "password too long");
    pw_job *j = calloc(1, sizeof *j);
    if (!j)
        return CC_NOMEM;
    j->cost = (int)st->cfg->bcrypt_cost;
    j->check = is_check;
    memcpy(j->password, password, n + 1);
    if (hash) {
        if (strlen(hash) >= sizeof j->hash) {
            free(j);
            return cc_err_set(CC_INVALID, "stored hash too long");
        }
        memcpy(j->hash, hash, strlen(hash) + 1);
    }
    j->cb = cb;
    j->ud = ud;
    if (write(jobs_fd[1], &j, sizeof j) != (ssize_t)sizeof j) {
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return cc_err_set(CC_UNAVAILABLE, "too many password checks queued");
    }
    return CC_OK;
}

cc_status user_pw_hash(user_state *st, const char *password, user_pw_cb cb, void *ud)
{
    return submit(st, false, password, NULL, cb, ud);
}

cc_status user_pw_check(user_state *st, const char *password, const char *hash, user_pw_cb cb,
                        void *ud)
{
    return submit(st, true, password, hash, cb, ud);
}
