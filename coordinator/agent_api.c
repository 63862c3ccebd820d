/* The agent-facing handlers: enrollment (self-signed hello), long polls, job results, progress. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coordinator_internal.h"

/* A lookup that knows one candidate key besides the keyring (an enrolling agent's own key). */
typedef struct enroll_lookup {
    ebb_public_key pk;
    ebb_key_id id;
} enroll_lookup;

static ebb_key_status enroll_lookup_fn(void *ctx, const ebb_key_id *id, ebb_public_key *pk_out)
{
    const enroll_lookup *l = ctx;
    if (!ebb_key_id_equal(id, &l->id))
        return EBB_KEY_UNKNOWN;
    if (pk_out != NULL)
        *pk_out = l->pk;
    return EBB_KEY_ACTIVE;
}

/*
 * An unknown signer may be an agent enrolling: its hello carries the public
 * key, which must be the signer's. True and *l filled when so; the envelope
 * is then opened against that key alone (self-signed).
 */
static bool enrolling_key(const uint8_t *data, size_t len, enroll_lookup *l)
{
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, data);
    bool ok = false;
    if (env == NULL)
        return false;
    if (env->body_type == EBB__BODY_TYPE__BODY_AGENT_HELLO &&
        env->signer_key_id.len == EBB_KEY_ID_LEN) {
        Ebb__AgentHello *h = ebb__agent_hello__unpack(NULL, env->body.len, env->body.data);
        if (h != NULL && h->public_key.len == EBB_PUBLIC_KEY_LEN) {
            memcpy(l->pk.bytes, h->public_key.data, EBB_PUBLIC_KEY_LEN);
            ebb_key_id_of(&l->pk, &l->id);
            ok = memcmp(l->id.bytes, env->signer_key_id.data, EBB_KEY_ID_LEN) == 0;
        }
        if (h != NULL)
            ebb__agent_hello__free_unpacked(h, NULL);
    }
    ebb__envelope__free_unpacked(env, NULL);
    return ok;
}

