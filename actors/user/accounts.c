/* Register, Login, Refresh, Logout: the account and token lifecycle. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/log.h"
#include "user.h"

#define REVOKED_JTI "cc:revoked:jti:"

/* ---- validation (messages name the field: the gateway shows them) ------- */

static bool valid_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

bool user_valid_email(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.'))
        return false;
    if (at[1] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

/* ---- issuing a token pair ------------------------------------------------ */

typedef struct {
    cc_rpc_call *call;
    user_state *st;
    Codecourt__V1__User *user;
    char refresh[44];
    unsigned char hash[32];
    char password_hash[128];
    char family[37];
    unsigned char presented[32]; /* Refresh: the hash of the token presented */
    bool retried;                /* Refresh: the lost-answer step ran */
    bool issued;                 /* Refresh: the step stored c->refresh */
    const char *password;
    const Codecourt__V1__RegisterRequest *reg;
    cc_pg_tx *tx;
} acct_ctx;

/* Answers with a token pair: a new access token for c->user, and
 * c->refresh. */
static void reply_pair(acct_ctx *c)
{
    char *jwt = NULL, jti[33];
    cc_status s = user_jwt_issue(c->st, c->user->id, user_role_name(c->user->role), &jwt, jti);
    if (s != CC_OK) {
        cc_rpc_fail(c->call, s, "%s", cc_err_msg());
        return;
    }
    Codecourt__V1__TokenPair tp = CODECOURT__V1__TOKEN_PAIR__INIT;
    tp.access_token = jwt;
    tp.token_type = "Bearer";
    tp.expires_in = c->st->cfg->access_ttl_ms / 1000;
    tp.refresh_token = c->refresh;
    tp.user = c->user;
    cc_rpc_reply(c->call, &tp.base);
    free(jwt);
}

static void issued(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "store refresh token");
        return;
    }
    reply_pair(c);
}

/* Stores a new refresh token in family (NULL: a new family) and answers
 * with a token pair for c->user. */
static void issue_pair(acct_ctx *c, const char *family)
{
    user_refresh_new(c->refresh, c->hash);
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%lld milliseconds", (long long)c->st->cfg->refresh_ttl_ms);
    cc_pg_param p[] = {CC_PG_BYTES(c->hash, 32), family ? CC_PG_TEXT(family) : CC_PG_NULL,
                       CC_PG_TEXT(c->user->id), CC_PG_TEXT(ttl)};
    cc_status s = cc_pg_query(c->st->pg,
                              "INSERT INTO refresh_tokens (token_hash, family_id, user_id, "
                              "expires_at) VALUES ($1::bytea, COALESCE($2::uuid, "
                              "gen_random_uuid()), $3::uuid, now() + $4::interval)",
                              p, 4, issued, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "store refresh token");
}

static acct_ctx *ctx_new(cc_rpc_call *call, void *actor)
{
    acct_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = user_state_of(actor);
    return c;
}

/* ---- Register ------------------------------------------------------------ */

/* The account and its cc.evt.user.registered event are written in one
 * transaction (the outbox), so the event exists exactly when the account
 * does. */
static void register_committed(cc_status s, const char *errmsg, void *ud)
{
    acct_ctx *c = ud;
    if (s == CC_EXISTS) {
        cc_rpc_fail(c->call, CC_EXISTS, "%s", c->refresh[0] == 'e' ? "email: already registered"
                                                                    : "username: already taken");
        return;
    }
    if (s != CC_OK || !c->user) {
        cc_rpc_fail_db(c->call, s != CC_OK ? s : CC_UNAVAILABLE, errmsg, "register");
        return;
    }
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "user registered", "{s:s, s:s}", "user_id",
           c->user->id, "username", c->user->username);
    cc_rpc_reply(c->call, &c->user->base);
}

/* Runs before the commit is issued, so the outbox row joins the
 * transaction; the commit (or rollback after a failure) is issued here. */
