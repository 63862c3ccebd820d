/* Rollback rehearsal: every revision of a range walked up, down and up again on a scratch copy, each rollback classified. */
#ifndef EBB_AGENT_REHEARSE_H
#define EBB_AGENT_REHEARSE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/fingerprint.h"
#include "agent/alembic.h"
#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "common/error.h"
#include "common/pgsql.h"

/* ---- Classification (pure) ---- */

/* What the rehearsal concluded about one revision's rollback. */
typedef enum ebb_rehearse_verdict {
    EBB_REHEARSE_OK,           /* down works: schema back as before the up, checks pass, re-up works */
    EBB_REHEARSE_DOWN_FAILED,  /* the down script fails (error kept) */
    EBB_REHEARSE_DRIFT,        /* the down runs but the schema differs from before the up */
    EBB_REHEARSE_IRREVERSIBLE, /* the down is irreversible by design (directive, raise-only, raises so) */
    EBB_REHEARSE_REUP_FAILED,  /* the up fails when applied again after the down */
    EBB_REHEARSE_CHECK_FAILED, /* a verify script or a data check failed around the round trip */
    EBB_REHEARSE_UP_FAILED,    /* the revision's up failed on the copy: nothing to roll back */
    EBB_REHEARSE_NOT_RUN,      /* not reached (the walk stopped earlier or was interrupted) */
} ebb_rehearse_verdict;

/* "ok", "down_failed", "drift", "irreversible", "reup_failed", "check_failed", "up_failed", "not_run". */
const char *ebb_rehearse_verdict_name(ebb_rehearse_verdict v);

/*
 * Whether a verdict counts as a broken rollback (non-zero exit): all but
 * ok, and irreversible only with strict. not_run counts: a rollback that
 * was not rehearsed is not shown to work.
 */
bool ebb_rehearse_verdict_broken(ebb_rehearse_verdict v, bool strict);

/* Why a down counts as irreversible by design. */
typedef enum ebb_irreversible {
    EBB_IRREVERSIBLE_NO = 0,
    EBB_IRREVERSIBLE_DIRECTIVE, /* first line "-- ebb:irreversible" (not run) */
    EBB_IRREVERSIBLE_RAISE_ONLY, /* the script's only statement is a DO block that only raises (not run) */
    EBB_IRREVERSIBLE_RAISES,    /* it ran and failed with a message containing "irreversible" */
} ebb_irreversible;

/* "no", "directive", "raise-only", "raises". */
const char *ebb_irreversible_name(ebb_irreversible why);

/* What happened to one revision during the walk: the input of ebb_rehearse_classify. */
typedef struct ebb_rehearse_outcome {
    bool reached;               /* the walk got to this revision */
    bool up_ok;                 /* its first up committed */
    ebb_irreversible irreversible;
    bool down_ok;               /* its down committed (meaningless when irreversible) */
    size_t n_drift;             /* objects differing between before-up and after-down */
    bool reup_ok;               /* the up applied again after the down */
    bool checks_ok;             /* verify scripts after each up and data checks after the down */
} ebb_rehearse_outcome;

/*
 * The verdict of an outcome, the first problem in walk order: not reached,
 * up failed, irreversible, down failed, drift, re-up failed, checks failed,
 * else ok. Pure.
 */
ebb_rehearse_verdict ebb_rehearse_classify(const ebb_rehearse_outcome *o);

/*
 * Static detection of an irreversible-by-design down script (pure, on the
 * PostgreSQL and PL/pgSQL parsers): the "-- ebb:irreversible" directive
 * (script->irreversible), or a script whose only statement is a DO block in
 * PL/pgSQL whose body only raises an exception (RAISE [EXCEPTION] ...).
 * A script the parser cannot read is not irreversible (running it shows
 * the error). *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_rehearse_script_irreversible(const ebb_script *down,
                                                        ebb_irreversible *out, ebb_error *err);

/* True when a server message says the down is irreversible ("irreversible", any case). Pure. */
bool ebb_rehearse_message_irreversible(const char *message);

