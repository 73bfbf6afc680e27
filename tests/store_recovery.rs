//! Durable log: what recovery does with damaged directories, each outcome
//! as documented in `src/store/mod.rs` (Recovery, StoreError::Corrupt,
//! RecvError::Corrupt, retention of named cursors).
#![cfg(not(fanlog_loom))]

#[path = "common/recover_harness.rs"]
mod recover_harness;

use fanlog::{Log, OpenOptions, OverflowPolicy, RecvError, Start, StoreError, Verify};
use std::path::{Path, PathBuf};
use std::time::Duration;

const HEADER_PAGE: u64 = 4096;
const SEG: usize = 4096;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fanlog-rec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn opts() -> OpenOptions {
    OpenOptions::new().segment_size(SEG).max_bytes(1 << 20)
}

/// Record `i`: 1..=120 bytes, all non-zero, derived from `i`.
fn rec(i: u64) -> Vec<u8> {
    let n = 1 + (i.wrapping_mul(37) % 120) as usize;
    (0..n)
        .map(|k| ((i as usize).wrapping_mul(31).wrapping_add(k) % 255) as u8 + 1)
        .collect()
}

fn write(dir: &Path, n: u64) {
    let log = Log::open(dir, &opts()).unwrap();
    for i in 0..n {
        assert_eq!(log.append(&rec(i)).unwrap(), i);
    }
}

/// Segment files, oldest first.
fn segs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// A committed frame as found in a file: byte offset in the file, sequence,
/// payload length.
#[derive(Clone, Copy, Debug)]
struct Frame {
    at: u64,
    seq: u64,
    len: usize,
}

fn frames(path: &Path) -> Vec<Frame> {
    let b = std::fs::read(path).unwrap();
    let mut v = Vec::new();
    let mut at = HEADER_PAGE as usize;
    while at + 32 <= b.len() {
        let w = u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
        if w == 0 {
            break;
        }
        let len = u32::from_ne_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        v.push(Frame {
            at: at as u64,
            seq: w - 1,
            len,
        });
        at += recover_harness::frame_len(len);
    }
    v
}

/// End of the last frame of `path` (where the next frame would go).
fn frames_end(path: &Path) -> u64 {
    frames(path).last().map_or(HEADER_PAGE, |f| {
        f.at + recover_harness::frame_len(f.len) as u64
    })
}

