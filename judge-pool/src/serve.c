/* cc-judge serve: the mesh worker, as an actor. On the loop: the durable
 * pull consumer "judges" on CC_JUDGE (at most `concurrency` jobs at once),
 * in-progress acks, progress and result events, GetBlob calls on behalf of
 * the job threads, the dead letters (jobs the server stopped delivering,
 * kept as advisories in CC_JUDGE_DEAD) turned into IE results, and the
 * queue gauges read from the consumer's info. The judging runs on one
 * thread per job (serve_work.c); threads talk to the loop only through
 * serve__post.
 *
 * A job is acked only once CC_EVENTS has stored its result, so a worker
 * that dies at any point leaves the job to be redelivered; the result's
 * Nats-Msg-Id is the same on every delivery, so the stream keeps one. */
#include "serve.h"

#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc/log.h"
#include "cc/text.h"
#include "codecourt/v1/user.pb-c.h"

#ifndef JUDGE_LANGUAGES_FILE
#define JUDGE_LANGUAGES_FILE "languages.yaml"
#endif

/* The judge's subjects; its NATS user may publish the last two and ask
 * cc-problem for test data, nothing else (cc/mesh.h). */
#define JOB_SUBJECT "cc.judge.job"
#define PROGRESS_SUBJECT "cc.evt.submission.progress"
#define RESULT_SUBJECT "cc.evt.submission.judged"
#define DURABLE CC_JUDGE_CONSUMER
/* The stream that keeps the max-deliveries advisories until a judge has
 * turned their jobs into IE results, and the judges' consumer on it.
 * cc-submission declares it (with CC_JUDGE): the judge's NATS user may
 * create no stream. */
#define DEAD_STREAM CC_STREAM_JUDGE_DEAD
/* Longer than the worst handling of one advisory (a 5 s read, a publish
 * with every retry, a 5 s delete), so a live worker keeps it. */
#define DEAD_ACK_WAIT_MS 60000
#define DEAD_INFLIGHT 4

static serve_settings cfg;

#define S(field) offsetof(serve_settings, field)
static const cc_config_row rows[] = {
    {"concurrency", CC_CFG_INT, S(concurrency), "0", 0, 256, NULL,
     "jobs judged at once (0: the number of cores)"},
    {"judge-cache", CC_CFG_STRING, S(cache_dir), "/var/cache/cc-judge", 0, 0, NULL,
     "folder of the test data cache (blobs by SHA-256) and the job folders"},
    {"ack-wait", CC_CFG_DURATION, S(ack_wait_ms), "30s", 300, 3600000, NULL,
     "ack wait of the judges consumer; in-progress acks go every third of it"},
    {"max-deliver", CC_CFG_INT, S(max_deliver), "5", 1, 1000, NULL,
     "deliveries of a job before it becomes an IE result"},
    {"blob-chunk", CC_CFG_SIZE, S(blob_chunk), "1M", 256, 64 << 20, NULL,
     "bytes asked per GetBlob call"},
    {"blob-max", CC_CFG_SIZE, S(blob_max), "1G", 1024, (int64_t)1 << 40, NULL,
     "largest test data file accepted"},
    {"blob-timeout", CC_CFG_DURATION, S(blob_timeout_ms), "10s", 100, 600000, NULL,
     "timeout of one GetBlob call"},
    {"retry-delay", CC_CFG_DURATION, S(retry_delay_ms), "5s", 0, 3600000, NULL,
     "delay before a job is retried when test data cannot be fetched or the result not stored"},
    {"queue-poll", CC_CFG_DURATION, S(queue_poll_ms), "2s", 0, 3600000, NULL,
     "how often cc_judge_queue_pending is read from the judges consumer (0: never)"},
    {"judge-languages", CC_CFG_STRING, S(languages), JUDGE_LANGUAGES_FILE, 0, 0, NULL,
     "language table (YAML)"},
    {"sandbox-strict", CC_CFG_BOOL, S(strict), "false", 0, 0, NULL,
     "refuse to start without a writable cgroup for the sandboxes, instead of falling back to "
     "rlimits (on in the Kubernetes manifests)"},
    {"judge-name", CC_CFG_STRING, S(judge_name), "", 0, 0, NULL,
     "name of this worker in results and the fleet registry (empty: <hostname>-<pid>)"},
    {"heartbeat", CC_CFG_DURATION, S(heartbeat_ms), "5s", 100, 600000, NULL,
     "how often the worker writes its status to the registry (CC_JUDGES); silent for three, "
     "it is listed as gone"},
    {"max-time-limit", CC_CFG_DURATION, S(max_time_limit_ms), "30s", 100, 3600000, NULL,
     "largest time limit per test a package may set (a larger one is lowered to it)"},
    {"max-memory", CC_CFG_SIZE, S(max_memory), "2G", 16 << 20, (int64_t)1 << 40, NULL,
     "largest memory limit a package may set for runs, compilations and validators"},
    {"max-compile-time", CC_CFG_DURATION, S(max_compile_time_ms), "60s", 1000, 3600000, NULL,
     "largest compilation time a package may set"},
    {"max-validation-time", CC_CFG_DURATION, S(max_validation_time_ms), "60s", 1000, 3600000,
     NULL, "largest validation time (output validator, per test) a package may set"},
};
#undef S

/* ---- metrics ---------------------------------------------------------------------- */

static cc_counter *verdict_counter(const char *verdict)
{
    char labels[64];
    snprintf(labels, sizeof labels, "verdict=\"%s\"", verdict);
    return cc_metrics_counter("cc_judge_jobs_total", "Jobs judged, by overall verdict", labels);
}

/* ---- the thread/loop queue ------------------------------------------------------------ */

bool serve__post(serve *sv, serve_ev *ev)
{
    ev->next = NULL;
    pthread_mutex_lock(&sv->qmu);
    if (sv->closing) {
        pthread_mutex_unlock(&sv->qmu);
        return false;
    }
    if (sv->qtail)
        sv->qtail->next = ev;
    else
        sv->qhead = ev;
    sv->qtail = ev;
    pthread_mutex_unlock(&sv->qmu);
    uv_async_send(&sv->wake);
    return true;
}

