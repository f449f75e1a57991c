/* cc-local: the `make run` supervisor. Starts NATS (JetStream), PostgreSQL
 * and Redis in a persistent state folder, then every actor that is built,
 * prints where everything listens, and stays in the foreground until
 * SIGINT/SIGTERM, when it stops actors first, then servers, and exits 0.
 * It restarts nothing: a child that dies is reported, not hidden. */
#include "cc/local.h"
#include "cc/mesh.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The actors `make run` starts, in start order. A row is data: a new actor
 * is one line here. pg_service is its database (NULL: none). */
typedef struct actor_row {
    const char *name;       /* log name and what the table prints */
    const char *service;    /* its row in the mesh's table (cc/mesh.h): its NATS user */
    const char *binary;     /* relative to the bin folder (build/bin) */
    const char *pg_service; /* its own database and role, or NULL */
    bool http;              /* the front door: gets CC_HTTP_PORT */
    const char *subcommand; /* first argument, or NULL ("serve" for cc-judge) */
    const char *needs_env;  /* start only when this variable is set, else NULL */
} actor_row;

static const actor_row actor_table[] = {
    {"cc-user", "user", "cc-user", "cc_user", false, NULL, NULL},
    {"cc-problem", "problem", "cc-problem", "cc_problem", false, NULL, NULL},
    {"cc-submission", "submission", "cc-submission", "cc_submission", false, NULL, NULL},
    {"cc-notify", "notify", "cc-notify", "cc_notification", false, NULL, NULL},
    {"cc-contest", "contest", "cc-contest", "cc_contest", false, NULL, NULL},
    {"cc-stats", "stats", "cc-stats", "cc_stats", false, NULL, NULL},
    {"cc-judge", "judge", "cc-judge", NULL, false, "serve", NULL},
    {"cc-gateway", "gateway", "cc-gateway", NULL, true, NULL, NULL},
    {"cc-kafka-bridge", "kafka-bridge", "cc-kafka-bridge", NULL, false, NULL, "CC_KAFKA_BROKERS"},
};
#define NACTORS (sizeof actor_table / sizeof actor_table[0])

static const char *const pg_services[] = {
    "cc_user", "cc_problem", "cc_submission", "cc_notification", "cc_contest", "cc_stats", NULL};

typedef struct actor {
    const actor_row *row;
    cc_local_proc proc;
    uint16_t metrics_port;
    bool started;
} actor;

static cc_local_stack stack;
static actor actors[NACTORS];

/* cc-local backup / restore (cc_local_admin.c). */
int cc_local_admin_main(int argc, char **argv);
int cc_local_admin_write_env(const cc_local_stack *s);

/* --print-nats-authorization: the users block of k8s/base/nats.yaml, from
 * the same table as the local server's (tests/k8s compares them). */
static int print_k8s_authorization(void)
{
    char *text = cc_mesh_nats_authorization(true, NULL, NULL);
    if (!text) {
        fprintf(stderr, "cc-local: %s\n", cc_err_msg());
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cc-local [--state DIR] [--bin-dir DIR] [--log-level LEVEL] "
            "[--http-port PORT] [--https-port PORT] [--nats-cluster] [--nats-sync MODE]\n"
            "                [--no-tls]\n"
            "       cc-local --print-nats-authorization\n"
            "       cc-local backup FILE [--state DIR] [--with-secrets]   (while it runs)\n"
            "       cc-local restore FILE [--state DIR] [--force]         (while it is stopped)\n"
            "  --state DIR       state folder (default .state); data stays for the next start\n"
            "  --bin-dir DIR     where actor binaries are (default: cc-local's own folder)\n"
            "  --log-level L     CC_LOG_LEVEL passed to actors (default info)\n"
            "  --http-port PORT  the gateway's port on 127.0.0.1 (default 8080)\n"
            "  --https-port PORT the gateway's TLS port on 127.0.0.1 (default 8443)\n"
            "  --nats-cluster    three nats-servers as one JetStream cluster; the streams\n"
            "                    get 3 replicas\n"
            "  --nats-sync MODE  always (default): every JetStream write reaches the disk\n"
            "                    before it is acked; interval: nats-server's own 2 minutes\n"
            "  --no-tls          NATS and PostgreSQL in cleartext (also CC_TLS=0); by\n"
            "                    default both take TLS only, verified against the CA\n"
            "                    made in DIR/secrets/ca.crt\n"
            "  --print-nats-authorization\n"
            "                    print the NATS users and permissions of Kubernetes\n"
            "                    (k8s/base/nats.yaml) and exit\n");
}

