//! The durable log's state and its hooks into the log engine.

use super::file::{self, io_at};
use super::named::{self, NamedSlot};
use super::recover::{self, Checkpoint};
use super::{OpenOptions, Recovery, StoreError, SyncPolicy};
use crate::log::frame::DURABLE_HEADER;
use crate::log::segment::{unpack, Segment, COUNT_SHIFT};
use crate::log::Shared;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::{CloseStatus, Log, Start};
use arc_swap::ArcSwap;
use crossbeam_epoch as epoch;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// The durable part of a log's shared state.
pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    cursors_dir: PathBuf,
    pub(crate) read_only: bool,
    pub(crate) sync: SyncPolicy,
    max_age: Option<Duration>,
    poll_interval: Duration,
    /// The writer's `flock` on `LOCK`, held until [`Store::shutdown`].
    lock: Mutex<Option<File>>,
    /// [`Store::shutdown`] ran.
    shut: AtomicBool,
    /// Segment-file work shared with the background thread (spares,
    /// unmaps) and the directory's dirty flag.
    files: Arc<Files>,
    /// Serializes flushes; holds the last checkpoint written.
    flush_state: Mutex<Option<Checkpoint>>,
    recovery: Recovery,
    /// Named cursors known to this process (opened or found on disk).
    named: Mutex<HashMap<String, Arc<NamedSlot>>>,
    /// Lock-free snapshot of `named` for retention checks.
    named_list: ArcSwap<Vec<Arc<NamedSlot>>>,
    /// `cursors/` mtime when `named` was last reloaded (ns).
    cursors_mtime: AtomicU64,
    /// When `cursors/` was last looked at (ns).
    cursors_checked: AtomicU64,
    /// Why the last segment creation failed.
    last_error: Mutex<Option<Arc<str>>>,
    /// Background thread (interval flusher or tail follower).
    bg: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
}

/// Recycled segments waiting for the background thread to unmap them:
/// beyond this many, the producer that recycles the next one unmaps the
/// oldest itself, so a stalled background thread never holds disk space
/// unboundedly and never makes a producer wait.
const MAX_RETIRED: usize = 4;

/// Segment-file work moved off the producers' path, shared by the store and
/// its background thread (which holds this, not the log, so that dropping
/// the log is never delayed by it). See the [store module](super) docs.
struct Files {
    /// The log's directory.
    dir: PathBuf,
    /// Bytes of frames per segment.
    segment_size: usize,
    /// `EveryBatch`: new segment files are fsynced with their directory.
    sync_new: bool,
    /// Writable logs: the background thread, once it runs (spares and
    /// background unmapping are in use only then).
    thread: OnceLock<std::thread::Thread>,
    /// A segment file made ahead of time, taken by the linker.
    spare: Mutex<Option<file::Spare>>,
    /// The linker has asked for a segment file once: spares are made only
    /// from then on, so a log that never fills its first segment never has
    /// a file in its directory beyond its segments.
    wanted: AtomicBool,
    /// Recycled segments, their files already unlinked, that the
    /// background thread unmaps (which frees the file's blocks and pages),
    /// oldest first.
    retired: Mutex<VecDeque<Box<Segment>>>,
    /// A segment file was created or deleted since the last directory sync.
    dir_dirty: AtomicBool,
}

impl Files {
    /// Wakes the background thread, if there is one.
    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Background thread: unmaps what was recycled, then makes a spare if
    /// the linker took it. `made` numbers the spare files.
    fn housekeep(&self, made: &mut u64) {
        // Unmaps first: they free the disk space the spare may need.
        loop {
            let next = self.retired.lock().expect("retired lock").pop_front();
            let Some(seg) = next else { break };
            drop(seg);
        }
        // Relaxed: a hint; the linker's wake-up that follows its store
        // brings us back here anyway.
        if !self.wanted.load(Ordering::Relaxed) || self.spare.lock().expect("spare lock").is_some()
        {
            return;
        }
        // On failure (full disk...) no spare: the linker makes the file
        // itself and reports the error to the producer that needed it.
        if let Ok(sp) = file::create_spare(&self.dir, self.segment_size, *made, self.sync_new) {
            *made += 1;
            // Only this thread fills the slot, so it is still empty.
            *self.spare.lock().expect("spare lock") = Some(sp);
        }
    }

    /// After the background thread stopped: deletes the unused spare and
    /// unmaps what is still waiting.
    fn shutdown(&self) {
        if let Some(sp) = self.spare.lock().ok().and_then(|mut s| s.take()) {
            sp.discard();
        }
        if let Ok(mut q) = self.retired.lock() {
            q.clear();
        }
    }
}

