/*
 * test_hnsw.c: behaviour of the HNSW index on small data: self-retrieval, delete marks, filters,
 * determinism, the visited set's two forms, serialisation round trips, rejection of corrupt
 * buffers, reachability repair (also of a group the upper layers still reach) and argument
 * errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw.h"
#include "hnsw/hnsw_int.h"
#include "util/util.h"
#include "vec/vec.h"

typedef struct fixture {
    hs_space sp;
    hs_chunks recs;
    hs_hnsw *h;
    size_t n;
    uint32_t dim;
} fixture;

/* n points in `clusters` tight Gaussian clusters (clusters = 0: plain Gaussian). */
static void make_data(fixture *f, size_t n, uint32_t dim, size_t clusters, uint64_t seed)
{
    assert_int_equal(hs_space_init(&f->sp, HS_METRIC_L2, HS_CODE_F32, dim), HS_OK);
    assert_int_equal(hs_chunks_init(&f->recs, f->sp.rec_len, 10), HS_OK);
    assert_int_equal(hs_chunks_reserve(&f->recs, n), HS_OK);
    hs_rng r;
    hs_rng_seed(&r, seed);
    float *centers = calloc((clusters ? clusters : 1) * dim, sizeof(float));
    for (size_t c = 0; c < clusters * dim; c++)
        centers[c] = (float)(hs_rng_normal(&r) * 10.0);
    float *x = malloc(dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const float *c = centers + (clusters ? (i % clusters) * dim : 0);
        for (uint32_t j = 0; j < dim; j++)
            x[j] = c[j] + (float)(hs_rng_normal(&r) * (clusters ? 0.05 : 1.0));
        hs_space_encode_f32(&f->sp, x, hs_chunks_at(&f->recs, (uint32_t)i));
    }
    free(x);
    free(centers);
    f->n = n;
    f->dim = dim;
}

static void build(fixture *f, uint32_t m, uint32_t efc, unsigned threads)
{
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = m;
    o.ef_construction = efc;
    o.chunk_shift = 8; /* many small chunks: exercises table growth */
    assert_int_equal(hs_hnsw_new(&o, &f->sp, &f->recs, &f->h), HS_OK);
    uint32_t *slots = malloc(f->n * sizeof(uint32_t));
    for (size_t i = 0; i < f->n; i++)
        slots[i] = (uint32_t)i;
    assert_int_equal(hs_hnsw_insert_many(f->h, slots, f->n, threads), HS_OK);
    free(slots);
}

static void teardown(fixture *f)
{
    hs_hnsw_free(f->h);
    hs_chunks_destroy(&f->recs);
}

static const void *rec(const fixture *f, uint32_t i) { return hs_chunks_at(&f->recs, i); }

static void test_self_retrieval(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 3000, 16, 0, 1);
    build(&f, 12, 100, 1);
    hs_hnsw_repair(f.h, 4, NULL);
    hs_pair out[10];
    size_t found_first = 0;
    for (uint32_t i = 0; i < f.n; i++) {
        size_t n = hs_hnsw_search(f.h, rec(&f, i), 10, 50, NULL, out, NULL);
        assert_int_equal(n, 10);
        for (size_t j = 1; j < n; j++)
            assert_false(hs_pair_less(out[j], out[j - 1]));
        found_first += out[0].id == i && out[0].dist == 0.0f;
    }
    assert_int_equal(found_first, f.n);
    hs_hnsw_stats st;
    hs_hnsw_stats_get(f.h, &st);
    assert_int_equal(st.nodes, f.n);
    assert_true(st.max_level >= 1);
    assert_true(st.graph_bytes > f.n * 4 * 25);
    teardown(&f);
}

