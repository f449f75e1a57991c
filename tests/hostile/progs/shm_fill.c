// expect: MLE RE WA memory=32
#include <stdio.h>
#include <string.h>
/* 200 MiB into /dev/shm under a 32 MiB limit, in files of 1000 KiB (each
 * below the output size cap, which holds for every file). tmpfs pages are
 * no part of the program's address space: /dev/shm must be small and
 * count against the limit (MLE or a failed write), never be a place to
 * keep 200 MiB (AC), nor leave the box's cgroup full for the runner (IE). */
int main(void) {
    static char buf[1000 << 10];
    memset(buf, 7, sizeof buf);
    for (int i = 0; i < 205; i++) {
        char name[64];
        snprintf(name, sizeof name, "/dev/shm/fill%d", i);
        FILE *f = fopen(name, "w");
        if (!f) return 1;
        if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fclose(f) != 0) return 1;
    }
    puts("3");
    return 0;
}
