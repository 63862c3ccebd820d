/* The job executor: validation, journal, one job per database, dispatch, cancel and timeouts, crash
 * recovery. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/backup.h"
#include "agent/graph.h"
#include "agent/job_internal.h"
#include "agent/job_journal.h"
#include "common/failpoint.h"
#include "common/log.h"

/* How long a cancel job keeps trying to reach a statement of the job it cancels. */
#define CANCEL_WAIT_MS 30000
#define CANCEL_POLL_MS 100

/* Per configured database: the job running on it, and how to reach it. */
typedef struct db_slot {
    bool busy;
    char job_id[EBB_JOB_ID_MAX];
    char appname[JOB_APPNAME_MAX];
    int backend_pid;       /* of the job's own connection (0 when none) */
    bool cancel_requested; /* by a cancel job or the timeout */
    bool timed_out;
    bool ending; /* the action returned: nothing left to cancel */
} db_slot;

struct ebb_job_executor {
    const ebb_agent_config *cfg;
    ebb_job_journal *journal;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a job ended (cancel and timeout waiters) */
    db_slot *slots;         /* cfg->n_dbs */
    char **running;         /* ids of every running job, cancel jobs included */
    size_t n_running, cap_running;
    ebb_job_result *interrupted;
    size_t n_interrupted;
};

int64_t job_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool id_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) >= EBB_JOB_ID_MAX)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

static void appname_of(const char *job_id, char out[JOB_APPNAME_MAX])
{
    unsigned char h[8];
    crypto_generichash(h, sizeof h, (const unsigned char *)job_id, strlen(job_id), NULL, 0);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, JOB_APPNAME_MAX, "ebb-job-%s", hex);
}

void job_progress(job_ctx *jc, const char *step, uint32_t done, uint32_t total, uint64_t bytes,
                  const char *message)
{
    if (jc->progress == NULL)
        return;
    ebb_job_progress p = {.job_id = jc->cmd->job_id,
                          .action = jc->cmd->action,
                          .step = step,
                          .done = done,
                          .total = total,
                          .bytes = bytes,
                          .message = message,
                          .elapsed_ms = job_now_ms() - jc->started_ms};
    jc->progress(jc->progress_ctx, &p);
}

bool job_cancelled(job_ctx *jc)
{
    if (jc->db == NULL)
        return false;
    pthread_mutex_lock(&jc->ex->mu);
    bool c = jc->ex->slots[jc->slot].cancel_requested;
    pthread_mutex_unlock(&jc->ex->mu);
    return c;
}

ebb_code job_connect(job_ctx *jc, ebb_pg **out, ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = ebb_pg_connect(jc->db->conninfo, jc->appname, &pg, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "database %s", jc->db->name);
        return rc;
    }
    pthread_mutex_lock(&jc->ex->mu);
    jc->ex->slots[jc->slot].backend_pid = PQbackendPID(pg->conn);
    pthread_mutex_unlock(&jc->ex->mu);
    *out = pg;
    return EBB_OK;
}

void job_disconnect(job_ctx *jc, ebb_pg *pg)
{
    if (pg == NULL)
        return;
    pthread_mutex_lock(&jc->ex->mu);
    if (jc->ex->slots[jc->slot].backend_pid == PQbackendPID(pg->conn))
        jc->ex->slots[jc->slot].backend_pid = 0;
    pthread_mutex_unlock(&jc->ex->mu);
    ebb_pg_close(pg);
}

