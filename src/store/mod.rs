//! The durable log: the same [`Log`](crate::Log) with its segments in memory-mapped
//! files, crash recovery, named cursors and cross-process tailing.
//!
//! ```no_run
//! use fanlog::{Log, OpenOptions, Start, SyncPolicy};
//! use std::time::Duration;
//!
//! let log = Log::open("/var/lib/app/events", &OpenOptions::new()
//!     .sync(SyncPolicy::Interval(Duration::from_millis(100))))?;
//! if let Some(r) = log.recovery() {
//!     eprintln!("recovered {} records, dropped {} torn", r.next_seq - r.first_seq, r.dropped_records);
//! }
//! log.append(b"accepted")?;
//! log.flush()?; // on disk once this returns
//!
//! // A consumer that resumes where it stopped after a restart:
//! let mut c = log.cursor_named("billing", Start::Earliest)?;
//! while let Ok(rec) = c.try_next() {
//!     let seq = rec.seq();
//!     /* process rec.data() */
//!     c.commit(seq)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Directory layout
//!
//! | file | what |
//! |---|---|
//! | `{base:020}.seg` | a segment: 4 KiB header page (magic, version, base sequence, sizes, CRC) then the frames; preallocated, never sparse |
//! | `spare-{n}.seg.tmp` | the writer's spare segment file, made ahead of time (see below); deleted when the log is dropped and by the next writable open |
//! | `{base:020}.seg.tmp` | a segment file being made on the spot; deleted by the next writable open |
//! | `checkpoint` | sequence, segment and offset up to which the log was synced (written by `flush`) |
//! | `cursors/{name}.cur` | a named cursor's committed position |
//! | `closed` | the close status, once a writer closed the log |
//! | `LOCK` | held (`flock`) by the one writer |
//!
//! # Segment file lifecycle
//!
//! Creating a segment file (open, `posix_fallocate`, `mmap`, rename), the
//! page faults of its first writes and unmapping a deleted one cost about
//! 2 ms per 1 MiB segment; a writer keeps that off its producers' path.
//! Once the first segment has filled, the writer's background thread keeps
//! one *spare* ready: `spare-{n}.seg.tmp`, fully allocated, mapped and
//! prefaulted (a zero written to each page). When a segment fills, the producer
//! that links its successor takes the spare, writes the header for the real
//! base into the mapping and renames the file to `{base:020}.seg` (under
//! [`SyncPolicy::EveryBatch`], fsyncing the file and the directory, as for
//! any new segment file), then wakes the background thread to make the
//! next spare. If no spare is ready it makes the file itself, as before: a
//! producer never waits for the background thread, and a full disk shows
//! as [`AppendError::Io`](crate::AppendError::Io) at the first segment
//! whose file cannot be made (a spare made earlier still holds its blocks,
//! so the segment that takes it is fine).
//!
//! A segment file that retention drops is deleted at once by the thread
//! that moves the log's head past it (cursors still reading it keep its
//! mapping, so the directory, and what a crash leaves, is as if nothing
//! were deferred); the unmap, where the kernel frees the file's blocks and
//! pages, waits for the epoch's grace period and the last cursor on it,
//! and is then handed to the background thread (a short queue; past four
//! waiting, the recycling thread unmaps the oldest itself). Disk use is
//! therefore the budget plus the spare plus at most the few segments
//! waiting to be unmapped.
//!
//! When the last [`Log`](crate::Log), [`Producer`](crate::Producer) and
//! [`Cursor`](crate::Cursor) of a log is dropped, the log ends before that
//! drop returns: the background thread is stopped and joined, a writer with
//! a sync policy syncs one last time, the spare is deleted and `LOCK` is
//! released. The directory can then be reopened, or removed, at once. (A
//! [`Waker`](crate::Waker) does not keep it open; memory still waiting
//! for the epoch's grace period is freed when that ends.)
//!
//! A crash at any step leaves either `*.seg.tmp` files (deleted by the next
//! writable open) or a complete segment file whose header was written
//! before its rename; recovery never sees a file with a final name and no
//! valid header.
//!
//! # What survives what
//!
//! A frame is written, then its commit word is stored last; recovery keeps
//! the longest prefix of frames whose commit word, length and CRC-32C are
//! right, and cuts the rest (reporting it in [`Recovery`]).
//!
//! | sync policy | process crash (`SIGKILL`, panic, OOM kill) | power loss / kernel crash |
//! |---|---|---|
//! | [`SyncPolicy::None`] | every record whose append returned | what the kernel had written back (typically up to ~30 s old), plus everything before the last [`Log::flush`](crate::Log::flush) |
//! | [`SyncPolicy::Interval`] | every record whose append returned | everything appended before the last completed interval flush |
//! | [`SyncPolicy::EveryBatch`] | every record whose append returned | every record whose append returned `Ok` (not those of an append that returned [`AppendError::SyncFailed`](crate::AppendError::SyncFailed)) |
//!
//! A process crash loses nothing because the pages are `MAP_SHARED`: they
//! belong to the kernel's page cache the moment the producer writes them.
//! One caveat with several producers: records are kept as a gap-free
//! prefix, so a record whose append returned can still be cut if a
//! concurrent append with a *smaller* sequence number was interrupted
//! mid-copy by the crash (its frame was never committed). With one producer
//! thread, or with `flush` between batches, this cannot happen.
//!
//! # Retention
//!
//! A segment file is deleted when no live cursor is in it, no named cursor
//! still needs it (its committed position is not past the segment), and the
//! budget needs room (`max_bytes`; `retain_bytes` defaults to `max_bytes`
//! for durable logs, so history is kept up to the budget). Under
//! [`OverflowPolicy::Block`](crate::OverflowPolicy::Block) a named cursor that
//! stops committing therefore holds producers back, like a live cursor
//! would; under `DropOldest` it lags instead. `max_age` deletes sealed
//! segments older than the limit whatever named cursors still need (they
//! see [`RecvError::Lagged`](crate::RecvError::Lagged) when they resume);
//! it is enforced when a segment fills up and on every sync interval.
//!
//! # Tailing from another process
//!
//! [`OpenOptions::read_only`] maps the files read-only and follows the
//! writer: records inside the current segment are visible through the shared
//! mapping as soon as they are committed; a background thread per read-only
//! log checks every `poll_interval` (default 1 ms) for new commits, a new
//! segment (announced in the previous segment's header) and a close, and
//! wakes parked readers and readiness fds. The polling cost is one pass over
//! the new frames' headers and no system call while the writer is idle;
//! a parked reader's latency is at most `poll_interval` (spinning readers
//! see records within nanoseconds). Every read checks the frame's CRC.

