//! The producer bias: while one thread is the only one that has ever
//! appended to an in-memory log, its appends reserve with a plain load and
//! store of the tail segment's reservation word instead of a locked
//! `fetch_add`.
//!
//! # Why
//!
//! On x86 every locked instruction drains the store buffer. With a consumer
//! reading the lines the producer has just written, the drain waits for
//! those lines to come back from the consumer's core, and the profile of
//! 1 producer → 1 consumer put 85% of `append_one`'s time (a third of the
//! whole run) on the `lock xadd` of the reservation. A single-producer queue
//! (the disruptor's, bus's) publishes with plain stores; the bias gives
//! fanlog's single producers the same, without a separate API: the first
//! thread to append claims the log, and its appends stay plain until another
//! thread appends or the log is closed.
//!
//! # Protocol
//!
//! `owner` is `UNCLAIMED`, a thread id ([`thread_id`]), `REVOKING` or
//! `REVOKED` (final). A reservation word is changed with a plain store only
//! by the owner, inside `busy`; everybody else (and the owner outside
//! `busy`: sealing, linking) uses atomic RMWs, and only once they have seen
//! `REVOKED`, or as the owner.
//!
//! * Owner: `busy = true`; fence; re-check `owner == me`; plain
//!   load/store of the word; write and commit the frame; `busy = false`
//!   (Release).
//! * Anyone else: CAS `owner` from the id to `REVOKING`; fence; wait until
//!   `busy` is false (Acquire); store `REVOKED` (Release). Threads that see
//!   `REVOKING` wait for `REVOKED`.
//!
//! The two fences are the store-buffer litmus: either the owner's re-check
//! sees `REVOKING` (and it backs off to the RMW path), or the revoker sees
//! `busy` set and waits for the owner's Release, after which the owner's
//! plain store is visible to the revoker's (and, through `REVOKED`'s
//! Release, everyone's) RMWs. As for event counts (`crate::wait`), the fence
//! is asymmetric on Linux: the owner pays a compiler fence, the revoker a
//! `membarrier` — once per log, since `REVOKED` is final.
//!
//! A thread that finds the log `UNCLAIMED` claims it with a CAS: an
//! `UNCLAIMED` log has seen no append since the last owner let go, so the
//! new owner is alone with the word. An owner lets go when its thread
//! exits (a thread-local list of the logs it owns, released by its
//! destructor with a Release CAS back to `UNCLAIMED`, which the next
//! claimer's Acquire CAS reads): a producer thread that is replaced by
//! another (a restarted worker, one thread per batch) hands the bias on
//! instead of revoking it. Only two threads appending while both live make
//! the revocation final. Durable logs start `REVOKED`: their segments are
//! files whose appends take the pinned path.
//!
//! **Progress.** The revocation waits for the owner's append in flight,
//! which takes a few hundred nanoseconds unless the owner is preempted
//! inside it. So at that one moment per log, appends are not lock-free in
//! the strict sense: an owner thread stopped inside an append (SIGSTOP, a
//! debugger) holds up the second thread's first append until it runs
//! again. Every other append, and every read, is unaffected.
//!
//! The loom models `bias_owner_vs_second_producer` and
//! `bias_owner_vs_close` check the protocol (with `SeqCst` fences on both
//! sides: loom has no `membarrier`).

use super::Shared;
use crate::sync::{thread_id, AtomicBool, AtomicU64, Ordering};
use crate::wait::{asymmetric, heavy_fence, light_fence, spin_wait};
use std::sync::Arc;

/// Nobody has appended yet.
const UNCLAIMED: u64 = 0;
/// A revoker is waiting for the owner to leave its plain append.
const REVOKING: u64 = u64::MAX - 1;
/// Every append uses RMWs (final).
const REVOKED: u64 = u64::MAX;

/// The bias state of one log (see the module docs). Kept on a cache line of
/// its own: only the owner writes `busy`, and after revocation nobody
/// writes either field.
#[derive(Debug)]
pub(crate) struct Bias {
    owner: AtomicU64,
    busy: AtomicBool,
    asymmetric: bool,
}

