#!/usr/bin/env bash
# Regenerates every published benchmark result with one command:
#
#   bash benches/run.sh            # ~10 minutes on the 2-core machine
#
# 1. records the machine (nproc, CPU model, kernel, load before and after);
# 2. runs `cargo bench --bench peers` (criterion, saved as baseline `peers`);
# 3. runs the latency harness and the slow-consumer scenario;
# 4. rewrites the generated sections of BENCHMARKS.md and docs/bench/throughput.svg
#    (examples/plot.rs; the hand-written sections are kept).
#
# Environment: QUICK=1 for a short smoke run (numbers not meant for publishing);
# BENCH_COMMIT names the measured commit when the tree is not a git checkout;
# MAX_LOAD (default 1.5): wait up to 10 minutes for the 1-minute load average
# to drop below it before measuring (the run goes ahead anyway afterwards, and
# the load is recorded either way).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench-results"
mkdir -p "$out"
rm -f "$out/peers_lag.tsv" "$out/latency.tsv" "$out/slow_consumer.tsv"

load() { cut -d' ' -f1-3 /proc/loadavg; }
max_load="${MAX_LOAD:-1.5}"
# CPU seconds used by every process on the machine (from /proc/stat, USER_HZ
# = 100) and by this script's children (bash `times`): their difference over a
# step is what *other* jobs took while we measured. (The load average counts
# the benchmark's own threads, so it cannot tell.)
cpu_all() { awk '/^cpu /{ printf "%.2f", ($2+$3+$4+$7+$8+$9)/100 }' /proc/stat; }
# (`times` must run in this shell, not in a $(...) subshell.)
cpu_ours() { times > "$out/.times"; }
cpu_ours_value() {
  awk 'NR==2 { split($1,a,"m"); split($2,b,"m"); printf "%.2f", a[1]*60+a[2] + b[1]*60+b[2] }' "$out/.times"
}
# measure LABEL CMD...: runs CMD and appends its wall time, the share of the
# machine's CPUs that other processes used meanwhile, and the load after.
measure() {
  local label=$1; shift
  local a0 o0 t0 a1 o1 t1
  cpu_ours; o0=$(cpu_ours_value)
  a0=$(cpu_all); t0=$(date +%s.%N)
  "$@"
  a1=$(cpu_all); t1=$(date +%s.%N)
  cpu_ours; o1=$(cpu_ours_value)
  awk -v l="$label" -v a0="$a0" -v a1="$a1" -v o0="$o0" -v o1="$o1" -v t0="$t0" -v t1="$t1" \
      -v n="$(nproc)" -v ld="$(load)" 'BEGIN {
    a = a1 - a0; o = o1 - o0; w = t1 - t0
    other = a - o; if (other < 0) other = 0
    printf "%-16s wall %5.0f s; other processes used %4.1f%% of the %d CPUs; load after: %s\n", l ":", w, 100 * other / (w * n), n, ld
  }' >> "$out/machine.txt"
}

echo "== building"
cargo bench --bench peers --no-run
cargo build --release --example latency --example slow_consumer --example plot

waited=0
while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$max_load" 'BEGIN { exit !(l >= m) }' \
    && [ "$waited" -lt 600 ]; do
  [ "$waited" -eq 0 ] && echo "== load $(load) >= $max_load: waiting (up to 10 min)"
  sleep 15
  waited=$((waited + 15))
done

{
  echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit:    ${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')}"
  echo "nproc:     $(nproc)"
  echo "cpu:       $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "caches:    $(lscpu | sed -n 's/^L2 cache: *//p' | head -1) L2, $(lscpu | sed -n 's/^L3 cache: *//p' | head -1) L3"
  echo "virt:      $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)"
  echo "kernel:    $(uname -r)"
  echo "rustc:     $(rustc --version)"
  echo "load before (1/5/15 min): $(load)"
} > "$out/machine.txt"
cat "$out/machine.txt"

quick_bench=() quick_lat=() quick_slow=()
if [ -n "${QUICK:-}" ]; then
  export BENCH_QUICK=1
  quick_lat=(--seconds 0.3)
  quick_slow=(--seconds 1)
fi

echo "== throughput: cargo bench --bench peers"
measure throughput cargo bench --bench peers -- --save-baseline peers "${quick_bench[@]}"

echo "== latency"
measure latency cargo run --release --example latency -- --out "$out/latency.tsv" "${quick_lat[@]}"

echo "== slow consumer"
measure "slow consumer" \
  cargo run --release --example slow_consumer -- --out "$out/slow_consumer.tsv" "${quick_slow[@]}"

echo "== BENCHMARKS.md, docs/bench/throughput.svg"
cargo run --release --example plot -- --criterion "$target/criterion" --results "$out" \
  --md BENCHMARKS.md --svg docs/bench/throughput.svg
