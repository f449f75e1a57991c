// expect: WA
#include <stdio.h>
/* None of these host paths may be visible; seeing any prints the answer. */
int main(void) { const char *p[] = {"/etc/passwd", "/root", "/home", "/work", "/var/log", "/etc/hostname", "/sys/fs/cgroup", "/run"};
  for (int i = 0; i < 8; i++) { FILE *f = fopen(p[i], "r"); if (f) { puts("3"); return 0; } } return 0; }