impl Bias {
    /// A bias that can be claimed (`enabled`), or one revoked from the
    /// start.
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            owner: AtomicU64::new(if enabled { UNCLAIMED } else { REVOKED }),
            busy: AtomicBool::new(false),
            asymmetric: asymmetric(),
        }
    }

    /// Runs `plain` as the owner (inside `busy`) if the calling thread owns
    /// the bias, and returns its result; `None` when the caller must
    /// reserve with RMWs (it has then seen `REVOKED`, or owns the bias and
    /// may use RMWs anyway). Claims an unclaimed bias and revokes another
    /// thread's on the way.
    #[inline]
    pub(crate) fn run_owned<R>(&self, log: &Arc<Shared>, plain: impl FnOnce() -> R) -> Option<R> {
        loop {
            // Acquire: after `REVOKED`, the former owner's plain stores are
            // visible (its Release of `busy`, read by the revoker, who
            // stored `REVOKED` with Release).
            let o = self.owner.load(Ordering::Acquire);
            if o == REVOKED {
                return None;
            }
            let me = thread_id();
            if o != me {
                self.contend(log, o, me);
                continue;
            }
            // Relaxed: ordered before the re-check by the fence below.
            self.busy.store(true, Ordering::Relaxed);
            // Pairs with the revoker's heavy fence (store-buffer litmus).
            light_fence(self.asymmetric);
            // Relaxed: the fence above orders it; a stale `me` is excluded
            // by the litmus (the revoker then waits for `busy`).
            if self.owner.load(Ordering::Relaxed) == me {
                let r = plain();
                // Release: the plain reservation and the frame happen before
                // a revoker's RMWs (it loads `busy` with Acquire).
                self.busy.store(false, Ordering::Release);
                return Some(r);
            }
            // Release: as above (nothing was written).
            self.busy.store(false, Ordering::Release);
        }
    }

    /// The owner's fast path: runs `plain` inside `busy` if the calling
    /// thread owns the bias, and returns what it returns. `None` without
    /// running it when the caller does not own the bias (it then takes
    /// [`run_owned`](Self::run_owned), which claims, waits or revokes), or
    /// when `plain` declines (it must then have changed nothing).
    ///
    /// The same protocol as `run_owned`, minus its loop and its slow
    /// branches, so that it can be inlined into every append.
    #[inline(always)]
    pub(crate) fn try_owned<R>(&self, plain: impl FnOnce() -> Option<R>) -> Option<R> {
        let me = thread_id();
        // Relaxed: only our own id matters here, which only we store (with
        // the claim's Acquire, in this thread); the re-check below decides.
        if self.owner.load(Ordering::Relaxed) != me {
            return None;
        }
        // Relaxed: ordered before the re-check by the fence below.
        self.busy.store(true, Ordering::Relaxed);
        // Pairs with the revoker's heavy fence (store-buffer litmus).
        light_fence(self.asymmetric);
        // Relaxed: as in `run_owned`.
        let r = if self.owner.load(Ordering::Relaxed) == me {
            plain()
        } else {
            None
        };
        // Release: as in `run_owned`.
        self.busy.store(false, Ordering::Release);
        r
    }

    /// Claims an unclaimed bias, waits out a revocation, or revokes another
    /// thread's bias.
    #[cold]
    fn contend(&self, log: &Arc<Shared>, o: u64, me: u64) {
        match o {
            UNCLAIMED => {
                if !owned::register(log) {
                    // This thread is exiting (its list is gone): it could
                    // not let go, so it must not own.
                    self.revoke_from(UNCLAIMED);
                    return;
                }
                // Acquire: pairs with the Release of the last owner's
                // `release`, so its plain stores are visible to ours.
                // Failure: the caller re-reads.
                let _ = self.owner.compare_exchange(
                    UNCLAIMED,
                    me,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                );
            }
            REVOKING => self.wait_revoked(),
            _ => self.revoke_from(o),
        }
    }

    /// The owner's thread is exiting: lets the next thread claim the bias
    /// (unless it was revoked meanwhile).
    #[cfg_attr(fanlog_loom, allow(dead_code))]
    fn release(&self, me: u64) {
        // Release: our plain reservations happen before the next owner's
        // (Acquire claim) and before anyone's RMWs after a revocation from
        // `UNCLAIMED` (which reads this value).
        let _ = self
            .owner
            .compare_exchange(me, UNCLAIMED, Ordering::Release, Ordering::Relaxed);
    }

    /// Makes the bias `REVOKED` whoever holds it (close).
    pub(crate) fn revoke(&self) {
        loop {
            // Acquire: as in `run_owned`.
            match self.owner.load(Ordering::Acquire) {
                REVOKED => return,
                REVOKING => self.wait_revoked(),
                o => self.revoke_from(o),
            }
        }
    }

    /// Revokes `o`'s bias (if `o` still holds it) and waits until its plain
    /// append, if any, is over.
    fn revoke_from(&self, o: u64) {
        // Acquire on success: from `UNCLAIMED`, reads the last owner's
        // Release (`release`); from an owner, the heavy fence below orders
        // it before our load of `busy`. Failure: the caller re-reads.
        if self
            .owner
            .compare_exchange(o, REVOKING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if o != UNCLAIMED {
            // Pairs with the owner's light fence.
            heavy_fence(self.asymmetric);
            let mut round = 0;
            // Acquire: pairs with the owner's Release of `busy`.
            while self.busy.load(Ordering::Acquire) {
                spin_wait(round);
                round = round.saturating_add(1);
            }
        }
        // Release: publishes the former owner's plain stores (acquired
        // above) to everyone who reads `REVOKED`.
        self.owner.store(REVOKED, Ordering::Release);
    }

    /// Waits while another thread revokes.
    fn wait_revoked(&self) {
        let mut round = 0;
        // Relaxed: the caller re-reads with Acquire.
        while self.owner.load(Ordering::Relaxed) == REVOKING {
            spin_wait(round);
            round = round.saturating_add(1);
        }
    }

    /// Whether the calling thread holds the bias (tests).
    #[cfg(test)]
    pub(crate) fn owned_by_me(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == thread_id()
    }

    /// Whether the bias was revoked (tests).
    #[cfg(test)]
    pub(crate) fn revoked(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == REVOKED
    }
}

