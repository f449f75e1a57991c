/* Rows to messages, the sealed address and the small checks every family
 * shares. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "user.h"

/* The API's Role of each of the runtime's roles, whose names (in the
 * users table, the tokens and the principal) are the runtime's. */
static const Codecourt__V1__Role api_roles[] = {
    [CC_ROLE_ANON] = CODECOURT__V1__ROLE__ROLE_UNSPECIFIED,
    [CC_ROLE_USER] = CODECOURT__V1__ROLE__ROLE_USER,
    [CC_ROLE_SETTER] = CODECOURT__V1__ROLE__ROLE_SETTER,
    [CC_ROLE_ADMIN] = CODECOURT__V1__ROLE__ROLE_ADMIN,
};

const char *user_role_name(Codecourt__V1__Role r)
{
    for (cc_role c = CC_ROLE_USER; c <= CC_ROLE_ADMIN; c++)
        if (api_roles[c] == r)
            return cc_role_name(c);
    return NULL;
}

Codecourt__V1__Role user_role_parse(const char *s)
{
    cc_role c;
    return cc_role_parse(s, &c) ? api_roles[c] : CODECOURT__V1__ROLE__ROLE_UNSPECIFIED;
}

static char *json_str(cc_rpc_call *call, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return cc_arena_strdup(cc_rpc_arena(call), v ? v : "");
}

Codecourt__V1__User *user_from_row(cc_rpc_call *call, const cc_pg_result *r, int row)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__User *u = cc_arena_alloc(a, sizeof *u);
    Codecourt__V1__Preferences *p = cc_arena_alloc(a, sizeof *p);
    if (!u || !p)
        return NULL;
    codecourt__v1__user__init(u);
    codecourt__v1__preferences__init(p);
    u->id = cc_pg_text(a, r, row, 0);
    u->username = cc_pg_text(a, r, row, 1);
    u->email = u->id ? user_email_open(a, u->id, r, row, 2, 9) : NULL;
    u->role = user_role_parse(cc_pg_get(r, row, 3));
    u->disabled = cc_pg_bool(r, row, 4);
    u->display_name = cc_pg_text(a, r, row, 5);
    u->bio = cc_pg_text(a, r, row, 6);
    json_t *j = json_loads(cc_pg_get(r, row, 7), 0, NULL);
    if (json_is_object(j)) {
        p->language = json_str(call, j, "language");
        p->theme = json_str(call, j, "theme");
        p->email_notifications = json_is_true(json_object_get(j, "emailNotifications"));
    }
    json_decref(j);
    u->preferences = p;
    u->created_at = cc_pg_int(r, row, 8);
    if (!u->id || !u->username || !u->email || !u->display_name || !u->bio)
        return NULL;
    return u;
}

char *user_prefs_json(const Codecourt__V1__Preferences *p)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "language", p->language ? p->language : "", "theme",
                          p->theme ? p->theme : "", "emailNotifications",
                          (int)p->email_notifications);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- the sealed address --------------------------------------------------------- */

static const cc_seal_column sealed_cols[] = {
    {.sealed = "email_sealed",
     .key = "email_key",
     .plain = "email",
     .hmac = "email_hmac",
     .plain_is_text = true},
};
const cc_seal_table user_sealed_table = {"users", "id", sealed_cols, 1};

/* The service's keys: one actor per process, set before it serves. */
static const cc_seal_service *keys;

void user_rows_set_keys(const cc_seal_service *seal)
{
    keys = seal;
}

void user_email_hmac(const char *email, uint8_t out[32])
{
    char low[256];
    size_t n = strlen(email);
    if (n >= sizeof low)
        n = sizeof low - 1; /* user_valid_email allows 254 bytes */
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    cc_keyring_hmac(cc_seal_service_keys(keys), low, n, out);
}

cc_status user_email_seal(const char *id, const char *email, uint8_t **out, size_t *len,
                          char kid[CC_SEAL_ID_MAX])
{
    return cc_seal_value(cc_seal_service_keys(keys), "users", id, "email_sealed", email,
                         strlen(email), out, len, kid);
}

char *user_email_open(cc_arena *a, const char *id, const cc_pg_result *r, int row, int sealed_col,
                      int key_col)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cc_status s = cc_open_pg(cc_seal_service_keys(keys), "users", id, "email_sealed", r, row,
                             sealed_col, key_col, &buf, &len);
    if (s == CC_NOT_FOUND)
        return cc_arena_strdup(a, "");
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "an address does not open", "{s:s}", "error", cc_err_msg());
        return NULL;
    }
    char *out = cc_arena_alloc(a, len + 1);
    if (out) {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return out;
}
