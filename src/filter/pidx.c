/*
 * pidx.c: the payload indexes of one collection (see filter.h).
 *
 * Floats are kept in the Range runs as order-preserving 64-bit keys (fkey: the IEEE bits with
 * the sign handled so that signed integer order is numeric order), so both runs share the
 * sorted-run code; integers and floats are never mixed in one run, so neither is rounded.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "util/bytes.h"
#include "util/meta.h"
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

typedef struct run {
    rpair *p; /* [0, sorted) ordered by (v, slot), then the unsorted tail up to n */
    size_t n, sorted, cap;
} run;

typedef struct hs_rcol {
    uint64_t kh;  /* 0 = free */
    run ints;     /* int64 values (integers, and strings that parse as int64) */
    run floats;   /* float values as fkey */
    roaring_bitmap_t *removed; /* slots removed since the last merge */
    size_t nremoved;
    /* the values by slot, for checking one point in O(1): val[slot] (an int64, or a float's
     * bits when bit slot of isf is set) is meaningful when bit slot of has is set; multi marks
     * a slot with several numbers for the key (a removed slot keeps its bits: it is dead) */
    int64_t *val;
    uint64_t *has, *isf, *multi;
    size_t ncol;   /* slots the columns can hold (a multiple of 64) */
    size_t nmulti; /* slots marked multi: range_slots must then drop repeats */
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

/* The Match hash of one scalar: strings as before types existed; numbers by their canonical
 * form (an integral float within int64 as that integer) and booleans in their own domain. */
static uint64_t scalar_hash(const char *k, size_t kl, const hs_mval *s)
{
    if (s->type == HS_VALUE_STRING)
        return pair_hash(k, kl, s->str, s->len);
    uint8_t canon[9];
    size_t n = 2;
    if (s->type == HS_VALUE_BOOL) {
        canon[0] = 'b';
        canon[1] = (uint8_t)(s->i != 0);
    } else {
        bool is_int;
        int64_t i;
        double f;
        uint64_t bits;
        hs_mval_number(s, &is_int, &i, &f);
        if (is_int)
            bits = (uint64_t)i;
        else
            memcpy(&bits, &f, 8);
        canon[0] = is_int ? 'i' : 'f';
        hs_put_le64(canon + 1, bits);
        n = 9;
    }
    return hs_siphash13(key_hash(k, kl), 0x7479706564, canon, n) | 1;
}

/* An order-preserving key of a double (-0.0 and 0.0 share one). */
static int64_t fkey(double d)
{
    if (d == 0.0)
        d = 0.0;
    uint64_t u;
    memcpy(&u, &d, 8);
    u = u >> 63 ? ~u : u | 1ULL << 63;
    return (int64_t)(u ^ 1ULL << 63);
}

static double fkey_value(int64_t k)
{
    uint64_t u = (uint64_t)k ^ 1ULL << 63;
    u = u >> 63 ? u & ~(1ULL << 63) : ~u;
    double d;
    memcpy(&d, &u, 8);
    return d;
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
        rcol *r = &x->r[i];
        free(r->ints.p);
        free(r->floats.p);
        free(r->val);
        free(r->has);
        free(r->isf);
        free(r->multi);
        if (r->removed)
            roaring_bitmap_free(r->removed);
    }
    free(x->m);
    free(x->r);
    if (x->text)
        hs_bm25_free(x->text);
    free(x);
}

hs_bm25 *hs_pidx_text(hs_pidx *x) { return x->text; }

/* ---- Match: (key, scalar) -> bitmap ------------------------------------------------------ */

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

static void m_remove(hs_pidx *x, uint64_t h, uint32_t slot)
{
    mentry *e = &x->m[m_slot(x, h)];
    if (e->h)
        roaring_bitmap_remove(e->bm, slot);
}

static const roaring_bitmap_t *m_find(const hs_pidx *x, uint64_t h)
{
    const mentry *e = &x->m[m_slot(x, h)];
    return e->h && !roaring_bitmap_is_empty(e->bm) ? e->bm : NULL;
}

