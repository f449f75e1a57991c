/* Unit tests of envelope encryption (cc/seal.h): a value opens only with
 * its key, its place and its bytes; data keys open only under their
 * master key; rotation keeps old values readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/seal.h"

static const char *const MASTER_A =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *const MASTER_B =
    "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static cc_keyring *ring(const char *hex, char id[CC_SEAL_ID_MAX], uint8_t **wrapped, size_t *wl)
{
    uint8_t m[CC_SEAL_KEY_BYTES];
    assert_int_equal(cc_seal_master_parse(hex, m), CC_OK);
    cc_keyring *kr = cc_keyring_new(m);
    assert_non_null(kr);
    assert_int_equal(cc_keyring_generate(kr, id, wrapped, wl), CC_OK);
    assert_int_equal(cc_keyring_set_current(kr, id), CC_OK);
    return kr;
}

static const char SRC[] = "int main(void) { return 0; } /* known source */";

static void round_trip_and_tamper(void **state)
{
    char id[CC_SEAL_ID_MAX], kid[CC_SEAL_ID_MAX], aad[128];
    uint8_t *w;
    size_t wl, n;
    cc_keyring *kr = ring(MASTER_A, id, &w, &wl);
    size_t al = cc_seal_aad(aad, sizeof aad, "submissions", "42", "job_sealed");
    assert_string_equal(aad, "submissions/42/job_sealed");
    uint8_t sealed[sizeof SRC + CC_SEAL_OVERHEAD], out[sizeof SRC + CC_SEAL_OVERHEAD];
    assert_int_equal(cc_seal(kr, aad, al, SRC, sizeof SRC, sealed, kid), CC_OK);
    assert_string_equal(kid, id);
    assert_null(memmem(sealed, sizeof sealed, "known source", 12));
    assert_int_equal(cc_open(kr, kid, aad, al, sealed, sizeof sealed, out, &n), CC_OK);
    assert_int_equal(n, sizeof SRC);
    assert_memory_equal(out, SRC, n);
    /* Any flipped bit: nonce, ciphertext or tag. */
    for (size_t i = 1; i < sizeof sealed; i += 7) {
        sealed[i] ^= 0x20;
        assert_int_equal(cc_open(kr, kid, aad, al, sealed, sizeof sealed, out, &n), CC_DENIED);
        sealed[i] ^= 0x20;
    }
    /* Cut short, or not a sealed value at all. */
    assert_int_equal(cc_open(kr, kid, aad, al, sealed, sizeof sealed - 1, out, &n), CC_DENIED);
    assert_int_equal(cc_open(kr, kid, aad, al, sealed, 5, out, &n), CC_DENIED);
    /* Two seals of one value differ (fresh nonce). */
    uint8_t again[sizeof sealed];
    assert_int_equal(cc_seal(kr, aad, al, SRC, sizeof SRC, again, kid), CC_OK);
    assert_memory_not_equal(again, sealed, sizeof sealed);
    free(w);
    cc_keyring_free(kr);
}

