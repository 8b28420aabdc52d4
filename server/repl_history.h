/*
 * repl_history.h: the node's history of epochs (issue 15 item 4: "a follower whose history is a
 * prefix of the new leader's continues without a full resync; only a diverged node resyncs").
 *
 * An epoch is one leader's term: a random 64-bit id and the first clock it may have written
 * (`start`).  A node begins an epoch whenever it starts or is promoted as a leader, with start =
 * the highest clock it holds + 1 (hs_db_held_clock); a follower adopts its leader's epochs
 * before it applies anything of theirs.  Every change a node holds therefore lies in one of its
 * epochs, and two nodes that share an epoch (same id, same start) hold the same changes before
 * that epoch's start (each got them from the epoch's leader after the same check).
 *
 * A follower holding changes up to clock H continues with a leader when their histories part at
 * a clock above H: the last epoch both have is E (index a in ours, b in the leader's), and
 *   parts at = min(start of our epoch a + 1, start of the leader's epoch b + 1)  (infinite when
 *   neither exists);
 * with no epoch in common they part at clock 1 (only an empty node continues).
 *
 * The file <data dir>/.history: one line per epoch, oldest first, "<16 hex digits> <start>\n",
 * the latest HS_HISTORY_MAX, replaced atomically.  Leaders send their latest HS_HISTORY_WIRE
 * epochs as initial metadata HS_REPL_HISTORY_MD of Replicate and ReplicateSnapshot:
 * "<id hex>:<start>,..." oldest first.
 *
 * Thread-safety: every function is safe (one mutex).
 */
#ifndef HS_REPL_HISTORY_H
#define HS_REPL_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HS_REPL_HISTORY_MD "x-hyperspace-history"
#define HS_HISTORY_MAX 64
#define HS_HISTORY_WIRE 32
#define HS_HISTORY_WIRE_CAP (HS_HISTORY_WIRE * 40)

/* Reads <data dir>/.history (missing: no epochs; unreadable or not valid: logged, no epochs,
 * so that a new leader's data is not taken for a prefix).  Once at start, before the servers. */
void hs_history_load(void);

/* Begins an epoch of this node after the changes it holds (start = held + 1) and persists it
 * before returning.  0, or -1 (logged): the node must not take writes. */
int hs_history_begin(uint64_t held);

/* The latest HS_HISTORY_WIRE epochs in the wire form ("" when none), NUL-terminated. */
void hs_history_wire(char *buf, size_t cap);

/* Does this node, holding changes up to `held`, continue with the leader whose epochs `wire`
 * gives?  1 yes, 0 no (the histories part at or below held), -1 when wire does not parse.
 * *parts_at: the clock where they part (UINT64_MAX: they do not). */
int hs_history_prefix(const char *wire, uint64_t held, uint64_t *parts_at);

/* Takes the leader's epochs (wire) as this node's and persists them (no write when they are
 * already ours).  0, or -1 (logged; the caller must not apply the leader's changes). */
int hs_history_adopt(const char *wire);

/* The current (latest) epoch: its id and start; 0 / 0 when none. */
void hs_history_current(uint64_t *id, uint64_t *start);

#endif /* HS_REPL_HISTORY_H */
