/*
 * hnsw_int.h: the index structure shared by the hnsw_*.c files.
 *
 * Layout per node (slot):
 *   links0 table: [u32 count][u32 link x m0]           level-0 neighbours (the first m0)
 *   over table:   hnsw_ovb *  -> level-0 links beyond m0 (hubs: see hnsw_graph.c), a block that
 *                 grows by replacement (doubling up to cap0 - m0); a replaced block stays
 *                 readable, chained from its successor, until the index is freed
 *   upper table:  uint32_t *  -> level x [u32 count][u32 link x m] for levels 1..level
 *   info table:   u8: bits 0-4 level, LINKED (in the graph), DELETED
 *   indeg table:  u32: how many level-0 lists link to the node (kept exact under the node
 *                 locks; a node whose count drops to 0 is relinked at once: see add_link)
 * Link lists are written under the node's stripe lock and read without locks: every entry and
 * the count are accessed atomically (release stores, acquire loads), so a reader sees a mix of
 * old and new entries at worst, each of which is a valid node.  A link to a node is published
 * only after that node's record, info and own links are in place.
 *
 * Locks (never two at once, so no lock order is needed):
 *   grow_lock  serialises growth of the three tables;
 *   ep_lock    serialises changes of the entry point;
 *   probe_lock guards the witness links noted while probing (taken with no other lock held);
 *   node stripe locks (process-wide, hashed by index and slot) serialise writes to one list.
 */
#ifndef HS_HNSW_INT_H
#define HS_HNSW_INT_H

#include <pthread.h>

#include "hnsw/hnsw.h"

#define HS_INFO_LEVEL_MASK 0x1fu
#define HS_INFO_LINKED 0x20u
#define HS_INFO_DELETED 0x40u

/* Longest list of any node: level 0 of a hub with the largest m (see hs_hnsw_opts.hub). */
#define HNSW_MAX_HUB 16u
#define HNSW_MAX_LIST (2u * HS_HNSW_MAX_M * HNSW_MAX_HUB)

/* Construction modes (hnsw_graph.c, "Adaptive construction"). */
enum { HNSW_PROBING = 0, HNSW_ENGAGED = 1, HNSW_PLAIN = 2 };
#define HNSW_ENGAGED_ALPHA 1.3f
#define HNSW_PROBE_PRUNES 4000u /* level-0 prunes observed before deciding */
#define HNSW_ENGAGE_RATE 0.05  /* orphaned nodes per prune above which the graph engages */

/* Sets the mode of a deserialised graph (hnsw_io.c). */
void hnsw_set_mode(hs_hnsw *h, uint32_t mode);

struct hs_hnsw {
    uint32_t m, m0;           /* immutable: links per upper list, inline level-0 links */
    uint32_t cap0;            /* immutable: most level-0 links of a hub (>= m0; m0 when explicit
                                 alpha 1 / hub 1 ask for the published algorithm) */
    float alpha;              /* immutable: pruning slack once engaged (1 = Algorithm 4) */
    uint32_t mode;            /* atomic: HNSW_PROBING, HNSW_ENGAGED or HNSW_PLAIN */
    uint64_t prunes, orphans; /* atomic: level-0 prunes while probing, nodes they orphaned */
    /* Witness links noted while probing, applied if the graph stays published (hnsw_graph.c,
     * "Witness links"): [from, to] pairs.  All four guarded by probe_lock. */
    pthread_mutex_t probe_lock;
    uint32_t *probe_pairs;
    size_t probe_npairs, probe_cap;
    bool probe_closed; /* the decision is taken: pairs are no longer kept */
    uint32_t ef_construction; /* atomic */
    double level_mult;        /* 1 / ln(m), immutable */
    uint64_t seed;            /* immutable */
    const hs_space *space;    /* borrowed, immutable */
    const hs_chunks *recs;    /* borrowed */
    hs_chunks links0;         /* guarded by grow_lock for growth */
    hs_chunks upper;
    hs_chunks over;  /* hnsw_ovb * per node: level-0 overflow block or NULL (atomic) */
    hs_chunks info;
    hs_chunks indeg; /* u32 per node: level-0 in-links (atomic) */
    pthread_mutex_t grow_lock;
    pthread_mutex_t ep_lock;
    uint64_t ep;          /* atomic: (max_level + 1) << 32 | entry slot; 0 = empty graph */
    uint64_t nodes;       /* atomic */
    uint64_t ndeleted;    /* atomic */
    uint64_t upper_bytes; /* atomic */
    uint64_t over_bytes;  /* atomic */
    uint64_t hubs;        /* atomic: nodes with an overflow block (see fill_want) */
};

