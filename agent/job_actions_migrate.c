/* Job actions that change the schema: migrate (up or down, optionally prepared), commit / rollback
 * prepared. */
#include <stdlib.h>
#include <string.h>

#include "agent/datacheck.h"
#include "agent/graph.h"
#include "agent/job_internal.h"
#include "agent/migrate.h"
#include "agent/registry.h"
#include "agent/risk_probe.h"
#include "agent/risk_verdict.h"

static void on_progress(void *ctx, const ebb_progress *p)
{
    job_ctx *jc = ctx;
    const char *step = p->phase == EBB_PROGRESS_STEP_START  ? "migrate"
                       : p->phase == EBB_PROGRESS_STEP_DONE ? "migrated"
                                                            : "migrate_failed";
    job_progress(jc, step, (uint32_t)p->step, (uint32_t)p->total, 0, p->revision);
}

static const char *dir_name(ebb_direction d)
{
    return d == EBB_DIR_UP ? "up" : d == EBB_DIR_DOWN ? "down" : "none";
}

/* Data checks after a committed down path; EBB_E_VERIFY when they fail. */
static ebb_code down_checks(job_ctx *jc, ebb_pg *pg, const ebb_graph *graph, const ebb_path *path,
                            const ebb_row_counts *before, ebb_error *err)
{
    job_progress(jc, "data_checks", 0, 0, 0, NULL);
    ebb_datacheck_report rep;
    ebb_code rc = ebb_datacheck_after(pg, graph, path, before, &rep, err);
    if (rc != EBB_OK)
        return rc;
    char *text = NULL;
    if (!rep.ok && ebb_datacheck_report_format(&rep, &text, NULL) != EBB_OK)
        text = NULL;
    json_object_set_new(jc->report, "data_checks_ok", json_boolean(rep.ok));
    if (text != NULL)
        json_object_set_new(jc->report, "data_checks", json_string(text));
    if (!rep.ok)
        rc = ebb_error_set(err, EBB_E_VERIFY, "data checks failed after the down path: %s",
                           text ? text : "(no details)");
    free(text);
    ebb_datacheck_report_fini(&rep);
    return rc;
}

/*
 * The live risk gate, as `ebb-agent db` runs it, before anything changes: the path's
 * statements classified and probed on the data now present (agent/risk_probe.h). A statement
 * that will certainly fail is always refused; data at risk (rows found, or a high statement
 * no probe could measure) only with the command's accept_data_loss, which the coordinator sends
 * when the operator accepted data loss and the policy let the run start. Decision: statements
 * whose effect is unknown (function calls, DO blocks; Alembic steps, which have no SQL in a
 * job) are let through: a fleet run has no "accept unknown" flag, they are common, and the
 * precheck and this job's report list them (`ebb-agent db` keeps --accept-unknown).
 * *risk_out gets the report (JSON, may be NULL). EBB_E_REFUSED names what refused it.
 */
static ebb_code risk_gate(job_ctx *jc, ebb_pg *pg, const ebb_graph *graph, const ebb_path *path,
                          json_t **risk_out, ebb_error *err)
{
    *risk_out = NULL;
    if (path->count == 0)
        return EBB_OK;
    job_progress(jc, "risk", 0, 0, 0, NULL);
    ebb_risk_report rep;
    ebb_code rc = ebb_risk_probe_path(pg, graph, path, NULL, NULL, &rep, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "risk probes of the path");
        return rc;
    }
    bool accept = jc->cmd->accept_data_loss;
    ebb_risk_verdict v = ebb_risk_decide(&rep, accept, true);
    ebb_risk_summary sum;
    ebb_risk_summarize(&rep, &sum);
    json_t *rj = ebb_risk_report_json(&rep, false);
    if (rj != NULL) {
        json_object_set_new(rj, "verdict", json_string(ebb_risk_verdict_name(v)));
        json_object_set_new(rj, "accept_data_loss", json_boolean(accept));
    }
    *risk_out = rj;
    ebb_risk_report_fini(&rep);
    switch (v) {
    case EBB_RISK_REFUSE_CERTAIN:
        return ebb_error_set(err, EBB_E_REFUSED,
                             "risk gate: %zu statement(s) on the path will certainly fail on the "
                             "data now present (see report risk.items); nothing was changed",
                             sum.n_certain_failures);
    case EBB_RISK_REFUSE_DATA_LOSS:
        return ebb_error_set(err, EBB_E_REFUSED,
                             "risk gate: %zu statement(s) put data at risk (%s%lld row(s)) and "
                             "data loss was not accepted (--accept-data-loss); nothing was "
                             "changed",
                             sum.n_at_risk, sum.rows_estimated ? "about " : "",
                             sum.rows_at_risk);
    default:
        return EBB_OK;
    }
}

