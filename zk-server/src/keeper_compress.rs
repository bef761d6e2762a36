//! ClickHouse's compressed blocks, the framing of Keeper's compressed
//! connection (`use_compression`): after the handshake every byte each way
//! travels inside them, whatever the packets' own boundaries. ClickHouse
//! writes them with `CompressedWriteBuffer` (one block per flush, a request
//! larger than its 1 MiB buffer in several) and reads them with
//! `CompressedReadBuffer`, which checks every checksum.
//!
//! ```text
//! block     := checksum header data
//! checksum  := 16 bytes: CityHash128 v1.0.2 of header and data, its low half
//!              first, each half little-endian
//! header    := byte(method = 0x82, LZ4) uint32le(compressedSize) uint32le(size)
//!              ; compressedSize counts the header's 9 bytes and data
//! data      := one LZ4 block holding `size` bytes
//! ```
//!
//! This module owns the block format; `net` decides when a connection uses it.

use bytes::{Buf, BufMut, BytesMut};

/// The method byte of an LZ4 block (ClickHouse's `CompressionMethodByte::LZ4`).
const LZ4: u8 = 0x82;
const CHECKSUM_LEN: usize = 16;
const HEADER_LEN: usize = 9;
/// Uncompressed bytes per block we write: ClickHouse's default buffer size.
const BLOCK_SIZE: usize = 1 << 20;

/// Why a compressed block is refused (the connection closes).
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("compressed block with method byte {0:#04x}, not LZ4 (0x82)")]
    Method(u8),
    #[error("compressed block of {compressed} bytes holding {size} is outside the limit of {max}")]
    Size {
        compressed: usize,
        size: usize,
        max: usize,
    },
    #[error("compressed block checksum mismatch")]
    Checksum,
    #[error("compressed block does not decompress to its size: {0}")]
    Lz4(String),
}

/// ClickHouse's checksum of a block's header and data.
fn checksum(header_and_data: &[u8]) -> [u8; 16] {
    // cityhash-rs puts the hash's first (low) half in the high 64 bits.
    cityhash_rs::cityhash_102_128(header_and_data)
        .rotate_right(64)
        .to_le_bytes()
}

/// `plain` as compressed blocks, appended to `out`.
pub fn compress_into(plain: &[u8], out: &mut BytesMut) {
    for chunk in plain.chunks(BLOCK_SIZE) {
        let data = lz4_flex::block::compress(chunk);
        let start = out.len();
        out.put_bytes(0, CHECKSUM_LEN);
        out.put_u8(LZ4);
        out.put_u32_le((HEADER_LEN + data.len()) as u32);
        out.put_u32_le(chunk.len() as u32);
        out.put_slice(&data);
        let sum = checksum(&out[start + CHECKSUM_LEN..]);
        out[start..start + CHECKSUM_LEN].copy_from_slice(&sum);
    }
}

