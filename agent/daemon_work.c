/* The daemon's workers (one per database) and its outbox of results waiting for an Ack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/daemon_internal.h"
#include "agent/job_journal.h"
#include "common/fsutil.h"
#include "common/log.h"

#define UNDELIVERED_MAX (1024 * 1024)

static size_t lane_of(const ebb_daemon *d, const ebb_job_cmd *cmd)
{
    if (cmd->action == EBB_JOB_CANCEL || cmd->database == NULL)
        return 0;
    for (size_t i = 0; i < d->cfg->n_dbs; i++)
        if (strcmp(d->cfg->dbs[i].name, cmd->database) == 0)
            return 1 + i;
    return 0; /* unknown database: the executor rejects it at once */
}

/* Progress from the executor (worker thread): keep the latest per job; the session sends it. */
static void on_progress(void *ctx, const ebb_job_progress *p)
{
    daemon_lane *lane = ctx;
    ebb_daemon *d = lane->d;
    if (p->elapsed_ms < 1000)
        return; /* short jobs report their result only */
    pthread_mutex_lock(&d->mutex);
    daemon_progress *pr = d->progress;
    while (pr != NULL && strcmp(pr->job_id, p->job_id) != 0)
        pr = pr->next;
    if (pr == NULL && (pr = calloc(1, sizeof *pr)) != NULL) {
        pr->job_id = strdup(p->job_id);
        pr->run_id = strdup(lane->running_run != NULL ? lane->running_run : "");
        pr->next = d->progress;
        d->progress = pr;
    }
    if (pr != NULL) {
        free(pr->step);
        free(pr->message);
        pr->step = p->step != NULL ? strdup(p->step) : NULL;
        pr->message = p->message != NULL ? strdup(p->message) : NULL;
        pr->done = p->done;
        pr->total = p->total;
        pr->bytes = p->bytes;
        pr->at_ms = ebb_proto_now_ms();
        pr->dirty = true;
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->mutex);
}

static void progress_drop(ebb_daemon *d, const char *job_id)
{
    for (daemon_progress **pp = &d->progress; *pp != NULL; pp = &(*pp)->next) {
        daemon_progress *pr = *pp;
        if (strcmp(pr->job_id, job_id) == 0) {
            *pp = pr->next;
            free(pr->job_id);
            free(pr->run_id);
            free(pr->step);
            free(pr->message);
            free(pr);
            return;
        }
    }
}

/* A result for a job the executor could not even record (journal failure). */
static void failed_result(const ebb_job_cmd *cmd, const ebb_error *e, ebb_job_result *out)
{
    memset(out, 0, sizeof *out);
    out->job_id = strdup(cmd->job_id);
    out->run_id = strdup(cmd->run_id);
    out->outcome = EBB_JOB_FAILED;
    out->action = cmd->action;
    out->database = cmd->database != NULL ? strdup(cmd->database) : NULL;
    out->error_code = e->code;
    out->error_message = strdup(e->msg);
    out->finished_at_ms = ebb_proto_now_ms();
}

static void run_one(daemon_lane *lane, ebb_job_cmd *cmd)
{
    ebb_daemon *d = lane->d;
    ebb_job_result res;
    ebb_error e;
    ebb_log_kv(EBB_LOG_INFO, "agent",
               (const char *const[]){"job", cmd->job_id, "run", cmd->run_id, "action",
                                     ebb_job_action_name(cmd->action), "database", cmd->database,
                                     NULL},
               "job handed to the executor");
    ebb_code rc = ebb_job_execute(d->ex, cmd, on_progress, lane, &res, &e);
    if (rc != EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "agent", "job %s could not be run or recorded: %s", cmd->job_id,
                e.msg);
        failed_result(cmd, &e, &res);
    }
    pthread_mutex_lock(&d->mutex);
    progress_drop(d, cmd->job_id);
    if (res.outcome == EBB_JOB_RUNNING) {
        /* A duplicate of a job another worker runs: its own result will follow. */
        d->n.jobs_duplicate++;
    } else {
        if (res.from_journal) {
            d->n.jobs_resent_from_journal++;
            d->n.jobs_duplicate++;
        }
        ebb_log_kv(
            res.outcome == EBB_JOB_SUCCEEDED ? EBB_LOG_INFO : EBB_LOG_WARN, "agent",
            (const char *const[]){"job", cmd->job_id, "outcome", ebb_job_outcome_name(res.outcome),
                                  "error", res.error_message, NULL},
            res.from_journal ? "job seen before: recorded result sent again" : "job finished");
        daemon_outbox_add(d, &res);
    }
    free(lane->running_job);
    free(lane->running_run);
    lane->running_job = lane->running_run = NULL;
    d->changes++;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->mutex);
    ebb_job_result_fini(&res);
}

