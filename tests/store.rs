//! Durable log: open, append, reopen, recovery outcomes, named cursors.
#![cfg(not(fanlog_loom))]

use fanlog::{Log, OpenOptions, RecvError, Start, StoreError, SyncPolicy, Verify};
use std::path::PathBuf;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fanlog-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn opts() -> OpenOptions {
    OpenOptions::new().segment_size(4096).max_bytes(1 << 20)
}

fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut c = log.cursor(Start::Earliest).unwrap();
    let mut v = Vec::new();
    loop {
        match c.try_next() {
            Ok(r) => v.push((r.seq(), r.data().to_vec())),
            Err(RecvError::Empty) | Err(RecvError::Closed(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    v
}

fn rec(i: u64) -> Vec<u8> {
    let n = (i % 97) as usize;
    let mut v = i.to_le_bytes().to_vec();
    v.extend((0..n).map(|k| (i as usize + k) as u8));
    v
}

#[test]
fn reopen_finds_everything() {
    let dir = tmpdir("reopen");
    {
        let log = Log::open(&dir, &opts()).unwrap();
        for i in 0..1000 {
            assert_eq!(log.append(&rec(i)).unwrap(), i);
        }
    }
    let log = Log::open(&dir, &opts()).unwrap();
    let r = log.recovery().unwrap();
    assert_eq!(r.next_seq, 1000, "{r:?}");
    assert_eq!(r.dropped_records, 0);
    let all = read_all(&log);
    assert_eq!(all.len(), 1000);
    for (i, (seq, data)) in all.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(data, &rec(i as u64));
    }
    // Appends continue the sequence.
    assert_eq!(log.append(b"more").unwrap(), 1000);
    drop(log);
    let log = Log::open(&dir, &opts().verify(Verify::All)).unwrap();
    assert_eq!(read_all(&log).len(), 1001);
    drop(log); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flush_checkpoint_and_named_cursor() {
    let dir = tmpdir("named");
    {
        let log = Log::open(&dir, &opts().sync(SyncPolicy::EveryBatch)).unwrap();
        for i in 0..300 {
            log.append(&rec(i)).unwrap();
        }
        log.flush().unwrap();
        let mut c = log.cursor_named("billing", Start::Earliest).unwrap();
        for i in 0..120 {
            let r = c.try_next().unwrap();
            assert_eq!(r.seq(), i);
        }
        c.commit(99).unwrap();
        assert!(matches!(c.commit(500), Err(StoreError::NotRead { .. })));
        assert!(matches!(
            log.cursor_named("billing", Start::Earliest),
            Err(StoreError::CursorInUse(_))
        ));
    }
    let log = Log::open(&dir, &opts()).unwrap();
    assert_eq!(log.recovery().unwrap().checkpoint_seq, Some(300));
    let mut c = log.cursor_named("billing", Start::Earliest).unwrap();
    assert_eq!(c.try_next().unwrap().seq(), 100);
    assert_eq!(
        log.named_cursors(),
        vec![("billing".to_string(), Some(100))]
    );
    drop((c, log)); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn second_writer_is_refused() {
    let dir = tmpdir("lock");
    let _log = Log::open(&dir, &opts()).unwrap();
    assert!(matches!(
        Log::open(&dir, &opts()),
        Err(StoreError::Locked { .. })
    ));
    drop(_log); // the last handle: the store stops touching the directory
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tail_from_read_only_open() {
    let dir = tmpdir("tail");
    let log = Log::open(&dir, &opts()).unwrap();
    log.append(b"first").unwrap();
    let ro = Log::open(
        &dir,
        &opts()
            .read_only(true)
            .poll_interval(std::time::Duration::from_micros(100)),
    )
    .unwrap();
    let mut c = ro.cursor(Start::Earliest).unwrap();
    assert_eq!(c.next().unwrap().data(), b"first");
    let w = std::thread::spawn(move || {
        for i in 0..2000 {
            log.append(&rec(i)).unwrap();
        }
        log.close(fanlog::CloseStatus::error(3, "done here"));
    });
    for i in 0..2000 {
        let r = c.next_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(r.seq(), i + 1);
        assert_eq!(r.data(), &rec(i)[..]);
    }
    match c.next_timeout(std::time::Duration::from_secs(10)) {
        Err(RecvError::Closed(s)) => assert_eq!((s.code(), s.message()), (3, "done here")),
        other => panic!("{other:?}"),
    }
    w.join().unwrap();
    assert!(matches!(
        ro.append(b"x"),
        Err(fanlog::AppendError::ReadOnly)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Dropping the last handle of a durable log ends it at once: the directory
/// lock is free and the background thread is gone, even when segments it
/// trimmed a moment ago are still waiting for their epoch grace period.
#[test]
fn last_handle_drop_releases_the_directory_at_once() {
    use std::os::fd::AsRawFd;
    let dir = tmpdir("last-drop");
    // Another thread stays pinned (as any other epoch user of the process
    // may be), so the trimmed segments' grace period cannot end.
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let pinner = std::thread::spawn(move || {
        let _guard = crossbeam_epoch::pin();
        pinned_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    pinned_rx.recv().unwrap();
    let mut oldest = 0;
    for round in 0..3 {
        let o = opts()
            .max_bytes(16 << 10)
            .overflow(fanlog::OverflowPolicy::DropOldest);
        let log = Log::open(&dir, &o).unwrap();
        // What was trimmed stays trimmed: its files were deleted when the
        // head moved past them, not when their recycling (still held back
        // by the pinned thread) runs.
        assert!(
            log.recovery().unwrap().first_seq >= oldest,
            "round {round}: {:?} reopened trimmed segments (oldest was {oldest})",
            log.recovery()
        );
        let p = log.producer();
        // A cursor that never reads: DropOldest evicts under it.
        let c = log.cursor(Start::Latest).unwrap();
        for i in 0..400 {
            p.append(&rec(i)).unwrap();
        }
        oldest = log.stats().oldest_seq;
        assert!(oldest > 0, "round {round}: nothing was trimmed");
        drop((c, p, log));
        // No epoch turn, no sleep: the lock must already be free.
        let f = std::fs::File::open(dir.join("LOCK")).unwrap();
        // SAFETY: plain syscall on an fd we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, 0, "round {round}: the dropped log still holds its lock");
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        // The spare segment file went with it.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with("spare")),
            "round {round}: {names:?}"
        );
    }
    done_tx.send(()).unwrap();
    pinner.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Refused calls leave the directory as it was: an open of a new log with
/// bad options creates nothing, and a named cursor that cannot start where
/// asked leaves no cursor file.
#[test]
fn refused_calls_create_nothing() {
    let dir = tmpdir("refused");
    for bad in [
        OpenOptions::new().segment_size(1000),
        OpenOptions::new().segment_size(4096).max_bytes(4096),
        OpenOptions::new()
            .segment_size(4096)
            .max_bytes(1 << 20)
            .retain_bytes(2 << 20),
    ] {
        assert!(matches!(Log::open(&dir, &bad), Err(StoreError::Config(_))));
        assert!(!dir.exists(), "a refused open created {}", dir.display());
    }
    let log = Log::open(&dir, &opts()).unwrap();
    log.append(b"one").unwrap();
    for at in [100, 1] {
        // 100: not appended yet; 1: the next one, fine.
        let r = log.cursor_named("fut", Start::At(at));
        if at == 100 {
            assert!(matches!(r, Err(StoreError::Start(_))), "{:?}", r.err());
            assert!(!log.remove_cursor("fut").unwrap(), "a cursor file was left");
        } else {
            drop(r.unwrap());
            assert!(log.remove_cursor("fut").unwrap());
        }
    }
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A name is open at most once per process, through whichever handle of
/// the directory (the writer's or a read-only one), and cannot be removed
/// through another handle while open.
#[test]
fn named_cursor_in_use_across_handles() {
    let dir = tmpdir("named-handles");
    let w = Log::open(&dir, &opts()).unwrap();
    w.append(b"one").unwrap();
    let ro = Log::open(&dir, &OpenOptions::new().read_only(true)).unwrap();
    let c = w.cursor_named("worker", Start::Earliest).unwrap();
    assert!(matches!(
        ro.cursor_named("worker", Start::Earliest),
        Err(StoreError::CursorInUse(_))
    ));
    assert!(matches!(
        ro.remove_cursor("worker"),
        Err(StoreError::CursorInUse(_))
    ));
    drop(c);
    let c = ro.cursor_named("worker", Start::Earliest).unwrap();
    assert!(matches!(
        w.cursor_named("worker", Start::Earliest),
        Err(StoreError::CursorInUse(_))
    ));
    assert!(matches!(
        w.remove_cursor("worker"),
        Err(StoreError::CursorInUse(_))
    ));
    drop(c);
    assert!(w.remove_cursor("worker").unwrap());
    drop((ro, w));
    std::fs::remove_dir_all(&dir).unwrap();
}
