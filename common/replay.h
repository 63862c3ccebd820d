/* Replay protection: the highest sequence accepted from each signer, persisted. */
#ifndef EBB_COMMON_REPLAY_H
#define EBB_COMMON_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/keys.h"

/*
 * A per-signer high-water mark. With a path, every advance rewrites the
 * file (ebb_file_write_atomic) before it is reported, so a restart never
 * reopens a replay window; without one (NULL path) it lives in memory only
 * (tests, one-shot commands). Thread-safe: one mutex serialises advances
 * and their writes. An exclusive lock on "PATH.lock" keeps two processes
 * from sharing one file.
 *
 * File format (all integers big-endian):
 *   8 bytes  magic "EBBRPLY1"
 *   4 bytes  count N
 *   N x (8-byte key id, 8-byte sequence), sorted by key id
 *   32 bytes BLAKE2b-256 of everything before it
 */
typedef struct ebb_replay ebb_replay;

/*
 * Open (or create, when path does not exist) the store. A file that is
 * truncated, has a bad magic, count or checksum is EBB_E_CHECKSUM naming the
 * file: it is never silently reset, since that would reopen every replay.
 * Another process holding the lock is EBB_E_LOCKED. *out owned by the caller.
 */
EBB_MUSTCHECK ebb_code ebb_replay_open(const char *path, ebb_replay **out, ebb_error *err);

/* Close and free (releases the lock). NULL is fine. */
void ebb_replay_close(ebb_replay *rp);

/*
 * Accept seq from signer if it is above the signer's high-water mark, and
 * make it the new mark (persisted before returning). EBB_E_ENV_REPLAY (with
 * the signer, seq and mark) when it is not above; EBB_E_IO when persisting
 * failed (the mark is then not advanced in memory either).
 */
EBB_MUSTCHECK ebb_code ebb_replay_advance(ebb_replay *rp, const ebb_key_id *signer, uint64_t seq,
                                          ebb_error *err);

/* The signer's mark into *out; false (and *out untouched) when none. */
bool ebb_replay_high_water(ebb_replay *rp, const ebb_key_id *signer, uint64_t *out);

#endif
