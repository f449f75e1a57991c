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
    const char *password;
    const Codecourt__V1__RegisterRequest *reg;
    cc_pg_tx *tx;
} acct_ctx;

static void issued(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "store refresh token");
        return;
    }
    char *jwt = NULL, jti[33];
    s = user_jwt_issue(c->st, c->user->id, user_role_name(c->user->role), &jwt, jti);
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

/* ---- Refresh ------------------------------------------------------------- */

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

static void rotated(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    acct_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "refresh");
        return;
    }
    if (cc_pg_nrows(r) == 1) {
        c->user = user_from_row(c->call, r, 0);
        if (!c->user) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
        snprintf(c->family, sizeof c->family, "%s", cc_pg_get(r, 0, USER_NCOLS));
        issue_pair(c, c->family);
        return;
    }
    /* Not rotatable. If it was already used, someone holds a copy: revoke
     * the whole family, the legitimate client's newest token included
     * (RFC 9700 section 4.14.2). Two clients racing with the same token
     * land here too: exactly one wins the UPDATE above. */
    cc_pg_param p[] = {CC_PG_BYTES(c->hash, 32)};
    s = cc_pg_query(c->st->pg,
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND "
                    "family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = "
                    "$1::bytea AND used_at IS NOT NULL) RETURNING family_id::text",
                    p, 1, family_revoked, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "refresh");
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
    user_refresh_hash(rq->refresh_token, c->hash);
    cc_pg_param p[] = {CC_PG_BYTES(c->hash, 32)};
    /* One statement marks the token used only if it is live and its user
     * is enabled, so concurrent refreshes cannot both succeed. */
    cc_status s = cc_pg_query(
        c->st->pg,
        "UPDATE refresh_tokens t SET used_at = now() FROM users u WHERE t.token_hash = $1::bytea "
        "AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > now() AND u.id = "
        "t.user_id AND NOT u.disabled RETURNING u.id::text, u.username, u.email_sealed, u.role, "
        "u.disabled, u.display_name, u.bio, u.preferences::text, extract(epoch from "
        "u.created_at)::bigint, u.email_key, t.family_id::text",
        p, 1, rotated, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "refresh");
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
