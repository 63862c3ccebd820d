/* Configuration files: libconfig parses; this layer types values and names FILE:LINE: key. */
#include "common/config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config_t comes first so that a node's ->config leads back to the path. */
struct ebb_config {
    config_t cfg;
    char *path;
    char *dir;
};

ebb_code ebb_config_load(const char *path, ebb_config **out, ebb_error *err)
{
    /* Open it ourselves first: libconfig's I/O error loses errno. */
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot read configuration file %s", path);
    fclose(f);
    ebb_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    c->path = strdup(path);
    char *tmp = strdup(path);
    if (c->path == NULL || tmp == NULL) {
        free(tmp);
        free(c->path);
        free(c);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    c->dir = strdup(dirname(tmp));
    free(tmp);
    config_init(&c->cfg);
    config_set_auto_convert(&c->cfg, 0);
    if (c->dir != NULL)
        config_set_include_dir(&c->cfg, c->dir);
    if (config_read_file(&c->cfg, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&c->cfg);
        if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
            ebb_error_set(err, EBB_E_IO, "%s: %s", file != NULL ? file : path,
                          config_error_text(&c->cfg));
        else
            ebb_error_set(err, EBB_E_CONFIG, "%s:%d: %s", file != NULL ? file : path,
                          config_error_line(&c->cfg), config_error_text(&c->cfg));
        ebb_code rc = err != NULL ? err->code : EBB_E_CONFIG;
        ebb_config_free(c);
        return rc;
    }
    *out = c;
    return EBB_OK;
}

void ebb_config_free(ebb_config *cfg)
{
    if (cfg == NULL)
        return;
    config_destroy(&cfg->cfg);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const config_setting_t *ebb_config_root(const ebb_config *cfg)
{
    return config_root_setting(&cfg->cfg);
}

static size_t path_into(const config_setting_t *node, char *buf, size_t n)
{
    if (node == NULL || node->parent == NULL) {
        if (n > 0)
            buf[0] = '\0';
        return 0;
    }
    size_t len = path_into(node->parent, buf, n);
    const char *sep = len > 0 ? "." : "";
    int w;
    if (config_setting_name(node) != NULL)
        w = snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, "%s%s", sep,
                     config_setting_name(node));
    else
        w = snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, "%s[%d]", sep,
                     config_setting_index(node));
    return len + (size_t)(w > 0 ? w : 0);
}

const char *ebb_config_path(const config_setting_t *node, char *buf, size_t n)
{
    path_into(node, buf, n);
    return buf;
}

/* File of a node: the one it was read from (@include), else the loaded file. */
static const char *node_file(const config_setting_t *node)
{
    if (node->file != NULL)
        return node->file;
    return ((const struct ebb_config *)(const void *)node->config)->path;
}

/* "FILE:LINE: PATH[.key]: " prefix for node; key may be NULL. */
static void where(const config_setting_t *node, const char *key, char *buf, size_t n)
{
    char path[512];
    size_t len = path_into(node, path, sizeof path);
    if (key != NULL)
        snprintf(path + len, len < sizeof path ? sizeof path - len : 0, "%s%s", len > 0 ? "." : "",
                 key);
    unsigned line = config_setting_source_line(node);
    if (line > 0)
        snprintf(buf, n, "%s:%u: %s", node_file(node), line, path);
    else
        snprintf(buf, n, "%s: %s", node_file(node), path);
}

static ebb_code verror(ebb_error *err, const config_setting_t *node, const char *key,
                       const char *fmt, va_list ap)
{
    if (err == NULL)
        return EBB_E_CONFIG;
    char prefix[768], msg[512];
    where(node, key, prefix, sizeof prefix);
    vsnprintf(msg, sizeof msg, fmt, ap);
    return ebb_error_set(err, EBB_E_CONFIG, "%s: %s", prefix, msg);
}

ebb_code ebb_config_error(ebb_error *err, const config_setting_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(err, node, NULL, fmt, ap);
    va_end(ap);
    return EBB_E_CONFIG;
}

static ebb_code key_error(ebb_error *err, const config_setting_t *node, const char *key,
                          const char *fmt, ...) EBB_PRINTF(4, 5);

static ebb_code key_error(ebb_error *err, const config_setting_t *node, const char *key,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(err, node, key, fmt, ap);
    va_end(ap);
    return EBB_E_CONFIG;
}

static ebb_code missing(ebb_error *err, const config_setting_t *group, const char *key)
{
    return key_error(err, group, key, "required key is missing");
}

static const char *type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number with a fraction";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    case CONFIG_TYPE_GROUP:
        return "a group";
    default:
        return "nothing";
    }
}

static ebb_code wrong_type(ebb_error *err, const config_setting_t *s, const char *expected)
{
    return ebb_config_error(err, s, "expected %s (found %s)", expected, type_name(s));
}

/* Member key of group, or NULL; a group that is not a group has no members. */
static const config_setting_t *member(const config_setting_t *group, const char *key)
{
    if (group == NULL || !config_setting_is_group(group))
        return NULL;
    return config_setting_get_member(group, key);
}

static ebb_code string_of(const config_setting_t *s, const char **out, ebb_error *err)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return wrong_type(err, s, "a string");
    *out = config_setting_get_string(s);
    return EBB_OK;
}

ebb_code ebb_config_get_string(const config_setting_t *group, const char *key, const char **out,
                               ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    return string_of(s, out, err);
}

