#include "cc/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char service_name[64] = "codecourt";
static cc_log_level min_level = CC_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cc_log_init(const char *service, cc_log_level min)
{
    if (service) {
        size_t n = strlen(service);
        if (n >= sizeof service_name)
            n = sizeof service_name - 1;
        memcpy(service_name, service, n);
        service_name[n] = '\0';
    }
    min_level = min;
}

void cc_log_set_fd(int fd)
{
    log_fd = fd;
}

cc_status cc_log_level_parse(const char *s, cc_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (cc_log_level)i;
            return CC_OK;
        }
    }
    return cc_err_set(CC_INVALID, "log level '%s' is not one of debug, info, warn, error",
                      s ? s : "");
}

const char *cc_log_level_str(cc_log_level l)
{
    return (unsigned)l < 4 ? level_names[l] : "info";
}

bool cc_log_enabled(cc_log_level l)
{
    return l >= min_level;
}

static const char *const standard_keys[] = {"time",           "level",    "service", "msg",
                                            "correlation_id", "trace_id", NULL};

static char *vformat(cc_log_level l, const cc_envelope *env, const char *msg, const char *fields,
                     va_list ap)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[40];
    size_t n = strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tbuf + n, sizeof tbuf - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_object_set_new(o, "time", json_string(tbuf));
    json_object_set_new(o, "level", json_string(cc_log_level_str(l)));
    json_object_set_new(o, "service", json_string(service_name));
    /* A message or field with invalid UTF-8 is still logged: jansson's
     * *_nocheck would write it raw, so escape via json_stringn instead
     * and fall back to a marker. */
    json_t *m = json_string(msg ? msg : "");
    json_object_set_new(o, "msg", m ? m : json_string("<invalid utf-8>"));
    if (env) {
        if (env->correlation_id[0])
            json_object_set_new(o, "correlation_id", json_string(env->correlation_id));
        char tid[33];
        if (cc_envelope_trace_id(env, tid)[0])
            json_object_set_new(o, "trace_id", json_string(tid));
    }
    if (fields) {
        json_error_t err;
        json_t *f = json_vpack_ex(&err, 0, fields, ap);
        if (f && json_is_object(f)) {
            const char *k;
            json_t *v;
            json_object_foreach(f, k, v)
            {
                bool clash = false;
                for (const char *const *s = standard_keys; *s; s++)
                    clash |= strcmp(*s, k) == 0;
                if (clash) {
                    char alt[128];
                    snprintf(alt, sizeof alt, "field.%s", k);
                    json_object_set(o, alt, v);
                } else {
                    json_object_set(o, k, v);
                }
            }
        } else {
            json_object_set_new(o, "log_fields_error", json_string(err.text));
        }
        json_decref(f);
    }
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}

char *cc_log_format(cc_log_level l, const cc_envelope *env, const char *msg, const char *fields,
                    ...)
{
    va_list ap;
    va_start(ap, fields);
    char *s = vformat(l, env, msg, fields, ap);
    va_end(ap);
    return s;
}

void cc_log(cc_log_level l, const cc_envelope *env, const char *msg, const char *fields, ...)
{
    if (l < min_level)
        return;
    va_list ap;
    va_start(ap, fields);
    char *s = vformat(l, env, msg, fields, ap);
    va_end(ap);
    if (!s)
        return;
    /* One writev per line keeps lines whole when threads log at once. */
    struct iovec iov[2] = {{s, strlen(s)}, {(char *)"\n", 1}};
    ssize_t w = writev(log_fd, iov, 2);
    (void)w;
    free(s);
}

void cc_log_last_error(const cc_envelope *env, const char *what)
{
    cc_log(CC_LOG_ERROR, env, what, "{s:s, s:s, s:s}", "error", cc_err_msg(), "status",
           cc_status_name(cc_err_last()), "where", cc_err_where());
}
