/*
 * hnsw_graph.c: index lifecycle and insertion (Algorithm 1 of Malkov & Yashunin) with the
 * neighbour-selection heuristic (their Algorithm 4), deletion marks and statistics.
 *
 * Insert, for a node q at level L drawn from (seed, slot):
 *   1. greedy descent from the entry point through the layers above L;
 *   2. for each layer l = min(L, top)..0: search it with ef_construction, choose q's neighbours
 *      with the heuristic (m per upper layer, 2m on layer 0), write q's list, then add q to each
 *      neighbour's list (pruning that list with the heuristic when it is full);
 *   3. if L is above the current top, q becomes the entry point.
 *
 * Witness links (published mode): the heuristic drops a candidate c from a list when a kept
 * neighbour s lies closer to c than the list's node does, on the premise that c stays reachable
 * through s.  Nothing made s link to c, though.  When a full level-0 list is pruned, each node
 * it drops gets the link s -> c from the kept node that made it go (if s has no such link yet;
 * a prune this causes in s's list asks for no further links).  Without them, groups of early
 * points lose every in-link from outside the group while still linking among themselves (so the
 * in-degree watch below never sees them): on the uniform hyperbolic 1M x 64 set 2,600-2,900
 * points (0.3 %) were unreachable before the repair and recall@10 stopped at 0.993-0.995 for
 * any ef, the missed neighbours being those points; with the witness links 550-1,100 (2-thread
 * builds) and 0.9985-0.9998 from ef=10, at the same degree.  While the graph probes, the links
 * are noted and added only once it decides to stay published (an engaged graph relinks
 * everything instead).
 *
 * Hubs of the published mode (adaptive graphs that stay published): a level-0 list keeps every
 * candidate the heuristic keeps, up to the hub budget (16 x 2m), instead of the nearest 2m of
 * them.  Near the boundary the space is tree-like: all of a node's children lie about as far
 * from each other as from it, so the heuristic keeps every one of them, and no child is closer
 * to a query below another child than the rest are.  Cut to 2m, a node with hundreds of children
 * loses the links into most subtrees below it, and a search that reaches it cannot go further:
 * on the synthetic taxonomy 100k x 64 (nodes of up to 800 children) 57 of 1,000 queries found
 * none of their 10 neighbours at ef=10; 53 of them stopped at the lowest common ancestor of the
 * query and the results, and for 56 that ancestor had no link to the next node on the way down
 * (49 of those ancestors with 100-751 children).  Recall@10 was 0.907 at ef=10, 0.988 at
 * ef=160; with the lists grown 0.996 at ef=10, no such query, 1,464 nodes over 2m.  Where the
 * heuristic keeps at most 2m (most nodes of most data) the lists are as before.  A full inline
 * list is pruned with the heuristic and the budget as the limit; a grown list appends a
 * back-link the heuristic would keep (append_undominated) until the budget is full, then is
 * pruned to 90 % of it.  While the graph probes, lists stay at 2m, so the probe sees the
 * published algorithm.
 * Only one node lock is held at a time (see hnsw_int.h), so inserts from many threads cannot
 * deadlock.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw_int.h"

/* Sparse fill (see fill_want): new nodes are topped up to this many level-0 neighbours ... */
#define HNSW_SPARSE_FILL 2
/* ... while at most one node in this many has an overflow block. */
#define HNSW_SPARSE_HUBS 500

/* Process-wide stripe of node locks: a per-node mutex would cost 40 bytes per vector. */
#define NODE_LOCKS 1024
static pthread_mutex_t node_locks[NODE_LOCKS];
static pthread_once_t node_locks_once = PTHREAD_ONCE_INIT;

static void node_locks_init(void)
{
    for (size_t i = 0; i < NODE_LOCKS; i++)
        pthread_mutex_init(&node_locks[i], NULL);
}

pthread_mutex_t *hnsw_node_lock(const hs_hnsw *h, uint32_t slot)
{
    uint64_t k = hs_mix64((uint64_t)(uintptr_t)h ^ ((uint64_t)slot << 20) ^ slot);
    return &node_locks[k % NODE_LOCKS];
}

void hs_hnsw_opts_init(hs_hnsw_opts *o)
{
    o->m = 16;
    o->ef_construction = 100;
    o->seed = 42;
    o->chunk_shift = 12;
    o->alpha = 0;
    o->hub = 0;
}

bool hs_hnsw_engaged(const hs_hnsw *h)
{
    return __atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) == HNSW_ENGAGED;
}

void hnsw_set_mode(hs_hnsw *h, uint32_t mode) { __atomic_store_n(&h->mode, mode, __ATOMIC_RELEASE); }

int hs_hnsw_new(const hs_hnsw_opts *opts, const hs_space *space, const hs_chunks *recs,
                hs_hnsw **out)
{
    *out = NULL;
    if (!opts || !space || !recs)
        return HS_EINVAL;
    bool adaptive = opts->alpha == 0 && opts->hub == 0;
    float alpha = opts->alpha != 0 ? opts->alpha : adaptive ? HNSW_ENGAGED_ALPHA : 1.0f;
    uint32_t hub = opts->hub != 0 ? opts->hub : adaptive ? HNSW_MAX_HUB : 1;
    if (opts->m < HS_HNSW_MIN_M || opts->m > HS_HNSW_MAX_M || opts->ef_construction < 1 ||
        opts->ef_construction > 10000 || opts->chunk_shift > 20 ||
        recs->rec_len < space->rec_len || !(alpha >= 1.0f && alpha <= 2.0f) || hub < 1 ||
        hub > HNSW_MAX_HUB)
        return HS_EINVAL;
    pthread_once(&node_locks_once, node_locks_init);
    hs_hnsw *h = calloc(1, sizeof(*h));
    if (!h)
        return HS_ENOMEM;
    h->m = opts->m;
    h->m0 = 2 * opts->m;
    h->cap0 = h->m0 * hub;
    h->alpha = alpha;
    h->mode = adaptive ? HNSW_PROBING : (alpha > 1.0f || hub > 1) ? HNSW_ENGAGED : HNSW_PLAIN;
    h->ef_construction = opts->ef_construction;
    h->level_mult = 1.0 / log((double)opts->m);
    h->seed = opts->seed;
    h->space = space;
    h->recs = recs;
    int rc = hs_chunks_init(&h->links0, 4 * (1 + h->m0), opts->chunk_shift);
    if (rc == HS_OK)
        rc = hs_chunks_init(&h->upper, sizeof(uint32_t *), opts->chunk_shift);
    if (rc == HS_OK)
        rc = hs_chunks_init(&h->over, sizeof(hnsw_ovb *), opts->chunk_shift);
    if (rc == HS_OK)
        rc = hs_chunks_init(&h->info, 1, opts->chunk_shift);
    if (rc == HS_OK)
        rc = hs_chunks_init(&h->indeg, sizeof(uint32_t), opts->chunk_shift);
    if (rc != HS_OK) {
        free(h);
        return rc;
    }
    pthread_mutex_init(&h->grow_lock, NULL);
    pthread_mutex_init(&h->ep_lock, NULL);
    pthread_mutex_init(&h->probe_lock, NULL);
    *out = h;
    return HS_OK;
}

