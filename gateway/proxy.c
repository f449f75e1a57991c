/* The client's address behind proxies: the peer of the socket, unless that
 * peer is one of the trusted proxy networks (trusted-proxies), in which
 * case the address it forwards in X-Forwarded-For or Forwarded (RFC 7239),
 * whichever proxy-header names, walked from the right: the right-most
 * address that is not itself a trusted proxy. Everything left of it was
 * written by the client and is never believed. Rate limits key on what
 * this returns; an IPv6 client counts by its /64, since one host commonly
 * holds a whole /64 and could otherwise take a fresh key per request. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw.h"

/* Addresses are kept as 16 bytes, an IPv4 address as its IPv4-mapped IPv6
 * form (::ffff:a.b.c.d), so one comparison serves both families. */
static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4(const uint8_t a[16])
{
    return memcmp(a, v4_prefix, 12) == 0;
}

/* Parses an IPv4 or IPv6 address of n bytes (no brackets, no port). */
static bool parse_ip(const char *s, size_t n, uint8_t out[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out + 12) == 1) {
        memcpy(out, v4_prefix, 12);
        return true;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* One CIDR ("10.0.0.0/8", "fd00::/8") or bare address of n bytes. */
static bool parse_net(const char *s, size_t n, gw_net *net)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (!parse_ip(s, alen, net->addr))
        return false;
    int max = is_v4(net->addr) ? 32 : 128, bits = max;
    if (slash) {
        const char *d = slash + 1, *end = s + n;
        if (d == end || end - d > 3)
            return false;
        bits = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return false;
            bits = bits * 10 + (*d - '0');
        }
        if (bits > max)
            return false;
    }
    net->bits = (uint8_t)(bits + 128 - max);
    /* The host part is cleared, so "10.1.2.3/8" means 10.0.0.0/8. */
    for (int i = net->bits; i < 128; i++)
        net->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    return true;
}

cc_status gw_proxies_parse(const char *list, int header, gw_proxies *out)
{
    memset(out, 0, sizeof *out);
    out->header = header;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    out->nets = calloc(cap, sizeof *out->nets);
    if (!out->nets)
        return cc_err_set(CC_NOMEM, "trusted-proxies: out of memory");
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (!parse_net(p, n, &out->nets[out->n])) {
            gw_proxies_free(out);
            return cc_err_set(CC_INVALID,
                              "trusted-proxies: '%.*s' is not an IPv4 or IPv6 address or CIDR",
                              (int)(n > 64 ? 64 : n), p);
        }
        out->n++;
        p += n;
    }
    return CC_OK;
}

void gw_proxies_free(gw_proxies *p)
{
    free(p->nets);
    p->nets = NULL;
    p->n = 0;
}

static bool trusted(const gw_proxies *p, const uint8_t a[16])
{
    for (size_t i = 0; i < p->n; i++) {
        const gw_net *net = &p->nets[i];
        size_t whole = net->bits / 8;
        unsigned rest = net->bits % 8;
        if (memcmp(a, net->addr, whole) != 0)
            continue;
        if (rest == 0 || ((a[whole] ^ net->addr[whole]) & (uint8_t)(0xff00u >> rest)) == 0)
            return true;
    }
    return false;
}

/* A forwarded node of n bytes ("192.0.2.1", "192.0.2.1:80",
 * "[2001:db8::1]:443", "2001:db8::1", quotes already gone); false for
 * anything else ("unknown", an obfuscated "_name", garbage). */
static bool parse_node(const char *s, size_t n, uint8_t out[16])
{
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        return close && parse_ip(s + 1, (size_t)(close - s - 1), out);
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
        n = (size_t)(colon - s); /* IPv4 with a port: one colon */
    return parse_ip(s, n, out);
}

/* The nodes a header names, left to right, of which the last GW_MAX_HOPS
 * are kept (the walk from the right never needs more). A node that does
 * not parse is kept as unknown: the walk stops there. */
typedef struct hops {
    uint8_t addr[GW_MAX_HOPS][16];
    bool known[GW_MAX_HOPS];
    size_t n; /* nodes seen; the last min(n, GW_MAX_HOPS) are stored */
} hops;

static void add_hop(hops *h, const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        s++, n -= 2;
    size_t i = h->n++ % GW_MAX_HOPS;
    h->known[i] = parse_node(s, n, h->addr[i]);
}

/* X-Forwarded-For: a comma-separated list of nodes. */
static void read_xff(hops *h, const char *v, size_t len)
{
    const char *end = v + len;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        if (e > v)
            add_hop(h, v, (size_t)(e - v));
        v = e + 1;
    }
}