static void test_deleted_never_returned(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 2000, 8, 0, 2);
    build(&f, 8, 64, 1);
    for (uint32_t i = 0; i < f.n; i += 2)
        assert_int_equal(hs_hnsw_mark_deleted(f.h, i), HS_OK);
    assert_int_equal(hs_hnsw_mark_deleted(f.h, 0), HS_OK); /* twice is fine */
    hs_hnsw_stats st;
    hs_hnsw_stats_get(f.h, &st);
    assert_int_equal(st.deleted, f.n / 2);
    hs_pair out[20];
    for (uint32_t i = 0; i < f.n; i += 7) {
        size_t n = hs_hnsw_search(f.h, rec(&f, i), 20, 40, NULL, out, NULL);
        assert_int_equal(n, 20);
        for (size_t j = 0; j < n; j++)
            assert_true(out[j].id % 2 == 1);
        if (i % 2 == 1)
            assert_int_equal(out[0].id, i);
    }
    /* delete everything: nothing comes back, nothing crashes */
    for (uint32_t i = 1; i < f.n; i += 2)
        hs_hnsw_mark_deleted(f.h, i);
    assert_int_equal(hs_hnsw_search(f.h, rec(&f, 3), 5, 10, NULL, out, NULL), 0);
    assert_int_equal(hs_hnsw_mark_deleted(f.h, (uint32_t)f.n + 5000), HS_ENOTFOUND);
    teardown(&f);
}

static bool accept_mult3(void *ctx, uint32_t slot)
{
    (void)ctx;
    return slot % 3 == 0;
}

static void test_filters(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 3000, 8, 0, 3);
    build(&f, 8, 64, 1);
    size_t words = (f.n + 63) / 64;
    uint64_t *allow = calloc(words, 8);
    /* 25 allowed slots: fewer than k can be returned only when fewer are reachable */
    for (uint32_t i = 0; i < 25; i++) {
        uint32_t s = i * 113 % (uint32_t)f.n;
        allow[s >> 6] |= 1ULL << (s & 63);
    }
    hs_filter flt = {.allow = allow, .allow_n = (uint32_t)f.n};
    hs_pair out[40], ex[40];
    for (uint32_t q = 0; q < 50; q++) {
        size_t n = hs_hnsw_search(f.h, rec(&f, q * 17), 40, 40, &flt, out, NULL);
        assert_int_equal(n, 25);
        size_t ne = hs_exact_search(&f.sp, &f.recs, rec(&f, q * 17), NULL, f.n, &flt, 40, ex);
        assert_int_equal(ne, 25);
        for (size_t j = 0; j < n; j++) {
            assert_true(allow[out[j].id >> 6] >> (out[j].id & 63) & 1);
            assert_int_equal(out[j].id, ex[j].id);
        }
    }
    hs_filter pred = {.accept = accept_mult3};
    size_t n = hs_hnsw_search(f.h, rec(&f, 5), 10, 30, &pred, out, NULL);
    assert_int_equal(n, 10);
    for (size_t j = 0; j < n; j++)
        assert_int_equal(out[j].id % 3, 0);
    free(allow);
    teardown(&f);
}

static uint8_t *serialize(const hs_hnsw *h, size_t *len)
{
    *len = hs_hnsw_serialized_size(h);
    uint8_t *buf = malloc(*len);
    assert_int_equal(hs_hnsw_serialize(h, buf, *len), HS_OK);
    return buf;
}

/* Searches of one graph on a thread of its own (its own visited set): every 7th of the first n
 * records as the query, k 10 at ef 40, into out (10 pairs per query) and cnt. */
typedef struct vis_job {
    fixture *f;
    hs_pair *out;
    size_t *cnt;
    pthread_barrier_t *grow; /* non-NULL: search, wait for the graph to grow, search again */
} vis_job;

static void vis_pass(vis_job *j)
{
    for (uint32_t q = 0, i = 0; q < j->f->n; q += 7, i++)
        j->cnt[i] = hs_hnsw_search(j->f->h, rec(j->f, q), 10, 40, NULL, j->out + i * 10, NULL);
}

static void *vis_searches(void *arg)
{
    vis_job *j = arg;
    vis_pass(j);
    if (j->grow) {
        pthread_barrier_wait(j->grow); /* searched the small graph */
        pthread_barrier_wait(j->grow); /* the graph grew */
        vis_pass(j);
    }
    return NULL;
}

