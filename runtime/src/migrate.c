/* Migrations at start (blocking by design; see cc/migrate.h). */
#include "cc/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/outbox.h"

typedef struct mig {
    long version;
    char name[128];
    char path[4096]; /* the file, or "builtin:<name>" */
    char *sql;
    char checksum[65];
} mig;

int64_t cc_migrate_lock_key(const char *service)
{
    uint64_t h = 14695981039346656037ull;
    const char *prefix = "cc-migrate:";
    for (const char *p = prefix; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (const char *p = service; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (int64_t)h;
}

static cc_status sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return cc_err_set(CC_INTERNAL, "migrate: sha256 failed");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return CC_OK;
}

static cc_status read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "migrate: cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf)
        return cc_err_set(CC_NOMEM, "migrate: out of memory reading %s", path);
    if (err) {
        free(buf);
        return cc_err_set(CC_IO, "migrate: cannot read %s", path);
    }
    buf[len] = '\0';
    *out = buf;
    return CC_OK;
}

/* NNNN_name.sql -> version and name; false for anything else. */
static bool parse_name(const char *file, long *version, char *name, size_t cap)
{
    size_t fl = strlen(file);
    if (fl < 6 || strcmp(file + fl - 4, ".sql") != 0)
        return false;
    const char *p = file;
    if (*p < '0' || *p > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || *end != '_' || v < 0 || v > 2147483647L)
        return false;
    const char *nm = end + 1;
    size_t nl = (size_t)(file + fl - 4 - nm);
    if (nl == 0 || nl >= cap)
        return false;
    for (size_t i = 0; i < nl; i++) {
        char c = nm[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    memcpy(name, nm, nl);
    name[nl] = '\0';
    *version = v;
    return true;
}

static int mig_cmp(const void *a, const void *b)
{
    const mig *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

static void migs_free(mig *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].sql);
    free(m);
}

/* Builtins first (negative versions, in list order), then the folder's
 * files sorted by version. */
static cc_status load_all(const cc_migrate_options *o, mig **out, size_t *nout)
{
    size_t n = 0, cap = 16;
    mig *m = calloc(cap, sizeof *m);
    if (!m)
        return cc_err_set(CC_NOMEM, "migrate: out of memory");
    cc_status s = CC_OK;
    static const struct {
        const char *name;
        const char *const *sql;
    } builtins[] = {{"cc_outbox", &cc_outbox_schema_sql}, {"cc_outbox_sealed", &cc_outbox_sealed_sql}};
    for (size_t i = 0; !o->no_builtin && i < sizeof builtins / sizeof builtins[0] && s == CC_OK;
         i++) {
        m[n].version = -1 - (long)i;
        snprintf(m[n].name, sizeof m[n].name, "%s", builtins[i].name);
        snprintf(m[n].path, sizeof m[n].path, "builtin:%s", builtins[i].name);
        m[n].sql = strdup(*builtins[i].sql);
        if (!m[n].sql)
            s = cc_err_set(CC_NOMEM, "migrate: out of memory");
        n++;
    }
    size_t nbuiltin = n;
    if (s == CC_OK && o->dir) {
        DIR *d = opendir(o->dir);
        if (!d)
            s = cc_err_set(CC_IO, "migrate: cannot open folder %s: %s", o->dir, strerror(errno));
        struct dirent *e;
        while (s == CC_OK && d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            size_t fl = strlen(e->d_name);
            if (fl < 4 || strcmp(e->d_name + fl - 4, ".sql") != 0)
                continue; /* READMEs and such live next to migrations */
            if (n == cap) {
                mig *nm = realloc(m, 2 * cap * sizeof *m);
                if (!nm) {
                    s = cc_err_set(CC_NOMEM, "migrate: out of memory");
                    break;
                }
                memset(nm + cap, 0, cap * sizeof *m);
                m = nm;
                cap *= 2;
            }
            mig *x = &m[n];
            if (!parse_name(e->d_name, &x->version, x->name, sizeof x->name)) {
                s = cc_err_set(CC_INVALID,
                               "migrate: %s/%s is not named NNNN_name.sql (name of [A-Za-z0-9_-])",
                               o->dir, e->d_name);
                break;
            }
            snprintf(x->path, sizeof x->path, "%s/%s", o->dir, e->d_name);
            n++;
            s = read_file(x->path, &x->sql);
        }
        if (d)
            closedir(d);
    }
    if (s == CC_OK) {
        qsort(m + nbuiltin, n - nbuiltin, sizeof *m, mig_cmp);
        for (size_t i = nbuiltin + 1; i < n && s == CC_OK; i++)
            if (m[i].version == m[i - 1].version)
                s = cc_err_set(CC_INVALID, "migrate: %s and %s have the same version %ld",
                               m[i - 1].path, m[i].path, m[i].version);
    }
    for (size_t i = 0; i < n && s == CC_OK; i++)
        s = sha256_hex(m[i].sql, strlen(m[i].sql), m[i].checksum);
    if (s != CC_OK) {
        migs_free(m, n);
        return s;
    }
    *out = m;
    *nout = n;
    return CC_OK;
}

static cc_status exec_ok(PGconn *c, PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    cc_status s = CC_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        msg[strcspn(msg, "\n")] = '\0';
        s = cc_err_set(PQstatus(c) == CONNECTION_BAD ? CC_UNAVAILABLE : CC_DB, "migrate: %s: %s",
                       what, msg);
    }
    PQclear(r);
    return s;
}

