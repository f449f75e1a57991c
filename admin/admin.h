/* cc-admin's internal header: the operator's tool (backup, restore), one
 * section per file. It is a blocking command-line program: synchronous
 * libpq, nats.c's synchronous requests, pg_dump and pg_restore as child
 * processes. It never runs inside an actor's loop. */
#ifndef CC_ADMIN_H
#define CC_ADMIN_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/status.h"

/* ---- main.c ---------------------------------------------------------------- */

/* One service database: its name, its row in the settings, and the
 * prefix its outbox relay gives a message id ("<service>-outbox-<id>"). */
typedef struct admin_db {
    const char *dbname;  /* "cc_user": the part's name in the archive */
    const char *service; /* "user": the relay's prefix and the setting pg-conninfo-<service> */
} admin_db;

extern const admin_db admin_dbs[];
extern const size_t admin_ndbs;

typedef struct admin_settings {
    char *nats_url, *nats_user, *nats_password;
    char *nats_ca; /* PEM of the CA that signed the NATS servers ("": cleartext) */
    char *pg_conninfo[8]; /* by admin_dbs index */
    char *pg_bin_dir;
    char *secrets_dir;
    bool with_secrets;
    bool secrets_only; /* restore: check the archive, write its secrets, nothing else */
    bool force;
    int64_t keep;
    int64_t timeout_ms;
} admin_settings;

/* ---- archive.c: the archive file, its parts and their checksums -------------- */

/* The archive is a tar file: manifest.json first, then every part. The
 * manifest lists each part's path, size and SHA-256; a part that is
 * missing, of another size or another hash is named by its path. */
typedef struct admin_part {
    char path[320];  /* inside the archive: "db/cc_user.dump" */
    char file[4608]; /* where it is on disk (a work folder) */
} admin_part;

/* SHA-256 of a file as 64 hex characters; *size receives its length. */
cc_status admin_sha256_file(const char *path, char hex[65], int64_t *size);

/* Writes manifest (given the parts' checksums in its "parts" array by the
 * caller) and the parts into a tar file at path, through path.tmp renamed
 * at the end, so a crash never leaves a half archive under the final name. */
cc_status admin_archive_write(const char *path, json_t *manifest, const admin_part *parts,
                              size_t nparts);

/* Unpacks the archive into dir (which exists and is empty), refusing
 * entries that are not plain relative paths, then reads manifest.json and
 * checks every part it lists. On success *manifest is the caller's. The
 * error names the part that is missing or whose size or checksum fails. */
cc_status admin_archive_read(const char *path, const char *dir, json_t **manifest);

/* A new work folder beside the archive (the parts are as large as the
 * archive, and /tmp may be small), removed with admin_rmtree. */
cc_status admin_workdir(const char *archive, char *out, size_t cap);
void admin_rmtree(const char *dir);

/* Wall-clock time, Unix seconds. */
double admin_now(void);

/* ---- pg.c: the databases --------------------------------------------------- */

/* Dumps one database with pg_dump -Fc at a snapshot exported from a
 * repeatable-read transaction, in which the migration version, the blob
 * figures and the outbox backlog are read too: everything about one
 * database in the manifest describes the dump. info gets those fields. */
cc_status admin_pg_dump(const admin_settings *s, size_t db, const char *file, json_t *info);

/* Rows in the database's own tables (schema_migrations aside): 0 for a
 * database that no service has used or whose tables are empty. */
cc_status admin_pg_rows(const admin_settings *s, size_t db, int64_t *rows);

/* pg_restore --clean --if-exists --no-owner into the database. */
cc_status admin_pg_restore(const admin_settings *s, size_t db, const char *file);

/* Outbox rows of the database marked sent at or after since (Unix
 * seconds): id and message id, as a JSON array of [id, msg_id]. */
cc_status admin_pg_outbox_sent_since(const admin_settings *s, size_t db, double since,
                                     json_t **rows);

/* Marks these outbox ids unsent, so the service's relay publishes them
 * again when it starts. */
cc_status admin_pg_outbox_rearm(const admin_settings *s, size_t db, json_t *ids);

/* Makes every read model of the database (cc_projections) rebuild by
 * replaying the restored stream when its service starts: the dump was
 * taken after the streams' snapshot, so a stored position may lie past
 * the restored stream's end. *n gets how many. */
cc_status admin_pg_replay_projections(const admin_settings *s, size_t db, int64_t *n);

/* ---- js.c: the JetStream streams ------------------------------------------ */

cc_status admin_js_connect(const admin_settings *s, natsConnection **nc);

/* The names of every stream (a JSON array of strings). */
cc_status admin_js_streams(natsConnection *nc, json_t **names);

/* The stream's info ({config, state}), or *info = NULL when it does not
 * exist. */
cc_status admin_js_info(natsConnection *nc, const char *stream, json_t **info);

cc_status admin_js_delete(natsConnection *nc, const char *stream);

/* Snapshots the stream with its consumers ($JS.API.STREAM.SNAPSHOT, the
 * nats CLI's protocol: chunks on an inbox, each acknowledged on its reply
 * subject, an empty message at the end) into file. *info gets the
 * {config, state} the server snapshotted. */
cc_status admin_js_snapshot(natsConnection *nc, const char *stream, const char *file,
                            int64_t timeout_ms, json_t **info);

/* Restores a snapshot ($JS.API.STREAM.RESTORE with the config and state
 * the snapshot was taken with, then each chunk as a request, then an empty
 * one); the stream must not exist. */
cc_status admin_js_restore(natsConnection *nc, const char *stream, const json_t *info,
                           const char *file, int64_t timeout_ms);

/* Adds to ids (an object used as a set) the Nats-Msg-Id of every message
 * of the stream stored at or after since (Unix seconds), reading from the
 * last message back. */
cc_status admin_js_msg_ids_since(natsConnection *nc, const char *stream, double since, json_t *ids);

/* ---- backup.c / restore.c --------------------------------------------------- */

int admin_backup(const admin_settings *s, const char *archive);
int admin_restore(const admin_settings *s, const char *archive);

#endif
