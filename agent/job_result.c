/* Job results and database descriptions: names, copy, free. */
#include <stdlib.h>
#include <string.h>

#include "agent/job.h"

static const char *const outcome_names[] = {
    [EBB_JOB_OUTCOME_NONE] = "none", [EBB_JOB_SUCCEEDED] = "succeeded",
    [EBB_JOB_FAILED] = "failed",     [EBB_JOB_INTERRUPTED] = "interrupted",
    [EBB_JOB_REJECTED] = "rejected", [EBB_JOB_CANCELLED] = "cancelled",
    [EBB_JOB_RUNNING] = "running",
};

const char *ebb_job_outcome_name(ebb_job_outcome outcome)
{
    if ((int)outcome < 0 || (size_t)outcome >= sizeof outcome_names / sizeof outcome_names[0])
        return "none";
    return outcome_names[outcome];
}

ebb_job_outcome ebb_job_outcome_parse(const char *name)
{
    if (name == NULL)
        return EBB_JOB_OUTCOME_NONE;
    for (size_t i = 1; i < sizeof outcome_names / sizeof outcome_names[0]; i++)
        if (strcmp(name, outcome_names[i]) == 0)
            return (ebb_job_outcome)i;
    return EBB_JOB_OUTCOME_NONE;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void ebb_job_result_fini(ebb_job_result *res)
{
    if (res == NULL)
        return;
    free(res->job_id);
    free(res->run_id);
    free(res->database);
    free_strv(res->revisions_before, res->n_before);
    free_strv(res->revisions_after, res->n_after);
    free(res->fingerprint);
    free(res->backup_id);
    free(res->backup_checksum);
    free(res->error_message);
    free(res->report_json);
    memset(res, 0, sizeof *res);
}

/* strdup that keeps NULL; *ok turns false when out of memory. */
static char *dup_or_null(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

static char **dup_strv(char *const *v, size_t n, bool *ok)
{
    if (n == 0)
        return NULL;
    char **d = calloc(n, sizeof *d);
    if (d == NULL) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = dup_or_null(v[i], ok);
    return d;
}

ebb_code ebb_job_result_copy(const ebb_job_result *src, ebb_job_result *out, ebb_error *err)
{
    bool ok = true;
    ebb_job_result r = *src;
    r.job_id = dup_or_null(src->job_id, &ok);
    r.run_id = dup_or_null(src->run_id, &ok);
    r.database = dup_or_null(src->database, &ok);
    r.revisions_before = dup_strv(src->revisions_before, src->n_before, &ok);
    r.n_before = r.revisions_before != NULL ? src->n_before : 0;
    r.revisions_after = dup_strv(src->revisions_after, src->n_after, &ok);
    r.n_after = r.revisions_after != NULL ? src->n_after : 0;
    r.fingerprint = dup_or_null(src->fingerprint, &ok);
    r.backup_id = dup_or_null(src->backup_id, &ok);
    r.backup_checksum = dup_or_null(src->backup_checksum, &ok);
    r.error_message = dup_or_null(src->error_message, &ok);
    r.report_json = dup_or_null(src->report_json, &ok);
    if (!ok) {
        ebb_job_result_fini(&r);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    *out = r;
    return EBB_OK;
}

void ebb_job_db_info_fini(ebb_job_db_info *info)
{
    if (info == NULL)
        return;
    free(info->name);
    free(info->kind);
    free_strv(info->current, info->n_current);
    free(info->graph_hash);
    free(info->fingerprint);
    free(info->environment);
    free(info->error);
    memset(info, 0, sizeof *info);
}
