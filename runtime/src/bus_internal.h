/* Internal to the runtime: what rpc.c and js.c share with bus.c. */
#ifndef CC_BUS_INTERNAL_H
#define CC_BUS_INTERNAL_H

#include <stddef.h>

#include "cc/bus.h"

/* The bus's reply inbox prefix, "_INBOX.<nuid>." (with the final dot). */
const char *cc__bus_inbox(cc_bus *b, size_t *len);

#endif
