//! Segments: fixed-size regions of frames, their reservation word, their
//! lease count, and the memory behind them.
//!
//! # The reservation word (`Segment::tail`)
//!
//! One `u64`, changed only by `fetch_add` (appends) and `fetch_or` (close):
//!
//! ```text
//!  63     62 ........... 40  39 ........................ 0
//! [CLOSED][ record count   ][ byte offset of the next frame ]
//! ```
//!
//! * `OFFSET` (bits 0..40): bytes reserved so far. A reservation of `n`
//!   frames totalling `b` bytes adds `n << COUNT_SHIFT | b`; it succeeded iff
//!   `old_offset + b <= segment size`. Offsets past the end are harmless:
//!   they only tell later producers that the segment is sealed.
//! * `COUNT` (bits 40..63): frames reserved so far; the reservation's first
//!   slot index is `old_count`, so sequence numbers follow byte order.
//! * `CLOSED` (bit 63): set by `Log::close`; a reservation whose old value
//!   has it fails with `Closed`. The close's own `fetch_or` therefore fixes
//!   the exact last sequence number.
//!
//! The first reservation that does not fit *seals* the segment: it stores
//! `SEALED | old_count` in `Segment::sealed` (every later reservation also
//! fails, since offsets only grow). Readers use the sealed count to know
//! that no frame follows.
//!
//! # The lease word (`Segment::state`)
//!
//! * bits 0..62: leases held by cursors (one per cursor, on the segment it is
//!   reading);
//! * `UNLINKED` (bit 62): the segment was removed from the list. Reclaim sets
//!   it with `compare_exchange(0, UNLINKED)`, so it can only unlink a segment
//!   nobody holds; `DropOldest` eviction sets it with `fetch_or` and learns
//!   how many cursors it orphaned. A lease whose `fetch_add` sees the bit
//!   already set is void (the taker drops it and looks elsewhere). Because
//!   lease and unlink are read-modify-writes of the same word, one of them
//!   always sees the other — no store-buffer window.
//! * `RETIRED` (bit 63): the segment's epoch grace period is over: no thread
//!   can reach it through the list any more (set by an epoch-deferred
//!   function).
//!
//! Whoever moves the word to `RETIRED | UNLINKED` with no leases recycles the
//! segment: the deferred retire when no lease is held, or else the release
//! of the last lease.

use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
use std::ptr;

/// Reservation word: the log was closed while this was the tail.
pub(crate) const CLOSED: u64 = 1 << 63;
/// Reservation word: shift of the record count.
pub(crate) const COUNT_SHIFT: u32 = 40;
/// Reservation word: mask of the byte offset.
pub(crate) const OFFSET_MASK: u64 = (1 << COUNT_SHIFT) - 1;
/// Reservation word: mask of the record count (after shifting).
pub(crate) const COUNT_MASK: u64 = (1 << (63 - COUNT_SHIFT)) - 1;

/// `Segment::sealed`: set once the final record count is known.
pub(crate) const SEALED: u64 = 1 << 63;

/// `Segment::state`: past its epoch grace period.
pub(crate) const RETIRED: u64 = 1 << 63;
/// `Segment::state`: removed from the list.
pub(crate) const UNLINKED: u64 = 1 << 62;
/// `Segment::state`: the lease count.
pub(crate) const LEASES: u64 = UNLINKED - 1;

/// The largest segment: keeps `COUNT` far from overflowing (every frame is
/// at least 24 bytes, so at most 2^27/24 < 2^23 frames per segment, with
/// room left for failed reservations; 16-byte compact frames are only used
/// in segments of at most half this size).
pub(crate) const MAX_SEGMENT_SIZE: usize = 1 << 27;

/// Unpacks a reservation word into `(closed, count, offset)`.
#[inline]
pub(crate) fn unpack(word: u64) -> (bool, u64, u64) {
    (
        word & CLOSED != 0,
        (word >> COUNT_SHIFT) & COUNT_MASK,
        word & OFFSET_MASK,
    )
}

