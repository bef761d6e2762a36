//! Fuzzy snapshots of the data tree, written and read as a stream.
//!
//! ```text
//! snapshot := header entry* trailer
//! header   := magic:"ZBSN" version:u32(=3) zxid:i64                     ; 16 bytes
//! entry    := 0x01 session_id:i64 timeout_ms:i32                       ; a session
//!           | 0x02 acl_ref:i64 vector<ACL>                             ; an ACL table row
//!           | 0x03 path:ustring data:buffer acl_ref:i64 StatPersisted  ; a znode
//! trailer  := 0xff sessions:u64 acls:u64 nodes:u64 digest:u64
//!             apache_digest:u64 crc:u32                                ; 45 bytes
//!           | 0xff sessions:u64 acls:u64 nodes:u64 digest:u64 crc:u32  ; 37 bytes, versions 1, 2
//!
//! crc      = crc32 of every byte of the file before it
//! digest   = TreeDigest (crate::digest) of the nodes, as the writer's caller computed it
//! apache_digest = sum mod 2^64 of apache_node_digest (crate::apache_snapshot) over
//!            exactly the node entries of the file, computed by SnapshotWriter as it
//!            writes each one: Apache's tree digest of the tree the file loads into
//! integers big-endian; ustring, buffer, vector and ACL in jute encoding
//! data     : length -1 for a node whose data is null (version 1 wrote null as empty)
//! file name: snapshot.<zxid in lower-case hex>, written as snapshot.<hex>.tmp first
//! ```
//!
//! Versions 1 (no null data) and 2 (no Apache digest) are read too; version 3
//! is written. A loader of a file without `apache_digest` computes Apache's
//! digest node by node, as it did before version 3.
//!
//! This module reads and writes entries in any order. The data tree that loads
//! them (zk-server's `DataTree::load_node`) needs a node's parent and its ACL
//! row before the node, as ZooKeeper's loader does; the server's writer
//! (`FuzzySnapshot`) writes sessions, then walks the tree depth-first, writing
//! each ACL row just before the first node that uses it.
//!
//! # Fuzzy snapshots
//! A snapshot is named by the last zxid applied when it *started*; the tree keeps
//! changing while it is written, so it may already reflect some later
//! transactions. Loading therefore replays the log from `zxid + 1`
//! (`TxnLog::iter_from(zxid.next())`), and applying a transaction whose effect is
//! already in the tree must be harmless (create of an existing node, delete of a
//! missing node: ignored; set: same end state). Making replay idempotent is the
//! data tree's contract, not this module's.
//!
//! Loading verifies the crc over the whole file before yielding anything, and
//! the digest (recomputed over the nodes as they are read) at the end. A loader
//! may pass over entries ([`Entries::skip_span`], which still counts them) and
//! decode them on another thread ([`SnapshotReader::span_entries`]), summing the
//! node hashes itself.
//! [`latest_valid_snapshot`] falls back to older snapshots when the newest is
//! truncated or fails its crc; zk-server's recovery also falls back when the
//! entries are malformed or the digest does not match.
//!
//! # What the digest guards
//! The stored digest is computed by the writer's caller over the nodes *as it
//! wrote them*, so it is a second check of the file next to the crc, computed
//! differently: the crc is over bytes as written by `SnapshotWriter`, the
//! digest over the decoded (path, data, Stat) of each node. It catches a caller
//! that wrote a node twice or skipped one relative to what it hashed, and a
//! codec bug that turns good bytes into different nodes. It cannot say whether
//! the *live* tree was right: a fuzzy snapshot is no single state of the tree,
//! so its digest matches no live digest. Checking the tree after replay needs
//! digests carried by the transactions (ZooKeeper's `TxnDigest`); see
//! docs/formats.md.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use tracing::{info, warn};
use zab_core::jute::{self, JuteReader, Record};
use zab_core::records::{self, Acl, StatPersisted};
use zab_core::Zxid;

use crate::apache_snapshot::apache_node_digest;
use crate::digest::TreeDigest;
use crate::error::{Result, StorageError};
use crate::fsutil::{self, io_err};

