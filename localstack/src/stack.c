/* The three servers of a stack: folder layout, start, readiness, stop.
 *
 * DIR/logs/NAME.log   stdout+stderr of each child (appended)
 * DIR/run/NAME.pid    pid of each running server, to stop leftovers
 * DIR/secrets/NAME.pw generated PostgreSQL and NATS passwords (0600), the
 *                     JetStream store's key (nats-jetstream-key.pw)
 * DIR/secrets/ca.crt  the stack's CA (ca.key) and a certificate per server
 *                     (nats.crt, nats-<i>.crt, postgres.crt; keys NAME.key),
 *                     made by tls.c unless the stack runs in cleartext
 * DIR/secrets/master.key  the master key of encryption at rest (0600)
 * DIR/nats/nats.conf  nats-server's users and permissions (0600), from the
 *                     mesh's table (cc/mesh.h); in a cluster nats-<i>.conf
 *                     per server, with the cluster block (routes, their user)
 * DIR/nats/jetstream  JetStream store (a cluster: DIR/nats/<i>/jetstream)
 * DIR/pg/data         the PostgreSQL cluster, owned by user postgres
 * DIR/pg/hba.conf     who may connect how (hostssl only, with TLS), written
 *                     at every start; server.crt / server.key: copies of
 *                     postgres.crt / .key that user postgres may read
 * DIR/redis           Redis AOF / RDB files */
#include "cc/local.h"
#include "cc/mesh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <ftw.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NATS_BIN "/usr/sbin/nats-server"
#define REDIS_BIN "/usr/bin/redis-server"
/* By absolute path: /usr/local/bin links exist only where someone made them. */
#define PG_BINDIR "/usr/lib/postgresql/15/bin"
#define PG_USER "postgres"
#define HOST "127.0.0.1"
#define START_ATTEMPTS 4
#define STOP_TIMEOUT_MS 30000

static bool pathf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool pathf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return w >= 0 && (size_t)w < n;
}

#define PATHF(buf, ...)                                                                            \
    do {                                                                                           \
        if (!pathf((buf), sizeof(buf), __VA_ARGS__))                                               \
            return cc_err_set(CC_LIMIT, "path too long under %s", s->dir);                         \
    } while (0)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cc_status mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (!pathf(tmp, sizeof tmp, "%s", path))
        return cc_err_set(CC_LIMIT, "path too long: %s", path);
    for (char *c = tmp + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return cc_err_set(CC_SYS, "mkdir %s: %s", tmp, strerror(errno));
        *c = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return cc_err_set(CC_SYS, "mkdir %s: %s", tmp, strerror(errno));
    return CC_OK;
}

/* Reads a small text file into buf without its trailing newline. */
static bool read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] != '\0';
}

static cc_status write_secret(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cc_err_set(CC_SYS, "create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    return ok ? CC_OK : cc_err_set(CC_SYS, "write %s: %s", path, strerror(errno));
}

cc_status cc_local_secret(cc_local_stack *s, const char *name, char *out, size_t n)
{
    char path[PATH_MAX];
    PATHF(path, "%s/secrets/%s.pw", s->dir, name);
    if (read_small(path, out, n))
        return CC_OK;
    cc_status st = cc_local_random_hex(out, 16);
    IFOK(st, write_secret(path, out));
    return st;
}

/* The master key that wraps the services' data keys (cc/seal.h): made
 * once, 32 random bytes as 64 hex digits, and named in CC_MASTER_KEY_FILE
 * for every process started after the stack (the actors read it as their
 * master-key-file setting). A stack folder that is kept (.state) keeps its
 * key, so its databases stay readable. */
static cc_status master_key_prepare(cc_local_stack *s)
{
    char path[PATH_MAX], hex[2 * 32 + 2];
    PATHF(path, "%s/secrets/master.key", s->dir);
    cc_status st = CC_OK;
    if (!read_small(path, hex, sizeof hex)) {
        st = cc_local_random_hex(hex, 32);
        IFOK(st, write_secret(path, hex));
    }
    if (st == CC_OK && setenv("CC_MASTER_KEY_FILE", path, 1) != 0)
        st = cc_err_set(CC_SYS, "setenv CC_MASTER_KEY_FILE: %s", strerror(errno));
    return st;
}

/* ---- NATS users --------------------------------------------------------- */

static const char *user_password(const char *service, void *ud)
{
    const cc_local_stack *s = ud;
    const cc_local_nats_user *u = cc_local_nats_user_of(s, service);
    return u ? u->password : NULL;
}

static void set_urls(cc_local_stack *s);
static int nsync_failed;

static int set_sync_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    if (type != FTW_F && type != FTW_D && type != FTW_DP)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (type == FTW_F ? 0 : O_DIRECTORY));
    if (fd < 0)
        return 0;
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 ||
        (!(flags & FS_SYNC_FL) && (flags |= FS_SYNC_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)))
        nsync_failed = errno;
    close(fd);
    return 0;
}

/* FS_SYNC_FL on dir and everything already in it (a store from a run
 * without it); what is made in it later inherits the attribute. */
static bool set_sync_tree(const char *dir)
{
    nsync_failed = 0;
    nftw(dir, set_sync_one, 16, FTW_PHYS);
    return nsync_failed == 0;
}

static void nats_name(int i, char *buf, size_t n)
{
    if (i == 0)
        snprintf(buf, n, "nats");
    else
        snprintf(buf, n, "nats-%d", i);
}

/* The folder given to nats-server as -sd: JetStream stores in its
 * jetstream/ subfolder. */
static bool nats_sd(const cc_local_stack *s, int i, char *buf, size_t n)
{
    return s->nats_servers > 1 ? pathf(buf, n, "%s/nats/%d", s->dir, i)
                               : pathf(buf, n, "%s/nats", s->dir);
}

/* Server i's tls block (for clients, or for routes: the same certificate,
 * and the CA that a route's peer must be signed by), "" in cleartext. A
 * route verifies its peer both ways (nats-server forces it for routes). */
static cc_status nats_tls_block(const cc_local_stack *s, int i, bool route, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!s->tls)
        return CC_OK;
    char name[32];
    nats_name(i, name, sizeof name);
    int w = snprintf(
        buf, n,
        "%stls {\n%s  cert_file: \"%s/secrets/%s.crt\"\n%s  key_file: \"%s/secrets/%s.key\"\n"
        "%s  ca_file: \"%s\"\n%s  timeout: 5\n%s}\n",
        route ? "  " : "", route ? "  " : "", s->dir, name, route ? "  " : "", s->dir, name,
        route ? "  " : "", s->tls_ca, route ? "  " : "", route ? "  " : "");
    return w > 0 && (size_t)w < n ? CC_OK : cc_err_set(CC_LIMIT, "path too long under %s", s->dir);
}

/* The cluster block of server i: its route port, the routes' own user
 * (no client user can open a route, nor a route be a client), and a
 * route to each other server. */
