/* Internal interfaces of cc-judge, shared between its source files. */
#ifndef JUDGE_INTERNAL_H
#define JUDGE_INTERNAL_H

#include "judge/judge.h"
#include "judge/package.h"
#include "proto.h"

#include <stdarg.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define JUDGE_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- allocation: one door ------------------------------------------------
 * The judge cannot produce a truthful verdict without memory, so running
 * out of it aborts loudly instead of guessing. */
void *judge__xmalloc(size_t n);
void *judge__xcalloc(size_t n, size_t size);
void *judge__xrealloc(void *p, size_t n);
char *judge__xstrdup(const char *s);
char *judge__xstrndup(const char *s, size_t n);
char *judge__xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte string, always NUL-terminated. */
typedef struct {
    char *p;
    size_t len, cap;
} jstr;
void jstr_add(jstr *s, const void *data, size_t n);
void jstr_adds(jstr *s, const char *str);
void jstr_addf(jstr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *jstr_take(jstr *s); /* returns the buffer ("" if empty) and resets s */
void jstr_free(jstr *s);

/* A growable array of owned strings. */
typedef struct {
    char **v;
    size_t n, cap;
} jstrv;
void jstrv_push(jstrv *a, const char *s);       /* copies s */
void jstrv_push_own(jstrv *a, char *s);         /* takes s */
void jstrv_free(jstrv *a);

/* Parses a whole decimal number, rejecting trailing junk and overflow. */
bool judge__parse_long(const char *s, long *out);
bool judge__parse_double(const char *s, double *out);

/* Opens rel (relative) beneath the folder open as root_fd: every
 * component, symbolic links included, must resolve inside it (openat2
 * RESOLVE_BENEATH; where the kernel lacks openat2, no link is followed at
 * all). A path that would leave fails with EXDEV. O_CLOEXEC is added. */
int judge__open_beneath(int root_fd, const char *rel, int flags);
/* Reads a regular file of the package (path absolute under root_dir, or
 * relative to it) resolved beneath root_dir, refusing FIFOs and devices,
 * at most cap bytes. *trunc (optional) tells whether the file was longer. */
cc_status judge__read_file(const char *root_dir, const char *path, size_t cap, char **out,
                           size_t *len, bool *trunc);
/* Opens a package file for reading with the same checks; returns the fd. */
int judge__open_pkg_file(const char *root_dir, const char *path);
/* Lists a directory's entries (no "." names, sorted bytewise); returns the
 * number of entries or -1 (errno set). Each name is owned by the list. */
int judge__list_dir(const char *path, jstrv *out);
/* Sorts a->v[from..] bytewise. */
void judge__sort_strv(jstrv *a, size_t from);
bool judge__is_dir(const char *path);
bool judge__is_file(const char *path);
/* Removes a tree without following symlinks (unlinkat/openat). */
void judge__rm_tree(const char *path);
/* Copies bytes from fd into a new sealed memfd, so the box can read but
 * never modify (nor, through /proc/self/fd, reopen for writing) them. */
int judge__sealed_copy(int fd, const char *name);
/* Reads at most cap bytes of fd from offset 0. */
char *judge__read_fd(int fd, size_t cap, size_t *len, bool *trunc);
int judge__nproc(void);

/* ---- YAML: a small tree over libyaml ----------------------------------- */
typedef enum { YN_SCALAR, YN_SEQ, YN_MAP } yn_kind;
typedef struct ynode {
    yn_kind kind;
    char *str;             /* scalar value */
    size_t n;              /* items (seq) or pairs (map) */
    char **keys;           /* map keys */
    struct ynode **items;  /* seq items or map values */
    int line;
} ynode;
/* Loads a YAML file; an empty file gives *out = NULL and CC_OK. A
 * malformed one (syntax, anchors and aliases, duplicate keys, too deep or
 * too large) is CC_UNPROCESSABLE with an error naming name and the line in
 * d (may be NULL) and cc_err_msg(). */
cc_status ydoc_load_file(const char *root_dir, const char *path, ynode **out);
cc_status ydoc_load_mem(const char *name, const char *data, size_t len, pkg_diags *d,
                        ynode **out);
void ynode_free(ynode *n);
const ynode *ymap_get(const ynode *map, const char *key);
const char *yscalar(const ynode *n); /* NULL unless a scalar */
bool ynum(const ynode *n, double *out);
bool ybool(const ynode *n, bool *out);

/* ---- languages ----------------------------------------------------------- */
/* A content rule: files with extension ext count for the language only when
 * one of the regexes matches their text. */
struct lang_content {
    char *ext;
    regex_t *re;
    size_t nre;
};
struct judge_lang {
    char *id, *name;
    jstrv extensions;  /* without the dot */
    jstrv compile;     /* argv template, empty = interpreted */
    jstrv run;         /* argv template */
    jstrv version;     /* argv of the version probe */
    jstrv requires;    /* paths that must exist for the language to work */
    jstrv env;         /* "NAME=value" added to the base environment */
    jstrv host_files;  /* host configuration copied to /box/.host/<path> */
    struct lang_content *content; /* per-extension content rules */
    size_t ncontent;
    regex_t *entry;    /* regexes marking the entry file of a multi-file program */
    size_t nentry;
    bool needs_main;   /* a command uses {main}, {mainbase} or {mainclass} */
    bool address_space_limit; /* RLIMIT_AS is safe (not JVM, Go, .NET...) */
    long extra_processes;     /* threads the runtime needs beyond the program's */
    long memory_slack_mib;    /* runtime overhead outside the program's own limit */
    long compile_memory_mib;  /* 0 = package/system default */
};
struct judge_langs {
    struct judge_lang *v;
    size_t n;
};
/* Expands an argv template: {files} becomes every source, {main} the entry
 * file, {mainbase} its name without extension, {mainclass} the Kotlin
 * class ("hello.kt" -> "HelloKt"), {memory_mib} and {stack_mib} numbers. */
typedef struct {
    const jstrv *files;
    const char *main;
    long memory_mib;
} judge_expand_ctx;
void judge__expand(const jstrv *tmpl, const judge_expand_ctx *ctx, jstrv *out);
/* The language of files names[i] with text data[i] (lens[i] bytes; data may
 * be NULL: then only names decide), by the rules of languages.yaml; NULL
 * when no file is a source of any language. */
const judge_lang *judge__langs_detect(const judge_langs *t, const char *const *names,
                                      const char *const *data, const size_t *lens, size_t n);
/* The entry file among a language's source files (text as above): its
 * index, or -1 with *why set to a compile-error text naming the candidates
 * (free it). Languages whose commands use no entry get 0. */
long judge__pick_entry(const judge_lang *l, const char *const *names, const char *const *data,
                       const size_t *lens, size_t n, char **why);

/* ---- package files (pkgfiles.c, pkgzip.c) ---------------------------------- */
/* Records an error in d (may be NULL), sets cc_err_msg() to its text and
 * returns CC_UNPROCESSABLE. */
cc_status pkg__fail(pkg_diags *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The names in folder dir ("" = the root) of a sorted file set: files and
 * sub-folders, without names starting with a dot, sorted; returns the
 * count. */
int pkg__list(const pkg_files *p, const char *dir, jstrv *out);
bool pkg__is_dir(const pkg_files *p, const char *dir);
bool pkg__is_file(const pkg_files *p, const char *path);
/* Finishes an EVP_MD_CTX digest into lowercase hex. */
void pkg__digest_hex(void *md_ctx, char out[65]);

/* ---- packages ------------------------------------------------------------ */
/* Score aggregation: pass-fail, sum and min in every version; avg and max
 * only through the legacy default grader's flags. */
typedef enum { AGG_PASS_FAIL, AGG_SUM, AGG_MIN, AGG_AVG, AGG_MAX } judge_agg;
/* The legacy default grader's verdict modes. */
typedef enum { VAGG_WORST_ERROR, VAGG_FIRST_ERROR, VAGG_ALWAYS_ACCEPT } judge_vagg;

typedef struct judge_group judge_group;
typedef struct {
    char *name;    /* "secret/g1/03" */
    char *in_path, *ans_path; /* relative to the package dir */
    jstrv validator_args;
    jstrv args;
    judge_group *group;
} judge_test;

struct judge_group {
    char *name;          /* "sample", "secret", "secret/g1" */
    bool sample;
    judge_agg agg;
    double max_score;    /* < 0 = unbounded */
    double accept_score, reject_score; /* legacy per-test scores */
    bool break_on_reject;
    /* The legacy default grader decides this group's verdict and score:
     * every group of a legacy package, and groups of later versions whose
     * settings still carry its keys (grader_flags, accept_score,
     * reject_score, range, on_reject), as the archives have them. */
    bool legacy_grading;
    judge_vagg vagg;
    bool accept_if_any, ignore_sample;
    double range_lo, range_hi; /* -inf, +inf when not given */
    jstrv validator_args;
    jstrv require_pass;
    judge_group **groups; size_t ngroups;
    size_t *tests; size_t ntests; /* indexes into pkg->tests */
};

typedef struct {
    char *pattern;    /* glob relative to submissions/ */
    char *group;      /* test group pattern, NULL = whole submission */
    unsigned permitted, required; /* bit sets of judge_verdict (RE covers RTE) */
    bool has_score;
    double score_lo, score_hi;
    char *message;
} judge_expect;

typedef struct {
    char *path;     /* "submissions/accepted/a.c" relative to the package */
    char *category; /* "accepted" */
    bool is_dir;
} judge_sub;

struct judge_package {
    char *dir;            /* absolute, resolved; NULL when checked from a file set */
    char *name;
    char *format;         /* "legacy", "2023-07-draft", "2025-09"... */
    bool legacy;
    bool scoring, interactive;
    bool multipass;       /* the validator may ask for another run (nextpass.in) */
    long validation_passes; /* at most this many runs per test (multi-pass; default 2) */
    double time_limit;    /* seconds, 0 = derive */
    double ac_to_tl, tl_to_tle, time_resolution;
    long memory_mib, output_mib, compile_time_s, compile_memory_mib;
    long validation_time_s, validation_memory_mib;
    char *validator;      /* output validator program (file or folder), NULL = default */
    jstrv validator_flags;/* global default-validator flags / custom validator args */
    judge_test *tests; size_t ntests, captests;
    judge_group *root;    /* "data": children sample and secret */
    judge_group *secret;
    judge_sub *subs; size_t nsubs;
    judge_expect *expects; size_t nexpects;
    char *statement;      /* path of the Markdown statement, NULL if none */
    /* While parsing only: the files read and where diagnostics go. */
    const pkg_files *files;
    pkg_diags *diags;
};

bool judge__known_category(const char *category);
/* True when pattern matches path or one of its parent folders. */
bool judge__glob_match(const char *pattern, const char *path);

/* ---- default output validator --------------------------------------------- */
typedef struct {
    bool case_sensitive, space_sensitive;
    double abs_tol, rel_tol; /* < 0 = unset */
} judge_checker_opts;
/* Parses the flag words; false with a message in err on a bad flag. */
bool judge_checker_parse(const jstrv *flags, judge_checker_opts *o, char *err, size_t errlen);
/* Compares team output with the answer; returns AC or WA and writes a short
 * reason into msg on WA. */
judge_verdict judge_checker_run(const judge_checker_opts *o, const char *out, size_t outlen,
                                const char *ans, size_t anslen, char *msg, size_t msglen);

/* The first line where out and ans differ (lines compared without their
 * trailing whitespace), shown as "line N: expected '...', got '...'" with
 * each side cut to a short excerpt; NULL when every line is the same.
 * malloc'd. */
char *judge__first_diff(const char *out, size_t outlen, const char *ans, size_t anslen);

/* ---- sandbox (host side) ------------------------------------------------------ */
typedef struct {
    const char *runner_path;
    const char *bwrap_path;
    uint64_t box_bytes;      /* size of /box */
    uint64_t tmp_bytes;      /* size of /tmp */
} box_config;

typedef struct {
    const jstrv *argv, *env;
    const char *cwd;         /* NULL = /box */
    int fds[RP_MAX_FDS];
    int nfds;
    uint32_t flags;          /* RP_F_* */
    uint64_t cpu_ms, wall_ms;
    uint64_t memory_bytes;   /* cgroup limit (or RLIMIT_AS fallback) */
    bool address_space_limit;
    uint64_t fsize_bytes, stack_bytes, nofile, pids, tmp_bytes;
    uint32_t close_mask;     /* bit i: the host closes fds[i] once the reply is read */
    int drain_fd;            /* read end of a pipe to drain while running, -1 = none */
    size_t drain_cap;
} box_run_req;

typedef struct {
    uint32_t flags;          /* RP_R_* */
    int exit_code, term_signal, err;
    uint64_t cpu_us, wall_us, maxrss_kib, end_us;
    bool oom;                /* the cgroup saw an OOM kill during the run */
    bool cpu_exceeded;       /* host watchdog killed it on cgroup CPU time */
    char *score, *judgemsg, *multiplier; /* feedback files, NULL if absent */
    jstr drained;            /* what was read from drain_fd (capped) */
} box_run_res;

typedef struct box box;
/* Starts one bwrap + runner. The box owns a per-box cgroup when one is
 * writable; box_close kills whatever is left and removes everything. */
cc_status box_open(const box_config *cfg, box **out);
/* Unpacks a source archive (judge__archive format, in a memfd) into /box. */
cc_status box_prepare(box *b, int archive_fd);
cc_status box_seal(box *b);
/* Runs one program and waits for it. */
cc_status box_run(box *b, const box_run_req *rq, box_run_res *res);
/* Starts two programs (interactive: submission and validator) in two boxes
 * and waits for both. Each run's close_mask descriptors stay open until
 * that run's reply is read, so a peer that reacts to a closed pipe ends
 * after the run that closed it, in end_us order too. The close_mask
 * descriptors of both runs are closed when it returns, whatever it returns. */
cc_status box_run_pair(box *b1, const box_run_req *r1, box_run_res *o1, box *b2,
                       const box_run_req *r2, box_run_res *o2);
void box_run_res_clear(box_run_res *res);
void box_close(box *b);
bool box_has_cgroup(const box *b);
/* ---- selfcheck.c ---- */
/* cc-judge selfcheck: prints what a box enforces here; the exit status
 * (1 when no box runs, or strict and no cgroup per sandbox). */
int judge_selfcheck(bool strict);
/* Tests only: sends the KILL the CPU watchdog sends, for the box's last
 * run, as a watchdog that read the CPU time just before that run's reply
 * arrived would. */
void box__send_kill(box *b);
/* The runner path next to /proc/self/exe. */
char *judge__default_runner(void);

#endif
