/* One package reader, three doors: every package under tests/judge/pkgs
 * (the broken ones included) gets the same decision, the same limits and
 * the same messages from `cc-judge verify --check-only`, from the import
 * API (a real cc-gateway, cc-user and cc-problem over HTTP/2) and from
 * `codecourt problems import`. The API is sent the package as the zip the
 * CLI would upload; a package whose folder cannot be read at all (a link
 * that leaves it) cannot be zipped, so for those only verify and the CLI,
 * which read the folder, are compared. */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "judge/package.h"

#define fmt cct_fmt

static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, gw;
static char dir[4096], keypath[4200], admin_token[4096];
static uint16_t port;

/* ---- setup ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    const char *const dbs[] = {"cc_user", "cc_problem", NULL};
    if (!cct_start_stack(&stack, "test-package-parity", dbs))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    /* cc-problem first: it migrates and seeds while cc-user starts. */
    cct_spawn(&prob_proc, "cc-problem", CC_BIN_DIR, "cc-problem", dir,
              (const char *[]){cct_nats_flag(&stack, "problem"),
                               fmt("--pg-conninfo=%s",
                                   cc_local_pg_conninfo(&stack, "cc_problem")),
                               "--metrics-port=-1", NULL});
    uint16_t gm;
    if (cc_local_free_port(&gm) != CC_OK || cc_local_free_port(&port) != CC_OK ||
        !cct_start_user(&user_proc, &stack, CC_BIN_DIR, keypath, NULL))
        return -1;
    if (!cct_start_gateway(&gw, &stack, CC_BIN_DIR, keypath, port, gm, NULL))
        return -1;
    if (!cct_wait_status(port, "/v1/problems/aplusb", 200, 60000)) {
        fprintf(stderr, "cc-problem did not become ready (see %s)\n", dir);
        return -1;
    }
    cct_resp r = cct_req(port, "POST", "/v1/auth/login",
                         "{\"username\":\"root\",\"password\":\"rootpassword\"}", NULL);
    if (r.status != 200)
        return -1;
    snprintf(admin_token, sizeof admin_token, "%s", cct_jstr(&r, "accessToken"));
    cct_resp_free(&r);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_proc_stop(&prob_proc, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* ---- what each door says ----------------------------------------------------------- */

typedef struct {
    bool accepted;
    char error[1024];
    long long time_ms, memory_mib, output_mib;
    json_t *warnings; /* array of strings */
} verdict;

static void verdict_free(verdict *v)
{
    json_decref(v->warnings);
    memset(v, 0, sizeof *v);
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Runs argv with extra environment (NAME=value entries, NULL-ended),
 * stdout and stderr into files; returns the exit status. */
static int run(const char *const *argv, const char *const *env, char **out, char **err)
{
    char opath[4300], epath[4300];
    snprintf(opath, sizeof opath, "%s/run.out", dir);
    snprintf(epath, sizeof epath, "%s/run.err", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    const char *paths[2] = {opath, epath};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        *dst[i] = calloc(1, (size_t)n + 1);
        assert_int_equal(fread(*dst[i], 1, (size_t)n, f), (size_t)n);
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static verdict from_verify(const char *pkgdir)
{
    char *out, *err;
    int rc = run((const char *[]){CC_BIN_DIR "/cc-judge", "verify", pkgdir, "--check-only",
                                  "--json", NULL},
                 NULL, &out, &err);
    verdict v = {0};
    json_t *doc = json_loads(out, 0, NULL);
    if (!doc)
        fprintf(stderr, "%s: cc-judge printed no JSON (exit %d):\n%s%s\n", pkgdir, rc, out, err);
    assert_non_null(doc);
    json_t *p = json_object_get(doc, "package");
    v.accepted = rc == 0 && p;
    assert_true(rc == 0 || rc == 2);
    if (p) {
        v.time_ms = num(p, "time_limit_ms");
        v.memory_mib = num(p, "memory_mib");
        v.output_mib = num(p, "output_mib");
        v.warnings = json_incref(json_object_get(p, "warnings"));
    } else {
        snprintf(v.error, sizeof v.error, "%s", cct_json_str(doc, "error"));
        v.warnings = json_incref(json_object_get(doc, "warnings"));
    }
    json_decref(doc);
    free(out);
    free(err);
    return v;
}

/* The package zipped as the CLI zips a folder; false when the folder
 * cannot be read as a package at all. */
static bool zip_of(const char *pkgdir, const char *name, char **data, size_t *len)
{
    pkg_files files;
    if (pkg_read_dir(pkgdir, &pkg_local_limits, &files, NULL) != CC_OK)
        return false;
    char *path = fmt("%s/%s.zip", dir, name);
    assert_int_equal(pkg_write_zip(path, name, &files, pkg_dir_reader, (void *)pkgdir), CC_OK);
    pkg_free(&files);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    *data = malloc(*len);
    assert_int_equal(fread(*data, 1, *len, f), *len);
    fclose(f);
    unlink(path);
    return true;
}

static verdict from_api(const char *data, size_t len, const char *slug)
{
    char sha[65];
    cct_upload(port, data, len, admin_token, 0, sha);
    cct_resp r = cct_req(port, "POST", "/v1/problems/import",
                         fmt("{\"sha256\":\"%s\",\"slug\":\"%s\"}", sha, slug), admin_token);
    verdict v = {.accepted = r.status == 200};
    if (r.status == 200) {
        json_t *lim = json_object_get(
            json_object_get(json_object_get(r.json, "problem"), "version"), "limits");
        v.time_ms = num(lim, "timeLimitMs");
        v.memory_mib = num(lim, "memoryMib");
        v.output_mib = num(lim, "outputMib");
        json_t *w = json_object_get(r.json, "warnings");
        v.warnings = w ? json_incref(w) : json_array();
    } else {
        if (r.status != 422)
            fprintf(stderr, "%s: %ld %s\n", slug, r.status, r.body);
        assert_int_equal(r.status, 422);
        snprintf(v.error, sizeof v.error, "%s", cct_jstr(&r, "detail"));
        v.warnings = json_array();
    }
    cct_resp_free(&r);
    return v;
}

/* The lines of text that start with prefix, the prefix cut off. */
static void lines_with(const char *text, const char *prefix, json_t *into)
{
    size_t pl = strlen(prefix);
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= pl && !strncmp(s, prefix, pl))
            json_array_append_new(into, json_stringn(s + pl, n - pl));
        s += n + (e ? 1 : 0);
    }
}

static verdict from_cli(const char *pkgdir, const char *slug)
{
    const char *server = fmt("CODECOURT_SERVER=http://127.0.0.1:%u", port);
    const char *config = fmt("XDG_CONFIG_HOME=%s/cli-config", dir);
    const char *const env[] = {server, config, NULL};
    char *out, *err;
    static bool logged_in;
    if (!logged_in) {
        int rc = run((const char *[]){CC_BIN_DIR "/codecourt", "login", "--username", "root",
                                      "--password", "rootpassword", NULL},
                     env, &out, &err);
        assert_int_equal(rc, 0);
        free(out);
        free(err);
        logged_in = true;
    }
    int rc = run((const char *[]){CC_BIN_DIR "/codecourt", "problems", "import", pkgdir,
                                  "--slug", slug, NULL},
                 env, &out, &err);
    verdict v = {.accepted = rc == 0, .warnings = json_array()};
    if (rc == 0) {
        const char *l = strstr(out, "limits: ");
        assert_non_null(l);
        assert_int_equal(sscanf(l, "limits: time %lld ms, memory %lld MiB, output %lld MiB",
                                &v.time_ms, &v.memory_mib, &v.output_mib),
                         3);
        lines_with(out, "warning: ", v.warnings);
    } else {
        const char *e = strstr(err, "codecourt: import: ");
        if (!e)
            fprintf(stderr, "%s: the CLI failed without a package error:\n%s%s\n", pkgdir, out,
                    err);
        assert_non_null(e);
        e += strlen("codecourt: import: ");
        snprintf(v.error, sizeof v.error, "%.*s", (int)strcspn(e, "\n"), e);
        lines_with(err, "warning: ", v.warnings);
    }
    free(out);
    free(err);
    return v;
}

static void expect_same(const char *pkg, const char *who, const verdict *a, const verdict *b)
{
    char *wa = json_dumps(a->warnings, JSON_COMPACT), *wb = json_dumps(b->warnings, JSON_COMPACT);
    bool same = a->accepted == b->accepted && !strcmp(a->error, b->error) &&
                a->time_ms == b->time_ms && a->memory_mib == b->memory_mib &&
                a->output_mib == b->output_mib && !strcmp(wa, wb);
    if (!same)
        fprintf(stderr,
                "%s: cc-judge verify and %s disagree:\n"
                "  verify: %s '%s' %lld ms %lld MiB %lld MiB %s\n"
                "  %s: %s '%s' %lld ms %lld MiB %lld MiB %s\n",
                pkg, who, a->accepted ? "accepted" : "refused", a->error, a->time_ms,
                a->memory_mib, a->output_mib, wa, who, b->accepted ? "accepted" : "refused",
                b->error, b->time_ms, b->memory_mib, b->output_mib, wb);
    free(wa);
    free(wb);
    assert_true(same);
}

/* ---- the test ------------------------------------------------------------------------ */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void every_package_gets_one_answer(void **state)
{
    (void)state;
    DIR *d = opendir(CC_PKGS_DIR);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_name);
    size_t refused = 0, accepted = 0, warned = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pkgdir = fmt("%s/%s", CC_PKGS_DIR, names[i]);
        verdict v = from_verify(pkgdir);
        char *zip;
        size_t zlen;
        if (zip_of(pkgdir, names[i], &zip, &zlen)) {
            verdict a = from_api(zip, zlen, fmt("api-%s", names[i]));
            expect_same(names[i], "the import API", &v, &a);
            verdict_free(&a);
            free(zip);
        } else {
            assert_false(v.accepted);
        }
        verdict c = from_cli(pkgdir, fmt("cli-%s", names[i]));
        expect_same(names[i], "codecourt problems import", &v, &c);
        verdict_free(&c);
        /* What an accepted package shows as its limits is what it is
         * judged with: never 0. */
        if (v.accepted)
            assert_true(v.time_ms > 0 && v.memory_mib > 0 && v.output_mib > 0);
        refused += !v.accepted;
        accepted += v.accepted;
        warned += json_array_size(v.warnings) > 0;
        verdict_free(&v);
        free(names[i]);
    }
    printf("%zu packages: %zu accepted, %zu refused, %zu with warnings\n", n, accepted, refused,
           warned);
    /* The set must hold both kinds, and warnings, or it proves little. */
    assert_true(refused >= 5);
    assert_true(accepted >= 5);
    assert_true(warned >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_package_gets_one_answer),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
