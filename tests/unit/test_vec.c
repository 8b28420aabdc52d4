/*
 * test_vec.c: distance kernels against a long-double reference on random inputs and awkward
 * dimensions, for every kernel table this CPU can run; the Poincare ranking key against the
 * geodesic distance; the spec's worked examples for norms, normalisation, distances and codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "vec/vec.h"

static const size_t dims[] = {1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 784, 1025};

static const hs_vec_kernels *tables[4];
static size_t ntables;

static int setup_tables(void **state)
{
    (void)state;
    const char *names[] = {"scalar", "avx2", "neon"};
    ntables = 0;
    for (size_t i = 0; i < HS_ARRAY_LEN(names); i++) {
        const hs_vec_kernels *k = hs_vec_kernels_by_name(names[i]);
        if (k)
            tables[ntables++] = k;
    }
    print_message("kernel tables under test:");
    for (size_t i = 0; i < ntables; i++)
        print_message(" %s", tables[i]->name);
    print_message(" (dispatched: %s)\n", hs_vec_kernels_get()->name);
    return 0;
}

static void fill(hs_rng *r, float *a, double *ad, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)(hs_rng_normal(r) * scale);
        ad[i] = hs_rng_normal(r) * scale;
    }
}

/* |got - want| <= rel * magnitude, where magnitude is the sum of absolute terms. */
static void assert_close(long double got, long double want, long double mag, long double rel,
                         const char *what, const char *kname, size_t dim)
{
    long double err = fabsl(got - want);
    if (err > rel * mag + 1e-30L)
        fail_msg("%s (%s, dim %zu): got %.17Lg want %.17Lg (err %.3Lg, mag %.3Lg)", what, kname,
                 dim, got, want, err, mag);
}

static void test_float_kernels(void **state)
{
    (void)state;
    hs_rng r;
    hs_rng_seed(&r, 1);
    for (size_t di = 0; di < HS_ARRAY_LEN(dims); di++) {
        size_t d = dims[di];
        float *a = malloc(d * 4), *b = malloc(d * 4);
        double *ad = malloc(d * 8), *bd = malloc(d * 8);
        for (int rep = 0; rep < 20; rep++) {
            fill(&r, a, ad, d, rep % 2 ? 1.0 : 100.0);
            fill(&r, b, bd, d, rep % 2 ? 1.0 : 100.0);
            long double l2 = 0, dot = 0, dmag = 0, l2d = 0, dotd = 0, dmagd = 0;
            for (size_t i = 0; i < d; i++) {
                long double x = a[i], y = b[i];
                l2 += (x - y) * (x - y);
                dot += x * y;
                dmag += fabsl(x * y);
                long double xd = ad[i], yd = bd[i];
                l2d += (xd - yd) * (xd - yd);
                dotd += xd * yd;
                dmagd += fabsl(xd * yd);
            }
            for (size_t t = 0; t < ntables; t++) {
                const hs_vec_kernels *k = tables[t];
                assert_close(k->l2sq_f32(a, b, d), l2, l2, 1e-5L, "l2sq_f32", k->name, d);
                assert_close(k->dot_f32(a, b, d), dot, dmag, 1e-5L, "dot_f32", k->name, d);
                assert_close(k->l2sq_f64(ad, bd, d), l2d, l2d, 1e-13L, "l2sq_f64", k->name, d);
                assert_close(k->dot_f64(ad, bd, d), dotd, dmagd, 1e-13L, "dot_f64", k->name, d);
                assert_close(k->l2sq_f32_wide(a, b, d), l2, l2, 1e-13L, "l2sq_f32_wide", k->name,
                             d);
                assert_close(k->dot_f32_wide(a, b, d), dot, dmag, 1e-13L, "dot_f32_wide",
                             k->name, d);
                /* identical inputs are exactly at distance zero */
                assert_true(k->l2sq_f32(a, a, d) == 0.0f);
                assert_true(k->l2sq_f64(ad, ad, d) == 0.0);
            }
        }
        free(a);
        free(b);
        free(ad);
        free(bd);
    }
}

/* The four-at-once kernels equal four single calls of the same table (same summation order is
 * not required, so compare against the reference with the usual tolerance). */
