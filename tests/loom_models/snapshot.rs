//! Loom models of `Snapshot`: store vs `wait_newer` (no lost wake-up),
//! concurrent updates vs load (no lost update, versions match values).

use fanlog::Snapshot;
use loom::sync::Arc;
use loom::thread;

/// A waiter that finds nothing newer and goes to sleep is always woken by
/// a concurrent store.
#[test]
fn snapshot_store_vs_wait_newer() {
    loom::model(|| {
        let snap = Arc::new(Snapshot::new(0u32));
        let s = snap.clone();
        let writer = thread::spawn(move || s.store(1));
        let (value, version) = snap.wait_newer_forever(0).unwrap();
        assert_eq!((*value, version), (1, 1));
        assert_eq!(writer.join().unwrap(), 1);
    });
}

/// Two RCU updates and a reader: no update is lost, every value the reader
/// sees carries its own version, and versions only grow.
#[test]
fn snapshot_update_vs_update_vs_load() {
    loom::model(|| {
        let snap = Arc::new(Snapshot::new(0u64));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let s = snap.clone();
                thread::spawn(move || s.update(|v| v + 1))
            })
            .collect();
        let mut last = 0;
        for _ in 0..2 {
            let g = snap.load();
            assert_eq!(*g, g.version());
            assert!(g.version() >= last);
            last = g.version();
        }
        let mut versions: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        versions.sort_unstable();
        assert_eq!(versions, [1, 2]);
        assert_eq!((*snap.load(), snap.version()), (2, 2));
    });
}

/// A waiter racing two stores returns a value newer than what it asked
/// for, consistent with its version, and is never left asleep.
#[test]
fn snapshot_two_stores_vs_wait_newer() {
    loom::model(|| {
        let snap = Arc::new(Snapshot::new(0u64));
        let s = snap.clone();
        let writer = thread::spawn(move || {
            s.store(1);
            s.store(2);
        });
        let (value, version) = snap.wait_newer_forever(0).unwrap();
        assert!(version >= 1);
        assert_eq!(*value, version);
        let (value, version) = snap.wait_newer_forever(1).unwrap();
        assert_eq!((*value, version), (2, 2));
        writer.join().unwrap();
    });
}
