/* The judge's public API: load a language table and a Kattis/ICPC problem
 * package, then judge one submission against it in the bubblewrap sandbox
 * and get a result struct back. `cc-judge verify` and `cc-judge run` are
 * thin loops over this API; the mesh worker (cc-judge serve) calls the
 * same judge_worker_judge() for each job.
 *
 * Ownership: every object returned by a load or new function is owned by
 * the caller and released with the matching free function. A judge_result is
 * filled by the judge and released with judge_result_clear(). Nothing here
 * keeps a pointer to caller memory after returning, except that a worker
 * keeps pointers to the package and language table it was created with, so
 * those must outlive it. All functions are safe to call from several
 * threads as long as each thread uses its own worker. */
#ifndef JUDGE_JUDGE_H
#define JUDGE_JUDGE_H

#include "cc/status.h"
#include "judge/package.h"

#include <stdbool.h>
#include <stddef.h>

/* X(NAME, "json name", "meaning") — the order is stable; it is the order
 * of precedence nowhere, only a list. */
#define JUDGE_VERDICT_MAP(X)                                                                       \
    X(AC, "AC", "accepted")                                                                        \
    X(WA, "WA", "wrong answer")                                                                    \
    X(PE, "PE", "presentation error")                                                              \
    X(TLE, "TLE", "time limit exceeded")                                                           \
    X(MLE, "MLE", "memory limit exceeded")                                                         \
    X(OLE, "OLE", "output limit exceeded")                                                         \
    X(RE, "RE", "run-time error")                                                                  \
    X(CE, "CE", "compile error")                                                                   \
    X(IE, "IE", "internal error")                                                                  \
    X(SKIPPED, "SKIPPED", "language not installed")

typedef enum {
#define JUDGE__V_ENUM(name, str, msg) JUDGE_##name,
    JUDGE_VERDICT_MAP(JUDGE__V_ENUM)
#undef JUDGE__V_ENUM
        JUDGE_VERDICT_COUNT
} judge_verdict;

/* "AC", "WA"...; never NULL. */
const char *judge_verdict_str(judge_verdict v);
/* Parses "AC", "RTE" (as RE)... Returns false for an unknown name. */
bool judge_verdict_parse(const char *s, judge_verdict *out);

typedef struct judge_langs judge_langs;     /* the language table */
typedef struct judge_lang judge_lang;       /* one row of it */
typedef struct judge_package judge_package; /* a loaded problem package */
typedef struct judge_worker judge_worker;   /* sandbox state reused across submissions */

/* Loads the language table (YAML, see judge-pool/languages.yaml). On error
 * returns a status and sets cc_err_msg() naming the file and the problem. */
cc_status judge_langs_load(const char *path, judge_langs **out);
void judge_langs_free(judge_langs *langs);
size_t judge_langs_count(const judge_langs *langs);
const judge_lang *judge_langs_at(const judge_langs *langs, size_t i);
/* Looks a language up by id ("c", "cpp", "python3"...); NULL if unknown. */
const judge_lang *judge_langs_find(const judge_langs *langs, const char *id);
/* Picks the language of a submission from its file names' extensions
 * (the rules at the top of languages.yaml: each file votes for the row
 * that claims it, the most votes win); NULL when no file is a source of
 * any language. Without the files' text, content rules cannot match (a
 * .pl file is then Perl): judge_langs_detect_files looks at data[i]
 * (lens[i] bytes) too. */
const judge_lang *judge_langs_detect(const judge_langs *langs, const char *const *files,
                                     size_t nfiles);
const judge_lang *judge_langs_detect_files(const judge_langs *langs, const char *const *names,
                                           const char *const *data, const size_t *lens,
                                           size_t n);
const char *judge_lang_id(const judge_lang *lang);
const char *judge_lang_name(const judge_lang *lang);
/* True when every toolchain path the row names exists on this machine. */
bool judge_lang_available(const judge_lang *lang);
/* The first line the row's version probe prints ("gcc (Debian 12.2.0-14)
 * 12.2.0"), run on the host (it only prints a version) at the lowest CPU
 * priority with a 30 s limit, into out; "" when the toolchain is missing or printed nothing. Blocks
 * (it forks): call it off the loop. */
void judge_lang_version(const judge_lang *lang, char *out, size_t n);
/* The first file extension of the row (without the dot, owned by the
 * table), or "" when it lists none. */
const char *judge_lang_extension(const judge_lang *lang);

/* Loads PACKAGE_DIR (legacy, 2023-07 or 2025-09 format) with the one
 * package reader (judge/package.h). A broken package fails with
 * CC_UNPROCESSABLE and an error in d naming the file and the problem (also
 * in cc_err_msg()); warnings go to d too. d may be NULL. */
cc_status judge_package_load(const char *dir, const judge_langs *langs, pkg_diags *d,
                             judge_package **out);
void judge_package_free(judge_package *pkg);
const char *judge_package_name(const judge_package *pkg);
/* The package's time limit in seconds, or 0 when it must be derived from
 * the accepted submissions (judge_package_set_time_limit sets it then). */
double judge_package_time_limit(const judge_package *pkg);
void judge_package_set_time_limit(judge_package *pkg, double seconds);

/* What judge_options.progress is told: compiling has started, or one
 * more test has finished. */
typedef struct judge_test_result judge_test_result;
typedef struct {
    const char *stage;             /* "compiling" or "running" */
    size_t test_index;             /* 1-based, running only */
    size_t test_count;             /* tests in the package: an upper bound, as a
                                      pass-fail run stops at its first failure */
    const judge_test_result *test; /* the test just finished, running only */
} judge_progress;

