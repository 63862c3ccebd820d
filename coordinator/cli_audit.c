/* `ebb audit` (rollback history: table, JSON, CSV) and `ebb audit verify`: through the coordinator,
 * or offline over a journal file. */
#define _XOPEN_SOURCE 700 /* strptime */
#include "coordinator/cli_audit.h"

#include <getopt.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "common/exit_codes.h"
#include "common/keys.h"
#include "coordinator/audit.h"
#include "coordinator/cli_client.h"
#include "coordinator/opapi.h"

static void audit_usage(FILE *f)
{
    fprintf(f, "Usage: ebb audit [FILTERS] [--json | --csv]\n"
               "       ebb audit verify [--anchor SEQ:HASH] [--json]\n"
               "       ebb audit --journal PATH [--pubkey FILE] [FILTERS] [--json | --csv]\n"
               "       ebb audit verify --journal PATH (--pubkey FILE | --no-signatures)\n"
               "                        [--anchor SEQ:HASH] [--json]\n"
               "\n"
               "Rollback history from the coordinator's audit journal, one row per run:\n"
               "date, time (UTC), performed by, reason, method, outcome, hosts. Without\n"
               "--journal the coordinator is asked (it verifies its journal while reading\n"
               "it); with --journal a copy of the file is read offline and verified here.\n"
               "A damaged journal is refused, naming the first bad record.\n"
               "\n"
               "  --journal PATH      read this journal file offline instead\n"
               "  --pubkey FILE       the coordinator's public key file: every record must be\n"
               "                      signed by it (without it only the hash chain is checked)\n"
               "  --since TIME        runs started at or after TIME (UTC: 2024-05-01,\n"
               "                      2024-05-01T09:00:00Z or \"2024-05-01 09:00:00\")\n"
               "  --until TIME        runs started before TIME (a bare date includes that day)\n"
               "  --env NAME          runs in this environment\n"
               "  --host ID           runs that selected or touched this host (agent id)\n"
               "  --database NAME     runs that touched this database\n"
               "  --operator ID       runs requested, approved, halted, resumed or aborted by\n"
               "                      this operator (key id or name)\n"
               "  --outcome O         succeeded, failed, aborted, compensated, running, halted\n"
               "  --run ID            one run\n"
               "  --json              array of runs, each with its records\n"
               "  --csv               CSV (RFC 4180)\n"
               "\n"
               "verify checks the hash chain, that every line is in canonical form, and every\n"
               "signature (the coordinator's own key; offline: --pubkey). It prints the head\n"
               "SEQ:HASH; pass it later as --anchor to also detect records cut off the end.\n"
               "--no-signatures (offline) checks the chain only.\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb audit --env prod --since 2024-05-01\n"
               "  ebb audit --outcome compensated --csv > compensated.csv\n"
               "  ebb audit verify --anchor 1842:9f2c...\n"
               "  ebb audit verify --journal /backup/coordinator.journal --pubkey coord.pub\n"
               "\n"
               "Exit codes: 0 verified / ok, 5 does not verify, 1 unreadable, 2 usage,\n"
               "3 key/config, 4 refused, 7 coordinator unreachable.\n");
}

#define usage_error(errout, ...) ebb_cli_usage_error(errout, "audit", __VA_ARGS__)

static int fail(FILE *errout, const ebb_error *err)
{
    fprintf(errout, "ebb audit: %s\n", err->msg);
    return ebb_exit_for_code(err->code);
}

/* UTC time in one of the documented forms; *date_only says a bare date was given. */
static bool parse_time(const char *s, int64_t *ms, bool *date_only)
{
    static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
                                        "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, forms[i], &tm);
        if (end != NULL && *end == '\0') {
            *ms = (int64_t)timegm(&tm) * 1000;
            *date_only = i == 3;
            return true;
        }
    }
    return false;
}

typedef struct audit_args {
    const char *journal;
    const char *pubkey;
    const char *anchor;
    bool no_signatures;
    bool json;
    bool csv;
    ebb_audit_filter filter;
    ebb_cli_conn_args conn; /* without --journal: the coordinator */
} audit_args;

enum {
    OPT_JOURNAL = 256,
    OPT_PUBKEY,
    OPT_NOSIG,
    OPT_ANCHOR,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_ENV,
    OPT_HOST,
    OPT_DB,
    OPT_OPERATOR,
    OPT_OUTCOME,
    OPT_RUN,
    OPT_JSON,
    OPT_CSV,
};

