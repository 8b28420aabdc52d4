/*
 * repl.h: leader-follower replication in the server (spec behaviour.md section 11, grpc.md
 * section 5.2).  Two parts, one writer each: the leader side (repl_leader.c: the Replicate and
 * ReplicateSnapshot streams, follower acknowledgements) and the follower side (repl_follower.c:
 * the replication client).  Cluster status and /metrics read both through the getters below.
 */
#ifndef HS_REPL_H
#define HS_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- follower (repl_follower.c) ------------------------------------------------------------
 * The replication client: one thread holding a channel to the leader (--leader), which calls
 * Replicate from its watermark and applies each record with the leader's clock (B11.3), follows
 * a leader change (B11.5), bootstraps from a snapshot when the leader no longer holds its log,
 * acknowledges its durable watermark (ReplicationAck) and reconnects with backoff.  Its state
 * file is <data dir>/.replication: {"leader_node_id": "...", "watermark": N}. */

/* Reads the state file and starts the client thread (call once, on a follower, after the
 * database is open).  Returns 0, or -1 when the thread cannot start or the state file is
 * unreadable (logged).  Thread-safety: main thread, once. */
int hs_follower_start(void);

/* Stops the client: cancels the stream, joins the thread, syncs and persists the watermark.
 * Returns when the client is gone; a no-op when it is not running.  Used by promotion (before
 * it answers) and by shutdown.  Thread-safety: safe from any thread, any number of times. */
void hs_follower_stop(void);

/* The state for cluster status and the metrics.  Each reads atomics (strings: a copy taken
 * under the client's lock); all are safe from any thread, also when the client never ran. */
bool hs_follower_connected(void);                 /* a Replicate stream is open */
uint64_t hs_follower_watermark(void);             /* the highest clock applied */
uint64_t hs_follower_reconnects(void);            /* streams opened after the first one */
uint64_t hs_follower_records_applied(void);       /* records applied since the start */
uint64_t hs_follower_errors(void);                /* skipped or failed records, stream errors */
/* The leader's node id as persisted ("" when none yet), at most cap - 1 bytes. */
void hs_follower_leader_id(char *buf, size_t cap);
/* The last replication error message; false (and "") when there is none since the last
 * stream was opened. */
bool hs_follower_last_error(char *buf, size_t cap);

#endif /* HS_REPL_H */
