/* GetMe and UpdateMe: a user's own profile and preferences. The principal
 * set by the gateway names the user; nothing in the request can. GetMe
 * answers from the profile cache (cache.c) when it can. */
#include <stdlib.h>
#include <string.h>

#include "user.h"

/* A GetMe read from PostgreSQL: the generation when it was issued decides
 * whether the row may be kept. */
typedef struct {
    cc_rpc_call *call;
    const user_state *st;
    uint64_t gen;
} me_read;

static void answer_user(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

static void answer_me(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    me_read *m = ud;
    if (s == CC_OK && cc_pg_nrows(r) == 1) {
        Codecourt__V1__User *u = user_from_row(m->call, r, 0);
        if (u) {
            user_cache_put(m->st, u->id, m->gen, &u->base);
            cc_rpc_reply(m->call, &u->base);
            return;
        }
    }
    answer_user(s, errmsg, r, m->call);
}

static void answer_user(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s == CC_EXISTS) {
        cc_rpc_fail(call, CC_EXISTS, "email: already registered");
        return;
    }
    if (!cc_rpc_one_row(call, s, errmsg, r, "profile", "no such user"))
        return;
    Codecourt__V1__User *u = user_from_row(call, r, 0);
    if (!u) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    /* UpdateMe: what this replica kept of the user is stale now. */
    user_cache_forget(u->id);
    cc_rpc_reply(call, &u->base);
}

void user_get_me(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const char *uid = cc_rpc_principal(call)->id; /* CC_RPC_AUTH: never "" */
    const user_state *st = user_state_of(actor);
    size_t len = 0;
    const uint8_t *packed = user_cache_get(st, uid, &len);
    if (packed) {
        cc_rpc_reply_packed(call, packed, len);
        return;
    }
    me_read *m = cc_arena_alloc(cc_rpc_arena(call), sizeof *m);
    if (!m) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    *m = (me_read){call, st, user_cache_gen()};
    cc_pg_param p[] = {CC_PG_TEXT(uid)};
    cc_status s = cc_pg_query(st->pg, "SELECT " USER_COLS " FROM users WHERE id = $1::uuid", p, 1,
                              answer_me, m);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "profile");
}

static bool has(const Codecourt__V1__UpdateMeRequest *rq, const char *field)
{
    for (size_t i = 0; i < rq->n_clear_fields; i++)
        if (strcmp(rq->clear_fields[i], field) == 0)
            return true;
    return false;
}

