// expect: WA
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>
/* Only our own processes may be readable: reading another process's
 * environment (the runner's: it is non-dumpable) means the snoop worked. */
int main(void) { char self[32] = {0}; if (readlink("/proc/self", self, sizeof self - 1) < 0) return 0; int me = atoi(self);
  DIR *d = opendir("/proc"); struct dirent *e; char p[300], b[64];
  while (d && (e = readdir(d))) { int pid = atoi(e->d_name); if (pid <= 0 || pid == me) continue; snprintf(p, sizeof p, "/proc/%d/environ", pid); FILE *f = fopen(p, "r"); if (f && fread(b, 1, sizeof b, f) > 0) { puts("3"); return 0; } }
  return 0; }
