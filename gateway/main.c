/* cc-gateway: the only front door. An actor like the others (settings,
 * loop, NATS, ops endpoint, SIGTERM drain) whose start hook opens the
 * HTTP listeners; it serves no RPCs of its own beyond the built-in Ping. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "gw.h"

static gw_settings cfg;
static gw_state state;

static const char *const fail_modes[] = {"open", "closed", NULL};
/* In GW_PROXY_XFF, GW_PROXY_FORWARDED order. */
static const char *const proxy_headers[] = {"x-forwarded-for", "forwarded", NULL};

#define S(field) offsetof(gw_settings, field)
static const cc_config_row rows[] = {
    {"http-host", CC_CFG_STRING, S(http_host), "127.0.0.1", 0, 0, NULL,
     "address the HTTP ports listen on"},
    {"http-port", CC_CFG_INT, S(http_port), "8080", 0, 65535, NULL,
     "cleartext HTTP/1.1 and HTTP/2 prior knowledge (0: any free port)"},
    {"https-port", CC_CFG_INT, S(https_port), "8443", -1, 65535, NULL,
     "TLS with ALPN h2 and http/1.1 (0: any free port, -1: none)"},
    {"reuse-port", CC_CFG_BOOL, S(reuse_port), "false", 0, 0, NULL,
     "share http-port and https-port with other cc-gateway processes on this host "
     "(SO_REUSEPORT; the kernel spreads new connections): run one per core"},
    {"tls-cert", CC_CFG_STRING, S(tls_cert), "", 0, 0, NULL,
     "PEM certificate chain (empty: a self-signed one for localhost)"},
    {"tls-key", CC_CFG_STRING, S(tls_key), "", 0, 0, NULL, "PEM private key of tls-cert"},
    {"jwt-key", CC_CFG_STRING, S(jwt_key), "jwt-key.pem", 0, 0, NULL,
     "PEM key that verifies access tokens: an EC P-256 key accepts ES256 only, an RSA key "
     "RS256 only (the public key; the private one is accepted locally)"},
    {"jwt-issuer", CC_CFG_STRING, S(jwt_issuer), "codecourt", 0, 0, NULL,
     "required iss of access tokens"},
    {"jwt-audience", CC_CFG_STRING, S(jwt_audience), "codecourt-api", 0, 0, NULL,
     "required aud of access tokens"},
    {"jwt-leeway", CC_CFG_DURATION, S(jwt_leeway_ms), "0", 0, 300000, NULL,
     "clock skew allowed on exp and nbf"},
    {"redis-url", CC_CFG_STRING, S(redis_url), "redis://127.0.0.1:6379", 0, 0, NULL,
     "Redis for rate limits and revoked tokens (redis://[[user]:password@]host[:port][/db])"},
    {"rate-period", CC_CFG_DURATION, S(rate_period_ms), "1m", 1000, 86400000, NULL,
     "the period the rate-* settings count in"},
    {"rate-anon", CC_CFG_INT, S(rate_anon), "120", 1, 1000000, NULL,
     "anonymous requests per period per IP"},
    {"rate-user", CC_CFG_INT, S(rate_user), "600", 1, 1000000, NULL,
     "authenticated requests per period per user"},
    {"rate-auth", CC_CFG_INT, S(rate_auth), "20", 1, 1000000, NULL,
     "login, register and refresh per period per IP"},
    {"rate-login", CC_CFG_INT, S(rate_login), "5", 1, 1000000, NULL,
     "login attempts per period per account from one IP (checked before rate-auth, which "
     "they then count against too)"},
    {"burst-anon", CC_CFG_INT, S(burst_anon), "30", 1, 1000000, NULL,
     "anonymous requests allowed at once"},
    {"burst-user", CC_CFG_INT, S(burst_user), "100", 1, 1000000, NULL,
     "authenticated requests allowed at once"},
    {"burst-auth", CC_CFG_INT, S(burst_auth), "10", 1, 1000000, NULL,
     "login, register and refresh allowed at once"},
    {"burst-login", CC_CFG_INT, S(burst_login), "5", 1, 1000000, NULL,
     "login attempts per account from one IP allowed at once"},
    {"trusted-proxies", CC_CFG_STRING, S(trusted_proxies), "", 0, 0, NULL,
     "networks of the proxies in front of the gateway (comma-separated CIDRs, IPv4 or IPv6, "
     "e.g. the Ingress controller's pod network); a request from one of them is limited by "
     "the client address it forwards in proxy-header, the right-most not in these networks. "
     "Empty: trust no one, every limit keys on the socket's peer"},
    {"proxy-header", CC_CFG_ENUM, S(proxy_header), "x-forwarded-for", 0, 0, proxy_headers,
     "the header the trusted proxies write the client address into: x-forwarded-for or "
     "forwarded (RFC 7239); the other is ignored, since a proxy passes on what the client "
     "wrote there"},
    {"rate-limit-fail", CC_CFG_ENUM, S(rate_fail), "open", 0, 0, fail_modes,
     "anonymous calls while Redis is down: open (serve) or closed (503); authenticated calls "
     "always get 503 since revocation cannot be checked"},
    {"max-body", CC_CFG_SIZE, S(max_body), "1M", 1, 1073741824, NULL, "largest request body"},
    {"max-header", CC_CFG_SIZE, S(max_header), "16k", 1024, 1048576, NULL,
     "largest request line plus headers"},
    {"req-timeout", CC_CFG_DURATION, S(req_timeout_ms), "10s", 100, 3600000, NULL,
     "time to receive a whole HTTP/1 request (slow-request cut)"},
    {"idle-timeout", CC_CFG_DURATION, S(idle_timeout_ms), "60s", 100, 3600000, NULL,
     "idle HTTP/2 connections are closed after this"},
    {"max-streams", CC_CFG_INT, S(max_streams), "100", 1, 10000, NULL,
     "concurrent HTTP/2 streams per connection"},
    {"max-live-per-user", CC_CFG_INT, S(max_live_per_user), "8", 1, 1000, NULL,
     "open /v1/live sockets per user"},
    {"live-check", CC_CFG_DURATION, S(live_check_ms), "15s", 100, 3600000, NULL,
     "how often open /v1/live sockets are closed when their token expired or was revoked"},
    {"live-max-message", CC_CFG_SIZE, S(live_max_message), "4k", 125, 16777216, NULL,
     "largest message a client may send on /v1/live (fragments counted together); a longer "
     "one closes the socket with 1009"},
    {"live-frame-rate", CC_CFG_INT, S(live_frame_rate), "10", 1, 100000, NULL,
     "frames a client may send on one /v1/live socket per second, and at once; more close "
     "it with 1008"},
    {"web-root", CC_CFG_STRING, S(web_root), "", 0, 0, NULL,
     "folder of the built browser app (index.html, assets/); \"\" = serve the API only"},
    {"session-ttl", CC_CFG_DURATION, S(session_ttl_ms), "720h", 60000, 31622400000, NULL,
     "Max-Age of the browser session's refresh cookie (cc-user's refresh-ttl)"},
    {"live-max-queued", CC_CFG_SIZE, S(live_max_queued), "1M", 4096, 1073741824, NULL,
     "bytes of events waiting for one /v1/live socket whose client does not read them; more "
     "close it (the events stay in the database: a client reads them again)"},
    {"max-conns", CC_CFG_INT, S(max_conns), "10000", 16, 1000000, NULL,
     "open client connections; a new one beyond this is closed at once"},
    {"max-resets", CC_CFG_INT, S(max_resets), "200", 1, 1000000, NULL,
     "requests one connection may abandon (HTTP/2 RST_STREAM before the answer) per second; "
     "more close the connection (rapid reset)"},
    {"max-unsent", CC_CFG_SIZE, S(max_unsent), "4M", 65536, 1073741824, NULL,
     "bytes of answers one connection may leave unread (HTTP/2 streams with a window of 0, a "
     "client that never reads); more close it"},
    {"write-stall", CC_CFG_DURATION, S(write_stall_ms), "30s", 1000, 3600000, NULL,
     "a connection whose answers wait unread this long is closed (a client that never reads, "
     "SETTINGS and PING floods)"},
};
#undef S

