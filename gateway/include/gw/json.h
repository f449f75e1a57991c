/* Generic JSON <-> protobuf transcoding from protobuf-c descriptors, after
 * the proto3 JSON mapping: field names in lowerCamelCase (the original
 * snake_case names are accepted too), 64-bit integers as strings (numbers
 * accepted on input), enums by name (numbers accepted on input), bytes as
 * base64 (standard or URL-safe, padding optional on input), null for a
 * field means its default. A new field in a .proto needs no glue here.
 *
 * Times: an int64 field whose name ends in "_at" holds Unix seconds (the
 * schemas' convention, "created_at", "judged_at"), and its JSON is an RFC
 * 3339 string in UTC, "2026-12-06T08:14:07Z", the proto3 JSON mapping of
 * google.protobuf.Timestamp; 0 (not yet) is null. On input such a field
 * takes RFC 3339 (any offset; a fraction of a second is dropped). The
 * messages keep int64 so that actors and stored rows need no change.
 *
 * Not supported (refused with an error naming the field): map fields and
 * the well-known types' special JSON forms; CodeCourt's schemas use
 * neither. */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "cc/status.h"

/* Where decoding failed: the JSON path of the field ("preferences.theme",
 * "users[2].id", "" for the document itself) and why. */
typedef struct gw_json_error {
    char field[160];
    char msg[160];
} gw_json_error;

/* Nesting deeper than this is refused, so hostile input cannot exhaust the
 * stack. */
#define GW_JSON_MAX_DEPTH 32

/* Decodes text (len bytes; an empty or all-blank body is an empty object)
 * into a new message of type d allocated with alloc (strings, arrays and
 * nested messages too, so an arena allocator frees it all at once).
 * Returns CC_OK and *out, or CC_INVALID with *err filled: not JSON, not an
 * object, an unknown field, a wrong type, a value out of range. */
cc_status gw_json_decode(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out, gw_json_error *err);

/* The same from an already parsed JSON object (borrowed). */
cc_status gw_json_decode_value(const ProtobufCMessageDescriptor *d, json_t *obj,
                               ProtobufCAllocator *alloc, ProtobufCMessage **out,
                               gw_json_error *err);

/* Encodes m as compact JSON text (malloc'd, NUL-terminated, *len bytes).
 * Every field is written, defaults included, except unset messages and
 * oneof members. NULL when out of memory. */
char *gw_json_encode_text(const ProtobufCMessage *m, size_t *len);
/* The same as a new JSON object (the caller owns the reference). */
json_t *gw_json_encode(const ProtobufCMessage *m);

/* Whether f is a time field ("_at" int64: RFC 3339 in JSON). */
bool gw_json_is_time(const ProtobufCFieldDescriptor *f);

/* The JSON name of a field: snake_case to lowerCamelCase ("user_id" ->
 * "userId"). */
void gw_json_name(const char *field_name, char *out, size_t cap);

#endif
