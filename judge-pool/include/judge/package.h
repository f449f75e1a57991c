/* The Kattis / ICPC problem package format, read by one library: cc-judge
 * (verify, run and the mesh worker), cc-problem's import and the codecourt
 * CLI all link this reader, so a package one of them accepts is a package
 * every one of them accepts, with the same limits and the same messages.
 *
 * A package is first read into a set of files (pkg_files: from a folder, from a
 * zip in memory or in a file, or built by the caller from stored rows),
 * then checked (pkg_check), which parses problem.yaml, the test data and
 * its group settings, the output validator and the example submissions
 * with the same code the judge judges with.
 *
 * What a reader has to say about a package goes into a pkg_diags list:
 * errors (the package is refused) and warnings (it is accepted), each
 * naming the file (and line) it is about, printed the same way by every
 * tool (pkg_diag_str).
 *
 * Ownership: everything a function fills is owned by the caller and freed
 * with the matching free function. Running out of memory aborts the
 * process (the judge library's one allocation door). Nothing here uses a
 * loop, a database or global state: it runs on any thread, in tests and
 * under the fuzzer. Internal prefix: pkg_. */
#ifndef JUDGE_PACKAGE_H
#define JUDGE_PACKAGE_H

#include "cc/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- diagnostics ----------------------------------------------------------- */

typedef enum { PKG_ERROR, PKG_WARNING } pkg_level;

typedef struct pkg_diag {
    pkg_level level;
    char *file; /* package-relative ("problem.yaml", "data/secret/1.in"), "" for the whole */
    int line;   /* 1-based, 0 when the message is about the whole file */
    char *text; /* what is wrong, a sentence without the file */
} pkg_diag;

typedef struct pkg_diags {
    pkg_diag *v;
    size_t n, cap;
} pkg_diags;

