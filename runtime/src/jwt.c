/* Compact JWS with OpenSSL (see cc/jwt.h). This replaced libjwt 1.10 on
 * both sides: it decoded the PEM key again on every call (2.4 ms per
 * signature in cc-user, half a millisecond per verification in the
 * gateway) and verified with whatever algorithm the token named. Here the
 * key is parsed once by the caller and the algorithm comes from the key.
 *
 * Every failure path clears OpenSSL's error queue: the gateway verifies on
 * the loop that also runs TLS, and a stale error there can turn a later
 * SSL_get_error into a spurious SSL_ERROR_SSL. */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/base64.h"
#include "cc/jwt.h"

cc_jwt_alg cc_jwt_alg_of(const EVP_PKEY *k)
{
    if (!k)
        return CC_JWT_ALG_NONE;
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_RSA)
        return CC_JWT_RS256;
    char group[80];
    size_t glen;
    /* Explicit curve parameters pass only when OpenSSL recognises them
     * as P-256 (then it names the group). */
    if (id == EVP_PKEY_EC && EVP_PKEY_get_group_name(k, group, sizeof group, &glen) == 1 &&
        OBJ_sn2nid(group) == NID_X9_62_prime256v1)
        return CC_JWT_ES256;
    ERR_clear_error();
    return CC_JWT_ALG_NONE;
}

const char *cc_jwt_alg_name(cc_jwt_alg a)
{
    switch (a) {
    case CC_JWT_RS256:
        return "RS256";
    case CC_JWT_ES256:
        return "ES256";
    default:
        return "none";
    }
}

cc_status cc_jwt_key_read(const char *path, bool want_private, EVP_PKEY **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "jwt-key '%s': cannot open: %s", path, strerror(errno));
    EVP_PKEY *k = NULL;
    if (!want_private) {
        k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        if (!k)
            rewind(f); /* locally the verifier may share the signer's file */
    }
    if (!k) {
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        if (k && !want_private) {
            /* A verifier keeps only the public half in memory. */
            unsigned char *der = NULL;
            int dl = i2d_PUBKEY(k, &der);
            const unsigned char *p = der;
            EVP_PKEY_free(k);
            k = dl > 0 ? d2i_PUBKEY(NULL, &p, dl) : NULL;
            OPENSSL_free(der);
        }
    }
    fclose(f);
    ERR_clear_error();
    if (!k)
        return cc_err_set(CC_INVALID, "jwt-key '%s': not a %s key in PEM", path,
                          want_private ? "private" : "public or private");
    if (cc_jwt_alg_of(k) == CC_JWT_ALG_NONE) {
        char what[96], group[80];
        size_t glen;
        int id = EVP_PKEY_get_base_id(k);
        if (id == EVP_PKEY_EC)
            snprintf(what, sizeof what, "an EC key on %s",
                     EVP_PKEY_get_group_name(k, group, sizeof group, &glen) == 1
                         ? group
                         : "explicit curve parameters");
        else
            snprintf(what, sizeof what, "a key of type %s",
                     OBJ_nid2sn(id) ? OBJ_nid2sn(id) : "unknown");
        EVP_PKEY_free(k);
        ERR_clear_error();
        return cc_err_set(CC_INVALID,
                          "jwt-key '%s': %s; access tokens need an EC P-256 key (ES256) or an "
                          "RSA key (RS256)",
                          path, what);
    }
    *out = k;
    return CC_OK;
}

cc_status cc_jwt_kid(const EVP_PKEY *k, char kid[33])
{
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    if (dl <= 0) {
        ERR_clear_error();
        return cc_err_set(CC_INTERNAL, "jwt-key: cannot encode the public key");
    }
    unsigned char md[32];
    SHA256(der, (size_t)dl, md);
    OPENSSL_free(der);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        kid[2 * i] = hex[md[i] >> 4];
        kid[2 * i + 1] = hex[md[i] & 15];
    }
    kid[32] = '\0';
    return CC_OK;
}


