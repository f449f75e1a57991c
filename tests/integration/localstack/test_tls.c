/* Integration: the stack's TLS (nats-server for clients and routes,
 * PostgreSQL) refuses what it must: a client that does not trust the
 * stack's CA, a cleartext client, a client without NATS credentials; the
 * cleartext setting turns TLS off; the JetStream store is encrypted. */
#include "cc/local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const services[] = {"cc_user", NULL};

static void must(cc_status s)
{
    if (s != CC_OK)
        fail_msg("%s: %s (%s)", cc_status_name(s), cc_err_msg(), cc_err_where());
}

static void start(cc_local_stack *s, unsigned what, int tls, int nats_servers)
{
    cc_local_options o = {
        .what = what, .pg_services = services, .tls = tls, .nats_servers = nats_servers};
    must(cc_local_stack_start_with(s, &o));
    must(cc_local_guard(s));
}

/* The first line a server sends on a plain TCP connection to port (NATS
 * sends INFO before any TLS), in buf; then writes send (if not NULL) and
 * reads what comes back into reply. */
static void raw_exchange(uint16_t port, char *info, size_t n, const char *send, char *reply,
                         size_t rn)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ssize_t r = read(fd, info, n - 1);
    info[r > 0 ? r : 0] = '\0';
    if (send) {
        assert_int_equal(write(fd, send, strlen(send)), (ssize_t)strlen(send));
        size_t got = 0;
        while (got + 1 < rn && (r = read(fd, reply + got, rn - 1 - got)) > 0)
            got += (size_t)r;
        reply[got] = '\0';
    }
    close(fd);
}

/* GET path on the monitor port (HTTP/1.0): the whole answer in buf. */
static void raw_exchange_http(uint16_t port, const char *path, char *buf, size_t n)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
}

/* A NATS connection to url that trusts the CA at ca only. */
static natsStatus connect_trusting(const char *url, const char *ca)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus ns = natsOptions_Create(&o);
    if (ns == NATS_OK)
        ns = natsOptions_SetURL(o, url);
    if (ns == NATS_OK)
        ns = natsOptions_SetSecure(o, true);
    if (ns == NATS_OK)
        ns = natsOptions_LoadCATrustedCertificates(o, ca);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(&nc, o);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return ns;
}

/* libpq's answer to conninfo: CONNECTION_OK or not, the error in err. */
static bool pg_connects(const char *conninfo, bool *ssl, char *err, size_t n)
{
    PGconn *c = PQconnectdb(conninfo);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ssl)
        *ssl = ok && PQsslInUse(c);
    snprintf(err, n, "%s", PQerrorMessage(c));
    PQfinish(c);
    return ok;
}

static void service_conninfo(const cc_local_stack *s, char *buf, size_t n, const char *sslmode,
                             const char *root)
{
    must(cc_local_conninfo(buf, n, "127.0.0.1", s->pg_port, "cc_user", "cc_user",
                           s->pg_services[0].password));
    must(cc_local_conninfo_add(buf, n, "sslmode", sslmode));
    if (root)
        must(cc_local_conninfo_add(buf, n, "sslrootcert", root));
    must(cc_local_conninfo_add(buf, n, "connect_timeout", "5"));
}

