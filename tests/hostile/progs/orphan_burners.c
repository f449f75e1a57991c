// expect: TLE
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* Double fork: each grandchild, orphaned at once and adopted by the pid
 * namespace's init, burns 0.3 s of CPU, tells the program, and burns on
 * until the run ends. The program waits for its own children only, so the
 * grandchildren's time is in no rusage of the program's. */
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
    int p[2];
    if (pipe(p) != 0) return 1;
    for (int i = 0; i < 4; i++) {
        pid_t c = fork();
        if (c == 0) {
            if (fork() == 0) { volatile unsigned long x = 0; while (cpu() < 0.3) x++; if (write(p[1], "x", 1) < 0) {} for (;;) x++; }
            _exit(0);
        }
        waitpid(c, NULL, 0);
    }
    char c;
    for (int i = 0; i < 4; i++) if (read(p[0], &c, 1) != 1) return 1;
    puts("3");
    return 0;
}
