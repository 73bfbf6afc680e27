//! C ABI over the durable log: `fanlog_log_open` and its options, flush,
//! the recovery report, named cursors and their commits, and the detail of
//! a damaged record.
//!
//! A durable log is an ordinary `fanlog_log` handle: every `fanlog_log_*`,
//! `fanlog_producer_*` and `fanlog_cursor_*` function works on it. The
//! functions here add what only durable logs have; on a log from
//! `fanlog_log_new` they return `FANLOG_NOT_DURABLE`.
//!
//! Errors of `fanlog_log_open` come with a message in a caller buffer
//! (there is no thread-local "last error"): the file and byte offset for
//! `FANLOG_CORRUPT`, the lock file for `FANLOG_LOCKED`, the path and system
//! error for `FANLOG_IO_ERROR`. A read that meets a damaged record returns
//! `FANLOG_CORRUPT`; `fanlog_cursor_corruption` then gives its sequence
//! number and the same kind of message.

use super::fanlog_status::{self, *};
use super::handle::{self, Tagged};
use super::log::{
    fanlog_cursor, fanlog_log, log_ref, new_cursor_handle, new_log_handle, overflow_from,
    start_from, timestamps_from, wait_from, with_cursor, CursorInner, FANLOG_OVERFLOW_BLOCK,
    FANLOG_TIMESTAMPS_COARSE, FANLOG_WAIT_SPIN_THEN_PARK,
};
use super::{copy_str, fill_out, guard, status, write_opt};
use crate::{Log, OpenOptions, StartError, StoreError, SyncPolicy, Verify};
use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// Sync policy: never on its own; `fanlog_log_flush` syncs on demand.
/// Survives process crashes (default).
pub const FANLOG_SYNC_NONE: u32 = 0;
/// Sync policy: a background thread flushes every `sync_interval_ns`.
pub const FANLOG_SYNC_INTERVAL: u32 = 1;
/// Sync policy: every append (and batch) is on disk before it returns
/// `FANLOG_OK`. If the `msync` fails, the append returns
/// `FANLOG_SYNC_FAILED` (the records were appended; their sequence number
/// is written) and the log is closed with the errno.
pub const FANLOG_SYNC_EVERY_BATCH: u32 = 2;

/// Recovery check: scan frames from the last checkpoint (fast open);
/// older frames are CRC-checked when a cursor reads them (default).
pub const FANLOG_VERIFY_FROM_CHECKPOINT: u32 = 0;
/// Recovery check: scan and CRC-check every frame of every segment.
pub const FANLOG_VERIFY_ALL: u32 = 1;

/// `fanlog_log_recovery_text`: the file where a torn tail was cut.
pub const FANLOG_RECOVERY_TRUNCATED_PATH: u32 = 0;
/// `fanlog_log_recovery_text`: read-only opens: the corruption found
/// before the checkpoint (file and offset in the text).
pub const FANLOG_RECOVERY_CORRUPTION: u32 = 1;

