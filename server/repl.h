/*
 * repl.h: leader-follower replication inside the server (spec behaviour.md section 11, grpc.md
 * 5.2; /work/repl-contract.md).  Two owners, one section each:
 *
 *   LEADER   (server/repl_leader.c): the Replicate and ReplicateSnapshot streams, follower
 *            acknowledgements (ReplicationAck), what cluster status and /metrics show of them.
 *   FOLLOWER (server/repl_follower.c): the replication client, apply, watermark, promotion.
 *
 * Change the other section only by agreement.  The gRPC entry points of the leader's RPCs take a
 * call (hs_gcall) and are declared in grpc_int.h beside the other RPCs.
 */
#ifndef HS_REPL_H
#define HS_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== LEADER section (owner: the leader side, server/repl_leader.c) ======================== */

/* Replicate streams open at once (and ReplicateSnapshot streams, counted apart). */
#define HS_REPL_MAX_STREAMS 64
/* Followers remembered from their acknowledgements; the least recently heard one makes room. */
#define HS_REPL_MAX_FOLLOWERS 64
/* A live follower further behind than this many records has its stream ended (E_REPL_SLOW). */
#define HS_REPL_SLOW_RECORDS 65536
/* The largest data piece of a SnapshotChunk. */
#define HS_REPL_CHUNK_BYTES (1u << 20)

/* What the follower sends as request metadata on Replicate and ReplicateSnapshot so that the
 * leader can tell which follower a stream belongs to (optional; cluster status's `connected`).
 * The leader answers with its own node id under the same name (initial metadata, B11.2). */
#define HS_REPL_NODE_ID_MD "x-hyperspace-node-id"
/* Trailing metadata of a Replicate stream the leader cannot serve from its log (truncated, or a
 * position ahead of its clock): the follower must bootstrap with ReplicateSnapshot. */
#define HS_REPL_RESYNC_MD "x-hyperspace-resync"
/* Trailing metadata (gRPC) / header (HTTP) of a write refused by a follower: the leader. */
#define HS_REPL_LEADER_MD "x-hyperspace-leader"

/* Initial metadata of Replicate on a leader with synchronous acknowledgement (value "1"): the
 * follower syncs and acknowledges as soon as it has applied what it received. */
#define HS_REPL_SYNC_MD "x-hyperspace-sync-ack"

/* Synchronous acknowledgement (issue 15 item 3, --sync-replicas N): returns 0 at once when N is
 * 0 (or on a follower), else once N followers acknowledged a durable watermark >= clock; after
 * --sync-timeout-ms: HS_ERR_REPL_TIMEOUT in *f (the write stays durable on the leader), counted
 * (hs_repl_leader_sync_timeouts).  Thread-safety: safe (request threads). */
struct hs_fail;
int hs_repl_sync_wait(uint64_t clock, struct hs_fail *f);

/* Per request (issue 15 item 3): a write may ask for more followers than --sync-replicas with
 * HTTP header X-Hyperspace-Sync-Replicas / gRPC metadata x-hyperspace-sync-replicas (0 to
 * HS_REPL_SYNC_MAX; never fewer than the node's setting).  The transport parses the value
 * (hs_repl_sync_parse: 0, or -1 with *f set naming the header) and sets it for the thread that
 * runs the request (hs_repl_sync_request; -1 clears it); hs_repl_sync_need is what the write
 * path waits for. */
#define HS_REPL_SYNC_MD_REQUEST "x-hyperspace-sync-replicas"
#define HS_REPL_SYNC_MAX 64
int hs_repl_sync_parse(const char *v, size_t len, int *out, struct hs_fail *f);
void hs_repl_sync_request(int n);
uint32_t hs_repl_sync_need(void);
uint64_t hs_repl_leader_sync_timeouts(void);

/* Starts / stops the leader side (from hs_grpc_streams_start / _stop).  Stop ends every stream
 * with UNAVAILABLE `Server is shutting down` and returns once their threads are gone. */
void hs_repl_leader_start(void);
void hs_repl_leader_stop(void);

