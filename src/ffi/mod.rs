//! The C ABI: `extern "C"` functions over the log, its producers and
//! cursors (and, as they land, the hub and snapshots). `include/fanlog.h` is
//! generated from these files by `build.rs` (cbindgen).
//!
//! Conventions, for every function:
//!
//! * Fallible functions return a [`fanlog_status`] (`FANLOG_OK` = 0).
//!   Out-parameters are written only on success, except where a function
//!   documents otherwise (`out_missed` on `FANLOG_LAGGED`, the needed size on
//!   `FANLOG_BUFFER_TOO_SMALL`, an append's `out_seq` / `out_first_seq` on
//!   `FANLOG_SYNC_FAILED`).
//! * Choices (policies, start positions) come from C as plain integers and
//!   are validated; a Rust enum is never read from C memory.
//! * Null pointers give `FANLOG_NULL_ARGUMENT`; a handle that was already
//!   freed is detected (tag check, freed handles are quarantined) and gives
//!   `FANLOG_INVALID_HANDLE` — best effort: very old freed handles may have
//!   been reused.
//! * No panic crosses the boundary: each body runs under `catch_unwind`; a
//!   caught panic returns `FANLOG_PANIC` and closes the object it happened in
//!   with an error status.
//! * No thread-local "last error": Go may call the next function from another
//!   OS thread.

#![allow(non_camel_case_types)]

pub mod handle;
pub mod hub;
pub mod log;
pub mod snapshot;
#[cfg(not(fanlog_loom))]
pub mod store;

use crate::error::{AppendError, RecvError};
use crate::wait::Deadline;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Version of the C ABI described by `include/fanlog.h`. A binding compares
/// it with what `fanlog_abi_version()` returns at run time.
pub const FANLOG_ABI_VERSION: u32 = 1;

/// Timeout value: do not wait at all.
pub const FANLOG_NO_WAIT: u64 = 0;
/// Timeout value: wait as long as it takes.
pub const FANLOG_WAIT_FOREVER: u64 = u64::MAX;

