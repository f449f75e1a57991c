// expect: WA
#include <stdio.h>
#include <string.h>
extern char **environ;
/* The judge's own environment (TMPDIR of the host, CC_* settings) must not leak in. */
int main(void) { for (char **e = environ; *e; e++) if (strstr(*e, "tmp/tmp") || !strncmp(*e, "CC_", 3) || strstr(*e, "TERM")) { puts("3"); return 0; } return 0; }
