/* codecourt: the command-line client. Talks JSON over HTTP/2 to the
 * gateway with libcurl (prior knowledge on http://, ALPN on https://).
 * Debian 12's libcurl 7.88 is built without its WebSocket API, so `submit`
 * follows the judging by polling GET /v1/submissions/ID (every 300 ms) and
 * prints each new test as it appears.
 *
 * Server: --server URL, else $CODECOURT_SERVER, else http://127.0.0.1:8080
 * (what `make run` starts). The access token lives in
 * $XDG_CONFIG_HOME/codecourt/token (else ~/.config/codecourt/token), mode
 * 0600. Exit status: 0 success (submit: AC), 1 failure or another verdict,
 * 2 bad usage, 3 server unreachable. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "judge/package.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *server = "http://127.0.0.1:8080";
static char token[8192];

/* ---- configuration ------------------------------------------------------------- */

static bool config_dir(char *out, size_t cap)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (x && x[0])
        n = snprintf(out, cap, "%s/codecourt", x);
    else if (home && home[0])
        n = snprintf(out, cap, "%s/.config/codecourt", home);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

static void load_token(void)
{
    char d[4096], p[4200];
    if (!config_dir(d, sizeof d))
        return;
    snprintf(p, sizeof p, "%s/token", d);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    if (!fgets(token, sizeof token, f))
        token[0] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    fclose(f);
}

/* mkdir -p of the config folder (0700), then the token file with 0600
 * from its creation on. */
static bool save_token(const char *t)
{
    char d[4096], p[4200];
    if (!config_dir(d, sizeof d))
        return false;
    for (char *s = d + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(d, 0700);
            *s = '/';
        }
    mkdir(d, 0700);
    snprintf(p, sizeof p, "%s/token", d);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "codecourt: cannot write %s: %s\n", p, strerror(errno));
        return false;
    }
    fchmod(fd, 0600);
    size_t n = strlen(t);
    bool ok = write(fd, t, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    close(fd);
    return ok;
}

/* ---- HTTP ---------------------------------------------------------------------- */

