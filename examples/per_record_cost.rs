//! `per_record_cost`: what one record costs fanlog and the disruptor on one
//! thread, without a second core in the way: the work each system does per
//! record, apart from cache-line transfers and waits.
//!
//! ```text
//! cargo run --release --example per_record_cost                 # 8 B, 10 M records
//! cargo run --release --example per_record_cost -- 64 1000000   # payload, records
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/per_record_cost 8 1000000
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep per_record_cost::
//! ```
//!
//! One thread appends 256 records, then reads everything there is with
//! batch reads, and again, as the peers bench's producer and consumer do
//! on two threads (`benches/peers.rs`: `Producer::append` per record and
//! `Cursor::next_batch(256)`; the disruptor's `try_publish` per record and
//! `EventPoller::poll`). The capacities are the bench's: 4096 records
//! (fanlog: a byte budget of 4096 frames in segments of a quarter of it,
//! no timestamps). The reader checks each record's counter and sums a byte.
//!
//! Under callgrind, the inclusive instruction counts of `fanlog_append`,
//! `fanlog_read`, `disruptor_publish` and `disruptor_read`, divided by the
//! records, are the instructions per record of each side; `fanlog_append`
//! includes the zeroing of each reused segment (`memset`). BENCHMARKS.md
//! quotes them.

use disruptor::{build_single_producer, BusySpin, EventPoller, Polling, SingleProducerBarrier};
use fanlog::{Cursor, Log, Producer, Start, Timestamps};
use std::hint::black_box;
use std::time::Instant;

/// Records each system holds (the peers bench's `CAP`).
const CAP: usize = 4096;
/// Records appended between two drains.
const ROUND: u64 = 256;

fn main() {
    let mut args = std::env::args().skip(1);
    let payload: usize = args.next().map_or(8, |s| parse(&s, "payload"));
    let records: u64 = args.next().map_or(10_000_000, |s| parse(&s, "records"));
    if ![8, 64, 1024].contains(&payload) {
        eprintln!("per_record_cost: the payload is 8, 64 or 1024 bytes (the bench's sizes)");
        std::process::exit(2);
    }
    let records = records.div_ceil(ROUND) * ROUND;
    println!("{records} records of {payload} B, one thread");
    let rate = run_fanlog(payload, records);
    println!("fanlog     {rate:8.1} M records/s");
    let rate = run_disruptor(payload, records);
    println!("disruptor  {rate:8.1} M records/s");
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> T {
    s.parse().unwrap_or_else(|_| {
        eprintln!("per_record_cost: bad {what} {s:?}; usage: per_record_cost [payload] [records]");
        std::process::exit(2);
    })
}

/// The reader's check: counters arrive in order; returns one byte to sum.
#[inline(always)]
fn check(data: &[u8], expected: &mut u64) -> u64 {
    let counter = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    assert_eq!(counter, *expected, "out of order");
    *expected += 1;
    u64::from(data[data.len() - 1])
}

fn run_fanlog(payload: usize, records: u64) -> f64 {
    let frame = (16 + payload + 7) & !7;
    let budget = CAP * frame;
    let log = Log::builder()
        .segment_size(1 << (budget / 4).ilog2())
        .max_bytes(budget)
        .timestamps(Timestamps::Off)
        .build()
        .expect("log");
    let producer = log.producer();
    let mut cursor = log.cursor(Start::Earliest).expect("cursor");
    let mut buf = vec![0xA5u8; payload];
    let (mut next, mut expected, mut sum) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while next < records {
        fanlog_append(&producer, &mut buf, &mut next);
        sum += fanlog_read(&mut cursor, &mut expected);
    }
    let elapsed = start.elapsed();
    assert_eq!(expected, records);
    black_box(sum);
    records as f64 / elapsed.as_secs_f64() / 1e6
}

#[inline(never)]
fn fanlog_append(producer: &Producer, buf: &mut [u8], next: &mut u64) {
    for _ in 0..ROUND {
        buf[..8].copy_from_slice(&next.to_le_bytes());
        producer.append(buf).expect("append");
        *next += 1;
    }
}

#[inline(never)]
fn fanlog_read(cursor: &mut Cursor, expected: &mut u64) -> u64 {
    let mut sum = 0;
    while let Ok(batch) = cursor.try_next_batch(256) {
        for r in batch {
            sum += check(r.data(), expected);
        }
    }
    sum
}

fn run_disruptor(payload: usize, records: u64) -> f64 {
    // One slot type per payload size, as in the bench.
    match payload {
        8 => disruptor_n::<8>(records),
        64 => disruptor_n::<64>(records),
        _ => disruptor_n::<1024>(records),
    }
}

/// One ring slot.
struct Slot<const N: usize>([u8; N]);

fn disruptor_n<const N: usize>(records: u64) -> f64 {
    let builder = build_single_producer(CAP, || Slot([0xA5u8; N]), BusySpin);
    let (mut poller, builder) = builder.new_event_poller();
    let mut producer = builder.build();
    let (mut next, mut expected, mut sum) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while next < records {
        disruptor_publish(&mut producer, &mut next);
        sum += disruptor_read(&mut poller, &mut expected);
    }
    let elapsed = start.elapsed();
    assert_eq!(expected, records);
    black_box(sum);
    records as f64 / elapsed.as_secs_f64() / 1e6
}

#[inline(never)]
fn disruptor_publish<const N: usize, P: disruptor::Producer<Slot<N>>>(p: &mut P, next: &mut u64) {
    let mut buf = [0xA5u8; N];
    for _ in 0..ROUND {
        buf[..8].copy_from_slice(&next.to_le_bytes());
        p.try_publish(|e| e.0 = buf).expect("the ring has room");
        *next += 1;
    }
}

#[inline(never)]
fn disruptor_read<const N: usize>(
    poller: &mut EventPoller<Slot<N>, SingleProducerBarrier>,
    expected: &mut u64,
) -> u64 {
    let mut sum = 0;
    loop {
        match poller.poll() {
            Ok(mut events) => {
                for e in &mut events {
                    sum += check(&e.0, expected);
                }
            }
            Err(Polling::NoEvents) => return sum,
            Err(Polling::Shutdown) => panic!("shut down"),
        }
    }
}
