/* The daemon's counters as a JSON status file (rewritten atomically) and a log line at exit. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/daemon_internal.h"
#include "common/fsutil.h"
#include "common/log.h"

const char *daemon_state_name(daemon_state s)
{
    switch (s) {
    case DAEMON_PENDING:
        return "pending";
    case DAEMON_ACCEPTED:
        return "accepted";
    case DAEMON_REVOKED:
        return "revoked";
    default:
        return "connecting";
    }
}

static json_t *status_json(const ebb_daemon *d)
{
    json_t *rej = json_object();
    for (int c = 0; c < EBB_E__COUNT; c++)
        if (d->n.rejected[c] > 0)
            json_object_set_new(rej, ebb_code_name((ebb_code)c), json_integer(d->n.rejected[c]));
    if (d->n.rejected_body > 0)
        json_object_set_new(rej, "unexpected-body", json_integer(d->n.rejected_body));
    json_t *running = json_array(), *queued = json_array(), *undelivered = json_array();
    for (size_t i = 0; i < d->n_lanes; i++) {
        if (d->lanes[i].running_job != NULL)
            json_array_append_new(running, json_string(d->lanes[i].running_job));
        for (const daemon_job *j = d->lanes[i].head; j != NULL; j = j->next)
            json_array_append_new(queued, json_string(j->cmd->job_id));
    }
    for (const daemon_outbox_item *it = d->outbox; it != NULL; it = it->next)
        json_array_append_new(undelivered, json_string(it->res.job_id));
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:o,s:o,"
        "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:o}",
        "agent_id", d->cfg->agent_id, "key_id", d->key_hex, "coordinator",
        d->cfg->coordinator_address, "state", daemon_state_name(d->state), "connected",
        d->connected, "last_contact_ms", (json_int_t)d->last_contact_ms, "updated_at_ms",
        (json_int_t)ebb_proto_now_ms(), "running", running, "queued", queued, "undelivered",
        undelivered, "counters", "hellos", (json_int_t)d->n.hellos, "polls", (json_int_t)d->n.polls,
        "calls_failed", (json_int_t)d->n.calls_failed, "coordinator_errors",
        (json_int_t)d->n.coordinator_errors, "jobs_received", (json_int_t)d->n.jobs_received,
        "jobs_duplicate", (json_int_t)d->n.jobs_duplicate, "jobs_invalid",
        (json_int_t)d->n.jobs_invalid, "jobs_resent_from_journal",
        (json_int_t)d->n.jobs_resent_from_journal, "results_delivered",
        (json_int_t)d->n.results_delivered, "progress_sent", (json_int_t)d->n.progress_sent,
        "progress_failed", (json_int_t)d->n.progress_failed, "rejected_total",
        (json_int_t)d->n.rejected_total, "rejected", rej);
}

void daemon_status_write(ebb_daemon *d, unsigned long *written)
{
    if (d->opts->status_path == NULL || *written == d->changes)
        return;
    json_t *o = status_json(d);
    char *text = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    ebb_error e;
    if (text == NULL) {
        ebb_log(EBB_LOG_ERROR, "agent", "status file: out of memory");
    } else if (ebb_file_write_atomic(d->opts->status_path, text, strlen(text), 0644, &e) !=
               EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "agent", "status file: %s", e.msg);
    } else {
        *written = d->changes;
    }
    free(text);
}

void daemon_status_log(ebb_daemon *d)
{
    json_t *o = status_json(d);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    ebb_log(EBB_LOG_INFO, "agent", "counters at exit: %s", text != NULL ? text : "?");
    free(text);
}
