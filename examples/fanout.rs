//! `fanout`: producers append to one fanlog, every consumer reads every
//! record, and the whole stream is verified end to end.
//!
//! ```text
//! cargo run --release --example fanout                      # 2 -> 4, 64 B, block, 5 s
//! cargo run --release --example fanout -- --policy drop-oldest
//! cargo run --release --example fanout -- --producers 4 --consumers 8 --records 20M
//! cargo run --release --example fanout -- --help
//! ```
//!
//! # The payload
//!
//! Every record is `--payload` bytes (at least 16):
//!
//! ```text
//! offset size  field
//!      0    4  checksum: 32-bit fold of a 64-bit hash of bytes 4..len
//!      4    4  producer id (u32, little endian)
//!      8    8  the producer's own record counter (u64, from 0)
//!     16  len  filler, pseudo-random from (producer id, counter)
//! ```
//!
//! # What every consumer checks
//!
//! * every payload's length and checksum (a torn or corrupt record fails);
//! * sequence numbers go up by exactly 1, except right after
//!   `RecvError::Lagged { missed }`, where they jump by exactly `missed`
//!   (a skipped or duplicated record fails);
//! * each producer's counters go up by exactly 1; a gap is only allowed after
//!   a `Lagged` report, and all gaps together must add up to the records
//!   reported missed;
//! * after the log is closed (`CloseStatus::Ok`, by the main thread once the
//!   producers are done), the consumer saw exactly the records appended
//!   (`block`, `reject`) or appended minus missed (`drop-oldest`);
//! * under `block`/`reject`, every consumer computed the same rolling hash of
//!   the `(seq, payload)` stream;
//! * the log's own counters agree (`records_appended`, `records_missed`).
//!
//! `--inject-fault` makes consumer 0 mishandle one record on purpose (skip,
//! duplicate, corrupt, reorder, or pass the previous payload under the
//! current sequence number), to show that the checks above catch it: such a
//! run must end with `FAILED` and a non-zero exit code.
//!
//! # The slow consumer
//!
//! With `--slow`, the last consumer sleeps 2 ms every 4096 records (at most
//! ~2 M records/s). Under `block` it throttles the producers (that is what
//! `block` promises); under `drop-oldest` it falls behind and learns
//! `Lagged`; under `reject` producers see `Full` and retry. It is on by
//! default only for `drop-oldest`, so that the default run of each policy
//! shows what the policy is for: `--slow` / `--no-slow` override.

use fanlog::{AppendError, CloseStatus, Cursor, Log, OverflowPolicy, Producer, RecvError, Start};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Smallest payload: checksum + producer id + counter.
const MIN_PAYLOAD: usize = 16;
/// The slow consumer naps this long...
const SLOW_NAP: Duration = Duration::from_millis(2);
/// ...every this many records.
const SLOW_EVERY: u64 = 4096;
/// Progress redraw period on a terminal.
const TTY_PERIOD: Duration = Duration::from_millis(250);
/// Progress period when stderr is not a terminal.
const LOG_PERIOD: Duration = Duration::from_secs(1);
/// No progress at all for this long means something hangs: give up.
const STALL_LIMIT: Duration = Duration::from_secs(20);
/// Consumers re-check the abort flag at least this often.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// A consumer refreshes its lag sample after this many records.
const LAG_SAMPLE_EVERY: u64 = 4096;
/// `--inject-fault` hits consumer 0's record with this index.
const FAULT_AT: u64 = 1000;
/// Failure messages kept per consumer (all are counted).
const MAX_MESSAGES: usize = 5;

const USAGE: &str = "\
fanout: producers -> fanlog -> consumers, with end-to-end verification

USAGE:
    cargo run --release --example fanout -- [OPTIONS]

OPTIONS:
    --producers N        producer threads                         [default: 2]
    --consumers N        consumer threads (cursors)               [default: 4]
    --payload BYTES      payload size, at least 16                [default: 64]
    --records N          append N records in total (k/M/G suffix ok)
    --duration SECS      append for SECS seconds (5, 2.5, 500ms)  [default: 5]
    --policy P           block | drop-oldest | reject             [default: block]
    --slow, --no-slow    make the last consumer nap 2 ms every 4096 records
                         [default: on for drop-oldest, off for block/reject]
    --segment-size BYTES segment size, a power of two            [default: 1M]
                         (sizes take K/M/G suffixes = KiB/MiB/GiB)
    --max-bytes BYTES    byte budget of the log                   [default: 16M]
    --batch N            records per consumer batch read          [default: 256]
    --durable            use a durable log (segment files) in a fresh temporary
                         directory, removed afterwards
    --dir PATH           use a durable log in PATH (must not exist yet; kept)
    --sync S             durable sync policy: none | every | <interval> (10ms)
                         [default: none]
    --quiet              no live progress line
    --inject-fault F     self-test of the verifier: consumer 0 mishandles the
                         record at index 1000 of its stream;
                         F = skip | dup | corrupt | reorder | stale.
                         The run must then end with FAILED (exit code 1).
    -h, --help           print this help

Producers append records carrying (producer id, counter, checksum); under
`reject` they retry after `Full` (counted). Every consumer verifies checksums,
sequence numbers (+1, or +missed after `Lagged`), per-producer order, the final
count, and (block/reject) that all consumers saw the same stream. The main
thread closes the log with CloseStatus::Ok once the producers are done.

Output: a live progress line on stderr, the result table on stdout, then
`VERIFIED: ...` (exit 0) or `FAILED: ...` (exit 1). Usage errors exit with 2.
";

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// When the producers stop.
#[derive(Clone, Copy, Debug)]
enum Amount {
    /// After this many records in total.
    Records(u64),
    /// After this long.
    Duration(Duration),
}

