/* Unit tests for the pure parts of backups: manifest JSON, ids, retention, TOC filtering, checksums, env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/backup.h"
#include "agent/backup_ops.h"
#include "agent/pgtool.h"
#include "tests/support/tmpdir.h"

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void sample(ebb_backup_manifest *m)
{
    memset(m, 0, sizeof(*m));
    m->version = EBB_BACKUP_MANIFEST_VERSION;
    m->id = xstrdup("20240501T120000Z-app-0badcafe");
    m->database = xstrdup("app");
    m->server_version = xstrdup("15.4");
    m->n_revisions = 2;
    m->revisions = calloc(2, sizeof(char *));
    m->revisions[0] = xstrdup("1");
    m->revisions[1] = xstrdup("2");
    m->fingerprint = xstrdup("ab");
    m->run_id = xstrdup("run-1");
    m->operator_name = xstrdup("alice");
    m->reason = xstrdup("before \"down\" to 1\n");
    m->created_at = xstrdup("2024-05-01T12:00:00Z");
    m->format = EBB_BACKUP_DIRECTORY;
    m->file = xstrdup("20240501T120000Z-app-0badcafe.dir");
    m->compression = 6;
    m->jobs = 4;
    m->size_bytes = 5000000000ULL; /* above 32 bits */
    memset(m->checksum, 'c', EBB_BACKUP_CHECKSUM_HEX - 1);
    m->checksum[EBB_BACKUP_CHECKSUM_HEX - 1] = '\0';
    m->pg_dump_version = xstrdup("pg_dump (PostgreSQL) 15.4");
    m->verified = true;
}

static void test_manifest_round_trip(void **state)
{
    (void)state;
    ebb_backup_manifest m, back;
    sample(&m);
    char *json = NULL;
    ebb_error err;
    assert_int_equal(ebb_backup_manifest_to_json(&m, &json, &err), EBB_OK);
    assert_non_null(strstr(json, "\"checksum_algorithm\": \"blake2b-256\""));
    assert_int_equal(ebb_backup_manifest_from_json(json, "m.json", &back, &err), EBB_OK);
    assert_string_equal(back.id, m.id);
    assert_string_equal(back.database, "app");
    assert_int_equal(back.n_revisions, 2);
    assert_string_equal(back.revisions[1], "2");
    assert_string_equal(back.reason, m.reason);
    assert_string_equal(back.operator_name, "alice");
    assert_int_equal(back.format, EBB_BACKUP_DIRECTORY);
    assert_int_equal(back.compression, 6);
    assert_int_equal(back.jobs, 4);
    assert_true(back.size_bytes == 5000000000ULL);
    assert_string_equal(back.checksum, m.checksum);
    assert_true(back.verified);
    /* Same JSON again: nothing lost or reordered. */
    char *json2 = NULL;
    assert_int_equal(ebb_backup_manifest_to_json(&back, &json2, &err), EBB_OK);
    assert_string_equal(json, json2);
    free(json);
    free(json2);
    ebb_backup_manifest_fini(&back);
    ebb_backup_manifest_fini(&m);
}

static void test_manifest_rejects_bad_input(void **state)
{
    (void)state;
    ebb_backup_manifest m, back;
    sample(&m);
    char *json = NULL;
    ebb_error err;
    assert_int_equal(ebb_backup_manifest_to_json(&m, &json, &err), EBB_OK);

    /* A file outside the backup directory. */
    char *bad = xstrdup(json);
    char *f = strstr(bad, "20240501T120000Z-app-0badcafe.dir");
    assert_non_null(f);
    memcpy(f, "../../../../etc/passwd", strlen("../../../../etc/passwd"));
    assert_int_equal(ebb_backup_manifest_from_json(bad, "m.json", &back, &err), EBB_E_INVALID);
    free(bad);

    /* Missing key names the key. */
    bad = xstrdup(json);
    char *k = strstr(bad, "\"database\"");
    memcpy(k, "\"databaze\"", 10);
    assert_int_equal(ebb_backup_manifest_from_json(bad, "m.json", &back, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "'database'"));
    free(bad);

    assert_int_equal(ebb_backup_manifest_from_json("{", "m.json", &back, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "m.json"));
    assert_int_equal(ebb_backup_manifest_from_json("[]", "m.json", &back, &err), EBB_E_INVALID);
    free(json);
    ebb_backup_manifest_fini(&m);
}