static void registered(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s == CC_EXISTS) {
        /* Which index refused it; refresh[] is unused by Register. */
        const char *con = PQresultErrorField(cc_pg_result_pq(r), PG_DIAG_CONSTRAINT_NAME);
        c->refresh[0] = con && strstr(con, "email") ? 'e' : 'u';
    }
    if (s == CC_OK && cc_pg_nrows(r) == 1)
        c->user = user_from_row(c->call, r, 0);
    if (c->user) {
        Codecourt__V1__UserRegistered ev = CODECOURT__V1__USER_REGISTERED__INIT;
        ev.user_id = c->user->id;
        ev.username = c->user->username;
        ev.email = c->user->email;
        ev.created_at = c->user->created_at;
        size_t len = protobuf_c_message_get_packed_size(&ev.base);
        uint8_t *buf = cc_arena_alloc(cc_rpc_arena(c->call), len ? len : 1);
        char msg_id[64];
        snprintf(msg_id, sizeof msg_id, "registered-%s", c->user->id);
        if (buf)
            protobuf_c_message_pack(&ev.base, buf);
        if (!buf || cc_outbox_add(c->tx, USER_REGISTERED_SUBJECT, cc_rpc_envelope(c->call),
                                  c->user->id, "codecourt.v1.UserRegistered", msg_id, buf, len, NULL,
                                  NULL) != CC_OK) {
            c->user = NULL;
            cc_pg_tx_rollback(c->tx, register_committed, c);
            return;
        }
    }
    cc_pg_tx_commit(c->tx, register_committed, c);
}

static void register_hashed(bool ok, const char *hash, void *ud)
{
    acct_ctx *c = ud;
    const Codecourt__V1__RegisterRequest *rq = c->reg;
    if (!ok) {
        cc_rpc_fail(c->call, CC_INTERNAL, "cannot hash the password");
        return;
    }
    /* The id is made here: the sealed address names its row. */
    char id[37], kid[CC_SEAL_ID_MAX];
    cc_uuid_new(id);
    uint8_t *sealed = NULL, mac[32];
    size_t slen = 0;
    cc_status s = user_email_seal(id, rq->email, &sealed, &slen, kid);
    if (s != CC_OK) {
        cc_rpc_fail(c->call, s, "cannot seal the address: %s", cc_err_msg());
        return;
    }
    user_email_hmac(rq->email, mac);
    s = cc_pg_begin(c->st->pg, &c->tx);
    if (s != CC_OK) {
        free(sealed);
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "register");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(id),  CC_PG_TEXT(rq->username), CC_PG_BYTES(sealed, slen),
                       CC_PG_TEXT(kid), CC_PG_BYTES(mac, 32),     CC_PG_TEXT(hash)};
    s = cc_pg_tx_query(c->tx,
                       "INSERT INTO users (id, username, email_sealed, email_key, email_hmac, "
                       "password_hash) VALUES ($1::uuid, $2, $3::bytea, $4, $5::bytea, $6) "
                       "RETURNING " USER_COLS,
                       p, 6, registered, c);
    free(sealed);
    if (s != CC_OK)
        cc_pg_tx_rollback(c->tx, register_committed, c);
}

void user_register(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__RegisterRequest *rq = (const void *)req;
    if (!valid_username(rq->username)) {
        cc_rpc_fail(call, CC_INVALID, "username: must be 3 to 32 characters of A-Z, a-z, 0-9, "
                                      "'_' or '-'");
        return;
    }
    if (!user_valid_email(rq->email)) {
        cc_rpc_fail(call, CC_INVALID, "email: not a valid address");
        return;
    }
    size_t pl = strlen(rq->password);
    /* bcrypt reads at most 72 bytes: a longer password would be silently
     * cut, so it is refused instead. */
    if (pl < 8 || pl > 72) {
        cc_rpc_fail(call, CC_INVALID, "password: must be 8 to 72 bytes");
        return;
    }
    acct_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    c->reg = rq; /* the request lives as long as the call */
    cc_status s = user_pw_hash(c->st, rq->password, register_hashed, c);
    if (s != CC_OK)
        cc_rpc_fail(call, s, "%s", cc_err_msg());
}

/* ---- Login --------------------------------------------------------------- */

