//! A full disk (here: a file-size limit, `RLIMIT_FSIZE`, which makes the
//! preallocation of a new segment file fail with `EFBIG` exactly as a full
//! disk makes it fail with `ENOSPC`) gives a clear error when a segment is
//! created — never a `SIGBUS` — and loses nothing: every record appended
//! before stays readable, and appends succeed again once there is room.
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
    match log.append(&rec) {
        Err(AppendError::Io(msg)) => {
            assert!(msg.contains("cannot create segment file"), "{msg}");
            assert!(msg.contains(".seg"), "the message names the file: {msg}");
            eprintln!("full disk error: {msg}");
        }
        other => panic!("expected AppendError::Io, got {other:?}"),
    }
    // Retrying while still full fails the same way, appending nothing.
    assert!(matches!(log.append(&rec), Err(AppendError::Io(_))));
    assert_eq!(log.next_seq(), n);
    // Everything appended before is intact.
    let mut c = log.cursor(Start::Earliest).unwrap();
    for i in 0..n {
        let r = c.try_next().unwrap();
        assert_eq!((r.seq(), r.data()), (i, &rec[..]));
    }
    assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
    // Room again: appends continue at the next sequence number.
    set_fsize_limit(libc::RLIM_INFINITY);
    assert_eq!(log.append(&rec).unwrap(), n);
    assert_eq!(c.next().unwrap().seq(), n);
    println!("CHILD OK");
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
    // Reopening finds every record, and no stray temporary file is left.
    let log = Log::open(&dir, &OpenOptions::new()).unwrap();
    let per_segment = (SEGMENT / 1032) as u64;
    assert_eq!(log.recovery().unwrap().next_seq, per_segment + 1);
    drop(log);
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
