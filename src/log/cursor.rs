//! Cursors: one reader's position in the log, zero-copy reads, waits.

use super::frame::{commit_value, frame_len_h, KIND_AT, LEN_AT, TIME_AT};
use super::segment::{closed_link, unpack, Segment};
use super::{Handle, Shared, WaitStrategy};
use crate::error::{CloseStatus, RecvError, StartError};
use crate::sync::Ordering;
use crate::wait::{backoff, Deadline, Interrupt, ReadinessFd, WakeTarget, Waker};
use crossbeam_epoch as epoch;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Where a new cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the oldest retained record.
    Earliest,
    /// At the next record to be appended (sees nothing older).
    Latest,
    /// At sequence number `seq`, which must be retained or be the next one
    /// to be appended; otherwise [`StartError`]. Finding it scans one
    /// segment's frames.
    At(u64),
}

/// One committed record, borrowed from the log without copying.
///
/// The borrow ties it to the cursor that read it: the bytes stay valid (and
/// immutable) until the cursor is used again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    seq: u64,
    kind: u32,
    time: u64,
    data: &'a [u8],
}

impl<'a> Record<'a> {
    /// Gap-free sequence number (global append order, from 0).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The application-defined kind given at append time (0 by default).
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// Append time in ns since the Unix epoch, per the log's
    /// [`Timestamps`](crate::Timestamps) setting (0 when off).
    pub fn timestamp_ns(&self) -> u64 {
        self.time
    }

    /// The payload.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("timestamp_ns", &self.time)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Counters of one [`Cursor`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CursorStats {
    /// Records read.
    pub records_read: u64,
    /// Payload bytes read.
    pub bytes_read: u64,
    /// Records missed (summed `Lagged` reports).
    pub records_missed: u64,
    /// Sequence number of the next record this cursor will read.
    pub position: u64,
    /// Records appended but not yet read by this cursor.
    pub lag: u64,
    /// When this cursor last returned records (ns since the Unix epoch,
    /// coarse clock; set when a batch read returns and at least every 64
    /// single reads; 0 = never).
    pub last_read_ns: u64,
}

/// What other threads can reach of a cursor: its interrupt and its fd.
struct CursorWake {
    interrupt: Interrupt,
    shared: Arc<Shared>,
    fd: OnceLock<Arc<ReadinessFd>>,
}

impl WakeTarget for CursorWake {
    fn interrupt(&self) {
        self.interrupt.raise();
        self.shared.readers.wake_all();
        if let Some(fd) = self.fd.get() {
            self.shared.fire_fd(fd);
        }
    }
}

/// One reader's independent position in a [`Log`](crate::Log).
///
/// Every cursor sees every retained record in sequence order. Reads take no
/// lock and write nothing shared except when the cursor moves from one
/// segment to the next. A cursor holds a lease on the segment it reads, so
/// the log keeps that segment (under `Block` and `Reject` it also keeps
/// everything after it); dropping the cursor releases it at once.
///
/// Methods and what they return:
///
/// | method | waits | errors |
/// |---|---|---|
/// | [`try_next`](Self::try_next), [`try_next_batch`](Self::try_next_batch) | never | `Empty`, `Lagged`, `Closed` |
/// | [`next_timeout`](Self::next_timeout), [`next_batch_timeout`](Self::next_batch_timeout) | up to the timeout | `Timeout`, `Interrupted`, `Lagged`, `Closed` |
/// | [`next`](Self::next), [`next_batch`](Self::next_batch) | until data | `Interrupted`, `Lagged`, `Closed` |
pub struct Cursor {
    shared: Handle,
    /// The leased segment we read.
    seg: *const Segment,
    /// Byte offset of the next frame in `seg`.
    off: usize,
    /// Slot index of the next frame in `seg`.
    idx: u64,
    /// Sequence number of the next record (`seg.base + idx`).
    seq: u64,
    /// Interrupt and readiness fd, reachable by wakers.
    wake: Arc<CursorWake>,
    /// Local counters.
    stats: CursorStats,
    /// Records missed (`Lagged`) but not yet reported to the caller.
    pending_lag: u64,
    /// The cursor entered `seg` at its first frame, so reaching the sealed
    /// end means it saw every frame committed (see `Segment::read_through`).
    from_start: bool,
    /// Durable logs: the named cursor's slot and auto-commit flag.
    #[cfg(not(fanlog_loom))]
    named: Option<crate::store::NamedCursor>,
}

