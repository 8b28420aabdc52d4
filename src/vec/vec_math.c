/*
 * vec_math.c: input checks, cosine normalisation, the Poincare helpers, exact reported distances
 * and the quantizers.  These follow spec/behaviour.md B2.2, B3.1, B3.2 and section 6.
 *
 * hs_vec_sqnorm_strict must not be contracted into fused multiply-adds: the project builds with
 * -std=c11 (not gnu11), for which gcc's default is -ffp-contract=off.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "vec/vec.h"
#include "vec/vec_int.h"

double hs_vec_sqnorm_strict(const double *x, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double p = x[i] * x[i];
        s = s + p;
    }
    return s;
}

double hs_vec_sqnorm_strict_f32(const float *x, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double v = (double)x[i];
        double p = v * v;
        s = s + p;
    }
    return s;
}

long hs_vec_first_nonfinite(const double *x, size_t dim)
{
    for (size_t i = 0; i < dim; i++)
        if (!isfinite(x[i]))
            return (long)i;
    return -1;
}

double hs_poincare_dist_from_delta(double delta)
{
    if (!(delta > 0.0))
        return 0.0;
    double d = 2.0 * asinh(sqrt(delta));
    return isfinite(d) ? d : DBL_MAX;
}

/*
 * The Lorentz key u = cosh(d) - 1 from the spatial parts s_a, s_b (x0 only in a0 + b0), never
 * negative.  First u = (|D|^2 - t0^2) / 2 with D = s_a - s_b, t0 = D.(s_a + s_b) / (a0 + b0)
 * (= a0 - b0 on the sheet).  When that difference cancels (close points far from the origin:
 * |D| grows like x0 d), D is split along e = (s_a + s_b) / |s_a + s_b|: with P = |D - (D.e) e|^2,
 * q = (D.e)^2 / (a0 + b0)^2 and -<a + b, a + b>_L = 4 + 2u, the identity
 * 2u = P + q (4 + 2u) gives u = (P + 4q) / (2 (1 - q)), where every term is a sum of squares.
 */
/* The key from the float64 sums s = {|d|^2, d.(a + b), |a + b|^2} over the spatial parts and
 * den = a0 + b0; perp(c) is the sum of (d_i - c (a_i + b_i))^2 (only where u cancels). */
#define LORENTZ_KEY(PERP)                                                                      \
    double dd = s[0], ds = s[1], ss = s[2];                                                    \
    if (!(den > 0.0))                                                                          \
        return 0.0;                                                                            \
    double t0 = ds / den;                                                                      \
    double u = 0.5 * (dd - t0 * t0);                                                           \
    if (u > 1e-3 * dd || !(ss > 0.0))                                                          \
        return u > 0.0 ? u : 0.0;                                                              \
    double inv = 1.0 / sqrt(ss), t = ds * inv;                                                 \
    double p = (PERP);                                                                         \
    double q = (t / den) * (t / den);                                                          \
    return q < 1.0 ? (p + 4.0 * q) / (2.0 * (1.0 - q)) : (u > 0.0 ? u : 0.0);

#define LORENTZ_FNS(T, N)                                                                      \
    static inline double key_from_##N(const hs_vec_kernels *k, const double s[3], const T *a,  \
                                      const T *b, size_t dim)                                 \
    {                                                                                          \
        double den = (double)a[0] + (double)b[0];                                              \
        LORENTZ_KEY(dim - 1 < HS_LORENTZ_SIMD_FROM                                             \
                        ? hs_vec_ref_lorentz_perp_##N(a + 1, b + 1, dim - 1, t * inv)          \
                        : k->lorentz_perp_##N(a + 1, b + 1, dim - 1, t * inv))                 \
    }                                                                                          \
    double hs_lorentz_key_from_##N(const hs_vec_kernels *k, const double s[3], const T *a,     \
                                   const T *b, size_t dim)                                    \
    {                                                                                          \
        return key_from_##N(k, s, a, b, dim);                                                  \
    }                                                                                          \
    double hs_lorentz_key_##N(const hs_vec_kernels *k, const T *a, const T *b, size_t dim)     \
    {                                                                                          \
        double s[3];                                                                           \
        if (dim - 1 < HS_LORENTZ_SIMD_FROM)                                                    \
            hs_vec_ref_lorentz_sums_##N(a + 1, b + 1, dim - 1, s);                             \
        else                                                                                   \
            k->lorentz_sums_##N(a + 1, b + 1, dim - 1, s);                                     \
        return key_from_##N(k, s, a, b, dim);                                                  \
    }
LORENTZ_FNS(float, f32)
LORENTZ_FNS(double, f64)

double hs_lorentz_sqnorm(const double *x, size_t dim)
{
    double s = 0.0;
    for (size_t i = 1; i < dim; i++)
        s += x[i] * x[i];
    return s - x[0] * x[0];
}

bool hs_bf16_exact(const float *x, size_t n)
{
    uint32_t low = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof(u));
        low |= u & 0xffffu;
    }
    return low == 0;
}

bool hs_f32_exact(const double *x, size_t n)
{
    bool exact = true;
    for (size_t i = 0; i < n; i++)
        exact &= (double)(float)x[i] == x[i]; /* (false for NaN and for what overflows) */
    return exact;
}