/* ---- Scratch databases ---- */

#define EBB_SCRATCH_NAME_MAX 64 /* NAMEDATALEN */

/*
 * "ebb_rehearse_<db>_<8 hex of random>": db lowered, every character other
 * than [a-z0-9_] replaced by '_', cut so that the name fits 63 bytes. Pure.
 */
void ebb_rehearse_scratch_name(const char *db, uint32_t random, char out[EBB_SCRATCH_NAME_MAX]);

/*
 * The connection string conninfo with its dbname replaced (parsed by
 * PQconninfoParse and printed back as key=value, values quoted; never
 * pasted). The result holds the password when conninfo does: never log it;
 * free it with ebb_rehearse_conninfo_free. *out set only on success; an
 * unparsable conninfo is EBB_E_INVALID without repeating it.
 */
EBB_MUSTCHECK ebb_code ebb_rehearse_conninfo_with_db(const char *conninfo, const char *dbname,
                                                     char **out, ebb_error *err);
/* Wipe and free a connection string from ebb_rehearse_conninfo_with_db. NULL is fine. */
void ebb_rehearse_conninfo_free(char *conninfo);

typedef enum ebb_scratch_method {
    EBB_SCRATCH_TEMPLATE,     /* CREATE DATABASE ... TEMPLATE source */
    EBB_SCRATCH_DUMP_RESTORE, /* pg_dump of the source, pg_restore into a new database */
    EBB_SCRATCH_EMPTY,        /* a new empty database (--from base) */
} ebb_scratch_method;

/* "template", "dump-restore", "empty". */
const char *ebb_scratch_method_name(ebb_scratch_method m);

typedef struct ebb_scratch_opts {
    const char *conninfo;   /* of the source database (borrowed; never logged or on argv) */
    bool empty;             /* create an empty database instead of a copy */
    bool force_dump;        /* copy with dump/restore even when TEMPLATE would do */
    const char *pg_bin_dir; /* pg_dump/pg_restore directory (NULL: see ebb_pgtool_path) */
    int timeout_ms;         /* per child program; <= 0: none */
    /* Progress lines (what is being done, tool output); may be NULL. */
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
} ebb_scratch_opts;

/* A scratch database on the server of the source. */
typedef struct ebb_scratch {
    char name[EBB_SCRATCH_NAME_MAX];
    char source[EBB_SCRATCH_NAME_MAX]; /* the source database's name */
    ebb_scratch_method method;
    char *conninfo;       /* of the scratch database (owned; may hold the password) */
    char *admin_conninfo; /* of the maintenance database it was created from (owned) */
    bool created;         /* exists on the server (ebb_scratch_drop removes it) */
    int sessions_on_source; /* other sessions seen on the source when copying */
} ebb_scratch;

/*
 * Create a scratch database named ebb_rehearse_scratch_name(source, random)
 * from a maintenance connection (dbname postgres, else template1) to the
 * server of opts->conninfo. The role needs CREATEDB (EBB_E_REFUSED
 * otherwise, saying so). A copy uses CREATE DATABASE ... TEMPLATE when no
 * other session is connected to the source (pg_stat_activity), else (or
 * when TEMPLATE fails because a session connected meanwhile) a new database
 * with the source's encoding and locale filled by pg_dump -Fc into a
 * private temporary directory and pg_restore --no-owner --exit-on-error,
 * both through the process runner with the connection in their environment
 * (agent/pgtool.h). The source is only read. On failure anything created is
 * dropped again. *out set only on success; caller: ebb_scratch_drop (or
 * ebb_scratch_fini to keep the database).
 */
EBB_MUSTCHECK ebb_code ebb_scratch_create(const ebb_scratch_opts *opts, uint32_t random,
                                          ebb_scratch *out, ebb_error *err);