static void handle_hello(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *signer,
                         const Ebb__AgentHello *h)
{
    if (h->public_key.len != EBB_PUBLIC_KEY_LEN) {
        coord_reply_error(c, req, signer, EBB_E_ENV_MALFORMED, "hello without a public key");
        return;
    }
    ebb_public_key pk;
    memcpy(pk.bytes, h->public_key.data, EBB_PUBLIC_KEY_LEN);
    ebb_key_id kid;
    ebb_key_id_of(&pk, &kid);
    if (!ebb_key_id_equal(&kid, signer)) {
        coord_reply_error(c, req, signer, EBB_E_ENV_SIGNATURE,
                          "the hello's public key is not the signer's");
        return;
    }
    size_t n = h->n_databases;
    ebb_inv_db_report *dbs = n ? calloc(n, sizeof *dbs) : NULL;
    size_t n_revs = 0;
    for (size_t i = 0; i < n; i++)
        n_revs += h->databases[i]->n_revisions;
    ebb_inv_rev_report *revs = n_revs ? calloc(n_revs, sizeof *revs) : NULL;
    if ((n && dbs == NULL) || (n_revs && revs == NULL)) {
        free(dbs);
        free(revs);
        coord_reply_error(c, req, signer, EBB_E_NOMEM, "out of memory");
        return;
    }
    size_t rv = 0;
    for (size_t i = 0; i < n; i++) {
        const Ebb__DatabaseInfo *d = h->databases[i];
        dbs[i] = (ebb_inv_db_report){
            .name = d->name,
            .kind = d->kind,
            .current = (const char *const *)d->current_revisions,
            .n_current = d->n_current_revisions,
            .graph_hash = d->graph_hash,
            .fingerprint = d->fingerprint,
            .drift = d->has_drift && d->drift,
            .environment = d->environment,
            .error = d->error,
            .revs = &revs[rv],
            .n_revs = d->n_revisions,
        };
        for (size_t k = 0; k < d->n_revisions; k++, rv++)
            revs[rv] = (ebb_inv_rev_report){
                .id = d->revisions[k]->id,
                .parents = (const char *const *)d->revisions[k]->parents,
                .n_parents = d->revisions[k]->n_parents,
                .applied = d->revisions[k]->has_applied && d->revisions[k]->applied,
                .no_transaction =
                    d->revisions[k]->has_no_transaction && d->revisions[k]->no_transaction,
                .down_no_transaction = d->revisions[k]->has_down_no_transaction &&
                                       d->revisions[k]->down_no_transaction,
                .has_down_known = d->revisions[k]->has_has_down,
                .has_down = d->revisions[k]->has_down,
                .up_risk = d->revisions[k]->up_risk,
                .down_risk = d->revisions[k]->down_risk,
            };
    }
    ebb_inv_hello hello = {.agent_id = h->agent_id,
                           .key = &pk,
                           .software_version = h->software_version,
                           .protocol_version = h->protocol_version,
                           .dbs = dbs,
                           .n_dbs = n};
    pthread_mutex_lock(&c->mu);
    ebb_inv_agent *a = NULL;
    ebb_error err;
    ebb_code rc = ebb_inventory_hello(&c->inv, &hello, coord_now_ms(), &a, &err);
    Ebb__AgentHelloReply r = EBB__AGENT_HELLO_REPLY__INIT;
    char env[128] = "";
    if (rc == EBB_OK) {
        r.state = a->state == EBB_AGENT_ACCEPTED  ? EBB__ENROLLMENT_STATE__ENROLL_ACCEPTED
                  : a->state == EBB_AGENT_REVOKED ? EBB__ENROLLMENT_STATE__ENROLL_REVOKED
                                                  : EBB__ENROLLMENT_STATE__ENROLL_PENDING;
        snprintf(env, sizeof env, "%s", a->env ? a->env : "");
        if (a->state == EBB_AGENT_PENDING && a->first_seen_ms == a->last_hello_ms)
            ebb_log(EBB_LOG_INFO, "enroll",
                    "agent %s (key %s) is pending: accept it with "
                    "`ebb agents accept %s --env ENV`",
                    a->id, a->key_id_hex, a->id);
    }
    pthread_mutex_unlock(&c->mu);
    free(dbs);
    free(revs);
    if (rc != EBB_OK) {
        ebb_log(EBB_LOG_WARN, "enroll", "hello refused: %s", err.msg);
        coord_reply_error(c, req, signer, rc, err.msg);
        return;
    }
    if (h->n_interrupted_jobs > 0)
        ebb_log(EBB_LOG_WARN, "agent", "agent %s reports %zu interrupted job(s)", h->agent_id,
                h->n_interrupted_jobs);
    r.environment = env[0] ? env : NULL;
    r.has_poll_timeout_ms = true;
    r.poll_timeout_ms = (uint32_t)c->cfg->poll_wait_ms;
    coord_reply_body(c, req, signer, EBB__BODY_TYPE__BODY_AGENT_HELLO_REPLY, &r.base);
}

