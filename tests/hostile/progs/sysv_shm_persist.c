// expect: AC
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
/* A System V segment outlives its creator unless removed: the first test
 * leaves one, the second finds it. Each run must have its own IPC
 * namespace (a wrong answer = the segment survived). */
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    if (shmget(0xcc21, 4096, 0) >= 0) { puts("persisted"); return 0; }
    shmget(0xcc21, 4096, IPC_CREAT | 0600);
    printf("%lld\n", a + b);
    return 0;
}
