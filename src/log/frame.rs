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
//! In-memory logs without timestamps (`Timestamps::Off`, segments up to
//! half of `MAX_SEGMENT_SIZE`) use a 16-byte header: the same fields
//! without the timestamp, the payload at 16. At 8 bytes of payload that is
//! a 24-byte frame instead of 32: readers pull a third fewer cache lines
//! from the producer's core per record.
//!
//! Durable logs (`crate::store`) use a 32-byte header: the same first 24
//! bytes, then a CRC-32C (u32) over the sequence number (8 bytes, little
//! endian), bytes 8..24 of the header and the payload, then 4 zero bytes;
//! the payload starts at 32. The commit word is still written last.
//!
//! The commit word is written last, with a Release store, by the producer
//! that reserved the frame; a reader Acquire-loads it and trusts the rest of
//! the frame only when it equals `seq + 1`. Segment memory is zeroed before
//! it is reused (by the linker, see `Shared::link`), so a stale byte pattern
//! left by an earlier life of the segment — a payload that happens to look
//! like `seq + 1` — can never be mistaken for a commit.

/// Size of the frame header in bytes.
pub(crate) const HEADER: usize = 24;
/// Size of the compact frame header (no timestamp; see the module docs).
pub(crate) const COMPACT_HEADER: usize = 16;
/// Frames start on 8-byte boundaries (the commit word is an `AtomicU64`).
pub(crate) const ALIGN: usize = 8;

/// Size of a durable frame's header (with the CRC).
pub(crate) const DURABLE_HEADER: usize = 32;
/// Offset of the CRC in a durable frame.
pub(crate) const CRC_AT: usize = 24;

/// Offset of the payload-length field.
pub(crate) const LEN_AT: usize = 8;
/// Offset of the kind field.
pub(crate) const KIND_AT: usize = 12;
/// Offset of the timestamp field.
pub(crate) const TIME_AT: usize = 16;

/// Bytes a record of `len` payload bytes occupies in a segment, with a
/// header of `hdr` bytes ([`COMPACT_HEADER`], [`HEADER`] or
/// [`DURABLE_HEADER`]).
#[inline]
pub(crate) const fn frame_len_h(hdr: usize, len: usize) -> usize {
    (hdr + len + (ALIGN - 1)) & !(ALIGN - 1)
}

/// Bytes a record of `len` payload bytes occupies in an in-memory segment.
#[cfg(test)]
#[inline]
pub(crate) const fn frame_len(len: usize) -> usize {
    frame_len_h(HEADER, len)
}

/// The CRC of a durable frame: over `seq`, header bytes 8..24 and the payload.
#[inline]
pub(crate) fn frame_crc(seq: u64, header_8_24: &[u8], payload: &[u8]) -> u32 {
    crate::store::crc::crc32c_parts(&[&seq.to_le_bytes(), header_8_24, payload])
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
