/* The data keys in a service's database (cc_data_keys), and sealing a
 * table's rows: values from before encryption, and rotation to a new key
 * (cc/seal.h). Blocking libpq: used at start and by rotate-keys, never on
 * a loop that serves, except cc_keyring_refresh (cc_pg). */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cc/buf.h"
#include "cc/log.h"
#include "cc/seal.h"

#define KEYS_SELECT                                                                                \
    "SELECT id, wrapped, (extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint "     \
    "FROM cc_data_keys ORDER BY created_at, id"

static cc_status pq_fail(PGconn *c, PGresult *r, const char *what)
{
    cc_status s =
        cc_err_set(CC_UNAVAILABLE, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return s;
}

static cc_status exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return pq_fail(c, r, sql);
    PQclear(r);
    return CC_OK;
}

/* Adds every row of r (id, wrapped[, age]) and makes the last current. */
static cc_status add_rows(cc_keyring *kr, PGresult *r, int64_t *age)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        unsigned char *w = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 1), &len);
        if (!w)
            return cc_err_set(CC_NOMEM, "out of memory");
        cc_status s = cc_keyring_add_wrapped(kr, PQgetvalue(r, i, 0), w, len);
        PQfreemem(w);
        if (s != CC_OK)
            return s;
    }
    if (n && age)
        *age = strtoll(PQgetvalue(r, n - 1, 2), NULL, 10);
    return n ? cc_keyring_set_current(kr, PQgetvalue(r, n - 1, 0)) : CC_OK;
}

static cc_status insert_key(cc_keyring *kr, PGconn *c)
{
    char id[CC_SEAL_ID_MAX];
    uint8_t *w = NULL;
    size_t wl = 0;
    cc_status s = cc_keyring_generate(kr, id, &w, &wl);
    if (s != CC_OK)
        return s;
    const char *vals[2] = {id, (const char *)w};
    int lens[2] = {0, (int)wl}, fmts[2] = {0, 1};
    PGresult *r = PQexecParams(c, "INSERT INTO cc_data_keys (id, wrapped) VALUES ($1, $2)", 2, NULL,
                               vals, lens, fmts, 0);
    free(w);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pq_fail(c, r, "store a new data key");
    PQclear(r);
    return CC_OK;
}

cc_status cc_keyring_load(cc_keyring *kr, PGconn *c, int64_t *current_age_ms)
{
    PGresult *r = PQexec(c, KEYS_SELECT);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pq_fail(c, r, "read the data keys");
    if (PQntuples(r) == 0) {
        /* The first start: two replicas may both make a key; the newest
         * wins for both once each reads the table again. */
        PQclear(r);
        cc_status s = insert_key(kr, c);
        if (s != CC_OK)
            return s;
        r = PQexec(c, KEYS_SELECT);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            return pq_fail(c, r, "read the data keys");
    }
    cc_status s = add_rows(kr, r, current_age_ms);
    PQclear(r);
    return s;
}

/* ---- sealing a table's rows ---------------------------------------------------- */

/* The WHERE of the values a pass still has to seal; $1 is the current key. */
static void pending_where(cc_buf *b, const cc_seal_table *t, bool legacy_only)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const cc_seal_column *col = &t->cols[i];
        cc_buf_printf(b, "%s(", i ? " OR " : "");
        if (col->plain)
            cc_buf_printf(b, "%s IS NOT NULL", col->plain);
        if (!legacy_only)
            cc_buf_printf(b, "%s(%s IS NOT NULL AND %s IS DISTINCT FROM $1)",
                          col->plain ? " OR " : "", col->sealed, col->key);
        else if (!col->plain)
            cc_buf_printf(b, "false");
        cc_buf_printf(b, ")");
    }
}

/* The plaintext of column i of row: from the plaintext column, or opened
 * from its current key. *out malloc'd. */