static void vis_run(vis_job *j)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, vis_searches, j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

/* The visited set's two forms (16-bit stamps for small graphs, bits past
 * hnsw_visit_stamps_upto) give the same searches, also on a thread whose set changes form when
 * the graph grows past the limit. */
static void test_visited_set_forms(void **state)
{
    (void)state;
    size_t saved = hnsw_visit_stamps_upto;
    fixture f;
    make_data(&f, 4000, 8, 0, 21);
    f.n = 3000;
    build(&f, 8, 60, 1); /* the first 3000 */
    size_t nq = (4000 + 6) / 7;
    hs_pair *a = calloc(nq * 10, sizeof(hs_pair)), *b = calloc(nq * 10, sizeof(hs_pair));
    size_t *ca = calloc(nq, sizeof(size_t)), *cb = calloc(nq, sizeof(size_t));
    vis_job ja = {&f, a, ca, NULL}, jb = {&f, b, cb, NULL};
    vis_run(&ja); /* stamps (a fresh thread, a small graph) */
    hnsw_visit_stamps_upto = 64;
    vis_run(&jb); /* bits */
    assert_memory_equal(ca, cb, nq * sizeof(size_t));
    assert_memory_equal(a, b, nq * 10 * sizeof(hs_pair));
    for (size_t i = 0; i < (3000 + 6) / 7; i++)
        assert_int_equal(ca[i], 10);

    /* one thread searches the 3000 with stamps; the graph grows to 4000, past the limit of
     * 3500; the same thread searches again (its set becomes bits) */
    hnsw_visit_stamps_upto = 3500;
    pthread_barrier_t grow;
    assert_int_equal(pthread_barrier_init(&grow, NULL, 2), 0);
    ja.grow = &grow;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, vis_searches, &ja), 0);
    pthread_barrier_wait(&grow);
    for (uint32_t i = 3000; i < 4000; i++)
        assert_int_equal(hs_hnsw_insert(f.h, i), HS_OK);
    f.n = 4000;
    pthread_barrier_wait(&grow);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&grow);
    hnsw_visit_stamps_upto = 64;
    vis_run(&jb); /* bits from the start, on the grown graph */
    assert_memory_equal(ca, cb, nq * sizeof(size_t));
    assert_memory_equal(a, b, nq * 10 * sizeof(hs_pair));
    hnsw_visit_stamps_upto = saved;
    free(a);
    free(b);
    free(ca);
    free(cb);
    teardown(&f);
}

static void test_deterministic_and_round_trip(void **state)
{
    (void)state;
    fixture a, b;
    make_data(&a, 2500, 12, 0, 4);
    make_data(&b, 2500, 12, 0, 4);
    build(&a, 10, 80, 1);
    build(&b, 10, 80, 1);
    for (uint32_t i = 0; i < a.n; i += 11) {
        hs_hnsw_mark_deleted(a.h, i);
        hs_hnsw_mark_deleted(b.h, i);
    }
    size_t la, lb;
    uint8_t *sa = serialize(a.h, &la), *sb = serialize(b.h, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la); /* same seed, one thread: the same graph */

    hs_hnsw *c;
    hs_error err;
    assert_int_equal(hs_hnsw_deserialize(sa, la, &a.sp, &a.recs, &c, &err), HS_OK);
    hs_pair o1[15], o2[15];
    for (uint32_t q = 0; q < a.n; q += 3) {
        size_t n1 = hs_hnsw_search(a.h, rec(&a, q), 15, 30, NULL, o1, NULL);
        size_t n2 = hs_hnsw_search(c, rec(&a, q), 15, 30, NULL, o2, NULL);
        assert_int_equal(n1, n2);
        assert_memory_equal(o1, o2, n1 * sizeof(hs_pair));
    }
    size_t lc;
    uint8_t *sc = serialize(c, &lc);
    assert_int_equal(lc, la);
    assert_memory_equal(sc, sa, la);
    /* the loaded index accepts further inserts */
    hs_hnsw_stats st;
    hs_hnsw_stats_get(c, &st);
    assert_int_equal(st.nodes, a.n);
    assert_int_equal(st.deleted, (a.n + 10) / 11);
    free(sc);
    hs_hnsw_free(c);
    free(sa);
    free(sb);
    teardown(&a);
    teardown(&b);
}

