/* Test fixture for the migration engine: a project directory written from strings, a database per test. */
#include "tests/support/engine_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ebb_fx_write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    if (slash && slash > path + strlen(dir)) {
        *slash = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int ebb_fx_write_project(char *dir, const ebb_fx_file *files)
{
    snprintf(dir, PATH_MAX, "/tmp/ebb-engine-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    for (const ebb_fx_file *f = files; f->name; f++)
        if (ebb_fx_write_file(dir, f->name, f->text) != 0)
            return -1;
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void ebb_fx_remove_project(const char *dir)
{
    if (dir && strncmp(dir, "/tmp/ebb-engine-", 16) == 0)
        remove_tree(dir);
}

ebb_code ebb_fx_new_db(ebb_test_pg *cluster, const char *name, ebb_pg **out, ebb_error *err)
{
    char conninfo[1024];
    ebb_code rc = ebb_test_pg_create_db(cluster, name, conninfo, sizeof conninfo, err);
    if (rc != EBB_OK)
        return rc;
    return ebb_pg_connect(conninfo, "ebb-engine-test", out, err);
}

void ebb_fx_opts(ebb_migrate_opts *opts, const char *run_id)
{
    ebb_migrate_opts_init(opts);
    opts->run.run_id = run_id;
    opts->run.operator_name = "tester";
    opts->run.reason = "test";
    opts->db_name = "testdb";
    opts->lock_timeout_ms = 5000;
    opts->statement_timeout_ms = 60000;
}

long ebb_fx_long(ebb_pg *pg, const char *sql)
{
    char *v = NULL;
    ebb_error err;
    if (ebb_pg_query_text(pg, sql, 0, NULL, &v, &err) != EBB_OK) {
        fprintf(stderr, "query failed: %s: %s\n", sql, err.msg);
        return -1;
    }
    long r = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return r;
}
