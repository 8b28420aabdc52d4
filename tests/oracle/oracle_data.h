/*
 * oracle_data.h: seeded data sets for the oracle tests (header-only, shared by the test files).
 *
 * - gaussian_mixture: points around random centres, the usual shape of embedding data;
 * - ball_tree: a random tree embedded in the Poincare ball, children further out than their
 *   parents and near them, siblings in tight groups; the shape of hierarchy embeddings.
 */
#ifndef HS_ORACLE_DATA_H
#define HS_ORACLE_DATA_H

#include <math.h>
#include <stdlib.h>

#include "util/util.h"

static inline void gaussian_mixture(double *x, size_t n, size_t dim, size_t centres, uint64_t seed)
{
    hs_rng r;
    hs_rng_seed(&r, seed);
    double *c = malloc(centres * dim * sizeof(double));
    for (size_t i = 0; i < centres * dim; i++)
        c[i] = hs_rng_normal(&r) * 3.0;
    for (size_t i = 0; i < n; i++) {
        const double *ci = c + (hs_rng_next(&r) % centres) * dim;
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = ci[j] + hs_rng_normal(&r);
    }
    free(c);
}

/* Node i's parent is a random earlier node; its hyperbolic radius is the parent's plus ~1, and
 * its direction the parent's turned slightly towards a random direction. */
static inline void ball_tree(double *x, size_t n, size_t dim, uint64_t seed)
{
    hs_rng r;
    hs_rng_seed(&r, seed);
    double *dir = malloc(n * dim * sizeof(double));
    double *rad = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        if (i == 0) {
            for (size_t j = 0; j < dim; j++)
                dir[j] = hs_rng_normal(&r);
            rad[0] = 0.1;
        } else {
            /* prefer recent parents so the tree is bushy and deep */
            size_t p = i < 8 ? 0 : i / 8 + hs_rng_next(&r) % (i - i / 8);
            if (p >= i)
                p = i - 1;
            double turn = 0.6 * exp(-rad[p]);
            for (size_t j = 0; j < dim; j++)
                dir[i * dim + j] = dir[p * dim + j] + turn * hs_rng_normal(&r);
            rad[i] = fmin(rad[p] + 0.8 + 0.3 * hs_rng_uniform(&r), 9.0);
        }
        for (size_t j = 0; j < dim; j++)
            norm += dir[i * dim + j] * dir[i * dim + j];
        norm = sqrt(norm);
        for (size_t j = 0; j < dim; j++)
            dir[i * dim + j] /= norm;
        double len = tanh(rad[i] / 2.0);
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = dir[i * dim + j] * len;
    }
    free(dir);
    free(rad);
}

#endif
