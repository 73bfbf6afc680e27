//! `latency`: one-way latency of 1 producer -> 1 consumer at a fixed offered
//! rate, for fanlog and its peers, plus a cache-line ping-pong measured in
//! the same run as the floor of this machine.
//!
//! ```text
//! cargo run --release --example latency                   # all systems, ~1 minute
//! cargo run --release --example latency -- --systems fanlog_spin,pingpong
//! cargo run --release --example latency -- --rates 1M,half --seconds 2
//! cargo run --release --example latency -- --help
//! ```
//!
//! # Method
//!
//! * **No coordinated omission.** Record `i` is *due* at `start + i /
//!   rate`; the producer busy-waits until it is due and writes the due time
//!   (not the send time) into the payload. If the producer falls behind (the
//!   system blocked it, or the OS preempted it), it sends every overdue
//!   record at once, each still stamped with its own due time, so the delay
//!   counts against the system. Latency = consumer's clock at receipt - due
//!   time.
//! * **Clock.** The TSC (`rdtsc`, constant and non-stop on this machine),
//!   calibrated against `Instant` at start; one read costs ~10 ns here (printed).
//!   Each one-way sample includes about one clock read.
//! * **Records** are 64 bytes: due time, counter, filler. The consumer
//!   reads every byte and checks the counter (a gap panics, except the
//!   `Lagged` records a lossy peer reports, which are counted as lost).
//! * **Capacity** 4096 records (fanlog: 5 segments of 64 KiB = 3723 frames
//!   of 88 B), `tokio` 65536 (it drops instead of blocking).
//! * **Warm-up.** The first 10% of each run is not recorded.
//! * **Rates.** `1M` = 1 000 000 records/s; `half` = 50% of the peak that
//!   the same pair reaches in this run, unpaced, with the same
//!   instrumentation (the `peak` row). `10k` shows the wake-up cost of the
//!   parking strategies (the consumer has time to fall asleep).
//! * **Threads** are pinned to CPUs 0 (producer) and 1 (consumer) unless
//!   `--no-pin`.
//!
//! # Systems
//!
//! `pingpong` (the floor: thread A stores the TSC into a cache line, thread
//! B spins on it and records its TSC minus the stored one, then acknowledges
//! on another line; a closed loop, so a stall costs it one sample),
//! `fanlog_roundtrip` (the same closed loop with a 64-byte record through a
//! `Spin` log in place of the forward line: the like-for-like comparison
//! with `pingpong`),
//! `spsc_floor` (the open-loop floor: the simplest bounded single-producer
//! single-consumer ring, 4096 slots of 64 B, paced and measured exactly like
//! the systems, so a stall costs it every record due meanwhile), `fanlog_spin` (`WaitStrategy::Spin`), `fanlog_park`
//! (`SpinThenPark`), `disruptor_spin` (busy-spin poller), `disruptor_yield`,
//! and `bus`, `crossbeam`, `tokio`, `async_broadcast` each with blocking
//! receives (`_park`) and with `try_recv` spinning (`_spin`).
//!
//! Output: a table on stdout; with `--out FILE` also tab-separated rows
//! (system, rate label, offered/s, achieved/s, p50, p99, p99.9, max in ns,
//! records, lost), which `examples/plot.rs` turns into the BENCHMARKS.md
//! table.

use disruptor::{build_single_producer, BusySpin, Polling, Producer as _};
use fanlog::{Log, Start, Timestamps, WaitStrategy};
use hdrhistogram::Histogram;
use std::hint::spin_loop;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Payload size.
const N: usize = 64;
/// Records every bounded system holds.
const CAP: usize = 4096;
/// tokio's broadcast never blocks the sender: room so that it does not lag.
const TOKIO_CAP: usize = 1 << 16;
/// Records per fanlog batch read.
const BATCH: usize = 256;

const USAGE: &str = "\
latency: one-way latency of 1 producer -> 1 consumer at fixed offered rates

USAGE:
    cargo run --release --example latency -- [OPTIONS]

