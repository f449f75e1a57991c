/* Multi-pass: the input is "pass x"; the program must print 2x. After
 * pass 1 the validator asks for pass 2 on "2 <that output>"; after pass 2
 * it compares with the answer (4x). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 1;
    FILE *in = fopen(argv[1], "r"), *ans = fopen(argv[2], "r");
    long pass, x, want, got;
    if (!in || !ans || fscanf(in, "%ld %ld", &pass, &x) != 2 || fscanf(ans, "%ld", &want) != 1)
        return 1;
    if (scanf("%ld", &got) != 1 || got != 2 * x) {
        char path[4096];
        snprintf(path, sizeof path, "%sjudgemessage.txt", argv[3]);
        FILE *m = fopen(path, "w");
        if (m) {
            fprintf(m, "pass %ld: expected %ld\n", pass, 2 * x);
            fclose(m);
        }
        return 43;
    }
    if (pass == 1) {
        char path[4096];
        snprintf(path, sizeof path, "%snextpass.in", argv[3]);
        FILE *n = fopen(path, "w");
        if (!n)
            return 1;
        fprintf(n, "2 %ld\n", got);
        fclose(n);
        return 42;
    }
    return got == want ? 42 : 43;
}
