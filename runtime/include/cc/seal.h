/* Encryption at rest: envelope encryption of column values with
 * AES-256-GCM (OpenSSL EVP). A master key (32 bytes, from a file or a
 * Kubernetes Secret; never stored in a database) wraps data keys; the
 * wrapped data keys live in the service's own table cc_data_keys; a value
 * is sealed under one data key, and the row names that key's id beside the
 * value, so keys can be rotated row by row while the service runs.
 *
 * A sealed value is: version byte 1, a random 12-byte nonce, the
 * ciphertext, the 16-byte GCM tag. Its additional authenticated data binds
 * it to its place (cc_seal_aad: "table/row id/column"), so a value copied
 * into another row or column does not open. A wrapped data key is the same
 * format, with AAD "cc-data-key/<id>".
 *
 * Lookups never need the plaintext: cc_keyring_hmac is HMAC-SHA-256 under a
 * key derived from the master key (not from a data key, so it survives
 * rotation), stored in its own column with a unique index where the
 * plaintext had one.
 *
 * Threads: a keyring is changed (add, set current) only on the thread that
 * owns it (an actor's loop); sealing and opening only read it. */
#ifndef CC_SEAL_H
#define CC_SEAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/config.h"
#include "cc/pg.h"
#include "cc/status.h"

#define CC_SEAL_KEY_BYTES 32
#define CC_SEAL_ID_MAX 40 /* a key id and its NUL */
/* Version, nonce and tag around the plaintext. */
#define CC_SEAL_OVERHEAD (1 + 12 + 16)

/* ---- the master key --------------------------------------------------------- */

/* The settings every service that seals declares, one row each
 * (CC_SEAL_CONFIG_ROWS): master-key (64 hex digits, as a Kubernetes Secret
 * gives it through the environment, CC_MASTER_KEY), master-key-file (a
 * file holding those digits; the local stack makes .state/secrets/
 * master.key and names it in CC_MASTER_KEY_FILE) and key-refresh (how
 * often the service reads cc_data_keys again, so it learns a key that
 * rotate-keys made). */
typedef struct cc_seal_settings {
    char *master_key;
    char *master_key_file;
    int64_t key_refresh_ms;
} cc_seal_settings;

/* clang-format off */
#define CC_SEAL_CONFIG_ROWS(settings_type, field)                                                  \
    {"master-key", CC_CFG_STRING, offsetof(settings_type, field.master_key), "", 0, 0, NULL,      \
     "the master key that wraps the data keys, 64 hex digits (from a Kubernetes Secret); "       \
     "wins over master-key-file"},                                                                 \
    {"master-key-file", CC_CFG_STRING, offsetof(settings_type, field.master_key_file), "", 0, 0,  \
     NULL, "a file holding the master key (64 hex digits), read once at start"},                  \
    {"key-refresh", CC_CFG_DURATION, offsetof(settings_type, field.key_refresh_ms), "5s", 50,     \
     3600000, NULL,                                                                                \
     "how often the data keys are read again (rotate-keys waits twice this before it seals a "    \
     "row under a new key)"}
/* clang-format on */

/* The master key from settings: master-key, else the file named by
 * master-key-file (mode 0600 expected; only the first line counts). Neither
 * set is an error (CC_INVALID) naming both settings. */
cc_status cc_seal_master_load(const cc_seal_settings *cfg, uint8_t key[CC_SEAL_KEY_BYTES]);

/* Parses 64 hex digits (surrounding whitespace ignored). */
cc_status cc_seal_master_parse(const char *text, uint8_t key[CC_SEAL_KEY_BYTES]);

/* ---- the keyring ------------------------------------------------------------ */

typedef struct cc_keyring cc_keyring;

/* A keyring for master (copied; the caller should wipe its copy). NULL
 * when out of memory. */
cc_keyring *cc_keyring_new(const uint8_t master[CC_SEAL_KEY_BYTES]);
/* Wipes every key and frees. NULL is fine. */
void cc_keyring_free(cc_keyring *kr);

/* Makes a random data key with a fresh id ("k" + 16 hex digits) and adds
 * it (not current). *wrapped (malloc'd, free it) is what to store. */
cc_status cc_keyring_generate(cc_keyring *kr, char id[CC_SEAL_ID_MAX], uint8_t **wrapped,
                              size_t *wrapped_len);
/* Unwraps and adds a stored data key. CC_DENIED when it does not open:
 * another master key, or a changed blob or id. A known id is CC_OK. */
cc_status cc_keyring_add_wrapped(cc_keyring *kr, const char *id, const uint8_t *wrapped,
                                 size_t len);
/* The key new values are sealed under; CC_NOT_FOUND for an id not added. */
cc_status cc_keyring_set_current(cc_keyring *kr, const char *id);
/* The current key's id, "" before any. */
const char *cc_keyring_current(const cc_keyring *kr);
bool cc_keyring_has(const cc_keyring *kr, const char *id);
size_t cc_keyring_count(const cc_keyring *kr);

/* ---- values ----------------------------------------------------------------- */

/* "table/id/column" into buf (the AAD of a value); its length, or 0 when
 * it does not fit. */