pub(crate) mod crc;
#[cfg(not(fanlog_loom))]
pub(crate) mod file;
#[cfg(not(fanlog_loom))]
pub(crate) mod named;
#[cfg(not(fanlog_loom))]
pub(crate) mod recover;

#[cfg(not(fanlog_loom))]
mod imp;
#[cfg(not(fanlog_loom))]
pub(crate) use file::SegFile;
#[cfg(not(fanlog_loom))]
pub(crate) use imp::{NamedCursor, Store};
/// What `Shared` holds for a durable log (nothing under loom).
#[cfg(not(fanlog_loom))]
pub(crate) type StoreBox = imp::Store;
/// What `Shared` holds for a durable log (nothing under loom).
#[cfg(fanlog_loom)]
pub(crate) struct StoreBox;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// When a durable log syncs its files to disk (see the [module
/// docs](self) for what survives what).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Never on its own; [`Log::flush`](crate::Log::flush) syncs on demand.
    /// Survives process crashes.
    #[default]
    None,
    /// A background thread flushes at this interval.
    Interval(Duration),
    /// Every append (and every batch) is on disk before it returns: each
    /// call pays an `msync` of the pages it wrote. If that `msync` fails,
    /// the append returns [`AppendError::SyncFailed`](crate::AppendError::SyncFailed)
    /// with the records' sequence number (they were appended; do not
    /// append them again) and the log is closed with the errno.
    EveryBatch,
}