void hs_hnsw_free(hs_hnsw *h)
{
    if (!h)
        return;
    uint64_t cap = hs_chunks_capacity(&h->upper);
    for (uint64_t i = 0; i < cap; i++)
        free(*(uint32_t **)hs_chunks_at(&h->upper, (uint32_t)i));
    cap = hs_chunks_capacity(&h->over);
    for (uint64_t i = 0; i < cap; i++) {
        hnsw_ovb *b = *(hnsw_ovb **)hs_chunks_at(&h->over, (uint32_t)i);
        while (b) {
            hnsw_ovb *prev = b->prev;
            free(b);
            b = prev;
        }
    }
    hs_chunks_destroy(&h->links0);
    hs_chunks_destroy(&h->upper);
    hs_chunks_destroy(&h->over);
    hs_chunks_destroy(&h->info);
    hs_chunks_destroy(&h->indeg);
    pthread_mutex_destroy(&h->grow_lock);
    pthread_mutex_destroy(&h->ep_lock);
    pthread_mutex_destroy(&h->probe_lock);
    free(h->probe_pairs);
    free(h);
}

void hs_hnsw_set_records(hs_hnsw *h, const hs_chunks *recs) { h->recs = recs; }

int hs_hnsw_set_ef_construction(hs_hnsw *h, uint32_t ef)
{
    if (ef < 1 || ef > 10000)
        return HS_ERANGE;
    __atomic_store_n(&h->ef_construction, ef, __ATOMIC_RELAXED);
    return HS_OK;
}

/* Makes the graph tables cover slots [0, n). */
static int ensure_capacity(hs_hnsw *h, uint64_t n)
{
    if (hs_chunks_capacity(&h->info) >= n)
        return HS_OK;
    pthread_mutex_lock(&h->grow_lock);
    int rc = hs_chunks_reserve(&h->links0, n);
    if (rc == HS_OK)
        rc = hs_chunks_reserve(&h->upper, n);
    if (rc == HS_OK)
        rc = hs_chunks_reserve(&h->indeg, n);
    if (rc == HS_OK)
        rc = hs_chunks_reserve(&h->over, n);
    if (rc == HS_OK)
        rc = hs_chunks_reserve(&h->info, n); /* last: its capacity is the one checked above */
    pthread_mutex_unlock(&h->grow_lock);
    return rc;
}

/* Level of a slot: floor(-ln(U) / ln(m)) with U uniform in (0, 1] drawn from (seed, slot). */
static int random_level(const hs_hnsw *h, uint32_t slot)
{
    uint64_t r = hs_mix64(h->seed ^ hs_mix64((uint64_t)slot + 0x51ed27f1ULL));
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double l = -log(u) * h->level_mult;
    return l >= HS_HNSW_MAX_LEVEL ? HS_HNSW_MAX_LEVEL : (int)l;
}

/*
 * The traversal key of a distance alpha times smaller than the one of `key`: candidates closer
 * than this to a kept neighbour are pruned.  Keys are squared distances (l2, cosine) or the
 * Poincare delta, whose geodesic distance is 2 asinh(sqrt(delta)); alpha divides the distance,
 * so the bound is computed once per candidate and the pairwise checks stay on raw keys.
 */
static float prune_bound(const hs_hnsw *h, float alpha, float key)
{
    if (alpha == 1.0f)
        return key;
    double a = alpha;
    if (h->space->metric == HS_METRIC_POINCARE) {
        double t = sinh(asinh(sqrt((double)key)) / a);
        return (float)(t * t);
    }
    if (h->space->metric == HS_METRIC_LORENTZ) { /* key u = 2 delta */
        double t = sinh(asinh(sqrt((double)key * 0.5)) / a);
        return (float)(2.0 * t * t);
    }
    return (float)((double)key / (a * a));
}

static bool engaged(const hs_hnsw *h)
{
    return __atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) == HNSW_ENGAGED;
}

size_t hnsw_select(const hs_hnsw *h, const hs_pair *cand, size_t n, size_t max, hs_pair *sel,
                   uint32_t *wit)
{
    const hs_space *sp = h->space;
    float alpha = engaged(h) ? h->alpha : 1.0f;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (wit)
            wit[i] = UINT32_MAX;
        if (kept >= max) {
            if (!wit)
                break;
            continue;
        }
        const void *rc = hnsw_rec(h, cand[i].id);
        float bound = prune_bound(h, alpha, cand[i].dist);
        bool good = true;
        for (size_t j = 0; j < kept; j++) {
            if (sp->dist(sp, rc, hnsw_rec(h, sel[j].id)) < bound) {
                good = false;
                if (wit)
                    wit[i] = sel[j].id;
                break;
            }
        }
        if (good)
            sel[kept++] = cand[i];
    }
    return kept;
}

/* Writes entry i < v->max (release); the overflow block must exist when i >= v->nin. */
static void view_set(const hnsw_view *v, uint32_t i, uint32_t id)
{
    if (i < v->nin)
        __atomic_store_n(&v->list[1 + i], id, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&(*v->ovp)->links[i - v->nin], id, __ATOMIC_RELEASE);
}

