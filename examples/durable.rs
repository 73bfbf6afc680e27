//! The backing-store scenario of `shared/context/004-backing-store-races.md`,
//! done with a durable fanlog log.
//!
//! A downloader streams chunks into a backing store while readers read them
//! concurrently. The hand-written version (a temp file, readers blocked on a
//! `sync.Cond`, an error variable) missed wake-ups, blocked forever when the
//! download ended early, and lost everything on a restart. Here:
//!
//! 1. the downloader appends chunks to a durable log; two readers follow it
//!    live, one through a read-only open of the same directory (what another
//!    process does); an "indexer" is a named cursor with auto-commit;
//! 2. halfway the downloader process "dies" (the log is dropped without
//!    close; `tests/store_kill.rs` does it with a real `SIGKILL`);
//! 3. the restarted downloader reopens the directory (recovery report), the
//!    indexer resumes exactly where it committed, the download continues and
//!    then fails ("connection reset"): every reader drains every chunk and
//!    then sees that error status — no reader blocks, none misses a chunk.
//!
//! `cargo run --release --example durable [-- --chunks N --dir PATH]`

use fanlog::{CloseStatus, Log, OpenOptions, RecvError, Start, SyncPolicy};
use std::time::Duration;

fn chunk(seq: u64) -> Vec<u8> {
    let len = 64 + (seq % 900) as usize;
    (0..len)
        .map(|i| (seq.wrapping_mul(31) as usize + i) as u8)
        .collect()
}

/// Reads until `Closed`, checking every chunk; returns (chunks, status).
fn drain(mut c: fanlog::Cursor, from: u64, who: &str) -> (u64, CloseStatus) {
    let mut next = from;
    loop {
        match c.next_timeout(Duration::from_secs(30)) {
            Ok(r) => {
                assert_eq!(r.seq(), next, "{who}: out of order");
                assert_eq!(r.data(), &chunk(next)[..], "{who}: chunk {next} damaged");
                next += 1;
            }
            Err(RecvError::Closed(s)) => return (next - from, s),
            Err(e) => panic!("{who}: {e}"),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut chunks = 20_000u64;
    let mut dir = std::env::temp_dir().join(format!("fanlog-durable-{}", std::process::id()));
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--chunks" => chunks = args.next().ok_or("--chunks N")?.parse()?,
            "--dir" => {
                dir = args.next().ok_or("--dir PATH")?.into();
                keep = true;
            }
            "--help" | "-h" => {
                println!("usage: durable [--chunks N] [--dir PATH]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let opts = OpenOptions::new()
        .segment_size(256 << 10)
        .max_bytes(512 << 20)
        .sync(SyncPolicy::Interval(Duration::from_millis(50)));
    let crash_at = chunks * 6 / 10;

    // Phase 1: download until the crash, readers following live.
    let log = Log::open(&dir, &opts)?;
    let tail = Log::open(
        &dir,
        &OpenOptions::new()
            .read_only(true)
            .poll_interval(Duration::from_micros(200)),
    )?;
    let live = log.cursor(Start::Earliest)?;
    let other_process = tail.cursor(Start::Earliest)?;
    let mut indexer = log.cursor_named("indexer", Start::Earliest)?;
    indexer.set_auto_commit(true);
    let indexed_before = std::thread::spawn(move || {
        // The indexer handles the first third, then its process stops.
        let mut n = 0;
        while n < crash_at / 2 {
            let r = indexer.next().expect("indexer read");
            assert_eq!(r.data(), &chunk(r.seq())[..]);
            n += 1;
        }
        n // dropping the cursor auto-commits what it was handed
    });
    // A reader inside the downloader's process: it dies with it.
    let live_reader = std::thread::spawn(move || {
        let mut live = live;
        for seq in 0..crash_at {
            let r = live.next().expect("live read");
            assert_eq!((r.seq(), r.data()), (seq, &chunk(seq)[..]));
        }
        crash_at
    });
    let tail_reader = std::thread::spawn(move || drain(other_process, 0, "tailing reader"));
    let producer = log.producer();
    for seq in 0..crash_at {
        assert_eq!(producer.append(&chunk(seq))?, seq);
    }
    let indexed = indexed_before.join().expect("indexer");
    let live_n = live_reader.join().expect("live reader");
    println!(
        "phase 1: appended {crash_at} chunks; the live reader read {live_n}, the indexer handled {indexed}; then the downloader dies"
    );
    drop(producer);
    drop(log); // no close: the process is gone; the readers keep waiting

    // Phase 2: the restarted downloader.
    let log = Log::open(&dir, &opts)?;
    let r = log.recovery().expect("durable");
    println!(
        "phase 2: reopened in {:?}: {} segments, records {}..{}, scanned {} from checkpoint {:?}, dropped {} torn",
        r.elapsed, r.segments, r.first_seq, r.next_seq, r.scanned_records, r.checkpoint_seq, r.dropped_records
    );
    assert_eq!(r.next_seq, crash_at, "every acknowledged chunk survives");
    let indexer = log.cursor_named("indexer", Start::Earliest)?;
    assert_eq!(
        indexer.position(),
        indexed,
        "the indexer resumes where it stopped"
    );
    let resumed = std::thread::spawn(move || drain(indexer, indexed, "indexer"));
    let producer = log.producer();
    for seq in crash_at..chunks {
        assert_eq!(producer.append(&chunk(seq))?, seq);
    }
    log.close(CloseStatus::error(104, "connection reset by peer"));

    // Every reader saw every chunk, then the downloader's error.
    let (tail_n, tail_s) = tail_reader.join().expect("tailing reader");
    let (idx_n, idx_s) = resumed.join().expect("indexer");
    println!("tailing reader (read-only open): {tail_n} chunks, then {tail_s}");
    println!("indexer (resumed): {idx_n} chunks, then {idx_s}");
    assert_eq!(
        tail_n, chunks,
        "the tailing reader follows across the restart"
    );
    assert_eq!(idx_n, chunks - indexed);
    assert_eq!(tail_s.code(), 104);
    assert_eq!(idx_s.code(), 104);
    drop(log);
    drop(tail);
    if !keep {
        std::fs::remove_dir_all(&dir)?;
    }
    println!("VERIFIED: {chunks} chunks, no reader blocked or missed a chunk across a crash and an early close");
    Ok(())
}
