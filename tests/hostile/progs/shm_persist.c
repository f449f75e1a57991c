// expect: AC
#include <stdio.h>
#include <unistd.h>
/* Leaves a note in /dev/shm during the first test and looks for it in the
 * second: each run must get a fresh /dev/shm (a wrong answer = the note
 * survived). */
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    if (access("/dev/shm/cc-note", F_OK) == 0) { puts("persisted"); return 0; }
    FILE *f = fopen("/dev/shm/cc-note", "w");
    if (f) fclose(f);
    printf("%lld\n", a + b);
    return 0;
}
