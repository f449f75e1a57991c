/* The browser app's side of the gateway: its files (h2o's file handler,
 * precompressed siblings, immutable caching of hashed names, index.html
 * for the app's own routes), the security headers every answer carries,
 * and the browser session's refresh cookie (HttpOnly, Secure,
 * SameSite=Strict, scoped to the session path) with its same-origin
 * check. The app itself speaks only the public /v1 API and /v1/live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc/log.h"
#include "gw.h"

/* Scripts, styles, fonts and images only from our own origin; no inline
 * script, no eval, no plugin, no <base>, and no framing (clickjacking).
 * connect-src 'self' covers fetch and the same-origin WebSocket. Style
 * attributes (not <style> elements) are allowed: CodeMirror and KaTeX set
 * a few (tab-size, a rule's border) with setAttribute, and a style
 * attribute cannot run script. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; "                                  \
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "                    \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "               \
    "frame-ancestors 'none'"

static const struct {
    const char *name, *value;
} security[] = {
    {"content-security-policy", CSP},
    {"x-content-type-options", "nosniff"},
    {"referrer-policy", "no-referrer"},
    {"x-frame-options", "DENY"},
    {"cross-origin-opener-policy", "same-origin"},
};

void gw_security_headers(h2o_req_t *req)
{
    for (size_t i = 0; i < sizeof security / sizeof security[0]; i++)
        h2o_set_header_by_str(&req->pool, &req->res.headers, security[i].name,
                              strlen(security[i].name), 0, security[i].value,
                              strlen(security[i].value), 1);
}

/* ---- the app's files -------------------------------------------------------- */

static h2o_headers_command_t *asset_headers(void)
{
    /* Built once; h2o keeps the pointer for the life of the process. */
    static h2o_iovec_t names[sizeof security / sizeof security[0] + 1];
    static h2o_headers_command_t cmds[sizeof security / sizeof security[0] + 2];
    size_t n = 0;
    for (size_t i = 0; i < sizeof security / sizeof security[0]; i++, n++) {
        names[n] = h2o_iovec_init(security[i].name, strlen(security[i].name));
        cmds[n] = (h2o_headers_command_t){H2O_HEADERS_CMD_SET, &names[n],
                                          h2o_iovec_init(security[i].value,
                                                         strlen(security[i].value))};
    }
    /* Every name under /assets/ carries a hash of its content (the build
     * writes them so), so a browser may keep each for a year unasked. */
    names[n] = h2o_iovec_init(H2O_STRLIT("cache-control"));
    cmds[n] = (h2o_headers_command_t){H2O_HEADERS_CMD_SET, &names[n],
                                      h2o_iovec_init(H2O_STRLIT("public, max-age=31536000, "
                                                                "immutable"))};
    cmds[n + 1] = (h2o_headers_command_t){H2O_HEADERS_CMD_NULL, NULL, {NULL, 0}};
    return cmds;
}

cc_status gw_web_register(gw_state *g, h2o_hostconf_t *host)
{
    const char *root = g->cfg->web_root;
    if (!root || !root[0])
        return CC_OK;
    size_t n = strlen(root) + sizeof "/index.html";
    g->web_index = malloc(n);
    if (!g->web_index)
        return cc_err_set(CC_NOMEM, "out of memory");
    snprintf(g->web_index, n, "%s/index.html", root);
    struct stat st;
    if (stat(g->web_index, &st) != 0 || !S_ISREG(st.st_mode))
        return cc_err_set(CC_INVALID, "web-root: no index.html in '%s' (build the app: make)",
                          root);
    char assets[4096];
    snprintf(assets, sizeof assets, "%s/assets", root);
    h2o_mimemap_t *mm = h2o_mimemap_create();
    h2o_mimemap_define_mimetype(mm, "js", "text/javascript; charset=utf-8", NULL);
    h2o_mimemap_define_mimetype(mm, "css", "text/css; charset=utf-8", NULL);
    h2o_mimemap_define_mimetype(mm, "woff2", "font/woff2", NULL);
    h2o_mimemap_define_mimetype(mm, "woff", "font/woff", NULL);
    h2o_mimemap_define_mimetype(mm, "ttf", "font/ttf", NULL);
    h2o_mimemap_define_mimetype(mm, "svg", "image/svg+xml", NULL);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/assets", 0);
    /* No index file: /assets/ itself is no page. */
    static const char *no_index[] = {NULL};
    h2o_file_register(pc, assets, no_index, mm, H2O_FILE_FLAG_SEND_COMPRESSED);
    h2o_headers_register(pc, asset_headers());
    h2o_mem_release_shared(mm);
    g->has_web = true;
    return CC_OK;
}

