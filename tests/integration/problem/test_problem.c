/* Integration tests of cc-problem through its RPCs, with the principal
 * set on the envelope as the gateway would: the seed, CRUD and
 * permissions, versioning (and which blobs UploadTests may attach), a
 * 256 MiB blob round trip with the service's peak memory bounded, package
 * import / export round trips, the reuse of an imported package's files
 * by hash, every bad-package case, and the sweep of abandoned uploads
 * (last: it restarts the service with a short upload TTL). */
#include <archive.h>
#include <archive_entry.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/bus.h"
#include "cc/local.h"
#include "cc/log.h"
#include "codecourt/v1/problem.pb-c.h"
#include "codecourt/v1/runtime.pb-c.h"
#include "cctest_http.h"

static cc_local_stack stack;
static cc_local_proc actor;
static uv_loop_t loop;
static cc_bus *bus;       /* the admin NATS user: any principal, any subject */
static cc_bus *judge_bus; /* the judge's own NATS user */

#define ADMIN "00000000-0000-0000-0000-00000000000a:admin"
#define SETTER1 "00000000-0000-0000-0000-000000000001:setter"
#define SETTER2 "00000000-0000-0000-0000-000000000002:setter"
#define USER "00000000-0000-0000-0000-000000000003:user"
/* As call()'s principal: the call is made as the judge itself, on the
 * caller-scoped subject only the judge's NATS user may publish. */
static const char JUDGE[] = "judge";

typedef cct_rpc_result result;

/* Calls cc.rpc.problem.<method> as principal (NULL: anonymous; JUDGE:
 * as the judge, cc.rpc.problem.judge.<method>) and waits. The caller frees
 * r->resp with protobuf_c_message_free_unpacked. */
static cc_status call(const char *method, const char *principal, const void *req,
                      const ProtobufCMessageDescriptor *resp_desc, result *r)
{
    memset(r, 0, sizeof *r);
    cc_envelope env;
    cc_envelope_new(&env, NULL);
    if (principal == JUDGE)
        assert_int_equal(cc_rpc_call_as_service_async(judge_bus, "problem", method, &env, req,
                                                      resp_desc, 120000, cct_rpc_done, r),
                         CC_OK);
    else if (principal)
        cc_envelope_set_principal(&env, principal);
    if (principal != JUDGE)
        assert_int_equal(
            cc_rpc_call_async(bus, "problem", method, &env, req, resp_desc, 120000, cct_rpc_done, r),
            CC_OK);
    assert_true(cct_run_until(&loop, &r->done, 125000));
    if (getenv("TEST_DEBUG") && r->s != CC_OK)
        fprintf(stderr, "%s: %s %s\n", method, cc_status_name(r->s), r->err);
    return r->s;
}

static void rfree(result *r)
{
    if (r->resp)
        protobuf_c_message_free_unpacked(r->resp, NULL);
    r->resp = NULL;
}

static void sha_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int l;
    EVP_Digest(d, n, md, &l, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* BeginUpload of data as who: true with the upload's id and largest
 * chunk, or false when the blob is stored already. */
static bool begin_upload(const void *data, size_t len, const char *who, char id[64],
                         size_t *max_chunk)
{
    char sha[65];
    sha_hex(data, len, sha);
    Codecourt__V1__BeginUploadRequest b = CODECOURT__V1__BEGIN_UPLOAD_REQUEST__INIT;
    b.size = (int64_t)len;
    b.sha256 = sha;
    result r;
    assert_int_equal(call("BeginUpload", who, &b, &codecourt__v1__upload__descriptor, &r), CC_OK);
    Codecourt__V1__Upload *u = (void *)r.resp;
    bool started = !u->exists;
    snprintf(id, 64, "%s", u->upload_id);
    if (max_chunk)
        *max_chunk = (size_t)u->max_chunk;
    rfree(&r);
    return started;
}

/* PutChunk of data[off, off + len) as who. */
static cc_status put_chunk(const char *id, const char *who, const void *data, size_t off,
                           size_t len)
{
    Codecourt__V1__PutChunkRequest p = CODECOURT__V1__PUT_CHUNK_REQUEST__INIT;
    p.upload_id = (char *)id;
    p.offset = (int64_t)off;
    p.data.data = (uint8_t *)data + off;
    p.data.len = len;
    result r;
    cc_status s = call("PutChunk", who, &p, &codecourt__v1__upload__descriptor, &r);
    rfree(&r);
    return s;
}

/* CommitUpload as who; on CC_OK the blob must be named sha (unless NULL). */
static cc_status commit_upload(const char *id, const char *who, const char *sha)
{
    Codecourt__V1__CommitUploadRequest c = CODECOURT__V1__COMMIT_UPLOAD_REQUEST__INIT;
    c.upload_id = (char *)id;
    result r;
    cc_status s = call("CommitUpload", who, &c, &codecourt__v1__blob__descriptor, &r);
    if (s == CC_OK && sha)
        assert_string_equal(((Codecourt__V1__Blob *)r.resp)->sha256, sha);
    rfree(&r);
    return s;
}

/* Uploads data as a blob in chunks; returns its hash in sha. False when
 * nothing was sent: the blob is stored and who may read it already. */
static bool upload(const void *data, size_t len, const char *who, char sha[65])
{
    sha_hex(data, len, sha);
    char id[64];
    size_t chunk = 0;
    if (!begin_upload(data, len, who, id, &chunk))
        return false;
    for (size_t off = 0; off < len; off += chunk)
        assert_int_equal(put_chunk(id, who, data, off, len - off < chunk ? len - off : chunk),
                         CC_OK);
    assert_int_equal(commit_upload(id, who, sha), CC_OK);
    return true;
}

/* Reads a whole blob through GetBlob; malloc'd. */
static unsigned char *download(const char *sha, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *out = malloc(cap);
    for (;;) {
        Codecourt__V1__GetBlobRequest g = CODECOURT__V1__GET_BLOB_REQUEST__INIT;
        g.sha256 = (char *)sha;
        g.offset = (int64_t)n;
        result r;
        assert_int_equal(call("GetBlob", JUDGE, &g, &codecourt__v1__get_blob_reply__descriptor, &r),
                         CC_OK);
        Codecourt__V1__GetBlobReply *b = (void *)r.resp;
        if (n + b->data.len > cap) {
            cap = (n + b->data.len) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + n, b->data.data, b->data.len);
        n += b->data.len;
        bool eof = b->eof;
        rfree(&r);
        if (eof)
            break;
    }
    *len = n;
    return out;
}

/* ---- zips --------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *text; /* NULL with size: generated bytes */
    size_t size;
    bool symlink;
} zent;

