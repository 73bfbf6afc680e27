//! Event fan-out (the hub): publish an event to every matching
//! subscription's bounded mailbox.
//!
//! A [`Hub`] delivers each published [`Event`] (a kind, a payload, a
//! hub-wide sequence number and a timestamp) to every [`Subscription`]
//! whose [`Filter`] matches. The payload is stored once, in one
//! reference-counted allocation, and shared by all the mailboxes it goes
//! to; it is never copied per subscriber.
//!
//! # Publishing
//!
//! The list of subscriptions is an immutable snapshot behind an atomic
//! pointer (arc-swap): `publish` loads it without a lock, tests each filter
//! (a bitmap for small kinds, a predicate in Rust), and pushes the event
//! into each matching mailbox — a lock-free `ArrayQueue` per subscription.
//! Subscribe and unsubscribe replace the snapshot (read-copy-update).
//! Receivers that are asleep are woken once per publish, after all pushes,
//! for the price of one notifier barrier (see the crate's event count) and
//! one load per subscription when nobody sleeps.
//!
//! # Slow subscribers
//!
//! Each subscription has its own capacity and [`HubOverflow`] policy, and
//! counts what it was delivered and what it lost:
//!
//! | policy | when the mailbox is full | publisher |
//! |---|---|---|
//! | `DropNewest` | the new event is dropped | never waits |
//! | `DropOldest` | the oldest event is evicted (counted as dropped) | never waits |
//! | `Block { timeout }` | the publisher waits for room, then drops | waits up to `timeout` |
//!
//! One slow subscriber stalls the others only under `Block`, and then for
//! at most its timeout per event.
//!
//! # Unsubscribing: the state word
//!
//! A publisher may still hold the old subscriber list after an
//! unsubscribe, so removing a subscription from the list does not by itself
//! stop deliveries. Each subscription therefore has a state word that every
//! publisher *enters* (one `fetch_add`) before it pushes into the mailbox
//! and *exits* (one Release `fetch_sub`) after. Sealing the subscription
//! (unsubscribe, hub close, predicate panic) sets a `SEALED` bit with one
//! `fetch_or`, then waits until no publisher is inside:
//!
//! * a publisher whose enter comes *before* the seal in the word's
//!   modification order is counted by the sealer, which waits for its exit
//!   (Acquire): its push happens-before the seal returns;
//! * a publisher whose enter comes *after* reads `SEALED` (a read-modify-write
//!   reads the latest value) and backs out without touching the mailbox.
//!
//! So once [`Subscription::unsubscribe`] (or the drop) returns, nothing more
//! is delivered to it; once [`Hub::close`] returns, every subscription holds
//! exactly what it will ever receive. The sealer then stores a `finished`
//! flag (Release); a receiver that finds the mailbox empty and the flag set
//! (Acquire) reports `Closed`. A publisher blocked for room (`Block`) waits
//! inside the word; the sealer wakes it and it backs out.
//!
//! Conversely, a subscription registered before a publish began is in every
//! list that publish can load (the registration's store of the new list
//! happens-before the publish's load), and is not sealed: it receives the
//! event, or counts it as dropped by its policy.
//!
//! ## Closing
//!
//! [`Hub::close`] is idempotent. Publishing afterwards fails with
//! [`AppendError::Closed`]; every subscription first receives what was
//! delivered to it, then gets [`RecvError::Closed`](crate::RecvError::Closed)
//! with the status. Dropping the last `Hub` handle closes it with
//! [`CloseStatus::Ok`].
//!
//! ```
//! use fanlog::hub::{Filter, Hub, HubOverflow, SubscribeOptions};
//! use fanlog::{CloseStatus, RecvError};
//!
//! let hub = Hub::new();
//! let mut orders = hub
//!     .subscribe(Filter::kinds([1, 2]), SubscribeOptions::new().capacity(16))
//!     .unwrap();
//! let mut audit = hub
//!     .subscribe(Filter::All, SubscribeOptions::new().overflow(HubOverflow::DropNewest))
//!     .unwrap();
//!
//! let report = hub.publish(1, b"order #1").unwrap();
//! assert_eq!((report.delivered, report.dropped), (2, 0));
//! hub.publish(9, b"heartbeat").unwrap();
//! hub.close(CloseStatus::Ok);
//!
//! assert_eq!(orders.recv().unwrap().data(), b"order #1");
//! assert_eq!(orders.recv().unwrap_err(), RecvError::Closed(CloseStatus::Ok));
//! assert_eq!(audit.recv().unwrap().kind(), 1);
//! assert_eq!(audit.recv().unwrap().kind(), 9);
//! assert!(matches!(audit.recv(), Err(RecvError::Closed(_))));
//! ```
//!
//! A predicate that panics closes only its own subscription (status code
//! [`PREDICATE_PANICKED`]); the hub and the other subscriptions go on.

