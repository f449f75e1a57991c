/* Access token verification. The signature and the header live in
 * runtime/src/jwt.c, shared with cc-user: the algorithm is pinned by the
 * key (EC P-256: ES256 only, RSA: RS256 only) and checked in the token's
 * own header before any cryptography, so "none", HS* keyed with our public
 * key (the HS/RS confusion attack) and the other family never get near a
 * verification. The claims are checked here. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cc/jwt.h"
#include "cc/log.h"
#include "gw.h"

static EVP_PKEY *key;
static char kid[33];
static const gw_settings *cfg;

static cc_status load_key(const char *path)
{
    EVP_PKEY *k = NULL;
    cc_status s = cc_jwt_key_read(path, false, &k);
    IFOK(s, cc_jwt_kid(k, kid));
    if (s != CC_OK) {
        EVP_PKEY_free(k);
        return s;
    }
    key = k;
    cc_log(CC_LOG_INFO, NULL, "verifying access tokens", "{s:s, s:s}", "alg",
           cc_jwt_alg_name(cc_jwt_alg_of(k)), "kid", kid);
    return CC_OK;
}

cc_status gw_auth_init(const gw_settings *c, int64_t wait_ms)
{
    cfg = c;
    for (int64_t waited = 0; access(c->jwt_key, R_OK) != 0 && waited < wait_ms; waited += 100)
        usleep(100000);
    return load_key(c->jwt_key);
}

static void vcache_clear(void);

void gw_auth_free(void)
{
    EVP_PKEY_free(key);
    key = NULL;
    vcache_clear();
}

static bool plain_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

/* Verifying a signature costs tens to hundreds of microseconds of CPU
 * (half a millisecond for RS256 through libjwt, which decoded the PEM key
 * on every call and made the gateway CPU-bound near 1,500 requests/s),
 * and a client reuses one token for many
 * requests, so a verified token is remembered. An entry holds the whole
 * token text and is matched byte for byte, never by hash alone, so the
 * cache can only skip the work for the very token whose signature was
 * checked; its times are checked again on every use, and revocation is
 * checked by the caller as always. Used on the gateway's loop only. */
enum { VCACHE_SLOTS = 1024 };

typedef struct {
    char *token;
    size_t len;
    gw_principal p;
    long nbf;
} vcache_entry;

static vcache_entry vcache[VCACHE_SLOTS];

static void vcache_clear(void)
{
    for (size_t i = 0; i < VCACHE_SLOTS; i++) {
        free(vcache[i].token);
        vcache[i].token = NULL;
    }
}

/* The slot comes from the token's last 32 bytes, which lie in its
 * signature (unpredictable to anyone without the key), so hashing the
 * whole 430-byte (ES256) or 690-byte (RS256) token on every request is
 * not needed; entries are still
 * compared whole. */
static size_t vcache_slot(const char *token, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ len;
    for (size_t i = len > 32 ? len - 32 : 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ull;
    return (size_t)(h % VCACHE_SLOTS);
}

static void vcache_put(const char *token, size_t len, const gw_principal *p, long nbf)
{
    vcache_entry *e = &vcache[vcache_slot(token, len)];
    char *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, token, len);
    free(e->token);
    e->token = copy;
    e->len = len;
    e->p = *p;
    e->nbf = nbf;
}

/* 1 = found and valid (p filled), 0 = not cached, -1 = cached but its
 * times say no (*why set). */
static int vcache_get(const char *token, size_t len, gw_principal *p, const char **why)
{
    const vcache_entry *e = &vcache[vcache_slot(token, len)];
    if (!e->token || e->len != len || memcmp(e->token, token, len) != 0)
        return 0;
    long now = (long)time(NULL), leeway = (long)(cfg->jwt_leeway_ms / 1000);
    if (now >= e->p.exp + leeway) {
        *why = "token expired";
        return -1;
    }
    if (e->nbf > now + leeway) {
        *why = "token not valid yet";
        return -1;
    }
    *p = e->p;
    return 1;
}

