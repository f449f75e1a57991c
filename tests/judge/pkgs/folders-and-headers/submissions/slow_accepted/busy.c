/* Uses 1.2 s of CPU: over the 1 s limit, within its safety margin. */
#include <stdio.h>
#include <time.h>
int main(void)
{
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2)
        return 1;
    volatile unsigned long x = 0;
    while ((double)clock() / CLOCKS_PER_SEC < 1.2)
        x++;
    printf("%lld\n", a + b);
    return 0;
}
