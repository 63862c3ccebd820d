/* Job actions on backups: backup (pg_dump, verified, retention) and restore (checked against the
 * manifest). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/backup.h"
#include "agent/fingerprint.h"
#include "agent/job_internal.h"
#include "agent/lock.h"
#include "agent/registry.h"
#include "common/log.h"

static void on_backup_progress(void *ctx, const char *phase, uint64_t bytes, const char *line)
{
    job_progress(ctx, phase, 0, 0, bytes, line);
}

static void backup_opts(job_ctx *jc, const char *conninfo, ebb_backup_opts *bo)
{
    memset(bo, 0, sizeof *bo);
    bo->conninfo = conninfo;
    bo->backup_dir = jc->db->backup.dir;
    bo->format = jc->db->backup.format;
    bo->compression = jc->db->backup.compression;
    bo->jobs = jc->db->backup.jobs;
    bo->timeout_ms = jc->db->backup.timeout_ms;
    bo->progress = on_backup_progress;
    bo->progress_ctx = jc;
}

static void free_conninfo(char *s)
{
    if (s != NULL)
        sodium_memzero(s, strlen(s));
    free(s);
}

static json_t *manifest_json(const ebb_backup_manifest *m)
{
    char *text = NULL;
    if (ebb_backup_manifest_to_json(m, &text, NULL) != EBB_OK)
        return json_null();
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    return o != NULL ? o : json_null();
}

ebb_code job_do_backup(job_ctx *jc, ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = job_connect(jc, &pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_graph graph = {0};
    bool have_graph = job_load_graph(jc->db, &graph, NULL) == EBB_OK;
    job_record_state(jc, pg, have_graph ? &graph : NULL, true);

    /* The manifest records what the database holds now. */
    ebb_applied_list applied;
    ebb_fingerprint fp = {0};
    const char **ids = NULL;
    char *conninfo = NULL;
    bool have_applied = false, have_fp = false;
    if ((rc = ebb_registry_load(pg, &applied, err)) == EBB_OK)
        have_applied = true;
    if (rc == EBB_OK && (rc = ebb_fingerprint_read(pg, &fp, err)) == EBB_OK)
        have_fp = true;
    if (rc == EBB_OK)
        rc = ebb_applied_list_ids(&applied, &ids, err);
    if (rc == EBB_OK)
        rc = job_conninfo(jc, &conninfo, err);
    ebb_backup_manifest m;
    if (rc == EBB_OK) {
        ebb_backup_info info = {.revisions = ids,
                                .n_revisions = applied.count,
                                .fingerprint = fp.hex,
                                .run_id = jc->cmd->run_id,
                                .operator_name = jc->cmd->operator_name,
                                .reason = jc->cmd->reason};
        ebb_backup_opts bo;
        backup_opts(jc, conninfo, &bo);
        job_progress(jc, "dump", 0, 0, 0, NULL);
        rc = ebb_backup_take(&bo, &info, time(NULL), &m, err);
    }
    if (rc == EBB_OK) {
        size_t removed = 0;
        ebb_error perr;
        ebb_error_clear(&perr);
        json_t *doc = json_pack("{s:o}", "backup", manifest_json(&m));
        /* Retention never fails a backup that was taken and verified. */
        if (jc->db->backup.retention > 0 &&
            ebb_backup_prune(jc->db->backup.dir, m.database, jc->db->backup.retention, m.id,
                             &removed, &perr) != EBB_OK)
            json_object_set_new(doc, "retention_error", json_string(perr.msg));
        json_object_set_new(doc, "removed_by_retention", json_integer((json_int_t)removed));
        jc->report = doc;
        jc->res->backup_id = strdup(m.id);
        jc->res->backup_checksum = strdup(m.checksum);
        ebb_backup_manifest_fini(&m);
    }
    free_conninfo(conninfo);
    free(ids);
    if (have_fp)
        ebb_fingerprint_fini(&fp);
    if (have_applied)
        ebb_applied_list_fini(&applied);
    job_record_state(jc, pg, have_graph ? &graph : NULL, false);
    job_disconnect(jc, pg);
    if (have_graph)
        ebb_graph_fini(&graph);
    return rc;
}

/* After pg_restore: the registry and the schema must be what the manifest recorded. */
typedef struct restore_check {
    ebb_pg *pg;
} restore_check;

