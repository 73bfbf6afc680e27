//! The frame: how one record is laid out inside a segment.
//!
//! ```text
//! offset  size  field
//!      0     8  commit word: 0 = not committed; seq + 1 once committed
//!      8     4  payload length in bytes (u32, native endian)
//!     12     4  kind (u32, the application's)
//!     16     8  append timestamp, ns since the Unix epoch (0 if disabled)
//!     24   len  payload, then zero..7 bytes of padding to an 8-byte boundary
//! ```
//!
//! The commit word is written last, with a Release store, by the producer
//! that reserved the frame; a reader Acquire-loads it and trusts the rest of
//! the frame only when it equals `seq + 1`. Segment memory is zeroed before
//! it is reused (see `segment::Segment::recycle`), so a stale byte pattern
//! left by an earlier life of the segment — a payload that happens to look
//! like `seq + 1` — can never be mistaken for a commit.

/// Size of the frame header in bytes.
pub(crate) const HEADER: usize = 24;
/// Frames start on 8-byte boundaries (the commit word is an `AtomicU64`).
pub(crate) const ALIGN: usize = 8;

/// Offset of the payload-length field.
pub(crate) const LEN_AT: usize = 8;
/// Offset of the kind field.
pub(crate) const KIND_AT: usize = 12;
/// Offset of the timestamp field.
pub(crate) const TIME_AT: usize = 16;

/// Bytes a record of `len` payload bytes occupies in a segment.
#[inline]
pub(crate) const fn frame_len(len: usize) -> usize {
    (HEADER + len + (ALIGN - 1)) & !(ALIGN - 1)
}

/// The value a committed frame's commit word holds.
#[inline]
pub(crate) const fn commit_value(seq: u64) -> u64 {
    seq + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_are_aligned() {
        assert_eq!(frame_len(0), 24);
        assert_eq!(frame_len(1), 32);
        assert_eq!(frame_len(8), 32);
        assert_eq!(frame_len(9), 40);
        assert_eq!(frame_len(64), 88);
        for len in 0..100 {
            assert_eq!(frame_len(len) % ALIGN, 0);
            assert!(frame_len(len) >= HEADER + len);
            assert!(frame_len(len) < HEADER + len + ALIGN);
        }
    }
}