/// Options of `fanlog_log_open`. Always initialize with
/// `fanlog_open_options_init`, then change fields. Every choice is a plain
/// integer, validated by `fanlog_log_open` (`FANLOG_INVALID_ARGUMENT` and a
/// message for a bad one).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_open_options {
    /// Bytes of frames per segment file: a power of two from 256 B to
    /// 128 MiB. 0 (default): the existing log's size, or 1 MiB for a new
    /// log. A non-zero size that differs from an existing log's is an error.
    pub segment_size: usize,
    /// Byte budget of segment files, at least two segments. 0 (default):
    /// 64 segments.
    pub max_bytes: usize,
    /// History kept when no cursor needs it, in bytes, at most `max_bytes`.
    /// `SIZE_MAX` (default): as much as `max_bytes`.
    pub retain_bytes: usize,
    /// Largest payload, at most `segment_size - 32`; 0 (default) means that
    /// maximum.
    pub max_record_size: usize,
    /// `FANLOG_OVERFLOW_*` (default `FANLOG_OVERFLOW_BLOCK`). Read-only
    /// opens always drop the oldest segment (the writer decides retention).
    pub overflow: u32,
    /// `FANLOG_WAIT_*` (default `FANLOG_WAIT_SPIN_THEN_PARK`).
    pub wait_strategy: u32,
    /// `FANLOG_TIMESTAMPS_*` (default `FANLOG_TIMESTAMPS_COARSE`).
    pub timestamps: u32,
    /// `FANLOG_SYNC_*` (default `FANLOG_SYNC_NONE`).
    pub sync: u32,
    /// With `FANLOG_SYNC_INTERVAL`: the flush interval in ns (must be
    /// non-zero then; ignored otherwise; default 0).
    pub sync_interval_ns: u64,
    /// `FANLOG_VERIFY_*` (default `FANLOG_VERIFY_FROM_CHECKPOINT`).
    pub verify: u32,
    /// 1: open read-only, to tail a log another handle or process writes
    /// (appends fail with `FANLOG_READ_ONLY`); 0 (default): open for
    /// writing (one writer per directory). Other values are invalid.
    pub read_only: u32,
    /// 1 (default): create the directory and an empty log if missing
    /// (ignored for read-only opens); 0: fail instead. Other values are
    /// invalid.
    pub create: u32,
    /// Delete sealed segments older than this (ns), even if named cursors
    /// have not committed them; 0 (default): no age limit.
    pub max_age_ns: u64,
    /// Read-only opens: how often to look for the writer's progress, in ns
    /// (default 1 ms; values below 10 µs are raised to 10 µs).
    pub poll_interval_ns: u64,
}

/// What recovery found when a durable log was opened (see
/// `fanlog_log_recovery`). Texts (the truncated file, corruption found by
/// a read-only open) are read with `fanlog_log_recovery_text`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_recovery {
    /// Oldest sequence number retained.
    pub first_seq: u64,
    /// Next sequence number to be appended.
    pub next_seq: u64,
    /// The sequence number of the checkpoint the scan started from (valid
    /// when `has_checkpoint` is 1).
    pub checkpoint_seq: u64,
    /// Frames scanned and CRC-checked.
    pub scanned_records: u64,
    /// Bytes of frames scanned.
    pub scanned_bytes: u64,
    /// Committed-looking frames cut with a torn tail.
    pub dropped_records: u64,
    /// Bytes cut with a torn tail (frames and partial writes).
    pub dropped_bytes: u64,
    /// Byte offset in the truncated file where the torn tail was cut
    /// (valid when `truncated` is 1).
    pub truncated_offset: u64,
    /// How long recovery took, in ns.
    pub elapsed_ns: u64,
    /// Segment files kept.
    pub segments: usize,
    /// 1 if the scan started from a checkpoint.
    pub has_checkpoint: u32,
    /// 1 if a torn tail was cut (see `FANLOG_RECOVERY_TRUNCATED_PATH`).
    pub truncated: u32,
    /// 1 if a read-only open found corruption before the checkpoint (see
    /// `FANLOG_RECOVERY_CORRUPTION`); cursors get `FANLOG_CORRUPT` there.
    pub corrupt: u32,
}

fn defaults() -> fanlog_open_options {
    fanlog_open_options {
        segment_size: 0,
        max_bytes: 0,
        retain_bytes: usize::MAX,
        max_record_size: 0,
        overflow: FANLOG_OVERFLOW_BLOCK,
        wait_strategy: FANLOG_WAIT_SPIN_THEN_PARK,
        timestamps: FANLOG_TIMESTAMPS_COARSE,
        sync: FANLOG_SYNC_NONE,
        sync_interval_ns: 0,
        verify: FANLOG_VERIFY_FROM_CHECKPOINT,
        read_only: 0,
        create: 1,
        max_age_ns: 0,
        poll_interval_ns: 1_000_000,
    }
}

