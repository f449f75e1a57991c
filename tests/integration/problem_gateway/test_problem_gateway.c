/* cc-problem through the gateway, end to end over HTTP/2: CRUD and
 * permissions for the first admin (cc-user's configuration), a setter
 * (promoted by the admin), a user and an anonymous caller; list filters
 * and cursor pagination; chunked uploads; a package import, export and
 * download round trip; who may read blobs; a bad package's 422. */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"

#define req cct_req
#define fmt cct_fmt
#define jstr cct_jstr

static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, gw;
static char dir[4096], keypath[4200];
static uint16_t port;

typedef struct {
    char id[64];
    char access[4096];
} account;

static account admin, setter1, setter2, user1;

static long st(const char *method, const char *path, const char *body, const char *token)
{
    return cct_status(port, method, path, body, token);
}

/* ---- setup ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    const char *const dbs[] = {"cc_user", "cc_problem", NULL};
    if (!cct_start_stack(&stack, "test-problem-gateway", dbs))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    /* cc-problem first: it migrates and seeds while cc-user starts. */
    cct_spawn(&prob_proc, "cc-problem", CC_BIN_DIR, "cc-problem", dir,
              (const char *[]){cct_nats_flag(&stack, "problem"),
                               fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_problem")),
                               "--metrics-port=-1", "--max-package=4M", "--chunk=64k", NULL});
    uint16_t gm;
    if (cc_local_free_port(&gm) != CC_OK || cc_local_free_port(&port) != CC_OK ||
        !cct_start_user(&user_proc, &stack, CC_BIN_DIR, keypath, NULL))
        return -1;
    /* A generous RPC timeout for sanitizer builds under load. */
    if (!cct_start_gateway(&gw, &stack, CC_BIN_DIR, keypath, port, gm,
                           (const char *[]){"--rpc-timeout=30s", NULL}))
        return -1;
    /* Ready once the seeded sample is listed through the gateway. */
    if (!cct_wait_status(port, "/v1/problems/aplusb", 200, 60000)) {
        fprintf(stderr, "the gateway or cc-problem did not become ready (see %s)\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_proc_stop(&prob_proc, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* ---- accounts ------------------------------------------------------------------------ */

static void login(const char *name, const char *password, account *a)
{
    cct_resp r = req(port, "POST", "/v1/auth/login",
                     fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
    assert_int_equal(r.status, 200);
    snprintf(a->access, sizeof a->access, "%s", jstr(&r, "accessToken"));
    json_t *u = json_object_get(r.json, "user");
    snprintf(a->id, sizeof a->id, "%s", json_string_value(json_object_get(u, "id")));
    cct_resp_free(&r);
}

static void make_account(const char *name, const char *role, account *a)
{
    assert_int_equal(
        st("POST", "/v1/users",
           fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"password-%s\"}",
               name, name, name),
           NULL),
        201);
    login(name, fmt("password-%s", name), a);
    if (role) {
        assert_int_equal(st("PUT", fmt("/v1/admin/users/%s/role", a->id),
                            fmt("{\"role\":\"%s\"}", role), admin.access),
                         200);
        /* The role travels in the token: log in again. */
        login(name, fmt("password-%s", name), a);
    }
}

static void accounts(void)
{
    if (admin.access[0])
        return;
    login("root", "rootpassword", &admin);
    make_account("setterone", "ROLE_SETTER", &setter1);
    make_account("settertwo", "ROLE_SETTER", &setter2);
    make_account("userone", NULL, &user1);
}

/* ---- uploads and zips -------------------------------------------------------------------- */

/* Downloads a blob through GET /v1/blobs/{sha} in slices of at most
 * slice bytes; NULL unless every answer was 200. */
static unsigned char *download(const char *sha, const char *who, int slice, size_t *len)
{
    size_t off = 0, cap = 0;
    unsigned char *out = NULL;
    for (;;) {
        cct_resp r = req(port, "GET", fmt("/v1/blobs/%s?offset=%zu&maxBytes=%d", sha, off, slice),
                         NULL, who);
        if (r.status != 200) {
            cct_resp_free(&r);
            free(out);
            return NULL;
        }
        const char *b64 = jstr(&r, "data");
        size_t bl = strlen(b64);
        if (off + bl + 1 > cap) {
            cap = (off + bl + 1) * 2;
            out = realloc(out, cap);
        }
        /* proto3 JSON bytes are standard base64 with padding. */
        long n = bl ? cct_unbase64(b64, bl, out + off) : 0;
        assert_true(n >= 0);
        off += (size_t)n;
        bool eof = json_is_true(json_object_get(r.json, "eof"));
        cct_resp_free(&r);
        if (eof)
            break;
        assert_true(n > 0);
    }
    *len = off;
    return out;
}

typedef struct {
    const char *path;
    const char *text;
} zent;

static unsigned char *make_zip(const zent *e, size_t n, size_t *len)
{
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_open_memory(a, buf, cap, len);
    struct archive_entry *ae = archive_entry_new();
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(ae);
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, (la_int64_t)strlen(e[i].text));
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        archive_write_data(a, e[i].text, strlen(e[i].text));
    }
    archive_entry_free(ae);
    archive_write_close(a);
    archive_write_free(a);
    return buf;
}

