/* Integration: the `make run` supervisor. Starts cc-local on a temporary
 * --state folder with a stand-in actor, waits for "ready", stops it with
 * SIGINT, and checks exit 0, nothing left running, the actor's CC_*
 * settings, and that data written in the first run is there in the second. */
#include "cc/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *cc_local_bin;
static char state_dir[] = "/tmp/cclocal-run-XXXXXX";
static char bin_dir[] = "/tmp/cclocal-bin-XXXXXX";
static pid_t running = 0;

/* Whatever happens, cc-local gets SIGTERM at exit so no server outlives us. */
static void cleanup(void)
{
    if (running > 0) {
        kill(running, SIGTERM);
        waitpid(running, NULL, 0);
    }
}

typedef struct run {
    pid_t pid;
    int out; /* cc-local's stdout+stderr */
    char text[16384];
    size_t len;
    char env_pg[CC_LOCAL_CONNINFO_MAX];
    char env_nats[128];
    char env_nats_user[1024];
    char env_nats_password[1024];
    char admin_url[256]; /* env_nats with the admin's credentials */
    char env_ca[1024];   /* CC_NATS_CA: "" in cleartext */
    int redis_port;
    pid_t pids[8]; /* from the pidfiles in DIR/run while running */
    size_t npids;
} run;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads cc-local's output until needle shows up or timeout; false on EOF. */
static bool read_until(run *r, const char *needle, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (!strstr(r->text, needle)) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = r->out, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        if (r->len + 1 >= sizeof r->text)
            return false;
        ssize_t n = read(r->out, r->text + r->len, sizeof r->text - 1 - r->len);
        if (n <= 0)
            return false;
        r->len += (size_t)n;
        r->text[r->len] = '\0';
    }
    return true;
}

