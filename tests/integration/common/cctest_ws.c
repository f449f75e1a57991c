/* See cctest_ws.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cctest_ws.h"

static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

int cct_ws_connect(uint16_t port, const char *target, const char *headers, char *head, size_t cap)
{
    char rq[16384];
    int n = snprintf(rq, sizeof rq,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " CCT_WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     target, port, headers ? headers : "");
    if (n < 0 || (size_t)n >= sizeof rq || cap == 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || write(fd, rq, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    /* Byte by byte up to the blank line, so no frame byte is swallowed. */
    size_t got = 0;
    head[0] = '\0';
    while (got < cap - 1) {
        if (read(fd, head + got, 1) != 1) {
            close(fd);
            return -1;
        }
        got++;
        head[got] = '\0';
        if (got >= 4 && memcmp(head + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    return fd;
}

int cct_ws_live(uint16_t port, const char *token)
{
    char target[4500], head[1024];
    int n = snprintf(target, sizeof target, "/v1/live?access_token=%s", token);
    assert_true(n > 0 && (size_t)n < sizeof target);
    int fd = cct_ws_connect(port, target, NULL, head, sizeof head);
    assert_true(fd >= 0);
    assert_non_null(strstr(head, " 101 "));
    assert_non_null(strstr(head, CCT_WS_ACCEPT));
    return fd;
}

char *cct_ws_read(int fd, int ms, int *opcode)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return NULL;
    unsigned char h[2];
    if (!read_full(fd, h, 2))
        return NULL;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        unsigned char e[2];
        if (!read_full(fd, e, 2))
            return NULL;
        len = (uint64_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        unsigned char e[8];
        if (!read_full(fd, e, 8))
            return NULL;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | e[i];
    }
    if (len > (1u << 24))
        return NULL;
    char *buf = malloc((size_t)len + 1);
    if (!buf || !read_full(fd, buf, (size_t)len)) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (opcode)
        *opcode = h[0] & 0x0f;
    return buf;
}

bool cct_ws_send_head(int fd, int opcode, bool fin, uint64_t len)
{
    unsigned char h[14];
    size_t n = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        h[1] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)(len >> (8 * i));
    }
    memset(h + n, 0, 4); /* the masking key */
    n += 4;
    return write(fd, h, n) == (ssize_t)n;
}

bool cct_ws_send(int fd, int opcode, bool fin, const void *payload, size_t n)
{
    if (!cct_ws_send_head(fd, opcode, fin, n))
        return false;
    return n == 0 || write(fd, payload, n) == (ssize_t)n;
}
