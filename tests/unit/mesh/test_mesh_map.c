/* docs/mesh.md and gateway/routes.c held to the code: every subject the
 * map lists may be published by its publishers and received by its
 * consumers under the permission table (runtime/src/mesh.c), every RPC it
 * names and every route of the gateway is a method of that service's
 * table (cc-<service> --print-methods), and every literal subject a
 * service may publish is on the map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/mesh.h"
#include "gw.h"

/* ---- the services' method tables ------------------------------------------------- */

static char methods[8192]; /* "service Method\n" lines of every actor */

static void load_methods(void)
{
    static const char *const actors[] = {"user", "problem", "submission", "notify", "contest",
                                         "stats"};
    size_t used = 0;
    for (size_t i = 0; i < sizeof actors / sizeof actors[0]; i++) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "%s/cc-%s --print-methods", CC_BIN_DIR, actors[i]);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        size_t n = fread(methods + used, 1, sizeof methods - used - 1, f);
        assert_int_equal(pclose(f), 0);
        assert_true(n > 0);
        used += n;
    }
    methods[used] = '\0';
}

static bool has_method(const char *service, const char *method)
{
    char line[200];
    snprintf(line, sizeof line, "\n%s %s\n", service, method);
    return !strncmp(methods, line + 1, strlen(line + 1)) || strstr(methods, line);
}

/* ---- the map ------------------------------------------------------------------------ */

typedef struct {
    char num[8], subject[128], kind[16], pubs[128], cons[128];
} row;

/* Cell i (0-based) of a Markdown table line, trimmed of spaces and
 * backquotes. */
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
    while (p < e && (*p == ' ' || *p == '`'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '`'))
        e--;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
}

static size_t load_map(row *rows, size_t cap)
{
    FILE *f = fopen(CC_MESH_MAP, "r");
    assert_non_null(f);
    char line[2048];
    size_t n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        if (line[0] != '|' || !(line[2] >= '0' && line[2] <= '9'))
            continue;
        row *r = &rows[n++];
        cell(line, 0, r->num, sizeof r->num);
        cell(line, 1, r->subject, sizeof r->subject);
        cell(line, 2, r->kind, sizeof r->kind);
        cell(line, 3, r->pubs, sizeof r->pubs);
        cell(line, 4, r->cons, sizeof r->cons);
    }
    fclose(f);
    return n;
}

/* Calls fn for every name of a "a, b" list ("-" is none). */
static void each_name(const row *r, const char *list, void (*fn)(const row *, const char *))
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", list);
    if (!strcmp(copy, "-"))
        return;
    char *save = NULL;
    for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save))
        fn(r, w);
}

static const cc_mesh_service *service(const char *name)
{
    const cc_mesh_service *s = cc_mesh_find(name);
    if (!s)
        fprintf(stderr, "docs/mesh.md names '%s', which is no user of the mesh\n", name);
    assert_non_null(s);
    return s;
}

static void check_publisher(const row *r, const char *name)
{
    bool ok = cc_mesh_may_publish(service(name), r->subject);
    if (!ok)
        fprintf(stderr, "row %s: %s may not publish %s\n", r->num, name, r->subject);
    assert_true(ok);
}

/* The stream an event or a job subject is stored in. */
static const char *stream_of(const char *subject)
{
    if (!strncmp(subject, "cc.evt.", 7))
        return CC_STREAM_EVENTS;
    if (!strncmp(subject, "cc.judge.", 9))
        return CC_STREAM_JUDGE;
    return NULL;
}

static void check_consumer(const row *r, const char *name)
{
    const cc_mesh_service *s = service(name);
    bool ok = false;
    if (!strcmp(r->kind, "rpc")) {
        /* cc.rpc.<service>[.<caller>].<Method> */
        char svc[64];
        snprintf(svc, sizeof svc, "%.*s", (int)strcspn(r->subject + 7, "."), r->subject + 7);
        const char *method = strrchr(r->subject, '.') + 1;
        ok = !strcmp(svc, name) && has_method(name, method);
    } else if (!strcmp(r->kind, "live")) {
        ok = cc_mesh_may_subscribe(s, r->subject);
    } else {
        const char *stream = stream_of(r->subject);
        size_t sl = stream ? strlen(stream) : 0;
        for (const char *const *c = s->consumers; stream && c && *c && !ok; c++)
            ok = !strncmp(*c, stream, sl) && (*c)[sl] == '.';
    }
    if (!ok)
        fprintf(stderr, "row %s: %s does not receive %s (%s)\n", r->num, name, r->subject,
                r->kind);
    assert_true(ok);
}

static void map_matches_the_code(void **state)
{
    (void)state;
    load_methods();
    row rows[64];
    size_t n = load_map(rows, 64);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        assert_true(!strcmp(r->kind, "rpc") || !strcmp(r->kind, "event") ||
                    !strcmp(r->kind, "work") || !strcmp(r->kind, "live"));
        each_name(r, r->pubs, check_publisher);
        each_name(r, r->cons, check_consumer);
    }
    /* Every subject a service may publish is on the map: a literal one by
     * name, a pattern by at least one subject it covers. */
    size_t ns;
    const cc_mesh_service *all = cc_mesh_services(&ns);
    for (size_t i = 0; i < ns; i++) {
        if (all[i].local_only)
            continue;
        for (const char *const *p = all[i].publish; p && *p; p++) {
            bool found = false;
            for (size_t k = 0; k < n && !found; k++)
                found = cc_mesh_subject_matches(*p, rows[k].subject);
            if (!found)
                fprintf(stderr, "%s may publish %s, which docs/mesh.md does not show\n",
                        all[i].name, *p);
            assert_true(found);
        }
    }
}

static void every_route_names_a_method(void **state)
{
    (void)state;
    load_methods();
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route *r = &gw_routes[i];
        bool ok = has_method(r->service, r->rpc);
        if (!ok)
            fprintf(stderr, "%s %s routes to %s.%s, which cc-%s does not serve\n", r->method,
                    r->pattern, r->service, r->rpc, r->service);
        assert_true(ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_matches_the_code),
        cmocka_unit_test(every_route_names_a_method),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
