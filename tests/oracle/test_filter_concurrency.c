/*
 * test_filter_concurrency.c: filtered and hybrid searches while writers replace and delete
 * points (label concurrency: run under ThreadSanitizer by `make test-tsan`).
 *
 * Every point's metadata says which "round" wrote it (tag = its round's parity, text = "even" /
 * "odd"); readers search with Match, Range and hybrid conditions and check that every result
 * satisfies them, that no search fails, and that the result count never exceeds k.  Several
 * readers start at once on a freshly loaded collection, so the first-use build of the payload
 * indexes races with searches and writes.  A checkpoint runs in the middle (it saves the indexes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

#define DIM 8
#define NPTS 2000
#define ROUNDS 6
#define READERS 3

static char root[64];
static hs_collection *coll;
static int writers_done;
static int failures;

static void vec_of(uint64_t id, int round, double *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (double)((id * 31 + (uint64_t)d * 7 + (uint64_t)round) % 97) / 97.0;
}

static void *writer(void *arg)
{
    int part = (int)(intptr_t)arg;
    for (int round = 1; round <= ROUNDS; round++) {
        for (uint64_t b = (uint64_t)part; b < NPTS; b += 200) {
            hs_point pts[100];
            double v[100][DIM];
            char num[100][16];
            hs_kv kv[100][3];
            size_t n = 0;
            for (uint64_t id = b; id < b + 100 && id < NPTS; id++, n++) {
                vec_of(id, round, v[n]);
                snprintf(num[n], sizeof(num[n]), "%d", round);
                kv[n][0] = (hs_kv){"tag", 3, round % 2 ? "odd" : "even", round % 2 ? 3 : 4};
                kv[n][1] = (hs_kv){"round", 5, num[n], strlen(num[n])};
                kv[n][2] = (hs_kv){"text", 4, round % 2 ? "odd words" : "even words",
                                   round % 2 ? 9u : 10u};
                pts[n] = (hs_point){id, v[n], DIM, kv[n], 3};
            }
            hs_error err;
            if (hs_upsert(coll, pts, n, HS_DURABILITY_ASYNC, &err) != HS_OK)
                __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        }
        uint64_t del = (uint64_t)(round * 13 + part) % NPTS;
        size_t deleted;
        hs_error err;
        if (hs_delete(coll, &del, 1, HS_DURABILITY_ASYNC, &deleted, &err) != HS_OK)
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        if (part == 0 && round == ROUNDS / 2 && hs_collection_checkpoint(coll, &err) != HS_OK)
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static bool has(const hs_point_view *p, const char *key, const char *value)
{
    hs_cond c = {HS_COND_MATCH, key, strlen(key), value, strlen(value), 0, 0, 0, 0};
    hs_where w = {&c, 1, NULL, 0, NULL, 0};
    return hs_where_match(&w, p);
}

typedef struct check_ctx {
    const char *tag;
    int bad;
} check_ctx;

static int on_result(void *ctx, size_t i, const hs_point_view *p)
{
    check_ctx *c = ctx;
    if (!has(p, "tag", c->tag))
        c->bad++;
    return 0;
}

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(intptr_t)arg;
    int iter = 0;
    while (!__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE) || iter < 20) {
        iter++;
        double q[DIM];
        for (int d = 0; d < DIM; d++)
            q[d] = (double)(rand_r(&seed) % 100) / 100.0;
        check_ctx cc = {iter % 2 ? "odd" : "even", 0};
        hs_cond conds[2] = {
            {HS_COND_MATCH, "tag", 3, cc.tag, strlen(cc.tag), 0, 0, 0, 0},
            {HS_COND_RANGE, "round", 5, NULL, 0, 1, 1, 0, ROUNDS},
        };
        hs_where w = {conds, 2, NULL, 0, NULL, 0};
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = 20;
        o.where = &w;
        o.on_result = on_result;
        o.result_ctx = &cc;
        if (iter % 3 == 0) {
            o.hybrid = 1;
            o.text = "odd";
            o.text_len = 3;
        }
        hs_hit out[20];
        size_t n;
        hs_error err;
        if (hs_search(coll, q, DIM, &o, out, &n, &err) != HS_OK || n > 20 || cc.bad)
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_filtered_search_during_writes(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-fconc-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0;
    hs_db *db;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    assert_int_equal(hs_collection_create(db, "t", "c", &cfg, &err), HS_OK);
    assert_int_equal(hs_collection_open(db, "t", "c", &coll, &err), HS_OK);
    pthread_t w[2], r[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)(i * 100));
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(failures, 0);
    /* after the writes, the last round's tag holds every live point */
    uint64_t live, tagged;
    hs_cond last = {HS_COND_MATCH, "tag", 3, ROUNDS % 2 ? "odd" : "even", ROUNDS % 2 ? 3 : 4,
                    0, 0, 0, 0};
    hs_where wl = {&last, 1, NULL, 0, NULL, 0};
    assert_int_equal(hs_test_count(coll, NULL, NULL, &live, &err), HS_OK);
    assert_int_equal(hs_test_count(coll, hs_test_where_accept, &wl, &tagged, &err), HS_OK);
    assert_int_equal(live, tagged);
    hs_hit out[10];
    size_t n;
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.where = &wl;
    double q[DIM] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    assert_int_equal(hs_search(coll, q, DIM, &so, out, &n, &err), HS_OK);
    assert_int_equal(n, 10);
    hs_collection_close(coll);
    hs_db_close(db, NULL);
    hs_remove_tree(hs_io_posix(), root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filtered_search_during_writes),
    };
    return cmocka_run_group_tests_name("filter_concurrency", tests, NULL, NULL);
}