#define N(a) (sizeof a / sizeof a[0])

/* An RFC 9457 body with this status and type slug. */
static void expect_problem(cct_resp *r, long status, const char *slug)
{
    char ct[128];
    if (r->status != status)
        fprintf(stderr, "expected %ld %s, got %ld: %s\n", status, slug, r->status,
                r->body ? r->body : "");
    assert_int_equal(r->status, status);
    assert_non_null(cct_header(r, "content-type", ct, sizeof ct));
    assert_string_equal(ct, "application/problem+json");
    assert_string_equal(jstr(r, "type"), fmt("https://codecourt.dev/problems/%s", slug));
    assert_true(jstr(r, "requestId")[0] != '\0');
}

/* ---- tests ----------------------------------------------------------------------------- */

static void crud_and_permissions(void **state)
{
    accounts();
    const char *create = "{\"slug\":\"gw-one\",\"title\":\"Gateway one\","
                         "\"statementMarkdown\":\"# One\\n\\nAdd <script>x</script> numbers.\","
                         "\"tags\":[\"math\"],\"difficulty\":\"DIFFICULTY_EASY\",\"rating\":800}";
    cct_resp r = req(port, "POST", "/v1/problems", create, NULL);
    expect_problem(&r, 401, "unauthenticated");
    cct_resp_free(&r);
    r = req(port, "POST", "/v1/problems", create, user1.access);
    expect_problem(&r, 403, "forbidden");
    cct_resp_free(&r);
    r = req(port, "POST", "/v1/problems", "{\"slug\":\"Bad Slug\",\"title\":\"x\"}",
            setter1.access);
    expect_problem(&r, 400, "invalid-argument");
    cct_resp_free(&r);
    r = req(port, "POST", "/v1/problems", "{\"slug\":\"gw-x\",\"nope\":1}", setter1.access);
    expect_problem(&r, 400, "invalid-body");
    assert_string_equal(jstr(&r, "field"), "nope");
    cct_resp_free(&r);

    r = req(port, "POST", "/v1/problems", create, setter1.access);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(&r, "visibility"), "VISIBILITY_DRAFT");
    assert_string_equal(jstr(&r, "ownerId"), setter1.id);
    assert_null(strstr(jstr(&r, "statementHtml"), "<script>"));
    cct_resp_free(&r);
    r = req(port, "POST", "/v1/problems", create, setter2.access);
    expect_problem(&r, 409, "already-exists");
    cct_resp_free(&r);

    /* A draft: only its owner and admins see it; others get 404. */
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, NULL), 404);
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, user1.access), 404);
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, setter2.access), 404);
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, setter1.access), 200);
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, admin.access), 200);
    assert_int_equal(st("GET", "/v1/problems/gw-one/versions", NULL, NULL), 404);
    assert_int_equal(st("GET", "/v1/problems/gw-one/samples", NULL, user1.access), 404);
    assert_int_equal(st("GET", "/v1/problems/gw-one/samples", NULL, setter1.access), 200);
    /* A statement's preview: cc-problem's safe rendering, for setters. */
    r = req(port, "POST", "/v1/problems/preview",
            "{\"statementMarkdown\":\"Hi **there** <script>x()</script>\"}", setter1.access);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(jstr(&r, "statementHtml"), "<strong>there</strong>"));
    assert_null(strstr(jstr(&r, "statementHtml"), "<script>"));
    cct_resp_free(&r);
    assert_int_equal(st("POST", "/v1/problems/preview", "{\"statementMarkdown\":\"x\"}",
                        user1.access),
                     403);
    /* A published problem's samples, to anyone: data/sample/1.in and .ans. */
    r = req(port, "GET", "/v1/problems/aplusb/samples", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *samples = json_object_get(r.json, "samples");
    assert_int_equal(json_array_size(samples), 1);
    json_t *s0 = json_array_get(samples, 0);
    assert_string_equal(json_string_value(json_object_get(s0, "name")), "1");
    assert_string_equal(json_string_value(json_object_get(s0, "input")), "1 2\n");
    assert_string_equal(json_string_value(json_object_get(s0, "answer")), "3\n");
    cct_resp_free(&r);
    /* An optional token is still verified when sent. */
    r = req(port, "GET", "/v1/problems/aplusb", NULL, "not.a.token");
    expect_problem(&r, 401, "invalid-token");
    cct_resp_free(&r);

    /* Edits: the owner and admins only. Whoever may not see the draft
     * gets the 404 a GET gives, from every route that would change it,
     * so none of them tells that the slug exists. */
    r = req(port, "PATCH", "/v1/problems/gw-one", "{\"title\":\"Mine\"}", setter2.access);
    expect_problem(&r, 404, "not-found");
    cct_resp_free(&r);
    assert_int_equal(st("PATCH", "/v1/problems/gw-one", "{\"title\":\"Mine\"}", user1.access), 404);
    assert_int_equal(st("PUT", "/v1/problems/gw-one/tests", "{\"tests\":[]}", setter2.access), 404);
    assert_int_equal(st("POST", "/v1/problems/gw-one/export", "{}", setter2.access), 404);
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, setter2.access), 404);
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, user1.access), 404);
    assert_int_equal(st("PATCH", "/v1/problems/gw-one", "{\"title\":\"Mine\"}", NULL), 401);
    r = req(port, "PATCH", "/v1/problems/gw-one",
            "{\"visibility\":\"VISIBILITY_PUBLIC\",\"statementMarkdown\":\"# One\\n\\nv2\","
            "\"limits\":{\"timeLimitMs\":2000,\"memoryMib\":128}}",
            setter1.access);
    assert_int_equal(r.status, 200);
    json_t *v = json_object_get(r.json, "version");
    assert_int_equal(json_integer_value(json_object_get(v, "number")), 2);
    cct_resp_free(&r);
    r = req(port, "PATCH", "/v1/problems/gw-one", "{\"title\":\"Admin was here\"}", admin.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "title"), "Admin was here");
    cct_resp_free(&r);

    /* Public now: others see it, so changing it is forbidden, not absent. */
    r = req(port, "PATCH", "/v1/problems/gw-one", "{\"title\":\"Mine\"}", setter2.access);
    expect_problem(&r, 403, "forbidden");
    cct_resp_free(&r);
    assert_int_equal(st("PATCH", "/v1/problems/gw-one", "{\"title\":\"Mine\"}", user1.access), 403);
    assert_int_equal(st("PUT", "/v1/problems/gw-one/tests", "{\"tests\":[]}", setter2.access), 403);

    /* Public now: everyone reads it, any version. */
    r = req(port, "GET", "/v1/problems/gw-one", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(jstr(&r, "statementHtml"), "v2"));
    cct_resp_free(&r);
    r = req(port, "GET", "/v1/problems/gw-one?version=1", NULL, user1.access);
    assert_int_equal(r.status, 200);
    v = json_object_get(r.json, "version");
    assert_int_equal(json_integer_value(json_object_get(v, "number")), 1);
    assert_null(strstr(jstr(&r, "statementHtml"), "v2"));
    cct_resp_free(&r);
    assert_int_equal(st("GET", "/v1/problems/gw-one?version=9", NULL, NULL), 404);
    r = req(port, "GET", "/v1/problems/gw-one/versions", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *vs = json_object_get(r.json, "versions");
    assert_int_equal(json_array_size(vs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(vs, 0), "number")), 2);
    cct_resp_free(&r);

    /* Delete: not by others; the owner's soft delete hides it. */
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, user1.access), 403);
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, setter2.access), 403);
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, NULL), 401);
    r = req(port, "DELETE", "/v1/problems/gw-one", NULL, setter1.access);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "deleted")));
    cct_resp_free(&r);
    assert_int_equal(st("GET", "/v1/problems/gw-one", NULL, admin.access), 404);
    assert_int_equal(st("DELETE", "/v1/problems/gw-one", NULL, admin.access), 404);

    /* The OpenAPI document has the routes, and never the manifest. */
    r = req(port, "GET", "/v1/openapi.json", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *paths = json_object_get(r.json, "paths");
    assert_non_null(json_object_get(paths, "/v1/problems/{slug}"));
    assert_non_null(json_object_get(paths, "/v1/uploads/{uploadId}"));
    assert_non_null(json_object_get(paths, "/v1/blobs/{sha256}"));
    assert_null(strstr(r.body, "GetVersionManifest"));
    cct_resp_free(&r);
}

