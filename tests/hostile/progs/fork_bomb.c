// expect: TLE RE WA MLE
#include <unistd.h>
int main(void) { for (;;) fork(); }
