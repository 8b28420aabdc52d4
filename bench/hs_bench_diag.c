/*
 * hs_bench_diag.c: why a search misses true neighbours (hs-bench --diag FILE).
 *
 * For every query and every true neighbour of rank < k that a search at the diagnosis ef does
 * not return, one tab-separated line: the query, the rank, the slot, whether the slot is reachable
 * at level 0 from the entry point (now, and before the repair pass), its level-0 in- and
 * out-degree, whether a search with ef 1,000 finds it, how many of its in-neighbours lie
 * within the query's true k-th distance, and the best rank among the search's ef results of an
 * in-neighbour (-1: none of them was returned).  A summary line per fact goes to stdout.
 * Reads the graph's internals (hnsw_int.h): a measuring tool, not an API user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw_int.h"
#include "hs_bench_diag.h"

/* Level-0 reachability from the entry point: a bitset of capacity slots. */
uint64_t *diag_reach(const hs_hnsw *h)
{
    uint64_t n = hs_chunks_capacity(&h->info);
    uint64_t *bits = calloc(n / 64 + 1, sizeof(uint64_t));
    uint32_t *queue = malloc((n + 1) * sizeof(uint32_t));
    uint64_t ep = hnsw_ep(h);
    if (!bits || !queue || ep == 0) {
        free(queue);
        return bits;
    }
    size_t head = 0, tail = 0;
    queue[tail++] = (uint32_t)ep;
    bits[(uint32_t)ep >> 6] |= 1ULL << ((uint32_t)ep & 63);
    while (head < tail) {
        hnsw_view v = hnsw_view_of(h, queue[head++], 0);
        uint32_t cnt = view_count(&v);
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t id = view_get(&v, i);
            if (!(bits[id >> 6] >> (id & 63) & 1)) {
                bits[id >> 6] |= 1ULL << (id & 63);
                queue[tail++] = id;
            }
        }
    }
    free(queue);
    return bits;
}

void diag_probe(const hs_hnsw *h, uint64_t *prunes, uint64_t *orphans)
{
    *prunes = __atomic_load_n(&h->prunes, __ATOMIC_RELAXED);
    *orphans = __atomic_load_n(&h->orphans, __ATOMIC_RELAXED);
}

static bool bit(const uint64_t *b, uint32_t i) { return b && (b[i >> 6] >> (i & 63) & 1); }

/* In-neighbours at level 0: CSR arrays (offsets n + 1, sources). */
typedef struct rev_graph {
    uint64_t *off;
    uint32_t *src;
} rev_graph;

static rev_graph reverse(const hs_hnsw *h, uint64_t n)
{
    rev_graph r = {calloc(n + 2, sizeof(uint64_t)), NULL};
    for (uint64_t u = 0; u < n; u++) {
        if (!(hnsw_info(h, (uint32_t)u) & HS_INFO_LINKED))
            continue;
        hnsw_view v = hnsw_view_of(h, (uint32_t)u, 0);
        uint32_t cnt = view_count(&v);
        for (uint32_t i = 0; i < cnt; i++)
            r.off[view_get(&v, i) + 2]++;
    }
    for (uint64_t i = 2; i < n + 2; i++)
        r.off[i] += r.off[i - 1];
    r.src = malloc((r.off[n + 1] + 1) * sizeof(uint32_t));
    for (uint64_t u = 0; u < n; u++) {
        if (!(hnsw_info(h, (uint32_t)u) & HS_INFO_LINKED))
            continue;
        hnsw_view v = hnsw_view_of(h, (uint32_t)u, 0);
        uint32_t cnt = view_count(&v);
        for (uint32_t i = 0; i < cnt; i++)
            r.src[r.off[view_get(&v, i) + 1]++] = (uint32_t)u;
    }
    return r; /* in-neighbours of t: src[off[t] .. off[t + 1]) */
}

