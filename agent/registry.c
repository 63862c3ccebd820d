/* The migration registry inside each target database (schema `ebb`): creation, reads, records, events. */
#include "agent/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lock.h"

/* Version 1 of the registry. Runs inside ebb_registry_ensure's transaction. */
static const char REGISTRY_V1[] =
    "CREATE SCHEMA IF NOT EXISTS ebb;\n"
    "CREATE TABLE ebb.registry_version (\n"
    "  version integer NOT NULL,\n"
    "  installed_at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
    "CREATE TABLE ebb.applied (\n"
    "  seq bigserial NOT NULL UNIQUE,\n"
    "  revision text PRIMARY KEY,\n"
    "  up_checksum text NOT NULL DEFAULT '',\n"
    "  down_checksum text NOT NULL DEFAULT '',\n"
    "  verify_checksum text NOT NULL DEFAULT '',\n"
    "  applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
    "  applied_by text NOT NULL DEFAULT '',\n"
    "  run_id text NOT NULL DEFAULT '',\n"
    "  fingerprint text NOT NULL DEFAULT '',\n"
    "  description text NOT NULL DEFAULT '');\n"
    "CREATE TABLE ebb.fingerprints (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  revision text,\n" /* NULL: the baseline (no revision applied) */
    "  fingerprint text NOT NULL,\n"
    "  description text NOT NULL,\n"
    "  run_id text NOT NULL DEFAULT '',\n"
    "  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
    "CREATE INDEX fingerprints_revision ON ebb.fingerprints (revision, id);\n"
    "CREATE TABLE ebb.events (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  kind text NOT NULL CHECK (kind IN\n"
    "    ('deploy','revert','verify','restore','fail','stamp')),\n"
    "  revision text,\n"
    "  run_id text NOT NULL DEFAULT '',\n"
    "  operator_name text NOT NULL DEFAULT '',\n"
    "  reason text NOT NULL DEFAULT '',\n"
    "  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
    "  finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
    "  sqlstate text,\n"
    "  error text,\n"
    "  details jsonb NOT NULL DEFAULT '{}');\n"
    /* The owner cannot be revoked UPDATE/DELETE, so a trigger refuses them. */
    "CREATE FUNCTION ebb.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  RAISE EXCEPTION 'ebb.events is append-only: % refused', TG_OP\n"
    "    USING ERRCODE = 'insufficient_privilege';\n"
    "END $$;\n"
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON ebb.events\n"
    "  FOR EACH ROW EXECUTE FUNCTION ebb.events_append_only();\n"
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ebb.events\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ebb.events_append_only();\n"
    "INSERT INTO ebb.registry_version (version) VALUES (1);\n";

static ebb_code exec0(ebb_pg *pg, const char *sql, ebb_error *err)
{
    return ebb_pg_exec(pg, sql, 0, NULL, NULL, NULL, NULL, err);
}

ebb_code ebb_registry_exists(ebb_pg *pg, bool *out, ebb_error *err)
{
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(
        pg,
        "SELECT pg_catalog.to_regclass('ebb.registry_version') IS NOT NULL"
        " AND pg_catalog.to_regclass('ebb.applied') IS NOT NULL"
        " AND pg_catalog.to_regclass('ebb.events') IS NOT NULL",
        0, NULL, &v, err);
    if (rc != EBB_OK)
        return rc;
    *out = v && strcmp(v, "t") == 0;
    free(v);
    return EBB_OK;
}

static ebb_code ensure_locked(ebb_pg *pg, ebb_error *err)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)EBB_LOCK_KEY);
    const char *params[] = {key};
    ebb_code rc = ebb_pg_exec(pg, "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)", 1,
                              params, NULL, NULL, NULL, err);
    if (rc != EBB_OK)
        return rc;
    bool exists = false;
    if ((rc = ebb_registry_exists(pg, &exists, err)) != EBB_OK)
        return rc;
    char *v = NULL;
    /* The table name is resolved when the query is parsed: ask only when it exists. */
    if (exists && (rc = ebb_pg_query_text(pg, "SELECT max(version)::text FROM ebb.registry_version",
                                          0, NULL, &v, err)) != EBB_OK)
        return rc;
    long version = v ? strtol(v, NULL, 10) : 0;
    free(v);
    if (version > EBB_REGISTRY_VERSION)
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "registry version %ld in schema ebb is newer than this ebb "
                             "understands (%d); upgrade ebb",
                             version, EBB_REGISTRY_VERSION);
    if (version == 0)
        return ebb_pg_exec_script(pg, REGISTRY_V1, err);
    /* version == EBB_REGISTRY_VERSION: nothing to do. Later versions migrate here. */
    return EBB_OK;
}