static void test_corrupt_buffers(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 300, 4, 0, 5);
    build(&f, 4, 20, 1);
    size_t len;
    uint8_t *buf = serialize(f.h, &len);
    hs_hnsw *c = NULL;
    hs_error err;
    /* every truncation is rejected */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(hs_hnsw_deserialize(buf, cut, &f.sp, &f.recs, &c, &err), HS_ECORRUPT);
    /* every single-byte change is rejected or yields a structurally valid graph */
    uint8_t *copy = malloc(len);
    size_t rejected = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= (uint8_t)(1u << (i % 8));
        int rc = hs_hnsw_deserialize(copy, len, &f.sp, &f.recs, &c, &err);
        if (rc == HS_OK) {
            hs_pair out[5];
            hs_hnsw_search(c, rec(&f, 1), 5, 10, NULL, out, NULL);
            hs_hnsw_free(c);
        } else {
            assert_true(rc == HS_ECORRUPT || rc == HS_EVERSION);
            assert_true(strlen(err.message) > 0);
            rejected++;
        }
    }
    assert_true(rejected > len / 2);
    /* more slots than records */
    hs_chunks small;
    hs_chunks_init(&small, f.sp.rec_len, 4);
    hs_chunks_reserve(&small, 16);
    assert_int_equal(hs_hnsw_deserialize(buf, len, &f.sp, &small, &c, &err), HS_ECORRUPT);
    hs_chunks_destroy(&small);
    free(copy);
    free(buf);
    teardown(&f);
}

static void test_repair_reaches_everything(void **state)
{
    (void)state;
    fixture f;
    /* many tight, far-apart clusters with a small m: pruning isolates some of them (5 points
     * with m 3; with m 4 the witness links of the construction leave none, see hnsw_graph.c) */
    make_data(&f, 6000, 8, 600, 6);
    build(&f, 3, 32, 1);
    uint64_t before = hs_hnsw_count_unreachable(f.h), left = 99;
    size_t added = hs_hnsw_repair(f.h, 8, &left);
    print_message("unreachable before %llu, links added %zu, left %llu\n",
                  (unsigned long long)before, added, (unsigned long long)left);
    assert_true(before > 0); /* the data really is hard */
    assert_int_equal(left, 0);
    assert_int_equal(hs_hnsw_count_unreachable(f.h), 0);
    /* and every point can now be found: a wide search finds each one itself */
    hs_pair out[1];
    for (uint32_t i = 0; i < f.n; i++) {
        assert_int_equal(hs_hnsw_search(f.h, rec(&f, i), 1, 1024, NULL, out, NULL), 1);
        assert_true(out[0].dist == 0.0f);
    }
    teardown(&f);
}

/* A group cut off at level 0 but reached through the upper layers (as a region of the 2-thread
 * taxonomy 1M build was: 222,235 points, new nodes near it found through the upper layers and
 * linking into it): the repair's search for one of its points descends into the group and finds
 * only unreachable nodes; the level-0 search from the entry point then links it.  Two clusters,
 * every level-0 link from the entry's cluster into the other one removed. */
