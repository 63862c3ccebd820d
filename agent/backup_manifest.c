/* Backup manifests as JSON (jansson), backup ids and retention selection: the pure parts of backups. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/backup.h"

const char *ebb_backup_format_name(ebb_backup_format format)
{
    return format == EBB_BACKUP_DIRECTORY ? "directory" : "custom";
}

ebb_code ebb_backup_format_parse(const char *name, ebb_backup_format *out, ebb_error *err)
{
    if (name != NULL && strcmp(name, "custom") == 0) {
        *out = EBB_BACKUP_CUSTOM;
        return EBB_OK;
    }
    if (name != NULL && strcmp(name, "directory") == 0) {
        *out = EBB_BACKUP_DIRECTORY;
        return EBB_OK;
    }
    return ebb_error_set(err, EBB_E_INVALID, "backup format '%s' is not 'custom' or 'directory'",
                         name ? name : "");
}

void ebb_backup_manifest_fini(ebb_backup_manifest *m)
{
    if (m == NULL)
        return;
    free(m->id);
    free(m->database);
    free(m->server_version);
    for (size_t i = 0; i < m->n_revisions; i++)
        free(m->revisions[i]);
    free(m->revisions);
    free(m->fingerprint);
    free(m->run_id);
    free(m->operator_name);
    free(m->reason);
    free(m->created_at);
    free(m->file);
    free(m->pg_dump_version);
    memset(m, 0, sizeof(*m));
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

ebb_code ebb_backup_manifest_to_json(const ebb_backup_manifest *m, char **out, ebb_error *err)
{
    json_t *revs = json_array();
    if (revs == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a manifest");
    for (size_t i = 0; i < m->n_revisions; i++) {
        if (json_array_append_new(revs, json_string(nz(m->revisions[i]))) != 0) {
            json_decref(revs);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a manifest");
        }
    }
    json_t *obj = json_pack(
        "{s:i, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:s,"
        " s:s, s:b}",
        "manifest_version", m->version, "id", nz(m->id), "database", nz(m->database),
        "server_version", nz(m->server_version), "revisions", revs, "fingerprint",
        nz(m->fingerprint), "run_id", nz(m->run_id), "operator", nz(m->operator_name), "reason",
        nz(m->reason), "created_at", nz(m->created_at), "format",
        ebb_backup_format_name(m->format), "file", nz(m->file), "compression", m->compression,
        "jobs", m->jobs, "size_bytes", (json_int_t)m->size_bytes, "checksum_algorithm",
        "blake2b-256", "checksum", m->checksum, "pg_dump_version", nz(m->pg_dump_version),
        "verified", m->verified ? 1 : 0);
    if (obj == NULL)
        return ebb_error_set(err, EBB_E_INVALID,
                             "cannot build the manifest of backup '%s' (invalid UTF-8 in a field?)",
                             nz(m->id));
    char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(obj);
    if (text == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory writing a manifest");
    size_t len = strlen(text);
    char *res = malloc(len + 2);
    if (res == NULL) {
        free(text);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory writing a manifest");
    }
    memcpy(res, text, len);
    res[len] = '\n';
    res[len + 1] = '\0';
    free(text);
    *out = res;
    return EBB_OK;
}

/* Copy a required string member into *dst. */
static ebb_code take_str(json_t *obj, const char *key, const char *name, char **dst,
                         ebb_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return ebb_error_set(err, EBB_E_INVALID, "%s: key '%s' is missing or not a string",
                             name, key);
    *dst = strdup(json_string_value(v));
    if (*dst == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", name);
    return EBB_OK;
}

static ebb_code take_int(json_t *obj, const char *key, const char *name, json_int_t *dst,
                         ebb_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return ebb_error_set(err, EBB_E_INVALID, "%s: key '%s' is missing or not an integer",
                             name, key);
    *dst = json_integer_value(v);
    return EBB_OK;
}

static ebb_code parse_obj(json_t *obj, const char *name, ebb_backup_manifest *m, ebb_error *err)
{
    ebb_code rc;
    json_int_t iv;
    if ((rc = take_int(obj, "manifest_version", name, &iv, err)) != EBB_OK)
        return rc;
    if (iv != EBB_BACKUP_MANIFEST_VERSION)
        return ebb_error_set(err, EBB_E_INVALID, "%s: manifest_version %lld is not supported "
                             "(this agent reads version %d)", name, (long long)iv,
                             EBB_BACKUP_MANIFEST_VERSION);
    m->version = (int)iv;
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"id", offsetof(ebb_backup_manifest, id)},
        {"database", offsetof(ebb_backup_manifest, database)},
        {"server_version", offsetof(ebb_backup_manifest, server_version)},
        {"fingerprint", offsetof(ebb_backup_manifest, fingerprint)},
        {"run_id", offsetof(ebb_backup_manifest, run_id)},
        {"operator", offsetof(ebb_backup_manifest, operator_name)},
        {"reason", offsetof(ebb_backup_manifest, reason)},
        {"created_at", offsetof(ebb_backup_manifest, created_at)},
        {"file", offsetof(ebb_backup_manifest, file)},
        {"pg_dump_version", offsetof(ebb_backup_manifest, pg_dump_version)},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        char **dst = (char **)((char *)m + strs[i].off);
        if ((rc = take_str(obj, strs[i].key, name, dst, err)) != EBB_OK)
            return rc;
    }
    if (!ebb_backup_id_valid(m->id))
        return ebb_error_set(err, EBB_E_INVALID, "%s: id '%s' is not a backup id", name, m->id);
    /* The dump name comes from the file: it must not point outside the directory. */
    if (strchr(m->file, '/') != NULL || strncmp(m->file, m->id, strlen(m->id)) != 0)
        return ebb_error_set(err, EBB_E_INVALID, "%s: file '%s' does not belong to backup '%s'",
                             name, m->file, m->id);

    json_t *fmt = json_object_get(obj, "format");
    if (!json_is_string(fmt))
        return ebb_error_set(err, EBB_E_INVALID, "%s: key 'format' is missing or not a string",
                             name);
    if ((rc = ebb_backup_format_parse(json_string_value(fmt), &m->format, err)) != EBB_OK) {
        ebb_error_prefix(err, "%s", name);
        return rc;
    }
    if ((rc = take_int(obj, "compression", name, &iv, err)) != EBB_OK)
        return rc;
    m->compression = (int)iv;
    if ((rc = take_int(obj, "jobs", name, &iv, err)) != EBB_OK)
        return rc;
    m->jobs = (int)iv;
    if ((rc = take_int(obj, "size_bytes", name, &iv, err)) != EBB_OK)
        return rc;
    if (iv < 0)
        return ebb_error_set(err, EBB_E_INVALID, "%s: size_bytes is negative", name);
    m->size_bytes = (uint64_t)iv;

    json_t *alg = json_object_get(obj, "checksum_algorithm");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "blake2b-256") != 0)
        return ebb_error_set(err, EBB_E_INVALID, "%s: checksum_algorithm is not 'blake2b-256'",
                             name);
    json_t *sum = json_object_get(obj, "checksum");
    const char *hex = json_is_string(sum) ? json_string_value(sum) : "";
    if (strlen(hex) != EBB_BACKUP_CHECKSUM_HEX - 1 || strspn(hex, "0123456789abcdef") != strlen(hex))
        return ebb_error_set(err, EBB_E_INVALID, "%s: checksum is not 64 lowercase hex digits",
                             name);
    memcpy(m->checksum, hex, EBB_BACKUP_CHECKSUM_HEX);

    json_t *ver = json_object_get(obj, "verified");
    if (!json_is_boolean(ver))
        return ebb_error_set(err, EBB_E_INVALID, "%s: key 'verified' is missing or not a boolean",
                             name);
    m->verified = json_is_true(ver);

    json_t *revs = json_object_get(obj, "revisions");
    if (!json_is_array(revs))
        return ebb_error_set(err, EBB_E_INVALID, "%s: key 'revisions' is missing or not an array",
                             name);
    size_t n = json_array_size(revs);
    m->revisions = calloc(n ? n : 1, sizeof(char *));
    if (m->revisions == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", name);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(revs, i);
        if (!json_is_string(r))
            return ebb_error_set(err, EBB_E_INVALID, "%s: revisions[%zu] is not a string", name,
                                 i);
        m->revisions[i] = strdup(json_string_value(r));
        if (m->revisions[i] == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", name);
        m->n_revisions = i + 1;
    }
    return EBB_OK;
}

