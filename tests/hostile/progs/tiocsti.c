// expect: WA
#include <stdio.h>
#include <fcntl.h>
#include <sys/ioctl.h>
int main(void) { char c = 'x'; int fd = open("/dev/tty", O_RDWR); if (ioctl(fd >= 0 ? fd : 0, TIOCSTI, &c) == 0) puts("3"); return 0; }
