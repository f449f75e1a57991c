// expect: WA
#include <unistd.h>
int main(void) { if (fork() == 0) { setpgid(0, 0); for (;;) sleep(1); } return 0; }
