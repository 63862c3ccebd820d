/* ebb-coordinator: plans and drives runs across the fleet; keeps the audit. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/fsm_host.h"
#include "coordinator/fsm_run.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ebb-coordinator COMMAND [OPTIONS]\n"
                 "\n"
                 "The ebb coordinator: keeps the inventory of agents, plans and drives\n"
                 "staged runs, and keeps the tamper-evident audit journal.\n"
                 "\n"
                 "Commands:\n"
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
    if (strcmp(argv[1], "do") == 0) {
        if (argc >= 3 && strcmp(argv[2], "fsm") == 0)
            return cmd_do_fsm(argc - 3, argv + 3);
        fprintf(stderr, "ebb-coordinator do: unknown subcommand (try: do fsm)\n");
        return EBB_EXIT_USAGE;
    }
    fprintf(stderr, "ebb-coordinator: unknown command '%s' (try --help)\n", argv[1]);
    return EBB_EXIT_USAGE;
}
