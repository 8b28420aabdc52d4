/* pidx.c: the payload indexes of one collection (see filter.h). */
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "util/siphash.h"

#define TAIL_MIN 1024 /* a tail longer than TAIL_MIN + sorted / 16 is merged */

typedef struct mentry {
    uint64_t h; /* 0 = free */
    roaring_bitmap_t *bm;
} mentry;

typedef struct rpair {
    int64_t v;
    uint32_t slot;
} rpair;

typedef struct rcol {
    uint64_t kh; /* 0 = free */
    rpair *p;    /* [0, sorted) ordered by (v, slot), then the unsorted tail up to n */
    size_t n, sorted, cap;
    roaring_bitmap_t *removed; /* slots removed since the last merge */
    size_t nremoved;
} rcol;

struct hs_pidx {
    mentry *m;
    size_t mn, mcap;
    rcol *r;
    size_t rn, rcap;
    hs_bm25 *text;
};

static uint64_t key_hash(const char *k, size_t kl)
{
    return hs_siphash13(0x6b6579, 0x70696478, k, kl) | 1;
}

static uint64_t pair_hash(const char *k, size_t kl, const char *v, size_t vl)
{
    return hs_siphash13(key_hash(k, kl), 0x76616c7565, v, vl) | 1;
}

hs_pidx *hs_pidx_new(void)
{
    hs_pidx *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->mcap = 64;
    x->rcap = 8;
    x->m = calloc(x->mcap, sizeof(mentry));
    x->r = calloc(x->rcap, sizeof(rcol));
    x->text = hs_bm25_new();
    if (!x->m || !x->r || !x->text) {
        hs_pidx_free(x);
        return NULL;
    }
    return x;
}

void hs_pidx_free(hs_pidx *x)
{
    if (!x)
        return;
    for (size_t i = 0; x->m && i < x->mcap; i++)
        if (x->m[i].bm)
            roaring_bitmap_free(x->m[i].bm);
    for (size_t i = 0; x->r && i < x->rcap; i++) {
        free(x->r[i].p);
        if (x->r[i].removed)
            roaring_bitmap_free(x->r[i].removed);
    }
    free(x->m);
    free(x->r);
    if (x->text)
        hs_bm25_free(x->text);
    free(x);
}

hs_bm25 *hs_pidx_text(hs_pidx *x) { return x->text; }

/* ---- Match: (key, value) -> bitmap ------------------------------------------------------- */

static size_t m_slot(const hs_pidx *x, uint64_t h)
{
    size_t mask = x->mcap - 1, i = (size_t)(h ^ h >> 29) & mask;
    while (x->m[i].h && x->m[i].h != h)
        i = (i + 1) & mask;
    return i;
}

static int m_grow(hs_pidx *x)
{
    size_t ncap = x->mcap * 2;
    mentry *nm = calloc(ncap, sizeof(mentry)), *old = x->m;
    if (!nm)
        return -1;
    size_t ocap = x->mcap;
    x->m = nm;
    x->mcap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].h)
            x->m[m_slot(x, old[i].h)] = old[i];
    free(old);
    return 0;
}

static int m_add(hs_pidx *x, uint64_t h, uint32_t slot)
{
    if ((x->mn + 1) * 4 > x->mcap * 3 && m_grow(x))
        return -1;
    mentry *e = &x->m[m_slot(x, h)];
    if (!e->h) {
        if (!(e->bm = roaring_bitmap_create()))
            return -1;
        e->h = h;
        x->mn++;
    }
    roaring_bitmap_add(e->bm, slot);
    return 0;
}

const roaring_bitmap_t *hs_pidx_match(const hs_pidx *x, const char *key, size_t key_len,
                                      const char *value, size_t value_len)
{
    const mentry *e = &x->m[m_slot(x, pair_hash(key, key_len, value, value_len))];
    return e->h && !roaring_bitmap_is_empty(e->bm) ? e->bm : NULL;
}

/* ---- Range: key -> sorted (value, slot) pairs ------------------------------------------- */

static size_t r_slot(const hs_pidx *x, uint64_t kh)
{
    size_t mask = x->rcap - 1, i = (size_t)(kh ^ kh >> 31) & mask;
    while (x->r[i].kh && x->r[i].kh != kh)
        i = (i + 1) & mask;
    return i;
}

