//! Recovery harness shared by `fuzz/fuzz_targets/recover.rs` (libFuzzer)
//! and `tests/store_recovery.rs` (pseudo-random inputs under `cargo test`).
//!
//! [`run`] turns arbitrary bytes into one or two segment files (a valid
//! header for most inputs, so the frame scanner is reached), frames that are
//! either raw input bytes or well-formed records followed by byte flips, an
//! optional checkpoint and an optional truncation; then it opens the
//! directory read-only and writable, with `Verify::All` and
//! `Verify::FromCheckpoint`, and reads every record. Any panic is a bug.
//! Records built well-formed must come back intact whenever they come back.
//!
//! The file formats are written from their documentation
//! (`src/store/file.rs`, `src/store/recover.rs`, `src/log/frame.rs`), not
//! from the crate's private encoders.

use fanlog::{Log, OpenOptions, RecvError, Start, Verify};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const HEADER_PAGE: usize = 4096;
const FRAME_HEADER: usize = 32;

/// CRC-32C, bitwise (reflected polynomial 0x82F63B78).
pub fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for p in parts {
        for &b in *p {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
        }
    }
    !c
}

/// The first 44 bytes of a segment header (`src/store/file.rs`).
pub fn segment_header(segment_size: u64, base: u64) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..8].copy_from_slice(b"FANLOGSG");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_PAGE as u32).to_le_bytes());
    h[16..24].copy_from_slice(&segment_size.to_le_bytes());
    h[24..32].copy_from_slice(&base.to_le_bytes());
    h[32..40].copy_from_slice(&1_700_000_000_000_000_000u64.to_le_bytes());
    let c = crc32c(&[&h[0..40]]);
    h[40..44].copy_from_slice(&c.to_le_bytes());
    h
}

/// A checkpoint file (`src/store/recover.rs`).
pub fn checkpoint(seq: u64, base: u64, off: u64) -> [u8; 36] {
    let mut b = [0u8; 36];
    b[0..8].copy_from_slice(b"FANLOGCP");
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b[16..24].copy_from_slice(&base.to_le_bytes());
    b[24..32].copy_from_slice(&off.to_le_bytes());
    let c = crc32c(&[&b[0..32]]);
    b[32..36].copy_from_slice(&c.to_le_bytes());
    b
}

/// Bytes a durable frame with `len` payload bytes occupies.
pub fn frame_len(len: usize) -> usize {
    (FRAME_HEADER + len + 7) & !7
}

/// Writes a committed durable frame for `seq` at `buf[0..]`
/// (`src/log/frame.rs`); `buf` must hold `frame_len(payload.len())` bytes.
pub fn write_frame(buf: &mut [u8], seq: u64, kind: u32, payload: &[u8]) {
    let len = payload.len();
    buf[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&kind.to_ne_bytes());
    buf[16..24].copy_from_slice(&0u64.to_ne_bytes());
    let crc = crc32c(&[&seq.to_le_bytes(), &buf[8..24], payload]);
    buf[24..28].copy_from_slice(&crc.to_le_bytes());
    buf[28..32].fill(0);
    buf[FRAME_HEADER..FRAME_HEADER + len].copy_from_slice(payload);
    buf[0..8].copy_from_slice(&seq.wrapping_add(1).to_ne_bytes());
}

