#!/usr/bin/env bash
# The seed's large configuration (make bench-seed; bench/README.md "1M x 1024"): N x D l2
# vectors (default 1,000,000 x 1024, bench/gen_clustered.py) inserted into a real
# hyperspace-server through gRPC BatchInsert in batches of 1,000, once per quantization mode
# (none, scalar, binary; a fresh data directory each).  Per mode: seconds until every batch is
# acknowledged, seconds until fully indexed (indexing_queue 0), disk bytes, restart to the first
# answered search, recall@10 and QPS (gRPC, concurrency 16, ef_search 100) and the server's RSS
# after the queries.
# Usage: bench/seed_bench.sh [build dir]   (SEED_N, SEED_DIM, SEED_MODES, SEED_CONC override)
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
N=${SEED_N:-1000000}
DIM=${SEED_DIM:-1024}
MODES=${SEED_MODES:-none scalar binary}
CONC=${SEED_CONC:-16}
INGEST_CONC=${SEED_INGEST_CONC:-2}
SECS=${SECONDS_PER_RUN:-10}
D=$BUILD/bench-data/seed-${N}x${DIM}
if [ ! -f "$D/gt_l2_top100.ivecs" ]; then
  echo "== generating $N x $DIM into $D"
  /usr/bin/python3 bench/gen_clustered.py --out "$D" --n "$N" --dim "$DIM"
fi
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

data=
pid=
gport=$((20000 + RANDOM % 20000)); hport=$((gport + 1))
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "$data" ] && rm -rf "$data" "$data.log"; true; }
trap cleanup EXIT
start_server() {
  HS_LOG_LEVEL=warn "$BIN/hyperspace-server" --data-dir "$data" --port "$gport" \
    --http-port "$hport" >>"$data.log" 2>&1 &
  pid=$!
}
wait_ready() {
  for _ in $(seq 6000); do
    curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && return
    sleep 0.01
  done
  echo "server did not start:" >&2; cat "$data.log" >&2; exit 1
}
stop_server() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
http() { curl -sf -X "$1" "http://127.0.0.1:$hport$2" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
qvec=$(/usr/bin/python3 -c "
import numpy as np, sys
a = np.fromfile('$D/query.fvecs', dtype=np.int32, count=1 + $DIM)
print(','.join('%.6g' % v for v in a[1:].view(np.float32)))")

printf '| mode | acknowledged (s) | indexed (s) | disk (MB) | restart to first answer (ms) | recall@10 | QPS | RSS after queries (MB) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for mode in $MODES; do
  data=$(mktemp -d /tmp/hs-seed-XXXXXX)
  start_server
  wait_ready
  http POST /api/collections "{\"name\":\"seed\",\"dimension\":$DIM,\"metric\":\"l2\",\"quantization\":\"$mode\",\"m\":16,\"ef_construction\":100,\"ef_search\":100}" >/dev/null
  t0=$(now)
  "$BIN/hs-grpc-load" ingest --target "127.0.0.1:$gport" --collection seed --dim "$DIM" --n "$N" \
    --base "$D/base.fvecs" --batch 1000 --concurrency "$INGEST_CONC" --durability batch >&2
  acked=$(since "$t0")
  while :; do
    q=$(http GET /api/collections/seed/stats | sed -n 's/.*"indexing_queue":\([0-9]*\).*/\1/p')
    [ "$q" = 0 ] && break
    sleep 0.5
  done
  indexed=$(since "$t0")
  stop_server
  disk=$(du -sm "$data" | cut -f1)
  t1=$(now)
  start_server
  until curl -sf -X POST "http://127.0.0.1:$hport/api/collections/seed/search" \
      -H 'Content-Type: application/json' -d "{\"vector\":[$qvec],\"top_k\":10}" >/dev/null 2>&1; do
    kill -0 "$pid" || { cat "$data.log" >&2; exit 1; }
    sleep 0.005
  done
  first=$(awk -v a="$t1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  r=$("$BIN/hs-grpc-load" search --target "127.0.0.1:$gport" --collection seed \
    --query "$D/query.fvecs" --truth "$D/gt_l2_top100.ivecs" --k 10 --concurrency "$CONC" \
    --seconds "$SECS")
  echo "$mode: $r" >&2
  rss=$(rss_mb)
  qps=$(echo "$r" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p')
  recall=$(echo "$r" | sed -n 's/.*recall=\([0-9.]*\).*/\1/p')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$mode" "$acked" "$indexed" "$disk" "$first" \
    "$recall" "$qps" "$rss"
  stop_server
  if [ -n "${SEED_KEEP:-}" ]; then echo "kept $data" >&2; data=; continue; fi
  rm -rf "$data" "$data.log"
  data=
done
