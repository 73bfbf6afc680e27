//! Behaviour of the event fan-out hub: counting under stress, ordering,
//! unsubscribe, close, panicking predicates, interrupts and readiness fds.

use fanlog::hub::{Filter, Hub, HubOverflow, SubscribeOptions, PREDICATE_PANICKED};
use fanlog::{AppendError, CloseStatus, Event, RecvError, Subscription};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Events published in the stress test: 1 M in release builds, fewer in
/// debug and under Miri; `FANLOG_HUB_STRESS_EVENTS` overrides.
fn stress_events() -> u64 {
    if let Some(n) = std::env::var("FANLOG_HUB_STRESS_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return n;
    }
    if cfg!(miri) {
        200
    } else if cfg!(debug_assertions) {
        40_000
    } else {
        1_000_000
    }
}

/// Payload: publisher id, per-publisher counter, padding.
fn payload(publisher: u8, n: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = publisher;
    p[8..].copy_from_slice(&n.to_le_bytes());
    p
}

fn decode(ev: &Event) -> (usize, u64) {
    let d = ev.data();
    (
        d[0] as usize,
        u64::from_le_bytes(d[8..16].try_into().unwrap()),
    )
}

/// The counting test: 4 publishers x 16 subscriptions with mixed
/// filters and policies; for every subscription `delivered + dropped` is
/// the number of published events matching its filter, and each
/// publisher's events arrive in publish order.
#[test]
fn stress_counts_and_order() {
    const PUBLISHERS: usize = 4;
    let total = stress_events();
    let per_publisher = total / PUBLISHERS as u64;
    let hub = Hub::new();

    let block_short = HubOverflow::Block {
        timeout: Duration::from_micros(200),
    };
    let block_forever = HubOverflow::Block {
        timeout: Duration::MAX,
    };
    let specs: Vec<(Filter, HubOverflow, usize)> = vec![
        (Filter::All, HubOverflow::DropNewest, 64),
        (Filter::All, HubOverflow::DropOldest, 64),
        (Filter::All, block_short, 32),
        (Filter::All, block_forever, 256),
        (Filter::kinds([0]), HubOverflow::DropNewest, 4),
        (Filter::kinds([1, 2, 3]), HubOverflow::DropOldest, 8),
        (Filter::kinds([5, 63]), block_short, 16),
        (
            Filter::kinds([64, 100, 1000]),
            HubOverflow::DropNewest,
            1024,
        ),
        (Filter::kinds(0..200), HubOverflow::DropOldest, 2),
        (Filter::kinds([7, 70, 700]), block_forever, 1),
        (Filter::kinds([]), HubOverflow::DropNewest, 16),
        (
            Filter::predicate(|k, p| k % 3 == 0 && p[8] & 1 == 0),
            HubOverflow::DropNewest,
            128,
        ),
        (
            Filter::predicate(|_, p| p[0] == 2),
            HubOverflow::DropOldest,
            16,
        ),
        (Filter::predicate(|k, _| k > 500), block_short, 64),
        (Filter::kinds([9, 99, 999]), HubOverflow::DropNewest, 1),
        (Filter::All, HubOverflow::DropNewest, 4096),
    ];
    assert_eq!(specs.len(), 16);
    let filters: Vec<Filter> = specs.iter().map(|s| s.0.clone()).collect();
    let subs: Vec<Subscription> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (f, o, c))| {
            hub.subscribe(
                f,
                SubscribeOptions::new()
                    .capacity(c)
                    .overflow(o)
                    .name(format!("s{i}")),
            )
            .unwrap()
        })
        .collect();

    let matching: Vec<AtomicU64> = (0..subs.len()).map(|_| AtomicU64::new(0)).collect();
    let (matching, filters) = (&matching, &filters);
    let hub = &hub;
    let results = thread::scope(|sc| {
        let receivers: Vec<_> = subs
            .into_iter()
            .map(|mut sub| {
                sc.spawn(move || {
                    let mut last = [None::<u64>; PUBLISHERS];
                    let mut last_seq = [None::<u64>; PUBLISHERS];
                    let mut received = 0u64;
                    loop {
                        let batch = match sub.recv_batch(64) {
                            Ok(b) => b,
                            Err(RecvError::Closed(s)) => {
                                assert!(s.is_ok());
                                break;
                            }
                            Err(e) => panic!("{e}"),
                        };
                        for ev in batch {
                            let (p, n) = decode(&ev);
                            assert!(last[p].is_none_or(|l| n > l), "order: {p} {n} {last:?}");
                            assert!(last_seq[p].is_none_or(|l| ev.seq() > l));
                            last[p] = Some(n);
                            last_seq[p] = Some(ev.seq());
                            received += 1;
                        }
                    }
                    (received, sub.stats())
                })
            })
            .collect();
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                sc.spawn(move || {
                    // Half the publishers use a caching `Publisher` handle.
                    let mut publisher = (p % 2 == 0).then(|| hub.publisher());
                    let mut x = 0x9e37_79b9u32.wrapping_mul(p as u32 + 1);
                    let mut counts = vec![0u64; filters.len()];
                    for n in 0..per_publisher {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let kind = if x % 4 == 0 { x % 1200 } else { x % 12 };
                        let pl = payload(p as u8, n);
                        for (i, f) in filters.iter().enumerate() {
                            counts[i] += u64::from(f.matches(kind, &pl));
                        }
                        match (&mut publisher, n % 1024 == 1023) {
                            // Batches too, now and then.
                            (None, true) => hub.publish_batch(kind, &[pl]).map(drop),
                            (None, false) => hub.publish(kind, &pl).map(drop),
                            (Some(h), true) => h.publish_batch(kind, &[pl]).map(drop),
                            (Some(h), false) => h.publish(kind, &pl).map(drop),
                        }
                        .unwrap();
                    }
                    for (m, c) in matching.iter().zip(counts) {
                        m.fetch_add(c, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().unwrap();
        }
        hub.close(CloseStatus::Ok);
        receivers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(hub.stats().published, per_publisher * PUBLISHERS as u64);
    let mut delivered_total = 0;
    for (i, (received, st)) in results.iter().enumerate() {
        let m = matching[i].load(Ordering::Relaxed);
        assert_eq!(st.delivered + st.dropped, m, "subscription {i}: {st:?}");
        assert_eq!(*received, st.delivered, "subscription {i}: {st:?}");
        assert!(st.high_water <= st.capacity);
        delivered_total += st.delivered;
    }
    // Block-forever subscriptions lose nothing.
    assert_eq!(results[3].1.dropped, 0);
    assert_eq!(results[9].1.dropped, 0);
    assert_eq!(results[10].1.delivered + results[10].1.dropped, 0);
    assert!(delivered_total > 0);
}

#[test]
fn zero_capacity_is_an_error_not_a_panic() {
    let hub = Hub::new();
    let err = hub
        .subscribe(Filter::All, SubscribeOptions::new().capacity(0))
        .unwrap_err();
    assert!(err.to_string().contains("capacity"), "{err}");
    assert!(Hub::builder().default_capacity(0).build().is_err());
}

#[test]
fn publish_after_close_fails() {
    let hub = Hub::new();
    let _s = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
    assert!(hub.close(CloseStatus::error(9, "shutdown")));
    assert_eq!(
        hub.publish(0, b"late").unwrap_err(),
        AppendError::Closed(CloseStatus::error(9, "shutdown"))
    );
    assert_eq!(
        hub.publish_batch(0, &[b"late"]).unwrap_err(),
        AppendError::Closed(CloseStatus::error(9, "shutdown"))
    );
    assert!(hub.is_closed());
    assert_eq!(hub.close_status(), Some(CloseStatus::error(9, "shutdown")));
    assert_eq!(hub.stats().published, 0);
}

/// A panicking predicate closes only its own subscription, with
/// `PREDICATE_PANICKED`, after the events it already had.
#[test]
fn panicking_predicate_does_not_poison_the_hub() {
    let hub = Hub::new();
    let mut bad = hub
        .subscribe(
            Filter::predicate(|k, _| {
                assert!(k != 13, "unlucky kind");
                true
            }),
            SubscribeOptions::new(),
        )
        .unwrap();
    let mut good = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
    hub.publish(1, b"one").unwrap();
    let r = hub.publish(13, b"thirteen").unwrap();
    assert_eq!((r.delivered, r.dropped), (1, 1));
    hub.publish(2, b"two").unwrap();
    assert_eq!(hub.stats().subscriptions, 1);

    assert_eq!(bad.recv().unwrap().data(), b"one");
    match bad.recv().unwrap_err() {
        RecvError::Closed(s) => {
            assert_eq!(s.code(), PREDICATE_PANICKED);
            assert!(s.message().contains("unlucky kind"), "{s}");
        }
        e => panic!("{e}"),
    }
    assert!(bad.stats().closed);
    let got: Vec<u32> = good.try_recv_batch(10).unwrap().map(|e| e.kind()).collect();
    assert_eq!(got, [1, 13, 2]);
}

/// Once `unsubscribe` returns, nothing more is delivered, even while
/// publishers keep going (some of them hold the old subscriber list).
#[test]
fn unsubscribe_then_nothing() {
    let rounds = if cfg!(miri) { 2 } else { 50 };
    for _ in 0..rounds {
        let hub = Hub::new();
        let mut sub = hub
            .subscribe(Filter::All, SubscribeOptions::new().capacity(1 << 16))
            .unwrap();
        let stop = AtomicBool::new(false);
        thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        hub.publish(0, b"x").unwrap();
                    }
                });
            }
            thread::sleep(Duration::from_micros(200));
            sub.unsubscribe();
            let frozen = sub.stats().delivered;
            thread::sleep(Duration::from_millis(1));
            assert_eq!(sub.stats().delivered, frozen);
            let mut n = 0;
            loop {
                match sub.try_recv() {
                    Ok(_) => n += 1,
                    Err(RecvError::Closed(s)) => {
                        assert!(s.is_ok());
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(n, frozen);
            stop.store(true, Ordering::Relaxed);
        });
    }
}

/// Every publish that reported a delivery before `close` returned is
/// received, then `Closed`.
#[test]
fn close_drains_then_closed() {
    let n = if cfg!(miri) { 50 } else { 20_000 };
    let hub = Hub::new();
    let mut sub = hub
        .subscribe(
            Filter::All,
            SubscribeOptions::new()
                .capacity(8)
                .overflow(HubOverflow::Block {
                    timeout: Duration::MAX,
                }),
        )
        .unwrap();
    let delivered = AtomicU64::new(0);
    let got = thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for _ in 0..n {
                    match hub.publish(0, b"e") {
                        Ok(r) => {
                            delivered.fetch_add(r.delivered as u64, Ordering::Relaxed);
                        }
                        Err(AppendError::Closed(_)) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        sc.spawn(|| {
            thread::sleep(Duration::from_millis(2));
            hub.close(CloseStatus::error(1, "done"));
        });
        let mut got = 0u64;
        loop {
            match sub.recv() {
                Ok(_) => got += 1,
                Err(RecvError::Closed(s)) => {
                    assert_eq!(s, CloseStatus::error(1, "done"));
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        got
    });
    // Every publisher has returned now (end of scope).
    let st = sub.stats();
    assert_eq!(got, delivered.load(Ordering::Relaxed));
    assert_eq!(st.received, got);
    assert_eq!(st.delivered, st.received);
}

#[test]
fn slow_subscriber_stalls_nobody_without_block() {
    let n = if cfg!(miri) { 30 } else { 10_000 };
    let hub = Hub::new();
    let stalled = hub
        .subscribe(
            Filter::All,
            SubscribeOptions::new()
                .capacity(2)
                .overflow(HubOverflow::DropNewest),
        )
        .unwrap();
    let mut live = hub
        .subscribe(
            Filter::All,
            SubscribeOptions::new()
                .capacity(n)
                .overflow(HubOverflow::DropNewest),
        )
        .unwrap();
    for i in 0..n as u64 {
        hub.publish(1, &i.to_le_bytes()).unwrap();
    }
    assert_eq!(live.try_recv_batch(usize::MAX).unwrap().count(), n);
    let st = stalled.stats();
    assert_eq!((st.delivered, st.dropped), (2, n as u64 - 2));
}

#[test]
fn block_times_out_and_counts_drops() {
    let hub = Hub::new();
    let sub = hub
        .subscribe(
            Filter::All,
            SubscribeOptions::new()
                .capacity(1)
                .overflow(HubOverflow::Block {
                    timeout: Duration::from_millis(5),
                }),
        )
        .unwrap();
    assert_eq!(hub.publish(0, b"a").unwrap().delivered, 1);
    let t = std::time::Instant::now();
    let r = hub.publish(0, b"b").unwrap();
    assert!(t.elapsed() >= Duration::from_millis(5));
    assert_eq!((r.delivered, r.dropped), (0, 1));
    assert_eq!(sub.stats().dropped, 1);
}

#[test]
fn interrupt_wakes_a_blocked_receiver_and_is_sticky() {
    let hub = Hub::new();
    let mut sub = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
    let waker = sub.waker();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        waker.interrupt();
    });
    assert_eq!(sub.recv().unwrap_err(), RecvError::Interrupted);
    t.join().unwrap();
    // Sticky: raised while not waiting, returned by the next wait, once.
    sub.waker().interrupt();
    assert_eq!(
        sub.recv_timeout(Duration::from_secs(5)).unwrap_err(),
        RecvError::Interrupted
    );
    assert_eq!(
        sub.recv_timeout(Duration::from_millis(5)).unwrap_err(),
        RecvError::Timeout
    );
    assert_eq!(sub.try_recv().unwrap_err(), RecvError::Empty);
}

#[test]
fn recv_wakes_on_publish() {
    let hub = Arc::new(Hub::new());
    let mut sub = hub
        .subscribe(Filter::kinds([3]), SubscribeOptions::new())
        .unwrap();
    let h = hub.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        h.publish(2, b"no").unwrap();
        h.publish(3, b"yes").unwrap();
    });
    assert_eq!(sub.recv().unwrap().data(), b"yes");
    t.join().unwrap();
}

fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    assert!(n >= 0);
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
#[cfg_attr(miri, ignore = "poll(2) is not supported by Miri")]
fn readiness_fd_with_poll() {
    let hub = Arc::new(Hub::new());
    let mut sub = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
    let fd = sub.readiness_fd().unwrap();
    assert_eq!(sub.readiness_fd().unwrap(), fd);
    assert!(!readable(fd, 0));

    let h = hub.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        h.publish(0, b"a").unwrap();
        h.publish(0, b"b").unwrap();
    });
    assert!(readable(fd, 5000));
    t.join().unwrap();
    let mut n = 0;
    loop {
        match sub.try_recv() {
            Ok(_) => n += 1,
            Err(RecvError::Empty) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, 2);
    // Re-armed by the Empty: not readable until something happens.
    assert!(!readable(fd, 0));
    hub.publish(0, b"c").unwrap();
    assert!(readable(fd, 1000));
    assert_eq!(sub.try_recv().unwrap().data(), b"c");
    assert_eq!(sub.try_recv().unwrap_err(), RecvError::Empty);
    assert!(!readable(fd, 0));

    // Interrupt makes it readable too.
    sub.waker().interrupt();
    assert!(readable(fd, 1000));
    assert_eq!(sub.try_recv().unwrap_err(), RecvError::Interrupted);
    assert_eq!(sub.try_recv().unwrap_err(), RecvError::Empty);

    // And close.
    assert!(!readable(fd, 0));
    hub.close(CloseStatus::Ok);
    assert!(readable(fd, 1000));
    assert_eq!(
        sub.try_recv().unwrap_err(),
        RecvError::Closed(CloseStatus::Ok)
    );
}

#[test]
fn subscription_registered_before_publish_receives_it() {
    let rounds = if cfg!(miri) { 5 } else { 2000 };
    let hub = Hub::new();
    for i in 0..rounds {
        let mut sub = thread::scope(|sc| {
            sc.spawn(|| hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap())
                .join()
                .unwrap()
        });
        thread::scope(|sc| {
            sc.spawn(|| hub.publish(0, &u32::to_le_bytes(i)).unwrap());
        });
        assert_eq!(sub.try_recv().unwrap().data(), i.to_le_bytes());
    }
}
