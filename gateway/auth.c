/* Access token verification. The algorithm is pinned to RS256 and checked
 * in the token's own header before libjwt sees it: libjwt 1.10 verifies
 * with whatever algorithm the header names, so an "HS256" token would be
 * checked as an HMAC keyed with our public key (the HS/RS confusion
 * attack) and "none" must never reach it. */
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "gw.h"

static char *pub_pem;
static size_t pub_len;
static char kid[33];
static const gw_settings *cfg;

static cc_status load_key(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "jwt-key '%s': cannot open", path);
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!k) {
        /* Locally the gateway may share cc-user's private key file; only
         * its public half is kept. */
        rewind(f);
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return cc_err_set(CC_INVALID, "jwt-key '%s': not an RSA key in PEM", path);
    }
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = dl > 0 && b && PEM_write_bio_PUBKEY(b, k) == 1;
    EVP_PKEY_free(k);
    if (ok) {
        unsigned char md[32];
        SHA256(der, (size_t)dl, md);
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 16; i++) {
            kid[2 * i] = hex[md[i] >> 4];
            kid[2 * i + 1] = hex[md[i] & 15];
        }
        kid[32] = '\0';
        char *data;
        long n = BIO_get_mem_data(b, &data);
        pub_pem = malloc((size_t)n + 1);
        if (pub_pem) {
            memcpy(pub_pem, data, (size_t)n);
            pub_pem[n] = '\0';
            pub_len = (size_t)n;
        }
        ok = pub_pem != NULL;
    }
    OPENSSL_free(der);
    BIO_free(b);
    return ok ? CC_OK : cc_err_set(CC_INTERNAL, "jwt-key '%s': cannot encode", path);
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
    free(pub_pem);
    pub_pem = NULL;
    vcache_clear();
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes the first segment (the header) as JSON. */
static json_t *header_json(const char *tok, size_t n)
{
    if (n > 1024)
        return NULL;
    char out[800];
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(tok[i]);
        if (v < 0)
            return NULL;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= sizeof out)
                return NULL;
            out[o++] = (char)(acc >> bits);
        }
    }
    return json_loadb(out, o, 0, NULL);
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

/* Verifying an RS256 signature through libjwt costs about half a
 * millisecond of CPU with OpenSSL 3 (the PEM key is decoded and the
 * algorithms fetched again on every call), which made the gateway
 * CPU-bound near 1,500 requests/s. A client reuses one token for many
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
 * whole ~700-byte token on every request is not needed; entries are still
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
    if (!pub_pem || len == 0 || len > 4096)
        return CC_UNAUTHENTICATED;
    int cached = vcache_get(token, len, p, why);
    if (cached != 0)
        return cached > 0 ? CC_OK : CC_UNAUTHENTICATED;
    const char *dot = memchr(token, '.', len);
    if (!dot)
        return CC_UNAUTHENTICATED;
    json_t *h = header_json(token, (size_t)(dot - token));
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *hkid = json_string_value(json_object_get(h, "kid"));
    bool alg_ok = alg && strcmp(alg, "RS256") == 0;
    bool kid_ok = hkid && strcmp(hkid, kid) == 0;
    bool crit = json_object_get(h, "crit") != NULL;
    json_decref(h);
    if (!alg_ok) {
        *why = "token algorithm not accepted";
        return CC_UNAUTHENTICATED;
    }
    if (!kid_ok || crit) {
        *why = "token key not recognised";
        return CC_UNAUTHENTICATED;
    }
    char *copy = strndup(token, len);
    if (!copy)
        return CC_NOMEM;
    jwt_t *j = NULL;
    int r = jwt_decode(&j, copy, (const unsigned char *)pub_pem, (int)pub_len);
    free(copy);
    if (r != 0 || !j || jwt_get_alg(j) != JWT_ALG_RS256) {
        jwt_free(j);
        *why = "bad token signature";
        return CC_UNAUTHENTICATED;
    }
    cc_status s = CC_UNAUTHENTICATED;
    long now = (long)time(NULL), leeway = (long)(cfg->jwt_leeway_ms / 1000);
    const char *iss = jwt_get_grant(j, "iss"), *aud = jwt_get_grant(j, "aud");
    const char *sub = jwt_get_grant(j, "sub"), *role = jwt_get_grant(j, "role");
    const char *jti = jwt_get_grant(j, "jti");
    long exp = jwt_get_grant_int(j, "exp"), nbf = jwt_get_grant_int(j, "nbf");
    if (!iss || strcmp(iss, cfg->jwt_issuer) != 0)
        *why = "wrong token issuer";
    else if (!aud || strcmp(aud, cfg->jwt_audience) != 0)
        *why = "wrong token audience";
    else if (exp <= 0 || now >= exp + leeway)
        *why = "token expired";
    else if (nbf > now + leeway)
        *why = "token not valid yet";
    else if (!sub || strlen(sub) != 36 || !plain_id(sub, 36))
        *why = "bad token subject";
    else if (!role || (strcmp(role, "user") != 0 && strcmp(role, "setter") != 0 &&
                       strcmp(role, "admin") != 0))
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
    jwt_free(j);
    return s;
}
