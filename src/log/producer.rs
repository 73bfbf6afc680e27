//! Producers: reserve, copy, commit.

use super::frame::{commit_value, frame_len_h, CRC_AT, DURABLE_HEADER, KIND_AT, LEN_AT, TIME_AT};
use super::segment::{unpack, Segment, COUNT_SHIFT};
use super::{Advance, Handle, Shared, Timestamps};
use crate::error::AppendError;
use crate::sync::Ordering;
use crate::wait::{Deadline, Interrupt, WakeTarget, Waker};
use crossbeam_epoch as epoch;
use std::sync::Arc;
use std::time::Duration;

/// A handle that appends to a [`Log`](crate::Log).
///
/// Cheap to create and to clone, `Send + Sync`: share one between threads or
/// give each thread its own. Each handle (and each clone) has its own
/// interrupt, raised through [`waker`](Self::waker), which makes a blocked
/// append (under [`OverflowPolicy::Block`](crate::OverflowPolicy::Block))
/// return [`AppendError::Interrupted`].
///
/// Appends never take a lock and never allocate: one `fetch_add` on the
/// tail segment, a copy, one Release store, and a compiler fence plus a load
/// to learn whether a reader is asleep. In-memory logs do not even pin the
/// epoch for that (their segments are type-stable; see
/// [`docs::design`](crate::docs::design)); only the append that finds the
/// tail segment full pins, to link the next one. And while a single thread
/// is the only one that has appended to an in-memory log, its reservations
/// are a plain load and store instead of the `fetch_add` (the producer
/// bias, handed on when the owner thread exits and revoked for good by an
/// append from a second live thread or by `close`; same docs).
pub struct Producer {
    shared: Handle,
    interrupt: Arc<ProducerWake>,
}

struct ProducerWake {
    interrupt: Interrupt,
    shared: Arc<Shared>,
}

impl WakeTarget for ProducerWake {
    fn interrupt(&self) {
        self.interrupt.raise();
        self.shared.space.wake_all();
    }
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        Producer::new(self.shared.clone())
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Producer")
    }
}

impl Producer {
    pub(crate) fn new(shared: Handle) -> Self {
        let interrupt = Arc::new(ProducerWake {
            interrupt: Interrupt::default(),
            shared: Arc::clone(&shared),
        });
        Self { shared, interrupt }
    }

    /// Appends `data` with kind 0 and returns its sequence number. Under
    /// `Block` it waits for room (interruptible); see
    /// [`append_with`](Self::append_with) for the errors.
    #[inline]
    pub fn append(&self, data: &[u8]) -> Result<u64, AppendError> {
        self.append_with(0, data)
    }

    /// Appends `data` with an application-defined `kind`.
    ///
    /// # Errors
    /// [`AppendError::TooLarge`] (nothing appended), [`AppendError::Closed`],
    /// [`AppendError::Full`] (`Reject`), [`AppendError::Interrupted`]
    /// (`Block`); for durable logs [`AppendError::ReadOnly`],
    /// [`AppendError::Io`] (no segment file could be made; nothing appended)
    /// and [`AppendError::SyncFailed`] (`EveryBatch`: the record **was
    /// appended**, but its sync failed and the log was closed).
    #[inline]
    pub fn append_with(&self, kind: u32, data: &[u8]) -> Result<u64, AppendError> {
        append_one(
            &self.shared,
            kind,
            data,
            Deadline::Never,
            Some(&self.interrupt.interrupt),
        )
    }

    /// Like [`append_with`](Self::append_with), waiting at most `timeout` for
    /// room ([`AppendError::Timeout`] after that).
    pub fn append_timeout(
        &self,
        kind: u32,
        data: &[u8],
        timeout: Duration,
    ) -> Result<u64, AppendError> {
        append_one(
            &self.shared,
            kind,
            data,
            Deadline::after(timeout),
            Some(&self.interrupt.interrupt),
        )
    }