/* Makes room for `want` entries: the node's overflow block is created or replaced by one twice
 * as large (at least 8 links, at most v->max - v->nin) holding the same links; the old block
 * stays readable for searches that loaded it, chained from the new one.  The new block is
 * published before the count covers its new entries.  Caller holds the node's lock. */
static int view_reserve(hs_hnsw *h, const hnsw_view *v, size_t want)
{
    if (want <= v->nin)
        return HS_OK;
    hnsw_ovb *old = __atomic_load_n(v->ovp, __ATOMIC_ACQUIRE);
    size_t need = want - v->nin, have = old ? old->cap : 0;
    if (need <= have)
        return HS_OK;
    size_t cap = HS_MIN(HS_MAX(HS_MAX(need, 2 * have), (size_t)8), (size_t)(v->max - v->nin));
    size_t bytes = sizeof(hnsw_ovb) + cap * sizeof(uint32_t);
    hnsw_ovb *b = calloc(1, bytes);
    if (!b)
        return HS_ENOMEM;
    b->prev = old;
    b->cap = (uint32_t)cap;
    if (old)
        memcpy(b->links, old->links, have * sizeof(uint32_t));
    __atomic_store_n(v->ovp, b, __ATOMIC_RELEASE);
    __atomic_fetch_add(&h->over_bytes, bytes, __ATOMIC_RELAXED);
    if (!old)
        __atomic_fetch_add(&h->hubs, 1, __ATOMIC_RELAXED);
    return HS_OK;
}

/* Replaces the list of `node` on `level` with sel[0..n), the first nin of them inline (the rest
 * are in the overflow block already). Caller holds the node's lock. */
static void write_list(uint32_t *list, const hs_pair *sel, size_t n, size_t nin)
{
    for (size_t i = 0; i < n && i < nin; i++)
        __atomic_store_n(&list[1 + i], sel[i].id, __ATOMIC_RELEASE);
    __atomic_store_n(&list[0], (uint32_t)n, __ATOMIC_RELEASE);
}

/*
 * Replaces a list of cnt entries, seen by lock-free readers, with the set sel[0..n) so that no
 * reader ever misses an entry that stays: entries that stay keep their positions, and only
 * positions holding a dropped entry (or lying past the old count) are written; entries that must
 * move down (the list shrinks) are copied before the count drops, so for a moment they are seen
 * twice, never zero times.  Caller holds the node's lock.
 */
static void rewrite_list(const hnsw_view *v, uint32_t cnt, const hs_pair *sel, size_t n)
{
    uint32_t ids[HNSW_MAX_LIST];
    bool placed[HNSW_MAX_LIST] = {false};
    for (uint32_t i = 0; i < cnt; i++)
        ids[i] = view_get(v, i);
    /* movers: selected entries not already at a position below n */
    uint32_t movers[HNSW_MAX_LIST + 1];
    size_t nm = 0;
    for (size_t j = 0; j < n; j++) {
        bool stays = false;
        for (uint32_t i = 0; i < cnt && i < n && !stays; i++) {
            if (ids[i] == sel[j].id && !placed[i]) {
                placed[i] = true;
                stays = true;
            }
        }
        if (!stays)
            movers[nm++] = sel[j].id;
    }
    /* fill the positions below n that do not hold a staying entry, then publish the count */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!(i < cnt && placed[i]))
            view_set(v, (uint32_t)i, movers[m++]);
    __atomic_store_n(&v->list[0], (uint32_t)n, __ATOMIC_RELEASE);
}

static inline void indeg_add(const hs_hnsw *h, uint32_t slot, int level, int delta)
{
    if (level == 0)
        __atomic_fetch_add(hnsw_indeg(h, slot), (uint32_t)delta, __ATOMIC_RELAXED);
}

/*
 * Adaptive construction (see hs_hnsw_engaged in hnsw.h): while probing, each level-0 prune
 * counts the nodes it left without any in-link; after HNSW_PROBE_PRUNES prunes the graph
 * engages the slack and the hub budget when they exceed HNSW_ENGAGE_RATE per prune, or stays
 * the published algorithm.  The thread whose prune engaged it relinks the nodes inserted so
 * far once its insert is done (relink_all).
 */
static void watch_prune(hs_hnsw *h, hnsw_scratch *s, size_t orphaned)
{
    if (__atomic_load_n(&h->mode, __ATOMIC_RELAXED) != HNSW_PROBING)
        return;
    uint64_t o = __atomic_add_fetch(&h->orphans, orphaned, __ATOMIC_RELAXED);
    uint64_t n = __atomic_add_fetch(&h->prunes, 1, __ATOMIC_RELAXED);
    if (n != HNSW_PROBE_PRUNES)
        return;
    uint32_t expected = HNSW_PROBING;
    uint32_t next = (double)o > HNSW_ENGAGE_RATE * (double)n ? HNSW_ENGAGED : HNSW_PLAIN;
    if (__atomic_compare_exchange_n(&h->mode, &expected, next, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED)) {
        s->engaged_here = next == HNSW_ENGAGED;
        s->plain_here = next == HNSW_PLAIN;
    }
}

/* Index in e's list of its farthest neighbour that is marked deleted, or -1. */
static long farthest_deleted(const hs_hnsw *h, uint32_t e, const hnsw_view *v, uint32_t cnt)
{
    const hs_space *sp = h->space;
    long best = -1;
    float worst = -1.0f;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t id = view_get(v, i);
        if (!(hnsw_info(h, id) & HS_INFO_DELETED))
            continue;
        float d = sp->dist(sp, hnsw_rec(h, e), hnsw_rec(h, id));
        if (d > worst) {
            worst = d;
            best = i;
        }
    }
    return best;
}

/* Level-0 lists keep all the heuristic keeps, up to the hub budget (see "Hubs of the published
 * mode" at the top): an adaptive graph that decided to stay published. */
static bool grows(const hs_hnsw *h)
{
    return h->cap0 > h->m0 && __atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) == HNSW_PLAIN;
}

/* A grown level-0 list (past its inline 2m, below the budget): q is appended unless a member
 * closer to e than q lies closer to q than e does, for which the heuristic would drop q; that
 * member then gets the witness link instead.  The members q would drop in turn stay until the
 * list is full and pruned: testing q against the members costs cnt distances where a prune
 * costs up to cnt^2 / 2.  Caller holds e's lock; cnt < v->max. */