static void test_id_format(void **state)
{
    (void)state;
    char id[EBB_BACKUP_ID_MAX];
    ebb_error err;
    /* 2024-05-01 12:00:00 UTC */
    assert_int_equal(ebb_backup_id_make(1714564800, "app", 0xdeadbeef, id, sizeof(id), &err),
                     EBB_OK);
    assert_string_equal(id, "20240501T120000Z-app-deadbeef");
    assert_true(ebb_backup_id_valid(id));
    assert_int_equal(ebb_backup_id_make(0, "my-db/../x y", 1, id, sizeof(id), &err), EBB_OK);
    assert_string_equal(id, "19700101T000000Z-my_db____x_y-00000001");
    assert_true(ebb_backup_id_valid(id));
    assert_int_equal(ebb_backup_id_make(0, "", 1, id, sizeof(id), &err), EBB_E_INVALID);
    char small[10];
    assert_int_equal(ebb_backup_id_make(0, "app", 1, small, sizeof(small), &err), EBB_E_INVALID);

    assert_false(ebb_backup_id_valid("../etc"));
    assert_false(ebb_backup_id_valid("20240501T120000Z-a/b-deadbeef"));
    assert_false(ebb_backup_id_valid("20240501T120000Z-app-deadbeeg"));
    assert_false(ebb_backup_id_valid("2024050lT120000Z-app-deadbeef"));
    assert_false(ebb_backup_id_valid(NULL));
}

static void mk(ebb_backup_manifest *m, const char *id, const char *db, const char *at)
{
    memset(m, 0, sizeof(*m));
    m->id = (char *)id;
    m->database = (char *)db;
    m->created_at = (char *)at;
}

static void test_retention(void **state)
{
    (void)state;
    ebb_backup_manifest items[6];
    mk(&items[0], "a1", "app", "2024-05-01T10:00:00Z");
    mk(&items[1], "b1", "other", "2024-05-01T09:00:00Z");
    mk(&items[2], "a3", "app", "2024-05-01T12:00:00Z");
    mk(&items[3], "a2", "app", "2024-05-01T11:00:00Z");
    mk(&items[4], "a0", "app", "2024-05-01T08:00:00Z");
    mk(&items[5], "a4", "app", "2024-05-01T12:00:00Z"); /* same time: id decides */
    size_t *del = NULL, n = 0;
    ebb_error err;
    assert_int_equal(ebb_backup_retention_select(items, 6, "app", 2, NULL, &del, &n, &err),
                     EBB_OK);
    /* Newest two: a4, a3. Delete a2, a1, a0 (newest first). */
    assert_int_equal(n, 3);
    assert_string_equal(items[del[0]].id, "a2");
    assert_string_equal(items[del[1]].id, "a1");
    assert_string_equal(items[del[2]].id, "a0");
    free(del);

    /* The one just taken is never deleted, even when older (clock went back). */
    assert_int_equal(ebb_backup_retention_select(items, 6, "app", 1, "a0", &del, &n, &err),
                     EBB_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(items[del[i]].id, "a0");
        assert_string_not_equal(items[del[i]].database, "other");
    }
    free(del);
    /* keep 2 with a protected one: it and the newest other (a4) stay. */
    assert_int_equal(ebb_backup_retention_select(items, 6, "app", 2, "a0", &del, &n, &err),
                     EBB_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(items[del[i]].id, "a0");
        assert_string_not_equal(items[del[i]].id, "a4");
    }
    free(del);

    assert_int_equal(ebb_backup_retention_select(items, 6, "app", 0, NULL, &del, &n, &err),
                     EBB_OK);
    assert_int_equal(n, 0);
    assert_null(del);
    assert_int_equal(ebb_backup_retention_select(items, 6, "app", 10, NULL, &del, &n, &err),
                     EBB_OK);
    assert_int_equal(n, 0);
}

