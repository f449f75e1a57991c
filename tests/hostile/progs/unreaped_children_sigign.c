// expect: TLE
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
/* Four children burn 0.3 s of CPU each (1.2 s in all, over the 1 s limit)
 * and exit, with SIGCHLD ignored: the kernel then reaps each child the
 * moment it exits and adds its CPU time to nobody's rusage. */
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
    signal(SIGCHLD, SIG_IGN);
    int p[2];
    if (pipe(p) != 0) return 1;
    for (int i = 0; i < 4; i++)
        if (fork() == 0) { volatile unsigned long x = 0; while (cpu() < 0.3) x++; if (write(p[1], "x", 1) < 0) {} _exit(0); }
    char c;
    for (int i = 0; i < 4; i++) if (read(p[0], &c, 1) != 1) return 1;
    usleep(100000);
    puts("3");
    return 0;
}
