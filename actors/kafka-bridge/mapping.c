/* The bridge's settings as data: mapping lists, subject matching, key
 * tokens, durable names, base64. Pure functions, no I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cc/mesh.h"

/* Trims spaces at both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\n'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\n'))
        (*e)--;
}

static char *dup_range(const char *s, const char *e)
{
    char *d = malloc((size_t)(e - s) + 1);
    if (d) {
        memcpy(d, s, (size_t)(e - s));
        d[e - s] = '\0';
    }
    return d;
}

/* Kafka topic names: [A-Za-z0-9._-], 1..249 bytes. */
static bool topic_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '.' || *t == '_' || *t == '-'))
            return false;
    return true;
}

/* A NATS subject or filter: non-empty tokens of printable characters
 * without spaces; wildcards only when allowed, '>' only last. */
static bool subject_ok(const char *s, bool wildcards)
{
    if (!*s || strlen(s) > 255)
        return false;
    const char *tok = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - tok);
            if (n == 0)
                return false;
            if (n == 1 && (*tok == '*' || *tok == '>')) {
                if (!wildcards || (*tok == '>' && *p != '\0'))
                    return false;
            } else {
                for (const char *q = tok; q < p; q++)
                    if (*q <= ' ' || *q == 0x7f || *q == '*' || *q == '>')
                        return false;
            }
            if (*p == '\0')
                return true;
            tok = p + 1;
        }
    }
}

/* Splits spec on ';' and calls item(start, end, sep) for every non-empty
 * item, sep pointing at its first '='. */
typedef cc_status (*item_fn)(const char *s, const char *eq, const char *e, void *ud);

static cc_status each_item(const char *spec, item_fn fn, void *ud)
{
    const char *p = spec ? spec : "";
    while (*p) {
        const char *e = strchr(p, ';');
        if (!e)
            e = p + strlen(p);
        const char *s = p, *t = e;
        trim(&s, &t);
        if (s < t) {
            const char *eq = memchr(s, '=', (size_t)(t - s));
            if (!eq)
                return cc_err_set(CC_INVALID, "mapping \"%.*s\" has no '='", (int)(t - s), s);
            cc_status st = fn(s, eq, t, ud);
            if (st != CC_OK)
                return st;
        }
        p = *e ? e + 1 : e;
    }
    return CC_OK;
}

typedef struct {
    kb_out_map *v;
    size_t n;
} out_list;

static cc_status out_item(const char *s, const char *eq, const char *e, void *ud)
{
    out_list *l = ud;
    const char *fs = s, *fe = eq, *ts = eq + 1, *te = e;
    trim(&fs, &fe);
    trim(&ts, &te);
    int key_token = 0;
    const char *at = memchr(ts, '@', (size_t)(te - ts));
    if (at) {
        char num[16];
        size_t nl = (size_t)(te - at - 1);
        if (nl == 0 || nl >= sizeof num)
            return cc_err_set(CC_INVALID, "mapping \"%.*s\": bad key token after '@'", (int)(e - s),
                              s);
        memcpy(num, at + 1, nl);
        num[nl] = '\0';
        char *end;
        errno = 0;
        long v = strtol(num, &end, 10);
        if (errno || *end || v < 1 || v > 64)
            return cc_err_set(CC_INVALID, "mapping \"%.*s\": key token must be 1..64", (int)(e - s),
                              s);
        key_token = (int)v;
        te = at;
        trim(&ts, &te);
    }
    kb_out_map m = {dup_range(fs, fe), dup_range(ts, te), key_token};
    cc_status st = CC_OK;
    kb_out_map *v = NULL;
    if (!m.filter || !m.topic)
        st = cc_err_set(CC_NOMEM, "mapping: out of memory");
    else if (!subject_ok(m.filter, true) || !topic_ok(m.topic))
        st = cc_err_set(CC_INVALID, "mapping \"%.*s\": %s", (int)(e - s), s,
                        !subject_ok(m.filter, true) ? "bad NATS subject filter"
                                                    : "bad Kafka topic name");
    else if (!(v = realloc(l->v, (l->n + 1) * sizeof *v)))
        st = cc_err_set(CC_NOMEM, "mapping: out of memory");
    if (st != CC_OK) {
        free(m.filter);
        free(m.topic);
        return st;
    }
    l->v = v;
    l->v[l->n++] = m;
    return CC_OK;
}

cc_status kb_parse_out_maps(const char *spec, kb_out_map **out, size_t *n)
{
    out_list l = {0};
    cc_status s = each_item(spec, out_item, &l);
    if (s != CC_OK) {
        kb_out_maps_free(l.v, l.n);
        return s;
    }
    *out = l.v;
    *n = l.n;
    return CC_OK;
}

void kb_out_maps_free(kb_out_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].filter);
        free(m[i].topic);
    }
    free(m);
}

typedef struct {
    kb_in_map *v;
    size_t n;
} in_list;

