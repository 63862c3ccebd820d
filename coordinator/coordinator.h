/* The coordinator daemon: key, journal, inventory, run driver, job queue and the two listeners
 * (agents, operators), wired together under one lock. */
#ifndef EBB_COORDINATOR_COORDINATOR_H
#define EBB_COORDINATOR_COORDINATOR_H

#include <signal.h>
#include <stdbool.h>

#include "common/error.h"
#include "coordinator/coord_config.h"

/*
 * `ebb-coordinator run --config FILE`. The context is passed explicitly (no
 * globals but the signal flags in main). Threads: nng callback threads run
 * the agent and operator handlers; one tick thread (timeouts, held polls,
 * lost jobs); waiter threads answer deferred operator requests (plan, show);
 * the main thread sleeps until a signal flag is set. One mutex guards the
 * inventory, the job queue and the runs; journal appends happen under it,
 * so the journal's order is the order of the changes.
 *
 * Files in coordinator.journal_dir: coordinator.journal (run state, audit,
 * inventory changes; hash-chained, signed by the coordinator key) and
 * replay.db (the highest sequence seen from every agent and operator key).
 */
typedef struct ebb_coordinator ebb_coordinator;

/*
 * Load the key, open the journal (exclusive lock: a second coordinator on
 * the same directory is EBB_E_LOCKED) and the replay store, replay the
 * journal (inventory, runs; jobs that were out are queued again by id),
 * and start listening on both addresses. cfg is borrowed and must outlive
 * the coordinator. *out owned by the caller (ebb_coordinator_close).
 */
EBB_MUSTCHECK ebb_code ebb_coordinator_open(const ebb_coord_config *cfg, ebb_coordinator **out,
                                            ebb_error *err);

/*
 * Serve until *stop becomes non-zero (set by a signal handler), checking it
 * every 100 ms. Returns EBB_OK on a clean stop, or the error that stopped it
 * (the journal cannot be written: nothing can go on safely).
 */
EBB_MUSTCHECK ebb_code ebb_coordinator_serve(ebb_coordinator *c, volatile sig_atomic_t *stop,
                                             ebb_error *err);

/*
 * Clean shutdown: stop the tick thread, answer deferred requests (held
 * polls get an empty reply, waiters their current answer), close both
 * listeners, then the journal and the replay store. NULL is fine.
 */
void ebb_coordinator_close(ebb_coordinator *c);

/* The key id of the coordinator (what agents pin and operators address), into out. */
void ebb_coordinator_key_id(const ebb_coordinator *c, char out[EBB_KEY_ID_HEX_SIZE]);

#endif
