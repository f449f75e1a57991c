/* Encryption at rest (issue 19), on the whole mesh with real servers:
 *
 *   dump    after registrations and submissions (one that fails to compile
 *           with a known message), a pg_dump of cc_submission and of
 *           cc_user holds neither a known source, nor that compile output,
 *           nor a known address, while the API still answers them; a user
 *           row from before sealing (plaintext address) is sealed when
 *           cc-user starts, and its owner signs in with the address.
 *   rotate  cc-submission rotate-keys and cc-user rotate-keys while
 *           submissions and registrations flow: nothing is lost, every row
 *           ends under the new key and opens; then a rotation killed -9
 *           midway (one row held locked, so "midway" is certain) is run
 *           again: it resumes under the same new key and completes.
 *
 * Not cmocka: failures are counted (cct_failed), as in the other mesh
 * tests. */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "cctest_http.h"
#include "cctest_mesh.h"

#define PG_DUMP "/usr/lib/postgresql/15/bin/pg_dump"

/* ---- helpers ------------------------------------------------------------------- */

static PGconn *db(const cct_mesh *m, const char *name)
{
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&m->stack, name));
    if (PQstatus(c) != CONNECTION_OK) {
        CCT_FAIL("connect %s: %s", name, PQerrorMessage(c));
        exit(1);
    }
    return c;
}

static long long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        CCT_FAIL("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        CCT_FAIL("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* The whole pg_dump of database name, NUL-terminated (malloc'd). */
static char *dump(const cct_mesh *m, const char *name, size_t *len)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, PG_DUMP " --no-owner '%s'", cc_local_pg_conninfo(&m->stack, name));
    FILE *f = popen(cmd, "r");
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (f && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 4096)
            buf = realloc(buf, cap *= 2);
    }
    int st = f ? pclose(f) : -1;
    CCT_CHECK(st == 0 && n > 1000, "pg_dump %s: status %d, %zu bytes", name, st, n);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Every key of Redis and every value of its strings and hashes, one a
 * line (malloc'd). */
static char *redis_all(const cct_mesh *m, size_t *len)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "redis-cli -u '%s' --raw EVAL \"local o={} for _,k in "
             "ipairs(redis.call('KEYS','*')) do o[#o+1]=k local t=redis.call('TYPE',k).ok "
             "if t=='string' then o[#o+1]=redis.call('GET',k) elseif t=='hash' then "
             "for _,v in ipairs(redis.call('HGETALL',k)) do o[#o+1]=v end end end "
             "return table.concat(o,'\\n')\" 0",
             m->stack.redis_url);
    FILE *f = popen(cmd, "r");
    size_t cap = 1 << 20, n = 0, got;
    char *buf = malloc(cap);
    while (f && n < cap - 1 && (got = fread(buf + n, 1, cap - n - 1, f)) > 0)
        n += got;
    int st = f ? pclose(f) : -1;
    CCT_CHECK(st == 0 && n > 0, "redis-cli: status %d, %zu bytes", st, n);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Whether buf holds what as text or, as pg_dump writes a bytea (the
 * packed job and result, an outbox payload), in lowercase hex. */
static bool holds(const char *buf, size_t len, const char *what)
{
    size_t n = strlen(what);
    char hex[256];
    for (size_t i = 0; i < n && 2 * i + 2 < sizeof hex; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)what[i]);
    return memmem(buf, len, what, n) != NULL || memmem(buf, len, hex, strlen(hex)) != NULL;
}

/* Runs `BIN rotate-keys` for database name; returns its pid (output in
 * DIR/rotate-NAME.log). */
