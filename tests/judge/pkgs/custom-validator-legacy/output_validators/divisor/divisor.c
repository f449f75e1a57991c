/* Accepts any proper divisor d (1 < d < n) of n, or 1 when n is prime. */
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc < 4) return 1;
    FILE *in = fopen(argv[1], "r");
    long n, d;
    if (!in || fscanf(in, "%ld", &n) != 1) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%sjudgemessage.txt", argv[3]);
    FILE *msg = fopen(path, "w");
    if (scanf("%ld", &d) != 1 || d <= 1 || d >= n || n % d) {
        if (msg) fprintf(msg, "not a proper divisor of %ld", n);
        return 43;
    }
    return 42;
}