/// Fills `*out` with the default options of `fanlog_log_open` (see each
/// field of `fanlog_open_options`).
///
/// Returns `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe, never
/// blocks.
///
/// # Safety
/// `out` is NULL or valid for writing one `fanlog_open_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_open_options_init(out: *mut fanlog_open_options) -> fanlog_status {
    guard(
        || {
            if out.is_null() {
                return FANLOG_NULL_ARGUMENT;
            }
            // SAFETY: non-null and valid per the contract.
            unsafe { out.write(defaults()) };
            FANLOG_OK
        },
        || {},
    )
}

/// A rejected option: the status and what is wrong.
type Rejected = (fanlog_status, String);

fn invalid(what: impl Into<String>) -> Rejected {
    (FANLOG_INVALID_ARGUMENT, what.into())
}

fn flag(name: &str, v: u32) -> Result<bool, Rejected> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(invalid(format!("{name} must be 0 or 1, got {v}"))),
    }
}

/// The Rust options for C options.
fn open_options_from(o: &fanlog_open_options) -> Result<OpenOptions, Rejected> {
    let overflow = overflow_from(o.overflow)
        .ok_or_else(|| invalid(format!("unknown overflow policy {}", o.overflow)))?;
    let wait = wait_from(o.wait_strategy)
        .ok_or_else(|| invalid(format!("unknown wait strategy {}", o.wait_strategy)))?;
    let timestamps = timestamps_from(o.timestamps)
        .ok_or_else(|| invalid(format!("unknown timestamps setting {}", o.timestamps)))?;
    let sync = match o.sync {
        FANLOG_SYNC_NONE => SyncPolicy::None,
        FANLOG_SYNC_INTERVAL if o.sync_interval_ns == 0 => {
            return Err(invalid(
                "FANLOG_SYNC_INTERVAL needs a non-zero sync_interval_ns",
            ))
        }
        FANLOG_SYNC_INTERVAL => SyncPolicy::Interval(Duration::from_nanos(o.sync_interval_ns)),
        FANLOG_SYNC_EVERY_BATCH => SyncPolicy::EveryBatch,
        v => return Err(invalid(format!("unknown sync policy {v}"))),
    };
    let verify = match o.verify {
        FANLOG_VERIFY_FROM_CHECKPOINT => Verify::FromCheckpoint,
        FANLOG_VERIFY_ALL => Verify::All,
        v => return Err(invalid(format!("unknown verify mode {v}"))),
    };
    let mut opts = OpenOptions::new()
        .overflow(overflow)
        .wait_strategy(wait)
        .timestamps(timestamps)
        .sync(sync)
        .verify(verify)
        .read_only(flag("read_only", o.read_only)?)
        .create(flag("create", o.create)?)
        .max_age((o.max_age_ns != 0).then(|| Duration::from_nanos(o.max_age_ns)))
        .poll_interval(Duration::from_nanos(o.poll_interval_ns));
    if o.segment_size != 0 {
        opts = opts.segment_size(o.segment_size);
    }
    if o.max_bytes != 0 {
        opts = opts.max_bytes(o.max_bytes);
    }
    if o.retain_bytes != usize::MAX {
        opts = opts.retain_bytes(o.retain_bytes);
    }
    if o.max_record_size != 0 {
        opts = opts.max_record_size(o.max_record_size);
    }
    Ok(opts)
}

/// The status for a store error.
pub(crate) fn store_status(e: &StoreError) -> fanlog_status {
    match e {
        StoreError::Io { .. } => FANLOG_IO_ERROR,
        StoreError::Locked { .. } => FANLOG_LOCKED,
        StoreError::Corrupt { .. } => FANLOG_CORRUPT,
        StoreError::Format { .. } => FANLOG_FORMAT,
        StoreError::Config(_) | StoreError::InvalidName(_) => FANLOG_INVALID_ARGUMENT,
        StoreError::NotDurable => FANLOG_NOT_DURABLE,
        StoreError::ReadOnly => FANLOG_READ_ONLY,
        StoreError::CursorInUse(_) => FANLOG_CURSOR_IN_USE,
        StoreError::NotNamed => FANLOG_NOT_NAMED,
        StoreError::NotRead { .. } => FANLOG_NOT_READ,
        StoreError::Start(StartError::Evicted { .. }) => FANLOG_EVICTED,
        StoreError::Start(StartError::Future { .. }) => FANLOG_FUTURE,
    }
}

