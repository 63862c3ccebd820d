/* `ebb-agent db`: option parsing, help, dispatch and the output helpers every db command shares. */
#include <getopt.h>
#include <stdarg.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli_db.h"
#include "agent/agent_config.h"
#include "agent/source.h"
#include "agent/source_alembic.h"
#include "common/exit_codes.h"

/* Options, as bits: each command says which it accepts. */
enum {
    O_DSN = 1 << 0, O_SOURCE = 1 << 1, O_KIND = 1 << 2, O_BACKUP_DIR = 1 << 3, O_TO = 1 << 4,
    O_DRY_RUN = 1 << 5, O_REASON = 1 << 6, O_OPERATOR = 1 << 7, O_RUN_ID = 1 << 8,
    O_NO_RESTORE = 1 << 9, O_DESCRIBE = 1 << 10, O_LIMIT = 1 << 11, O_RUN = 1 << 12,
    O_FORMAT = 1 << 13, O_COMPRESS = 1 << 14, O_JOBS = 1 << 15, O_KEEP = 1 << 16,
    O_PG_BIN = 1 << 17, O_LOCK_TIMEOUT = 1 << 18, O_STMT_TIMEOUT = 1 << 19,
    O_FROM = 1 << 20, O_KEEP_SCRATCH = 1 << 21, O_STRICT = 1 << 22,
    O_ACCEPT_LOSS = 1 << 23, O_ACCEPT_UNKNOWN = 1 << 24, O_PROBE_TIMEOUT = 1 << 25,
    O_ALEMBIC = 1 << 26, O_CONFIG = 1 << 27, O_DB = 1 << 28,
};

#define O_RISK (O_ACCEPT_LOSS | O_ACCEPT_UNKNOWN | O_PROBE_TIMEOUT)

#define O_WHO (O_REASON | O_OPERATOR | O_RUN_ID)
/* Addressing: accepted by every command so one set of arguments names a database everywhere. */
#define O_ADDR (O_DSN | O_SOURCE | O_KIND | O_BACKUP_DIR | O_CONFIG | O_DB)
#define O_SRC (O_SOURCE | O_KIND | O_ALEMBIC)
#define O_TIMEOUTS (O_LOCK_TIMEOUT | O_STMT_TIMEOUT)
#define O_BACKUP (O_BACKUP_DIR | O_FORMAT | O_COMPRESS | O_JOBS | O_KEEP | O_PG_BIN)

typedef struct command {
    const char *name;
    int (*run)(ebb_cli_db *c);
    unsigned opts;     /* accepted */
    unsigned required; /* must be given */
    int n_args;        /* positional arguments */
    const char *synopsis;
    const char *help;
} command;

