// expect: MLE fallback=RE,MLE
#include <stdlib.h>
#include <string.h>
/* Without a cgroup the limit is RLIMIT_AS: malloc fails and what follows
 * is the program's choice (here exit 1, RE). */
int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); } }
