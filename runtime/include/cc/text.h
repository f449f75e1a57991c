/* Decimal numbers as text, for the paths that run once per request or
 * message (subjects, JSON numbers, response headers), where snprintf's
 * format parsing showed in profiles; and times as RFC 3339 text, the form
 * the public API gives them (the proto3 JSON mapping of
 * google.protobuf.Timestamp). */
#ifndef CC_TEXT_H
#define CC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any 64-bit number in decimal, its sign and the NUL. */
#define CC_DECIMAL_MAX 21

/* v in decimal into out (at least CC_DECIMAL_MAX bytes), NUL-terminated;
 * returns the length without the NUL. */
size_t cc_u64_text(char *out, uint64_t v);
size_t cc_i64_text(char *out, int64_t v);

/* Room for an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define CC_RFC3339_MAX 21

/* Unix seconds t as RFC 3339 in UTC ("2026-12-06T08:14:07Z") into out
 * (at least CC_RFC3339_MAX bytes), NUL-terminated; returns the length.
 * Times outside years 0001-9999 (Timestamp's range) are clamped to it.
 * Pure arithmetic: no gmtime, no locale, safe on any thread. */
size_t cc_rfc3339_text(char *out, int64_t t);
/* Reads an RFC 3339 time of n bytes ("2026-12-06T08:14:07Z", a fraction
 * of a second, dropped, and a "+hh:mm" / "-hh:mm" offset allowed; 't' and
 * 'z' too) into Unix seconds. False for anything else. */
bool cc_rfc3339_parse(const char *s, size_t n, int64_t *t);

#endif