static const command COMMANDS[] = {
    {"status", ebb_cli_db_cmd_status, O_DSN | O_SRC, O_DSN | O_SOURCE, 0, "",
     "Current revision, applied and pending revisions, and drift (the live schema\n"
     "differs from the fingerprint recorded for the current revision)."},
    {"history", ebb_cli_db_cmd_history, O_DSN | O_LIMIT | O_RUN, O_DSN, 0, "",
     "Events of ebb.events, oldest first (--limit N newest, --run RUN_ID one run)."},
    {"up", ebb_cli_db_cmd_up, O_DSN | O_SRC | O_TO | O_DRY_RUN | O_WHO | O_TIMEOUTS | O_RISK,
     O_DSN | O_SOURCE, 0, "",
     "Apply revisions up to --to TARGET (default: head), after the risk probes\n"
     "(see plan). Each step and its registry row commit together; the fingerprint\n"
     "is recorded after every step."},
    {"plan", ebb_cli_db_cmd_plan, O_DSN | O_SOURCE | O_KIND | O_TO | O_RISK, O_DSN | O_SOURCE, 0,
     "",
     "The path to --to TARGET (default: head) and its risk report: every risky\n"
     "statement with what read-only probes found (rows that would be lost, duplicates,\n"
     "NULLs, orphans, values that do not fit), and whether up/down would refuse it."},
    {"down", ebb_cli_db_cmd_down,
     O_DSN | O_SRC | O_TO | O_DRY_RUN | O_WHO | O_TIMEOUTS | O_NO_RESTORE | O_BACKUP | O_RISK,
     O_DSN | O_SOURCE | O_TO | O_BACKUP_DIR, 0, "",
     "Revert to --to TARGET (required). In order: lock; checksum validation; risk\n"
     "probes; row-count snapshot; backup; the down steps; fingerprint comparison; data\n"
     "checks. When a step or a check fails after something was committed, the\n"
     "backup is restored and checked (exit 6) unless --no-restore."},
    {"verify", ebb_cli_db_cmd_verify, O_DSN | O_SRC | O_WHO, O_DSN | O_SOURCE, 0, "",
     "Run the verify script of every applied revision, then compare the live\n"
     "fingerprint with the recorded one. Exit 5 when either fails."},
    {"fingerprint", ebb_cli_db_cmd_fingerprint, O_DSN | O_DESCRIBE, O_DSN, 0, "",
     "Print the schema fingerprint (BLAKE2b-256); --describe prints the canonical\n"
     "description it hashes."},
    {"backup", ebb_cli_db_cmd_backup, O_DSN | O_WHO | O_BACKUP, O_DSN | O_BACKUP_DIR, 0, "",
     "Take a verified backup (pg_dump, checksum, pg_restore --list, manifest),\n"
     "then keep only the newest --keep N backups of the database (0: all)."},
    {"backups", ebb_cli_db_cmd_backups, O_DSN | O_BACKUP_DIR, O_BACKUP_DIR, 0, "",
     "List backups (of the --dsn database, or all), newest first; a dump that is\n"
     "missing or whose checksum differs from its manifest is listed as damaged."},
    {"restore", ebb_cli_db_cmd_restore, O_DSN | O_SRC | O_WHO | O_BACKUP_DIR | O_PG_BIN,
     O_DSN | O_BACKUP_DIR, 1, " BACKUP_ID",
     "Restore a backup in one transaction (refused when its checksum differs from\n"
     "the manifest), then check the registry and the fingerprint against it. With\n"
     "--source of an Alembic project, alembic_version is stamped to the backup's heads."},
    {"rehearse", ebb_cli_db_cmd_rehearse,
     O_DSN | O_SRC | O_FROM | O_TO | O_KEEP_SCRATCH | O_STRICT | O_PG_BIN | O_WHO |
         O_TIMEOUTS,
     O_DSN | O_SOURCE, 0, "",
     "Rehearse every rollback of a range on a scratch copy of the database (the\n"
     "database itself is never changed): per revision up, down, up again, with the\n"
     "fingerprint after the down compared to the one before the up, verify scripts\n"
     "and data checks. --from (default: current; 'base': an empty database) to\n"
     "--to (default: head). Exit 1 when any rollback is broken (see docs/rehearse.md)."},
    {"stamp", ebb_cli_db_cmd_stamp, O_DSN | O_SRC | O_DRY_RUN | O_WHO,
     O_DSN | O_SOURCE | O_REASON, 1, " REVISION",
     "Record that the database is at REVISION without running any script (after a\n"
     "manual repair or an external restore), with a stamp event naming the operator\n"
     "and the reason. Refused for a revision the source does not know; warns when\n"
     "the live fingerprint differs from the one recorded for REVISION."},
};

