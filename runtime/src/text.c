#include "cc/text.h"

size_t cc_u64_text(char *out, uint64_t v)
{
    char tmp[CC_DECIMAL_MAX];
    size_t i = 0;
    do
        tmp[i++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t n = i;
    for (size_t o = 0; i > 0; o++)
        out[o] = tmp[--i];
    out[n] = '\0';
    return n;
}

size_t cc_i64_text(char *out, int64_t v)
{
    if (v >= 0)
        return cc_u64_text(out, (uint64_t)v);
    out[0] = '-';
    /* Negated in unsigned arithmetic: INT64_MIN has no positive int64. */
    return 1 + cc_u64_text(out + 1, (uint64_t)0 - (uint64_t)v);
}