    /// Appends without ever waiting for room: [`AppendError::Full`] when the
    /// budget is exhausted under `Block` (under `DropOldest` it evicts as
    /// usual).
    #[inline]
    pub fn try_append(&self, kind: u32, data: &[u8]) -> Result<u64, AppendError> {
        append_one(
            &self.shared,
            kind,
            data,
            Deadline::Now,
            Some(&self.interrupt.interrupt),
        )
    }

    /// Appends every record of `records` with one reservation, so they get
    /// contiguous sequence numbers; returns the first one. The whole batch
    /// must fit in one segment (`frame` = header + payload, 8-byte aligned;
    /// the header is 24 bytes, or 16 in a log without timestamps): larger
    /// batches get [`AppendError::TooLarge`] with the framed size; split
    /// them. An empty batch returns the next sequence
    /// number and appends nothing.
    pub fn append_batch<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        records: &[B],
    ) -> Result<u64, AppendError> {
        append_batch(
            &self.shared,
            kind,
            records,
            Deadline::Never,
            Some(&self.interrupt.interrupt),
        )
    }

    /// [`append_batch`](Self::append_batch) waiting at most `timeout`.
    pub fn append_batch_timeout<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        records: &[B],
        timeout: Duration,
    ) -> Result<u64, AppendError> {
        append_batch(
            &self.shared,
            kind,
            records,
            Deadline::after(timeout),
            Some(&self.interrupt.interrupt),
        )
    }

    /// [`append_batch`](Self::append_batch) that never waits for room.
    pub fn try_append_batch<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        records: &[B],
    ) -> Result<u64, AppendError> {
        append_batch(
            &self.shared,
            kind,
            records,
            Deadline::Now,
            Some(&self.interrupt.interrupt),
        )
    }

    /// Append with an explicit deadline (C ABI).
    pub(crate) fn append_deadline(
        &self,
        kind: u32,
        data: &[u8],
        deadline: Deadline,
    ) -> Result<u64, AppendError> {
        append_one(
            &self.shared,
            kind,
            data,
            deadline,
            Some(&self.interrupt.interrupt),
        )
    }

    /// Batch append with an explicit deadline (C ABI).
    pub(crate) fn append_batch_deadline<B: AsRef<[u8]>>(
        &self,
        kind: u32,
        records: &[B],
        deadline: Deadline,
    ) -> Result<u64, AppendError> {
        append_batch(
            &self.shared,
            kind,
            records,
            deadline,
            Some(&self.interrupt.interrupt),
        )
    }

    /// A handle that interrupts this producer's blocked appends.
    pub fn waker(&self) -> Waker {
        Waker {
            target: self.interrupt.clone(),
        }
    }

    /// The largest batch, in framed bytes, that
    /// [`append_batch`](Self::append_batch) accepts (the segment size).
    pub fn max_batch_bytes(&self) -> usize {
        self.shared.config.segment_size
    }
}

