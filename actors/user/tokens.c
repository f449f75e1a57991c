/* Access tokens (JWT, signed here and nowhere else) and opaque refresh
 * tokens (random, stored only as their SHA-256).
 *
 * The algorithm follows the key (runtime/src/jwt.c, shared with the
 * gateway): ES256 for the EC P-256 key made on a first local run, RS256
 * for an RSA key file from before. ES256 is the default because every
 * request carries the token in a header HPACK never indexes, so the
 * gateway Huffman-decodes all of it each time: its 64-byte signature
 * makes a token about 430 characters against about 690 with RS256's 256
 * bytes, and signing at login costs far less than RSA-2048. The key is
 * parsed once at start (libjwt decoded the PEM on every signature, 2.4 ms
 * of the loop per login). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/ec.h>
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

#include "cc/base64.h"
#include "cc/jwt.h"
#include "cc/log.h"
#include "user.h"

/* Local runs and tests need no setup: a missing key is generated (EC
 * P-256, so ES256) and written with mode 0600, by rename so that a reader
 * (the gateway, started next) never sees half a file. */
static cc_status generate_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        return cc_err_set(CC_INTERNAL, "cannot generate an EC P-256 key");
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
    EVP_PKEY *k = NULL;
    cc_status s = cc_jwt_key_read(path, true, &k);
    if (s != CC_OK)
        return s;
    st->key = k;
    /* The kid is derived from the public key, so the gateway computes the
     * same one from the public half and rotation needs no extra setting. */
    s = cc_jwt_kid(k, st->kid);
    if (s == CC_OK)
        cc_log(CC_LOG_INFO, NULL, "signing access tokens", "{s:s, s:s}", "alg",
               cc_jwt_alg_name(cc_jwt_alg_of(k)), "kid", st->kid);
    return s;
}

void user_tokens_free(user_state *st)
{
    EVP_PKEY_free(st->key);
    st->key = NULL;
}

cc_status user_jwt_issue(const user_state *st, const char *user_id, const char *role, char **out,
                         char jti[33])
{
    cc_random_hex(jti, 32);
    long long now = (long long)time(NULL);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", st->cfg->jwt_issuer, "aud",
                  st->cfg->jwt_audience, "sub", user_id, "role", role, "jti", jti, "iat", now,
                  "nbf", now, "exp", now + (long long)(st->cfg->access_ttl_ms / 1000));
    cc_status s = claims ? cc_jwt_sign(st->key, st->kid, claims, out) : CC_NOMEM;
    json_decref(claims);
    /* cc_jwt_sign says why, except when memory ran out. */
    return s == CC_NOMEM ? cc_err_set(s, "cannot sign an access token: out of memory") : s;
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
    cc_b64_encode(r, sizeof r, CC_B64_URL, full);
    memcpy(tok, full, 43);
    tok[43] = '\0';
    user_refresh_hash(tok, hash);
}