static void untrusted_and_cleartext_clients_are_refused(void **state)
{
    (void)state;
    static cc_local_stack s;
    start(&s, CC_LOCAL_NATS | CC_LOCAL_PG, CC_LOCAL_TLS_ON, 1);
    assert_true(s.tls);
    const char *admin = cc_local_nats_url(&s, "admin");
    assert_int_equal(strncmp(admin, "tls://", 6), 0);

    /* A CA of its own that signed nothing of this stack. */
    char other[PATH_MAX + 32], other_key[PATH_MAX + 32];
    snprintf(other, sizeof other, "%s/other-ca.crt", s.dir);
    snprintf(other_key, sizeof other_key, "%s/other-ca.key", s.dir);
    must(cc_local_tls_ca(other, other_key, "Someone else's CA"));

    /* NATS: trusting the stack's CA works; trusting another CA, or only
     * the system's CAs, the handshake fails before any credential is sent. */
    assert_int_equal(connect_trusting(admin, s.tls_ca), NATS_OK);
    assert_int_equal(connect_trusting(admin, other), NATS_SSL_ERROR);
    natsConnection *nc = NULL;
    assert_int_not_equal(natsConnection_ConnectTo(&nc, admin), NATS_OK);
    /* A client that stays in cleartext is told TLS is required; what it
     * sends is read as a broken handshake and the server hangs up without
     * answering its PING. */
    char info[4096], reply[1024], connect[512];
    const cc_local_nats_user *u = cc_local_nats_user_of(&s, "admin");
    snprintf(connect, sizeof connect,
             "CONNECT {\"verbose\":false,\"user\":\"%s\",\"pass\":\"%s\"}\r\nPING\r\n", u->user,
             u->password);
    raw_exchange(s.nats_port, info, sizeof info, connect, reply, sizeof reply);
    assert_non_null(strstr(info, "\"tls_required\":true"));
    assert_null(strstr(reply, "PONG"));
    assert_null(strstr(reply, "+OK"));

    /* PostgreSQL: verify-full against the stack's CA works and is TLS;
     * against another CA it fails on the certificate; without TLS the
     * server has no entry for it (hostssl only). */
    char ci[CC_LOCAL_CONNINFO_MAX * 2], err[1024];
    bool ssl = false;
    if (!pg_connects(cc_local_pg_conninfo(&s, "cc_user"), &ssl, err, sizeof err))
        fail_msg("the stack's own conninfo: %s", err);
    assert_true(ssl);
    assert_non_null(strstr(cc_local_pg_conninfo(&s, "cc_user"), "sslmode=verify-full"));
    service_conninfo(&s, ci, sizeof ci, "verify-full", other);
    assert_false(pg_connects(ci, NULL, err, sizeof err));
    assert_non_null(strstr(err, "certificate verify failed"));
    service_conninfo(&s, ci, sizeof ci, "disable", NULL);
    assert_false(pg_connects(ci, NULL, err, sizeof err));
    assert_non_null(strstr(err, "no encryption"));
    must(cc_local_stack_stop(&s));
}

/* Through TLS that the client trusts, the server still takes only the
 * mesh's users: the failure is the credentials', not the handshake's. */
static void no_credentials_no_connection(void **state)
{
    (void)state;
    static cc_local_stack s;
    start(&s, CC_LOCAL_NATS, CC_LOCAL_TLS_ON, 1);
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect_url(&s, s.nats_url, &nc), NATS_CONNECTION_AUTH_FAILED);
    char url[256];
    snprintf(url, sizeof url, "tls://cc-user:not-its-password@127.0.0.1:%u", (unsigned)s.nats_port);
    assert_int_equal(cc_local_nats_connect_url(&s, url, &nc), NATS_CONNECTION_AUTH_FAILED);
    assert_int_equal(cc_local_nats_connect(&s, "user", &nc), NATS_OK);
    natsConnection_Destroy(nc);
    must(cc_local_stack_stop(&s));
}

/* The cleartext setting: no certificate, plain URLs and conninfos, and a
 * client that insists on TLS finds none. */
static void cleartext_setting(void **state)
{
    (void)state;
    static cc_local_stack s;
    start(&s, CC_LOCAL_NATS | CC_LOCAL_PG, CC_LOCAL_TLS_OFF, 1);
    assert_false(s.tls);
    assert_string_equal(s.tls_ca, "");
    assert_int_equal(strncmp(s.nats_url, "nats://", 7), 0);
    assert_null(strstr(cc_local_pg_conninfo(&s, "cc_user"), "sslmode"));
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect(&s, "admin", &nc), NATS_OK);
    natsConnection_Destroy(nc);
    char info[4096];
    raw_exchange(s.nats_port, info, sizeof info, NULL, NULL, 0);
    assert_null(strstr(info, "\"tls_required\":true"));
    char ci[CC_LOCAL_CONNINFO_MAX * 2], err[1024];
    bool ssl = true;
    if (!pg_connects(cc_local_pg_conninfo(&s, "cc_user"), &ssl, err, sizeof err))
        fail_msg("cleartext conninfo: %s", err);
    assert_false(ssl);
    service_conninfo(&s, ci, sizeof ci, "require", NULL);
    assert_false(pg_connects(ci, NULL, err, sizeof err));
    must(cc_local_stack_stop(&s));
}

/* The routes of a cluster take TLS only, and the cluster still forms:
 * a stream of three replicas is made. */