static cc_status value_of(const cc_keyring *kr, const cc_seal_table *t, size_t i, PGresult *r,
                          int row, const char *aad, size_t aadlen, uint8_t **out, size_t *len)
{
    const cc_seal_column *col = &t->cols[i];
    int base = 1 + 3 * (int)i; /* key, sealed, plain */
    if (col->plain && !PQgetisnull(r, row, base + 2)) {
        const char *v = PQgetvalue(r, row, base + 2);
        if (col->plain_is_text) {
            *len = (size_t)PQgetlength(r, row, base + 2);
            *out = malloc(*len + 1);
            if (!*out)
                return cc_err_set(CC_NOMEM, "out of memory");
            memcpy(*out, v, *len + 1);
            return CC_OK;
        }
        unsigned char *u = PQunescapeBytea((const unsigned char *)v, len);
        *out = u ? malloc(*len ? *len : 1) : NULL;
        if (*out)
            memcpy(*out, u, *len);
        PQfreemem(u);
        return *out ? CC_OK : cc_err_set(CC_NOMEM, "out of memory");
    }
    size_t slen = 0;
    unsigned char *sealed =
        PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, base + 1), &slen);
    if (!sealed)
        return cc_err_set(CC_NOMEM, "out of memory");
    *out = malloc(slen ? slen : 1);
    cc_status s = *out ? cc_open(kr, PQgetvalue(r, row, base), aad, aadlen, sealed, slen, *out, len)
                       : cc_err_set(CC_NOMEM, "out of memory");
    PQfreemem(sealed);
    if (s != CC_OK) {
        free(*out);
        *out = NULL;
        return cc_err_set(s, "%s %s, %s: %s", t->table, PQgetvalue(r, row, 0), col->sealed,
                          cc_err_msg());
    }
    return CC_OK;
}

static bool needs(const cc_seal_column *col, PGresult *r, int row, int base, const char *cur,
                  bool legacy_only)
{
    if (col->plain && !PQgetisnull(r, row, base + 2))
        return true;
    return !legacy_only && !PQgetisnull(r, row, base + 1) &&
           (PQgetisnull(r, row, base) || strcmp(PQgetvalue(r, row, base), cur) != 0);
}

/* Seals what row needs and writes it back (one UPDATE). */
static cc_status seal_row(PGconn *c, const cc_keyring *kr, const cc_seal_table *t, PGresult *r,
                          int row, bool legacy_only, int64_t *values)
{
    const char *cur = cc_keyring_current(kr);
    const char *vals[1 + 4 * 8];
    int lens[1 + 4 * 8], fmts[1 + 4 * 8];
    void *owned[4 * 8];
    int np = 0, nowned = 0;
    cc_buf set = CC_BUF_INIT;
    vals[np] = PQgetvalue(r, row, 0), lens[np] = 0, fmts[np++] = 0;
    cc_status s = t->ncols <= 8 ? CC_OK : cc_err_set(CC_LIMIT, "at most 8 sealed columns");
    for (size_t i = 0; i < t->ncols && s == CC_OK; i++) {
        const cc_seal_column *col = &t->cols[i];
        if (!needs(col, r, row, 1 + 3 * (int)i, cur, legacy_only))
            continue;
        char aad[256];
        size_t aadlen = cc_seal_aad(aad, sizeof aad, t->table, PQgetvalue(r, row, 0), col->sealed);
        uint8_t *plain = NULL;
        size_t len = 0;
        s = aadlen ? value_of(kr, t, i, r, row, aad, aadlen, &plain, &len)
                   : cc_err_set(CC_LIMIT, "row id too long");
        uint8_t *out = s == CC_OK ? malloc(len + CC_SEAL_OVERHEAD) : NULL;
        char kid[CC_SEAL_ID_MAX];
        if (s == CC_OK && !out)
            s = cc_err_set(CC_NOMEM, "out of memory");
        IFOK(s, cc_seal(kr, aad, aadlen, plain, len, out, kid));
        if (s == CC_OK && col->hmac && col->plain && !PQgetisnull(r, row, 1 + 3 * (int)i + 2)) {
            /* A row from before sealing has no lookup hash yet. */
            for (size_t k = 0; k < len; k++)
                plain[k] = (uint8_t)(plain[k] >= 'A' && plain[k] <= 'Z' ? plain[k] + 32 : plain[k]);
            uint8_t *h = malloc(32);
            if (h) {
                cc_keyring_hmac(kr, plain, len, h);
                owned[nowned++] = h;
                vals[np] = (const char *)h, lens[np] = 32, fmts[np++] = 1;
                cc_buf_printf(&set, "%s = $%d, ", col->hmac, np);
            } else {
                s = cc_err_set(CC_NOMEM, "out of memory");
            }
        }
        if (plain)
            OPENSSL_cleanse(plain, len);
        free(plain);
        if (s != CC_OK) {
            free(out);
            break;
        }
        owned[nowned++] = out;
        vals[np] = (const char *)out, lens[np] = (int)(len + CC_SEAL_OVERHEAD), fmts[np++] = 1;
        cc_buf_printf(&set, "%s = $%d, %s = '%s'", col->sealed, np, col->key, kid);
        if (col->plain)
            cc_buf_printf(&set, ", %s = NULL", col->plain);
        cc_buf_printf(&set, ", ");
        (*values)++;
    }
    if (s == CC_OK && set.oom)
        s = cc_err_set(CC_NOMEM, "out of memory");
    if (s == CC_OK && set.len) {
        set.len -= 2; /* the last ", " */
        cc_buf sql = CC_BUF_INIT;
        cc_buf_printf(&sql, "UPDATE %s SET %.*s WHERE %s = $1", t->table, (int)set.len, set.p,
                      t->id);
        PGresult *u = PQexecParams(c, sql.p, np, NULL, vals, lens, fmts, 0);
        if (PQresultStatus(u) != PGRES_COMMAND_OK)
            s = pq_fail(c, u, "write a sealed row");
        else
            PQclear(u);
        cc_buf_free(&sql);
    }
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    cc_buf_free(&set);
    return s;
}

