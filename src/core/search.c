/*
 * search.c: vector, filtered and hybrid search (spec B3, B4, B5).
 *
 * The query is validated and processed like a stored vector; then, under the read lock:
 *
 *   plan     with conditions, the payload indexes give a superset of the matching slots
 *            (Match bitmaps of strings and typed scalars ANDed, AND / OR trees of Matches
 *            intersected / united, AND trees under `must` opened, the smallest Range counted,
 *            `should` united when every alternative is bounded) and an upper bound of their
 *            number; Prefix, NOT and trees over them are checked per point;
 *   vector   a small matching set (or a small collection) is scanned exactly; otherwise the
 *            graph is walked (on the codes when quantized, re-ranked on the stored vectors),
 *            passing through non-matching points but collecting only matching ones, and the
 *            slots not yet in the graph are scanned exactly, so every acknowledged write is
 *            visible.  A walk that finds fewer than k matches (the matching set is small or
 *            badly connected) is replaced by an exact scan of the matching set: the result
 *            count is always min(k, matching);
 *   text     (hybrid) BM25 over the matching points' metadata values, best first;
 *   fuse     (hybrid) weighted reciprocal rank fusion of both rankings.
 *
 * Every candidate is verified against the conditions with its stored metadata, so hash
 * collisions in the Match index can never leak a non-matching point; deleted and replaced
 * points are excluded by the live bitset.  Reported distances are computed in float64 and
 * results ordered by (distance, id), or by (score, distance, id) for hybrid searches.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

/* A matching set at most this large is scanned exactly (see plan_exact). */
#define EXACT_MIN 2048
/* the largest candidate pool of a quantized walk (oversampling, the ball's x4): 4x the
 * largest ef_search, about 40k x (id + distance) = 640 kB of candidates per search */
#define POOL_MAX 40000

typedef struct plan {
    const hs_search_opts *o;
    const hs_coll *c;
    const hs_where *w;      /* NULL: no condition */
    roaring_bitmap_t *cand; /* a superset of the matching slots (Match bitmaps); NULL = none */
    const hs_cond *range;   /* a Range whose slots are a smaller superset than cand */
    uint64_t range_n;       /* its pairs (hs_pidx_range_count) */
    uint64_t est;           /* an upper bound of the matching points */
    bool empty;             /* nothing can match */
    /* what cand does not decide, checked per point by plan_accept_fast: the Ranges of `must`
     * on their value columns, and on the metadata the `must` conditions the Match index
     * cannot bound (Prefix, Not, trees over them), `should` (unless cand holds it) and
     * `must_not` */
    const hs_rcol **rcols; /* the column of each Range of `must` */
    const hs_cond **rconds;
    hs_nrange *rnorm;      /* its bounds */
    size_t nranges;
    hs_cond *rest_must;    /* the `must` conditions of rest */
    hs_where rest;
    bool full_check; /* verify every condition during the walk (after a Match hash collision) */
} plan;

/* ---- planning ----------------------------------------------------------------------------- */

static void narrow(plan *p, roaring_bitmap_t *bm)
{
    if (!p->cand) {
        p->cand = bm;
    } else {
        roaring_bitmap_and_inplace(p->cand, bm);
        roaring_bitmap_free(bm);
    }
}

static void plan_nothing(plan *p)
{
    p->empty = true;
    p->est = 0;
}

/* What the Match index says about a condition. */
typedef enum bound_kind {
    BOUND_NONE,     /* nothing: it is checked on the metadata only */
    BOUND_SUPERSET, /* *bm holds every matching slot and others: check the metadata too */
    BOUND_EXACT,    /* *bm holds exactly the matching slots (up to hash collisions) */
} bound_kind;

/* A bitmap of the slots that can satisfy c (*bm malloc'd unless BOUND_NONE): a Match is its
 * bitmap, AND intersects what its conditions give, OR unites them when every one gives one;
 * Range, Prefix and Not give nothing here.  Returns the kind, or -1 (out of memory). */
