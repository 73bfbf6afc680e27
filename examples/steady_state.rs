//! `steady_state`: one producer and 1, 2 or 4 consumers running a fixed
//! number of records through fanlog and through the disruptor, long enough
//! for a steady state, with the CPU time and the context switches they took.
//!
//! ```text
//! cargo run --release --example steady_state                       # 1 -> 4, 8 B, blocking waits
//! cargo run --release --example steady_state -- 1 8 50000000 spin  # 1 -> 1 busy-spinning, pinned
//! cargo run --release --example steady_state -- 2 64 20000000 block fanlog
//! ```
//!
//! Arguments, all optional, in this order: consumers (1, 2 or 4), payload
//! (8, 64 or 1024 bytes), records, waits (`block` or `spin`), systems
//! (`both`, `fanlog` or `disruptor`), rounds (3). Busy-spinning runs have
//! one consumer, as in the bench.
//!
//! The settings are the peers bench's (`benches/peers.rs`): 4096 records of
//! capacity (fanlog: a byte budget of 4096 frames in segments of a quarter
//! of it, no timestamps), `Producer::append` per record and
//! `Cursor::next_batch(256)` against `try_publish` per record and
//! `EventPoller::poll`. `block`: fanlog's `SpinThenPark` against the
//! disruptor's 64 `spin_loop`s then `yield_now` (the crate has no blocking
//! wait); `spin`: fanlog's `Spin` against pure spinning, the producer pinned
//! to CPU 0 and the consumers to CPU 1. Every consumer checks that the
//! counters arrive in order and reads every byte of every payload.
//!
//! Why it exists next to the bench: a criterion iteration there is 2^17
//! records (a few milliseconds) from a barrier's release, so it includes
//! the threads' start; here one run is tens of millions of records, and the
//! process's CPU time and context switches (`getrusage`) show how the two
//! systems spend the CPUs they share. BENCHMARKS.md quotes it.

use disruptor::{build_single_producer, BusySpin, Polling};
use fanlog::{Log, Start, Timestamps, WaitStrategy};
use std::hint::{black_box, spin_loop};
use std::thread;
use std::time::Instant;

/// Records each system holds (the peers bench's `CAP`).
const CAP: usize = 4096;

/// What one run is.
#[derive(Clone, Copy)]
struct Run {
    consumers: usize,
    records: u64,
    spin: bool,
}

/// One system's run of one payload size.
type Runner = fn(Run);

fn main() {
    let mut args = std::env::args().skip(1);
    let consumers: usize = args.next().map_or(4, |s| parse(&s, "consumers"));
    let payload: usize = args.next().map_or(8, |s| parse(&s, "payload"));
    let records: u64 = args.next().map_or(20_000_000, |s| parse(&s, "records"));
    let spin = match args.next().as_deref() {
        None | Some("block") => false,
        Some("spin") => true,
        Some(w) => usage(&format!("waits are `block` or `spin`, not {w:?}")),
    };
    let systems = args.next().unwrap_or_else(|| "both".into());
    if !["both", "fanlog", "disruptor"].contains(&systems.as_str()) {
        usage(&format!(
            "systems are `both`, `fanlog` or `disruptor`, not {systems:?}"
        ));
    }
    let rounds: u32 = args.next().map_or(3, |s| parse(&s, "rounds"));
    if ![1, 2, 4].contains(&consumers) || records == 0 {
        usage("consumers are 1, 2 or 4, and records at least 1");
    }
    if spin && consumers > 1 {
        // As in the bench: spinning consumers sharing a CPU starve each other.
        usage("busy-spinning runs have one consumer");
    }
    let run = Run {
        consumers,
        records,
        spin,
    };
    let (fanlog, disruptor): (Runner, Runner) = match payload {
        8 => (run_fanlog::<8>, run_disruptor::<8>),
        64 => (run_fanlog::<64>, run_disruptor::<64>),
        1024 => (run_fanlog::<1024>, run_disruptor::<1024>),
        _ => usage("the payload is 8, 64 or 1024 bytes"),
    };
    println!(
        "1 -> {consumers}, {payload} B, {records} records, {} waits",
        if spin {
            "busy-spinning (pinned)"
        } else {
            "blocking"
        }
    );
    for _ in 0..rounds {
        if systems != "disruptor" {
            report("fanlog", run, || fanlog(run));
        }
        if systems != "fanlog" {
            report("disruptor", run, || disruptor(run));
        }
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("bad {what} {s:?}")))
}

fn usage(why: &str) -> ! {
    eprintln!(
        "steady_state: {why}\nusage: steady_state [consumers] [payload] [records] [block|spin] \
         [both|fanlog|disruptor] [rounds]"
    );
    std::process::exit(2);
}