/// Nanoseconds since the Unix epoch from the configured clock.
#[inline]
fn now_ns(ts: Timestamps) -> u64 {
    let clock = match ts {
        Timestamps::Off => return 0,
        Timestamps::Coarse => libc::CLOCK_REALTIME_COARSE,
        Timestamps::Precise => libc::CLOCK_REALTIME,
    };
    if cfg!(miri) {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    }
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid out-pointer; clock_gettime is a vDSO call that
    // writes it and has no other effect.
    unsafe { libc::clock_gettime(clock, &mut t) };
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// The timestamp for a frame with a header of `hdr` bytes. A compact
/// header has no timestamp field (and implies `Timestamps::Off`), so it
/// costs no clock and no test of the mode: testing `hdr`, which the frame's
/// writing tests anyway, instead of the mode took 11 instructions off the
/// bias owner's 8-byte append, spills included (callgrind,
/// `examples/per_record_cost`: 77 to 66, the zeroing not counted).
#[inline(always)]
fn frame_time(shared: &Shared, hdr: usize) -> u64 {
    if hdr > TIME_AT {
        now_ns(shared.config.timestamps)
    } else {
        0
    }
}

/// Writes the frame for `seq` at `off` and commits it. `hdr` is the log's
/// frame header size; durable frames (`durable`: `hdr` is `DURABLE_HEADER`)
/// carry a CRC. The bias owner's path passes a constant `false`, so its
/// inlined copy has no CRC code, whose registers made the owner's loop
/// spill: 6 instructions fewer per 8-byte append (callgrind,
/// `examples/per_record_cost`: 83 to 77, the zeroing not counted).
///
/// # Safety
/// The caller reserved `[off, off + frame_len_h(hdr, data.len()))` in `seg`
/// (so no one else writes there in this life of the segment) and the range
/// lies within the segment.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the frame's fields, and `durable` as a constant for the owner
unsafe fn write_frame(
    seg: &Segment,
    hdr: usize,
    off: usize,
    seq: u64,
    kind: u32,
    time: u64,
    data: &[u8],
    durable: bool,
) {
    debug_assert_eq!(durable, hdr == DURABLE_HEADER);
    seg.data.track_write(off);
    #[cfg(all(test, not(fanlog_loom)))]
    test_hooks::PAUSE_IN_WRITE.with(|h| {
        if let Some(f) = h.borrow_mut().as_mut() {
            f()
        }
    });
    let p = seg.data.at(off);
    // SAFETY: the reservation gives us exclusive write access to the whole
    // frame; `p` is 8-aligned so the u32/u64 header fields are aligned; the
    // payload fits (`off + frame_len <= size`), and `data` cannot overlap
    // segment memory that is reserved by us and not yet published.
    unsafe {
        (p.add(LEN_AT) as *mut u32).write(data.len() as u32);
        (p.add(KIND_AT) as *mut u32).write(kind);
        if hdr > TIME_AT {
            (p.add(TIME_AT) as *mut u64).write(time);
        }
        copy_payload(data, p.add(hdr));
    }
    if durable {
        // SAFETY: as above: header bytes 8..24 were just written by us and
        // bytes 24..28 are ours to write.
        unsafe {
            let head = std::slice::from_raw_parts(p.add(LEN_AT), 16);
            let crc = super::frame::frame_crc(seq, head, data);
            (p.add(CRC_AT) as *mut u32).write(crc);
        }
    }
    // Release: publishes the header and payload; pairs with the Acquire load
    // of the commit word in `Cursor::poll`.
    seg.data
        .commit_word(off)
        .store(commit_value(seq), Ordering::Release);
}

/// Copies `src` to `dst`. Payloads of 8 to 64 bytes (an id, a small
/// struct, a short message) are moved with two or four overlapping
/// unaligned loads and stores instead of a call to `memcpy`: the call and
/// the register spills around it were a fifth of an 8-byte append's
/// instructions (callgrind). Shorter and longer payloads go to `memcpy`.
///
/// # Safety
/// `dst` is valid for `src.len()` bytes of writes and does not overlap
/// `src`.
#[inline(always)]
unsafe fn copy_payload(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: in every branch each window is `[at, at + w)` with
    // `at + w <= n` (`w` = 8 or 16 bytes, `n >= w` in its branch), so it
    // lies within `src` and, by the caller's contract, within `dst`; the
    // two do not overlap, so the order of the moves does not matter.
    // `read_unaligned`/`write_unaligned` allow any alignment.
    unsafe {
        if (8..=16).contains(&n) {
            let a = (s as *const u64).read_unaligned();
            let b = (s.add(n - 8) as *const u64).read_unaligned();
            (dst as *mut u64).write_unaligned(a);
            (dst.add(n - 8) as *mut u64).write_unaligned(b);
        } else if (17..=32).contains(&n) {
            let a = (s as *const u128).read_unaligned();
            let b = (s.add(n - 16) as *const u128).read_unaligned();
            (dst as *mut u128).write_unaligned(a);
            (dst.add(n - 16) as *mut u128).write_unaligned(b);
        } else if (33..=64).contains(&n) {
            let a = (s as *const u128).read_unaligned();
            let b = (s.add(16) as *const u128).read_unaligned();
            let c = (s.add(n - 32) as *const u128).read_unaligned();
            let d = (s.add(n - 16) as *const u128).read_unaligned();
            (dst as *mut u128).write_unaligned(a);
            (dst.add(16) as *mut u128).write_unaligned(b);
            (dst.add(n - 32) as *mut u128).write_unaligned(c);
            (dst.add(n - 16) as *mut u128).write_unaligned(d);
        } else {
            std::ptr::copy_nonoverlapping(s, dst, n);
        }
    }
}

/// The append path for one record: the owner's fast path inline, the
/// rest out of line.
#[inline(always)]
pub(crate) fn append_one(
    shared: &Arc<Shared>,
    kind: u32,
    data: &[u8],
    deadline: Deadline,
    interrupt: Option<&Interrupt>,
) -> Result<u64, AppendError> {
    match append_owned(shared, kind, data) {
        Some(seq) => Ok(seq),
        None => append_one_slow(shared, kind, data, deadline, interrupt),
    }
}

/// The producer bias's owner appending a record that fits in the tail
/// segment: the common case of a single producer, inlined into the caller.
/// `None` (nothing changed) for everything else: another thread's bias or
/// none, a record too large, a full or closed segment.
#[inline(always)]
fn append_owned(shared: &Shared, kind: u32, data: &[u8]) -> Option<u64> {
    // Durable and read-only logs start `REVOKED` (never owned), so an
    // owner's log is in-memory and writable: `pin_free`, not `read_only`.
    if data.len() > shared.config.max_record_size {
        return None;
    }
    let hdr = shared.hdr;
    let flen = frame_len_h(hdr, data.len()) as u64;
    let seq = shared
        .bias
        .try_owned(|| match owner_reserve(shared, 1, flen) {
            OwnerReserve::At(seg, off, seq) => {
                let time = frame_time(shared, hdr);
                // SAFETY: `owner_reserve` reserved `flen` bytes at `off` for
                // us. Not durable: durable logs are never owned (above).
                unsafe { write_frame(seg, hdr, off, seq, kind, time, data, false) };
                Some(seq)
            }
            OwnerReserve::Full | OwnerReserve::Closed => None, // the slow path
        })?;
    shared.notify_readers();
    Some(seq)
}

/// What the bias owner's reservation found.
enum OwnerReserve<'a> {
    /// Reserved: the segment, the offset and the first sequence number.
    At(&'a Segment, usize, u64),
    /// The frames do not fit in the tail segment (sealing it takes the RMW
    /// path); nothing changed.
    Full,
    /// The log is closed at the tail; nothing changed.
    Closed,
}

/// The bias owner's reservation of `count` frames totalling `bytes` in the
/// tail segment: a plain load and store of its reservation word. Call it
/// only inside [`Bias::try_owned`](super::bias::Bias::try_owned) or
/// [`run_owned`](super::bias::Bias::run_owned)'s closure.
#[inline(always)]
fn owner_reserve(shared: &Shared, count: u64, bytes: u64) -> OwnerReserve<'_> {
    let seg_ptr = shared.tail_segment();
    // SAFETY: type-stable in-memory segments (see `reserve`'s fast path);
    // the caller's handle keeps the log alive. Holding the bias, we are the
    // only linker, so this is the segment the tail points to until we link
    // another.
    let seg = unsafe { &*seg_ptr };
    // Relaxed: while we hold the bias nobody else changes this word (others
    // revoke first and then see our stores through `busy`); we read our own
    // last store, or the reset of a segment we linked ourselves.
    let old = seg.tail.load(Ordering::Relaxed);
    let (closed, idx, off) = unpack(old);
    if closed {
        return OwnerReserve::Closed;
    }
    if off + bytes > seg.size() as u64 {
        return OwnerReserve::Full;
    }
    // Relaxed: as for the RMW (`try_reserve_in`), the data is published by
    // the commit's Release store.
    seg.tail
        .store(old + ((count << COUNT_SHIFT) | bytes), Ordering::Relaxed);
    OwnerReserve::At(seg, off as usize, seg.base() + idx)
}