static cc_status cluster_conf(cc_local_stack *s, int i, const char *auth, const char *route_pw)
{
    char path[PATH_MAX], tls[3 * PATH_MAX + 256], rtls[3 * PATH_MAX + 256];
    PATHF(path, "%s/nats/nats-%d.conf", s->dir, i);
    cc_status st = nats_tls_block(s, i, false, tls, sizeof tls);
    IFOK(st, nats_tls_block(s, i, true, rtls, sizeof rtls));
    if (st != CC_OK)
        return st;
    size_t cap = strlen(auth) + strlen(tls) + strlen(rtls) + 2048;
    char *t = malloc(cap);
    if (!t)
        return CC_NOMEM;
    int n = snprintf(t, cap,
                     "%s\n%sserver_name: cclocal-%d\ncluster {\n  name: cclocal\n"
                     "  listen: " HOST ":%u\n%s"
                     "  authorization { user: \"cc-route\", password: \"%s\" }\n  routes: [\n",
                     auth, tls, i, (unsigned)s->nats_cluster_port[i], rtls, route_pw);
    for (int j = 0; j < s->nats_servers; j++)
        if (j != i && n > 0 && (size_t)n < cap)
            n += snprintf(t + n, cap - (size_t)n,
                          "    \"nats-route://cc-route:%s@" HOST ":%u\"\n", route_pw,
                          (unsigned)s->nats_cluster_port[j]);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(t + n, cap - (size_t)n, "  ]\n}\n");
    st = n > 0 && (size_t)n < cap ? write_secret(path, t)
                                  : cc_err_set(CC_LIMIT, "nats-%d.conf too long", i);
    free(t);
    return st;
}

/* A user per row of the mesh's table, with a password made once per
 * folder, and DIR/nats/nats.conf granting each what the table says: the
 * same users and permissions as in Kubernetes. A cluster's servers get
 * the same users in their own nats-<i>.conf, with the routes. */
static cc_status nats_prepare(cc_local_stack *s)
{
    size_t n = 0;
    const cc_mesh_service *rows = cc_mesh_services(&n);
    if (n > CC_LOCAL_MAX_SERVICES)
        return cc_err_set(CC_LIMIT, "more than %d NATS users", CC_LOCAL_MAX_SERVICES);
    cc_status st = CC_OK;
    s->nats_nusers = 0;
    for (size_t i = 0; i < n && st == CC_OK; i++) {
        cc_local_nats_user *u = &s->nats_users[i];
        char secret[CC_LOCAL_NAME_MAX + 8];
        snprintf(u->service, sizeof u->service, "%s", rows[i].name);
        snprintf(secret, sizeof secret, "nats-%s", rows[i].name);
        IFOK(st, cc_mesh_user(rows[i].name, u->user, sizeof u->user));
        IFOK(st, cc_local_secret(s, secret, u->password, sizeof u->password));
        if (st == CC_OK)
            s->nats_nusers = i + 1;
    }
    char *auth = st == CC_OK ? cc_mesh_nats_authorization(false, user_password, s) : NULL;
    if (st == CC_OK && !auth)
        st = cc_err_last();
    /* The JetStream store is encrypted with a key of the folder's own
     * (nats-server's ChaCha20-Poly1305 file store): a copy of the store
     * folder alone reads as noise. */
    char jskey[CC_LOCAL_NAME_MAX], tls[3 * PATH_MAX + 256];
    IFOK(st, cc_local_secret(s, "nats-jetstream-key", jskey, sizeof jskey));
    size_t cap = auth ? strlen(auth) + 256 : 0;
    char *conf = auth ? malloc(cap) : NULL;
    if (st == CC_OK && !conf)
        st = CC_NOMEM;
    if (st == CC_OK &&
        snprintf(conf, cap, "%s\njetstream {\n  cipher: chachapoly\n  key: \"%s\"\n}\n", auth,
                 jskey) >= (int)cap)
        st = cc_err_set(CC_LIMIT, "nats.conf too long");
    free(auth);
    char path[PATH_MAX], route_pw[CC_LOCAL_NAME_MAX];
    if (st == CC_OK && !pathf(path, sizeof path, "%s/nats/nats.conf", s->dir))
        st = cc_err_set(CC_LIMIT, "path too long under %s", s->dir);
    IFOK(st, nats_tls_block(s, 0, false, tls, sizeof tls));
    if (st == CC_OK) {
        size_t len = strlen(conf) + strlen(tls) + 1;
        char *one = malloc(len);
        if (!one)
            st = CC_NOMEM;
        if (one) {
            snprintf(one, len, "%s%s", conf, tls);
            st = write_secret(path, one);
            free(one);
        }
    }
    if (s->nats_servers > 1) {
        IFOK(st, cc_local_secret(s, "nats-route", route_pw, sizeof route_pw));
        for (int i = 0; i < s->nats_servers && st == CC_OK; i++)
            st = cluster_conf(s, i, conf, route_pw);
    }
    free(conf);
    set_urls(s); /* a cluster's ports were picked before the users were known */
    for (int i = 0; i < s->nats_servers && st == CC_OK; i++) {
        char sd[PATH_MAX];
        if (!nats_sd(s, i, sd, sizeof sd))
            return cc_err_set(CC_LIMIT, "path too long under %s", s->dir);
        st = mkdir_p(sd, 0755);
        if (st == CC_OK && s->nats_sync && !set_sync_tree(sd)) {
            fprintf(stderr,
                    "cclocal: note: %s: no synchronous-updates attribute here (%s): the "
                    "JetStream store syncs every 2 minutes, as nats-server does by itself\n",
                    sd, strerror(nsync_failed));
            s->nats_sync = false;
        }
    }
    return st;
}

const cc_local_nats_user *cc_local_nats_user_of(const cc_local_stack *s, const char *service)
{
    for (size_t i = 0; service && i < s->nats_nusers; i++)
        if (strcmp(s->nats_users[i].service, service) == 0)
            return &s->nats_users[i];
    return NULL;
}

const char *cc_local_nats_url(const cc_local_stack *s, const char *service)
{
    const cc_local_nats_user *u = cc_local_nats_user_of(s, service);
    return u ? u->url : NULL;
}

/* Prints the end of a server's log on stderr: when a start fails, the log
 * says why, and a temporary folder is about to be removed. */
static void show_log_tail(const cc_local_stack *s, const char *name)
{
    char path[PATH_MAX], buf[2048];
    if (!pathf(path, sizeof path, "%s/logs/%s.log", s->dir, name))
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t r = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (r > 0) {
        buf[r] = '\0';
        fprintf(stderr, "cclocal: --- end of %s ---\n%s\ncclocal: ---\n", path, buf);
    }
}

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until "\r\n" or the buffer is full; false on error or timeout. */
static bool read_line(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "\r\n"))
            return true;
    }
    return true;
}