/// The process's CPU time (user + system, seconds) and context switches.
fn usage_now() -> (f64, i64) {
    // SAFETY: `getrusage` fills the zeroed struct we pass; all-zero bytes
    // are a valid `rusage`.
    let r = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (
        secs(r.ru_utime) + secs(r.ru_stime),
        r.ru_nvcsw + r.ru_nivcsw,
    )
}

/// Runs `f` and prints its rate, CPU time and context switches.
fn report(name: &str, run: Run, f: impl FnOnce()) {
    let (cpu0, cs0) = usage_now();
    let t = Instant::now();
    f();
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, cs1) = usage_now();
    let cpu = cpu1 - cpu0;
    println!(
        "{name:10} {:7.1} M records/s   CPU {cpu:6.2} s ({:3.0}% of the wall time)   \
         {:5.2} context switches per 1k records",
        run.records as f64 / wall / 1e6,
        cpu / wall * 100.0,
        (cs1 - cs0) as f64 * 1000.0 / run.records as f64,
    );
}

/// Pins the calling thread to `cpu` (busy-spinning runs only).
fn pin(run: Run, cpu: usize) {
    if !run.spin {
        return;
    }
    // SAFETY: `set` is a zeroed (empty) CPU set that CPU_SET fills; the
    // call reads it and changes only this thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A consumer's check of one payload: its counter is the next one; returns
/// the sum of its 8-byte words (every byte is read).
#[inline]
fn check(expected: &mut u64, data: &[u8]) -> u64 {
    let counter = u64::from_le_bytes(data[..8].try_into().expect("8-byte counter"));
    assert_eq!(counter, *expected, "records out of order");
    *expected += 1;
    data.chunks_exact(8).fold(0u64, |a, w| {
        a.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")))
    })
}

/// The payload of record `i`: the counter, then filler.
#[inline]
fn payload<const N: usize>(buf: &mut [u8; N], i: u64) -> &[u8; N] {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf
}

fn run_fanlog<const N: usize>(run: Run) {
    let frame = (16 + N + 7) & !7;
    let budget = CAP * frame;
    let log = Log::builder()
        .segment_size(1usize << (budget / 4).ilog2())
        .max_bytes(budget)
        .wait_strategy(if run.spin {
            WaitStrategy::Spin
        } else {
            WaitStrategy::SpinThenPark
        })
        .timestamps(Timestamps::Off)
        .build()
        .expect("log");
    let cursors: Vec<_> = (0..run.consumers)
        .map(|_| log.cursor(Start::Earliest).expect("cursor"))
        .collect();
    let producer = log.producer();
    thread::scope(|s| {
        for mut c in cursors {
            s.spawn(move || {
                pin(run, 1);
                let (mut next, mut acc) = (0u64, 0u64);
                while next < run.records {
                    for r in c.next_batch(256).expect("read") {
                        acc = acc.wrapping_add(check(&mut next, r.data()));
                    }
                }
                black_box(acc);
            });
        }
        s.spawn(move || {
            pin(run, 0);
            let mut buf = [0xA5u8; N];
            for i in 0..run.records {
                producer.append(payload(&mut buf, i)).expect("append");
            }
        });
    });
}

fn run_disruptor<const N: usize>(run: Run) {
    let mut b = build_single_producer(CAP, || [0u8; N], BusySpin).with_multi_consumer();
    let mut pollers = Vec::new();
    for _ in 0..run.consumers {
        let (poller, next) = b.new_event_poller();
        pollers.push(poller);
        b = next;
    }
    let mut producer = b.build();
    // The bench's wait for a system without a blocking wait: 64 spins, then
    // yields; only spins when busy-spinning.
    let snooze = |n: &mut u32| {
        if run.spin || *n < 64 {
            *n += 1;
            spin_loop();
        } else {
            thread::yield_now();
        }
    };
    thread::scope(|s| {
        for mut poller in pollers {
            s.spawn(move || {
                pin(run, 1);
                let (mut next, mut acc, mut n) = (0u64, 0u64, 0u32);
                while next < run.records {
                    match poller.poll() {
                        Ok(mut events) => {
                            for e in &mut events {
                                acc = acc.wrapping_add(check(&mut next, e));
                            }
                            n = 0;
                        }
                        Err(Polling::NoEvents) => snooze(&mut n),
                        Err(Polling::Shutdown) => panic!("disruptor shut down"),
                    }
                }
                black_box(acc);
            });
        }
        let producer = &mut producer;
        s.spawn(move || {
            pin(run, 0);
            let (mut buf, mut n) = ([0xA5u8; N], 0u32);
            for i in 0..run.records {
                let v = *payload(&mut buf, i);
                while disruptor::Producer::try_publish(producer, |e| *e = v).is_err() {
                    snooze(&mut n);
                }
                n = 0;
            }
        });
    });
}
