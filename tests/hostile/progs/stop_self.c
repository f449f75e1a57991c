/* expect: TLE */
/* A process of the program stops itself with SIGSTOP and the program
 * waits for it: nothing runs and no CPU is used, so only the wall-clock
 * limit can end it, as TLE. (The program itself is its pid namespace's
 * init, which SIGSTOP from inside cannot stop, hence the child.) */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("%lld\n", a + b);
    return 0;
}