ebb_code job_conninfo(job_ctx *jc, char **out, ebb_error *err)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(jc->db->conninfo, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg);
        return ebb_error_set(err, EBB_E_INVALID, "database %s: unusable connection string",
                             jc->db->name);
    }
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    ebb_code rc = s != NULL ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (PQconninfoOption *o = opts; rc == EBB_OK; o++) {
        const char *kw = o->keyword, *val = o->val;
        if (kw == NULL) {
            kw = "application_name";
            val = jc->appname;
        } else if (val == NULL || strcmp(kw, "application_name") == 0 ||
                   strcmp(kw, "fallback_application_name") == 0) {
            continue;
        }
        size_t vlen = 2 * strlen(val) + 3, need = len + strlen(kw) + vlen + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *n = realloc(s, cap);
            if (n == NULL) {
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
                break;
            }
            s = n;
        }
        len += (size_t)snprintf(s + len, cap - len, "%s%s=", len > 0 ? " " : "", kw);
        if (!ebb_pg_conninfo_quote(val, s + len, cap - len)) {
            rc = ebb_error_set(err, EBB_E_INTERNAL, "connection option %s does not fit", kw);
            break;
        }
        len += strlen(s + len);
        if (o->keyword == NULL)
            break;
    }
    PQconninfoFree(opts);
    if (rc != EBB_OK) {
        if (s != NULL)
            sodium_memzero(s, cap);
        free(s);
        return rc;
    }
    *out = s;
    return EBB_OK;
}

/* ---- Open, recovery ---- */

/*
 * An interrupted backup job left its dump without a manifest: nothing lists
 * or restores it, so it is removed (the dumps made while the job ran, every
 * job being dead now); what was removed is added to msg (size n).
 */
static void remove_partial_backups(const ebb_agent_db *db, const ebb_job_unfinished *u, char *msg,
                                   size_t n)
{
    char **ids = NULL;
    size_t count = 0;
    ebb_error err;
    size_t l = strlen(msg);
    if (ebb_backup_remove_orphans(db->backup.dir, (time_t)(u->received_at_ms / 1000) - 1,
                                  time(NULL), &ids, &count, &err) != EBB_OK) {
        snprintf(msg + l, n - l, "; its partial backup could not be removed: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        ebb_log(EBB_LOG_WARN, "jobs", "job %s: removed the partial backup %s (no manifest) from %s",
                u->job_id, ids[i], db->backup.dir);
        l = strlen(msg);
        snprintf(msg + l, n - l, "%s%s", i == 0 ? "; removed its partial backup " : ", ", ids[i]);
        free(ids[i]);
    }
    free(ids);
}

static void interrupted_result(ebb_job_executor *ex, const ebb_job_unfinished *u, ebb_job_result *r)
{
    memset(r, 0, sizeof *r);
    bool ok = true;
    r->job_id = strdup(u->job_id);
    r->run_id = u->run_id != NULL ? strdup(u->run_id) : NULL;
    r->database = u->database != NULL ? strdup(u->database) : NULL;
    ok = r->job_id != NULL;
    r->outcome = EBB_JOB_INTERRUPTED;
    r->action = u->action;
    r->error_code = EBB_E_CONFLICT;
    r->started_at_ms = u->started_at_ms;
    r->finished_at_ms = job_now_ms();
    char msg[EBB_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg,
             "the agent stopped while job %s (%s) was %s; it is not run again without a new job",
             u->job_id, ebb_job_action_name(u->action),
             u->state == EBB_JOB_STATE_STARTED ? "running" : "waiting to start");
    const ebb_agent_db *db = ebb_agent_config_find_db(ex->cfg, u->database);
    if (db != NULL) {
        /* What the database holds now. */
        ebb_error err;
        ebb_error_clear(&err);
        ebb_pg *pg = NULL;
        json_t *report = NULL;
        ebb_job_db_info info = {0};
        if (ebb_pg_connect(db->conninfo, "ebb-agent-recovery", &pg, &err) == EBB_OK &&
            job_inspect_db(db, pg, &report, &info, &err) == EBB_OK) {
            r->revisions_after = info.current;
            r->n_after = info.n_current;
            info.current = NULL;
            info.n_current = 0;
            r->fingerprint = info.fingerprint;
            info.fingerprint = NULL;
            r->has_drift = true;
            r->drift = info.drift;
            r->report_json = json_dumps(report, JSON_COMPACT | JSON_SORT_KEYS);
        } else {
            size_t l = strlen(msg);
            snprintf(msg + l, sizeof msg - l, "; the database cannot be read now: %s", err.msg);
        }
        json_decref(report);
        ebb_job_db_info_fini(&info);
        ebb_pg_close(pg);
    }
    if (u->action == EBB_JOB_BACKUP && db != NULL && db->has_backup)
        remove_partial_backups(db, u, msg, sizeof msg);
    r->error_message = ebb_mask_secrets_dup(msg);
    if (!ok)
        ebb_job_result_fini(r);
}