/// The file-name prefix of snapshots, as in ZooKeeper.
pub const SNAPSHOT_PREFIX: &str = "snapshot";
/// `"ZBSN"`: zab snapshot.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"ZBSN";
/// Version 3: the trailer carries Apache's digest of the nodes written.
/// Version 2 added null data (length -1). Versions 1 and 2 are read too.
pub const SNAPSHOT_VERSION: u32 = 3;
/// The versions this reader understands (the entries' grammar is the same;
/// version 1 never wrote null data, versions 1 and 2 have the shorter trailer).
const READABLE_VERSIONS: [u32; 3] = [1, 2, 3];
const HEADER_LEN: usize = 16;
/// The trailer of version 3, and of versions 1 and 2 (no `apache_digest`).
const TRAILER_LEN: usize = 45;
const TRAILER_LEN_V2: usize = 37;
const TAG_SESSION: u8 = 0x01;
const TAG_ACL: u8 = 0x02;
const TAG_NODE: u8 = 0x03;
const TAG_END: u8 = 0xff;
/// A node entry's fixed part after its path and data: acl_ref and the
/// StatPersisted (four longs, three ints, two longs).
const NODE_FIXED_LEN: usize = 8 + 4 * 8 + 3 * 4 + 2 * 8;

/// Writes one snapshot; see the module docs for the format.
pub struct SnapshotWriter {
    dir: PathBuf,
    zxid: Zxid,
    tmp: PathBuf,
    out: BufWriter<File>,
    crc: crc32fast::Hasher,
    scratch: Vec<u8>,
    sessions: u64,
    acls: u64,
    nodes: u64,
    /// Apache's digest of the nodes written so far (the trailer's `apache_digest`).
    apache_digest: u64,
    finished: bool,
}

impl SnapshotWriter {
    /// Start `dir/snapshot.<zxid hex>` (written under a `.tmp` name until `finish`).
    pub fn create(dir: impl AsRef<Path>, zxid: Zxid) -> Result<SnapshotWriter> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join(format!(
            "{}.tmp",
            fsutil::zxid_file_name(SNAPSHOT_PREFIX, zxid)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let mut w = SnapshotWriter {
            dir,
            zxid,
            tmp,
            out: BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            scratch: Vec::with_capacity(4096),
            sessions: 0,
            acls: 0,
            nodes: 0,
            apache_digest: 0,
            finished: false,
        };
        w.scratch.extend_from_slice(&SNAPSHOT_MAGIC);
        w.scratch.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        w.scratch.extend_from_slice(&zxid.0.to_be_bytes());
        w.emit()?;
        Ok(w)
    }

    pub fn write_session(&mut self, session_id: i64, timeout_ms: i32) -> Result<()> {
        self.scratch.push(TAG_SESSION);
        jute::write_i64(&mut self.scratch, session_id);
        jute::write_i32(&mut self.scratch, timeout_ms);
        self.sessions += 1;
        self.emit()
    }

    pub fn write_acl(&mut self, acl_ref: i64, acls: &[Acl]) -> Result<()> {
        self.scratch.push(TAG_ACL);
        jute::write_i64(&mut self.scratch, acl_ref);
        records::write_acls(&mut self.scratch, acls);
        self.acls += 1;
        self.emit()
    }

    pub fn write_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_ref: i64,
        stat: &StatPersisted,
    ) -> Result<()> {
        self.scratch.push(TAG_NODE);
        jute::write_string(&mut self.scratch, path);
        jute::write_opt_buffer(&mut self.scratch, data);
        jute::write_i64(&mut self.scratch, acl_ref);
        stat.write(&mut self.scratch);
        self.nodes += 1;
        // Over the very node this entry holds, so that the sum is Apache's
        // digest of whatever tree the file loads into, fuzzy or not.
        self.apache_digest = self.apache_digest.wrapping_add(apache_node_digest(
            path,
            data.unwrap_or_default(),
            stat,
        ));
        self.emit()
    }

    /// Seal the snapshot: trailer, fsync, rename to `snapshot.<zxid hex>`,
    /// fsync the directory. Returns the final path. `digest` is our
    /// [`TreeDigest`] of the nodes written, as the caller computed it;
    /// Apache's digest, which the writer summed itself, goes in next to it.
    pub fn finish(mut self, digest: u64) -> Result<PathBuf> {
        self.scratch.push(TAG_END);
        for v in [
            self.sessions,
            self.acls,
            self.nodes,
            digest,
            self.apache_digest,
        ] {
            self.scratch.extend_from_slice(&v.to_be_bytes());
        }
        self.emit()?;
        let crc = self.crc.clone().finalize();
        self.out
            .write_all(&crc.to_be_bytes())
            .map_err(io_err(&self.tmp))?;
        self.out.flush().map_err(io_err(&self.tmp))?;
        fsutil::fdatasync(self.out.get_ref(), &self.tmp)?;
        let dst = self
            .dir
            .join(fsutil::zxid_file_name(SNAPSHOT_PREFIX, self.zxid));
        fs::rename(&self.tmp, &dst).map_err(io_err(&dst))?;
        fsutil::fsync_dir(&self.dir)?;
        self.finished = true;
        info!(file = %dst.display(), nodes = self.nodes, sessions = self.sessions, "wrote snapshot");
        Ok(dst)
    }

