/* Structured logs: one JSON object per line on standard error, with time,
 * level, service, message, correlation id, trace id and any extra fields.
 * Safe to call from any thread. */
#ifndef CC_LOG_H
#define CC_LOG_H

#include <stdbool.h>

#include "cc/envelope.h"
#include "cc/status.h"

typedef enum { CC_LOG_DEBUG, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR } cc_log_level;

/* Sets the service name written in every line (copied) and the lowest level
 * written. Call once at start, before other threads log. */
void cc_log_init(const char *service, cc_log_level min);

/* Parses "debug", "info", "warn" or "error"; CC_INVALID for anything else. */
cc_status cc_log_level_parse(const char *s, cc_log_level *out);
const char *cc_log_level_str(cc_log_level l);

/* Sends lines to fd instead of standard error (tests capture them). */
void cc_log_set_fd(int fd);

bool cc_log_enabled(cc_log_level l);

/* Writes one line. env may be NULL (no correlation or trace id). fields is
 * a jansson json_pack() format of an object, e.g. "{s:s, s:I}", followed by
 * its arguments, or NULL for none. A field that collides with a standard
 * key is written under "field.<key>" so it can never forge the standard
 * ones. */
void cc_log(cc_log_level l, const cc_envelope *env, const char *msg, const char *fields, ...);

/* Formats the line cc_log would write, without the trailing newline.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *cc_log_format(cc_log_level l, const cc_envelope *env, const char *msg, const char *fields,
                    ...);

/* Logs the calling thread's last error (cc_err_msg and cc_err_where) at
 * ERROR with what as the message. */
void cc_log_last_error(const cc_envelope *env, const char *what);

#define CC_DEBUG(env, msg, ...) cc_log(CC_LOG_DEBUG, env, msg, __VA_ARGS__)
#define CC_INFO(env, msg, ...) cc_log(CC_LOG_INFO, env, msg, __VA_ARGS__)
#define CC_WARN(env, msg, ...) cc_log(CC_LOG_WARN, env, msg, __VA_ARGS__)
#define CC_ERROR(env, msg, ...) cc_log(CC_LOG_ERROR, env, msg, __VA_ARGS__)

#endif
