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
    with open(path, "rb") as f:
        data = f.read()
    dim = int(np.frombuffer(data[:4], dtype="<i4")[0])
    row = 4 + 8 * dim
    n = len(data) // row
    out = np.empty((n, dim))
    for i in range(n):
        out[i] = np.frombuffer(data[i * row + 4:(i + 1) * row], dtype="<f8")
    return out


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
    sb = 1.0 - np.einsum("ij,ij->i", base, base)
    gt = []
    for p in moved:
        delta = np.einsum("ij,ij->i", base - p, base - p) / (sb * (1.0 - np.dot(p, p)))
        gt.append(np.argsort(delta, kind="stable")[:a.k].astype("<i4"))
    write_rows(a.out + ".query.dvecs", moved, "<f8")
    write_rows(a.out + ".gt.ivecs", gt, "<i4")


if __name__ == "__main__":
    main()
