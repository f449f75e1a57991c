// expect: TLE
#include <stdio.h>
#include <time.h>
#include <unistd.h>
/* Four busy children the parent never waits for: once each has burnt
 * 0.3 s of CPU (1.2 s in all, over the 1 s limit) the parent answers and
 * exits while they still run. When a pid namespace's init ends, the kernel
 * kills the rest and reaps them with SIGCHLD ignored, adding their time to
 * nobody's rusage: every process of the run must count, with a cgroup and
 * without one. */
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
    int p[2];
    if (pipe(p) != 0) return 1;
    for (int i = 0; i < 4; i++)
        if (fork() == 0) { volatile unsigned long x = 0; while (cpu() < 0.3) x++; if (write(p[1], "x", 1) < 0) {} for (;;) x++; }
    char c;
    for (int i = 0; i < 4; i++) if (read(p[0], &c, 1) != 1) return 1;
    puts("3");
    return 0;
}
