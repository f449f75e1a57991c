/* See cctest_http.h. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "cctest_http.h"

#include "cc/log.h"

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    cct_resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    cct_resp *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

void cct_resp_free(cct_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *cct_header(cct_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (char *line = r->headers; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)l, v);
            return out;
        }
    }
    return NULL;
}

CURL *cct_prepare(cct_resp *r, struct curl_slist **hl, const char *method, const char *url,
                  const char *body, const char *token, const char *extra)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, strncmp(url, "https", 5) == 0
                                                  ? CURL_HTTP_VERSION_2TLS
                                                  : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    /* Tests call this from several threads at once. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    *hl = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        /* curl copies header lines, so the buffer may go right after. */
        size_t n = strlen(token) + 32;
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", token);
            *hl = curl_slist_append(*hl, auth);
            free(auth);
        }
    }
    /* extra may hold several header lines, one per '\n'. */
    for (const char *e = extra; e && *e;) {
        size_t n = strcspn(e, "\n");
        char line[4096];
        snprintf(line, sizeof line, "%.*s", (int)n, e);
        *hl = curl_slist_append(*hl, line);
        e += n + (e[n] == '\n');
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    return c;
}

long cct_get_http1(uint16_t port, const char *path, char *body, size_t cap)
{
    return cct_get_http1_within(port, path, body, cap, 30000);
}

long cct_get_http1_within(uint16_t port, const char *path, char *body, size_t cap,
                          long timeout_ms)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    cct_resp r = {0};
    struct curl_slist *hl = NULL;
    CURL *c = cct_prepare(&r, &hl, "GET", url, NULL, NULL, NULL);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_perform(c);
    cct_finish(c, &r, hl);
    if (cap > 0)
        snprintf(body, cap, "%s", r.body ? r.body : "");
    long status = r.status;
    cct_resp_free(&r);
    return status;
}

void cct_finish(CURL *c, cct_resp *r, struct curl_slist *hl)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->version);
    if (r->body)
        r->json = json_loads(r->body, 0, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

cct_resp cct_req_url(const char *method, const char *url, const char *body, const char *token,
                     const char *extra)
{
    cct_resp r = {0};
    struct curl_slist *hl = NULL;
    CURL *c = cct_prepare(&r, &hl, method, url, body, token, extra);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
    cct_finish(c, &r, hl);
    if (getenv("TEST_DEBUG"))
        fprintf(stderr, "%s %s <- %ld %.300s\n", method, url, r.status, r.body ? r.body : "");
    return r;
}

cct_resp cct_req_hdr(uint16_t port, const char *method, const char *path, const char *body,
                     const char *token, const char *extra)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    return cct_req_url(method, url, body, token, extra);
}

cct_resp cct_req(uint16_t port, const char *method, const char *path, const char *body,
                 const char *token)
{
    return cct_req_hdr(port, method, path, body, token, NULL);
}

long cct_status(uint16_t port, const char *method, const char *path, const char *body,
                const char *token)
{
    cct_resp r = cct_req(port, method, path, body, token);
    long st = r.status;
    cct_resp_free(&r);
    return st;
}

const char *cct_json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

const char *cct_jstr(cct_resp *r, const char *key)
{
    return cct_json_str(r->json, key);
}

char *cct_fmt(const char *f, ...)
{
    static char bufs[48][1024];
    static int next;
    char *b = bufs[next++ % 48];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 1024, f, ap);
    va_end(ap);
    return b;
}

const char *cct_nats_flag(const cc_local_stack *stack, const char *service)
{
    const char *url = cc_local_nats_url(stack, service);
    return cct_fmt("--nats-url=%s", url ? url : stack->nats_url);
}

cc_status cct_try_spawn(cc_local_proc *p, const char *name, const char *bin_dir, const char *bin,
                        const char *log_dir, const char *const *args)
{
    char path[4200], log[4200];
    snprintf(path, sizeof path, "%s/%s", bin_dir, bin);
    snprintf(log, sizeof log, "%s/%s.log", log_dir, name);
    const char *argv[40] = {path};
    int n = 1;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cc_local_spawn_opts o = {.name = name, .path = path, .argv = argv, .log_path = log};
    return cc_local_spawn(p, &o);
}

void cct_spawn(cc_local_proc *p, const char *name, const char *bin_dir, const char *bin,
               const char *log_dir, const char *const *args)
{
    assert_int_equal(cct_try_spawn(p, name, bin_dir, bin, log_dir, args), CC_OK);
}

void cct_upload(uint16_t port, const void *data, size_t len, const char *token, size_t piece,
                char sha[65])
{
    cct_sha256_hex(data, len, sha);
    cct_resp r = cct_req(port, "POST", "/v1/uploads",
                         cct_fmt("{\"size\":\"%zu\",\"sha256\":\"%s\"}", len, sha), token);
    assert_int_equal(r.status, 201);
    if (json_is_true(json_object_get(r.json, "exists"))) {
        cct_resp_free(&r);
        return;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", cct_jstr(&r, "uploadId"));
    size_t max = (size_t)json_integer_value(json_object_get(r.json, "maxChunk"));
    assert_true(max > 0);
    cct_resp_free(&r);
    if (piece == 0 || piece > max)
        piece = max;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        char *b64 = cct_base64((const char *)data + off, n);
        size_t cap = strlen(b64) + 128;
        char *body = malloc(cap);
        assert_non_null(body);
        snprintf(body, cap, "{\"offset\":\"%zu\",\"data\":\"%s\"}", off, b64);
        r = cct_req(port, "PUT", cct_fmt("/v1/uploads/%s", id), body, token);
        assert_int_equal(r.status, 200);
        assert_int_equal(strtoll(cct_jstr(&r, "received"), NULL, 10), (long long)(off + n));
        cct_resp_free(&r);
        free(body);
        free(b64);
    }
    r = cct_req(port, "POST", cct_fmt("/v1/uploads/%s/commit", id), NULL, token);
    assert_int_equal(r.status, 200);
    assert_string_equal(cct_jstr(&r, "sha256"), sha);
    cct_resp_free(&r);
}