OPTIONS:
    --systems LIST   comma-separated (default: all):
                     pingpong, fanlog_roundtrip, spsc_floor, fanlog_spin, fanlog_park, disruptor_spin,
                     disruptor_yield, bus_park, bus_spin, crossbeam_park,
                     crossbeam_spin, tokio_park, tokio_spin,
                     async_broadcast_park, async_broadcast_spin
    --rates LIST     comma-separated offered rates: a number with k/M suffix,
                     or `half` (50% of the measured peak)  [default: 1M,half,10k]
    --seconds S      length of each run                     [default: 1]
    --out FILE       also write tab-separated rows to FILE
    --no-pin         do not pin the two threads to CPUs 0 and 1
    -h, --help       this help
";

// ---------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------

/// TSC ticks -> ns, as a 32.32 fixed-point factor, and the TSC at start.
struct Tsc {
    mult: u64,
    base: u64,
}

static TSC: OnceLock<Tsc> = OnceLock::new();

#[inline]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

fn calibrate() -> &'static Tsc {
    TSC.get_or_init(|| {
        let (t0, c0) = (Instant::now(), rdtsc());
        thread::sleep(Duration::from_millis(100));
        let (t1, c1) = (Instant::now(), rdtsc());
        let ns = (t1 - t0).as_nanos() as f64;
        let mult = (ns / (c1 - c0) as f64 * (1u64 << 32) as f64) as u64;
        Tsc { mult, base: c0 }
    })
}

/// Nanoseconds since calibration.
#[inline]
fn now_ns() -> u64 {
    let t = TSC.get().expect("calibrated");
    ((rdtsc().wrapping_sub(t.base) as u128 * t.mult as u128) >> 32) as u64
}

/// Mean cost of one `now_ns()`, in ns.
fn clock_cost() -> f64 {
    let n = 1_000_000;
    let t0 = Instant::now();
    let mut acc = 0u64;
    for _ in 0..n {
        acc = acc.wrapping_add(now_ns());
    }
    std::hint::black_box(acc);
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within
    // it; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// ---------------------------------------------------------------------------
// Producer pacing and consumer recording, common to all systems
// ---------------------------------------------------------------------------

/// One run's parameters.
#[derive(Clone, Copy)]
struct Run {
    /// Records to send.
    records: u64,
    /// ns between due times; 0 = unpaced (stamp = send time).
    period: f64,
    /// Pin threads.
    pin: bool,
}

/// Sends `run.records` records at their due times through `send`.
fn produce(run: Run, start: u64, mut send: impl FnMut(&[u8; N])) {
    let mut buf = [0xA5u8; N];
    let mut i = 0u64;
    while i < run.records {
        let now = now_ns();
        if run.period == 0.0 {
            buf[..8].copy_from_slice(&now.to_le_bytes());
            buf[8..16].copy_from_slice(&i.to_le_bytes());
            send(&buf);
            i += 1;
            continue;
        }
        let due = |i: u64| start + (i as f64 * run.period) as u64;
        if due(i) > now {
            spin_loop();
            continue;
        }
        // Everything due by now, each stamped with its own due time.
        while i < run.records && due(i) <= now {
            buf[..8].copy_from_slice(&due(i).to_le_bytes());
            buf[8..16].copy_from_slice(&i.to_le_bytes());
            send(&buf);
            i += 1;
        }
    }
}

/// The consumer's side: checks, latency histogram.
struct Sink {
    hist: Histogram<u64>,
    next: u64,
    warm: u64,
    lost: u64,
    resync: bool,
    acc: u64,
    records: u64,
}

impl Sink {
    fn new(run: Run) -> Self {
        Sink {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram"),
            next: 0,
            warm: run.records / 10,
            lost: 0,
            resync: false,
            acc: 0,
            records: run.records,
        }
    }

    #[inline]
    fn done(&self) -> bool {
        self.next >= self.records
    }

    #[inline]
    fn record(&mut self, data: &[u8]) {
        let now = now_ns();
        let due = u64::from_le_bytes(data[..8].try_into().unwrap());
        let i = u64::from_le_bytes(data[8..16].try_into().unwrap());
        if i != self.next && !(self.resync && i > self.next) {
            panic!("record {i} where {} was expected", self.next);
        }
        self.resync = false;
        self.next = i + 1;
        for w in data.chunks_exact(8) {
            self.acc = self
                .acc
                .wrapping_add(u64::from_le_bytes(w.try_into().unwrap()));
        }
        if i >= self.warm {
            self.hist.saturating_record(now.saturating_sub(due).max(1));
        }
    }

    #[inline]
    fn lose(&mut self, n: u64) {
        self.lost += n;
        self.resync = true;
    }
}

/// Result of one run.
struct Outcome {
    hist: Histogram<u64>,
    /// Delivered rate, records/s (first due time to last receipt).
    rate: f64,
    lost: u64,
}

/// Runs `producer(start)` and `consumer()` on two (pinned) threads.
fn pair(
    run: Run,
    producer: impl FnOnce(u64) + Send,
    consumer: impl FnOnce() -> Sink + Send,
) -> Outcome {
    let go = Barrier::new(2);
    let start = AtomicU64::new(0);
    let (sink, end) = thread::scope(|s| {
        let (go, start) = (&go, &start);
        let c = s.spawn(move || {
            if run.pin {
                pin(1);
            }
            go.wait();
            let sink = consumer();
            (sink, now_ns())
        });
        s.spawn(move || {
            if run.pin {
                pin(0);
            }
            go.wait();
            // A little slack so that record 0 is not already late.
            let t = now_ns() + 20_000;
            start.store(t, Ordering::Relaxed);
            producer(t);
        });
        c.join().expect("consumer panicked")
    });
    std::hint::black_box(sink.acc);
    let secs = end.saturating_sub(start.load(Ordering::Relaxed)) as f64 / 1e9;
    Outcome {
        rate: (run.records - sink.lost) as f64 / secs,
        lost: sink.lost,
        hist: sink.hist,
    }
}

// ---------------------------------------------------------------------------
// Systems
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Park,
    Spin,
}