mod filter;
mod mailbox;
mod subscription;

pub use filter::{Filter, KindSet, Predicate};
pub use subscription::{RecvBatch, Subscription, SubscriptionStats};

use crate::error::{AppendError, BuildError, CloseStatus};
use crate::log::Timestamps;
use crate::snapshot::AtomicArc;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use subscription::{Delivery, SubShared, Wakeups};

/// The close status code of a subscription whose predicate panicked (the
/// message holds the panic message).
pub const PREDICATE_PANICKED: i32 = -1;

/// Default mailbox capacity of a subscription, in events.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Largest mailbox capacity accepted (the mailbox is allocated up front).
pub const MAX_CAPACITY: usize = 1 << 24;

/// One published event, as a subscription receives it.
///
/// Cloning is cheap: the payload is shared (`Arc<[u8]>`) by every
/// subscription the event was delivered to.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// Hub-wide publish sequence number.
    seq: u64,
    /// Publish time, ns since the Unix epoch (0 when timestamps are off).
    timestamp_ns: u64,
    /// Application-defined kind.
    kind: u32,
    /// The payload, shared.
    payload: Arc<[u8]>,
}

impl Event {
    /// The application-defined kind given to `publish`.
    #[inline]
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The hub-wide publish sequence number (from 0, one per published
    /// event, in the order publishes began; a subscription sees the events
    /// of one publisher thread in increasing order).
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Publish time in ns since the Unix epoch, per the hub's
    /// [`Timestamps`] setting (0 when off).
    #[inline]
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// The payload bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.payload
    }

    /// The shared payload (the same allocation for every subscriber).
    #[inline]
    pub fn payload(&self) -> &Arc<[u8]> {
        &self.payload
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("timestamp_ns", &self.timestamp_ns)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// What a publisher does when a subscription's mailbox is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HubOverflow {
    /// Drop the new event (counted in the subscription's `dropped`).
    DropNewest,
    /// Evict the oldest event in the mailbox to make room (the evicted one
    /// is counted as dropped). The default, as in tokio's broadcast.
    #[default]
    DropOldest,
    /// Wait up to `timeout` for the subscriber to make room, then drop the
    /// event. Stalls the publisher (and so every other subscriber) while it
    /// waits. `Duration::MAX` waits as long as it takes — so a thread must
    /// not publish to a full `Block` subscription that only it drains.
    /// Unsubscribe and close release a waiting publisher at once.
    Block {
        /// The longest a publisher waits for room, per event.
        timeout: Duration,
    },
}

/// Per-subscription options for [`Hub::subscribe`]; unset fields take the
/// hub's defaults.
///
/// ```
/// use fanlog::hub::{HubOverflow, SubscribeOptions};
/// use std::time::Duration;
/// let opts = SubscribeOptions::new()
///     .capacity(256)
///     .overflow(HubOverflow::Block { timeout: Duration::from_millis(5) })
///     .name("indexer");
/// assert_eq!(opts.capacity, Some(256));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Mailbox capacity in events (1 ..= [`MAX_CAPACITY`]).
    pub capacity: Option<usize>,
    /// Overflow policy.
    pub overflow: Option<HubOverflow>,
    /// A name, for humans (debug output).
    pub name: Option<String>,
}

impl SubscribeOptions {
    /// The hub's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the mailbox capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the overflow policy.
    pub fn overflow(mut self, overflow: HubOverflow) -> Self {
        self.overflow = Some(overflow);
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// What one [`Hub::publish`] (or a whole batch) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Mailboxes the event went into.
    pub delivered: usize,
    /// Events dropped by overflow policies because of this publish: the new
    /// event (`DropNewest`, `Block` timeout, closed in flight) or an evicted
    /// older one (`DropOldest`).
    pub dropped: usize,
}

/// Counters of a [`Hub`], read with [`Hub::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Events published (the next sequence number).
    pub published: u64,
    /// Subscriptions registered now.
    pub subscriptions: usize,
    /// Whether the hub is closed.
    pub closed: bool,
}

