//! Behaviour of `Snapshot` and `BlobSnapshot`: lock-free loads, versions
//! that match values, RCU updates that are never lost, and `wait_newer`
//! without lost wake-ups.

use fanlog::{BlobSnapshot, RecvError, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn scale(n: u64) -> u64 {
    if cfg!(miri) {
        n / 1000 + 5
    } else if cfg!(debug_assertions) {
        n / 10
    } else {
        n
    }
}

/// A value always travels with its own version.
#[derive(Debug)]
struct Cfg {
    version: u64,
    body: Vec<u64>,
}

#[test]
fn readers_see_consistent_values_and_growing_versions() {
    let writes = scale(50_000);
    let snap = Snapshot::new(Cfg {
        version: 0,
        body: vec![0; 8],
    });
    let done = AtomicBool::new(false);
    thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Relaxed) {
                    let g = snap.load();
                    assert_eq!(g.version, g.version());
                    assert!(g.body.iter().all(|&x| x == g.version));
                    assert!(g.version() >= last);
                    last = g.version();
                }
            });
        }
        for v in 1..=writes {
            assert_eq!(
                snap.store(Cfg {
                    version: v,
                    body: vec![v; 8],
                }),
                v
            );
        }
        done.store(true, Ordering::Relaxed);
    });
    assert_eq!(snap.version(), writes);
}

#[test]
fn updates_under_contention_are_not_lost() {
    let per = scale(20_000);
    let snap = Snapshot::new(0u64);
    thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..per {
                    snap.update(|v| v + 1);
                }
            });
        }
    });
    assert_eq!(*snap.load(), 4 * per);
    assert_eq!(snap.version(), 4 * per);
}

/// Every waiter following the versions reaches the last one: a store
/// between a waiter's check and its sleep is never missed.
#[test]
fn wait_newer_never_misses_a_store() {
    let writes = scale(20_000);
    let snap = Arc::new(Snapshot::new(0u64));
    thread::scope(|sc| {
        for _ in 0..3 {
            let snap = snap.clone();
            sc.spawn(move || {
                let mut seen = 0;
                while seen < writes {
                    let (v, ver) = snap.wait_newer(seen, Duration::from_secs(30)).unwrap();
                    assert_eq!(*v, ver);
                    assert!(ver > seen);
                    seen = ver;
                }
            });
        }
        for v in 1..=writes {
            snap.store(v);
            if v % 64 == 0 {
                thread::yield_now();
            }
        }
    });
}

#[test]
fn wait_newer_times_out() {
    let snap = Snapshot::new("x");
    let t = std::time::Instant::now();
    assert_eq!(
        snap.wait_newer(0, Duration::from_millis(20)).unwrap_err(),
        RecvError::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        snap.wait_newer(5, Duration::ZERO).unwrap_err(),
        RecvError::Timeout
    );
}

#[test]
fn guards_keep_old_values_alive() {
    let snap = Snapshot::new(String::from("old"));
    let g = snap.load();
    let full = snap.load_full();
    snap.store(String::from("new"));
    assert_eq!((g.as_str(), g.version()), ("old", 0));
    assert_eq!(&*full, "old");
    assert_eq!(&*snap.load(), "new");
}

#[test]
fn blob_snapshot() {
    let blob = BlobSnapshot::from_bytes(b"");
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let r = blob.load_full();
            assert!(r.is_empty());
            r
        })
        .collect();
    assert_eq!(blob.store_bytes(b"\x01\x02\x03"), 1);
    assert_eq!(blob.store_arc(Arc::from(&b"four"[..])), 2);
    let (bytes, v) = blob.load_versioned();
    assert_eq!((&bytes[..], v), (&b"four"[..], 2));
    assert!(readers.iter().all(|r| r.is_empty()));
    let g = blob.load();
    assert_eq!(g.len(), 4);
}