/* Every slug of a listing, following cursors; their count. */
static int list_all(const char *query, const char *token, char slugs[][64], int max)
{
    char cursor[512] = "";
    int n = 0, pages = 0;
    do {
        cct_resp r = req(port, "GET",
                         fmt("/v1/problems?%s&pageSize=2%s%s", query, cursor[0] ? "&cursor=" : "",
                             cursor),
                         NULL, token);
        assert_int_equal(r.status, 200);
        json_t *ps = json_object_get(r.json, "problems");
        assert_true(json_array_size(ps) <= 2);
        size_t i;
        json_t *p;
        json_array_foreach(ps, i, p)
        {
            assert_true(n < max);
            snprintf(slugs[n++], 64, "%s", json_string_value(json_object_get(p, "slug")));
            /* lists carry no statement */
            const char *md = json_string_value(json_object_get(p, "statementMarkdown"));
            assert_true(!md || !md[0]);
        }
        /* cursors are opaque but URL-safe enough to pass back escaped */
        char *esc = curl_easy_escape(NULL, jstr(&r, "nextCursor"), 0);
        snprintf(cursor, sizeof cursor, "%s", esc);
        curl_free(esc);
        cct_resp_free(&r);
        assert_true(++pages < 50);
    } while (cursor[0]);
    return n;
}

