// expect: RE MLE
int f(volatile int n) { volatile char buf[4096]; buf[0] = (char)n; return f(n + 1) + buf[0]; }
int main(void) { return f(0); }