ebb_code ebb_backup_manifest_from_json(const char *text, const char *name,
                                       ebb_backup_manifest *out, ebb_error *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                             jerr.text);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return ebb_error_set(err, EBB_E_INVALID, "%s: a manifest is a JSON object", name);
    }
    ebb_backup_manifest m;
    memset(&m, 0, sizeof(m));
    ebb_code rc = parse_obj(obj, name, &m, err);
    json_decref(obj);
    if (rc != EBB_OK) {
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    *out = m;
    return EBB_OK;
}

ebb_code ebb_backup_id_make(time_t now, const char *database, uint32_t random, char *out,
                            size_t n, ebb_error *err)
{
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "time %lld cannot be converted to UTC",
                             (long long)now);
    if (database == NULL || database[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "a backup id needs a database name");
    char db[64];
    size_t j = 0;
    for (const char *p = database; *p != '\0' && j < sizeof(db) - 1; p++) {
        unsigned char c = (unsigned char)*p;
        db[j++] = (isascii(c) && (isalnum(c) || c == '_')) ? (char)c : '_';
    }
    db[j] = '\0';
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    int w = snprintf(out, n, "%s-%s-%08x", stamp, db, (unsigned)random);
    if (w < 0 || (size_t)w >= n)
        return ebb_error_set(err, EBB_E_INVALID, "backup id buffer of %zu bytes is too small", n);
    return EBB_OK;
}

