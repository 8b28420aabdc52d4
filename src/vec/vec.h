/*
 * vec.h: distance kernels, their one-time CPU dispatch, vector checks, and "spaces" (how a
 * vector is encoded for graph traversal and how two encoded records are compared).
 *
 * Kernels: squared L2 and inner product on float32 and float64, a widening float32->float64
 * variant used for reported distances, an int8 dot product for scalar codes and a popcount
 * Hamming distance for binary codes.  Each exists as a scalar reference, an AVX2+FMA version
 * (x86-64) and a NEON version (aarch64); hs_vec_kernels_get() picks the best one the CPU supports
 * once per process (HS_SIMD=scalar in the environment forces the reference).
 *
 * Poincare ball: alpha = 1 / (1 - |x|^2) is computed once per vector in float64 and stored; the
 * ranking key is delta = |u - v|^2 * alpha_u * alpha_v (monotone in the geodesic distance), and
 * the reported distance is acosh(1 + 2 delta) = 2 asinh(sqrt(delta)) in float64.
 *
 * Thread-safety: everything here is pure or initialised once; safe from any thread.
 */
#ifndef HS_VEC_H
#define HS_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"

/* ---- kernels -------------------------------------------------------------------------- */

typedef struct hs_vec_kernels {
    const char *name; /* "scalar", "avx2", "neon" */
    float (*l2sq_f32)(const float *a, const float *b, size_t dim);
    float (*dot_f32)(const float *a, const float *b, size_t dim);
    double (*l2sq_f64)(const double *a, const double *b, size_t dim);
    double (*dot_f64)(const double *a, const double *b, size_t dim);
    /* float32 inputs, float64 arithmetic: for reported distances */
    double (*l2sq_f32_wide)(const float *a, const float *b, size_t dim);
    double (*dot_f32_wide)(const float *a, const float *b, size_t dim);
    /* int8 codes in [-127, 127] (never -128) */
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t dim);
    uint32_t (*hamming)(const uint64_t *a, const uint64_t *b, size_t words);
    /* four at once against one query: independent memory streams overlap their cache misses */
    void (*l2sq_f32_x4)(const float *q, const float *const v[4], size_t dim, float out[4]);
    void (*l2sq_f64_x4)(const double *q, const double *const v[4], size_t dim, double out[4]);
    void (*dot_i8_x4)(const int8_t *q, const int8_t *const v[4], size_t dim, int32_t out[4]);
    /* Lorentz key pieces over n spatial components, in float64 (hs_lorentz_key_*):
     * out = {|a - b|^2, (a - b).(a + b), |a + b|^2}, and the sum of
     * ((a_i - b_i) - c (a_i + b_i))^2 */
    void (*lorentz_sums_f32)(const float *a, const float *b, size_t n, double out[3]);
    void (*lorentz_sums_f64)(const double *a, const double *b, size_t n, double out[3]);
    double (*lorentz_perp_f32)(const float *a, const float *b, size_t n, double c);
    double (*lorentz_perp_f64)(const double *a, const double *b, size_t n, double c);
    /* the sums of one query against four records at once (out[r] = the sums for v[r]) */
    void (*lorentz_sums_f32_x4)(const float *q, const float *const v[4], size_t n,
                                double out[4][3]);
    void (*lorentz_sums_f64_x4)(const double *q, const double *const v[4], size_t n,
                                double out[4][3]);
    /* float32 query against bfloat16 records (hs_bf16_*): bit for bit l2sq_f32 and l2sq_f32_x4
     * of the same table on the records' float32 values */
    float (*l2sq_bf16)(const float *q, const uint16_t *r, size_t dim);
    void (*l2sq_bf16_x4)(const float *q, const uint16_t *const v[4], size_t dim, float out[4]);
    /* float64 query against float32 records of float64 values (HS_CODE_F64N): bit for bit
     * l2sq_f64 and l2sq_f64_x4 of the same table on the records' values */
    double (*l2sq_f64n)(const double *q, const float *r, size_t dim);
    void (*l2sq_f64n_x4)(const double *q, const float *const v[4], size_t dim, double out[4]);
} hs_vec_kernels;