static void test_x4_kernels(void **state)
{
    (void)state;
    hs_rng r;
    hs_rng_seed(&r, 9);
    for (size_t di = 0; di < HS_ARRAY_LEN(dims); di++) {
        size_t d = dims[di];
        float *f[5];
        double *g[5];
        int8_t *c[5];
        for (int j = 0; j < 5; j++) {
            f[j] = malloc(d * 4);
            g[j] = malloc(d * 8);
            c[j] = malloc(d);
            for (size_t i = 0; i < d; i++) {
                f[j][i] = (float)hs_rng_normal(&r);
                g[j][i] = hs_rng_normal(&r);
                c[j][i] = (int8_t)(hs_rng_next(&r) % 255 - 127);
            }
        }
        const float *fv[4] = {f[1], f[2], f[3], f[4]};
        const double *gv[4] = {g[1], g[2], g[3], g[4]};
        const int8_t *cv[4] = {c[1], c[2], c[3], c[4]};
        const hs_vec_kernels *ref = hs_vec_kernels_scalar();
        for (size_t t = 0; t < ntables; t++) {
            float fo[4];
            double go[4];
            int32_t co[4];
            tables[t]->l2sq_f32_x4(f[0], fv, d, fo);
            tables[t]->l2sq_f64_x4(g[0], gv, d, go);
            tables[t]->dot_i8_x4(c[0], cv, d, co);
            for (int j = 0; j < 4; j++) {
                double wf = ref->l2sq_f32_wide(f[0], fv[j], d);
                assert_close(fo[j], wf, wf, 1e-5L, "l2sq_f32_x4", tables[t]->name, d);
                double wg = ref->l2sq_f64(g[0], gv[j], d);
                assert_close(go[j], wg, wg, 1e-13L, "l2sq_f64_x4", tables[t]->name, d);
                assert_int_equal(co[j], ref->dot_i8(c[0], cv[j], d));
            }
        }
        for (int j = 0; j < 5; j++) {
            free(f[j]);
            free(g[j]);
            free(c[j]);
        }
    }
}

static void test_integer_kernels(void **state)
{
    (void)state;
    hs_rng r;
    hs_rng_seed(&r, 2);
    for (size_t di = 0; di < HS_ARRAY_LEN(dims); di++) {
        size_t d = dims[di], words = (d + 63) / 64;
        int8_t *a = malloc(d), *b = malloc(d);
        uint64_t *wa = malloc(words * 8), *wb = malloc(words * 8);
        for (int rep = 0; rep < 20; rep++) {
            int32_t want = 0;
            for (size_t i = 0; i < d; i++) {
                /* extremes included: +-127 everywhere in some repetitions */
                a[i] = rep == 0 ? 127 : rep == 1 ? -127 : (int8_t)(hs_rng_next(&r) % 255 - 127);
                b[i] = rep == 0 ? 127 : rep == 1 ? 127 : (int8_t)(hs_rng_next(&r) % 255 - 127);
                want += (int32_t)a[i] * b[i];
            }
            uint32_t ham = 0;
            for (size_t w = 0; w < words; w++) {
                wa[w] = hs_rng_next(&r);
                wb[w] = hs_rng_next(&r);
                ham += (uint32_t)__builtin_popcountll(wa[w] ^ wb[w]);
            }
            for (size_t t = 0; t < ntables; t++) {
                assert_int_equal(tables[t]->dot_i8(a, b, d), want);
                assert_int_equal(tables[t]->hamming(wa, wb, words), ham);
            }
        }
        free(a);
        free(b);
        free(wa);
        free(wb);
    }
}

/* Geodesic distance in long double from the definition. */
static long double geodesic(const double *u, const double *v, size_t d)
{
    long double nu = 0, nv = 0, duv = 0;
    for (size_t i = 0; i < d; i++) {
        nu += (long double)u[i] * u[i];
        nv += (long double)v[i] * v[i];
        duv += ((long double)u[i] - v[i]) * ((long double)u[i] - v[i]);
    }
    return acoshl(1 + 2 * duv / ((1 - nu) * (1 - nv)));
}

/* A random point at hyperbolic radius rho: |x| = tanh(rho / 2). */
static void ball_point(hs_rng *r, double *x, size_t d, double rho)
{
    double n = 0;
    for (size_t i = 0; i < d; i++) {
        x[i] = hs_rng_normal(r);
        n += x[i] * x[i];
    }
    double s = tanh(rho / 2) / sqrt(n);
    for (size_t i = 0; i < d; i++)
        x[i] *= s;
}

