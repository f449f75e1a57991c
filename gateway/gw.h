/* cc-gateway's internal contract. Files: main.c (settings, start/stop),
 * server.c (h2o listeners, TLS, the request pipeline), response.c (every
 * answer's headers and body, problem+json), conn.c (connection tracking
 * and its limits), routes.c
 * (the route table and /v1/openapi.json), auth.c (JWT verification),
 * ratelimit.c (GCRA + revocation in one Redis script, leased to busy
 * keys), proxy.c (the client's address behind trusted proxies), live.c
 * (WebSocket /v1/live), web.c (the browser app's files, security
 * headers, the session cookie), feed.c (the CLICS event feed, streamed),
 * json.c (transcoding, public in gw/json.h).
 * Prefix gw_. */
#ifndef CC_GW_H
#define CC_GW_H

#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/redis.h"

typedef struct gw_settings {
    char *http_host;
    int64_t http_port;   /* cleartext HTTP/1.1 + h2c prior knowledge */
    int64_t https_port;  /* TLS, ALPN h2 and http/1.1; -1: none */
    bool reuse_port;     /* SO_REUSEPORT: replicas on one host share the ports */
    char *tls_cert;      /* PEM; "" = self-signed, generated at start */
    char *tls_key;
    char *jwt_key;       /* PEM: the public key (or the private one, locally) */
    char *jwt_issuer;
    char *jwt_audience;
    int64_t jwt_leeway_ms;
    char *redis_url;
    int64_t rate_period_ms;
    int64_t rate_anon;   /* requests per period per IP, anonymous */
    int64_t rate_user;   /* requests per period per user */
    int64_t rate_auth;   /* login/register/refresh per period per IP */
    int64_t rate_login;  /* login attempts per period per account and IP */
    int64_t burst_anon, burst_user, burst_auth, burst_login;
    char *trusted_proxies; /* CIDR list whose forwarded client address is believed */
    int proxy_header;      /* GW_PROXY_XFF or GW_PROXY_FORWARDED */
    int rate_fail;       /* 0 open, 1 closed: rate limiting while Redis is down */
    int64_t max_body;
    int64_t max_header;
    int64_t req_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t max_streams;
    int64_t max_live_per_user;
    int64_t live_check_ms; /* how often open sockets' tokens are checked again */
    int64_t live_max_message; /* largest message a client may send on /v1/live */
    int64_t live_frame_rate;  /* frames a client may send per second (and at once) */
    char *web_root;           /* the built browser app; "" = none */
    int64_t session_ttl_ms;   /* Max-Age of the refresh cookie */
    int64_t live_max_queued;  /* bytes waiting for one live socket whose client reads nothing */
    int64_t max_conns;        /* open client connections; more are closed at once */
    int64_t max_resets;       /* requests a connection may abandon per second (rapid reset) */
    int64_t write_stall_ms;   /* a connection with output waiting that takes none this long */
    int64_t max_unsent;       /* bytes of answers one connection may leave unread */
} gw_settings;

/* Rate classes. ACCOUNT keys a login by account and client address. */
enum { GW_RATE_ANON, GW_RATE_USER, GW_RATE_AUTH, GW_RATE_ACCOUNT, GW_RATE_NCLASSES };

