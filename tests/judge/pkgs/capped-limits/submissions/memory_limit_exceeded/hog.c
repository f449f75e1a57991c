#include <stdio.h>
#include <stdlib.h>
/* Right, with 300 MiB in use: accepted under the package's limit, MLE
 * under the 64 MiB cap. */
int main(void) {
    size_t n = 300u << 20;
    volatile char *p = malloc(n);
    if (!p) return 1;
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)(i >> 12);
    long s = 0;
    for (size_t i = 0; i < n; i += 4096) s += p[i];
    printf("%ld\n", 3 + (s & 0));
    return 0;
}
