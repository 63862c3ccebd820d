/* The operator CLI's side of the operator API: connection settings, one signed request, its checked
 * reply. */
#ifndef EBB_COORDINATOR_CLI_CLIENT_H
#define EBB_COORDINATOR_CLI_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

/*
 * Connection options every network command accepts (getopt_long codes
 * EBB_CLI_OPT_*; add EBB_CLI_CONN_LONGOPTS to a command's option table and
 * pass the codes to ebb_cli_conn_option):
 *
 *   --coordinator URL        env EBB_COORDINATOR        (required)
 *   --key FILE               env EBB_KEY                ~/.config/ebb/operator.key
 *   --coordinator-key FILE   env EBB_COORDINATOR_KEY    ~/.config/ebb/coordinator.pub
 *   --state-dir DIR          env EBB_STATE_DIR          $XDG_STATE_HOME/ebb or ~/.local/state/ebb
 *   --timeout SECONDS        env EBB_TIMEOUT            30
 */
enum {
    EBB_CLI_OPT_COORDINATOR = 1000,
    EBB_CLI_OPT_KEY,
    EBB_CLI_OPT_COORDINATOR_KEY,
    EBB_CLI_OPT_STATE_DIR,
    EBB_CLI_OPT_TIMEOUT,
};

#define EBB_CLI_CONN_LONGOPTS                                                                      \
    {"coordinator", required_argument, NULL, EBB_CLI_OPT_COORDINATOR},                             \
        {"key", required_argument, NULL, EBB_CLI_OPT_KEY},                                         \
        {"coordinator-key", required_argument, NULL, EBB_CLI_OPT_COORDINATOR_KEY},                 \
        {"state-dir", required_argument, NULL, EBB_CLI_OPT_STATE_DIR},                             \
    {                                                                                              \
        "timeout", required_argument, NULL, EBB_CLI_OPT_TIMEOUT                                    \
    }

/* The help text of those options (for every command's usage). */
#define EBB_CLI_CONN_HELP                                                                          \
    "Connection (also from the environment):\n"                                                    \
    "  --coordinator URL        coordinator's operator address (EBB_COORDINATOR),\n"               \
    "                           e.g. tcp://coord.example:7401\n"                                   \
    "  --key FILE               operator secret key (EBB_KEY;\n"                                   \
    "                           default ~/.config/ebb/operator.key)\n"                             \
    "  --coordinator-key FILE   coordinator public key, pinned (EBB_COORDINATOR_KEY;\n"            \
    "                           default ~/.config/ebb/coordinator.pub)\n"                          \
    "  --state-dir DIR          replay store of the coordinator's replies (EBB_STATE_DIR;\n"       \
    "                           default ~/.local/state/ebb)\n"                                     \
    "  --timeout SECONDS        wait at most this long for a reply (EBB_TIMEOUT; default 30)\n"

#define EBB_CLI_DEFAULT_TIMEOUT_S 30

/* Options as given on the command line; NULL / 0 when not given. Borrowed strings. */
typedef struct ebb_cli_conn_args {
    const char *coordinator;
    const char *key_file;
    const char *coordinator_key;
    const char *state_dir;
    const char *timeout;
} ebb_cli_conn_args;

/*
 * Take one of the EBB_CLI_OPT_* options into a (optarg borrowed). False
 * when opt is not a connection option.
 */
bool ebb_cli_conn_option(ebb_cli_conn_args *a, int opt, const char *optarg);

/* Resolved settings: every field filled. */
typedef struct ebb_cli_settings {
    char coordinator[512];
    char key_file[PATH_MAX];
    char coordinator_key[PATH_MAX];
    char state_dir[PATH_MAX];
    int timeout_ms;
} ebb_cli_settings;

/* getenv, or a stand-in for tests; returns NULL for unset names. */
typedef const char *(*ebb_cli_getenv_fn)(void *ctx, const char *name);

/*
 * Resolve: the option, else the environment variable, else the default
 * (HOME and XDG_STATE_HOME are read through env too). Pure: no file is
 * touched. EBB_E_CONFIG when no coordinator address is given anywhere or
 * HOME is needed and unset; EBB_E_INVALID for a timeout that is not a
 * number of seconds in 1..3600. *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_cli_settings_resolve(const ebb_cli_conn_args *a, ebb_cli_getenv_fn env,
                                                void *env_ctx, ebb_cli_settings *out,
                                                ebb_error *err);

/* The process environment as an ebb_cli_getenv_fn (ctx unused). */
const char *ebb_cli_getenv(void *ctx, const char *name);

