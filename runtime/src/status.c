#include "cc/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cc_status_str(cc_status s)
{
    switch (s) {
#define CASE(name, num, msg)                                                                       \
    case CC_##name:                                                                                \
        return msg;
        CC_STATUS_MAP(CASE)
#undef CASE
    }
    return "unknown status";
}

const char *cc_status_name(cc_status s)
{
    switch (s) {
#define CASE(name, num, msg)                                                                       \
    case CC_##name:                                                                                \
        return #name;
        CC_STATUS_MAP(CASE)
#undef CASE
    }
    return "UNKNOWN";
}

cc_status cc_status_from_int(long n)
{
    switch (n) {
#define CASE(name, num, msg)                                                                       \
    case num:                                                                                      \
        return CC_##name;
        CC_STATUS_MAP(CASE)
#undef CASE
    }
    return CC_ERR;
}

static _Thread_local struct {
    cc_status status;
    char msg[512];
    char where[256];
} last_err;

cc_status cc__err_set(cc_status s, const char *file, const char *func, int line, const char *fmt,
                      ...)
{
    /* Formatted aside first: a caller may wrap the last message in a new
     * one, cc_err_set(s, "seed: %s", cc_err_msg()), and vsnprintf must not
     * write over what it is reading. */
    char msg[sizeof last_err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_err.msg, msg, sizeof msg);
    const char *base = strrchr(file, '/');
    snprintf(last_err.where, sizeof last_err.where, "%s:%d %s", base ? base + 1 : file, line,
             func);
    last_err.status = s;
    return s;
}

cc_status cc__err_sys(const char *file, const char *func, int line, const char *what)
{
    int e = errno;
    cc_status s = e == ENOMEM ? CC_NOMEM : CC_SYS;
    return cc__err_set(s, file, func, line, "%s: %s (errno %d)", what, strerror(e), e);
}

const char *cc_err_msg(void)
{
    return last_err.msg;
}

const char *cc_err_where(void)
{
    return last_err.where;
}

cc_status cc_err_last(void)
{
    return last_err.status;
}

void cc_err_clear(void)
{
    last_err.status = CC_OK;
    last_err.msg[0] = '\0';
    last_err.where[0] = '\0';
}
