/*
 * Sqitch plan parser. The regular expressions are those of Sqitch 1.3.1
 * (App::Sqitch::Plan, ::Plan::Depend), run by PCRE2 in UTF mode with
 * Unicode properties, so that names, blanks and digits mean what they mean
 * to Perl on a decoded plan; the control flow follows Plan::_parse and
 * check_changes line by line, including Perl's idea of a false string ("" or
 * "0") where Sqitch tests one.
 */
#include "agent/sqitch_plan.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Like [:punct:] but without '_' (Plan.pm $punct), as the inside of a class. */
#define PUNCT "-!\"#$%&'()*+,./:;<=>?@\\[\\]^`{|}~"

#define NAME_RE                                                                          \
    "(?![" PUNCT "])(?:(?![~/=%^][[:digit:]]+(?:$|[[:blank:]]))[^[:blank:]:@#\\\\])+(?<![" \
    PUNCT "])\\b"

#define TS_RE                                                                            \
    "(?<yr>[[:digit:]]{4})-(?<mo>[[:digit:]]{2})-(?<dy>[[:digit:]]{2})T(?<hr>[[:digit:]]{2})" \
    ":(?<mi>[[:digit:]]{2}):(?<sc>[[:digit:]]{2})Z"

#define PLANNER_RE "(?<planner_name>[^<]+)[[:blank:]]+<(?<planner_email>[^>]+)>"

enum rx_id {
    RX_BLANK,  /* blank or comment-only line */
    RX_NOTE,   /* inline note, removed before the line is parsed */
    RX_PRAGMA, /* %name[=value] */
    RX_LINE,   /* change or tag */
    RX_TS,     /* a timestamp anywhere (tells "bad name" from "no timestamp") */
    RX_DEP,    /* one dependency */
    RX_SPLIT,  /* the blanks between dependencies */
    RX_TRIM,   /* a note without surrounding white space */
    RX_NAME,   /* a whole valid name */
    RX_ISTAG,  /* a line that declares a tag */
    RX__COUNT
};

static const char *const rx_src[RX__COUNT] = {
    [RX_BLANK] = "\\A(?<lspace>[[:blank:]]*)(?:#[[:blank:]]*(?<note>.+)|$)",
    [RX_NOTE] = "(?<rspace>[[:blank:]]*)(?:[#][[:blank:]]*(?<note>.*))?$",
    [RX_PRAGMA] = "\\A(?<lspace>[[:blank:]]*)?[%](?<hspace>[[:blank:]]*)?"
                  "(?<name>[^" PUNCT "](?:[^[:blank:]=]*?[^" PUNCT "[:blank:]])?)"
                  "(?:(?<lopspace>[[:blank:]]*)(?<operator>=)(?<ropspace>[[:blank:]]*)"
                  "(?<value>.+))?\\z",
    [RX_LINE] = "^(?<lspace>[[:blank:]]*)?"
                "(?:[@]|(?<lopspace>[[:blank:]]*)(?<operator>[+-])(?<ropspace>[[:blank:]]*))?"
                "(?<name>" NAME_RE ")(?<pspace>[[:blank:]]+)?"
                "(?:\\[(?<dependencies>[^\\]]+)\\][[:blank:]]*)?"
                "(?:" TS_RE "[[:blank:]]*)?"
                "(?:" PLANNER_RE ")?$",
    [RX_TS] = TS_RE,
    [RX_DEP] = "\\A(?<conflicts>!?)(?:(?<project>" NAME_RE ")[:])?"
               "(?:(?<id>[0-9a-f]{40})|(?<change>" NAME_RE ")(?:[@](?<tag>" NAME_RE "))?"
               "|(?:[@](?<tag>" NAME_RE "))?)\\z",
    [RX_SPLIT] = "[[:blank:]]+",
    [RX_TRIM] = "\\A\\s*+(.*?)\\s*\\z",
    [RX_NAME] = "\\A" NAME_RE "\\z",
    [RX_ISTAG] = "^[[:blank:]]*[@]",
};

typedef struct rxset {
    pcre2_code *code[RX__COUNT];
    pcre2_match_data *md;
} rxset;

static void rxset_fini(rxset *rx)
{
    for (int i = 0; i < RX__COUNT; i++)
        pcre2_code_free(rx->code[i]);
    pcre2_match_data_free(rx->md);
    memset(rx, 0, sizeof *rx);
}