/// Copies as much of `msg` as fits into `buf` (capacity `cap`), always
/// NUL-terminated, cut at a character boundary. Nothing if `buf` is NULL or
/// `cap` is 0.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` bytes.
unsafe fn copy_truncated(msg: &str, buf: *mut c_char, cap: usize) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let mut n = msg.len().min(cap - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `n + 1 <= cap` bytes, writable per the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
}

/// A NUL-terminated C string argument as a `&str` (cursor names).
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn name_arg<'a>(s: *const c_char) -> Result<&'a str, fanlog_status> {
    if s.is_null() {
        return Err(FANLOG_NULL_ARGUMENT);
    }
    // SAFETY: non-null and NUL-terminated per the contract.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| FANLOG_INVALID_ARGUMENT)
}

/// Opens (or creates) the durable log in directory `dir`: segments are
/// preallocated files mapped with `MAP_SHARED`, recovered on open (see
/// `fanlog_log_recovery`). `options` may be NULL for the defaults (see
/// `fanlog_open_options_init`). On success `*out` receives a log handle the
/// caller owns; every `fanlog_log_*` function works on it, and it is
/// released with `fanlog_log_free`. Freeing it without `fanlog_log_close`
/// leaves the log open for the next open, as after a crash (nothing is
/// lost: see `fanlog_log_flush`); the directory stays locked for writing
/// until the handle and every producer and cursor of it are freed, and the
/// last of those frees unlocks it before it returns (its background thread
/// stopped, a last sync under a sync policy, the spare file deleted).
///
/// `err` (may be NULL) receives, only when the call fails, a NUL-terminated
/// message of at most `err_cap` bytes (cut to fit) saying what is wrong:
/// the file and byte offset for `FANLOG_CORRUPT`, the lock file for
/// `FANLOG_LOCKED`, the path and system error for `FANLOG_IO_ERROR`, the
/// option for `FANLOG_INVALID_ARGUMENT`. 512 bytes plus the length of `dir`
/// is always enough.
///
/// Returns `FANLOG_NULL_ARGUMENT` (`dir` or `out` NULL),
/// `FANLOG_INVALID_ARGUMENT` (bad option, empty `dir`), `FANLOG_LOCKED`
/// (another handle or process has it open for writing), `FANLOG_CORRUPT`
/// (synced data is damaged; open read-only to read the records before it),
/// `FANLOG_FORMAT` (not a fanlog log, or another segment size than asked),
/// `FANLOG_IO_ERROR` (missing directory with `create` 0, permissions, no
/// space). Thread-safe; blocks for the file system work of recovery.
///
/// # Safety
/// `dir` is NULL or a NUL-terminated path; `options` is NULL or points to
/// a valid `fanlog_open_options`; `out` is NULL or valid for writing a
/// pointer; `err` is NULL or valid for writing `err_cap` bytes. None is
/// kept after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_open(
    dir: *const c_char,
    options: *const fanlog_open_options,
    out: *mut *mut fanlog_log,
    err: *mut c_char,
    err_cap: usize,
) -> fanlog_status {
    let r = guard(
        || {
            let result = (|| -> Result<(), Rejected> {
                if dir.is_null() {
                    return Err((FANLOG_NULL_ARGUMENT, "dir is NULL".into()));
                }
                if out.is_null() {
                    return Err((FANLOG_NULL_ARGUMENT, "out is NULL".into()));
                }
                // SAFETY: non-null and NUL-terminated per the contract.
                let path = OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes());
                if path.is_empty() {
                    return Err(invalid("dir is empty"));
                }
                let opts = if options.is_null() {
                    OpenOptions::new()
                } else {
                    // SAFETY: non-null and valid per the contract.
                    open_options_from(unsafe { &*options })?
                };
                let log = Log::open(path, &opts).map_err(|e| (store_status(&e), e.to_string()))?;
                // SAFETY: non-null and valid per the contract.
                unsafe { out.write(new_log_handle(log)) };
                Ok(())
            })();
            match result {
                Ok(()) => FANLOG_OK,
                Err((s, msg)) => {
                    // SAFETY: per the contract.
                    unsafe { copy_truncated(&msg, err, err_cap) };
                    s
                }
            }
        },
        || {},
    );
    if r == FANLOG_PANIC {
        // SAFETY: per the contract.
        unsafe { copy_truncated("fanlog: panic caught at the C boundary", err, err_cap) };
    }
    r
}

