//! Apache ZooKeeper's transaction log files, read as Apache's `FileTxnLog`
//! writes them, so that a server can start on the data directory Apache left
//! behind (issue 12). Reading only; this server writes its own format
//! ([`crate::log`]).
//!
//! ```text
//! log dir  := segment*                     ; named log.<zxid of its first txn, hex>
//! segment  := FileHeader record* zero*     ; preallocated (preAllocSize) with zeros
//! FileHeader := int(magic = "ZKLG") int(version = 2) long(dbid = 0)
//! record   := long(adler32 of txn) int(len) byte{len}(txn) byte(EOR = 'B')
//! txn      := TxnHeader body [TxnDigest]   ; exactly zab_core::txn::Txn's bytes
//! ```
//!
//! Where a segment ends: a record whose length is 0 (the preallocated zeros)
//! or that is cut short (a torn write: Apache logs "Last transaction was
//! partial" and moves on) ends that segment, and reading goes on with the next
//! one, as Apache's `FileTxnIterator` does; the end of the last segment is the
//! end of the log. A complete record whose checksum does not match, a bad file
//! header, or a length no transaction can have is an error naming the file and
//! the byte offset: nothing is skipped silently.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use memmap2::Mmap;
use zab_core::Zxid;

use crate::error::{Result, StorageError};
use crate::fsutil::io_err;

/// `"ZKLG"` as a big-endian int: the first four bytes of an Apache log file.
pub const APACHE_LOG_MAGIC: u32 = u32::from_be_bytes(*b"ZKLG");
/// The only log format version Apache writes.
pub const APACHE_LOG_VERSION: i32 = 2;
/// FileHeader: magic, version, dbid.
const HEADER_LEN: usize = 4 + 4 + 8;
/// The byte after each record (`Util.writeTxnBytes`).
const EOR: u8 = b'B';
/// The zxid's offset in a serialized TxnHeader (after clientId and cxid).
const ZXID_OFFSET: usize = 8 + 4;
/// Longest transaction accepted: Apache refuses records above jute.maxbuffer
/// (1 MiB by default); operators raise it, so allow well beyond.
const MAX_TXN_BYTES: usize = 64 << 20;

/// One transaction read from an Apache log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApacheLogEntry {
    pub zxid: Zxid,
    /// The transaction's bytes: decode with `zab_core::txn::Txn::from_bytes`.
    pub txn: Bytes,
}

/// How one segment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// At the preallocated zeros, or exactly at the end of the file.
    Clean { offset: u64 },
    /// A record cut short at `offset` (a write the process did not finish).
    Torn { offset: u64 },
}

