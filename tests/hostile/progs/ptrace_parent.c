// expect: WA
#include <stdio.h>
#include <sys/ptrace.h>
int main(void) { for (int p = 1; p < 64; p++) if (ptrace(PTRACE_ATTACH, p, 0, 0) == 0) { puts("3"); return 0; } if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0) puts("3"); return 0; }
