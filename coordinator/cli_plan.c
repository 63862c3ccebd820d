/* `ebb plan`, `ebb rollout`, `ebb rollback`: parse, ask the coordinator, show the plan or the run.
 */
#include "coordinator/cli_plan.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_render.h"
#include "coordinator/cli_runs.h"
#include "coordinator/opapi.h"

static const char *const cmd_names[] = {"plan", "rollout", "rollback"};

static void plan_usage(FILE *f)
{
    fprintf(f, "Usage: ebb plan --env ENV (--to TARGET | --steps N) [--rollback] [--reason R]\n"
               "                [--hosts H1,H2] [--databases D1,D2] [--atomic] [--allow-drift]\n"
               "                [--skip-dead] [--skip-backup] [--accept-data-loss]\n"
               "                [--no-precheck] [--wait SECONDS] [--json]\n"
               "\n"
               "Plan a rollout (or with --rollback a rollback) without changing anything:\n"
               "the waves and every host's path and steps, the environment's policy verdict,\n"
               "and the prechecks every planned host runs now (risk analysis of each script\n"
               "on the path, with live probes: rows that would be lost, values that would\n"
               "not fit, constraints that would fail), summed up in one fleet-wide report\n"
               "of what would be lost.\n"
               "\n"
               "  --env ENV            the environment (required)\n"
               "  --to TARGET          a revision id, @tag, head, base, +N, -N\n"
               "  --steps N            N revisions down (implies --rollback)\n"
               "  --rollback           plan a rollback (a down path)\n"
               "  --reason R           recorded with the plan (required later for a rollback)\n"
               "  --hosts H1,H2        only these hosts (agent ids)\n"
               "  --databases D1,D2    only these databases\n"
               "  --atomic             one transaction per wave, prepared on every host\n"
               "  --allow-drift        plan drifted databases too\n"
               "  --skip-dead          leave out hosts that are not alive instead of refusing\n"
               "  --skip-backup        no backup step (refused where policy requires one)\n"
               "  --accept-data-loss   accept a path with data at risk\n"
               "  --no-precheck        the plan alone, no precheck jobs\n"
               "  --wait SECONDS       wait at most this long for the prechecks\n"
               "  --json               {\"plan\", \"plan_hash\", \"policy\", \"prechecks\",\n"
               "                       \"prechecks_ok\", \"complete\"} (docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb plan --env prod --to 0042\n"
               "  ebb plan --env prod --steps 2 --hosts db-prod-01,db-prod-02 --json\n"
               "\n"
               "Exit codes: 0 plan ok and every precheck passed, 1 a precheck failed or did\n"
               "not answer, 2 usage, 4 refused by the planner or the policy, 7 coordinator\n"
               "unreachable.\n");
}

static void rollout_usage(FILE *f)
{
    fprintf(f, "Usage: ebb rollout --env ENV --to TARGET --reason R [--atomic]\n"
               "                   [--on-failure halt|compensate] [--dry-run] [--follow]\n"
               "                   [--hosts H1,H2] [--databases D1,D2] [--allow-drift]\n"
               "                   [--skip-dead] [--skip-backup] [--accept-data-loss] [--json]\n"
               "\n"
               "Start a staged rollout of ENV to TARGET: the coordinator plans it, checks the\n"
               "policy (promotion order: the revision must have been applied and verified in\n"
               "the environment before; approvals), journals the request and runs it in\n"
               "waves: precheck, stop services, backup, migrate, verify, start services,\n"
               "health on every host. Prints the run id; follow it with ebb show RUN --follow.\n"
               "\n"
               "  --env ENV                 the environment (required)\n"
               "  --to TARGET               a revision id, @tag, head, +N (required)\n"
               "  --reason R                why (recorded in the audit)\n"
               "  --atomic                  prepare every host's transaction of a wave, commit\n"
               "                            all only when all are prepared\n"
               "  --on-failure MODE         halt (stop, leave the rest untouched) or compensate\n"
               "                            (bring hosts done in this run back); default: the\n"
               "                            environment's policy\n"
               "  --dry-run                 show the plan, start nothing\n"
               "  --follow                  then follow the run as ebb show --follow does\n"
               "  --hosts, --databases, --allow-drift, --skip-dead, --skip-backup,\n"
               "  --accept-data-loss        as for ebb plan\n"
               "  --json                    {\"run\", \"plan\", \"plan_hash\"} (docs/cli.md)\n"
               "\n" EBB_CLI_CONN_HELP "\n"
               "Examples:\n"
               "  ebb rollout --env staging --to 0042 --reason 'release 7.3'\n"
               "  ebb rollout --env prod --to head --reason 'release 7.3' --atomic --follow\n"
               "\n"
               "Exit codes: 0 started (with --follow: succeeded), 1 failed, 2 usage,\n"
               "4 refused (policy, promotion order, role), 6 compensated (with --follow),\n"
               "7 coordinator unreachable.\n");
}

