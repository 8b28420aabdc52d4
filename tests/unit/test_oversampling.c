/*
 * test_oversampling.c: the oversampling factor of quantized search (hs_collection_config and
 * hs_search_opts .oversampling): the re-scored pool grows with it (recall@50 of a binary
 * collection against brute force rises), a collection without codes ignores it, values outside
 * 1..100 are refused naming the field, and the collection's factor is reported and survives a
 * reopen (through the catalog and through collection.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"
#include "util/util.h"

#define DIM 48
#define N 3000
#define K 50
#define QUERIES 20

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-ovs-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db(void)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0; /* always the graph path */
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static hs_collection *make(hs_db *db, const char *name, hs_quantization q, double ovs)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = DIM;
    c.quantization = q;
    c.ef_search = 10; /* ef = k: without oversampling the pool is k */
    c.oversampling = ovs;
    hs_error err;
    if (hs_collection_create(db, "default_admin", name, &c, &err) != HS_OK)
        fail_msg("create %s: %s", name, err.message);
    hs_collection *h;
    if (hs_collection_open(db, "default_admin", name, &h, &err) != HS_OK)
        fail_msg("open %s: %s", name, err.message);
    return h;
}

static double *points(size_t n, uint64_t seed)
{
    double *v = malloc(n * DIM * sizeof(double));
    hs_rng r;
    hs_rng_seed(&r, seed);
    for (size_t i = 0; i < n * DIM; i++)
        v[i] = hs_rng_normal(&r);
    return v;
}

static void fill(hs_collection *h, const double *v)
{
    hs_point *p = calloc(N, sizeof(*p));
    for (size_t i = 0; i < N; i++)
        p[i] = (hs_point){i, v + i * DIM, DIM, NULL, 0};
    hs_error err;
    if (hs_upsert(h, p, N, HS_DURABILITY_DEFAULT, &err) != HS_OK ||
        hs_collection_wait_indexed(h, &err) != HS_OK)
        fail_msg("upsert: %s", err.message);
    free(p);
}

static double cosdist(const double *a, const double *b)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < DIM; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return 1.0 - ab / sqrt(aa * bb);
}

/* The exact top K of q: ids into truth. */
static void exact(const double *v, const double *q, uint64_t *truth)
{
    double *d = malloc(N * sizeof(double));
    bool *used = calloc(N, sizeof(bool));
    for (size_t i = 0; i < N; i++)
        d[i] = cosdist(v + i * DIM, q);
    for (size_t j = 0; j < K; j++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < N; i++)
            if (!used[i] && (best == SIZE_MAX || d[i] < d[best]))
                best = i;
        used[best] = true;
        truth[j] = best;
    }
    free(d);
    free(used);
}

/* recall@K over the queries with request factor ovs (0 = the collection's). */
static double recall(hs_collection *h, const double *v, const double *qs, double ovs)
{
    size_t hits = 0;
    for (size_t qi = 0; qi < QUERIES; qi++) {
        uint64_t truth[K];
        exact(v, qs + qi * DIM, truth);
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = K;
        o.oversampling = ovs;
        hs_hit out[K];
        size_t n;
        hs_error err;
        if (hs_search(h, qs + qi * DIM, DIM, &o, out, &n, &err) != HS_OK)
            fail_msg("search: %s", err.message);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < K; j++)
                hits += out[i].id == truth[j];
    }
    return (double)hits / (double)(QUERIES * K);
}

static void test_pool_grows(void **state)
{
    (void)state;
    hs_db *db = open_db();
    double *v = points(N, 1), *qs = points(QUERIES, 2);
    hs_collection *b = make(db, "b", HS_QUANT_BINARY, 1.0), *n = make(db, "n", HS_QUANT_NONE, 0);
    fill(b, v);
    fill(n, v);
    double r1 = recall(b, v, qs, 0), r4 = recall(b, v, qs, 4), r20 = recall(b, v, qs, 20);
    print_message("binary recall@%d: o=1 %.3f o=4 %.3f o=20 %.3f\n", K, r1, r4, r20);
    assert_true(r4 > r1 + 0.05);
    assert_true(r20 >= r4);
    assert_true(r20 >= 0.85); /* random gaussian data: 0.92 measured */
    /* without codes the factor changes nothing: the same hits in the same order */
    for (size_t qi = 0; qi < QUERIES; qi++) {
        hs_hit a[K], c[K];
        size_t na, nc;
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = K;
        o.oversampling = 1;
        assert_int_equal(hs_search(n, qs + qi * DIM, DIM, &o, a, &na, NULL), HS_OK);
        o.oversampling = 100;
        assert_int_equal(hs_search(n, qs + qi * DIM, DIM, &o, c, &nc, NULL), HS_OK);
        assert_int_equal(na, nc);
        for (size_t i = 0; i < na; i++)
            assert_true(a[i].id == c[i].id);
    }
    hs_collection_close(b);
    hs_collection_close(n);
    hs_db_close(db, NULL);
    free(v);
    free(qs);
}

static void test_refused(void **state)
{
    (void)state;
    hs_db *db = open_db();
    const double bad[] = {0.5, -1, 100.5, NAN, INFINITY};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hs_collection_config c;
        hs_collection_config_init(&c);
        c.dimension = 4;
        c.quantization = HS_QUANT_BINARY;
        c.oversampling = bad[i];
        hs_error err;
        assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_ERANGE);
        assert_int_equal(err.field, HS_FIELD_OVERSAMPLING);
        assert_non_null(strstr(err.message, "oversampling must be a number between 1 and 100"));
    }
    hs_collection *h = make(db, "ok", HS_QUANT_BINARY, 0);
    double q[DIM] = {1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.oversampling = bad[i];
        hs_hit out[10];
        size_t n;
        hs_error err;
        assert_int_equal(hs_search(h, q, DIM, &o, out, &n, &err), HS_ERANGE);
        assert_int_equal(err.field, HS_FIELD_OVERSAMPLING);
    }
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static double reported(hs_db *db, const char *name)
{
    hs_collection_stats st;
    hs_error err;
    if (hs_collection_stats_get(db, "default_admin", name, &st, &err) != HS_OK)
        fail_msg("stats: %s", err.message);
    return st.config.oversampling;
}

static void test_persisted(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection_close(make(db, "set", HS_QUANT_BINARY, 7.5));
    hs_collection_close(make(db, "dflt", HS_QUANT_BINARY, 0));
    hs_collection_close(make(db, "sq", HS_QUANT_SCALAR, 0));
    assert_true(reported(db, "set") == 7.5);
    assert_true(reported(db, "dflt") == hs_oversampling_default(HS_QUANT_BINARY));
    assert_true(reported(db, "sq") == hs_oversampling_default(HS_QUANT_SCALAR));
    hs_db_close(db, NULL); /* writes the catalog */
    db = open_db();
    assert_true(reported(db, "set") == 7.5); /* cold: from the catalog */
    assert_true(reported(db, "dflt") == hs_oversampling_default(HS_QUANT_BINARY));
    hs_db_close(db, NULL);
    /* without the catalog the directories' collection.json are read */
    char path[128];
    snprintf(path, sizeof(path), "%s/.catalog", root);
    unlink(path);
    db = open_db();
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "default_admin", "set", &h, NULL), HS_OK);
    assert_true(reported(db, "set") == 7.5);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pool_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
