/* Internals shared by the journal writer (journal.c) and reader (journal_read.c) only. */
#ifndef EBB_COMMON_JOURNAL_INTERNAL_H
#define EBB_COMMON_JOURNAL_INTERNAL_H

#include <stdarg.h>

#include "common/journal.h"

#define JR_VERSION 1
/* Domain separation: a journal hash or signature can never be taken for another ebb one. */
#define JR_DOMAIN "ebb-journal-v1\n"
#define JR_DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* Bounded line framing over pread (no shared file offset, so readers may run concurrently). */
typedef struct jr_lines {
    int fd;
    uint64_t limit; /* read no further than this offset (UINT64_MAX: to the end) */
    uint64_t pos;   /* file offset of buf[0] */
    char *buf;
    size_t cap, start, end;
    uint64_t lines; /* lines returned so far */
} jr_lines;

typedef struct jr_line {
    const char *text; /* borrowed from the reader until the next call */
    size_t len;       /* without the newline */
    uint64_t offset;  /* file offset of the first byte */
    uint64_t number;  /* 1-based */
    bool has_newline;
    bool too_long;
} jr_line;

void jr_lines_init(jr_lines *lr, int fd, uint64_t limit);
void jr_lines_fini(jr_lines *lr);
/* 1: a line in *out; 0: end of data; -1: read error (errno). */
int jr_lines_next(jr_lines *lr, jr_line *out);
/* True when nothing follows the last returned line. */
bool jr_lines_at_end(jr_lines *lr);

/* The chain so far: what the next record must continue. */
typedef struct jr_chain {
    const ebb_public_key *trust; /* NULL: signatures not checked */
    ebb_key_id trust_id;
    uint64_t seq;
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
} jr_chain;

typedef enum jr_check {
    JR_GOOD,
    JR_BAD_PARSE, /* not JSON at all: may be a torn last line */
    JR_BAD,       /* any other fault (in the report) */
    JR_OOM,
} jr_check;

/*
 * Check one line against the chain; on JR_GOOD advance the chain, fill rec
 * (pointing into *obj_out, which the caller decrefs). Otherwise fill rep.
 */
jr_check jr_check_line(jr_chain *c, const jr_line *ln, ebb_journal_record *rec, json_t **obj_out,
                       ebb_journal_report *rep);

/*
 * Read and verify records from offset 0 up to limit, calling fn for those
 * with seq >= from_seq. EBB_OK with rep->fault NONE or TORN_TAIL; a
 * callback's code; EBB_E_VERIFY for other faults. *end_offset (may be NULL):
 * the offset just after the last good record.
 */
ebb_code jr_read_chain(int fd, const char *path, uint64_t limit, const ebb_public_key *trust,
                       uint64_t from_seq, ebb_journal_record_fn fn, void *ctx,
                       ebb_journal_report *rep, uint64_t *end_offset, ebb_error *err);

void jr_report_init(ebb_journal_report *rep);
void jr_fault(ebb_journal_report *rep, ebb_journal_fault fault, uint64_t line, uint64_t seq,
              uint64_t offset, const char *fmt, ...) EBB_PRINTF(6, 7);
/* EBB_E_VERIFY with a message naming path, line, seq and the fault. */
ebb_code jr_fault_error(const char *path, const ebb_journal_report *rep, ebb_error *err);

void jr_hash(const char *canon, size_t len, uint8_t out[EBB_JOURNAL_HASH_LEN]);
/* JR_DOMAIN + canon, malloc'd (caller frees); NULL when out of memory. */
uint8_t *jr_signed_message(const char *canon, size_t len, size_t *out_len);
bool jr_has_real(const json_t *v);
bool jr_type_valid(const char *type);

#endif