    fn emit(&mut self) -> Result<()> {
        self.crc.update(&self.scratch);
        let r = self.out.write_all(&self.scratch).map_err(io_err(&self.tmp));
        self.scratch.clear();
        r
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// One entry of a snapshot, borrowed from the mapped file: the same entries as
/// Apache's serialized database ([`zab_core::zkdb::DbEntry`]), in our file's layout.
pub use zab_core::zkdb::DbEntry as SnapEntry;

/// Counts and digest from a snapshot's trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub zxid: Zxid,
    pub sessions: u64,
    pub acls: u64,
    pub nodes: u64,
    pub digest: u64,
    /// Apache's digest of the node entries (`apache_snapshot::apache_node_digest`
    /// summed), written by version 3 on; `None` in older files.
    pub apache_digest: Option<u64>,
}

/// Reads one snapshot. `open` checks the header and the crc of the whole file;
/// `next_entry` yields entries and, after the last, checks counts and digest.
pub struct SnapshotReader {
    path: PathBuf,
    map: Mmap,
    summary: SnapshotSummary,
    body_end: usize,
    cursor: Cursor,
}

impl SnapshotReader {
    pub fn open(path: impl AsRef<Path>) -> Result<SnapshotReader> {
        let r = Self::open_unverified(path)?;
        r.verify_crc()?;
        Ok(r)
    }

    /// Like [`SnapshotReader::open`], but without the crc check over the
    /// whole file: the caller must call [`SnapshotReader::verify_crc`] and
    /// throw away whatever it built from the entries if that fails. Lets a
    /// loader check the crc on another thread while it parses. The trailer's
    /// counts and digest are not trustworthy until then.
    pub fn open_unverified(path: impl AsRef<Path>) -> Result<SnapshotReader> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if len < (HEADER_LEN + TRAILER_LEN_V2) as u64 {
            return Err(StorageError::SnapshotTruncated { file: path, len });
        }
        // Safety: snapshots are immutable once renamed into place.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err(&path))?;
        Self::from_map(path, map)
    }

    /// Check the crc over the whole file (done by `open`).
    pub fn verify_crc(&self) -> Result<()> {
        let b = &self.map[..];
        let crc_at = b.len() - 4;
        let expected = u32::from_be_bytes(b[crc_at..].try_into().unwrap());
        let actual = crc32fast::hash(&b[..crc_at]);
        if expected != actual {
            return Err(StorageError::SnapshotChecksumMismatch {
                file: self.path.clone(),
                expected,
                actual,
            });
        }
        Ok(())
    }

    fn from_map(path: PathBuf, map: Mmap) -> Result<SnapshotReader> {
        let b = &map[..];
        if b.len() < HEADER_LEN + TRAILER_LEN_V2 {
            return Err(StorageError::SnapshotTruncated {
                file: path,
                len: b.len() as u64,
            });
        }
        if b[0..4] != SNAPSHOT_MAGIC {
            return Err(StorageError::SnapshotBadHeader {
                file: path,
                reason: format!("bad magic {:02x?}", &b[0..4]),
            });
        }
        let version = u32::from_be_bytes(b[4..8].try_into().unwrap());
        if !READABLE_VERSIONS.contains(&version) {
            return Err(StorageError::SnapshotBadHeader {
                file: path,
                reason: format!("unsupported version {version}"),
            });
        }
        let trailer_len = if version >= 3 {
            TRAILER_LEN
        } else {
            TRAILER_LEN_V2
        };
        if b.len() < HEADER_LEN + trailer_len {
            return Err(StorageError::SnapshotTruncated {
                file: path,
                len: b.len() as u64,
            });
        }
        let t = b.len() - trailer_len;
        if b[t] != TAG_END {
            return Err(StorageError::SnapshotMalformed {
                file: path,
                offset: t as u64,
                reason: "no end marker before the checksum".into(),
            });
        }
        let u = |i: usize| u64::from_be_bytes(b[t + 1 + 8 * i..t + 9 + 8 * i].try_into().unwrap());
        let summary = SnapshotSummary {
            zxid: Zxid(i64::from_be_bytes(b[8..16].try_into().unwrap())),
            sessions: u(0),
            acls: u(1),
            nodes: u(2),
            digest: u(3),
            apache_digest: (version >= 3).then(|| u(4)),
        };
        Ok(SnapshotReader {
            path,
            summary,
            body_end: t,
            map,
            cursor: Cursor::new(t),
        })
    }