cc_status gw_auth_verify(const char *token, size_t len, gw_principal *p, const char **why)
{
    *why = "invalid token";
    if (!key || len == 0 || len > 4096)
        return CC_UNAUTHENTICATED;
    int cached = vcache_get(token, len, p, why);
    if (cached != 0)
        return cached > 0 ? CC_OK : CC_UNAUTHENTICATED;
    json_t *c = NULL;
    cc_status s = cc_jwt_verify(key, kid, token, len, &c, why);
    if (s != CC_OK)
        return s;
    s = CC_UNAUTHENTICATED;
    long now = (long)time(NULL), leeway = (long)(cfg->jwt_leeway_ms / 1000);
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *role = json_string_value(json_object_get(c, "role"));
    const char *jti = json_string_value(json_object_get(c, "jti"));
    /* Times count only as JSON integers: a missing, string or real exp
     * reads 0, so expired. */
    long exp = (long)json_integer_value(json_object_get(c, "exp"));
    long nbf = (long)json_integer_value(json_object_get(c, "nbf"));
    if (!iss || strcmp(iss, cfg->jwt_issuer) != 0)
        *why = "wrong token issuer";
    else if (!aud || strcmp(aud, cfg->jwt_audience) != 0)
        *why = "wrong token audience";
    else if (exp <= 0 || now >= exp + leeway)
        *why = "token expired";
    else if (nbf > now + leeway)
        *why = "token not valid yet";
    /* What goes on as the principal must be what every actor accepts
     * (cc/envelope.h): a token that names anything else is refused here. */
    else if (!sub || !cc_user_id_valid(sub))
        *why = "bad token subject";
    else if (!role || !cc_role_parse(role, &(cc_role){0}))
        *why = "bad token role";
    else if (!jti || !plain_id(jti, 64))
        *why = "bad token id";
    else {
        memcpy(p->user_id, sub, 37);
        snprintf(p->role, sizeof p->role, "%s", role);
        snprintf(p->jti, sizeof p->jti, "%s", jti);
        p->exp = exp;
        s = CC_OK;
        vcache_put(token, len, p, nbf);
    }
    json_decref(c);
    return s;
}

/* The bearer token of a request (the Authorization header; for a WebSocket,
 * also the subprotocol or the query), verified. */
bool gw_request_principal(h2o_req_t *req, gw_principal *p, bool from_query)
{
    const char *tok = NULL;
    size_t len = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len > 7 && h2o_lcstris(v.base, 7, H2O_STRLIT("bearer "))) {
            tok = v.base + 7;
            len = v.len - 7;
        }
    }
    /* Browsers cannot set headers on a WebSocket: the token may come as a
     * subprotocol "cc.bearer.<token>" (kept out of URLs and access logs),
     * or as ?access_token=... */
    ssize_t pi = -1;
    while (!tok && from_query &&
           (pi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"),
                                        pi)) >= 0) {
        h2o_iovec_t v = req->headers.entries[pi].value;
        const char *k = memmem(v.base, v.len, "cc.bearer.", 10);
        if (k && (k == v.base || k[-1] == ' ' || k[-1] == ',')) {
            tok = k + 10;
            const char *end = v.base + v.len;
            len = 0;
            while (tok + len < end && tok[len] != ',' && tok[len] != ' ')
                len++;
        }
    }
    if (!tok && i < 0 && from_query && req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1;
        const char *end = req->path.base + req->path.len;
        const char *k = memmem(q, (size_t)(end - q), "access_token=", 13);
        if (k && (k == q || k[-1] == '&')) {
            tok = k + 13;
            const char *amp = memchr(tok, '&', (size_t)(end - tok));
            len = (size_t)((amp ? amp : end) - tok);
        }
    }
    if (!tok) {
        gw_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer");
        gw_problem(req, GW_P_UNAUTHENTICATED,
                   "an access token is required (Authorization: Bearer)", NULL);
        return false;
    }
    const char *why;
    cc_status s = gw_auth_verify(tok, len, p, &why);
    if (s != CC_OK) {
        gw_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
        gw_problem(req, GW_P_INVALID_TOKEN, why, NULL);
        return false;
    }
    return true;
}
