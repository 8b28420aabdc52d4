#!/usr/bin/env bash
# Runs one libFuzzer target for a number of seconds from seeds the target writes itself.
# Usage: run_fuzz.sh <fuzzer binary> <seconds> [work dir]
set -euo pipefail
bin=$1
secs=$2
work=${3:-$(mktemp -d /tmp/hs-fuzz-run-XXXXXX)}
name=$(basename "$bin")
corpus=$work/$name-corpus
mkdir -p "$corpus"
HS_FUZZ_SEEDS=$corpus "$bin" >/dev/null 2>&1 || true
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# the whole output stays in $work/$name.log; a crash's report (assertion, stack) is shown
log=$work/$name.log
"$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/$name-" "$corpus" >"$log" 2>&1 || true
grep -E -m 60 "Assertion|ERROR|runtime error|deadly signal|^ +#[0-9]+ 0x" "$log" || true
tail -n 12 "$log"