static void handle_poll(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *signer,
                        const Ebb__Poll *p)
{
    pthread_mutex_lock(&c->mu);
    int64_t now = coord_now_ms();
    ebb_inv_agent *a = ebb_inventory_seen(&c->inv, signer, now);
    if (a == NULL || a->state != EBB_AGENT_ACCEPTED || a->last_hello_ms == 0 ||
        strcmp(a->id, p->agent_id) != 0 || c->stopping) {
        /* Not accepted, or not heard from since this coordinator started: hello first. */
        bool resend = !c->stopping || a == NULL;
        pthread_mutex_unlock(&c->mu);
        Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
        pr.has_resend_hello = true;
        pr.resend_hello = resend;
        coord_reply_body(c, req, signer, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base);
        return;
    }
    size_t n_held = p->n_running_job_ids + p->n_queued_job_ids;
    const char **held = n_held ? calloc(n_held, sizeof *held) : NULL;
    for (size_t i = 0; held != NULL && i < p->n_running_job_ids; i++)
        held[i] = p->running_job_ids[i];
    for (size_t i = 0; held != NULL && i < p->n_queued_job_ids; i++)
        held[p->n_running_job_ids + i] = p->queued_job_ids[i];
    size_t lost = ebb_job_queue_poll(&c->queue, a->id, held, held ? n_held : 0,
                                     p->has_undelivered_results ? p->undelivered_results : 0, now,
                                     COORD_LOST_JOB_GRACE_MS);
    free(held);
    if (lost > 0)
        ebb_log(EBB_LOG_INFO, "coordinator",
                "%zu job(s) for %s were lost on the way: sent again "
                "by the same id",
                lost, a->id);
    ebb_wire_request *old = NULL;
    coord_held *slot = NULL;
    for (size_t i = 0; i < c->n_held; i++)
        if (ebb_key_id_equal(&c->held[i].key, signer))
            slot = &c->held[i];
    if (slot == NULL && c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? c->cap_held * 2 : 16;
        coord_held *nh = realloc(c->held, cap * sizeof *nh);
        if (nh != NULL) {
            c->held = nh;
            c->cap_held = cap;
        }
    }
    if (slot == NULL && c->n_held < c->cap_held) {
        slot = &c->held[c->n_held++];
        memset(slot, 0, sizeof *slot);
    }
    if (slot == NULL) {
        pthread_mutex_unlock(&c->mu);
        coord_reply_error(c, req, signer, EBB_E_NOMEM, "out of memory");
        return;
    }
    if (slot->req != NULL && ebb_key_id_equal(&slot->key, signer))
        old = slot->req; /* a newer poll replaces a parked one */
    uint32_t wait = p->has_wait_ms ? p->wait_ms : 0;
    if (wait > (uint32_t)c->cfg->poll_wait_ms)
        wait = (uint32_t)c->cfg->poll_wait_ms;
    slot->key = *signer;
    slot->req = req;
    slot->until_ms = now + wait;
    pthread_mutex_unlock(&c->mu);
    if (old != NULL) {
        Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
        coord_reply_body(c, old, signer, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base);
    }
    coord_flush_polls(c, false); /* answers at once when there is work */
}

/* A "database busy" answer: nothing ran and nothing was recorded; ask again later. */
static bool is_busy(const Ebb__JobResult *r)
{
    return r->outcome == EBB__JOB_OUTCOME__OUTCOME_FAILED && r->error_code != NULL &&
           strcmp(r->error_code, ebb_code_name(EBB_E_LOCKED)) == 0 &&
           !(r->has_resent && r->resent) && r->error_message != NULL &&
           strstr(r->error_message, "busy") != NULL;
}

/*
 * The database state a result carries (revisions after, fingerprint, drift) goes into the
 * inventory, so `status` and the next plan see what a run left. A result repeated from the
 * agent's journal, or one that finished before the agent's latest hello (which inspected every
 * database afresh), is older than what the inventory holds and is left out.
 */
static void result_state(ebb_inv_agent *a, const Ebb__JobResult *r)
{
    if (r->database == NULL || r->fingerprint == NULL || (r->has_resent && r->resent) ||
        r->outcome == EBB__JOB_OUTCOME__OUTCOME_REJECTED ||
        (r->has_finished_at_ms && r->finished_at_ms < a->last_hello_ms))
        return;
    ebb_inv_db_state st = {.current = (const char *const *)r->revisions_after,
                           .n_current = r->n_revisions_after,
                           .fingerprint = r->fingerprint,
                           .has_drift = r->has_drift,
                           .drift = r->drift};
    ebb_error err;
    if (ebb_inventory_db_state(a, r->database, &st, &err) != EBB_OK)
        ebb_log(EBB_LOG_INFO, "inventory", "result of job %s: state not taken: %s", r->job_id,
                err.msg);
}

