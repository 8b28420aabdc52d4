/*
 * test_eviction_concurrency.c: a loaded-collection limit of 1 with several collections, so that
 * nearly every handle closed evicts another collection, while threads run hybrid searches,
 * inserts with metadata, statistics (on a handle and by name), digests, totals, listings, gets
 * and checkpoints (label concurrency: run under ThreadSanitizer by `make test-tsan` and under
 * AddressSanitizer by `make test-asan`).
 *
 * Every call must succeed and every figure must be sane while collections load and unload
 * under it; afterwards (and after a reopen) each collection holds exactly the points written to
 * it.  The run lasts HS_STRESS_SECONDS (default 2; the stress-long label runs it longer).  No
 * assertion depends on timing: the duration only bounds the work.
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
#include <time.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

#define DIM 8
#define NCOLL 4
#define WRITERS 3
#define SEARCHERS 2
#define BATCH 20

static char root[64];
static hs_db *db;
static int stop;
static int failures;
static uint64_t written[NCOLL]; /* points written per collection (atomic) */
static const char *names[NCOLL] = {"c0", "c1", "c2", "c3"};

static void failed(const char *what, const hs_error *err)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 10)
        fprintf(stderr, "%s failed: %s\n", what, err ? err->message : "");
}

static void vec_of(uint64_t id, double *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (double)((id * 31 + (uint64_t)d * 7) % 97) / 97.0 + 0.01;
}

/* Opens collection i, failing the test when it cannot. */
static hs_collection *open_coll(int i)
{
    hs_collection *h = NULL;
    hs_error err;
    if (hs_collection_open(db, "t", names[i], &h, &err) != HS_OK) {
        failed("open", &err);
        return NULL;
    }
    return h;
}

/* Statistics of a handle that may or may not be loaded (the path of the reported crash). */
static void check_stats_of(hs_collection *h)
{
    hs_collection_stats st;
    hs_error why;
    int rc = hs_coll_stats_of(h, &st);
    snprintf(why.message, sizeof(why.message), "rc %d, dimension %u, deleted %llu, loaded %d, "
             "count %llu, memory %llu", rc, st.config.dimension, (unsigned long long)st.deleted,
             st.loaded, (unsigned long long)st.count, (unsigned long long)st.memory_bytes);
    /* an empty collection may be loaded (by a search) with nothing allocated yet */
    if (rc != HS_OK || st.config.dimension != DIM || st.deleted != 0 ||
        (st.loaded && st.count > 0 && st.memory_bytes == 0))
        failed("stats_of", &why);
}

static void *writer(void *arg)
{
    uint64_t next = (uint64_t)(intptr_t)arg * 100000000ull;
    unsigned turn = (unsigned)(intptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        int ci = (int)(turn++ % NCOLL);
        hs_collection *h = open_coll(ci);
        if (!h)
            break;
        hs_point pts[BATCH];
        double v[BATCH][DIM];
        char num[BATCH][24];
        hs_kv kv[BATCH][2];
        for (int i = 0; i < BATCH; i++) {
            uint64_t id = next++;
            vec_of(id, v[i]);
            snprintf(num[i], sizeof(num[i]), "%llu", (unsigned long long)id % 10);
            kv[i][0] = (hs_kv){"n", 1, num[i], strlen(num[i])};
            kv[i][1] = (hs_kv){"text", 4, id % 2 ? "odd words here" : "even words there",
                               id % 2 ? 14u : 16u};
            pts[i] = (hs_point){id, v[i], DIM, kv[i], 2};
        }
        hs_error err;
        if (hs_upsert(h, pts, BATCH, HS_DURABILITY_ASYNC, &err) != HS_OK)
            failed("upsert", &err);
        else
            __atomic_fetch_add(&written[ci], BATCH, __ATOMIC_RELAXED);
        check_stats_of(h);
        hs_collection_close(h);
        /* a handle opened and asked for statistics only, never loading anything */
        if ((h = open_coll((ci + 1) % NCOLL)) != NULL) {
            check_stats_of(h);
            hs_collection_close(h);
        }
    }
    return NULL;
}

