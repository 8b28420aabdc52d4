/*
 * test_db.c: the embeddable API end to end on real files: collections, upsert/get/search/delete
 * per metric, validation messages and "nothing changes on bad input", persistence across close
 * and reopen (with and without checkpoints), configure, rebuild, lazy loading, the loaded limit,
 * idle unloading, the directory lock and the logical clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperspace.h"
#include "core/core.h"
#include "hs_test.h"
#include "storage/storage.h"
#include "util/siphash.h"
#include "util/util.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-db-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db(hs_db_opts *o)
{
    hs_db_opts def;
    if (!o) {
        hs_db_opts_init(&def);
        def.exact_threshold = 0; /* always exercise the graph path */
        o = &def;
    }
    hs_db *db;
    hs_error err;
    int rc = hs_db_open(root, o, &db, &err);
    if (rc != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static void create(hs_db *db, const char *name, uint32_t dim, hs_metric m, hs_quantization q)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = dim;
    c.metric = m;
    c.quantization = q;
    hs_error err;
    int rc = hs_collection_create(db, "default_admin", name, &c, &err);
    if (rc != HS_OK)
        fail_msg("create %s: %s", name, err.message);
}

static hs_collection *coll(hs_db *db, const char *name)
{
    hs_collection *h;
    hs_error err;
    int rc = hs_collection_open(db, "default_admin", name, &h, &err);
    if (rc != HS_OK)
        fail_msg("open %s: %s", name, err.message);
    return h;
}

/* Points on a noisy spiral: distinct, deterministic. */
static void point(uint64_t id, double *v, size_t dim, double scale)
{
    hs_rng r;
    hs_rng_seed(&r, id * 7919 + 1);
    for (size_t i = 0; i < dim; i++)
        v[i] = scale * (sin((double)id * 0.37 + (double)i) + 0.3 * hs_rng_normal(&r));
}

static void upsert_range(hs_collection *h, uint64_t from, uint64_t to, size_t dim, double scale)
{
    size_t n = (size_t)(to - from);
    double *vs = malloc(n * dim * sizeof(double));
    hs_point *pts = calloc(n, sizeof(*pts));
    char (*vals)[32] = malloc(n * sizeof(*vals));
    hs_kv *kv = calloc(n, sizeof(*kv));
    for (size_t i = 0; i < n; i++) {
        point(from + i, vs + i * dim, dim, scale);
        snprintf(vals[i], sizeof(vals[i]), "v%llu", (unsigned long long)(from + i));
        kv[i] = (hs_kv){"tag", 3, vals[i], strlen(vals[i])};
        pts[i] = (hs_point){from + i, vs + i * dim, dim, &kv[i], 1};
    }
    hs_error err;
    int rc = hs_upsert(h, pts, n, HS_DURABILITY_DEFAULT, &err);
    if (rc != HS_OK)
        fail_msg("upsert: %s", err.message);
    free(vs);
    free(pts);
    free(vals);
    free(kv);
}

/* Every point is found at rank 1 by its own vector. */
static void assert_self_found(hs_collection *h, uint64_t from, uint64_t to, size_t dim,
                              double scale)
{
    double *v = malloc(dim * sizeof(double));
    for (uint64_t id = from; id < to; id++) {
        point(id, v, dim, scale);
        hs_hit hit[3];
        size_t n;
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = 3;
        hs_error err;
        assert_int_equal(hs_search(h, v, dim, &o, hit, &n, &err), HS_OK);
        if (n == 0 || hit[0].id != id)
            fail_msg("point %llu: rank-1 hit is %llu", (unsigned long long)id,
                     n ? (unsigned long long)hit[0].id : 0ULL);
        assert_true(hit[0].distance <= 1e-9);
    }
    free(v);
}

static int meta_capture(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    char *out = ctx;
    snprintf(out, 64, "%.*s=%.*s", (int)kl, k, (int)vl, v);
    return 0;
}

static void test_crud_all_metrics(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    const hs_metric ms[] = {HS_METRIC_L2, HS_METRIC_COSINE, HS_METRIC_POINCARE};
    const char *names[] = {"l2", "cos", "ball"};
    for (int m = 0; m < 3; m++) {
        size_t dim = 16;
        double scale = ms[m] == HS_METRIC_POINCARE ? 0.05 : 1.0;
        create(db, names[m], (uint32_t)dim, ms[m], HS_QUANT_NONE);
        hs_collection *h = coll(db, names[m]);
        upsert_range(h, 0, 1500, dim, scale);
        assert_self_found(h, 0, 1500, dim, scale); /* read-your-writes, backlog included */
        hs_error err;
        assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
        assert_self_found(h, 0, 1500, dim, scale);
        /* get returns the processed vector and the metadata */
        double v[16], want[16];
        char meta[64] = "";
        assert_int_equal(hs_get(h, 42, v, meta_capture, meta, &err), HS_OK);
        assert_string_equal(meta, "tag=v42");
        point(42, want, dim, scale);
        if (ms[m] != HS_METRIC_COSINE)
            for (size_t i = 0; i < dim; i++)
                assert_true(fabs(v[i] - want[i]) <= (ms[m] == HS_METRIC_L2 ? 1e-6 : 0.0));
        /* delete: gone from get and search, count drops, missing ids are not errors */
        uint64_t del[] = {5, 6, 7, 99999, 5};
        size_t deleted;
        assert_int_equal(hs_delete(h, del, 5, HS_DURABILITY_STRICT, &deleted, &err), HS_OK);
        assert_int_equal(deleted, 3);
        assert_int_equal(hs_get(h, 6, NULL, NULL, NULL, &err), HS_ENOTFOUND);
        hs_collection_stats st;
        hs_coll_stats_of(h, &st);
        assert_int_equal(st.count, 1497);
        /* a checkpoint runs the reachability check: every graph point reachable */
        assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
        assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
        hs_coll_stats_of(h, &st);
        assert_int_equal(st.unreachable, 0);
        double q[16];
        point(6, q, dim, scale);
        hs_hit hit[5];
        size_t n;
        hs_search_opts so;
        hs_search_opts_init(&so);
        so.k = 5;
        assert_int_equal(hs_search(h, q, dim, &so, hit, &n, &err), HS_OK);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++)
            assert_true(hit[i].id < 5 || hit[i].id > 7);
        hs_collection_close(h);
    }
    hs_db_close(db, NULL);
}