static void start_cc_local(run *r)
{
    memset(r, 0, sizeof *r);
    int p[2];
    assert_int_equal(pipe(p), 0);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(cc_local_bin, "cc-local", "--state", state_dir, "--bin-dir", bin_dir, "--log-level",
              "debug", (char *)NULL);
        _exit(127);
    }
    running = r->pid;
    close(p[1]);
    r->out = p[0];
    if (!read_until(r, "cc-local: ready", 120000))
        fail_msg("cc-local never said ready; output:\n%s", r->text);

    /* The stand-in actor wrote its environment; wait for the file. */
    char envpath[512], line[1024];
    snprintf(envpath, sizeof envpath, "%s/cc-user.env", bin_dir);
    FILE *f = NULL;
    for (int i = 0; i < 500 && !f; i++) {
        struct stat st;
        if (stat(envpath, &st) == 0 && st.st_size > 0)
            f = fopen(envpath, "r");
        else
            usleep(10000);
    }
    assert_non_null(f);
    bool level = false, metrics = false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "CC_PG_CONNINFO=", 15) == 0)
            assert_true(snprintf(r->env_pg, sizeof r->env_pg, "%s", line + 15) <
                        (int)sizeof r->env_pg);
        else if (strncmp(line, "CC_NATS_URL=", 12) == 0)
            assert_true(snprintf(r->env_nats, sizeof r->env_nats, "%s", line + 12) <
                        (int)sizeof r->env_nats);
        else if (strncmp(line, "CC_NATS_CA=", 11) == 0)
            snprintf(r->env_ca, sizeof r->env_ca, "%s", line + 11);
        else if (strncmp(line, "CC_NATS_USER=", 13) == 0)
            snprintf(r->env_nats_user, sizeof r->env_nats_user, "%s", line + 13);
        else if (strncmp(line, "CC_NATS_PASSWORD=", 17) == 0)
            snprintf(r->env_nats_password, sizeof r->env_nats_password, "%s", line + 17);
        else if (strncmp(line, "CC_REDIS_URL=redis://127.0.0.1:", 31) == 0)
            r->redis_port = (int)strtol(line + 31, NULL, 10);
        else if (strcmp(line, "CC_LOG_LEVEL=debug") == 0)
            level = true;
        else if (strncmp(line, "CC_METRICS_PORT=", 16) == 0)
            metrics = strtol(line + 16, NULL, 10) > 0;
    }
    fclose(f);
    unlink(envpath);
    assert_true(level);
    assert_true(metrics);
    assert_non_null(strstr(r->env_pg, "dbname=cc_user user=cc_user password="));
    /* TLS unless the run asked for cleartext: the actor trusts the state
     * folder's CA for NATS, and libpq verifies PostgreSQL against it. */
    const char *tls = getenv("CC_TLS");
    char ca[512];
    snprintf(ca, sizeof ca, "%s/secrets/ca.crt", state_dir);
    if (tls && strcmp(tls, "0") == 0) {
        assert_true(strncmp(r->env_nats, "nats://127.0.0.1:", 17) == 0);
        assert_string_equal(r->env_ca, "");
        assert_null(strstr(r->env_pg, "sslmode"));
    } else {
        assert_true(strncmp(r->env_nats, "tls://127.0.0.1:", 16) == 0);
        assert_string_equal(r->env_ca, ca);
        assert_non_null(strstr(r->env_pg, "sslmode=verify-full"));
        assert_non_null(strstr(r->env_pg, ca));
    }
    /* Its own NATS user, with the password kept in the state folder. */
    assert_string_equal(r->env_nats_user, "cc-user");
    char pwpath[512], pw[128] = "", admin_pw[128] = "";
    snprintf(pwpath, sizeof pwpath, "%s/secrets/nats-user.pw", state_dir);
    FILE *pf = fopen(pwpath, "r");
    assert_non_null(pf);
    assert_non_null(fgets(pw, sizeof pw, pf));
    fclose(pf);
    pw[strcspn(pw, "\n")] = '\0';
    assert_string_equal(r->env_nats_password, pw);
    snprintf(pwpath, sizeof pwpath, "%s/secrets/nats-admin.pw", state_dir);
    pf = fopen(pwpath, "r");
    assert_non_null(pf);
    assert_non_null(fgets(admin_pw, sizeof admin_pw, pf));
    fclose(pf);
    admin_pw[strcspn(admin_pw, "\n")] = '\0';
    const char *hostport = strstr(r->env_nats, "://") + 3;
    snprintf(r->admin_url, sizeof r->admin_url, "%.*scc-admin:%s@%s",
             (int)(hostport - r->env_nats), r->env_nats, admin_pw, hostport);
    assert_true(r->redis_port > 0);
    assert_non_null(strstr(r->text, "cc-problem")); /* skipped rows are printed */
    assert_non_null(strstr(r->text, "not built yet"));

    char rundir[512];
    snprintf(rundir, sizeof rundir, "%s/run", state_dir);
    DIR *d = opendir(rundir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) && r->npids < 8;) {
        if (!strstr(e->d_name, ".pid"))
            continue;
        char path[800], buf[32] = {0};
        snprintf(path, sizeof path, "%s/%s", rundir, e->d_name);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_true(read(fd, buf, sizeof buf - 1) > 0);
        close(fd);
        r->pids[r->npids++] = (pid_t)strtol(buf, NULL, 10);
    }
    closedir(d);
    assert_int_equal(r->npids, 4); /* nats, postgres, redis, cc-user */
}

