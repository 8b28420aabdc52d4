/*
 * fuse.c: weighted reciprocal rank fusion of a vector ranking and a BM25 ranking (spec
 * behaviour.md B5.4).
 */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

size_t hs_fuse_depth(size_t top_k)
{
    size_t d = top_k * 2 > 100 ? top_k * 2 : 100;
    return d < 10000 ? d : 10000;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const hs_fused *)a)->id, y = ((const hs_fused *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_rank(const void *a, const void *b)
{
    const hs_fused *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int hs_fuse(const uint64_t *vec_ids, const double *vec_dist, size_t nv, const hs_bm25_hit *txt,
            size_t nt, double alpha, size_t k, int (*dist)(void *ctx, uint64_t id, double *d),
            void *ctx, hs_fused *out, size_t *n)
{
    *n = 0;
    hs_fused *c = malloc((nv + nt ? nv + nt : 1) * sizeof(hs_fused));
    if (!c)
        return -1;
    /* both branches' contributions, -1 distance marking "text only so far" */
    size_t m = 0;
    for (size_t r = 0; r < nv; r++)
        c[m++] = (hs_fused){vec_ids[r], vec_dist[r], (1.0 - alpha) / (60.0 + (double)(r + 1))};
    for (size_t r = 0; r < nt; r++)
        c[m++] = (hs_fused){txt[r].id, -1.0, alpha / (60.0 + (double)(r + 1))};
    /* merge per id (a sum of two terms does not depend on their order) */
    qsort(c, m, sizeof(*c), by_id);
    size_t w = 0;
    for (size_t r = 0; r < m; r++) {
        if (w && c[w - 1].id == c[r].id) {
            hs_fused *p = &c[w - 1];
            p->score += c[r].score;
            if (p->distance < 0)
                p->distance = c[r].distance;
        } else {
            c[w++] = c[r];
        }
    }
    for (size_t r = 0; r < w; r++)
        if (c[r].distance < 0) {
            int rc = dist(ctx, c[r].id, &c[r].distance);
            if (rc) {
                free(c);
                return rc;
            }
        }
    qsort(c, w, sizeof(*c), by_rank);
    *n = w < k ? w : k;
    memcpy(out, c, *n * sizeof(hs_fused));
    free(c);
    return 0;
}
