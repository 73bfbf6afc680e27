//! fanlog against its peers, in one run: throughput of 1 producer -> 1, 2
//! and 4 consumers and 4 producers -> 4 consumers, payloads 8 B, 64 B, 1 KiB.
//!
//! ```text
//! cargo bench --bench peers                          # everything, ~6 minutes
//! cargo bench --bench peers -- 'peers_1p_1c/'        # one scenario
//! cargo bench --bench peers -- 'peers_.*/fanlog/'    # one system
//! bash benches/run.sh                                # + examples + BENCHMARKS.md
//! ```
//!
//! # Systems (benchmark function names)
//!
//! | name | what | waits |
//! |---|---|---|
//! | `fanlog` | one `Log`, one `Cursor` per consumer; `Producer::append` per record, `Cursor::next_batch(256)` | `SpinThenPark` (futex), `Spin` in `_spin` groups |
//! | `fanlog_batch16` | the same log, `Producer::append_batch` of 16 records | as `fanlog` |
//! | `fanlog_default` | `fanlog` with the default budget (64 MiB in 1 MiB segments: 16x to 180x the peers' capacity); for reference, not compared | as `fanlog` |
//! | `tokio` | `tokio::sync::broadcast`, `send` / `blocking_recv` | receivers park, the sender never waits (lossy) |
//! | `async_broadcast` | `async_broadcast`, `broadcast_blocking` / `recv_blocking` (blocks when full) | event-listener park |
//! | `bus` | `bus::Bus` (one producer only), `broadcast` / `recv` | bus's spin-then-park |
//! | `crossbeam` | one bounded `crossbeam_channel` per consumer; the producer sends each record to every channel | crossbeam's backoff + park |
//! | `disruptor` | `disruptor` 4 with one `EventPoller` per consumer (`poll()` takes everything available), `try_publish` per record | the crate has only busy-spin and sleep strategies: 64 `spin_loop`s then `yield_now` on an empty/full ring; pure spin in `_spin` groups |
//!
//! Groups: `peers_{P}p_{C}c` with blocking waits (as above) and
//! `peers_1p_1c_spin` with busy-spinning waits for every system that can
//! (`try_*` loops with `spin_loop`). Spinning is measured only for 1 -> 1:
//! with more threads than the machine's 2 cores, spinning threads starve the
//! thread they wait for. In these groups the producer is pinned to CPU 0 and
//! the consumer to CPU 1 (`sched_setaffinity`), so that the two spinners
//! never share a CPU with each other.
//!
//! # Fairness
//!
//! * **Same work.** Every record is `N` bytes (8, 64 or 1024) carrying
//!   `(producer id << 48) | counter` in its first 8 bytes, copied from a
//!   producer-local buffer into the system. Every consumer reads every byte
//!   of every payload (a wrapping sum of its 8-byte words) and checks that
//!   each producer's counters arrive in order without a gap (a panic
//!   otherwise). fanlog reads in place (zero copy); the channel peers return
//!   the `[u8; N]` by value (a copy), as their APIs do.
//! * **Same capacity.** Bounded systems hold `CAP` = 4096 records: the
//!   disruptor ring, `async_broadcast`, `bus`, and each crossbeam channel (so
//!   crossbeam holds 4096 per consumer). fanlog's byte budget is
//!   `4096 * frame` bytes (`frame` = 16-byte header + payload, 8-aligned:
//!   the header of a log without timestamps), floored to whole segments of
//!   a quarter of that rounded down to a power of two (6 x 16 KiB = 4096
//!   records at 8 B, 5 x 64 KiB = 4096 at 64 B, 4 x 1 MiB = 4033 at
//!   1 KiB). fanlog records carry no timestamp (`Timestamps::Off`): the
//!   peers do not stamp either.
//! * **No silent loss.** `tokio::sync::broadcast` never makes the sender
//!   wait: a receiver that falls more than its capacity behind loses records
//!   (`Lagged`). Its capacity is therefore the whole iteration (2^17 records,
//!   2^15 at 1 KiB), so it cannot lag; lag counts of every benchmark are
//!   printed and written to `target/bench-results/peers_lag.tsv` (all zero
//!   unless said otherwise).
//! * **Warm structures.** Every system is built once per benchmark and its
//!   producer and consumer handles are reused by all iterations (the threads
//!   are spawned per iteration, outside the clock), as in a long-running
//!   service.
//!
//! # Units
//!
//! One iteration appends `records` records (2^17, or 2^15 at 1 KiB), split
//! evenly between the producers; the clock runs from the moment the first
//! thread leaves the barrier that releases them all until the last consumer
//! has read the last record (each thread reads the clock itself: see
//! `run_iteration`).
//! `Throughput::Elements(records)`: criterion's `elem/s` is **records
//! appended per second**; with `C` consumers `C` times as many are delivered.
//!
//! `BENCH_QUICK=1` shortens warm-up and measurement (for a smoke run).

