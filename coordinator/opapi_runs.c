/* Operator commands about runs: plan (with every host's precheck), rollout, rollback, approve,
 * halt, resume, abort, runs, show (long poll). Called under the coordinator's lock. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/exit_codes.h"
#include "common/log.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/opapi.h"
#include "coordinator/plan_render.h"
#include "coordinator/policy.h"

#define MAX_SELECT 256

/* What a plan request asks, parsed; the strings borrow from the request. */
typedef struct plan_req {
    const ebb_coord_env *env;
    ebb_plan_input in;
    const char *hosts[MAX_SELECT];
    const char *dbs[MAX_SELECT];
    bool precheck;
    long long wait_ms;
} plan_req;

static bool parse_plan_req(ebb_coordinator *c, const coord_caller *who,
                           const Ebb__OperatorRequest *req, ebb_run_kind kind, bool for_plan,
                           plan_req *p, coord_answer *a)
{
    ebb_error err;
    char msg[512];
    memset(p, 0, sizeof *p);
    const char *env = ebb_opapi_arg(req, "env");
    if (env == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "env=ENV is required");
        return false;
    }
    if ((p->env = ebb_coord_config_env(c->cfg, env)) == NULL) {
        snprintf(msg, sizeof msg, "no environment '%s' in the configuration", env);
        coord_answer_error(a, EBB_E_INVALID, msg);
        return false;
    }
    ebb_plan_input *in = &p->in;
    in->kind = kind;
    in->target = ebb_opapi_arg(req, "to");
    long long steps = 0;
    ebb_code rc = ebb_opapi_arg_long(req, "steps", 0, 1, 100000, &steps, &err);
    in->steps = (long)steps;
    in->reason = ebb_opapi_arg(req, "reason");
    size_t nh = ebb_opapi_arg_all(req, "host", p->hosts, MAX_SELECT);
    size_t nd = ebb_opapi_arg_all(req, "db", p->dbs, MAX_SELECT);
    if (rc == EBB_OK && (nh > MAX_SELECT || nd > MAX_SELECT))
        rc = ebb_error_set(&err, EBB_E_INVALID, "more than %d hosts or databases", MAX_SELECT);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "atomic", false, &in->atomic, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "dry_run", false, &in->dry_run, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "allow_drift", false, &in->allow_drift, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "skip_dead", false, &in->skip_dead, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "skip_backup", false, &in->skip_backup, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "accept_data_loss", false, &in->accept_data_loss, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_bool(req, "precheck", true, &p->precheck, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_arg_long(req, "wait_ms", c->cfg->plan_timeout_ms, 0, 3600000, &p->wait_ms,
                                &err);
    if (rc == EBB_OK && (in->target == NULL) == (in->steps == 0))
        rc = ebb_error_set(&err, EBB_E_INVALID, "give exactly one of to=TARGET and steps=N");
    if (rc == EBB_OK && in->steps != 0 && kind != EBB_RUN_ROLLBACK)
        rc = ebb_error_set(&err, EBB_E_INVALID, "steps=N is for rollbacks");
    if (rc == EBB_OK && kind == EBB_RUN_ROLLBACK && !for_plan &&
        (in->reason == NULL || in->reason[0] == '\0'))
        rc = ebb_error_set(&err, EBB_E_INVALID, "a rollback needs a reason (--reason)");
    if (rc != EBB_OK) {
        coord_answer_error(a, EBB_E_INVALID, err.msg);
        return false;
    }
    in->selection.env = p->env->name;
    in->selection.hosts = p->hosts;
    in->selection.n_hosts = nh;
    in->selection.dbs = p->dbs;
    in->selection.n_dbs = nd;
    in->strategy = p->env->strategy;
    /* on_failure=halt|compensate overrides the environment's waves.on_failure for this run. */
    const char *onf = ebb_opapi_arg(req, "on_failure");
    if (onf != NULL && strcmp(onf, ebb_on_failure_name(EBB_ON_FAILURE_HALT)) == 0) {
        in->strategy.on_failure = EBB_ON_FAILURE_HALT;
    } else if (onf != NULL && strcmp(onf, ebb_on_failure_name(EBB_ON_FAILURE_COMPENSATE)) == 0) {
        in->strategy.on_failure = EBB_ON_FAILURE_COMPENSATE;
    } else if (onf != NULL) {
        snprintf(msg, sizeof msg, "on_failure must be halt or compensate, not '%.64s'", onf);
        coord_answer_error(a, EBB_E_INVALID, msg);
        return false;
    }
    in->requester = who->op->key_id_hex;
    if (in->reason == NULL)
        in->reason = "";
    in->now = coord_now_ms() / 1000;
    return true;
}

