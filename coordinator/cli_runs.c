/* `ebb runs`, `ebb show RUN [--follow]`, `ebb approve|halt|resume|abort RUN`. */
#include "coordinator/cli_runs.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/exit_codes.h"
#include "coordinator/cli_render.h"
#include "coordinator/opapi.h"

#define FOLLOW_WAIT_MS "2000" /* short: the CLI's replay store stays locked during a call */
#define SHOW_LOG_LINES 12

static int usage_error(const char *cmd, FILE *errout, const char *what, const char *arg)
{
    return ebb_cli_usage_error(errout, cmd, "%s%s%s", what, arg ? " " : "", arg ? arg : "");
}

/* ---- runs ---- */

static void runs_usage(FILE *f)
{
    fprintf(f, "Usage: ebb runs [--env ENV] [--active] [--limit N] [--json]\n"
               "\n"
               "Runs, newest first: id, kind, environment, target, state, hosts done of\n"
               "total (and failed), who asked, when.\n"
               "\n"
               "  --env ENV    only this environment\n"
               "  --active     only runs that are not over\n"
               "  --limit N    at most N runs\n"
               "  --json       {\"runs\": [RUN...]} (docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb runs --active\n"
               "  ebb runs --env prod --limit 5 --json | jq -r '.runs[0].run_id'\n"
               "\n"
               "Exit codes: 0 ok, 2 usage, 3 key/config, 4 refused, 7 coordinator unreachable.\n");
}

int ebb_cli_runs(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"env", required_argument, NULL, 'e'},
        {"active", no_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *env = NULL, *limit = NULL;
    bool active = false, json = false;
    ebb_cli_conn_args conn = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            env = optarg;
            break;
        case 'a':
            active = true;
            break;
        case 'l': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 100000)
                return usage_error("runs", errout, "--limit must be a number >= 1, not", optarg);
            limit = optarg;
            break;
        }
        case 'j':
            json = true;
            break;
        case 'h':
            runs_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&conn, c, optarg))
                return usage_error("runs", errout, "unknown or incomplete option",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("runs", errout, "unexpected argument", argv[optind]);
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "env", env);
    ebb_cli_args_flag(&args, "active", active);
    ebb_cli_args_add(&args, "limit", limit);
    ebb_cli_response r;
    int code = ebb_cli_request("runs", &conn, EBB_OP_RUNS, &args, json, &r, out, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    if (json)
        code = ebb_cli_print_json(r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
    else {
        ebb_cli_render_runs(r.json, ebb_cli_now_ms(), out);
        code = EBB_EXIT_OK;
    }
    ebb_cli_response_fini(&r);
    return code;
}

/* ---- show ---- */

static void show_usage(FILE *f)
{
    fprintf(f, "Usage: ebb show RUN [--follow] [--json]\n"
               "\n"
               "A run: who asked and why, its state, approvals, wave, and per host and\n"
               "database the state, the current step, the revisions and the last error;\n"
               "then the latest step results. --follow keeps it live (redrawn on every\n"
               "change) and ends with the run: exit 0 succeeded, 6 compensated, 1 failed,\n"
               "aborted or halted. It rides out a coordinator restart.\n"
               "\n"
               "  --follow   follow until the run ends (or halts)\n"
               "  --json     RUN_DETAIL; with --follow one compact object per change\n"
               "             (JSON Lines); see docs/cli.md\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb show r-20240501-0007\n"
               "  ebb show r-20240501-0007 --follow\n"
               "\n"
               "Exit codes: without --follow 0 ok; with --follow the run's outcome as above;\n"
               "2 usage, 3 key/config, 4 refused (unknown run, role), 7 coordinator\n"
               "unreachable.\n");
}

static void nap_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ebb_cli_follow_run(const char *cmd, const ebb_cli_conn_args *conn, const char *run_id,
                       bool json, FILE *out, FILE *errout)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_cli_settings s;
    if (ebb_cli_settings_resolve(conn, ebb_cli_getenv, NULL, &s, &err) != EBB_OK)
        return ebb_cli_report_call_error(cmd, &err, errout);
    bool tty = !json && isatty(fileno(out));
    long long version = 0, last_answer = mono_ms();
    bool warned = false;
    for (;;) {
        char after[32];
        snprintf(after, sizeof after, "%lld", version);
        ebb_cli_args args;
        ebb_cli_args_init(&args);
        ebb_cli_args_add(&args, "run", run_id);
        ebb_cli_args_add(&args, "after", after);
        ebb_cli_args_add(&args, "wait_ms", FOLLOW_WAIT_MS);
        ebb_cli_response r;
        ebb_code rc = ebb_cli_call(&s, EBB_OP_SHOW, &args, &r, &err);
        ebb_cli_args_fini(&args);
        if (rc == EBB_E_NET || rc == EBB_E_TIMEOUT) {
            /* the coordinator may be restarting: it resumes runs from its journal */
            if (mono_ms() - last_answer > s.timeout_ms)
                return ebb_cli_report_call_error(cmd, &err, errout);
            if (!warned)
                fprintf(errout, "ebb %s: %s; retrying\n", cmd, err.msg);
            warned = true;
            nap_ms(500);
            continue;
        }
        if (rc != EBB_OK)
            return ebb_cli_report_call_error(cmd, &err, errout);
        last_answer = mono_ms();
        if (warned)
            fprintf(errout, "ebb %s: the coordinator answers again\n", cmd);
        warned = false;
        if (r.status != 0) {
            fprintf(errout, "ebb %s: %s\n", cmd, ebb_cli_response_why(&r));
            int code = r.status;
            ebb_cli_response_fini(&r);
            return code;
        }
        json_int_t v = json_integer_value(json_object_get(r.json, "version"));
        const json_t *run = json_object_get(r.json, "run");
        const char *state = json_string_value(json_object_get(run, "state"));
        bool over = json_is_true(json_object_get(r.json, "over")) || ebb_cli_run_state_final(state);
        if (v != version || version == 0 || over) {
            if (json) {
                if (json_dumpf(run, out, JSON_COMPACT) == 0)
                    fputc('\n', out);
            } else {
                if (tty)
                    fputs("\033[H\033[2J", out);
                else if (version != 0)
                    fputs("\n", out);
                ebb_cli_render_run_detail(run, ebb_cli_now_ms(), SHOW_LOG_LINES, out);
            }
            fflush(out);
        }
        version = v;
        int code = ebb_cli_run_state_exit(state);
        bool halted = state != NULL && strcmp(state, "halted") == 0;
        if (over || halted) {
            if (halted)
                fprintf(errout, "ebb %s: run %s is halted: ebb resume %s or ebb abort %s\n", cmd,
                        run_id, run_id, run_id);
            else if (code != EBB_EXIT_OK)
                fprintf(errout, "ebb %s: run %s ended %s\n", cmd, run_id, state ? state : "?");
            ebb_cli_response_fini(&r);
            return code >= 0 ? code : EBB_EXIT_FAILURE;
        }
        ebb_cli_response_fini(&r);
    }
}