/* Request arguments: name=value pairs in order. Owns its strings. */
typedef struct ebb_cli_args {
    char **items; /* "name=value" */
    size_t n;
    size_t cap;
    bool oom; /* an add ran out of memory: the call refuses to send */
} ebb_cli_args;

void ebb_cli_args_init(ebb_cli_args *a);
void ebb_cli_args_fini(ebb_cli_args *a);
/* Add name=value (both copied); value NULL adds nothing. */
void ebb_cli_args_add(ebb_cli_args *a, const char *name, const char *value);
/* Add name=true when flag is set. */
void ebb_cli_args_flag(ebb_cli_args *a, const char *name, bool flag);
/* Add one name=value per element of a comma-separated list ("h1,h2"); empty elements skipped. */
void ebb_cli_args_list(ebb_cli_args *a, const char *name, const char *csv);

/* The coordinator's answer. Owns everything. */
typedef struct ebb_cli_response {
    int status;      /* the exit code the coordinator chose (common/exit_codes.h) */
    char *message;   /* human text; "" when none */
    char *json_text; /* the machine-readable result as sent; NULL when none */
    json_t *json;    /* json_text parsed; NULL when none */
} ebb_cli_response;

void ebb_cli_response_fini(ebb_cli_response *r);

/*
 * One round trip: load the operator key and the pinned coordinator key,
 * seal an OperatorRequest {command, args} to the coordinator's key id,
 * send it (no resend), wait at most s->timeout_ms, and open the reply with
 * every envelope check against the coordinator key alone, with the replay
 * store "<state_dir>/coordinator.replay" (created 0700/0600). The store is
 * held locked for the whole round trip, so CLIs run side by side take turns
 * rather than tripping each other's replay check.
 *
 * Errors: EBB_E_KEY_* / EBB_E_NOT_FOUND / EBB_E_IO for key and state files;
 * EBB_E_NET (nothing listens at the address) and EBB_E_TIMEOUT (no reply)
 * for an unreachable coordinator; EBB_E_REFUSED when the coordinator
 * answered with an Error (it refused the request's envelope: unknown or
 * revoked operator key, ...), the message carries its code and text;
 * envelope codes (EBB_E_ENV_*) when its reply does not pass the checks,
 * EBB_E_VERIFY when it does not echo the request's random request_id.
 * A reply with a non-zero status is a success of the call: the caller
 * reports out->status. *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_cli_call(const ebb_cli_settings *s, const char *command,
                                    const ebb_cli_args *args, ebb_cli_response *out,
                                    ebb_error *err);

/* The exit code for a failed call: 7 unreachable, 4 refused, else ebb_exit_for_code. */
int ebb_cli_exit_for_call(ebb_code code);

/*
 * Print "ebb <cmd>: <message>" to errout for a failed call and return its
 * exit code.
 */
int ebb_cli_report_call_error(const char *cmd, const ebb_error *err, FILE *errout);

/*
 * The common shell of a network command: resolve the settings from conn
 * and the environment, call, and report failures: a failed call prints
 * "ebb <cmd>: <why>" to errout; an answer with a non-zero status prints the
 * coordinator's message there (and, with json, its JSON result to out).
 * Returns -1 with *resp filled (caller: ebb_cli_response_fini) when the
 * status is 0, else the exit code to end with.
 */
int ebb_cli_request(const char *cmd, const ebb_cli_conn_args *conn, const char *command,
                    const ebb_cli_args *args, bool json, ebb_cli_response *resp, FILE *out,
                    FILE *errout);

/*
 * Like ebb_cli_request but any answer of the coordinator, whatever its
 * status, returns -1 with *resp filled: for commands that show a result
 * that comes with a failure status (a plan whose prechecks failed, a
 * verification that failed). Only a failed call returns an exit code.
 */
int ebb_cli_request_any(const char *cmd, const ebb_cli_conn_args *conn, const char *command,
                        const ebb_cli_args *args, ebb_cli_response *resp, FILE *errout);

/* The coordinator's words for a refusal: its message, else json.error.message. */
const char *ebb_cli_response_why(const ebb_cli_response *r);

/* Unix time now in ms (for rendering "ago"). */
long long ebb_cli_now_ms(void);

/*
 * Print a JSON value to out, indented, with a final newline. False when
 * writing failed.
 */
bool ebb_cli_print_json(const json_t *j, FILE *out);

/*
 * A command-line mistake: prints "ebb CMD: MESSAGE (try ebb CMD --help)" to
 * errout and returns EBB_EXIT_USAGE. Every `ebb` command reports usage
 * errors through this one function.
 */
int ebb_cli_usage_error(FILE *errout, const char *cmd, const char *fmt, ...) EBB_PRINTF(3, 4);

#endif
