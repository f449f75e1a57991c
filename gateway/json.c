/* JSON <-> protobuf from descriptors (see gw/json.h). Decoding writes the
 * message memory the way protobuf-c's own unpacker does: field->offset
 * holds the value, field->quantifier_offset the count of a repeated field,
 * the has_ flag of a proto2 optional, or the case of a oneof. */
#include "gw/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/base64.h"
#include "cc/text.h"

void gw_json_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    bool up = false;
    for (const char *p = name; *p && o + 1 < cap; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    out[o] = '\0';
}

bool gw_json_is_time(const ProtobufCFieldDescriptor *f)
{
    size_t n = strlen(f->name);
    return f->type == PROTOBUF_C_TYPE_INT64 && f->label != PROTOBUF_C_LABEL_REPEATED && n > 3 &&
           strcmp(f->name + n - 3, "_at") == 0;
}

typedef struct {
    ProtobufCAllocator *a;
    gw_json_error *err;
    char path[160];
} dec;

static cc_status fail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cc_status fail(dec *d, const char *fmt, ...)
{
    snprintf(d->err->field, sizeof d->err->field, "%s", d->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err->msg, sizeof d->err->msg, fmt, ap);
    va_end(ap);
    return CC_INVALID;
}

static void *zalloc(dec *d, size_t n)
{
    void *p = d->a->alloc(d->a->allocator_data, n ? n : 1);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Integers arrive as JSON numbers or, for 64-bit ones above all, as
 * decimal strings. Reals with no fraction are integers too ("1.0"). */
static bool get_int(json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r != floor(r) || r < -9.2e18 || r > 9.2e18)
            return false;
        *out = (long long)r;
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (!*s || *end || errno || s[0] == ' ' || s[0] == '+')
            return false;
        *out = x;
        return true;
    }
    return false;
}

static bool get_uint64(json_t *v, unsigned long long *out)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        if (!*s || s[0] == '-' || s[0] == ' ' || s[0] == '+')
            return false;
        unsigned long long x = strtoull(s, &end, 10);
        if (*end || errno)
            return false;
        *out = x;
        return true;
    }
    long long x;
    if (!get_int(v, &x) || x < 0)
        return false;
    *out = (unsigned long long)x;
    return true;
}

static bool get_real(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else
            return false;
        return true;
    }
    return false;
}

/* proto3 JSON bytes: base64, either alphabet, padding optional. */
static bool b64_decode(dec *d, const char *s, size_t n, ProtobufCBinaryData *out)
{
    uint8_t *buf = zalloc(d, n * 3 / 4 + 1);
    size_t len = 0;
    if (!buf || !cc_b64_decode(s, n, CC_B64_STD, buf, n * 3 / 4 + 1, &len))
        return false;
    out->data = buf;
    out->len = len;
    return true;
}

static cc_status decode_msg(dec *d, const ProtobufCMessageDescriptor *md, json_t *obj,
                            ProtobufCMessage **out, int depth);

/* Decodes one value (one element of a repeated field) into dst. */
static cc_status decode_scalar(dec *d, const ProtobufCFieldDescriptor *f, json_t *v, void *dst,
                               int depth)
{
    long long i;
    unsigned long long u;
    double r;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!get_int(v, &i) || i < INT32_MIN || i > INT32_MAX)
            return fail(d, "expected a 32-bit integer");
        *(int32_t *)dst = (int32_t)i;
        return CC_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!get_int(v, &i) || i < 0 || i > UINT32_MAX)
            return fail(d, "expected an unsigned 32-bit integer");
        *(uint32_t *)dst = (uint32_t)i;
        return CC_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (gw_json_is_time(f)) {
            int64_t t;
            if (!json_is_string(v) ||
                !cc_rfc3339_parse(json_string_value(v), json_string_length(v), &t))
                return fail(d, "expected an RFC 3339 time (\"2026-01-31T12:00:00Z\")");
            *(int64_t *)dst = t;
            return CC_OK;
        }
        if (!get_int(v, &i))
            return fail(d, "expected a 64-bit integer (a decimal string)");
        *(int64_t *)dst = (int64_t)i;
        return CC_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!get_uint64(v, &u))
            return fail(d, "expected an unsigned 64-bit integer (a decimal string)");
        *(uint64_t *)dst = (uint64_t)u;
        return CC_OK;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!get_real(v, &r))
            return fail(d, "expected a number");
        *(float *)dst = (float)r;
        return CC_OK;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!get_real(v, &r))
            return fail(d, "expected a number");
        *(double *)dst = r;
        return CC_OK;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(d, "expected true or false");
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return CC_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else if (get_int(v, &i) && i >= INT32_MIN && i <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)i);
        if (!ev)
            return fail(d, "expected one of the names of %s", ed->name);
        *(int *)dst = ev->value;
        return CC_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return fail(d, "expected a string");
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        /* A NUL inside would silently cut the C string. */
        if (memchr(s, '\0', n))
            return fail(d, "NUL characters are not allowed");
        char *c = zalloc(d, n + 1);
        if (!c)
            return CC_NOMEM;
        memcpy(c, s, n);
        *(char **)dst = c;
        return CC_OK;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(v) ||
            !b64_decode(d, json_string_value(v), json_string_length(v), dst))
            return fail(d, "expected base64");
        return CC_OK;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!json_is_object(v))
            return fail(d, "expected an object");
        return decode_msg(d, f->descriptor, v, dst, depth + 1);
    }
    return fail(d, "unsupported field type");
}