bool cc_jwt_ecdsa_to_jose(const unsigned char *der, size_t n, unsigned char rs[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = n <= CC_JWT_ES256_DER_MAX ? d2i_ECDSA_SIG(NULL, &p, (long)n) : NULL;
    const BIGNUM *r = NULL, *s = NULL;
    if (sig)
        ECDSA_SIG_get0(sig, &r, &s);
    bool ok = sig && p == der + n && !BN_is_negative(r) && !BN_is_negative(s) &&
              BN_bn2binpad(r, rs, 32) == 32 && BN_bn2binpad(s, rs + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    if (!ok)
        ERR_clear_error();
    return ok;
}

size_t cc_jwt_ecdsa_from_jose(const unsigned char rs[64], unsigned char der[72])
{
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    if (!r || !s || !sig) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        ERR_clear_error();
        return 0;
    }
    ECDSA_SIG_set0(sig, r, s); /* takes r and s */
    int n = i2d_ECDSA_SIG(sig, NULL);
    unsigned char *p = der;
    if (n <= 0 || n > CC_JWT_ES256_DER_MAX || i2d_ECDSA_SIG(sig, &p) != n)
        n = 0;
    ECDSA_SIG_free(sig);
    if (n == 0)
        ERR_clear_error();
    return (size_t)n;
}

cc_status cc_jwt_sign_bytes(EVP_PKEY *k, const void *msg, size_t n, unsigned char *sig, size_t cap,
                            size_t *siglen)
{
    cc_jwt_alg alg = cc_jwt_alg_of(k);
    if (alg == CC_JWT_ALG_NONE)
        return cc_err_set(CC_INVALID, "jwt: the key signs no JWS algorithm");
    unsigned char buf[CC_JWT_SIG_MAX];
    size_t bl = sizeof buf;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
              EVP_DigestSign(md, buf, &bl, msg, n) == 1;
    EVP_MD_CTX_free(md);
    if (ok && alg == CC_JWT_ES256) {
        /* OpenSSL gives the DER ECDSA-Sig-Value; JWS wants R||S. */
        unsigned char rs[CC_JWT_ES256_SIG_LEN];
        ok = cc_jwt_ecdsa_to_jose(buf, bl, rs);
        memcpy(buf, rs, sizeof rs);
        bl = sizeof rs;
    }
    if (!ok || bl > cap) {
        ERR_clear_error();
        return cc_err_set(CC_INTERNAL, "jwt: cannot sign with %s", cc_jwt_alg_name(alg));
    }
    memcpy(sig, buf, bl);
    *siglen = bl;
    return CC_OK;
}

/* The compact JSON of v as base64url at out + *len (cap bytes in all). */
static bool put_json(const json_t *v, char *out, size_t cap, size_t *len)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    size_t n = text ? strlen(text) : 0;
    bool ok = text && *len + (n + 2) / 3 * 4 + 1 < cap;
    if (ok)
        *len += cc_b64_encode(text, n, CC_B64_URL, out + *len);
    free(text);
    return ok;
}

cc_status cc_jwt_sign(EVP_PKEY *k, const char *kid, const json_t *claims, char **out)
{
    *out = NULL;
    cc_jwt_alg alg = cc_jwt_alg_of(k);
    if (alg == CC_JWT_ALG_NONE)
        return cc_err_set(CC_INVALID, "jwt: the key signs no JWS algorithm");
    if (!kid || !json_is_object(claims))
        return cc_err_set(CC_INVALID, "jwt: no kid, or the claims are not a JSON object");
    enum { CAP = CC_JWT_MAX_LEN };
    char *tok = malloc(CAP);
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", cc_jwt_alg_name(alg), "kid", kid, "typ", "JWT");
    size_t len = 0;
    bool ok = tok && h && put_json(h, tok, CAP, &len);
    json_decref(h);
    if (ok) {
        tok[len++] = '.';
        ok = put_json(claims, tok, CAP, &len);
    }
    if (!ok) {
        free(tok);
        return tok && h ? cc_err_set(CC_INVALID, "jwt: the claims are too long") : CC_NOMEM;
    }
    unsigned char sig[CC_JWT_SIG_MAX];
    size_t siglen;
    cc_status s = cc_jwt_sign_bytes(k, tok, len, sig, sizeof sig, &siglen);
    if (s == CC_OK && len + 1 + (siglen + 2) / 3 * 4 + 1 > CAP)
        s = cc_err_set(CC_INVALID, "jwt: the claims are too long");
    if (s != CC_OK) {
        free(tok);
        return s;
    }
    tok[len++] = '.';
    cc_b64_encode(sig, siglen, CC_B64_URL, tok + len);
    *out = tok;
    return CC_OK;
}