// SAFETY: the raw segment pointer is a lease owned by this cursor; the
// segment is `Sync`, and the lease keeps it alive whichever thread holds it.
unsafe impl Send for Cursor {}
// SAFETY: every method that touches the position takes `&mut self`.
unsafe impl Sync for Cursor {}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("position", &self.seq)
            .finish_non_exhaustive()
    }
}

/// Records available now in the current segment, read one by one without
/// copying; returned by the batch reads. Each record stays valid as long as
/// the batch's borrow of the cursor lives. Dropping the batch early leaves
/// the unread records for the next read.
pub struct Batch<'a> {
    cursor: &'a mut Cursor,
    left: usize,
    /// The cursor's segment, which it leases and which a batch never
    /// leaves: valid for `'a`.
    seg: &'a Segment,
    /// The log's frame header size.
    hdr: usize,
    /// The segment's reads are checked (durable frames): every record takes
    /// the cursor's checking path instead of the loop below.
    checked: bool,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("position", &self.cursor.seq)
            .field("left", &self.left)
            .finish()
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = Record<'a>;

    /// The loop of every batch read. It keeps what it needs (segment,
    /// header size, whether reads are checked) in the batch instead of
    /// reloading it from the cursor and the log for each record, and leaves
    /// the clock to the batch's start (`Cursor::batch`). Under callgrind
    /// (`examples/per_record_cost`) an 8-byte record took 50 instructions
    /// through `take_committed` and takes 42 here, its check included.
    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        if self.left == 0 {
            return None;
        }
        if self.checked {
            let r = self.cursor.take_committed()?;
            self.left -= 1;
            // SAFETY: the record points into the segment leased by the
            // cursor, which this batch borrows mutably for 'a, and a batch
            // never moves the cursor to another segment; so the bytes live
            // and stay unchanged for 'a.
            return Some(unsafe { std::mem::transmute::<Record<'_>, Record<'a>>(r) });
        }
        let (seg, hdr) = (self.seg, self.hdr);
        let c = &mut *self.cursor;
        let off = c.off;
        if off + hdr > seg.size() {
            return None;
        }
        // Acquire: pairs with the producer's Release store in `write_frame`.
        if seg.data.commit_word(off).load(Ordering::Acquire) != commit_value(c.seq) {
            return None;
        }
        // SAFETY: committed (Acquire above), in an unchecked segment that
        // the cursor's lease keeps alive for 'a (see `seg`).
        let (rec, flen) = unsafe { committed_frame(seg, hdr, off, c.seq) };
        // The clock (`last_read_ns`) was read when the batch was made.
        c.advance(flen, rec.data.len());
        self.left -= 1;
        Some(rec)
    }
}

/// The record in the committed frame at `off` of `seg` and the frame's
/// length: what single and batch reads return once they have seen the
/// frame's commit word.
///
/// # Safety
/// The commit word at `off` equals `commit_value(seq)`, loaded with
/// Acquire; if the segment's reads are checked, the frame passed the check;
/// and `seg` stays alive and in this life for `'s`.
#[inline(always)]
unsafe fn committed_frame<'s>(
    seg: &'s Segment,
    hdr: usize,
    off: usize,
    seq: u64,
) -> (Record<'s>, usize) {
    seg.data.track_read(off);
    let p = seg.data.at(off);
    // SAFETY: by the caller's contract the header and payload were fully
    // written before the commit and are never written again in this life of
    // the segment, which lives for 's. `p` is 8-aligned; the length was
    // validated at append time to fit (and by the CRC check for segments
    // read from disk), so `len` bytes of payload follow the header.
    unsafe {
        let len = (p.add(LEN_AT) as *const u32).read() as usize;
        let kind = (p.add(KIND_AT) as *const u32).read();
        let time = if hdr > TIME_AT {
            (p.add(TIME_AT) as *const u64).read()
        } else {
            0 // compact header: no timestamp
        };
        debug_assert!(off + hdr + len <= seg.size());
        let data = std::slice::from_raw_parts(p.add(hdr), len);
        (
            Record {
                seq,
                kind,
                time,
                data,
            },
            frame_len_h(hdr, len),
        )
    }
}