/// Builder for a [`Hub`]; see [`Hub::builder`].
///
/// ```
/// use fanlog::hub::{Hub, HubOverflow};
/// let hub = Hub::builder()
///     .default_capacity(64)
///     .default_overflow(HubOverflow::DropNewest)
///     .build()
///     .unwrap();
/// assert!(Hub::builder().default_capacity(0).build().is_err());
/// # drop(hub);
/// ```
#[derive(Clone, Debug)]
pub struct HubBuilder {
    /// Mailbox capacity for subscriptions that don't set one.
    capacity: usize,
    /// Policy for subscriptions that don't set one.
    overflow: HubOverflow,
    /// Which clock stamps events.
    timestamps: Timestamps,
}

impl Default for HubBuilder {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            overflow: HubOverflow::default(),
            timestamps: Timestamps::default(),
        }
    }
}

impl HubBuilder {
    /// Default mailbox capacity (default [`DEFAULT_CAPACITY`]).
    pub fn default_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Default overflow policy (default [`HubOverflow::DropOldest`]).
    pub fn default_overflow(mut self, overflow: HubOverflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Which clock stamps events (default coarse).
    pub fn timestamps(mut self, timestamps: Timestamps) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Builds the hub, or explains what is wrong with the settings.
    pub fn build(&self) -> Result<Hub, BuildError> {
        check_capacity(self.capacity)?;
        Ok(Hub::from_inner(Arc::new(HubInner {
            subs: AtomicArc::new(Arc::new(Vec::new())),
            registry_busy: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            next_seq: CachePadded::new(AtomicU64::new(0)),
            closing: AtomicBool::new(false),
            status: OnceLock::new(),
            capacity: self.capacity,
            overflow: self.overflow,
            timestamps: self.timestamps,
            handles: AtomicUsize::new(0),
        })))
    }
}

fn check_capacity(capacity: usize) -> Result<(), BuildError> {
    if capacity == 0 {
        return Err(BuildError::new("mailbox capacity must be at least 1"));
    }
    if capacity > MAX_CAPACITY {
        return Err(BuildError::new(format!(
            "mailbox capacity {capacity} exceeds the maximum of {MAX_CAPACITY}"
        )));
    }
    Ok(())
}

/// State shared by hub handles and subscriptions.
pub(crate) struct HubInner {
    /// The subscriber list (RCU: replaced whole under `registry_busy`).
    subs: AtomicArc<Vec<Arc<SubShared>>>,
    /// Held while the list is replaced, and by `close` while it reads it.
    registry_busy: AtomicBool,
    /// Next subscription id (written under `registry_busy`).
    next_id: AtomicU64,
    /// Next publish sequence number (= events published).
    next_seq: CachePadded<AtomicU64>,
    /// Set by `close`, after `status`.
    closing: AtomicBool,
    /// The close status (its `set` decides which `close` wins).
    status: OnceLock<CloseStatus>,
    /// Default mailbox capacity.
    capacity: usize,
    /// Default overflow policy.
    overflow: HubOverflow,
    /// Which clock stamps events.
    timestamps: Timestamps,
    /// Live `Hub` handles; the last one to go closes the hub.
    handles: AtomicUsize,
}

/// Holds `registry_busy`; releases it on drop.
struct Registry<'a>(&'a HubInner);

impl Drop for Registry<'_> {
    fn drop(&mut self) {
        // Release: ends the critical section (pairs with the Acquire CAS).
        self.0.registry_busy.store(false, Ordering::Release);
    }
}

