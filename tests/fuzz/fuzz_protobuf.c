/* Fuzzes protobuf decoding into a per-message arena, the path every RPC
 * request takes: garbage must be refused (NULL) or decoded, never crash,
 * and whatever decodes must encode again. */
#include <stdint.h>
#include <stdlib.h>

#include "cc/arena.h"
#include "codecourt/v1/runtime.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_arena a;
    _Alignas(max_align_t) char inline_buf[256];
    cc_arena_init_inline(&a, inline_buf, sizeof inline_buf);
    Codecourt__V1__PingRequest *req = codecourt__v1__ping_request__unpack(&a.pb, size, data);
    if (req) {
        size_t n = codecourt__v1__ping_request__get_packed_size(req);
        uint8_t *out = malloc(n ? n : 1);
        if (out) {
            if (codecourt__v1__ping_request__pack(req, out) != n)
                __builtin_trap();
            free(out);
        }
    }
    Codecourt__V1__PingReply *rep = codecourt__v1__ping_reply__unpack(&a.pb, size, data);
    (void)rep;
    cc_arena_clear(&a);
    return 0;
}
