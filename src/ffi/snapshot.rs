//! C ABI over blob snapshots: `fanlog_snapshot`, `fanlog_snapshot_ref`.
//!
//! A `fanlog_snapshot` owns a [`BlobSnapshot`]: one immutable byte blob,
//! replaced whole by writers, read by many threads without a lock, with a
//! version number (0 for the initial blob, +1 per store).
//!
//! A reader takes a `fanlog_snapshot_ref`: a reference to one version,
//! holding that blob's `Arc` (so the bytes stay where they are, unchanged,
//! however many stores follow, and even after the snapshot handle is
//! freed) until `fanlog_snapshot_ref_release`. Taking one costs the
//! snapshot's lock-free load plus one small allocation for the handle;
//! the blob itself is never copied.

use super::fanlog_status::{self, *};
use super::handle::{self, HandleType, Tagged};
use super::{bytes, fill_out, guard, recv_status, write_opt};
use crate::{BlobSnapshot, RecvError};
use std::sync::Arc;
use std::time::Duration;

/// A snapshot of an immutable byte blob, with a version (opaque). Create
/// with `fanlog_snapshot_new`, release with `fanlog_snapshot_free`.
/// Thread-safe: every function may be called from any thread concurrently,
/// except `fanlog_snapshot_free`, which must be the last call on the handle
/// (and so must not race with a blocked `fanlog_snapshot_wait_newer`).
/// References taken from it outlive it.
///
/// Methods: `fanlog_snapshot_new`, `fanlog_snapshot_free`,
/// `fanlog_snapshot_store`, `fanlog_snapshot_version`,
/// `fanlog_snapshot_load`, `fanlog_snapshot_wait_newer`.
pub struct fanlog_snapshot {
    _opaque: [u8; 0],
}

/// A held reference to one version of a snapshot's blob (opaque): its
/// bytes stay valid and unchanged until `fanlog_snapshot_ref_release`,
/// whatever is stored meanwhile and even after the snapshot is freed.
/// Created by `fanlog_snapshot_load` and `fanlog_snapshot_wait_newer`.
/// Immutable, so thread-safe: `fanlog_snapshot_ref_data` may be called from
/// any thread; `fanlog_snapshot_ref_release` must be the last call.
///
/// Methods: `fanlog_snapshot_ref_data`, `fanlog_snapshot_ref_release`.
pub struct fanlog_snapshot_ref {
    _opaque: [u8; 0],
}

/// What a `fanlog_snapshot` handle points to.
pub(crate) struct SnapshotInner {
    /// The snapshot.
    snap: BlobSnapshot,
}

/// What a `fanlog_snapshot_ref` handle points to.
pub(crate) struct SnapshotRefInner {
    /// The blob of one version (shared with the snapshot while current).
    data: Arc<[u8]>,
    /// Its version.
    version: u64,
}

impl HandleType for SnapshotInner {
    const TAG: u64 = 0x464C_4C4F_4721_534E;
}
impl HandleType for SnapshotRefInner {
    const TAG: u64 = 0x464C_4C4F_4721_5352;
}

/// Creates a snapshot holding a copy of the `len` bytes at `data` as
/// version 0 (`data` may be NULL if `len` is 0). On success `*out`
/// receives a handle that the caller owns and must release with
/// `fanlog_snapshot_free`.
///
/// Returns `FANLOG_NULL_ARGUMENT` if `out` is NULL, or `data` is NULL with
/// `len` > 0. Thread-safe.
///
/// # Safety
/// `data` points to `len` readable bytes (or `len` is 0); `out` is NULL or
/// valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_new(
    data: *const u8,
    len: usize,
    out: *mut *mut fanlog_snapshot,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || {
            // SAFETY: per the contract.
            let data = match unsafe { bytes(data, len) } {
                Ok(d) => d,
                Err(s) => return s,
            };
            let h = handle::new_handle(SnapshotInner {
                snap: BlobSnapshot::from_bytes(data),
            });
            // SAFETY: non-null (checked), writable per the contract.
            unsafe { out.write(h.cast()) };
            FANLOG_OK
        },
        || {},
    )
}

/// Releases a snapshot handle. References taken from it stay valid until
/// their own release. NULL (and an already freed handle) is ignored. Must
/// not race with other calls on this handle, including a blocked
/// `fanlog_snapshot_wait_newer`.
///
/// # Safety
/// `snap` is NULL or a handle from `fanlog_snapshot_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_free(snap: *mut fanlog_snapshot) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<SnapshotInner>(snap.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

unsafe fn snap_ref<'a>(snap: *const fanlog_snapshot) -> Result<&'a SnapshotInner, fanlog_status> {
    // SAFETY: forwarded contract of the calling export.
    unsafe { handle::check::<SnapshotInner>(snap.cast::<Tagged<SnapshotInner>>()) }
}

/// Hands a blob and its version to C as a new reference handle.
///
/// # Safety
/// `out` is non-null and valid for writing a pointer.
unsafe fn give_ref(out: *mut *mut fanlog_snapshot_ref, data: Arc<[u8]>, version: u64) {
    let r = handle::new_handle(SnapshotRefInner { data, version });
    // SAFETY: per the caller's contract.
    unsafe { out.write(r.cast()) };
}

