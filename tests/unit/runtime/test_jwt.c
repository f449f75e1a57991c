/* cc/jwt.h: sign and verify round trips for both algorithms, the
 * algorithm pinned by the key, and the DER <-> R||S conversions of ES256
 * at their edges (R or S with leading zero bytes). */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/base64.h"
#include "cc/jwt.h"

static EVP_PKEY *ec, *rsa;
static char ec_kid[33], rsa_kid[33];

static int setup(void **state)
{
    ec = EVP_EC_gen("P-256");
    rsa = EVP_RSA_gen(2048);
    if (!ec || !rsa || cc_jwt_kid(ec, ec_kid) != CC_OK || cc_jwt_kid(rsa, rsa_kid) != CC_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    return 0;
}

static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:I}", "sub", "00000000-0000-4000-8000-000000000000", "role",
                     "user", "exp", (json_int_t)4102444800);
}

/* The public half alone, as the gateway holds it. */
static EVP_PKEY *public_of(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    assert_non_null(pub);
    return pub;
}

static void round_trip(EVP_PKEY *k, const char *kid, const char *alg, size_t siglen)
{
    json_t *c = claims();
    char *tok = NULL;
    assert_int_equal(cc_jwt_sign(k, kid, c, &tok), CC_OK);
    json_decref(c);
    /* base64url of the signature, after the last dot */
    assert_int_equal(strlen(strrchr(tok, '.') + 1), (siglen * 4 + 2) / 3);
    EVP_PKEY *pub = public_of(k);
    json_t *out = NULL;
    const char *why = NULL;
    assert_int_equal(cc_jwt_verify(pub, kid, tok, strlen(tok), &out, &why), CC_OK);
    assert_string_equal(json_string_value(json_object_get(out, "role")), "user");
    json_decref(out);
    /* One changed character anywhere in the signed part breaks it. */
    char *dot = strchr(tok, '.'), was = dot[3];
    dot[3] = was == 'A' ? 'B' : 'A';
    assert_int_equal(cc_jwt_verify(pub, kid, tok, strlen(tok), &out, &why), CC_UNAUTHENTICATED);
    assert_null(out);
    dot[3] = was;
    assert_int_equal(cc_jwt_verify(pub, kid, tok, strlen(tok), &out, &why), CC_OK);
    json_decref(out);
    /* Another kid is not ours. */
    assert_int_equal(
        cc_jwt_verify(pub, "0123456789abcdef0123456789abcdef", tok, strlen(tok), &out, &why),
        CC_UNAUTHENTICATED);
    assert_string_equal(why, "token key not recognised");
    EVP_PKEY_free(pub);
    /* The header names the key's algorithm, our kid and the type. */
    char hdr[128], want[200];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
    size_t wl = cc_b64_encode(hdr, strlen(hdr), CC_B64_URL, want);
    assert_int_equal((size_t)(dot - tok), wl);
    assert_memory_equal(tok, want, wl);
    free(tok);
}

static void es256_round_trip(void **state)
{
    assert_int_equal(cc_jwt_alg_of(ec), CC_JWT_ES256);
    round_trip(ec, ec_kid, "ES256", 64);
}

static void rs256_round_trip(void **state)
{
    assert_int_equal(cc_jwt_alg_of(rsa), CC_JWT_RS256);
    round_trip(rsa, rsa_kid, "RS256", 256);
}

/* A token with header hdr (JSON text), our claims, and sig (n bytes). */
static char *token_with(const char *hdr, const unsigned char *sig, size_t n, char **input)
{
    json_t *c = claims();
    char *ct = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *t = malloc(4096);
    size_t l = cc_b64_encode(hdr, strlen(hdr), CC_B64_URL, t);
    t[l++] = '.';
    l += cc_b64_encode(ct, strlen(ct), CC_B64_URL, t + l);
    free(ct);
    if (input)
        *input = strndup(t, l);
    if (sig) {
        t[l++] = '.';
        cc_b64_encode(sig, n, CC_B64_URL, t + l);
    }
    return t;
}

