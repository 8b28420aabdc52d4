/*
 * hnsw_repair.c: keeps every node reachable.
 *
 * The heuristic of Algorithm 4 prunes links for diversity; on clustered data (tight sibling
 * groups far from each other, as in hierarchies embedded in the Poincare ball) it can drop every
 * link into a group, which then no search can reach whatever ef is.  Repair finds such nodes
 * with a breadth-first search of layer 0 from the entry point and links each unreachable group
 * from its nearest reachable node, found by an ordinary graph search towards it (so the new link
 * lies where searches for that region go).  The link takes a free slot of that node's list or
 * replaces its farthest neighbour that still has another in-link (hnsw_link_to).  Single nodes
 * that lose their last in-link are relinked at once by the inserts themselves; groups that only
 * link among themselves need this pass.
 *
 * Locking: link changes take the node's stripe lock like inserts do; the BFS reads lists with
 * atomic loads.  Run it when no insert is running (it stays safe but may miss new nodes).
 */
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw_int.h"

typedef struct repair_ctx {
    hs_hnsw *h;
    uint64_t n;        /* slots covered */
    uint64_t *reach;   /* bitset */
    uint32_t *queue;   /* BFS queue (n entries) */
} repair_ctx;

static inline bool bit_get(const uint64_t *b, uint64_t i) { return b[i >> 6] >> (i & 63) & 1; }
static inline void bit_set(uint64_t *b, uint64_t i) { b[i >> 6] |= 1ULL << (i & 63); }

static inline bool linked(const hs_hnsw *h, uint32_t slot)
{
    return hnsw_info(h, slot) & HS_INFO_LINKED;
}

/* Marks everything reachable from `start` that is not marked yet. */
static void bfs_from(repair_ctx *c, uint32_t start)
{
    if (bit_get(c->reach, start))
        return;
    size_t head = 0, tail = 0;
    bit_set(c->reach, start);
    c->queue[tail++] = start;
    while (head < tail) {
        uint32_t u = c->queue[head++];
        hnsw_view lv = hnsw_view_of(c->h, u, 0);
        uint32_t cnt = view_count(&lv);
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t v = view_get(&lv, i);
            if (v < c->n && !bit_get(c->reach, v)) {
                bit_set(c->reach, v);
                c->queue[tail++] = v;
            }
        }
    }
}

/* Links the unreachable node u from its nearest reachable nodes; true on success. */
static bool repair_node(repair_ctx *c, hnsw_scratch *s, hs_pair *w, size_t ef, uint32_t u)
{
    hs_hnsw *h = c->h;
    uint64_t ep = hnsw_ep(h);
    int top = (int)(ep >> 32) - 1;
    uint32_t entry = (uint32_t)ep;
    const void *q = hnsw_rec(h, u);
    hs_pair cur = {h->space->dist(h->space, q, hnsw_rec(h, entry)), entry};
    hnsw_recs own = hnsw_own(h);
    hs_pair from_entry = cur;
    cur = hnsw_descend(h, s, &own, q, cur, top, 0);
    for (int pass = 0; pass < 2; pass++) {
        /* second pass: every node the first found was unreachable.  The descent had led into
         * the group itself, which the upper layers reach where level 0 does not (a group cut
         * off at level 0 keeps growing that way: new nodes near it are found through the
         * upper layers and link into it).  A level-0 search from the entry point walks
         * reachable nodes only, so its results can link the group. */
        long n = hnsw_search_layer(h, s, &own, q, pass ? &from_entry : &cur, 1, ef, 0, false,
                                   NULL, w);
        bool any = false;
        for (long i = 0; i < n; i++) {
            uint32_t r = w[i].id;
            if (r == u || r >= c->n || !bit_get(c->reach, r))
                continue;
            any = true;
            if (hnsw_link_to(h, r, u))
                return true;
        }
        if (any)
            return false;
    }
    return false;
}

size_t hs_hnsw_repair(hs_hnsw *h, unsigned max_rounds, uint64_t *unreachable_left)
{
    size_t added = 0;
    uint64_t left = 0;
    repair_ctx c = {.h = h, .n = hs_chunks_capacity(&h->info)};
    size_t ef = __atomic_load_n(&h->ef_construction, __ATOMIC_RELAXED);
    hnsw_scratch *s = hnsw_scratch_get(h);
    hs_pair *w = malloc((ef + 1) * sizeof(*w));
    c.reach = calloc((c.n + 63) / 64 + 1, sizeof(uint64_t));
    c.queue = malloc((c.n + 1) * sizeof(uint32_t));
    uint64_t ep = hnsw_ep(h);
    if (!s || !w || !c.reach || !c.queue || ep == 0)
        goto done;
    for (unsigned round = 0; round < max_rounds; round++) {
        memset(c.reach, 0, ((c.n + 63) / 64 + 1) * sizeof(uint64_t));
        bfs_from(&c, (uint32_t)hnsw_ep(h));
        size_t round_added = 0;
        left = 0;
        for (uint64_t u = 0; u < c.n; u++) {
            if (!linked(h, (uint32_t)u) || bit_get(c.reach, u))
                continue;
            if (repair_node(&c, s, w, ef, (uint32_t)u)) {
                round_added++;
                bfs_from(&c, (uint32_t)u);
            } else {
                left++;
            }
        }
        added += round_added;
        if (round_added == 0)
            break;
    }
    left = hs_hnsw_count_unreachable(h);
done:
    free(w);
    free(c.reach);
    free(c.queue);
    if (unreachable_left)
        *unreachable_left = left;
    return added;
}

uint64_t hs_hnsw_count_unreachable(const hs_hnsw *h)
{
    uint64_t ep = hnsw_ep(h);
    if (ep == 0)
        return 0;
    repair_ctx c = {.h = (hs_hnsw *)h, .n = hs_chunks_capacity(&h->info)};
    c.reach = calloc((c.n + 63) / 64 + 1, sizeof(uint64_t));
    c.queue = malloc((c.n + 1) * sizeof(uint32_t));
    uint64_t left = 0;
    if (c.reach && c.queue) {
        bfs_from(&c, (uint32_t)ep);
        for (uint64_t u = 0; u < c.n; u++)
            if (linked(h, (uint32_t)u) && !bit_get(c.reach, u))
                left++;
    }
    free(c.reach);
    free(c.queue);
    return left;
}
