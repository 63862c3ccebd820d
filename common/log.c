/* Logging: one masked line per message, as text or JSON, written with a single write(). */
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Set once by ebb_log_init before threads start; only read afterwards. */
static struct {
    ebb_log_format format;
    ebb_log_level min_level;
    int fd;
} log_cfg = {EBB_LOG_TEXT, EBB_LOG_INFO, 2};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ebb_log_init(ebb_log_format format, ebb_log_level min_level, int fd)
{
    log_cfg.format = format;
    log_cfg.min_level = min_level;
    log_cfg.fd = fd;
}

bool ebb_log_enabled(ebb_log_level level)
{
    return level >= log_cfg.min_level;
}

const char *ebb_log_level_name(ebb_log_level level)
{
    if ((int)level < 0 || level > EBB_LOG_ERROR)
        return "unknown";
    return level_names[level];
}

ebb_code ebb_log_level_parse(const char *name, ebb_log_level *out, ebb_error *err)
{
    for (int i = 0; i <= EBB_LOG_ERROR; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (ebb_log_level)i;
            return EBB_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = EBB_LOG_WARN;
        return EBB_OK;
    }
    return ebb_error_set(err, EBB_E_INVALID,
                         "unknown log level \"%s\" (expected debug, info, warn or error)", name);
}

/* ---- secret masking ---- */

/* Bounded writer that keeps counting past the end, like snprintf. */
typedef struct sink {
    char *out;
    size_t n, len;
} sink;

static void put(sink *s, const char *p, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (s->len + 1 < s->n)
            s->out[s->len] = p[i];
        s->len++;
    }
}

static bool names_password(const char *s)
{
    for (; *s != '\0'; s++)
        if (strncasecmp(s, "password", 8) == 0)
            return true;
    return false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* "scheme://user:secret@host": mask secret. Returns bytes consumed after "://", 0 if none. */
static size_t mask_userinfo(const char *p, sink *s)
{
    size_t j = 0;
    while (p[j] != '\0' && p[j] != '@' && p[j] != '/' && p[j] != '?' && p[j] != '#' &&
           !is_space(p[j]))
        j++;
    if (p[j] != '@')
        return 0;
    const char *colon = memchr(p, ':', j);
    if (colon == NULL)
        return 0;
    put(s, p, (size_t)(colon - p) + 1);
    put(s, "***@", 4);
    return j + 1;
}

/* After a "password" keyword: optional quote, spaces, '=' or ':', spaces, value. */
static size_t mask_value(const char *p, sink *s)
{
    size_t k = 0;
    if (p[k] == '"' || p[k] == '\'')
        k++;
    while (p[k] == ' ' || p[k] == '\t')
        k++;
    if (p[k] != '=' && p[k] != ':')
        return 0;
    k++;
    while (p[k] == ' ' || p[k] == '\t')
        k++;
    size_t vstart = k;
    if (p[k] == '\'' || p[k] == '"') {
        char q = p[k++];
        while (p[k] != '\0' && p[k] != q) {
            if (p[k] == '\\' && p[k + 1] != '\0')
                k++;
            k++;
        }
        put(s, p, vstart);
        put(s, &q, 1);
        put(s, "***", 3);
        if (p[k] == q) {
            put(s, &q, 1);
            k++;
        }
        return k;
    }
    while (p[k] != '\0' && !is_space(p[k]))
        k++;
    if (k == vstart)
        return 0;
    put(s, p, vstart);
    put(s, "***", 3);
    return k;
}

size_t ebb_mask_secrets(const char *in, char *out, size_t n)
{
    sink s = {out, n, 0};
    size_t i = 0;
    while (in[i] != '\0') {
        if (strncmp(in + i, "://", 3) == 0) {
            put(&s, "://", 3);
            i += 3;
            i += mask_userinfo(in + i, &s);
            continue;
        }
        if (strncasecmp(in + i, "password", 8) == 0) {
            put(&s, in + i, 8);
            i += 8;
            i += mask_value(in + i, &s);
            continue;
        }
        put(&s, in + i, 1);
        i++;
    }
    if (n > 0)
        out[s.len < n ? s.len : n - 1] = '\0';
    return s.len;
}

char *ebb_mask_secrets_dup(const char *in)
{
    size_t need = ebb_mask_secrets(in, NULL, 0);
    char *out = malloc(need + 1);
    if (out == NULL)
        return NULL;
    ebb_mask_secrets(in, out, need + 1);
    return out;
}

/* ---- formatting ---- */

static void timestamp(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int need = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (need < 0)
        return NULL;
    char *s = malloc((size_t)need + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)need + 1, fmt, ap);
    return s;
}

