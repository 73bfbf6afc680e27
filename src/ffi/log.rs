//! C ABI over the log: `fanlog_log`, `fanlog_producer`, `fanlog_cursor`.

use super::fanlog_status::{self, *};
use super::handle::{self, HandleType, Tagged};
use super::{
    append_result, bytes, copy_status, deadline, fill_out, guard, recv_status, status, write_opt,
};
use crate::sync::Ordering;
use crate::{
    CloseStatus, Cursor, Log, Memory, OverflowPolicy, Producer, RecvError, Start, StartError,
    Timestamps, WaitStrategy, Waker,
};
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A broadcast log (opaque). Create with `fanlog_log_new` (in memory) or
/// `fanlog_log_open` (durable, in a directory), release with
/// `fanlog_log_free`. Thread-safe: every function may be called from any
/// thread concurrently, except `fanlog_log_free`, which must be the last
/// call on the handle. Producers and cursors keep the log's memory alive, so
/// they may outlive this handle.
///
/// Methods: `fanlog_log_new`, `fanlog_log_free`, `fanlog_log_append`,
/// `fanlog_log_append_batch`, `fanlog_log_close`, `fanlog_log_close_status`,
/// `fanlog_log_get_stats`, `fanlog_producer_new`, `fanlog_cursor_new`;
/// durable logs also `fanlog_log_open`, `fanlog_log_flush`,
/// `fanlog_log_recovery`, `fanlog_log_recovery_text`,
/// `fanlog_log_cursor_named`, `fanlog_log_remove_cursor`.
pub struct fanlog_log {
    _opaque: [u8; 0],
}

/// An appending handle of a log (opaque), with its own interrupt. Create
/// with `fanlog_producer_new`, release with `fanlog_producer_free`.
/// Thread-safe; `fanlog_producer_interrupt` interrupts its blocked appends.
///
/// Methods: `fanlog_producer_append`, `fanlog_producer_append_batch`,
/// `fanlog_producer_interrupt`, `fanlog_producer_free`.
pub struct fanlog_producer {
    _opaque: [u8; 0],
}

/// One reader's position in a log (opaque). Create with `fanlog_cursor_new`
/// (or `fanlog_log_cursor_named` on a durable log), release with `fanlog_cursor_free`. A cursor is single-consumer: reads from
/// two threads at once return `FANLOG_BUSY` for one of them.
/// `fanlog_cursor_interrupt` may be called from any thread at any time.
///
/// Methods: `fanlog_cursor_next`, `fanlog_cursor_next_batch`,
/// `fanlog_cursor_next_copy`, `fanlog_cursor_interrupt`,
/// `fanlog_cursor_readiness_fd`, `fanlog_cursor_get_stats`,
/// `fanlog_cursor_close_status`, `fanlog_cursor_free`; on durable logs also
/// `fanlog_cursor_corruption` and, for named cursors,
/// `fanlog_cursor_commit`, `fanlog_cursor_commit_position`,
/// `fanlog_cursor_committed`, `fanlog_cursor_set_auto_commit`.
pub struct fanlog_cursor {
    _opaque: [u8; 0],
}

pub(crate) struct LogInner {
    pub(crate) log: Log,
    producer: Producer,
}

pub(crate) struct ProducerInner {
    producer: Producer,
    waker: Waker,
    log: Log,
}

pub(crate) struct CursorInner {
    /// Set while a call uses `cursor` (single-consumer guard).
    busy: AtomicBool,
    waker: Waker,
    log: Log,
    cursor: std::cell::UnsafeCell<Cursor>,
    /// Durable logs: the damaged record the last `FANLOG_CORRUPT` read
    /// reported (sequence number, file/offset/reason), for
    /// `fanlog_cursor_corruption`.
    corrupt: Mutex<Option<(u64, Arc<str>)>>,
}

// SAFETY: `cursor` is only accessed by the thread that holds `busy`.
unsafe impl Sync for CursorInner {}

impl HandleType for LogInner {
    const TAG: u64 = 0x464C_4C4F_4721_4C47;
}
impl HandleType for ProducerInner {
    const TAG: u64 = 0x464C_4C4F_4721_5052;
}
impl HandleType for CursorInner {
    const TAG: u64 = 0x464C_4C4F_4721_4355;
}

/// Overflow policy: producers wait for the slowest cursor.
pub const FANLOG_OVERFLOW_BLOCK: u32 = 0;
/// Overflow policy: evict the oldest segment; slow cursors get `FANLOG_LAGGED`.
pub const FANLOG_OVERFLOW_DROP_OLDEST: u32 = 1;
/// Overflow policy: appends fail with `FANLOG_FULL`.
pub const FANLOG_OVERFLOW_REJECT: u32 = 2;

/// Wait strategy: re-check a few times, yielding the CPU, then sleep
/// (default).
pub const FANLOG_WAIT_SPIN_THEN_PARK: u32 = 0;
/// Wait strategy: busy-spin (lowest latency, burns a core per waiter).
pub const FANLOG_WAIT_SPIN: u32 = 1;