/* The kernels chosen for this CPU (dispatched once). */
const hs_vec_kernels *hs_vec_kernels_get(void);
/* A specific implementation, or NULL when it is not compiled in or the CPU lacks it. */
const hs_vec_kernels *hs_vec_kernels_by_name(const char *name);
/* The scalar reference implementation (always available). */
const hs_vec_kernels *hs_vec_kernels_scalar(void);

/* ---- checks and the Poincare ball ----------------------------------------------------- */

/* Squared norm as the spec defines it for validation: float64, left to right, every product and
 * sum rounded separately (no fused multiply-add). */
double hs_vec_sqnorm_strict(const double *x, size_t dim);
double hs_vec_sqnorm_strict_f32(const float *x, size_t dim);

/* Index of the first NaN/Inf component, or -1 when all are finite. */
long hs_vec_first_nonfinite(const double *x, size_t dim);

/* alpha = 1 / (1 - s) for a squared norm s < 1. */
static inline double hs_poincare_alpha(double sqnorm) { return 1.0 / (1.0 - sqnorm); }

/* Geodesic distance from the ranking key delta: 2 asinh(sqrt(delta)) (exact near 0). */
double hs_poincare_dist_from_delta(double delta);

/*
 * Lorentz model.  The ranking key of two points a, b on the hyperboloid is
 * u = -<a, b>_L - 1 = cosh(d) - 1 (twice the Poincare delta of their images), computed without
 * the cancellation of x0 y0 - x.y: with s = spatial part, u = (|s_a - s_b|^2 - D^2) / 2 where
 * D = a0 - b0 = (s_a - s_b).(s_a + s_b) / (a0 + b0).  Distance 2 asinh(sqrt(u / 2)).
 */
double hs_lorentz_key_f64(const hs_vec_kernels *k, const double *a, const double *b, size_t dim);
double hs_lorentz_key_f32(const hs_vec_kernels *k, const float *a, const float *b, size_t dim);
/* The key from sums s already computed by k->lorentz_sums_* (or their x4 forms) for a and b. */
double hs_lorentz_key_from_f64(const hs_vec_kernels *k, const double s[3], const double *a,
                               const double *b, size_t dim);
double hs_lorentz_key_from_f32(const hs_vec_kernels *k, const double s[3], const float *a,
                               const float *b, size_t dim);
static inline double hs_lorentz_dist_from_key(double u)
{
    return hs_poincare_dist_from_delta(u * 0.5);
}
/* Relative tolerance of the hyperboloid check: |-x0^2 + |s|^2 + 1| <= HS_LORENTZ_TOL * x0^2. */
#define HS_LORENTZ_TOL 1e-5
/* -x0^2 + |s|^2 in float64 (the Minkowski square norm; -1 on the hyperboloid). */
double hs_lorentz_sqnorm(const double *x, size_t dim);

/* Normalises a cosine vector in float64 as the spec describes (kept bit for bit when its norm is
 * already 1 within 1e-9; rescaled first when the squared norm under- or overflows).  Returns
 * false for an all-zero vector. */
bool hs_vec_normalize_f64(double *x, size_t dim);

/* Exact reported distance between a stored and a query vector, computed in float64.
 * alpha values are used by HS_METRIC_POINCARE only.  Never NaN; an overflow gives DBL_MAX. */
double hs_vec_distance_f32(const hs_vec_kernels *k, hs_metric m, const float *u, const float *q,
                           size_t dim, double alpha_u, double alpha_q);
double hs_vec_distance_f64(const hs_vec_kernels *k, hs_metric m, const double *u, const double *q,
                           size_t dim, double alpha_u, double alpha_q);

/* ---- quantization ----------------------------------------------------------------------- */

/* Scalar code of the spec: scale = max|x_i| / 127, code_i = round-half-away(x_i / scale).
 * Returns the scale (0 gives all-zero codes). */
float hs_quant_sq8_encode(const float *x, size_t dim, int8_t *code);
/* Binary code: bit i = 1 iff x_i > 0; writes ceil(dim/64) words, unused bits 0. */
void hs_quant_bin_encode(const float *x, size_t dim, uint64_t *words);
/* The same codes from float64 input (each component rounded to float32 first). */
float hs_quant_sq8_encode_f64(const double *x, size_t dim, int8_t *code);
void hs_quant_bin_encode_f64(const double *x, size_t dim, uint64_t *words);

