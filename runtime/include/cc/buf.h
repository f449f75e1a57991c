/* A growable text buffer, for what is built piece by piece: a rendered
 * template, a MIME message, a metrics page. It is NUL-terminated once
 * anything was put in, and a failed allocation is remembered, so a builder
 * puts everything and looks once, at the end, whether it all fit. */
#ifndef CC_BUF_H
#define CC_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cc_buf {
    char *p;    /* malloc'd and NUL-terminated; NULL before the first put */
    size_t len; /* bytes before the NUL */
    size_t cap;
    bool oom; /* a put failed; later puts do nothing */
} cc_buf;

#define CC_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Appends n bytes of s (which may hold NULs; the buffer adds its own). */
void cc_buf_put(cc_buf *b, const void *s, size_t n);
void cc_buf_puts(cc_buf *b, const char *s);
void cc_buf_printf(cc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the text over: malloc'd ("" when nothing was put), the caller
 * frees it; *len (when len is not NULL) receives its length. NULL after a
 * failed put, or when even "" cannot be allocated. Either way the buffer
 * is empty again and owns nothing. */
char *cc_buf_take(cc_buf *b, size_t *len);

/* Frees what the buffer holds; it is empty again. */
void cc_buf_free(cc_buf *b);

#endif
