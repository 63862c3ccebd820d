/* Wire-boundary helpers: pack, seal, unpack, enum names, JSON of results. */
#include "common/proto_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ebb_proto_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ebb_proto_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

ebb_code ebb_proto_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len, ebb_error *err)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "pack %s: out of memory", msg->descriptor->name);
    size_t n = protobuf_c_message_pack(msg, buf);
    if (n != len) {
        free(buf);
        return ebb_error_set(err, EBB_E_INTERNAL, "pack %s: %zu bytes, expected %zu",
                             msg->descriptor->name, n, len);
    }
    *out = buf;
    *out_len = len;
    return EBB_OK;
}

ebb_code ebb_proto_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                          const char *what, ProtobufCMessage **out, ebb_error *err)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    if (m == NULL)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "%s: %zu bytes are not a valid %s message (or lack a required field)",
                             what, len, d->name);
    *out = m;
    return EBB_OK;
}

const ProtobufCMessageDescriptor *ebb_proto_body_descriptor(uint32_t body_type)
{
    switch (body_type) {
    case EBB__BODY_TYPE__BODY_AGENT_HELLO:
        return &ebb__agent_hello__descriptor;
    case EBB__BODY_TYPE__BODY_AGENT_HELLO_REPLY:
        return &ebb__agent_hello_reply__descriptor;
    case EBB__BODY_TYPE__BODY_POLL:
        return &ebb__poll__descriptor;
    case EBB__BODY_TYPE__BODY_POLL_REPLY:
        return &ebb__poll_reply__descriptor;
    case EBB__BODY_TYPE__BODY_JOB_PROGRESS:
        return &ebb__job_progress__descriptor;
    case EBB__BODY_TYPE__BODY_JOB_RESULT:
        return &ebb__job_result__descriptor;
    case EBB__BODY_TYPE__BODY_ACK:
        return &ebb__ack__descriptor;
    case EBB__BODY_TYPE__BODY_OPERATOR_REQUEST:
        return &ebb__operator_request__descriptor;
    case EBB__BODY_TYPE__BODY_OPERATOR_RESPONSE:
        return &ebb__operator_response__descriptor;
    case EBB__BODY_TYPE__BODY_ERROR:
        return &ebb__error__descriptor;
    case EBB__BODY_TYPE__BODY_TEST_PAYLOAD:
        return &ebb__test_payload__descriptor;
    default:
        return NULL;
    }
}

void ebb_sealer_init(ebb_sealer *s, const ebb_secret_key *key, int64_t ttl_ms)
{
    s->key = key;
    s->ttl_ms = ttl_ms;
    s->last_seq = 0;
    pthread_mutex_init(&s->mutex, NULL);
}

void ebb_sealer_fini(ebb_sealer *s)
{
    pthread_mutex_destroy(&s->mutex);
}

ebb_code ebb_sealer_seal(ebb_sealer *s, const ebb_key_id *to, uint32_t body_type,
                         const ProtobufCMessage *body, uint8_t **out, size_t *out_len,
                         ebb_error *err)
{
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    ebb_code rc = ebb_proto_pack(body, &packed, &packed_len, err);
    if (rc != EBB_OK)
        return rc;
    pthread_mutex_lock(&s->mutex);
    s->last_seq = ebb_seq_next(s->last_seq, ebb_proto_now_us());
    uint64_t seq = s->last_seq;
    pthread_mutex_unlock(&s->mutex);
    ebb_seal_args a = {
        .signer = s->key,
        .recipient = to,
        .sequence = seq,
        .now_ms = ebb_proto_now_ms(),
        .ttl_ms = s->ttl_ms,
        .body_type = body_type,
        .body = packed,
        .body_len = packed_len,
    };
    rc = ebb_envelope_seal(&a, out, out_len, err);
    free(packed);
    return rc;
}

/* Indexed by the enum value; the proto enum is dense from 0. */
static const char *const action_names[] = {
    [EBB__JOB_ACTION__ACTION_NONE] = "none",
    [EBB__JOB_ACTION__ACTION_INSPECT] = "inspect",
    [EBB__JOB_ACTION__ACTION_PRECHECK] = "precheck",
    [EBB__JOB_ACTION__ACTION_STOP_SERVICES] = "stop_services",
    [EBB__JOB_ACTION__ACTION_BACKUP] = "backup",
    [EBB__JOB_ACTION__ACTION_MIGRATE] = "migrate",
    [EBB__JOB_ACTION__ACTION_VERIFY] = "verify",
    [EBB__JOB_ACTION__ACTION_START_SERVICES] = "start_services",
    [EBB__JOB_ACTION__ACTION_HEALTH] = "health",
    [EBB__JOB_ACTION__ACTION_RESTORE] = "restore",
    [EBB__JOB_ACTION__ACTION_COMMIT_PREPARED] = "commit_prepared",
    [EBB__JOB_ACTION__ACTION_ROLLBACK_PREPARED] = "rollback_prepared",
    [EBB__JOB_ACTION__ACTION_CANCEL] = "cancel",
};
#define N_ACTIONS (sizeof action_names / sizeof action_names[0])

