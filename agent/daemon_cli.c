/* `ebb-agent run`: configuration, logging and signal flags around the daemon. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/daemon.h"
#include "common/exit_codes.h"
#include "common/failpoint.h"
#include "common/log.h"

static volatile sig_atomic_t stop_flag;

/* Handlers only set flags: the first signal asks for a drain, a second for leaving now. */
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = stop_flag == 0 ? 1 : 2;
}

static void run_usage(FILE *out)
{
    fprintf(out, "Usage: ebb-agent run --config FILE [--status-file FILE]\n"
                 "\n"
                 "Run the agent daemon: dial the coordinator named in FILE, enroll with the\n"
                 "agent key, poll for signed jobs and run them (docs/agent.md).\n"
                 "\n"
                 "  --config FILE        the agent configuration (see ebb-agent check-config)\n"
                 "  --status-file FILE   keep a JSON status (state, counters, rejected messages)\n"
                 "                       in FILE, rewritten as it changes\n"
                 "\n"
                 "SIGTERM / SIGINT: stop taking jobs, let running jobs finish and report them,\n"
                 "then exit; a second signal exits at once (running jobs are then reported\n"
                 "interrupted at the next start, and never run again).\n");
}

int ebb_agent_run_main(int argc, char **argv)
{
    const char *path = NULL, *status = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            run_usage(stdout);
            return EBB_EXIT_OK;
        }
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--status-file") == 0 && i + 1 < argc) {
            status = argv[++i];
        } else {
            fprintf(stderr, "ebb-agent run: unexpected argument '%s'\n", argv[i]);
            run_usage(stderr);
            return EBB_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        run_usage(stderr);
        return EBB_EXIT_USAGE;
    }
    ebb_agent_config *cfg = NULL;
    int code = ebb_agent_config_open_for("ebb-agent run", path, &cfg);
    if (code != EBB_EXIT_OK)
        return code;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_log_level level = EBB_LOG_INFO;
    if (ebb_log_level_parse(cfg->log_level, &level, &err) != EBB_OK) {
        fprintf(stderr, "ebb-agent run: %s: agent.log_level: %s\n", path, err.msg);
        ebb_agent_config_free(cfg);
        return EBB_EXIT_CONFIG;
    }
    ebb_log_init(strcmp(cfg->log_format, "json") == 0 ? EBB_LOG_JSON : EBB_LOG_TEXT, level, 2);
    /* Test-only (docs/testing.md): a spec that arms nothing would make a drill wait in vain. */
    if (ebb_failpoint_init(&err) != EBB_OK) {
        fprintf(stderr, "ebb-agent run: %s\n", err.msg);
        ebb_agent_config_free(cfg);
        return EBB_EXIT_CONFIG;
    }

    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ebb_daemon_opts opts = {.status_path = status, .stop = &stop_flag};
    ebb_code rc = ebb_daemon_run(cfg, &opts, &err);
    if (rc != EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "agent", "cannot start: %s", err.msg);
        ebb_agent_config_free(cfg);
        return ebb_exit_for_code(rc);
    }
    /* After a second signal jobs may still run on other threads: exit without freeing
     * what they use. */
    if (stop_flag >= 2)
        return EBB_EXIT_OK;
    ebb_agent_config_free(cfg);
    return EBB_EXIT_OK;
}