static void handle_result(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *signer,
                          const Ebb__JobResult *r)
{
    pthread_mutex_lock(&c->mu);
    ebb_inv_agent *a = ebb_inventory_seen(&c->inv, signer, coord_now_ms());
    ebb_code rc = EBB_OK;
    ebb_error err;
    if (a != NULL && a->state == EBB_AGENT_ACCEPTED)
        result_state(a, r);
    if (a == NULL || a->state != EBB_AGENT_ACCEPTED) {
        rc = ebb_error_set(&err, EBB_E_REFUSED, "not an accepted agent");
    } else if (coord_precheck_result(c, r)) {
        /* gathered for `plan` */
    } else {
        ebb_coord_job *job = ebb_job_queue_find(&c->queue, r->job_id);
        if (job != NULL && strcmp(job->agent_id, a->id) != 0) {
            rc = ebb_error_set(&err, EBB_E_REFUSED, "job %s was not sent to %s", r->job_id, a->id);
        } else if (job != NULL && is_busy(r) && job->busy_retries < COORD_BUSY_RETRIES) {
            job->busy_retries++;
            rc = ebb_job_queue_requeue(&c->queue, r->job_id, &err);
        } else {
            const char *outcome = ebb_proto_outcome_name(r->outcome);
            ebb_driver_result dr = {
                .job_id = r->job_id,
                .run_id = r->run_id,
                .agent_id = a->id,
                .database = r->database,
                .action = r->has_action ? ebb_proto_action_name(r->action) : NULL,
                .outcome = outcome,
                .ok = r->outcome == EBB__JOB_OUTCOME__OUTCOME_SUCCEEDED,
                .revisions_before = (const char *const *)r->revisions_before,
                .n_before = r->n_revisions_before,
                .revisions_after = (const char *const *)r->revisions_after,
                .n_after = r->n_revisions_after,
                .fingerprint = r->fingerprint,
                .backup_id = r->backup_id,
                .backup_checksum = r->backup_checksum,
                .error_code = r->error_code,
                .error_message = r->error_message,
                .sqlstate = r->sqlstate,
                .started_ms = r->has_started_at_ms ? r->started_at_ms : 0,
                .finished_ms = r->has_finished_at_ms ? r->finished_at_ms : 0,
            };
            bool matched = false;
            rc = ebb_run_driver_result(c->driver, &dr, coord_now_ms(), &matched, &err);
            if (rc == EBB_OK && !matched)
                ebb_log(EBB_LOG_INFO, "coordinator",
                        "result of job %s from %s matches no job out (late or repeated)", r->job_id,
                        a->id);
            else if (rc == EBB_OK)
                ebb_log(EBB_LOG_INFO, "rollout", "run %s: %s on %s/%s: %s", r->run_id,
                        dr.action ? dr.action : "job", a->id, r->database ? r->database : "-",
                        outcome);
            if (rc == EBB_E_IO || rc == EBB_E_NOMEM)
                coord_fail(c, &err);
            else if (rc != EBB_OK) {
                /* The run refused the event: acknowledge, so the agent stops resending it. */
                ebb_log(EBB_LOG_ERROR, "rollout", "result of job %s: %s", r->job_id, err.msg);
                rc = EBB_OK;
            }
        }
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (rc != EBB_OK) {
        /* Not acknowledged: the agent keeps the result and sends it again. */
        coord_reply_error(c, req, signer, rc, err.msg);
        return;
    }
    Ebb__Ack ack = EBB__ACK__INIT;
    ack.has_accepted = true;
    ack.accepted = true;
    ack.job_id = r->job_id;
    coord_reply_body(c, req, signer, EBB__BODY_TYPE__BODY_ACK, &ack.base);
    coord_flush_polls(c, false);
}

static void handle_progress(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *signer,
                            const Ebb__JobProgress *p)
{
    pthread_mutex_lock(&c->mu);
    ebb_inv_agent *a = ebb_inventory_seen(&c->inv, signer, coord_now_ms());
    if (a != NULL)
        ebb_log(EBB_LOG_DEBUG, "agent", "%s job %s: %s %u/%u", a->id, p->job_id,
                p->step ? p->step : "-", p->done, p->total);
    pthread_mutex_unlock(&c->mu);
    Ebb__Ack ack = EBB__ACK__INIT;
    ack.has_accepted = true;
    ack.accepted = a != NULL;
    ack.job_id = p->job_id;
    coord_reply_body(c, req, signer, EBB__BODY_TYPE__BODY_ACK, &ack.base);
}

void coord_agent_handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len)
{
    ebb_coordinator *c = ctx;
    ebb_key_id claimed;
    bool has_claim = ebb_envelope_peek_signer(data, len, c->cfg->max_message, &claimed);
    enroll_lookup el;
    bool enrolling =
        has_claim &&
        ebb_keyring_lookup(c->agent_ring, &claimed, NULL, NULL, 0) == EBB_KEY_UNKNOWN &&
        enrolling_key(data, len, &el);
    ebb_open_ctx oc = {
        .max_size = c->cfg->max_message,
        .self_id = ebb_secret_key_id(c->key),
        .lookup = enrolling ? enroll_lookup_fn : ebb_keyring_lookup_fn,
        .lookup_ctx = enrolling ? (void *)&el : (void *)c->agent_ring,
        .replay = enrolling ? c->enroll_replay : c->replay,
        .now_ms = coord_now_ms(),
        .max_skew_ms = COORD_SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    ebb_error err;
    ebb_code rc = ebb_envelope_open(&oc, data, len, &m, &err);
    if (rc != EBB_OK) {
        pthread_mutex_lock(&c->mu);
        c->counters_rejected++;
        pthread_mutex_unlock(&c->mu);
        ebb_log(EBB_LOG_WARN, "agent-api", "rejected (%s): %s", ebb_code_name(rc), err.msg);
        if (!has_claim)
            memset(&claimed, 0, sizeof claimed);
        coord_reply_error(c, req, &claimed, rc, err.msg);
        return;
    }
    const ProtobufCMessageDescriptor *d = ebb_proto_body_descriptor(m.body_type);
    ProtobufCMessage *body = NULL;
    if (d == NULL || (enrolling && m.body_type != EBB__BODY_TYPE__BODY_AGENT_HELLO) ||
        ebb_proto_unpack(d, m.body, m.body_len, "request body", &body, &err) != EBB_OK) {
        coord_reply_error(c, req, &m.signer, EBB_E_ENV_MALFORMED, "unreadable or unexpected body");
        ebb_opened_fini(&m);
        return;
    }
    switch (m.body_type) {
    case EBB__BODY_TYPE__BODY_AGENT_HELLO:
        handle_hello(c, req, &m.signer, (const Ebb__AgentHello *)body);
        break;
    case EBB__BODY_TYPE__BODY_POLL:
        handle_poll(c, req, &m.signer, (const Ebb__Poll *)body);
        break;
    case EBB__BODY_TYPE__BODY_JOB_RESULT:
        handle_result(c, req, &m.signer, (const Ebb__JobResult *)body);
        break;
    case EBB__BODY_TYPE__BODY_JOB_PROGRESS:
        handle_progress(c, req, &m.signer, (const Ebb__JobProgress *)body);
        break;
    default:
        coord_reply_error(c, req, &m.signer, EBB_E_INVALID,
                          "unexpected body type on the agent "
                          "listener");
    }
    protobuf_c_message_free_unpacked(body, NULL);
    ebb_opened_fini(&m);
}