mod common;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use disruptor::{
    build_multi_producer, build_single_producer, BusySpin, EventPoller, MultiProducerBarrier,
    Polling, SingleProducerBarrier,
};
use fanlog::{Cursor, Log, Producer, Timestamps, WaitStrategy};
use std::hint::{black_box, spin_loop};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Records every bounded system holds (fanlog: in bytes, see `fanlog_log`).
const CAP: usize = 4096;
/// Segments in fanlog's budget.
const FANLOG_SEGMENTS: usize = 4;
/// Records per cursor batch read.
const BATCH: usize = 256;
/// Records per `append_batch` in the `fanlog_batch16` variant.
const APPEND_BATCH: usize = 16;
/// Producer id shift in the tag word.
const PID_SHIFT: u32 = 48;
/// Most producers in any scenario.
const MAX_PRODUCERS: usize = 4;

/// Records appended per iteration.
fn records_for(payload: usize) -> u64 {
    if payload >= 1024 {
        1 << 15
    } else {
        1 << 17
    }
}

/// Bytes a fanlog record of `payload` bytes occupies (header + 8-alignment;
/// the 16-byte header of a log without timestamps).
fn frame_len(payload: usize) -> usize {
    (16 + payload + 7) & !7
}

// ---------------------------------------------------------------------------
// Payloads and checks, common to all systems
// ---------------------------------------------------------------------------

/// What one consumer checks and counts.
struct Check {
    /// Next expected counter of each producer.
    expected: [u64; MAX_PRODUCERS],
    /// Payload sum (kept alive with `black_box`).
    acc: u64,
    /// Records read.
    seen: u64,
    /// Records reported lost (tokio `Lagged`).
    lost: u64,
    /// After a loss, the next counter of each producer is taken as is.
    resync: [bool; MAX_PRODUCERS],
}

impl Check {
    fn new() -> Self {
        Check {
            expected: [0; MAX_PRODUCERS],
            acc: 0,
            seen: 0,
            lost: 0,
            resync: [false; MAX_PRODUCERS],
        }
    }

    #[inline]
    fn record(&mut self, data: &[u8]) {
        let tag = u64::from_le_bytes(data[..8].try_into().unwrap());
        let pid = (tag >> PID_SHIFT) as usize;
        let counter = tag & ((1 << PID_SHIFT) - 1);
        if counter != self.expected[pid] {
            if !self.resync[pid] || counter < self.expected[pid] {
                panic!(
                    "producer {pid}: counter {counter} where {} was expected",
                    self.expected[pid]
                );
            }
            self.resync[pid] = false;
        }
        self.expected[pid] = counter + 1;
        self.acc = self.acc.wrapping_add(common::touch(data));
        self.seen += 1;
    }

    #[inline]
    fn lose(&mut self, n: u64) {
        self.lost += n;
        self.resync = [true; MAX_PRODUCERS];
    }

    /// Records read or reported lost.
    #[inline]
    fn done(&self) -> u64 {
        self.seen + self.lost
    }
}

/// A producer's payload buffer; `set(i)` stamps its `i`-th record.
struct Payload<const N: usize> {
    buf: [u8; N],
    pid: u64,
}

impl<const N: usize> Payload<N> {
    fn new(pid: usize) -> Self {
        Payload {
            buf: [0xA5; N],
            pid: pid as u64,
        }
    }

    #[inline]
    fn set(&mut self, i: u64) -> &[u8; N] {
        self.buf[..8].copy_from_slice(&((self.pid << PID_SHIFT) | i).to_le_bytes());
        &self.buf
    }
}