/// How much recovery checks on open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verify {
    /// Scan frames from the last checkpoint (fast open); frames before it
    /// are CRC-checked when a cursor reads them.
    #[default]
    FromCheckpoint,
    /// Scan and CRC-check every frame of every segment.
    All,
}

/// What recovery found when a durable log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files kept.
    pub segments: usize,
    /// Oldest sequence number retained.
    pub first_seq: u64,
    /// Next sequence number to be appended.
    pub next_seq: u64,
    /// Sequence number of the checkpoint the scan started from, if any.
    pub checkpoint_seq: Option<u64>,
    /// Frames scanned and CRC-checked.
    pub scanned_records: u64,
    /// Bytes of frames scanned.
    pub scanned_bytes: u64,
    /// Committed-looking frames cut with a torn tail.
    pub dropped_records: u64,
    /// Bytes cut with a torn tail (frames and partial writes).
    pub dropped_bytes: u64,
    /// Where the torn tail was cut: file and byte offset in it.
    pub truncated_at: Option<(PathBuf, u64)>,
    /// Old segment files found beside a gap at the head of the log: files
    /// that retention had already given up, whose deletion a crash
    /// interrupted (it deletes a segment a lagging cursor held after newer
    /// ones). They are deleted (writable) or ignored (read-only); none of
    /// their records is counted as dropped.
    pub stale_segments: usize,
    /// Read-only opens: corruption found before the checkpoint (file and
    /// offset in the text); cursors get
    /// [`RecvError::Corrupt`](crate::RecvError::Corrupt) there. A cursor
    /// cannot start past a damaged record inside the same segment (the
    /// lengths after it cannot be trusted): `Start::At` a later record of
    /// that segment reports the damaged one; the next segment is readable.
    /// Writable logs truncate or refuse instead (see [`StoreError::Corrupt`]).
    pub corruption: Option<String>,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// Errors of the durable log's operations.
