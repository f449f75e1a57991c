/* `cc-admin backup FILE`: one archive of the running system.
 *
 * Order, and why: every stream is snapshotted first (with its consumers),
 * then every database is dumped. A consumer's database is then at least
 * as new as the consumer's acknowledgements in the snapshot, so after a
 * restore nothing it acknowledged is missing from its tables (what it had
 * stored but not yet acknowledged comes again, and consumers are
 * idempotent). A producer's outbox is then at least as new as the stream:
 * rows the relay published after the snapshot are in the dump marked
 * sent, and the restore marks them unsent again unless the restored
 * stream holds their Nats-Msg-Id (restore.c). Rows not yet published are
 * in the dump unsent, and queued judging jobs are in CC_JUDGE's snapshot
 * with the judges' consumer: in-flight work is in the archive.
 *
 * Steps: streams (snapshot_streams) -> databases (dump_databases) ->
 * secrets when asked (add_secrets) -> manifest and tar (finish). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"

enum { MAX_PARTS = 128 };

typedef struct backup {
    const admin_settings *s;
    char work[4200];
    admin_part parts[MAX_PARTS];
    size_t nparts;
    json_t *manifest, *streams, *databases;
} backup;

static admin_part *new_part(backup *b, const char *path)
{
    if (b->nparts == MAX_PARTS)
        return NULL;
    admin_part *p = &b->parts[b->nparts++];
    snprintf(p->path, sizeof p->path, "%s", path);
    snprintf(p->file, sizeof p->file, "%s/%s", b->work, path);
    return p;
}

static cc_status snapshot_streams(backup *b)
{
    natsConnection *nc = NULL;
    cc_status st = admin_js_connect(b->s, &nc);
    json_t *names = NULL;
    IFOK(st, admin_js_streams(nc, &names));
    json_object_set_new(b->manifest, "streams_snapshot_started_at", json_real(admin_now()));
    size_t i;
    json_t *n;
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/streams", b->work);
    if (st == CC_OK && mkdir(dir, 0700) != 0)
        st = cc_err_set(CC_IO, "mkdir %s: %s", dir, strerror(errno));
    json_array_foreach(names, i, n)
    {
        if (st != CC_OK)
            break;
        const char *name = json_string_value(n);
        char path[256];
        snprintf(path, sizeof path, "streams/%s.snapshot", name);
        admin_part *p = new_part(b, path);
        if (!p) {
            st = cc_err_set(CC_LIMIT, "more than %d parts", MAX_PARTS);
            break;
        }
        double t0 = admin_now();
        json_t *info = NULL;
        if ((st = admin_js_snapshot(nc, name, p->file, b->s->timeout_ms, &info)) != CC_OK)
            break;
        json_t *state = json_object_get(info, "state");
        json_array_append_new(
            b->streams,
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:O}", "name", name, "part", path, "last_seq",
                      json_integer_value(json_object_get(state, "last_seq")), "messages",
                      json_integer_value(json_object_get(state, "messages")), "consumers",
                      json_integer_value(json_object_get(state, "consumer_count")), "info", info));
        printf("cc-admin: stream %s: last sequence %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
               " messages, %" JSON_INTEGER_FORMAT " consumers (%.2f s)\n",
               name, json_integer_value(json_object_get(state, "last_seq")),
               json_integer_value(json_object_get(state, "messages")),
               json_integer_value(json_object_get(state, "consumer_count")), admin_now() - t0);
        json_decref(info);
    }
    json_decref(names);
    natsConnection_Destroy(nc);
    return st;
}

static cc_status dump_databases(backup *b)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/db", b->work);
    if (mkdir(dir, 0700) != 0)
        return cc_err_set(CC_IO, "mkdir %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < admin_ndbs; i++) {
        char path[256];
        snprintf(path, sizeof path, "db/%s.dump", admin_dbs[i].dbname);
        admin_part *p = new_part(b, path);
        if (!p)
            return cc_err_set(CC_LIMIT, "more than %d parts", MAX_PARTS);
        json_t *info = json_pack("{s:s, s:s, s:s}", "name", admin_dbs[i].dbname, "service",
                                 admin_dbs[i].service, "part", path);
        double t0 = admin_now();
        cc_status st = admin_pg_dump(b->s, i, p->file, info);
        if (st != CC_OK) {
            json_decref(info);
            return st;
        }
        printf("cc-admin: database %s: migration %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
               " outbox rows not yet published (%.2f s)\n",
               admin_dbs[i].dbname, json_integer_value(json_object_get(info, "migration_version")),
               json_integer_value(json_object_get(info, "outbox_unsent")), admin_now() - t0);
        json_array_append_new(b->databases, info);
    }
    return CC_OK;
}

/* Copies the regular files of the secrets folder as parts secrets/NAME. */
static cc_status add_secrets(backup *b)
{
    if (!b->s->with_secrets) {
        json_object_set_new(b->manifest, "secrets", json_false());
        return CC_OK;
    }
    if (!b->s->secrets_dir[0])
        return cc_err_set(CC_INVALID, "--with-secrets needs --secrets-dir");
    DIR *d = opendir(b->s->secrets_dir);
    if (!d)
        return cc_err_set(CC_IO, "%s: %s", b->s->secrets_dir, strerror(errno));
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/secrets", b->work);
    cc_status st = mkdir(dir, 0700) == 0 ? CC_OK : cc_err_set(CC_IO, "mkdir %s", dir);
    struct dirent *e;
    while (st == CC_OK && (e = readdir(d)) != NULL) {
        char src[4400], path[300];
        struct stat sb;
        snprintf(src, sizeof src, "%s/%s", b->s->secrets_dir, e->d_name);
        if (e->d_name[0] == '.' || lstat(src, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        snprintf(path, sizeof path, "secrets/%s", e->d_name);
        admin_part *p = new_part(b, path);
        FILE *in = fopen(src, "rb"), *out = p ? fopen(p->file, "wb") : NULL;
        char buf[8192];
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
        if (!p || !in || !out)
            st = cc_err_set(CC_IO, "secret %s: cannot copy", src);
        if (in)
            fclose(in);
        if (out && fclose(out) != 0)
            st = cc_err_set(CC_IO, "secret %s: cannot copy", src);
    }
    closedir(d);
    json_object_set_new(b->manifest, "secrets", json_true());
    return st;
}

static cc_status finish(backup *b, const char *archive)
{
    json_t *parts = json_array();
    cc_status st = CC_OK;
    for (size_t i = 0; i < b->nparts && st == CC_OK; i++) {
        char hex[65];
        int64_t size = 0;
        if ((st = admin_sha256_file(b->parts[i].file, hex, &size)) == CC_OK)
            json_array_append_new(parts, json_pack("{s:s, s:I, s:s}", "path", b->parts[i].path,
                                                   "size", (json_int_t)size, "sha256", hex));
    }
    json_object_set_new(b->manifest, "parts", parts);
    IFOK(st, admin_archive_write(archive, b->manifest, b->parts, b->nparts));
    return st;
}

/* Retention: the newest keep archives (*.backup, by modification time) of
 * the folder stay, older ones go. */
static int by_mtime_desc(const struct dirent **a, const struct dirent **b);
static char keep_dir[4096];

static void prune(const char *archive, int64_t keep)
{
    snprintf(keep_dir, sizeof keep_dir, "%s", archive);
    char *slash = strrchr(keep_dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(keep_dir, sizeof keep_dir, ".");
    struct dirent **list = NULL;
    int n = scandir(keep_dir, &list, NULL, by_mtime_desc), kept = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list[i]->d_name);
        if (len > 7 && !strcmp(list[i]->d_name + len - 7, ".backup") && ++kept > keep) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", keep_dir, list[i]->d_name);
            if (unlink(path) == 0)
                printf("cc-admin: removed %s (--keep %" PRId64 ")\n", path, keep);
        }
        free(list[i]);
    }
    free(list);
}