impl Cursor {
    pub(crate) fn open(shared: Handle, start: Start) -> Result<Cursor, StartError> {
        let guard = epoch::pin();
        let (seg, off, idx) = loop {
            let seg = match start {
                Start::Latest => shared.tail_segment(),
                Start::Earliest | Start::At(_) => shared.head_segment(),
            };
            // SAFETY: pinned, and `seg` was reachable (head or tail) at our
            // load: not recyclable before we unpin.
            let s = unsafe { &*seg };
            if !lease_validated(&shared, s) {
                crate::sync::spin_hint(); // the head is about to move
                continue;
            }
            match start {
                Start::Earliest => break (seg as *const Segment, 0, 0),
                Start::Latest => {
                    // Acquire: see the reservation state of this segment.
                    let (_, count, off) = unpack(s.tail.load(Ordering::Acquire));
                    if off <= s.size() as u64 {
                        break (seg as *const Segment, off as usize, count);
                    }
                    let count = loop {
                        if let Some(c) = s.sealed_count() {
                            break c;
                        }
                        crate::sync::spin_hint();
                    };
                    break (seg as *const Segment, s.size(), count);
                }
                Start::At(want) => match locate(&shared, seg, want, &guard)? {
                    Some(found) => break found,
                    None => continue,
                },
            }
        };
        // SAFETY: leased above.
        let base = unsafe { (*seg).base() };
        // Relaxed: a gauge.
        shared.cursors.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(CursorWake {
            interrupt: Interrupt::default(),
            shared: Arc::clone(&shared),
            fd: OnceLock::new(),
        });
        let seq = base + idx;
        Ok(Cursor {
            shared,
            seg,
            off,
            idx,
            seq,
            wake,
            stats: CursorStats {
                position: seq,
                ..Default::default()
            },
            pending_lag: 0,
            from_start: off == 0,
            #[cfg(not(fanlog_loom))]
            named: None,
        })
    }

    #[inline]
    fn segment(&self) -> &Segment {
        // SAFETY: the cursor holds a lease on `seg`, so it is not recycled.
        unsafe { &*self.seg }
    }

