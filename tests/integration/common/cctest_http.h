/* Helpers shared by the end-to-end tests in tests/integration and by
 * tests/bench/submission, which drive cc-gateway over real HTTP/2 with
 * libcurl: requests, responses, headers, process spawning, uploads.
 * cct_spawn and cct_upload call cmocka's assertions; the others do not, so
 * a benchmark can use them too.
 * Also: turning a test's libuv loop until something happened.
 * The WebSocket client is in cctest_ws.h. */
#ifndef CCTEST_HTTP_H
#define CCTEST_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cc/bus.h"
#include "cc/local.h"

typedef struct cct_resp {
    long status;
    long version;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
    json_t *json;
} cct_resp;

/* One request to url (http: HTTP/2 with prior knowledge, https: ALPN h2).
 * body may be NULL, token (a bearer token) may be NULL, extra is one more
 * header line or NULL. Free the result with cct_resp_free. */
cct_resp cct_req_url(const char *method, const char *url, const char *body, const char *token,
                     const char *extra);
/* The two halves of cct_req_url, for tests that drive several requests
 * at once with a curl multi handle: prepare an easy handle (headers in
 * *hl), perform it, then cct_finish fills r and frees the handle. */
CURL *cct_prepare(cct_resp *r, struct curl_slist **hl, const char *method, const char *url,
                  const char *body, const char *token, const char *extra);
void cct_finish(CURL *c, cct_resp *r, struct curl_slist *hl);
/* The same against http://127.0.0.1:port path. */
cct_resp cct_req(uint16_t port, const char *method, const char *path, const char *body,
                 const char *token);
/* cct_req with more header lines (extra, lines separated by '\n', or NULL). */
cct_resp cct_req_hdr(uint16_t port, const char *method, const char *path, const char *body,
                     const char *token, const char *extra);
long cct_status(uint16_t port, const char *method, const char *path, const char *body,
                const char *token);
/* GET http://127.0.0.1:port path over HTTP/1.1 (the actors' ops endpoint
 * speaks nothing else); the status (0 when nothing answered), with the
 * body copied into body (cap bytes, NUL-terminated, cut if longer). */
long cct_get_http1(uint16_t port, const char *path, char *body, size_t cap);
/* cct_get_http1 giving up after timeout_ms (then 0) instead of 30 s: what
 * a probe with that timeout would see. */
long cct_get_http1_within(uint16_t port, const char *path, char *body, size_t cap,
                          long timeout_ms);
void cct_resp_free(cct_resp *r);
/* A response header's value (name in lowercase), copied to out, or NULL. */
const char *cct_header(cct_resp *r, const char *name, char *out, size_t cap);
/* A string member of the JSON body, "" when absent. */
const char *cct_jstr(cct_resp *r, const char *key);
/* A string member of any JSON object (o may be NULL), "" when absent; the
 * string belongs to o. */
const char *cct_json_str(json_t *o, const char *key);
/* printf into one of 48 rotating static buffers of 1 KiB. */
char *cct_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* Spawns bin_dir/bin with args (NULL-terminated), logging to
 * log_dir/name.log; CC_OK or the error (cc_err_msg() says why), for
 * programs that do not run under cmocka. */
cc_status cct_try_spawn(cc_local_proc *p, const char *name, const char *bin_dir, const char *bin,
                        const char *log_dir, const char *const *args);
/* cct_try_spawn, asserting (cmocka) that it started. */
void cct_spawn(cc_local_proc *p, const char *name, const char *bin_dir, const char *bin,
               const char *log_dir, const char *const *args);
/* "--nats-url=URL" with the credentials of service's own NATS user on
 * stack's server (cc_local_nats_url; "admin" may do anything), in one of
 * cct_fmt's buffers. */
