#!/usr/bin/env python3
"""Clustered anisotropic vectors for the seed's large configuration (bench/seed_bench.sh):
N base vectors and Q held-out queries of dimension D, float32, with exact L2 ground truth.

The seed gives only the count and the dimension (1M x 1024, l2).  Uniform random vectors at
1024-d have no meaningful neighbours (every distance is nearly the same), so recall numbers on
them say nothing; this set has structure a real embedding set has: C cluster centres drawn from
N(0, I), each point = its centre + noise whose scale decays over the dimensions
(sigma_i = S / sqrt(1 + i / 32), so a few hundred directions carry most of the variance, as in
learned embeddings), in a random rotation-free basis (the decay is along the coordinate axes;
HNSW and the scalar codes are basis-independent for l2 only up to the codes' per-dimension
ranges, which this favours no more than real embeddings do).

Writes base.fvecs, query.fvecs and gt_l2_top100.ivecs (texmex layout) into --out.
Usage: gen_clustered.py --out DIR [--n 1000000] [--dim 1024] [--queries 1000] [--centres 1000]
"""
import argparse
import os
import sys
import time

import numpy as np


def write_vecs(path, a, dtype):
    a = np.ascontiguousarray(a, dtype=dtype)
    n, d = a.shape
    with open(path, "wb") as f:
        for lo in range(0, n, 65536):
            part = a[lo:lo + 65536]
            rows = np.empty((part.shape[0], d + 1), dtype=np.int32)
            rows[:, 0] = d
            rows[:, 1:] = part.view(np.int32)
            rows.tofile(f)


def make(rng, centres, scale, n):
    idx = rng.integers(0, centres.shape[0], size=n)
    out = np.empty((n, centres.shape[1]), dtype=np.float32)
    for lo in range(0, n, 50000):
        hi = min(n, lo + 50000)
        noise = rng.standard_normal((hi - lo, centres.shape[1]), dtype=np.float32) * scale
        out[lo:hi] = centres[idx[lo:hi]] + noise
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--centres", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=1024)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    centres = rng.standard_normal((a.centres, a.dim), dtype=np.float32)
    scale = (a.noise / np.sqrt(1.0 + np.arange(a.dim, dtype=np.float32) / 32.0)).astype(np.float32)
    base = make(rng, centres, scale, a.n)
    query = make(rng, centres, scale, a.queries)
    write_vecs(os.path.join(a.out, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(a.out, "query.fvecs"), query, np.float32)
    print("generated %d x %d in %.0f s" % (a.n, a.dim, time.time() - t0), file=sys.stderr)
    # exact ground truth: squared distances |q|^2 - 2 q.b + |b|^2 in blocks, top 100 kept
    k = min(100, a.n)
    qn = (query.astype(np.float64) ** 2).sum(1)
    best_d = np.full((a.queries, k), np.inf)
    best_i = np.zeros((a.queries, k), dtype=np.int64)
    for lo in range(0, a.n, 100000):
        b = base[lo:lo + 100000]
        d = qn[:, None] - 2.0 * (query @ b.T).astype(np.float64) + \
            (b.astype(np.float64) ** 2).sum(1)[None, :]
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if d.shape[1] > k else \
            np.tile(np.arange(d.shape[1]), (a.queries, 1))
        cand_d = np.concatenate([best_d, np.take_along_axis(d, part, 1)], 1)
        cand_i = np.concatenate([best_i, part + lo], 1)
        order = np.argsort(cand_d, 1, kind="stable")[:, :k]
        best_d = np.take_along_axis(cand_d, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    write_vecs(os.path.join(a.out, "gt_l2_top100.ivecs"), best_i.astype(np.int32), np.int32)
    print("ground truth in %.0f s" % (time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
