/*
 * test_rebuild_concurrency.c: rebuilds of one collection from two threads at once (a vacuum and
 * a rebuild, as two concurrent vacuums do), with writers replacing points and a checkpointer
 * (label concurrency: run under ThreadSanitizer by `make test-tsan`).
 *
 * A checkpointer runs in a loop too.  A rebuild and a checkpoint each pause the collection's
 * indexer while they size and serialise the graph.  Every rebuild, vacuum, checkpoint and write
 * must succeed; afterwards, and after a reopen, the collection holds exactly the written points
 * and a search finds each point it is asked for.
 *
 * The interleaving that made a rebuild fail ("checkpoint failed: graph serialisation failed",
 * then "the rebuilt state is not checkpointed yet") is rare in a free run: a rebuild resumed the
 * indexer (a flag) while another rebuild's checkpoint had it paused, so the graph grew between
 * its sizing and its serialisation.  test_rebuild_inside_a_pause replays it deterministically: a
 * pause is held (the other operation), a whole rebuild runs inside it, and the indexer must
 * still be paused afterwards.
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

#include "core/core.h" /* the indexer's pause, for the deterministic case */
#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

#define DIM 8
#define WRITERS 2
#define PER_WRITER 600 /* ids each writer owns and rewrites every round */
#define REBUILDS 8     /* per rebuilding thread */

static char root[64];
static hs_db *db;
static hs_collection *coll;
static int stop;
static int failures;

static void failed(const char *what, const hs_error *err)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 10)
        fprintf(stderr, "%s failed: %s\n", what, err ? err->message : "");
}

static void vec_of(uint64_t id, unsigned round, double *v)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + round * 0xBF58476D1CE4E5B9ull + 1;
    for (int d = 0; d < DIM; d++) {
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        v[d] = (double)(x >> 11) / 9007199254740992.0; /* distinct points in [0, 1) */
    }
}

static void *writer(void *arg)
{
    uint64_t base = (uint64_t)(intptr_t)arg * PER_WRITER;
    for (unsigned round = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE) || round < 2; round++) {
        for (uint64_t b = 0; b < PER_WRITER; b += 50) {
            hs_point pts[50];
            double v[50][DIM];
            hs_kv kv[50];
            for (int i = 0; i < 50; i++) {
                uint64_t id = base + b + (uint64_t)i;
                vec_of(id, round, v[i]);
                kv[i] = (hs_kv){"w", 1, "x", 1};
                pts[i] = (hs_point){id, v[i], DIM, &kv[i], 1};
            }
            hs_error err;
            if (hs_upsert(coll, pts, 50, HS_DURABILITY_ASYNC, &err) != HS_OK)
                failed("upsert", &err);
        }
    }
    return NULL;
}

static void *rebuilder(void *arg)
{
    int vacuum = (int)(intptr_t)arg;
    for (int i = 0; i < REBUILDS; i++) {
        hs_error err;
        int rc;
        if (vacuum) {
            size_t n;
            uint64_t reclaimed;
            rc = hs_db_vacuum(db, &n, &reclaimed, &err);
        } else {
            rc = hs_collection_rebuild(coll, &err);
        }
        if (rc != HS_OK)
            failed(vacuum ? "vacuum" : "rebuild", &err);
        if (!vacuum && hs_collection_checkpoint(coll, &err) != HS_OK)
            failed("checkpoint", &err);
    }
    return NULL;
}

/* Checkpoints in a loop: each one pauses the indexer while it sizes and serialises the graph,
 * so the rebuilds' pauses and resumes interleave with these. */
static void *checkpointer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        hs_error err;
        if (hs_collection_checkpoint(coll, &err) != HS_OK)
            failed("checkpoint", &err);
    }
    return NULL;
}

static void check_contents(void)
{
    hs_error err;
    uint64_t n;
    assert_int_equal(hs_test_count(coll, NULL, NULL, &n, &err), HS_OK);
    assert_int_equal(n, WRITERS * PER_WRITER);
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(coll, &st), HS_OK);
    assert_int_equal(st.count, WRITERS * PER_WRITER);
    assert_int_equal(hs_collection_wait_indexed(coll, &err), HS_OK);
    /* each point is found by a search for its own vector (whatever round wrote it last) */
    for (uint64_t id = 0; id < WRITERS * PER_WRITER; id += 37) {
        double v[DIM];
        assert_int_equal(hs_get(coll, id, v, NULL, NULL, &err), HS_OK);
        hs_search_opts so;
        hs_search_opts_init(&so);
        so.k = 1;
        hs_hit out[1];
        size_t k;
        assert_int_equal(hs_search(coll, v, DIM, &so, out, &k, &err), HS_OK);
        assert_int_equal(k, 1);
        assert_true(out[0].distance < 1e-9);
    }
}

static void test_concurrent_rebuilds(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-rebuild-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 2;
    o.exact_threshold = 0; /* searches use the graph */
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    cfg.metric = HS_METRIC_L2;
    assert_int_equal(hs_collection_create(db, "t", "r", &cfg, &err), HS_OK);
    assert_int_equal(hs_collection_open(db, "t", "r", &coll, &err), HS_OK);
    pthread_t w[WRITERS], r[2], ck;
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, rebuilder, (void *)(intptr_t)i);
    pthread_create(&ck, NULL, checkpointer, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    pthread_join(ck, NULL);
    assert_int_equal(failures, 0);
    check_contents();
    hs_collection_close(coll);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    assert_int_equal(hs_collection_open(db, "t", "r", &coll, &err), HS_OK);
    check_contents();
    hs_collection_close(coll);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    hs_remove_tree(hs_io_posix(), root);
}

static void put_range(hs_collection *h, uint64_t from, uint64_t to, hs_durability d)
{
    for (uint64_t id = from; id < to; id++) {
        double v[DIM];
        vec_of(id, 0, v);
        hs_point p = {id, v, DIM, NULL, 0};
        hs_error err;
        assert_int_equal(hs_upsert(h, &p, 1, d, &err), HS_OK);
    }
}

static uint64_t queue_of(hs_collection *h)
{
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    return st.indexing_queue;
}

static void test_rebuild_inside_a_pause(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-pause-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    cfg.metric = HS_METRIC_L2;
    assert_int_equal(hs_collection_create(db, "t", "p", &cfg, &err), HS_OK);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "p", &h, &err), HS_OK);
    put_range(h, 0, 200, HS_DURABILITY_ASYNC);
    uint64_t gone[50];
    for (int i = 0; i < 50; i++)
        gone[i] = (uint64_t)i * 4;
    assert_int_equal(hs_delete(h, gone, 50, HS_DURABILITY_ASYNC, NULL, &err), HS_OK);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    hs_coll *c;
    assert_int_equal(hs_coll_acquire(h, &c, &err), HS_OK);
    hs_indexer_pause(c); /* another checkpoint or rebuild is sizing the graph */
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    put_range(h, 1000, 1100, HS_DURABILITY_ASYNC);
    hs_indexer_kick(c);
    usleep(200 * 1000); /* time enough to index 100 points, were the indexer not paused */
    assert_int_equal(queue_of(h), 100); /* the outer pause still holds: the graph is still */
    hs_indexer_resume(c);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    assert_int_equal(queue_of(h), 0);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    hs_remove_tree(hs_io_posix(), root);
}

int main(void)
{
    hs_log_set_sink(NULL, NULL, HS_LOG_WARN); /* one line per vacuum otherwise */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuild_inside_a_pause),
        cmocka_unit_test(test_concurrent_rebuilds),
    };
    return cmocka_run_group_tests_name("rebuild_concurrency", tests, NULL, NULL);
}
