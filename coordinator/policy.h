/* Per-environment policy checks on a plan: approvals, forward-only, rollback window, backups, data
 * loss, promotion. Pure code. */
#ifndef EBB_COORDINATOR_POLICY_H
#define EBB_COORDINATOR_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "coordinator/plan.h"

/* The policy of one environment (strings borrowed from the inventory). */
typedef struct ebb_env_policy {
    const char *env;
    unsigned approvals;       /* k distinct operator keys, not the requester's, for every run */
    bool forward_only;        /* a rollback needs an approval */
    long rollback_window_s;   /* > 0: a rollback later than this after the last rollout in the
                                 environment needs an approval; 0: no window */
    bool require_backup;      /* a plan without the backup step is refused */
    bool allow_data_loss;     /* false: a plan with data at risk is refused */
    const char *promote_from; /* the environment before this one; NULL: no promotion rule */
} ebb_env_policy;

/* A completed run, as the journal remembers it. */
typedef struct ebb_run_record {
    const char *env;
    ebb_run_kind kind;
    const char *target_rev;
    const char *graph_hash;
    bool verified; /* ended with every unit done and verified */
    long long finished_at;
} ebb_run_record;

typedef struct ebb_policy_input {
    const ebb_plan *plan;
    const ebb_env_policy *policy;
    const ebb_run_record *history; /* completed runs, any environment, any order */
    size_t n_history;
    const char *const *approvers; /* operator key ids that approved this run so far */
    size_t n_approvers;
    long long now;
} ebb_policy_input;

typedef enum ebb_policy_verdict {
    EBB_POLICY_ALLOWED = 0,
    EBB_POLICY_NEEDS_APPROVAL,
    EBB_POLICY_REFUSED,
} ebb_policy_verdict;

#define EBB_POLICY_MAX_REASONS 6

typedef struct ebb_policy_result {
    ebb_policy_verdict verdict;
    char refusal[600];          /* EBB_POLICY_REFUSED: every rule that refused, "; "-separated */
    unsigned approvals_needed;  /* distinct approvals the run needs (0: none) */
    unsigned approvals_counted; /* distinct approvals held, the requester's not counted */
    size_t n_reasons;           /* why approval is needed (kept when already satisfied) */
    char reasons[EBB_POLICY_MAX_REASONS][200];
} ebb_policy_result;

/* "allowed", "needs_approval", "refused". */
const char *ebb_policy_verdict_name(ebb_policy_verdict verdict);

/* Distinct approvers in approvers[0..n), the requester and empty ids not counted. */
unsigned ebb_policy_count_approvals(const char *requester, const char *const *approvers, size_t n);

/*
 * Check in->plan against in->policy. A refusal is a verdict, not an error;
 * errors are only bad input (EBB_E_INVALID: no plan or policy, or a policy
 * for another environment). *out is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_policy_check(const ebb_policy_input *in, ebb_policy_result *out,
                                        ebb_error *err);

#endif
