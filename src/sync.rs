//! The one place that names `std::sync::atomic` or `loom`.
//!
//! Every concurrent module of fanlog imports its atomics, cells, fences and
//! thread helpers from here, so that the loom models in `tests/loom.rs`
//! (built with `--cfg fanlog_loom --cfg crossbeam_loom`, see `.ci/loom`)
//! exercise the exact code that ships. Under loom the types come from loom;
//! otherwise from `std`/`core`, with an `UnsafeCell` wrapper that offers loom's
//! `with`/`with_mut` API on both sides.

#[cfg(fanlog_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(not(fanlog_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};

pub(crate) use std::sync::atomic::Ordering;

#[cfg(fanlog_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(fanlog_loom)]
pub(crate) use loom::sync::{Condvar, Mutex};

/// Spin-loop hint; under loom a yield so that the model scheduler can run
/// the thread we are waiting for.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(fanlog_loom)]
    loom::thread::yield_now();
    #[cfg(not(fanlog_loom))]
    std::hint::spin_loop();
}

/// Give up the rest of the time slice (a loom yield under loom).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(fanlog_loom)]
    loom::thread::yield_now();
    #[cfg(not(fanlog_loom))]
    std::thread::yield_now();
}

/// A number naming the calling thread, unique for the process's lifetime
/// (never 0, never `u64::MAX`): the owner of a log's producer bias.
#[inline]
pub(crate) fn thread_id() -> u64 {
    use std::cell::Cell;
    // A plain id source, not part of any protocol (hence std's atomic even
    // under loom).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    #[cfg(not(fanlog_loom))]
    thread_local!(static ID: Cell<u64> = const { Cell::new(0) });
    #[cfg(fanlog_loom)]
    loom::thread_local!(static ID: Cell<u64> = Cell::new(0));
    ID.with(|c| {
        let v = c.get();
        if v != 0 {
            return v;
        }
        // Relaxed: uniqueness only needs the RMW's atomicity.
        let v = NEXT.fetch_add(1, Ordering::Relaxed);
        c.set(v);
        v
    })
}

/// `std`'s `UnsafeCell` with loom's closure-based API, so the same code
/// compiles against both.
#[cfg(not(fanlog_loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(fanlog_loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a unique raw pointer to the value.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
