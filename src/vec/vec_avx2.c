/*
 * vec_avx2.c: AVX2+FMA kernels for x86-64.  The file is compiled for the baseline ISA; only the
 * functions below carry target("avx2,fma"), so the library still runs on CPUs without AVX2
 * (the dispatcher in vec_dispatch.c never hands these out there).
 *
 * Layout of each float kernel: four independent accumulators over 32 floats (hides the FMA
 * latency), one 8-wide step, then a scalar tail.  Tails and horizontal sums make results differ
 * from the scalar reference only by summation order.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "vec/vec_int.h"

#define AVX2 __attribute__((target("avx2,fma,popcnt")))

AVX2 static inline float hsum_ps(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 static inline double hsum_pd(__m256d v)
{
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    lo = _mm_add_sd(lo, _mm_unpackhi_pd(lo, lo));
    return _mm_cvtsd_f64(lo);
}

AVX2 static float dot_f32(const float *a, const float *b, size_t dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= dim; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

AVX2 static double dot_f64(const double *a, const double *b, size_t dim)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4), s1);
        s2 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 8), _mm256_loadu_pd(b + i + 8), s2);
        s3 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 12), _mm256_loadu_pd(b + i + 12), s3);
    }
    for (; i + 4 <= dim; i += 4)
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
    double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

AVX2 static double l2sq_f32_wide(const float *a, const float *b, size_t dim)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)),
                                   _mm256_cvtps_pd(_mm_loadu_ps(b + i)));
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4)),
                                   _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4)));
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
    }
    double s = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < dim; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s;
}

AVX2 static double dot_f32_wide(const float *a, const float *b, size_t dim)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        s0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)),
                             _mm256_cvtps_pd(_mm_loadu_ps(b + i)), s0);
        s1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4)),
                             _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4)), s1);
    }
    double s = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < dim; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

/*
 * int8 dot product: maddubs multiplies unsigned by signed bytes, so |a| is multiplied by b with
 * a's sign moved onto it (sign_epi8).  Codes never hold -128, so |a| fits a byte and each pair
 * sum is at most 2 * 127 * 127 = 32258 < 32767: no saturation.
 */
AVX2 static int32_t dot_i8(const int8_t *a, const int8_t *b, size_t dim)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i y0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
        __m256i y1 = _mm256_loadu_si256((const __m256i *)(b + i + 32));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(x1, x1), _mm256_sign_epi8(y1, x1));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
    }
    for (; i + 32 <= dim; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p, ones));
    }
    __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    int32_t r = _mm_cvtsi128_si32(s);
    for (; i < dim; i++)
        r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

AVX2 static uint32_t hamming(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint64_t s = 0;
    for (size_t i = 0; i < words; i++)
        s += (uint64_t)__builtin_popcountll(a[i] ^ b[i]);
    return (uint32_t)s;
}