/// Everything but the owner's fast path (see `append_one`).
#[inline(never)]
fn append_one_slow(
    shared: &Arc<Shared>,
    kind: u32,
    data: &[u8],
    deadline: Deadline,
    interrupt: Option<&Interrupt>,
) -> Result<u64, AppendError> {
    let max = shared.config.max_record_size;
    if data.len() > max {
        return Err(AppendError::TooLarge {
            len: data.len(),
            max,
        });
    }
    let hdr = shared.hdr;
    let durable = hdr == DURABLE_HEADER;
    let flen = frame_len_h(hdr, data.len()) as u64;
    let time = frame_time(shared, hdr);
    let seq = reserve(shared, 1, flen, deadline, interrupt, |seg, off, seq| {
        // SAFETY: `reserve` hands us a reservation of `flen` bytes at `off`.
        unsafe { write_frame(seg, hdr, off, seq, kind, time, data, durable) };
    })?;
    shared.notify_readers();
    Ok(seq)
}

/// The append path for a batch.
pub(crate) fn append_batch<B: AsRef<[u8]>>(
    shared: &Arc<Shared>,
    kind: u32,
    records: &[B],
    deadline: Deadline,
    interrupt: Option<&Interrupt>,
) -> Result<u64, AppendError> {
    let max = shared.config.max_record_size;
    let mut total = 0usize;
    for r in records {
        let len = r.as_ref().len();
        if len > max {
            return Err(AppendError::TooLarge { len, max });
        }
        total += frame_len_h(shared.hdr, len);
    }
    if records.is_empty() {
        // Nothing to append, but the same answers as a non-empty batch.
        if shared.read_only {
            return Err(AppendError::ReadOnly);
        }
        if shared.is_closing() {
            return Err(AppendError::Closed(shared.close_status()));
        }
        return Ok(shared.next_seq_and_bytes().0);
    }
    let seg_size = shared.config.segment_size;
    if total > seg_size {
        return Err(AppendError::TooLarge {
            len: total,
            max: seg_size,
        });
    }
    let hdr = shared.hdr;
    let time = frame_time(shared, hdr);
    let durable = hdr == DURABLE_HEADER;
    let seq = reserve(
        shared,
        records.len() as u64,
        total as u64,
        deadline,
        interrupt,
        |seg, off, seq| {
            let mut off = off;
            for (i, r) in records.iter().enumerate() {
                let r = r.as_ref();
                // SAFETY: the reservation covers all frames back to back; this
                // one starts at `off` and ends before the next.
                unsafe { write_frame(seg, hdr, off, seq + i as u64, kind, time, r, durable) };
                off += frame_len_h(hdr, r.len());
            }
        },
    )?;
    shared.notify_readers();
    Ok(seq)
}

