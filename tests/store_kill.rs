//! Durable log under `SIGKILL`: a child process (this test binary, re-run
//! in child mode) appends records whose content is derived from what they
//! are, and records each acknowledged append in a file (`O_APPEND`, after
//! the append returned); the parent kills it at a random moment, reopens
//! the directory and checks what `src/store/mod.rs` promises for a process
//! crash: every record whose append returned is there, in order, intact;
//! nothing corrupt is returned; appends continue at the right sequence.
//!
//! `FANLOG_KILL_ROUNDS` (default 100 for one producer, 40 for two) and
//! `FANLOG_KILL_SEED` repeat or replay a run.
#![cfg(not(fanlog_loom))]

use fanlog::{Log, OpenOptions, Recovery, RecvError, Start, StoreError, SyncPolicy, Verify};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Child mode: the log directory.
const CHILD_DIR: &str = "FANLOG_KILL_CHILD";
/// Child mode: `none`, `batch` or `interval`.
const CHILD_SYNC: &str = "FANLOG_KILL_SYNC";
const SEGMENT: usize = 8 * 1024;

fn opts(sync: SyncPolicy) -> OpenOptions {
    OpenOptions::new()
        .segment_size(SEGMENT)
        .max_bytes(1 << 30)
        .sync(sync)
}