static void *searcher(void *arg)
{
    unsigned seed = (unsigned)(intptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        hs_collection *h = open_coll((int)(rand_r(&seed) % NCOLL));
        if (!h)
            break;
        double q[DIM];
        for (int d = 0; d < DIM; d++)
            q[d] = (double)(rand_r(&seed) % 100) / 100.0 + 0.01;
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = 10;
        o.hybrid = 1;
        o.text = "odd words";
        o.text_len = 9;
        o.alpha = 0.5;
        hs_hit out[10];
        size_t n;
        hs_error err;
        if (hs_search(h, q, DIM, &o, out, &n, &err) != HS_OK || n > 10)
            failed("hybrid search", &err);
        if (n > 0 && hs_get(h, out[0].id, NULL, NULL, NULL, &err) != HS_OK)
            failed("get", &err);
        check_stats_of(h);
        hs_collection_close(h);
    }
    return NULL;
}

static int count_names(void *ctx, const char *tenant, const char *name)
{
    (void)tenant;
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static void *observer(void *arg)
{
    (void)arg;
    unsigned turn = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        int ci = (int)(turn++ % NCOLL);
        hs_collection_stats st;
        hs_error err;
        if (hs_collection_stats_get(db, "t", names[ci], &st, &err) != HS_OK ||
            st.config.dimension != DIM)
            failed("stats_get", &err);
        uint64_t cols, pts, loaded, bad;
        hs_db_totals(db, &cols, &pts, &loaded, &bad);
        if (cols != NCOLL || bad != 0)
            failed("totals", NULL);
        int listed = 0;
        if (hs_collection_list(db, "t", count_names, &listed, &err) != HS_OK || listed != NCOLL)
            failed("list", &err);
        hs_collection *h = open_coll(ci);
        if (!h)
            break;
        check_stats_of(h);
        hs_digest d;
        if (hs_collection_digest(h, &d, &err) != HS_OK)
            failed("digest", &err);
        if (turn % 16 == 0 && hs_collection_checkpoint(h, &err) != HS_OK)
            failed("checkpoint", &err);
        hs_collection_close(h);
        if (turn % 32 == 0) {
            size_t done;
            if (hs_db_checkpoint(db, &done, &err) != HS_OK)
                failed("db checkpoint", &err);
        }
    }
    return NULL;
}

static uint64_t count_of(int i)
{
    hs_collection *h = open_coll(i);
    uint64_t n = 0;
    hs_error err;
    assert_non_null(h);
    assert_int_equal(hs_test_count(h, NULL, NULL, &n, &err), HS_OK);
    hs_collection_close(h);
    return n;
}

static void test_eviction_under_load(void **state)
{
    (void)state;
    const char *env = getenv("HS_STRESS_SECONDS");
    int seconds = env ? atoi(env) : 2;
    hs_log_set_sink(NULL, NULL, HS_LOG_WARN); /* thousands of load and eviction lines */
    snprintf(root, sizeof(root), "/tmp/hs-test-evict-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.max_loaded = 1;
    o.indexer_threads = 2;
    o.exact_threshold = 64;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    cfg.metric = HS_METRIC_L2;
    for (int i = 0; i < NCOLL; i++)
        assert_int_equal(hs_collection_create(db, "t", names[i], &cfg, &err), HS_OK);
    pthread_t w[WRITERS], s[SEARCHERS], ob;
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < SEARCHERS; i++)
        pthread_create(&s[i], NULL, searcher, (void *)(intptr_t)(i + 11));
    pthread_create(&ob, NULL, observer, NULL);
    sleep((unsigned)seconds);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < SEARCHERS; i++)
        pthread_join(s[i], NULL);
    pthread_join(ob, NULL);
    assert_int_equal(failures, 0);
    hs_db_counters cnt;
    hs_db_counters_get(db, &cnt);
    assert_true(cnt.evictions_lru > 0); /* the limit did evict while the threads ran */
    uint64_t total = 0;
    for (int i = 0; i < NCOLL; i++) {
        assert_int_equal(count_of(i), written[i]);
        total += written[i];
    }
    assert_true(total > 0);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    /* everything written is there after a reopen too */
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    for (int i = 0; i < NCOLL; i++)
        assert_int_equal(count_of(i), written[i]);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    hs_remove_tree(hs_io_posix(), root);
    fprintf(stderr, "eviction stress: %d s, %llu points in %d collections, %llu evictions\n",
            seconds, (unsigned long long)total, NCOLL, (unsigned long long)cnt.evictions_lru);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eviction_under_load),
    };
    return cmocka_run_group_tests_name("eviction_concurrency", tests, NULL, NULL);
}