static void login_checked(bool ok, const char *hash, void *ud)
{
    acct_ctx *c = ud;
    if (!ok || !c->user) {
        cc_rpc_fail(c->call, CC_UNAUTHENTICATED, "wrong username or password");
        return;
    }
    if (c->user->disabled) {
        cc_rpc_fail(c->call, CC_DENIED, "account disabled");
        return;
    }
    issue_pair(c, NULL);
}

static void login_found(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "login");
        return;
    }
    const char *hash = NULL;
    if (cc_pg_nrows(r) == 1) {
        c->user = user_from_row(c->call, r, 0);
        snprintf(c->password_hash, sizeof c->password_hash, "%s",
                 cc_pg_get(r, 0, USER_NCOLS));
        hash = c->password_hash;
    }
    /* An unknown name is checked against a dummy hash: same cost, same
     * answer, so names cannot be probed by timing. */
    s = user_pw_check(c->st, c->password, hash, login_checked, c);
    if (s != CC_OK)
        cc_rpc_fail(c->call, s, "%s", cc_err_msg());
}

void user_login(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__LoginRequest *rq = (const void *)req;
    if (!rq->username[0]) {
        cc_rpc_fail(call, CC_INVALID, "username: required");
        return;
    }
    if (!rq->password[0] || strlen(rq->password) > 72) {
        cc_rpc_fail(call, CC_INVALID, "password: required (at most 72 bytes)");
        return;
    }
    acct_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    c->password = rq->password;
    /* A sign-in by address finds it by its lookup hash, never in clear. */
    uint8_t mac[32];
    user_email_hmac(rq->username, mac);
    cc_pg_param p[] = {CC_PG_TEXT(rq->username), CC_PG_BYTES(mac, 32)};
    cc_status s = cc_pg_query(c->st->pg,
                              "SELECT " USER_COLS ", password_hash FROM users WHERE "
                              "lower(username) = lower($1) OR email_hmac = $2::bytea LIMIT 1",
                              p, 2, login_found, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "login");
}

/* ---- Refresh -------------------------------------------------------------
 * A refresh token is single use: the refresh marks it used and issues its
 * successor in the same family, and a used token presented again means
 * someone holds a copy, so the whole family is revoked (RFC 9700 section
 * 4.14.2). But a client can miss the answer after the server has rotated:
 * a browser tab that navigates or reloads while its refresh is in flight
 * cancels the request, the rotated cookie in the answer is not stored,
 * and the next page presents the used token again (a dropped connection
 * does the same to any client). Revoking the family then signs the user
 * out for nothing. So three rules, for a family whose tokens were issued
 * from one another:
 *  - rotate: a live token is marked used, every other live token of its
 *    family is revoked, and its successor is issued;
 *  - retry: a used token presented again within `refresh-grace` of its
 *    use, while no token of its family has been used since, gets another
 *    successor beside the first, which stays live too: the answer that
 *    seemed lost may still land (a cancelled request's Set-Cookie can be
 *    stored after the next page sent the old cookie), so the client ends
 *    with one or the other, and using either revokes the rest (rotate);
 *  - anything else used or revoked revokes the family: a used token after
 *    the grace or after a later use, and a revoked one (a successor left
 *    behind when its sibling was used), since a client holds one cookie
 *    and moves on with it, so an old one turning up means a copy.
 * This is the grace period of Okta's and Ory Hydra's refresh rotation
 * ("reuse interval" in Auth0). Two holders of one family cannot both go
 * on: each rotation revokes the other's live token, whose next use then
 * revokes the family.
 *
 * Each step runs in a transaction that first takes an advisory lock on
 * the family, so the steps of one family never interleave (in READ
 * COMMITTED a statement that waited for a row lock does not see rows
 * inserted meanwhile, so a retry racing a rotation could otherwise leave
 * a successor the rotation did not revoke). The statements of a step are
 * sent at once: one round trip. */

/* The family's lock: two int4 keys, a space apart from the bigint keys of
 * the migrations' lock; the first names these locks (0x52524546, "RREF"),
 * the second is hashtext of the family (two families sharing a hash only
 * wait for each other). */
#define FAMILY_LOCK                                                                                \
    "SELECT pg_advisory_xact_lock(1381123398, hashtext(family_id::text)) FROM refresh_tokens "     \
    "WHERE token_hash = $1::bytea"