static const struct {
    unsigned bit;
    const char *text;
} OPTION_HELP[] = {
    {O_CONFIG, "  --config FILE         agent configuration (with --db: the database's connection,\n"
               "                        source, timeouts and backup settings; options win)"},
    {O_DB, "  --db NAME             a database of --config"},
    {O_DSN, "  --dsn CONNINFO        libpq connection string (its password is never shown)"},
    {O_SOURCE, "  --source DIR          migration source directory"},
    {O_KIND, "  --kind KIND           golang-migrate, flyway, dbmate, diesel, sqitch, alembic\n"
             "                        (default: detect)"},
    {O_ALEMBIC, "  --alembic-env N=V     Alembic: add N=V to its environment (PYTHONPATH, ...;\n"
                "                        repeatable)\n"
                "  --alembic-python PATH Alembic: the Python that has alembic installed\n"
                "                        (default $EBB_ALEMBIC_PYTHON, else /usr/bin/python3)"},
    {O_BACKUP_DIR, "  --backup-dir DIR      backup directory"},
    {O_TO, "  --to TARGET           revision id, head, base, +N or -N; Sqitch: change, @tag,\n"
           "                        change@tag, @HEAD, @ROOT; Alembic: prefix, heads,\n"
           "                        BRANCH@head"},
    {O_DRY_RUN, "  --dry-run             print the path, scripts and checksums; change nothing"},
    {O_REASON, "  --reason TEXT         why (recorded in events and backups)"},
    {O_OPERATOR, "  --operator NAME       who (default: $USER)"},
    {O_RUN_ID, "  --run-id ID           run id (default: generated)"},
    {O_NO_RESTORE, "  --no-restore          on failure after commit, do not restore the backup"},
    {O_DESCRIBE, "  --describe            print the canonical schema description"},
    {O_LIMIT, "  --limit N             only the N newest events"},
    {O_RUN, "  --run RUN_ID          only the events of one run"},
    {O_FORMAT, "  --format FMT          custom (default) or directory"},
    {O_COMPRESS, "  --compress N          pg_dump compression level 0-9"},
    {O_JOBS, "  --jobs N              parallel pg_dump jobs (directory format)"},
    {O_KEEP, "  --keep N              keep the newest N backups of the database (0: all)"},
    {O_PG_BIN, "  --pg-bin DIR          directory of pg_dump/pg_restore"},
    {O_LOCK_TIMEOUT, "  --lock-timeout MS     lock_timeout for migration steps"},
    {O_STMT_TIMEOUT, "  --statement-timeout MS  statement_timeout for migration steps"},
    {O_FROM, "  --from TARGET         start of the range (default: the current revision; base:\n"
             "                        an empty scratch database)"},
    {O_KEEP_SCRATCH, "  --keep                keep the scratch database (its name is printed)"},
    {O_STRICT, "  --strict              count irreversible-by-design downs as broken"},
    {O_ACCEPT_LOSS, "  --accept-data-loss    go ahead although probes found data at risk (recorded)"},
    {O_ACCEPT_UNKNOWN, "  --accept-unknown      go ahead although statements cannot be analysed (recorded)"},
    {O_PROBE_TIMEOUT, "  --probe-timeout MS    statement_timeout of each risk probe (default 5000)"},
};

static const char EXIT_HELP[] =
    "Exit codes: 0 ok; 1 failed; 2 usage; 3 configuration; 4 refused before anything\n"
    "changed (lock held, checksum mismatch, data at risk); 5 verification failed; 6 failed after\n"
    "changes and restored from the backup; 7 database unavailable.\n";

static void usage_all(FILE *out)
{
    fprintf(out, "Usage: ebb-agent db COMMAND [OPTIONS] [--json]\n\n"
                 "Acts on one database directly, without a coordinator.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
        fprintf(out, "  %-12s %.*s\n", COMMANDS[i].name,
                (int)strcspn(COMMANDS[i].help, "\n"), COMMANDS[i].help);
    fprintf(out, "\nA database is named by --config FILE --db NAME (the agent configuration),\n"
                 "or ad hoc by --dsn, --source, --kind and --backup-dir. Every command takes\n"
                 "these addressing options and ignores those it does not need.\n"
                 "'ebb-agent db COMMAND --help' shows a command's options.\n%s",
            EXIT_HELP);
}

static void usage_command(const command *cmd, FILE *out)
{
    fprintf(out, "Usage: ebb-agent db %s [OPTIONS]%s\n\n%s\n\nOptions:\n", cmd->name,
            cmd->synopsis, cmd->help);
    for (size_t i = 0; i < sizeof(OPTION_HELP) / sizeof(OPTION_HELP[0]); i++)
        if ((cmd->opts | O_CONFIG | O_DB) & OPTION_HELP[i].bit)
            fprintf(out, "%s%s\n", OPTION_HELP[i].text,
                    (cmd->required & OPTION_HELP[i].bit) ? " (required unless --config/--db)"
                                                         : "");
    fprintf(out, "  --json                one JSON document on stdout\n"
                 "  --help                this help\n\n%s",
            EXIT_HELP);
}

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int usage_error(const char *cmd, const char *fmt, ...) EBB_PRINTF(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ebb-agent db%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try --help)\n");
    return EBB_EXIT_USAGE;
}

static void default_run_id(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, n, "run-%s-%08x", stamp, (unsigned)randombytes_random());
}

