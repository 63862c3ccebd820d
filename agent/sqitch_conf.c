/*
 * sqitch.conf. Sqitch reads it (one `sqitch config --local --list` per load:
 * git's own reader refuses Sqitch's underscored keys); the layout rules are
 * those of App::Sqitch::Target, with Perl's truth for "is this setting set".
 */
#include "agent/sqitch_conf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/runner.h"

#define SQITCH_TIMEOUT_MS 30000
#define CONF_MAX_OUTPUT (1u << 20)

void ebb_sqitch_conf_fini(ebb_sqitch_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->count; i++) {
        free(conf->keys[i]);
        free(conf->values[i]);
    }
    free(conf->keys);
    free(conf->values);
    memset(conf, 0, sizeof *conf);
}

ebb_code ebb_sqitch_conf_parse(const char *text, size_t len, ebb_sqitch_conf *out, ebb_error *err)
{
    ebb_sqitch_conf c = {0};
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    c.keys = calloc(n, sizeof *c.keys);
    c.values = calloc(n, sizeof *c.values);
    if (!c.keys || !c.values) {
        ebb_sqitch_conf_fini(&c);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading sqitch.conf");
    }
    size_t pos = 0;
    while (pos < len) {
        const char *rec = text + pos;
        const char *end = memchr(rec, '\n', len - pos);
        size_t rlen = end ? (size_t)(end - rec) : len - pos;
        pos += rlen + 1;
        if (rlen == 0)
            continue;
        const char *eq = memchr(rec, '=', rlen);
        size_t klen = eq ? (size_t)(eq - rec) : rlen;
        c.keys[c.count] = strndup(rec, klen);
        c.values[c.count] = eq ? strndup(eq + 1, rlen - klen - 1) : NULL;
        c.count++;
        if (!c.keys[c.count - 1] || (eq && !c.values[c.count - 1])) {
            ebb_sqitch_conf_fini(&c);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading sqitch.conf");
        }
    }
    *out = c;
    return EBB_OK;
}

ebb_code ebb_sqitch_conf_read(const char *path, ebb_sqitch_conf *out, ebb_error *err)
{
    const char *argv[] = {"sqitch", "config", "--local", "--list", NULL};
    size_t elen = strlen("SQITCH_CONFIG=") + strlen(path) + 1;
    char *env_conf = malloc(elen);
    if (!env_conf)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", path);
    snprintf(env_conf, elen, "SQITCH_CONFIG=%s", path);
    const char *env[] = {env_conf, NULL};
    ebb_run_opts opts = {
        .argv = argv,
        .env = env,
        .timeout_ms = SQITCH_TIMEOUT_MS,
        .max_output = CONF_MAX_OUTPUT,
    };
    ebb_run_result res = {0};
    ebb_code rc = ebb_run_check(&opts, &res, err);
    if (rc == EBB_E_CHILD && res.exit_code > 0) {
        /* sqitch ran and refused the file: its stderr names the file and line. */
        char *msg = res.err ? res.err : "";
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
            l--;
        for (size_t i = 0; i < l; i++)
            if (msg[i] == '\n')
                msg[i] = ' ';
        rc = ebb_error_set(err, EBB_E_CONFIG, "%s: sqitch cannot read it: %.*s", path, (int)l,
                           msg);
    } else if (rc != EBB_OK) {
        ebb_error_prefix(err, "reading %s (Sqitch projects need the sqitch program)", path);
    } else if (res.out_cut) {
        rc = ebb_error_set(err, EBB_E_CONFIG, "%s: larger than %u bytes of settings", path,
                           CONF_MAX_OUTPUT);
    } else {
        rc = ebb_sqitch_conf_parse(res.out, res.out_len, out, err);
    }
    ebb_run_result_fini(&res);
    free(env_conf);
    return rc;
}

const char *ebb_sqitch_conf_get(const ebb_sqitch_conf *conf, const char *key)
{
    if (!conf)
        return NULL;
    for (size_t i = conf->count; i-- > 0;)
        if (strcmp(conf->keys[i], key) == 0)
            return conf->values[i];
    return NULL;
}

void ebb_sqitch_layout_fini(ebb_sqitch_layout *l)
{
    if (!l)
        return;
    char **all[] = {&l->engine,     &l->target,     &l->plan_file,
                    &l->deploy_dir, &l->revert_dir, &l->verify_dir,
                    &l->reworked_deploy_dir, &l->reworked_revert_dir, &l->reworked_verify_dir,
                    &l->extension};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(*all[i]);
    memset(l, 0, sizeof *l);
}

/* Perl's truth: Sqitch writes `$config->get(...) || default`. */
static const char *truthy(const char *s)
{
    return s && s[0] && strcmp(s, "0") != 0 ? s : NULL;
}

static const char *conf_str(const ebb_sqitch_conf *conf, const char *a, const char *b,
                            const char *c)
{
    char key[1024];
    snprintf(key, sizeof key, "%s%s%s", a, b, c);
    return truthy(ebb_sqitch_conf_get(conf, key));
}

