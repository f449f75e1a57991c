/* The databases: pg_dump and pg_restore (PostgreSQL 15's client) run as
 * children with the service's conninfo given through libpq's environment
 * variables (PGHOST, PGPASSWORD...), never on a command line that ps
 * shows; and the few queries the backup and the restore make on their own
 * connection. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"

static cc_status connect_db(const admin_settings *s, size_t db, PGconn **out)
{
    PGconn *c = PQconnectdb(s->pg_conninfo[db]);
    if (PQstatus(c) != CONNECTION_OK) {
        cc_status st =
            cc_err_set(CC_UNAVAILABLE, "database %s: %s", admin_dbs[db].dbname, PQerrorMessage(c));
        PQfinish(c);
        return st;
    }
    *out = c;
    return CC_OK;
}

/* Runs sql; a tuples result is left for the caller (NULL on error). */
static PGresult *run(PGconn *c, const char *db, const char *sql, int nparams,
                     const char *const *params, cc_status *st)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType t = PQresultStatus(r);
    if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
        *st = cc_err_set(CC_DB, "database %s: %s", db, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* One number from a one-row query, or 0 when the relation it needs is
 * missing (a database no service has migrated). */
static cc_status scalar(PGconn *c, const char *db, const char *rel, const char *sql, int64_t *v)
{
    *v = 0;
    cc_status st = CC_OK;
    const char *p[1] = {rel};
    PGresult *r = run(c, db, "SELECT to_regclass($1) IS NOT NULL", 1, p, &st);
    if (!r)
        return st;
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return CC_OK;
    if (!(r = run(c, db, sql, 0, NULL, &st)))
        return st;
    *v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return CC_OK;
}

/* Runs bin/prog with argv, the conninfo's settings in libpq's environment
 * variables; 0 when it exited 0. */
static cc_status run_client(const admin_settings *s, size_t db, const char *prog,
                            const char *const *args)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(s->pg_conninfo[db], &err);
    if (!opts) {
        cc_status st = cc_err_set(CC_INVALID, "pg-conninfo-%s: %s", admin_dbs[db].service,
                                  err ? err : "does not parse");
        PQfreemem(err);
        return st;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->pg_bin_dir, prog);
    if (access(path, X_OK) != 0) {
        PQconninfoFree(opts);
        return cc_err_set(CC_IO, "%s: %s (install postgresql-client-15, or set --pg-bin-dir)", path,
                          strerror(errno));
    }
    const char *argv[24];
    int n = 0;
    argv[n++] = path;
    for (; *args && n < 23; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        PQconninfoFree(opts);
        return cc_err_sys("fork");
    }
    if (pid == 0) {
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->envvar && o->val && *o->val)
                setenv(o->envvar, o->val, 1);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    PQconninfoFree(opts);
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return cc_err_sys("waitpid");
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        return cc_err_set(CC_DB, "database %s: %s failed (%s %d; its messages are above)",
                          admin_dbs[db].dbname, prog, WIFEXITED(ws) ? "status" : "signal",
                          WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
    return CC_OK;
}

cc_status admin_pg_dump(const admin_settings *s, size_t db, const char *file, json_t *info)
{
    const char *name = admin_dbs[db].dbname;
    PGconn *c;
    cc_status st = connect_db(s, db, &c);
    if (st != CC_OK)
        return st;
    /* The exported snapshot holds while this transaction is open: pg_dump
     * sees exactly what the figures below were read from. */
    PGresult *r = run(c, name, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, &st);
    PQclear(r);
    char snap[128] = "";
    if (st == CC_OK && (r = run(c, name, "SELECT pg_export_snapshot()", 0, NULL, &st))) {
        snprintf(snap, sizeof snap, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    int64_t version = 0, blobs = 0, blob_bytes = 0, unsent = 0;
    IFOK(st, scalar(c, name, "schema_migrations",
                    "SELECT coalesce(max(version), 0) FROM schema_migrations", &version));
    IFOK(st, scalar(c, name, "cc_outbox", "SELECT count(*) FROM cc_outbox WHERE sent_at IS NULL",
                    &unsent));
    if (!strcmp(name, "cc_problem")) {
        IFOK(st, scalar(c, name, "blobs", "SELECT count(*) FROM blobs", &blobs));
        IFOK(st, scalar(c, name, "blobs", "SELECT coalesce(sum(size), 0) FROM blobs", &blob_bytes));
    }
    char snap_arg[160], file_arg[4400];
    snprintf(snap_arg, sizeof snap_arg, "--snapshot=%s", snap);
    snprintf(file_arg, sizeof file_arg, "--file=%s", file);
    const char *args[] = {"--format=custom", "--no-owner", "--no-privileges",
                          snap_arg,          file_arg,     NULL};
    IFOK(st, run_client(s, db, "pg_dump", args));
    PQclear(PQexec(c, "COMMIT"));
    PQfinish(c);
    if (st != CC_OK)
        return st;
    json_object_set_new(info, "migration_version", json_integer(version));
    json_object_set_new(info, "outbox_unsent", json_integer(unsent));
    if (!strcmp(name, "cc_problem")) {
        json_object_set_new(info, "blobs", json_integer(blobs));
        json_object_set_new(info, "blob_bytes", json_integer(blob_bytes));
    }
    return CC_OK;
}

cc_status admin_pg_rows(const admin_settings *s, size_t db, int64_t *rows)
{
    PGconn *c;
    cc_status st = connect_db(s, db, &c);
    if (st != CC_OK)
        return st;
    /* One statement counts every table: query_to_xml runs a count(*) per
     * table the query lists. */
    PGresult *r = run(c, admin_dbs[db].dbname,
                      "SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format("
                      "'SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, "
                      "'')))[1]::text::bigint), 0) FROM pg_tables WHERE schemaname NOT IN "
                      "('pg_catalog', 'information_schema') AND tablename <> 'schema_migrations'",
                      0, NULL, &st);
    if (r) {
        *rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(c);
    return st;
}

cc_status admin_pg_restore(const admin_settings *s, size_t db, const char *file)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(s->pg_conninfo[db], &err);
    if (!opts) {
        PQfreemem(err);
        return cc_err_set(CC_INVALID, "pg-conninfo-%s does not parse", admin_dbs[db].service);
    }
    char dbarg[512] = "";
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, "dbname") && o->val)
            snprintf(dbarg, sizeof dbarg, "--dbname=%s", o->val);
    PQconninfoFree(opts);
    if (!dbarg[0])
        snprintf(dbarg, sizeof dbarg, "--dbname=%s", admin_dbs[db].dbname);
    /* One transaction: a restore that fails leaves the database as it was. */
    const char *args[] = {"--clean",
                          "--if-exists",
                          "--no-owner",
                          "--no-privileges",
                          "--exit-on-error",
                          "--single-transaction",
                          dbarg,
                          file,
                          NULL};
    return run_client(s, db, "pg_restore", args);
}

cc_status admin_pg_outbox_sent_since(const admin_settings *s, size_t db, double since,
                                     json_t **rows)
{
    *rows = json_array();
    PGconn *c;
    cc_status st = connect_db(s, db, &c);
    if (st != CC_OK)
        return st;
    int64_t has = 0;
    st = scalar(c, admin_dbs[db].dbname, "cc_outbox", "SELECT 1", &has);
    char t[64], prefix[96];
    snprintf(t, sizeof t, "%.6f", since);
    snprintf(prefix, sizeof prefix, "%s-outbox-", admin_dbs[db].service);
    const char *p[2] = {t, prefix};
    PGresult *r = st == CC_OK && has ? run(c, admin_dbs[db].dbname,
                                           "SELECT id, coalesce(msg_id, $2 || id) FROM cc_outbox "
                                           "WHERE sent_at >= to_timestamp($1::float8) ORDER BY id",
                                           2, p, &st)
                                     : NULL;
    for (int i = 0; r && i < PQntuples(r); i++)
        json_array_append_new(*rows,
                              json_pack("[Is]", (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                        PQgetvalue(r, i, 1)));
    PQclear(r);
    PQfinish(c);
    return st;
}

cc_status admin_pg_outbox_rearm(const admin_settings *s, size_t db, json_t *ids)
{
    if (json_array_size(ids) == 0)
        return CC_OK;
    /* A PostgreSQL array literal {1,2,3}: at most 21 characters a number. */
    size_t cap = json_array_size(ids) * 22 + 3, n = 0, i;
    char *list = malloc(cap);
    if (!list)
        return cc_err_set(CC_NOMEM, "out of memory");
    json_t *v;
    list[n++] = '{';
    json_array_foreach(ids, i, v)
    {
        n += (size_t)snprintf(list + n, cap - n, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                              json_integer_value(v));
    }
    snprintf(list + n, cap - n, "}");
    PGconn *c;
    cc_status st = connect_db(s, db, &c);
    if (st == CC_OK) {
        const char *p[1] = {list};
        PQclear(run(c, admin_dbs[db].dbname,
                    "UPDATE cc_outbox SET sent_at = NULL WHERE id = ANY($1::bigint[])", 1, p, &st));
        PQfinish(c);
    }
    free(list);
    return st;
}

cc_status admin_pg_replay_projections(const admin_settings *s, size_t db, int64_t *n)
{
    *n = 0;
    PGconn *c;
    cc_status st = connect_db(s, db, &c);
    if (st != CC_OK)
        return st;
    int64_t has = 0;
    st = scalar(c, admin_dbs[db].dbname, "cc_projections", "SELECT 1", &has);
    /* A stored version other than the code's makes the service rebuild the
     * projection from the stream's first event when it starts (cc/projection.h). */
    PGresult *r = st == CC_OK && has ? run(c, admin_dbs[db].dbname,
                                           "UPDATE cc_projections SET version = -1", 0, NULL, &st)
                                     : NULL;
    if (r)
        *n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return st;
}