static int append_undominated(hs_hnsw *h, hnsw_scratch *s, uint32_t e, const hnsw_view *v,
                              uint32_t cnt, uint32_t q)
{
    const hs_space *sp = h->space;
    const void *re = hnsw_rec(h, e), *rq = hnsw_rec(h, q);
    float dq = sp->dist(sp, re, rq);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t id = view_get(v, i);
        const void *ri = hnsw_rec(h, id);
        if (id != q && sp->dist(sp, ri, rq) < dq && sp->dist(sp, re, ri) < dq) {
            if (!s->in_witness && s->nwl < HS_ARRAY_LEN(s->wl_from)) {
                s->wl_from[s->nwl] = id;
                s->wl_to[s->nwl++] = q;
            }
            return HS_OK;
        }
    }
    if (view_reserve(h, v, cnt + 1) != HS_OK)
        return HS_ENOMEM;
    view_set(v, cnt, q);
    __atomic_store_n(&v->list[0], cnt + 1, __ATOMIC_RELEASE);
    indeg_add(h, q, 0, 1);
    return HS_OK;
}

/*
 * Adds a link e -> q on `level`, pruning e's list with the heuristic when it is full.  A level-0
 * neighbour pruned away that is left with no in-link at all is noted in s->orphans; the caller
 * relinks it (reattach) once e's lock is released.
 */
static int add_link(hs_hnsw *h, hnsw_scratch *s, uint32_t e, uint32_t q, int level, bool unique)
{
    const hs_space *sp = h->space;
    pthread_mutex_t *lk = hnsw_node_lock(h, e);
    pthread_mutex_lock(lk);
    hnsw_view v = hnsw_view_of(h, e, level);
    uint32_t max = v.max;
    uint32_t cnt = view_count(&v);
    for (uint32_t i = 0; unique && i < cnt; i++) {
        if (view_get(&v, i) == q) {
            pthread_mutex_unlock(lk);
            return HS_OK;
        }
    }
    /* the published algorithm keeps 2m level-0 links; an engaged graph grows hubs by appending,
     * an adaptive published one to what the heuristic keeps */
    bool hubs = level != 0 || engaged(h);
    bool grow = level == 0 && !hubs && grows(h);
    if (grow && cnt > v.nin && cnt < max) {
        int rc = append_undominated(h, s, e, &v, cnt, q);
        pthread_mutex_unlock(lk);
        return rc;
    }
    if (cnt < (hubs ? max : v.nin)) {
        if (view_reserve(h, &v, cnt + 1) != HS_OK) {
            pthread_mutex_unlock(lk);
            return HS_ENOMEM;
        }
        view_set(&v, cnt, q);
        __atomic_store_n(&v.list[0], cnt + 1, __ATOMIC_RELEASE);
        indeg_add(h, q, level, 1);
        pthread_mutex_unlock(lk);
        return HS_OK;
    }
    long dead = farthest_deleted(h, e, &v, cnt);
    if (dead >= 0) {
        /* a full list that holds deleted nodes gives one of them up rather than prune away live
         * ones: after many upserts (a delete and an insert each) every list fills with deleted
         * copies, and new points would find no way in */
        uint32_t old = view_get(&v, (uint32_t)dead);
        view_set(&v, (uint32_t)dead, q);
        indeg_add(h, q, level, 1);
        if (level == 0 && __atomic_sub_fetch(hnsw_indeg(h, old), 1, __ATOMIC_RELAXED) == 0 &&
            s->norphans < HS_ARRAY_LEN(s->orphans))
            s->orphans[s->norphans++] = old;
        pthread_mutex_unlock(lk);
        return HS_OK;
    }
    if (hnsw_scratch_reserve(&s->w, &s->w_cap, max + 1) != HS_OK ||
        hnsw_scratch_reserve(&s->sel, &s->sel_cap, max + 1) != HS_OK) {
        pthread_mutex_unlock(lk);
        return HS_ENOMEM;
    }
    const void *re = hnsw_rec(h, e);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t id = view_get(&v, i);
        s->w[i] = (hs_pair){sp->dist(sp, re, hnsw_rec(h, id)), id};
    }
    s->w[cnt] = (hs_pair){sp->dist(sp, re, hnsw_rec(h, q)), q};
    hs_pairs_sort(s->w, cnt + 1);
    /* a hub prunes to 90 % of its budget, so the next back-links append without pruning: a
     * hub is everybody's neighbour, and pruning a full list on every back-link made the build
     * ten times slower (verbs10) for no recall.  A published list that grows keeps all the
     * heuristic keeps (at most the budget) when its inline 2m are full. */
    size_t full = max > v.nin ? max - max / 10 : max;
    size_t target = hubs ? full : !grow ? v.nin : cnt >= max ? full : max;
    /* witness links are due in the published mode and noted while probing */
    bool witness = level == 0 && !hubs && !s->in_witness;
    size_t kept = hnsw_select(h, s->w, cnt + 1, target, s->sel, witness ? s->wit : NULL);
    if (kept > cnt && view_reserve(h, &v, kept) != HS_OK) {
        pthread_mutex_unlock(lk);
        return HS_ENOMEM;
    }
    rewrite_list(&v, cnt, s->sel, kept);
    if (level == 0) {
        size_t orphans0 = s->norphans;
        for (uint32_t i = 0; i <= cnt; i++) {
            uint32_t id = s->w[i].id;
            bool stays = false;
            for (size_t j = 0; j < kept && !stays; j++)
                stays = s->sel[j].id == id;
            if (id == q) {
                if (stays)
                    indeg_add(h, q, 0, 1);
            } else if (!stays &&
                       __atomic_sub_fetch(hnsw_indeg(h, id), 1, __ATOMIC_RELAXED) == 0 &&
                       s->norphans < HS_ARRAY_LEN(s->orphans)) {
                s->orphans[s->norphans++] = id;
            }
            if (witness && !stays && s->wit[i] != UINT32_MAX &&
                s->nwl < HS_ARRAY_LEN(s->wl_from)) {
                s->wl_from[s->nwl] = s->wit[i];
                s->wl_to[s->nwl++] = id;
            }
        }
        watch_prune(h, s, s->norphans - orphans0);
    }
    pthread_mutex_unlock(lk);
    return HS_OK;
}

