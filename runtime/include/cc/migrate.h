/* Versioned SQL migrations, applied at start.
 *
 * A service keeps its schema in migrations/NNNN_name.sql (NNNN a decimal
 * version, name of [A-Za-z0-9_-]); cc_migrate applies the ones not yet
 * applied in version order, each in its own transaction, and records each
 * in schema_migrations(version, name, checksum, applied_at) with the
 * SHA-256 of the file. Everything happens under a session advisory lock on
 * a key derived from the service name, so when several replicas start at
 * once exactly one applies each migration and the others wait, then find
 * it recorded. A file whose checksum no longer matches what was applied is
 * an error naming the file: applied migrations are never edited, a new one
 * is added instead.
 *
 * Before the service's own files, the runtime's built-in migrations run
 * (unless disabled): the transactional outbox table (cc/outbox.h). They
 * are recorded with negative versions (-1, -2, ...) so they never collide
 * with a service's numbers.
 *
 * BLOCKING: this uses synchronous libpq on its own connection. It runs at
 * start, before the loop serves anything, which is the one place where
 * blocking is right: a service must not serve on an old schema.
 *
 * A file runs as one simple-protocol query string inside the transaction,
 * so it may hold several statements but no transaction control (BEGIN,
 * COMMIT) and nothing that refuses a transaction block (CREATE INDEX
 * CONCURRENTLY, VACUUM). */
#ifndef CC_MIGRATE_H
#define CC_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cc/status.h"

typedef struct cc_migrate_options {
    const char *conninfo; /* libpq conninfo of the service's database */
    const char *service;  /* names the advisory lock, e.g. "user" */
    const char *dir;      /* folder of NNNN_name.sql files; NULL = none */
    bool no_builtin;      /* true: skip the runtime's built-in migrations */
} cc_migrate_options;

/* Applies what is missing. Returns CC_OK (and, when applied is not NULL,
 * how many migrations this call applied), or an error set with
 * cc_err_set: CC_UNAVAILABLE when the database cannot be reached, CC_IO for
 * an unreadable folder or file, CC_INVALID for a badly named file or two
 * files with the same version, CC_CONFLICT when an applied migration's file
 * changed (the message names the file), CC_DB when a migration fails (the
 * message names the file and quotes the server; nothing of that file
 * stays). Borrowed pointers only; nothing to free. */
cc_status cc_migrate(const cc_migrate_options *o, int *applied);

/* The advisory lock key used for service (stable across releases: a
 * 64-bit FNV-1a hash of "cc-migrate:" + service). */
int64_t cc_migrate_lock_key(const char *service);

#endif
