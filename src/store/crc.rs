//! CRC-32C (Castagnoli), the checksum of durable frames and file headers.
//!
//! Uses the SSE4.2 `crc32` instruction when the CPU has it (detected once),
//! else a byte-wise table. Both give the standard CRC-32C (iSCSI, ext4,
//! RocksDB): `crc32c(b"123456789") == 0xE306_9283`.

const POLY: u32 = 0x82F6_3B78; // reflected Castagnoli polynomial

const fn make_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = make_table();

fn update_table(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "sse4.2")]
unsafe fn update_hw(mut crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut chunks = data.chunks_exact(8);
    let mut c = crc as u64;
    for ch in &mut chunks {
        let v = u64::from_le_bytes(ch.try_into().expect("8 bytes"));
        c = _mm_crc32_u64(c, v);
    }
    crc = c as u32;
    for &b in chunks.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    crc
}

/// Continues a CRC-32C over `data` (`crc` is the raw register, start at
/// `!0`; finish with `!crc`).
#[inline]
pub(crate) fn update(crc: u32, data: &[u8]) -> u32 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2 (checked just above).
            return unsafe { update_hw(crc, data) };
        }
    }
    update_table(crc, data)
}

/// CRC-32C of `data`.
#[inline]
#[cfg_attr(fanlog_loom, allow(dead_code))]
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// CRC-32C of several pieces, as if concatenated.
#[inline]
pub(crate) fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    let mut c = !0;
    for p in parts {
        c = update(c, p);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(update_table(!0, b"123456789"), !0xE306_9283);
    }

    #[test]
    fn hardware_and_table_agree() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 999] {
            let t = !update_table(!0, &data[..n]);
            assert_eq!(crc32c(&data[..n]), t, "len {n}");
            let (a, b) = data[..n].split_at(n / 3);
            assert_eq!(crc32c_parts(&[a, b]), t);
        }
    }
}
