//! The segmented broadcast log.
//!
//! Many producers append byte records; every record gets a gap-free
//! sequence number; every [`Cursor`] reads every retained record, in the
//! same order, without taking a lock and without writing to memory shared
//! with other readers.
//!
//! # Appending
//!
//! One `fetch_add` on the tail segment's reservation word reserves both a
//! slot index and a byte range (see [`segment`] docs), so
//! sequence numbers follow byte order. The producer copies its payload, then
//! commits the frame with one Release store of its commit word. The first
//! reservation that does not fit seals the segment; one producer at a time
//! links the successor (taking it from the pool, within the byte budget).
//!
//! # Reading
//!
//! A cursor Acquire-loads the commit word of the frame at its position. If
//! it holds the expected sequence, the record is there (zero-copy);
//! otherwise the cursor is caught up, or, if the segment is sealed at this
//! index, moves on to the successor. A reservation that is not committed yet
//! holds later records back: delivery is strictly in sequence order.
//!
//! # Retention and reclamation
//!
//! Each cursor holds a *lease* on the segment it reads. A segment no cursor
//! holds is recycled as soon as it is no longer needed (beyond
//! `retain_bytes`); under `DropOldest` the oldest segment is evicted even if
//! leased, and its lessees learn `Lagged` when they leave it. Unlinked
//! segments are retired through crossbeam-epoch and go back to the pool when
//! no pinned thread can still reach them, no lease remains, and every frame
//! reserved in them is committed (appends to in-memory logs do not pin: see
//! [`docs::design`](crate::docs::design)). In-memory segments are never
//! freed before the log: beyond the pool they wait in a graveyard with their
//! pages given back to the kernel.
//!
//! ## Lagging
//!
//! ```
//! use fanlog::{Log, OverflowPolicy, RecvError, Start};
//! let log = Log::builder()
//!     .segment_size(256)
//!     .max_bytes(512)
//!     .overflow(OverflowPolicy::DropOldest)
//!     .build()
//!     .unwrap();
//! let mut slow = log.cursor(Start::Earliest).unwrap();
//! for i in 0..100u32 {
//!     log.append(&i.to_le_bytes()).unwrap();
//! }
//! // The slow cursor reads what its leased segment still holds, then learns
//! // how much it missed, then continues with the oldest retained record.
//! let mut seen = Vec::new();
//! let mut missed = 0;
//! loop {
//!     match slow.try_next() {
//!         Ok(r) => seen.push(r.seq()),
//!         Err(RecvError::Lagged { missed: m }) => missed += m,
//!         Err(RecvError::Empty) => break,
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! assert_eq!(seen.len() as u64 + missed, 100);
//! assert_eq!(*seen.last().unwrap(), 99);
//! ```
//!
//! ## Closing
//!
//! ```
//! use fanlog::{CloseStatus, Log, RecvError, Start};
//! let log = Log::new();
//! let mut c = log.cursor(Start::Earliest).unwrap();
//! log.append(b"last words").unwrap();
//! log.close(CloseStatus::error(3, "disk gone"));
//! assert_eq!(c.next().unwrap().data(), b"last words");
//! assert_eq!(c.next().unwrap_err(), RecvError::Closed(CloseStatus::error(3, "disk gone")));
//! ```

pub(crate) mod bias;
pub(crate) mod config;
pub(crate) mod cursor;
pub(crate) mod frame;
pub(crate) mod pool;
pub(crate) mod producer;
pub mod segment;

use crate::error::{AppendError, CloseStatus, StartError};
use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::wait::{Deadline, EventCount, Interrupt, ReadinessFd};
use arc_swap::ArcSwap;
use config::LogConfig;
use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_utils::CachePadded;
use pool::{Pool, SegPtr};
use segment::{closed_link, unpack, Segment};
use std::sync::{Arc, OnceLock};

pub use config::{LogBuilder, OverflowPolicy, Timestamps, WaitStrategy};
pub use cursor::{Batch, Cursor, CursorStats, Record, Start};
pub use producer::Producer;

/// How many times, and for how long at least, a linker lets the epoch turn
/// (waiting for retired segments to come back) before it allocates past the
/// budget anyway — the escape hatch for a thread that was descheduled while
/// pinned (on an oversubscribed machine a producer preempted mid-append
/// holds the epoch back for a scheduler time slice).
#[cfg(not(fanlog_loom))]
const GRACE_ROUNDS: u32 = 64;
#[cfg(fanlog_loom)]
const GRACE_ROUNDS: u32 = 1;
#[cfg(not(fanlog_loom))]
const GRACE_TIME: std::time::Duration = std::time::Duration::from_millis(5);
#[cfg(fanlog_loom)]
const GRACE_TIME: std::time::Duration = std::time::Duration::ZERO;

/// Why a producer could not move past a sealed tail segment right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Advance {
    /// The log is closed.
    Closed,
    /// No room (`Reject`), or no memory for a new segment.
    Full,
    /// No room under `Block`: wait (unpinned) for room, then retry.
    Wait,
    /// Another producer is linking the successor: wait (unpinned) for it.
    Busy,
    /// A durable log could not create its next segment file.
    #[cfg_attr(fanlog_loom, allow(dead_code))]
    Storage,
}

/// State shared by the log handle, producers and cursors.
///
/// Every field that changes while the log runs sits on a cache line of its
/// own (`CachePadded`), away from the configuration and flags that every
/// append reads: with the counters packed next to `config`, the line
/// bounced between the producer's and the readers' cores, and 1 → 1 at 8 B
/// went from 29 to 34 M records/s when they were split (BENCHMARKS.md).
pub(crate) struct Shared {
    /// Validated configuration.
    pub(crate) config: LogConfig,
    /// Frame header size: `frame::HEADER`, `frame::COMPACT_HEADER` (in
    /// memory, no timestamps), or `frame::DURABLE_HEADER` (with
    /// a CRC) for durable logs.
    pub(crate) hdr: usize,
    /// A read-only (tailing) durable log: appends fail.
    pub(crate) read_only: bool,
    /// Appends reserve without pinning the epoch (in-memory logs): their
    /// segments are type-stable — never freed while the log lives (see
    /// `recycle` and the graveyard) — so a stale tail pointer stays valid.
    pub(crate) pin_free: bool,
    /// The producer bias: appends from the log's only producing thread
    /// reserve without a locked instruction (in-memory logs; see
    /// `bias`).
    pub(crate) bias: CachePadded<bias::Bias>,
    /// Segments whose memory was given back, kept (for `pin_free`) until the
    /// log is dropped or a linker reuses them. A push-only Treiber stack
    /// with a single popper (the linker, under `link_busy`): no ABA.
    graveyard: CachePadded<AtomicPtr<Segment>>,
    /// Durable logs: files, recovery, named cursors.
    #[cfg(not(fanlog_loom))]
    pub(crate) store: Option<Box<crate::store::Store>>,
    /// `config.max_segments()`, cached.
    max_segments: usize,
    /// Oldest linked segment; written only under `head_busy`.
    head: CachePadded<AtomicPtr<Segment>>,
    /// Base sequence of `head` (for statistics and `Start::At` errors).
    pub(crate) head_base: CachePadded<AtomicU64>,
    /// Newest linked segment (where appends go).
    tail: CachePadded<AtomicPtr<Segment>>,
    /// Held while one producer links a successor to the tail.
    link_busy: CachePadded<AtomicBool>,
    /// Held while `head` moves (reclaim or eviction).
    head_busy: CachePadded<AtomicBool>,
    /// An eager reclaim was requested while `head_busy` was held.
    reclaim_eager: CachePadded<AtomicBool>,
    /// A reclaim for room in the budget was requested likewise.
    reclaim_budget: CachePadded<AtomicBool>,
    /// Segments linked between head and tail (the byte budget counts these).
    linked: CachePadded<AtomicUsize>,
    /// Segments allocated in all: linked, pooled, or unlinked but leased.
    allocated: CachePadded<AtomicUsize>,
    /// High-water mark of `allocated - pooled`, i.e. retained segments.
    peak_retained: CachePadded<AtomicUsize>,
    /// Segments in the pool.
    pooled: CachePadded<AtomicUsize>,
    /// Free segments.
    pool: Pool,
    /// Readers wait here for commits, links, close and interrupts.
    pub(crate) readers: CachePadded<EventCount>,
    /// Producers wait here for room (reclaim), links, close and interrupts.
    pub(crate) space: CachePadded<EventCount>,
    /// Readiness fds of cursors that asked for one.
    fds: ArcSwap<Vec<Arc<ReadinessFd>>>,
    /// Set (first) by `close`; appends check it before reserving.
    closing: AtomicBool,
    /// Set (last) by `close`, after `final_seq` and `status`.
    pub(crate) closed: AtomicBool,
    /// One past the last sequence number; valid once `closed`.
    pub(crate) final_seq: AtomicU64,
    /// The close status; set before `closed`.
    pub(crate) status: OnceLock<CloseStatus>,
    /// Framed bytes of sealed segments.
    sealed_bytes: CachePadded<AtomicU64>,
    /// Segments evicted by `DropOldest` (with records some cursor hadn't read).
    segments_evicted: CachePadded<AtomicU64>,
    /// Recycled segments whose memory went back to the kernel.
    segments_released: CachePadded<AtomicU64>,
    /// Records that cursors skipped after `Lagged`.
    pub(crate) records_missed: CachePadded<AtomicU64>,
    /// Live cursors.
    pub(crate) cursors: CachePadded<AtomicUsize>,
    /// Cursors holding a lease on a segment that `DropOldest` evicted. While
    /// there are any, eager reclaim pauses: they still need the segments
    /// that follow theirs.
    orphans: CachePadded<AtomicUsize>,
    /// Live [`Handle`]s. `std`'s atomic even under loom: no modelled
    /// protocol reads it (it only ends the durable store).
    handles: std::sync::atomic::AtomicUsize,
}