typedef struct {
    long status;
    char *body;
    size_t len;
    json_t *json;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* One request. Exits with EXIT_UNREACHABLE when the server cannot be
 * reached, so callers only see HTTP answers. body may be NULL; http()
 * takes over the caller's reference to it. */
static resp http(const char *method, const char *path, json_t *body, const char *extra_header)
{
    resp r = {0};
    char url[2048], auth[8300];
    snprintf(url, sizeof url, "%s%s", server, path);
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "codecourt: libcurl failed to start\n");
        exit(EXIT_FAIL);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, strncmp(server, "https:", 6) == 0
                                                  ? CURL_HTTP_VERSION_2TLS
                                                  : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (getenv("CODECOURT_INSECURE")) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Accept: application/json");
    if (token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    if (extra_header)
        hl = curl_slist_append(hl, extra_header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body); /* http() takes the caller's reference */
    if (text) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
    CURLcode rc = curl_easy_perform(c);
    free(text);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "codecourt: cannot reach the server at %s: %s\n"
                        "  (is it running? `make run` starts one; set --server or "
                        "CODECOURT_SERVER otherwise)\n",
                server, curl_easy_strerror(rc));
        curl_easy_cleanup(c);
        exit(EXIT_UNREACHABLE);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (r.body)
        r.json = json_loads(r.body, 0, NULL);
    return r;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

/* Prints an error answer (RFC 9457 problem) and returns EXIT_FAIL. */
static int fail(resp *r, const char *what)
{
    const char *detail = jstr(r->json, "detail");
    const char *title = jstr(r->json, "title");
    fprintf(stderr, "codecourt: %s: %ld %s%s%s\n", what, r->status, title[0] ? title : "error",
            detail[0] ? ": " : "", detail);
    if (r->status == 401)
        fprintf(stderr, "  (log in first: codecourt login --username NAME)\n");
    resp_free(r);
    return EXIT_FAIL;
}

/* ---- arguments ----------------------------------------------------------------- */

/* The value of --name in argv (removed from the positional list), or
 * NULL. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (argv[i] && !strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static bool is_opt_value(int argc, char **argv, int i)
{
    return i > 0 && argv[i - 1] && !strncmp(argv[i - 1], "--", 2) && i < argc;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: codecourt [--server URL] COMMAND\n"
            "  register --username U --email E [--password P]\n"
            "  login --username U [--password P]        (password also from CODECOURT_PASSWORD)\n"
            "  problems list\n"
            "  problems show SLUG\n"
            "  problems import PACKAGE [--slug SLUG]    (a package folder or zip; setters)\n"
            "  submit FILE... --problem SLUG [--lang L] (exit 0 only on AC)\n"
            "  submissions list [--problem SLUG]\n"
            "  submissions show ID\n"
            "  judges                                   (admins: state, jobs, sandbox, version)\n"
            "  judges drain|disable|enable ID           (admins)\n");
    return EXIT_USAGE;
}

static const char *password_of(int argc, char **argv)
{
    const char *p = opt(argc, argv, "--password");
    if (!p)
        p = getenv("CODECOURT_PASSWORD");
    if (!p && isatty(0))
        p = getpass("password: ");
    return p;
}

/* ---- commands ------------------------------------------------------------------ */

static int cmd_register(int argc, char **argv)
{
    const char *u = opt(argc, argv, "--username"), *e = opt(argc, argv, "--email");
    const char *p = password_of(argc, argv);
    if (!u || !e || !p)
        return usage();
    resp r = http("POST", "/v1/users",
                  json_pack("{s:s, s:s, s:s}", "username", u, "email", e, "password", p), NULL);
    if (r.status != 201)
        return fail(&r, "register");
    printf("registered %s (%s); now: codecourt login --username %s\n", u, jstr(r.json, "id"), u);
    resp_free(&r);
    return EXIT_OK;
}

static int cmd_login(int argc, char **argv)
{
    const char *u = opt(argc, argv, "--username");
    const char *p = password_of(argc, argv);
    if (!u || !p)
        return usage();
    resp r = http("POST", "/v1/auth/login", json_pack("{s:s, s:s}", "username", u, "password", p),
                  NULL);
    if (r.status != 200)
        return fail(&r, "login");
    if (!save_token(jstr(r.json, "accessToken"))) {
        resp_free(&r);
        return EXIT_FAIL;
    }
    printf("logged in as %s\n", u);
    resp_free(&r);
    return EXIT_OK;
}

/* ---- problems import ---------------------------------------------------------------- */

static void print_diags(const pkg_diags *d, pkg_level level, const char *prefix)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i].level != level)
            continue;
        char *line = pkg_diag_str(&d->v[i]);
        fprintf(stderr, "%s%s\n", prefix, line);
        free(line);
    }
}

/* The slug a package gets when none is given: the folder's name, the
 * zip's top-level folder, or the zip file's name without ".zip". */
static void default_slug(const char *path, const pkg_files *p, bool dir, char *out, size_t cap)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    const char *base = strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy;
    if (!dir && p->top)
        base = p->top;
    snprintf(out, cap, "%s", base);
    n = strlen(out);
    if (!dir && !p->top && n > 4 && !strcmp(out + n - 4, ".zip"))
        out[n - 4] = '\0';
}

/* Reads and checks the package at path (a folder or a zip) with the one
 * package reader that cc-judge and the server use, so a package that every
 * judge refuses is refused here, with the same message, before anything
 * is uploaded. A folder is zipped into the temporary file zip_path. */
