/* cc-user's internal contract: settings, state and the handlers of each
 * message family (accounts.c, profile.c, admin.c), plus the helpers they
 * share (passwords.c: bcrypt on workers of its own, idlegroup.c: their
 * cgroup, tokens.c: JWTs and refresh tokens, users.c: rows to messages).
 * Internal prefix: user_. */
#ifndef CC_USER_H
#define CC_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/outbox.h"
#include "cc/pg.h"
#include "cc/redis.h"
#include "cc/seal.h"
#include "codecourt/v1/user.pb-c.h"

/* Events cc-user emits through its outbox. */
#define USER_REGISTERED_SUBJECT "cc.evt.user.registered"

/* Settings (one row each in main.c; env CC_<NAME>). */
typedef struct user_settings {
    char *pg_conninfo;
    char *redis_url;
    char *migrations;
    int64_t bcrypt_cost;
    char *jwt_key;        /* PEM file of the private key: EC P-256 or RSA */
    char *jwt_issuer;
    char *jwt_audience;
    int64_t access_ttl_ms;
    int64_t refresh_ttl_ms;
    int64_t refresh_grace_ms; /* a used token may be presented again this long */
    char *admin_username; /* the first admin, created at start if missing */
    char *admin_email;
    char *admin_password;
    int64_t bcrypt_threads;     /* 0 = one per online core */
    char *bcrypt_cgroup;        /* "auto", "off" or a cpu cgroup folder */
    int64_t profile_cache_size; /* entries; 0 = no cache */
    int64_t profile_cache_ttl_ms;
    cc_seal_settings seal; /* the master key and how often data keys are read */
    int64_t rotate_batch;  /* rows per transaction of rotate-keys */
} user_settings;

typedef struct user_state {
    cc_actor *actor;
    const user_settings *cfg;
    cc_pg *pg;
    cc_redis *redis;
    cc_outbox_relay *relay;
    struct evp_pkey_st *key; /* the signing key (EVP_PKEY), parsed once */
    char kid[33];           /* hex of SHA-256 of the public key's DER, cut */
    cc_seal_service *seal;  /* the data keys of the sealed address */
} user_state;

/* The actor's state, from a handler's actor argument. */
user_state *user_state_of(void *actor);