typedef struct ranked {
    long double key;
    size_t id;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Ranking by delta (float64 kernels, float64 alpha) equals ranking by the geodesic distance for
 * points up to hyperbolic radius 15 (|x| = 1 - 6e-7), for every kernel table. */
static void test_poincare_ranking(void **state)
{
    (void)state;
    const size_t d = 10, n = 400;
    hs_rng r;
    hs_rng_seed(&r, 3);
    double *pts = malloc(n * d * sizeof(double)), q[10];
    double *alpha = malloc(n * sizeof(double));
    ranked *by_geo = malloc(n * sizeof(ranked)), *by_delta = malloc(n * sizeof(ranked));
    for (int rep = 0; rep < 20; rep++) {
        double qr = 0.5 + 14.5 * hs_rng_uniform(&r);
        ball_point(&r, q, d, qr);
        double aq = hs_poincare_alpha(hs_vec_sqnorm_strict(q, d));
        for (size_t i = 0; i < n; i++) {
            /* radii spread over [0, 15], half of them close to the query's radius */
            double rho = i % 2 ? 15.0 * hs_rng_uniform(&r) : fmin(15.0, qr + hs_rng_normal(&r));
            ball_point(&r, pts + i * d, d, fabs(rho));
            alpha[i] = hs_poincare_alpha(hs_vec_sqnorm_strict(pts + i * d, d));
            by_geo[i] = (ranked){geodesic(pts + i * d, q, d), i};
        }
        qsort(by_geo, n, sizeof(ranked), cmp_ranked);
        for (size_t t = 0; t < ntables; t++) {
            for (size_t i = 0; i < n; i++) {
                double delta = tables[t]->l2sq_f64(pts + i * d, q, d) * alpha[i] * aq;
                by_delta[i] = (ranked){delta, i};
            }
            qsort(by_delta, n, sizeof(ranked), cmp_ranked);
            for (size_t i = 0; i < n; i++) {
                /* a swap is only tolerated between points whose geodesic distances agree to
                 * float64 resolution (a genuine tie) */
                if (by_delta[i].id != by_geo[i].id) {
                    long double g1 = geodesic(pts + by_delta[i].id * d, q, d);
                    long double g2 = geodesic(pts + by_geo[i].id * d, q, d);
                    if (fabsl(g1 - g2) > 1e-12L * fabsl(g2))
                        fail_msg("rank %zu differs (%s): %zu vs %zu", i, tables[t]->name,
                                 by_delta[i].id, by_geo[i].id);
                }
            }
            /* and the reported distance matches the geodesic distance */
            double dd = hs_vec_distance_f64(tables[t], HS_METRIC_POINCARE, pts, q, d, alpha[0], aq);
            long double g = geodesic(pts, q, d);
            assert_true(fabsl(dd - g) <= 1e-9L * fmaxl(1, g));
        }
    }
    free(pts);
    free(alpha);
    free(by_geo);
    free(by_delta);
}

static void test_spec_examples(void **state)
{
    (void)state;
    const hs_vec_kernels *k = hs_vec_kernels_get();
    /* B2.2 squared norms */
    double v1[] = {0.8, 0.8}, v2[] = {0.9999999999999999}, v3[] = {1.0, 0.0};
    assert_true(hs_vec_sqnorm_strict(v1, 2) == 1.2800000000000002);
    assert_true(hs_vec_sqnorm_strict(v2, 1) == 0.9999999999999998);
    assert_true(hs_vec_sqnorm_strict(v3, 2) == 1.0);
    /* B3.1 cosine normalisation */
    double c1[] = {3, 4};
    assert_true(hs_vec_normalize_f64(c1, 2));
    assert_true(c1[0] == 0x1.3333333333334p-1 && c1[1] == 0x1.999999999999ap-1);
    double c2[] = {0.6, 0.8};
    assert_true(hs_vec_normalize_f64(c2, 2));
    assert_true(c2[0] == 0.6 && c2[1] == 0.8);
    double c3[] = {0, -0.0};
    assert_false(hs_vec_normalize_f64(c3, 2));
    double c4[] = {1e-320, 2e-320}, c5[] = {1e300, 1e300};
    assert_true(hs_vec_normalize_f64(c4, 2) && hs_vec_normalize_f64(c5, 2));
    assert_true(fabs(hs_vec_sqnorm_strict(c4, 2) - 1) < 1e-15);
    assert_true(fabs(hs_vec_sqnorm_strict(c5, 2) - 1) < 1e-15);
    /* B3.2 reported distances */
    float a[] = {1, 2, 3}, b[] = {4, 5, 6};
    assert_true(hs_vec_distance_f32(k, HS_METRIC_L2, a, b, 3, 0, 0) == 27.0);
    double o[] = {0, 0, 0}, h[] = {0.5, 0, 0};
    double ao = hs_poincare_alpha(0), ah = hs_poincare_alpha(hs_vec_sqnorm_strict(h, 3));
    assert_true(fabs(hs_vec_distance_f64(k, HS_METRIC_POINCARE, o, h, 3, ao, ah) -
                     1.0986122886681098) < 1e-12);
    assert_true(hs_vec_distance_f64(k, HS_METRIC_POINCARE, h, h, 3, ah, ah) == 0.0);
    float u[] = {0.6f, 0.8f}, w[] = {-0.8f, 0.6f}, z[] = {-0.6f, -0.8f};
    assert_true(hs_vec_distance_f32(k, HS_METRIC_COSINE, u, u, 2, 0, 0) <= 1e-15);
    assert_true(fabs(hs_vec_distance_f32(k, HS_METRIC_COSINE, u, w, 2, 0, 0) - 1) <= 1e-7);
    assert_true(fabs(hs_vec_distance_f32(k, HS_METRIC_COSINE, u, z, 2, 0, 0) - 2) <= 1e-7);
    float big[] = {3e38f}, nbig[] = {-3e38f};
    assert_true(hs_vec_distance_f32(k, HS_METRIC_L2, big, nbig, 1, 0, 0) <= DBL_MAX);
    double hb[] = {1e200}, nhb[] = {-1e200};
    assert_true(hs_vec_distance_f64(k, HS_METRIC_L2, hb, nhb, 1, 0, 0) == DBL_MAX);
}

static void test_quantizers(void **state)
{
    (void)state;
    float x[] = {0.5f, -1.0f, 0.25f, 0.0f, 1.0f / 254.0f};
    int8_t c[5];
    float scale = hs_quant_sq8_encode(x, 5, c);
    assert_true(scale == 1.0f / 127.0f);
    assert_int_equal(c[0], 64); /* 63.5 rounds half away from zero */
    assert_int_equal(c[1], -127);
    assert_int_equal(c[2], 32); /* 31.75 */
    assert_int_equal(c[3], 0);
    assert_int_equal(c[4], 1); /* 0.5 rounds away from zero */
    float zero[3] = {0};
    assert_true(hs_quant_sq8_encode(zero, 3, c) == 0.0f && c[0] == 0 && c[2] == 0);
    double xd[] = {0.5, -1.0, 0.25, 0.0, 1.0 / 254.0};
    int8_t cd[5], cf[5];
    assert_true(hs_quant_sq8_encode_f64(xd, 5, cd) == scale);
    assert_true(hs_quant_sq8_encode(x, 5, cf) == scale);
    assert_memory_equal(cd, cf, 5);
    uint64_t words[2];
    float bits[70];
    for (int i = 0; i < 70; i++)
        bits[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? -1.0f : 0.0f;
    hs_quant_bin_encode(bits, 70, words);
    for (int i = 0; i < 70; i++)
        assert_int_equal((int)(words[i / 64] >> (i % 64) & 1), i % 3 == 0);
    assert_int_equal(words[1] >> 6, 0);
}

/* Traversal distances of each code rank like the exact distance on easy data. */

/* Poincare point p (dim n) to the hyperboloid (n + 1 coordinates), in long double. */
static void to_lorentz(const long double *p, size_t n, double *x)
{
    long double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i] * p[i];
    long double den = 1.0L - s;
    x[0] = (double)((1.0L + s) / den);
    for (size_t i = 0; i < n; i++)
        x[1 + i] = (double)(2.0L * p[i] / den);
}

/* Reference geodesic distance of two Poincare points in long double. */
static long double poincare_ref(const long double *p, const long double *q, size_t n)
{
    long double sp = 0, sq = 0, dd = 0;
    for (size_t i = 0; i < n; i++) {
        sp += p[i] * p[i];
        sq += q[i] * q[i];
        dd += (p[i] - q[i]) * (p[i] - q[i]);
    }
    long double delta = dd / ((1.0L - sp) * (1.0L - sq));
    return 2.0L * asinhl(sqrtl(delta));
}

/*
 * The Lorentz key against a long-double reference: pairs far apart and pairs 1e-3 .. 1e-7 apart,
 * from the centre to hyperbolic radius ~16 (x0 ~ 4e6), where x0 y0 - x.y cancels.  The stable
 * key keeps the distance to a relative error of 1e-6 (measured: < 1e-8) of the ball's distance
 * between the images of the stored float64 coordinates;
 * the naive formula is shown to lose it, so the test can tell them apart.
 */
static void lorentz_kernel_check(const hs_vec_kernels *k, size_t n)
{
    enum { NMAX = 64 };
    hs_rng r;
    hs_rng_seed(&r, 11);
    double worst_stable = 0, worst_naive = 0, far_stable = 0, far_naive = 0, worst_f32 = 0;
    for (int t = 0; t < 4000; t++) {
        long double p[NMAX], q[NMAX], np = 0;
        for (size_t i = 0; i < n; i++) {
            p[i] = (long double)hs_rng_normal(&r);
            np += p[i] * p[i];
        }
        /* radius from 0 to ~16: |p| = tanh(r / 2) */
        long double rad = (long double)(t % 17), scale = tanhl(rad / 2) / sqrtl(np);
        long double step = (t / 17) % 3 == 0 ? 0.5L : powl(10.0L, -(long double)(3 + t % 5));
        long double nq = 0;
        for (size_t i = 0; i < n; i++) {
            p[i] *= scale;
            q[i] = p[i] * (1.0L - step * (long double)hs_rng_uniform(&r)) +
                   step * 1e-3L * (long double)hs_rng_normal(&r) * (1.0L - tanhl(rad / 2));
            nq += q[i] * q[i];
        }
        if (nq >= 1.0L)
            continue;
        double a[NMAX + 1], b[NMAX + 1];
        to_lorentz(p, n, a);
        to_lorentz(q, n, b);
        /* the reference distance of the points actually stored (rounded to float64) */
        long double pa[NMAX], pb[NMAX];
        for (size_t i = 0; i < n; i++) {
            pa[i] = (long double)a[1 + i] / (1.0L + (long double)a[0]);
            pb[i] = (long double)b[1 + i] / (1.0L + (long double)b[0]);
        }
        long double ref = poincare_ref(pa, pb, n);
        if (ref < 1e-12L)
            continue;
        double got = hs_lorentz_dist_from_key(hs_lorentz_key_f64(k, a, b, n + 1));
        float gotf = (float)hs_lorentz_key_f64(k, a, b, n + 1);
        assert_true(gotf >= 0.0f);
        double naive_in = a[0] * b[0];
        for (size_t i = 1; i <= n; i++)
            naive_in -= a[i] * b[i];
        double naive = acosh(naive_in < 1.0 ? 1.0 : naive_in);
        double es = fabs(got - (double)ref) / (double)ref;
        double en = fabs(naive - (double)ref) / (double)ref;
        worst_stable = fmax(worst_stable, es);
        worst_naive = fmax(worst_naive, en);
        if (rad > 10) {
            far_stable = fmax(far_stable, es);
            far_naive = fmax(far_naive, en);
        }
        if (es >= 1e-6)
            fail_msg("lorentz key (%s, %zu spatial): relative error %.3g", k->name, n, es);
        /* the float32 entry point: the same key as the float64 one on the same numbers */
        float af[NMAX + 1], bf[NMAX + 1];
        double aw[NMAX + 1], bw[NMAX + 1];
        for (size_t i = 0; i <= n; i++) {
            af[i] = (float)a[i];
            bf[i] = (float)b[i];
            aw[i] = af[i];
            bw[i] = bf[i];
        }
        double k32 = hs_lorentz_key_f32(k, af, bf, n + 1);
        double k64 = hs_lorentz_key_f64(k, aw, bw, n + 1);
        if (k64 > 0)
            worst_f32 = fmax(worst_f32, fabs(k32 - k64) / k64);
        /* the four-at-once sums (b, a itself, b, b) finish to the same keys */
        const double *v64[4] = {b + 1, a + 1, b + 1, b + 1};
        const float *v32[4] = {bf + 1, af + 1, bf + 1, bf + 1};
        double s64[4][3], s32[4][3];
        k->lorentz_sums_f64_x4(a + 1, v64, n, s64);
        k->lorentz_sums_f32_x4(af + 1, v32, n, s32);
        double one64 = hs_lorentz_key_f64(k, a, b, n + 1), one32 = k32;
        for (int j = 0; j < 4; j++) {
            double w64 = j == 1 ? 0.0 : one64, w32 = j == 1 ? 0.0 : one32;
            double g64 = hs_lorentz_key_from_f64(k, s64[j], a, v64[j] - 1, n + 1);
            double g32 = hs_lorentz_key_from_f32(k, s32[j], af, v32[j] - 1, n + 1);
            if (fabs(g64 - w64) > 1e-9 * w64 + 1e-300 || fabs(g32 - w32) > 1e-9 * w32 + 1e-300)
                fail_msg("lorentz x4 (%s, %zu spatial, record %d): %.17g / %.17g against "
                         "%.17g / %.17g", k->name, n, j, g64, g32, w64, w32);
        }
    }
    print_message("lorentz (%s, %zu spatial): worst relative error up to radius 10: stable %.3g, "
                  "naive %.3g; radius 11-16: stable %.3g, naive %.3g; f32 against f64 entry %.3g\n",
                  k->name, n, worst_stable, worst_naive, far_stable, far_naive, worst_f32);
    assert_true(worst_naive > 1e-3); /* the cancellation this kernel avoids */
    assert_true(worst_f32 < 1e-9);
}

/*
 * The Lorentz key against a long-double reference: pairs far apart and pairs 1e-3 .. 1e-7 apart,
 * from the centre to hyperbolic radius ~16 (x0 ~ 4e6), where x0 y0 - x.y cancels.  The stable
 * key keeps the distance to a relative error of 1e-6 (measured: < 1e-8) of the ball's distance
 * between the images of the stored float64 coordinates, with every kernel table, for 9 spatial
 * components (a SIMD step and a tail) and 64 (SIMD steps only);
 * the naive formula is shown to lose it, so the test can tell them apart.
 */
static void test_lorentz_kernel(void **state)
{
    (void)state;
    for (size_t i = 0; i < ntables; i++) {
        lorentz_kernel_check(tables[i], 9);
        lorentz_kernel_check(tables[i], 64);
    }
    /* the f32 entry point and the reported distance agree with the f64 one */
    double a[3] = {0, 0.3, -0.4}, b[3] = {0, -0.2, 0.1};
    a[0] = sqrt(1 + 0.09 + 0.16);
    b[0] = sqrt(1 + 0.04 + 0.01);
    float af[3] = {(float)a[0], (float)a[1], (float)a[2]}, bf[3] = {(float)b[0], (float)b[1], (float)b[2]};
    double d64 = hs_vec_distance_f64(hs_vec_kernels_get(), HS_METRIC_LORENTZ, a, b, 3, 0, 0);
    double d32 = hs_vec_distance_f32(hs_vec_kernels_get(), HS_METRIC_LORENTZ, af, bf, 3, 0, 0);
    double naive = acosh(a[0] * b[0] - a[1] * b[1] - a[2] * b[2]);
    assert_true(fabs(d64 - naive) < 1e-12);
    assert_true(fabs(d32 - naive) < 1e-6);
    assert_true(hs_vec_distance_f64(hs_vec_kernels_get(), HS_METRIC_LORENTZ, a, a, 3, 0, 0) == 0.0);
    /* the space ranks by the key and refuses quantized codes */
    hs_space sp;
    assert_int_equal(hs_space_init(&sp, HS_METRIC_LORENTZ, HS_CODE_SQ8, 3), HS_EINVAL);
    assert_int_equal(hs_space_init(&sp, HS_METRIC_LORENTZ, HS_CODE_F64, 1), HS_EINVAL);
    assert_int_equal(hs_space_init(&sp, HS_METRIC_LORENTZ, HS_CODE_F64, 3), HS_OK);
    double ra[8], rb[8];
    hs_space_encode_f64(&sp, a, ra);
    hs_space_encode_f64(&sp, b, rb);
    assert_true(fabs(hs_space_dist(&sp, ra, rb) - (cosh(naive) - 1.0)) < 1e-6);
    /* the batch form (four records at a time, then one) agrees with the single form */
    hs_rng r;
    hs_rng_seed(&r, 5);
    for (int code = 0; code < 2; code++) {
        hs_space ls;
        assert_int_equal(hs_space_init(&ls, HS_METRIC_LORENTZ, code ? HS_CODE_F64 : HS_CODE_F32,
                                       65), HS_OK);
        char *rec[6];
        for (int j = 0; j < 6; j++) {
            long double p[64], np = 0;
            for (int i = 0; i < 64; i++) {
                p[i] = (long double)hs_rng_normal(&r);
                np += p[i] * p[i];
            }
            for (int i = 0; i < 64; i++)
                p[i] *= 0.999L / sqrtl(np) * (long double)hs_rng_uniform(&r);
            double x[65];
            to_lorentz(p, 64, x);
            rec[j] = calloc(1, ls.rec_len);
            hs_space_encode_f64(&ls, x, rec[j]);
        }
        const void *recs[5] = {rec[1], rec[2], rec[3], rec[4], rec[5]};
        float many[5];
        ls.dist_many(&ls, rec[0], recs, 5, many);
        for (int j = 0; j < 5; j++) {
            float one = hs_space_dist(&ls, rec[0], recs[j]);
            assert_true(one > 0.0f && fabsf(many[j] - one) <= 1e-6f * one);
        }
        for (int j = 0; j < 6; j++)
            free(rec[j]);
    }
}

static void test_spaces(void **state)
{
    (void)state;
    const hs_metric metrics[] = {HS_METRIC_L2, HS_METRIC_COSINE, HS_METRIC_POINCARE};
    const hs_code codes[] = {HS_CODE_F32, HS_CODE_F64, HS_CODE_SQ8, HS_CODE_BIN};
    const uint32_t d = 128;
    hs_rng r;
    hs_rng_seed(&r, 4);
    double x[128], near[128], far[128];
    for (size_t mi = 0; mi < 3; mi++) {
        for (size_t ci = 0; ci < 4; ci++) {
            hs_space sp;
            assert_int_equal(hs_space_init(&sp, metrics[mi], codes[ci], d), HS_OK);
            assert_int_equal(sp.rec_len % 8, 0);
            char *rx = calloc(1, sp.rec_len), *rn = calloc(1, sp.rec_len),
                 *rf = calloc(1, sp.rec_len);
            for (uint32_t i = 0; i < d; i++) {
                x[i] = hs_rng_normal(&r) * 0.05;
                near[i] = x[i] + hs_rng_normal(&r) * 0.002;
                far[i] = -x[i] + hs_rng_normal(&r) * 0.01;
            }
            hs_space_encode_f64(&sp, x, rx);
            hs_space_encode_f64(&sp, near, rn);
            hs_space_encode_f64(&sp, far, rf);
            assert_true(hs_space_dist(&sp, rx, rn) < hs_space_dist(&sp, rx, rf));
            assert_true(hs_space_dist(&sp, rx, rx) <= hs_space_dist(&sp, rx, rn));
            /* the batch form agrees with the single form */
            const void *recs[5] = {rn, rf, rx, rn, rf};
            float many[5];
            sp.dist_many(&sp, rx, recs, 5, many);
            for (int j = 0; j < 5; j++) {
                float one = hs_space_dist(&sp, rx, recs[j]);
                assert_true(fabsf(many[j] - one) <= 1e-5f * fabsf(one) + 1e-30f);
            }
            if (codes[ci] != HS_CODE_BIN)
                assert_true(hs_space_dist(&sp, rx, rx) <= 1e-6f * hs_space_dist(&sp, rx, rf));
            free(rx);
            free(rn);
            free(rf);
        }
    }
    hs_space sp;
    assert_int_equal(hs_space_init(&sp, HS_METRIC_L2, HS_CODE_F32, 0), HS_EINVAL);
    assert_int_equal(hs_space_init(&sp, (hs_metric)7, HS_CODE_F32, 4), HS_EINVAL);
}

/* A float32 that is exactly a bfloat16: a normal sample with its lower 16 bits cleared. */
static float bf16_sample(hs_rng *r, double scale)
{
    float f = (float)(hs_rng_normal(r) * scale);
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    u &= 0xffff0000u;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* The bfloat16 kernels give the float32 kernels' results bit for bit on bfloat16 values (every
 * table, every awkward dimension); the BF16 space gives the F32 space's distances; exactness is
 * recognised and a non-exact component refused. */
static void test_bf16(void **state)
{
    (void)state;
    hs_rng r;
    hs_rng_seed(&r, 16);
    for (size_t di = 0; di < HS_ARRAY_LEN(dims); di++) {
        size_t d = dims[di];
        float *q = malloc(d * 4), *f[4];
        uint16_t *h[4];
        for (size_t i = 0; i < d; i++)
            q[i] = (float)hs_rng_normal(&r); /* the query need not be bfloat16 */
        for (int j = 0; j < 4; j++) {
            f[j] = malloc(d * 4);
            h[j] = malloc(d * 2);
            for (size_t i = 0; i < d; i++) {
                f[j][i] = bf16_sample(&r, j == 3 ? 1e-3 : 1.0);
                uint32_t u;
                memcpy(&u, &f[j][i], sizeof(u));
                h[j][i] = (uint16_t)(u >> 16);
                assert_true(hs_bf16_to_f32(h[j][i]) == f[j][i]);
            }
            assert_true(hs_bf16_exact(f[j], d));
        }
        const float *fv[4] = {f[0], f[1], f[2], f[3]};
        const uint16_t *hv[4] = {h[0], h[1], h[2], h[3]};
        for (size_t t = 0; t < ntables; t++) {
            const hs_vec_kernels *k = tables[t];
            if (!k->l2sq_bf16)
                continue;
            float fo[4], ho[4];
            k->l2sq_f32_x4(q, fv, d, fo);
            k->l2sq_bf16_x4(q, hv, d, ho);
            for (int j = 0; j < 4; j++) {
                float a = k->l2sq_f32(q, f[j], d), b = k->l2sq_bf16(q, h[j], d);
                if (memcmp(&a, &b, sizeof(a)) || memcmp(&fo[j], &ho[j], sizeof(a)))
                    fail_msg("l2sq_bf16 (%s, dim %zu): %.9g / %.9g, float32 %.9g / %.9g", k->name,
                             d, b, ho[j], a, fo[j]);
            }
        }
        f[0][d / 2] = nextafterf(f[0][d / 2], INFINITY); /* one ulp of float32 off */
        assert_false(hs_bf16_exact(f[0], d));
        for (int j = 0; j < 4; j++) {
            free(f[j]);
            free(h[j]);
        }
        free(q);
    }
    /* the space: F32 query records against BF16 records, the F32 space's numbers */
    for (int m = 0; m < 2; m++) {
        hs_metric metric = m ? HS_METRIC_COSINE : HS_METRIC_L2;
        const uint32_t dd[] = {9, 64, 784};
        for (size_t di = 0; di < HS_ARRAY_LEN(dd); di++) {
            uint32_t d = dd[di];
            hs_space full, narrow;
            assert_int_equal(hs_space_init(&full, metric, HS_CODE_F32, d), HS_OK);
            assert_int_equal(hs_space_init(&narrow, metric, HS_CODE_BF16, d), HS_OK);
            assert_int_equal(narrow.kdim, full.kdim);
            assert_int_equal(narrow.rec_len, HS_ALIGN_UP(full.kdim * 2, 8));
            enum { N = 7 };
            char *q = calloc(1, full.rec_len), *fr[N], *nr[N];
            float *x = malloc(d * 4);
            for (uint32_t i = 0; i < d; i++)
                x[i] = (float)hs_rng_normal(&r);
            hs_space_encode_f32(&full, x, q);
            for (int j = 0; j < N; j++) {
                fr[j] = calloc(1, full.rec_len);
                nr[j] = calloc(1, narrow.rec_len);
                for (uint32_t i = 0; i < d; i++)
                    x[i] = bf16_sample(&r, 1.0);
                hs_space_encode_f32(&full, x, fr[j]);
                hs_space_encode_f32(&narrow, x, nr[j]);
            }
            float fm[N], nm[N];
            full.dist_many(&full, q, (const void *const *)fr, N, fm);
            narrow.dist_many(&narrow, q, (const void *const *)nr, N, nm);
            for (int j = 0; j < N; j++) {
                float a = hs_space_dist(&full, q, fr[j]), b = hs_space_dist(&narrow, q, nr[j]);
                assert_memory_equal(&a, &b, sizeof(a));
                assert_memory_equal(&fm[j], &nm[j], sizeof(a));
                free(fr[j]);
                free(nr[j]);
            }
            free(q);
            free(x);
        }
    }
    hs_space sp;
    assert_int_equal(hs_space_init(&sp, HS_METRIC_POINCARE, HS_CODE_BF16, 8), HS_EINVAL);
    assert_int_equal(hs_space_init(&sp, HS_METRIC_LORENTZ, HS_CODE_BF16, 8), HS_EINVAL);
}

/* A point of the ball whose components are float32 values (as sent over gRPC), radius r: near
 * the boundary when r is close to 1. */
static void ball_f32_point(hs_rng *r, double *x, size_t d, double radius)
{
    double n = 0.0;
    for (size_t i = 0; i < d; i++) {
        x[i] = hs_rng_normal(r);
        n += x[i] * x[i];
    }
    for (size_t i = 0; i < d; i++)
        x[i] = (double)(float)(x[i] / sqrt(n) * radius);
}

/* The float32 copies of float64 records (F64N): l2sq_f64n gives l2sq_f64's results bit for bit
 * on float32 values (every table, every awkward dimension); the F64N space gives the F64
 * space's distances, Poincare near the boundary included; exactness is recognised. */
static void test_f64n(void **state)
{
    (void)state;
    hs_rng r;
    hs_rng_seed(&r, 64);
    for (size_t di = 0; di < HS_ARRAY_LEN(dims); di++) {
        size_t d = dims[di];
        double *q = malloc(d * 8), *f[4];
        float *h[4];
        for (size_t i = 0; i < d; i++)
            q[i] = hs_rng_normal(&r); /* the query need not be float32 */
        for (int j = 0; j < 4; j++) {
            f[j] = malloc(d * 8);
            h[j] = malloc(d * 4);
            for (size_t i = 0; i < d; i++) {
                h[j][i] = (float)(hs_rng_normal(&r) * (j == 3 ? 1e-3 : 1.0));
                f[j][i] = h[j][i];
            }
            assert_true(hs_f32_exact(f[j], d));
        }
        const double *fv[4] = {f[0], f[1], f[2], f[3]};
        const float *hv[4] = {h[0], h[1], h[2], h[3]};
        for (size_t t = 0; t < ntables; t++) {
            const hs_vec_kernels *k = tables[t];
            double fo[4], ho[4];
            k->l2sq_f64_x4(q, fv, d, fo);
            k->l2sq_f64n_x4(q, hv, d, ho);
            for (int j = 0; j < 4; j++) {
                double a = k->l2sq_f64(q, f[j], d), b = k->l2sq_f64n(q, h[j], d);
                if (memcmp(&a, &b, sizeof(a)) || memcmp(&fo[j], &ho[j], sizeof(a)))
                    fail_msg("l2sq_f64n (%s, dim %zu): %.17g / %.17g, float64 %.17g / %.17g",
                             k->name, d, b, ho[j], a, fo[j]);
            }
        }
        f[0][d / 2] = nextafter(f[0][d / 2], INFINITY); /* one ulp of float64 off */
        assert_false(hs_f32_exact(f[0], d));
        for (int j = 0; j < 4; j++) {
            free(f[j]);
            free(h[j]);
        }
        free(q);
    }
    /* the space: F64 query records against F64N records, the F64 space's numbers */
    for (int m = 0; m < 3; m++) {
        hs_metric metric = m == 0 ? HS_METRIC_L2 : m == 1 ? HS_METRIC_COSINE : HS_METRIC_POINCARE;
        const uint32_t dd[] = {5, 10, 64, 100};
        for (size_t di = 0; di < HS_ARRAY_LEN(dd); di++) {
            uint32_t d = dd[di];
            hs_space full, narrow;
            assert_int_equal(hs_space_init(&full, metric, HS_CODE_F64, d), HS_OK);
            assert_int_equal(hs_space_init(&narrow, metric, HS_CODE_F64N, d), HS_OK);
            assert_int_equal(narrow.kdim, full.kdim);
            assert_true(narrow.rec_len < full.rec_len);
            enum { N = 7 };
            char *q = calloc(1, full.rec_len), *fr[N], *nr[N];
            double *x = malloc(d * 8);
            ball_f32_point(&r, x, d, 0.5);
            x[0] += 1e-9; /* not a float32 */
            hs_space_encode_f64(&full, x, q);
            for (int j = 0; j < N; j++) {
                fr[j] = calloc(1, full.rec_len);
                nr[j] = calloc(1, narrow.rec_len);
                ball_f32_point(&r, x, d, j < 3 ? 0.9 : 1.0 - 1e-6 * j);
                assert_true(hs_f32_exact(x, d));
                hs_space_encode_f64(&full, x, fr[j]);
                hs_space_encode_f64(&narrow, x, nr[j]);
            }
            float fm[N], nm[N];
            full.dist_many(&full, q, (const void *const *)fr, N, fm);
            narrow.dist_many(&narrow, q, (const void *const *)nr, N, nm);
            for (int j = 0; j < N; j++) {
                float a = hs_space_dist(&full, q, fr[j]), b = hs_space_dist(&narrow, q, nr[j]);
                assert_memory_equal(&a, &b, sizeof(a));
                assert_memory_equal(&fm[j], &nm[j], sizeof(a));
                assert_true(a > 0.0f);
                free(fr[j]);
                free(nr[j]);
            }
            free(q);
            free(x);
        }
    }
    hs_space sp;
    assert_int_equal(hs_space_init(&sp, HS_METRIC_LORENTZ, HS_CODE_F64N, 8), HS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_kernels),   cmocka_unit_test(test_integer_kernels),
        cmocka_unit_test(test_x4_kernels),
        cmocka_unit_test(test_poincare_ranking), cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_quantizers),      cmocka_unit_test(test_spaces),
        cmocka_unit_test(test_lorentz_kernel),  cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f64n),
    };
    return cmocka_run_group_tests_name("vec", tests, setup_tables, NULL);
}
