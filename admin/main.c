/* cc-admin: the operator's command, `cc-admin backup FILE` and
 * `cc-admin restore FILE`. Its settings are the services' own (NATS URL,
 * user and password; each service's libpq conninfo as
 * CC_PG_CONNINFO_<SERVICE>), read from flags or the environment through
 * the runtime's settings table, so one binary runs on a laptop, in a
 * Kubernetes CronJob and behind `cc-local backup`. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "cc/config.h"

/* The databases, in the order they are dumped and restored, one row each:
 * X(ID, dbname, service, what its pg-conninfo-<service> help adds). Both
 * admin_dbs[] and the settings rows are made from it, so adding a database
 * is adding its row here. */
#define ADMIN_DB_MAP(X)                                                                            \
    X(USER, "cc_user", "user", " (the service's own CC_PG_CONNINFO)")                              \
    X(PROBLEM, "cc_problem", "problem", " (test data blobs included)")                             \
    X(SUBMISSION, "cc_submission", "submission", "")                                               \
    X(NOTIFY, "cc_notification", "notify", "")                                                     \
    X(CONTEST, "cc_contest", "contest", "")                                                        \
    X(STATS, "cc_stats", "stats", "")

/* A database's index in admin_dbs[] and admin_settings.pg_conninfo[]. */
enum {
#define DB_INDEX(id, dbname, service, help) DB_##id,
    ADMIN_DB_MAP(DB_INDEX)
#undef DB_INDEX
};

const admin_db admin_dbs[] = {
#define DB_ROW(id, dbname, service, help) [DB_##id] = {dbname, service},
    ADMIN_DB_MAP(DB_ROW)
#undef DB_ROW
};
const size_t admin_ndbs = sizeof admin_dbs / sizeof admin_dbs[0];
_Static_assert(sizeof admin_dbs / sizeof admin_dbs[0] <=
                   sizeof((admin_settings *)0)->pg_conninfo / sizeof(char *),
               "admin_settings.pg_conninfo has a slot per database");

#define S(field) offsetof(admin_settings, field)
static const cc_config_row rows[] = {
    {"nats-url", CC_CFG_STRING, S(nats_url), "nats://127.0.0.1:4222", 0, 0, NULL,
     "NATS server URL(s), comma-separated"},
    {"nats-user", CC_CFG_STRING, S(nats_user), "cc-backup", 0, 0, NULL,
     "NATS user: the mesh's cc-backup (cc-admin, which may do anything, works too)"},
    {"nats-password", CC_CFG_STRING, S(nats_password), "", 0, 0, NULL, "its password"},
    {"nats-ca", CC_CFG_STRING, S(nats_ca), "", 0, 0, NULL,
     "PEM file of the CA that signed the NATS servers' certificates: TLS, verified against it "
     "(empty: cleartext), as the services' nats-ca"},
/* pg-conninfo-<service> of each database, default dbname=<dbname>. (clang-format off:
 * it would put each field on its own line and join the next row to the list.) */
/* clang-format off */
#define CONNINFO_ROW(id, dbname, service, help)                                                    \
    {"pg-conninfo-" service, CC_CFG_STRING, S(pg_conninfo[DB_##id]), "dbname=" dbname, 0, 0,       \
     NULL, "libpq conninfo of cc-" service "'s database" help},
    ADMIN_DB_MAP(CONNINFO_ROW)
#undef CONNINFO_ROW
    /* clang-format on */
    {"pg-bin-dir", CC_CFG_STRING, S(pg_bin_dir), "/usr/lib/postgresql/15/bin", 0, 0, NULL,
     "folder of pg_dump and pg_restore (PostgreSQL 15's client)"},
    {"with-secrets", CC_CFG_BOOL, S(with_secrets), "false", 0, 0, NULL,
     "backup: also archive the files of --secrets-dir (passwords, keys); restore: write "
     "them back there"},
    {"secrets-dir", CC_CFG_STRING, S(secrets_dir), "", 0, 0, NULL,
     "the folder of secrets (.state/secrets locally, a mounted Secret on Kubernetes)"},
    {"secrets-only", CC_CFG_BOOL, S(secrets_only), "false", 0, 0, NULL,
     "restore: check the archive and write only its secrets (with --with-secrets), before the "
     "servers of a new stack are made, so they start with the archived passwords"},
    {"force", CC_CFG_BOOL, S(force), "false", 0, 0, NULL,
     "restore: replace what a non-empty stack holds (refused without it)"},
    {"keep", CC_CFG_INT, S(keep), "0", 0, 100000, NULL,
     "backup: then keep only the newest N archives (*.backup) of the archive's folder "
     "(0: keep all)"},
    {"timeout", CC_CFG_DURATION, S(timeout_ms), "2m", 1000, 86400000, NULL,
     "longest wait for one stream snapshot or restore step"},
};
#undef S

static void usage(FILE *f, const cc_config_table *t)
{
    fprintf(f, "usage: cc-admin backup FILE [settings]\n"
               "       cc-admin restore FILE [settings]\n"
               "backup writes one archive of the running system (every database, every\n"
               "JetStream stream with its consumers, a manifest with checksums); restore\n"
               "brings it back into an empty stack whose services are stopped.\n\n");
    cc_config_usage(f, "cc-admin", t, 1);
}

int main(int argc, char **argv)
{
    static admin_settings s;
    cc_config_table t = {rows, sizeof rows / sizeof rows[0], &s};
    if (argc < 2 || (strcmp(argv[1], "backup") && strcmp(argv[1], "restore"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
            usage(stdout, &t);
            return 0;
        }
        if (argc >= 2 && !strcmp(argv[1], "--version")) {
            printf("cc-admin %s\n", CC_VERSION);
            return 0;
        }
        usage(stderr, &t);
        return 2;
    }
    const char *extra[1];
    size_t nextra = 0;
    cc_status st = cc_config_load(&t, 1, argc - 1, argv + 1, extra, 1, &nextra);
    if (st == CC_CLOSED)
        return 0;
    if (st != CC_OK) {
        fprintf(stderr, "cc-admin: %s\n", cc_err_msg());
        return 2;
    }
    if (nextra != 1) {
        fprintf(stderr, "cc-admin %s: name the archive file\n", argv[1]);
        cc_config_free(&t, 1);
        return 2;
    }
    int rc = !strcmp(argv[1], "backup") ? admin_backup(&s, extra[0]) : admin_restore(&s, extra[0]);
    cc_config_free(&t, 1);
    return rc;
}
