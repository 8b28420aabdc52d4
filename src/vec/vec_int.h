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

#endif
