//! Throughput of the durable log (`Log::open`) next to the in-memory log.
//!
//! ```text
//! cargo bench --bench store -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench store -- append_64B     # one group
//! ```
//!
//! # Append groups (`append_64B`, `append_1KiB`)
//!
//! One thread appends records with one `Producer` and nothing reads them:
//! the clock runs from the first append to the return of the last one.
//! `Throughput::Elements`, so criterion's `elem/s` is *records appended per
//! second*. Every log in a group has 1 MiB segments, a 256 MiB budget with
//! `OverflowPolicy::DropOldest` and history kept up to the budget
//! (`retain_bytes` = 256 MiB, the durable default), coarse timestamps; one
//! log per benchmark is reused by all its iterations, so a steady state is
//! measured: every segment switch of a durable log creates and
//! `posix_fallocate`s a new file and deletes the oldest one, and the files
//! on disk never exceed the budget (plus the segment being created).
//!
//! | benchmark | log | appends |
//! |---|---|---|
//! | `memory` | `Log::builder()` (anonymous memory) | `append` |
//! | `memory_batch64` | same | `append_batch` of 64 |
//! | `none` | `Log::open`, `SyncPolicy::None` | `append` |
//! | `none_batch64` | same | `append_batch` of 64 |
//! | `interval_10ms` | `SyncPolicy::Interval(10 ms)` (a background thread flushes) | `append` |
//! | `interval_100ms` | `SyncPolicy::Interval(100 ms)` | `append` |
//! | `every_batch_1` | `SyncPolicy::EveryBatch`: each call `msync`s its pages | `append` |
//! | `every_batch_64` | `SyncPolicy::EveryBatch` | `append_batch` of 64 |
//!
//! # Read groups (`read_64B`, `read_1KiB`)
//!
//! A log holding `records` records is built once; each iteration opens a
//! cursor at `Start::Earliest` and reads all of them with
//! `Cursor::next_batch(256)`, checking the sequence numbers and touching
//! every payload byte. The files are in the page cache (just written).
//!
//! | benchmark | log |
//! |---|---|
//! | `memory` | in-memory |
//! | `fresh` | durable, written by this process (reads check no CRC) |
//! | `reopened` | durable, flushed, dropped and reopened with `Verify::FromCheckpoint`: every segment before the checkpoint is CRC-checked on read |
//! | `reopened_verify_all` | reopened with `Verify::All`: every frame CRC-checked at open, none on read |
//!
//! The durable logs live in a directory under `std::env::temp_dir()`
//! (`$TMPDIR`, else `/tmp`), removed when each benchmark is done.