/// A named cursor's handle, held by the cursor.
pub(crate) struct NamedCursor {
    pub(crate) slot: Arc<NamedSlot>,
    pub(crate) auto_commit: bool,
    /// Its entry in [`OPEN_NAMED`].
    key: PathBuf,
}

impl Drop for NamedCursor {
    fn drop(&mut self) {
        open_named_set().remove(&self.key);
        // Release: the next opener in this process sees the slot free.
        self.slot.in_use.store(false, Ordering::Release);
    }
}

/// The named cursors open in this process, by the canonical path of their
/// file: a name is open at most once per process whichever `Log` handle of
/// its directory opened it (the writer's or a read-only one), and it is not
/// removed through another handle while open. (Each handle's slots also
/// have an `in_use` flag; this covers several handles of one directory.)
static OPEN_NAMED: Mutex<std::collections::BTreeSet<PathBuf>> =
    Mutex::new(std::collections::BTreeSet::new());

fn open_named_set() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<PathBuf>> {
    // A panic while holding it cannot leave the set half-changed.
    OPEN_NAMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key of a named cursor's file in [`OPEN_NAMED`].
fn named_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn mtime_ns(p: &Path) -> u64 {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(crate) fn open(dir: &Path, opts: &OpenOptions) -> Result<Log, StoreError> {
    let writable = !opts.read_only;
    // The options, validated with the durable frame header for a log of
    // segments of `segment_size`.
    let config_for = |segment_size: usize| {
        let builder = opts.builder.clone().segment_size(segment_size);
        builder
            .pool_segments(0)
            .memory(crate::Memory::Mmap)
            .durable_config(opts.retain_bytes)
            .map_err(StoreError::Config)
    };
    if writable && opts.create {
        if !dir.exists() {
            // A new log: refuse bad options before anything is created,
            // so that a failed open leaves no directory behind.
            config_for(
                opts.segment_size
                    .unwrap_or(crate::log::config::DEFAULT_SEGMENT_SIZE),
            )?;
        }
        std::fs::create_dir_all(dir).map_err(|e| io_at(dir, e))?;
    }
    if !dir.is_dir() {
        return Err(io_at(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such log directory"),
        ));
    }
    let cursors_dir = dir.join("cursors");
    let lock = if writable {
        let path = dir.join("LOCK");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_at(&path, e))?;
        let try_lock = || {
            // SAFETY: plain syscall on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        let locked = try_lock();
        if let Err(e) = locked {
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(StoreError::Locked { path });
            }
            return Err(io_at(&path, e));
        }
        std::fs::create_dir_all(&cursors_dir).map_err(|e| io_at(&cursors_dir, e))?;
        Some(f)
    } else {
        None
    };
    let recovered = recover::recover(dir, opts.segment_size, opts.verify, writable)?;
    let segment_size = match &recovered {
        Some(r) => r.segment_size,
        None => opts
            .segment_size
            .unwrap_or(crate::log::config::DEFAULT_SEGMENT_SIZE),
    };
    let mut config = config_for(segment_size)?;
    if !writable {
        config.overflow = crate::OverflowPolicy::DropOldest;
    }
    let (segments, report) = match recovered {
        Some(r) => (r.segments, r.report),
        None if writable => {
            let s = file::create_segment(dir, segment_size, 0, opts.sync != SyncPolicy::None)
                .map_err(|e| io_at(dir, e))?;
            (
                vec![s],
                Recovery {
                    segments: 1,
                    ..Recovery::default()
                },
            )
        }
        None => {
            return Err(StoreError::Format {
                path: dir.to_path_buf(),
                reason: "no segment files: not a fanlog log (or not created yet)".into(),
            })
        }
    };
    let ckpt = Checkpoint::read(dir);
    let closed_file = dir.join("closed");
    let mut closed = None;
    if writable {
        // Reopening for writing resumes the stream.
        let _ = std::fs::remove_file(&closed_file);
    } else if let Some(t) = segments.last() {
        if let Some(final_seq) = file::read_closed(t) {
            closed = Some((final_seq, read_close_status(&closed_file)));
        }
    }
    let store = Store {
        dir: dir.to_path_buf(),
        cursors_dir: cursors_dir.clone(),
        read_only: !writable,
        sync: opts.sync,
        max_age: opts.max_age,
        poll_interval: opts.poll_interval,
        lock: Mutex::new(lock),
        shut: AtomicBool::new(false),
        files: Arc::new(Files {
            dir: dir.to_path_buf(),
            segment_size,
            sync_new: opts.sync == SyncPolicy::EveryBatch,
            thread: OnceLock::new(),
            spare: Mutex::new(None),
            wanted: AtomicBool::new(false),
            retired: Mutex::new(VecDeque::new()),
            dir_dirty: AtomicBool::new(false),
        }),
        flush_state: Mutex::new(ckpt),
        recovery: report,
        named: Mutex::new(HashMap::new()),
        named_list: ArcSwap::from_pointee(Vec::new()),
        cursors_mtime: AtomicU64::new(0),
        cursors_checked: AtomicU64::new(0),
        last_error: Mutex::new(None),
        bg: Mutex::new(None),
        stop: Arc::new(AtomicBool::new(false)),
    };
    store.reload_named();
    let shared = Shared::from_segments(config, segments, Box::new(store));
    let log = Log {
        shared: crate::log::Handle::new(&shared),
    };
    if let Some((final_seq, status)) = closed {
        if log.next_seq() >= final_seq {
            log.close(status);
        }
    }
    start_background(&log.shared);
    Ok(log)
}

fn read_close_status(path: &Path) -> CloseStatus {
    let Ok(b) = std::fs::read(path) else {
        return CloseStatus::Ok;
    };
    if b.len() < 8 {
        return CloseStatus::Ok;
    }
    let code = i32::from_le_bytes(b[0..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")) as usize;
    let msg = b
        .get(8..8 + len)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if code == 0 && msg.is_empty() {
        CloseStatus::Ok
    } else {
        CloseStatus::error(code, msg.into_owned())
    }
}

fn start_background(shared: &Arc<Shared>) {
    let Some(st) = shared.store() else { return };
    let periodic = match (st.read_only, st.sync) {
        (true, _) => Some(st.poll_interval),
        (false, SyncPolicy::Interval(d)) => Some(d),
        // Age limits are enforced on this tick too.
        (false, _) => st
            .max_age
            .map(|a| (a / 4).clamp(Duration::from_millis(10), Duration::from_secs(60))),
    };
    // Writers always have the thread: it makes spare segment files and
    // unmaps deleted ones (woken by the linker and by `on_recycle`).
    let files = (!st.read_only).then(|| st.files.clone());
    if periodic.is_none() && files.is_none() {
        return;
    }
    // Without periodic work the thread still looks every second (a spare
    // that could not be made, e.g. on a full disk, is retried then).
    let every = periodic.unwrap_or(Duration::from_secs(1));
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let stop = st.stop.clone();
    let h = std::thread::Builder::new()
        .name("fanlog-store".into())
        .spawn(move || {
            let mut next_tick = std::time::Instant::now() + every;
            let mut made = 0u64;
            loop {
                std::thread::park_timeout(
                    next_tick.saturating_duration_since(std::time::Instant::now()),
                );
                // Acquire: pairs with the Release store in `Store::drop`.
                if stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(f) = &files {
                    f.housekeep(&mut made);
                }
                let now = std::time::Instant::now();
                if now >= next_tick {
                    next_tick = now + every;
                    if periodic.is_some() {
                        let Some(shared) = weak.upgrade() else { return };
                        let Some(st) = shared.store() else { return };
                        if st.read_only {
                            st.follow(&shared);
                        } else {
                            if matches!(st.sync, SyncPolicy::Interval(_)) {
                                let _ = st.flush(&shared);
                            }
                            if st.max_age.is_some() {
                                let guard = epoch::pin();
                                shared.try_reclaim(&guard, false);
                            }
                        }
                    }
                }
            }
        });
    if let Ok(h) = h {
        if !st.read_only {
            let _ = st.files.thread.set(h.thread().clone());
        }
        *st.bg.lock().expect("bg lock") = Some(h);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Normally a no-op: the last handle's drop (or the log's) shut the
        // store down already.
        self.stop_background();
        self.files.shutdown();
    }
}

impl Store {
    /// Stops the background thread and waits for it (unless we are it).
    fn stop_background(&self) {
        // Release: the thread's Acquire load sees it and returns.
        self.stop.store(true, Ordering::Release);
        let h = self.bg.lock().ok().and_then(|mut b| b.take());
        if let Some(h) = h {
            h.thread().unpark();
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Ends the durable side of `shared` once no [`Log`], `Producer` or
    /// `Cursor` is left (or when the log's state is dropped, whichever
    /// comes first; later calls do nothing): stops and joins the
    /// background thread, syncs one last time (writers with a sync
    /// policy), deletes the unused spare file, unmaps what waits for the
    /// thread and releases the directory lock. When it returns, nothing of
    /// this log creates, deletes or writes a file in the directory again:
    /// segments that a late epoch-deferred recycle still frees were
    /// deleted when they were unlinked (see [`on_unlinked`](Self::on_unlinked)).
    pub(crate) fn shutdown(&self, shared: &Shared) {
        // Relaxed: the flag only makes the call idempotent; its callers
        // (the last handle's drop, `Shared`'s drop) are ordered by the
        // handle count's AcqRel and by `Arc`.
        if self.shut.swap(true, Ordering::Relaxed) {
            return;
        }
        self.stop_background();
        if !self.read_only && self.sync != SyncPolicy::None {
            let _ = self.flush(shared);
        }
        // The thread is gone (or is us, in its periodic work): nothing else
        // touches the spare or the queue.
        self.files.shutdown();
        drop(self.lock.lock().ok().and_then(|mut l| l.take()));
    }

    /// The head mover unlinked `seg` (it stays mapped until recycled, for
    /// the cursors that still read it): a writer deletes its file now,
    /// while it holds the directory lock, so that neither a recycle that
    /// runs after the log is gone nor the next opener of the directory
    /// ever sees it.
    pub(crate) fn on_unlinked(&self, seg: &Segment) {
        let Some(f) = &seg.file else { return };
        if !f.owned || self.read_only {
            return;
        }
        self.delete_file(f);
    }

    /// Deletes a segment's file (writer) and notes it for the next
    /// directory sync and for `on_recycle`.
    fn delete_file(&self, f: &file::SegFile) {
        let _ = std::fs::remove_file(&f.path);
        // Relaxed: read by `on_recycle` after the epoch's grace period or
        // the last lease's release, both of which order it.
        f.deleted.store(true, Ordering::Relaxed);
        // Relaxed: read by the next flush, which syncs the directory.
        self.files.dir_dirty.store(true, Ordering::Relaxed);
    }

    /// The recovery report.
    pub(crate) fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Creates the segment file for `base` (linker). On failure the reason
    /// is kept for [`Store::last_error`].
    ///
    /// Takes the spare file if one is ready (header, rename: no allocation,
    /// no page faults later); else makes the file on the spot, which is
    /// also where a full disk shows (the background thread could not make
    /// the spare either). Wakes the background thread to make the next one.
    pub(crate) fn create_segment(&self, size: usize, base: u64) -> Option<Box<Segment>> {
        let sync = self.sync == SyncPolicy::EveryBatch;
        // `try_lock`: the background thread holds the lock only to look at
        // or fill the slot; never wait for it.
        let spare = match self.files.spare.try_lock() {
            Ok(mut slot) if size == self.files.segment_size => slot.take(),
            _ => None,
        };
        let made = match spare {
            Some(sp) => sp
                .into_segment(&self.dir, size, base, sync)
                .or_else(|_| file::create_segment(&self.dir, size, base, sync)),
            None => file::create_segment(&self.dir, size, base, sync),
        };
        // Relaxed: see `Files::housekeep`.
        self.files.wanted.store(true, Ordering::Relaxed);
        self.files.wake();
        match made {
            Ok(s) => {
                // Relaxed: read by the next flush, which syncs the directory.
                self.files.dir_dirty.store(true, Ordering::Relaxed);
                Some(s)
            }
            Err(e) => {
                let msg: Arc<str> = format!(
                    "cannot create segment file {}: {e}",
                    self.dir.join(file::seg_name(base)).display()
                )
                .into();
                *self.last_error.lock().expect("error lock") = Some(msg);
                None
            }
        }
    }

    /// Why the last segment creation failed.
    pub(crate) fn last_error(&self) -> Arc<str> {
        self.last_error
            .lock()
            .expect("error lock")
            .clone()
            .unwrap_or_else(|| "segment file creation failed".into())
    }

    /// The linker linked the successor of `seg`, which holds `count` records.
    pub(crate) fn on_linked(&self, seg: &Segment, count: u64) {
        if let Some(f) = &seg.file {
            // Relaxed: an age hint.
            f.mtime_ns.store(file::now_ns(), Ordering::Relaxed);
        }
        file::publish_sealed(seg, count);
    }

    /// A segment is being freed: delete its file (writer; unless
    /// [`on_unlinked`](Self::on_unlinked) did) and unmap it.
    ///
    /// The unmap, which is where the kernel frees an unlinked file's blocks
    /// and page cache (the costly part), goes to the background thread;
    /// past [`MAX_RETIRED`] waiting, the caller unmaps the oldest itself.
    /// After [`shutdown`](Self::shutdown) the caller unmaps it.
    pub(crate) fn on_recycle(&self, seg: Box<Segment>) {
        let Some(f) = &seg.file else { return };
        if !f.owned || self.read_only {
            return; // read-only: dropping it unmaps it
        }
        // Relaxed: see `delete_file`.
        if !f.deleted.load(Ordering::Relaxed) {
            // A segment that was never linked (the link lost to `close`).
            self.delete_file(f);
        }
        // Relaxed: a late recycle after `shutdown` only has to see the
        // flag eventually; the queue is cleared again by `Store`'s drop.
        if self.files.thread.get().is_none() || self.shut.load(Ordering::Relaxed) {
            return; // dropping it unmaps it
        }
        let overflow = {
            let mut q = self.files.retired.lock().expect("retired lock");
            q.push_back(seg);
            if q.len() > MAX_RETIRED {
                q.pop_front()
            } else {
                None
            }
        };
        match overflow {
            Some(oldest) => drop(oldest),
            None => self.files.wake(),
        }
    }

    /// Whether retention must keep `seg` (whose successor starts at
    /// `end`): a named cursor has not committed past it, and it is not
    /// older than `max_age`.
    pub(crate) fn keeps(&self, seg: &Segment, end: u64) -> bool {
        if self.expired(seg) {
            return false;
        }
        if !self.read_only {
            // Look for cursors created by other processes at most every
            // 20 ms (a `statx` of `cursors/`), not on every check.
            let now = file::now_ns();
            // Relaxed: a rate limit.
            let last = self.cursors_checked.load(Ordering::Relaxed);
            if now.saturating_sub(last) > 20_000_000 {
                self.cursors_checked.store(now, Ordering::Relaxed);
                let m = mtime_ns(&self.cursors_dir);
                // Relaxed: a cache key.
                if m != self.cursors_mtime.load(Ordering::Relaxed) {
                    self.reload_named();
                }
            }
        }
        self.named_list
            .load()
            .iter()
            .any(|s| s.next().is_some_and(|n| n < end))
    }

    /// Whether `seg` is older than `max_age`.
    pub(crate) fn expired(&self, seg: &Segment) -> bool {
        let (Some(age), Some(f)) = (self.max_age, &seg.file) else {
            return false;
        };
        // Relaxed: an age hint.
        let t = f.mtime_ns.load(Ordering::Relaxed);
        file::now_ns().saturating_sub(t) > age.as_nanos() as u64
    }

    /// Loads the named cursors found under `cursors/`.
    fn reload_named(&self) {
        let m = mtime_ns(&self.cursors_dir);
        // Relaxed: a cache key.
        self.cursors_mtime.store(m, Ordering::Relaxed);
        let Ok(names) = named::list(&self.cursors_dir) else {
            return;
        };
        let mut map = self.named.lock().expect("named lock");
        for n in names {
            if let std::collections::hash_map::Entry::Vacant(e) = map.entry(n) {
                if let Ok(s) = NamedSlot::open(&self.cursors_dir, e.key(), false) {
                    e.insert(Arc::new(s));
                }
            }
        }
        map.retain(|_, s| s.path.exists());
        self.named_list
            .store(Arc::new(map.values().cloned().collect()));
    }

    /// The slot for `name`, created if needed.
    fn slot(&self, name: &str) -> Result<Arc<NamedSlot>, StoreError> {
        if !named::valid_name(name) {
            return Err(StoreError::InvalidName(name.to_string()));
        }
        let mut map = self.named.lock().expect("named lock");
        if let Some(s) = map.get(name) {
            if s.path.exists() {
                return Ok(s.clone());
            }
        }
        std::fs::create_dir_all(&self.cursors_dir).map_err(|e| io_at(&self.cursors_dir, e))?;
        let s = Arc::new(
            NamedSlot::open(&self.cursors_dir, name, true)
                .map_err(|e| io_at(&self.cursors_dir.join(format!("{name}.cur")), e))?,
        );
        map.insert(name.to_string(), s.clone());
        self.named_list
            .store(Arc::new(map.values().cloned().collect()));
        Ok(s)
    }

    /// The log was closed at `final_seq` while `tail` was the tail segment.
    pub(crate) fn on_close(&self, tail: &Segment, final_seq: u64, status: &CloseStatus) {
        if self.read_only {
            return;
        }
        let path = self.dir.join("closed");
        let msg = status.message().as_bytes();
        let mut b = Vec::with_capacity(8 + msg.len());
        b.extend_from_slice(&status.code().to_le_bytes());
        b.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        b.extend_from_slice(msg);
        let tmp = self.dir.join("closed.tmp");
        let durable = self.sync != SyncPolicy::None;
        let ok = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&b)?;
                if durable {
                    f.sync_data()?;
                }
                Ok(())
            })
            .and_then(|()| std::fs::rename(&tmp, &path))
            .and_then(|()| {
                if durable {
                    file::sync_dir(&self.dir)
                } else {
                    Ok(())
                }
            });
        if ok.is_ok() {
            file::publish_closed(tail, final_seq);
        }
    }

    /// `EveryBatch`: syncs `[off, off + len)` of `seg` before the append
    /// returns.
    pub(crate) fn sync_append(&self, seg: &Segment, off: usize, len: usize) -> std::io::Result<()> {
        file::sync_frames(seg, off, off + len)
    }

    /// Syncs everything appended before the call and writes a checkpoint.
    pub(crate) fn flush(&self, shared: &Shared) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut last = self.flush_state.lock().expect("flush lock");
        let target = shared.next_seq_and_bytes().0;
        // Lease every linked segment (briefly pinned), so none is recycled
        // while we sync it unpinned.
        let segs = lease_all(shared);
        let result = self.flush_leased(&segs, *last, target);
        for &p in &segs {
            shared.drop_lease(p, true);
        }
        let ckpt = result?;
        if let Some(c) = ckpt {
            *last = Some(c);
        }
        Ok(())
    }

    fn flush_leased(
        &self,
        segs: &[*mut Segment],
        last: Option<Checkpoint>,
        target: u64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        // Walk the committed frames from the last checkpoint to `target`,
        // waiting briefly for appends in flight (they commit within
        // microseconds: nothing can stop a producer between its reservation
        // and its commit).
        let mut end = None::<Checkpoint>;
        let deadline = std::time::Instant::now() + Duration::from_millis(100);
        for &p in segs {
            // SAFETY: leased by `lease_all`.
            let s = unsafe { &*p };
            let base = s.base();
            // Relaxed: `sealed_count` (Acquire) and the commit words below
            // decide; the reservation word only bounds the sync range.
            let (_, _, res_off) = unpack(s.tail.load(Ordering::Relaxed));
            let used = (res_off as usize).min(s.size());
            let (mut off, mut seq) = match last {
                Some(c) if c.base == base => (c.off as usize, c.seq),
                Some(c) if c.base > base => continue, // synced before
                _ => (0, base),
            };
            let from = off;
            let mut complete = true;
            while seq < target {
                if s.sealed_count() == Some(seq - base) || off + DURABLE_HEADER > s.size() {
                    break;
                }
                // Acquire: pairs with the producer's Release commit.
                let w = s.data.commit_word(off).load(Ordering::Acquire);
                if w == seq + 1 {
                    // SAFETY: committed frame: its length is immutable.
                    let len = unsafe { (s.data.at(off).add(8) as *const u32).read() } as usize;
                    off += crate::log::frame::frame_len_h(DURABLE_HEADER, len);
                    seq += 1;
                    continue;
                }
                // Relaxed: only a hint that a producer reserved this frame
                // and may still commit it; the commit word above decides.
                if s.sealed_count().is_none_or(|c| seq - base < c)
                    && std::time::Instant::now() < deadline
                    && (unpack(s.tail.load(Ordering::Relaxed)).1 > seq - base)
                {
                    std::thread::yield_now();
                    continue;
                }
                complete = false;
                break;
            }
            file::sync_frames(s, from, used.max(off))
                .map_err(|e| io_at(s.file.as_ref().map_or(&self.dir, |f| &f.path), e))?;
            end = Some(Checkpoint {
                seq,
                base,
                off: off as u64,
            });
            if !complete || seq >= target {
                break;
            }
        }
        // Relaxed: paired with the store in `create_segment` only as a hint;
        // a racing creation is synced by the next flush.
        if self.files.dir_dirty.swap(false, Ordering::Relaxed) {
            file::sync_dir(&self.dir).map_err(|e| io_at(&self.dir, e))?;
        }
        for s in self.named_list.load().iter() {
            s.sync().map_err(|e| io_at(&s.path, e))?;
        }
        if let Some(c) = end {
            if Some(c) != last {
                write_checkpoint(&self.dir, &c)?;
            }
        }
        Ok(end)
    }

    /// Read-only logs: follow the writer (new commits, new segments, close).
    fn follow(&self, shared: &Arc<Shared>) {
        let mut progressed = false;
        loop {
            let guard = epoch::pin();
            let t = shared.tail_segment();
            // SAFETY: pinned; the tail is never unlinked.
            let ts = unsafe { &*t };
            // Relaxed: only this thread writes a read-only log's tail words
            // (a local `close` sets CLOSED with an RMW; we keep the bit).
            let word = ts.tail.load(Ordering::Relaxed);
            let (closed, mut count, mut off) = unpack(word);
            let base = ts.base();
            let mut moved = false;
            let mut off_us = off as usize;
            while let Ok(flen) = recover::check_frame(ts, off_us, base + count) {
                off_us += flen;
                count += 1;
                moved = true;
            }
            off = off_us as u64;
            if moved {
                // Release: cursors starting at `Latest` Acquire it.
                let new = (word & crate::log::segment::CLOSED) | (count << COUNT_SHIFT) | off;
                if ts
                    .tail
                    .compare_exchange(word, new, Ordering::Release, Ordering::Relaxed)
                    .is_err()
                {
                    continue; // closed locally meanwhile; look again
                }
                progressed = true;
            }
            if closed {
                break;
            }
            if let Some(c) = file::read_sealed(ts) {
                if c == count {
                    let path = self.dir.join(file::seg_name(base + count));
                    let size = ts.size();
                    drop(guard);
                    match file::map_segment(&path, size, base + count, false, true) {
                        Ok(next) => {
                            shared.link_followed(t, count, next);
                            progressed = true;
                            continue;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            shared.close_internal(CloseStatus::error(
                                -1,
                                format!(
                                    "this reader fell behind the writer's retention: {} was deleted",
                                    path.display()
                                ),
                            ));
                            break;
                        }
                        Err(_) => break, // retry next tick
                    }
                }
            }
            if let Some(final_seq) = file::read_closed(ts) {
                if final_seq == base + count {
                    drop(guard);
                    shared.close_internal(read_close_status(&self.dir.join("closed")));
                }
            }
            break;
        }
        if progressed {
            shared.wake_readers();
        }
    }

    /// A named cursor for `name`.
    pub(crate) fn open_named(
        &self,
        shared: &crate::log::Handle,
        name: &str,
        start: Start,
    ) -> Result<crate::Cursor, StoreError> {
        let slot = self.slot(name)?;
        // AcqRel: one opener wins; the loser sees the winner's claim.
        if slot
            .in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(StoreError::CursorInUse(name.to_string()));
        }
        let key = named_key(&slot.path);
        if !open_named_set().insert(key.clone()) {
            // Open through another handle of this directory.
            // Release: as in `NamedCursor::drop`.
            slot.in_use.store(false, Ordering::Release);
            return Err(StoreError::CursorInUse(name.to_string()));
        }
        let handle = NamedCursor {
            slot: slot.clone(),
            auto_commit: false,
            key,
        };
        let (mut cursor, lag) = match slot.next() {
            None => match crate::Cursor::open(shared.clone(), start) {
                Ok(c) => (c, 0),
                Err(e) => {
                    // A new name that cannot start there (`At` an evicted
                    // or future record): leave no cursor file behind.
                    drop(handle); // frees the slot for the removal
                    let _ = self.remove_named(name);
                    return Err(e.into());
                }
            },
            Some(next) => match crate::Cursor::open(shared.clone(), Start::At(next)) {
                Ok(c) => (c, 0),
                Err(crate::StartError::Evicted { oldest, .. }) => (
                    crate::Cursor::open(shared.clone(), Start::Earliest)?,
                    oldest - next,
                ),
                // The committed position is past the end (a torn tail was
                // cut after the commit): resume at the end.
                Err(crate::StartError::Future { .. }) => {
                    (crate::Cursor::open(shared.clone(), Start::Latest)?, 0)
                }
            },
        };
        if slot.next().is_none() {
            // A new name holds retention from where it starts, so a
            // consumer that dies before its first commit loses nothing.
            slot.store(cursor.position());
        }
        cursor.attach_named(handle, lag);
        Ok(cursor)
    }

    /// Deletes the named cursor `name`; `false` if it did not exist.
    pub(crate) fn remove_named(&self, name: &str) -> Result<bool, StoreError> {
        if !named::valid_name(name) {
            return Err(StoreError::InvalidName(name.to_string()));
        }
        let mut map = self.named.lock().expect("named lock");
        if let Some(s) = map.get(name) {
            // Acquire: see an open cursor's claim.
            if s.in_use.load(Ordering::Acquire) {
                return Err(StoreError::CursorInUse(name.to_string()));
            }
        }
        let path = self.cursors_dir.join(format!("{name}.cur"));
        let open = open_named_set();
        if open.contains(&named_key(&path)) {
            return Err(StoreError::CursorInUse(name.to_string())); // through another handle
        }
        let existed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_at(&path, e)),
        };
        map.remove(name);
        self.named_list
            .store(Arc::new(map.values().cloned().collect()));
        Ok(existed)
    }

    /// Committed positions of the named cursors (name, next sequence).
    pub(crate) fn named_positions(&self) -> Vec<(String, Option<u64>)> {
        if !self.read_only {
            self.reload_named();
        }
        let mut v: Vec<_> = self
            .named_list
            .load()
            .iter()
            .map(|s| (s.name.clone(), s.next()))
            .collect();
        v.sort();
        v
    }
}