/* Plan and check the policy. On failure a is filled (status 4 for refusals). */
static bool make_plan(ebb_coordinator *c, plan_req *p, ebb_plan *plan, ebb_policy_result *pol,
                      coord_answer *a)
{
    ebb_inv_fleet fleet;
    ebb_error err;
    ebb_code rc = ebb_inventory_fleet(&c->inv, c->cfg->liveness_s, &fleet, &err);
    if (rc == EBB_OK) {
        p->in.fleet = &fleet.fleet;
        rc = ebb_plan_build(&p->in, plan, &err);
        ebb_inv_fleet_fini(&fleet);
    }
    if (rc != EBB_OK) {
        coord_answer_error(a, rc, err.msg);
        if (rc == EBB_E_REFUSED)
            json_object_set_new(a->json, "refusal", json_string(err.msg));
        return false;
    }
    const ebb_run_record *hist = NULL;
    size_t n_hist = 0;
    ebb_run_driver_history(c->driver, &hist, &n_hist);
    ebb_policy_input pin = {.plan = plan,
                            .policy = &p->env->policy,
                            .history = hist,
                            .n_history = n_hist,
                            .now = p->in.now};
    rc = ebb_policy_check(&pin, pol, &err);
    if (rc == EBB_OK && pol->verdict == EBB_POLICY_REFUSED) {
        coord_answer_error(a, EBB_E_REFUSED, pol->refusal);
        json_object_set_new(a->json, "refusal", json_string(pol->refusal));
        json_object_set_new(a->json, "plan", ebb_plan_to_json(plan, pol));
        rc = EBB_E_REFUSED;
    } else if (rc != EBB_OK) {
        coord_answer_error(a, rc, err.msg);
    }
    if (rc != EBB_OK) {
        ebb_plan_fini(plan);
        return false;
    }
    return true;
}

/* {"plan", "plan_hash", "policy"} and the plan as text in message. */
static void plan_answer(const ebb_plan *plan, const ebb_policy_result *pol, coord_answer *a)
{
    char hash[EBB_PLAN_HASH_HEX] = "";
    char *text = NULL;
    if (ebb_plan_hash(plan, hash, NULL) != EBB_OK)
        hash[0] = '\0';
    if (ebb_plan_render_text(plan, pol, &text, NULL) != EBB_OK)
        text = NULL;
    a->message = text;
    json_t *pj = ebb_plan_to_json(plan, pol);
    a->json = json_pack("{s:o, s:s}", "plan", pj ? pj : json_null(), "plan_hash", hash);
    if (a->json != NULL && pj != NULL)
        json_object_set(a->json, "policy", json_object_get(pj, "policy"));
}

/* ---- plan: prechecks gathered by a waiter thread ---- */

typedef struct plan_wait {
    ebb_coordinator *c;
    coord_caller who;
    char plan_id[64];
    coord_answer a; /* the plan part, ready */
    int64_t deadline_ms;
} plan_wait;

static coord_precheck *precheck_find(ebb_coordinator *c, const char *job_id)
{
    for (size_t i = 0; job_id != NULL && i < c->n_prechecks; i++)
        if (strcmp(c->prechecks[i].job_id, job_id) == 0)
            return &c->prechecks[i];
    return NULL;
}