/// Replaces the blob with a copy of the `len` bytes at `data` (`data` may
/// be NULL if `len` is 0), as the next version, written to
/// `*out_version` (may be NULL). Readers holding references to older
/// versions keep them; `fanlog_snapshot_wait_newer` callers wake up.
///
/// Thread-safe; lock-free (concurrent stores retry, each gets its own
/// version). One allocation (the copy).
///
/// # Safety
/// `snap` is a live handle; `data` points to `len` readable bytes;
/// `out_version` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_store(
    snap: *const fanlog_snapshot,
    data: *const u8,
    len: usize,
    out_version: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { snap_ref(snap) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            // SAFETY: per the contract.
            let data = match unsafe { bytes(data, len) } {
                Ok(d) => d,
                Err(s) => return s,
            };
            let version = h.snap.store_bytes(data);
            // SAFETY: per the contract.
            unsafe { write_opt(out_version, version) };
            FANLOG_OK
        },
        || {},
    )
}

/// Writes the current version to `*out` (0 until the first store).
/// Thread-safe, lock-free, never blocks.
///
/// # Safety
/// `snap` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_version(
    snap: *const fanlog_snapshot,
    out: *mut u64,
) -> fanlog_status {
    // SAFETY: the handle and `out` per the contract.
    unsafe { fill_out(snap_ref(snap), out, |h| Ok(h.snap.version())) }
}

/// Takes a reference to the current blob and its version: `*out` receives
/// a handle the caller owns and must release with
/// `fanlog_snapshot_ref_release`; read it with `fanlog_snapshot_ref_data`.
/// Thread-safe, lock-free, never blocks; allocates the small handle only.
///
/// # Safety
/// `snap` is a live handle; `out` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_load(
    snap: *const fanlog_snapshot,
    out: *mut *mut fanlog_snapshot_ref,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { snap_ref(snap) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || {
            let (data, version) = h.snap.load_versioned();
            // SAFETY: non-null, writable per the contract.
            unsafe { give_ref(out, data, version) };
            FANLOG_OK
        },
        || {},
    )
}

/// Waits until the snapshot's version is greater than `version`, at most
/// `timeout_ns` (0 = don't wait, `FANLOG_WAIT_FOREVER`), then takes a
/// reference to the current blob as `fanlog_snapshot_load` does (its
/// version is then greater than `version`; intermediate versions may have
/// been skipped). Pass the version you hold to wait for the next change.
///
/// Returns `FANLOG_EMPTY` (timeout 0) or `FANLOG_TIMEOUT` when nothing
/// newer was stored in time (`*out` not written). Thread-safe; any number
/// of threads may wait. Blocks as described, with no lost wake-up (a store
/// between the check and the sleep is seen). **Not interruptible**: the
/// underlying `Snapshot::wait_newer` has no interrupt, so a thread that
/// must stay cancellable should wait in bounded slices (or on a store made
/// for the purpose), and the snapshot must not be freed while a thread
/// waits.
///
/// # Safety
/// `snap` is a live handle for the whole wait; `out` is NULL or valid for
/// writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_wait_newer(
    snap: *const fanlog_snapshot,
    version: u64,
    timeout_ns: u64,
    out: *mut *mut fanlog_snapshot_ref,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { snap_ref(snap) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || {
            let r = match timeout_ns {
                u64::MAX => h.snap.wait_newer_forever(version),
                ns => h.snap.wait_newer(version, Duration::from_nanos(ns)),
            };
            match r {
                Ok((data, v)) => {
                    // SAFETY: non-null, writable per the contract.
                    unsafe { give_ref(out, data, v) };
                    FANLOG_OK
                }
                Err(RecvError::Timeout) if timeout_ns == 0 => FANLOG_EMPTY,
                Err(e) => recv_status(&e).0,
            }
        },
        || {},
    )
}

/// Reads a reference: `*out_data` receives the blob's address (NULL when
/// it is empty), `*out_len` its length, `*out_version` its version; each
/// out pointer may be NULL. The bytes are valid and unchanged until
/// `fanlog_snapshot_ref_release(ref)`; do not write to them. Thread-safe,
/// never blocks.
///
/// # Safety
/// `snapshot_ref` is a live reference handle; the out pointers are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_ref_data(
    snapshot_ref: *const fanlog_snapshot_ref,
    out_data: *mut *const u8,
    out_len: *mut usize,
    out_version: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let r = match unsafe {
        handle::check::<SnapshotRefInner>(snapshot_ref.cast::<Tagged<SnapshotRefInner>>())
    } {
        Ok(r) => r,
        Err(s) => return s,
    };
    guard(
        || {
            let data = if r.data.is_empty() {
                std::ptr::null()
            } else {
                r.data.as_ptr()
            };
            // SAFETY: per the contract.
            unsafe {
                write_opt(out_data, data);
                write_opt(out_len, r.data.len());
                write_opt(out_version, r.version);
            }
            FANLOG_OK
        },
        || {},
    )
}

/// Releases a reference; the blob is freed once neither the snapshot (as
/// its current value) nor another reference holds it. Pointers read from
/// this reference become invalid. NULL (and an already released handle)
/// is ignored. Must not race with other calls on this reference.
///
/// # Safety
/// `snapshot_ref` is NULL or a handle from `fanlog_snapshot_load` or
/// `fanlog_snapshot_wait_newer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_snapshot_ref_release(snapshot_ref: *mut fanlog_snapshot_ref) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<SnapshotRefInner>(snapshot_ref.cast()) };
            FANLOG_OK
        },
        || {},
    );
}