static unsigned char *make_zip(const zent *e, size_t n, size_t *len)
{
    size_t cap = 64 << 20;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_open_memory(a, buf, cap, len);
    struct archive_entry *ae = archive_entry_new();
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(ae);
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_perm(ae, 0644);
        if (e[i].symlink) {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].text);
            archive_write_header(a, ae);
            continue;
        }
        size_t sz = e[i].text ? strlen(e[i].text) : e[i].size;
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, (la_int64_t)sz);
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (e[i].text) {
            archive_write_data(a, e[i].text, sz);
        } else {
            char *z = calloc(1, sz);
            archive_write_data(a, z, sz);
            free(z);
        }
    }
    archive_entry_free(ae);
    archive_write_close(a);
    archive_write_free(a);
    return buf;
}

/* Uploads a zip of e and imports it as SETTER1; returns the status, the
 * reply in r, the zip's hash in sha. */
static cc_status import_zip(const zent *e, size_t n, const char *slug, result *r, char sha[65])
{
    size_t len;
    unsigned char *zip = make_zip(e, n, &len);
    upload(zip, len, SETTER1, sha);
    free(zip);
    Codecourt__V1__ImportPackageRequest q = CODECOURT__V1__IMPORT_PACKAGE_REQUEST__INIT;
    q.sha256 = sha;
    q.slug = (char *)slug;
    return call("ImportPackage", SETTER1, &q, &codecourt__v1__import_package_reply__descriptor, r);
}

/* ---- setup ------------------------------------------------------------------------ */

static char bin[4200];

/* Starts cc-problem (extra: one more CC_* setting, or NULL) and waits
 * until it answers Ping: migrations and seed ran before. */
static int start_actor(const char *extra)
{
    char nats[128], pg[CC_LOCAL_CONNINFO_MAX + 32], log[4200], ca[PATH_MAX + 16];
    snprintf(nats, sizeof nats, "CC_NATS_URL=%s", cc_local_nats_url(&stack, "problem"));
    snprintf(pg, sizeof pg, "CC_PG_CONNINFO=%s", cc_local_pg_conninfo(&stack, "cc_problem"));
    snprintf(log, sizeof log, "%s/logs/cc-problem.log", stack.dir);
    snprintf(ca, sizeof ca, "CC_NATS_CA=%s", stack.tls_ca);
    const char *envp[] = {nats, pg, ca, "CC_METRICS_PORT=-1", "CC_MAX_FILES=100",
                          "CC_MAX_PACKAGE=4M", "CC_LOG_LEVEL=info", extra, NULL};
    const char *argv[] = {bin, NULL};
    cc_local_spawn_opts o = {.name = "cc-problem", .path = bin, .argv = argv, .envp = envp,
                             .log_path = log};
    if (cc_local_spawn(&actor, &o) != CC_OK)
        return -1;
    for (int i = 0; i < 300; i++) {
        Codecourt__V1__PingRequest p = CODECOURT__V1__PING_REQUEST__INIT;
        result r;
        memset(&r, 0, sizeof r);
        cc_rpc_call_async(bus, "problem", "Ping", NULL, &p.base,
                          &codecourt__v1__ping_reply__descriptor, 200, cct_rpc_done, &r);
        cct_run_until(&loop, &r.done, 1000);
        rfree(&r);
        if (r.s == CC_OK)
            return 0;
    }
    fprintf(stderr, "cc-problem did not answer; log in %s\n", log);
    return -1;
}

