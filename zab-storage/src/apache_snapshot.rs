//! Apache ZooKeeper's snapshot files (`FileSnap`, `SnapStream`), read so that a server can
//! start on the data directory Apache left behind, and written so that Apache can start
//! on ours again (issue 12). The database body between header and seal is
//! `zab_core::zkdb`'s; mapping it to a tree is the server's.
//!
//! ```text
//! snapshot.<zxid hex>[.gz|.snappy] := compress(FileHeader db seal trailer)
//! FileHeader := int(magic = "ZKSN") int(version = 2) long(dbid = 0 or -1)
//! db         := what ZKDatabase.serializeSnapshot writes (zab_core::zkdb)
//! seal       := long(Adler-32 of every byte before it, earlier seals included) ustring("/")
//! trailer    := [ZxidDigest seal] [long(lastProcessedZxid) seal]
//!                ; the digest with zookeeper.digest.enabled (default true, 3.6 on);
//!                ; lastProcessedZxid with zookeeper.serializeLastProcessedZxid.enabled
//!                ; (3.9 on, default true)
//! ZxidDigest := long(zxid) int(digestVersion = 2) long(digest)
//! compress   := identity | gzip | snappy-java's stream (crate::snappy_stream)
//!                ; by the name's suffix; the Adler-32 is over the uncompressed bytes
//! ```
//!
//! The trailer's parts are told apart by its length (0, 21, 33 or 54 bytes), since Apache
//! writes what its own settings say and reads what they say. Reading checks every seal
//! and, where the digest's zxid is the snapshot's own (nothing was applied while it was
//! written), that the digest is the tree's as Apache's `DigestCalculator` computes it
//! ([`apache_digest`]); a digest of a later zxid (a fuzzy snapshot) is left to whoever
//! replays the log up to it. A mismatch names the file and the byte offset (of the
//! uncompressed bytes, for a compressed file).
//!
//! Writing ([`encode_apache_snapshot_with`]) lays out the trailer the reading version
//! expects ([`Trailer`]); without one Apache also reads the file (its readers stop at the
//! end of the file).

use std::path::{Path, PathBuf};

use zab_core::zkdb::DbReader;
use zab_core::Zxid;

use crate::apache_log::adler32;
use crate::error::{Result, StorageError};
use crate::fsutil::{self, io_err};
use crate::snappy_stream;

/// `"ZKSN"` as a big-endian int: the first four bytes of an Apache snapshot file.
pub const APACHE_SNAP_MAGIC: u32 = u32::from_be_bytes(*b"ZKSN");
const HEADER_LEN: usize = 16;
/// `ustring("/")`: what ends every seal.
const SLASH: [u8; 5] = [0, 0, 0, 1, b'/'];

/// A checked Apache snapshot: its zxid (from its name) and its database body.
pub struct ApacheSnapshot {
    pub zxid: Zxid,
    pub file: PathBuf,
    pub body: Vec<u8>,
    /// What followed the first seal.
    pub trailer: Trailer,
    /// Where the digest is in the (uncompressed) bytes, for errors.
    pub digest_offset: u64,
    /// How the digest after the tree compares with the tree the file holds.
    pub digest_check: DigestCheck,
}

/// How the digest Apache wrote after a snapshot's tree compares with that tree.
///
/// Apache's snapshots are fuzzy: a thread serializes the tree while transactions go on
/// being applied, names the file after the zxid applied when it began and writes, after
/// the tree, the digest recorded for the last zxid applied when it finished. Apache applies
/// a transaction to its tree *before* it records that transaction's digest, so a file can
/// hold part of transaction Z+1 under Z's digest, even when Z is the file's own zxid. A
/// digest that differs from the file's tree is therefore not proof of damage (the seal,
/// checked before, covers the bytes); the log after the file decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestCheck {
    /// Nothing to compare: no digest, Apache's empty one (zxid 0), another digest
    /// version than [`DIGEST_VERSION`], or one of a zxid before the file's.
    NotComparable,
    /// Of the file's zxid, and the file's tree's.
    Matches,
    /// Of a later zxid than the file's: compare after replaying the log up to it.
    Later,
    /// Of the file's zxid, and not the file's tree's (`tree` is): either the tree holds
    /// part of a later transaction, or it is not what Apache had.
    Differs { tree: u64 },
}