ebb_code ebb_config_opt_string(const config_setting_t *group, const char *key, const char *def,
                               const char **out, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL) {
        *out = def;
        return EBB_OK;
    }
    return string_of(s, out, err);
}

static ebb_code int_of(const config_setting_t *s, long long min, long long max, long long *out,
                       ebb_error *err)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return wrong_type(err, s, "an integer");
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return ebb_config_error(err, s, "%lld is out of range (%lld to %lld)", v, min, max);
    *out = v;
    return EBB_OK;
}

ebb_code ebb_config_get_int(const config_setting_t *group, const char *key, long long min,
                            long long max, long long *out, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    return int_of(s, min, max, out, err);
}

ebb_code ebb_config_opt_int(const config_setting_t *group, const char *key, long long def,
                            long long min, long long max, long long *out, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL) {
        *out = def;
        return EBB_OK;
    }
    return int_of(s, min, max, out, err);
}

static ebb_code bool_of(const config_setting_t *s, bool *out, ebb_error *err)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return wrong_type(err, s, "true or false");
    *out = config_setting_get_bool(s) != 0;
    return EBB_OK;
}

ebb_code ebb_config_get_bool(const config_setting_t *group, const char *key, bool *out,
                             ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    return bool_of(s, out, err);
}

ebb_code ebb_config_opt_bool(const config_setting_t *group, const char *key, bool def, bool *out,
                             ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL) {
        *out = def;
        return EBB_OK;
    }
    return bool_of(s, out, err);
}

static ebb_code strings_of(const config_setting_t *s, size_t min_count, const char ***out,
                           size_t *count, ebb_error *err)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return wrong_type(err, s, "a list of strings");
    size_t n = (size_t)config_setting_length(s);
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return ebb_config_error(err, e, "expected a list of strings (element %zu is %s)", i,
                                    type_name(e));
    }
    if (n < min_count)
        return ebb_config_error(err, s, "expected a list of at least %zu string%s (found %zu)",
                                min_count, min_count == 1 ? "" : "s", n);
    const char **v = calloc(n + 1, sizeof *v);
    if (v == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
    *out = v;
    if (count != NULL)
        *count = n;
    return EBB_OK;
}

ebb_code ebb_config_get_strings(const config_setting_t *group, const char *key, size_t min_count,
                                const char ***out, size_t *count, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    return strings_of(s, min_count, out, count, err);
}

ebb_code ebb_config_opt_strings(const config_setting_t *group, const char *key, size_t min_count,
                                const char ***out, size_t *count, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL) {
        *out = NULL;
        if (count != NULL)
            *count = 0;
        return EBB_OK;
    }
    return strings_of(s, min_count, out, count, err);
}

ebb_code ebb_config_get_group(const config_setting_t *group, const char *key,
                              const config_setting_t **out, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    if (!config_setting_is_group(s))
        return wrong_type(err, s, "a group { ... }");
    *out = s;
    return EBB_OK;
}

ebb_code ebb_config_opt_group(const config_setting_t *group, const char *key,
                              const config_setting_t **out, ebb_error *err)
{
    if (member(group, key) == NULL) {
        *out = NULL;
        return EBB_OK;
    }
    return ebb_config_get_group(group, key, out, err);
}

ebb_code ebb_config_get_group_list(const config_setting_t *group, const char *key,
                                   const config_setting_t **out, size_t *count, ebb_error *err)
{
    const config_setting_t *s = member(group, key);
    if (s == NULL)
        return missing(err, group, key);
    /* An empty () or [] is an empty list either way. */
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0))
        return wrong_type(err, s, "a list of groups ( { ... }, ... )");
    size_t n = (size_t)config_setting_length(s);
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (!config_setting_is_group(e))
            return wrong_type(err, e, "a group { ... }");
    }
    *out = s;
    *count = n;
    return EBB_OK;
}

ebb_code ebb_config_opt_group_list(const config_setting_t *group, const char *key,
                                   const config_setting_t **out, size_t *count, ebb_error *err)
{
    if (member(group, key) == NULL) {
        *out = NULL;
        *count = 0;
        return EBB_OK;
    }
    return ebb_config_get_group_list(group, key, out, count, err);
}

const config_setting_t *ebb_config_elem(const config_setting_t *list, size_t i)
{
    if (list == NULL || i >= (size_t)config_setting_length(list))
        return NULL;
    return config_setting_get_elem(list, (unsigned)i);
}

/* Levenshtein distance, for "did you mean"; names are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

ebb_code ebb_config_check_keys(const config_setting_t *group, const char *const *allowed,
                               ebb_error *err)
{
    if (!config_setting_is_group(group))
        return wrong_type(err, group, "a group { ... }");
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        bool known = false;
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t k = 0; allowed[k] != NULL && !known; k++) {
            known = strcmp(allowed[k], name) == 0;
            size_t d = edit_distance(name, allowed[k]);
            if (d < best_d) {
                best_d = d;
                best = allowed[k];
            }
        }
        if (known)
            continue;
        /* Close enough to be a typo: at most 2 edits, and fewer than a third of the name. */
        size_t len = strlen(name);
        if (best != NULL && best_d <= 2 && best_d * 3 <= len + 1)
            return ebb_config_error(err, s, "unknown key \"%s\" (did you mean \"%s\"?)", name,
                                    best);
        return ebb_config_error(err, s, "unknown key \"%s\"", name);
    }
    return EBB_OK;
}