/// One reservation attempt of `count` frames totalling `bytes` in `seg`,
/// the `fetch_add` done with `order` (see the callers for why each one is
/// enough). `Ok(Some((offset, seq)))`: reserved. `Ok(None)`: the segment is
/// sealed (known before, or sealed by this very attempt, the first one past
/// its end). `Err(Closed)`: the log was closed with this segment as tail.
#[inline(always)]
fn try_reserve_in(
    shared: &Shared,
    seg: &Segment,
    count: u64,
    bytes: u64,
    order: Ordering,
) -> Result<Option<(usize, u64)>, AppendError> {
    // Segments already known to be sealed are skipped, so failed
    // reservations stay bounded by the producers racing the seal (unbounded
    // `Full` retries used to overflow the record count into the `CLOSED`
    // bit). `sealed` shares a line with `base`, which we read anyway.
    // Relaxed: a hint; the reservation below is authoritative.
    if seg.sealed.load(Ordering::Relaxed) != 0 {
        return Ok(None);
    }
    let old = seg.tail.fetch_add((count << COUNT_SHIFT) | bytes, order);
    let (closed, idx, off) = unpack(old);
    if closed {
        return Err(AppendError::Closed(shared.close_status()));
    }
    let size = seg.size() as u64;
    if off + bytes <= size {
        return Ok(Some((off as usize, seg.base() + idx)));
    }
    if off <= size {
        // The first reservation past the end: seal. Release pairs with the
        // Acquire in `Segment::sealed_count`.
        seg.sealed
            .store(super::segment::SEALED | idx, Ordering::Release);
        shared.note_sealed(off);
    }
    Ok(None)
}

