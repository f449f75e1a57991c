/* Runs a libFuzzer target without libFuzzer: a fixed number of inputs made
 * by a seeded generator (random bytes, bytes from a small alphabet of
 * structural characters, and mutations of earlier inputs), so the run is
 * repeatable and bounded. A crash, a sanitizer report or a hang fails the
 * ctest test. Usage: fuzz_X [iterations] [seed] */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    state = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9e3779b97f4a7c15ull;
    if (iterations <= 0 || state == 0) {
        fprintf(stderr, "usage: %s [iterations > 0] [seed != 0]\n", argv[0]);
        return 2;
    }
    static const char alphabet[] = "{}[]\":,0123456789-.eE\\/ntrfu \x00\x01\x08\x0a\x12\x1a\x22\xff"
                                   "abcdefABCDEF_-:;=";
    enum { MAXLEN = 4096 };
    static uint8_t prev[MAXLEN];
    size_t prev_len = 0;
    uint8_t *buf = malloc(MAXLEN);
    if (!buf)
        return 1;
    for (long i = 0; i < iterations; i++) {
        size_t len = (size_t)(next() % (i % 10 == 0 ? MAXLEN : 128));
        int mode = (int)(next() % 3);
        if (mode == 2 && prev_len) {
            /* mutate the previous input: flip, insert or cut */
            len = prev_len;
            memcpy(buf, prev, len);
            for (int k = 0; k < 4; k++) {
                size_t at = (size_t)(next() % len);
                buf[at] = (uint8_t)next();
            }
            if (next() % 2 && len > 1)
                len = (size_t)(next() % len);
        } else {
            for (size_t j = 0; j < len; j++)
                buf[j] = mode == 0 ? (uint8_t)next()
                                   : (uint8_t)alphabet[next() % (sizeof alphabet - 1)];
        }
        /* An exact-size heap copy lets AddressSanitizer see reads past the
         * end. */
        uint8_t *input = malloc(len ? len : 1);
        if (!input)
            return 1;
        memcpy(input, buf, len);
        LLVMFuzzerTestOneInput(input, len);
        free(input);
        memcpy(prev, buf, len);
        prev_len = len;
    }
    free(buf);
    printf("%ld inputs, no failure\n", iterations);
    return 0;
}