/// The log every fanlog row uses: a budget of `CAP` frames of `N` bytes in
/// segments of the largest power of two that gives at least four (five of
/// 64 KiB), no timestamps (the 16-byte header).
fn fanlog_log(wait: WaitStrategy) -> Log {
    let frame = (16 + N + 7) & !7;
    let budget = CAP * frame;
    Log::builder()
        .segment_size(1 << (budget / 4).ilog2())
        .max_bytes(budget)
        .timestamps(Timestamps::Off)
        .wait_strategy(wait)
        .build()
        .expect("log")
}

fn fanlog_run(run: Run, wait: Wait) -> Outcome {
    let log = fanlog_log(match wait {
        Wait::Park => WaitStrategy::SpinThenPark,
        Wait::Spin => WaitStrategy::Spin,
    });
    let mut cursor = log.cursor(Start::Latest).expect("cursor");
    let producer = log.producer();
    pair(
        run,
        move |t| {
            produce(run, t, |b| {
                producer.append(b).expect("append");
            })
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                for r in cursor.next_batch(BATCH).expect("read") {
                    sink.record(r.data());
                }
            }
            sink
        },
    )
}

struct Slot([u8; N]);

fn disruptor_run(run: Run, wait: Wait) -> Outcome {
    let (mut poller, b) = build_single_producer(CAP, || Slot([0; N]), BusySpin).new_event_poller();
    let mut producer = b.build();
    let snooze = move |n: &mut u32| {
        *n += 1;
        if wait == Wait::Spin || *n < 64 {
            spin_loop();
        } else {
            thread::yield_now();
        }
    };
    pair(
        run,
        move |t| {
            // Dropping the producer afterwards shuts the ring down; the
            // poller still drains what was published before.
            produce(run, t, |b| {
                let mut n = 0;
                while producer.try_publish(|e| e.0 = *b).is_err() {
                    snooze(&mut n);
                }
            })
        },
        move || {
            let mut sink = Sink::new(run);
            let mut n = 0;
            while !sink.done() {
                match poller.poll() {
                    Ok(mut events) => {
                        for e in &mut events {
                            sink.record(&e.0);
                        }
                        n = 0;
                    }
                    Err(Polling::NoEvents) => snooze(&mut n),
                    Err(Polling::Shutdown) => panic!("shut down"),
                }
            }
            sink
        },
    )
}

