/* What interrupted backups leave behind: dumps without a manifest, found by the time in their id
 * and removed when the job that wrote them is known to be dead. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/backup.h"
#include "agent/backup_ops.h"
#include "common/fsutil.h"

#define MANIFEST_SUFFIX ".manifest.json"
#define TMP_SUFFIX ".manifest.json.tmp" /* ebb_file_write_atomic's temporary name */

ebb_code ebb_backup_id_time(const char *id, time_t *out, ebb_error *err)
{
    if (!ebb_backup_id_valid(id))
        return ebb_error_set(err, EBB_E_INVALID, "'%s' is not a backup id", id ? id : "");
    struct tm tm = {0};
    char digits[16];
    memcpy(digits, id, 8);
    digits[8] = '\0';
    long ymd = strtol(digits, NULL, 10);
    memcpy(digits, id + 9, 6);
    digits[6] = '\0';
    long hms = strtol(digits, NULL, 10);
    tm.tm_year = (int)(ymd / 10000) - 1900;
    tm.tm_mon = (int)(ymd / 100 % 100) - 1;
    tm.tm_mday = (int)(ymd % 100);
    tm.tm_hour = (int)(hms / 10000);
    tm.tm_min = (int)(hms / 100 % 100);
    tm.tm_sec = (int)(hms % 100);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return ebb_error_set(err, EBB_E_INVALID, "backup id '%s' has no valid time", id);
    *out = timegm(&tm);
    return EBB_OK;
}

/* The backup id of a dump or temporary manifest name ("" when name is neither). */
static void id_of(const char *name, char id[EBB_BACKUP_ID_MAX])
{
    static const char *const suffixes[] = {".dump", ".dir", TMP_SUFFIX};
    id[0] = '\0';
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len > sl && len - sl < EBB_BACKUP_ID_MAX && strcmp(name + len - sl, suffixes[i]) == 0) {
            memcpy(id, name, len - sl);
            id[len - sl] = '\0';
            if (!ebb_backup_id_valid(id))
                id[0] = '\0';
            return;
        }
    }
}

static ebb_code add_id(char ***ids, size_t *n, const char *id, ebb_error *err)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*ids)[i], id) == 0)
            return EBB_OK; /* a dump and its temporary manifest: one backup */
    char **grown = realloc(*ids, (*n + 1) * sizeof **ids);
    if (grown == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    *ids = grown;
    if ((grown[*n] = strdup(id)) == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    (*n)++;
    return EBB_OK;
}

ebb_code ebb_backup_remove_orphans(const char *dir, time_t since, time_t until, char ***removed,
                                   size_t *n_removed, ebb_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno != ENOENT)
            return ebb_error_errno(err, EBB_E_IO, errno, "cannot open backup directory %s", dir);
        *removed = NULL;
        *n_removed = 0;
        return EBB_OK;
    }
    char **ids = NULL;
    size_t n = 0;
    ebb_code rc = EBB_OK;
    struct dirent *de;
    while (rc == EBB_OK && (de = readdir(d)) != NULL) {
        char id[EBB_BACKUP_ID_MAX];
        id_of(de->d_name, id);
        time_t made;
        if (id[0] == '\0' || ebb_backup_id_time(id, &made, NULL) != EBB_OK || made < since ||
            made > until)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s%s", dir, id, MANIFEST_SUFFIX);
        if (ebb_file_exists(path))
            continue; /* a whole backup: the manifest is written last */
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ebb_backup_remove_path(path);
        if (ebb_file_exists(path))
            rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot remove %s", path);
        else
            rc = add_id(&ids, &n, id, err);
    }
    closedir(d);
    if (rc != EBB_OK) {
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        return rc;
    }
    *removed = ids;
    *n_removed = n;
    return EBB_OK;
}
