/* The route table: every public endpoint under /v1 in one place, and the
 * OpenAPI document generated from it and from the message descriptors. */
#include <stdlib.h>
#include <string.h>

#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/notification.pb-c.h"
#include "codecourt/v1/problem.pb-c.h"
#include "codecourt/v1/stats.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"
#include "codecourt/v1/user.pb-c.h"
#include "gw.h"
#include "gw/json.h"

#define U(m) &codecourt__v1__##m##__descriptor
const gw_route gw_routes[] = {
    {"POST", "/v1/users", "user", "Register", U(register_request), U(user), GW_RATE_LOGIN, 201,
     "Create an account"},
    {"POST", "/v1/auth/login", "user", "Login", U(login_request), U(token_pair),
     GW_RATE_LOGIN | GW_LOGIN_ACCOUNT, 200, "Log in: an access token and a refresh token"},
    {"POST", "/v1/auth/refresh", "user", "Refresh", U(refresh_request), U(token_pair),
     GW_RATE_LOGIN, 200, "Trade a refresh token for a new pair (the old one is used up)"},
    {"POST", "/v1/auth/logout", "user", "Logout", U(logout_request), U(empty),
     GW_AUTH | GW_INJECT_TOKEN, 200, "Revoke this access token and its refresh token family"},
    /* Browser sessions: the same calls, but the refresh token travels
     * only in an HttpOnly cookie scoped to /v1/auth/session (web.c). */
    {"POST", "/v1/auth/session", "user", "Login", U(login_request), U(token_pair),
     GW_RATE_LOGIN | GW_LOGIN_ACCOUNT | GW_SESSION_SET, 200,
     "Sign in from a browser: the access token, and the refresh token as an HttpOnly cookie"},
    {"POST", "/v1/auth/session/refresh", "user", "Refresh", U(refresh_request), U(token_pair),
     GW_RATE_LOGIN | GW_SESSION_COOKIE | GW_SESSION_SET, 200,
     "A new access token for the browser session's cookie (same origin only; the cookie "
     "rotates)"},
    {"DELETE", "/v1/auth/session", "user", "Logout", U(logout_request), U(empty),
     GW_AUTH | GW_INJECT_TOKEN | GW_SESSION_CLEAR, 200,
     "Sign out from a browser: revoke the tokens and remove the cookie"},
    {"GET", "/v1/users/me", "user", "GetMe", U(get_me_request), U(user), GW_AUTH, 200,
     "The caller's profile and preferences"},
    {"PATCH", "/v1/users/me", "user", "UpdateMe", U(update_me_request), U(user), GW_AUTH, 200,
     "Change the caller's profile or preferences"},
    {"GET", "/v1/admin/users", "user", "ListUsers", U(list_users_request), U(user_list), GW_AUTH,
     200, "List users (admin)"},
    {"PUT", "/v1/admin/users/{userId}/role", "user", "SetRole", U(set_role_request), U(user),
     GW_AUTH, 200, "Change a user's role (admin)"},
    {"PUT", "/v1/admin/users/{userId}/disabled", "user", "SetDisabled", U(set_disabled_request),
     U(user), GW_AUTH, 200, "Disable or enable a user (admin)"},
    /* Problems (cc-problem). Reads take an optional token so owners see
     * their drafts. GetVersionManifest is never routed, and GetBlob only
     * with a token: cc-problem serves anonymous callers (judges over
     * NATS) everything, but a caller with a principal only what it
     * uploaded or exported (admins anything). */
    {"POST", "/v1/problems", "problem", "CreateProblem", U(create_problem_request), U(problem),
     GW_AUTH, 201, "Create a problem (setter, admin)"},
    {"GET", "/v1/problems", "problem", "ListProblems", U(list_problems_request), U(problem_list),
     GW_AUTH_OPT, 200,
     "List problems (?tag=&difficulty=&query=&pageSize=&cursor=&mine=); drafts only to their "
     "owner and admins"},
    {"POST", "/v1/problems/preview", "problem", "RenderStatement",
     U(render_statement_request), U(rendered_statement), GW_AUTH, 200,
     "Render a statement not saved yet, as it would be stored (setter, admin)"},
    {"POST", "/v1/problems/import", "problem", "ImportPackage", U(import_package_request),
     U(import_package_reply), GW_AUTH, 200,
     "Import a Kattis / ICPC package zip uploaded as a blob (setter, admin)"},
    {"GET", "/v1/problems/{slug}", "problem", "GetProblem", U(get_problem_request), U(problem),
     GW_AUTH_OPT, 200, "One problem with its statement (?version=N, default current)"},
    {"PATCH", "/v1/problems/{slug}", "problem", "UpdateProblem", U(update_problem_request),
     U(problem), GW_AUTH, 200, "Change a problem; statement, limits or checker make a version"},
    {"DELETE", "/v1/problems/{slug}", "problem", "DeleteProblem", U(delete_problem_request),
     U(problem), GW_AUTH, 200, "Soft-delete a problem (owner, admin)"},
    {"GET", "/v1/problems/{slug}/versions", "problem", "ListVersions", U(list_versions_request),
     U(version_list), GW_AUTH_OPT, 200, "A problem's versions, newest first"},
    {"GET", "/v1/problems/{slug}/samples", "problem", "ListSamples", U(list_samples_request),
     U(sample_list), GW_AUTH_OPT, 200, "A version's sample tests: input and answer (?version=N)"},
    {"PUT", "/v1/problems/{slug}/tests", "problem", "UploadTests", U(upload_tests_request),
     U(problem), GW_AUTH, 200, "Replace the test set with uploaded blobs: a new version"},
    {"POST", "/v1/problems/{slug}/export", "problem", "ExportPackage",
     U(export_package_request), U(blob), GW_AUTH, 200,
     "Export a version as a package zip blob (owner, admin); download with GET /v1/blobs"},
    {"POST", "/v1/uploads", "problem", "BeginUpload", U(begin_upload_request), U(upload), GW_AUTH,
     201, "Start a chunked blob upload (setter, admin)"},
    {"PUT", "/v1/uploads/{uploadId}", "problem", "PutChunk", U(put_chunk_request), U(upload),
     GW_AUTH, 200, "Send the chunk at offset (data in base64)"},
    {"POST", "/v1/uploads/{uploadId}/commit", "problem", "CommitUpload",
     U(commit_upload_request), U(blob), GW_AUTH, 200, "Finish an upload: the blob"},
    {"GET", "/v1/blobs/{sha256}", "problem", "GetBlob", U(get_blob_request), U(get_blob_reply),
     GW_AUTH, 200,
     "A slice of a blob you uploaded or exported (?offset=&maxBytes=; admins: any blob)"},
    /* Submissions (cc-submission). */
    {"POST", "/v1/submissions", "submission", "Submit", U(submit_request), U(submission),
     GW_AUTH | GW_IDEMPOTENCY, 201,
     "Submit code (Idempotency-Key: a retry with the same key and body is the same submission)"},
    {"GET", "/v1/submissions", "submission", "ListSubmissions", U(list_submissions_request),
     U(submission_list), GW_AUTH, 200,
     "Your submissions, newest first (?problem=&verdict=&language=&status=&pageSize=&cursor=)"},
    {"GET", "/v1/submissions/{id}", "submission", "GetSubmission", U(get_submission_request),
     U(submission), GW_AUTH, 200, "One submission with per-test results (owner, setter, admin)"},
    {"POST", "/v1/submissions/{id}/rejudge", "submission", "Rejudge", U(rejudge_request),
     U(submission), GW_AUTH, 200, "Judge a submission again (admin)"},
    {"GET", "/v1/problems/{problem}/submissions", "submission", "ListSubmissions",
     U(list_submissions_request), U(submission_list), GW_AUTH, 200,
     "A problem's submissions (its owner and admins; others see their own)"},
    {"POST", "/v1/problems/{problem}/rejudge", "submission", "RejudgeProblem",
     U(rejudge_problem_request), U(rejudge_reply), GW_AUTH, 200,
     "Judge every submission of a problem again (admin)"},
    {"POST", "/v1/runs", "submission", "CreateRun", U(create_run_request), U(run), GW_AUTH, 201,
     "Run source on your own input, without a problem (the answer comes on /v1/live and from "
     "GET /v1/runs/{id}; kept for an hour)"},
    {"GET", "/v1/runs/{id}", "submission", "GetRun", U(get_run_request), U(run), GW_AUTH, 200,
     "One of your runs, with its output once done"},
    {"GET", "/v1/admin/judges", "submission", "ListJudges", U(list_judges_request),
     U(judge_list), GW_AUTH, 200,
     "The judges: state, jobs, heartbeat, sandbox, toolchains; the queue's depth (admin)"},
    {"PUT", "/v1/admin/judges/{id}/state", "submission", "SetJudgeState",
     U(set_judge_state_request), U(judge_status), GW_AUTH, 200,
     "Drain, disable or enable a judge ({\"action\"}) (admin)"},
    {"GET", "/v1/languages", "submission", "ListLanguages", U(list_languages_request),
     U(language_list), 0, 200, "The languages the judges know"},
    /* Notifications (cc-notify): the caller's own. */
    {"GET", "/v1/notifications", "notify", "ListNotifications", U(list_notifications_request),
     U(notification_list), GW_AUTH, 200,
     "Your in-app notifications, unread first, then newest (?pageSize=&cursor=&unreadOnly=)"},
    {"GET", "/v1/notifications/unread-count", "notify", "GetUnreadCount",
     U(get_unread_count_request), U(unread_count), GW_AUTH, 200, "How many are unread"},
    {"POST", "/v1/notifications/read-all", "notify", "MarkAllRead", U(mark_all_read_request),
     U(mark_all_read_reply), GW_AUTH, 200, "Mark every notification read"},
    {"POST", "/v1/notifications/{id}/read", "notify", "MarkRead", U(mark_read_request),
     U(notification), GW_AUTH, 200, "Mark one notification read"},
    {"GET", "/v1/notifications/preferences", "notify", "GetPreferences",
     U(get_preferences_request), U(notification_preferences), GW_AUTH, 200,
     "Which events notify you on which channel (email, inapp)"},
    {"PUT", "/v1/notifications/preferences", "notify", "UpdatePreferences",
     U(update_preferences_request), U(notification_preferences), GW_AUTH, 200,
     "Change some of your notification preferences"},
    {"GET", "/v1/notifications/{id}", "notify", "GetNotification", U(get_notification_request),
     U(notification), GW_AUTH, 200,
     "One of your notifications, with its delivery per channel (in-app; email: pending, sent "
     "or failed, attempts, last error)"},
    /* Contests (cc-contest). Reads take an optional token: a private
     * contest shows only to its jury and participants, and the jury sees
     * the scoreboard unfrozen. Live: /v1/live?contest=<id>. */
    {"POST", "/v1/contests", "contest", "CreateContest", U(contest), U(contest), GW_AUTH, 201,
     "Create a contest (setter, admin); you are its jury"},
    {"GET", "/v1/contests", "contest", "ListContests", U(list_contests_request), U(contest_list),
     GW_AUTH_OPT, 200, "Public contests and yours, latest start first (?pageSize=&cursor=)"},
    {"GET", "/v1/contests/{id}", "contest", "GetContest", U(get_contest_request), U(contest),
     GW_AUTH_OPT, 200, "One contest (its invite code and jury for the jury only)"},
    {"PUT", "/v1/contests/{id}", "contest", "PutContest", U(contest), U(contest), GW_AUTH, 200,
     "Replace a contest's definition (jury)"},
    {"POST", "/v1/contests/{id}/unfreeze", "contest", "Unfreeze", U(unfreeze_request), U(contest),
     GW_AUTH, 200, "Show the public scoreboard in full again (jury)"},
    {"POST", "/v1/contests/{contest}/register", "contest", "RegisterForContest",
     U(contest_register_request), U(team), GW_AUTH, 201,
     "Take part: alone, in a new team, or joining one (inviteCode when closed)"},
    {"GET", "/v1/contests/{contest}/teams", "contest", "ListTeams", U(list_teams_request),
     U(team_list), GW_AUTH_OPT, 200, "A contest's teams"},
    {"PUT", "/v1/contests/{contest}/teams/{teamId}", "contest", "PutTeam", U(put_team_request),
     U(team), GW_AUTH, 200, "Create or change a team and its members (jury)"},
    {"GET", "/v1/contests/{contest}/scoreboard", "contest", "GetScoreboard",
     U(get_scoreboard_request), U(scoreboard), GW_AUTH_OPT, 200,
     "The scoreboard: frozen for the public during the freeze (?publicView= for the jury)"},
    {"POST", "/v1/contests/{contest}/clarifications", "contest", "AskClarification",
     U(ask_clarification_request), U(clarification), GW_AUTH, 201,
     "Ask the jury (participant), or announce (jury)"},
    {"GET", "/v1/contests/{contest}/clarifications", "contest", "ListClarifications",
     U(list_clarifications_request), U(clarification_list), GW_AUTH_OPT, 200,
     "Clarifications you may read"},
    {"POST", "/v1/contests/{contest}/clarifications/{id}/answer", "contest",
     "AnswerClarification", U(answer_clarification_request), U(clarification), GW_AUTH, 201,
     "Answer a question, to its team or to all (jury)"},
    /* The ICPC CLICS Contest API (ccs-specs 2022-07): its own JSON, sent as
     * cc-contest renders it. /api/contests/{id}/event-feed streams NDJSON
     * (feed.c, not a row: it stays open). */
    {"GET", "/api", "contest", "ClicsGet", U(clics_request), U(raw_response),
     GW_AUTH_OPT | GW_RAW, 200, "CLICS: the API's version"},
    {"GET", "/api/contests", "contest", "ClicsGet", U(clics_request), U(raw_response),
     GW_AUTH_OPT | GW_RAW, 200, "CLICS: contests"},
    {"GET", "/api/contests/{contest}", "contest", "ClicsGet", U(clics_request), U(raw_response),
     GW_AUTH_OPT | GW_RAW, 200, "CLICS: one contest"},
    {"GET", "/api/contests/{contest}/{collection}", "contest", "ClicsGet", U(clics_request),
     U(raw_response), GW_AUTH_OPT | GW_RAW, 200,
     "CLICS: problems, teams, organizations, submissions, judgements, judgement-types, "
     "languages, clarifications, scoreboard, state, access"},
    {"GET", "/api/contests/{contest}/{collection}/{item}", "contest", "ClicsGet",
     U(clics_request), U(raw_response), GW_AUTH_OPT | GW_RAW, 200, "CLICS: one object"},
    /* Statistics and recommendations (cc-stats). */
    {"GET", "/v1/users/me/recommendations", "stats", "GetRecommendations",
     U(get_recommendations_request), U(recommendation_list), GW_AUTH, 200,
     "Unsolved public problems for you, each with why (?limit=)"},
    {"GET", "/v1/users/{userId}/stats", "stats", "GetUserStats", U(get_user_stats_request),
     U(user_stats), GW_AUTH_OPT, 200, "A user's statistics (\"me\" with a token)"},
    {"GET", "/v1/problems/{slug}/stats", "stats", "GetProblemStats",
     U(get_problem_stats_request), U(problem_stats), GW_AUTH_OPT, 200,
     "A public problem's statistics"},
};
#undef U
const size_t gw_nroutes = sizeof gw_routes / sizeof gw_routes[0];