/* ---- handlers (cc_rpc_fn) ----------------------------------------------- */
void user_register(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_login(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_refresh(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_logout(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_get_me(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_update_me(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_set_role(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void user_set_disabled(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
/* Internal (services only): a user's address, for cc-notify. */
void user_get_contact(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- cache.c: GetMe answers in memory ------------------------------------- */

/* Listens for cc_user_changed; nothing when profile-cache-size is 0. */
cc_status user_cache_init(user_state *st);
void user_cache_free(void);
/* The packed User of id (valid until the next call here), or NULL. */
const uint8_t *user_cache_get(const user_state *st, const char *id, size_t *len);
/* Take it before reading a user from PostgreSQL; pass it to put. */
uint64_t user_cache_gen(void);
/* Keeps user (read when the generation was read_gen) unless a change was
 * announced since. */
void user_cache_put(const user_state *st, const char *id, uint64_t read_gen,
                    const ProtobufCMessage *user);
/* Drops id: call when this replica changed the user, before answering. */
void user_cache_forget(const char *id);

/* ---- passwords.c -------------------------------------------------------- */

/* Called on the loop. For a hash: hash is the bcrypt string (valid during
 * the call) or NULL on failure. For a check: ok tells whether it matched. */
typedef void (*user_pw_cb)(bool ok, const char *hash, void *ud);

/* Starts the bcrypt workers (SCHED_IDLE threads fed through pipes) on
 * the actor's loop; stop joins them. */
cc_status user_pw_start(user_state *st);
void user_pw_stop(void);
/* Hashes password with bcrypt ("$2b$", the configured cost) on a bcrypt
 * worker. The password is copied. On a returned error cb is not called
 * (CC_UNAVAILABLE when thousands of checks are already queued). */
cc_status user_pw_hash(user_state *st, const char *password, user_pw_cb cb, void *ud);
/* Checks password against hash on the thread pool. hash NULL checks
 * against a dummy hash, so an unknown user costs as much as a known one. */
cc_status user_pw_check(user_state *st, const char *password, const char *hash, user_pw_cb cb,
                        void *ud);
/* Blocking hash, for start only. Returns a malloc'd string or NULL. */
char *user_pw_hash_now(const char *password, int cost);

/* ---- idlegroup.c: the bcrypt workers' cgroup, cpu.idle = 1 --------------- */

/* Makes cc-user-bcrypt-<pid> with cpu.idle 1 under the cgroup setting
 * names (bcrypt-cgroup: "auto", "off" or a folder; setting is borrowed).
 * Never fails: a step that does not work is logged as one warning and
 * there is no group. Call on the loop before the workers start. */
void user_idle_open(const char *setting);
/* Moves the calling thread into the group, if there is one: each worker
 * calls it as it starts. True when it moved. Thread-safe; logs nothing
 * (see report). */
bool user_idle_join(void);
/* Logs, once every worker has called join, where the workers run (and a
 * warning if a move failed). */
void user_idle_report(int workers);
/* Removes the group; call once the workers are joined. */
void user_idle_close(void);

/* ---- tokens.c ----------------------------------------------------------- */

/* Loads the private key named by the settings (made as EC P-256 when the
 * file is missing) and computes its kid. The key decides the algorithm:
 * EC P-256 signs ES256, RSA RS256; any other key is CC_INVALID. */
cc_status user_tokens_init(user_state *st);
void user_tokens_free(user_state *st);
/* Signs an access token for user id with role, with the key's algorithm;
 * *out is malloc'd (free()). jti (33 bytes) receives its id. */
cc_status user_jwt_issue(const user_state *st, const char *user_id, const char *role, char **out,
                         char jti[33]);
/* A new opaque refresh token (43 base64url chars, 256 random bits) in
 * tok (44 bytes) and its SHA-256 in hash. */
void user_refresh_new(char tok[44], unsigned char hash[32]);
/* SHA-256 of a presented refresh token. */
void user_refresh_hash(const char *tok, unsigned char hash[32]);

/* ---- users.c ------------------------------------------------------------ */

/* The columns user_from_row reads, in order, for SELECT and RETURNING. The
 * address is sealed (email_sealed under the data key email_key); email is
 * the plaintext column of rows written before sealing, sealed and emptied
 * at start, never read. */
#define USER_COLS                                                                                  \
    "id::text, username, email_sealed, role, disabled, display_name, bio, preferences::text, "    \
    "extract(epoch from created_at)::bigint, email_key"
#define USER_NCOLS 10
/* Fills a User from row of r (columns USER_COLS starting at col 0) with
 * strings copied into the call's arena, the address opened. NULL when out
 * of memory or when the address does not open (logged). */
Codecourt__V1__User *user_from_row(cc_rpc_call *call, const cc_pg_result *r, int row);

/* The sealed columns of users (cc/seal.h) and the keys user_from_row opens
 * them with (set once at start). */
extern const cc_seal_table user_sealed_table;
void user_rows_set_keys(const cc_seal_service *seal);
/* The lookup hash of an address: HMAC (cc_keyring_hmac) of its lowercase,
 * as the unique index on lower(email) compared addresses before. */
void user_email_hmac(const char *email, uint8_t out[32]);
/* Seals email as the email_sealed of user id: *out malloc'd (the caller
 * frees), its key in kid. */
cc_status user_email_seal(const char *id, const char *email, uint8_t **out, size_t *len,
                          char kid[CC_SEAL_ID_MAX]);
/* Opens the address of user id from row (email_sealed at sealed_col,
 * email_key at key_col) into arena a; "" for none; NULL when it does not
 * open (logged) or out of memory. */
char *user_email_open(cc_arena *a, const char *id, const cc_pg_result *r, int row, int sealed_col,
                      int key_col);
const char *user_role_name(Codecourt__V1__Role r);
Codecourt__V1__Role user_role_parse(const char *s);
/* Preferences as the JSON object stored in the preferences column;
 * malloc'd. */
char *user_prefs_json(const Codecourt__V1__Preferences *p);
/* True for a plausible email address (one '@', a dotted domain, no
 * spaces or controls, at most 254 bytes). */
bool user_valid_email(const char *s);

#endif