ebb_code job_do_migrate(job_ctx *jc, ebb_error *err)
{
    const ebb_job_cmd *cmd = jc->cmd;
    ebb_target target;
    ebb_code rc = ebb_target_parse(cmd->target, &target, err);
    if (rc != EBB_OK)
        return rc;
    ebb_graph graph = {0};
    if ((rc = job_load_graph(jc->db, &graph, err)) != EBB_OK)
        return rc;
    ebb_pg *pg = NULL;
    if ((rc = job_connect(jc, &pg, err)) != EBB_OK) {
        ebb_graph_fini(&graph);
        return rc;
    }
    job_record_state(jc, pg, &graph, true);

    /* The risk gate, then row counts before a down path, for the data checks after it (not
     * for a prepared path: its changes are invisible until the commit). A path that does not
     * resolve is left to the runner, which reports why. */
    ebb_path path = {0};
    bool have_path = false, have_counts = false;
    ebb_row_counts before = {0};
    json_t *risk = NULL;
    if (ebb_migrate_resolve(pg, &graph, &target, &path, NULL) == EBB_OK) {
        have_path = true;
        if ((rc = risk_gate(jc, pg, &graph, &path, &risk, err)) != EBB_OK) {
            jc->report = json_pack("{s:s, s:s, s:b, s:o?}", "target", cmd->target, "direction",
                                   dir_name(path.direction), "refused", true, "risk", risk);
            goto out;
        }
        if (!cmd->prepare && path.direction == EBB_DIR_DOWN) {
            if ((rc = ebb_datacheck_count_rows(pg, &before, err)) != EBB_OK)
                goto out;
            have_counts = true;
        }
    }

    ebb_migrate_opts opts;
    ebb_migrate_opts_init(&opts);
    opts.run.run_id = cmd->run_id;
    opts.run.operator_name = cmd->operator_name;
    opts.run.reason = cmd->reason;
    opts.db_name = jc->db->name;
    opts.lock_timeout_ms = jc->db->lock_timeout_ms;
    opts.statement_timeout_ms = jc->db->statement_timeout_ms;
    opts.single_transaction = jc->db->single_transaction || cmd->prepare;
    opts.prepare = cmd->prepare;
    opts.progress = on_progress;
    opts.progress_ctx = jc;
    ebb_migrate_result mres;
    rc = ebb_migrate_run(pg, &graph, &target, &opts, &mres, err);

    char *mismatch = NULL;
    if (mres.mismatch.count > 0 &&
        ebb_fp_diff_objects(&mres.mismatch, 50, &mismatch, NULL) != EBB_OK)
        mismatch = NULL;
    jc->report = json_pack(
        "{s:s, s:s, s:I, s:I, s:s?, s:s?, s:s?, s:i, s:s?, s:b, s:b, s:b, "
        "s:s?, s:s?}",
        "target", cmd->target, "direction", dir_name(mres.direction), "total",
        (json_int_t)mres.total, "done", (json_int_t)mres.done, "from", mres.from_revision, "to",
        mres.to_revision, "failed_revision", mres.failed_revision, "failed_line", mres.failed_line,
        "gid", mres.gid[0] != '\0' ? mres.gid : NULL, "prepare", cmd->prepare, "single_transaction",
        opts.single_transaction, "accept_data_loss", cmd->accept_data_loss, "fingerprint_mismatch",
        mismatch, "operator", cmd->operator_name);
    free(mismatch);
    if (risk != NULL && jc->report != NULL)
        json_object_set_new(jc->report, "risk", risk);
    else
        json_decref(risk);
    if (rc == EBB_OK && have_counts && mres.direction == EBB_DIR_DOWN && mres.done > 0)
        rc = down_checks(jc, pg, &graph, &path, &before, err);
    ebb_migrate_result_fini(&mres);
out:
    if (have_counts)
        ebb_row_counts_fini(&before);
    if (have_path)
        ebb_path_fini(&path);
    job_record_state(jc, pg, &graph, false);
    job_disconnect(jc, pg);
    ebb_graph_fini(&graph);
    return rc;
}

