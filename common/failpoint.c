/* Test-only failpoints (see failpoint.h): the spec parser and the hold / abort actions. */
#include "common/failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

const char *const EBB_FAILPOINT_NAMES[] = {
    "precheck", "stop_services",  "backup", "backup.dump", "migrate", "migrate.commit",
    "verify",   "start_services", "health", "restore",     NULL,
};

#define N_POINTS (sizeof EBB_FAILPOINT_NAMES / sizeof EBB_FAILPOINT_NAMES[0] - 1)
#define HOLD_POLL_MS 20
#define ENTRY_MAX 64

static bool known_name(const char *name, size_t len)
{
    for (size_t i = 0; i < N_POINTS; i++)
        if (strlen(EBB_FAILPOINT_NAMES[i]) == len &&
            strncmp(EBB_FAILPOINT_NAMES[i], name, len) == 0)
            return true;
    return false;
}

ebb_code ebb_failpoint_spec_action(const char *spec, const char *name, ebb_failpoint_action *out,
                                   ebb_error *err)
{
    ebb_failpoint_action found = EBB_FAILPOINT_OFF;
    bool seen = false;
    for (const char *p = spec != NULL ? spec : ""; *p != '\0';) {
        size_t len = strcspn(p, ",");
        char entry[ENTRY_MAX];
        if (len >= sizeof entry)
            return ebb_error_set(err, EBB_E_INVALID, "EBB_FAILPOINTS: entry '%.*s...' is too long",
                                 20, p);
        memcpy(entry, p, len);
        entry[len] = '\0';
        p += len + (p[len] == ',');
        if (len == 0)
            continue;
        char *colon = strchr(entry, ':');
        if (colon == NULL)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "EBB_FAILPOINTS: entry '%s' is not NAME:hold or NAME:abort",
                                 entry);
        *colon = '\0';
        const char *act = colon + 1;
        if (!known_name(entry, strlen(entry)))
            return ebb_error_set(err, EBB_E_INVALID, "EBB_FAILPOINTS: no failpoint '%s'", entry);
        ebb_failpoint_action a;
        if (strcmp(act, "hold") == 0)
            a = EBB_FAILPOINT_HOLD;
        else if (strcmp(act, "abort") == 0)
            a = EBB_FAILPOINT_ABORT;
        else
            return ebb_error_set(err, EBB_E_INVALID,
                                 "EBB_FAILPOINTS: failpoint %s: action '%s' is not hold or abort",
                                 entry, act);
        if (name != NULL && strcmp(entry, name) == 0) {
            if (seen)
                return ebb_error_set(err, EBB_E_INVALID, "EBB_FAILPOINTS: %s is named twice",
                                     entry);
            seen = true;
            found = a;
        }
    }
    *out = found;
    return EBB_OK;
}

/* ---- process state ---- */

enum { STATE_UNREAD = 0, STATE_OFF, STATE_ARMED };

static atomic_int g_state = STATE_UNREAD;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static ebb_failpoint_action g_action[N_POINTS];
static bool g_fired[N_POINTS]; /* under g_mu */
static char g_dir[1024];
static ebb_error g_err; /* why the spec arms nothing (code EBB_OK when it parsed) */

static void read_spec(void)
{
    const char *spec = getenv("EBB_FAILPOINTS");
    int state = STATE_OFF;
    if (spec != NULL && spec[0] != '\0') {
        ebb_error err;
        ebb_code rc = EBB_OK;
        for (size_t i = 0; i < N_POINTS && rc == EBB_OK; i++)
            rc = ebb_failpoint_spec_action(spec, EBB_FAILPOINT_NAMES[i], &g_action[i], &err);
        const char *dir = getenv("EBB_FAILPOINT_DIR");
        bool holds = false;
        for (size_t i = 0; i < N_POINTS; i++)
            holds = holds || g_action[i] == EBB_FAILPOINT_HOLD;
        if (rc == EBB_OK && holds && (dir == NULL || dir[0] == '\0' || strlen(dir) >= sizeof g_dir))
            rc = ebb_error_set(&err, EBB_E_INVALID,
                               "EBB_FAILPOINTS: hold needs EBB_FAILPOINT_DIR (a directory)");
        if (rc != EBB_OK) {
            ebb_log(EBB_LOG_ERROR, "failpoint", "%s; no failpoint is armed", err.msg);
            memset(g_action, 0, sizeof g_action);
            g_err = err;
        } else {
            snprintf(g_dir, sizeof g_dir, "%s", dir != NULL ? dir : "");
            ebb_log(EBB_LOG_WARN, "failpoint",
                    "test-only failpoints armed (EBB_FAILPOINTS=%s): never set this in "
                    "production",
                    spec);
            state = STATE_ARMED;
        }
    }
    atomic_store(&g_state, state);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void hold(const char *name)
{
    char held[sizeof g_dir + 64], release[sizeof g_dir + 64], tmp[sizeof g_dir + 72];
    snprintf(held, sizeof held, "%s/%s.held", g_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", held);
    snprintf(release, sizeof release, "%s/%s.release", g_dir, name);
    /* Written whole, then renamed: a test that sees the marker can read the pid. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool written = false;
    if (fd >= 0) {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        written = write(fd, pid, (size_t)n) == n;
        written = close(fd) == 0 && written && rename(tmp, held) == 0;
    }
    if (!written) {
        ebb_log(EBB_LOG_ERROR, "failpoint", "%s: cannot write %s (%s): not holding", name, held,
                strerror(errno));
        return;
    }
    ebb_log(EBB_LOG_WARN, "failpoint", "%s: holding until %s exists", name, release);
    while (access(release, F_OK) != 0)
        sleep_ms(HOLD_POLL_MS);
    unlink(release);
    unlink(held);
    ebb_log(EBB_LOG_WARN, "failpoint", "%s: released", name);
}

ebb_code ebb_failpoint_init(ebb_error *err)
{
    pthread_once(&g_once, read_spec);
    if (g_err.code == EBB_OK)
        return EBB_OK;
    if (err != NULL)
        *err = g_err;
    return g_err.code;
}

void ebb_failpoint(const char *name)
{
    if (atomic_load_explicit(&g_state, memory_order_relaxed) == STATE_OFF)
        return;
    pthread_once(&g_once, read_spec);
    if (atomic_load(&g_state) != STATE_ARMED)
        return;
    size_t i = 0;
    while (i < N_POINTS && strcmp(EBB_FAILPOINT_NAMES[i], name) != 0)
        i++;
    if (i == N_POINTS || g_action[i] == EBB_FAILPOINT_OFF)
        return;
    pthread_mutex_lock(&g_mu);
    bool fire = !g_fired[i];
    g_fired[i] = true;
    pthread_mutex_unlock(&g_mu);
    if (!fire)
        return;
    if (g_action[i] == EBB_FAILPOINT_ABORT) {
        ebb_log(EBB_LOG_WARN, "failpoint", "%s: abort", name);
        abort();
    }
    hold(name);
}
