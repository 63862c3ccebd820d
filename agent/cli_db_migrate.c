/* `ebb-agent db up | down`: previews, the guarded down sequence (backup, checks, restore on failure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/cli_db.h"
#include "agent/datacheck.h"
#include "agent/fingerprint.h"
#include "agent/graph.h"
#include "agent/lock.h"
#include "agent/migrate.h"
#include "agent/migrate_plan.h"
#include "common/exit_codes.h"

static void on_progress(void *ctx, const ebb_progress *p)
{
    ebb_cli_db *c = ctx;
    (void)c;
    static const char *const what[] = {"start", "done", "FAILED"};
    fprintf(stderr, "step %zu/%zu %s %s %s (%.2fs)\n", p->step, p->total,
            p->direction == EBB_DIR_DOWN ? "down" : "up", p->revision, what[p->phase],
            p->elapsed);
}

static const char *dir_name(ebb_direction d)
{
    return d == EBB_DIR_UP ? "up" : d == EBB_DIR_DOWN ? "down" : "none";
}

static ebb_migrate_opts run_opts(ebb_cli_db *c)
{
    ebb_migrate_opts o;
    ebb_migrate_opts_init(&o);
    o.run = ebb_cli_db_run_info(c);
    o.db_name = NULL;
    o.lock_timeout_ms = c->lock_timeout_ms;
    o.statement_timeout_ms = c->statement_timeout_ms;
    o.progress = on_progress;
    o.progress_ctx = c;
    return o;
}

/* Open source and database and parse the target; exit code or -1. */
static int prepare(ebb_cli_db *c, const char *target_text, ebb_target *target)
{
    ebb_error err;
    ebb_error_clear(&err);
    if (ebb_target_parse(target_text, target, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    if (ebb_cli_db_load_source(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_CONFIG, NULL);
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    return -1;
}

/* --dry-run: the path, each step's script and checksum; nothing is changed. */
static int dry_run(ebb_cli_db *c, const ebb_target *target, ebb_direction want)
{
    ebb_error err;
    ebb_path path;
    if (ebb_migrate_resolve(c->pg, &c->graph, target, &path, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    if (path.direction != EBB_DIR_NONE && path.direction != want) {
        ebb_path_fini(&path);
        ebb_error_set(&err, EBB_E_INVALID, "target '%s' is %s from here, not %s", c->to,
                      dir_name(path.direction == want ? want : path.direction), dir_name(want));
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    }
    /* Checksums recorded for a down path, to show what validation would say. */
    ebb_applied_list applied = {0};
    char **mism = NULL;
    size_t n_mism = 0;
    if (path.direction == EBB_DIR_DOWN && ebb_registry_load(c->pg, &applied, &err) == EBB_OK)
        if (ebb_plan_check_checksums(&c->graph, &path, &applied, true, &mism, &n_mism, &err) !=
            EBB_OK)
            n_mism = 0; /* the preview shows the path even when it cannot compare */

    json_t *steps = json_array();
    if (!c->json)
        printf("%s: %zu step%s (dry run, nothing changed)\n", dir_name(path.direction),
               path.count, path.count == 1 ? "" : "s");
    for (size_t i = 0; i < path.count; i++) {
        const ebb_revision *rev = &c->graph.revs[path.steps[i]];
        const ebb_script *s = ebb_plan_step_script(&c->graph, &path, i);
        if (c->json) {
            json_array_append_new(
                steps, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b}", "revision", rev->id, "name",
                                 rev->name ? rev->name : "", "script", s ? s->path : NULL,
                                 "checksum", s ? s->checksum : NULL, "sql", s ? s->sql : NULL,
                                 "no_transaction", s ? s->no_transaction : false));
        } else {
            printf("\n-- step %zu/%zu: %s %s %s\n-- file %s\n-- blake2b-256 %s%s\n", i + 1,
                   path.count, dir_name(path.direction), rev->id, rev->name ? rev->name : "",
                   s ? s->path : "(no script)", s ? s->checksum : "-",
                   s && s->no_transaction ? "\n-- runs outside a transaction" : "");
            if (s && s->sql)
                printf("%s%s", s->sql, s->sql[0] && s->sql[strlen(s->sql) - 1] == '\n' ? "" : "\n");
        }
    }
    json_t *mj = json_array();
    for (size_t i = 0; i < n_mism; i++) {
        if (!c->json)
            printf("\nchecksum mismatch (a real run refuses): %s\n", mism[i]);
        json_array_append_new(mj, json_string(mism[i]));
        free(mism[i]);
    }
    free(mism);
    ebb_applied_list_fini(&applied);
    ebb_cli_db_emit(c, json_pack("{s:b, s:s, s:o, s:o}", "dry_run", 1, "direction",
                                 dir_name(path.direction), "steps", steps,
                                 "checksum_mismatches", mj));
    ebb_path_fini(&path);
    return n_mism > 0 ? EBB_EXIT_REFUSED : EBB_EXIT_OK;
}

static json_t *result_json(const ebb_migrate_result *r)
{
    return json_pack("{s:s, s:I, s:I, s:s?, s:s?, s:s?, s:s, s:s}", "direction",
                     dir_name(r->direction), "steps", (json_int_t)r->total, "done",
                     (json_int_t)r->done, "from", r->from_revision, "to", r->to_revision,
                     "failed_revision", r->failed_revision, "sqlstate", r->sqlstate,
                     "fingerprint", r->fingerprint);
}

int ebb_cli_db_cmd_up(ebb_cli_db *c)
{
    ebb_target target;
    int rc = prepare(c, c->to ? c->to : "head", &target);
    if (rc >= 0)
        return rc;
    if (c->dry_run)
        return dry_run(c, &target, EBB_DIR_UP);
    ebb_error err;
    ebb_error_clear(&err);
    ebb_path path;
    if (ebb_migrate_resolve(c->pg, &c->graph, &target, &path, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    ebb_direction dir = path.direction;
    ebb_path_fini(&path);
    if (dir == EBB_DIR_DOWN) {
        ebb_error_set(&err, EBB_E_INVALID, "target '%s' is below the current revision: use "
                      "'down --to %s'", c->to ? c->to : "head", c->to ? c->to : "head");
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    }
    ebb_migrate_opts opts = run_opts(c);
    ebb_migrate_result res;
    ebb_code code = ebb_migrate_run(c->pg, &c->graph, &target, &opts, &res, &err);
    json_t *doc = result_json(&res);
    json_object_set_new(doc, "run_id", json_string(c->run_id));
    if (code != EBB_OK) {
        ebb_migrate_result_fini(&res);
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(code), doc);
    }
    if (!c->json)
        printf("up: %zu step%s applied, now at %s (run %s)\n", res.done, res.done == 1 ? "" : "s",
               res.to_revision ? res.to_revision : "base", c->run_id);
    ebb_migrate_result_fini(&res);
    ebb_cli_db_emit(c, doc);
    return EBB_EXIT_OK;
}

/* State carried through the down sequence. */
typedef struct down_run {
    ebb_cli_db *c;
    ebb_path path;
    ebb_applied_list applied;
    ebb_row_counts before;
    ebb_backup_manifest backup;
    bool have_path, have_applied, have_counts, have_backup;
    json_t *doc;
} down_run;

static void down_fini(down_run *d)
{
    if (d->have_path)
        ebb_path_fini(&d->path);
    if (d->have_applied)
        ebb_applied_list_fini(&d->applied);
    if (d->have_counts)
        ebb_row_counts_fini(&d->before);
    if (d->have_backup)
        ebb_backup_manifest_fini(&d->backup);
    if (d->c->lock_held) {
        ebb_error e;
        if (ebb_lock_release(d->c->pg, &e) == EBB_OK)
            d->c->lock_held = false;
    }
}

/* A refusal before anything changed: fail event, exit 4 (or the code's own). */
static int refuse(down_run *d, const ebb_error *err, int exit_code)
{
    ebb_cli_db_event(d->c, EBB_EVENT_FAIL, NULL, err,
                     json_pack("{s:s, s:s}", "command", "down", "stage", "precheck"));
    json_t *doc = d->doc;
    d->doc = NULL;
    down_fini(d);
    return ebb_cli_db_fail(d->c, err, exit_code, doc);
}

/* Steps 1-4: lock, checksums, row counts, backup. Exit code, or -1 to go on. */
static int down_prepare(down_run *d, const ebb_target *target)
{
    ebb_cli_db *c = d->c;
    ebb_error err;
    ebb_error_clear(&err);
    if (ebb_lock_try(c->pg, &err) != EBB_OK)
        return refuse(d, &err, ebb_exit_for_code(err.code));
    c->lock_held = true;
    if (ebb_migrate_resolve(c->pg, &c->graph, target, &d->path, &err) != EBB_OK)
        return refuse(d, &err, ebb_exit_for_code(err.code));
    d->have_path = true;
    if (d->path.direction == EBB_DIR_UP) {
        ebb_error_set(&err, EBB_E_INVALID, "target '%s' is above the current revision: use "
                      "'up --to %s'", c->to, c->to);
        down_fini(d);
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    }
    if (ebb_registry_load(c->pg, &d->applied, &err) != EBB_OK)
        return refuse(d, &err, ebb_exit_for_code(err.code));
    d->have_applied = true;
    if (d->path.direction == EBB_DIR_NONE)
        return -1;
    if (ebb_plan_check_transactions(&c->graph, &d->path, false, &err) != EBB_OK ||
        ebb_plan_check_checksums(&c->graph, &d->path, &d->applied, false, NULL, NULL, &err) !=
            EBB_OK)
        return refuse(d, &err, EBB_EXIT_REFUSED);
    if (ebb_datacheck_count_rows(c->pg, &d->before, &err) != EBB_OK)
        return refuse(d, &err, EBB_EXIT_FAILURE);
    d->have_counts = true;

    /* The backup records what the database is now: revisions and fingerprint. */
    ebb_fingerprint fp;
    if (ebb_fingerprint_read(c->pg, &fp, &err) != EBB_OK)
        return refuse(d, &err, EBB_EXIT_FAILURE);
    const char **ids = NULL;
    if (ebb_applied_list_ids(&d->applied, &ids, &err) != EBB_OK) {
        ebb_fingerprint_fini(&fp);
        return refuse(d, &err, EBB_EXIT_FAILURE);
    }
    ebb_backup_info info = {.revisions = ids,
                            .n_revisions = d->applied.count,
                            .fingerprint = fp.hex,
                            .run_id = c->run_id,
                            .operator_name = c->operator_name,
                            .reason = c->reason};
    ebb_backup_opts bo;
    ebb_cli_db_backup_opts(c, &bo);
    ebb_code code = ebb_backup_take(&bo, &info, time(NULL), &d->backup, &err);
    free(ids);
    ebb_fingerprint_fini(&fp);
    if (code != EBB_OK) {
        /* SPEC: a backup that cannot be verified stops the run before anything changes. */
        ebb_error_prefix(&err, "no backup, nothing changed");
        return refuse(d, &err, code == EBB_E_VERIFY ? EBB_EXIT_REFUSED : EBB_EXIT_FAILURE);
    }
    d->have_backup = true;
    json_object_set_new(d->doc, "backup", ebb_cli_db_manifest_json(&d->backup));
    if (!c->json)
        fprintf(stderr, "backup %s taken (%llu bytes, verified)\n", d->backup.id,
                (unsigned long long)d->backup.size_bytes);
    if (c->keep > 0) {
        size_t removed = 0;
        if (ebb_backup_prune(c->backup_dir, d->backup.database, (size_t)c->keep, d->backup.id,
                             &removed, &err) != EBB_OK)
            fprintf(stderr, "ebb-agent db down: retention: %s\n", err.msg);
    }
    return -1;
}

/* Steps 6-7 after the path ran: data checks (the runner compared the fingerprint). */
static ebb_code down_checks(down_run *d, ebb_error *err)
{
    ebb_datacheck_report rep;
    ebb_code rc = ebb_datacheck_after(d->c->pg, &d->c->graph, &d->path, &d->before, &rep, err);
    if (rc != EBB_OK)
        return rc;
    if (!rep.ok) {
        char *text = NULL;
        if (ebb_datacheck_report_format(&rep, &text, NULL) != EBB_OK)
            text = NULL;
        rc = ebb_error_set(err, EBB_E_VERIFY, "data checks failed after the down path: %s",
                           text ? text : "(no details)");
        free(text);
    }
    json_object_set_new(d->doc, "data_checks_ok", json_boolean(rep.ok));
    ebb_datacheck_report_fini(&rep);
    return rc;
}

int ebb_cli_db_cmd_down(ebb_cli_db *c)
{
    ebb_target target;
    int rc = prepare(c, c->to, &target);
    if (rc >= 0)
        return rc;
    if (c->dry_run)
        return dry_run(c, &target, EBB_DIR_DOWN);

    down_run d;
    memset(&d, 0, sizeof(d));
    d.c = c;
    d.doc = json_pack("{s:s}", "run_id", c->run_id);
    rc = down_prepare(&d, &target);
    if (rc >= 0)
        return rc;
    if (d.path.direction == EBB_DIR_NONE) {
        if (!c->json)
            printf("down: already at %s, nothing to do\n", c->to);
        json_object_set_new(d.doc, "steps", json_integer(0));
        ebb_cli_db_emit(c, d.doc);
        down_fini(&d);
        return EBB_EXIT_OK;
    }

    ebb_error err;
    ebb_error_clear(&err);
    ebb_migrate_opts opts = run_opts(c);
    opts.lock_held = true;
    ebb_migrate_result res;
    ebb_code code = ebb_migrate_run(c->pg, &c->graph, &target, &opts, &res, &err);
    if (code == EBB_OK)
        code = down_checks(&d, &err);
    else if (code == EBB_E_VERIFY)
        json_object_set_new(d.doc, "fingerprint_mismatch", json_true());
    json_t *rj = result_json(&res);
    json_object_update(d.doc, rj);
    json_decref(rj);
    bool committed = res.done > 0 || code == EBB_E_VERIFY;
    ebb_migrate_result_fini(&res);

    if (code == EBB_OK) {
        if (!c->json)
            printf("down: %zu step%s reverted, now at %s; verified (backup %s, run %s)\n",
                   d.path.count, d.path.count == 1 ? "" : "s", c->to, d.backup.id, c->run_id);
        ebb_cli_db_emit(c, d.doc);
        d.doc = NULL;
        down_fini(&d);
        return EBB_EXIT_OK;
    }
    if (code == EBB_E_VERIFY && strstr(err.msg, "data checks") != NULL)
        ebb_cli_db_event(c, EBB_EVENT_FAIL, NULL, &err,
                         json_pack("{s:s, s:s}", "command", "down", "stage", "data-checks"));
    int exit_code = ebb_exit_for_code(code);
    if (code == EBB_E_PG || code == EBB_E_LOCKED)
        exit_code = committed ? EBB_EXIT_FAILURE : ebb_exit_for_code(code);
    if (committed && !c->no_restore) {
        fprintf(stderr, "ebb-agent db down: %s\nrestoring backup %s\n", err.msg, d.backup.id);
        ebb_error rerr;
        ebb_error_clear(&rerr);
        if (ebb_cli_db_restore_checked(c, d.backup.id, NULL, &rerr) == EBB_OK) {
            json_object_set_new(d.doc, "restored", json_string(d.backup.id));
            ebb_error_prefix(&err, "restored backup %s after", d.backup.id);
            exit_code = EBB_EXIT_RESTORED;
        } else {
            json_object_set_new(d.doc, "restore_error", json_string(rerr.msg));
            size_t len = strlen(err.msg);
            snprintf(err.msg + len, sizeof(err.msg) - len, "; and the restore of %s failed: %s",
                     d.backup.id, rerr.msg);
            exit_code = EBB_EXIT_FAILURE;
        }
    } else if (committed) {
        json_object_set_new(d.doc, "backup_not_restored", json_string(d.backup.id));
        size_t len = strlen(err.msg);
        snprintf(err.msg + len, sizeof(err.msg) - len,
                 " (--no-restore: backup %s was not restored)", d.backup.id);
    }
    json_t *doc = d.doc;
    d.doc = NULL;
    down_fini(&d);
    return ebb_cli_db_fail(c, &err, exit_code, doc);
}
