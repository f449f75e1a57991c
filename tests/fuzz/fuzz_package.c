/* Fuzz target: arbitrary bytes as a problem package zip, through
 * cc-problem's pure reader and validator (no database). */
#include <stddef.h>
#include <stdint.h>

#include "package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg p;
    char err[512];
    pkg_limits lim = {.max_files = 200, .max_total = 8 << 20, .max_text = 1 << 20};
    if (pkg_read_memory(data, size, &lim, &p, err, sizeof err) == CC_OK) {
        char h[65];
        pkg_manifest_hash(&p, h);
        pkg_free(&p);
    }
    return 0;
}