/* Route flags. */
enum {
    GW_AUTH = 1 << 0,          /* needs a valid access token */
    GW_INJECT_TOKEN = 1 << 1,  /* sets tokenId/tokenExp from the verified token */
    GW_RATE_LOGIN = 1 << 2,    /* the tighter class for login, register, refresh */
    GW_LOGIN_ACCOUNT = 1 << 4, /* the body's username also keys a limit per account and
                                  address, checked before the address's own */
    GW_IDEMPOTENCY = 1 << 8,   /* the Idempotency-Key header fills the idempotencyKey field */
    GW_AUTH_OPT = 1 << 3,      /* anonymous allowed; a token, when sent, must be valid and
                                  names the caller (drafts show to their owner) */
    /* Browser sessions (web.c): the refresh token lives in an HttpOnly
     * cookie, never in what script can read. */
    GW_SESSION_SET = 1 << 5,    /* the answer's refreshToken becomes the cookie, not JSON */
    GW_SESSION_COOKIE = 1 << 6, /* the request's refreshToken comes from the cookie; the
                                   call must come from our own origin */
    GW_SESSION_CLEAR = 1 << 7,  /* the answer removes the cookie; the cookie's token, when
                                   sent, fills refreshToken (its family is revoked) */
    GW_RAW = 1 << 9,           /* the reply is a RawResponse sent as it is (its status, type
                                  and body: the CLICS API's own JSON); the request's path
                                  fills its "path" field */
};

/* One row: an HTTP method and path pattern mapped to an RPC. Segments of
 * the pattern written {name} fill the request field of that JSON name. */
typedef struct gw_route {
    const char *method;
    const char *pattern; /* "/v1/admin/users/{userId}/role" */
    const char *service;
    const char *rpc;
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    unsigned flags;
    int ok_status; /* 200, 201 or 204 */
    const char *summary;
} gw_route;

extern const gw_route gw_routes[];
extern const size_t gw_nroutes;

typedef struct gw_state gw_state;

/* ---- routes.c ----------------------------------------------------------- */

/* Finds the route for method and path (no query). *params receives a new
 * object of the path parameters. NULL when no route matches; then
 * *path_known tells whether another method would have matched (405). */
const gw_route *gw_route_match(const char *method, size_t mlen, const char *path, size_t plen,
                               json_t **params, bool *path_known);
/* The OpenAPI 3.1 document of the route table, as compact JSON (malloc'd). */
char *gw_openapi(size_t *len);

/* ---- auth.c ------------------------------------------------------------- */

typedef struct gw_principal {
    char user_id[37];
    char role[16];
    char jti[65];
    int64_t exp;
} gw_principal;

/* Loads the verification key (public or private PEM, EC P-256 or RSA) and
 * its kid; waits up to wait_ms for the file to appear (cc-user creates it
 * on a first local run). Any other key type is CC_INVALID. */
cc_status gw_auth_init(const gw_settings *cfg, int64_t wait_ms);
void gw_auth_free(void);
/* Verifies a compact JWT: alg must be the key's (pinned: ES256 for an EC
 * P-256 key, RS256 for an RSA one; none, HS* and the other family are
 * refused before any cryptography), kid must be ours, then the signature
 * (ES256: exactly 64 bytes of R||S), exp, nbf, iss and aud. Fills p.
 * CC_UNAUTHENTICATED with why (static text) on any failure. Revocation is
 * checked later, in Redis. */
cc_status gw_auth_verify(const char *token, size_t len, gw_principal *p, const char **why);
/* The verified principal from the request's bearer token (from_query: a
 * WebSocket's subprotocol "cc.bearer.<token>" or ?access_token= too), or
 * false with the 401 problem already sent. */
bool gw_request_principal(h2o_req_t *req, gw_principal *p, bool from_query);

/* ---- ratelimit.c -------------------------------------------------------- */

typedef struct gw_limit_result {
    bool revoked;
    bool allowed;
    int64_t limit, remaining, retry_after_ms, reset_ms;
} gw_limit_result;

/* Called on the loop: CC_OK with r filled, or CC_UNAVAILABLE/CC_TIMEOUT
 * when Redis did not answer. */
typedef void (*gw_limit_cb)(cc_status s, const gw_limit_result *r, void *ud);

/* Loads the script, reads the rate classes from cfg and starts the
 * per-iteration flush on loop. */