/* ---- bfloat16: the upper half of a float32 -------------------------------------------- */

static inline float hs_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof(f));
    return f;
}

/* True when every x[i] is exactly a bfloat16 (its lower 16 bits are zero): the bfloat16 copy
 * then holds the same numbers in half the bytes. */
bool hs_bf16_exact(const float *x, size_t n);

/* True when every x[i] is exactly a float32 (as every vector sent as float32 is): a float32
 * copy then holds the same numbers in half the bytes. */
bool hs_f32_exact(const double *x, size_t n);

/* ---- spaces: encoded records for traversal -------------------------------------------- */

typedef enum hs_code {
    HS_CODE_F32 = 0, /* float32 components */
    HS_CODE_F64 = 1, /* float64 components */
    HS_CODE_SQ8 = 2, /* int8 components, per-vector scale and squared norm */
    HS_CODE_BIN = 3, /* sign bits, norm */
    /* bfloat16 components of float32 values that are exactly bfloat16 (lossless: the encoding
     * keeps the upper half of each float32).  Asymmetric: the query is the F32 record of the
     * same metric and dim (kdim floats), never a BF16 record; l2 and cosine only, where the
     * kernels have it (l2sq_bf16).  The distances equal the F32 space's bit for bit. */
    HS_CODE_BF16 = 4,
    /* float32 components of float64 values that are exactly float32 (lossless): the narrow
     * copy of a Poincare collection's float64 records.  Asymmetric: the query is the F64
     * record of the same metric and dim; kdim and the padding are the F64 space's, so the
     * distances equal the F64 space's bit for bit (l2sq_f64n).  l2, cosine and Poincare. */
    HS_CODE_F64N = 5,
} hs_code;

typedef struct hs_space hs_space;
typedef float (*hs_dist_fn)(const hs_space *s, const void *a, const void *b);
typedef void (*hs_dist_many_fn)(const hs_space *s, const void *q, const void *const *recs, size_t n,
                                float *out);

/*
 * A space describes one record layout and its traversal distance (smaller = closer; for
 * Poincare it is the ranking key delta, for cosine the squared L2 of unit vectors).
 * Record layout (rec_len bytes, a multiple of 8):
 *   [components: F32 kdim*4 | F64 kdim*8 | SQ8 kdim | BIN ceil(dim/64)*8 | BF16 kdim*2 |
 *   F64N kdim*4] padded to 8,
 *   SQ8: float scale, float squared norm of the decoded vector;  BIN: float norm, float pad;
 *   POINCARE: double alpha (last 8 bytes).
 * Immutable after hs_space_init; share it freely.
 */
struct hs_space {
    hs_metric metric;
    hs_code code;
    uint32_t dim;
    uint32_t kdim;      /* components the kernels process: dim rounded up to the SIMD width
                           (the padding is zero in every record, so it adds nothing) */
    uint32_t rec_len;   /* bytes per record */
    uint32_t extra_off; /* offset of the per-record extras (scale/norm) */
    uint32_t alpha_off; /* offset of alpha (Poincare), else 0 */
    hs_dist_fn dist;
    hs_dist_many_fn dist_many; /* out[i] = dist(q, recs[i]) for i < n */
    const hs_vec_kernels *k;
};

/* Fills s for the given layout; returns HS_EINVAL for an unknown metric/code or dim == 0. */
int hs_space_init(hs_space *s, hs_metric metric, hs_code code, uint32_t dim);
/* Encodes a processed vector into rec (rec_len bytes).  For Poincare the alpha is computed in
 * float64 from the given components (the f64 entry point is exact for float64 storage). */
void hs_space_encode_f32(const hs_space *s, const float *x, void *rec);
void hs_space_encode_f64(const hs_space *s, const double *x, void *rec);

static inline float hs_space_dist(const hs_space *s, const void *a, const void *b)
{
    return s->dist(s, a, b);
}

static inline double hs_space_alpha(const hs_space *s, const void *rec)
{
    double a;
    __builtin_memcpy(&a, (const char *)rec + s->alpha_off, sizeof(a));
    return a;
}

#endif /* HS_VEC_H */