static bool parse_port(const char *text, uint16_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < 1 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* environ minus the CC_* settings we give, plus ours: an actor must not
 * pick up a stale CC_PG_CONNINFO from the user's shell. Strings are owned by
 * the caller's buffer (vars), the array by the caller. */
typedef struct envbuf {
    const char *ptrs[512];
    /* Each holds one variable: a path (the web root) or a conninfo. */
    char vars[18][(PATH_MAX > CC_LOCAL_CONNINFO_MAX ? PATH_MAX : CC_LOCAL_CONNINFO_MAX) + 32];
    size_t n, nvars;
} envbuf;

static void env_add(envbuf *e, const char *key, const char *value)
{
    if (e->nvars == sizeof e->vars / sizeof e->vars[0] || e->n + 1 >= 512)
        return;
    char *v = e->vars[e->nvars++];
    snprintf(v, sizeof e->vars[0], "%s=%s", key, value);
    e->ptrs[e->n++] = v;
    e->ptrs[e->n] = NULL;
}

static void env_init(envbuf *e)
{
    static const char *const ours[] = {"CC_NATS_URL=",         "CC_NATS_USER=",
                                       "CC_NATS_PASSWORD=",    "CC_PG_CONNINFO=",
                                       "CC_REDIS_URL=",        "CC_METRICS_PORT=",
                                       "CC_LOG_LEVEL=",        "CC_HTTP_PORT=",
                                       "CC_HTTPS_PORT=",       "CC_ADMIN_USERNAME=",
                                       "CC_ADMIN_PASSWORD=",   "CC_WEB_ROOT=",
                                       "CC_READER_NATS_USER=", "CC_READER_NATS_PASSWORD=",
                                       "CC_NATS_CA="};
    e->n = e->nvars = 0;
    for (char **v = environ; *v && e->n + 16 < 512; v++) {
        bool skip = false;
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            skip = skip || strncmp(*v, ours[i], strlen(ours[i])) == 0;
        if (!skip)
            e->ptrs[e->n++] = *v;
    }
    e->ptrs[e->n] = NULL;
}

/* snprintf that says whether the whole text fit. */
static bool fits(int written, size_t size)
{
    return written >= 0 && (size_t)written < size;
}

/* The gateway's TLS port (--https-port). */
static uint16_t https_port = 8443;

static void print_sandbox(const char *judge);

static void start_actor(actor *a, const char *bin_dir, const char *log_level, uint16_t http_port)
{
    char path[PATH_MAX], log[PATH_MAX], pidpath[PATH_MAX], port[8];
    if (!fits(snprintf(path, sizeof path, "%s/%s", bin_dir, a->row->binary), sizeof path) ||
        !fits(snprintf(log, sizeof log, "%s/logs/%s.log", stack.dir, a->row->name), sizeof log) ||
        !fits(snprintf(pidpath, sizeof pidpath, "%s/run/%s.pid", stack.dir, a->row->name),
              sizeof pidpath)) {
        printf("  %-16s skipped: path too long\n", a->row->name);
        return;
    }
    if (a->row->needs_env) {
        const char *v = getenv(a->row->needs_env);
        if (!v || !*v) {
            printf("  %-16s skipped: no Kafka broker configured (set %s=host:port to start it)\n",
                   a->row->name, a->row->needs_env);
            return;
        }
    }
    if (access(path, X_OK) != 0) {
        printf("  %-16s skipped: %s is not built yet\n", a->row->name, path);
        return;
    }
    if (cc_local_free_port(&a->metrics_port) != CC_OK) {
        printf("  %-16s skipped: no free port: %s\n", a->row->name, cc_err_msg());
        return;
    }
    const cc_local_nats_user *nu = cc_local_nats_user_of(&stack, a->row->service);
    if (!nu) {
        printf("  %-16s skipped: no NATS user '%s' in the mesh's table\n", a->row->name,
               a->row->service);
        return;
    }
    static envbuf e;
    env_init(&e);
    /* Its own NATS user: the server grants it only its own subjects. */
    env_add(&e, "CC_NATS_URL", stack.nats_url);
    env_add(&e, "CC_NATS_USER", nu->user);
    env_add(&e, "CC_NATS_PASSWORD", nu->password);
    /* TLS to NATS, verified against the stack's CA (PostgreSQL's conninfo
     * carries its own sslrootcert). */
    if (stack.tls)
        env_add(&e, "CC_NATS_CA", stack.tls_ca);
    /* A read model's reader, when the mesh has one for it (cc/mesh.h). */
    char reader[CC_LOCAL_NAME_MAX];
    snprintf(reader, sizeof reader, "%s-reader", a->row->service);
    const cc_local_nats_user *ru = cc_local_nats_user_of(&stack, reader);
    if (ru) {
        env_add(&e, "CC_READER_NATS_USER", ru->user);
        env_add(&e, "CC_READER_NATS_PASSWORD", ru->password);
    }
    env_add(&e, "CC_REDIS_URL", stack.redis_url);
    env_add(&e, "CC_LOG_LEVEL", log_level);
    snprintf(port, sizeof port, "%u", (unsigned)a->metrics_port);
    env_add(&e, "CC_METRICS_PORT", port);
    if (a->row->pg_service)
        env_add(&e, "CC_PG_CONNINFO", cc_local_pg_conninfo(&stack, a->row->pg_service));
    if (strcmp(a->row->name, "cc-user") == 0) {
        /* The first admin of a local run: "admin", with a password made
         * once and kept in the state folder. */
        char pw[64];
        if (cc_local_secret(&stack, "admin", pw, sizeof pw) == CC_OK) {
            env_add(&e, "CC_ADMIN_USERNAME", "admin");
            env_add(&e, "CC_ADMIN_PASSWORD", pw);
        }
    }
    if (a->row->http) {
        snprintf(port, sizeof port, "%u", (unsigned)http_port);
        env_add(&e, "CC_HTTP_PORT", port);
        snprintf(port, sizeof port, "%u", (unsigned)https_port);
        env_add(&e, "CC_HTTPS_PORT", port);
        /* The browser app, built next to the binaries (build/web/dist). */
        char web[PATH_MAX], index[PATH_MAX + 16];
        if (fits(snprintf(web, sizeof web, "%s/../web/dist", bin_dir), sizeof web) &&
            fits(snprintf(index, sizeof index, "%s/index.html", web), sizeof index) &&
            access(index, R_OK) == 0)
            env_add(&e, "CC_WEB_ROOT", web);
    }
    const char *argv[] = {path, a->row->subcommand, NULL};
    cc_local_spawn_opts o = {.name = a->row->name,
                             .path = path,
                             .argv = argv,
                             .envp = e.ptrs,
                             .log_path = log,
                             .pid_path = pidpath,
                             .cwd = stack.dir};
    if (cc_local_spawn(&a->proc, &o) != CC_OK) {
        printf("  %-16s FAILED to start: %s\n", a->row->name, cc_err_msg());
        return;
    }
    a->started = true;
    if (a->row->http)
        printf("  %-16s http://127.0.0.1:%u/ (the app; API under /v1, HTTP/1.1 and h2c)  "
               "https://127.0.0.1:%u/ "
               "(self-signed)  metrics http://127.0.0.1:%u/metrics  pid %ld\n",
               a->row->name, (unsigned)http_port, (unsigned)https_port, (unsigned)a->metrics_port,
               (long)a->proc.pid);
    else
        printf("  %-16s metrics http://127.0.0.1:%u/metrics  pid %ld\n", a->row->name,
               (unsigned)a->metrics_port, (long)a->proc.pid);
    if (a->row->subcommand && !strcmp(a->row->subcommand, "serve"))
        print_sandbox(path);
}

/* The judge's sandbox on this machine in one line: `cc-judge selfcheck`
 * opens a real box and says whether it gets a cgroup. make run leaves
 * sandbox-strict off, so the judge judges with what the machine allows
 * (Kubernetes turns strict on). */
static void print_sandbox(const char *judge)
{
    char cmd[PATH_MAX + 32], line[512], mode[512] = "";
    snprintf(cmd, sizeof cmd, "'%s' selfcheck 2>&1", judge);
    FILE *f = strchr(judge, '\'') ? NULL : popen(cmd, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "cgroup per sandbox: ", 20) || !strncmp(line, "sandbox: NO", 11))
            snprintf(mode, sizeof mode, "%.*s", (int)strcspn(line, "\n"), line);
    if (f)
        pclose(f);
    printf("  %-16s %s; sandbox-strict off (make run judges with what this machine "
           "allows)\n", "", mode[0] ? mode : "sandbox: unknown (cc-judge selfcheck did not run)");
}