bool hs_vec_normalize_f64(double *x, size_t dim)
{
    double s = hs_vec_sqnorm_strict(x, dim);
    if (fabs(s - 1.0) < 1e-9)
        return true;
    if (s == 0.0 || s < DBL_MIN || isinf(s)) {
        double mx = 0.0;
        for (size_t i = 0; i < dim; i++)
            mx = fmax(mx, fabs(x[i]));
        if (mx == 0.0)
            return false;
        /* power-of-two scaling is exact: bring max|x| into [1, 2) */
        int e;
        frexp(mx, &e);
        for (size_t i = 0; i < dim; i++)
            x[i] = ldexp(x[i], 1 - e);
        s = hs_vec_sqnorm_strict(x, dim);
    }
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < dim; i++)
        x[i] = x[i] * inv;
    return true;
}

static double finite_or_max(double d)
{
    if (isnan(d))
        return DBL_MAX;
    return isinf(d) ? DBL_MAX : d;
}

static double cosine_from(double dot, double nu, double nq)
{
    double den = sqrt(nu) * sqrt(nq);
    if (!(den > 0.0))
        return 1.0;
    double d = 1.0 - dot / den;
    return d < 0.0 ? 0.0 : d > 2.0 ? 2.0 : d;
}

double hs_vec_distance_f32(const hs_vec_kernels *k, hs_metric m, const float *u, const float *q,
                           size_t dim, double alpha_u, double alpha_q)
{
    switch (m) {
    case HS_METRIC_L2:
        return finite_or_max(k->l2sq_f32_wide(u, q, dim));
    case HS_METRIC_COSINE:
        return cosine_from(k->dot_f32_wide(u, q, dim), k->dot_f32_wide(u, u, dim),
                           k->dot_f32_wide(q, q, dim));
    case HS_METRIC_POINCARE:
        return hs_poincare_dist_from_delta(k->l2sq_f32_wide(u, q, dim) * alpha_u * alpha_q);
    case HS_METRIC_LORENTZ:
        return hs_lorentz_dist_from_key(hs_lorentz_key_f32(k, u, q, dim));
    }
    return DBL_MAX;
}

double hs_vec_distance_f64(const hs_vec_kernels *k, hs_metric m, const double *u, const double *q,
                           size_t dim, double alpha_u, double alpha_q)
{
    switch (m) {
    case HS_METRIC_L2:
        return finite_or_max(k->l2sq_f64(u, q, dim));
    case HS_METRIC_COSINE:
        return cosine_from(k->dot_f64(u, q, dim), k->dot_f64(u, u, dim), k->dot_f64(q, q, dim));
    case HS_METRIC_POINCARE:
        return hs_poincare_dist_from_delta(k->l2sq_f64(u, q, dim) * alpha_u * alpha_q);
    case HS_METRIC_LORENTZ:
        return hs_lorentz_dist_from_key(hs_lorentz_key_f64(k, u, q, dim));
    }
    return DBL_MAX;
}

/* The quantizers accept float32 or float64 input; float64 input is rounded to float32 first, so
 * both entry points give identical codes for the same float32 values. */
/* Encoding runs once per query: let the compiler vectorise these loops. */
#if defined(__clang__)
#define VEC_HOT /* clang vectorises at -O2 already and has no optimize attribute */
#else
#define VEC_HOT __attribute__((optimize("O3")))
#endif

/* Round half away from zero for |v| <= 127.5 without libm: truncate, then step away from zero
 * when the remainder is at least one half (v - trunc(v) is exact at this magnitude). */
static inline int8_t round_code(float v)
{
    int i = (int)v;
    float frac = v - (float)i;
    i += (frac >= 0.5f) - (frac <= -0.5f);
    return (int8_t)(i > 127 ? 127 : i < -127 ? -127 : i);
}

/* max |x_i| through the bit patterns: for non-negative floats their order is the integer order,
 * and an integer max reduction vectorises where a float one (NaN rules) does not. */
#define HS_DEFINE_QUANTIZERS(SUFFIX, T)                                                \
    VEC_HOT float hs_quant_sq8_encode##SUFFIX(const T *x, size_t dim, int8_t *code)   \
    {                                                                                  \
        uint32_t mbits = 0;                                                            \
        for (size_t i = 0; i < dim; i++) {                                             \
            float a = (float)x[i];                                                     \
            uint32_t b;                                                                \
            memcpy(&b, &a, 4);                                                         \
            b &= 0x7fffffffu;                                                          \
            mbits = b > mbits ? b : mbits;                                             \
        }                                                                              \
        float mx;                                                                      \
        memcpy(&mx, &mbits, 4);                                                        \
        float scale = mx / 127.0f;                                                     \
        if (!(scale > 0.0f) || !isfinite(scale)) {                                     \
            for (size_t i = 0; i < dim; i++)                                           \
                code[i] = 0;                                                           \
            return 0.0f;                                                               \
        }                                                                              \
        for (size_t i = 0; i < dim; i++)                                               \
            code[i] = round_code((float)x[i] / scale);                                 \
        return scale;                                                                  \
    }                                                                                  \
    void hs_quant_bin_encode##SUFFIX(const T *x, size_t dim, uint64_t *words)          \
    {                                                                                  \
        size_t nw = (dim + 63) / 64;                                                   \
        for (size_t w = 0; w < nw; w++)                                                \
            words[w] = 0;                                                              \
        for (size_t i = 0; i < dim; i++)                                               \
            if ((float)x[i] > 0.0f)                                                    \
                words[i / 64] |= 1ULL << (i % 64);                                     \
    }

HS_DEFINE_QUANTIZERS(, float)
HS_DEFINE_QUANTIZERS(_f64, double)
