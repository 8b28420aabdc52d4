/*
 * test_filter_recall.c: filtered search on 100,000 seeded vectors with metadata against exact
 * filtered search (spec B4.1, B4.2, issue "filtered and hybrid search").
 *
 * Gaussian-mixture vectors (dimension 32, l2, default m 16 / ef_construction 100 / ef_search 100)
 * each get a random r in [0, 1000), independent of the vector, stored as metadata in several
 * forms: a Range key "r" (an integer string), Match keys "t1" / "t10" / "all" (strings), a float
 * "f" = (r + 0.25) / 1000, booleans "b1" / "b10" / "ball" and a zero-padded string "p" for
 * Prefix.  At selectivities 0.1 %, 1 %, 10 %, 50 % and 100 % (string Match and integer Range,
 * then boolean Match, float Range, Prefix and AND / OR / NOT trees, and unfiltered), every query
 * must return exactly min(k, matching) points, all matching, and mean recall@10 against the
 * exact filtered top 10 must be >= 0.95, for quantization none and scalar.  The single-thread QPS of each selectivity
 * is printed next to the unfiltered QPS (not asserted: machines are shared).
 * HS_FILTER_N overrides the number of points (default 100000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperspace.h"
#include "oracle_data.h"
#include "storage/storage.h"

#define DIM 32
#define NQ 200
#define K 10

static char root[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct sel {
    const char *name;
    double fraction;
    hs_cond cond; /* unused when !filtered */
    int filtered;
    int rmax; /* matching: r <= rmax */
} sel;

static hs_value v_true = {HS_VALUE_BOOL, NULL, 0, 1, 0, NULL, 0};
static hs_value v_false = {HS_VALUE_BOOL, NULL, 0, 0, 0, NULL, 0};

#define C_BOOL(k, v) {.kind = HS_COND_MATCH, .key = k, .key_len = sizeof(k) - 1, .typed = v}
#define C_PREFIX(p) {.kind = HS_COND_PREFIX, .key = "p", .key_len = 1, .value = p, \
                     .value_len = sizeof(p) - 1}

/* f < 0.01 is r <= 9, f >= 0.0001 is every r */
static hs_cond sub_and[2] = {C_BOOL("b10", &v_true),
                             {.kind = HS_COND_RANGE, .key = "f", .key_len = 1,
                              .fbounds = HS_FBOUND_LT, .flt = 0.01}};
/* r < 1 or 10 <= r <= 99 with r >= 1 only through the first: r <= 99 */
static hs_cond sub_or[2] = {C_BOOL("b1", &v_true), C_PREFIX("0")};
/* not b10 false: r < 100 */
static hs_cond sub_not[1] = {C_BOOL("b10", &v_false)};

typedef struct dist_id {
    double d;
    uint64_t id;
} dist_id;

