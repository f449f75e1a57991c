/* The database-failure policy (cc/pg.h): every status the PostgreSQL layer
 * can return, and every status besides, gets its one answer; the SQLSTATEs
 * land on the statuses the policy names; and the table of the README's API
 * section says what the code does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/pg.h"

/* What the gateway makes of each answer (gateway/server.c: its problem
 * types), as the README's table states it. */
typedef struct http {
    cc_status answer;
    const char *type;
    int code;
} http;

static const http gateway[] = {
    {CC_UNAVAILABLE, "unavailable", 503}, {CC_TIMEOUT, "timeout", 504},
    {CC_EXISTS, "already-exists", 409},   {CC_UNPROCESSABLE, "unprocessable", 422},
    {CC_INTERNAL, "internal", 500},
};

static const http *http_of(cc_status answer)
{
    for (size_t i = 0; i < sizeof gateway / sizeof *gateway; i++)
        if (gateway[i].answer == answer)
            return &gateway[i];
    return NULL;
}

/* Every status the layer returns (cc/pg.h: the callbacks, cc_pg_query and
 * the transaction and batch calls), with its answer. */
typedef struct row {
    cc_status from;
    cc_status answer;
    bool retryable, ours;
} row;

static const row layer[] = {
    {CC_UNAVAILABLE, CC_UNAVAILABLE, true, false},      /* lost, refused, class 08/57P0x/53 */
    {CC_LIMIT, CC_UNAVAILABLE, true, false},            /* too many claims wait */
    {CC_CLOSED, CC_UNAVAILABLE, true, false},           /* pool closed */
    {CC_CONFLICT, CC_UNAVAILABLE, true, false},         /* 40001, 40P01 */
    {CC_TIMEOUT, CC_TIMEOUT, false, false},             /* 57014, or the pool's own timer */
    {CC_EXISTS, CC_EXISTS, false, false},               /* 23505, 23P01 */
    {CC_UNPROCESSABLE, CC_UNPROCESSABLE, false, false}, /* the rest of class 23 */
    {CC_DB, CC_INTERNAL, false, true},                  /* any other server error */
    {CC_INVALID, CC_INTERNAL, false, true},             /* a bad call */
    {CC_NOMEM, CC_INTERNAL, false, true},
};

static const row *layer_row(cc_status s)
{
    for (size_t i = 0; i < sizeof layer / sizeof *layer; i++)
        if (layer[i].from == s)
            return &layer[i];
    return NULL;
}

/* Every status of cc/status.h: those of the layer as the table says, any
 * other (CC_OK included: it is no failure) an internal error of ours. */
