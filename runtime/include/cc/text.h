/* Decimal numbers as text, for the paths that run once per request or
 * message (subjects, JSON numbers, response headers), where snprintf's
 * format parsing showed in profiles. */
#ifndef CC_TEXT_H
#define CC_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any 64-bit number in decimal, its sign and the NUL. */
#define CC_DECIMAL_MAX 21

/* v in decimal into out (at least CC_DECIMAL_MAX bytes), NUL-terminated;
 * returns the length without the NUL. */
size_t cc_u64_text(char *out, uint64_t v);
size_t cc_i64_text(char *out, int64_t v);

#endif