static int cond_bound(const hs_pidx *x, const hs_cond *c, roaring_bitmap_t **bm)
{
    *bm = NULL;
    if (c->kind == HS_COND_MATCH) {
        const roaring_bitmap_t *m =
            c->typed ? hs_pidx_match_value(x, c->key, c->key_len, c->typed)
                     : hs_pidx_match(x, c->key, c->key_len, c->value, c->value_len);
        *bm = m ? roaring_bitmap_copy(m) : roaring_bitmap_create();
        return *bm ? BOUND_EXACT : -1;
    }
    if (c->kind != HS_COND_AND && c->kind != HS_COND_OR)
        return BOUND_NONE;
    bool and = c->kind == HS_COND_AND, exact = true;
    for (size_t i = 0; i < c->nsub; i++) {
        roaring_bitmap_t *sub;
        int k = cond_bound(x, &c->sub[i], &sub);
        if (k < 0 || (k == BOUND_NONE && !and)) {
            if (*bm)
                roaring_bitmap_free(*bm);
            *bm = NULL;
            return k < 0 ? -1 : BOUND_NONE;
        }
        exact = exact && k == BOUND_EXACT;
        if (k == BOUND_NONE)
            continue;
        if (!*bm) {
            *bm = sub;
            continue;
        }
        if (and)
            roaring_bitmap_and_inplace(*bm, sub);
        else
            roaring_bitmap_or_inplace(*bm, sub);
        roaring_bitmap_free(sub);
    }
    if (!*bm)
        return BOUND_NONE;
    return exact ? BOUND_EXACT : BOUND_SUPERSET;
}

/* The `must` conditions with AND trees opened (an AND under `must` is more `must`): appends
 * them to out (NULL: only counts); returns how many. */
static size_t must_leaves(const hs_cond *c, size_t n, const hs_cond **out, size_t at)
{
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind == HS_COND_AND)
            at = must_leaves(c[i].sub, c[i].nsub, out, at);
        else if (out)
            out[at++] = &c[i];
        else
            at++;
    }
    return at;
}

/* The `should` group as one OR condition's bound. */
static int should_bound(const hs_pidx *x, const hs_where *w, roaring_bitmap_t **bm)
{
    hs_cond any = {.kind = HS_COND_OR, .sub = w->should, .nsub = w->nshould};
    return w->nshould ? cond_bound(x, &any, bm) : BOUND_NONE;
}

static int plan_must(plan *p, const hs_pidx *x, const hs_cond **must, size_t nmust);

/* Fills p from the conditions; the caller holds the read lock and c->pidx is built.
 * What the Match index bounds (Matches, and AND / OR trees of them) is intersected into cand
 * (the `should` group united first when every alternative is bounded); a Range is only
 * counted (binary search), and becomes the source of an exact scan when it is the smallest
 * superset.  Everything else is verified per point.  Returns HS_OK or HS_ENOMEM. */
static int plan_make(plan *p, const hs_coll *c, const hs_where *w)
{
    p->est = c->nlive;
    if (!w || hs_where_size(w) == 0)
        return HS_OK;
    p->w = w;
    if (hs_where_empty(w)) {
        plan_nothing(p);
        return HS_OK;
    }
    const hs_pidx *x = c->pidx;
    size_t nmust = must_leaves(w->must, w->nmust, NULL, 0), nm = nmust ? nmust : 1;
    const hs_cond **must = malloc(nm * sizeof(*must));
    p->rcols = malloc(nm * sizeof(*p->rcols));
    p->rconds = malloc(nm * sizeof(*p->rconds));
    p->rnorm = malloc(nm * sizeof(*p->rnorm));
    p->rest_must = malloc(nm * sizeof(*p->rest_must));
    if (!must || !p->rcols || !p->rconds || !p->rnorm || !p->rest_must) {
        free(must);
        return HS_ENOMEM;
    }
    must_leaves(w->must, w->nmust, must, 0);
    int rc = plan_must(p, x, must, nmust);
    free(must);
    if (rc != HS_OK || p->empty)
        return rc;
    roaring_bitmap_t *sb;
    int sk = should_bound(x, w, &sb);
    if (sk < 0)
        return HS_ENOMEM;
    if (sk != BOUND_NONE)
        narrow(p, sb);
    p->rest = (hs_where){p->rest_must, p->rest.nmust, sk == BOUND_EXACT ? NULL : w->should,
                         sk == BOUND_EXACT ? 0 : w->nshould, w->must_not, w->nmust_not};
    uint64_t cand_n = p->cand ? roaring_bitmap_get_cardinality(p->cand) : UINT64_MAX;
    if (cand_n == 0 || p->range_n == 0) {
        plan_nothing(p);
        return HS_OK;
    }
    if (p->range && p->range_n < cand_n) {
        p->est = HS_MIN(p->range_n, p->est);
    } else {
        p->range = NULL;
        p->est = HS_MIN(cand_n, p->est);
    }
    return HS_OK;
}

