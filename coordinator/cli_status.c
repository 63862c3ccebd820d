/* `ebb status [--env E] [--json]`: fleet state from the coordinator's inventory. */
#include "coordinator/cli_status.h"

#include <getopt.h>
#include <stdbool.h>

#include "common/exit_codes.h"
#include "coordinator/cli_client.h"
#include "coordinator/cli_render.h"
#include "coordinator/opapi.h"

#define LAST_RUNS_LIMIT "100"

static void status_usage(FILE *f)
{
    fprintf(f, "Usage: ebb status [--env ENV] [--json]\n"
               "\n"
               "The fleet as the coordinator sees it: per environment (in promotion order)\n"
               "its policy and last run, then per host and database the current revision,\n"
               "drift (the live schema differs from what the registry says), liveness,\n"
               "when the agent was last heard from and the last run; then agents waiting\n"
               "to be accepted and the runs in progress.\n"
               "\n"
               "  --env ENV   only this environment\n"
               "  --json      {\"environments\": [...], \"pending\": [...], \"runs\": [...]}\n"
               "              (docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb status\n"
               "  ebb status --env prod --json | jq '.environments[0].hosts[].alive'\n"
               "\n"
               "Exit codes: 0 ok, 2 usage, 3 key/config, 4 refused, 7 coordinator unreachable.\n");
}

int ebb_cli_status(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"env", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *env = NULL;
    bool json = false;
    ebb_cli_conn_args conn = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            env = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            status_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&conn, c, optarg)) {
                fprintf(errout, "ebb status: unknown or incomplete option %s (try --help)\n",
                        argv[optind - 1]);
                return EBB_EXIT_USAGE;
            }
        }
    }
    if (optind < argc) {
        fprintf(errout, "ebb status: unexpected argument %s (try --help)\n", argv[optind]);
        return EBB_EXIT_USAGE;
    }
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "env", env);
    ebb_cli_response r;
    int code = ebb_cli_request("status", &conn, EBB_OP_STATUS, &args, json, &r, out, errout);
    if (code >= 0) {
        ebb_cli_args_fini(&args);
        return code;
    }
    if (json) {
        ebb_cli_args_fini(&args);
        code = ebb_cli_print_json(r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
        ebb_cli_response_fini(&r);
        return code;
    }
    /* The last run of each environment comes from the run list; without it the table still
     * prints (a read role on one environment is enough for status but the list may be refused). */
    ebb_cli_args_add(&args, "limit", LAST_RUNS_LIMIT);
    ebb_cli_response runs;
    int rc_runs = ebb_cli_request("status", &conn, EBB_OP_RUNS, &args, false, &runs, out, errout);
    ebb_cli_args_fini(&args);
    ebb_cli_render_status(r.json, rc_runs < 0 ? runs.json : NULL, ebb_cli_now_ms(), out);
    if (rc_runs < 0)
        ebb_cli_response_fini(&runs);
    ebb_cli_response_fini(&r);
    return EBB_EXIT_OK;
}