static void cluster_routes_use_tls(void **state)
{
    (void)state;
    static cc_local_stack s;
    start(&s, CC_LOCAL_NATS, CC_LOCAL_TLS_ON, CC_LOCAL_NATS_MAX);
    /* Each server's /varz says its routes need TLS with a verified peer
     * certificate, and that it has its two routes up. */
    for (int i = 0; i < CC_LOCAL_NATS_MAX; i++) {
        uint16_t mon = i == 0 ? s.nats_monitor_port : s.nats_peer_monitor_port[i - 1];
        char varz[65536], reply[1 << 16];
        raw_exchange_http(mon, "/varz", varz, sizeof varz);
        char *cluster = strstr(varz, "\"cluster\":");
        if (!cluster || !strstr(cluster, "\"tls_required\": true") ||
            !strstr(cluster, "\"tls_verify\": true"))
            fail_msg("server %d's cluster block: %.600s", i, cluster ? cluster : varz);
        raw_exchange_http(mon, "/routez", reply, sizeof reply);
        if (!strstr(reply, "\"num_routes\": 2"))
            fail_msg("server %d's routes: %.600s", i, reply);
    }
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    assert_int_equal(cc_local_nats_connect(&s, "admin", &nc), NATS_OK);
    assert_int_equal(natsConnection_RequestString(
                         &m, nc, "$JS.API.STREAM.CREATE.R3",
                         "{\"name\":\"R3\",\"subjects\":[\"r3.>\"],\"num_replicas\":3}", 10000),
                     NATS_OK);
    if (strstr(natsMsg_GetData(m), "\"error\""))
        fail_msg("stream of 3 replicas: %s", natsMsg_GetData(m));
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
    must(cc_local_stack_stop(&s));
}

/* Whether needle occurs in any file under dir; the bytes read in *total. */
static bool found_under(const char *dir, const char *needle, size_t *total)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            found = found_under(path, needle, total);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        char *buf = f ? malloc((size_t)st.st_size + 1) : NULL;
        size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
        *total += n;
        found = buf && memmem(buf, n, needle, strlen(needle)) != NULL;
        free(buf);
        if (f)
            fclose(f);
    }
    closedir(d);
    return found;
}

/* A known payload sent through a file stream is nowhere in clear in the
 * store folder, and reads back after a restart (the key is kept). */
static void jetstream_store_is_encrypted(void **state)
{
    (void)state;
    static cc_local_stack s;
    start(&s, CC_LOCAL_NATS, CC_LOCAL_TLS_DEFAULT, 1);
    const char canary[] = "print('codecourt-canary-5f1e0c')  # a contestant's source";
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    jsCtx *js = NULL;
    assert_int_equal(cc_local_nats_connect(&s, "admin", &nc), NATS_OK);
    assert_int_equal(natsConnection_RequestString(
                         &m, nc, "$JS.API.STREAM.CREATE.SECRET",
                         "{\"name\":\"SECRET\",\"subjects\":[\"secret.>\"],\"storage\":\"file\"}",
                         5000),
                     NATS_OK);
    assert_null(strstr(natsMsg_GetData(m), "\"error\""));
    natsMsg_Destroy(m);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            js_Publish(NULL, js, "secret.src", canary, (int)strlen(canary), NULL, NULL), NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    /* A graceful stop writes everything out. */
    must(cc_local_stack_stop_some(&s, CC_LOCAL_NATS));
    char store[PATH_MAX];
    assert_non_null(cc_local_nats_store(&s, 0, store, sizeof store));
    size_t total = 0;
    assert_false(found_under(store, canary, &total));
    assert_false(found_under(store, "codecourt-canary", &total));
    assert_true(total > 20 * strlen(canary)); /* the messages are there, unreadable */

    must(cc_local_stack_start_some(&s, CC_LOCAL_NATS));
    assert_int_equal(cc_local_nats_connect(&s, "admin", &nc), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_GetMsg(&m, js, "SECRET", 20, NULL, NULL), NATS_OK);
    assert_int_equal(natsMsg_GetDataLength(m), (int)strlen(canary));
    assert_memory_equal(natsMsg_GetData(m), canary, strlen(canary));
    natsMsg_Destroy(m);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    must(cc_local_stack_stop(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(untrusted_and_cleartext_clients_are_refused),
        cmocka_unit_test(no_credentials_no_connection),
        cmocka_unit_test(cleartext_setting),
        cmocka_unit_test(cluster_routes_use_tls),
        cmocka_unit_test(jetstream_store_is_encrypted),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_Close();
    return rc;
}
