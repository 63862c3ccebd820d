/* Unit tests for the run and host state-machine tables: consistency, reachability, refusals,
 * printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/fsm_host.h"
#include "coordinator/fsm_run.h"

static void check_names(const char *const *names, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0')
            fail_msg("%s %zu has no name", what, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(names[i], names[k]) == 0)
                fail_msg("%s name %s appears twice", what, names[i]);
    }
}

/* Structure: names, no duplicate (state, event), terminal states without exits, others with. */
static void check_table(const ebb_fsm_table *t)
{
    check_names(t->state_names, t->n_states, "state");
    check_names(t->event_names, t->n_events, "event");
    check_names(t->action_names, t->n_actions, "action");
    bool *exits = calloc(t->n_states, sizeof *exits);
    bool *events = calloc(t->n_events, sizeof *events);
    bool *actions = calloc(t->n_actions, sizeof *actions);
    for (size_t i = 0; i < t->n_rows; i++) {
        const ebb_fsm_row *r = &t->rows[i];
        assert_in_range(r->state, 0, t->n_states - 1);
        assert_in_range(r->next, 0, t->n_states - 1);
        assert_in_range(r->event, 0, t->n_events - 1);
        assert_in_range(r->action, 0, t->n_actions - 1);
        for (size_t k = 0; k < i; k++)
            if (t->rows[k].state == r->state && t->rows[k].event == r->event)
                fail_msg("%s: (%s, %s) has two rows", t->name, t->state_names[r->state],
                         t->event_names[r->event]);
        exits[r->state] = true;
        events[r->event] = true;
        actions[r->action] = true;
    }
    for (size_t s = 0; s < t->n_states; s++)
        if (exits[s] == t->terminal[s])
            fail_msg("%s: state %s is %s but has %s", t->name, t->state_names[s],
                     t->terminal[s] ? "terminal" : "not terminal",
                     exits[s] ? "transitions out" : "no way out");
    for (size_t e = 0; e < t->n_events; e++)
        if (!events[e])
            fail_msg("%s: event %s is in no row", t->name, t->event_names[e]);
    for (size_t a = 0; a < t->n_actions; a++)
        if (!actions[a])
            fail_msg("%s: action %s is in no row", t->name, t->action_names[a]);
    free(exits);
    free(events);
    free(actions);
}

/* Every row can fire: its state is reachable from the initial state (0). */
static void check_reachable(const ebb_fsm_table *t)
{
    bool *seen = calloc(t->n_states, sizeof *seen);
    seen[0] = true;
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < t->n_rows; i++)
            if (seen[t->rows[i].state] && !seen[t->rows[i].next])
                seen[t->rows[i].next] = grew = true;
    }
    for (size_t i = 0; i < t->n_rows; i++)
        if (!seen[t->rows[i].state])
            fail_msg("%s: row %zu (%s, %s) cannot be reached from %s", t->name, i,
                     t->state_names[t->rows[i].state], t->event_names[t->rows[i].event],
                     t->state_names[0]);
    for (size_t s = 0; s < t->n_states; s++)
        if (!seen[s])
            fail_msg("%s: state %s cannot be reached", t->name, t->state_names[s]);
    /* and every state can reach a terminal one (no trap) */
    bool *ends = calloc(t->n_states, sizeof *ends);
    for (size_t s = 0; s < t->n_states; s++)
        ends[s] = t->terminal[s];
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < t->n_rows; i++)
            if (ends[t->rows[i].next] && !ends[t->rows[i].state])
                ends[t->rows[i].state] = grew = true;
    }
    for (size_t s = 0; s < t->n_states; s++)
        if (!ends[s])
            fail_msg("%s: state %s never ends", t->name, t->state_names[s]);
    free(seen);
    free(ends);
}

static void test_host_table(void **state)
{
    (void)state;
    const ebb_fsm_table *t = ebb_fsm_host_table();
    assert_int_equal(t->n_states, EBB_HOST__COUNT);
    assert_int_equal(t->n_events, EBB_HEV__COUNT);
    assert_int_equal(t->n_actions, EBB_HACT__COUNT);
    check_table(t);
    check_reachable(t);
}

static void test_run_table(void **state)
{
    (void)state;
    const ebb_fsm_table *t = ebb_fsm_run_table();
    assert_int_equal(t->n_states, EBB_RUN__COUNT);
    assert_int_equal(t->n_events, EBB_REV__COUNT);
    assert_int_equal(t->n_actions, EBB_RACT__COUNT);
    check_table(t);
    check_reachable(t);
}