static ebb_code rxset_init(rxset *rx, ebb_error *err)
{
    memset(rx, 0, sizeof *rx);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory compiling Sqitch plan patterns");
    /* Lines never hold a newline; fix the convention so '.' and '$' are Perl's. */
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    for (int i = 0; i < RX__COUNT; i++) {
        uint32_t opts = PCRE2_UTF | PCRE2_UCP;
        if (i == RX_DEP)
            opts |= PCRE2_DUPNAMES; /* "tag" is named in two alternatives, as in Perl */
        if (i == RX_TRIM)
            opts |= PCRE2_DOTALL;
        int ecode;
        PCRE2_SIZE eoff;
        rx->code[i] = pcre2_compile((PCRE2_SPTR)rx_src[i], PCRE2_ZERO_TERMINATED, opts, &ecode,
                                    &eoff, cc);
        if (!rx->code[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ecode, msg, sizeof msg);
            pcre2_compile_context_free(cc);
            rxset_fini(rx);
            return ebb_error_set(err, EBB_E_INTERNAL, "Sqitch plan pattern %d: %s at %zu", i,
                                 (const char *)msg, (size_t)eoff);
        }
    }
    pcre2_compile_context_free(cc);
    rx->md = pcre2_match_data_create(64, NULL);
    if (!rx->md) {
        rxset_fini(rx);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory compiling Sqitch plan patterns");
    }
    return EBB_OK;
}

/* 1 on a match, 0 on none, negative PCRE2 error (e.g. bad UTF-8). */
static int rx_match(rxset *rx, enum rx_id id, const char *s, size_t len, size_t start)
{
    int rc = pcre2_match(rx->code[id], (PCRE2_SPTR)s, len, start, 0, rx->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc < 0 ? rc : 1;
}

/* Named group of the last match as a new string; NULL when it did not take part. */
static ebb_code rx_group(rxset *rx, const char *name, char **out, ebb_error *err)
{
    PCRE2_UCHAR *buf = NULL;
    PCRE2_SIZE blen = 0;
    int rc = pcre2_substring_get_byname(rx->md, (PCRE2_SPTR)name, &buf, &blen);
    *out = NULL;
    if (rc == PCRE2_ERROR_UNSET || rc == PCRE2_ERROR_NOSUBSTRING)
        return EBB_OK;
    if (rc < 0)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading a Sqitch plan");
    char *s = malloc(blen + 1);
    if (!s) {
        pcre2_substring_free(buf);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading a Sqitch plan");
    }
    memcpy(s, buf, blen);
    s[blen] = '\0';
    pcre2_substring_free(buf);
    *out = s;
    return EBB_OK;
}

static size_t rx_start(const rxset *rx)
{
    return (size_t)pcre2_get_ovector_pointer(rx->md)[0];
}

static size_t rx_end(const rxset *rx)
{
    return (size_t)pcre2_get_ovector_pointer(rx->md)[1];
}

/* Perl's truth for a string: defined, not "" and not "0". */
static bool perl_true(const char *s)
{
    return s && s[0] && strcmp(s, "0") != 0;
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading a Sqitch plan");
}

static ebb_code grow(void **arr, size_t *cap, size_t need, size_t elem, ebb_error *err)
{
    if (need <= *cap)
        return EBB_OK;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return nomem(err);
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return EBB_OK;
}

static ebb_code syntax_error(ebb_error *err, const char *file, int line, const char *fmt, ...)
    EBB_PRINTF(4, 5);

static ebb_code syntax_error(ebb_error *err, const char *file, int line, const char *fmt, ...)
{
    char msg[EBB_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ebb_error_set(err, EBB_E_INVALID, "%s:%d: %s", file, line, msg);
}

/* ---- plan memory ---- */

static void dep_fini(ebb_sqitch_dep *d)
{
    free(d->project);
    free(d->change);
    free(d->tag);
    free(d->id);
    free(d->text);
}

static void tag_fini(ebb_sqitch_tag *t)
{
    free(t->name);
    free(t->note);
    free(t->planner_name);
    free(t->planner_email);
}

static void change_fini(ebb_sqitch_change *c)
{
    free(c->name);
    free(c->note);
    free(c->planner_name);
    free(c->planner_email);
    for (size_t i = 0; i < c->n_requires; i++)
        dep_fini(&c->requires[i]);
    free(c->requires);
    for (size_t i = 0; i < c->n_conflicts; i++)
        dep_fini(&c->conflicts[i]);
    free(c->conflicts);
    for (size_t i = 0; i < c->n_tags; i++)
        tag_fini(&c->tags[i]);
    free(c->tags);
    for (size_t i = 0; i < c->n_rework_tags; i++)
        free(c->rework_tags[i]);
    free(c->rework_tags);
}

void ebb_sqitch_plan_fini(ebb_sqitch_plan *plan)
{
    if (!plan)
        return;
    free(plan->project);
    free(plan->uri);
    for (size_t i = 0; i < plan->count; i++)
        change_fini(&plan->changes[i]);
    free(plan->changes);
    memset(plan, 0, sizeof *plan);
}

/* ---- "line_no_for": names and "@tags" to the line that declared them ---- */

typedef struct seen_entry {
    char *key; /* owned */
    int line;
} seen_entry;

typedef struct seen_map {
    seen_entry *v;
    size_t n, cap;
} seen_map;

static void seen_fini(seen_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof *m);
}

static int seen_get(const seen_map *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].key, key) == 0)
            return m->v[i].line;
    return 0;
}

