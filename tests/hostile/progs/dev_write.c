// expect: WA
#include <stdio.h>
#include <sys/stat.h>
/* /dev and /feedback of a test run are read-only: nothing written there
 * could reach the next test (a file created = the escape worked, "3"). */
int main(void) {
    FILE *f = fopen("/dev/cc-note", "w");
    FILE *g = fopen("/feedback/cc-note", "w");
    int d = mkdir("/dev/cc-dir", 0777);
    if (f || g || d == 0) puts("3");
    return 0;
}
