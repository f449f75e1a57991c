/* The client's address behind trusted proxies (gateway/proxy.c): the
 * trusted-proxies list (IPv4 and IPv6 CIDRs, bad entries refused), and
 * X-Forwarded-For and Forwarded (RFC 7239) read from the right, believed
 * only from a trusted peer, stopping at the first untrusted or unknown
 * node; ports, brackets, quotes, IPv4-mapped addresses and IPv6 /64 keys. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gw.h"

/* The address for a peer (IPv4 text) and header lines (NULL-terminated). */
static const char *resolve(const gw_proxies *p, const char *peer, const char *const *lines)
{
    static char out[64];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, peer, &sa.sin_addr), 1);
    h2o_iovec_t v[32];
    size_t n = 0;
    for (; lines && lines[n]; n++)
        v[n] = h2o_iovec_init(lines[n], strlen(lines[n]));
    gw_client_addr(p, (const struct sockaddr *)&sa, v, n, out, sizeof out);
    return out;
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_parse(void **state)
{
    gw_proxies p;
    assert_int_equal(gw_proxies_parse("", GW_PROXY_XFF, &p), CC_OK);
    assert_int_equal(p.n, 0);
    gw_proxies_free(&p);
    assert_int_equal(gw_proxies_parse(" 10.0.0.0/8, fd00::/8 192.0.2.1,", GW_PROXY_XFF, &p), CC_OK);
    assert_int_equal(p.n, 3);
    gw_proxies_free(&p);
    const char *bad[] = {"10.0.0.0/33", "10.0.0.0/",   "::/129",       "example.org",
                         "10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.1,nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gw_proxies_parse(bad[i], GW_PROXY_XFF, &p), CC_INVALID);
        assert_non_null(strstr(cc_err_msg(), "trusted-proxies"));
    }
}

static void test_trust(void **state)
{
    gw_proxies none, p;
    assert_int_equal(gw_proxies_parse("", GW_PROXY_XFF, &none), CC_OK);
    assert_int_equal(gw_proxies_parse("10.1.2.3/8, 192.168.0.0/23, fd00::/8", GW_PROXY_XFF, &p),
                     CC_OK);
    /* Trusting no one: the header is never read. */
    assert_string_equal(resolve(&none, "10.0.0.1", LINES("203.0.113.7")), "10.0.0.1");
    /* An untrusted peer: its header is ignored. */
    assert_string_equal(resolve(&p, "198.51.100.1", LINES("203.0.113.7")), "198.51.100.1");
    assert_string_equal(resolve(&p, "11.0.0.1", LINES("203.0.113.7")), "11.0.0.1");
    /* A trusted peer (the host bits of 10.1.2.3/8 are ignored). */
    assert_string_equal(resolve(&p, "10.200.0.1", LINES("203.0.113.7")), "203.0.113.7");
    assert_string_equal(resolve(&p, "10.200.0.1", NULL), "10.200.0.1");
    /* /23 boundaries. */
    assert_string_equal(resolve(&p, "192.168.1.255", LINES("203.0.113.7")), "203.0.113.7");
    assert_string_equal(resolve(&p, "192.168.2.0", LINES("203.0.113.7")), "192.168.2.0");
    gw_proxies_free(&none);
    gw_proxies_free(&p);
}