    /// The zxid the snapshot started at: replay the log after it.
    pub fn zxid(&self) -> Zxid {
        self.summary.zxid
    }

    pub fn summary(&self) -> SnapshotSummary {
        self.summary
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.summary.sessions + self.summary.acls + self.summary.nodes == 0
    }

    /// The next entry, or `None` after the last one once counts and digest check out.
    pub fn next_entry(&mut self) -> Result<Option<SnapEntry<'_>>> {
        Ok(self.next_entry_hashed()?.map(|(e, _)| e))
    }

    /// [`SnapshotReader::next_entry`] with, for a node, its
    /// [`TreeDigest::node_hash`] (computed anyway for the digest check, so a
    /// loader need not compute it again); 0 for other entries.
    pub fn next_entry_hashed(&mut self) -> Result<Option<(SnapEntry<'_>, u64)>> {
        self.cursor.next(&self.map, &self.path, &self.summary)
    }

    /// The entries from the first, independently of `next_entry` (which this
    /// does not move), each with its node hash as in `next_entry_hashed`. The
    /// last item is an error if the counts or the digest do not check out.
    /// Entries borrow only the mapped file, so a loader may hand them to
    /// another thread while this one goes on parsing.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            reader: self,
            cursor: Cursor::new(self.body_end),
        }
    }

    /// [`SnapshotReader::entries`] without the node hashes (0 for every
    /// entry) and without the digest check at the end (the counts are still
    /// checked): the caller hashes each node ([`TreeDigest::node_hash`], or
    /// several at once with [`TreeDigest::node_hashes`]), sums the hashes of
    /// every node entry and hands the sum to
    /// [`SnapshotReader::verify_digest`], and throws away what it built if
    /// that fails. Lets a loader hash on another thread than the one parsing.
    pub fn entries_unhashed(&self) -> Entries<'_> {
        Entries {
            reader: self,
            cursor: Cursor {
                hashing: false,
                ..Cursor::new(self.body_end)
            },
        }
    }

    /// The entries of `span` (found by [`Entries::skip_span`]), decoded as
    /// [`SnapshotReader::entries_unhashed`] decodes them, without node hashes
    /// unless `hashing` (then each node's [`TreeDigest::node_hash`], as
    /// [`SnapshotReader::entries`] gives it, but no digest check). Neither
    /// counts nor the digest are checked here: the walk that skipped the span
    /// counted it, and its caller sums the hashes.
    pub fn span_entries(&self, span: Span, hashing: bool) -> Entries<'_> {
        Entries {
            reader: self,
            cursor: Cursor {
                pos: span.from,
                end: span.to,
                hashing,
                partial: true,
                ..Cursor::new(self.body_end)
            },
        }
    }

    /// Check the sum of the node hashes of every node entry (as
    /// [`SnapshotReader::entries_unhashed`]' caller computed it) against the
    /// trailer's digest.
    pub fn verify_digest(&self, actual: TreeDigest) -> Result<()> {
        check_digest(&self.path, &self.summary, actual)
    }
}

fn check_digest(file: &Path, s: &SnapshotSummary, actual: TreeDigest) -> Result<()> {
    if actual.value() != s.digest {
        return Err(StorageError::DigestMismatch {
            file: file.to_owned(),
            expected: s.digest,
            actual: actual.value(),
        });
    }
    Ok(())
}

/// Iterator returned by [`SnapshotReader::entries`].
pub struct Entries<'a> {
    reader: &'a SnapshotReader,
    cursor: Cursor,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<(SnapEntry<'a>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.reader;
        let item = self.cursor.next(&r.map, &r.path, &r.summary).transpose();
        if matches!(item, Some(Err(_))) {
            self.stop();
        }
        item
    }
}

/// Consecutive entries of a snapshot, located by [`Entries::skip_span`] but not
/// decoded: [`SnapshotReader::span_entries`] decodes them (on another thread,
/// say, than the walk that found them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    from: usize,
    to: usize,
}