    /// If the frame at the position is committed, returns it and advances
    /// past it (never leaves the segment).
    #[inline]
    fn take_committed<'a>(&'a mut self) -> Option<Record<'a>> {
        let (rec, flen) = self.peek_frame()?;
        // SAFETY: detaches the record's lifetime from the `&self` borrow so
        // we can advance the position; the bytes live in the segment our
        // lease keeps alive and the caller's `&mut self` borrow (the
        // returned lifetime) prevents the cursor from leaving the segment.
        let rec: Record<'a> = unsafe { std::mem::transmute::<Record<'_>, Record<'a>>(rec) };
        self.advance(flen, rec.data.len());
        if self.stats.records_read & 63 == 0 {
            self.stats.last_read_ns = coarse_now();
        }
        Some(rec)
    }

    /// Moves past the record just returned (a frame of `flen` bytes with
    /// `len` bytes of payload) and counts it; single and batch reads share
    /// it.
    #[inline(always)]
    fn advance(&mut self, flen: usize, len: usize) {
        self.off += flen;
        self.idx += 1;
        self.seq += 1;
        self.stats.records_read += 1;
        self.stats.bytes_read += len as u64;
    }

    /// The committed record at the position, if any, and its frame length,
    /// without consuming it. In segments whose reads are checked (durable
    /// segments recovered without a scan, or followed from another
    /// process), a damaged frame is never returned (`poll` reports it).
    #[inline]
    fn peek_frame(&self) -> Option<(Record<'_>, usize)> {
        let seg = self.segment();
        let size = seg.size();
        let hdr = self.shared.hdr;
        if self.off + hdr > size {
            return None;
        }
        // Acquire: pairs with the producer's Release store in `write_frame`.
        let w = seg.data.commit_word(self.off).load(Ordering::Acquire);
        if w != commit_value(self.seq) {
            debug_assert!(
                w == 0 || seg.verify(),
                "commit word {w} at seq {}",
                self.seq
            );
            return None;
        }
        if seg.verify() && self.check_frame(seg).is_err() {
            return None;
        }
        // SAFETY: committed (Acquire above), checked if the segment's reads
        // are, and in the segment our lease keeps alive while `self` is
        // borrowed.
        Some(unsafe { committed_frame(seg, hdr, self.off, self.seq) })
    }

    /// Durable segments: checks the frame at the position (commit marker,
    /// length, CRC).
    #[cold]
    fn check_frame(&self, _seg: &Segment) -> Result<(), RecvError> {
        #[cfg(not(fanlog_loom))]
        if let Err(why) = crate::store::recover::check_frame(_seg, self.off, self.seq) {
            let path = _seg
                .file
                .as_ref()
                .map_or_else(String::new, |f| f.path.display().to_string());
            return Err(RecvError::Corrupt {
                seq: self.seq,
                detail: format!(
                    "{path}: offset {}: {why}",
                    crate::store::file::HEADER_PAGE + self.off
                )
                .into(),
            });
        }
        Ok(())
    }

    /// Waits until a record is at the position (C ABI: copy-out reads).
    pub(crate) fn wait_for(&mut self, deadline: Deadline) -> Result<(), RecvError> {
        self.wait_ready(deadline)
    }

    /// The record at the position without consuming it (after `wait_for`).
    pub(crate) fn peek(&self) -> Option<Record<'_>> {
        self.peek_frame().map(|(r, _)| r)
    }

    /// Consumes the record at the position (after `peek` returned it).
    pub(crate) fn skip(&mut self) {
        let _ = self.take_committed();
    }

    /// Makes sure a committed record is at the position, moving across
    /// segments as needed. `Err(Empty)` when caught up.
    fn poll(&mut self) -> Result<(), RecvError> {
        if self.pending_lag > 0 {
            return Err(RecvError::Lagged {
                missed: self.pending_lag,
            });
        }
        loop {
            let seg = self.segment();
            if self.off + self.shared.hdr <= seg.size() {
                // Acquire: as in `take_committed`.
                let w = seg.data.commit_word(self.off).load(Ordering::Acquire);
                if w == commit_value(self.seq) {
                    if seg.verify() {
                        self.check_frame(seg)?;
                    }
                    return Ok(());
                }
                if w != 0 && seg.verify() {
                    self.check_frame(seg)?;
                }
            }
            if seg.sealed_count() == Some(self.idx) {
                self.leave_segment()?;
                continue;
            }
            // Acquire: pairs with the Release store in `close`; then
            // `final_seq` and `status` are visible.
            if self.shared.closed.load(Ordering::Acquire)
                && self.seq >= self.shared.final_seq.load(Ordering::Relaxed)
            {
                return Err(RecvError::Closed(self.shared.close_status()));
            }
            return Err(RecvError::Empty);
        }
    }

    /// At the sealed end of the current segment: lease the successor (or,
    /// if our segment was evicted, the head, reporting `Lagged`), release the
    /// current one.
    #[cold]
    fn leave_segment(&mut self) -> Result<(), RecvError> {
        let shared = self.shared.clone();
        let guard = epoch::pin();
        let cur = self.segment();
        let mut successor = None;
        if !cur.is_unlinked() {
            // `cur` was still linked after we pinned, so its successor cannot
            // be retired before we unpin, even if it is evicted meanwhile.
            // Acquire pairs with the linker's Release CAS.
            let n = cur.next.load(Ordering::Acquire);
            if n.is_null() || n == closed_link() {
                // Not linked yet, or the log closed exactly here.
                if n == closed_link() && shared.closed.load(Ordering::Acquire) {
                    return Err(RecvError::Closed(shared.close_status()));
                }
                return Err(RecvError::Empty);
            }
            // SAFETY: see above.
            if unsafe { (*n).lease() } {
                successor = Some((n as *const Segment, 0));
            } else {
                shared.drop_lease(n, false); // evicted meanwhile
            }
        }
        let (next, missed) = match successor {
            Some(s) => s,
            // Our segment (or its successor) was evicted: continue at the head.
            None => loop {
                let h = shared.head_segment();
                // SAFETY: pinned, and `h` was the head at our load.
                let hs = unsafe { &*h };
                if lease_validated(&shared, hs) {
                    break (h as *const Segment, hs.base().saturating_sub(self.seq));
                }
                // The evictor set `UNLINKED` but has not moved the head yet
                // (found by the loom model `reclaim_vs_slow_reader`).
                crate::sync::spin_hint();
            },
        };
        if self.from_start {
            // Release: our Acquire loads of every commit word in `cur`
            // happen before the recycler's Acquire load of the flag.
            cur.read_through.store(true, Ordering::Release);
        }
        let old = self.seg;
        self.seg = next;
        self.off = 0;
        self.from_start = true;
        self.idx = 0;
        // SAFETY: leased just above.
        self.seq = unsafe { (*next).base() };
        shared.drop_lease(old, true);
        shared.try_reclaim(&guard, false);
        shared.space.notify();
        if missed > 0 {
            self.stats.records_missed += missed;
            // Relaxed: a statistic.
            shared.records_missed.fetch_add(missed, Ordering::Relaxed);
            // Kept until a read hands it to the caller: a `poll` whose
            // result is not returned (e.g. from `readiness_fd`) must not
            // swallow it.
            self.pending_lag += missed;
            return Err(RecvError::Lagged {
                missed: self.pending_lag,
            });
        }
        Ok(())
    }

    /// Waits (per the log's wait strategy) until a record is available, the
    /// deadline passes, or the wait is interrupted.
    fn wait_ready(&mut self, deadline: Deadline) -> Result<(), RecvError> {
        let r = self.wait_ready_inner(deadline);
        if let Err(RecvError::Lagged { .. }) = r {
            self.pending_lag = 0; // reported now
        }
        r
    }

    fn wait_ready_inner(&mut self, deadline: Deadline) -> Result<(), RecvError> {
        let mut round = 0u32;
        loop {
            match self.poll() {
                Err(RecvError::Empty) => {}
                other => return other,
            }
            if self.wake.interrupt.take() {
                return Err(RecvError::Interrupted);
            }
            if deadline == Deadline::Now || deadline.expired() {
                if self.rearm_fd()? {
                    return Ok(());
                }
                return Err(if deadline == Deadline::Now {
                    RecvError::Empty
                } else {
                    RecvError::Timeout
                });
            }
            if self.shared.config.wait == WaitStrategy::Spin || backoff(round) {
                round = round.saturating_add(1);
                crate::sync::spin_hint();
                continue;
            }
            let readers = &self.shared.readers;
            let key = readers.prepare();
            let ready =
                !matches!(self.poll(), Err(RecvError::Empty)) || self.wake.interrupt.is_raised();
            if !ready {
                self.shared.readers.wait(key, deadline);
            }
            self.shared.readers.finish();
        }
    }

    /// With a readiness fd: about to report "nothing" — re-arm it. If
    /// something raced in meanwhile, fire the fd again and return
    /// `Ok(true)` (data ready) or that error.
    #[inline]
    fn rearm_fd(&mut self) -> Result<bool, RecvError> {
        let Some(fd) = self.wake.fd.get().cloned() else {
            return Ok(false);
        };
        self.shared.arm_fd(&fd);
        match self.poll() {
            Err(RecvError::Empty) => {
                // An interrupt raised after our last check may have had its
                // signal drained by `arm_fd`: keep the fd readable for it.
                if self.wake.interrupt.is_raised() {
                    self.shared.fire_fd(&fd);
                }
                Ok(false)
            }
            other => {
                self.shared.fire_fd(&fd);
                other.map(|()| true)
            }
        }
    }

    fn read_one(&mut self, deadline: Deadline) -> Result<Record<'_>, RecvError> {
        #[cfg(not(fanlog_loom))]
        self.auto_commit();
        self.wait_ready(deadline)?;
        Ok(self.take_committed().expect("poll found a committed frame"))
    }

    /// The next record if one is available now.
    ///
    /// # Errors
    /// `Empty` (caught up), `Lagged` (once, after records were dropped),
    /// `Closed` (drained after close; again on every later call),
    /// `Interrupted` (a [`Waker`] interrupted this cursor since its last
    /// wait: the interrupt is reported, and consumed, by the next read).
    #[inline]
    pub fn try_next(&mut self) -> Result<Record<'_>, RecvError> {
        if self.pending_lag == 0 && self.take_committed_peek() {
            #[cfg(not(fanlog_loom))]
            self.auto_commit();
            return Ok(self.take_committed().expect("peeked"));
        }
        self.read_one(Deadline::Now)
    }

    #[inline]
    fn take_committed_peek(&self) -> bool {
        self.peek_frame().is_some()
    }

    /// The next record, waiting for it as long as it takes.
    ///
    /// # Errors
    /// `Interrupted` (through a [`Waker`]), `Lagged`, `Closed`.
    #[allow(clippy::should_implement_trait)] // a blocking read, not an iterator
    pub fn next(&mut self) -> Result<Record<'_>, RecvError> {
        self.read_one(Deadline::Never)
    }

    /// The next record, waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Lagged`, `Closed`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Record<'_>, RecvError> {
        self.read_one(Deadline::after(timeout))
    }

    /// Up to `max` records available now (at least one), without waiting.
    /// One batch never spans two segments, so it may hold fewer records than
    /// are available; call again.
    ///
    /// # Errors
    /// As [`try_next`](Self::try_next).
    pub fn try_next_batch(&mut self, max: usize) -> Result<Batch<'_>, RecvError> {
        self.batch(max, Deadline::Now)
    }

    /// Like [`try_next_batch`](Self::try_next_batch), waiting for the first
    /// record as long as it takes.
    ///
    /// # Errors
    /// As [`next`](Self::next).
    pub fn next_batch(&mut self, max: usize) -> Result<Batch<'_>, RecvError> {
        self.batch(max, Deadline::Never)
    }

    /// Like [`try_next_batch`](Self::try_next_batch), waiting at most
    /// `timeout` for the first record.
    ///
    /// # Errors
    /// As [`next_timeout`](Self::next_timeout).
    pub fn next_batch_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Batch<'_>, RecvError> {
        self.batch(max, Deadline::after(timeout))
    }

    /// Batch read with an explicit deadline (C ABI).
    pub(crate) fn next_batch_deadline(
        &mut self,
        max: usize,
        deadline: Deadline,
    ) -> Result<Batch<'_>, RecvError> {
        self.batch(max, deadline)
    }

    fn batch(&mut self, max: usize, deadline: Deadline) -> Result<Batch<'_>, RecvError> {
        #[cfg(not(fanlog_loom))]
        self.auto_commit();
        if max > 0 {
            self.wait_ready(deadline)?;
            self.stats.last_read_ns = coarse_now();
        }
        // SAFETY: the cursor leases `seg`; the batch borrows the cursor
        // mutably for its whole life and never moves it to another segment,
        // so the segment stays leased (alive) as long as the reference.
        let seg: &Segment = unsafe { &*self.seg };
        Ok(Batch {
            hdr: self.shared.hdr,
            checked: seg.verify(),
            seg,
            cursor: self,
            left: max,
        })
    }

    /// A handle that interrupts this cursor's blocking reads from another
    /// thread (see [`Waker`]).
    pub fn waker(&self) -> Waker {
        Waker {
            target: self.wake.clone(),
        }
    }

    /// A readiness file descriptor (Linux eventfd) for `poll`/`epoll`: it is
    /// readable whenever this cursor has something to return (a record,
    /// `Lagged` or `Closed`) or was interrupted. It may also be readable
    /// spuriously; a non-blocking read that returns `Empty` re-arms it.
    /// Use it as: wait for readable, then call [`try_next`](Self::try_next)
    /// until `Empty`. Do not read from or close the fd; it is owned by the
    /// cursor and closed when the cursor is dropped. Producers pay for it
    /// only while it is armed.
    pub fn readiness_fd(&mut self) -> std::io::Result<std::os::fd::RawFd> {
        if let Some(fd) = self.wake.fd.get() {
            return Ok(fd.raw());
        }
        let fd = Arc::new(ReadinessFd::new()?);
        let _ = self.wake.fd.set(fd.clone());
        self.shared.register_fd(&fd);
        // Establish the level: readable iff something is there now.
        match self.poll() {
            Err(RecvError::Empty) => {
                self.shared.arm_fd(&fd);
                if !matches!(self.poll(), Err(RecvError::Empty)) {
                    self.shared.fire_fd(&fd);
                }
            }
            _ => self.shared.fire_fd(&fd),
        }
        Ok(fd.raw())
    }

    /// The log's close status, once it is closed.
    pub fn close_status(&self) -> Option<CloseStatus> {
        // Acquire: pairs with the Release store in `close`.
        self.shared
            .closed
            .load(Ordering::Acquire)
            .then(|| self.shared.close_status())
    }

    /// Sequence number of the next record this cursor will return.
    pub fn position(&self) -> u64 {
        self.seq
    }

    /// This cursor's counters (position, lag behind the tail, ...).
    pub fn stats(&self) -> CursorStats {
        let next = self.shared.next_seq_and_bytes().0;
        CursorStats {
            position: self.seq,
            lag: next.saturating_sub(self.seq),
            ..self.stats.clone()
        }
    }
}

