/* `ebb-agent db backup | backups | restore`, and the checked restore that `down` also uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/cli_db.h"
#include "agent/fingerprint.h"
#include "agent/lock.h"
#include "agent/registry.h"
#include "common/exit_codes.h"

/* After pg_restore: the registry and the schema must be what the manifest recorded. */
static ebb_code check_against_manifest(void *ctx, const ebb_backup_manifest *m, ebb_error *err)
{
    ebb_cli_db *c = ctx;
    ebb_applied_list applied;
    ebb_code rc = ebb_registry_load(c->pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    char want[1024] = "", got[1024] = "";
    bool same = applied.count == m->n_revisions;
    for (size_t i = 0; i < m->n_revisions; i++) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof(want) - l, "%s%s", i ? "," : "", m->revisions[i]);
    }
    for (size_t i = 0; i < applied.count; i++) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof(got) - l, "%s%s", i ? "," : "", applied.rows[i].revision);
        if (same && strcmp(applied.rows[i].revision, m->revisions[i]) != 0)
            same = false;
    }
    const char *current = applied.count ? applied.rows[applied.count - 1].revision : NULL;
    if (!same) {
        rc = ebb_error_set(err, EBB_E_VERIFY,
                           "registry after restore lists revisions [%s], the backup recorded [%s]",
                           got, want);
        ebb_applied_list_fini(&applied);
        return rc;
    }
    if (m->fingerprint[0] == '\0') {
        ebb_applied_list_fini(&applied);
        return EBB_OK;
    }
    ebb_fingerprint live;
    rc = ebb_fingerprint_read(c->pg, &live, err);
    if (rc == EBB_OK && strcmp(live.hex, m->fingerprint) != 0) {
        /* Name the objects when the registry still has the description of that state. */
        char *objs = NULL;
        ebb_fingerprint rec;
        ebb_fp_diff diff;
        if (ebb_registry_fingerprint_of(c->pg, current, &rec, NULL) == EBB_OK) {
            if (strcmp(rec.hex, m->fingerprint) == 0 &&
                ebb_fp_diff_compute(rec.description, live.description, &diff, NULL) == EBB_OK) {
                if (ebb_fp_diff_objects(&diff, 20, &objs, NULL) != EBB_OK)
                    objs = NULL;
                ebb_fp_diff_fini(&diff);
            }
            ebb_fingerprint_fini(&rec);
        }
        rc = ebb_error_set(err, EBB_E_VERIFY,
                           "schema after restore has fingerprint %s, the backup recorded %s%s%s",
                           live.hex, m->fingerprint, objs ? "; differing objects: " : "",
                           objs ? objs : "");
        free(objs);
    }
    if (rc == EBB_OK || rc == EBB_E_VERIFY)
        ebb_fingerprint_fini(&live);
    ebb_applied_list_fini(&applied);
    return rc;
}

ebb_code ebb_cli_db_restore_checked(ebb_cli_db *c, const char *id, ebb_backup_manifest *out,
                                    ebb_error *err)
{
    ebb_backup_opts bo;
    ebb_cli_db_backup_opts(c, &bo);
    ebb_backup_manifest m;
    ebb_code rc = ebb_backup_restore(&bo, id, check_against_manifest, c, &m, err);
    if (rc != EBB_OK) {
        ebb_cli_db_event(c, EBB_EVENT_FAIL, NULL, err,
                         json_pack("{s:s, s:s}", "command", "restore", "backup_id", id));
        return rc;
    }
    const char *current = m.n_revisions ? m.revisions[m.n_revisions - 1] : NULL;
    ebb_cli_db_event(c, EBB_EVENT_RESTORE, current, NULL,
                     json_pack("{s:s, s:s, s:s, s:s}", "backup_id", m.id, "checksum", m.checksum,
                               "fingerprint", m.fingerprint, "backup_created_at", m.created_at));
    if (out != NULL)
        *out = m;
    else
        ebb_backup_manifest_fini(&m);
    return EBB_OK;
}