static void test_toc_filter(void **state)
{
    (void)state;
    /* Kept: comments, user objects, ebb.applied and its parts. */
    assert_true(ebb_backup_toc_line_restorable(";"));
    assert_true(ebb_backup_toc_line_restorable("; Archive created at 2024-05-01"));
    assert_true(ebb_backup_toc_line_restorable("215; 1259 16386 TABLE public users postgres"));
    assert_true(ebb_backup_toc_line_restorable("3350; 0 16386 TABLE DATA public events postgres"));
    assert_true(ebb_backup_toc_line_restorable("3; 2615 16385 SCHEMA - app postgres"));
    assert_true(ebb_backup_toc_line_restorable("216; 1259 16400 TABLE ebb applied postgres"));
    assert_true(ebb_backup_toc_line_restorable("3351; 0 16400 TABLE DATA ebb applied postgres"));
    assert_true(ebb_backup_toc_line_restorable(
        "217; 1259 16399 SEQUENCE ebb applied_seq_seq postgres"));
    assert_true(ebb_backup_toc_line_restorable(
        "3352; 0 0 SEQUENCE SET ebb applied_seq_seq postgres"));
    assert_true(ebb_backup_toc_line_restorable(
        "3195; 2606 16410 CONSTRAINT ebb applied applied_pkey postgres"));
    assert_true(ebb_backup_toc_line_restorable("3360; 0 0 ACL ebb TABLE applied postgres"));
    /* Left live: the schema, the histories, the registry's functions. */
    assert_false(ebb_backup_toc_line_restorable("3; 2615 16390 SCHEMA - ebb postgres"));
    assert_false(ebb_backup_toc_line_restorable("3361; 0 0 ACL - SCHEMA ebb postgres"));
    assert_false(ebb_backup_toc_line_restorable("3362; 0 0 COMMENT - SCHEMA ebb postgres"));
    assert_false(ebb_backup_toc_line_restorable("215; 1259 16391 TABLE ebb events postgres"));
    assert_false(ebb_backup_toc_line_restorable("3340; 0 16391 TABLE DATA ebb events postgres"));
    assert_false(ebb_backup_toc_line_restorable(
        "3351; 0 0 SEQUENCE OWNED BY ebb events_id_seq postgres"));
    assert_false(ebb_backup_toc_line_restorable("3190; 2604 16393 DEFAULT ebb events id postgres"));
    assert_false(ebb_backup_toc_line_restorable(
        "3340; 0 16391 TABLE DATA ebb fingerprints postgres"));
    assert_false(ebb_backup_toc_line_restorable(
        "230; 1255 16420 FUNCTION ebb events_append_only() postgres"));
    assert_false(ebb_backup_toc_line_restorable(
        "3300; 2620 16421 TRIGGER ebb events events_no_update postgres"));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_checksum_file_and_directory(void **state)
{
    (void)state;
    char dir[512], path[600], sub[600], p2[700];
    assert_int_equal(ebb_test_tmpdir_make("backup", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/x.dump", dir);
    write_file(path, "abc");
    char hex[EBB_BACKUP_CHECKSUM_HEX], hex2[EBB_BACKUP_CHECKSUM_HEX];
    uint64_t size = 0;
    ebb_error err;
    assert_int_equal(ebb_backup_checksum(path, EBB_BACKUP_CUSTOM, hex, &size, &err), EBB_OK);
    assert_int_equal(size, 3);
    /* BLAKE2b-256("abc") */
    assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");

    snprintf(sub, sizeof(sub), "%s/x.dir", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(p2, sizeof(p2), "%s/toc.dat", sub);
    write_file(p2, "toc");
    snprintf(p2, sizeof(p2), "%s/3001.dat.gz", sub);
    write_file(p2, "data");
    assert_int_equal(ebb_backup_checksum(sub, EBB_BACKUP_DIRECTORY, hex, &size, &err), EBB_OK);
    assert_int_equal(size, 7);
    write_file(p2, "dato");
    assert_int_equal(ebb_backup_checksum(sub, EBB_BACKUP_DIRECTORY, hex2, &size, &err), EBB_OK);
    assert_string_not_equal(hex, hex2);
    assert_int_equal(ebb_backup_checksum("/nonexistent/x", EBB_BACKUP_CUSTOM, hex, &size, &err),
                     EBB_E_NOT_FOUND);
    ebb_backup_remove_path(sub);
    assert_int_equal(access(sub, F_OK), -1);
    ebb_test_tmpdir_remove(dir);
}

static bool present(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void test_orphans(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(ebb_backup_id_time("20240501T120000Z-app-0000abcd", &t, NULL), EBB_OK);
    assert_int_equal((long long)t, 1714564800LL);
    assert_int_equal(ebb_backup_id_time("x", &t, NULL), EBB_E_INVALID);

    char dir[256], sub[320], path[512];
    assert_int_equal(ebb_test_tmpdir_make("orphans", dir, sizeof(dir)), 0);
    /* window: 12:00:00 .. 12:00:10 */
    const time_t since = 1714564800, until = since + 10;
    /* a whole backup in the window: kept */
    snprintf(path, sizeof(path), "%s/20240501T120001Z-app-00000001.dump", dir);
    write_file(path, "dump");
    snprintf(path, sizeof(path), "%s/20240501T120001Z-app-00000001.manifest.json", dir);
    write_file(path, "{}");
    /* orphans in the window: a custom dump, a directory dump, a temporary manifest with its dump */
    snprintf(path, sizeof(path), "%s/20240501T120002Z-app-00000002.dump", dir);
    write_file(path, "partial");
    snprintf(sub, sizeof(sub), "%s/20240501T120003Z-app-00000003.dir", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/toc.dat", sub);
    write_file(path, "toc");
    snprintf(path, sizeof(path), "%s/20240501T120004Z-app-00000004.dump", dir);
    write_file(path, "dump");
    snprintf(path, sizeof(path), "%s/20240501T120004Z-app-00000004.manifest.json.tmp", dir);
    write_file(path, "{");
    /* an orphan outside the window (another job's, maybe still running), other files: kept */
    snprintf(path, sizeof(path), "%s/20240501T120011Z-app-00000005.dump", dir);
    write_file(path, "running");
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "x");

    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(ebb_backup_remove_orphans(dir, since, until, &ids, &n, NULL), EBB_OK);
    assert_int_equal(n, 3);
    bool seen[5] = {false};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strncmp(ids[i], "20240501T12000", 14), 0);
        seen[ids[i][14] - '0'] = true;
        free(ids[i]);
    }
    free(ids);
    assert_true(seen[2] && seen[3] && seen[4] && !seen[1]);
    assert_true(present(dir, "20240501T120001Z-app-00000001.dump"));
    assert_true(present(dir, "20240501T120001Z-app-00000001.manifest.json"));
    assert_false(present(dir, "20240501T120002Z-app-00000002.dump"));
    assert_false(present(dir, "20240501T120003Z-app-00000003.dir"));
    assert_false(present(dir, "20240501T120004Z-app-00000004.dump"));
    assert_false(present(dir, "20240501T120004Z-app-00000004.manifest.json.tmp"));
    assert_true(present(dir, "20240501T120011Z-app-00000005.dump"));
    assert_true(present(dir, "notes.txt"));

    /* Nothing left to remove; a missing directory is empty. */
    assert_int_equal(ebb_backup_remove_orphans(dir, since, until, &ids, &n, NULL), EBB_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    snprintf(path, sizeof(path), "%s/none", dir);
    assert_int_equal(ebb_backup_remove_orphans(path, since, until, &ids, &n, NULL), EBB_OK);
    assert_int_equal(n, 0);
    ebb_test_tmpdir_remove(dir);
}

static void test_pgtool_env_keeps_password_off(void **state)
{
    (void)state;
    ebb_pgtool_env env;
    ebb_error err;
    assert_int_equal(ebb_pgtool_env_init("host=/tmp/s port=5433 user=u dbname=app "
                                         "password='p:w\\\\d x' keepalives=1",
                                         &env, &err),
                     EBB_OK);
    bool host = false, pass = false;
    for (size_t i = 0; i < env.n; i++) {
        assert_null(strstr(env.env[i], "p:w"));
        if (strcmp(env.env[i], "PGHOST=/tmp/s") == 0)
            host = true;
        if (strncmp(env.env[i], "PGPASSFILE=", 11) == 0)
            pass = true;
        assert_null(strstr(env.env[i], "PGPASSWORD"));
    }
    assert_true(host && pass);
    struct stat st;
    assert_int_equal(stat(env.passfile, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    FILE *f = fopen(env.passfile, "r");
    char line[128] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "*:*:*:*:p\\:w\\\\d x\n");
    char saved[sizeof(env.passfile)];
    memcpy(saved, env.passfile, sizeof(saved));
    ebb_pgtool_env_fini(&env);
    assert_int_equal(access(saved, F_OK), -1);

    assert_int_equal(ebb_pgtool_env_init("dbname=app sslpassword=x", &env, &err), EBB_E_INVALID);
    assert_null(strstr(err.msg, "=x"));
    assert_int_equal(ebb_pgtool_env_init("host='unterminated password=secret", &env, &err),
                     EBB_E_INVALID);
    assert_null(strstr(err.msg, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_round_trip),
        cmocka_unit_test(test_manifest_rejects_bad_input),
        cmocka_unit_test(test_id_format),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_toc_filter),
        cmocka_unit_test(test_checksum_file_and_directory),
        cmocka_unit_test(test_orphans),
        cmocka_unit_test(test_pgtool_env_keeps_password_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
