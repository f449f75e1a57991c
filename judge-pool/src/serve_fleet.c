/* cc-judge serve in the fleet's view: the worker's registration and
 * heartbeat (JudgeStatus) in the JetStream key-value bucket CC_JUDGES, key
 * judges.<key>, and the operator's orders (JudgeControl, key
 * control.<key>: drain, disable, enable), read once at start and followed
 * as they are written. Also the toolchain versions: each language's
 * version probe runs once, on the thread pool at start or on the first job
 * thread that needs it, and every result names the one it was judged with;
 * its answer is kept in <judge-cache>/toolchains for the next start, keyed
 * by the probe and the files it runs (toolchain_key).
 *
 * The heartbeat is a core publish on the bucket's subject, which the
 * bucket's stream stores (a KV put is nothing more): a lost one is
 * replaced by the next, and readers call a judge silent for three
 * heartbeats gone. */
#include "serve.h"

#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cc/js.h"
#include "cc/log.h"
#include "cc/mesh.h"

struct serve_fleet {
    serve *sv;
    char key[128];      /* judge name with bytes outside [A-Za-z0-9_-] made '_' */
    char host[64];
    char status_subject[256];
    char control_subject[256];
    int64_t started_ms;
    judge_box_report box;
    char control[16];   /* the last order obeyed: "", drain, disable, enable */
    char state[16];     /* the state last published */
    uv_timer_t *timer;  /* the heartbeat */
    cc_bus_sub *sub;    /* the control key */
    bool probing;       /* the toolchain probes are on the thread pool */
    atomic_bool stop_probing;
    int requests;       /* requests in flight */
    bool gone;          /* stop detached it: the last callback frees it */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- toolchains (any thread) --------------------------------------------------------- */

/* The probes cost about 10 s of CPU at each start (the JVM's most), so
 * their answers are kept on disk. A kept answer is used only while its key
 * is the same: the probe's argv, the file its program resolves to (path,
 * inode, size, modification time: an upgrade or an alternatives switch
 * changes them) and dpkg's status file (size and modification time: any
 * package installed, upgraded or removed, such as a JDK behind an
 * unchanged launcher script). */
static bool toolchain_key(const judge_lang *l, char *out, size_t n)
{
    if (!l->version.n)
        return false;
    char real[PATH_MAX], buf[4096];
    struct stat prog, dpkg;
    if (!realpath(l->version.v[0], real) || stat(real, &prog) != 0)
        return false;
    if (stat("/var/lib/dpkg/status", &dpkg) != 0)
        memset(&dpkg, 0, sizeof dpkg);
    int len = snprintf(buf, sizeof buf, "%s|%ju|%jd|%jd.%09ld|%jd|%jd.%09ld", real,
                       (uintmax_t)prog.st_ino, (intmax_t)prog.st_size,
                       (intmax_t)prog.st_mtim.tv_sec, prog.st_mtim.tv_nsec,
                       (intmax_t)dpkg.st_size, (intmax_t)dpkg.st_mtim.tv_sec,
                       dpkg.st_mtim.tv_nsec);
    for (size_t i = 0; i < l->version.n && len > 0 && (size_t)len < sizeof buf; i++)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "|%s", l->version.v[i]);
    if (len <= 0 || (size_t)len >= sizeof buf)
        return false;
    /* FNV-1a, 64 bits: a key to compare, not a secret. */
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < len; i++)
        h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
    snprintf(out, n, "%s\t%016" PRIx64, judge_lang_id(l), h);
    return true;
}

/* The kept version for key ("<language>\t<hash>") into out, if any. Lines
 * are "<language>\t<hash>\t<version>\n"; the first match wins. */
static bool toolchain_kept(const serve *sv, const char *key, char *out, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/toolchains", sv->cfg->cache_dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    size_t kl = strlen(key);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        size_t ll = strcspn(line, "\n");
        if (line[ll] != '\n' || strncmp(line, key, kl) != 0 || line[kl] != '\t' || ll == kl + 1)
            continue;
        line[ll] = '\0';
        snprintf(out, n, "%s", line + kl + 1);
        found = true;
    }
    fclose(f);
    return found;
}

