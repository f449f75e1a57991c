/* `cc-admin restore FILE`: an archive back into a stack whose servers run
 * and whose services are stopped.
 *
 * Steps: unpack and check every part's checksum (nothing is touched when
 * one fails: the message names the part) -> refuse a non-empty stack
 * unless --force (check_empty) -> streams (restore_streams: an existing
 * stream of the same name is deleted first, then restored with its
 * consumers) -> databases (pg_restore in one transaction each) -> outbox
 * rows published after the streams' snapshot and missing from them are
 * marked unsent (rearm_outboxes) -> read models set to rebuild by replay
 * (cc-contest, cc-stats) -> secrets, when asked. The services publish the
 * re-armed rows and replay the read models when they start. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"

/* How far the clocks of the servers and of cc-admin may disagree: an
 * outbox row marked sent this long before the snapshot began is checked
 * against the stream all the same. */
#define CLOCK_MARGIN_S 10.0

typedef struct restore {
    const admin_settings *s;
    char work[4200];
    json_t *manifest;
    natsConnection *nc;
} restore;

/* Appends one "; "-separated item to what the stack holds (cut at cap). */
static void held(char *what, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void held(char *what, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(what);
    if (n + 3 >= cap)
        return;
    if (n)
        n += (size_t)snprintf(what + n, cap - n, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + n, cap - n, fmt, ap);
    va_end(ap);
}

static cc_status check_empty(restore *r)
{
    char what[1024] = "";
    json_t *names = NULL;
    cc_status st = admin_js_streams(r->nc, &names);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        json_t *info = NULL;
        if (st != CC_OK || (st = admin_js_info(r->nc, json_string_value(v), &info)) != CC_OK)
            break;
        json_int_t msgs =
            json_integer_value(json_object_get(json_object_get(info, "state"), "messages"));
        if (msgs > 0)
            held(what, sizeof what, "stream %s holds %" JSON_INTEGER_FORMAT " messages",
                 json_string_value(v), msgs);
        json_decref(info);
    }
    json_decref(names);
    for (size_t d = 0; d < admin_ndbs && st == CC_OK; d++) {
        int64_t rows = 0;
        if ((st = admin_pg_rows(r->s, d, &rows)) == CC_OK && rows > 0)
            held(what, sizeof what, "database %s holds %" PRId64 " rows", admin_dbs[d].dbname,
                 rows);
    }
    size_t n = strlen(what);
    if (st != CC_OK || !n)
        return st;
    if (!r->s->force)
        return cc_err_set(CC_EXISTS,
                          "the stack is not empty (%s); restore with --force to replace what it "
                          "holds with the archive",
                          what);
    printf("cc-admin: --force: replacing what the stack holds (%s)\n", what);
    return CC_OK;
}

static cc_status restore_streams(restore *r)
{
    json_t *streams = json_object_get(r->manifest, "streams");
    size_t i;
    json_t *v;
    cc_status st = CC_OK;
    json_array_foreach(streams, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        char file[4400];
        snprintf(file, sizeof file, "%s/%s", r->work,
                 json_string_value(json_object_get(v, "part")));
        double t0 = admin_now();
        json_t *have = NULL;
        if ((st = admin_js_info(r->nc, name, &have)) != CC_OK)
            break;
        /* A service that started once declared its streams: empty (or
         * replaced under --force, checked above), they make way. */
        if (have && (st = admin_js_delete(r->nc, name)) != CC_OK) {
            json_decref(have);
            break;
        }
        json_decref(have);
        if ((st = admin_js_restore(r->nc, name, json_object_get(v, "info"), file,
                                   r->s->timeout_ms)) != CC_OK)
            break;
        json_t *info = NULL;
        if ((st = admin_js_info(r->nc, name, &info)) != CC_OK)
            break;
        json_int_t last =
            json_integer_value(json_object_get(json_object_get(info, "state"), "last_seq"));
        json_decref(info);
        /* nats-server 2.9 states the stream's state when the snapshot
         * begins and then copies its message blocks as they are, so a
         * stream written meanwhile restores a few messages past it (never
         * fewer). */
        if (last < json_integer_value(json_object_get(v, "last_seq"))) {
            st = cc_err_set(CC_INTERNAL,
                            "stream %s restored to last sequence %" JSON_INTEGER_FORMAT
                            ", short of the %" JSON_INTEGER_FORMAT " the manifest says",
                            name, last, json_integer_value(json_object_get(v, "last_seq")));
            break;
        }
        printf("cc-admin: stream %s restored: last sequence %" JSON_INTEGER_FORMAT
               " with its consumers (%.2f s)\n",
               name, last, admin_now() - t0);
    }
    return st;
}

static cc_status restore_databases(restore *r)
{
    json_t *dbs = json_object_get(r->manifest, "databases");
    for (size_t d = 0; d < admin_ndbs; d++) {
        json_t *found = NULL, *v;
        size_t i;
        json_array_foreach(dbs, i,
                           v) if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "",
                                          admin_dbs[d].dbname)) found = v;
        if (!found) {
            printf("cc-admin: database %s: not in the archive, left as it is\n",
                   admin_dbs[d].dbname);
            continue;
        }
        char file[4400];
        snprintf(file, sizeof file, "%s/%s", r->work,
                 json_string_value(json_object_get(found, "part")));
        double t0 = admin_now();
        cc_status st = admin_pg_restore(r->s, d, file);
        if (st != CC_OK)
            return st;
        printf("cc-admin: database %s restored: migration %" JSON_INTEGER_FORMAT " (%.2f s)\n",
               admin_dbs[d].dbname, json_integer_value(json_object_get(found, "migration_version")),
               admin_now() - t0);
    }
    return CC_OK;
}

