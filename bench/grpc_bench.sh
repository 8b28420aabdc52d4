#!/usr/bin/env bash
# End-to-end server benchmark (make bench-grpc): a real hyperspace-server on loopback, driven by
# hs-grpc-load over gRPC.
#   1. search: Fashion-MNIST 60k x 784 (L2, M 16, ef_construction 100, ef 100, no quantization)
#      ingested with BatchInsert; search QPS and recall@10 at concurrency 16, once on all CPUs
#      and once with the server pinned to one CPU (the load generator on the others);
#   2. ingest: BatchInsert of 1,000-vector batches at 64-d and 1024-d, per durability level;
#   3. in-process: the server is stopped and the same data directory is searched through the C
#      API (hs-storage-bench search) with the same resources -> the gRPC / in-process ratios;
#      hs-bench (the bare HNSW index built in memory) is shown for reference.
# Usage: bench/grpc_bench.sh [build dir]   (needs build/bench-data from `make bench`)
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
FM=$BUILD/bench-data/fashion-mnist
CONC=${CONC:-16}
SECS=${SECONDS_PER_RUN:-10}
Q=(--query "$FM/query1k.fvecs" --truth "$FM/gt1k_l2_top100.ivecs" --k 10)
for f in "$FM/base.fvecs" "$FM/query1k.fvecs" "$FM/gt1k_l2_top100.ivecs"; do
  [ -f "$f" ] || { echo "missing $f: run make bench first" >&2; exit 2; }
done
ncpu=$(nproc)
last=$((ncpu - 1))

data=$(mktemp -d /tmp/hs-grpc-bench-XXXXXX)
gport=$((20000 + RANDOM % 20000)); hport=$((gport + 1))
log=$data.log
pid=
start_server() { # [taskset CPU list]
  HS_LOG_LEVEL=warn ${1:+taskset -c "$1"} "$BIN/hyperspace-server" --data-dir "$data" --port "$gport" \
    --http-port "$hport" >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "server did not start:" >&2; cat "$log" >&2; exit 1
}
stop_server() { kill -TERM "$pid"; wait "$pid" || true; }
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log"' EXIT
start_server
http() { curl -sf -X "$1" "http://127.0.0.1:$hport$2" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
wait_indexed() {
  while :; do
    q=$(http GET "/api/collections/$1/stats" | sed -n 's/.*"indexing_queue":\([0-9]*\).*/\1/p')
    [ "$q" = 0 ] && break
    sleep 0.5
  done
}
qps() { sed -n 's/.*qps=\([0-9.]*\).*/\1/p'; }
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime in clock ticks

echo "== search: Fashion-MNIST 60k x 784, L2, M 16, ef_construction 100, ef 100, k 10"
http POST /api/collections '{"name":"fm","dimension":784,"metric":"l2","quantization":"none","m":16,"ef_construction":100,"ef_search":100}' >/dev/null
"$BIN/hs-grpc-load" ingest --target "127.0.0.1:$gport" --collection fm --dim 784 --n 60000 \
  --base "$FM/base.fvecs" --batch 1000 --durability async
wait_indexed fm
# searched as loaded from its checkpoint, like the in-process side below
stop_server
start_server
http GET /api/collections/fm >/dev/null  # loads it
s0=$(cpu_of $pid); t0=$(date +%s.%N)
grpc_all=$("$BIN/hs-grpc-load" search --target "127.0.0.1:$gport" --collection fm "${Q[@]}" \
  --concurrency "$CONC" --seconds "$SECS")
t1=$(date +%s.%N); s1=$(cpu_of $pid)
echo "grpc, all $ncpu CPUs shared with the load generator: $grpc_all"
awk -v a="$s0" -v b="$s1" -v t="$(getconf CLK_TCK)" -v w0="$t0" -v w1="$t1" \
  'BEGIN { printf "  server CPU during the run: %.2f of %d CPUs\n", (b - a) / t / (w1 - w0), '"$ncpu"' }'
grpc_one=""
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  stop_server
  start_server "$last" # as deployed on one CPU (it sizes its thread pool to the CPUs it may use)
  http GET /api/collections/fm >/dev/null
  grpc_one=$(taskset -c "0-$((last - 1))" "$BIN/hs-grpc-load" search --target "127.0.0.1:$gport" \
    --collection fm "${Q[@]}" --concurrency "$CONC" --seconds "$SECS")
  echo "grpc, server on CPU $last only: $grpc_one"
  stop_server
  start_server
fi

if [ "${SKIP_INGEST:-0}" != 1 ]; then
  echo "== ingest: BatchInsert, batches of 1000"
  printf '%-6s %-8s %s\n' dim durability result
  for dim in 64 1024; do
    n=$(( dim == 64 ? 100000 : 20000 ))
    for d in async batch strict; do
      name="ing${dim}$d"
      http POST /api/collections "{\"name\":\"$name\",\"dimension\":$dim,\"metric\":\"l2\"}" >/dev/null
      r=$("$BIN/hs-grpc-load" ingest --target "127.0.0.1:$gport" --collection "$name" \
        --dim "$dim" --n "$n" --batch 1000 --durability "$d")
      printf '%-6s %-8s %s\n' "$dim" "$d" "$r"
      http DELETE "/api/collections/$name" >/dev/null || true
    done
  done
fi

echo "== in-process: the same data directory through the C API (server stopped)"
stop_server
inproc_all=$("$BIN/hs-storage-bench" search "$data" --collection fm "${Q[@]}" --threads "$ncpu" \
  --seconds "$SECS")
echo "C API, $ncpu threads: $inproc_all"
awk -v g="$(echo "$grpc_all" | qps)" -v i="$(echo "$inproc_all" | qps)" \
  'BEGIN { printf "ratio grpc/in-process, all CPUs: %.2f\n", g / i }'
if [ -n "$grpc_one" ]; then
  inproc_one=$(taskset -c "$last" "$BIN/hs-storage-bench" search "$data" --collection fm "${Q[@]}" \
    --threads 1 --seconds "$SECS")
  echo "C API, 1 thread on CPU $last: $inproc_one"
  awk -v g="$(echo "$grpc_one" | qps)" -v i="$(echo "$inproc_one" | qps)" \
    'BEGIN { printf "ratio grpc/in-process, one dedicated CPU: %.2f\n", g / i }'
fi
echo "reference, hs-bench (bare HNSW index built in memory, same parameters):"
"$BIN/hs-bench" --metric l2 --base "$FM/base.fvecs" "${Q[@]}" --M 16 --ef-construction 100 \
  --ef 100 --threads "$ncpu" --quant none | grep '^ef=' | sed 's/^/  /'