/// Reads the input front to back; zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }
}

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A fresh empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("fanlog-harness-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the directory described by `data` and opens it every way.
pub fn run(data: &[u8]) {
    let dir = TempDir::new();
    let mut known = build(&dir.0, data);
    for (read_only, verify) in [
        (true, Verify::All),
        (true, Verify::FromCheckpoint),
        (false, Verify::All),
        (false, Verify::FromCheckpoint),
    ] {
        open_and_read(&dir.0, read_only, verify, &mut known);
    }
}

/// Writes the files; returns the payload of every well-formed record built.
fn build(dir: &Path, data: &[u8]) -> HashMap<u64, Vec<u8>> {
    let mut inp = Input { data, at: 0 };
    let flags = inp.byte();
    let size_sel = inp.byte();
    let segment_size = 256usize << (size_sel % 3);
    let two = flags & 1 != 0;
    let structured = flags & 8 != 0;
    // Base of the first segment: small, or anywhere (overflow edges).
    let base0 = match flags >> 6 {
        0 | 1 => 0,
        2 => inp.byte() as u64,
        _ => inp.u64(),
    };
    let mut known = HashMap::new();
    let mut files: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut frames = vec![vec![0u8; segment_size]];
    let mut bases = vec![base0];
    if structured {
        // Records until the input runs low or both segments are full.
        let (mut seg, mut off, mut seq) = (0usize, 0usize, base0);
        while inp.left() > 8 {
            let len = (inp.byte() as usize) % (segment_size / 2);
            let payload: Vec<u8> = inp.take(len);
            let fl = frame_len(len);
            if off + fl > segment_size {
                if !two || seg == 1 {
                    break;
                }
                seg = 1;
                off = 0;
                frames.push(vec![0u8; segment_size]);
                bases.push(seq);
            }
            write_frame(&mut frames[seg][off..off + fl], seq, 0, &payload);
            known.insert(seq, payload);
            off += fl;
            seq = seq.wrapping_add(1);
            if inp.byte() & 0x1f == 0 {
                break;
            }
        }
        if two && frames.len() == 1 {
            frames.push(vec![0u8; segment_size]);
            bases.push(seq);
        }
        // Damage: (segment, offset, xor) triples.
        let flips = inp.byte() % 4;
        for _ in 0..flips {
            let s = (inp.byte() as usize) % frames.len();
            let o = (inp.u16() as usize) % segment_size;
            frames[s][o] ^= inp.byte();
        }
    } else {
        for f in 0..1 + two as usize {
            if f == 1 {
                frames.push(vec![0u8; segment_size]);
                bases.push(base0.wrapping_add(inp.byte() as u64));
            }
            let n = (inp.u16() as usize) % (segment_size + 1);
            let raw = inp.take(n);
            frames[f][..n].copy_from_slice(&raw);
        }
    }
    for (k, (f, &base)) in frames.iter().zip(&bases).enumerate() {
        let mut file = vec![0u8; HEADER_PAGE];
        if flags & (2 << k) != 0 || structured {
            file[..44].copy_from_slice(&segment_header(segment_size as u64, base));
        } else {
            let raw = inp.take(64);
            file[..64].copy_from_slice(&raw);
            if inp.byte() & 1 == 0 {
                // Right magic and CRC over whatever fields came in.
                file[0..8].copy_from_slice(b"FANLOGSG");
                let c = crc32c(&[&file[0..40]]);
                file[40..44].copy_from_slice(&c.to_le_bytes());
            }
        }
        // Sealed / closed words (tailing hints, not trusted by recovery).
        if flags & 4 != 0 {
            let w = inp.u64();
            file[64..72].copy_from_slice(&w.to_ne_bytes());
            let c = inp.u64() % 4;
            file[72..80].copy_from_slice(&c.to_ne_bytes());
        }
        file.extend_from_slice(f);
        files.push((base, file));
    }
    // Checkpoint: well-formed fields from the input, or raw bytes.
    match flags & 0x30 {
        0x10 => {
            let seq = base0.wrapping_add(inp.byte() as u64);
            let b = bases[(inp.byte() as usize) % bases.len()];
            let off = (inp.u16() as u64) % (segment_size as u64 + 64);
            std::fs::write(dir.join("checkpoint"), checkpoint(seq, b, off)).expect("write");
        }
        0x20 => {
            let raw = inp.take(36);
            std::fs::write(dir.join("checkpoint"), raw).expect("write");
        }
        _ => {}
    }
    let trunc = inp.byte();
    for (k, (base, mut file)) in files.into_iter().enumerate() {
        if trunc & 0x80 != 0 && (trunc as usize & 1) == k {
            let at = (inp.u16() as usize) % file.len();
            file.truncate(at);
        }
        let name = format!("{base:020}.seg");
        std::fs::write(dir.join(name), file).expect("write");
    }
    known
}

fn open_and_read(dir: &Path, read_only: bool, verify: Verify, known: &mut HashMap<u64, Vec<u8>>) {
    let opts = OpenOptions::new()
        .read_only(read_only)
        .verify(verify)
        .create(false);
    let Ok(log) = Log::open(dir, &opts) else {
        return;
    };
    let r = log.recovery().expect("durable");
    assert!(r.first_seq <= r.next_seq, "{r:?}");
    let mut c = match log.cursor(Start::Earliest) {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut expect = None::<u64>;
    for _ in 0..100_000 {
        match c.try_next() {
            Ok(rec) => {
                if let Some(e) = expect {
                    assert_eq!(rec.seq(), e, "sequence gap");
                }
                if let Some(p) = known.get(&rec.seq()) {
                    assert_eq!(rec.data(), &p[..], "record {} changed", rec.seq());
                }
                expect = rec.seq().checked_add(1);
            }
            Err(RecvError::Corrupt { seq, .. }) => {
                // Reported again, at the same place.
                match c.try_next() {
                    Err(RecvError::Corrupt { seq: s2, .. }) => assert_eq!(s2, seq),
                    other => panic!("corrupt once, then {other:?}"),
                }
                break;
            }
            Err(RecvError::Lagged { .. }) => {}
            Err(_) => break,
        }
    }
    drop(c);
    if !read_only {
        let next = log.next_seq();
        if let Ok(seq) = log.append(b"after recovery") {
            assert_eq!(seq, next);
            // A cut record's sequence number is reused.
            known.insert(seq, b"after recovery".to_vec());
        }
    }
}
