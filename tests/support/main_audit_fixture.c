/* ebb-test-audit-fixture JOURNAL [SECRET_KEY_FILE]: write the three-run audit journal. */
#include <stdio.h>

#include "common/keys.h"
#include "tests/support/audit_fixture.h"

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: ebb-test-audit-fixture JOURNAL [SECRET_KEY_FILE]\n");
        return 2;
    }
    ebb_error err;
    ebb_secret_key *key = NULL;
    if (argc == 3 && ebb_secret_key_load(argv[2], &key, &err) != EBB_OK) {
        fprintf(stderr, "ebb-test-audit-fixture: %s\n", err.msg);
        return 1;
    }
    ebb_code rc = ebb_test_audit_fixture_write(argv[1], key, &err);
    ebb_secret_key_free(key);
    if (rc != EBB_OK) {
        fprintf(stderr, "ebb-test-audit-fixture: %s\n", err.msg);
        return 1;
    }
    return 0;
}