/// Timestamps: coarse realtime clock (default, ~1-4 ms resolution).
pub const FANLOG_TIMESTAMPS_COARSE: u32 = 0;
/// Timestamps: precise realtime clock.
pub const FANLOG_TIMESTAMPS_PRECISE: u32 = 1;
/// Timestamps: none (records carry 0).
pub const FANLOG_TIMESTAMPS_OFF: u32 = 2;

/// Cursor start: the oldest retained record.
pub const FANLOG_START_EARLIEST: u32 = 0;
/// Cursor start: the next record to be appended.
pub const FANLOG_START_LATEST: u32 = 1;
/// Cursor start: the given sequence number.
pub const FANLOG_START_AT: u32 = 2;

/// Log configuration. Always initialize with `fanlog_log_options_default`,
/// then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_log_options {
    /// Bytes per segment: a power of two from 256 B to 128 MiB (default 1 MiB).
    pub segment_size: usize,
    /// Byte budget for retained segments, at least two segments (default 64 MiB).
    pub max_bytes: usize,
    /// History kept even when no cursor needs it, in bytes (default 0).
    pub retain_bytes: usize,
    /// Largest payload, at most `segment_size - 24`; 0 means that maximum.
    pub max_record_size: usize,
    /// `FANLOG_OVERFLOW_*` (default `FANLOG_OVERFLOW_BLOCK`).
    pub overflow: u32,
    /// `FANLOG_WAIT_*` (default `FANLOG_WAIT_SPIN_THEN_PARK`).
    pub wait_strategy: u32,
    /// `FANLOG_TIMESTAMPS_*` (default `FANLOG_TIMESTAMPS_COARSE`).
    pub timestamps: u32,
    /// Free segments kept for reuse (default 4; at most 65536, else
    /// `FANLOG_INVALID_ARGUMENT`).
    pub pool_segments: u32,
}

/// One record read from a cursor. `data` points into the log's memory
/// (zero-copy) and stays valid until the next call on the same cursor, or
/// its free; copy what you need to keep. For `fanlog_cursor_next_copy` it
/// points into the caller's buffer instead.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_record {
    /// Gap-free sequence number.
    pub seq: u64,
    /// Append time, ns since the Unix epoch (0 if timestamps are off).
    pub timestamp_ns: u64,
    /// The payload (NULL only when `len` is 0).
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
    /// The application-defined kind given at append time.
    pub kind: u32,
}

/// A byte range, for batch appends.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_slice {
    /// Start of the bytes (may be NULL when `len` is 0).
    pub data: *const u8,
    /// Length in bytes.
    pub len: usize,
}

/// Counters of a log (see `fanlog_log_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_log_stats {
    /// Records appended (the next sequence number).
    pub records_appended: u64,
    /// Framed bytes appended (header + payload, 8-aligned; the header is 24
    /// bytes, 16 without timestamps, 32 in a durable log).
    pub bytes_appended: u64,
    /// Oldest retained sequence number.
    pub oldest_seq: u64,
    /// Segments evicted by `FANLOG_OVERFLOW_DROP_OLDEST`.
    pub segments_evicted: u64,
    /// Records cursors were told they missed, summed.
    pub records_missed: u64,
    /// Segments linked.
    pub segments_retained: usize,
    /// Bytes of segment memory held (linked + leased by lagging cursors).
    pub bytes_retained: usize,
    /// High-water mark of `bytes_retained`.
    pub peak_bytes_retained: usize,
    /// Segment memory allocated, pool included.
    pub bytes_allocated: usize,
    /// Live cursors.
    pub cursors: usize,
    /// 1 once closed.
    pub closed: u32,
    /// Recycled segments whose memory went back to the kernel (stays near
    /// zero in steady state; see `LogStats::segments_released`).
    pub segments_released: u64,
}

/// A log's size limits (see `fanlog_log_get_limits`): what a record and a
/// batch may hold.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_log_limits {
    /// Bytes per segment. A batch is appended only when the sum of its
    /// records' frame lengths is at most this.
    pub segment_size: usize,
    /// Largest payload of one record, in bytes.
    pub max_record_size: usize,
    /// Framing before each payload: 16 bytes (in memory, no timestamps),
    /// 24, or 32 (durable).
    pub frame_header: usize,
    /// Each frame (header + payload) is rounded up to a multiple of this.
    pub frame_align: usize,
}

/// Counters of a cursor (see `fanlog_cursor_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_cursor_stats {
    /// Records read.
    pub records_read: u64,
    /// Payload bytes read.
    pub bytes_read: u64,
    /// Records missed (summed `FANLOG_LAGGED` reports).
    pub records_missed: u64,
    /// Sequence number of the next record to read.
    pub position: u64,
    /// Records appended but not yet read by this cursor.
    pub lag: u64,
    /// Last time records were returned (ns since the Unix epoch, coarse).
    pub last_read_ns: u64,
}