static void expect_refused(EVP_PKEY *k, const char *kid, const char *tok, const char *want)
{
    json_t *out = (json_t *)1;
    const char *why = NULL;
    assert_int_equal(cc_jwt_verify(k, kid, tok, strlen(tok), &out, &why), CC_UNAUTHENTICATED);
    assert_null(out);
    assert_string_equal(why, want);
}

static void algorithm_follows_the_key(void **state)
{
    char hdr[160];
    unsigned char sig[CC_JWT_SIG_MAX];
    size_t sl;
    char *in, *t;

    /* An RSA signature under an ES256 key's kid, and the reverse. */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", ec_kid);
    t = token_with(hdr, NULL, 0, &in);
    assert_int_equal(cc_jwt_sign_bytes(rsa, in, strlen(in), sig, sizeof sig, &sl), CC_OK);
    free(t);
    t = token_with(hdr, sig, sl, NULL);
    expect_refused(ec, ec_kid, t, "token algorithm not accepted");
    free(t);
    free(in);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", rsa_kid);
    t = token_with(hdr, NULL, 0, &in);
    assert_int_equal(cc_jwt_sign_bytes(ec, in, strlen(in), sig, sizeof sig, &sl), CC_OK);
    assert_int_equal(sl, 64);
    free(t);
    t = token_with(hdr, sig, sl, NULL);
    expect_refused(rsa, rsa_kid, t, "token algorithm not accepted");
    free(t);
    free(in);

    /* HS256 keyed with the public key's PEM text (the confusion attack),
     * against both kinds of key. */
    EVP_PKEY *keys[] = {ec, rsa};
    const char *kids[] = {ec_kid, rsa_kid};
    for (int i = 0; i < 2; i++) {
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(b, keys[i]);
        char *pem;
        long pl = BIO_get_mem_data(b, &pem);
        snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kids[i]);
        t = token_with(hdr, NULL, 0, &in);
        unsigned int ml = 32;
        HMAC(EVP_sha256(), pem, (int)pl, (unsigned char *)in, strlen(in), sig, &ml);
        BIO_free(b);
        free(t);
        t = token_with(hdr, sig, ml, NULL);
        expect_refused(keys[i], kids[i], t, "token algorithm not accepted");
        free(t);
        free(in);
        /* none, with and without an empty signature */
        snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"kid\":\"%s\"}", kids[i]);
        t = token_with(hdr, sig, 0, NULL);
        expect_refused(keys[i], kids[i], t, "token algorithm not accepted");
        free(t);
        t = token_with(hdr, NULL, 0, NULL);
        expect_refused(keys[i], kids[i], t, "token algorithm not accepted");
        free(t);
        /* no alg, a lower-case one, crit */
        snprintf(hdr, sizeof hdr, "{\"kid\":\"%s\"}", kids[i]);
        t = token_with(hdr, sig, 32, NULL);
        expect_refused(keys[i], kids[i], t, "token algorithm not accepted");
        free(t);
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\"}", i ? "rs256" : "es256",
                 kids[i]);
        t = token_with(hdr, sig, 32, NULL);
        expect_refused(keys[i], kids[i], t, "token algorithm not accepted");
        free(t);
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"crit\":[\"exp\"]}",
                 i ? "RS256" : "ES256", kids[i]);
        t = token_with(hdr, sig, 32, NULL);
        expect_refused(keys[i], kids[i], t, "token key not recognised");
        free(t);
    }

    /* Keys that sign nothing. */
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_int_equal(cc_jwt_alg_of(p384), CC_JWT_ALG_NONE);
    assert_int_equal(cc_jwt_alg_of(ed), CC_JWT_ALG_NONE);
    json_t *c = claims();
    char *tok = NULL;
    assert_int_equal(cc_jwt_sign(p384, "x", c, &tok), CC_INVALID);
    assert_null(tok);
    json_decref(c);
    /* ... and refused when read from a file, with a message saying why. */
    char path[] = "/tmp/cc-test-jwt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    PEM_write_PrivateKey(f, p384, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    EVP_PKEY *k = NULL;
    assert_int_equal(cc_jwt_key_read(path, true, &k), CC_INVALID);
    assert_null(k);
    assert_non_null(strstr(cc_err_msg(), "secp384r1"));
    /* An EC P-256 private key file: read whole, or its public half. */
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    assert_int_equal(cc_jwt_key_read(path, false, &k), CC_OK);
    char kid[33];
    assert_int_equal(cc_jwt_kid(k, kid), CC_OK);
    assert_string_equal(kid, ec_kid);
    /* The public half only: it cannot sign. */
    assert_int_equal(cc_jwt_sign_bytes(k, "x", 1, sig, sizeof sig, &sl), CC_INTERNAL);
    EVP_PKEY_free(k);
    assert_int_equal(cc_jwt_key_read(path, true, &k), CC_OK);
    assert_int_equal(cc_jwt_sign_bytes(k, "x", 1, sig, sizeof sig, &sl), CC_OK);
    EVP_PKEY_free(k);
    /* A public key file is not a private key. */
    f = fopen(path, "w");
    PEM_write_PUBKEY(f, rsa);
    fclose(f);
    assert_int_equal(cc_jwt_key_read(path, true, &k), CC_INVALID);
    assert_int_equal(cc_jwt_key_read(path, false, &k), CC_OK);
    assert_int_equal(cc_jwt_alg_of(k), CC_JWT_RS256);
    EVP_PKEY_free(k);
    unlink(path);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