/// A deliberate mistake of consumer 0 (see `--inject-fault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Do not verify one record.
    Skip,
    /// Verify one record twice.
    Dup,
    /// Flip one bit of one payload.
    Corrupt,
    /// Swap two neighbouring records.
    Reorder,
    /// Verify the previous payload under the current sequence number.
    Stale,
}

#[derive(Clone, Debug)]
struct Options {
    producers: usize,
    consumers: usize,
    payload: usize,
    amount: Amount,
    policy: OverflowPolicy,
    slow: bool,
    segment_size: usize,
    max_bytes: usize,
    batch: usize,
    quiet: bool,
    fault: Option<Fault>,
    /// Durable log: directory, whether to remove it afterwards, sync policy.
    durable: Option<(std::path::PathBuf, bool, fanlog::SyncPolicy)>,
}

fn policy_name(p: OverflowPolicy) -> &'static str {
    match p {
        OverflowPolicy::Block => "block",
        OverflowPolicy::DropOldest => "drop-oldest",
        OverflowPolicy::Reject => "reject",
    }
}

/// Splits `"12.5M"` into `(12.5, "m")`.
fn split_number(s: &str) -> Result<(f64, String), String> {
    let s = s.trim().replace('_', "");
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(end);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a number"))?;
    Ok((n, suffix.to_ascii_lowercase()))
}

/// Bytes, with binary K/M/G suffixes (`64`, `1M`, `16MiB`).
fn parse_bytes(s: &str) -> Result<usize, String> {
    let (n, suffix) = split_number(s)?;
    let mult: f64 = match suffix.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown size suffix in `{s}` (use K, M or G)")),
    };
    let v = n * mult;
    if v.fract() != 0.0 || v > usize::MAX as f64 {
        return Err(format!("`{s}` is not a whole number of bytes"));
    }
    Ok(v as usize)
}

/// A count, with decimal k/M/G suffixes (`1000`, `10M`, `2.5k`).
fn parse_count(s: &str) -> Result<u64, String> {
    let (n, suffix) = split_number(s)?;
    let mult: f64 = match suffix.as_str() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        _ => return Err(format!("unknown count suffix in `{s}` (use k, M or G)")),
    };
    let v = n * mult;
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(format!("`{s}` is not a whole number"));
    }
    Ok(v as u64)
}

/// Seconds (`5`, `2.5`, `2.5s`, `500ms`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, suffix) = split_number(s)?;
    let secs = match suffix.as_str() {
        "" | "s" => n,
        "ms" => n / 1e3,
        _ => return Err(format!("unknown duration unit in `{s}` (use s or ms)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration `{s}`: {e}"))
}

/// `Ok(None)` means `--help` was asked for.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        producers: 2,
        consumers: 4,
        payload: 64,
        amount: Amount::Duration(Duration::from_secs(5)),
        policy: OverflowPolicy::Block,
        slow: false,
        segment_size: 1 << 20,
        max_bytes: 16 << 20,
        batch: 256,
        quiet: false,
        fault: None,
        durable: None,
    };
    let mut durable = false;
    let mut dir = None;
    let mut sync = fanlog::SyncPolicy::None;
    let mut records = None;
    let mut duration = None;
    let mut slow = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--producers" => o.producers = parse_count(&value(&flag)?)? as usize,
            "--consumers" => o.consumers = parse_count(&value(&flag)?)? as usize,
            "--payload" => o.payload = parse_bytes(&value(&flag)?)?,
            "--records" => records = Some(parse_count(&value(&flag)?)?),
            "--duration" => duration = Some(parse_duration(&value(&flag)?)?),
            "--policy" => {
                o.policy = match value(&flag)?.as_str() {
                    "block" => OverflowPolicy::Block,
                    "drop-oldest" | "drop_oldest" | "dropoldest" => OverflowPolicy::DropOldest,
                    "reject" => OverflowPolicy::Reject,
                    other => {
                        return Err(format!(
                            "unknown policy `{other}` (block, drop-oldest or reject)"
                        ))
                    }
                }
            }
            "--slow" => slow = Some(true),
            "--no-slow" => slow = Some(false),
            "--segment-size" => o.segment_size = parse_bytes(&value(&flag)?)?,
            "--max-bytes" => o.max_bytes = parse_bytes(&value(&flag)?)?,
            "--batch" => o.batch = parse_count(&value(&flag)?)? as usize,
            "--quiet" | "-q" => o.quiet = true,
            "--durable" => durable = true,
            "--dir" => dir = Some(std::path::PathBuf::from(value(&flag)?)),
            "--sync" => {
                let v = value(&flag)?;
                sync = match v.as_str() {
                    "none" => fanlog::SyncPolicy::None,
                    "every" => fanlog::SyncPolicy::EveryBatch,
                    d => fanlog::SyncPolicy::Interval(parse_duration(d)?),
                };
                durable = true;
            }
            "--inject-fault" => {
                o.fault = Some(match value(&flag)?.as_str() {
                    "skip" => Fault::Skip,
                    "dup" | "duplicate" => Fault::Dup,
                    "corrupt" => Fault::Corrupt,
                    "reorder" => Fault::Reorder,
                    "stale" => Fault::Stale,
                    other => {
                        return Err(format!(
                            "unknown fault `{other}` (skip, dup, corrupt, reorder or stale)"
                        ))
                    }
                })
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
        if inline.is_some()
            && matches!(
                flag.as_str(),
                "--slow" | "--no-slow" | "--quiet" | "--durable"
            )
        {
            return Err(format!("{flag} takes no value"));
        }
    }
    o.amount = match (records, duration) {
        (Some(_), Some(_)) => return Err("give --records or --duration, not both".into()),
        (Some(0), None) => return Err("--records must be at least 1".into()),
        (Some(n), None) => Amount::Records(n),
        (None, Some(d)) if d.is_zero() => return Err("--duration must be positive".into()),
        (None, Some(d)) => Amount::Duration(d),
        (None, None) => o.amount,
    };
    o.slow = slow.unwrap_or(o.policy == OverflowPolicy::DropOldest);
    if o.producers == 0 || o.producers > u32::MAX as usize {
        return Err("--producers must be at least 1".into());
    }
    if o.consumers == 0 {
        return Err("--consumers must be at least 1".into());
    }
    if o.payload < MIN_PAYLOAD {
        return Err(format!(
            "--payload must be at least {MIN_PAYLOAD} bytes (checksum + producer id + counter)"
        ));
    }
    if o.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    if let Some(d) = dir {
        if d.exists() {
            return Err(format!(
                "--dir {}: already exists (give a path for a new log)",
                d.display()
            ));
        }
        o.durable = Some((d, false, sync));
    } else if durable {
        let d = std::env::temp_dir().join(format!("fanlog-fanout-{}", std::process::id()));
        o.durable = Some((d, true, sync));
    }
    Ok(Some(o))
}