static void rollback_usage(FILE *f)
{
    fprintf(f,
            "Usage: ebb rollback --env ENV (--to TARGET | --steps N) --reason R\n"
            "                    [--hosts H1,H2] [--databases D1,D2] [--atomic]\n"
            "                    [--on-failure halt|compensate] [--accept-data-loss]\n"
            "                    [--dry-run] [--follow] [--allow-drift] [--skip-dead] [--json]\n"
            "\n"
            "Roll ENV (or some of its hosts) back to TARGET or N revisions down. On every\n"
            "host: precheck, stop services, backup, downgrade, verify (the schema must\n"
            "match the one recorded when TARGET was current), start services, health;\n"
            "a failed downgrade or verification restores the host from the backup taken\n"
            "in the same run. A reason is required. A rollback in a forward-only\n"
            "environment, or one with data at risk, waits for approval by other\n"
            "operators (ebb approve RUN).\n"
            "\n"
            "  --env ENV             the environment (required)\n"
            "  --to TARGET           revision id, @tag, base, -N\n"
            "  --steps N             N revisions down\n"
            "  --reason R            why (required; recorded in the audit)\n"
            "  --hosts H1,H2         only these hosts\n"
            "  --databases D1,D2     only these databases\n"
            "  --atomic              one prepared transaction per wave\n"
            "  --on-failure MODE     halt or compensate (default: the environment's policy)\n"
            "  --accept-data-loss    the path drops data: accept it (needs approval)\n"
            "  --dry-run             show the plan, start nothing\n"
            "  --follow              then follow the run until it ends\n"
            "  --allow-drift, --skip-dead, --skip-backup   as for ebb plan\n"
            "  --json                {\"run\", \"plan\", \"plan_hash\"} (docs/cli.md)\n"
            "\n" EBB_CLI_CONN_HELP "\n"
            "Examples:\n"
            "  ebb rollback --env prod --to 0041 --reason 'INC-1234: 0042 locks orders'\n"
            "  ebb rollback --env prod --steps 1 --hosts db-prod-03 --reason 'INC-1240' --follow\n"
            "\n"
            "Exit codes: 0 started (with --follow: succeeded), 1 failed, 2 usage (a missing\n"
            "reason too), 4 refused, 6 compensated (with --follow), 7 coordinator\n"
            "unreachable.\n");
}

#define usage_error(cmd, errout, ...) ebb_cli_usage_error(errout, cmd_names[cmd], __VA_ARGS__)

