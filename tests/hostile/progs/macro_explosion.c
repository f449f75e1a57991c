// expect: CE
#define A(x) x x x x x x x x x x
#define B(x) A(A(A(A(x))))
#define C(x) B(B(B(x)))
int main(void) { const char *s = C("boom"); return s[0]; }
