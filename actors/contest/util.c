/* Helpers the message families share: the caller, names, database
 * errors, packing and emitting events, the wall clock of the write side. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/log.h"
#include "cc/outbox.h"
#include "contest.h"

con_role con_principal(const cc_rpc_call *call, char id[64])
{
    const char *p = cc_rpc_envelope(call)->principal;
    const char *colon = strrchr(p, ':');
    id[0] = '\0';
    if (!p[0] || !colon || colon == p || (size_t)(colon - p) >= 64)
        return CON_ANON;
    memcpy(id, p, (size_t)(colon - p));
    id[colon - p] = '\0';
    const char *role = colon + 1;
    if (!strcmp(role, "admin"))
        return CON_ADMIN;
    if (!strcmp(role, "setter"))
        return CON_SETTER;
    return CON_USER;
}

bool con_def_jury(const Codecourt__V1__Contest *d, const char *user, con_role role)
{
    if (role == CON_ADMIN)
        return true;
    if (!user || !user[0])
        return false;
    if (!strcmp(d->owner_id, user))
        return true;
    for (size_t i = 0; i < d->n_jury; i++)
        if (!strcmp(d->jury[i], user))
            return true;
    return false;
}

Codecourt__V1__Contest *con_def_of(cc_rpc_call *call, const cc_pg_result *r, int row, int col)
{
    unsigned char *b = NULL;
    size_t len = 0;
    if (row >= cc_pg_nrows(r) || cc_pg_get_bytea(r, row, col, &b, &len) != CC_OK)
        return NULL;
    Codecourt__V1__Contest *d = (Codecourt__V1__Contest *)protobuf_c_message_unpack(
        &codecourt__v1__contest__descriptor, &cc_rpc_arena(call)->pb, len, b);
    free(b);
    return d;
}

bool con_slug_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && i)))
            return false;
    return true;
}

bool con_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 36 || s[0] == '-' || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

uint8_t *con_pack(cc_rpc_call *call, const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = cc_arena_alloc(cc_rpc_arena(call), *len ? *len : 1);
    if (b)
        protobuf_c_message_pack(m, b);
    return b;
}

cc_status con_emit(cc_pg_tx *tx, const cc_envelope *env, const char *subject,
                   const ProtobufCMessage *m, const char *msg_id)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(len ? len : 1);
    if (!b)
        return cc_err_set(CC_NOMEM, "out of memory");
    protobuf_c_message_pack(m, b);
    char type[128];
    snprintf(type, sizeof type, "codecourt.v1.%s", m->descriptor->short_name);
    cc_status s = cc_outbox_add(tx, subject, env, NULL, type, msg_id, b, len, NULL, NULL);
    free(b);
    return s;
}

int64_t con_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void con_text_id(const char *text, char out[40])
{
    size_t n = 0;
    bool dash = false;
    for (const char *p = text ? text : ""; *p && n < 36; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isalnum(ch)) {
            if (dash && n > 0)
                out[n++] = '-';
            dash = false;
            if (n < 36)
                out[n++] = (char)tolower(ch);
        } else {
            dash = true;
        }
    }
    while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.'))
        n--;
    out[n] = '\0';
}
