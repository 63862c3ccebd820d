/* Protobuf <-> agent/job.h structs at the daemon's wire boundary: checks, views, copies. */
#include <stdlib.h>
#include <string.h>

#include "agent/daemon.h"
#include "agent/risk.h"

/* The two enums share their numbering; the table keeps that an explicit, checked choice. */
static const struct {
    Ebb__JobAction wire;
    ebb_job_action local;
} actions[] = {
    {EBB__JOB_ACTION__ACTION_INSPECT, EBB_JOB_INSPECT},
    {EBB__JOB_ACTION__ACTION_PRECHECK, EBB_JOB_PRECHECK},
    {EBB__JOB_ACTION__ACTION_STOP_SERVICES, EBB_JOB_STOP_SERVICES},
    {EBB__JOB_ACTION__ACTION_BACKUP, EBB_JOB_BACKUP},
    {EBB__JOB_ACTION__ACTION_MIGRATE, EBB_JOB_MIGRATE},
    {EBB__JOB_ACTION__ACTION_VERIFY, EBB_JOB_VERIFY},
    {EBB__JOB_ACTION__ACTION_START_SERVICES, EBB_JOB_START_SERVICES},
    {EBB__JOB_ACTION__ACTION_HEALTH, EBB_JOB_HEALTH},
    {EBB__JOB_ACTION__ACTION_RESTORE, EBB_JOB_RESTORE},
    {EBB__JOB_ACTION__ACTION_COMMIT_PREPARED, EBB_JOB_COMMIT_PREPARED},
    {EBB__JOB_ACTION__ACTION_ROLLBACK_PREPARED, EBB_JOB_ROLLBACK_PREPARED},
    {EBB__JOB_ACTION__ACTION_CANCEL, EBB_JOB_CANCEL},
};
#define N_ACTIONS (sizeof actions / sizeof actions[0])

Ebb__JobAction ebb_daemon_action_to_proto(ebb_job_action a)
{
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (actions[i].local == a)
            return actions[i].wire;
    return EBB__JOB_ACTION__ACTION_NONE;
}

ebb_job_action ebb_daemon_action_from_proto(Ebb__JobAction a)
{
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (actions[i].wire == a)
            return actions[i].local;
    return EBB_JOB_NONE;
}

static Ebb__JobOutcome outcome_to_proto(ebb_job_outcome o)
{
    switch (o) {
    case EBB_JOB_SUCCEEDED:
        return EBB__JOB_OUTCOME__OUTCOME_SUCCEEDED;
    case EBB_JOB_FAILED:
        return EBB__JOB_OUTCOME__OUTCOME_FAILED;
    case EBB_JOB_INTERRUPTED:
        return EBB__JOB_OUTCOME__OUTCOME_INTERRUPTED;
    case EBB_JOB_REJECTED:
        return EBB__JOB_OUTCOME__OUTCOME_REJECTED;
    case EBB_JOB_CANCELLED:
        return EBB__JOB_OUTCOME__OUTCOME_CANCELLED;
    default:
        return EBB__JOB_OUTCOME__OUTCOME_NONE;
    }
}

/* 1..EBB_JOB_ID_MAX-1 printable ASCII characters without spaces. */
static bool id_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= EBB_JOB_ID_MAX - 1 || s[n] <= ' ' || s[n] > '~')
            return false;
    return true;
}

ebb_code ebb_daemon_cmd_from_proto(const Ebb__JobCommand *jc, ebb_job_cmd *out, ebb_error *err)
{
    if (!id_ok(jc->job_id))
        return ebb_error_set(err, EBB_E_INVALID,
                             "job command: job id missing or not 1..%d printable characters",
                             EBB_JOB_ID_MAX - 1);
    if (!id_ok(jc->run_id))
        return ebb_error_set(err, EBB_E_INVALID,
                             "job %s: run id missing or not 1..%d printable characters", jc->job_id,
                             EBB_JOB_ID_MAX - 1);
    ebb_job_action a = ebb_daemon_action_from_proto(jc->action);
    if (a == EBB_JOB_NONE)
        return ebb_error_set(err, EBB_E_INVALID, "job %s: unknown action %d", jc->job_id,
                             (int)jc->action);
    if (a == EBB_JOB_CANCEL && (jc->cancel_job_id == NULL || jc->cancel_job_id[0] == '\0'))
        return ebb_error_set(err, EBB_E_INVALID, "job %s: cancel without cancel_job_id",
                             jc->job_id);
    if (a != EBB_JOB_CANCEL && (jc->database == NULL || jc->database[0] == '\0'))
        return ebb_error_set(err, EBB_E_INVALID, "job %s: %s without a database", jc->job_id,
                             ebb_job_action_name(a));
    *out = (ebb_job_cmd){
        .job_id = jc->job_id,
        .run_id = jc->run_id,
        .action = a,
        .database = jc->database,
        .target = jc->target,
        .backup_id = jc->backup_id,
        .cancel_job_id = jc->cancel_job_id,
        .operator_name = jc->operator_key_id,
        .reason = jc->reason,
        .prepare = jc->has_prepare && jc->prepare,
        .accept_data_loss = jc->has_accept_data_loss && jc->accept_data_loss,
        .timeout_ms = jc->has_timeout_ms ? jc->timeout_ms : 0,
    };
    return EBB_OK;
}