static cc_status decode_field(dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                              json_t *v, int depth)
{
    char *base = (char *)m;
    if (json_is_null(v))
        return CC_OK; /* proto3: null is the default */
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return fail(d, "expected an array");
        size_t n = json_array_size(v), es = elem_size(f->type);
        if (n > SIZE_MAX / (es ? es : 1))
            return fail(d, "array too long");
        char *arr = zalloc(d, n * es);
        if (!arr)
            return CC_NOMEM;
        size_t plen = strlen(d->path);
        for (size_t i = 0; i < n; i++) {
            snprintf(d->path + plen, sizeof d->path - plen, "[%zu]", i);
            json_t *e = json_array_get(v, i);
            if (json_is_null(e))
                return fail(d, "null is not allowed in an array");
            cc_status s = decode_scalar(d, f, e, arr + i * es, depth);
            if (s != CC_OK)
                return s;
        }
        d->path[plen] = '\0';
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)(base + f->offset) = arr;
        return CC_OK;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
        if (*cs != 0 && *cs != f->id)
            return fail(d, "only one field of its oneof may be set");
        *cs = f->id;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
               f->type != PROTOBUF_C_TYPE_STRING) {
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return decode_scalar(d, f, v, base + f->offset, depth);
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *md,
                                                  const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(md, key);
    if (f)
        return f;
    char jn[128];
    for (unsigned i = 0; i < md->n_fields; i++) {
        gw_json_name(md->fields[i].name, jn, sizeof jn);
        if (strcmp(jn, key) == 0)
            return &md->fields[i];
    }
    return NULL;
}

static cc_status decode_msg(dec *d, const ProtobufCMessageDescriptor *md, json_t *obj,
                            ProtobufCMessage **out, int depth)
{
    if (depth > GW_JSON_MAX_DEPTH)
        return fail(d, "nested too deeply");
    ProtobufCMessage *m = zalloc(d, md->sizeof_message);
    if (!m)
        return CC_NOMEM;
    md->message_init(m);
    const char *key;
    json_t *v;
    size_t plen = strlen(d->path);
    json_object_foreach(obj, key, v)
    {
        snprintf(d->path + plen, sizeof d->path - plen, "%s%s", plen ? "." : "", key);
        const ProtobufCFieldDescriptor *f = find_field(md, key);
        if (!f)
            return fail(d, "unknown field");
        cc_status s = decode_field(d, m, f, v, depth);
        if (s != CC_OK)
            return s;
        d->path[plen] = '\0';
    }
    *out = m;
    return CC_OK;
}

cc_status gw_json_decode_value(const ProtobufCMessageDescriptor *md, json_t *obj,
                               ProtobufCAllocator *alloc, ProtobufCMessage **out,
                               gw_json_error *err)
{
    dec d = {.a = alloc, .err = err};
    err->field[0] = err->msg[0] = '\0';
    if (!json_is_object(obj))
        return fail(&d, "the body must be a JSON object");
    cc_status s = decode_msg(&d, md, obj, out, 0);
    if (s == CC_NOMEM)
        fail(&d, "out of memory");
    return s;
}

cc_status gw_json_decode(const ProtobufCMessageDescriptor *md, const char *text, size_t len,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out, gw_json_error *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        i++;
    json_t *obj;
    if (i == len) {
        obj = json_object();
    } else {
        json_error_t je;
        obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            dec d = {.a = alloc, .err = err};
            return fail(&d, "malformed JSON at line %d column %d: %s", je.line, je.column,
                        je.text);
        }
    }
    cc_status s = gw_json_decode_value(md, obj, alloc, out, err);
    json_decref(obj);
    return s;
}

/* ---- encoding -------------------------------------------------------------- */

/* The encoder writes JSON text straight from the message, not through a
 * jansson tree: building and dumping a tree of small objects was an
 * eighth of the gateway's CPU on a proxied GET. */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped;
 * bytes that are not UTF-8 become U+FFFD (proto3 strings must be UTF-8,
 * so only a broken actor would send them). */