/// Fills `*out` with the default options.
///
/// Returns `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// `out` is NULL or valid for writing one `fanlog_log_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_options_default(out: *mut fanlog_log_options) -> fanlog_status {
    guard(
        || {
            if out.is_null() {
                return FANLOG_NULL_ARGUMENT;
            }
            let d = crate::Log::builder().config().expect("defaults are valid");
            // SAFETY: non-null and valid per the contract.
            unsafe {
                out.write(fanlog_log_options {
                    segment_size: d.segment_size,
                    max_bytes: d.max_bytes,
                    retain_bytes: d.retain_bytes,
                    max_record_size: 0,
                    overflow: FANLOG_OVERFLOW_BLOCK,
                    wait_strategy: FANLOG_WAIT_SPIN_THEN_PARK,
                    timestamps: FANLOG_TIMESTAMPS_COARSE,
                    pool_segments: d.pool_segments as u32,
                })
            };
            FANLOG_OK
        },
        || {},
    )
}

/// The overflow policy for a `FANLOG_OVERFLOW_*` value.
pub(crate) fn overflow_from(v: u32) -> Option<OverflowPolicy> {
    match v {
        FANLOG_OVERFLOW_BLOCK => Some(OverflowPolicy::Block),
        FANLOG_OVERFLOW_DROP_OLDEST => Some(OverflowPolicy::DropOldest),
        FANLOG_OVERFLOW_REJECT => Some(OverflowPolicy::Reject),
        _ => None,
    }
}

/// The wait strategy for a `FANLOG_WAIT_*` value.
pub(crate) fn wait_from(v: u32) -> Option<WaitStrategy> {
    match v {
        FANLOG_WAIT_SPIN_THEN_PARK => Some(WaitStrategy::SpinThenPark),
        FANLOG_WAIT_SPIN => Some(WaitStrategy::Spin),
        _ => None,
    }
}

/// The clock for a `FANLOG_TIMESTAMPS_*` value.
pub(crate) fn timestamps_from(v: u32) -> Option<Timestamps> {
    match v {
        FANLOG_TIMESTAMPS_COARSE => Some(Timestamps::Coarse),
        FANLOG_TIMESTAMPS_PRECISE => Some(Timestamps::Precise),
        FANLOG_TIMESTAMPS_OFF => Some(Timestamps::Off),
        _ => None,
    }
}

/// The start position for a `FANLOG_START_*` value (and `seq` for
/// `FANLOG_START_AT`).
pub(crate) fn start_from(v: u32, seq: u64) -> Option<Start> {
    match v {
        FANLOG_START_EARLIEST => Some(Start::Earliest),
        FANLOG_START_LATEST => Some(Start::Latest),
        FANLOG_START_AT => Some(Start::At(seq)),
        _ => None,
    }
}

fn builder_from(o: &fanlog_log_options) -> Result<crate::LogBuilder, fanlog_status> {
    let overflow = overflow_from(o.overflow).ok_or(FANLOG_INVALID_ARGUMENT)?;
    let wait = wait_from(o.wait_strategy).ok_or(FANLOG_INVALID_ARGUMENT)?;
    let timestamps = timestamps_from(o.timestamps).ok_or(FANLOG_INVALID_ARGUMENT)?;
    let mut b = Log::builder()
        .segment_size(o.segment_size)
        .max_bytes(o.max_bytes)
        .retain_bytes(o.retain_bytes)
        .overflow(overflow)
        .wait_strategy(wait)
        .timestamps(timestamps)
        .pool_segments(o.pool_segments as usize)
        .memory(if cfg!(miri) {
            Memory::Heap
        } else {
            Memory::Mmap
        });
    if o.max_record_size != 0 {
        b = b.max_record_size(o.max_record_size);
    }
    Ok(b)
}

/// Creates a log. `options` may be NULL for the defaults. On success
/// `*out` receives a handle that the caller owns and must release with
/// `fanlog_log_free`.
///
/// Returns `FANLOG_INVALID_ARGUMENT` for invalid options (bad sizes, unknown
/// policy), `FANLOG_NULL_ARGUMENT` if `out` is NULL, `FANLOG_OS_ERROR` if the
/// first segment cannot be allocated. Thread-safe.
///
/// # Safety
/// `options` is NULL or points to a valid `fanlog_log_options`; `out` is
/// NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_new(
    options: *const fanlog_log_options,
    out: *mut *mut fanlog_log,
) -> fanlog_status {
    guard(
        || {
            status((|| {
                if out.is_null() {
                    return Err(FANLOG_NULL_ARGUMENT);
                }
                let builder = if options.is_null() {
                    Log::builder()
                } else {
                    // SAFETY: non-null and valid per the contract.
                    builder_from(unsafe { &*options })?
                };
                let config = builder.config().map_err(|_| FANLOG_INVALID_ARGUMENT)?;
                let log = Log::from_config(config).map_err(|_| FANLOG_OS_ERROR)?;
                // SAFETY: `out` is non-null and valid per the contract.
                unsafe { out.write(new_log_handle(log)) };
                Ok(())
            })())
        },
        || {},
    )
}