/// Named durable cursors (see [`Log::cursor_named`](crate::Log::cursor_named)).
#[cfg(not(fanlog_loom))]
impl Cursor {
    pub(crate) fn attach_named(&mut self, named: crate::store::NamedCursor, lag: u64) {
        self.named = Some(named);
        if lag > 0 {
            self.stats.records_missed += lag;
            self.pending_lag += lag;
        }
    }

    /// Named cursors: records that everything up to and including `seq`
    /// is processed; after a restart, [`Log::cursor_named`](crate::Log::cursor_named)
    /// resumes at `seq + 1`. One atomic store into a shared mapping: it
    /// survives a crash of this process at once, and power loss after the
    /// next [`Log::flush`](crate::Log::flush) (or sync interval).
    ///
    /// # Errors
    /// [`StoreError::NotNamed`](crate::StoreError::NotNamed),
    /// [`StoreError::NotRead`](crate::StoreError::NotRead) (`seq` is at or
    /// past the cursor's position).
    pub fn commit(&mut self, seq: u64) -> Result<(), crate::StoreError> {
        let Some(n) = &self.named else {
            return Err(crate::StoreError::NotNamed);
        };
        if seq >= self.seq {
            return Err(crate::StoreError::NotRead {
                seq,
                position: self.seq,
            });
        }
        n.slot.store(seq + 1);
        // Producers blocked by this cursor's retention may go on.
        self.shared.space.notify();
        Ok(())
    }

