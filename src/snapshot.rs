//! Atomic-pointer snapshots for configuration and routing tables.
//!
//! A [`Snapshot<T>`] holds one immutable value that writers replace as a
//! whole and many readers read without a lock: the `RwLock<Arc<T>>` pattern
//! without the lock. Every replacement gets the next version number, so a
//! reader can tell whether what it holds is current and can sleep until a
//! newer value is published ([`Snapshot::wait_newer`]).
//!
//! # Reading
//!
//! [`load`](Snapshot::load) never blocks and never allocates: it returns a
//! [`SnapshotGuard`] borrowed through arc-swap's debt slots (a few atomic
//! operations on thread-local memory; arc-swap registers each thread once,
//! on its first load of any `ArcSwap`). Keep a guard briefly; for a value kept
//! across calls take an `Arc` with [`load_full`](Snapshot::load_full).
//!
//! # Writing
//!
//! [`store`](Snapshot::store) replaces the value; [`update`](Snapshot::update)
//! computes the new value from the current one and retries (RCU) if another
//! writer got in between, so no update is lost. Both return the version of
//! the value they installed. The value and its version live in one
//! allocation, so a reader never sees a value with another value's version.
//!
//! # Waiting for a change
//!
//! [`wait_newer`](Snapshot::wait_newer) uses the crate's event count: the
//! waiter registers, re-checks the version, then sleeps; a writer installs
//! the value, then wakes registered waiters. A store between the check and
//! the sleep is never missed.
//!
//! ```
//! use fanlog::Snapshot;
//! use std::time::Duration;
//!
//! let routes = Snapshot::new(vec!["a".to_string()]);
//! assert_eq!(routes.version(), 0);
//! let v = routes.update(|old| {
//!     let mut new = old.clone();
//!     new.push("b".into());
//!     new
//! });
//! assert_eq!(v, 1);
//! assert_eq!(routes.load().len(), 2);
//!
//! let (value, version) = routes.wait_newer(0, Duration::from_secs(1)).unwrap();
//! assert_eq!((value.len(), version), (2, 1));
//! ```
//!
//! [`BlobSnapshot`] is the byte-blob flavour that the C ABI exposes.
//!
//! Under `cfg(fanlog_loom)` the atomic pointer is a loom mutex around an
//! `Arc` (arc-swap is not loom-aware), behind the same API.

use crate::error::RecvError;
use crate::wait::{Deadline, EventCount};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// An atomically replaceable `Arc<T>`: arc-swap's `ArcSwap`, or a loom
/// mutex stand-in under loom. Shared by [`Snapshot`] and the hub's
/// subscriber list.
pub(crate) struct AtomicArc<T> {
    #[cfg(not(fanlog_loom))]
    cell: arc_swap::ArcSwap<T>,
    #[cfg(fanlog_loom)]
    cell: crate::sync::Mutex<Arc<T>>,
}

/// A short-lived borrow of the value inside an [`AtomicArc`].
pub(crate) struct Loaded<T> {
    #[cfg(not(fanlog_loom))]
    guard: arc_swap::Guard<Arc<T>>,
    #[cfg(fanlog_loom)]
    guard: Arc<T>,
}

impl<T> Deref for Loaded<T> {
    type Target = Arc<T>;

    #[inline]
    fn deref(&self) -> &Arc<T> {
        &self.guard
    }
}

impl<T> AtomicArc<T> {
    /// A cell holding `value`.
    pub(crate) fn new(value: Arc<T>) -> Self {
        #[cfg(not(fanlog_loom))]
        {
            Self {
                cell: arc_swap::ArcSwap::new(value),
            }
        }
        #[cfg(fanlog_loom)]
        {
            Self {
                cell: crate::sync::Mutex::new(value),
            }
        }
    }