/// Returns once every record appended to `log` before the call is on disk
/// (`msync` of the written pages, `fsync` of the directory for new files
/// and of the named cursors' files, then a checkpoint that makes the next
/// open fast).
///
/// Returns `FANLOG_NOT_DURABLE` (not from `fanlog_log_open`),
/// `FANLOG_READ_ONLY`, `FANLOG_IO_ERROR`. Thread-safe (concurrent flushes
/// are serialized); blocks for the disk writes.
///
/// # Safety
/// `log` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_flush(log: *const fanlog_log) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || match h.log.flush() {
            Ok(()) => FANLOG_OK,
            Err(e) => store_status(&e),
        },
        || {},
    )
}

/// Fills `*out` with what recovery found when the durable `log` was opened.
///
/// Returns `FANLOG_NOT_DURABLE` for a log from `fanlog_log_new`,
/// `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe, never blocks.
///
/// # Safety
/// `log` is a live handle; `out` is NULL or valid for writing one
/// `fanlog_recovery`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_recovery(
    log: *const fanlog_log,
    out: *mut fanlog_recovery,
) -> fanlog_status {
    // SAFETY: the handle and `out` per the contract.
    unsafe {
        fill_out(log_ref(log), out, |h| {
            let r = h.log.recovery().ok_or(FANLOG_NOT_DURABLE)?;
            Ok(fanlog_recovery {
                first_seq: r.first_seq,
                next_seq: r.next_seq,
                checkpoint_seq: r.checkpoint_seq.unwrap_or(0),
                scanned_records: r.scanned_records,
                scanned_bytes: r.scanned_bytes,
                dropped_records: r.dropped_records,
                dropped_bytes: r.dropped_bytes,
                truncated_offset: r.truncated_at.as_ref().map_or(0, |t| t.1),
                elapsed_ns: r.elapsed.as_nanos().min(u64::MAX as u128) as u64,
                segments: r.segments,
                has_checkpoint: r.checkpoint_seq.is_some() as u32,
                truncated: r.truncated_at.is_some() as u32,
                corrupt: r.corruption.is_some() as u32,
            })
        })
    }
}

/// Copies a text of the recovery report, NUL-terminated, into `buf` of
/// `cap` bytes: `what` is `FANLOG_RECOVERY_TRUNCATED_PATH` (the file where
/// a torn tail was cut) or `FANLOG_RECOVERY_CORRUPTION` (corruption a
/// read-only open found). `buf` may be NULL with `cap` 0 to ask only the
/// length. `*out_len` (may be NULL) receives the length without the NUL,
/// also when `FANLOG_BUFFER_TOO_SMALL` is returned.
///
/// Returns `FANLOG_EMPTY` if there is no such text (nothing was cut, no
/// corruption), `FANLOG_NOT_DURABLE`, `FANLOG_INVALID_ARGUMENT` for an
/// unknown `what`. Thread-safe, never blocks.
///
/// # Safety
/// `log` is a live handle; `buf` is NULL or writable for `cap` bytes;
/// `out_len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_recovery_text(
    log: *const fanlog_log,
    what: u32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            let Some(r) = h.log.recovery() else {
                return FANLOG_NOT_DURABLE;
            };
            let text = match what {
                FANLOG_RECOVERY_TRUNCATED_PATH => r
                    .truncated_at
                    .map(|(p, _)| p.to_string_lossy().into_owned()),
                FANLOG_RECOVERY_CORRUPTION => r.corruption,
                _ => return FANLOG_INVALID_ARGUMENT,
            };
            match text {
                // SAFETY: per the contract.
                Some(t) => unsafe { copy_str(&t, buf, cap, out_len) },
                None => FANLOG_EMPTY,
            }
        },
        || {},
    )
}