static ebb_code recover(ebb_job_executor *ex, ebb_error *err)
{
    ebb_job_unfinished *items = NULL;
    size_t n = 0;
    ebb_code rc = ebb_job_journal_unfinished(ex->journal, &items, &n, err);
    if (rc != EBB_OK || n == 0)
        return rc;
    ex->interrupted = calloc(n, sizeof *ex->interrupted);
    if (ex->interrupted == NULL) {
        ebb_job_unfinished_free(items, n);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == EBB_OK; i++) {
        ebb_job_result *r = &ex->interrupted[ex->n_interrupted];
        interrupted_result(ex, &items[i], r);
        if (r->job_id == NULL) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
            break;
        }
        ex->n_interrupted++;
        rc = ebb_job_journal_finished(ex->journal, r, err);
        ebb_log(EBB_LOG_WARN, "jobs", "job %s (%s on %s) was interrupted by a restart", r->job_id,
                ebb_job_action_name(r->action), r->database ? r->database : "-");
    }
    ebb_job_unfinished_free(items, n);
    return rc;
}

ebb_code ebb_job_executor_open(const ebb_agent_config *cfg, ebb_job_executor **out, ebb_error *err)
{
    if (sodium_init() < 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "libsodium cannot be initialised");
    ebb_job_executor *ex = calloc(1, sizeof *ex);
    if (ex == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ex->cfg = cfg;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->changed, NULL);
    ex->slots = calloc(cfg->n_dbs > 0 ? cfg->n_dbs : 1, sizeof *ex->slots);
    ebb_code rc = ex->slots != NULL ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    if (rc == EBB_OK)
        rc = ebb_job_journal_open(cfg->job_journal, &ex->journal, err);
    if (rc == EBB_OK)
        rc = recover(ex, err);
    if (rc != EBB_OK) {
        ebb_job_executor_free(ex);
        return rc;
    }
    *out = ex;
    return EBB_OK;
}

void ebb_job_executor_free(ebb_job_executor *ex)
{
    if (ex == NULL)
        return;
    ebb_job_journal_close(ex->journal);
    for (size_t i = 0; i < ex->n_interrupted; i++)
        ebb_job_result_fini(&ex->interrupted[i]);
    free(ex->interrupted);
    for (size_t i = 0; i < ex->n_running; i++)
        free(ex->running[i]);
    free(ex->running);
    free(ex->slots);
    pthread_cond_destroy(&ex->changed);
    pthread_mutex_destroy(&ex->mu);
    free(ex);
}

const ebb_job_result *ebb_job_executor_interrupted(const ebb_job_executor *ex, size_t *count)
{
    *count = ex->n_interrupted;
    return ex->interrupted;
}