/*
 * DROP DATABASE IF EXISTS (WITH (FORCE) on PostgreSQL 13 and later, so a
 * leftover session cannot keep it) from a new maintenance connection, then
 * ebb_scratch_fini. On failure s is left as it was (its name can be
 * reported; call ebb_scratch_fini). Safe on a zeroed scratch.
 */
EBB_MUSTCHECK ebb_code ebb_scratch_drop(ebb_scratch *s, ebb_error *err);

/* Free what s owns (connection strings wiped); the database itself is left as it is. */
void ebb_scratch_fini(ebb_scratch *s);

/* ---- The walk ---- */

/* One revision of the report. */
typedef struct ebb_rehearse_entry {
    char *revision; /* owned */
    char *name;     /* owned ("" when none) */
    ebb_rehearse_verdict verdict;
    ebb_rehearse_outcome outcome;
    char *error;       /* the failing up or down's message (owned; NULL when none) */
    char sqlstate[6];  /* of error ("" when none) */
    char *reup_error;  /* the re-up's message (owned; NULL) */
    char *check_error; /* verify script / data check failures (owned; NULL) */
    ebb_fp_diff drift; /* objects that differ after the down (owned) */
    char fp_before[EBB_FINGERPRINT_HEX];    /* before the up */
    char fp_after_down[EBB_FINGERPRINT_HEX]; /* after the down ("" when it did not run) */
    double seconds;    /* time spent on this revision */
} ebb_rehearse_entry;

typedef struct ebb_rehearse_report {
    ebb_rehearse_entry *entries; /* in walk order (owned) */
    size_t count;
    char *from;        /* revision the walk started at (owned; NULL = base) */
    char *to;          /* revision it was to end at (owned; NULL = base) */
    char *stopped;     /* why the walk stopped early (owned; NULL when it went through) */
    bool interrupted;  /* *opts.stop was set */
    size_t n_broken;   /* entries broken under the walk's strict setting */
} ebb_rehearse_report;

void ebb_rehearse_report_fini(ebb_rehearse_report *rep);

typedef struct ebb_rehearse_opts {
    ebb_run_info run;    /* recorded in the scratch database's registry (borrowed) */
    bool strict;         /* irreversible counts as broken */
    long lock_timeout_ms;
    long statement_timeout_ms;
    /* Alembic graphs: how to run Alembic, with dsn naming the SCRATCH database
     * (borrowed; required for Alembic graphs, NULL otherwise). */
    const ebb_alembic_conf *alembic;
    /* Set asynchronously (a signal handler): the walk stops at its next step
     * boundary (a running statement finishes first), reports the revision
     * in progress and the rest as not run, and sets interrupted. May be NULL. */
    const volatile sig_atomic_t *stop;
    /* Progress: one line per step ("3 down", ...); may be NULL. */
    void (*note)(void *ctx, const char *revision, const char *what);
    void *note_ctx;
} ebb_rehearse_opts;

/*
 * Rehearse on pg (a scratch database: it is changed): first bring it to from
 * (ebb_migrate_run; not part of the report), then for every revision on the
 * up path from there to `to`, in order: read the fingerprint, up one step,
 * run its verify script, count rows, down one step (unless irreversible by
 * design), compare the fingerprint with the one before the up, data checks
 * (row counts, FK orphans, user checks), up again, verify again. A failed
 * down leaves the copy at the revision, so the walk goes on; a failed up or
 * re-up leaves it below, so the walk stops and the rest is not run. A
 * `--to` below `from` is EBB_E_INVALID. Errors of the rehearsed scripts are
 * findings in the report, not errors of this function; those are setup
 * failures (bringing the copy to from) and lost connections. *out set only
 * on success; caller: ebb_rehearse_report_fini.
 */
EBB_MUSTCHECK ebb_code ebb_rehearse_walk(ebb_pg *pg, const ebb_graph *graph,
                                         const ebb_target *from, const ebb_target *to,
                                         const ebb_rehearse_opts *opts,
                                         ebb_rehearse_report *out, ebb_error *err);

#endif
