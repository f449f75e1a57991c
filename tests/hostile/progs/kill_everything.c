// expect: WA RE
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
/* Killing every visible process and the parent must not hurt the judge. */
int main(void) { kill(getppid(), SIGKILL); for (int p = 2; p < 4096; p++) kill(p, SIGKILL); kill(-1, SIGKILL); kill(0, SIGKILL); return 0; }