/* The `must` part of plan_make: must[0..nmust) (AND trees opened). */
static int plan_must(plan *p, const hs_pidx *x, const hs_cond **must, size_t nmust)
{
    uint64_t range_n = UINT64_MAX;
    size_t nrest = 0;
    for (size_t i = 0; i < nmust; i++) {
        const hs_cond *cd = must[i];
        if (cd->kind == HS_COND_RANGE) {
            const hs_rcol *col = hs_pidx_rcol(x, cd->key, cd->key_len);
            if (!col) { /* no value of the key is a number */
                plan_nothing(p);
                return HS_OK;
            }
            uint64_t n = hs_pidx_range_count(x, cd);
            if (n < range_n) {
                range_n = n;
                p->range = cd;
            }
            hs_range_norm(cd, &p->rnorm[p->nranges]);
            p->rconds[p->nranges] = cd;
            p->rcols[p->nranges++] = col;
            continue;
        }
        roaring_bitmap_t *bm;
        int k = cond_bound(x, cd, &bm);
        if (k < 0)
            return HS_ENOMEM;
        if (k != BOUND_NONE)
            narrow(p, bm);
        if (k != BOUND_EXACT)
            p->rest_must[nrest++] = *cd;
    }
    p->rest.nmust = nrest;
    p->range_n = range_n;
    return HS_OK;
}

/* Whether slot satisfies the conditions (the live bit is checked by the filter's allow set),
 * every one verified on the stored metadata (the Match index is a superset). */
static bool plan_accept(void *ctx, uint32_t slot)
{
    const plan *p = ctx;
    const uint8_t *mem = *(uint8_t *const *)hs_chunks_at(&p->c->meta, slot);
    if (p->w && !hs_where_match_blob(p->w, mem))
        return false;
    if (p->o->accept) {
        hs_point_view v;
        hs_coll_view(p->c, slot, NULL, &v);
        return p->o->accept(p->o->accept_ctx, &v) != 0;
    }
    return true;
}

/* plan_accept for scans and walks, which test many points: Match conditions by the bitmap,
 * Ranges by their value columns, the rest on the metadata.  The bitmap is a superset (hash
 * collisions), so the results of a search using this are verified with plan_accept
 * afterwards (verify_results). */
static bool plan_accept_fast(void *ctx, uint32_t slot)
{
    const plan *p = ctx;
    if (p->full_check)
        return plan_accept(ctx, slot);
    if (p->cand && !roaring_bitmap_contains(p->cand, slot))
        return false;
    const uint8_t *mem = *(uint8_t *const *)hs_chunks_at(&p->c->meta, slot);
    for (size_t i = 0; i < p->nranges; i++) {
        int in = hs_rcol_check(p->rcols[i], slot, &p->rnorm[i]);
        if (in == 0 || (in < 0 && !hs_cond_match_blob(p->rconds[i], mem)))
            return false;
    }
    if (hs_where_size(&p->rest) && !hs_where_match_blob(&p->rest, mem))
        return false;
    if (p->o->accept) {
        hs_point_view v;
        hs_coll_view(p->c, slot, NULL, &v);
        return p->o->accept(p->o->accept_ctx, &v) != 0;
    }
    return true;
}

/* Whether every candidate found with plan_accept_fast passes the full check; when one does not
 * (a Match hash collision), full checking is switched on and the caller searches again. */
static bool verify_results(const plan *p, const hs_pair *cand, size_t n)
{
    if (p->full_check)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!plan_accept((void *)p, cand[i].id)) {
            ((plan *)p)->full_check = true;
            return false;
        }
    return true;
}

/* ---- the vector branch -------------------------------------------------------------------- */

/* Reported distance of a stored record to the processed query record (both full space). */
static double reported(const hs_coll *c, const void *rec, const void *q)
{
    const hs_space *sp = &c->full;
    double au = 0, aq = 0;
    if (sp->metric == HS_METRIC_POINCARE) {
        au = hs_space_alpha(sp, rec);
        aq = hs_space_alpha(sp, q);
    }
    if (c->f64)
        return hs_vec_distance_f64(sp->k, sp->metric, rec, q, sp->dim, au, aq);
    return hs_vec_distance_f32(sp->k, sp->metric, rec, q, sp->dim, au, aq);
}