/* Index in e's level-0 list of its farthest neighbour that keeps another in-link, or -1. */
static long pick_victim(const hs_hnsw *h, uint32_t e, const hnsw_view *lv, uint32_t cnt)
{
    const hs_space *sp = h->space;
    const void *re = hnsw_rec(h, e);
    long victim = -1;
    float worst = -1.0f;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t v = view_get(lv, i);
        if (__atomic_load_n(hnsw_indeg(h, v), __ATOMIC_RELAXED) < 2)
            continue;
        float d = sp->dist(sp, re, hnsw_rec(h, v));
        if (d > worst) {
            worst = d;
            victim = i;
        }
    }
    return victim;
}

bool hnsw_link_to(hs_hnsw *h, uint32_t e, uint32_t u)
{
    pthread_mutex_t *lk = hnsw_node_lock(h, e);
    pthread_mutex_lock(lk);
    hnsw_view lv = hnsw_view_of(h, e, 0);
    uint32_t cnt = view_count(&lv);
    bool done = false;
    for (uint32_t i = 0; i < cnt && !done; i++)
        done = view_get(&lv, i) == u; /* already linked */
    if (!done && cnt < lv.max && view_reserve(h, &lv, cnt + 1) == HS_OK) {
        view_set(&lv, cnt, u);
        __atomic_store_n(&lv.list[0], cnt + 1, __ATOMIC_RELEASE);
        indeg_add(h, u, 0, 1);
        done = true;
    } else if (!done) {
        long v = pick_victim(h, e, &lv, cnt);
        if (v >= 0) {
            indeg_add(h, view_get(&lv, (uint32_t)v), 0, -1);
            view_set(&lv, (uint32_t)v, u);
            indeg_add(h, u, 0, 1);
            done = true;
        }
    }
    pthread_mutex_unlock(lk);
    return done;
}

/* Gives a node that lost its last level-0 in-link a new one, from one of its own neighbours
 * (they are its nearest, and a search for it passes through them). */
static void reattach(hs_hnsw *h, uint32_t u)
{
    if (__atomic_load_n(hnsw_indeg(h, u), __ATOMIC_RELAXED) != 0)
        return;
    hnsw_view lv = hnsw_view_of(h, u, 0);
    uint32_t cnt = view_count(&lv);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t e = view_get(&lv, i);
        if (e != u && hnsw_link_to(h, e, u))
            return;
    }
}

/* Adds the level-0 links from[i] -> to[i] that are missing (see "Witness links"); the prunes
 * they cause ask for no further ones (a cascade of them measured no better). */
static int link_witnesses(hs_hnsw *h, hnsw_scratch *s, const uint32_t *from, const uint32_t *to,
                          size_t n)
{
    int rc = HS_OK;
    s->in_witness = true;
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        s->norphans = 0;
        rc = add_link(h, s, from[i], to[i], 0, true);
        for (size_t k = 0; k < s->norphans; k++)
            reattach(h, s->orphans[k]);
    }
    s->norphans = 0;
    s->in_witness = false;
    return rc;
}

/* At most this many witness links wait for the probe's decision (128 KiB): an index that never
 * decides (fewer than 4,000 prunes) holds them until it is freed.  The 4,000 prunes of the 200k
 * hyperbolic set note 39,000; keeping the first 16,384 or all of them measured the same (recall@10
 * 0.9991 / 0.9993, 29 / 47 unreachable before the repair, within the spread of seeds). */
#define HNSW_PROBE_PAIRS ((size_t)16384)

/* Keeps pairs noted while probing for the decision; false once it is taken. */
static bool defer_witnesses(hs_hnsw *h, const uint32_t *from, const uint32_t *to, size_t n)
{
    pthread_mutex_lock(&h->probe_lock);
    bool kept = !h->probe_closed;
    if (kept && h->probe_npairs + n > h->probe_cap && h->probe_cap < HNSW_PROBE_PAIRS) {
        size_t cap = HS_MIN(HS_MAX(h->probe_cap * 2, h->probe_npairs + n + 256), HNSW_PROBE_PAIRS);
        uint32_t *p = realloc(h->probe_pairs, cap * 2 * sizeof(uint32_t));
        if (p) {
            h->probe_pairs = p;
            h->probe_cap = cap;
        }
    }
    for (size_t i = 0; kept && i < n && h->probe_npairs < h->probe_cap; i++) {
        h->probe_pairs[2 * h->probe_npairs] = from[i];
        h->probe_pairs[2 * h->probe_npairs++ + 1] = to[i];
    }
    pthread_mutex_unlock(&h->probe_lock);
    return kept;
}

/* The witness links the last prune asked for: added now in the published mode, kept for the
 * decision while probing, dropped once engaged (relink_all links everything anew). */
static int add_witnesses(hs_hnsw *h, hnsw_scratch *s)
{
    size_t n = s->nwl;
    s->nwl = 0;
    if (n == 0)
        return HS_OK;
    if (__atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) == HNSW_PROBING &&
        defer_witnesses(h, s->wl_from, s->wl_to, n))
        return HS_OK;
    if (__atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) != HNSW_PLAIN)
        return HS_OK;
    return link_witnesses(h, s, s->wl_from, s->wl_to, n);
}

/* After the probe decided to stay published: the witness links noted while probing.  With
 * engaged = true, only drops them. */
static int close_probe(hs_hnsw *h, hnsw_scratch *s, bool engaged_now)
{
    pthread_mutex_lock(&h->probe_lock);
    h->probe_closed = true;
    uint32_t *pairs = h->probe_pairs;
    size_t n = h->probe_npairs;
    h->probe_pairs = NULL;
    h->probe_npairs = h->probe_cap = 0;
    pthread_mutex_unlock(&h->probe_lock);
    int rc = HS_OK;
    for (size_t i = 0; i < n && rc == HS_OK && !engaged_now; i++)
        rc = link_witnesses(h, s, &pairs[2 * i], &pairs[2 * i + 1], 1);
    free(pairs);
    return rc;
}