static inline uint32_t *hnsw_list(const hs_hnsw *h, uint32_t slot, int level)
{
    if (level == 0)
        return (uint32_t *)hs_chunks_at(&h->links0, slot);
    uint32_t *up = *(uint32_t **)hs_chunks_at(&h->upper, slot);
    return up + (size_t)(level - 1) * (1 + h->m);
}

static inline uint8_t hnsw_info(const hs_hnsw *h, uint32_t slot)
{
    return __atomic_load_n((uint8_t *)hs_chunks_at(&h->info, slot), __ATOMIC_ACQUIRE);
}

static inline uint32_t *hnsw_indeg(const hs_hnsw *h, uint32_t slot)
{
    return (uint32_t *)hs_chunks_at(&h->indeg, slot);
}

static inline const void *hnsw_rec(const hs_hnsw *h, uint32_t slot)
{
    return hs_chunks_at(h->recs, slot);
}

/* The records a search reads and their space: the graph's own, or another encoding of the same
 * points (hs_hnsw_search_over). */
typedef struct hnsw_recs {
    const hs_space *sp;
    const hs_chunks *recs;
} hnsw_recs;

static inline hnsw_recs hnsw_own(const hs_hnsw *h)
{
    return (hnsw_recs){h->space, h->recs};
}

static inline uint32_t list_count(const uint32_t *list, uint32_t max)
{
    uint32_t c = __atomic_load_n(&list[0], __ATOMIC_ACQUIRE);
    return c < max ? c : max;
}

static inline uint32_t list_get(const uint32_t *list, uint32_t i)
{
    return __atomic_load_n(&list[1 + i], __ATOMIC_ACQUIRE);
}

/* A level-0 overflow block: links beyond the inline m0 of a hub. */
typedef struct hnsw_ovb {
    struct hnsw_ovb *prev; /* the block this one replaced (freed with the index) */
    uint32_t cap;          /* links it holds */
    uint32_t links[];
} hnsw_ovb;

/*
 * One neighbour list as readers and writers see it: `nin` links inline after the count, the rest
 * (level 0 of a hub only) in an overflow block.  The block is published before the count covers
 * any of its entries, so a reader that loaded the count (acquire) and then the block pointer
 * (acquire) sees both.
 */
typedef struct hnsw_view {
    uint32_t *list; /* [count][nin links] */
    uint32_t nin;   /* inline capacity */
    uint32_t max;   /* total capacity */
    hnsw_ovb **ovp; /* where the overflow block pointer lives (NULL: none possible) */
} hnsw_view;

static inline hnsw_view hnsw_view_of(const hs_hnsw *h, uint32_t slot, int level)
{
    hnsw_view v = {hnsw_list(h, slot, level), level ? h->m : h->m0, level ? h->m : h->cap0,
                   NULL};
    if (level == 0 && h->cap0 > h->m0)
        v.ovp = (hnsw_ovb **)hs_chunks_at(&h->over, slot);
    return v;
}

static inline uint32_t view_count(const hnsw_view *v) { return list_count(v->list, v->max); }

/* Entry i < count (acquire): inline or from the overflow block. */
static inline uint32_t view_get(const hnsw_view *v, uint32_t i)
{
    if (i < v->nin)
        return list_get(v->list, i);
    const hnsw_ovb *ov = __atomic_load_n(v->ovp, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&ov->links[i - v->nin], __ATOMIC_ACQUIRE);
}

static inline uint64_t ep_pack(int level, uint32_t slot)
{
    return (uint64_t)(uint32_t)(level + 1) << 32 | slot;
}

static inline uint64_t hnsw_ep(const hs_hnsw *h) { return __atomic_load_n(&h->ep, __ATOMIC_ACQUIRE); }

/* Slots up to which a thread's visited set uses stamps (2^18; tests lower it before any search
 * to exercise the change of form while a graph grows). */
extern size_t hnsw_visit_stamps_upto;

