/* Benchmark: durable journal appends per second (10,000 records), unsigned and signed; not a test.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/journal.h"
#include "tests/support/tmpdir.h"

#define RECORDS 10000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append RECORDS step-result-sized records; returns records/s or -1. */
static double run(const char *path, const ebb_secret_key *key)
{
    ebb_journal_options o = {.sign_key = key};
    ebb_journal *j = NULL;
    ebb_error err;
    if (ebb_journal_open(path, &o, &j, NULL, &err) != EBB_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    double t0 = now_s();
    for (int i = 0; i < RECORDS; i++) {
        json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "run_id", "r-20240601-0001", "host",
                              "db-042.prod", "database", "orders", "step", "migrate", "outcome",
                              "ok", "revision_after", "0042_add_index", "i", i);
        ebb_code rc =
            ebb_journal_append(j, 1717236000000 + i, "audit.step_result", p, NULL, NULL, &err);
        json_decref(p);
        if (rc != EBB_OK) {
            fprintf(stderr, "append: %s\n", err.msg);
            ebb_journal_close(j);
            return -1;
        }
    }
    double dt = now_s() - t0;
    ebb_journal_close(j);

    double v0 = now_s();
    ebb_journal_report rep;
    if (ebb_journal_verify(path, key ? ebb_secret_key_public(key) : NULL, NULL, &rep, &err) !=
        EBB_OK) {
        fprintf(stderr, "verify: %s\n", err.msg);
        return -1;
    }
    printf("  verify: %llu records in %.3f s (%.0f records/s)\n", (unsigned long long)rep.records,
           now_s() - v0, (double)rep.records / (now_s() - v0));
    return RECORDS / dt;
}

int main(void)
{
    char dir[PATH_MAX], p1[PATH_MAX + 16], p2[PATH_MAX + 16];
    const char *base = getenv("EBB_BENCH_DIR"); /* e.g. a directory on the production disk */
    if (base != NULL)
        setenv("TMPDIR", base, 1);
    if (ebb_test_tmpdir_make("ebb-bench-journal", dir, sizeof dir) != 0)
        return 1;
    snprintf(p1, sizeof p1, "%s/unsigned.jsonl", dir);
    snprintf(p2, sizeof p2, "%s/signed.jsonl", dir);
    ebb_secret_key *key = NULL;
    if (ebb_secret_key_generate(&key, NULL) != EBB_OK)
        return 1;
    printf("journal appends, %d records each, fdatasync per append, in %s\n", RECORDS, dir);
    double a = run(p1, NULL);
    printf("unsigned: %.0f records/s\n", a);
    double b = run(p2, key);
    printf("signed:   %.0f records/s\n", b);
    ebb_secret_key_free(key);
    ebb_test_tmpdir_remove(dir);
    return a > 0 && b > 0 ? 0 : 1;
}