static cc_status start(cc_actor *a)
{
    state.actor = a;
    state.cfg = &cfg;
    state.loop = cc_actor_loop(a);
    cc_status s = gw_proxies_parse(cfg.trusted_proxies, cfg.proxy_header, &state.proxies);
    if (s != CC_OK)
        return s;
    /* On a first local run cc-user creates the key a moment after we
     * start: wait for it briefly rather than fail. */
    s = gw_auth_init(&cfg, 15000);
    cc_redis_url ru;
    IFOK(s, cc_redis_parse_url(cfg.redis_url, &ru));
    cc_redis_options ro = cc_redis_url_options(&ru);
    ro.command_timeout_ms = 1000;
    IFOK(s, cc_redis_open(state.loop, &ro, &state.redis));
    IFOK(s, gw_limit_init(state.loop, state.redis, &cfg));
    IFOK(s, gw_server_start(&state));
    if (s != CC_OK)
        return s;
    cc_actor_set_state(a, &state);
    cc_log(CC_LOG_INFO, NULL, "gateway listening", "{s:s, s:i, s:i, s:s, s:s}", "host",
           cfg.http_host, "http_port", state.http_port, "https_port",
           state.has_tls ? state.https_port : -1, "trusted_proxies", cfg.trusted_proxies,
           "proxy_header", proxy_headers[cfg.proxy_header]);
    /* Tests and scripts read the chosen ports from this line. */
    printf("cc-gateway http://%s:%d/ https://%s:%d/\n", cfg.http_host, state.http_port,
           cfg.http_host, state.has_tls ? state.https_port : -1);
    fflush(stdout);
    return CC_OK;
}

static void drain(cc_actor *a)
{
    gw_server_stop(&state);
}

static void stop(cc_actor *a)
{
    gw_server_stop(&state);
    state.closed = true;
    gw_limit_stop();
    if (state.redis)
        cc_redis_close(state.redis, NULL, NULL);
    state.redis = NULL;
    gw_auth_free();
    gw_proxies_free(&state.proxies);
}

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "gateway",
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
