//! `slow_consumer`: one producer, four consumers, one of them 10x slower
//! than the offered rate; what each overflow policy does to the producer,
//! to memory and to the records the consumers see.
//!
//! ```text
//! cargo run --release --example slow_consumer                 # every scenario, ~40 s
//! cargo run --release --example slow_consumer -- --scenarios fanlog_block,tokio
//! cargo run --release --example slow_consumer -- --rate 2M --seconds 5
//! cargo run --release --example slow_consumer -- --help
//! ```
//!
//! # What runs
//!
//! * The producer offers `--rate` records/s (default 1 M/s) of 64 bytes for
//!   `--seconds` (default 3): every millisecond it sends the records that
//!   became due, each carrying its counter. A producer that is held up
//!   (`Block`) sends what is overdue once it can; under `Reject` a refused
//!   record is dropped (the next one is due anyway) and counted.
//! * Consumers 0-2 read as fast as they can; consumer 3 reads at most a
//!   tenth of the offered rate (it sleeps whenever it is ahead of that).
//!   Every consumer reads every byte and checks that the counters go up.
//!   When the producer stops it closes its side; the slow consumer stops
//!   sleeping and every consumer drains what is left until the stream
//!   reports closed, so a consumer's lost records are exactly the accepted
//!   records it never saw. Read rates count the records read before the
//!   producer stopped.
//! * Capacity: 65536 records everywhere (fanlog: a byte budget of 65536
//!   frames of 88 B in 512 KiB segments; crossbeam: per consumer).
//! * Each scenario runs in a child process of this example (`--child`), so
//!   its peak RSS (`VmHWM` of `/proc/self/status`) is its own. The
//!   `baseline` row is a child that does nothing: subtract it.
//!
//! # Scenarios
//!
//! | scenario | policy |
//! |---|---|
//! | `fanlog_block` | `OverflowPolicy::Block`: the producer waits for the slowest cursor |
//! | `fanlog_drop_oldest` | `DropOldest`: the slow cursor gets `Lagged` and skips |
//! | `fanlog_reject` | `Reject`: `append` returns `Full`, the record is dropped for everyone |
//! | `tokio` | `tokio::sync::broadcast`: the slow receiver gets `Lagged` (drop oldest) |
//! | `async_broadcast_block` | `async_broadcast`, default: `broadcast_blocking` waits |
//! | `async_broadcast_overflow` | `set_overflow(true)`: oldest dropped, receivers get `Overflowed` |
//! | `bus_block` | `bus::Bus::broadcast` waits |
//! | `disruptor_block` | `disruptor`: `try_publish` retried (spin, then yield) |
//! | `crossbeam_block` | a bounded channel per consumer, blocking `send` |
//! | `crossbeam_drop` | a bounded channel per consumer, `try_send`: a full consumer misses the record (drop newest, per consumer) |
//! | `crossbeam_unbounded` | an unbounded channel per consumer: nothing lost, memory grows |
//!
//! Output: a table on stdout; `--out FILE` also writes tab-separated rows
//! for `examples/plot.rs`.

use fanlog::{AppendError, Log, OverflowPolicy, RecvError, Start, Timestamps};
use std::hint::spin_loop;
use std::io::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Payload size.
const N: usize = 64;
/// Records every bounded system holds.
const CAP: usize = 1 << 16;
/// Consumers; the last one is slow.
const CONSUMERS: usize = 4;
/// The slow consumer reads at most offered / SLOWDOWN records/s.
const SLOWDOWN: f64 = 10.0;
/// Records per fanlog batch read.
const BATCH: usize = 256;
/// How long a blocked consumer waits before re-checking the stop flag.
const POLL: Duration = Duration::from_millis(20);

const SCENARIOS: &[&str] = &[
    "baseline",
    "fanlog_block",
    "fanlog_drop_oldest",
    "fanlog_reject",
    "tokio",
    "async_broadcast_block",
    "async_broadcast_overflow",
    "bus_block",
    "disruptor_block",
    "crossbeam_block",
    "crossbeam_drop",
    "crossbeam_unbounded",
];

const USAGE: &str = "\
slow_consumer: 1 producer -> 4 consumers, one 10x slower, per overflow policy

USAGE:
    cargo run --release --example slow_consumer -- [OPTIONS]