void user_update_me(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__UpdateMeRequest *rq = (const void *)req;
    const char *uid = cc_rpc_principal(call)->id; /* CC_RPC_AUTH: never "" */
    for (size_t i = 0; i < rq->n_clear_fields; i++)
        if (strcmp(rq->clear_fields[i], "display_name") != 0 &&
            strcmp(rq->clear_fields[i], "bio") != 0) {
            cc_rpc_fail(call, CC_INVALID, "clearFields: '%s' cannot be cleared",
                        rq->clear_fields[i]);
            return;
        }
    if (strlen(rq->display_name) > 64) {
        cc_rpc_fail(call, CC_INVALID, "displayName: at most 64 bytes");
        return;
    }
    if (strlen(rq->bio) > 2000) {
        cc_rpc_fail(call, CC_INVALID, "bio: at most 2000 bytes");
        return;
    }
    if (rq->email[0] && !user_valid_email(rq->email)) {
        cc_rpc_fail(call, CC_INVALID, "email: not a valid address");
        return;
    }
    const Codecourt__V1__Preferences *pr = rq->preferences;
    if (pr && (strlen(pr->language) > 32 ||
               (pr->theme[0] && strcmp(pr->theme, "light") != 0 &&
                strcmp(pr->theme, "dark") != 0))) {
        cc_rpc_fail(call, CC_INVALID, "%s",
                    strlen(pr->language) > 32 ? "preferences.language: at most 32 bytes"
                                              : "preferences.theme: must be light or dark");
        return;
    }
    char *prefs = pr ? user_prefs_json(pr) : NULL;
    if (pr && !prefs) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    /* A new address is stored sealed, with its lookup hash. */
    uint8_t *sealed = NULL, mac[32];
    size_t slen = 0;
    char kid[CC_SEAL_ID_MAX] = "";
    if (rq->email[0]) {
        cc_status s = user_email_seal(uid, rq->email, &sealed, &slen, kid);
        if (s != CC_OK) {
            free(prefs);
            cc_rpc_fail(call, s, "cannot seal the address: %s", cc_err_msg());
            return;
        }
        user_email_hmac(rq->email, mac);
    }
    cc_pg_param p[] = {CC_PG_TEXT(uid),
                       CC_PG_TEXT(has(rq, "display_name") ? "t" : "f"),
                       CC_PG_TEXT(rq->display_name),
                       CC_PG_TEXT(has(rq, "bio") ? "t" : "f"),
                       CC_PG_TEXT(rq->bio),
                       sealed ? CC_PG_BYTES(sealed, slen) : CC_PG_NULL,
                       prefs ? CC_PG_TEXT(prefs) : CC_PG_NULL,
                       sealed ? CC_PG_TEXT(kid) : CC_PG_NULL,
                       sealed ? CC_PG_BYTES(mac, 32) : CC_PG_NULL};
    cc_status s = cc_pg_query(
        user_state_of(actor)->pg,
        "UPDATE users SET "
        "display_name = CASE WHEN $2::bool THEN '' WHEN $3 <> '' THEN $3 ELSE display_name END, "
        "bio = CASE WHEN $4::bool THEN '' WHEN $5 <> '' THEN $5 ELSE bio END, "
        "email_sealed = COALESCE($6::bytea, email_sealed), "
        "email_key = COALESCE($8, email_key), email_hmac = COALESCE($9::bytea, email_hmac), "
        "preferences = COALESCE($7::jsonb, preferences), updated_at = now() "
        "WHERE id = $1::uuid RETURNING " USER_COLS,
        p, 9, answer_user, call);
    free(prefs);
    free(sealed);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "profile");
}

/* ---- GetUserContact (internal) ------------------------------------------- */

static void contact_found(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (!cc_rpc_one_row(call, s, errmsg, r, "get contact", "user_id: no such user"))
        return;
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__UserContact uc = CODECOURT__V1__USER_CONTACT__INIT;
    uc.user_id = cc_arena_strdup(a, cc_pg_get(r, 0, 0));
    uc.username = cc_arena_strdup(a, cc_pg_get(r, 0, 1));
    uc.email = uc.user_id ? user_email_open(a, uc.user_id, r, 0, 2, 5) : NULL;
    uc.disabled = cc_pg_get(r, 0, 3)[0] == 't';
    uc.display_name = cc_arena_strdup(a, cc_pg_get(r, 0, 4));
    if (!uc.user_id || !uc.username || !uc.email || !uc.display_name) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    cc_rpc_reply(call, &uc.base);
}

/* Only services call this: a request carrying a principal came through
 * the gateway (which never routes it) or from someone pretending, and is
 * refused, so addresses never leak to users. */
void user_get_contact(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetUserContactRequest *rq = (const void *)req;
    if (cc_rpc_principal(call)->role != CC_ROLE_ANON) {
        cc_rpc_fail(call, CC_DENIED, "GetUserContact is for services only");
        return;
    }
    size_t n = strlen(rq->user_id);
    if (n != 36 || strspn(rq->user_id, "0123456789abcdefABCDEF-") != n) {
        cc_rpc_fail(call, CC_INVALID, "user_id: not a user id");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->user_id)};
    cc_status s = cc_pg_query(user_state_of(actor)->pg,
                              "SELECT id::text, username, email_sealed, disabled, display_name, "
                              "email_key FROM users "
                              "WHERE id = $1::uuid",
                              p, 1, contact_found, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "get contact");
}
