/*
 * hnsw.h: the HNSW graph index (Malkov & Yashunin, "Efficient and robust approximate nearest
 * neighbor search using Hierarchical Navigable Small World graphs", 2016/2018) and exact search.
 *
 * The index stores only the graph.  It reads encoded vectors through a record table
 * (hs_chunks: slot -> record of space->rec_len bytes) owned by the caller, so the same code runs
 * over heap arrays, quantized codes or memory-mapped segments.  Records must be written before
 * their slot is inserted and must not change while the slot is in the graph.
 *
 * Concurrency: any number of searches run concurrently with inserts, deletes and repairs; inserts
 * may run from several threads (fine-grained per-node locks).  Searches take no lock.
 * Serialisation works on byte buffers; this module does no file I/O.
 */
#ifndef HS_HNSW_H
#define HS_HNSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "util/chunks.h"
#include "util/util.h"
#include "vec/vec.h"

#define HS_HNSW_MAX_LEVEL 24 /* p(level >= 24) ~ M^-24: never reached for 2^32 slots */
#define HS_HNSW_MIN_M 2
#define HS_HNSW_MAX_M 128 /* level 0 keeps up to 2 * 128 links */

typedef struct hs_hnsw hs_hnsw;

typedef struct hs_hnsw_opts {
    uint32_t m;               /* links per node on levels >= 1 (2..128); level 0 keeps 2m */
    uint32_t ef_construction; /* candidate list size while inserting */
    uint64_t seed;            /* levels are a pure function of (seed, slot) */
    uint32_t chunk_shift;     /* log2 of nodes per allocation chunk of the graph tables */
    /* Pruning slack alpha (1..2): a candidate c is dropped from a list only when an already
     * kept neighbour s is closer to it by the factor alpha, alpha * d(s, c) < d(node, c), in
     * geodesic (not squared) distance.  0 (with hub 0) = adaptive, see below. */
    float alpha;
    /* Hub budget (1..16): a level-0 list may grow to hub x 2m links through back-links before
     * it is pruned; only the nodes that need it pay (an overflow block sized to its links).
     * 0 (with alpha 0) = adaptive, see below. */
    uint32_t hub;
} hs_hnsw_opts;

/*
 * Adaptive construction (alpha and hub both 0, the defaults; any metric): the graph starts as
 * the published algorithm and watches its first 4,000 level-0 prunes.  When they leave more than
 * 5 % of the pruned nodes without any in-link, the data are tree-like (a trained hierarchy: a
 * node's parent prunes all its siblings, a hub's children need more than 2m in-links): the
 * graph engages alpha 1.3 and hub 16 for good and relinks the nodes inserted so far under the
 * engaged rules.  Otherwise it stays the published algorithm (alpha 1) with witness links: a
 * node a level-0 prune drops gets a link from the kept node that made it go; and its level-0
 * lists keep all the heuristic keeps, up to hub 16 x 2m, where the published algorithm keeps the
 * nearest 2m of them (a node with hundreds of children near the boundary needs a link into each
 * subtree).  See hnsw_graph.c; explicit alpha 1 / hub 1 build the published algorithm with
 * witness links and lists of 2m from the start.  Measured:
 * trained verb hierarchies orphan more than one node per prune, uniform hyperbolic points and
 * Fashion-MNIST (almost) none (bench/README.md, "Trained hierarchies").  Values set explicitly
 * are used as given from the start.
 */
/* True once the graph runs with the slack and the hub budget (always for explicit values > 1). */
bool hs_hnsw_engaged(const hs_hnsw *h);

/* Defaults: m 16, ef_construction 100, seed 42, chunk_shift 12, alpha and hub 0 (by metric). */
void hs_hnsw_opts_init(hs_hnsw_opts *o);

/*
 * Which slots a search may return.  A slot is acceptable when it is not deleted, its bit is set
 * in `allow` (if given; slots >= allow_n are rejected) and `accept` returns true (if given).
 * Non-acceptable nodes are still traversed.
 */
typedef struct hs_filter {
    const uint64_t *allow;
    uint32_t allow_n;
    bool (*accept)(void *ctx, uint32_t slot);
    void *ctx;
} hs_filter;

static inline bool hs_filter_pass(const hs_filter *f, uint32_t slot)
{
    if (!f)
        return true;
    if (f->allow && (slot >= f->allow_n || !(f->allow[slot >> 6] >> (slot & 63) & 1)))
        return false;
    return !f->accept || f->accept(f->ctx, slot);
}

/*
 * Creates an empty index over `recs` (records described by `space`).
 * Ownership: the index borrows space and recs; both must outlive it.  Free with hs_hnsw_free.
 * Thread-safety: the returned index is thread-safe as described above.
 * Errors: HS_EINVAL (bad options), HS_ENOMEM.
 */
int hs_hnsw_new(const hs_hnsw_opts *opts, const hs_space *space, const hs_chunks *recs,
                hs_hnsw **out);
void hs_hnsw_free(hs_hnsw *h);

/* Points the index at another record table holding the same records (used when the owner
 * moves its table).  Thread-safety: no search or insert may run. */
void hs_hnsw_set_records(hs_hnsw *h, const hs_chunks *recs);

/* Sets ef_construction for insertions that start afterwards (1..10000). */
int hs_hnsw_set_ef_construction(hs_hnsw *h, uint32_t ef);