/* Forwarded: elements separated by commas, each pairs name=value separated
 * by semicolons, values tokens or quoted strings (which may hold either
 * separator). The for= of each element is its node; an element without
 * one is an unknown node. */
static void read_forwarded(hops *h, const char *v, size_t len)
{
    const char *end = v + len, *p = v;
    while (p < end) {
        const char *node = NULL;
        size_t nlen = 0;
        bool any = false;
        for (;;) { /* one pair */
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *name = p;
            while (p < end && *p != '=' && *p != ';' && *p != ',')
                p++;
            size_t name_len = (size_t)(p - name);
            while (name_len > 0 && (name[name_len - 1] == ' ' || name[name_len - 1] == '\t'))
                name_len--;
            const char *val = p, *val_end = p;
            if (p < end && *p == '=') {
                val = ++p;
                if (p < end && *p == '"') {
                    p++;
                    while (p < end && *p != '"')
                        p += *p == '\\' && p + 1 < end ? 2 : 1;
                    if (p < end)
                        p++;
                } else {
                    while (p < end && *p != ';' && *p != ',')
                        p++;
                }
                val_end = p;
                while (p < end && *p != ';' && *p != ',')
                    p++; /* stray text after a quoted value */
            }
            any = any || name_len > 0;
            if (name_len == 3 && strncasecmp(name, "for", 3) == 0) {
                node = val;
                nlen = (size_t)(val_end - val);
            }
            if (p >= end || *p == ',')
                break;
            p++; /* ';' */
        }
        if (any)
            add_hop(h, node ? node : "", node ? nlen : 0);
        p++; /* ',' */
    }
}

/* The rate-limit text of a: dotted IPv4, or the /64 of an IPv6 address. */
static void addr_text(const uint8_t a[16], char *out, size_t cap)
{
    if (is_v4(a)) {
        inet_ntop(AF_INET, a + 12, out, (socklen_t)cap);
        return;
    }
    uint8_t net[16] = {0};
    memcpy(net, a, 8);
    inet_ntop(AF_INET6, net, out, (socklen_t)cap);
    size_t n = strlen(out);
    if (n + 4 <= cap)
        memcpy(out + n, "/64", 4);
}

void gw_client_addr(const gw_proxies *p, const struct sockaddr *peer, const h2o_iovec_t *values,
                    size_t nvalues, char *out, size_t cap)
{
    uint8_t cur[16];
    out[0] = '\0';
    if (peer->sa_family == AF_INET) {
        memcpy(cur, v4_prefix, 12);
        memcpy(cur + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        memcpy(cur, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    } else {
        return;
    }
    if (p->n > 0 && nvalues > 0 && trusted(p, cur)) {
        hops h;
        h.n = 0;
        for (size_t i = 0; i < nvalues; i++) {
            if (p->header == GW_PROXY_FORWARDED)
                read_forwarded(&h, values[i].base, values[i].len);
            else
                read_xff(&h, values[i].base, values[i].len);
        }
        /* From the right: each node was written by the trusted hop to its
         * right; the first one that is not a trusted proxy is the client.
         * An unknown node stops the walk at the last trusted hop: whoever
         * is behind it cannot be told apart. */
        size_t kept = h.n < GW_MAX_HOPS ? h.n : GW_MAX_HOPS;
        for (size_t k = 0; k < kept; k++) {
            size_t i = (h.n - 1 - k) % GW_MAX_HOPS;
            if (!h.known[i])
                break;
            memcpy(cur, h.addr[i], 16);
            if (!trusted(p, cur))
                break;
        }
    }
    addr_text(cur, out, cap);
}

/* The client's address of a request: the peer's, or what a trusted proxy
 * forwards. The lines of the configured header are read in order; only
 * the last GW_MAX_HOPS count (proxies write on the right, clients on the
 * left). */
void gw_request_ip(gw_state *g, h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return;
    h2o_iovec_t ring[GW_MAX_HOPS], values[GW_MAX_HOPS];
    size_t seen = 0;
    if (g->proxies.n > 0) {
        bool fwd = g->proxies.header == GW_PROXY_FORWARDED;
        for (ssize_t i = -1;;) {
            i = fwd ? h2o_find_header_by_str(&req->headers, H2O_STRLIT("forwarded"), i)
                    : h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i);
            if (i < 0)
                break;
            ring[seen++ % GW_MAX_HOPS] = req->headers.entries[i].value;
        }
    }
    size_t n = seen < GW_MAX_HOPS ? seen : GW_MAX_HOPS;
    for (size_t k = 0; k < n; k++)
        values[k] = ring[(seen - n + k) % GW_MAX_HOPS];
    gw_client_addr(&g->proxies, (struct sockaddr *)&ss, values, n, out, cap);
}
