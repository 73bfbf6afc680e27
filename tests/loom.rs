//! Loom models of fanlog's concurrent protocols. Run with `bash .ci/loom`
//! (which sets `--cfg fanlog_loom --cfg crossbeam_loom` and
//! `LOOM_MAX_PREEMPTIONS=3`). Each model is tiny: 256-byte segments, two or
//! three threads, a handful of records.
//!
//! Three preemptions by default: two missed a real bug in the producer
//! bias's fast path (see `bias_owner_vs_second_producer`). Three models
//! stay at two ([`model_at_most`]): at three, each ran past 4 minutes.
#![cfg(fanlog_loom)]

use fanlog::{AppendError, CloseStatus, Log, OverflowPolicy, RecvError, Start};
use loom::thread;

/// Hub models: publish vs subscribe/unsubscribe, overflow policies, close vs
/// drain vs blocked receiver, blocked publisher vs close, interrupt.
#[path = "loom_models/hub.rs"]
mod hub;
/// Snapshot models: store/update vs load vs `wait_newer`.
#[path = "loom_models/snapshot.rs"]
mod snapshot;

/// Runs `f` like `loom::model`, with at most `bound` preemptions (fewer if
/// `LOOM_MAX_PREEMPTIONS` says so): for the models whose state space
/// explodes at the suite's bound.
fn model_at_most<F>(bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(bound, |b| b.min(bound)));
    builder.check(f);
}

/// 100-byte payloads take a 128-byte frame: two per 256-byte segment, so a
/// third append seals the segment and links the next.
fn rec(producer: u8, n: u8) -> Vec<u8> {
    let mut v = vec![producer; 100];
    v[0] = producer;
    v[1] = n;
    v
}

/// 200-byte payloads fill a 256-byte segment alone: every append after the
/// first seals a segment and links the next.
fn big(n: u8) -> Vec<u8> {
    let mut v = vec![n; 200];
    v[1] = n;
    v
}

fn small_log(segments: usize, policy: OverflowPolicy) -> Log {
    Log::builder()
        .segment_size(256)
        .max_bytes(256 * segments)
        .overflow(policy)
        .pool_segments(1)
        .build()
        .unwrap()
}

/// Drains a cursor without blocking; returns (seq, producer, n) triples.
fn drain(c: &mut fanlog::Cursor) -> Vec<(u64, u8, u8)> {
    drain_with(c, 0)
}

/// As `drain`, with batch reads of up to `batch` records (0: single reads).
fn drain_with(c: &mut fanlog::Cursor, batch: usize) -> Vec<(u64, u8, u8)> {
    fn check(r: fanlog::Record<'_>) -> (u64, u8, u8) {
        let d = r.data();
        assert_eq!(d.len(), 100);
        assert!(d[2..].iter().all(|&b| b == d[0]), "torn payload");
        (r.seq(), d[0], d[1])
    }
    let mut out = Vec::new();
    loop {
        let got = if batch > 0 {
            c.try_next_batch(batch).map(|b| out.extend(b.map(check)))
        } else {
            c.try_next().map(|r| out.push(check(r)))
        };
        match got {
            Ok(()) => {}
            Err(RecvError::Empty) | Err(RecvError::Closed(_)) => return out,
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

/// reserve / commit / seal / link with two producers: three records from
/// two threads cross a segment boundary; the sequence is gap-free and each
/// producer's order is kept.
#[test]
fn reserve_commit_seal_link_two_producers() {
    loom::model(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let p1 = log.producer();
        let t = thread::spawn(move || {
            p1.append(&rec(1, 0)).unwrap();
            p1.append(&rec(1, 1)).unwrap();
        });
        log.append(&rec(2, 0)).unwrap();
        t.join().unwrap();
        let got = drain(&mut c);
        assert_eq!(got.len(), 3);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.0, i as u64, "gap-free sequence");
        }
        let ones: Vec<u8> = got.iter().filter(|g| g.1 == 1).map(|g| g.2).collect();
        assert_eq!(ones, vec![0, 1], "per-producer order");
    });
}

/// read vs commit: a reader polling concurrently never sees a record
/// before its commit (loom checks the payload cells), and sees them in order.
#[test]
fn read_vs_commit() {
    read_vs_commit_with(0);
}

/// batch read vs commit: the same through batch reads, whose loop checks
/// each commit word itself.
#[test]
fn batch_read_vs_commit() {
    read_vs_commit_with(4);
}

