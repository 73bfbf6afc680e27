//! Throughput of the log: producers -> cursors, with batch reads.
//!
//! ```text
//! cargo bench --bench log -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench log -- 1p_1c          # one scenario
//! ```
//!
//! One measured iteration appends `RECORDS` records (split evenly between
//! the producers, each appending one record per call with
//! `Producer::append`) and lasts until every cursor has read all of them
//! with `Cursor::next_batch(BATCH)`, checked the sequence order and touched
//! every payload byte (a wrapping sum of its 8-byte words). The clock runs
//! from the moment the first thread leaves the barrier that releases them
//! all until the last cursor has read the last record (each thread reads
//! the clock itself: see `common::Span`).
//!
//! **Units.** The throughput is `Throughput::Elements(RECORDS)`, so
//! criterion's `elem/s` is *records appended per second*. Every cursor reads
//! every record, so with `k` cursors the *delivered* rate is `k` times the
//! printed figure (the `1p_4c` and `4p_4c` groups deliver 4x).
//!
//! Scenarios (group names): `1p_1c`, `1p_4c`, `4p_4c` with the default
//! `WaitStrategy::SpinThenPark`, and `1p_1c_spin` with `WaitStrategy::Spin`;
//! each with 8 B, 64 B and 1 KiB payloads. The log has 1 MiB segments, the
//! default byte budget (64 MiB, `Block`) and coarse timestamps. One log per
//! benchmark is reused by all its iterations (cursors start at
//! `Start::Latest` each time), so the segment pool is warm as in a long-running
//! service; threads are spawned per iteration (tens of microseconds against
//! iterations of tens of milliseconds).
//!
//! On a 2-core machine the `4p_4c` scenario runs 8 threads on 2 cores: it
//! measures the waiting strategy as much as the log.

mod common;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use fanlog::{Cursor, Log, Producer, Start, Timestamps, WaitStrategy};
use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Records per cursor batch read.
const BATCH: usize = 256;
/// Segment size of every benchmarked log.
const SEGMENT: usize = 1 << 20;
/// Payload sizes, in bytes.
const PAYLOADS: [usize; 3] = [8, 64, 1024];

/// Records appended per iteration: 2^20 (33 MB of frames at 8 B, 92 MB at
/// 64 B) or 2^17 at 1 KiB (137 MB), so an iteration streams through far more
/// than the budget and the caches.
fn records_for(payload: usize) -> u64 {
    if payload >= 1024 {
        1 << 17
    } else {
        1 << 20
    }
}

/// Appends `records` records of `payload` bytes, each carrying its counter.
fn produce(producer: &Producer, payload: usize, records: u64) {
    let mut buf = vec![0xA5u8; payload];
    for i in 0..records {
        let n = payload.min(8);
        buf[..n].copy_from_slice(&i.to_le_bytes()[..n]);
        if let Err(e) = producer.append(&buf) {
            panic!("append failed: {e}");
        }
    }
}

/// One iteration: `producers` threads append `records` in all, `cursors`
/// threads read all of them. Returns the wall time from the first thread's
/// release until the last cursor is done (each thread reads the clock
/// itself: see `common::Span`).
fn run_once(log: &Log, producers: usize, cursors: usize, payload: usize, records: u64) -> Duration {
    let readers: Vec<Cursor> = (0..cursors)
        .map(|_| log.cursor(Start::Latest).expect("cursor"))
        .collect();
    let go = Barrier::new(producers + cursors);
    thread::scope(|s| {
        let go = &go;
        let consumers: Vec<_> = readers
            .into_iter()
            .map(|mut cursor| {
                s.spawn(move || {
                    go.wait();
                    let start = Instant::now();
                    black_box(common::consume(&mut cursor, records, BATCH));
                    (start, Instant::now())
                })
            })
            .collect();
        let writers: Vec<_> = (0..producers as u64)
            .map(|p| {
                let producer = log.producer();
                let quota = records / producers as u64 + u64::from(p < records % producers as u64);
                s.spawn(move || {
                    go.wait();
                    let start = Instant::now();
                    produce(&producer, payload, quota);
                    start
                })
            })
            .collect();
        let mut span = common::Span::default();
        for c in consumers {
            let (start, end) = c.join().expect("consumer panicked");
            span.start(start);
            span.end(end);
        }
        for w in writers {
            span.start(w.join().expect("producer panicked"));
        }
        span.elapsed()
    })
}

fn bench_scenario(
    c: &mut Criterion,
    name: &str,
    producers: usize,
    cursors: usize,
    wait: WaitStrategy,
) {
    let mut group = c.benchmark_group(name);
    // Iterations take tens of milliseconds: same count in every sample.
    group.sampling_mode(SamplingMode::Flat);
    for payload in PAYLOADS {
        let records = records_for(payload);
        let log = Log::builder()
            .segment_size(SEGMENT)
            .wait_strategy(wait)
            .timestamps(Timestamps::Coarse)
            .build()
            .expect("log");
        group.throughput(Throughput::Elements(records));
        group.bench_function(BenchmarkId::from_parameter(format!("{payload}B")), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_once(&log, producers, cursors, payload, records))
                    .sum()
            })
        });
    }
    group.finish();
}

fn log_throughput(c: &mut Criterion) {
    bench_scenario(c, "1p_1c", 1, 1, WaitStrategy::SpinThenPark);
    bench_scenario(c, "1p_4c", 1, 4, WaitStrategy::SpinThenPark);
    bench_scenario(c, "4p_4c", 4, 4, WaitStrategy::SpinThenPark);
    bench_scenario(c, "1p_1c_spin", 1, 1, WaitStrategy::Spin);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = log_throughput
}
criterion_main!(benches);
