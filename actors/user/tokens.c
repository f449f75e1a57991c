/* Access tokens (JWT, RS256 only, signed here and nowhere else) and opaque
 * refresh tokens (random, stored only as their SHA-256). */
#include <errno.h>
#include <fcntl.h>
#include <jwt.h>
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

static cc_status read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "jwt-key '%s': %s", path, strerror(errno));
    unsigned char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        return cc_err_set(CC_IO, "jwt-key '%s': empty or unreadable", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CC_OK;
}

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
    cc_status s = read_file(path, &st->key_pem, &st->key_len);
    if (s != CC_OK)
        return s;
    BIO *bio = BIO_new_mem_buf(st->key_pem, (int)st->key_len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return cc_err_set(CC_INVALID, "jwt-key '%s': not an RSA private key in PEM", path);
    }
    /* The kid is derived from the public key, so the gateway computes the
     * same one from the public half and rotation needs no extra setting. */
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    EVP_PKEY_free(k);
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

cc_status user_jwt_issue(const user_state *st, const char *user_id, const char *role, char **out,
                         char jti[33])
{
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0)
        return CC_NOMEM;
    cc_random_hex(jti, 32);
    long now = (long)time(NULL);
    int e = 0;
    e |= jwt_add_header(j, "kid", st->kid);
    e |= jwt_add_grant(j, "iss", st->cfg->jwt_issuer);
    e |= jwt_add_grant(j, "aud", st->cfg->jwt_audience);
    e |= jwt_add_grant(j, "sub", user_id);
    e |= jwt_add_grant(j, "role", role);
    e |= jwt_add_grant(j, "jti", jti);
    e |= jwt_add_grant_int(j, "iat", now);
    e |= jwt_add_grant_int(j, "nbf", now);
    e |= jwt_add_grant_int(j, "exp", now + (long)(st->cfg->access_ttl_ms / 1000));
    e |= jwt_set_alg(j, JWT_ALG_RS256, st->key_pem, (int)st->key_len);
    char *tok = e == 0 ? jwt_encode_str(j) : NULL;
    jwt_free(j);
    if (!tok)
        return cc_err_set(CC_INTERNAL, "cannot sign an access token");
    *out = tok;
    return CC_OK;
}

void user_refresh_hash(const char *tok, unsigned char hash[32])
{
    SHA256((const unsigned char *)tok, strlen(tok), hash);
}

void user_refresh_new(char tok[44], unsigned char hash[32])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[33];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        abort(); /* getrandom on Linux does not fail once the pool is seeded */
    /* 33 bytes -> 44 chars; keep 43 (258 bits, the last char partial). */
    for (int i = 0, o = 0; i < 33; i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        tok[o++] = b64[v >> 18 & 63];
        tok[o++] = b64[v >> 12 & 63];
        tok[o++] = b64[v >> 6 & 63];
        if (o < 43)
            tok[o++] = b64[v & 63];
    }
    tok[43] = '\0';
    user_refresh_hash(tok, hash);
}
