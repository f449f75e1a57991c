/* Base64 in both spellings; see cc/base64.h. */
#include "cc/base64.h"

size_t cc_b64_encoded_len(size_t n, cc_b64_alphabet a)
{
    return a == CC_B64_STD ? (n + 2) / 3 * 4 : n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t cc_b64_encode(const void *in, size_t n, cc_b64_alphabet a, char *out)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *t = a == CC_B64_STD ? std : url;
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = t[v >> 6 & 63];
        else if (a == CC_B64_STD)
            out[o++] = '=';
        if (i + 2 < n)
            out[o++] = t[v & 63];
        else if (a == CC_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int value(char c, cc_b64_alphabet a)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || (c == '+' && a == CC_B64_STD))
        return 62;
    if (c == '_' || (c == '/' && a == CC_B64_STD))
        return 63;
    return -1;
}

bool cc_b64_decode(const char *in, size_t n, cc_b64_alphabet a, unsigned char *out, size_t cap,
                   size_t *len)
{
    if (a == CC_B64_STD)
        while (n > 0 && in[n - 1] == '=')
            n--;
    if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return false;
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value(in[i], a);
        if (v < 0)
            return false;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *len = o;
    return a == CC_B64_STD || acc == 0;
}