static pid_t rotate_start(const cct_mesh *m, const char *bin, const char *name, int batch)
{
    char path[4200], log[4200], conn[2048], b[64];
    snprintf(path, sizeof path, "%s/%s", CC_BIN_DIR, bin);
    snprintf(log, sizeof log, "%s/rotate-%s.log", m->dir, name);
    snprintf(conn, sizeof conn, "--pg-conninfo=%s", cc_local_pg_conninfo(&m->stack, name));
    snprintf(b, sizeof b, "--rotate-batch=%d", batch);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(path, bin, "rotate-keys", conn, b, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int rotate_wait(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool log_says(const cct_mesh *m, const char *name, const char *what)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/rotate-%s.log", m->dir, name);
    FILE *f = fopen(log, "r");
    char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, what) != NULL;
}

#define NEWEST_KEY "(SELECT id FROM cc_data_keys ORDER BY created_at DESC, id DESC LIMIT 1)"
#define SUB_NOT_CURRENT                                                                            \
    "SELECT count(*) FROM submissions WHERE job IS NOT NULL OR result IS NOT NULL OR "             \
    "job_key IS DISTINCT FROM " NEWEST_KEY " OR (result_sealed IS NOT NULL AND result_key "        \
    "IS DISTINCT FROM " NEWEST_KEY ")"
#define USER_NOT_CURRENT                                                                           \
    "SELECT count(*) FROM users WHERE email IS NOT NULL OR email_hmac IS NULL OR "                 \
    "email_key IS DISTINCT FROM " NEWEST_KEY

/* A source with a marker no other text holds, as a JSON string body. */
static void marked_source(char *out, size_t cap, const char *marker)
{
    snprintf(out, cap, "/* %s */\\n%s", marker, CCT_AC_C);
}

/* Every submission of a: judged, and its files open (the marker of its
 * source comes back). */
static void check_files(const cct_mesh *m, const cct_account *a, char (*ids)[64], int n,
                        const char *marker)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        json_t *j = cct_get_submission(m, a, ids[i]);
        json_t *f = j ? json_array_get(json_object_get(j, "files"), 0) : NULL;
        const char *b64 = f ? json_string_value(json_object_get(f, "content")) : NULL;
        unsigned char src[8192];
        long len = b64 ? cct_unbase64(b64, strlen(b64), src) : -1;
        if (len <= 0 || !memmem(src, (size_t)len, marker, strlen(marker)))
            bad++;
        json_decref(j);
    }
    CCT_CHECK(bad == 0, "%d of %d submissions do not give their source back", bad, n);
}

/* ---- dump ------------------------------------------------------------------------ */

static const char SRC_MARK[] = "atrest-source-marker-5f3a";
static const char CE_MARK[] = "atrest_compile_marker_77c1";
static const char MAIL[] = "atrest-mail-9d2e"; /* registered as MAIL@example.org */