static ebb_code seen_set(seen_map *m, const char *key, int line, ebb_error *err)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].key, key) == 0) {
            m->v[i].line = line;
            return EBB_OK;
        }
    if (grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v, err) != EBB_OK)
        return EBB_E_NOMEM;
    if (!(m->v[m->n].key = strdup(key)))
        return nomem(err);
    m->v[m->n++].line = line;
    return EBB_OK;
}

/* ---- the parse ---- */

typedef struct parser {
    const char *file;
    rxset rx;
    ebb_sqitch_plan plan;
    size_t cap_changes;
    seen_map line_no_for; /* changes of earlier tag sections and tags */
    size_t section_start; /* first change since the last tag */
    size_t flushed;       /* changes before the last tag (Sqitch's @changes) */
    bool have_prev_change;
    int lineno;
} parser;

/* Trim and unescape a note as Plan::Line's BUILDARGS does; takes ownership of raw. */
static ebb_code note_clean(parser *p, char *raw, char **out, ebb_error *err)
{
    if (!raw) {
        *out = strdup("");
        return *out ? EBB_OK : nomem(err);
    }
    if (!perl_true(raw)) {
        *out = raw;
        return EBB_OK;
    }
    if (rx_match(&p->rx, RX_TRIM, raw, strlen(raw), 0) != 1) {
        free(raw);
        return ebb_error_set(err, EBB_E_INTERNAL, "%s:%d: note trimming failed", p->file,
                             p->lineno);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->rx.md);
    size_t a = ov[2], b = ov[3];
    char *s = malloc(b - a + 1);
    if (!s) {
        free(raw);
        return nomem(err);
    }
    size_t n = 0;
    for (size_t i = a; i < b; i++) {
        if (raw[i] == '\\' && i + 1 < b &&
            (raw[i + 1] == '\\' || raw[i + 1] == 'n' || raw[i + 1] == 'r')) {
            char c = raw[i + 1];
            s[n++] = c == 'n' ? '\n' : c == 'r' ? '\r' : '\\';
            i++;
        } else {
            s[n++] = raw[i];
        }
    }
    s[n] = '\0';
    free(raw);
    *out = s;
    return EBB_OK;
}