    /// Borrows the current value; no lock, no allocation (outside loom).
    #[inline]
    pub(crate) fn load(&self) -> Loaded<T> {
        #[cfg(not(fanlog_loom))]
        {
            Loaded {
                guard: self.cell.load(),
            }
        }
        #[cfg(fanlog_loom)]
        {
            Loaded {
                guard: self.cell.lock().unwrap().clone(),
            }
        }
    }

    /// The current value as an owned `Arc`.
    pub(crate) fn load_full(&self) -> Arc<T> {
        #[cfg(not(fanlog_loom))]
        {
            self.cell.load_full()
        }
        #[cfg(fanlog_loom)]
        {
            self.cell.lock().unwrap().clone()
        }
    }

    /// Replaces the value.
    pub(crate) fn store(&self, value: Arc<T>) {
        #[cfg(not(fanlog_loom))]
        {
            self.cell.store(value);
        }
        #[cfg(fanlog_loom)]
        {
            *self.cell.lock().unwrap() = value;
        }
    }

    /// The underlying `ArcSwap` (for arc-swap's `Cache`).
    #[cfg(not(fanlog_loom))]
    pub(crate) fn arc_swap(&self) -> &arc_swap::ArcSwap<T> {
        &self.cell
    }

    /// Installs `new` if the current value is still `current` (pointer
    /// equality); otherwise gives `new` back.
    pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: Arc<T>) -> Result<(), Arc<T>> {
        #[cfg(not(fanlog_loom))]
        {
            let keep = new.clone();
            let prev = self.cell.compare_and_swap(current, new);
            if Arc::ptr_eq(&prev, current) {
                Ok(())
            } else {
                Err(keep)
            }
        }
        #[cfg(fanlog_loom)]
        {
            let mut g = self.cell.lock().unwrap();
            if Arc::ptr_eq(&g, current) {
                *g = new;
                Ok(())
            } else {
                Err(new)
            }
        }
    }
}

/// One published value and its version, allocated together so that they
/// can never be observed apart.
struct Node<T: ?Sized> {
    /// 0 for the initial value, then +1 per store.
    version: u64,
    /// The value (an `Arc` so that [`Snapshot::load_full`] hands it out
    /// without copying).
    value: Arc<T>,
}

/// A value read by many threads without locks and replaced atomically by
/// writers, with a version number. See the [module docs](self).
///
/// `T` may be unsized (`Snapshot<[u8]>` is [`BlobSnapshot`]); values are
/// stored as `Arc<T>`.
pub struct Snapshot<T: ?Sized> {
    /// The current node.
    current: AtomicArc<Node<T>>,
    /// `wait_newer` sleeps here; writers notify after installing a node.
    changed: EventCount,
}

impl<T: ?Sized> std::fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// A borrowed view of a [`Snapshot`]'s value, returned by
/// [`Snapshot::load`]. Dereferences to `T`.
///
/// Taking it costs no lock and no allocation. Hold it briefly (a few are
/// cheap per thread; holding many for long makes later loads take the slow
/// path); use [`into_arc`](Self::into_arc) to keep the value.
pub struct SnapshotGuard<T: ?Sized> {
    /// The node borrowed from the snapshot.
    node: Loaded<Node<T>>,
}

impl<T: ?Sized> SnapshotGuard<T> {
    /// The version of this value.
    pub fn version(&self) -> u64 {
        self.node.version
    }

    /// The value as an owned `Arc` (one reference-count increment).
    pub fn into_arc(self) -> Arc<T> {
        self.node.value.clone()
    }
}

impl<T: ?Sized> Deref for SnapshotGuard<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.node.value
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for SnapshotGuard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotGuard")
            .field("version", &self.version())
            .field("value", &&**self)
            .finish()
    }
}

impl<T> Snapshot<T> {
    /// A snapshot holding `value` at version 0.
    pub fn new(value: T) -> Self {
        Self::from_arc(Arc::new(value))
    }

