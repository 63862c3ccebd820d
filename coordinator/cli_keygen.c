/* `ebb keygen`: create an Ed25519 key pair file. */
#include "coordinator/cli_keygen.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "common/exit_codes.h"
#include "common/keys.h"

static void keygen_usage(FILE *f)
{
    fprintf(f, "Usage: ebb keygen --out PATH [--force] [--json]\n"
               "\n"
               "Create an Ed25519 key pair: the secret key in PATH (mode 0600) and the\n"
               "public key in PATH.pub. Prints the key id and the public key (base64),\n"
               "which the other side needs to trust this key.\n"
               "\n"
               "  --out PATH   where to write the secret key (required)\n"
               "  --force      replace existing PATH and PATH.pub\n"
               "  --json       print the result as JSON\n"
               "  --help       show this help\n");
}

static int fail(FILE *out, FILE *errout, bool json, const ebb_error *err)
{
    if (json) {
        json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", ebb_code_name(err->code), "message",
                              err->msg);
        if (o != NULL) {
            json_dumpf(o, out, JSON_INDENT(2));
            fputc('\n', out);
            json_decref(o);
        }
    }
    fprintf(errout, "ebb keygen: %s\n", err->msg);
    return ebb_exit_for_code(err->code);
}

int ebb_cli_keygen(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool force = false, json = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:fjh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            path = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            keygen_usage(out);
            return EBB_EXIT_OK;
        default:
            fprintf(errout, "ebb keygen: unknown or incomplete option '%s'\n", argv[optind - 1]);
            keygen_usage(errout);
            return EBB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(errout, "ebb keygen: unexpected argument '%s'\n", argv[optind]);
        keygen_usage(errout);
        return EBB_EXIT_USAGE;
    }
    if (path == NULL || path[0] == '\0') {
        fprintf(errout, "ebb keygen: --out PATH is required\n");
        keygen_usage(errout);
        return EBB_EXIT_USAGE;
    }

    ebb_error err;
    ebb_error_clear(&err);
    ebb_secret_key *key = NULL;
    if (ebb_secret_key_generate(&key, &err) != EBB_OK)
        return fail(out, errout, json, &err);
    if (ebb_secret_key_save(key, path, force, &err) != EBB_OK) {
        ebb_secret_key_free(key);
        return fail(out, errout, json, &err);
    }
    char id[EBB_KEY_ID_HEX_SIZE], b64[EBB_PUBLIC_KEY_B64_SIZE], pub_path[PATH_MAX];
    ebb_key_id_hex(ebb_secret_key_id(key), id);
    ebb_public_key_base64(ebb_secret_key_public(key), b64);
    ebb_secret_key_free(key);
    snprintf(pub_path, sizeof pub_path, "%s.pub", path);

    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "key_id", id, "public_key", b64,
                              "secret_key_file", path, "public_key_file", pub_path);
        if (o == NULL) {
            ebb_error_set(&err, EBB_E_NOMEM, "building the JSON output failed");
            return fail(out, errout, false, &err);
        }
        json_dumpf(o, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(o);
    } else {
        fprintf(out,
                "Secret key: %s (mode 0600; keep it private)\n"
                "Public key: %s\n"
                "Key id:     %s\n"
                "Public key (base64): %s\n",
                path, pub_path, id, b64);
    }
    return EBB_EXIT_OK;
}