static void describe_exit(const char *name, pid_t pid, int status)
{
    if (status == -1)
        printf("cc-local: %s (pid %ld) is gone; not restarted\n", name, (long)pid);
    else if (WIFSIGNALED(status))
        printf("cc-local: %s (pid %ld) was killed by signal %d (%s); not restarted, see its log\n",
               name, (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        printf("cc-local: %s (pid %ld) exited with status %d; not restarted, see its log\n", name,
               (long)pid, WEXITSTATUS(status));
    fflush(stdout);
}

static void reap_report(void)
{
    for (size_t i = 0; i < NACTORS; i++) {
        pid_t pid = actors[i].proc.pid;
        if (actors[i].started && cc_local_proc_poll(&actors[i].proc))
            describe_exit(actors[i].row->name, pid, actors[i].proc.status);
    }
    pid_t pids[3] = {stack.nats.pid, stack.pg.pid, stack.redis.pid};
    unsigned died = cc_local_stack_poll(&stack);
    if (died & CC_LOCAL_NATS)
        describe_exit("nats-server", pids[0], stack.nats.status);
    if (died & CC_LOCAL_PG)
        describe_exit("postgres", pids[1], stack.pg.status);
    if (died & CC_LOCAL_REDIS)
        describe_exit("redis-server", pids[2], stack.redis.status);
}

static int shutdown_all(void)
{
    int rc = 0;
    printf("cc-local: stopping actors\n");
    fflush(stdout);
    /* SIGTERM to all first: actors drain in parallel, then each is awaited. */
    for (size_t i = 0; i < NACTORS; i++)
        if (actors[i].proc.pid > 0)
            kill(actors[i].proc.pid, SIGTERM);
    for (size_t i = 0; i < NACTORS; i++)
        if (cc_local_proc_stop(&actors[i].proc, SIGTERM, 15000) != CC_OK) {
            fprintf(stderr, "cc-local: %s\n", cc_err_msg());
        }
    printf("cc-local: stopping servers\n");
    fflush(stdout);
    if (cc_local_stack_stop(&stack) != CC_OK) {
        fprintf(stderr, "cc-local: stopping servers: %s\n", cc_err_msg());
        rc = 1;
    }
    printf("cc-local: stopped; data kept in %s\n", stack.dir);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    const char *state = ".state";
    const char *bin_dir = NULL;
    const char *log_level = "info";
    uint16_t http_port = 8080;
    int nats_servers = 1, nats_sync = CC_LOCAL_SYNC_ALWAYS, tls = CC_LOCAL_TLS_DEFAULT;
    if (argc > 1 && (!strcmp(argv[1], "backup") || !strcmp(argv[1], "restore")))
        return cc_local_admin_main(argc, argv);
    static const struct option longopts[] = {{"nats-cluster", no_argument, NULL, 'C'},
                                             {"no-tls", no_argument, NULL, 'T'},
                                             {"nats-sync", required_argument, NULL, 'S'},
                                             {"state", required_argument, NULL, 's'},
                                             {"bin-dir", required_argument, NULL, 'b'},
                                             {"log-level", required_argument, NULL, 'l'},
                                             {"http-port", required_argument, NULL, 'p'},
                                             {"https-port", required_argument, NULL, 't'},
                                             {"print-nats-authorization", no_argument, NULL, 'A'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "s:b:l:p:t:h", longopts, NULL)) != -1;) {
        switch (c) {
        case 's':
            state = optarg;
            break;
        case 'b':
            bin_dir = optarg;
            break;
        case 'l':
            log_level = optarg;
            break;
        case 't':
            if (!parse_port(optarg, &https_port)) {
                fprintf(stderr, "cc-local: --https-port: '%s' is not a port (1-65535)\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if (!parse_port(optarg, &http_port)) {
                fprintf(stderr, "cc-local: --http-port: '%s' is not a port (1-65535)\n", optarg);
                return 2;
            }
            break;
        case 'C':
            nats_servers = CC_LOCAL_NATS_MAX;
            break;
        case 'T':
            tls = CC_LOCAL_TLS_OFF;
            break;
        case 'S':
            if (strcmp(optarg, "always") && strcmp(optarg, "interval")) {
                fprintf(stderr, "cc-local: --nats-sync: '%s' is not always or interval\n", optarg);
                return 2;
            }
            nats_sync =
                strcmp(optarg, "always") == 0 ? CC_LOCAL_SYNC_ALWAYS : CC_LOCAL_SYNC_INTERVAL;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'A':
            return print_k8s_authorization();
        case 'V':
            printf("cc-local %s\n", CC_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Actors sit next to cc-local in build/bin unless told otherwise. */
    char self_dir[PATH_MAX];
    if (!bin_dir) {
        ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
        if (n <= 0) {
            perror("cc-local: readlink /proc/self/exe");
            return 1;
        }
        self_dir[n] = '\0';
        char *slash = strrchr(self_dir, '/');
        if (slash)
            *slash = '\0';
        bin_dir = self_dir;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "cc-local: must run as root: PostgreSQL is started as user postgres\n");
        return 1;
    }

    /* Signals arrive through a signalfd so shutdown runs in normal code, not
     * in a handler; they are blocked from here on, before any child exists. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("cc-local: signalfd");
        return 1;
    }

    printf("cc-local: starting NATS (JetStream), PostgreSQL 15 and Redis in %s\n", state);
    fflush(stdout);
    cc_local_options o = {.what = CC_LOCAL_ALL,
                          .pg_services = pg_services,
                          .dir = state,
                          .durable = true,
                          .grant_search = true,
                          .nats_servers = nats_servers,
                          .nats_sync = nats_sync,
                          .tls = tls};
    if (cc_local_stack_start_with(&stack, &o) != CC_OK) {
        fprintf(stderr, "cc-local: %s\n", cc_err_msg());
        return 1;
    }
    printf("cc-local: state folder %s (logs in %s/logs)\n", stack.dir, stack.dir);
    if (cc_local_admin_write_env(&stack) != 0)
        printf("cc-local: cannot write %s/run/cc-admin.env: `cc-local backup` will not work\n",
               stack.dir);
    printf("  %-16s %s  monitor http://127.0.0.1:%u/  pid %ld\n", "nats (JetStream)",
           stack.nats_url, (unsigned)stack.nats_monitor_port, (long)stack.nats.pid);
    for (int i = 1; i < stack.nats_servers; i++)
        printf("  %-16s monitor http://127.0.0.1:%u/  pid %ld\n", i == 1 ? "nats cluster" : "",
               (unsigned)stack.nats_peer_monitor_port[i - 1], (long)stack.nats_peer[i - 1].pid);
    printf("  %-16s %s\n", "nats store",
           stack.nats_sync ? "synchronous: every write on disk before its ack"
                           : "synced every 2 minutes (nats-server's default)");
    printf("  %-16s one per service (cc-user, cc-judge...), each allowed only its own "
           "subjects; passwords in %s/secrets/nats-*.pw; user cc-admin may do anything\n",
           "nats users", stack.dir);
    printf("  %-16s 127.0.0.1:%u  databases cc_user cc_problem cc_submission "
           "cc_notification cc_contest cc_stats (passwords in %s/secrets)  pid %ld\n",
           "postgres", (unsigned)stack.pg_port, stack.dir, (long)stack.pg.pid);
    printf("  %-16s %s  pid %ld\n", "redis", stack.redis_url, (long)stack.redis.pid);
    if (stack.tls)
        printf("  %-16s NATS (clients and routes) and PostgreSQL take TLS only, verified against "
               "%s; Redis is cleartext on 127.0.0.1 (hiredis 0.14 has no TLS); the JetStream "
               "store is encrypted\n",
               "tls", stack.tls_ca);
    else
        printf("  %-16s off (--no-tls or CC_TLS=0): NATS and PostgreSQL in cleartext on "
               "127.0.0.1; the JetStream store is still encrypted\n",
               "tls");
    for (size_t i = 0; i < NACTORS; i++) {
        actors[i].row = &actor_table[i];
        start_actor(&actors[i], bin_dir, log_level, http_port);
    }
    printf("cc-local: first admin: user \"admin\", password in %s/secrets/admin.pw\n", stack.dir);
    printf("cc-local: sources and addresses are encrypted at rest under %s/secrets/master.key "
           "(keep a copy)\n",
           stack.dir);
    printf("cc-local: ready; Ctrl-C stops everything\n");
    fflush(stdout);

    for (;;) {
        struct signalfd_siginfo si;
        ssize_t r = read(sfd, &si, sizeof si);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof si) {
            perror("cc-local: read signalfd");
            break;
        }
        if (si.ssi_signo == SIGCHLD) {
            reap_report();
            continue;
        }
        printf("cc-local: got %s\n", strsignal((int)si.ssi_signo));
        break;
    }
    close(sfd);
    return shutdown_all();
}
