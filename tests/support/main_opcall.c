/*
 * ebb-test-opcall: one operator API call, for the coordinator's integration
 * tests (the `ebb` CLI is the real client):
 *
 *   ebb-test-opcall --url URL --coordinator-key FILE.pub --key OPERATOR.key
 *                   [--timeout-ms MS] COMMAND [name=value ...]
 *
 * Prints {"status": N, "message": "...", "json": {...}} on one line and
 * exits 0 when the call went through (whatever the status), 7 when it did
 * not (the error on stderr).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/keys.h"
#include "coordinator/opapi.h"

int main(int argc, char **argv)
{
    const char *url = NULL, *cpub = NULL, *key = NULL;
    int timeout = 60000;
    static const struct option lo[] = {{"url", required_argument, NULL, 'u'},
                                       {"coordinator-key", required_argument, NULL, 'c'},
                                       {"key", required_argument, NULL, 'k'},
                                       {"timeout-ms", required_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            cpub = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 't':
            timeout = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (url == NULL || cpub == NULL || key == NULL || optind >= argc) {
        fprintf(stderr, "usage: ebb-test-opcall --url URL --coordinator-key PUB --key KEY "
                        "COMMAND [name=value ...]\n");
        return 2;
    }
    ebb_public_key pk;
    ebb_secret_key *sk = NULL;
    ebb_opapi_client *c = NULL;
    ebb_opapi_response r = {0};
    ebb_error err;
    ebb_code rc = ebb_public_key_load(cpub, &pk, &err);
    if (rc == EBB_OK)
        rc = ebb_secret_key_load(key, &sk, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_client_open(url, &pk, sk, &c, &err);
    if (rc == EBB_OK)
        rc = ebb_opapi_client_call(c, argv[optind], (const char *const *)argv + optind + 1,
                                   (size_t)(argc - optind - 1), timeout, &r, &err);
    if (rc == EBB_OK) {
        json_t *o =
            json_pack("{s:i, s:s, s:O}", "status", r.status, "message", r.message, "json", r.json);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        fprintf(stderr, "ebb-test-opcall: %s: %s\n", ebb_code_name(rc), err.msg);
    }
    ebb_opapi_response_fini(&r);
    ebb_opapi_client_close(c);
    ebb_secret_key_free(sk);
    return rc == EBB_OK ? 0 : 7;
}
