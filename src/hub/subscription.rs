//! A subscription: its shared state (mailbox, state word, waits) and the
//! receiving handle.
//!
//! The protocol that makes unsubscribe and close exact (the per-subscription
//! state word) is described in the [hub module docs](super).

use super::filter::Filter;
use super::mailbox::Mailbox;
use super::{Event, HubInner, HubOverflow};
use crate::error::{CloseStatus, RecvError};
use crate::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::wait::{Deadline, EventCount, Interrupt, ReadinessFd, WakeTarget, Waker};
use crossbeam_utils::CachePadded;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// State word: no publisher may push any more (set once, never cleared).
const SEALED: u64 = 1 << 63;
/// State word: sealed because the subscriber left (its late events are not
/// counted as dropped).
const UNSUBSCRIBED: u64 = 1 << 62;
/// State word: the low bits count publishers between enter and exit.
const INSIDE: u64 = (1 << 62) - 1;

/// Spin rounds (exponential, via [`spin_pause`](crate::wait::spin_pause)) before yielding: short,
/// because subscriptions often outnumber cores and a spinning receiver
/// steals the time its publisher needs.
const SPIN: u32 = 6;
/// Yields after spinning, before parking.
const YIELDS: u32 = 4;

/// Brief spinning then a few yields; `false` when the caller should park.
/// Under loom (no spinning in `wait`) parks at once.
#[inline]
fn short_backoff(round: u32) -> bool {
    if crate::wait::SPIN_ROUNDS == 0 {
        false
    } else if round < SPIN {
        crate::wait::spin_pause(round);
        true
    } else if round < SPIN + YIELDS {
        crate::sync::yield_now();
        true
    } else {
        false
    }
}

/// What one delivery attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// In the mailbox.
    Delivered,
    /// In the mailbox, and the oldest event was evicted (`DropOldest`).
    DeliveredEvicting,
    /// Not delivered: mailbox full (`DropNewest`, `Block` timeout) or the
    /// subscription closed while the publish was in flight.
    Dropped,
    /// Not delivered: the subscriber has left; not counted anywhere.
    Gone,
}

/// Per-subscription counters written on slow paths.
struct Counters {
    /// Events not delivered (policy, timeout, closed in flight, panic).
    dropped: AtomicU64,
    /// High-water mark of the mailbox depth (sampled; see stats docs).
    high_water: AtomicUsize,
}

impl Counters {
    /// Raises the high-water mark to `depth`; writes only when it grows, so
    /// the line is not bounced on every sample.
    #[inline]
    fn note_depth(&self, depth: usize) {
        // Relaxed: a gauge.
        if depth > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(depth, Ordering::Relaxed);
        }
    }
}

/// The part of a subscription that publishers (through the subscriber
/// list), wakers and the handle share.
pub(crate) struct SubShared {
    /// Hub-unique id (the registry removes by id).
    pub(crate) id: u64,
    /// Optional name, for humans.
    name: Option<Box<str>>,
    /// Which events it wants.
    pub(crate) filter: Filter,
    /// What a publisher does when the mailbox is full.
    policy: HubOverflow,
    /// Mailbox capacity.
    capacity: usize,
    /// `SEALED | UNSUBSCRIBED | publishers inside` (see the module docs).
    state: CachePadded<AtomicU64>,
    /// The events.
    mailbox: Mailbox,
    /// Set (Release) when sealing is complete: the mailbox gets no more.
    finished: AtomicBool,
    /// Why it is closed (set before `SEALED`).
    status: OnceLock<CloseStatus>,
    /// Events not delivered (policy, timeout, closed in flight, panic), and
    /// the high-water mark of the mailbox depth; on their own line, away
    /// from the fields every publish reads (`filter`, `policy`).
    counters: CachePadded<Counters>,
    /// The receiver waits here for events, close and interrupts (its own
    /// line: the receiver writes `waiters` when it parks).
    ready: CachePadded<EventCount>,
    /// `Block` publishers wait here for room.
    room: CachePadded<EventCount>,
    /// The receiver's interrupt.
    interrupt: Interrupt,
    /// The readiness fd, once asked for.
    fd: OnceLock<ReadinessFd>,
}

