/* ListUsers, SetRole, SetDisabled: for admins only. The role comes from
 * the principal the gateway took from a verified token; the gateway only
 * authenticates, each actor checks roles itself. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cc/log.h"
#include "user.h"

#define REVOKED_USER "cc:revoked:user:"

/* The methods here are CC_RPC_AUTH: the caller is signed in, and
 * cc_rpc_require_admin turns away all but admins. */

static bool valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* ---- ListUsers ----------------------------------------------------------- */

typedef struct {
    cc_rpc_call *call;
    int limit;
} list_ctx;

static void listed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "list users");
        return;
    }
    int n = cc_pg_nrows(r);
    bool more = n > c->limit;
    if (more)
        n = c->limit;
    Codecourt__V1__UserList out = CODECOURT__V1__USER_LIST__INIT;
    out.users = cc_arena_alloc(cc_rpc_arena(c->call), sizeof *out.users * (size_t)(n ? n : 1));
    if (!out.users) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        out.users[i] = user_from_row(c->call, r, i);
        if (!out.users[i]) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
    }
    out.n_users = (size_t)n;
    /* Keyset pagination on the lowercased name: stable under inserts. */
    out.next_page_token = more ? cc_arena_strdup(cc_rpc_arena(c->call), cc_pg_get(r, n - 1, USER_NCOLS))
                               : "";
    cc_rpc_reply(c->call, &out.base);
}

void user_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListUsersRequest *rq = (const void *)req;
    if (!cc_rpc_require_admin(call, "admins only"))
        return;
    if (rq->page_size < 0 || rq->page_size > 100) {
        cc_rpc_fail(call, CC_INVALID, "pageSize: must be 1 to 100");
        return;
    }
    list_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->limit = rq->page_size ? rq->page_size : 50;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", c->limit + 1);
    cc_pg_param p[] = {CC_PG_TEXT(rq->page_token), CC_PG_TEXT(lim)};
    cc_status s = cc_pg_query(user_state_of(actor)->pg,
                              "SELECT " USER_COLS ", lower(username) FROM users WHERE "
                              "lower(username) > $1 ORDER BY lower(username) LIMIT $2::int",
                              p, 2, listed, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list users");
}

/* ---- SetRole ------------------------------------------------------------- */

static void one_user(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (!cc_rpc_one_row(call, s, errmsg, r, "update user", "userId: no such user"))
        return;
    Codecourt__V1__User *u = user_from_row(call, r, 0);
    if (!u) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    user_cache_forget(u->id);
    cc_log(CC_LOG_INFO, cc_rpc_envelope(call), "user changed by an admin", "{s:s, s:s, s:b}",
           "user_id", u->id, "role", user_role_name(u->role), "disabled", (int)u->disabled);
    cc_rpc_reply(call, &u->base);
}

void user_set_role(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__SetRoleRequest *rq = (const void *)req;
    const char *uid = cc_rpc_principal(call)->id;
    if (!cc_rpc_require_admin(call, "admins only"))
        return;
    if (!valid_uuid(rq->user_id)) {
        cc_rpc_fail(call, CC_INVALID, "userId: not a user id");
        return;
    }
    const char *role = user_role_name(rq->role);
    if (!role) {
        cc_rpc_fail(call, CC_INVALID, "role: must be ROLE_USER, ROLE_SETTER or ROLE_ADMIN");
        return;
    }
    /* An admin cannot demote themselves: the last admin would lock
     * everyone out. */
    if (strcmp(rq->user_id, uid) == 0 && rq->role != CODECOURT__V1__ROLE__ROLE_ADMIN) {
        cc_rpc_fail(call, CC_UNPROCESSABLE, "userId: an admin cannot demote themselves");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->user_id), CC_PG_TEXT(role)};
    cc_status s = cc_pg_query(user_state_of(actor)->pg,
                              "UPDATE users SET role = $2, updated_at = now() WHERE id = $1::uuid "
                              "RETURNING " USER_COLS,
                              p, 2, one_user, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "update user");
}

/* ---- SetDisabled --------------------------------------------------------- */

typedef struct {
    cc_rpc_call *call;
    user_state *st;
    Codecourt__V1__User *user;
} disable_ctx;

static void disable_published(cc_status s, const char *errmsg, const redisReply *reply, void *ud)
{
    disable_ctx *c = ud;
    if (s != CC_OK) {
        /* The database already holds the change; the admin retries (the
         * call is idempotent) until the gateway sees it too. */
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "changed in the database but not yet in Redis; "
                                             "retry");
        return;
    }
    cc_rpc_reply(c->call, &c->user->base);
}

static void disabled(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    disable_ctx *c = ud;
    if (!cc_rpc_one_row(c->call, s, errmsg, r, "disable user", "userId: no such user"))
        return;
    c->user = user_from_row(c->call, r, 0);
    if (!c->user) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    user_cache_forget(c->user->id);
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "user disabled state changed", "{s:s, s:b}",
           "user_id", c->user->id, "disabled", (int)c->user->disabled);
    /* Access tokens are checked by signature at the gateway, so a disabled
     * user is listed in Redis, where the gateway looks on every request. */
    char key[64];
    snprintf(key, sizeof key, REVOKED_USER "%s", c->user->id);
    const char *set[] = {"SET", key, "1"};
    const char *del[] = {"DEL", key};
    s = c->user->disabled ? cc_redis_command(c->st->redis, 3, set, NULL, disable_published, c)
                          : cc_redis_command(c->st->redis, 2, del, NULL, disable_published, c);
    if (s != CC_OK)
        disable_published(s, cc_err_msg(), NULL, c);
}

void user_set_disabled(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__SetDisabledRequest *rq = (const void *)req;
    const char *uid = cc_rpc_principal(call)->id;
    if (!cc_rpc_require_admin(call, "admins only"))
        return;
    if (!valid_uuid(rq->user_id)) {
        cc_rpc_fail(call, CC_INVALID, "userId: not a user id");
        return;
    }
    if (rq->disabled && strcmp(rq->user_id, uid) == 0) {
        cc_rpc_fail(call, CC_UNPROCESSABLE, "userId: an admin cannot disable themselves");
        return;
    }
    disable_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    *c = (disable_ctx){.call = call, .st = user_state_of(actor)};
    /* Disabling also revokes every refresh token, in the same statement. */
    cc_pg_param p[] = {CC_PG_TEXT(rq->user_id), CC_PG_TEXT(rq->disabled ? "t" : "f")};
    cc_status s = cc_pg_query(
        c->st->pg,
        "WITH u AS (UPDATE users SET disabled = $2::bool, updated_at = now() WHERE id = $1::uuid "
        "RETURNING " USER_COLS "), r AS (UPDATE refresh_tokens SET revoked_at = now() WHERE "
        "$2::bool AND user_id = $1::uuid AND revoked_at IS NULL) SELECT * FROM u",
        p, 2, disabled, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "disable user");
}
