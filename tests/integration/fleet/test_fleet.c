/* The judge fleet in view (issue 25), with real servers and processes:
 * one binary, one case per run (argv[1]), each its own ctest test.
 *
 *   registry  a judge registers in the bucket CC_JUDGES with its version,
 *             capacity, sandbox and toolchains; GET /v1/admin/judges lists
 *             it (admins only; a bad order is a 400 naming the field, an
 *             unknown judge a 404); a result names the judge and the
 *             toolchain; a rejudge on a judge whose toolchain reports
 *             another version says so (toolchainChanged); a judge that
 *             stopped is listed as gone; the probes' answers are kept in
 *             <judge-cache>/toolchains and a restart uses the kept one
 *   drain     drain while judging: the job finishes, the judge reports
 *             draining then drained and takes nothing; a queued submission
 *             shows its place and an estimated wait; enable, it is judged.
 *             disable while judging: the job goes back to the queue (the
 *             submission reads queued again) and is judged once after
 *             enable
 *   killed    two judges; the one judging is killed with SIGKILL: the
 *             submission goes back to queued once the judge is silent for
 *             three heartbeats, the judge is listed as gone, and the other
 *             judge gives the one verdict (JetStream's ack wait brings the
 *             job back)
 *
 * Each case ends with cct_check_all: every submission judged AC once.
 * CC_LOCAL_KEEP=1 keeps the folder with every process's log. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc/local.h"
#include "cctest_http.h"
#include "cctest_mesh.h"

static cct_mesh mesh;

/* Every judge writes its status every half second here, so "gone" (three
 * silent heartbeats) comes 1.5 s after a kill. */
static const char *const judge_flags[] = {"--heartbeat=500ms", NULL};

static void sign_in(cct_account *a)
{
    if (!cct_login_root(&mesh, a))
        exit(1);
}

static cct_resp api(const char *method, const char *path, const char *body, const cct_account *a)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", mesh.gw_port, path);
    return cct_req_url(method, url, body, a ? a->token : NULL, NULL);
}

/* proto3 JSON writes 64-bit integers as strings. */
static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
}

/* GET /v1/admin/judges (200) as JSON, or NULL. */
static json_t *judges(const cct_account *admin)
{
    cct_resp r = api("GET", "/v1/admin/judges", NULL, admin);
    json_t *j = r.status == 200 ? json_incref(r.json) : NULL;
    if (r.status != 200)
        fprintf(stderr, "GET /v1/admin/judges: %ld %.300s\n", r.status, r.body ? r.body : "");
    cct_resp_free(&r);
    return j;
}

/* The judge of process pid (its id is <hostname>-<pid>) in list, or NULL. */
static json_t *judge_of(json_t *list, pid_t pid)
{
    char tail[32];
    snprintf(tail, sizeof tail, "-%ld", (long)pid);
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(list, "judges"), i, j)
    {
        const char *id = cct_json_str(j, "id");
        size_t n = strlen(id), t = strlen(tail);
        if (n > t && !strcmp(id + n - t, tail))
            return j;
    }
    return NULL;
}

/* Waits until the judge of pid reports state (ms at most); its id into id. */
static bool wait_judge_state(const cct_account *admin, pid_t pid, const char *state, int ms,
                             char id[128])
{
    double end = cct_now_s() + ms / 1000.0;
    char last[32] = "";
    while (cct_now_s() < end) {
        json_t *l = judges(admin);
        json_t *j = l ? judge_of(l, pid) : NULL;
        snprintf(last, sizeof last, "%s", j ? cct_json_str(j, "state") : "(absent)");
        if (j && id)
            snprintf(id, 128, "%s", cct_json_str(j, "id"));
        json_decref(l);
        if (!strcmp(last, state))
            return true;
        usleep(100000);
    }
    fprintf(stderr, "judge %ld: state %s, not %s\n", (long)pid, last, state);
    return false;
}

