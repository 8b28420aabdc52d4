#!/usr/bin/python3
"""The faiss peer of the benchmark (Debian python3-faiss): IndexHNSWFlat with the same command
line and output lines as hs-bench.  Run with /usr/bin/python3 (Debian's faiss and numpy).

  peer_faiss.py --metric l2|cosine --base F --query F --truth F [--k 10] [--M 16]
                [--ef-construction 200] [--threads 2] [--ef 10,20,40,80]
                [--base-f64 F --query-f64 F]   (accepted and ignored: faiss stores float32)

1-thread rows: one index.search() call per query in a Python loop (so they include ~5 us of
Python overhead per query).  T-thread rows: one batched call with T OpenMP threads (mode=batch).
faiss has no hyperbolic metric: --metric poincare exits with status 3.
"""
import argparse
import os
import sys
import time

# libgomp reads this when faiss loads it: passive waiting keeps idle OpenMP threads from
# spinning against the other measurements on a 2-core machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import faiss  # noqa: E402


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.uint8)
    d = int(raw[:4].view(np.int32)[0])
    rec = 4 + d * np.dtype(dtype).itemsize
    return raw.reshape(-1, rec)[:, 4:].copy().view(dtype).reshape(-1, d)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def recall(found, truth, k):
    hits = 0
    for row, gt in zip(found, truth):
        hits += len(set(int(x) for x in row[:k]) & set(int(x) for x in gt[:k]))
    return hits / (len(found) * k)


def timed(fn, n):
    """Median queries per second over 3 passes, each repeated until it lasts 0.3 s."""
    rates = []
    for _ in range(3):
        secs, done = 0.0, 0
        while secs < 0.3:
            t0 = time.perf_counter()
            fn()
            secs += time.perf_counter() - t0
            done += n
        rates.append(done / secs)
    return sorted(rates)[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metric", default="l2")
    ap.add_argument("--base", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="10,20,40,80")
    ap.add_argument("--base-f64")
    ap.add_argument("--query-f64")
    ap.add_argument("--quant")
    a = ap.parse_args()
    if a.k <= 0 or a.threads <= 0:
        ap.error("--k and --threads must be positive")
    if a.metric == "poincare":
        print("unsupported metric=poincare (faiss has no hyperbolic distance)", file=sys.stderr)
        sys.exit(3)
    base = read_vecs(a.base, np.float32)
    query = read_vecs(a.query, np.float32)
    truth = read_vecs(a.truth, np.int32)
    print("system=faiss version=%s" % faiss.__version__, flush=True)
    metric = faiss.METRIC_L2
    if a.metric == "cosine":
        faiss.normalize_L2(base)
        faiss.normalize_L2(query)
        metric = faiss.METRIC_INNER_PRODUCT
    rss0 = rss_bytes()
    index = faiss.IndexHNSWFlat(base.shape[1], a.M, metric)
    index.hnsw.efConstruction = a.ef_construction
    faiss.omp_set_num_threads(a.threads)
    t0 = time.perf_counter()
    index.add(base)
    build_seconds = time.perf_counter() - t0
    rss_growth = rss_bytes() - rss0
    print("build_seconds=%.2f threads=%d" % (build_seconds, a.threads), flush=True)
    nq = query.shape[0]
    for ef in [int(x) for x in a.ef.split(",")]:
        index.hnsw.efSearch = ef
        faiss.omp_set_num_threads(1)
        found = np.empty((nq, a.k), dtype=np.int64)

        def one_by_one():
            for i in range(nq):
                found[i] = index.search(query[i:i + 1], a.k)[1][0]

        one_by_one()
        r = recall(found, truth, a.k)
        print("ef=%d recall=%.4f qps=%.0f threads=1" % (ef, r, timed(one_by_one, nq)), flush=True)
        if a.threads > 1:
            faiss.omp_set_num_threads(a.threads)
            batch = index.search(query, a.k)[1]
            r = recall(batch, truth, a.k)
            qps = timed(lambda: index.search(query, a.k), nq)
            print("ef=%d recall=%.4f qps=%.0f threads=%d mode=batch" % (ef, r, qps, a.threads),
                  flush=True)
    # index_bytes is an estimate: the size of the serialized index (vectors, graph links and
    # levels), not a count of faiss's in-memory allocations; rss_growth_bytes (VmRSS after the
    # build minus before it) is the measured counterpart.
    size = len(faiss.serialize_index(index))
    print("index_bytes=%d rss_growth_bytes=%d" % (size, rss_growth), flush=True)


if __name__ == "__main__":
    main()
