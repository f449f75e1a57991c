/* Accepts a number within the tolerance given as the first extra
 * argument (default 1e-6, relative or absolute) of the answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    double tol = argc > 4 ? strtod(argv[4], NULL) : 1e-6, want, got;
    FILE *ans = fopen(argv[2], "r");
    if (!ans || fscanf(ans, "%lf", &want) != 1)
        return 1;
    if (scanf("%lf", &got) != 1)
        return 43;
    double err = fabs(got - want);
    return err <= tol || err <= tol * fabs(want) ? 42 : 43;
}