impl Entries<'_> {
    /// Pass over up to `n` entries without decoding them, and return where
    /// they lie; `None` once there are no more (as `next` would, so the counts
    /// and digest are still checked after the last entry, the skipped ones
    /// counted). Only each entry's tag and lengths are read, enough to find
    /// where it ends and what it is: a length that runs past the body is the
    /// same error as in `next`, but a path that is not UTF-8 (or an ACL's
    /// contents, or anything else inside an entry) is only found by decoding
    /// the span. Only for a walk that leaves the digest to its caller
    /// ([`SnapshotReader::entries_unhashed`]): nodes skipped are not hashed.
    pub fn skip_span(&mut self, n: usize) -> Option<Result<Span>> {
        assert!(
            !self.cursor.hashing,
            "a walk that checks the digest skips no node"
        );
        let r = self.reader;
        let c = &mut self.cursor;
        if c.pos >= c.end {
            return self
                .next()
                .map(|item| item.map(|_| unreachable!("no entry after the end")));
        }
        let from = c.pos;
        for _ in 0..n {
            if c.pos >= c.end {
                break;
            }
            if let Err(e) = c.skip(&r.map, &r.path) {
                self.stop();
                return Some(Err(e));
            }
        }
        Some(Ok(Span { from, to: c.pos }))
    }

    /// Nothing more after an error.
    fn stop(&mut self) {
        self.cursor.pos = self.cursor.end;
        self.cursor.done = true;
    }
}

/// How far a walk over the entries has come, and what it has counted.
struct Cursor {
    pos: usize,
    /// Where its entries end: the body's end, or a span's.
    end: usize,
    /// A span's walk: neither counts nor digest are checked at its end.
    partial: bool,
    digest: TreeDigest,
    /// Hash each node into `digest` and check it at the end (else the
    /// caller does, see [`SnapshotReader::entries_unhashed`]).
    hashing: bool,
    seen: [u64; 3],
    done: bool,
}

impl Cursor {
    fn new(body_end: usize) -> Cursor {
        Cursor {
            pos: HEADER_LEN,
            end: body_end,
            partial: false,
            digest: TreeDigest::new(),
            hashing: true,
            seen: [0; 3],
            done: false,
        }
    }