static bool is_sha1_prefixed(const char *s)
{
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* Fields of one change or tag line, after the line regex matched. */
typedef struct line_fields {
    char *name, *deps, *yr, *mo, *dy, *hr, *mi, *sc, *planner_name, *planner_email, *note;
} line_fields;

static void fields_fini(line_fields *f)
{
    char **all[] = {&f->name, &f->deps, &f->yr, &f->mo, &f->dy, &f->hr, &f->mi,
                    &f->sc, &f->planner_name, &f->planner_email, &f->note};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

static ebb_code fields_read(parser *p, line_fields *f, ebb_error *err)
{
    struct {
        const char *group;
        char **dst;
    } map[] = {{"name", &f->name},       {"dependencies", &f->deps},
               {"yr", &f->yr},           {"mo", &f->mo},
               {"dy", &f->dy},           {"hr", &f->hr},
               {"mi", &f->mi},           {"sc", &f->sc},
               {"planner_name", &f->planner_name}, {"planner_email", &f->planner_email}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (rx_group(&p->rx, map[i].group, map[i].dst, err) != EBB_OK)
            return EBB_E_NOMEM;
    return EBB_OK;
}

/* DateTime->new would refuse these; Sqitch then fails on the line too. */
static ebb_code timestamp_build(parser *p, const line_fields *f, char out[EBB_SQITCH_TIMESTAMP_LEN],
                                ebb_error *err)
{
    const char *parts[6] = {f->yr, f->mo, f->dy, f->hr, f->mi, f->sc};
    int v[6];
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (const char *c = parts[i]; *c; c++) {
            if (*c < '0' || *c > '9')
                return syntax_error(err, p->file, p->lineno,
                                    "Invalid timestamp: only ASCII digits are accepted");
            v[i] = v[i] * 10 + (*c - '0');
        }
    }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > days_in_month(v[0], v[1]) || v[3] > 23 ||
        v[4] > 59 || v[5] > 60)
        return syntax_error(err, p->file, p->lineno, "Invalid timestamp %s-%s-%sT%s:%s:%sZ",
                            f->yr, f->mo, f->dy, f->hr, f->mi, f->sc);
    snprintf(out, EBB_SQITCH_TIMESTAMP_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", v[0], v[1], v[2],
             v[3], v[4], v[5]);
    return EBB_OK;
}

/* Depend->parse plus Depend->new's "must have a change, tag or id". */
static ebb_code dep_parse(parser *p, const char *s, const char *project, ebb_sqitch_dep *out,
                          ebb_error *err)
{
    memset(out, 0, sizeof *out);
    int m = rx_match(&p->rx, RX_DEP, s, strlen(s), 0);
    char *conflicts = NULL, *proj = NULL;
    if (m == 1) {
        if (rx_group(&p->rx, "conflicts", &conflicts, err) != EBB_OK ||
            rx_group(&p->rx, "project", &proj, err) != EBB_OK ||
            rx_group(&p->rx, "id", &out->id, err) != EBB_OK ||
            rx_group(&p->rx, "change", &out->change, err) != EBB_OK ||
            rx_group(&p->rx, "tag", &out->tag, err) != EBB_OK)
            goto fail_nomem;
    }
    if (m != 1 || (!out->change && !out->tag && !out->id)) {
        free(conflicts);
        free(proj);
        dep_fini(out);
        memset(out, 0, sizeof *out);
        return syntax_error(err, p->file, p->lineno,
                            "\"%s\" is not a valid dependency specification", s);
    }
    out->conflict = conflicts && conflicts[0] == '!';
    free(conflicts);
    out->had_project = proj != NULL;
    if (proj && strcmp(proj, project) != 0)
        out->project = proj;
    else
        free(proj);
    /* key_name, prefixed with the project when it is another one (as_string). */
    size_t len = (out->project ? strlen(out->project) + 1 : 0) +
                 (out->change ? strlen(out->change) : 0) + (out->tag ? strlen(out->tag) + 1 : 0) +
                 (out->id && !out->change && !out->tag ? strlen(out->id) : 0) + 1;
    if (!(out->text = malloc(len)))
        goto fail_nomem;
    snprintf(out->text, len, "%s%s%s%s%s%s", out->project ? out->project : "",
             out->project ? ":" : "", out->change ? out->change : "", out->tag ? "@" : "",
             out->tag ? out->tag : "", out->id && !out->change && !out->tag ? out->id : "");
    return EBB_OK;
fail_nomem:
    free(conflicts);
    free(proj);
    dep_fini(out);
    memset(out, 0, sizeof *out);
    return nomem(err);
}

/* The dependency list of a change line, split /[[:blank:]]+/ as Perl splits it. */
static ebb_code deps_parse(parser *p, const char *deps, ebb_sqitch_change *c, ebb_error *err)
{
    size_t len = strlen(deps);
    /* Field bounds: a leading empty field is kept, trailing empty fields are dropped. */
    size_t *bounds = NULL, n_fields = 0, cap_bounds = 0;
    size_t pos = 0;
    for (;;) {
        size_t end = len, next = len;
        bool sep = rx_match(&p->rx, RX_SPLIT, deps, len, pos) == 1;
        if (sep) {
            end = rx_start(&p->rx);
            next = rx_end(&p->rx);
        }
        if (grow((void **)&bounds, &cap_bounds, 2 * n_fields + 2, sizeof *bounds, err) != EBB_OK)
            return EBB_E_NOMEM;
        bounds[2 * n_fields] = pos;
        bounds[2 * n_fields + 1] = end;
        n_fields++;
        if (!sep)
            break;
        pos = next;
    }
    while (n_fields > 0 && bounds[2 * n_fields - 2] == bounds[2 * n_fields - 1])
        n_fields--;

    ebb_code rc = EBB_OK;
    size_t cap_req = 0, cap_con = 0;
    for (size_t i = 0; i < n_fields && rc == EBB_OK; i++) {
        char *field = strndup(deps + bounds[2 * i], bounds[2 * i + 1] - bounds[2 * i]);
        if (!field) {
            rc = nomem(err);
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || (bounds[2 * k + 1] - bounds[2 * k] == strlen(field) &&
                          memcmp(deps + bounds[2 * k], field, strlen(field)) == 0);
        ebb_sqitch_dep d;
        rc = dep_parse(p, field, p->plan.project, &d, err);
        if (rc == EBB_OK && dup) {
            dep_fini(&d);
            rc = syntax_error(err, p->file, p->lineno, "Duplicate dependency \"%s\"", field);
        }
        if (rc == EBB_OK) {
            ebb_sqitch_dep **arr = d.conflict ? &c->conflicts : &c->requires;
            size_t *n = d.conflict ? &c->n_conflicts : &c->n_requires;
            size_t *cap = d.conflict ? &cap_con : &cap_req;
            rc = grow((void **)arr, cap, *n + 1, sizeof **arr, err);
            if (rc == EBB_OK)
                (*arr)[(*n)++] = d;
            else
                dep_fini(&d);
        }
        free(field);
    }
    free(bounds);
    return rc;
}

/*
 * check_changes: every local requirement of the changes since the last tag
 * must be declared earlier (in an earlier section, or earlier in this one);
 * "change@tag" needs the tag declared and the change before it.
 */
static ebb_code check_section(parser *p, ebb_error *err)
{
    ebb_sqitch_plan *pl = &p->plan;
    char msg[EBB_ERROR_MSG_MAX] = "";
    size_t used = 0;
    int first_line = 0;
    for (size_t ci = p->section_start; ci < pl->count; ci++) {
        ebb_sqitch_change *c = &pl->changes[ci];
        for (size_t r = 0; r < c->n_requires; r++) {
            const ebb_sqitch_dep *d = &c->requires[r];
            if (d->had_project) {
                if (d->project)
                    continue; /* another project: not checked here */
            } else if (d->id) {
                continue; /* an id may be internal or external */
            }
            const char *key = d->text;
            bool ok = false;
            size_t pos_in_section = 0; /* 1-based position of key among earlier changes here */
            for (size_t k = p->section_start; k < ci; k++)
                if (strcmp(pl->changes[k].name, key) == 0)
                    pos_in_section = k - p->section_start + 1;
            if (d->change && d->tag) {
                char tkey[1024];
                snprintf(tkey, sizeof tkey, "@%s", d->tag);
                int tag_at = seen_get(&p->line_no_for, tkey);
                int change_at = seen_get(&p->line_no_for, d->change);
                ok = tag_at && change_at && change_at < tag_at;
            } else {
                ok = seen_get(&p->line_no_for, key) != 0 || pos_in_section != 0;
            }
            if (ok)
                continue;
            if (!first_line)
                first_line = c->line;
            /* The position of a change declared later in this section, if any. */
            size_t later = 0;
            for (size_t k = ci + 1; k < pl->count && !later; k++)
                if (strcmp(pl->changes[k].name, key) == 0)
                    later = k - ci;
            int w;
            if (strcmp(key, c->name) == 0)
                w = snprintf(msg + used, sizeof msg - used, "%sChange \"%s\" cannot require itself",
                             used ? "; " : "", c->name);
            else if (later)
                w = snprintf(msg + used, sizeof msg - used,
                             "%sChange \"%s\" planned %zu change%s before required change "
                             "\"%s\" (HINT: move \"%s\" down %zu line%s)",
                             used ? "; " : "", c->name, later, later == 1 ? "" : "s", key,
                             c->name, later, later == 1 ? "" : "s");
            else
                w = snprintf(msg + used, sizeof msg - used,
                             "%sUnknown change \"%s\" required by change \"%s\" (line %d)",
                             used ? "; " : "", key, c->name, c->line);
            if (w > 0)
                used = used + (size_t)w >= sizeof msg ? sizeof msg - 1 : used + (size_t)w;
        }
    }
    if (first_line)
        return syntax_error(err, p->file, first_line, "Dependency error: %s", msg);
    return EBB_OK;
}

/* The pragma section, up to and including the first blank line without a note. */
static ebb_code parse_pragma(parser *p, char *line, size_t len, ebb_error *err)
{
    int m = rx_match(&p->rx, RX_NOTE, line, len, 0);
    if (m == 1) {
        line[rx_start(&p->rx)] = '\0';
        len = rx_start(&p->rx);
    }
    if (rx_match(&p->rx, RX_PRAGMA, line, len, 0) != 1)
        return syntax_error(err, p->file, p->lineno,
                            "Invalid pragma; a blank line must come between pragmas and changes");
    char *name = NULL, *value = NULL;
    if (rx_group(&p->rx, "name", &name, err) != EBB_OK ||
        rx_group(&p->rx, "value", &value, err) != EBB_OK) {
        free(name);
        return EBB_E_NOMEM;
    }
    ebb_code rc = EBB_OK;
    if (strcmp(name, "project") == 0) {
        /* "%project" without a value is 1 to Perl, and fails the name check. */
        const char *proj = value ? value : "";
        if (!value || rx_match(&p->rx, RX_NAME, proj, strlen(proj), 0) != 1) {
            rc = syntax_error(err, p->file, p->lineno,
                              "invalid project name \"%s\": project names must not begin with "
                              "punctuation, contain \"@\", \":\", \"#\", \"\\\", or blanks, or "
                              "end in punctuation or digits following punctuation",
                              proj);
        } else {
            free(p->plan.project);
            p->plan.project = value;
            value = NULL;
        }
    } else if (strcmp(name, "uri") == 0) {
        free(p->plan.uri);
        p->plan.uri = value ? value : strdup("1");
        value = NULL;
        if (!p->plan.uri)
            rc = nomem(err);
    }
    /* %syntax-version is always read as 1.0.0 (the only syntax); others are kept by Sqitch only. */
    free(name);
    free(value);
    return rc;
}

static ebb_code add_tag(parser *p, line_fields *f, const char *ts, ebb_error *err)
{
    ebb_sqitch_plan *pl = &p->plan;
    if (strchr(f->name, '/'))
        return syntax_error(err, p->file, p->lineno, "Tag \"%s\" contains illegal character /",
                            f->name);
    if (!p->have_prev_change)
        return syntax_error(err, p->file, p->lineno,
                            "Tag \"%s\" declared without a preceding change", f->name);
    char key[1024];
    snprintf(key, sizeof key, "@%s", f->name);
    int at = seen_get(&p->line_no_for, key);
    if (at)
        return syntax_error(err, p->file, p->lineno,
                            "Tag \"%s\" duplicates earlier declaration on line %d", f->name, at);
    if (perl_true(f->deps))
        return syntax_error(err, p->file, p->lineno, "Tags may not specify dependencies");
    if (pl->count > p->section_start) {
        if (check_section(p, err) != EBB_OK)
            return EBB_E_INVALID;
        p->flushed = pl->count;
    }
    ebb_sqitch_change *prev = &pl->changes[pl->count - 1];
    ebb_sqitch_tag *nt = realloc(prev->tags, (prev->n_tags + 1) * sizeof *nt);
    if (!nt)
        return nomem(err);
    prev->tags = nt;
    ebb_sqitch_tag *t = &nt[prev->n_tags];
    memset(t, 0, sizeof *t);
    prev->n_tags++;
    t->line = p->lineno;
    memcpy(t->planned_at, ts, EBB_SQITCH_TIMESTAMP_LEN);
    t->name = f->name;
    t->planner_name = f->planner_name;
    t->planner_email = f->planner_email;
    f->name = f->planner_name = f->planner_email = NULL;
    ebb_code rc = note_clean(p, f->note, &t->note, err);
    f->note = NULL;
    if (rc != EBB_OK)
        return rc;
    /* line_no_for = (line_no_for, tag_changes, "@tag" => line) */
    for (size_t i = p->section_start; i < pl->count; i++)
        if (seen_set(&p->line_no_for, pl->changes[i].name, pl->changes[i].line, err) != EBB_OK)
            return EBB_E_NOMEM;
    if (seen_set(&p->line_no_for, key, p->lineno, err) != EBB_OK)
        return EBB_E_NOMEM;
    p->section_start = pl->count;
    return EBB_OK;
}

static ebb_code add_change(parser *p, line_fields *f, const char *ts, ebb_error *err)
{
    ebb_sqitch_plan *pl = &p->plan;
    for (size_t i = p->section_start; i < pl->count; i++)
        if (strcmp(pl->changes[i].name, f->name) == 0)
            return syntax_error(err, p->file, p->lineno,
                                "Change \"%s\" duplicates earlier declaration on line %d",
                                f->name, pl->changes[i].line);
    if (grow((void **)&pl->changes, &p->cap_changes, pl->count + 1, sizeof *pl->changes, err) !=
        EBB_OK)
        return EBB_E_NOMEM;
    ebb_sqitch_change *c = &pl->changes[pl->count];
    memset(c, 0, sizeof *c);
    pl->count++; /* owned by the plan from here on, freed with it on error */
    c->line = p->lineno;
    c->name = f->name;
    c->planner_name = f->planner_name;
    c->planner_email = f->planner_email;
    f->name = f->planner_name = f->planner_email = NULL;
    ebb_code rc = note_clean(p, f->note, &c->note, err);
    f->note = NULL;
    if (rc != EBB_OK)
        return rc;
    memcpy(c->planned_at, ts, EBB_SQITCH_TIMESTAMP_LEN);
    if (perl_true(f->deps) && deps_parse(p, f->deps, c, err) != EBB_OK)
        return EBB_E_INVALID;
    p->have_prev_change = true;

    /* A reworked change: the previous change of this name gets its rework tags. */
    size_t ci = pl->count - 1;
    size_t duped = ci;
    c->instance = 1;
    for (size_t k = ci; k-- > 0;)
        if (strcmp(pl->changes[k].name, c->name) == 0) {
            if (duped == ci)
                duped = k;
            c->instance++;
        }
    if (duped != ci) {
        ebb_sqitch_change *d = &pl->changes[duped];
        size_t n = d->n_tags;
        for (size_t k = duped + 1; k < p->flushed; k++)
            n += pl->changes[k].n_tags;
        char **rt = calloc(n ? n : 1, sizeof *rt);
        if (!rt)
            return nomem(err);
        size_t j = 0;
        for (size_t k = p->flushed; k-- > duped + 1;)
            for (size_t t = 0; t < pl->changes[k].n_tags; t++)
                rt[j++] = dup_str(pl->changes[k].tags[t].name);
        for (size_t t = 0; t < d->n_tags; t++)
            rt[j++] = dup_str(d->tags[t].name);
        d->rework_tags = rt;
        d->n_rework_tags = j;
        for (size_t t = 0; t < j; t++)
            if (!rt[t])
                return nomem(err);
    }
    return EBB_OK;
}

static ebb_code parse_entry(parser *p, char *line, size_t len, ebb_error *err)
{
    line_fields f = {0};
    ebb_code rc = EBB_OK;
    if (rx_match(&p->rx, RX_NOTE, line, len, 0) == 1) {
        size_t start = rx_start(&p->rx);
        if (rx_group(&p->rx, "note", &f.note, err) != EBB_OK)
            return EBB_E_NOMEM;
        line[start] = '\0';
        len = start;
    }
    bool is_tag = rx_match(&p->rx, RX_ISTAG, line, len, 0) == 1;
    int m = rx_match(&p->rx, RX_LINE, line, len, 0);
    if (m < 0) {
        rc = syntax_error(err, p->file, p->lineno, "cannot match the line (PCRE2 error %d)", m);
        goto out;
    }
    if (m == 1 && fields_read(p, &f, err) != EBB_OK) {
        rc = EBB_E_NOMEM;
        goto out;
    }
    if (!perl_true(f.name) || (!perl_true(f.yr) && rx_match(&p->rx, RX_TS, line, len, 0) == 1)) {
        rc = syntax_error(err, p->file, p->lineno,
                          "Invalid name; names must not begin with punctuation, contain \"@\", "
                          "\":\", \"#\", \"\\\", or blanks, or end in punctuation or digits "
                          "following punctuation");
        goto out;
    }
    if (!perl_true(f.yr) && !perl_true(f.planner_name)) {
        rc = syntax_error(err, p->file, p->lineno, "Missing timestamp and planner name and email");
        goto out;
    }
    if (!perl_true(f.yr)) {
        rc = syntax_error(err, p->file, p->lineno, "Missing timestamp");
        goto out;
    }
    if (!perl_true(f.planner_name)) {
        rc = syntax_error(err, p->file, p->lineno, "Missing planner name and email");
        goto out;
    }
    if (strcmp(f.name, "HEAD") == 0 || strcmp(f.name, "ROOT") == 0) {
        rc = syntax_error(err, p->file, p->lineno, "\"%s%s\" is a reserved name",
                          is_tag ? "@" : "", f.name);
        goto out;
    }
    if (strlen(f.name) >= 40 && is_sha1_prefixed(f.name)) {
        rc = syntax_error(err, p->file, p->lineno,
                          "\"%s\" is invalid because it could be confused with a SHA1 ID", f.name);
        goto out;
    }
    char ts[EBB_SQITCH_TIMESTAMP_LEN];
    rc = timestamp_build(p, &f, ts, err);
    if (rc == EBB_OK)
        rc = is_tag ? add_tag(p, &f, ts, err) : add_change(p, &f, ts, err);
out:
    fields_fini(&f);
    return rc;
}

ebb_code ebb_sqitch_plan_parse(const char *file, const char *text, size_t len,
                               ebb_sqitch_plan *out, ebb_error *err)
{
    if (memchr(text, '\0', len))
        return ebb_error_set(err, EBB_E_INVALID, "%s: contains a NUL byte", file);
    parser p = {.file = file};
    ebb_code rc = rxset_init(&p.rx, err);
    if (rc != EBB_OK)
        return rc;
    bool header = true;
    size_t pos = 0;
    while (pos < len && rc == EBB_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t llen = end - pos;
        if (nl && llen > 0 && text[end - 1] == '\r')
            llen--;
        p.lineno++;
        char *line = strndup(text + pos, llen);
        pos = nl ? end + 1 : len;
        if (!line) {
            rc = nomem(err);
            break;
        }
        int m = rx_match(&p.rx, RX_BLANK, line, llen, 0);
        if (m < 0) {
            rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: not valid UTF-8", file, p.lineno);
        } else if (m == 1) {
            /* Blank line or comment: a blank line without a note ends the pragmas. */
            if (header) {
                char *note = NULL;
                rc = rx_group(&p.rx, "note", &note, err);
                char *clean = NULL;
                if (rc == EBB_OK)
                    rc = note_clean(&p, note, &clean, err);
                if (rc == EBB_OK && !perl_true(clean))
                    header = false;
                free(clean);
                if (rc == EBB_OK && !header && !p.plan.project)
                    rc = ebb_error_set(err, EBB_E_INVALID, "%s: Missing %%project pragma", file);
            }
        } else if (header) {
            rc = parse_pragma(&p, line, llen, err);
        } else {
            rc = parse_entry(&p, line, llen, err);
        }
        free(line);
    }
    if (rc == EBB_OK && header && !p.plan.project)
        rc = ebb_error_set(err, EBB_E_INVALID, "%s: Missing %%project pragma", file);
    if (rc == EBB_OK && p.plan.count > p.section_start)
        rc = check_section(&p, err);
    seen_fini(&p.line_no_for);
    rxset_fini(&p.rx);
    if (rc != EBB_OK) {
        ebb_sqitch_plan_fini(&p.plan);
        return rc;
    }
    *out = p.plan;
    return EBB_OK;
}

bool ebb_sqitch_name_valid(const char *name)
{
    pcre2_code *re;
    int ecode;
    PCRE2_SIZE eoff;
    re = pcre2_compile((PCRE2_SPTR)rx_src[RX_NAME], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                       &ecode, &eoff, NULL);
    if (!re)
        return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    bool ok = md && pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) > 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ok;
}
