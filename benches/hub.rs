//! Throughput of the event hub against its peers: one publisher fans
//! 64-byte events out to 1, 4 or 16 subscribers.
//!
//! ```text
//! cargo bench --bench hub -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench hub -- all/16          # one group/size
//! ```
//!
//! One measured iteration publishes `EVENTS` events of 64 bytes from one
//! thread and lasts until every subscriber thread has received everything
//! meant for it (and touched one byte of each payload). The clock runs from
//! the moment every thread is released by a barrier until the last
//! subscriber is done; threads and subscriptions are created per iteration,
//! outside nothing (tens of microseconds against iterations of milliseconds).
//!
//! **Units.** `Throughput::Elements(EVENTS)`: criterion's `elem/s` is
//! *events published per second*. In the `all` groups every subscriber gets
//! every event, so the delivered rate is `subscribers` times the figure; in
//! the `1in8` groups each subscriber wants one kind in eight (kinds cycle
//! 0..8, subscriber `i` wants kind `i % 8`).
//!
//! Contenders (benchmark names):
//!
//! * `hub` — [`fanlog::Hub`], one subscription per subscriber thread with a
//!   1024-event mailbox and `Block` (lossless); kind filters in the hub;
//!   receivers use `recv_batch(256)`; done when the hub is closed and
//!   drained.
//! * `hub_publisher` — the same, publishing through a [`fanlog::Publisher`]
//!   handle (`Hub::publisher`), which caches the subscriber list instead of
//!   loading it through arc-swap on every publish.
//! * `crossbeam` — a bounded(1024) crossbeam channel per subscriber, the
//!   publisher tests each subscriber's kind and sends it an
//!   `(kind, Arc<[u8]>)` (one payload allocation per event, as the hub);
//!   lossless (`send` blocks).
//! * `tokio_broadcast` — one `tokio::sync::broadcast` channel of capacity
//!   1024; every receiver gets every event and filters by kind itself; a
//!   receiver that falls behind *loses* events (`Lagged`), so this one is
//!   not lossless: it measures less work than the other two when lagging.
//!
//! On a 2-core machine the 16-subscriber groups run 17 threads on 2 cores:
//! they measure the waiting strategy as much as the data structure.

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use fanlog::hub::{Filter, Hub, HubOverflow, SubscribeOptions};
use fanlog::{CloseStatus, RecvError};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Events published per iteration.
const EVENTS: u64 = 1 << 16;
/// Payload size, in bytes.
const PAYLOAD: usize = 64;
/// Mailbox / channel capacity, in events.
const CAPACITY: usize = 1024;
/// Subscriber counts.
const SUBSCRIBERS: [usize; 3] = [1, 4, 16];

/// Which events each subscriber wants.
#[derive(Clone, Copy)]
enum Matching {
    /// Every event.
    All,
    /// Kind `i % 8` of kinds cycling through 0..8.
    OneIn8,
}

impl Matching {
    fn name(self) -> &'static str {
        match self {
            Matching::All => "all",
            Matching::OneIn8 => "1in8",
        }
    }

    /// Kind of event number `n`.
    fn kind(self, n: u64) -> u32 {
        match self {
            Matching::All => 0,
            Matching::OneIn8 => (n % 8) as u32,
        }
    }

    /// Kind subscriber `i` wants (`None`: all).
    fn wants(self, i: usize) -> Option<u32> {
        match self {
            Matching::All => None,
            Matching::OneIn8 => Some((i % 8) as u32),
        }
    }
}

fn payload(n: u64) -> [u8; PAYLOAD] {
    let mut p = [0xA5u8; PAYLOAD];
    p[..8].copy_from_slice(&n.to_le_bytes());
    p
}

