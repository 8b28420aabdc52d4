/*
 * util.h: small shared helpers used by every module (no module depends on anything above it).
 *
 * Contents: branch hints, array length, checked size arithmetic, a seeded PRNG (splitmix64 +
 * xoshiro256**), monotonic time, and the (distance, id) pair with its two heaps used by the
 * search code.  Everything here is header-only or in util.c; nothing here allocates on a hot path.
 */
#ifndef HS_UTIL_H
#define HS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define HS_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((size_t)(a)-1))
#define HS_CACHE_LINE 64

/* Overflow-checked size arithmetic: return false when the result does not fit. */
static inline bool hs_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool hs_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Prefetch `len` bytes starting at p into the cache (read, keep). */
static inline void hs_prefetch(const void *p, size_t len)
{
    const char *c = (const char *)p;
    for (size_t off = 0; off < len; off += HS_CACHE_LINE)
        __builtin_prefetch(c + off, 0, 3);
}

/* The same with low temporal locality (prefetcht2 on x86): for batches of random lines from
 * DRAM.  Graph search on a large index prefetches tens of records per expanded node; with
 * prefetcht0 the prefetch instructions themselves stalled once the L1 miss buffers were full
 * (1M x 64 hyperbolic: a third of the search samples). */
static inline void hs_prefetch_far(const void *p, size_t len)
{
    const char *c = (const char *)p;
    for (size_t off = 0; off < len; off += HS_CACHE_LINE)
        __builtin_prefetch(c + off, 0, 1);
}

/* ---- deterministic PRNG ---------------------------------------------------------------- */

/* splitmix64 step: also a good 64-bit mixing function for hashing integers. */
static inline uint64_t hs_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct hs_rng {
    uint64_t s[4];
} hs_rng;

void hs_rng_seed(hs_rng *r, uint64_t seed);
uint64_t hs_rng_next(hs_rng *r);
/* Uniform double in [0, 1). */
double hs_rng_uniform(hs_rng *r);
/* Standard normal (Box-Muller). */
double hs_rng_normal(hs_rng *r);

/* ---- time ------------------------------------------------------------------------------ */

/* Monotonic clock in nanoseconds. */
uint64_t hs_now_ns(void);

/* ---- (distance, id) pairs and heaps ---------------------------------------------------- */

typedef struct hs_pair {
    float dist;
    uint32_t id;
} hs_pair;

/* Total order: by distance, then by id (ties are broken deterministically). */
static inline bool hs_pair_less(hs_pair a, hs_pair b)
{
    return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}

/* Max-heap on (dist, id) (the root is the worst kept result) and min-heap (the root is the
 * closest pending candidate), over caller arrays; inline because searches live in them. */
static inline void hs_maxheap_push(hs_pair *h, size_t *n, hs_pair p)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!hs_pair_less(h[parent], p))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
}

static inline void hs_maxheap_pop(hs_pair *h, size_t *n)
{
    size_t len = --(*n);
    if (len == 0)
        return;
    hs_pair last = h[len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && hs_pair_less(h[c], h[c + 1]))
            c++;
        if (!hs_pair_less(last, h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
}

/* Sorts a max-heap of n pairs ascending in place (heapsort's second half). */
static inline void hs_maxheap_sort(hs_pair *h, size_t n)
{
    while (n > 1) {
        hs_pair top = h[0];
        hs_maxheap_pop(h, &n);
        h[n] = top;
    }
}

static inline void hs_minheap_push(hs_pair *h, size_t *n, hs_pair p)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!hs_pair_less(p, h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
}

static inline void hs_minheap_pop(hs_pair *h, size_t *n)
{
    size_t len = --(*n);
    if (len == 0)
        return;
    hs_pair last = h[len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && hs_pair_less(h[c + 1], h[c]))
            c++;
        if (!hs_pair_less(h[c], last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
}

/* Sort ascending by (dist, id). */
void hs_pairs_sort(hs_pair *p, size_t n);

/*
 * A bounded "keep the best k" collector: push candidates, then take them sorted.
 * `buf` must hold `cap` pairs.  Not thread-safe (one per search).
 */
typedef struct hs_topk {
    hs_pair *buf;
    size_t cap;
    size_t n;
} hs_topk;

static inline void hs_topk_init(hs_topk *t, hs_pair *buf, size_t cap)
{
    t->buf = buf;
    t->cap = cap;
    t->n = 0;
}
/* The current admission bound: a candidate not less than this is rejected (when full). */
static inline bool hs_topk_full(const hs_topk *t) { return t->n == t->cap; }
static inline void hs_topk_push(hs_topk *t, hs_pair p)
{
    if (t->n < t->cap) {
        hs_maxheap_push(t->buf, &t->n, p);
    } else if (t->cap > 0 && hs_pair_less(p, t->buf[0])) {
        hs_maxheap_pop(t->buf, &t->n);
        hs_maxheap_push(t->buf, &t->n, p);
    }
}
/* Sorts the kept pairs ascending in place and returns their count; the collector is spent. */
size_t hs_topk_finish(hs_topk *t);

#endif /* HS_UTIL_H */