cc_status gw_limit_init(uv_loop_t *loop, cc_redis *r, const gw_settings *cfg);
/* Sends what is queued and stops the flush (before closing Redis). */
void gw_limit_stop(void);
/* Is the principal revoked (p may be NULL) and may key (class + identity)
 * have one more request? Queued and sent with the other checks of this
 * loop iteration: one script call, or for a key within its lease one MGET
 * of the revocation keys (nothing at all when p is NULL). cb runs on the
 * loop, never before this returns. */
cc_status gw_limit_check(cc_redis *r, int cls, const char *who, const gw_principal *p,
                         gw_limit_cb cb, void *ud);

/* ---- proxy.c ------------------------------------------------------------ */

enum { GW_PROXY_XFF, GW_PROXY_FORWARDED };
/* At most this many forwarded nodes are read, the right-most: a longer
 * chain loses its left end, which the client writes. */
enum { GW_MAX_HOPS = 16 };

/* A network: 16 bytes (IPv4 as ::ffff:a.b.c.d) and its prefix length in
 * those 128 bits. */
typedef struct gw_net {
    uint8_t addr[16];
    uint8_t bits;
} gw_net;

typedef struct gw_proxies {
    gw_net *nets;
    size_t n;
    int header; /* which header they write: GW_PROXY_XFF or GW_PROXY_FORWARDED */
} gw_proxies;

/* Parses list, comma- or space-separated CIDRs or addresses, IPv4 or
 * IPv6 ("" = none). CC_INVALID naming the bad entry. */
cc_status gw_proxies_parse(const char *list, int header, gw_proxies *out);
void gw_proxies_free(gw_proxies *p);
/* The client's address as rate limits key it, into out (cap >= 64): the
 * peer's, or when the peer is a trusted proxy the right-most untrusted
 * node of values (every line of the header p names, in order); IPv6 as
 * its /64 ("2001:db8:1:2::/64"). "" for a peer of another family. */
void gw_client_addr(const gw_proxies *p, const struct sockaddr *peer, const h2o_iovec_t *values,
                    size_t nvalues, char *out, size_t cap);
/* The client's address as rate limits key it (gw_client_addr over the
 * request's peer and the last GW_MAX_HOPS lines of its forwarding header),
 * into out. */
void gw_request_ip(gw_state *g, h2o_req_t *req, char *out, size_t cap);

/* ---- feed.c ------------------------------------------------------------- */

/* Handles GET /api/contests/<contest>/event-feed (contest: clen bytes of
 * the path), streaming the CLICS event feed; env carries the request id. */
int gw_feed_handle(gw_state *g, h2o_req_t *req, const char *contest, size_t clen,
                   const cc_envelope *env);
/* Ends the open feeds (the gateway is stopping). */
void gw_feed_close_all(void);

/* ---- live.c ------------------------------------------------------------- */

/* Handles GET /v1/live (a WebSocket upgrade). */
int gw_live_handle(gw_state *g, h2o_req_t *req);
void gw_live_close_all(void);
/* The frame-rate rule of a socket (GCRA): true if one more frame at now_us
 * fits rate frames a second, as many at once, and then counts it in *tat
 * (the theoretical arrival time, µs; 0 for a new socket). Pure, so the
 * fuzz target of tests/fuzz drives wslay with the same rule. */
bool gw_live_frame_ok(uint64_t *tat, uint64_t now_us, uint64_t rate);

/* ---- conn.c ------------------------------------------------------------- */

/* Every accepted connection is tracked so that the limits h2o 2.2.5 lacks
 * are the gateway's: how many may be open (max-conns), how many requests
 * one may abandon a second (max-resets: HTTP/2 rapid reset,
 * CVE-2023-44487), how many bytes of answers one may leave unread
 * (max-unsent: zero windows) and for how long (write-stall: SETTINGS and
 * PING floods, CVE-2019-9512 and 9515, any client that never reads), and
 * how many headers an HTTP/2 request may decode to (an HPACK bomb). A
 * connection that crosses one is shut down under h2o (shutdown(2) on its
 * socket: h2o reads the end and closes it its own way) and counted in
 * /metrics as cc_gateway_connections_closed_total{reason}. conn.c sends no
 * answer itself: whoever asks decides what to send. */