static cc_status one_batch(PGconn *c, const cc_keyring *kr, const cc_seal_table *t, cc_seal_pass *p,
                           int *found)
{
    cc_buf sql = CC_BUF_INIT;
    cc_buf_printf(&sql, "SELECT %s::text", t->id);
    for (size_t i = 0; i < t->ncols; i++)
        cc_buf_printf(&sql, ", %s, %s, %s", t->cols[i].key, t->cols[i].sealed,
                      t->cols[i].plain ? t->cols[i].plain : "NULL");
    cc_buf_printf(&sql, " FROM %s WHERE ", t->table);
    pending_where(&sql, t, p->legacy_only);
    /* SKIP LOCKED: a row the service is writing now is taken by a later
     * batch, so neither waits for the other. */
    cc_buf_printf(&sql, " ORDER BY %s LIMIT %d FOR UPDATE SKIP LOCKED", t->id, p->batch);
    const char *cur = cc_keyring_current(kr);
    cc_status s = exec_ok(c, "BEGIN");
    PGresult *r = NULL;
    if (s == CC_OK) {
        r = PQexecParams(c, sql.p, p->legacy_only ? 0 : 1, NULL, &cur, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            s = pq_fail(c, r, "read rows to seal");
            r = NULL;
        }
    }
    cc_buf_free(&sql);
    *found = r ? PQntuples(r) : 0;
    for (int i = 0; i < *found && s == CC_OK; i++)
        s = seal_row(c, kr, t, r, i, p->legacy_only, &p->values);
    PQclear(r);
    if (s == CC_OK) {
        s = exec_ok(c, "COMMIT");
        if (s == CC_OK)
            p->rows += *found;
    } else {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cc_err_msg());
        PQclear(PQexec(c, "ROLLBACK"));
        cc_err_set(s, "%s", msg);
    }
    return s;
}