// ---------------------------------------------------------------------------
// Payload encoding and hashing
// ---------------------------------------------------------------------------

/// One round of a 64-bit mixer; a bijection of `x`, so a change in any
/// input word always changes the hash state.
#[inline]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// 64-bit hash of `bytes`, word by word (order-sensitive).
#[inline]
fn body_hash(bytes: &[u8]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = mix(h ^ u64::from_le_bytes(w.try_into().unwrap()));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(last));
    }
    h
}

#[inline]
fn fold32(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

/// splitmix64: the filler generator.
#[inline]
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes record `counter` of producer `id` into `buf` (see the module docs).
fn encode(buf: &mut [u8], id: u32, counter: u64) {
    buf[4..8].copy_from_slice(&id.to_le_bytes());
    buf[8..16].copy_from_slice(&counter.to_le_bytes());
    let mut state = (u64::from(id) << 48) ^ counter;
    for chunk in buf[16..].chunks_mut(8) {
        let w = splitmix(&mut state).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    let check = fold32(body_hash(&buf[4..]));
    buf[0..4].copy_from_slice(&check.to_le_bytes());
}

// ---------------------------------------------------------------------------
// Verification (one per consumer)
// ---------------------------------------------------------------------------

/// What one consumer knows about the stream it read.
#[derive(Debug)]
struct Verifier {
    /// Payload size every record must have.
    payload: usize,
    /// Whether `Lagged` is legitimate (drop-oldest).
    lossy: bool,
    /// Sequence number the next record must have.
    next_seq: u64,
    /// Per producer: the counter its next record must have.
    next_counter: Vec<u64>,
    /// Per producer: `lag_events` when its last record was seen.
    lag_mark: Vec<u64>,
    /// Sum of per-producer counter gaps (legitimate only after `Lagged`).
    counter_gaps: u64,
    /// Records verified.
    delivered: u64,
    /// Payload bytes verified.
    bytes: u64,
    /// Sum of `Lagged { missed }`.
    missed: u64,
    /// Number of `Lagged` reports.
    lag_events: u64,
    /// Rolling hash of the `(seq, payload)` stream.
    roll: u64,
    /// Whether `Closed(Ok)` ended the stream.
    closed_ok: bool,
    /// Problems found.
    failures: u64,
    /// The first few problems, for humans.
    messages: Vec<String>,
}

impl Verifier {
    fn new(producers: usize, payload: usize, lossy: bool) -> Self {
        Self {
            payload,
            lossy,
            next_seq: 0,
            next_counter: vec![0; producers],
            lag_mark: vec![0; producers],
            counter_gaps: 0,
            delivered: 0,
            bytes: 0,
            missed: 0,
            lag_events: 0,
            roll: 0x1357_9BDF_2468_ACE0,
            closed_ok: false,
            failures: 0,
            messages: Vec::new(),
        }
    }

    #[cold]
    fn fail(&mut self, msg: String) {
        self.failures += 1;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(msg);
        }
    }

    /// Checks one record.
    #[inline]
    fn record(&mut self, seq: u64, data: &[u8]) {
        if seq != self.next_seq {
            self.fail(format!(
                "seq {seq} where {} was expected (skipped, duplicated or reordered record)",
                self.next_seq
            ));
        }
        self.next_seq = seq.wrapping_add(1);
        self.delivered += 1;
        self.bytes += data.len() as u64;
        if data.len() != self.payload {
            self.fail(format!(
                "seq {seq}: payload of {} bytes, expected {}",
                data.len(),
                self.payload
            ));
            return;
        }
        let body = body_hash(&data[4..]);
        let stored = u32::from_le_bytes(data[0..4].try_into().unwrap());
        if fold32(body) != stored {
            self.fail(format!(
                "seq {seq}: checksum {stored:#010x}, payload hashes to {:#010x}",
                fold32(body)
            ));
        }
        self.roll = mix(mix(self.roll ^ seq) ^ body);
        let id = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
        let counter = u64::from_le_bytes(data[8..16].try_into().unwrap());
        let Some(&next) = self.next_counter.get(id) else {
            self.fail(format!("seq {seq}: producer id {id} does not exist"));
            return;
        };
        if counter < next {
            self.fail(format!(
                "seq {seq}: producer {id} counter {counter} after {} (duplicate or reordered)",
                next - 1
            ));
            return;
        }
        if counter > next {
            let gap = counter - next;
            if !self.lossy || self.lag_mark[id] == self.lag_events {
                self.fail(format!(
                    "seq {seq}: producer {id} counter {counter}, expected {next}: \
                     {gap} record(s) lost without a Lagged report"
                ));
            }
            self.counter_gaps += gap;
        }
        self.next_counter[id] = counter + 1;
        self.lag_mark[id] = self.lag_events;
    }

    /// `Lagged { missed }`: the next record must be `missed` further on.
    fn lagged(&mut self, missed: u64) {
        if !self.lossy {
            self.fail(format!(
                "Lagged {{ missed: {missed} }} under a lossless policy"
            ));
        }
        if missed == 0 {
            self.fail("Lagged { missed: 0 }".into());
        }
        self.missed += missed;
        self.lag_events += 1;
        self.next_seq += missed;
    }

    fn closed(&mut self, status: CloseStatus) {
        if status.is_ok() {
            self.closed_ok = true;
        } else {
            self.fail(format!("stream ended with {status}"));
        }
    }

    /// End-of-stream checks against what the producers appended.
    fn finish(&mut self, appended: &[u64]) {
        let total: u64 = appended.iter().sum();
        if !self.closed_ok && self.failures == 0 {
            self.fail("stream did not end with Closed(Ok)".into());
        }
        if self.next_seq != total {
            self.fail(format!(
                "final position {} but {total} records were appended",
                self.next_seq
            ));
        }
        if self.delivered + self.missed != total {
            self.fail(format!(
                "delivered {} + missed {} != appended {total}",
                self.delivered, self.missed
            ));
        }
        let mut tail_gaps = 0u64;
        let next_counter = self.next_counter.clone();
        for (id, (&next, &n)) in next_counter.iter().zip(appended).enumerate() {
            if next > n {
                self.fail(format!(
                    "producer {id}: saw counter {} but it appended only {n}",
                    next - 1
                ));
            } else if next < n {
                if !self.lossy {
                    self.fail(format!(
                        "producer {id}: last counter seen {}, but it appended {n} records",
                        next as i128 - 1
                    ));
                }
                tail_gaps += n - next;
            }
        }
        if self.counter_gaps + tail_gaps != self.missed {
            self.fail(format!(
                "per-producer gaps add up to {} but Lagged reported {} missed",
                self.counter_gaps + tail_gaps,
                self.missed
            ));
        }
    }
}

/// Applies `--inject-fault` on consumer 0's way to its verifier.
struct Injector {
    fault: Fault,
    /// Records seen so far.
    seen: u64,
    /// `Reorder`: the record held back.
    held: Option<(u64, Vec<u8>)>,
    /// `Stale`: the previous payload.
    prev: Vec<u8>,
    /// Whether the fault was applied.
    done: bool,
}

impl Injector {
    fn feed(&mut self, v: &mut Verifier, seq: u64, data: &[u8]) {
        let i = self.seen;
        self.seen += 1;
        if let Some((hs, hd)) = self.held.take() {
            v.record(seq, data);
            v.record(hs, &hd);
            return;
        }
        if i == FAULT_AT - 1 && self.fault == Fault::Stale {
            self.prev = data.to_vec();
        }
        if i != FAULT_AT {
            return v.record(seq, data);
        }
        self.done = true;
        match self.fault {
            Fault::Skip => {}
            Fault::Dup => {
                v.record(seq, data);
                v.record(seq, data);
            }
            Fault::Corrupt => {
                let mut copy = data.to_vec();
                let last = copy.len() - 1;
                copy[last] ^= 0x10;
                v.record(seq, &copy);
            }
            Fault::Reorder => self.held = Some((seq, data.to_vec())),
            Fault::Stale => v.record(seq, &std::mem::take(&mut self.prev)),
        }
    }

    fn flush(&mut self, v: &mut Verifier) {
        if let Some((seq, data)) = self.held.take() {
            v.record(seq, &data);
        }
    }
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// What a consumer publishes for the progress line (own cache lines).
#[repr(align(128))]
#[derive(Default)]
struct Live {
    /// Sequence number of the next record it will read.
    position: AtomicU64,
    /// Records verified so far.
    delivered: AtomicU64,
    /// Set when the consumer is done.
    done: AtomicBool,
}

struct ConsumerReport {
    verifier: Verifier,
    max_lag: u64,
    /// From `start` (this thread's clock as it left the barrier) to the
    /// close it saw.
    elapsed: Duration,
    start: Instant,
    fault_applied: bool,
}

#[allow(clippy::too_many_arguments)]
fn consume(
    index: usize,
    mut cursor: Cursor,
    opts: &Options,
    live: &Live,
    abort: &AtomicBool,
    start: Instant,
) -> ConsumerReport {
    let lossy = opts.policy == OverflowPolicy::DropOldest;
    let mut v = Verifier::new(opts.producers, opts.payload, lossy);
    let mut injector = opts.fault.filter(|_| index == 0).map(|fault| Injector {
        fault,
        seen: 0,
        held: None,
        prev: Vec::new(),
        done: false,
    });
    let slow = opts.slow && index == opts.consumers - 1;
    let mut next_nap = SLOW_EVERY;
    let mut next_lag_sample = 0u64;
    let mut max_lag = 0u64;
    loop {
        if v.delivered >= next_lag_sample {
            max_lag = max_lag.max(cursor.stats().lag);
            next_lag_sample = v.delivered + LAG_SAMPLE_EVERY;
        }
        match cursor.next_batch_timeout(opts.batch, READ_TIMEOUT) {
            Ok(batch) => match injector.as_mut() {
                None => {
                    for r in batch {
                        v.record(r.seq(), r.data());
                    }
                }
                Some(inj) => {
                    for r in batch {
                        inj.feed(&mut v, r.seq(), r.data());
                    }
                }
            },
            Err(RecvError::Lagged { missed }) => v.lagged(missed),
            Err(RecvError::Timeout) => {
                if abort.load(Ordering::Relaxed) {
                    v.fail("aborted: the run stalled".into());
                    break;
                }
            }
            Err(RecvError::Closed(status)) => {
                v.closed(status);
                break;
            }
            Err(e) => {
                v.fail(format!("unexpected read error: {e}"));
                break;
            }
        }
        // Relaxed: progress display only.
        live.position.store(cursor.position(), Ordering::Relaxed);
        live.delivered.store(v.delivered, Ordering::Relaxed);
        if slow && v.delivered >= next_nap {
            thread::sleep(SLOW_NAP);
            next_nap = v.delivered + SLOW_EVERY;
        }
    }
    if let Some(inj) = injector.as_mut() {
        inj.flush(&mut v);
    }
    live.position.store(cursor.position(), Ordering::Relaxed);
    live.delivered.store(v.delivered, Ordering::Relaxed);
    live.done.store(true, Ordering::Release);
    ConsumerReport {
        fault_applied: injector.is_some_and(|i| i.done),
        verifier: v,
        max_lag,
        elapsed: start.elapsed(),
        start,
    }
}

struct ProducerReport {
    appended: u64,
    retries: u64,
    error: Option<AppendError>,
    /// This thread's clock as it started and as it finished appending.
    start: Instant,
    end: Instant,
}

/// Appends until the quota is met (or `stop`), retrying after `Full`.
fn produce(
    id: u32,
    producer: Producer,
    payload: usize,
    quota: Option<u64>,
    stop: &AtomicBool,
    retries_live: &AtomicU64,
) -> ProducerReport {
    let mut buf = vec![0u8; payload];
    let start = Instant::now();
    let mut report = ProducerReport {
        appended: 0,
        retries: 0,
        error: None,
        start,
        end: start,
    };
    'records: loop {
        match quota {
            Some(q) if report.appended == q => break,
            // Relaxed: a stop request needs no ordering.
            None if stop.load(Ordering::Relaxed) => break,
            _ => {}
        }
        encode(&mut buf, id, report.appended);
        let mut tries = 0u32;
        loop {
            match producer.append(&buf) {
                Ok(_) => break,
                Err(AppendError::Full) => {
                    report.retries += 1;
                    retries_live.fetch_add(1, Ordering::Relaxed);
                    // Duration runs may give up a record that never got in;
                    // the counter is not consumed, so nothing is "lost".
                    if stop.load(Ordering::Relaxed) && quota.is_none() {
                        break 'records;
                    }
                    tries += 1;
                    if tries % 64 == 0 {
                        thread::sleep(Duration::from_micros(50));
                    } else {
                        thread::yield_now();
                    }
                }
                Err(e) => {
                    // A failed `EveryBatch` sync still appended the record:
                    // count it, or the consumers' tally would show one extra.
                    if matches!(e, AppendError::SyncFailed { .. }) {
                        report.appended += 1;
                    }
                    report.error = Some(e);
                    break 'records;
                }
            }
        }
        report.appended += 1;
    }
    report.end = Instant::now();
    report
}

// ---------------------------------------------------------------------------
// Reporting helpers
// ---------------------------------------------------------------------------

/// `12.3M`, `456K`, `789`.
fn short(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0}K", n / 1e3)
    } else {
        format!("{n}")
    }
}

