//! A full disk (here: a file-size limit, `RLIMIT_FSIZE`, which makes the
//! preallocation of a new segment file fail with `EFBIG` exactly as a full
//! disk makes it fail with `ENOSPC`) gives a clear error when a segment is
//! created — never a `SIGBUS` — and loses nothing: every record appended
//! before stays readable, and appends succeed again once there is room.
//!
//! The writer keeps a spare segment file made ahead of time (once the first
//! segment has filled). Under a full disk the spare still holds its
//! preallocated blocks, so the segment that takes it is fine; the error
//! comes at the first segment whose file cannot be created: with no spare
//! (the first phase), or the one after the spare (the second).
//!
//! The limit is per process, so the test runs in a re-executed child.
#![cfg(not(fanlog_loom))]

use fanlog::{AppendError, Log, OpenOptions, RecvError, Start};
use std::path::Path;
use std::process::Command;

const CHILD: &str = "FANLOG_FULL_CHILD";
const SEGMENT: usize = 64 * 1024;

fn set_fsize_limit(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
}

fn child(dir: &Path) {
    // SAFETY: ignoring SIGXFSZ (default action: kill) so that the limit
    // shows up as an error return, like a full disk does.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let log = Log::open(dir, &OpenOptions::new().segment_size(SEGMENT)).unwrap();
    let rec = [7u8; 1000];
    // Fill the first segment exactly up to the point where the next append
    // needs a new segment file.
    let mut n = 0u64;
    let per_segment = (SEGMENT / 1032) as u64; // 32-byte header + 1000 B, 8-aligned
    while n < per_segment {
        assert_eq!(log.append(&rec).unwrap(), n);
        n += 1;
    }
    // No room for another segment file.
    set_fsize_limit(4096);
    full_at(log.append(&rec), n, false);
    nothing_lost_then_resume(&log, n, &rec);
    n += 1;

    // Second phase: a segment switch happened, so the background thread
    // makes a spare. Fill the second segment up to its end and give the
    // spare time to be ready.
    while n < 2 * per_segment {
        assert_eq!(log.append(&rec).unwrap(), n);
        n += 1;
    }
    wait_for_spare(dir);
    set_fsize_limit(4096);
    // Append until the first segment file that cannot be created: the third
    // segment if the spare was not ready after all, else the fourth (the
    // third is the spare; the next spare cannot be made).
    let err = loop {
        match log.append(&rec) {
            Ok(seq) => {
                assert_eq!(seq, n);
                n += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(
        n == 2 * per_segment || n == 3 * per_segment,
        "error at {n}, not at a segment boundary it should be at"
    );
    full_at(Err(err), n, n == 3 * per_segment);
    nothing_lost_then_resume(&log, n, &rec);
    println!("CHILD OK {}", n + 1);
}

/// `r` is the full-disk error for the segment file starting at `n`.
fn full_at(r: Result<u64, AppendError>, n: u64, spare_used: bool) {
    match r {
        Err(AppendError::Io(msg)) => {
            assert!(msg.contains("cannot create segment file"), "{msg}");
            assert!(
                msg.contains(&format!("{n:020}.seg")),
                "the message names the file: {msg}"
            );
            eprintln!("full disk error at {n} (spare used: {spare_used}): {msg}");
        }
        other => panic!("expected AppendError::Io, got {other:?}"),
    }
}

/// Still full: retrying fails the same way and appends nothing; the `n`
/// records appended before are intact; once there is room again, appends
/// continue at `n`.
fn nothing_lost_then_resume(log: &Log, n: u64, rec: &[u8]) {
    assert!(matches!(log.append(rec), Err(AppendError::Io(_))));
    assert_eq!(log.next_seq(), n);
    let mut c = log.cursor(Start::Earliest).unwrap();
    for i in 0..n {
        let r = c.try_next().unwrap();
        assert_eq!((r.seq(), r.data()), (i, rec));
    }
    assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
    set_fsize_limit(libc::RLIM_INFINITY);
    assert_eq!(log.append(rec).unwrap(), n);
    assert_eq!(c.next().unwrap().seq(), n);
}

/// Waits (up to 5 s) until a spare segment file is fully allocated, then a
/// little longer for it to be handed over.
fn wait_for_spare(dir: &Path) {
    let full = (4096 + SEGMENT) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let ready = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name().to_string_lossy().starts_with("spare-")
                    && e.metadata().is_ok_and(|m| m.len() == full)
            });
        if ready {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
}

#[test]
fn full_disk_is_an_error_at_segment_creation() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
        return;
    }
    let dir = std::env::temp_dir().join(format!("fanlog-test-{}-full", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "full_disk_is_an_error_at_segment_creation",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("CHILD OK"),
        "child failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    // Reopening finds every record, and no stray temporary file is left
    // (nor the spare: dropping the log deletes it).
    let appended: u64 = stdout
        .split("CHILD OK ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the child reports how many records it appended");
    let log = Log::open(&dir, &OpenOptions::new()).unwrap();
    assert_eq!(log.recovery().unwrap().next_seq, appended);
    drop(log);
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