bool ebb_backup_id_valid(const char *id)
{
    /* 16 (stamp) + '-' + 1..63 + '-' + 8 */
    if (id == NULL)
        return false;
    size_t len = strlen(id);
    if (len < 16 + 1 + 1 + 1 + 8 || len >= EBB_BACKUP_ID_MAX)
        return false;
    for (size_t i = 0; i < 16; i++) {
        char c = id[i];
        bool ok = (i == 8) ? c == 'T' : (i == 15) ? c == 'Z' : (c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    if (id[16] != '-' || id[len - 9] != '-')
        return false;
    for (size_t i = len - 8; i < len; i++)
        if (!strchr("0123456789abcdef", id[i]) || id[i] == '\0')
            return false;
    for (size_t i = 17; i < len - 9; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!(isascii(c) && (isalnum(c) || c == '_')))
            return false;
    }
    return true;
}

/* Newest first: later created_at, then greater id. */
static int newer_first(const ebb_backup_manifest *a, const ebb_backup_manifest *b)
{
    int c = strcmp(nz(b->created_at), nz(a->created_at));
    if (c != 0)
        return c;
    return strcmp(nz(b->id), nz(a->id));
}

ebb_code ebb_backup_retention_select(const ebb_backup_manifest *items, size_t n,
                                     const char *database, size_t keep, const char *protect_id,
                                     size_t **out_idx, size_t *n_out, ebb_error *err)
{
    size_t *mine = malloc((n ? n : 1) * sizeof(size_t));
    if (mine == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory selecting backups to delete");
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (database != NULL && items[i].database != NULL &&
            strcmp(items[i].database, database) == 0)
            mine[count++] = i;
    /* Insertion sort: a backup directory holds tens of entries. */
    for (size_t i = 1; i < count; i++) {
        size_t v = mine[i], j = i;
        while (j > 0 && newer_first(&items[mine[j - 1]], &items[v]) > 0) {
            mine[j] = mine[j - 1];
            j--;
        }
        mine[j] = v;
    }
    /* The protected backup (the one just taken) takes the first slot. */
    size_t slots = keep;
    for (size_t i = 0; i < count && protect_id != NULL; i++)
        if (items[mine[i]].id != NULL && strcmp(items[mine[i]].id, protect_id) == 0 && slots > 0)
            slots--;
    size_t n_del = 0;
    if (keep > 0) {
        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
            if (protect_id != NULL && items[mine[i]].id != NULL &&
                strcmp(items[mine[i]].id, protect_id) == 0)
                continue;
            if (kept < slots) {
                kept++;
                continue;
            }
            mine[n_del++] = mine[i];
        }
    }
    if (n_del == 0) {
        free(mine);
        mine = NULL;
    }
    *out_idx = mine;
    *n_out = n_del;
    return EBB_OK;
}