static void *lane_main(void *arg)
{
    daemon_lane *lane = arg;
    ebb_daemon *d = lane->d;
    pthread_mutex_lock(&d->mutex);
    for (;;) {
        while (lane->head == NULL && !d->workers_stop)
            pthread_cond_wait(&d->cond, &d->mutex);
        if (d->workers_stop)
            break;
        daemon_job *j = lane->head;
        lane->head = j->next;
        if (lane->head == NULL)
            lane->tail = NULL;
        lane->queued--;
        lane->running_job = strdup(j->cmd->job_id);
        lane->running_run = strdup(j->cmd->run_id);
        d->changes++;
        pthread_mutex_unlock(&d->mutex);
        run_one(lane, j->cmd);
        ebb_daemon_cmd_free(j->cmd);
        free(j);
        pthread_mutex_lock(&d->mutex);
    }
    pthread_mutex_unlock(&d->mutex);
    return NULL;
}

ebb_code daemon_workers_start(ebb_daemon *d, ebb_error *err)
{
    d->n_lanes = 1 + d->cfg->n_dbs;
    d->lanes = calloc(d->n_lanes, sizeof *d->lanes);
    if (d->lanes == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "agent workers: out of memory");
    for (size_t i = 0; i < d->n_lanes; i++) {
        d->lanes[i].d = d;
        int rv = pthread_create(&d->lanes[i].thread, NULL, lane_main, &d->lanes[i]);
        if (rv != 0) {
            daemon_workers_join(d);
            return ebb_error_errno(err, EBB_E_IO, rv, "agent workers: start thread %zu", i);
        }
        d->lanes[i].started = true;
    }
    return EBB_OK;
}

void daemon_workers_join(ebb_daemon *d)
{
    pthread_mutex_lock(&d->mutex);
    d->workers_stop = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->mutex);
    for (size_t i = 0; i < d->n_lanes; i++) {
        daemon_lane *lane = &d->lanes[i];
        if (lane->started)
            pthread_join(lane->thread, NULL);
        while (lane->head != NULL) {
            daemon_job *j = lane->head;
            lane->head = j->next;
            ebb_log(EBB_LOG_WARN, "agent",
                    "job %s dropped at shutdown before it started (not recorded; the "
                    "coordinator sends it again)",
                    j->cmd->job_id);
            ebb_daemon_cmd_free(j->cmd);
            free(j);
        }
    }
    free(d->lanes);
    d->lanes = NULL;
    d->n_lanes = 0;
    while (d->progress != NULL)
        progress_drop(d, d->progress->job_id);
}

ebb_code daemon_dispatch(ebb_daemon *d, ebb_job_cmd *cmd, ebb_error *err)
{
    daemon_lane *lane = &d->lanes[lane_of(d, cmd)];
    if (lane->queued >= DAEMON_MAX_QUEUE)
        return ebb_error_set(err, EBB_E_CONFLICT, "job %s: %zu jobs already queued for %s",
                             cmd->job_id, lane->queued,
                             cmd->database != NULL ? cmd->database : "cancel");
    daemon_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "job %s: out of memory", cmd->job_id);
    j->cmd = cmd;
    if (lane->tail != NULL)
        lane->tail->next = j;
    else
        lane->head = j;
    lane->tail = j;
    lane->queued++;
    d->changes++;
    pthread_cond_broadcast(&d->cond);
    return EBB_OK;
}

bool daemon_job_known(const ebb_daemon *d, const char *job_id)
{
    for (size_t i = 0; i < d->n_lanes; i++) {
        const daemon_lane *lane = &d->lanes[i];
        if (lane->running_job != NULL && strcmp(lane->running_job, job_id) == 0)
            return true;
        for (const daemon_job *j = lane->head; j != NULL; j = j->next)
            if (strcmp(j->cmd->job_id, job_id) == 0)
                return true;
    }
    for (const daemon_outbox_item *it = d->outbox; it != NULL; it = it->next)
        if (strcmp(it->res.job_id, job_id) == 0)
            return true;
    return false;
}

size_t daemon_running_count(const ebb_daemon *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_lanes; i++)
        n += d->lanes[i].running_job != NULL;
    return n;
}