/// Status code returned by every fallible function. The values are fixed
/// and never reused.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fanlog_status {
    /// Success.
    FANLOG_OK = 0,
    // --- outcomes of reads and appends ---
    /// Nothing to read right now (non-blocking read), or: not closed yet.
    FANLOG_EMPTY = 1,
    /// The timeout passed.
    FANLOG_TIMEOUT = 2,
    /// The object is closed (appends), or drained after close (reads): read
    /// the close status with `fanlog_*_close_status`.
    FANLOG_CLOSED = 3,
    /// The reader fell behind; `*out_missed` holds how many records it
    /// missed. The next read continues at the oldest retained record.
    FANLOG_LAGGED = 4,
    /// No room (`FANLOG_OVERFLOW_REJECT`, or a zero timeout under
    /// `FANLOG_OVERFLOW_BLOCK`).
    FANLOG_FULL = 5,
    /// The record or batch is larger than the configured maximum.
    FANLOG_TOO_LARGE = 6,
    /// The caller's buffer is too small; the needed size was written.
    FANLOG_BUFFER_TOO_SMALL = 7,
    /// The wait was interrupted (`fanlog_*_interrupt`).
    FANLOG_INTERRUPTED = 8,
    /// `FANLOG_START_AT` named a sequence number no longer retained.
    FANLOG_EVICTED = 9,
    /// `FANLOG_START_AT` named a sequence number not yet appended.
    FANLOG_FUTURE = 10,
    /// Durable logs: the log was opened read-only.
    FANLOG_READ_ONLY = 11,
    /// Durable logs: a record (or file) is damaged on disk.
    FANLOG_CORRUPT = 12,
    /// Durable logs: another process (or another handle in this process)
    /// has the log open for writing.
    FANLOG_LOCKED = 13,
    /// The operation needs a durable log (one from `fanlog_log_open`).
    FANLOG_NOT_DURABLE = 14,
    /// Durable logs: the operation needs a named cursor
    /// (`fanlog_log_cursor_named`).
    FANLOG_NOT_NAMED = 15,
    /// Durable logs: a commit named a record the cursor has not read yet.
    FANLOG_NOT_READ = 16,
    /// Durable logs: a cursor of that name is open already in this process.
    FANLOG_CURSOR_IN_USE = 17,
    /// Durable logs: the directory does not hold a log this build can open
    /// as asked (not a fanlog log, another segment size, version).
    FANLOG_FORMAT = 18,
    // --- caller errors ---
    /// A required pointer argument was NULL.
    FANLOG_NULL_ARGUMENT = 20,
    /// An argument is out of range (policy, option, size...).
    FANLOG_INVALID_ARGUMENT = 21,
    /// The handle is not a live handle of the expected type (freed?).
    FANLOG_INVALID_HANDLE = 22,
    /// Another thread is using this cursor or subscription right now (they
    /// are single-consumer objects).
    FANLOG_BUSY = 23,
    // --- environment ---
    /// The operating system refused (memory, file descriptors).
    FANLOG_OS_ERROR = 30,
    /// Durable logs: a file operation failed (missing directory,
    /// permissions, no space left on device...). From an append: nothing
    /// was appended (the next segment file could not be made).
    FANLOG_IO_ERROR = 31,
    /// Durable logs with `FANLOG_SYNC_EVERY_BATCH`: the append **was made**
    /// (`*out_seq` / `*out_first_seq` holds its sequence number, and
    /// cursors read the records), but the `msync` that makes it durable
    /// failed. The log was closed with an error status (the errno as code;
    /// read it with `fanlog_log_close_status`). Do not append the records
    /// again: that would duplicate them.
    FANLOG_SYNC_FAILED = 32,
    /// A bug: a panic was caught at the boundary; the object was closed.
    FANLOG_PANIC = 99,
}

use fanlog_status::*;

/// A static, NUL-terminated description of a status code (unknown codes
/// included). Never NULL; do not free. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn fanlog_status_str(code: u32) -> *const c_char {
    let s: &'static str = match code {
        0 => "ok\0",
        1 => "empty: nothing to read right now (or not closed yet)\0",
        2 => "timed out\0",
        3 => "closed\0",
        4 => "lagged: the reader missed records that were dropped\0",
        5 => "full: no room in the byte budget\0",
        6 => "too large: record or batch exceeds the configured maximum\0",
        7 => "buffer too small\0",
        8 => "interrupted\0",
        9 => "evicted: the requested sequence number is no longer retained\0",
        10 => "future: the requested sequence number has not been appended yet\0",
        11 => "read-only: the log was opened read-only\0",
        12 => "corrupt: data on disk is damaged\0",
        13 => "locked: the log is open for writing elsewhere\0",
        14 => "not durable: the log was not opened from a directory\0",
        15 => "not named: the cursor has no name\0",
        16 => "not read: the cursor has not read that record yet\0",
        17 => "cursor in use: a cursor of that name is already open\0",
        18 => "format: not a fanlog log this build can open\0",
        20 => "null argument\0",
        21 => "invalid argument\0",
        22 => "invalid handle (already freed, or of another type)\0",
        23 => "busy: the object is in use by another thread\0",
        30 => "operating system error\0",
        31 => "I/O error: a file operation failed\0",
        32 => "sync failed: the records were appended, but not made durable; the log was closed\0",
        99 => "panic caught at the C boundary (bug); the object was closed\0",
        _ => "unknown status code\0",
    };
    s.as_ptr().cast()
}

/// Returns the ABI version of the linked library (`FANLOG_ABI_VERSION`).
///
/// Thread-safe, never blocks, never fails.
#[unsafe(no_mangle)]
pub extern "C" fn fanlog_abi_version() -> u32 {
    FANLOG_ABI_VERSION
}