static void test_replace_and_order(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    create(db, "r", 3, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "r");
    hs_error err;
    double a[] = {1, 2, 3}, b[] = {4, 5, 6}, c[] = {1, 2, 4};
    hs_kv ka = {"k", 1, "old", 3}, kb = {"k", 1, "new", 3};
    hs_point p1[] = {{1, a, 3, &ka, 1}, {2, b, 3, NULL, 0}, {3, c, 3, NULL, 0}};
    assert_int_equal(hs_upsert(h, p1, 3, HS_DURABILITY_ASYNC, &err), HS_OK);
    /* replace id 1: vector and metadata both change; count unchanged */
    hs_point p2 = {1, b, 3, &kb, 1};
    assert_int_equal(hs_upsert(h, &p2, 1, HS_DURABILITY_BATCH, &err), HS_OK);
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.count, 3);
    assert_int_equal(st.deleted, 1);
    char meta[64] = "";
    double v[3];
    hs_get(h, 1, v, meta_capture, meta, &err);
    assert_string_equal(meta, "k=new");
    assert_true(v[0] == 4 && v[2] == 6);
    /* ties broken by id; distance exact: [1,2,3] vs [4,5,6] is 27 */
    hs_hit hit[10];
    size_t n;
    hs_search_opts o;
    hs_search_opts_init(&o);
    assert_int_equal(hs_search(h, a, 3, &o, hit, &n, &err), HS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(hit[0].id, 3);
    assert_true(hit[0].distance == 1.0);
    assert_int_equal(hit[1].id, 1);
    assert_int_equal(hit[2].id, 2);
    assert_true(hit[1].distance == 27.0 && hit[2].distance == 27.0);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_validation(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    create(db, "ball", 2, HS_METRIC_POINCARE, HS_QUANT_NONE);
    create(db, "cos", 2, HS_METRIC_COSINE, HS_QUANT_NONE);
    create(db, "flat", 2, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "ball"), *hc = coll(db, "cos"), *hl = coll(db, "flat");
    hs_error err;
    uint64_t clock = hs_db_clock(db);
    double in[] = {0.1, 0.2}, out[] = {0.8, 0.8}, edge[] = {1.0, 0.0}, nan[] = {0.1, NAN};
    hs_point pts[] = {{1, in, 2, NULL, 0}, {2, out, 2, NULL, 0}};
    assert_int_equal(hs_upsert(h, pts, 2, 0, &err), HS_EBALL);
    assert_int_equal(err.index, 1);
    assert_string_equal(err.message, "Vector must be strictly inside the Poincaré ball (squared "
                                     "norm 1.2800000000000002 >= 1)");
    hs_point e1 = {3, edge, 2, NULL, 0};
    assert_int_equal(hs_upsert(h, &e1, 1, 0, &err), HS_EBALL);
    assert_non_null(strstr(err.message, "(squared norm 1 >= 1)"));
    hs_point e2 = {3, nan, 2, NULL, 0};
    assert_int_equal(hs_upsert(h, &e2, 1, 0, &err), HS_ENONFINITE);
    assert_string_equal(err.message, "Vector contains a non-finite value at index 1");
    hs_point e3 = {3, in, 1, NULL, 0};
    assert_int_equal(hs_upsert(h, &e3, 1, 0, &err), HS_EDIM);
    assert_string_equal(err.message, "Vector dimension mismatch. Expected 2, got 1");
    hs_point e4 = {3, in, 0, NULL, 0};
    assert_int_equal(hs_upsert(h, &e4, 1, 0, &err), HS_EEMPTY);
    double zero[] = {0, -0.0};
    hs_point e5 = {3, zero, 2, NULL, 0};
    assert_int_equal(hs_upsert(hc, &e5, 1, 0, &err), HS_EZERO);
    char bad_utf8[] = {'\xc3', '\x28'};
    hs_kv kv = {"k", 1, bad_utf8, 2};
    hs_point e6 = {3, in, 2, &kv, 1};
    assert_int_equal(hs_upsert(h, &e6, 1, 0, &err), HS_EMETADATA);
    assert_string_equal(err.message, "Invalid metadata: invalid UTF-8");
    hs_kv empty = {"", 0, "x", 1};
    hs_point e7 = {3, in, 2, &empty, 1};
    assert_int_equal(hs_upsert(h, &e7, 1, 0, &err), HS_EMETADATA);
    /* l2 keeps float32 values as given: a finite double beyond the float32 range is refused,
     * as a point and as a query, instead of becoming infinite */
    double huge[] = {1.0, 1e300};
    hs_point e8 = {3, huge, 2, NULL, 0};
    assert_int_equal(hs_upsert(hl, &e8, 1, 0, &err), HS_ENONFINITE);
    assert_string_equal(err.message, "Vector value at index 1 is outside the float32 range of "
                                     "the l2 metric (|x| > 3.4028234663852886e+38)");
    hs_hit qh[1];
    size_t qn;
    assert_int_equal(hs_search(hl, huge, 2, NULL, qh, &qn, &err), HS_ENONFINITE);
    assert_non_null(strstr(err.message, "Query vector value at index 1"));
    /* nothing was written and the clock did not move */
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.count, 0);
    assert_int_equal(hs_db_clock(db), clock);
    /* query checks use the query messages; nothing crashes */
    hs_hit hit[10];
    size_t n;
    assert_int_equal(hs_search(h, out, 2, NULL, hit, &n, &err), HS_EBALL);
    assert_non_null(strstr(err.message, "Query vector must be strictly inside"));
    assert_int_equal(hs_search(h, in, 3, NULL, hit, &n, &err), HS_EDIM);
    assert_string_equal(err.message, "Query dimension mismatch. Expected 2, got 3");
    assert_int_equal(hs_search(h, in, 2, NULL, hit, &n, &err), HS_OK);
    assert_int_equal(n, 0); /* empty collection: empty result */
    /* an empty batch succeeds without a tick */
    assert_int_equal(hs_upsert(h, pts, 0, 0, &err), HS_OK);
    assert_int_equal(hs_db_clock(db), clock);
    /* the largest float32 values are accepted on l2; cosine normalises any finite value */
    double big_ok[] = {1.0, 3e38};
    hs_point e9 = {9, big_ok, 2, NULL, 0};
    assert_int_equal(hs_upsert(hl, &e9, 1, 0, &err), HS_OK);
    hs_point e10 = {9, huge, 2, NULL, 0};
    assert_int_equal(hs_upsert(hc, &e10, 1, 0, &err), HS_OK);
    double got[2];
    assert_int_equal(hs_get(hc, 9, got, NULL, NULL, &err), HS_OK);
    assert_true(got[0] >= 0 && got[0] < 1e-200 && got[1] == 1.0);
    hs_collection_close(hl);
    hs_collection_close(h);
    hs_collection_close(hc);
    hs_db_close(db, NULL);
}