// SAFETY: all fields are atomics, immutable configuration, or containers of
// `Send + Sync` data; segment pointers are only dereferenced under the
// epoch/lease protocol described in the module docs.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn new(config: LogConfig) -> std::io::Result<Arc<Self>> {
        let first = Box::into_raw(Segment::new(config.segment_size, config.memory, 0)?);
        Ok(Arc::new(Self::with_list(
            config, first, first, 0, 1, 0, None,
        )))
    }

    /// A durable log's state over recovered segments (oldest first, all but
    /// the last sealed).
    #[cfg(not(fanlog_loom))]
    #[allow(clippy::vec_box)] // each segment is handed out as a raw `Box` pointer
    pub(crate) fn from_segments(
        config: LogConfig,
        segments: Vec<Box<Segment>>,
        store: Box<crate::store::Store>,
    ) -> Arc<Self> {
        let n = segments.len();
        let head_base = segments[0].base();
        let mut sealed_bytes = 0u64;
        let ptrs: Vec<*mut Segment> = segments.into_iter().map(Box::into_raw).collect();
        for w in ptrs.windows(2) {
            // SAFETY: freshly boxed segments, owned by us until published.
            unsafe {
                (*w[0]).next.store(w[1], Ordering::Relaxed);
                sealed_bytes += (*w[0]).size() as u64;
            }
        }
        let mut shared = Self::with_list(
            config,
            ptrs[0],
            ptrs[n - 1],
            head_base,
            n,
            sealed_bytes,
            Some(store),
        );
        shared.hdr = frame::DURABLE_HEADER;
        // Durable segments are unmapped (and their files deleted) when
        // recycled: producers pin the epoch for them.
        shared.pin_free = false;
        shared.bias = CachePadded::new(bias::Bias::new(false));
        Arc::new(shared)
    }

    #[allow(clippy::too_many_arguments)]
    fn with_list(
        config: LogConfig,
        head: *mut Segment,
        tail: *mut Segment,
        head_base: u64,
        linked: usize,
        sealed_bytes: u64,
        #[allow(unused_variables)] store: Option<Box<crate::store::StoreBox>>,
    ) -> Self {
        #[cfg(not(fanlog_loom))]
        let read_only = store.as_ref().is_some_and(|s| s.read_only);
        #[cfg(fanlog_loom)]
        let read_only = false;
        // The compact header needs at least 16 bytes per frame; segments of
        // at most half the largest size keep the reservation word's record
        // count as far from overflowing as 24-byte frames do in the largest.
        let hdr = if config.timestamps == Timestamps::Off
            && config.segment_size <= segment::MAX_SEGMENT_SIZE / 2
        {
            frame::COMPACT_HEADER
        } else {
            frame::HEADER
        };
        Self {
            max_segments: config.max_segments(),
            pool: Pool::new(config.pool_segments),
            config,
            hdr,
            read_only,
            pin_free: true,
            bias: CachePadded::new(bias::Bias::new(true)),
            graveyard: CachePadded::new(AtomicPtr::new(std::ptr::null_mut())),
            #[cfg(not(fanlog_loom))]
            store,
            head: CachePadded::new(AtomicPtr::new(head)),
            head_base: CachePadded::new(AtomicU64::new(head_base)),
            tail: CachePadded::new(AtomicPtr::new(tail)),
            link_busy: CachePadded::new(AtomicBool::new(false)),
            head_busy: CachePadded::new(AtomicBool::new(false)),
            reclaim_eager: CachePadded::new(AtomicBool::new(false)),
            reclaim_budget: CachePadded::new(AtomicBool::new(false)),
            linked: CachePadded::new(AtomicUsize::new(linked)),
            allocated: CachePadded::new(AtomicUsize::new(linked)),
            peak_retained: CachePadded::new(AtomicUsize::new(linked)),
            pooled: CachePadded::new(AtomicUsize::new(0)),
            readers: CachePadded::new(EventCount::new()),
            space: CachePadded::new(EventCount::new()),
            fds: ArcSwap::from_pointee(Vec::new()),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            final_seq: AtomicU64::new(u64::MAX),
            status: OnceLock::new(),
            sealed_bytes: CachePadded::new(AtomicU64::new(sealed_bytes)),
            segments_evicted: CachePadded::new(AtomicU64::new(0)),
            segments_released: CachePadded::new(AtomicU64::new(0)),
            records_missed: CachePadded::new(AtomicU64::new(0)),
            cursors: CachePadded::new(AtomicUsize::new(0)),
            orphans: CachePadded::new(AtomicUsize::new(0)),
            handles: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The durable part, for durable logs.
    #[cfg(not(fanlog_loom))]
    #[inline]
    pub(crate) fn store(&self) -> Option<&crate::store::Store> {
        self.store.as_deref()
    }

    /// Read-only logs: the follower found the successor of the tail `t`
    /// (which holds `count` records) and links it.
    #[cfg(not(fanlog_loom))]
    pub(crate) fn link_followed(self: &Arc<Self>, t: *mut Segment, count: u64, next: Box<Segment>) {
        // SAFETY: `t` is the tail; only the follower (this caller) moves a
        // read-only log's tail, so it stays linked and alive.
        let ts = unsafe { &*t };
        let new = Box::into_raw(next);
        // Release: as the sealer's store in `reserve`.
        ts.sealed.store(segment::SEALED | count, Ordering::Release);
        // Release: publishes the mapped segment (as in `link`).
        if ts
            .next
            .compare_exchange(
                std::ptr::null_mut(),
                new,
                Ordering::Release,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Closed locally meanwhile.
            // SAFETY: never published.
            drop(unsafe { Box::from_raw(new) });
            return;
        }
        // Relaxed: statistics and gauges.
        self.sealed_bytes
            .fetch_add(ts.size() as u64, Ordering::Relaxed);
        self.linked.fetch_add(1, Ordering::Relaxed);
        self.allocated.fetch_add(1, Ordering::Relaxed);
        // Release: pairs with the Acquire in `tail_segment`.
        self.tail.store(new, Ordering::Release);
        self.note_retained();
        let guard = epoch::pin();
        self.try_reclaim(&guard, false);
    }

    /// Closes the log (the follower of a read-only log uses it when the
    /// writer closed, or when it fell behind).
    #[cfg(not(fanlog_loom))]
    pub(crate) fn close_internal(self: &Arc<Self>, status: CloseStatus) -> bool {
        self.close(status)
    }

    /// The segment appends currently go to. Acquire: pairs with the Release
    /// store in `link`, so the segment's reset fields are visible.
    #[inline]
    pub(crate) fn tail_segment(&self) -> *mut Segment {
        self.tail.load(Ordering::Acquire)
    }

    /// The oldest linked segment. Acquire: pairs with the Release store in
    /// `unlink_head`; the caller must be pinned and validate with a lease.
    #[inline]
    pub(crate) fn head_segment(&self) -> *mut Segment {
        self.head.load(Ordering::Acquire)
    }

    /// Drops a lease on `seg`. `counted` is true for a lease that was taken
    /// successfully (so an eviction may have counted it as an orphan), false
    /// for a void one (`Segment::lease` returned false).
    pub(crate) fn drop_lease(&self, seg: *const Segment, counted: bool) {
        // SAFETY: the caller holds a lease (void or not) on `seg`, so it is
        // not recycled before this release.
        let (recycle, orphan) = unsafe { (*seg).release() };
        if orphan && counted {
            // Relaxed: a hint for eager reclaim; it only ever errs high.
            self.orphans.fetch_sub(1, Ordering::Relaxed);
        }
        if recycle {
            self.recycle(seg as *mut Segment);
        }
    }

    /// Whether `close` has begun. Relaxed: the reservation word's `CLOSED`
    /// bit is the authoritative check; this only avoids useless reservations.
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// The close status (once closed).
    pub(crate) fn close_status(&self) -> CloseStatus {
        self.status.get().cloned().unwrap_or_default()
    }

    /// Wakes readers after a commit, if any is waiting. A compiler fence and
    /// a load when nobody is (see `wait` on asymmetric fences).
    #[inline]
    pub(crate) fn notify_readers(&self) {
        self.readers.notify_fence();
        if self.readers.has_waiters() {
            self.wake_readers();
        }
    }

    /// Wakes every parked reader and fires every armed readiness fd.
    pub(crate) fn wake_readers(&self) {
        self.readers.wake_all();
        for fd in self.fds.load().iter() {
            if fd.fire_if_armed() {
                self.readers.finish();
            }
        }
    }

    /// Registers a readiness fd to be fired by notifiers.
    pub(crate) fn register_fd(&self, fd: &Arc<ReadinessFd>) {
        self.fds.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(fd.clone());
            v
        });
    }

    /// Unregisters a readiness fd.
    pub(crate) fn unregister_fd(&self, fd: &Arc<ReadinessFd>) {
        self.fds.rcu(|v| {
            v.iter()
                .filter(|f| !Arc::ptr_eq(f, fd))
                .cloned()
                .collect::<Vec<_>>()
        });
        if fd.disarm() {
            self.readers.finish();
        }
    }

    /// Arms `fd` as a waiter on readers' notifications.
    pub(crate) fn arm_fd(&self, fd: &ReadinessFd) {
        fd.clear();
        if fd.arm() {
            // Counted as a waiter so notifiers look at the fd list.
            self.readers.prepare();
        }
    }

    /// Disarms `fd` (the owner found data itself) and makes it readable.
    pub(crate) fn fire_fd(&self, fd: &ReadinessFd) {
        if fd.disarm() {
            self.readers.finish();
        }
        fd.signal();
    }

    /// Next sequence number to be reserved (approximate under concurrency),
    /// and the framed bytes appended so far.
    pub(crate) fn next_seq_and_bytes(&self) -> (u64, u64) {
        let _guard = epoch::pin();
        let t = self.tail_segment();
        // SAFETY: pinned, and `t` was the tail at our load: it cannot be
        // recycled before we unpin.
        let t = unsafe { &*t };
        // Relaxed: a statistic.
        let (_, count, off) = unpack(t.tail.load(Ordering::Relaxed));
        let count = t.sealed_count().map_or(count, |c| c.min(count));
        let bytes = self.sealed_bytes.load(Ordering::Relaxed) + off.min(t.size() as u64);
        (t.base() + count, bytes)
    }

    /// Reserves one slot of the byte budget for a new segment, applying the
    /// overflow policy when the budget is exhausted. Called by the linker
    /// (under `link_busy`); never waits: under `Block` it returns
    /// [`Advance::Wait`] and the producer waits unpinned.
    fn acquire_budget(self: &Arc<Self>, guard: &Guard) -> Result<(), Advance> {
        loop {
            // Relaxed: the counter only meters; linking is serialized by
            // `link_busy` and unlinking by `head_busy`.
            let n = self.linked.load(Ordering::Relaxed);
            if n < self.max_segments {
                if self
                    .linked
                    .compare_exchange(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if self.try_reclaim(guard, true) {
                continue;
            }
            if self.is_closing() {
                return Err(Advance::Closed);
            }
            match self.config.overflow {
                OverflowPolicy::DropOldest => self.evict_head(guard),
                OverflowPolicy::Reject => return Err(Advance::Full),
                OverflowPolicy::Block => return Err(Advance::Wait),
            }
        }
    }

    /// The tail segment `seg` is sealed: find or link its successor. Never
    /// waits (beyond a brief spin for a sealer or linker in progress).
    pub(crate) fn try_advance(
        self: &Arc<Self>,
        seg: &Segment,
        guard: &mut Guard,
    ) -> Result<*mut Segment, Advance> {
        loop {
            // Acquire: pairs with the Release CAS in `link`, so the
            // successor's reset fields are visible.
            let n = seg.next.load(Ordering::Acquire);
            if n == closed_link() {
                return Err(Advance::Closed);
            }
            if !n.is_null() {
                return Ok(n);
            }
            let Some(count) = seg.sealed_count() else {
                // The sealer is between its reservation and its store.
                crate::sync::spin_hint();
                continue;
            };
            // Acquire: pairs with the Release store that ends a link.
            if self
                .link_busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                let r = self.link(seg, count, guard);
                // Release: hands what we linked to the next linker.
                self.link_busy.store(false, Ordering::Release);
                r?;
                // Producers waiting for this link can go on. (A failed link
                // wakes nobody: the waiters would only fail the same way.)
                self.space.notify();
                continue;
            }
            // Somebody else is linking. Wait for it unpinned (in
            // `wait_for_space`): spinning here while pinned would hold back
            // the epoch that the linker may be waiting on to recycle
            // segments.
            return Err(Advance::Busy);
        }
    }

    /// Waits, unpinned, until the tail may have moved or room may have been
    /// freed (or the deadline, an interrupt or close). `tail` is the sealed
    /// tail seen by the caller (compared, never dereferenced).
    pub(crate) fn wait_for_space(
        self: &Arc<Self>,
        tail: *mut Segment,
        why: Advance,
        deadline: Deadline,
        interrupt: Option<&Interrupt>,
    ) -> Result<(), AppendError> {
        if why == Advance::Busy {
            // Another producer is linking. It never parks while it holds
            // `link_busy` (at most it lets the epoch turn for a few ms), so
            // this is not a wait for room: spin, then yield, until it is
            // done, whatever the deadline (a zero-timeout append must not
            // report `Full` just because another producer is mid-link).
            let mut round = 0u32;
            loop {
                // Relaxed: hints, re-checked by the retry.
                if self.tail_segment() != tail || !self.link_busy.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if interrupt.is_some_and(|i| i.take()) {
                    return Err(AppendError::Interrupted);
                }
                crate::wait::spin_wait(round);
                round = round.saturating_add(1);
            }
        }
        if deadline == Deadline::Now {
            return Err(AppendError::Full);
        }
        let progress = || {
            self.tail_segment() != tail
                // Relaxed: hints; the waker bumps the epoch after changing them.
                || self.linked.load(Ordering::Relaxed) < self.max_segments
                || !self.link_busy.load(Ordering::Relaxed)
                    && self.reclaim_for_budget()
                || self.is_closing()
                || interrupt.is_some_and(|i| i.is_raised())
        };
        // Room usually comes back soon (a reader leaves the oldest segment):
        // re-check, yielding the CPU in between, as readers do before they
        // park (`SPIN_ROUNDS`), and park only if it does not. A park costs
        // the waiter a `membarrier` (`prepare`) and the next notifier a
        // futex wake. Measured in alternating runs of the peers bench
        // (medians of 8 rounds): 1 -> 4 at 8 B and 64 B +18% and +27%,
        // 4 -> 4 +15% to +26% at every payload; 1 -> 2 mixed (at 8 B +41%
        // in one 5-round A/B, -11% in a later 6-round one, the rounds
        // overlapping); 1 -> 1, and 1 KiB with one producer, unchanged.
        let mut round = 0u32;
        loop {
            if progress() || deadline.expired() {
                break;
            }
            if !crate::wait::backoff(round) {
                let key = self.space.prepare();
                if !progress() {
                    self.space.wait(key, self.park_deadline(deadline));
                }
                self.space.finish();
                break;
            }
            round += 1;
        }
        if interrupt.is_some_and(|i| i.take()) {
            return Err(AppendError::Interrupted);
        }
        if deadline.expired() && !progress() {
            return Err(AppendError::Timeout);
        }
        Ok(())
    }

    /// How long a producer blocked for room parks before it looks again. A
    /// durable log's room can also come from a named cursor's commit in
    /// another process, which wakes nobody here: re-check every 10 ms.
    fn park_deadline(&self, deadline: Deadline) -> Deadline {
        #[cfg(not(fanlog_loom))]
        if self.store().is_some() {
            let cap = Deadline::after(std::time::Duration::from_millis(10));
            return match (deadline, cap) {
                (Deadline::At(a), Deadline::At(b)) => Deadline::At(a.min(b)),
                (Deadline::Now, _) => Deadline::Now,
                (_, c) => c,
            };
        }
        deadline
    }

    /// Pins briefly and reclaims for the budget; `true` if that freed room.
    fn reclaim_for_budget(self: &Arc<Self>) -> bool {
        let guard = epoch::pin();
        self.try_reclaim(&guard, true);
        // Relaxed: a hint (see `wait_for_space`).
        self.linked.load(Ordering::Relaxed) < self.max_segments
    }

    /// The linker's work, under `link_busy`.
    fn link(self: &Arc<Self>, seg: &Segment, count: u64, guard: &mut Guard) -> Result<(), Advance> {
        if !seg.next.load(Ordering::Acquire).is_null() {
            return Ok(()); // linked (or closed) while we took the flag
        }
        self.acquire_budget(guard)?;
        let base = seg.base() + count;
        let mut grace_rounds = 0;
        let grace_start = std::time::Instant::now();
        let new = loop {
            if let Some(SegPtr(p)) = self.pool.pop() {
                // Relaxed: a gauge.
                self.pooled.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: a pooled segment is owned by the pool, which just
                // handed it to us exclusively.
                let s = unsafe { &*p };
                // Zeroed here, by the linker, not by whoever recycled it: a
                // segment zeroed by a reader thread left every line of it in
                // that reader's cache, modified, so the producer then paid a
                // cross-core transfer per line as it wrote its frames (1 -> 1
                // at 1 KiB: 4.7-5.2 M/s zeroed by the reader, 7.6-8.1 M/s
                // zeroed here). The pooled segment kept its old tail word, so
                // `used_bytes` is the dirty prefix (stale reservations that
                // failed may only enlarge it).
                s.data.zero(s.used_bytes());
                s.reset(base);
                break p;
            }
            // Memory held: linked segments plus unlinked ones not yet back in
            // the pool (in their epoch grace period, or leased by cursors
            // stranded in an evicted segment). Allow the budget plus one
            // segment per stranded cursor; beyond that, wait for the grace
            // period instead of allocating (busy producers used to allocate
            // hundreds of segments past the budget). A graveyard segment
            // counts as an allocation: taking one while the budget's own
            // segments were in their grace period made every recycle go
            // over the budget and back to the graveyard, so that in steady
            // state every segment switch paid an `madvise` (with its TLB
            // shootdown) and refaulted its pages (28 k `madvise` calls in a
            // 3 s run of 1 → 2 at 8 B). Relaxed: gauges.
            let held = self.allocated.load(Ordering::Relaxed) - self.pooled.load(Ordering::Relaxed);
            let limit = self.max_segments + self.orphans.load(Ordering::Relaxed);
            if held < limit || grace_rounds >= GRACE_ROUNDS && grace_start.elapsed() >= GRACE_TIME {
                if let Some(p) = self.graveyard_pop() {
                    // Relaxed: a gauge.
                    self.allocated.fetch_add(1, Ordering::Relaxed);
                    // SAFETY: popped from the graveyard: ours alone (its
                    // memory reads as zeros).
                    unsafe { (*p).reset(base) };
                    break p;
                }
                #[cfg(not(fanlog_loom))]
                if let Some(st) = self.store() {
                    match st.create_segment(self.config.segment_size, base) {
                        Some(b) => {
                            // Relaxed: a gauge.
                            self.allocated.fetch_add(1, Ordering::Relaxed);
                            break Box::into_raw(b);
                        }
                        None => {
                            self.linked.fetch_sub(1, Ordering::Relaxed);
                            return Err(Advance::Storage);
                        }
                    }
                }
                match Segment::new(self.config.segment_size, self.config.memory, base) {
                    Ok(b) => {
                        // Relaxed: a gauge.
                        self.allocated.fetch_add(1, Ordering::Relaxed);
                        break Box::into_raw(b);
                    }
                    Err(_) => {
                        self.linked.fetch_sub(1, Ordering::Relaxed);
                        return Err(Advance::Full);
                    }
                }
            }
            // Let the epoch move on so retired segments get recycled. `seg`
            // stays valid across the repin: it is the tail (only a linker
            // moves the tail, and we hold `link_busy`), and the tail is never
            // unlinked.
            guard.repin();
            guard.flush();
            grace_rounds += 1;
            if grace_rounds > GRACE_ROUNDS / 2 {
                crate::sync::yield_now();
            } else {
                crate::sync::spin_hint();
            }
        };
        // Release: publishes the reset segment to producers and readers that
        // Acquire `next`. Fails only if `close` installed `closed_link`.
        if seg
            .next
            .compare_exchange(
                std::ptr::null_mut(),
                new,
                Ordering::Release,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Relaxed: a gauge (taken back: the segment was never linked).
            self.linked.fetch_sub(1, Ordering::Relaxed);
            self.recycle(new);
            return Err(Advance::Closed);
        }
        // Release: pairs with the Acquire in `tail_segment`.
        self.tail.store(new, Ordering::Release);
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            st.on_linked(seg, count);
        }
        self.note_retained();
        // Readers waiting at the sealed end can move on.
        self.notify_readers();
        // Eagerly recycle what nobody needs any more.
        self.try_reclaim(guard, false);
        Ok(())
    }

    fn note_retained(&self) {
        // Relaxed: gauges.
        let retained = self.allocated.load(Ordering::Relaxed) - self.pooled.load(Ordering::Relaxed);
        self.peak_retained.fetch_max(retained, Ordering::Relaxed);
    }

    /// Unlinks head segments that no cursor holds: down to `retain_bytes`
    /// (eager), or, `for_budget`, until the budget has room again. Always
    /// keeps the tail. Never waits: if another thread is moving the head,
    /// the request is left for it (it re-checks the request flags after
    /// releasing `head_busy`, so no request is lost). Returns `true` if this
    /// call unlinked anything.
    pub(crate) fn try_reclaim(self: &Arc<Self>, guard: &Guard, for_budget: bool) -> bool {
        let flag = if for_budget {
            &self.reclaim_budget
        } else {
            &self.reclaim_eager
        };
        // SeqCst: store-buffer pairing with the holder's release of
        // `head_busy` followed by its load of the flags.
        flag.store(true, Ordering::SeqCst);
        let mut any = false;
        loop {
            if self
                .head_busy
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                break;
            }
            // SeqCst: as above.
            let budget = self.reclaim_budget.swap(false, Ordering::SeqCst);
            let eager = self.reclaim_eager.swap(false, Ordering::SeqCst);
            if eager {
                any |= self.reclaim_locked(guard, false);
            }
            if budget {
                any |= self.reclaim_locked(guard, true);
            }
            // SeqCst: see above.
            self.head_busy.store(false, Ordering::SeqCst);
            if !self.reclaim_budget.load(Ordering::SeqCst)
                && !self.reclaim_eager.load(Ordering::SeqCst)
            {
                break;
            }
        }
        if any {
            self.space.notify();
        }
        any
    }

    /// The work of `try_reclaim`, under `head_busy`.
    fn reclaim_locked(self: &Arc<Self>, guard: &Guard, for_budget: bool) -> bool {
        let keep = (self.config.retain_bytes / self.config.segment_size).max(1);
        let mut any = false;
        loop {
            let h = self.head_segment();
            // Relaxed: changed only by head movers (us) and linkers, whose
            // increments are re-checked by the callers that need room.
            let linked = self.linked.load(Ordering::Relaxed);
            if h == self.tail_segment() {
                break;
            }
            if for_budget {
                if linked < self.max_segments {
                    break;
                }
            } else if linked <= keep && !self.head_expired(h)
                // Relaxed: only `evict_head` raises it, under `head_busy`
                // which we hold; lowering races only make us conservative.
                || self.orphans.load(Ordering::Relaxed) != 0
            {
                break;
            }
            // SAFETY: `h` is the head; only head movers (us, under
            // `head_busy`) unlink it, so it is alive.
            let hs = unsafe { &*h };
            #[cfg(not(fanlog_loom))]
            if let Some(st) = self.store() {
                // Named cursors that have not committed past `h` keep it
                // (unless it is older than `max_age`).
                let end = hs.sealed_count().map_or(u64::MAX, |c| hs.base() + c);
                if st.keeps(hs, end) {
                    break;
                }
            }
            if !hs.try_unlink() {
                break; // a cursor holds it
            }
            self.unlink_head(h, guard);
            any = true;
        }
        any
    }

    /// Durable logs with `max_age`: the head segment `h` (alive: the
    /// caller holds `head_busy`) is older than the limit.
    fn head_expired(&self, _h: *mut Segment) -> bool {
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            // SAFETY: `_h` is the head, kept alive under `head_busy`.
            return st.expired(unsafe { &*_h });
        }
        false
    }

    /// `DropOldest`: unlinks the head even if cursors hold it.
    fn evict_head(self: &Arc<Self>, guard: &Guard) {
        // SeqCst: as in `try_reclaim`. Spins only while another head mover
        // runs its few steps.
        while self
            .head_busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            crate::sync::spin_hint();
        }
        let h = self.head_segment();
        if h != self.tail_segment() {
            // SAFETY: as in `reclaim_locked`.
            let hs = unsafe { &*h };
            let orphaned = hs.force_unlink();
            // Relaxed: statistics / the eager-reclaim hint (we hold
            // `head_busy`, which `reclaim_locked` runs under).
            self.orphans.fetch_add(orphaned as usize, Ordering::Relaxed);
            self.segments_evicted.fetch_add(1, Ordering::Relaxed);
            self.unlink_head(h, guard);
        }
        // SeqCst: as in `try_reclaim`.
        self.head_busy.store(false, Ordering::SeqCst);
        // SeqCst: a request that arrived while we held the flag.
        if self.reclaim_eager.load(Ordering::SeqCst) || self.reclaim_budget.load(Ordering::SeqCst) {
            self.try_reclaim(guard, false);
        }
    }

    /// Moves the head past `h` and retires `h` through the epoch. Caller
    /// holds `head_busy`, `h` is the head and not the tail, and the caller
    /// set its `UNLINKED` bit.
    fn unlink_head(self: &Arc<Self>, h: *mut Segment, guard: &Guard) {
        // SAFETY: `h` is the live head (caller's contract).
        let hs = unsafe { &*h };
        // Acquire: `h` is not the tail, so its successor was linked (Release)
        // before the tail moved past it.
        let next = hs.next.load(Ordering::Acquire);
        debug_assert!(!next.is_null() && next != closed_link());
        // SAFETY: `next` is linked, hence alive.
        let next_base = unsafe { (*next).base() };
        // Release: pairs with the Acquire in `head_segment`.
        self.head.store(next, Ordering::Release);
        // Relaxed: statistics and error messages only.
        self.head_base.store(next_base, Ordering::Relaxed);
        // Relaxed: a gauge.
        self.linked.fetch_sub(1, Ordering::Relaxed);
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            st.on_unlinked(hs);
        }
        // Weak: a pending retire must not keep the log's state (and a
        // durable log's directory lock) alive after its last handle.
        let this = Arc::downgrade(self);
        let seg = SegPtr(h);
        // SAFETY of the deferred function: it runs once every thread that
        // was pinned when `h` was still reachable has unpinned; after that
        // only lease holders touch `h`, and `retire`/`release` decide who
        // recycles it (exactly one of them).
        guard.defer(move || {
            let seg = seg;
            // SAFETY: `seg.0` stays allocated until recycled (below or by
            // the last lease holder): unlinked, it is in none of the lists
            // that `Shared`'s drop frees.
            if unsafe { (*seg.0).retire() } {
                match this.upgrade() {
                    Some(this) => this.recycle(seg.0),
                    // SAFETY: the log's state is gone, and with it every
                    // handle, lease and stale producer pointer: we own the
                    // segment alone (its file, if any, was deleted at
                    // unlink; dropping it unmaps or frees its memory).
                    None => drop(unsafe { Box::from_raw(seg.0) }),
                }
            }
        });
        // Hand the retire to the global queue now and try to advance the
        // epoch, so that the segment comes back within a few pins instead of
        // waiting for the thread-local bag to fill.
        guard.flush();
    }

    /// Returns a retired segment to the pool, dirty (the linker that takes
    /// it zeroes it), or releases its memory when the pool is full or the
    /// budget is exceeded. The caller owns `seg`
    /// exclusively: retired, no lease, unlinked.
    pub(crate) fn recycle(&self, seg: *mut Segment) {
        // SAFETY: exclusive ownership is the caller's contract.
        let s = unsafe { &*seg };
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            // Durable segments are files: the store deletes (writer) and
            // unmaps them, possibly later on its background thread.
            // Relaxed: a gauge.
            self.allocated.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: exclusive owner; the box was created by the store.
            st.on_recycle(unsafe { Box::from_raw(seg) });
            return;
        }
        // A producer on the unpinned fast path may still be copying into a
        // frame it reserved before the segment was retired.
        s.wait_committed(self.hdr);
        // Relaxed: gauges.
        let over = self.allocated.load(Ordering::Relaxed) > self.max_segments;
        if !over {
            // Pooled dirty: the linker that takes it zeroes it (see `link`).
            // Relaxed: gauge, updated before the push publishes the segment.
            self.pooled.fetch_add(1, Ordering::Relaxed);
            match self.pool.push(SegPtr(seg)) {
                Ok(()) => return,
                Err(_) => {
                    // Relaxed: a gauge.
                    self.pooled.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        // Relaxed: a gauge.
        self.allocated.fetch_sub(1, Ordering::Relaxed);
        // Relaxed: a statistic.
        self.segments_released.fetch_add(1, Ordering::Relaxed);
        // Not freed: a producer may hold a stale pointer to it (pin-free
        // appends). Its memory goes back to the kernel; the struct waits in
        // the graveyard for reuse or for the log's drop.
        s.data.release(s.used_bytes());
        self.graveyard_push(seg);
    }

    /// Pushes a released segment on the graveyard.
    fn graveyard_push(&self, seg: *mut Segment) {
        // SAFETY: the caller owns `seg` exclusively (it is in no list).
        let s = unsafe { &*seg };
        // Relaxed: only the CAS below publishes.
        let mut head = self.graveyard.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release CAS.
            s.grave_next.store(head, Ordering::Relaxed);
            // Release: the popper (Acquire) sees `grave_next` and the
            // released memory state.
            match self.graveyard.compare_exchange_weak(
                head,
                seg,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Pops a released segment (linker only, under `link_busy`: the single
    /// popper, so a node cannot be popped and pushed back under us).
    fn graveyard_pop(&self) -> Option<*mut Segment> {
        // Acquire: pairs with the Release CAS in `graveyard_push`.
        let mut head = self.graveyard.load(Ordering::Acquire);
        while !head.is_null() {
            // SAFETY: graveyard segments are never freed while the log lives.
            let next = unsafe { (*head).grave_next.load(Ordering::Relaxed) };
            // Acquire: as above.
            match self.graveyard.compare_exchange_weak(
                head,
                next,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(head),
                Err(h) => head = h,
            }
        }
        None
    }

    /// Records the bytes of a segment that was just sealed at `offset`.
    #[inline]
    pub(crate) fn note_sealed(&self, offset: u64) {
        // Relaxed: a statistic.
        self.sealed_bytes.fetch_add(offset, Ordering::Relaxed);
    }

    /// Closes the log (see [`Log::close`]).
    fn close(self: &Arc<Self>, status: CloseStatus) -> bool {
        // SeqCst: totally ordered with producers' checks; only the first
        // caller proceeds.
        if self.closing.swap(true, Ordering::SeqCst) {
            return false;
        }
        // The CLOSED bit below is an RMW: no plain reservation may race it.
        self.bias.revoke();
        let _ = self.status.set(status);
        let _guard = epoch::pin();
        let mut t = self.tail_segment();
        let final_seq = loop {
            // SAFETY: pinned; `t` is the tail or was linked after it, so it
            // cannot be recycled before we unpin (it is never the head's
            // predecessor while we walk forward).
            let ts = unsafe { &*t };
            // AcqRel: totally ordered with reservations on this word (same
            // location); Acquire so we see the sealer's work.
            let old = ts.tail.fetch_or(segment::CLOSED, Ordering::AcqRel);
            let (_, count, off) = unpack(old);
            if off <= ts.size() as u64 {
                break ts.base() + count;
            }
            let count = loop {
                match ts.sealed_count() {
                    Some(c) => break c,
                    None => crate::sync::spin_hint(),
                }
            };
            // Hold `link_busy` for the CAS: a linker is then never between
            // resetting a segment and linking it, so a pin-free producer
            // that reserved in the reset segment cannot lose its record to
            // a failed link.
            // Acquire: pairs with the linker's Release of the flag.
            while self
                .link_busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                crate::sync::yield_now();
            }
            // AcqRel: installs the "closed here" link, or finds the
            // successor that a linker published with Release.
            let r = ts.next.compare_exchange(
                std::ptr::null_mut(),
                closed_link(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            // Release: hands the list to the next linker.
            self.link_busy.store(false, Ordering::Release);
            match r {
                Ok(_) => break ts.base() + count,
                Err(n) => t = n,
            }
        };
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            // SAFETY: pinned (`_guard`), and `t` was reached from the tail.
            st.on_close(unsafe { &*t }, final_seq, &self.close_status());
        }
        // Relaxed: published by the Release store of `closed` below.
        self.final_seq.store(final_seq, Ordering::Relaxed);
        // Release: pairs with the Acquire load of `closed` in cursors, which
        // then read `final_seq` and `status`.
        self.closed.store(true, Ordering::Release);
        self.wake_readers();
        self.space.wake_all();
        true
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Every cursor and producer held an `Arc` (deferred retires hold a
        // `Weak` and free their unlinked segment themselves once this ran),
        // so we are alone: the store shuts down if the last handle's drop
        // did not (a log whose opening failed half-way), then the linked
        // list is freed.
        #[cfg(not(fanlog_loom))]
        if let Some(st) = self.store() {
            st.shutdown(self);
        }
        let mut g = self.graveyard.load(Ordering::Relaxed);
        while !g.is_null() {
            // SAFETY: graveyard segments are owned by the graveyard alone.
            let seg = unsafe { Box::from_raw(g) };
            g = seg.grave_next.load(Ordering::Relaxed);
        }
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() && p != closed_link() {
            // SAFETY: linked segments are owned by the list; nobody else
            // references them now.
            let seg = unsafe { Box::from_raw(p) };
            p = seg.next.load(Ordering::Relaxed);
        }
    }
}

/// A multi-producer, multi-consumer broadcast log of byte records.
///
/// `Log` is a cheap handle (`Clone`, `Send`, `Sync`); producers and cursors
/// keep the log alive. See the [module docs](crate::log) for the protocol.
///
/// ```
/// use fanlog::{Log, Start};
/// let log = Log::new();
/// let mut a = log.cursor(Start::Earliest).unwrap();
/// let mut b = log.cursor(Start::Earliest).unwrap();
/// let producer = log.producer();
/// assert_eq!(producer.append(b"hello").unwrap(), 0);
/// assert_eq!(producer.append_with(7, b"world").unwrap(), 1);
/// for c in [&mut a, &mut b] {
///     assert_eq!(c.try_next().unwrap().data(), b"hello");
///     let r = c.try_next().unwrap();
///     assert_eq!((r.seq(), r.kind(), r.data()), (1, 7, &b"world"[..]));
/// }
/// ```
#[derive(Clone)]
pub struct Log {
    pub(crate) shared: Handle,
}

/// A user handle's counted reference to a log's state: [`Log`],
/// [`Producer`] and [`Cursor`] hold one. Everything else that refers to the
/// state holds a `Weak` (epoch-deferred recycles, the store's background
/// thread, the producer-bias registry) or is a [`Waker`](crate::Waker),
/// which only interrupts. So when the last handle goes, no append, read or
/// reclaim of this log can happen again, and a durable log ends there and
/// then ([`Store::shutdown`](crate::store::Store::shutdown)): its directory
/// is unlocked and quiet when the drop returns, even if the memory is freed
/// a little later, by whoever drops the last reference.
pub(crate) struct Handle(Arc<Shared>);

impl Handle {
    /// A new handle on `shared`.
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        // Relaxed: as `Arc::clone`; a handle is only made from a live one
        // (or with the state), so the count cannot be zero here.
        shared.handles.fetch_add(1, Ordering::Relaxed);
        Self(shared.clone())
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        Self::new(&self.0)
    }
}

impl std::ops::Deref for Handle {
    type Target = Arc<Shared>;
    #[inline]
    fn deref(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // AcqRel: as `Arc`'s drop, the last handle sees everything the
        // others did (their appends and cursor commits) before it shuts the
        // store down.
        if self.0.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            #[cfg(not(fanlog_loom))]
            if let Some(st) = self.0.store() {
                st.shutdown(&self.0);
            }
        }
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Counters of a [`Log`], read with [`Log::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records appended (the next sequence number).
    pub records_appended: u64,
    /// Bytes appended, framed (header + payload, 8-byte aligned; the header
    /// is 24 bytes, 16 without timestamps, 32 in a durable log).
    pub bytes_appended: u64,
    /// Oldest retained sequence number.
    pub oldest_seq: u64,
    /// Segments linked (retained by the budget).
    pub segments_retained: usize,
    /// Bytes of segment memory held: linked segments plus unlinked ones
    /// still leased by lagging cursors (pooled free segments excluded).
    pub bytes_retained: usize,
    /// High-water mark of `bytes_retained`.
    pub peak_bytes_retained: usize,
    /// Segment memory allocated in all, pool included.
    pub bytes_allocated: usize,
    /// Live cursors.
    pub cursors: usize,
    /// Segments evicted by `DropOldest` to make room.
    pub segments_evicted: u64,
    /// Recycled segments whose memory was handed back to the kernel
    /// (`MADV_DONTNEED`) because the budget's segments were all held
    /// (the pool is full, or more were allocated while recycling lagged).
    /// In steady state it stays near zero; a number that grows with the
    /// segments appended means every segment switch pays page faults.
    pub segments_released: u64,
    /// Records cursors were told they missed (`Lagged`), summed.
    pub records_missed: u64,
    /// Whether the log is closed.
    pub closed: bool,
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

impl Log {
    /// A log with the default configuration (1 MiB segments, 64 MiB budget,
    /// `Block` policy).
    ///
    /// # Panics
    /// If the first segment cannot be allocated (out of memory). Use
    /// [`Log::builder`] to handle that as an error.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("default configuration allocates one segment")
    }

    /// A builder for a configured log.
    pub fn builder() -> LogBuilder {
        LogBuilder::default()
    }

    pub(crate) fn from_config(config: LogConfig) -> std::io::Result<Self> {
        Ok(Self {
            shared: Handle::new(&Shared::new(config)?),
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &LogConfig {
        &self.shared.config
    }

    /// A new producer handle (cheap; one per thread or shared, as you like).
    pub fn producer(&self) -> Producer {
        Producer::new(self.shared.clone())
    }

    /// Appends `data` with kind 0; see [`Producer::append`]. Waits under
    /// `Block` (not interruptible: use a [`Producer`] for that).
    #[inline]
    pub fn append(&self, data: &[u8]) -> Result<u64, AppendError> {
        producer::append_one(&self.shared, 0, data, Deadline::Never, None)
    }

    /// Appends `data` with `kind`; see [`Producer::append_with`].
    #[inline]
    pub fn append_with(&self, kind: u32, data: &[u8]) -> Result<u64, AppendError> {
        producer::append_one(&self.shared, kind, data, Deadline::Never, None)
    }

    /// A cursor positioned at `start`; see [`Start`] and [`StartError`].
    pub fn cursor(&self, start: Start) -> Result<Cursor, StartError> {
        Cursor::open(self.shared.clone(), start)
    }

    /// Closes the log with `status`. Idempotent: returns `true` for the call
    /// that closed it, `false` afterwards (the first status wins).
    ///
    /// After it returns, appends fail with [`AppendError::Closed`]; every
    /// cursor still receives every record whose append succeeded, and then
    /// gets [`RecvError::Closed`](crate::RecvError::Closed) with `status`.
    /// Blocked producers and readers wake up.
    pub fn close(&self, status: CloseStatus) -> bool {
        self.shared.close(status)
    }

    /// Whether [`close`](Self::close) has completed.
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`.
        self.shared.closed.load(Ordering::Acquire)
    }

    /// The close status, once closed.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.is_closed().then(|| self.shared.close_status())
    }

    /// Bytes a record of `len` payload bytes takes in this log's segments:
    /// its header (16, 24 or 32 bytes, by the log's kind) plus the payload,
    /// rounded up to 8. A batch ([`Producer::append_batch`]) is appended
    /// only when the sum of its records' frame lengths is at most
    /// [`LogConfig::segment_size`].
    ///
    /// ```
    /// let log = fanlog::Log::new();
    /// let per_record = log.frame_len(8);
    /// assert!(per_record >= 16 && per_record % 8 == 0);
    /// let batch_max = log.config().segment_size / per_record; // 8-byte records per batch
    /// assert!(batch_max > 0);
    /// ```
    #[inline]
    pub fn frame_len(&self, len: usize) -> usize {
        frame::frame_len_h(self.shared.hdr, len)
    }

    /// The next sequence number to be appended (racy under concurrent
    /// appends, exact when quiescent).
    pub fn next_seq(&self) -> u64 {
        self.shared.next_seq_and_bytes().0
    }

    /// Current counters.
    pub fn stats(&self) -> LogStats {
        let s = &self.shared;
        let (next, bytes) = s.next_seq_and_bytes();
        let seg = s.config.segment_size;
        // Relaxed: statistics.
        let allocated = s.allocated.load(Ordering::Relaxed);
        let pooled = s.pooled.load(Ordering::Relaxed);
        LogStats {
            records_appended: next,
            bytes_appended: bytes,
            oldest_seq: s.head_base.load(Ordering::Relaxed),
            segments_retained: s.linked.load(Ordering::Relaxed),
            bytes_retained: (allocated - pooled) * seg,
            peak_bytes_retained: s.peak_retained.load(Ordering::Relaxed) * seg,
            bytes_allocated: allocated * seg,
            cursors: s.cursors.load(Ordering::Relaxed),
            segments_evicted: s.segments_evicted.load(Ordering::Relaxed),
            segments_released: s.segments_released.load(Ordering::Relaxed),
            records_missed: s.records_missed.load(Ordering::Relaxed),
            closed: s.closed.load(Ordering::Relaxed),
        }
    }
}

impl LogBuilder {
    /// Builds the log, or explains what is wrong with the settings.
    pub fn build(&self) -> Result<Log, crate::BuildError> {
        let config = self.config()?;
        Log::from_config(config)
            .map_err(|e| crate::BuildError::new(format!("cannot allocate the first segment: {e}")))
    }
}

#[cfg(all(test, not(fanlog_loom)))]
mod tests {
    use super::*;
    use crate::{Memory, RecvError, Start};

    /// A heap-backed log of 4 KiB segments with the given timestamps.
    fn heap_log_4k(ts: crate::Timestamps) -> Log {
        Log::builder()
            .segment_size(4096)
            .memory(Memory::Heap)
            .timestamps(ts)
            .build()
            .unwrap()
    }

    /// Every append path stamps its records with the configured clock: the
    /// bias owner's inlined path (one thread), the shared path after a
    /// second thread revoked the bias, and batches. Without timestamps the
    /// stamp is 0 with the full header too (segments too large for the
    /// compact one).
    #[test]
    fn every_append_path_stamps_records_by_the_clock() {
        use crate::Timestamps;
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        };
        // The coarse clock trails the precise one by up to a tick.
        const SLACK: u64 = 50_000_000;
        for ts in [Timestamps::Coarse, Timestamps::Precise] {
            let log = heap_log_4k(ts);
            assert_eq!(log.shared.hdr, frame::HEADER);
            let mut c = log.cursor(Start::Earliest).unwrap();
            let before = now();
            log.append(&[1; 8]).unwrap(); // the owner's path
            std::thread::scope(|s| {
                s.spawn(|| log.append(&[2; 8]).unwrap()); // revokes the bias
            });
            log.append(&[3; 8]).unwrap(); // the shared path
            log.producer().append_batch(0, &[[4u8; 8], [5; 8]]).unwrap();
            let after = now();
            for i in 1..=5u8 {
                let r = c.try_next().unwrap();
                assert_eq!(r.data(), &[i; 8]);
                let t = r.timestamp_ns();
                assert!(
                    t + SLACK >= before && t <= after + SLACK,
                    "{ts:?}, record {i}: stamp {t} not in [{before}, {after}]"
                );
            }
        }
        // The full header without timestamps: a 128 MiB map, not under Miri.
        if cfg!(not(miri)) {
            let log = Log::builder()
                .segment_size(segment::MAX_SEGMENT_SIZE)
                .max_bytes(2 * segment::MAX_SEGMENT_SIZE)
                .timestamps(Timestamps::Off)
                .build()
                .unwrap();
            assert_eq!(log.shared.hdr, frame::HEADER);
            let mut c = log.cursor(Start::Earliest).unwrap();
            log.append(&[1; 8]).unwrap();
            log.producer().append_batch(0, &[[2u8; 8]]).unwrap();
            for i in 1..=2u8 {
                let r = c.try_next().unwrap();
                assert_eq!((r.data(), r.timestamp_ns()), (&[i; 8][..], 0));
            }
        }
    }

    /// Without timestamps, in-memory frames have the 16-byte header: every
    /// payload length reads back intact (short ones too, where a timestamp
    /// store would land past the payload) with timestamp 0, and an 8-byte
    /// record takes 24 bytes.
    #[test]
    fn compact_header_without_timestamps() {
        let log = heap_log_4k(crate::Timestamps::Off);
        assert_eq!(log.shared.hdr, frame::COMPACT_HEADER);
        let mut c = log.cursor(Start::Earliest).unwrap();
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len).map(|i| i ^ len).collect();
            log.append_with(u32::from(len) + 7, &data).unwrap();
        }
        let batch: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i)]).collect();
        log.producer().append_batch(3, &batch).unwrap();
        for len in 0..40u8 {
            let r = c.try_next().unwrap();
            let want: Vec<u8> = (0..len).map(|i| i ^ len).collect();
            assert_eq!(
                (r.data(), r.kind(), r.timestamp_ns()),
                (&want[..], u32::from(len) + 7, 0)
            );
        }
        for i in 0..5u8 {
            let r = c.try_next().unwrap();
            assert_eq!((r.data(), r.kind()), (&vec![i; usize::from(i)][..], 3));
        }
        assert!(matches!(c.try_next(), Err(RecvError::Empty)));
        let before = log.stats().bytes_appended;
        log.append(&[1; 8]).unwrap();
        assert_eq!(log.stats().bytes_appended - before, 24);
        // With timestamps the header is 24 bytes.
        let timed = Log::builder().memory(Memory::Heap).build().unwrap();
        assert_eq!(timed.shared.hdr, frame::HEADER);
        timed.append(&[1; 8]).unwrap();
        assert_eq!(timed.stats().bytes_appended, 32);
    }

    /// Every payload length reads back intact through the owner's fast path
    /// and its inline copies (8..=16 bytes as two words, 17..=64 as two or
    /// four 16-byte moves, overlapping), with either header size, and the
    /// frame after each one is untouched.
    #[test]
    fn payload_lengths_round_trip_through_the_inline_copies() {
        for ts in [crate::Timestamps::Off, crate::Timestamps::Coarse] {
            let log = heap_log_4k(ts);
            let p = log.producer();
            let mut c = log.cursor(Start::Earliest).unwrap();
            let payload =
                |len: usize| -> Vec<u8> { (0..len).map(|i| (i * 7 + len) as u8).collect() };
            for len in 0..=80usize {
                let seq = p.append_with(len as u32, &payload(len)).unwrap();
                assert_eq!(seq, len as u64);
            }
            assert!(
                log.shared.bias.owned_by_me(),
                "the appends took the owner's path"
            );
            for len in 0..=80usize {
                let r = c.try_next().unwrap();
                assert_eq!((r.seq(), r.kind()), (len as u64, len as u32));
                assert_eq!(r.data(), &payload(len)[..], "length {len}");
            }
            assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
        }
    }

    /// Two heap segments of `seg` bytes, `DropOldest`, 16-byte headers: the
    /// third segment's worth of records reuses the first segment.
    fn two_segment_drop_oldest(seg: usize) -> Log {
        Log::builder()
            .segment_size(seg)
            .max_bytes(2 * seg)
            .overflow(OverflowPolicy::DropOldest)
            .memory(Memory::Heap)
            .timestamps(crate::Timestamps::Off)
            .build()
            .unwrap()
    }

    /// A reused segment must not show its previous life's bytes as commits:
    /// the old payload below holds, at the offset where the next record of
    /// the new life goes, exactly the commit word that record will have.
    #[test]
    fn stale_payload_is_never_read_as_a_commit() {
        const SEG: usize = 512;
        for round in 0..8 {
            let log = two_segment_drop_oldest(SEG);
            // Record 0 fills segment A. In A's next life (base 2) record 3
            // goes right after the 8-byte record 2, inside what was record
            // 0's payload: every word of that payload is commit_value(3).
            let mut big = vec![0u8; SEG - 24];
            for w in big.chunks_exact_mut(8) {
                w.copy_from_slice(&frame::commit_value(3).to_ne_bytes());
            }
            assert_eq!(log.append(&big).unwrap(), 0);
            assert_eq!(log.append(&big).unwrap(), 1); // segment B
            assert_eq!(log.append(&[round; 8]).unwrap(), 2); // evicts A, reuses it
            let mut c = log.cursor(Start::Latest).unwrap();
            assert_eq!(c.position(), 3);
            match c.try_next() {
                Err(RecvError::Empty) => {}
                Ok(r) => panic!(
                    "round {round}: read a record that was never appended: seq {} len {}",
                    r.seq(),
                    r.data().len()
                ),
                Err(e) => panic!("round {round}: {e}"),
            }
            log.append(&[7; 8]).unwrap();
            let r = c.try_next().unwrap();
            assert_eq!((r.seq(), r.data()), (3, &[7u8; 8][..]));
        }
    }

    /// A reused segment whose previous life left, at every frame position
    /// of the next life, the exact commit word that frame will get (the
    /// test above plants one). After each append the cursor must find that
    /// record and then nothing: a phantom means a commit word was loaded
    /// before its bytes were zeroed. (It also guarded the experiment of
    /// zeroing in chunks ahead of the producers: it failed when a chunk was
    /// left dirty, or when a frame was committed before the next frame's
    /// commit word was zeroed; see BENCHMARKS.md.)
    #[test]
    fn stale_commit_words_are_never_read_anywhere_in_a_reused_segment() {
        const SEG: usize = 4096;
        let log = two_segment_drop_oldest(SEG);
        let hdr = frame::COMPACT_HEADER;
        // Segment A's next life starts at seq 2 with 24-byte frames: the
        // frame at offset o gets seq 2 + o / 24. Record 0's payload starts
        // at offset 16.
        let mut big = vec![0u8; SEG - 24]; // the largest record
        for o in (24..SEG).step_by(24) {
            let at = o - hdr;
            if at + 8 <= big.len() {
                let w = frame::commit_value(2 + (o / 24) as u64);
                big[at..at + 8].copy_from_slice(&w.to_ne_bytes());
            }
        }
        assert_eq!(log.append(&big).unwrap(), 0); // fills A
        assert_eq!(log.append(&big).unwrap(), 1); // fills B
        assert_eq!(log.append(&[0xEE; 8]).unwrap(), 2); // evicts A, reuses it
        let mut c = log.cursor(Start::Latest).unwrap();
        for seq in 3..(2 + (SEG / 24) as u64) {
            match c.try_next() {
                Err(RecvError::Empty) => {}
                Ok(r) => panic!("before {seq}: read seq {} that was never appended", r.seq()),
                Err(e) => panic!("before {seq}: {e}"),
            }
            assert_eq!(log.append(&seq.to_le_bytes()).unwrap(), seq);
            let r = c.try_next().unwrap();
            assert_eq!((r.seq(), r.data()), (seq, &seq.to_le_bytes()[..]));
        }
    }

    /// Three producers with records of varying length race through small
    /// reused segments (their frames land at different offsets in every
    /// life): every record arrives intact, in each producer's order, and
    /// nothing else does.
    #[test]
    fn producers_with_varying_lengths_across_reused_segments() {
        const SEG: usize = 2048;
        let per = if cfg!(miri) { 60 } else { 20_000u64 };
        let log = Log::builder()
            .segment_size(SEG)
            .max_bytes(4 * SEG)
            .memory(Memory::Heap)
            .timestamps(crate::Timestamps::Off)
            .build()
            .unwrap();
        let mut cursors: Vec<_> = (0..2)
            .map(|_| log.cursor(Start::Earliest).unwrap())
            .collect();
        let readers: Vec<_> = cursors
            .drain(..)
            .map(|mut c| {
                std::thread::spawn(move || {
                    let mut next = [0u64; 3];
                    for _ in 0..3 * per {
                        let r = c.next().unwrap();
                        let d = r.data();
                        let p = d[0] as usize;
                        let n = u64::from_le_bytes(d[1..9].try_into().unwrap());
                        assert_eq!(n, next[p], "producer {p}");
                        next[p] += 1;
                        // Length varies with n; every byte after the header
                        // repeats the counter's low byte.
                        assert_eq!(d.len(), 9 + (n as usize * 7) % 61);
                        assert!(d[9..].iter().all(|&b| b == n as u8));
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..3u8)
            .map(|p| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 80];
                    for n in 0..per {
                        let len = 9 + (n as usize * 7) % 61;
                        buf[0] = p;
                        buf[1..9].copy_from_slice(&n.to_le_bytes());
                        buf[9..len].fill(n as u8);
                        log.append(&buf[..len]).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    }

    /// The producer bias: the first appending thread claims it (plain
    /// reservations across segment switches); an append from another live
    /// thread revokes it for good, an exited owner hands it on; close
    /// revokes it. Records stay gap-free and intact throughout.
    #[test]
    fn bias_is_claimed_by_the_first_thread_and_revoked_by_a_second() {
        let log = Log::builder()
            .segment_size(256)
            .max_bytes(4096)
            .memory(Memory::Heap)
            .build()
            .unwrap();
        let mut c = log.cursor(Start::Earliest).unwrap();
        assert!(!log.shared.bias.owned_by_me());
        for i in 0..10u8 {
            log.append(&[i; 50]).unwrap(); // 80-byte frames: 3 per segment
        }
        assert!(log.shared.bias.owned_by_me());
        let l2 = log.clone();
        std::thread::spawn(move || l2.append(&[10; 50]).unwrap())
            .join()
            .unwrap();
        assert!(log.shared.bias.revoked());
        log.append(&[11; 50]).unwrap();
        for i in 0..12u8 {
            let r = c.try_next().unwrap();
            assert_eq!((r.seq(), r.data()), (i as u64, &[i; 50][..]));
        }
        assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);

        // A thread that exits hands the bias on instead of revoking it.
        let log = Log::builder().memory(Memory::Heap).build().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            l2.append(b"w").unwrap();
            assert!(l2.shared.bias.owned_by_me());
        })
        .join()
        .unwrap();
        assert!(!log.shared.bias.revoked());
        log.append(b"x").unwrap();
        assert!(log.shared.bias.owned_by_me());
        log.close(crate::CloseStatus::Ok);
        assert!(log.shared.bias.revoked());
        assert!(log.append(b"y").is_err());
    }

    /// Spawns a thread that appends 100 bytes of 0xAA and pauses between
    /// its reservation and its writes until `go` is sent; returns once it
    /// holds the reservation.
    fn paused_writer(log: &Log) -> (std::thread::JoinHandle<u64>, std::sync::mpsc::Sender<()>) {
        use std::sync::mpsc;
        let (reserved_tx, reserved) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let p = log.producer();
        let writer = std::thread::spawn(move || {
            let mut once = Some((reserved_tx, go_rx));
            producer::test_hooks::PAUSE_IN_WRITE.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    if let Some((tx, rx)) = once.take() {
                        tx.send(()).unwrap();
                        rx.recv().unwrap();
                    }
                }))
            });
            p.append(&[0xAA; 100]).unwrap()
        });
        reserved.recv().unwrap();
        (writer, go)
    }

    /// Only a cursor that read a segment from its first frame to its sealed
    /// end marks it read through (which lets its recycler skip the wait for
    /// late writers): one that started after a frame a preempted writer
    /// still holds must not.
    #[test]
    #[cfg_attr(miri, ignore = "a thread parked on a channel")]
    fn only_a_cursor_from_the_first_frame_marks_a_segment_read_through() {
        let log = Log::builder()
            .segment_size(256)
            .max_bytes(1024)
            .memory(Memory::Heap)
            .build()
            .unwrap();
        let seg0 = log.shared.head_segment();
        // SAFETY: the `early` cursor below leases segment 0 before anything
        // could retire it, and is dropped last.
        let read_through = || unsafe { (*seg0).read_through.load(Ordering::Acquire) };
        let mut early = log.cursor(Start::Earliest).unwrap();
        // This thread appends first, so the writer below revokes the bias
        // (a paused owner would hold up the other appends).
        log.append(&[0; 100]).unwrap();
        let (writer, go) = paused_writer(&log); // the writer holds seq 1, uncommitted
        let mut late = log.cursor(Start::Latest).unwrap();
        assert_eq!(late.position(), 2);
        log.append(&[2; 100]).unwrap(); // seals segment 0
        assert_eq!(late.try_next().unwrap().seq(), 2); // left segment 0
        assert!(!read_through(), "a cursor that skipped a frame marked it");
        go.send(()).unwrap();
        assert_eq!(writer.join().unwrap(), 1);
        for want in 0..3 {
            assert_eq!(early.try_next().unwrap().seq(), want);
        }
        assert!(
            read_through(),
            "a cursor that read every frame did not mark it"
        );
    }

    /// Pin-free appends: a producer "preempted" between its reservation and
    /// its writes (the test hook parks it there) must not find its segment
    /// recycled and reused under it. Recycling waits for its commit; without
    /// that wait its late frame lands in a later life of the segment and a
    /// reader stops there (the commit word holds an old sequence number).
    #[test]
    #[cfg_attr(miri, ignore = "sleeps; threads parked for 100 ms")]
    fn recycle_waits_for_a_preempted_pin_free_writer() {
        let log = Log::builder()
            .segment_size(256)
            .max_bytes(512)
            .overflow(OverflowPolicy::DropOldest)
            .memory(Memory::Heap)
            .pool_segments(2)
            .build()
            .unwrap();
        assert!(log.shared.pin_free);
        let (writer, go) = paused_writer(&log); // the writer holds seq 0, uncommitted
        let l2 = log.clone();
        let filler = std::thread::spawn(move || {
            for i in 1..=40u8 {
                l2.append(&[i; 100]).unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        go.send(()).unwrap();
        filler.join().unwrap();
        assert_eq!(writer.join().unwrap(), 0);
        // Every retained record is readable, intact, up to the last one.
        let last = log.next_seq() - 1;
        let mut c = log.cursor(Start::Earliest).unwrap();
        loop {
            match c.try_next() {
                Ok(r) => {
                    let d = r.data();
                    assert!(d.iter().all(|&b| b == d[0]), "record {} damaged", r.seq());
                    if r.seq() == last {
                        break;
                    }
                }
                Err(RecvError::Lagged { .. }) => {}
                Err(e) => panic!("stopped before record {last}: {e}"),
            }
        }
    }

    fn heap_log(seg: usize, segs: usize, policy: OverflowPolicy) -> Log {
        Log::builder()
            .segment_size(seg)
            .max_bytes(seg * segs)
            .overflow(policy)
            .memory(Memory::Heap)
            .build()
            .unwrap()
    }

    /// Retires still waiting for the epoch do not keep the log's state
    /// alive: it goes with the last handle, and the retires that run later
    /// free their segments themselves.
    #[test]
    fn pending_retires_do_not_outlive_the_last_handle() {
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let pinner = std::thread::spawn(move || {
            let _guard = epoch::pin();
            pinned_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        pinned_rx.recv().unwrap();
        let log = heap_log(256, 2, OverflowPolicy::DropOldest);
        let mut c = log.cursor(Start::Earliest).unwrap();
        for i in 0..40u64 {
            log.append(&i.to_le_bytes()).unwrap();
        }
        // Some segments were unlinked; their retires wait for the pinner.
        assert!(log.stats().oldest_seq > 0);
        // The cursor reads (and leaves) the evicted segment it leased.
        assert!(c.try_next().is_ok());
        let state = Arc::downgrade(&log.shared);
        drop((c, log));
        assert!(
            state.upgrade().is_none(),
            "a pending retire kept the log alive"
        );
        // Now let the retires run (they free their segments alone).
        done_tx.send(()).unwrap();
        pinner.join().unwrap();
        for _ in 0..64 {
            epoch::pin().flush();
        }
    }

    #[test]
    fn append_read_across_segments() {
        let log = heap_log(256, 4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        for round in 0..5u64 {
            for i in 0..7u64 {
                let seq = round * 7 + i;
                assert_eq!(
                    log.append_with(i as u32, &seq.to_le_bytes()[..(i as usize)])
                        .unwrap(),
                    seq
                );
            }
            for i in 0..7u64 {
                let r = c.try_next().unwrap();
                assert_eq!(r.seq(), round * 7 + i);
                assert_eq!(r.kind(), i as u32);
                assert_eq!(r.data(), &r.seq().to_le_bytes()[..(i as usize)]);
            }
            assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
        }
        let st = log.stats();
        assert_eq!(st.records_appended, 35);
        assert!(
            st.segments_retained <= 2,
            "eager reclaim keeps the working set small: {st:?}"
        );
    }

    #[test]
    fn zero_length_and_max_size_records() {
        let log = heap_log(256, 2, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let max = log.config().max_record_size;
        assert_eq!(max, 256 - frame::HEADER);
        log.append(&[]).unwrap();
        log.append(&vec![1u8; max]).unwrap();
        assert_eq!(
            log.append(&vec![1u8; max + 1]),
            Err(AppendError::TooLarge { len: max + 1, max })
        );
        assert_eq!(c.try_next().unwrap().data(), b"");
        assert_eq!(c.try_next().unwrap().data().len(), max);
        assert_eq!(c.try_next().unwrap_err(), RecvError::Empty);
        assert_eq!(
            log.next_seq(),
            2,
            "the refused record took no sequence number"
        );
    }

    #[test]
    fn start_positions() {
        let log = heap_log(256, 8, OverflowPolicy::Block);
        let keep = log.cursor(Start::Earliest).unwrap();
        for i in 0..20u64 {
            log.append(&i.to_le_bytes()).unwrap();
        }
        let mut at = log.cursor(Start::At(13)).unwrap();
        assert_eq!(at.try_next().unwrap().seq(), 13);
        let mut end = log.cursor(Start::At(20)).unwrap();
        assert_eq!(end.try_next().unwrap_err(), RecvError::Empty);
        assert_eq!(
            log.cursor(Start::At(21)).unwrap_err(),
            StartError::Future {
                requested: 21,
                next: 20
            }
        );
        let mut latest = log.cursor(Start::Latest).unwrap();
        log.append(b"new").unwrap();
        assert_eq!(latest.try_next().unwrap().seq(), 20);
        assert_eq!(end.try_next().unwrap().seq(), 20);
        drop(keep);
    }

    #[test]
    fn evicted_start_is_an_error() {
        let log = heap_log(256, 2, OverflowPolicy::DropOldest);
        for i in 0..100u64 {
            log.append(&i.to_le_bytes()).unwrap();
        }
        let oldest = log.stats().oldest_seq;
        assert!(oldest > 0);
        assert_eq!(
            log.cursor(Start::At(0)).unwrap_err(),
            StartError::Evicted {
                requested: 0,
                oldest
            }
        );
        let mut c = log.cursor(Start::Earliest).unwrap();
        assert_eq!(c.try_next().unwrap().seq(), oldest);
    }

    #[test]
    fn batch_append_and_read() {
        let log = heap_log(512, 4, OverflowPolicy::Block);
        let p = log.producer();
        let mut c = log.cursor(Start::Earliest).unwrap();
        let recs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; i as usize]).collect();
        assert_eq!(p.append_batch(3, &recs).unwrap(), 0);
        assert_eq!(p.append_batch(3, &recs).unwrap(), 10);
        let too_big: Vec<Vec<u8>> = (0..20).map(|_| vec![0u8; 40]).collect();
        assert!(matches!(
            p.append_batch(0, &too_big),
            Err(AppendError::TooLarge { .. })
        ));
        assert_eq!(p.append_batch::<&[u8]>(0, &[]).unwrap(), 20);
        let mut n = 0u64;
        while n < 20 {
            for r in c.try_next_batch(7).unwrap() {
                assert_eq!(r.seq(), n);
                assert_eq!(r.data(), &recs[(n % 10) as usize][..]);
                n += 1;
            }
        }
        assert_eq!(c.try_next_batch(7).unwrap_err(), RecvError::Empty);
    }

    #[test]
    fn cursor_stats_count_what_batches_and_single_reads_return() {
        let log = heap_log(512, 4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        assert_eq!(c.stats().last_read_ns, 0);
        // 30 records of 0..29 bytes, across several segments.
        for i in 0..30u8 {
            log.append(&vec![i; i as usize]).unwrap();
        }
        let (mut n, mut bytes) = (0u64, 0u64);
        // A batch dropped after two records leaves the rest unread and
        // counts only the two.
        {
            let mut b = c.try_next_batch(100).unwrap();
            for _ in 0..2 {
                let r = b.next().unwrap();
                assert_eq!(r.seq(), n);
                bytes += r.data().len() as u64;
                n += 1;
            }
        }
        let st = c.stats();
        assert_eq!((st.records_read, st.bytes_read, st.position), (2, bytes, 2));
        assert_eq!(st.lag, 28);
        if !cfg!(miri) {
            assert!(st.last_read_ns > 0);
        }
        // Single reads and whole batches, interleaved.
        while n < 30 {
            if n % 3 == 0 {
                let r = c.try_next().unwrap();
                assert_eq!(r.seq(), n);
                bytes += r.data().len() as u64;
                n += 1;
            } else {
                for r in c.try_next_batch(4).unwrap() {
                    assert_eq!(r.seq(), n);
                    assert_eq!(r.data(), &vec![n as u8; n as usize][..]);
                    bytes += r.data().len() as u64;
                    n += 1;
                }
            }
            let st = c.stats();
            assert_eq!((st.records_read, st.bytes_read), (n, bytes));
            assert_eq!((st.position, st.lag), (n, 30 - n));
        }
        assert_eq!(bytes, (0..30).sum::<u64>());
        // An empty batch (max 0) and a failed read count nothing.
        assert_eq!(c.try_next_batch(0).unwrap().count(), 0);
        assert_eq!(c.try_next_batch(5).unwrap_err(), RecvError::Empty);
        assert_eq!(c.stats().records_read, 30);
    }

    #[test]
    fn reject_and_block_without_waiting() {
        for policy in [OverflowPolicy::Reject, OverflowPolicy::Block] {
            let log = heap_log(256, 2, policy);
            let mut c = log.cursor(Start::Earliest).unwrap();
            let p = log.producer();
            let mut n = 0;
            while p.try_append(0, &[0u8; 64]).is_ok() {
                n += 1;
            }
            assert_eq!(p.try_append(0, &[0u8; 64]), Err(AppendError::Full));
            // Reading frees room.
            for _ in 0..n {
                c.try_next().unwrap();
            }
            assert!(p.try_append(0, &[0u8; 64]).is_ok(), "{policy:?}");
        }
    }

    #[test]
    fn close_then_drain() {
        let log = heap_log(256, 4, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        for i in 0..9u8 {
            log.append(&[i; 30]).unwrap();
        }
        assert!(log.close(CloseStatus::error(2, "x")));
        for i in 0..9u8 {
            assert_eq!(c.try_next().unwrap().data(), &[i; 30]);
        }
        assert_eq!(
            c.try_next().unwrap_err(),
            RecvError::Closed(CloseStatus::error(2, "x"))
        );
        assert!(log.is_closed());
    }

    #[test]
    fn two_threads_in_order() {
        let n: u64 = if cfg!(miri) { 300 } else { 20_000 };
        let log = heap_log(256, 3, OverflowPolicy::Block);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let p = log.producer();
        let t = std::thread::spawn(move || {
            for i in 0..n {
                p.append(&i.to_le_bytes()).unwrap();
            }
        });
        for i in 0..n {
            let r = c.next().unwrap();
            assert_eq!((r.seq(), r.data()), (i, &i.to_le_bytes()[..]));
        }
        t.join().unwrap();
    }

    #[test]
    fn lag_under_drop_oldest_two_threads() {
        let n: u64 = if cfg!(miri) { 300 } else { 20_000 };
        let log = heap_log(256, 2, OverflowPolicy::DropOldest);
        let mut c = log.cursor(Start::Earliest).unwrap();
        let l2 = log.clone();
        let t = std::thread::spawn(move || {
            for i in 0..n {
                l2.append(&i.to_le_bytes()).unwrap();
            }
            l2.close(CloseStatus::Ok);
        });
        let (mut read, mut missed) = (0, 0);
        loop {
            match c.next() {
                Ok(r) => {
                    assert_eq!(r.data(), &r.seq().to_le_bytes());
                    assert_eq!(r.seq(), read + missed);
                    read += 1;
                }
                Err(RecvError::Lagged { missed: m }) => missed += m,
                Err(RecvError::Closed(_)) => break,
                Err(e) => panic!("{e}"),
            }
        }
        t.join().unwrap();
        assert_eq!(read + missed, n);
    }

    #[test]
    fn builder_refuses_bad_settings() {
        assert!(Log::builder().segment_size(1000).build().is_err());
        assert!(Log::builder().segment_size(128).build().is_err());
        assert!(Log::builder().segment_size(1 << 28).build().is_err());
        assert!(Log::builder()
            .segment_size(4096)
            .max_bytes(4096)
            .build()
            .is_err());
        assert!(Log::builder()
            .segment_size(4096)
            .max_record_size(4096)
            .build()
            .is_err());
        assert!(Log::builder()
            .segment_size(4096)
            .max_bytes(8192)
            .retain_bytes(1 << 20)
            .build()
            .is_err());
        let e = Log::builder().segment_size(3000).build().unwrap_err();
        assert!(e.to_string().contains("power of two"), "{e}");
    }
}