/// `next` value meaning "the log was closed here: no successor, ever".
#[inline]
pub(crate) fn closed_link() -> *mut Segment {
    ptr::dangling_mut::<Segment>()
}

/// Where a segment's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Anonymous memory maps (memmap2); the default.
    Mmap,
    /// Aligned heap blocks (used under Miri, which cannot mmap).
    Heap,
}

/// The bytes of one segment.
pub(crate) struct Storage {
    /// Base address, 64-byte aligned (page aligned for maps).
    ptr: *mut u8,
    /// Size in bytes.
    len: usize,
    /// Keeps the map alive (unmapped on drop).
    _map: Option<MapHold>,
    /// Under loom: the commit words live here (loom atomics cannot be placed
    /// in raw bytes), one per 8-byte slot.
    #[cfg(fanlog_loom)]
    words: Box<[AtomicU64]>,
    /// Under loom: a tracked cell per 8-byte slot, touched by the frame's
    /// writer (`with_mut`) and readers (`with`), so loom reports a read that
    /// is not ordered after the write.
    #[cfg(fanlog_loom)]
    shadow: Box<[crate::sync::UnsafeCell<()>]>,
}

// SAFETY: `Storage` owns its memory exclusively (the raw pointer is a
// handle to memory it allocated); concurrent access to the bytes is governed
// by the frame protocol (reserve, write, Release commit; Acquire read).
unsafe impl Send for Storage {}
// SAFETY: as above; shared access only goes through atomics (commit words)
// or bytes that the protocol makes immutable once committed.
unsafe impl Sync for Storage {}

const HEAP_ALIGN: usize = 64;

/// What keeps a segment's memory mapped.
pub(crate) enum MapHold {
    /// Anonymous memory.
    Anon(#[allow(dead_code)] memmap2::MmapMut),
    /// A segment file (durable logs), header page included.
    #[cfg(not(fanlog_loom))]
    File(#[allow(dead_code)] memmap2::MmapRaw),
}

impl Storage {
    /// Allocates `len` zeroed bytes.
    pub(crate) fn new(len: usize, memory: Memory) -> std::io::Result<Self> {
        let (ptr, map) = match memory {
            Memory::Mmap if !cfg!(miri) => {
                let mut map = memmap2::MmapOptions::new().len(len).map_anon()?;
                (map.as_mut_ptr(), Some(MapHold::Anon(map)))
            }
            _ => {
                let layout = std::alloc::Layout::from_size_align(len, HEAP_ALIGN)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                // SAFETY: `len` > 0 (segment sizes are at least 256 bytes).
                let p = unsafe { std::alloc::alloc_zeroed(layout) };
                if p.is_null() {
                    return Err(std::io::Error::from(std::io::ErrorKind::OutOfMemory));
                }
                (p, None)
            }
        };
        Ok(Self {
            ptr,
            len,
            _map: map,
            #[cfg(fanlog_loom)]
            words: (0..len / 8).map(|_| AtomicU64::new(0)).collect(),
            #[cfg(fanlog_loom)]
            shadow: (0..len / 8)
                .map(|_| crate::sync::UnsafeCell::new(()))
                .collect(),
        })
    }

    /// The frames of a mapped segment file: `len` bytes at `offset` into
    /// `map` (whose mapping must be at least `offset + len` bytes). A
    /// read-only map must never be written (read-only logs never append).
    #[cfg(not(fanlog_loom))]
    pub(crate) fn from_file_map(map: memmap2::MmapRaw, offset: usize, len: usize) -> Self {
        assert!(offset + len <= map.len() && offset % 4096 == 0);
        // SAFETY: in bounds (asserted); the map lives in `_map` as long as
        // `self`.
        let ptr = unsafe { map.as_mut_ptr().add(offset) };
        Self {
            ptr,
            len,
            _map: Some(MapHold::File(map)),
        }
    }

    /// The whole mapping of a segment file (header page included), if any.
    #[cfg(not(fanlog_loom))]
    pub(crate) fn file_map(&self) -> Option<&memmap2::MmapRaw> {
        match &self._map {
            Some(MapHold::File(m)) => Some(m),
            _ => None,
        }
    }

    /// The commit word of the frame at `off`.
    #[inline]
    pub(crate) fn commit_word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.len);
        #[cfg(fanlog_loom)]
        {
            &self.words[off / 8]
        }
        #[cfg(not(fanlog_loom))]
        // SAFETY: `off` is 8-aligned and `off + 8 <= len` (frames are only
        // placed where a whole header fits), the base is at least 64-byte
        // aligned, and the memory lives as long as `self`. These 8 bytes are
        // only ever accessed atomically while they serve as a commit word in
        // this life of the segment; earlier non-atomic writes to them (payload
        // of a previous life) happen-before via the recycle/zero path.
        unsafe {
            &*(self.ptr.add(off) as *const AtomicU64)
        }
    }