impl SubShared {
    pub(crate) fn new(
        id: u64,
        filter: Filter,
        policy: HubOverflow,
        capacity: usize,
        name: Option<String>,
    ) -> Self {
        Self {
            id,
            name: name.map(String::into_boxed_str),
            filter,
            policy,
            capacity,
            state: CachePadded::new(AtomicU64::new(0)),
            mailbox: Mailbox::new(capacity),
            finished: AtomicBool::new(false),
            status: OnceLock::new(),
            counters: CachePadded::new(Counters {
                dropped: AtomicU64::new(0),
                high_water: AtomicUsize::new(0),
            }),
            ready: CachePadded::new(EventCount::new()),
            room: CachePadded::new(EventCount::new()),
            interrupt: Interrupt::default(),
            fd: OnceLock::new(),
        }
    }

    /// Enters the state word; `Err` tells why the subscription is sealed.
    #[inline]
    fn enter(&self) -> Result<(), Delivery> {
        // Relaxed: only this word's modification order decides whether we
        // precede a seal (RMWs read the latest value); the push itself is
        // published by the Release `exit`.
        let s = self.state.fetch_add(1, Ordering::Relaxed);
        if s & SEALED == 0 {
            return Ok(());
        }
        self.exit();
        if s & UNSUBSCRIBED != 0 {
            Err(Delivery::Gone)
        } else {
            self.count_dropped(1);
            Err(Delivery::Dropped)
        }
    }

    /// Leaves the state word.
    #[inline]
    fn exit(&self) {
        // Release: pairs with the Acquire loads in `seal`'s wait, so our
        // push happens-before the seal completes.
        self.state.fetch_sub(1, Ordering::Release);
    }

    #[inline]
    pub(crate) fn count_dropped(&self, n: u64) {
        // Relaxed: a counter, read by stats.
        self.counters.dropped.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    fn note_full(&self) {
        // Relaxed: a gauge.
        self.counters.note_depth(self.capacity);
    }

    /// Publisher side: puts `ev` in the mailbox per the overflow policy.
    /// The receiver is *not* woken here; the caller batches that (see
    /// [`Wakeups`]); `wakeups` is flushed before a `Block` wait.
    #[inline]
    pub(crate) fn deliver(&self, ev: Event, wakeups: &mut Wakeups<'_>) -> Delivery {
        if let Err(d) = self.enter() {
            return d;
        }
        let d = match self.policy {
            HubOverflow::DropNewest => match self.mailbox.push(ev) {
                Ok(()) => Delivery::Delivered,
                Err(_) => {
                    self.note_full();
                    self.count_dropped(1);
                    Delivery::Dropped
                }
            },
            HubOverflow::DropOldest => match self.mailbox.force_push(ev) {
                None => Delivery::Delivered,
                Some(_evicted) => {
                    self.note_full();
                    self.count_dropped(1);
                    Delivery::DeliveredEvicting
                }
            },
            HubOverflow::Block { timeout } => match self.mailbox.push(ev) {
                Ok(()) => Delivery::Delivered,
                Err(ev) => {
                    self.note_full();
                    wakeups.flush();
                    self.push_blocking(ev, timeout)
                }
            },
        };
        self.exit();
        d
    }

    /// `Block`: waits (inside the state word) for room until the timeout.
    #[cold]
    fn push_blocking(&self, mut ev: Event, timeout: Duration) -> Delivery {
        let deadline = Deadline::after(timeout);
        let mut round = 0u32;
        loop {
            match self.mailbox.push(ev) {
                Ok(()) => return Delivery::Delivered,
                Err(e) => ev = e,
            }
            // Relaxed: re-read after the fences of the wait protocol below
            // (a seal stores `SEALED`, then notifies `room`).
            let s = self.state.load(Ordering::Relaxed);
            if s & SEALED != 0 {
                if s & UNSUBSCRIBED != 0 {
                    return Delivery::Gone;
                }
                self.count_dropped(1);
                return Delivery::Dropped;
            }
            if deadline == Deadline::Now || deadline.expired() {
                self.count_dropped(1);
                return Delivery::Dropped;
            }
            if short_backoff(round) {
                round += 1;
                continue;
            }
            let key = self.room.prepare();
            match self.mailbox.push(ev) {
                Ok(()) => {
                    self.room.finish();
                    return Delivery::Delivered;
                }
                Err(e) => ev = e,
            }
            // Relaxed: after `prepare`'s barrier (store-buffer pairing with
            // the barrier in the sealer's `room.notify`).
            if self.state.load(Ordering::Relaxed) & SEALED == 0 {
                self.room.wait(key, deadline);
            }
            self.room.finish();
        }
    }

    /// Stops all deliveries, waits for publishers inside, then marks the
    /// subscription finished and wakes the receiver. Idempotent; the first
    /// status given wins.
    pub(crate) fn seal(&self, status: CloseStatus, unsubscribe: bool) {
        let _ = self.status.set(status);
        let bits = if unsubscribe {
            SEALED | UNSUBSCRIBED
        } else {
            SEALED
        };
        // AcqRel: an RMW in the state word's modification order (publishers
        // entering later see `SEALED`); Acquire also synchronizes with the
        // exits that already happened.
        self.state.fetch_or(bits, Ordering::AcqRel);
        // `Block` publishers inside may be asleep waiting for room.
        self.room.notify();
        let mut round = 0u32;
        // Acquire: pairs with the Release `exit` of every publisher that
        // entered before the seal: their pushes are visible after this.
        while self.state.load(Ordering::Acquire) & INSIDE != 0 {
            crate::wait::spin_wait(round);
            round = round.saturating_add(1);
        }
        // Release: pairs with the Acquire load in `Subscription::poll`; the
        // receiver that sees `finished` sees every completed push.
        self.finished.store(true, Ordering::Release);
        self.ready.notify();
        self.fire_armed_fd();
    }

    /// Whether sealing is complete (Acquire: pairs with `seal`).
    #[inline]
    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn close_status(&self) -> CloseStatus {
        self.status.get().cloned().unwrap_or_default()
    }

    /// Wakes the receiver after the caller's notifier barrier showed a
    /// registered waiter (a parked thread or an armed fd).
    #[inline]
    fn wake_registered(&self) {
        self.ready.wake_all();
        self.fire_armed_fd();
    }

    #[inline]
    fn fire_armed_fd(&self) {
        if let Some(fd) = self.fd.get() {
            if fd.fire_if_armed() {
                self.ready.finish();
            }
        }
    }

    /// Arms `fd` as a waiter: notifiers fire it (as `Shared::arm_fd` in the
    /// log).
    fn arm_fd(&self, fd: &ReadinessFd) {
        fd.clear();
        if fd.arm() {
            // Counted as a waiter so that notifiers look at the fd.
            self.ready.prepare();
        }
    }

    /// Disarms `fd` and makes it readable (the owner found data itself).
    fn fire_fd(&self, fd: &ReadinessFd) {
        if fd.disarm() {
            self.ready.finish();
        }
        fd.signal();
    }
}

impl WakeTarget for SubShared {
    fn interrupt(&self) {
        self.interrupt.raise();
        // The fence orders the raise before the waiter-count load and the
        // epoch bump (store-buffer pairing with `prepare`).
        fence(Ordering::SeqCst);
        self.ready.wake_all();
        if let Some(fd) = self.fd.get() {
            self.fire_fd(fd);
        }
    }
}

/// Receivers to wake at the end of a publish: one notifier barrier for the
/// whole publish instead of one per subscription.
pub(crate) struct Wakeups<'a> {
    /// The subscriber list being published to.
    list: &'a [Arc<SubShared>],
    /// Bit `i`: `list[i]` got an event since the last flush.
    bits: [u64; 4],
    /// Whether any bit is set.
    any: bool,
}

