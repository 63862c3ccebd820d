/* Per-environment policy checks on a plan: approvals, forward-only, rollback window, backups, data
 * loss, promotion. Pure code. */
#include "coordinator/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ebb_policy_verdict_name(ebb_policy_verdict verdict)
{
    switch (verdict) {
    case EBB_POLICY_ALLOWED:
        return "allowed";
    case EBB_POLICY_NEEDS_APPROVAL:
        return "needs_approval";
    case EBB_POLICY_REFUSED:
        return "refused";
    }
    return "unknown";
}

unsigned ebb_policy_count_approvals(const char *requester, const char *const *approvers, size_t n)
{
    unsigned count = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = approvers[i];
        if (a == NULL || a[0] == '\0' || (requester != NULL && strcmp(a, requester) == 0))
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = approvers[k] != NULL && strcmp(approvers[k], a) == 0;
        if (!seen)
            count++;
    }
    return count;
}

static void EBB_PRINTF(2, 3) refuse(ebb_policy_result *r, const char *fmt, ...)
{
    size_t used = strlen(r->refusal);
    if (used > 0 && used + 2 < sizeof r->refusal) {
        strcat(r->refusal, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->refusal + used, sizeof r->refusal - used, fmt, ap);
    va_end(ap);
    r->verdict = EBB_POLICY_REFUSED;
}

static void EBB_PRINTF(2, 3) need_approval(ebb_policy_result *r, const char *fmt, ...)
{
    if (r->approvals_needed < 1)
        r->approvals_needed = 1;
    if (r->n_reasons == EBB_POLICY_MAX_REASONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reasons[r->n_reasons++], sizeof r->reasons[0], fmt, ap);
    va_end(ap);
}

/* Units whose path can lose data: "h1/app, h2/app" (cut to fit), and their count. */
static size_t risky_units(const ebb_plan *p, char *buf, size_t size)
{
    size_t n = 0, used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->n_hosts; i++) {
        if (!p->hosts[i].data_at_risk)
            continue;
        if (n < 3) {
            int w = snprintf(buf + used, size - used, "%s%s/%s", n ? ", " : "", p->hosts[i].host,
                             p->hosts[i].db);
            if (w > 0 && (size_t)w < size - used)
                used += (size_t)w;
        }
        n++;
    }
    if (n > 3)
        snprintf(buf + used, size - used, " and %zu more", n - 3);
    return n;
}

static void check_data_loss(const ebb_policy_input *in, ebb_policy_result *r)
{
    const ebb_plan *p = in->plan;
    char units[160];
    if (!p->data_at_risk || risky_units(p, units, sizeof units) == 0)
        return;
    if (!in->policy->allow_data_loss)
        refuse(r, "data at risk on %s: environment %s does not allow data loss", units, p->env);
    else if (!p->accept_data_loss)
        refuse(r, "data at risk on %s: accept it explicitly (--accept-data-loss)", units);
    else
        need_approval(r, "data loss accepted on %s", units);
}

static void check_rollback(const ebb_policy_input *in, ebb_policy_result *r)
{
    const ebb_plan *p = in->plan;
    const ebb_env_policy *pol = in->policy;
    if (p->kind != EBB_RUN_ROLLBACK)
        return;
    if (pol->forward_only)
        need_approval(r, "environment %s is forward-only: a rollback needs approval", p->env);
    if (pol->rollback_window_s <= 0)
        return;
    const ebb_run_record *last = NULL;
    for (size_t i = 0; i < in->n_history; i++) {
        const ebb_run_record *h = &in->history[i];
        if (h->kind == EBB_RUN_ROLLOUT && strcmp(h->env, p->env) == 0 &&
            (last == NULL || h->finished_at > last->finished_at))
            last = h;
    }
    if (last == NULL)
        need_approval(r,
                      "no rollout recorded in %s, so the rollback is outside the %lds "
                      "rollback window",
                      p->env, pol->rollback_window_s);
    else if (in->now - last->finished_at > pol->rollback_window_s)
        need_approval(r,
                      "rollback %llds after the last rollout in %s, outside the %lds "
                      "rollback window",
                      in->now - last->finished_at, p->env, pol->rollback_window_s);
}

static void check_promotion(const ebb_policy_input *in, ebb_policy_result *r)
{
    const ebb_plan *p = in->plan;
    const char *prev = in->policy->promote_from;
    if (p->kind != EBB_RUN_ROLLOUT || prev == NULL || prev[0] == '\0')
        return;
    if (p->target_rev == NULL || p->graph_hash == NULL) {
        refuse(r,
               "promotion from %s needs one target revision and one migration graph for "
               "the whole run",
               prev);
        return;
    }
    for (size_t i = 0; i < in->n_history; i++) {
        const ebb_run_record *h = &in->history[i];
        if (h->kind == EBB_RUN_ROLLOUT && h->verified && strcmp(h->env, prev) == 0 &&
            h->target_rev != NULL && strcmp(h->target_rev, p->target_rev) == 0 &&
            h->graph_hash != NULL && strcmp(h->graph_hash, p->graph_hash) == 0)
            return;
    }
    refuse(r,
           "revision %s (graph %.12s) has not completed and verified in %s, which comes "
           "before %s",
           p->target_rev, p->graph_hash, prev, p->env);
}

ebb_code ebb_policy_check(const ebb_policy_input *in, ebb_policy_result *out, ebb_error *err)
{
    if (in == NULL || in->plan == NULL || in->policy == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "policy check: no plan or no policy given");
    const ebb_plan *p = in->plan;
    const ebb_env_policy *pol = in->policy;
    if (pol->env == NULL || p->env == NULL || strcmp(pol->env, p->env) != 0)
        return ebb_error_set(err, EBB_E_INVALID,
                             "policy check: the policy is for environment %s, the plan for %s",
                             pol->env ? pol->env : "(none)", p->env ? p->env : "(none)");
    ebb_policy_result r;
    memset(&r, 0, sizeof r);
    r.approvals_needed = pol->approvals;
    if (pol->approvals > 0)
        need_approval(&r, "environment %s requires %u approval%s for every run", p->env,
                      pol->approvals, pol->approvals == 1 ? "" : "s");
    if (pol->require_backup && p->skip_backup)
        refuse(&r, "environment %s requires a backup before every change", p->env);
    check_data_loss(in, &r);
    check_rollback(in, &r);
    check_promotion(in, &r);
    r.approvals_counted = ebb_policy_count_approvals(p->requester, in->approvers, in->n_approvers);
    if (r.verdict != EBB_POLICY_REFUSED)
        r.verdict = r.approvals_counted >= r.approvals_needed ? EBB_POLICY_ALLOWED
                                                              : EBB_POLICY_NEEDS_APPROVAL;
    *out = r;
    return EBB_OK;
}