static cc_status exec_simple(PGconn *c, const char *sql, const char *what)
{
    return exec_ok(c, PQexec(c, sql), what);
}

static cc_status apply_one(PGconn *c, const mig *m)
{
    char what[4200];
    snprintf(what, sizeof what, "migration %s", m->path);
    cc_status s = exec_simple(c, "BEGIN", "begin");
    IFOK(s, exec_simple(c, m->sql, what));
    if (s == CC_OK) {
        char ver[24];
        snprintf(ver, sizeof ver, "%ld", m->version);
        const char *vals[3] = {ver, m->name, m->checksum};
        s = exec_ok(c,
                    PQexecParams(c,
                                 "INSERT INTO schema_migrations (version, name, checksum) "
                                 "VALUES ($1::integer, $2, $3)",
                                 3, NULL, vals, NULL, NULL, 0),
                    "record migration");
    }
    IFOK(s, exec_simple(c, "COMMIT", "commit"));
    if (s != CC_OK) {
        /* Keep the first error; the rollback is only to leave the
         * connection usable for the unlock. */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", cc_err_msg());
        PQclear(PQexec(c, "ROLLBACK"));
        cc_err_set(s, "%s", keep);
    }
    return s;
}

static cc_status run_locked(PGconn *c, const mig *m, size_t n, int *applied)
{
    cc_status s = exec_simple(c,
                              "CREATE TABLE IF NOT EXISTS schema_migrations ("
                              " version integer PRIMARY KEY,"
                              " name text NOT NULL,"
                              " checksum text NOT NULL,"
                              " applied_at timestamptz NOT NULL DEFAULT now())",
                              "create schema_migrations");
    if (s != CC_OK)
        return s;
    PGresult *r = PQexec(c, "SELECT version, checksum FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return exec_ok(c, r, "read schema_migrations");
    int rows = PQntuples(r);
    for (size_t i = 0; i < n && s == CC_OK; i++) {
        const char *have = NULL;
        for (int k = 0; k < rows; k++) {
            char *end = NULL;
            long v = strtol(PQgetvalue(r, k, 0), &end, 10);
            if (v == m[i].version) {
                have = PQgetvalue(r, k, 1);
                break;
            }
        }
        if (have) {
            if (strcmp(have, m[i].checksum) != 0)
                s = cc_err_set(CC_CONFLICT,
                               "migrate: %s changed after it was applied (checksum %.12s..., "
                               "applied %.12s...): add a new migration instead",
                               m[i].path, m[i].checksum, have);
            continue;
        }
        s = apply_one(c, &m[i]);
        if (s == CC_OK) {
            (*applied)++;
            cc_log(CC_LOG_INFO, NULL, "migration applied", "{s:I, s:s}", "version",
                   (json_int_t)m[i].version, "file", m[i].path);
        }
    }
    PQclear(r);
    return s;
}

cc_status cc_migrate(const cc_migrate_options *o, int *applied)
{
    if (!o || !o->conninfo || !o->service || !*o->service)
        return cc_err_set(CC_INVALID, "migrate: conninfo and service are required");
    int count = 0;
    mig *m = NULL;
    size_t n = 0;
    cc_status s = load_all(o, &m, &n);
    if (s != CC_OK)
        return s;
    PGconn *c = PQconnectdb(o->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        PQfinish(c);
        migs_free(m, n);
        return cc_err_set(CC_UNAVAILABLE, "migrate %s: cannot connect: %s", o->service, msg);
    }
    /* Quiet the NOTICEs of CREATE ... IF NOT EXISTS. */
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)cc_migrate_lock_key(o->service));
    const char *kv[1] = {key};
    /* Waits for a replica that is migrating now; a session lock is
     * released by the server if this process dies holding it. */
    s = exec_ok(c,
                PQexecParams(c, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, kv, NULL, NULL, 0),
                "advisory lock");
    if (s == CC_OK) {
        s = run_locked(c, m, n, &count);
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", cc_err_msg());
        PQclear(
            PQexecParams(c, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, kv, NULL, NULL, 0));
        if (s != CC_OK)
            cc_err_set(s, "%s", keep);
    }
    PQfinish(c);
    migs_free(m, n);
    if (applied)
        *applied = count;
    return s;
}