/* Rows still to seal, locked or not. */
static cc_status pending(PGconn *c, const cc_keyring *kr, const cc_seal_table *t, bool legacy_only,
                         int64_t *n)
{
    cc_buf sql = CC_BUF_INIT;
    cc_buf_printf(&sql, "SELECT count(*) FROM %s WHERE ", t->table);
    pending_where(&sql, t, legacy_only);
    const char *cur = cc_keyring_current(kr);
    PGresult *r = PQexecParams(c, sql.p, legacy_only ? 0 : 1, NULL, &cur, NULL, NULL, 0);
    cc_buf_free(&sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pq_fail(c, r, "count rows to seal");
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return CC_OK;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

cc_status cc_seal_table_pass(PGconn *c, const cc_keyring *kr, const cc_seal_table *t,
                             cc_seal_pass *p)
{
    if (p->batch < 1)
        p->batch = 500;
    for (;;) {
        int found = 0;
        cc_status s = one_batch(c, kr, t, p, &found);
        if (s != CC_OK)
            return s;
        if (found)
            continue;
        /* Nothing unlocked is left: done once nothing locked is either. */
        int64_t left = 0;
        s = pending(c, kr, t, p->legacy_only, &left);
        if (s != CC_OK || left == 0)
            return s;
        sleep_ms(50);
    }
}

/* ---- rotate-keys ----------------------------------------------------------------- */

cc_status cc_seal_rotate(const char *conninfo, const cc_seal_settings *cfg,
                         const cc_seal_table *tables, size_t ntables, int batch)
{
    uint8_t master[CC_SEAL_KEY_BYTES];
    cc_status s = cc_seal_master_load(cfg, master);
    if (s != CC_OK)
        return s;
    cc_keyring *kr = cc_keyring_new(master);
    OPENSSL_cleanse(master, sizeof master);
    if (!kr)
        return cc_err_set(CC_NOMEM, "out of memory");
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        s = pq_fail(c, NULL, "connect");
    int64_t age = 0;
    IFOK(s, cc_keyring_load(kr, c, &age));
    int64_t left = 0;
    for (size_t i = 0; i < ntables && s == CC_OK; i++) {
        int64_t n = 0;
        s = pending(c, kr, &tables[i], false, &n);
        left += n;
    }
    if (s == CC_OK && left == 0) {
        s = insert_key(kr, c);
        /* Read back so the current key is the table's newest, as the
         * service will see it. */
        IFOK(s, cc_keyring_load(kr, c, &age));
        if (s == CC_OK)
            printf("rotate-keys: new data key %s\n", cc_keyring_current(kr));
    } else if (s == CC_OK) {
        printf("rotate-keys: resuming: %" PRId64 " rows are not under data key %s yet\n", left,
               cc_keyring_current(kr));
    }
    fflush(stdout);
    /* A replica that has not read the new key could not open a row sealed
     * under it. */
    if (s == CC_OK && age < 2 * cfg->key_refresh_ms)
        sleep_ms(2 * cfg->key_refresh_ms - age);
    for (size_t i = 0; i < ntables && s == CC_OK; i++) {
        cc_seal_pass p = {.batch = batch};
        s = cc_seal_table_pass(c, kr, &tables[i], &p);
        /* A write that sealed under the old key just before its replica
         * read the new one may commit after the pass: look once more. */
        if (s == CC_OK) {
            sleep_ms(1000);
            s = cc_seal_table_pass(c, kr, &tables[i], &p);
        }
        if (s == CC_OK)
            printf("rotate-keys: %s: %" PRId64 " rows, %" PRId64 " values sealed under %s\n",
                   tables[i].table, p.rows, p.values, cc_keyring_current(kr));
        fflush(stdout);
    }
    PQfinish(c);
    cc_keyring_free(kr);
    return s;
}

/* ---- values in rows ------------------------------------------------------------- */

cc_status cc_seal_value(const cc_keyring *kr, const char *table, const char *id, const char *col,
                        const void *plain, size_t len, uint8_t **out, size_t *outlen,
                        char key_id[CC_SEAL_ID_MAX])
{
    char aad[256];
    size_t al = cc_seal_aad(aad, sizeof aad, table, id, col);
    if (!al)
        return cc_err_set(CC_LIMIT, "seal: %s row id too long", table);
    uint8_t *o = malloc(len + CC_SEAL_OVERHEAD);
    if (!o)
        return cc_err_set(CC_NOMEM, "out of memory");
    cc_status s = cc_seal(kr, aad, al, plain, len, o, key_id);
    if (s != CC_OK) {
        free(o);
        return s;
    }
    *out = o;
    *outlen = len + CC_SEAL_OVERHEAD;
    return CC_OK;
}

cc_status cc_open_pg(const cc_keyring *kr, const char *table, const char *id, const char *col,
                     const cc_pg_result *r, int row, int sealed_col, int key_col, uint8_t **out,
                     size_t *len)
{
    if (cc_pg_isnull(r, row, sealed_col))
        return CC_NOT_FOUND;
    char aad[256];
    size_t al = cc_seal_aad(aad, sizeof aad, table, id, col);
    unsigned char *sealed = NULL;
    size_t slen = 0;
    cc_status s = al ? cc_pg_get_bytea(r, row, sealed_col, &sealed, &slen)
                     : cc_err_set(CC_LIMIT, "open: %s row id too long", table);
    uint8_t *o = s == CC_OK ? malloc(slen ? slen : 1) : NULL;
    if (s == CC_OK && !o)
        s = cc_err_set(CC_NOMEM, "out of memory");
    IFOK(s, cc_open(kr, cc_pg_isnull(r, row, key_col) ? "" : cc_pg_get(r, row, key_col), aad, al,
                    sealed, slen, o, len));
    free(sealed);
    if (s != CC_OK) {
        free(o);
        return cc_err_set(s == CC_NOT_FOUND ? CC_INTERNAL : s, "%s %s, %s: %s", table, id, col,
                          cc_err_msg());
    }
    *out = o;
    return CC_OK;
}

/* ---- a service's keys ----------------------------------------------------------- */

struct cc_seal_service {
    cc_keyring *keys;
    cc_pg *pg;
    uv_timer_t timer;
    bool inflight; /* a read of the keys is running */
    bool stopped;  /* freed by whichever of the close and the read ends last */
    bool closed;
};

static void service_free(cc_seal_service *s)
{
    cc_keyring_free(s->keys);
    free(s);
}

static void refreshed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_seal_service *svc = ud;
    svc->inflight = false;
    if (svc->stopped) {
        if (svc->closed)
            service_free(svc);
        return;
    }
    if (s == CC_OK) {
        /* cc_pg_result is libpq's result: add_rows reads it as is. */
        s = add_rows(svc->keys, (PGresult *)cc_pg_result_pq(r), NULL);
        errmsg = s == CC_OK ? NULL : cc_err_msg();
    }
    if (s != CC_OK)
        cc_log(CC_LOG_WARN, NULL, "cannot read the data keys again", "{s:s}", "error",
               errmsg ? errmsg : cc_status_str(s));
}

static void on_refresh(uv_timer_t *t)
{
    cc_seal_service *s = t->data;
    if (s->inflight || !s->pg || !cc_pg_ready(s->pg))
        return;
    if (cc_pg_query(s->pg, KEYS_SELECT, NULL, 0, refreshed, s) == CC_OK)
        s->inflight = true;
}

cc_status cc_seal_service_start(uv_loop_t *loop, cc_pg *pg, const char *conninfo,
                                const cc_seal_settings *cfg, const cc_seal_table *tables,
                                size_t ntables, cc_seal_service **out)
{
    uint8_t master[CC_SEAL_KEY_BYTES];
    cc_status s = cc_seal_master_load(cfg, master);
    if (s != CC_OK)
        return s;
    cc_seal_service *svc = calloc(1, sizeof *svc);
    if (svc)
        svc->keys = cc_keyring_new(master);
    OPENSSL_cleanse(master, sizeof master);
    if (!svc || !svc->keys) {
        free(svc);
        return cc_err_set(CC_NOMEM, "out of memory");
    }
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        s = pq_fail(c, NULL, "data keys: connect");
    IFOK(s, cc_keyring_load(svc->keys, c, NULL));
    for (size_t i = 0; i < ntables && s == CC_OK; i++) {
        cc_seal_pass p = {.batch = 500, .legacy_only = true};
        s = cc_seal_table_pass(c, svc->keys, &tables[i], &p);
        if (s == CC_OK && p.rows)
            cc_log(CC_LOG_INFO, NULL, "sealed rows written before encryption", "{s:s, s:I}",
                   "table", tables[i].table, "rows", (json_int_t)p.rows);
    }
    PQfinish(c);
    if (s != CC_OK) {
        cc_keyring_free(svc->keys);
        free(svc);
        return s;
    }
    svc->pg = pg;
    uv_timer_init(loop, &svc->timer);
    svc->timer.data = svc;
    uv_timer_start(&svc->timer, on_refresh, (uint64_t)cfg->key_refresh_ms,
                   (uint64_t)cfg->key_refresh_ms);
    /* The timer alone must not keep a draining loop alive. */
    uv_unref((uv_handle_t *)&svc->timer);
    *out = svc;
    return CC_OK;
}

const cc_keyring *cc_seal_service_keys(const cc_seal_service *s)
{
    return s->keys;
}

static void service_closed(uv_handle_t *h)
{
    cc_seal_service *s = h->data;
    s->closed = true;
    if (!s->inflight)
        service_free(s);
}

void cc_seal_service_stop(cc_seal_service *s)
{
    if (!s)
        return;
    s->pg = NULL;
    s->stopped = true;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, service_closed);
}
