//! Apache ZooKeeper's snapshot files (`FileSnap`, `SnapStream`), read so that a server can
//! start on the data directory Apache left behind, and written so that Apache can start
//! on ours again (issue 12). The database body between header and seal is
//! `zab_core::zkdb`'s; mapping it to a tree is the server's.
//!
//! ```text
//! snapshot.<zxid hex> := FileHeader db seal [ZxidDigest seal]
//! FileHeader := int(magic = "ZKSN") int(version = 2) long(dbid = 0)
//! db         := what ZKDatabase.serializeSnapshot writes (zab_core::zkdb)
//! seal       := long(Adler-32 of every byte before it) ustring("/")
//! ZxidDigest := long(zxid) int(digestVersion) long(digest)   ; with digests enabled
//! ```
//!
//! Reading checks the header, that the body parses to its end marker and the first
//! seal; what follows the seal (the digest, 3.9's `lastProcessedZxid`) is not needed,
//! since the tree that loads computes its own digest. Apache reads a file without the
//! digest part (`DataTree.deserializeZxidDigest` stops at the end of the file), so the
//! writer leaves it out.
//!
//! With `zookeeper.snapshot.compression.method=gz` Apache writes `snapshot.<zxid>.gz`:
//! the same bytes through gzip (the Adler-32 is over the uncompressed bytes), read here.
//! `.snappy` files are listed but not read ([`SnapshotKind::Snappy`]).

use std::path::{Path, PathBuf};

use zab_core::zkdb::DbReader;
use zab_core::Zxid;

use crate::apache_log::adler32;
use crate::error::{Result, StorageError};
use crate::fsutil::{self, io_err};

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
        .ok_or_else(|| bad(file, 0, "the name is not snapshot.<zxid hex>[.gz]"))?;
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
        SnapshotKind::Snappy => {
            return Err(bad(file, 0, "snappy-compressed snapshots are not read"));
        }
    };
    let body = decode_apache_snapshot(file, &b, max_field)?;
    Ok(ApacheSnapshot {
        zxid,
        file: file.to_owned(),
        body: body.to_vec(),
    })
}

/// The database body of a whole Apache snapshot file's bytes (`file` names it in errors).
pub fn decode_apache_snapshot<'a>(file: &Path, b: &'a [u8], max_field: usize) -> Result<&'a [u8]> {
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
    let seal = b
        .get(end..end + 13)
        .ok_or_else(|| bad(file, end as u64, "the file ends before its checksum"))?;
    let stored = u64::from_be_bytes(seal[..8].try_into().unwrap());
    let actual = adler32(&b[..end]) as u64;
    if stored != actual {
        return Err(bad(
            file,
            end as u64,
            format!("checksum mismatch: stored {stored:#x}, computed {actual:#x}"),
        ));
    }
    if seal[8..] != SLASH {
        return Err(bad(file, end as u64 + 8, "no \"/\" after the checksum"));
    }
    Ok(&body[..r.position()])
}

/// Apache's file bytes around a database body `db`.
pub fn encode_apache_snapshot(db: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + db.len() + 13);
    b.extend_from_slice(b"ZKSN");
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(db);
    let sum = adler32(&b) as u64;
    b.extend_from_slice(&sum.to_be_bytes());
    b.extend_from_slice(&SLASH);
    b
}

/// Write `dir/snapshot.<zxid hex>` in Apache's format around the database body `db`
/// (written as `.tmp`, fsynced, renamed, directory fsynced); returns the file.
pub fn write_apache_snapshot(dir: &Path, zxid: Zxid, db: &[u8]) -> Result<PathBuf> {
    fsutil::write_atomically(
        dir,
        &fsutil::zxid_file_name("snapshot", zxid),
        &encode_apache_snapshot(db),
    )
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
    fn written_files_read_back_with_a_digest_part_or_without() {
        let dir = tempfile::tempdir().unwrap();
        let f = write_apache_snapshot(dir.path(), Zxid(0x1_0000_0002), &db()).unwrap();
        assert_eq!(f.file_name().unwrap(), "snapshot.100000002");
        let s = read_apache_snapshot(&f, 1 << 20).unwrap();
        assert_eq!((s.zxid, s.body), (Zxid(0x1_0000_0002), db()));
        // What Apache appends with digests enabled is not needed.
        let mut b = encode_apache_snapshot(&db());
        b.extend_from_slice(&[1u8; 20]);
        b.extend_from_slice(&[2u8; 13]);
        assert_eq!(decode_apache_snapshot(&f, &b, 1 << 20).unwrap(), &db()[..]);
    }

    #[test]
    fn gzip_snapshots_are_read_and_snappy_ones_named() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("snapshot.1f.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encode_apache_snapshot(&db())).unwrap();
        std::fs::write(&f, gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("snapshot.20.snappy"), b"x").unwrap();
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
        let msg = read_apache_snapshot(&dir.path().join("snapshot.20.snappy"), 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("snappy"), "{msg}");
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
