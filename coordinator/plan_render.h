/* Plans as human text and as JSON (jansson): what operators read, what scripts and golden files
 * compare. */
#ifndef EBB_COORDINATOR_PLAN_RENDER_H
#define EBB_COORDINATOR_PLAN_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"
#include "coordinator/plan.h"
#include "coordinator/policy.h"

/* "up", "down", "none". */
const char *ebb_direction_name(ebb_direction dir);

/*
 * The plan as a JSON object (a new reference the caller owns), with the
 * policy verdict under "policy" when policy is not NULL. NULL when out of
 * memory.
 */
json_t *ebb_plan_to_json(const ebb_plan *plan, const ebb_policy_result *policy);

/*
 * The plan as JSON text into *out (malloc'd, caller frees): compact with
 * sorted keys when canonical (the form ebb_plan_hash hashes), else indented
 * in field order. policy may be NULL.
 */
EBB_MUSTCHECK ebb_code ebb_plan_render_json(const ebb_plan *plan, const ebb_policy_result *policy,
                                            bool canonical, char **out, ebb_error *err);

/* The plan as human text into *out (malloc'd, caller frees). policy may be NULL. */
EBB_MUSTCHECK ebb_code ebb_plan_render_text(const ebb_plan *plan, const ebb_policy_result *policy,
                                            char **out, ebb_error *err);

#endif