/* Matches path against pattern segment by segment; {name} takes one
 * non-empty segment. */
static bool match(const char *pattern, const char *path, size_t plen, json_t *params)
{
    const char *p = pattern, *s = path, *end = path + plen;
    while (*p && s < end) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *seg = s;
            while (s < end && *s != '/')
                s++;
            if (s == seg || !close)
                return false;
            if (params) {
                char name[64];
                size_t nl = (size_t)(close - p - 1);
                if (nl >= sizeof name)
                    return false;
                memcpy(name, p + 1, nl);
                name[nl] = '\0';
                json_object_set_new(params, name, json_stringn(seg, (size_t)(s - seg)));
            }
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && s == end;
}

const gw_route *gw_route_match(const char *method, size_t mlen, const char *path, size_t plen,
                               json_t **params, bool *path_known)
{
    *path_known = false;
    *params = NULL;
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route *r = &gw_routes[i];
        if (!match(r->pattern, path, plen, NULL))
            continue;
        *path_known = true;
        if (strlen(r->method) != mlen || memcmp(r->method, method, mlen) != 0)
            continue;
        json_t *p = json_object();
        if (!p || !match(r->pattern, path, plen, p)) {
            json_decref(p);
            return NULL;
        }
        *params = p;
        return r;
    }
    return NULL;
}

