/* expect: TLE */
/* Answers right, but only after 2.5 s of sleep: past the 1 s limit with
 * its safety margin (2 s), so it is TLE though it used no CPU. */
#include <stdio.h>
#include <time.h>
int main(void)
{
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2)
        return 1;
    struct timespec ts = {2, 500000000};
    nanosleep(&ts, NULL);
    printf("%lld\n", a + b);
    return 0;
}