/* Per-thread scratch: a visited set and growable pair buffers. */
typedef struct hnsw_scratch {
    /* visited set, two forms (hnsw_search.c, visit_reserve):
     * - up to hnsw_visit_stamps_upto slots, a 16-bit stamp per slot (ep16): a new search only
     *   bumps the stamp, nothing is cleared;
     * - past that, one bit per slot (visit: 1M slots = 128 KiB, which stays in L2 where the
     *   stamps took 2 MiB and missed it, a fifth of the search time at 1M); the slots set are
     *   listed (touched) so the next search clears only those bits. */
    uint16_t *ep16; /* the stamps, or NULL when the bits are used */
    uint16_t stamp; /* the current search's stamp (never 0 once a set exists) */
    uint64_t *visit;
    size_t visit_cap; /* slots covered (a multiple of 64) */
    uint32_t *touched;
    size_t ntouched, touch_cap; /* touch_cap = visit_cap / 64; ntouched > touch_cap: overflowed */
    hs_pair *cand; /* candidate min-heap */
    size_t cand_cap;
    hs_pair *res; /* result max-heap */
    size_t res_cap;
    uint32_t *ids; /* neighbours to evaluate (HNSW_MAX_LIST entries) */
    const void **rp; /* their records */
    float *dd;       /* their distances */
    hs_pair *w; /* insert: layer results */
    size_t w_cap;
    hs_pair *sel; /* insert/prune: selected neighbours */
    size_t sel_cap;
    uint32_t orphans[HNSW_MAX_LIST + 1]; /* nodes left without an in-link by a prune */
    size_t norphans;
    uint32_t wit[HNSW_MAX_LIST + 1]; /* prune: the kept node that made each candidate go */
    uint32_t wl_from[2 * HS_HNSW_MAX_M + 1], wl_to[2 * HS_HNSW_MAX_M + 1]; /* witness links due */
    size_t nwl;
    bool in_witness;   /* adding witness links: their own prunes note none (no cascade) */
    bool engaged_here; /* this thread's prune engaged the graph: it relinks the early nodes */
    bool plain_here;   /* this thread's prune kept the graph published: it adds the probe's
                          witness links */
} hnsw_scratch;

/* The calling thread's scratch with its visited set sized for the index (cleared per layer
 * search); NULL on allocation failure. */
hnsw_scratch *hnsw_scratch_get(const hs_hnsw *h);
int hnsw_scratch_reserve(hs_pair **buf, size_t *cap, size_t need);

/* Best-first search of one layer from the given entry points.  Writes at most ef results
 * (acceptable nodes only when `filtered`; all nodes otherwise) into *out, sorted ascending.
 * Returns the count or -1 on allocation failure. */
long hnsw_search_layer(const hs_hnsw *h, hnsw_scratch *s, const hnsw_recs *rv, const void *q,
                       const hs_pair *eps, size_t neps, size_t ef, int level, bool filtered,
                       const hs_filter *filter, hs_pair *out);
/* Greedy descent through the layers top..bottom + 1 from `cur`: on each, moves to the closest
 * neighbour until none is closer; returns the closest node found.  Each node is evaluated once
 * (the current node is always the closest of all evaluated, so skipping them loses nothing:
 * the lists of consecutive nodes overlap). */
hs_pair hnsw_descend(const hs_hnsw *h, hnsw_scratch *s, const hnsw_recs *rv, const void *q,
                     hs_pair cur, int top, int bottom);

/* Algorithm 4 (neighbour selection heuristic) over candidates sorted ascending by distance to
 * the base; keeps at most max of them in sel.  Returns the number kept.  When wit is given,
 * wit[i] gets the kept node that made candidate i go (UINT32_MAX: kept, or not examined
 * because sel was full). */
size_t hnsw_select(const hs_hnsw *h, const hs_pair *cand, size_t n, size_t max, hs_pair *sel,
                   uint32_t *wit);

/* Links e -> u on level 0 (a free entry, or replacing e's farthest neighbour that keeps another
 * in-link); false when neither is possible.  Takes e's lock. */
bool hnsw_link_to(hs_hnsw *h, uint32_t e, uint32_t u);

/* Stripe lock of a node (process-wide table). */
pthread_mutex_t *hnsw_node_lock(const hs_hnsw *h, uint32_t slot);

#endif
