// expect: WA
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
/* Plant a symlink and a FIFO where a careless judge would read feedback or output. */
int main(void) { symlink("/etc/shadow", "/tmp/output"); mkfifo("/tmp/fifo", 0666); symlink("/etc/shadow", "/feedback/judgemessage.txt"); mkfifo("/feedback/score.txt", 0666); return 0; }
