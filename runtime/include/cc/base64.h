/* Base64 (RFC 4648) in the two spellings the project speaks: the standard
 * alphabet with '=' padding (proto3 JSON bytes fields) and the URL
 * alphabet without padding (JWS segments). */
#ifndef CC_BASE64_H
#define CC_BASE64_H

#include <stdbool.h>
#include <stddef.h>

typedef enum cc_b64_alphabet {
    CC_B64_STD, /* A-Z a-z 0-9 + /, padded with '=' */
    CC_B64_URL, /* A-Z a-z 0-9 - _, no padding */
} cc_b64_alphabet;

/* The characters cc_b64_encode writes for n bytes (without the NUL). */
size_t cc_b64_encoded_len(size_t n, cc_b64_alphabet a);

/* Encodes n bytes at in into out, which needs cc_b64_encoded_len(n) + 1
 * bytes; NUL-terminates and returns the length. */
size_t cc_b64_encode(const void *in, size_t n, cc_b64_alphabet a, char *out);

/* Decodes the n characters at in into out (cap bytes); *len receives the
 * byte count. CC_B64_URL is strict: only its alphabet, no padding, unused
 * bits zero, so one byte string has exactly one spelling (JWS). CC_B64_STD
 * is what proto3 JSON accepts: either alphabet, trailing '=' ignored.
 * False on anything else, or when out is too small. */
bool cc_b64_decode(const char *in, size_t n, cc_b64_alphabet a, unsigned char *out, size_t cap,
                   size_t *len);

#endif
