// expect: WA
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
int main(void) { struct io_uring_params p; memset(&p, 0, sizeof p); if (syscall(SYS_io_uring_setup, 4, &p) >= 0) puts("3"); return 0; }