/// Reserves `count` frames totalling `bytes` in the tail segment (moving to
/// or linking a successor as needed), runs `write(segment, offset, seq)` on
/// the reservation, and returns the first sequence number.
///
/// The epoch pin is held only while touching segments, never while waiting
/// for room: a producer blocked under `Block` must not stop the epoch (and
/// with it segment recycling) for the whole process.
#[inline]
fn reserve(
    shared: &Arc<Shared>,
    count: u64,
    bytes: u64,
    deadline: Deadline,
    interrupt: Option<&Interrupt>,
    write: impl FnOnce(&Segment, usize, u64),
) -> Result<u64, AppendError> {
    if shared.read_only {
        return Err(AppendError::ReadOnly);
    }
    if shared.is_closing() {
        return Err(AppendError::Closed(shared.close_status()));
    }
    let mut write = Some(write);
    if shared.pin_free {
        // The producer bias (see `bias`): the thread that owns the log
        // (the only one appending) reserves with a plain load and store.
        let owned = shared
            .bias
            .run_owned(shared, || match owner_reserve(shared, count, bytes) {
                OwnerReserve::At(seg, off, seq) => {
                    (write.take().expect("written once"))(seg, off, seq);
                    Ok(Some(seq))
                }
                OwnerReserve::Full => Ok(None), // sealing takes the RMW path below
                OwnerReserve::Closed => Err(AppendError::Closed(shared.close_status())),
            });
        if let Some(Some(seq)) = owned.transpose()? {
            return Ok(seq);
        }
        // The fast path: no epoch pin. An in-memory log never frees a
        // segment while it lives (see `Shared::recycle`), so the tail
        // pointer stays dereferenceable even if the segment is retired and
        // reused meanwhile; the reservation word decides what we may do.
        let seg_ptr = shared.tail_segment();
        // SAFETY: type-stable segments (above); `shared` keeps the log alive.
        let seg = unsafe { &*seg_ptr };
        // Acquire: if the segment was recycled and reset since we loaded
        // the pointer, the reservation reads from the release sequence
        // headed by `Segment::reset`'s Release store, so `base` is the new
        // life's (and the zeroing before it happened-before our writes). A
        // reservation that fails leaves only a harmless increment (the
        // segment is sealed, in this life or its old one).
        if let Some((off, seq)) = try_reserve_in(shared, seg, count, bytes, Ordering::Acquire)? {
            (write.take().expect("written once"))(seg, off, seq);
            return Ok(seq);
        }
        // Sealed: the pinned path below links or finds the successor.
    }
    loop {
        let mut guard = epoch::pin();
        let mut seg_ptr = shared.tail_segment();
        let wait_on = loop {
            // SAFETY: we are pinned and found `seg_ptr` as the tail or as the
            // linked successor of a segment that was the tail after we
            // pinned: it cannot be recycled before we unpin.
            let seg = unsafe { &*seg_ptr };
            // Relaxed: the reservation only needs the modification order of
            // the word; the segment's fields were made visible by the
            // Acquire that found it, and the data we write is published by
            // the commit's Release store.
            if let Some((off, seq)) = try_reserve_in(shared, seg, count, bytes, Ordering::Relaxed)?
            {
                (write.take().expect("written once"))(seg, off, seq);
                #[cfg(not(fanlog_loom))]
                if let Some(st) = shared.store() {
                    if st.sync == crate::store::SyncPolicy::EveryBatch {
                        let r = sync_unpinned(shared, st, seg, seg_ptr, off, bytes as usize, guard);
                        if let Err(e) = r {
                            return Err(sync_failed(shared, seq, e));
                        }
                    }
                }
                return Ok(seq);
            }
            match shared.try_advance(seg, &mut guard) {
                Ok(next) => seg_ptr = next,
                Err(Advance::Closed) => return Err(AppendError::Closed(shared.close_status())),
                Err(Advance::Full) => return Err(AppendError::Full),
                #[cfg(not(fanlog_loom))]
                Err(Advance::Storage) => {
                    let msg = shared
                        .store()
                        .map(|s| s.last_error())
                        .unwrap_or_else(|| "storage error".into());
                    return Err(AppendError::Io(msg));
                }
                Err(why) => break (seg_ptr, why),
            }
        };
        drop(guard);
        shared.wait_for_space(wait_on.0, wait_on.1, deadline, interrupt)?;
    }
}

