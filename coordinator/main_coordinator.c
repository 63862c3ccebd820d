/* ebb-coordinator: plans and drives runs across the fleet; keeps the audit. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "common/exit_codes.h"
#include "common/log.h"
#include "coordinator/coord_config.h"
#include "coordinator/coordinator.h"
#include "coordinator/fsm_host.h"
#include "coordinator/fsm_run.h"

/* Set by the signal handlers, read by the serve loop: the handlers do nothing else. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: ebb-coordinator COMMAND [OPTIONS]\n"
                 "\n"
                 "The ebb coordinator: keeps the inventory of agents, plans and drives\n"
                 "staged runs, and keeps the tamper-evident audit journal.\n"
                 "\n"
                 "Commands:\n"
                 "  run --config FILE  run the coordinator daemon (agents and operators\n"
                 "                     listeners, rollout engine, journal) until SIGTERM/SIGINT\n"
                 "  check-config --config FILE\n"
                 "                     load and check the configuration, print a summary\n"
                 "  do fsm [--dot] [--run|--host]\n"
                 "                     print the run and host state machines as tables\n"
                 "                     (or as Graphviz dot); both unless one is named\n"
                 "  --help             show this help\n"
                 "  --version          print the version\n"
                 "\n"
                 "Exit codes: 0 ok, 1 failed, 2 usage, 3 configuration, 4 refused,\n"
                 "5 verification failed, 6 restored from backup, 7 unavailable.\n");
}

static int print_table(const ebb_fsm_table *t, bool dot)
{
    char *text = NULL;
    ebb_error err;
    ebb_code rc = dot ? ebb_fsm_render_dot(t, &text, &err) : ebb_fsm_render_text(t, &text, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "ebb-coordinator: %s\n", err.msg);
        return ebb_exit_for_code(rc);
    }
    fputs(text, stdout);
    free(text);
    return EBB_EXIT_OK;
}

/* do fsm [--dot] [--run|--host]: the state machines straight from their tables. */
static int cmd_do_fsm(int argc, char **argv)
{
    bool dot = false, run = false, host = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dot") == 0)
            dot = true;
        else if (strcmp(argv[i], "--run") == 0)
            run = true;
        else if (strcmp(argv[i], "--host") == 0)
            host = true;
        else {
            fprintf(stderr, "ebb-coordinator do fsm: unknown option '%s' (--dot, --run, --host)\n",
                    argv[i]);
            return EBB_EXIT_USAGE;
        }
    }
    if (!run && !host)
        run = host = true;
    int rc = EBB_EXIT_OK;
    if (run)
        rc = print_table(ebb_fsm_run_table(), dot);
    if (rc == EBB_EXIT_OK && run && host)
        fputc('\n', stdout);
    if (rc == EBB_EXIT_OK && host)
        rc = print_table(ebb_fsm_host_table(), dot);
    return rc;
}

/* --config FILE from argv; NULL (after a message) when missing. */
static const char *config_arg(int argc, char **argv, const char *cmd)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    fprintf(stderr, "ebb-coordinator %s: --config FILE is required\n", cmd);
    return NULL;
}

static int cmd_check_config(int argc, char **argv)
{
    const char *path = config_arg(argc, argv, "check-config");
    if (path == NULL)
        return EBB_EXIT_USAGE;
    ebb_coord_config *cfg = NULL;
    ebb_error err;
    ebb_code rc = ebb_coord_config_load(path, &cfg, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "ebb-coordinator: %s\n", err.msg);
        return ebb_exit_for_code(rc);
    }
    printf("%s: ok\n  key_file %s\n  journal_dir %s\n  agents on %s, operators on %s\n", path,
           cfg->key_file, cfg->journal_dir, cfg->listen_agents, cfg->listen_operators);
    for (size_t i = 0; i < cfg->n_envs; i++) {
        const ebb_coord_env *e = &cfg->envs[i];
        printf("  environment %zu: %s (approvals %u%s%s%s)\n", i + 1, e->name, e->policy.approvals,
               e->policy.forward_only ? ", forward-only" : "",
               e->policy.promote_from ? ", promoted from " : "",
               e->policy.promote_from ? e->policy.promote_from : "");
    }
    for (size_t i = 0; i < cfg->n_operators; i++)
        printf("  operator %s (key %s)\n", cfg->operators[i].name, cfg->operators[i].key_id_hex);
    ebb_coord_config_free(cfg);
    return EBB_EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
    const char *path = config_arg(argc, argv, "run");
    if (path == NULL)
        return EBB_EXIT_USAGE;
    ebb_coord_config *cfg = NULL;
    ebb_error err;
    ebb_code rc = ebb_coord_config_load(path, &cfg, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "ebb-coordinator: %s\n", err.msg);
        return ebb_exit_for_code(rc);
    }
    ebb_log_init(cfg->log_format, cfg->log_level, 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ebb_coordinator *c = NULL;
    rc = ebb_coordinator_open(cfg, &c, &err);
    if (rc != EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "coordinator", "cannot start: %s", err.msg);
        ebb_coord_config_free(cfg);
        return ebb_exit_for_code(rc);
    }
    rc = ebb_coordinator_serve(c, &stop_flag, &err);
    ebb_log(EBB_LOG_INFO, "coordinator", "shutting down%s%s", rc != EBB_OK ? ": " : "",
            rc != EBB_OK ? err.msg : "");
    ebb_coordinator_close(c);
    ebb_coord_config_free(cfg);
    return rc == EBB_OK ? EBB_EXIT_OK : ebb_exit_for_code(rc);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EBB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EBB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ebb-coordinator %s\n", EBB_VERSION);
        return EBB_EXIT_OK;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "check-config") == 0)
        return cmd_check_config(argc - 2, argv + 2);
    if (strcmp(argv[1], "do") == 0) {
        if (argc >= 3 && strcmp(argv[2], "fsm") == 0)
            return cmd_do_fsm(argc - 3, argv + 3);
        fprintf(stderr, "ebb-coordinator do: unknown subcommand (try: do fsm)\n");
        return EBB_EXIT_USAGE;
    }
    fprintf(stderr, "ebb-coordinator: unknown command '%s' (try --help)\n", argv[1]);
    return EBB_EXIT_USAGE;
}