static long order(const cct_account *admin, const char *id, const char *action, char *detail)
{
    char path[256], body[128];
    snprintf(path, sizeof path, "/v1/admin/judges/%s/state", id);
    snprintf(body, sizeof body, "{\"action\":\"%s\"}", action);
    cct_resp r = api("PUT", path, body, admin);
    long st = r.status;
    if (detail)
        snprintf(detail, 256, "%s", r.json ? cct_json_str(r.json, "detail") : "");
    if (st == 200)
        CCT_CHECK(!strcmp(cct_json_str(r.json, "control"), action),
                  "the order's answer says control %s", cct_json_str(r.json, "control"));
    cct_resp_free(&r);
    return st;
}

static void submit(const cct_account *a, const char *src, const char *key, char id[64])
{
    char detail[256];
    long st = cct_submit(&mesh, a, src, key, id, NULL, detail);
    if (st != 201) {
        CCT_FAIL("submit %s: %ld %s", key, st, detail);
        exit(1);
    }
}

static json_t *wait_judged(const cct_account *a, const char *id, unsigned attempt, int ms)
{
    double end = cct_now_s() + ms / 1000.0;
    while (cct_now_s() < end) {
        json_t *s = cct_get_submission(&mesh, a, id);
        if (s && !strcmp(cct_json_str(s, "status"), "judged") &&
            num(s, "attempt") == (long long)attempt)
            return s;
        json_decref(s);
        usleep(100000);
    }
    CCT_FAIL("submission %s not judged (attempt %u) within %d ms", id, attempt, ms);
    return NULL;
}

/* The status stays status for ms (nothing takes the job). */
static bool stays(const cct_account *a, const char *id, const char *status, int ms)
{
    double end = cct_now_s() + ms / 1000.0;
    while (cct_now_s() < end) {
        json_t *s = cct_get_submission(&mesh, a, id);
        bool same = s && !strcmp(cct_json_str(s, "status"), status);
        if (!same)
            fprintf(stderr, "submission %s: %s, not %s\n", id,
                    s ? cct_json_str(s, "status") : "?", status);
        json_decref(s);
        if (!same)
            return false;
        usleep(200000);
    }
    return true;
}

/* Runs `codecourt ARGS` as the seeded admin (signed in with the CLI into
 * the mesh's folder) and returns its output (malloc'd) and exit status. */
static char *cli(const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "XDG_CONFIG_HOME='%s/cli' CODECOURT_SERVER=http://127.0.0.1:%u "
             "CODECOURT_PASSWORD=rootpassword '%s/codecourt' %s 2>&1",
             mesh.dir, mesh.gw_port, CC_BIN_DIR, args);
    FILE *f = popen(cmd, "r");
    char *out = calloc(1, 65536);
    size_t n = 0, r;
    while (f && out && n < 65535 && (r = fread(out + n, 1, 65535 - n, f)) > 0)
        n += r;
    int ws = f ? pclose(f) : -1;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    return out;
}

/* ---- registry ------------------------------------------------------------------- */

/* How many keys of <judge-cache>/toolchains are kept for language lang
 * with version ver ("" for any; a key twice counts once: two threads may
 * probe at once); with set, each such line's version is rewritten to set
 * (what the next start must read instead of probing). */
static int kept_toolchains(const char *lang, const char *ver, const char *set)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/judge-cache/toolchains", mesh.dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    static char out[1 << 16];
    size_t used = 0;
    char line[1024], keys[16][64];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char l[64], h[64], v[900];
        bool match = sscanf(line, "%63[^\t]\t%63[^\t]\t%899[^\n]", l, h, v) == 3 &&
                     !strcmp(l, lang) && (!ver[0] || !strcmp(v, ver));
        int k = 0;
        while (match && k < n && strcmp(keys[k], h) != 0)
            k++;
        if (match && k == n && n < 16)
            snprintf(keys[n++], sizeof keys[0], "%s", h);
        used += (size_t)snprintf(out + used, sizeof out - used, "%s",
                                 match && set ? cct_fmt("%s\t%s\t%s\n", l, h, set) : line);
    }
    fclose(f);
    if (set && (f = fopen(path, "w"))) {
        fputs(out, f);
        fclose(f);
    }
    return n;
}

