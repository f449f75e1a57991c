/* The Kattis / ICPC problem package reader, validator and writer. Pure:
 * no database, no loop, so it runs on the thread pool, in tests and under
 * the fuzzer. Internal prefix: pkg_. */
#ifndef CC_PROBLEM_PACKAGE_H
#define CC_PROBLEM_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/status.h"

/* One file of a package. */
typedef struct pkg_file {
    char *path;       /* package-relative: "data/secret/1.in" (malloc'd) */
    char *src;        /* the entry's name in the archive (malloc'd; NULL if none) */
    char sha256[65];  /* lowercase hex */
    int64_t size;
    char *text;       /* content of small YAML and Markdown files (malloc'd, NUL-ended), else NULL */
} pkg_file;

/* What the service keeps of problem.yaml and the statement. */
typedef struct pkg_meta {
    char *title;          /* name (or name.en); may be "" */
    int type;             /* Codecourt__V1__ProblemType */
    int64_t time_limit_ms; /* 0 = not given */
    int64_t memory_mib, output_mib;
    bool custom_checker;
    char *validator_flags; /* "" if none */
    const char *statement_md; /* borrowed from the statement file's text; "" if none */
    int sample_count, test_count;
} pkg_meta;

typedef struct pkg {
    pkg_file *files; /* sorted by path after pkg_finish */
    size_t nfiles, cap;
    int64_t total_size;
    pkg_meta meta;
    char *top;       /* the single top-level folder the archive had, or NULL */
    char **warnings;
    size_t nwarnings;
    /* Set before pkg_validate for versions built through the API, which
     * may lack tests until a test set is uploaded. */
    bool allow_no_tests;
} pkg;

typedef struct pkg_limits {
    size_t max_files;     /* entries, folders included */
    int64_t max_total;    /* bytes of all files, uncompressed */
    int64_t max_text;     /* largest problem.yaml / testdata.yaml / statement */
} pkg_limits;

/* Reads and validates a zip held in memory (the fuzzer's entry) or in a
 * file: every entry is checked (no absolute or ../ paths, no symlinks or
 * other special files, limits), hashed, the package is validated (see
 * pkg_validate) and out holds the files and metadata. On error err names
 * the file and the reason and out is freed. Never touches the disk except
 * to read path. */
cc_status pkg_read_memory(const void *buf, size_t len, const pkg_limits *lim, pkg *out, char *err,
                          size_t errlen);
cc_status pkg_read_file(const char *path, const pkg_limits *lim, pkg *out, char *err,
                        size_t errlen);

/* Streams every file of p from the zip at path again, calling fn with its
 * content in pieces (at most 1 MiB each, bounded memory). The content is
 * re-hashed and must equal what pkg_read_file saw. fn returns CC_OK to go
 * on. Files whose want[i] is false are skipped (want may be NULL). */
typedef cc_status (*pkg_sink)(void *ud, const pkg_file *f, const void *data, size_t len,
                              bool last);
cc_status pkg_stream_file(const char *path, const pkg *p, const bool *want, pkg_sink fn, void *ud,
                          char *err, size_t errlen);

/* Checks a package's files (sorted by path, texts loaded for YAML and
 * Markdown) and fills p->meta: problem.yaml present, parsed and with no
 * key its format forbids; every test's .in has its .ans and the reverse;
 * test data names; testdata.yaml / test_group.yaml parse as mappings; a
 * custom or interactive problem has an output validator; at least one
 * secret test. */
cc_status pkg_validate(pkg *p, char *err, size_t errlen);

/* Sorts the files by path and refuses duplicates. */
cc_status pkg_sort(pkg *p, char *err, size_t errlen);

/* Appends a file (path copied; text copied when not NULL). */
cc_status pkg_add(pkg *p, const char *path, const char *sha256, int64_t size, const char *text);

void pkg_free(pkg *p);

/* The version hash of a manifest: SHA-256 over the canonical text, one line
 * "<path>\t<size>\t<sha256>\n" per file in byte order of path. out: 65. */
void pkg_manifest_hash(const pkg *p, char out[65]);

/* SHA-256 of a buffer as lowercase hex (out: 65 bytes). */
void pkg_sha256_hex(const void *data, size_t len, char out[65]);

/* True for a usable test data / package path component. */
bool pkg_name_ok(const char *name);

/* Writes a problem.yaml (legacy format, which the judge reads) for the
 * service's own metadata. malloc'd. */
char *pkg_problem_yaml(const char *title, int type, int64_t time_limit_ms, int64_t memory_mib,
                       int64_t output_mib, bool custom, const char *flags);

/* Writes the files as a canonical zip to fd_path: entries sorted by path
 * under "<top>/", fixed timestamps and permissions, so the same version
 * always exports to the same bytes. read(ud, f, off, buf, cap) supplies
 * the content in pieces and returns the bytes read (0 at the end) or -1. */
typedef int64_t (*pkg_reader)(void *ud, const pkg_file *f, int64_t off, void *buf, size_t cap);
cc_status pkg_write_zip(const char *out_path, const char *top, const pkg *p, pkg_reader rd,
                        void *ud, char *err, size_t errlen);

/* Renders Markdown to HTML with cmark in safe mode: raw HTML is dropped
 * and links or images with javascript:, vbscript:, file: or data: (except
 * images) URLs are emptied. malloc'd; NULL when out of memory. */
char *pkg_markdown_html(const char *md, size_t len);

#endif
