/* `ebb-agent db rehearse`: every rollback of a range tried on a scratch copy, reported per revision. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli_db.h"
#include "agent/rehearse.h"
#include "common/exit_codes.h"

/* Set by SIGINT/SIGTERM; the walk stops before its next step and the scratch copy is dropped. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct saved_signals {
    struct sigaction intr, term;
} saved_signals;

static void signals_catch(saved_signals *saved)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    stop_requested = 0;
    sigaction(SIGINT, &sa, &saved->intr);
    sigaction(SIGTERM, &sa, &saved->term);
}

static void signals_restore(const saved_signals *saved)
{
    sigaction(SIGINT, &saved->intr, NULL);
    sigaction(SIGTERM, &saved->term, NULL);
}

static void on_scratch_note(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "rehearse: %s\n", line);
}

static void on_walk_note(void *ctx, const char *revision, const char *what)
{
    (void)ctx;
    fprintf(stderr, "rehearse: %s %s\n", revision, what);
}

/* The start of the range: --from, else the database's current revision (base when none). */
static int resolve_from(ebb_cli_db *c, ebb_target *from)
{
    ebb_error err;
    ebb_error_clear(&err);
    if (c->from != NULL) {
        if (ebb_target_parse(c->from, from, &err) != EBB_OK)
            return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
        return -1;
    }
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    ebb_applied_list applied;
    if (ebb_registry_load(c->pg, &applied, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    memset(from, 0, sizeof *from);
    from->kind = applied.count ? EBB_TARGET_REVISION : EBB_TARGET_BASE;
    if (applied.count)
        snprintf(from->id, sizeof from->id, "%s", applied.rows[applied.count - 1].revision);
    ebb_applied_list_fini(&applied);
    /* CREATE DATABASE ... TEMPLATE needs the source without sessions, this one included. */
    ebb_pg_close(c->pg);
    c->pg = NULL;
    return -1;
}

static json_t *entry_json(const ebb_rehearse_entry *e)
{
    const ebb_rehearse_outcome *o = &e->outcome;
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?, s:o, s:s, s:s, s:f, s:{s:b, s:b, "
                     "s:b, s:b}}",
                     "revision", e->revision, "name", e->name, "verdict",
                     ebb_rehearse_verdict_name(e->verdict), "irreversible",
                     ebb_irreversible_name(o->irreversible), "error", e->error, "sqlstate",
                     e->sqlstate, "reup_error", e->reup_error, "check_error", e->check_error,
                     "drift", ebb_cli_db_diff_json(&e->drift), "fingerprint_before", e->fp_before,
                     "fingerprint_after_down", e->fp_after_down, "seconds", e->seconds, "steps",
                     "up", o->up_ok, "down", o->down_ok, "reup", o->reup_ok, "checks",
                     o->checks_ok && o->up_ok);
}

/* One line of detail for the human table (malloc'd). */
static char *entry_detail(const ebb_rehearse_entry *e)
{
    char buf[EBB_ERROR_MSG_MAX + 256] = "";
    switch (e->verdict) {
    case EBB_REHEARSE_DRIFT: {
        char *objs = NULL;
        if (ebb_fp_diff_objects(&e->drift, 5, &objs, NULL) != EBB_OK)
            objs = NULL;
        snprintf(buf, sizeof buf, "schema differs after the down: %s", objs ? objs : "?");
        free(objs);
        break;
    }
    case EBB_REHEARSE_IRREVERSIBLE:
        snprintf(buf, sizeof buf, "by design (%s)%s%s", ebb_irreversible_name(e->outcome.irreversible),
                 e->error ? ": " : "", e->error ? e->error : "");
        break;
    case EBB_REHEARSE_REUP_FAILED:
        snprintf(buf, sizeof buf, "%s", e->reup_error ? e->reup_error : "");
        break;
    case EBB_REHEARSE_CHECK_FAILED:
        snprintf(buf, sizeof buf, "%s", e->check_error ? e->check_error : "");
        break;
    case EBB_REHEARSE_DOWN_FAILED:
    case EBB_REHEARSE_UP_FAILED:
        snprintf(buf, sizeof buf, "%s", e->error ? e->error : "");
        break;
    case EBB_REHEARSE_OK:
    case EBB_REHEARSE_NOT_RUN:
        break;
    }
    return strdup(buf);
}

/* What is shown of the scratch database once it is gone. */
typedef struct scratch_facts {
    char name[EBB_SCRATCH_NAME_MAX];
    char source[EBB_SCRATCH_NAME_MAX];
    ebb_scratch_method method;
} scratch_facts;

static void print_table(const ebb_cli_db *c, const scratch_facts *s, const ebb_rehearse_report *r)
{
    printf("rehearsal of %s on scratch database %s (%s%s), from %s to %s\n", s->source, s->name,
           ebb_scratch_method_name(s->method), c->keep_scratch ? ", kept" : ", dropped",
           r->from ? r->from : "base", r->to ? r->to : "base");
    printf("%-16s %-24s %-13s %s\n", "REVISION", "NAME", "VERDICT", "DETAIL");
    size_t counts[EBB_REHEARSE_NOT_RUN + 1] = {0};
    for (size_t i = 0; i < r->count; i++) {
        const ebb_rehearse_entry *e = &r->entries[i];
        counts[e->verdict]++;
        char *detail = entry_detail(e);
        printf("%-16s %-24s %-13s %s\n", e->revision, e->name,
               ebb_rehearse_verdict_name(e->verdict), detail ? detail : "");
        free(detail);
    }
    printf("%zu revision%s:", r->count, r->count == 1 ? "" : "s");
    for (size_t v = 0; v <= EBB_REHEARSE_NOT_RUN; v++)
        if (counts[v])
            printf(" %zu %s", counts[v], ebb_rehearse_verdict_name((ebb_rehearse_verdict)v));
    printf("; %zu broken%s\n", r->n_broken,
           counts[EBB_REHEARSE_IRREVERSIBLE] && !c->strict ? " (irreversible by design is not "
                                                            "counted without --strict)" : "");
    if (r->stopped)
        printf("stopped early: %s\n", r->stopped);
}

/* Drop the scratch database, or keep it with --keep; notes go into doc. */
static void scratch_end(ebb_cli_db *c, ebb_scratch *s, json_t *doc)
{
    json_t *sj = json_pack("{s:s, s:s, s:i, s:b}", "name", s->name, "method",
                           ebb_scratch_method_name(s->method), "sessions_on_source",
                           s->sessions_on_source, "kept", c->keep_scratch);
    if (c->keep_scratch) {
        fprintf(stderr, "rehearse: scratch database kept: %s\n", s->name);
        ebb_scratch_fini(s);
    } else {
        ebb_error err;
        if (ebb_scratch_drop(s, &err) != EBB_OK) {
            fprintf(stderr, "ebb-agent db rehearse: %s (drop it by hand)\n", err.msg);
            json_object_set_new(sj, "drop_error", json_string(err.msg));
            ebb_scratch_fini(s);
        }
    }
    json_object_set_new(doc, "scratch", sj);
}

int ebb_cli_db_cmd_rehearse(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_target to;
    if (ebb_target_parse(c->to ? c->to : "head", &to, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    if (ebb_cli_db_load_source(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_CONFIG, NULL);
    ebb_target from;
    int rc = resolve_from(c, &from);
    if (rc >= 0)
        return rc;

    saved_signals saved;
    signals_catch(&saved);
    ebb_scratch_opts so = {.conninfo = c->dsn,
                           .empty = from.kind == EBB_TARGET_BASE && c->from != NULL,
                           .pg_bin_dir = c->pg_bin_dir,
                           .note = on_scratch_note};
    ebb_scratch s;
    if (ebb_scratch_create(&so, randombytes_random(), &s, &err) != EBB_OK) {
        signals_restore(&saved);
        int code = err.code == EBB_E_REFUSED ? EBB_EXIT_REFUSED
                   : err.code == EBB_E_PG && err.sqlstate[0] == '\0' ? EBB_EXIT_UNAVAILABLE
                                                                      : EBB_EXIT_FAILURE;
        return ebb_cli_db_fail(c, &err, code, NULL);
    }
    fprintf(stderr, "rehearse: scratch database %s (%s of %s)\n", s.name,
            ebb_scratch_method_name(s.method), s.source);
    scratch_facts facts = {.method = s.method};
    memcpy(facts.name, s.name, sizeof facts.name);
    memcpy(facts.source, s.source, sizeof facts.source);

    ebb_rehearse_report rep;
    memset(&rep, 0, sizeof rep);
    ebb_rehearse_opts ro = {.run = ebb_cli_db_run_info(c),
                            .strict = c->strict,
                            .lock_timeout_ms = c->lock_timeout_ms,
                            .statement_timeout_ms = c->statement_timeout_ms,
                            .stop = &stop_requested,
                            .note = on_walk_note};
    /* Alembic runs against the scratch copy, never the real database. */
    ebb_alembic_conf scratch_alembic = c->alembic;
    scratch_alembic.dsn = s.conninfo;
    if (c->graph.kind == EBB_SOURCE_ALEMBIC)
        ro.alembic = &scratch_alembic;
    ebb_pg *pg = NULL;
    ebb_code code = ebb_pg_connect(s.conninfo, "ebb-agent rehearse", &pg, &err);
    if (code == EBB_OK)
        code = ebb_rehearse_walk(pg, &c->graph, &from, &to, &ro, &rep, &err);
    ebb_pg_close(pg);

    json_t *doc = json_pack("{s:s, s:s, s:b}", "source", facts.source, "run_id", c->run_id,
                            "strict", c->strict);
    scratch_end(c, &s, doc);
    signals_restore(&saved);
    if (code != EBB_OK)
        return ebb_cli_db_fail(c, &err, code == EBB_E_INVALID ? EBB_EXIT_USAGE : EBB_EXIT_FAILURE,
                               doc);

    json_t *entries = json_array();
    json_t *summary = json_object();
    for (size_t i = 0; i < rep.count; i++) {
        json_array_append_new(entries, entry_json(&rep.entries[i]));
        const char *v = ebb_rehearse_verdict_name(rep.entries[i].verdict);
        json_object_set_new(summary, v,
                            json_integer(json_integer_value(json_object_get(summary, v)) + 1));
    }
    int exit_code = rep.n_broken > 0 || rep.stopped ? EBB_EXIT_FAILURE : EBB_EXIT_OK;
    if (!c->json)
        print_table(c, &facts, &rep);
    json_object_set_new(doc, "from", rep.from ? json_string(rep.from) : json_null());
    json_object_set_new(doc, "to", rep.to ? json_string(rep.to) : json_null());
    json_object_set_new(doc, "revisions", entries);
    json_object_set_new(doc, "summary", summary);
    json_object_set_new(doc, "broken", json_integer((json_int_t)rep.n_broken));
    json_object_set_new(doc, "stopped", rep.stopped ? json_string(rep.stopped) : json_null());
    json_object_set_new(doc, "interrupted", json_boolean(rep.interrupted));
    json_object_set_new(doc, "exit_code", json_integer(exit_code));
    ebb_rehearse_report_fini(&rep);
    ebb_cli_db_emit(c, doc);
    return exit_code;
}
