/*
 * test_hnsw_concurrency.c: inserts from two threads while two other threads search and a fifth
 * marks deletions.  Searches must only ever return slots that are in the graph, never a slot
 * whose deletion finished before the search started, in sorted order; afterwards the graph must
 * reach recall@10 >= 0.95 against brute force and every node must be reachable after repair.
 * Built and run under ThreadSanitizer by `make test-tsan` (label "concurrency").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw.h"
#include "hnsw/hnsw_int.h"
#include "oracle_data.h"
#include "vec/vec.h"

#define N 12000
#define DIM 24
#define K 10

typedef struct shared {
    hs_space sp;
    hs_chunks recs;
    hs_hnsw *h;
    uint32_t next_insert; /* atomic: next slot to insert */
    uint32_t inserted;    /* atomic: inserts finished */
    uint32_t deleted_upto;/* atomic: slots < this with slot % 50 == 0 are deleted */
    int stop;             /* atomic */
    int errors;           /* atomic */
    int self_misses;      /* atomic */
    uint64_t searches;    /* atomic */
    uint8_t done[N];      /* atomic: slot i's insert returned */
} shared;

static void *inserter(void *arg)
{
    shared *s = arg;
    for (;;) {
        uint32_t i = __atomic_fetch_add(&s->next_insert, 1, __ATOMIC_RELAXED);
        if (i >= N)
            break;
        if (hs_hnsw_insert(s->h, i) != HS_OK)
            __atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&s->done[i], 1, __ATOMIC_RELEASE);
        __atomic_fetch_add(&s->inserted, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *deleter(void *arg)
{
    shared *s = arg;
    uint32_t d = 0;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        /* delete every 50th slot among those certainly inserted long ago */
        uint32_t safe = __atomic_load_n(&s->inserted, __ATOMIC_ACQUIRE);
        safe = safe > 1000 ? safe - 1000 : 0;
        for (; d < safe; d++)
            if (d % 50 == 0 && hs_hnsw_contains(s->h, d))
                hs_hnsw_mark_deleted(s->h, d);
        __atomic_store_n(&s->deleted_upto, d, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *searcher(void *arg)
{
    shared *s = arg;
    hs_rng r;
    hs_rng_seed(&r, (uint64_t)(uintptr_t)arg ^ 77);
    hs_pair out[32];
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        uint32_t done = __atomic_load_n(&s->inserted, __ATOMIC_ACQUIRE);
        uint32_t del = __atomic_load_n(&s->deleted_upto, __ATOMIC_ACQUIRE);
        if (done == 0)
            continue;
        uint32_t q = (uint32_t)(hs_rng_next(&r) % N); /* any record: it exists even if unindexed */
        size_t n = hs_hnsw_search(s->h, hs_chunks_at(&s->recs, q), 20, 32, NULL, out, NULL);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (!hs_hnsw_contains(s->h, out[i].id))
                bad++;
            if (out[i].id < del && out[i].id % 50 == 0)
                bad++;
            if (i && hs_pair_less(out[i], out[i - 1]))
                bad++;
            for (size_t j = 0; j < i; j++) /* a node visited twice would come back twice */
                bad += out[j].id == out[i].id;
        }
        if (bad)
            __atomic_fetch_add(&s->errors, bad, __ATOMIC_RELAXED);
        /* a point whose insert has returned (and that is not deleted) finds itself: a search
         * never stops on a half-connected node */
        bool deleted = q % 50 == 0 && q < del;
        if (__atomic_load_n(&s->done[q], __ATOMIC_ACQUIRE) && !deleted && q % 50 != 0) {
            n = hs_hnsw_search(s->h, hs_chunks_at(&s->recs, q), 1, 100, NULL, out, NULL);
            if (n != 1 || out[0].id != q)
                __atomic_fetch_add(&s->self_misses, 1, __ATOMIC_RELAXED);
        }
        __atomic_fetch_add(&s->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_concurrent_insert_search_delete(void **state)
{
    (void)state;
    shared s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_space_init(&s.sp, HS_METRIC_L2, HS_CODE_F32, DIM), HS_OK);
    /* small chunks so the graph tables grow while searches run */
    assert_int_equal(hs_chunks_init(&s.recs, s.sp.rec_len, 8), HS_OK);
    assert_int_equal(hs_chunks_reserve(&s.recs, N), HS_OK);
    double *x = malloc((size_t)N * DIM * sizeof(double));
    gaussian_mixture(x, N, DIM, 40, 5);
    for (uint32_t i = 0; i < N; i++)
        hs_space_encode_f64(&s.sp, x + (size_t)i * DIM, hs_chunks_at(&s.recs, i));
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = 12;
    o.ef_construction = 64;
    o.chunk_shift = 7;
    assert_int_equal(hs_hnsw_new(&o, &s.sp, &s.recs, &s.h), HS_OK);
    size_t stamps_upto = hnsw_visit_stamps_upto;
    hnsw_visit_stamps_upto = N / 3;

    pthread_t ins[2], srch[2], del;
    for (int i = 0; i < 2; i++) {
        pthread_create(&ins[i], NULL, inserter, &s);
        pthread_create(&srch[i], NULL, searcher, &s);
    }
    pthread_create(&del, NULL, deleter, &s);
    for (int i = 0; i < 2; i++)
        pthread_join(ins[i], NULL);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(srch[i], NULL);
    pthread_join(del, NULL);
    hnsw_visit_stamps_upto = stamps_upto;
    print_message("searches during the build: %llu, errors: %d, self misses: %d\n",
                  (unsigned long long)s.searches, s.errors, s.self_misses);
    assert_int_equal(s.errors, 0);
    assert_true(s.searches > 0);

    hs_hnsw_stats st;
    hs_hnsw_stats_get(s.h, &st);
    assert_int_equal(st.nodes, N);
    uint64_t left = 1, before = hs_hnsw_count_unreachable(s.h);
    hs_hnsw_repair(s.h, 4, &left);
    print_message("unreachable before repair: %llu\n", (unsigned long long)before);
    assert_int_equal(left, 0);

    /* recall of the concurrently built graph, deleted slots excluded on both sides */
    size_t words = (N + 63) / 64, hits = 0, total = 0;
    uint64_t *live = calloc(words, 8);
    for (uint32_t i = 0; i < N; i++)
        if (!hs_hnsw_is_deleted(s.h, i))
            live[i >> 6] |= 1ULL << (i & 63);
    hs_filter f = {.allow = live, .allow_n = N};
    hs_pair got[K], truth[K];
    for (uint32_t q = 3; q < N; q += 40) {
        size_t n = hs_hnsw_search(s.h, hs_chunks_at(&s.recs, q), K, 64, NULL, got, NULL);
        size_t nt = hs_exact_search(&s.sp, &s.recs, hs_chunks_at(&s.recs, q), NULL, N, &f, K, truth);
        assert_int_equal(n, nt);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < nt; j++)
                if (got[i].id == truth[j].id) {
                    hits++;
                    break;
                }
        total += nt;
    }
    double recall = (double)hits / (double)total;
    print_message("recall@10 after the concurrent build: %.4f\n", recall);
    assert_true(recall >= 0.95);
    free(live);
    free(x);
    hs_hnsw_free(s.h);
    hs_chunks_destroy(&s.recs);
}

/*
 * One thread inserts in order while another searches for points whose insert has returned:
 * each must be found at rank 1.  (This failed while a node's upper layers were linked before
 * its layer-0 list existed: a search could land on it and stop there.)
 */
static shared *g;

static void *ordered_inserter(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < N; i++) {
        hs_hnsw_insert(g->h, i);
        __atomic_store_n(&g->inserted, i + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *self_searcher(void *arg)
{
    (void)arg;
    hs_rng r;
    hs_rng_seed(&r, 17);
    hs_pair out[1];
    while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
        uint32_t done = __atomic_load_n(&g->inserted, __ATOMIC_ACQUIRE);
        if (!done)
            continue;
        uint32_t q = (uint32_t)(hs_rng_next(&r) % done);
        size_t n = hs_hnsw_search(g->h, hs_chunks_at(&g->recs, q), 1, 100, NULL, out, NULL);
        if (n != 1 || out[0].id != q)
            __atomic_fetch_add(&g->self_misses, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_inserted_points_are_found(void **state)
{
    (void)state;
    g = calloc(1, sizeof(*g));
    assert_int_equal(hs_space_init(&g->sp, HS_METRIC_L2, HS_CODE_F32, 16), HS_OK);
    assert_int_equal(hs_chunks_init(&g->recs, g->sp.rec_len, 10), HS_OK);
    assert_int_equal(hs_chunks_reserve(&g->recs, N), HS_OK);
    double *x = malloc((size_t)N * 16 * sizeof(double));
    gaussian_mixture(x, N, 16, 200, 9);
    for (uint32_t i = 0; i < N; i++)
        hs_space_encode_f64(&g->sp, x + (size_t)i * 16, hs_chunks_at(&g->recs, i));
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    assert_int_equal(hs_hnsw_new(&o, &g->sp, &g->recs, &g->h), HS_OK);
    pthread_t a, b;
    pthread_create(&a, NULL, ordered_inserter, NULL);
    pthread_create(&b, NULL, self_searcher, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    print_message("self searches during the build: %llu, misses: %d\n",
                  (unsigned long long)g->searches, g->self_misses);
    assert_true(g->searches > 0);
    assert_int_equal(g->self_misses, 0);
    hs_hnsw_free(g->h);
    hs_chunks_destroy(&g->recs);
    free(x);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_insert_search_delete),
        cmocka_unit_test(test_inserted_points_are_found),
    };
    return cmocka_run_group_tests_name("hnsw concurrency", tests, NULL, NULL);
}
