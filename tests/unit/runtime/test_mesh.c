/* Unit tests of the mesh's permission table (cc/mesh.h) as policy: what
 * each service may publish and subscribe to once the rows are expanded the
 * way nats-server reads them, the properties the mesh's security rests on
 * (no one reads or writes another's inbox, only the caller publishes its
 * caller-scoped subjects, the judge and the Kafka bridge cannot speak for
 * others, no one but the declaring services creates or changes a stream),
 * subject matching, and the rendered configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/bus.h"
#include "cc/mesh.h"

static const char *const services[] = {"gateway",      "user",         "problem", "submission",
                                       "notify",       "contest",      "stats",   "contest-reader",
                                       "stats-reader", "kafka-bridge", "judge",   "backup"};
#define NSERVICES (sizeof services / sizeof services[0])

static const cc_mesh_service *row(const char *name)
{
    const cc_mesh_service *r = cc_mesh_find(name);
    if (!r)
        fail_msg("no row for %s", name);
    return r;
}

static bool pub(const char *service, const char *subject)
{
    return cc_mesh_may_publish(row(service), subject);
}

static bool sub(const char *service, const char *subject)
{
    return cc_mesh_may_subscribe(row(service), subject);
}

static void matching(void **state)
{
    assert_true(cc_mesh_subject_matches("a.b", "a.b"));
    assert_false(cc_mesh_subject_matches("a.b", "a.b.c"));
    assert_false(cc_mesh_subject_matches("a.b.c", "a.b"));
    assert_true(cc_mesh_subject_matches("a.*", "a.b"));
    assert_false(cc_mesh_subject_matches("a.*", "a.b.c"));
    assert_false(cc_mesh_subject_matches("a.*", "a"));
    assert_true(cc_mesh_subject_matches("a.>", "a.b.c"));
    assert_false(cc_mesh_subject_matches("a.>", "a"));
    assert_true(cc_mesh_subject_matches(">", "x"));
    assert_true(cc_mesh_subject_matches("a.*.c", "a.b.c"));
    assert_false(cc_mesh_subject_matches("a.*.c", "a.b.d"));
    /* A pattern as the subject: its wildcards are literal tokens. */
    assert_true(cc_mesh_subject_matches("_INBOX.>", "_INBOX.>"));
    assert_false(cc_mesh_subject_matches("_INBOX.user.>", "_INBOX.>"));
    assert_false(cc_mesh_subject_matches("cc.rpc.user.*", "cc.rpc.user"));
}

static void names(void **state)
{
    char b[64];
    assert_int_equal(cc_mesh_user("kafka-bridge", b, sizeof b), CC_OK);
    assert_string_equal(b, "cc-kafka-bridge");
    assert_int_equal(cc_mesh_inbox_prefix("judge", b, sizeof b), CC_OK);
    assert_string_equal(b, "_INBOX.judge");
    assert_int_equal(cc_mesh_password_var("kafka-bridge", b, sizeof b), CC_OK);
    assert_string_equal(b, "CC_NATS_PASSWORD_KAFKA_BRIDGE");
    assert_int_equal(cc_mesh_user("judge", b, 4), CC_LIMIT);
    for (size_t i = 0; i < NSERVICES; i++)
        assert_false(row(services[i])->local_only);
    assert_true(row(CC_MESH_ADMIN)->local_only);
    size_t n = 0;
    cc_mesh_services(&n);
    assert_int_equal(n, NSERVICES + 1); /* a new row gets its tests here */
}

/* Replies: a service reads only its own inbox, and writes into none (it
 * answers through allow_responses). */