mod common;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use fanlog::{Log, OpenOptions, OverflowPolicy, Producer, Start, SyncPolicy, Timestamps, Verify};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Segment size of every benchmarked log.
const SEGMENT: usize = 1 << 20;
/// Byte budget (and retention) of the append benchmarks' logs.
const BUDGET: usize = 256 << 20;
/// Records per cursor batch read.
const READ_BATCH: usize = 256;
/// Records per `append_batch` call in the batch variants.
const APPEND_BATCH: usize = 64;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("fanlog-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a benchmarked log is made.
#[derive(Clone, Copy)]
enum Kind {
    Memory,
    Durable(SyncPolicy),
}

fn open_log(kind: Kind, dir: &TempDir) -> Log {
    match kind {
        Kind::Memory => Log::builder()
            .segment_size(SEGMENT)
            .max_bytes(BUDGET)
            .retain_bytes(BUDGET)
            .overflow(OverflowPolicy::DropOldest)
            .timestamps(Timestamps::Coarse)
            .build()
            .expect("log"),
        Kind::Durable(sync) => Log::open(
            &dir.0,
            &OpenOptions::new()
                .segment_size(SEGMENT)
                .max_bytes(BUDGET)
                .overflow(OverflowPolicy::DropOldest)
                .timestamps(Timestamps::Coarse)
                .sync(sync),
        )
        .expect("open"),
    }
}

/// Appends `records` records of `payload` bytes, one per call or `batch`
/// per `append_batch`, each carrying its counter.
fn produce(producer: &Producer, payload: usize, records: u64, batch: usize) {
    let n = payload.min(8);
    if batch == 1 {
        let mut buf = vec![0xA5u8; payload];
        for i in 0..records {
            buf[..n].copy_from_slice(&i.to_le_bytes()[..n]);
            if let Err(e) = producer.append(&buf) {
                panic!("append failed: {e}");
            }
        }
        return;
    }
    let mut bufs = vec![vec![0xA5u8; payload]; batch];
    let mut i = 0u64;
    while i < records {
        let k = batch.min((records - i) as usize);
        for (j, b) in bufs[..k].iter_mut().enumerate() {
            b[..n].copy_from_slice(&(i + j as u64).to_le_bytes()[..n]);
        }
        if let Err(e) = producer.append_batch(0, &bufs[..k]) {
            panic!("append_batch failed: {e}");
        }
        i += k as u64;
    }
}

/// Payload sizes with the records appended per iteration of the fast
/// variants (24 MiB of durable frames at 64 B, 33 MiB at 1 KiB) and of
/// `every_batch_1` / `every_batch_64` (each record or batch waits for the
/// disk).
const PAYLOADS: [(usize, &str, u64, u64, u64); 2] = [
    (64, "64B", 1 << 18, 1 << 9, 1 << 13),
    (1024, "1KiB", 1 << 15, 1 << 9, 1 << 12),
];

fn append_throughput(c: &mut Criterion) {
    for (payload, label, fast, every1, every64) in PAYLOADS {
        let mut group = c.benchmark_group(format!("append_{label}"));
        // Iterations take milliseconds to seconds: same count in every sample.
        group.sampling_mode(SamplingMode::Flat);
        let variants: [(&str, Kind, usize, u64); 8] = [
            ("memory", Kind::Memory, 1, fast),
            ("memory_batch64", Kind::Memory, APPEND_BATCH, fast),
            ("none", Kind::Durable(SyncPolicy::None), 1, fast),
            (
                "none_batch64",
                Kind::Durable(SyncPolicy::None),
                APPEND_BATCH,
                fast,
            ),
            (
                "interval_10ms",
                Kind::Durable(SyncPolicy::Interval(Duration::from_millis(10))),
                1,
                fast,
            ),
            (
                "interval_100ms",
                Kind::Durable(SyncPolicy::Interval(Duration::from_millis(100))),
                1,
                fast,
            ),
            (
                "every_batch_1",
                Kind::Durable(SyncPolicy::EveryBatch),
                1,
                every1,
            ),
            (
                "every_batch_64",
                Kind::Durable(SyncPolicy::EveryBatch),
                APPEND_BATCH,
                every64,
            ),
        ];
        for (name, kind, batch, records) in variants {
            // Made on the first call, so a benchmark left out by a filter
            // costs nothing; dropped (files deleted) after the benchmark.
            let mut state: Option<(Producer, Log, TempDir)> = None;
            group.throughput(Throughput::Elements(records));
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                let (producer, _, _) = state.get_or_insert_with(|| {
                    let dir = TempDir::new(&format!("append-{label}-{name}"));
                    let log = open_log(kind, &dir);
                    (log.producer(), log, dir)
                });
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        produce(producer, payload, records, batch);
                    }
                    start.elapsed()
                })
            });
            drop(state);
        }
        group.finish();
    }
}

/// A log holding `records` records of `payload` bytes, made as `how` says.
fn read_log(how: &str, dir: &TempDir, payload: usize, records: u64) -> Log {
    let durable = || {
        OpenOptions::new()
            .segment_size(SEGMENT)
            .max_bytes(BUDGET)
            .timestamps(Timestamps::Coarse)
    };
    let fill = |log: &Log| produce(&log.producer(), payload, records, APPEND_BATCH);
    match how {
        "memory" => {
            let log = Log::builder()
                .segment_size(SEGMENT)
                .max_bytes(BUDGET)
                .retain_bytes(BUDGET)
                .timestamps(Timestamps::Coarse)
                .build()
                .expect("log");
            fill(&log);
            log
        }
        "fresh" => {
            let log = Log::open(&dir.0, &durable()).expect("open");
            fill(&log);
            log
        }
        _ => {
            {
                let log = Log::open(&dir.0, &durable()).expect("open");
                fill(&log);
                log.flush().expect("flush");
            }
            let verify = if how == "reopened" {
                Verify::FromCheckpoint
            } else {
                Verify::All
            };
            let log = Log::open(&dir.0, &durable().verify(verify)).expect("reopen");
            let r = log.recovery().expect("durable");
            assert_eq!(r.next_seq, records, "recovered {r:?}");
            log
        }
    }
}

fn read_throughput(c: &mut Criterion) {
    for (payload, label, records) in [(64, "64B", 1u64 << 18), (1024, "1KiB", 1 << 15)] {
        let mut group = c.benchmark_group(format!("read_{label}"));
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(records));
        for how in ["memory", "fresh", "reopened", "reopened_verify_all"] {
            // Built on the first call (see `append_throughput`).
            let mut state: Option<(Log, TempDir)> = None;
            group.bench_function(BenchmarkId::from_parameter(how), |b| {
                let (log, _) = state.get_or_insert_with(|| {
                    let dir = TempDir::new(&format!("read-{label}-{how}"));
                    (read_log(how, &dir, payload, records), dir)
                });
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut cursor = log.cursor(Start::Earliest).expect("cursor");
                        black_box(common::consume(&mut cursor, records, READ_BATCH));
                    }
                    start.elapsed()
                })
            });
            drop(state);
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = append_throughput, read_throughput
}
criterion_main!(benches);