int ebb_cli_db_cmd_backup(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    ebb_applied_list applied;
    if (ebb_registry_load(c->pg, &applied, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    ebb_fingerprint fp;
    const char **ids = NULL;
    if (ebb_fingerprint_read(c->pg, &fp, &err) != EBB_OK) {
        ebb_applied_list_fini(&applied);
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    }
    ebb_code code = ebb_applied_list_ids(&applied, &ids, &err);
    ebb_backup_manifest m;
    if (code == EBB_OK) {
        ebb_backup_info info = {.revisions = ids,
                                .n_revisions = applied.count,
                                .fingerprint = fp.hex,
                                .run_id = c->run_id,
                                .operator_name = c->operator_name,
                                .reason = c->reason};
        ebb_backup_opts bo;
        ebb_cli_db_backup_opts(c, &bo);
        code = ebb_backup_take(&bo, &info, time(NULL), &m, &err);
    }
    free(ids);
    ebb_fingerprint_fini(&fp);
    ebb_applied_list_fini(&applied);
    if (code != EBB_OK) /* nothing changed: an unverifiable backup is a refusal (4) */
        return ebb_cli_db_fail(c, &err, code == EBB_E_VERIFY ? EBB_EXIT_REFUSED
                                                             : ebb_exit_for_code(code), NULL);
    size_t removed = 0;
    json_t *doc = json_pack("{s:o}", "backup", ebb_cli_db_manifest_json(&m));
    if (c->keep > 0) {
        if (ebb_backup_prune(c->backup_dir, m.database, (size_t)c->keep, m.id, &removed, &err) !=
            EBB_OK) {
            ebb_backup_manifest_fini(&m);
            return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), doc);
        }
    }
    json_object_set_new(doc, "removed_by_retention", json_integer((json_int_t)removed));
    if (!c->json)
        printf("%s\n", m.id);
    ebb_backup_manifest_fini(&m);
    ebb_cli_db_emit(c, doc);
    return EBB_EXIT_OK;
}

int ebb_cli_db_cmd_backups(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    char *db = NULL;
    if (c->dsn != NULL) {
        if (ebb_cli_db_connect(c, &err) != EBB_OK ||
            ebb_pg_query_text(c->pg, "SELECT current_database()", 0, NULL, &db, &err) != EBB_OK)
            return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    }
    ebb_backup_entry *list = NULL;
    size_t n = 0;
    ebb_code code = ebb_backup_list(c->backup_dir, db, true, &list, &n, &err);
    free(db);
    if (code != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(code), NULL);
    json_t *arr = json_array();
    if (!c->json && n > 0)
        printf("%-44s %-20s %-12s %-14s %s\n", "ID", "CREATED", "REVISION", "SIZE", "STATE");
    for (size_t i = 0; i < n; i++) {
        const ebb_backup_manifest *m = &list[i].manifest;
        if (c->json) {
            json_t *o = ebb_cli_db_manifest_json(m);
            json_object_set_new(o, "damaged", json_boolean(list[i].damaged));
            if (list[i].damaged)
                json_object_set_new(o, "problem", json_string(list[i].problem));
            json_array_append_new(arr, o);
        } else {
            printf("%-44s %-20s %-12s %-14llu %s%s%s\n", m->id, m->created_at,
                   m->n_revisions ? m->revisions[m->n_revisions - 1] : "base",
                   (unsigned long long)m->size_bytes, list[i].damaged ? "DAMAGED" : "ok",
                   list[i].damaged ? ": " : "", list[i].damaged ? list[i].problem : "");
        }
    }
    ebb_backup_list_free(list, n);
    ebb_cli_db_emit(c, json_pack("{s:o}", "backups", arr));
    return EBB_EXIT_OK;
}

int ebb_cli_db_cmd_restore(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    const char *id = c->args[0];
    if (!ebb_backup_id_valid(id)) {
        ebb_error_set(&err, EBB_E_INVALID, "'%s' is not a backup id", id);
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    }
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    if (ebb_lock_try(c->pg, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    c->lock_held = true;
    ebb_backup_manifest m;
    ebb_code code = ebb_cli_db_restore_checked(c, id, &m, &err);
    ebb_error rel;
    if (ebb_lock_release(c->pg, &rel) == EBB_OK)
        c->lock_held = false;
    if (code != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(code), NULL);
    if (!c->json)
        printf("restored %s: database %s at %s, fingerprint %s verified\n", m.id, m.database,
               m.n_revisions ? m.revisions[m.n_revisions - 1] : "base", m.fingerprint);
    json_t *doc = json_pack("{s:o}", "restored", ebb_cli_db_manifest_json(&m));
    ebb_backup_manifest_fini(&m);
    ebb_cli_db_emit(c, doc);
    return EBB_EXIT_OK;
}