fn read_vs_commit_with(batch: usize) {
    loom::model(move || {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let l2 = log.clone();
        let t = thread::spawn(move || {
            l2.append(&rec(1, 0)).unwrap();
            l2.append(&rec(1, 1)).unwrap();
        });
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.extend(drain_with(&mut c, batch));
            thread::yield_now();
        }
        t.join().unwrap();
        seen.extend(drain_with(&mut c, batch));
        assert_eq!(seen, vec![(0, 1, 0), (1, 1, 1)]);
    });
}

/// wait vs notify: a reader blocked in `next` (untimed) is always woken by
/// the append (loom reports a deadlock on a lost wake-up).
#[test]
fn wait_vs_notify() {
    loom::model(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Latest).unwrap();
        let t = thread::spawn(move || {
            let r = c.next().unwrap();
            (r.seq(), r.data()[1])
        });
        log.append(&rec(1, 7)).unwrap();
        assert_eq!(t.join().unwrap(), (0, 7));
    });
}

/// wake once vs re-arm: the first append's wake clears the armed bit, the
/// second append skips the wake unless the reader armed it again; the reader
/// blocks for both records and must get both (a waiter that re-arms after
/// the clear has to see the record stored before it, or it sleeps forever).
#[test]
fn wake_once_vs_rearm() {
    loom::model(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Latest).unwrap();
        let t = thread::spawn(move || {
            let a = c.next().unwrap().data()[1];
            let b = c.next().unwrap().data()[1];
            (a, b)
        });
        log.append(&rec(1, 1)).unwrap();
        log.append(&rec(1, 2)).unwrap();
        assert_eq!(t.join().unwrap(), (1, 2));
    });
}

/// producer bias vs a second producer: the main thread claims the bias
/// with its first append and appends its second with a plain store while
/// another thread's append revokes the bias; the sequence stays gap-free,
/// every record is intact and each producer's order is kept.
///
/// At least three preemptions, even if `LOOM_MAX_PREEMPTIONS` asks for
/// fewer: the owner's inlined fast path
/// (`Bias::try_owned`) must be preempted between its first check of the
/// owner and its `busy` store for the revoker to run in between; with two,
/// a fast path without its re-check after the fence passed.
#[test]
fn bias_owner_vs_second_producer() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(0).max(3));
    builder.check(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let l2 = log.clone();
        log.append(&rec(1, 0)).unwrap();
        let t = thread::spawn(move || l2.append(&rec(2, 0)).unwrap());
        log.append(&rec(1, 1)).unwrap();
        t.join().unwrap();
        log.append(&rec(1, 2)).unwrap(); // after the revocation: RMW path
        let got = drain(&mut c);
        assert_eq!(got.len(), 4);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.0, i as u64, "gap-free sequence");
        }
        let ones: Vec<u8> = got.iter().filter(|g| g.1 == 1).map(|g| g.2).collect();
        assert_eq!(ones, vec![0, 1, 2], "per-producer order");
    });
}

/// producer bias vs close: the owner's plain append races `close` (which
/// revokes the bias before setting the CLOSED bit) and a reader blocked at
/// that record; the append either lands (and the reader gets it before
/// `Closed`) or fails with `Closed` (and the reader gets `Closed`).
///
/// Two preemptions: at three it ran past 4 minutes.
#[test]
fn bias_owner_vs_close() {
    model_at_most(2, || {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        log.append(&rec(1, 0)).unwrap(); // claims the bias
        assert_eq!(c.next().unwrap().seq(), 0);
        // The reader waits at seq 1 while the append and the close race: it
        // must not be told `Closed` before a record that was appended.
        let reader = thread::spawn(move || match c.next() {
            Ok(r) => {
                assert_eq!(r.seq(), 1);
                assert_eq!(c.next().unwrap_err(), RecvError::Closed(CloseStatus::Ok));
                1
            }
            Err(RecvError::Closed(CloseStatus::Ok)) => 0,
            Err(e) => panic!("{e}"),
        });
        let l2 = log.clone();
        let t = thread::spawn(move || l2.close(CloseStatus::Ok));
        let r = log.append(&rec(1, 1));
        assert!(t.join().unwrap());
        let got = reader.join().unwrap();
        match r {
            Ok(1) => assert_eq!(got, 1, "an appended record was not delivered"),
            Err(AppendError::Closed(_)) => assert_eq!(got, 0),
            other => panic!("{other:?}"),
        }
    });
}