impl HubInner {
    /// Takes the registry lock (control path only: subscribe, unsubscribe,
    /// close, predicate panic; never publish or receive).
    fn registry(&self) -> Registry<'_> {
        let mut round = 0u32;
        // Acquire: pairs with the Release in `Registry::drop`.
        while self
            .registry_busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            crate::wait::spin_wait(round);
            round = round.saturating_add(1);
        }
        Registry(self)
    }

    #[inline]
    fn is_closing(&self) -> bool {
        // Acquire: pairs with the Release store in `close`, so the status is
        // set when we see it.
        self.closing.load(Ordering::Acquire)
    }

    fn close_status(&self) -> CloseStatus {
        self.status.get().cloned().unwrap_or_default()
    }

    /// Removes subscription `id` from the list (no-op if absent).
    pub(crate) fn unregister(&self, id: u64) {
        let _reg = self.registry();
        let cur = self.subs.load_full();
        if cur.iter().any(|s| s.id == id) {
            let next: Vec<_> = cur.iter().filter(|s| s.id != id).cloned().collect();
            self.subs.store(Arc::new(next));
        }
    }

    fn subscribe(
        self: &Arc<Self>,
        filter: Filter,
        options: SubscribeOptions,
    ) -> Result<Subscription, BuildError> {
        let capacity = options.capacity.unwrap_or(self.capacity);
        check_capacity(capacity)?;
        let overflow = options.overflow.unwrap_or(self.overflow);
        let reg = self.registry();
        // Relaxed: written only under the registry lock.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(SubShared::new(id, filter, overflow, capacity, options.name));
        // Under the registry lock: either `close` read the list after we
        // replace it (and seals us), or we see `closing` (its store precedes
        // its registry section).
        if self.is_closing() {
            drop(reg);
            shared.seal(self.close_status(), false);
        } else {
            let cur = self.subs.load_full();
            let mut next = Vec::with_capacity(cur.len() + 1);
            next.extend(cur.iter().cloned());
            next.push(shared.clone());
            self.subs.store(Arc::new(next));
            drop(reg);
        }
        Ok(Subscription::new(shared, self.clone()))
    }

    fn close(&self, status: CloseStatus) -> bool {
        if self.status.set(status).is_err() {
            return false;
        }
        // Release: pairs with the Acquire in `is_closing` (status visible).
        self.closing.store(true, Ordering::Release);
        let list = {
            let _reg = self.registry();
            self.subs.load_full()
        };
        let status = self.close_status();
        for s in list.iter() {
            s.seal(status.clone(), false);
        }
        true
    }

    /// A predicate panicked: close that subscription and drop it from the
    /// list; the publish goes on.
    #[cold]
    fn poison(&self, sub: &SubShared, message: String) {
        sub.seal(
            CloseStatus::error(
                PREDICATE_PANICKED,
                format!("subscription predicate panicked: {message}"),
            ),
            false,
        );
        self.unregister(sub.id);
    }

    fn now_ns(&self) -> u64 {
        now_ns(self.timestamps)
    }

    /// Publishes `payloads` (one event each, consecutive sequence numbers)
    /// to the current list.
    fn publish<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        payloads: &[B],
    ) -> Result<PublishReport, AppendError> {
        let (first_seq, timestamp_ns) = self.begin(payloads.len())?;
        let list = self.subs.load();
        self.publish_to(&list, first_seq, timestamp_ns, kind, payloads)
    }

    /// The start of every publish: refuse after close, take `n` sequence
    /// numbers and the timestamp. The subscriber list is loaded after this.
    #[inline]
    fn begin(&self, n: usize) -> Result<(u64, u64), AppendError> {
        if self.is_closing() {
            return Err(AppendError::Closed(self.close_status()));
        }
        // Relaxed: the sequence number only needs to be unique; per-publisher
        // order follows from program order.
        let first_seq = self.next_seq.fetch_add(n as u64, Ordering::Relaxed);
        Ok((first_seq, self.now_ns()))
    }

    /// Delivers `payloads` to the matching subscriptions of `list` (loaded
    /// after [`begin`](Self::begin)).
    fn publish_to<B: AsRef<[u8]>>(
        &self,
        list: &[Arc<SubShared>],
        first_seq: u64,
        timestamp_ns: u64,
        kind: u32,
        payloads: &[B],
    ) -> Result<PublishReport, AppendError> {
        let mut wakeups = Wakeups::new(list);
        let mut report = PublishReport::default();
        for (i, payload) in payloads.iter().enumerate() {
            let payload = payload.as_ref();
            // One allocation per event, on the first match; every mailbox
            // shares it. The delivery to a matching subscription waits until
            // the next match is found, so that the last one gets the event
            // itself rather than a clone (one reference-count increment and
            // decrement fewer on a line the receivers touch).
            let make = || Event {
                seq: first_seq + i as u64,
                timestamp_ns,
                kind,
                payload: Arc::from(payload),
            };
            let mut event: Option<Event> = None;
            let mut target: Option<(usize, &SubShared)> = None;
            for (idx, sub) in list.iter().enumerate() {
                match sub.filter.try_matches(kind, payload) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(message) => {
                        // The publish may hold the only wake-up some
                        // receivers are owed: wake them before the slow path.
                        wakeups.flush();
                        self.poison(sub, message);
                        // The event it could not judge counts as dropped.
                        sub.count_dropped(1);
                        report.dropped += 1;
                        continue;
                    }
                }
                if let Some((at, prev)) = target.replace((idx, sub)) {
                    let ev = event.get_or_insert_with(make).clone();
                    deliver(prev, at, ev, &mut wakeups, &mut report);
                }
            }
            if let Some((at, last)) = target {
                let ev = event.take().unwrap_or_else(make);
                deliver(last, at, ev, &mut wakeups, &mut report);
            }
        }
        wakeups.flush();
        Ok(report)
    }
}