const roaring_bitmap_t *hs_pidx_match(const hs_pidx *x, const char *key, size_t key_len,
                                      const char *value, size_t value_len)
{
    return m_find(x, pair_hash(key, key_len, value, value_len));
}

const roaring_bitmap_t *hs_pidx_match_value(const hs_pidx *x, const char *key, size_t key_len,
                                            const hs_value *v)
{
    hs_mval s;
    memset(&s, 0, sizeof(s));
    s.type = v->type;
    s.str = v->str;
    s.len = (uint32_t)v->len;
    s.i = v->type == HS_VALUE_BOOL ? v->i != 0 : v->i;
    s.f = v->f;
    return m_find(x, scalar_hash(key, key_len, &s));
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

/* The pairs of u in (value, slot) order, each once, removed ones left out: the run merged with
 * a sorted copy of the tail (u is not changed).  *out is malloc'd; returns the count, or -1. */
static long run_merged(const run *u, const rcol *r, rpair **out)
{
    size_t tail = u->n - u->sorted;
    rpair *t = malloc((tail ? tail : 1) * sizeof(rpair));
    rpair *m = malloc((u->n ? u->n : 1) * sizeof(rpair));
    if (!t || !m) {
        free(t);
        free(m);
        return -1;
    }
    if (tail) /* an empty run has no array */
        memcpy(t, u->p + u->sorted, tail * sizeof(rpair));
    qsort(t, tail, sizeof(rpair), cmp_rpair);
    size_t i = 0, j = 0, w = 0;
    while (i < u->sorted || j < tail) {
        rpair p;
        if (j >= tail || (i < u->sorted && cmp_rpair(&u->p[i], &t[j]) <= 0))
            p = u->p[i++];
        else
            p = t[j++];
        if (r->nremoved && roaring_bitmap_contains(r->removed, p.slot))
            continue;
        if (w && !cmp_rpair(&m[w - 1], &p))
            continue; /* a list holding the same number twice */
        m[w++] = p;
    }
    free(t);
    *out = m;
    return (long)w;
}

static int run_merge(run *u, const rcol *r)
{
    rpair *m;
    long w = run_merged(u, r, &m);
    if (w < 0)
        return -1;
    free(u->p);
    u->p = m;
    u->n = u->sorted = (size_t)w;
    u->cap = u->n ? u->n : 1;
    return 0;
}

/* Sorts the tails into the runs and drops the removed pairs. */
static int r_merge(rcol *r)
{
    if (run_merge(&r->ints, r) || run_merge(&r->floats, r))
        return -1;
    if (r->nremoved) {
        roaring_bitmap_free(r->removed);
        r->removed = roaring_bitmap_create();
        r->nremoved = 0;
        if (!r->removed)
            return -1;
    }
    return 0;
}

static int grow_bits(uint64_t **bits, size_t old, size_t n)
{
    uint64_t *nb = realloc(*bits, n / 64 * sizeof(uint64_t));
    if (!nb)
        return -1;
    memset(nb + old / 64, 0, (n - old) / 64 * sizeof(uint64_t));
    *bits = nb;
    return 0;
}

static bool bit(const uint64_t *bits, uint32_t slot) { return bits[slot >> 6] >> (slot & 63) & 1; }

/* Records v (a float's bits when is_float) as slot's value in the columns. */
static int col_set(rcol *r, uint32_t slot, int64_t v, bool is_float)
{
    if (slot >= r->ncol) {
        size_t n = r->ncol ? r->ncol : 1024;
        while (n <= slot)
            n *= 2;
        int64_t *nv = realloc(r->val, n * sizeof(int64_t));
        if (!nv)
            return -1;
        r->val = nv;
        if (grow_bits(&r->has, r->ncol, n) || grow_bits(&r->isf, r->ncol, n) ||
            grow_bits(&r->multi, r->ncol, n))
            return -1;
        r->ncol = n;
    }
    uint64_t b = 1ULL << (slot & 63);
    if (bit(r->has, slot)) {
        if (!bit(r->multi, slot))
            r->nmulti++;
        r->multi[slot >> 6] |= b;
        return 0;
    }
    r->val[slot] = v;
    r->has[slot >> 6] |= b;
    if (is_float)
        r->isf[slot >> 6] |= b;
    else
        r->isf[slot >> 6] &= ~b;
    return 0;
}

const hs_rcol *hs_pidx_rcol(const hs_pidx *x, const char *key, size_t key_len)
{
    return r_find(x, key, key_len);
}

int hs_rcol_check(const hs_rcol *r, uint32_t slot, const hs_nrange *nr)
{
    if (slot >= r->ncol || !bit(r->has, slot))
        return 0;
    if (bit(r->multi, slot))
        return -1;
    int64_t v = r->val[slot];
    if (bit(r->isf, slot)) {
        double d;
        memcpy(&d, &v, 8);
        return nr->fany && d >= nr->flo && d <= nr->fhi;
    }
    return nr->iany && v >= nr->ilo && v <= nr->ihi;
}

bool hs_rcol_value(const hs_rcol *r, uint32_t slot, int64_t *v)
{
    if (slot >= r->ncol || !bit(r->has, slot) || bit(r->multi, slot) || bit(r->isf, slot))
        return false;
    *v = r->val[slot];
    return true;
}

static int run_push(run *u, int64_t v, uint32_t slot)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        rpair *np = realloc(u->p, cap * sizeof(rpair));
        if (!np)
            return -1;
        u->p = np;
        u->cap = cap;
    }
    u->p[u->n++] = (rpair){v, slot};
    return 0;
}