/* A copy of the language table whose C toolchain reports its version as
 * `gcc -dumpfullversion` does ("12.2.0"): another version string, as a
 * judge with another compiler would report. */
static void write_other_table(char *path, size_t cap)
{
    snprintf(path, cap, "%s/languages-other.yaml", mesh.dir);
    FILE *in = fopen(CC_LANGUAGES_FILE, "r"), *out = fopen(path, "w");
    if (!in || !out) {
        CCT_FAIL("cannot copy %s", CC_LANGUAGES_FILE);
        exit(1);
    }
    char line[4096];
    bool done = false;
    while (fgets(line, sizeof line, in)) {
        if (!done && strstr(line, "version: [/usr/bin/gcc, --version]")) {
            fputs("    version: [/usr/bin/gcc, -dumpfullversion]\n", out);
            done = true;
        } else {
            fputs(line, out);
        }
    }
    fclose(in);
    fclose(out);
    CCT_CHECK(done, "no C version probe in %s", CC_LANGUAGES_FILE);
}

static void case_registry(void)
{
    cct_account admin, ann;
    sign_in(&admin);
    pid_t pid = mesh.procs[CCT_JUDGE].pid;
    char id[128] = "";
    CCT_CHECK(wait_judge_state(&admin, pid, "idle", 15000, id), "the judge registers idle");

    /* What it registered: version, capacity, heartbeat, its box, and the
     * toolchains as their probes finish (C is the table's first row). */
    bool have_c = false;
    for (double end = cct_now_s() + 60; !have_c && cct_now_s() < end; usleep(200000)) {
        json_t *l = judges(&admin), *j = l ? judge_of(l, pid) : NULL;
        if (j) {
            CCT_CHECK(!strcmp(cct_json_str(j, "version"), CC_VERSION), "version %s",
                      cct_json_str(j, "version"));
            CCT_CHECK(json_integer_value(json_object_get(j, "capacity")) == 1, "capacity");
            CCT_CHECK(num(j, "heartbeatMs") == 500, "heartbeatMs %lld", num(j, "heartbeatMs"));
            json_t *box = json_object_get(j, "box");
            CCT_CHECK(json_is_true(json_object_get(box, "sandbox")) &&
                          json_is_true(json_object_get(box, "networkIsolated")) &&
                          json_is_true(json_object_get(box, "seccomp")),
                      "the box report: %s", json_dumps(box, JSON_COMPACT));
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(j, "languages"), i, t)
            {
                if (!strcmp(cct_json_str(t, "language"), "c")) {
                    have_c = true;
                    CCT_CHECK(!strncmp(cct_json_str(t, "version"), "gcc", 3), "C is %s",
                              cct_json_str(t, "version"));
                }
            }
        }
        json_decref(l);
    }
    CCT_CHECK(have_c, "the C toolchain is registered within 60 s");
    CCT_CHECK(kept_toolchains("c", "", NULL) == 1, "the C toolchain's version is kept once");

    /* Admins only; a bad order names its field; an unknown judge is 404. */
    if (!cct_register(&mesh, "ann", &ann))
        exit(1);
    cct_resp r = api("GET", "/v1/admin/judges", NULL, &ann);
    CCT_CHECK(r.status == 403, "a user lists the judges: %ld", r.status);
    cct_resp_free(&r);
    char detail[256];
    long st = order(&admin, id, "explode", detail);
    CCT_CHECK(st == 400 && strstr(detail, "action"), "a bad action: %ld %s", st, detail);
    st = order(&admin, "no-such-judge", "drain", detail);
    CCT_CHECK(st == 404 && strstr(detail, "id"), "an unknown judge: %ld %s", st, detail);

    /* The CLI shows the same and gives the same orders. */
    int rc;
    free(cli("login --username root", &rc));
    char *out = cli("judges", &rc);
    CCT_CHECK(rc == 0 && strstr(out, id) && strstr(out, "idle") && strstr(out, "queue: 0 waiting"),
              "codecourt judges (%d): %s", rc, out);
    free(out);
    out = cli(cct_fmt("judges drain %s", id), &rc);
    CCT_CHECK(rc == 0 && strstr(out, "drain ordered"), "codecourt judges drain (%d): %s", rc, out);
    free(out);
    CCT_CHECK(wait_judge_state(&admin, pid, "drained", 5000, NULL), "drained by the CLI");
    out = cli(cct_fmt("judges enable %s", id), &rc);
    CCT_CHECK(rc == 0, "codecourt judges enable (%d): %s", rc, out);
    free(out);
    CCT_CHECK(wait_judge_state(&admin, pid, "idle", 5000, NULL), "enabled by the CLI");

    /* The result names the judge and its toolchain. */
    char sid[1][64];
    submit(&admin, CCT_AC_C, "registry-1", sid[0]);
    json_t *s = wait_judged(&admin, sid[0], 1, 60000);
    char first[256] = "";
    if (s) {
        CCT_CHECK(!strcmp(cct_json_str(s, "judge"), id), "judged by %s, not %s",
                  cct_json_str(s, "judge"), id);
        snprintf(first, sizeof first, "%s", cct_json_str(s, "toolchain"));
        CCT_CHECK(!strncmp(first, "gcc", 3), "toolchain %s", first);
        CCT_CHECK(!json_is_true(json_object_get(s, "toolchainChanged")), "not a rejudge");
    }
    json_decref(s);
    bool counted = false;
    for (double end = cct_now_s() + 5; !counted && cct_now_s() < end; usleep(100000)) {
        json_t *l = judges(&admin);
        counted = l && num(judge_of(l, pid), "jobsDone") == 1;
        json_decref(l);
    }
    CCT_CHECK(counted, "jobsDone counts the judging");

    /* The judge restarts with another C toolchain; it was gone meanwhile. */
    CCT_CHECK(cc_local_proc_stop(&mesh.procs[CCT_JUDGE], SIGTERM, 30000) == CC_OK,
              "the judge stops");
    CCT_CHECK(wait_judge_state(&admin, pid, "gone", 10000, NULL), "a stopped judge is gone");
    char other[4400];
    write_other_table(other, sizeof other);
    const char *flags[] = {"--heartbeat=500ms", cct_fmt("--judge-languages=%s", other), NULL};
    mesh.o.judge_extra = flags;
    CCT_CHECK(cct_mesh_start_proc(&mesh, CCT_JUDGE), "the judge starts again");
    cct_resp rj = api("POST", cct_fmt("/v1/submissions/%s/rejudge", sid[0]), "{}", &admin);
    CCT_CHECK(rj.status == 200, "rejudge: %ld", rj.status);
    cct_resp_free(&rj);
    s = wait_judged(&admin, sid[0], 2, 60000);
    if (s) {
        CCT_CHECK(!strcmp(cct_json_str(s, "toolchain"), "12.2.0"), "rejudged with %s",
                  cct_json_str(s, "toolchain"));
        CCT_CHECK(!strcmp(cct_json_str(s, "previousToolchain"), first), "previous %s",
                  cct_json_str(s, "previousToolchain"));
        CCT_CHECK(json_is_true(json_object_get(s, "toolchainChanged")),
                  "the rejudge says its toolchain changed");
    }
    json_decref(s);

    /* Another probe is another key: both answers are kept. The next start
     * reads the kept one instead of probing (made to differ here). */
    CCT_CHECK(kept_toolchains("c", "", NULL) == 2, "two C toolchain versions kept");
    CCT_CHECK(cc_local_proc_stop(&mesh.procs[CCT_JUDGE], SIGTERM, 30000) == CC_OK,
              "the judge stops");
    CCT_CHECK(kept_toolchains("c", "12.2.0", "12.2.0-kept") == 1, "12.2.0 kept once");
    CCT_CHECK(cct_mesh_start_proc(&mesh, CCT_JUDGE), "the judge starts a third time");
    rj = api("POST", cct_fmt("/v1/submissions/%s/rejudge", sid[0]), "{}", &admin);
    CCT_CHECK(rj.status == 200, "rejudge: %ld", rj.status);
    cct_resp_free(&rj);
    s = wait_judged(&admin, sid[0], 3, 60000);
    if (s)
        CCT_CHECK(!strcmp(cct_json_str(s, "toolchain"), "12.2.0-kept"),
                  "judged with %s, not the kept version", cct_json_str(s, "toolchain"));
    json_decref(s);
}