bool coord_precheck_result(ebb_coordinator *c, const Ebb__JobResult *r)
{
    if (r->run_id == NULL || strncmp(r->run_id, "plan-", 5) != 0)
        return false;
    coord_precheck *p = precheck_find(c, r->job_id);
    ebb_job_queue_remove(&c->queue, r->job_id);
    if (p != NULL && p->result == NULL)
        p->result = ebb_proto_result_json(r);
    return true; /* a plan's precheck, gathered or late */
}

static bool prechecks_done(ebb_coordinator *c, const char *plan_id)
{
    for (size_t i = 0; i < c->n_prechecks; i++)
        if (strcmp(c->prechecks[i].plan_id, plan_id) == 0 && c->prechecks[i].result == NULL)
            return false;
    return true;
}

static void *plan_waiter(void *arg)
{
    plan_wait *w = arg;
    ebb_coordinator *c = w->c;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && !prechecks_done(c, w->plan_id) && coord_now_ms() < w->deadline_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
    }
    json_t *list = json_array();
    bool all_ok = true, complete = true;
    for (size_t i = 0; i < c->n_prechecks;) {
        coord_precheck *p = &c->prechecks[i];
        if (strcmp(p->plan_id, w->plan_id) != 0) {
            i++;
            continue;
        }
        json_t *r = p->result;
        const char *outcome = r ? json_string_value(json_object_get(r, "outcome")) : NULL;
        bool ok = outcome != NULL && strcmp(outcome, "succeeded") == 0;
        all_ok = all_ok && ok;
        complete = complete && r != NULL;
        const char *rep = r ? json_string_value(json_object_get(r, "report_json")) : NULL;
        json_t *report = rep ? json_loads(rep, 0, NULL) : NULL;
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s, s:s, s:b, s:O?, s:o?}", "host", p->host, "database", p->db,
                      "job_id", p->job_id, "outcome", outcome ? outcome : "no answer", "ok", ok,
                      "error", r ? json_object_get(r, "error_message") : NULL, "report", report));
        ebb_job_queue_remove(&c->queue, p->job_id);
        free(p->job_id);
        free(p->plan_id);
        free(p->host);
        free(p->db);
        json_decref(p->result);
        c->prechecks[i] = c->prechecks[--c->n_prechecks];
    }
    pthread_mutex_unlock(&c->mu);
    if (w->a.json != NULL) {
        json_object_set_new(w->a.json, "prechecks", list ? list : json_array());
        json_object_set_new(w->a.json, "prechecks_ok", json_boolean(all_ok));
        json_object_set_new(w->a.json, "complete", json_boolean(complete));
    } else {
        json_decref(list);
    }
    if (!all_ok)
        w->a.status = EBB_EXIT_FAILURE;
    coord_send_answer(c, &w->who, &w->a);
    free(w);
    coord_waiter_done(c);
    return NULL;
}