/// `12,345,678`.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `16.0 MiB`.
fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Peak resident set size (VmHWM) in bytes, if /proc tells.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Draws the progress line.
struct Progress {
    enabled: bool,
    tty: bool,
    period: Duration,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            enabled: !quiet,
            tty,
            period: if tty { TTY_PERIOD } else { LOG_PERIOD },
            last: None,
            drawn: false,
        }
    }

    fn due(&mut self) -> bool {
        if !self.enabled {
            return false;
        }
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.period => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    fn show(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn end(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

/// Everything the main thread samples while the run goes on.
#[derive(Default)]
struct Sampler {
    /// Largest `appended - position` seen over all consumers.
    max_lag: u64,
}

impl Sampler {
    /// Samples the log and the consumers; returns the progress line.
    fn sample(
        &mut self,
        log: &Log,
        live: &[Live],
        retries: &AtomicU64,
        start: Instant,
        opts: &Options,
        phase: &str,
    ) -> String {
        let stats = log.stats();
        let appended = stats.records_appended;
        let elapsed = start.elapsed();
        let mut line = format!(
            "{:6.2}s{phase} appended {} ({}/s)",
            elapsed.as_secs_f64(),
            short(appended),
            short(per_sec(appended, elapsed) as u64)
        );
        let lags: Vec<(u64, u64)> = live
            .iter()
            .map(|l| {
                let pos = l.position.load(Ordering::Relaxed);
                (pos, appended.saturating_sub(pos))
            })
            .collect();
        for &(_, lag) in &lags {
            self.max_lag = self.max_lag.max(lag);
        }
        if lags.len() <= 6 {
            for (i, (pos, lag)) in lags.iter().enumerate() {
                let _ = write!(line, " | c{i} {} lag {}", short(*pos), short(*lag));
            }
        } else {
            let (slowest, lag) = lags
                .iter()
                .enumerate()
                .max_by_key(|(_, (_, lag))| *lag)
                .map(|(i, (_, lag))| (i, *lag))
                .unwrap_or_default();
            let _ = write!(
                line,
                " | {} consumers, slowest c{slowest} lag {}",
                lags.len(),
                short(lag)
            );
        }
        let _ = write!(line, " | retained {}", mib(stats.bytes_retained as u64));
        match opts.policy {
            OverflowPolicy::Reject => {
                let _ = write!(
                    line,
                    " | Full retries {}",
                    short(retries.load(Ordering::Relaxed))
                );
            }
            OverflowPolicy::DropOldest => {
                let _ = write!(line, " | missed {}", short(stats.records_missed));
            }
            OverflowPolicy::Block => {}
        }
        line
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fanout: {e}\n(run with --help for usage)");
            return ExitCode::from(2);
        }
    };
    let built = match &opts.durable {
        None => Log::builder()
            .segment_size(opts.segment_size)
            .max_bytes(opts.max_bytes)
            .overflow(opts.policy)
            .build()
            .map_err(|e| e.to_string()),
        Some((dir, _, sync)) => Log::open(
            dir,
            &fanlog::OpenOptions::new()
                .segment_size(opts.segment_size)
                .max_bytes(opts.max_bytes)
                .retain_bytes(0)
                .overflow(opts.policy)
                .sync(*sync),
        )
        .map_err(|e| e.to_string()),
    };
    let log = match built {
        Ok(log) => log,
        Err(e) => {
            eprintln!("fanout: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((dir, _, sync)) = &opts.durable {
        eprintln!("durable log in {} (sync {sync:?})", dir.display());
    }
    if opts.payload > log.config().max_record_size {
        eprintln!(
            "fanout: --payload {} exceeds the largest record of this log ({} bytes = segment size - frame header)",
            opts.payload,
            log.config().max_record_size
        );
        return ExitCode::from(2);
    }
    let ok = run(&opts, &log);
    drop(log);
    if let Some((dir, true, _)) = &opts.durable {
        let _ = std::fs::remove_dir_all(dir);
    }
    match ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// What the threads did, gathered by the main thread.
struct Outcome {
    /// From the first worker's start (each reads its clock as it leaves
    /// the start barrier) until every consumer was done.
    elapsed: Duration,
    /// From the first worker's start until every producer was done.
    produced: Duration,
    producers: Vec<ProducerReport>,
    consumers: Vec<ConsumerReport>,
    /// Largest lag sampled by the main thread.
    sampled_max_lag: u64,
    /// Problems found by the main thread (stalls, append errors).
    problems: Vec<String>,
}

fn print_header(opts: &Options) {
    let amount = match opts.amount {
        Amount::Records(n) => format!("{} records", grouped(n)),
        Amount::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
    };
    println!(
        "fanout: {} producer(s) -> {} consumer(s), {} B payload, policy {}, {amount}, \
         slow consumer {}, batch {}, segment {}, max {}",
        opts.producers,
        opts.consumers,
        opts.payload,
        policy_name(opts.policy),
        if opts.slow { "on" } else { "off" },
        opts.batch,
        mib(opts.segment_size as u64),
        mib(opts.max_bytes as u64),
    );
    if let Some(f) = opts.fault {
        println!(
            "fanout: injecting fault {f:?} at index {FAULT_AT} of consumer 0's stream (must FAIL)"
        );
    }
}

/// Runs producers and consumers to the end, with the progress line, and
/// closes the log in between.
fn run_threads(opts: &Options, log: &Log) -> Outcome {
    // Every cursor exists before the first append, so each sees everything.
    let cursors: Vec<Cursor> = (0..opts.consumers)
        .map(|_| log.cursor(Start::Earliest).expect("the log is empty"))
        .collect();
    let producers: Vec<Producer> = (0..opts.producers).map(|_| log.producer()).collect();
    let producer_wakers: Vec<_> = producers.iter().map(|p| p.waker()).collect();
    let live: Vec<Live> = (0..opts.consumers).map(|_| Live::default()).collect();
    let stop = AtomicBool::new(false);
    let abort = AtomicBool::new(false);
    let retries = AtomicU64::new(0);
    let go = Barrier::new(opts.producers + opts.consumers + 1);
    let mut progress = Progress::new(opts.quiet);
    let mut sampler = Sampler::default();
    let mut problems = Vec::new();

    thread::scope(|s| {
        let consumer_handles: Vec<_> = cursors
            .into_iter()
            .enumerate()
            .map(|(i, cursor)| {
                let (live, abort, go) = (&live[i], &abort, &go);
                thread::Builder::new()
                    .name(format!("consumer-{i}"))
                    .spawn_scoped(s, move || {
                        go.wait();
                        consume(i, cursor, opts, live, abort, Instant::now())
                    })
                    .expect("spawn consumer")
            })
            .collect();
        let producer_handles: Vec<_> = producers
            .into_iter()
            .enumerate()
            .map(|(i, producer)| {
                let quota = match opts.amount {
                    Amount::Records(n) => {
                        let p = opts.producers as u64;
                        Some(n / p + u64::from((i as u64) < n % p))
                    }
                    Amount::Duration(_) => None,
                };
                let (stop, retries, go) = (&stop, &retries, &go);
                thread::Builder::new()
                    .name(format!("producer-{i}"))
                    .spawn_scoped(s, move || {
                        go.wait();
                        produce(i as u32, producer, opts.payload, quota, stop, retries)
                    })
                    .expect("spawn producer")
            })
            .collect();
        go.wait();
        let start = Instant::now();
        let deadline = match opts.amount {
            Amount::Duration(d) => Some(start + d),
            Amount::Records(_) => None,
        };

        // Phase 1: the producers run; a stall interrupts them.
        let mut last_change = (0u64, Instant::now());
        while !producer_handles.iter().all(|h| h.is_finished()) {
            thread::sleep(Duration::from_millis(10));
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Relaxed: a stop request needs no ordering.
                stop.store(true, Ordering::Relaxed);
            }
            let appended = log.stats().records_appended;
            if appended != last_change.0 {
                last_change = (appended, Instant::now());
            } else if last_change.1.elapsed() > STALL_LIMIT && !abort.load(Ordering::Relaxed) {
                problems.push(format!(
                    "no append for {} s: producers stalled; interrupting them",
                    STALL_LIMIT.as_secs()
                ));
                stop.store(true, Ordering::Relaxed);
                abort.store(true, Ordering::Relaxed);
                producer_wakers.iter().for_each(|w| w.interrupt());
            }
            if progress.due() {
                let line = sampler.sample(log, &live, &retries, start, opts, "");
                progress.show(&line);
            }
        }
        let reports: Vec<ProducerReport> = producer_handles
            .into_iter()
            .map(|h| h.join().expect("producer panicked"))
            .collect();

        // Close: Ok unless a producer failed.
        let failed = reports
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.error.clone().map(|e| (i, e)));
        let status = match failed {
            None if problems.is_empty() => CloseStatus::Ok,
            None => CloseStatus::error(2, "producers stalled"),
            Some((i, e)) => {
                problems.push(format!("producer {i}: append failed: {e}"));
                CloseStatus::error(1, format!("producer {i}: {e}"))
            }
        };
        if !log.close(status) {
            problems.push("Log::close: the log was already closed".into());
        }

        // Phase 2: the consumers drain; a stall aborts them.
        let mut last_change = (0u64, Instant::now());
        while !live.iter().all(|l| l.done.load(Ordering::Acquire)) {
            thread::sleep(Duration::from_millis(10));
            let delivered: u64 = live
                .iter()
                .map(|l| l.delivered.load(Ordering::Relaxed))
                .sum();
            if delivered != last_change.0 {
                last_change = (delivered, Instant::now());
            } else if last_change.1.elapsed() > STALL_LIMIT && !abort.load(Ordering::Relaxed) {
                problems.push(format!(
                    "consumers made no progress for {} s after close: aborting them",
                    STALL_LIMIT.as_secs()
                ));
                abort.store(true, Ordering::Relaxed);
            }
            if progress.due() {
                let line = sampler.sample(log, &live, &retries, start, opts, " draining");
                progress.show(&line);
            }
        }
        let line = sampler.sample(log, &live, &retries, start, opts, " done");
        if progress.enabled {
            progress.show(&line);
        }
        progress.end();
        let consumers: Vec<ConsumerReport> = consumer_handles
            .into_iter()
            .map(|h| h.join().expect("consumer panicked"))
            .collect();
        // The workers' own clocks: this thread may get a CPU late after the
        // barrier (the workers hold both CPUs), and it polls every 10 ms.
        let t0 = (reports.iter().map(|r| r.start))
            .chain(consumers.iter().map(|c| c.start))
            .min()
            .unwrap_or(start);
        let produced_end = reports.iter().map(|r| r.end).max().unwrap_or(t0);
        let consumed_end = (consumers.iter().map(|c| c.start + c.elapsed)).max();
        Outcome {
            elapsed: consumed_end.unwrap_or(produced_end).max(produced_end) - t0,
            produced: produced_end - t0,
            producers: reports,
            consumers,
            sampled_max_lag: sampler.max_lag,
            problems,
        }
    })
}

/// Cross-checks after the run: each consumer against the producers' counts,
/// the consumers against each other, the log's counters against both.
/// Returns every problem found (consumer-local ones first) and their count.
fn verify(opts: &Options, log: &Log, out: &mut Outcome) -> (Vec<String>, u64) {
    let appended: Vec<u64> = out.producers.iter().map(|r| r.appended).collect();
    let total: u64 = appended.iter().sum();
    let mut problems = Vec::new();
    let mut count = 0;
    for (i, c) in out.consumers.iter_mut().enumerate() {
        c.verifier.finish(&appended);
        let v = &c.verifier;
        count += v.failures;
        problems.extend(v.messages.iter().map(|m| format!("consumer {i}: {m}")));
        let unlisted = v.failures.saturating_sub(v.messages.len() as u64);
        if unlisted > 0 {
            problems.push(format!("consumer {i}: ... and {unlisted} more"));
        }
    }
    let mut global = std::mem::take(&mut out.problems);
    let stats = log.stats();
    if stats.records_appended != total || log.next_seq() != total {
        global.push(format!(
            "the log counts {} records appended (next_seq {}), the producers {total}",
            stats.records_appended,
            log.next_seq()
        ));
    }
    let missed: u64 = out.consumers.iter().map(|c| c.verifier.missed).sum();
    if stats.records_missed != missed {
        global.push(format!(
            "LogStats::records_missed is {}, but consumers were told {missed}",
            stats.records_missed
        ));
    }
    if opts.policy != OverflowPolicy::DropOldest {
        let roll0 = out.consumers[0].verifier.roll;
        for (i, c) in out.consumers.iter().enumerate().skip(1) {
            if c.verifier.roll != roll0 {
                global.push(format!(
                    "consumer {i}'s rolling hash {:#018x} differs from consumer 0's {roll0:#018x}",
                    c.verifier.roll
                ));
            }
        }
    }
    count += global.len() as u64;
    problems.extend(global);
    (problems, count)
}

fn print_table(opts: &Options, log: &Log, out: &Outcome) {
    let stats = log.stats();
    let total: u64 = out.producers.iter().map(|r| r.appended).sum();
    let delivered: u64 = out.consumers.iter().map(|c| c.verifier.delivered).sum();
    let delivered_bytes: u64 = out.consumers.iter().map(|c| c.verifier.bytes).sum();
    let missed: u64 = out.consumers.iter().map(|c| c.verifier.missed).sum();
    let lag_events: u64 = out.consumers.iter().map(|c| c.verifier.lag_events).sum();
    let retries: u64 = out.producers.iter().map(|r| r.retries).sum();
    let max_lag = out
        .consumers
        .iter()
        .map(|c| c.max_lag)
        .fold(out.sampled_max_lag, u64::max);
    let mb_per_sec = |bytes: u64, d: Duration| per_sec(bytes, d) / 1e6;
    let row = |name: &str, value: String, rest: String| {
        let line = format!("  {name:<30} {value:>16}  {rest}");
        println!("{}", line.trim_end());
    };
    println!();
    row(
        "elapsed",
        format!("{:.3} s", out.elapsed.as_secs_f64()),
        format!("(producers done after {:.3} s)", out.produced.as_secs_f64()),
    );
    row(
        "records appended",
        grouped(total),
        format!(
            "{:>8.2} M/s  {:>8.1} MB/s",
            per_sec(total, out.produced) / 1e6,
            mb_per_sec(total * opts.payload as u64, out.produced)
        ),
    );
    row(
        "delivered (sum of consumers)",
        grouped(delivered),
        format!(
            "{:>8.2} M/s  {:>8.1} MB/s",
            per_sec(delivered, out.elapsed) / 1e6,
            mb_per_sec(delivered_bytes, out.elapsed)
        ),
    );
    row("max lag seen (records)", grouped(max_lag), String::new());
    row(
        "peak retained",
        mib(stats.peak_bytes_retained as u64),
        format!(
            "(budget {} = {} segment(s) of {})",
            mib(opts.max_bytes as u64),
            opts.max_bytes / opts.segment_size,
            mib(opts.segment_size as u64)
        ),
    );
    row(
        "records missed (all consumers)",
        grouped(missed),
        format!(
            "in {} Lagged report(s); {} segment(s) evicted",
            grouped(lag_events),
            grouped(stats.segments_evicted)
        ),
    );
    row("Full retries", grouped(retries), String::new());
    row(
        "peak RSS (VmHWM)",
        peak_rss().map_or_else(|| "n/a".to_string(), mib),
        String::new(),
    );
    println!("  (M/s = 10^6 records/s; MB/s = 10^6 payload bytes/s)");
    // ARCHITECTURE.md: memory never grows past max_bytes plus one segment per
    // cursor lease. Reported, not verified: it is about memory, not records.
    let bound =
        opts.max_bytes / opts.segment_size * opts.segment_size + opts.consumers * opts.segment_size;
    if stats.peak_bytes_retained > bound {
        println!(
            "  note: peak retained {} exceeds the documented bound of {} \
             (max_bytes + one segment per cursor)",
            mib(stats.peak_bytes_retained as u64),
            mib(bound as u64)
        );
    }
    println!();
    println!(
        "  {:<8} {:>14} {:>12} {:>7} {:>12} {:>10}  rolling hash",
        "consumer", "delivered", "missed", "lagged", "max lag", "rate"
    );
    for (i, c) in out.consumers.iter().enumerate() {
        let v = &c.verifier;
        let tag = if opts.slow && i == opts.consumers - 1 {
            "*"
        } else {
            " "
        };
        println!(
            "  c{i:<6}{tag} {:>14} {:>12} {:>7} {:>12} {:>6.2} M/s  {:#018x}",
            grouped(v.delivered),
            grouped(v.missed),
            v.lag_events,
            grouped(c.max_lag),
            per_sec(v.delivered, c.elapsed) / 1e6,
            v.roll
        );
    }
    if opts.slow {
        println!("  (* the slow consumer)");
    }
    println!();
}

/// Runs, reports, verifies; `true` if everything verified.
fn run(opts: &Options, log: &Log) -> bool {
    print_header(opts);
    let mut out = run_threads(opts, log);
    let (problems, count) = verify(opts, log, &mut out);
    print_table(opts, log, &out);
    if opts.fault.is_some() && !out.consumers[0].fault_applied {
        println!(
            "note: no fault was injected (consumer 0 read fewer than {} records)",
            FAULT_AT + 1
        );
    }
    if problems.is_empty() {
        let total: u64 = out.producers.iter().map(|r| r.appended).sum();
        let missed: u64 = out.consumers.iter().map(|c| c.verifier.missed).sum();
        if opts.policy == OverflowPolicy::DropOldest {
            println!(
                "VERIFIED: {} records appended by {} producer(s); each of {} consumer(s) got them \
                 in order and intact, except exactly the ones it was told it missed ({} in all)",
                grouped(total),
                opts.producers,
                opts.consumers,
                grouped(missed)
            );
        } else {
            println!(
                "VERIFIED: each of {} consumer(s) got all {} records of {} producer(s), in order \
                 and intact; rolling hashes agree ({:#018x})",
                opts.consumers,
                grouped(total),
                opts.producers,
                out.consumers[0].verifier.roll
            );
        }
        true
    } else {
        for p in &problems {
            println!("  problem: {p}");
        }
        println!("FAILED: {count} problem(s); first: {}", problems[0]);
        false
    }
}