    /// Replaces the value; returns the version given to `value`.
    ///
    /// ```
    /// let s = fanlog::Snapshot::new(1);
    /// assert_eq!(s.store(2), 1);
    /// assert_eq!((*s.load(), s.version()), (2, 1));
    /// ```
    pub fn store(&self, value: T) -> u64 {
        self.store_arc(Arc::new(value))
    }

    /// Replaces the value with `f(current)`, retrying with the newer value if
    /// another writer replaced it meanwhile (so `f` may run more than once;
    /// it should have no side effects). Returns the version installed.
    ///
    /// ```
    /// let counter = fanlog::Snapshot::new(0u32);
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| for _ in 0..100 { counter.update(|n| n + 1); });
    ///     }
    /// });
    /// assert_eq!((*counter.load(), counter.version()), (400, 400));
    /// ```
    pub fn update(&self, mut f: impl FnMut(&T) -> T) -> u64 {
        self.update_arc(|old| Arc::new(f(old)))
    }
}

impl<T: ?Sized> Snapshot<T> {
    /// A snapshot holding the shared `value` at version 0.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self {
            current: AtomicArc::new(Arc::new(Node { version: 0, value })),
            changed: EventCount::new(),
        }
    }

    /// Borrows the current value without locking or allocating.
    #[inline]
    pub fn load(&self) -> SnapshotGuard<T> {
        SnapshotGuard {
            node: self.current.load(),
        }
    }

    /// The current value as an owned `Arc`.
    pub fn load_full(&self) -> Arc<T> {
        self.current.load().value.clone()
    }

    /// The current value and its version, consistent with each other.
    pub fn load_versioned(&self) -> (Arc<T>, u64) {
        let node = self.current.load();
        (node.value.clone(), node.version)
    }

    /// The version of the current value (0 until the first store).
    pub fn version(&self) -> u64 {
        self.current.load().version
    }

    /// Replaces the value with an existing `Arc` (this is how unsized values
    /// are stored); returns the version given to it.
    pub fn store_arc(&self, value: Arc<T>) -> u64 {
        // The version must be the predecessor's plus one, so even a blind
        // store is a compare-and-swap loop (it only retries under a race
        // with another writer).
        self.update_arc(|_| value.clone())
    }

    /// [`update`](Self::update) for `Arc` values (and unsized `T`).
    pub fn update_arc(&self, mut f: impl FnMut(&T) -> Arc<T>) -> u64 {
        let mut cur = self.current.load_full();
        loop {
            let version = cur.version + 1;
            let new = Arc::new(Node {
                version,
                value: f(&cur.value),
            });
            match self.current.compare_and_swap(&cur, new) {
                Ok(()) => {
                    // The node is installed (the condition `wait_newer`
                    // checks); now wake whoever registered before.
                    self.changed.notify();
                    return version;
                }
                Err(_) => cur = self.current.load_full(),
            }
        }
    }

    /// Waits until the version is greater than `version` (at most
    /// `timeout`; `Duration::ZERO` checks without waiting) and returns the
    /// current value with its version, which is then `> version`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`] when nothing newer was stored in time.
    ///
    /// ```
    /// use fanlog::Snapshot;
    /// use std::{sync::Arc, time::Duration};
    /// let s = Arc::new(Snapshot::new("v0"));
    /// let w = s.clone();
    /// let t = std::thread::spawn(move || w.wait_newer(0, Duration::from_secs(10)));
    /// s.store("v1");
    /// let (value, version) = t.join().unwrap().unwrap();
    /// assert_eq!((*value, version), ("v1", 1));
    /// ```
    pub fn wait_newer(&self, version: u64, timeout: Duration) -> Result<(Arc<T>, u64), RecvError> {
        self.wait_newer_until(version, Deadline::after(timeout))
    }

    /// [`wait_newer`](Self::wait_newer) without a timeout.
    pub fn wait_newer_forever(&self, version: u64) -> Result<(Arc<T>, u64), RecvError> {
        self.wait_newer_until(version, Deadline::Never)
    }

    fn wait_newer_until(
        &self,
        version: u64,
        deadline: Deadline,
    ) -> Result<(Arc<T>, u64), RecvError> {
        let newer = || {
            let node = self.current.load();
            (node.version > version).then(|| (node.value.clone(), node.version))
        };
        loop {
            if let Some(found) = newer() {
                return Ok(found);
            }
            if deadline == Deadline::Now || deadline.expired() {
                return Err(RecvError::Timeout);
            }
            // Register, re-check, sleep: a store between the check above
            // and the sleep bumps the epoch (its notify sees us registered)
            // or is seen by the re-check.
            let key = self.changed.prepare();
            if let Some(found) = newer() {
                self.changed.finish();
                return Ok(found);
            }
            self.changed.wait(key, deadline);
            self.changed.finish();
        }
    }
}