/// Delivers `ev` to `sub` (index `at` in the list being published to) and
/// accounts for the outcome.
#[inline]
fn deliver(
    sub: &SubShared,
    at: usize,
    ev: Event,
    wakeups: &mut Wakeups<'_>,
    report: &mut PublishReport,
) {
    match sub.deliver(ev, wakeups) {
        Delivery::Delivered => {
            report.delivered += 1;
            wakeups.mark(at);
        }
        Delivery::DeliveredEvicting => {
            report.delivered += 1;
            report.dropped += 1;
            wakeups.mark(at);
        }
        Delivery::Dropped => report.dropped += 1,
        Delivery::Gone => {}
    }
}

/// Event fan-out: publish events to every subscription whose filter
/// matches. See the [module docs](self).
///
/// `Hub` is a cheap handle (`Clone`, `Send`, `Sync`). Publishing takes no
/// lock and allocates once per event (the shared payload). Dropping the
/// last handle closes the hub with [`CloseStatus::Ok`]; subscriptions keep
/// the rest of the state alive until they are dropped.
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Hub {
    fn from_inner(inner: Arc<HubInner>) -> Self {
        // Relaxed: a handle count; the last decrement is AcqRel.
        inner.handles.fetch_add(1, Ordering::Relaxed);
        Self { inner }
    }

    /// A hub with the defaults ([`DEFAULT_CAPACITY`], `DropOldest`, coarse
    /// timestamps).
    pub fn new() -> Self {
        HubBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a configured hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// Registers a subscription. It receives every event whose publish
    /// begins after this returns (or counts it as dropped per its policy).
    /// Subscribing to a closed hub succeeds; the subscription reports
    /// `Closed` at once.
    ///
    /// # Errors
    /// [`BuildError`] for a capacity of 0 or above [`MAX_CAPACITY`].
    pub fn subscribe(
        &self,
        filter: Filter,
        options: SubscribeOptions,
    ) -> Result<Subscription, BuildError> {
        self.inner.subscribe(filter, options)
    }

    /// Publishes one event to every matching subscription.
    ///
    /// The payload is copied once into a shared allocation (only if some
    /// subscription matches). Subscriptions registered before this call
    /// began receive it or count it as dropped; a publish racing with
    /// [`close`](Self::close) may return `Ok` with the event counted as
    /// dropped by the subscriptions already closed.
    ///
    /// ```
    /// use fanlog::hub::{Filter, Hub, HubOverflow, SubscribeOptions};
    /// let hub = Hub::new();
    /// let opts = SubscribeOptions::new().capacity(1).overflow(HubOverflow::DropNewest);
    /// let _full = hub.subscribe(Filter::All, opts).unwrap();
    /// let _other = hub.subscribe(Filter::kinds([2]), Default::default()).unwrap();
    /// let r = hub.publish(1, b"first").unwrap();
    /// assert_eq!((r.delivered, r.dropped), (1, 0));
    /// let r = hub.publish(1, b"second").unwrap(); // `_full` is full
    /// assert_eq!((r.delivered, r.dropped), (0, 1));
    /// ```
    ///
    /// # Errors
    /// [`AppendError::Closed`] after [`close`](Self::close) (nothing
    /// published).
    pub fn publish(&self, kind: u32, payload: &[u8]) -> Result<PublishReport, AppendError> {
        self.inner.publish(kind, &[payload])
    }

    /// A [`Publisher`] handle for one thread's hot loop (caches the
    /// subscriber list).
    pub fn publisher(&self) -> Publisher {
        Publisher {
            hub: self.clone(),
            #[cfg(not(fanlog_loom))]
            cache: arc_swap::Cache::new(ListOf(self.inner.clone())),
        }
    }

    /// Publishes one event per element of `payloads`, all of `kind`, with
    /// consecutive sequence numbers and one subscriber-list load; returns
    /// the summed report. An empty batch publishes nothing.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub fn publish_batch<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        payloads: &[B],
    ) -> Result<PublishReport, AppendError> {
        self.inner.publish(kind, payloads)
    }

    /// Closes the hub with `status`. Idempotent: `true` for the call that
    /// closed it, `false` afterwards (the first status wins).
    ///
    /// When it returns, publishing fails with [`AppendError::Closed`], and
    /// every subscription holds everything it will ever receive: it drains
    /// that, then gets `Closed(status)`. Blocked receivers and publishers
    /// wake up.
    pub fn close(&self, status: CloseStatus) -> bool {
        self.inner.close(status)
    }

    /// Whether [`close`](Self::close) has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closing()
    }

    /// The close status, once closed.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.is_closed().then(|| self.inner.close_status())
    }

    /// Current counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            // Relaxed: a statistic.
            published: self.inner.next_seq.load(Ordering::Relaxed),
            subscriptions: self.inner.subs.load().len(),
            closed: self.is_closed(),
        }
    }
}

