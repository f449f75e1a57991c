// expect: MLE RE WA memory=32
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
/* 200 MiB of System V shared memory under a 32 MiB limit, left behind
 * without IPC_RMID: MLE or a failure, never AC, and never an IE later. */
int main(void) {
    size_t n = 200u << 20;
    int id = shmget(IPC_PRIVATE, n, IPC_CREAT | 0600);
    if (id < 0) return 1;
    char *p = shmat(id, NULL, 0);
    if (p == (void *)-1) return 1;
    memset(p, 7, n);
    puts("3");
    return 0;
}
