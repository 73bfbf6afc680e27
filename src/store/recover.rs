//! Recovery on open: find the segment files, check their headers, scan the
//! frames from the last checkpoint, cut a torn tail, report what was lost.

use super::file::{self, decode_header, io_at, map_segment, parse_seg_name, HEADER_PAGE};
use super::{Recovery, StoreError, Verify};
use crate::log::frame::{frame_len_h, DURABLE_HEADER};
use crate::log::segment::{Segment, COUNT_SHIFT, SEALED};
use crate::sync::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The checkpoint: every frame before `seq` (at `off` in the segment based
/// at `base`) was committed and synced when it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) seq: u64,
    pub(crate) base: u64,
    pub(crate) off: u64,
}

const CKPT_MAGIC: &[u8; 8] = b"FANLOGCP";

impl Checkpoint {
    pub(crate) fn encode(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[0..8].copy_from_slice(CKPT_MAGIC);
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.base.to_le_bytes());
        b[24..32].copy_from_slice(&self.off.to_le_bytes());
        let c = super::crc::crc32c(&b[0..32]);
        b[32..36].copy_from_slice(&c.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 36 || &b[0..8] != CKPT_MAGIC {
            return None;
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(b[32..36].try_into().expect("4 bytes"));
        (super::crc::crc32c(&b[0..32]) == crc).then(|| Self {
            seq: u64_at(8),
            base: u64_at(16),
            off: u64_at(24),
        })
    }

    pub(crate) fn read(dir: &Path) -> Option<Self> {
        let b = std::fs::read(dir.join("checkpoint")).ok()?;
        Self::decode(&b)
    }
}

/// Checks the committed-looking frame at `off` of a durable segment: the
/// commit word must be `seq + 1`, the length must fit, the CRC must match.
/// Returns the frame length, or why it is bad.
pub(crate) fn check_frame(seg: &Segment, off: usize, seq: u64) -> Result<usize, String> {
    let size = seg.size();
    if off + DURABLE_HEADER > size {
        return Err("frame header crosses the end of the segment".into());
    }
    // Acquire: pairs with the writer's Release commit (possibly in another
    // process; the page is shared).
    let w = seg.data.commit_word(off).load(Ordering::Acquire);
    if w != seq + 1 {
        return Err(format!(
            "commit word {w:#x}, expected {:#x} (sequence {seq})",
            seq + 1
        ));
    }
    let p = seg.data.at(off);
    // SAFETY: `off + 32 <= size`, inside the mapping; reads of committed (or
    // garbage) bytes of a mapped file; nothing writes committed frames.
    let head = unsafe { std::slice::from_raw_parts(p.add(8), 24) };
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
    if len > size - off - DURABLE_HEADER {
        return Err(format!("length {len} crosses the end of the segment"));
    }
    // SAFETY: `off + 32 + len <= size` (checked).
    let payload = unsafe { std::slice::from_raw_parts(p.add(DURABLE_HEADER), len) };
    let want = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
    let got = crate::log::frame::frame_crc(seq, &head[0..16], payload);
    if want != got {
        return Err(format!(
            "CRC mismatch (stored {want:#010x}, computed {got:#010x})"
        ));
    }
    Ok(frame_len_h(DURABLE_HEADER, len))
}

/// What recovery hands to the log.
pub(crate) struct Recovered {
    /// Segments, oldest first; all but the last sealed. Boxed: each becomes
    /// a raw pointer in the log's list.
    #[allow(clippy::vec_box)]
    pub(crate) segments: Vec<Box<Segment>>,
    pub(crate) report: Recovery,
    pub(crate) segment_size: usize,
}

struct Found {
    base: u64,
    path: PathBuf,
}

/// Lists `*.seg` files (removing leftovers of interrupted creations when
/// writable), sorted by base.
fn list_segments(dir: &Path, writable: bool) -> Result<Vec<Found>, StoreError> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io_at(dir, e))? {
        let e = e.map_err(|e| io_at(dir, e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_seg_name(name) {
            v.push(Found {
                base,
                path: e.path(),
            });
        } else if writable && name.ends_with(".seg.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    v.sort_by_key(|f| f.base);
    Ok(v)
}

fn read_header(path: &Path) -> Result<file::Header, String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut page = [0u8; 64];
    f.read_exact(&mut page)
        .map_err(|e| format!("cannot read header: {e}"))?;
    decode_header(&page)
}

/// The record count a writer published in a file's header when it linked
/// the file's successor (`file::publish_sealed`), if any.
fn read_sealed_word(path: &Path) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).ok()?;
    let mut w = [0u8; 8];
    f.read_exact_at(&mut w, file::SEALED_AT as u64).ok()?;
    let v = u64::from_le_bytes(w);
    (v & SEALED != 0).then_some(v & !SEALED)
}

