// expect: WA
#include <stdio.h>
#include <sys/socket.h>
#include <linux/netlink.h>
int main(void) { if (socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) >= 0) puts("3"); return 0; }