typedef struct ranked {
    double d;
    uint64_t id;
    uint32_t slot;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Encodes the processed query for the full and traversal spaces. */
static int encode_query(const hs_coll *c, const double *query, void *qfull, void *qtrav,
                        hs_error *err)
{
    size_t dim = c->cfg.dimension;
    double *tmp = malloc(dim * sizeof(double));
    if (!tmp)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    memcpy(tmp, query, dim * sizeof(double));
    if (c->cfg.metric == HS_METRIC_COSINE)
        hs_vec_normalize_f64(tmp, dim);
    if (!c->f64) /* stored as float32: the processed query is rounded the same way */
        for (size_t i = 0; i < dim; i++)
            tmp[i] = (double)(float)tmp[i];
    hs_space_encode_f64(&c->full, tmp, qfull);
    if (c->quantized && c->cfg.metric == HS_METRIC_LORENTZ) { /* coded as its image in the ball */
        double *buf = malloc(dim * sizeof(double));
        if (!buf) {
            free(tmp);
            return hs_error_set(err, HS_ENOMEM, "Out of memory");
        }
        hs_coll_encode_code(c, tmp, qtrav, buf);
        free(buf);
    } else if (c->quantized) {
        hs_space_encode_f64(&c->trav, tmp, qtrav);
    }
    free(tmp);
    return HS_OK;
}

/* Exact scan of the planned set: the Range's slots, the bitmap's, or every slot. */
static size_t scan_exact(const hs_coll *c, const plan *p, const void *qfull, const hs_filter *f,
                         size_t k, hs_pair *cand, int *rc)
{
    uint32_t nslots = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
    const hs_chunks *full = hs_segset_chunks(c->vecs);
    uint32_t *slots = NULL;
    uint64_t n = nslots;
    if (p->cand || p->range) {
        n = p->range ? p->range_n : roaring_bitmap_get_cardinality(p->cand);
        if (!(slots = malloc((n ? n : 1) * sizeof(uint32_t)))) {
            *rc = HS_ENOMEM;
            return 0;
        }
        if (p->range) /* removed slots are dead: the filter's live set drops them */
            n = hs_pidx_range_slots(c->pidx, p->range, slots, n);
        else
            roaring_bitmap_to_uint32_array(p->cand, slots);
    }
    hs_filter fs = *f;
    if (fs.accept)
        fs.accept = plan_accept_fast;
    /* the narrow copy gives the same distances without the full records' pages */
    const hs_space *sp = c->narrow_on ? &c->narrow_sp : &c->full;
    const hs_chunks *recs = c->narrow_on ? &c->narrow : full;
    size_t m = hs_exact_search(sp, recs, qfull, slots, n, &fs, k, cand);
    if (fs.accept && !verify_results(p, cand, m))
        m = hs_exact_search(sp, recs, qfull, slots, n, f, k, cand);
    free(slots);
    return m;
}

/* The graph walk: on the codes of a quantized collection (through hs_hnsw_search_over where
 * the graph is built on the full vectors), on the full vectors otherwise or when `exact` (only
 * where the graph is built on them). */
static size_t walk(const hs_coll *c, const void *qfull, const void *qtrav, bool exact,
                   size_t want, size_t ef, const hs_filter *f, hs_pair *cand, int *rc)
{
    if (c->narrow_on) /* the full query against the narrow copies: the same distances */
        return hs_hnsw_search_over(c->graph, &c->narrow_sp, &c->narrow, qfull, want, ef, f, cand,
                                   rc);
    if (c->quantized && !exact && !hs_coll_codes_graph(c))
        return hs_hnsw_search_over(c->graph, &c->trav, &c->codes, qtrav, want, ef, f, cand, rc);
    return hs_hnsw_search(c->graph, c->quantized && !exact ? qtrav : qfull, want, ef, f, cand, rc);
}

/* The best candidates (at most want + k, unsorted by reported distance) into cand. */
static size_t gather(const hs_coll *c, const plan *p, const void *qfull, const void *qtrav,
                     bool exact, size_t k, size_t ef, const hs_filter *f, hs_pair *cand,
                     size_t want, size_t exact_limit, size_t *walked, int *rc)
{
    *walked = 0;
    if (p->empty)
        return 0;
    /* the watermark is read before the graph search: every slot below it was complete in the
     * graph before the search began, every slot from it on is scanned exactly */
    uint32_t low = __atomic_load_n(&c->index_low, __ATOMIC_ACQUIRE);
    uint32_t nslots = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
    const hs_chunks *full = hs_segset_chunks(c->vecs);
    bool filtered = f->accept != NULL;
    if (c->nlive <= c->db->opts.exact_threshold || (filtered && p->est <= exact_limit))
        return scan_exact(c, p, qfull, f, k, cand, rc);
    hs_filter fw = *f;
    if (filtered)
        fw.accept = plan_accept_fast;
    size_t n = walk(c, qfull, qtrav, exact, want, ef, &fw, cand, rc);
    /* a Match hash collision let a non-matching point through: walk again, verifying all */
    if (filtered && !verify_results(p, cand, n))
        n = walk(c, qfull, qtrav, exact, want, ef, f, cand, rc);
    /* the walk found fewer than k matches: answer exactly instead */
    if (filtered && n < k)
        return scan_exact(c, p, qfull, f, k, cand, rc);
    *walked = n; /* cand[0 .. n) in the walk's order (ascending traversal distance) */
    /* (a quantized walk's candidates are ranked by their exact distances in vector_branch) */
    if (low < nslots) {
        size_t nb = c->narrow_on ? hs_exact_search_range(&c->narrow_sp, &c->narrow, qfull, low,
                                                         nslots - low, f, k, cand + n)
                                 : hs_exact_search_range(&c->full, full, qfull, low, nslots - low,
                                                         f, k, cand + n);
        /* a slot may be in both lists when it was inserted while we searched */
        size_t graph_n = n, end = n + nb;
        for (size_t i = graph_n; i < end; i++) {
            bool dup = false;
            for (size_t j = 0; j < graph_n && !dup; j++)
                dup = cand[j].id == cand[i].id;
            if (!dup)
                cand[n++] = cand[i];
        }
    }
    return n;
}

/* Whether the codes missed: the exact best k (k <= n) of a quantized walk's pool r[0 .. n), its
 * first `walked` entries in the walk's order, include one from the pool's second half (the
 * codes did not rank it near the head).  One sort of a copy; false without memory. */
static bool codes_missed(const ranked *r, size_t n, size_t walked, size_t k)
{
    ranked *tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        tmp[i] = r[i];
        tmp[i].slot = (uint32_t)i; /* its position in the pool */
    }
    qsort(tmp, n, sizeof(*tmp), cmp_ranked);
    bool missed = false;
    for (size_t i = 0; i < k && !missed; i++) /* (the unindexed tail is scanned, not walked) */
        missed = tmp[i].slot < walked && tmp[i].slot >= walked / 2;
    free(tmp);
    return missed;
}

