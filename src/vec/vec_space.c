/*
 * vec_space.c: record layouts for graph traversal and their distance functions (see the layout
 * comment on struct hs_space in vec.h).
 *
 * The traversal distance only has to rank well; reported distances are recomputed exactly from
 * the full-precision vectors (hs_vec_distance_*).  For the scalar code, |u - v|^2 is estimated as
 * |u|^2 + |v|^2 - 2 s_u s_v (c_u . c_v) with the integer dot product; for the binary code, from the
 * norms and the angle estimated by the Hamming distance.
 */
#include <math.h>
#include <string.h>

#include "util/util.h"
#include "vec/vec.h"
#include "vec/vec_int.h"

#define PI_F 3.14159265358979f

static inline double rec_alpha(const hs_space *s, const void *rec)
{
    return hs_space_alpha(s, rec);
}

static inline float rec_f32(const void *rec, size_t off)
{
    float v;
    memcpy(&v, (const char *)rec + off, sizeof(v));
    return v;
}

static float dist_f32(const hs_space *s, const void *a, const void *b)
{
    return s->k->l2sq_f32((const float *)a, (const float *)b, s->kdim);
}

static float dist_bf16(const hs_space *s, const void *q, const void *r)
{
    return s->k->l2sq_bf16((const float *)q, (const uint16_t *)r, s->kdim);
}

static float dist_f32_poincare(const hs_space *s, const void *a, const void *b)
{
    double d = s->k->l2sq_f32((const float *)a, (const float *)b, s->kdim);
    return (float)(d * rec_alpha(s, a) * rec_alpha(s, b));
}

static float dist_f64(const hs_space *s, const void *a, const void *b)
{
    return (float)s->k->l2sq_f64((const double *)a, (const double *)b, s->kdim);
}

static float dist_f64_poincare(const hs_space *s, const void *a, const void *b)
{
    double d = s->k->l2sq_f64((const double *)a, (const double *)b, s->kdim);
    return (float)(d * rec_alpha(s, a) * rec_alpha(s, b));
}

/* F64N: the query is the F64 space's record, whose alpha follows its kdim float64 components */
static inline double f64n_query_alpha(const hs_space *s, const void *q)
{
    double a;
    memcpy(&a, (const char *)q + (size_t)s->kdim * 8, sizeof(a));
    return a;
}

static float dist_f64n(const hs_space *s, const void *q, const void *r)
{
    return (float)s->k->l2sq_f64n((const double *)q, (const float *)r, s->kdim);
}

static float dist_f64n_poincare(const hs_space *s, const void *q, const void *r)
{
    double d = s->k->l2sq_f64n((const double *)q, (const float *)r, s->kdim);
    return (float)(d * f64n_query_alpha(s, q) * rec_alpha(s, r));
}

static float dist_f32_lorentz(const hs_space *s, const void *a, const void *b)
{
    return (float)hs_lorentz_key_f32(s->k, (const float *)a, (const float *)b, s->dim);
}

static float dist_f64_lorentz(const hs_space *s, const void *a, const void *b)
{
    return (float)hs_lorentz_key_f64(s->k, (const double *)a, (const double *)b, s->dim);
}

static inline float sq8_l2(const hs_space *s, const void *a, const void *b)
{
    int32_t dot = s->k->dot_i8((const int8_t *)a, (const int8_t *)b, s->kdim);
    float sa = rec_f32(a, s->extra_off), sb = rec_f32(b, s->extra_off);
    float na = rec_f32(a, s->extra_off + 4), nb = rec_f32(b, s->extra_off + 4);
    float d = na + nb - 2.0f * sa * sb * (float)dot;
    return d > 0.0f ? d : 0.0f;
}

static float dist_sq8(const hs_space *s, const void *a, const void *b) { return sq8_l2(s, a, b); }

static float dist_sq8_poincare(const hs_space *s, const void *a, const void *b)
{
    return (float)((double)sq8_l2(s, a, b) * rec_alpha(s, a) * rec_alpha(s, b));
}

static inline float bin_l2(const hs_space *s, const void *a, const void *b)
{
    uint32_t ham = s->k->hamming((const uint64_t *)a, (const uint64_t *)b, (s->dim + 63) / 64);
    float na = rec_f32(a, s->extra_off), nb = rec_f32(b, s->extra_off);
    float cosv = cosf(PI_F * (float)ham / (float)s->dim);
    float d = na * na + nb * nb - 2.0f * na * nb * cosv;
    return d > 0.0f ? d : 0.0f;
}

