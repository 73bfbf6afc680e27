//! Tailing a durable log from another process: a writer child (this test
//! binary, re-run in child mode) appends records across several segment
//! rolls and closes with an error status; the parent, opened read-only
//! before the writer appended anything, must see exactly the records the
//! writer wrote, in order, then `Closed` with the writer's status.
#![cfg(not(fanlog_loom))]

use fanlog::{CloseStatus, Log, OpenOptions, RecvError, Start, StoreError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Child mode: the log directory.
const CHILD_DIR: &str = "FANLOG_TAIL_CHILD";
const RECORDS: u64 = 1500;
const SEGMENT: usize = 8 * 1024;

fn payload(seq: u64) -> Vec<u8> {
    let n = (seq.wrapping_mul(7919) % 200) as usize;
    (0..n).map(|k| (seq as usize ^ (k * 13)) as u8).collect()
}

/// Child mode: create the log, wait for the reader, append, close.
fn writer(dir: &Path) -> ! {
    let log = Log::open(
        dir,
        &OpenOptions::new().segment_size(SEGMENT).max_bytes(1 << 26),
    )
    .unwrap();
    let go = dir.join("reader-ready");
    let t = Instant::now();
    while !go.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no reader");
        std::thread::sleep(Duration::from_millis(1));
    }
    let p = log.producer();
    let mut seq = 0;
    while seq < RECORDS {
        if seq % 7 == 3 {
            let n = 5.min(RECORDS - seq);
            let batch: Vec<Vec<u8>> = (seq..seq + n).map(payload).collect();
            assert_eq!(p.append_batch(0, &batch).unwrap(), seq);
            seq += n;
        } else {
            assert_eq!(p.append(&payload(seq)).unwrap(), seq);
            seq += 1;
        }
        if seq % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1)); // let the reader park
        }
    }
    log.close(CloseStatus::error(7, "writer finished"));
    drop(log);
    std::process::exit(0);
}

fn spawn_writer(test: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Opens `dir` read-only, retrying while the writer has not created it yet:
/// a read-only open of a missing directory is `Io` (not found), of a
/// directory without a segment file `Format`.
fn open_when_created(dir: &Path) -> Log {
    let opts = OpenOptions::new()
        .read_only(true)
        .poll_interval(Duration::from_micros(200));
    let t = Instant::now();
    loop {
        match Log::open(dir, &opts) {
            Ok(log) => return log,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(StoreError::Format { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "writer never created the log"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fanlog-tail-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn check_closed(r: Result<fanlog::Record<'_>, RecvError>) {
    match r {
        Err(RecvError::Closed(s)) => {
            assert_eq!((s.code(), s.message()), (7, "writer finished"));
        }
        Err(e) => panic!("expected Closed, got {e}"),
        Ok(rec) => panic!("expected Closed, got record {}", rec.seq()),
    }
}

#[test]
fn tail_another_process_with_next_timeout() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        writer(Path::new(&dir));
    }
    let dir = tmpdir("timeout");
    let mut child = spawn_writer("tail_another_process_with_next_timeout", &dir);
    let log = open_when_created(&dir);
    let mut c = log.cursor(Start::Earliest).unwrap();
    std::fs::write(dir.join("reader-ready"), b"").unwrap();
    for seq in 0..RECORDS {
        let r = c
            .next_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("at {seq}: {e}"));
        assert_eq!((r.seq(), r.data()), (seq, &payload(seq)[..]));
    }
    check_closed(c.next_timeout(Duration::from_secs(20)));
    check_closed(c.try_next());
    assert!(child.wait().unwrap().success());
    assert!(log.recovery().unwrap().corruption.is_none());
    drop((c, log));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tail_another_process_with_readiness_fd() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        writer(Path::new(&dir));
    }
    let dir = tmpdir("poll");
    let mut child = spawn_writer("tail_another_process_with_readiness_fd", &dir);
    let log = open_when_created(&dir);
    let mut c = log.cursor(Start::Earliest).unwrap();
    let fd = c.readiness_fd().unwrap();
    std::fs::write(dir.join("reader-ready"), b"").unwrap();
    let mut seq = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, the fd is owned by the live cursor.
        let n = unsafe { libc::poll(&mut p, 1, 1000) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        assert!(Instant::now() < deadline, "stuck at {seq}");
        loop {
            match c.try_next() {
                Ok(r) => {
                    assert_eq!((r.seq(), r.data()), (seq, &payload(seq)[..]));
                    seq += 1;
                }
                Err(RecvError::Empty) => break,
                r => {
                    assert_eq!(seq, RECORDS, "closed early");
                    check_closed(r);
                    assert!(child.wait().unwrap().success());
                    drop((c, log));
                    std::fs::remove_dir_all(&dir).unwrap();
                    return;
                }
            }
        }
    }
}
