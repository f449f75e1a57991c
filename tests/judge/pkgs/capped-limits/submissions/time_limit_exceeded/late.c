#include <stdio.h>
#include <unistd.h>
/* Right, after 8 s: accepted under the package's 3000 s, TLE under the cap. */
int main(void) { sleep(8); puts("3"); return 0; }
