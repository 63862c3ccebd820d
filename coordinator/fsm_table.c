/* State machines as data: tables of {state, event, next, action} that can be looked up, checked and
 * printed (text, Graphviz dot). */
#include "coordinator/fsm_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *name_at(const char *const *names, size_t n, int i)
{
    return i >= 0 && (size_t)i < n && names[i] != NULL ? names[i] : "?";
}

const char *ebb_fsm_state_name(const ebb_fsm_table *t, int state)
{
    return name_at(t->state_names, t->n_states, state);
}

const char *ebb_fsm_event_name(const ebb_fsm_table *t, int event)
{
    return name_at(t->event_names, t->n_events, event);
}

const char *ebb_fsm_action_name(const ebb_fsm_table *t, int action)
{
    return name_at(t->action_names, t->n_actions, action);
}

ebb_code ebb_fsm_lookup(const ebb_fsm_table *t, int state, int event, const ebb_fsm_row **out,
                        ebb_error *err)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (t->rows[i].state == state && t->rows[i].event == event) {
            *out = &t->rows[i];
            return EBB_OK;
        }
    return ebb_error_set(err, EBB_E_CONFLICT, "%s: event '%s' is not allowed in state '%s'",
                         t->name, ebb_fsm_event_name(t, event), ebb_fsm_state_name(t, state));
}

/* The memory stream sets *buf only at fclose, so take it by address. */
static ebb_code finish(FILE *f, char **buf, char **out, ebb_error *err)
{
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed || *buf == NULL) {
        free(*buf);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory printing a state machine");
    }
    *out = *buf;
    return EBB_OK;
}

ebb_code ebb_fsm_render_text(const ebb_fsm_table *t, char **out, ebb_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return ebb_error_errno(err, EBB_E_NOMEM, errno, "printing a state machine");
    int ws = 5, we = 5, wn = 4;
    for (size_t i = 0; i < t->n_rows; i++) {
        int a = (int)strlen(ebb_fsm_state_name(t, t->rows[i].state));
        int b = (int)strlen(ebb_fsm_event_name(t, t->rows[i].event));
        int c = (int)strlen(ebb_fsm_state_name(t, t->rows[i].next));
        ws = a > ws ? a : ws;
        we = b > we ? b : we;
        wn = c > wn ? c : wn;
    }
    fprintf(f, "%s state machine: %zu states, %zu events, %zu transitions\n", t->name, t->n_states,
            t->n_events, t->n_rows);
    fprintf(f, "%-*s  %-*s  %-*s  %s\n", ws, "STATE", we, "EVENT", wn, "NEXT", "ACTION");
    for (size_t i = 0; i < t->n_rows; i++) {
        const ebb_fsm_row *r = &t->rows[i];
        fprintf(f, "%-*s  %-*s  %-*s  %s\n", ws, ebb_fsm_state_name(t, r->state), we,
                ebb_fsm_event_name(t, r->event), wn, ebb_fsm_state_name(t, r->next),
                ebb_fsm_action_name(t, r->action));
    }
    fputs("terminal:", f);
    for (size_t s = 0; s < t->n_states; s++)
        if (t->terminal[s])
            fprintf(f, " %s", t->state_names[s]);
    fputc('\n', f);
    return finish(f, &buf, out, err);
}

ebb_code ebb_fsm_render_dot(const ebb_fsm_table *t, char **out, ebb_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return ebb_error_errno(err, EBB_E_NOMEM, errno, "printing a state machine");
    fprintf(f, "digraph ebb_%s {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", t->name);
    for (size_t s = 0; s < t->n_states; s++)
        fprintf(f, "  \"%s\"%s;\n", t->state_names[s], t->terminal[s] ? " [peripheries=2]" : "");
    for (size_t i = 0; i < t->n_rows; i++) {
        const ebb_fsm_row *r = &t->rows[i];
        fprintf(f, "  \"%s\" -> \"%s\" [label=\"%s / %s\"];\n", ebb_fsm_state_name(t, r->state),
                ebb_fsm_state_name(t, r->next), ebb_fsm_event_name(t, r->event),
                ebb_fsm_action_name(t, r->action));
    }
    fputs("}\n", f);
    return finish(f, &buf, out, err);
}
