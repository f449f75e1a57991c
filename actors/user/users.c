/* Rows to messages and the small checks every family shares. */
#include <jansson.h>
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
    u->email = cc_pg_text(a, r, row, 2);
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