static bool has(char slugs[][64], int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(slugs[i], s))
            return true;
    return false;
}

static void list_filters_and_pagination(void **state)
{
    accounts();
    static const char *const diffs[] = {"DIFFICULTY_EASY", "DIFFICULTY_HARD"};
    for (int i = 1; i <= 5; i++)
        assert_int_equal(
            st("POST", "/v1/problems",
               fmt("{\"slug\":\"lp-%d\",\"title\":\"Listed alpha %d\",\"tags\":[\"lp\",\"t%d\"],"
                   "\"difficulty\":\"%s\",\"visibility\":\"VISIBILITY_PUBLIC\"}",
                   i, i, i % 2, diffs[i % 2 == 0]),
               setter1.access),
            201);
    assert_int_equal(st("POST", "/v1/problems",
                        "{\"slug\":\"lp-draft\",\"title\":\"Listed alpha draft\","
                        "\"tags\":[\"lp\"],\"difficulty\":\"DIFFICULTY_EASY\"}",
                        setter1.access),
                     201);
    char slugs[64][64];
    /* By tag, two per page: all five public ones, each once, no draft. */
    int n = list_all("tag=lp", NULL, slugs, 64);
    assert_int_equal(n, 5);
    for (int i = 1; i <= 5; i++)
        assert_true(has(slugs, n, fmt("lp-%d", i)));
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            assert_string_not_equal(slugs[i], slugs[k]);
    /* The owner and admins see the draft too; another setter does not. */
    assert_int_equal(list_all("tag=lp", setter1.access, slugs, 64), 6);
    assert_int_equal(list_all("tag=lp", admin.access, slugs, 64), 6);
    assert_int_equal(list_all("tag=lp", setter2.access, slugs, 64), 5);
    assert_int_equal(list_all("tag=lp&mine=true", setter1.access, slugs, 64), 6);
    assert_int_equal(list_all("tag=lp&mine=true", setter2.access, slugs, 64), 0);
    /* Difficulty: lp-1, lp-3, lp-5 are easy. */
    n = list_all("tag=lp&difficulty=DIFFICULTY_EASY", NULL, slugs, 64);
    assert_int_equal(n, 3);
    assert_true(has(slugs, n, "lp-1") && has(slugs, n, "lp-3") && has(slugs, n, "lp-5"));
    /* Another tag and text search, combined. */
    assert_int_equal(list_all("tag=t0", NULL, slugs, 64), 2);
    n = list_all("query=ALPHA%203", NULL, slugs, 64);
    assert_int_equal(n, 1);
    assert_string_equal(slugs[0], "lp-3");
    assert_int_equal(list_all("query=alpha&tag=t1&difficulty=DIFFICULTY_HARD", NULL, slugs, 64),
                     0);
    /* Bad filters are 400s naming the field. */
    cct_resp r = req(port, "GET", "/v1/problems?difficulty=VERY_HARD", NULL, NULL);
    expect_problem(&r, 400, "invalid-body");
    assert_string_equal(jstr(&r, "field"), "difficulty");
    cct_resp_free(&r);
    r = req(port, "GET", "/v1/problems?pageSize=1000", NULL, NULL);
    assert_int_equal(r.status, 400);
    cct_resp_free(&r);
    assert_int_equal(st("GET", "/v1/problems?cursor=garbage", NULL, NULL), 400);
}