/* Appends key's version in one write (O_APPEND: judges sharing the cache
 * folder do not mix their lines). An empty answer (a probe that failed or
 * timed out) is not kept: the next start tries again. */
static void toolchain_keep(const serve *sv, const char *key, const char *ver)
{
    char path[PATH_MAX], line[512];
    if (!ver[0] || strchr(ver, '\n'))
        return;
    int len = snprintf(line, sizeof line, "%s\t%s\n", key, ver);
    if (len <= 0 || (size_t)len >= sizeof line)
        return;
    snprintf(path, sizeof path, "%s/toolchains", sv->cfg->cache_dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)len) != len)
        cc_log(CC_LOG_WARN, NULL, "cannot keep a toolchain version", "{s:s}", "path", path);
    close(fd);
}

void serve__toolchain(serve *sv, const judge_lang *lang, char *out, size_t n)
{
    size_t i = 0, count = judge_langs_count(sv->langs);
    while (i < count && judge_langs_at(sv->langs, i) != lang)
        i++;
    out[0] = '\0';
    if (i == count)
        return;
    pthread_mutex_lock(&sv->tcmu);
    char *known = sv->toolchains[i];
    if (known)
        snprintf(out, n, "%s", known);
    pthread_mutex_unlock(&sv->tcmu);
    if (known)
        return;
    /* Two threads may probe the same language at once; both get the same
     * answer and the first one stored stays. */
    char ver[256], key[160];
    bool keyed = toolchain_key(lang, key, sizeof key);
    if (!keyed || !toolchain_kept(sv, key, ver, sizeof ver)) {
        judge_lang_version(lang, ver, sizeof ver);
        if (keyed)
            toolchain_keep(sv, key, ver);
    }
    pthread_mutex_lock(&sv->tcmu);
    if (!sv->toolchains[i])
        sv->toolchains[i] = judge__xstrdup(ver);
    snprintf(out, n, "%s", sv->toolchains[i]);
    pthread_mutex_unlock(&sv->tcmu);
}

/* ---- the status -------------------------------------------------------------------- */

static const char *state_of(const serve *sv, const serve_fleet *f)
{
    if (!strcmp(f->control, "disable"))
        return "disabled";
    if (!strcmp(f->control, "drain"))
        return sv->njobs ? "draining" : "drained";
    return sv->njobs ? "judging" : "idle";
}

static void publish_status(serve_fleet *f, const char *state)
{
    serve *sv = f->sv;
    Codecourt__V1__JudgeStatus st = CODECOURT__V1__JUDGE_STATUS__INIT;
    Codecourt__V1__BoxReport br = CODECOURT__V1__BOX_REPORT__INIT;
    st.id = sv->judge_name;
    st.host = f->host;
    st.version = CC_VERSION;
    st.capacity = (int32_t)sv->cfg->concurrency;
    st.state = (char *)state;
    st.jobs_done = sv->jobs_done;
    st.started_at_ms = f->started_ms;
    st.heartbeat_at_ms = now_ms();
    st.heartbeat_ms = sv->cfg->heartbeat_ms;
    st.control = f->control;
    br.sandbox = f->box.sandbox;
    br.cgroup = f->box.cgroup;
    br.strict = sv->cfg->strict;
    br.uid = f->box.uid;
    br.network_isolated = f->box.network_isolated;
    br.seccomp = f->box.seccomp;
    br.shm_private = f->box.shm_private;
    br.dev_readonly = f->box.dev_readonly;
    st.box = &br;
    size_t njobs = 0;
    for (serve_job *j = sv->jobs; j; j = j->next)
        njobs++;
    char **jobs = calloc(njobs ? njobs : 1, sizeof *jobs);
    size_t count = judge_langs_count(sv->langs);
    Codecourt__V1__Toolchain *tc = calloc(count ? count : 1, sizeof *tc);
    Codecourt__V1__Toolchain **tcp = calloc(count ? count : 1, sizeof *tcp);
    if (!jobs || !tc || !tcp) {
        free(jobs);
        free(tc);
        free(tcp);
        return;
    }
    size_t k = 0;
    for (serve_job *j = sv->jobs; j; j = j->next)
        jobs[k++] = j->subject_id;
    st.jobs = jobs;
    st.n_jobs = k;
    /* Only what was probed (and is installed); the lock is held while
     * packing, as the strings belong to the table. */
    pthread_mutex_lock(&sv->tcmu);
    size_t nt = 0;
    for (size_t i = 0; i < count; i++) {
        if (!sv->toolchains[i] || !sv->toolchains[i][0])
            continue;
        codecourt__v1__toolchain__init(&tc[nt]);
        tc[nt].language = (char *)judge_lang_id(judge_langs_at(sv->langs, i));
        tc[nt].version = sv->toolchains[i];
        tcp[nt] = &tc[nt];
        nt++;
    }
    st.languages = tcp;
    st.n_languages = nt;
    size_t len = protobuf_c_message_get_packed_size(&st.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf)
        protobuf_c_message_pack(&st.base, buf);
    pthread_mutex_unlock(&sv->tcmu);
    free(jobs);
    free(tc);
    free(tcp);
    if (!buf)
        return;
    if (cc_bus_publish(cc_actor_bus(sv->actor), f->status_subject, NULL,
                       "codecourt.v1.JudgeStatus", buf, len) != CC_OK &&
        strcmp(f->state, state) != 0)
        cc_log(CC_LOG_WARN, NULL, "cannot publish the judge's status", "{s:s, s:s}", "state",
               state, "error", cc_err_msg());
    if (strcmp(f->state, state) != 0)
        cc_log(CC_LOG_INFO, NULL, "judge state", "{s:s, s:s, s:i}", "state", state, "control",
               f->control, "jobs", sv->njobs);
    snprintf(f->state, sizeof f->state, "%s", state);
    free(buf);
}