fn bus_run(run: Run, wait: Wait) -> Outcome {
    let mut bus = bus::Bus::<[u8; N]>::new(CAP);
    let mut rx = bus.add_rx();
    pair(
        run,
        move |t| {
            produce(run, t, |b| match wait {
                Wait::Park => bus.broadcast(*b),
                Wait::Spin => {
                    while bus.try_broadcast(*b).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                match wait {
                    Wait::Park => sink.record(&rx.recv().expect("recv")),
                    Wait::Spin => match rx.try_recv() {
                        Ok(v) => sink.record(&v),
                        Err(_) => spin_loop(),
                    },
                }
            }
            sink
        },
    )
}

fn crossbeam_run(run: Run, wait: Wait) -> Outcome {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(CAP);
    pair(
        run,
        move |t| {
            produce(run, t, |b| match wait {
                Wait::Park => tx.send(*b).expect("send"),
                Wait::Spin => {
                    while tx.try_send(*b).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                match wait {
                    Wait::Park => sink.record(&rx.recv().expect("recv")),
                    Wait::Spin => match rx.try_recv() {
                        Ok(v) => sink.record(&v),
                        Err(_) => spin_loop(),
                    },
                }
            }
            sink
        },
    )
}

fn tokio_run(run: Run, wait: Wait) -> Outcome {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let (tx, mut rx) = tokio::sync::broadcast::channel::<[u8; N]>(TOKIO_CAP);
    pair(
        run,
        move |t| {
            produce(run, t, |b| {
                tx.send(*b).expect("send");
            })
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                match wait {
                    Wait::Park => match rx.blocking_recv() {
                        Ok(v) => sink.record(&v),
                        Err(RecvError::Lagged(n)) => sink.lose(n),
                        Err(RecvError::Closed) => break,
                    },
                    Wait::Spin => match rx.try_recv() {
                        Ok(v) => sink.record(&v),
                        Err(TryRecvError::Lagged(n)) => sink.lose(n),
                        Err(TryRecvError::Empty) => spin_loop(),
                        Err(TryRecvError::Closed) => break,
                    },
                }
            }
            sink
        },
    )
}

fn async_broadcast_run(run: Run, wait: Wait) -> Outcome {
    let (tx, mut rx) = async_broadcast::broadcast::<[u8; N]>(CAP);
    pair(
        run,
        move |t| {
            produce(run, t, |b| match wait {
                Wait::Park => {
                    tx.broadcast_blocking(*b).expect("send");
                }
                Wait::Spin => {
                    while tx.try_broadcast(*b).is_err() {
                        spin_loop();
                    }
                }
            })
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                match wait {
                    Wait::Park => sink.record(&rx.recv_blocking().expect("recv")),
                    Wait::Spin => match rx.try_recv() {
                        Ok(v) => sink.record(&v),
                        Err(_) => spin_loop(),
                    },
                }
            }
            sink
        },
    )
}

/// The open-loop floor: the simplest bounded single-producer ring (4096
/// slots of 64 bytes, a Release store of the slot's sequence number per
/// record, the consumer's position published every 64 records), run exactly
/// like the systems. What it cannot do better, no queue on this machine can.
fn spsc_run(run: Run) -> Outcome {
    #[repr(C, align(64))]
    struct Slot {
        seq: AtomicU64,
        words: [AtomicU64; 7],
    }
    #[repr(align(128))]
    struct Pos(AtomicU64);
    let ring: Vec<Slot> = (0..CAP)
        .map(|_| Slot {
            seq: AtomicU64::new(0),
            words: Default::default(),
        })
        .collect();
    let read = Pos(AtomicU64::new(0));
    let (ring, read) = (&ring, &read);
    pair(
        run,
        move |t| {
            let mut i = 0u64;
            let mut room = CAP as u64;
            produce(run, t, |b| {
                while i >= room {
                    room = read.0.load(Ordering::Acquire) + CAP as u64;
                    spin_loop();
                }
                let slot = &ring[i as usize % CAP];
                for (w, c) in slot.words.iter().zip(b.chunks_exact(8)) {
                    w.store(u64::from_le_bytes(c.try_into().unwrap()), Ordering::Relaxed);
                }
                slot.seq.store(i + 1, Ordering::Release);
                i += 1;
            })
        },
        move || {
            let mut sink = Sink::new(run);
            let mut buf = [0u8; N];
            let mut i = 0u64;
            while !sink.done() {
                let slot = &ring[i as usize % CAP];
                if slot.seq.load(Ordering::Acquire) != i + 1 {
                    spin_loop();
                    continue;
                }
                for (w, c) in slot.words.iter().zip(buf.chunks_exact_mut(8)) {
                    c.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                }
                buf[56..].copy_from_slice(&[0xA5; 8]);
                sink.record(&buf);
                i += 1;
                if i % 64 == 0 {
                    read.0.store(i, Ordering::Release);
                }
            }
            sink
        },
    )
}

/// The floor: one cache line handed from one core to the other.
fn pingpong_run(run: Run) -> Outcome {
    #[repr(align(128))]
    struct Line(AtomicU64);
    let ping = Line(AtomicU64::new(0));
    let pong = Line(AtomicU64::new(0));
    let records = run.records;
    // The achieved "rate" is round trips per second.
    pair(
        Run { period: 0.0, ..run },
        |_| {
            for i in 1..=records {
                // The time of the hand-off, in the line itself.
                ping.0.store(now_ns().max(1), Ordering::Release);
                while pong.0.load(Ordering::Acquire) != i {
                    spin_loop();
                }
            }
        },
        || {
            let mut sink = Sink::new(run);
            let mut last = 0;
            for i in 1..=records {
                let v = loop {
                    let v = ping.0.load(Ordering::Acquire);
                    if v != last {
                        break v;
                    }
                    spin_loop();
                };
                let now = now_ns();
                last = v;
                if i > sink.warm {
                    sink.hist.saturating_record(now.saturating_sub(v).max(1));
                }
                pong.0.store(i, Ordering::Release);
            }
            sink.next = records;
            sink
        },
    )
}

/// The ping-pong with fanlog in the forward direction: thread A appends a
/// record stamped with its send time to a `Spin` log and waits for the
/// acknowledgement; thread B reads it (every byte, counter checked), records
/// its clock minus the stamp, and acknowledges on a cache line as in
/// `pingpong`. Closed loop, like the floor: the like-for-like comparison.
fn fanlog_roundtrip_run(run: Run) -> Outcome {
    #[repr(align(128))]
    struct Line(AtomicU64);
    let pong = Line(AtomicU64::new(0));
    let log = fanlog_log(WaitStrategy::Spin);
    let mut cursor = log.cursor(Start::Latest).expect("cursor");
    let producer = log.producer();
    let records = run.records;
    let pong = &pong;
    pair(
        Run { period: 0.0, ..run },
        move |_| {
            let mut buf = [0xA5u8; N];
            for i in 0..records {
                buf[..8].copy_from_slice(&now_ns().to_le_bytes());
                buf[8..16].copy_from_slice(&i.to_le_bytes());
                producer.append(&buf).expect("append");
                while pong.0.load(Ordering::Acquire) != i + 1 {
                    spin_loop();
                }
            }
        },
        move || {
            let mut sink = Sink::new(run);
            while !sink.done() {
                let r = cursor.next().expect("read");
                sink.record(r.data());
                pong.0.store(sink.next, Ordering::Release);
            }
            sink
        },
    )
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const SYSTEMS: &[&str] = &[
    "pingpong",
    "fanlog_roundtrip",
    "spsc_floor",
    "fanlog_spin",
    "fanlog_park",
    "disruptor_spin",
    "disruptor_yield",
    "bus_spin",
    "bus_park",
    "crossbeam_spin",
    "crossbeam_park",
    "tokio_spin",
    "tokio_park",
    "async_broadcast_spin",
    "async_broadcast_park",
];

fn run_system(name: &str, run: Run) -> Outcome {
    match name {
        "pingpong" => pingpong_run(run),
        "fanlog_roundtrip" => fanlog_roundtrip_run(run),
        "spsc_floor" => spsc_run(run),
        "fanlog_spin" => fanlog_run(run, Wait::Spin),
        "fanlog_park" => fanlog_run(run, Wait::Park),
        "disruptor_spin" => disruptor_run(run, Wait::Spin),
        "disruptor_yield" => disruptor_run(run, Wait::Park),
        "bus_spin" => bus_run(run, Wait::Spin),
        "bus_park" => bus_run(run, Wait::Park),
        "crossbeam_spin" => crossbeam_run(run, Wait::Spin),
        "crossbeam_park" => crossbeam_run(run, Wait::Park),
        "tokio_spin" => tokio_run(run, Wait::Spin),
        "tokio_park" => tokio_run(run, Wait::Park),
        "async_broadcast_spin" => async_broadcast_run(run, Wait::Spin),
        "async_broadcast_park" => async_broadcast_run(run, Wait::Park),
        _ => unreachable!(),
    }
}

#[derive(Clone, Copy)]
enum Rate {
    Fixed(f64),
    Half,
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s == "half" {
        return Ok(Rate::Half);
    }
    let (num, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1e3),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v > 0.0 => Ok(Rate::Fixed(v * mult)),
        _ => Err(format!("bad rate {s:?}")),
    }
}

fn rate_label(r: f64) -> String {
    if r >= 1e6 {
        format!("{}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{}k", r / 1e3)
    } else {
        format!("{r}")
    }
}

fn main() {
    let mut systems: Vec<String> = SYSTEMS.iter().map(|s| s.to_string()).collect();
    let mut rates = vec![Rate::Fixed(1e6), Rate::Half, Rate::Fixed(1e4)];
    let mut seconds = 1.0f64;
    let mut out: Option<String> = None;
    let mut pin_threads = true;
    let mut args = std::env::args().skip(1);
    let fail = |msg: String| -> ! {
        eprintln!("{msg}\n\n{USAGE}");
        std::process::exit(2)
    };
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--systems" => {
                systems = value().split(',').map(str::to_string).collect();
                for s in &systems {
                    if !SYSTEMS.contains(&s.as_str()) {
                        fail(format!("unknown system {s:?}"));
                    }
                }
            }
            "--rates" => {
                rates = value()
                    .split(',')
                    .map(|r| parse_rate(r).unwrap_or_else(|e| fail(e)))
                    .collect()
            }
            "--seconds" => {
                seconds = value()
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .unwrap_or_else(|| fail("bad --seconds".into()))
            }
            "--out" => out = Some(value()),
            "--no-pin" => pin_threads = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            _ => fail(format!("unknown option {a:?}")),
        }
    }

    calibrate();
    let clock = clock_cost();
    println!(
        "one-way latency, 1 producer -> 1 consumer, {N} B records, capacity {CAP}; \
         clock read {clock:.1} ns; {seconds} s per run, first 10% not recorded"
    );
    println!(
        "{:<22} {:>9} {:>12} {:>12} {:>9} {:>9} {:>9} {:>11} {:>6}",
        "system",
        "rate",
        "offered/s",
        "achieved/s",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "max ns",
        "lost"
    );
    let mut rows = Vec::new();
    let mut emit = |system: &str, label: &str, offered: f64, o: &Outcome| {
        let h = &o.hist;
        let (p50, p99, p999, max) = (
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        );
        println!(
            "{system:<22} {label:>9} {offered:>12.0} {:>12.0} {p50:>9} {p99:>9} {p999:>9} {max:>11} {:>6}",
            o.rate, o.lost
        );
        rows.push(format!(
            "{system}\t{label}\t{offered:.0}\t{:.0}\t{p50}\t{p99}\t{p999}\t{max}\t{}\t{}",
            o.rate,
            h.len(),
            o.lost
        ));
    };
    for system in &systems {
        let base = Run {
            records: 0,
            period: 0.0,
            pin: pin_threads,
        };
        if system == "pingpong" || system == "fanlog_roundtrip" {
            let o = run_system(
                system,
                Run {
                    records: 1_000_000,
                    ..base
                },
            );
            emit(system, "roundtrip", 0.0, &o);
            continue;
        }
        // The peak: unpaced, same instrumentation.
        let need_peak = rates.iter().any(|r| matches!(r, Rate::Half));
        let mut peak = 0.0;
        if need_peak {
            let o = run_system(
                system,
                Run {
                    records: 2_000_000,
                    ..base
                },
            );
            peak = o.rate;
            emit(system, "peak", 0.0, &o);
        }
        for r in &rates {
            let (rate, label) = match *r {
                Rate::Fixed(v) => (v, rate_label(v)),
                Rate::Half => (peak / 2.0, "half".to_string()),
            };
            let records = ((rate * seconds) as u64).max(1000);
            let o = run_system(
                system,
                Run {
                    records,
                    period: 1e9 / rate,
                    ..base
                },
            );
            emit(system, &label, rate, &o);
        }
    }
    if let Some(path) = out {
        let mut f = std::fs::File::create(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        writeln!(f, "# clock_ns\t{clock:.1}").unwrap();
        writeln!(
            f,
            "system\trate\toffered\tachieved\tp50\tp99\tp999\tmax\tsamples\tlost"
        )
        .unwrap();
        for r in rows {
            writeln!(f, "{r}").unwrap();
        }
    }
}
