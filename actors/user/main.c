/* cc-user: accounts, bcrypt, tokens, roles, profiles. Serves
 * cc.rpc.user.* (see schemas/codecourt/v1/user.proto); owns the cc_user
 * database; writes revoked token ids and disabled users to Redis, where
 * the gateway looks them up on every authenticated request. */
#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/migrate.h"
#include "user.h"

#ifndef CC_USER_MIGRATIONS
#define CC_USER_MIGRATIONS "migrations"
#endif

static user_settings cfg;
static user_state state;

#define S(field) offsetof(user_settings, field)
static const cc_config_row rows[] = {
    {"pg-conninfo", CC_CFG_STRING, S(pg_conninfo), "dbname=cc_user", 0, 0, NULL,
     "libpq conninfo of the cc_user database"},
    {"redis-url", CC_CFG_STRING, S(redis_url), "redis://127.0.0.1:6379", 0, 0, NULL,
     "Redis for revoked tokens (redis://[[user]:password@]host[:port][/db])"},
    {"migrations", CC_CFG_STRING, S(migrations), CC_USER_MIGRATIONS, 0, 0, NULL,
     "folder of the NNNN_name.sql migrations"},
    {"bcrypt-cost", CC_CFG_INT, S(bcrypt_cost), "12", 4, 31, NULL,
     "bcrypt cost (log2 of rounds) of new password hashes"},
    {"jwt-key", CC_CFG_STRING, S(jwt_key), "jwt-key.pem", 0, 0, NULL,
     "PEM file of the private key that signs access tokens: EC P-256 (ES256) or RSA (RS256); "
     "created as EC P-256 if missing"},
    {"jwt-issuer", CC_CFG_STRING, S(jwt_issuer), "codecourt", 0, 0, NULL,
     "iss of access tokens"},
    {"jwt-audience", CC_CFG_STRING, S(jwt_audience), "codecourt-api", 0, 0, NULL,
     "aud of access tokens"},
    {"access-ttl", CC_CFG_DURATION, S(access_ttl_ms), "15m", 1000, 86400000, NULL,
     "lifetime of access tokens"},
    {"refresh-ttl", CC_CFG_DURATION, S(refresh_ttl_ms), "720h", 1000, 31622400000, NULL,
     "lifetime of refresh tokens"},
    {"refresh-grace", CC_CFG_DURATION, S(refresh_grace_ms), "10s", 0, 300000, NULL,
     "how long after its use a refresh token may be presented again, while no token of its "
     "family was used since, by a client that lost the answer: it gets another successor "
     "(README: a refresh whose answer was lost); 0: never, any second use revokes the family"},
    {"admin-username", CC_CFG_STRING, S(admin_username), "", 0, 0, NULL,
     "the first admin: created at start when no user has this name (empty: none)"},
    {"admin-email", CC_CFG_STRING, S(admin_email), "admin@localhost", 0, 0, NULL,
     "email of the first admin"},
    {"admin-password", CC_CFG_STRING, S(admin_password), "", 0, 0, NULL,
     "password of the first admin (required with admin-username)"},
    {"bcrypt-threads", CC_CFG_INT, S(bcrypt_threads), "0", 0, 64, NULL,
     "bcrypt workers, run at idle priority (0: one per online core)"},
    {"bcrypt-cgroup", CC_CFG_STRING, S(bcrypt_cgroup), "auto", 0, 0, NULL,
     "cpu cgroup folder in which the bcrypt workers get a child with cpu.idle 1, so that any "
     "other process preempts them (auto: /sys/fs/cgroup/cpu on cgroup v1, a threaded child of "
     "cc-user's own cgroup on v2; off: none). If it cannot be made, a warning is logged and "
     "bcrypt works as before, at SCHED_IDLE only"},
    {"profile-cache-size", CC_CFG_INT, S(profile_cache_size), "16384", 0, 10000000, NULL,
     "users whose profile GetMe keeps in memory (0: read PostgreSQL every time)"},
    {"profile-cache-ttl", CC_CFG_DURATION, S(profile_cache_ttl_ms), "30s", 1, 3600000, NULL,
     "how long a kept profile is served before it is read again"},
    CC_SEAL_CONFIG_ROWS(user_settings, seal),
    {"rotate-batch", CC_CFG_INT, S(rotate_batch), "200", 1, 100000, NULL,
     "rows per transaction of rotate-keys"},
};
#undef S

#define AUTH CC_RPC_AUTH
static const cc_rpc_method methods[] = {
    {"Register", &codecourt__v1__register_request__descriptor, &codecourt__v1__user__descriptor,
     user_register, 0},
    {"Login", &codecourt__v1__login_request__descriptor, &codecourt__v1__token_pair__descriptor,
     user_login, 0},
    {"Refresh", &codecourt__v1__refresh_request__descriptor,
     &codecourt__v1__token_pair__descriptor, user_refresh, 0},
    {"Logout", &codecourt__v1__logout_request__descriptor, &codecourt__v1__empty__descriptor,
     user_logout, AUTH},
    {"GetMe", &codecourt__v1__get_me_request__descriptor, &codecourt__v1__user__descriptor,
     user_get_me, AUTH},
    {"UpdateMe", &codecourt__v1__update_me_request__descriptor, &codecourt__v1__user__descriptor,
     user_update_me, AUTH},
    {"ListUsers", &codecourt__v1__list_users_request__descriptor,
     &codecourt__v1__user_list__descriptor, user_list, AUTH},
    {"SetRole", &codecourt__v1__set_role_request__descriptor, &codecourt__v1__user__descriptor,
     user_set_role, AUTH},
    {"SetDisabled", &codecourt__v1__set_disabled_request__descriptor,
     &codecourt__v1__user__descriptor, user_set_disabled, AUTH},
    {"GetUserContact", &codecourt__v1__get_user_contact_request__descriptor,
     &codecourt__v1__user_contact__descriptor, user_get_contact, 0},
};
#undef AUTH