/// A publishing handle for one thread's hot loop: like [`Hub::publish`],
/// but it keeps the subscriber list it last used and only re-reads the
/// shared pointer to check that the list is unchanged (arc-swap's `Cache`),
/// which saves the two atomic read-modify-writes of a full load per
/// publish. Publishing therefore takes `&mut self`; create one per thread
/// with [`Hub::publisher`].
///
/// The guarantees are those of [`Hub::publish`]. The handle keeps the
/// hub open like a [`Hub`] handle, and keeps the last list it used (and so
/// the memory of subscriptions removed since) until its next publish.
///
/// ```
/// use fanlog::hub::{Filter, Hub};
/// let hub = Hub::new();
/// let mut sub = hub.subscribe(Filter::All, Default::default()).unwrap();
/// let mut publisher = hub.publisher();
/// for i in 0..3u8 {
///     publisher.publish(0, &[i]).unwrap();
/// }
/// assert_eq!(sub.try_recv_batch(8).unwrap().count(), 3);
/// ```
pub struct Publisher {
    /// The hub (a counted handle).
    hub: Hub,
    /// The cached subscriber list.
    #[cfg(not(fanlog_loom))]
    cache: arc_swap::Cache<ListOf, Arc<Vec<Arc<SubShared>>>>,
}

/// The hub's subscriber-list `ArcSwap`, owned through the hub (what
/// arc-swap's `Cache` needs).
#[cfg(not(fanlog_loom))]
struct ListOf(Arc<HubInner>);

#[cfg(not(fanlog_loom))]
impl std::ops::Deref for ListOf {
    type Target = arc_swap::ArcSwap<Vec<Arc<SubShared>>>;

    fn deref(&self) -> &Self::Target {
        self.0.subs.arc_swap()
    }
}

impl Publisher {
    /// Publishes one event; see [`Hub::publish`].
    ///
    /// # Errors
    /// [`AppendError::Closed`] after close.
    #[inline]
    pub fn publish(&mut self, kind: u32, payload: &[u8]) -> Result<PublishReport, AppendError> {
        self.publish_batch(kind, &[payload])
    }

