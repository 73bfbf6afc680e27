//! Segment files: naming, the header page, creation without sparse holes.
//!
//! ```text
//! {base:020}.seg  =  4096-byte header page  +  segment_size bytes of frames
//!
//! header page
//! offset  size  field
//!      0     8  magic "FANLOGSG"
//!      8     4  format version (1)
//!     12     4  header size (4096)
//!     16     8  segment size (bytes of frames)
//!     24     8  base sequence number (at most 2^62)
//!     32     8  creation time, ns since the Unix epoch
//!     40     4  CRC-32C of bytes 0..40
//!     64     8  sealed word: SEALED | record count, once the writer linked
//!               the successor (read by tailing processes; not trusted by
//!               recovery)
//!     72     8  closed word: final sequence + 1, once the writer closed the
//!               log in this segment (read by tailing processes)
//! ```
//!
//! A file is created under a temporary name, fully allocated with
//! `posix_fallocate` (a full disk fails here, with `ENOSPC`, instead of a
//! `SIGBUS` on a later write into a sparse hole), its header written, then
//! renamed to its final name: another process never sees a half-made file.
//! A writer keeps one such file ready, made by its background thread before
//! any base is known: `spare-{n}.seg.tmp`, allocated, mapped and prefaulted
//! (a zero written to each page; [`Spare`]). The linker takes it, writes the header for the real base
//! and renames it to `{base:020}.seg` (with the same syncs as a file made on
//! the spot, [`create_segment`], which it falls back to when no spare is
//! ready). Temporary names end in `.seg.tmp`: recovery deletes them on the
//! next writable open, whatever step a crash interrupted.

use super::crc::crc32c;
use crate::log::segment::{Segment, Storage};
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use std::fs::{File, OpenOptions as FsOpen};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Size of a segment file's header page.
pub(crate) const HEADER_PAGE: usize = 4096;
/// Segment file magic.
pub(crate) const SEG_MAGIC: &[u8; 8] = b"FANLOGSG";
/// Segment file format version.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Largest base sequence number a header may hold: far beyond any real
/// log, low enough that `seq + 1` (commit words) and `base + count` never
/// overflow for the records one segment can hold.
pub(crate) const MAX_BASE: u64 = 1 << 62;
pub(crate) const SEALED_AT: usize = 64;
const CLOSED_AT: usize = 72;

/// What a segment knows about its file.
pub(crate) struct SegFile {
    /// Path of the file.
    pub(crate) path: PathBuf,
    /// Reads must check each frame's CRC.
    pub(crate) verify: bool,
    /// The file may be deleted when the segment is unlinked or recycled
    /// (writer only).
    pub(crate) owned: bool,
    /// The file was deleted when the segment was unlinked from the log's
    /// head (see `Store::on_unlinked`); recycling only unmaps it.
    pub(crate) deleted: AtomicBool,
    /// When the segment was last written (ns since the epoch; for `max_age`).
    pub(crate) mtime_ns: AtomicU64,
}

/// The file name of the segment starting at `base`.
pub(crate) fn seg_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// Parses a segment file name.
pub(crate) fn parse_seg_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A parsed, checked header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) segment_size: u64,
    pub(crate) base: u64,
}

/// Encodes the first 44 bytes of a header.
pub(crate) fn encode_header(segment_size: u64, base: u64, created_ns: u64) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..8].copy_from_slice(SEG_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_PAGE as u32).to_le_bytes());
    h[16..24].copy_from_slice(&segment_size.to_le_bytes());
    h[24..32].copy_from_slice(&base.to_le_bytes());
    h[32..40].copy_from_slice(&created_ns.to_le_bytes());
    let c = crc32c(&h[0..40]);
    h[40..44].copy_from_slice(&c.to_le_bytes());
    h
}

/// Checks a header page; `Err(reason)` if it is not a valid header.
pub(crate) fn decode_header(page: &[u8]) -> Result<Header, String> {
    if page.len() < 44 {
        return Err("file shorter than its header".into());
    }
    if &page[0..8] != SEG_MAGIC {
        return Err("bad magic (not a fanlog segment file)".into());
    }
    let u32_at = |o: usize| u32::from_le_bytes(page[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(page[o..o + 8].try_into().expect("8 bytes"));
    if crc32c(&page[0..40]) != u32_at(40) {
        return Err("header CRC mismatch".into());
    }
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads version {FORMAT_VERSION}"
        ));
    }
    if u32_at(12) as usize != HEADER_PAGE {
        return Err(format!(
            "header size {}, expected {HEADER_PAGE}",
            u32_at(12)
        ));
    }
    let segment_size = u64_at(16);
    if !segment_size.is_power_of_two()
        || !(crate::MIN_SEGMENT_SIZE as u64..=crate::log::segment::MAX_SEGMENT_SIZE as u64)
            .contains(&segment_size)
    {
        return Err(format!("bad segment size {segment_size}"));
    }
    let base = u64_at(24);
    if base > MAX_BASE {
        return Err(format!(
            "base sequence {base} out of range (at most {MAX_BASE})"
        ));
    }
    Ok(Header { segment_size, base })
}

