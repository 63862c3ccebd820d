/* The precheck job: path, checksums, risk, disk space for the backup, blocking transactions,
 * standby. Read-only. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agent/graph.h"
#include "agent/job_internal.h"
#include "agent/migrate.h"
#include "agent/migrate_plan.h"
#include "agent/registry.h"
#include "agent/risk.h"

typedef struct precheck {
    job_ctx *jc;
    ebb_pg *pg;
    ebb_graph graph;
    json_t *report;
    json_t *blockers; /* strings: why the run should not go on */
} precheck;

static void block(precheck *p, const char *fmt, ...) EBB_PRINTF(2, 3);
static void block(precheck *p, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(p->blockers, json_string(msg));
}

static ebb_code bool_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)err;
    *(bool *)ctx = strcmp(PQgetvalue(res, row, 0), "t") == 0;
    return EBB_OK;
}

static ebb_code xact_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)err;
    json_t *list = ctx;
    json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:s, s:I, s:s}", "pid",
                                          atoi(PQgetvalue(res, row, 0)), "user",
                                          PQgetvalue(res, row, 1), "application",
                                          PQgetvalue(res, row, 2), "state", PQgetvalue(res, row, 3),
                                          "age_s", (json_int_t)atoll(PQgetvalue(res, row, 4)),
                                          "wait", PQgetvalue(res, row, 5)));
    return EBB_OK;
}

/* Transactions older than the configured limit, other than ours: DDL would queue behind them. */
static ebb_code check_long_xacts(precheck *p, ebb_error *err)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%ld", p->jc->db->long_xact_s);
    const char *params[1] = {secs};
    json_t *list = json_array();
    ebb_code rc =
        ebb_pg_exec(p->pg,
                    "SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), "
                    "coalesce(state, ''), floor(extract(epoch FROM now() - xact_start))::bigint, "
                    "coalesce(wait_event_type, '') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' "
                    "AND xact_start < now() - make_interval(secs => $1::double precision) "
                    "ORDER BY xact_start",
                    1, params, xact_row, list, NULL, err);
    if (rc != EBB_OK) {
        json_decref(list);
        return rc;
    }
    if (json_array_size(list) > 0)
        block(p, "%zu transaction(s) older than %ld s would block DDL (oldest: pid %d, %lld s)",
              json_array_size(list), p->jc->db->long_xact_s,
              (int)json_integer_value(json_object_get(json_array_get(list, 0), "pid")),
              (long long)json_integer_value(json_object_get(json_array_get(list, 0), "age_s")));
    json_object_set_new(p->report, "long_transactions", list);
    return EBB_OK;
}