static void inboxes_are_private(void **state)
{
    for (size_t i = 0; i < NSERVICES; i++) {
        char own[100];
        snprintf(own, sizeof own, "_INBOX.%s.NUID.7", services[i]);
        assert_true(sub(services[i], own));
        assert_false(sub(services[i], "_INBOX.>"));
        assert_false(sub(services[i], "_INBOX.NUID.7"));
        assert_false(sub(services[i], ">"));
        for (size_t j = 0; j < NSERVICES; j++) {
            char other[100];
            snprintf(other, sizeof other, "_INBOX.%s.NUID.7", services[j]);
            if (i != j && sub(services[i], other))
                fail_msg("%s may read %s's replies", services[i], services[j]);
            if (pub(services[i], other))
                fail_msg("%s may write into %s's inbox", services[i], services[j]);
        }
        cc_mesh_perms p;
        assert_int_equal(cc_mesh_perms_of(row(services[i]), &p), CC_OK);
        /* Every service answers; a read model's reader serves nothing. */
        assert_int_equal(p.responses, !row(services[i])->reader);
    }
}

/* cc.rpc.<service>.<caller>.<Method>: NATS vouches for the caller only if
 * no one else may publish there. */
static void caller_scoped_subjects_belong_to_their_caller(void **state)
{
    for (size_t s = 0; s < NSERVICES; s++)
        for (size_t c = 0; c < NSERVICES; c++)
            for (size_t who = 0; who < NSERVICES; who++) {
                char subject[200];
                snprintf(subject, sizeof subject, "cc.rpc.%s.%s.GetBlob", services[s], services[c]);
                if (who != c && pub(services[who], subject))
                    fail_msg("%s may call %s as %s", services[who], services[s], services[c]);
            }
    assert_true(pub("judge", "cc.rpc.problem.judge.GetBlob"));
    /* Only GetBlob, the one thing a judge asks. */
    assert_false(pub("judge", "cc.rpc.problem.judge.GetVersionManifest"));
    assert_false(pub("judge", "cc.rpc.problem.judge.DeleteProblem"));
}

/* The judge runs untrusted code: no user's principal, no live pushes, no
 * stream it could create or repoint, only its own results. */