/* Eight bfloat16 as float32: widened to 32 bits and shifted into the upper half. */
AVX2 static inline __m256 load8_bf16(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* Squared L2 of a float32 query and records of type T, whose components LOAD8 reads eight at a
 * time and ONE one at a time as float32: the float32 kernels and the bfloat16 ones are one text,
 * so the same operations in the same order (the same results bit for bit on bfloat16 values).
 * The x4 form: four records against one query, interleaved 8 lanes at a time: the four load
 * streams are independent, so their cache misses overlap.  Tails (dim not a multiple of 8) are
 * scalar. */
#define L2SQ_KERNELS(N, T, LOAD8, ONE)                                                         \
    AVX2 static float l2sq_##N(const float *a, const T *b, size_t dim)                         \
    {                                                                                          \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                            \
        size_t i = 0;                                                                          \
        for (; i + 32 <= dim; i += 32) {                                                       \
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), LOAD8(b + i));                   \
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), LOAD8(b + i + 8));           \
            __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), LOAD8(b + i + 16));         \
            __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), LOAD8(b + i + 24));         \
            s0 = _mm256_fmadd_ps(d0, d0, s0);                                                  \
            s1 = _mm256_fmadd_ps(d1, d1, s1);                                                  \
            s2 = _mm256_fmadd_ps(d2, d2, s2);                                                  \
            s3 = _mm256_fmadd_ps(d3, d3, s3);                                                  \
        }                                                                                      \
        for (; i + 8 <= dim; i += 8) {                                                         \
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), LOAD8(b + i));                    \
            s0 = _mm256_fmadd_ps(d, d, s0);                                                    \
        }                                                                                      \
        float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));        \
        for (; i < dim; i++) {                                                                 \
            float d = a[i] - ONE(b[i]);                                                        \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    AVX2 static void l2sq_##N##_x4(const float *q, const T *const v[4], size_t dim,            \
                                   float out[4])                                               \
    {                                                                                          \
        const T *a = v[0], *b = v[1], *c = v[2], *d = v[3];                                    \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                            \
        size_t i = 0;                                                                          \
        for (; i + 8 <= dim; i += 8) {                                                         \
            __m256 x = _mm256_loadu_ps(q + i);                                                 \
            __m256 d0 = _mm256_sub_ps(x, LOAD8(a + i));                                        \
            __m256 d1 = _mm256_sub_ps(x, LOAD8(b + i));                                        \
            __m256 d2 = _mm256_sub_ps(x, LOAD8(c + i));                                        \
            __m256 d3 = _mm256_sub_ps(x, LOAD8(d + i));                                        \
            s0 = _mm256_fmadd_ps(d0, d0, s0);                                                  \
            s1 = _mm256_fmadd_ps(d1, d1, s1);                                                  \
            s2 = _mm256_fmadd_ps(d2, d2, s2);                                                  \
            s3 = _mm256_fmadd_ps(d3, d3, s3);                                                  \
        }                                                                                      \
        out[0] = hsum_ps(s0);                                                                  \
        out[1] = hsum_ps(s1);                                                                  \
        out[2] = hsum_ps(s2);                                                                  \
        out[3] = hsum_ps(s3);                                                                  \
        for (; i < dim; i++) {                                                                 \
            float x = q[i];                                                                    \
            float ya = ONE(a[i]), yb = ONE(b[i]), yc = ONE(c[i]), yd = ONE(d[i]);              \
            out[0] += (x - ya) * (x - ya);                                                     \
            out[1] += (x - yb) * (x - yb);                                                     \
            out[2] += (x - yc) * (x - yc);                                                     \
            out[3] += (x - yd) * (x - yd);                                                     \
        }                                                                                      \
    }
#define LOAD8_F32(p) _mm256_loadu_ps(p)
#define ONE_F32(x) (x)
L2SQ_KERNELS(f32, float, LOAD8_F32, ONE_F32)
L2SQ_KERNELS(bf16, uint16_t, load8_bf16, hs_bf16_to_f32)

/* Squared L2 in float64 of a float64 query and records of type T, whose components LOAD4 reads
 * four at a time and ONE one at a time as float64: the float64 kernels and those of float32
 * records of float64 values (HS_CODE_F64N) are one text, so the same operations in the same
 * order (the same results bit for bit where the values are exactly float32). */
#define L2SQ64_KERNELS(N, T, LOAD4, ONE)                                                       \
    AVX2 static double l2sq_##N(const double *a, const T *b, size_t dim)                       \
    {                                                                                          \
        __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;                           \
        size_t i = 0;                                                                          \
        for (; i + 16 <= dim; i += 16) {                                                       \
            __m256d d0 = _mm256_sub_pd(_mm256_loadu_pd(a + i), LOAD4(b + i));                  \
            __m256d d1 = _mm256_sub_pd(_mm256_loadu_pd(a + i + 4), LOAD4(b + i + 4));          \
            __m256d d2 = _mm256_sub_pd(_mm256_loadu_pd(a + i + 8), LOAD4(b + i + 8));          \
            __m256d d3 = _mm256_sub_pd(_mm256_loadu_pd(a + i + 12), LOAD4(b + i + 12));        \
            s0 = _mm256_fmadd_pd(d0, d0, s0);                                                  \
            s1 = _mm256_fmadd_pd(d1, d1, s1);                                                  \
            s2 = _mm256_fmadd_pd(d2, d2, s2);                                                  \
            s3 = _mm256_fmadd_pd(d3, d3, s3);                                                  \
        }                                                                                      \
        for (; i + 4 <= dim; i += 4) {                                                         \
            __m256d d = _mm256_sub_pd(_mm256_loadu_pd(a + i), LOAD4(b + i));                   \
            s0 = _mm256_fmadd_pd(d, d, s0);                                                    \
        }                                                                                      \
        double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));       \
        for (; i < dim; i++) {                                                                 \
            double d = a[i] - ONE(b[i]);                                                       \
            s += d * d;                                                                        \
        }                                                                                      \
        return s;                                                                              \
    }                                                                                          \
    AVX2 static void l2sq_##N##_x4(const double *q, const T *const v[4], size_t dim,           \
                                   double out[4])                                              \
    {                                                                                          \
        const T *a = v[0], *b = v[1], *c = v[2], *d = v[3];                                    \
        __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;                           \
        size_t i = 0;                                                                          \
        for (; i + 4 <= dim; i += 4) {                                                         \
            __m256d x = _mm256_loadu_pd(q + i);                                                \
            __m256d d0 = _mm256_sub_pd(x, LOAD4(a + i));                                       \
            __m256d d1 = _mm256_sub_pd(x, LOAD4(b + i));                                       \
            __m256d d2 = _mm256_sub_pd(x, LOAD4(c + i));                                       \
            __m256d d3 = _mm256_sub_pd(x, LOAD4(d + i));                                       \
            s0 = _mm256_fmadd_pd(d0, d0, s0);                                                  \
            s1 = _mm256_fmadd_pd(d1, d1, s1);                                                  \
            s2 = _mm256_fmadd_pd(d2, d2, s2);                                                  \
            s3 = _mm256_fmadd_pd(d3, d3, s3);                                                  \
        }                                                                                      \
        out[0] = hsum_pd(s0);                                                                  \
        out[1] = hsum_pd(s1);                                                                  \
        out[2] = hsum_pd(s2);                                                                  \
        out[3] = hsum_pd(s3);                                                                  \
        for (; i < dim; i++) {                                                                 \
            double x = q[i];                                                                   \
            double ya = ONE(a[i]), yb = ONE(b[i]), yc = ONE(c[i]), yd = ONE(d[i]);             \
            out[0] += (x - ya) * (x - ya);                                                     \
            out[1] += (x - yb) * (x - yb);                                                     \
            out[2] += (x - yc) * (x - yc);                                                     \
            out[3] += (x - yd) * (x - yd);                                                     \
        }                                                                                      \
    }