/* ---- drain and disable -------------------------------------------------------------- */

static void case_drain(void)
{
    cct_account admin;
    sign_in(&admin);
    pid_t pid = mesh.procs[CCT_JUDGE].pid;
    char id[128] = "";
    CCT_CHECK(wait_judge_state(&admin, pid, "idle", 15000, id), "the judge registers idle");
    char ids[3][64];

    /* Drain while judging: it finishes, then takes nothing. */
    submit(&admin, CCT_SLOW_RUN_C, "drain-1", ids[0]);
    CCT_CHECK(cct_wait_submission(&mesh, &admin, ids[0], "running", 60000), "running");
    CCT_CHECK(order(&admin, id, "drain", NULL) == 200, "drain");
    CCT_CHECK(wait_judge_state(&admin, pid, "draining", 5000, NULL), "draining with a job");
    submit(&admin, CCT_AC_C, "drain-2", ids[1]);
    json_t *s = wait_judged(&admin, ids[0], 1, 60000);
    json_decref(s);
    CCT_CHECK(wait_judge_state(&admin, pid, "drained", 5000, NULL), "drained");
    CCT_CHECK(stays(&admin, ids[1], "queued", 2500), "a drained judge takes nothing");
    s = cct_get_submission(&mesh, &admin, ids[1]);
    long long place = json_integer_value(json_object_get(s, "queuePosition"));
    long long wait = num(s, "estimatedWaitMs");
    /* One queued, one judging finished in the last five minutes. */
    CCT_CHECK(place == 1, "queuePosition %lld", place);
    CCT_CHECK(wait == 300000, "estimatedWaitMs %lld (one judged in 300 s, one to go)", wait);
    json_decref(s);
    json_t *l = judges(&admin);
    CCT_CHECK(l && num(l, "queueDepth") == 1 && num(l, "oldestQueuedMs") >= 2500,
              "queueDepth %lld, oldestQueuedMs %lld", num(l, "queueDepth"),
              num(l, "oldestQueuedMs"));
    json_decref(l);
    CCT_CHECK(order(&admin, id, "enable", NULL) == 200, "enable");
    s = wait_judged(&admin, ids[1], 1, 60000);
    json_decref(s);

    /* Disable while judging: the job goes back to the queue at once. */
    submit(&admin, CCT_SLOW_RUN_C, "drain-3", ids[2]);
    CCT_CHECK(cct_wait_submission(&mesh, &admin, ids[2], "running", 60000), "running");
    CCT_CHECK(order(&admin, id, "disable", NULL) == 200, "disable");
    CCT_CHECK(wait_judge_state(&admin, pid, "disabled", 5000, NULL), "disabled");
    bool requeued = false;
    for (double end = cct_now_s() + 5; !requeued && cct_now_s() < end; usleep(100000)) {
        s = cct_get_submission(&mesh, &admin, ids[2]);
        requeued = s && !strcmp(cct_json_str(s, "status"), "queued");
        json_decref(s);
    }
    CCT_CHECK(requeued, "a disabled judge's submission reads queued again");
    CCT_CHECK(stays(&admin, ids[2], "queued", 2000), "a disabled judge takes nothing");
    CCT_CHECK(order(&admin, id, "enable", NULL) == 200, "enable");
    s = wait_judged(&admin, ids[2], 1, 60000);
    json_decref(s);
    cct_check_all(&mesh, &admin, ids, 3, 60000);
}