/// Best-effort count of frames from `off` in `seg` (after a bad frame):
/// (records, bytes) that recovery drops.
fn count_dropped(seg: &Segment, mut off: usize) -> (u64, u64) {
    let size = seg.size();
    let (mut n, start) = (0u64, off);
    let mut end = off;
    while off + DURABLE_HEADER <= size {
        let w = seg.data.commit_word(off).load(Ordering::Relaxed);
        // SAFETY: `off + 32 <= size`.
        let len = unsafe { (seg.data.at(off).add(8) as *const u32).read() } as usize;
        if w == 0 && len == 0 {
            break;
        }
        if len > size - off - DURABLE_HEADER {
            // Not a frame (garbage): what counts is how far the non-zero
            // bytes reach (below), not the rest of the segment.
            break;
        }
        if w != 0 {
            n += 1;
        }
        off += frame_len_h(DURABLE_HEADER, len);
        end = off;
    }
    // Anything non-zero after that (a torn payload) counts as dropped bytes.
    let last_nonzero = last_nonzero(seg, end);
    (n, (last_nonzero.max(end) - start) as u64)
}

/// One past the last non-zero byte at or after `from`, or `from`.
fn last_nonzero(seg: &Segment, from: usize) -> usize {
    let size = seg.size();
    if from >= size {
        return from;
    }
    // SAFETY: `[from, size)` is inside the mapping.
    let bytes = unsafe { std::slice::from_raw_parts(seg.data.at(from), size - from) };
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(from, |i| from + i + 1)
}

fn zero_from(seg: &Segment, from: usize) {
    let end = last_nonzero(seg, from);
    if end > from {
        // SAFETY: recovery owns the segment exclusively (writer, before the
        // log is shared); `[from, end)` is inside the mapping.
        unsafe { std::ptr::write_bytes(seg.data.at(from), 0, end - from) };
    }
}

