/* The envelope's fields: random ids, the W3C traceparent, and the parser
 * of the principal every RPC server uses (cc/envelope.h). */
#include "cc/envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Ids only need to be unique, not secret: a per-thread xoshiro256**
 * generator seeded once from getrandom makes them without a system call
 * per message (two ids per request showed up in the RPC profile). */
static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(void)
{
    if (!rng_seeded) {
        while (getrandom(rng, sizeof rng, 0) != (ssize_t)sizeof rng)
            ;
        if (!(rng[0] | rng[1] | rng[2] | rng[3]))
            rng[0] = 1;
        rng_seeded = true;
    }
    uint64_t result = rotl(rng[1] * 5, 7) * 9;
    uint64_t t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

void cc_random_hex(char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t done = 0;
    while (done < n) {
        uint64_t r = next_u64();
        for (int i = 0; i < 16 && done < n; i++, r >>= 4)
            buf[done++] = hex[r & 15];
    }
    buf[n] = '\0';
}

void cc_uuid_new(char out[37])
{
    char h[33];
    cc_random_hex(h, 32);
    h[12] = '4';                                                          /* version 4 */
    h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3]; /* variant 10xx */
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static bool all_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            nonzero = true;
    }
    return nonzero;
}

bool cc_traceparent_valid(const char *v)
{
    /* 00-32hex-16hex-2hex = 55 characters */
    if (!v || strlen(v) != 55)
        return false;
    if (v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return false;
    if (!all_hex(v + 3, 32) || !all_hex(v + 36, 16))
        return false;
    char fl = v[53], f2 = v[54];
    return ((fl >= '0' && fl <= '9') || (fl >= 'a' && fl <= 'f')) &&
           ((f2 >= '0' && f2 <= '9') || (f2 >= 'a' && f2 <= 'f'));
}

static void new_traceparent(char out[56], const char *trace_id)
{
    char tid[33], sid[17];
    if (trace_id)
        memcpy(tid, trace_id, 33);
    else
        cc_random_hex(tid, 32);
    cc_random_hex(sid, 16);
    memcpy(out, "00-", 3);
    memcpy(out + 3, tid, 32);
    out[35] = '-';
    memcpy(out + 36, sid, 16);
    memcpy(out + 52, "-01", 4);
}

static cc_status set_field(char *dst, size_t cap, const char *v, const char *name)
{
    if (!v) {
        dst[0] = '\0';
        return CC_OK;
    }
    size_t n = strlen(v);
    if (n >= cap)
        return cc_err_set(CC_INVALID, "envelope field %s is %zu bytes, at most %zu allowed", name,
                          n, cap - 1);
    memcpy(dst, v, n + 1);
    return CC_OK;
}

void cc_envelope_new(cc_envelope *e, const char *type)
{
    memset(e, 0, sizeof *e);
    if (type)
        set_field(e->type, sizeof e->type, type, "type");
    cc_random_hex(e->correlation_id, 32);
    new_traceparent(e->traceparent, NULL);
}

void cc_envelope_child(cc_envelope *child, const cc_envelope *parent, const char *type)
{
    cc_envelope c;
    memset(&c, 0, sizeof c);
    if (type)
        set_field(c.type, sizeof c.type, type, "type");
    memcpy(c.correlation_id, parent->correlation_id, sizeof c.correlation_id);
    memcpy(c.principal, parent->principal, sizeof c.principal);
    /* The parent's traceparent as it is: the span that sends the child
     * (an RPC's client span, a publish's producer span, cc/trace.h) is
     * made where it is sent, and it names the parent's span as its own
     * parent. A span id made up here would be a parent nobody records. */
    if (cc_traceparent_valid(parent->traceparent))
        memcpy(c.traceparent, parent->traceparent, sizeof c.traceparent);
    else
        new_traceparent(c.traceparent, NULL);
    if (!c.correlation_id[0])
        cc_random_hex(c.correlation_id, 32);
    *child = c;
}

cc_status cc_envelope_set_type(cc_envelope *e, const char *v)
{
    return set_field(e->type, sizeof e->type, v, "type");
}

cc_status cc_envelope_set_correlation(cc_envelope *e, const char *v)
{
    if (v) {
        for (const char *p = v; *p; p++) {
            char c = *p;
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.' || c == ':'))
                return cc_err_set(CC_INVALID,
                                  "envelope field correlation id holds character 0x%02x",
                                  (unsigned char)c);
        }
    }
    return set_field(e->correlation_id, sizeof e->correlation_id, v, "correlation id");
}

cc_status cc_envelope_set_traceparent(cc_envelope *e, const char *v)
{
    if (v && *v && !cc_traceparent_valid(v))
        return cc_err_set(CC_INVALID, "envelope field traceparent is not a W3C traceparent");
    return set_field(e->traceparent, sizeof e->traceparent, v, "traceparent");
}

cc_status cc_envelope_set_principal(cc_envelope *e, const char *v)
{
    return set_field(e->principal, sizeof e->principal, v, "principal");
}

cc_status cc_envelope_set_aggregate(cc_envelope *e, const char *v)
{
    return set_field(e->aggregate_id, sizeof e->aggregate_id, v, "aggregate id");
}

char *cc_envelope_trace_id(const cc_envelope *e, char out[33])
{
    if (cc_traceparent_valid(e->traceparent)) {
        memcpy(out, e->traceparent + 3, 32);
        out[32] = '\0';
    } else {
        out[0] = '\0';
    }
    return out;
}

/* ---- the principal ---------------------------------------------------------- */

static const char *const role_names[] = {[CC_ROLE_ANON] = "",
                                         [CC_ROLE_USER] = "user",
                                         [CC_ROLE_SETTER] = "setter",
                                         [CC_ROLE_ADMIN] = "admin"};

const char *cc_role_name(cc_role r)
{
    return (unsigned)r < sizeof role_names / sizeof *role_names ? role_names[r] : "";
}

bool cc_role_parse(const char *s, cc_role *out)
{
    for (cc_role r = CC_ROLE_USER; r <= CC_ROLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0) {
            *out = r;
            return true;
        }
    return false;
}

bool cc_user_id_valid(const char *s)
{
    for (int i = 0; i < CC_USER_ID_LEN; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false; /* also stops at a NUL: a short id */
    }
    return s[CC_USER_ID_LEN] == '\0';
}

cc_status cc_principal_parse(const char *text, cc_principal *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return CC_OK;
    /* The id has a fixed length, so the ':' has a fixed place: a colon
     * anywhere else, or a second one, leaves the id or the role wrong. */
    size_t n = strlen(text);
    if (n <= CC_USER_ID_LEN || text[CC_USER_ID_LEN] != ':')
        return cc_err_set(CC_INVALID,
                          "principal: not \"<user id>:<role>\" with a %d-character "
                          "user id",
                          CC_USER_ID_LEN);
    char id[CC_USER_ID_LEN + 1];
    memcpy(id, text, CC_USER_ID_LEN);
    id[CC_USER_ID_LEN] = '\0';
    if (!cc_user_id_valid(id))
        return cc_err_set(CC_INVALID, "principal: the user id is not a lowercase UUID");
    cc_role role;
    if (!cc_role_parse(text + CC_USER_ID_LEN + 1, &role))
        return cc_err_set(CC_INVALID, "principal: the role is not user, setter or admin");
    out->role = role;
    memcpy(out->id, id, sizeof id);
    return CC_OK;
}
