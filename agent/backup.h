/* Database backups with pg_dump: take, verify, list, prune and restore, each described by a JSON manifest. */
#ifndef EBB_AGENT_BACKUP_H
#define EBB_AGENT_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

/*
 * A backup is two entries in the backup directory:
 *
 *     <id>.dump            pg_dump custom format (or <id>.dir/, directory format)
 *     <id>.manifest.json   what it holds, written last and atomically
 *
 * The manifest is only written after the dump is complete and `pg_restore
 * --list` has read it back, so a manifest never names a partial dump. A dump
 * without a manifest is an interrupted backup and is never listed.
 *
 * Credentials: pg_dump and pg_restore never see the connection string on
 * their command line (argv is visible in ps). The connection string is
 * parsed with PQconninfoParse and every option is handed to the child in
 * its libpq environment variable (PGHOST, PGPORT, PGUSER, PGDATABASE,
 * PGSERVICE, PGSSLMODE, ...); the password goes into a temporary passfile
 * (mode 0600, removed afterwards) named by PGPASSFILE, so it appears neither
 * in argv nor in the environment. Options libpq has no variable for are
 * either harmless for a dump (keepalives*, tcp_user_timeout,
 * fallback_application_name: dropped) or refused (sslpassword, replication).
 */

#define EBB_BACKUP_MANIFEST_VERSION 1
#define EBB_BACKUP_ID_MAX 128
#define EBB_BACKUP_CHECKSUM_HEX 65 /* BLAKE2b-256 as lowercase hex + NUL */

typedef enum ebb_backup_format {
    EBB_BACKUP_CUSTOM = 0, /* pg_dump -Fc, one file, -Z compression */
    EBB_BACKUP_DIRECTORY,  /* pg_dump -Fd, one file per table, -j parallel jobs */
} ebb_backup_format;

/* "custom" / "directory". */
const char *ebb_backup_format_name(ebb_backup_format format);
EBB_MUSTCHECK ebb_code ebb_backup_format_parse(const char *name, ebb_backup_format *out,
                                               ebb_error *err);

/* Everything known about one backup. All strings owned; ebb_backup_manifest_fini frees. */
typedef struct ebb_backup_manifest {
    int version;            /* EBB_BACKUP_MANIFEST_VERSION */
    char *id;
    char *database;         /* current_database() at backup time */
    char *server_version;   /* server_version of the server, "15.4" */
    char **revisions;       /* applied revisions at backup time, registry order */
    size_t n_revisions;
    char *fingerprint;      /* schema fingerprint hex at backup time ("" if unknown) */
    char *run_id;
    char *operator_name;
    char *reason;
    char *created_at;       /* UTC, "2024-05-01T12:00:00Z" */
    ebb_backup_format format;
    char *file;             /* dump name relative to the backup directory */
    int compression;        /* -Z level used, -1 for pg_dump's default */
    int jobs;               /* -j used (directory format), 1 otherwise */
    uint64_t size_bytes;    /* bytes of the dump (sum of files for a directory) */
    char checksum[EBB_BACKUP_CHECKSUM_HEX]; /* BLAKE2b-256 hex, see ebb_backup_checksum */
    char *pg_dump_version;  /* first line of `pg_dump --version` */
    bool verified;          /* pg_restore --list read the dump */
} ebb_backup_manifest;

void ebb_backup_manifest_fini(ebb_backup_manifest *m);

/* ---- Pure parts (no I/O) ---- */

/*
 * Serialise m as one JSON object (sorted keys, indented, trailing newline).
 * *out is malloc'd (caller frees), set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_backup_manifest_to_json(const ebb_backup_manifest *m, char **out,
                                                   ebb_error *err);

/*
 * Parse a manifest; name is used in messages (the file). Unknown keys are
 * ignored; a missing or mistyped required key is EBB_E_INVALID naming it.
 * *out is set only on success and owned by the caller.
 */
EBB_MUSTCHECK ebb_code ebb_backup_manifest_from_json(const char *text, const char *name,
                                                     ebb_backup_manifest *out, ebb_error *err);

/*
 * A backup id "<YYYYMMDDTHHMMSSZ>-<database>-<8 hex>" from the UTC time now,
 * the database name (characters other than [A-Za-z0-9_] become '_', cut to
 * 63) and a random value, into out (size n).
 */
EBB_MUSTCHECK ebb_code ebb_backup_id_make(time_t now, const char *database, uint32_t random,
                                          char *out, size_t n, ebb_error *err);

/* True when id has the shape ebb_backup_id_make gives (safe as a file name). */
bool ebb_backup_id_valid(const char *id);

/*
 * Retention: which of items (any order) to delete so that keep backups of
 * database remain: protect_id (may be NULL; the one just taken) always,
 * then the newest others (newest = latest created_at, then the greater id)
 * in the remaining slots. keep == 0 deletes nothing. Backups of other
 * databases are never selected. *out_idx is a malloc'd array of
 * indices into items (NULL when *n_out is 0); set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_backup_retention_select(const ebb_backup_manifest *items, size_t n,
                                                   const char *database, size_t keep,
                                                   const char *protect_id, size_t **out_idx,
                                                   size_t *n_out, ebb_error *err);

/* ---- Operations on a database and a backup directory ---- */

/*
 * Progress of a dump or restore: phase is "dump", "verify" or "restore";
 * bytes the dump's size so far (0 for restore); line the last line the
 * tool printed (may be NULL). Called from the caller's thread.
 */
typedef void (*ebb_backup_progress_fn)(void *ctx, const char *phase, uint64_t bytes,
                                       const char *line);