static serve_ev *take_events(serve *sv, bool close)
{
    pthread_mutex_lock(&sv->qmu);
    serve_ev *ev = sv->qhead;
    sv->qhead = sv->qtail = NULL;
    if (close)
        sv->closing = true;
    pthread_mutex_unlock(&sv->qmu);
    return ev;
}

/* ---- GetBlob on behalf of a thread ----------------------------------------------------- */

/* One GetBlob call in flight. The thread's serve_fetch may go away when
 * the worker stops (the thread is told CC_CLOSED then), so the callback
 * reaches it only through the ticket, which outlives both. */
typedef struct serve_ticket {
    serve *sv; /* NULL once detached by stop */
    serve_job *job;
    serve_fetch *fetch;
    struct serve_ticket *prev, *next;
} serve_ticket;

static void complete_fetch(serve_job *j, serve_fetch *f, cc_status s, const char *err,
                           const Codecourt__V1__GetBlobReply *rep)
{
    pthread_mutex_lock(&j->mu);
    f->s = s;
    if (err)
        snprintf(f->err, sizeof f->err, "%s", err);
    if (s == CC_OK && rep) {
        f->len = rep->data.len;
        f->data = malloc(f->len ? f->len : 1);
        if (!f->data) {
            f->s = CC_NOMEM;
            snprintf(f->err, sizeof f->err, "out of memory");
        } else if (f->len) {
            memcpy(f->data, rep->data.data, f->len);
        }
        f->total_size = rep->total_size;
        f->eof = rep->eof;
    }
    f->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void ticket_unlink(serve_ticket *t)
{
    if (!t->sv)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        t->sv->tickets = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->sv = NULL;
}

static void on_blob(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    serve_ticket *t = ud;
    if (t->fetch)
        complete_fetch(t->job, t->fetch, s, errmsg ? errmsg : cc_status_str(s),
                       (const Codecourt__V1__GetBlobReply *)resp);
    ticket_unlink(t);
    free(t);
}

static void start_fetch(serve *sv, serve_job *j, serve_fetch *f)
{
    serve_ticket *t = calloc(1, sizeof *t);
    if (!t) {
        complete_fetch(j, f, CC_NOMEM, "out of memory", NULL);
        return;
    }
    t->sv = sv;
    t->job = j;
    t->fetch = f;
    t->next = sv->tickets;
    if (sv->tickets)
        sv->tickets->prev = t;
    sv->tickets = t;
    Codecourt__V1__GetBlobRequest req = CODECOURT__V1__GET_BLOB_REQUEST__INIT;
    req.sha256 = f->sha256;
    req.offset = f->offset;
    req.max_bytes = f->max_bytes;
    cc_envelope env;
    cc_envelope_child(&env, &j->env, NULL);
    cc_counter_inc(sv->blob_calls);
    /* As the judge itself (cc.rpc.problem.judge.GetBlob, which only the
     * judge's NATS user may publish): cc-problem lets judges read any test
     * data and nobody else who comes without a principal. */
    cc_status s = cc_rpc_call_as_service_async(
        cc_actor_bus(sv->actor), "problem", "GetBlob", &env, &req.base,
        &codecourt__v1__get_blob_reply__descriptor, sv->cfg->blob_timeout_ms, on_blob, t);
    if (s != CC_OK) {
        ticket_unlink(t);
        free(t);
        complete_fetch(j, f, s, cc_err_msg(), NULL);
    }
}

/* ---- jobs ----------------------------------------------------------------------------- */

static void wpi_closed(uv_handle_t *h)
{
    free(h);
}

static void job_unlink(serve_job *j)
{
    serve *sv = j->sv;
    if (!sv)
        return;
    if (j->prev)
        j->prev->next = j->next;
    else
        sv->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    sv->njobs--;
    cc_gauge_set(sv->inflight, sv->njobs);
    j->sv = NULL;
    serve__fleet_changed(sv);
}

static void job_free(serve_job *j)
{
    job_unlink(j);
    uv_timer_stop(j->wpi);
    uv_close((uv_handle_t *)j->wpi, wpi_closed);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->raw);
    free(j->result);
    free(j);
}

static void on_wpi(uv_timer_t *t)
{
    serve_job *j = t->data;
    /* Tells the server the job is still being judged, so its ack wait
     * starts again and it is not redelivered to another worker. */
    if (j->m)
        cc_js_in_progress(j->m);
}

static void on_result_stored(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    serve_job *j = ud;
    if (!j->m) {
        /* The worker stopped meanwhile and the runtime handed the job
         * back: whoever gets it publishes the same result id. */
        job_free(j);
        return;
    }
    double secs = (double)(cc_now_ns() - j->start_ns) / 1e9;
    if (s == CC_OK) {
        cc_js_ack(j->m);
        j->m = NULL;
        cc_counter_inc(verdict_counter(j->verdict));
        if (j->sv) {
            cc_histogram_observe(j->sv->duration, secs);
            j->sv->jobs_done++;
        }
        cc_log(CC_LOG_INFO, &j->env, "judged", "{s:s, s:s, s:I, s:b, s:f}", "result_id",
               j->result_id, "verdict", j->verdict, "stream_seq", (json_int_t)ack->seq,
               "duplicate", ack->duplicate, "seconds", secs);
    } else {
        /* Not acked means the job is judged again later; that is better
         * than a result nobody stored. */
        cc_log(CC_LOG_ERROR, &j->env, "cannot store the result, job handed back",
               "{s:s, s:s}", "result_id", j->result_id, "error", errmsg ? errmsg : "");
        cc_js_nak(j->m, j->sv ? j->sv->cfg->retry_delay_ms : 0);
        j->m = NULL;
    }
    job_free(j);
}

/* A custom run's answer reached cc-submission (or could not). A run is
 * worth no retry of its own: its user is waiting now, and a job handed
 * back is run again by whichever judge takes it. */