/// Spin, then yield: the wait for systems without a blocking wait. `spin`
/// only spins.
struct Backoff {
    n: u32,
    spin: bool,
}

impl Backoff {
    fn new(spin: bool) -> Self {
        Backoff { n: 0, spin }
    }

    #[inline]
    fn snooze(&mut self) {
        if self.spin || self.n < 64 {
            self.n += 1;
            spin_loop();
        } else {
            thread::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.n = 0;
    }
}

/// Records producer `p` of `producers` appends out of `records`.
fn quota(records: u64, producers: usize, p: usize) -> u64 {
    records / producers as u64 + u64::from((p as u64) < records % producers as u64)
}

/// Set while the busy-spinning groups run: their threads are pinned.
static PIN: AtomicBool = AtomicBool::new(false);

/// In the busy-spinning groups, pins the calling thread (the `k`-th of the
/// iteration, producers first) to CPU `k % nproc`: two spinners must not
/// share a CPU (other jobs on the machine still can).
fn pin_if_spinning(k: usize) {
    if !PIN.load(Ordering::Relaxed) {
        return;
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within
    // it; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(k % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One iteration: each element of `prods` runs `produce(handle, pid, quota)`
/// on its own thread, each element of `cons` runs `consume(handle, records)`
/// on its own thread. Returns the time from the first thread's release
/// until the last consumer is done (each thread reads the clock itself: see
/// `common::Span`), and the records the consumers reported lost.
fn run_iteration<P, C>(
    prods: Vec<P>,
    cons: Vec<C>,
    records: u64,
    produce: impl Fn(P, usize, u64) + Sync,
    consume: impl Fn(C, u64) -> Check + Sync,
) -> (Duration, u64)
where
    P: Send,
    C: Send,
{
    let producers = prods.len();
    let go = Barrier::new(producers + cons.len());
    thread::scope(|s| {
        let (go, produce, consume) = (&go, &produce, &consume);
        let readers: Vec<_> = cons
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                s.spawn(move || {
                    pin_if_spinning(producers + k);
                    go.wait();
                    let start = Instant::now();
                    let check = consume(c, records);
                    let end = Instant::now();
                    assert_eq!(check.done(), records, "consumer ended early");
                    black_box(check.acc);
                    (start, end, check.lost)
                })
            })
            .collect();
        let writers: Vec<_> = prods
            .into_iter()
            .enumerate()
            .map(|(pid, p)| {
                s.spawn(move || {
                    pin_if_spinning(pid);
                    go.wait();
                    let start = Instant::now();
                    produce(p, pid, quota(records, producers, pid));
                    start
                })
            })
            .collect();
        let mut lost = 0;
        let mut span = common::Span::default();
        for r in readers {
            let (start, end, l) = r.join().expect("consumer panicked");
            lost += l;
            span.start(start);
            span.end(end);
        }
        for w in writers {
            span.start(w.join().expect("producer panicked"));
        }
        (span.elapsed(), lost)
    })
}

/// How a benchmark waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Each system's blocking API (or spin-then-yield where it has none).
    Block,
    /// Busy spinning.
    Spin,
}

// ---------------------------------------------------------------------------
// fanlog
// ---------------------------------------------------------------------------

fn fanlog_log(payload: usize, wait: Wait) -> Log {
    let budget = CAP * frame_len(payload);
    // The largest power of two that makes at least FANLOG_SEGMENTS segments;
    // the budget is then floored to whole segments (never above CAP records).
    let segment = 1usize << (budget / FANLOG_SEGMENTS).ilog2();
    Log::builder()
        .segment_size(segment)
        .max_bytes(budget)
        .wait_strategy(match wait {
            Wait::Block => WaitStrategy::SpinThenPark,
            Wait::Spin => WaitStrategy::Spin,
        })
        .timestamps(Timestamps::Off)
        .build()
        .expect("log")
}