/* ---- OpenAPI ---------------------------------------------------------------- */

static json_t *schema_ref(const ProtobufCMessageDescriptor *d)
{
    char ref[256];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", d->name);
    return json_pack("{s:s}", "$ref", ref);
}

static json_t *field_schema(const ProtobufCFieldDescriptor *f)
{
    json_t *s;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        s = json_pack("{s:s, s:s}", "type", "integer", "format", "int32");
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        s = gw_json_is_time(f)
                ? json_pack("{s:[s,s], s:s}", "type", "string", "null", "format", "date-time")
                : json_pack("{s:s, s:s}", "type", "string", "format", "int64");
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        s = json_pack("{s:s}", "type", "number");
        break;
    case PROTOBUF_C_TYPE_BOOL:
        s = json_pack("{s:s}", "type", "boolean");
        break;
    case PROTOBUF_C_TYPE_STRING:
        s = json_pack("{s:s}", "type", "string");
        break;
    case PROTOBUF_C_TYPE_BYTES:
        s = json_pack("{s:s, s:s}", "type", "string", "format", "byte");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        json_t *vals = json_array();
        for (unsigned i = 0; i < ed->n_values; i++)
            json_array_append_new(vals, json_string(ed->values[i].name));
        s = json_pack("{s:s, s:o}", "type", "string", "enum", vals);
        break;
    }
    default:
        s = schema_ref(f->descriptor);
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        s = json_pack("{s:s, s:o}", "type", "array", "items", s);
    return s;
}

