/* Access tokens as compact JWS (RFC 7515/7519), signed and verified with
 * OpenSSL directly, in one place for the signer (cc-user) and the
 * verifier (cc-gateway). The algorithm always follows the key and is never
 * read from the token: an EC P-256 key means ES256, an RSA key RS256; any
 * other key type is refused when it is loaded. ES256 signatures travel as
 * the raw 64-byte R||S of RFC 7518 section 3.4, not OpenSSL's DER.
 *
 * Keys are OpenSSL EVP_PKEYs (struct evp_pkey_st), parsed once by the
 * caller with cc_jwt_key_read and passed to every call; a call borrows the
 * key and may run on any thread. */
#ifndef CC_JWT_H
#define CC_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cc/status.h"

struct evp_pkey_st;

typedef enum cc_jwt_alg {
    CC_JWT_ALG_NONE = 0, /* a key no token may be signed with */
    CC_JWT_RS256,        /* RSASSA-PKCS1-v1_5 with SHA-256 */
    CC_JWT_ES256,        /* ECDSA on P-256 with SHA-256 */
} cc_jwt_alg;

enum {
    CC_JWT_ES256_SIG_LEN = 64, /* R||S, 32 bytes each */
    CC_JWT_ES256_DER_MAX = 72, /* the longest DER ECDSA-Sig-Value on P-256 */
    CC_JWT_SIG_MAX = 1024,     /* room for an RSA-8192 signature */
    CC_JWT_MAX_LEN = 8192,     /* longest token cc_jwt_verify looks at */
};

/* The algorithm k signs with: ES256 for EC on P-256, RS256 for RSA, NONE
 * for anything else (other curves, Ed25519, DSA, RSA-PSS...). */
cc_jwt_alg cc_jwt_alg_of(const struct evp_pkey_st *k);

/* "ES256", "RS256", or "none". Static text. */
const char *cc_jwt_alg_name(cc_jwt_alg a);

/* Reads the PEM key in the file path. With want_private only a private
 * key is accepted; otherwise a public key (SubjectPublicKeyInfo) or a
 * private one, of which only the public half is kept. A key whose
 * algorithm is NONE is CC_INVALID, with a cc_err_set message naming path
 * and the key type found. *out receives a new key owned by the caller
 * (EVP_PKEY_free). */
cc_status cc_jwt_key_read(const char *path, bool want_private, struct evp_pkey_st **out);

/* The key id of k: the first 16 bytes of SHA-256 over the DER of its
 * public key (SubjectPublicKeyInfo), in lower-case hex, NUL-terminated.
 * Signer and verifier compute the same one, from either half. */
cc_status cc_jwt_kid(const struct evp_pkey_st *k, char kid[33]);

/* Signs claims (borrowed, a JSON object) with the private key k under the
 * header {"alg":<k's alg>,"kid":kid,"typ":"JWT"}. *out receives the
 * compact token, malloc'd (free()). CC_INVALID for a key whose algorithm
 * is NONE, CC_INTERNAL if OpenSSL fails. */
cc_status cc_jwt_sign(struct evp_pkey_st *k, const char *kid, const json_t *claims, char **out);

/* The JWS signature of the n bytes at msg with the private key k, in its
 * JWS form (RS256: the PKCS#1 v1.5 signature; ES256: R||S, 64 bytes), in
 * sig (cap bytes); *siglen receives its length. For callers that build
 * their own signing input (tests forging tokens). */
cc_status cc_jwt_sign_bytes(struct evp_pkey_st *k, const void *msg, size_t n, unsigned char *sig,
                            size_t cap, size_t *siglen);

/* Verifies the compact token tok (len bytes, no NUL needed) with the key
 * k, public or private. In order, before any cryptography: the header
 * must name k's algorithm exactly (so "none", HS* and the other family
 * are refused: *why "token algorithm not accepted"), carry kid and no
 * "crit" ("token key not recognised"); then the signature must have its
 * algorithm's exact length and verify ("bad token signature"). On success
 * *claims receives the payload, a JSON object owned by the caller
 * (json_decref); the claims themselves (exp, aud...) are not checked
 * here. On failure CC_UNAUTHENTICATED (or CC_NOMEM) with *why set to
 * static text, and *claims NULL. */
cc_status cc_jwt_verify(struct evp_pkey_st *k, const char *kid, const char *tok, size_t len,
                        json_t **claims, const char **why);

/* ECDSA signature conversions for P-256. to_jose turns the DER
 * ECDSA-Sig-Value (n bytes) into R||S, each left-padded with zeros to 32
 * bytes; false if der is not one or R or S does not fit. from_jose turns
 * R||S into DER in der (CC_JWT_ES256_DER_MAX bytes) and returns its
 * length, 0 on failure. */
bool cc_jwt_ecdsa_to_jose(const unsigned char *der, size_t n, unsigned char rs[64]);
size_t cc_jwt_ecdsa_from_jose(const unsigned char rs[64], unsigned char der[72]);

#endif
