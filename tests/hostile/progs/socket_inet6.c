// expect: WA
#include <stdio.h>
#include <sys/socket.h>
int main(void) { if (socket(AF_INET6, SOCK_DGRAM, 0) >= 0) puts("3"); return 0; }