/* One follower as the leader knows it (cluster status). */
typedef struct hs_repl_follower_info {
    char node_id[40];
    char address[128];      /* its gRPC address as it reported it, else its stream's peer */
    uint64_t watermark;     /* the last durable clock it acknowledged (or asked to resume from) */
    uint64_t lag_records;   /* the applied clock - watermark (0 when ahead) */
    double lag_seconds;     /* since the applied clock first passed the watermark; 0 when none */
    bool connected;         /* one of its Replicate streams is open */
    uint64_t last_ack_ms;   /* unix time of its last acknowledgement, 0 = none */
    bool in_sync;           /* connected, and caught up or behind for less than the sync timeout */
} hs_repl_follower_info;

typedef struct hs_repl_leader_status {
    uint64_t applied_clock;
    size_t npeers;          /* open Replicate streams: "ip:port" of each */
    char peers[HS_REPL_MAX_STREAMS][64];
    size_t nfollowers;
    hs_repl_follower_info followers[HS_REPL_MAX_FOLLOWERS];
} hs_repl_leader_status;

/* Fills *out (about 20 KiB: allocate it).  Thread-safety: safe. */
void hs_repl_leader_status_get(hs_repl_leader_status *out);
/* /metrics: open Replicate streams, records sent over all of them since start. */
uint64_t hs_repl_leader_streams(void);
uint64_t hs_repl_leader_records_sent(void);

/* ==== FOLLOWER section (owner: the follower side, server/repl_follower.c) ==================== */
/* The replication client: one thread holding a channel to the leader (--leader), which calls
 * Replicate from its watermark and applies each record with the leader's clock (B11.3,
 * repl_apply.c), follows a leader change (B11.5), bootstraps from ReplicateSnapshot when the
 * leader no longer holds its log, acknowledges its durable watermark (ReplicationAck) and
 * reconnects with backoff.  Its state file is <data dir>/.replication:
 * {"leader_node_id": "...", "watermark": N}. */

/* Reads the state file and starts the client thread (on a follower, after the database is
 * open).  Returns 0, or -1 when the thread cannot start (logged).  Thread-safety: one caller
 * at a time with hs_repl_follower_stop. */
int hs_repl_follower_start(void);
/* Stops the client: cancels the call in flight, joins the thread (which syncs and persists its
 * watermark first).  Returns once the client is gone; a no-op when it is not running.  Used by
 * promotion (before it answers, B11.7) and shutdown.  Thread-safety: safe from any thread. */
void hs_repl_follower_stop(void);

/* Declared by the leader side for cluster status (http_node.c, ClusterStatus) and /metrics
 * (metrics.c), which read them; the follower side implements them (and may add its own
 * declarations here).  All thread-safe; values of a node that follows nobody are 0 / "". */

uint64_t hs_repl_follower_connected(void);        /* 1 while the stream to the leader is open */
uint64_t hs_repl_follower_watermark(void);        /* B11.3 */
uint64_t hs_repl_follower_records_applied(void);  /* records applied since start */
uint64_t hs_repl_follower_errors(void);           /* skipped or failed records, stream errors */
uint64_t hs_repl_follower_reconnects(void);
/* Leader changes taken without a resync (this node's history a prefix of the new leader's,
 * repl_history.h), and full resyncs (local data discarded: a diverged history, a leader without
 * epochs, a snapshot bootstrap). */
uint64_t hs_repl_follower_continued(void);
uint64_t hs_repl_follower_resyncs(void);
/* The leader's node id ("" when not known yet) and the last replication error message ("" when
 * none) into buf (cap bytes, NUL-terminated). */
void hs_repl_follower_leader_id(char *buf, size_t cap);
void hs_repl_follower_last_error(char *buf, size_t cap);
/* Convergence checks (issue 15 item 2): collections whose digest was compared with the
 * leader's, mismatches found (each repaired by a snapshot bootstrap), and the last round's
 * unix time in ms (0 = none) with its result ("ok: ...", "mismatch: ...", "incomplete: ..."). */
uint64_t hs_repl_follower_digest_checks(void);
uint64_t hs_repl_follower_digest_mismatches(void);
void hs_repl_follower_last_check(uint64_t *unix_ms, char *buf, size_t cap);

#endif /* HS_REPL_H */