    fn next<'a>(
        &mut self,
        map: &'a [u8],
        file: &Path,
        summary: &SnapshotSummary,
    ) -> Result<Option<(SnapEntry<'a>, u64)>> {
        if self.pos >= self.end {
            if !self.done {
                self.done = true;
                if !self.partial {
                    self.check_end(self.end, file, summary)?;
                }
            }
            return Ok(None);
        }
        let at = self.pos;
        let body = &map[at..self.end];
        let malformed = |offset: usize, reason: String| StorageError::SnapshotMalformed {
            file: file.to_owned(),
            offset: offset as u64,
            reason,
        };
        let mut r = JuteReader::new(&body[1..]);
        let mut hash = 0;
        let jute_err = |e: jute::JuteError| malformed(at, e.to_string());
        let (entry, kind) = match body[0] {
            TAG_SESSION => {
                let session_id = r.read_i64().map_err(jute_err)?;
                let timeout_ms = r.read_i32().map_err(jute_err)?;
                (
                    SnapEntry::Session {
                        session_id,
                        timeout_ms,
                    },
                    0,
                )
            }
            TAG_ACL => {
                let acl_ref = r.read_i64().map_err(jute_err)?;
                let acls = records::read_acls(&mut r).map_err(jute_err)?;
                (SnapEntry::Acl { acl_ref, acls }, 1)
            }
            TAG_NODE => {
                let path_at = at + 1 + r.position();
                let path = std::str::from_utf8(r.read_buffer_slice().map_err(jute_err)?)
                    .map_err(|_| malformed(path_at, "node path is not utf-8".into()))?;
                let data = r.read_opt_buffer_slice().map_err(jute_err)?;
                let acl_ref = r.read_i64().map_err(jute_err)?;
                let stat = StatPersisted::read(&mut r).map_err(jute_err)?;
                if self.hashing {
                    hash = TreeDigest::node_hash(path, data.unwrap_or_default(), &stat);
                    self.digest.add_hash(hash);
                }
                (
                    SnapEntry::Node {
                        path,
                        data,
                        acl_ref,
                        stat,
                    },
                    2,
                )
            }
            tag => return Err(malformed(at, format!("unknown entry tag {tag:#04x}"))),
        };
        self.seen[kind] += 1;
        self.pos = at + 1 + r.position();
        Ok(Some((entry, hash)))
    }

    /// Pass over the entry at `pos`, reading only its tag and lengths (an
    /// ACL row, rare and short, is decoded), and count it.
    fn skip(&mut self, map: &[u8], file: &Path) -> Result<()> {
        let at = self.pos;
        let body = &map[at..self.end];
        let mut r = JuteReader::new(&body[1..]);
        let malformed = |e: jute::JuteError| StorageError::SnapshotMalformed {
            file: file.to_owned(),
            offset: at as u64,
            reason: e.to_string(),
        };
        let kind = match body[0] {
            TAG_SESSION => r.skip(12).map(|()| 0),
            TAG_ACL => r
                .read_i64()
                .and_then(|_| records::read_acls(&mut r))
                .map(|_| 1),
            TAG_NODE => r
                .read_buffer_slice()
                .and_then(|_| r.read_opt_buffer_slice())
                .and_then(|_| r.skip(NODE_FIXED_LEN))
                .map(|()| 2),
            tag => {
                return Err(StorageError::SnapshotMalformed {
                    file: file.to_owned(),
                    offset: at as u64,
                    reason: format!("unknown entry tag {tag:#04x}"),
                })
            }
        }
        .map_err(malformed)?;
        self.seen[kind] += 1;
        self.pos = at + 1 + r.position();
        Ok(())
    }

    fn check_end(&self, body_end: usize, file: &Path, s: &SnapshotSummary) -> Result<()> {
        if self.seen != [s.sessions, s.acls, s.nodes] {
            return Err(StorageError::SnapshotMalformed {
                file: file.to_owned(),
                offset: body_end as u64,
                reason: format!(
                    "trailer counts {}/{}/{} sessions/acls/nodes, file holds {}/{}/{}",
                    s.sessions, s.acls, s.nodes, self.seen[0], self.seen[1], self.seen[2]
                ),
            });
        }
        if self.hashing {
            check_digest(file, s, self.digest)?;
        }
        Ok(())
    }
}

/// The zxid in a snapshot's file name (`snapshot.<zxid hex>`), if it is one.
pub fn zxid_of_name(path: &Path) -> Option<Zxid> {
    let name = path.file_name()?.to_str()?;
    fsutil::parse_zxid_file_name(SNAPSHOT_PREFIX, name)
}

/// Every snapshot in `dir`, oldest first (unfinished `.tmp` files excluded).
pub fn list_snapshots(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>> {
    fsutil::list_zxid_files(dir, SNAPSHOT_PREFIX)
}

/// The newest snapshot in `dir` that opens and passes its crc, falling back to
/// older ones (and logging why) when the newest is truncated or corrupt.
/// `Ok(None)` if there is no usable snapshot.
pub fn latest_valid_snapshot(dir: &Path) -> Result<Option<SnapshotReader>> {
    for (zxid, path) in list_snapshots(dir)?.into_iter().rev() {
        match SnapshotReader::open(&path) {
            Ok(r) if r.zxid() == zxid => return Ok(Some(r)),
            Ok(r) => {
                warn!(file = %path.display(), header = %r.zxid(), "skipping snapshot whose header zxid does not match its name")
            }
            Err(e @ StorageError::Io { .. }) => return Err(e),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "skipping invalid snapshot, trying an older one")
            }
        }
    }
    Ok(None)
}

/// ZooKeeper's snapshot trigger: snapshot once more than
/// `snap_count / 2 + roll` transactions were logged since the last one, where
/// `roll = random % (snap_count / 2)` is drawn once per snapshot interval so that
/// the peers of an ensemble do not all snapshot at the same moment. The caller
/// supplies `random` (from its seeded source) and keeps it until the next snapshot.
pub fn should_snapshot(txns_since_last: u64, snap_count: u64, random: u64) -> bool {
    let half = (snap_count / 2).max(1);
    txns_since_last > half + random % half
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_snapshot_fires_between_half_and_full_snap_count() {
        assert!(!should_snapshot(50_000, 100_000, 0));
        assert!(should_snapshot(50_001, 100_000, 0));
        assert!(!should_snapshot(99_999, 100_000, 49_999));
        assert!(should_snapshot(100_000, 100_000, 49_999));
        assert!(should_snapshot(2, 0, 7));
    }
}