/*
 * Inserts slot (whose record is already in recs) into the graph.
 * Thread-safety: safe with concurrent inserts of other slots, searches and deletes.
 * Errors: HS_EEXIST (slot already in the graph), HS_ERANGE (slot beyond the record table),
 * HS_ENOMEM (the graph is unchanged).
 */
int hs_hnsw_insert(hs_hnsw *h, uint32_t slot);

/* Inserts n slots with `threads` worker threads (0 or 1: the calling thread only).
 * Errors: the first error of any insert; slots inserted before it stay inserted. */
int hs_hnsw_insert_many(hs_hnsw *h, const uint32_t *slots, size_t n, unsigned threads);

/* Marks a slot deleted: never returned again, still used for navigation until a rebuild. */
int hs_hnsw_mark_deleted(hs_hnsw *h, uint32_t slot);
bool hs_hnsw_is_deleted(const hs_hnsw *h, uint32_t slot);
/* True when slot is in the graph. */
bool hs_hnsw_contains(const hs_hnsw *h, uint32_t slot);

/*
 * Approximate k nearest acceptable slots to the encoded query q (a record of the space).
 * ef is the search list size (raised to k when smaller).  Results go to out (capacity k), sorted
 * by (distance, slot); returns their count, which is k unless fewer acceptable slots are reachable.
 * Thread-safety: safe with everything.  Errors: none (a failed scratch allocation returns 0 and
 * sets *rc to HS_ENOMEM when rc is not NULL).
 */
size_t hs_hnsw_search(const hs_hnsw *h, const void *q, size_t k, size_t ef, const hs_filter *filter,
                      hs_pair *out, int *rc);
/*
 * The same walk over another encoding of the graph's points: `recs` holds for every slot of the
 * graph a record of `space` (q is one too), e.g. the quantized codes of a graph built on the
 * full vectors.  The graph's links are the same; only the distances differ.
 */
size_t hs_hnsw_search_over(const hs_hnsw *h, const hs_space *space, const hs_chunks *recs,
                           const void *q, size_t k, size_t ef, const hs_filter *filter,
                           hs_pair *out, int *rc);

typedef struct hs_hnsw_stats {
    uint64_t nodes;        /* slots in the graph */
    uint64_t deleted;      /* of which marked deleted */
    int32_t max_level;     /* -1 when empty */
    uint32_t entry;        /* entry point slot */
    uint64_t graph_bytes;  /* heap bytes of the graph structures for the slots in use */
    uint64_t level0_edges; /* sum of level-0 out-degrees */
    uint64_t hubs;         /* nodes with more than 2m level-0 links (an overflow block) */
    uint64_t resident_bytes; /* in RAM now: the per-slot tables measured (mincore), upper lists
                                and overflow blocks as allocated */
} hs_hnsw_stats;

/* Full statistics: walks every node (O(n)).  hs_hnsw_nodes is the O(1) node count. */
void hs_hnsw_stats_get(const hs_hnsw *h, hs_hnsw_stats *st);
uint64_t hs_hnsw_nodes(const hs_hnsw *h);

/*
 * Reachability repair: finds the level-0 nodes that a search cannot reach from the entry point
 * and links each unreachable group from its nearest reachable node (found by a graph search),
 * replacing a link whose target keeps another in-link.  Repeats until everything is reachable or
 * `max_rounds` passes did not finish.  Safe with concurrent searches; run it when no insert runs.
 * Returns the number of links added; *unreachable_left (if given) gets what is still unreachable.
 */
size_t hs_hnsw_repair(hs_hnsw *h, unsigned max_rounds, uint64_t *unreachable_left);

/* Counts the graph nodes not reachable at level 0 from the entry point (BFS). */
uint64_t hs_hnsw_count_unreachable(const hs_hnsw *h);

/*
 * Serialisation of the graph (not the vectors) to a byte buffer and back.
 * hs_hnsw_serialized_size gives the exact length; hs_hnsw_serialize writes it (run it when no
 * insert runs).  hs_hnsw_deserialize validates everything (it accepts untrusted bytes) and
 * returns HS_ECORRUPT / HS_EVERSION with a detail in err on bad input.
 */
size_t hs_hnsw_serialized_size(const hs_hnsw *h);
int hs_hnsw_serialize(const hs_hnsw *h, void *buf, size_t len);
int hs_hnsw_deserialize(const void *buf, size_t len, const hs_space *space, const hs_chunks *recs,
                        hs_hnsw **out, hs_error *err);

/*
 * Exact search: the k nearest acceptable slots to q among `slots` (or among [0, nslots) when
 * slots is NULL), by the space's distance.  Results into out (capacity k), sorted; returns the
 * count.  Deleted marks belong to an index, not to the records: pass them through the filter.
 */
size_t hs_exact_search(const hs_space *space, const hs_chunks *recs, const void *q,
                       const uint32_t *slots, size_t nslots, const hs_filter *filter, size_t k,
                       hs_pair *out);

/* Exact search over the slot range [first, first + count). */
size_t hs_exact_search_range(const hs_space *space, const hs_chunks *recs, const void *q,
                             uint32_t first, size_t count, const hs_filter *filter, size_t k,
                             hs_pair *out);

/*
 * Re-ranks candidates (from a search on approximate codes) by the distance of another space
 * over another record table, usually the full-precision vectors: prefetches every record first,
 * then recomputes cand[i].dist and sorts.
 */
void hs_rerank(const hs_space *space, const hs_chunks *recs, const void *q, hs_pair *cand,
               size_t n);

#endif /* HS_HNSW_H */
