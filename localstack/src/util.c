/* Pure helpers: ports, names, conninfo strings, random secrets. */
#include "cc/local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Is 127.0.0.1:port free to listen on now? */
static bool port_bindable(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The first port of the kernel's ephemeral range (32768 by default). */
static unsigned ephemeral_low(void)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

cc_status cc_local_free_port(uint16_t *port)
{
    /* Ports come from below the ephemeral range: a port the kernel hands
     * out for bind(0) is also where every outgoing connection of this
     * machine takes its source port, so between this call and the server's
     * bind a test's own clients could take it. Below the range only
     * another starter can, and picking at random (and never the same port
     * twice in one process) makes that unlikely; starters retry anyway. */
    static uint16_t given[256];
    static unsigned ngiven;
    unsigned lo = ephemeral_low();
    unsigned base = lo > 20000 ? lo - 12000 : 0;
    for (int tries = 0; base && tries < 200; tries++) {
        uint32_t r;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            break;
        uint16_t cand = (uint16_t)(base + r % (lo - base));
        bool seen = false;
        for (unsigned i = 0; i < ngiven && i < 256; i++)
            seen = seen || given[i] == cand;
        if (seen || !port_bindable(cand))
            continue;
        given[ngiven++ % 256] = cand;
        *port = cand;
        return CC_OK;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cc_err_sys("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        cc_status s = cc_err_sys("bind 127.0.0.1:0");
        close(fd);
        return s;
    }
    close(fd);
    *port = ntohs(a.sin_port);
    return CC_OK;
}

bool cc_local_service_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) >= CC_LOCAL_NAME_MAX)
        return false;
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

/* Appends " key=value" to buf at *off, quoting value as libpq expects:
 * single quotes around it, backslash before ' and \ inside. */
static bool put_kv(char *buf, size_t n, size_t *off, const char *key, const char *value)
{
    bool quote = value[0] == '\0' || strpbrk(value, " \t\n\r\f\v'\\") != NULL;
    int w = snprintf(buf + *off, n - *off, "%s%s=%s", *off ? " " : "", key, quote ? "'" : "");
    if (w < 0 || (size_t)w >= n - *off)
        return false;
    *off += (size_t)w;
    for (const char *c = value; *c; c++) {
        if (quote && (*c == '\'' || *c == '\\')) {
            if (*off + 1 >= n)
                return false;
            buf[(*off)++] = '\\';
        }
        if (*off + 1 >= n)
            return false;
        buf[(*off)++] = *c;
    }
    if (quote) {
        if (*off + 1 >= n)
            return false;
        buf[(*off)++] = '\'';
    }
    buf[*off] = '\0';
    return true;
}

cc_status cc_local_conninfo(char *buf, size_t n, const char *host, uint16_t port,
                            const char *dbname, const char *user, const char *password)
{
    if (!buf || n == 0 || !host || !dbname || !user)
        return cc_err_set(CC_INVALID, "conninfo needs host, dbname and user");
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    size_t off = 0;
    buf[0] = '\0';
    bool ok = put_kv(buf, n, &off, "host", host) && put_kv(buf, n, &off, "port", portstr) &&
              put_kv(buf, n, &off, "dbname", dbname) && put_kv(buf, n, &off, "user", user) &&
              (!password || put_kv(buf, n, &off, "password", password));
    if (!ok) {
        buf[0] = '\0';
        return cc_err_set(CC_LIMIT, "conninfo for %s@%s does not fit in %zu bytes", user, dbname,
                          n);
    }
    return CC_OK;
}

cc_status cc_local_conninfo_add(char *buf, size_t n, const char *key, const char *value)
{
    if (!buf || n == 0 || !key || !value)
        return cc_err_set(CC_INVALID, "conninfo_add needs a buffer, a key and a value");
    size_t was = strlen(buf), off = was;
    if (!put_kv(buf, n, &off, key, value)) {
        buf[was] = '\0';
        return cc_err_set(CC_LIMIT, "conninfo: %s does not fit in %zu bytes", key, n);
    }
    return CC_OK;
}

cc_status cc_local_random_hex(char *buf, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    if (nbytes > sizeof raw)
        return cc_err_set(CC_INVALID, "random_hex: at most %zu bytes", sizeof raw);
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return cc_err_sys("getrandom");
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[2 * nbytes] = '\0';
    return CC_OK;
}