static void on_run_finished(cc_status s, const char *errmsg, const ProtobufCMessage *resp,
                            void *ud)
{
    (void)resp;
    serve_job *j = ud;
    if (!j->m) {
        job_free(j);
        return;
    }
    if (s == CC_OK || j->last_delivery) {
        cc_js_ack(j->m);
        cc_counter_inc(verdict_counter(j->verdict));
        if (j->sv)
            j->sv->jobs_done++;
        cc_log(s == CC_OK ? CC_LOG_INFO : CC_LOG_ERROR, &j->env,
               s == CC_OK ? "run done" : "run answer lost", "{s:s, s:s, s:s}", "run",
               j->result_id, "verdict", j->verdict, "error", errmsg ? errmsg : "");
    } else {
        cc_log(CC_LOG_WARN, &j->env, "cannot hand the run's answer over, job handed back",
               "{s:s, s:s}", "run", j->result_id, "error", errmsg ? errmsg : cc_status_str(s));
        cc_js_nak(j->m, j->sv ? j->sv->cfg->retry_delay_ms : 0);
    }
    j->m = NULL;
    job_free(j);
}

static void finish_run(serve *sv, serve_job *j)
{
    Codecourt__V1__RunResult *r = (Codecourt__V1__RunResult *)protobuf_c_message_unpack(
        &codecourt__v1__run_result__descriptor, NULL, j->result_len, j->result);
    cc_status s = CC_NOMEM;
    if (r) {
        cc_envelope env;
        cc_envelope_child(&env, &j->env, NULL);
        j->publishing = true;
        /* As the judge itself: cc.rpc.submission.judge.FinishRun, which only
         * the judge's NATS user may publish. */
        s = cc_rpc_call_as_service_async(cc_actor_bus(sv->actor), "submission", "FinishRun", &env,
                                         &r->base, &codecourt__v1__empty__descriptor,
                                         cc_actor_runtime(sv->actor)->rpc_timeout_ms,
                                         on_run_finished, j);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    if (s != CC_OK) {
        j->publishing = false;
        cc_js_nak(j->m, sv->cfg->retry_delay_ms);
        j->m = NULL;
        job_free(j);
    }
}

static void job_finished(serve *sv, serve_job *j)
{
    if (j->th_running) {
        /* The thread posted DONE as its last act: this join is short. */
        pthread_join(j->th, NULL);
        j->th_running = false;
    }
    if (!j->m) {
        job_free(j);
        return;
    }
    switch (j->outcome) {
    case SERVE_OUT_RESULT: {
        j->publishing = true;
        cc_status s = cc_js_publish(cc_actor_bus(sv->actor), RESULT_SUBJECT, j->result_id, &j->env,
                                    "codecourt.v1.JudgeResult", j->result, j->result_len, NULL,
                                    on_result_stored, j);
        if (s != CC_OK) {
            cc_log(CC_LOG_ERROR, &j->env, "cannot publish the result, job handed back",
                   "{s:s, s:s}", "result_id", j->result_id, "error", cc_err_msg());
            cc_js_nak(j->m, sv->cfg->retry_delay_ms);
            j->m = NULL;
            job_free(j);
        }
        return;
    }
    case SERVE_OUT_RUN:
        finish_run(sv, j);
        return;
    case SERVE_OUT_RETRY:
        cc_log(CC_LOG_WARN, &j->env, "job handed back for a retry", "{s:s, s:I}", "reason",
               j->reason, "delivered", (json_int_t)j->delivered);
        cc_js_nak(j->m, sv->cfg->retry_delay_ms);
        break;
    case SERVE_OUT_DROP:
        cc_js_nak(j->m, 0);
        break;
    }
    j->m = NULL;
    job_free(j);
}

static void on_wake(uv_async_t *h)
{
    serve *sv = h->data;
    serve_ev *ev = take_events(sv, false);
    while (ev) {
        serve_ev *next = ev->next;
        serve_job *j = ev->job;
        switch (ev->kind) {
        case SERVE_EV_FETCH:
            start_fetch(sv, j, ev->fetch);
            break;
        case SERVE_EV_PROGRESS:
            if (j->m) {
                cc_envelope env;
                cc_envelope_child(&env, &j->env, NULL);
                (void)cc_envelope_set_aggregate(&env, j->env.aggregate_id);
                /* Best effort with retries; a lost progress event costs
                 * only a late progress bar, so nobody waits for its ack. */
                if (cc_js_publish(cc_actor_bus(sv->actor), PROGRESS_SUBJECT, ev->msg_id, &env,
                                  "codecourt.v1.JudgeProgress", ev->data, ev->len, NULL, NULL,
                                  NULL) != CC_OK)
                    cc_log(CC_LOG_WARN, &j->env, "cannot publish progress", "{s:s}", "error",
                           cc_err_msg());
            }
            free(ev->data);
            break;
        case SERVE_EV_DONE:
            job_finished(sv, j);
            break;
        }
        free(ev);
        ev = next;
    }
}

static void on_job(cc_js_msg *m, void *ud)
{
    serve *sv = ud;
    if (sv->closing) {
        cc_js_nak(m, 0);
        return;
    }
    serve_job *j = calloc(1, sizeof *j);
    size_t len = cc_js_msg_len(m);
    uint8_t *raw = malloc(len ? len : 1);
    uv_timer_t *wpi = malloc(sizeof *wpi);
    if (!j || !raw || !wpi) {
        free(j);
        free(raw);
        free(wpi);
        cc_js_nak(m, sv->cfg->retry_delay_ms);
        return;
    }
    j->sv = sv;
    j->m = m;
    j->env = *cc_js_msg_envelope(m);
    j->raw = raw;
    j->wpi = wpi;
    j->rawlen = len;
    if (len)
        memcpy(raw, cc_js_msg_data(m), len);
    snprintf(j->job_msg_id, sizeof j->job_msg_id, "%s", cc_js_msg_id(m));
    /* cc-submission names the submission (or run) as the job's aggregate. */
    snprintf(j->subject_id, sizeof j->subject_id, "%.64s",
             j->env.aggregate_id[0] ? j->env.aggregate_id : j->job_msg_id);
    j->sseq = cc_js_msg_stream_seq(m);
    j->delivered = cc_js_msg_delivered(m);
    j->last_delivery = j->delivered >= (uint64_t)sv->cfg->max_deliver;
    j->start_ns = cc_now_ns();
    atomic_init(&j->cancel, false);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    uv_timer_init(cc_actor_loop(sv->actor), j->wpi);
    j->wpi->data = j;
    uint64_t every = (uint64_t)sv->cfg->ack_wait_ms / 3;
    uv_timer_start(j->wpi, on_wpi, every ? every : 1, every ? every : 1);
    j->next = sv->jobs;
    if (sv->jobs)
        sv->jobs->prev = j;
    sv->jobs = j;
    sv->njobs++;
    cc_gauge_set(sv->inflight, sv->njobs);
    cc_log(CC_LOG_INFO, &j->env, "job taken", "{s:s, s:I, s:I}", "msg_id", j->job_msg_id,
           "stream_seq", (json_int_t)j->sseq, "delivered", (json_int_t)j->delivered);
    serve__fleet_changed(sv);
    int rc = pthread_create(&j->th, NULL, serve__job_main, j);
    if (rc != 0) {
        cc_log(CC_LOG_ERROR, &j->env, "cannot start a judging thread, job handed back", "{s:s}",
               "error", strerror(rc));
        cc_js_nak(m, sv->cfg->retry_delay_ms);
        j->m = NULL;
        job_free(j);
        return;
    }
    j->th_running = true;
}

/* Tells cc-submission that job j of this worker went back to the queue
 * (stage "requeued"), so the submission reads queued again until a judge
 * starts it. One event per delivery. */
static void announce_requeued(serve *sv, serve_job *j)
{
    Codecourt__V1__JudgeJob *job = (Codecourt__V1__JudgeJob *)protobuf_c_message_unpack(
        &codecourt__v1__judge_job__descriptor, NULL, j->rawlen, j->raw);
    if (!job)
        return;
    if (!job->kind[0] && serve__id_ok(job->submission_id)) {
        Codecourt__V1__JudgeProgress pr = CODECOURT__V1__JUDGE_PROGRESS__INIT;
        pr.submission_id = job->submission_id;
        pr.attempt = job->attempt;
        pr.user_id = job->user_id;
        pr.stage = "requeued";
        pr.judge = sv->judge_name;
        uint8_t buf[512];
        size_t len = protobuf_c_message_get_packed_size(&pr.base);
        char id[200];
        snprintf(id, sizeof id, "progress-%s-%" PRIu32 "-requeued-%" PRIu64, job->submission_id,
                 job->attempt, j->delivered);
        if (len <= sizeof buf) {
            protobuf_c_message_pack(&pr.base, buf);
            cc_envelope env;
            cc_envelope_child(&env, &j->env, NULL);
            (void)cc_envelope_set_aggregate(&env, j->env.aggregate_id);
            if (cc_js_publish(cc_actor_bus(sv->actor), PROGRESS_SUBJECT, id, &env,
                              "codecourt.v1.JudgeProgress", buf, len, NULL, NULL, NULL) != CC_OK)
                cc_log(CC_LOG_WARN, &j->env, "cannot publish progress", "{s:s}", "error",
                       cc_err_msg());
        }
    }
    protobuf_c_message_free_unpacked(&job->base, NULL);
}

void serve__hand_back_jobs(serve *sv)
{
    int n = 0;
    for (serve_job *j = sv->jobs; j; j = j->next) {
        /* A job whose result is being stored is done: it stays. */
        if (!j->m || j->publishing)
            continue;
        cc_js_nak(j->m, 0);
        j->m = NULL;
        atomic_store(&j->cancel, true);
        announce_requeued(sv, j);
        n++;
    }
    if (n)
        cc_log(CC_LOG_INFO, NULL, "jobs handed back to the queue", "{s:i}", "jobs", n);
}

/* ---- dead letters: jobs past max deliveries ---------------------------------------------- */

/* A job delivered max-deliver times without an ack is not delivered again:
 * the server leaves it in CC_JUDGE (a work queue drops only what is acked)
 * and publishes a max-deliveries advisory, once, on core NATS. A plain
 * subscription would miss that advisory whenever no judge is connected at
 * the moment (all of them died, a rollout) or the judge that got it fails
 * half way, and the job would then never end. So a stream, CC_JUDGE_DEAD,
 * captures the advisories, and the judges share a durable pull consumer on
 * it: an advisory is acked only once its job's IE result is stored and the
 * job deleted, and is handed back (retried after retry-delay) when a step
 * fails. Every step can be repeated: the result id is the job's, so the
 * stream keeps one result, and a job already deleted means the work was
 * done.
 *
 * A periodic sweep of CC_JUDGE cannot do this on nats-server 2.9: the
 * server drops a dead job from the consumer's pending set and the consumer
 * info gives only counts and floors, so a dead job cannot be told from one
 * still being judged (kept alive by +WPI for as long as it runs) except by
 * guessing from its age. */

struct serve_dead {
    serve *sv;    /* NULL once stop detached it */
    cc_js_msg *m; /* the advisory; NULL once stop detached it */
    cc_bus *b;
    uint64_t seq; /* the job's sequence in CC_JUDGE */
    int64_t deliveries;
    int64_t retry_delay_ms;
    char judge_name[128];
    char result_id[200];
    serve_dead *prev, *next;
};

/* Ends the handling of one advisory: acked when done, else handed back
 * for a later retry. */
static void dead_end(serve_dead *d, bool done)
{
    if (d->m) {
        if (done)
            cc_js_ack(d->m);
        else
            cc_js_nak(d->m, d->retry_delay_ms);
    }
    if (d->sv) {
        if (d->prev)
            d->prev->next = d->next;
        else
            d->sv->dead = d->next;
        if (d->next)
            d->next->prev = d->prev;
    }
    free(d);
}

/* The JetStream API's error code in a reply ({"error":{"code":404...}}),
 * 0 when there is none. */
static json_int_t api_error_code(json_t *o, const char **desc)
{
    json_t *err = o ? json_object_get(o, "error") : NULL;
    if (desc)
        *desc = err ? json_string_value(json_object_get(err, "description")) : NULL;
    return err ? json_integer_value(json_object_get(err, "code")) : 0;
}

static void on_dead_deleted(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    serve_dead *d = ud;
    json_t *o = cc_js_api_reply(s, reply);
    const char *desc = NULL;
    json_int_t code = api_error_code(o, &desc);
    /* Gone already means another attempt deleted it: nats-server 2.9
     * says so with a 500 "no message found". Any other failure retries,
     * and a retry that finds the job gone (MSG.GET 404) ends there. */
    bool gone = code == 404 || (desc && !strcmp(desc, "no message found"));
    bool done = s == CC_OK && (json_is_true(json_object_get(o, "success")) || gone);
    cc_log(done ? CC_LOG_INFO : CC_LOG_WARN, NULL,
           done ? "dead job removed from the queue" : "cannot remove a dead job, will retry",
           "{s:I, s:s, s:s, s:s}", "stream_seq", (json_int_t)d->seq, "result_id", d->result_id,
           "status", cc_status_name(s), "error", desc ? desc : "");
    json_decref(o);
    dead_end(d, done);
}

static void on_dead_stored(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    serve_dead *d = ud;
    if (s != CC_OK) {
        /* The job stays in the stream and the advisory comes back after
         * retry-delay. */
        cc_log(CC_LOG_ERROR, NULL, "cannot store the IE result of a dead job, will retry",
               "{s:I, s:s}", "stream_seq", (json_int_t)d->seq, "error", errmsg ? errmsg : "");
        dead_end(d, false);
        return;
    }
    if (!ack->duplicate)
        cc_counter_inc(verdict_counter("IE"));
    /* Deleted only now that its result is stored: never lost, and gone
     * so that nothing retries it forever. */
    char body[64];
    int n = snprintf(body, sizeof body, "{\"seq\":%" PRIu64 "}", d->seq);
    if (cc_bus_request(d->b, "$JS.API.STREAM.MSG.DELETE." CC_STREAM_JUDGE, NULL, NULL, NULL, body,
                       (size_t)n, 5000, on_dead_deleted, d) != CC_OK)
        dead_end(d, false);
}

static void on_dead_msg(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    serve_dead *d = ud;
    json_t *o = cc_js_api_reply(s, reply);
    cc_js_stored stored;
    if (!cc_js_stored_from(o, &stored)) {
        cc_js_stored_clear(&stored);
        const char *desc = NULL;
        json_int_t code = api_error_code(o, &desc);
        /* 404: the job is gone, so an earlier attempt (here or on another
         * worker) finished it. Anything else (a timeout, JetStream not
         * answering) is worth another try. */
        bool gone = s == CC_OK && code == 404;
        cc_log(gone ? CC_LOG_INFO : CC_LOG_WARN, NULL,
               gone ? "dead job already finished" : "cannot read a dead job, will retry",
               "{s:I, s:s, s:s}", "stream_seq", (json_int_t)d->seq, "status", cc_status_name(s),
               "error", desc ? desc : "");
        json_decref(o);
        dead_end(d, gone);
        return;
    }
    const char *msg_id = stored.msg_id;
    Codecourt__V1__JudgeJob *job =
        stored.len ? (Codecourt__V1__JudgeJob *)protobuf_c_message_unpack(
                         &codecourt__v1__judge_job__descriptor, NULL, stored.len, stored.data)
                   : NULL;
    char reason[256];
    snprintf(reason, sizeof reason,
             "the job was delivered %" PRId64 " times without a result (every attempt failed, "
             "timed out or lost its worker)",
             d->deliveries);
    uint8_t *out = NULL;
    size_t olen = 0;
    serve__ie_pack(d->judge_name, job, msg_id, d->seq, reason, &out, &olen, d->result_id,
                   sizeof d->result_id);
    cc_log(CC_LOG_WARN, NULL, "dead job becomes IE", "{s:I, s:s, s:s}", "stream_seq",
           (json_int_t)d->seq, "msg_id", msg_id, "result_id", d->result_id);
    cc_envelope env;
    cc_envelope_new(&env, NULL);
    (void)cc_envelope_set_aggregate(&env, job ? job->submission_id : NULL);
    s = cc_js_publish(b, RESULT_SUBJECT, d->result_id, &env, "codecourt.v1.JudgeResult", out, olen,
                      NULL, on_dead_stored, d);
    if (job)
        protobuf_c_message_free_unpacked(&job->base, NULL);
    free(out);
    cc_js_stored_clear(&stored);
    json_decref(o);
    if (s != CC_OK)
        dead_end(d, false);
}

static void on_advisory(cc_js_msg *m, void *ud)
{
    serve *sv = ud;
    json_t *o = json_loadb(cc_js_msg_data(m), cc_js_msg_len(m), 0, NULL);
    json_t *seq = o ? json_object_get(o, "stream_seq") : NULL;
    if (!json_is_integer(seq) || json_integer_value(seq) <= 0) {
        /* No retry can make it readable. */
        cc_log(CC_LOG_WARN, NULL, "unreadable max-deliveries advisory, dropped", "{s:I}",
               "advisory_seq", (json_int_t)cc_js_msg_stream_seq(m));
        json_decref(o);
        cc_js_term(m);
        return;
    }
    serve_dead *d = calloc(1, sizeof *d);
    if (!d) {
        json_decref(o);
        cc_js_nak(m, sv->cfg->retry_delay_ms);
        return;
    }
    d->sv = sv;
    d->m = m;
    d->b = cc_actor_bus(sv->actor);
    d->seq = (uint64_t)json_integer_value(seq);
    d->deliveries = json_integer_value(json_object_get(o, "deliveries"));
    d->retry_delay_ms = sv->cfg->retry_delay_ms;
    snprintf(d->judge_name, sizeof d->judge_name, "%s", sv->judge_name);
    json_decref(o);
    d->next = sv->dead;
    if (sv->dead)
        sv->dead->prev = d;
    sv->dead = d;
    cc_log(CC_LOG_INFO, NULL, "max-deliveries advisory", "{s:I, s:I, s:I}", "stream_seq",
           (json_int_t)d->seq, "deliveries", (json_int_t)d->deliveries, "advisory_delivered",
           (json_int_t)cc_js_msg_delivered(m));
    char body[64];
    int n = snprintf(body, sizeof body, "{\"seq\":%" PRIu64 "}", d->seq);
    if (cc_bus_request(d->b, "$JS.API.STREAM.MSG.GET." CC_STREAM_JUDGE, NULL, NULL, NULL, body,
                       (size_t)n, 5000, on_dead_msg, d) != CC_OK)
        dead_end(d, false);
}

/* ---- the queue gauges ---------------------------------------------------------------- */

/* One $JS.API.CONSUMER.INFO request in flight; stop detaches it. */
struct serve_poll {
    serve *sv;
};

/* The oldest job not done yet is the first job message after the
 * consumer's ack floor (a work queue drops acked ones): its age, from the
 * time the stream stored it, is cc_judge_queue_oldest_seconds. */
static void on_oldest(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    serve_poll *p = ud;
    serve *sv = p->sv;
    free(p);
    json_t *o = cc_js_api_reply(sv ? s : CC_CLOSED, reply);
    if (!sv) {
        json_decref(o);
        return;
    }
    sv->poll = NULL;
    const char *at = json_string_value(json_object_get(json_object_get(o, "message"), "time"));
    int64_t t = 0;
    if (at && cc_rfc3339_parse(at, strlen(at), &t)) {
        int64_t age = (int64_t)time(NULL) - t;
        cc_gauge_set(sv->queue_oldest, age > 0 ? age : 0);
    } else if (json_object_get(o, "error")) {
        cc_gauge_set(sv->queue_oldest, 0); /* done meanwhile: none waits */
    }
    json_decref(o);
}

static void ask_oldest(serve *sv, uint64_t from_seq)
{
    serve_poll *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->sv = sv;
    sv->poll = p;
    char body[128];
    int n = snprintf(body, sizeof body, "{\"seq\":%" PRIu64 ",\"next_by_subj\":\"" JOB_SUBJECT "\"}",
                     from_seq);
    if (cc_bus_request(cc_actor_bus(sv->actor), "$JS.API.STREAM.MSG.GET." CC_STREAM_JUDGE, NULL,
                       NULL, NULL, body, (size_t)n, 5000, on_oldest, p) != CC_OK) {
        sv->poll = NULL;
        free(p);
    }
}

static void on_queue_info(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    serve_poll *p = ud;
    serve *sv = p->sv;
    free(p);
    json_t *o = cc_js_api_reply(sv ? s : CC_CLOSED, reply);
    if (!sv) {
        json_decref(o);
        return;
    }
    sv->poll = NULL;
    json_t *pending = o ? json_object_get(o, "num_pending") : NULL;
    json_t *ack_pending = o ? json_object_get(o, "num_ack_pending") : NULL;
    if (json_is_integer(pending) && json_is_integer(ack_pending)) {
        cc_gauge_set(sv->queue_pending, json_integer_value(pending));
        cc_gauge_set(sv->queue_ack_pending, json_integer_value(ack_pending));
        json_int_t floor = json_integer_value(
            json_object_get(json_object_get(o, "ack_floor"), "stream_seq"));
        if (json_integer_value(pending) + json_integer_value(ack_pending) > 0)
            ask_oldest(sv, (uint64_t)floor + 1);
        else
            cc_gauge_set(sv->queue_oldest, 0);
        if (sv->poll_failing)
            cc_log(CC_LOG_INFO, NULL, "judges consumer info readable again", NULL);
        sv->poll_failing = false;
    } else if (!sv->poll_failing) {
        /* Once per outage; the gauges keep their last values meanwhile. */
        sv->poll_failing = true;
        const char *desc = NULL;
        api_error_code(o, &desc);
        cc_log(CC_LOG_WARN, NULL, "cannot read the judges consumer info", "{s:s, s:s}", "status",
               cc_status_name(s), "error", desc ? desc : "");
    }
    json_decref(o);
}

static void on_queue_tick(uv_timer_t *t)
{
    serve *sv = t->data;
    if (sv->poll || sv->closing)
        return; /* the last one is still out: no pile-up on a slow server */
    serve_poll *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->sv = sv;
    sv->poll = p;
    if (cc_bus_request(cc_actor_bus(sv->actor),
                       "$JS.API.CONSUMER.INFO." CC_STREAM_JUDGE "." DURABLE, NULL, NULL, NULL, "",
                       0, 5000, on_queue_info, p) != CC_OK) {
        sv->poll = NULL;
        free(p);
    }
}

static void queue_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void queue_timer_end(serve *sv)
{
    if (!sv->queue_timer)
        return;
    uv_close((uv_handle_t *)sv->queue_timer, queue_timer_closed);
    sv->queue_timer = NULL;
    if (sv->poll) {
        sv->poll->sv = NULL; /* its callback frees it */
        sv->poll = NULL;
    }
}

/* ---- the actor ----------------------------------------------------------------------- */

typedef struct {
    serve *sv;
    cc_js_consumer_config cc, dead;
    bool cgroups; /* sandboxes get cgroups here */
    judge_box_report box; /* what a box enforces here, for the registry */
} setup;

static cc_status setup_work(void *ud)
{
    setup *su = ud;
    serve__clean_stale_work(su->sv->cfg->cache_dir);
    judge_clean_stale_sandboxes();
    su->cgroups = judge_sandbox_cgroups();
    judge_box_check(&su->box);
    natsConnection *nc = cc_bus_nats(cc_actor_bus(su->sv->actor));
    /* The advisory stream's consumer first: cc-submission declares that
     * stream together with CC_JUDGE, so it already listens when the judges
     * consumer (perhaps new) makes its first delivery. Each waits for its
     * stream when the judge starts first. */
    cc_status s = cc_js_ensure_consumer(nc, &su->dead);
    IFOK(s, cc_js_ensure_consumer(nc, &su->cc));
    return s;
}

static void free_serve(serve *sv);

static void setup_done(cc_status s, void *ud)
{
    setup *su = ud;
    serve *sv = su->sv;
    cc_js_consumer_config dead = su->dead;
    judge_box_report report = su->box;
    /* Which of the sandbox's two ways of enforcing limits this worker has
     * (k8s/README.md, "A writable cgroup for the judge"). */
    cc_log(CC_LOG_INFO, NULL, "sandbox limits", "{s:s}", "enforced_by",
           su->cgroups ? "a cgroup per sandbox"
                       : "rlimits and the runner's own CPU accounting (no writable cgroup)");
    free(su);
    if (sv->stopped) {
        serve__offload_done(sv);
        return;
    }
    sv->offloads--;
    if (sv->closing)
        return;
    /* One worker of all turns a dead job into its result: the advisory
     * consumer is shared like the job consumer. */
    IFOK(s, cc_actor_consume_ensured(sv->actor, &dead, on_advisory, sv, &sv->dead_consumer));
    IFOK(s, cc_actor_consume_ensured(sv->actor,
                                     &(cc_js_consumer_config){
                                         .stream = CC_STREAM_JUDGE,
                                         .durable = DURABLE,
                                         .filter = JOB_SUBJECT,
                                         .ack_wait_ms = sv->cfg->ack_wait_ms,
                                         .max_deliver = (int)sv->cfg->max_deliver,
                                         .max_inflight = (int)sv->cfg->concurrency},
                                     on_job, sv, &sv->consumer));
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "cannot consume judging jobs", "{s:s}", "error", cc_err_msg());
        /* A failure, so that a restart policy brings the judge back. */
        cc_actor_exit(sv->actor, 1);
        return;
    }
    if (sv->cfg->queue_poll_ms > 0) {
        sv->queue_timer = malloc(sizeof *sv->queue_timer);
        if (sv->queue_timer) {
            uv_timer_init(cc_actor_loop(sv->actor), sv->queue_timer);
            sv->queue_timer->data = sv;
            uv_timer_start(sv->queue_timer, on_queue_tick, 0, (uint64_t)sv->cfg->queue_poll_ms);
        }
    }
    if (serve__fleet_start(sv, &report) != CC_OK)
        cc_log(CC_LOG_WARN, NULL, "cannot register with the fleet", "{s:s}", "error",
               cc_err_msg());
    cc_log(CC_LOG_INFO, NULL, "taking jobs", "{s:s, s:I, s:s}", "consumer", DURABLE,
           "concurrency", (json_int_t)sv->cfg->concurrency, "cache", sv->cfg->cache_dir);
}

