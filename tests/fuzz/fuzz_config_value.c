/* Fuzzes configuration values (flags and CC_* variables come from whoever
 * starts the process): every type must accept or refuse with a message,
 * never crash or overflow. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cc/config.h"

typedef struct {
    char *s;
    int64_t i;
    bool b;
    int e;
} dst;

static const char *const choices[] = {"a", "bb", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char val[512];
    if (size >= sizeof val)
        size = sizeof val - 1;
    memcpy(val, data, size);
    val[size] = '\0';
    const cc_config_row rows[] = {
        {"s", CC_CFG_STRING, offsetof(dst, s), "", 0, 0, NULL, ""},
        {"i", CC_CFG_INT, offsetof(dst, i), "0", -5, 5, NULL, ""},
        {"b", CC_CFG_BOOL, offsetof(dst, b), "false", 0, 0, NULL, ""},
        {"d", CC_CFG_DURATION, offsetof(dst, i), "0", 0, 0, NULL, ""},
        {"z", CC_CFG_SIZE, offsetof(dst, i), "0", 0, 0, NULL, ""},
        {"e", CC_CFG_ENUM, offsetof(dst, e), "a", 0, 0, choices, ""},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        dst d = {0};
        cc_status s = cc_config_parse_value(&rows[r], val, &d);
        if (s != CC_OK && (s != CC_INVALID || !cc_err_msg()[0]))
            __builtin_trap();
        if (rows[r].type == CC_CFG_INT && s == CC_OK && (d.i < -5 || d.i > 5))
            __builtin_trap();
        free(d.s);
    }
    return 0;
}
