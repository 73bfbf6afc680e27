//! Close: idempotent, status seen by every cursor after it drains, wakes
//! blocked producers and readers.

use fanlog::{AppendError, CloseStatus, Log, RecvError, Start};
use std::thread;
use std::time::Duration;

#[test]
fn every_cursor_drains_then_sees_status() {
    let log = Log::builder().segment_size(512).build().unwrap();
    let mut cs: Vec<_> = (0..3)
        .map(|_| log.cursor(Start::Earliest).unwrap())
        .collect();
    for i in 0..100u32 {
        log.append(&i.to_le_bytes()).unwrap();
    }
    let status = CloseStatus::error(42, "upstream failed");
    assert!(log.close(status.clone()));
    assert!(!log.close(CloseStatus::Ok), "second close is a no-op");
    assert_eq!(log.close_status(), Some(status.clone()));
    assert_eq!(log.append(b"x"), Err(AppendError::Closed(status.clone())));
    for c in &mut cs {
        for i in 0..100u32 {
            assert_eq!(c.next().unwrap().data(), &i.to_le_bytes());
        }
        assert_eq!(c.next().unwrap_err(), RecvError::Closed(status.clone()));
        assert_eq!(c.try_next().unwrap_err(), RecvError::Closed(status.clone()));
    }
    // A cursor created after close sees the retained records, then Closed.
    let mut late = log.cursor(Start::Latest).unwrap();
    assert_eq!(late.try_next().unwrap_err(), RecvError::Closed(status));
}

#[test]
fn close_wakes_blocked_reader_and_producer() {
    let log = Log::builder()
        .segment_size(256)
        .max_bytes(512)
        .build()
        .unwrap();
    let mut c = log.cursor(Start::Latest).unwrap();
    let r = thread::spawn(move || c.next().map(|r| r.seq()));
    // Fill the budget so a producer blocks (the cursor above holds it).
    let holder = log.cursor(Start::Earliest).unwrap();
    let p = log.producer();
    let pt = thread::spawn(move || loop {
        if let Err(e) = p.append(&[0u8; 64]) {
            return e;
        }
    });
    thread::sleep(Duration::from_millis(50));
    log.close(CloseStatus::Ok);
    let first = r.join().unwrap();
    assert!(first.is_ok() || first == Err(RecvError::Closed(CloseStatus::Ok)));
    assert_eq!(pt.join().unwrap(), AppendError::Closed(CloseStatus::Ok));
    drop(holder);
}

#[test]
fn close_during_concurrent_appends_loses_nothing_committed() {
    for _ in 0..20 {
        let log = Log::builder().segment_size(1024).build().unwrap();
        let mut c = log.cursor(Start::Earliest).unwrap();
        let ps: Vec<_> = (0..3)
            .map(|_| {
                let p = log.producer();
                thread::spawn(move || {
                    let mut ok = 0u64;
                    while p.append(&[7u8; 16]).is_ok() {
                        ok += 1;
                    }
                    ok
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(2));
        log.close(CloseStatus::error(1, "stop"));
        let appended: u64 = ps.into_iter().map(|t| t.join().unwrap()).sum();
        let mut read = 0u64;
        loop {
            match c.next() {
                Ok(r) => {
                    assert_eq!(r.seq(), read);
                    read += 1;
                }
                Err(RecvError::Closed(s)) => {
                    assert_eq!(s.code(), 1);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            read, appended,
            "every successful append is delivered, nothing more"
        );
    }
}

#[test]
fn interrupt_and_timeouts() {
    let log = Log::new();
    let mut c = log.cursor(Start::Latest).unwrap();
    assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
    assert_eq!(
        c.next_timeout(Duration::from_millis(10)).unwrap_err(),
        RecvError::Timeout
    );
    let w = c.waker();
    w.interrupt(); // sticky: the next blocking call returns at once
    assert_eq!(c.next().unwrap_err(), RecvError::Interrupted);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        w.interrupt();
    });
    assert_eq!(c.next().unwrap_err(), RecvError::Interrupted);
    t.join().unwrap();
    log.append(b"after").unwrap();
    assert_eq!(c.next().unwrap().data(), b"after");
}

#[test]
fn readiness_fd_is_level_triggered() {
    fn readable(fd: i32, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    }
    let log = Log::new();
    let mut c = log.cursor(Start::Latest).unwrap();
    let fd = c.readiness_fd().unwrap();
    assert!(!readable(fd, 0));
    log.append(b"a").unwrap();
    assert!(readable(fd, 1000));
    assert!(readable(fd, 0), "stays readable while data is there");
    assert_eq!(c.try_next().unwrap().data(), b"a");
    assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
    assert!(!readable(fd, 0), "re-armed after Empty");
    // From another thread, while we poll.
    let l2 = log.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        l2.append(b"b").unwrap();
    });
    assert!(readable(fd, 5000));
    assert_eq!(c.try_next().unwrap().data(), b"b");
    t.join().unwrap();
    assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
    log.close(CloseStatus::Ok);
    assert!(readable(fd, 1000), "close makes it readable");
    assert_eq!(
        c.try_next().unwrap_err(),
        RecvError::Closed(CloseStatus::Ok)
    );
}

/// Ping-pong between two threads over two logs: every round trip needs a
/// wake-up (readers are usually parked when the record arrives). A lost
/// wake-up shows as a 10 s timeout.
#[test]
fn ping_pong_never_loses_a_wake_up() {
    let rounds: u64 = if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    };
    let ping = Log::new();
    let pong = Log::new();
    let mut ping_c = ping.cursor(Start::Earliest).unwrap();
    let mut pong_c = pong.cursor(Start::Earliest).unwrap();
    let (ping2, pong2) = (ping.clone(), pong.clone());
    let t = thread::spawn(move || {
        for i in 0..rounds {
            let r = ping_c
                .next_timeout(Duration::from_secs(10))
                .expect("lost wake-up (ping)");
            assert_eq!(r.seq(), i);
            pong2.append(b"pong").unwrap();
        }
    });
    for i in 0..rounds {
        ping2.append(b"ping").unwrap();
        let r = pong_c
            .next_timeout(Duration::from_secs(10))
            .expect("lost wake-up (pong)");
        assert_eq!(r.seq(), i);
    }
    t.join().unwrap();
}
