// expect: TLE RE WA MLE
#include <pthread.h>
#include <unistd.h>
static void *f(void *a) { (void)a; pause(); return 0; }
int main(void) { pthread_t t; for (;;) pthread_create(&t, 0, f, 0); }
