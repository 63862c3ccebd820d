/* Sqitch plan files (sqitch.plan) read with the rules of Sqitch 1.3's own parser. Pure code. */
#ifndef EBB_AGENT_SQITCH_PLAN_H
#define EBB_AGENT_SQITCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define EBB_SQITCH_TIMESTAMP_LEN 21 /* "2013-12-31T18:26:59Z" + NUL */

/*
 * One dependency of a change ("[users !flipr:old x@v1 @v2]"). Exactly one of
 * change, tag (alone) or id is the target; change and tag together mean "the
 * change as of that tag". All strings owned by the plan.
 */
typedef struct ebb_sqitch_dep {
    bool conflict;    /* written with a leading '!' */
    bool had_project; /* written with "project:" (even when it names this project) */
    char *project;    /* another project, or NULL when the dependency is local */
    char *change;     /* change name, or NULL */
    char *tag;        /* tag name without '@', or NULL */
    char *id;         /* a 40-hex Sqitch change id, or NULL */
    char *text;       /* as Sqitch prints it, without '!': [project:]change[@tag] | [project:]@tag | id */
} ebb_sqitch_dep;

typedef struct ebb_sqitch_tag {
    char *name; /* without '@' (owned) */
    int line;
    char *note; /* "" when none (owned) */
    char *planner_name;
    char *planner_email;
    char planned_at[EBB_SQITCH_TIMESTAMP_LEN];
} ebb_sqitch_tag;

typedef struct ebb_sqitch_change {
    char *name;          /* may contain '/' (a subdirectory of deploy/) (owned) */
    int line;            /* where it is declared */
    size_t instance;     /* 1 for the first change of this name, 2 for its first rework, ... */
    char *note;          /* "" when none; "\n", "\r" and "\\" escapes undone (owned) */
    char *planner_name;  /* owned */
    char *planner_email; /* owned */
    char planned_at[EBB_SQITCH_TIMESTAMP_LEN];
    ebb_sqitch_dep *requires; /* in plan order (owned) */
    size_t n_requires;
    ebb_sqitch_dep *conflicts; /* in plan order (owned) */
    size_t n_conflicts;
    ebb_sqitch_tag *tags; /* tags declared right after this change (owned) */
    size_t n_tags;
    /*
     * Set when a later change reuses this name: the tags whose names may
     * suffix this change's script files ("x@v1.sql"), in Sqitch's order of
     * preference (the most recent tag first, this change's own tags last).
     * Each is a tag name without '@' (owned array of owned strings).
     */
    char **rework_tags;
    size_t n_rework_tags;
} ebb_sqitch_change;

typedef struct ebb_sqitch_plan {
    char *project; /* %project (owned) */
    char *uri;     /* %uri, or NULL (owned) */
    ebb_sqitch_change *changes; /* in plan order (owned) */
    size_t count;
} ebb_sqitch_plan;

/*
 * Parse the len bytes at text (the content of a plan file; need not be
 * NUL-terminated) as Sqitch 1.3.1 does: pragmas up to the first blank line,
 * then changes and tags; names, timestamps, planners, dependency syntax,
 * duplicate and reserved names, and the per-tag dependency order check as in
 * App::Sqitch::Plan::_parse and check_changes. file is used in messages
 * only. A malformed line is EBB_E_INVALID "file:line: reason". *out is set
 * only on success; the caller frees it with ebb_sqitch_plan_fini.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_plan_parse(const char *file, const char *text, size_t len,
                                             ebb_sqitch_plan *out, ebb_error *err);

/* Free everything a plan owns and zero it. Safe on a zeroed plan. */
void ebb_sqitch_plan_fini(ebb_sqitch_plan *plan);

/* True when name is a valid Sqitch change, tag or project name (Sqitch's name_regex). */
bool ebb_sqitch_name_valid(const char *name);

#endif
