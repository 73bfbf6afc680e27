//! Named durable cursors: a committed position per name, in a small mapped
//! file under `cursors/`, shared by every process that opens the directory.
//!
//! ```text
//! cursors/{name}.cur  (4096 bytes)
//!   0   8  magic "FANLOGCR"
//!   8   8  committed word: 0 = nothing committed; else the next sequence
//!          number to read + 1
//! ```
//!
//! A commit is one atomic store into the mapping: the kernel owns the page,
//! so it survives a process crash at once; `Log::flush` (or the sync policy)
//! makes it survive power loss. Aligned 8-byte stores never tear.

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use std::fs::OpenOptions as FsOpen;
use std::io;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"FANLOGCR";
const FILE_LEN: usize = 4096;
const COMMITTED_AT: usize = 8;

/// One named cursor's durable slot.
pub(crate) struct NamedSlot {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    map: memmap2::MmapRaw,
    /// A cursor with this name is open in this process.
    pub(crate) in_use: AtomicBool,
}

impl NamedSlot {
    /// Opens (or creates) the slot file for `name` in `dir`.
    pub(crate) fn open(dir: &Path, name: &str, create: bool) -> io::Result<Self> {
        let path = dir.join(format!("{name}.cur"));
        let f = FsOpen::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)?;
        let len = f.metadata()?.len();
        if len < FILE_LEN as u64 {
            super::file::preallocate(&f, FILE_LEN as u64)?;
        }
        let map = memmap2::MmapOptions::new().len(FILE_LEN).map_raw(&f)?;
        // SAFETY: the map is FILE_LEN bytes long.
        let head = unsafe { std::slice::from_raw_parts(map.as_ptr(), 8) };
        if head != MAGIC {
            if head.iter().any(|&b| b != 0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a fanlog cursor file", path.display()),
                ));
            }
            // A new file (or one cut short by a crash before its magic):
            // nothing committed yet.
            // SAFETY: in bounds; nobody reads the magic concurrently in a
            // way that matters (a racing opener writes the same bytes).
            unsafe { std::ptr::copy_nonoverlapping(MAGIC.as_ptr(), map.as_mut_ptr(), 8) };
        }
        Ok(Self {
            name: name.to_string(),
            path,
            map,
            in_use: AtomicBool::new(false),
        })
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the map lives as long as `self`; offset 8 is aligned and
        // only ever accessed atomically (by every process).
        unsafe { &*(self.map.as_ptr().add(COMMITTED_AT) as *const AtomicU64) }
    }

    /// The next sequence number to read, if anything was committed.
    pub(crate) fn next(&self) -> Option<u64> {
        // Acquire: pairs with `store`.
        let v = self.word().load(Ordering::Acquire);
        (v != 0).then(|| v - 1)
    }

    /// Commits: the next sequence number to read is `next`.
    pub(crate) fn store(&self, next: u64) {
        // Release: orders the consumer's work before the commit becomes
        // visible to other processes.
        self.word().store(next + 1, Ordering::Release);
    }

    /// msync of the slot page (power-loss durability).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.map.flush()
    }
}

/// Checks a cursor name: 1..=128 of `[A-Za-z0-9._-]`, not starting with `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Names of the slot files in `dir`.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if let Some(n) = e.file_name().to_str().and_then(|n| n.strip_suffix(".cur")) {
                    if valid_name(n) {
                        v.push(n.to_string());
                    }
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    v.sort();
    Ok(v)
}