ebb_code ebb_registry_ensure(ebb_pg *pg, ebb_error *err)
{
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "ebb_registry_ensure must run outside a transaction");
    ebb_code rc = exec0(pg, "BEGIN", err);
    if (rc != EBB_OK)
        return rc;
    rc = ensure_locked(pg, err);
    if (rc == EBB_OK)
        rc = exec0(pg, "COMMIT", err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "creating the ebb registry");
        if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
            ebb_error ignore;
            (void)exec0(pg, "ROLLBACK", &ignore);
        }
    }
    return rc;
}

/* ---- reads ---- */

static char *col_dup(const PGresult *res, int row, int col)
{
    return strdup(PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static void col_copy(const PGresult *res, int row, int col, char *dst, size_t n)
{
    snprintf(dst, n, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static void applied_fini(ebb_applied *a)
{
    free(a->revision);
    free(a->applied_at);
    free(a->applied_by);
    free(a->run_id);
}

static ebb_code applied_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    ebb_applied_list *l = ctx;
    ebb_applied *p = realloc(l->rows, (l->count + 1) * sizeof *p);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading ebb.applied");
    l->rows = p;
    ebb_applied a = {0};
    a.revision = col_dup(res, row, 0);
    col_copy(res, row, 1, a.up_checksum, sizeof a.up_checksum);
    col_copy(res, row, 2, a.down_checksum, sizeof a.down_checksum);
    col_copy(res, row, 3, a.verify_checksum, sizeof a.verify_checksum);
    a.applied_at = col_dup(res, row, 4);
    a.applied_by = col_dup(res, row, 5);
    a.run_id = col_dup(res, row, 6);
    col_copy(res, row, 7, a.fingerprint, sizeof a.fingerprint);
    if (!a.revision || !a.applied_at || !a.applied_by || !a.run_id) {
        applied_fini(&a);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading ebb.applied");
    }
    l->rows[l->count++] = a;
    return EBB_OK;
}

ebb_code ebb_registry_load(ebb_pg *pg, ebb_applied_list *out, ebb_error *err)
{
    bool exists = false;
    ebb_code rc = ebb_registry_exists(pg, &exists, err);
    if (rc != EBB_OK)
        return rc;
    ebb_applied_list l = {0};
    if (exists) {
        rc = ebb_pg_exec(pg,
                         "SELECT revision, up_checksum, down_checksum, verify_checksum, "
                         ISO_UTC("applied_at") ", applied_by, run_id, fingerprint"
                         " FROM ebb.applied ORDER BY seq",
                         0, NULL, applied_row, &l, NULL, err);
        if (rc != EBB_OK) {
            ebb_applied_list_fini(&l);
            return rc;
        }
    }
    *out = l;
    return EBB_OK;
}

void ebb_applied_list_fini(ebb_applied_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        applied_fini(&list->rows[i]);
    free(list->rows);
    list->rows = NULL;
    list->count = 0;
}

ebb_code ebb_applied_list_ids(const ebb_applied_list *list, const char ***out, ebb_error *err)
{
    const char **ids = calloc(list->count ? list->count : 1, sizeof *ids);
    if (!ids)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing applied revisions");
    for (size_t i = 0; i < list->count; i++)
        ids[i] = list->rows[i].revision;
    *out = ids;
    return EBB_OK;
}

/* ---- writes ---- */

static const char *nz(const char *s)
{
    return s ? s : "";
}

static ebb_code record_fingerprint(ebb_pg *pg, const char *revision, const ebb_run_info *run,
                                   const ebb_fingerprint *fp, ebb_error *err)
{
    const char *params[] = {revision, fp->hex, nz(fp->description), nz(run ? run->run_id : NULL)};
    return ebb_pg_exec(pg,
                       "INSERT INTO ebb.fingerprints (revision, fingerprint, description, run_id)"
                       " VALUES ($1, $2, $3, $4)",
                       4, params, NULL, NULL, NULL, err);
}

ebb_code ebb_registry_record_apply(ebb_pg *pg, const ebb_revision *rev, const ebb_run_info *run,
                                   const ebb_fingerprint *fp, ebb_error *err)
{
    const char *params[] = {rev->id,
                            rev->up.checksum,
                            rev->down.checksum,
                            rev->verify.checksum,
                            nz(run ? run->operator_name : NULL),
                            nz(run ? run->run_id : NULL),
                            fp ? fp->hex : "",
                            fp ? nz(fp->description) : ""};
    ebb_code rc = ebb_pg_exec(pg,
                              "INSERT INTO ebb.applied (revision, up_checksum, down_checksum,"
                              " verify_checksum, applied_by, run_id, fingerprint, description)"
                              " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                              8, params, NULL, NULL, NULL, err);
    if (rc == EBB_OK && fp)
        rc = record_fingerprint(pg, rev->id, run, fp, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "recording revision %s as applied", rev->id);
    return rc;
}

ebb_code ebb_registry_record_revert(ebb_pg *pg, const char *revision, ebb_error *err)
{
    const char *params[] = {revision};
    long n = 0;
    ebb_code rc = ebb_pg_exec(pg, "DELETE FROM ebb.applied WHERE revision = $1", 1, params, NULL,
                              NULL, &n, err);
    if (rc != EBB_OK)
        return rc;
    if (n == 0)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "revision %s is not recorded as applied in ebb.applied", revision);
    return EBB_OK;
}

ebb_code ebb_registry_record_baseline(ebb_pg *pg, const ebb_run_info *run,
                                      const ebb_fingerprint *fp, ebb_error *err)
{
    return record_fingerprint(pg, NULL, run, fp, err);
}

ebb_code ebb_registry_record_fingerprint(ebb_pg *pg, const char *revision,
                                         const ebb_run_info *run, const ebb_fingerprint *fp,
                                         ebb_error *err)
{
    return record_fingerprint(pg, revision, run, fp, err);
}

ebb_code ebb_registry_record_stamp(ebb_pg *pg, const ebb_revision *rev, const ebb_run_info *run,
                                   ebb_error *err)
{
    /* fingerprint and description stay '' (not measured): the scripts did not run. */
    const char *params[] = {rev->id,
                            rev->up.checksum,
                            rev->down.checksum,
                            rev->verify.checksum,
                            nz(run ? run->operator_name : NULL),
                            nz(run ? run->run_id : NULL)};
    ebb_code rc = ebb_pg_exec(pg,
                              "INSERT INTO ebb.applied (revision, up_checksum, down_checksum,"
                              " verify_checksum, applied_by, run_id)"
                              " VALUES ($1, $2, $3, $4, $5, $6)",
                              6, params, NULL, NULL, NULL, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "stamping revision %s as applied", rev->id);
    return rc;
}

typedef struct fp_pick {
    ebb_fingerprint fp;
    bool found;
    bool nomem;
} fp_pick;

static ebb_code fp_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    fp_pick *p = ctx;
    col_copy(res, row, 0, p->fp.hex, sizeof p->fp.hex);
    if (!(p->fp.description = col_dup(res, row, 1)))
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading ebb.fingerprints");
    p->found = true;
    return EBB_OK;
}

ebb_code ebb_registry_fingerprint_of(ebb_pg *pg, const char *revision, ebb_fingerprint *out,
                                     ebb_error *err)
{
    bool exists = false;
    ebb_code rc = ebb_registry_exists(pg, &exists, err);
    if (rc != EBB_OK)
        return rc;
    fp_pick p = {0};
    if (exists) {
        const char *params[] = {revision};
        rc = ebb_pg_exec(pg,
                         "SELECT fingerprint, description FROM ebb.fingerprints"
                         " WHERE revision IS NOT DISTINCT FROM $1 ORDER BY id DESC LIMIT 1",
                         1, params, fp_row, &p, NULL, err);
        if (rc != EBB_OK) {
            ebb_fingerprint_fini(&p.fp);
            return rc;
        }
    }
    if (!p.found)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no fingerprint recorded for %s%s",
                             revision ? "revision " : "the base (before any revision)",
                             revision ? revision : "");
    *out = p.fp;
    return EBB_OK;
}

/* ---- events ---- */

static const char *const event_names[] = {
    [EBB_EVENT_DEPLOY] = "deploy", [EBB_EVENT_REVERT] = "revert",
    [EBB_EVENT_VERIFY] = "verify", [EBB_EVENT_RESTORE] = "restore",
    [EBB_EVENT_FAIL] = "fail",     [EBB_EVENT_STAMP] = "stamp",
};

const char *ebb_event_kind_name(ebb_event_kind kind)
{
    if ((unsigned)kind < sizeof event_names / sizeof event_names[0] && event_names[kind])
        return event_names[kind];
    return "unknown";
}

ebb_code ebb_registry_event_add(ebb_pg *pg, const ebb_event *ev, ebb_error *err)
{
    char started[40], finished[40];
    snprintf(started, sizeof started, "%.6f", ev->started_at);
    snprintf(finished, sizeof finished, "%.6f", ev->finished_at);
    const ebb_run_info *run = ev->run;
    const char *params[] = {ebb_event_kind_name(ev->kind),
                            ev->revision,
                            nz(run ? run->run_id : NULL),
                            nz(run ? run->operator_name : NULL),
                            nz(run ? run->reason : NULL),
                            ev->started_at > 0 ? started : NULL,
                            ev->finished_at > 0 ? finished : NULL,
                            ev->sqlstate && *ev->sqlstate ? ev->sqlstate : NULL,
                            ev->error,
                            ev->details ? ev->details : "{}"};
    ebb_code rc = ebb_pg_exec(
        pg,
        "INSERT INTO ebb.events (kind, revision, run_id, operator_name, reason, started_at,"
        " finished_at, sqlstate, error, details) VALUES ($1, $2, $3, $4, $5,"
        " coalesce(to_timestamp($6::float8), clock_timestamp()),"
        " coalesce(to_timestamp($7::float8), clock_timestamp()), $8, $9, $10::jsonb)",
        10, params, NULL, NULL, NULL, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "recording a %s event", ebb_event_kind_name(ev->kind));
    return rc;
}

static void event_row_fini(ebb_event_row *e)
{
    free(e->kind);
    free(e->revision);
    free(e->run_id);
    free(e->operator_name);
    free(e->reason);
    free(e->started_at);
    free(e->finished_at);
    free(e->sqlstate);
    free(e->error);
    free(e->details);
}

static ebb_code event_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    ebb_event_list *l = ctx;
    ebb_event_row *p = realloc(l->rows, (l->count + 1) * sizeof *p);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading ebb.events");
    l->rows = p;
    ebb_event_row e = {0};
    e.id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    char **fields[] = {&e.kind,       &e.revision,    &e.run_id,   &e.operator_name, &e.reason,
                       &e.started_at, &e.finished_at, &e.sqlstate, &e.error,         &e.details};
    for (int i = 0; i < 10; i++) {
        if (!(*fields[i] = col_dup(res, row, i + 1))) {
            event_row_fini(&e);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading ebb.events");
        }
    }
    l->rows[l->count++] = e;
    return EBB_OK;
}