static void wrong_aad_is_refused(void **state)
{
    char id[CC_SEAL_ID_MAX], kid[CC_SEAL_ID_MAX], aad[128], other[128];
    uint8_t *w;
    size_t wl, n;
    cc_keyring *kr = ring(MASTER_A, id, &w, &wl);
    size_t al = cc_seal_aad(aad, sizeof aad, "users", "u1", "email_sealed");
    uint8_t sealed[64], out[64];
    assert_int_equal(cc_seal(kr, aad, al, "a@b.org", 7, sealed, kid), CC_OK);
    /* The same value moved to another row or column does not open. */
    size_t ol = cc_seal_aad(other, sizeof other, "users", "u2", "email_sealed");
    assert_int_equal(cc_open(kr, kid, other, ol, sealed, 7 + CC_SEAL_OVERHEAD, out, &n), CC_DENIED);
    ol = cc_seal_aad(other, sizeof other, "users", "u1", "name_sealed");
    assert_int_equal(cc_open(kr, kid, other, ol, sealed, 7 + CC_SEAL_OVERHEAD, out, &n), CC_DENIED);
    assert_int_equal(cc_open(kr, kid, aad, al, sealed, 7 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    assert_int_equal(cc_seal_aad(other, 8, "users", "u1", "email_sealed"), 0);
    free(w);
    cc_keyring_free(kr);
}

static void wrong_key_is_refused(void **state)
{
    char ida[CC_SEAL_ID_MAX], idb[CC_SEAL_ID_MAX], kid[CC_SEAL_ID_MAX];
    uint8_t *wa, *wb;
    size_t wla, wlb, n;
    cc_keyring *a = ring(MASTER_A, ida, &wa, &wla);
    cc_keyring *b = ring(MASTER_B, idb, &wb, &wlb);
    uint8_t sealed[64], out[64];
    assert_int_equal(cc_seal(a, "x", 1, "secret", 6, sealed, kid), CC_OK);
    /* b has no key of that id; given one under that id, still no. */
    assert_int_equal(cc_open(b, kid, "x", 1, sealed, 6 + CC_SEAL_OVERHEAD, out, &n), CC_NOT_FOUND);
    /* Another master key cannot unwrap a's data key... */
    assert_int_equal(cc_keyring_add_wrapped(b, ida, wa, wla), CC_DENIED);
    /* ...nor a's own master a changed blob or a renamed key. */
    uint8_t m[CC_SEAL_KEY_BYTES];
    cc_seal_master_parse(MASTER_A, m);
    cc_keyring *a2 = cc_keyring_new(m);
    wa[20] ^= 1;
    assert_int_equal(cc_keyring_add_wrapped(a2, ida, wa, wla), CC_DENIED);
    wa[20] ^= 1;
    assert_int_equal(cc_keyring_add_wrapped(a2, "kother", wa, wla), CC_DENIED);
    assert_int_equal(cc_keyring_add_wrapped(a2, ida, wa, wla), CC_OK);
    assert_int_equal(cc_open(a2, ida, "x", 1, sealed, 6 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    assert_memory_equal(out, "secret", 6);
    free(wa);
    free(wb);
    cc_keyring_free(a);
    cc_keyring_free(a2);
    cc_keyring_free(b);
}

static void rotation_keeps_old_values(void **state)
{
    char old[CC_SEAL_ID_MAX], neu[CC_SEAL_ID_MAX], kid[CC_SEAL_ID_MAX];
    uint8_t *w1, *w2;
    size_t l1, l2, n;
    cc_keyring *kr = ring(MASTER_A, old, &w1, &l1);
    uint8_t s1[64], s2[64], out[64];
    assert_int_equal(cc_seal(kr, "r", 1, "value", 5, s1, kid), CC_OK);
    assert_string_equal(kid, old);
    assert_int_equal(cc_keyring_generate(kr, neu, &w2, &l2), CC_OK);
    assert_string_not_equal(old, neu);
    assert_string_equal(cc_keyring_current(kr), old); /* made, not yet current */
    assert_int_equal(cc_keyring_set_current(kr, neu), CC_OK);
    assert_int_equal(cc_keyring_count(kr), 2);
    /* Re-seal: the old value opens under its key, the new under the new. */
    assert_int_equal(cc_open(kr, old, "r", 1, s1, 5 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    assert_int_equal(cc_seal(kr, "r", 1, out, n, s2, kid), CC_OK);
    assert_string_equal(kid, neu);
    assert_int_equal(cc_open(kr, neu, "r", 1, s2, 5 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    assert_memory_equal(out, "value", 5);
    /* Under the wrong one of the two ids it does not. */
    assert_int_equal(cc_open(kr, old, "r", 1, s2, 5 + CC_SEAL_OVERHEAD, out, &n), CC_DENIED);
    /* Another replica with the same master loads both wrapped keys. */
    uint8_t m[CC_SEAL_KEY_BYTES];
    cc_seal_master_parse(MASTER_A, m);
    cc_keyring *r2 = cc_keyring_new(m);
    assert_int_equal(cc_keyring_add_wrapped(r2, old, w1, l1), CC_OK);
    assert_int_equal(cc_keyring_add_wrapped(r2, neu, w2, l2), CC_OK);
    assert_int_equal(cc_keyring_set_current(r2, "knope"), CC_NOT_FOUND);
    assert_int_equal(cc_open(r2, old, "r", 1, s1, 5 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    assert_int_equal(cc_open(r2, neu, "r", 1, s2, 5 + CC_SEAL_OVERHEAD, out, &n), CC_OK);
    free(w1);
    free(w2);
    cc_keyring_free(kr);
    cc_keyring_free(r2);
}

static void hmac_is_keyed_by_the_master(void **state)
{
    char id[CC_SEAL_ID_MAX];
    uint8_t *w, *w2;
    size_t wl;
    cc_keyring *a = ring(MASTER_A, id, &w, &wl);
    cc_keyring *b = ring(MASTER_B, id, &w2, &wl);
    uint8_t h1[32], h2[32], h3[32];
    cc_keyring_hmac(a, "alice@example.org", 17, h1);
    cc_keyring_hmac(a, "alice@example.org", 17, h2);
    assert_memory_equal(h1, h2, 32);
    /* Survives rotation: the lookup key is not a data key. */
    char id2[CC_SEAL_ID_MAX];
    uint8_t *w3;
    assert_int_equal(cc_keyring_generate(a, id2, &w3, &wl), CC_OK);
    cc_keyring_set_current(a, id2);
    cc_keyring_hmac(a, "alice@example.org", 17, h2);
    assert_memory_equal(h1, h2, 32);
    cc_keyring_hmac(b, "alice@example.org", 17, h3);
    assert_memory_not_equal(h1, h3, 32);
    free(w);
    free(w2);
    free(w3);
    cc_keyring_free(a);
    cc_keyring_free(b);
}

static void master_key_text(void **state)
{
    uint8_t m[CC_SEAL_KEY_BYTES];
    assert_int_equal(cc_seal_master_parse(MASTER_A, m), CC_OK);
    assert_int_equal(m[31], 0x1f);
    char padded[80];
    snprintf(padded, sizeof padded, "  %s\n", MASTER_A);
    assert_int_equal(cc_seal_master_parse(padded, m), CC_OK);
    assert_int_equal(cc_seal_master_parse("abcd", m), CC_INVALID);
    snprintf(padded, sizeof padded, "%sxx", MASTER_A);
    assert_int_equal(cc_seal_master_parse(padded, m), CC_INVALID);
    cc_seal_settings none = {.master_key = "", .master_key_file = ""};
    assert_int_equal(cc_seal_master_load(&none, m), CC_INVALID);
    cc_seal_settings missing = {.master_key = "", .master_key_file = "/nonexistent/master.key"};
    assert_int_equal(cc_seal_master_load(&missing, m), CC_IO);
    cc_seal_settings value = {.master_key = (char *)MASTER_B, .master_key_file = "/nonexistent"};
    assert_int_equal(cc_seal_master_load(&value, m), CC_OK);
    assert_int_equal(m[0], 0xff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_and_tamper),       cmocka_unit_test(wrong_aad_is_refused),
        cmocka_unit_test(wrong_key_is_refused),        cmocka_unit_test(rotation_keeps_old_values),
        cmocka_unit_test(hmac_is_keyed_by_the_master), cmocka_unit_test(master_key_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