/*
 * Whether the registry holds steps of run_id (deploy / revert events). A prepared migration
 * writes them in its own transaction, so they exist exactly when it was committed.
 */
static ebb_code run_steps_recorded(ebb_pg *pg, const char *run_id, bool *out, ebb_error *err)
{
    bool exists = false;
    ebb_code rc = ebb_registry_exists(pg, &exists, err);
    if (rc != EBB_OK || !exists) {
        if (rc == EBB_OK)
            *out = false;
        return rc;
    }
    const char *params[] = {run_id};
    char *n = NULL;
    rc = ebb_pg_query_text(pg,
                           "SELECT count(*) FROM ebb.events WHERE run_id = $1"
                           " AND kind IN ('deploy', 'revert')",
                           1, params, &n, err);
    if (rc == EBB_OK)
        *out = n != NULL && strcmp(n, "0") != 0;
    free(n);
    return rc;
}

/*
 * The decision for a gid that is not (or no longer) prepared. Decisions are sent again after a
 * coordinator restart, and a rollback goes to every unit that was sent a prepare (its agent may
 * have died before or after PREPARE TRANSACTION), so a missing gid succeeds with "nothing to
 * do" when the registry shows the state the decision leads to: for a commit, steps of this run
 * recorded (committed earlier); for a rollback, none (never prepared, or rolled back). Else it
 * fails: EBB_E_NOT_FOUND (a commit whose transaction is gone without its steps) or
 * EBB_E_CONFLICT (a rollback of a run already committed here).
 */
static ebb_code prepared_absent(job_ctx *jc, ebb_pg *pg, bool commit, const char *gid,
                                ebb_error *err)
{
    bool recorded = false;
    ebb_error qerr;
    if (run_steps_recorded(pg, jc->cmd->run_id, &recorded, &qerr) != EBB_OK)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "no prepared transaction %s, and the registry cannot be read: %s",
                             gid, qerr.msg);
    if (commit == recorded) {
        json_object_set_new(jc->report, "note",
                            json_string(commit ? "nothing to do: already committed"
                                               : "nothing to do: no prepared transaction and no "
                                                 "step of this run recorded"));
        return EBB_OK;
    }
    if (commit)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "no prepared transaction %s, and the registry holds no step of run "
                             "%s: it was rolled back",
                             gid, jc->cmd->run_id);
    return ebb_error_set(err, EBB_E_CONFLICT,
                         "no prepared transaction %s: run %s was already committed here", gid,
                         jc->cmd->run_id);
}

ebb_code job_do_prepared(job_ctx *jc, bool commit, ebb_error *err)
{
    /* The gid is derived, never taken from the wire: the run that prepared it on this database. */
    char gid[EBB_GID_MAX];
    ebb_migrate_gid(jc->cmd->run_id, jc->db->name, gid);
    ebb_pg *pg = NULL;
    ebb_code rc = job_connect(jc, &pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_graph graph = {0};
    bool have_graph = job_load_graph(jc->db, &graph, NULL) == EBB_OK;
    job_record_state(jc, pg, have_graph ? &graph : NULL, true);
    job_progress(jc, commit ? "commit_prepared" : "rollback_prepared", 0, 1, 0, gid);
    ebb_error perr;
    rc = commit ? ebb_migrate_commit_prepared(pg, gid, &perr)
                : ebb_migrate_rollback_prepared(pg, gid, &perr);
    jc->report = json_pack("{s:s, s:s}", "gid", gid, "decision", commit ? "commit" : "rollback");
    if (rc == EBB_E_NOT_FOUND)
        rc = prepared_absent(jc, pg, commit, gid, err);
    else if (rc != EBB_OK && err != NULL)
        *err = perr;
    job_record_state(jc, pg, have_graph ? &graph : NULL, false);
    job_disconnect(jc, pg);
    if (have_graph)
        ebb_graph_fini(&graph);
    return rc;
}