/* The candidates' exact distances into r (from the file for a quantized collection). */
static void rank_exact(const hs_coll *c, const void *qfull, const hs_pair *cand, size_t n,
                       ranked *r)
{
    const hs_chunks *full = hs_segset_chunks(c->vecs);
    /* one record read at a time (a failed allocation reads through the mapping instead) */
    size_t len = HS_ALIGN_UP(c->full.rec_len, 64);
    uint8_t *buf = hs_coll_walks_off_vectors(c) ? aligned_alloc(64, len) : NULL;
    for (size_t i = 0; i < n; i++) {
        const void *rec;
        if (buf && c->narrow_on) { /* the full record, decoded from its exact copy */
            hs_coll_narrow_decode(c, cand[i].id, buf);
            rec = buf;
        } else {
            /* a quantized collection's records are read from the file, not through the
             * mapping: the kernel's fault-around would map 64 KiB around each (the whole vector
             * file after a few seconds of queries); the codes serve the walk */
            rec = buf && hs_segset_pread(c->vecs, cand[i].id, buf) == HS_OK
                      ? (const void *)buf
                      : (const void *)hs_chunks_at(full, cand[i].id);
        }
        r[i].d = reported(c, rec, qfull);
        r[i].id = *(const uint64_t *)hs_chunks_at(&c->slot_ids, cand[i].id);
        r[i].slot = cand[i].id;
    }
    free(buf);
}

/* Walks per window of the codes' check, and the misses in a window above which the collection
 * walks its full vectors (a quarter: measured at ef_search 10, the pool's smallest, the uniform
 * sets miss 7-9 % of their walks and verbs10 0.2 %, the taxonomy 94 %; at ef_search 100 0 % and
 * 70 %).  While it walks the full vectors, one walk in WALK_SAMPLE still checks the codes. */
#define WALK_WINDOW 64
#define WALK_FULL_MISSES (WALK_WINDOW / 4)
#define WALK_SAMPLE 16

/* Counts a checked walk of the codes; at the end of a window decides whether walks go to the
 * full vectors from now on. */