static void put_str(out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* bytes at u[i - run, i) still to copy */
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t l = c >= 0x20 && c != '"' && c != '\\' && c < 0x80 ? 1 : 0;
        if (c >= 0x80)
            l = utf8_len(u + i, n - i);
        if (l > 0) {
            run += l;
            i += l;
            continue;
        }
        put(o, (const char *)u + i - run, run);
        run = 0;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            static const char short_esc[32] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
                                               ['\r'] = 'r', ['\t'] = 't'};
            if (short_esc[c]) {
                esc[0] = '\\', esc[1] = short_esc[c];
                put(o, esc, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                put(o, esc, 6);
            }
        } else {
            put(o, "\xef\xbf\xbd", 3);
        }
        i++;
    }
    put(o, (const char *)u + n - run, run);
    put(o, "\"", 1);
}

static void put_msg(out *o, const ProtobufCMessage *m, int depth);

static void put_scalar(out *o, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    char buf[40];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        put(o, buf, cc_i64_text(buf, *(const int32_t *)p));
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put(o, buf, cc_u64_text(buf, *(const uint32_t *)p));
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (gw_json_is_time(f)) {
            /* Unix seconds; 0 is "not yet" (a submission's judgedAt), which
             * Timestamp's mapping writes as an absent field: null here. */
            int64_t t = *(const int64_t *)p;
            if (t == 0) {
                puts_(o, "null");
                return;
            }
            buf[0] = '"';
            put(o, buf, 1 + cc_rfc3339_text(buf + 1, t));
            put(o, "\"", 1);
            return;
        }
        buf[0] = '"';
        put(o, buf, 1 + cc_i64_text(buf + 1, *(const int64_t *)p));
        put(o, "\"", 1);
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        buf[0] = '"';
        put(o, buf, 1 + cc_u64_text(buf + 1, *(const uint64_t *)p));
        put(o, "\"", 1);
        return;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double r = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        if (isnan(r)) {
            puts_(o, "\"NaN\"");
        } else if (isinf(r)) {
            puts_(o, r > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        } else {
            /* Shortest text that reads back the same, always a number
             * with a '.' or an exponent (a real, not an integer). */
            snprintf(buf, sizeof buf, "%.17g", r);
            for (int prec = 1; prec < 17; prec++) {
                char t[40];
                snprintf(t, sizeof t, "%.*g", prec, r);
                if (strtod(t, NULL) == r) {
                    memcpy(buf, t, sizeof t);
                    break;
                }
            }
            puts_(o, buf);
            if (!strpbrk(buf, ".eEn"))
                put(o, ".0", 2);
        }
        return;
    }
    case PROTOBUF_C_TYPE_BOOL:
        puts_(o, *(const protobuf_c_boolean *)p ? "true" : "false");
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        if (ev) {
            put_str(o, ev->name, strlen(ev->name));
        } else {
            put(o, buf, cc_i64_text(buf, *(const int *)p));
        }
        return;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        put_str(o, s ? s : "", s ? strlen(s) : 0);
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        put(o, "\"", 1);
        /* In chunks, so a large field needs no buffer of its size. */
        char q[4 * 256 + 1];
        for (size_t i = 0; i < b->len; i += 3 * 256) {
            size_t n = b->len - i < 3 * 256 ? b->len - i : 3 * 256;
            put(o, q, cc_b64_encode(b->data + i, n, CC_B64_STD, q));
        }
        put(o, "\"", 1);
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m)
            put_msg(o, m, depth + 1);
        else
            puts_(o, "null");
        return;
    }
    }
    puts_(o, "null");
}

static void put_msg(out *o, const ProtobufCMessage *m, int depth)
{
    /* protobuf-c's unpacker bounds nesting; a message built in memory
     * could still loop. */
    if (depth > 64) {
        o->oom = true;
        return;
    }
    const ProtobufCMessageDescriptor *md = m->descriptor;
    const char *base = (const char *)m;
    char name[128];
    bool first = true;
    put(o, "{", 1);
    for (unsigned i = 0; i < md->n_fields && !o->oom; i++) {
        const ProtobufCFieldDescriptor *f = &md->fields[i];
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (!repeated) {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                f->type != PROTOBUF_C_TYPE_STRING &&
                !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void *const *)(base + f->offset))
                continue;
        }
        if (!first)
            put(o, ",", 1);
        first = false;
        gw_json_name(f->name, name, sizeof name);
        put_str(o, name, strlen(name));
        put(o, ":", 1);
        if (!repeated) {
            put_scalar(o, f, base + f->offset, depth);
            continue;
        }
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        const char *arr = *(char *const *)(base + f->offset);
        put(o, "[", 1);
        for (size_t k = 0; k < n; k++) {
            if (k)
                put(o, ",", 1);
            put_scalar(o, f, arr + k * elem_size(f->type), depth);
        }
        put(o, "]", 1);
    }
    put(o, "}", 1);
}

char *gw_json_encode_text(const ProtobufCMessage *m, size_t *len)
{
    out o = {0};
    put_msg(&o, m, 0);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    *len = o.n;
    return o.p;
}

json_t *gw_json_encode(const ProtobufCMessage *m)
{
    size_t n = 0;
    char *text = gw_json_encode_text(m, &n);
    json_t *j = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    return j;
}
