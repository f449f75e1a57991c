/* One memory pool per message, like h2o's per-request pool: a decoded
 * request and everything derived from it live in one arena that is dropped
 * when the handler is done. What must outlive the message is copied out. */
#ifndef CC_ARENA_H
#define CC_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct cc__arena_chunk cc__arena_chunk;

typedef struct cc_arena {
    cc__arena_chunk *chunks;
    size_t used; /* bytes used in the newest chunk */
    size_t cap;  /* size of the newest chunk's data */
    char *inline_buf; /* caller-provided first block, never freed */
    size_t inline_cap, inline_used;
    ProtobufCAllocator pb; /* protobuf-c allocator that allocates from this arena */
} cc_arena;

/* Initialises an empty arena; it allocates its first chunk on first use. */
void cc_arena_init(cc_arena *a);

/* Initialises an arena that serves small messages from buf (cap bytes,
 * owned by the caller, aligned for max_align_t, outliving the arena)
 * before it mallocs: most requests then cost no allocation at all. */
void cc_arena_init_inline(cc_arena *a, void *buf, size_t cap);

/* Returns n bytes aligned for any type, owned by the arena, or NULL when
 * out of memory. */
void *cc_arena_alloc(cc_arena *a, size_t n);

/* Copies s (n bytes) into the arena and adds a NUL. */
char *cc_arena_strndup(cc_arena *a, const char *s, size_t n);
char *cc_arena_strdup(cc_arena *a, const char *s);

/* Frees every allocation at once; the arena can be used again. */
void cc_arena_clear(cc_arena *a);

#endif