/* ---- a judge killed mid-job ---------------------------------------------------------- */

static void case_killed(void)
{
    cct_account admin;
    sign_in(&admin);
    cc_local_proc second;
    uint16_t ops;
    if (cc_local_free_port(&ops) != CC_OK ||
        !cct_mesh_spawn_as(&mesh, CCT_JUDGE, &second, ops, "cc-judge-2", NULL) ||
        !cct_wait_judge_taking(&mesh, &second, "cc-judge-2", 60000)) {
        CCT_FAIL("the second judge does not start");
        exit(1);
    }
    CCT_CHECK(wait_judge_state(&admin, mesh.procs[CCT_JUDGE].pid, "idle", 15000, NULL) &&
                  wait_judge_state(&admin, second.pid, "idle", 15000, NULL),
              "two judges registered");
    char ids[1][64];
    submit(&admin, CCT_SLOW_RUN_C, "killed-1", ids[0]);
    CCT_CHECK(cct_wait_submission(&mesh, &admin, ids[0], "running", 60000), "running");
    json_t *s = cct_get_submission(&mesh, &admin, ids[0]);
    char victim_id[128];
    snprintf(victim_id, sizeof victim_id, "%s", s ? cct_json_str(s, "judge") : "");
    json_decref(s);
    json_t *l = judges(&admin);
    bool first = l && judge_of(l, mesh.procs[CCT_JUDGE].pid) &&
                 !strcmp(cct_json_str(judge_of(l, mesh.procs[CCT_JUDGE].pid), "id"), victim_id);
    json_t *vj = l ? judge_of(l, first ? mesh.procs[CCT_JUDGE].pid : second.pid) : NULL;
    /* The registry lists the job on the judge that has it. */
    CCT_CHECK(vj && !strcmp(cct_json_str(vj, "state"), "judging") &&
                  json_array_size(json_object_get(vj, "jobs")) == 1 &&
                  !strcmp(json_string_value(json_array_get(json_object_get(vj, "jobs"), 0)),
                          ids[0]),
              "the judging judge lists the job: %s", vj ? json_dumps(vj, JSON_COMPACT) : "none");
    json_decref(l);
    cc_local_proc *victim = first ? &mesh.procs[CCT_JUDGE] : &second;
    pid_t vpid = victim->pid;
    double killed_at = cct_now_s();
    CCT_CHECK(cc_local_proc_kill(victim) == CC_OK, "kill -9 the judge");
    bool requeued = false;
    for (double end = cct_now_s() + 10; !requeued && cct_now_s() < end; usleep(50000)) {
        s = cct_get_submission(&mesh, &admin, ids[0]);
        const char *st = s ? cct_json_str(s, "status") : "";
        requeued = !strcmp(st, "queued");
        if (!strcmp(st, "judged") || !strcmp(st, "compiling")) {
            json_decref(s);
            break; /* the other judge was faster than the sweep */
        }
        json_decref(s);
    }
    CCT_CHECK(requeued, "the killed judge's submission reads queued again");
    printf("killed judge: submission queued again %.1f s after the kill\n",
           cct_now_s() - killed_at);
    CCT_CHECK(wait_judge_state(&admin, vpid, "gone", 5000, NULL), "the killed judge is gone");
    s = wait_judged(&admin, ids[0], 1, 60000);
    if (s)
        CCT_CHECK(strcmp(cct_json_str(s, "judge"), victim_id) != 0,
                  "the other judge gave the verdict (%s)", cct_json_str(s, "judge"));
    json_decref(s);
    cct_check_all(&mesh, &admin, ids, 1, 60000);
    /* Leave the mesh whole for cct_mesh_stop. */
    if (first) {
        CCT_CHECK(cct_mesh_start_proc(&mesh, CCT_JUDGE), "the judge starts again");
        cc_local_proc_stop(&second, SIGTERM, 30000);
    }
}

static const cct_case cases[] = {
    {"registry", case_registry},
    {"drain", case_drain},
    {"killed", case_killed},
};

int main(int argc, char **argv)
{
    cct_mesh_options o = {.judge_concurrency = 1, .judge_extra = judge_flags};
    return cct_run_case(&mesh, "test-fleet", &o, cases, sizeof cases / sizeof cases[0], argc,
                        argv);
}
