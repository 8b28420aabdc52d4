/*
 * vec_scalar.c: the scalar reference kernels.  They define what the SIMD versions must compute
 * (up to floating-point summation order) and run on any CPU.
 */
#include "vec/vec_int.h"

/* Squared L2 of a float32 query and records of type T read as float32 by ONE: the float32
 * kernels and the bfloat16 ones are one text (the same results bit for bit on bfloat16 values).
 * Four at once: one after the other. */
#define L2SQ_KERNELS(N, T, ONE)                                                                \
    static float l2sq_##N(const float *a, const T *b, size_t dim)                              \
    {                                                                                          \
        float s = 0.0f;                                                                        \
        for (size_t i = 0; i < dim; i++) {                                                     \
            float d = a[i] - ONE(b[i]);                                                        \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    HS_VEC_X4_ONE_BY_ONE(l2sq_##N, T)
#define ONE_F32(x) (x)
L2SQ_KERNELS(f32, float, ONE_F32)
L2SQ_KERNELS(bf16, uint16_t, hs_bf16_to_f32)

static float dot_f32(const float *a, const float *b, size_t dim)
{
    float s = 0.0f;
    for (size_t i = 0; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

/* Squared L2 in float64 of a float64 query and records of type T read as float64 by ONE: the
 * float64 kernels and those of float32 records of float64 values are one text. */
#define L2SQ64_KERNELS(N, T, ONE)                                                              \
    static double l2sq_##N(const double *a, const T *b, size_t dim)                            \
    {                                                                                          \
        double s = 0.0;                                                                        \
        for (size_t i = 0; i < dim; i++) {                                                     \
            double d = a[i] - ONE(b[i]);                                                       \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    HS_VEC_X4_ONE_BY_ONE_D(l2sq_##N, T)
#define ONE_F64(x) (x)
#define ONE_F64N(x) ((double)(x))
L2SQ64_KERNELS(f64, double, ONE_F64)
L2SQ64_KERNELS(f64n, float, ONE_F64N)

static double dot_f64(const double *a, const double *b, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

static double l2sq_f32_wide(const float *a, const float *b, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s;
}

static double dot_f32_wide(const float *a, const float *b, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

static int32_t dot_i8(const int8_t *a, const int8_t *b, size_t dim)
{
    int32_t s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static uint32_t hamming(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint32_t s = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t x = a[i] ^ b[i];
        while (x) { /* portable popcount: no CPU feature assumed */
            x &= x - 1;
            s++;
        }
    }
    return s;
}

static void dot_i8_x4(const int8_t *q, const int8_t *const v[4], size_t dim, int32_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = dot_i8(q, v[i], dim);
}


void hs_vec_ref_lorentz_sums_f32_x4(const float *q, const float *const v[4], size_t n,
                                    double out[4][3])
{
    for (int r = 0; r < 4; r++)
        hs_vec_ref_lorentz_sums_f32(q, v[r], n, out[r]);
}

void hs_vec_ref_lorentz_sums_f64_x4(const double *q, const double *const v[4], size_t n,
                                    double out[4][3])
{
    for (int r = 0; r < 4; r++)
        hs_vec_ref_lorentz_sums_f64(q, v[r], n, out[r]);
}

const hs_vec_kernels hs_vec_kernels_scalar_table = {
    .name = "scalar",
    .l2sq_f32 = l2sq_f32,
    .dot_f32 = dot_f32,
    .l2sq_f64 = l2sq_f64,
    .dot_f64 = dot_f64,
    .l2sq_f32_wide = l2sq_f32_wide,
    .dot_f32_wide = dot_f32_wide,
    .dot_i8 = dot_i8,
    .hamming = hamming,
    .l2sq_f32_x4 = l2sq_f32_x4,
    .l2sq_f64_x4 = l2sq_f64_x4,
    .dot_i8_x4 = dot_i8_x4,
    HS_VEC_LORENTZ_REF_ENTRIES,
    .l2sq_bf16 = l2sq_bf16,
    .l2sq_bf16_x4 = l2sq_bf16_x4,
    .l2sq_f64n = l2sq_f64n,
    .l2sq_f64n_x4 = l2sq_f64n_x4,
};
