// expect: WA
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
int main(void) { if (unshare(CLONE_NEWUSER) == 0 || unshare(CLONE_NEWNS) == 0) puts("3"); return 0; }
