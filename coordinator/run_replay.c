/* Rebuilding runs from the journal after a start or a crash (see run_driver.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/audit.h"
#include "coordinator/run_driver_internal.h"
#include "coordinator/run_store.h"

/* ---- replay ---- */

static ebb_code replay_created(ebb_run_driver *d, const ebb_journal_record *rec, ebb_error *err)
{
    const json_t *p = rec->payload;
    const char *run_id = json_string_value(json_object_get(p, "run_id"));
    const char *hash = json_string_value(json_object_get(p, "plan_hash"));
    const char *key = json_string_value(json_object_get(p, "operator_key_id"));
    const char *name = json_string_value(json_object_get(p, "operator_name"));
    if (run_id == NULL || hash == NULL || key == NULL || strlen(run_id) >= 64)
        return ebb_error_set(err, EBB_E_VERIFY, "journal record %llu (run.created) is malformed",
                             (unsigned long long)rec->seq);
    ebb_run_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    snprintf(e->run_id, sizeof e->run_id, "%s", run_id);
    snprintf(e->operator_key_id, sizeof e->operator_key_id, "%s", key);
    e->operator_name = name ? strdup(name) : NULL;
    e->created_ms = rec->ts_ms;
    drv_policy_from_record(json_object_get(p, "policy"), &e->policy);
    ebb_rollout_config cfg;
    ebb_code rc = ebb_plan_from_json(json_object_get(p, "plan"), &e->plan, err);
    if (rc == EBB_OK)
        rc = ebb_plan_hash(&e->plan, e->plan_hash, err);
    if (rc == EBB_OK && strcmp(e->plan_hash, hash) != 0)
        rc = ebb_error_set(err, EBB_E_VERIFY, "the plan does not read back to its hash %s", hash);
    if (rc == EBB_OK)
        rc = ebb_rollout_config_from_json(json_object_get(p, "cfg"), &cfg, err);
    if (rc == EBB_OK)
        rc = ebb_run_init(&e->plan, e->run_id, &cfg, &e->run, err);
    if (rc == EBB_OK)
        rc = drv_add_entry(d, e, err);
    if (rc != EBB_OK) {
        drv_entry_free(e);
        ebb_error_prefix(err, "journal record %llu (run.created %s)", (unsigned long long)rec->seq,
                         run_id);
        return rc == EBB_E_NOMEM ? rc : EBB_E_VERIFY;
    }
    drv_log_add(e, rec->ts_ms, NULL, NULL, "requested", NULL, NULL, NULL);
    return EBB_OK;
}

static ebb_code replay_transition(ebb_run_driver *d, const ebb_journal_record *rec, ebb_error *err)
{
    const json_t *p = rec->payload;
    ebb_run_entry *e = drv_find(d, json_string_value(json_object_get(p, "run_id")));
    const json_t *now = json_object_get(p, "now");
    const char *state = json_string_value(json_object_get(p, "state"));
    ebb_rollout_event ev;
    ebb_code rc = e != NULL && json_is_integer(now) && state != NULL
                      ? ebb_rollout_event_from_json(json_object_get(p, "event"), &ev, err)
                      : ebb_error_set(err, EBB_E_VERIFY, "fields or its run missing");
    const char *outcome_job = ev.kind == EBB_EV_RESULT ? ev.job_id : NULL;
    size_t host = SIZE_MAX;
    for (size_t i = 0; rc == EBB_OK && outcome_job && i < e->run.n_hosts; i++)
        if (strcmp(e->run.hosts[i].job_id, outcome_job) == 0)
            host = i;
    if (rc == EBB_OK)
        rc = drv_step(d, e, &ev, json_integer_value(now), NULL, NULL, err);
    if (rc == EBB_OK && strcmp(ebb_run_state_name(e->run.state), state) != 0)
        rc = ebb_error_set(err, EBB_E_VERIFY, "replayed to state %s, recorded %s",
                           ebb_run_state_name(e->run.state), state);
    if (rc == EBB_OK && host != SIZE_MAX)
        drv_log_add(e, rec->ts_ms, e->plan.hosts[host].host, e->plan.hosts[host].db, "result",
                    outcome_job, ev.ok ? "succeeded" : "failed", ev.error);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "journal record %llu (run.transition)", (unsigned long long)rec->seq);
        return rc == EBB_E_NOMEM ? rc : EBB_E_VERIFY;
    }
    return EBB_OK;
}

static ebb_code replay_fn(const ebb_journal_record *rec, void *ctx, bool *stop, ebb_error *err)
{
    (void)stop;
    ebb_run_driver *d = ctx;
    if (strcmp(rec->type, EBB_RUN_CREATED) == 0)
        return replay_created(d, rec, err);
    if (strcmp(rec->type, EBB_RUN_TRANSITION) == 0)
        return replay_transition(d, rec, err);
    if (strcmp(rec->type, EBB_AUDIT_RUN_END) == 0) {
        const char *id = json_string_value(json_object_get(rec->payload, "run_id"));
        char **v = realloc(d->ended_audited, (d->n_ended_audited + 1) * sizeof *v);
        if (v == NULL || id == NULL || (v[d->n_ended_audited] = strdup(id)) == NULL) {
            if (v != NULL)
                d->ended_audited = v;
            return id == NULL ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
        d->ended_audited = v;
        d->n_ended_audited++;
    }
    return EBB_OK;
}

static bool end_audited(const ebb_run_driver *d, const char *run_id)
{
    for (size_t i = 0; i < d->n_ended_audited; i++)
        if (strcmp(d->ended_audited[i], run_id) == 0)
            return true;
    return false;
}

ebb_code ebb_run_driver_replay(ebb_run_driver *d, ebb_error *err)
{
    d->replaying = true;
    ebb_code rc = ebb_journal_foreach(d->journal, 1, replay_fn, d, err);
    d->replaying = false;
    int64_t now_ms = 0;
    for (size_t i = 0; rc == EBB_OK && i < d->n; i++) {
        ebb_run_entry *e = d->runs[i];
        if (ebb_run_is_over(&e->run)) {
            /* A crash between the last transition and its run_end audit record. */
            if (!end_audited(d, e->run_id))
                rc = drv_write_run_end(d, e, e->ended_ms ? e->ended_ms : e->created_ms, err);
            continue;
        }
        for (size_t h = 0; rc == EBB_OK && h < e->run.n_hosts; h++)
            if (e->run.hosts[h].job_id[0] != '\0') {
                rc = drv_queue_job(d, e, h, now_ms, err);
                if (rc == EBB_OK)
                    ebb_log(EBB_LOG_INFO, "rollout", "run %s: asking %s again for job %s (%s)",
                            e->run_id, e->plan.hosts[h].host, e->run.hosts[h].job_id,
                            ebb_job_kind_name(e->run.hosts[h].job));
            }
    }
    for (size_t i = 0; i < d->n_ended_audited; i++)
        free(d->ended_audited[i]);
    free(d->ended_audited);
    d->ended_audited = NULL;
    d->n_ended_audited = 0;
    return rc;
}
