/* Splits a SQL script into statements with the PostgreSQL 15 parser (libpg_query). */
#ifndef EBB_AGENT_SQL_SPLIT_H
#define EBB_AGENT_SQL_SPLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct ebb_sql_stmt {
    size_t offset; /* byte offset of the statement's first token in the script */
    size_t length; /* bytes up to (not including) the terminating ';' */
    int line;      /* 1-based line of the first token */
    char *text;    /* malloc'd copy of script[offset, offset+length) */
} ebb_sql_stmt;

typedef struct ebb_sql_script {
    ebb_sql_stmt *stmts; /* owned; ebb_sql_script_fini frees */
    size_t count;
} ebb_sql_script;

typedef enum ebb_sql_split_mode {
    /* Full parse: a syntax error anywhere fails the split (EBB_E_INVALID, with line). */
    EBB_SQL_SPLIT_PARSER,
    /* Lexer only: splits scripts the parser cannot read (for reports on bad SQL). */
    EBB_SQL_SPLIT_SCANNER,
} ebb_sql_split_mode;

/*
 * Split script (NUL-terminated) into its statements. Comments and blank
 * statements are not statements. *out is set only on success and owned by
 * the caller (ebb_sql_script_fini). On a syntax error, err names the line
 * and the parser's message.
 */
EBB_MUSTCHECK ebb_code ebb_sql_split(const char *script, ebb_sql_split_mode mode,
                                     ebb_sql_script *out, ebb_error *err);

void ebb_sql_script_fini(ebb_sql_script *script);

/* 1-based line number of byte offset pos in script. */
int ebb_sql_line_of(const char *script, size_t pos);

#endif
