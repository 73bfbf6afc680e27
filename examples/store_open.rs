//! `store_open`: how long `Log::open` (recovery) and a full read take for a
//! large durable log, with a checkpoint, without one, and with
//! `Verify::All`, from a cold and from a warm page cache.
//!
//! ```text
//! cargo run --release --example store_open                    # 1 GiB, 256 B records
//! cargo run --release --example store_open -- --size-mib 64 --payload 64
//! cargo run --release --example store_open -- --dir /var/tmp/big --keep
//! ```
//!
//! # What runs
//!
//! 1. Builds a log of `--size-mib` segment files of 1 MiB (default 1024,
//!    i.e. 1 GiB of frames) full of `--payload`-byte records (default 256)
//!    in `--dir` (default a fresh directory under `$TMPDIR` or `/tmp`),
//!    appending with `append_batch` of 64, then `flush`es it (which syncs
//!    every file and writes a checkpoint at the end) and drops it.
//! 2. For each scenario, opens the log, reads every record with a cursor
//!    from `Start::Earliest` (`next_batch(256)`, checking the sequence
//!    numbers and touching every byte) and drops it again; first with a
//!    *cold* page cache, then at once again *warm*:
//!    * `checkpoint`: `Verify::FromCheckpoint` with the checkpoint at the
//!      end (the scan starts there; every earlier frame's CRC is checked
//!      when the cursor reads it);
//!    * `verify_all`: `Verify::All` (every frame scanned and CRC-checked at
//!      open; reads check nothing);
//!    * `read_only`: `OpenOptions::read_only(true)` with the checkpoint, as
//!      a tailing process opens it (every read checks the CRC);
//!    * `no_checkpoint`: `Verify::FromCheckpoint` after deleting the
//!      `checkpoint` file: a full scan, as after a crash before the first
//!      flush.
//!
//! *Cold* means the segment files' pages were evicted from the page cache
//! just before the open with `posix_fadvise(POSIX_FADV_DONTNEED)` on each
//! file (they are clean after the flush, so the kernel drops them; only
//! this log's files are evicted, not the whole machine's cache as
//! `echo 3 > /proc/sys/vm/drop_caches` would). The output says how many of
//! the files' pages were still resident after the eviction.
//!
//! The directory is deleted at the end (unless `--keep`). The example
//! refuses to start when the file system has less than twice the log's
//! size free.

use fanlog::{Cursor, Log, OpenOptions, Start, Timestamps, Verify};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEGMENT: usize = 1 << 20;
const APPEND_BATCH: usize = 64;
const READ_BATCH: usize = 256;
/// Header bytes of a durable frame (commit word, length, kind, timestamp,
/// CRC); frames are 8-byte aligned.
const FRAME_HEADER: usize = 32;

struct Args {
    size_mib: usize,
    payload: usize,
    dir: Option<PathBuf>,
    keep: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: store_open [--size-mib N (1024)] [--payload BYTES (256)] [--dir PATH] [--keep]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        size_mib: 1024,
        payload: 256,
        dir: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--size-mib" => a.size_mib = value().parse().unwrap_or_else(|_| usage()),
            "--payload" => a.payload = value().parse().unwrap_or_else(|_| usage()),
            "--dir" => a.dir = Some(PathBuf::from(value())),
            "--keep" => a.keep = true,
            _ => usage(),
        }
    }
    if a.size_mib == 0 || a.payload == 0 || a.payload > SEGMENT - FRAME_HEADER {
        usage();
    }
    a
}

/// Free bytes for an unprivileged user on the file system holding `p`.
fn free_bytes(p: &Path) -> u64 {
    let c = CString::new(p.as_os_str().as_bytes()).expect("no NUL in path");
    // SAFETY: all-zero is a valid `statvfs` (plain integers).
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path, `s` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return 0;
    }
    s.f_bavail as u64 * s.f_frsize as u64
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Pages of `files` in the page cache, and pages in all (`mincore`).
fn resident_pages(files: &[PathBuf]) -> (u64, u64) {
    // SAFETY: plain libc query.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let (mut resident, mut total) = (0u64, 0u64);
    for p in files {
        let f = std::fs::File::open(p).expect("open segment");
        let len = f.metadata().expect("metadata").len() as usize;
        if len == 0 {
            continue;
        }
        // SAFETY: a fresh read-only shared mapping of a file we opened; it
        // is only passed to `mincore` and unmapped below.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED, "mmap {}", p.display());
        let pages = len.div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: `addr` maps `len` bytes; `vec` has one byte per page.
        let r = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore {}", p.display());
        // SAFETY: unmapping the mapping made above.
        unsafe { libc::munmap(addr, len) };
        resident += vec.iter().filter(|&&b| b & 1 != 0).count() as u64;
        total += pages as u64;
    }
    (resident, total)
}

