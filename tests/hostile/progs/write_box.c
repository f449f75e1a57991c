// expect: WA
#include <stdio.h>
/* The compiled program's folder is read-only while tests run, so a test
 * cannot leave files for the next one or replace the binary. */
int main(void) { FILE *f = fopen("/box/main", "w"); FILE *g = fopen("/box/note", "w"); FILE *h = fopen("/usr/evil", "w"); if (f || g || h) puts("3"); return 0; }