static void test_repair_group_reached_from_above(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 4000, 8, 2, 11);
    build(&f, 8, 64, 1);
    hs_hnsw_stats st;
    hs_hnsw_stats_get(f.h, &st);
    uint32_t side = st.entry % 2; /* make_data puts point i in cluster i % 2 */
    for (uint32_t u = 0; u < f.n; u++) {
        if (u % 2 != side)
            continue;
        hnsw_view v = hnsw_view_of(f.h, u, 0);
        uint32_t cnt = view_count(&v), w = 0;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t id = view_get(&v, i);
            if (id % 2 != side)
                continue;
            if (w < v.nin)
                v.list[1 + w] = id;
            else
                (*v.ovp)->links[w - v.nin] = id;
            w++;
        }
        __atomic_store_n(&v.list[0], w, __ATOMIC_RELEASE);
    }
    uint64_t before = hs_hnsw_count_unreachable(f.h), left = 99;
    /* the upper layers still lead into the other cluster */
    hs_pair out[1];
    assert_int_equal(hs_hnsw_search(f.h, rec(&f, side ^ 1u), 1, 64, NULL, out, NULL), 1);
    assert_true(out[0].dist == 0.0f);
    size_t added = hs_hnsw_repair(f.h, 8, &left);
    print_message("cut off at level 0: %llu, links added %zu, left %llu\n",
                  (unsigned long long)before, added, (unsigned long long)left);
    assert_int_equal(before, f.n / 2);
    assert_int_equal(left, 0);
    assert_int_equal(hs_hnsw_count_unreachable(f.h), 0);
    teardown(&f);
}

/* A table of small chunks that grows past the size where chunks come in groups from huge-page
 * mappings (util/chunks.c): every record stays zeroed until written, distinct, and addressable. */
static void test_chunk_groups(void **state)
{
    (void)state;
    hs_chunks c;
    assert_int_equal(hs_chunks_init(&c, 132, 12), HS_OK); /* a level-0 list of m 16 */
    const uint32_t n = 200000;                            /* 26 MB: heap chunks, then groups */
    for (uint32_t have = 0; have < n; have += 30000)
        assert_int_equal(hs_chunks_reserve(&c, HS_MIN(have + 30000, n)), HS_OK);
    assert_true(hs_chunks_capacity(&c) >= n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t *r = (uint32_t *)hs_chunks_at(&c, i);
        for (int j = 0; j < 33; j++)
            assert_int_equal(r[j], 0);
        r[0] = i;
        r[32] = ~i;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *r = (const uint32_t *)hs_chunks_at(&c, i);
        assert_int_equal(r[0], i);
        assert_int_equal(r[32], ~i);
    }
    assert_true(hs_chunks_owned_bytes(&c) >= (size_t)n * 132);
    hs_chunks_destroy(&c);
}

static void test_errors(void **state)
{
    (void)state;
    fixture f;
    make_data(&f, 100, 4, 0, 7);
    build(&f, 4, 10, 1);
    assert_int_equal(hs_hnsw_insert(f.h, 5), HS_EEXIST);
    assert_int_equal(hs_hnsw_insert(f.h, (uint32_t)hs_chunks_capacity(&f.recs)), HS_ERANGE);
    assert_int_equal(hs_hnsw_set_ef_construction(f.h, 0), HS_ERANGE);
    assert_int_equal(hs_hnsw_set_ef_construction(f.h, 10001), HS_ERANGE);
    assert_true(hs_hnsw_contains(f.h, 99) && !hs_hnsw_contains(f.h, 100));
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    hs_hnsw *h;
    o.m = 1;
    assert_int_equal(hs_hnsw_new(&o, &f.sp, &f.recs, &h), HS_EINVAL);
    o.m = 129;
    assert_int_equal(hs_hnsw_new(&o, &f.sp, &f.recs, &h), HS_EINVAL);
    /* an empty index answers with nothing */
    o.m = 8;
    assert_int_equal(hs_hnsw_new(&o, &f.sp, &f.recs, &h), HS_OK);
    hs_pair out[3];
    assert_int_equal(hs_hnsw_search(h, rec(&f, 0), 3, 10, NULL, out, NULL), 0);
    size_t len = hs_hnsw_serialized_size(h);
    uint8_t *buf = malloc(len);
    assert_int_equal(hs_hnsw_serialize(h, buf, len), HS_OK);
    hs_hnsw *c;
    assert_int_equal(hs_hnsw_deserialize(buf, len, &f.sp, &f.recs, &c, NULL), HS_OK);
    assert_int_equal(hs_hnsw_search(c, rec(&f, 0), 3, 10, NULL, out, NULL), 0);
    hs_hnsw_free(c);
    free(buf);
    hs_hnsw_free(h);
    teardown(&f);
}


