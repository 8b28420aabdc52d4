/*
 * vec_dispatch.c: chooses the kernel table once per process.
 * Order: HS_SIMD=scalar forces the reference; otherwise AVX2+FMA when the CPU has both (x86-64),
 * NEON on aarch64, else scalar.  The choice is cached in an atomic pointer; two threads racing on
 * the first call compute the same answer, so the race is benign.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vec/vec_int.h"

static _Atomic(const hs_vec_kernels *) chosen;

#if defined(__x86_64__)
static bool cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("popcnt");
}
#endif

const hs_vec_kernels *hs_vec_kernels_scalar(void) { return &hs_vec_kernels_scalar_table; }

const hs_vec_kernels *hs_vec_kernels_by_name(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "scalar") == 0)
        return &hs_vec_kernels_scalar_table;
#if defined(__x86_64__)
    if (strcmp(name, "avx2") == 0)
        return cpu_has_avx2() ? &hs_vec_kernels_avx2_table : NULL;
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0)
        return &hs_vec_kernels_neon_table;
#endif
    return NULL;
}

static const hs_vec_kernels *choose(void)
{
    const char *force = getenv("HS_SIMD");
    if (force && strcmp(force, "scalar") == 0)
        return &hs_vec_kernels_scalar_table;
#if defined(__x86_64__)
    if (cpu_has_avx2())
        return &hs_vec_kernels_avx2_table;
#endif
#if defined(__aarch64__)
    return &hs_vec_kernels_neon_table;
#endif
    return &hs_vec_kernels_scalar_table;
}

const hs_vec_kernels *hs_vec_kernels_get(void)
{
    const hs_vec_kernels *k = atomic_load_explicit(&chosen, memory_order_acquire);
    if (k)
        return k;
    k = choose();
    atomic_store_explicit(&chosen, k, memory_order_release);
    return k;
}