/* Parse options; returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, bool verify, audit_args *a, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"pubkey", required_argument, NULL, OPT_PUBKEY},
        {"no-signatures", no_argument, NULL, OPT_NOSIG},
        {"anchor", required_argument, NULL, OPT_ANCHOR},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"env", required_argument, NULL, OPT_ENV},
        {"host", required_argument, NULL, OPT_HOST},
        {"database", required_argument, NULL, OPT_DB},
        {"operator", required_argument, NULL, OPT_OPERATOR},
        {"outcome", required_argument, NULL, OPT_OUTCOME},
        {"run", required_argument, NULL, OPT_RUN},
        {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    bool date_only = false;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool filter_opt = c >= OPT_SINCE && c <= OPT_RUN;
        if (verify && (filter_opt || c == OPT_CSV))
            return usage_error(errout, "'%s' is not an option of audit verify", argv[optind - 1]);
        if (!verify && (c == OPT_NOSIG || c == OPT_ANCHOR))
            return usage_error(errout, "'%s' is an option of audit verify", argv[optind - 1]);
        switch (c) {
        case OPT_JOURNAL:
            a->journal = optarg;
            break;
        case OPT_PUBKEY:
            a->pubkey = optarg;
            break;
        case OPT_NOSIG:
            a->no_signatures = true;
            break;
        case OPT_ANCHOR:
            a->anchor = optarg;
            break;
        case OPT_SINCE:
            if (!parse_time(optarg, &a->filter.since_ms, &date_only))
                return usage_error(errout, "--since '%s' is not a UTC date or time", optarg);
            break;
        case OPT_UNTIL:
            if (!parse_time(optarg, &a->filter.until_ms, &date_only))
                return usage_error(errout, "--until '%s' is not a UTC date or time", optarg);
            if (date_only)
                a->filter.until_ms += 86400000LL; /* the whole day */
            break;
        case OPT_ENV:
            a->filter.environment = optarg;
            break;
        case OPT_HOST:
            a->filter.host = optarg;
            break;
        case OPT_DB:
            a->filter.database = optarg;
            break;
        case OPT_OPERATOR:
            a->filter.operator_id = optarg;
            break;
        case OPT_OUTCOME:
            a->filter.outcome = optarg;
            break;
        case OPT_RUN:
            a->filter.run_id = optarg;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_CSV:
            a->csv = true;
            break;
        case 'h':
            audit_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&a->conn, c, optarg))
                return usage_error(errout, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(errout, "unexpected argument '%s'", argv[optind]);
    if (a->journal != NULL && a->journal[0] == '\0')
        return usage_error(errout, "--journal needs a PATH");
    bool remote = a->journal == NULL;
    if (remote && (a->pubkey != NULL || a->no_signatures))
        return usage_error(errout, "--pubkey and --no-signatures are for --journal (offline); "
                                   "the coordinator checks its journal with its own key");
    if (!remote && (a->conn.coordinator || a->conn.key_file || a->conn.coordinator_key ||
                    a->conn.state_dir || a->conn.timeout))
        return usage_error(errout, "--journal reads a file offline: no connection options");
    if (a->json && a->csv)
        return usage_error(errout, "--json and --csv exclude each other");
    if (verify && !remote && a->pubkey == NULL && !a->no_signatures)
        return usage_error(errout, "audit verify needs --pubkey FILE (or --no-signatures)");
    if (a->pubkey != NULL && a->no_signatures)
        return usage_error(errout, "--pubkey and --no-signatures exclude each other");
    return -1;
}

static int run_verify(const audit_args *a, const ebb_public_key *pk, FILE *out, FILE *errout)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_journal_anchor anchor;
    if (a->anchor != NULL && ebb_journal_anchor_parse(a->anchor, &anchor, &err) != EBB_OK)
        return fail(errout, &err);
    ebb_audit_verify_report rep;
    ebb_code rc = ebb_audit_verify(a->journal, pk, a->anchor ? &anchor : NULL, &rep, &err);
    if (rc != EBB_OK && rc != EBB_E_VERIFY)
        return fail(errout, &err);
    if (a->json) {
        json_t *o = ebb_audit_verify_report_json(&rep);
        if (o != NULL)
            json_object_set_new(o, "journal", json_string(a->journal));
        if (o == NULL || json_dumpf(o, out, JSON_INDENT(2)) != 0) {
            json_decref(o);
            fprintf(errout, "ebb audit verify: writing the JSON report failed\n");
            return EBB_EXIT_FAILURE;
        }
        fputc('\n', out);
        json_decref(o);
    } else {
        ebb_audit_verify_report_print(&rep, a->journal, out);
    }
    if (rc != EBB_OK) {
        fprintf(errout, "ebb audit verify: %s\n", err.msg);
        return ebb_exit_for_code(rc);
    }
    return EBB_EXIT_OK;
}

