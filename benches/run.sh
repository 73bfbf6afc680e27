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
  echo "commit:    $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')"
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
cargo bench --bench peers -- --save-baseline peers "${quick_bench[@]}"
echo "load after throughput: $(load)" >> "$out/machine.txt"

echo "== latency"
cargo run --release --example latency -- --out "$out/latency.tsv" "${quick_lat[@]}"
echo "load after latency: $(load)" >> "$out/machine.txt"

echo "== slow consumer"
cargo run --release --example slow_consumer -- --out "$out/slow_consumer.tsv" "${quick_slow[@]}"
echo "load after slow consumer: $(load)" >> "$out/machine.txt"

echo "== BENCHMARKS.md, docs/bench/throughput.svg"
cargo run --release --example plot -- --criterion "$target/criterion" --results "$out" \
  --md BENCHMARKS.md --svg docs/bench/throughput.svg