/// Releases a log handle. NULL (and an already freed handle) is ignored.
/// The log itself lives on while producers or cursors use it. Must not race
/// with other calls on this handle.
///
/// # Safety
/// `log` is NULL or a handle from `fanlog_log_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_free(log: *mut fanlog_log) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<LogInner>(log.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

/// A new log handle over `log` (owned by the caller, freed with
/// `fanlog_log_free`).
pub(crate) fn new_log_handle(log: Log) -> *mut fanlog_log {
    let producer = log.producer();
    handle::new_handle(LogInner { log, producer }).cast()
}

/// Checks a log handle.
///
/// # Safety
/// As for [`handle::check`].
pub(crate) unsafe fn log_ref<'a>(log: *const fanlog_log) -> Result<&'a LogInner, fanlog_status> {
    // SAFETY: forwarded contract of the calling export.
    unsafe { handle::check::<LogInner>(log.cast::<Tagged<LogInner>>()) }
}

fn poison_log(log: &Log) {
    log.close(CloseStatus::error(
        -99,
        "fanlog: panic caught at the C boundary",
    ));
}

/// Appends one record of `len` bytes at `data` with `kind`, waiting up to
/// `timeout_ns` for room under `FANLOG_OVERFLOW_BLOCK` (0 = don't wait,
/// `FANLOG_WAIT_FOREVER`). On success `*out_seq` (may be NULL) receives its
/// sequence number. The bytes are copied; `data` may be NULL if `len` is 0.
///
/// Returns `FANLOG_TOO_LARGE` (nothing appended), `FANLOG_CLOSED`,
/// `FANLOG_FULL`, `FANLOG_TIMEOUT`; for durable logs `FANLOG_READ_ONLY`,
/// `FANLOG_IO_ERROR` (no segment file could be made: nothing appended) and
/// `FANLOG_SYNC_FAILED` (`FANLOG_SYNC_EVERY_BATCH`: the record **was
/// appended**, `*out_seq` is written, but its sync failed and the log was
/// closed; do not append it again). Every other status but `FANLOG_PANIC`
/// (a bug, caught; the log is closed) means nothing was appended.
/// Thread-safe, lock-free; blocks only as
/// described. While one thread is the only one that has appended to an
/// in-memory log, its appends reserve without a locked instruction; the
/// first append from another thread (or a close) ends that for good, at
/// the cost of one `membarrier`. Not async-signal-safe.
///
/// # Safety
/// `log` is a live handle; `data` points to `len` readable bytes; `out_seq`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_append(
    log: *const fanlog_log,
    kind: u32,
    data: *const u8,
    len: usize,
    timeout_ns: u64,
    out_seq: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // SAFETY: per the contract.
    unsafe { append_with(&h.producer, &h.log, kind, data, len, timeout_ns, out_seq) }
}

/// The shared body of `fanlog_log_append` and `fanlog_producer_append`.
///
/// # Safety
/// `data` points to `len` readable bytes (or is NULL with `len` 0);
/// `out_seq` is NULL or writable.
unsafe fn append_with(
    producer: &Producer,
    log: &Log,
    kind: u32,
    data: *const u8,
    len: usize,
    timeout_ns: u64,
    out_seq: *mut u64,
) -> fanlog_status {
    guard(
        || {
            // SAFETY: forwarded contract.
            let data = match unsafe { bytes(data, len) } {
                Ok(d) => d,
                Err(s) => return s,
            };
            let r = producer.append_deadline(kind, data, deadline(timeout_ns));
            // SAFETY: forwarded contract (`out_seq` NULL or writable).
            unsafe { append_result(r, out_seq) }
        },
        || poison_log(log),
    )
}

/// A validated `fanlog_slice` (non-NULL data or zero length).
#[repr(transparent)]
pub(crate) struct Checked(fanlog_slice);

impl AsRef<[u8]> for Checked {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: only constructed (by `check_slices`) from slices whose data
        // is non-NULL with `len` readable bytes, per the export's contract.
        unsafe { std::slice::from_raw_parts(self.0.data, self.0.len) }
    }
}

/// Validates `n` slices at `p` for a batch append or publish.
///
/// # Safety
/// `p` is NULL or points to `n` readable `fanlog_slice`s whose ranges are
/// readable.
pub(crate) unsafe fn check_slices<'a>(
    p: *const fanlog_slice,
    n: usize,
) -> Result<&'a [Checked], fanlog_status> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FANLOG_NULL_ARGUMENT);
    }
    // SAFETY: non-null, `n` elements per the contract.
    let s = unsafe { std::slice::from_raw_parts(p, n) };
    if s.iter().any(|x| x.len > 0 && x.data.is_null()) {
        return Err(FANLOG_NULL_ARGUMENT);
    }
    // SAFETY: `Checked` is a transparent wrapper; validated above.
    Ok(unsafe { &*(s as *const [fanlog_slice] as *const [Checked]) })
}