static void case_dump(void)
{
    cct_mesh m;
    cct_mesh_start(&m, "test_atrest", NULL);
    cct_account a, legacy, b;
    CCT_CHECK(cct_register(&m, MAIL, &a), "register %s", MAIL);
    CCT_CHECK(cct_register(&m, "atrest-legacy", &legacy), "register atrest-legacy");
    CCT_CHECK(cct_register(&m, "atrest-ce", &b), "register atrest-ce");
    char src[4096], ids[8][64];
    marked_source(src, sizeof src, SRC_MARK);
    for (int i = 0; i < 4; i++)
        CCT_CHECK(cct_submit(&m, &a, src, NULL, ids[i], NULL, NULL) == 201, "submit %d", i);
    /* A compile error whose message quotes an identifier: the compile
     * output (in the stored result) holds the marker. */
    char ce[256], ce_id[64];
    snprintf(ce, sizeof ce, "int main(void){ return %s; }\\n", CE_MARK);
    CCT_CHECK(cct_submit(&m, &b, ce, NULL, ce_id, NULL, NULL) == 201, "submit CE");
    CCT_CHECK(cct_wait_submission(&m, &b, ce_id, "judged", 90000), "CE judged");
    cct_check_all(&m, &a, ids, 4, 120000);
    check_files(&m, &a, ids, 4, SRC_MARK);
    json_t *j = cct_get_submission(&m, &b, ce_id);
    const char *co = j ? cct_json_str(j, "compileOutput") : "";
    CCT_CHECK(strstr(co, CE_MARK) != NULL, "the compile output opens and names %s", CE_MARK);
    json_decref(j);
    char mail[128];
    snprintf(mail, sizeof mail, "%s@example.org", MAIL);
    cct_resp me = cct_req(m.gw_port, "GET", "/v1/users/me", NULL, a.token);
    CCT_CHECK(me.status == 200 && !strcmp(cct_jstr(&me, "email"), mail), "GetMe gives %s", mail);
    cct_resp_free(&me);
    /* Signing in by address finds the account through its HMAC. */
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"password-%s\"}", mail, MAIL);
    cct_resp li = cct_req(m.gw_port, "POST", "/v1/auth/login", body, NULL);
    CCT_CHECK(li.status == 200, "sign in by address: %ld", li.status);
    cct_resp_free(&li);

    size_t sl, ul;
    char *sd = dump(&m, "cc_submission", &sl), *ud = dump(&m, "cc_user", &ul);
    /* The dumps are real: they hold what is not sealed. */
    CCT_CHECK(holds(sd, sl, "aplusb") && holds(ud, ul, MAIL), "dumps hold plain columns");
    CCT_CHECK(!holds(sd, sl, SRC_MARK), "cc_submission's dump holds the source");
    CCT_CHECK(!holds(sd, sl, CE_MARK), "cc_submission's dump holds the compile output");
    CCT_CHECK(!holds(ud, ul, mail), "cc_user's dump holds the address");
    CCT_CHECK(!holds(ud, ul, "root@example.org"), "cc_user's dump holds the admin's address");
    free(sd);
    free(ud);
    /* Redis: revoked token ids, rate-limit buckets; no address, no
     * source, no refresh token (those live in PostgreSQL as SHA-256). */
    cct_resp lg = cct_req(m.gw_port, "POST", "/v1/auth/logout", "{}", b.token);
    CCT_CHECK(lg.status == 200 || lg.status == 204, "logout: %ld", lg.status);
    cct_resp_free(&lg);
    size_t rl;
    char *rd = redis_all(&m, &rl);
    CCT_CHECK(holds(rd, rl, "cc:revoked:jti:"), "Redis holds the revoked token id: %.300s", rd);
    CCT_CHECK(!holds(rd, rl, MAIL) && !holds(rd, rl, SRC_MARK),
              "Redis holds an address or a source");
    free(rd);

    /* A row from before sealing: plaintext address, nothing sealed. */
    PGconn *u = db(&m, "cc_user");
    exec_ok(u, "UPDATE users SET email = 'Legacy-Old@Example.org', email_sealed = NULL, "
               "email_key = NULL, email_hmac = NULL WHERE username = 'atrest-legacy'");
    cc_local_proc_stop(&m.procs[CCT_USER], SIGTERM, 10000);
    CCT_CHECK(cct_mesh_start_proc(&m, CCT_USER), "cc-user starts again");
    CCT_CHECK(scalar(u, "SELECT count(*) FROM users WHERE email IS NOT NULL") == 0,
              "cc-user sealed the plaintext row at start");
    CCT_CHECK(scalar(u, USER_NOT_CURRENT) == 0, "every address sealed with its hash");
    PQfinish(u);
    /* Its lookup hash was made from the lowercase, like the old index. */
    cct_resp lo = cct_req(m.gw_port, "POST", "/v1/auth/login",
                          "{\"username\":\"legacy-old@example.org\","
                          "\"password\":\"password-atrest-legacy\"}",
                          NULL);
    CCT_CHECK(lo.status == 200, "sign in with the sealed old address: %ld", lo.status);
    cct_resp_free(&lo);
    ud = dump(&m, "cc_user", &ul);
    CCT_CHECK(!holds(ud, ul, "Legacy-Old"), "cc_user's dump holds the old address");
    free(ud);
    cct_mesh_stop(&m);
}

/* ---- rotate ---------------------------------------------------------------------- */

typedef struct load {
    cct_mesh *m;
    cct_account *a;
    atomic_bool stop;
    char (*ids)[64];
    int n, cap, users;
} load;

static const char LOAD_MARK[] = "atrest-load-marker-1b8d";

static void *load_main(void *p)
{
    load *l = p;
    char src[4096];
    marked_source(src, sizeof src, LOAD_MARK);
    while (!atomic_load(&l->stop) && l->n < l->cap) {
        char id[64];
        long st = cct_submit(l->m, l->a, src, NULL, id, NULL, NULL);
        if (st == 201)
            snprintf(l->ids[l->n++], 64, "%s", id);
        else if (st != 429)
            CCT_FAIL("submit under rotation: %ld", st);
        if (l->n % 3)
            continue;
        char name[64];
        cct_account u;
        snprintf(name, sizeof name, "atrest-load-%d", l->users);
        if (cct_register(l->m, name, &u))
            l->users++;
        else
            CCT_FAIL("register %s under rotation", name);
    }
    return NULL;
}