static int run_query(const audit_args *a, const ebb_public_key *pk, FILE *out, FILE *errout)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_audit_history *h = ebb_audit_history_alloc();
    if (h == NULL) {
        fprintf(errout, "ebb audit: out of memory\n");
        return EBB_EXIT_FAILURE;
    }
    ebb_journal_report rep;
    ebb_code rc = ebb_audit_history_load(h, a->journal, pk, &rep, &err);
    if (rc != EBB_OK) {
        ebb_audit_history_free(h);
        fprintf(errout, "ebb audit: refusing a journal that does not verify: %s\n", err.msg);
        return ebb_exit_for_code(rc);
    }
    if (pk == NULL)
        fprintf(errout, "ebb audit: warning: signatures not checked (no --pubkey given)\n");
    if (rep.fault == EBB_JOURNAL_FAULT_TORN_TAIL)
        fprintf(errout,
                "ebb audit: warning: journal %s ends in a torn line %" PRIu64
                " (%s); it is not shown (an append in progress, or a crash)\n",
                a->journal, rep.bad_line, rep.why);
    ebb_audit_format fmt = a->json  ? EBB_AUDIT_FORMAT_JSON
                           : a->csv ? EBB_AUDIT_FORMAT_CSV
                                    : EBB_AUDIT_FORMAT_TABLE;
    rc = ebb_audit_history_write(h, &a->filter, fmt, out, &err);
    ebb_audit_history_free(h);
    return rc == EBB_OK ? EBB_EXIT_OK : fail(errout, &err);
}

/* ---- through the coordinator ---- */

static int by_seq(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));
    return x < y ? -1 : x > y;
}

/*
 * Fold the records the coordinator sent (every run with its records, as
 * `ebb audit --json` prints them) back into a history, in journal order, so
 * the table and CSV come out exactly as they do offline.
 */
static ebb_code history_from_json(const json_t *runs, ebb_audit_history *h, ebb_error *err)
{
    size_t n = 0, i, j;
    const json_t *run, *rec;
    json_array_foreach(runs, i, run) n += json_array_size(json_object_get(run, "records"));
    json_t **all = calloc(n + 1, sizeof *all);
    if (all == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the audit");
    size_t k = 0;
    json_array_foreach(runs, i, run) json_array_foreach(json_object_get(run, "records"), j, rec)
    {
        all[k++] = (json_t *)rec;
    }
    if (k > 1)
        qsort(all, k, sizeof *all, by_seq);
    ebb_code rc = EBB_OK;
    for (i = 0; i < k && rc == EBB_OK; i++) {
        ebb_journal_record r;
        memset(&r, 0, sizeof r);
        r.seq = (uint64_t)json_integer_value(json_object_get(all[i], "seq"));
        r.ts_ms = (int64_t)json_integer_value(json_object_get(all[i], "ts"));
        r.type = json_string_value(json_object_get(all[i], "type"));
        r.payload = json_object_get(all[i], "payload");
        if (r.type == NULL || !json_is_object(r.payload))
            rc = ebb_error_set(err, EBB_E_ENV_MALFORMED,
                               "the coordinator sent an audit record without type or payload "
                               "(seq %llu)",
                               (unsigned long long)r.seq);
        else
            rc = ebb_audit_history_add(h, &r, err);
    }
    free(all);
    return rc;
}

static void add_time(ebb_cli_args *args, const char *name, int64_t ms)
{
    if (ms == 0)
        return;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)ms);
    ebb_cli_args_add(args, name, buf);
}

