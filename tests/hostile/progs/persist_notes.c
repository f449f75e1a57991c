// expect: AC
#include <stdio.h>
#include <unistd.h>
/* Leaves a note wherever it can during the first test and looks for one
 * in the second: /dev/shm and /tmp are fresh for every run, /dev and
 * /feedback read-only, so no note may survive (a wrong answer = one did). */
static const char *const notes[] = {"/dev/shm/cc-note", "/dev/cc-note", "/feedback/cc-note",
                                    "/tmp/cc-note"};
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    for (unsigned i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (access(notes[i], F_OK) == 0) { printf("persisted:%s\n", notes[i]); return 0; }
    for (unsigned i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        FILE *f = fopen(notes[i], "w");
        if (f) fclose(f);
    }
    printf("%lld\n", a + b);
    return 0;
}