/// Returns the library version as a static NUL-terminated string
/// (e.g. `"0.1.0"`). The pointer is valid for the life of the process; do
/// not free it.
///
/// Thread-safe, never blocks, never fails.
#[unsafe(no_mangle)]
pub extern "C" fn fanlog_version_string() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Runs `f`; a panic becomes `FANLOG_PANIC` after `on_panic` ran (which
/// closes the object concerned). `on_panic` itself must not panic; if it
/// does, that panic is swallowed too.
pub(crate) fn guard(f: impl FnOnce() -> fanlog_status, on_panic: impl FnOnce()) -> fanlog_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(s) => s,
        Err(_) => {
            let _ = catch_unwind(AssertUnwindSafe(on_panic));
            FANLOG_PANIC
        }
    }
}

/// The body of a getter export: the handle lookup's error status, or
/// `FANLOG_NULL_ARGUMENT` if `out` is NULL, else the value `f` makes from
/// the handle written to `*out` (or `f`'s error status, with `*out`
/// untouched), under [`guard`].
///
/// # Safety
/// `out` is NULL or writable for one `T`.
pub(crate) unsafe fn fill_out<H, T>(
    handle: Result<&H, fanlog_status>,
    out: *mut T,
    f: impl FnOnce(&H) -> Result<T, fanlog_status>,
) -> fanlog_status {
    let h = match handle {
        Ok(h) => h,
        Err(s) => return s,
    };
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || match f(h) {
            Ok(v) => {
                // SAFETY: non-null (checked), writable per the contract.
                unsafe { out.write(v) };
                FANLOG_OK
            }
            Err(s) => s,
        },
        || {},
    )
}

/// `?`-style helper: the status of a `Result<(), fanlog_status>`.
pub(crate) fn status(r: Result<(), fanlog_status>) -> fanlog_status {
    match r {
        Ok(()) => FANLOG_OK,
        Err(s) => s,
    }
}

/// A C timeout (ns; 0 = no wait, `UINT64_MAX` = forever) as a deadline.
pub(crate) fn deadline(timeout_ns: u64) -> Deadline {
    match timeout_ns {
        0 => Deadline::Now,
        u64::MAX => Deadline::Never,
        ns => Deadline::after(Duration::from_nanos(ns)),
    }
}

/// The status for an append error.
pub(crate) fn append_status(e: &AppendError) -> fanlog_status {
    match e {
        AppendError::Closed(_) => FANLOG_CLOSED,
        AppendError::TooLarge { .. } => FANLOG_TOO_LARGE,
        AppendError::Full => FANLOG_FULL,
        AppendError::Timeout => FANLOG_TIMEOUT,
        AppendError::Interrupted => FANLOG_INTERRUPTED,
        AppendError::ReadOnly => FANLOG_READ_ONLY,
        AppendError::Io(_) => FANLOG_IO_ERROR,
        AppendError::SyncFailed { .. } => FANLOG_SYNC_FAILED,
    }
}

/// The status of an append's result, writing the sequence number to
/// `out_seq` (if not NULL) when the records were appended: on success, and
/// on `FANLOG_SYNC_FAILED`.
///
/// # Safety
/// `out_seq` is NULL or valid for a write.
pub(crate) unsafe fn append_result(
    r: Result<u64, AppendError>,
    out_seq: *mut u64,
) -> fanlog_status {
    let (seq, st) = match r {
        Ok(seq) => (seq, FANLOG_OK),
        Err(AppendError::SyncFailed { first_seq, .. }) => (first_seq, FANLOG_SYNC_FAILED),
        Err(e) => return append_status(&e),
    };
    // SAFETY: the caller's contract.
    unsafe { write_opt(out_seq, seq) };
    st
}