/* GET path on the monitor port: the status code, 0 when nothing answers. */
static int http_status(uint16_t port, const char *path)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return 0;
    char req[256], buf[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: " HOST "\r\n\r\n", path);
    bool ok = write(fd, req, (size_t)n) == n && read_line(fd, buf, sizeof buf);
    close(fd);
    if (!ok || strncmp(buf, "HTTP/1.", 7) != 0 || strlen(buf) < 12)
        return 0;
    char *end = NULL;
    long code = strtol(buf + 9, &end, 10);
    return end == buf + 12 && code >= 100 && code <= 599 ? (int)code : 0;
}

/* nats-server starts accepting clients only after JetStream is enabled, and
 * then its INFO says "jetstream":true; a server that came up without it is
 * a failure, not a wait. In a cluster a server is ready once its /healthz
 * is 200: it found the meta leader and its streams are current (a server
 * whose store was deleted has caught up). Returns 1 ready, 0 not yet, -1
 * up but no JS. */
static int nats_ready(const cc_local_stack *s, int i)
{
    int fd = tcp_connect(cc_local_nats_port(s, i));
    if (fd < 0)
        return 0;
    char buf[4096];
    bool ok = read_line(fd, buf, sizeof buf);
    close(fd);
    if (!ok || strncmp(buf, "INFO ", 5) != 0)
        return 0;
    if (!strstr(buf, "\"jetstream\":true"))
        return -1;
    if (s->nats_servers <= 1)
        return 1;
    uint16_t mport = i == 0 ? s->nats_monitor_port : s->nats_peer_monitor_port[i - 1];
    return http_status(mport, "/healthz") == 200;
}

/* Redis answers -LOADING while it replays the AOF: ready means +PONG. */
static int redis_ready(const cc_local_stack *s)
{
    int fd = tcp_connect(s->redis_port);
    if (fd < 0)
        return 0;
    char buf[256];
    static const char ping[] = "PING\r\n";
    bool ok = write(fd, ping, sizeof ping - 1) == (ssize_t)(sizeof ping - 1) &&
              read_line(fd, buf, sizeof buf);
    close(fd);
    return ok && strncmp(buf, "+PONG", 5) == 0;
}

static int pg_ready(const cc_local_stack *s)
{
    char ci[CC_LOCAL_CONNINFO_MAX + 32];
    if (!pathf(ci, sizeof ci, "%s connect_timeout=2", s->pg_super_conninfo))
        return 0;
    return PQping(ci) == PQPING_OK;
}

typedef struct server {
    unsigned bit;
    const char *name;
    const char *bin; /* to recognise a leftover by /proc/PID/exe */
    int stop_sig;    /* SIGINT is PostgreSQL's fast shutdown */
} server;

static const server servers[] = {
    {CC_LOCAL_NATS, "nats", NATS_BIN, SIGTERM},
    {CC_LOCAL_PG, "postgres", PG_BINDIR "/postgres", SIGINT},
    {CC_LOCAL_REDIS, "redis", REDIS_BIN, SIGTERM},
};

/* A unit is one server process: NATS servers 0..CC_LOCAL_NATS_MAX-1, then
 * PostgreSQL, then Redis. Every loop over "the servers" walks the units. */
enum { U_PG = CC_LOCAL_NATS_MAX, U_REDIS, NUNITS };

static const server *unit_server(int u)
{
    return u < U_PG ? &servers[0] : u == U_PG ? &servers[1] : &servers[2];
}

static bool unit_on(const cc_local_stack *s, int u, unsigned which)
{
    return (which & s->what & unit_server(u)->bit) && (u >= U_PG || u < s->nats_servers);
}

static cc_local_proc *unit_proc(cc_local_stack *s, int u)
{
    return u == 0 ? &s->nats : u < U_PG ? &s->nats_peer[u - 1] : u == U_PG ? &s->pg : &s->redis;
}

static void unit_name(int u, char *buf, size_t n)
{
    if (u < U_PG)
        nats_name(u, buf, n);
    else
        snprintf(buf, n, "%s", unit_server(u)->name);
}

static uint16_t unit_port(const cc_local_stack *s, int u)
{
    return u < U_PG ? cc_local_nats_port(s, u) : u == U_PG ? s->pg_port : s->redis_port;
}

cc_local_proc *cc_local_nats_proc(cc_local_stack *s, int i)
{
    return i >= 0 && i < s->nats_servers ? unit_proc(s, i) : NULL;
}

uint16_t cc_local_nats_port(const cc_local_stack *s, int i)
{
    return i == 0 ? s->nats_port : i > 0 && i < s->nats_servers ? s->nats_peer_port[i - 1] : 0;
}

const char *cc_local_nats_store(const cc_local_stack *s, int i, char *buf, size_t n)
{
    if (i < 0 || i >= s->nats_servers)
        return NULL;
    char sd[PATH_MAX];
    return nats_sd(s, i, sd, sizeof sd) && pathf(buf, n, "%s/jetstream", sd) ? buf : NULL;
}

/* A server a crashed previous run left behind (its parent died without
 * stopping it) is found by pidfile and stopped, but only if the pid still
 * runs that server's binary: pids are reused. */
static void stop_leftover(cc_local_stack *s, int u)
{
    const server *sv = unit_server(u);
    char pidpath[PATH_MAX], buf[32], exe[PATH_MAX], want[PATH_MAX], link[64], name[32];
    unit_name(u, name, sizeof name);
    if (!pathf(pidpath, sizeof pidpath, "%s/run/%s.pid", s->dir, name) ||
        !read_small(pidpath, buf, sizeof buf))
        return;
    char *end;
    long pid = strtol(buf, &end, 10);
    if (*end != '\0' || pid <= 1 || !cc_local_pid_alive((pid_t)pid))
        goto done;
    snprintf(link, sizeof link, "/proc/%ld/exe", pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n <= 0 || !realpath(sv->bin, want))
        goto done;
    exe[n] = '\0';
    if (strcmp(exe, want) != 0)
        goto done;
    fprintf(stderr, "cclocal: stopping %s left running by an earlier run (pid %ld)\n", name, pid);
    kill((pid_t)pid, sv->stop_sig);
    for (int i = 0; i < STOP_TIMEOUT_MS / 20 && cc_local_pid_alive((pid_t)pid); i++)
        sleep_ms(20);
    killpg((pid_t)pid, SIGKILL);
    kill((pid_t)pid, SIGKILL);
    for (int i = 0; i < 250 && cc_local_pid_alive((pid_t)pid); i++)
        sleep_ms(20);
done:
    unlink(pidpath);
}

static cc_status pg_user(uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(PG_USER);
    if (!pw)
        return cc_err_set(CC_NOT_FOUND,
                          "no system user '%s': install the Debian package "
                          "postgresql-15",
                          PG_USER);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return CC_OK;
}

/* The postgres user must be able to walk down to DIR/pg. Our own folder gets
 * o+x; an ancestor without it (a checkout under /root) is either granted
 * search (o+x, not read) or named in the error. */
