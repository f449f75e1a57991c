#include "cc/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cc__arena_chunk {
    cc__arena_chunk *next;
    size_t cap;
    max_align_t data[];
};

enum { CHUNK_MIN = 4096 - sizeof(cc__arena_chunk) };

static void *pb_alloc(void *ud, size_t n)
{
    return cc_arena_alloc(ud, n);
}

/* protobuf-c frees piecewise; the arena frees everything at once. */
static void pb_free(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

void cc_arena_init(cc_arena *a)
{
    cc_arena_init_inline(a, NULL, 0);
}

void cc_arena_init_inline(cc_arena *a, void *buf, size_t cap)
{
    a->inline_buf = buf;
    a->inline_cap = cap;
    a->inline_used = 0;
    a->chunks = NULL;
    a->used = a->cap = 0;
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

void *cc_arena_alloc(cc_arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX - align)
        return NULL;
    size_t need = (n + align - 1) & ~(align - 1);
    if (!a->chunks && a->inline_cap - a->inline_used >= need) {
        void *p = a->inline_buf + a->inline_used;
        a->inline_used += need;
        return p;
    }
    if (!a->chunks || a->cap - a->used < need) {
        size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;
        if (a->cap * 2 > cap && a->cap * 2 <= 1 << 20)
            cap = a->cap * 2;
        cc__arena_chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->chunks;
        c->cap = cap;
        a->chunks = c;
        a->cap = cap;
        a->used = 0;
    }
    void *p = (char *)a->chunks->data + a->used;
    a->used += need;
    return p;
}

char *cc_arena_strndup(cc_arena *a, const char *s, size_t n)
{
    char *p = cc_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *cc_arena_strdup(cc_arena *a, const char *s)
{
    return cc_arena_strndup(a, s, strlen(s));
}

void cc_arena_clear(cc_arena *a)
{
    cc__arena_chunk *c = a->chunks;
    while (c) {
        cc__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->used = a->cap = 0;
    a->inline_used = 0;
}