/// The status for a read error, and the missed count for `Lagged`.
pub(crate) fn recv_status(e: &RecvError) -> (fanlog_status, u64) {
    match e {
        RecvError::Empty => (FANLOG_EMPTY, 0),
        RecvError::Timeout => (FANLOG_TIMEOUT, 0),
        RecvError::Interrupted => (FANLOG_INTERRUPTED, 0),
        RecvError::Lagged { missed } => (FANLOG_LAGGED, *missed),
        RecvError::Closed(_) => (FANLOG_CLOSED, 0),
        RecvError::Corrupt { seq, .. } => (FANLOG_CORRUPT, *seq),
    }
}

/// Borrows `len` bytes at `data` (NULL allowed when `len` is 0).
///
/// # Safety
/// If `len > 0`, `data` must point to `len` readable bytes that stay valid
/// and unmodified for `'a`.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize) -> Result<&'a [u8], fanlog_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(FANLOG_NULL_ARGUMENT);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Writes `value` to `out` if it is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-null and valid per the caller.
        unsafe { out.write(value) };
    }
}

/// Copies a close status out: `*out_code`, and the message NUL-terminated
/// into `buf` (capacity `cap`); `*out_len` gets the message length without
/// the NUL (written also on `FANLOG_BUFFER_TOO_SMALL`).
///
/// # Safety
/// Pointers are NULL or valid for writes (`buf` for `cap` bytes).
pub(crate) unsafe fn copy_status(
    status: &crate::CloseStatus,
    out_code: *mut i32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: caller's contract.
    match unsafe { copy_str(status.message(), buf, cap, out_len) } {
        FANLOG_OK => {}
        s => return s,
    }
    // SAFETY: caller's contract.
    unsafe { write_opt(out_code, status.code()) };
    FANLOG_OK
}