typedef struct gw_conn gw_conn;

/* libuv's connection callback of the listeners (their data is h2o's
 * accept context): over max-conns a new connection is closed at once,
 * else it is tracked and handed to h2o. */
void gw_conn_accept(uv_stream_t *listener, int status);
/* Starts the once-a-second sweep (abandoned requests, write stalls) and
 * raises the open-file limit for max-conns; stop closes the sweep. */
void gw_conns_start(gw_state *g);
void gw_conns_stop(gw_state *g);
/* The request was given up before its answer (rapid reset). */
void gw_conn_abandoned(h2o_req_t *req);
/* len bytes of answer were given to h2o for the request's connection
 * (unread answers); gw_send_body calls it for every answer. */
void gw_conn_answered(h2o_req_t *req, size_t len);
typedef enum gw_conn_verdict {
    GW_CONN_OK,
    GW_CONN_CUT,         /* the connection was cut already: work on nothing more of it */
    GW_CONN_HEADER_BOMB, /* this request's headers cut it now */
} gw_conn_verdict;
/* Whether a request may be worked on, as its connection stands. */
gw_conn_verdict gw_conn_admit(gw_state *g, h2o_req_t *req);
/* The bytes of the request's decoded headers, path and method. */
size_t gw_header_bytes(h2o_req_t *req);
/* Counts one connection closed by a limit: reason is one of
 * "too-many-connections", "rapid-reset", "write-stall", "unread-answers",
 * "header-bomb", "live-backlog". */
void gw_count_closed(const char *reason);

/* ---- web.c -------------------------------------------------------------- */

/* The refresh cookie's name and path: sent back only to the session
 * routes under that path. */
#define GW_SESSION_COOKIE_NAME "cc_refresh"
#define GW_SESSION_PATH "/v1/auth/session"

/* Adds the headers every answer carries: a strict Content-Security-Policy
 * (scripts and styles only from our own origin, no inline script, no
 * framing), X-Content-Type-Options, Referrer-Policy. */
void gw_security_headers(h2o_req_t *req);
/* Registers the app's paths on host when cfg->web_root is set: /assets/
 * through h2o's file handler (precompressed .br/.gz siblings, a year of
 * immutable caching: the names carry a hash of the content). Checks that
 * web_root/index.html exists. */
cc_status gw_web_register(gw_state *g, h2o_hostconf_t *host);
/* Answers a request outside /v1 and the ops paths: a file of the app's
 * top folder, or index.html for any other GET (the app's own routes,
 * "/problems/aplusb"). Returns false when no app is configured. */
bool gw_web_handle(gw_state *g, h2o_req_t *req);
/* The refresh token from the request's cookie, or false. */
bool gw_session_cookie(h2o_req_t *req, h2o_iovec_t *token);
/* Whether a cookie-authenticated request comes from our own origin:
 * Sec-Fetch-Site, when sent, is same-origin, and Origin, when sent, is
 * this request's own scheme and host. With SameSite=Strict this keeps a
 * cross-site page from using the cookie (CSRF). */
bool gw_same_origin(h2o_req_t *req);
/* Sets (token non-NULL) or removes (NULL) the refresh cookie. */
void gw_session_set_cookie(h2o_req_t *req, const gw_settings *cfg, const char *token,
                           size_t len);

/* ---- server.c ----------------------------------------------------------- */