/* POST /v1/problems/import of blob sha as slug, with token. */
static cct_resp import(const char *sha, const char *slug, const char *token)
{
    return req(port, "POST", "/v1/problems/import",
               fmt("{\"sha256\":\"%s\",\"slug\":\"%s\"}", sha, slug), token);
}

/* The version hash of the problem an import answered with. */
static const char *imported_hash(cct_resp *r)
{
    json_t *v = json_object_get(json_object_get(r->json, "problem"), "version");
    return cct_json_str(v, "hash");
}

static const zent package[] = {
    {"gwpkg/problem.yaml", "name: Echo\nlimits:\n  time_limit: 1\n"},
    {"gwpkg/statement/problem.en.md", "# Echo\n\nPrint the input.\n"},
    {"gwpkg/data/sample/1.in", "hi\n"},
    {"gwpkg/data/sample/1.ans", "hi\n"},
    {"gwpkg/data/secret/1.in", "secret input\n"},
    {"gwpkg/data/secret/1.ans", "secret input\n"},
    {"gwpkg/submissions/accepted/cat.py", "import sys\nprint(sys.stdin.read(), end='')\n"},
};

/* An UploadTests body of one secret test from blobs in and ans. */
static const char *one_test(const char *in, const char *ans)
{
    return fmt("{\"tests\":[{\"path\":\"secret/1\",\"inputSha256\":\"%s\","
               "\"answerSha256\":\"%s\"}]}",
               in, ans);
}

