/* cc-judge serve: the mesh worker. Shared between serve.c (the actor, on
 * the libuv loop: consumers, publishing, RPC, the dead letters, the queue
 * gauges) and serve_work.c (one thread per job: the blob cache, the
 * package folder and the judging itself).
 *
 * Threads and the loop meet in one place, a queue of serve_ev drained by a
 * uv_async on the loop. A job thread never calls nats.c or libuv (except
 * uv_async_send); the loop never touches the disk nor judges. */
#ifndef JUDGE_SERVE_H
#define JUDGE_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cc/actor.h"
#include "cc/metrics.h"
#include "codecourt/v1/judge.pb-c.h"
#include "judge/judge.h"

typedef struct serve_settings {
    int64_t concurrency;    /* jobs judged at once; 0 = number of cores */
    char *cache_dir;        /* blobs/, tmp/ and work/ live here */
    int64_t ack_wait_ms;
    int64_t max_deliver;
    int64_t blob_chunk;     /* bytes asked per GetBlob call */
    int64_t blob_max;       /* largest blob accepted */
    int64_t blob_timeout_ms;
    int64_t retry_delay_ms; /* nak delay when the problem service is unreachable */
    int64_t queue_poll_ms;  /* how often the queue gauges are refreshed; 0 = never */
    char *languages;        /* the language table */
    char *judge_name;       /* "" = <hostname>-<pid> */
    /* The most a package may ask for (judge_options' max_*): a setter's
     * larger limits are lowered to these. */
    int64_t max_time_limit_ms;
    int64_t max_memory;     /* bytes */
    int64_t max_compile_time_ms;
    int64_t max_validation_time_ms;
    /* Refuse to start when the sandbox would enforce less than asked: no
     * writable cgroup (memory, pids and every process's CPU then fall back
     * to rlimits and the runner's own accounting). */
    bool strict;
    int64_t heartbeat_ms;   /* how often the fleet registry hears from this judge */
} serve_settings;

typedef struct serve serve;
typedef struct serve_job serve_job;
typedef struct serve_dead serve_dead;
typedef struct serve_poll serve_poll;
typedef struct serve_fleet serve_fleet;

/* One GetBlob chunk asked by a job thread and answered on the loop. The
 * thread owns it (on its stack) and waits on the job's condition variable
 * until done. */
typedef struct serve_fetch {
    char sha256[65];
    int64_t offset;
    int32_t max_bytes;
    bool done;
    cc_status s;
    char err[256];
    uint8_t *data; /* malloc'd copy of the chunk, freed by the thread */
    size_t len;
    int64_t total_size;
    bool eof;
} serve_fetch;

typedef enum { SERVE_EV_FETCH, SERVE_EV_PROGRESS, SERVE_EV_DONE } serve_ev_kind;

typedef struct serve_ev {
    serve_ev_kind kind;
    serve_job *job;
    serve_fetch *fetch;   /* FETCH */
    uint8_t *data;        /* PROGRESS: packed JudgeProgress (malloc'd) */
    size_t len;
    char msg_id[200];
    struct serve_ev *next;
} serve_ev;

/* What a job thread decided. */
typedef enum {
    SERVE_OUT_RESULT, /* publish result (a JudgeResult), then ack */
    SERVE_OUT_RUN,    /* hand result (a RunResult) to cc-submission, then ack */
    SERVE_OUT_RETRY,  /* hand the job back for later (the problem service is away) */
    SERVE_OUT_DROP,   /* cancelled by shutdown: the runtime hands it back */
} serve_outcome;

struct serve_job {
    serve *sv;
    cc_js_msg *m;          /* NULL once the runtime handed the message back */
    cc_envelope env;       /* the job's envelope, parent of everything it causes */
    uint8_t *raw;          /* copy of the job message body */
    size_t rawlen;
    char job_msg_id[160];  /* Nats-Msg-Id of the job, "" if none */
    char subject_id[65];   /* the submission (or run) it judges, for the fleet registry */
    uint64_t sseq, delivered;
    bool last_delivery;    /* the server will not deliver it again */
    uint64_t start_ns;

    pthread_t th;
    bool th_running;       /* created and not joined yet */
    atomic_bool cancel;
    pthread_mutex_t mu;    /* guards serve_fetch.done of this job's fetches */
    pthread_cond_t cv;
    unsigned progress_seq;

    /* Set by the thread before it posts SERVE_EV_DONE. */
    serve_outcome outcome;
    uint8_t *result;       /* packed JudgeResult */
    size_t result_len;
    char result_id[200];
    char verdict[8];
    char reason[256];      /* RETRY: why */