/* The header, decoded and parsed; NULL unless it is a JSON object. */
static json_t *header_of(const char *seg, size_t n)
{
    unsigned char buf[768];
    size_t len;
    if (!cc_b64_decode(seg, n, CC_B64_URL, buf, sizeof buf, &len))
        return NULL;
    json_t *h = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static bool verify_sig(EVP_PKEY *k, cc_jwt_alg alg, const char *input, size_t n, const char *seg,
                       size_t segn)
{
    unsigned char sig[CC_JWT_SIG_MAX], der[CC_JWT_ES256_DER_MAX];
    size_t sl;
    if (!cc_b64_decode(seg, segn, CC_B64_URL, sig, sizeof sig, &sl))
        return false;
    /* The exact length first: an ES256 signature is R||S and nothing else
     * (not the DER some signers send), an RS256 one the modulus size. */
    const unsigned char *vs = sig;
    if (alg == CC_JWT_ES256) {
        if (sl != CC_JWT_ES256_SIG_LEN || (sl = cc_jwt_ecdsa_from_jose(sig, der)) == 0)
            return false;
        vs = der;
    } else if (sl != (size_t)EVP_PKEY_get_size(k)) {
        return false;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
              EVP_DigestVerify(md, vs, sl, (const unsigned char *)input, n) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        ERR_clear_error();
    return ok;
}

cc_status cc_jwt_verify(EVP_PKEY *k, const char *kid, const char *tok, size_t len, json_t **claims,
                        const char **why)
{
    *claims = NULL;
    *why = "invalid token";
    cc_jwt_alg alg = cc_jwt_alg_of(k);
    const char *end = tok + len;
    const char *d1 = len > 0 && len <= CC_JWT_MAX_LEN ? memchr(tok, '.', len) : NULL;
    if (alg == CC_JWT_ALG_NONE || !d1)
        return CC_UNAUTHENTICATED;

    /* The header decides nothing: it must name exactly what the key
     * implies, and is checked before any cryptography. */
    json_t *h = header_of(tok, (size_t)(d1 - tok));
    if (!h)
        return CC_UNAUTHENTICATED;
    const char *halg = json_string_value(json_object_get(h, "alg"));
    const char *hkid = json_string_value(json_object_get(h, "kid"));
    bool alg_ok = halg && strcmp(halg, cc_jwt_alg_name(alg)) == 0;
    bool kid_ok = hkid && kid && strcmp(hkid, kid) == 0;
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

    const char *pay = d1 + 1;
    const char *d2 = memchr(pay, '.', (size_t)(end - pay));
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return CC_UNAUTHENTICATED;
    if (!verify_sig(k, alg, tok, (size_t)(d2 - tok), d2 + 1, (size_t)(end - d2 - 1))) {
        *why = "bad token signature";
        return CC_UNAUTHENTICATED;
    }

    size_t pn = (size_t)(d2 - pay), bl;
    unsigned char *buf = malloc(pn / 4 * 3 + 3);
    if (!buf)
        return CC_NOMEM;
    json_t *c = NULL;
    if (cc_b64_decode(pay, pn, CC_B64_URL, buf, pn / 4 * 3 + 3, &bl))
        c = json_loadb((const char *)buf, bl, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (!json_is_object(c)) {
        json_decref(c);
        return CC_UNAUTHENTICATED;
    }
    *claims = c;
    return CC_OK;
}