static void every_status(void **state)
{
#define CHECK(name, num, msg)                                                                      \
    {                                                                                              \
        cc_pg_failure f = cc_pg_failure_of(CC_##name);                                             \
        const row *r = layer_row(CC_##name);                                                       \
        cc_status want = r ? r->answer : CC_INTERNAL;                                              \
        if (f.answer != want || f.retryable != (r && r->retryable) ||                              \
            f.ours != (r ? r->ours : true) || !f.what || !f.what[0])                               \
            fail_msg("%s: answer %s retryable %d ours %d", #name, cc_status_name(f.answer),        \
                     f.retryable, f.ours);                                                         \
        /* Retryable is exactly what the gateway answers 503 with Retry-After. */                  \
        assert_int_equal(f.retryable, f.answer == CC_UNAVAILABLE);                                 \
        assert_non_null(http_of(f.answer));                                                        \
    }
    CC_STATUS_MAP(CHECK)
#undef CHECK
    /* Numbers outside the map too. */
    assert_int_equal(cc_pg_failure_of((cc_status)1000).answer, CC_INTERNAL);
    assert_int_equal(cc_pg_failure_of((cc_status)-1).answer, CC_INTERNAL);
}

static void sqlstates(void **state)
{
    static const struct {
        const char *ss;
        cc_status want;
    } t[] = {
        {"08006", CC_UNAVAILABLE},
        {"08001", CC_UNAVAILABLE},
        {"08P01", CC_UNAVAILABLE},
        {"57P01", CC_UNAVAILABLE},
        {"57P02", CC_UNAVAILABLE},
        {"57P03", CC_UNAVAILABLE},
        {"53300", CC_UNAVAILABLE},
        {"53100", CC_UNAVAILABLE},
        {"53200", CC_UNAVAILABLE},
        {"40001", CC_CONFLICT},
        {"40P01", CC_CONFLICT},
        {"57014", CC_TIMEOUT},
        {"23505", CC_EXISTS},
        {"23P01", CC_EXISTS},
        {"23502", CC_UNPROCESSABLE},
        {"23503", CC_UNPROCESSABLE},
        {"23514", CC_UNPROCESSABLE},
        {"23001", CC_UNPROCESSABLE},
        {"23000", CC_UNPROCESSABLE},
        {"22P02", CC_DB},
        {"42P01", CC_DB},
        {"40000", CC_DB},
        {"XX000", CC_DB},
        {"", CC_DB},
        {"2350", CC_DB},
        {"235050", CC_DB},
        {NULL, CC_DB},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        cc_status s = cc_pg_status_of_sqlstate(t[i].ss);
        if (s != t[i].want)
            fail_msg("SQLSTATE %s: %s, want %s", t[i].ss ? t[i].ss : "(null)", cc_status_name(s),
                     cc_status_name(t[i].want));
        /* Whatever the server says lands on a status of the table. */
        assert_non_null(layer_row(s));
    }
}

/* ---- the README's table ------------------------------------------------------ */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The i-th (0-based) cell of a "| a | b |" line, copied to out. */
static void cell(const char *line, int i, char *out, size_t cap)
{
    const char *p = line;
    for (int k = 0; k <= i; k++) {
        p = strchr(p, '|');
        assert_non_null(p);
        p++;
    }
    const char *e = strchr(p, '|');
    assert_non_null(e);
    snprintf(out, cap, "%.*s", (int)(e - p), p);
}

static cc_status status_named(const char *name)
{
#define NAMED(n, num, msg)                                                                         \
    if (!strcmp(name, #n))                                                                         \
        return CC_##n;
    CC_STATUS_MAP(NAMED)
#undef NAMED
    fail_msg("README names an unknown status CC_%s", name);
    return CC_ERR;
}

/* Each row: the layer's statuses (`CC_X`), the answer's type, the HTTP
 * code and Retry-After, and the SQLSTATEs it lists; each agrees with the
 * code, and every status of the layer has its row. */
static void readme_table(void **state)
{
    char *doc = read_file(CC_SOURCE_DIR "/README.md");
    const char *t = strstr(doc, "### When the database fails");
    assert_non_null(t);
    t = strstr(t, "|---|");
    assert_non_null(t);
    t = strchr(t, '\n') + 1;
    bool seen[sizeof layer / sizeof *layer] = {0};
    int rows = 0;
    for (const char *line = t; *line == '|'; line = strchr(line, '\n') + 1, rows++) {
        char what[600], from[200], type[100], code[100];
        cell(line, 0, what, sizeof what);
        cell(line, 1, from, sizeof from);
        cell(line, 2, type, sizeof type);
        cell(line, 3, code, sizeof code);
        int nfrom = 0;
        for (const char *p = strstr(from, "`CC_"); p; p = strstr(p + 1, "`CC_")) {
            char name[40];
            assert_int_equal(sscanf(p + 4, "%39[A-Z_]", name), 1);
            cc_status s = status_named(name);
            const row *r = layer_row(s);
            if (!r)
                fail_msg("README: CC_%s is not a status of the PostgreSQL layer", name);
            seen[r - layer] = true;
            nfrom++;
            cc_pg_failure f = cc_pg_failure_of(s);
            const http *h = http_of(f.answer);
            char want_type[64];
            snprintf(want_type, sizeof want_type, " `%s` ", h->type);
            if (strcmp(type, want_type) != 0 || strtol(code, NULL, 10) != h->code)
                fail_msg("README: CC_%s answers%s%s, the code %s %d", name, type, code, h->type,
                         h->code);
            if ((strstr(code, "Retry-After") != NULL) != f.retryable)
                fail_msg("README: CC_%s: Retry-After is%s said", name, f.retryable ? " not" : "");
        }
        assert_true(nfrom > 0);
        /* The SQLSTATEs a row names ("(40001, 40P01)") map to its first
         * status. */
        char name[40];
        sscanf(strstr(from, "`CC_") + 4, "%39[A-Z_]", name);
        for (const char *p = what; *p; p++) {
            if (p > what && (p[-1] == ' ' || p[-1] == '(') && strspn(p, "0123456789P") >= 5 &&
                (p[5] == ',' || p[5] == ')')) {
                char ss[6];
                memcpy(ss, p, 5);
                ss[5] = '\0';
                if (cc_pg_status_of_sqlstate(ss) != status_named(name))
                    fail_msg("README: SQLSTATE %s is listed for CC_%s, the code says %s", ss, name,
                             cc_status_name(cc_pg_status_of_sqlstate(ss)));
            }
        }
    }
    for (size_t i = 0; i < sizeof layer / sizeof *layer; i++)
        if (!seen[i])
            fail_msg("README: no row for CC_%s", cc_status_name(layer[i].from));
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_status),
        cmocka_unit_test(sqlstates),
        cmocka_unit_test(readme_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
