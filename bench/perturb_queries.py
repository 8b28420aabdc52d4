#!/usr/bin/python3
"""Queries that are not base points, for the hierarchy benchmark: each of the given query rows
moved by a random geodesic step (a tangent direction at the point, length `--step` in
hyperbolic units, mapped with the exponential map of the Poincaré ball), with the exact float64
top-k by Poincaré distance over the base (the moved point is no longer in the base).

  perturb_queries.py BASE.dvecs QUERY.dvecs OUT_PREFIX [--step 0.5] [--k 100] [--seed 3]
writes OUT_PREFIX.query.dvecs and OUT_PREFIX.gt.ivecs.  Needs python3-numpy.
"""
import argparse

import numpy as np


def read_rows(path):
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view("<i4")[0])
    row = 4 + 8 * dim
    return raw.reshape(-1, row)[:, 4:].copy().view("<f8")


def write_rows(path, x, fmt):
    with open(path, "wb") as f:
        for r in x:
            f.write(np.int32(len(r)).tobytes())
            f.write(np.asarray(r, dtype=fmt).tobytes())


def mobius_add(x, y):
    xy, xx, yy = np.dot(x, y), np.dot(x, x), np.dot(y, y)
    return ((1 + 2 * xy + yy) * x + (1 - xx) * y) / (1 + 2 * xy + xx * yy)


def expmap(x, v):
    """The point at geodesic distance |v| from x in the direction v (a tangent vector)."""
    lam = 2.0 / (1.0 - np.dot(x, x))
    nv = np.linalg.norm(v)
    return mobius_add(x, np.tanh(lam * nv / 2) * v / nv)


def exact_topk(base, moved, k, block=16):
    """Top-k of each moved point by Poincare delta, ties by index: candidates from the expanded
    form |b|^2 + |p|^2 - 2 b.p (a matrix product; its rounding only picks the candidates), the
    top-k among them by direct differences."""
    n = len(base)
    kc = min(n, max(4 * k, 400))
    bn = np.einsum("ij,ij->i", base, base)
    sb = 1.0 - bn
    out = []
    for s in range(0, len(moved), block):
        ps = moved[s:s + block]
        pn = np.einsum("ij,ij->i", ps, ps)
        approx = (bn[None, :] + pn[:, None] - 2.0 * (ps @ base.T)) / (sb[None, :] * (1.0 - pn[:, None]))
        for r, p in enumerate(ps):
            c = np.argpartition(approx[r], kc - 1)[:kc] if kc < n else np.arange(n)
            diff = base[c] - p
            delta = np.einsum("ij,ij->i", diff, diff) / (sb[c] * (1.0 - np.dot(p, p)))
            out.append(c[np.lexsort((c, delta))][:k].astype("<i4"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("query")
    ap.add_argument("out")
    ap.add_argument("--step", type=float, default=0.5)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    base, qs = read_rows(a.base), read_rows(a.query)
    rng = np.random.default_rng(a.seed)
    moved = []
    for q in qs:
        v = rng.normal(size=q.shape)
        lam = 2.0 / (1.0 - np.dot(q, q))
        v *= a.step / (lam * np.linalg.norm(v))  # geodesic length a.step
        p = expmap(q, v)
        assert np.dot(p, p) < 1.0
        moved.append(p)
    moved = np.array(moved)
    gt = exact_topk(base, moved, a.k)
    write_rows(a.out + ".query.dvecs", moved, "<f8")
    write_rows(a.out + ".gt.ivecs", gt, "<i4")


if __name__ == "__main__":
    main()
