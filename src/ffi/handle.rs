//! Opaque handles: tagged boxes, checked on entry, quarantined on free.
//!
//! Every handle starts with a tag word naming its type. Entry points check
//! it, so a handle of the wrong type, or one that was freed, gives
//! `FANLOG_INVALID_HANDLE` instead of undefined behaviour. Freed handles keep
//! their (small) shell, tagged `DEAD`, in a quarantine of the last
//! `QUARANTINE` frees before the memory is returned, so a use after free is
//! detected reliably for recently freed handles.

use super::fanlog_status::{self, *};
use crate::sync::Ordering;
use std::mem::ManuallyDrop;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

/// Tag of a freed handle.
pub(crate) const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// How many freed handle shells are kept before their memory is released.
pub(crate) const QUARANTINE: usize = 4096;

/// A live handle: its tag and the Rust object behind it.
#[repr(C)]
pub(crate) struct Tagged<T> {
    /// Type tag while live, [`DEAD`] after free.
    tag: AtomicU64,
    /// The object; dropped in place by `free`.
    inner: ManuallyDrop<T>,
}

/// Types that can live behind a handle.
pub(crate) trait HandleType {
    /// The tag of live handles of this type.
    const TAG: u64;
}

/// Boxes `value` as a handle.
pub(crate) fn new_handle<T: HandleType>(value: T) -> *mut Tagged<T> {
    Box::into_raw(Box::new(Tagged {
        tag: AtomicU64::new(T::TAG),
        inner: ManuallyDrop::new(value),
    }))
}

/// Checks a handle and borrows its object.
///
/// # Safety
/// `p` is NULL, or a pointer returned by [`new_handle`] for some type
/// (possibly freed less than [`QUARANTINE`] frees ago), and is not freed
/// concurrently with this use.
pub(crate) unsafe fn check<'a, T: HandleType>(p: *const Tagged<T>) -> Result<&'a T, fanlog_status> {
    if p.is_null() {
        return Err(FANLOG_NULL_ARGUMENT);
    }
    // SAFETY: the caller guarantees the shell is still allocated; every
    // handle type starts with the tag word (`repr(C)`).
    let tagged = unsafe { &*p };
    // Acquire: pairs with the Release tag store in `new_handle`'s box
    // publication and `free`'s DEAD store.
    if tagged.tag.load(Ordering::Acquire) != T::TAG {
        return Err(FANLOG_INVALID_HANDLE);
    }
    Ok(&tagged.inner)
}

/// Frees a handle: marks it `DEAD`, drops its object, quarantines the
/// shell. NULL, a freed handle or a handle of another type is ignored.
///
/// # Safety
/// As for [`check`]; additionally no other call may be using the handle.
pub(crate) unsafe fn free<T: HandleType>(p: *mut Tagged<T>) {
    if p.is_null() {
        return;
    }
    // SAFETY: as in `check`.
    let tagged = unsafe { &mut *p };
    // AcqRel: exactly one free wins; later checks see DEAD.
    if tagged
        .tag
        .compare_exchange(T::TAG, DEAD, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // SAFETY: we won the tag race, so the object is dropped exactly once and
    // never used again (later calls fail the tag check).
    unsafe { ManuallyDrop::drop(&mut tagged.inner) };
    quarantine(p as usize, release_shell::<T>);
}

/// Returns a quarantined shell's memory.
fn release_shell<T>(addr: usize) {
    // SAFETY: `addr` came from `Box::into_raw` in `new_handle`; its object
    // was already dropped (ManuallyDrop), so dropping the box only frees it.
    drop(unsafe { Box::from_raw(addr as *mut Tagged<T>) });
}

type Shell = (usize, fn(usize));

fn quarantine(addr: usize, release: fn(usize)) {
    static Q: OnceLock<crossbeam_queue::ArrayQueue<Shell>> = OnceLock::new();
    let q = Q.get_or_init(|| crossbeam_queue::ArrayQueue::new(QUARANTINE));
    if let Some((old, rel)) = q.force_push((addr, release)) {
        rel(old);
    }
}
