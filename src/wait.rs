//! Waiting without lost wake-ups: the event count, deadlines, interrupts and
//! readiness file descriptors shared by log cursors, blocked producers, hub
//! subscriptions and snapshot readers.
//!
//! # The event count
//!
//! A waiter must never go to sleep just after the condition it waits for
//! became true. [`EventCount`] closes that window the way futex-based event
//! counts do:
//!
//! 1. the waiter announces itself ([`EventCount::prepare`] sets the armed
//!    flag of the futex word `epoch` and takes the word as its *key*),
//! 2. re-checks its condition (data available, closed, interrupted...),
//! 3. sleeps with [`EventCount::wait`] *only if `epoch` still equals the key*
//!    (the kernel compares and sleeps atomically: `FUTEX_WAIT`).
//!
//! The notifier first makes the condition true, then calls
//! [`EventCount::notify`], which costs one load (and a fence, see below) when
//! nobody is waiting (the flag is clear); otherwise it bumps `epoch` and
//! wakes the sleepers.
//!
//! A full barrier sits between "condition stored" and "flag loaded" on the
//! notifier side and between "flag set" and "condition loaded"
//! on the waiter side, so at least one of the two sees the other (the
//! store-buffer litmus test): either the waiter sees the condition, or the
//! notifier sees the flag and bumps the epoch, which makes the futex wait
//! return at once.
//!
//! A wake-up is paid once per round of waiting, not once per notify: the
//! futex word's low bit is an *armed* flag. `prepare` sets it and takes the
//! word, flag included, as its key; a notifier that finds it set moves the
//! word to the next even value (flag clear, epoch bumped) and wakes
//! everybody. Later notifies see the flag clear and skip the RMW and the
//! `FUTEX_WAKE` until a waiter arms it again, even while the woken threads
//! have not yet run (with more threads than CPUs that window used to make
//! nearly every append pay a contended RMW and a system call). Because the
//! flag lives in the key, any wake after a waiter armed invalidates that
//! waiter's key: a waiter whose flag was cleared by an earlier notifier
//! (before it re-checked its condition) never sleeps on it. With the flag in
//! a separate word that case lost wake-ups; the loom model
//! `wake_once_vs_rearm` found it.
//!
//! # Asymmetric fences
//!
//! Notifiers run on the hot path (every append); waiters are about to sleep
//! anyway. So on Linux the barrier is made asymmetric, as in userspace RCU
//! and folly's `asymmetricThreadFenceHeavy`: the waiter issues
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which executes a full
//! memory barrier on every running thread of the process, and the notifier
//! needs only a compiler fence (it must not reorder its condition store after
//! its `waiters` load). Either the notifier's load comes after the barrier
//! point in its thread — then it sees the increment that preceded the
//! membarrier — or its store was made visible by that barrier, and the
//! waiter's re-check sees it. Where membarrier is unavailable (old kernels,
//! Miri, loom) both sides use `fence(SeqCst)`. The choice is made once per
//! process, before any event count exists, and never changes. Measured: the
//! notifier's `fence(SeqCst)` cost a 64-byte append ~10–20 ns (it drains the
//! store buffer of the payload copy), and 1 producer → 1 cursor went from
//! 6.5 M to 17.8 M records/s without it.
//!
//! Under loom the futex is modelled by a mutex and a condition variable with
//! the same compare-then-sleep semantics, so the models check this protocol.

use crate::sync::{fence, AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// When a blocking call gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Do not wait at all.
    Now,
    /// Wait until this instant.
    At(Instant),
    /// Wait as long as it takes.
    Never,
}

impl Deadline {
    /// A deadline `timeout` from now (`Duration::ZERO` means don't wait; a
    /// timeout too large to represent means wait forever).
    pub(crate) fn after(timeout: Duration) -> Self {
        if timeout.is_zero() {
            Deadline::Now
        } else {
            match Instant::now().checked_add(timeout) {
                Some(at) => Deadline::At(at),
                None => Deadline::Never,
            }
        }
    }

