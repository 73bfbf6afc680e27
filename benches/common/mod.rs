//! Helpers shared by the benches (included with `mod common;`).
#![allow(dead_code)] // each bench uses its own subset

use fanlog::Cursor;

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