static void test_names_and_catalog(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 4;
    hs_error err;
    assert_int_equal(hs_collection_create(db, "default_admin", "../x", &c, &err), HS_ENAME);
    assert_non_null(strstr(err.message, "Invalid collection name '../x'"));
    assert_int_equal(hs_collection_create(db, "default_admin", "", &c, &err), HS_ENAME);
    assert_string_equal(err.message, "Collection name cannot be empty");
    assert_int_equal(hs_collection_create(db, "default_admin", ".hidden", &c, &err), HS_ENAME);
    assert_int_equal(hs_collection_create(db, "bad/tenant", "x", &c, &err), HS_ENAME);
    c.dimension = 0;
    assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_ERANGE);
    assert_string_equal(err.message, "Dimension must be between 1 and 16384 (got 0)");
    c.dimension = 16385;
    assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_ERANGE);
    c.dimension = 4;
    c.m = 1;
    assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_ERANGE);
    c.m = 0;
    assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_OK);
    assert_int_equal(hs_collection_create(db, "default_admin", "x", &c, &err), HS_EEXIST);
    assert_int_equal(hs_collection_create(db, "other", "x", &c, &err), HS_OK); /* per tenant */
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "default_admin", "x", &st, &err), HS_OK);
    assert_int_equal(st.loaded, 0);
    assert_int_equal(st.config.m, 16);
    assert_int_equal(st.config.ef_search, 100);
    assert_int_equal(hs_collection_drop(db, "default_admin", "x", &err), HS_OK);
    assert_int_equal(hs_collection_drop(db, "default_admin", "x", &err), HS_ENOTFOUND);
    assert_int_equal(hs_collection_stats_get(db, "default_admin", "x", &st, &err), HS_ENOTFOUND);
    assert_int_equal(hs_collection_stats_get(db, "other", "x", &st, &err), HS_OK);
    /* nothing of the dropped collection is left on disk */
    char path[256];
    hs_test_coll_dir(path, sizeof(path), root, "default_admin", "x");
    assert_int_equal(access(path, F_OK), -1);
    /* a second process (here: a second open) is locked out */
    hs_db *db2;
    assert_int_equal(hs_db_open(root, NULL, &db2, &err), HS_EBUSY);
    hs_db_close(db, NULL);
}

/* The checkpoints under root holding a CODES section: their count and the records of the last. */
static int ncodes_ckpts;
static uint64_t codes_records;

static int find_codes(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 5 || strcmp(path + n - 5, ".ckpt") != 0)
        return 0;
    hs_ckpt k;
    hs_error err;
    assert_int_equal(hs_ckpt_open(hs_io_posix(), path, &k, &err), HS_OK);
    size_t len;
    const uint8_t *sec = hs_ckpt_section(&k, HS_SEC_CODES, &len);
    if (sec) {
        assert_true(len >= 16);
        uint32_t rec_len = hs_get_le32(sec + 8);
        assert_true(rec_len > 0 && (len - 16) % rec_len == 0);
        codes_records = (len - 16) / rec_len;
        ncodes_ckpts++;
    }
    hs_ckpt_close(&k);
    return 0;
}

