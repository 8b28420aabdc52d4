/*
 * hnsw_search.c: layer search (Algorithm 2 of Malkov & Yashunin), greedy descent through the
 * upper layers, the public k-NN search, exact search, and the per-thread scratch they use.
 *
 * Memory latency dominates graph search on large vectors, so a node's unvisited neighbours are
 * first collected and their records prefetched, and only then are their distances computed: the
 * cache misses of one neighbour list overlap instead of following one another.
 *
 * Locking: none.  Link lists are read with atomic loads (see hnsw_int.h).  The scratch is
 * thread-local and freed when its thread exits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw_int.h"

/* Records and lists are prefetched with low temporal locality (prefetcht2 on x86, into L2):
 * with prefetcht0 the prefetch instructions themselves stalled once the L1 miss buffers were
 * full (1M x 64 hyperbolic: a third of the search samples sat on them).  Saved 1M graph, five
 * alternating pairs on a quiet machine: CPU-time QPS at ef=10 82-100k -> 101-115k, p50
 * 10.0-10.8 -> 8.5-9.1 us; 100k x 64: p50 6.0-7.1 -> 5.2-5.6 us; verbs10 (in cache) the same.
 * Under a load average of 3-4 from other processes the gain shrank or vanished. */

/* How much of each neighbour's record to prefetch.  Small records are prefetched whole; for
 * large ones only the first line, because the hardware's stream prefetcher follows the rest and
 * hundreds of software prefetches in flight only fill the miss buffers (measured on 784-d codes:
 * first line only is as fast as whole records). */
#define HNSW_PREFETCH_WHOLE 512
#define HNSW_PREFETCH_MAX 64
/* Hubs whose overflow a layer search holds back at once (more are expanded whole). */
#define HNSW_PENDING_HUBS 16

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static __thread hnsw_scratch *tls_scratch;