/// `DigestCalculator.DIGEST_VERSION`: the only digest [`apache_digest`] computes.
pub const DIGEST_VERSION: i32 = 2;

/// Apache's `ZxidDigest`: the tree's digest after the transaction `zxid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: Zxid,
    pub version: i32,
    pub digest: u64,
}

/// What follows the first seal: Apache 3.8 writes the digest, 3.9 the digest and its
/// `lastProcessedZxid` (each part only with its setting on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    pub digest: Option<ZxidDigest>,
    pub last_processed_zxid: Option<Zxid>,
}

/// A snapshot file's parts, as [`decode_apache_snapshot_parts`] finds them.
pub struct Decoded<'a> {
    pub body: &'a [u8],
    pub trailer: Trailer,
    pub digest_offset: u64,
}

/// The digest Apache's `DataTree` keeps (`DigestCalculator`, version 2, summed by
/// `AdHash`) of the serialized database `body`: the wrapping sum over its nodes of
/// CRC-32(path, data, czxid mzxid pzxid ctime mtime as longs, version cversion aversion
/// as ints, ephemeralOwner as a long), the root's path "" and nodes under
/// `/zookeeper/` left out.
pub fn apache_digest(body: &[u8], max_field: usize) -> Result<u64, zab_core::zkdb::DbError> {
    let mut sum = 0u64;
    for e in DbReader::new(body, max_field) {
        if let zab_core::zkdb::DbEntry::Node {
            path, data, stat, ..
        } = e?
        {
            sum = sum.wrapping_add(apache_node_digest(path, data.unwrap_or(b""), &stat));
        }
    }
    Ok(sum)
}

/// One node's part of [`apache_digest`]; 0 under `/zookeeper/`.
pub fn apache_node_digest(path: &str, data: &[u8], st: &zab_core::records::StatPersisted) -> u64 {
    ApacheNodePrefix::new(path, data).map_or(0, |p| p.digest(st))
}

/// A node's path and data absorbed into the CRC of [`apache_node_digest`], so that
/// the digest of the node under another Stat costs 60 bytes of CRC, not its data
/// again: what Apache's prep keeps as a change record's data and `precalculatedDigest`.
/// `None` under `/zookeeper/`, whose nodes count 0.
#[derive(Clone, Debug)]
pub struct ApacheNodePrefix(crc32fast::Hasher);

impl ApacheNodePrefix {
    pub fn new(path: &str, data: &[u8]) -> Option<ApacheNodePrefix> {
        if path.starts_with("/zookeeper/") {
            return None;
        }
        // Apache's "" and "/" are one node, hashed as "".
        let path = if path == "/" { "" } else { path };
        let mut h = crc32fast::Hasher::new();
        h.update(path.as_bytes());
        h.update(data);
        Some(ApacheNodePrefix(h))
    }

    /// The node's digest with Stat `st`.
    pub fn digest(&self, st: &zab_core::records::StatPersisted) -> u64 {
        let mut h = self.0.clone();
        let mut b = [0u8; 60];
        for (i, x) in [st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&x.to_be_bytes());
        }
        b[40..44].copy_from_slice(&st.version.to_be_bytes());
        b[44..48].copy_from_slice(&st.cversion.to_be_bytes());
        b[48..52].copy_from_slice(&st.aversion.to_be_bytes());
        b[52..60].copy_from_slice(&st.ephemeral_owner.to_be_bytes());
        h.update(&b);
        h.finalize() as u64
    }
}

fn bad(file: &Path, offset: u64, what: impl Into<String>) -> StorageError {
    StorageError::ApacheSnapshot {
        file: file.to_owned(),
        offset,
        what: what.into(),
    }
}