    /// Raw pointer to byte `off`.
    #[inline]
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.len);
        // SAFETY: `off <= len`, so the result stays inside (or one past) the
        // allocation.
        unsafe { self.ptr.add(off) }
    }

    /// Loom bookkeeping: the writer of the frame at `off` is writing it.
    #[inline]
    pub(crate) fn track_write(&self, _off: usize) {
        #[cfg(fanlog_loom)]
        self.shadow[_off / 8].with_mut(|_| ());
    }

    /// Loom bookkeeping: a reader reads the frame at `off`.
    #[inline]
    pub(crate) fn track_read(&self, _off: usize) {
        #[cfg(fanlog_loom)]
        self.shadow[_off / 8].with(|_| ());
    }

    /// Gives the memory back to the kernel (anonymous maps: the pages read
    /// as zeros afterwards) or, for heap blocks, zeroes the first `used`
    /// bytes. The caller must have exclusive access to the bytes.
    pub(crate) fn release(&self, used: usize) {
        #[cfg(not(any(miri, fanlog_loom)))]
        if let Some(MapHold::Anon(_)) = &self._map {
            // SAFETY: `ptr..ptr+len` is our private anonymous mapping;
            // MADV_DONTNEED drops its pages (later reads see zeros) and
            // touches no Rust-visible object (nobody holds a reference to
            // these bytes: exclusive access is the caller's contract).
            let r = unsafe { libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED) };
            if r == 0 {
                return;
            }
        }
        self.zero(used);
    }

    /// Zeroes the first `used` bytes. The caller must have exclusive access.
    pub(crate) fn zero(&self, used: usize) {
        let used = used.min(self.len);
        // SAFETY: exclusive access is the caller's contract (the segment is
        // being recycled: unlinked, past its grace period, no leases), and
        // `used <= len`.
        unsafe { ptr::write_bytes(self.ptr, 0, used) };
        #[cfg(fanlog_loom)]
        {
            for w in self.words.iter() {
                w.store(0, Ordering::Relaxed);
            }
            for s in self.shadow.iter() {
                s.with_mut(|_| ());
            }
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self._map.is_none() {
            let layout = std::alloc::Layout::from_size_align(self.len, HEAP_ALIGN)
                .expect("layout was valid at allocation");
            // SAFETY: `ptr` was returned by `alloc_zeroed` with this layout
            // and is freed exactly once, here.
            unsafe { std::alloc::dealloc(self.ptr, layout) };
        }
    }
}