int ebb_cli_show(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    bool follow = false, json = false;
    ebb_cli_conn_args conn = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            show_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&conn, c, optarg))
                return usage_error("show", errout, "unknown or incomplete option",
                                   argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("show", errout, "which run? ebb show RUN", NULL);
    const char *run_id = argv[optind++];
    if (optind < argc)
        return usage_error("show", errout, "unexpected argument", argv[optind]);
    if (follow)
        return ebb_cli_follow_run("show", &conn, run_id, json, out, errout);
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "run", run_id);
    ebb_cli_response r;
    int code = ebb_cli_request("show", &conn, EBB_OP_SHOW, &args, json, &r, out, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    const json_t *run = json_object_get(r.json, "run");
    if (json)
        code = ebb_cli_print_json(run != NULL ? run : r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
    else {
        ebb_cli_render_run_detail(run, ebb_cli_now_ms(), SHOW_LOG_LINES, out);
        code = EBB_EXIT_OK;
    }
    ebb_cli_response_fini(&r);
    return code;
}

/* ---- approve, halt, resume, abort ---- */

static void runctl_usage(const char *cmd, FILE *f)
{
    fprintf(f, "Usage: ebb approve RUN [--json]\n"
               "       ebb halt RUN [--reason R] [--json]\n"
               "       ebb resume RUN [--reason R] [--json]\n"
               "       ebb abort RUN --reason R [--json]\n"
               "\n"
               "approve  count this operator's approval of a run that waits for approvals\n"
               "         (the requester's own approval does not count; each key counts once)\n"
               "halt     stop a run after the steps in flight; nothing new starts\n"
               "resume   go on with a halted run\n"
               "abort    end a run for good (a reason is required)\n"
               "Each is recorded in the audit with the operator's key.\n"
               "\n"
               "  --reason R   why\n"
               "  --json       {\"run\": RUN} (docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb approve r-20240501-0007\n"
               "  ebb halt r-20240501-0007 --reason 'error rate up on db-prod-02'\n"
               "\n"
               "Exit codes: 0 done, 2 usage, 3 key/config, 4 refused (own run, already\n"
               "approved, state does not allow it, role), 7 coordinator unreachable.\n");
    (void)cmd;
}

int ebb_cli_runctl(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cmd = argv[0];
    const char *command = strcmp(cmd, "approve") == 0  ? EBB_OP_APPROVE
                          : strcmp(cmd, "halt") == 0   ? EBB_OP_HALT
                          : strcmp(cmd, "resume") == 0 ? EBB_OP_RESUME
                                                       : EBB_OP_ABORT;
    const char *reason = NULL;
    bool json = false;
    ebb_cli_conn_args conn = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            reason = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            runctl_usage(cmd, out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&conn, c, optarg))
                return usage_error(cmd, errout, "unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error(cmd, errout, "which run? the run id is required", NULL);
    const char *run_id = argv[optind++];
    if (optind < argc)
        return usage_error(cmd, errout, "unexpected argument", argv[optind]);
    if (strcmp(command, EBB_OP_APPROVE) == 0 && reason != NULL)
        return usage_error(cmd, errout, "approve takes no --reason", NULL);
    if (strcmp(command, EBB_OP_ABORT) == 0 && (reason == NULL || reason[0] == '\0'))
        return usage_error(cmd, errout, "abort needs --reason R", NULL);
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "run", run_id);
    ebb_cli_args_add(&args, "reason", reason);
    ebb_cli_response r;
    int code = ebb_cli_request(cmd, &conn, command, &args, json, &r, out, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    if (json)
        code = ebb_cli_print_json(r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
    else {
        ebb_cli_render_run_brief(json_object_get(r.json, "run"), ebb_cli_now_ms(), out);
        code = EBB_EXIT_OK;
    }
    ebb_cli_response_fini(&r);
    return code;
}
