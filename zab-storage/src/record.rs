//! The byte layout of a transaction-log segment, and the decoder that decides,
//! record by record, between "a record", "the end of the log" and "corruption".
//!
//! ```text
//! segment      := file_header record* tail
//! file_header  := magic:"ZBLG" version:u32(=2) first_zxid:i64 base_zxid:i64
//!                 reserved:u32(=0) header_crc:u32                      ; 32 bytes
//! record       := record_crc:u32 len:u32 zxid:i64 payload_crc:u32 payload:byte{len}
//!                 end:u8(=0x5a)                                        ; 21 + len bytes
//! tail         := zero*                ; preallocated space, reads as zeros
//!               | torn zero*           ; the unsynced remains of the last write
//! torn         := a prefix of a record, possibly followed by zeros
//!
//! header_crc   = crc32(the 28 bytes before it)
//! record_crc   = crc32(len ++ zxid ++ payload_crc)                     ; the 16 bytes after it
//! payload_crc  = crc32(payload)
//! payload      = a zab_core::txn::Txn exactly as ZooKeeper serializes it
//! integers are big-endian; len >= 1
//! ```
//!
//! `first_zxid` is the zxid of the segment's first record (and the file is named
//! `log.<first_zxid in lower-case hex>`, as ZooKeeper names its logs); `base_zxid`
//! is the zxid the first record follows: the last zxid of the previous segment,
//! or the snapshot zxid the log was restarted at after a SNAP sync.
//!
//! Classification of the bytes at a record position, in order:
//! 1. fewer than 20 bytes left, or a header of 20 zero bytes: the end;
//!    leftover non-zero bytes are a torn header.
//! 2. `record_crc` mismatch: torn if the 64 bytes after the header are zero
//!    (nothing was written after it), else corruption.
//! 3. `len` = 0: corruption (the header checksum says this was written so).
//! 4. the payload and its end byte run past the end of the file: torn (the file
//!    was cut).
//! 5. `end` is 0 (the record's last byte was never written) and the next record
//!    header is all zeros or missing: torn; with data after it, corruption.
//! 6. `end` is neither 0 nor 0x5a, or `payload_crc` does not match although
//!    `end` is there: corruption. The record was written to its last byte, so a
//!    bad checksum is damage, not a write the crash cut short.
//!
//! The header checksum is what makes rules 4 and 5 trustworthy: a flipped bit in
//! `len` cannot make an earlier record look like a torn tail. The end byte is
//! what tells a torn last record (its unwritten bytes are the preallocated
//! zeros) from a damaged one. What this gives up: if a crash wrote a record's
//! last page but not an earlier one, the log is refused as corrupt instead of
//! being cut there; the operator wipes the node and it resyncs (see
//! docs/formats.md).

use zab_core::Zxid;

/// `"ZBLG"`: zab log.
pub const LOG_MAGIC: [u8; 4] = *b"ZBLG";
pub const LOG_VERSION: u32 = 2;
pub const FILE_HEADER_LEN: usize = 32;
pub const RECORD_HEADER_LEN: usize = 20;
/// The byte that closes every record.
pub const RECORD_END: u8 = 0x5a;

/// The length of a record with a payload of `payload_len` bytes.
pub const fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len + 1
}
/// How many bytes after a bad record header must be zero for it to count as torn.
const TORN_HEADER_PROBE: usize = 64;