static void scratch_free(void *p)
{
    hnsw_scratch *s = p;
    if (!s)
        return;
    free(s->ep16);
    free(s->visit);
    free(s->touched);
    free(s->cand);
    free(s->res);
    free(s->ids);
    free(s->rp);
    free(s->dd);
    free(s->w);
    free(s->sel);
    free(s);
    tls_scratch = NULL;
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

int hnsw_scratch_reserve(hs_pair **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return HS_OK;
    size_t ncap = HS_MAX(need, *cap * 2);
    hs_pair *nb = realloc(*buf, ncap * sizeof(*nb));
    if (!nb)
        return HS_ENOMEM;
    *buf = nb;
    *cap = ncap;
    return HS_OK;
}

/* Stamps while they fit in half of L2 (512 KiB).  100k x 10 hyperbolic, saved graph, four
 * alternating pairs: best CPU-time QPS at ef=10 186-217k with the bits (two 12.5 KiB clears per
 * search) against 224-240k with stamps; 1M x 64 the same within noise either way. */
size_t hnsw_visit_stamps_upto = (size_t)1 << 18;

/* Grows the bits to ncap slots, keeping the slots set so far (a search may be under way). */
static int visit_reserve_bits(hnsw_scratch *s, size_t ncap)
{
    uint64_t *nv = realloc(s->visit, ncap / 8);
    uint32_t *nt = realloc(s->touched, (ncap / 64) * sizeof(*nt));
    if (nv)
        s->visit = nv;
    if (nt)
        s->touched = nt;
    if (!nv || !nt)
        return HS_ENOMEM;
    if (s->ep16) { /* from stamps to bits: the current search's marks carry over */
        memset(nv, 0, ncap / 8);
        for (size_t i = 0; i < s->visit_cap; i++)
            if (s->ep16[i] == s->stamp)
                nv[i >> 6] |= 1ULL << (i & 63);
        free(s->ep16);
        s->ep16 = NULL;
    } else {
        memset(nv + s->visit_cap / 64, 0, (ncap - s->visit_cap) / 8);
    }
    s->visit_cap = ncap;
    s->touch_cap = ncap / 64;
    s->ntouched = s->touch_cap + 1; /* the set grew: clear all of it next time */
    return HS_OK;
}

static int visit_reserve(hnsw_scratch *s, size_t need)
{
    if (s->visit_cap >= need)
        return HS_OK;
    size_t ncap = HS_ALIGN_UP(HS_MAX(need, s->visit_cap + s->visit_cap / 2), (size_t)64);
    /* a set that needs no more than the limit grows to the limit, not past it into bits */
    if (need <= hnsw_visit_stamps_upto && ncap > hnsw_visit_stamps_upto)
        ncap = HS_MAX(HS_ALIGN_UP(need, (size_t)64), hnsw_visit_stamps_upto & ~(size_t)63);
    if (ncap > hnsw_visit_stamps_upto || (s->visit_cap > 0 && !s->ep16))
        return visit_reserve_bits(s, ncap);
    uint16_t *ne = realloc(s->ep16, ncap * sizeof(*ne));
    if (!ne)
        return HS_ENOMEM;
    memset(ne + s->visit_cap, 0, (ncap - s->visit_cap) * sizeof(*ne));
    s->ep16 = ne;
    s->visit_cap = ncap;
    return HS_OK;
}

/* Marks slot visited; true when it already was.  Slots beyond the set must be reserved first.
 * The slots set in the bits are listed up to one per word of the set; past that, clearing the
 * whole set costs no more than clearing them one by one. */
static inline bool visit_test_set(hnsw_scratch *s, uint32_t id)
{
    if (s->ep16) {
        if (s->ep16[id] == s->stamp)
            return true;
        s->ep16[id] = s->stamp;
        return false;
    }
    uint64_t *w = &s->visit[id >> 6], bit = 1ULL << (id & 63);
    if (*w & bit)
        return true;
    *w |= bit;
    if (s->ntouched < s->touch_cap)
        s->touched[s->ntouched] = id;
    s->ntouched += s->ntouched <= s->touch_cap;
    return false;
}

/* Empties the visited set: a new stamp (the stamps cleared once in 65,535 searches), or the
 * listed words of the bits, or all of them when the list overflowed. */
static void visit_clear(hnsw_scratch *s)
{
    if (s->ep16) {
        if (++s->stamp == 0) {
            memset(s->ep16, 0, s->visit_cap * sizeof(*s->ep16));
            s->stamp = 1;
        }
        return;
    }
    if (s->ntouched > s->touch_cap) {
        memset(s->visit, 0, s->visit_cap / 8);
    } else {
        for (size_t i = 0; i < s->ntouched; i++)
            s->visit[s->touched[i] >> 6] = 0;
    }
    s->ntouched = 0;
}

hnsw_scratch *hnsw_scratch_get(const hs_hnsw *h)
{
    hnsw_scratch *s = tls_scratch;
    if (!s) {
        pthread_once(&scratch_once, scratch_key_init);
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        s->stamp = 1; /* the zeroed stamps mark nothing */
        s->ids = malloc(HNSW_MAX_LIST * sizeof(*s->ids));
        s->rp = malloc(HNSW_MAX_LIST * sizeof(*s->rp));
        s->dd = malloc(HNSW_MAX_LIST * sizeof(*s->dd));
        if (!s->ids || !s->rp || !s->dd) {
            scratch_free(s);
            return NULL;
        }
        tls_scratch = s;
        pthread_setspecific(scratch_key, s);
    }
    if (visit_reserve(s, hs_chunks_capacity(&h->links0)) != HS_OK)
        return NULL;
    return s;
}


static inline bool acceptable(const hs_hnsw *h, uint32_t slot, const hs_filter *f)
{
    if (hnsw_info(h, slot) & HS_INFO_DELETED)
        return false;
    return hs_filter_pass(f, slot);
}

static inline size_t prefetch_len(const hs_space *sp)
{
    size_t len = sp->rec_len;
    return len <= HNSW_PREFETCH_WHOLE ? len : HNSW_PREFETCH_MAX;
}

/* Starts fetching a node's list: the count and the first 31 links (two lines; a level-0 list of
 * m 16 holds 19-21 links on average), into L2 like the records (hs_prefetch_far). */
static inline void prefetch_list(const hs_hnsw *h, uint32_t id, int level)
{
    const char *l = (const char *)hnsw_list(h, id, level);
    __builtin_prefetch(l, 0, 1);
    __builtin_prefetch(l + 64, 0, 1);
}

/* Collects the unvisited neighbours of `node` on `level` among its list entries [from, to) into
 * s->ids, marking them visited and prefetching their records.  Returns their count or -1 on
 * allocation failure. */
static long collect_unvisited(const hs_hnsw *h, hnsw_scratch *s, const hnsw_recs *rv,
                              const hnsw_view *v, uint32_t from, uint32_t to)
{
    size_t plen = prefetch_len(rv->sp);
    long m = 0;
    for (uint32_t i = from; i < to; i++) {
        uint32_t id = view_get(v, i);
        if (HS_UNLIKELY(id >= s->visit_cap) &&
            visit_reserve(s, hs_chunks_capacity(&h->links0)) != HS_OK)
            return -1;
        if (visit_test_set(s, id))
            continue;
        const void *r = hs_chunks_at(rv->recs, id);
        hs_prefetch_far(r, plen);
        s->ids[m] = id;
        s->rp[m++] = r;
    }
    return m;
}

long hnsw_search_layer(const hs_hnsw *h, hnsw_scratch *s, const hnsw_recs *rv, const void *q,
                       const hs_pair *eps, size_t neps, size_t ef, int level, bool filtered,
                       const hs_filter *filter, hs_pair *out)
{
    const hs_space *sp = rv->sp;
    visit_clear(s);
    size_t nc = 0, nr = 0;
    /* nothing to reject: the acceptance check (a random access per candidate) is skipped; a
     * node deleted during the search may then be returned, as if the search ran before */
    if (filtered && !filter && __atomic_load_n(&h->ndeleted, __ATOMIC_RELAXED) == 0)
        filtered = false;
    if (hnsw_scratch_reserve(&s->res, &s->res_cap, ef + 1) != HS_OK ||
        hnsw_scratch_reserve(&s->cand, &s->cand_cap, neps + (size_t)h->cap0 + 64) != HS_OK)
        return -1;
    for (size_t i = 0; i < neps; i++) {
        uint32_t id = eps[i].id;
        /* an entry point may be newer than the visited set (the graph grows under searches) */
        if (HS_UNLIKELY(id >= s->visit_cap) &&
            visit_reserve(s, HS_MAX(hs_chunks_capacity(&h->links0), (uint64_t)id + 1)) != HS_OK)
            return -1;
        if (visit_test_set(s, id))
            continue;
        hs_minheap_push(s->cand, &nc, eps[i]);
        if (!filtered || acceptable(h, id, filter)) {
            hs_maxheap_push(s->res, &nr, eps[i]);
            if (nr > ef)
                hs_maxheap_pop(s->res, &nr);
        }
    }
    float bound = nr == ef ? s->res[0].dist : INFINITY;
    /* Hubs (level-0 lists past their inline 2m, see hnsw_graph.c) are expanded in two steps:
     * the inline links, which hold the nearest the heuristic kept, and, only when the search
     * comes back to the hub with its distance still within the bound, the overflow.  A search
     * that found closer nodes through the inline links never reads the overflow (on the uniform
     * sets the hubs near the centre cost the queries near it a tenth more evaluations); one
     * that did not, as a query below a taxonomy node of hundreds of children, still does.
     * Only in a published graph: an engaged one (trained hierarchies) needs its hubs whole
     * (verbs5 at ef=10: 0.9988 -> 0.9948 with them deferred). */
    hs_pair pend[HNSW_PENDING_HUBS];
    size_t npend = 0;
    size_t pend_max = __atomic_load_n(&h->mode, __ATOMIC_ACQUIRE) == HNSW_PLAIN ? HNSW_PENDING_HUBS
                                                                                 : 0;
    while (nc > 0 || npend > 0) {
        size_t pi = 0;
        for (size_t i = 1; i < npend; i++)
            if (hs_pair_less(pend[i], pend[pi]))
                pi = i;
        bool overflow = npend > 0 && (nc == 0 || !hs_pair_less(s->cand[0], pend[pi]));
        hs_pair c = overflow ? pend[pi] : s->cand[0];
        if (c.dist > bound)
            break;
        hnsw_view v = hnsw_view_of(h, c.id, level);
        uint32_t cnt = view_count(&v), from = 0, to = cnt;
        if (overflow) {
            pend[pi] = pend[--npend];
            from = v.nin;
        } else {
            hs_minheap_pop(s->cand, &nc);
            if (cnt > v.nin) {
                to = v.nin;
                if (npend < pend_max)
                    pend[npend++] = c;
                else
                    to = cnt;
            }
        }
        long m = collect_unvisited(h, s, rv, &v, from, to);
        if (m < 0)
            return -1;
        if (nc + (size_t)m > s->cand_cap &&
            hnsw_scratch_reserve(&s->cand, &s->cand_cap, nc + (size_t)m) != HS_OK)
            return -1;
        sp->dist_many(sp, q, s->rp, (size_t)m, s->dd);
        for (long j = 0; j < m; j++) {
            uint32_t id = s->ids[j];
            float d = s->dd[j];
            if (!(d < bound))
                continue;
            hs_pair p = {d, id};
            hs_minheap_push(s->cand, &nc, p);
            /* it may be expanded soon: start fetching its links now */
            prefetch_list(h, id, level);
            if (!filtered || acceptable(h, id, filter)) {
                hs_maxheap_push(s->res, &nr, p);
                if (nr > ef)
                    hs_maxheap_pop(s->res, &nr);
                if (nr == ef)
                    bound = s->res[0].dist;
            }
        }
        if (nc > 0)
            prefetch_list(h, s->cand[0].id, level);
    }
    hs_maxheap_sort(s->res, nr);
    memcpy(out, s->res, nr * sizeof(*out));
    return (long)nr;
}

hs_pair hnsw_descend(const hs_hnsw *h, hnsw_scratch *s, const hnsw_recs *rv, const void *q,
                     hs_pair cur, int top, int bottom)
{
    const hs_space *sp = rv->sp;
    size_t plen = prefetch_len(sp);
    visit_clear(s);
    if (cur.id < s->visit_cap)
        visit_test_set(s, cur.id);
    for (int level = top; level > bottom; level--) {
        for (;;) {
            const uint32_t *list = hnsw_list(h, cur.id, level);
            uint32_t cnt = list_count(list, h->m);
            uint32_t ids[HS_HNSW_MAX_M];
            const void *rp[HS_HNSW_MAX_M];
            float dd[HS_HNSW_MAX_M];
            uint32_t m = 0;
            for (uint32_t i = 0; i < cnt && i < HS_ARRAY_LEN(ids); i++) {
                uint32_t id = list_get(list, i);
                /* a node newer than the visited set is evaluated, not marked */
                if (id < s->visit_cap && visit_test_set(s, id))
                    continue;
                ids[m] = id;
                rp[m] = hs_chunks_at(rv->recs, id);
                hs_prefetch_far(rp[m++], plen);
            }
            sp->dist_many(sp, q, rp, m, dd);
            bool changed = false;
            for (uint32_t i = 0; i < m; i++) {
                hs_pair p = {dd[i], ids[i]};
                if (hs_pair_less(p, cur)) {
                    cur = p;
                    changed = true;
                }
            }
            if (!changed)
                break;
        }
    }
    return cur;
}

size_t hs_hnsw_search_over(const hs_hnsw *h, const hs_space *space, const hs_chunks *recs,
                           const void *q, size_t k, size_t ef, const hs_filter *filter,
                           hs_pair *out, int *rc)
{
    hnsw_recs rv = {space, recs};
    if (rc)
        *rc = HS_OK;
    uint64_t ep = hnsw_ep(h);
    if (ep == 0 || k == 0)
        return 0;
    hnsw_scratch *s = hnsw_scratch_get(h);
    if (!s)
        goto nomem;
    int top = (int)(ep >> 32) - 1;
    uint32_t entry = (uint32_t)ep;
    hs_pair cur = {space->dist(space, q, hs_chunks_at(recs, entry)), entry};
    cur = hnsw_descend(h, s, &rv, q, cur, top, 0);
    if (ef < k)
        ef = k;
    if (hnsw_scratch_reserve(&s->w, &s->w_cap, ef) != HS_OK)
        goto nomem;
    long n = hnsw_search_layer(h, s, &rv, q, &cur, 1, ef, 0, true, filter, s->w);
    if (n < 0)
        goto nomem;
    size_t take = HS_MIN((size_t)n, k);
    memcpy(out, s->w, take * sizeof(*out));
    return take;
nomem:
    if (rc)
        *rc = HS_ENOMEM;
    return 0;
}

size_t hs_hnsw_search(const hs_hnsw *h, const void *q, size_t k, size_t ef, const hs_filter *filter,
                      hs_pair *out, int *rc)
{
    return hs_hnsw_search_over(h, h->space, h->recs, q, k, ef, filter, out, rc);
}

size_t hs_exact_search(const hs_space *space, const hs_chunks *recs, const void *q,
                       const uint32_t *slots, size_t nslots, const hs_filter *filter, size_t k,
                       hs_pair *out)
{
    hs_topk top;
    hs_topk_init(&top, out, k);
    for (size_t i = 0; i < nslots; i++) {
        uint32_t slot = slots ? slots[i] : (uint32_t)i;
        if (!hs_filter_pass(filter, slot))
            continue;
        if (slots && i + 4 < nslots)
            hs_prefetch(hs_chunks_at(recs, slots[i + 4]), HS_MIN(space->rec_len, 1024u));
        hs_pair p = {space->dist(space, q, hs_chunks_at(recs, slot)), slot};
        hs_topk_push(&top, p);
    }
    return hs_topk_finish(&top);
}

size_t hs_exact_search_range(const hs_space *space, const hs_chunks *recs, const void *q,
                             uint32_t first, size_t count, const hs_filter *filter, size_t k,
                             hs_pair *out)
{
    hs_topk top;
    hs_topk_init(&top, out, k);
    for (size_t i = 0; i < count; i++) {
        uint32_t slot = first + (uint32_t)i;
        if (!hs_filter_pass(filter, slot))
            continue;
        hs_pair p = {space->dist(space, q, hs_chunks_at(recs, slot)), slot};
        hs_topk_push(&top, p);
    }
    return hs_topk_finish(&top);
}

void hs_rerank(const hs_space *space, const hs_chunks *recs, const void *q, hs_pair *cand,
               size_t n)
{
    size_t plen = HS_MIN(space->rec_len, HNSW_PREFETCH_MAX);
    for (size_t i = 0; i < n; i++)
        hs_prefetch(hs_chunks_at(recs, cand[i].id), plen);
    for (size_t i = 0; i < n; i++)
        cand[i].dist = space->dist(space, q, hs_chunks_at(recs, cand[i].id));
    hs_pairs_sort(cand, n);
}