#define U_USER_COLS                                                                                \
    "u.id::text, u.username, u.email_sealed, u.role, u.disabled, u.display_name, u.bio, "          \
    "u.preferences::text, extract(epoch from u.created_at)::bigint, u.email_key"

static void refresh_step(acct_ctx *c);

static void family_revoked(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s == CC_OK && cc_pg_nrows(r) > 0)
        cc_log(CC_LOG_WARN, cc_rpc_envelope(c->call),
               "refresh token reused: its family is revoked", "{s:s, s:i}", "family",
               cc_pg_get(r, 0, 0), "tokens_revoked", cc_pg_nrows(r));
    else if (s != CC_OK)
        cc_log(CC_LOG_ERROR, cc_rpc_envelope(c->call), "cannot revoke a family", "{s:s}",
               "error", errmsg ? errmsg : "");
    cc_rpc_fail(c->call, CC_UNAUTHENTICATED, "refresh token is invalid, expired or already used");
}

/* Neither rotatable nor a retry. If it was used or revoked, someone holds
 * a copy: revoke the whole family, the legitimate client's newest token
 * included. */
static void refresh_refused(acct_ctx *c)
{
    cc_pg_param p[] = {CC_PG_BYTES(c->presented, 32)};
    cc_status s = cc_pg_query(
        c->st->pg,
        "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = "
        "(SELECT family_id FROM refresh_tokens WHERE token_hash = $1::bytea AND (used_at IS NOT "
        "NULL OR revoked_at IS NOT NULL)) RETURNING family_id::text",
        p, 1, family_revoked, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "refresh");
}

/* The step's statement: the user and family when it issued c->refresh. */
static void refresh_row(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK || cc_pg_nrows(r) != 1)
        return; /* the commit reports a failure; no row: not this step */
    c->issued = true;
    c->user = user_from_row(c->call, r, 0);
    if (c->user)
        snprintf(c->family, sizeof c->family, "%s", cc_pg_get(r, 0, USER_NCOLS));
}

static void refresh_done(cc_status s, const char *errmsg, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "refresh");
        return;
    }
    if (c->issued && !c->user) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    if (c->issued) {
        if (c->retried)
            cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call),
                   "refresh token presented again within the grace: another successor issued",
                   "{s:s}", "family", c->family);
        reply_pair(c);
        return;
    }
    if (!c->retried && c->st->cfg->refresh_grace_ms > 0) {
        c->retried = true;
        refresh_step(c);
        return;
    }
    refresh_refused(c);
}

/* One transaction: the family's lock, then the rotation (a live token
 * marked used, the family's other live tokens revoked, its successor
 * stored: one statement) or, when that matched nothing, the retry (another
 * successor for a used token). */
static void refresh_step(acct_ctx *c)
{
    static const char rotate[] =
        "WITH t AS (UPDATE refresh_tokens t SET used_at = now() FROM users u WHERE t.token_hash "
        "= $1::bytea AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > now() AND "
        "u.id = t.user_id AND NOT u.disabled RETURNING " U_USER_COLS ", t.family_id::text), "
        "r AS (UPDATE refresh_tokens s SET revoked_at = now() FROM t WHERE s.family_id = "
        "t.family_id::uuid AND s.token_hash <> $1::bytea AND s.used_at IS NULL AND s.revoked_at "
        "IS NULL), "
        "i AS (INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) SELECT "
        "$2::bytea, family_id::uuid, id::uuid, now() + $3::interval FROM t) SELECT * FROM t";
    static const char retry[] =
        "WITH x AS (SELECT t.family_id, t.user_id FROM refresh_tokens t JOIN users u ON u.id = "
        "t.user_id WHERE t.token_hash = $1::bytea AND t.revoked_at IS NULL AND t.expires_at > "
        "now() AND t.used_at > now() - $4::interval AND NOT u.disabled AND NOT EXISTS (SELECT 1 "
        "FROM refresh_tokens n WHERE n.family_id = t.family_id AND n.used_at > t.used_at)), "
        "i AS (INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) SELECT "
        "$2::bytea, family_id, user_id, now() + $3::interval FROM x) "
        "SELECT " U_USER_COLS ", x.family_id::text FROM x JOIN users u ON u.id = x.user_id";
    char ttl[32], grace[32];
    snprintf(ttl, sizeof ttl, "%lld milliseconds", (long long)c->st->cfg->refresh_ttl_ms);
    snprintf(grace, sizeof grace, "%lld milliseconds", (long long)c->st->cfg->refresh_grace_ms);
    user_refresh_new(c->refresh, c->hash);
    cc_pg_param p[] = {CC_PG_BYTES(c->presented, 32), CC_PG_BYTES(c->hash, 32), CC_PG_TEXT(ttl),
                       CC_PG_TEXT(grace)};
    cc_pg_tx *tx;
    cc_status s = cc_pg_begin(c->st->pg, &tx);
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "refresh");
        return;
    }
    if ((s = cc_pg_tx_query(tx, FAMILY_LOCK, p, 1, NULL, NULL)) == CC_OK)
        s = c->retried ? cc_pg_tx_query(tx, retry, p, 4, refresh_row, c)
                       : cc_pg_tx_query(tx, rotate, p, 3, refresh_row, c);
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "refresh");
        cc_pg_tx_rollback(tx, NULL, NULL);
        return;
    }
    cc_pg_tx_commit(tx, refresh_done, c);
}