static void test_lookup_allowed_and_forbidden(void **state)
{
    (void)state;
    const ebb_fsm_row *row = NULL;
    ebb_error err;
    assert_int_equal(ebb_fsm_run_lookup(EBB_RUN_RUNNING, EBB_REV_HALT, &row, &err), EBB_OK);
    assert_int_equal(row->next, EBB_RUN_HALTED);
    assert_int_equal(row->action, EBB_RACT_STOP_NEW);
    assert_int_equal(ebb_fsm_host_lookup(EBB_HOST_PREPARED, EBB_HEV_COMMIT, &row, &err), EBB_OK);
    assert_int_equal(row->next, EBB_HOST_COMMITTING);
    assert_int_equal(row->action, EBB_HACT_SEND_COMMIT);

    const ebb_fsm_row *untouched = (const ebb_fsm_row *)&err;
    row = untouched;
    /* a recorded commit decision is carried out whole */
    assert_int_equal(ebb_fsm_run_lookup(EBB_RUN_COMMITTING, EBB_REV_HALT, &row, &err),
                     EBB_E_CONFLICT);
    assert_ptr_equal(row, untouched);
    assert_string_equal(err.msg, "run: event 'halt' is not allowed in state 'committing'");
    assert_int_equal(ebb_fsm_run_lookup(EBB_RUN_SUCCEEDED, EBB_REV_RESUME, &row, &err),
                     EBB_E_CONFLICT);
    assert_int_equal(ebb_fsm_run_lookup(EBB_RUN_RUNNING, EBB_REV_RESUME, &row, &err),
                     EBB_E_CONFLICT);
    assert_int_equal(ebb_fsm_run_lookup(EBB_RUN_RUNNING, EBB_REV_APPROVED, &row, &err),
                     EBB_E_CONFLICT);
    assert_int_equal(ebb_fsm_host_lookup(EBB_HOST_RUNNING, EBB_HEV_COMMIT, &row, &err),
                     EBB_E_CONFLICT);
    assert_string_equal(err.msg, "host: event 'commit' is not allowed in state 'running'");
    assert_int_equal(ebb_fsm_host_lookup(EBB_HOST_FAILED, EBB_HEV_STEP_OK, &row, &err),
                     EBB_E_CONFLICT);
    assert_int_equal(ebb_fsm_host_lookup(EBB_HOST_PENDING, EBB_HEV_COMPENSATE, &row, &err),
                     EBB_E_CONFLICT);
    /* every (state, event) pair either has its row or is refused */
    const ebb_fsm_table *t = ebb_fsm_host_table();
    size_t allowed = 0;
    for (int s = 0; s < (int)t->n_states; s++)
        for (int e = 0; e < (int)t->n_events; e++)
            allowed += ebb_fsm_lookup(t, s, e, &row, NULL) == EBB_OK;
    assert_int_equal(allowed, t->n_rows);
}

static void check_render(const ebb_fsm_table *t)
{
    char *dot = NULL, *text = NULL;
    ebb_error err;
    assert_int_equal(ebb_fsm_render_dot(t, &dot, &err), EBB_OK);
    assert_int_equal(ebb_fsm_render_text(t, &text, &err), EBB_OK);
    char want[128];
    snprintf(want, sizeof want, "digraph ebb_%s {", t->name);
    assert_non_null(strstr(dot, want));
    for (size_t s = 0; s < t->n_states; s++) {
        snprintf(want, sizeof want, "\n  \"%s\"", t->state_names[s]);
        if (strstr(dot, want) == NULL)
            fail_msg("dot output lacks state %s", t->state_names[s]);
        if (strstr(text, t->state_names[s]) == NULL)
            fail_msg("text output lacks state %s", t->state_names[s]);
    }
    size_t edges = 0, lines = 0;
    for (const char *p = dot; (p = strstr(p, " -> ")) != NULL; p++)
        edges++;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(edges, t->n_rows);
    assert_int_equal(lines, t->n_rows + 3); /* title, header, rows, terminal list */
    assert_non_null(strstr(dot, "[peripheries=2]"));
    free(dot);
    free(text);
}

static void test_render(void **state)
{
    (void)state;
    check_render(ebb_fsm_run_table());
    check_render(ebb_fsm_host_table());
    char *text = NULL;
    assert_int_equal(ebb_fsm_render_text(ebb_fsm_run_table(), &text, NULL), EBB_OK);
    assert_non_null(strstr(text, "prepare_failed"));
    assert_non_null(strstr(text, "record_rollback"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_table),
        cmocka_unit_test(test_run_table),
        cmocka_unit_test(test_lookup_allowed_and_forbidden),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
