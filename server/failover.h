/*
 * failover.h: automatic failover on etcd (issue 15 item 4; docs/ARCHITECTURE.md "Failover on
 * etcd").  Off unless HS_ETCD_ENDPOINTS is set: then manual promotion works as before and the
 * write path is not gated.
 */
#ifndef HS_FAILOVER_H
#define HS_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

struct hs_fail;

/* Starts the failover thread when etcd is configured (after the listeners, before the node is
 * ready).  0, or -1 (logged) when it cannot start.  Stop joins the thread; the lease is not
 * revoked (it expires by itself, and the node refuses writes from then on). */
int hs_failover_start(void);
void hs_failover_stop(void);
bool hs_failover_enabled(void);

/* The write gate (two atomic reads): true when failover is off, or this node holds the leader
 * key under its lease and the last successful keepalive was sent less than TTL - 1 s ago.
 * Thread-safety: safe. */
bool hs_failover_write_ok(void);
/* After a write, before it is acknowledged: HS_ERR_FOLLOWER_WRITE in *f when the gate closed
 * meanwhile (the write may be durable here; it is not acknowledged).  0 otherwise. */
int hs_failover_confirm(struct hs_fail *f);
/* The epoch (the leader key's create revision) this node writes in, 0 when none. */
int64_t hs_failover_epoch(void);

#endif /* HS_FAILOVER_H */