static bool blank(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static bool parse_positive(const char *s, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

enum {
    O_ENV = 256,
    O_TO,
    O_STEPS,
    O_REASON,
    O_HOSTS,
    O_DBS,
    O_ONFAIL,
    O_WAIT,
    O_ROLLBACK,
    O_ATOMIC,
    O_DRY,
    O_DRIFT,
    O_SKIPDEAD,
    O_SKIPBACKUP,
    O_DATALOSS,
    O_NOPRE,
    O_FOLLOW,
    O_JSON,
};

/* Which options each command takes (plan, rollout, rollback). */
static bool takes(ebb_cli_run_cmd cmd, int opt)
{
    switch (opt) {
    case O_ROLLBACK:
    case O_NOPRE:
    case O_WAIT:
        return cmd == EBB_CLI_CMD_PLAN;
    case O_STEPS:
        return cmd != EBB_CLI_CMD_ROLLOUT;
    case O_ONFAIL:
    case O_DRY:
    case O_FOLLOW:
        return cmd != EBB_CLI_CMD_PLAN;
    default:
        return true;
    }
}

int ebb_cli_run_opts_parse(ebb_cli_run_cmd cmd, int argc, char **argv, ebb_cli_run_opts *o,
                           FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"env", required_argument, NULL, O_ENV},
        {"to", required_argument, NULL, O_TO},
        {"steps", required_argument, NULL, O_STEPS},
        {"reason", required_argument, NULL, O_REASON},
        {"hosts", required_argument, NULL, O_HOSTS},
        {"databases", required_argument, NULL, O_DBS},
        {"on-failure", required_argument, NULL, O_ONFAIL},
        {"wait", required_argument, NULL, O_WAIT},
        {"rollback", no_argument, NULL, O_ROLLBACK},
        {"atomic", no_argument, NULL, O_ATOMIC},
        {"dry-run", no_argument, NULL, O_DRY},
        {"allow-drift", no_argument, NULL, O_DRIFT},
        {"skip-dead", no_argument, NULL, O_SKIPDEAD},
        {"skip-backup", no_argument, NULL, O_SKIPBACKUP},
        {"accept-data-loss", no_argument, NULL, O_DATALOSS},
        {"no-precheck", no_argument, NULL, O_NOPRE},
        {"follow", no_argument, NULL, O_FOLLOW},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        EBB_CLI_CONN_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->rollback = cmd == EBB_CLI_CMD_ROLLBACK;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c >= O_ENV && c <= O_JSON && !takes(cmd, c))
            return usage_error(cmd, errout, "%s is not an option of ebb %s", argv[optind - 1],
                               cmd_names[cmd]);
        switch (c) {
        case O_ENV:
            o->env = optarg;
            break;
        case O_TO:
            o->to = optarg;
            break;
        case O_STEPS:
            if (!parse_positive(optarg, 100000, &o->steps))
                return usage_error(cmd, errout, "--steps '%s' is not a number of revisions >= 1",
                                   optarg);
            break;
        case O_REASON:
            o->reason = optarg;
            break;
        case O_HOSTS:
            o->hosts = optarg;
            break;
        case O_DBS:
            o->databases = optarg;
            break;
        case O_ONFAIL:
            if (strcmp(optarg, "halt") != 0 && strcmp(optarg, "compensate") != 0)
                return usage_error(cmd, errout, "--on-failure must be halt or compensate, not '%s'",
                                   optarg);
            o->on_failure = optarg;
            break;
        case O_WAIT:
            if (!parse_positive(optarg, 3600, &o->wait_s))
                return usage_error(cmd, errout, "--wait '%s' is not a number of seconds (1-3600)",
                                   optarg);
            break;
        case O_ROLLBACK:
            o->rollback = true;
            break;
        case O_ATOMIC:
            o->atomic = true;
            break;
        case O_DRY:
            o->dry_run = true;
            break;
        case O_DRIFT:
            o->allow_drift = true;
            break;
        case O_SKIPDEAD:
            o->skip_dead = true;
            break;
        case O_SKIPBACKUP:
            o->skip_backup = true;
            break;
        case O_DATALOSS:
            o->accept_data_loss = true;
            break;
        case O_NOPRE:
            o->no_precheck = true;
            break;
        case O_FOLLOW:
            o->follow = true;
            break;
        case O_JSON:
            o->json = true;
            break;
        case 'h':
            if (cmd == EBB_CLI_CMD_PLAN)
                plan_usage(out);
            else if (cmd == EBB_CLI_CMD_ROLLOUT)
                rollout_usage(out);
            else
                rollback_usage(out);
            return EBB_EXIT_OK;
        default:
            if (!ebb_cli_conn_option(&o->conn, c, optarg))
                return usage_error(cmd, errout, "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(cmd, errout, "unexpected argument '%s'", argv[optind]);
    if (o->env == NULL || o->env[0] == '\0')
        return usage_error(cmd, errout, "--env ENV is required");
    if (o->steps > 0)
        o->rollback = true;
    if (o->to != NULL && o->to[0] == '\0')
        return usage_error(cmd, errout, "--to needs a target");
    if (cmd == EBB_CLI_CMD_ROLLOUT && o->to == NULL)
        return usage_error(cmd, errout, "--to TARGET is required");
    if (o->to == NULL && o->steps == 0)
        return usage_error(cmd, errout, "give --to TARGET or --steps N");
    if (o->to != NULL && o->steps > 0)
        return usage_error(cmd, errout, "--to and --steps exclude each other");
    if (cmd == EBB_CLI_CMD_ROLLBACK && blank(o->reason))
        return usage_error(cmd, errout,
                           "a rollback needs --reason R (why it is done; it goes to the audit)");
    if (o->dry_run && o->follow)
        return usage_error(cmd, errout, "--dry-run and --follow exclude each other");
    return -1;
}

const char *ebb_cli_run_opts_command(const ebb_cli_run_opts *o)
{
    switch (o->cmd) {
    case EBB_CLI_CMD_PLAN:
        return EBB_OP_PLAN;
    case EBB_CLI_CMD_ROLLOUT:
        return EBB_OP_ROLLOUT;
    default:
        return EBB_OP_ROLLBACK;
    }
}

void ebb_cli_run_opts_request(const ebb_cli_run_opts *o, ebb_cli_args *args)
{
    char num[32];
    ebb_cli_args_add(args, "env", o->env);
    if (o->cmd == EBB_CLI_CMD_PLAN)
        ebb_cli_args_add(args, "kind", o->rollback ? "rollback" : "rollout");
    ebb_cli_args_add(args, "to", o->to);
    if (o->steps > 0) {
        snprintf(num, sizeof num, "%ld", o->steps);
        ebb_cli_args_add(args, "steps", num);
    }
    if (!blank(o->reason))
        ebb_cli_args_add(args, "reason", o->reason);
    ebb_cli_args_list(args, "host", o->hosts);
    ebb_cli_args_list(args, "db", o->databases);
    ebb_cli_args_add(args, "on_failure", o->on_failure);
    ebb_cli_args_flag(args, "atomic", o->atomic);
    ebb_cli_args_flag(args, "dry_run", o->dry_run);
    ebb_cli_args_flag(args, "allow_drift", o->allow_drift);
    ebb_cli_args_flag(args, "skip_dead", o->skip_dead);
    ebb_cli_args_flag(args, "skip_backup", o->skip_backup);
    ebb_cli_args_flag(args, "accept_data_loss", o->accept_data_loss);
    if (o->no_precheck)
        ebb_cli_args_add(args, "precheck", "0");
    if (o->wait_s > 0) {
        snprintf(num, sizeof num, "%ld", o->wait_s * 1000);
        ebb_cli_args_add(args, "wait_ms", num);
    }
}

/* The plan text (the coordinator's rendering) and the prechecks report. */
static void show_plan(const ebb_cli_response *r, bool prechecks, FILE *out)
{
    if (r->message != NULL && r->message[0] != '\0') {
        fputs(r->message, out);
        if (r->message[strlen(r->message) - 1] != '\n')
            fputc('\n', out);
    }
    if (prechecks && json_object_get(r->json, "prechecks") != NULL) {
        fputc('\n', out);
        ebb_cli_render_prechecks(r->json, out);
    }
}

static int run_main(ebb_cli_run_cmd cmd, int argc, char **argv, FILE *out, FILE *errout)
{
    ebb_cli_run_opts o;
    int code = ebb_cli_run_opts_parse(cmd, argc, argv, &o, out, errout);
    if (code >= 0)
        return code;
    /* A longer call timeout for a plan that waits for prechecks. */
    char timeout[32];
    if (cmd == EBB_CLI_CMD_PLAN && o.wait_s > 0 && o.conn.timeout == NULL) {
        snprintf(timeout, sizeof timeout, "%ld", o.wait_s + 15);
        o.conn.timeout = timeout;
    }
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_run_opts_request(&o, &args);
    ebb_cli_response r;
    code = ebb_cli_request_any(cmd_names[cmd], &o.conn, ebb_cli_run_opts_command(&o), &args, &r,
                               errout);
    ebb_cli_args_fini(&args);
    if (code >= 0)
        return code;
    bool is_plan = cmd == EBB_CLI_CMD_PLAN || o.dry_run;
    if (o.json)
        (void)ebb_cli_print_json(r.json, out);
    if (r.status != 0) {
        /* a plan whose prechecks failed is still shown: that is what the operator asked for */
        if (!o.json && is_plan && json_object_get(r.json, "plan") != NULL)
            show_plan(&r, true, out);
        fprintf(errout, "ebb %s: %s\n", cmd_names[cmd], ebb_cli_response_why(&r));
        code = r.status;
        ebb_cli_response_fini(&r);
        return code;
    }
    if (is_plan) {
        if (!o.json)
            show_plan(&r, cmd == EBB_CLI_CMD_PLAN, out);
        ebb_cli_response_fini(&r);
        return EBB_EXIT_OK;
    }
    const json_t *run = json_object_get(r.json, "run");
    const char *run_id = json_string_value(json_object_get(run, "run_id"));
    const char *state = json_string_value(json_object_get(run, "state"));
    if (!o.json) {
        ebb_cli_render_run_brief(run, ebb_cli_now_ms(), out);
        if (state != NULL && strcmp(state, "awaiting_approval") == 0)
            fprintf(out, "waiting for approval: another operator runs  ebb approve %s\n",
                    run_id ? run_id : "RUN");
        else if (!o.follow)
            fprintf(out, "follow it with: ebb show %s --follow\n", run_id ? run_id : "RUN");
    }
    code = EBB_EXIT_OK;
    if (o.follow && run_id != NULL) {
        char *id = strdup(run_id);
        ebb_cli_response_fini(&r);
        if (id == NULL)
            return EBB_EXIT_FAILURE;
        code = ebb_cli_follow_run("show", &o.conn, id, o.json, out, errout);
        free(id);
        return code;
    }
    ebb_cli_response_fini(&r);
    return code;
}

int ebb_cli_plan(int argc, char **argv, FILE *out, FILE *errout)
{
    return run_main(EBB_CLI_CMD_PLAN, argc, argv, out, errout);
}

int ebb_cli_rollout(int argc, char **argv, FILE *out, FILE *errout)
{
    return run_main(EBB_CLI_CMD_ROLLOUT, argc, argv, out, errout);
}

int ebb_cli_rollback(int argc, char **argv, FILE *out, FILE *errout)
{
    return run_main(EBB_CLI_CMD_ROLLBACK, argc, argv, out, errout);
}
