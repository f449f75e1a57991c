/* Integration: cc/migrate.h. Two processes started together apply each
 * migration exactly once; a re-run applies nothing; an edited applied
 * migration is an error naming its file; a badly named file is refused.
 *
 * The test re-executes itself ("child <conninfo> <dir>") for the two
 * racing processes, so each has its own connection and lock session. */
#include "cc/local.h"
#include "cc/migrate.h"

#include <libpq-fe.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

static cc_local_stack stack;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

static int64_t scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        abort();
    }
    char *end;
    long long v = strtoll(PQgetvalue(r, 0, 0), &end, 10);
    PQclear(r);
    return v;
}

static int child(const char *conninfo, const char *dir)
{
    int applied = -1;
    cc_migrate_options o = {.conninfo = conninfo, .service = "mig", .dir = dir};
    cc_status s = cc_migrate(&o, &applied);
    if (s != CC_OK) {
        fprintf(stderr, "child: %s: %s\n", cc_status_name(s), cc_err_msg());
        return 100;
    }
    return applied; /* the exit status says how many it applied */
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "child"))
        return child(argv[2], argv[3]);

    static const char *const services[] = {"cc_m", NULL};
    CHECK_OK(cc_local_stack_start(&stack, CC_LOCAL_PG, services));
    CHECK_OK(cc_local_guard(&stack));
    const char *ci = cc_local_pg_conninfo(&stack, "cc_m");

    char dir[] = "/tmp/cc-migrate-XXXXXX";
    CHECK(mkdtemp(dir));
    /* The sleep holds the lock long enough that the second process must
     * wait for it, whichever starts first. */
    write_file(dir, "0001_init.sql",
               "CREATE TABLE items (id int PRIMARY KEY);\n"
               "CREATE TABLE applied_log (version int NOT NULL);\n"
               "INSERT INTO applied_log VALUES (1);\n"
               "SELECT pg_sleep(0.5);\n");
    write_file(dir, "0002_names.sql",
               "ALTER TABLE items ADD COLUMN name text;\n"
               "INSERT INTO applied_log VALUES (2);\n");
    write_file(dir, "0010_more.sql", "INSERT INTO applied_log VALUES (10);\n");
    write_file(dir, "README.md", "not a migration\n");

    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        char *const args[] = {"test_migrate", "child", (char *)ci, dir, NULL};
        CHECK(posix_spawn(&pids[i], "/proc/self/exe", NULL, NULL, args, environ) == 0);
    }
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int st;
        CHECK(waitpid(pids[i], &st, 0) == pids[i]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 100);
        fprintf(stderr, "process %d applied %d\n", i, WEXITSTATUS(st));
        total += WEXITSTATUS(st);
    }
    CHECK(total == 5); /* the two outbox built-ins and three files, once in all */

    PGconn *c = PQconnectdb(ci);
    CHECK(PQstatus(c) == CONNECTION_OK);
    CHECK(scalar(c, "SELECT count(*) FROM schema_migrations") == 5);
    CHECK(scalar(c, "SELECT count(DISTINCT version) FROM schema_migrations") == 5);
    CHECK(scalar(c, "SELECT count(*) FROM schema_migrations WHERE version = -2 AND name = "
                    "'cc_outbox_sealed'") == 1);
    CHECK(scalar(c, "SELECT count(*) FROM schema_migrations WHERE version = -1 AND name = "
                    "'cc_outbox'") == 1);
    CHECK(scalar(c, "SELECT count(*) FROM applied_log") == 3);
    CHECK(scalar(c, "SELECT count(*) FROM applied_log WHERE version = 1") == 1);
    CHECK(scalar(c, "SELECT count(*) FROM cc_outbox") == 0);
    fprintf(stderr, "ok: two processes, each migration applied once\n");

    /* A re-run finds everything applied. */
    int applied = -1;
    cc_migrate_options o = {.conninfo = ci, .service = "mig", .dir = dir};
    CHECK_OK(cc_migrate(&o, &applied));
    CHECK(applied == 0);

    /* A new file is applied alone. */
    write_file(dir, "0011_later.sql", "INSERT INTO applied_log VALUES (11);\n");
    CHECK_OK(cc_migrate(&o, &applied));
    CHECK(applied == 1);
    CHECK(scalar(c, "SELECT count(*) FROM applied_log") == 4);

    /* Editing an applied migration is refused, naming the file. */
    write_file(dir, "0002_names.sql", "ALTER TABLE items ADD COLUMN name text; -- edited\n");
    cc_status s = cc_migrate(&o, &applied);
    CHECK(s == CC_CONFLICT);
    CHECK(strstr(cc_err_msg(), "0002_names.sql"));
    fprintf(stderr, "ok: changed checksum: %s\n", cc_err_msg());
    write_file(dir, "0002_names.sql",
               "ALTER TABLE items ADD COLUMN name text;\n"
               "INSERT INTO applied_log VALUES (2);\n");

    /* A failing migration leaves nothing of itself and names its file. */
    write_file(dir, "0012_bad.sql",
               "INSERT INTO applied_log VALUES (12);\nSELECT * FROM no_such_table;\n");
    s = cc_migrate(&o, &applied);
    CHECK(s == CC_DB && strstr(cc_err_msg(), "0012_bad.sql"));
    CHECK(scalar(c, "SELECT count(*) FROM applied_log WHERE version = 12") == 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/0012_bad.sql", dir);
    unlink(path);

    /* A badly named file is refused. */
    write_file(dir, "abc.sql", "SELECT 1;\n");
    s = cc_migrate(&o, &applied);
    CHECK(s == CC_INVALID && strstr(cc_err_msg(), "abc.sql"));
    fprintf(stderr, "ok: bad name: %s\n", cc_err_msg());

    PQfinish(c);
    CHECK_OK(cc_local_rmtree(dir));
    CHECK_OK(cc_local_stack_stop(&stack));
    fprintf(stderr, "ok: all\n");
    return 0;
}
