#!/usr/bin/env bash
# make bench: prepares the data sets (once) and runs hyperspace beside hnswlib and faiss on the
# same files, printing one Markdown table per data set.  Results also go to $BUILD/bench-results.md.
# Usage: bench/run.sh [build-dir]
#   (env: BENCH_THREADS=2, BENCH_SETS="fashion glosses hyperbolic hierarchy synthetic taxonomy-1m")
# The first run generates the data: taxonomy-1m takes ~10 minutes and 1.6 GB of disk, glosses
# ~10 minutes (fastText training).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
data=$build/bench-data
shared=$root/../shared/bench
py=/usr/bin/python3
threads=${BENCH_THREADS:-2}
sets=${BENCH_SETS:-fashion glosses hyperbolic hierarchy synthetic taxonomy-1m}
out=$build/bench-results.md
mkdir -p "$data" "$build/bin"

g++ -O3 -march=native -std=c++17 -pthread "$root/bench/peer_hnswlib.cpp" -o "$build/bin/peer-hnswlib"

# through_db NAME BASE QUERY TRUTH METRIC "QUANTS" "EFS" SECONDS: each quantization mode through the
# database (hs-storage-bench: a checkpointed collection reopened, then searches per ef), indented
# into $out with the memory it holds after the queries
through_db() {
  local name=$1 base=$2 query=$3 truth=$4 metric=$5 quants=$6 efs=$7 secs=$8 q ef db
  for q in $quants; do
    db=$data/$name-db-$q
    rm -rf "$db"
    "$build/bin/hs-storage-bench" load "$db" --collection c --base "$base" --metric "$metric" \
      --quant $q | sed 's/^/    /' | tee -a "$out"
    for ef in $efs; do
      "$build/bin/hs-storage-bench" search "$db" --collection c --query "$query" --truth "$truth" \
        --ef $ef --seconds $secs | grep -v 'when=loaded' | sed 's/^/    /' | tee -a "$out"
    done
    rm -rf "$db"
  done
}

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
        --hs-variant "hyperspace-scalar=--quant scalar" --hs-variant "hyperspace-none=--quant none" \
        --hs-variant "hyperspace-none-f32=--quant none --no-narrow" -- \
        --metric l2 --base "$fm/base.fvecs" --query "$fm/query1k.fvecs" --truth "$fm/gt1k_l2_top100.ivecs" \
        --k 10 --M 16 --ef-construction 200 --threads "$threads" --ef 10,12,14,16,18,20,22,24,28,32,40,64 \
        | tee -a "$out"
      ;;
    glosses)
      # a realistic text-embedding set (bench/prep_glosses.py): WordNet glosses embedded by a
      # fastText model trained on them, 768-d, centred, unit length; 1,000 held-out glosses as
      # queries.  The graph search beside the peers, then each quantization mode through the
      # database (C API: a checkpointed collection reopened, 10 s of queries per ef) with the
      # bytes it holds in RAM per tier, measured.
      gd=$data/glosses
      if [ ! -f "$gd/gt.ivecs" ]; then
        "$py" "$root/bench/prep_glosses.py" "$gd" >&2
      fi
      echo "## WordNet glosses 100k x 768 (fastText, centred), cosine, M=16, ef_construction=200, 1,000 held-out queries" | tee -a "$out"
      "$py" "$root/bench/compare.py" --dataset glosses \
        --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" --faiss "$root/bench/peer_faiss.py" \
        --hs-variant "hyperspace-none=--quant none" --hs-variant "hyperspace-scalar=--quant scalar" \
        --hs-variant "hyperspace-binary=--quant binary" -- \
        --metric cosine --base "$gd/base.fvecs" --query "$gd/query.fvecs" --truth "$gd/gt.ivecs" \
        --k 10 --M 16 --ef-construction 200 --threads "$threads" --ef 10,20,40,80,160,320,640 \
        | tee -a "$out"
      echo | tee -a "$out"
      echo "Through the database (hs-storage-bench; collection defaults M=16, ef_construction=100), memory after the queries:" | tee -a "$out"
      through_db glosses "$gd/base.fvecs" "$gd/query.fvecs" "$gd/gt.ivecs" cosine \
        "none scalar binary" "40 100 320" 10
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
    hierarchy)
      # trained Poincare embeddings of the WordNet verb hierarchy: verbs10 as shared, verbs5 and
      # verbs64 trained here with the shared trainer (same graph; ~40 s and ~5 min on 2 cores)
      hd=$data/hierarchy
      mkdir -p "$hd"
      for dim in 5 64; do
        if [ ! -f "$hd/verbs$dim.gt.ivecs" ]; then
          (cd "$hd" && OPENBLAS_NUM_THREADS=1 "$py" "$shared/hierarchy/train_poincare.py" \
             --dataset verbs --dim $dim --epochs 300 --burnin 10 --burnin-mult 0.1 --lr 0.3 \
             --warmup 5 --lr-final-frac 0.1 --negs 10 --batch 256 --seed 20170522 \
             --eval-every 100 --outdir . \
           && "$py" "$shared/hierarchy/make_bench.py" verbs$dim --dir .) >&2
        fi
      done
      for name in verbs10 verbs5 verbs64; do
        src=$shared/hierarchy/data
        [ "$name" = verbs10 ] || src=$hd
        # hnswlib reads float32 rows (alpha from the float64 ones); hs-bench stores the float64
        "$py" "$root/bench/convert_vecs.py" f32 "$src/$name.base.dvecs" "$hd/$name.base.fvecs"
        "$py" "$root/bench/convert_vecs.py" f32 "$src/$name.query.dvecs" "$hd/$name.query.fvecs"
        echo "## Trained hierarchy $name (WordNet verbs, Poincare ball), M=16, ef_construction=200, 1,000 base-point queries" | tee -a "$out"
        "$py" "$root/bench/compare.py" --dataset "$name" \
          --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" \
          --hs-variant "hyperspace=--base $src/$name.base.dvecs --query $src/$name.query.dvecs" -- \
          --metric poincare --base "$hd/$name.base.fvecs" --query "$hd/$name.query.fvecs" \
          --base-f64 "$src/$name.base.dvecs" --query-f64 "$src/$name.query.dvecs" \
          --truth "$src/$name.gt.ivecs" --k 10 --M 16 --ef-construction 200 --threads "$threads" \
          --ef 10,12,14,16,20,40,80,160 | tee -a "$out"
        echo | tee -a "$out"
        echo "Per radius band and the exact scan (hs-bench, 1 thread):" | tee -a "$out"
        "$build/bin/hs-bench" --metric poincare --base "$src/$name.base.dvecs" \
          --query "$src/$name.query.dvecs" --truth "$src/$name.gt.ivecs" --k 10 --M 16 \
          --ef-construction 200 --threads 1 --ef 10,14,20,40 --exact \
          | grep -E '^(unreachable|ef=|  bands|exact|index_bytes)' | sed 's/^/    /' | tee -a "$out"
        echo | tee -a "$out"
      done
      # queries that are not base points: verbs10 queries moved by a geodesic step of 0.5 and 2
      for step in 0.5 2.0; do
        "$py" "$root/bench/perturb_queries.py" "$shared/hierarchy/data/verbs10.base.dvecs" \
          "$shared/hierarchy/data/verbs10.query.dvecs" "$hd/verbs10-moved$step" --step $step
        echo "## verbs10, queries moved $step from their base point (hs-bench, 1 thread)" | tee -a "$out"
        "$build/bin/hs-bench" --metric poincare --base "$shared/hierarchy/data/verbs10.base.dvecs" \
          --query "$hd/verbs10-moved$step.query.dvecs" --truth "$hd/verbs10-moved$step.gt.ivecs" \
          --k 10 --M 16 --ef-construction 200 --threads 1 --ef 10,20,40 --exact \
          | grep -E '^(unreachable|ef=|  bands|exact)' | sed 's/^/    /' | tee -a "$out"
        echo | tee -a "$out"
      done
      # the same verbs10 points on the hyperboloid (x0 = (1+|p|^2)/(1-|p|^2), x = 2p/(1-|p|^2))
      for part in base query; do
        "$py" "$root/bench/convert_vecs.py" lorentz "$shared/hierarchy/data/verbs10.$part.dvecs" \
          "$hd/verbs10-lorentz.$part.dvecs"
      done
      echo "## verbs10 on the hyperboloid (lorentz) beside the same points in the ball (hs-bench, 1 thread)" | tee -a "$out"
      for m in lorentz poincare; do
        b=$hd/verbs10-lorentz; [ "$m" = lorentz ] || b=$shared/hierarchy/data/verbs10
        echo "    $m:" | tee -a "$out"
        "$build/bin/hs-bench" --metric "$m" --base "$b.base.dvecs" --query "$b.query.dvecs" \
          --truth "$shared/hierarchy/data/verbs10.gt.ivecs" --k 10 --M 16 --ef-construction 200 \
          --threads 1 --ef 10,20,40 --exact | grep -E '^(unreachable|ef=|exact)' | sed 's/^/    /' \
          | tee -a "$out"
      done
      echo | tee -a "$out"
      # verbs10 through the database (C API, float32 rows as a client sends them, stored in
      # float64), unquantized and with scalar codes (walk on the codes, re-rank from the vectors)
      echo "## verbs10 through the database, none and scalar (hs-storage-bench, 1 thread)" | tee -a "$out"
      through_db verbs10 "$hd/verbs10.base.fvecs" "$hd/verbs10.query.fvecs" \
        "$shared/hierarchy/data/verbs10.gt.ivecs" poincare "none scalar" "10 20 40" 2
      echo | tee -a "$out"
      ;;
    synthetic)
      # gen_hyperbolic.py's other shapes at 100k (queries are held-out tree nodes, not base
      # points): the taxonomy (power-law branching, nodes of up to 800 children) at 64-d and
      # 10-d, and the uniform tree at 10-d.  hs-bench builds with 1 thread (deterministic),
      # beside hnswlib with the Poincare key; recall per radius band from hs-bench.
      for spec in taxonomy:64 taxonomy:10 uniform:10; do
        shape=${spec%%:*} dim=${spec##*:}
        sd=$data/$shape-100k-$dim
        if [ ! -f "$sd/gt.ivecs" ]; then
          OPENBLAS_NUM_THREADS=1 "$py" "$shared/gen_hyperbolic.py" --n-base 100000 --shape "$shape" \
            --dim "$dim" --out "$sd" >&2
        fi
        echo "## Synthetic $shape 100k x $dim (Poincare ball), M=16, ef_construction=200, 1,000 held-out queries" | tee -a "$out"
        "$py" "$root/bench/compare.py" --dataset "$shape-100k-$dim" \
          --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" -- \
          --metric poincare --base "$sd/base.fvecs" --query "$sd/query.fvecs" \
          --base-f64 "$sd/base.dvecs" --query-f64 "$sd/query.dvecs" --truth "$sd/gt.ivecs" \
          --k 10 --M 16 --ef-construction 200 --threads 1 --ef 10,20,40,80,160 \
          2> >(tee "$sd/compare.log" >&2) | tee -a "$out"
        echo | tee -a "$out"
        echo "Per radius band, zero-hit queries and distance evaluations (hs-bench, same run):" | tee -a "$out"
        grep -E '^(## [a-z-]+:|unreachable|ef=.*threads=1 |  bands|index_bytes)' "$sd/compare.log" \
          | sed -e 's/^## \([a-z-]*\):.*/\1:/' -e 's/^/    /' | tee -a "$out"
      done
      ;;
    taxonomy-1m)
      # the synthetic taxonomy at 1M x 64 (queries are held-out tree nodes), M=16,
      # ef_construction=100 as the 1M x 64 headline, beside hnswlib with the Poincare key; then
      # the saved graph again with the queries moved by a geodesic step of 0.5 (not base points,
      # not tree nodes), 1 thread.  The points lie at a median 1 - |x| of 2.6e-6 (16 % clipped at
      # 1e-6), where float32 coordinates cannot rank them (an exact scan of the float32 rows:
      # recall@10 0.993-0.997),
      # so hs-bench stores the float64 rows as the database does for Poincare collections;
      # hnswlib gets the float32 rows with alpha from the float64 ones.
      td=$data/taxonomy-1m
      if [ ! -f "$td/gt.ivecs" ]; then
        OPENBLAS_NUM_THREADS=1 "$py" "$shared/gen_hyperbolic.py" --n-base 1000000 --shape taxonomy \
          --dim 64 --out "$td" >&2
      fi
      if [ ! -f "$td/moved0.5.gt.ivecs" ]; then
        OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/perturb_queries.py" "$td/base.dvecs" \
          "$td/query.dvecs" "$td/moved0.5" --step 0.5 --k 10
      fi
      echo "## Synthetic taxonomy 1M x 64 (Poincare ball), M=16, ef_construction=100, 1,000 held-out queries" | tee -a "$out"
      "$py" "$root/bench/compare.py" --dataset taxonomy-1m \
        --hs "$build/bin/hs-bench" --hnswlib "$build/bin/peer-hnswlib" \
        --hs-variant "hyperspace=--base $td/base.dvecs --query $td/query.dvecs --save-graph $td/graph.bin" -- \
        --metric poincare --base "$td/base.fvecs" --query "$td/query.fvecs" \
        --base-f64 "$td/base.dvecs" --query-f64 "$td/query.dvecs" --truth "$td/gt.ivecs" \
        --k 10 --M 16 --ef-construction 100 --threads "$threads" --ef 10,20,40,80 \
        2> >(tee "$td/compare.log" >&2) | tee -a "$out"
      echo | tee -a "$out"
      echo "Per radius band, zero-hit queries and distance evaluations (hs-bench, same run):" | tee -a "$out"
      grep -E '^(## [a-z-]+:|unreachable|ef=.*threads=1 |  bands|index_bytes)' "$td/compare.log" \
        | sed -e 's/^## \([a-z-]*\):.*/\1:/' -e 's/^/    /' | tee -a "$out"
      echo | tee -a "$out"
      echo "## taxonomy-1m, queries moved 0.5 from their tree node (hs-bench, saved graph, 1 thread)" | tee -a "$out"
      "$build/bin/hs-bench" --metric poincare --base "$td/base.dvecs" \
        --query "$td/moved0.5.query.dvecs" --truth "$td/moved0.5.gt.ivecs" --k 10 --threads 1 \
        --ef 10,20,40,80 --load-graph "$td/graph.bin" \
        | grep -E '^(ef=|  bands)' | sed 's/^/    /' | tee -a "$out"
      rm -f "$td/graph.bin"
      ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  echo | tee -a "$out"
done
echo "results written to $out" >&2
