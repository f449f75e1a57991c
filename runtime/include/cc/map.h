/* A hash map from text keys to pointers, for the in-memory state of the
 * read models (cc/projection.h): a contest's submissions by id, a user's
 * problems by slug. Open addressing with linear probing and backward-shift
 * deletion, so there are no tombstones and a lookup stops at the first
 * empty slot; the table doubles at 3/4 full. Keys are copied; values are
 * the caller's.
 *
 * Not thread-safe: one map belongs to one loop. */
#ifndef CC_MAP_H
#define CC_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/status.h"

typedef struct cc_map_slot {
    char *key; /* NULL: empty */
    uint64_t hash;
    void *value;
} cc_map_slot;

typedef struct cc_map {
    cc_map_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t len;
} cc_map;

/* A zeroed cc_map is an empty map; cc_map_free empties it again. The
 * values are not freed (walk the map first when they must be). */
void cc_map_free(cc_map *m);

/* The value of key, or NULL. */
void *cc_map_get(const cc_map *m, const char *key);

/* Sets key to value (value may not be NULL). When old is not NULL it
 * receives the value replaced, or NULL. CC_NOMEM leaves m unchanged. */
cc_status cc_map_put(cc_map *m, const char *key, void *value, void **old);

/* Removes key; returns its value, or NULL when it was absent. */
void *cc_map_del(cc_map *m, const char *key);

/* Iteration: start with *i = 0; returns false when done. The order is the
 * table's (unspecified); the map must not change meanwhile. */
bool cc_map_next(const cc_map *m, size_t *i, const char **key, void **value);

#endif