fn write_checkpoint(dir: &Path, c: &Checkpoint) -> Result<(), StoreError> {
    let path = dir.join("checkpoint");
    let tmp = dir.join("checkpoint.tmp");
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&c.encode())?;
        f.sync_data()?;
        std::fs::rename(&tmp, &path)?;
        file::sync_dir(dir)
    })();
    r.map_err(|e| io_at(&path, e))
}

/// Leases every linked segment, oldest first (skipping ones being unlinked).
fn lease_all(shared: &Shared) -> Vec<*mut Segment> {
    let _guard = epoch::pin();
    let mut v = Vec::new();
    let mut p = shared.head_segment();
    loop {
        // SAFETY: pinned, and `p` was the head or linked from a segment we
        // leased while it was linked: not recycled before we unpin.
        let s = unsafe { &*p };
        if s.lease() {
            v.push(p);
        } else {
            shared.drop_lease(p, false);
        }
        // Acquire: pairs with the linker's Release CAS.
        let n = s.next.load(Ordering::Acquire);
        if n.is_null() || n == crate::log::segment::closed_link() {
            break;
        }
        p = n;
    }
    v
}

impl Log {
    /// Opens (or creates) a durable log in `dir`: segments are preallocated
    /// files mapped with `MAP_SHARED`, recovered on open (see
    /// [`Recovery`], [`Log::recovery`]), with the same producer and cursor
    /// API as the in-memory log. See the [store module](crate::store) for
    /// the files, what survives a crash under each [`SyncPolicy`], retention
    /// and tailing from another process.
    ///
    /// # Errors
    /// [`StoreError::Locked`] (another process writes it),
    /// [`StoreError::Corrupt`] (synced data is damaged; names the file and
    /// offset), [`StoreError::Format`], [`StoreError::Config`],
    /// [`StoreError::Io`] (e.g. a full disk while creating the first
    /// segment).
    pub fn open(dir: impl AsRef<Path>, options: &OpenOptions) -> Result<Log, StoreError> {
        open(dir.as_ref(), options)
    }