static void test_persistence(void **state)
{
    (void)state;
    size_t dim = 8;
    uint64_t clock;
    {
        hs_db *db = open_db(NULL);
        create(db, "p", (uint32_t)dim, HS_METRIC_L2, HS_QUANT_SCALAR);
        create(db, "q", (uint32_t)dim, HS_METRIC_POINCARE, HS_QUANT_NONE);
        hs_collection *h = coll(db, "p"), *hq = coll(db, "q");
        upsert_range(h, 0, 800, dim, 1.0);
        upsert_range(hq, 0, 300, dim, 0.05);
        hs_error err;
        /* indexed before the checkpoint: one that saved only part of the graph lets the close
         * write another (the graph grew by GRAPH_SAVE_NODES since), with all 1200 codes */
        assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
        assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
        upsert_range(h, 800, 1200, dim, 1.0); /* only in the log */
        uint64_t del[] = {10, 20};
        hs_delete(h, del, 2, 0, NULL, &err);
        assert_int_equal(hs_collection_configure(h, 77, 0, &err), HS_OK);
        clock = hs_db_clock(db);
        hs_collection_close(h);
        hs_collection_close(hq);
        hs_db_close(db, NULL);
    }
    /* the quantized collection's checkpoint carries its codes (spec section 6: codes on disk),
     * the 800 points it covers; the unquantized one has none */
    ncodes_ckpts = 0;
    assert_int_equal(nftw(root, find_codes, 16, FTW_PHYS), 0);
    assert_int_equal(ncodes_ckpts, 1);
    assert_int_equal(codes_records, 800);
    hs_db *db = open_db(NULL);
    assert_true(hs_db_clock(db) >= clock);
    hs_collection_stats st;
    hs_error err;
    assert_int_equal(hs_collection_stats_get(db, "default_admin", "p", &st, &err), HS_OK);
    assert_int_equal(st.loaded, 0);
    assert_int_equal(st.count, 1198);
    assert_int_equal(st.config.ef_search, 77);
    hs_collection *h = coll(db, "p");
    assert_self_found(h, 0, 10, dim, 1.0);
    assert_self_found(h, 11, 20, dim, 1.0);
    assert_self_found(h, 21, 1200, dim, 1.0);
    assert_int_equal(hs_get(h, 20, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(st.count, 1198);
    hs_collection *hq = coll(db, "q");
    assert_self_found(hq, 0, 300, dim, 0.05);
    hs_collection_close(h);
    hs_collection_close(hq);
    hs_db_close(db, NULL);
}

/* Components that are exactly bfloat16: the spiral's, rounded to multiples of 1/64. */
static void bf16_point(uint64_t id, double *v, size_t dim)
{
    point(id, v, dim, 1.0);
    for (size_t i = 0; i < dim; i++)
        v[i] = round(v[i] * 64.0) / 64.0;
}

static void upsert_bf16(hs_collection *h, uint64_t from, uint64_t to, size_t dim)
{
    double *v = malloc(dim * sizeof(double));
    hs_error err;
    for (uint64_t id = from; id < to; id++) {
        bf16_point(id, v, dim);
        hs_point pt = {id, v, dim, NULL, 0};
        assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_DEFAULT, &err), HS_OK);
    }
    free(v);
}

/* Searches answer as a brute-force scan of the stored float32 values would: for a query between
 * the points (not bfloat16), the hits are ordered and each distance is the one recomputed from
 * hs_get's vector; every point finds itself at distance 0. */
static void assert_narrow_answers(hs_collection *h, uint64_t from, uint64_t to, size_t dim)
{
    double *q = malloc(dim * sizeof(double)), *v = malloc(dim * sizeof(double));
    hs_error err;
    for (uint64_t id = from; id < to; id += 7) {
        bf16_point(id, q, dim);
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = 5;
        o.ef = 200;
        hs_hit hit[5];
        size_t n;
        assert_int_equal(hs_search(h, q, dim, &o, hit, &n, &err), HS_OK);
        assert_int_equal(n, 5);
        assert_int_equal(hit[0].id, id);
        assert_true(hit[0].distance == 0.0);
        for (size_t i = 0; i < dim; i++)
            q[i] += 0.001 * (double)(i % 3); /* off the grid */
        assert_int_equal(hs_search(h, q, dim, &o, hit, &n, &err), HS_OK);
        for (size_t j = 0; j < n; j++) {
            assert_int_equal(hs_get(h, hit[j].id, v, NULL, NULL, &err), HS_OK);
            double d = 0.0;
            for (size_t i = 0; i < dim; i++) {
                double e = (double)(float)q[i] - v[i];
                d += e * e; /* l2 reports the squared distance */
            }
            if (fabs(hit[j].distance - d) > 1e-9 * (1.0 + d))
                fail_msg("id %llu: distance %.17g, recomputed %.17g",
                         (unsigned long long)hit[j].id, hit[j].distance, d);
            assert_true(j == 0 || hit[j].distance >= hit[j - 1].distance);
        }
    }
    free(q);
    free(v);
}

static uint64_t codes_bytes(hs_collection *h)
{
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    return st.resident_codes_bytes;
}

/* The narrow copy: on while every vector is exactly bfloat16 (its bytes counted as codes), off
 * for good at the first vector that is not, rebuilt at a load from the vectors the collection
 * holds (a dead slot's included), carried through a rebuild, off by option. */
static void test_narrow_copy(void **state)
{
    (void)state;
    size_t dim = 40;
    hs_db *db = open_db(NULL);
    create(db, "n", (uint32_t)dim, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "n");
    upsert_bf16(h, 0, 1500, dim);
    hs_error err;
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    assert_true(codes_bytes(h) >= 1500 * dim * 2);
    assert_narrow_answers(h, 0, 1500, dim);
    /* one vector that is not exactly bfloat16: the copy goes, the answers stay */
    upsert_range(h, 5000, 5001, dim, 1.0);
    assert_int_equal(codes_bytes(h), 0);
    assert_self_found(h, 5000, 5001, dim, 1.0);
    assert_narrow_answers(h, 0, 1500, dim);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    /* reloaded: the replaced vector is dead but still walked, so no copy */
    db = open_db(NULL);
    h = coll(db, "n");
    upsert_bf16(h, 5000, 5001, dim); /* replaced by an exact one */
    assert_int_equal(codes_bytes(h), 0);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = coll(db, "n");
    assert_int_equal(codes_bytes(h), 0);
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK); /* the dead slot goes */
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = coll(db, "n");
    assert_narrow_answers(h, 0, 1500, dim);
    assert_true(codes_bytes(h) >= 1501 * dim * 2);
    assert_narrow_answers(h, 5000, 5001, dim);
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK); /* carried through a rebuild */
    assert_true(codes_bytes(h) >= 1501 * dim * 2);
    assert_narrow_answers(h, 0, 1500, dim);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    /* off by option */
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0;
    o.no_narrow = 1;
    db = open_db(&o);
    h = coll(db, "n");
    assert_int_equal(codes_bytes(h), 0);
    assert_narrow_answers(h, 0, 1500, dim);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* A point of the ball whose components are float32 values (as gRPC sends them), some of them
 * within 1e-5 of the boundary. */
