// expect: CE lang=cpp
template <int N> struct F { static const long v = F<N - 1>::v + F<N - 2>::v + F<N - 3>::v; };
template <> struct F<0> { static const long v = 1; };
template <> struct F<1> { static const long v = 1; };
template <> struct F<2> { static const long v = 1; };
int main() { return (int)F<100000>::v; }
