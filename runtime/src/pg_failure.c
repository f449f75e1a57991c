/* The database-failure policy (cc/pg.h): from a SQLSTATE to the status of
 * the PostgreSQL layer, and from that status to the answer every actor
 * gives. */
#include <string.h>

#include "cc/bus.h"
#include "cc/log.h"
#include "cc/pg.h"

cc_status cc_pg_status_of_sqlstate(const char *ss)
{
    if (!ss || strlen(ss) != 5)
        return CC_DB;
    if (!strcmp(ss, "23505") || !strcmp(ss, "23P01"))
        return CC_EXISTS;
    if (!strncmp(ss, "23", 2))
        return CC_UNPROCESSABLE;
    if (!strcmp(ss, "40001") || !strcmp(ss, "40P01"))
        return CC_CONFLICT;
    if (!strcmp(ss, "57014"))
        return CC_TIMEOUT;
    if (!strncmp(ss, "08", 2) || !strncmp(ss, "57P0", 4) || !strncmp(ss, "53", 2))
        return CC_UNAVAILABLE;
    return CC_DB;
}

/* Indexed by the layer's status; a status without a row is ours. */
static const cc_pg_failure failures[] = {
    [CC_UNAVAILABLE] = {CC_UNAVAILABLE, true, false, "database unavailable"},
    [CC_LIMIT] = {CC_UNAVAILABLE, true, false, "database busy"},
    [CC_CLOSED] = {CC_UNAVAILABLE, true, false, "database unavailable"},
    [CC_CONFLICT] = {CC_UNAVAILABLE, true, false, "conflicting change, try again"},
    [CC_TIMEOUT] = {CC_TIMEOUT, false, false, "database timed out"},
    [CC_EXISTS] = {CC_EXISTS, false, false, "already exists"},
    [CC_UNPROCESSABLE] = {CC_UNPROCESSABLE, false, false, "conflicts with the stored data"},
};

cc_pg_failure cc_pg_failure_of(cc_status s)
{
    if ((unsigned)s < sizeof failures / sizeof *failures && failures[s].what)
        return failures[s];
    return (cc_pg_failure){CC_INTERNAL, false, true, "failed"};
}

void cc_rpc_fail_db(cc_rpc_call *call, cc_status s, const char *errmsg, const char *what)
{
    cc_pg_failure f = cc_pg_failure_of(s);
    cc_log(f.ours ? CC_LOG_ERROR : CC_LOG_WARN, cc_rpc_envelope(call), "database step failed",
           "{s:s, s:s, s:s}", "what", what, "status", cc_status_name(s), "error",
           errmsg ? errmsg : cc_status_str(s));
    if (f.ours)
        cc_rpc_fail(call, f.answer, "%s failed", what);
    else
        cc_rpc_fail(call, f.answer, "%s: %s", what, f.what);
}
