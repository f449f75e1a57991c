// expect: WA
#include <stdio.h>
#include <dirent.h>
/* The test answers and the package must not be anywhere in the box. */
int main(void) { const char *d[] = {"/src", "/data", "/box/data", "/feedback", "/tmp"}; for (int i = 0; i < 5; i++) { DIR *x = opendir(d[i]); struct dirent *e; if (!x) continue; while ((e = readdir(x))) if (e->d_name[0] != '.') { puts("3"); return 0; } closedir(x); } return 0; }