static int check_local(const char *path, char *zip_path, size_t cap, char *slug, size_t slugcap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "codecourt: %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    bool dir = S_ISDIR(st.st_mode);
    pkg_files p;
    pkg_meta m;
    pkg_diags d = {0};
    cc_status s = dir ? pkg_read_dir(path, &pkg_local_limits, &p, &d)
                      : pkg_read_zip_file(path, &pkg_local_limits, &p, &d);
    if (s == CC_OK) {
        s = pkg_check(&p, NULL, &m, &d);
        if (s == CC_OK)
            pkg_meta_free(&m);
    }
    if (s != CC_OK) {
        print_diags(&d, PKG_WARNING, "warning: ");
        const pkg_diag *e = pkg_diags_first_error(&d);
        char *msg = e ? pkg_diag_str(e) : strdup(cc_err_msg());
        fprintf(stderr, "codecourt: import: %s\n", msg ? msg : "the package is refused");
        free(msg);
        pkg_diags_free(&d);
        return EXIT_FAIL;
    }
    pkg_diags_free(&d);
    if (!slug[0])
        default_slug(path, &p, dir, slug, slugcap);
    snprintf(zip_path, cap, "%s", path);
    if (dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(zip_path, cap, "%s/codecourt-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        int fd = mkstemp(zip_path);
        if (fd >= 0)
            close(fd);
        if (fd < 0 || pkg_write_zip(zip_path, slug, &p, pkg_dir_reader, (void *)path) != CC_OK) {
            fprintf(stderr, "codecourt: cannot zip %s: %s\n", path,
                    fd < 0 ? strerror(errno) : cc_err_msg());
            if (fd >= 0)
                unlink(zip_path);
            pkg_free(&p);
            return EXIT_FAIL;
        }
    }
    pkg_free(&p);
    return EXIT_OK;
}

/* Uploads the file at path in chunks (resumable uploads); hex gets its
 * SHA-256. */
static int upload(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "codecourt: %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(data);
        fprintf(stderr, "codecourt: cannot read %s\n", path);
        return EXIT_FAIL;
    }
    fclose(f);
    pkg_sha256_hex(data, (size_t)size, hex);
    resp r = http("POST", "/v1/uploads", json_pack("{s:I, s:s}", "size", (json_int_t)size,
                                                     "sha256", hex),
                  NULL);
    if (r.status != 201 && r.status != 200) {
        free(data);
        return fail(&r, "upload");
    }
    char id[128];
    snprintf(id, sizeof id, "%s", jstr(r.json, "uploadId"));
    long long off = jint(r.json, "received"), chunk = jint(r.json, "maxChunk");
    bool exists = json_is_true(json_object_get(r.json, "exists"));
    resp_free(&r);
    if (chunk <= 0)
        chunk = 256 * 1024;
    while (!exists && id[0] && off < size) {
        size_t n = (size_t)(size - off < chunk ? size - off : chunk);
        char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, data + off, (int)n);
        char upath[256];
        snprintf(upath, sizeof upath, "/v1/uploads/%s", id);
        r = http("PUT", upath, json_pack("{s:I, s:s}", "offset", (json_int_t)off, "data", b64),
                 NULL);
        free(b64);
        if (r.status != 200) {
            free(data);
            return fail(&r, "upload chunk");
        }
        off = jint(r.json, "received");
        resp_free(&r);
        if (isatty(2))
            fprintf(stderr, "\ruploaded %lld/%ld bytes", off, size);
    }
    free(data);
    if (!exists && id[0]) {
        if (isatty(2))
            fprintf(stderr, "\n");
        char cpath[256];
        snprintf(cpath, sizeof cpath, "/v1/uploads/%s/commit", id);
        r = http("POST", cpath, json_object(), NULL);
        if (r.status != 200)
            return fail(&r, "upload commit");
        resp_free(&r);
    }
    return EXIT_OK;
}

