/* The mixed load of the chaos and soak tests: see cctest_load.h. */
#include "cctest_load.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cctest_http.h"
#include "cctest_mesh.h"
#include "cctest_ws.h"

cct_load_figures cct_load;

static cct_mesh *mesh;
static cct_account root;
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;
static pthread_t threads[16];
static int nthreads;

static pthread_mutex_t acc_lock = PTHREAD_MUTEX_INITIALIZER;
static char accepted[CCT_LOAD_MAX_ACCEPTED][64];
static int naccepted;

/* xorshift64*: each reader's mix is a function of its number alone. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static const char *root_token(char *buf)
{
    pthread_mutex_lock(&root_lock);
    memcpy(buf, root.token, sizeof root.token);
    pthread_mutex_unlock(&root_lock);
    return buf;
}

void cct_load_set_root(const cct_account *a)
{
    pthread_mutex_lock(&root_lock);
    root = *a;
    pthread_mutex_unlock(&root_lock);
}

static void add_accepted(const char *id)
{
    pthread_mutex_lock(&acc_lock);
    if (naccepted < CCT_LOAD_MAX_ACCEPTED)
        snprintf(accepted[naccepted++], 64, "%s", id);
    pthread_mutex_unlock(&acc_lock);
}

char (*cct_load_accepted(int *n))[64]
{
    pthread_mutex_lock(&acc_lock);
    *n = naccepted;
    pthread_mutex_unlock(&acc_lock);
    return accepted;
}

/* ---- counting ------------------------------------------------------------------ */

/* Counts one answer (status 0: none) that took secs, for what. */
static void count(long st, double secs, const char *what)
{
    atomic_fetch_add(&cct_load.requests, 1);
    if (secs * 1000 > CCT_LOAD_DEADLINE_MS) {
        atomic_fetch_add(&cct_load.hung, 1);
        CCT_FAIL("%s hung %.1f s (status %ld)", what, secs, st);
    }
    if (st == 0)
        atomic_fetch_add(&cct_load.refused, 1);
    else if (st == 503)
        atomic_fetch_add(&cct_load.s503, 1);
    else if (st >= 500) {
        atomic_fetch_add(&cct_load.s5xx, 1);
        CCT_FAIL("%s: %ld", what, st);
    } else if (st >= 400) {
        /* Every request the load makes is valid, from a user allowed to. */
        atomic_fetch_add(&cct_load.s4xx, 1);
        CCT_FAIL("%s: %ld", what, st);
    } else
        atomic_fetch_add(&cct_load.ok, 1);
}

static long call(const char *method, const char *path, const char *body, const char *token,
                 const char *extra, json_t **out)
{
    double t0 = cct_now_s();
    cct_resp r = cct_req_url(method, cct_fmt("http://127.0.0.1:%u%s", mesh->gw_port, path), body,
                             token, extra);
    long st = r.status;
    count(st, cct_now_s() - t0, cct_fmt("%s %s", method, path));
    if (st >= 400 && st != 503)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, st, r.body ? r.body : "");
    if (out)
        *out = r.json ? json_incref(r.json) : NULL;
    cct_resp_free(&r);
    return st;
}

/* ---- the requests ------------------------------------------------------------------ */

long cct_load_login_root(void)
{
    return call("POST", "/v1/auth/login", "{\"username\":\"root\",\"password\":\"rootpassword\"}",
                NULL, NULL, NULL);
}

long cct_load_read_problem(void)
{
    char tok[sizeof root.token];
    return call("GET", "/v1/problems/aplusb", NULL, root_token(tok), NULL, NULL);
}

bool cct_load_submit(const char *src, const char *key, char *id_out)
{
    char body[8192], hdr[128];
    snprintf(body, sizeof body, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"%s\"}",
             src);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    static __thread char tok[sizeof root.token];
    for (int tries = 0; tries < 400; tries++) {
        json_t *j = NULL;
        long st = call("POST", "/v1/submissions", body, root_token(tok), hdr, &j);
        if (st == 201) {
            const char *id = cct_json_str(j, "id");
            add_accepted(id);
            if (id_out)
                snprintf(id_out, 64, "%s", id);
            json_decref(j);
            return true;
        }
        json_decref(j);
        if (st != 503 && st != 0)
            return false; /* counted and printed by call */
        if (atomic_load(&stopping) && tries > 100)
            break;
        usleep(250000);
    }
    return false;
}

