/* Jobs on their way to agents (see job_queue.h). */
#include "coordinator/job_queue.h"

#include <stdlib.h>
#include <string.h>

void ebb_job_queue_init(ebb_job_queue *q)
{
    memset(q, 0, sizeof *q);
}

static void job_fini(ebb_coord_job *j)
{
    free(j->job_id);
    free(j->run_id);
    free(j->agent_id);
    free(j->database);
    free(j->target);
    free(j->backup_id);
    free(j->operator_key_id);
    free(j->reason);
    memset(j, 0, sizeof *j);
}

void ebb_job_queue_fini(ebb_job_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        job_fini(&q->jobs[i]);
    free(q->jobs);
    memset(q, 0, sizeof *q);
}

ebb_coord_job *ebb_job_queue_find(ebb_job_queue *q, const char *job_id)
{
    for (size_t i = 0; job_id != NULL && i < q->n; i++)
        if (strcmp(q->jobs[i].job_id, job_id) == 0)
            return &q->jobs[i];
    return NULL;
}

static bool dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    return src == NULL || (*dst = strdup(src)) != NULL;
}

ebb_code ebb_job_queue_add(ebb_job_queue *q, const ebb_coord_job *job, bool *added, ebb_error *err)
{
    if (job->job_id == NULL || job->run_id == NULL || job->agent_id == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "a job needs a job id, a run id and an agent");
    if (ebb_job_queue_find(q, job->job_id) != NULL) {
        if (added != NULL)
            *added = false;
        return EBB_OK;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        ebb_coord_job *j = realloc(q->jobs, cap * sizeof *j);
        if (j == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        q->jobs = j;
        q->cap = cap;
    }
    ebb_coord_job j = *job;
    bool ok = dup_opt(&j.job_id, job->job_id);
    ok = dup_opt(&j.run_id, job->run_id) && ok;
    ok = dup_opt(&j.agent_id, job->agent_id) && ok;
    ok = dup_opt(&j.database, job->database) && ok;
    ok = dup_opt(&j.target, job->target) && ok;
    ok = dup_opt(&j.backup_id, job->backup_id) && ok;
    ok = dup_opt(&j.operator_key_id, job->operator_key_id) && ok;
    ok = dup_opt(&j.reason, job->reason) && ok;
    if (!ok) {
        job_fini(&j);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    j.delivery = EBB_JOB_QUEUED;
    j.handed_out_ms = 0;
    j.deliveries = 0;
    j.busy_retries = 0;
    q->jobs[q->n++] = j;
    if (added != NULL)
        *added = true;
    return EBB_OK;
}

bool ebb_job_queue_has_work(const ebb_job_queue *q, const char *agent_id)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->jobs[i].delivery == EBB_JOB_QUEUED && strcmp(q->jobs[i].agent_id, agent_id) == 0)
            return true;
    return false;
}

ebb_code ebb_job_queue_take(ebb_job_queue *q, const char *agent_id, int64_t now_ms,
                            Ebb__JobCommand ***out, size_t *count, ebb_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        if (q->jobs[i].delivery == EBB_JOB_QUEUED && strcmp(q->jobs[i].agent_id, agent_id) == 0)
            n++;
    if (n == 0) {
        *out = NULL;
        *count = 0;
        return EBB_OK;
    }
    Ebb__JobCommand **cmds = calloc(n, sizeof *cmds);
    if (cmds == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < q->n && k < n; i++) {
        ebb_coord_job *j = &q->jobs[i];
        if (j->delivery != EBB_JOB_QUEUED || strcmp(j->agent_id, agent_id) != 0)
            continue;
        Ebb__JobCommand *c = malloc(sizeof *c);
        if (c == NULL) {
            ebb_job_queue_commands_free(cmds, k);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
        ebb__job_command__init(c);
        c->job_id = j->job_id;
        c->run_id = j->run_id;
        c->action = j->action;
        c->database = j->database;
        c->target = j->target;
        c->backup_id = j->backup_id;
        c->operator_key_id = j->operator_key_id;
        c->reason = j->reason;
        c->has_prepare = j->prepare;
        c->prepare = j->prepare;
        c->has_accept_data_loss = j->accept_data_loss;
        c->accept_data_loss = j->accept_data_loss;
        c->has_timeout_ms = j->timeout_ms > 0;
        c->timeout_ms = j->timeout_ms;
        cmds[k++] = c;
    }
    for (size_t i = 0; i < q->n; i++) {
        ebb_coord_job *j = &q->jobs[i];
        if (j->delivery == EBB_JOB_QUEUED && strcmp(j->agent_id, agent_id) == 0) {
            j->delivery = EBB_JOB_HANDED_OUT;
            j->handed_out_ms = now_ms;
            j->deliveries++;
        }
    }
    *out = cmds;
    *count = k;
    return EBB_OK;
}

void ebb_job_queue_commands_free(Ebb__JobCommand **cmds, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(cmds[i]);
    free(cmds);
}

size_t ebb_job_queue_poll(ebb_job_queue *q, const char *agent_id, const char *const *held,
                          size_t n_held, unsigned undelivered, int64_t now_ms, int64_t grace_ms)
{
    if (undelivered > 0)
        return 0; /* a result may be on its way: wait for it */
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++) {
        ebb_coord_job *j = &q->jobs[i];
        if (j->delivery != EBB_JOB_HANDED_OUT || strcmp(j->agent_id, agent_id) != 0 ||
            now_ms - j->handed_out_ms < grace_ms)
            continue;
        bool holds = false;
        for (size_t h = 0; h < n_held && !holds; h++)
            holds = held[h] != NULL && strcmp(held[h], j->job_id) == 0;
        if (!holds) {
            j->delivery = EBB_JOB_QUEUED;
            n++;
        }
    }
    return n;
}

ebb_code ebb_job_queue_requeue(ebb_job_queue *q, const char *job_id, ebb_error *err)
{
    ebb_coord_job *j = ebb_job_queue_find(q, job_id);
    if (j == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no job %s is queued", job_id);
    j->delivery = EBB_JOB_QUEUED;
    return EBB_OK;
}

static void remove_at(ebb_job_queue *q, size_t i)
{
    job_fini(&q->jobs[i]);
    memmove(&q->jobs[i], &q->jobs[i + 1], (q->n - i - 1) * sizeof *q->jobs);
    q->n--;
}

bool ebb_job_queue_remove(ebb_job_queue *q, const char *job_id)
{
    for (size_t i = 0; job_id != NULL && i < q->n; i++)
        if (strcmp(q->jobs[i].job_id, job_id) == 0) {
            remove_at(q, i);
            return true;
        }
    return false;
}

size_t ebb_job_queue_drop_queued(ebb_job_queue *q, const char *run_id)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n;) {
        if (q->jobs[i].delivery == EBB_JOB_QUEUED && strcmp(q->jobs[i].run_id, run_id) == 0) {
            remove_at(q, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}