/* codecourt problems import PACKAGE [--slug SLUG]: a folder or a zip. */
static int cmd_import(int argc, char **argv)
{
    const char *path = NULL, *given = opt(argc, argv, "--slug");
    for (int i = 0; i < argc && !path; i++)
        if (strncmp(argv[i], "--", 2) && !is_opt_value(argc, argv, i))
            path = argv[i];
    if (!path)
        return usage();
    char slug[256], zip[4200], hex[65];
    snprintf(slug, sizeof slug, "%s", given ? given : "");
    int rc = check_local(path, zip, sizeof zip, slug, sizeof slug);
    if (rc != EXIT_OK)
        return rc;
    rc = upload(zip, hex);
    if (strcmp(zip, path))
        unlink(zip);
    if (rc != EXIT_OK)
        return rc;
    resp r = http("POST", "/v1/problems/import", json_pack("{s:s, s:s}", "sha256", hex, "slug",
                                                            slug),
                  NULL);
    if (r.status != 200)
        return fail(&r, "import");
    json_t *p = json_object_get(r.json, "problem");
    json_t *lim = json_object_get(json_object_get(p, "version"), "limits");
    printf("imported %s (%s)\n", jstr(p, "slug"),
           json_is_true(json_object_get(r.json, "created")) ? "new problem"
           : json_is_true(json_object_get(r.json, "newVersion")) ? "new version"
                                                                 : "unchanged");
    printf("limits: time %lld ms, memory %lld MiB, output %lld MiB\n", jint(lim, "timeLimitMs"),
           jint(lim, "memoryMib"), jint(lim, "outputMib"));
    json_t *w = json_object_get(r.json, "warnings");
    for (size_t i = 0; i < json_array_size(w); i++)
        printf("warning: %s\n", json_string_value(json_array_get(w, i)));
    resp_free(&r);
    return EXIT_OK;
}

static int cmd_problems(int argc, char **argv)
{
    if (argc < 1)
        return usage();
    if (!strcmp(argv[0], "list")) {
        resp r = http("GET", "/v1/problems?pageSize=100", NULL, NULL);
        if (r.status != 200)
            return fail(&r, "problems list");
        json_t *ps = json_object_get(r.json, "problems");
        for (size_t i = 0; i < json_array_size(ps); i++) {
            json_t *p = json_array_get(ps, i);
            printf("%-24s %s\n", jstr(p, "slug"), jstr(p, "title"));
        }
        resp_free(&r);
        return EXIT_OK;
    }
    if (!strcmp(argv[0], "show") && argc >= 2) {
        char path[256];
        snprintf(path, sizeof path, "/v1/problems/%.100s", argv[1]);
        resp r = http("GET", path, NULL, NULL);
        if (r.status != 200)
            return fail(&r, "problems show");
        json_t *v = json_object_get(r.json, "version");
        printf("%s — %s\n", jstr(r.json, "slug"), jstr(r.json, "title"));
        json_t *lim = json_object_get(v, "limits");
        printf("version %lld, %lld tests, time limit %lld ms, memory %lld MiB\n\n",
               jint(v, "number"), jint(v, "testCount"), jint(lim, "timeLimitMs"),
               jint(lim, "memoryMib"));
        printf("%s\n", jstr(r.json, "statementMarkdown"));
        resp_free(&r);
        return EXIT_OK;
    }
    if (!strcmp(argv[0], "import") && argc >= 2)
        return cmd_import(argc - 1, argv + 1);
    return usage();
}

static void print_test(json_t *t, size_t k, long long n)
{
    printf("  test %zu/%lld %-4s %5lld ms %7lld KiB  %s\n", k, n, jstr(t, "verdict"),
           jint(t, "cpuMs"), jint(t, "memoryKib"), jstr(t, "name"));
}

/* An API time (RFC 3339, "2026-12-06T08:14:07Z") in local time, or "-". */
static void local_time(json_t *o, const char *key, char *out, size_t cap)
{
    const char *v = jstr(o, key);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) {
        snprintf(out, cap, "-");
        return;
    }
    time_t t = timegm(&tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", localtime(&t));
}

static void print_submission_line(json_t *s)
{
    char when[32];
    local_time(s, "createdAt", when, sizeof when);
    printf("%s  %s  %-12s %-8s %-8s %s\n", jstr(s, "id"), when, jstr(s, "problem"),
           jstr(s, "language"), jstr(s, "status"), jstr(s, "verdict"));
}