/// Appends `count` records with one reservation: they get contiguous
/// sequence numbers, the first written to `*out_first_seq` (may be NULL).
/// The whole batch (24-byte header, 16 without timestamps, + payload,
/// 8-aligned, per record) must
/// fit in one segment, else `FANLOG_TOO_LARGE` (split it). Waiting and errors
/// as for `fanlog_log_append`. Thread-safe.
///
/// # Safety
/// `log` is a live handle; `records` points to `count` slices of readable
/// bytes; `out_first_seq` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_append_batch(
    log: *const fanlog_log,
    kind: u32,
    records: *const fanlog_slice,
    count: usize,
    timeout_ns: u64,
    out_first_seq: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // SAFETY: per the contract.
    unsafe {
        append_batch_with(
            &h.producer,
            &h.log,
            kind,
            records,
            count,
            timeout_ns,
            out_first_seq,
        )
    }
}

unsafe fn append_batch_with(
    producer: &Producer,
    log: &Log,
    kind: u32,
    records: *const fanlog_slice,
    count: usize,
    timeout_ns: u64,
    out_first_seq: *mut u64,
) -> fanlog_status {
    guard(
        || {
            // SAFETY: forwarded contract.
            let recs = match unsafe { check_slices(records, count) } {
                Ok(r) => r,
                Err(s) => return s,
            };
            let r = producer.append_batch_deadline(kind, recs, deadline(timeout_ns));
            // SAFETY: forwarded contract (`out_first_seq` NULL or writable).
            unsafe { append_result(r, out_first_seq) }
        },
        || poison_log(log),
    )
}

/// Closes the log with a completion status: `code` 0 and a NULL `message`
/// mean success; otherwise an application error code and an optional
/// NUL-terminated message (copied). Idempotent: the first close wins and
/// later calls return `FANLOG_CLOSED`. Afterwards appends fail with
/// `FANLOG_CLOSED`; every cursor still reads every record appended before,
/// then gets `FANLOG_CLOSED` and can read this status. Wakes blocked
/// producers and readers. Thread-safe.
///
/// # Safety
/// `log` is a live handle; `message` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_close(
    log: *const fanlog_log,
    code: i32,
    message: *const c_char,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { log_ref(log) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            let status = if code == 0 && message.is_null() {
                CloseStatus::Ok
            } else {
                let msg = if message.is_null() {
                    String::new()
                } else {
                    // SAFETY: NUL-terminated per the contract.
                    unsafe { CStr::from_ptr(message) }
                        .to_string_lossy()
                        .into_owned()
                };
                CloseStatus::error(code, msg)
            };
            if h.log.close(status) {
                FANLOG_OK
            } else {
                FANLOG_CLOSED
            }
        },
        || {},
    )
}

/// Reads the close status: `*out_code` (0 for success), and the message
/// copied NUL-terminated into `buf` of `cap` bytes (`buf` may be NULL with
/// `cap` 0 to ask only the length). `*out_len` (may be NULL) receives the
/// message length without the NUL, also when `FANLOG_BUFFER_TOO_SMALL` is
/// returned. Returns `FANLOG_EMPTY` if the log is not closed. Thread-safe.
///
/// # Safety
/// `log` is a live handle; the out pointers are NULL or writable (`buf` for
/// `cap` bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_close_status(
    log: *const fanlog_log,
    out_code: *mut i32,
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
        || match h.log.close_status() {
            None => FANLOG_EMPTY,
            // SAFETY: per the contract.
            Some(st) => unsafe { copy_status(&st, out_code, buf, cap, out_len) },
        },
        || {},
    )
}

/// Fills `*out` with the log's size limits, which never change: a record
/// of `len` payload bytes takes `(frame_header + len)` rounded up to
/// `frame_align` bytes of a segment, and a batch fits when those sum to at
/// most `segment_size`. Thread-safe; works on a closed log.
///
/// # Safety
/// `log` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_get_limits(
    log: *const fanlog_log,
    out: *mut fanlog_log_limits,
) -> fanlog_status {
    // SAFETY: the handle and `out` per the contract.
    unsafe {
        fill_out(log_ref(log), out, |h| {
            let c = h.log.config();
            Ok(fanlog_log_limits {
                segment_size: c.segment_size,
                max_record_size: c.max_record_size,
                frame_header: h.log.frame_len(0),
                frame_align: crate::log::frame::ALIGN,
            })
        })
    }
}

/// Fills `*out` with the log's counters. Thread-safe.
///
/// # Safety
/// `log` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_log_get_stats(
    log: *const fanlog_log,
    out: *mut fanlog_log_stats,
) -> fanlog_status {
    // SAFETY: the handle and `out` per the contract.
    unsafe {
        fill_out(log_ref(log), out, |h| {
            let s = h.log.stats();
            Ok(fanlog_log_stats {
                records_appended: s.records_appended,
                bytes_appended: s.bytes_appended,
                oldest_seq: s.oldest_seq,
                segments_evicted: s.segments_evicted,
                records_missed: s.records_missed,
                segments_retained: s.segments_retained,
                bytes_retained: s.bytes_retained,
                peak_bytes_retained: s.peak_bytes_retained,
                bytes_allocated: s.bytes_allocated,
                cursors: s.cursors,
                closed: s.closed as u32,
                segments_released: s.segments_released,
            })
        })
    }
}