fn fanlog_consume(cursor: &mut Cursor, records: u64) -> Check {
    let mut check = Check::new();
    while check.seen < records {
        match cursor.next_batch(BATCH) {
            Ok(batch) => {
                for r in batch {
                    check.record(r.data());
                }
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
    check
}

fn fanlog_produce<const N: usize>(producer: Producer, pid: usize, quota: u64) {
    let mut p = Payload::<N>::new(pid);
    for i in 0..quota {
        if let Err(e) = producer.append(p.set(i)) {
            panic!("append failed: {e}");
        }
    }
}

fn fanlog_produce_batch<const N: usize>(producer: Producer, pid: usize, quota: u64) {
    let tag0 = (pid as u64) << PID_SHIFT;
    let mut bufs = [[0xA5u8; N]; APPEND_BATCH];
    let mut i = 0;
    while i < quota {
        let n = (quota - i).min(APPEND_BATCH as u64) as usize;
        for (k, b) in bufs[..n].iter_mut().enumerate() {
            b[..8].copy_from_slice(&(tag0 | (i + k as u64)).to_le_bytes());
        }
        if let Err(e) = producer.append_batch(0, &bufs[..n]) {
            panic!("append_batch failed: {e}");
        }
        i += n as u64;
    }
}

// ---------------------------------------------------------------------------
// tokio::sync::broadcast
// ---------------------------------------------------------------------------

fn tokio_consume<const N: usize>(
    rx: &mut tokio::sync::broadcast::Receiver<[u8; N]>,
    records: u64,
    wait: Wait,
) -> Check {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut check = Check::new();
    while check.done() < records {
        match wait {
            Wait::Block => match rx.blocking_recv() {
                Ok(v) => check.record(&v),
                Err(RecvError::Lagged(n)) => check.lose(n),
                Err(RecvError::Closed) => panic!("closed"),
            },
            Wait::Spin => match rx.try_recv() {
                Ok(v) => check.record(&v),
                Err(TryRecvError::Lagged(n)) => check.lose(n),
                Err(TryRecvError::Empty) => spin_loop(),
                Err(TryRecvError::Closed) => panic!("closed"),
            },
        }
    }
    check
}

// ---------------------------------------------------------------------------
// async-broadcast
// ---------------------------------------------------------------------------

fn abc_produce<const N: usize>(
    tx: &async_broadcast::Sender<[u8; N]>,
    pid: usize,
    quota: u64,
    wait: Wait,
) {
    let mut p = Payload::<N>::new(pid);
    for i in 0..quota {
        let v = *p.set(i);
        match wait {
            Wait::Block => {
                tx.broadcast_blocking(v).expect("broadcast");
            }
            Wait::Spin => {
                let mut v = v;
                loop {
                    match tx.try_broadcast(v) {
                        Ok(_) => break,
                        Err(async_broadcast::TrySendError::Full(back)) => {
                            v = back;
                            spin_loop();
                        }
                        Err(e) => panic!("broadcast: {e}"),
                    }
                }
            }
        }
    }
}

fn abc_consume<const N: usize>(
    rx: &mut async_broadcast::Receiver<[u8; N]>,
    records: u64,
    wait: Wait,
) -> Check {
    use async_broadcast::TryRecvError;
    let mut check = Check::new();
    while check.done() < records {
        match wait {
            Wait::Block => match rx.recv_blocking() {
                Ok(v) => check.record(&v),
                Err(async_broadcast::RecvError::Overflowed(n)) => check.lose(n),
                Err(e) => panic!("recv: {e}"),
            },
            Wait::Spin => match rx.try_recv() {
                Ok(v) => check.record(&v),
                Err(TryRecvError::Overflowed(n)) => check.lose(n),
                Err(TryRecvError::Empty) => spin_loop(),
                Err(e) => panic!("recv: {e}"),
            },
        }
    }
    check
}

// ---------------------------------------------------------------------------
// bus
// ---------------------------------------------------------------------------

fn bus_produce<const N: usize>(bus: &mut bus::Bus<[u8; N]>, pid: usize, quota: u64, wait: Wait) {
    let mut p = Payload::<N>::new(pid);
    for i in 0..quota {
        let v = *p.set(i);
        match wait {
            Wait::Block => bus.broadcast(v),
            Wait::Spin => {
                let mut v = v;
                while let Err(back) = bus.try_broadcast(v) {
                    v = back;
                    spin_loop();
                }
            }
        }
    }
}

fn bus_consume<const N: usize>(
    rx: &mut bus::BusReader<[u8; N]>,
    records: u64,
    wait: Wait,
) -> Check {
    let mut check = Check::new();
    while check.done() < records {
        match wait {
            Wait::Block => check.record(&rx.recv().expect("recv")),
            Wait::Spin => match rx.try_recv() {
                Ok(v) => check.record(&v),
                Err(std::sync::mpsc::TryRecvError::Empty) => spin_loop(),
                Err(e) => panic!("recv: {e}"),
            },
        }
    }
    check
}

// ---------------------------------------------------------------------------
// crossbeam-channel, one per consumer
// ---------------------------------------------------------------------------

type Chan<const N: usize> = (
    crossbeam_channel::Sender<[u8; N]>,
    crossbeam_channel::Receiver<[u8; N]>,
);

fn cb_produce<const N: usize>(chans: &[Chan<N>], pid: usize, quota: u64, wait: Wait) {
    let mut p = Payload::<N>::new(pid);
    for i in 0..quota {
        let v = *p.set(i);
        for (tx, _) in chans {
            match wait {
                Wait::Block => tx.send(v).expect("send"),
                Wait::Spin => {
                    while let Err(e) = tx.try_send(v) {
                        assert!(e.is_full(), "send: {e}");
                        spin_loop();
                    }
                }
            }
        }
    }
}

fn cb_consume<const N: usize>(
    rx: &crossbeam_channel::Receiver<[u8; N]>,
    records: u64,
    wait: Wait,
) -> Check {
    let mut check = Check::new();
    while check.done() < records {
        match wait {
            Wait::Block => check.record(&rx.recv().expect("recv")),
            Wait::Spin => match rx.try_recv() {
                Ok(v) => check.record(&v),
                Err(crossbeam_channel::TryRecvError::Empty) => spin_loop(),
                Err(e) => panic!("recv: {e}"),
            },
        }
    }
    check
}

// ---------------------------------------------------------------------------
// disruptor
// ---------------------------------------------------------------------------

/// One ring slot.
struct Slot<const N: usize>([u8; N]);

/// An event poller of either producer kind (the crate's `Barrier` bound is
/// private, so the two concrete types get one impl each).
trait Poll: Send {
    /// Reads until `records` records are done.
    fn consume(&mut self, records: u64, wait: Wait) -> Check;
}

macro_rules! impl_poll {
    ($barrier:ty) => {
        impl<const N: usize> Poll for EventPoller<Slot<N>, $barrier> {
            fn consume(&mut self, records: u64, wait: Wait) -> Check {
                let mut check = Check::new();
                let mut backoff = Backoff::new(wait == Wait::Spin);
                while check.seen < records {
                    match self.poll() {
                        Ok(mut events) => {
                            for e in &mut events {
                                check.record(&e.0);
                            }
                            backoff.reset();
                        }
                        Err(Polling::NoEvents) => backoff.snooze(),
                        Err(Polling::Shutdown) => panic!("disruptor shut down"),
                    }
                }
                check
            }
        }
    };
}
impl_poll!(SingleProducerBarrier);
impl_poll!(MultiProducerBarrier);

fn disruptor_produce<const N: usize, P: disruptor::Producer<Slot<N>>>(
    producer: &mut P,
    pid: usize,
    quota: u64,
    wait: Wait,
) {
    let mut p = Payload::<N>::new(pid);
    let mut backoff = Backoff::new(wait == Wait::Spin);
    for i in 0..quota {
        let v = p.set(i);
        while producer.try_publish(|e| e.0 = *v).is_err() {
            backoff.snooze();
        }
        backoff.reset();
    }
}

/// Benchmarks a disruptor: `producers` handles and its pollers.
fn bench_disruptor<const N: usize, P, Q>(
    c: &mut Criterion,
    group: &str,
    mut producers: Vec<P>,
    mut pollers: Vec<Q>,
    wait: Wait,
    lags: &mut Vec<String>,
) where
    P: disruptor::Producer<Slot<N>> + Send,
    Q: Poll,
{
    let records = records_for(N);
    bench_one(c, group, "disruptor", N, records, lags, || {
        run_iteration(
            producers.iter_mut().collect(),
            pollers.iter_mut().collect(),
            records,
            |p: &mut P, pid, q| disruptor_produce::<N, P>(p, pid, q, wait),
            |q: &mut Q, r| q.consume(r, wait),
        )
    });
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

/// Runs one benchmark whose iteration is `iteration` and records its losses.
fn bench_one(
    c: &mut Criterion,
    group: &str,
    system: &str,
    payload: usize,
    records: u64,
    lags: &mut Vec<String>,
    mut iteration: impl FnMut() -> (Duration, u64),
) {
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(records));
    let mut lost = 0u64;
    let mut iters = 0u64;
    g.bench_function(BenchmarkId::new(system, format!("{payload}B")), |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                let (t, l) = iteration();
                total += t;
                lost += l;
                iters += 1;
            }
            total
        })
    });
    g.finish();
    if lost > 0 {
        eprintln!(
            "{group}/{system}/{payload}B: {lost} records lost (lagged) in {iters} iterations"
        );
    }
    lags.push(format!(
        "{group}\t{system}\t{payload}\t{lost}\t{}",
        iters * records
    ));
}

