/* Rollback rehearsal, the walk: up, down, up again for every revision of a range on a scratch database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/datacheck.h"
#include "agent/lock.h"
#include "agent/migrate.h"
#include "agent/rehearse.h"

void ebb_rehearse_report_fini(ebb_rehearse_report *rep)
{
    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->count; i++) {
        ebb_rehearse_entry *e = &rep->entries[i];
        free(e->revision);
        free(e->name);
        free(e->error);
        free(e->reup_error);
        free(e->check_error);
        ebb_fp_diff_fini(&e->drift);
    }
    free(rep->entries);
    free(rep->from);
    free(rep->to);
    free(rep->stopped);
    memset(rep, 0, sizeof *rep);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note(const ebb_rehearse_opts *o, const char *rev, const char *what)
{
    if (o->note != NULL)
        o->note(o->note_ctx, rev, what);
}

/* *dst = *dst + "; " + what + ": " + msg (best effort: out of memory keeps *dst). */
static void append_text(char **dst, const char *what, const char *msg)
{
    size_t old = *dst ? strlen(*dst) : 0;
    size_t len = old + strlen(what) + strlen(msg) + 8;
    char *s = malloc(len);
    if (s == NULL)
        return;
    snprintf(s, len, "%s%s%s: %s", *dst ? *dst : "", *dst ? "; " : "", what, msg);
    free(*dst);
    *dst = s;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ebb_migrate_run to target with the walk's settings (the lock is held by the walk). */
static ebb_code migrate(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                        const ebb_rehearse_opts *o, ebb_error *err)
{
    ebb_migrate_opts mo;
    ebb_migrate_opts_init(&mo);
    mo.run = o->run;
    mo.db_name = "rehearse";
    mo.lock_held = true;
    mo.lock_timeout_ms = o->lock_timeout_ms;
    mo.statement_timeout_ms = o->statement_timeout_ms;
    mo.alembic = o->alembic;
    /* The walk compares with the fingerprint read before the up itself. */
    mo.skip_fingerprint_check = true;
    ebb_migrate_result res;
    ebb_code rc = ebb_migrate_run(pg, graph, target, &mo, &res, err);
    ebb_migrate_result_fini(&res);
    return rc;
}

static bool stopping(const ebb_rehearse_opts *o)
{
    return o->stop != NULL && *o->stop;
}

/* A failure of a rehearsed script is a finding; a dead connection is the walk's own error. */
static bool infrastructure(ebb_pg *pg, ebb_code rc)
{
    return rc == EBB_E_NOMEM || !ebb_pg_is_alive(pg);
}

static void set_error(ebb_rehearse_entry *e, const ebb_error *err)
{
    free(e->error);
    e->error = strdup(err->msg);
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", err->sqlstate);
}

static void verify(ebb_pg *pg, const ebb_revision *rev, ebb_rehearse_entry *e, const char *when)
{
    ebb_error err;
    if (rev->verify.sql == NULL || ebb_migrate_verify_revision(pg, rev, &err) == EBB_OK)
        return;
    e->outcome.checks_ok = false;
    append_text(&e->check_error, when, err.msg);
}

/* Data checks after the down of rev: row counts against before, orphans, user checks. */
static ebb_code data_checks(ebb_pg *pg, const ebb_graph *graph, size_t idx,
                            const ebb_row_counts *before, ebb_rehearse_entry *e, ebb_error *err)
{
    size_t step = idx;
    ebb_path one = {.direction = EBB_DIR_DOWN, .steps = &step, .count = 1};
    ebb_datacheck_report rep;
    ebb_code rc = ebb_datacheck_after(pg, graph, &one, before, &rep, err);
    if (rc != EBB_OK)
        return rc;
    if (!rep.ok) {
        char *text = NULL;
        if (ebb_datacheck_report_format(&rep, &text, NULL) != EBB_OK)
            text = NULL;
        e->outcome.checks_ok = false;
        append_text(&e->check_error, "data checks after the down", text ? text : "failed");
        free(text);
    }
    ebb_datacheck_report_fini(&rep);
    return EBB_OK;
}

/*
 * One revision: up, verify, down, fingerprint, data checks, up, verify.
 * *halt when the copy is left below the revision (the walk cannot go on).
 * A stop request between two steps halts with the revision marked not
 * reached (its rehearsal is incomplete). Returns an error only for failures
 * of the walk itself.
 */
static ebb_code rehearse_one(ebb_pg *pg, const ebb_graph *graph, size_t idx,
                             const ebb_rehearse_opts *o, ebb_rehearse_entry *e, bool *halt,
                             ebb_error *err)
{
    const ebb_revision *rev = &graph->revs[idx];
    ebb_rehearse_outcome *out = &e->outcome;
    out->reached = true;
    /* Exactly this revision, up and down: on a graph with branches the other
     * branch's revisions stay applied (a revision id target would mean "only
     * its ancestors"). */
    ebb_target up = {.kind = EBB_TARGET_APPLY_ONE};
    snprintf(up.id, sizeof up.id, "%s", rev->id);
    ebb_target down = {.kind = EBB_TARGET_REVERT_ONE};
    snprintf(down.id, sizeof down.id, "%s", rev->id);

    ebb_fingerprint before;
    ebb_code rc = ebb_fingerprint_read(pg, &before, err);
    if (rc != EBB_OK)
        return rc;
    snprintf(e->fp_before, sizeof e->fp_before, "%s", before.hex);

    note(o, rev->id, "up");
    ebb_error step_err;
    ebb_error_clear(&step_err);
    rc = migrate(pg, graph, &up, o, &step_err);
    if (rc != EBB_OK) {
        ebb_fingerprint_fini(&before);
        if (infrastructure(pg, rc))
            return err ? (*err = step_err, rc) : rc;
        set_error(e, &step_err);
        *halt = true;
        return EBB_OK;
    }
    out->up_ok = true;
    out->checks_ok = true;
    verify(pg, rev, e, "verify script after the up");
    if (stopping(o)) {
        ebb_fingerprint_fini(&before);
        out->reached = false;
        *halt = true;
        return EBB_OK;
    }

    rc = ebb_rehearse_script_irreversible(&rev->down, &out->irreversible, err);
    if (rc != EBB_OK || out->irreversible != EBB_IRREVERSIBLE_NO) {
        ebb_fingerprint_fini(&before); /* by design: not run, the copy stays at rev */
        return rc;
    }

    ebb_row_counts counts;
    rc = ebb_datacheck_count_rows(pg, &counts, err);
    if (rc != EBB_OK) {
        ebb_fingerprint_fini(&before);
        return rc;
    }
    note(o, rev->id, "down");
    ebb_error_clear(&step_err);
    rc = migrate(pg, graph, &down, o, &step_err);
    if (rc != EBB_OK) {
        ebb_fingerprint_fini(&before);
        ebb_row_counts_fini(&counts);
        if (infrastructure(pg, rc))
            return err ? (*err = step_err, rc) : rc;
        /* The failed step rolled back: the copy is still at rev. */
        set_error(e, &step_err);
        if (ebb_rehearse_message_irreversible(step_err.msg))
            out->irreversible = EBB_IRREVERSIBLE_RAISES;
        return EBB_OK;
    }
    out->down_ok = true;

    ebb_fingerprint after;
    rc = ebb_fingerprint_read(pg, &after, err);
    if (rc == EBB_OK) {
        snprintf(e->fp_after_down, sizeof e->fp_after_down, "%s", after.hex);
        if (strcmp(after.hex, before.hex) != 0) {
            rc = ebb_fp_diff_compute(before.description, after.description, &e->drift, err);
            if (rc == EBB_OK)
                out->n_drift = e->drift.count;
        }
        ebb_fingerprint_fini(&after);
    }
    ebb_fingerprint_fini(&before);
    if (rc == EBB_OK)
        rc = data_checks(pg, graph, idx, &counts, e, err);
    ebb_row_counts_fini(&counts);
    if (rc != EBB_OK)
        return rc;
    if (stopping(o)) {
        out->reached = false;
        *halt = true;
        return EBB_OK;
    }

    note(o, rev->id, "up again");
    ebb_error_clear(&step_err);
    rc = migrate(pg, graph, &up, o, &step_err);
    if (rc != EBB_OK) {
        if (infrastructure(pg, rc))
            return err ? (*err = step_err, rc) : rc;
        e->reup_error = strdup(step_err.msg);
        *halt = true;
        return EBB_OK;
    }
    out->reup_ok = true;
    verify(pg, rev, e, "verify script after the re-up");
    return EBB_OK;
}

/* Bring the copy to from and read the path to to; report gets from/to and its entries. */
static ebb_code walk_setup(ebb_pg *pg, const ebb_graph *graph, const ebb_target *from,
                           const ebb_target *to, const ebb_rehearse_opts *o,
                           ebb_rehearse_report *rep, ebb_path *path, ebb_error *err)
{
    ebb_code rc = migrate(pg, graph, from, o, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "bringing the scratch copy to the start of the range");
        return rc;
    }
    ebb_applied_list applied;
    rc = ebb_registry_load(pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    if (applied.count > 0 && !(rep->from = strdup(applied.rows[applied.count - 1].revision)))
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ebb_applied_list_fini(&applied);
    if (rc == EBB_OK)
        rc = ebb_migrate_resolve(pg, graph, to, path, err);
    if (rc != EBB_OK)
        return rc;
    if (path->direction == EBB_DIR_DOWN) {
        ebb_path_fini(path);
        return ebb_error_set(err, EBB_E_INVALID,
                             "the end of the range is below its start (%s): a rehearsal walks "
                             "up from --from to --to",
                             rep->from ? rep->from : "base");
    }
    const char *last = path->count ? graph->revs[path->steps[path->count - 1]].id : rep->from;
    rep->to = dup_or_null(last);
    rep->entries = calloc(path->count ? path->count : 1, sizeof *rep->entries);
    if (rep->entries == NULL || (last != NULL && rep->to == NULL)) {
        ebb_path_fini(path);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    rep->count = path->count;
    for (size_t i = 0; i < path->count; i++) {
        const ebb_revision *rev = &graph->revs[path->steps[i]];
        rep->entries[i].revision = strdup(rev->id);
        rep->entries[i].name = strdup(rev->name ? rev->name : "");
        if (rep->entries[i].revision == NULL || rep->entries[i].name == NULL) {
            ebb_path_fini(path);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
    }
    return EBB_OK;
}

ebb_code ebb_rehearse_walk(ebb_pg *pg, const ebb_graph *graph, const ebb_target *from,
                           const ebb_target *to, const ebb_rehearse_opts *opts,
                           ebb_rehearse_report *out, ebb_error *err)
{
    if (opts->run.run_id == NULL || opts->run.run_id[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "a rehearsal needs a run id");
    ebb_code rc = ebb_lock_try(pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_rehearse_report rep;
    memset(&rep, 0, sizeof rep);
    ebb_path path = {0};
    rc = walk_setup(pg, graph, from, to, opts, &rep, &path, err);
    for (size_t i = 0; rc == EBB_OK && i < path.count; i++) {
        if (stopping(opts)) {
            rep.interrupted = true;
            rep.stopped = strdup("interrupted");
            break;
        }
        ebb_rehearse_entry *e = &rep.entries[i];
        double t0 = mono_now();
        bool halt = false;
        rc = rehearse_one(pg, graph, path.steps[i], opts, e, &halt, err);
        e->seconds = mono_now() - t0;
        if (rc == EBB_OK && halt && stopping(opts)) {
            rep.interrupted = true;
            rep.stopped = strdup("interrupted");
            break;
        }
        if (rc == EBB_OK && halt) {
            char why[EBB_ERROR_MSG_MAX + 64];
            snprintf(why, sizeof why, "the %s of %s failed, so the copy cannot reach the "
                     "revisions after it", e->outcome.up_ok ? "re-up" : "up", e->revision);
            rep.stopped = strdup(why);
            break;
        }
    }
    ebb_path_fini(&path);
    ebb_error rel;
    if (ebb_lock_release(pg, &rel) != EBB_OK && rc == EBB_OK && ebb_pg_is_alive(pg)) {
        if (err)
            *err = rel;
        rc = rel.code;
    }
    if (rc != EBB_OK) {
        ebb_rehearse_report_fini(&rep);
        return rc;
    }
    for (size_t i = 0; i < rep.count; i++) {
        rep.entries[i].verdict = ebb_rehearse_classify(&rep.entries[i].outcome);
        if (ebb_rehearse_verdict_broken(rep.entries[i].verdict, opts->strict))
            rep.n_broken++;
    }
    *out = rep;
    return EBB_OK;
}