ebb_code ebb_job_executor_running(ebb_job_executor *ex, char ***out, size_t *count, ebb_error *err)
{
    pthread_mutex_lock(&ex->mu);
    size_t n = ex->n_running;
    char **ids = n > 0 ? calloc(n, sizeof *ids) : NULL;
    bool ok = n == 0 || ids != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (ids[i] = strdup(ex->running[i])) != NULL;
    pthread_mutex_unlock(&ex->mu);
    if (!ok) {
        for (size_t i = 0; ids != NULL && i < n; i++)
            free(ids[i]);
        free(ids);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    *out = ids;
    *count = n;
    return EBB_OK;
}

ebb_code ebb_job_executor_describe(ebb_job_executor *ex, ebb_job_db_info **out, size_t *count,
                                   ebb_error *err)
{
    size_t n = ex->cfg->n_dbs;
    ebb_job_db_info *infos = calloc(n > 0 ? n : 1, sizeof *infos);
    if (infos == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ebb_agent_db *db = &ex->cfg->dbs[i];
        ebb_error e;
        ebb_error_clear(&e);
        ebb_pg *pg = NULL;
        ebb_code rc = ebb_pg_connect(db->conninfo, "ebb-agent-describe", &pg, &e);
        if (rc == EBB_OK)
            rc = job_inspect_db(db, pg, NULL, &infos[i], &e);
        ebb_pg_close(pg);
        if (rc != EBB_OK) {
            ebb_job_db_info_fini(&infos[i]);
            infos[i].name = strdup(db->name);
            infos[i].kind = strdup(ebb_source_kind_name(db->source_kind));
            infos[i].environment = strdup(db->environment);
            infos[i].error = ebb_mask_secrets_dup(e.msg);
        }
    }
    *out = infos;
    *count = n;
    return EBB_OK;
}

/* ---- Validation ---- */

/* Why cmd may not run here (message into why), or EBB_OK. */
static ebb_code validate(const ebb_job_executor *ex, const ebb_job_cmd *cmd, size_t *slot,
                         ebb_error *err)
{
    if (!id_ok(cmd->run_id))
        return ebb_error_set(err, EBB_E_INVALID, "the run id is missing or not printable ASCII");
    if ((int)cmd->action <= EBB_JOB_NONE || cmd->action >= EBB_JOB__COUNT)
        return ebb_error_set(err, EBB_E_INVALID, "unknown action %d", (int)cmd->action);
    const char *act = ebb_job_action_name(cmd->action);
    if (cmd->action == EBB_JOB_CANCEL) {
        if (!id_ok(cmd->cancel_job_id))
            return ebb_error_set(err, EBB_E_INVALID, "cancel needs the id of the job to cancel");
        if (cmd->database == NULL || cmd->database[0] == '\0')
            return EBB_OK;
    } else if (cmd->database == NULL || cmd->database[0] == '\0') {
        return ebb_error_set(err, EBB_E_INVALID, "%s needs a database", act);
    }
    const ebb_agent_db *db = ebb_agent_config_find_db(ex->cfg, cmd->database);
    if (db == NULL)
        return ebb_error_set(err, EBB_E_REFUSED,
                             "database '%.64s' is not in this agent's configuration",
                             cmd->database);
    if (!db->allowed[cmd->action])
        return ebb_error_set(err, EBB_E_REFUSED,
                             "the configuration of database %s does not allow %s", db->name, act);
    *slot = (size_t)(db - ex->cfg->dbs);
    if (cmd->action == EBB_JOB_PRECHECK || cmd->action == EBB_JOB_MIGRATE) {
        ebb_target t;
        ebb_error terr;
        if (cmd->target == NULL || ebb_target_parse(cmd->target, &t, &terr) != EBB_OK)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "%s needs a target (head, base, -N, +N or "
                                 "a revision id)",
                                 act);
    }
    if (cmd->action == EBB_JOB_RESTORE &&
        (cmd->backup_id == NULL || !ebb_backup_id_valid(cmd->backup_id)))
        return ebb_error_set(err, EBB_E_INVALID, "restore needs a valid backup id");
    if (cmd->prepare && cmd->action != EBB_JOB_MIGRATE)
        return ebb_error_set(err, EBB_E_INVALID, "prepare only applies to migrate");
    return EBB_OK;
}

/* ---- Results ---- */

static void result_start(ebb_job_result *r, const ebb_job_cmd *cmd)
{
    memset(r, 0, sizeof *r);
    r->job_id = cmd->job_id != NULL ? strdup(cmd->job_id) : NULL;
    r->run_id = cmd->run_id != NULL ? strdup(cmd->run_id) : NULL;
    r->database = cmd->database != NULL ? strdup(cmd->database) : NULL;
    r->action = cmd->action;
}

static void result_fail(ebb_job_result *r, ebb_job_outcome outcome, const ebb_error *e)
{
    r->outcome = outcome;
    r->error_code = e->code != EBB_OK ? e->code : EBB_E_INTERNAL;
    free(r->error_message);
    r->error_message = ebb_mask_secrets_dup(e->msg);
    memcpy(r->sqlstate, e->sqlstate, sizeof r->sqlstate);
}

/* ---- Cancel and timeout ---- */

static ebb_code cancel_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)err;
    if (strcmp(PQgetvalue(res, row, 0), "t") == 0)
        *(bool *)ctx = true;
    return EBB_OK;
}

/*
 * Ask the job on slot i to stop: set its flag, then pg_cancel_backend its
 * active statements (its own connection by pid, and its client programs by
 * application_name) until one was cancelled or the job ended. A job between
 * two statements is caught at its next one.
 */