#define LOAD4_F64(p) _mm256_loadu_pd(p)
#define LOAD4_F64N(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define ONE_F64(x) (x)
#define ONE_F64N(x) ((double)(x))
L2SQ64_KERNELS(f64, double, LOAD4_F64, ONE_F64)
L2SQ64_KERNELS(f64n, float, LOAD4_F64N, ONE_F64N)

AVX2 static inline int32_t hsum_epi32(__m256i acc)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* q . v for four code vectors; the query's sign is moved onto each vector (see dot_i8). */
AVX2 static void dot_i8_x4(const int8_t *q, const int8_t *const v[4], size_t dim, int32_t out[4])
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + i));
        __m256i ax = _mm256_sign_epi8(x, x);
        __m256i y0 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(v[0] + i)), x);
        __m256i y1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(v[1] + i)), x);
        __m256i y2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(v[2] + i)), x);
        __m256i y3 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(v[3] + i)), x);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, y0), ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, y1), ones));
        s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, y2), ones));
        s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, y3), ones));
    }
    out[0] = hsum_epi32(s0);
    out[1] = hsum_epi32(s1);
    out[2] = hsum_epi32(s2);
    out[3] = hsum_epi32(s3);
    for (; i < dim; i++)
        for (int j = 0; j < 4; j++)
            out[j] += (int32_t)q[i] * (int32_t)v[j][i];
}

/* ---- Lorentz pieces: float64 arithmetic, two register sets of four lanes ------------------- */

AVX2 static inline void lorentz_acc(__m256d x, __m256d y, __m256d *dd, __m256d *ds, __m256d *ss)
{
    __m256d d = _mm256_sub_pd(x, y), s = _mm256_add_pd(x, y);
    *dd = _mm256_fmadd_pd(d, d, *dd);
    *ds = _mm256_fmadd_pd(d, s, *ds);
    *ss = _mm256_fmadd_pd(s, s, *ss);
}

AVX2 static inline __m256d lorentz_perp_acc(__m256d x, __m256d y, __m256d c, __m256d p)
{
    __m256d e = _mm256_fnmadd_pd(c, _mm256_add_pd(x, y), _mm256_sub_pd(x, y));
    return _mm256_fmadd_pd(e, e, p);
}

AVX2 static void lorentz_sums_f32(const float *a, const float *b, size_t n, double out[3])
{
    __m256d dd0 = _mm256_setzero_pd(), dd1 = dd0, ds0 = dd0, ds1 = dd0, ss0 = dd0, ss1 = dd0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
        lorentz_acc(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                    _mm256_cvtps_pd(_mm256_castps256_ps128(y)), &dd0, &ds0, &ss0);
        lorentz_acc(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)), &dd1, &ds1, &ss1);
    }
    double r[3];
    hs_vec_ref_lorentz_sums_f32(a + i, b + i, n - i, r);
    out[0] = hsum_pd(_mm256_add_pd(dd0, dd1)) + r[0];
    out[1] = hsum_pd(_mm256_add_pd(ds0, ds1)) + r[1];
    out[2] = hsum_pd(_mm256_add_pd(ss0, ss1)) + r[2];
}