/// One segment of the log.
pub(crate) struct Segment {
    /// Reservation word (see the module docs); on its own cache line because
    /// every producer hits it and readers never do.
    pub(crate) tail: CachePadded<AtomicU64>,
    /// `SEALED | final record count` once sealed, `0` before.
    pub(crate) sealed: AtomicU64,
    /// Successor: null until linked, [`closed_link`] if the log closed here.
    pub(crate) next: AtomicPtr<Segment>,
    /// Sequence number of the first record (written before publication).
    pub(crate) base: AtomicU64,
    /// Lease count and `RETIRED` bit (see the module docs).
    pub(crate) state: AtomicU64,
    /// Next segment in the log's graveyard (segments kept, memory released).
    pub(crate) grave_next: AtomicPtr<Segment>,
    /// Set by a cursor that read this life from its first frame to its
    /// sealed end: every frame was committed, so the recycler need not wait
    /// for late writers (see [`wait_committed`](Self::wait_committed)).
    pub(crate) read_through: AtomicBool,
    /// The frames.
    pub(crate) data: Storage,
    /// Durable logs: the segment's file.
    #[cfg(not(fanlog_loom))]
    pub(crate) file: Option<crate::store::SegFile>,
}

impl Segment {
    /// A fresh, zeroed segment of `size` bytes starting at `base`.
    pub(crate) fn new(size: usize, memory: Memory, base: u64) -> std::io::Result<Box<Self>> {
        Ok(Box::new(Self {
            tail: CachePadded::new(AtomicU64::new(0)),
            sealed: AtomicU64::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            base: AtomicU64::new(base),
            state: AtomicU64::new(0),
            grave_next: AtomicPtr::new(ptr::null_mut()),
            read_through: AtomicBool::new(false),
            data: Storage::new(size, memory)?,
            #[cfg(not(fanlog_loom))]
            file: None,
        }))
    }

    /// A segment over a mapped segment file (durable logs).
    #[cfg(not(fanlog_loom))]
    pub(crate) fn from_file(data: Storage, file: crate::store::SegFile, base: u64) -> Box<Self> {
        Box::new(Self {
            tail: CachePadded::new(AtomicU64::new(0)),
            sealed: AtomicU64::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            base: AtomicU64::new(base),
            state: AtomicU64::new(0),
            grave_next: AtomicPtr::new(ptr::null_mut()),
            read_through: AtomicBool::new(false),
            data,
            file: Some(file),
        })
    }

    /// Whether reads must check each frame's CRC (durable segments that were
    /// recovered without a scan, or followed from another process).
    #[inline]
    pub(crate) fn verify(&self) -> bool {
        #[cfg(not(fanlog_loom))]
        {
            self.file.as_ref().is_some_and(|f| f.verify)
        }
        #[cfg(fanlog_loom)]
        {
            false
        }
    }