static const char *default_operator(void)
{
    const char *u = getenv("USER");
    if (u != NULL && u[0] != '\0')
        return u;
    struct passwd *pw = getpwuid(geteuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

/* Parse options into c; returns -1 to go on, else an exit code. */
/*
 * --config FILE --db NAME: take the database's addressing and settings from
 * the agent configuration (docs/configuration.md). Options given on the
 * command line win. Returns -1 to go on, or an exit code.
 */
static int apply_config(const command *cmd, ebb_cli_db *c, unsigned *given)
{
    ebb_error err;
    if (ebb_agent_config_load(c->config_path, &c->config, &err) != EBB_OK) {
        fprintf(stderr, "ebb-agent db %s: %s\n", cmd->name, err.msg);
        return EBB_EXIT_CONFIG;
    }
    const ebb_agent_db *db = ebb_agent_config_find_db(c->config, c->db_name);
    if (db == NULL) {
        fprintf(stderr, "ebb-agent db %s: %s has no database '%s' (it has:", cmd->name,
                c->config_path, c->db_name);
        for (size_t i = 0; i < c->config->n_dbs; i++)
            fprintf(stderr, " %s", c->config->dbs[i].name);
        fprintf(stderr, ")\n");
        return EBB_EXIT_CONFIG;
    }
    if (!(*given & O_DSN))
        c->dsn = db->conninfo;
    if (!(*given & O_SOURCE))
        c->source = db->source_dir;
    if (!(*given & O_KIND))
        c->kind = db->source_kind;
    if (!(*given & O_LOCK_TIMEOUT))
        c->lock_timeout_ms = db->lock_timeout_ms;
    if (!(*given & O_STMT_TIMEOUT))
        c->statement_timeout_ms = db->statement_timeout_ms;
    *given |= O_DSN | O_SOURCE | O_KIND;
    if (db->has_backup) {
        if (!(*given & O_BACKUP_DIR))
            c->backup_dir = db->backup.dir;
        if (!(*given & O_FORMAT))
            c->format = db->backup.format;
        if (!(*given & O_COMPRESS))
            c->compress = db->backup.compression;
        if (!(*given & O_JOBS))
            c->jobs = db->backup.jobs > 0 ? db->backup.jobs : 1;
        if (!(*given & O_KEEP))
            c->keep = (long)db->backup.retention;
        *given |= O_BACKUP_DIR;
    }
    return -1;
}

static int parse_options(const command *cmd, int argc, char **argv, ebb_cli_db *c)
{
    enum { L_BASE = 256 };
    static const struct option longopts[] = {
        {"dsn", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'B'},
        {"source", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"backup-dir", required_argument, NULL, 'b'},
        {"to", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {"reason", required_argument, NULL, 'r'},
        {"operator", required_argument, NULL, 'o'},
        {"run-id", required_argument, NULL, 'R'},
        {"no-restore", no_argument, NULL, 'N'},
        {"describe", no_argument, NULL, 'D'},
        {"limit", required_argument, NULL, 'l'},
        {"run", required_argument, NULL, 'u'},
        {"format", required_argument, NULL, 'f'},
        {"compress", required_argument, NULL, 'Z'},
        {"jobs", required_argument, NULL, 'j'},
        {"keep", required_argument, NULL, 'K'},
        {"pg-bin", required_argument, NULL, 'p'},
        {"lock-timeout", required_argument, NULL, 'L'},
        {"statement-timeout", required_argument, NULL, 'S'},
        {"from", required_argument, NULL, 'F'},
        {"strict", no_argument, NULL, 'X'},
        {"accept-data-loss", no_argument, NULL, 'A'},
        {"accept-unknown", no_argument, NULL, 'U'},
        {"probe-timeout", required_argument, NULL, 'P'},
        {"alembic-env", required_argument, NULL, 'e'},
        {"alembic-python", required_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int ch;
        unsigned bit;
    } bits[] = {{'d', O_DSN},        {'s', O_SOURCE},      {'k', O_KIND},    {'b', O_BACKUP_DIR},
                {'t', O_TO},         {'n', O_DRY_RUN},     {'r', O_REASON},  {'o', O_OPERATOR},
                {'R', O_RUN_ID},     {'N', O_NO_RESTORE},  {'D', O_DESCRIBE}, {'l', O_LIMIT},
                {'u', O_RUN},        {'f', O_FORMAT},      {'Z', O_COMPRESS}, {'j', O_JOBS},
                {'K', O_KEEP},       {'p', O_PG_BIN},      {'L', O_LOCK_TIMEOUT},
                {'S', O_STMT_TIMEOUT}, {'F', O_FROM},       {'E', O_KEEP_SCRATCH},
                {'X', O_STRICT},
                {'A', O_ACCEPT_LOSS}, {'U', O_ACCEPT_UNKNOWN}, {'P', O_PROBE_TIMEOUT},
                {'e', O_ALEMBIC},     {'y', O_ALEMBIC},        {'c', O_CONFIG},
                {'B', O_DB}};
    /* --keep is a count for backups and a flag for rehearse (keep the scratch database). */
    struct option lo[sizeof(longopts) / sizeof(longopts[0])];
    memcpy(lo, longopts, sizeof(lo));
    for (size_t i = 0; (cmd->opts & O_KEEP_SCRATCH) && lo[i].name != NULL; i++)
        if (strcmp(lo[i].name, "keep") == 0) {
            lo[i].has_arg = no_argument;
            lo[i].val = 'E';
        }
    unsigned given = 0;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        if (ch == 'h') {
            usage_command(cmd, stdout);
            return EBB_EXIT_OK;
        }
        if (ch == '?')
            return usage_error(cmd->name, "unknown option '%s'", argv[optind - 1]);
        if (ch == ':')
            return usage_error(cmd->name, "option '%s' needs a value", argv[optind - 1]);
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
            if (bits[i].ch == ch)
                bit = bits[i].bit;
        if (bit != 0 && !(cmd->opts & bit) && !(bit & O_ADDR)) {
            /* Name the option, not its value (argv[optind - 1] may be the value). */
            const char *name = "?";
            for (const struct option *o = lo; o->name != NULL; o++)
                if (o->val == ch)
                    name = o->name;
            return usage_error(cmd->name, "option '--%s' does not apply to this command", name);
        }
        given |= bit;
        long v = 0;
        ebb_error err;
        switch (ch) {
        case 'd': c->dsn = optarg; break;
        case 's': c->source = optarg; break;
        case 'k':
            c->kind = ebb_source_kind_parse(optarg);
            if (c->kind == EBB_SOURCE_UNKNOWN && strcmp(optarg, "auto") != 0)
                return usage_error(cmd->name, "unknown source kind '%s'", optarg);
            break;
        case 'b': c->backup_dir = optarg; break;
        case 't': c->to = optarg; break;
        case 'n': c->dry_run = true; break;
        case 'r': c->reason = optarg; break;
        case 'o': c->operator_name = optarg; break;
        case 'R':
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(c->run_id))
                return usage_error(cmd->name, "run id '%s' is empty or too long", optarg);
            snprintf(c->run_id, sizeof(c->run_id), "%s", optarg);
            break;
        case 'N': c->no_restore = true; break;
        case 'D': c->describe = true; break;
        case 'u': c->run_filter = optarg; break;
        case 'p': c->pg_bin_dir = optarg; break;
        case 'J': c->json = true; break;
        case 'F': c->from = optarg; break;
        case 'E': c->keep_scratch = true; break;
        case 'X': c->strict = true; break;
        case 'A': c->accept_data_loss = true; break;
        case 'U': c->accept_unknown = true; break;
        case 'e':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                return usage_error(cmd->name, "--alembic-env takes NAME=VALUE, not '%s'", optarg);
            if (c->n_alembic_env + 1 >= sizeof(c->alembic_env) / sizeof(c->alembic_env[0]))
                return usage_error(cmd->name, "too many --alembic-env options");
            c->alembic_env[c->n_alembic_env++] = optarg;
            break;
        case 'y': c->alembic_python = optarg; break;
        case 'c': c->config_path = optarg; break;
        case 'B': c->db_name = optarg; break;
        case 'f':
            if (ebb_backup_format_parse(optarg, &c->format, &err) != EBB_OK)
                return usage_error(cmd->name, "%s", err.msg);
            break;
        case 'l':
        case 'Z':
        case 'j':
        case 'K':
        case 'L':
        case 'P':
        case 'S': {
            long max = ch == 'Z' ? 9 : ch == 'j' ? 64 : 100000000L;
            if (!parse_long(optarg, ch == 'j' ? 1 : 0, max, &v))
                return usage_error(cmd->name, "'%s' is not a valid number here", optarg);
            if (ch == 'l')
                c->limit = v;
            else if (ch == 'Z')
                c->compress = (int)v;
            else if (ch == 'j')
                c->jobs = (int)v;
            else if (ch == 'K')
                c->keep = v;
            else if (ch == 'L')
                c->lock_timeout_ms = v;
            else if (ch == 'P')
                c->probe_timeout_ms = v;
            else
                c->statement_timeout_ms = v;
            break;
        }
        default:
            return usage_error(cmd->name, "cannot parse '%s'", argv[optind - 1]);
        }
    }
    if ((given & O_CONFIG) != (given & O_DB ? O_CONFIG : 0u))
        return usage_error(cmd->name, "--config and --db go together");
    if (given & O_CONFIG) {
        int rc = apply_config(cmd, c, &given);
        if (rc >= 0)
            return rc;
    }
    unsigned missing = cmd->required & ~given;
    if (c->dry_run)
        missing &= ~O_BACKUP_DIR; /* a dry run takes no backup */
    for (size_t i = 0; i < sizeof(OPTION_HELP) / sizeof(OPTION_HELP[0]); i++)
        if (missing & OPTION_HELP[i].bit) {
            char name[32];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(OPTION_HELP[i].text + 2, " "),
                     OPTION_HELP[i].text + 2);
            if (OPTION_HELP[i].bit == O_TO)
                return usage_error(cmd->name, "%s is required (use '--to base' to revert "
                                              "everything)", name);
            return usage_error(cmd->name, "%s is required", name);
        }
    c->args = argv + optind;
    c->n_args = argc - optind;
    if (c->n_args != cmd->n_args)
        return usage_error(cmd->name, "expects%s", cmd->n_args ? cmd->synopsis : " no arguments");
    if (c->run_id[0] == '\0')
        default_run_id(c->run_id, sizeof(c->run_id));
    if (c->operator_name == NULL)
        c->operator_name = default_operator();
    return -1;
}

int ebb_cli_db_main(int argc, char **argv)
{
    if (argc < 2) {
        usage_all(stderr);
        return EBB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage_all(stdout);
        return EBB_EXIT_OK;
    }
    const command *cmd = NULL;
    for (size_t i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            cmd = &COMMANDS[i];
    if (cmd == NULL)
        return usage_error(NULL, "unknown command '%s'", argv[1]);
    if (sodium_init() < 0) {
        fprintf(stderr, "ebb-agent db: libsodium cannot be initialised\n");
        return EBB_EXIT_FAILURE;
    }
    ebb_cli_db c;
    memset(&c, 0, sizeof(c));
    c.command = cmd->name;
    c.compress = -1;
    c.jobs = 1;
    int rc = parse_options(cmd, argc - 1, argv + 1, &c);
    if (rc >= 0)
        return rc;
    rc = cmd->run(&c);
    ebb_pg_close(c.pg);
    if (c.have_graph)
        ebb_graph_fini(&c.graph);
    free(c.risk_details);
    free(c.alembic_ini);
    ebb_agent_config_free(c.config);
    return rc;
}

/* ---- shared helpers ---- */

ebb_code ebb_cli_db_connect(ebb_cli_db *c, ebb_error *err)
{
    if (c->pg != NULL)
        return EBB_OK;
    return ebb_pg_connect(c->dsn, "ebb-agent", &c->pg, err);
}

ebb_code ebb_cli_db_load_source(ebb_cli_db *c, ebb_error *err)
{
    if (c->have_graph)
        return EBB_OK;
    ebb_source_kind kind = c->kind;
    ebb_code rc = kind == EBB_SOURCE_UNKNOWN ? ebb_source_detect(c->source, &kind, err) : EBB_OK;
    if (rc != EBB_OK)
        return rc;
    if (kind == EBB_SOURCE_ALEMBIC) {
        size_t n = strlen(c->source) + sizeof("/alembic.ini");
        if (c->alembic_ini == NULL && (c->alembic_ini = malloc(n)) == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        snprintf(c->alembic_ini, n, "%s/alembic.ini", c->source);
        memset(&c->alembic, 0, sizeof(c->alembic));
        c->alembic.ini = c->alembic_ini;
        c->alembic.python = c->alembic_python;
        c->alembic.dsn = c->dsn;
        c->alembic.env = c->alembic_env; /* NULL-terminated: the array is zeroed */
        rc = ebb_source_load_alembic(c->source, &c->alembic, &c->graph, err);
    } else {
        rc = ebb_source_load(c->source, kind, &c->graph, err);
    }
    if (rc == EBB_OK)
        c->have_graph = true;
    return rc;
}

int ebb_cli_db_fail(ebb_cli_db *c, const ebb_error *err, int exit_code, json_t *extra)
{
    if (c->json) {
        json_t *doc = extra ? extra : json_object();
        json_t *e = json_pack("{s:s, s:s}", "code", ebb_code_name(err->code), "message",
                              err->msg);
        if (err->sqlstate[0] != '\0')
            json_object_set_new(e, "sqlstate", json_string(err->sqlstate));
        json_object_set_new(doc, "ok", json_false());
        json_object_set_new(doc, "command", json_string(c->command));
        json_object_set_new(doc, "error", e);
        json_object_set_new(doc, "exit_code", json_integer(exit_code));
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        fprintf(stderr, "ebb-agent db %s: %s\n", c->command, err->msg);
        json_decref(extra);
    }
    fflush(stdout);
    return exit_code;
}

void ebb_cli_db_emit(ebb_cli_db *c, json_t *doc)
{
    if (c->json && doc != NULL) {
        json_object_set_new(doc, "ok", json_true());
        json_object_set_new(doc, "command", json_string(c->command));
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        fflush(stdout);
    }
    json_decref(doc);
}

ebb_run_info ebb_cli_db_run_info(const ebb_cli_db *c)
{
    ebb_run_info r = {.run_id = c->run_id, .operator_name = c->operator_name, .reason = c->reason};
    return r;
}

void ebb_cli_db_event(ebb_cli_db *c, ebb_event_kind kind, const char *revision,
                      const ebb_error *failure, json_t *details)
{
    char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(details);
    bool exists = false;
    ebb_error err;
    ebb_error_clear(&err);
    if (c->pg == NULL || ebb_registry_exists(c->pg, &exists, &err) != EBB_OK || !exists) {
        free(text);
        return; /* no registry: nothing to append to (and nothing to create one for) */
    }
    ebb_run_info run = ebb_cli_db_run_info(c);
    ebb_event ev = {.kind = kind,
                    .revision = revision,
                    .run = &run,
                    .sqlstate = failure && failure->sqlstate[0] ? failure->sqlstate : NULL,
                    .error = failure ? failure->msg : NULL,
                    .details = text};
    if (ebb_registry_event_add(c->pg, &ev, &err) != EBB_OK)
        fprintf(stderr, "ebb-agent db %s: could not record the %s event: %s\n", c->command,
                ebb_event_kind_name(kind), err.msg);
    free(text);
}

static void on_backup_progress(void *ctx, const char *phase, uint64_t bytes, const char *line)
{
    (void)ctx;
    if (strcmp(phase, "restore") == 0)
        fprintf(stderr, "restore: %s\n", line ? line : "");
    else
        fprintf(stderr, "backup %s: %.1f MiB%s%s\n", phase, (double)bytes / (1024.0 * 1024.0),
                line ? " - " : "", line ? line : "");
}

void ebb_cli_db_backup_opts(ebb_cli_db *c, ebb_backup_opts *out)
{
    memset(out, 0, sizeof(*out));
    out->conninfo = c->dsn;
    out->backup_dir = c->backup_dir;
    out->format = c->format;
    out->compression = c->compress;
    out->jobs = c->jobs;
    out->pg_bin_dir = c->pg_bin_dir;
    out->progress = on_backup_progress;
    out->progress_ctx = c;
}

json_t *ebb_cli_db_manifest_json(const ebb_backup_manifest *m)
{
    char *text = NULL;
    if (ebb_backup_manifest_to_json(m, &text, NULL) != EBB_OK)
        return json_object();
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    return doc ? doc : json_object();
}

json_t *ebb_cli_db_diff_json(const ebb_fp_diff *d)
{
    json_t *arr = json_array();
    static const char *const kinds[] = {"added", "removed", "changed"};
    for (size_t i = 0; i < d->count; i++) {
        const ebb_fp_change *ch = &d->changes[i];
        json_t *exp = json_array(), *act = json_array();
        for (size_t j = 0; j < ch->n_expected; j++)
            json_array_append_new(exp, json_string(ch->expected[j]));
        for (size_t j = 0; j < ch->n_actual; j++)
            json_array_append_new(act, json_string(ch->actual[j]));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o}", "change", kinds[ch->kind],
                                             "object", ch->object, "expected", exp, "actual",
                                             act));
    }
    return arr;
}
