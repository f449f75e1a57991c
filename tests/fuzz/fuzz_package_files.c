/* Fuzz target: the package check on hostile YAML. The input is cut at NUL
 * bytes into the texts of problem.yaml, data/testdata.yaml, a test group's
 * settings, a test case's settings and submissions/expectations.yaml,
 * beside fixed test data, so every parser of the one package reader sees
 * arbitrary documents without a zip in the way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "judge/package.h"

static const char *const texts[] = {
    "problem.yaml", "data/testdata.yaml", "data/secret/g1/testdata.yaml",
    "data/secret/g1/01.yaml", "submissions/expectations.yaml",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkg_files p = {0};
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *part = copy, *end = copy + size;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && part <= end; i++) {
        pkg_add(&p, texts[i], "", (int64_t)strlen(part), part);
        part += strlen(part) + 1;
    }
    pkg_add(&p, "data/sample/1.in", "", 2, NULL);
    pkg_add(&p, "data/sample/1.ans", "", 2, NULL);
    pkg_add(&p, "data/secret/g1/01.in", "", 2, NULL);
    pkg_add(&p, "data/secret/g1/01.ans", "", 2, NULL);
    pkg_add(&p, "submissions/accepted/a.c", "", 2, NULL);
    pkg_diags d = {0};
    pkg_meta m;
    if (pkg_sort(&p, &d) == CC_OK && pkg_check(&p, NULL, &m, &d) == CC_OK)
        pkg_meta_free(&m);
    pkg_diags_free(&d);
    pkg_free(&p);
    free(copy);
    return 0;
}