    /// Size in bytes.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.data.len
    }

    /// Sequence number of the first record. Relaxed: `base` is written
    /// before the segment is published with a Release store and read after
    /// the Acquire load that found it.
    #[inline]
    pub(crate) fn base(&self) -> u64 {
        self.base.load(Ordering::Relaxed)
    }

    /// The final record count, once sealed.
    #[inline]
    pub(crate) fn sealed_count(&self) -> Option<u64> {
        // Acquire: pairs with the sealer's Release store.
        let s = self.sealed.load(Ordering::Acquire);
        (s & SEALED != 0).then_some(s & !SEALED)
    }

    /// Prepares a recycled segment for a new life starting at `base`. The
    /// caller has exclusive access (it took the segment from the pool).
    pub(crate) fn reset(&self, base: u64) {
        // Relaxed: the segment is published afterwards with a Release store
        // (`next`, then the log's tail), which orders all of these for
        // producers and readers that find it through the list.
        self.sealed.store(0, Ordering::Relaxed);
        self.next.store(ptr::null_mut(), Ordering::Relaxed);
        self.base.store(base, Ordering::Relaxed);
        self.state.store(0, Ordering::Relaxed);
        self.read_through.store(false, Ordering::Relaxed);
        // Release, and last: a producer on the unpinned fast path may still
        // hold a pointer to this segment from its previous life; if its
        // reservation (an Acquire RMW) lands in the new life, it reads from
        // the release sequence headed by this store and so sees `base`.
        self.tail.store(0, Ordering::Release);
    }

    /// Waits until every frame reserved in this (sealed) life is committed:
    /// producers on the unpinned fast path do not hold the epoch, so a
    /// segment can be retired while one of them is still copying a payload
    /// into it. `hdr` is the log's frame header size.
    pub(crate) fn wait_committed(&self, hdr: usize) {
        // Acquire: pairs with the cursor's Release store; its Acquire loads
        // of every commit word, and so every producer's frame writes,
        // happen before our return. Without it the walk below took 15% of
        // all samples in a 1 -> 1 run (a serial chain of loads over lines
        // the other core last wrote).
        if self.read_through.load(Ordering::Acquire) {
            return;
        }
        let Some(count) = self.sealed_count() else {
            return;
        };
        let mut off = 0usize;
        for _ in 0..count {
            let w = self.data.commit_word(off);
            // Acquire: pairs with the producer's Release commit, so its
            // writes happen before whatever we do to the memory next.
            while w.load(Ordering::Acquire) == 0 {
                crate::sync::yield_now();
            }
            self.data.track_read(off);
            // SAFETY: the frame is committed: its length field is written
            // and immutable in this life; `off + 8 + 4 <= size`.
            let len = unsafe { (self.data.at(off).add(super::frame::LEN_AT) as *const u32).read() };
            off += super::frame::frame_len_h(hdr, len as usize);
        }
    }

    /// Bytes used in the life that is ending (for zeroing).
    pub(crate) fn used_bytes(&self) -> usize {
        // Relaxed: called with exclusive access after the grace period (the
        // recycler's pool push and the linker's pop carry it); stale failed
        // reservations may only make the value larger.
        let (_, _, off) = unpack(self.tail.load(Ordering::Relaxed));
        (off as usize).min(self.size())
    }

    /// Takes a lease; `false` if the segment was already unlinked, in
    /// which case the lease is void and the caller must call
    /// [`release`](Self::release) (ignoring orphan accounting). Only sound
    /// while the caller is epoch-pinned and found the segment through the
    /// list, or already holds a lease on it.
    #[inline]
    #[must_use]
    pub(crate) fn lease(&self) -> bool {
        // SeqCst: a read-modify-write ordered with `try_unlink`/`force_unlink`
        // on the same word; SeqCst also orders it with the epoch pin fence.
        self.state.fetch_add(1, Ordering::SeqCst) & UNLINKED == 0
    }

    /// Whether the segment has been unlinked.
    #[inline]
    pub(crate) fn is_unlinked(&self) -> bool {
        // SeqCst: checked by a pinned lease holder before following `next`
        // (see `Cursor::leave_segment`).
        self.state.load(Ordering::SeqCst) & UNLINKED != 0
    }

    /// Drops a lease. Returns `(recycle, orphan)`: `recycle` if the caller
    /// must recycle the segment (last lease of a retired segment), `orphan`
    /// if the segment had been unlinked while this lease was held.
    #[inline]
    #[must_use]
    pub(crate) fn release(&self) -> (bool, bool) {
        // AcqRel: the last releaser must see every other reader's accesses
        // (they released before it), and they must not be reordered after.
        let old = self.state.fetch_sub(1, Ordering::AcqRel);
        (old == RETIRED | UNLINKED | 1, old & UNLINKED != 0)
    }

    /// Unlinks the segment if nobody holds it; `true` on success.
    #[inline]
    pub(crate) fn try_unlink(&self) -> bool {
        // SeqCst: pairs with `lease` (same word).
        self.state
            .compare_exchange(0, UNLINKED, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// Unlinks the segment even if held; returns the leases it orphaned.
    #[inline]
    pub(crate) fn force_unlink(&self) -> u64 {
        // SeqCst: pairs with `lease` (same word).
        self.state.fetch_or(UNLINKED, Ordering::SeqCst) & LEASES
    }

    /// Marks the segment retired (after its grace period); `true` if the
    /// caller must recycle it (no lease was held).
    #[must_use]
    pub(crate) fn retire(&self) -> bool {
        // AcqRel: as in `release`.
        self.state.fetch_or(RETIRED, Ordering::AcqRel) & LEASES == 0
    }
}