/* statvfs of the backup directory, or of its nearest existing parent (created at backup time). */
static ebb_code free_bytes(const char *dir, unsigned long long *out, ebb_error *err)
{
    char *path = strdup(dir);
    if (path == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    struct statvfs sv;
    int rv;
    while ((rv = statvfs(path, &sv)) != 0 && errno == ENOENT && strcmp(path, "/") != 0 &&
           strcmp(path, ".") != 0) {
        char *parent = strdup(dirname(path));
        free(path);
        if (parent == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        path = parent;
    }
    ebb_code rc = EBB_OK;
    if (rv != 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "statvfs %s", path);
    else
        *out = (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
    free(path);
    return rc;
}

static ebb_code check_disk(precheck *p, ebb_error *err)
{
    const ebb_agent_db *db = p->jc->db;
    char *size_text = NULL;
    ebb_code rc = ebb_pg_query_text(p->pg, "SELECT pg_database_size(current_database())::text", 0,
                                    NULL, &size_text, err);
    if (rc != EBB_OK)
        return rc;
    unsigned long long db_size = size_text != NULL ? strtoull(size_text, NULL, 10) : 0;
    free(size_text);
    if (!db->has_backup) {
        json_object_set_new(p->report, "disk",
                            json_pack("{s:I, s:s}", "database_bytes", (json_int_t)db_size, "note",
                                      "no backup configured"));
        return EBB_OK;
    }
    unsigned long long avail = 0;
    if ((rc = free_bytes(db->backup.dir, &avail, err)) != EBB_OK)
        return rc;
    unsigned long long need = (unsigned long long)((double)db_size * db->free_space_factor);
    bool enough = avail >= need;
    json_object_set_new(p->report, "disk",
                        json_pack("{s:s, s:I, s:I, s:I, s:b}", "backup_dir", db->backup.dir,
                                  "database_bytes", (json_int_t)db_size, "free_bytes",
                                  (json_int_t)avail, "needed_bytes", (json_int_t)need, "enough",
                                  enough));
    if (!enough)
        block(p, "backup directory %s has %llu bytes free, the backup needs about %llu",
              db->backup.dir, avail, need);
    return EBB_OK;
}

/* Path, checksums, transaction modes and risk of the scripts on it. */
static ebb_code check_path(precheck *p, ebb_error *err)
{
    ebb_target target;
    ebb_code rc = ebb_target_parse(p->jc->cmd->target, &target, err);
    if (rc != EBB_OK)
        return rc;
    ebb_path path;
    ebb_error perr;
    ebb_error_clear(&perr);
    if (ebb_migrate_resolve(p->pg, &p->graph, &target, &path, &perr) != EBB_OK) {
        block(p, "no path to %s: %s", p->jc->cmd->target, perr.msg);
        return EBB_OK;
    }
    json_t *steps = json_array();
    for (size_t i = 0; i < path.count; i++) {
        const ebb_revision *rev = &p->graph.revs[path.steps[i]];
        const ebb_script *s = ebb_plan_step_script(&p->graph, &path, i);
        json_array_append_new(steps, json_pack("{s:s, s:s?, s:b}", "revision", rev->id, "checksum",
                                               s ? s->checksum : NULL, "no_transaction",
                                               s ? s->no_transaction : false));
    }
    json_object_set_new(p->report, "path",
                        json_pack("{s:s, s:s, s:o}", "target", p->jc->cmd->target, "direction",
                                  path.direction == EBB_DIR_UP     ? "up"
                                  : path.direction == EBB_DIR_DOWN ? "down"
                                                                   : "none",
                                  "steps", steps));

    /* Can it run as one transaction (single_transaction, atomic mode)? */
    bool single_ok = ebb_plan_check_transactions(&p->graph, &path, true, &perr) == EBB_OK;
    json_object_set_new(p->report, "atomic_possible", json_boolean(single_ok));
    if (!single_ok && p->jc->db->single_transaction)
        block(p, "%s", perr.msg);
    else if (ebb_plan_check_transactions(&p->graph, &path, false, &perr) != EBB_OK)
        block(p, "%s", perr.msg);

    /* Recorded checksums of what a down path will run. */
    ebb_applied_list applied;
    if ((rc = ebb_registry_load(p->pg, &applied, err)) == EBB_OK) {
        char **mism = NULL;
        size_t n_mism = 0;
        json_t *list = json_array();
        if (ebb_plan_check_checksums(&p->graph, &path, &applied, true, &mism, &n_mism, &perr) ==
            EBB_OK) {
            for (size_t i = 0; i < n_mism; i++) {
                json_array_append_new(list, json_string(mism[i]));
                free(mism[i]);
            }
            free(mism);
        }
        if (json_array_size(list) > 0)
            block(p, "%zu recorded checksum(s) differ from the scripts on disk",
                  json_array_size(list));
        json_object_set_new(p->report, "checksum_mismatches", list);
        ebb_applied_list_fini(&applied);
    }

    /* Risk of every statement the path runs (informational: policy decides). */
    ebb_risk_report risk = {0};
    for (size_t i = 0; rc == EBB_OK && i < path.count; i++) {
        const ebb_script *s = ebb_plan_step_script(&p->graph, &path, i);
        if (s != NULL && s->sql != NULL)
            rc = ebb_risk_classify_script(s->sql, s->path, &risk, err);
    }
    if (rc == EBB_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < risk.count; i++) {
            const ebb_risk_item *it = &risk.items[i];
            json_array_append_new(items,
                                  json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "file", it->file,
                                            "line", it->line, "kind", it->kind, "level",
                                            ebb_risk_level_name(it->level), "reason",
                                            it->reason ? it->reason : "", "statement",
                                            it->statement ? it->statement : ""));
        }
        json_object_set_new(p->report, "risk",
                            json_pack("{s:s, s:o, s:b}", "worst",
                                      ebb_risk_level_name(ebb_risk_report_worst(&risk)), "items",
                                      items, "probed", false));
    }
    ebb_risk_report_fini(&risk);
    ebb_path_fini(&path);
    return rc;
}

ebb_code job_do_precheck(job_ctx *jc, ebb_error *err)
{
    precheck p = {.jc = jc};
    ebb_code rc = job_load_graph(jc->db, &p.graph, err);
    if (rc != EBB_OK)
        return rc;
    if ((rc = job_connect(jc, &p.pg, err)) != EBB_OK) {
        ebb_graph_fini(&p.graph);
        return rc;
    }
    job_record_state(jc, p.pg, &p.graph, true);
    p.report = json_pack("{s:s}", "database", jc->db->name);
    p.blockers = json_array();
    jc->report = p.report;

    bool standby = false;
    rc = ebb_pg_exec(p.pg, "SELECT pg_is_in_recovery()", 0, NULL, bool_row, &standby, NULL, err);
    if (rc == EBB_OK) {
        json_object_set_new(p.report, "standby", json_boolean(standby));
        if (standby)
            rc = ebb_error_set(err, EBB_E_REFUSED,
                               "database %s is a standby (in recovery): migrations run on the "
                               "primary only",
                               jc->db->name);
    }
    job_progress(jc, "precheck", 1, 3, 0, "path");
    if (rc == EBB_OK)
        rc = check_path(&p, err);
    job_progress(jc, "precheck", 2, 3, 0, "disk");
    if (rc == EBB_OK)
        rc = check_disk(&p, err);
    job_progress(jc, "precheck", 3, 3, 0, "transactions");
    if (rc == EBB_OK)
        rc = check_long_xacts(&p, err);
    size_t n_block = json_array_size(p.blockers);
    json_object_set_new(p.report, "ok", json_boolean(rc == EBB_OK && n_block == 0));
    if (rc == EBB_OK && n_block > 0)
        rc = ebb_error_set(err, EBB_E_REFUSED, "precheck found %zu problem(s); first: %s", n_block,
                           json_string_value(json_array_get(p.blockers, 0)));
    json_object_set_new(p.report, "problems", p.blockers);
    job_record_state(jc, p.pg, &p.graph, false);
    job_disconnect(jc, p.pg);
    ebb_graph_fini(&p.graph);
    return rc;
}
