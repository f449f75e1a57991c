// expect: TLE
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* 1.2 s of CPU in 40 slices of 30 ms, each in a child that lives less than
 * a sampling period and is reaped by the kernel (SIGCHLD ignored). A slice
 * whose child cannot be started is burnt by the program itself, so the
 * work is done either way: it must be TLE however it was spread. */
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void burn(double s) { volatile unsigned long x = 0; double t0 = cpu(); while (cpu() - t0 < s) x++; }
int main(void) {
    signal(SIGCHLD, SIG_IGN);
    for (int i = 0; i < 40; i++) {
        int p[2];
        if (pipe(p) != 0) { burn(0.03); continue; }
        pid_t c = fork();
        if (c == 0) { burn(0.03); _exit(0); }
        close(p[1]);
        if (c < 0) burn(0.03);
        else { char b; if (read(p[0], &b, 1) < 0) {} }  /* end of file when the child is gone */
        close(p[0]);
    }
    puts("3");
    return 0;
}