/// Evicts the (clean) pages of `files` from the page cache.
fn evict(files: &[PathBuf]) {
    for p in files {
        let f = std::fs::File::open(p).expect("open segment");
        // SAFETY: plain syscalls on an fd we own.
        unsafe {
            libc::fdatasync(f.as_raw_fd());
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
}

/// Sums the payload as little-endian 8-byte words, so every byte is read.
fn touch(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        acc = acc.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    for &b in words.remainder() {
        acc = acc.wrapping_add(u64::from(b));
    }
    acc
}

/// Reads every record; returns (records, payload bytes).
fn read_all(log: &Log, expect: u64) -> (u64, u64) {
    let mut c: Cursor = log.cursor(Start::Earliest).expect("cursor");
    let mut next = c.position();
    let (mut bytes, mut acc) = (0u64, 0u64);
    while next < expect {
        let batch = match c.try_next_batch(READ_BATCH) {
            Ok(b) => b,
            Err(e) => panic!("read failed at seq {next}: {e}"),
        };
        for r in batch {
            assert_eq!(r.seq(), next, "sequence gap");
            next += 1;
            bytes += r.data().len() as u64;
            acc = acc.wrapping_add(touch(r.data()));
        }
    }
    std::hint::black_box(acc);
    (next, bytes)
}

fn options(max_bytes: usize) -> OpenOptions {
    OpenOptions::new()
        .segment_size(SEGMENT)
        .max_bytes(max_bytes)
        .timestamps(Timestamps::Coarse)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mib_s(bytes: u64, d: Duration) -> String {
    format!(
        "{:.0} MiB/s",
        bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
    )
}

fn main() {
    let args = parse_args();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fanlog-store-open-{}", std::process::id()))
    });
    if dir.exists() {
        eprintln!("{} exists: pass a new directory", dir.display());
        std::process::exit(1);
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let file_bytes = (args.size_mib * (SEGMENT + 4096)) as u64;
    let free = free_bytes(parent);
    if free < 2 * file_bytes {
        eprintln!(
            "{}: {} MiB free, the log needs {} MiB (refusing below twice that)",
            parent.display(),
            free >> 20,
            file_bytes >> 20
        );
        std::process::exit(1);
    }
    let frame = FRAME_HEADER + args.payload.next_multiple_of(8);
    let per_segment = (SEGMENT / frame) as u64;
    let records = per_segment * args.size_mib as u64;
    // Room for every segment plus the one a full tail would link.
    let max_bytes = (args.size_mib + 2) * SEGMENT;
    println!(
        "log: {} segments of 1 MiB, {} B payloads ({frame} B frames, {per_segment} per segment), {records} records, in {}",
        args.size_mib,
        args.payload,
        dir.display()
    );

    // 1. Build.
    let t = Instant::now();
    {
        let log = Log::open(&dir, &options(max_bytes)).expect("create");
        let p = log.producer();
        let mut bufs = vec![vec![0x5Au8; args.payload]; APPEND_BATCH];
        let mut i = 0u64;
        while i < records {
            // Batches never straddle a segment boundary, so every segment
            // is filled to `per_segment` records (a batch that does not fit
            // would go whole to the next segment).
            let room = per_segment - i % per_segment;
            let k = (APPEND_BATCH as u64).min(room) as usize;
            for (j, b) in bufs[..k].iter_mut().enumerate() {
                let n = b.len().min(8);
                b[..n].copy_from_slice(&(i + j as u64).to_le_bytes()[..n]);
            }
            p.append_batch(0, &bufs[..k]).expect("append");
            i += k as u64;
        }
        let appended = t.elapsed();
        let f = Instant::now();
        log.flush().expect("flush");
        println!(
            "build: appended in {} ({:.2} M records/s), flush (msync of every file + checkpoint) {}",
            secs(appended),
            records as f64 / appended.as_secs_f64() / 1e6,
            secs(f.elapsed())
        );
    }
    let files = segment_files(&dir);
    let on_disk: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    println!(
        "files: {} segment files, {} MiB",
        files.len(),
        on_disk >> 20
    );

    println!();
    println!("| scenario | cache | open | scanned records | scanned MiB | segments | read all | read rate |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let scenarios: [(&str, OpenOptions); 4] = [
        ("checkpoint", options(max_bytes)),
        ("verify_all", options(max_bytes).verify(Verify::All)),
        ("read_only", options(max_bytes).read_only(true)),
        ("no_checkpoint", options(max_bytes)),
    ];
    let mut notes = Vec::new();
    for (name, opts) in scenarios {
        if name == "no_checkpoint" {
            std::fs::remove_file(dir.join("checkpoint")).expect("remove checkpoint");
        }
        for cache in ["cold", "warm"] {
            if cache == "cold" {
                evict(&files);
                let (res, total) = resident_pages(&files);
                notes.push(format!(
                    "{name}: {res} of {total} pages resident after eviction"
                ));
            }
            let t = Instant::now();
            let log = Log::open(&dir, &opts).expect("open");
            let open = t.elapsed();
            let r = log.recovery().expect("durable");
            assert_eq!(
                (r.first_seq, r.next_seq),
                (0, records),
                "{name}: recovered {r:?}"
            );
            assert_eq!(r.dropped_records, 0, "{name}: recovered {r:?}");
            let t = Instant::now();
            let (n, bytes) = read_all(&log, records);
            let read = t.elapsed();
            assert_eq!((n, bytes), (records, records * args.payload as u64));
            println!(
                "| {name} | {cache} | {} (recovery {}) | {} | {} | {} | {} | {} ({:.1} M records/s) |",
                secs(open),
                secs(r.elapsed),
                r.scanned_records,
                r.scanned_bytes >> 20,
                r.segments,
                secs(read),
                mib_s(bytes, read),
                n as f64 / read.as_secs_f64() / 1e6
            );
            drop(log);
        }
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    if args.keep {
        println!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).expect("remove log directory");
    }
}