    /// Time left, `None` for "forever"; `Some(ZERO)` once expired.
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self {
            Deadline::Now => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
            Deadline::Never => None,
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

/// How many times a waiter re-checks its condition, yielding the CPU
/// between checks, before it registers and parks.
///
/// Yields, not `pause` loops: measured on the 2-vCPU machine (BENCHMARKS.md,
/// "Waiting"), 32 rounds of exponential `pause` spinning (~1,700 `pause`s)
/// before 32 yields made 1 → 1, 1 → 4 and 4 → 4 runs 10–50% slower than
/// yielding at once: a spinning reader keeps pulling the line the producer
/// is writing, and with more threads than CPUs it holds a CPU the producer
/// needs. A yield with nothing else runnable returns in well under a
/// microsecond, so the re-checks stay frequent.
///
/// 32 rather than 8 or 128: of the three, 32 was fastest in every 1 → 1,
/// 1 → 2, 1 → 4 and 4 → 4 cell at 8 B and 64 B (two alternating runs);
/// fewer yields park (a `membarrier` and a wake-up) more often, more yields
/// keep runnable readers competing with the producer for the two CPUs.
#[cfg(not(fanlog_loom))]
pub(crate) const SPIN_ROUNDS: u32 = 32;
#[cfg(fanlog_loom)]
pub(crate) const SPIN_ROUNDS: u32 = 0;

/// Brief waiting before parking: yields; returns `false` when the caller
/// should park.
#[inline]
#[allow(clippy::absurd_extreme_comparisons)] // `SPIN_ROUNDS` is 0 under loom: park at once
pub(crate) fn backoff(round: u32) -> bool {
    if round < SPIN_ROUNDS {
        crate::sync::yield_now();
        true
    } else {
        false
    }
}

/// Exponential `pause` spinning for very short waits (`2^min(round, 6)`
/// spin hints).
#[inline]
pub(crate) fn spin_pause(round: u32) {
    for _ in 0..(1u32 << round.min(6)) {
        crate::sync::spin_hint();
    }
}

/// One round of waiting for a flag another thread holds for a few
/// instructions (a linker, a registry writer): exponential `pause` spinning
/// for the first rounds, then yields.
#[inline]
pub(crate) fn spin_wait(round: u32) {
    // Under loom every spin hint is a yield point: one per round keeps the
    // models small.
    if cfg!(not(fanlog_loom)) && round < 6 {
        spin_pause(round);
    } else {
        crate::sync::yield_now();
    }
}

/// Whether waiters use `membarrier` and notifiers only a compiler fence (see
/// the module docs). Decided once per process.
pub(crate) fn asymmetric() -> bool {
    #[cfg(any(miri, fanlog_loom))]
    {
        false
    }
    #[cfg(not(any(miri, fanlog_loom)))]
    {
        static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *READY.get_or_init(|| {
            // SAFETY: membarrier takes plain integers; registering the
            // private expedited command has no effect but to enable it.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                    0,
                    0,
                ) == 0
            }
        })
    }
}

#[cfg(not(any(miri, fanlog_loom)))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
#[cfg(not(any(miri, fanlog_loom)))]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// The waiter's side of the barrier pairing (see the module docs).
#[inline]
pub(crate) fn heavy_fence(asymmetric: bool) {
    #[cfg(not(any(miri, fanlog_loom)))]
    if asymmetric {
        // SAFETY: plain integers; the command was registered (see
        // `asymmetric`), so it cannot fail with EPERM.
        let r =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        if r == 0 {
            return;
        }
    }
    let _ = asymmetric;
    fence(Ordering::SeqCst);
}