/* Growable line buffer; on allocation failure it stays NULL and the line is dropped. */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void buf_put(buf *b, const char *s, size_t k)
{
    if (b->failed)
        return;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (b->len + k + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, k);
    b->len += k;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Text values: control characters escaped so that one message stays one line. */
static void buf_text(buf *b, const char *s, bool quote_if_needed)
{
    bool quote = false;
    if (quote_if_needed) {
        quote = s[0] == '\0';
        for (const char *p = s; *p != '\0' && !quote; p++)
            quote = is_space(*p) || *p == '"' || *p == '=';
    }
    if (quote)
        buf_put(b, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            buf_str(b, "\\n");
        } else if (c == '\t' || c == '\r' || c < 0x20 || c == 0x7f) {
            buf_put(b, " ", 1);
        } else if (quote && (c == '"' || c == '\\')) {
            buf_put(b, "\\", 1);
            buf_put(b, p, 1);
        } else {
            buf_put(b, p, 1);
        }
    }
    if (quote)
        buf_put(b, "\"", 1);
}

/* A field value with its secrets masked; a field whose name says password is masked whole. */
static char *mask_field(const char *key, const char *value)
{
    if (key != NULL && names_password(key))
        return strdup("***");
    return ebb_mask_secrets_dup(value);
}

/* A JSON string from masked text; bytes that are not valid UTF-8 become '?'. */
static json_t *json_text(const char *key, const char *s)
{
    char *masked = mask_field(key, s);
    if (masked == NULL)
        return NULL;
    json_t *j = json_string(masked);
    if (j == NULL) {
        for (unsigned char *p = (unsigned char *)masked; *p != '\0'; p++)
            if (*p >= 0x80)
                *p = '?';
        j = json_string(masked);
    }
    free(masked);
    return j;
}

static char *line_json(const char *ts, ebb_log_level level, const char *component, const char *msg,
                       const char *const *kv)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(ebb_log_level_name(level)));
    json_object_set_new(o, "component", json_text(NULL, component));
    json_object_set_new(o, "msg", json_text(NULL, msg));
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        const char *v = kv[i + 1];
        /* The fixed fields keep their meaning whatever a caller passes. */
        if (strcmp(kv[i], "ts") == 0 || strcmp(kv[i], "level") == 0 ||
            strcmp(kv[i], "component") == 0 || strcmp(kv[i], "msg") == 0)
            continue;
        json_object_set_new(o, kv[i], v != NULL ? json_text(kv[i], v) : json_null());
        if (v == NULL)
            break;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    char *line = malloc(len + 2);
    if (line != NULL) {
        memcpy(line, s, len);
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    free(s);
    return line;
}

/* Append masked text (key names a field, NULL for the message). */
static void buf_masked(buf *b, const char *key, const char *s, bool quote_if_needed)
{
    char *m = mask_field(key, s);
    if (m == NULL) {
        b->failed = true;
        return;
    }
    buf_text(b, m, quote_if_needed);
    free(m);
}

static char *line_text(const char *ts, ebb_log_level level, const char *component, const char *msg,
                       const char *const *kv)
{
    buf b = {0};
    buf_str(&b, ts);
    buf_put(&b, " ", 1);
    buf_str(&b, ebb_log_level_name(level));
    buf_put(&b, " ", 1);
    buf_masked(&b, NULL, component, false);
    buf_put(&b, ": ", 2);
    buf_masked(&b, NULL, msg, false);
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        buf_put(&b, " ", 1);
        buf_text(&b, kv[i], false);
        buf_put(&b, "=", 1);
        if (kv[i + 1] == NULL) {
            buf_put(&b, "-", 1);
            break;
        }
        buf_masked(&b, kv[i], kv[i + 1], true);
    }
    buf_put(&b, "\n", 1);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

static void vlog(ebb_log_level level, const char *component, const char *const *kv, const char *fmt,
                 va_list ap)
{
    if (!ebb_log_enabled(level))
        return;
    char *msg = vformat(fmt, ap);
    if (msg == NULL)
        return;
    char ts[48];
    timestamp(ts, sizeof ts);
    if (component == NULL)
        component = "ebb";
    char *line = log_cfg.format == EBB_LOG_JSON ? line_json(ts, level, component, msg, kv)
                                                : line_text(ts, level, component, msg, kv);
    free(msg);
    if (line == NULL)
        return;
    write_all(log_cfg.fd, line, strlen(line));
    free(line);
}

void ebb_log(ebb_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, component, NULL, fmt, ap);
    va_end(ap);
}

void ebb_log_kv(ebb_log_level level, const char *component, const char *const *kv, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, component, kv, fmt, ap);
    va_end(ap);
}
