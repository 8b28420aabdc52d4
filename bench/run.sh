#!/usr/bin/env bash
# make bench: prepares the data sets (once) and runs hyperspace beside hnswlib and faiss on the
# same files, printing one Markdown table per data set.  Results also go to $BUILD/bench-results.md.
# Usage: bench/run.sh [build-dir]   (env: BENCH_THREADS=2, BENCH_SETS="fashion hyperbolic")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
data=$build/bench-data
shared=$root/../shared/bench
py=/usr/bin/python3
threads=${BENCH_THREADS:-2}
sets=${BENCH_SETS:-fashion hyperbolic}
out=$build/bench-results.md
mkdir -p "$data" "$build/bin"

g++ -O3 -march=native -std=c++17 -pthread "$root/bench/peer_hnswlib.cpp" -o "$build/bin/peer-hnswlib"

fm=$data/fashion-mnist
if [ ! -f "$fm/gt1k_l2_top100.ivecs" ]; then
  "$py" "$shared/prep_fashion_mnist.py" "$fm"
fi
hy=$data/hyperbolic-100k
if [ ! -f "$hy/gt.ivecs" ]; then
  "$py" "$shared/gen_hyperbolic.py" --out "$hy"
fi

{
  echo "# Benchmark results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
} > "$out"

for set in $sets; do
  case "$set" in
    fashion)
      echo "## Fashion-MNIST 60k x 784, L2, M=16, ef_construction=200, 1,000 queries" | tee -a "$out"
      "$py" "$root/bench/compare.py" --dataset fashion-mnist \
        --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" --faiss "$root/bench/peer_faiss.py" \
        --hs-variant "hyperspace-scalar=--quant scalar" --hs-variant "hyperspace-none=--quant none" -- \
        --metric l2 --base "$fm/base.fvecs" --query "$fm/query1k.fvecs" --truth "$fm/gt1k_l2_top100.ivecs" \
        --k 10 --M 16 --ef-construction 200 --threads "$threads" --ef 10,12,14,16,18,20,22,24,28,32,40,64 \
        | tee -a "$out"
      ;;
    hyperbolic)
      echo "## Synthetic hyperbolic 100k x 64 (Poincare ball), M=16, ef_construction=200, 1,000 queries" | tee -a "$out"
      "$py" "$root/bench/compare.py" --dataset hyperbolic-100k \
        --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" \
        --hs-variant "hyperspace=--quant none" -- \
        --metric poincare --base "$hy/base.fvecs" --query "$hy/query.fvecs" --truth "$hy/gt.ivecs" \
        --k 10 --M 16 --ef-construction 200 --threads "$threads" --ef 10,12,16,20,40,80,160,320 \
        | tee -a "$out"
      ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  echo | tee -a "$out"
done
echo "results written to $out" >&2
