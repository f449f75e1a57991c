/* The trivial program the benchmark starts: does nothing, statically linked. */
int main(void)
{
    return 0;
}