impl<T: Default> Default for Snapshot<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// A snapshot of an immutable byte blob: what the C ABI exposes (a reader
/// gets pointer, length and version, valid while it holds the `Arc`).
///
/// ```
/// use fanlog::BlobSnapshot;
/// let blob = BlobSnapshot::from_bytes(b"v0");
/// assert_eq!(blob.store_bytes(b"config v1"), 1);
/// let (bytes, version) = blob.load_versioned();
/// assert_eq!((&bytes[..], version), (&b"config v1"[..], 1));
/// ```
pub type BlobSnapshot = Snapshot<[u8]>;

impl Snapshot<[u8]> {
    /// A blob snapshot holding a copy of `bytes` at version 0.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::from_arc(Arc::from(bytes))
    }

    /// Replaces the blob with a copy of `bytes` (one allocation); returns
    /// its version.
    pub fn store_bytes(&self, bytes: &[u8]) -> u64 {
        self.store_arc(Arc::from(bytes))
    }
}

impl Default for Snapshot<[u8]> {
    fn default() -> Self {
        Self::from_bytes(&[])
    }
}

#[cfg(all(test, not(fanlog_loom)))]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_stores() {
        let s = Snapshot::new(10u32);
        assert_eq!(s.version(), 0);
        assert_eq!(s.store(11), 1);
        assert_eq!(s.update(|v| v * 2), 2);
        let g = s.load();
        assert_eq!((*g, g.version()), (22, 2));
        assert_eq!(*s.load_full(), 22);
        assert_eq!(s.load_versioned().1, 2);
        assert_eq!(*g.into_arc(), 22);
    }

    #[test]
    fn wait_newer_times_out_and_returns_at_once_when_newer() {
        let s = Snapshot::new(());
        assert_eq!(
            s.wait_newer(0, Duration::ZERO).unwrap_err(),
            RecvError::Timeout
        );
        assert_eq!(
            s.wait_newer(0, Duration::from_millis(5)).unwrap_err(),
            RecvError::Timeout
        );
        s.store(());
        assert_eq!(s.wait_newer(0, Duration::ZERO).unwrap().1, 1);
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let n = if cfg!(miri) { 20 } else { 2000 };
        let s = Snapshot::new(0u64);
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| {
                    for _ in 0..n {
                        s.update(|v| v + 1);
                    }
                });
            }
            sc.spawn(|| {
                // A reader following versions sees them only grow, each
                // with its own value.
                let mut last = 0;
                while last < 3 * n {
                    let (v, ver) = s.wait_newer_forever(last).unwrap();
                    assert_eq!(*v, ver);
                    assert!(ver > last);
                    last = ver;
                }
            });
        });
        assert_eq!((*s.load(), s.version()), (3 * n, 3 * n));
    }

    #[test]
    fn blobs() {
        let b = BlobSnapshot::default();
        assert!(b.load().is_empty());
        assert_eq!(b.store_bytes(b"abc"), 1);
        assert_eq!(&*b.load(), b"abc");
        assert_eq!(&b.load_full()[..], b"abc");
    }
}