/// Whether `path` starts with Apache's snapshot magic.
pub fn is_apache_snapshot(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut magic = [0u8; 4];
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(u32::from_be_bytes(magic) == APACHE_SNAP_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// How an Apache snapshot file is stored, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SnapshotKind {
    Plain,
    Gzip,
    Snappy,
}

/// The zxid and kind of `snapshot.<hex>[.gz|.snappy]`, or None for any other name.
pub fn parse_snapshot_name(name: &str) -> Option<(Zxid, SnapshotKind)> {
    let (stem, kind) = if let Some(s) = name.strip_suffix(".gz") {
        (s, SnapshotKind::Gzip)
    } else if let Some(s) = name.strip_suffix(".snappy") {
        (s, SnapshotKind::Snappy)
    } else {
        (name, SnapshotKind::Plain)
    };
    Some((fsutil::parse_zxid_file_name("snapshot", stem)?, kind))
}

/// Every `snapshot.<hex>[.gz|.snappy]` file in `dir`, oldest first. A plain one may be
/// ours: see [`is_apache_snapshot`].
pub fn apache_snapshots(dir: &Path) -> Result<Vec<(Zxid, SnapshotKind, PathBuf)>> {
    let files = fsutil::list_files(dir, parse_snapshot_name)?;
    Ok(files.into_iter().map(|((z, k), p)| (z, k, p)).collect())
}

/// Read and check one Apache snapshot file; `max_field` caps a single path, data or
/// ACL row (jute.maxbuffer).
pub fn read_apache_snapshot(file: &Path, max_field: usize) -> Result<ApacheSnapshot> {
    let (zxid, kind) = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_snapshot_name)
        .ok_or_else(|| bad(file, 0, "the name is not snapshot.<zxid hex>[.gz|.snappy]"))?;
    let raw = std::fs::read(file).map_err(io_err(file))?;
    let b = match kind {
        SnapshotKind::Plain => raw,
        SnapshotKind::Gzip => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| bad(file, 0, format!("gzip: {e}")))?;
            out
        }
        SnapshotKind::Snappy => snappy_stream::decode(&raw)
            .map_err(|e| bad(file, e.offset, format!("snappy: {}", e.what)))?,
    };
    let d = decode_apache_snapshot_parts(file, &b, max_field)?;
    // Apache's FileSnap compares a digest of the file's own zxid at once; zxid 0 is its
    // empty digest (none computed yet), as in `deserializeZxidDigest`.
    let digest_check = match d.trailer.digest {
        Some(dg) if dg.zxid.0 > 0 && dg.version == DIGEST_VERSION && dg.zxid >= zxid => {
            if dg.zxid > zxid {
                DigestCheck::Later
            } else {
                let tree = apache_digest(d.body, max_field)
                    .map_err(|e| bad(file, HEADER_LEN as u64, e.to_string()))?;
                if tree == dg.digest {
                    DigestCheck::Matches
                } else {
                    DigestCheck::Differs { tree }
                }
            }
        }
        _ => DigestCheck::NotComparable,
    };
    Ok(ApacheSnapshot {
        zxid,
        file: file.to_owned(),
        body: d.body.to_vec(),
        trailer: d.trailer,
        digest_offset: d.digest_offset,
        digest_check,
    })
}

/// The database body of a whole Apache snapshot file's bytes (`file` names it in errors).
pub fn decode_apache_snapshot<'a>(file: &Path, b: &'a [u8], max_field: usize) -> Result<&'a [u8]> {
    decode_apache_snapshot_parts(file, b, max_field).map(|d| d.body)
}

/// Check `b[at..]` is a seal over `b[..at]`.
fn check_seal(file: &Path, b: &[u8], at: usize) -> Result<()> {
    let seal = b
        .get(at..at + 13)
        .ok_or_else(|| bad(file, at as u64, "the file ends before its checksum"))?;
    let stored = u64::from_be_bytes(seal[..8].try_into().unwrap());
    let actual = adler32(&b[..at]) as u64;
    if stored != actual {
        return Err(bad(
            file,
            at as u64,
            format!("checksum mismatch: stored {stored:#x}, computed {actual:#x}"),
        ));
    }
    if seal[8..] != SLASH {
        return Err(bad(file, at as u64 + 8, "no \"/\" after the checksum"));
    }
    Ok(())
}