static cc_status pg_reachable(cc_local_stack *s, bool grant)
{
    char p[PATH_MAX];
    if (!pathf(p, sizeof p, "%s", s->dir))
        return cc_err_set(CC_LIMIT, "path too long: %s", s->dir);
    struct stat st;
    if (stat(p, &st) == 0 && !(st.st_mode & S_IXOTH) && chmod(p, (st.st_mode & 07777) | S_IXOTH))
        return cc_err_set(CC_SYS, "chmod o+x %s: %s", p, strerror(errno));
    for (char *slash = strrchr(p, '/'); slash; slash = strrchr(p, '/')) {
        *slash = '\0';
        const char *dir = p[0] ? p : "/";
        if (stat(dir, &st) != 0)
            return cc_err_set(CC_SYS, "stat %s: %s", dir, strerror(errno));
        if (!(st.st_mode & S_IXOTH)) {
            if (!grant)
                return cc_err_set(CC_DENIED,
                                  "user postgres cannot reach %s: %s lacks o+x (chmod o+x %s, or "
                                  "use a folder outside it)",
                                  s->dir, dir, dir);
            if (chmod(dir, (st.st_mode & 07777) | S_IXOTH) != 0)
                return cc_err_set(CC_SYS, "chmod o+x %s: %s", dir, strerror(errno));
            fprintf(stderr,
                    "cclocal: note: added search permission (o+x) to %s so that user postgres "
                    "can reach %s/pg\n",
                    dir, s->dir);
        }
        if (!p[0])
            break;
    }
    return CC_OK;
}

/* Runs a short-lived helper (initdb) to completion as user postgres. */
static cc_status run_as_postgres(cc_local_stack *s, const char *name, const char *const *argv,
                                 int timeout_ms)
{
    char log[PATH_MAX];
    PATHF(log, "%s/logs/%s.log", s->dir, name);
    cc_local_spawn_opts o = {
        .name = name, .path = argv[0], .argv = argv, .log_path = log, .cwd = "/", .as_user = true};
    cc_status st = pg_user(&o.uid, &o.gid);
    cc_local_proc p = {0};
    IFOK(st, cc_local_spawn(&p, &o));
    if (st != CC_OK)
        return st;
    for (long long deadline = now_ms() + timeout_ms; !cc_local_proc_poll(&p);) {
        if (now_ms() > deadline) {
            cc_local_proc_kill(&p);
            return cc_err_set(CC_TIMEOUT, "%s did not finish in %d ms", name, timeout_ms);
        }
        sleep_ms(20);
    }
    if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
        show_log_tail(s, name);
        return cc_err_set(CC_ERR, "%s failed (status 0x%x), see %s", name, (unsigned)p.status, log);
    }
    return CC_OK;
}

/* initdb once per folder; later starts reuse the cluster and its password. */
static cc_status pg_prepare(cc_local_stack *s, bool grant)
{
    uid_t uid = 0;
    gid_t gid = 0;
    char pgdir[PATH_MAX], data[PATH_MAX], version[PATH_MAX], pwfile[PATH_MAX], secret[PATH_MAX];
    cc_status st = pg_user(&uid, &gid);
    IFOK(st, pg_reachable(s, grant));
    if (st != CC_OK)
        return st;
    PATHF(pgdir, "%s/pg", s->dir);
    PATHF(data, "%s/pg/data", s->dir);
    PATHF(version, "%s/pg/data/PG_VERSION", s->dir);
    PATHF(pwfile, "%s/pg/initdb.pw", s->dir);
    PATHF(secret, "%s/secrets/postgres.pw", s->dir);
    IFOK(st, mkdir_p(pgdir, 0700));
    if (st != CC_OK)
        return st;
    if (chown(pgdir, uid, gid) != 0 || chmod(pgdir, 0700) != 0)
        return cc_err_set(CC_SYS, "chown %s to postgres: %s", pgdir, strerror(errno));

    if (access(version, F_OK) == 0) {
        if (!read_small(secret, s->pg_password, sizeof s->pg_password))
            return cc_err_set(CC_NOT_FOUND,
                              "%s holds a cluster but %s is missing: remove %s to start afresh",
                              data, secret, pgdir);
        return CC_OK;
    }
    /* A half-made cluster from an interrupted initdb would make it refuse. */
    IFOK(st, cc_local_rmtree(data));
    /* A new cluster takes the password already in secrets (restored with
     * a backup's --with-secrets), else a fresh one. */
    if (st == CC_OK && !read_small(secret, s->pg_password, sizeof s->pg_password)) {
        st = cc_local_random_hex(s->pg_password, 16);
        IFOK(st, write_secret(secret, s->pg_password));
    }
    /* initdb runs as postgres and reads the password from a file: a copy it
     * can read, removed right after. */
    IFOK(st, write_secret(pwfile, s->pg_password));
    if (st != CC_OK)
        return st;
    if (chown(pwfile, uid, gid) != 0) {
        unlink(pwfile);
        return cc_err_set(CC_SYS, "chown %s: %s", pwfile, strerror(errno));
    }
    char pwarg[PATH_MAX + 16];
    PATHF(pwarg, "--pwfile=%s", pwfile);
    const char *argv[] = {PG_BINDIR "/initdb", "-D", data, "-U", PG_USER, pwarg, "-E", "UTF8",
                          "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                          /* A test cluster is thrown away: skip the fsyncs. */
                          s->durable ? NULL : "--no-sync", NULL};
    st = run_as_postgres(s, "initdb", argv, 180000);
    unlink(pwfile);
    return st;
}

/* The stack's CA (made once, kept) and this start's certificate for each
 * server it runs, in DIR/secrets (tls.c). */
static cc_status tls_prepare(cc_local_stack *s)
{
    char cakey[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], name[32];
    PATHF(s->tls_ca, "%s/secrets/ca.crt", s->dir);
    PATHF(cakey, "%s/secrets/ca.key", s->dir);
    cc_status st = cc_local_tls_ca(s->tls_ca, cakey, "CodeCourt local CA");
    for (int u = 0; u < NUNITS && st == CC_OK; u++) {
        if (!unit_on(s, u, CC_LOCAL_NATS | CC_LOCAL_PG))
            continue;
        unit_name(u, name, sizeof name);
        PATHF(crt, "%s/secrets/%s.crt", s->dir, name);
        PATHF(key, "%s/secrets/%s.key", s->dir, name);
        st = cc_local_tls_cert(s->tls_ca, cakey, name, crt, key);
    }
    return st;
}

/* A copy of from at to, owned by uid/gid with mode: PostgreSQL reads its
 * key as user postgres and refuses one that others may read. */