fn run_hub(subs: usize, m: Matching, cached: bool) -> Duration {
    let hub = Hub::new();
    let opts = SubscribeOptions::new()
        .capacity(CAPACITY)
        .overflow(HubOverflow::Block {
            timeout: Duration::MAX,
        });
    let subscriptions: Vec<_> = (0..subs)
        .map(|i| {
            let f = match m.wants(i) {
                None => Filter::All,
                Some(k) => Filter::kinds([k]),
            };
            hub.subscribe(f, opts.clone()).unwrap()
        })
        .collect();
    let go = Barrier::new(subs + 1);
    thread::scope(|s| {
        let handles: Vec<_> = subscriptions
            .into_iter()
            .map(|mut sub| {
                let go = &go;
                s.spawn(move || {
                    go.wait();
                    let mut acc = 0u64;
                    loop {
                        match sub.recv_batch(256) {
                            Ok(batch) => {
                                for ev in batch {
                                    acc = acc.wrapping_add(u64::from(ev.data()[0]));
                                }
                            }
                            Err(RecvError::Closed(_)) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    black_box(acc);
                })
            })
            .collect();
        go.wait();
        let start = Instant::now();
        if cached {
            let mut publisher = hub.publisher();
            for n in 0..EVENTS {
                publisher.publish(m.kind(n), &payload(n)).unwrap();
            }
        } else {
            for n in 0..EVENTS {
                hub.publish(m.kind(n), &payload(n)).unwrap();
            }
        }
        hub.close(CloseStatus::Ok);
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

fn run_crossbeam(subs: usize, m: Matching) -> Duration {
    type Msg = (u32, Arc<[u8]>);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..subs)
        .map(|_| crossbeam_channel::bounded::<Msg>(CAPACITY))
        .unzip();
    let wants: Vec<Option<u32>> = (0..subs).map(|i| m.wants(i)).collect();
    let go = Barrier::new(subs + 1);
    thread::scope(|s| {
        let handles: Vec<_> = rxs
            .into_iter()
            .map(|rx| {
                let go = &go;
                s.spawn(move || {
                    go.wait();
                    let mut acc = 0u64;
                    while let Ok((_kind, p)) = rx.recv() {
                        acc = acc.wrapping_add(u64::from(p[0]));
                    }
                    black_box(acc);
                })
            })
            .collect();
        go.wait();
        let start = Instant::now();
        for n in 0..EVENTS {
            let kind = m.kind(n);
            let p: Arc<[u8]> = Arc::from(&payload(n)[..]);
            for (tx, w) in txs.iter().zip(&wants) {
                if w.is_none_or(|k| k == kind) {
                    tx.send((kind, p.clone())).unwrap();
                }
            }
        }
        drop(txs);
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

fn run_tokio(subs: usize, m: Matching) -> Duration {
    use tokio::sync::broadcast::{self, error::RecvError as TRecvError};
    let (tx, _) = broadcast::channel::<(u32, Arc<[u8]>)>(CAPACITY);
    let rxs: Vec<_> = (0..subs).map(|_| tx.subscribe()).collect();
    let go = Barrier::new(subs + 1);
    thread::scope(|s| {
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, mut rx)| {
                let go = &go;
                let want = m.wants(i);
                s.spawn(move || {
                    go.wait();
                    let mut acc = 0u64;
                    loop {
                        match rx.blocking_recv() {
                            Ok((kind, p)) => {
                                if want.is_none_or(|k| k == kind) {
                                    acc = acc.wrapping_add(u64::from(p[0]));
                                }
                            }
                            Err(TRecvError::Lagged(_)) => {}
                            Err(TRecvError::Closed) => break,
                        }
                    }
                    black_box(acc);
                })
            })
            .collect();
        go.wait();
        let start = Instant::now();
        for n in 0..EVENTS {
            let p: Arc<[u8]> = Arc::from(&payload(n)[..]);
            let _ = tx.send((m.kind(n), p));
        }
        drop(tx);
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

fn fanout(c: &mut Criterion) {
    for m in [Matching::All, Matching::OneIn8] {
        let mut g = c.benchmark_group(m.name());
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.throughput(Throughput::Elements(EVENTS));
        for subs in SUBSCRIBERS {
            g.bench_with_input(BenchmarkId::new("hub", subs), &subs, |b, &subs| {
                b.iter_custom(|iters| (0..iters).map(|_| run_hub(subs, m, false)).sum())
            });
            g.bench_with_input(
                BenchmarkId::new("hub_publisher", subs),
                &subs,
                |b, &subs| b.iter_custom(|iters| (0..iters).map(|_| run_hub(subs, m, true)).sum()),
            );
            g.bench_with_input(BenchmarkId::new("crossbeam", subs), &subs, |b, &subs| {
                b.iter_custom(|iters| (0..iters).map(|_| run_crossbeam(subs, m)).sum())
            });
            g.bench_with_input(
                BenchmarkId::new("tokio_broadcast", subs),
                &subs,
                |b, &subs| b.iter_custom(|iters| (0..iters).map(|_| run_tokio(subs, m)).sum()),
            );
        }
        g.finish();
    }
}

criterion_group!(benches, fanout);
criterion_main!(benches);