/// close vs drain vs blocked waiter: the reader gets every record committed
/// before the close, then exactly the close status.
#[test]
fn close_vs_drain_vs_blocked_reader() {
    loom::model(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let t = thread::spawn(move || {
            let mut n = 0;
            loop {
                match c.next() {
                    Ok(r) => {
                        assert_eq!(r.seq(), n);
                        n += 1;
                    }
                    Err(RecvError::Closed(s)) => return (n, s),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let l2 = log.clone();
        let p = thread::spawn(move || l2.append(&rec(1, 0)).is_ok());
        let appended = p.join().unwrap();
        log.close(CloseStatus::error(5, "done"));
        let (n, s) = t.join().unwrap();
        assert_eq!(n, appended as u64);
        assert_eq!(s, CloseStatus::error(5, "done"));
    });
}

/// close racing an append: the append either succeeds (and is delivered)
/// or fails with `Closed`; nothing in between.
#[test]
fn close_vs_append() {
    loom::model(|| {
        let log = small_log(4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let l2 = log.clone();
        let t = thread::spawn(move || l2.append(&rec(1, 0)));
        log.close(CloseStatus::Ok);
        let r = t.join().unwrap();
        let got = drain(&mut c);
        match r {
            Ok(0) => assert_eq!(got.len(), 1),
            Err(AppendError::Closed(_)) => assert!(got.is_empty()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.try_next().unwrap_err(),
            RecvError::Closed(CloseStatus::Ok)
        );
    });
}

/// reclaim vs slow reader: under `DropOldest` a producer evicts the segment
/// a reader is in; the reader never sees recycled memory, and what it reads
/// plus what it is told it missed adds up.
///
/// Two preemptions: at three it ran past 4 minutes.
#[test]
fn reclaim_vs_slow_reader() {
    model_at_most(2, || {
        let log = small_log(2, OverflowPolicy::DropOldest);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let t = thread::spawn(move || {
            let (mut read, mut missed) = (0u64, 0u64);
            let mut expect = 0u64;
            loop {
                match c.next() {
                    Ok(r) => {
                        assert_eq!(r.seq(), expect);
                        assert_eq!(r.data().len(), 200);
                        assert_eq!(r.data()[1] as u64, r.seq(), "recycled memory read");
                        assert_eq!(r.data()[199] as u64, r.seq(), "recycled memory read");
                        expect += 1;
                        read += 1;
                    }
                    Err(RecvError::Lagged { missed: m }) => {
                        missed += m;
                        expect += m;
                    }
                    Err(RecvError::Closed(_)) => return read + missed,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        for i in 0..3u8 {
            log.append(&big(i)).unwrap();
        }
        log.close(CloseStatus::Ok);
        assert_eq!(t.join().unwrap(), 3);
    });
}

/// A producer blocked on a full budget (`Block`) is released when the slow
/// cursor holding the oldest segment is dropped: no deadlock.
#[test]
fn blocked_producer_vs_cursor_drop() {
    loom::model(|| {
        let log = small_log(2, OverflowPolicy::Block);
        let c = log.cursor(Start::Earliest).unwrap();
        let l2 = log.clone();
        let t = thread::spawn(move || {
            for i in 0..3u8 {
                l2.append(&big(i)).unwrap();
            }
        });
        drop(c);
        t.join().unwrap();
        assert_eq!(log.next_seq(), 3);
    });
}

/// Pin-free appends vs segment recycling: a producer that read the tail
/// pointer may reserve after that segment was sealed, retired, zeroed and
/// reused (no cursor, no retention: segments recycle at once). Its
/// reservation must either fail (old life, sealed) or land in the new life
/// with that life's base; its payload writes must not race the zeroing
/// (loom checks the frame cells); sequence numbers stay unique and gap-free.
///
/// Two preemptions: at three it ran past 4 minutes.
#[test]
fn pin_free_append_vs_recycle() {
    model_at_most(2, || {
        let log = small_log(2, OverflowPolicy::Block);
        let p1 = log.producer();
        let t = thread::spawn(move || p1.append(&big(9)).unwrap());
        let mut seqs = vec![];
        for i in 0..2u8 {
            seqs.push(log.append(&big(i)).unwrap());
        }
        seqs.push(t.join().unwrap());
        seqs.sort_unstable();
        assert_eq!(seqs, vec![0, 1, 2], "unique, gap-free sequence numbers");
        assert_eq!(log.next_seq(), 3);
        // The newest record is intact and carries its own sequence number.
        let mut c = log.cursor(Start::At(2)).unwrap();
        let r = c.try_next().unwrap();
        assert_eq!(r.seq(), 2);
        assert!(r.data().iter().skip(2).all(|&b| b == r.data()[1]), "torn");
    });
}