const char *cct_nats_flag(const cc_local_stack *stack, const char *service);
/* Starts cc-gateway (bin_dir/cc-gateway, logging to the stack's folder) as
 * the end-to-end tests run it: on stack's NATS and Redis, cleartext HTTP on
 * http_port only, metrics on metrics_port, tokens signed with the key at
 * keypath, every rate limit out of the way, then the flags in extra
 * (NULL-terminated, or NULL). Asserts (cmocka) it started, then waits up
 * to 30 s for its /readyz; false, with a message, when it never answers. */
bool cct_start_gateway(cc_local_proc *p, const cc_local_stack *stack, const char *bin_dir,
                       const char *keypath, uint16_t http_port, uint16_t metrics_port,
                       const char *const *extra);
/* Starts cc-user as the end-to-end tests run it: on stack's servers and
 * its cc_user database, tokens signed with the key at keypath (created
 * when missing), bcrypt cost 4, the first admin "root" with password
 * "rootpassword", then the flags in extra (NULL-terminated, or NULL).
 * Asserts (cmocka) it started, then waits up to 30 s for its /readyz;
 * false, with a message, when it never answers. */
bool cct_start_user(cc_local_proc *p, const cc_local_stack *stack, const char *bin_dir,
                    const char *keypath, const char *const *extra);
/* The test-program side of a stack: logging at warn as log_name, libcurl,
 * NATS + PostgreSQL + Redis with the databases named (NULL-terminated),
 * guarded so they stop with the test. False, with a message on stderr,
 * when the servers do not start. */
bool cct_start_stack(cc_local_stack *stack, const char *log_name, const char *const *databases);
/* The ops port an actor logged ("metrics_port": N) in the log file at
 * path: the last one, on a line that also contains also (NULL: any line);
 * -1 when there is none yet. */
int cct_metrics_port_from_log(const char *path, const char *also);
/* Polls GET path until it answers want, for up to ms. */
bool cct_wait_status(uint16_t port, const char *path, long want, int ms);
/* Uploads len bytes of data through the gateway on port (POST
 * /v1/uploads, PUT chunks, commit) as the bearer token, in pieces of at
 * most piece bytes (0: the server's largest chunk), and stores the blob's
 * hash in sha. A blob the caller may already read is not sent again.
 * Asserts (cmocka) every step. */
void cct_upload(uint16_t port, const void *data, size_t len, const char *token, size_t piece,
                char sha[65]);
/* Base64 of n bytes (malloc'd). */
char *cct_base64(const void *p, size_t n);
/* Decodes standard base64 (padding allowed) into out (3/4 of n bytes at
 * most); the byte count, or -1. */
long cct_unbase64(const char *s, size_t n, unsigned char *out);
/* Lowercase hex SHA-256 of n bytes. */
void cct_sha256_hex(const void *p, size_t n, char out[65]);

/* ---- the test's loop ------------------------------------------------------ */

/* Runs loop until pred(ud) is true or timeout_ms passes (a 10 ms timer
 * keeps it turning while nothing else is due); returns pred's last
 * answer. */
bool cct_run_until_fn(uv_loop_t *loop, bool (*pred)(void *), void *ud, int timeout_ms);
/* The same until *done is set. */
bool cct_run_until(uv_loop_t *loop, const bool *done, int timeout_ms);
/* Runs fn(ud) on b's thread pool (cc_bus_offload) and turns loop until it
 * is done, within timeout_ms (cmocka assertions); fn's status. */
cc_status cct_offload_wait(cc_bus *b, uv_loop_t *loop, cc_status (*fn)(void *), void *ud,
                           int timeout_ms);

/* An RPC's outcome, kept past its callback: resp is a copy (free it with
 * protobuf_c_message_free_unpacked). */
typedef struct cct_rpc_result {
    bool done;
    cc_status s;
    char err[1024];
    ProtobufCMessage *resp;
} cct_rpc_result;
/* cc_rpc_call_async's callback that fills the cct_rpc_result ud. */
void cct_rpc_done(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud);

#endif
