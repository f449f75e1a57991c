// expect: WA
#include <stdio.h>
#include <unistd.h>
/* A daemon that outlives the test: the pid namespace must take it down. */
int main(void) { if (fork() == 0) { setsid(); if (fork() == 0) { for (;;) pause(); } _exit(0); } return 0; }