/* Target::_fetch: target.<name>.key || engine.<engine>.key || core.key */
static const char *fetch(const ebb_sqitch_conf *conf, const ebb_sqitch_layout *l, const char *key)
{
    char prefix[600];
    snprintf(prefix, sizeof prefix, "target.%s.", l->target);
    const char *v = conf_str(conf, prefix, key, "");
    if (!v) {
        snprintf(prefix, sizeof prefix, "engine.%s.", l->engine);
        v = conf_str(conf, prefix, key, "");
    }
    return v ? v : conf_str(conf, "core.", key, "");
}

/* base/rel, or rel when absolute; "." and leading "./" add nothing. */
static char *path_join(const char *base, const char *rel)
{
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (rel[0] == '/')
        return strdup(rel);
    if (rel[0] == '\0' || strcmp(rel, ".") == 0)
        return strdup(base);
    size_t n = strlen(base) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", base, rel);
    return p;
}

static char *path_or_default(const char *dir, const char *value, const char *base,
                             const char *sub)
{
    return value ? path_join(dir, value) : path_join(base, sub);
}

/* URI::db's canonical engine of "db:<engine>:..." (NULL when it is not one). */
static char *uri_engine(const char *uri)
{
    if (strncmp(uri, "db:", 3) != 0)
        return NULL;
    const char *s = uri + 3;
    size_t n = strcspn(s, ":");
    if (n == 0 || s[n] != ':')
        return NULL;
    if ((n == 8 && strncmp(s, "postgres", 8) == 0) || (n == 10 && strncmp(s, "postgresql", 10) == 0))
        return strdup("pg");
    return strndup(s, n);
}

ebb_code ebb_sqitch_layout_resolve(const ebb_sqitch_conf *conf, const char *conf_path,
                                   const char *dir, ebb_sqitch_layout *out, ebb_error *err)
{
    ebb_sqitch_layout l = {0};
    const char *where = conf_path ? conf_path : "sqitch.conf";
    char engine_buf[256] = "pg"; /* no engine anywhere: ebb only speaks PostgreSQL */
    const char *e = truthy(ebb_sqitch_conf_get(conf, "core.engine"));
    if (e) {
        snprintf(engine_buf, sizeof engine_buf, "%s", e);
        size_t n = strlen(engine_buf);
        while (n > 0 && (engine_buf[n - 1] == ' ' || engine_buf[n - 1] == '\t' ||
                         engine_buf[n - 1] == '\n' || engine_buf[n - 1] == '\r'))
            engine_buf[--n] = '\0';
    }
    char target_buf[512];
    const char *t = truthy(ebb_sqitch_conf_get(conf, "core.target"));
    if (!t)
        t = conf_str(conf, "engine.", engine_buf, ".target");
    if (!t) {
        snprintf(target_buf, sizeof target_buf, "db:%s:", engine_buf);
        t = target_buf;
    }
    const char *uri = t;
    if (!strchr(t, ':')) {
        uri = conf_str(conf, "target.", t, ".uri");
        if (!uri)
            return ebb_error_set(err, EBB_E_CONFIG, "%s: target \"%s\" has no uri", where, t);
    }
    l.target = strdup(t);
    l.engine = uri_engine(uri);
    if (!l.target || !l.engine) {
        bool oom = l.target == NULL;
        ebb_sqitch_layout_fini(&l);
        if (oom)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", where);
        return ebb_error_set(err, EBB_E_CONFIG,
                             "%s: target URI %s does not name an engine (db:<engine>:...)", where,
                             uri);
    }
    if (strcmp(l.engine, "pg") != 0) {
        ebb_code rc = ebb_error_set(err, EBB_E_CONFIG,
                                    "%s: Sqitch engine \"%s\": ebb deploys to PostgreSQL (pg) only",
                                    where, l.engine);
        ebb_sqitch_layout_fini(&l);
        return rc;
    }
    char *top = path_or_default(dir, fetch(conf, &l, "top_dir"), dir, ".");
    char *reworked = top ? path_or_default(dir, fetch(conf, &l, "reworked_dir"), top, ".") : NULL;
    if (top && reworked) {
        const char *ext = fetch(conf, &l, "extension");
        l.extension = strdup(ext ? ext : "sql");
        l.plan_file = path_or_default(dir, fetch(conf, &l, "plan_file"), top, "sqitch.plan");
        l.deploy_dir = path_or_default(dir, fetch(conf, &l, "deploy_dir"), top, "deploy");
        l.revert_dir = path_or_default(dir, fetch(conf, &l, "revert_dir"), top, "revert");
        l.verify_dir = path_or_default(dir, fetch(conf, &l, "verify_dir"), top, "verify");
        l.reworked_deploy_dir =
            path_or_default(dir, fetch(conf, &l, "reworked_deploy_dir"), reworked, "deploy");
        l.reworked_revert_dir =
            path_or_default(dir, fetch(conf, &l, "reworked_revert_dir"), reworked, "revert");
        l.reworked_verify_dir =
            path_or_default(dir, fetch(conf, &l, "reworked_verify_dir"), reworked, "verify");
    }
    free(top);
    free(reworked);
    if (!l.extension || !l.plan_file || !l.deploy_dir || !l.revert_dir || !l.verify_dir ||
        !l.reworked_deploy_dir || !l.reworked_revert_dir || !l.reworked_verify_dir) {
        ebb_sqitch_layout_fini(&l);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", where);
    }
    *out = l;
    return EBB_OK;
}
