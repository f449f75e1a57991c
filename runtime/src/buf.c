/* The growable text buffer (cc/buf.h). */
#include "cc/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL; false (and oom) when there is none.
 * Doubling from 256 keeps a long build at a few reallocations. */
static bool reserve(cc_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (n > (size_t)-1 / 2 - b->len) {
        b->oom = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void cc_buf_put(cc_buf *b, const void *s, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cc_buf_puts(cc_buf *b, const char *s)
{
    cc_buf_put(b, s, strlen(s));
}

void cc_buf_printf(cc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        cc_buf_put(b, small, (size_t)n);
        return;
    }
    /* Longer than the stack's piece: format again, in place. */
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *cc_buf_take(cc_buf *b, size_t *len)
{
    if (!b->oom && !b->p)
        cc_buf_put(b, "", 0);
    char *p = b->oom ? NULL : b->p;
    if (len)
        *len = p ? b->len : 0;
    if (!p)
        free(b->p);
    *b = (cc_buf)CC_BUF_INIT;
    return p;
}

void cc_buf_free(cc_buf *b)
{
    free(b->p);
    *b = (cc_buf)CC_BUF_INIT;
}