static ebb_code cancel_slot(ebb_job_executor *ex, size_t i, const char *job_id, bool timeout,
                            ebb_error *err)
{
    const ebb_agent_db *db = &ex->cfg->dbs[i];
    pthread_mutex_lock(&ex->mu);
    db_slot *s = &ex->slots[i];
    if (!s->busy || strcmp(s->job_id, job_id) != 0) {
        pthread_mutex_unlock(&ex->mu);
        return ebb_error_set(err, EBB_E_NOT_FOUND, "job %s is not running", job_id);
    }
    s->cancel_requested = true;
    if (timeout)
        s->timed_out = true;
    char appname[JOB_APPNAME_MAX];
    memcpy(appname, s->appname, sizeof appname);
    pthread_mutex_unlock(&ex->mu);

    ebb_pg *pg = NULL;
    ebb_code rc = ebb_pg_connect(db->conninfo, "ebb-agent-cancel", &pg, err);
    if (rc != EBB_OK)
        return rc;
    int64_t deadline = job_now_ms() + CANCEL_WAIT_MS;
    bool hit = false;
    while (rc == EBB_OK && !hit && job_now_ms() < deadline) {
        pthread_mutex_lock(&ex->mu);
        bool same = s->busy && !s->ending && strcmp(s->job_id, job_id) == 0;
        char pid[16];
        snprintf(pid, sizeof pid, "%d", s->backend_pid);
        pthread_mutex_unlock(&ex->mu);
        if (!same)
            break;
        const char *params[2] = {pid, appname};
        rc = ebb_pg_exec(pg,
                         "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                         "WHERE (pid = $1::int OR application_name = $2) AND state = 'active' "
                         "AND pid <> pg_backend_pid()",
                         2, params, cancel_row, &hit, NULL, err);
        if (rc == EBB_OK && !hit) {
            /* Wait for the next statement, or for the job to end. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += CANCEL_POLL_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_mutex_lock(&ex->mu);
            if (s->busy && !s->ending && strcmp(s->job_id, job_id) == 0)
                pthread_cond_timedwait(&ex->changed, &ex->mu, &ts);
            pthread_mutex_unlock(&ex->mu);
        }
    }
    ebb_pg_close(pg);
    return rc;
}

/* The timeout watchdog of one job. */
typedef struct watchdog {
    ebb_job_executor *ex;
    size_t slot;
    const char *job_id;
    int64_t deadline_ms;
    bool done; /* under ex->mu */
    pthread_t thread;
} watchdog;

static void *watchdog_main(void *arg)
{
    watchdog *w = arg;
    struct timespec ts = {(time_t)(w->deadline_ms / 1000),
                          (long)(w->deadline_ms % 1000) * 1000000L};
    pthread_mutex_lock(&w->ex->mu);
    int rv = 0;
    while (!w->done && rv != ETIMEDOUT)
        rv = pthread_cond_timedwait(&w->ex->changed, &w->ex->mu, &ts);
    bool fire = !w->done;
    pthread_mutex_unlock(&w->ex->mu);
    if (fire) {
        ebb_error err;
        if (cancel_slot(w->ex, w->slot, w->job_id, true, &err) != EBB_OK)
            ebb_log(EBB_LOG_WARN, "jobs", "timeout of job %s: %s", w->job_id, err.msg);
    }
    return NULL;
}

/* The cancel action: stop the named job and wait (bounded) until it ended. */
static ebb_code do_cancel(ebb_job_executor *ex, job_ctx *jc, ebb_error *err)
{
    const char *target = jc->cmd->cancel_job_id;
    size_t slot = SIZE_MAX;
    pthread_mutex_lock(&ex->mu);
    for (size_t i = 0; i < ex->cfg->n_dbs; i++)
        if (ex->slots[i].busy && strcmp(ex->slots[i].job_id, target) == 0)
            slot = i;
    pthread_mutex_unlock(&ex->mu);
    if (slot == SIZE_MAX) {
        ebb_job_state st;
        ebb_job_result r;
        memset(&r, 0, sizeof r);
        pthread_mutex_lock(&ex->mu);
        ebb_code rc = ebb_job_journal_lookup(ex->journal, target, &st, &r, NULL);
        pthread_mutex_unlock(&ex->mu);
        if (rc != EBB_OK)
            return ebb_error_set(err, EBB_E_NOT_FOUND, "job %s is unknown to this agent", target);
        ebb_code out = ebb_error_set(err, EBB_E_CONFLICT, "job %s is not running (%s)", target,
                                     st == EBB_JOB_STATE_FINISHED ? ebb_job_outcome_name(r.outcome)
                                                                  : "not started");
        ebb_job_result_fini(&r);
        return out;
    }
    if (jc->cmd->database != NULL && jc->cmd->database[0] != '\0' &&
        strcmp(jc->cmd->database, ex->cfg->dbs[slot].name) != 0)
        return ebb_error_set(err, EBB_E_CONFLICT, "job %s runs on database %s, not %s", target,
                             ex->cfg->dbs[slot].name, jc->cmd->database);
    job_progress(jc, "cancel", 0, 0, 0, target);
    ebb_code rc = cancel_slot(ex, slot, target, false, err);
    if (rc != EBB_OK && rc != EBB_E_NOT_FOUND)
        return rc;
    /* Wait until the cancelled job has ended (its result is then in the journal). */
    int64_t deadline = job_now_ms() + CANCEL_WAIT_MS;
    pthread_mutex_lock(&ex->mu);
    while (ex->slots[slot].busy && strcmp(ex->slots[slot].job_id, target) == 0 &&
           job_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&ex->changed, &ex->mu, &ts);
    }
    bool still = ex->slots[slot].busy && strcmp(ex->slots[slot].job_id, target) == 0;
    ebb_job_state st = EBB_JOB_STATE_UNKNOWN;
    ebb_job_result r;
    memset(&r, 0, sizeof r);
    if (!still && ebb_job_journal_lookup(ex->journal, target, &st, &r, NULL) != EBB_OK)
        r.outcome = EBB_JOB_OUTCOME_NONE;
    pthread_mutex_unlock(&ex->mu);
    jc->report = json_pack("{s:s, s:s}", "cancelled_job", target, "its_outcome",
                           still ? "running" : ebb_job_outcome_name(r.outcome));
    ebb_job_result_fini(&r);
    if (still)
        return ebb_error_set(err, EBB_E_TIMEOUT,
                             "job %s was asked to stop but still runs after %d s", target,
                             CANCEL_WAIT_MS / 1000);
    return EBB_OK;
}

/* ---- Execute ---- */

/* The failpoint at the start of an action (common/failpoint.h), or NULL. */
static const char *failpoint_of(ebb_job_action action)
{
    switch (action) {
    case EBB_JOB_PRECHECK:
        return "precheck";
    case EBB_JOB_STOP_SERVICES:
        return "stop_services";
    case EBB_JOB_BACKUP:
        return "backup";
    case EBB_JOB_MIGRATE:
        return "migrate";
    case EBB_JOB_VERIFY:
        return "verify";
    case EBB_JOB_START_SERVICES:
        return "start_services";
    case EBB_JOB_HEALTH:
        return "health";
    case EBB_JOB_RESTORE:
        return "restore";
    default:
        return NULL;
    }
}

static ebb_code dispatch(ebb_job_executor *ex, job_ctx *jc, ebb_error *err)
{
    const char *fp = failpoint_of(jc->cmd->action);
    if (fp != NULL)
        ebb_failpoint(fp); /* test-only; inert unless EBB_FAILPOINTS is set */
    switch (jc->cmd->action) {
    case EBB_JOB_INSPECT:
        return job_do_inspect(jc, err);
    case EBB_JOB_PRECHECK:
        return job_do_precheck(jc, err);
    case EBB_JOB_STOP_SERVICES:
        return job_do_stop_services(jc, err);
    case EBB_JOB_BACKUP:
        return job_do_backup(jc, err);
    case EBB_JOB_MIGRATE:
        return job_do_migrate(jc, err);
    case EBB_JOB_VERIFY:
        return job_do_verify(jc, err);
    case EBB_JOB_START_SERVICES:
        return job_do_start_services(jc, err);
    case EBB_JOB_HEALTH:
        return job_do_health(jc, err);
    case EBB_JOB_RESTORE:
        return job_do_restore(jc, err);
    case EBB_JOB_COMMIT_PREPARED:
        return job_do_prepared(jc, true, err);
    case EBB_JOB_ROLLBACK_PREPARED:
        return job_do_prepared(jc, false, err);
    case EBB_JOB_CANCEL:
        return do_cancel(ex, jc, err);
    default:
        return ebb_error_set(err, EBB_E_INVALID, "unknown action");
    }
}

static ebb_code add_running(ebb_job_executor *ex, const char *job_id, ebb_error *err)
{
    if (ex->n_running == ex->cap_running) {
        size_t cap = ex->cap_running ? ex->cap_running * 2 : 8;
        char **n = realloc(ex->running, cap * sizeof *n);
        if (n == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        ex->running = n;
        ex->cap_running = cap;
    }
    if ((ex->running[ex->n_running] = strdup(job_id)) == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ex->n_running++;
    return EBB_OK;
}

static void remove_running(ebb_job_executor *ex, const char *job_id)
{
    for (size_t i = 0; i < ex->n_running; i++)
        if (strcmp(ex->running[i], job_id) == 0) {
            free(ex->running[i]);
            ex->running[i] = ex->running[--ex->n_running];
            return;
        }
}

/* Under ex->mu: answer a job id the journal knows. */
static bool answer_known(ebb_job_executor *ex, const ebb_job_cmd *cmd, ebb_job_result *out)
{
    ebb_job_state st;
    ebb_job_result r;
    memset(&r, 0, sizeof r);
    if (ebb_job_journal_lookup(ex->journal, cmd->job_id, &st, &r, NULL) != EBB_OK)
        return false;
    if (st == EBB_JOB_STATE_FINISHED) {
        *out = r;
    } else {
        result_start(out, cmd);
        out->outcome = EBB_JOB_RUNNING;
    }
    out->from_journal = true;
    return true;
}

ebb_code ebb_job_execute(ebb_job_executor *ex, const ebb_job_cmd *cmd, ebb_job_progress_fn progress,
                         void *progress_ctx, ebb_job_result *out, ebb_error *err)
{
    ebb_error e;
    ebb_error_clear(&e);
    ebb_job_result r;
    if (!id_ok(cmd->job_id)) {
        /* Without a usable id there is nothing to record it under. */
        result_start(&r, cmd);
        ebb_error_set(&e, EBB_E_INVALID,
                      "the job id is missing or not 1 to %d printable ASCII "
                      "characters",
                      EBB_JOB_ID_MAX - 1);
        result_fail(&r, EBB_JOB_REJECTED, &e);
        *out = r;
        return EBB_OK;
    }
    size_t slot = SIZE_MAX;
    int64_t now = job_now_ms();
    pthread_mutex_lock(&ex->mu);
    if (answer_known(ex, cmd, out)) {
        pthread_mutex_unlock(&ex->mu);
        return EBB_OK;
    }
    result_start(&r, cmd);
    ebb_code rc = validate(ex, cmd, &slot, &e);
    if (rc != EBB_OK) {
        result_fail(&r, EBB_JOB_REJECTED, &e);
        r.finished_at_ms = now;
        rc = ebb_job_journal_received(ex->journal, cmd, now, err);
        if (rc == EBB_OK)
            rc = ebb_job_journal_finished(ex->journal, &r, err);
        pthread_mutex_unlock(&ex->mu);
        ebb_log(EBB_LOG_WARN, "jobs", "job %s rejected: %s", cmd->job_id, e.msg);
        if (rc != EBB_OK) {
            ebb_job_result_fini(&r);
            return rc;
        }
        *out = r;
        return EBB_OK;
    }
    bool uses_slot = cmd->action != EBB_JOB_CANCEL;
    if (uses_slot && ex->slots[slot].busy) {
        ebb_error_set(&e, EBB_E_LOCKED, "database %s is busy with job %s; try again later",
                      cmd->database, ex->slots[slot].job_id);
        pthread_mutex_unlock(&ex->mu);
        result_fail(&r, EBB_JOB_FAILED, &e);
        *out = r;
        return EBB_OK;
    }
    rc = ebb_job_journal_received(ex->journal, cmd, now, err);
    if (rc == EBB_OK)
        rc = add_running(ex, cmd->job_id, err);
    if (rc == EBB_OK)
        rc = ebb_job_journal_started(ex->journal, cmd->job_id, job_now_ms(), err);
    job_ctx jc = {.ex = ex,
                  .cmd = cmd,
                  .db = uses_slot ? &ex->cfg->dbs[slot] : NULL,
                  .slot = slot,
                  .progress = progress,
                  .progress_ctx = progress_ctx,
                  .res = &r};
    appname_of(cmd->job_id, jc.appname);
    if (rc == EBB_OK && uses_slot) {
        db_slot *s = &ex->slots[slot];
        memset(s, 0, sizeof *s);
        s->busy = true;
        snprintf(s->job_id, sizeof s->job_id, "%s", cmd->job_id);
        memcpy(s->appname, jc.appname, sizeof s->appname);
    }
    pthread_mutex_unlock(&ex->mu);
    if (rc != EBB_OK) {
        pthread_mutex_lock(&ex->mu);
        remove_running(ex, cmd->job_id);
        pthread_mutex_unlock(&ex->mu);
        ebb_job_result_fini(&r);
        return rc;
    }

    jc.started_ms = job_now_ms();
    r.started_at_ms = jc.started_ms;
    watchdog w = {.ex = ex, .slot = slot, .job_id = cmd->job_id};
    bool have_watchdog = false;
    if (cmd->timeout_ms > 0 && uses_slot) {
        w.deadline_ms = jc.started_ms + cmd->timeout_ms;
        have_watchdog = pthread_create(&w.thread, NULL, watchdog_main, &w) == 0;
    }
    ebb_log(EBB_LOG_INFO, "jobs", "job %s: %s on %s started", cmd->job_id,
            ebb_job_action_name(cmd->action), cmd->database ? cmd->database : "-");

    ebb_code arc = dispatch(ex, &jc, &e);

    pthread_mutex_lock(&ex->mu);
    bool cancelled = uses_slot && ex->slots[slot].cancel_requested;
    bool timed_out = uses_slot && ex->slots[slot].timed_out;
    w.done = true;
    if (uses_slot)
        ex->slots[slot].ending = true;
    pthread_cond_broadcast(&ex->changed);
    pthread_mutex_unlock(&ex->mu);
    if (have_watchdog)
        pthread_join(w.thread, NULL);

    if (arc == EBB_OK) {
        r.outcome = EBB_JOB_SUCCEEDED;
    } else if (timed_out) {
        ebb_error_prefix(&e, "job timed out after %u ms", cmd->timeout_ms);
        e.code = EBB_E_TIMEOUT;
        result_fail(&r, EBB_JOB_FAILED, &e);
    } else {
        if (cancelled)
            ebb_error_prefix(&e, "cancelled");
        result_fail(&r, cancelled ? EBB_JOB_CANCELLED : EBB_JOB_FAILED, &e);
    }
    if (jc.report != NULL) {
        r.report_json = json_dumps(jc.report, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(jc.report);
    }
    r.finished_at_ms = job_now_ms();

    pthread_mutex_lock(&ex->mu);
    rc = ebb_job_journal_finished(ex->journal, &r, err);
    if (uses_slot)
        memset(&ex->slots[slot], 0, sizeof ex->slots[slot]);
    remove_running(ex, cmd->job_id);
    pthread_cond_broadcast(&ex->changed);
    pthread_mutex_unlock(&ex->mu);
    ebb_log(r.outcome == EBB_JOB_SUCCEEDED ? EBB_LOG_INFO : EBB_LOG_WARN, "jobs",
            "job %s: %s on %s %s%s%s", cmd->job_id, ebb_job_action_name(cmd->action),
            cmd->database ? cmd->database : "-", ebb_job_outcome_name(r.outcome),
            r.error_message ? ": " : "", r.error_message ? r.error_message : "");
    if (rc != EBB_OK) {
        ebb_job_result_fini(&r);
        return rc;
    }
    *out = r;
    return EBB_OK;
}
