// expect: CE msg=refused
#include <stdio.h>
/* A source whose name starts with '-' would reach the compiler's command
 * line as an option ("-o...", "-fplugin=...", "@file" for a name with '@'):
 * the judge refuses such names before anything runs. The program itself is
 * a right answer. */
int main(void) { long long a, b; if (scanf("%lld %lld", &a, &b) != 2) return 1; printf("%lld\n", a + b); return 0; }