static float dist_bin(const hs_space *s, const void *a, const void *b) { return bin_l2(s, a, b); }

static float dist_bin_poincare(const hs_space *s, const void *a, const void *b)
{
    return (float)((double)bin_l2(s, a, b) * rec_alpha(s, a) * rec_alpha(s, b));
}

/* ---- many records against one query: groups of four through the x4 kernels ---------------- */

static inline void scale_alpha(const hs_space *s, const void *q, const void *const *recs, size_t n,
                               float *out)
{
    if (s->metric != HS_METRIC_POINCARE)
        return;
    double aq = rec_alpha(s, q);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)out[i] * aq * rec_alpha(s, recs[i]));
}

/* Groups of four through the x4 kernels, for float32 records and for their bfloat16 copies (one
 * text: the same numbers); two or three left over take one four-at-once pass (the last record
 * repeated), which beats as many single passes, whose loads do not overlap. */
#define MANY_L2(N, T)                                                                          \
    static void many_##N(const hs_space *s, const void *q, const void *const *recs, size_t n,  \
                         float *out)                                                           \
    {                                                                                          \
        size_t i = 0;                                                                          \
        for (; i + 4 <= n; i += 4)                                                             \
            s->k->l2sq_##N##_x4(q, (const T *const *)(recs + i), s->kdim, out + i);            \
        if (n - i >= 2) {                                                                      \
            const T *r4[4] = {recs[i], recs[i + 1], recs[n - 1], recs[n - 1]};                 \
            float d4[4];                                                                       \
            s->k->l2sq_##N##_x4(q, r4, s->kdim, d4);                                           \
            for (size_t j = 0; i < n; i++, j++)                                                \
                out[i] = d4[j];                                                                \
        }                                                                                      \
        for (; i < n; i++)                                                                     \
            out[i] = s->k->l2sq_##N(q, recs[i], s->kdim);                                      \
        scale_alpha(s, q, recs, n, out); /* (bfloat16 is never Poincare) */                    \
    }
MANY_L2(f32, float)
MANY_L2(bf16, uint16_t)

static void many_f64(const hs_space *s, const void *q, const void *const *recs, size_t n,
                     float *out)
{
    size_t i = 0;
    double d4[4];
    for (; i + 4 <= n; i += 4) {
        s->k->l2sq_f64_x4(q, (const double *const *)(recs + i), s->kdim, d4);
        for (int j = 0; j < 4; j++)
            out[i + j] = (float)d4[j];
    }
    for (; i < n; i++)
        out[i] = (float)s->k->l2sq_f64(q, recs[i], s->kdim);
    scale_alpha(s, q, recs, n, out);
}

/* many_f64 for the float32 copies of float64 records: the same operations on the same values */
static void many_f64n(const hs_space *s, const void *q, const void *const *recs, size_t n,
                      float *out)
{
    size_t i = 0;
    double d4[4];
    for (; i + 4 <= n; i += 4) {
        s->k->l2sq_f64n_x4(q, (const float *const *)(recs + i), s->kdim, d4);
        for (int j = 0; j < 4; j++)
            out[i + j] = (float)d4[j];
    }
    for (; i < n; i++)
        out[i] = (float)s->k->l2sq_f64n(q, recs[i], s->kdim);
    if (s->metric != HS_METRIC_POINCARE)
        return;
    double aq = f64n_query_alpha(s, q);
    for (i = 0; i < n; i++)
        out[i] = (float)((double)out[i] * aq * rec_alpha(s, recs[i]));
}

static void many_sq8(const hs_space *s, const void *q, const void *const *recs, size_t n,
                     float *out)
{
    float sq = rec_f32(q, s->extra_off), nq = rec_f32(q, s->extra_off + 4);
    int32_t dots[4];
    for (size_t i = 0; i < n; i += 4) {
        size_t m = n - i < 4 ? n - i : 4;
        if (m == 4)
            s->k->dot_i8_x4(q, (const int8_t *const *)(recs + i), s->kdim, dots);
        else
            for (size_t j = 0; j < m; j++)
                dots[j] = s->k->dot_i8(q, recs[i + j], s->kdim);
        for (size_t j = 0; j < m; j++) {
            const void *r = recs[i + j];
            float d = nq + rec_f32(r, s->extra_off + 4) -
                      2.0f * sq * rec_f32(r, s->extra_off) * (float)dots[j];
            out[i + j] = d > 0.0f ? d : 0.0f;
        }
    }
    scale_alpha(s, q, recs, n, out);
}

