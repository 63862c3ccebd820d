/* Run records of the rollout engine: creation, copies, job ids. Pure code. */
#include "coordinator/rollout.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- job ids ---- */

static void hash_field(crypto_generichash_state *h, const void *data, size_t len)
{
    uint8_t n[8];
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (8 * i));
    crypto_generichash_update(h, n, sizeof n);
    if (len)
        crypto_generichash_update(h, data, len);
}

void ebb_rollout_job_id(const char *run_id, const char *host, const char *db, const char *purpose,
                        size_t step, ebb_job_kind job, unsigned attempt, char out[EBB_JOB_ID_HEX])
{
    crypto_generichash_state h;
    unsigned char d[16];
    char num[64];
    crypto_generichash_init(&h, NULL, 0, sizeof d);
    hash_field(&h, "ebb-job-v1", 10);
    hash_field(&h, run_id, strlen(run_id));
    hash_field(&h, host, strlen(host));
    hash_field(&h, db, strlen(db));
    hash_field(&h, purpose, strlen(purpose));
    int n = snprintf(num, sizeof num, "%zu/%s/%u", step, ebb_job_kind_name(job), attempt);
    hash_field(&h, num, (size_t)n);
    crypto_generichash_final(&h, d, sizeof d);
    sodium_bin2hex(out, EBB_JOB_ID_HEX, d, sizeof d);
}

/* ---- run lifetime ---- */

ebb_code ebb_run_init(const ebb_plan *plan, const char *run_id, const ebb_rollout_config *cfg,
                      ebb_run *out, ebb_error *err)
{
    if (plan == NULL || run_id == NULL || run_id[0] == '\0' || cfg == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "run: a plan, a run id and a config are needed");
    if (strlen(run_id) >= sizeof out->run_id)
        return ebb_error_set(err, EBB_E_INVALID, "run id %.16s... is longer than %zu characters",
                             run_id, sizeof out->run_id - 1);
    if (plan->dry_run)
        return ebb_error_set(err, EBB_E_REFUSED,
                             "run %s: the plan is a dry run (plan only); plan again without "
                             "--dry-run to run it",
                             run_id);
    ebb_run r;
    memset(&r, 0, sizeof r);
    r.hosts = calloc(plan->n_hosts ? plan->n_hosts : 1, sizeof *r.hosts);
    if (r.hosts == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory starting run %s", run_id);
    r.plan = plan;
    snprintf(r.run_id, sizeof r.run_id, "%s", run_id);
    r.cfg = *cfg;
    r.state = EBB_RUN_PLANNED;
    r.n_hosts = plan->n_hosts;
    *out = r;
    return EBB_OK;
}

void ebb_run_fini(ebb_run *run)
{
    if (run == NULL)
        return;
    free(run->hosts);
    memset(run, 0, sizeof *run);
}

ebb_code ebb_run_copy(const ebb_run *src, ebb_run *out, ebb_error *err)
{
    ebb_run r = *src;
    r.hosts = malloc((src->n_hosts ? src->n_hosts : 1) * sizeof *r.hosts);
    if (r.hosts == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory copying run %s", src->run_id);
    if (src->n_hosts)
        memcpy(r.hosts, src->hosts, src->n_hosts * sizeof *r.hosts);
    *out = r;
    return EBB_OK;
}

bool ebb_run_is_over(const ebb_run *run)
{
    return ebb_fsm_run_table()->terminal[run->state];
}

void ebb_rollout_output_fini(ebb_rollout_output *out)
{
    if (out == NULL)
        return;
    free(out->transitions);
    free(out->actions);
    memset(out, 0, sizeof *out);
}