AVX2 static void lorentz_sums_f64(const double *a, const double *b, size_t n, double out[3])
{
    __m256d dd0 = _mm256_setzero_pd(), dd1 = dd0, ds0 = dd0, ds1 = dd0, ss0 = dd0, ss1 = dd0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lorentz_acc(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), &dd0, &ds0, &ss0);
        lorentz_acc(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4), &dd1, &ds1, &ss1);
    }
    double r[3];
    hs_vec_ref_lorentz_sums_f64(a + i, b + i, n - i, r);
    out[0] = hsum_pd(_mm256_add_pd(dd0, dd1)) + r[0];
    out[1] = hsum_pd(_mm256_add_pd(ds0, ds1)) + r[1];
    out[2] = hsum_pd(_mm256_add_pd(ss0, ss1)) + r[2];
}

AVX2 static double lorentz_perp_f32(const float *a, const float *b, size_t n, double c)
{
    __m256d p0 = _mm256_setzero_pd(), p1 = p0, cv = _mm256_set1_pd(c);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
        p0 = lorentz_perp_acc(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                              _mm256_cvtps_pd(_mm256_castps256_ps128(y)), cv, p0);
        p1 = lorentz_perp_acc(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)),
                              _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)), cv, p1);
    }
    return hsum_pd(_mm256_add_pd(p0, p1)) + hs_vec_ref_lorentz_perp_f32(a + i, b + i, n - i, c);
}

AVX2 static double lorentz_perp_f64(const double *a, const double *b, size_t n, double c)
{
    __m256d p0 = _mm256_setzero_pd(), p1 = p0, cv = _mm256_set1_pd(c);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        p0 = lorentz_perp_acc(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), cv, p0);
        p1 = lorentz_perp_acc(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4), cv, p1);
    }
    return hsum_pd(_mm256_add_pd(p0, p1)) + hs_vec_ref_lorentz_perp_f64(a + i, b + i, n - i, c);
}

/* One query against four records, four lanes per step: twelve accumulators, so the four
 * records' chains and loads overlap.  LOAD4(p) gives four float64 lanes from p. */
#define LORENTZ_SUMS_X4(T, N, LOAD4)                                                           \
    AVX2 static void lorentz_sums_##N##_x4(const T *q, const T *const v[4], size_t n,          \
                                           double out[4][3])                                   \
    {                                                                                          \
        __m256d acc[4][3];                                                                     \
        for (int r = 0; r < 4; r++)                                                            \
            acc[r][0] = acc[r][1] = acc[r][2] = _mm256_setzero_pd();                           \
        size_t i = 0;                                                                          \
        for (; i + 4 <= n; i += 4) {                                                           \
            __m256d x = LOAD4(q + i);                                                          \
            for (int r = 0; r < 4; r++)                                                        \
                lorentz_acc(x, LOAD4(v[r] + i), &acc[r][0], &acc[r][1], &acc[r][2]);          \
        }                                                                                      \
        for (int r = 0; r < 4; r++) {                                                          \
            double t[3];                                                                       \
            hs_vec_ref_lorentz_sums_##N(q + i, v[r] + i, n - i, t);                            \
            for (int j = 0; j < 3; j++)                                                        \
                out[r][j] = hsum_pd(acc[r][j]) + t[j];                                         \
        }                                                                                      \
    }

#define LOAD4_F32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define LOAD4_F64(p) _mm256_loadu_pd(p)
LORENTZ_SUMS_X4(float, f32, LOAD4_F32)
LORENTZ_SUMS_X4(double, f64, LOAD4_F64)

const hs_vec_kernels hs_vec_kernels_avx2_table = {
    .name = "avx2",
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
    .lorentz_sums_f32 = lorentz_sums_f32,
    .lorentz_sums_f64 = lorentz_sums_f64,
    .lorentz_perp_f32 = lorentz_perp_f32,
    .lorentz_perp_f64 = lorentz_perp_f64,
    .lorentz_sums_f32_x4 = lorentz_sums_f32_x4,
    .lorentz_sums_f64_x4 = lorentz_sums_f64_x4,
    .l2sq_bf16 = l2sq_bf16,
    .l2sq_bf16_x4 = l2sq_bf16_x4,
    .l2sq_f64n = l2sq_f64n,
    .l2sq_f64n_x4 = l2sq_f64n_x4,
};
#else
/* Not an x86-64 build: the AVX2 table does not exist (ISO C forbids an empty unit). */
typedef int hs_vec_avx2_unused;
#endif