void serve__fleet_changed(serve *sv)
{
    serve_fleet *f = sv->fleet;
    if (!f)
        return;
    const char *state = state_of(sv, f);
    if (strcmp(state, f->state) != 0)
        publish_status(f, state);
}

static void on_heartbeat(uv_timer_t *t)
{
    serve_fleet *f = t->data;
    publish_status(f, state_of(f->sv, f));
}

/* ---- orders ---------------------------------------------------------------------- */

/* drain: no more work, what runs finishes; disable: no more work, and what
 * runs is handed back at once (its threads are told to stop, their
 * results dropped), so another judge takes it; enable: work again. */
static void obey(serve_fleet *f, const char *action)
{
    serve *sv = f->sv;
    bool pause = !strcmp(action, "drain") || !strcmp(action, "disable");
    if (!pause && strcmp(action, "enable") != 0) {
        cc_log(CC_LOG_WARN, NULL, "unknown judge order ignored", "{s:s}", "action", action);
        return;
    }
    if (!strcmp(f->control, action))
        return;
    snprintf(f->control, sizeof f->control, "%s", action);
    cc_log(CC_LOG_INFO, NULL, "judge order", "{s:s, s:i}", "action", action, "jobs", sv->njobs);
    if (sv->consumer)
        cc_js_consumer_pause(sv->consumer, pause);
    if (sv->dead_consumer)
        cc_js_consumer_pause(sv->dead_consumer, pause);
    if (!strcmp(action, "disable"))
        serve__hand_back_jobs(sv);
    publish_status(f, state_of(sv, f));
}