impl<'a> Wakeups<'a> {
    pub(crate) fn new(list: &'a [Arc<SubShared>]) -> Self {
        Self {
            list,
            bits: [0; 4],
            any: false,
        }
    }

    /// `list[i]` got an event.
    #[inline]
    pub(crate) fn mark(&mut self, i: usize) {
        if i < 256 {
            self.bits[i / 64] |= 1 << (i % 64);
            self.any = true;
        } else {
            // Pairs with the barrier in `EventCount::prepare`.
            self.list[i].ready.notify_fence();
            if self.list[i].ready.has_waiters() {
                self.list[i].wake_registered();
            }
        }
    }

    /// Wakes the marked receivers that are waiting.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if !self.any {
            return;
        }
        self.any = false;
        // Pairs with the barrier in `EventCount::prepare`: our pushes are
        // ordered before the loads of the waiter counts. The kind of barrier
        // (a compiler fence against the waiters' membarrier, or SeqCst
        // fences on both sides) is chosen once per process, so the notifier
        // barrier of the first marked event count serves them all.
        let first = self
            .bits
            .iter()
            .enumerate()
            .find(|(_, b)| **b != 0)
            .map_or(0, |(w, b)| w * 64 + b.trailing_zeros() as usize);
        self.list[first].ready.notify_fence();
        for (w, bits) in self.bits.iter_mut().enumerate() {
            let mut b = std::mem::take(bits);
            while b != 0 {
                let i = w * 64 + b.trailing_zeros() as usize;
                b &= b - 1;
                let s = &self.list[i];
                if s.ready.has_waiters() {
                    s.wake_registered();
                }
            }
        }
    }
}