/// The logs whose bias the calling thread holds, released when it exits.
#[cfg(not(fanlog_loom))]
mod owned {
    use super::{thread_id, Arc, Shared};
    use std::cell::RefCell;
    use std::sync::Weak;

    struct Owned {
        me: u64,
        logs: RefCell<Vec<Weak<Shared>>>,
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            for log in self.logs.get_mut().drain(..) {
                if let Some(log) = log.upgrade() {
                    log.bias.release(self.me);
                }
            }
        }
    }

    thread_local! {
        static OWNED: Owned = Owned {
            me: thread_id(),
            logs: RefCell::new(Vec::new()),
        };
    }

    /// Remembers `log` for release at thread exit; `false` if the thread's
    /// list is already gone (it is exiting).
    pub(super) fn register(log: &Arc<Shared>) -> bool {
        OWNED
            .try_with(|o| {
                let mut logs = o.logs.borrow_mut();
                // Dropped logs need no release.
                logs.retain(|w| w.strong_count() > 0);
                if !logs
                    .iter()
                    .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(log)))
                {
                    logs.push(Arc::downgrade(log));
                }
            })
            .is_ok()
    }
}

/// Under loom owners never exit before the model ends: nothing to release.
#[cfg(fanlog_loom)]
mod owned {
    use super::{Arc, Shared};

    pub(super) fn register(_log: &Arc<Shared>) -> bool {
        true
    }
}