/// Whether the file at `path` starts with Apache's log magic.
pub fn is_apache_log(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut magic = [0u8; 4];
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(u32::from_be_bytes(magic) == APACHE_LOG_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The Apache log segments in `dir` (`log.<hex>`), in zxid order.
pub fn apache_log_segments(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>> {
    crate::fsutil::list_zxid_files(dir, "log")
}

/// Every transaction of one segment, and how it ended.
pub fn read_apache_segment(path: &Path) -> Result<(Vec<ApacheLogEntry>, SegmentEnd)> {
    let f = File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        return Err(corrupt(path, 0, "empty file: no log header".into()));
    }
    // SAFETY: the file is only read; a server does not share its data
    // directory with a running Apache ZooKeeper.
    let map = unsafe { Mmap::map(&f) }.map_err(io_err(path))?;
    decode_segment(path, &map)
}

/// Every transaction in the Apache log under `dir` with a zxid above `after`,
/// in zxid order. Segments wholly before `after` are not read beyond the one
/// that may hold `after`'s successor (as Apache's `getLogFiles`).
pub fn read_apache_log(dir: &Path, after: Zxid) -> Result<Vec<ApacheLogEntry>> {
    let segments = apache_log_segments(dir)?;
    // The newest segment starting at or before `after` + 1 may hold the next one.
    let first = segments
        .iter()
        .rposition(|(z, _)| *z <= after.next())
        .unwrap_or(0);
    let mut out: Vec<ApacheLogEntry> = Vec::new();
    for (_, path) in &segments[first..] {
        let (entries, _end) = read_apache_segment(path)?;
        for e in entries {
            if e.zxid <= after {
                continue;
            }
            if let Some(last) = out.last() {
                if e.zxid <= last.zxid {
                    // A later segment repeating zxids would be a log Apache
                    // itself never writes.
                    return Err(corrupt(
                        path,
                        0,
                        format!("zxid {} does not follow {}", e.zxid, last.zxid),
                    ));
                }
            }
            out.push(e);
        }
    }
    Ok(out)
}

fn corrupt(path: &Path, offset: u64, what: String) -> StorageError {
    StorageError::ApacheLog {
        file: path.to_owned(),
        offset,
        what,
    }
}

/// Decodes one segment's bytes (`path` names it in errors).
pub fn decode_segment(path: &Path, b: &[u8]) -> Result<(Vec<ApacheLogEntry>, SegmentEnd)> {
    if b.len() < HEADER_LEN {
        return Err(corrupt(path, 0, "file shorter than the log header".into()));
    }
    let magic = u32::from_be_bytes(b[0..4].try_into().unwrap());
    if magic != APACHE_LOG_MAGIC {
        return Err(corrupt(
            path,
            0,
            format!("bad magic {:02x?}: not an Apache ZooKeeper log", &b[0..4]),
        ));
    }
    let version = i32::from_be_bytes(b[4..8].try_into().unwrap());
    if version != APACHE_LOG_VERSION {
        return Err(corrupt(path, 4, format!("unknown log version {version}")));
    }
    let mut entries = Vec::new();
    let mut off = HEADER_LEN;
    loop {
        let at = off as u64;
        // crc (8) + length (4).
        if b.len() < off + 12 {
            let end = if b[off..].iter().all(|x| *x == 0) {
                SegmentEnd::Clean { offset: at }
            } else {
                SegmentEnd::Torn { offset: at }
            };
            return Ok((entries, end));
        }
        let crc = u64::from_be_bytes(b[off..off + 8].try_into().unwrap());
        let len = i32::from_be_bytes(b[off + 8..off + 12].try_into().unwrap());
        if len == 0 {
            // The preallocated zeros (Apache: "EOF reached").
            return Ok((entries, SegmentEnd::Clean { offset: at }));
        }
        if len < 0 || len as usize > MAX_TXN_BYTES {
            return Err(corrupt(
                path,
                at,
                format!("record length {len} is impossible"),
            ));
        }
        let len = len as usize;
        let start = off + 12;
        if b.len() < start + len + 1 {
            return Ok((entries, SegmentEnd::Torn { offset: at }));
        }
        let txn = &b[start..start + len];
        if b[start + len] != EOR {
            // Apache: "Last transaction was partial."
            return Ok((entries, SegmentEnd::Torn { offset: at }));
        }
        let actual = adler32(txn) as u64;
        if actual != crc {
            return Err(corrupt(
                path,
                at,
                format!("checksum mismatch: stored {crc:#x}, computed {actual:#x}"),
            ));
        }
        if txn.len() < ZXID_OFFSET + 8 {
            return Err(corrupt(path, at, "record shorter than a TxnHeader".into()));
        }
        let zxid = Zxid(i64::from_be_bytes(
            txn[ZXID_OFFSET..ZXID_OFFSET + 8].try_into().unwrap(),
        ));
        entries.push(ApacheLogEntry {
            zxid,
            txn: Bytes::copy_from_slice(txn),
        });
        off = start + len + 1;
    }
}

/// Adler-32 (RFC 1950), the checksum Apache's `FileTxnLog` uses
/// (`java.util.zip.Adler32`).
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The largest n with 255 n (n + 1) / 2 + (n + 1)(MOD - 1) < 2^32.
    const NMAX: usize = 5552;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(NMAX) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// One record in Apache's layout (for tests and the seed corpus of the fuzz target).
pub fn encode_record(txn: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(adler32(txn) as u64).to_be_bytes());
    v.extend_from_slice(&(txn.len() as i32).to_be_bytes());
    v.extend_from_slice(txn);
    v.push(EOR);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"ZKLG");
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&0i64.to_be_bytes());
        v
    }

    /// A TxnHeader-shaped payload with `zxid`, then `extra` bytes.
    fn txn(zxid: i64, extra: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&7i64.to_be_bytes());
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(&zxid.to_be_bytes());
        v.extend_from_slice(&5i64.to_be_bytes());
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn adler32_matches_known_values() {
        // RFC 1950's definition; java.util.zip.Adler32 gives the same.
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"a"), 0x0062_0062);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xffu8; 100_000];
        // Checked against a plain modular implementation.
        let (mut a, mut b) = (1u64, 0u64);
        for x in &big {
            a = (a + *x as u64) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    #[test]
    fn records_are_read_up_to_the_preallocated_zeros() {
        let mut f = header();
        f.extend(encode_record(&txn(0x1_0000_0001, b"one")));
        f.extend(encode_record(&txn(0x1_0000_0002, b"two")));
        let end = f.len() as u64;
        f.extend(vec![0u8; 4096]);
        let (e, how) = decode_segment(Path::new("log.100000001"), &f).unwrap();
        assert_eq!(
            e.iter().map(|e| e.zxid.0).collect::<Vec<_>>(),
            vec![0x1_0000_0001i64, 0x1_0000_0002]
        );
        assert_eq!(how, SegmentEnd::Clean { offset: end });
        assert_eq!(&e[1].txn[..], &txn(0x1_0000_0002, b"two")[..]);
    }

    #[test]
    fn a_record_cut_short_ends_the_segment() {
        let mut f = header();
        f.extend(encode_record(&txn(1, b"whole")));
        let torn_at = f.len() as u64;
        let r = encode_record(&txn(2, b"cut"));
        f.extend(&r[..r.len() - 3]);
        let (e, how) = decode_segment(Path::new("log.1"), &f).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(how, SegmentEnd::Torn { offset: torn_at });
        // A missing end-of-record byte is a partial write too.
        let mut f = header();
        let mut r = encode_record(&txn(1, b"x"));
        *r.last_mut().unwrap() = 0;
        f.extend(r);
        let (e, how) = decode_segment(Path::new("log.1"), &f).unwrap();
        assert!(e.is_empty());
        assert_eq!(how, SegmentEnd::Torn { offset: 16 });
    }

    #[test]
    fn a_bad_checksum_names_the_file_and_offset() {
        let mut f = header();
        f.extend(encode_record(&txn(1, b"good")));
        let at = f.len();
        let mut r = encode_record(&txn(2, b"flipped"));
        r[20] ^= 0x40;
        f.extend(r);
        let err = decode_segment(Path::new("/d/version-2/log.1"), &f).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/d/version-2/log.1"), "{msg}");
        assert!(msg.contains(&format!("{at}")), "{msg}");
        assert!(msg.contains("checksum"), "{msg}");
    }

    #[test]
    fn our_own_log_is_not_taken_for_apache_s() {
        let mut f = b"ZKRS".to_vec();
        f.extend(vec![0u8; 32]);
        let msg = decode_segment(Path::new("log.1"), &f)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bad magic"), "{msg}");
    }

    #[test]
    fn impossible_lengths_are_corruption_not_allocations() {
        let mut f = header();
        f.extend(1u64.to_be_bytes());
        f.extend((-5i32).to_be_bytes());
        assert!(decode_segment(Path::new("log.1"), &f).is_err());
        let mut f = header();
        f.extend(1u64.to_be_bytes());
        f.extend(i32::MAX.to_be_bytes());
        assert!(decode_segment(Path::new("log.1"), &f).is_err());
    }

    #[test]
    fn segments_are_read_in_zxid_order_from_the_one_holding_the_next_txn() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, zxids: &[i64]| {
            let mut f = header();
            for z in zxids {
                f.extend(encode_record(&txn(*z, b"")));
            }
            f.extend(vec![0u8; 64]);
            std::fs::write(dir.path().join(name), f).unwrap();
        };
        write("log.1", &[1, 2, 3]);
        write("log.4", &[4, 5]);
        write("log.a", &[10]);
        std::fs::write(dir.path().join("snapshot.3"), b"not a log").unwrap();
        let all = read_apache_log(dir.path(), Zxid(0)).unwrap();
        assert_eq!(
            all.iter().map(|e| e.zxid.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 10]
        );
        let after = read_apache_log(dir.path(), Zxid(4)).unwrap();
        assert_eq!(
            after.iter().map(|e| e.zxid.0).collect::<Vec<_>>(),
            vec![5, 10]
        );
        assert!(is_apache_log(&dir.path().join("log.4")).unwrap());
        assert!(!is_apache_log(&dir.path().join("snapshot.3")).unwrap());
    }
}