typedef struct ebb_backup_opts {
    const char *conninfo;     /* borrowed; never logged or put in argv */
    const char *backup_dir;   /* created (0700) when missing */
    ebb_backup_format format;
    int compression;          /* -Z 0..9; < 0: pg_dump's default */
    int jobs;                 /* -j for the directory format; <= 1: one */
    /* Directory holding pg_dump / pg_restore. NULL: the Debian directory
     * of the server's major version (/usr/lib/postgresql/<major>/bin) when
     * it exists, else PATH. */
    const char *pg_bin_dir;
    int timeout_ms;           /* per child program; <= 0: none */
    ebb_backup_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} ebb_backup_opts;

/* What the caller knows about the database at backup time (all borrowed, may be NULL). */
typedef struct ebb_backup_info {
    const char *const *revisions;
    size_t n_revisions;
    const char *fingerprint;
    const char *run_id;
    const char *operator_name;
    const char *reason;
} ebb_backup_info;

/*
 * Take a backup: pg_dump, checksum, `pg_restore --list`, then the manifest
 * (atomically). now names and dates it. A dump pg_restore cannot read is
 * removed and the result is EBB_E_VERIFY; any other failure also removes
 * what was written. *out (the manifest written) is set only on success and
 * owned by the caller.
 */
EBB_MUSTCHECK ebb_code ebb_backup_take(const ebb_backup_opts *opts, const ebb_backup_info *info,
                                       time_t now, ebb_backup_manifest *out, ebb_error *err);

/* Read <dir>/<id>.manifest.json. EBB_E_NOT_FOUND when there is none. */
EBB_MUSTCHECK ebb_code ebb_backup_load(const char *dir, const char *id,
                                       ebb_backup_manifest *out, ebb_error *err);

/*
 * BLAKE2b-256 hex and size of a dump: of the file, or for a directory of
 * the text "<name> <hex>\n" for every file in name order (and the sum of
 * their sizes). Out-parameters set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_backup_checksum(const char *path, ebb_backup_format format,
                                           char hex[EBB_BACKUP_CHECKSUM_HEX], uint64_t *size,
                                           ebb_error *err);

/*
 * The dump named by m exists and has the manifest's checksum: EBB_OK, else
 * EBB_E_NOT_FOUND (dump missing) or EBB_E_CHECKSUM naming both checksums.
 */
EBB_MUSTCHECK ebb_code ebb_backup_check(const char *dir, const ebb_backup_manifest *m,
                                        ebb_error *err);

typedef struct ebb_backup_entry {
    ebb_backup_manifest manifest;
    bool damaged;       /* dump missing or checksum differs */
    char problem[512];  /* why, when damaged */
} ebb_backup_entry;

/*
 * Every backup in dir (of database, or all when NULL), newest first. A
 * manifest that cannot be read is skipped; with deep, each dump's checksum
 * is recomputed (else only its presence is checked). *out is malloc'd
 * (ebb_backup_list_free), set only on success. A missing dir is an empty list.
 */
EBB_MUSTCHECK ebb_code ebb_backup_list(const char *dir, const char *database, bool deep,
                                       ebb_backup_entry **out, size_t *n_out, ebb_error *err);
void ebb_backup_list_free(ebb_backup_entry *entries, size_t n);

/*
 * Apply retention in dir: delete all but the newest keep backups of
 * database, never protect_id. Each deleted backup loses its manifest first,
 * then its dump. *n_removed (may be NULL) gets the count.
 */
EBB_MUSTCHECK ebb_code ebb_backup_prune(const char *dir, const char *database, size_t keep,
                                        const char *protect_id, size_t *n_removed,
                                        ebb_error *err);

/* The time (UTC) in a backup id's stamp. *out set only on success; EBB_E_INVALID otherwise. */
EBB_MUSTCHECK ebb_code ebb_backup_id_time(const char *id, time_t *out, ebb_error *err);

/*
 * Remove what interrupted backups left in dir: dumps (<id>.dump, <id>.dir)
 * and temporary manifests (<id>.manifest.json.tmp) without a manifest,
 * whose id was made between since and until (Unix seconds, inclusive).
 * Only for a window in which every backup that wrote there is known to be
 * dead (the job executor's crash recovery): a backup still running has no
 * manifest yet either. *removed gets a malloc'd array of the *n_removed
 * backup ids removed (each and the array freed by the caller; NULL when
 * none); set only on success. A missing dir removes nothing.
 */
EBB_MUSTCHECK ebb_code ebb_backup_remove_orphans(const char *dir, time_t since, time_t until,
                                                 char ***removed, size_t *n_removed,
                                                 ebb_error *err);

/*
 * Called after pg_restore succeeded, to check the database against the
 * manifest (registry revisions, fingerprint). Its error becomes the result.
 */
typedef ebb_code (*ebb_backup_verify_fn)(void *ctx, const ebb_backup_manifest *m,
                                         ebb_error *err);

/*
 * Restore backup id from opts->backup_dir into the database of
 * opts->conninfo: refuses a dump whose checksum differs from its manifest
 * (EBB_E_CHECKSUM) and a backup of another database (EBB_E_REFUSED); then
 * `pg_restore --clean --if-exists --single-transaction --exit-on-error
 * --no-owner`, so the restore is all or nothing. When the database has a
 * registry, only ebb.applied of the schema ebb is restored: the histories
 * (ebb.events, ebb.fingerprints) keep what happened since the backup. Then
 * verify(ctx, manifest) when verify is not NULL. *out (may be NULL) gets
 * the manifest on success (caller owns it).
 */
EBB_MUSTCHECK ebb_code ebb_backup_restore(const ebb_backup_opts *opts, const char *id,
                                          ebb_backup_verify_fn verify, void *verify_ctx,
                                          ebb_backup_manifest *out, ebb_error *err);

#endif
