//! The stream format of xerial's snappy-java `SnappyOutputStream` / `SnappyInputStream`,
//! which Apache ZooKeeper writes its snapshots through with
//! `zookeeper.snapshot.compression.method=snappy` (`SnapStream`). Not the Snappy
//! framing format of Google's spec (no CRC-32C, no chunk types): a fixed header, then
//! blocks, each one raw Snappy compression of up to `blockSize` (32 KiB by default)
//! input bytes. The raw blocks are the `snap` crate's.
//!
//! ```text
//! stream  := header chunk*
//! header  := byte[8](0x82 "SNAPPY" 0x00) int(version = 1) int(compatibleVersion = 1)
//! chunk   := int(len) byte[len]             ; raw Snappy of one block
//!          | header                         ; a concatenated stream: an int equal to the
//!                                           ; magic's first four bytes starts a header
//! ```
//!
//! Ints are big-endian. Decoding never reserves from an unchecked length: a block's
//! declared length must be in the input, and its uncompressed length is bounded by what
//! raw Snappy can expand that many bytes to.

/// `SnappyCodec.MAGIC_HEADER`.
pub const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const HEADER_LEN: usize = 16;
/// `SnappyOutputStream.DEFAULT_BLOCK_SIZE`.
pub const BLOCK_SIZE: usize = 32 * 1024;
/// The most raw Snappy can expand one input byte to, rounded up: a 2-byte copy
/// element yields 64 bytes (a 1-byte element 11); literals do not expand.
const MAX_EXPANSION: usize = 32;

/// Why a stream does not decode, and the byte offset (in the compressed bytes) where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snappy stream at byte offset {offset}: {what}")]
pub struct SnappyStreamError {
    pub offset: u64,
    pub what: String,
}

fn err(offset: usize, what: impl Into<String>) -> SnappyStreamError {
    SnappyStreamError {
        offset: offset as u64,
        what: what.into(),
    }
}

/// Whether `b` starts with snappy-java's stream magic.
pub fn has_magic(b: &[u8]) -> bool {
    b.starts_with(&MAGIC)
}

fn check_header(b: &[u8], at: usize) -> Result<(), SnappyStreamError> {
    let h = b
        .get(at..at + HEADER_LEN)
        .ok_or_else(|| err(at, "the stream ends inside its header"))?;
    if h[..8] != MAGIC {
        return Err(err(
            at,
            format!("bad magic {:02x?}: not snappy-java's stream", &h[..8]),
        ));
    }
    let compatible = i32::from_be_bytes(h[12..16].try_into().expect("4"));
    if compatible > 1 {
        return Err(err(
            at + 12,
            format!("needs codec version {compatible}; 1 is known"),
        ));
    }
    Ok(())
}

/// The uncompressed bytes of a whole stream.
pub fn decode(b: &[u8]) -> Result<Vec<u8>, SnappyStreamError> {
    check_header(b, 0)?;
    let magic_head = i32::from_be_bytes(MAGIC[..4].try_into().expect("4"));
    let mut out = Vec::new();
    let mut dec = snap::raw::Decoder::new();
    let mut at = HEADER_LEN;
    while at < b.len() {
        let len_bytes = b
            .get(at..at + 4)
            .ok_or_else(|| err(at, "the stream ends inside a chunk length"))?;
        let len = i32::from_be_bytes(len_bytes.try_into().expect("4"));
        if len == magic_head {
            check_header(b, at)?;
            at += HEADER_LEN;
            continue;
        }
        if len < 0 {
            return Err(err(at, format!("negative chunk length {len}")));
        }
        let block = b.get(at + 4..at + 4 + len as usize).ok_or_else(|| {
            err(
                at,
                format!(
                    "a chunk of {len} bytes, but only {} are left",
                    b.len() - at - 4
                ),
            )
        })?;
        let n = snap::raw::decompress_len(block).map_err(|e| err(at + 4, e.to_string()))?;
        if n > block.len().saturating_mul(MAX_EXPANSION) + 64 {
            return Err(err(
                at + 4,
                format!("a chunk of {len} bytes claims {n} uncompressed"),
            ));
        }
        let start = out.len();
        out.resize(start + n, 0);
        dec.decompress(block, &mut out[start..])
            .map_err(|e| err(at + 4, e.to_string()))?;
        at += 4 + len as usize;
    }
    Ok(out)
}

/// `data` as `SnappyOutputStream` writes it (default block size).
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len() / 2 + 64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    let mut buf = vec![0u8; snap::raw::max_compress_len(BLOCK_SIZE)];
    for block in data.chunks(BLOCK_SIZE) {
        let n = enc
            .compress(block, &mut buf)
            .expect("a buffer of max_compress_len holds any block");
        out.extend_from_slice(&(n as i32).to_be_bytes());
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_and_blocks_as_snappy_java_writes_them() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = encode(&data);
        assert_eq!(&b[..16], b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01");
        // Four blocks: 32 KiB, 32 KiB, 32 KiB and the rest.
        let mut at = 16;
        let mut blocks = 0;
        while at < b.len() {
            let len = i32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + len;
            blocks += 1;
        }
        assert_eq!((at, blocks), (b.len(), 4));
        assert_eq!(decode(&b).unwrap(), data);
        assert_eq!(decode(&encode(b"")).unwrap(), b"");
    }

    #[test]
    fn concatenated_streams_read_as_one() {
        let mut b = encode(b"hello ");
        b.extend(encode(b"world"));
        assert_eq!(decode(&b).unwrap(), b"hello world");
    }

    #[test]
    fn damage_names_the_offset() {
        let b = encode(b"some data some data some data");
        let e = decode(&b[..b.len() - 2]).unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.what.contains("only"), "{e}");
        let mut bad = b.clone();
        bad[0] = 0;
        assert!(decode(&bad).unwrap_err().what.contains("magic"));
        let mut huge = encode(b"");
        huge.extend(i32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
            prop_assert_eq!(decode(&encode(&data)).unwrap(), data);
        }

        #[test]
        fn junk_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = encode(b"");
            b.extend(&junk);
            let _ = decode(&b);
        }
    }
}
