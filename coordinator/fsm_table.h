/* State machines as data: tables of {state, event, next, action} that can be looked up, checked and
 * printed (text, Graphviz dot). */
#ifndef EBB_COORDINATOR_FSM_TABLE_H
#define EBB_COORDINATOR_FSM_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct ebb_fsm_row {
    int state;
    int event;
    int next;
    int action;
} ebb_fsm_row;

/* A whole machine; everything static, borrowed. Names are indexed by the enum values. */
typedef struct ebb_fsm_table {
    const char *name; /* "run", "host" */
    const ebb_fsm_row *rows;
    size_t n_rows;
    const char *const *state_names;
    size_t n_states;
    const bool *terminal; /* n_states flags: no way out */
    const char *const *event_names;
    size_t n_events;
    const char *const *action_names;
    size_t n_actions;
} ebb_fsm_table;

/*
 * The row for event in state. An event the table does not allow in that
 * state is EBB_E_CONFLICT naming both; *out is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_fsm_lookup(const ebb_fsm_table *t, int state, int event,
                                      const ebb_fsm_row **out, ebb_error *err);

/* Name of a state / event / action, "?" when out of range. */
const char *ebb_fsm_state_name(const ebb_fsm_table *t, int state);
const char *ebb_fsm_event_name(const ebb_fsm_table *t, int event);
const char *ebb_fsm_action_name(const ebb_fsm_table *t, int action);

/*
 * The table as aligned text (one row per transition) or as a Graphviz
 * digraph (every state a node, terminal states double-bordered, every row an
 * edge labelled "event / action"). *out is malloc'd; the caller frees it.
 */
EBB_MUSTCHECK ebb_code ebb_fsm_render_text(const ebb_fsm_table *t, char **out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_fsm_render_dot(const ebb_fsm_table *t, char **out, ebb_error *err);

#endif