/// Header, body, every seal and the trailer of a whole (uncompressed) snapshot file.
pub fn decode_apache_snapshot_parts<'a>(
    file: &Path,
    b: &'a [u8],
    max_field: usize,
) -> Result<Decoded<'a>> {
    if b.len() < HEADER_LEN {
        return Err(bad(file, 0, "shorter than the file header"));
    }
    if u32::from_be_bytes(b[0..4].try_into().unwrap()) != APACHE_SNAP_MAGIC {
        return Err(bad(
            file,
            0,
            format!(
                "bad magic {:02x?}: not an Apache ZooKeeper snapshot",
                &b[0..4]
            ),
        ));
    }
    let version = i32::from_be_bytes(b[4..8].try_into().unwrap());
    if version != 2 {
        return Err(bad(file, 4, format!("unknown snapshot version {version}")));
    }
    let body = &b[HEADER_LEN..];
    let mut r = DbReader::new(body, max_field);
    loop {
        match r.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return Err(bad(file, (HEADER_LEN + r.position()) as u64, e.to_string())),
        }
    }
    let end = HEADER_LEN + r.position();
    check_seal(file, b, end)?;
    let at = end + 13;
    let long = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap());
    let mut trailer = Trailer::default();
    let (digest_at, last_at) = match b.len() - at {
        0 => (None, None),
        33 => (Some(at), None),
        21 => (None, Some(at)),
        54 => (Some(at), Some(at + 33)),
        n => {
            return Err(bad(
                file,
                at as u64,
                format!(
                    "{n} bytes after the checksum: neither a digest (33), a last zxid (21) \
                     nor both"
                ),
            ))
        }
    };
    if let Some(d) = digest_at {
        trailer.digest = Some(ZxidDigest {
            zxid: Zxid(long(d)),
            version: i32::from_be_bytes(b[d + 8..d + 12].try_into().unwrap()),
            digest: long(d + 12) as u64,
        });
        check_seal(file, b, d + 20)?;
    }
    if let Some(l) = last_at {
        trailer.last_processed_zxid = Some(Zxid(long(l)));
        check_seal(file, b, l + 8)?;
    }
    Ok(Decoded {
        body: &body[..r.position()],
        trailer,
        digest_offset: digest_at.unwrap_or(at) as u64,
    })
}

/// Apache's file bytes around a database body `db`, without a trailer.
pub fn encode_apache_snapshot(db: &[u8]) -> Vec<u8> {
    encode_apache_snapshot_with(db, &Trailer::default())
}

fn seal(b: &mut Vec<u8>) {
    let sum = adler32(b) as u64;
    b.extend_from_slice(&sum.to_be_bytes());
    b.extend_from_slice(&SLASH);
}

/// Apache's file bytes (uncompressed) around a database body `db`, with `trailer`.
pub fn encode_apache_snapshot_with(db: &[u8], trailer: &Trailer) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + db.len() + 54 + 13);
    b.extend_from_slice(b"ZKSN");
    b.extend_from_slice(&2i32.to_be_bytes());
    // FileSnap's dbId.
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(db);
    seal(&mut b);
    if let Some(d) = trailer.digest {
        b.extend_from_slice(&d.zxid.0.to_be_bytes());
        b.extend_from_slice(&d.version.to_be_bytes());
        b.extend_from_slice(&d.digest.to_be_bytes());
        seal(&mut b);
    }
    if let Some(z) = trailer.last_processed_zxid {
        b.extend_from_slice(&z.0.to_be_bytes());
        seal(&mut b);
    }
    b
}

/// Write `dir/snapshot.<zxid hex>` in Apache's format around the database body `db`
/// (written as `.tmp`, fsynced, renamed, directory fsynced); returns the file.
pub fn write_apache_snapshot(dir: &Path, zxid: Zxid, db: &[u8]) -> Result<PathBuf> {
    write_apache_snapshot_as(dir, zxid, db, SnapshotKind::Plain, &Trailer::default())
}