static void note_walk(hs_coll *c, bool missed)
{
    uint64_t v = __atomic_add_fetch(&c->walk_window, (1ULL << 32) | missed, __ATOMIC_RELAXED);
    if (v >> 32 != WALK_WINDOW)
        return;
    __atomic_sub_fetch(&c->walk_window, v, __ATOMIC_RELAXED);
    uint32_t misses = (uint32_t)v;
    bool full = misses > WALK_FULL_MISSES;
    if (__atomic_exchange_n(&c->walk_full, full, __ATOMIC_RELAXED) != full)
        hs_log(HS_LOG_INFO, "collection '%s': %u of %d walks on the codes missed: searches walk "
               "the %s", c->e->name, misses, WALK_WINDOW, full ? "full vectors" : "codes again");
}

/*
 * The vector ranking: the best k matching points by (distance, id) into rk (room for ef + k);
 * returns the count.  In the ball a quantized collection's graph is built on the full vectors
 * and walked on the codes.  When the exact best k of that walk's pool include one from the
 * pool's second half, the codes did not order the neighbours (near the boundary: a synthetic
 * taxonomy at 1 - |x| ~ 1e-6 gave recall@10 0.61 at ef_search 100 on the codes, where spec B4.2
 * asks for 0.95) and the graph is walked again on the full vectors (through the mapping) at the
 * request's ef.  A miss can also go unseen (the walk reached the wrong cousins, which it ranks
 * well): where more than a quarter of a window of walks miss, every walk goes to the full
 * vectors until a window of sampled walks says otherwise.  Where the codes rank (trained
 * hierarchies, the uniform sets) the second walk runs rarely and only for the query that missed.
 */
static size_t vector_branch(hs_coll *c, const plan *p, const void *qfull, const void *qtrav,
                            size_t k, size_t ef, size_t exact_limit, ranked *rk, int *rc)
{
    bool ball = c->quantized && !hs_coll_codes_graph(c);
    bool filtered = p->w || p->o->accept;
    hs_filter f = {.allow = c->live,
                   .allow_n = (uint32_t)HS_MIN(c->live_words * 64, (size_t)UINT32_MAX),
                   .accept = filtered ? plan_accept : NULL,
                   .ctx = (void *)p};
    size_t want = c->quantized ? ef : k;
    size_t ef_full = HS_MAX(p->o->ef ? p->o->ef : hs_coll_ef_search(c), k);
    hs_pair *cand = malloc((want + k) * sizeof(*cand));
    if (!cand) {
        *rc = HS_ENOMEM;
        return 0;
    }
    size_t walked, n = 0;
    /* walking the full vectors: one walk in WALK_SAMPLE checks the codes first */
    bool full = ball && __atomic_load_n(&c->walk_full, __ATOMIC_RELAXED);
    bool sample = !full || __atomic_fetch_add(&c->walks, 1, __ATOMIC_RELAXED) % WALK_SAMPLE == 0;
    bool again = full;
    if (sample) {
        n = gather(c, p, qfull, qtrav, false, k, ef, &f, cand, want, exact_limit, &walked, rc);
        rank_exact(c, qfull, cand, n, rk);
        if (ball && *rc == HS_OK && walked == want && walked >= 4 * k) {
            bool missed = codes_missed(rk, n, walked, k);
            note_walk(c, missed);
            again = again || missed;
        }
    }
    if (again && *rc == HS_OK) {
        n = gather(c, p, qfull, qtrav, true, k, ef_full, &f, cand, k, exact_limit, &walked, rc);
        rank_exact(c, qfull, cand, n, rk);
    }
    free(cand);
    if (n > 1)
        qsort(rk, n, sizeof(*rk), cmp_ranked);
    return HS_MIN(n, k);
}

/* ---- the text branch and fusion ------------------------------------------------------------ */

typedef struct texthit {
    uint64_t id;
    uint32_t slot;
    double score;
} texthit;