static int cmp_di(const void *a, const void *b)
{
    const dist_id *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void run(hs_quantization quant)
{
    size_t n = 100000;
    const char *env = getenv("HS_FILTER_N");
    if (env && atol(env) > 1000)
        n = (size_t)atol(env);
    snprintf(root, sizeof(root), "/tmp/hs-test-frecall-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_db_opts o;
    hs_db_opts_init(&o);
    hs_db *db;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    cfg.metric = HS_METRIC_L2;
    cfg.quantization = quant;
    assert_int_equal(hs_collection_create(db, "t", "f", &cfg, &err), HS_OK);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "f", &h, &err), HS_OK);

    /* the queries are further points of the same mixture (each point picks its centre at
     * random, so the tail is a sample of the same distribution) */
    double *x = malloc((n + NQ) * DIM * sizeof(double)), *q = x + n * DIM;
    gaussian_mixture(x, n + NQ, DIM, 64, 42);
    for (size_t i = 0; i < n * DIM; i++)
        x[i] = (double)(float)x[i]; /* as stored: the oracle uses the stored values */
    int *r = malloc(n * sizeof(int));
    hs_rng rng;
    hs_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++)
        r[i] = (int)(hs_rng_next(&rng) % 1000);

    double t0 = now_s();
    for (size_t b = 0; b < n; b += 1000) {
        hs_point pts[1000];
        hs_kv kv[1000][9];
        char rs[1000][8], ps[1000][8];
        hs_value fv[1000], bv[1000][3];
        size_t m = n - b < 1000 ? n - b : 1000;
        for (size_t j = 0; j < m; j++) {
            size_t i = b + j;
            snprintf(rs[j], sizeof(rs[j]), "%d", r[i]);
            kv[j][0] = (hs_kv){"r", 1, rs[j], strlen(rs[j])};
            kv[j][1] = (hs_kv){"t1", 2, r[i] < 1 ? "1" : "0", 1};
            kv[j][2] = (hs_kv){"t10", 3, r[i] < 100 ? "1" : "0", 1};
            kv[j][3] = (hs_kv){"all", 3, "1", 1};
            snprintf(ps[j], sizeof(ps[j]), "%03d", r[i]);
            fv[j] = (hs_value){HS_VALUE_FLOAT, NULL, 0, 0, (r[i] + 0.25) / 1000.0, NULL, 0};
            for (int t = 0; t < 3; t++)
                bv[j][t] = (hs_value){HS_VALUE_BOOL, NULL, 0,
                                      t == 0 ? r[i] < 1 : t == 1 ? r[i] < 100 : 1, 0, NULL, 0};
            kv[j][4] = (hs_kv){"f", 1, NULL, 0, &fv[j]};
            kv[j][5] = (hs_kv){"b1", 2, NULL, 0, &bv[j][0]};
            kv[j][6] = (hs_kv){"b10", 3, NULL, 0, &bv[j][1]};
            kv[j][7] = (hs_kv){"ball", 4, NULL, 0, &bv[j][2]};
            kv[j][8] = (hs_kv){"p", 1, ps[j], strlen(ps[j])};
            pts[j] = (hs_point){i, x + i * DIM, DIM, kv[j], 9};
        }
        assert_int_equal(hs_upsert(h, pts, m, HS_DURABILITY_ASYNC, &err), HS_OK);
    }
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    printf("quantization %d: %zu points indexed in %.1f s\n", (int)quant, n, now_s() - t0);

    sel sels[] = {
        {"unfiltered", 1.0, {0}, 0, 999},
        {"0.1% Match", 0.001, {HS_COND_MATCH, "t1", 2, "1", 1, 0, 0, 0, 0}, 1, 0},
        {"1% Range", 0.01, {HS_COND_RANGE, "r", 1, NULL, 0, 1, 1, 0, 9}, 1, 9},
        {"10% Match", 0.1, {HS_COND_MATCH, "t10", 3, "1", 1, 0, 0, 0, 0}, 1, 99},
        {"50% Range", 0.5, {HS_COND_RANGE, "r", 1, NULL, 0, 1, 1, 0, 499}, 1, 499},
        {"100% Match", 1.0, {HS_COND_MATCH, "all", 3, "1", 1, 0, 0, 0, 0}, 1, 999},
        {"0.1% Bool", 0.001, C_BOOL("b1", &v_true), 1, 0},
        {"1% FRange", 0.01, {.kind = HS_COND_RANGE, .key = "f", .key_len = 1,
                             .fbounds = HS_FBOUND_GT | HS_FBOUND_LT, .fgt = -1, .flt = 0.01},
         1, 9},
        {"10% Bool", 0.1, C_BOOL("b10", &v_true), 1, 99},
        {"50% FRange", 0.5, {.kind = HS_COND_RANGE, .key = "f", .key_len = 1,
                             .fbounds = HS_FBOUND_GTE | HS_FBOUND_LTE, .fgte = 0.0001,
                             .flte = 0.4999},
         1, 499},
        {"100% Bool", 1.0, C_BOOL("ball", &v_true), 1, 999},
        {"1% Prefix", 0.01, C_PREFIX("00"), 1, 9},
        {"10% Prefix", 0.1, C_PREFIX("0"), 1, 99},
        {"1% AND", 0.01, {.kind = HS_COND_AND, .sub = sub_and, .nsub = 2}, 1, 9},
        {"10% OR", 0.1, {.kind = HS_COND_OR, .sub = sub_or, .nsub = 2}, 1, 99},
        {"10% NOT", 0.1, {.kind = HS_COND_NOT, .sub = sub_not, .nsub = 1}, 1, 99},
    };
    dist_id all[K];
    double unfiltered_qps = 0;
    printf("%-12s %10s %10s %10s %8s\n", "selectivity", "matching", "recall@10", "QPS",
           "vs unf.");
    for (size_t s = 0; s < sizeof(sels) / sizeof(sels[0]); s++) {
        hs_where w = {&sels[s].cond, 1, NULL, 0, NULL, 0};
        hs_search_opts so;
        hs_search_opts_init(&so);
        so.k = K;
        so.where = sels[s].filtered ? &w : NULL;
        size_t matching = 0;
        for (size_t i = 0; i < n; i++)
            matching += r[i] <= sels[s].rmax;
        hs_hit got[NQ][K];
        size_t ngot[NQ];
        /* one warm-up pass, then the timed pass */
        for (int pass = 0; pass < 2; pass++) {
            double ts = now_s();
            if (s == 1 && pass == 0) {
                /* the first filtered query after the load builds the payload indexes */
                assert_int_equal(hs_search(h, q, DIM, &so, got[0], &ngot[0], &err), HS_OK);
                printf("first filtered query (builds the payload indexes): %.1f ms\n",
                       (now_s() - ts) * 1e3);
            }
            for (size_t qi = 0; qi < NQ; qi++)
                assert_int_equal(hs_search(h, q + qi * DIM, DIM, &so, got[qi], &ngot[qi], &err),
                                 HS_OK);
            double el = now_s() - ts;
            if (pass == 1) {
                double qps = NQ / el;
                if (s == 0)
                    unfiltered_qps = qps;
                double recall = 0;
                for (size_t qi = 0; qi < NQ; qi++) {
                    const double *qq = q + qi * DIM;
                    size_t m = 0, top = 0; /* all[0..top): the best K so far, sorted */
                    for (size_t i = 0; i < n; i++) {
                        if (r[i] > sels[s].rmax)
                            continue;
                        m++;
                        double d = 0;
                        for (int j = 0; j < DIM; j++)
                            d += (x[i * DIM + j] - qq[j]) * (x[i * DIM + j] - qq[j]);
                        dist_id e = {d, i};
                        if (top == K && cmp_di(&e, &all[K - 1]) >= 0)
                            continue;
                        size_t at = top < K ? top++ : K - 1;
                        while (at > 0 && cmp_di(&e, &all[at - 1]) < 0) {
                            all[at] = all[at - 1];
                            at--;
                        }
                        all[at] = e;
                    }
                    size_t want = m < K ? m : K;
                    if (ngot[qi] != want)
                        fail_msg("%s query %zu: %zu results, want min(%d, %zu)", sels[s].name,
                                 qi, ngot[qi], K, m);
                    size_t hit = 0;
                    for (size_t a = 0; a < ngot[qi]; a++) {
                        if (r[got[qi][a].id] > sels[s].rmax)
                            fail_msg("%s: result %llu does not match", sels[s].name,
                                     (unsigned long long)got[qi][a].id);
                        for (size_t b = 0; b < want; b++)
                            hit += got[qi][a].id == all[b].id;
                    }
                    recall += want ? (double)hit / (double)want : 1.0;
                }
                recall /= NQ;
                printf("%-12s %10zu %10.4f %10.0f %7.2fx\n", sels[s].name, matching, recall, qps,
                       qps / unfiltered_qps);
                if (recall < 0.95)
                    fail_msg("%s: recall@10 %.4f < 0.95", sels[s].name, recall);
            }
        }
    }
    free(x);
    free(r);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    hs_remove_tree(hs_io_posix(), root);
}

static void test_none(void **state)
{
    (void)state;
    run(HS_QUANT_NONE);
}

static void test_scalar(void **state)
{
    (void)state;
    run(HS_QUANT_SCALAR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_scalar),
    };
    return cmocka_run_group_tests_name("filter_recall", tests, NULL, NULL);
}