/// Recovers the directory. `writable`: cut torn tails and delete what
/// follows them; otherwise change nothing.
pub(crate) fn recover(
    dir: &Path,
    want_size: Option<usize>,
    verify: Verify,
    writable: bool,
) -> Result<Option<Recovered>, StoreError> {
    let started = std::time::Instant::now();
    let mut found = list_segments(dir, writable)?;
    if found.is_empty() {
        return Ok(None);
    }
    let mut report = Recovery::default();
    // Headers.
    let mut segment_size = None::<usize>;
    let mut headers_ok = found.len();
    for (i, f) in found.iter().enumerate() {
        let bad = match read_header(&f.path) {
            Ok(h) if h.base != f.base => Some(format!(
                "header says base {}, file name says {}",
                h.base, f.base
            )),
            Ok(h) => match segment_size {
                Some(s) if s as u64 != h.segment_size => Some(format!(
                    "segment size {} differs from the log's {s}",
                    h.segment_size
                )),
                _ => {
                    segment_size = Some(h.segment_size as usize);
                    None
                }
            },
            Err(reason) => Some(reason),
        };
        if let Some(reason) = bad {
            if i + 1 == found.len() && i > 0 {
                // The newest file is unreadable: a torn creation. Cut it.
                headers_ok = i;
                report.truncated_at = Some((f.path.clone(), 0));
                break;
            }
            if writable || i == 0 {
                return Err(StoreError::Corrupt {
                    path: f.path.clone(),
                    offset: 0,
                    reason,
                });
            }
            headers_ok = i;
            report.corruption = Some(format!("{}: offset 0: {reason}", f.path.display()));
            break;
        }
    }
    let mut dropped_files: Vec<Found> = found.split_off(headers_ok);
    let segment_size = segment_size.expect("at least one good header");
    // Stale files at the head. Retention deletes files as their segments
    // are recycled, which is not always oldest first: a segment evicted
    // while a lagging cursor still held it is deleted when the cursor lets
    // go, after newer ones. A crash in between leaves an old file whose
    // records (the count its header got when its successor was linked) end
    // before the next file begins. Everything up to the last such gap was
    // already given up by retention: forget it (and delete it when
    // writable) rather than cut the newer files as a torn tail.
    let mut first_live = 0;
    for i in (0..found.len().saturating_sub(1)).rev() {
        if let Some(count) = read_sealed_word(&found[i].path) {
            if found[i].base.checked_add(count) != Some(found[i + 1].base) {
                first_live = i + 1;
                break;
            }
        }
    }
    let stale: Vec<Found> = found.drain(..first_live).collect();
    report.stale_segments = stale.len();
    dropped_files.extend(stale);
    if let Some(w) = want_size {
        if w != segment_size {
            return Err(StoreError::Format {
                path: dir.to_path_buf(),
                reason: format!(
                    "the log was created with {segment_size}-byte segments, the options ask for {w}"
                ),
            });
        }
    }
    let ckpt = Checkpoint::read(dir);
    report.checkpoint_seq = ckpt.map(|c| c.seq);
    // Where the scan starts.
    let (start_idx, start_off, start_seq) = match (verify, ckpt) {
        (Verify::FromCheckpoint, Some(c)) => match found.iter().position(|f| f.base == c.base) {
            // A checkpoint off the frame grid (8-byte aligned, inside the
            // segment) was not written by `flush`: scan everything.
            // Nor one whose sequence is not inside that segment (a frame
            // takes at least 32 bytes).
            Some(i)
                if c.off % 8 == 0
                    && c.off <= segment_size as u64
                    && c.seq >= c.base
                    && c.seq - c.base <= c.off / DURABLE_HEADER as u64 =>
            {
                (i, c.off as usize, c.seq)
            }
            _ => (0, 0, found[0].base),
        },
        _ => (0, 0, found[0].base),
    };
    // Map every segment. A file cut short (its header is fine but it is
    // smaller than a segment) was damaged after it was written: creation
    // renames a file into place only once it is fully allocated.
    let mut segs = Vec::with_capacity(found.len());
    let mut short = None;
    for (i, f) in found.iter().enumerate() {
        let verify_reads = !writable || i < start_idx || (i == start_idx && start_off > 0);
        match map_segment(&f.path, segment_size, f.base, writable, verify_reads) {
            Ok(s) => segs.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let len = std::fs::metadata(&f.path).map_or(0, |m| m.len());
                if writable || i == 0 {
                    return Err(StoreError::Corrupt {
                        path: f.path.clone(),
                        offset: len,
                        reason: e.to_string(),
                    });
                }
                // Read-only: the log ends before it; what precedes stays
                // readable.
                report.corruption = Some(format!("{}: offset {len}: {e}", f.path.display()));
                short = Some(i);
                break;
            }
            Err(e) => return Err(io_at(&f.path, e)),
        }
    }
    let (start_idx, start_off, start_seq) = match short {
        Some(i) => {
            found.truncate(i);
            if start_idx < i {
                (start_idx, start_off, start_seq)
            } else {
                (i - 1, 0, found[i - 1].base)
            }
        }
        None => (start_idx, start_off, start_seq),
    };
    // Sealed segments before the scan start: trusted (checked on read).
    for i in 0..start_idx {
        let count = found[i + 1].base.saturating_sub(found[i].base);
        seal(&segs[i], count, segment_size);
    }
    // Scan.
    let ckpt_pos = ckpt.map(|c| (c.base, c.off));
    let mut tail = None::<(usize, usize, u64)>;
    let mut bad = None::<(usize, usize, u64, String)>;
    let (mut j, mut off, mut seq) = (start_idx, start_off, start_seq);
    'segs: loop {
        let s = &segs[j];
        let base = found[j].base;
        loop {
            // Acquire: as a cursor's load of the commit word (recovery runs
            // before any producer, so it orders nothing in practice).
            if off + DURABLE_HEADER > segment_size
                || s.data.commit_word(off).load(Ordering::Acquire) == 0
            {
                break; // end of this segment's data
            }
            match check_frame(s, off, seq) {
                Ok(flen) => {
                    off += flen;
                    seq += 1;
                    report.scanned_records += 1;
                    report.scanned_bytes += flen as u64;
                }
                Err(reason) => {
                    bad = Some((j, off, seq, reason));
                    break 'segs;
                }
            }
        }
        if j + 1 == segs.len() {
            tail = Some((j, off, seq));
            break;
        }
        if found[j + 1].base == seq && seq > base {
            seal(s, seq - base, segment_size);
            j += 1;
            off = 0;
            continue;
        }
        bad = Some((
            j,
            off,
            seq,
            format!(
                "segment data ends at sequence {seq}, but the next file starts at {}",
                found[j + 1].base
            ),
        ));
        break;
    }
    if let Some((j, o, s, reason)) = bad {
        let before_ckpt = ckpt_pos
            .is_some_and(|(cb, co)| found[j].base < cb || (found[j].base == cb && (o as u64) < co));
        let path = found[j].path.clone();
        if before_ckpt {
            if writable {
                return Err(StoreError::Corrupt {
                    path,
                    offset: (HEADER_PAGE + o) as u64,
                    reason,
                });
            }
            // Read-only: the log ends there for now; cursors that reach it
            // get `RecvError::Corrupt` (reads check every CRC).
            let d = format!("{}: offset {}: {reason}", path.display(), HEADER_PAGE + o);
            report.corruption = Some(d);
        } else if writable {
            // A torn tail: drop it and everything after.
            let (n, b) = count_dropped(&segs[j], o);
            report.dropped_records += n;
            report.dropped_bytes += b;
            zero_from(&segs[j], o);
            for later in &segs[j + 1..] {
                let (n, b) = count_dropped(later, 0);
                report.dropped_records += n;
                report.dropped_bytes += b;
            }
            report.truncated_at = Some((path, (HEADER_PAGE + o) as u64));
        }
        tail = Some((j, o, s));
    }
    let (tj, toff, tseq) = tail.expect("scan ends somewhere");
    // Drop segments after the tail (writable: delete their files).
    let cut: Vec<Box<Segment>> = segs.split_off(tj + 1);
    drop(cut);
    if writable {
        for f in found[tj + 1..].iter().chain(dropped_files.iter()) {
            if let Err(e) = std::fs::remove_file(&f.path) {
                return Err(io_at(&f.path, e));
            }
        }
        // Garbage past the last good frame (a frame whose commit word was
        // never written: its append never returned) would confuse the next
        // appends: zero it.
        let t = &segs[tj];
        let end = last_nonzero(t, toff);
        if end > toff {
            report.dropped_bytes += (end - toff) as u64;
            if report.truncated_at.is_none() {
                report.truncated_at = Some((found[tj].path.clone(), (HEADER_PAGE + toff) as u64));
            }
            zero_from(t, toff);
        }
        file::clear_header_words(t);
    }
    // The tail's reservation word.
    let t = &segs[tj];
    let count = tseq - found[tj].base;
    // Relaxed: the log is not shared yet.
    t.tail
        .store((count << COUNT_SHIFT) | toff as u64, Ordering::Relaxed);
    report.segments = segs.len();
    report.first_seq = found[0].base;
    report.next_seq = tseq;
    report.elapsed = started.elapsed();
    Ok(Some(Recovered {
        segments: segs,
        report,
        segment_size,
    }))
}

/// Marks a recovered segment sealed with `count` records.
fn seal(s: &Segment, count: u64, size: usize) {
    // Relaxed: the log is not shared yet. The reservation offset past the
    // end tells producers the segment is full.
    s.tail.store(
        (count << COUNT_SHIFT) | (size as u64 + 1),
        Ordering::Relaxed,
    );
    s.sealed.store(SEALED | count, Ordering::Relaxed);
}
