/*
 * repl_verify.h: a follower's convergence checks (issue 15 item 2), called by the replication
 * client (repl_follower.c) on its thread; the counters are read by cluster status and /metrics
 * through repl.h (hs_repl_follower_digest_checks and the others).
 */
#ifndef HS_REPL_VERIFY_H
#define HS_REPL_VERIFY_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_repl_verify_ctx {
    grpc_channel *ch;          /* the session's channel to the leader */
    const grpc_metadata *md;   /* the request metadata of every call (node id, leader key) */
    size_t nmd;                /* at most 2 */
    bool (*stopping)(void);    /* true once the client is asked to stop: calls are cancelled */
} hs_repl_verify_ctx;

/* One round: every collection of this node's catalog and of the leader's lists compared with the
 * leader's GetDigest where both report the same collection clock (`watermark`: the follower's,
 * for collections missing here).  Mismatches are logged at ERROR and counted; the round's result
 * is recorded for cluster status.  Returns true when a mismatch was found (the caller repairs).
 * Ownership: ctx stays the caller's.  Thread-safety: the client thread only.
 * Errors: none returned (failed calls make the round "incomplete"). */
bool hs_repl_verify_round(const hs_repl_verify_ctx *ctx, uint64_t watermark);

#endif /* HS_REPL_VERIFY_H */