static int group_setup(void **state)
{
    cc_log_init("test-problem", getenv("TEST_DEBUG") ? CC_LOG_DEBUG : CC_LOG_WARN);
    const char *const svcs[] = {"cc_problem", NULL};
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS | CC_LOCAL_PG, svcs) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    uv_loop_init(&loop);
    cc_bus_options bo = {
        .url = cc_local_nats_url(&stack, "admin"), .name = "test-problem", .send_asap = true};
    cc_bus_options jo = {.url = cc_local_nats_url(&stack, "judge"),
                         .name = "test-problem-judge",
                         .service = "judge",
                         .send_asap = true};
    if (cc_bus_connect(&loop, &bo, &bus) != CC_OK ||
        cc_bus_connect(&loop, &jo, &judge_bus) != CC_OK)
        return -1;
    return start_actor(NULL);
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&actor, SIGTERM, 10000);
    bool done = false, judge_done = false;
    cc_bus_close(bus, closed, &done);
    cc_bus_close(judge_bus, closed, &judge_done);
    cct_run_until(&loop, &done, 5000);
    cct_run_until(&loop, &judge_done, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    nats_Close();
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static Codecourt__V1__Problem *get(const char *slug, int version, const char *who, cc_status want,
                                   result *r)
{
    Codecourt__V1__GetProblemRequest g = CODECOURT__V1__GET_PROBLEM_REQUEST__INIT;
    g.slug = (char *)slug;
    g.version = version;
    assert_int_equal(call("GetProblem", who, &g, &codecourt__v1__problem__descriptor, r), want);
    return (Codecourt__V1__Problem *)r->resp;
}

/* CreateProblem slug (a draft, no tests) as who. */
static void create(const char *slug, const char *who)
{
    Codecourt__V1__CreateProblemRequest c = CODECOURT__V1__CREATE_PROBLEM_REQUEST__INIT;
    c.slug = (char *)slug;
    c.title = (char *)slug;
    result r;
    assert_int_equal(call("CreateProblem", who, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    rfree(&r);
}

/* UploadTests on slug as who: sample/1 from blobs sh[0] (input) and sh[1]
 * (answer), secret/1 from sh[2] and sh[3]. The status, the reply in r. */
static cc_status attach_tests(const char *slug, const char *who, const char *const sh[4], result *r)
{
    Codecourt__V1__TestCase t1 = CODECOURT__V1__TEST_CASE__INIT, t2 = t1;
    t1.path = "sample/1";
    t1.input_sha256 = (char *)sh[0];
    t1.answer_sha256 = (char *)sh[1];
    t2.path = "secret/1";
    t2.input_sha256 = (char *)sh[2];
    t2.answer_sha256 = (char *)sh[3];
    Codecourt__V1__TestCase *ts[] = {&t1, &t2};
    Codecourt__V1__UploadTestsRequest ut = CODECOURT__V1__UPLOAD_TESTS_REQUEST__INIT;
    ut.slug = (char *)slug;
    ut.tests = ts;
    ut.n_tests = 2;
    return call("UploadTests", who, &ut, &codecourt__v1__problem__descriptor, r);
}

static void seed_is_there(void **state)
{
    result r;
    Codecourt__V1__Problem *p = get("aplusb", 0, NULL, CC_OK, &r);
    assert_string_equal(p->title, "A plus B");
    assert_int_equal(p->visibility, CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC);
    assert_int_equal(p->version->number, 1);
    assert_int_equal(p->version->test_count, 11);
    assert_non_null(strstr(p->statement_html, "<h1>A plus B</h1>"));
    rfree(&r);
    /* The judge's view: the manifest, then every file by GetBlob. */
    Codecourt__V1__GetVersionManifestRequest m = CODECOURT__V1__GET_VERSION_MANIFEST_REQUEST__INIT;
    m.slug = "aplusb";
    assert_int_equal(call("GetVersionManifest", NULL, &m,
                          &codecourt__v1__version_manifest__descriptor, &r),
                     CC_OK);
    Codecourt__V1__VersionManifest *vm = (void *)r.resp;
    assert_int_equal(vm->n_files, 24); /* no submissions unless asked */
    for (size_t i = 1; i < vm->n_files; i++)
        assert_true(strcmp(vm->files[i - 1]->path, vm->files[i]->path) < 0);
    size_t n;
    unsigned char *d = download(vm->files[0]->sha256, &n);
    assert_int_equal(n, vm->files[0]->size);
    free(d);
    rfree(&r);
    m.include_submissions = true;
    assert_int_equal(call("GetVersionManifest", NULL, &m,
                          &codecourt__v1__version_manifest__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__VersionManifest *)r.resp)->n_files, 27);
    rfree(&r);
}

static void crud_and_permissions(void **state)
{
    Codecourt__V1__CreateProblemRequest c = CODECOURT__V1__CREATE_PROBLEM_REQUEST__INIT;
    c.slug = "two-sum";
    c.title = "Two sum";
    c.statement_markdown = "Hello <script>alert(1)</script> [x](javascript:alert(1)) **bold**";
    char *tags[] = {"arrays", "hashing"};
    c.tags = tags;
    c.n_tags = 2;
    c.difficulty = CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM;
    c.rating = 1200;
    result r;
    assert_int_equal(call("CreateProblem", NULL, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_UNAUTHENTICATED);
    assert_int_equal(call("CreateProblem", USER, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_DENIED);
    assert_int_equal(call("CreateProblem", SETTER1, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    Codecourt__V1__Problem *p = (void *)r.resp;
    assert_int_equal(p->visibility, CODECOURT__V1__VISIBILITY__VISIBILITY_DRAFT);
    assert_int_equal(p->n_tags, 2);
    assert_int_equal(p->version->number, 1);
    /* safe HTML: no raw HTML, no javascript: link */
    assert_null(strstr(p->statement_html, "<script"));
    assert_null(strstr(p->statement_html, "javascript:"));
    assert_non_null(strstr(p->statement_html, "<strong>bold</strong>"));
    rfree(&r);
    assert_int_equal(call("CreateProblem", SETTER2, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_EXISTS);
    c.slug = "Bad Slug";
    assert_int_equal(call("CreateProblem", SETTER1, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_INVALID);

    /* a draft: its owner and admins see it, others do not */
    get("two-sum", 0, SETTER1, CC_OK, &r);
    rfree(&r);
    get("two-sum", 0, ADMIN, CC_OK, &r);
    rfree(&r);
    get("two-sum", 0, USER, CC_NOT_FOUND, &r);
    get("two-sum", 0, NULL, CC_NOT_FOUND, &r);

    /* A draft others cannot see is not found when they change it either. */
    Codecourt__V1__UpdateProblemRequest u = CODECOURT__V1__UPDATE_PROBLEM_REQUEST__INIT;
    u.slug = "two-sum";
    u.visibility = CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC;
    assert_int_equal(call("UpdateProblem", SETTER2, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_NOT_FOUND);
    assert_int_equal(call("UpdateProblem", USER, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_NOT_FOUND);
    assert_int_equal(call("UpdateProblem", SETTER1, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__Problem *)r.resp)->version->number, 1); /* no new version */
    rfree(&r);
    get("two-sum", 0, NULL, CC_OK, &r);
    rfree(&r);
    /* Public now: others see it, and may not change it. */
    Codecourt__V1__UpdateProblemRequest t = CODECOURT__V1__UPDATE_PROBLEM_REQUEST__INIT;
    t.slug = "two-sum";
    t.title = "Taken over";
    assert_int_equal(call("UpdateProblem", SETTER2, &t, &codecourt__v1__problem__descriptor, &r),
                     CC_DENIED);
    assert_int_equal(call("UpdateProblem", USER, &t, &codecourt__v1__problem__descriptor, &r),
                     CC_DENIED);
    /* Bad fields are named. */
    t.title = "";
    t.rating = -2;
    assert_int_equal(call("UpdateProblem", SETTER1, &t, &codecourt__v1__problem__descriptor, &r),
                     CC_INVALID);
    assert_non_null(strstr(r.err, "rating:"));

    /* The update above changed only the visibility: the tags stay. */
    {
    /* list: filters and cursor pagination */
    Codecourt__V1__ListProblemsRequest l = CODECOURT__V1__LIST_PROBLEMS_REQUEST__INIT;
    l.tag = "hashing";
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__ProblemList *)r.resp)->n_problems, 1);
    rfree(&r);
    l.tag = "";
    /* text search on the title, case-insensitive */
    l.query = "TWO S";
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__ProblemList *)r.resp)->n_problems, 1);
    assert_string_equal(((Codecourt__V1__ProblemList *)r.resp)->problems[0]->slug, "two-sum");
    rfree(&r);
    l.query = "";
    l.difficulty = CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY;
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_OK);
    Codecourt__V1__ProblemList *pl = (void *)r.resp;
    assert_int_equal(pl->n_problems, 1);
    assert_string_equal(pl->problems[0]->slug, "aplusb");
    rfree(&r);
    l.difficulty = 0;
    l.page_size = 1;
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_OK);
    pl = (void *)r.resp;
    assert_int_equal(pl->n_problems, 1);
    assert_true(pl->next_cursor[0]);
    char first[80], cursor[256];
    snprintf(first, sizeof first, "%s", pl->problems[0]->slug);
    snprintf(cursor, sizeof cursor, "%s", pl->next_cursor);
    rfree(&r);
    l.cursor = cursor;
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_OK);
    pl = (void *)r.resp;
    assert_int_equal(pl->n_problems, 1);
    assert_string_not_equal(pl->problems[0]->slug, first);
    rfree(&r);
    l.cursor = "garbage!";
    assert_int_equal(call("ListProblems", NULL, &l, &codecourt__v1__problem_list__descriptor, &r),
                     CC_INVALID);

    }
    /* soft delete: gone for everyone, slug free again */
    Codecourt__V1__DeleteProblemRequest d = CODECOURT__V1__DELETE_PROBLEM_REQUEST__INIT;
    d.slug = "two-sum";
    assert_int_equal(call("DeleteProblem", SETTER2, &d, &codecourt__v1__problem__descriptor, &r),
                     CC_DENIED);
    assert_int_equal(call("DeleteProblem", ADMIN, &d, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    rfree(&r);
    get("two-sum", 0, ADMIN, CC_NOT_FOUND, &r);
}

static void versioning(void **state)
{
    Codecourt__V1__CreateProblemRequest c = CODECOURT__V1__CREATE_PROBLEM_REQUEST__INIT;
    c.slug = "versioned";
    c.title = "Versioned";
    c.statement_markdown = "v1";
    result r;
    assert_int_equal(call("CreateProblem", SETTER1, &c, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    char h1[65];
    snprintf(h1, sizeof h1, "%s", ((Codecourt__V1__Problem *)r.resp)->version->hash);
    rfree(&r);
    Codecourt__V1__UpdateProblemRequest u = CODECOURT__V1__UPDATE_PROBLEM_REQUEST__INIT;
    u.slug = "versioned";
    u.statement_markdown = "v2 *new*";
    assert_int_equal(call("UpdateProblem", SETTER1, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    Codecourt__V1__Problem *p = (void *)r.resp;
    assert_int_equal(p->version->number, 2);
    assert_string_not_equal(p->version->hash, h1);
    rfree(&r);
    u.statement_markdown = "";
    Codecourt__V1__Limits lim = CODECOURT__V1__LIMITS__INIT;
    lim.time_limit_ms = 2500;
    lim.memory_mib = 512;
    u.limits = &lim;
    assert_int_equal(call("UpdateProblem", SETTER1, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    p = (void *)r.resp;
    assert_int_equal(p->version->number, 3);
    assert_int_equal(p->version->limits->time_limit_ms, 2500);
    assert_int_equal(p->version->limits->memory_mib, 512);
    rfree(&r);
    /* the same limits again: nothing changed, no new version */
    assert_int_equal(call("UpdateProblem", SETTER1, &u, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__Problem *)r.resp)->version->number, 3);
    rfree(&r);

    /* tests: samples and a secret group */
    char sh[4][65];
    upload("1 2\n", 4, SETTER1, sh[0]);
    upload("3\n", 2, SETTER1, sh[1]);
    upload("5 5\n", 4, SETTER1, sh[2]);
    upload("10\n", 3, SETTER1, sh[3]);
    Codecourt__V1__TestCase t1 = CODECOURT__V1__TEST_CASE__INIT, t2 = t1;
    t1.path = "sample/1";
    t1.input_sha256 = sh[0];
    t1.answer_sha256 = sh[1];
    t2.path = "secret/group1/1";
    t2.input_sha256 = sh[2];
    t2.answer_sha256 = sh[3];
    Codecourt__V1__TestCase *ts[] = {&t1, &t2};
    Codecourt__V1__TestGroup g = CODECOURT__V1__TEST_GROUP__INIT;
    g.path = "secret/group1";
    g.testdata_yaml = "score: 100\n";
    Codecourt__V1__TestGroup *gs[] = {&g};
    Codecourt__V1__UploadTestsRequest ut = CODECOURT__V1__UPLOAD_TESTS_REQUEST__INIT;
    ut.slug = "versioned";
    ut.tests = ts;
    ut.n_tests = 2;
    ut.groups = gs;
    ut.n_groups = 1;
    /* "versioned" is SETTER1's draft: SETTER2 does not see it. */
    assert_int_equal(call("UploadTests", SETTER2, &ut, &codecourt__v1__problem__descriptor, &r),
                     CC_NOT_FOUND);
    assert_int_equal(call("UploadTests", SETTER1, &ut, &codecourt__v1__problem__descriptor, &r),
                     CC_OK);
    p = (void *)r.resp;
    assert_int_equal(p->version->number, 4);
    assert_int_equal(p->version->test_count, 2);
    assert_int_equal(p->version->sample_count, 1);
    rfree(&r);

    /* Only blobs the caller may read, as GetBlob decides: SETTER2, on a
     * problem of its own, naming SETTER1's test data by hash gets what a
     * hash never uploaded gets, word for word, with the field named, and
     * no version is made (ExportPackage would hand the bytes back). */
    create("versioned-other", SETTER2);
    char never[65], mine[65], nowhere_in[1024], nowhere_ans[1024];
    sha_hex("never uploaded: versioned", 25, never);
    const char *unknown[4] = {never, never, never, never};
    assert_int_equal(attach_tests("versioned-other", SETTER2, unknown, &r), CC_NOT_FOUND);
    assert_non_null(strstr(r.err, "tests[0].input_sha256"));
    snprintf(nowhere_in, sizeof nowhere_in, "%s", r.err);
    const char *stolen[4] = {sh[0], sh[1], sh[2], sh[3]};
    assert_int_equal(attach_tests("versioned-other", SETTER2, stolen, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere_in);
    /* Its own input does not carry another's answer through either. */
    assert_true(upload("7 7\n", 4, SETTER2, mine));
    const char *half_unknown[4] = {mine, never, mine, never};
    assert_int_equal(attach_tests("versioned-other", SETTER2, half_unknown, &r), CC_NOT_FOUND);
    assert_non_null(strstr(r.err, "tests[0].answer_sha256"));
    snprintf(nowhere_ans, sizeof nowhere_ans, "%s", r.err);
    const char *half_stolen[4] = {mine, sh[1], mine, sh[3]};
    assert_int_equal(attach_tests("versioned-other", SETTER2, half_stolen, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere_ans);
    p = get("versioned-other", 0, SETTER2, CC_OK, &r);
    assert_int_equal(p->version->number, 1);
    assert_int_equal(p->version->test_count, 0);
    rfree(&r);
    /* An admin attaches any stored blob. */
    create("versioned-admin", ADMIN);
    assert_int_equal(attach_tests("versioned-admin", ADMIN, stolen, &r), CC_OK);
    assert_int_equal(((Codecourt__V1__Problem *)r.resp)->version->test_count, 2);
    rfree(&r);

    /* old versions stay readable */
    Codecourt__V1__Problem *old = get("versioned", 1, SETTER1, CC_OK, &r);
    assert_string_equal(old->version->hash, h1);
    assert_string_equal(old->statement_markdown, "v1");
    rfree(&r);
    Codecourt__V1__ListVersionsRequest lv = CODECOURT__V1__LIST_VERSIONS_REQUEST__INIT;
    lv.slug = "versioned";
    assert_int_equal(call("ListVersions", SETTER1, &lv, &codecourt__v1__version_list__descriptor,
                          &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__VersionList *)r.resp)->n_versions, 4);
    rfree(&r);
    Codecourt__V1__GetVersionManifestRequest m = CODECOURT__V1__GET_VERSION_MANIFEST_REQUEST__INIT;
    m.slug = "versioned";
    m.hash = h1;
    assert_int_equal(call("GetVersionManifest", NULL, &m,
                          &codecourt__v1__version_manifest__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__VersionManifest *)r.resp)->number, 1);
    rfree(&r);
}

/* A deterministic pseudo-random stream, generated twice (hash, then
 * upload) so the test itself never holds the blob. */
static void gen(uint64_t *st, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        *st ^= *st << 13;
        *st ^= *st >> 7;
        *st ^= *st << 17;
        memcpy(buf + i, st, n - i < 8 ? n - i : 8);
    }
}

static long vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* GetBlob without a principal is an anonymous caller, not a judge: anyone
 * on the mesh can leave the header out. Refused, as a user is; the judge,
 * calling as itself on the subject only its NATS user may publish, reads
 * any blob. */
static void blobs_are_for_judges_not_for_anonymous_callers(void **state)
{
    const char secret[] = "4 5\n9\n: the secret test of blobs_are_for_judges";
    char sha[65];
    upload(secret, sizeof secret - 1, SETTER1, sha);
    const ProtobufCMessageDescriptor *d = &codecourt__v1__get_blob_reply__descriptor;
    Codecourt__V1__GetBlobRequest g = CODECOURT__V1__GET_BLOB_REQUEST__INIT;
    g.sha256 = sha;
    result r;
    assert_int_equal(call("GetBlob", NULL, &g, d, &r), CC_UNAUTHENTICATED);
    assert_null(r.resp);
    assert_int_equal(call("GetBlob", USER, &g, d, &r), CC_DENIED);
    assert_null(r.resp);
    /* Another setter: as if it did not exist. */
    assert_int_equal(call("GetBlob", SETTER2, &g, d, &r), CC_NOT_FOUND);
    assert_int_equal(call("GetBlob", SETTER1, &g, d, &r), CC_OK);
    rfree(&r);
    assert_int_equal(call("GetBlob", JUDGE, &g, d, &r), CC_OK);
    Codecourt__V1__GetBlobReply *b = (void *)r.resp;
    assert_int_equal(b->data.len, sizeof secret - 1);
    assert_memory_equal(b->data.data, secret, sizeof secret - 1);
    assert_true(b->eof);
    rfree(&r);
}

static void large_blob_bounded_memory(void **state)
{
    const char *mib = getenv("CC_TEST_BIG_MIB");
    size_t total = (size_t)(mib ? strtoul(mib, NULL, 10) : 256) << 20;
    const size_t piece = 512 * 1024;
    unsigned char *buf = malloc(piece);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    uint64_t st = 88172645463325252ull;
    for (size_t off = 0; off < total; off += piece) {
        gen(&st, buf, piece);
        EVP_DigestUpdate(md, buf, piece);
    }
    unsigned char d[32];
    unsigned int dl;
    EVP_DigestFinal_ex(md, d, &dl);
    char sha[65];
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", d[i]);

    Codecourt__V1__BeginUploadRequest b = CODECOURT__V1__BEGIN_UPLOAD_REQUEST__INIT;
    b.size = (int64_t)total;
    b.sha256 = sha;
    result r;
    assert_int_equal(call("BeginUpload", SETTER1, &b, &codecourt__v1__upload__descriptor, &r),
                     CC_OK);
    char id[64];
    snprintf(id, sizeof id, "%s", ((Codecourt__V1__Upload *)r.resp)->upload_id);
    rfree(&r);
    st = 88172645463325252ull;
    for (size_t off = 0; off < total; off += piece) {
        gen(&st, buf, piece);
        Codecourt__V1__PutChunkRequest p = CODECOURT__V1__PUT_CHUNK_REQUEST__INIT;
        p.upload_id = id;
        p.offset = (int64_t)off;
        p.data.data = buf;
        p.data.len = piece;
        assert_int_equal(call("PutChunk", SETTER1, &p, &codecourt__v1__upload__descriptor, &r),
                         CC_OK);
        rfree(&r);
        if (off == piece) { /* a resent chunk is harmless; a gap is refused */
            assert_int_equal(call("PutChunk", SETTER1, &p, &codecourt__v1__upload__descriptor, &r),
                             CC_OK);
            rfree(&r);
            p.offset = (int64_t)(off + 2 * piece);
            assert_int_equal(call("PutChunk", SETTER1, &p, &codecourt__v1__upload__descriptor, &r),
                             CC_CONFLICT);
        }
    }
    Codecourt__V1__CommitUploadRequest c = CODECOURT__V1__COMMIT_UPLOAD_REQUEST__INIT;
    c.upload_id = id;
    assert_int_equal(call("CommitUpload", SETTER1, &c, &codecourt__v1__blob__descriptor, &r),
                     CC_OK);
    assert_int_equal(((Codecourt__V1__Blob *)r.resp)->size, (int64_t)total);
    rfree(&r);

    /* read it back as a judge does, 1 MiB asked per call */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int64_t off = 0;
    for (;;) {
        Codecourt__V1__GetBlobRequest g = CODECOURT__V1__GET_BLOB_REQUEST__INIT;
        g.sha256 = sha;
        g.offset = off;
        g.max_bytes = 1 << 20;
        assert_int_equal(call("GetBlob", JUDGE, &g, &codecourt__v1__get_blob_reply__descriptor, &r),
                         CC_OK);
        Codecourt__V1__GetBlobReply *gr = (void *)r.resp;
        assert_int_equal(gr->total_size, (int64_t)total);
        EVP_DigestUpdate(md, gr->data.data, gr->data.len);
        off += (int64_t)gr->data.len;
        bool eof = gr->eof;
        assert_true(gr->data.len > 0 || eof);
        rfree(&r);
        if (eof)
            break;
    }
    assert_int_equal(off, (int64_t)total);
    EVP_DigestFinal_ex(md, d, &dl);
    char back[65];
    for (int i = 0; i < 32; i++)
        snprintf(back + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(back, sha);
    EVP_MD_CTX_free(md);
    free(buf);
    long hwm = vm_hwm_kib(actor.pid);
    fprintf(stderr, "cc-problem VmHWM after a %zu MiB round trip: %ld KiB\n", total >> 20, hwm);
#ifdef CC_SANITIZED
    /* AddressSanitizer keeps freed memory in a quarantine of up to 256 MiB
     * and shadows every byte, so its peak says nothing about the service's
     * own buffering; the bound is checked in the normal build. */
    assert_true(hwm > 0);
#else
    assert_true(hwm > 0 && hwm < 64 * 1024);
#endif
}

/* ---- packages ---------------------------------------------------------------------- */

static const zent pass_fail[] = {
    {"hello/problem.yaml", "name: Hello\nlimits:\n  time_limit: 1\n"},
    {"hello/statement/problem.en.md", "# Hello\n\nSay hello.\n"},
    {"hello/data/sample/1.in", ""},
    {"hello/data/sample/1.ans", "hello\n"},
    {"hello/data/secret/1.in", ""},
    {"hello/data/secret/1.ans", "hello\n"},
    {"hello/submissions/accepted/hello.py", "print('hello')\n"},
};

static const zent scoring[] = {
    {"problem.yaml", "problem_format_version: 2023-07-draft\nname: Square\ntype: scoring\n"
                     "limits:\n  time_limit: 2\n  memory: 256\n"},
    {"problem_statement/problem.md", "Square the number.\n"},
    {"data/sample/01.in", "2\n"},
    {"data/sample/01.ans", "4\n"},
    {"data/secret/testdata.yaml", "scoring:\n  aggregation: sum\n"},
    {"data/secret/group1/testdata.yaml", "scoring:\n  score: 30\n"},
    {"data/secret/group1/01.in", "3\n"},
    {"data/secret/group1/01.ans", "9\n"},
    {"data/secret/group2/testdata.yaml", "scoring:\n  score: 70\n"},
    {"data/secret/group2/01.in", "1000\n"},
    {"data/secret/group2/01.ans", "1000000\n"},
    {"submissions/accepted/sq.c", "int main(void){return 0;}\n"},
};

static const zent custom[] = {
    {"problem.yaml", "name: Any divisor\nvalidation: custom\nvalidator_flags: float_tolerance 1e-6\n"},
    {"data/secret/01.in", "12\n"},
    {"data/secret/01.ans", "6\n"},
    {"output_validators/divisor/divisor.c", "int main(void){return 42;}\n"},
};

static const zent interactive[] = {
    {"problem.yaml", "problem_format_version: 2023-07-draft\nname: Guess\ntype: interactive\n"},
    {"statement/problem.en.md", "Guess the number.\n"},
    {"data/secret/01.in", "17\n"},
    {"data/secret/01.ans", ""},
    {"output_validator/interactor.py", "print('ok')\n"},
};

#define N(a) (sizeof a / sizeof a[0])

/* ImportPackage of blob sha into slug as who; the status, the reply in r. */
static cc_status import_blob(const char *sha, const char *slug, const char *who, result *r)
{
    Codecourt__V1__ImportPackageRequest q = CODECOURT__V1__IMPORT_PACKAGE_REQUEST__INIT;
    q.sha256 = (char *)sha;
    q.slug = (char *)slug;
    return call("ImportPackage", who, &q, &codecourt__v1__import_package_reply__descriptor, r);
}

static void round_trip(const zent *e, size_t n, const char *slug, int want_type)
{
    result r;
    char zip[65];
    cc_status is = import_zip(e, n, slug, &r, zip);
    if (is != CC_OK)
        fprintf(stderr, "import of %s: %s: %s\n", slug, cc_status_name(is), r.err);
    assert_int_equal(is, CC_OK);
    Codecourt__V1__ImportPackageReply *ir = (void *)r.resp;
    assert_true(ir->created);
    assert_int_equal(ir->problem->version->type, want_type);
    char h[65], name[80];
    snprintf(h, sizeof h, "%s", ir->problem->version->hash);
    snprintf(name, sizeof name, "%s", ir->problem->slug);
    rfree(&r);

    /* Only a zip the caller may read, as GetBlob decides. Another setter
     * who learnt the hash of SETTER1's zip gets what a hash never uploaded
     * gets, word for word, and nothing is created. */
    char stolen[96], never[65], nowhere[1024];
    snprintf(stolen, sizeof stolen, "%s-stolen", name);
    sha_hex(stolen, strlen(stolen), never);
    assert_int_equal(import_blob(never, stolen, SETTER2, &r), CC_NOT_FOUND);
    snprintf(nowhere, sizeof nowhere, "%s", r.err);
    assert_int_equal(import_blob(zip, stolen, SETTER2, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere);
    get(stolen, 0, ADMIN, CC_NOT_FOUND, &r);
    /* Its uploader, who may read it, is told the zip is stored. */
    size_t zlen;
    unsigned char *zbytes = make_zip(e, n, &zlen);
    char again[65];
    assert_false(upload(zbytes, zlen, SETTER1, again));
    free(zbytes);
    /* An admin imports any blob. */
    char by_admin[96];
    snprintf(by_admin, sizeof by_admin, "%s-admin", name);
    assert_int_equal(import_blob(zip, by_admin, ADMIN, &r), CC_OK);
    ir = (void *)r.resp;
    assert_true(ir->created);
    assert_string_equal(ir->problem->version->hash, h);
    rfree(&r);
    /* export, then import the export into another problem: same hash */
    Codecourt__V1__ExportPackageRequest x = CODECOURT__V1__EXPORT_PACKAGE_REQUEST__INIT;
    x.slug = name;
    /* an imported problem is a draft: another setter does not see it */
    assert_int_equal(call("ExportPackage", SETTER2, &x, &codecourt__v1__blob__descriptor, &r),
                     CC_NOT_FOUND);
    assert_int_equal(call("ExportPackage", SETTER1, &x, &codecourt__v1__blob__descriptor, &r),
                     CC_OK);
    char zsha[65];
    snprintf(zsha, sizeof zsha, "%s", ((Codecourt__V1__Blob *)r.resp)->sha256);
    rfree(&r);
    /* the export is canonical: exporting again gives the same bytes */
    assert_int_equal(call("ExportPackage", SETTER1, &x, &codecourt__v1__blob__descriptor, &r),
                     CC_OK);
    assert_string_equal(((Codecourt__V1__Blob *)r.resp)->sha256, zsha);
    rfree(&r);
    char copy[96];
    snprintf(copy, sizeof copy, "%s-copy", name);
    Codecourt__V1__ImportPackageRequest q = CODECOURT__V1__IMPORT_PACKAGE_REQUEST__INIT;
    q.sha256 = zsha;
    q.slug = copy;
    assert_int_equal(
        call("ImportPackage", SETTER1, &q, &codecourt__v1__import_package_reply__descriptor, &r),
        CC_OK);
    assert_string_equal(((Codecourt__V1__ImportPackageReply *)r.resp)->problem->version->hash, h);
    rfree(&r);
    /* The export is its exporter's to import, not another setter's... */
    assert_int_equal(import_blob(zsha, stolen, SETTER2, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere);
    /* ...until that setter uploads the same bytes: BeginUpload does not
     * tell it they are stored, and the commit lists it as a reader. */
    size_t xlen;
    unsigned char *xbytes = download(zsha, &xlen);
    assert_true(upload(xbytes, xlen, SETTER2, again));
    assert_string_equal(again, zsha);
    free(xbytes);
    /* Another setter importing over the draft: its slug is taken, as for
     * CreateProblem, and nothing says whose it is. */
    q.slug = name;
    assert_int_equal(
        call("ImportPackage", SETTER2, &q, &codecourt__v1__import_package_reply__descriptor, &r),
        CC_EXISTS);
    /* re-importing into the original changes nothing */
    q.slug = name;
    assert_int_equal(
        call("ImportPackage", SETTER1, &q, &codecourt__v1__import_package_reply__descriptor, &r),
        CC_OK);
    ir = (void *)r.resp;
    assert_false(ir->created);
    assert_false(ir->new_version);
    assert_int_equal(ir->problem->version->number, 1);
    rfree(&r);
}

static void import_export_round_trips(void **state)
{
    round_trip(pass_fail, N(pass_fail), "", CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL);
    round_trip(scoring, N(scoring), "square", CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_SCORING);
    round_trip(custom, N(custom), "divisor", CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL);
    round_trip(interactive, N(interactive), "guess",
               CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE);
    result r;
    Codecourt__V1__Problem *p = get("hello", 0, SETTER1, CC_OK, &r);
    assert_string_equal(p->title, "Hello");
    assert_int_equal(p->version->limits->time_limit_ms, 1000);
    assert_non_null(strstr(p->statement_html, "<h1>Hello</h1>"));
    rfree(&r);
    p = get("divisor", 0, SETTER1, CC_OK, &r);
    assert_int_equal(p->version->checker->kind, CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_CUSTOM);
    assert_string_equal(p->version->checker->validator_flags, "float_tolerance 1e-6");
    rfree(&r);
}

static const zent reuse[] = {
    {"problem.yaml", "name: Reuse\n"},
    {"data/sample/1.in", "reuse: sample input\n"},
    {"data/sample/1.ans", "reuse: sample answer\n"},
    {"data/secret/1.in", "reuse: secret input\n"},
    {"data/secret/1.ans", "reuse: secret answer\n"},
};

/* A setter who imports a package holds every file in it: it may attach
 * them by hash in UploadTests, as if it had uploaded them one by one.
 * Nobody else may, a failed import lists nobody, and another setter
 * holding the same zip gets the files by importing it. */
static void imported_files_reused(void **state)
{
    char files[4][65], never[65], nowhere[1024], zip[65], again[65];
    for (int i = 0; i < 4; i++)
        sha_hex(reuse[i + 1].text, strlen(reuse[i + 1].text), files[i]);
    const char *sh[4] = {files[0], files[1], files[2], files[3]};
    sha_hex("never uploaded: reuse", 21, never);
    const char *unknown[4] = {never, never, never, never};
    result r;
    assert_int_equal(import_zip(reuse, N(reuse), "reuse", &r, zip), CC_OK);
    rfree(&r);
    create("reuse-copy", SETTER1);
    assert_int_equal(attach_tests("reuse-copy", SETTER1, sh, &r), CC_OK);
    Codecourt__V1__Problem *p = (void *)r.resp;
    assert_int_equal(p->version->test_count, 2);
    assert_int_equal(p->version->sample_count, 1);
    rfree(&r);

    /* Another setter, who never held the files, is refused as for a hash
     * never uploaded. */
    create("reuse-other", SETTER2);
    assert_int_equal(attach_tests("reuse-other", SETTER2, unknown, &r), CC_NOT_FOUND);
    snprintf(nowhere, sizeof nowhere, "%s", r.err);
    assert_int_equal(attach_tests("reuse-other", SETTER2, sh, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere);
    /* It uploads the same zip (not told it is stored), but its import
     * fails (the slug is SETTER1's draft): the rollback lists nobody. */
    size_t zlen;
    unsigned char *zbytes = make_zip(reuse, N(reuse), &zlen);
    assert_true(upload(zbytes, zlen, SETTER2, again));
    free(zbytes);
    assert_string_equal(again, zip);
    assert_int_equal(import_blob(zip, "reuse", SETTER2, &r), CC_EXISTS);
    assert_int_equal(attach_tests("reuse-other", SETTER2, sh, &r), CC_NOT_FOUND);
    assert_string_equal(r.err, nowhere);
    /* Imported as a problem of its own, the files are its to reuse. */
    assert_int_equal(import_blob(zip, "reuse-mine", SETTER2, &r), CC_OK);
    rfree(&r);
    assert_int_equal(attach_tests("reuse-other", SETTER2, sh, &r), CC_OK);
    assert_int_equal(((Codecourt__V1__Problem *)r.resp)->version->test_count, 2);
    rfree(&r);
}

static void expect_bad(const zent *e, size_t n, const char *want)
{
    result r;
    char sha[65];
    cc_status s = import_zip(e, n, "bad-package", &r, sha);
    if (s != CC_UNPROCESSABLE || !strstr(r.err, want))
        fprintf(stderr, "expected 422 with '%s', got %s: %s\n", want, cc_status_name(s), r.err);
    assert_int_equal(s, CC_UNPROCESSABLE);
    assert_non_null(strstr(r.err, want));
    rfree(&r);
}

static void bad_packages(void **state)
{
    zent base[8];
    memcpy(base, custom, sizeof custom);
    /* zip-slip */
    base[4] = (zent){"../evil.txt", "x"};
    expect_bad(base, 5, "../evil.txt: '.' and '..' components");
    base[4] = (zent){"data/../../evil.txt", "x"};
    expect_bad(base, 5, "path traversal");
    /* absolute */
    base[4] = (zent){"/etc/passwd", "x"};
    expect_bad(base, 5, "/etc/passwd: absolute paths");
    /* symlink */
    base[4] = (zent){"data/secret/02.in", "/etc/passwd", 0, true};
    expect_bad(base, 5, "data/secret/02.in: symbolic links");
    /* .in without .ans */
    base[4] = (zent){"data/secret/02.in", "1\n"};
    expect_bad(base, 5, "data/secret/02.in: has no matching .ans");
    /* bad YAML */
    base[0] = (zent){"problem.yaml", "name: [unclosed\n"};
    expect_bad(base, 4, "problem.yaml: line");
    /* a key 2023-07 forbids */
    base[0] = (zent){"problem.yaml", "problem_format_version: 2023-07-draft\nvalidation: custom\n"};
    expect_bad(base, 4, "problem.yaml: line 2: key 'validation' is not allowed");
    /* no problem.yaml */
    expect_bad(custom + 1, 3, "problem.yaml: missing");
    /* custom validation without a validator */
    expect_bad(custom, 3, "output_validators: the problem asks for a custom output validator but "
                          "none is present");
    /* too many files (the actor runs with max-files 100) */
    zent *many = calloc(120, sizeof *many);
    char (*names)[32] = calloc(120, 32);
    many[0] = custom[0];
    many[1] = custom[1];
    many[2] = custom[2];
    many[3] = custom[3];
    for (int i = 4; i < 120; i++) {
        snprintf(names[i], 32, "attachments/f%03d.txt", i);
        many[i] = (zent){names[i], "x"};
    }
    expect_bad(many, 120, "too many files");
    /* over the size cap (max-package 4M) */
    many[4] = (zent){"data/secret/big.in", NULL, 5 << 20};
    many[5] = (zent){"data/secret/big.ans", "x"};
    expect_bad(many, 6, "larger than the limit");
    free(many);
    free(names);
    /* not a zip at all */
    result r;
    char sha[65];
    upload("definitely not a zip", 20, SETTER1, sha);
    Codecourt__V1__ImportPackageRequest q = CODECOURT__V1__IMPORT_PACKAGE_REQUEST__INIT;
    q.sha256 = sha;
    q.slug = "bad-package";
    assert_int_equal(
        call("ImportPackage", SETTER1, &q, &codecourt__v1__import_package_reply__descriptor, &r),
        CC_UNPROCESSABLE);
    /* nothing was half-imported */
    get("bad-package", 0, ADMIN, CC_NOT_FOUND, &r);
    /* users may not import */
    q.sha256 = sha;
    assert_int_equal(
        call("ImportPackage", USER, &q, &codecourt__v1__import_package_reply__descriptor, &r),
        CC_DENIED);
}

/* ---- abandoned uploads ------------------------------------------------------------- */

/* One number from a query on the service's database. */
static long long db_count(PGconn *db, const char *sql, const char *arg)
{
    const char *vals[] = {arg};
    PGresult *res = PQexecParams(db, sql, arg ? 1 : 0, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(res));
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static void expect_blob(const char *data, size_t len)
{
    char sha[65];
    sha_hex(data, len, sha);
    size_t n = 0;
    unsigned char *got = download(sha, &n);
    assert_int_equal(n, len);
    assert_memory_equal(got, data, len);
    free(got);
}

/* With upload-ttl 5s (swept every 1.25 s), an upload never committed is
 * dropped with its chunks; finished blobs stay whole, also one whose bytes
 * an abandoned upload carried too, and so do the blobs of versions. */
static void abandoned_uploads_are_swept(void **state)
{
    assert_int_equal(cc_local_proc_stop(&actor, SIGTERM, 10000), CC_OK);
    assert_int_equal(start_actor("CC_UPLOAD_TTL=5s"), 0);
    PGconn *db = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_problem"));
    assert_int_equal(PQstatus(db), CONNECTION_OK);

    /* A finished blob. */
    static const char done_bytes[] = "a finished upload\n";
    char sha[65];
    upload(done_bytes, strlen(done_bytes), SETTER1, sha);
    /* Twins: two uploads of the same bytes; one commits, one is left. */
    static const char twin[] = "the same bytes, twice\n";
    size_t tl = strlen(twin);
    char t1[64], t2[64];
    assert_true(begin_upload(twin, tl, SETTER1, t1, NULL));
    assert_true(begin_upload(twin, tl, SETTER1, t2, NULL));
    assert_int_equal(put_chunk(t1, SETTER1, twin, 0, tl), CC_OK);
    assert_int_equal(put_chunk(t2, SETTER1, twin, 0, tl), CC_OK);
    assert_int_equal(commit_upload(t1, SETTER1, NULL), CC_OK);
    /* Abandoned half way. */
    static const char half[] = "only the first half of this was ever sent\n";
    char ab[64];
    assert_true(begin_upload(half, strlen(half), SETTER1, ab, NULL));
    assert_int_equal(put_chunk(ab, SETTER1, half, 0, 10), CC_OK);
    /* A chunk whose upload row is already gone, as a crash between the
     * sweep's two statements would leave. */
    PQclear(PQexec(db, "INSERT INTO blob_chunks (owner, off, data) VALUES ('upload:' || "
                       "gen_random_uuid()::text, 0, '\\x00')"));
    assert_true(db_count(db, "SELECT count(*) FROM uploads WHERE id = $1::uuid", t2) == 1);
    assert_true(
        db_count(db, "SELECT count(*) FROM blob_chunks WHERE owner LIKE 'upload:%'", NULL) >= 3);

    /* Gone within the TTL and a sweep or two. */
    bool never = false;
    uint64_t start = uv_hrtime();
    while (db_count(db,
                    "SELECT (SELECT count(*) FROM uploads) + (SELECT count(*) FROM blob_chunks "
                    "WHERE owner LIKE 'upload:%')",
                    NULL) > 0) {
        assert_true(uv_hrtime() - start < 30000000000u);
        cct_run_until(&loop, &never, 250);
    }
    assert_int_equal(put_chunk(ab, SETTER1, half, 10, 5), CC_NOT_FOUND);
    assert_int_equal(commit_upload(ab, SETTER1, NULL), CC_NOT_FOUND);
    assert_int_equal(commit_upload(t2, SETTER1, NULL), CC_NOT_FOUND);

    /* Every finished blob is whole: the ones above, and a seeded version's. */
    expect_blob(done_bytes, strlen(done_bytes));
    expect_blob(twin, tl);
    Codecourt__V1__GetVersionManifestRequest m = CODECOURT__V1__GET_VERSION_MANIFEST_REQUEST__INIT;
    m.slug = "aplusb";
    result r;
    assert_int_equal(
        call("GetVersionManifest", NULL, &m, &codecourt__v1__version_manifest__descriptor, &r),
        CC_OK);
    Codecourt__V1__VersionManifest *vm = (void *)r.resp;
    for (size_t i = 0; i < vm->n_files; i++) {
        size_t n = 0;
        free(download(vm->files[i]->sha256, &n));
        assert_int_equal(n, vm->files[i]->size);
    }
    rfree(&r);

    /* A young upload is left alone: after two sweeps, it goes on. */
    static const char young[] = "a young upload\n";
    char yid[64];
    assert_true(begin_upload(young, strlen(young), SETTER1, yid, NULL));
    cct_run_until(&loop, &never, 2600);
    assert_int_equal(put_chunk(yid, SETTER1, young, 0, strlen(young)), CC_OK);
    assert_int_equal(commit_upload(yid, SETTER1, NULL), CC_OK);
    expect_blob(young, strlen(young));
    PQfinish(db);
}

int main(int argc, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(bin, sizeof bin, "%s/cc-problem", self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_is_there),
        cmocka_unit_test(crud_and_permissions),
        cmocka_unit_test(versioning),
        cmocka_unit_test(import_export_round_trips),
        cmocka_unit_test(imported_files_reused),
        cmocka_unit_test(bad_packages),
        cmocka_unit_test(blobs_are_for_judges_not_for_anonymous_callers),
        cmocka_unit_test(large_blob_bounded_memory),
        cmocka_unit_test(abandoned_uploads_are_swept), /* last: restarts the service */
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