static void case_rotate(void)
{
    /* Replicas read the keys every second: rotate-keys waits 2 s before
     * it seals, while the load goes on under the old key. */
    setenv("CC_KEY_REFRESH", "1s", 1);
    cct_mesh m;
    cct_mesh_start(&m, "test_atrest", &(cct_mesh_options){.max_queued = 1000});
    cct_account root;
    CCT_CHECK(cct_login_root(&m, &root), "login root");
    static char ids[400][64];
    load l = {.m = &m, .a = &root, .ids = ids, .cap = 400};
    pthread_t t;
    pthread_create(&t, NULL, load_main, &l);
    for (int i = 0; i < 600 && l.n < 8; i++)
        usleep(100000);
    PGconn *s = db(&m, "cc_submission"), *u = db(&m, "cc_user");
    long long keys0 = scalar(s, "SELECT count(*) FROM cc_data_keys");
    pid_t ps = rotate_start(&m, "cc-submission", "cc_submission", 5);
    pid_t pu = rotate_start(&m, "cc-user", "cc_user", 5);
    int during = l.n;
    CCT_CHECK(rotate_wait(ps) == 0, "cc-submission rotate-keys failed (see rotate log)");
    CCT_CHECK(rotate_wait(pu) == 0, "cc-user rotate-keys failed (see rotate log)");
    during = l.n - during;
    sleep(1);
    atomic_store(&l.stop, true);
    pthread_join(t, NULL);
    printf("rotation under load: %d submissions (%d while rotate-keys ran), %d registrations\n",
           l.n, during, l.users);
    CCT_CHECK(during > 0, "the load ran during the rotation");
    CCT_CHECK(scalar(s, "SELECT count(*) FROM cc_data_keys") == keys0 + 1, "one new key");
    /* Nothing lost: every accepted submission judged AC with its tests
     * (the sealed results open), every source opens. */
    int stored = cct_check_all(&m, &root, ids, l.n, 180000);
    CCT_CHECK(stored >= l.n, "%d stored of %d accepted", stored, l.n);
    check_files(&m, &root, ids, l.n, LOAD_MARK);
    /* Rows written with the old key until each replica read the new one
     * were sealed again: the rotation left none behind. */
    CCT_CHECK(scalar(s, SUB_NOT_CURRENT) == 0, "submissions not under the new key");
    CCT_CHECK(scalar(u, USER_NOT_CURRENT) == 0, "users not under the new key");
    for (int i = 0; i < l.users; i += 7) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"username\":\"atrest-load-%d@example.org\",\"password\":"
                 "\"password-atrest-load-%d\"}",
                 i, i);
        cct_resp r = cct_req(m.gw_port, "POST", "/v1/auth/login", body, NULL);
        CCT_CHECK(r.status == 200, "sign in by address after rotation: %ld", r.status);
        cct_resp_free(&r);
    }

    /* A crash midway: one row is held locked, so the rotation seals every
     * other row and then waits for it; killed there, and run again. */
    PGconn *lock = db(&m, "cc_submission");
    exec_ok(lock, "BEGIN");
    exec_ok(lock, "SELECT id FROM submissions ORDER BY id LIMIT 1 FOR UPDATE");
    long long total = scalar(s, "SELECT count(*) FROM submissions");
    pid_t pc = rotate_start(&m, "cc-submission", "cc_submission", 1);
    bool midway = false;
    for (int i = 0; i < 600 && !midway; i++) {
        usleep(50000);
        midway =
            scalar(s, "SELECT count(*) FROM cc_data_keys") == keys0 + 2 &&
            scalar(s, "SELECT count(*) FROM submissions WHERE job_key = " NEWEST_KEY) == total - 1;
    }
    CCT_CHECK(midway, "the rotation reached every unlocked row");
    kill(pc, SIGKILL);
    CCT_CHECK(rotate_wait(pc) == 128 + SIGKILL, "rotate-keys was killed");
    CCT_CHECK(scalar(s, SUB_NOT_CURRENT) == 1, "killed midway: one row under the old key");
    exec_ok(lock, "ROLLBACK");
    PQfinish(lock);
    pid_t pr = rotate_start(&m, "cc-submission", "cc_submission", 50);
    CCT_CHECK(rotate_wait(pr) == 0, "rotate-keys after the crash failed");
    CCT_CHECK(log_says(&m, "cc_submission", "resuming"), "the rerun resumed");
    CCT_CHECK(scalar(s, "SELECT count(*) FROM cc_data_keys") == keys0 + 2,
              "the rerun made no third key");
    CCT_CHECK(scalar(s, SUB_NOT_CURRENT) == 0, "rows left after the rerun");
    check_files(&m, &root, ids, l.n, LOAD_MARK);
    cct_check_all(&m, &root, ids, l.n, 60000);
    PQfinish(s);
    PQfinish(u);
    cct_mesh_stop(&m);
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "dump"))
        case_dump();
    else if (!strcmp(c, "rotate"))
        case_rotate();
    else {
        fprintf(stderr, "usage: test_atrest dump|rotate\n");
        return 2;
    }
    if (atomic_load(&cct_failed)) {
        fprintf(stderr, "test_atrest %s: FAILED\n", c);
        return 1;
    }
    printf("test_atrest %s: ok\n", c);
    return 0;
}