/// Every system on one scenario and payload.
fn bench_payload<const N: usize>(
    c: &mut Criterion,
    producers: usize,
    consumers: usize,
    wait: Wait,
    lags: &mut Vec<String>,
) {
    let group = format!(
        "peers_{producers}p_{consumers}c{}",
        if wait == Wait::Spin { "_spin" } else { "" }
    );
    let group = group.as_str();
    let records = records_for(N);

    // fanlog, append per record.
    {
        let log = fanlog_log(N, wait);
        let mut cursors: Vec<Cursor> = (0..consumers)
            .map(|_| log.cursor(fanlog::Start::Latest).expect("cursor"))
            .collect();
        bench_one(c, group, "fanlog", N, records, lags, || {
            run_iteration(
                (0..producers).map(|_| log.producer()).collect(),
                cursors.iter_mut().collect(),
                records,
                fanlog_produce::<N>,
                fanlog_consume,
            )
        });
        if wait == Wait::Block {
            bench_one(c, group, "fanlog_batch16", N, records, lags, || {
                run_iteration(
                    (0..producers).map(|_| log.producer()).collect(),
                    cursors.iter_mut().collect(),
                    records,
                    fanlog_produce_batch::<N>,
                    fanlog_consume,
                )
            });
        }
    }

    // fanlog with its default budget (reference only).
    {
        let log = Log::builder()
            .wait_strategy(match wait {
                Wait::Block => WaitStrategy::SpinThenPark,
                Wait::Spin => WaitStrategy::Spin,
            })
            .timestamps(Timestamps::Off)
            .build()
            .expect("log");
        let mut cursors: Vec<Cursor> = (0..consumers)
            .map(|_| log.cursor(fanlog::Start::Latest).expect("cursor"))
            .collect();
        bench_one(c, group, "fanlog_default", N, records, lags, || {
            run_iteration(
                (0..producers).map(|_| log.producer()).collect(),
                cursors.iter_mut().collect(),
                records,
                fanlog_produce::<N>,
                fanlog_consume,
            )
        });
    }

    // disruptor.
    {
        let factory = || Slot([0u8; N]);
        if producers == 1 {
            let b = build_single_producer(CAP, factory, BusySpin);
            if consumers == 1 {
                let (poller, b) = b.new_event_poller();
                bench_disruptor::<N, _, _>(c, group, vec![b.build()], vec![poller], wait, lags);
            } else {
                let mut b = b.with_multi_consumer();
                let mut pollers = Vec::new();
                for _ in 0..consumers {
                    let (poller, next) = b.new_event_poller();
                    pollers.push(poller);
                    b = next;
                }
                bench_disruptor::<N, _, _>(c, group, vec![b.build()], pollers, wait, lags);
            }
        } else {
            let mut b = build_multi_producer(CAP, factory, BusySpin).with_multi_consumer();
            let mut pollers = Vec::new();
            for _ in 0..consumers {
                let (poller, next) = b.new_event_poller();
                pollers.push(poller);
                b = next;
            }
            let first = b.build();
            let mut prods = vec![];
            for _ in 1..producers {
                prods.push(first.clone());
            }
            prods.insert(0, first);
            bench_disruptor::<N, _, _>(c, group, prods, pollers, wait, lags);
        }
    }

    // bus (one producer only).
    if producers == 1 {
        let mut bus = bus::Bus::<[u8; N]>::new(CAP);
        let mut readers: Vec<_> = (0..consumers).map(|_| bus.add_rx()).collect();
        bench_one(c, group, "bus", N, records, lags, || {
            run_iteration(
                vec![&mut bus],
                readers.iter_mut().collect(),
                records,
                |b, pid, q| bus_produce::<N>(b, pid, q, wait),
                |r, n| bus_consume(r, n, wait),
            )
        });
    }

    // crossbeam-channel, one per consumer.
    {
        let chans: Vec<Chan<N>> = (0..consumers)
            .map(|_| crossbeam_channel::bounded(CAP))
            .collect();
        bench_one(c, group, "crossbeam", N, records, lags, || {
            run_iteration(
                vec![&chans[..]; producers],
                chans.iter().map(|(_, rx)| rx).collect(),
                records,
                |ch, pid, q| cb_produce::<N>(ch, pid, q, wait),
                |rx, n| cb_consume(rx, n, wait),
            )
        });
    }

    // tokio::sync::broadcast, sized to the iteration so it cannot lag.
    {
        let (tx, _) = tokio::sync::broadcast::channel::<[u8; N]>(records as usize);
        let mut rxs: Vec<_> = (0..consumers).map(|_| tx.subscribe()).collect();
        bench_one(c, group, "tokio", N, records, lags, || {
            run_iteration(
                vec![&tx; producers],
                rxs.iter_mut().collect(),
                records,
                |tx, pid, q| {
                    let mut p = Payload::<N>::new(pid);
                    for i in 0..q {
                        tx.send(*p.set(i)).expect("send");
                    }
                },
                |rx, n| tokio_consume(rx, n, wait),
            )
        });
    }

    // async-broadcast (blocks when full).
    {
        let (tx, rx0) = async_broadcast::broadcast::<[u8; N]>(CAP);
        let mut rxs = vec![rx0];
        while rxs.len() < consumers {
            rxs.push(tx.new_receiver());
        }
        let txs: Vec<_> = (0..producers).map(|_| tx.clone()).collect();
        bench_one(c, group, "async_broadcast", N, records, lags, || {
            run_iteration(
                txs.iter().collect(),
                rxs.iter_mut().collect(),
                records,
                |tx, pid, q| abc_produce::<N>(tx, pid, q, wait),
                |rx, n| abc_consume(rx, n, wait),
            )
        });
    }
}