/* Follows a submission until judged, printing each stage and test once. */
static int follow(const char *id)
{
    char path[128], stage[32] = "";
    snprintf(path, sizeof path, "/v1/submissions/%s", id);
    size_t shown = 0;
    for (int polls = 0; polls < 2000; polls++) {
        resp r = http("GET", path, NULL, NULL);
        if (r.status == 503 || r.status == 504) {
            resp_free(&r);
            usleep(1000000);
            continue;
        }
        if (r.status != 200)
            return fail(&r, "submission");
        const char *st = jstr(r.json, "status");
        json_t *tests = json_object_get(r.json, "tests");
        long long n = jint(r.json, "testCount");
        if (strcmp(st, stage) != 0 && strcmp(st, "running") != 0) {
            long long place = jint(r.json, "queuePosition"), wait = jint(r.json, "estimatedWaitMs");
            if (!strcmp(st, "queued") && place > 0 && wait >= 0)
                printf("queued: place %lld, about %lld s\n", place, (wait + 999) / 1000);
            else if (!strcmp(st, "queued") && place > 0)
                printf("queued: place %lld\n", place);
            else
                printf("%s\n", st);
            snprintf(stage, sizeof stage, "%s", st);
        }
        for (; shown < json_array_size(tests); shown++)
            print_test(json_array_get(tests, shown), shown + 1, n ? n : (long long)json_array_size(tests));
        fflush(stdout);
        if (!strcmp(st, "judged")) {
            const char *v = jstr(r.json, "verdict");
            const char *co = jstr(r.json, "compileOutput");
            if (!strcmp(v, "CE") && co[0])
                printf("compiler output:\n%s\n", co);
            if (jstr(r.json, "message")[0])
                printf("%s\n", jstr(r.json, "message"));
            printf("verdict: %s (score %g)\n", v,
                   json_number_value(json_object_get(r.json, "score")));
            int rc = !strcmp(v, "AC") ? EXIT_OK : EXIT_FAIL;
            resp_free(&r);
            return rc;
        }
        resp_free(&r);
        usleep(300000);
    }
    fprintf(stderr, "codecourt: gave up waiting for %s\n", id);
    return EXIT_FAIL;
}

static int cmd_submit(int argc, char **argv)
{
    const char *problem = opt(argc, argv, "--problem"), *lang = opt(argc, argv, "--lang");
    if (!problem)
        return usage();
    json_t *files = json_array();
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--", 2) || is_opt_value(argc, argv, i))
            continue;
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "codecourt: %s: %s\n", argv[i], strerror(errno));
            json_decref(files);
            return EXIT_FAIL;
        }
        unsigned char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
            return EXIT_FAIL;
        EVP_EncodeBlock((unsigned char *)b64, buf, (int)n);
        const char *base = strrchr(argv[i], '/');
        json_array_append_new(files, json_pack("{s:s, s:s}", "name", base ? base + 1 : argv[i],
                                               "content", b64));
        free(b64);
    }
    if (json_array_size(files) == 0) {
        json_decref(files);
        return usage();
    }
    /* A fresh key per invocation: a retried request is not a second
     * submission. */
    unsigned char rnd[16];
    char key[80] = "Idempotency-Key: cli-";
    FILE *ur = fopen("/dev/urandom", "rb");
    if (ur && fread(rnd, 1, sizeof rnd, ur) == sizeof rnd)
        for (int i = 0; i < 16; i++)
            snprintf(key + strlen(key), 3, "%02x", rnd[i]);
    if (ur)
        fclose(ur);
    json_t *body = json_pack("{s:s, s:s, s:o}", "problem", problem, "language", lang ? lang : "",
                             "files", files);
    resp r = {0};
    for (int tries = 0; tries < 5; tries++) {
        r = http("POST", "/v1/submissions", json_incref(body), key);
        if (r.status != 503)
            break;
        resp_free(&r);
        sleep(1);
    }
    json_decref(body);
    if (r.status != 201)
        return fail(&r, "submit");
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(r.json, "id"));
    printf("submission %s (%s, %s)\n", id, jstr(r.json, "problem"), jstr(r.json, "language"));
    resp_free(&r);
    return follow(id);
}

