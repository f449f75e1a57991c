/* The JetStream streams, through nats-server's own API on core NATS
 * requests (nats.c 3.4 has no snapshot or restore call): names, info,
 * delete, snapshot, restore, and reading messages back for their
 * Nats-Msg-Id. Protocol as nats-server 2.9 and the nats CLI speak it:
 *
 *   snapshot: request $JS.API.STREAM.SNAPSHOT.<s> {"deliver_subject": INBOX,
 *             "chunk_size": N} -> {config, state}; then chunks arrive on
 *             INBOX, each with a reply subject to acknowledge (the server
 *             stops sending past a window of unacknowledged bytes), and
 *             an empty message ends the stream.
 *   restore:  request $JS.API.STREAM.RESTORE.<s> {config, state} ->
 *             {deliver_subject}; each chunk is a request to it (an empty
 *             reply is the ack), then an empty request, whose reply is
 *             the stream's info or an error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "cc/js.h"

enum { CHUNK = 128 * 1024 };

cc_status admin_js_connect(const admin_settings *s, natsConnection **nc)
{
    natsOptions *o = NULL;
    natsStatus ns = natsOptions_Create(&o);
    /* A URL list "a,b,c" is what the services take too. */
    if (ns == NATS_OK)
        ns = natsOptions_SetURL(o, s->nats_url);
    /* The mesh's user cc-backup may subscribe to its own inbox only. */
    if (ns == NATS_OK)
        ns = natsOptions_SetCustomInboxPrefix(o, "_INBOX.backup");
    if (ns == NATS_OK && s->nats_user[0])
        ns = natsOptions_SetUserInfo(o, s->nats_user, s->nats_password);
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxPendingMsgs(o, 1 << 20);
    if (ns == NATS_OK && s->nats_ca && *s->nats_ca)
        ns = natsOptions_SetSecure(o, true);
    if (ns == NATS_OK && s->nats_ca && *s->nats_ca)
        ns = natsOptions_LoadCATrustedCertificates(o, s->nats_ca);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (ns != NATS_OK)
        return cc_err_set(CC_UNAVAILABLE, "NATS %s as %s: %s (%s)", s->nats_url, s->nats_user,
                          natsStatus_GetText(ns), nats_GetLastError(NULL));
    return CC_OK;
}

/* A JetStream API request with a JSON body (NULL: empty); the JSON reply
 * or an error naming the API's own description. */
static cc_status api(natsConnection *nc, const char *subject, json_t *body, int64_t timeout_ms,
                     json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    natsMsg *reply = NULL;
    natsStatus ns =
        natsConnection_Request(&reply, nc, subject, text, text ? (int)strlen(text) : 0, timeout_ms);
    free(text);
    if (ns != NATS_OK)
        return cc_err_set(ns == NATS_TIMEOUT ? CC_TIMEOUT : CC_NATS, "%s: %s", subject,
                          natsStatus_GetText(ns));
    json_error_t je;
    json_t *j = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &je);
    natsMsg_Destroy(reply);
    if (!j)
        return cc_err_set(CC_PROTO, "%s: reply is not JSON (%s)", subject, je.text);
    json_t *err = json_object_get(j, "error");
    if (err) {
        cc_status st = cc_err_set(
            json_integer_value(json_object_get(err, "code")) == 404 ? CC_NOT_FOUND : CC_NATS,
            "%s: %s (code %lld)", subject, json_string_value(json_object_get(err, "description")),
            (long long)json_integer_value(json_object_get(err, "code")));
        json_decref(j);
        return st;
    }
    *out = j;
    return CC_OK;
}

cc_status admin_js_streams(natsConnection *nc, json_t **names)
{
    json_t *r = NULL;
    cc_status st = api(nc, "$JS.API.STREAM.NAMES", NULL, 5000, &r);
    if (st != CC_OK)
        return st;
    json_t *a = json_object_get(r, "streams");
    *names = json_is_array(a) ? json_incref(a) : json_array();
    json_decref(r);
    /* Sorted: the archive lists its parts in one order every time. */
    size_t n = json_array_size(*names);
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(json_string_value(json_array_get(*names, k - 1)),
                                           json_string_value(json_array_get(*names, k))) > 0;
             k--) {
            json_t *x = json_incref(json_array_get(*names, k));
            json_array_set(*names, k, json_array_get(*names, k - 1));
            json_array_set_new(*names, k - 1, x);
        }
    return CC_OK;
}