static int r_grow(hs_pidx *x)
{
    size_t ncap = x->rcap * 2, ocap = x->rcap;
    rcol *nr = calloc(ncap, sizeof(rcol)), *old = x->r;
    if (!nr)
        return -1;
    x->r = nr;
    x->rcap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].kh)
            x->r[r_slot(x, old[i].kh)] = old[i];
    free(old);
    return 0;
}

static const rcol *r_find(const hs_pidx *x, const char *key, size_t kl)
{
    const rcol *r = &x->r[r_slot(x, key_hash(key, kl))];
    return r->kh ? r : NULL;
}

static int cmp_rpair(const void *a, const void *b)
{
    const rpair *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Sorts the tail into the run and drops the removed pairs. */
static int r_merge(rcol *r)
{
    size_t tail = r->n - r->sorted;
    qsort(r->p + r->sorted, tail, sizeof(rpair), cmp_rpair);
    rpair *out = malloc((r->n ? r->n : 1) * sizeof(rpair));
    if (!out)
        return -1;
    size_t i = 0, j = r->sorted, w = 0;
    while (i < r->sorted || j < r->n) {
        rpair p;
        if (j >= r->n || (i < r->sorted && cmp_rpair(&r->p[i], &r->p[j]) <= 0))
            p = r->p[i++];
        else
            p = r->p[j++];
        if (!r->nremoved || !roaring_bitmap_contains(r->removed, p.slot))
            out[w++] = p;
    }
    free(r->p);
    r->p = out;
    r->n = r->sorted = w;
    r->cap = r->n ? r->n : 1;
    if (r->nremoved) {
        roaring_bitmap_free(r->removed);
        r->removed = roaring_bitmap_create();
        r->nremoved = 0;
        if (!r->removed)
            return -1;
    }
    return 0;
}

static int r_add(hs_pidx *x, const char *key, size_t kl, int64_t v, uint32_t slot)
{
    if ((x->rn + 1) * 4 > x->rcap * 3 && r_grow(x))
        return -1;
    uint64_t kh = key_hash(key, kl);
    rcol *r = &x->r[r_slot(x, kh)];
    if (!r->kh) {
        if (!(r->removed = roaring_bitmap_create()))
            return -1;
        r->kh = kh;
        x->rn++;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        rpair *np = realloc(r->p, cap * sizeof(rpair));
        if (!np)
            return -1;
        r->p = np;
        r->cap = cap;
    }
    r->p[r->n++] = (rpair){v, slot};
    if (r->n - r->sorted > TAIL_MIN + r->sorted / 16)
        return r_merge(r);
    return 0;
}

static int r_remove(hs_pidx *x, const char *key, size_t kl, uint32_t slot)
{
    rcol *r = &x->r[r_slot(x, key_hash(key, kl))];
    if (!r->kh)
        return 0;
    roaring_bitmap_add(r->removed, slot);
    r->nremoved++;
    if (r->nremoved * 4 > r->n)
        return r_merge(r);
    return 0;
}

/* First index in [0, n) of the sorted run whose value is >= v. */
static size_t lower(const rcol *r, int64_t v)
{
    size_t lo = 0, hi = r->sorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->p[mid].v < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index of the sorted run whose value is > v. */
static size_t upper(const rcol *r, int64_t v)
{
    size_t lo = 0, hi = r->sorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->p[mid].v <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool in_bounds(const hs_cond *c, int64_t v)
{
    return (!c->has_gte || v >= c->gte) && (!c->has_lte || v <= c->lte);
}

static void run_bounds(const rcol *r, const hs_cond *c, size_t *lo, size_t *hi)
{
    *lo = c->has_gte ? lower(r, c->gte) : 0;
    *hi = c->has_lte ? upper(r, c->lte) : r->sorted;
    if (*hi < *lo)
        *hi = *lo;
}

uint64_t hs_pidx_range_count(const hs_pidx *x, const hs_cond *c)
{
    if (c->has_gte && c->has_lte && c->gte > c->lte)
        return 0;
    const rcol *r = r_find(x, c->key, c->key_len);
    if (!r)
        return 0;
    size_t lo, hi;
    run_bounds(r, c, &lo, &hi);
    uint64_t n = hi - lo;
    for (size_t i = r->sorted; i < r->n; i++)
        n += in_bounds(c, r->p[i].v);
    return n;
}

size_t hs_pidx_range_slots(const hs_pidx *x, const hs_cond *c, uint32_t *out, size_t cap)
{
    if (c->has_gte && c->has_lte && c->gte > c->lte)
        return 0;
    const rcol *r = r_find(x, c->key, c->key_len);
    if (!r)
        return 0;
    size_t lo, hi, n = 0;
    run_bounds(r, c, &lo, &hi);
    for (size_t i = lo; i < hi && n < cap; i++)
        out[n++] = r->p[i].slot;
    for (size_t i = r->sorted; i < r->n && n < cap; i++)
        if (in_bounds(c, r->p[i].v))
            out[n++] = r->p[i].slot;
    return n;
}

int hs_pidx_range_collect(const hs_pidx *x, const hs_cond *c, roaring_bitmap_t *out)
{
    if (c->has_gte && c->has_lte && c->gte > c->lte)
        return 0;
    const rcol *r = r_find(x, c->key, c->key_len);
    if (!r)
        return 0;
    size_t lo, hi;
    run_bounds(r, c, &lo, &hi);
    uint32_t buf[256];
    size_t nb = 0;
    for (size_t i = lo; i < hi; i++) {
        buf[nb++] = r->p[i].slot;
        if (nb == 256) {
            roaring_bitmap_add_many(out, nb, buf);
            nb = 0;
        }
    }
    for (size_t i = r->sorted; i < r->n; i++) {
        if (!in_bounds(c, r->p[i].v))
            continue;
        buf[nb++] = r->p[i].slot;
        if (nb == 256) {
            roaring_bitmap_add_many(out, nb, buf);
            nb = 0;
        }
    }
    if (nb)
        roaring_bitmap_add_many(out, nb, buf);
    if (r->nremoved)
        roaring_bitmap_andnot_inplace(out, r->removed);
    return 0;
}

/* ---- maintenance ------------------------------------------------------------------------ */

int hs_pidx_add(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n)
{
    const char *texts[64];
    size_t lens[64];
    const char **tp = n <= 64 ? texts : malloc(n * sizeof(*tp));
    size_t *lp = n <= 64 ? lens : malloc(n * sizeof(*lp));
    int rc = tp && lp ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t v;
        rc = m_add(x, pair_hash(kv[i].key, kv[i].key_len, kv[i].value, kv[i].value_len), slot);
        if (rc == 0 && hs_parse_int64(kv[i].value, kv[i].value_len, &v))
            rc = r_add(x, kv[i].key, kv[i].key_len, v, slot);
        tp[i] = kv[i].value;
        lp[i] = kv[i].value_len;
    }
    if (rc == 0 && n)
        rc = hs_bm25_put(x->text, slot, tp, lp, n);
    if (tp != texts)
        free(tp);
    if (lp != lens)
        free(lp);
    return rc;
}

int hs_pidx_remove(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        mentry *e = &x->m[m_slot(x, pair_hash(kv[i].key, kv[i].key_len, kv[i].value,
                                               kv[i].value_len))];
        if (e->h)
            roaring_bitmap_remove(e->bm, slot);
        int64_t v;
        if (hs_parse_int64(kv[i].value, kv[i].value_len, &v))
            rc = r_remove(x, kv[i].key, kv[i].key_len, slot);
    }
    if (n)
        hs_bm25_remove(x->text, slot);
    return rc;
}

uint64_t hs_pidx_memory(const hs_pidx *x)
{
    uint64_t b = sizeof(*x) + x->mcap * sizeof(mentry) + x->rcap * sizeof(rcol);
    for (size_t i = 0; i < x->mcap; i++)
        if (x->m[i].h)
            b += roaring_bitmap_size_in_bytes(x->m[i].bm) + 64;
    for (size_t i = 0; i < x->rcap; i++)
        if (x->r[i].kh)
            b += x->r[i].cap * sizeof(rpair) + roaring_bitmap_size_in_bytes(x->r[i].removed);
    /* postings (id, tf) and per-document term lists, 16 + 8 bytes per token at most */
    b += hs_bm25_tokens(x->text) * 24 + hs_bm25_docs(x->text) * 48;
    return b;
}
