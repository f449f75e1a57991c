#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cc/base64.h"

/* RFC 4648 section 10, in both spellings. */
static void rfc4648_vectors(void **state)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(in[i]);
        assert_int_equal(cc_b64_encode(in[i], n, CC_B64_STD, out), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(cc_b64_encoded_len(n, CC_B64_STD), strlen(std[i]));
        assert_int_equal(cc_b64_encode(in[i], n, CC_B64_URL, out), strlen(url[i]));
        assert_string_equal(out, url[i]);
        assert_int_equal(cc_b64_encoded_len(n, CC_B64_URL), strlen(url[i]));
        unsigned char back[16];
        size_t len = 99;
        assert_true(cc_b64_decode(std[i], strlen(std[i]), CC_B64_STD, back, sizeof back, &len));
        assert_int_equal(len, n);
        assert_memory_equal(back, in[i], n);
        assert_true(cc_b64_decode(url[i], strlen(url[i]), CC_B64_URL, back, sizeof back, &len));
        assert_int_equal(len, n);
        assert_memory_equal(back, in[i], n);
    }
}

static void url_is_strict_std_is_lenient(void **state)
{
    unsigned char out[16];
    size_t len;
    /* the URL spelling: no padding, no + or /, no stray bits */
    assert_false(cc_b64_decode("Zg==", 4, CC_B64_URL, out, sizeof out, &len));
    assert_false(cc_b64_decode("-+", 2, CC_B64_URL, out, sizeof out, &len));
    assert_false(cc_b64_decode("Zh", 2, CC_B64_URL, out, sizeof out, &len));
    assert_false(cc_b64_decode("Z", 1, CC_B64_URL, out, sizeof out, &len));
    /* proto3 JSON: either alphabet, padding optional */
    assert_true(cc_b64_decode("-_+/", 4, CC_B64_STD, out, sizeof out, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_true(cc_b64_decode("Zg", 2, CC_B64_STD, out, sizeof out, &len));
    assert_false(cc_b64_decode("Z!==", 4, CC_B64_STD, out, sizeof out, &len));
    /* never past cap */
    assert_false(cc_b64_decode("Zm9vYmFy", 8, CC_B64_URL, out, 5, &len));
    assert_true(cc_b64_decode("Zm9vYmFy", 8, CC_B64_URL, out, 6, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(url_is_strict_std_is_lenient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