static ebb_code check_restored(void *ctx, const ebb_backup_manifest *m, ebb_error *err)
{
    restore_check *rc_ = ctx;
    ebb_applied_list applied;
    ebb_code rc = ebb_registry_load(rc_->pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    bool same = applied.count == m->n_revisions;
    for (size_t i = 0; same && i < applied.count; i++)
        same = strcmp(applied.rows[i].revision, m->revisions[i]) == 0;
    const char *now = applied.count ? applied.rows[applied.count - 1].revision : "base";
    const char *want = m->n_revisions ? m->revisions[m->n_revisions - 1] : "base";
    if (!same)
        rc = ebb_error_set(err, EBB_E_VERIFY,
                           "registry after restore is at %s (%zu revisions), the backup recorded "
                           "%s (%zu revisions)",
                           now, applied.count, want, m->n_revisions);
    ebb_applied_list_fini(&applied);
    if (rc != EBB_OK || m->fingerprint[0] == '\0')
        return rc;
    ebb_fingerprint live;
    rc = ebb_fingerprint_read(rc_->pg, &live, err);
    if (rc != EBB_OK)
        return rc;
    if (strcmp(live.hex, m->fingerprint) != 0)
        rc = ebb_error_set(err, EBB_E_VERIFY,
                           "schema after restore has fingerprint %s, the backup recorded %s",
                           live.hex, m->fingerprint);
    ebb_fingerprint_fini(&live);
    return rc;
}

ebb_code job_do_restore(job_ctx *jc, ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = job_connect(jc, &pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_graph graph = {0};
    bool have_graph = job_load_graph(jc->db, &graph, NULL) == EBB_OK;
    job_record_state(jc, pg, have_graph ? &graph : NULL, true);
    /* No migrator may run while the database is replaced. */
    if ((rc = ebb_lock_try(pg, err)) != EBB_OK)
        goto out;
    char *conninfo = NULL;
    rc = job_conninfo(jc, &conninfo, err);
    ebb_backup_manifest m;
    if (rc == EBB_OK) {
        ebb_backup_opts bo;
        backup_opts(jc, conninfo, &bo);
        restore_check chk = {pg};
        job_progress(jc, "restore", 0, 0, 0, jc->cmd->backup_id);
        rc = ebb_backup_restore(&bo, jc->cmd->backup_id, check_restored, &chk, &m, err);
    }
    free_conninfo(conninfo);
    ebb_run_info run = {jc->cmd->run_id, jc->cmd->operator_name, jc->cmd->reason};
    if (rc == EBB_OK) {
        const char *current = m.n_revisions ? m.revisions[m.n_revisions - 1] : NULL;
        json_t *details = json_pack("{s:s, s:s, s:s}", "backup_id", m.id, "checksum", m.checksum,
                                    "fingerprint", m.fingerprint);
        char *dtext = json_dumps(details, JSON_COMPACT);
        ebb_event ev = {
            .kind = EBB_EVENT_RESTORE, .revision = current, .run = &run, .details = dtext};
        ebb_error eerr;
        if (ebb_registry_event_add(pg, &ev, &eerr) != EBB_OK)
            json_object_set_new(details, "event_error", json_string(eerr.msg));
        free(dtext);
        jc->report = json_pack("{s:o}", "restored", manifest_json(&m));
        json_decref(details);
        jc->res->backup_id = strdup(m.id);
        jc->res->backup_checksum = strdup(m.checksum);
        ebb_backup_manifest_fini(&m);
    } else {
        char *dtext = NULL;
        json_t *details =
            json_pack("{s:s, s:s}", "action", "restore", "backup_id", jc->cmd->backup_id);
        dtext = json_dumps(details, JSON_COMPACT);
        json_decref(details);
        ebb_event ev = {.kind = EBB_EVENT_FAIL,
                        .run = &run,
                        .error = err ? err->msg : NULL,
                        .sqlstate = err && err->sqlstate[0] ? err->sqlstate : NULL,
                        .details = dtext};
        if (ebb_registry_event_add(pg, &ev, NULL) != EBB_OK) /* best effort: no registry */
            ebb_log(EBB_LOG_DEBUG, "jobs", "restore failure event not written");
        free(dtext);
    }
    ebb_error rel;
    if (ebb_lock_release(pg, &rel) != EBB_OK)
        ebb_log(EBB_LOG_WARN, "jobs", "releasing the migrator lock: %s", rel.msg);
out:
    job_record_state(jc, pg, have_graph ? &graph : NULL, false);
    job_disconnect(jc, pg);
    if (have_graph)
        ebb_graph_fini(&graph);
    return rc;
}