struct gw_state {
    cc_actor *actor;
    const gw_settings *cfg;
    cc_redis *redis;
    uv_loop_t *loop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_plain, accept_tls;
    uv_tcp_t listen_plain, listen_tls;
    bool has_tls;
    int http_port, https_port;
    SSL_CTX *ssl;
    bool stopping;
    bool closed; /* the stop hook let go of Redis and the token keys */
    gw_proxies proxies;
    int open_handles;
    bool has_web;         /* web_root holds an app */
    char *web_index;      /* web_root/index.html */
    h2o_linklist_t conns; /* every open client connection (gw_conn.link) */
    int64_t nconns;
    uv_timer_t sweep;     /* once a second: resets and stalls */
    bool sweep_on;
};

cc_status gw_server_start(gw_state *g);
void gw_server_stop(gw_state *g);

/* ---- response.c ---------------------------------------------------------- */

/* The problem types the gateway answers with. Each has one HTTP status,
 * one slug (its type is https://codecourt.dev/problems/<slug>) and one
 * title, kept in one table in response.c so a type reads the same wherever
 * it is raised. */
typedef enum gw_problem_type {
    GW_P_INTERNAL, /* 500 internal */
    GW_P_INVALID_ARGUMENT, /* 400 invalid-argument */
    GW_P_MALFORMED_JSON, /* 400 malformed-json */
    GW_P_INVALID_BODY, /* 400 invalid-body */
    GW_P_WEBSOCKET_REQUIRED, /* 400 websocket-required */
    GW_P_UNAUTHENTICATED, /* 401 unauthenticated */
    GW_P_INVALID_TOKEN, /* 401 invalid-token */
    GW_P_FORBIDDEN, /* 403 forbidden */
    GW_P_NOT_FOUND, /* 404 not-found */
    GW_P_NO_ROUTE, /* 404 no-route */
    GW_P_METHOD_NOT_ALLOWED, /* 405 method-not-allowed */
    GW_P_ALREADY_EXISTS, /* 409 already-exists */
    GW_P_CONFLICT, /* 409 conflict */
    GW_P_BODY_TOO_LARGE, /* 413 body-too-large */
    GW_P_UNPROCESSABLE, /* 422 unprocessable */
    GW_P_RATE_LIMITED, /* 429 rate-limited */
    GW_P_TOO_MANY_SOCKETS, /* 429 too-many-sockets */
    GW_P_HEADERS_TOO_LARGE, /* 431 headers-too-large */
    GW_P_UNAVAILABLE, /* 503 unavailable */
    GW_P_TIMEOUT, /* 504 timeout */
    GW_P_NTYPES
} gw_problem_type;

/* Answers req with the RFC 9457 problem t; detail (may be NULL) says what
 * happened, field (may be NULL) names the input at fault. */
void gw_problem(h2o_req_t *req, gw_problem_type t, const char *detail, const char *field);
/* Answers req with the problem type a service's status maps to (a 401
 * also gets WWW-Authenticate, a 503 Retry-After: 1, a 429 the Retry-After
 * the service named); msg is the detail, and for bad input its
 * "field: reason" names the field. */
void gw_problem_from_status(h2o_req_t *req, cc_status s, const char *msg);
/* Sends body (copied) with status and content type ctype, and the headers
 * every answer carries: Cache-Control no-store, the security headers
 * (web.c), X-Request-Id. Counts the status on /metrics and the bytes in
 * the connection's accounting (conn.c). */
void gw_send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* Sends body as application/json with status. */
void gw_send_json(h2o_req_t *req, int status, json_t *body);
/* Adds a response header (v copied into the request's pool). */
void gw_add_header(h2o_req_t *req, const h2o_token_t *t, const char *v);
void gw_add_header_by_name(h2o_req_t *req, const char *name, const char *v);

/* ---- span.c ------------------------------------------------------------- */

/* Starts timing the request (cc_gateway_request_duration_seconds) and,
 * when tracing is on, its span (cc/trace.h): a child of the client's
 * traceparent when it sent one; env then carries the span's own, so every
 * RPC of the request is its child. Both end when h2o frees the request. */
void gw_request_span(h2o_req_t *req, cc_envelope *env);

#endif