/// Counters of one [`Subscription`], read with [`Subscription::stats`].
///
/// For every subscription, `delivered + dropped` equals the number of
/// published events that matched its filter while it was subscribed and
/// open (exact once publishers are quiescent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Events put in the mailbox and not evicted: `received + depth`.
    pub delivered: u64,
    /// Events not delivered: mailbox full under `DropNewest`, evicted under
    /// `DropOldest`, timed out under `Block`, or published while the
    /// subscription was being closed.
    pub dropped: u64,
    /// Events returned by the receive methods.
    pub received: u64,
    /// Events waiting in the mailbox now.
    pub depth: usize,
    /// High-water mark of the mailbox depth: exact when the mailbox filled
    /// up (it is then the capacity), otherwise sampled by the receiver.
    pub high_water: usize,
    /// Mailbox capacity.
    pub capacity: usize,
    /// Whether the subscription is closed (unsubscribed, hub closed, or
    /// its predicate panicked); it may still hold events to drain.
    pub closed: bool,
}

/// A subscription to a [`Hub`](crate::hub::Hub): a bounded mailbox of the
/// events that match its filter, and the receiving end of it.
///
/// Receiving takes no lock and does not allocate. Dropping the subscription
/// unsubscribes it.
///
/// | method | waits | errors |
/// |---|---|---|
/// | [`try_recv`](Self::try_recv), [`try_recv_batch`](Self::try_recv_batch) | never | `Empty`, `Interrupted`, `Closed` |
/// | [`recv_timeout`](Self::recv_timeout), [`recv_batch_timeout`](Self::recv_batch_timeout) | up to the timeout | `Timeout`, `Interrupted`, `Closed` |
/// | [`recv`](Self::recv), [`recv_batch`](Self::recv_batch) | until an event | `Interrupted`, `Closed` |
///
/// `Closed(status)` comes only after every delivered event was received;
/// `status` is the hub's close status, [`CloseStatus::Ok`] after
/// [`unsubscribe`](Self::unsubscribe), or a
/// [`PREDICATE_PANICKED`](crate::hub::PREDICATE_PANICKED) error.
pub struct Subscription {
    /// Shared with publishers (through the list) and wakers.
    shared: Arc<SubShared>,
    /// The hub, to unregister from.
    hub: Arc<HubInner>,
    /// An event taken from the mailbox while checking readiness.
    pending: Option<Event>,
    /// Events returned so far.
    received: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .field("filter", &self.shared.filter)
            .field("overflow", &self.shared.policy)
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(shared: Arc<SubShared>, hub: Arc<HubInner>) -> Self {
        Self {
            shared,
            hub,
            pending: None,
            received: 0,
        }
    }

    /// The hub-unique id of this subscription.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The name given in [`SubscribeOptions`](crate::hub::SubscribeOptions).
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// Bookkeeping after taking `n` events out of the mailbox.
    #[inline]
    fn took(&mut self, n: u64) {
        self.count_taken(n);
        self.made_room();
    }

    /// Counts `n` events taken; samples the depth every 32.
    #[inline]
    fn count_taken(&mut self, n: u64) {
        let before = self.received;
        self.received += n;
        if (before ^ self.received) & !31 != 0 {
            self.sample_depth();
        }
    }

    /// There is room now: under `Block`, wake a publisher waiting for it (a
    /// fence and a load when nobody waits).
    #[inline]
    fn made_room(&self) {
        if matches!(self.shared.policy, HubOverflow::Block { .. }) {
            self.shared.room.notify();
        }
    }

    /// Samples the mailbox depth into the high-water mark.
    fn sample_depth(&self) {
        let depth = self.shared.mailbox.len() + usize::from(self.pending.is_some());
        self.shared.counters.note_depth(depth);
    }

    /// One event if there is one now. Does not wait.
    #[inline]
    fn poll(&mut self) -> Result<Event, RecvError> {
        if let Some(ev) = self.pending.take() {
            return Ok(ev);
        }
        if let Some(ev) = self.shared.mailbox.pop() {
            self.took(1);
            return Ok(ev);
        }
        if self.shared.is_finished() {
            // Every push that will ever happen happened before `finished`
            // was set (see the module docs): look once more, then report.
            if let Some(ev) = self.shared.mailbox.pop() {
                self.took(1);
                return Ok(ev);
            }
            return Err(RecvError::Closed(self.shared.close_status()));
        }
        Err(RecvError::Empty)
    }