// ---------------------------------------------------------------- producer

/// Creates a producer of `log` with its own interrupt; `*out` receives a
/// handle the caller owns (release with `fanlog_producer_free`). Thread-safe.
///
/// # Safety
/// `log` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_producer_new(
    log: *const fanlog_log,
    out: *mut *mut fanlog_producer,
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
            let producer = h.log.producer();
            let waker = producer.waker();
            let p = handle::new_handle(ProducerInner {
                producer,
                waker,
                log: h.log.clone(),
            });
            // SAFETY: non-null, writable.
            unsafe { out.write(p.cast()) };
            FANLOG_OK
        },
        || {},
    )
}

/// Releases a producer. NULL (and an already freed handle) is ignored. Must
/// not race with other calls on this handle.
///
/// # Safety
/// `producer` is NULL or a handle from `fanlog_producer_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_producer_free(producer: *mut fanlog_producer) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<ProducerInner>(producer.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

unsafe fn producer_ref<'a>(p: *const fanlog_producer) -> Result<&'a ProducerInner, fanlog_status> {
    // SAFETY: forwarded contract of the calling export.
    unsafe { handle::check::<ProducerInner>(p.cast::<Tagged<ProducerInner>>()) }
}

/// As `fanlog_log_append`, through this producer: a blocked append returns
/// `FANLOG_INTERRUPTED` when `fanlog_producer_interrupt` is called.
///
/// # Safety
/// As for `fanlog_log_append`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_producer_append(
    producer: *const fanlog_producer,
    kind: u32,
    data: *const u8,
    len: usize,
    timeout_ns: u64,
    out_seq: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { producer_ref(producer) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // SAFETY: per the contract.
    unsafe { append_with(&h.producer, &h.log, kind, data, len, timeout_ns, out_seq) }
}

/// As `fanlog_log_append_batch`, through this producer (interruptible).
///
/// # Safety
/// As for `fanlog_log_append_batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_producer_append_batch(
    producer: *const fanlog_producer,
    kind: u32,
    records: *const fanlog_slice,
    count: usize,
    timeout_ns: u64,
    out_first_seq: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { producer_ref(producer) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // SAFETY: per the contract.
    unsafe {
        append_batch_with(
            &h.producer,
            &h.log,
            kind,
            records,
            count,
            timeout_ns,
            out_first_seq,
        )
    }
}

/// Interrupts this producer's blocked append (or, if none is blocked, its
/// next append that has to wait: one that finds room succeeds): it returns
/// `FANLOG_INTERRUPTED`. Thread-safe, never blocks.
///
/// # Safety
/// `producer` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_producer_interrupt(
    producer: *const fanlog_producer,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { producer_ref(producer) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            h.waker.interrupt();
            FANLOG_OK
        },
        || {},
    )
}

// ------------------------------------------------------------------ cursor

/// Creates a cursor on `log`. `start` is `FANLOG_START_EARLIEST`,
/// `FANLOG_START_LATEST` or `FANLOG_START_AT` (then `seq` is the sequence
/// number to start at; ignored otherwise). `*out` receives a handle the
/// caller owns (release with `fanlog_cursor_free`): while it lives it holds
/// the log's records from its position on (under `FANLOG_OVERFLOW_BLOCK`
/// producers wait for it).
///
/// Returns `FANLOG_EVICTED` / `FANLOG_FUTURE` when `seq` is outside the
/// retained range, `FANLOG_INVALID_ARGUMENT` for an unknown `start`.
/// Thread-safe.
///
/// # Safety
/// `log` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_new(
    log: *const fanlog_log,
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
            let Some(start) = start_from(start, seq) else {
                return FANLOG_INVALID_ARGUMENT;
            };
            match h.log.cursor(start) {
                Ok(cursor) => {
                    // SAFETY: non-null, writable.
                    unsafe { out.write(new_cursor_handle(&h.log, cursor)) };
                    FANLOG_OK
                }
                Err(StartError::Evicted { .. }) => FANLOG_EVICTED,
                Err(StartError::Future { .. }) => FANLOG_FUTURE,
            }
        },
        || {},
    )
}

/// Releases a cursor and its hold on the log at once. NULL (and an already
/// freed handle) is ignored. Record pointers it returned become invalid.
/// Must not race with other calls on this handle (except that a concurrent
/// `fanlog_cursor_interrupt` is harmless only before this call starts).
///
/// # Safety
/// `cursor` is NULL or a handle from `fanlog_cursor_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_free(cursor: *mut fanlog_cursor) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<CursorInner>(cursor.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