static void ball_point(uint64_t id, double *v, size_t dim)
{
    point(id, v, dim, 1.0);
    double n = 0.0;
    for (size_t i = 0; i < dim; i++)
        n += v[i] * v[i];
    double radius = 1.0 - pow(10.0, -(double)(1 + id % 5));
    for (size_t i = 0; i < dim; i++)
        v[i] = (double)(float)(v[i] / sqrt(n) * radius);
}

enum { BALL_Q = 40, BALL_K = 8 };

/* Every answer (ids and distances) to BALL_Q queries: float64 queries between the points. */
static void ball_answers(hs_collection *h, size_t dim, hs_hit out[BALL_Q][BALL_K])
{
    double *q = malloc(dim * sizeof(double));
    hs_error err;
    for (uint64_t i = 0; i < BALL_Q; i++) {
        ball_point(i * 37 + 3, q, dim);
        for (size_t j = 0; j < dim; j++)
            q[j] *= 0.999 - 1e-7 * (double)(j % 3); /* not float32 */
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.k = BALL_K;
        o.ef = 16;
        size_t n;
        assert_int_equal(hs_search(h, q, dim, &o, out[i], &n, &err), HS_OK);
        assert_int_equal(n, BALL_K);
    }
    free(q);
}

/* The narrow copy in the ball: float32 copies of the float64 records while every vector is
 * exactly float32.  The searches walk them and give the answers the float64 records give, bit
 * for bit (the same graph reopened without the copy, and with it again); a vector that is not
 * exactly float32 drops the copy; a rebuild carries it. */
static void test_narrow_copy_ball(void **state)
{
    (void)state;
    size_t dim = 10, n = 2000;
    hs_db *db = open_db(NULL);
    create(db, "b", (uint32_t)dim, HS_METRIC_POINCARE, HS_QUANT_NONE);
    create(db, "l", (uint32_t)dim + 1, HS_METRIC_LORENTZ, HS_QUANT_NONE); /* never */
    hs_collection *h = coll(db, "b"), *hl = coll(db, "l");
    double *v = malloc(dim * sizeof(double));
    hs_error err;
    for (uint64_t id = 0; id < n; id++) {
        ball_point(id, v, dim);
        hs_point pt = {id, v, dim, NULL, 0};
        assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_DEFAULT, &err), HS_OK);
    }
    double origin[11] = {1.0};
    hs_point po = {1, origin, 11, NULL, 0};
    assert_int_equal(hs_upsert(hl, &po, 1, HS_DURABILITY_DEFAULT, &err), HS_OK);
    assert_int_equal(codes_bytes(hl), 0);
    hs_collection_close(hl);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    assert_true(codes_bytes(h) >= n * (dim * 4 + 8));
    /* carried through a rebuild (a graph built on several threads: the answers are taken on
     * it, and compared below on the same graph reloaded) */
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    assert_true(codes_bytes(h) >= n * (dim * 4 + 8));
    static hs_hit with[BALL_Q][BALL_K], without[BALL_Q][BALL_K];
    ball_answers(h, dim, with);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0;
    o.no_narrow = 1;
    db = open_db(&o);
    h = coll(db, "b");
    ball_answers(h, dim, without);
    assert_int_equal(codes_bytes(h), 0);
    for (size_t i = 0; i < BALL_Q; i++)
        for (size_t j = 0; j < BALL_K; j++)
            if (with[i][j].id != without[i][j].id ||
                memcmp(&with[i][j].distance, &without[i][j].distance, sizeof(double)))
                fail_msg("query %zu hit %zu: %llu at %.17g with the copy, %llu at %.17g without",
                         i, j, (unsigned long long)with[i][j].id, with[i][j].distance,
                         (unsigned long long)without[i][j].id, without[i][j].distance);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    /* reloaded with the copy; then a vector that is not float32: the copy goes, answers stay */
    db = open_db(NULL);
    h = coll(db, "b");
    ball_answers(h, dim, without); /* (loads it) */
    assert_memory_equal(with, without, sizeof(with));
    assert_true(codes_bytes(h) >= n * (dim * 4 + 8));
    ball_point(n, v, dim);
    v[0] += 1e-12;
    hs_point pt = {n, v, dim, NULL, 0};
    assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_DEFAULT, &err), HS_OK);
    assert_int_equal(codes_bytes(h), 0);
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 3;
    hs_hit hit[3];
    size_t nh;
    assert_int_equal(hs_search(h, v, dim, &so, hit, &nh, &err), HS_OK); /* its full record */
    assert_int_equal(nh, 3);
    assert_int_equal(hit[0].id, n);
    assert_true(hit[0].distance == 0.0);
    ball_answers(h, dim, without); /* (every query still gets BALL_K hits) */
    free(v);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

typedef struct waiter {
    hs_collection *h;
    int rc;
    int done; /* atomic */
} waiter;