    /// Durable logs: returns once every record appended before the call is
    /// on disk (`msync` of the written pages, `fsync` of the directory for
    /// new files, then a checkpoint that makes the next open fast).
    ///
    /// # Errors
    /// [`StoreError::NotDurable`], [`StoreError::ReadOnly`], [`StoreError::Io`].
    pub fn flush(&self) -> Result<(), StoreError> {
        match self.shared.store() {
            Some(st) => st.flush(&self.shared),
            None => Err(StoreError::NotDurable),
        }
    }

    /// Durable logs: what recovery found when the log was opened.
    pub fn recovery(&self) -> Option<Recovery> {
        self.shared.store().map(|s| s.recovery().clone())
    }

    /// Durable logs: the directory.
    pub fn dir(&self) -> Option<&Path> {
        self.shared.store().map(|s| s.dir.as_path())
    }

    /// Whether this log was opened with [`Log::open`].
    pub fn is_durable(&self) -> bool {
        self.shared.store().is_some()
    }

    /// Durable logs: a cursor that resumes from its last committed position
    /// (see [`Cursor::commit`](crate::Cursor::commit)); `start` applies only
    /// when `name` has never committed. If the committed position was
    /// deleted by retention meanwhile, the first read reports
    /// [`RecvError::Lagged`](crate::RecvError::Lagged) with the records
    /// missed. A new name commits its start position at once, so retention
    /// keeps everything from there even if the consumer dies before its
    /// first commit. Retention keeps what a named cursor has not committed
    /// (see the [store module](crate::store)), also while no process has it
    /// open.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`], [`StoreError::CursorInUse`] (already
    /// open in this process), [`StoreError::NotDurable`],
    /// [`StoreError::Start`], [`StoreError::Io`].
    pub fn cursor_named(&self, name: &str, start: Start) -> Result<crate::Cursor, StoreError> {
        match self.shared.store() {
            Some(st) => st.open_named(&self.shared, name, start),
            None => Err(StoreError::NotDurable),
        }
    }

    /// Durable logs: deletes the named cursor `name` (it no longer holds
    /// retention); `Ok(false)` if there was none.
    ///
    /// # Errors
    /// [`StoreError::CursorInUse`], [`StoreError::InvalidName`],
    /// [`StoreError::NotDurable`], [`StoreError::Io`].
    pub fn remove_cursor(&self, name: &str) -> Result<bool, StoreError> {
        match self.shared.store() {
            Some(st) => st.remove_named(name),
            None => Err(StoreError::NotDurable),
        }
    }

    /// Durable logs: every named cursor and its committed position (the
    /// next sequence number it will read; `None` if it never committed).
    pub fn named_cursors(&self) -> Vec<(String, Option<u64>)> {
        self.shared
            .store()
            .map(|s| s.named_positions())
            .unwrap_or_default()
    }
}
