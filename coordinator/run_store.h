/* What the run driver writes to the journal and reads back: plans from their JSON, rollout events
 * and configurations as JSON. */
#ifndef EBB_COORDINATOR_RUN_STORE_H
#define EBB_COORDINATOR_RUN_STORE_H

#include <jansson.h>

#include "common/error.h"
#include "coordinator/plan.h"
#include "coordinator/rollout.h"

/*
 * A plan back from the JSON of ebb_plan_to_json (policy ignored). *out set
 * only on success (caller: ebb_plan_fini). EBB_E_INVALID names the first
 * field that is missing or wrong. The caller compares ebb_plan_hash of the
 * result with the recorded hash: the round trip must be exact.
 */
EBB_MUSTCHECK ebb_code ebb_plan_from_json(const json_t *j, ebb_plan *out, ebb_error *err);

/* An event as JSON (new reference; NULL when out of memory). */
json_t *ebb_rollout_event_to_json(const ebb_rollout_event *ev);

/*
 * An event back from its JSON; the strings of *out borrow from j (keep j
 * alive while using it). EBB_E_INVALID when malformed.
 */
EBB_MUSTCHECK ebb_code ebb_rollout_event_from_json(const json_t *j, ebb_rollout_event *out,
                                                   ebb_error *err);

/* "start", "result", "tick", "halt", "resume", "abort", "approve". */
const char *ebb_rollout_event_name(ebb_rollout_event_kind kind);

/* A rollout configuration as JSON and back (new reference / *out set only on success). */
json_t *ebb_rollout_config_to_json(const ebb_rollout_config *cfg);
EBB_MUSTCHECK ebb_code ebb_rollout_config_from_json(const json_t *j, ebb_rollout_config *out,
                                                    ebb_error *err);

#endif