static cc_status copy_owned(const char *from, const char *to, uid_t uid, gid_t gid, mode_t mode)
{
    char buf[16384];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cc_err_set(CC_SYS, "open %s: %s", from, strerror(errno));
    ssize_t n = read(in, buf, sizeof buf);
    close(in);
    if (n <= 0 || (size_t)n == sizeof buf)
        return cc_err_set(CC_SYS, "read %s: %s", from, n < 0 ? strerror(errno) : "bad size");
    unlink(to);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        return cc_err_set(CC_SYS, "create %s: %s", to, strerror(errno));
    bool ok = write(out, buf, (size_t)n) == n && fchown(out, uid, gid) == 0;
    ok = close(out) == 0 && ok;
    return ok ? CC_OK : cc_err_set(CC_SYS, "write %s: %s", to, strerror(errno));
}

/* DIR/pg/hba.conf, written at every start: the socket in the folder is
 * trusted (only we reach it), TCP takes scram passwords and, with TLS,
 * only inside TLS (hostssl: a cleartext client is refused before it may
 * send a password). With TLS, the server's certificate and key too. */
static cc_status pg_tls(cc_local_stack *s)
{
    uid_t uid = 0;
    gid_t gid = 0;
    char hba[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
    cc_status st = pg_user(&uid, &gid);
    PATHF(hba, "%s/pg/hba.conf", s->dir);
    char text[256];
    snprintf(text, sizeof text, "local all all trust\n%s all all " HOST "/32 scram-sha-256",
             s->tls ? "hostssl" : "host");
    IFOK(st, write_secret(hba, text));
    if (st == CC_OK && chown(hba, uid, gid) != 0)
        st = cc_err_set(CC_SYS, "chown %s: %s", hba, strerror(errno));
    if (st != CC_OK || !s->tls)
        return st;
    PATHF(from, "%s/secrets/postgres.crt", s->dir);
    PATHF(to, "%s/pg/server.crt", s->dir);
    st = copy_owned(from, to, uid, gid, 0644);
    PATHF(from, "%s/secrets/postgres.key", s->dir);
    PATHF(to, "%s/pg/server.key", s->dir);
    IFOK(st, copy_owned(from, to, uid, gid, 0600));
    return st;
}

/* libpq's conninfo for one role: with TLS, verify-full against the
 * stack's CA (the certificate must name 127.0.0.1, and be signed by it). */
static cc_status pg_conninfo(const cc_local_stack *s, char *buf, size_t n, const char *db,
                             const char *user, const char *password)
{
    cc_status st = cc_local_conninfo(buf, n, HOST, s->pg_port, db, user, password);
    if (s->tls) {
        IFOK(st, cc_local_conninfo_add(buf, n, "sslmode", "verify-full"));
        IFOK(st, cc_local_conninfo_add(buf, n, "sslrootcert", s->tls_ca));
    }
    return st;
}

/* One role and one database per service, owner = that role, and no CONNECT
 * for anyone else: DESIGN.md's "no service reads another's tables". */
static cc_status pg_provision(cc_local_stack *s, const char *const *names)
{
    if (!names || !names[0])
        return CC_OK;
    PGconn *c = PQconnectdb(s->pg_super_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        cc_status st = cc_err_set(CC_DB, "connect as postgres: %s", PQerrorMessage(c));
        PQfinish(c);
        return st;
    }
    cc_status st = CC_OK;
    for (size_t i = 0; names[i] && st == CC_OK; i++) {
        const char *name = names[i];
        if (s->pg_nservices == CC_LOCAL_MAX_SERVICES) {
            st = cc_err_set(CC_LIMIT, "more than %d pg services", CC_LOCAL_MAX_SERVICES);
            break;
        }
        if (!cc_local_service_name_ok(name)) {
            st = cc_err_set(CC_INVALID, "bad service name '%s' (want [a-z_][a-z0-9_]*)", name);
            break;
        }
        cc_local_pg_service *sv = &s->pg_services[s->pg_nservices];
        snprintf(sv->name, sizeof sv->name, "%s", name);
        st = cc_local_secret(s, name, sv->password, sizeof sv->password);
        if (st != CC_OK)
            break;
        /* Utility statements take no parameters: the name is checked above
         * and the password is escaped by libpq. */
        char *lit = PQescapeLiteral(c, sv->password, strlen(sv->password));
        if (!lit) {
            st = cc_err_set(CC_DB, "escape password: %s", PQerrorMessage(c));
            break;
        }
        char sql[512];
        const char *param[1] = {name};
        PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, NULL, param,
                                   NULL, NULL, 0);
        bool role_exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        snprintf(sql, sizeof sql, "%s ROLE \"%s\" %sPASSWORD %s", role_exists ? "ALTER" : "CREATE",
                 name, role_exists ? "" : "LOGIN ", lit);
        PQfreemem(lit);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            st = cc_err_set(CC_DB, "create role %s: %s", name, PQresultErrorMessage(r));
        PQclear(r);
        if (st != CC_OK)
            break;
        r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, param, NULL,
                         NULL, 0);
        bool db_exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!db_exists) {
            snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\" OWNER \"%s\"", name, name);
            r = PQexec(c, sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                st = cc_err_set(CC_DB, "create database %s: %s", name, PQresultErrorMessage(r));
            PQclear(r);
            if (st != CC_OK)
                break;
        }
        snprintf(sql, sizeof sql, "REVOKE CONNECT, TEMPORARY ON DATABASE \"%s\" FROM PUBLIC", name);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            st = cc_err_set(CC_DB, "revoke on %s: %s", name, PQresultErrorMessage(r));
        PQclear(r);
        IFOK(st, pg_conninfo(s, sv->conninfo, sizeof sv->conninfo, name, name, sv->password));
        if (st == CC_OK)
            s->pg_nservices++;
    }
    PQfinish(c);
    return st;
}