    /// Publishes a batch; see [`Hub::publish_batch`].
    ///
    /// # Errors
    /// [`AppendError::Closed`] after close.
    pub fn publish_batch<B: AsRef<[u8]>>(
        &mut self,
        kind: u32,
        payloads: &[B],
    ) -> Result<PublishReport, AppendError> {
        #[cfg(not(fanlog_loom))]
        {
            let inner = &self.hub.inner;
            let (first_seq, timestamp_ns) = inner.begin(payloads.len())?;
            // Revalidation is one load of the shared pointer; a list stored
            // before this publish began is seen (coherence), and the cached
            // `Arc` keeps its address from being reused meanwhile.
            let list = self.cache.load();
            inner.publish_to(list, first_seq, timestamp_ns, kind, payloads)
        }
        #[cfg(fanlog_loom)]
        {
            self.hub.publish_batch(kind, payloads)
        }
    }

    /// The hub this handle publishes to.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Hub {
    fn clone(&self) -> Self {
        Self::from_inner(self.inner.clone())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // AcqRel: the last handle's close happens after every other
        // handle's publishes.
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.close(CloseStatus::Ok);
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("default_capacity", &self.inner.capacity)
            .field("default_overflow", &self.inner.overflow)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The publish timestamp per the hub's setting.
fn now_ns(timestamps: Timestamps) -> u64 {
    let clock = match timestamps {
        Timestamps::Off => return 0,
        Timestamps::Coarse => libc::CLOCK_REALTIME_COARSE,
        Timestamps::Precise => libc::CLOCK_REALTIME,
    };
    if cfg!(miri) {
        return 0;
    }
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; a vDSO call without other effects.
    unsafe { libc::clock_gettime(clock, &mut t) };
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

#[cfg(all(test, not(fanlog_loom)))]
mod tests {
    use super::*;
    use crate::RecvError;

    fn opts(cap: usize, overflow: HubOverflow) -> SubscribeOptions {
        SubscribeOptions::new().capacity(cap).overflow(overflow)
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Hub>();
        send_sync::<Publisher>();
        send_sync::<Subscription>();
        send_sync::<Event>();
        send_sync::<crate::Snapshot<Vec<u8>>>();
        send_sync::<crate::BlobSnapshot>();
    }

    #[test]
    fn payload_is_shared_not_copied() {
        let hub = Hub::new();
        let mut a = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        let mut b = hub
            .subscribe(Filter::kinds([5]), SubscribeOptions::new())
            .unwrap();
        let r = hub.publish(5, b"shared").unwrap();
        assert_eq!((r.delivered, r.dropped), (2, 0));
        let (ea, eb) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert!(Arc::ptr_eq(ea.payload(), eb.payload()));
        assert_eq!((ea.seq(), ea.kind(), ea.data()), (0, 5, &b"shared"[..]));
    }

    #[test]
    fn policies_count_drops() {
        let hub = Hub::new();
        let mut newest = hub
            .subscribe(Filter::All, opts(2, HubOverflow::DropNewest))
            .unwrap();
        let mut oldest = hub
            .subscribe(Filter::All, opts(2, HubOverflow::DropOldest))
            .unwrap();
        let block = HubOverflow::Block {
            timeout: Duration::ZERO,
        };
        let mut blocking = hub.subscribe(Filter::All, opts(2, block)).unwrap();
        for i in 0..5u8 {
            hub.publish(0, &[i]).unwrap();
        }
        let got = |s: &mut Subscription| -> Vec<u8> {
            std::iter::from_fn(|| s.try_recv().ok().map(|e| e.data()[0])).collect()
        };
        assert_eq!(got(&mut newest), [0, 1]);
        assert_eq!(got(&mut oldest), [3, 4]);
        assert_eq!(got(&mut blocking), [0, 1]);
        for s in [&newest, &oldest, &blocking] {
            let st = s.stats();
            assert_eq!(
                (st.delivered, st.dropped, st.high_water),
                (2, 3, 2),
                "{st:?}"
            );
        }
    }

    #[test]
    fn invalid_options_are_errors() {
        let hub = Hub::new();
        assert!(hub
            .subscribe(Filter::All, SubscribeOptions::new().capacity(0))
            .is_err());
        assert!(hub
            .subscribe(
                Filter::All,
                SubscribeOptions::new().capacity(MAX_CAPACITY + 1)
            )
            .is_err());
        assert!(Hub::builder().default_capacity(0).build().is_err());
    }

    #[test]
    fn close_drains_then_closed_and_publish_fails() {
        let hub = Hub::new();
        let mut s = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        hub.publish(1, b"a").unwrap();
        assert!(hub.close(CloseStatus::error(4, "bye")));
        assert!(!hub.close(CloseStatus::Ok));
        assert_eq!(
            hub.publish(1, b"b").unwrap_err(),
            AppendError::Closed(CloseStatus::error(4, "bye"))
        );
        assert_eq!(s.try_recv().unwrap().data(), b"a");
        for _ in 0..2 {
            assert_eq!(
                s.try_recv().unwrap_err(),
                RecvError::Closed(CloseStatus::error(4, "bye"))
            );
        }
        // Subscribing afterwards works and reports Closed.
        let mut late = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        assert!(matches!(late.recv(), Err(RecvError::Closed(_))));
    }

    #[test]
    fn unsubscribe_stops_delivery() {
        let hub = Hub::new();
        let mut s = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        hub.publish(1, b"a").unwrap();
        s.unsubscribe();
        s.unsubscribe();
        assert_eq!(hub.stats().subscriptions, 0);
        assert_eq!(hub.publish(1, b"b").unwrap().delivered, 0);
        assert_eq!(s.try_recv().unwrap().data(), b"a");
        assert_eq!(
            s.try_recv().unwrap_err(),
            RecvError::Closed(CloseStatus::Ok)
        );
        assert_eq!(s.stats().delivered, 1);
    }

    #[test]
    fn dropping_the_last_handle_closes() {
        let hub = Hub::new();
        let h2 = hub.clone();
        let mut s = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        drop(hub);
        h2.publish(0, b"x").unwrap();
        drop(h2);
        assert_eq!(s.recv().unwrap().data(), b"x");
        assert_eq!(s.recv().unwrap_err(), RecvError::Closed(CloseStatus::Ok));
    }

    #[test]
    fn batches() {
        let hub = Hub::new();
        let mut s = hub
            .subscribe(Filter::kinds([2]), SubscribeOptions::new())
            .unwrap();
        let r = hub.publish_batch(2, &[b"a", b"b", b"c"]).unwrap();
        assert_eq!(r.delivered, 3);
        hub.publish_batch::<&[u8]>(2, &[]).unwrap();
        let seqs: Vec<u64> = s.try_recv_batch(10).unwrap().map(|e| e.seq()).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert_eq!(s.try_recv_batch(10).unwrap_err(), RecvError::Empty);
        assert_eq!(s.try_recv_batch(0).unwrap().count(), 0);
        assert_eq!(hub.stats().published, 3);
    }

    #[test]
    fn publisher_handle_follows_the_list() {
        let hub = Hub::new();
        let mut p = hub.publisher();
        assert_eq!(p.publish(0, b"nobody").unwrap().delivered, 0);
        let mut a = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        assert_eq!(p.publish(0, b"a").unwrap().delivered, 1);
        let b = hub.subscribe(Filter::All, SubscribeOptions::new()).unwrap();
        assert_eq!(p.publish_batch(0, &[b"b", b"c"]).unwrap().delivered, 4);
        drop(b);
        assert_eq!(p.publish(0, b"d").unwrap().delivered, 1);
        let seqs: Vec<u64> = a.try_recv_batch(10).unwrap().map(|e| e.seq()).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        // The publisher keeps the hub open; dropping every handle closes it.
        drop(hub);
        assert_eq!(p.publish(0, b"e").unwrap().delivered, 1);
        drop(p);
        assert_eq!(a.try_recv().unwrap().data(), b"e");
        assert_eq!(
            a.try_recv().unwrap_err(),
            RecvError::Closed(CloseStatus::Ok)
        );
    }

    #[test]
    fn blocked_publisher_gets_room() {
        let n = if cfg!(miri) { 20 } else { 2000 };
        let hub = Hub::new();
        let block = HubOverflow::Block {
            timeout: Duration::MAX,
        };
        let mut s = hub.subscribe(Filter::All, opts(1, block)).unwrap();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for i in 0..n as u32 {
                    assert_eq!(hub.publish(0, &i.to_le_bytes()).unwrap().delivered, 1);
                }
            });
            for i in 0..n as u32 {
                assert_eq!(s.recv().unwrap().data(), i.to_le_bytes());
            }
        });
        assert_eq!(s.stats().dropped, 0);
    }
}
