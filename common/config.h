/* Configuration files on libconfig: load, typed getters, errors naming FILE:LINE: key path. */
#ifndef EBB_COMMON_CONFIG_H
#define EBB_COMMON_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * A loaded file. Nodes (const config_setting_t *) and strings obtained
 * from it belong to it and stay valid until ebb_config_free(). Every error
 * is EBB_E_CONFIG with a message of the form
 *   "agent.conf:14: databases.[1].services.stop: expected a list of strings"
 * (file as given to ebb_config_load, line of the offending setting, full
 * key path with list elements as [i]).
 */
typedef struct ebb_config ebb_config;

/*
 * Read and parse path; *out is set only on success. An unreadable file is
 * EBB_E_IO; a syntax error is EBB_E_CONFIG "FILE:LINE: message". @include
 * paths are relative to the file's directory.
 */
EBB_MUSTCHECK ebb_code ebb_config_load(const char *path, ebb_config **out, ebb_error *err);
void ebb_config_free(ebb_config *cfg);

/* The top-level group. */
const config_setting_t *ebb_config_root(const ebb_config *cfg);

/* Full key path of a node ("databases.[1].services.stop", "" for the root) into buf. */
const char *ebb_config_path(const config_setting_t *node, char *buf, size_t n);

/*
 * Fill err with EBB_E_CONFIG "FILE:LINE: PATH: message" for node (callers
 * use it for checks of their own, e.g. an invalid address). Returns EBB_E_CONFIG.
 */
ebb_code ebb_config_error(ebb_error *err, const config_setting_t *node, const char *fmt, ...)
    EBB_PRINTF(3, 4);

/*
 * Typed getters on a member `key` of `group`. get_* require the key; opt_*
 * give the default when it is absent. A present key of the wrong type is
 * always an error. Out-parameters are set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_config_get_string(const config_setting_t *group, const char *key,
                                             const char **out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_string(const config_setting_t *group, const char *key,
                                             const char *def, const char **out, ebb_error *err);

/* Integers must lie in [min, max]. */
EBB_MUSTCHECK ebb_code ebb_config_get_int(const config_setting_t *group, const char *key,
                                          long long min, long long max, long long *out,
                                          ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_int(const config_setting_t *group, const char *key,
                                          long long def, long long min, long long max,
                                          long long *out, ebb_error *err);

EBB_MUSTCHECK ebb_code ebb_config_get_bool(const config_setting_t *group, const char *key,
                                           bool *out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_bool(const config_setting_t *group, const char *key, bool def,
                                           bool *out, ebb_error *err);

/*
 * A list or array of strings (an argv: ["systemctl", "stop", "app"]) as a
 * malloc'd NULL-terminated array whose strings belong to the config: the
 * caller frees the array only. *count (may be NULL) gets its length.
 * min_count lets an argv require at least one element. The opt_ variant
 * gives *out = NULL and count 0 when the key is absent.
 */
EBB_MUSTCHECK ebb_code ebb_config_get_strings(const config_setting_t *group, const char *key,
                                              size_t min_count, const char ***out, size_t *count,
                                              ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_strings(const config_setting_t *group, const char *key,
                                              size_t min_count, const char ***out, size_t *count,
                                              ebb_error *err);

/* A sub-group { ... }; the opt_ variant gives NULL when absent. */
EBB_MUSTCHECK ebb_code ebb_config_get_group(const config_setting_t *group, const char *key,
                                            const config_setting_t **out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_group(const config_setting_t *group, const char *key,
                                            const config_setting_t **out, ebb_error *err);

/*
 * A list of groups ( { ... }, { ... } ): *out is the list node (elements
 * via ebb_config_elem), *count its length; every element is checked to be
 * a group. The opt_ variant gives NULL and 0 when absent.
 */
EBB_MUSTCHECK ebb_code ebb_config_get_group_list(const config_setting_t *group, const char *key,
                                                 const config_setting_t **out, size_t *count,
                                                 ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_config_opt_group_list(const config_setting_t *group, const char *key,
                                                 const config_setting_t **out, size_t *count,
                                                 ebb_error *err);

/* Element i of a list or array (NULL when out of range). */
const config_setting_t *ebb_config_elem(const config_setting_t *list, size_t i);

/*
 * Every member of group must be one of allowed (NULL-terminated). The
 * first unknown one is an error naming it and its line, with
 * "did you mean ...?" when an allowed name is within a small edit distance.
 */
EBB_MUSTCHECK ebb_code ebb_config_check_keys(const config_setting_t *group,
                                             const char *const *allowed, ebb_error *err);

#endif
