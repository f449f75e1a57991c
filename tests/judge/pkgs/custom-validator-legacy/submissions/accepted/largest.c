#include <stdio.h>
int main(void) { long n; scanf("%ld", &n); for (long d = n - 1; d > 1; d--) if (n % d == 0) { printf("%ld\n", d); return 0; } return 0; }