/// Takes the complete blocks at the front of `src` and appends what they
/// hold to `plain`, until `plain` holds `max` bytes or more: blocks beyond
/// wait in `src`, so that a burst of small blocks of zeros cannot inflate
/// past that. A block may hold at most `max` bytes.
pub fn decompress_from(
    src: &mut BytesMut,
    plain: &mut BytesMut,
    max: usize,
) -> Result<(), BlockError> {
    while plain.len() < max && src.len() >= CHECKSUM_LEN + HEADER_LEN {
        let header = &src[CHECKSUM_LEN..CHECKSUM_LEN + HEADER_LEN];
        if header[0] != LZ4 {
            return Err(BlockError::Method(header[0]));
        }
        let compressed = u32::from_le_bytes(header[1..5].try_into().expect("4 bytes")) as usize;
        let size = u32::from_le_bytes(header[5..9].try_into().expect("4 bytes")) as usize;
        // LZ4 never grows data by more than 1/255 and a few bytes.
        if size > max || compressed < HEADER_LEN || compressed > HEADER_LEN + max + max / 255 + 16 {
            return Err(BlockError::Size {
                compressed,
                size,
                max,
            });
        }
        if src.len() < CHECKSUM_LEN + compressed {
            // Bounded by the size check above.
            src.reserve(CHECKSUM_LEN + compressed - src.len());
            return Ok(());
        }
        let block = &src[..CHECKSUM_LEN + compressed];
        if checksum(&block[CHECKSUM_LEN..]) != block[..CHECKSUM_LEN] {
            return Err(BlockError::Checksum);
        }
        let data = lz4_flex::block::decompress(&block[CHECKSUM_LEN + HEADER_LEN..], size)
            .map_err(|e| BlockError::Lz4(e.to_string()))?;
        if data.len() != size {
            return Err(BlockError::Lz4(format!("{} bytes, not {size}", data.len())));
        }
        plain.put_slice(&data);
        src.advance(CHECKSUM_LEN + compressed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as ClickHouse writes it, from the tests of ClickHouse's own
    /// Rust client (`src/compression/lz4.rs`): 23 bytes of a RowBinary row.
    const CLICKHOUSE_PLAIN: [u8; 23] = [
        1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105, 110, 103, 3, 97, 98, 99,
    ];
    const CLICKHOUSE_BLOCK: [u8; 50] = [
        245, 5, 222, 235, 225, 158, 59, 108, 225, 31, 65, 215, 66, 66, 36, 92, // checksum
        0x82, 34, 0, 0, 0, 23, 0, 0, 0, // LZ4, 34 bytes with the header, 23 plain
        240, 8, 1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105, 110, 103, 3,
        97, 98, 99,
    ];

    #[test]
    fn clickhouses_block_is_read_and_written_byte_for_byte() {
        let mut src = BytesMut::from(&CLICKHOUSE_BLOCK[..]);
        let mut plain = BytesMut::new();
        decompress_from(&mut src, &mut plain, 1 << 20).unwrap();
        assert_eq!(&plain[..], &CLICKHOUSE_PLAIN[..]);
        assert!(src.is_empty());
        let mut out = BytesMut::new();
        compress_into(&CLICKHOUSE_PLAIN, &mut out);
        assert_eq!(&out[..], &CLICKHOUSE_BLOCK[..]);
    }

    #[test]
    fn blocks_split_anywhere_are_read_when_whole() {
        let mut stream = BytesMut::new();
        compress_into(b"first frame", &mut stream);
        compress_into(&vec![7u8; 3 << 20], &mut stream); // three blocks
        let whole = stream.freeze();
        for cut in [1, 16, 25, 30, whole.len() - 1] {
            let mut src = BytesMut::from(&whole[..cut]);
            let mut plain = BytesMut::new();
            decompress_from(&mut src, &mut plain, 4 << 20).unwrap();
            src.put_slice(&whole[cut..]);
            decompress_from(&mut src, &mut plain, 4 << 20).unwrap();
            assert!(src.is_empty());
            assert_eq!(&plain[..11], b"first frame");
            assert_eq!(plain.len(), 11 + (3 << 20));
        }
    }

    #[test]
    fn blocks_wait_while_enough_is_decompressed() {
        let mut src = BytesMut::new();
        for _ in 0..10 {
            compress_into(&[0u8; 1000], &mut src);
        }
        let mut plain = BytesMut::new();
        decompress_from(&mut src, &mut plain, 2500).unwrap();
        assert_eq!(plain.len(), 3000, "three blocks, then it waits");
        plain.clear();
        decompress_from(&mut src, &mut plain, 2500).unwrap();
        assert_eq!(plain.len(), 3000);
        decompress_from(&mut src, &mut plain, 1 << 20).unwrap();
        assert_eq!(plain.len(), 7000);
        assert!(src.is_empty());
    }

    #[test]
    fn bad_blocks_are_refused() {
        let mut bad = BytesMut::from(&CLICKHOUSE_BLOCK[..]);
        bad[40] ^= 1;
        let mut plain = BytesMut::new();
        assert!(matches!(
            decompress_from(&mut bad, &mut plain, 1 << 20),
            Err(BlockError::Checksum)
        ));
        let mut bad = BytesMut::from(&CLICKHOUSE_BLOCK[..]);
        bad[16] = 0x90; // ZSTD
        assert!(matches!(
            decompress_from(&mut bad, &mut plain, 1 << 20),
            Err(BlockError::Method(0x90))
        ));
        let mut big = BytesMut::from(&CLICKHOUSE_BLOCK[..]);
        assert!(matches!(
            decompress_from(&mut big, &mut plain, 10),
            Err(BlockError::Size { size: 23, .. })
        ));
        assert!(plain.is_empty());
    }
}