static int add_links(hs_hnsw *h, hnsw_scratch *s, const hs_pair *sel, size_t n, uint32_t q,
                     int level)
{
    int rc = HS_OK;
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        s->norphans = 0;
        s->nwl = 0;
        rc = add_link(h, s, sel[i].id, q, level, false);
        for (size_t k = 0; k < s->norphans; k++)
            reattach(h, s->orphans[k]);
        if (rc == HS_OK)
            rc = add_witnesses(h, s);
    }
    return rc;
}

/* Claims slot for insertion at `level`: allocates its upper lists and sets its info byte. */
static int claim_slot(hs_hnsw *h, uint32_t slot, int level)
{
    uint8_t *info = (uint8_t *)hs_chunks_at(&h->info, slot);
    uint8_t old = __atomic_fetch_or(info, HS_INFO_LINKED, __ATOMIC_ACQ_REL);
    if (old & HS_INFO_LINKED)
        return HS_EEXIST;
    uint32_t **up = (uint32_t **)hs_chunks_at(&h->upper, slot);
    if (level > 0) {
        size_t bytes = (size_t)level * (1 + h->m) * sizeof(uint32_t);
        uint32_t *mem = calloc(1, bytes);
        if (!mem) {
            __atomic_store_n(info, 0, __ATOMIC_RELEASE);
            return HS_ENOMEM;
        }
        *up = mem;
        __atomic_fetch_add(&h->upper_bytes, bytes, __ATOMIC_RELAXED);
    }
    uint32_t *l0 = hnsw_list(h, slot, 0);
    __atomic_store_n(&l0[0], 0, __ATOMIC_RELEASE);
    __atomic_store_n(info, (uint8_t)(HS_INFO_LINKED | (uint8_t)level), __ATOMIC_RELEASE);
    return HS_OK;
}

/*
 * Tops a new node's level-0 selection up to `want` neighbours with the nearest candidates the
 * heuristic passed over.  The heuristic alone can keep as few as three or four, and since each
 * kept neighbour also links back, such a node ends up with few in-links from its own
 * neighbourhood: reachable, but a search towards it may not find the way in (16-d Gaussian l2
 * data: a node not found by a search for its own vector at ef=320).
 */
static size_t fill_min(const hs_pair *cand, size_t n, hs_pair *sel, size_t kept, size_t want)
{
    for (size_t i = 0; i < n && kept < want; i++) {
        bool in = false;
        for (size_t j = 0; j < kept && !in; j++)
            in = sel[j].id == cand[i].id;
        if (!in)
            sel[kept++] = cand[i];
    }
    return kept;
}

/*
 * The level-0 out-degree fill_min tops a new node up to: m, except in a published graph in the
 * ball or on the hyperboloid whose hubs are rare (at most one node in HNSW_SPARSE_HUBS has an
 * overflow block) and where none of the neighbours the heuristic kept has a full list.  There,
 * HNSW_SPARSE_FILL.
 *
 * Why: in hyperbolic space the heuristic keeps few neighbours (hnswlib's graph of the uniform
 * 1M x 64 set has a mean level-0 degree of 4.3), and the top-up to m tripled the degree (18.9)
 * without a better recall there: the witness links and the repair already keep every point
 * reachable.  A search read and tested three times the links for the same answers.  With the
 * sparse fill, 1M x 64 (2-thread build): degree 5.8, recall@10 1.0000 at ef=10 as before, 196
 * instead of 219 distance evaluations, best CPU-time QPS 88-98k against 79-85k on the saved
 * graphs in alternation; 100k x 64: 135 -> 118 evaluations, 103-107k -> 148-157k QPS;
 * 100k x 10: 144 -> 127 evaluations, 200-211k -> 216-223k QPS (1-thread builds, same run).
 *
 * Where it does not hold: the synthetic taxonomies, whose siblings the heuristic drops in
 * favour of their parent (a hub).  There the top-up provides the links between siblings;
 * without it, recall@10 at ef=10 fell from 0.9953 to 0.9898 (64-d) and from 0.9923 to 0.9820
 * (10-d).  Their hubs are common: 1 node in 70 and 1 in 280 at 100k.  The uniform sets have
 * 1 in 8,000 at the end, and at most 1 in 630 while their first 100k nodes go in.  So the hub
 * rate tells the two apart, with thin margins around 1 in 500: 1.26x for the uniform sets,
 * 1.8x for the 10-d taxonomy, which stays under the threshold for its first ~40k nodes
 * (recall@10 0.9925 at ef=10 all the same).  A new node next to a full list is topped up
 * anyway.  l2 and cosine
 * keep m, because there the top-up raised recall (Fashion-MNIST at ef=20: 0.981 -> 0.985).  An
 * engaged graph (trained hierarchies) keeps m as well.
 */
static size_t fill_want(const hs_hnsw *h, const hs_pair *sel, size_t kept)
{
    hs_metric metric = h->space->metric;
    if ((metric != HS_METRIC_POINCARE && metric != HS_METRIC_LORENTZ) || !grows(h))
        return h->m;
    uint64_t hubs = __atomic_load_n(&h->hubs, __ATOMIC_RELAXED);
    if (hubs * HNSW_SPARSE_HUBS > __atomic_load_n(&h->nodes, __ATOMIC_RELAXED))
        return h->m;
    for (size_t j = 0; j < kept; j++) {
        hnsw_view v = hnsw_view_of(h, sel[j].id, 0);
        if (view_count(&v) >= h->m0)
            return h->m;
    }
    return HS_MIN((size_t)HNSW_SPARSE_FILL, (size_t)h->m);
}

/*
 * Connects slot on layers min(level, top)..0 starting from cur.  The neighbours of every layer
 * are chosen first, top-down (each layer's results seed the next); the links are then written
 * bottom-up, and on each layer the node's own list before any link to it.  So when a search can
 * reach the node on some layer, the node's lists on that layer and every layer below are
 * complete: a search never lands on a half-connected node and stops there.
 */
