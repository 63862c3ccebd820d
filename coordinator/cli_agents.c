/* `ebb agents [list]`, `ebb agents accept ID --env ENV`, `ebb agents revoke ID`. */
#include "coordinator/cli_agents.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_client.h"
#include "coordinator/cli_render.h"
#include "coordinator/opapi.h"

static void agents_usage(FILE *f)
{
    fprintf(f, "Usage: ebb agents [list] [--env ENV] [--state pending|accepted|revoked] [--json]\n"
               "       ebb agents accept AGENT --env ENV [--json]\n"
               "       ebb agents revoke AGENT [--json]\n"
               "\n"
               "Agents enroll with their key and wait, doing nothing, until an operator\n"
               "accepts them into an environment (the coordinator's record of the\n"
               "environment wins over what the agent claims). A revoked agent's key is\n"
               "refused from then on; revocation is never undone.\n"
               "\n"
               "  --env ENV      list: only this environment; accept: the environment\n"
               "  --state S      list: only agents in this enrollment state\n"
               "  --json         the coordinator's JSON result ({\"agents\": [...]} or\n"
               "                 {\"agent\": {...}}; see docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb agents --state pending\n"
               "  ebb agents accept db-prod-01 --env prod\n"
               "  ebb agents revoke db-old-07\n"
               "\n"
               "Exit codes: 0 ok, 2 usage, 3 key/config, 4 refused (role, state), 7 coordinator\n"
               "unreachable.\n");
}

static int usage_error(FILE *errout, const char *what, const char *arg)
{
    return ebb_cli_usage_error(errout, "agents", "%s%s%s", what, arg ? " " : "", arg ? arg : "");
}

int ebb_cli_agents(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"env", required_argument, NULL, 'e'},
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *env = NULL, *state = NULL;
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
        case 's':
            state = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            agents_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&conn, c, optarg))
                return usage_error(errout, "unknown or incomplete option", argv[optind - 1]);
        }
    }
    /* positionals (getopt moved them to the end): [list] | accept ID | revoke ID */
    const char *verb = optind < argc ? argv[optind++] : "list";
    const char *id = NULL;
    if (strcmp(verb, "accept") == 0 || strcmp(verb, "revoke") == 0) {
        if (optind >= argc)
            return usage_error(errout, verb, "needs an agent id");
        id = argv[optind++];
    } else if (strcmp(verb, "list") != 0) {
        return usage_error(errout, "unknown subcommand", verb);
    }
    if (optind < argc)
        return usage_error(errout, "unexpected argument", argv[optind]);
    const char *command = EBB_OP_AGENTS;
    if (strcmp(verb, "accept") == 0) {
        if (env == NULL)
            return usage_error(errout, "accept needs --env ENV", NULL);
        if (state != NULL)
            return usage_error(errout, "--state is an option of agents list", NULL);
        command = EBB_OP_AGENTS_ACCEPT;
    } else if (strcmp(verb, "revoke") == 0) {
        if (env != NULL || state != NULL)
            return usage_error(errout, "revoke takes only the agent id", NULL);
        command = EBB_OP_AGENTS_REVOKE;
    } else if (state != NULL && strcmp(state, "pending") != 0 && strcmp(state, "accepted") != 0 &&
               strcmp(state, "revoked") != 0) {
        return usage_error(errout, "--state must be pending, accepted or revoked, not", state);
    }

    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "id", id);
    ebb_cli_args_add(&args, "env", env);
    ebb_cli_args_add(&args, "state", state);
    ebb_cli_response r;
    int code = ebb_cli_request("agents", &conn, command, &args, json, &r, out, errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    if (json) {
        code = ebb_cli_print_json(r.json, out) ? EBB_EXIT_OK : EBB_EXIT_FAILURE;
    } else if (id != NULL) {
        const json_t *a = json_object_get(r.json, "agent");
        const char *st = json_string_value(json_object_get(a, "state"));
        const char *e = json_string_value(json_object_get(a, "environment"));
        fprintf(out, "agent %s: %s%s%s\n", id, st ? st : "done", e ? " in " : "", e ? e : "");
        code = EBB_EXIT_OK;
    } else {
        ebb_cli_render_agents(r.json, ebb_cli_now_ms(), out);
        code = EBB_EXIT_OK;
    }
    ebb_cli_response_fini(&r);
    return code;
}
