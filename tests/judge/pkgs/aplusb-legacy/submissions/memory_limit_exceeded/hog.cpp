#include <cstdio>
#include <cstring>
#include <cstdlib>
int main() { for (int i = 0; i < 64; i++) { char *p = (char *)malloc(16 << 20); if (!p) return 1; memset(p, i, 16 << 20); } puts("3"); }
