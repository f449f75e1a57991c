/* Fuzzes the gateway's JSON -> protobuf transcoder with hostile request
 * bodies against every request and response type of the real route table
 * (gateway/routes.c, the first input byte picks the row), then encodes
 * what decoded back to JSON and packs it as protobuf: any input must give
 * CC_OK or CC_INVALID, never a crash, a leak or an out-of-bounds access. */
#include <stdint.h>
#include <string.h>

#include "cc/arena.h"
#include "codecourt/v1/judge.pb-c.h"
#include "gw.h"
#include "gw/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Every route's request and response, then the judge's messages,
     * which arrive over the mesh rather than HTTP. */
    static const ProtobufCMessageDescriptor *const extra[] = {
        &codecourt__v1__judge_job__descriptor,
        &codecourt__v1__judge_result__descriptor,
    };
    if (size < 1)
        return 0;
    size_t ntypes = 2 * gw_nroutes + sizeof extra / sizeof extra[0];
    size_t pick = data[0] % ntypes;
    const ProtobufCMessageDescriptor *d =
        pick < 2 * gw_nroutes
            ? (pick % 2 ? gw_routes[pick / 2].response : gw_routes[pick / 2].request)
            : extra[pick - 2 * gw_nroutes];
    cc_arena arena;
    cc_arena_init(&arena);
    ProtobufCMessage *m = NULL;
    gw_json_error err;
    cc_status s = gw_json_decode(d, (const char *)data + 1, size - 1, &arena.pb, &m, &err);
    if (s == CC_OK) {
        /* What was decoded must encode to JSON that decodes again. */
        json_t *j = gw_json_encode(m);
        if (!j)
            __builtin_trap();
        ProtobufCMessage *again = NULL;
        if (gw_json_decode_value(d, j, &arena.pb, &again, &err) != CC_OK)
            __builtin_trap();
        json_decref(j);
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = cc_arena_alloc(&arena, n + 1);
        if (buf)
            protobuf_c_message_pack(m, buf);
    } else if (s != CC_INVALID && s != CC_NOMEM) {
        __builtin_trap();
    }
    cc_arena_clear(&arena);
    return 0;
}
