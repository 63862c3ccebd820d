/* A durable, append-only, hash-chained (and optionally signed) journal file of JSON records. */
#ifndef EBB_COMMON_JOURNAL_H
#define EBB_COMMON_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/keys.h"

/*
 * Used by the coordinator (run state and audit, one file) and by the agent
 * (its local job journal). Documented in docs/audit.md.
 *
 * On disk: JSON Lines, one record per line, each line the compact JSON of
 * the record with its keys sorted, then "\n":
 *
 *   {"hash":"<64 hex>","key":"<16 hex>","payload":{...},"prev":"<64 hex>",
 *    "seq":1,"sig":"<base64>","ts":1717236000123,"type":"audit.run_requested","v":1}
 *
 *   v        format version, 1
 *   seq      1, 2, 3, ... with no gaps
 *   ts       milliseconds since the Unix epoch (UTC), given by the writer
 *   type     [a-z0-9_.-]{1,64}, e.g. "audit.step_result", "job.finished"
 *   payload  a JSON object; numbers must be integers (reals have no single
 *            canonical text form, so they are refused on append and on read)
 *   prev     hash of the previous record, 64 zeros for the first
 *   key      key id of the signer (signed records only)
 *   hash     BLAKE2b-256 of "ebb-journal-v1\n" + canonical bytes
 *   sig      Ed25519 signature by the signer of the same input (signed only)
 *
 * Canonical bytes: the compact JSON, keys sorted, of the record without
 * "hash" and "sig" (so v, seq, ts, type, payload, prev and key are all
 * covered by the hash and the signature). A stored line must be exactly the
 * canonical serialisation of the full record: any other byte, even
 * whitespace, is reported as damage.
 *
 * Durability: an append writes the line with one write and fdatasync()s
 * before it returns; a newly created file also has its directory fsynced.
 * A crash can therefore leave at most the LAST line torn (no trailing
 * newline, or an unparsable last line). Opening for writing cuts such a
 * torn tail away (the record was never acknowledged) and reports it
 * (ebb_journal_recovery_get); reading and verifying report it and never
 * treat it as a record. Any other damage is an error naming the first bad
 * record (line, sequence number when readable, and why).
 *
 * What the chain cannot show by itself: removing whole records from the END
 * of the file. Verify against an anchor (a sequence number and hash known
 * from an earlier verify or printed by the coordinator) to detect it.
 *
 * Concurrency: one writer process per file (an exclusive flock on the file,
 * held while open; a second writer gets EBB_E_LOCKED, even in the same
 * process). Inside that process ebb_journal_append and the readers are
 * thread-safe: a mutex serialises appends. Read-only functions
 * (ebb_journal_scan, ebb_journal_verify) take no lock and may run while a
 * writer appends; they may then see an append in progress as a torn tail.
 */

#define EBB_JOURNAL_HASH_LEN 32
/* 64 hex characters and a NUL. */
#define EBB_JOURNAL_HASH_HEX_SIZE (EBB_JOURNAL_HASH_LEN * 2 + 1)
/* Longest accepted line, newline included; longer ones are damage. */
#define EBB_JOURNAL_LINE_MAX (1024 * 1024)
/* Longest record type. */
#define EBB_JOURNAL_TYPE_MAX 64

typedef struct ebb_journal ebb_journal;

/* One record as read back. Everything is borrowed and valid only during the callback. */
typedef struct ebb_journal_record {
    uint64_t seq;
    int64_t ts_ms;
    const char *type;
    const json_t *payload; /* a JSON object; json_incref / json_deep_copy to keep it */
    uint8_t prev[EBB_JOURNAL_HASH_LEN];
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
    bool is_signed;
    ebb_key_id signer;              /* meaningful when is_signed */
    uint8_t sig[EBB_SIGNATURE_LEN]; /* meaningful when is_signed */
    uint64_t line;                  /* 1-based line number in the file */
} ebb_journal_record;

/*
 * Called once per record, in order. Return EBB_OK to go on; set *stop to
 * end the iteration early without an error; any other code stops it and is
 * returned by the iterating function (fill err to say why).
 */
typedef ebb_code (*ebb_journal_record_fn)(const ebb_journal_record *rec, void *ctx, bool *stop,
                                          ebb_error *err);

