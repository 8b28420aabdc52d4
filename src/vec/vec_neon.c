/*
 * vec_neon.c: NEON kernels for aarch64 (Advanced SIMD is mandatory there, so no runtime check is
 * needed).  Same structure as the AVX2 file: four accumulators, a narrow step, a scalar tail.
 */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "vec/vec_int.h"

static inline float32x4_t load4_bf16(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* Squared L2 of a float32 query and records of type T, whose components LOAD4 reads four at a
 * time and ONE one at a time as float32: the float32 kernels and the bfloat16 ones are one text
 * (the same results bit for bit on bfloat16 values).  Four at once: one after the other. */
#define L2SQ_KERNELS(N, T, LOAD4, ONE)                                                         \
    static float l2sq_##N(const float *a, const T *b, size_t dim)                              \
    {                                                                                          \
        float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;                            \
        size_t i = 0;                                                                          \
        for (; i + 16 <= dim; i += 16) {                                                       \
            float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), LOAD4(b + i));                        \
            float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), LOAD4(b + i + 4));                \
            float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), LOAD4(b + i + 8));                \
            float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), LOAD4(b + i + 12));              \
            s0 = vfmaq_f32(s0, d0, d0);                                                        \
            s1 = vfmaq_f32(s1, d1, d1);                                                        \
            s2 = vfmaq_f32(s2, d2, d2);                                                        \
            s3 = vfmaq_f32(s3, d3, d3);                                                        \
        }                                                                                      \
        for (; i + 4 <= dim; i += 4) {                                                         \
            float32x4_t d = vsubq_f32(vld1q_f32(a + i), LOAD4(b + i));                         \
            s0 = vfmaq_f32(s0, d, d);                                                          \
        }                                                                                      \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));                 \
        for (; i < dim; i++) {                                                                 \
            float d = a[i] - ONE(b[i]);                                                        \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    HS_VEC_X4_ONE_BY_ONE(l2sq_##N, T)
#define ONE_F32(x) (x)
L2SQ_KERNELS(f32, float, vld1q_f32, ONE_F32)
L2SQ_KERNELS(bf16, uint16_t, load4_bf16, hs_bf16_to_f32)

static float dot_f32(const float *a, const float *b, size_t dim)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= dim; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

/* Squared L2 in float64 of a float64 query and records of type T (LOAD2 reads two components
 * as float64, ONE one): the float64 kernels and those of float32 records of float64 values are
 * one text (the same results bit for bit where the values are exactly float32). */
#define L2SQ64_KERNELS(N, T, LOAD2, ONE)                                                       \
    static double l2sq_##N(const double *a, const T *b, size_t dim)                            \
    {                                                                                          \
        float64x2_t s0 = vdupq_n_f64(0), s1 = s0, s2 = s0, s3 = s0;                            \
        size_t i = 0;                                                                          \
        for (; i + 8 <= dim; i += 8) {                                                         \
            float64x2_t d0 = vsubq_f64(vld1q_f64(a + i), LOAD2(b + i));                        \
            float64x2_t d1 = vsubq_f64(vld1q_f64(a + i + 2), LOAD2(b + i + 2));                \
            float64x2_t d2 = vsubq_f64(vld1q_f64(a + i + 4), LOAD2(b + i + 4));                \
            float64x2_t d3 = vsubq_f64(vld1q_f64(a + i + 6), LOAD2(b + i + 6));                \
            s0 = vfmaq_f64(s0, d0, d0);                                                        \
            s1 = vfmaq_f64(s1, d1, d1);                                                        \
            s2 = vfmaq_f64(s2, d2, d2);                                                        \
            s3 = vfmaq_f64(s3, d3, d3);                                                        \
        }                                                                                      \
        for (; i + 2 <= dim; i += 2) {                                                         \
            float64x2_t d = vsubq_f64(vld1q_f64(a + i), LOAD2(b + i));                         \
            s0 = vfmaq_f64(s0, d, d);                                                          \
        }                                                                                      \
        double s = vaddvq_f64(vaddq_f64(vaddq_f64(s0, s1), vaddq_f64(s2, s3)));                \
        for (; i < dim; i++) {                                                                 \
            double d = a[i] - ONE(b[i]);                                                       \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    HS_VEC_X4_ONE_BY_ONE_D(l2sq_##N, T)
#define LOAD2_F64N(p) vcvt_f64_f32(vld1_f32(p))
#define ONE_F64(x) (x)
#define ONE_F64N(x) ((double)(x))
L2SQ64_KERNELS(f64, double, vld1q_f64, ONE_F64)
L2SQ64_KERNELS(f64n, float, LOAD2_F64N, ONE_F64N)

static double dot_f64(const double *a, const double *b, size_t dim)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        s0 = vfmaq_f64(s0, vld1q_f64(a + i), vld1q_f64(b + i));
        s1 = vfmaq_f64(s1, vld1q_f64(a + i + 2), vld1q_f64(b + i + 2));
        s2 = vfmaq_f64(s2, vld1q_f64(a + i + 4), vld1q_f64(b + i + 4));
        s3 = vfmaq_f64(s3, vld1q_f64(a + i + 6), vld1q_f64(b + i + 6));
    }
    for (; i + 2 <= dim; i += 2)
        s0 = vfmaq_f64(s0, vld1q_f64(a + i), vld1q_f64(b + i));
    double s = vaddvq_f64(vaddq_f64(vaddq_f64(s0, s1), vaddq_f64(s2, s3)));
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

static double l2sq_f32_wide(const float *a, const float *b, size_t dim)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float32x4_t x = vld1q_f32(a + i), y = vld1q_f32(b + i);
        float64x2_t d0 = vsubq_f64(vcvt_f64_f32(vget_low_f32(x)), vcvt_f64_f32(vget_low_f32(y)));
        float64x2_t d1 = vsubq_f64(vcvt_high_f64_f32(x), vcvt_high_f64_f32(y));
        s0 = vfmaq_f64(s0, d0, d0);
        s1 = vfmaq_f64(s1, d1, d1);
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < dim; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s;
}

static double dot_f32_wide(const float *a, const float *b, size_t dim)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float32x4_t x = vld1q_f32(a + i), y = vld1q_f32(b + i);
        s0 = vfmaq_f64(s0, vcvt_f64_f32(vget_low_f32(x)), vcvt_f64_f32(vget_low_f32(y)));
        s1 = vfmaq_f64(s1, vcvt_high_f64_f32(x), vcvt_high_f64_f32(y));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < dim; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

static int32_t dot_i8(const int8_t *a, const int8_t *b, size_t dim)
{
    int32x4_t acc = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        int8x16_t x = vld1q_s8(a + i), y = vld1q_s8(b + i);
        int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
        int16x8_t hi = vmull_high_s8(x, y);
        acc = vpadalq_s16(acc, lo);
        acc = vpadalq_s16(acc, hi);
    }
    int32_t r = vaddvq_s32(acc);
    for (; i < dim; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

static uint32_t hamming(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint32_t s = 0;
    size_t i = 0;
    for (; i + 2 <= words; i += 2) {
        uint8x16_t x = veorq_u8(vreinterpretq_u8_u64(vld1q_u64(a + i)),
                                vreinterpretq_u8_u64(vld1q_u64(b + i)));
        s += vaddvq_u8(vcntq_u8(x));
    }
    for (; i < words; i++)
        s += (uint32_t)__builtin_popcountll(a[i] ^ b[i]);
    return s;
}

static void dot_i8_x4(const int8_t *q, const int8_t *const v[4], size_t dim, int32_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = dot_i8(q, v[i], dim);
}

const hs_vec_kernels hs_vec_kernels_neon_table = {
    .name = "neon",
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
#else
typedef int hs_vec_neon_unused;
#endif