    /// Named cursors: commits everything returned so far (up to
    /// [`position`](Self::position) - 1).
    ///
    /// # Errors
    /// [`StoreError::NotNamed`](crate::StoreError::NotNamed).
    pub fn commit_position(&mut self) -> Result<(), crate::StoreError> {
        let Some(n) = &self.named else {
            return Err(crate::StoreError::NotNamed);
        };
        n.slot.store(self.seq);
        self.shared.space.notify();
        Ok(())
    }

    /// Named cursors: the committed position (the next sequence number a
    /// restarted cursor reads); `None` if the cursor has no name. A new name
    /// commits its start position when it is first opened (so retention
    /// holds from there), so a named cursor always has one.
    pub fn committed(&self) -> Option<u64> {
        self.named.as_ref().and_then(|n| n.slot.next())
    }

    /// Named cursors: commit automatically. Each read call first commits
    /// every record returned by earlier calls, and dropping the cursor
    /// commits everything returned (at-least-once delivery: a record is
    /// committed once you ask for the next one). No effect without a name.
    pub fn set_auto_commit(&mut self, on: bool) {
        if let Some(n) = &mut self.named {
            n.auto_commit = on;
        }
    }

    /// The cursor's name, for named cursors.
    pub fn name(&self) -> Option<&str> {
        self.named.as_ref().map(|n| n.slot.name.as_str())
    }