fn sync_policy(name: &str) -> SyncPolicy {
    match name {
        "batch" => SyncPolicy::EveryBatch,
        "interval" => SyncPolicy::Interval(Duration::from_millis(2)),
        _ => SyncPolicy::None,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    let s = std::env::var("FANLOG_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("FANLOG_KILL_SEED={s}");
    s
}

fn rounds(default: u32) -> u32 {
    std::env::var("FANLOG_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The payload of the record with sequence `seq` (single producer): 0 to
/// 300 bytes, derived from `seq`.
fn payload(seq: u64) -> Vec<u8> {
    let n = (seq.wrapping_mul(7919) % 301) as usize;
    let mut v: Vec<u8> = seq.to_le_bytes().iter().copied().cycle().take(n).collect();
    for (k, b) in v.iter_mut().enumerate().skip(8) {
        *b = b.wrapping_add(k as u8);
    }
    v
}

/// Two producers: the payload names its thread and that thread's counter,
/// so it can be checked without knowing the sequence number in advance.
fn tagged(tid: u8, counter: u64) -> Vec<u8> {
    let n = 9 + (counter.wrapping_mul(131).wrapping_add(tid as u64) % 200) as usize;
    let mut v = vec![tid];
    v.extend_from_slice(&counter.to_le_bytes());
    v.extend((9..n).map(|k| (counter as usize ^ k ^ tid as usize) as u8));
    v
}

fn untag(data: &[u8]) -> Option<(u8, u64)> {
    if data.len() < 9 {
        return None;
    }
    let tid = data[0];
    let counter = u64::from_le_bytes(data[1..9].try_into().unwrap());
    (tagged(tid, counter) == data).then_some((tid, counter))
}

fn ack_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Ack entries: little-endian u64 words, `width` per entry; a torn last
/// entry (it cannot happen with one small `write`) is ignored.
fn read_acks(path: &Path, width: usize) -> Vec<Vec<u64>> {
    let b = std::fs::read(path).unwrap_or_default();
    b.chunks_exact(8 * width)
        .map(|e| {
            e.chunks_exact(8)
                .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
                .collect()
        })
        .collect()
}

/// Child mode: append until killed.
fn child_single(dir: &Path, sync: SyncPolicy) -> ! {
    let log = Log::open(dir, &opts(sync)).unwrap();
    let mut acks = ack_file(&dir.join("acks"));
    let mut rng = Rng(std::process::id() as u64 | 1);
    let mut next = log.next_seq();
    loop {
        if rng.below(4) == 0 {
            let n = 1 + rng.below(8);
            let batch: Vec<Vec<u8>> = (next..next + n).map(payload).collect();
            let first = log.producer().append_batch(0, &batch).unwrap();
            assert_eq!(first, next);
            next += n;
        } else {
            assert_eq!(log.append(&payload(next)).unwrap(), next);
            next += 1;
        }
        // One write: the highest sequence acknowledged so far.
        acks.write_all(&(next - 1).to_le_bytes()).unwrap();
    }
}

/// Child mode, two producer threads: each acks `(first seq, count, tid,
/// first counter)`.
fn child_two(dir: &Path, sync: SyncPolicy) -> ! {
    let log = Log::open(dir, &opts(sync)).unwrap();
    let base = std::fs::read(dir.join("counter-base"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let threads: Vec<_> = (0..2u8)
        .map(|tid| {
            let p = log.producer();
            let mut acks = ack_file(&dir.join(format!("acks-{tid}")));
            std::thread::spawn(move || {
                let mut rng = Rng((std::process::id() as u64) << 8 | tid as u64 | 1);
                let mut counter = base;
                loop {
                    let n = if rng.below(4) == 0 {
                        1 + rng.below(6)
                    } else {
                        1
                    };
                    let recs: Vec<Vec<u8>> =
                        (counter..counter + n).map(|c| tagged(tid, c)).collect();
                    let first = p.append_batch(0, &recs).unwrap();
                    let mut e = Vec::with_capacity(32);
                    for w in [first, n, tid as u64, counter] {
                        e.extend_from_slice(&w.to_le_bytes());
                    }
                    acks.write_all(&e).unwrap();
                    counter += n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    unreachable!("producers never stop");
}

/// Runs this test binary's `test` in child mode and kills it after a
/// random delay (sometimes before it even opened the log, mostly after its
/// first acknowledged append).
fn spawn_and_kill(test: &str, dir: &Path, sync: &str, ack: &Path, rng: &mut Rng) {
    let acked_before = std::fs::metadata(ack).map_or(0, |m| m.len());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_SYNC, sync)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if rng.below(5) != 0 {
        // Wait for the child's first new ack (or its death).
        let t = Instant::now();
        while std::fs::metadata(ack).map_or(0, |m| m.len()) == acked_before
            && t.elapsed() < Duration::from_secs(20)
        {
            if let Some(st) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                panic!("child exited by itself ({st}): {err}");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    std::thread::sleep(Duration::from_micros(rng.below(60_000)));
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    if st.code().is_some() {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        panic!("child exited by itself ({st}): {err}");
    }
}

/// Records read back: (sequence number, payload).
type Records = Vec<(u64, Vec<u8>)>;

/// Everything the directory holds, read through a read-only open with
/// every frame checked (changes nothing), then a writable open. Returns
/// the records, the writable log and what the read-only open recovered
/// (for failure messages).
fn recover_and_read(dir: &Path) -> (Records, Log, Option<Recovery>) {
    let ro_report = match Log::open(
        dir,
        &opts(SyncPolicy::None).read_only(true).verify(Verify::All),
    ) {
        Ok(ro) => {
            let got = read_all(&ro);
            let r = ro.recovery().unwrap();
            assert_eq!(got.len() as u64, r.next_seq);
            Some(r)
        }
        // Killed before the first segment file got its name.
        Err(StoreError::Format { .. }) => None,
        Err(e) => panic!("read-only open: {e}"),
    };
    let log = Log::open(dir, &opts(SyncPolicy::None)).unwrap();
    let r = log.recovery().unwrap();
    let got = read_all(&log);
    assert_eq!(got.len() as u64, r.next_seq, "{r:?}");
    assert!(r.corruption.is_none(), "{r:?}");
    (got, log, ro_report)
}

/// Every record from the start, in order, none corrupt.
fn read_all(log: &Log) -> Records {
    let mut c = log.cursor(Start::Earliest).unwrap();
    let mut v = Vec::new();
    loop {
        match c.try_next() {
            Ok(r) => {
                assert_eq!(r.seq(), v.len() as u64, "records out of order");
                v.push((r.seq(), r.data().to_vec()));
            }
            Err(RecvError::Empty) => return v,
            Err(e) => panic!("after {} records: {e}", v.len()),
        }
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fanlog-kill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn kill_single_producer() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let sync = sync_policy(&std::env::var(CHILD_SYNC).unwrap_or_default());
        child_single(Path::new(&dir), sync);
    }
    let mut rng = Rng(seed());
    let dir = fresh_dir("single");
    let started = Instant::now();
    let n = rounds(100);
    let mut total = 0u64;
    for round in 0..n {
        if round % 5 == 0 {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
        }
        let sync = ["none", "batch", "interval"][round as usize % 3];
        let ack = dir.join("acks");
        spawn_and_kill("kill_single_producer", &dir, sync, &ack, &mut rng);
        let acked = read_acks(&ack, 1).last().map(|e| e[0]);
        let (got, log, _) = recover_and_read(&dir);
        for (seq, data) in &got {
            assert_eq!(data, &payload(*seq), "round {round}: record {seq} damaged");
        }
        if let Some(a) = acked {
            assert!(
                got.len() as u64 > a,
                "round {round} ({sync}): acknowledged up to {a}, recovered {}: {:?}",
                got.len(),
                log.recovery()
            );
        }
        let next = got.len() as u64;
        assert_eq!(log.append(&payload(next)).unwrap(), next);
        // The parent's append is acknowledged too.
        ack_file(&ack).write_all(&next.to_le_bytes()).unwrap();
        total = next + 1;
    }
    eprintln!(
        "{n} kills, {total} records in the last directory, {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kill_two_producers() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let sync = sync_policy(&std::env::var(CHILD_SYNC).unwrap_or_default());
        child_two(Path::new(&dir), sync);
    }
    let mut rng = Rng(seed() ^ 0x5555);
    let dir = fresh_dir("two");
    let n = rounds(40);
    // Records in the directory when the round's child starts.
    let mut round_start = 0u64;
    for round in 0..n {
        if round % 5 == 0 {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            round_start = 0;
        }
        let sync = ["none", "batch", "interval"][round as usize % 3];
        // Counters restart above everything earlier rounds used.
        let counter_base = (round as u64) << 40;
        std::fs::write(dir.join("counter-base"), counter_base.to_le_bytes()).unwrap();
        let acks: Vec<PathBuf> = (0..2).map(|t| dir.join(format!("acks-{t}"))).collect();
        for a in &acks {
            let _ = std::fs::remove_file(a);
        }
        spawn_and_kill("kill_two_producers", &dir, sync, &acks[0], &mut rng);
        let (got, log, ro_report) = recover_and_read(&dir);
        let next = got.len() as u64;
        // Every record is intact and names its producer; each producer's
        // counters increase along the log.
        let mut last = [None::<u64>; 2];
        for (seq, data) in &got {
            let (tid, c) =
                untag(data).unwrap_or_else(|| panic!("round {round}: record {seq} damaged"));
            if c >= counter_base {
                assert!(tid < 2);
                assert!(last[tid as usize] < Some(c), "round {round}: order");
                last[tid as usize] = Some(c);
            }
        }
        // Acknowledged records: present where their append said, unless a
        // concurrent append with a smaller sequence was cut (the documented
        // gap-free-prefix rule). The cut is at an append that was still in
        // flight, which has a larger sequence than everything its own
        // thread acknowledged, and is not before the round's first record:
        // so every record before the smaller of the two threads' floors is
        // kept, a thread's floor being its last acknowledged sequence + 1,
        // or the round's start if it acknowledged nothing (its first
        // append can be the one cut: in one CI run a thread stalled in its
        // first append while the other acknowledged 160 records).
        let mut floor = u64::MAX;
        let mut acked_at_cut = false;
        for a in &acks {
            let entries = read_acks(a, 4);
            let mut thread_last = None;
            for e in &entries {
                let (first, n, tid, counter) = (e[0], e[1], e[2], e[3]);
                for k in 0..n {
                    let seq = first + k;
                    if seq < next {
                        assert_eq!(
                            untag(&got[seq as usize].1),
                            Some((tid as u8, counter + k)),
                            "round {round}: acknowledged record {seq}"
                        );
                    }
                    acked_at_cut |= seq == next;
                }
                thread_last = Some(first + n - 1);
            }
            floor = floor.min(thread_last.map_or(round_start, |l| l + 1));
        }
        assert!(
            !acked_at_cut,
            "round {round} ({sync}): the cut at {next} is an acknowledged record"
        );
        assert!(
            next >= floor,
            "round {round} ({sync}): recovered {next}, but both threads' floors are at or past \
             {floor} (round start {round_start}); writable open: {:?}; read-only open before \
             it: {ro_report:?}",
            log.recovery(),
        );
        let p = log.producer();
        assert_eq!(
            p.append(&tagged(9, counter_base)).unwrap_or(u64::MAX),
            next,
            "appends continue"
        );
        round_start = next + 1;
        let _ = &mut rng;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