/* Adds a number of key held by slot: an int64, or (is_float) a float given as its bits. */
static int r_add(hs_pidx *x, const char *key, size_t kl, int64_t v, bool is_float, uint32_t slot)
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
    double d;
    memcpy(&d, &v, 8);
    run *u = is_float ? &r->floats : &r->ints;
    if (run_push(u, is_float ? fkey(d) : v, slot) || col_set(r, slot, v, is_float))
        return -1;
    if (u->n - u->sorted > TAIL_MIN + u->sorted / 16)
        return run_merge(u, r);
    return 0;
}

static int r_remove(hs_pidx *x, const char *key, size_t kl, uint32_t slot)
{
    rcol *r = &x->r[r_slot(x, key_hash(key, kl))];
    if (!r->kh)
        return 0;
    roaring_bitmap_add(r->removed, slot);
    r->nremoved++;
    if (r->nremoved * 4 > r->ints.n + r->floats.n)
        return r_merge(r);
    return 0;
}

/* First index of the sorted run whose value is >= v (upper: > v). */
static size_t lower(const run *u, int64_t v)
{
    size_t lo = 0, hi = u->sorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->p[mid].v < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t upper(const run *u, int64_t v)
{
    size_t lo = 0, hi = u->sorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->p[mid].v <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The key interval [lo, hi] of each run for a normalised Range (false: the run has none). */
static bool run_keys(const hs_nrange *nr, bool floats, int64_t *lo, int64_t *hi)
{
    if (floats) {
        *lo = fkey(nr->flo);
        *hi = fkey(nr->fhi);
        return nr->fany;
    }
    *lo = nr->ilo;
    *hi = nr->ihi;
    return nr->iany;
}

/* Calls out (when not NULL, up to cap) with the slots of u within [lo, hi]; returns how many
 * pairs are within. */
static uint64_t run_scan(const run *u, int64_t lo, int64_t hi, uint32_t *out, size_t cap,
                         size_t *n)
{
    size_t a = lower(u, lo), b = upper(u, hi);
    if (b < a)
        b = a;
    uint64_t count = b - a;
    for (size_t i = a; out && i < b && *n < cap; i++)
        out[(*n)++] = u->p[i].slot;
    for (size_t i = u->sorted; i < u->n; i++) {
        if (u->p[i].v < lo || u->p[i].v > hi)
            continue;
        count++;
        if (out && *n < cap)
            out[(*n)++] = u->p[i].slot;
    }
    return count;
}

uint64_t hs_pidx_range_count(const hs_pidx *x, const hs_cond *c)
{
    const rcol *r = r_find(x, c->key, c->key_len);
    if (!r)
        return 0;
    hs_nrange nr;
    hs_range_norm(c, &nr);
    uint64_t count = 0;
    size_t none = 0;
    int64_t lo, hi;
    if (run_keys(&nr, false, &lo, &hi))
        count += run_scan(&r->ints, lo, hi, NULL, 0, &none);
    if (run_keys(&nr, true, &lo, &hi))
        count += run_scan(&r->floats, lo, hi, NULL, 0, &none);
    return count;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t hs_pidx_range_slots(const hs_pidx *x, const hs_cond *c, uint32_t *out, size_t cap)
{
    const rcol *r = r_find(x, c->key, c->key_len);
    if (!r)
        return 0;
    hs_nrange nr;
    hs_range_norm(c, &nr);
    size_t n = 0;
    int64_t lo, hi;
    if (run_keys(&nr, false, &lo, &hi))
        run_scan(&r->ints, lo, hi, out, cap, &n);
    if (run_keys(&nr, true, &lo, &hi))
        run_scan(&r->floats, lo, hi, out, cap, &n);
    if (r->nmulti && n > 1) { /* a slot with several numbers in the Range: once */
        qsort(out, n, sizeof(uint32_t), cmp_u32);
        size_t w = 1;
        for (size_t i = 1; i < n; i++)
            if (out[i] != out[w - 1])
                out[w++] = out[i];
        n = w;
    }
    return n;
}

/* ---- maintenance ------------------------------------------------------------------------ */

/* Number of scalars in a stored blob and how many are not strings. */
static void count_scalars(const uint8_t *mem, size_t *all, size_t *typed)
{
    uint32_t len = hs_get_le32(mem), count = hs_get_le32(mem + 4);
    const uint8_t *q = mem + 8, *end = mem + 4 + len;
    *all = *typed = 0;
    for (uint32_t i = 0; i < count; i++) {
        const char *k;
        uint32_t kl;
        hs_mval v, s;
        if (!hs_meta_read(&q, end, &k, &kl, &v))
            return;
        hs_scalars it;
        hs_scalars_init(&it, &v);
        while (hs_scalars_next(&it, &s)) {
            (*all)++;
            *typed += s.type != HS_VALUE_STRING;
        }
    }
}

#define NUM_TEXT 48 /* room for the text of one number or boolean */

/* Adds one scalar of key to the Match and Range indexes. */
static int add_scalar(hs_pidx *x, const char *k, uint32_t kl, const hs_mval *s, uint32_t slot)
{
    if (m_add(x, scalar_hash(k, kl, s), slot))
        return -1;
    int64_t v;
    if (s->type == HS_VALUE_INT)
        return r_add(x, k, kl, s->i, false, slot);
    if (s->type == HS_VALUE_FLOAT) {
        memcpy(&v, &s->f, 8);
        return r_add(x, k, kl, v, true, slot);
    }
    if (s->type == HS_VALUE_STRING && hs_parse_int64(s->str, s->len, &v))
        return r_add(x, k, kl, v, false, slot);
    return 0;
}

int hs_pidx_add_stored(hs_pidx *x, uint32_t slot, const uint8_t *mem)
{
    if (!mem)
        return 0;
    size_t all, typed;
    count_scalars(mem, &all, &typed);
    const char *texts_s[64];
    size_t lens_s[64];
    char arena_s[16 * NUM_TEXT];
    bool small = all <= 64 && typed <= 16;
    const char **texts = small ? texts_s : malloc((all ? all : 1) * sizeof(*texts));
    size_t *lens = small ? lens_s : malloc((all ? all : 1) * sizeof(*lens));
    char *arena = small ? arena_s : malloc((typed ? typed : 1) * NUM_TEXT);
    int rc = texts && lens && arena ? 0 : -1;
    uint32_t len = hs_get_le32(mem), count = hs_get_le32(mem + 4);
    const uint8_t *q = mem + 8, *end = mem + 4 + len;
    size_t nt = 0, na = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        const char *k;
        uint32_t kl;
        hs_mval v, s;
        if (!hs_meta_read(&q, end, &k, &kl, &v))
            break;
        hs_scalars it;
        hs_scalars_init(&it, &v);
        while (rc == 0 && nt < all && hs_scalars_next(&it, &s)) {
            rc = add_scalar(x, k, kl, &s, slot);
            if (s.type == HS_VALUE_STRING) {
                texts[nt] = s.str;
                lens[nt++] = s.len;
            } else if (na < typed) {
                char *t = arena + NUM_TEXT * na++;
                lens[nt] = hs_mval_text(&s, t, NUM_TEXT);
                texts[nt++] = t;
            }
        }
    }
    if (rc == 0 && count)
        rc = hs_bm25_put(x->text, slot, texts, lens, nt);
    if (!small) {
        free(texts);
        free(lens);
        free(arena);
    }
    return rc;
}

int hs_pidx_remove_stored(hs_pidx *x, uint32_t slot, const uint8_t *mem)
{
    if (!mem)
        return 0;
    uint32_t len = hs_get_le32(mem), count = hs_get_le32(mem + 4);
    const uint8_t *q = mem + 8, *end = mem + 4 + len;
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        const char *k;
        uint32_t kl;
        hs_mval v, s;
        if (!hs_meta_read(&q, end, &k, &kl, &v))
            break;
        hs_scalars it;
        hs_scalars_init(&it, &v);
        while (rc == 0 && hs_scalars_next(&it, &s)) {
            m_remove(x, scalar_hash(k, kl, &s), slot);
            int64_t n;
            if (s.type == HS_VALUE_INT || s.type == HS_VALUE_FLOAT ||
                (s.type == HS_VALUE_STRING && hs_parse_int64(s.str, s.len, &n)))
                rc = r_remove(x, k, kl, slot);
        }
    }
    if (count)
        hs_bm25_remove(x->text, slot);
    return rc;
}

/* kv[0..n) in the stored form ([u32 len][entries]), malloc'd (NULL: out of memory). */
static uint8_t *stored_of(const hs_kv *kv, size_t n)
{
    hs_point pt = {0, NULL, 0, kv, n};
    uint8_t *mem = malloc(4 + hs_meta_size(&pt));
    if (mem)
        hs_put_le32(mem, (uint32_t)hs_meta_encode(&pt, mem + 4));
    return mem;
}

int hs_pidx_add(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n)
{
    uint8_t *mem = stored_of(kv, n);
    int rc = mem ? hs_pidx_add_stored(x, slot, mem) : -1;
    free(mem);
    return rc;
}

int hs_pidx_remove(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n)
{
    uint8_t *mem = stored_of(kv, n);
    int rc = mem ? hs_pidx_remove_stored(x, slot, mem) : -1;
    free(mem);
    return rc;
}

uint64_t hs_pidx_memory(const hs_pidx *x)
{
    uint64_t b = sizeof(*x) + x->mcap * sizeof(mentry) + x->rcap * sizeof(rcol);
    for (size_t i = 0; i < x->mcap; i++)
        if (x->m[i].h)
            b += roaring_bitmap_size_in_bytes(x->m[i].bm) + 64;
    for (size_t i = 0; i < x->rcap; i++) {
        const rcol *r = &x->r[i];
        if (r->kh)
            b += (r->ints.cap + r->floats.cap) * sizeof(rpair) +
                 roaring_bitmap_size_in_bytes(r->removed) + r->ncol * sizeof(int64_t) +
                 3 * r->ncol / 8;
    }
    /* postings (id, tf) and per-document term lists, 16 + 8 bytes per token at most */
    b += hs_bm25_tokens(x->text) * 24 + hs_bm25_docs(x->text) * 48;
    return b;
}

/* ---- saving and loading (checkpoint section PIDX) --------------------------------------- */

/*
 * Saved form, little-endian (docs/file-format.md, "PIDX section"):
 *   u32 version (2; 1 is read), u32 nslots (the slots the checkpoint holds)
 *   u64 Match entries; per entry: u64 pair hash, u32 n, n x u32 slot (ascending)
 *   u64 Range keys; per key: u64 key hash, u64 n, n x (i64 value, u32 slot), then (version 2)
 *       u64 m, m x (f64 value, u32 slot); each ordered by (value, slot), removed slots left out
 *   u64 length, then the BM25 index (hs_bm25_save)
 */
#define PIDX_VERSION 2

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

static bool save_run(wbuf *b, const run *u, const rcol *r, bool floats)
{
    rpair *m;
    long n = run_merged(u, r, &m);
    if (n < 0)
        return false;
    w64(b, (uint64_t)n);
    for (long i = 0; i < n; i++) {
        uint64_t v = (uint64_t)m[i].v;
        if (floats) {
            double d = fkey_value(m[i].v);
            memcpy(&v, &d, 8);
        }
        w64(b, v);
        w32(b, m[i].slot);
    }
    free(m);
    return true;
}

static bool save_range(wbuf *b, const rcol *r)
{
    w64(b, r->kh);
    return save_run(b, &r->ints, r, false) && save_run(b, &r->floats, r, true);
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

/* Reads one run of pairs of c (floats: f64 values, finite, never -0.0). */
static int load_run(rcol *c, run *u, rbuf *r, uint32_t nslots, bool floats)
{
    uint64_t n;
    if (!hs_read_le64(r, &n) || n > hs_reader_left(r) / 12)
        return -1;
    u->p = malloc((n ? n : 1) * sizeof(rpair));
    if (!u->p)
        return -2;
    u->cap = n ? n : 1;
    for (uint64_t k = 0; k < n; k++) {
        rpair p = {0, 0};
        uint64_t v = 0;
        hs_read_le64(r, &v);
        hs_read_le32(r, &p.slot);
        p.v = (int64_t)v;
        if (floats) {
            double d;
            memcpy(&d, &v, 8);
            if (!isfinite(d) || (d == 0.0 && signbit(d)))
                return -1;
            p.v = fkey(d);
        }
        if (p.slot >= nslots || (k && cmp_rpair(&u->p[k - 1], &p) >= 0))
            return -1;
        u->p[k] = p;
        if (col_set(c, p.slot, (int64_t)v, floats))
            return -2;
    }
    u->n = u->sorted = n;
    return 0;
}

static int load_range(hs_pidx *x, rbuf *r, uint32_t nslots, uint32_t version)
{
    uint64_t count;
    if (!hs_read_le64(r, &count) || count > hs_reader_left(r) / 16)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t kh;
        if (!hs_read_le64(r, &kh) || (kh & 1) == 0)
            return -1;
        if ((x->rn + 1) * 4 > x->rcap * 3 && r_grow(x))
            return -2;
        rcol *c = &x->r[r_slot(x, kh)];
        if (c->kh)
            return -1;
        c->kh = kh;
        x->rn++;
        if (!(c->removed = roaring_bitmap_create()))
            return -2;
        int rc = load_run(c, &c->ints, r, nslots, false);
        if (rc == 0 && version >= 2)
            rc = load_run(c, &c->floats, r, nslots, true);
        if (rc)
            return rc;
    }
    return 0;
}

int hs_pidx_load(const uint8_t *buf, size_t len, uint32_t nslots, hs_pidx **out)
{
    *out = NULL;
    rbuf r = hs_reader_of(buf, len);
    uint32_t version, saved_slots;
    if (!hs_read_le32(&r, &version) || !hs_read_le32(&r, &saved_slots) || version < 1 ||
        version > PIDX_VERSION || saved_slots != nslots)
        return -1;
    hs_pidx *x = hs_pidx_new();
    if (!x)
        return -2;
    int rc = load_match(x, &r, nslots);
    if (rc == 0)
        rc = load_range(x, &r, nslots, version);
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