static int by_mtime_desc(const struct dirent **a, const struct dirent **b)
{
    char pa[4400], pb[4400];
    struct stat sa = {0}, sb = {0};
    snprintf(pa, sizeof pa, "%s/%s", keep_dir, (*a)->d_name);
    snprintf(pb, sizeof pb, "%s/%s", keep_dir, (*b)->d_name);
    stat(pa, &sa);
    stat(pb, &sb);
    return sa.st_mtime < sb.st_mtime ? 1 : sa.st_mtime > sb.st_mtime ? -1 : strcmp(pb, pa);
}

int admin_backup(const admin_settings *s, const char *archive_arg)
{
    /* The name may hold strftime fields (UTC): one file per run. */
    char archive[4096];
    time_t start = time(NULL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t named = strftime(archive, sizeof archive, archive_arg, gmtime(&start));
#pragma GCC diagnostic pop
    if (named == 0) {
        fprintf(stderr, "cc-admin backup: %s: empty or too long a name\n", archive_arg);
        return 2;
    }
    double t0 = admin_now();
    static backup b;
    memset(&b, 0, sizeof b);
    b.s = s;
    char created[64];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    b.streams = json_array();
    b.databases = json_array();
    b.manifest = json_pack("{s:s, s:s, s:s, s:O, s:O}", "format", "codecourt-backup/1",
                           "codecourt_version", CC_VERSION, "created_at", created, "streams",
                           b.streams, "databases", b.databases);
    cc_status st = admin_workdir(archive, b.work, sizeof b.work);
    IFOK(st, snapshot_streams(&b));
    IFOK(st, dump_databases(&b));
    IFOK(st, add_secrets(&b));
    IFOK(st, finish(&b, archive));
    if (b.work[0])
        admin_rmtree(b.work);
    json_decref(b.streams);
    json_decref(b.databases);
    json_decref(b.manifest);
    if (st != CC_OK) {
        fprintf(stderr, "cc-admin backup: %s\n", cc_err_msg());
        return 1;
    }
    struct stat sb;
    stat(archive, &sb);
    printf("cc-admin: wrote %s: %zu parts, %lld bytes, in %.2f s%s\n", archive, b.nparts,
           (long long)sb.st_size, admin_now() - t0,
           s->with_secrets ? " (secrets included: keep this file as secret as they are)"
                           : " (no secrets: keep them apart, see admin/README.md)");
    if (s->keep > 0)
        prune(archive, s->keep);
    return 0;
}