/* Adds one diagnostic; d may be NULL (nothing is recorded). */
void pkg_diags_add(pkg_diags *d, pkg_level level, const char *file, int line, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
size_t pkg_diags_count(const pkg_diags *d, pkg_level level);
/* The first error, or NULL. */
const pkg_diag *pkg_diags_first_error(const pkg_diags *d);
/* The one way a diagnostic is shown: "FILE: line N: TEXT" ("FILE: TEXT"
 * without a line; "TEXT" without a file). The API's error detail, the
 * CLI and cc-judge print exactly this. malloc'd. */
char *pkg_diag_str(const pkg_diag *d);
void pkg_diags_free(pkg_diags *d);

/* ---- the files of a package -------------------------------------------------- */

typedef struct pkg_file {
    char *path;      /* package-relative: "data/secret/1.in" */
    char *src;       /* the entry's name in the zip, NULL for other sources */
    char sha256[65]; /* lowercase hex; "" when not computed (folders) */
    int64_t size;
    /* The content of a small text file the format describes (*.yaml,
     * *.yml, *.md, .timelimit) when it is at most max_text bytes and holds
     * no NUL; NULL otherwise. */
    char *text;
} pkg_file;

typedef struct pkg_files {
    pkg_file *files; /* sorted by path (bytewise) once read or after pkg_sort */
    size_t nfiles, cap;
    int64_t total_size;
    char *top; /* the single top-level folder a zip had (stripped), or NULL */
} pkg_files;

typedef struct pkg_limits {
    size_t max_files;  /* entries, folders included */
    int64_t max_total; /* bytes of all files, uncompressed */
    int64_t max_text;  /* largest text file kept (problem.yaml, statements...) */
} pkg_limits;

/* Limits for a package on the local disk (cc-judge, the CLI): generous,
 * as the operator owns the files. */
extern const pkg_limits pkg_local_limits;

/* Reads a zip held in memory (the fuzzer's entry) or in a file. Every
 * entry is checked (no absolute or ../ paths, no links or special files,
 * the limits), hashed, and small texts are kept. A package zipped with
 * its folder has that folder stripped (p->top). On failure the reason is
 * an error in d (and cc_err_msg()), CC_UNPROCESSABLE is returned, and out
 * is left empty. */
cc_status pkg_read_zip_memory(const void *buf, size_t len, const pkg_limits *lim, pkg_files *out,
                              pkg_diags *d);
cc_status pkg_read_zip_file(const char *path, const pkg_limits *lim, pkg_files *out, pkg_diags *d);

/* Reads a package folder: every path is resolved beneath dir (a symbolic
 * link is followed only while it stays inside the package, links that
 * leave it are refused naming the file), FIFOs, devices and sockets are
 * refused, sizes recorded, small texts kept (no hashes). */
cc_status pkg_read_dir(const char *dir, const pkg_limits *lim, pkg_files *out, pkg_diags *d);

/* True for the files whose text the format reads and pkg_file.text keeps
 * (*.yaml, *.yml, *.md, .timelimit). */
bool pkg_is_text_file(const char *path);
/* Appends a file (path and text copied; text may be NULL). */
void pkg_add(pkg_files *p, const char *path, const char *sha256, int64_t size, const char *text);
/* Sorts by path; a path that appears twice is an error in d
 * (CC_UNPROCESSABLE). */
cc_status pkg_sort(pkg_files *p, pkg_diags *d);
/* The file at path, or NULL (p sorted). */
const pkg_file *pkg_find(const pkg_files *p, const char *path);
void pkg_free(pkg_files *p);

/* Streams every file of p (read with pkg_read_zip_file) from the zip at
 * path again, calling fn with its content in pieces (at most 1 MiB each,
 * bounded memory). The content is re-hashed and must equal what the read
 * saw. fn returns CC_OK to go on. Failures set cc_err_msg(). */
typedef cc_status (*pkg_sink)(void *ud, const pkg_file *f, const void *data, size_t len,
                              bool last);
cc_status pkg_stream_zip(const char *path, const pkg_files *p, pkg_sink fn, void *ud);

/* Writes the files as a canonical zip at out_path: entries sorted by path
 * under "<top>/", fixed timestamps and permissions, so the same files
 * always export to the same bytes. rd(ud, f, off, buf, cap) supplies the
 * content in pieces and returns the bytes read (0 at the end) or -1.
 * Failures set cc_err_msg(). */
typedef int64_t (*pkg_reader)(void *ud, const pkg_file *f, int64_t off, void *buf, size_t cap);
cc_status pkg_write_zip(const char *out_path, const char *top, const pkg_files *p, pkg_reader rd,
                        void *ud);
/* A pkg_reader for a package read with pkg_read_dir(dir): ud is the
 * folder's path. */
int64_t pkg_dir_reader(void *ud, const pkg_file *f, int64_t off, void *buf, size_t cap);

/* The version hash of a manifest: SHA-256 over the canonical text, one line
 * "<path>\t<size>\t<sha256>\n" per file in byte order of path. */
void pkg_manifest_hash(const pkg_files *p, char out[65]);
/* SHA-256 of a buffer as lowercase hex. */
void pkg_sha256_hex(const void *data, size_t len, char out[65]);
/* True for a test data name: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}. */
bool pkg_name_ok(const char *name);

/* ---- checking: what the judge will judge with --------------------------------- */

/* The time limit a package that names none is judged with when no
 * accepted submission derived one (cc-judge verify derives it; the mesh
 * judge and the import API use this), in milliseconds. */
#define PKG_DEFAULT_TIME_LIMIT_MS 10000

typedef struct pkg_check_opts {
    /* A version built through the API may lack test data until a test set
     * is uploaded: no secret tests is then not an error. */
    bool allow_no_tests;
} pkg_check_opts;

typedef struct pkg_meta {
    char *name;            /* problem.yaml's name (or name.en); "" when none */
    char *format;          /* "legacy", "2023-07-draft", "2025-09"... */
    bool scoring, interactive;
    bool custom_validator; /* an output validator program judges the output */
    /* The limits the judge applies: the package's, or the defaults (the
     * format's; PKG_DEFAULT_TIME_LIMIT_MS for a package without a time
     * limit, which cc-judge verify derives from its accepted
     * submissions instead). Never 0. */
    int64_t time_limit_ms, memory_mib, output_mib;
    bool time_limit_given; /* the package names its time limit */
    char *validator_flags;      /* the default validator's flags, "" if none */
    const char *statement_path; /* the Markdown statement (in the files), NULL if none */
    const char *statement_md;   /* its text (borrowed from the files), "" if none */
    int sample_count, test_count; /* test_count counts the samples too */
} pkg_meta;

/* Checks p with the judge's own parser and fills meta. CC_OK: the package
 * is accepted (d may hold warnings). CC_UNPROCESSABLE: refused, the
 * reason is an error in d and cc_err_msg(). meta borrows from p. */
cc_status pkg_check(const pkg_files *p, const pkg_check_opts *o, pkg_meta *meta, pkg_diags *d);
void pkg_meta_free(pkg_meta *meta);

/* Writes a problem.yaml (legacy format, which every version of the reader
 * accepts) for metadata kept outside a package. malloc'd. */
char *pkg_problem_yaml(const char *title, bool scoring, bool interactive, int64_t time_limit_ms,
                       int64_t memory_mib, int64_t output_mib, bool custom, const char *flags);

#endif