bool cct_start_gateway(cc_local_proc *p, const cc_local_stack *stack, const char *bin_dir,
                       const char *keypath, uint16_t http_port, uint16_t metrics_port,
                       const char *const *extra)
{
    const char *args[40] = {cct_nats_flag(stack, "gateway"),
                            cct_fmt("--redis-url=%s", stack->redis_url),
                            cct_fmt("--http-port=%u", http_port),
                            "--https-port=-1",
                            cct_fmt("--metrics-port=%u", metrics_port),
                            cct_fmt("--jwt-key=%s", keypath),
                            "--rate-user=100000",
                            "--burst-user=100000",
                            "--rate-auth=100000",
                            "--burst-auth=100000",
                            "--rate-anon=100000",
                            "--burst-anon=100000",
                            "--rate-login=100000",
                            "--burst-login=100000"};
    int n = 14;
    for (int i = 0; extra && extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cct_spawn(p, "cc-gateway", bin_dir, "cc-gateway", stack->dir, args);
    if (!cct_wait_status(http_port, "/readyz", 200, 30000)) {
        fprintf(stderr, "gateway did not become ready (see %s/cc-gateway.log)\n", stack->dir);
        return false;
    }
    return true;
}

bool cct_start_user(cc_local_proc *p, const cc_local_stack *stack, const char *bin_dir,
                    const char *keypath, const char *const *extra)
{
    uint16_t metrics;
    if (cc_local_free_port(&metrics) != CC_OK)
        return false;
    const char *args[40] = {cct_nats_flag(stack, "user"),
                            cct_fmt("--redis-url=%s", stack->redis_url),
                            cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(stack, "cc_user")),
                            cct_fmt("--metrics-port=%u", metrics),
                            cct_fmt("--jwt-key=%s", keypath),
                            "--bcrypt-cost=4",
                            "--admin-username=root",
                            "--admin-email=root@example.org",
                            "--admin-password=rootpassword"};
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cct_spawn(p, "cc-user", bin_dir, "cc-user", stack->dir, args);
    if (!cct_wait_status(metrics, "/readyz", 200, 30000)) {
        fprintf(stderr, "cc-user did not become ready (see %s/cc-user.log)\n", stack->dir);
        return false;
    }
    return true;
}

bool cct_start_stack(cc_local_stack *stack, const char *log_name, const char *const *databases)
{
    cc_log_init(log_name, CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(stack, CC_LOCAL_ALL, databases) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return false;
    }
    cc_local_guard(stack);
    return true;
}

int cct_metrics_port_from_log(const char *path, const char *also)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int port = -1;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"metrics_port\":");
        if (p && (!also || strstr(line, also)))
            port = (int)strtol(p + 15, NULL, 10);
    }
    fclose(f);
    return port;
}

bool cct_wait_status(uint16_t port, const char *path, long want, int ms)
{
    for (int waited = 0; waited < ms; waited += 100) {
        if (cct_status(port, "GET", path, NULL, NULL) == want)
            return true;
        usleep(100000);
    }
    return false;
}

char *cct_base64(const void *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

void cct_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

long cct_unbase64(const char *s, size_t n, unsigned char *out)
{
    if (n % 4 != 0)
        return -1;
    int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (k < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (n >= 1 && s[n - 1] == '=')
        k--;
    if (n >= 2 && s[n - 2] == '=')
        k--;
    return k;
}

/* ---- the test's loop ---------------------------------------------------------- */

bool cct_run_until_fn(uv_loop_t *loop, bool (*pred)(void *), void *ud, int timeout_ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    bool ok;
    while (!(ok = pred(ud)) && uv_hrtime() < end) {
        uv_timer_start(&tick, (uv_timer_cb)(void (*)(void))uv_timer_stop, 10, 0);
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static bool flag_is_set(void *done)
{
    return *(const bool *)done;
}

bool cct_run_until(uv_loop_t *loop, const bool *done, int timeout_ms)
{
    return cct_run_until_fn(loop, flag_is_set, (void *)done, timeout_ms);
}

typedef struct {
    bool done;
    cc_status s;
    cc_status (*fn)(void *);
    void *ud;
} offload_result;

static cc_status offload_fn(void *ud)
{
    offload_result *r = ud;
    return r->fn(r->ud);
}

static void offload_done(cc_status s, void *ud)
{
    offload_result *r = ud;
    r->s = s;
    r->done = true;
}

cc_status cct_offload_wait(cc_bus *b, uv_loop_t *loop, cc_status (*fn)(void *), void *ud,
                           int timeout_ms)
{
    offload_result r = {.fn = fn, .ud = ud};
    assert_int_equal(cc_bus_offload(b, offload_fn, offload_done, &r), CC_OK);
    assert_true(cct_run_until(loop, &r.done, timeout_ms));
    return r.s;
}

void cct_rpc_done(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    cct_rpc_result *r = ud;
    r->s = s;
    if (errmsg)
        snprintf(r->err, sizeof r->err, "%s", errmsg);
    if (resp) {
        /* resp lives only during the callback: keep a copy. */
        size_t n = protobuf_c_message_get_packed_size(resp);
        uint8_t *buf = malloc(n + 1);
        protobuf_c_message_pack(resp, buf);
        r->resp = protobuf_c_message_unpack(resp->descriptor, NULL, n, buf);
        free(buf);
    }
    r->done = true;
}
