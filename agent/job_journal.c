/* The local job journal: JSON lines (jansson), one write + fdatasync per record, index in memory.
 */
#include "agent/job_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

/* Largest journal read at open (a journal is small: a few hundred bytes per job). */
#define JOURNAL_MAX_BYTES (1024u * 1024u * 1024u)

typedef struct entry {
    char *job_id;
    char *run_id;
    char *database;
    ebb_job_action action;
    ebb_job_state state;
    int64_t received_at_ms;
    int64_t started_at_ms;
    ebb_job_result result; /* when FINISHED */
} entry;

struct ebb_job_journal {
    char *path;
    int fd;
    off_t size;
    entry *entries; /* in the order received */
    size_t count, cap;
};

static void entry_fini(entry *e)
{
    free(e->job_id);
    free(e->run_id);
    free(e->database);
    ebb_job_result_fini(&e->result);
}

static entry *find(const ebb_job_journal *j, const char *job_id)
{
    /* Newest first: duplicates are nearly always of recent jobs. */
    for (size_t i = j->count; i > 0; i--)
        if (strcmp(j->entries[i - 1].job_id, job_id) == 0)
            return &j->entries[i - 1];
    return NULL;
}

static ebb_code add_entry(ebb_job_journal *j, entry **out, ebb_error *err)
{
    if (j->count == j->cap) {
        size_t cap = j->cap == 0 ? 64 : j->cap * 2;
        entry *n = realloc(j->entries, cap * sizeof *n);
        if (n == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        j->entries = n;
        j->cap = cap;
    }
    *out = &j->entries[j->count++];
    memset(*out, 0, sizeof **out);
    return EBB_OK;
}

static char *dup_str(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

/* ---- JSON of a result ---- */

static int set_str(json_t *o, const char *k, const char *v)
{
    return v == NULL ? 0 : json_object_set_new(o, k, json_string(v));
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *result_to_json(const ebb_job_result *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    bad |= set_str(o, "job_id", r->job_id);
    bad |= set_str(o, "run_id", r->run_id);
    bad |= set_str(o, "outcome", ebb_job_outcome_name(r->outcome));
    bad |= set_str(o, "action", ebb_job_action_name(r->action));
    bad |= set_str(o, "database", r->database);
    bad |= json_object_set_new(o, "revisions_before", strv_json(r->revisions_before, r->n_before));
    bad |= json_object_set_new(o, "revisions_after", strv_json(r->revisions_after, r->n_after));
    bad |= set_str(o, "fingerprint", r->fingerprint);
    if (r->has_drift)
        bad |= json_object_set_new(o, "drift", json_boolean(r->drift));
    bad |= set_str(o, "backup_id", r->backup_id);
    bad |= set_str(o, "backup_checksum", r->backup_checksum);
    bad |= json_object_set_new(o, "error_code", json_integer((json_int_t)r->error_code));
    bad |= set_str(o, "error_message", r->error_message);
    bad |= set_str(o, "sqlstate", r->sqlstate[0] != '\0' ? r->sqlstate : NULL);
    bad |= json_object_set_new(o, "started_at_ms", json_integer(r->started_at_ms));
    bad |= json_object_set_new(o, "finished_at_ms", json_integer(r->finished_at_ms));
    bad |= set_str(o, "report_json", r->report_json);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static char *get_dup(const json_t *o, const char *k, bool *ok)
{
    const json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *ok = false;
        return NULL;
    }
    char *d = strdup(json_string_value(v));
    if (d == NULL)
        *ok = false;
    return d;
}

static char **get_strv(const json_t *o, const char *k, size_t *n, bool *ok)
{
    *n = 0;
    const json_t *a = json_object_get(o, k);
    if (a == NULL || json_array_size(a) == 0)
        return NULL;
    if (!json_is_array(a)) {
        *ok = false;
        return NULL;
    }
    char **v = calloc(json_array_size(a), sizeof *v);
    if (v == NULL) {
        *ok = false;
        return NULL;
    }
    *n = json_array_size(a);
    for (size_t i = 0; i < *n; i++) {
        const json_t *s = json_array_get(a, i);
        v[i] = json_is_string(s) ? strdup(json_string_value(s)) : NULL;
        if (v[i] == NULL)
            *ok = false;
    }
    return v;
}

static int64_t get_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool result_from_json(const json_t *o, ebb_job_result *r)
{
    memset(r, 0, sizeof *r);
    bool ok = json_is_object(o);
    if (!ok)
        return false;
    r->job_id = get_dup(o, "job_id", &ok);
    r->run_id = get_dup(o, "run_id", &ok);
    const json_t *v = json_object_get(o, "outcome");
    r->outcome = ebb_job_outcome_parse(json_string_value(v));
    r->action = ebb_job_action_parse(json_string_value(json_object_get(o, "action")));
    r->database = get_dup(o, "database", &ok);
    r->revisions_before = get_strv(o, "revisions_before", &r->n_before, &ok);
    r->revisions_after = get_strv(o, "revisions_after", &r->n_after, &ok);
    r->fingerprint = get_dup(o, "fingerprint", &ok);
    const json_t *drift = json_object_get(o, "drift");
    r->has_drift = json_is_boolean(drift);
    r->drift = json_is_true(drift);
    r->backup_id = get_dup(o, "backup_id", &ok);
    r->backup_checksum = get_dup(o, "backup_checksum", &ok);
    int64_t code = get_int(o, "error_code");
    r->error_code = code >= 0 && code < EBB_E__COUNT ? (ebb_code)code : EBB_E_INTERNAL;
    r->error_message = get_dup(o, "error_message", &ok);
    const char *ss = json_string_value(json_object_get(o, "sqlstate"));
    if (ss != NULL)
        snprintf(r->sqlstate, sizeof r->sqlstate, "%s", ss);
    r->started_at_ms = get_int(o, "started_at_ms");
    r->finished_at_ms = get_int(o, "finished_at_ms");
    r->report_json = get_dup(o, "report_json", &ok);
    if (!ok || r->job_id == NULL || r->outcome == EBB_JOB_OUTCOME_NONE) {
        ebb_job_result_fini(r);
        return false;
    }
    return true;
}

/* ---- Reading ---- */

/* Apply one parsed record; false when it is not a valid record or contradicts the journal. */
static ebb_code apply_record(ebb_job_journal *j, const json_t *rec, const char *why_prefix,
                             ebb_error *err)
{
    const char *kind = json_string_value(json_object_get(rec, "rec"));
    const char *job_id = json_string_value(json_object_get(rec, "job_id"));
    if (kind == NULL || job_id == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "%s: not a job journal record", why_prefix);
    entry *e = find(j, job_id);
    if (strcmp(kind, "received") == 0) {
        if (e != NULL)
            return ebb_error_set(err, EBB_E_INVALID, "%s: job %s received twice", why_prefix,
                                 job_id);
        ebb_code rc = add_entry(j, &e, err);
        if (rc != EBB_OK)
            return rc;
        bool ok = true;
        e->job_id = strdup(job_id);
        e->run_id = get_dup(rec, "run_id", &ok);
        e->database = get_dup(rec, "database", &ok);
        e->action = ebb_job_action_parse(json_string_value(json_object_get(rec, "action")));
        e->state = EBB_JOB_STATE_RECEIVED;
        e->received_at_ms = get_int(rec, "at_ms");
        if (e->job_id == NULL || !ok)
            return ebb_error_set(err, EBB_E_INVALID, "%s: bad received record", why_prefix);
        return EBB_OK;
    }
    if (e == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "%s: %s record of job %s never received",
                             why_prefix, kind, job_id);
    if (strcmp(kind, "started") == 0) {
        if (e->state != EBB_JOB_STATE_RECEIVED)
            return ebb_error_set(err, EBB_E_INVALID, "%s: job %s started twice or after its end",
                                 why_prefix, job_id);
        e->state = EBB_JOB_STATE_STARTED;
        e->started_at_ms = get_int(rec, "at_ms");
        return EBB_OK;
    }
    if (strcmp(kind, "finished") == 0) {
        if (e->state == EBB_JOB_STATE_FINISHED)
            return ebb_error_set(err, EBB_E_INVALID, "%s: job %s finished twice", why_prefix,
                                 job_id);
        if (!result_from_json(json_object_get(rec, "result"), &e->result))
            return ebb_error_set(err, EBB_E_INVALID, "%s: bad result of job %s", why_prefix,
                                 job_id);
        e->state = EBB_JOB_STATE_FINISHED;
        return EBB_OK;
    }
    return ebb_error_set(err, EBB_E_INVALID, "%s: unknown record kind '%s'", why_prefix, kind);
}

static ebb_code load(ebb_job_journal *j, ebb_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    ebb_code rc = ebb_file_read_fd(j->fd, j->path, JOURNAL_MAX_BYTES, &data, &len, err);
    if (rc != EBB_OK)
        return rc;
    size_t pos = 0, line = 0;
    while (rc == EBB_OK && pos < len) {
        line++;
        char *nl = memchr(data + pos, '\n', len - pos);
        if (nl == NULL) {
            /* A torn last append: the caller was never told it was written. */
            if (ftruncate(j->fd, (off_t)pos) != 0 || fdatasync(j->fd) != 0)
                rc = ebb_error_errno(err, EBB_E_IO, errno,
                                     "%s:%zu: cannot drop the incomplete last record", j->path,
                                     line);
            len = pos;
            break;
        }
        size_t n = (size_t)(nl - (char *)data) - pos;
        char where[600];
        snprintf(where, sizeof where, "%s:%zu", j->path, line);
        json_error_t jerr;
        json_t *rec = json_loadb((const char *)data + pos, n, 0, &jerr);
        if (rec == NULL)
            rc = ebb_error_set(err, EBB_E_INVALID, "%s: not JSON (%s); the journal is damaged",
                               where, jerr.text);
        else
            rc = apply_record(j, rec, where, err);
        json_decref(rec);
        pos += n + 1;
    }
    free(data);
    j->size = (off_t)len;
    return rc;
}

ebb_code ebb_job_journal_open(const char *path, ebb_job_journal **out, ebb_error *err)
{
    ebb_job_journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    bool created = !ebb_file_exists(path);
    j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        ebb_code rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot open job journal %s", path);
        free(j->path);
        free(j);
        return rc;
    }
    ebb_code rc = EBB_OK;
    if (created) {
        /* The new file's name must survive a crash too. */
        char *tmp = strdup(path);
        int dfd = tmp != NULL ? open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd >= 0) {
            if (fsync(dfd) != 0)
                rc =
                    ebb_error_errno(err, EBB_E_IO, errno, "cannot fsync the directory of %s", path);
            close(dfd);
        }
        free(tmp);
    }
    if (rc == EBB_OK)
        rc = load(j, err);
    if (rc != EBB_OK) {
        ebb_job_journal_close(j);
        return rc;
    }
    *out = j;
    return EBB_OK;
}

void ebb_job_journal_close(ebb_job_journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    for (size_t i = 0; i < j->count; i++)
        entry_fini(&j->entries[i]);
    free(j->entries);
    free(j->path);
    free(j);
}

/* ---- Appending ---- */

/* One line, one write (looping only on short writes), then fdatasync; undone on failure. */
static ebb_code append(ebb_job_journal *j, json_t *rec, ebb_error *err)
{
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(rec);
    if (text == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL; the length is tracked */
    size_t done = 0;
    ebb_code rc = EBB_OK;
    while (done < len + 1) {
        ssize_t w = write(j->fd, text + done, len + 1 - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot append to job journal %s", j->path);
            break;
        }
        done += (size_t)w;
    }
    if (rc == EBB_OK && fdatasync(j->fd) != 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot sync job journal %s", j->path);
    free(text);
    if (rc != EBB_OK) {
        /* Leave no torn line behind for the next append to glue onto. */
        if (ftruncate(j->fd, j->size) == 0)
            (void)fdatasync(j->fd);
        return rc;
    }
    j->size += (off_t)(len + 1);
    return EBB_OK;
}

static json_t *base_record(const char *kind, const char *job_id)
{
    json_t *o = json_object();
    if (o != NULL && (json_object_set_new(o, "rec", json_string(kind)) != 0 ||
                      json_object_set_new(o, "job_id", json_string(job_id)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

ebb_code ebb_job_journal_received(ebb_job_journal *j, const ebb_job_cmd *cmd, int64_t at_ms,
                                  ebb_error *err)
{
    if (cmd->job_id == NULL || cmd->job_id[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "a job needs a job id");
    if (find(j, cmd->job_id) != NULL)
        return ebb_error_set(err, EBB_E_CONFLICT, "job %s is already in the journal", cmd->job_id);
    json_t *o = base_record("received", cmd->job_id);
    if (o != NULL) {
        int bad = set_str(o, "run_id", cmd->run_id);
        bad |= set_str(o, "action", ebb_job_action_name(cmd->action));
        bad |= set_str(o, "database", cmd->database);
        bad |= set_str(o, "target", cmd->target);
        bad |= set_str(o, "backup_id", cmd->backup_id);
        bad |= set_str(o, "cancel_job_id", cmd->cancel_job_id);
        bad |= set_str(o, "operator", cmd->operator_name);
        bad |= set_str(o, "reason", cmd->reason);
        bad |= json_object_set_new(o, "prepare", json_boolean(cmd->prepare));
        bad |= json_object_set_new(o, "accept_data_loss", json_boolean(cmd->accept_data_loss));
        bad |= json_object_set_new(o, "timeout_ms", json_integer(cmd->timeout_ms));
        bad |= json_object_set_new(o, "at_ms", json_integer(at_ms));
        if (bad) {
            json_decref(o);
            o = NULL;
        }
    }
    entry *e = NULL;
    ebb_code rc = add_entry(j, &e, err);
    if (rc != EBB_OK) {
        json_decref(o);
        return rc;
    }
    bool ok = true;
    e->job_id = strdup(cmd->job_id);
    e->run_id = dup_str(cmd->run_id, &ok);
    e->database = dup_str(cmd->database, &ok);
    e->action = cmd->action;
    e->state = EBB_JOB_STATE_RECEIVED;
    e->received_at_ms = at_ms;
    if (e->job_id == NULL || !ok)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    if (rc == EBB_OK)
        rc = append(j, o, err);
    else
        json_decref(o);
    if (rc != EBB_OK) {
        entry_fini(e);
        j->count--;
    }
    return rc;
}

ebb_code ebb_job_journal_started(ebb_job_journal *j, const char *job_id, int64_t at_ms,
                                 ebb_error *err)
{
    entry *e = find(j, job_id);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "job %s was never received", job_id);
    if (e->state != EBB_JOB_STATE_RECEIVED)
        return ebb_error_set(err, EBB_E_CONFLICT, "job %s has already started", job_id);
    json_t *o = base_record("started", job_id);
    if (o != NULL && json_object_set_new(o, "at_ms", json_integer(at_ms)) != 0) {
        json_decref(o);
        o = NULL;
    }
    ebb_code rc = append(j, o, err);
    if (rc == EBB_OK) {
        e->state = EBB_JOB_STATE_STARTED;
        e->started_at_ms = at_ms;
    }
    return rc;
}

ebb_code ebb_job_journal_finished(ebb_job_journal *j, const ebb_job_result *res, ebb_error *err)
{
    if (res->job_id == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "a result needs a job id");
    entry *e = find(j, res->job_id);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "job %s was never received", res->job_id);
    if (e->state == EBB_JOB_STATE_FINISHED)
        return ebb_error_set(err, EBB_E_CONFLICT, "job %s has already finished", res->job_id);
    ebb_job_result copy;
    ebb_code rc = ebb_job_result_copy(res, &copy, err);
    if (rc != EBB_OK)
        return rc;
    copy.from_journal = false;
    json_t *o = base_record("finished", res->job_id);
    json_t *r = result_to_json(res);
    if (o == NULL || r == NULL || json_object_set_new(o, "result", r) != 0) {
        json_decref(o);
        o = NULL;
    }
    rc = append(j, o, err);
    if (rc != EBB_OK) {
        ebb_job_result_fini(&copy);
        return rc;
    }
    e->state = EBB_JOB_STATE_FINISHED;
    e->result = copy;
    return EBB_OK;
}

ebb_code ebb_job_journal_lookup(const ebb_job_journal *j, const char *job_id, ebb_job_state *state,
                                ebb_job_result *result, ebb_error *err)
{
    const entry *e = job_id != NULL ? find(j, job_id) : NULL;
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "job %s is not in the journal",
                             job_id != NULL ? job_id : "(null)");
    if (e->state == EBB_JOB_STATE_FINISHED && result != NULL) {
        ebb_code rc = ebb_job_result_copy(&e->result, result, err);
        if (rc != EBB_OK)
            return rc;
    }
    if (state != NULL)
        *state = e->state;
    return EBB_OK;
}

ebb_code ebb_job_journal_unfinished(const ebb_job_journal *j, ebb_job_unfinished **out,
                                    size_t *count, ebb_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < j->count; i++)
        if (j->entries[i].state != EBB_JOB_STATE_FINISHED)
            n++;
    ebb_job_unfinished *items = n > 0 ? calloc(n, sizeof *items) : NULL;
    if (n > 0 && items == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    bool ok = true;
    size_t k = 0;
    for (size_t i = 0; i < j->count; i++) {
        const entry *e = &j->entries[i];
        if (e->state == EBB_JOB_STATE_FINISHED)
            continue;
        items[k].job_id = dup_str(e->job_id, &ok);
        items[k].run_id = dup_str(e->run_id, &ok);
        items[k].database = dup_str(e->database, &ok);
        items[k].action = e->action;
        items[k].state = e->state;
        items[k].received_at_ms = e->received_at_ms;
        items[k].started_at_ms = e->started_at_ms;
        k++;
    }
    if (!ok) {
        ebb_job_unfinished_free(items, n);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    *out = items;
    *count = n;
    return EBB_OK;
}

void ebb_job_unfinished_free(ebb_job_unfinished *items, size_t count)
{
    for (size_t i = 0; items != NULL && i < count; i++) {
        free(items[i].job_id);
        free(items[i].run_id);
        free(items[i].database);
    }
    free(items);
}

size_t ebb_job_journal_count(const ebb_job_journal *j)
{
    return j->count;
}
