/* bcrypt through libxcrypt, always on libuv's thread pool: one hash costs
 * tens to hundreds of milliseconds by design, which would stall every
 * other request if it ran on the loop.
 *
 * The pool's threads run bcrypt under SCHED_IDLE: they get every cycle
 * nothing else wants, so a login storm still uses all the CPU, but the
 * loops of this and the other processes (gateway, NATS, Redis) preempt
 * them at once instead of waiting out a scheduler slice; at normal
 * priority a storm multiplied the p99 of unrelated requests several times
 * on two cores. A thread keeps the policy (going back would need
 * privileges), so whatever else cc-user queues on the pool runs idle too;
 * nothing else it queues is urgent. */
#include <crypt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cc/log.h"
#include "user.h"

typedef struct {
    uv_work_t w;
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

static void work(uv_work_t *w)
{
    static _Thread_local bool idle;
    if (!idle) {
        struct sched_param sp = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
            cc_log(CC_LOG_WARN, NULL, "bcrypt thread stays at normal priority", NULL);
        idle = true;
    }
    pw_job *j = w->data;
    if (j->check)
        j->ok = check(j->password, j->hash[0] ? j->hash : dummy_hash) && j->hash[0];
    else
        j->ok = hash_into(j->password, j->cost, j->hash, sizeof j->hash);
    explicit_bzero(j->password, sizeof j->password);
}

static void after(uv_work_t *w, int status)
{
    pw_job *j = w->data;
    bool ok = status == 0 && j->ok;
    j->cb(ok, !j->check && ok ? j->hash : NULL, j->ud);
    free(j);
}

static cc_status submit(user_state *st, bool is_check, const char *password, const char *hash,
                        user_pw_cb cb, void *ud)
{
    if (!dummy_hash[0] && !hash_into("not a password", (int)st->cfg->bcrypt_cost, dummy_hash,
                                     sizeof dummy_hash))
        return cc_err_set(CC_INTERNAL, "bcrypt is not available");
    size_t n = strlen(password);
    if (n >= sizeof((pw_job *)0)->password)
        return cc_err_set(CC_INVALID, "password too long");
    pw_job *j = calloc(1, sizeof *j);
    if (!j)
        return CC_NOMEM;
    j->w.data = j;
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
    int r = uv_queue_work(cc_actor_loop(st->actor), &j->w, work, after);
    if (r != 0) {
        free(j);
        return cc_err_set(CC_SYS, "uv_queue_work: %s", uv_strerror(r));
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
