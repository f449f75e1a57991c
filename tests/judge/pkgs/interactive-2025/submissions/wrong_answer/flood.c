/* Guesses 0 over and over without reading the answers. The validator
 * rejects after its eleventh guess; the next write then kills the program
 * with SIGPIPE, which must not turn the validator's WA into an RE. */
#include <stdio.h>
int main(void) {
    for (;;) { puts("0"); fflush(stdout); }
}