void ebb_daemon_result_to_proto(const ebb_job_result *res, const char *agent_id,
                                Ebb__JobResult *out)
{
    ebb__job_result__init(out);
    out->job_id = res->job_id;
    out->run_id = res->run_id;
    out->outcome = outcome_to_proto(res->outcome);
    if (res->action != EBB_JOB_NONE) {
        out->has_action = true;
        out->action = ebb_daemon_action_to_proto(res->action);
    }
    out->database = res->database;
    out->revisions_before = res->revisions_before;
    out->n_revisions_before = res->n_before;
    out->revisions_after = res->revisions_after;
    out->n_revisions_after = res->n_after;
    out->fingerprint = res->fingerprint;
    out->has_drift = res->has_drift;
    out->drift = res->drift;
    out->backup_id = res->backup_id;
    out->backup_checksum = res->backup_checksum;
    if (res->error_code != EBB_OK)
        out->error_code = (char *)ebb_code_name(res->error_code);
    out->error_message = res->error_message;
    if (res->sqlstate[0] != '\0')
        out->sqlstate = (char *)res->sqlstate;
    if (res->started_at_ms != 0) {
        out->has_started_at_ms = true;
        out->started_at_ms = res->started_at_ms;
    }
    if (res->finished_at_ms != 0) {
        out->has_finished_at_ms = true;
        out->finished_at_ms = res->finished_at_ms;
    }
    out->report_json = res->report_json;
    out->agent_id = (char *)agent_id;
    if (res->from_journal) {
        out->has_resent = true;
        out->resent = true;
    }
}

void ebb_daemon_db_info_to_proto(const ebb_job_db_info *info, Ebb__DatabaseInfo *out)
{
    ebb__database_info__init(out);
    out->name = info->name;
    out->kind = info->kind != NULL ? info->kind : "unknown";
    out->current_revisions = info->current;
    out->n_current_revisions = info->n_current;
    out->graph_hash = info->graph_hash;
    out->fingerprint = info->fingerprint;
    out->has_drift = true;
    out->drift = info->drift;
    out->environment = info->environment;
    out->error = info->error;
}

/*
 * The worst risk level of a script's statements, by classification only (no live probe: that
 * is the precheck's and the migrate job's work), for the coordinator's planner and policy.
 * NULL when there is nothing to classify (no script, or not SQL: Alembic).
 */
static const char *script_risk(const ebb_script *s)
{
    if (s->sql == NULL || s->external)
        return NULL;
    ebb_risk_report rep = {0};
    if (ebb_risk_classify_script(s->sql, s->path ? s->path : "-", &rep, NULL) != EBB_OK) {
        ebb_risk_report_fini(&rep);
        return ebb_risk_level_name(EBB_RISK_UNKNOWN); /* out of memory: assume the worst */
    }
    ebb_risk_level worst = ebb_risk_report_worst(&rep);
    ebb_risk_report_fini(&rep);
    return ebb_risk_level_name(worst);
}