    /// Waits as log cursors do: spin briefly, then park on the event count
    /// (prepare, re-check, wait, finish).
    fn recv_until(&mut self, deadline: Deadline) -> Result<Event, RecvError> {
        let mut round = 0u32;
        loop {
            match self.poll() {
                Err(RecvError::Empty) => {}
                other => return other,
            }
            if self.shared.interrupt.take() {
                return Err(RecvError::Interrupted);
            }
            if deadline == Deadline::Now || deadline.expired() {
                if let Some(ev) = self.rearm_fd()? {
                    return Ok(ev);
                }
                return Err(if deadline == Deadline::Now {
                    RecvError::Empty
                } else {
                    RecvError::Timeout
                });
            }
            if short_backoff(round) {
                round += 1;
                continue;
            }
            let key = self.shared.ready.prepare();
            match self.poll() {
                Err(RecvError::Empty) if !self.shared.interrupt.is_raised() => {
                    self.shared.ready.wait(key, deadline);
                    self.shared.ready.finish();
                }
                Err(RecvError::Empty) => self.shared.ready.finish(),
                other => {
                    self.shared.ready.finish();
                    return other;
                }
            }
        }
    }

    /// With a readiness fd: about to report "nothing" — re-arm it; if an
    /// event or the close raced in, fire it again and return that.
    fn rearm_fd(&mut self) -> Result<Option<Event>, RecvError> {
        let shared = &*self.shared;
        let Some(fd) = shared.fd.get() else {
            return Ok(None);
        };
        shared.arm_fd(fd);
        match self.poll() {
            Err(RecvError::Empty) => Ok(None),
            other => {
                let shared = &*self.shared;
                if let Some(fd) = shared.fd.get() {
                    shared.fire_fd(fd);
                }
                other.map(Some)
            }
        }
    }

    /// The next event if one is in the mailbox now.
    ///
    /// # Errors
    /// `Empty`, `Interrupted` (an interrupt raised while not waiting),
    /// `Closed` (drained after close or unsubscribe; again on every later
    /// call).
    #[inline]
    pub fn try_recv(&mut self) -> Result<Event, RecvError> {
        if self.pending.is_none() {
            if let Some(ev) = self.shared.mailbox.pop() {
                self.took(1);
                return Ok(ev);
            }
        }
        self.recv_until(Deadline::Now)
    }

    /// The next event, waiting as long as it takes.
    ///
    /// # Errors
    /// `Interrupted` (through a [`Waker`]), `Closed`.
    pub fn recv(&mut self) -> Result<Event, RecvError> {
        self.recv_until(Deadline::Never)
    }

