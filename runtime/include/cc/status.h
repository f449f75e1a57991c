/* One status type for all of CodeCourt. The numbers cross processes inside
 * RPC replies (the Cc-Status header), so an entry keeps its number forever:
 * add new ones at the end. */
#ifndef CC_STATUS_H
#define CC_STATUS_H

#include <stddef.h>

/* X(NAME, number, message) */
#define CC_STATUS_MAP(X)                                                                           \
    X(OK, 0, "ok")                                                                                 \
    X(ERR, 1, "error")                                                                             \
    X(NOMEM, 2, "out of memory")                                                                   \
    X(INVALID, 3, "invalid argument")                                                              \
    X(NOT_FOUND, 4, "not found")                                                                   \
    X(EXISTS, 5, "already exists")                                                                 \
    X(DENIED, 6, "permission denied")                                                              \
    X(UNAUTHENTICATED, 7, "not authenticated")                                                     \
    X(TIMEOUT, 8, "timed out")                                                                     \
    X(UNAVAILABLE, 9, "service unavailable")                                                       \
    X(IO, 10, "input/output error")                                                                \
    X(SYS, 11, "system call failed")                                                               \
    X(PROTO, 12, "malformed message")                                                              \
    X(UNKNOWN_METHOD, 13, "unknown method")                                                        \
    X(CONFLICT, 14, "conflict")                                                                    \
    X(LIMIT, 15, "limit exceeded")                                                                 \
    X(DB, 16, "database error")                                                                    \
    X(NATS, 17, "messaging error")                                                                 \
    X(CLOSED, 18, "closed")                                                                        \
    X(DRAINING, 19, "shutting down")                                                               \
    X(INTERNAL, 20, "internal error")                                                              \
    X(RATE_LIMITED, 21, "rate limited")                                                            \
    X(UNPROCESSABLE, 22, "unprocessable")

typedef enum {
#define CC__STATUS_ENUM(name, num, msg) CC_##name = num,
    CC_STATUS_MAP(CC__STATUS_ENUM)
#undef CC__STATUS_ENUM
} cc_status;

/* Returns the static, human-readable message of s ("ok", "timed out"...),
 * or "unknown status" for a number not in the map. Never NULL. */
const char *cc_status_str(cc_status s);

/* Returns the stable name of s ("OK", "TIMEOUT"...), or "UNKNOWN". */
const char *cc_status_name(cc_status s);

/* Maps a number received from another process to a status; numbers not in
 * the map become CC_ERR. */
cc_status cc_status_from_int(long n);

/* The last error set on this thread, with its place, like nats.c's
 * nats_setError: cc_err_set() records status, file, function, line and a
 * formatted message and returns the status so it can be returned at once.
 * System-call failures keep their errno in the message (cc_err_sys). */
#define cc_err_set(s, ...) cc__err_set((s), __FILE__, __func__, __LINE__, __VA_ARGS__)
#define cc_err_sys(what) cc__err_sys(__FILE__, __func__, __LINE__, (what))

cc_status cc__err_set(cc_status s, const char *file, const char *func, int line, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
cc_status cc__err_sys(const char *file, const char *func, int line, const char *what);

/* The message of the last error on this thread ("" if none); the returned
 * string is owned by the thread and valid until the next cc_err_set. */
const char *cc_err_msg(void);
/* "file:line func" of the last error on this thread. */
const char *cc_err_where(void);
cc_status cc_err_last(void);
void cc_err_clear(void);

/* Chains calls: IFOK(s, call) runs call only while s is CC_OK. */
#define IFOK(s, call) ((s) == CC_OK ? ((s) = (call)) : (s))

#endif