static int cmp_text(const void *a, const void *b)
{
    const texthit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The L best matching points by BM25 (> 0) into *out (malloc'd); returns the count. */
static size_t text_branch(const hs_coll *c, const plan *p, const char *q, size_t qlen, size_t L,
                          texthit **out, int *rc)
{
    *out = NULL;
    if (p->empty)
        return 0;
    hs_bm25_hit *h;
    size_t n;
    /* unranked: the ranking below breaks ties by point id, not by slot */
    if (hs_bm25_scores(hs_pidx_text(c->pidx), c->nlive, q, qlen, &h, &n) != 0) {
        *rc = HS_ENOMEM;
        return 0;
    }
    texthit *t = malloc((n ? n : 1) * sizeof(*t));
    if (!t) {
        free(h);
        *rc = HS_ENOMEM;
        return 0;
    }
    size_t m = 0;
    bool filtered = p->w || p->o->accept;
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = (uint32_t)h[i].id;
        if (!hs_live(c, slot) || (filtered && !plan_accept((void *)p, slot)))
            continue;
        t[m++] = (texthit){*(const uint64_t *)hs_chunks_at(&c->slot_ids, slot), slot,
                           h[i].score};
    }
    free(h);
    if (m > 1)
        qsort(t, m, sizeof(*t), cmp_text);
    *out = t;
    return HS_MIN(m, L);
}

typedef struct idslot {
    uint64_t id;
    uint32_t slot;
} idslot;

static int cmp_idslot(const void *a, const void *b)
{
    uint64_t x = ((const idslot *)a)->id, y = ((const idslot *)b)->id;
    return x < y ? -1 : x > y;
}

typedef struct fuse_ctx {
    const hs_coll *c;
    const void *qfull;
    const idslot *map; /* every candidate's slot, sorted by id */
    size_t nmap;
} fuse_ctx;

static const idslot *find_slot(const fuse_ctx *fc, uint64_t id)
{
    idslot key = {id, 0};
    return bsearch(&key, fc->map, fc->nmap, sizeof(idslot), cmp_idslot);
}

static int text_distance(void *ctx, uint64_t id, double *d)
{
    const fuse_ctx *fc = ctx;
    const idslot *e = find_slot(fc, id);
    if (!e)
        return HS_EINTERNAL;
    *d = reported(fc->c, hs_chunks_at(hs_segset_chunks(fc->c->vecs), e->slot), fc->qfull);
    return HS_OK;
}

/* Fuses the two rankings into out[0..k) and reports each result; returns the count. */
static size_t fuse(const hs_coll *c, const hs_search_opts *o, const void *qfull, const ranked *rk,
                   size_t nv, const texthit *t, size_t nt, size_t k, hs_hit *out, int *rc)
{
    uint64_t *vid = malloc((nv ? nv : 1) * sizeof(uint64_t));
    double *vd = malloc((nv ? nv : 1) * sizeof(double));
    hs_bm25_hit *th = malloc((nt ? nt : 1) * sizeof(*th));
    idslot *map = malloc((nv + nt ? nv + nt : 1) * sizeof(*map));
    hs_fused *fz = malloc(k * sizeof(*fz));
    size_t n = 0;
    if (!vid || !vd || !th || !map || !fz) {
        *rc = HS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nv; i++) {
        vid[i] = rk[i].id;
        vd[i] = rk[i].d;
        map[i] = (idslot){rk[i].id, rk[i].slot};
    }
    for (size_t i = 0; i < nt; i++) {
        th[i] = (hs_bm25_hit){t[i].id, t[i].score};
        map[nv + i] = (idslot){t[i].id, t[i].slot};
    }
    qsort(map, nv + nt, sizeof(*map), cmp_idslot);
    fuse_ctx fc = {c, qfull, map, nv + nt};
    int frc = hs_fuse(vid, vd, nv, th, nt, o->alpha, k, text_distance, &fc, fz, &n);
    if (frc != 0) {
        *rc = frc == -1 ? HS_ENOMEM : frc;
        n = 0;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (hs_hit){fz[i].id, fz[i].distance, fz[i].score};
        if (o->on_result) {
            hs_point_view v;
            hs_coll_view(c, find_slot(&fc, fz[i].id)->slot, NULL, &v);
            o->on_result(o->result_ctx, i, &v);
        }
    }
out:
    free(vid);
    free(vd);
    free(th);
    free(map);
    free(fz);
    return n;
}

/* ---- the call ------------------------------------------------------------------------------ */

static int check_opts(const hs_search_opts *o, hs_error *err)
{
    if (o->where) {
        int rc = hs_where_check(o->where, err);
        if (rc != HS_OK)
            return rc;
    }
    int rc = hs_check_oversampling(o->oversampling, err);
    if (rc != HS_OK)
        return rc;
    if (o->hybrid && !(o->alpha >= 0.0 && o->alpha <= 1.0)) {
        hs_error_set(err, HS_ERANGE, "hybrid_alpha must be between 0 and 1 (got %g)", o->alpha);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_HYBRID_ALPHA, 0, o->alpha, 0, 1);
    }
    return HS_OK;
}

