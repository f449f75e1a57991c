/* Access tokens (JWT, RS256 only, signed here and nowhere else) and opaque
 * refresh tokens (random, stored only as their SHA-256).
 *
 * Tokens are signed with OpenSSL directly, with the key parsed once at
 * start. libjwt 1.10 takes the key as PEM text and decodes it again on
 * every signature (with OpenSSL 3's decoder lookup and a fresh RSA
 * blinding setup): about 2.4 ms of the loop per login against 0.4 ms for
 * the signature itself, long enough for a login storm to hold up other
 * requests queued behind it. The gateway still verifies with libjwt. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "user.h"

/* Local runs and tests need no setup: a missing key is generated (RSA
 * 2048) and written with mode 0600, by rename so that a reader (the
 * gateway, started next) never sees half a file. */
static cc_status generate_key(const char *path)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    if (!k)
        return cc_err_set(CC_INTERNAL, "cannot generate an RSA key");
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cc_status s = CC_OK;
    int fd = n > 0 && (size_t)n < sizeof tmp ? open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        s = cc_err_set(CC_IO, "jwt-key '%s': cannot create: %s", path, strerror(errno));
    } else {
        bool ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            unlink(tmp);
            s = cc_err_set(CC_IO, "jwt-key '%s': cannot write", path);
        }
    }
    EVP_PKEY_free(k);
    if (s == CC_OK)
        cc_log(CC_LOG_WARN, NULL, "generated a new JWT signing key", "{s:s}", "path", path);
    return s;
}

cc_status user_tokens_init(user_state *st)
{
    const char *path = st->cfg->jwt_key;
    if (access(path, F_OK) != 0) {
        cc_status s = generate_key(path);
        if (s != CC_OK)
            return s;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "jwt-key '%s': %s", path, strerror(errno));
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return cc_err_set(CC_INVALID, "jwt-key '%s': not an RSA private key in PEM", path);
    }
    st->key = k;
    /* The kid is derived from the public key, so the gateway computes the
     * same one from the public half and rotation needs no extra setting. */
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    if (dl <= 0)
        return cc_err_set(CC_INTERNAL, "jwt-key: cannot encode the public key");
    unsigned char md[32];
    SHA256(der, (size_t)dl, md);
    OPENSSL_free(der);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        st->kid[2 * i] = hex[md[i] >> 4];
        st->kid[2 * i + 1] = hex[md[i] & 15];
    }
    st->kid[32] = '\0';
    return CC_OK;
}

void user_tokens_free(user_state *st)
{
    EVP_PKEY_free(st->key);
    st->key = NULL;
}

/* base64url without padding of n bytes into out (4 * ceil(n / 3) + 1
 * bytes); returns the length written. */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = b64[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* base64url of a JSON value's compact text, appended at out + *len. */
static bool put_json(json_t *v, char *out, size_t cap, size_t *len)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    size_t n = text ? strlen(text) : 0;
    bool ok = text && *len + (n + 2) / 3 * 4 + 1 < cap;
    if (ok)
        *len += b64url((const unsigned char *)text, n, out + *len);
    free(text);
    json_decref(v);
    return ok;
}

cc_status user_jwt_issue(const user_state *st, const char *user_id, const char *role, char **out,
                         char jti[33])
{
    cc_random_hex(jti, 32);
    long long now = (long long)time(NULL);
    enum { CAP = 2048 };
    char *tok = malloc(CAP);
    if (!tok)
        return CC_NOMEM;
    size_t len = 0;
    bool ok = put_json(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", st->kid, "typ", "JWT"),
                       tok, CAP, &len);
    if (ok) {
        tok[len++] = '.';
        ok = put_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss",
                                st->cfg->jwt_issuer, "aud", st->cfg->jwt_audience, "sub", user_id,
                                "role", role, "jti", jti, "iat", now, "nbf", now, "exp",
                                now + (long long)(st->cfg->access_ttl_ms / 1000)),
                      tok, CAP, &len);
    }
    unsigned char sig[512];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = ok ? EVP_MD_CTX_new() : NULL;
    ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, st->key) == 1 &&
         EVP_DigestSign(md, sig, &siglen, (const unsigned char *)tok, len) == 1 &&
         len + 1 + (siglen + 2) / 3 * 4 + 1 < CAP;
    EVP_MD_CTX_free(md);
    if (!ok) {
        free(tok);
        return cc_err_set(CC_INTERNAL, "cannot sign an access token");
    }
    tok[len++] = '.';
    b64url(sig, siglen, tok + len);
    *out = tok;
    return CC_OK;
}

void user_refresh_hash(const char *tok, unsigned char hash[32])
{
    SHA256((const unsigned char *)tok, strlen(tok), hash);
}

void user_refresh_new(char tok[44], unsigned char hash[32])
{
    unsigned char r[33];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        abort(); /* getrandom on Linux does not fail once the pool is seeded */
    /* 33 bytes -> 44 chars; keep 43 (258 bits, the last char partial). */
    char full[45];
    b64url(r, sizeof r, full);
    memcpy(tok, full, 43);
    tok[43] = '\0';
    user_refresh_hash(tok, hash);
}
