/* nats.c's event-loop callbacks on a libuv loop, for the bus (bus.c).
 * Private to the runtime. See nats_uv.c for why it is not nats.c's own
 * adapters/libuv.h. */
#ifndef CC_NATS_UV_H
#define CC_NATS_UV_H

#include <nats/nats.h>
#include <uv.h>

/* Call on the loop's thread before the connection is made (the first
 * attach must come from that thread). */
void cc_nats_uv_init(uv_loop_t *loop);

natsStatus cc_nats_uv_attach(void **user_data, void *loop, natsConnection *nc, natsSock sock);
natsStatus cc_nats_uv_read(void *user_data, bool add);
natsStatus cc_nats_uv_write(void *user_data, bool add);
natsStatus cc_nats_uv_detach(void *user_data);

#endif