#[derive(Clone, Debug)]
pub enum StoreError {
    /// A system call failed on `path`.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: Arc<std::io::Error>,
    },
    /// Another writer holds the directory open: another process, or a log
    /// of this process of which a [`Log`](crate::Log),
    /// [`Producer`](crate::Producer) or [`Cursor`](crate::Cursor) is still
    /// alive.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Data that was synced is damaged: `path` at byte `offset`. Records
    /// before it can still be read with a read-only open.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The directory does not hold a log this build can open as asked.
    Format {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Invalid options.
    Config(crate::BuildError),
    /// The operation needs a durable log (opened with [`Log::open`](crate::Log::open)).
    NotDurable,
    /// The log was opened read-only.
    ReadOnly,
    /// A cursor name must be 1–128 of `[A-Za-z0-9._-]`, not starting with `.`.
    InvalidName(String),
    /// A cursor with this name is already open in this process.
    CursorInUse(String),
    /// The cursor has no name (commit needs a named cursor).
    NotNamed,
    /// `commit(seq)` named a record the cursor has not read yet.
    NotRead {
        /// The sequence number passed.
        seq: u64,
        /// The cursor's position (next record it will read).
        position: u64,
    },
    /// The start position is not available.
    Start(crate::StartError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            StoreError::Locked { path } => write!(
                f,
                "{}: the log is open for writing in another process",
                path.display()
            ),
            StoreError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{}: corrupt at byte offset {offset}: {reason}",
                path.display()
            ),
            StoreError::Format { path, reason } => write!(f, "{}: {reason}", path.display()),
            StoreError::Config(e) => e.fmt(f),
            StoreError::NotDurable => f.write_str("not a durable log (use Log::open)"),
            StoreError::ReadOnly => f.write_str("the log was opened read-only"),
            StoreError::InvalidName(n) => write!(
                f,
                "invalid cursor name {n:?}: use 1-128 of [A-Za-z0-9._-], not starting with '.'"
            ),
            StoreError::CursorInUse(n) => write!(f, "cursor {n:?} is already open"),
            StoreError::NotNamed => f.write_str("commit needs a named cursor"),
            StoreError::NotRead { seq, position } => write!(
                f,
                "cannot commit sequence {seq}: the cursor has only read up to {position}"
            ),
            StoreError::Start(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<crate::StartError> for StoreError {
    fn from(e: crate::StartError) -> Self {
        StoreError::Start(e)
    }
}

/// Options of [`Log::open`](crate::Log::open): the in-memory log's settings
/// plus durability, recovery and tailing.
///
/// ```
/// use fanlog::{Log, OpenOptions, Start};
/// let dir = std::env::temp_dir().join(format!("fanlog-doc-{}", std::process::id()));
/// let _ = std::fs::remove_dir_all(&dir);
/// {
///     let log = Log::open(&dir, &OpenOptions::new().segment_size(64 * 1024)).unwrap();
///     log.append(b"one").unwrap();
///     log.append(b"two").unwrap();
/// } // dropped without close: as after a crash
/// let log = Log::open(&dir, &OpenOptions::new()).unwrap();
/// assert_eq!(log.recovery().unwrap().next_seq, 2);
/// let mut c = log.cursor(Start::Earliest).unwrap();
/// assert_eq!(c.try_next().unwrap().data(), b"one");
/// # drop((c, log)); std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub(crate) builder: crate::LogBuilder,
    pub(crate) segment_size: Option<usize>,
    pub(crate) retain_bytes: Option<usize>,
    pub(crate) sync: SyncPolicy,
    pub(crate) verify: Verify,
    pub(crate) read_only: bool,
    pub(crate) create: bool,
    pub(crate) max_age: Option<Duration>,
    pub(crate) poll_interval: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            builder: crate::LogBuilder::default(),
            segment_size: None,
            retain_bytes: None,
            sync: SyncPolicy::None,
            verify: Verify::FromCheckpoint,
            read_only: false,
            create: true,
            max_age: None,
            poll_interval: Duration::from_millis(1),
        }
    }
}

impl OpenOptions {
    /// Defaults: 1 MiB segments (or the existing log's size), a 64-segment
    /// budget, `Block`, history kept up to the budget, [`SyncPolicy::None`],
    /// [`Verify::FromCheckpoint`], create the directory if missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of frames per segment file (power of two, 256 B–128 MiB). An
    /// existing log keeps its size; asking for another one is an error.
    pub fn segment_size(mut self, bytes: usize) -> Self {
        self.segment_size = Some(bytes);
        self
    }