/// Creates a named cursor on the durable `log`: it resumes from the
/// position last committed under `name` (by this or an earlier run; see
/// `fanlog_cursor_commit`). `start` and `seq` (as for `fanlog_cursor_new`)
/// apply only when `name` is new (then that start is committed at once,
/// so the name holds retention from there). If the committed position
/// was deleted by retention meanwhile, the first read returns
/// `FANLOG_LAGGED` with the records missed. `*out` receives a cursor handle
/// the caller owns (release with `fanlog_cursor_free`); every
/// `fanlog_cursor_*` function works on it. Retention keeps what a named
/// cursor has not committed, also while no cursor of that name is open.
///
/// `name` is 1-128 characters of `[A-Za-z0-9._-]`, not starting with `.`
/// (copied; not kept).
///
/// Returns `FANLOG_INVALID_ARGUMENT` (bad name or `start`),
/// `FANLOG_CURSOR_IN_USE` (a cursor of this name is open in this process),
/// `FANLOG_EVICTED` / `FANLOG_FUTURE` (as for `fanlog_cursor_new`),
/// `FANLOG_NOT_DURABLE`, `FANLOG_IO_ERROR`. Thread-safe.
///
/// # Safety
/// `log` is a live handle; `name` is NULL or a NUL-terminated string; `out`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_cursor_named(
    log: *const fanlog_log,
    name: *const c_char,
    start: u32,
    seq: u64,
    out: *mut *mut fanlog_cursor,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || {
            status((|| {
                // SAFETY: per the contract.
                let name = unsafe { name_arg(name) }?;
                let start = start_from(start, seq).ok_or(FANLOG_INVALID_ARGUMENT)?;
                let cursor = h
                    .log
                    .cursor_named(name, start)
                    .map_err(|e| store_status(&e))?;
                // SAFETY: non-null, writable.
                unsafe { out.write(new_cursor_handle(&h.log, cursor)) };
                Ok(())
            })())
        },
        || {},
    )
}

/// Deletes the named cursor `name` of the durable `log`: its committed
/// position is forgotten and no longer holds retention. `*out_removed`
/// (may be NULL) receives `true` if it existed, `false` if there was none
/// (which is not an error).
///
/// Returns `FANLOG_CURSOR_IN_USE` (a cursor of this name is open),
/// `FANLOG_INVALID_ARGUMENT` (bad name), `FANLOG_NOT_DURABLE`,
/// `FANLOG_IO_ERROR`. Thread-safe.
///
/// # Safety
/// `log` is a live handle; `name` is NULL or a NUL-terminated string;
/// `out_removed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_remove_cursor(
    log: *const fanlog_log,
    name: *const c_char,
    out_removed: *mut bool,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            status((|| {
                // SAFETY: per the contract.
                let name = unsafe { name_arg(name) }?;
                let existed = h.log.remove_cursor(name).map_err(|e| store_status(&e))?;
                // SAFETY: per the contract.
                unsafe { write_opt(out_removed, existed) };
                Ok(())
            })())
        },
        || {},
    )
}

/// Named cursors: records that everything up to and including `seq` is
/// processed; a cursor opened later under the same name resumes at
/// `seq + 1`. One store into a shared mapping: it survives a crash of the
/// process at once, and power loss after the next `fanlog_log_flush` (or
/// sync interval). Committing backwards is allowed.
///
/// Returns `FANLOG_NOT_NAMED` (a cursor from `fanlog_cursor_new`),
/// `FANLOG_NOT_READ` (`seq` is at or past the cursor's position: it was
/// not returned yet), `FANLOG_BUSY`. Single-consumer (like reads); never
/// blocks. Record pointers returned by earlier reads stay valid.
///
/// # Safety
/// `cursor` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_commit(
    cursor: *const fanlog_cursor,
    seq: u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| match c.commit(seq) {
            Ok(()) => FANLOG_OK,
            Err(e) => store_status(&e),
        })
    }
}