/* ES256 signatures are R||S: exactly 64 bytes, never DER. */
static void es256_signature_shape(void **state)
{
    char hdr[160], *in;
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", ec_kid);
    char *t = token_with(hdr, NULL, 0, &in);
    free(t);
    unsigned char rs[CC_JWT_SIG_MAX], der[CC_JWT_ES256_DER_MAX];
    size_t sl;
    assert_int_equal(cc_jwt_sign_bytes(ec, in, strlen(in), rs, sizeof rs, &sl), CC_OK);
    assert_int_equal(sl, 64);
    t = token_with(hdr, rs, 64, NULL);
    json_t *out;
    const char *why;
    assert_int_equal(cc_jwt_verify(ec, ec_kid, t, strlen(t), &out, &why), CC_OK);
    json_decref(out);
    free(t);
    size_t dl = cc_jwt_ecdsa_from_jose(rs, der);
    assert_true(dl >= 8 && dl <= 72);
    t = token_with(hdr, der, dl, NULL); /* what OpenSSL itself produces */
    expect_refused(ec, ec_kid, t, "bad token signature");
    free(t);
    t = token_with(hdr, rs, 63, NULL);
    expect_refused(ec, ec_kid, t, "bad token signature");
    free(t);
    rs[64] = 0;
    t = token_with(hdr, rs, 65, NULL);
    expect_refused(ec, ec_kid, t, "bad token signature");
    free(t);
    /* An RS256 signature of the wrong length is refused too. */
    char rh[160];
    snprintf(rh, sizeof rh, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", rsa_kid);
    t = token_with(rh, rs, 64, NULL);
    expect_refused(rsa, rsa_kid, t, "bad token signature");
    free(t);
    /* Non-canonical base64url (unused bits set) and stray characters. */
    t = token_with(hdr, rs, 64, NULL);
    size_t n = strlen(t);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char last = t[n - 1];
    /* 64 bytes end in a character holding 2 bits and 4 unused ones. */
    t[n - 1] = b64[(strchr(b64, last) - b64) ^ 1];
    expect_refused(ec, ec_kid, t, "bad token signature");
    t[n - 1] = '=';
    expect_refused(ec, ec_kid, t, "bad token signature");
    t[n - 1] = last;
    assert_int_equal(cc_jwt_verify(ec, ec_kid, t, strlen(t), &out, &why), CC_OK);
    json_decref(out);
    /* A fourth segment. */
    char *t4 = malloc(n + 3);
    snprintf(t4, n + 3, "%s.x", t);
    expect_refused(ec, ec_kid, t4, "invalid token");
    free(t4);
    free(t);
    free(in);
}

/* DER with short R or S (leading zero bytes in the 32-byte form) converts
 * both ways, and verifies. */
static void ecdsa_conversion_edges(void **state)
{
    /* Constructed: R = 1, S = 2^255 (the top bit set, so DER adds a 0x00). */
    unsigned char rs[64] = {0}, der[CC_JWT_ES256_DER_MAX], back[64];
    rs[31] = 1;
    rs[32] = 0x80;
    size_t dl = cc_jwt_ecdsa_from_jose(rs, der);
    const unsigned char want[] = {0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, 0x80};
    assert_int_equal(dl, 40);
    assert_memory_equal(der, want, sizeof want);
    assert_true(cc_jwt_ecdsa_to_jose(der, dl, back));
    assert_memory_equal(back, rs, 64);
    /* All zeros: INTEGER 0 both, still 64 bytes back. */
    memset(rs, 0, sizeof rs);
    dl = cc_jwt_ecdsa_from_jose(rs, der);
    assert_int_equal(dl, 8);
    assert_true(cc_jwt_ecdsa_to_jose(der, dl, back));
    assert_memory_equal(back, rs, 64);
    /* Malformed DER, trailing bytes, a negative or a 33-byte R. */
    assert_false(cc_jwt_ecdsa_to_jose((const unsigned char *)"\x30\x00", 2, back));
    memset(rs, 0x11, sizeof rs);
    dl = cc_jwt_ecdsa_from_jose(rs, der);
    der[dl] = 0;
    assert_false(cc_jwt_ecdsa_to_jose(der, dl + 1, back));
    const unsigned char neg[] = {0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x01};
    assert_false(cc_jwt_ecdsa_to_jose(neg, sizeof neg, back));
    unsigned char big[40] = {0x30, 38, 0x02, 33, 0x01}; /* R = 2^256 */
    big[37] = 0x02;
    big[38] = 0x01;
    big[39] = 0x01;
    assert_false(cc_jwt_ecdsa_to_jose(big, sizeof big, back));

    /* Signed: sign until R or S is short (its first byte 0, about one
     * signature in 128), and check those verify through the token path. */
    char hdr[160], *in;
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", ec_kid);
    char *t = token_with(hdr, NULL, 0, &in);
    free(t);
    int short_r = 0, short_s = 0;
    for (int i = 0; i < 5000 && (short_r < 2 || short_s < 2); i++) {
        unsigned char sig[CC_JWT_SIG_MAX];
        size_t sl;
        assert_int_equal(cc_jwt_sign_bytes(ec, in, strlen(in), sig, sizeof sig, &sl), CC_OK);
        assert_int_equal(sl, 64);
        if (sig[0] != 0 && sig[32] != 0)
            continue;
        short_r += sig[0] == 0;
        short_s += sig[32] == 0;
        dl = cc_jwt_ecdsa_from_jose(sig, der);
        assert_true(dl > 0 && dl < 72);
        assert_true(cc_jwt_ecdsa_to_jose(der, dl, back));
        assert_memory_equal(back, sig, 64);
        t = token_with(hdr, sig, sl, NULL);
        json_t *out;
        const char *why;
        assert_int_equal(cc_jwt_verify(ec, ec_kid, t, strlen(t), &out, &why), CC_OK);
        json_decref(out);
        free(t);
    }
    assert_true(short_r >= 2 && short_s >= 2);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(es256_round_trip),          cmocka_unit_test(rs256_round_trip),
        cmocka_unit_test(algorithm_follows_the_key), cmocka_unit_test(es256_signature_shape),
        cmocka_unit_test(ecdsa_conversion_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
