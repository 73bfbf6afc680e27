//! Loom models of the hub: publish vs subscribe/unsubscribe, mailbox
//! overflow under each policy, close vs drain vs a blocked receiver, a
//! blocked publisher vs close, interrupt vs a blocked receiver. Tiny: two or
//! three threads, one or two events, capacity 1-2.

use fanlog::hub::{Filter, Hub, HubOverflow, SubscribeOptions, Subscription};
use fanlog::{AppendError, CloseStatus, PublishReport, RecvError};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn sub(hub: &Hub, capacity: usize, overflow: HubOverflow) -> Subscription {
    hub.subscribe(
        Filter::All,
        SubscribeOptions::new()
            .capacity(capacity)
            .overflow(overflow),
    )
    .unwrap()
}

const BLOCK_FOREVER: HubOverflow = HubOverflow::Block {
    timeout: Duration::MAX,
};

/// Drains without blocking; returns the first payload byte of each event.
fn drain(s: &mut Subscription) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match s.try_recv() {
            Ok(e) => out.push(e.data()[0]),
            Err(RecvError::Empty) | Err(RecvError::Closed(_)) => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

/// No delivery after `unsubscribe` returns, even from a publisher that
/// loaded the subscriber list before; and what the publisher reports as
/// delivered is exactly what the subscription can still receive.
#[test]
fn hub_unsubscribe_vs_publish() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 2, HubOverflow::DropNewest);
        let h = hub.clone();
        let publisher = thread::spawn(move || h.publish(0, &[1]).unwrap());
        s.unsubscribe();
        let frozen = s.stats().delivered;
        let report: PublishReport = publisher.join().unwrap();
        assert_eq!(s.stats().delivered, frozen, "delivered after unsubscribe");
        assert_eq!(report.dropped, 0);
        assert_eq!(report.delivered as u64, frozen);
        assert_eq!(drain(&mut s).len() as u64, frozen);
        assert_eq!(
            s.try_recv().unwrap_err(),
            RecvError::Closed(CloseStatus::Ok)
        );
    });
}

/// A subscription registered before a publish began receives it; two
/// concurrent registrations are both kept (RCU on the list).
#[test]
fn hub_subscribe_vs_publish() {
    loom::model(|| {
        let hub = Hub::new();
        let registered = Arc::new(AtomicBool::new(false));
        let (h, r) = (hub.clone(), registered.clone());
        let subscriber = thread::spawn(move || {
            let s = sub(&h, 2, HubOverflow::DropNewest);
            r.store(true, Ordering::Release);
            s
        });
        let (h, r) = (hub.clone(), registered.clone());
        let publisher = thread::spawn(move || {
            // Acquire: the registration happens-before this publish if seen.
            let before = r.load(Ordering::Acquire);
            (before, h.publish(0, &[7]).unwrap())
        });
        let mut other = sub(&hub, 2, HubOverflow::DropNewest);
        let mut s = subscriber.join().unwrap();
        let (before, report) = publisher.join().unwrap();
        let got = drain(&mut s);
        if before {
            assert_eq!(got, [7], "missed a publish that began after subscribe");
        }
        assert_eq!(got.len() + drain(&mut other).len(), report.delivered);
        assert_eq!(hub.stats().subscriptions, 2);
    });
}

/// `DropNewest`, capacity 1: the publisher never waits; delivered +
/// dropped = published, order kept.
#[test]
fn hub_overflow_drop_newest() {
    overflow_model(HubOverflow::DropNewest);
}

/// `DropOldest`, capacity 1: evictions are counted, order kept.
#[test]
fn hub_overflow_drop_oldest() {
    overflow_model(HubOverflow::DropOldest);
}