static void package_round_trip(void **state)
{
    accounts();
    size_t zlen;
    unsigned char *zip = make_zip(package, N(package), &zlen);
    char zsha[65];
    /* Users may not upload; the setter sends the zip in 700-byte pieces. */
    cct_resp r = req(port, "POST", "/v1/uploads",
                     "{\"size\":\"10\",\"sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000" "\"}",
                     user1.access);
    expect_problem(&r, 403, "forbidden");
    cct_resp_free(&r);
    cct_upload(port, zip, zlen, setter1.access, 700, zsha);
    assert_true(zlen > 1400); /* several chunks really went */

    /* Import needs a setter; the zip's folder names it unless a slug is given. */
    assert_int_equal(st("POST", "/v1/problems/import", fmt("{\"sha256\":\"%s\"}", zsha),
                        user1.access),
                     403);
    r = req(port, "POST", "/v1/problems/import",
            fmt("{\"sha256\":\"%s\",\"visibility\":\"VISIBILITY_PUBLIC\"}", zsha),
            setter1.access);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "created")));
    json_t *p = json_object_get(r.json, "problem");
    assert_string_equal(json_string_value(json_object_get(p, "slug")), "gwpkg");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Echo");
    char hash[65];
    snprintf(hash, sizeof hash, "%s", imported_hash(&r));
    cct_resp_free(&r);

    /* Import takes only a zip the caller may read, as GET /v1/blobs does:
     * another setter who learnt the hash gets the 404 of a hash never
     * uploaded, word for word; an admin imports any blob. */
    char never[65], nowhere[1024];
    cct_sha256_hex("never uploaded", 14, never);
    r = import(never, "gwpkg-stolen", setter2.access);
    expect_problem(&r, 404, "not-found");
    snprintf(nowhere, sizeof nowhere, "%s", jstr(&r, "detail"));
    cct_resp_free(&r);
    r = import(zsha, "gwpkg-stolen", setter2.access);
    expect_problem(&r, 404, "not-found");
    assert_string_equal(jstr(&r, "detail"), nowhere);
    cct_resp_free(&r);
    assert_int_equal(st("GET", "/v1/problems/gwpkg-stolen", NULL, admin.access), 404);
    r = import(zsha, "gwpkg-admin", admin.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(imported_hash(&r), hash);
    cct_resp_free(&r);

    /* Export: the owner (and admins) only; a blob named by its hash. */
    assert_int_equal(st("POST", "/v1/problems/gwpkg/export", "{}", setter2.access), 403);
    assert_int_equal(st("POST", "/v1/problems/gwpkg/export", "{}", user1.access), 403);
    r = req(port, "POST", "/v1/problems/gwpkg/export", "{}", setter1.access);
    assert_int_equal(r.status, 200);
    char xsha[65];
    snprintf(xsha, sizeof xsha, "%s", jstr(&r, "sha256"));
    long long xsize = strtoll(jstr(&r, "size"), NULL, 10);
    cct_resp_free(&r);

    /* Download in 1000-byte slices; the bytes hash to the name. */
    size_t dl = 0;
    unsigned char *got = download(xsha, setter1.access, 1000, &dl);
    assert_non_null(got);
    assert_int_equal((long long)dl, xsize);
    char dsha[65];
    cct_sha256_hex(got, dl, dsha);
    assert_string_equal(dsha, xsha);

    /* Who may read blobs through the gateway: admins any, a setter what
     * it uploaded, exported or imported, users none, anonymous callers
     * never. */
    r = req(port, "GET", fmt("/v1/blobs/%s", xsha), NULL, NULL);
    expect_problem(&r, 401, "unauthenticated");
    cct_resp_free(&r);
    r = req(port, "GET", fmt("/v1/blobs/%s", xsha), NULL, user1.access);
    expect_problem(&r, 403, "forbidden");
    cct_resp_free(&r);
    r = req(port, "GET", fmt("/v1/blobs/%s", xsha), NULL, setter2.access);
    expect_problem(&r, 404, "not-found");
    cct_resp_free(&r);
    /* The secret test's input, whose hash anyone could compute: setter1
     * imported the zip that holds it, so it holds the file too. */
    char secret[65];
    cct_sha256_hex("secret input\n", 13, secret);
    assert_int_equal(st("GET", fmt("/v1/blobs/%s", secret), NULL, setter2.access), 404);
    assert_int_equal(st("GET", fmt("/v1/blobs/%s", secret), NULL, setter1.access), 200);
    assert_int_equal(st("GET", fmt("/v1/blobs/%s", secret), NULL, admin.access), 200);
    assert_int_equal(st("GET", fmt("/v1/blobs/%s", zsha), NULL, setter1.access), 200);
    size_t al = 0;
    unsigned char *again = download(xsha, admin.access, 0, &al);
    assert_non_null(again);
    assert_int_equal(al, dl);
    assert_memory_equal(again, got, dl);
    free(again);
    /* The manifest is never routed. */
    assert_int_equal(st("GET", "/v1/problems/gwpkg/manifest", NULL, admin.access), 404);

    /* The export is its exporter's: another setter may not import it... */
    r = import(xsha, "gwpkg-copy", setter2.access);
    expect_problem(&r, 404, "not-found");
    assert_string_equal(jstr(&r, "detail"), nowhere);
    cct_resp_free(&r);
    /* ...until it uploads the same bytes (not told they are stored, it
     * sends them all), then re-imports them as another problem: the same
     * version hash. */
    char zsha2[65];
    cct_upload(port, got, dl, setter2.access, 0, zsha2);
    assert_string_equal(zsha2, xsha);
    r = import(zsha2, "gwpkg-copy", setter2.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(imported_hash(&r), hash);
    p = json_object_get(r.json, "problem");
    assert_string_equal(json_string_value(json_object_get(p, "ownerId")), setter2.id);
    cct_resp_free(&r);
    /* Having imported the package, it holds its files. */
    assert_int_equal(st("GET", fmt("/v1/blobs/%s", secret), NULL, setter2.access), 200);
    free(got);
    free(zip);

    /* A new test set from uploaded blobs: a new version. */
    char in[65], ans[65];
    cct_upload(port, "5 7\n", 4, setter1.access, 0, in);
    cct_upload(port, "12\n", 3, setter1.access, 0, ans);
    const char *tests = fmt("{\"tests\":[{\"path\":\"sample/1\",\"inputSha256\":\"%s\","
                            "\"answerSha256\":\"%s\"},{\"path\":\"secret/1\",\"inputSha256\":"
                            "\"%s\",\"answerSha256\":\"%s\"}]}",
                            in, ans, in, ans);
    assert_int_equal(st("PUT", "/v1/problems/gwpkg/tests", tests, setter2.access), 403);
    r = req(port, "PUT", "/v1/problems/gwpkg/tests", tests, setter1.access);
    assert_int_equal(r.status, 200);
    json_t *v = json_object_get(r.json, "version");
    assert_int_equal(json_integer_value(json_object_get(v, "number")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "testCount")), 2);
    assert_string_not_equal(json_string_value(json_object_get(v, "hash")), hash);
    cct_resp_free(&r);
    /* Test data only from blobs the caller may read: setter2 naming
     * setter1's uploads on its own problem gets the 404 of a hash never
     * uploaded, word for word; the files of the package it imported are
     * its to reuse. */
    const char *other = "/v1/problems/gwpkg-copy/tests";
    char no_blob[1024];
    r = req(port, "PUT", other, one_test(never, never), setter2.access);
    expect_problem(&r, 404, "not-found");
    assert_non_null(strstr(jstr(&r, "detail"), "input_sha256"));
    snprintf(no_blob, sizeof no_blob, "%s", jstr(&r, "detail"));
    cct_resp_free(&r);
    r = req(port, "PUT", other, one_test(in, ans), setter2.access);
    expect_problem(&r, 404, "not-found");
    assert_string_equal(jstr(&r, "detail"), no_blob);
    cct_resp_free(&r);
    r = req(port, "PUT", other, one_test(secret, secret), setter2.access);
    assert_int_equal(r.status, 200);
    v = json_object_get(r.json, "version");
    assert_int_equal(json_integer_value(json_object_get(v, "number")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "testCount")), 1);
    cct_resp_free(&r);
    /* Version 1 still exports as before. */
    r = req(port, "POST", "/v1/problems/gwpkg/export", "{\"version\":1}", setter1.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "sha256"), xsha);
    cct_resp_free(&r);
}