/// The notifier's side of the barrier pairing (see the module docs).
#[inline]
pub(crate) fn light_fence(asymmetric: bool) {
    if asymmetric {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The bit of the futex word set by `prepare` and cleared by the wake that
/// serves it (see the module docs).
const ARMED: u32 = 1;

/// A futex-backed event count (see the module docs).
#[derive(Debug)]
pub(crate) struct EventCount {
    /// Waiters use membarrier, notifiers a compiler fence.
    asymmetric: bool,
    /// The futex word: the wake count times two, plus [`ARMED`] while a
    /// waiter has prepared since the last wake.
    epoch: AtomicU32,
    /// Threads between `prepare` and `finish` (bookkeeping: notifiers read
    /// only the armed flag).
    waiters: AtomicU32,
    #[cfg(fanlog_loom)]
    lock: crate::sync::Mutex<()>,
    #[cfg(fanlog_loom)]
    cond: crate::sync::Condvar,
}

impl Default for EventCount {
    fn default() -> Self {
        Self {
            asymmetric: asymmetric(),
            epoch: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            #[cfg(fanlog_loom)]
            lock: crate::sync::Mutex::new(()),
            #[cfg(fanlog_loom)]
            cond: crate::sync::Condvar::new(),
        }
    }
}

impl EventCount {
    /// A new event count with no waiters.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The notifier-side barrier that pairs with `prepare`: call it between
    /// storing the condition and [`has_waiters`](Self::has_waiters).
    #[inline]
    pub(crate) fn notify_fence(&self) {
        light_fence(self.asymmetric);
    }

    /// Registers the caller as a waiter and returns its key. The caller must
    /// re-check its condition after this, then either [`wait`](Self::wait)
    /// or not, and in both cases call [`finish`](Self::finish) once.
    #[inline]
    pub(crate) fn prepare(&self) -> u32 {
        // Relaxed increment: the barrier below orders it before the waiter's
        // re-check of the condition (store-buffer litmus, see docs).
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // Arm, and take the armed word as the key. Acquire: pairs with the
        // Release wake in `wake_all`. A waiter whose key already includes a
        // wake must also see what that notifier stored before it (e.g.
        // `closed`), or it would sleep on a stale check with a key no later
        // wake will change (found by the loom model
        // `close_vs_drain_vs_blocked_reader`).
        let key = self.epoch.fetch_or(ARMED, Ordering::Acquire) | ARMED;
        // Orders the arming before the caller's re-check (store-buffer
        // litmus against the notifier's condition store and flag load).
        heavy_fence(self.asymmetric);
        key
    }

    /// Unregisters a waiter (after waking, or when the re-check succeeded).
    /// The armed flag stays: a notifier may still wake for it once, which is
    /// harmless (waiters loop), and clearing it here could unarm another
    /// waiter's round.
    #[inline]
    pub(crate) fn finish(&self) {
        // Relaxed: the count is bookkeeping; notifiers read only the bit.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether a waiter prepared since the last wake (the armed bit).
    /// Relaxed: callers fence first.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.epoch.load(Ordering::Relaxed) & ARMED != 0
    }

    /// Threads between `prepare` and `finish` (tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> u32 {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Wakes every registered waiter if there is one. Call it *after*
    /// making the awaited condition true.
    #[inline]
    pub(crate) fn notify(&self) {
        // Pairs with the barrier in `prepare`: orders the caller's condition
        // store before the load of `waiters`.
        self.notify_fence();
        if self.has_waiters() {
            self.wake_all();
        }
    }

    /// Wakes every waiter unconditionally (used by interrupt and close).
    pub(crate) fn wake_all(&self) {
        // Disarm and bump in one step: the next even value, different from
        // every key taken so far (keys are the armed, odd words). Release: a
        // waiter whose key includes this wake sees what the notifier stored
        // before it (see `prepare`).
        // (A CAS loop rather than `fetch_update`, which nightly deprecates
        // in favour of a `try_update` that stable does not have yet.)
        // Relaxed: a first guess; the CAS decides.
        let mut w = self.epoch.load(Ordering::Relaxed);
        // Failure Relaxed: we only retry with the value read.
        while let Err(now) = self.epoch.compare_exchange_weak(
            w,
            (w | ARMED).wrapping_add(1),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            w = now;
        }
        #[cfg(not(fanlog_loom))]
        futex_wake(&self.epoch);
        #[cfg(fanlog_loom)]
        {
            let _g = self.lock.lock().unwrap();
            self.cond.notify_all();
        }
    }

    /// Sleeps while the epoch still equals `key`, until woken or until
    /// `deadline`. Returns early on spurious wake-ups: callers loop.
    pub(crate) fn wait(&self, key: u32, deadline: Deadline) {
        #[cfg(not(fanlog_loom))]
        {
            let timeout = deadline.remaining();
            if timeout == Some(Duration::ZERO) {
                return;
            }
            futex_wait(&self.epoch, key, timeout);
        }
        #[cfg(fanlog_loom)]
        {
            if deadline != Deadline::Never {
                // loom has no clock: a timed wait is a yield, the caller's
                // loop re-checks (models use only untimed waits).
                crate::sync::yield_now();
                return;
            }
            let mut g = self.lock.lock().unwrap();
            while self.epoch.load(Ordering::Acquire) == key {
                g = self.cond.wait(g).unwrap();
            }
        }
    }
}

#[cfg(not(fanlog_loom))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts;
    let ts_ptr = match timeout {
        Some(d) => {
            ts = libc::timespec {
                tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: `word` is a live, aligned 32-bit atomic for the duration of the
    // call; the kernel only reads it. `ts_ptr` is null or points to `ts`,
    // which outlives the call. EINTR/EAGAIN/ETIMEDOUT are all "return".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

#[cfg(not(fanlog_loom))]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE only uses
    // its address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// A sticky interrupt flag: [`raise`](Interrupt::raise) from any thread makes
/// the owner's current or next blocking wait return `Interrupted` once.
#[derive(Debug, Default)]
pub(crate) struct Interrupt {
    /// Raised and not yet consumed.
    raised: AtomicBool,
}

impl Interrupt {
    /// Raises the flag. The caller then wakes the event count the owner
    /// sleeps on.
    pub(crate) fn raise(&self) {
        // SeqCst: read by a waiter after its `prepare` fence; the raiser's
        // wake-up (epoch bump) follows this store.
        self.raised.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is raised (does not consume it).
    pub(crate) fn is_raised(&self) -> bool {
        // SeqCst: read after a waiter's `prepare` fence (see `raise`).
        self.raised.load(Ordering::SeqCst)
    }

    /// Consumes the flag: `true` if it was raised.
    pub(crate) fn take(&self) -> bool {
        // Relaxed load first so the common case writes nothing; Acquire swap
        // pairs with the raiser's store.
        self.raised.load(Ordering::Relaxed) && self.raised.swap(false, Ordering::Acquire)
    }
}

/// A Linux eventfd used as a readiness file descriptor: readable while the
/// object it belongs to has something to deliver (and possibly, spuriously,
/// until the next read that finds nothing).
#[derive(Debug)]
pub(crate) struct ReadinessFd {
    /// The eventfd (non-blocking, close-on-exec).
    fd: libc::c_int,
    /// Set while the owner waits for the fd to be signalled by a notifier.
    armed: AtomicBool,
}

impl ReadinessFd {
    /// Creates the eventfd.
    pub(crate) fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall wrapper with constant flags; no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            armed: AtomicBool::new(false),
        })
    }

    /// The raw descriptor (owned by this object, closed on drop).
    pub(crate) fn raw(&self) -> libc::c_int {
        self.fd
    }

    /// Makes the fd readable.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: `fd` is an open eventfd owned by `self`; we pass a pointer
        // to 8 readable bytes as eventfd requires. EAGAIN (counter at max)
        // leaves it readable, which is what we want.
        unsafe {
            libc::write(self.fd, &one as *const u64 as *const libc::c_void, 8);
        }
    }

    /// Makes the fd non-readable (drains the counter).
    pub(crate) fn clear(&self) {
        let mut buf: u64 = 0;
        // SAFETY: `fd` is an open non-blocking eventfd owned by `self`; `buf`
        // is 8 writable bytes. EAGAIN means it was already clear.
        unsafe {
            libc::read(self.fd, &mut buf as *mut u64 as *mut libc::c_void, 8);
        }
    }

    /// Arms the fd: a later [`fire_if_armed`](Self::fire_if_armed) signals
    /// it. Returns `false` if it was already armed.
    pub(crate) fn arm(&self) -> bool {
        // SeqCst: part of the waiter-registration protocol (see EventCount).
        !self.armed.swap(true, Ordering::SeqCst)
    }

    /// Disarms without signalling; `true` if it was armed.
    pub(crate) fn disarm(&self) -> bool {
        self.armed.swap(false, Ordering::SeqCst)
    }

    /// Signals the fd if it was armed; `true` if it fired.
    pub(crate) fn fire_if_armed(&self) -> bool {
        // Relaxed pre-check keeps notifiers from writing to every fd's line.
        if self.armed.load(Ordering::Relaxed) && self.disarm() {
            self.signal();
            true
        } else {
            false
        }
    }
}

impl Drop for ReadinessFd {
    fn drop(&mut self) {
        // SAFETY: we own `fd` and nobody uses it after drop.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// Interrupts the blocking waits of one cursor, producer or subscription
/// from any thread.
///
/// An interrupt is sticky: if the owner is not waiting when
/// [`interrupt`](Waker::interrupt) is called, its *next* blocking call
/// returns `Interrupted` at once (and only that one). Cloning a waker is
/// cheap; all clones interrupt the same owner.
///
/// ```
/// use fanlog::{Log, RecvError, Start};
/// let log = Log::new();
/// let mut cursor = log.cursor(Start::Latest).unwrap();
/// let waker = cursor.waker();
/// let t = std::thread::spawn(move || waker.interrupt());
/// assert_eq!(cursor.next().unwrap_err(), RecvError::Interrupted);
/// t.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Waker {
    pub(crate) target: std::sync::Arc<dyn WakeTarget>,
}

impl Waker {
    /// Interrupts the owner's current (or next) blocking wait.
    pub fn interrupt(&self) {
        self.target.interrupt();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Something a [`Waker`] can interrupt.
pub(crate) trait WakeTarget: Send + Sync {
    /// Raise the interrupt and wake the owner wherever it sleeps.
    fn interrupt(&self);
}

#[cfg(all(test, not(fanlog_loom)))]
mod tests {
    use super::*;

    fn epoch(ec: &EventCount) -> u32 {
        ec.epoch.load(Ordering::Relaxed)
    }

    /// A wake is paid once per round of waiting: the first notify after a
    /// `prepare` bumps the epoch, later ones skip until a waiter prepares
    /// again (even while the first waiter has not finished).
    #[test]
    fn one_wake_per_armed_round() {
        let ec = EventCount::new();
        ec.notify();
        assert_eq!(epoch(&ec), 0, "nobody waits: no bump");
        let key = ec.prepare();
        assert_eq!(key, 1, "the key is the armed word");
        assert!(ec.has_waiters());
        ec.notify();
        assert_eq!(epoch(&ec), 2, "the armed round is woken");
        assert!(!ec.has_waiters());
        ec.notify();
        ec.notify();
        assert_eq!(epoch(&ec), 2, "no repeat while unarmed");
        assert_eq!(ec.waiting(), 1, "the woken waiter is still counted");
        ec.wait(key, Deadline::Never); // returns at once: the word moved
        let key2 = ec.prepare(); // the same waiter's next round re-arms
        assert_eq!(key2, 3);
        let key3 = ec.prepare(); // a second waiter joins the armed round
        assert_eq!(key3, 3);
        ec.notify();
        assert_eq!(epoch(&ec), 4);
        ec.wake_all(); // unconditional wakes move the word too
        assert_eq!(epoch(&ec), 6);
        ec.finish();
        ec.finish();
        ec.finish();
        assert_eq!(ec.waiting(), 0);
    }

    /// A sleeping waiter is woken by a notify from another thread.
    #[test]
    fn sleeper_is_woken() {
        let ec = std::sync::Arc::new(EventCount::new());
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let (e2, f2) = (ec.clone(), flag.clone());
        let t = std::thread::spawn(move || loop {
            let key = e2.prepare();
            if f2.load(Ordering::Acquire) {
                e2.finish();
                return;
            }
            e2.wait(key, Deadline::Never);
            e2.finish();
        });
        std::thread::sleep(Duration::from_millis(20));
        flag.store(true, Ordering::Release);
        ec.notify();
        t.join().unwrap();
    }
}