static int connect_layers(hs_hnsw *h, hnsw_scratch *s, uint32_t slot, int level, int top,
                          hs_pair cur)
{
    const void *q = hnsw_rec(h, slot);
    hnsw_recs own = hnsw_own(h);
    size_t efc = __atomic_load_n(&h->ef_construction, __ATOMIC_RELAXED);
    int lmax = HS_MIN(level, top);
    hs_pair *layer = malloc((efc + 1) * sizeof(*layer));
    size_t max0 = grows(h) ? h->cap0 : h->m0; /* level-0 links the heuristic may keep */
    hs_pair *sel = malloc(((size_t)lmax * h->m0 + max0) * sizeof(*sel));
    size_t kept[HS_HNSW_MAX_LEVEL + 1];
    int rc = layer && sel ? HS_OK : HS_ENOMEM;
    const hs_pair *eps = &cur;
    size_t neps = 1;
    for (int l = lmax; l >= 0 && rc == HS_OK; l--) {
        long n = hnsw_search_layer(h, s, &own, q, eps, neps, efc, l, false, NULL, layer);
        if (n < 0) {
            rc = HS_ENOMEM;
            break;
        }
        /* drop q itself should a concurrent link already lead back to it */
        size_t w = 0;
        for (long i = 0; i < n; i++)
            if (layer[i].id != slot)
                layer[w++] = layer[i];
        hs_pair *ls = sel + (size_t)(lmax - l) * h->m0;
        kept[l] = hnsw_select(h, layer, w, l ? h->m : max0, ls, NULL);
        if (l == 0)
            kept[0] = fill_min(layer, w, ls, kept[0], fill_want(h, ls, kept[0]));
        eps = layer;
        neps = w;
    }
    for (int l = 0; l <= lmax && rc == HS_OK; l++) {
        const hs_pair *ls = sel + (size_t)(lmax - l) * h->m0;
        pthread_mutex_t *lk = hnsw_node_lock(h, slot);
        pthread_mutex_lock(lk);
        if (kept[l] > h->m0) {
            hnsw_view v = hnsw_view_of(h, slot, 0);
            if (view_reserve(h, &v, kept[l]) != HS_OK)
                kept[l] = h->m0;
            for (size_t i = h->m0; i < kept[l]; i++)
                view_set(&v, (uint32_t)i, ls[i].id);
        }
        write_list(hnsw_list(h, slot, l), ls, kept[l], l ? h->m : h->m0);
        for (size_t i = 0; i < kept[l]; i++)
            indeg_add(h, ls[i].id, l, 1);
        pthread_mutex_unlock(lk);
        rc = add_links(h, s, ls, kept[l], slot, l);
    }
    free(layer);
    free(sel);
    return rc;
}

/* Links u again under the engaged rules: its level-0 neighbours found by a search and chosen
 * with the slack, each linked both ways (the back-links may grow hubs).  Links it already has
 * are kept; a prune they cause follows the engaged rules. */
static int relink(hs_hnsw *h, hnsw_scratch *s, uint32_t u, hs_pair *layer, hs_pair *sel,
                  size_t efc)
{
    uint64_t ep = hnsw_ep(h);
    const void *q = hnsw_rec(h, u);
    hs_pair cur = {h->space->dist(h->space, q, hnsw_rec(h, (uint32_t)ep)), (uint32_t)ep};
    hnsw_recs own = hnsw_own(h);
    cur = hnsw_descend(h, s, &own, q, cur, (int)(ep >> 32) - 1, 0);
    long n = hnsw_search_layer(h, s, &own, q, &cur, 1, efc, 0, false, NULL, layer);
    if (n < 0)
        return HS_ENOMEM;
    size_t w = 0;
    for (long i = 0; i < n; i++)
        if (layer[i].id != u)
            layer[w++] = layer[i];
    size_t kept = fill_min(layer, w, sel, hnsw_select(h, layer, w, h->m0, sel, NULL), h->m);
    int rc = HS_OK;
    for (size_t i = 0; i < kept && rc == HS_OK; i++) {
        for (int dir = 0; dir < 2 && rc == HS_OK; dir++) {
            s->norphans = 0;
            s->nwl = 0;
            rc = dir ? add_link(h, s, sel[i].id, u, 0, true) : add_link(h, s, u, sel[i].id, 0, true);
            for (size_t k = 0; k < s->norphans; k++)
                reattach(h, s->orphans[k]);
            if (rc == HS_OK)
                rc = add_witnesses(h, s);
        }
    }
    return rc;
}

/* After the graph engaged: relinks every node inserted so far (built as the published
 * algorithm, they may have lost the in-links the engaged rules keep).  Inserts of other threads
 * go on meanwhile; nodes they add are built engaged. */
static int relink_all(hs_hnsw *h, hnsw_scratch *s)
{
    size_t efc = __atomic_load_n(&h->ef_construction, __ATOMIC_RELAXED);
    hs_pair *layer = malloc((efc + 1) * sizeof(*layer));
    hs_pair *sel = malloc((size_t)h->m0 * sizeof(*sel));
    int rc = layer && sel ? HS_OK : HS_ENOMEM;
    uint64_t n = hs_chunks_capacity(&h->info);
    for (uint64_t u = 0; u < n && rc == HS_OK; u++)
        if (hnsw_info(h, (uint32_t)u) & HS_INFO_LINKED && hnsw_ep(h) != 0)
            rc = relink(h, s, (uint32_t)u, layer, sel, efc);
    free(layer);
    free(sel);
    return rc;
}