static void add_schema(json_t *schemas, const ProtobufCMessageDescriptor *d)
{
    if (json_object_get(schemas, d->name))
        return;
    json_t *props = json_object();
    json_t *s = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    json_object_set_new(schemas, d->name, s);
    char name[128];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        gw_json_name(f->name, name, sizeof name);
        json_object_set_new(props, name, field_schema(f));
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            add_schema(schemas, f->descriptor);
    }
}

char *gw_openapi(size_t *len)
{
    json_t *paths = json_object(), *schemas = json_object();
    json_t *problem = json_pack(
        "{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "type",
        "object", "properties", "type", "type", "string", "title", "type", "string", "status",
        "type", "integer", "detail", "type", "string", "instance", "type", "string", "requestId",
        "type", "string", "field", "type", "string");
    json_object_set_new(schemas, "Problem", problem);
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route *r = &gw_routes[i];
        add_schema(schemas, r->request);
        add_schema(schemas, r->response);
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        char method[16];
        size_t ml = strlen(r->method);
        for (size_t k = 0; k < ml && k + 1 < sizeof method; k++)
            method[k] = (char)(r->method[k] | 0x20);
        method[ml < sizeof method ? ml : sizeof method - 1] = '\0';
        char code[8];
        snprintf(code, sizeof code, "%d", r->ok_status);
        json_t *op = json_pack(
            "{s:s, s:s, s:{s:{s:s, s:{s:{s:o}}}, s:{s:s, s:{s:{s:o}}}}}", "operationId", r->rpc,
            "summary", r->summary, "responses", code, "description", "OK", "content",
            "application/json", "schema", schema_ref(r->response), "default", "description",
            "An RFC 9457 problem", "content", "application/problem+json", "schema",
            json_pack("{s:s}", "$ref", "#/components/schemas/Problem"));
        if (strcmp(r->method, "GET") != 0)
            json_object_set_new(op, "requestBody",
                                json_pack("{s:{s:{s:o}}}", "content", "application/json",
                                          "schema", schema_ref(r->request)));
        if (r->flags & GW_AUTH)
            json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
        else if (r->flags & GW_AUTH_OPT)
            json_object_set_new(op, "security", json_pack("[{s:[]}, {}]", "bearer"));
        json_t *params = json_array();
        for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *close = strchr(p, '}');
            json_array_append_new(
                params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                  (size_t)(close - p - 1), "in", "path", "required", 1, "schema",
                                  "type", "string"));
        }
        /* A GET or DELETE has no body: its other scalar fields come from
         * the query string. */
        if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "DELETE") == 0) {
            char name[128], brace[132];
            for (unsigned k = 0; k < r->request->n_fields; k++) {
                const ProtobufCFieldDescriptor *f = &r->request->fields[k];
                if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
                    continue;
                gw_json_name(f->name, name, sizeof name);
                snprintf(brace, sizeof brace, "{%s}", name);
                if (strstr(r->pattern, brace))
                    continue;
                json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}", "name", name,
                                                        "in", "query", "required", 0, "schema",
                                                        field_schema(f)));
            }
        }
        json_object_set_new(op, "parameters", params);
        json_object_set_new(item, method, op);
    }
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s}, s:o, s:{s:o, s:{s:{s:s, s:s, s:s}}}}", "openapi", "3.1.0", "info",
        "title", "CodeCourt API", "version", CC_VERSION, "paths", paths, "components", "schemas",
        schemas, "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "bearerFormat",
        "JWT");
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (s)
        *len = strlen(s);
    return s;
}
