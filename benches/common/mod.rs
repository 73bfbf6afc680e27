//! Helpers shared by the benches (included with `mod common;`).
#![allow(dead_code)] // each bench uses its own subset

use fanlog::Cursor;
use std::time::{Duration, Instant};

/// The span of an iteration, from the first worker's start to the last
/// worker's end, each read by the worker itself.
///
/// Why the workers read the clock and not the thread that spawned them:
/// after the barrier that releases everyone, that thread may wait for a
/// CPU while the workers run (in the busy-spinning groups two pinned
/// spinners hold both CPUs of the machine), so a start it reads is late and
/// a short iteration looks fast. The disruptor's busy-spinning 1 -> 1 at
/// 8 B measured 1.5 G records/s that way on a 2-vCPU AMD EPYC guest,
/// several times what `examples/steady_state` sustains.
#[derive(Default)]
pub struct Span {
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Span {
    /// A worker started at `t`.
    pub fn start(&mut self, t: Instant) {
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
    }

    /// A worker whose end counts finished at `t`.
    pub fn end(&mut self, t: Instant) {
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// From the first start to the last end.
    pub fn elapsed(&self) -> Duration {
        let first = self.first.expect("a worker started");
        let last = self.last.expect("a worker ended");
        last.duration_since(first)
    }
}

/// Sums the payload as little-endian 8-byte words (the tail zero-padded), so
/// every byte is read.
#[inline]
pub fn touch(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        acc = acc.wrapping_add(u64::from_le_bytes(w.try_into().unwrap()));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        acc = acc.wrapping_add(u64::from_le_bytes(last));
    }
    acc
}

/// Reads `records` records from `cursor` in batches of `batch`, checking
/// that sequence numbers go up by one; returns the payload sum.
pub fn consume(cursor: &mut Cursor, records: u64, batch: usize) -> u64 {
    let mut next = cursor.position();
    let end = next + records;
    let mut acc = 0u64;
    while next < end {
        match cursor.next_batch(batch) {
            Ok(b) => {
                for r in b {
                    if r.seq() != next {
                        panic!("out of order: seq {} where {next} was expected", r.seq());
                    }
                    next += 1;
                    acc = acc.wrapping_add(touch(r.data()));
                }
            }
            Err(e) => panic!("read failed at seq {next}: {e}"),
        }
    }
    acc
}
