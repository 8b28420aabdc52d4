/*
 * test_eviction_thread.c: the least recently used collection pushed out by a request is unloaded
 * (checkpointed, its log synced, freed) by the database's sweeper thread, not by the request:
 * a search that loads B with max_loaded 1 returns with A already marked unloaded, and every file
 * operation on A's directory from then on runs on another thread than the caller's.
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
#include "storage/storage.h"

static char root[64];
static pthread_t caller;
static int caller_ops, other_ops; /* file operations on A's directory after the mark (atomic) */
static int watching;              /* atomic */

static void note(const char *path)
{
    if (!__atomic_load_n(&watching, __ATOMIC_ACQUIRE) || !strstr(path, "/A/"))
        return;
    if (pthread_equal(pthread_self(), caller))
        __atomic_fetch_add(&caller_ops, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&other_ops, 1, __ATOMIC_RELAXED);
}

static int w_open(void *ctx, const char *path, int flags, unsigned mode)
{
    note(path);
    return hs_io_posix()->open(ctx, path, flags, mode);
}

static int w_rename(void *ctx, const char *from, const char *to)
{
    note(to);
    return hs_io_posix()->rename(ctx, from, to);
}

static void test_lru_unload_off_request_thread(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-evict-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_io_ops io = *hs_io_posix();
    io.open = w_open;
    io.rename = w_rename;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.checkpoint_min_log_bytes = 0; /* the unload checkpoints (the work watched here) */
    o.max_loaded = 1;
    o.io = &io;
    hs_db *db;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = 2;
    cfg.metric = HS_METRIC_L2;
    assert_int_equal(hs_collection_create(db, "t", "A", &cfg, &err), HS_OK);
    assert_int_equal(hs_collection_create(db, "t", "B", &cfg, &err), HS_OK);
    double v[2] = {1, 2};
    hs_point p = {1, v, 2, NULL, 0};
    hs_collection *a, *b;
    assert_int_equal(hs_collection_open(db, "t", "A", &a, &err), HS_OK);
    assert_int_equal(hs_upsert(a, &p, 1, HS_DURABILITY_DEFAULT, &err), HS_OK); /* dirty */
    hs_collection_close(a);
    caller = pthread_self();
    __atomic_store_n(&watching, 1, __ATOMIC_RELEASE);
    assert_int_equal(hs_collection_open(db, "t", "B", &b, &err), HS_OK);
    hs_search_opts so;
    hs_search_opts_init(&so);
    hs_hit hits[10];
    size_t n;
    assert_int_equal(hs_search(b, v, 2, &so, hits, &n, &err), HS_OK); /* loads B, evicts A */
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "t", "A", &st, &err), HS_OK);
    assert_int_equal(st.loaded, 0); /* marked at once */
    assert_int_equal(st.count, 1);
    hs_collection_close(b);
    /* the unload checkpoints A: wait until the sweeper has written its files */
    for (int i = 0; i < 3000 && __atomic_load_n(&other_ops, __ATOMIC_RELAXED) == 0; i++)
        usleep(10000);
    hs_db_counters k;
    hs_db_counters_get(db, &k);
    assert_int_equal(k.evictions_lru, 1);
    assert_true(__atomic_load_n(&other_ops, __ATOMIC_RELAXED) > 0);
    assert_int_equal(__atomic_load_n(&caller_ops, __ATOMIC_RELAXED), 0);
    __atomic_store_n(&watching, 0, __ATOMIC_RELEASE);
    /* A wakes on use with its point */
    assert_int_equal(hs_collection_open(db, "t", "A", &a, &err), HS_OK);
    assert_int_equal(hs_get(a, 1, v, NULL, NULL, &err), HS_OK);
    hs_collection_close(a);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    hs_remove_tree(hs_io_posix(), root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_lru_unload_off_request_thread)};
    return cmocka_run_group_tests_name("eviction_thread", tests, NULL, NULL);
}