fn bench_scenario(
    c: &mut Criterion,
    producers: usize,
    consumers: usize,
    wait: Wait,
    lags: &mut Vec<String>,
) {
    bench_payload::<8>(c, producers, consumers, wait, lags);
    bench_payload::<64>(c, producers, consumers, wait, lags);
    bench_payload::<1024>(c, producers, consumers, wait, lags);
}

/// Appends the loss counts of this run to `target/bench-results/peers_lag.tsv`.
fn write_lags(lags: &[String]) {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = std::path::Path::new(&target).join("bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("peers_lag.tsv");
    let fresh = !path.exists();
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(mut f) => {
            if fresh {
                let _ = writeln!(f, "group\tsystem\tpayload\tlost\tappended");
            }
            for l in lags {
                let _ = writeln!(f, "{l}");
            }
        }
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

fn peers(c: &mut Criterion) {
    let mut lags = Vec::new();
    bench_scenario(c, 1, 1, Wait::Block, &mut lags);
    bench_scenario(c, 1, 2, Wait::Block, &mut lags);
    bench_scenario(c, 1, 4, Wait::Block, &mut lags);
    bench_scenario(c, 4, 4, Wait::Block, &mut lags);
    PIN.store(true, Ordering::Relaxed);
    bench_scenario(c, 1, 1, Wait::Spin, &mut lags);
    PIN.store(false, Ordering::Relaxed);
    write_lags(&lags);
}

fn config() -> Criterion {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick { 100 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 300 } else { 1500 }))
}

criterion_group! {
    name = benches;
    config = config();
    targets = peers
}
criterion_main!(benches);
