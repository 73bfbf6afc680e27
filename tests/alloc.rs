//! A counting global allocator shows that steady-state appends and reads
//! allocate nothing per record. (The only allocations left are per
//! *segment*: crossbeam-epoch's queue node when a retired segment's deferred
//! recycle is handed to the global collector.)

use fanlog::{Log, Start};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_appends_and_reads_do_not_allocate_per_record() {
    let seg = 64 * 1024;
    let log = Log::builder()
        .segment_size(seg)
        .max_bytes(seg * 8)
        .build()
        .unwrap();
    let p = log.producer();
    let mut c = log.cursor(Start::Earliest).unwrap();
    let payload = [7u8; 64];
    let mut round = |n: u64| {
        for _ in 0..n {
            p.append(&payload).unwrap();
            let r = c.try_next().unwrap();
            assert_eq!(r.data().len(), 64);
        }
        for _ in 0..n / 64 {
            let batch: [&[u8]; 64] = [&payload; 64];
            p.append_batch(1, &batch).unwrap();
            let mut got = 0;
            while got < 64 {
                got += c.try_next_batch(64).unwrap().count();
            }
        }
    };
    // Warm up: fill the pool, let the epoch machinery allocate its state.
    round(50_000);
    let records = 1_000_000u64;
    let before = ALLOCS.load(Ordering::Relaxed);
    round(records / 2);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let segments = records * 88 / seg as u64;
    println!("{allocs} allocations for {records} records across ~{segments} segments");
    // Zero per record: what remains is about one per segment turned over
    // (crossbeam-epoch's node for the flushed bag of deferred recycles).
    assert!(
        allocs <= 2 * segments + 16,
        "{allocs} allocations for {records} records ({segments} segments)"
    );
}