cc_status admin_js_info(natsConnection *nc, const char *stream, json_t **info)
{
    char subj[256];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", stream);
    *info = NULL;
    cc_status st = api(nc, subj, NULL, 5000, info);
    if (st == CC_NOT_FOUND) {
        cc_err_clear();
        return CC_OK;
    }
    return st;
}

cc_status admin_js_delete(natsConnection *nc, const char *stream)
{
    char subj[256];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.DELETE.%s", stream);
    json_t *r = NULL;
    cc_status st = api(nc, subj, NULL, 10000, &r);
    json_decref(r);
    return st;
}

cc_status admin_js_snapshot(natsConnection *nc, const char *stream, const char *file,
                            int64_t timeout_ms, json_t **info)
{
    *info = NULL;
    char inbox[128], subj[256];
    snprintf(inbox, sizeof inbox, "_INBOX.backup.snapshot.%08lx%08lx", (unsigned long)random(),
             (unsigned long)random());
    snprintf(subj, sizeof subj, "$JS.API.STREAM.SNAPSHOT.%s", stream);
    natsSubscription *sub = NULL;
    natsStatus ns = natsConnection_SubscribeSync(&sub, nc, inbox);
    if (ns == NATS_OK)
        ns = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (ns != NATS_OK) {
        natsSubscription_Destroy(sub);
        return cc_err_set(CC_NATS, "subscribe %s: %s", inbox, natsStatus_GetText(ns));
    }
    FILE *f = fopen(file, "wb");
    if (!f) {
        natsSubscription_Destroy(sub);
        return cc_err_set(CC_IO, "%s: cannot create", file);
    }
    json_t *req = json_pack("{s:s, s:i, s:b}", "deliver_subject", inbox, "chunk_size", CHUNK,
                            "no_consumers", 0);
    json_t *r = NULL;
    cc_status st = api(nc, subj, req, timeout_ms, &r);
    json_decref(req);
    int64_t bytes = 0;
    while (st == CC_OK) {
        natsMsg *m = NULL;
        ns = natsSubscription_NextMsg(&m, sub, timeout_ms);
        if (ns != NATS_OK) {
            st = cc_err_set(ns == NATS_TIMEOUT ? CC_TIMEOUT : CC_NATS,
                            "snapshot of %s: %s after %" PRId64 " bytes", stream,
                            natsStatus_GetText(ns), bytes);
            break;
        }
        int len = natsMsg_GetDataLength(m);
        if (len == 0) { /* the end */
            natsMsg_Destroy(m);
            break;
        }
        if (fwrite(natsMsg_GetData(m), 1, (size_t)len, f) != (size_t)len)
            st = cc_err_set(CC_IO, "%s: write failed", file);
        bytes += len;
        /* The ack lets the server send past its window. */
        const char *reply = natsMsg_GetReply(m);
        if (st == CC_OK && reply && *reply)
            natsConnection_Publish(nc, reply, NULL, 0);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    if (fclose(f) != 0 && st == CC_OK)
        st = cc_err_set(CC_IO, "%s: write failed", file);
    if (st != CC_OK) {
        json_decref(r);
        return st;
    }
    *info = json_pack("{s:O, s:O}", "config", json_object_get(r, "config"), "state",
                      json_object_get(r, "state"));
    json_decref(r);
    if (!json_is_object(json_object_get(*info, "config")))
        return cc_err_set(CC_PROTO, "snapshot of %s: the server sent no config", stream);
    return CC_OK;
}

cc_status admin_js_restore(natsConnection *nc, const char *stream, const json_t *info,
                           const char *file, int64_t timeout_ms)
{
    char subj[256];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.RESTORE.%s", stream);
    json_t *req = json_pack("{s:O, s:O}", "config", json_object_get(info, "config"), "state",
                            json_object_get(info, "state"));
    json_t *r = NULL;
    cc_status st = api(nc, subj, req, timeout_ms, &r);
    json_decref(req);
    if (st != CC_OK)
        return st;
    char deliver[256];
    snprintf(deliver, sizeof deliver, "%s",
             json_string_value(json_object_get(r, "deliver_subject")) ?: "");
    json_decref(r);
    if (!deliver[0])
        return cc_err_set(CC_PROTO, "restore of %s: the server gave no subject for chunks", stream);
    FILE *f = fopen(file, "rb");
    if (!f)
        return cc_err_set(CC_IO, "%s: cannot open", file);
    static char buf[CHUNK];
    size_t n;
    while (st == CC_OK && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        natsMsg *reply = NULL;
        natsStatus ns = natsConnection_Request(&reply, nc, deliver, buf, (int)n, timeout_ms);
        if (ns != NATS_OK)
            st = cc_err_set(CC_NATS, "restore of %s: chunk: %s", stream, natsStatus_GetText(ns));
        else if (natsMsg_GetDataLength(reply) > 0)
            st = cc_err_set(CC_NATS, "restore of %s: %.*s", stream, natsMsg_GetDataLength(reply),
                            natsMsg_GetData(reply));
        natsMsg_Destroy(reply);
    }
    fclose(f);
    if (st != CC_OK)
        return st;
    /* The empty request ends it: the server builds the stream and answers
     * with its info. */
    natsMsg *reply = NULL;
    natsStatus ns = natsConnection_Request(&reply, nc, deliver, NULL, 0, timeout_ms);
    if (ns != NATS_OK)
        return cc_err_set(CC_NATS, "restore of %s: end: %s", stream, natsStatus_GetText(ns));
    json_t *j = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
    natsMsg_Destroy(reply);
    json_t *err = json_object_get(j, "error");
    if (!j || err)
        st = cc_err_set(CC_NATS, "restore of %s: %s", stream,
                        err ? json_string_value(json_object_get(err, "description"))
                            : "the server's answer is not JSON");
    json_decref(j);
    return st;
}

/* RFC 3339 UTC with optional fraction ("2026-12-06T13:23:43.123Z") as Unix
 * seconds; 0 when it does not parse. */
static double parse_time(const char *t)
{
    struct tm tm = {0};
    const char *rest = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return 0;
    double frac = *rest == '.' ? strtod(rest, NULL) : 0;
    return (double)timegm(&tm) + frac;
}

cc_status admin_js_msg_ids_since(natsConnection *nc, const char *stream, double since, json_t *ids)
{
    json_t *info = NULL;
    cc_status st = admin_js_info(nc, stream, &info);
    if (st != CC_OK || !info)
        return st;
    json_t *state = json_object_get(info, "state");
    uint64_t first = (uint64_t)json_integer_value(json_object_get(state, "first_seq"));
    uint64_t last = (uint64_t)json_integer_value(json_object_get(state, "last_seq"));
    json_decref(info);
    char subj[256];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.MSG.GET.%s", stream);
    for (uint64_t seq = last; seq >= first && seq > 0 && st == CC_OK; seq--) {
        json_t *req = json_pack("{s:I}", "seq", (json_int_t)seq), *r = NULL;
        st = api(nc, subj, req, 5000, &r);
        json_decref(req);
        if (st == CC_NOT_FOUND) { /* a deleted message (a consumed job) */
            cc_err_clear();
            st = CC_OK;
            continue;
        }
        if (st != CC_OK)
            break;
        json_t *m = json_object_get(r, "message");
        bool older = parse_time(json_string_value(json_object_get(m, "time"))) < since;
        cc_js_stored sm;
        if (cc_js_stored_from(r, &sm) && sm.msg_id[0])
            json_object_set_new(ids, sm.msg_id, json_true());
        cc_js_stored_clear(&sm);
        json_decref(r);
        if (older)
            break;
    }
    return st;
}
