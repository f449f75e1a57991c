/* Configuration as a validated table, like redis's standardConfig: each
 * setting is one row; its value comes from a flag (--name=value or
 * --name value), else the environment (CC_NAME with '-' as '_'), else the
 * row's default. Every value is checked at start; a bad one stops the
 * process with a message naming the setting. */
#ifndef CC_CONFIG_H
#define CC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cc/status.h"

typedef enum {
    CC_CFG_STRING,   /* field: char * (malloc'd copy, freed by cc_config_free) */
    CC_CFG_INT,      /* field: int64_t, bounded by min..max */
    CC_CFG_BOOL,     /* field: bool; true/false/yes/no/on/off/1/0 */
    CC_CFG_DURATION, /* field: int64_t milliseconds; "250ms", "5s", "2m", "1h", bare = ms */
    CC_CFG_SIZE,     /* field: int64_t bytes; "512", "64k", "16M", "1G" (powers of 1024) */
    CC_CFG_ENUM,     /* field: int; value must be one of choices[] and stores its index */
} cc_config_type;

typedef struct cc_config_row {
    const char *name;     /* "nats-url": flag --nats-url, variable CC_NATS_URL */
    cc_config_type type;
    size_t offset;        /* offsetof(the settings struct, field) */
    const char *def;      /* default as text, parsed like any value; NULL = required */
    int64_t min, max;     /* inclusive bounds for INT, DURATION and SIZE (0,0 = none) */
    const char *const *choices; /* NULL-terminated, for ENUM */
    const char *help;
} cc_config_row;

/* One section of settings: rows whose offsets point into dst. A process
 * loads several sections at once (the runtime's own and the actor's), so
 * one command line and one environment serve them all. */
typedef struct cc_config_table {
    const cc_config_row *rows;
    size_t nrows;
    void *dst;
} cc_config_table;

/* Loads every row of every table. argv flags not in any table are an error
 * (CC_INVALID), as are a missing required value and a value that does not
 * parse or is out of bounds; cc_err_msg() then names the setting and
 * where its value came from. "--help" prints usage to stdout and
 * returns CC_CLOSED; "--version" prints the version and returns
 * CC_CLOSED. Positional arguments are an error unless extra is non-NULL,
 * in which case up to max_extra are stored there (pointers into argv) and
 * counted in *nextra. */
cc_status cc_config_load(const cc_config_table *tables, size_t ntables, int argc, char **argv,
                         const char **extra, size_t max_extra, size_t *nextra);

/* Parses one value for one row into dst (used by cc_config_load and by
 * tests); CC_INVALID with cc_err_msg() naming the setting. */
cc_status cc_config_parse_value(const cc_config_row *row, const char *value, void *dst);

/* Frees the strings cc_config_load allocated in the tables' dst. */
void cc_config_free(const cc_config_table *tables, size_t ntables);

/* Prints one line per row: flag, variable, default, help. */
void cc_config_usage(FILE *out, const char *prog, const cc_config_table *tables, size_t ntables);

/* Writes the environment variable name of a row ("CC_NATS_URL") to buf. */
void cc_config_env_name(const char *name, char *buf, size_t cap);

#endif