static int cmd_submissions(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "list")) {
        const char *problem = opt(argc, argv, "--problem");
        char path[256];
        if (problem)
            snprintf(path, sizeof path, "/v1/problems/%.64s/submissions?pageSize=50", problem);
        else
            snprintf(path, sizeof path, "/v1/submissions?pageSize=50");
        resp r = http("GET", path, NULL, NULL);
        if (r.status != 200)
            return fail(&r, "submissions list");
        json_t *ss = json_object_get(r.json, "submissions");
        for (size_t i = 0; i < json_array_size(ss); i++)
            print_submission_line(json_array_get(ss, i));
        resp_free(&r);
        return EXIT_OK;
    }
    if (argc >= 2 && !strcmp(argv[0], "show")) {
        char path[256];
        snprintf(path, sizeof path, "/v1/submissions/%.64s", argv[1]);
        resp r = http("GET", path, NULL, NULL);
        if (r.status != 200)
            return fail(&r, "submissions show");
        print_submission_line(r.json);
        json_t *tests = json_object_get(r.json, "tests");
        for (size_t i = 0; i < json_array_size(tests); i++)
            print_test(json_array_get(tests, i), i + 1, (long long)json_array_size(tests));
        if (jstr(r.json, "compileOutput")[0])
            printf("compiler output:\n%s\n", jstr(r.json, "compileOutput"));
        resp_free(&r);
        return EXIT_OK;
    }
    return usage();
}

/* The judge fleet (admins): a line per judge, or an order to one. */
static int cmd_judges(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[0], "drain") || !strcmp(argv[0], "disable") ||
                      !strcmp(argv[0], "enable"))) {
        char path[256];
        snprintf(path, sizeof path, "/v1/admin/judges/%.128s/state", argv[1]);
        resp r = http("PUT", path, json_pack("{s:s}", "action", argv[0]), NULL);
        if (r.status != 200)
            return fail(&r, "judges");
        printf("%s: %s ordered (state %s)\n", jstr(r.json, "id"), argv[0], jstr(r.json, "state"));
        resp_free(&r);
        return EXIT_OK;
    }
    if (argc != 0)
        return usage();
    resp r = http("GET", "/v1/admin/judges", NULL, NULL);
    if (r.status != 200)
        return fail(&r, "judges");
    json_t *js = json_object_get(r.json, "judges");
    printf("%-28s %-9s %4s %6s %8s %-8s %s\n", "JUDGE", "STATE", "JOBS", "DONE", "HEARD", "SANDBOX",
           "VERSION");
    long long now = (long long)time(NULL) * 1000;
    for (size_t i = 0; i < json_array_size(js); i++) {
        json_t *j = json_array_get(js, i);
        json_t *box = json_object_get(j, "box");
        printf("%-28s %-9s %4zu %6lld %7llds %-8s %s\n", jstr(j, "id"), jstr(j, "state"),
               json_array_size(json_object_get(j, "jobs")), jint(j, "jobsDone"),
               (now - jint(j, "heartbeatAtMs")) / 1000,
               json_is_true(json_object_get(box, "cgroup")) ? "cgroup" : "rlimits",
               jstr(j, "version"));
    }
    printf("queue: %lld waiting, the oldest for %lld s\n", jint(r.json, "queueDepth"),
           jint(r.json, "oldestQueuedMs") / 1000);
    resp_free(&r);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    int i = 1;
    const char *env = getenv("CODECOURT_SERVER");
    if (env && env[0])
        server = env;
    if (i + 1 < argc && !strcmp(argv[i], "--server")) {
        server = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return usage();
    if (!strcmp(argv[i], "--version")) {
        printf("codecourt %s\n", CC_VERSION);
        return 0;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    load_token();
    const char *cmd = argv[i];
    int rest = argc - i - 1;
    char **rv = argv + i + 1;
    int rc;
    if (!strcmp(cmd, "register"))
        rc = cmd_register(rest, rv);
    else if (!strcmp(cmd, "login"))
        rc = cmd_login(rest, rv);
    else if (!strcmp(cmd, "problems"))
        rc = cmd_problems(rest, rv);
    else if (!strcmp(cmd, "submit"))
        rc = cmd_submit(rest, rv);
    else if (!strcmp(cmd, "submissions"))
        rc = cmd_submissions(rest, rv);
    else if (!strcmp(cmd, "judges"))
        rc = cmd_judges(rest, rv);
    else
        rc = usage();
    curl_global_cleanup();
    return rc;
}