    uv_timer_t *wpi;       /* in-progress acks; closed apart from the job */
    bool publishing;
    serve_job *prev, *next;
};

struct serve {
    cc_actor *actor;
    serve_settings *cfg;
    judge_langs *langs;
    char judge_name[128];
    char work_dir[4096];   /* cache_dir/work/<pid> */

    pthread_mutex_t qmu;
    serve_ev *qhead, *qtail;
    bool closing;          /* no more events accepted */
    uv_async_t wake;

    cc_js_consumer *consumer;
    cc_js_consumer *dead_consumer; /* the advisories kept in CC_JUDGE_DEAD */
    serve_dead *dead;              /* advisories being turned into IE results */
    uv_timer_t *queue_timer;       /* refreshes the queue gauges */
    serve_poll *poll;              /* the consumer info request in flight, if any */
    bool poll_failing;             /* the last poll failed (logged once per outage) */
    serve_job *jobs;
    int njobs;
    struct serve_ticket *tickets;
    int offloads;          /* work on the thread pool (setup, toolchain probes) */
    bool stopped;          /* stop ran; the last of setup and wake frees */
    bool wake_closed;
    uv_timer_t *linger;    /* drain: holds bus work until acks are written */
    int linger_ticks;

    serve_fleet *fleet;    /* the registry entry and orders (serve_fleet.c) */
    int64_t jobs_done;     /* results and runs handed over since start */
    /* Each language's toolchain version, NULL until probed (any thread,
     * under tcmu). */
    pthread_mutex_t tcmu;
    char **toolchains;

    cc_counter *cache_hits, *cache_misses, *cache_corrupt, *blob_bytes, *blob_calls;
    cc_histogram *duration;
    cc_gauge *inflight;
    cc_gauge *queue_pending, *queue_ack_pending, *queue_oldest;
};

/* Posts an event to the loop. Returns false when the worker is closing
 * (the event is not queued and stays the caller's). */
bool serve__post(serve *sv, serve_ev *ev);

/* The body of a job thread (serve_work.c). */
void *serve__job_main(void *arg);

/* Packs an IE JudgeResult saying reason for job (NULL when it could not
 * be decoded) into a malloc'd *out, and its Nats-Msg-Id into id. */
void serve__ie_pack(const char *judge_name, const Codecourt__V1__JudgeJob *job,
                    const char *job_msg_id, uint64_t sseq, const char *reason, uint8_t **out,
                    size_t *len, char *id, size_t idcap);

/* Builds the result's Nats-Msg-Id ("judged-<submission>-<attempt>"). */
void serve__result_id(const Codecourt__V1__JudgeJob *job, const char *job_msg_id, uint64_t sseq,
                      char *out, size_t cap);

/* True when s is safe inside a message id or a file name: [A-Za-z0-9._-],
 * 1 to 100 bytes. */
bool serve__id_ok(const char *s);

/* What a custom run keeps of each of stdout and stderr. */
#define SERVE_RUN_CAPTURE (64 * 1024)

/* Judges a job of kind "run" (a custom invocation: the user's source on
 * the user's input, no problem) in dir: a one-test package written there
 * from the job, the default limits, no output check, no progress events;
 * packs a RunResult into j->result with outcome SERVE_OUT_RUN. On the job
 * thread (serve_work.c). */
void serve__run_job(serve_job *j, const Codecourt__V1__JudgeJob *job, const char *dir);

/* Removes work folders left by processes that no longer run. */
void serve__clean_stale_work(const char *cache_dir);

/* ---- serve_fleet.c (the loop, but serve__toolchain) ---- */

/* Registers the worker in the bucket CC_JUDGES, starts its heartbeat,
 * follows its control key and probes every toolchain on the thread pool.
 * report is what its sandbox enforces here. */
cc_status serve__fleet_start(serve *sv, const judge_box_report *report);
/* Publishes the status at once when the state changed (a job taken or
 * finished). */
void serve__fleet_changed(serve *sv);
/* Publishes state ("draining" at SIGTERM); "gone" also ends the registry
 * work (stop). */
void serve__fleet_stop(serve *sv, const char *state);
/* The first line of lang's version probe, probed once per worker (any
 * thread; blocks the first time). */
void serve__toolchain(serve *sv, const judge_lang *lang, char *out, size_t n);

/* serve.c, for the fleet: hands every job not yet judged back to the
 * queue at once and tells its thread to stop (an order to disable). */
void serve__hand_back_jobs(serve *sv);
/* A piece of thread-pool work of the worker ended (the last one after
 * stop frees the worker). */
void serve__offload_done(serve *sv);

int judge_serve_main(int argc, char **argv);

#endif