ebb_code ebb_daemon_graph_view_init(ebb_daemon_graph_view *view, const ebb_graph *graph,
                                    char *const *current, size_t n_current, ebb_error *err)
{
    size_t n = graph->count, n_parents = 0;
    for (size_t i = 0; i < n; i++)
        n_parents += graph->revs[i].n_parents;
    ebb_daemon_graph_view v = {
        .infos = calloc(n + 1, sizeof *v.infos),
        .ptrs = calloc(n + 1, sizeof *v.ptrs),
        .parents = calloc(n_parents + 1, sizeof *v.parents),
        .count = n,
    };
    bool *applied = calloc(n + 1, sizeof *applied);
    if (v.infos == NULL || v.ptrs == NULL || v.parents == NULL || applied == NULL) {
        free(applied);
        ebb_daemon_graph_view_fini(&v);
        return ebb_error_set(err, EBB_E_NOMEM, "revision list: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < n_current; c++)
            if (strcmp(graph->revs[i].id, current[c]) == 0)
                applied[i] = true;
    /* revs are in topological order: walking back marks every ancestor of an applied one. */
    for (size_t i = n; i-- > 0;)
        for (size_t p = 0; applied[i] && p < graph->revs[i].n_parents; p++)
            applied[graph->revs[i].parents[p]] = true;
    size_t next = 0;
    for (size_t i = 0; i < n; i++) {
        const ebb_revision *r = &graph->revs[i];
        Ebb__RevisionInfo *ri = &v.infos[i];
        ebb__revision_info__init(ri);
        ri->id = r->id;
        ri->parents = &v.parents[next];
        ri->n_parents = r->n_parents;
        for (size_t p = 0; p < r->n_parents; p++)
            v.parents[next++] = graph->revs[r->parents[p]].id;
        ri->has_applied = true;
        ri->applied = applied[i];
        if (r->up.checksum[0] != '\0')
            ri->checksum = (char *)r->up.checksum;
        ri->has_no_transaction = r->up.no_transaction;
        ri->no_transaction = r->up.no_transaction;
        ri->has_has_down = true;
        ri->has_down = r->down.sql != NULL && !r->down.irreversible;
        ri->has_down_no_transaction = true;
        ri->down_no_transaction = r->down.no_transaction;
        ri->up_risk = (char *)script_risk(&r->up);
        ri->down_risk = ri->has_down ? (char *)script_risk(&r->down) : NULL;
        v.ptrs[i] = ri;
    }
    free(applied);
    *view = v;
    return EBB_OK;
}

void ebb_daemon_graph_view_fini(ebb_daemon_graph_view *view)
{
    free(view->infos);
    free(view->ptrs);
    free(view->parents);
    memset(view, 0, sizeof *view);
}

void ebb_daemon_progress_to_proto(const ebb_job_progress *p, const char *agent_id,
                                  const char *run_id, int64_t at_ms, Ebb__JobProgress *out)
{
    ebb__job_progress__init(out);
    out->job_id = (char *)p->job_id;
    out->step = (char *)p->step;
    out->has_done = true;
    out->done = p->done;
    out->has_total = true;
    out->total = p->total;
    out->has_bytes = p->bytes > 0;
    out->bytes = p->bytes;
    out->message = (char *)p->message;
    out->agent_id = (char *)agent_id;
    out->run_id = (char *)run_id;
    out->has_at_ms = true;
    out->at_ms = at_ms;
}

static bool dup_str(const char *in, const char **out)
{
    if (in == NULL) {
        *out = NULL;
        return true;
    }
    *out = strdup(in);
    return *out != NULL;
}

ebb_code ebb_daemon_cmd_dup(const ebb_job_cmd *cmd, ebb_job_cmd **out, ebb_error *err)
{
    ebb_job_cmd *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "copy of job %s: out of memory", cmd->job_id);
    *c = *cmd;
    /* Reset the pointers first so that a failure half way frees only copies. */
    c->job_id = c->run_id = c->database = c->target = c->backup_id = NULL;
    c->cancel_job_id = c->operator_name = c->reason = NULL;
    if (!dup_str(cmd->job_id, &c->job_id) || !dup_str(cmd->run_id, &c->run_id) ||
        !dup_str(cmd->database, &c->database) || !dup_str(cmd->target, &c->target) ||
        !dup_str(cmd->backup_id, &c->backup_id) ||
        !dup_str(cmd->cancel_job_id, &c->cancel_job_id) ||
        !dup_str(cmd->operator_name, &c->operator_name) || !dup_str(cmd->reason, &c->reason)) {
        ebb_daemon_cmd_free(c);
        return ebb_error_set(err, EBB_E_NOMEM, "copy of job %s: out of memory", cmd->job_id);
    }
    *out = c;
    return EBB_OK;
}

void ebb_daemon_cmd_free(ebb_job_cmd *cmd)
{
    if (cmd == NULL)
        return;
    free((char *)cmd->job_id);
    free((char *)cmd->run_id);
    free((char *)cmd->database);
    free((char *)cmd->target);
    free((char *)cmd->backup_id);
    free((char *)cmd->cancel_job_id);
    free((char *)cmd->operator_name);
    free((char *)cmd->reason);
    free(cmd);
}