/// The header of a log segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub first_zxid: Zxid,
    pub base_zxid: Zxid,
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..4].copy_from_slice(&LOG_MAGIC);
        b[4..8].copy_from_slice(&LOG_VERSION.to_be_bytes());
        b[8..16].copy_from_slice(&self.first_zxid.0.to_be_bytes());
        b[16..24].copy_from_slice(&self.base_zxid.0.to_be_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<FileHeader, String> {
        if b.len() < FILE_HEADER_LEN {
            return Err(format!(
                "file header needs {FILE_HEADER_LEN} bytes, file has {}",
                b.len()
            ));
        }
        if b[0..4] != LOG_MAGIC {
            return Err(format!("bad magic {:02x?}", &b[0..4]));
        }
        let stored = be32(b, 28);
        let computed = crc32fast::hash(&b[..28]);
        if stored != computed {
            return Err(format!(
                "file header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ));
        }
        let version = be32(b, 4);
        if version != LOG_VERSION {
            return Err(format!("unsupported version {version}"));
        }
        let reserved = be32(b, 24);
        if reserved != 0 {
            return Err(format!("reserved field is {reserved:#010x}, not 0"));
        }
        Ok(FileHeader {
            first_zxid: Zxid(be64(b, 8)),
            base_zxid: Zxid(be64(b, 16)),
        })
    }
}

/// Append one encoded record to `out`.
pub fn encode_record(out: &mut Vec<u8>, zxid: Zxid, payload: &[u8]) {
    assert!(!payload.is_empty() && payload.len() <= u32::MAX as usize);
    let payload_crc = crc32fast::hash(payload);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[4..8].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    h[8..16].copy_from_slice(&zxid.0.to_be_bytes());
    h[16..20].copy_from_slice(&payload_crc.to_be_bytes());
    let record_crc = crc32fast::hash(&h[4..]);
    h[0..4].copy_from_slice(&record_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out.push(RECORD_END);
}

/// What the bytes at a record position are.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole, checksummed record; the next one starts at `next`.
    Record {
        zxid: Zxid,
        payload: &'a [u8],
        next: usize,
    },
    /// Zeros or nothing: the log ends here.
    End,
    /// The remains of a write that did not finish: the log ends here.
    Torn { reason: &'static str },
}

/// Why the bytes at a record position are corrupt rather than torn.
#[derive(Debug, PartialEq, Eq)]
pub enum Fault {
    HeaderChecksum {
        expected: u32,
        actual: u32,
    },
    PayloadChecksum {
        expected: u32,
        actual: u32,
    },
    EmptyPayload,
    /// The record's end byte is missing or wrong although data follows it.
    MissingEnd,
}

/// Decode the record at `offset` of `file` (the whole segment, from byte 0).
/// Never panics, whatever the bytes.
pub fn decode_record(file: &[u8], offset: usize) -> Result<Decoded<'_>, Fault> {
    let rest = file.get(offset..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_LEN {
        return Ok(if crate::fsutil::all_zero(rest) {
            Decoded::End
        } else {
            Decoded::Torn {
                reason: "short record header",
            }
        });
    }
    let h = &rest[..RECORD_HEADER_LEN];
    if crate::fsutil::all_zero(h) {
        return Ok(Decoded::End);
    }
    let stored = be32(h, 0);
    let computed = crc32fast::hash(&h[4..]);
    if stored != computed {
        let probe_end = rest.len().min(RECORD_HEADER_LEN + TORN_HEADER_PROBE);
        if crate::fsutil::all_zero(&rest[RECORD_HEADER_LEN..probe_end]) {
            return Ok(Decoded::Torn {
                reason: "partly written record header",
            });
        }
        return Err(Fault::HeaderChecksum {
            expected: stored,
            actual: computed,
        });
    }
    let len = be32(h, 4) as usize;
    let zxid = Zxid(be64(h, 8));
    let payload_crc = be32(h, 16);
    if len == 0 {
        return Err(Fault::EmptyPayload);
    }
    let Some(end) = rest.get(record_len(len) - 1).copied() else {
        return Ok(Decoded::Torn {
            reason: "record runs past the end of the file",
        });
    };
    let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    if end == 0 {
        let after = &rest[record_len(len)..];
        let next_header = &after[..after.len().min(RECORD_HEADER_LEN)];
        if crate::fsutil::all_zero(next_header) {
            return Ok(Decoded::Torn {
                reason: "partly written last record",
            });
        }
        return Err(Fault::MissingEnd);
    }
    if end != RECORD_END {
        return Err(Fault::MissingEnd);
    }
    let computed = crc32fast::hash(payload);
    if computed != payload_crc {
        return Err(Fault::PayloadChecksum {
            expected: payload_crc,
            actual: computed,
        });
    }
    Ok(Decoded::Record {
        zxid,
        payload,
        next: offset + record_len(len),
    })
}

/// The zxid in a record header, without checking anything; for skipping forward
/// over records that were verified when the log was opened.
pub(crate) fn peek(file: &[u8], offset: usize) -> Option<(Zxid, usize)> {
    let h = file.get(offset..offset + RECORD_HEADER_LEN)?;
    let len = be32(h, 4) as usize;
    if len == 0 {
        return None;
    }
    Some((Zxid(be64(h, 8)), offset + record_len(len)))
}

/// The rule for consecutive zxids in the log: strictly increasing, and within
/// one epoch the counter grows by exactly one. A new epoch may start anywhere
/// above the old one (ZooKeeper's first zxid of epoch e is `e << 32 | 1`).
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    next > prev && (next.epoch() != prev.epoch() || next.0 == prev.0 + 1)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn be64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(records: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![0u8; FILE_HEADER_LEN];
        for (z, p) in records {
            encode_record(&mut v, Zxid(*z), p);
        }
        v
    }

    #[test]
    fn file_header_round_trips_and_rejects_a_flipped_bit() {
        let h = FileHeader {
            first_zxid: Zxid(0x1_0000_0001),
            base_zxid: Zxid(0x1_0000_0000),
        };
        let mut b = h.encode();
        assert_eq!(FileHeader::decode(&b), Ok(h));
        b[12] ^= 1;
        assert!(FileHeader::decode(&b).unwrap_err().contains("checksum"));
    }

    /// Found with the `log_record` fuzz target: a header with a non-zero
    /// reserved field and a crc to match decoded, though no writer makes one
    /// (it did not re-encode to its own bytes).
    #[test]
    fn fuzz_file_header_with_a_reserved_field_set_is_refused() {
        let mut b = FileHeader {
            first_zxid: Zxid(1),
            base_zxid: Zxid(1),
        }
        .encode();
        b[25..28].copy_from_slice(&[0xbb, 0x03, 0x8c]);
        let crc = crc32fast::hash(&b[..28]);
        b[28..].copy_from_slice(&crc.to_be_bytes());
        assert!(FileHeader::decode(&b).unwrap_err().contains("reserved"));
    }

    #[test]
    fn zxid_rule_requires_plus_one_within_an_epoch_only() {
        assert!(follows(Zxid(0x1_0000_0001), Zxid(0x1_0000_0002)));
        assert!(!follows(Zxid(0x1_0000_0001), Zxid(0x1_0000_0003)));
        assert!(follows(Zxid(0x1_0000_0009), Zxid(0x3_0000_0001)));
        assert!(!follows(Zxid(0x3_0000_0001), Zxid(0x1_0000_0009)));
        assert!(!follows(Zxid(5), Zxid(5)));
    }

    #[test]
    fn torn_header_with_zeros_after_is_the_end_but_with_data_after_is_corruption() {
        let mut v = encoded(&[(1, vec![7; 100]), (2, vec![8; 100])]);
        v[FILE_HEADER_LEN + 2] ^= 0x40; // first record's crc
        assert!(matches!(
            decode_record(&v, FILE_HEADER_LEN),
            Err(Fault::HeaderChecksum { .. })
        ));
        let mut v = encoded(&[(1, vec![7; 100])]);
        v.truncate(FILE_HEADER_LEN + 10);
        v.resize(FILE_HEADER_LEN + 200, 0);
        assert!(matches!(
            decode_record(&v, FILE_HEADER_LEN),
            Ok(Decoded::Torn { .. })
        ));
    }

    proptest! {
        #[test]
        fn record_codec_round_trips(records in prop::collection::vec(
            (any::<i64>(), prop::collection::vec(any::<u8>(), 1..300)), 0..20)
        ) {
            let v = encoded(&records);
            let mut off = FILE_HEADER_LEN;
            for (z, p) in &records {
                match decode_record(&v, off) {
                    Ok(Decoded::Record { zxid, payload, next }) => {
                        prop_assert_eq!(zxid, Zxid(*z));
                        prop_assert_eq!(payload, &p[..]);
                        off = next;
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            prop_assert_eq!(decode_record(&v, off), Ok(Decoded::End));
        }

        #[test]
        fn file_headers_round_trip(first: i64, base: i64) {
            let h = FileHeader { first_zxid: Zxid(first), base_zxid: Zxid(base) };
            prop_assert_eq!(FileHeader::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_record_decoder(
            bytes in prop::collection::vec(any::<u8>(), 0..400), offset in 0usize..450
        ) {
            let _ = decode_record(&bytes, offset);
            let _ = peek(&bytes, offset);
            let _ = FileHeader::decode(&bytes);
        }
    }
}