size_t daemon_queued_count(const ebb_daemon *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_lanes; i++)
        n += d->lanes[i].queued;
    return n;
}

/* ---- outbox ---- */

void daemon_outbox_persist(ebb_daemon *d)
{
    size_t cap = 1, len = 0;
    for (const daemon_outbox_item *it = d->outbox; it != NULL; it = it->next)
        cap += strlen(it->res.job_id) + 1;
    char *buf = malloc(cap);
    if (buf == NULL) {
        ebb_log(EBB_LOG_ERROR, "agent", "%s: out of memory", d->undelivered_path);
        return;
    }
    for (const daemon_outbox_item *it = d->outbox; it != NULL; it = it->next)
        len += (size_t)snprintf(buf + len, cap - len, "%s\n", it->res.job_id);
    ebb_error e;
    if (ebb_file_write_atomic(d->undelivered_path, buf, len, 0600, &e) != EBB_OK)
        ebb_log(EBB_LOG_ERROR, "agent",
                "cannot record undelivered results (they stay in memory and in the job "
                "journal): %s",
                e.msg);
    free(buf);
}

void daemon_outbox_add(ebb_daemon *d, const ebb_job_result *res)
{
    for (daemon_outbox_item *it = d->outbox; it != NULL; it = it->next)
        if (strcmp(it->res.job_id, res->job_id) == 0)
            return; /* already waiting for delivery */
    daemon_outbox_item *item = calloc(1, sizeof *item);
    ebb_error e;
    if (item == NULL || ebb_job_result_copy(res, &item->res, &e) != EBB_OK) {
        free(item);
        ebb_log(EBB_LOG_ERROR, "agent",
                "result of job %s not queued (out of memory); it stays in the job journal",
                res->job_id);
        return;
    }
    /* Append: results go out in the order jobs finished. */
    daemon_outbox_item **pp = &d->outbox;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = item;
    d->n_outbox++;
    d->changes++;
    daemon_outbox_persist(d);
}

void daemon_outbox_remove(ebb_daemon *d, const char *job_id)
{
    for (daemon_outbox_item **pp = &d->outbox; *pp != NULL; pp = &(*pp)->next) {
        daemon_outbox_item *it = *pp;
        if (strcmp(it->res.job_id, job_id) == 0) {
            *pp = it->next;
            ebb_job_result_fini(&it->res);
            free(it);
            d->n_outbox--;
            d->changes++;
            daemon_outbox_persist(d);
            return;
        }
    }
}

ebb_code daemon_outbox_recover(ebb_daemon *d, ebb_error *err)
{
    if (!ebb_file_exists(d->undelivered_path))
        return EBB_OK;
    uint8_t *data = NULL;
    size_t len = 0;
    ebb_code rc = ebb_file_read_all(d->undelivered_path, UNDELIVERED_MAX, &data, &len, err);
    if (rc != EBB_OK)
        return rc;
    ebb_job_journal *j = NULL;
    rc = ebb_job_journal_open(d->cfg->job_journal, &j, err);
    if (rc != EBB_OK) {
        free(data);
        return rc;
    }
    char *save = NULL;
    for (char *id = strtok_r((char *)data, "\n", &save); id != NULL;
         id = strtok_r(NULL, "\n", &save)) {
        ebb_job_state st = EBB_JOB_STATE_UNKNOWN;
        ebb_job_result res;
        ebb_error e;
        ebb_code lrc = ebb_job_journal_lookup(j, id, &st, &res, &e);
        if (lrc != EBB_OK) {
            ebb_log(EBB_LOG_WARN, "agent", "undelivered job %s: %s", id, e.msg);
            continue;
        }
        if (st != EBB_JOB_STATE_FINISHED)
            continue; /* not finished: the executor reports it interrupted when it opens */
        daemon_outbox_add(d, &res);
        ebb_job_result_fini(&res);
    }
    ebb_job_journal_close(j);
    free(data);
    if (d->n_outbox > 0)
        ebb_log(EBB_LOG_INFO, "agent", "%zu results from before the restart wait for delivery",
                d->n_outbox);
    return EBB_OK;
}

void daemon_outbox_free(ebb_daemon *d)
{
    while (d->outbox != NULL) {
        daemon_outbox_item *it = d->outbox;
        d->outbox = it->next;
        ebb_job_result_fini(&it->res);
        free(it);
    }
    d->n_outbox = 0;
}
