/*
 * repl_apply.h: between the follower's replication client (repl_follower.c: the streams, the
 * state file, the backoff) and the application of the leader's records to the engine
 * (repl_apply.c), which also keeps the counters the follower's status reports (repl.h).
 * Everything here runs on the client thread, except the counters' readers.
 */
#ifndef HS_REPL_APPLY_H
#define HS_REPL_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.pb-c.h"

/* Records waiting to be applied: a run of upserts of one collection with consecutive clocks,
 * applied together by hs_db_replicate_upserts. */
typedef struct hs_repl_batch hs_repl_batch;
hs_repl_batch *hs_repl_batch_new(void); /* NULL when out of memory */
void hs_repl_batch_free(hs_repl_batch *b);
size_t hs_repl_batch_pending(const hs_repl_batch *b);
/* Forgets the pending records without applying them (the stream starts again from the
 * watermark, which does not cover them). */
void hs_repl_batch_clear(hs_repl_batch *b);

/* Takes a received record (its ownership too): an upsert joins or starts the pending run, any
 * other record first applies the run, then itself.  Records the node cannot take (a collection
 * it does not have, values it refuses) are logged, counted and skipped.  The watermark moves
 * past what was applied or skipped.  0, or -1 when the stream must end (an engine failure that
 * a retry may cure: logged, counted, last error set). */
int hs_repl_take(hs_repl_batch *b, Hyperspace__ReplicationLog *r);
/* Applies the pending run; 0 or -1 as hs_repl_take. */
int hs_repl_flush(hs_repl_batch *b);

/* Forgets every local collection and drop note (B11.5 a new leader, the snapshot bootstrap):
 * hs_db_replica_reset with `horizon` (the archive's clock, or 0); 0 or -1 (logged). */
int hs_repl_reset(uint64_t horizon);
bool hs_repl_has_collections(void);

/* The counters and the last error (atomics; the error under a lock). */
uint64_t hs_repl_watermark(void);
void hs_repl_set_watermark(uint64_t w);
void hs_repl_count_errors(uint64_t n);
void hs_repl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hs_repl_clear_error(void);

#endif /* HS_REPL_APPLY_H */