static int remote_query(const audit_args *a, FILE *out, FILE *errout)
{
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    add_time(&args, "since_ms", a->filter.since_ms);
    add_time(&args, "until_ms", a->filter.until_ms);
    ebb_cli_args_add(&args, "env", a->filter.environment);
    ebb_cli_args_add(&args, "host", a->filter.host);
    ebb_cli_args_add(&args, "db", a->filter.database);
    ebb_cli_args_add(&args, "operator", a->filter.operator_id);
    ebb_cli_args_add(&args, "outcome", a->filter.outcome);
    ebb_cli_args_add(&args, "run", a->filter.run_id);
    ebb_cli_response r;
    int code = ebb_cli_request("audit", &a->conn, EBB_OP_AUDIT, &args, a->json, &r, out, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    const json_t *runs = json_object_get(r.json, "runs");
    if (a->json) {
        /* the same array `ebb audit --json --journal` prints */
        code =
            ebb_cli_print_json(runs != NULL ? runs : r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
        ebb_cli_response_fini(&r);
        return code;
    }
    ebb_error err;
    ebb_error_clear(&err);
    ebb_audit_history *h = ebb_audit_history_alloc();
    ebb_code rc = h == NULL ? ebb_error_set(&err, EBB_E_NOMEM, "out of memory")
                            : history_from_json(runs, h, &err);
    if (rc == EBB_OK)
        rc = ebb_audit_history_write(
            h, &a->filter, a->csv ? EBB_AUDIT_FORMAT_CSV : EBB_AUDIT_FORMAT_TABLE, out, &err);
    ebb_audit_history_free(h);
    ebb_cli_response_fini(&r);
    return rc == EBB_OK ? EBB_EXIT_OK : fail(errout, &err);
}

static int remote_verify(const audit_args *a, FILE *out, FILE *errout)
{
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "anchor", a->anchor);
    ebb_cli_response r;
    int code =
        ebb_cli_request_any("audit verify", &a->conn, EBB_OP_AUDIT_VERIFY, &args, &r, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    const json_t *rep = json_object_get(r.json, "report");
    bool ok = json_is_true(json_object_get(r.json, "ok"));
    if (a->json) {
        (void)ebb_cli_print_json(r.json, out);
    } else if (json_is_object(rep)) {
        if (ok)
            fprintf(out,
                    "The coordinator's journal verifies: %" JSON_INTEGER_FORMAT
                    " records (%" JSON_INTEGER_FORMAT " audit, %" JSON_INTEGER_FORMAT
                    " runs), signatures %s.\n"
                    "Head (keep it to detect later truncation with --anchor): %" JSON_INTEGER_FORMAT
                    ":%s\n",
                    json_integer_value(json_object_get(rep, "records")),
                    json_integer_value(json_object_get(rep, "audit_records")),
                    json_integer_value(json_object_get(rep, "runs")),
                    json_is_true(json_object_get(rep, "signatures_checked")) ? "checked"
                                                                             : "NOT checked",
                    json_integer_value(json_object_get(rep, "last_seq")),
                    json_string_value(json_object_get(rep, "last_hash"))
                        ? json_string_value(json_object_get(rep, "last_hash"))
                        : "?");
        else
            fprintf(out,
                    "The coordinator's journal does NOT verify.\n"
                    "First bad record: line %" JSON_INTEGER_FORMAT " (seq %" JSON_INTEGER_FORMAT
                    "): %s\n  %s\n",
                    json_integer_value(json_object_get(rep, "line")),
                    json_integer_value(json_object_get(rep, "seq")),
                    json_string_value(json_object_get(rep, "fault"))
                        ? json_string_value(json_object_get(rep, "fault"))
                        : "?",
                    json_string_value(json_object_get(rep, "why"))
                        ? json_string_value(json_object_get(rep, "why"))
                        : "");
    }
    code = r.status;
    if (code == EBB_EXIT_OK && !ok)
        code = EBB_EXIT_VERIFY; /* never report success for a journal that does not verify */
    if (code != EBB_EXIT_OK)
        fprintf(errout, "ebb audit verify: %s\n",
                r.message && r.message[0] ? r.message : "the journal does not verify");
    ebb_cli_response_fini(&r);
    return code;
}

int ebb_cli_audit(int argc, char **argv, FILE *out, FILE *errout)
{
    bool verify = argc > 1 && strcmp(argv[1], "verify") == 0;
    audit_args a;
    memset(&a, 0, sizeof a);
    int code = verify ? parse_args(argc - 1, argv + 1, true, &a, out, errout)
                      : parse_args(argc, argv, false, &a, out, errout);
    if (code >= 0)
        return code;
    if (a.journal == NULL)
        return verify ? remote_verify(&a, out, errout) : remote_query(&a, out, errout);
    ebb_public_key pk;
    if (a.pubkey != NULL) {
        ebb_error err;
        if (ebb_public_key_load(a.pubkey, &pk, &err) != EBB_OK)
            return fail(errout, &err);
    }
    return verify ? run_verify(&a, a.pubkey ? &pk : NULL, out, errout)
                  : run_query(&a, a.pubkey ? &pk : NULL, out, errout);
}