pub(crate) fn io_at(path: &Path, e: io::Error) -> super::StoreError {
    super::StoreError::Io {
        path: path.to_path_buf(),
        source: std::sync::Arc::new(e),
    }
}

/// `posix_fallocate` the whole file: blocks are reserved now, so a full
/// disk is an error here, never a `SIGBUS` later.
pub(crate) fn preallocate(f: &File, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we own; no memory is passed.
    let r = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len as libc::off_t) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Syncs a directory (new or removed entries).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment file made ahead of time, before its base is known: created as
/// `spare-{n}.seg.tmp` (a name recovery deletes on the next writable open),
/// fully allocated, mapped and prefaulted. [`Spare::into_segment`] gives it
/// a base: header, then rename to `{base:020}.seg`.
pub(crate) struct Spare {
    /// The open file (for `fsync` under `EveryBatch`).
    file: File,
    /// The whole file, header page included.
    map: memmap2::MmapRaw,
    /// Its temporary name.
    tmp: PathBuf,
}

/// Creates, allocates and maps a file of one segment under the temporary
/// name `tmp`; removes it again on failure. `prefault`: fault every page in
/// now, so the producers that write it later take no page faults.
fn make_file(
    tmp: &Path,
    segment_size: usize,
    prefault: bool,
) -> io::Result<(File, memmap2::MmapRaw)> {
    let f = FsOpen::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    let total = (HEADER_PAGE + segment_size) as u64;
    let map = preallocate(&f, total).and_then(|()| memmap2::MmapOptions::new().map_raw(&f));
    match map {
        Ok(map) => {
            if prefault {
                prefault_pages(&map);
            }
            Ok((f, map))
        }
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
    }
}

/// Faults in every page of a fresh (all-zero, fully allocated) file
/// mapping for writing, by writing a zero to each page.
///
/// Not `MADV_POPULATE_WRITE`, though it was as fast here: with it,
/// `tests/store_kill.rs` (`kill_two_producers`, 300 rounds) lost
/// acknowledged records after `SIGKILL` in 2 of 5 runs on Linux 6.18 / ext4
/// (a segment's frames read back as zeros), and in none of 4 runs each
/// with this loop or without prefaulting. Root cause not found.
fn prefault_pages(map: &memmap2::MmapRaw) {
    for off in (0..map.len()).step_by(HEADER_PAGE) {
        // SAFETY: `off` is inside the mapping; the file is fully allocated
        // (no SIGBUS) and still private to us under its temporary name, and
        // its bytes are zero, so writing a zero changes nothing.
        unsafe { map.as_mut_ptr().add(off).write_volatile(0) };
    }
}