/* Options shared by all workers; zero-initialise and set what you need. */
typedef struct {
    const char *runner_path; /* cc-judge-runner; NULL = next to this executable */
    const char *bwrap_path;  /* NULL = /usr/bin/bwrap */
    double time_limit;       /* seconds, overrides the package's when > 0 */
    /* The operator's caps on what a package (or a job) may ask for; 0 =
     * none. A larger limit is lowered to the cap: the time limit of every
     * test, the memory of runs, compilations and validators, the
     * compilation and validation times. */
    double max_time_limit;   /* seconds */
    long max_memory_mib;
    long max_compile_time_s;
    long max_validation_time_s;
    bool keep_going;         /* run every test even after a failure (pass-fail) */
    /* A custom run (the app's "Run" on the user's own input) when > 0:
     * no output check (a test whose program ends normally is AC) and
     * each test keeps the first capture_output bytes of its stdout and
     * stderr. The sandbox and limits are those of any test. */
    size_t capture_output;
    /* Called on the judging thread when compiling starts and after every
     * test (the mesh worker turns these into progress events). Returning
     * false stops judging before the next step: the result is then IE
     * "judging cancelled", so a worker that is shutting down does not wait
     * for every remaining test. NULL = no calls. */
    bool (*progress)(void *ud, const judge_progress *p);
    void *progress_ud;
    /* Tracing spans around the compilation (test -1) and each test (its
     * index), on the judging thread: span_begin's result is handed to
     * span_end with the step's verdict (JUDGE_AC for a compilation that
     * succeeded). The mesh worker makes them OpenTelemetry spans; the
     * library itself stays free of the runtime's tracer. NULL = none. */
    void *(*span_begin)(void *ud, const char *name, long test);
    void (*span_end)(void *ud, void *span, judge_verdict v);
    void *span_ud;
} judge_options;

struct judge_test_result {
    char *name; /* "secret/group1/03" (path under data/, no extension) */
    judge_verdict verdict;
    double score;       /* test case score for scoring problems, else 0 */
    long cpu_ms, wall_ms, memory_kib;
    int exit_code;      /* when term_signal is 0 */
    int term_signal;    /* signal that ended the program, or 0 */
    char *message;      /* validator or checker feedback, may be NULL */
    bool sample;        /* under data/sample: its details may be shown to the
                           submitter; a secret test's message may quote the answer */
    /* With judge_options.capture_output: what the program wrote (at most
     * that many bytes each, NUL-terminated; a NUL it wrote ends the text
     * early), and whether there was more. NULL otherwise. */
    char *stdout_text, *stderr_text;
    bool stdout_truncated, stderr_truncated;
};

/* A scoring problem's test group directly under data/secret, as its
 * aggregation scored it: contests keep the best of each across
 * submissions (IOI's subtask-wise best). */
typedef struct {
    char *name; /* "secret/group1" */
    double score, max_score;
} judge_group_score;

typedef struct {
    char *language;      /* language id, NULL if none could be determined */
    judge_verdict verdict;
    double score, max_score;
    judge_test_result *tests;
    size_t ntests;
    judge_group_score *groups; /* scoring problems with groups under secret */
    size_t ngroups;
    char *message;       /* compiler output, skip reason, internal error... */
    long compile_ms;     /* wall time of the compilation, 0 if none */
} judge_result;

/* Creates a worker for one package. The worker compiles the package's
 * output validator lazily, the first time it is needed, in its own box.
 * It reads the package's limits (capped by opts) when it is created. */
cc_status judge_worker_new(const judge_package *pkg, const judge_langs *langs,
                           const judge_options *opts, judge_worker **out);
void judge_worker_free(judge_worker *w);

/* Judges one submission: compiles the sources (paths on the host; a single
 * folder means a multi-file submission) in a fresh box and runs every test
 * there. lang may be NULL to detect it from the file names. The verdict
 * of a submission that cannot be judged (unknown language, unreadable
 * file) is IE or SKIPPED with a message; the return value is CC_OK
 * whenever out holds a meaningful result. */
cc_status judge_worker_judge(judge_worker *w, const judge_lang *lang, const char *const *sources,
                             size_t nsources, double time_limit, judge_result *out);

void judge_result_clear(judge_result *r);

/* Removes sandbox cgroups left by judge processes that died without
 * closing their boxes (killed with SIGKILL), killing what still runs in
 * them. The mesh worker calls it at start. */
void judge_clean_stale_sandboxes(void);

/* Whether sandboxes get a cgroup of their own in this process (it creates
 * and removes one to find out); false = rlimits and the runner's own CPU
 * accounting (judge-pool/README.md, "Sandbox"). */
bool judge_sandbox_cgroups(void);

/* What a box enforces on this host, found by opening a real one (the box
 * a judging uses) and looking from inside it: cc-judge selfcheck prints
 * it, the mesh worker registers it with the fleet. */
typedef struct judge_box_report {
    bool sandbox;          /* a program ran in it */
    bool cgroup;           /* a cgroup per box, else rlimits */
    bool network_isolated; /* loopback only */
    bool seccomp;
    bool shm_private;      /* a private, writable /dev/shm */
    bool dev_readonly;
    char uid[16];          /* the uid inside */
    char error[256];       /* why no box opened; "" when one did */
} judge_box_report;
void judge_box_check(judge_box_report *r);

#endif