fn patch(path: &Path, at: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

/// Records read: (sequence, payload).
type Records = Vec<(u64, Vec<u8>)>;

/// Reads from `start` until `Empty`/`Closed`, or a corrupt record (returned
/// as the second value: sequence and detail).
fn read_from(log: &Log, start: Start) -> (Records, Option<(u64, String)>) {
    read_with(log, start, 0)
}

/// As `read_from`, with batch reads of up to `max` records (the checked
/// path of `Batch`).
fn read_batches_from(log: &Log, start: Start, max: usize) -> (Records, Option<(u64, String)>) {
    read_with(log, start, max)
}

/// `batch` 0: single reads; otherwise batch reads of up to `batch` records.
fn read_with(log: &Log, start: Start, batch: usize) -> (Records, Option<(u64, String)>) {
    let mut c = log.cursor(start).unwrap();
    let mut v = Vec::new();
    loop {
        let got = if batch > 0 {
            c.try_next_batch(batch).map(|b| {
                for r in b {
                    v.push((r.seq(), r.data().to_vec()));
                }
            })
        } else {
            c.try_next().map(|r| v.push((r.seq(), r.data().to_vec())))
        };
        match got {
            Ok(()) => {}
            Err(RecvError::Empty) | Err(RecvError::Closed(_)) => return (v, None),
            Err(RecvError::Corrupt { seq, detail }) => {
                // Repeatedly, at the same record.
                for _ in 0..3 {
                    match c.try_next() {
                        Err(RecvError::Corrupt { seq: s, detail: d }) => {
                            assert_eq!((s, &*d), (seq, &*detail))
                        }
                        other => panic!("corrupt once, then {other:?}"),
                    }
                }
                return (v, Some((seq, detail.to_string())));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn assert_records(got: &[(u64, Vec<u8>)], from: u64, to: u64) {
    assert_eq!(got.len() as u64, to - from, "records {from}..{to}");
    for (k, (seq, data)) in got.iter().enumerate() {
        assert_eq!(*seq, from + k as u64);
        assert_eq!(data, &rec(*seq), "record {seq}");
    }
}

/// After a cut: appends continue at `next`, and the next open is clean.
fn continues_and_reopens_clean(dir: &Path, log: Log, next: u64) {
    assert_eq!(log.append(&rec(next)).unwrap(), next);
    drop(log);
    let log = Log::open(dir, &opts().verify(Verify::All)).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(
        (r.dropped_records, r.dropped_bytes, r.truncated_at),
        (0, 0, None)
    );
    assert_eq!(r.next_seq, next + 1);
    let (all, bad) = read_from(&log, Start::Earliest);
    assert!(bad.is_none());
    assert_records(&all, 0, next + 1);
}

#[test]
fn garbage_after_the_last_frame_is_cut() {
    let dir = tmpdir("garbage");
    write(&dir, 300);
    let last = segs(&dir).pop().unwrap();
    assert!(segs(&dir).len() > 3);
    let end = frames_end(&last);
    let garbage: Vec<u8> = (0..100u32).map(|k| (k * 7 % 250) as u8 + 1).collect();
    patch(&last, end, &garbage);
    let log = Log::open(&dir, &opts()).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.next_seq, 300, "{r:?}");
    assert_eq!(r.truncated_at, Some((last.clone(), end)), "{r:?}");
    // Bytes cut: the garbage, no more (documented: "bytes cut").
    assert_eq!(r.dropped_bytes, garbage.len() as u64, "{r:?}");
    assert_eq!(r.dropped_records, 0, "{r:?}");
    let (all, bad) = read_from(&log, Start::Earliest);
    assert!(bad.is_none());
    assert_records(&all, 0, 300);
    continues_and_reopens_clean(&dir, log, 300);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn torn_last_frame_commit_word_zeroed_is_cut() {
    let dir = tmpdir("torn-commit");
    write(&dir, 200);
    let last = segs(&dir).pop().unwrap();
    let f = *frames(&last).last().unwrap();
    assert_eq!(f.seq, 199);
    patch(&last, f.at, &[0; 8]);
    let log = Log::open(&dir, &opts()).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.next_seq, 199, "{r:?}");
    assert_eq!(r.truncated_at, Some((last.clone(), f.at)));
    // Not committed-looking: no record counted; its written bytes are.
    assert_eq!(r.dropped_records, 0);
    assert_eq!(r.dropped_bytes, 32 + f.len as u64 - 8 + 8, "{r:?}");
    let (all, _) = read_from(&log, Start::Earliest);
    assert_records(&all, 0, 199);
    continues_and_reopens_clean(&dir, log, 199);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn torn_last_frame_payload_flipped_is_cut() {
    let dir = tmpdir("torn-payload");
    write(&dir, 200);
    let last = segs(&dir).pop().unwrap();
    let f = *frames(&last).last().unwrap();
    flip(&last, f.at + 32 + f.len as u64 / 2);
    let log = Log::open(&dir, &opts()).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.next_seq, 199, "{r:?}");
    assert_eq!(r.truncated_at, Some((last.clone(), f.at)));
    assert_eq!(r.dropped_records, 1);
    assert_eq!(
        r.dropped_bytes,
        recover_harness::frame_len(f.len) as u64,
        "{r:?}"
    );
    let (all, _) = read_from(&log, Start::Earliest);
    assert_records(&all, 0, 199);
    continues_and_reopens_clean(&dir, log, 199);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Truncated segment files: a writable open fails with `Corrupt` naming the
/// file (and its length as the offset); nothing is silently dropped (a short
/// file is not something a crash of the writer leaves: files are
/// preallocated before they get their name). A read-only open still reads
/// every record before the short file.
#[test]
fn truncated_segment_file_is_an_error_naming_it() {
    for which in ["middle", "last"] {
        let dir = tmpdir(&format!("short-{which}"));
        write(&dir, 300);
        let all = segs(&dir);
        let victim_idx = if which == "middle" { 1 } else { all.len() - 1 };
        let victim = all[victim_idx].clone();
        let first_in_victim = frames(&victim)[0].seq;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap();
        let short = HEADER_PAGE + SEG as u64 / 2;
        f.set_len(short).unwrap();
        drop(f);
        match Log::open(&dir, &opts()) {
            Err(StoreError::Corrupt { path, offset, .. }) => {
                assert_eq!(path, victim, "{which}");
                assert_eq!(offset, short, "{which}");
            }
            Err(e) => panic!("{which}: {e}"),
            Ok(_) => panic!("{which}: opened a log with a short file for writing"),
        }
        let ro = Log::open(&dir, &opts().read_only(true)).unwrap();
        let r = ro.recovery().unwrap();
        assert!(
            r.corruption
                .as_deref()
                .is_some_and(|c| c.contains(&*victim.to_string_lossy())),
            "{which}: {r:?}"
        );
        let (got, _) = read_from(&ro, Start::Earliest);
        assert_records(&got, 0, first_in_victim);
        drop(ro);
        // The file is still there, untouched by the failed opens.
        assert_eq!(std::fs::metadata(&victim).unwrap().len(), short);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A last file shorter than its header cannot hold records: it is a torn
/// creation and is cut.
#[test]
fn last_file_shorter_than_its_header_is_cut() {
    let dir = tmpdir("short-header");
    write(&dir, 300);
    let last = segs(&dir).pop().unwrap();
    let first_in_last = frames(&last)[0].seq;
    // Only the last file's records go: re-create it as a 10-byte stub.
    std::fs::write(&last, b"FANLOGSG\0\0").unwrap();
    let log = Log::open(&dir, &opts()).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.truncated_at, Some((last.clone(), 0)));
    assert_eq!(r.next_seq, first_in_last);
    assert!(!last.exists() || std::fs::metadata(&last).unwrap().len() > 10);
    let (all, _) = read_from(&log, Start::Earliest);
    assert_records(&all, 0, first_in_last);
    drop(log); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

/// (file, file offset, sequence) of a frame in the middle of the 3rd file.
fn middle_frame(dir: &Path) -> (PathBuf, Frame) {
    let s = segs(dir);
    assert!(s.len() >= 5, "{s:?}");
    let fr = frames(&s[2]);
    (s[2].clone(), fr[fr.len() / 2])
}

#[test]
fn flipped_byte_in_a_middle_segment_before_the_checkpoint() {
    let dir = tmpdir("flip-middle");
    {
        let log = Log::open(&dir, &opts()).unwrap();
        for i in 0..400 {
            log.append(&rec(i)).unwrap();
        }
        log.flush().unwrap();
    }
    let (path, f) = middle_frame(&dir);
    flip(&path, f.at + 32);
    let expect_detail = format!("{}: offset {}", path.display(), f.at);

    // (a) default verify: opens (the scan starts at the checkpoint); reads
    // stop at the damaged record.
    {
        let log = Log::open(&dir, &opts()).unwrap();
        let r = log.recovery().unwrap();
        assert_eq!((r.next_seq, r.checkpoint_seq), (400, Some(400)));
        let singles = read_from(&log, Start::Earliest);
        let (got, bad) = &singles;
        assert_records(got, 0, f.seq);
        let (seq, detail) = bad.as_ref().expect("corrupt record reported");
        assert_eq!(*seq, f.seq);
        assert!(detail.starts_with(&expect_detail), "{detail}");
        // Batch reads deliver the same records and stop at the same one,
        // wherever it falls in a batch.
        for max in [2, 3, 7, 64] {
            assert_eq!(read_batches_from(&log, Start::Earliest, max), singles);
        }
        // Starting past it stops there too.
        let (got, bad) = read_from(&log, Start::At(f.seq + 1));
        assert!(got.is_empty());
        assert_eq!(bad.unwrap().0, f.seq);
        // Records after the damaged segment read fine.
        let later = frames(&segs(&dir)[3])[0].seq;
        let (got, bad) = read_from(&log, Start::At(later));
        assert!(bad.is_none());
        assert_records(&got, later, 400);
    }
    // (b) Verify::All: a writable open refuses, naming file and offset...
    match Log::open(&dir, &opts().verify(Verify::All)) {
        Err(StoreError::Corrupt {
            path: p, offset, ..
        }) => {
            assert_eq!((p, offset), (path.clone(), f.at));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    }
    // ... and a read-only open still delivers the records before it.
    {
        let log = Log::open(&dir, &opts().verify(Verify::All).read_only(true)).unwrap();
        let r = log.recovery().unwrap();
        let c = r.corruption.clone().expect("corruption reported");
        assert!(c.starts_with(&expect_detail), "{c}");
        let (got, bad) = read_from(&log, Start::Earliest);
        assert_records(&got, 0, f.seq);
        let (seq, detail) = bad.expect("corrupt record reported");
        assert_eq!(seq, f.seq);
        assert!(detail.starts_with(&expect_detail), "{detail}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_header_in_a_middle_segment() {
    let dir = tmpdir("bad-header");
    {
        let log = Log::open(&dir, &opts()).unwrap();
        for i in 0..400 {
            log.append(&rec(i)).unwrap();
        }
        log.flush().unwrap();
    }
    let path = segs(&dir)[2].clone();
    flip(&path, 20); // inside the segment-size field, under the header CRC
    for verify in [Verify::FromCheckpoint, Verify::All] {
        match Log::open(&dir, &opts().verify(verify)) {
            Err(StoreError::Corrupt {
                path: p, offset, ..
            }) => assert_eq!((p, offset), (path.clone(), 0)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn start_positions_on_a_recovered_log() {
    let dir = tmpdir("starts");
    write(&dir, 500);
    let log = Log::open(&dir, &opts()).unwrap();
    assert!(log.recovery().unwrap().segments > 5);
    for at in [0, 1, 57, 250, 498, 499, 500] {
        let (got, bad) = read_from(&log, Start::At(at));
        assert!(bad.is_none());
        assert_records(&got, at, 500);
    }
    // Every segment boundary.
    for s in segs(&dir) {
        let first = frames(&s)[0].seq;
        let (got, _) = read_from(&log, Start::At(first));
        assert_records(&got, first, 500);
    }
    assert!(matches!(
        log.cursor(Start::At(501)),
        Err(fanlog::StartError::Future { .. })
    ));
    let mut latest = log.cursor(Start::Latest).unwrap();
    assert_eq!(latest.position(), 500);
    assert!(matches!(latest.try_next(), Err(RecvError::Empty)));
    log.append(&rec(500)).unwrap();
    let r = latest.try_next().unwrap();
    assert_eq!((r.seq(), r.data()), (500, &rec(500)[..]));
    drop((latest, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn named_cursor_with_auto_commit_resumes_after_reopen() {
    let dir = tmpdir("auto-commit");
    write(&dir, 300);
    {
        let log = Log::open(&dir, &opts()).unwrap();
        let mut c = log.cursor_named("app", Start::Earliest).unwrap();
        c.set_auto_commit(true);
        for i in 0..100 {
            assert_eq!(c.try_next().unwrap().seq(), i);
        }
        // Record 99 was returned but not committed until the next read
        // call: a crash now redelivers it (at-least-once).
        assert_eq!(c.committed(), Some(99));
        // As if the process died here: no commit on drop.
        c.set_auto_commit(false);
        drop(c);
    }
    {
        let log = Log::open(&dir, &opts()).unwrap();
        let mut c = log.cursor_named("app", Start::Earliest).unwrap();
        c.set_auto_commit(true);
        assert_eq!(c.try_next().unwrap().seq(), 99);
        for i in 100..150 {
            assert_eq!(c.try_next().unwrap().seq(), i);
        }
        // Dropping commits everything returned.
        drop(c);
    }
    let log = Log::open(&dir, &opts()).unwrap();
    assert_eq!(log.named_cursors(), vec![("app".to_string(), Some(150))]);
    let mut c = log.cursor_named("app", Start::Latest).unwrap();
    let r = c.try_next().unwrap();
    assert_eq!((r.seq(), r.data()), (150, &rec(150)[..]));
    drop((c, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Appends `rec(n..)` until an append times out (the budget is held) or
/// `limit` is reached; returns the next sequence.
fn fill(p: &fanlog::Producer, mut n: u64, limit: u64) -> u64 {
    while n < limit {
        match p.append_timeout(0, &rec(n), Duration::from_millis(50)) {
            Ok(s) => assert_eq!(s, n),
            Err(fanlog::AppendError::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
        n += 1;
    }
    n
}

/// `Block`, budget of 4 segments: a named cursor that has not committed
/// keeps its segment files, and producers wait, until it commits.
#[test]
fn named_cursor_holds_retention_under_block() {
    let dir = tmpdir("retention-block");
    let log = Log::open(&dir, &opts().max_bytes(4 * SEG)).unwrap();
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    c.commit_position().unwrap(); // committed position 0
    drop(c);
    let p = log.producer();
    let n = fill(&p, 0, 10_000);
    assert!(n < 10_000, "Block never blocked");
    let held = segs(&dir);
    assert!(held.len() >= 4, "{held:?}");
    assert!(held[0].ends_with(format!("{:020}.seg", 0)));
    // Still held after a while (nothing deletes them behind our back).
    assert_eq!(fill(&p, n, n + 5), n);
    assert!(held.iter().all(|f| f.exists()));
    // Commit half: the segments before the committed position may go.
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    let mid = n / 2;
    for i in 0..mid {
        assert_eq!(c.try_next().unwrap().seq(), i);
    }
    c.commit(mid - 1).unwrap();
    drop(c);
    let n2 = fill(&p, n, n + 10_000);
    assert!(n2 > n, "commit did not release room");
    let now = segs(&dir);
    assert!(!held[0].exists(), "{now:?}");
    // Segments holding records at or after `mid` are still there.
    let first_kept = frames(&now[0])[0].seq;
    assert!(first_kept <= mid, "deleted records the cursor still needs");
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    assert_eq!(c.try_next().unwrap().seq(), mid);
    drop(c);
    drop((p, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `DropOldest`: a named cursor does not hold producers; it lags instead
/// (documented), and learns it on its first read.
#[test]
fn named_cursor_lags_under_drop_oldest() {
    let dir = tmpdir("retention-drop");
    let o = opts()
        .max_bytes(4 * SEG)
        .overflow(OverflowPolicy::DropOldest);
    let log = Log::open(&dir, &o).unwrap();
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    c.commit_position().unwrap();
    drop(c);
    let p = log.producer();
    assert_eq!(fill(&p, 0, 600), 600);
    let now = segs(&dir);
    assert!(now.len() <= 5, "{now:?}");
    let oldest = frames(&now[0])[0].seq;
    assert!(oldest > 0);
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    match c.try_next() {
        Err(RecvError::Lagged { missed }) => assert!(missed >= oldest, "{missed} < {oldest}"),
        other => panic!("{other:?}"),
    }
    let r = c.try_next().unwrap();
    assert_eq!(r.data(), &rec(r.seq())[..]);
    drop(c);
    drop((p, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `max_age` deletes old sealed segments even though a named cursor has
/// not committed them; the cursor lags.
#[test]
fn max_age_overrides_named_cursors() {
    let dir = tmpdir("max-age");
    let o = opts().max_age(Some(Duration::from_millis(200)));
    let log = Log::open(&dir, &o).unwrap();
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    c.commit_position().unwrap();
    drop(c);
    let p = log.producer();
    let n = fill(&p, 0, 200);
    let before = segs(&dir);
    assert!(before.len() > 3);
    std::thread::sleep(Duration::from_millis(400));
    // A segment roll (and the background tick) enforces the limit.
    let n = fill(&p, n, n + 60);
    let mut waited = 0;
    while before[0].exists() && waited < 100 {
        std::thread::sleep(Duration::from_millis(20));
        waited += 1;
    }
    assert!(!before[0].exists(), "{:?}", segs(&dir));
    let mut c = log.cursor_named("slow", Start::Earliest).unwrap();
    assert!(matches!(c.try_next(), Err(RecvError::Lagged { .. })));
    let mut last = 0;
    while let Ok(r) = c.try_next() {
        assert_eq!(r.data(), &rec(r.seq())[..]);
        last = r.seq();
    }
    assert_eq!(last, n - 1);
    drop(c);
    drop((p, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cargo test` runs the fuzz target's harness over pseudo-random inputs
/// (`FANLOG_HARNESS_INPUTS`, default 400: about 8 ms each, most of it in
/// the opens' file syncs).
#[test]
fn recovery_harness_on_pseudo_random_inputs() {
    let n: u64 = std::env::var("FANLOG_HARNESS_INPUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for i in 0..n {
        let len = (next() % 600) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 3 != 0 && !data.is_empty() {
            data[0] |= 8; // mostly well-formed records with damage
        }
        recover_harness::run(&data);
    }
    // Regression inputs found by the fuzzer.
    recover_harness::run(&[0x98, 0x98, 0xff, 0x34, 0xff, 0xff, 0xff, 0xff]);
    recover_harness::run(&[
        0x2a, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x03, 0x8d, 0x8d,
    ]);
    // A segment based near u64::MAX (sequence arithmetic must not overflow).
    let mut near_max = vec![0xc8, 0x00];
    near_max.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
    near_max.extend_from_slice(&[4, 1, 2, 3, 4, 1, 4, 5, 6, 7, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    recover_harness::run(&near_max);
}

/// Retention deletes a segment that a lagging cursor held (evicted under
/// `DropOldest`) only when the cursor lets go, after newer ones. A crash in
/// between leaves an old file before a gap. Recovery must forget that stale
/// file, not take the gap for a torn tail and cut every newer file.
#[test]
fn stale_head_file_left_by_out_of_order_deletion_is_forgotten() {
    let dir = tmpdir("stale-head");
    let o = opts()
        .max_bytes(SEG * 4)
        .retain_bytes(0)
        .overflow(OverflowPolicy::DropOldest);
    let saved = dir.with_extension("saved-seg");
    let (stale_path, next);
    {
        let log = Log::open(&dir, &o).unwrap();
        let holder = log.cursor(Start::Earliest).unwrap(); // keeps segment 0
        let mut n = 0u64;
        while segs(&dir).len() < 3 {
            log.append(&rec(n)).unwrap();
            n += 1;
        }
        // Segment 0 is sealed (its header has its record count): save it
        // as it is on disk right before retention deletes it.
        stale_path = segs(&dir)[0].clone();
        std::fs::copy(&stale_path, &saved).unwrap();
        drop(holder);
        for _ in 0..400 {
            log.append(&rec(n)).unwrap();
            n += 1;
        }
        assert!(!stale_path.exists(), "segment 0 was deleted by retention");
        next = n;
    } // dropped without close, as after a crash
      // The crash hit before the held segment's file was deleted.
    std::fs::rename(&saved, &stale_path).unwrap();
    let stale_end = frames(&stale_path).last().unwrap().seq + 1;
    let log = Log::open(&dir, &o).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.stale_segments, 1, "{r:?}");
    assert_eq!(r.next_seq, next, "{r:?}");
    // (Which newer files are left depends on deletions still pending when
    // the log was dropped; every record from the first one on is kept.)
    let first_live = r.first_seq;
    assert!(first_live > stale_end, "{r:?}");
    assert_eq!(
        (r.dropped_records, r.truncated_at.clone()),
        (0, None),
        "{r:?}"
    );
    assert!(!stale_path.exists(), "the stale file is deleted");
    let (got, _) = read_from(&log, Start::Earliest);
    assert_records(&got, first_live, next);
    assert_eq!(log.append(&rec(next)).unwrap(), next);
    drop(log);
    let log = Log::open(&dir, &o.verify(Verify::All)).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!((r.stale_segments, r.next_seq), (0, next + 1), "{r:?}");
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}
