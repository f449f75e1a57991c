// expect: WA
#include <stdio.h>
int main(void) { char n[64]; for (int i = 0; i < 100000; i++) { snprintf(n, sizeof n, "/tmp/f%d", i); FILE *f = fopen(n, "w"); if (!f) break; fclose(f); } return 0; }