static ebb_code queue_prechecks(ebb_coordinator *c, const ebb_plan *plan, const char *plan_id,
                                const coord_caller *who, long long wait_ms, ebb_error *err)
{
    for (size_t i = 0; i < plan->n_hosts; i++) {
        const ebb_plan_host *h = &plan->hosts[i];
        char job_id[96];
        snprintf(job_id, sizeof job_id, "%s-%zu", plan_id, i);
        ebb_coord_job job = {.job_id = job_id,
                             .run_id = (char *)plan_id,
                             .agent_id = h->host,
                             .database = h->db,
                             .action = EBB__JOB_ACTION__ACTION_PRECHECK,
                             .target = plan->target_rev ? plan->target_rev : h->to,
                             .operator_key_id = (char *)who->op->key_id_hex,
                             .timeout_ms = (uint32_t)wait_ms};
        if (c->n_prechecks == c->cap_prechecks) {
            size_t cap = c->cap_prechecks ? c->cap_prechecks * 2 : 16;
            coord_precheck *np = realloc(c->prechecks, cap * sizeof *np);
            if (np == NULL)
                return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
            c->prechecks = np;
            c->cap_prechecks = cap;
        }
        coord_precheck *p = &c->prechecks[c->n_prechecks];
        p->job_id = strdup(job_id);
        p->plan_id = strdup(plan_id);
        p->host = strdup(h->host);
        p->db = strdup(h->db);
        p->result = NULL;
        if (p->job_id == NULL || p->plan_id == NULL || p->host == NULL || p->db == NULL) {
            free(p->job_id);
            free(p->plan_id);
            free(p->host);
            free(p->db);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
        c->n_prechecks++;
        ebb_code rc = ebb_job_queue_add(&c->queue, &job, NULL, err);
        if (rc != EBB_OK)
            return rc;
    }
    return EBB_OK;
}

void coord_op_plan(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a)
{
    const char *k = ebb_opapi_arg(req, "kind");
    if (k != NULL && strcmp(k, "rollout") != 0 && strcmp(k, "rollback") != 0) {
        coord_answer_error(a, EBB_E_INVALID, "kind must be rollout or rollback");
        return;
    }
    ebb_run_kind kind =
        k != NULL && strcmp(k, "rollback") == 0 ? EBB_RUN_ROLLBACK : EBB_RUN_ROLLOUT;
    plan_req p;
    ebb_plan plan;
    ebb_policy_result pol;
    if (!parse_plan_req(c, who, req, kind, true, &p, a) ||
        !coord_authorize(who, EBB_ROLE_READ, p.env->name, a))
        return;
    p.in.dry_run = true;
    if (!make_plan(c, &p, &plan, &pol, a))
        return;
    plan_answer(&plan, &pol, a);
    if (!p.precheck || plan.n_hosts == 0) {
        ebb_plan_fini(&plan);
        return;
    }
    plan_wait *w = calloc(1, sizeof *w);
    ebb_error err;
    ebb_code rc = w != NULL ? EBB_OK : ebb_error_set(&err, EBB_E_NOMEM, "out of memory");
    if (rc == EBB_OK) {
        uint8_t rnd[6];
        randombytes_buf(rnd, sizeof rnd);
        snprintf(w->plan_id, sizeof w->plan_id, "plan-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5]);
        w->c = c;
        w->who = *who;
        w->a = *a;
        w->deadline_ms = coord_now_ms() + p.wait_ms;
        rc = queue_prechecks(c, &plan, w->plan_id, who, p.wait_ms, &err);
    }
    ebb_plan_fini(&plan);
    if (rc == EBB_OK)
        rc = coord_spawn_waiter(c, plan_waiter, w, &err);
    if (rc != EBB_OK) {
        if (w != NULL) {
            ebb_job_queue_drop_queued(&c->queue, w->plan_id);
            free(w);
        }
        coord_answer_error(a, rc, err.msg);
        return;
    }
    memset(a, 0, sizeof *a); /* the waiter owns the answer now */
    a->deferred = true;
}

/* ---- rollout / rollback ---- */

void coord_op_start(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                    bool rollback, coord_answer *a)
{
    plan_req p;
    ebb_plan plan;
    ebb_policy_result pol;
    if (!parse_plan_req(c, who, req, rollback ? EBB_RUN_ROLLBACK : EBB_RUN_ROLLOUT, false, &p, a) ||
        !coord_authorize(who, p.in.dry_run ? EBB_ROLE_READ : EBB_ROLE_OPERATE, p.env->name, a) ||
        !make_plan(c, &p, &plan, &pol, a))
        return;
    if (p.in.dry_run) {
        plan_answer(&plan, &pol, a);
        ebb_plan_fini(&plan);
        return;
    }
    ebb_run_start st = {.policy = &pol,
                        .cfg = p.env->rollout,
                        .operator_key_id = who->op->key_id_hex,
                        .operator_name = who->op->name,
                        .hosts = p.hosts,
                        .n_hosts = p.in.selection.n_hosts};
    char run_id[64];
    ebb_error err;
    json_t *pj = ebb_plan_to_json(&plan, &pol);
    char hash[EBB_PLAN_HASH_HEX] = "";
    if (ebb_plan_hash(&plan, hash, NULL) != EBB_OK)
        hash[0] = '\0';
    ebb_code rc = ebb_run_driver_start(c->driver, &plan, &st, coord_now_ms(), run_id, &err);
    if (rc != EBB_OK) {
        ebb_plan_fini(&plan);
        json_decref(pj);
        if (rc == EBB_E_IO)
            coord_fail(c, &err);
        coord_answer_error(a, rc, err.msg);
        return;
    }
    const ebb_run_entry *e = ebb_run_driver_find(c->driver, run_id);
    ebb_log(EBB_LOG_INFO, "rollout", "run %s: %s of %s to %s requested by %s: %s", run_id,
            rollback ? "rollback" : "rollout", p.env->name, e->plan.target, who->op->name,
            ebb_run_state_name(e->run.state));
    char msg[256];
    snprintf(msg, sizeof msg, "run %s started (%s)", run_id, ebb_run_state_name(e->run.state));
    a->message = strdup(msg);
    a->json = json_pack("{s:o, s:o, s:s}", "run", ebb_run_entry_json(e, false), "plan",
                        pj ? pj : json_null(), "plan_hash", hash);
}

/* ---- approve, halt, resume, abort ---- */

void coord_op_control(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                      const char *command, coord_answer *a)
{
    const char *run_id = ebb_opapi_arg(req, "run"), *reason = ebb_opapi_arg(req, "reason");
    if (run_id == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "run=ID is required");
        return;
    }
    const ebb_run_entry *e = ebb_run_driver_find(c->driver, run_id);
    if (e == NULL) {
        coord_answer_error(a, EBB_E_NOT_FOUND, "no such run");
        return;
    }
    bool approve = strcmp(command, EBB_OP_APPROVE) == 0;
    ebb_rollout_event_kind kind = approve                               ? EBB_EV_APPROVE
                                  : strcmp(command, EBB_OP_HALT) == 0   ? EBB_EV_HALT
                                  : strcmp(command, EBB_OP_RESUME) == 0 ? EBB_EV_RESUME
                                                                        : EBB_EV_ABORT;
    if (kind == EBB_EV_ABORT && (reason == NULL || reason[0] == '\0')) {
        coord_answer_error(a, EBB_E_INVALID, "abort needs a reason");
        return;
    }
    if (!coord_authorize(who, approve ? EBB_ROLE_APPROVE : EBB_ROLE_OPERATE, e->plan.env, a))
        return;
    ebb_error err;
    ebb_code rc = ebb_run_driver_control(c->driver, run_id, kind, who->op->key_id_hex, reason,
                                         coord_now_ms(), &err);
    if (rc != EBB_OK) {
        if (rc == EBB_E_IO)
            coord_fail(c, &err);
        coord_answer_error(a, rc == EBB_E_CONFLICT ? EBB_E_REFUSED : rc, err.msg);
        return;
    }
    e = ebb_run_driver_find(c->driver, run_id);
    ebb_log(EBB_LOG_INFO, "rollout", "run %s: %s by %s -> %s", run_id, command, who->op->name,
            ebb_run_state_name(e->run.state));
    char msg[256];
    snprintf(msg, sizeof msg, "run %s: %s", run_id, ebb_run_state_name(e->run.state));
    a->message = strdup(msg);
    a->json = json_pack("{s:o}", "run", ebb_run_entry_json(e, false));
}

/* ---- runs, show ---- */

void coord_op_runs(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a)
{
    (void)who;
    const char *env = ebb_opapi_arg(req, "env");
    bool active = false;
    long long limit = 0;
    ebb_error err;
    if (ebb_opapi_arg_bool(req, "active", false, &active, &err) != EBB_OK ||
        ebb_opapi_arg_long(req, "limit", 0, 0, 1000000, &limit, &err) != EBB_OK) {
        coord_answer_error(a, EBB_E_INVALID, err.msg);
        return;
    }
    json_t *runs = json_array();
    size_t n = ebb_run_driver_count(c->driver);
    for (size_t i = n; runs != NULL && i-- > 0;) {
        const ebb_run_entry *e = ebb_run_driver_at(c->driver, i);
        if ((env != NULL && strcmp(env, e->plan.env) != 0) || (active && ebb_run_is_over(&e->run)))
            continue;
        if (limit > 0 && json_array_size(runs) >= (size_t)limit)
            break;
        json_array_append_new(runs, ebb_run_entry_json(e, false));
    }
    a->json = json_pack("{s:o}", "runs", runs ? runs : json_array());
}

typedef struct show_wait {
    ebb_coordinator *c;
    coord_caller who;
    char run_id[64];
    uint64_t after;
    int64_t deadline_ms;
} show_wait;

static void show_answer(ebb_coordinator *c, const ebb_run_entry *e, coord_answer *a)
{
    (void)c;
    a->json = json_pack("{s:o, s:I, s:b}", "run", ebb_run_entry_json(e, true), "version",
                        (json_int_t)e->version, "over", ebb_run_is_over(&e->run));
}

static void *show_waiter(void *arg)
{
    show_wait *w = arg;
    ebb_coordinator *c = w->c;
    coord_answer a = {0};
    pthread_mutex_lock(&c->mu);
    for (;;) {
        const ebb_run_entry *e = ebb_run_driver_find(c->driver, w->run_id);
        if (e == NULL || c->stopping || e->version > w->after || coord_now_ms() >= w->deadline_ms) {
            if (e != NULL)
                show_answer(c, e, &a);
            else
                coord_answer_error(&a, EBB_E_NOT_FOUND, "no such run");
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    coord_send_answer(c, &w->who, &a);
    free(w);
    coord_waiter_done(c);
    return NULL;
}

void coord_op_show(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a)
{
    const char *run_id = ebb_opapi_arg(req, "run");
    long long after = 0, wait = 0;
    ebb_error err;
    if (run_id == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "run=ID is required");
        return;
    }
    if (ebb_opapi_arg_long(req, "after", 0, 0, INT64_MAX, &after, &err) != EBB_OK ||
        ebb_opapi_arg_long(req, "wait_ms", EBB_OP_SHOW_MAX_WAIT_MS, 0, EBB_OP_SHOW_MAX_WAIT_MS,
                           &wait, &err) != EBB_OK) {
        coord_answer_error(a, EBB_E_INVALID, err.msg);
        return;
    }
    const ebb_run_entry *e = ebb_run_driver_find(c->driver, run_id);
    if (e == NULL) {
        coord_answer_error(a, EBB_E_NOT_FOUND, "no such run");
        return;
    }
    if (!coord_authorize(who, EBB_ROLE_READ, e->plan.env, a))
        return;
    if (e->version > (uint64_t)after || wait == 0 || ebb_run_is_over(&e->run)) {
        show_answer(c, e, a);
        return;
    }
    show_wait *w = calloc(1, sizeof *w);
    if (w == NULL) {
        coord_answer_error(a, EBB_E_NOMEM, "out of memory");
        return;
    }
    w->c = c;
    w->who = *who;
    snprintf(w->run_id, sizeof w->run_id, "%s", run_id);
    w->after = (uint64_t)after;
    w->deadline_ms = coord_now_ms() + wait;
    if (coord_spawn_waiter(c, show_waiter, w, &err) != EBB_OK) {
        free(w);
        coord_answer_error(a, err.code, err.msg);
        return;
    }
    a->deferred = true;
}