/* What is wrong with the first bad record, if anything. */
typedef enum ebb_journal_fault {
    EBB_JOURNAL_FAULT_NONE = 0,
    EBB_JOURNAL_FAULT_TORN_TAIL,     /* last line incomplete: crash during an append */
    EBB_JOURNAL_FAULT_UNPARSABLE,    /* not JSON, not an object, or a field missing/mistyped */
    EBB_JOURNAL_FAULT_NOT_CANONICAL, /* parses, but the bytes differ from the canonical form */
    EBB_JOURNAL_FAULT_SEQ,           /* sequence number is not the previous one plus 1 */
    EBB_JOURNAL_FAULT_PREV,          /* prev is not the hash of the previous record */
    EBB_JOURNAL_FAULT_HASH,          /* hash does not match the record's content */
    EBB_JOURNAL_FAULT_UNSIGNED,      /* a trusted key was given but the record has no signature */
    EBB_JOURNAL_FAULT_SIGNER,        /* signed by another key than the trusted one */
    EBB_JOURNAL_FAULT_SIGNATURE,     /* signature does not verify */
    EBB_JOURNAL_FAULT_ANCHOR,        /* the anchor record is missing or has another hash */
} ebb_journal_fault;

/* Stable short name of a fault, e.g. "hash-mismatch". Never NULL. */
const char *ebb_journal_fault_name(ebb_journal_fault fault);

/* The result of reading a whole journal (filled by scan, verify and open). */
typedef struct ebb_journal_report {
    uint64_t records;  /* records that verified, before the first fault */
    uint64_t last_seq; /* sequence number of the last good record, 0 if none */
    uint8_t last_hash[EBB_JOURNAL_HASH_LEN]; /* its hash; zeros if none */
    bool signatures_checked; /* a trusted key was given, every good record carried its signature */
    ebb_journal_fault fault; /* FAULT_NONE when everything verified */
    uint64_t bad_line;       /* 1-based line of the first bad record (0 without fault) */
    uint64_t bad_seq;        /* its sequence number when readable, else 0 */
    uint64_t bad_offset;     /* its byte offset in the file */
    uint64_t torn_bytes;     /* FAULT_TORN_TAIL: bytes from bad_offset to the end */
    char why[256]; /* human sentence, e.g. "hash mismatch: recorded 3fa1..., computed 9b02..." */
} ebb_journal_report;

/* A known (seq, hash) pair that must still be in the journal (detects cut-off tails). */
typedef struct ebb_journal_anchor {
    uint64_t seq;
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
} ebb_journal_anchor;

/* Parse "SEQ:HEXHASH" (as printed by verify); EBB_E_INVALID otherwise. */
EBB_MUSTCHECK ebb_code ebb_journal_anchor_parse(const char *text, ebb_journal_anchor *out,
                                                ebb_error *err);

/* How to open a journal for writing. Zero-initialise and set what you need. */
typedef struct ebb_journal_options {
    /*
     * Sign every appended record with this key. Borrowed: it must outlive
     * the journal. NULL: records are written unsigned.
     */
    const ebb_secret_key *sign_key;
    /*
     * When set, every existing record must carry a valid signature by this
     * key (borrowed, copied on open). NULL: the chain is checked and
     * signatures, if any, are not. A writer with sign_key normally passes
     * its own public key here.
     */
    const ebb_public_key *trust_key;
    /* Refuse (EBB_E_NOT_FOUND) instead of creating a missing file. */
    bool must_exist;
} ebb_journal_options;

/* What opening for writing had to repair. */
typedef struct ebb_journal_recovery {
    bool truncated;  /* a torn last line was cut away */
    uint64_t line;   /* its line number */
    uint64_t offset; /* where the file now ends */
    uint64_t bytes;  /* how many bytes were removed */
} ebb_journal_recovery;

/*
 * Open path for appending, creating it (mode 0600, directory fsynced) when
 * missing unless opts->must_exist. opts may be NULL (unsigned, no trusted
 * key, create). Takes the file's exclusive flock (EBB_E_LOCKED when another
 * writer holds it), reads and verifies the whole chain, and cuts a torn
 * last line away (see ebb_journal_recovery_get). Damage anywhere else is
 * EBB_E_VERIFY with a message naming the line, sequence number and fault,
 * and *report (may be NULL) says the same in fields; the file is not
 * changed then. *out is owned by the caller (ebb_journal_close).
 */