OPTIONS:
    --scenarios LIST  comma-separated (default: all): baseline, fanlog_block,
                      fanlog_drop_oldest, fanlog_reject, tokio,
                      async_broadcast_block, async_broadcast_overflow,
                      bus_block, disruptor_block, crossbeam_block,
                      crossbeam_drop, crossbeam_unbounded
    --rate R          offered records/s, k/M suffix ok       [default: 1M]
    --seconds S       producer run time                      [default: 3]
    --out FILE        also write tab-separated rows to FILE
    --child NAME      run one scenario in this process (used by the parent)
    -h, --help        this help
";

// ---------------------------------------------------------------------------
// Producer pacing and consumer checks
// ---------------------------------------------------------------------------

/// What the producer did.
#[derive(Default)]
struct Sent {
    /// Records accepted by the system.
    accepted: u64,
    /// Records refused (Reject) and dropped.
    rejected: u64,
    /// Seconds the producer ran (including a final blocked send).
    secs: f64,
}

/// What one send did.
enum SendResult {
    Accepted,
    Rejected,
}

/// Offers `rate` records/s for `secs` through `send`; the counter in each
/// record counts accepted records only, so a consumer's gaps are its own
/// losses.
fn produce(rate: f64, secs: f64, mut send: impl FnMut(&[u8; N]) -> SendResult) -> Sent {
    let mut buf = [0xA5u8; N];
    let mut sent = Sent::default();
    let start = Instant::now();
    let mut offered = 0u64;
    loop {
        let t = start.elapsed().as_secs_f64();
        if t >= secs {
            break;
        }
        let due = (t * rate) as u64;
        while offered < due {
            buf[..8].copy_from_slice(&sent.accepted.to_le_bytes());
            match send(&buf) {
                SendResult::Accepted => sent.accepted += 1,
                SendResult::Rejected => sent.rejected += 1,
            }
            offered += 1;
            if offered % 1024 == 0 && start.elapsed().as_secs_f64() >= secs {
                break;
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    sent.secs = start.elapsed().as_secs_f64();
    sent
}

/// One consumer's checks and counts.
struct Sink<'a> {
    next: u64,
    read: u64,
    /// Records read when the stop flag was first seen.
    read_at_stop: Option<u64>,
    acc: u64,
    /// `Some(records/s)` for the slow consumer.
    limit: Option<f64>,
    start: Instant,
    stop: &'a AtomicBool,
}

impl<'a> Sink<'a> {
    fn new(limit: Option<f64>, stop: &'a AtomicBool) -> Self {
        Sink {
            next: 0,
            read: 0,
            read_at_stop: None,
            acc: 0,
            limit,
            start: Instant::now(),
            stop,
        }
    }

    /// Whether the producer has stopped (remembers the count read by then).
    fn stopped(&mut self) -> bool {
        if self.read_at_stop.is_some() {
            return true;
        }
        if self.stop.load(Ordering::Relaxed) {
            self.read_at_stop = Some(self.read);
            return true;
        }
        false
    }

    /// Checks one record; the slow consumer then sleeps while it is ahead
    /// of its limit.
    #[inline]
    fn on(&mut self, data: &[u8]) {
        let i = u64::from_le_bytes(data[..8].try_into().unwrap());
        assert!(i >= self.next, "record {i} after {}", self.next);
        self.next = i + 1;
        self.read += 1;
        for w in data.chunks_exact(8) {
            self.acc = self
                .acc
                .wrapping_add(u64::from_le_bytes(w.try_into().unwrap()));
        }
        if self.read_at_stop.is_none() && self.read % 256 == 0 {
            self.stopped();
        }
        if let Some(limit) = self.limit {
            while self.read as f64 > self.start.elapsed().as_secs_f64() * limit && !self.stopped() {
                thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// A send function: offers one record.
type SendFn<'a> = dyn FnMut(&[u8; N]) -> SendResult + 'a;
/// Runs the paced producer loop over a send function.
type Go<'a> = dyn Fn(&mut SendFn<'_>) -> Sent + 'a;
/// One consumer's loop.
type Consumer<'a> = Box<dyn FnOnce(&mut Sink) + Send + 'a>;

/// What a consumer reports.
struct Got {
    /// Records read in all (including the drain after the stop).
    read: u64,
    /// Records read before the producer stopped.
    read_at_stop: u64,
}

/// Runs the producer and the four consumers; `consumers[k]` is called with
/// consumer k's sink and must return once the stream reports closed (after
/// draining). `producer` must drop or close its side when done.
fn run(
    rate: f64,
    secs: f64,
    producer: impl FnOnce(&Go<'_>) -> Sent + Send,
    consumers: Vec<Consumer<'_>>,
) -> (Sent, Vec<Got>) {
    let stop = AtomicBool::new(false);
    let go = Barrier::new(CONSUMERS + 1);
    thread::scope(|s| {
        let (stop, go) = (&stop, &go);
        let handles: Vec<_> = consumers
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                s.spawn(move || {
                    let limit = (k == CONSUMERS - 1).then_some(rate / SLOWDOWN);
                    go.wait();
                    let mut sink = Sink::new(limit, stop);
                    c(&mut sink);
                    std::hint::black_box(sink.acc);
                    Got {
                        read: sink.read,
                        read_at_stop: sink.read_at_stop.unwrap_or(sink.read),
                    }
                })
            })
            .collect();
        go.wait();
        let sent = producer(&|send| produce(rate, secs, send));
        stop.store(true, Ordering::Relaxed);
        let got = handles
            .into_iter()
            .map(|h| h.join().expect("consumer panicked"))
            .collect();
        (sent, got)
    })
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

fn fanlog_scenario(rate: f64, secs: f64, policy: OverflowPolicy) -> (Sent, Vec<Got>) {
    // 16-byte header: a log without timestamps.
    let budget = CAP * ((16 + N + 7) & !7);
    let log = Log::builder()
        .segment_size(1 << (budget / 8).ilog2())
        .max_bytes(budget)
        .overflow(policy)
        .timestamps(Timestamps::Off)
        .build()
        .expect("log");
    let cursors: Vec<_> = (0..CONSUMERS)
        .map(|_| log.cursor(Start::Latest).expect("cursor"))
        .collect();
    let producer = log.producer();
    let consumers = cursors
        .into_iter()
        .map(|mut c| {
            Box::new(move |sink: &mut Sink| loop {
                match c.next_batch_timeout(BATCH, POLL) {
                    Ok(batch) => {
                        for r in batch {
                            sink.on(r.data());
                        }
                    }
                    Err(RecvError::Lagged { .. }) | Err(RecvError::Timeout) => {}
                    Err(RecvError::Closed(_)) => break,
                    Err(e) => panic!("read: {e}"),
                }
            }) as Consumer
        })
        .collect();
    let log2 = log.clone();
    run(
        rate,
        secs,
        move |go| {
            let sent = go(&mut |b| match producer.append(b) {
                Ok(_) => SendResult::Accepted,
                Err(AppendError::Full) => SendResult::Rejected,
                Err(e) => panic!("append: {e}"),
            });
            log2.close(fanlog::CloseStatus::Ok);
            sent
        },
        consumers,
    )
}

fn tokio_scenario(rate: f64, secs: f64) -> (Sent, Vec<Got>) {
    use tokio::sync::broadcast::error::RecvError as E;
    let (tx, _) = tokio::sync::broadcast::channel::<[u8; N]>(CAP);
    let consumers = (0..CONSUMERS)
        .map(|_| {
            let mut rx = tx.subscribe();
            Box::new(move |sink: &mut Sink| {
                loop {
                    match rx.blocking_recv() {
                        Ok(v) => sink.on(&v),
                        Err(E::Lagged(_)) => {} // counted from the gap
                        Err(E::Closed) => break,
                    }
                }
            }) as Consumer
        })
        .collect();
    run(
        rate,
        secs,
        move |go| {
            go(&mut |b| {
                tx.send(*b).expect("send");
                SendResult::Accepted
            })
        },
        consumers,
    )
}

fn async_broadcast_scenario(rate: f64, secs: f64, overflow: bool) -> (Sent, Vec<Got>) {
    let (mut tx, rx0) = async_broadcast::broadcast::<[u8; N]>(CAP);
    tx.set_overflow(overflow);
    let mut rxs = vec![rx0];
    while rxs.len() < CONSUMERS {
        rxs.push(tx.new_receiver());
    }
    let consumers = rxs
        .into_iter()
        .map(|mut rx| {
            Box::new(move |sink: &mut Sink| loop {
                match rx.recv_blocking() {
                    Ok(v) => sink.on(&v),
                    Err(async_broadcast::RecvError::Overflowed(_)) => {}
                    Err(async_broadcast::RecvError::Closed) => break,
                }
            }) as Consumer
        })
        .collect();
    run(
        rate,
        secs,
        move |go| {
            go(&mut |b| {
                tx.broadcast_blocking(*b).expect("send");
                SendResult::Accepted
            })
        },
        consumers,
    )
}

fn bus_scenario(rate: f64, secs: f64) -> (Sent, Vec<Got>) {
    let mut bus = bus::Bus::<[u8; N]>::new(CAP);
    let consumers = (0..CONSUMERS)
        .map(|_| {
            let mut rx = bus.add_rx();
            Box::new(move |sink: &mut Sink| loop {
                match rx.recv_timeout(POLL) {
                    Ok(v) => sink.on(&v),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(_) => break,
                }
            }) as Consumer
        })
        .collect();
    run(
        rate,
        secs,
        move |go| {
            go(&mut |b| {
                bus.broadcast(*b);
                SendResult::Accepted
            })
        },
        consumers,
    )
}

struct Slot([u8; N]);

fn disruptor_scenario(rate: f64, secs: f64) -> (Sent, Vec<Got>) {
    use disruptor::{build_single_producer, BusySpin, Polling, Producer as _};
    let mut b = build_single_producer(CAP, || Slot([0; N]), BusySpin).with_multi_consumer();
    let mut pollers = Vec::new();
    for _ in 0..CONSUMERS {
        let (p, next) = b.new_event_poller();
        pollers.push(p);
        b = next;
    }
    let mut producer = b.build();
    let consumers = pollers
        .into_iter()
        .map(|mut p| {
            Box::new(move |sink: &mut Sink| {
                let mut idle = 0u32;
                loop {
                    match p.poll() {
                        Ok(mut events) => {
                            for e in &mut events {
                                sink.on(&e.0);
                            }
                            idle = 0;
                        }
                        Err(Polling::NoEvents) => {
                            idle += 1;
                            if idle < 64 {
                                spin_loop();
                            } else {
                                thread::yield_now();
                            }
                        }
                        Err(Polling::Shutdown) => break,
                    }
                }
            }) as Consumer
        })
        .collect();
    run(
        rate,
        secs,
        move |go| {
            go(&mut |b| {
                let mut idle = 0u32;
                while producer.try_publish(|e| e.0 = *b).is_err() {
                    idle += 1;
                    if idle < 64 {
                        spin_loop();
                    } else {
                        thread::yield_now();
                    }
                }
                SendResult::Accepted
            })
        },
        consumers,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chan {
    Block,
    Drop,
    Unbounded,
}

fn crossbeam_scenario(rate: f64, secs: f64, kind: Chan) -> (Sent, Vec<Got>) {
    let chans: Vec<_> = (0..CONSUMERS)
        .map(|_| match kind {
            Chan::Unbounded => crossbeam_channel::unbounded::<[u8; N]>(),
            _ => crossbeam_channel::bounded::<[u8; N]>(CAP),
        })
        .collect();
    let txs: Vec<_> = chans.iter().map(|(tx, _)| tx.clone()).collect();
    let consumers = chans
        .into_iter()
        .map(|(_, rx)| {
            Box::new(move |sink: &mut Sink| loop {
                match rx.recv_timeout(POLL) {
                    Ok(v) => sink.on(&v),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(_) => break,
                }
            }) as Consumer
        })
        .collect();
    // Per-consumer counters: with `Drop`, a consumer whose channel is full
    // misses the record, so each channel gets its own counter sequence.
    let mut next = [0u64; CONSUMERS];
    run(
        rate,
        secs,
        move |go| {
            go(&mut |b| {
                let mut v = *b;
                for (k, tx) in txs.iter().enumerate() {
                    v[..8].copy_from_slice(&next[k].to_le_bytes());
                    match kind {
                        Chan::Drop => {
                            if tx.try_send(v).is_err() {
                                // Missed by consumer k: skip its counter so
                                // that its gap shows.
                                next[k] += 1;
                                continue;
                            }
                        }
                        _ => tx.send(v).expect("send"),
                    }
                    next[k] += 1;
                }
                SendResult::Accepted
            })
        },
        consumers,
    )
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs one scenario here and prints its `RESULT` line.
fn child(name: &str, rate: f64, secs: f64) {
    let (sent, got) = match name {
        "baseline" => (
            Sent {
                secs,
                ..Sent::default()
            },
            (0..CONSUMERS)
                .map(|_| Got {
                    read: 0,
                    read_at_stop: 0,
                })
                .collect(),
        ),
        "fanlog_block" => fanlog_scenario(rate, secs, OverflowPolicy::Block),
        "fanlog_drop_oldest" => fanlog_scenario(rate, secs, OverflowPolicy::DropOldest),
        "fanlog_reject" => fanlog_scenario(rate, secs, OverflowPolicy::Reject),
        "tokio" => tokio_scenario(rate, secs),
        "async_broadcast_block" => async_broadcast_scenario(rate, secs, false),
        "async_broadcast_overflow" => async_broadcast_scenario(rate, secs, true),
        "bus_block" => bus_scenario(rate, secs),
        "disruptor_block" => disruptor_scenario(rate, secs),
        "crossbeam_block" => crossbeam_scenario(rate, secs, Chan::Block),
        "crossbeam_drop" => crossbeam_scenario(rate, secs, Chan::Drop),
        "crossbeam_unbounded" => crossbeam_scenario(rate, secs, Chan::Unbounded),
        _ => unreachable!(),
    };
    let fast = &got[..CONSUMERS - 1];
    let slow = &got[CONSUMERS - 1];
    let fast_read = fast.iter().map(|g| g.read_at_stop).min().unwrap_or(0);
    let fast_lost: u64 = fast.iter().map(|g| sent.accepted - g.read).sum();
    println!(
        "RESULT\t{name}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{}\t{}\t{}\t{}",
        sent.accepted as f64 / sent.secs,
        fast_read as f64 / sent.secs,
        slow.read_at_stop as f64 / sent.secs,
        sent.accepted as f64,
        sent.accepted - slow.read,
        fast_lost,
        sent.rejected,
        peak_rss_kib(),
    );
}

fn parse_rate(s: &str) -> Option<f64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1e3),
        b'M' | b'm' => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .map(|v| v * mult)
}

fn main() {
    let mut scenarios: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    let mut rate = 1e6;
    let mut secs = 3.0;
    let mut out: Option<String> = None;
    let mut child_name: Option<String> = None;
    let mut args = std::env::args().skip(1);
    let fail = |msg: String| -> ! {
        eprintln!("{msg}\n\n{USAGE}");
        std::process::exit(2)
    };
    let check = |s: &str| {
        if !SCENARIOS.contains(&s) {
            fail(format!("unknown scenario {s:?}"));
        }
    };
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--scenarios" => {
                scenarios = value().split(',').map(str::to_string).collect();
                scenarios.iter().for_each(|s| check(s));
            }
            "--rate" => rate = parse_rate(&value()).unwrap_or_else(|| fail("bad --rate".into())),
            "--seconds" => {
                secs = value()
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .unwrap_or_else(|| fail("bad --seconds".into()))
            }
            "--out" => out = Some(value()),
            "--child" => {
                let name = value();
                check(&name);
                child_name = Some(name);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            _ => fail(format!("unknown option {a:?}")),
        }
    }
    if let Some(name) = child_name {
        child(&name, rate, secs);
        return;
    }

    let exe = std::env::current_exe().expect("current_exe");
    println!(
        "slow consumer: 1 producer offering {rate:.0} records/s of {N} B for {secs} s -> {CONSUMERS} \
         consumers, the last limited to {:.0}/s; capacity {CAP} records",
        rate / SLOWDOWN
    );
    println!(
        "{:<26} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "scenario",
        "producer/s",
        "fast read/s",
        "slow read/s",
        "slow lost",
        "fast lost",
        "rejected",
        "peak RSS"
    );
    let mut rows = Vec::new();
    for name in &scenarios {
        let output = Command::new(&exe)
            .args(["--child", name, "--rate", &rate.to_string()])
            .args(["--seconds", &secs.to_string()])
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT\t")) else {
            eprintln!(
                "{name}: child failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            std::process::exit(1);
        };
        let f: Vec<&str> = line.split('\t').collect();
        let rss_mib = f[9].parse::<f64>().unwrap_or(0.0) / 1024.0;
        println!(
            "{:<26} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>8.1} MiB",
            f[1], f[2], f[3], f[4], f[6], f[7], f[8], rss_mib
        );
        rows.push(f[1..].join("\t"));
    }
    if let Some(path) = out {
        let mut file =
            std::fs::File::create(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        writeln!(file, "# rate\t{rate:.0}\tseconds\t{secs}\tcap\t{CAP}").unwrap();
        writeln!(
            file,
            "scenario\tproducer_rate\tfast_rate\tslow_rate\taccepted\tslow_lost\tfast_lost\trejected\tpeak_rss_kib"
        )
        .unwrap();
        for r in rows {
            writeln!(file, "{r}").unwrap();
        }
    }
}