/// [`write_apache_snapshot`] compressed as `kind` (named `.gz` / `.snappy` as Apache
/// names them), with `trailer`.
pub fn write_apache_snapshot_as(
    dir: &Path,
    zxid: Zxid,
    db: &[u8],
    kind: SnapshotKind,
    trailer: &Trailer,
) -> Result<PathBuf> {
    let plain = encode_apache_snapshot_with(db, trailer);
    let name = fsutil::zxid_file_name("snapshot", zxid);
    let (name, bytes) = match kind {
        SnapshotKind::Plain => (name, plain),
        SnapshotKind::Gzip => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&plain).expect("writing to memory");
            (
                format!("{name}.gz"),
                gz.finish().expect("writing to memory"),
            )
        }
        SnapshotKind::Snappy => (format!("{name}.snappy"), snappy_stream::encode(&plain)),
    };
    fsutil::write_atomically(dir, &name, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Vec<u8> {
        let mut b = Vec::new();
        zab_core::zkdb::write_sessions(&mut b, &[(5, 4000)]);
        zab_core::zkdb::write_acl_count(&mut b, 0);
        let st = zab_core::records::StatPersisted::default();
        zab_core::zkdb::write_node(&mut b, "/", Some(b""), -1, &st);
        zab_core::zkdb::write_end(&mut b);
        b
    }

    #[test]
    fn written_files_read_back_with_each_trailer_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        let f = write_apache_snapshot(dir.path(), Zxid(0x1_0000_0002), &db()).unwrap();
        assert_eq!(f.file_name().unwrap(), "snapshot.100000002");
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        assert_eq!(
            (s.zxid, s.body, s.trailer),
            (Zxid(0x1_0000_0002), db(), Trailer::default())
        );
        let digest = apache_digest(&db(), 1 << 20).unwrap();
        let dg = |zxid| ZxidDigest {
            zxid: Zxid(zxid),
            version: DIGEST_VERSION,
            digest,
        };
        let trailers = [
            // 3.8, 3.9, 3.9 with digests off.
            Trailer {
                digest: Some(dg(0x30)),
                last_processed_zxid: None,
            },
            Trailer {
                digest: Some(dg(0x30)),
                last_processed_zxid: Some(Zxid(0x31)),
            },
            Trailer {
                digest: None,
                last_processed_zxid: Some(Zxid(0x30)),
            },
        ];
        for t in trailers {
            for kind in [
                SnapshotKind::Plain,
                SnapshotKind::Gzip,
                SnapshotKind::Snappy,
            ] {
                let f = write_apache_snapshot_as(dir.path(), Zxid(0x30), &db(), kind, &t).unwrap();
                let s = read_apache_snapshot(&f, 1 << 20).unwrap();
                assert_eq!((s.body, s.trailer), (db(), t), "{}", f.display());
            }
        }
        assert_eq!(
            std::fs::read(dir.path().join("snapshot.30.snappy")).unwrap()[..8],
            *b"\x82SNAPPY\x00"
        );
    }

    #[test]
    fn the_digest_is_apache_s() {
        // CRC-32 of "" + data "" + the 60 stat bytes of an all-zero Stat, for the root.
        let st = zab_core::records::StatPersisted::default();
        let mut h = crc32fast::Hasher::new();
        h.update(&[0u8; 60]);
        let root = h.finalize() as u64;
        assert_eq!(apache_node_digest("/", b"", &st), root);
        assert_eq!(apache_node_digest("/zookeeper/quota", b"x", &st), 0);
        assert_ne!(apache_node_digest("/zookeeper", b"", &st), 0);
        assert_eq!(apache_digest(&db(), 1 << 20).unwrap(), root);
    }

    #[test]
    fn the_digest_is_compared_with_the_tree_and_a_bad_second_seal_names_the_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let t = Trailer {
            digest: Some(ZxidDigest {
                zxid: Zxid(7),
                version: DIGEST_VERSION,
                digest: 12345,
            }),
            last_processed_zxid: Some(Zxid(7)),
        };
        let f =
            write_apache_snapshot_as(dir.path(), Zxid(7), &db(), SnapshotKind::Snappy, &t).unwrap();
        // A digest of the file's zxid that is not its tree's: told, with the tree's and
        // where the digest is, for the log's replay to decide (it may be fuzzy).
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        let tree = apache_digest(&db(), 1 << 20).unwrap();
        assert_eq!(s.digest_check, DigestCheck::Differs { tree });
        assert_eq!(s.digest_offset, (HEADER_LEN + db().len() + 13) as u64);
        let right = Trailer {
            digest: Some(ZxidDigest {
                digest: tree,
                ..t.digest.unwrap()
            }),
            ..t
        };
        let f = write_apache_snapshot_as(dir.path(), Zxid(7), &db(), SnapshotKind::Plain, &right)
            .unwrap();
        assert_eq!(
            read_apache_snapshot(&f, 1 << 20).unwrap().digest_check,
            DigestCheck::Matches
        );
        // Zxid 0 is Apache's empty digest (its snapshot.0): not compared.
        let empty = Trailer {
            digest: Some(ZxidDigest {
                zxid: Zxid(0),
                version: DIGEST_VERSION,
                digest: 0,
            }),
            last_processed_zxid: None,
        };
        let f = write_apache_snapshot_as(dir.path(), Zxid(0), &db(), SnapshotKind::Plain, &empty)
            .unwrap();
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        assert_eq!(s.trailer, empty);
        assert_eq!(s.digest_check, DigestCheck::NotComparable);
        // A digest of a later zxid (a fuzzy snapshot) is left to the replay.
        let later = Trailer {
            digest: Some(ZxidDigest {
                zxid: Zxid(9),
                ..t.digest.unwrap()
            }),
            ..t
        };
        let f = write_apache_snapshot_as(dir.path(), Zxid(7), &db(), SnapshotKind::Plain, &later)
            .unwrap();
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        assert_eq!(s.trailer, later);
        assert_eq!(s.digest_check, DigestCheck::Later);
        // A flipped byte in lastProcessedZxid: its seal refuses it.
        let mut b = std::fs::read(&f).unwrap();
        let n = b.len();
        b[n - 14] ^= 1;
        let msg = decode_apache_snapshot(&f, &b, 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("checksum mismatch") && msg.contains(&format!("offset {}", n - 13)),
            "{msg}"
        );
        // A trailer of no known length.
        let msg = decode_apache_snapshot(&f, &b[..n - 3], 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("bytes after the checksum"), "{msg}");
    }

    #[test]
    fn gzip_and_snappy_snapshots_are_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("snapshot.1f.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encode_apache_snapshot(&db())).unwrap();
        std::fs::write(&f, gz.finish().unwrap()).unwrap();
        std::fs::write(
            dir.path().join("snapshot.20.snappy"),
            snappy_stream::encode(&encode_apache_snapshot(&db())),
        )
        .unwrap();
        std::fs::write(dir.path().join("snapshot.3"), encode_apache_snapshot(&db())).unwrap();
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        assert_eq!((s.zxid, s.body), (Zxid(0x1f), db()));
        let kinds: Vec<_> = apache_snapshots(dir.path())
            .unwrap()
            .into_iter()
            .map(|(z, k, _)| (z.0, k))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (3, SnapshotKind::Plain),
                (0x1f, SnapshotKind::Gzip),
                (0x20, SnapshotKind::Snappy)
            ]
        );
        let s = read_apache_snapshot(&dir.path().join("snapshot.20.snappy"), 1 << 20).unwrap();
        assert_eq!((s.zxid, s.body), (Zxid(0x20), db()));
        std::fs::write(dir.path().join("snapshot.21.snappy"), b"x").unwrap();
        let msg = read_apache_snapshot(&dir.path().join("snapshot.21.snappy"), 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("snappy") && msg.contains("snapshot.21.snappy"),
            "{msg}"
        );
    }

    #[test]
    fn a_flipped_byte_or_a_cut_file_names_the_file_and_offset() {
        let p = Path::new("/d/version-2/snapshot.7");
        let mut b = encode_apache_snapshot(&db());
        b[HEADER_LEN + 5] ^= 0x01;
        let msg = decode_apache_snapshot(p, &b, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("snapshot.7") && msg.contains("checksum"),
            "{msg}"
        );
        let b = encode_apache_snapshot(&db());
        let msg = decode_apache_snapshot(p, &b[..b.len() - 3], 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("before its checksum"), "{msg}");
        let mut ours = b"ZKSS".to_vec();
        ours.extend([0u8; 40]);
        assert!(decode_apache_snapshot(p, &ours, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
    }
}
