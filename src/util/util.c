/*
 * util.c: PRNG, clock and the (distance, id) heaps declared in util.h.
 * Heaps are plain binary heaps over caller-owned arrays; callers size the arrays.
 */
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void hs_rng_seed(hs_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x = hs_mix64(x);
        r->s[i] = x;
    }
}

/* xoshiro256** (Blackman & Vigna). */
uint64_t hs_rng_next(hs_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hs_rng_uniform(hs_rng *r)
{
    return (double)(hs_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

double hs_rng_normal(hs_rng *r)
{
    double u1 = hs_rng_uniform(r), u2 = hs_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t hs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void hs_pairs_sort(hs_pair *p, size_t n)
{
    /* insertion sort for the small arrays of a search; heapsort otherwise (qsort's callback per
     * comparison and its buffer were a tenth of a 200k hyperbolic build: every construction
     * search sorts its ef_construction results) */
    if (n > 32) {
        for (size_t i = n / 2; i-- > 0;) {
            hs_pair x = p[i];
            size_t j = i;
            for (;;) {
                size_t c = 2 * j + 1;
                if (c >= n)
                    break;
                if (c + 1 < n && hs_pair_less(p[c], p[c + 1]))
                    c++;
                if (!hs_pair_less(x, p[c]))
                    break;
                p[j] = p[c];
                j = c;
            }
            p[j] = x;
        }
        hs_maxheap_sort(p, n);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        hs_pair x = p[i];
        size_t j = i;
        while (j > 0 && hs_pair_less(x, p[j - 1])) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = x;
    }
}

size_t hs_topk_finish(hs_topk *t)
{
    size_t n = t->n;
    hs_pairs_sort(t->buf, n);
    t->n = 0;
    return n;
}
