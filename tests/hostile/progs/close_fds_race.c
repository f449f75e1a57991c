// expect: WA
#include <unistd.h>
/* Closing every descriptor (and the judge's socket if it leaked) changes nothing. */
int main(void) { for (int i = 0; i < 1024; i++) close(i); return 0; }