static cc_status spawn_server(cc_local_stack *s, int u)
{
    const server *sv = unit_server(u);
    char log[PATH_MAX], pidpath[PATH_MAX], port[8], mport[8], dir[PATH_MAX], name[32];
    unit_name(u, name, sizeof name);
    PATHF(log, "%s/logs/%s.log", s->dir, name);
    PATHF(pidpath, "%s/run/%s.pid", s->dir, name);
    cc_local_spawn_opts o = {
        .name = name, .path = sv->bin, .log_path = log, .pid_path = pidpath, .cwd = s->dir};
    cc_local_proc *p = unit_proc(s, u);
    cc_status st = CC_OK;
    if (sv->bit == CC_LOCAL_NATS) {
        snprintf(port, sizeof port, "%u", (unsigned)cc_local_nats_port(s, u));
        snprintf(mport, sizeof mport, "%u",
                 (unsigned)(u == 0 ? s->nats_monitor_port : s->nats_peer_monitor_port[u - 1]));
        if (!nats_sd(s, u, dir, sizeof dir))
            return cc_err_set(CC_LIMIT, "path too long under %s", s->dir);
        char conf[PATH_MAX], sname[32];
        if (s->nats_servers > 1) {
            PATHF(conf, "%s/nats/nats-%d.conf", s->dir, u);
            snprintf(sname, sizeof sname, "cclocal-%d", u);
        } else {
            PATHF(conf, "%s/nats/nats.conf", s->dir);
            snprintf(sname, sizeof sname, "cclocal");
        }
        const char *argv[] = {NATS_BIN, "-c",  conf,  "-a", HOST,  "-p",      port, "-m",
                              mport,    "-js", "-sd", dir,  "-n",  sname, NULL};
        o.argv = argv;
        st = cc_local_spawn(p, &o);
    } else if (sv->bit == CC_LOCAL_REDIS) {
        snprintf(port, sizeof port, "%u", (unsigned)s->redis_port);
        PATHF(dir, "%s/redis", s->dir);
        const char *durable[] = {"--appendonly", "yes",    "--appendfsync",
                                 "everysec",     "--save", "3600 1 300 100 60 10000"};
        const char *fast[] = {"--appendonly", "no", "--save", ""};
        const char *argv[32] = {
            REDIS_BIN, "--bind",    HOST, "--port",           port, "--dir", dir, "--daemonize",
            "no",      "--logfile", "",   "--protected-mode", "yes"};
        size_t n = 13;
        const char **extra = s->durable ? durable : fast;
        size_t nextra = s->durable ? 6 : 4;
        for (size_t i = 0; i < nextra; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        o.argv = argv;
        st = cc_local_spawn(p, &o);
    } else {
        char data[PATH_MAX], sock[PATH_MAX], portopt[32], sockopt[PATH_MAX + 32];
        PATHF(data, "%s/pg/data", s->dir);
        PATHF(sock, "%s/pg", s->dir);
        snprintf(portopt, sizeof portopt, "port=%u", (unsigned)s->pg_port);
        /* The socket lives in our folder so parallel clusters never meet in
         * /var/run/postgresql; sun_path is 108 bytes, so a deep folder gets
         * no socket (everything here uses TCP anyway). */
        if (strlen(sock) + sizeof "/.s.PGSQL.65535" > 100)
            sock[0] = '\0';
        PATHF(sockopt, "unix_socket_directories=%s", sock);
        const char *argv[32] = {PG_BINDIR "/postgres",
                                "-D",
                                data,
                                "-c",
                                "listen_addresses=" HOST,
                                "-c",
                                portopt,
                                "-c",
                                sockopt,
                                "-c",
                                "logging_collector=off"};
        size_t n = 11;
        char hba[PATH_MAX + 16], crt[PATH_MAX + 16], key[PATH_MAX + 16];
        PATHF(hba, "hba_file=%s/pg/hba.conf", s->dir);
        PATHF(crt, "ssl_cert_file=%s/pg/server.crt", s->dir);
        PATHF(key, "ssl_key_file=%s/pg/server.key", s->dir);
        argv[n++] = "-c";
        argv[n++] = hba;
        if (s->tls) {
            const char *tls[] = {"ssl=on", crt, key, "ssl_min_protocol_version=TLSv1.2"};
            for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
                argv[n++] = "-c";
                argv[n++] = tls[i];
            }
        }
        if (!s->durable) {
            /* Fast but still crash-safe for a *process* crash, which is what
             * the fault tests do (cc_local_stack_crash = kill -9): with
             * fsync off a commit still write()s its WAL to the kernel, which
             * survives the postmaster's death; only a machine crash loses
             * it. synchronous_commit must stay on: off, a commit returns
             * before its WAL leaves shared memory, and kill -9 silently
             * loses the last ~200-600 ms of acknowledged transactions (seen
             * as a submission answered 201 whose row was gone after the
             * restart, issue 6). */
            static const char *fast[] = {"fsync=off", "full_page_writes=off",
                                         "shared_buffers=32MB"};
            for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++) {
                argv[n++] = "-c";
                argv[n++] = fast[i];
            }
        }
        argv[n] = NULL;
        o.argv = argv;
        o.cwd = "/";
        o.as_user = true;
        IFOK(st, pg_user(&o.uid, &o.gid));
        IFOK(st, cc_local_spawn(p, &o));
    }
    return st;
}

static void set_urls(cc_local_stack *s)
{
    size_t w = 0;
    s->nats_url[0] = '\0';
    for (int k = 0; k < s->nats_servers; k++)
        w += (size_t)snprintf(s->nats_url + w, sizeof s->nats_url - w, "%s%s://" HOST ":%u",
                              k ? "," : "", s->tls ? "tls" : "nats",
                              (unsigned)cc_local_nats_port(s, k));
    /* Generated passwords are hex: nothing in them needs escaping. */
    for (size_t i = 0; i < s->nats_nusers; i++) {
        cc_local_nats_user *u = &s->nats_users[i];
        /* Written aside first: GCC cannot tell that u->url does not
         * overlap u->user (-Wrestrict). */
        char url[sizeof u->url];
        size_t n = 0;
        for (int k = 0; k < s->nats_servers; k++)
            n += (size_t)snprintf(url + n, sizeof url - n, "%s%s://%s:%s@" HOST ":%u",
                                  k ? "," : "", s->tls ? "tls" : "nats", u->user, u->password,
                                  (unsigned)cc_local_nats_port(s, k));
        memcpy(u->url, url, sizeof url);
    }
    snprintf(s->redis_host, sizeof s->redis_host, HOST);
    snprintf(s->redis_url, sizeof s->redis_url, "redis://" HOST ":%u", (unsigned)s->redis_port);
    pg_conninfo(s, s->pg_super_conninfo, sizeof s->pg_super_conninfo, "postgres", PG_USER,
                s->pg_password);
    for (size_t i = 0; i < s->pg_nservices; i++) {
        cc_local_pg_service *sv = &s->pg_services[i];
        pg_conninfo(s, sv->conninfo, sizeof sv->conninfo, sv->name, sv->name, sv->password);
    }
}

/* Ports are picked once and kept across restarts. NATS servers get a
 * client, a monitor and (in a cluster) a route port each, all different. */
static cc_status pick_ports(cc_local_stack *s, int u)
{
    cc_status st = CC_OK;
    if (u < U_PG) {
        uint16_t *client = u == 0 ? &s->nats_port : &s->nats_peer_port[u - 1];
        uint16_t *mon = u == 0 ? &s->nats_monitor_port : &s->nats_peer_monitor_port[u - 1];
        IFOK(st, cc_local_free_port(client));
        IFOK(st, cc_local_free_port(mon));
        if (st == CC_OK && s->nats_servers > 1)
            st = cc_local_free_port(&s->nats_cluster_port[u]);
    } else if (u == U_PG) {
        IFOK(st, cc_local_free_port(&s->pg_port));
    } else {
        IFOK(st, cc_local_free_port(&s->redis_port));
    }
    set_urls(s);
    return st;
}

