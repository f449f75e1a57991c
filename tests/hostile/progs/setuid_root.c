// expect: WA
#include <stdio.h>
#include <unistd.h>
int main(void) { if (setuid(0) == 0 || setgid(0) == 0 || geteuid() == 0) puts("3"); return 0; }