static void obey_packed(serve_fleet *f, const void *data, size_t len)
{
    Codecourt__V1__JudgeControl *c = (Codecourt__V1__JudgeControl *)protobuf_c_message_unpack(
        &codecourt__v1__judge_control__descriptor, NULL, len, data);
    if (!c) {
        cc_log(CC_LOG_WARN, NULL, "unreadable judge order ignored", "{s:s}", "subject",
               f->control_subject);
        return;
    }
    obey(f, c->action);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void on_control(cc_bus *b, natsMsg *m, void *ud)
{
    serve_fleet *f = ud;
    obey_packed(f, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    cc_bus_msg_release(b, m);
}

/* The order written while this judge was away (a judge with a fixed
 * judge-name keeps being drained or disabled across restarts). */
static void on_last_control(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    serve_fleet *f = ud;
    json_t *o = cc_js_api_reply(s, reply);
    f->requests--;
    if (f->gone) {
        if (!f->probing && !f->requests)
            free(f);
        json_decref(o);
        return;
    }
    /* An order that came meanwhile on the subscription is newer. */
    cc_js_stored m;
    if (cc_js_stored_from(o, &m) && !f->control[0])
        obey_packed(f, m.data, m.len);
    cc_js_stored_clear(&m);
    json_decref(o);
}

/* ---- start and stop ------------------------------------------------------------------ */

static cc_status probe_all(void *ud)
{
    serve_fleet *f = ud;
    serve *sv = f->sv;
    char ver[256];
    for (size_t i = 0; i < judge_langs_count(sv->langs) && !atomic_load(&f->stop_probing); i++)
        serve__toolchain(sv, judge_langs_at(sv->langs, i), ver, sizeof ver);
    return CC_OK;
}

static void probed(cc_status s, void *ud)
{
    (void)s;
    serve_fleet *f = ud;
    f->probing = false;
    if (f->gone) {
        serve *sv = f->sv;
        if (!f->requests)
            free(f);
        serve__offload_done(sv);
        return;
    }
    cc_log(CC_LOG_INFO, NULL, "toolchain versions read", NULL);
    publish_status(f, state_of(f->sv, f));
    serve__offload_done(f->sv);
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

cc_status serve__fleet_start(serve *sv, const judge_box_report *report)
{
    serve_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return CC_NOMEM;
    f->sv = sv;
    f->box = *report;
    f->started_ms = now_ms();
    gethostname(f->host, sizeof f->host - 1);
    snprintf(f->key, sizeof f->key, "%s", sv->judge_name);
    for (char *c = f->key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            *c = '_';
    snprintf(f->status_subject, sizeof f->status_subject, CC_KV_JUDGES_STATUS "%s", f->key);
    snprintf(f->control_subject, sizeof f->control_subject, CC_KV_JUDGES_CONTROL "%s", f->key);
    cc_bus *b = cc_actor_bus(sv->actor);
    cc_status s = cc_bus_subscribe(b, f->control_subject, NULL, on_control, f, &f->sub);
    if (s != CC_OK) {
        free(f);
        return s;
    }
    sv->fleet = f;
    char body[400];
    int n = snprintf(body, sizeof body, "{\"last_by_subj\":\"%s\"}", f->control_subject);
    if (cc_bus_request(b, "$JS.API.STREAM.MSG.GET." CC_STREAM_JUDGES_KV, NULL, NULL, NULL, body,
                       (size_t)n, 5000, on_last_control, f) == CC_OK)
        f->requests++;
    else
        cc_log(CC_LOG_WARN, NULL, "cannot read the judge's last order", "{s:s}", "error",
               cc_err_msg());
    publish_status(f, state_of(sv, f));
    f->timer = malloc(sizeof *f->timer);
    if (f->timer) {
        uv_timer_init(cc_actor_loop(sv->actor), f->timer);
        f->timer->data = f;
        uv_timer_start(f->timer, on_heartbeat, (uint64_t)sv->cfg->heartbeat_ms,
                       (uint64_t)sv->cfg->heartbeat_ms);
    }
    atomic_init(&f->stop_probing, false);
    f->probing = cc_bus_offload(b, probe_all, probed, f) == CC_OK;
    sv->offloads += f->probing;
    return CC_OK;
}

void serve__fleet_stop(serve *sv, const char *state)
{
    serve_fleet *f = sv->fleet;
    if (!f)
        return;
    /* The last word: "draining" at SIGTERM, "gone" at the end (best
     * effort: the connection may close before it is written, and readers
     * call a silent judge gone anyway). */
    publish_status(f, state);
    if (strcmp(state, "gone") != 0)
        return;
    sv->fleet = NULL;
    if (f->timer) {
        uv_close((uv_handle_t *)f->timer, timer_closed);
        f->timer = NULL;
    }
    if (f->sub)
        cc_bus_unsubscribe(f->sub);
    f->gone = true;
    atomic_store(&f->stop_probing, true);
    /* A request in flight answers CC_CLOSED when the bus closes; the
     * last callback to see gone frees f. */
    if (!f->probing && !f->requests)
        free(f);
}
