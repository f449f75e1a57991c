// expect: TLE
#include <pthread.h>
static void *burn(void *a) { volatile unsigned long x = 0; (void)a; for (;;) x++; return 0; }
int main(void) { pthread_t t[4]; for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, burn, 0); burn(0); }
