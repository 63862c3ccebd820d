/*
 * Fuzz target for the SQL splitter (migration scripts are outside input):
 * both modes never crash, statements lie inside the script, in order, and
 * each statement's text equals its slice of the script.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sql_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    if (sql == NULL)
        abort();
    memcpy(sql, data, size);
    sql[size] = '\0';
    size_t len = strlen(sql); /* stop at an embedded NUL, as a file reader would refuse it */
    for (int mode = 0; mode < 2; mode++) {
        ebb_sql_script s;
        if (ebb_sql_split(sql, mode == 0 ? EBB_SQL_SPLIT_PARSER : EBB_SQL_SPLIT_SCANNER, &s,
                          NULL) != EBB_OK)
            continue;
        size_t prev_end = 0;
        for (size_t i = 0; i < s.count; i++) {
            const ebb_sql_stmt *st = &s.stmts[i];
            if (st->offset < prev_end || st->offset + st->length > len || st->length == 0 ||
                memcmp(st->text, sql + st->offset, st->length) != 0 ||
                st->text[st->length] != '\0' || st->line < 1)
                abort();
            prev_end = st->offset + st->length;
        }
        ebb_sql_script_fini(&s);
    }
    free(sql);
    return 0;
}