    /// Byte budget of segment files (see [`LogBuilder::max_bytes`](crate::LogBuilder::max_bytes)).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.builder = self.builder.max_bytes(bytes);
        self
    }

    /// History kept when no cursor needs it (default: `max_bytes`).
    pub fn retain_bytes(mut self, bytes: usize) -> Self {
        self.retain_bytes = Some(bytes);
        self
    }

    /// Largest payload accepted (at most `segment_size - 32`).
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.builder = self.builder.max_record_size(bytes);
        self
    }

    /// What appends do when the budget is exhausted (default `Block`).
    pub fn overflow(mut self, policy: crate::OverflowPolicy) -> Self {
        self.builder = self.builder.overflow(policy);
        self
    }

    /// How waits are done.
    pub fn wait_strategy(mut self, wait: crate::WaitStrategy) -> Self {
        self.builder = self.builder.wait_strategy(wait);
        self
    }

    /// Which clock stamps records.
    pub fn timestamps(mut self, timestamps: crate::Timestamps) -> Self {
        self.builder = self.builder.timestamps(timestamps);
        self
    }

    /// When to sync to disk (default [`SyncPolicy::None`]).
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// How much recovery checks (default [`Verify::FromCheckpoint`]).
    pub fn verify(mut self, verify: Verify) -> Self {
        self.verify = verify;
        self
    }

    /// Open read-only, to tail a log another process writes (default
    /// `false`). Appends fail with [`AppendError::ReadOnly`](crate::AppendError::ReadOnly).
    /// A read-only open never creates anything: until the writer has created
    /// the log it fails with [`StoreError::Io`] (no directory) or
    /// [`StoreError::Format`] (no segment file yet); a tailer that may start
    /// first retries (see `open_when_created` in `tests/store_tail.rs`).
    /// (A named cursor opened through a read-only log does keep its
    /// committed position in the log's `cursors` directory, where the
    /// writer's retention reads it.)
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Create the directory and an empty log if missing (default `true`;
    /// ignored for read-only opens).
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Delete sealed segments older than this, even if named cursors have
    /// not committed them (default: no age limit).
    pub fn max_age(mut self, age: Option<Duration>) -> Self {
        self.max_age = age;
        self
    }

    /// Read-only logs: how often to look for the writer's progress (default
    /// 1 ms; at least 10 µs).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_micros(10));
        self
    }

    /// Opens (or creates) the log in `dir`; same as [`Log::open`](crate::Log::open).
    #[cfg(not(fanlog_loom))]
    pub fn open(&self, dir: impl AsRef<std::path::Path>) -> Result<crate::Log, StoreError> {
        imp::open(dir.as_ref(), self)
    }
}

#[cfg(all(test, not(fanlog_loom), not(miri)))]
mod tests {
    use crate::log::producer::test_hooks::FAIL_SYNC;
    use crate::{AppendError, Log, OpenOptions, RecvError, Start, SyncPolicy};

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fanlog-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Reads everything up to the close; returns the payloads and the close.
    fn drain(log: &Log) -> (Vec<Vec<u8>>, crate::CloseStatus) {
        let mut c = log.cursor(Start::Earliest).unwrap();
        let mut got = Vec::new();
        loop {
            match c.try_next() {
                Ok(r) => got.push(r.data().to_vec()),
                Err(RecvError::Closed(st)) => return (got, st),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }

    /// An `EveryBatch` append whose sync fails was appended: it must say so
    /// (with the sequence number), not look like `Io` (nothing appended),
    /// or a caller that retries would append the records twice.
    #[test]
    fn a_failed_sync_reports_the_records_as_appended() {
        for batch in [false, true] {
            let dir = tmpdir(if batch {
                "syncfail-batch"
            } else {
                "syncfail-one"
            });
            let opts = OpenOptions::new()
                .segment_size(4096)
                .max_bytes(1 << 20)
                .sync(SyncPolicy::EveryBatch);
            let log = Log::open(&dir, &opts).unwrap();
            assert_eq!(log.append(b"first").unwrap(), 0);
            FAIL_SYNC.with(|f| f.set(Some(libc::EIO)));
            let r = if batch {
                log.producer().append_batch(0, &[&b"b1"[..], b"b2", b"b3"])
            } else {
                log.append(b"b1")
            };
            FAIL_SYNC.with(|f| f.set(None));
            match r {
                Err(AppendError::SyncFailed { first_seq, message }) => {
                    assert_eq!(first_seq, 1);
                    assert!(message.contains("msync"), "{message}");
                }
                other => panic!("expected SyncFailed, got {other:?}"),
            }
            // The log is closed with the errno; later appends are refused.
            assert!(matches!(log.append(b"late"), Err(AppendError::Closed(_))));
            let (got, st) = drain(&log);
            let want: Vec<&[u8]> = if batch {
                vec![b"first", b"b1", b"b2", b"b3"]
            } else {
                vec![b"first", b"b1"]
            };
            assert_eq!(got, want);
            assert_eq!(st.code(), libc::EIO);
            assert!(
                st.message().contains("records from 1 were appended"),
                "{st:?}"
            );
            drop(log);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