/// Makes a spare segment file `spare-{n}.seg.tmp` in `dir` (background
/// thread). `sync`: also fsync it (its allocation), so that taking it
/// later syncs only the header.
pub(crate) fn create_spare(
    dir: &Path,
    segment_size: usize,
    n: u64,
    sync: bool,
) -> io::Result<Spare> {
    let tmp = dir.join(format!("spare-{n}.seg.tmp"));
    let (file, map) = make_file(&tmp, segment_size, true)?;
    if sync {
        if let Err(e) = file.sync_all() {
            drop(map);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    Ok(Spare { file, map, tmp })
}

impl Spare {
    /// Turns the spare into the segment file for `base` (header, rename to
    /// its final name; `sync`: fsync file and directory), as
    /// [`create_segment`] would have made it. On failure the file is removed.
    pub(crate) fn into_segment(
        self,
        dir: &Path,
        segment_size: usize,
        base: u64,
        sync: bool,
    ) -> io::Result<Box<Segment>> {
        finish(
            dir,
            self.file,
            self.map,
            &self.tmp,
            segment_size,
            base,
            sync,
        )
    }

    /// Deletes an unused spare.
    pub(crate) fn discard(self) {
        drop(self.map);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Creates, allocates and maps the segment file for `base`; returns the
/// segment (not yet linked). `sync`: also fsync the file and directory.
pub(crate) fn create_segment(
    dir: &Path,
    segment_size: usize,
    base: u64,
    sync: bool,
) -> io::Result<Box<Segment>> {
    let tmp = dir.join(format!("{}.tmp", seg_name(base)));
    let (f, map) = make_file(&tmp, segment_size, false)?;
    finish(dir, f, map, &tmp, segment_size, base, sync)
}

/// Writes the header of a freshly made file (at `tmp`) for `base`, syncs
/// it if asked, renames it to its final name. The header is valid before
/// the rename: a tailing process may open the file as soon as it has its
/// final name. On failure `tmp` is removed.
fn finish(
    dir: &Path,
    f: File,
    map: memmap2::MmapRaw,
    tmp: &Path,
    segment_size: usize,
    base: u64,
    sync: bool,
) -> io::Result<Box<Segment>> {
    let path = dir.join(seg_name(base));
    let now = now_ns();
    let h = encode_header(segment_size as u64, base, now);
    // SAFETY: the map is at least HEADER_PAGE bytes and nobody else has it
    // yet (the file is not even under its final name).
    unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), map.as_mut_ptr(), h.len()) };
    let placed = (|| {
        if sync {
            map.flush_range(0, HEADER_PAGE)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, &path)
    })();
    if let Err(e) = placed {
        drop(map);
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    if sync {
        sync_dir(dir)?;
    }
    let data = Storage::from_file_map(map, HEADER_PAGE, segment_size);
    Ok(Segment::from_file(
        data,
        SegFile {
            path,
            verify: false,
            owned: true,
            deleted: AtomicBool::new(false),
            mtime_ns: AtomicU64::new(now),
        },
        base,
    ))
}

/// Maps an existing segment file (checked by the caller).
pub(crate) fn map_segment(
    path: &Path,
    segment_size: usize,
    base: u64,
    writable: bool,
    verify: bool,
) -> io::Result<Box<Segment>> {
    let f = FsOpen::new().read(true).write(writable).open(path)?;
    let meta = f.metadata()?;
    if meta.len() < (HEADER_PAGE + segment_size) as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "file is {} bytes, a segment of {segment_size} needs {}",
                meta.len(),
                HEADER_PAGE + segment_size
            ),
        ));
    }
    let mut opts = memmap2::MmapOptions::new();
    opts.len(HEADER_PAGE + segment_size);
    let map = if writable {
        opts.map_raw(&f)?
    } else {
        opts.map_raw_read_only(&f)?
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    let data = Storage::from_file_map(map, HEADER_PAGE, segment_size);
    Ok(Segment::from_file(
        data,
        SegFile {
            path: path.to_path_buf(),
            verify,
            owned: writable,
            deleted: AtomicBool::new(false),
            mtime_ns: AtomicU64::new(mtime),
        },
        base,
    ))
}

/// A word of the header page of `seg` (a durable segment).
fn header_word(seg: &Segment, at: usize) -> Option<&AtomicU64> {
    let map = seg.data.file_map()?;
    // SAFETY: the header page is mapped as long as the segment lives; `at`
    // is 8-aligned inside it; these words are only accessed atomically.
    Some(unsafe { &*(map.as_ptr().add(at) as *const AtomicU64) })
}

/// Tells tailing processes that `seg` holds `count` records and has a
/// successor file. Writer only.
pub(crate) fn publish_sealed(seg: &Segment, count: u64) {
    if let Some(w) = header_word(seg, SEALED_AT) {
        // Release: a tailer that Acquire-loads it finds the successor file
        // already renamed into place (the rename happened before).
        w.store(crate::log::segment::SEALED | count, Ordering::Release);
    }
}

/// The sealed word a writer published for `seg`, if any.
pub(crate) fn read_sealed(seg: &Segment) -> Option<u64> {
    // Acquire: pairs with `publish_sealed`.
    let v = header_word(seg, SEALED_AT)?.load(Ordering::Acquire);
    (v & crate::log::segment::SEALED != 0).then_some(v & !crate::log::segment::SEALED)
}

/// Writer: the log was closed with `final_seq` while `seg` was the tail.
pub(crate) fn publish_closed(seg: &Segment, final_seq: u64) {
    if let Some(w) = header_word(seg, CLOSED_AT) {
        // Release: the close-status file was written before.
        w.store(final_seq + 1, Ordering::Release);
    }
}

/// The final sequence a writer published in `seg`'s header, if closed there.
pub(crate) fn read_closed(seg: &Segment) -> Option<u64> {
    // Acquire: pairs with `publish_closed`.
    let v = header_word(seg, CLOSED_AT)?.load(Ordering::Acquire);
    (v != 0).then(|| v - 1)
}

/// Writer, at recovery: forget stale sealed/closed words of the new tail.
pub(crate) fn clear_header_words(seg: &Segment) {
    for at in [SEALED_AT, CLOSED_AT] {
        if let Some(w) = header_word(seg, at) {
            // Relaxed: recovery runs before the log is shared.
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// `msync(MS_SYNC)` of frame bytes `[from, to)` of `seg` (page-rounded).
pub(crate) fn sync_frames(seg: &Segment, from: usize, to: usize) -> io::Result<()> {
    let Some(map) = seg.data.file_map() else {
        return Ok(());
    };
    let from = HEADER_PAGE + (from & !(HEADER_PAGE - 1));
    let to = (HEADER_PAGE + to).min(map.len());
    if to <= from {
        return Ok(());
    }
    map.flush_range(from, to - from)
}

/// Nanoseconds since the Unix epoch (wall clock).
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