void diag_run(const diag_input *in)
{
    const hs_hnsw *h = in->index;
    const hs_space *sp = in->space;
    uint64_t n = hs_chunks_capacity(&h->info);
    uint64_t *reach = diag_reach(h);
    rev_graph rg = reverse(h, n);
    FILE *f = fopen(in->path, "w");
    if (!f || !reach || !rg.off || !rg.src) {
        fprintf(stderr, "hs-bench: diag: cannot allocate or open %s\n", in->path);
        goto done;
    }
    fprintf(f, "query\trank\tslot\treach\treach_before\tindeg\toutdeg\tfound_ef1000\t"
               "in_within_kth\tin_best_rank\n");
    size_t k = in->k, big = 1000, misses = 0, unreach = 0, unreach_before = 0, found_big = 0;
    size_t ef = in->ef > big ? in->ef : big;
    hs_pair *res = malloc(ef * sizeof(*res)), *res_big = malloc(ef * sizeof(*res_big));
    size_t indeg_hist[8] = {0}, all_hist[8] = {0};
    for (uint64_t u = 0; u < n; u++) {
        if (!(hnsw_info(h, (uint32_t)u) & HS_INFO_LINKED))
            continue;
        uint64_t d = rg.off[u + 1] - rg.off[u];
        all_hist[d < 7 ? d : 7]++;
    }
    for (size_t q = 0; q < in->nq; q++) {
        const void *qr = in->query_rec(in->ctx, q);
        size_t nr = hs_hnsw_search(h, qr, in->ef, in->ef, NULL, res, NULL);
        size_t nb = 0;
        bool big_done = false;
        const int32_t *gt = in->truth + q * in->truth_dim;
        float kth = sp->dist(sp, qr, hs_chunks_at(h->recs, (uint32_t)gt[k - 1]));
        for (size_t r = 0; r < k; r++) {
            uint32_t t = (uint32_t)gt[r];
            bool hit = false;
            for (size_t i = 0; i < nr && i < k && !hit; i++)
                hit = res[i].id == t;
            if (hit)
                continue;
            if (!big_done) {
                nb = hs_hnsw_search(h, qr, k, big, NULL, res_big, NULL);
                big_done = true;
            }
            bool fb = false;
            for (size_t i = 0; i < nb && !fb; i++)
                fb = res_big[i].id == t;
            size_t within = 0;
            long best = -1;
            for (uint64_t e = rg.off[t]; e < rg.off[t + 1]; e++) {
                uint32_t s = rg.src[e];
                within += sp->dist(sp, qr, hs_chunks_at(h->recs, s)) <= kth;
                for (size_t i = 0; i < nr; i++)
                    if (res[i].id == s && (best < 0 || (long)i < best))
                        best = (long)i;
            }
            hnsw_view v = hnsw_view_of(h, t, 0);
            uint64_t indeg = rg.off[t + 1] - rg.off[t];
            fprintf(f, "%zu\t%zu\t%u\t%d\t%d\t%llu\t%u\t%d\t%zu\t%ld\n", q, r, t, bit(reach, t),
                    in->reach_before ? bit(in->reach_before, t) : -1, (unsigned long long)indeg,
                    view_count(&v), fb, within, best);
            misses++;
            unreach += !bit(reach, t);
            unreach_before += in->reach_before && !bit(in->reach_before, t);
            found_big += fb;
            indeg_hist[indeg < 7 ? indeg : 7]++;
        }
    }
    if (in->reach_before) {
        char upath[4096];
        snprintf(upath, sizeof(upath), "%s.unreach", in->path);
        FILE *uf = fopen(upath, "w");
        for (uint64_t u = 0; uf && u < n; u++)
            if (hnsw_info(h, (uint32_t)u) & HS_INFO_LINKED && !bit(in->reach_before, (uint32_t)u))
                fprintf(uf, "%llu\t%llu\n", (unsigned long long)u,
                        (unsigned long long)(rg.off[u + 1] - rg.off[u]));
        if (uf)
            fclose(uf);
    }
    printf("diag ef=%zu misses=%zu unreachable=%zu unreachable_before_repair=%zu "
           "found_at_ef1000=%zu\n",
           in->ef, misses, unreach, unreach_before, found_big);
    printf("diag indeg(missed) 0..6,7+:");
    for (int i = 0; i < 8; i++)
        printf(" %zu", indeg_hist[i]);
    printf("\ndiag indeg(all)    0..6,7+:");
    for (int i = 0; i < 8; i++)
        printf(" %zu", all_hist[i]);
    printf("\n");
    free(res);
    free(res_big);
done:
    if (f)
        fclose(f);
    free(reach);
    free(rg.off);
    free(rg.src);
}
