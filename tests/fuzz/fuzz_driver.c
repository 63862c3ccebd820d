/*
 * Runs a fuzz target without libFuzzer: every seed file in the target's
 * corpus directory, then a fixed number of deterministic mutations of each
 * (byte flips, truncations, insertions). Used by ctest (label unit) so the
 * targets run under ASan/UBSan in CI; with -DEBB_FUZZ=ON and clang the same
 * targets are linked with libFuzzer for open-ended fuzzing instead.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
    /* xorshift64*: reproducible across runs and machines */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void mutate_and_run(const uint8_t *seed, size_t len, int rounds)
{
    size_t cap = len + 64;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        abort();
    for (int r = 0; r < rounds; r++) {
        size_t n = len;
        memcpy(buf, seed, len);
        int edits = 1 + (int)(rng_next() % 4);
        for (int e = 0; e < edits; e++) {
            switch (rng_next() % 4) {
            case 0: /* flip a bit */
                if (n > 0)
                    buf[rng_next() % n] ^= (uint8_t)(1u << (rng_next() % 8));
                break;
            case 1: /* truncate */
                if (n > 0)
                    n = (size_t)(rng_next() % n);
                break;
            case 2: /* insert a byte */
                if (n < cap) {
                    size_t at = n ? (size_t)(rng_next() % (n + 1)) : 0;
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t)rng_next();
                    n++;
                }
                break;
            default: /* overwrite a byte with an interesting value */
                if (n > 0) {
                    static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, ';', '\'', '$', '\n'};
                    buf[rng_next() % n] = vals[rng_next() % sizeof vals];
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ROUNDS_PER_SEED]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 2000;
    DIR *dir = opendir(argv[1]);
    if (dir == NULL) {
        perror(argv[1]);
        return 2;
    }
    int seeds = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        uint8_t *data = NULL;
        size_t len = 0;
        ebb_error err;
        if (ebb_file_read_all(path, 1 << 20, &data, &len, &err) != EBB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            closedir(dir);
            return 2;
        }
        LLVMFuzzerTestOneInput(data, len);
        mutate_and_run(data, len, rounds);
        free(data);
        seeds++;
    }
    closedir(dir);
    /* The empty input is always worth one run. */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("%d seeds, %d mutations each: no crash\n", seeds, rounds);
    return seeds > 0 ? 0 : 2;
}