EBB_MUSTCHECK ebb_code ebb_journal_open(const char *path, const ebb_journal_options *opts,
                                        ebb_journal **out, ebb_journal_report *report,
                                        ebb_error *err);

/* Release the lock, close and free. NULL is fine. */
void ebb_journal_close(ebb_journal *j);

/* What open repaired (a zeroed struct when nothing). */
void ebb_journal_recovery_get(const ebb_journal *j, ebb_journal_recovery *out);

/*
 * Append one record: ts_ms is the caller's clock (ms since the epoch, >= 0),
 * type as described above, payload a JSON object (borrowed, not modified;
 * the journal copies what it needs). Returns once the line is on disk
 * (fdatasync); *seq_out (may be NULL) gets its sequence number and
 * hash_out (may be NULL, 32 bytes) its hash. EBB_E_INVALID for a bad type,
 * a payload that is not an object, holds a real number or makes the line
 * longer than EBB_JOURNAL_LINE_MAX. If the write or the sync fails the
 * journal cuts the partial line off when it can, and refuses further
 * appends (EBB_E_IO) until reopened: after a failed fsync the kernel's
 * state of the file is unknown.
 */
EBB_MUSTCHECK ebb_code ebb_journal_append(ebb_journal *j, int64_t ts_ms, const char *type,
                                          const json_t *payload, uint64_t *seq_out,
                                          uint8_t hash_out[EBB_JOURNAL_HASH_LEN], ebb_error *err);

/* The last record's sequence number (0 when empty) and hash (zeros when empty). */
void ebb_journal_head(ebb_journal *j, uint64_t *seq, uint8_t hash[EBB_JOURNAL_HASH_LEN]);

/* The path given to open (borrowed). */
const char *ebb_journal_path(const ebb_journal *j);

/*
 * Call fn for each record with seq >= from_seq, in order, up to the records
 * acknowledged when the call started (appends made meanwhile, even from fn,
 * are not visited). Records are read back from the file and re-verified;
 * damage found now (someone edited the file under the writer) is
 * EBB_E_VERIFY naming the record. Thread-safe with appends.
 */
EBB_MUSTCHECK ebb_code ebb_journal_foreach(ebb_journal *j, uint64_t from_seq,
                                           ebb_journal_record_fn fn, void *ctx, ebb_error *err);

/*
 * Read-only: read the journal at path without locking or changing it,
 * verifying as it goes (signatures too when trust_key is set), and call fn
 * (may be NULL) for each good record with seq >= from_seq. Stops at the
 * first bad record: EBB_E_VERIFY, with *report (may be NULL) naming it. A
 * torn last line is NOT an error here (it may be an append in progress):
 * the records before it are delivered, EBB_OK is returned and the report
 * says FAULT_TORN_TAIL; callers must show that to the user.
 */
EBB_MUSTCHECK ebb_code ebb_journal_scan(const char *path, const ebb_public_key *trust_key,
                                        uint64_t from_seq, ebb_journal_record_fn fn, void *ctx,
                                        ebb_journal_report *report, ebb_error *err);

/*
 * Read-only verification of the whole file: chain, canonical form, and
 * with trust_key (may be NULL) every record's signature by that key; with
 * anchor (may be NULL) that the anchor record is present with its hash.
 * EBB_OK only when there is no fault at all (a torn tail IS a fault here);
 * otherwise EBB_E_VERIFY (or EBB_E_IO / EBB_E_NOT_FOUND when the file
 * cannot be read) with *report (required) saying what and where.
 */
EBB_MUSTCHECK ebb_code ebb_journal_verify(const char *path, const ebb_public_key *trust_key,
                                          const ebb_journal_anchor *anchor,
                                          ebb_journal_report *report, ebb_error *err);

/*
 * The report as a JSON object (new reference, caller decrefs; NULL when out
 * of memory): {"ok", "records", "last_seq", "last_hash", "signatures_checked",
 * and when bad "fault", "line", "seq", "offset", "why"}.
 */
json_t *ebb_journal_report_json(const ebb_journal_report *report);

/* Hex of a hash into out (caller's 65 bytes). */
void ebb_journal_hash_hex(const uint8_t hash[EBB_JOURNAL_HASH_LEN],
                          char out[EBB_JOURNAL_HASH_HEX_SIZE]);

#endif