/* Lorentz: the sums four records at a time, each key finished on its own; below
 * HS_LORENTZ_SIMD_FROM spatial components one at a time (fixed costs outweigh the overlap). */
#define LORENTZ_MANY(T, N)                                                                     \
    static void many_##N##_lorentz(const hs_space *s, const void *q, const void *const *recs,  \
                                   size_t n, float *out)                                      \
    {                                                                                          \
        const T *qv = q;                                                                       \
        size_t i = 0;                                                                          \
        for (; s->dim - 1 >= HS_LORENTZ_SIMD_FROM && i + 4 <= n; i += 4) {                     \
            const T *v[4];                                                                     \
            for (int r = 0; r < 4; r++)                                                        \
                v[r] = (const T *)recs[i + r] + 1;                                             \
            double sums[4][3];                                                                 \
            s->k->lorentz_sums_##N##_x4(qv + 1, v, s->dim - 1, sums);                          \
            for (int r = 0; r < 4; r++)                                                        \
                out[i + r] =                                                                   \
                    (float)hs_lorentz_key_from_##N(s->k, sums[r], qv, v[r] - 1, s->dim);       \
        }                                                                                      \
        for (; i < n; i++)                                                                     \
            out[i] = dist_##N##_lorentz(s, q, recs[i]);                                        \
    }
LORENTZ_MANY(float, f32)
LORENTZ_MANY(double, f64)

static void many_generic(const hs_space *s, const void *q, const void *const *recs, size_t n,
                         float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = s->dist(s, q, recs[i]);
}

int hs_space_init(hs_space *s, hs_metric metric, hs_code code, uint32_t dim)
{
    if (dim == 0 || (metric != HS_METRIC_L2 && metric != HS_METRIC_COSINE &&
                     metric != HS_METRIC_POINCARE && metric != HS_METRIC_LORENTZ))
        return HS_EINVAL;
    bool poincare = metric == HS_METRIC_POINCARE;
    bool lorentz = metric == HS_METRIC_LORENTZ;
    /* Lorentz records hold the coordinates as given (x0 first); only full-precision codes */
    if (lorentz && (dim < 2 || (code != HS_CODE_F32 && code != HS_CODE_F64)))
        return HS_EINVAL;
    size_t comp;
    /* pad to whole SIMD registers once the padding is cheap relative to the vector */
    uint32_t kdim = dim;
    const hs_vec_kernels *k = hs_vec_kernels_get();
    if (code == HS_CODE_BF16 && (poincare || lorentz || !k->l2sq_bf16))
        return HS_EINVAL;
    if (code == HS_CODE_F64N && (lorentz || !k->l2sq_f64n))
        return HS_EINVAL;
    if ((code == HS_CODE_F32 || code == HS_CODE_BF16) && dim >= 16) /* BF16: the F32 query's */
        kdim = (uint32_t)HS_ALIGN_UP(dim, 8);
    else if ((code == HS_CODE_F64 || code == HS_CODE_F64N) && dim >= 8) /* F64N: the query's */
        kdim = (uint32_t)HS_ALIGN_UP(dim, 4);
    else if (code == HS_CODE_SQ8 && dim >= 64)
        kdim = (uint32_t)HS_ALIGN_UP(dim, 32);
    size_t extras = 0;
    switch (code) {
    case HS_CODE_F32:
        comp = (size_t)kdim * 4;
        s->dist = poincare ? dist_f32_poincare : lorentz ? dist_f32_lorentz : dist_f32;
        s->dist_many = lorentz ? many_f32_lorentz : many_f32;
        break;
    case HS_CODE_F64:
        comp = (size_t)kdim * 8;
        s->dist = poincare ? dist_f64_poincare : lorentz ? dist_f64_lorentz : dist_f64;
        s->dist_many = lorentz ? many_f64_lorentz : many_f64;
        break;
    case HS_CODE_SQ8:
        comp = kdim;
        extras = 8;
        s->dist = poincare ? dist_sq8_poincare : dist_sq8;
        s->dist_many = many_sq8;
        break;
    case HS_CODE_BIN:
        comp = (size_t)(dim + 63) / 64 * 8;
        extras = 8;
        s->dist = poincare ? dist_bin_poincare : dist_bin;
        s->dist_many = many_generic;
        break;
    case HS_CODE_BF16:
        comp = (size_t)kdim * 2;
        s->dist = dist_bf16;
        s->dist_many = many_bf16;
        break;
    case HS_CODE_F64N:
        comp = (size_t)kdim * 4;
        s->dist = poincare ? dist_f64n_poincare : dist_f64n;
        s->dist_many = many_f64n;
        break;
    default:
        return HS_EINVAL;
    }
    s->metric = metric;
    s->code = code;
    s->dim = dim;
    s->kdim = kdim;
    s->extra_off = (uint32_t)HS_ALIGN_UP(comp, 8);
    s->alpha_off = poincare ? s->extra_off + (uint32_t)extras : 0;
    s->rec_len = s->extra_off + (uint32_t)extras + (poincare ? 8u : 0u);
    s->k = k;
    return HS_OK;
}