user_state *user_state_of(void *actor)
{
    return cc_actor_state(actor);
}

/* The first admin, created before serving so that it exists as soon as the
 * service is ready. Blocking, like the migrations: start is the one place
 * where that is right. An existing user of that name is made admin. */
static cc_status ensure_admin(void)
{
    if (!cfg.admin_username[0])
        return CC_OK;
    if (!cfg.admin_password[0])
        return cc_err_set(CC_INVALID, "admin-password is required with admin-username");
    char *hash = user_pw_hash_now(cfg.admin_password, (int)cfg.bcrypt_cost);
    if (!hash)
        return cc_err_set(CC_INTERNAL, "cannot hash the admin password");
    PGconn *c = PQconnectdb(cfg.pg_conninfo);
    cc_status s = CC_OK;
    if (PQstatus(c) != CONNECTION_OK) {
        s = cc_err_set(CC_UNAVAILABLE, "admin: %s", PQerrorMessage(c));
    } else {
        /* Sealed like every address (user_email_seal), under a new id
         * that the INSERT keeps unless the name exists. */
        char id[37], kid[CC_SEAL_ID_MAX];
        cc_uuid_new(id);
        uint8_t *sealed = NULL, mac[32];
        size_t slen = 0;
        s = user_email_seal(id, cfg.admin_email, &sealed, &slen, kid);
        user_email_hmac(cfg.admin_email, mac);
        const char *params[] = {id, cfg.admin_username, (const char *)sealed, kid,
                                (const char *)mac, hash};
        int lens[] = {0, 0, (int)slen, 0, 32, 0}, fmts[] = {0, 0, 1, 0, 1, 0};
        PGresult *r =
            s != CC_OK ? NULL
                       : PQexecParams(c,
                                      "INSERT INTO users (id, username, email_sealed, email_key, "
                                      "email_hmac, password_hash, role) VALUES ($1::uuid, $2, $3, "
                                      "$4, $5, $6, 'admin') "
                                      "ON CONFLICT (lower(username)) DO UPDATE SET role = 'admin'",
                                      6, NULL, params, lens, fmts, 0);
        if (r && PQresultStatus(r) != PGRES_COMMAND_OK)
            s = cc_err_set(CC_DB, "admin: %s", PQresultErrorMessage(r));
        PQclear(r);
        free(sealed);
    }
    PQfinish(c);
    free(hash);
    return s;
}

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    cc_status s = cc_actor_migrate(a, cfg.pg_conninfo, cfg.migrations);
    IFOK(s, user_tokens_init(&state));
    /* The relay publishes cc.evt.user.registered written by Register. */
    IFOK(s, cc_actor_open_db(a, cfg.pg_conninfo, &state.pg, &state.relay));
    /* Before any request: rows from before sealing are sealed here. */
    IFOK(s, cc_seal_service_start(cc_actor_loop(a), state.pg, cfg.pg_conninfo, &cfg.seal,
                                  &user_sealed_table, 1, &state.seal));
    if (s == CC_OK)
        user_rows_set_keys(state.seal);
    if (s == CC_OK)
        cc_outbox_seal_with(state.seal);
    IFOK(s, ensure_admin());
    IFOK(s, user_cache_init(&state));
    IFOK(s, user_pw_start(&state));
    cc_redis_url ru;
    IFOK(s, cc_redis_parse_url(cfg.redis_url, &ru));
    cc_redis_options ro = cc_redis_url_options(&ru);
    IFOK(s, cc_redis_open(cc_actor_loop(a), &ro, &state.redis));
    cc_actor_set_state(a, &state);
    return s;
}

static void drain(cc_actor *a)
{
    cc_actor_stop_relay(&state.relay);
}

static void stop(cc_actor *a)
{
    cc_seal_service_stop(state.seal);
    state.seal = NULL;
    cc_actor_close_db(&state.pg);
    if (state.redis)
        cc_redis_close(state.redis, NULL, NULL);
    state.redis = NULL;
    user_cache_free();
    user_pw_stop();
    user_tokens_free(&state);
}

/* `cc-user rotate-keys [settings]`: re-seals every address under a new
 * data key while the service runs (cc_seal_rotate), then exits. */
static int rotate_keys(int argc, char **argv)
{
    cc_config_table t = {rows, sizeof rows / sizeof rows[0], &cfg};
    cc_status s = cc_config_load(&t, 1, argc, argv, NULL, 0, NULL);
    if (s == CC_CLOSED)
        return 0;
    cc_migrate_options mo = {.conninfo = cfg.pg_conninfo, .service = "user", .dir = cfg.migrations};
    int applied = 0;
    IFOK(s, cc_migrate(&mo, &applied));
    IFOK(s, cc_seal_rotate(cfg.pg_conninfo, &cfg.seal, &user_sealed_table, 1,
                           (int)cfg.rotate_batch));
    if (s != CC_OK)
        fprintf(stderr, "cc-user rotate-keys: %s\n", cc_err_msg());
    cc_config_free(&t, 1);
    return s == CC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "rotate-keys")) {
        argv[1] = argv[0];
        return rotate_keys(argc - 1, argv + 1);
    }
    cc_actor_def def = {
        .service = "user",
        .methods = methods,
        .nmethods = sizeof methods / sizeof methods[0],
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