/// Named cursors: commits every record returned so far (up to the
/// cursor's position - 1), as `fanlog_cursor_commit`.
///
/// Returns `FANLOG_NOT_NAMED`, `FANLOG_BUSY`. Single-consumer; never
/// blocks.
///
/// # Safety
/// `cursor` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_commit_position(
    cursor: *const fanlog_cursor,
) -> fanlog_status {
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| match c.commit_position() {
            Ok(()) => FANLOG_OK,
            Err(e) => store_status(&e),
        })
    }
}

/// Named cursors: writes to `*out` the committed position (the next
/// sequence number a cursor opened under this name would read).
///
/// A new name commits its start position when its first cursor opens (so
/// that a consumer that dies before its first commit loses nothing).
///
/// Returns `FANLOG_EMPTY` if nothing is committed under this name,
/// `FANLOG_NOT_NAMED`, `FANLOG_NULL_ARGUMENT`, `FANLOG_BUSY`.
/// Single-consumer; never blocks.
///
/// # Safety
/// `cursor` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_committed(
    cursor: *const fanlog_cursor,
    out: *mut u64,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| {
            if c.name().is_none() {
                return FANLOG_NOT_NAMED;
            }
            match c.committed() {
                Some(next) => {
                    // SAFETY: non-null and writable per the contract.
                    out.write(next);
                    FANLOG_OK
                }
                None => FANLOG_EMPTY,
            }
        })
    }
}

/// Named cursors: turns automatic commits on (`on` true) or off (the
/// default). With them on, each read first commits every record returned
/// by earlier reads, and `fanlog_cursor_free` commits everything returned:
/// at-least-once delivery, a record is committed once you ask for the next
/// one.
///
/// Returns `FANLOG_NOT_NAMED`, `FANLOG_BUSY`. Single-consumer; never
/// blocks.
///
/// # Safety
/// `cursor` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_set_auto_commit(
    cursor: *const fanlog_cursor,
    on: bool,
) -> fanlog_status {
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| {
            if c.name().is_none() {
                return FANLOG_NOT_NAMED;
            }
            c.set_auto_commit(on);
            FANLOG_OK
        })
    }
}

/// Describes the damaged record behind the most recent `FANLOG_CORRUPT`
/// this cursor's reads returned: `*out_seq` (may be NULL) receives its
/// sequence number (every record before it was delivered; the cursor stays
/// there, so reads keep returning `FANLOG_CORRUPT`), and the detail (file,
/// byte offset, what is wrong) is copied NUL-terminated into `buf` of
/// `cap` bytes (`buf` may be NULL with `cap` 0 to ask only the length).
/// `*out_len` (may be NULL) receives the detail's length without the NUL,
/// also when `FANLOG_BUFFER_TOO_SMALL` is returned (then `*out_seq` is not
/// written).
///
/// Returns `FANLOG_EMPTY` if no read of this cursor returned
/// `FANLOG_CORRUPT`. Thread-safe: may be called while another thread reads
/// (it then describes the latest report); never blocks.
///
/// # Safety
/// `cursor` is a live handle; `out_seq` and `out_len` are NULL or
/// writable; `buf` is NULL or writable for `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_corruption(
    cursor: *const fanlog_cursor,
    out_seq: *mut u64,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { handle::check::<CursorInner>(cursor.cast::<Tagged<CursorInner>>()) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            let Some((seq, detail)) = h.corruption() else {
                return FANLOG_EMPTY;
            };
            // SAFETY: per the contract.
            match unsafe { copy_str(&detail, buf, cap, out_len) } {
                FANLOG_OK => {
                    // SAFETY: per the contract.
                    unsafe { write_opt(out_seq, seq) };
                    FANLOG_OK
                }
                s => s,
            }
        },
        || {},
    )
}
