/*
 * kernels_check.c: a dependency-free check of every kernel table against the scalar reference,
 * for cross builds run under an emulator (tests/cross/run_neon.sh builds it for aarch64 and
 * runs it with qemu, so the NEON kernels are tested on this x86-64 machine).  Exit 0 = pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "vec/vec.h"

static int failures;

static void check(const char *what, const char *k, size_t d, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        printf("FAIL %s (%s, dim %zu): got %.17g want %.17g\n", what, k, d, got, want);
        failures++;
    }
}

int main(void)
{
    static const size_t dims[] = {1, 3, 7, 16, 31, 33, 64, 784, 1025};
    const char *names[] = {"neon", "avx2"};
    const hs_vec_kernels *ref = hs_vec_kernels_scalar();
    hs_rng r;
    hs_rng_seed(&r, 11);
    int tested = 0;
    for (size_t n = 0; n < 2; n++) {
        const hs_vec_kernels *k = hs_vec_kernels_by_name(names[n]);
        if (!k)
            continue;
        tested++;
        for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
            size_t d = dims[di], words = (d + 63) / 64;
            float *a = malloc(d * 4), *b[4];
            double *ad = malloc(d * 8), *bd[4];
            int8_t *ac = malloc(d), *bc[4];
            uint64_t *wa = malloc(words * 8), *wb = malloc(words * 8);
            for (int j = 0; j < 4; j++) {
                b[j] = malloc(d * 4);
                bd[j] = malloc(d * 8);
                bc[j] = malloc(d);
            }
            for (size_t i = 0; i < d; i++) {
                a[i] = (float)hs_rng_normal(&r);
                ad[i] = hs_rng_normal(&r);
                ac[i] = (int8_t)(hs_rng_next(&r) % 255 - 127);
                for (int j = 0; j < 4; j++) {
                    b[j][i] = (float)hs_rng_normal(&r);
                    bd[j][i] = hs_rng_normal(&r);
                    bc[j][i] = (int8_t)(hs_rng_next(&r) % 255 - 127);
                }
            }
            for (size_t w = 0; w < words; w++) {
                wa[w] = hs_rng_next(&r);
                wb[w] = hs_rng_next(&r);
            }
            double l2 = ref->l2sq_f32_wide(a, b[0], d), dot = ref->dot_f32_wide(a, b[0], d);
            check("l2sq_f32", k->name, d, k->l2sq_f32(a, b[0], d), l2, 1e-5 * l2);
            check("dot_f32", k->name, d, k->dot_f32(a, b[0], d), dot, 1e-5 * d);
            check("l2sq_f64", k->name, d, k->l2sq_f64(ad, bd[0], d), ref->l2sq_f64(ad, bd[0], d),
                  1e-12 * d);
            check("dot_f64", k->name, d, k->dot_f64(ad, bd[0], d), ref->dot_f64(ad, bd[0], d),
                  1e-12 * d);
            check("l2sq_f32_wide", k->name, d, k->l2sq_f32_wide(a, b[0], d), l2, 1e-12 * d);
            check("dot_f32_wide", k->name, d, k->dot_f32_wide(a, b[0], d), dot, 1e-12 * d);
            check("dot_i8", k->name, d, k->dot_i8(ac, bc[0], d), ref->dot_i8(ac, bc[0], d), 0);
            check("hamming", k->name, d, k->hamming(wa, wb, words), ref->hamming(wa, wb, words), 0);
            float f4[4];
            double d4[4];
            int32_t i4[4];
            k->l2sq_f32_x4(a, (const float *const *)b, d, f4);
            k->l2sq_f64_x4(ad, (const double *const *)bd, d, d4);
            k->dot_i8_x4(ac, (const int8_t *const *)bc, d, i4);
            /* bfloat16 records: the same table's float32 results, bit for bit */
            uint16_t *h[4];
            for (int j = 0; j < 4; j++) {
                h[j] = malloc(d * 2);
                for (size_t i = 0; i < d; i++) {
                    uint32_t u;
                    memcpy(&u, &b[j][i], 4);
                    u &= 0xffff0000u;
                    memcpy(&b[j][i], &u, 4);
                    h[j][i] = (uint16_t)(u >> 16);
                }
            }
            float h4[4];
            k->l2sq_f32_x4(a, (const float *const *)b, d, f4);
            k->l2sq_bf16_x4(a, (const uint16_t *const *)h, d, h4);
            for (int j = 0; j < 4; j++) {
                check("l2sq_bf16", k->name, d, k->l2sq_bf16(a, h[j], d), k->l2sq_f32(a, b[j], d),
                      0);
                check("l2sq_bf16_x4", k->name, d, h4[j], f4[j], 0);
                free(h[j]);
            }
            /* float32 records of float64 values: the same table's float64 results, bit for bit */
            double n4[4], e4[4];
            double *bw[4];
            for (int j = 0; j < 4; j++) {
                bw[j] = malloc(d * 8);
                for (size_t i = 0; i < d; i++)
                    bw[j][i] = (double)b[j][i];
            }
            k->l2sq_f64_x4(ad, (const double *const *)bw, d, e4);
            k->l2sq_f64n_x4(ad, (const float *const *)b, d, n4);
            for (int j = 0; j < 4; j++) {
                check("l2sq_f64n", k->name, d, k->l2sq_f64n(ad, b[j], d),
                      k->l2sq_f64(ad, bw[j], d), 0);
                check("l2sq_f64n_x4", k->name, d, n4[j], e4[j], 0);
                free(bw[j]);
            }
            k->l2sq_f32_x4(a, (const float *const *)b, d, f4);
            for (int j = 0; j < 4; j++) {
                double w = ref->l2sq_f32_wide(a, b[j], d);
                check("l2sq_f32_x4", k->name, d, f4[j], w, 1e-5 * w);
                check("l2sq_f64_x4", k->name, d, d4[j], ref->l2sq_f64(ad, bd[j], d), 1e-12 * d);
                check("dot_i8_x4", k->name, d, i4[j], ref->dot_i8(ac, bc[j], d), 0);
            }
            free(a);
            free(ad);
            free(ac);
            free(wa);
            free(wb);
            for (int j = 0; j < 4; j++) {
                free(b[j]);
                free(bd[j]);
                free(bc[j]);
            }
        }
        printf("%s kernels checked against the scalar reference\n", k->name);
    }
    printf("dispatched: %s, tables tested: %d, failures: %d\n", hs_vec_kernels_get()->name, tested,
           failures);
    return failures || tested == 0 ? 1 : 0;
}