/* Rows the relay published after the streams' snapshot began are marked
 * sent in the dump but may be missing from the restored streams: each one
 * whose Nats-Msg-Id no restored stream holds is marked unsent. */
static cc_status rearm_outboxes(restore *r)
{
    double since = json_real_value(json_object_get(r->manifest, "streams_snapshot_started_at")) -
                   CLOCK_MARGIN_S;
    json_t *ids = NULL; /* built at the first database with candidates */
    cc_status st = CC_OK;
    for (size_t d = 0; d < admin_ndbs && st == CC_OK; d++) {
        json_t *rows = NULL;
        if ((st = admin_pg_outbox_sent_since(r->s, d, since, &rows)) != CC_OK ||
            json_array_size(rows) == 0) {
            json_decref(rows);
            continue;
        }
        if (!ids) {
            ids = json_object();
            json_t *streams = json_object_get(r->manifest, "streams");
            size_t i;
            json_t *v;
            json_array_foreach(streams, i, v) IFOK(
                st, admin_js_msg_ids_since(r->nc, json_string_value(json_object_get(v, "name")),
                                           since - CLOCK_MARGIN_S, ids));
        }
        json_t *rearm = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(
            rows, i, row) if (!json_object_get(ids, json_string_value(json_array_get(row, 1))))
            json_array_append(rearm, json_array_get(row, 0));
        IFOK(st, admin_pg_outbox_rearm(r->s, d, rearm));
        if (st == CC_OK)
            printf("cc-admin: database %s: %zu outbox rows published after the streams' "
                   "snapshot, %zu of them missing from it: marked unsent, %s publishes them "
                   "when it starts\n",
                   admin_dbs[d].dbname, json_array_size(rows), json_array_size(rearm),
                   admin_dbs[d].service);
        json_decref(rearm);
        json_decref(rows);
    }
    json_decref(ids);
    return st;
}

static cc_status replay_projections(restore *r)
{
    cc_status st = CC_OK;
    for (size_t d = 0; d < admin_ndbs && st == CC_OK; d++) {
        int64_t n = 0;
        if ((st = admin_pg_replay_projections(r->s, d, &n)) == CC_OK && n > 0)
            printf("cc-admin: database %s: %" PRId64 " read models rebuild from the restored "
                   "stream when %s starts\n",
                   admin_dbs[d].dbname, n, admin_dbs[d].service);
    }
    return st;
}

static cc_status restore_secrets(restore *r)
{
    if (!json_is_true(json_object_get(r->manifest, "secrets")))
        return CC_OK;
    if (!r->s->with_secrets || !r->s->secrets_dir[0]) {
        printf("cc-admin: the archive holds secrets; not written (give --with-secrets and "
               "--secrets-dir to write them)\n");
        return CC_OK;
    }
    mkdir(r->s->secrets_dir, 0700);
    json_t *parts = json_object_get(r->manifest, "parts");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (strncmp(path, "secrets/", 8) != 0)
            continue;
        char src[4400], dst[4400];
        snprintf(src, sizeof src, "%s/%s", r->work, path);
        snprintf(dst, sizeof dst, "%s/%s", r->s->secrets_dir, path + 8);
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        char buf[8192];
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
        bool ok = in && out;
        if (in)
            fclose(in);
        if (out) {
            ok = fclose(out) == 0 && ok;
            chmod(dst, 0600);
        }
        if (!ok)
            return cc_err_set(CC_IO, "secret %s: cannot write %s", path, dst);
    }
    printf("cc-admin: secrets written to %s\n", r->s->secrets_dir);
    return CC_OK;
}

int admin_restore(const admin_settings *s, const char *archive)
{
    double t0 = admin_now();
    restore r = {.s = s};
    cc_status st = admin_workdir(archive, r.work, sizeof r.work);
    IFOK(st, admin_archive_read(archive, r.work, &r.manifest));
    if (st == CC_OK && strcmp(json_string_value(json_object_get(r.manifest, "format")) ?: "",
                              "codecourt-backup/1") != 0)
        st = cc_err_set(CC_INVALID, "%s: not a CodeCourt backup (format %s)", archive,
                        json_string_value(json_object_get(r.manifest, "format")) ?: "missing");
    if (st == CC_OK)
        printf("cc-admin: %s: every part matches its checksum (CodeCourt %s, made %s)\n", archive,
               json_string_value(json_object_get(r.manifest, "codecourt_version")),
               json_string_value(json_object_get(r.manifest, "created_at")));
    if (st == CC_OK && s->secrets_only) {
        st = s->with_secrets && s->secrets_dir[0]
                 ? restore_secrets(&r)
                 : cc_err_set(CC_INVALID, "--secrets-only needs --with-secrets and --secrets-dir");
        json_decref(r.manifest);
        admin_rmtree(r.work);
        if (st != CC_OK) {
            fprintf(stderr, "cc-admin restore: %s\n", cc_err_msg());
            return 1;
        }
        printf("cc-admin: wrote the secrets of %s\n", archive);
        return 0;
    }
    IFOK(st, admin_js_connect(s, &r.nc));
    IFOK(st, check_empty(&r));
    IFOK(st, restore_streams(&r));
    IFOK(st, restore_databases(&r));
    IFOK(st, rearm_outboxes(&r));
    IFOK(st, replay_projections(&r));
    IFOK(st, restore_secrets(&r));
    natsConnection_Destroy(r.nc);
    json_decref(r.manifest);
    if (r.work[0])
        admin_rmtree(r.work);
    if (st != CC_OK) {
        fprintf(stderr, "cc-admin restore: %s\n", cc_err_msg());
        return 1;
    }
    printf("cc-admin: restored %s in %.2f s; start the services\n", archive, admin_now() - t0);
    return 0;
}
