// expect: WA
#include <stdio.h>
#include <sys/socket.h>
int main(void) { if (socket(AF_INET, SOCK_STREAM, 0) >= 0) puts("3"); return 0; }
