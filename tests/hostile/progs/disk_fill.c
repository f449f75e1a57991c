// expect: WA RE OLE MLE
#include <stdio.h>
int main(void) { FILE *f = fopen("/tmp/fill", "w"); if (!f) return 0; char b[65536] = {1}; while (fwrite(b, 1, sizeof b, f) == sizeof b) ; return 0; }
