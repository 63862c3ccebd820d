/* Shared by the job executor's files (job_exec.c, job_actions_*.c): the context one running job
 * sees. */
#ifndef EBB_AGENT_JOB_INTERNAL_H
#define EBB_AGENT_JOB_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/job.h"
#include "agent/migration.h"
#include "common/pgsql.h"

/* application_name of every session and client program of one job: "ebb-job-<16 hex>". */
#define JOB_APPNAME_MAX 32

/* One running job. Owned by job_exec.c; the actions fill res and report. */
typedef struct job_ctx {
    ebb_job_executor *ex;
    const ebb_job_cmd *cmd;
    const ebb_agent_db *db; /* NULL for cancel */
    size_t slot;            /* index of db in the configuration */
    ebb_job_progress_fn progress;
    void *progress_ctx;
    int64_t started_ms;
    char appname[JOB_APPNAME_MAX];
    ebb_job_result *res; /* outcome / error set by job_exec.c; the rest by the action */
    json_t *report;      /* action detail, becomes res->report_json (a JSON object) */
} job_ctx;

/* Wall clock in Unix milliseconds. */
int64_t job_now_ms(void);

/* Report progress (elapsed time filled in). */
void job_progress(job_ctx *jc, const char *step, uint32_t done, uint32_t total, uint64_t bytes,
                  const char *message);

/* True once the job was asked to stop (cancel job or its own timeout). */
bool job_cancelled(job_ctx *jc);

/*
 * Connect to the job's database with application_name = jc->appname and
 * register the backend pid so a cancel can reach its statements.
 * *out set only on success; close with job_disconnect.
 */
EBB_MUSTCHECK ebb_code job_connect(job_ctx *jc, ebb_pg **out, ebb_error *err);
void job_disconnect(job_ctx *jc, ebb_pg *pg);

/* The database's connection string with application_name = jc->appname (for pg_dump); malloc'd. */
EBB_MUSTCHECK ebb_code job_conninfo(job_ctx *jc, char **out, ebb_error *err);

/* Load the database's migration source. *out set only on success (ebb_graph_fini). */
EBB_MUSTCHECK ebb_code job_load_graph(const ebb_agent_db *db, ebb_graph *out, ebb_error *err);

/*
 * What the database holds now: its current revision(s) (applied revisions
 * no applied revision descends from; in apply order) and the live
 * fingerprint (fingerprint may be NULL: not read; the read waits at most
 * 5 s for locks). graph may be NULL (then the newest applied revision is
 * current). Out-parameters set only on success; caller frees.
 */
EBB_MUSTCHECK ebb_code job_db_state(ebb_pg *pg, const ebb_graph *graph, char ***current,
                                    size_t *n_current, char **fingerprint, ebb_error *err);

/* Fill jc->res->revisions_before (when before) or revisions_after + fingerprint. Best effort. */
void job_record_state(job_ctx *jc, ebb_pg *pg, const ebb_graph *graph, bool before);

/* ---- Actions: each returns EBB_OK when the action succeeded ---- */
EBB_MUSTCHECK ebb_code job_do_inspect(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_precheck(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_verify(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_migrate(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_prepared(job_ctx *jc, bool commit, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_stop_services(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_start_services(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_health(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_backup(job_ctx *jc, ebb_error *err);
EBB_MUSTCHECK ebb_code job_do_restore(job_ctx *jc, ebb_error *err);

/*
 * The inspect report of one database as JSON (kind, graph hash, current,
 * applied, fingerprint, drift, revisions with parents, pending, unknown,
 * prepared transactions). *info (may be NULL) gets the hello summary.
 * Used by inspect, recovery and describe.
 */
EBB_MUSTCHECK ebb_code job_inspect_db(const ebb_agent_db *db, ebb_pg *pg, json_t **report,
                                      ebb_job_db_info *info, ebb_error *err);

#endif
