/* Fuzz target: arbitrary bytes as a problem package zip, through the one
 * package reader (judge/package.h): the zip reader, then the check. */
#include <stddef.h>
#include <stdint.h>

#include "judge/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg_files p;
    pkg_diags d = {0};
    pkg_limits lim = {.max_files = 200, .max_total = 8 << 20, .max_text = 1 << 20};
    if (pkg_read_zip_memory(data, size, &lim, &p, &d) == CC_OK) {
        char h[65];
        pkg_manifest_hash(&p, h);
        pkg_meta m;
        if (pkg_check(&p, NULL, &m, &d) == CC_OK)
            pkg_meta_free(&m);
        pkg_free(&p);
    }
    pkg_diags_free(&d);
    return 0;
}
