// expect: WA
#include <stdio.h>
int main(void) { FILE *f = fopen("/etc/shadow", "r"); if (f) { puts("3"); return 0; } return 0; }