static bool make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return true;
    cc_err_set(CC_IO, "cannot create %s: %s", path, strerror(errno));
    return false;
}

static cc_status start(cc_actor *a)
{
    serve *sv = calloc(1, sizeof *sv);
    if (!sv)
        return CC_NOMEM;
    sv->actor = a;
    sv->cfg = &cfg;
    /* Strict: say what is missing and stop, rather than judge with less
     * than the settings ask (the probe makes and removes one group). */
    if (cfg.strict && !judge_sandbox_cgroups()) {
        free(sv);
        return cc_err_set(CC_UNAVAILABLE,
                          "sandbox-strict: no writable cgroup for the sandboxes, so memory, "
                          "process count and the CPU of every process could not be enforced "
                          "by cgroup; give the judge one (k8s/README.md, \"A writable cgroup "
                          "for the judge\") or set sandbox-strict=false for the rlimit fallback");
    }
    if (cfg.concurrency == 0)
        cfg.concurrency = judge__nproc();
    cc_status s = judge_langs_load(cfg.languages, &sv->langs);
    if (s != CC_OK) {
        free(sv);
        return s;
    }
    if (cfg.judge_name[0]) {
        snprintf(sv->judge_name, sizeof sv->judge_name, "%s", cfg.judge_name);
    } else {
        char host[64] = "judge";
        gethostname(host, sizeof host - 1);
        snprintf(sv->judge_name, sizeof sv->judge_name, "%s-%ld", host, (long)getpid());
    }
    char path[4200];
    bool ok = make_dir(cfg.cache_dir);
    const char *subs[] = {"blobs", "tmp", "work"};
    for (size_t i = 0; ok && i < JUDGE_LEN(subs); i++) {
        snprintf(path, sizeof path, "%s/%s", cfg.cache_dir, subs[i]);
        ok = make_dir(path);
    }
    snprintf(sv->work_dir, sizeof sv->work_dir, "%s/work/%ld", cfg.cache_dir, (long)getpid());
    if (ok)
        judge__rm_tree(sv->work_dir);
    if (!ok || !make_dir(sv->work_dir)) {
        judge_langs_free(sv->langs);
        free(sv);
        return CC_IO;
    }
    sv->cache_hits = cc_metrics_counter("cc_judge_cache_hits_total",
                                        "Test data files found valid in the cache", NULL);
    sv->cache_misses = cc_metrics_counter("cc_judge_cache_misses_total",
                                          "Test data files fetched because missing or corrupt",
                                          NULL);
    sv->cache_corrupt = cc_metrics_counter("cc_judge_cache_corrupt_total",
                                           "Cache entries whose hash did not match", NULL);
    sv->blob_bytes = cc_metrics_counter("cc_judge_blob_bytes_fetched_total",
                                        "Bytes of test data fetched with GetBlob", NULL);
    sv->blob_calls = cc_metrics_counter("cc_judge_blob_calls_total", "GetBlob calls made", NULL);
    static const double buckets[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
    sv->duration = cc_metrics_histogram("cc_judge_job_duration_seconds",
                                        "Time from taking a job to acking it", NULL, buckets,
                                        JUDGE_LEN(buckets));
    sv->inflight = cc_metrics_gauge("cc_judge_jobs_inflight", "Jobs being judged", NULL);
    /* num_pending alone: jobs no judge has taken yet, which is what grows
     * when the pool is too small (k8s/base/monitoring.yaml alerts on it).
     * Jobs taken but not acked (being judged, or handed back and waiting
     * for their redelivery) are num_ack_pending, a gauge of their own. */
    sv->queue_pending = cc_metrics_gauge(
        "cc_judge_queue_pending",
        "Jobs in CC_JUDGE no judge has taken yet (num_pending of the judges consumer)", NULL);
    sv->queue_ack_pending = cc_metrics_gauge(
        "cc_judge_queue_ack_pending",
        "Jobs taken but not acked yet: being judged or waiting for a redelivery "
        "(num_ack_pending of the judges consumer)",
        NULL);
    sv->queue_oldest = cc_metrics_gauge(
        "cc_judge_queue_oldest_seconds",
        "Age of the oldest job not done yet (waiting or being judged); 0 when none", NULL);
    pthread_mutex_init(&sv->qmu, NULL);
    pthread_mutex_init(&sv->tcmu, NULL);
    sv->toolchains = calloc(judge_langs_count(sv->langs) + 1, sizeof *sv->toolchains);
    if (!sv->toolchains)
        return CC_NOMEM;
    uv_async_init(cc_actor_loop(a), &sv->wake, on_wake);
    sv->wake.data = sv;
    cc_actor_set_state(a, sv);

    setup *su = calloc(1, sizeof *su);
    if (!su)
        return CC_NOMEM;
    su->sv = sv;
    su->cc = (cc_js_consumer_config){.stream = CC_STREAM_JUDGE,
                                     .durable = DURABLE,
                                     .filter = JOB_SUBJECT,
                                     .ack_wait_ms = cfg.ack_wait_ms,
                                     .max_deliver = (int)cfg.max_deliver};
    /* max_deliver -1: the server never gives up on an advisory; a failing
     * one comes back every retry-delay until its job is finished. */
    su->dead = (cc_js_consumer_config){.stream = DEAD_STREAM,
                                       .durable = DURABLE,
                                       .ack_wait_ms = DEAD_ACK_WAIT_MS,
                                       .max_deliver = -1,
                                       .max_inflight = DEAD_INFLIGHT};
    sv->offloads++;
    s = cc_bus_offload(cc_actor_bus(a), setup_work, setup_done, su);
    if (s != CC_OK) {
        sv->offloads--;
        free(su);
    }
    return s;
}

static void linger_closed(uv_handle_t *h)
{
    free(h);
}

static void linger_end(serve *sv)
{
    if (!sv->linger)
        return;
    uv_close((uv_handle_t *)sv->linger, linger_closed);
    sv->linger = NULL;
    cc_bus_work_end(cc_actor_bus(sv->actor));
}

static void on_linger(uv_timer_t *t)
{
    serve *sv = t->data;
    /* Two quiet ticks after the last job: the loop has had a turn to
     * write the acks sent in the last callbacks. */
    if (sv->njobs > 0 || sv->tickets) {
        sv->linger_ticks = 0;
        return;
    }
    if (++sv->linger_ticks >= 2)
        linger_end(sv);
}

static void drain(cc_actor *a)
{
    serve *sv = cc_actor_state(a);
    if (!sv)
        return;
    /* The runtime closes the connection in the same turn of the loop as
     * the last message is acked, and nats.c on an event loop writes only
     * when the loop polls the socket, so that last +ACK could be lost and
     * the job judged again. Holding one unit of bus work until the loop
     * has turned (after the last job) lets it be written first. */
    sv->linger = malloc(sizeof *sv->linger);
    if (sv->linger) {
        cc_bus_work_begin(cc_actor_bus(a));
        uv_timer_init(cc_actor_loop(a), sv->linger);
        sv->linger->data = sv;
        uv_timer_start(sv->linger, on_linger, 25, 25);
    }
    /* Jobs in flight go on: the runtime waits for them (they hold bus
     * work until acked) up to the drain timeout; so do advisories being
     * handled. */
    queue_timer_end(sv);
    serve__fleet_stop(sv, "draining");
    cc_log(CC_LOG_INFO, NULL, "draining judge", "{s:i}", "jobs", sv->njobs);
}

static void wake_closed(uv_handle_t *h)
{
    serve *sv = h->data;
    sv->wake_closed = true;
    if (!sv->offloads)
        free_serve(sv);
}

void serve__offload_done(serve *sv)
{
    if (--sv->offloads == 0 && sv->stopped && sv->wake_closed)
        free_serve(sv);
}

static void free_serve(serve *sv)
{
    for (size_t i = 0; sv->toolchains && i < judge_langs_count(sv->langs); i++)
        free(sv->toolchains[i]);
    free(sv->toolchains);
    judge_langs_free(sv->langs);
    pthread_mutex_destroy(&sv->qmu);
    pthread_mutex_destroy(&sv->tcmu);
    free(sv);
}

static void stop(cc_actor *a)
{
    serve *sv = cc_actor_state(a);
    if (!sv)
        return;
    cc_actor_set_state(a, NULL);
    linger_end(sv);
    queue_timer_end(sv);
    serve__fleet_stop(sv, "gone");
    /* Advisories still being handled were handed back by the drain: their
     * callbacks (answered CC_CLOSED when the bus closes) only free them. */
    for (serve_dead *d = sv->dead; d;) {
        serve_dead *next = d->next;
        d->sv = NULL;
        d->m = NULL;
        d = next;
    }
    sv->dead = NULL;
    /* Whatever is still here was handed back by the drain (nak_all): the
     * messages are gone, so nothing may ack them. Threads are told to
     * stop after the test they are running (its wall limit bounds the
     * wait), and no event is accepted from them any more. */
    serve_ev *ev = take_events(sv, true);
    for (serve_job *j = sv->jobs; j; j = j->next) {
        j->m = NULL;
        atomic_store(&j->cancel, true);
    }
    for (serve_ticket *t = sv->tickets; t;) {
        serve_ticket *next = t->next;
        complete_fetch(t->job, t->fetch, CC_CLOSED, "the worker is shutting down", NULL);
        t->fetch = NULL;
        t->sv = NULL;
        t = next;
    }
    sv->tickets = NULL;
    while (ev) {
        serve_ev *next = ev->next;
        if (ev->kind == SERVE_EV_FETCH)
            complete_fetch(ev->job, ev->fetch, CC_CLOSED, "the worker is shutting down", NULL);
        free(ev->data);
        free(ev);
        ev = next;
    }
    int joined = 0;
    for (serve_job *j = sv->jobs; j; j = j->next)
        if (j->th_running) {
            pthread_join(j->th, NULL);
            j->th_running = false;
            joined++;
        }
    if (joined)
        cc_log(CC_LOG_WARN, NULL, "judging threads stopped", "{s:i}", "jobs", joined);
    while (sv->jobs) {
        serve_job *j = sv->jobs;
        if (j->publishing) {
            job_unlink(j); /* its publish callback frees it */
        } else {
            job_free(j);
        }
    }
    sv->wake.data = sv;
    sv->stopped = true; /* wake_closed or the last thread-pool work, the later, frees it */
    uv_close((uv_handle_t *)&sv->wake, wake_closed);
}

int judge_serve_main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "judge",
        .config = rows,
        .nconfig = JUDGE_LEN(rows),
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