static void put_f32(void *rec, size_t off, float v) { memcpy((char *)rec + off, &v, sizeof(v)); }

static void put_sq8_extras(const hs_space *s, void *rec, float scale)
{
    /* squared norm of the decoded vector, so identical codes are at distance 0 */
    int32_t cc = s->k->dot_i8((const int8_t *)rec, (const int8_t *)rec, s->dim);
    put_f32(rec, s->extra_off, scale);
    put_f32(rec, s->extra_off + 4, scale * scale * (float)cc);
}

void hs_space_encode_f32(const hs_space *s, const float *x, void *rec)
{
    size_t dim = s->dim;
    memset(rec, 0, s->rec_len);
    switch (s->code) {
    case HS_CODE_F32:
    case HS_CODE_F64N:
        memcpy(rec, x, dim * sizeof(float));
        break;
    case HS_CODE_F64:
        for (size_t i = 0; i < dim; i++)
            ((double *)rec)[i] = (double)x[i];
        break;
    case HS_CODE_SQ8:
        put_sq8_extras(s, rec, hs_quant_sq8_encode(x, dim, (int8_t *)rec));
        break;
    case HS_CODE_BIN:
        hs_quant_bin_encode(x, dim, (uint64_t *)rec);
        put_f32(rec, s->extra_off, (float)sqrt(s->k->dot_f32_wide(x, x, dim)));
        break;
    case HS_CODE_BF16: /* the upper halves (exact where hs_bf16_exact holds) */
        for (size_t i = 0; i < dim; i++) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof(u));
            ((uint16_t *)rec)[i] = (uint16_t)(u >> 16);
        }
        break;
    }
    if (s->metric == HS_METRIC_POINCARE) {
        double a = hs_poincare_alpha(hs_vec_sqnorm_strict_f32(x, dim));
        memcpy((char *)rec + s->alpha_off, &a, sizeof(a));
    }
}

void hs_space_encode_f64(const hs_space *s, const double *x, void *rec)
{
    size_t dim = s->dim;
    memset(rec, 0, s->rec_len);
    switch (s->code) {
    case HS_CODE_F32:
    case HS_CODE_F64N: /* (exact where hs_f32_exact holds) */
        for (size_t i = 0; i < dim; i++)
            ((float *)rec)[i] = (float)x[i];
        break;
    case HS_CODE_F64:
        memcpy(rec, x, dim * sizeof(double));
        break;
    case HS_CODE_SQ8:
        put_sq8_extras(s, rec, hs_quant_sq8_encode_f64(x, dim, (int8_t *)rec));
        break;
    case HS_CODE_BIN: {
        hs_quant_bin_encode_f64(x, dim, (uint64_t *)rec);
        double n = 0.0;
        for (size_t i = 0; i < dim; i++)
            n += (double)(float)x[i] * (double)(float)x[i];
        put_f32(rec, s->extra_off, (float)sqrt(n));
        break;
    }
    case HS_CODE_BF16:
        for (size_t i = 0; i < dim; i++) {
            float f = (float)x[i];
            uint32_t u;
            memcpy(&u, &f, sizeof(u));
            ((uint16_t *)rec)[i] = (uint16_t)(u >> 16);
        }
        break;
    }
    if (s->metric == HS_METRIC_POINCARE) {
        double a = hs_poincare_alpha(hs_vec_sqnorm_strict(x, dim));
        memcpy((char *)rec + s->alpha_off, &a, sizeof(a));
    }
}