/* A top-level file name of the app ("favicon.svg"): [A-Za-z0-9._-], no
 * leading dot, so nothing outside web_root and nothing hidden. */
static bool top_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 100 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void send_file(h2o_req_t *req, const char *path, const char *mime, const char *cache)
{
    gw_security_headers(req);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, cache, strlen(cache),
                   1);
    if (h2o_file_send(req, 200, "OK", path, h2o_iovec_init(mime, strlen(mime)),
                      H2O_FILE_FLAG_SEND_COMPRESSED) != 0)
        gw_problem(req, GW_P_NOT_FOUND, "no such file", NULL);
}

bool gw_web_handle(gw_state *g, h2o_req_t *req)
{
    if (!g->has_web)
        return false;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        gw_problem(req, GW_P_METHOD_NOT_ALLOWED, NULL, NULL);
        return true;
    }
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    /* A file of the top folder other than index.html (the favicon,
     * robots.txt) is itself; every other path is one of the app's routes,
     * which the app reads from location: index.html, never cached, so a
     * new build is picked up at the next load. */
    if (plen > 1 && top_name_ok(path + 1, plen - 1) &&
        !h2o_memis(path + 1, plen - 1, H2O_STRLIT("index.html"))) {
        char file[4200];
        snprintf(file, sizeof file, "%s/%.*s", g->cfg->web_root, (int)(plen - 1), path + 1);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            const char *dot = strrchr(file, '.');
            const char *mime = !dot                      ? "application/octet-stream"
                               : !strcmp(dot, ".svg")    ? "image/svg+xml"
                               : !strcmp(dot, ".txt")    ? "text/plain; charset=utf-8"
                               : !strcmp(dot, ".ico")    ? "image/x-icon"
                               : !strcmp(dot, ".png")    ? "image/png"
                               : !strcmp(dot, ".json")   ? "application/json"
                               : !strcmp(dot, ".webmanifest") ? "application/manifest+json"
                                                         : "application/octet-stream";
            send_file(req, file, mime, "public, max-age=3600");
            return true;
        }
    }
    send_file(req, g->web_index, "text/html; charset=utf-8", "no-cache");
    return true;
}

/* ---- the session cookie ----------------------------------------------------------- */

bool gw_session_cookie(h2o_req_t *req, h2o_iovec_t *token)
{
    static const char name[] = GW_SESSION_COOKIE_NAME "=";
    const size_t nl = sizeof name - 1;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
        h2o_iovec_t v = req->headers.entries[i].value;
        const char *p = v.base, *end = v.base + v.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *e = memchr(p, ';', (size_t)(end - p));
            if (!e)
                e = end;
            if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0) {
                *token = h2o_iovec_init(p + nl, (size_t)(e - p) - nl);
                return true;
            }
            p = e;
        }
    }
    return false;
}

bool gw_same_origin(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-fetch-site"), -1);
    if (i >= 0 && !h2o_memis(req->headers.entries[i].value.base,
                             req->headers.entries[i].value.len, H2O_STRLIT("same-origin")))
        return false;
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i < 0)
        return true; /* not a browser's cross-origin call: those always send Origin */
    h2o_iovec_t o = req->headers.entries[i].value;
    /* "scheme://host[:port]" against the request's own authority; the
     * scheme is not compared, as a TLS-terminating proxy may sit in front. */
    const char *sep = memmem(o.base, o.len, "://", 3);
    if (!sep)
        return false;
    const char *host = sep + 3;
    size_t hl = (size_t)(o.base + o.len - host);
    return hl == req->authority.len && hl > 0 &&
           h2o_lcstris(host, hl, req->authority.base, req->authority.len);
}

void gw_session_set_cookie(h2o_req_t *req, const gw_settings *cfg, const char *token, size_t len)
{
    char v[1024];
    int n;
    if (token)
        n = snprintf(v, sizeof v,
                     GW_SESSION_COOKIE_NAME "=%.*s; Path=" GW_SESSION_PATH
                     "; Max-Age=%lld; HttpOnly; Secure; SameSite=Strict",
                     (int)len, token, (long long)(cfg->session_ttl_ms / 1000));
    else
        n = snprintf(v, sizeof v,
                     GW_SESSION_COOKIE_NAME "=; Path=" GW_SESSION_PATH
                     "; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    if (n <= 0 || (size_t)n >= sizeof v)
        return;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                   h2o_strdup(&req->pool, v, (size_t)n).base, (size_t)n);
}