static void test_xff(void **state)
{
    gw_proxies p;
    assert_int_equal(gw_proxies_parse("10.0.0.0/8, fd00::/8", GW_PROXY_XFF, &p), CC_OK);
    const char *peer = "10.0.0.2";
    /* The right-most untrusted node: what the client wrote is left of it. */
    assert_string_equal(resolve(&p, peer, LINES("1.1.1.1, 203.0.113.7")), "203.0.113.7");
    assert_string_equal(resolve(&p, peer, LINES("1.1.1.1, 203.0.113.7, 10.9.9.9")), "203.0.113.7");
    assert_string_equal(resolve(&p, peer, LINES("203.0.113.7,fd00::5")), "203.0.113.7");
    /* Several lines are one list, in order. */
    assert_string_equal(resolve(&p, peer, LINES("1.1.1.1", "203.0.113.7, 10.1.1.1")),
                        "203.0.113.7");
    /* Every node trusted: the left-most. */
    assert_string_equal(resolve(&p, peer, LINES("10.9.9.9, 10.1.1.1")), "10.9.9.9");
    /* An unknown node stops the walk at the last trusted hop. */
    assert_string_equal(resolve(&p, peer, LINES("203.0.113.7, unknown, 10.1.1.1")), "10.1.1.1");
    assert_string_equal(resolve(&p, peer, LINES("<script>")), "10.0.0.2");
    assert_string_equal(resolve(&p, peer, LINES("203.0.113.7, ")), "10.0.0.2");
    /* Ports, brackets, quotes. */
    assert_string_equal(resolve(&p, peer, LINES("203.0.113.7:4711")), "203.0.113.7");
    assert_string_equal(resolve(&p, peer, LINES("\"203.0.113.8\"")), "203.0.113.8");
    assert_string_equal(resolve(&p, peer, LINES("[2001:db8::1]:443")), "2001:db8::/64");
    /* IPv6 counts by its /64; IPv4-mapped is IPv4. */
    assert_string_equal(resolve(&p, peer, LINES("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
    assert_string_equal(resolve(&p, peer, LINES("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
    assert_string_equal(resolve(&p, peer, LINES("::ffff:203.0.113.7")), "203.0.113.7");
    /* A long chain: only the right-most GW_MAX_HOPS nodes are read. */
    char chain[1024];
    size_t n = (size_t)snprintf(chain, sizeof chain, "203.0.113.1");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(chain + n, sizeof chain - n, ", 10.0.0.9");
    assert_string_equal(resolve(&p, peer, LINES(chain)), "10.0.0.9");
    snprintf(chain + n, sizeof chain - n, ", 203.0.113.2");
    assert_string_equal(resolve(&p, peer, LINES(chain)), "203.0.113.2");
    gw_proxies_free(&p);
}

static void test_forwarded(void **state)
{
    gw_proxies p;
    assert_int_equal(gw_proxies_parse("10.0.0.0/8, fd00::/8", GW_PROXY_FORWARDED, &p), CC_OK);
    const char *peer = "10.0.0.2";
    assert_string_equal(resolve(&p, peer, LINES("for=192.0.2.60;proto=http;by=203.0.113.43")),
                        "192.0.2.60");
    assert_string_equal(
        resolve(&p, peer, LINES("for=192.0.2.60, for=\"[2001:db8:cafe::17]:4711\"")),
        "2001:db8:cafe::/64");
    /* Names are case-insensitive; values may be quoted; ports go. */
    assert_string_equal(resolve(&p, peer, LINES("proto=https;For=\"203.0.113.7:80\"")),
                        "203.0.113.7");
    /* A trusted hop on the right, across lines. */
    assert_string_equal(
        resolve(&p, peer, LINES("for=1.1.1.1, for=203.0.113.9", "for=\"[fd00::1]\";by=10.0.0.2")),
        "203.0.113.9");
    /* A quoted value may hold the separators: it is one node. */
    assert_string_equal(resolve(&p, peer, LINES("for=\"10.1.1.1,for=10.2.2.2\"")), "10.0.0.2");
    assert_string_equal(resolve(&p, peer, LINES("for=\"x;y,z\", for=203.0.113.9")), "203.0.113.9");
    /* Obfuscated, unknown, or no for= at all: the walk stops. */
    assert_string_equal(resolve(&p, peer, LINES("for=203.0.113.9, for=_hidden")), "10.0.0.2");
    assert_string_equal(resolve(&p, peer, LINES("for=203.0.113.9, for=unknown")), "10.0.0.2");
    assert_string_equal(resolve(&p, peer, LINES("for=203.0.113.9, proto=https")), "10.0.0.2");
    /* X-Forwarded-For syntax is not Forwarded. */
    assert_string_equal(resolve(&p, peer, LINES("203.0.113.9")), "10.0.0.2");
    gw_proxies_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_xff),
        cmocka_unit_test(test_forwarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
