#!/usr/bin/env bash
# End-to-end server benchmark (make bench-grpc): a real hyperspace-server on loopback, driven by
# hs-grpc-load over gRPC.
#   1. search: Fashion-MNIST 60k x 784 (L2) ingested with BatchInsert, then search QPS and
#      recall@10 at concurrency 16, next to hs-bench in-process on the same data and parameters
#      (M 16, ef_construction 100, ef 100, no quantization) -> the gRPC / in-process ratio;
#   2. ingest: BatchInsert of 1,000-vector batches at 64-d and 1024-d, per durability level.
# Usage: bench/grpc_bench.sh [build dir]   (needs build/bench-data from `make bench`)
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
FM=$BUILD/bench-data/fashion-mnist
CONC=${CONC:-16}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
for f in "$FM/base.fvecs" "$FM/query1k.fvecs" "$FM/gt1k_l2_top100.ivecs"; do
  [ -f "$f" ] || { echo "missing $f: run make bench first" >&2; exit 2; }
done

data=$(mktemp -d /tmp/hs-grpc-bench-XXXXXX)
gport=$((20000 + RANDOM % 20000)); hport=$((gport + 1))
log=$data.log
HS_LOG_LEVEL=warn "$BIN/hyperspace-server" --data-dir "$data" --port "$gport" --http-port "$hport" \
>"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
http() { curl -sf -X "$1" "http://127.0.0.1:$hport$2" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
wait_indexed() {
  while :; do
    q=$(http GET "/api/collections/$1/stats" | sed -n 's/.*"indexing_queue":\([0-9]*\).*/\1/p')
    [ "$q" = 0 ] && break
    sleep 0.5
  done
}

echo "== search: Fashion-MNIST 60k x 784, L2, M 16, ef_construction 100, ef 100, k 10"
http POST /api/collections '{"name":"fm","dimension":784,"metric":"l2","quantization":"none","m":16,"ef_construction":100,"ef_search":100}' >/dev/null
"$BIN/hs-grpc-load" ingest --target "127.0.0.1:$gport" --collection fm --dim 784 --n 60000 \
  --base "$FM/base.fvecs" --batch 1000 --durability async
wait_indexed fm
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime in clock ticks
tick=$(getconf CLK_TCK)
s0=$(cpu_of $pid)
t0=$(date +%s.%N)
grpc=$("$BIN/hs-grpc-load" search --target "127.0.0.1:$gport" --collection fm \
  --query "$FM/query1k.fvecs" --truth "$FM/gt1k_l2_top100.ivecs" --k 10 \
  --concurrency "$CONC" --seconds "$SECONDS_PER_RUN")
t1=$(date +%s.%N)
s1=$(cpu_of $pid)
echo "grpc $grpc"
server_cores=$(awk -v a="$s0" -v b="$s1" -v t="$tick" -v w0="$t0" -v w1="$t1" \
  'BEGIN { printf "%.2f", (b - a) / t / (w1 - w0) }')
echo "server CPU during the run: $server_cores cores of $(nproc) (the load generator has the rest)"
inproc=$("$BIN/hs-bench" --metric l2 --base "$FM/base.fvecs" --query "$FM/query1k.fvecs" \
  --truth "$FM/gt1k_l2_top100.ivecs" --k 10 --M 16 --ef-construction 100 --ef 100 \
  --threads "$(nproc)" --quant none | grep '^ef=')
echo "$inproc" | sed 's/^/in-process /'
gq=$(echo "$grpc" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p')
best=$(echo "$inproc" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p' | sort -g | tail -1)
one=$(echo "$inproc" | grep 'threads=1$' | sed -n 's/.*qps=\([0-9.]*\).*/\1/p')
awk -v g="$gq" -v b="$best" -v o="$one" -v c="$server_cores" 'BEGIN {
  printf "ratio grpc/in-process, best thread count: %.2f\n", g / b
  printf "ratio grpc/in-process per server core (grpc qps / server cores vs 1-thread qps): %.2f\n", g / c / o }'

# Same resources on both sides: the server pinned to the last CPU and the load generator to the
# others, against hs-bench with one thread on that same CPU.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  last=$(( $(nproc) - 1 ))
  taskset -a -p -c "$last" "$pid" >/dev/null
  pg=$(taskset -c "0-$(( last - 1 ))" "$BIN/hs-grpc-load" search --target "127.0.0.1:$gport" \
    --collection fm --query "$FM/query1k.fvecs" --truth "$FM/gt1k_l2_top100.ivecs" --k 10 \
    --concurrency "$CONC" --seconds "$SECONDS_PER_RUN")
  echo "grpc, server pinned to CPU $last: $pg"
  pi=$(taskset -c "$last" "$BIN/hs-bench" --metric l2 --base "$FM/base.fvecs" \
    --query "$FM/query1k.fvecs" --truth "$FM/gt1k_l2_top100.ivecs" --k 10 --M 16 \
    --ef-construction 100 --ef 100 --threads 1 --quant none | grep '^ef=' | head -1)
  echo "in-process, 1 thread on CPU $last: $pi"
  awk -v g="$(echo "$pg" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p')" \
      -v o="$(echo "$pi" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p')" \
      'BEGIN { printf "ratio grpc/in-process on one dedicated CPU: %.2f\n", g / o }'
  taskset -a -p -c "0-$last" "$pid" >/dev/null
fi

[ "${SKIP_INGEST:-0}" = 1 ] && exit 0
echo "== ingest: BatchInsert, batches of 1000"
printf '%-6s %-8s %s\n' dim durability result
for dim in 64 1024; do
  n=$(( dim == 64 ? 100000 : 20000 ))
  for d in async batch strict; do
    name="ing${dim}$d"
    http POST /api/collections "{\"name\":\"$name\",\"dimension\":$dim,\"metric\":\"l2\"}" >/dev/null
    r=$("$BIN/hs-grpc-load" ingest --target "127.0.0.1:$gport" --collection "$name" --dim "$dim" \
      --n "$n" --batch 1000 --durability "$d")
    printf '%-6s %-8s %s\n' "$dim" "$d" "$r"
    http DELETE "/api/collections/$name" >/dev/null || true
  done
done