static int probe(cc_local_stack *s, int u)
{
    return u < U_PG ? nats_ready(s, u) : u == U_PG ? pg_ready(s) : redis_ready(s);
}

/* Starts the units in mask `units` (bit u) and waits until each answers.
 * A server that dies before it answers is retried: on a new port if its
 * port was picked by this call (another process may have taken it between
 * our probe and its bind), on the same port otherwise (a restart, or a
 * cluster, whose routes name each other's ports). */
static cc_status start_units(cc_local_stack *s, unsigned units)
{
    unsigned picked = 0;
    cc_status st = CC_OK;
    int attempts[NUNITS] = {0};
    for (int u = 0; u < NUNITS && st == CC_OK; u++) {
        if (!(units & (1u << u)) || unit_proc(s, u)->pid > 0)
            continue;
        if (unit_port(s, u) == 0) {
            st = pick_ports(s, u);
            picked |= 1u << u;
        }
        IFOK(st, spawn_server(s, u));
        attempts[u] = 1;
    }
    /* Spawned together, waited for one by one: the servers boot in
     * parallel (a cluster's servers must, to elect a leader). */
    for (int u = 0; u < NUNITS && st == CC_OK; u++) {
        if (!attempts[u])
            continue;
        char name[32];
        unit_name(u, name, sizeof name);
        cc_local_proc *p = unit_proc(s, u);
        long long deadline = now_ms() + s->timeout_ms;
        for (;;) {
            int r = probe(s, u);
            if (r > 0)
                break;
            if (r < 0) {
                st = cc_err_set(CC_UNAVAILABLE, "nats-server on port %u runs without JetStream",
                                (unsigned)unit_port(s, u));
                break;
            }
            if (cc_local_proc_poll(p)) {
                if (attempts[u] >= START_ATTEMPTS) {
                    show_log_tail(s, name);
                    st = cc_err_set(CC_UNAVAILABLE,
                                    "%s exited during start %d times (last status 0x%x); see "
                                    "%s/logs/%s.log",
                                    name, attempts[u], (unsigned)p->status, s->dir, name);
                    break;
                }
                attempts[u]++;
                if ((picked & (1u << u)) && s->nats_servers <= 1)
                    st = pick_ports(s, u);
                else
                    sleep_ms(250);
                IFOK(st, spawn_server(s, u));
                if (st != CC_OK)
                    break;
                deadline = now_ms() + s->timeout_ms;
                continue;
            }
            if (now_ms() > deadline) {
                show_log_tail(s, name);
                st = cc_err_set(CC_TIMEOUT, "%s did not answer on 127.0.0.1 within %d ms", name,
                                s->timeout_ms);
                break;
            }
            sleep_ms(20);
        }
    }
    return st;
}

static unsigned units_of(const cc_local_stack *s, unsigned which)
{
    unsigned units = 0;
    for (int u = 0; u < NUNITS; u++)
        if (unit_on(s, u, which))
            units |= 1u << u;
    return units;
}

cc_status cc_local_stack_start_some(cc_local_stack *s, unsigned which)
{
    return start_units(s, units_of(s, which));
}

static cc_status stop_unit(cc_local_stack *s, int u)
{
    cc_local_proc *p = unit_proc(s, u);
    if (p->pid <= 0)
        return CC_OK;
    cc_status st = cc_local_proc_stop(p, unit_server(u)->stop_sig, STOP_TIMEOUT_MS);
    char pidpath[PATH_MAX], name[32];
    unit_name(u, name, sizeof name);
    if (pathf(pidpath, sizeof pidpath, "%s/run/%s.pid", s->dir, name))
        unlink(pidpath);
    return st;
}

cc_status cc_local_nats_stop(cc_local_stack *s, int i)
{
    if (i < 0 || i >= s->nats_servers || !(s->what & CC_LOCAL_NATS))
        return cc_err_set(CC_INVALID, "no NATS server %d", i);
    return stop_unit(s, i);
}

cc_status cc_local_nats_crash(cc_local_stack *s, int i)
{
    if (i < 0 || i >= s->nats_servers || !(s->what & CC_LOCAL_NATS))
        return cc_err_set(CC_INVALID, "no NATS server %d", i);
    return cc_local_proc_kill(unit_proc(s, i));
}

cc_status cc_local_nats_start(cc_local_stack *s, int i)
{
    if (i < 0 || i >= s->nats_servers || !(s->what & CC_LOCAL_NATS))
        return cc_err_set(CC_INVALID, "no NATS server %d", i);
    char sd[PATH_MAX];
    /* A store folder deleted while the server was down is made again,
     * synchronous like the first. */
    if (nats_sd(s, i, sd, sizeof sd) && mkdir_p(sd, 0755) == CC_OK && s->nats_sync)
        set_sync_tree(sd);
    return start_units(s, 1u << i);
}

cc_status cc_local_stack_stop_some(cc_local_stack *s, unsigned which)
{
    cc_status first = CC_OK;
    unsigned units = units_of(s, which);
    for (int u = 0; u < NUNITS; u++) {
        if (!(units & (1u << u)))
            continue;
        cc_status st = stop_unit(s, u);
        if (first == CC_OK)
            first = st;
    }
    return first;
}

cc_status cc_local_stack_restart(cc_local_stack *s, unsigned which)
{
    cc_status st = cc_local_stack_stop_some(s, which);
    IFOK(st, cc_local_stack_start_some(s, which));
    return st;
}

cc_status cc_local_stack_crash(cc_local_stack *s, unsigned which)
{
    cc_status first = CC_OK;
    unsigned units = units_of(s, which);
    for (int u = 0; u < NUNITS; u++) {
        if (!(units & (1u << u)))
            continue;
        cc_status st = cc_local_proc_kill(unit_proc(s, u));
        if (first == CC_OK)
            first = st;
    }
    return first;
}

unsigned cc_local_stack_poll(cc_local_stack *s)
{
    unsigned died = 0;
    for (int u = 0; u < NUNITS; u++)
        if (cc_local_proc_poll(unit_proc(s, u)))
            died |= unit_server(u)->bit;
    return died;
}

const char *cc_local_pg_conninfo(const cc_local_stack *s, const char *name)
{
    for (size_t i = 0; name && i < s->pg_nservices; i++)
        if (strcmp(s->pg_services[i].name, name) == 0)
            return s->pg_services[i].conninfo;
    return NULL;
}

cc_status cc_local_stack_stop(cc_local_stack *s)
{
    if (!s)
        return CC_OK;
    cc_local_unguard(s);
    /* Servers stop one after the other but each gets its signal at once:
     * a shutdown costs the slowest server, not the sum. */
    for (int u = 0; u < NUNITS; u++) {
        cc_local_proc *p = unit_proc(s, u);
        if (p->pid > 0)
            kill(p->pid, unit_server(u)->stop_sig);
    }
    cc_status st = cc_local_stack_stop_some(s, CC_LOCAL_ALL);
    if (s->owns_dir && s->dir[0]) {
        const char *keep = getenv("CC_LOCAL_KEEP");
        if (keep && strcmp(keep, "1") == 0) {
            fprintf(stderr, "cclocal: CC_LOCAL_KEEP=1: keeping %s\n", s->dir);
        } else {
            cc_status rs = cc_local_rmtree(s->dir);
            if (st == CC_OK)
                st = rs;
        }
        s->owns_dir = false;
    }
    s->what = 0;
    return st;
}