/* Runs the search under the read lock; *n_out gets the result count. */
static int search_locked(hs_coll *c, const hs_search_opts *o, const void *qfull,
                         const void *qtrav, size_t k, size_t ef, hs_hit *out, size_t *n_out)
{
    plan p = {.o = o, .c = c};
    /* an exact scan costs a distance per matching point, a filtered walk roughly ef /
     * selectivity visits of ~2m neighbours each: below about sqrt(ef * 2m * n) matches, and
     * always below EXACT_MIN, scanning is cheaper */
    size_t exact_limit = (size_t)sqrt((double)ef * 2.0 * c->cfg.m * (double)c->nlive);
    exact_limit = HS_MAX(exact_limit, (size_t)EXACT_MIN);
    int rc = plan_make(&p, c, o->where);
    size_t depth = o->hybrid ? hs_fuse_depth(k) : k;
    ranked *rk = malloc(((c->quantized ? HS_MAX(ef, depth) : depth) + depth) * sizeof(*rk));
    if (!rk)
        rc = HS_ENOMEM;
    size_t nv = 0, nt = 0, n = 0;
    texthit *t = NULL;
    if (rc == HS_OK)
        nv = vector_branch(c, &p, qfull, qtrav, depth, HS_MAX(ef, depth), exact_limit, rk, &rc);
    if (rc == HS_OK && o->hybrid)
        nt = text_branch(c, &p, o->text, o->text_len, depth, &t, &rc);
    if (rc == HS_OK && o->hybrid) {
        n = fuse(c, o, qfull, rk, nv, t, nt, k, out, &rc);
    } else if (rc == HS_OK) {
        n = HS_MIN(nv, k);
        for (size_t i = 0; i < n; i++) {
            out[i] = (hs_hit){rk[i].id, rk[i].d, 0.0};
            if (o->on_result) {
                hs_point_view v;
                hs_coll_view(c, rk[i].slot, NULL, &v);
                o->on_result(o->result_ctx, i, &v);
            }
        }
    }
    if (p.cand)
        roaring_bitmap_free(p.cand);
    free(p.rcols);
    free(p.rconds);
    free(p.rnorm);
    free(p.rest_must);
    free(rk);
    free(t);
    *n_out = n;
    return rc;
}

int hs_search(hs_collection *h, const double *query, size_t dim, const hs_search_opts *opts,
              hs_hit *out, size_t *n_out, hs_error *err)
{
    *n_out = 0;
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK)
        return rc;
    if ((rc = hs_validate_vector(c, query, dim, true, err)) != HS_OK)
        return rc;
    hs_search_opts def;
    if (!opts) {
        hs_search_opts_init(&def);
        opts = &def;
    }
    if ((rc = check_opts(opts, err)) != HS_OK)
        return rc;
    bool indexed = (opts->where && hs_where_size(opts->where)) || opts->hybrid;
    size_t k = opts->k ? opts->k : 10;
    size_t ef = HS_MAX(opts->ef ? opts->ef : hs_coll_ef_search(c), k);
    if (c->quantized) {
        /* oversampling: the walk on the codes keeps at least ceil(o * k) candidates, all
         * re-scored on the full vectors; at most POOL_MAX from the factor (as the ball's x4) */
        double o = opts->oversampling > 0 ? opts->oversampling : hs_coll_oversampling(c);
        double want = ceil(o * (double)k - 1e-9);
        ef = HS_MAX(ef, want < (double)POOL_MAX ? (size_t)want : (size_t)POOL_MAX);
        /* codes of points near the ball's boundary rank coarsely: a pool 4x as deep */
        if (!hs_coll_codes_graph(c))
            ef = HS_MIN(ef * 4, (size_t)POOL_MAX);
    }
    void *qfull = calloc(1, c->full.rec_len), *qtrav = calloc(1, c->trav.rec_len);
    if (!qfull || !qtrav)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK)
        rc = encode_query(c, query, qfull, qtrav, err);
    while (rc == HS_OK) {
        pthread_rwlock_rdlock(&c->rw);
        bool ready = !indexed || c->pidx;
        if (ready)
            rc = search_locked(c, opts, qfull, qtrav, k, ef, out, n_out);
        pthread_rwlock_unlock(&c->rw);
        if (ready) {
            if (rc != HS_OK)
                hs_error_set(err, rc, "Search of collection '%s' failed: %s", c->e->name,
                             hs_rc_message(rc));
            break;
        }
        /* not built since the load, or dropped by a write that ran out of memory */
        rc = hs_coll_pidx(c, err);
    }
    free(qfull);
    free(qtrav);
    return rc;
}