/// Copies `msg` NUL-terminated into `buf` (capacity `cap`; NULL with `cap`
/// 0 asks only the length); `*out_len` (NULL allowed) gets its length
/// without the NUL, also on `FANLOG_BUFFER_TOO_SMALL`.
///
/// # Safety
/// Pointers are NULL or valid for writes (`buf` for `cap` bytes).
pub(crate) unsafe fn copy_str(
    msg: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    let msg = msg.as_bytes();
    if buf.is_null() && cap > 0 {
        return FANLOG_NULL_ARGUMENT; // before any write: a failed call writes nothing
    }
    // SAFETY: caller's contract.
    unsafe { write_opt(out_len, msg.len()) };
    if !buf.is_null() {
        if cap < msg.len() + 1 {
            return FANLOG_BUFFER_TOO_SMALL;
        }
        // SAFETY: `buf` has room for `msg.len() + 1` bytes (checked).
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), msg.len());
            *buf.add(msg.len()) = 0;
        }
    }
    FANLOG_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An append that was made writes its sequence number even when its
    /// sync failed; one that was not made leaves `*out_seq` alone.
    #[test]
    fn append_result_writes_the_seq_of_appended_records_only() {
        let mut seq = u64::MAX;
        // SAFETY: `&mut seq` is valid for a write.
        let st = unsafe { append_result(Ok(7), &mut seq) };
        assert_eq!((st, seq), (FANLOG_OK, 7));
        let failed = AppendError::SyncFailed {
            first_seq: 9,
            message: "msync failed".into(),
        };
        // SAFETY: as above.
        let st = unsafe { append_result(Err(failed), &mut seq) };
        assert_eq!((st, seq), (FANLOG_SYNC_FAILED, 9));
        seq = u64::MAX;
        for e in [
            AppendError::Io("no space".into()),
            AppendError::Full,
            AppendError::TooLarge { len: 2, max: 1 },
        ] {
            // SAFETY: as above.
            let st = unsafe { append_result(Err(e.clone()), &mut seq) };
            assert_eq!((st, seq), (append_status(&e), u64::MAX));
        }
        // SAFETY: NULL is allowed.
        let st = unsafe { append_result(Ok(1), std::ptr::null_mut()) };
        assert_eq!(st, FANLOG_OK);
    }

    /// Every append export reports a failed `EveryBatch` sync as
    /// `FANLOG_SYNC_FAILED` with the sequence number written, through the
    /// real path (a durable log whose msync is made to fail).
    #[test]
    #[cfg(not(any(miri, fanlog_loom)))]
    fn every_append_export_reports_a_failed_sync_with_its_seq() {
        use crate::log::producer::test_hooks::FAIL_SYNC;
        use log::*;
        use store::*;
        type Append = fn(*const fanlog_log, *mut fanlog_producer, *mut u64) -> fanlog_status;
        const ONE: fanlog_slice = fanlog_slice {
            data: b"r".as_ptr(),
            len: 1,
        };
        // Each case is called with live handles and a writable `out`.
        let cases: [(&str, Append); 4] = [
            ("log_append", |l, _, out| {
                // SAFETY: live handle, 1 readable byte, `out` writable.
                unsafe { fanlog_log_append(l, 0, b"r".as_ptr(), 1, FANLOG_WAIT_FOREVER, out) }
            }),
            ("log_append_batch", |l, _, out| {
                let recs = [ONE, ONE];
                // SAFETY: live handle, 2 slices of readable bytes, `out` writable.
                unsafe { fanlog_log_append_batch(l, 0, recs.as_ptr(), 2, FANLOG_WAIT_FOREVER, out) }
            }),
            ("producer_append", |_, p, out| {
                // SAFETY: as for log_append, through a live producer.
                unsafe { fanlog_producer_append(p, 0, b"r".as_ptr(), 1, FANLOG_WAIT_FOREVER, out) }
            }),
            ("producer_append_batch", |_, p, out| {
                let recs = [ONE, ONE];
                // SAFETY: as for log_append_batch, through a live producer.
                unsafe {
                    fanlog_producer_append_batch(p, 0, recs.as_ptr(), 2, FANLOG_WAIT_FOREVER, out)
                }
            }),
        ];
        for (name, append) in cases {
            let dir = std::env::temp_dir().join(format!(
                "fanlog-unit-{}-ffi-syncfail-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let cdir = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
            let mut o = std::mem::MaybeUninit::<fanlog_open_options>::uninit();
            // SAFETY: `o` is writable; it is initialised by the call.
            let mut o = unsafe {
                assert_eq!(fanlog_open_options_init(o.as_mut_ptr()), FANLOG_OK);
                o.assume_init()
            };
            o.segment_size = 4096;
            o.max_bytes = 1 << 20;
            o.sync = FANLOG_SYNC_EVERY_BATCH;
            let mut l: *mut fanlog_log = std::ptr::null_mut();
            let mut p: *mut fanlog_producer = std::ptr::null_mut();
            // SAFETY: valid pointers; no error buffer.
            unsafe {
                let st = fanlog_log_open(cdir.as_ptr(), &o, &mut l, std::ptr::null_mut(), 0);
                assert_eq!(st, FANLOG_OK, "{name}: open");
                assert_eq!(fanlog_producer_new(l, &mut p), FANLOG_OK);
            }
            let mut seq = u64::MAX;
            assert_eq!(append(l, p, &mut seq), FANLOG_OK, "{name}: first append");
            assert_eq!(seq, 0);
            FAIL_SYNC.with(|f| f.set(Some(libc::EIO)));
            let st = append(l, p, &mut seq);
            FAIL_SYNC.with(|f| f.set(None));
            let first = if name.ends_with("batch") { 2 } else { 1 };
            assert_eq!((st, seq), (FANLOG_SYNC_FAILED, first), "{name}");
            seq = u64::MAX;
            assert_eq!(append(l, p, &mut seq), FANLOG_CLOSED, "{name}: after");
            assert_eq!(seq, u64::MAX, "{name}: nothing appended, nothing written");
            // SAFETY: handles from above, freed once.
            unsafe {
                fanlog_producer_free(p);
                fanlog_log_free(l);
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