cc_status cc_local_stack_start_with(cc_local_stack *s, const cc_local_options *o)
{
    if (!s || !o)
        return cc_err_set(CC_INVALID, "cc_local_stack_start_with: NULL argument");
    memset(s, 0, sizeof *s);
    s->nats.status = s->pg.status = s->redis.status = -1;
    for (int i = 0; i < CC_LOCAL_NATS_MAX - 1; i++)
        s->nats_peer[i].status = -1;
    s->what = o->what & CC_LOCAL_ALL;
    s->durable = o->durable;
    if (o->nats_servers != 0 && o->nats_servers != 1 && o->nats_servers != CC_LOCAL_NATS_MAX)
        return cc_err_set(CC_INVALID, "nats_servers: %d (1 alone, %d for a cluster)",
                          o->nats_servers, CC_LOCAL_NATS_MAX);
    s->nats_servers = o->nats_servers > 1 ? o->nats_servers : 1;
    s->nats_sync = o->nats_sync == CC_LOCAL_SYNC_ALWAYS ||
                   (o->nats_sync == CC_LOCAL_SYNC_DEFAULT && o->durable);
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    const char *env_tls = getenv("CC_TLS");
    s->tls = o->tls == CC_LOCAL_TLS_ON ||
             (o->tls == CC_LOCAL_TLS_DEFAULT && !(env_tls && strcmp(env_tls, "0") == 0));
    cc_status st = CC_OK;
    if (!o->dir) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !tmp[0])
            tmp = "/tmp";
        if (!pathf(s->dir, sizeof s->dir, "%s/cclocal-XXXXXX", tmp))
            return cc_err_set(CC_LIMIT, "TMPDIR too long");
        if (!mkdtemp(s->dir))
            return cc_err_set(CC_SYS, "mkdtemp %s: %s", s->dir, strerror(errno));
        s->owns_dir = true;
    } else {
        st = mkdir_p(o->dir, 0755);
        if (st != CC_OK)
            return st;
        if (!realpath(o->dir, s->dir))
            return cc_err_set(CC_SYS, "realpath %s: %s", o->dir, strerror(errno));
    }
    char sub[PATH_MAX];
    static const char *const subs[] = {"logs", "run", "secrets", "nats", "redis"};
    for (size_t i = 0; i < 5 && st == CC_OK; i++) {
        if (!pathf(sub, sizeof sub, "%s/%s", s->dir, subs[i]))
            st = cc_err_set(CC_LIMIT, "path too long under %s", s->dir);
        IFOK(st, mkdir_p(sub, strcmp(subs[i], "secrets") == 0 ? 0700 : 0755));
    }
    IFOK(st, master_key_prepare(s));
    for (int u = 0; u < NUNITS && st == CC_OK; u++)
        if (unit_on(s, u, CC_LOCAL_ALL))
            stop_leftover(s, u);
    /* A cluster's configurations name every server's route port: pick
     * them all before writing them. */
    for (int u = 0; s->nats_servers > 1 && (s->what & CC_LOCAL_NATS) && u < s->nats_servers &&
                    st == CC_OK;
         u++)
        st = pick_ports(s, u);
    if (st == CC_OK && s->tls && (s->what & (CC_LOCAL_NATS | CC_LOCAL_PG)))
        st = tls_prepare(s);
    if (st == CC_OK && (s->what & CC_LOCAL_PG))
        st = pg_prepare(s, o->grant_search);
    if (st == CC_OK && (s->what & CC_LOCAL_PG))
        st = pg_tls(s);
    if (st == CC_OK && (s->what & CC_LOCAL_NATS))
        st = nats_prepare(s);
    IFOK(st, cc_local_stack_start_some(s, s->what));
    if (st == CC_OK && (s->what & CC_LOCAL_PG))
        st = pg_provision(s, o->pg_services);
    if (st != CC_OK) {
        /* Keep the first error: the stop would overwrite it. */
        cc_status keep = st;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cc_err_msg());
        cc_local_stack_stop(s);
        return cc_err_set(keep, "%s", msg);
    }
    /* Every process this one starts next (a test's actors, a benchmark's
     * servers) inherits the variable and trusts this stack's CA through
     * its own setting (nats-ca), as actors do under make run; so does
     * cc_bus_connect here. cc-local gives its actors their environment
     * explicitly. */
    if (s->tls && (s->what & CC_LOCAL_NATS))
        setenv("CC_NATS_CA", s->tls_ca, 1);
    else
        unsetenv("CC_NATS_CA");
    return CC_OK;
}

cc_status cc_local_stack_start(cc_local_stack *s, unsigned what, const char *const *pg_services)
{
    cc_local_options o = {.what = what, .pg_services = pg_services};
    return cc_local_stack_start_with(s, &o);
}

natsStatus cc_local_nats_options(const cc_local_stack *s, const char *url, natsOptions **out)
{
    natsOptions *o = NULL;
    natsStatus ns = url ? natsOptions_Create(&o) : NATS_INVALID_ARG;
    if (ns == NATS_OK && strchr(url, ',')) {
        /* natsOptions_SetURL takes one URL: a cluster's list goes to
         * SetServers, each URL with its own credentials. */
        const char *list[CC_LOCAL_NATS_MAX];
        char copy[sizeof s->nats_users[0].url];
        int n = 0;
        snprintf(copy, sizeof copy, "%s", url);
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < CC_LOCAL_NATS_MAX;
             t = strtok_r(NULL, ",", &save))
            list[n++] = t;
        ns = natsOptions_SetServers(o, list, n);
    } else if (ns == NATS_OK) {
        ns = natsOptions_SetURL(o, url);
    }
    if (ns == NATS_OK && s->tls)
        ns = natsOptions_SetSecure(o, true);
    if (ns == NATS_OK && s->tls)
        ns = natsOptions_LoadCATrustedCertificates(o, s->tls_ca);
    if (ns != NATS_OK) {
        natsOptions_Destroy(o);
        o = NULL;
    }
    *out = o;
    return ns;
}

natsStatus cc_local_nats_connect_url(const cc_local_stack *s, const char *url,
                                     natsConnection **nc)
{
    natsOptions *o = NULL;
    natsStatus ns = cc_local_nats_options(s, url, &o);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return ns;
}

natsStatus cc_local_nats_connect(const cc_local_stack *s, const char *service,
                                 natsConnection **nc)
{
    return cc_local_nats_connect_url(s, cc_local_nats_url(s, service), nc);
}
