/* Golden files: compare output with a checked-in file; EBB_UPDATE_GOLDEN=1 rewrites the file
 * instead. */
#include "tests/support/golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *more = realloc(buf, cap * 2);
            if (more == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

void ebb_golden_check(const char *rel_path, const char *actual)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", EBB_TEST_SRC_DIR, rel_path);
    const char *update = getenv("EBB_UPDATE_GOLDEN");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        if (f == NULL || fputs(actual, f) < 0 || fclose(f) != 0)
            fail_msg("cannot write golden file %s", path);
        return;
    }
    char *expected = slurp(path);
    if (expected == NULL)
        fail_msg("golden file %s is missing (run with EBB_UPDATE_GOLDEN=1 to create it)", path);
    if (strcmp(expected, actual) != 0) {
        const char *a = expected, *b = actual;
        int line = 1;
        while (*a && *a == *b) {
            if (*a == '\n')
                line++;
            a++;
            b++;
        }
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        int la = ea ? (int)(ea - a) : (int)strlen(a);
        int lb = eb ? (int)(eb - b) : (int)strlen(b);
        print_error("golden %s differs at line %d:\n  expected: %.*s\n  actual:   %.*s\n", rel_path,
                    line, la, a, lb, b);
        free(expected);
        fail_msg("output differs from %s (EBB_UPDATE_GOLDEN=1 rewrites it after review)", rel_path);
    }
    free(expected);
}
