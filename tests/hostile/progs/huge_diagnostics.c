// expect: CE
#define E x x x x x x x x x x x x x x x x x x x x
#define F E E E E E E E E E E E E E E E E E E E E
#define G F F F F F F F F F F F F F F F F F F F F
int main(void) { G G G G G G G G G G G G G G G G G G G G }