static void the_judge_does_only_its_work(void **state)
{
    assert_false(pub("judge", "cc.rpc.problem.GetBlob"));
    assert_false(pub("judge", "cc.rpc.problem.GetProblem"));
    assert_false(pub("judge", "cc.rpc.user.GetMe"));
    assert_false(pub("judge", "cc.live.user.42"));
    assert_false(pub("judge", "cc.evt.submission.rejudged"));
    assert_false(pub("judge", "cc.evt.user.registered"));
    assert_false(pub("judge", "cc.judge.job"));
    assert_true(pub("judge", "cc.evt.submission.judged"));
    assert_true(pub("judge", "cc.evt.submission.progress"));
    assert_true(pub("judge", "$JS.API.CONSUMER.MSG.NEXT.CC_JUDGE.judges"));
    assert_true(pub("judge", "$JS.API.CONSUMER.DURABLE.CREATE.CC_JUDGE_DEAD.judges"));
    assert_true(pub("judge", "$JS.ACK.CC_JUDGE.judges.1.7.7.1700000000.0"));
    assert_true(pub("judge", "$JS.API.STREAM.MSG.DELETE.CC_JUDGE"));
    assert_false(pub("judge", "$JS.API.STREAM.MSG.DELETE.CC_EVENTS"));
    assert_false(pub("judge", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.submission"));
    assert_false(pub("judge", "$JS.API.CONSUMER.DURABLE.CREATE.CC_EVENTS.judges"));
    assert_false(pub("judge", "$JS.ACK.CC_EVENTS.submission.1.7.7.1700000000.0"));
    assert_false(sub("judge", "cc.judge.job"));
    assert_false(sub("judge", "cc.evt.submission.judged"));
}

/* Records from Kafka may not pass for a service's events, and the bridge
 * may not take another's deliveries. */
static void the_kafka_bridge_stays_in_its_lane(void **state)
{
    assert_true(pub("kafka-bridge", "cc.evt.kafka.orders.placed"));
    assert_false(pub("kafka-bridge", "cc.evt.submission.judged"));
    assert_false(pub("kafka-bridge", "cc.evt.submission.progress"));
    assert_false(pub("kafka-bridge", "cc.evt.user.registered"));
    assert_false(pub("kafka-bridge", "cc.evt.problem.created"));
    assert_true(pub("kafka-bridge", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.kafka_bridge_ab12"));
    assert_true(pub("kafka-bridge", "$JS.ACK.CC_EVENTS.kafka_bridge_ab12.1.7.7.1700000000.0"));
    const char *others[] = {"submission", "notify"};
    for (size_t i = 0; i < 2; i++) {
        char s[200];
        snprintf(s, sizeof s, "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.%s", others[i]);
        assert_false(pub("kafka-bridge", s));
        snprintf(s, sizeof s, "$JS.API.CONSUMER.DURABLE.CREATE.CC_EVENTS.%s", others[i]);
        assert_false(pub("kafka-bridge", s));
        snprintf(s, sizeof s, "$JS.API.CONSUMER.INFO.CC_EVENTS.%s", others[i]);
        assert_false(pub("kafka-bridge", s));
        snprintf(s, sizeof s, "$JS.ACK.CC_EVENTS.%s.1.7.7.1700000000.0", others[i]);
        assert_false(pub("kafka-bridge", s));
    }
    assert_false(pub("kafka-bridge", "$JS.API.CONSUMER.DELETE.CC_EVENTS.kafka_bridge_ab12"));
    assert_false(pub("kafka-bridge", "$JS.API.STREAM.CREATE.CC_EVENTS"));
    assert_true(cc_mesh_subject_matches(CC_MESH_KAFKA_SUBJECTS, CC_MESH_KAFKA_PREFIX "x"));
}

/* The read models (cc/projection.h) read through a user of their own,
 * which makes its consumer again at every start: each reader may delete
 * its own consumer, nobody else's, and serves nothing; the services
 * publish only their own events (and the contest its live channels). */
/* cc-admin's user snapshots and restores streams, and does nothing of
 * the mesh's own traffic nor anything else to a stream. */
static void the_backup_user_only_snapshots(void **state)
{
    (void)state;
    assert_true(pub("backup", "$JS.API.STREAM.SNAPSHOT.CC_EVENTS"));
    assert_true(pub("backup", "$JS.API.STREAM.RESTORE.CC_JUDGE"));
    assert_true(pub("backup", "$JS.SNAPSHOT.ACK.CC_EVENTS.abc.131072.1"));
    assert_false(pub("backup", "cc.evt.user.registered"));
    assert_false(pub("backup", "cc.judge.job"));
    assert_false(pub("backup", "cc.rpc.user.Login"));
    assert_false(pub("backup", "$JS.API.STREAM.PURGE.CC_EVENTS"));
    assert_false(pub("backup", "$JS.API.STREAM.UPDATE.CC_EVENTS"));
    assert_false(pub("backup", "$JS.API.CONSUMER.MSG.NEXT.CC_JUDGE.judges"));
    assert_false(sub("backup", "cc.evt.>"));
}

static void read_models_keep_to_their_own(void **state)
{
    assert_true(pub("contest-reader", "$JS.API.CONSUMER.DELETE.CC_EVENTS.contest"));
    assert_true(pub("contest-reader", "$JS.API.CONSUMER.DURABLE.CREATE.CC_EVENTS.contest"));
    assert_true(pub("contest-reader", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.contest"));
    assert_false(pub("contest-reader", "$JS.API.CONSUMER.DELETE.CC_EVENTS.stats"));
    assert_false(pub("contest-reader", "$JS.API.CONSUMER.DELETE.CC_EVENTS.notify"));
    assert_false(pub("contest-reader", "cc.evt.contest.updated"));
    assert_false(pub("contest", "$JS.API.CONSUMER.DELETE.CC_EVENTS.contest"));
    assert_false(pub("contest", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.contest"));
    assert_true(pub("stats-reader", "$JS.API.CONSUMER.DELETE.CC_EVENTS.stats"));
    assert_false(pub("stats-reader", "$JS.API.CONSUMER.DELETE.CC_EVENTS.contest"));
    assert_false(sub("contest-reader", "cc.rpc.contest-reader.Ping"));
    assert_true(sub("contest-reader", "_INBOX.contest-reader.NUID.1"));
    assert_false(sub("contest", "_INBOX.contest-reader.NUID.1"));
    assert_false(pub("kafka-bridge", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.contest"));
    assert_false(pub("kafka-bridge", "$JS.API.CONSUMER.MSG.NEXT.CC_EVENTS.stats"));
    assert_true(pub("contest", "cc.evt.contest.updated"));
    assert_true(pub("contest", "cc.live.contest.icpc1.jury"));
    assert_false(pub("contest", "cc.live.user.42"));
    assert_false(pub("contest", "cc.evt.submission.judged"));
    assert_true(pub("stats", "cc.evt.stats.problem_suggested"));
    assert_false(pub("stats", "cc.evt.contest.updated"));
    /* Only cc-submission asks whether a user may submit in a contest. */
    for (size_t i = 0; i < NSERVICES; i++)
        assert_int_equal(pub(services[i], "cc.rpc.contest.submission.CheckSubmission"),
                         !strcmp(services[i], "submission"));
    assert_true(sub("gateway", "cc.live.contest.icpc1.jury"));
    assert_false(sub("contest", "cc.live.contest.icpc1"));
}

/* Each aggregate's events come from their owner (and verdicts from the
 * judge); principal-bearing calls to a user's methods from the gateway. */
static void events_and_calls_have_one_author(void **state)
{
    static const struct {
        const char *subject;
        const char *may[3];
    } rules[] = {
        {"cc.evt.user.registered", {"user"}},
        {"cc.evt.problem.created", {"problem"}},
        {"cc.evt.submission.rejudged", {"submission"}},
        {"cc.evt.submission.judged", {"submission", "judge"}},
        {"cc.judge.job", {"submission"}},
        {"cc.live.user.42", {"submission", "notify"}},
        {"cc.rpc.user.Login", {"gateway"}},
        {"cc.rpc.user.GetUserContact", {"gateway", "notify"}},
        {"cc.rpc.problem.DeleteProblem", {"gateway"}},
        {"cc.rpc.problem.GetVersionManifest", {"gateway", "submission"}},
        {"cc.rpc.submission.Submit", {"gateway"}},
        {"cc.rpc.notify.MarkRead", {"gateway"}},
    };
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
        for (size_t i = 0; i < NSERVICES; i++) {
            bool expected = false;
            for (size_t k = 0; k < 3 && rules[r].may[k]; k++)
                expected = expected || strcmp(rules[r].may[k], services[i]) == 0;
            if (pub(services[i], rules[r].subject) != expected)
                fail_msg("%s %s publish %s", services[i], expected ? "should" : "may not",
                         rules[r].subject);
        }
    assert_true(sub("gateway", "cc.live.user.42"));
    for (size_t i = 1; i < NSERVICES; i++)
        assert_false(sub(services[i], "cc.live.user.42"));
}

static void streams_are_declared_by_their_owners(void **state)
{
    static const char *const apis[] = {"STREAM.CREATE", "STREAM.UPDATE"};
    static const char *const streams[] = {"CC_EVENTS", "CC_JUDGE", "CC_JUDGE_DEAD"};
    for (size_t i = 0; i < NSERVICES; i++) {
        const cc_mesh_service *r = row(services[i]);
        for (size_t s = 0; s < 3; s++) {
            bool declares = false;
            for (const char *const *d = r->declares; d && *d; d++)
                declares = declares || strcmp(*d, streams[s]) == 0;
            for (size_t a = 0; a < 2; a++) {
                char subject[100];
                snprintf(subject, sizeof subject, "$JS.API.%s.%s", apis[a], streams[s]);
                assert_int_equal(pub(services[i], subject), declares);
            }
            /* Nobody deletes, purges or reads a stream whole; but the
             * operator's backup reads each one's state and, to restore
             * it, deletes the empty one a service declared. */
            const char *never[] = {"STREAM.PURGE", "STREAM.LIST", "CONSUMER.DELETE",
                                   "STREAM.DELETE", "STREAM.INFO"};
            size_t nnever = strcmp(services[i], "backup") == 0 ? 3 : 5;
            for (size_t k = 0; k < nnever; k++) {
                char subject[100];
                snprintf(subject, sizeof subject, "$JS.API.%s.%s.x", never[k], streams[s]);
                assert_false(pub(services[i], subject));
                snprintf(subject, sizeof subject, "$JS.API.%s.%s", never[k], streams[s]);
                assert_false(pub(services[i], subject));
            }
        }
        assert_false(pub(services[i], "$JS.API.STREAM.CREATE.ANYTHING"));
    }
    /* The judge, the gateway and the bridge declare nothing. */
    assert_null(row("judge")->declares);
    assert_null(row("gateway")->declares);
    assert_null(row("kafka-bridge")->declares);
}

static const char *pw(const char *service, void *ud)
{
    return strcmp(service, "judge") == 0 ? ud : "0123abcd";
}

static void rendering(void **state)
{
    char *k8s = cc_mesh_nats_authorization(true, NULL, NULL);
    assert_non_null(k8s);
    assert_non_null(strstr(k8s, "{ user: \"cc-kafka-bridge\", password: "
                                "$CC_NATS_PASSWORD_KAFKA_BRIDGE, permissions: {"));
    assert_non_null(strstr(k8s, "\"cc.rpc.problem.judge.GetBlob\""));
    assert_non_null(strstr(k8s, "allow_responses: { max: 1, expires: \"10m\" }"));
    assert_non_null(strstr(k8s, "deny: ["));
    assert_null(strstr(k8s, "cc-admin")); /* never in Kubernetes */
    assert_null(strstr(k8s, "\"_INBOX.>\""));
    assert_null(strstr(k8s, "\"$JS.API.>\""));
    free(k8s);

    char *local = cc_mesh_nats_authorization(false, pw, "feed");
    assert_non_null(local);
    assert_non_null(strstr(local, "{ user: \"cc-judge\", password: \"feed\", permissions: {"));
    assert_non_null(strstr(local, "{ user: \"cc-admin\", password: \"0123abcd\""));
    assert_null(strstr(local, "$CC_NATS_PASSWORD"));
    free(local);
    /* A password the configuration could not quote is refused. */
    assert_null(cc_mesh_nats_authorization(false, pw, "a\"b"));
    assert_int_equal(cc_err_last(), CC_INVALID);
}

/* Test actors get their user's password in --nats-url: logs show the URL
 * without it. */
static void urls_are_logged_without_passwords(void **state)
{
    char out[256];
    cc_bus_redact_url("nats://cc-user:0123abcd@127.0.0.1:4222", out, sizeof out);
    assert_string_equal(out, "nats://cc-user:***@127.0.0.1:4222");
    cc_bus_redact_url("nats://a:1@h1:4222,nats://h2:4222,nats://tok@h3:4222", out, sizeof out);
    assert_string_equal(out, "nats://a:***@h1:4222,nats://h2:4222,nats://***@h3:4222");
    cc_bus_redact_url("nats://127.0.0.1:4222", out, sizeof out);
    assert_string_equal(out, "nats://127.0.0.1:4222");
    cc_bus_redact_url("nats://cc-user:0123abcd@127.0.0.1:4222", out, 12);
    assert_string_equal(out, "nats://cc-u");
    assert_null(strstr(out, "0123"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matching),
        cmocka_unit_test(names),
        cmocka_unit_test(the_backup_user_only_snapshots),
        cmocka_unit_test(read_models_keep_to_their_own),
        cmocka_unit_test(inboxes_are_private),
        cmocka_unit_test(caller_scoped_subjects_belong_to_their_caller),
        cmocka_unit_test(the_judge_does_only_its_work),
        cmocka_unit_test(the_kafka_bridge_stays_in_its_lane),
        cmocka_unit_test(events_and_calls_have_one_author),
        cmocka_unit_test(streams_are_declared_by_their_owners),
        cmocka_unit_test(rendering),
        cmocka_unit_test(urls_are_logged_without_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