static void bad_package(void **state)
{
    accounts();
    static const zent bad[] = {
        {"problem.yaml", "name: Broken\n"},
        {"data/secret/1.in", "1\n"},
        {"data/secret/1.ans", "1\n"},
        {"data/secret/2.in", "2\n"},
    };
    size_t zlen;
    unsigned char *zip = make_zip(bad, N(bad), &zlen);
    char sha[65];
    cct_upload(port, zip, zlen, setter1.access, 0, sha);
    free(zip);
    cct_resp r = import(sha, "broken", setter1.access);
    expect_problem(&r, 422, "unprocessable");
    assert_non_null(strstr(jstr(&r, "detail"), "data/secret/2.in"));
    assert_string_equal(jstr(&r, "field"), "data/secret/2.in");
    cct_resp_free(&r);
    /* nothing half-imported */
    assert_int_equal(st("GET", "/v1/problems/broken", NULL, setter1.access), 404);
    /* Not a zip at all. */
    cct_upload(port, "definitely not a zip", 20, setter1.access, 0, sha);
    r = import(sha, "broken", setter1.access);
    expect_problem(&r, 422, "unprocessable");
    cct_resp_free(&r);
    /* A chunk that does not hash to the announced sha256 is refused at commit. */
    char want[65];
    cct_sha256_hex("abc", 3, want);
    r = req(port, "POST", "/v1/uploads", fmt("{\"size\":\"3\",\"sha256\":\"%s\"}", want),
            setter1.access);
    assert_int_equal(r.status, 201);
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(&r, "uploadId"));
    cct_resp_free(&r);
    assert_int_equal(st("PUT", fmt("/v1/uploads/%s", id), "{\"offset\":\"0\",\"data\":\"YWJk\"}",
                        setter1.access),
                     200);
    assert_int_equal(st("PUT", fmt("/v1/uploads/%s", id), "{\"offset\":\"0\",\"data\":\"!!\"}",
                        setter1.access),
                     400);
    r = req(port, "POST", fmt("/v1/uploads/%s/commit", id), NULL, setter1.access);
    expect_problem(&r, 422, "unprocessable");
    assert_string_equal(jstr(&r, "field"), "sha256");
    cct_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crud_and_permissions),
        cmocka_unit_test(list_filters_and_pagination),
        cmocka_unit_test(package_round_trip),
        cmocka_unit_test(bad_package),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