static void *wait_indexed_thread(void *arg)
{
    waiter *w = arg;
    hs_error err;
    w->rc = hs_collection_wait_indexed(w->h, &err);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* hs_collection_wait_indexed waits out a pause of the indexer (a checkpoint or a rebuild holds
 * one) instead of returning with points still outside the graph. */
static void test_wait_indexed_through_pause(void **state)
{
    (void)state;
    size_t dim = 8, n = 600;
    hs_db *db = open_db(NULL);
    create(db, "wp", (uint32_t)dim, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "wp");
    hs_coll *c;
    hs_error err;
    assert_int_equal(hs_coll_acquire(h, &c, &err), HS_OK);
    hs_indexer_pause(c);
    upsert_range(h, 0, n, dim, 1.0);
    waiter w = {h, -1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_indexed_thread, &w), 0);
    usleep(300 * 1000);
    /* nothing can be indexed while the pause holds: the waiter must still be waiting */
    assert_int_equal(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
    assert_true(hs_hnsw_nodes(c->graph) < n);
    hs_indexer_resume(c);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, HS_OK);
    assert_int_equal(hs_hnsw_nodes(c->graph), n);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_rebuild(void **state)
{
    (void)state;
    size_t dim = 12;
    hs_db *db = open_db(NULL);
    create(db, "rb", (uint32_t)dim, HS_METRIC_COSINE, HS_QUANT_NONE);
    hs_collection *h = coll(db, "rb");
    upsert_range(h, 0, 2000, dim, 1.0);
    uint64_t del[1000];
    for (int i = 0; i < 1000; i++)
        del[i] = (uint64_t)i * 2;
    hs_error err;
    size_t deleted;
    assert_int_equal(hs_delete(h, del, 1000, 0, &deleted, &err), HS_OK);
    upsert_range(h, 1, 100, dim, 1.0); /* 50 replacements (odd ids), 49 re-creations */
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.count, 1000 + 49);
    assert_int_equal(st.deleted, 0);
    for (uint64_t id = 1; id < 2000; id += 2)
        assert_self_found(h, id, id + 1, dim, 1.0);
    assert_self_found(h, 2, 100, dim, 1.0);
    assert_int_equal(hs_get(h, 200, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    char meta[64];
    assert_int_equal(hs_get(h, 1001, NULL, meta_capture, meta, &err), HS_OK);
    assert_string_equal(meta, "tag=v1001");
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = coll(db, "rb");
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.count, 1049);
    assert_self_found(h, 1, 2, dim, 1.0);
    assert_self_found(h, 1999, 2000, dim, 1.0);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_lazy_and_eviction(void **state)
{
    (void)state;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.max_loaded = 2;
    hs_db *db = open_db(&o);
    const char *names[] = {"A", "B", "C"};
    for (int i = 0; i < 3; i++) {
        create(db, names[i], 4, HS_METRIC_L2, HS_QUANT_NONE);
        hs_collection *h = coll(db, names[i]);
        upsert_range(h, 0, 50, 4, 1.0);
        hs_collection_close(h);
    }
    const char *seq[] = {"A", "B", "C", "A"};
    for (int i = 0; i < 4; i++) {
        hs_collection *h = coll(db, seq[i]);
        assert_self_found(h, 0, 50, 4, 1.0);
        hs_collection_close(h);
        int loaded = 0;
        for (int j = 0; j < 3; j++) {
            hs_collection_stats st;
            hs_collection_stats_get(db, "default_admin", names[j], &st, NULL);
            loaded += st.loaded;
        }
        assert_true(loaded <= 2);
    }
    /* C's load evicted A, then A's load evicted B (least recently used) */
    hs_collection_stats st;
    hs_collection_stats_get(db, "default_admin", "B", &st, NULL);
    assert_int_equal(st.loaded, 0);
    assert_int_equal(st.count, 50);
    hs_collection_stats_get(db, "default_admin", "A", &st, NULL);
    assert_int_equal(st.loaded, 1);
    hs_db_close(db, NULL);
}

static void test_idle_unload(void **state)
{
    (void)state;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.idle_timeout_sec = 1;
    hs_db *db = open_db(&o);
    create(db, "idle", 4, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "idle");
    upsert_range(h, 0, 100, 4, 1.0);
    hs_collection_close(h);
    hs_collection_stats st;
    hs_collection_stats_get(db, "default_admin", "idle", &st, NULL);
    assert_int_equal(st.loaded, 1);
    for (int i = 0; i < 300 && st.loaded; i++) { /* 1 s idle, up to 30 s on a loaded machine */
        usleep(100000);
        hs_collection_stats_get(db, "default_admin", "idle", &st, NULL);
    }
    assert_int_equal(st.loaded, 0);
    assert_int_equal(st.count, 100);
    h = coll(db, "idle"); /* wakes on use */
    assert_self_found(h, 0, 100, 4, 1.0);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_digest_vectors(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    create(db, "d", 2, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "d");
    hs_error err;
    double a[] = {0.1, 0.2}, b[] = {0.3, 0.4}, c[] = {0.5, 0.5};
    hs_point pts[] = {{1, a, 2, NULL, 0}, {257, b, 2, NULL, 0}, {2, c, 2, NULL, 0}};
    assert_int_equal(hs_upsert(h, pts, 3, 0, &err), HS_OK);
    hs_digest d;
    assert_int_equal(hs_collection_digest(h, &d, &err), HS_OK);
    /* spec grpc.md 6.3 */
    assert_true(d.buckets[1] == 18343525301270058074ULL);
    assert_true(d.buckets[2] == 2904191119292430209ULL);
    assert_true(d.state_hash == 15482400790564529115ULL);
    assert_int_equal(d.count, 3);
    uint64_t del = 257;
    assert_int_equal(hs_delete(h, &del, 1, 0, NULL, &err), HS_OK);
    hs_collection_digest(h, &d, &err);
    assert_true(d.buckets[1] == 9648031006592018859ULL);
    assert_true(d.state_hash == 12513660011082931754ULL);
    assert_int_equal(d.count, 2);
    hs_collection_close(h);
    create(db, "cos", 2, HS_METRIC_COSINE, HS_QUANT_NONE);
    create(db, "ball", 2, HS_METRIC_POINCARE, HS_QUANT_NONE);
    h = coll(db, "cos");
    double v34[] = {3, 4};
    hs_point p5 = {5, v34, 2, NULL, 0};
    hs_upsert(h, &p5, 1, 0, &err);
    hs_collection_digest(h, &d, &err);
    assert_true(d.buckets[5] == 16993673376258263602ULL);
    hs_collection_close(h);
    h = coll(db, "ball");
    hs_point p3 = {3, a, 2, NULL, 0};
    hs_upsert(h, &p3, 1, 0, &err);
    hs_collection_digest(h, &d, &err);
    assert_true(d.buckets[3] == 1546571788776795943ULL);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* Digest recomputed by the test from the points it can read back. */
static void digest_of_reads(hs_collection *h, uint64_t max_id, size_t dim, uint64_t *buckets)
{
    memset(buckets, 0, 256 * sizeof(uint64_t));
    double v[16];
    unsigned char buf[4 + 8 * 16];
    for (uint64_t id = 0; id < max_id; id++) {
        if (hs_get(h, id, v, NULL, NULL, NULL) != HS_OK)
            continue;
        uint32_t id32 = (uint32_t)id;
        memcpy(buf, &id32, 4);
        memcpy(buf + 4, v, 8 * dim);
        buckets[id & 255] ^= hs_siphash13(0, 0, buf, 4 + 8 * dim);
    }
}

static void test_digest_invariant(void **state)
{
    (void)state;
    size_t dim = 6;
    hs_db *db = open_db(NULL);
    create(db, "inv", (uint32_t)dim, HS_METRIC_COSINE, HS_QUANT_SCALAR);
    hs_collection *h = coll(db, "inv");
    hs_rng r;
    hs_rng_seed(&r, 77);
    hs_error err;
    uint64_t want[256];
    hs_digest d;
    for (int round = 0; round < 6; round++) {
        upsert_range(h, (uint64_t)round * 100, (uint64_t)round * 100 + 300, dim, 1.0);
        uint64_t del[40];
        for (int i = 0; i < 40; i++)
            del[i] = hs_rng_next(&r) % 900;
        hs_delete(h, del, 40, 0, NULL, &err);
        switch (round % 3) {
        case 0:
            hs_collection_checkpoint(h, &err);
            break;
        case 1:
            hs_collection_rebuild(h, &err);
            break;
        default:
            hs_collection_close(h);
            hs_db_close(db, NULL);
            db = open_db(NULL);
            h = coll(db, "inv");
        }
        digest_of_reads(h, 1000, dim, want);
        assert_int_equal(hs_collection_digest(h, &d, &err), HS_OK);
        assert_memory_equal(d.buckets, want, sizeof(want));
    }
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

typedef struct walk {
    uint64_t ids[4096];
    size_t n;
    char meta[4096][24];
} walk;

static int meta_into(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    snprintf(ctx, 24, "%.*s=%.*s", (int)kl, k, (int)vl, v);
    return 0;
}

static int collect_point(void *ctx, const hs_point_view *p)
{
    walk *w = ctx;
    w->meta[w->n][0] = 0;
    hs_meta_each(p, meta_into, w->meta[w->n]);
    w->ids[w->n++] = p->id;
    return 0;
}

static int collect_result(void *ctx, size_t i, const hs_point_view *p)
{
    walk *w = ctx;
    w->meta[i][0] = 0;
    hs_meta_each(p, meta_into, w->meta[i]);
    w->ids[i] = p->id;
    w->n = i + 1;
    return 0;
}

static void test_scroll_peek_results(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    create(db, "s", 4, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "s");
    hs_error err;
    /* ids written in a scrambled order, some deleted */
    for (uint64_t i = 0; i < 300; i++) {
        uint64_t id = (i * 7919) % 300;
        upsert_range(h, id, id + 1, 4, 1.0);
    }
    uint64_t del[] = {0, 5, 299, 150};
    hs_delete(h, del, 4, 0, NULL, &err);
    walk *w = calloc(1, sizeof(*w));
    int more = 1, has_after = 0;
    uint64_t after = 0;
    size_t pages = 0;
    hs_read_opts ro;
    hs_read_result res;
    while (more) {
        size_t before = w->n;
        hs_read_opts_init(&ro);
        ro.has_after = has_after;
        ro.after = after;
        ro.limit = 7;
        assert_int_equal(hs_read(h, &ro, collect_point, w, &res, &err), HS_OK);
        more = res.more;
        assert_int_equal(res.visited, w->n - before);
        assert_true(w->n > before || !more);
        after = w->ids[w->n - 1];
        has_after = 1;
        pages++;
    }
    assert_int_equal(w->n, 296);
    for (size_t i = 1; i < w->n; i++)
        assert_true(w->ids[i] > w->ids[i - 1]);
    assert_int_equal(w->ids[0], 1);
    assert_string_equal(w->meta[0], "tag=v1");
    assert_int_equal(pages, (296 + 6) / 7);
    /* peek: newest write first; the last write of the loop was id (299 * 7919) % 300 */
    memset(w, 0, sizeof(*w));
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_NEWEST;
    ro.limit = 5;
    ro.with_vector = 1;
    assert_int_equal(hs_read(h, &ro, collect_point, w, &res, &err), HS_OK);
    assert_int_equal(w->n, 5);
    assert_true(res.more);
    assert_int_equal(w->ids[0], (299 * 7919) % 300);
    size_t first_page = w->n;
    ro.cursor = res.next;
    ro.limit = 1000;
    ro.with_vector = 0;
    assert_int_equal(hs_read(h, &ro, collect_point, w, &res, &err), HS_OK);
    assert_int_equal(w->n, 296);
    assert_false(res.more);
    /* by ids: the live ones in the given order, missing and deleted ones skipped */
    memset(w, 0, sizeof(*w));
    uint64_t want[] = {7, 5, 1000, 3};
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_IDS;
    ro.ids = want;
    ro.nids = 4;
    assert_int_equal(hs_read(h, &ro, collect_point, w, &res, &err), HS_OK);
    assert_int_equal(res.visited, 2);
    assert_int_equal(w->n, 2);
    assert_int_equal(w->ids[0], 7);
    assert_int_equal(w->ids[1], 3);
    (void)first_page;
    /* search results carry the metadata of the same version */
    memset(w, 0, sizeof(*w));
    double q[4];
    point(42, q, 4, 1.0);
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 3;
    so.on_result = collect_result;
    so.result_ctx = w;
    hs_hit hit[3];
    size_t n;
    assert_int_equal(hs_search(h, q, 4, &so, hit, &n, &err), HS_OK);
    assert_int_equal(w->n, 3);
    assert_int_equal(w->ids[0], 42);
    assert_string_equal(w->meta[0], "tag=v42");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(w->ids[i], hit[i].id);
    free(w);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* accept points whose tag value "v<id>" has an id divisible by ctx's modulus */
static int tag_mod(void *ctx, const hs_point_view *p)
{
    uint64_t mod = *(const uint64_t *)ctx;
    char tag[64] = "";
    hs_meta_each(p, meta_capture, tag);
    unsigned long long id;
    return sscanf(tag, "tag=v%llu", &id) == 1 && id % mod == 0;
}

static void test_filtered_operations(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    create(db, "f", 8, HS_METRIC_L2, HS_QUANT_NONE);
    hs_collection *h = coll(db, "f");
    hs_error err;
    upsert_range(h, 0, 3000, 8, 1.0);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    /* a selective filter (0.1 %): the search still returns min(k, matching) exact results */
    uint64_t mod = 1000;
    double q[8];
    point(1, q, 8, 1.0);
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 10;
    so.accept = tag_mod;
    so.accept_ctx = &mod;
    hs_hit hit[10];
    size_t n;
    assert_int_equal(hs_search(h, q, 8, &so, hit, &n, &err), HS_OK);
    assert_int_equal(n, 3); /* ids 0, 1000, 2000 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hit[i].id % 1000, 0);
    for (size_t i = 1; i < n; i++)
        assert_true(hit[i].distance >= hit[i - 1].distance);
    /* every fourth point: k results, all matching */
    mod = 4;
    assert_int_equal(hs_search(h, q, 8, &so, hit, &n, &err), HS_OK);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hit[i].id % 4, 0);
    /* count and scroll with the same filter */
    uint64_t count;
    assert_int_equal(hs_test_count(h, tag_mod, &mod, &count, &err), HS_OK);
    assert_int_equal(count, 750);
    assert_int_equal(hs_test_count(h, NULL, NULL, &count, &err), HS_OK);
    assert_int_equal(count, 3000);
    walk *w = calloc(1, sizeof(*w));
    int more = 1, has_after = 0;
    uint64_t after = 0;
    while (more) {
        hs_read_opts ro;
        hs_read_opts_init(&ro);
        ro.has_after = has_after;
        ro.after = after;
        ro.limit = 64;
        ro.accept = tag_mod;
        ro.accept_ctx = &mod;
        hs_read_result res;
        assert_int_equal(hs_read(h, &ro, collect_point, w, &res, &err), HS_OK);
        more = res.more;
        if (w->n == 0)
            break;
        after = w->ids[w->n - 1];
        has_after = 1;
    }
    assert_int_equal(w->n, 750);
    for (size_t i = 0; i < w->n; i++)
        assert_int_equal(w->ids[i], 4 * i);
    free(w);
    /* delete by filter: exactly the matching live points, once */
    size_t deleted = 0;
    assert_int_equal(hs_delete_where(h, tag_mod, &mod, HS_DURABILITY_STRICT, &deleted, &err),
                     HS_OK);
    assert_int_equal(deleted, 750);
    assert_int_equal(hs_delete_where(h, tag_mod, &mod, HS_DURABILITY_STRICT, &deleted, &err),
                     HS_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(hs_test_count(h, NULL, NULL, &count, &err), HS_OK);
    assert_int_equal(count, 2250);
    assert_int_equal(hs_search(h, q, 8, &so, hit, &n, &err), HS_OK);
    assert_int_equal(n, 0);
    hs_collection_close(h);
    /* the deletes are durable */
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = coll(db, "f");
    assert_int_equal(hs_test_count(h, tag_mod, &mod, &count, &err), HS_OK);
    assert_int_equal(count, 0);
    assert_int_equal(hs_test_count(h, NULL, NULL, &count, &err), HS_OK);
    assert_int_equal(count, 2250);
    /* collection names are checked on their own */
    assert_int_equal(hs_name_check(HS_FIELD_COLLECTION, "ok-name_1.x", &err), HS_OK);
    assert_int_equal(hs_name_check(HS_FIELD_COLLECTION, "../x", &err), HS_ENAME);
    assert_non_null(strstr(err.message, "Invalid collection name '../x'"));
    assert_int_equal(hs_name_check(HS_FIELD_COLLECTION, "", &err), HS_ENAME);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

int main(void)
{
    hs_log_set_sink(NULL, NULL, HS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud_all_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_and_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_indexed_through_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_narrow_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_narrow_copy_ball, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_and_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_unload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_invariant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scroll_peek_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_operations, setup, teardown),
    };
    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