/*
 * Upserts of duplicated vectors: 101 distinct vectors x 12 copies, every point replaced six
 * times (delete mark + insert of a new slot with the same vector, as an upsert does).  A k=1
 * search for each vector must return a live copy at distance 0 (all but at most 10 of 101): the
 * live slots must not lose their in-links to the deleted copies that fill every list.
 */
static void test_replaced_duplicates_stay_found(void **state)
{
    (void)state;
    enum { DISTINCT = 101, COPIES = 12, ROUNDS = 6, DIM = 8 };
    size_t live_n = DISTINCT * COPIES, total = live_n * (ROUNDS + 1);
    fixture f;
    assert_int_equal(hs_space_init(&f.sp, HS_METRIC_L2, HS_CODE_F32, DIM), HS_OK);
    assert_int_equal(hs_chunks_init(&f.recs, f.sp.rec_len, 10), HS_OK);
    assert_int_equal(hs_chunks_reserve(&f.recs, total), HS_OK);
    hs_rng r;
    hs_rng_seed(&r, 77);
    float base[DISTINCT][DIM];
    for (size_t d = 0; d < DISTINCT; d++)
        for (size_t j = 0; j < DIM; j++)
            base[d][j] = (float)hs_rng_normal(&r);
    for (size_t i = 0; i < total; i++)
        hs_space_encode_f32(&f.sp, base[(i % live_n) % DISTINCT], hs_chunks_at(&f.recs, (uint32_t)i));
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    assert_int_equal(hs_hnsw_new(&o, &f.sp, &f.recs, &f.h), HS_OK);
    for (uint32_t i = 0; i < live_n; i++)
        assert_int_equal(hs_hnsw_insert(f.h, i), HS_OK);
    for (uint32_t round = 1; round <= ROUNDS; round++)
        for (uint32_t i = 0; i < live_n; i++) {
            assert_int_equal(hs_hnsw_mark_deleted(f.h, (round - 1) * (uint32_t)live_n + i), HS_OK);
            assert_int_equal(hs_hnsw_insert(f.h, round * (uint32_t)live_n + i), HS_OK);
        }
    size_t misses = 0;
    for (size_t d = 0; d < DISTINCT; d++) {
        hs_pair out[1];
        size_t n = hs_hnsw_search(f.h, rec(&f, (uint32_t)d), 1, 10, NULL, out, NULL);
        if (n != 1 || out[0].dist != 0.0f || hs_hnsw_is_deleted(f.h, out[0].id))
            misses++;
    }
    print_message("k=1 searches for %d duplicated vectors after %d replacements: %zu misses\n",
                  DISTINCT, ROUNDS, misses);
    /* 95 of 101 missed before deleted neighbours were given up first; a few still do (4 with
     * the published construction, 7 once the adaptive construction engages on these ties):
     * with 84 exact copies of each vector (72 deleted) the copies fill each other's lists at
     * distance 0 and ef=10 can run out before reaching a live one (ef=500 finds all) */
    assert_true(misses <= 10);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_retrieval),
        cmocka_unit_test(test_deleted_never_returned),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_deterministic_and_round_trip),
        cmocka_unit_test(test_visited_set_forms),
        cmocka_unit_test(test_corrupt_buffers),
        cmocka_unit_test(test_repair_reaches_everything),
        cmocka_unit_test(test_repair_group_reached_from_above),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_chunk_groups),
        cmocka_unit_test(test_replaced_duplicates_stay_found),
    };
    return cmocka_run_group_tests_name("hnsw", tests, NULL, NULL);
}