ebb_code ebb_registry_events(ebb_pg *pg, const char *run_id, long limit, ebb_event_list *out,
                             ebb_error *err)
{
    bool exists = false;
    ebb_code rc = ebb_registry_exists(pg, &exists, err);
    if (rc != EBB_OK)
        return rc;
    ebb_event_list l = {0};
    if (exists) {
        char lim[32];
        snprintf(lim, sizeof lim, "%ld", limit);
        const char *params[] = {run_id, limit > 0 ? lim : NULL};
        rc = ebb_pg_exec(pg,
                         "SELECT id, kind, revision, run_id, operator_name, reason, "
                         ISO_UTC("started_at") ", " ISO_UTC("finished_at")
                         ", sqlstate, error, details::text FROM ("
                         " SELECT * FROM ebb.events WHERE ($1::text IS NULL OR run_id = $1)"
                         " ORDER BY id DESC LIMIT $2::bigint) e ORDER BY id",
                         2, params, event_row, &l, NULL, err);
        if (rc != EBB_OK) {
            ebb_event_list_fini(&l);
            return rc;
        }
    }
    *out = l;
    return EBB_OK;
}

void ebb_event_list_fini(ebb_event_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        event_row_fini(&list->rows[i]);
    free(list->rows);
    list->rows = NULL;
    list->count = 0;
}