size_t cc_seal_aad(char *buf, size_t cap, const char *table, const char *id, const char *column);

/* Seals len bytes under the current key into out (len + CC_SEAL_OVERHEAD
 * bytes); key_id receives the current key's id. CC_NOT_FOUND without a
 * current key. */
cc_status cc_seal(const cc_keyring *kr, const void *aad, size_t aadlen, const void *plain,
                  size_t len, uint8_t *out, char key_id[CC_SEAL_ID_MAX]);
/* Opens a value sealed under key_id into out (len - CC_SEAL_OVERHEAD
 * bytes), *outlen its length. CC_NOT_FOUND for an unknown key id, CC_DENIED
 * when the value, the key or the AAD is not the one it was sealed with. */
cc_status cc_open(const cc_keyring *kr, const char *key_id, const void *aad, size_t aadlen,
                  const uint8_t *sealed, size_t len, uint8_t *out, size_t *outlen);

/* cc_seal of the value of column col of row id in table (AAD
 * "table/id/col") into *out (malloc'd, the caller frees). */
cc_status cc_seal_value(const cc_keyring *kr, const char *table, const char *id, const char *col,
                        const void *plain, size_t len, uint8_t **out, size_t *outlen,
                        char key_id[CC_SEAL_ID_MAX]);
/* Opens column col of row id from a query's row: the sealed bytea at
 * sealed_col, its key id at key_col. *out malloc'd (the caller frees).
 * CC_NOT_FOUND with no error set for a NULL value; else as cc_open, with
 * the table, row and column named. */
cc_status cc_open_pg(const cc_keyring *kr, const char *table, const char *id, const char *col,
                     const cc_pg_result *r, int row, int sealed_col, int key_col, uint8_t **out,
                     size_t *len);

/* HMAC-SHA-256 of data under the lookup key (derived from the master key). */
void cc_keyring_hmac(const cc_keyring *kr, const void *data, size_t len, uint8_t out[32]);

/* ---- the service's data keys in PostgreSQL ---------------------------------- */

/* cc_data_keys (id text primary key, wrapped bytea, created_at): the
 * newest row is the current key. Each service that seals creates it in
 * its own migrations, with the same columns. */

/* Reads every data key with a blocking connection (at start, and in
 * rotate-keys); when the table is empty, makes the first key. The newest
 * becomes current. *current_age_ms, when not NULL, is the age of the
 * current key. */
cc_status cc_keyring_load(cc_keyring *kr, PGconn *c, int64_t *current_age_ms);

/* ---- sealing a table's rows: legacy rows and rotation ------------------------ */

/* One sealed column: its bytea column, the column naming its key, the
 * plaintext column of rows written before sealing (or NULL), and an HMAC
 * column to fill from that plaintext, lowercased, for rows from before
 * (or NULL). */
typedef struct cc_seal_column {
    const char *sealed, *key, *plain, *hmac;
    bool plain_is_text; /* the plaintext column is text (else bytea) */
} cc_seal_column;

typedef struct cc_seal_table {
    const char *table;
    const char *id; /* primary key column, read as text (the AAD's id) */
    const cc_seal_column *cols;
    size_t ncols;
} cc_seal_table;

typedef struct cc_seal_pass {
    int batch;        /* rows per transaction */
    bool legacy_only; /* only values still in plaintext columns */
    int64_t rows;     /* out: rows written */
    int64_t values;   /* out: values sealed */
} cc_seal_pass;

/* Seals, in transactions of p->batch rows (FOR UPDATE SKIP LOCKED, so the
 * service keeps serving), every value of t that is in plaintext or (unless
 * legacy_only) under a key other than the keyring's current one, clearing
 * the plaintext column. Progress is the table itself (key <> current), so
 * a pass stopped anywhere is resumed by running it again. Returns after a
 * pass that found nothing left. */
cc_status cc_seal_table_pass(PGconn *c, const cc_keyring *kr, const cc_seal_table *t,
                             cc_seal_pass *p);

/* A service's sealing at run time: cc_seal_service_start loads the master
 * key and the data keys (a blocking connection to conninfo; the first
 * start makes the first key), seals the rows written before sealing
 * (cc_seal_table_pass, legacy_only) before the service serves, and reads
 * the keys again every key-refresh on loop through pg. Stop closes the
 * timer and frees everything once it is closed. */
typedef struct cc_seal_service cc_seal_service;
cc_status cc_seal_service_start(uv_loop_t *loop, cc_pg *pg, const char *conninfo,
                                const cc_seal_settings *cfg, const cc_seal_table *tables,
                                size_t ntables, cc_seal_service **out);
const cc_keyring *cc_seal_service_keys(const cc_seal_service *s);
void cc_seal_service_stop(cc_seal_service *s);

/* rotate-keys for a service: loads the keys; unless a rotation is
 * unfinished (some value is not under the current key), adds a new current
 * key; waits until every running replica has read it (twice key-refresh
 * after it was made); then seals every table's values under it, passing
 * again until a pass finds nothing. Prints progress on stdout. */
cc_status cc_seal_rotate(const char *conninfo, const cc_seal_settings *cfg,
                         const cc_seal_table *tables, size_t ntables, int batch);

#endif
