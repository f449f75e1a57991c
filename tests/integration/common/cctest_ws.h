/* A WebSocket client for the end-to-end tests and benchmarks that watch
 * cc-gateway's /v1/live. Debian's libcurl 7.88 has no WebSocket API, so
 * the handshake and the frames go over a plain TCP socket to the
 * gateway's HTTP/1.1 port. It takes the server's frames as RFC 6455 says
 * they come, unmasked, and sends its own masked, with a key of zero (the
 * payload goes as is; servers do not check the key), so a test can write a
 * frame's header and then as much or as little of its payload as it likes. */
#ifndef CCTEST_WS_H
#define CCTEST_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The key every handshake sends (RFC 6455's sample) and the
 * Sec-WebSocket-Accept a correct server answers it with. */
#define CCT_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define CCT_WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Connects to 127.0.0.1:port and asks to upgrade target (the path and
 * query), adding headers (whole header lines, each ending in "\r\n", or
 * NULL). The answer's status line and headers, up to the blank line, are
 * copied to head (cap bytes, NUL-terminated). Returns the socket, which the
 * caller closes, whatever the status; -1 when the connection, the request
 * or the answer fails. Does not assert, so a benchmark can use it too. */
int cct_ws_connect(uint16_t port, const char *target, const char *headers, char *head, size_t cap);

/* Opens /v1/live?access_token=token (token is borrowed) and asserts
 * (cmocka) a 101 answer carrying CCT_WS_ACCEPT. Returns the socket. */
int cct_ws_live(uint16_t port, const char *token);

/* Reads one frame, waiting at most ms for it to start (-1: no limit).
 * Returns its payload (malloc'd and NUL-terminated: the caller frees it)
 * and stores its opcode in *opcode when opcode is not NULL; NULL when
 * nothing came in time, the socket closed, or the frame is over 16 MiB. */
char *cct_ws_read(int fd, int ms, int *opcode);

/* Writes the header of a client frame: FIN when fin, opcode (1 text, 2
 * binary, 0 continuation, 8 close, 9 ping), the mask bit with a zero key,
 * and the payload length len, which the caller then writes (or not).
 * False when the write fails. */
bool cct_ws_send_head(int fd, int opcode, bool fin, uint64_t len);

/* A whole client frame: its header and the n bytes of payload. */
bool cct_ws_send(int fd, int opcode, bool fin, const void *payload, size_t n);

#endif
