/* hs_bench_diag.h: the miss diagnosis of hs-bench (hs_bench_diag.c). */
#ifndef HS_BENCH_DIAG_H
#define HS_BENCH_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "hnsw/hnsw.h"

typedef struct diag_input {
    const hs_hnsw *index;
    const hs_space *space;           /* traversal space */
    const void *(*query_rec)(void *ctx, size_t qi); /* encoded query qi */
    void *ctx;
    size_t nq, k, ef;
    const int32_t *truth; /* nq rows of truth_dim ids */
    size_t truth_dim;
    const uint64_t *reach_before; /* reachability before the repair, or NULL */
    const char *path;             /* TSV of the misses */
} diag_input;

/* Level-0 reachability from the entry point (bitset over the slots; free() it). */
uint64_t *diag_reach(const hs_hnsw *h);
void diag_run(const diag_input *in);
/* The adaptive probe's counts: level-0 prunes it watched and the nodes they orphaned. */
void diag_probe(const hs_hnsw *h, uint64_t *prunes, uint64_t *orphans);

#endif
