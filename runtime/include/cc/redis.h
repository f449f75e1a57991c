/* Redis on the loop: one hiredis asynchronous connection attached to the
 * actor's libuv loop with hiredis's own adapter (<hiredis/adapters/libuv.h>),
 * so replies arrive as callbacks on the loop thread and nothing blocks.
 *
 * The connection is re-established in the background with a backoff after
 * Redis goes away. While it is down, commands are refused at once with
 * CC_UNAVAILABLE (callers answer 503); commands in flight when it drops
 * complete with CC_UNAVAILABLE. hiredis 0.14 has no timeouts of its own, so
 * each command carries one here and completes with CC_TIMEOUT when it
 * passes (a late reply is then dropped).
 *
 * Lua scripts are registered once, loaded with SCRIPT LOAD on every
 * (re)connect and run by SHA with EVALSHA; a NOSCRIPT answer (SCRIPT
 * FLUSH, a restarted Redis without persistence) is retried once as EVAL
 * with the script's body, which also puts it back in Redis's cache.
 *
 * Not thread-safe: one client belongs to one loop. */
#ifndef CC_REDIS_H
#define CC_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cc/status.h"

typedef struct cc_redis cc_redis;
typedef struct cc_redis_script cc_redis_script;

typedef struct cc_redis_options {
    const char *host; /* "127.0.0.1"; copied */
    int port;
    const char *user;     /* ACL user for AUTH; NULL or "": the default user */
    const char *password; /* AUTH before anything else on every (re)connect;
                             NULL or "": none. Copied */
    int db;               /* SELECT on every (re)connect when > 0 */
    int64_t command_timeout_ms; /* 0 = 2000 */
    int64_t connect_timeout_ms; /* 0 = 2000 */
    int64_t reconnect_max_ms;   /* cap of the reconnect backoff; 0 = 2000 */
} cc_redis_options;

/* A Redis URL taken apart: redis://[[user]:password@]host[:port][/db], or
 * just host[:port]. user and password may be percent-encoded. */
typedef struct cc_redis_url {
    char host[64];
    int port; /* 6379 when absent */
    char user[64];
    char password[256];
    int db;
} cc_redis_url;

/* Parses url into *out. CC_INVALID (cc_err_msg() names what is wrong and
 * never echoes the password) for anything else, including rediss://: the
 * hiredis this builds on (0.14) has no TLS. */
cc_status cc_redis_parse_url(const char *url, cc_redis_url *out);
/* Options for cc_redis_open from a parsed URL (pointing into u, which must
 * outlive the call); timeouts are left 0 (defaults). */
cc_redis_options cc_redis_url_options(const cc_redis_url *u);

/* Called on the loop once per command: CC_OK with the reply (which may be
 * an integer, a string, an array or nil); CC_DB with the reply and errmsg
 * when Redis answered an error; CC_UNAVAILABLE (connection lost),
 * CC_TIMEOUT or CC_CLOSED with reply NULL. The reply belongs to hiredis
 * and is valid only during the callback; errmsg likewise. */
typedef void (*cc_redis_cb)(cc_status s, const char *errmsg, const redisReply *reply, void *ud);

/* Creates the client and starts connecting (never blocks). Commands issued
 * while the first connection is being made are queued by hiredis. On CC_OK
 * *out is owned by the caller until cc_redis_close. */
cc_status cc_redis_open(uv_loop_t *loop, const cc_redis_options *o, cc_redis **out);

/* Lets commands in flight finish (their replies still arrive), closes the
 * connection, frees the client and every script, then calls done (may be
 * NULL) on the loop. New commands are refused with CC_CLOSED. */
void cc_redis_close(cc_redis *r, void (*done)(void *ud), void *ud);

/* True while connected. */
bool cc_redis_connected(const cc_redis *r);

/* Sends one command of argc arguments (binary-safe: lens[i] bytes of
 * argv[i]; lens NULL means NUL-terminated strings). The arguments are
 * copied before the call returns. cb (may be NULL) runs exactly once
 * unless an error is returned: CC_UNAVAILABLE when not connected (cc_err_msg
 * says why), CC_CLOSED after close, CC_INVALID for argc < 1. */
cc_status cc_redis_command(cc_redis *r, int argc, const char *const *argv, const size_t *lens,
                           cc_redis_cb cb, void *ud);

/* Registers a Lua script (body copied). Its SHA-1 is computed here; it is
 * loaded now if connected and on every reconnect. The script belongs to r
 * and lives until cc_redis_close. */
cc_status cc_redis_script_add(cc_redis *r, const char *lua, cc_redis_script **out);

/* The script's 40-hex SHA-1 (owned by the script). */
const char *cc_redis_script_sha(const cc_redis_script *s);

/* Runs the script with EVALSHA: nkeys keys followed by the other
 * arguments, argc in all (lens as for cc_redis_command). NOSCRIPT is
 * handled as described above, so cb never sees it. Errors as
 * cc_redis_command. */
cc_status cc_redis_eval(cc_redis *r, const cc_redis_script *s, int nkeys, int argc,
                        const char *const *argv, const size_t *lens, cc_redis_cb cb, void *ud);

#endif