void user_refresh(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__RefreshRequest *rq = (const void *)req;
    if (!rq->refresh_token[0] || strlen(rq->refresh_token) > 128) {
        cc_rpc_fail(call, CC_INVALID, "refreshToken: required");
        return;
    }
    acct_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    user_refresh_hash(rq->refresh_token, c->presented);
    refresh_step(c);
}

/* ---- Logout -------------------------------------------------------------- */

typedef struct {
    cc_rpc_call *call;
    int pending;
    cc_status failed;
} logout_ctx;

static void logout_step_done(logout_ctx *c, cc_status s)
{
    if (s != CC_OK && c->failed == CC_OK)
        c->failed = s;
    if (--c->pending > 0)
        return;
    if (c->failed != CC_OK) {
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "logout: could not revoke every token; retry");
        return;
    }
    Codecourt__V1__Empty e = CODECOURT__V1__EMPTY__INIT;
    cc_rpc_reply(c->call, &e.base);
}

static void logout_pg(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    logout_step_done(ud, s);
}

static void logout_redis(cc_status s, const char *errmsg, const redisReply *reply, void *ud)
{
    logout_step_done(ud, s);
}

void user_logout(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__LogoutRequest *rq = (const void *)req;
    user_state *st = user_state_of(actor);
    const char *uid = cc_rpc_principal(call)->id; /* CC_RPC_AUTH: never "" */
    logout_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    *c = (logout_ctx){.call = call, .pending = 1, .failed = CC_OK};
    if (rq->refresh_token[0]) {
        unsigned char h[32];
        user_refresh_hash(rq->refresh_token, h);
        cc_pg_param p[] = {CC_PG_BYTES(h, 32), CC_PG_TEXT(uid)};
        c->pending++;
        cc_status s = cc_pg_query(st->pg,
                                  "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at "
                                  "IS NULL AND family_id = (SELECT family_id FROM refresh_tokens "
                                  "WHERE token_hash = $1::bytea AND user_id = $2::uuid)",
                                  p, 2, logout_pg, c);
        if (s != CC_OK)
            logout_step_done(c, s);
    }
    /* The access token stays valid by signature until it expires, so its
     * id is listed as revoked in Redis for exactly that long. */
    if (rq->token_id[0] && strlen(rq->token_id) <= 64) {
        long left = (long)(rq->token_exp - (int64_t)time(NULL));
        if (left < 1)
            left = 1;
        char key[96], ttl[24];
        snprintf(key, sizeof key, REVOKED_JTI "%s", rq->token_id);
        snprintf(ttl, sizeof ttl, "%ld", left + 5);
        const char *argv[] = {"SET", key, "1", "EX", ttl};
        c->pending++;
        cc_status s = cc_redis_command(st->redis, 5, argv, NULL, logout_redis, c);
        if (s != CC_OK)
            logout_step_done(c, s);
    }
    logout_step_done(c, CC_OK);
}