/// A new cursor handle over `cursor` of `log` (owned by the caller, freed
/// with `fanlog_cursor_free`).
pub(crate) fn new_cursor_handle(log: &Log, cursor: Cursor) -> *mut fanlog_cursor {
    let waker = cursor.waker();
    handle::new_handle(CursorInner {
        busy: AtomicBool::new(false),
        waker,
        log: log.clone(),
        cursor: std::cell::UnsafeCell::new(cursor),
        corrupt: Mutex::new(None),
    })
    .cast()
}

/// Runs `f` with exclusive access to the cursor (single-consumer guard);
/// `f` also gets the handle's other state.
///
/// # Safety
/// `cursor` is NULL or a cursor handle (see [`handle::check`]).
pub(crate) unsafe fn with_cursor(
    cursor: *const fanlog_cursor,
    f: impl FnOnce(&mut Cursor, &CursorInner) -> fanlog_status,
) -> fanlog_status {
    // SAFETY: forwarded contract of the calling export.
    let h = match unsafe { handle::check::<CursorInner>(cursor.cast::<Tagged<CursorInner>>()) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // Acquire: pairs with the Release store that ends the previous call, so
    // we see the cursor as that call left it.
    if h.busy.swap(true, Ordering::Acquire) {
        return FANLOG_BUSY;
    }
    let r = guard(
        // SAFETY: `busy` gives this call exclusive access to the cursor.
        || f(unsafe { &mut *h.cursor.get() }, h),
        || poison_log(&h.log),
    );
    // Release: publishes our changes to the next call.
    h.busy.store(false, Ordering::Release);
    r
}

fn fill(out: *mut fanlog_record, r: &crate::Record<'_>) {
    // SAFETY: callers pass a non-null, writable pointer (checked).
    unsafe {
        out.write(fanlog_record {
            seq: r.seq(),
            timestamp_ns: r.timestamp_ns(),
            data: if r.data().is_empty() {
                std::ptr::null()
            } else {
                r.data().as_ptr()
            },
            len: r.data().len(),
            kind: r.kind(),
        })
    };
}

fn read_error(h: &CursorInner, e: &RecvError, out_missed: *mut u64) -> fanlog_status {
    let (s, missed) = recv_status(e);
    match e {
        RecvError::Lagged { .. } => {
            // SAFETY: the exports' contract: NULL or writable.
            unsafe { write_opt(out_missed, missed) };
        }
        RecvError::Corrupt { seq, detail } => {
            *h.corrupt.lock().unwrap_or_else(|p| p.into_inner()) = Some((*seq, detail.clone()));
        }
        _ => {}
    }
    s
}

impl CursorInner {
    /// The last corruption a read reported, if any.
    #[cfg_attr(fanlog_loom, allow(dead_code))]
    pub(crate) fn corruption(&self) -> Option<(u64, Arc<str>)> {
        self.corrupt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Reads the next record, waiting up to `timeout_ns` (0 = don't wait,
/// `FANLOG_WAIT_FOREVER`). On success `*out` describes it; its `data`
/// pointer is zero-copy and valid until the next call on this cursor or its
/// free.
///
/// Returns `FANLOG_EMPTY` (timeout 0) or `FANLOG_TIMEOUT`,
/// `FANLOG_INTERRUPTED`, `FANLOG_LAGGED` (then `*out_missed`, which may be
/// NULL, receives how many records were missed; call again to continue at
/// the oldest retained record), `FANLOG_CLOSED` (everything was read; see
/// `fanlog_cursor_close_status`), `FANLOG_BUSY`; on durable logs
/// `FANLOG_CORRUPT` (the next record is damaged on disk; every record
/// before it was returned; see `fanlog_cursor_corruption`). Single-consumer;
/// blocks as described.
///
/// # Safety
/// `cursor` is a live handle; `out` writable; `out_missed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_next(
    cursor: *const fanlog_cursor,
    timeout_ns: u64,
    out: *mut fanlog_record,
    out_missed: *mut u64,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, h| {
            match c.next_batch_deadline(1, deadline(timeout_ns)) {
                Ok(mut batch) => match batch.next() {
                    Some(r) => {
                        fill(out, &r);
                        FANLOG_OK
                    }
                    None => FANLOG_EMPTY,
                },
                Err(e) => read_error(h, &e, out_missed),
            }
        })
    }
}

/// Reads up to `cap` records available now (waiting up to `timeout_ns` for
/// the first) into `out[0..*out_count]`. All are zero-copy and valid until
/// the next call on this cursor or its free. A batch never spans two
/// segments, so it may hold fewer records than are available. Errors as for
/// `fanlog_cursor_next` (then `*out_count` is not written).
///
/// # Safety
/// `cursor` is a live handle; `out` writable for `cap` records;
/// `out_count` writable; `out_missed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_next_batch(
    cursor: *const fanlog_cursor,
    timeout_ns: u64,
    out: *mut fanlog_record,
    cap: usize,
    out_count: *mut usize,
    out_missed: *mut u64,
) -> fanlog_status {
    if out.is_null() || out_count.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    if cap == 0 {
        return FANLOG_INVALID_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, h| {
            match c.next_batch_deadline(cap, deadline(timeout_ns)) {
                Ok(batch) => {
                    let mut n = 0;
                    for r in batch {
                        // SAFETY: `n < cap` (the batch holds at most `cap`).
                        fill(out.add(n), &r);
                        n += 1;
                    }
                    out_count.write(n);
                    FANLOG_OK
                }
                Err(e) => read_error(h, &e, out_missed),
            }
        })
    }
}