    /// The next event, waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Closed`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Event, RecvError> {
        self.recv_until(Deadline::after(timeout))
    }

    /// Up to `max` events available now (at least one unless `max` is 0),
    /// taken from the mailbox one by one as the iterator is advanced; those
    /// not taken stay for the next receive.
    ///
    /// ```
    /// use fanlog::hub::{Filter, Hub, SubscribeOptions};
    /// let hub = Hub::new();
    /// let mut sub = hub.subscribe(Filter::All, SubscribeOptions::default()).unwrap();
    /// for i in 0..10u8 {
    ///     hub.publish(1, &[i]).unwrap();
    /// }
    /// let mut got: Vec<u8> = sub.try_recv_batch(4).unwrap().map(|e| e.data()[0]).collect();
    /// got.extend(sub.try_recv_batch(100).unwrap().map(|e| e.data()[0]));
    /// assert_eq!(got, (0..10).collect::<Vec<_>>());
    /// ```
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    pub fn try_recv_batch(&mut self, max: usize) -> Result<RecvBatch<'_>, RecvError> {
        self.batch(max, Deadline::Now)
    }

    /// Like [`try_recv_batch`](Self::try_recv_batch), waiting for the first
    /// event as long as it takes.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, max: usize) -> Result<RecvBatch<'_>, RecvError> {
        self.batch(max, Deadline::Never)
    }

    /// Like [`try_recv_batch`](Self::try_recv_batch), waiting at most
    /// `timeout` for the first event.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_batch_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<RecvBatch<'_>, RecvError> {
        self.batch(max, Deadline::after(timeout))
    }

    fn batch(&mut self, max: usize, deadline: Deadline) -> Result<RecvBatch<'_>, RecvError> {
        if max == 0 {
            return Ok(RecvBatch {
                sub: self,
                first: None,
                left: 0,
                unannounced: 0,
            });
        }
        let first = self.recv_until(deadline)?;
        Ok(RecvBatch {
            sub: self,
            first: Some(first),
            left: max - 1,
            unannounced: 0,
        })
    }

    /// A handle that interrupts this subscription's blocking receives from
    /// another thread (see [`Waker`]).
    pub fn waker(&self) -> Waker {
        Waker {
            target: self.shared.clone(),
        }
    }

    /// A readiness file descriptor (Linux eventfd) for `poll`/`epoll`, with
    /// the same contract as [`Cursor::readiness_fd`](crate::Cursor::readiness_fd):
    /// readable whenever this subscription has something to return (an
    /// event or `Closed`) or was interrupted, possibly spuriously; a
    /// non-blocking receive that returns `Empty` re-arms it. Wait for
    /// readable, then call [`try_recv`](Self::try_recv) until `Empty`. The
    /// fd is owned by the subscription: do not read or close it.
    pub fn readiness_fd(&mut self) -> std::io::Result<std::os::fd::RawFd> {
        if let Some(fd) = self.shared.fd.get() {
            return Ok(fd.raw());
        }
        let fd = ReadinessFd::new()?;
        let _ = self.shared.fd.set(fd);
        let fd = self.shared.fd.get().expect("set above");
        // Establish the level: readable iff something is there now.
        if self.pending.is_some() || self.shared.mailbox.len() > 0 || self.shared.is_finished() {
            self.shared.fire_fd(fd);
        } else {
            self.shared.arm_fd(fd);
            if self.shared.mailbox.len() > 0 || self.shared.is_finished() {
                self.shared.fire_fd(fd);
            }
        }
        Ok(fd.raw())
    }

    /// Stops deliveries to this subscription. Idempotent.
    ///
    /// When it returns, no publish delivers anything more to it — not even
    /// one that loaded the old subscriber list before (see the module
    /// docs) — and `delivered` stops growing. Events already in the mailbox
    /// can still be received; then receives return
    /// `Closed(CloseStatus::Ok)` (or the earlier close status).
    pub fn unsubscribe(&self) {
        self.shared.seal(CloseStatus::Ok, true);
        self.hub.unregister(self.shared.id);
    }

    /// Whether the subscription is closed (it may still hold events).
    pub fn is_closed(&self) -> bool {
        // Relaxed: a status query.
        self.shared.state.load(Ordering::Relaxed) & SEALED != 0
    }

    /// This subscription's counters.
    pub fn stats(&self) -> SubscriptionStats {
        let s = &self.shared;
        let depth = s.mailbox.len() + usize::from(self.pending.is_some());
        self.sample_depth();
        SubscriptionStats {
            delivered: self.received + depth as u64,
            // Relaxed: counters.
            dropped: s.counters.dropped.load(Ordering::Relaxed),
            received: self.received,
            depth,
            high_water: s.counters.high_water.load(Ordering::Relaxed),
            capacity: s.capacity,
            closed: self.is_closed(),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}

/// Events taken from a [`Subscription`]'s mailbox one by one; returned by
/// the batch receives. Dropping it early leaves the rest in the mailbox.
pub struct RecvBatch<'a> {
    /// The subscription being drained.
    sub: &'a mut Subscription,
    /// The event found by the readiness check.
    first: Option<Event>,
    /// How many more may be taken.
    left: usize,
    /// Events taken since a waiting `Block` publisher was last told there
    /// is room (told every [`ANNOUNCE_EVERY`] events and when the batch
    /// ends, instead of one fence per event).
    unannounced: u32,
}

/// See [`RecvBatch::unannounced`].
const ANNOUNCE_EVERY: u32 = 16;

impl Iterator for RecvBatch<'_> {
    type Item = Event;

    #[inline]
    fn next(&mut self) -> Option<Event> {
        if let Some(ev) = self.first.take() {
            return Some(ev);
        }
        if self.left == 0 {
            return None;
        }
        let ev = self.sub.shared.mailbox.pop()?;
        self.left -= 1;
        self.sub.count_taken(1);
        self.unannounced += 1;
        if self.unannounced == ANNOUNCE_EVERY {
            self.unannounced = 0;
            self.sub.made_room();
        }
        Some(ev)
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        if self.unannounced > 0 {
            self.sub.made_room();
        }
    }
}

impl std::fmt::Debug for RecvBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("left", &(self.left + usize::from(self.first.is_some())))
            .finish()
    }
}