/* ---- the threads ------------------------------------------------------------------ */

/* One submission every 1.5 s: the judges (two at a time) keep up. The
 * keys go on across a stop and a start (a key used again would be the
 * same submission). */
static atomic_int submitted;

static void *submitter(void *ud)
{
    (void)ud;
    while (!atomic_load(&stopping)) {
        cct_load_submit(CCT_AC_C, cct_fmt("load-%d", atomic_fetch_add(&submitted, 1)), NULL);
        usleep(1500000);
    }
    return NULL;
}

/* Reads, logins and registrations (each a new name, across a stop and a
 * start too), ten or so a second. */
static atomic_int registered;

static void *reader(void *ud)
{
    int t = (int)(intptr_t)ud;
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(t + 1);
    while (!atomic_load(&stopping)) {
        unsigned r = (unsigned)(rnd(&s) % 10);
        if (r < 6) {
            cct_load_read_problem();
        } else if (r < 8) {
            cct_load_login_root();
        } else {
            char body[256];
            int u = atomic_fetch_add(&registered, 1);
            snprintf(body, sizeof body,
                     "{\"username\":\"load%d\",\"email\":\"load%d@example.org\","
                     "\"password\":\"password-load\"}",
                     u, u);
            call("POST", "/v1/users", body, NULL, NULL, NULL);
        }
        usleep(100000);
    }
    return NULL;
}

/* Opens /v1/live, takes what it pushes for a second, closes; again. */
static void *watcher(void *ud)
{
    (void)ud;
    static char target[4600], tok[sizeof root.token];
    while (!atomic_load(&stopping)) {
        char head[1024] = "";
        snprintf(target, sizeof target, "/v1/live?access_token=%s", root_token(tok));
        double t0 = cct_now_s();
        int fd = cct_ws_connect(mesh->gw_port, target, NULL, head, sizeof head);
        long st = 0;
        if (fd >= 0 && sscanf(head, "HTTP/1.1 %ld", &st) != 1)
            st = 0;
        count(st == 101 ? 200 : st, cct_now_s() - t0, "GET /v1/live");
        if (fd >= 0 && st == 101) {
            atomic_fetch_add(&cct_load.live_ok, 1);
            struct timeval tv = {.tv_sec = 2};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            double end = cct_now_s() + 1.0;
            while (cct_now_s() < end) {
                char *f = cct_ws_read(fd, 200, NULL);
                if (f)
                    atomic_fetch_add(&cct_load.live_frames, 1);
                free(f);
            }
        }
        if (fd >= 0)
            close(fd);
        usleep(fd >= 0 ? 100000 : 250000);
    }
    return NULL;
}

void cct_load_start(cct_mesh *m, const cct_account *a, int readers)
{
    mesh = m;
    cct_load_set_root(a);
    atomic_store(&stopping, false);
    nthreads = 0;
    pthread_create(&threads[nthreads++], NULL, submitter, NULL);
    pthread_create(&threads[nthreads++], NULL, watcher, NULL);
    for (int i = 0; i < readers && nthreads < (int)(sizeof threads / sizeof threads[0]); i++)
        pthread_create(&threads[nthreads++], NULL, reader, (void *)(intptr_t)i);
}

void cct_load_stop(void)
{
    atomic_store(&stopping, true);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    nthreads = 0;
}

void cct_load_print(const char *prefix)
{
    fprintf(stderr,
            "%s%ld requests: %ld ok, %ld 503, %ld other 5xx, %ld 4xx, %ld unanswered (gateway "
            "down), %ld hung past %d s; %ld live sockets, %ld pushes; %d submissions accepted\n",
            prefix, atomic_load(&cct_load.requests), atomic_load(&cct_load.ok),
            atomic_load(&cct_load.s503), atomic_load(&cct_load.s5xx), atomic_load(&cct_load.s4xx),
            atomic_load(&cct_load.refused), atomic_load(&cct_load.hung),
            CCT_LOAD_DEADLINE_MS / 1000, atomic_load(&cct_load.live_ok),
            atomic_load(&cct_load.live_frames), naccepted);
}