int hs_hnsw_insert(hs_hnsw *h, uint32_t slot)
{
    if ((uint64_t)slot >= hs_chunks_capacity(h->recs))
        return HS_ERANGE;
    int rc = ensure_capacity(h, (uint64_t)slot + 1);
    if (rc != HS_OK)
        return rc;
    int level = random_level(h, slot);
    rc = claim_slot(h, slot, level);
    if (rc != HS_OK)
        return rc;
    hnsw_scratch *s = hnsw_scratch_get(h);
    if (!s)
        return HS_ENOMEM; /* the slot stays claimed but unlinked: a rebuild recovers it */

    uint64_t ep = hnsw_ep(h);
    if (ep == 0) {
        pthread_mutex_lock(&h->ep_lock);
        ep = hnsw_ep(h);
        if (ep == 0) {
            __atomic_store_n(&h->ep, ep_pack(level, slot), __ATOMIC_RELEASE);
            __atomic_fetch_add(&h->nodes, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&h->ep_lock);
            return HS_OK;
        }
        pthread_mutex_unlock(&h->ep_lock);
    }
    int top = (int)(ep >> 32) - 1;
    uint32_t entry = (uint32_t)ep;
    const void *q = hnsw_rec(h, slot);
    hs_pair cur = {h->space->dist(h->space, q, hnsw_rec(h, entry)), entry};
    hnsw_recs own = hnsw_own(h);
    cur = hnsw_descend(h, s, &own, q, cur, top, level);
    rc = connect_layers(h, s, slot, level, top, cur);
    if (rc != HS_OK)
        return rc;
    if (s->engaged_here || s->plain_here) {
        /* the node itself is in; a relink cut short by memory leaves a valid graph that is
         * only less well linked (the repair after the batch keeps it reachable) */
        bool eng = s->engaged_here;
        s->engaged_here = s->plain_here = false;
        (void)close_probe(h, s, eng);
        if (eng)
            (void)relink_all(h, s);
    }
    if (level > top) {
        pthread_mutex_lock(&h->ep_lock);
        if (level > (int)(hnsw_ep(h) >> 32) - 1)
            __atomic_store_n(&h->ep, ep_pack(level, slot), __ATOMIC_RELEASE);
        pthread_mutex_unlock(&h->ep_lock);
    }
    __atomic_fetch_add(&h->nodes, 1, __ATOMIC_RELAXED);
    return HS_OK;
}

typedef struct insert_job {
    hs_hnsw *h;
    const uint32_t *slots;
    size_t n;
    size_t next; /* atomic */
    int rc;      /* atomic: first error */
} insert_job;

static void *insert_worker(void *arg)
{
    insert_job *j = arg;
    for (;;) {
        if (__atomic_load_n(&j->rc, __ATOMIC_RELAXED) != HS_OK)
            break;
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n)
            break;
        int rc = hs_hnsw_insert(j->h, j->slots[i]);
        if (rc != HS_OK) {
            int expected = HS_OK;
            __atomic_compare_exchange_n(&j->rc, &expected, rc, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

int hs_hnsw_insert_many(hs_hnsw *h, const uint32_t *slots, size_t n, unsigned threads)
{
    insert_job j = {.h = h, .slots = slots, .n = n, .next = 0, .rc = HS_OK};
    if (threads > 64)
        threads = 64;
    pthread_t tid[64];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, insert_worker, &j) != 0)
            break;
        started++;
    }
    insert_worker(&j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return j.rc;
}

int hs_hnsw_mark_deleted(hs_hnsw *h, uint32_t slot)
{
    if ((uint64_t)slot >= hs_chunks_capacity(&h->info))
        return HS_ENOTFOUND;
    uint8_t *info = (uint8_t *)hs_chunks_at(&h->info, slot);
    uint8_t cur = __atomic_load_n(info, __ATOMIC_ACQUIRE);
    if (!(cur & HS_INFO_LINKED))
        return HS_ENOTFOUND;
    uint8_t old = __atomic_fetch_or(info, HS_INFO_DELETED, __ATOMIC_ACQ_REL);
    if (!(old & HS_INFO_DELETED))
        __atomic_fetch_add(&h->ndeleted, 1, __ATOMIC_RELAXED);
    return HS_OK;
}

bool hs_hnsw_is_deleted(const hs_hnsw *h, uint32_t slot)
{
    return (uint64_t)slot < hs_chunks_capacity(&h->info) &&
           (hnsw_info(h, slot) & HS_INFO_DELETED);
}

bool hs_hnsw_contains(const hs_hnsw *h, uint32_t slot)
{
    return (uint64_t)slot < hs_chunks_capacity(&h->info) && (hnsw_info(h, slot) & HS_INFO_LINKED);
}

uint64_t hs_hnsw_nodes(const hs_hnsw *h) { return __atomic_load_n(&h->nodes, __ATOMIC_RELAXED); }

void hs_hnsw_stats_get(const hs_hnsw *h, hs_hnsw_stats *st)
{
    memset(st, 0, sizeof(*st));
    uint64_t ep = hnsw_ep(h);
    st->nodes = __atomic_load_n(&h->nodes, __ATOMIC_RELAXED);
    st->deleted = __atomic_load_n(&h->ndeleted, __ATOMIC_RELAXED);
    st->max_level = ep ? (int32_t)(ep >> 32) - 1 : -1;
    st->entry = (uint32_t)ep;
    uint64_t cap = hs_chunks_capacity(&h->info);
    uint64_t hi = 0, edges = 0, hubs = 0;
    for (uint64_t i = 0; i < cap; i++) {
        if (!(hnsw_info(h, (uint32_t)i) & HS_INFO_LINKED))
            continue;
        hi = i + 1;
        hnsw_view v = hnsw_view_of(h, (uint32_t)i, 0);
        uint32_t deg = view_count(&v);
        edges += deg;
        hubs += deg > h->m0;
    }
    st->level0_edges = edges;
    st->hubs = hubs;
    /* per slot in use: level-0 list, info byte, upper and overflow pointers, in-degree; plus
     * upper lists and overflow blocks */
    st->graph_bytes = hi * (h->links0.rec_len + 1 + 2 * sizeof(uint32_t *) + sizeof(uint32_t)) +
                      __atomic_load_n(&h->upper_bytes, __ATOMIC_RELAXED) +
                      __atomic_load_n(&h->over_bytes, __ATOMIC_RELAXED);
    st->resident_bytes = hs_chunks_resident_bytes(&h->links0, hi) +
                         hs_chunks_resident_bytes(&h->info, hi) +
                         hs_chunks_resident_bytes(&h->indeg, hi) +
                         hs_chunks_resident_bytes(&h->upper, hi) +
                         (h->cap0 > h->m0 ? hs_chunks_resident_bytes(&h->over, hi) : 0) +
                         __atomic_load_n(&h->upper_bytes, __ATOMIC_RELAXED) +
                         __atomic_load_n(&h->over_bytes, __ATOMIC_RELAXED);
}
