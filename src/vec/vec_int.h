/* vec_int.h: kernel tables shared between the kernel files and the dispatcher. */
#ifndef HS_VEC_INT_H
#define HS_VEC_INT_H

#include "vec/vec.h"

extern const hs_vec_kernels hs_vec_kernels_scalar_table;
#if defined(__x86_64__)
extern const hs_vec_kernels hs_vec_kernels_avx2_table;
#endif
#if defined(__aarch64__)
extern const hs_vec_kernels hs_vec_kernels_neon_table;
#endif

/* FN##_x4 for a table without a four-at-once kernel: FN on each record in turn. */
#define HS_VEC_X4_ONE_BY_ONE(FN, T)                                                            \
    static void FN##_x4(const float *q, const T *const v[4], size_t dim, float out[4])         \
    {                                                                                          \
        for (int i = 0; i < 4; i++)                                                            \
            out[i] = FN(q, v[i], dim);                                                         \
    }

/* The same for the float64 kernels (float64 query and results). */
#define HS_VEC_X4_ONE_BY_ONE_D(FN, T)                                                          \
    static void FN##_x4(const double *q, const T *const v[4], size_t dim, double out[4])       \
    {                                                                                          \
        for (int i = 0; i < 4; i++)                                                            \
            out[i] = FN(q, v[i], dim);                                                         \
    }

/* The Lorentz pieces in float64, left to right: the reference (the scalar and NEON tables), and
 * inlined by hs_lorentz_key_* below 16 spatial components, where a SIMD call costs more. */
#define LORENTZ_SUMS(T, N)                                                                     \
    static inline void hs_vec_ref_lorentz_sums_##N(const T *a, const T *b, size_t n,               \
                                                   double out[3])                                  \
    {                                                                                              \
        double dd = 0.0, ds = 0.0, ss = 0.0;                                                       \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = (double)a[i], y = (double)b[i];                                             \
            double d = x - y, s = x + y;                                                           \
            dd += d * d;                                                                           \
            ds += d * s;                                                                           \
            ss += s * s;                                                                           \
        }                                                                                          \
        out[0] = dd;                                                                               \
        out[1] = ds;                                                                               \
        out[2] = ss;                                                                               \
    }                                                                                              \
    static inline double hs_vec_ref_lorentz_perp_##N(const T *a, const T *b, size_t n,             \
                                                     double c)                                     \
    {                                                                                              \
        double p = 0.0;                                                                            \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = (double)a[i], y = (double)b[i];                                             \
            double e = (x - y) - c * (x + y);                                                      \
            p += e * e;                                                                            \
        }                                                                                          \
        return p;                                                                                  \
    }
LORENTZ_SUMS(float, f32)
LORENTZ_SUMS(double, f64)
#define HS_LORENTZ_SIMD_FROM 16

/* Four at once, one after the other (vec_scalar.c). */
void hs_vec_ref_lorentz_sums_f32_x4(const float *q, const float *const v[4], size_t n,
                                    double out[4][3]);
void hs_vec_ref_lorentz_sums_f64_x4(const double *q, const double *const v[4], size_t n,
                                    double out[4][3]);
/* The table entries of the tables without Lorentz kernels of their own. */
#define HS_VEC_LORENTZ_REF_ENTRIES                                                             \
    .lorentz_sums_f32 = hs_vec_ref_lorentz_sums_f32,                                           \
    .lorentz_sums_f64 = hs_vec_ref_lorentz_sums_f64,                                           \
    .lorentz_perp_f32 = hs_vec_ref_lorentz_perp_f32,                                           \
    .lorentz_perp_f64 = hs_vec_ref_lorentz_perp_f64,                                           \
    .lorentz_sums_f32_x4 = hs_vec_ref_lorentz_sums_f32_x4,                                     \
    .lorentz_sums_f64_x4 = hs_vec_ref_lorentz_sums_f64_x4

#endif
