/* pidx.c: the payload indexes of one collection (see filter.h). */
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "util/bytes.h"
#include "util/numfmt.h"
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

typedef struct hs_rcol {
    uint64_t kh; /* 0 = free */
    rpair *p;    /* [0, sorted) ordered by (v, slot), then the unsorted tail up to n */
    size_t n, sorted, cap;
    roaring_bitmap_t *removed; /* slots removed since the last merge */
    size_t nremoved;
    /* the same values by slot, for checking one point in O(1): val[slot] is meaningful when
     * bit slot of has is set (a removed slot keeps its bit: it is dead anyway) */
    int64_t *val;
    uint64_t *has;
    size_t ncol; /* slots val and has can hold (a multiple of 64) */
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
        free(x->r[i].val);
        free(x->r[i].has);
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

/* The pairs of r in (value, slot) order, removed ones left out: the run merged with a sorted
 * copy of the tail (r is not changed).  *out is malloc'd; returns the count, or -1. */
static long r_merged(const rcol *r, rpair **out)
{
    size_t tail = r->n - r->sorted;
    rpair *t = malloc((tail ? tail : 1) * sizeof(rpair));
    rpair *m = malloc((r->n ? r->n : 1) * sizeof(rpair));
    if (!t || !m) {
        free(t);
        free(m);
        return -1;
    }
    memcpy(t, r->p + r->sorted, tail * sizeof(rpair));
    qsort(t, tail, sizeof(rpair), cmp_rpair);
    size_t i = 0, j = 0, w = 0;
    while (i < r->sorted || j < tail) {
        rpair p;
        if (j >= tail || (i < r->sorted && cmp_rpair(&r->p[i], &t[j]) <= 0))
            p = r->p[i++];
        else
            p = t[j++];
        if (!r->nremoved || !roaring_bitmap_contains(r->removed, p.slot))
            m[w++] = p;
    }
    free(t);
    *out = m;
    return (long)w;
}

/* Sorts the tail into the run and drops the removed pairs. */
static int r_merge(rcol *r)
{
    rpair *m;
    long w = r_merged(r, &m);
    if (w < 0)
        return -1;
    free(r->p);
    r->p = m;
    r->n = r->sorted = (size_t)w;
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

/* Records v as slot's value in the column. */
static int col_set(rcol *r, uint32_t slot, int64_t v)
{
    if (slot >= r->ncol) {
        size_t n = r->ncol ? r->ncol : 1024;
        while (n <= slot)
            n *= 2;
        int64_t *nv = realloc(r->val, n * sizeof(int64_t));
        if (!nv)
            return -1;
        r->val = nv;
        uint64_t *nh = realloc(r->has, n / 64 * sizeof(uint64_t));
        if (!nh)
            return -1;
        memset(nh + r->ncol / 64, 0, (n - r->ncol) / 64 * sizeof(uint64_t));
        r->has = nh;
        r->ncol = n;
    }
    r->val[slot] = v;
    r->has[slot >> 6] |= 1ULL << (slot & 63);
    return 0;
}

const hs_rcol *hs_pidx_rcol(const hs_pidx *x, const char *key, size_t key_len)
{
    const rcol *r = &x->r[r_slot(x, key_hash(key, key_len))];
    return r->kh ? r : NULL;
}

bool hs_rcol_value(const hs_rcol *r, uint32_t slot, int64_t *v)
{
    if (slot >= r->ncol || !(r->has[slot >> 6] >> (slot & 63) & 1))
        return false;
    *v = r->val[slot];
    return true;
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
    if (col_set(r, slot, v))
        return -1;
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
            b += x->r[i].cap * sizeof(rpair) + roaring_bitmap_size_in_bytes(x->r[i].removed) +
                 x->r[i].ncol * sizeof(int64_t) + x->r[i].ncol / 8;
    /* postings (id, tf) and per-document term lists, 16 + 8 bytes per token at most */
    b += hs_bm25_tokens(x->text) * 24 + hs_bm25_docs(x->text) * 48;
    return b;
}

/* ---- saving and loading (checkpoint section PIDX) --------------------------------------- */

/*
 * Saved form, little-endian:
 *   u32 version (1), u32 nslots (the slots the checkpoint holds)
 *   u64 Match entries; per entry: u64 pair hash, u32 n, n x u32 slot (ascending)
 *   u64 Range keys; per key: u64 key hash, u64 n, n x (i64 value, u32 slot), ordered by
 *       (value, slot), removed slots left out
 *   u64 length, then the BM25 index (hs_bm25_save)
 */
#define PIDX_VERSION 1

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void wput(wbuf *b, const void *v, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}

static void w32(wbuf *b, uint32_t v)
{
    uint8_t le[4];
    hs_put_le32(le, v);
    wput(b, le, 4);
}

static void w64(wbuf *b, uint64_t v)
{
    uint8_t le[8];
    hs_put_le64(le, v);
    wput(b, le, 8);
}

static bool save_range(wbuf *b, const rcol *r)
{
    rpair *m;
    long n = r_merged(r, &m);
    if (n < 0)
        return false;
    w64(b, r->kh);
    w64(b, (uint64_t)n);
    for (long i = 0; i < n; i++) {
        w64(b, (uint64_t)m[i].v);
        w32(b, m[i].slot);
    }
    free(m);
    return true;
}

int hs_pidx_save(const hs_pidx *x, uint32_t nslots, uint8_t **out, size_t *len)
{
    wbuf b = {0};
    w32(&b, PIDX_VERSION);
    w32(&b, nslots);
    uint64_t nm = 0;
    for (size_t i = 0; i < x->mcap; i++)
        nm += x->m[i].h && !roaring_bitmap_is_empty(x->m[i].bm);
    w64(&b, nm);
    uint32_t *slots = NULL;
    size_t slots_cap = 0;
    for (size_t i = 0; i < x->mcap && !b.oom; i++) {
        const mentry *e = &x->m[i];
        if (!e->h || roaring_bitmap_is_empty(e->bm))
            continue;
        uint64_t n = roaring_bitmap_get_cardinality(e->bm);
        if (n > slots_cap) {
            uint32_t *ns = realloc(slots, n * sizeof(uint32_t));
            if (!ns) {
                b.oom = true;
                break;
            }
            slots = ns;
            slots_cap = n;
        }
        roaring_bitmap_to_uint32_array(e->bm, slots);
        w64(&b, e->h);
        w32(&b, (uint32_t)n);
        for (uint64_t k = 0; k < n; k++)
            w32(&b, slots[k]);
    }
    free(slots);
    w64(&b, x->rn);
    for (size_t i = 0; i < x->rcap && !b.oom; i++)
        if (x->r[i].kh && !save_range(&b, &x->r[i]))
            b.oom = true;
    size_t tl = hs_bm25_saved_size(x->text);
    w64(&b, tl);
    if (!b.oom) {
        uint8_t *tmp = malloc(tl);
        if (tmp) {
            hs_bm25_save(x->text, tmp);
            wput(&b, tmp, tl);
            free(tmp);
        } else {
            b.oom = true;
        }
    }
    if (b.oom) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

typedef hs_reader rbuf;

/* Reads the Match entries; returns 0, -1 (malformed) or -2 (memory). */
static int load_match(hs_pidx *x, rbuf *r, uint32_t nslots)
{
    uint64_t count;
    if (!hs_read_le64(r, &count) || count > hs_reader_left(r) / 12)
        return -1;
    while ((x->mn + count) * 4 > x->mcap * 3)
        if (m_grow(x))
            return -2;
    uint32_t *slots = NULL;
    int rc = 0;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        uint64_t h;
        uint32_t n;
        if (!hs_read_le64(r, &h) || !hs_read_le32(r, &n) || (h & 1) == 0 || n == 0 ||
            n > hs_reader_left(r) / 4) {
            rc = -1;
            break;
        }
        uint32_t *ns = realloc(slots, (size_t)n * 4);
        if (!ns) {
            rc = -2;
            break;
        }
        slots = ns;
        hs_read_le32_array(r, slots, n);
        for (uint32_t k = 0; k < n && rc == 0; k++)
            if (slots[k] >= nslots || (k && slots[k] <= slots[k - 1]))
                rc = -1;
        mentry *e = &x->m[m_slot(x, h)];
        if (rc == 0 && e->h)
            rc = -1; /* saved twice */
        if (rc == 0 && !(e->bm = roaring_bitmap_of_ptr(n, slots)))
            rc = -2;
        if (rc == 0) {
            e->h = h;
            x->mn++;
        }
    }
    free(slots);
    return rc;
}

static int load_range(hs_pidx *x, rbuf *r, uint32_t nslots)
{
    uint64_t count;
    if (!hs_read_le64(r, &count) || count > hs_reader_left(r) / 16)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t kh, n;
        if (!hs_read_le64(r, &kh) || !hs_read_le64(r, &n) || (kh & 1) == 0 ||
            n > hs_reader_left(r) / 12)
            return -1;
        if ((x->rn + 1) * 4 > x->rcap * 3 && r_grow(x))
            return -2;
        rcol *c = &x->r[r_slot(x, kh)];
        if (c->kh)
            return -1;
        c->kh = kh;
        x->rn++;
        c->removed = roaring_bitmap_create();
        c->p = malloc((n ? n : 1) * sizeof(rpair));
        if (!c->removed || !c->p)
            return -2;
        c->cap = n ? n : 1;
        for (uint64_t k = 0; k < n; k++) {
            rpair p = {0, 0};
            uint64_t v = 0;
            hs_read_le64(r, &v);
            hs_read_le32(r, &p.slot);
            p.v = (int64_t)v;
            if (p.slot >= nslots || (k && cmp_rpair(&c->p[k - 1], &p) >= 0))
                return -1;
            c->p[k] = p;
            if (col_set(c, p.slot, p.v))
                return -2;
        }
        c->n = c->sorted = n;
    }
    return 0;
}

int hs_pidx_load(const uint8_t *buf, size_t len, uint32_t nslots, hs_pidx **out)
{
    *out = NULL;
    rbuf r = hs_reader_of(buf, len);
    uint32_t version, saved_slots;
    if (!hs_read_le32(&r, &version) || !hs_read_le32(&r, &saved_slots) || version != PIDX_VERSION ||
        saved_slots != nslots)
        return -1;
    hs_pidx *x = hs_pidx_new();
    if (!x)
        return -2;
    int rc = load_match(x, &r, nslots);
    if (rc == 0)
        rc = load_range(x, &r, nslots);
    uint64_t tl;
    if (rc == 0 && (!hs_read_le64(&r, &tl) || tl != hs_reader_left(&r)))
        rc = -1;
    if (rc == 0 && nslots)
        rc = hs_bm25_load(x->text, r.p, (size_t)tl, nslots - 1);
    else if (rc == 0 && (tl != 8 || memcmp(r.p, "\0\0\0\0\0\0\0\0", 8)))
        rc = -1; /* no slot: no document */
    if (rc) {
        hs_pidx_free(x);
        return rc;
    }
    *out = x;
    return 0;
}