static cc_status in_item(const char *s, const char *eq, const char *e, void *ud)
{
    in_list *l = ud;
    const char *ts = s, *te = eq, *ss = eq + 1, *se = e;
    trim(&ts, &te);
    trim(&ss, &se);
    kb_in_map m = {dup_range(ts, te), dup_range(ss, se)};
    cc_status st = CC_OK;
    kb_in_map *v = NULL;
    if (!m.topic || !m.subject)
        st = cc_err_set(CC_NOMEM, "mapping: out of memory");
    else if (!topic_ok(m.topic) || !subject_ok(m.subject, false))
        st = cc_err_set(CC_INVALID, "mapping \"%.*s\": %s", (int)(e - s), s,
                        !topic_ok(m.topic) ? "bad Kafka topic name"
                                           : "bad NATS subject (no wildcards allowed)");
    /* What comes from Kafka stays under cc.evt.kafka.: a record must not
     * pass for a service's event (a verdict on cc.evt.submission.judged,
     * a new user...). The bridge's NATS user may publish nowhere else
     * (cc/mesh.h), so this only says it at start instead of at the first
     * record. */
    else if (strncmp(m.subject, CC_MESH_KAFKA_PREFIX, strlen(CC_MESH_KAFKA_PREFIX)) != 0)
        st = cc_err_set(CC_INVALID, "mapping \"%.*s\": records from Kafka go under %s, not to %s",
                        (int)(e - s), s, CC_MESH_KAFKA_SUBJECTS, m.subject);
    for (size_t i = 0; st == CC_OK && i < l->n; i++)
        if (strcmp(l->v[i].topic, m.topic) == 0)
            st = cc_err_set(CC_INVALID, "topic %s is mapped twice", m.topic);
    if (st == CC_OK && !(v = realloc(l->v, (l->n + 1) * sizeof *v)))
        st = cc_err_set(CC_NOMEM, "mapping: out of memory");
    if (st != CC_OK) {
        free(m.topic);
        free(m.subject);
        return st;
    }
    l->v = v;
    l->v[l->n++] = m;
    return CC_OK;
}

cc_status kb_parse_in_maps(const char *spec, kb_in_map **out, size_t *n)
{
    in_list l = {0};
    cc_status s = each_item(spec, in_item, &l);
    if (s != CC_OK) {
        kb_in_maps_free(l.v, l.n);
        return s;
    }
    *out = l.v;
    *n = l.n;
    return CC_OK;
}

void kb_in_maps_free(kb_in_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].topic);
        free(m[i].subject);
    }
    free(m);
}

cc_status kb_check_loops(const kb_out_map *outs, size_t nouts, const kb_in_map *ins, size_t nins)
{
    for (size_t i = 0; i < nins; i++)
        for (size_t j = 0; j < nouts; j++)
            if (strcmp(ins[i].topic, outs[j].topic) == 0 &&
                kb_subject_matches(outs[j].filter, ins[i].subject))
                return cc_err_set(CC_INVALID,
                                  "topic %s is published on %s, which %s sends back to %s: a loop",
                                  ins[i].topic, ins[i].subject, outs[j].filter, outs[j].topic);
    return CC_OK;
}

bool kb_subject_matches(const char *filter, const char *subject)
{
    const char *f = filter, *s = subject;
    for (;;) {
        const char *fe = strchr(f, '.'), *se = strchr(s, '.');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (fl == 1 && *f == '>')
            return sl > 0;
        if (!(fl == 1 && *f == '*') && (fl != sl || memcmp(f, s, fl) != 0))
            return false;
        if (!fe || !se)
            return !fe && !se;
        f = fe + 1;
        s = se + 1;
    }
}

bool kb_subject_token(const char *subject, int n, char *buf, size_t cap)
{
    const char *p = subject;
    for (int i = 1; i < n; i++) {
        p = strchr(p, '.');
        if (!p)
            return false;
        p++;
    }
    const char *e = strchr(p, '.');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == 0 || len >= cap)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return true;
}

void kb_durable_name(const char *prefix, const kb_out_map *m, char *buf, size_t cap)
{
    /* FNV-1a 64 of "filter=topic". */
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {m->filter, "=", m->topic};
    for (size_t i = 0; i < 3; i++)
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
    snprintf(buf, cap, "%s_%016llx", prefix, (unsigned long long)h);
}

char *kb_base64(const void *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *d = data;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

int64_t kb_ack_pending(const char *reply)
{
    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0)
        return -1;
    const char *tok[16];
    int n = 0;
    const char *p = reply;
    while (n < 16) {
        tok[n++] = p;
        p = strchr(p, '.');
        if (!p)
            break;
        p++;
    }
    /* v1: 9 tokens, pending last; v2: 12 or more, pending is token 11. */
    const char *t = n == 9 ? tok[8] : n >= 12 ? tok[10] : NULL;
    if (!t)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (errno || end == t || (*end && *end != '.') || v < 0)
        return -1;
    return v;
}
