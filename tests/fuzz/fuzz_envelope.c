/* Fuzzes the envelope read from message headers, and the principal parsed
 * from it: arbitrary header values, as any process on the bus could send,
 * must give CC_OK or CC_PROTO and never a crash or an unterminated field. */
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cc/bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Split the input on NUL bytes into up to four header values. */
    char buf[4096];
    if (size >= sizeof buf)
        size = sizeof buf - 1;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *vals[4] = {"", "", "", ""};
    const char *p = buf;
    for (int i = 0; i < 4 && p <= buf + size; i++) {
        vals[i] = p;
        p += strlen(p) + 1;
    }
    static bool opened;
    if (!opened) {
        /* nats.c's message functions need the library initialised. */
        if (nats_Open(-1) != NATS_OK)
            return 0;
        opened = true;
    }
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, "cc.rpc.x.Y", NULL, NULL, 0) != NATS_OK)
        return 0;
    static const char *const keys[4] = {CC_HDR_TYPE, CC_HDR_CORRELATION, CC_HDR_TRACEPARENT,
                                        CC_HDR_PRINCIPAL};
    for (int i = 0; i < 4; i++)
        if (vals[i][0])
            natsMsgHeader_Set(m, keys[i], vals[i]);
    cc_envelope e;
    cc_status s = cc_envelope_from_msg(&e, m);
    if (s == CC_OK) {
        /* every field is terminated and the ids are present */
        if (strlen(e.correlation_id) >= sizeof e.correlation_id || !e.correlation_id[0] ||
            !cc_traceparent_valid(e.traceparent) || strlen(e.principal) >= sizeof e.principal)
            __builtin_trap();
        /* The principal as the RPC server reads it: accepted whole (a
         * known role, a 36-character id) or refused as anonymous. */
        cc_principal pr;
        cc_status ps = cc_principal_parse(e.principal, &pr);
        if (ps == CC_OK ? (pr.role == CC_ROLE_ANON) != (e.principal[0] == '\0') ||
                              (pr.role != CC_ROLE_ANON && !cc_user_id_valid(pr.id))
                        : ps != CC_INVALID || pr.role != CC_ROLE_ANON || pr.id[0])
            __builtin_trap();
    } else if (s != CC_PROTO) {
        __builtin_trap();
    }
    natsMsg_Destroy(m);
    return 0;
}