const char *ebb_proto_action_name(Ebb__JobAction action)
{
    if ((unsigned)action < N_ACTIONS && action_names[action] != NULL)
        return action_names[action];
    return "unknown";
}

ebb_code ebb_proto_action_parse(const char *name, Ebb__JobAction *out, ebb_error *err)
{
    for (size_t i = 1; i < N_ACTIONS; i++) {
        if (action_names[i] != NULL && strcmp(action_names[i], name) == 0) {
            *out = (Ebb__JobAction)i;
            return EBB_OK;
        }
    }
    return ebb_error_set(err, EBB_E_INVALID, "unknown job action '%s'", name);
}

const char *ebb_proto_outcome_name(Ebb__JobOutcome outcome)
{
    switch (outcome) {
    case EBB__JOB_OUTCOME__OUTCOME_SUCCEEDED:
        return "succeeded";
    case EBB__JOB_OUTCOME__OUTCOME_FAILED:
        return "failed";
    case EBB__JOB_OUTCOME__OUTCOME_INTERRUPTED:
        return "interrupted";
    case EBB__JOB_OUTCOME__OUTCOME_REJECTED:
        return "rejected";
    case EBB__JOB_OUTCOME__OUTCOME_CANCELLED:
        return "cancelled";
    default:
        return "none";
    }
}

const char *ebb_proto_enroll_name(Ebb__EnrollmentState state)
{
    switch (state) {
    case EBB__ENROLLMENT_STATE__ENROLL_ACCEPTED:
        return "accepted";
    case EBB__ENROLLMENT_STATE__ENROLL_REVOKED:
        return "revoked";
    default:
        return "pending";
    }
}

static json_t *strv_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Set key to a string when s is present (optional proto2 strings are NULL when absent). */
static void set_str(json_t *o, const char *key, const char *s)
{
    if (s != NULL)
        json_object_set_new(o, key, json_string(s));
}

json_t *ebb_proto_result_json(const Ebb__JobResult *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "job_id", json_string(r->job_id));
    json_object_set_new(o, "run_id", json_string(r->run_id));
    json_object_set_new(o, "outcome", json_string(ebb_proto_outcome_name(r->outcome)));
    if (r->has_action)
        json_object_set_new(o, "action", json_string(ebb_proto_action_name(r->action)));
    set_str(o, "database", r->database);
    set_str(o, "agent_id", r->agent_id);
    json_object_set_new(o, "revisions_before",
                        strv_json(r->revisions_before, r->n_revisions_before));
    json_object_set_new(o, "revisions_after", strv_json(r->revisions_after, r->n_revisions_after));
    set_str(o, "fingerprint", r->fingerprint);
    set_str(o, "backup_id", r->backup_id);
    set_str(o, "backup_checksum", r->backup_checksum);
    set_str(o, "error_code", r->error_code);
    set_str(o, "error_message", r->error_message);
    set_str(o, "sqlstate", r->sqlstate);
    if (r->has_started_at_ms)
        json_object_set_new(o, "started_at_ms", json_integer(r->started_at_ms));
    if (r->has_finished_at_ms)
        json_object_set_new(o, "finished_at_ms", json_integer(r->finished_at_ms));
    if (r->has_resent)
        json_object_set_new(o, "resent", json_boolean(r->resent));
    if (r->report_json != NULL) {
        json_t *rep = json_loads(r->report_json, 0, NULL);
        json_object_set_new(o, "report", rep != NULL ? rep : json_string(r->report_json));
    }
    return o;
}

json_t *ebb_proto_database_json(const Ebb__DatabaseInfo *d)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "kind", json_string(d->kind));
    json_object_set_new(o, "current_revisions",
                        strv_json(d->current_revisions, d->n_current_revisions));
    set_str(o, "graph_hash", d->graph_hash);
    set_str(o, "fingerprint", d->fingerprint);
    if (d->has_drift)
        json_object_set_new(o, "drift", json_boolean(d->drift));
    set_str(o, "environment", d->environment);
    set_str(o, "error", d->error);
    json_t *revs = json_array();
    for (size_t i = 0; revs != NULL && i < d->n_revisions; i++) {
        const Ebb__RevisionInfo *ri = d->revisions[i];
        json_t *r = json_object();
        json_object_set_new(r, "id", json_string(ri->id));
        json_object_set_new(r, "parents", strv_json(ri->parents, ri->n_parents));
        if (ri->has_applied)
            json_object_set_new(r, "applied", json_boolean(ri->applied));
        set_str(r, "checksum", ri->checksum);
        json_array_append_new(revs, r);
    }
    json_object_set_new(o, "revisions", revs);
    return o;
}