/// Reads the next record into the caller's buffer `buf` of `cap` bytes
/// (waiting as for `fanlog_cursor_next`); `out->data` then points into
/// `buf`. If the payload does not fit, returns `FANLOG_BUFFER_TOO_SMALL`,
/// writes the needed size to `*out_needed` (may be NULL) and does not
/// consume the record. Other errors as for `fanlog_cursor_next`.
///
/// # Safety
/// `cursor` is a live handle; `buf` writable for `cap` bytes (may be NULL
/// if `cap` is 0); `out` writable; `out_needed`, `out_missed` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_next_copy(
    cursor: *const fanlog_cursor,
    timeout_ns: u64,
    buf: *mut u8,
    cap: usize,
    out: *mut fanlog_record,
    out_needed: *mut usize,
    out_missed: *mut u64,
) -> fanlog_status {
    if out.is_null() || (buf.is_null() && cap > 0) {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, h| {
            if let Err(e) = c.wait_for(deadline(timeout_ns)) {
                return read_error(h, &e, out_missed);
            }
            let Some(r) = c.peek() else {
                return FANLOG_EMPTY;
            };
            let len = r.data().len();
            if len > cap {
                write_opt(out_needed, len);
                return FANLOG_BUFFER_TOO_SMALL;
            }
            if len > 0 {
                std::ptr::copy_nonoverlapping(r.data().as_ptr(), buf, len);
            }
            out.write(fanlog_record {
                seq: r.seq(),
                timestamp_ns: r.timestamp_ns(),
                data: if len == 0 { std::ptr::null() } else { buf },
                len,
                kind: r.kind(),
            });
            c.skip();
            FANLOG_OK
        })
    }
}

/// Interrupts the cursor's blocked read (or, if none, its next blocking
/// read), which returns `FANLOG_INTERRUPTED`. Thread-safe: may be called
/// from any thread while another thread reads. Never blocks.
///
/// # Safety
/// `cursor` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_interrupt(cursor: *const fanlog_cursor) -> fanlog_status {
    // SAFETY: per the contract.
    match unsafe { handle::check::<CursorInner>(cursor.cast::<Tagged<CursorInner>>()) } {
        Ok(h) => guard(
            || {
                h.waker.interrupt();
                FANLOG_OK
            },
            || {},
        ),
        Err(s) => s,
    }
}

/// Writes to `*out_fd` a readiness file descriptor (Linux eventfd) for
/// poll/epoll: readable whenever the cursor has something to return (a
/// record, `FANLOG_LAGGED`, `FANLOG_CLOSED`) or was interrupted; possibly
/// spuriously. Wait for readable, then read with timeout 0 until
/// `FANLOG_EMPTY` (which re-arms it). The fd belongs to the cursor: do not
/// read, write or close it; it is closed by `fanlog_cursor_free`. Repeated
/// calls return the same fd. Single-consumer.
///
/// # Safety
/// `cursor` is a live handle; `out_fd` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_readiness_fd(
    cursor: *const fanlog_cursor,
    out_fd: *mut c_int,
) -> fanlog_status {
    if out_fd.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| match c.readiness_fd() {
            Ok(fd) => {
                out_fd.write(fd);
                FANLOG_OK
            }
            Err(_) => FANLOG_OS_ERROR,
        })
    }
}

/// Fills `*out` with the cursor's counters. Single-consumer.
///
/// # Safety
/// `cursor` is a live handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_get_stats(
    cursor: *const fanlog_cursor,
    out: *mut fanlog_cursor_stats,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_cursor(cursor, |c, _| {
            let s = c.stats();
            out.write(fanlog_cursor_stats {
                records_read: s.records_read,
                bytes_read: s.bytes_read,
                records_missed: s.records_missed,
                position: s.position,
                lag: s.lag,
                last_read_ns: s.last_read_ns,
            });
            FANLOG_OK
        })
    }
}

/// As `fanlog_log_close_status`, for the log this cursor reads. Thread-safe.
///
/// # Safety
/// As for `fanlog_log_close_status`, with a live cursor handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_cursor_close_status(
    cursor: *const fanlog_cursor,
    out_code: *mut i32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: per the contract.
    match unsafe { handle::check::<CursorInner>(cursor.cast::<Tagged<CursorInner>>()) } {
        Ok(h) => guard(
            || match h.log.close_status() {
                None => FANLOG_EMPTY,
                // SAFETY: per the contract.
                Some(st) => unsafe { copy_status(&st, out_code, buf, cap, out_len) },
            },
            || {},
        ),
        Err(s) => s,
    }
}