    #[inline]
    fn auto_commit(&self) {
        if let Some(n) = &self.named {
            if n.auto_commit {
                n.slot.store(self.seq);
            }
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        #[cfg(not(fanlog_loom))]
        self.auto_commit();
        let shared = self.shared.clone();
        if let Some(fd) = self.wake.fd.get() {
            shared.unregister_fd(fd);
        }
        let guard = epoch::pin();
        shared.drop_lease(self.seg, true);
        // Relaxed: a gauge.
        shared.cursors.fetch_sub(1, Ordering::Relaxed);
        shared.try_reclaim(&guard, false);
        shared.space.notify();
    }
}

/// Leases `seg` (found through the list while pinned); `false` (lease
/// dropped again) if it had been unlinked meanwhile.
fn lease_validated(shared: &Shared, seg: &Segment) -> bool {
    if seg.lease() {
        return true;
    }
    shared.drop_lease(seg, false);
    false
}

/// Finds `want` starting from the leased segment `seg`; returns the leased
/// segment, offset and index of the record, or an error (lease dropped).
fn locate(
    shared: &Arc<Shared>,
    mut seg: *mut Segment,
    want: u64,
    _guard: &epoch::Guard,
) -> Result<Option<(*const Segment, usize, u64)>, StartError> {
    loop {
        // SAFETY: `seg` is leased by us.
        let s = unsafe { &*seg };
        let base = s.base();
        let drop_lease = |p: *mut Segment| shared.drop_lease(p, true);
        if want < base {
            drop_lease(seg);
            return Err(StartError::Evicted {
                requested: want,
                oldest: base,
            });
        }
        // Acquire: see the reservation state.
        let (_, count, off) = unpack(s.tail.load(Ordering::Acquire));
        let end = match s.sealed_count() {
            Some(c) => base + c,
            None if off <= s.size() as u64 => base + count,
            None => {
                crate::sync::spin_hint();
                continue;
            }
        };
        if want < end || (want == end && s.sealed_count().is_none()) {
            // Scan frames from the start of the segment.
            let mut o = 0usize;
            for i in 0..(want - base) {
                #[cfg(not(fanlog_loom))]
                if s.verify() {
                    // Frames read from disk: walk them checked; stop at a
                    // damaged one (the first read reports it). A frame
                    // still being written (commit word 0) is waited for.
                    loop {
                        match crate::store::recover::check_frame(s, o, base + i) {
                            Ok(flen) => {
                                o += flen;
                                break;
                            }
                            // Relaxed: only tells "in flight" from "damaged";
                            // `check_frame` re-reads it with Acquire.
                            Err(_) if s.data.commit_word(o).load(Ordering::Relaxed) == 0 => {
                                crate::sync::yield_now();
                            }
                            Err(_) => return Ok(Some((seg as *const Segment, o, i))),
                        }
                    }
                    continue;
                }
                let w = s.data.commit_word(o);
                // Acquire: as in `take_committed`; a reserved frame is
                // committed shortly (producers cannot fail in between).
                while w.load(Ordering::Acquire) != commit_value(base + i) {
                    crate::sync::yield_now();
                }
                // SAFETY: committed frame; the length field is immutable.
                let len = unsafe { (s.data.at(o).add(LEN_AT) as *const u32).read() } as usize;
                o += frame_len_h(shared.hdr, len);
            }
            return Ok(Some((seg as *const Segment, o, want - base)));
        }
        // Move to the successor (sealed segment).
        // Acquire: pairs with the linker's Release CAS.
        let n = s.next.load(Ordering::Acquire);
        if n.is_null() || n == closed_link() {
            if want == end {
                // Start exactly at the sealed end: position past the last
                // frame; the cursor moves on when the successor is linked.
                return Ok(Some((seg as *const Segment, s.size(), want - base)));
            }
            drop_lease(seg);
            return Err(StartError::Future {
                requested: want,
                next: end,
            });
        }
        // SAFETY: pinned (caller), and `s` is leased; if it is still linked
        // `n` cannot be retired before we unpin.
        if s.is_unlinked() || !unsafe { (*n).lease() } {
            if !s.is_unlinked() {
                shared.drop_lease(n, false);
            }
            drop_lease(seg);
            return Ok(None); // evicted under us: start over from the head
        }
        drop_lease(seg);
        seg = n;
    }
}

fn coarse_now() -> u64 {
    if cfg!(miri) {
        return 0;
    }
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; vDSO call without other effects.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut t) };
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}
