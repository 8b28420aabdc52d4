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

/* The scalar Lorentz pieces (vec_scalar.c), shared by tables without their own. */
void hs_vec_ref_lorentz_sums_f32(const float *a, const float *b, size_t n, double out[3]);
void hs_vec_ref_lorentz_sums_f64(const double *a, const double *b, size_t n, double out[3]);
double hs_vec_ref_lorentz_perp_f32(const float *a, const float *b, size_t n, double c);
double hs_vec_ref_lorentz_perp_f64(const double *a, const double *b, size_t n, double c);

#endif
