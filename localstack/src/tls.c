/* The stack's own certificate authority and a certificate per server, made
 * with OpenSSL's library: nats-server and PostgreSQL present them, every
 * client verifies them against DIR/secrets/ca.crt.
 *
 * The CA is made once per folder and kept (a client that trusts it keeps
 * working across restarts of make run); each server's certificate is made
 * again at every start of the stack, so none ever expires under a long-lived
 * .state/. Keys are P-256, certificates SHA-256, valid for 127.0.0.1 and
 * localhost, for both server and client use (a NATS route is both). Other
 * secrets of the folder (passwords, the JetStream key) are cc_local_secret's.
 *
 * The work runs in a child process: the caller (a test that also speaks TLS
 * to NATS) must not have initialised libcrypto itself before nats.c does,
 * or nats.c 3.4's nats_Close() frees OpenSSL state that OpenSSL's own exit
 * handler then frees again (a crash at exit, seen with EVP_EC_gen). */
#include "cc/local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* nats.c 3.4's nats_Close() frees OpenSSL state that OpenSSL's own exit
 * handler frees again when libpq's TLS ran in the same process: a program
 * that used a stack then crashed in OPENSSL_cleanup after its last test
 * passed, now and then. Every program that starts a stack links this file
 * (stack.c calls it), so this runs before anything initialises OpenSSL and
 * tells it not to register that handler; the process's memory goes away
 * at exit anyway. */
__attribute__((constructor)) static void no_openssl_atexit(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

#define CA_DAYS 3650
#define CERT_DAYS 397 /* what browsers accept at most: one rule for every cert */

static cc_status ssl_err(const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return cc_err_set(CC_ERR, "%s: %s", what, buf[0] ? buf : "OpenSSL error");
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for key, named cn, signed by issuer (NULL: self-signed, a
 * CA). A random 128-bit serial: two certificates of one CA never share one. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    bool ok = x && serial && X509_set_version(x, X509_VERSION_3) == 1 &&
              BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(x), 86400L * (issuer ? CERT_DAYS : CA_DAYS)) &&
              X509_set_pubkey(x, key) == 1;
    BN_free(serial);
    X509_NAME *name = ok ? X509_get_subject_name(x) : NULL;
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"CodeCourt local stack", -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (ok && !issuer)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    else if (ok)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
             add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(x, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    ok = ok && add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
         X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Writes through a temporary file renamed into place: a crash leaves the
 * old file or the new one, never half of one. Keys are 0600. */
static cc_status write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return cc_err_set(CC_LIMIT, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
    if (fd < 0)
        return cc_err_set(CC_SYS, "create %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return cc_err_set(CC_SYS, "fdopen %s: %s", tmp, strerror(errno));
    }
    bool ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1
                  : PEM_write_X509(f, cert) == 1;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return ok ? cc_err_set(CC_SYS, "rename %s: %s", tmp, strerror(errno))
                  : ssl_err("write PEM");
    }
    return CC_OK;
}

static cc_status write_pair(const char *crt_path, const char *key_path, X509 *x, EVP_PKEY *k)
{
    cc_status st = write_pem(key_path, k, NULL);
    IFOK(st, write_pem(crt_path, NULL, x));
    return st;
}

/* Runs fn(arg) in a child process; its status and error message come back
 * through a pipe. */
static cc_status in_child(cc_status (*fn)(void *), void *arg, const char *what)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return cc_err_set(CC_SYS, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return cc_err_set(CC_SYS, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        cc_status st = fn(arg);
        if (st != CC_OK) {
            const char *m = cc_err_msg();
            ssize_t w = write(p[1], m, strlen(m));
            (void)w;
        }
        _exit(st == CC_OK ? 0 : 1);
    }
    close(p[1]);
    char msg[512];
    size_t got = 0;
    for (ssize_t r; got + 1 < sizeof msg && (r = read(p[0], msg + got, sizeof msg - 1 - got)) != 0;)
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            break;
    msg[got] = '\0';
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return CC_OK;
    return cc_err_set(CC_ERR, "%s: %s", what, got ? msg : "the child process failed");
}

typedef struct job {
    const char *ca_crt, *ca_key, *cn, *crt_path, *key_path;
} job;

static cc_status make_ca(void *arg)
{
    const job *j = arg;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = k ? make_cert(k, j->cn, NULL, NULL) : NULL;
    cc_status st = x ? write_pair(j->crt_path, j->key_path, x, k) : ssl_err("make the CA");
    X509_free(x);
    EVP_PKEY_free(k);
    return st;
}

static cc_status issue(void *arg);

cc_status cc_local_tls_ca(const char *crt_path, const char *key_path, const char *cn)
{
    if (access(crt_path, R_OK) == 0 && access(key_path, R_OK) == 0)
        return CC_OK;
    job j = {.cn = cn, .crt_path = crt_path, .key_path = key_path};
    return in_child(make_ca, &j, crt_path);
}

cc_status cc_local_tls_cert(const char *ca_crt, const char *ca_key, const char *cn,
                            const char *crt_path, const char *key_path)
{
    job j = {ca_crt, ca_key, cn, crt_path, key_path};
    return in_child(issue, &j, crt_path);
}

static cc_status issue(void *arg)
{
    const job *j = arg;
    const char *ca_crt = j->ca_crt, *ca_key = j->ca_key, *cn = j->cn, *crt_path = j->crt_path,
               *key_path = j->key_path;
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL;
    FILE *f = fopen(ca_crt, "re");
    if (f) {
        ca = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(ca_key, "re");
    if (f) {
        cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    cc_status st = CC_OK;
    if (!ca || !cakey) {
        st = cc_err_set(CC_NOT_FOUND, "cannot read the CA %s / %s", ca_crt, ca_key);
    } else {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *x = k ? make_cert(k, cn, ca, cakey) : NULL;
        st = x ? write_pair(crt_path, key_path, x, k) : ssl_err("make a certificate");
        X509_free(x);
        EVP_PKEY_free(k);
    }
    ERR_clear_error();
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return st;
}