/// `SyncPolicy::EveryBatch`: syncs the frames just written before the
/// append returns, holding a lease instead of the epoch pin during the
/// `msync` (a producer must never stall reclamation while in a system call).
#[cfg(not(fanlog_loom))]
#[cold]
fn sync_unpinned(
    shared: &Arc<Shared>,
    st: &crate::store::Store,
    seg: &Segment,
    seg_ptr: *mut Segment,
    off: usize,
    len: usize,
    guard: epoch::Guard,
) -> std::io::Result<()> {
    let leased = seg.lease();
    drop(guard);
    #[cfg(test)]
    if let Some(errno) = test_hooks::FAIL_SYNC.with(|f| f.get()) {
        shared.drop_lease(seg_ptr, leased);
        return Err(std::io::Error::from_raw_os_error(errno));
    }
    let r = if leased {
        st.sync_append(seg, off, len)
    } else {
        Ok(()) // evicted meanwhile: nothing left to make durable
    };
    shared.drop_lease(seg_ptr, leased);
    r
}

/// `EveryBatch`: the records from `seq` were appended (cursors can see
/// them) but could not be synced. Durability can no longer be promised, so
/// the log is closed with an error status, and the append reports
/// [`AppendError::SyncFailed`] (not `Io`, which means nothing was appended:
/// a caller that retried on this one would append the records twice).
#[cfg(not(fanlog_loom))]
#[cold]
fn sync_failed(shared: &Arc<Shared>, seq: u64, e: std::io::Error) -> AppendError {
    let msg: Arc<str> = format!(
        "the records from {seq} were appended but msync failed ({e}); the log is closed because its durability can no longer be promised"
    )
    .into();
    shared.close_internal(crate::CloseStatus::error(
        e.raw_os_error().unwrap_or(libc::EIO),
        msg.clone(),
    ));
    AppendError::SyncFailed {
        first_seq: seq,
        message: msg,
    }
}

/// Test hooks: a producer thread can be "preempted" between its reservation
/// and its writes.
#[cfg(all(test, not(fanlog_loom)))]
pub(crate) mod test_hooks {
    use std::cell::RefCell;

    thread_local! {
        /// Called by this thread's appends after reserving, before writing.
        pub(crate) static PAUSE_IN_WRITE: RefCell<Option<Box<dyn FnMut()>>> =
            RefCell::new(None);
        /// `EveryBatch`: this thread's syncs fail with this errno instead
        /// of calling `msync` (a failing disk cannot be had in a test).
        pub(crate) static FAIL_SYNC: std::cell::Cell<Option<i32>> =
            const { std::cell::Cell::new(None) };
    }
}