static void stop_cc_local(run *r)
{
    assert_int_equal(kill(r->pid, SIGINT), 0);
    int status = 0;
    long long deadline = now_ms() + 90000;
    pid_t w;
    while ((w = waitpid(r->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
        usleep(20000);
    assert_int_equal(w, r->pid);
    running = 0;
    read_until(r, "\x01", 2000); /* drain to EOF */
    close(r->out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("cc-local status 0x%x; output:\n%s", (unsigned)status, r->text);
    assert_non_null(strstr(r->text, "stopped"));
    for (size_t i = 0; i < r->npids; i++) {
        assert_false(cc_local_pid_alive(r->pids[i]));
        assert_false(cc_local_group_alive(r->pids[i]));
    }
}

/* Connects to url as the actors do: TLS trusting the CA at ca (when not
 * ""), which the run gave them in CC_NATS_CA. */
static natsStatus connect_as_actor(const char *url, const char *ca, natsConnection **nc)
{
    natsOptions *o = NULL;
    natsStatus ns = natsOptions_Create(&o);
    if (ns == NATS_OK)
        ns = natsOptions_SetURL(o, url);
    if (ns == NATS_OK && ca[0])
        ns = natsOptions_SetSecure(o, true);
    if (ns == NATS_OK && ca[0])
        ns = natsOptions_LoadCATrustedCertificates(o, ca);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return ns;
}

/* A JetStream API request as the admin (the stand-in actor's cc-user may
 * create no such stream). */
static char *js(const run *r, const char *subject, const char *body)
{
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    assert_int_equal(connect_as_actor(r->admin_url, r->env_ca, &nc), NATS_OK);
    assert_int_equal(natsConnection_RequestString(&m, nc, subject, body, 5000), NATS_OK);
    char *out = strndup(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
    return out;
}

static redisReply *redis_cmd(int port, const char *cmd)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_true(c && !c->err);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    redisFree(c);
    return r;
}

static void exec_ok(PGconn *c, const char *sql, const char *expect)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    if (expect)
        assert_string_equal(PQgetvalue(r, 0, 0), expect);
    PQclear(r);
}

static void test_run_stop_and_data_stays(void **state)
{
    (void)state;
    static run r;

    start_cc_local(&r);
    PGconn *c = PQconnectdb(r.env_pg);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    exec_ok(c, "CREATE TABLE kept (x int)", NULL);
    exec_ok(c, "INSERT INTO kept VALUES (42)", NULL);
    PQfinish(c);
    freeReplyObject(redis_cmd(r.redis_port, "SET kept yes"));
    /* No credentials: the server takes no one. */
    natsConnection *anon = NULL;
    assert_int_not_equal(connect_as_actor(r.env_nats, r.env_ca, &anon), NATS_OK);
    free(js(&r, "$JS.API.STREAM.CREATE.KEPT",
            "{\"name\":\"KEPT\",\"subjects\":[\"kept.>\"],\"storage\":\"file\"}"));
    stop_cc_local(&r);

    /* Second start on the same folder: same cluster, AOF and JetStream. */
    start_cc_local(&r);
    c = PQconnectdb(r.env_pg);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect again: %s", PQerrorMessage(c));
    exec_ok(c, "SELECT x FROM kept", "42");
    PQfinish(c);
    redisReply *got = redis_cmd(r.redis_port, "GET kept");
    assert_int_equal(got->type, REDIS_REPLY_STRING);
    assert_string_equal(got->str, "yes");
    freeReplyObject(got);
    char *info = js(&r, "$JS.API.STREAM.INFO.KEPT", "");
    assert_null(strstr(info, "\"error\""));
    free(info);

    /* The stand-in actor dying is reported, not hidden. */
    pid_t actor = 0;
    char pidpath[512], buf[32] = {0};
    snprintf(pidpath, sizeof pidpath, "%s/run/cc-user.pid", state_dir);
    int fd = open(pidpath, O_RDONLY);
    assert_true(fd >= 0 && read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    actor = (pid_t)strtol(buf, NULL, 10);
    kill(actor, SIGKILL);
    if (!read_until(&r, "not restarted", 10000))
        fail_msg("no report of the dead actor; output:\n%s", r.text);
    stop_cc_local(&r);
}

static void test_bad_flag(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(cc_local_bin, "cc-local", "--http-port", "99999", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-cc-local\n", argv[0]);
        return 2;
    }
    cc_local_bin = argv[1];
    if (!mkdtemp(state_dir) || !mkdtemp(bin_dir))
        return 1;
    /* A stand-in actor: records its CC_* environment and waits. */
    char script[512];
    snprintf(script, sizeof script, "%s/cc-user", bin_dir);
    FILE *f = fopen(script, "w");
    fputs("#!/bin/sh\nenv | grep '^CC_' > \"$0.env.tmp\" && mv \"$0.env.tmp\" \"$0.env\"\n"
          "exec sleep 1000\n",
          f);
    fclose(f);
    chmod(script, 0755);
    atexit(cleanup);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_stop_and_data_stays),
        cmocka_unit_test(test_bad_flag),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cleanup();
    cc_local_rmtree(state_dir);
    cc_local_rmtree(bin_dir);
    return rc;
}
