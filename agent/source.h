/* Reads a migration source directory into the graph model (plain SQL layouts). */
#ifndef EBB_AGENT_SOURCE_H
#define EBB_AGENT_SOURCE_H

#include "agent/migration.h"
#include "common/error.h"

/*
 * Load the project at dir. kind EBB_SOURCE_UNKNOWN detects the layout (an
 * ambiguous or empty directory is an error that says what was found).
 * Every error names the file (and line where there is one). *out is set
 * only on success; the caller owns it (ebb_graph_fini).
 */
EBB_MUSTCHECK ebb_code ebb_source_load(const char *dir, ebb_source_kind kind, ebb_graph *out,
                                       ebb_error *err);

/* Detect the layout of dir without loading it. */
EBB_MUSTCHECK ebb_code ebb_source_detect(const char *dir, ebb_source_kind *out, ebb_error *err);

#endif