fn overflow_model(policy: HubOverflow) {
    loom::model(move || {
        let hub = Hub::new();
        let mut s = sub(&hub, 1, policy);
        let h = hub.clone();
        let publisher = thread::spawn(move || {
            let a = h.publish(0, &[1]).unwrap();
            let b = h.publish(0, &[2]).unwrap();
            (a.delivered + b.delivered, a.dropped + b.dropped)
        });
        let mut got = drain(&mut s);
        let (delivered, dropped) = publisher.join().unwrap();
        got.extend(drain(&mut s));
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order: {got:?}");
        let st = s.stats();
        assert_eq!(st.delivered, got.len() as u64);
        assert_eq!(st.delivered + st.dropped, 2);
        assert_eq!(dropped as u64, st.dropped);
        match policy {
            // Every pushed event stays (delivered counts pushes).
            HubOverflow::DropNewest => assert_eq!(delivered as u64, st.delivered),
            // The newest always gets in; evicted ones were pushed first.
            _ => {
                assert_eq!(delivered, 2);
                assert_eq!(*got.last().unwrap(), 2);
            }
        }
    });
}

/// `Block`, capacity 1: the publisher waits for the receiver; nothing is
/// dropped and the blocked receiver is woken for each event.
#[test]
fn hub_overflow_block() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 1, BLOCK_FOREVER);
        let h = hub.clone();
        let publisher = thread::spawn(move || {
            let a = h.publish(0, &[1]).unwrap();
            let b = h.publish(0, &[2]).unwrap();
            (a.delivered + b.delivered, a.dropped + b.dropped)
        });
        assert_eq!(s.recv().unwrap().data(), [1]);
        assert_eq!(s.recv().unwrap().data(), [2]);
        assert_eq!(publisher.join().unwrap(), (2, 0));
    });
}

/// Close vs a publish vs a receiver blocked in `recv`: the receiver gets
/// every event the publisher reported delivered, then `Closed`, and is
/// never left asleep.
#[test]
fn hub_close_vs_drain_vs_blocked_receiver() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 2, HubOverflow::DropNewest);
        let h = hub.clone();
        let publisher = thread::spawn(move || match h.publish(0, &[1]) {
            Ok(r) => r.delivered,
            Err(AppendError::Closed(_)) => 0,
            Err(e) => panic!("{e}"),
        });
        let h = hub.clone();
        let closer = thread::spawn(move || {
            h.close(CloseStatus::error(2, "bye"));
        });
        let mut got = 0;
        loop {
            match s.recv() {
                Ok(_) => got += 1,
                Err(RecvError::Closed(st)) => {
                    assert_eq!(st.code(), 2);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        closer.join().unwrap();
        assert_eq!(publisher.join().unwrap(), got);
    });
}

/// A publisher blocked for room (`Block`, full mailbox, no receiver) is
/// released by close; the event counts as dropped; the receiver drains the
/// old event, then sees `Closed`.
#[test]
fn hub_blocked_publisher_vs_close() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 1, BLOCK_FOREVER);
        hub.publish(0, &[1]).unwrap();
        let h = hub.clone();
        let publisher = thread::spawn(move || h.publish(0, &[2]));
        hub.close(CloseStatus::Ok);
        match publisher.join().unwrap() {
            Ok(r) => assert_eq!((r.delivered, r.dropped), (0, 1)),
            Err(e) => assert_eq!(e, AppendError::Closed(CloseStatus::Ok)),
        }
        assert_eq!(drain(&mut s), [1]);
        assert_eq!(
            s.try_recv().unwrap_err(),
            RecvError::Closed(CloseStatus::Ok)
        );
    });
}

/// A publish wakes a receiver blocked in `recv` (the batched wake-up at the
/// end of `publish` is not lost against the receiver going to sleep).
#[test]
fn hub_publish_wakes_blocked_receiver() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 1, HubOverflow::DropNewest);
        let h = hub.clone();
        let publisher = thread::spawn(move || h.publish(0, &[1]).unwrap().delivered);
        assert_eq!(s.recv().unwrap().data(), [1]);
        assert_eq!(publisher.join().unwrap(), 1);
    });
}

/// An interrupt is never lost against a receiver going to sleep.
#[test]
fn hub_interrupt_vs_blocked_receiver() {
    loom::model(|| {
        let hub = Hub::new();
        let mut s = sub(&hub, 1, HubOverflow::DropNewest);
        let waker = s.waker();
        let t = thread::spawn(move || waker.interrupt());
        assert_eq!(s.recv().unwrap_err(), RecvError::Interrupted);
        t.join().unwrap();
    });
}
