//! The serialized database of Apache ZooKeeper: what `ZKDatabase.serializeSnapshot`
//! writes (`SerializeUtils.serializeSnapshot`, `DataTree.serialize`,
//! `ReferenceCountedACLCache.serialize`, `DataNode.serialize`), byte for byte.
//!
//! It is what a leader sends unframed right after a SNAP packet (followed by the
//! signature, `LearnerHandler.syncFollower` / `Learner.syncWithLeader`), and the body of
//! Apache's `version-2/snapshot.<zxid>` files (after the `FileHeader`, before the digest
//! and the checksum: `FileSnap`). This module owns the bytes only: the writer's
//! functions, a reader over a complete body ([`DbReader`]) and a scanner that finds where
//! a body ends in a stream that is still arriving ([`DbScanner`]). Turning entries into a
//! data tree is the server's business; framing on the quorum port is zab-net's.
//!
//! ```text
//! db         := int(count) session{count} tree
//! session    := long(id) int(timeout)
//! tree       := aclcache node* ustring("/")            ; "/" ends the nodes
//! aclcache   := int(count) aclrow{count}
//! aclrow     := long(ref) vector<ACL>                   ; a null vector is refused
//! node       := ustring(path) buffer(data) long(aclRef) StatPersisted
//!                                                       ; root first, with path "",
//!                                                       ; then parents before children
//! on the wire after SNAP:  db ustring("BenWasHere")
//! aclRef -1  := Apache's OPEN_UNSAFE_ACL_ID: world:anyone with every permission, never
//!               in the cache (Apache's root and /zookeeper nodes use it)
//! ```
//!
//! Decoders never reserve from a length on the wire: each field's length is checked
//! against `max_field` (a snapshot's single path, data or ACL row; `jute.maxbuffer` in
//! ZooKeeper) and against the bytes actually there.

use bytes::BufMut;

use crate::jute;
use crate::records::{Acl, Id, StatPersisted};

/// What follows the database on the wire after a SNAP (`LearnerHandler`).
pub const SIGNATURE: &str = "BenWasHere";
/// Apache's `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`.
pub const OPEN_UNSAFE_ACL_REF: i64 = -1;
/// Encoded size of a `StatPersisted`.
const STAT_LEN: usize = 60;

/// A malformed or unfinished serialized database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("serialized database ends at offset {offset} in the middle of {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("serialized database: negative {what} {value} at offset {offset}")]
    Negative {
        offset: usize,
        what: &'static str,
        value: i64,
    },
    #[error("serialized database: {what} of {len} bytes at offset {offset} exceeds {max}")]
    TooLarge {
        offset: usize,
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("serialized database: {what} at offset {offset} is not utf-8")]
    InvalidUtf8 { offset: usize, what: &'static str },
    #[error("serialized database: signature {found:?} where {SIGNATURE:?} belongs")]
    BadSignature { found: String },
}

/// One entry of a serialized database, in the order it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbEntry<'a> {
    Session {
        session_id: i64,
        timeout_ms: i32,
    },
    Acl {
        acl_ref: i64,
        acls: Vec<Acl>,
    },
    /// `path` is `/` for the root (written as ""). `data` `None`: null data.
    Node {
        path: &'a str,
        data: Option<&'a [u8]>,
        acl_ref: i64,
        stat: StatPersisted,
    },
}

// --- writing -------------------------------------------------------------------------

/// `int(count) session{count}`.
pub fn write_sessions<B: BufMut>(out: &mut B, sessions: &[(i64, i32)]) {
    jute::write_i32(out, sessions.len() as i32);
    for (id, timeout) in sessions {
        jute::write_i64(out, *id);
        jute::write_i32(out, *timeout);
    }
}

/// The ACL cache's count; `write_acl_row` `count` times follows.
pub fn write_acl_count<B: BufMut>(out: &mut B, count: usize) {
    jute::write_i32(out, count as i32);
}

pub fn write_acl_row<B: BufMut>(out: &mut B, acl_ref: i64, acls: &[Acl]) {
    jute::write_i64(out, acl_ref);
    crate::records::write_acls(out, acls);
}

/// One node; our root `/` is written as Apache's "".
pub fn write_node<B: BufMut>(
    out: &mut B,
    path: &str,
    data: Option<&[u8]>,
    acl_ref: i64,
    stat: &StatPersisted,
) {
    jute::write_string(out, if path == "/" { "" } else { path });
    jute::write_opt_buffer(out, data);
    jute::write_i64(out, acl_ref);
    jute::Record::write(stat, out);
}

/// The end of the nodes (and of the database).
pub fn write_end<B: BufMut>(out: &mut B) {
    jute::write_string(out, "/");
}

pub fn write_signature<B: BufMut>(out: &mut B) {
    jute::write_string(out, SIGNATURE);
}

// --- reading -------------------------------------------------------------------------

/// Where a read stopped short.
enum Short {
    /// More input is needed (the reader's `Truncated`).
    Need(&'static str),
    Bad(DbError),
}

impl From<DbError> for Short {
    fn from(e: DbError) -> Short {
        Short::Bad(e)
    }
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    max_field: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Short> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or(Short::Need(what))?;
        self.pos += n;
        Ok(s)
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, Short> {
        Ok(i32::from_be_bytes(
            self.take(4, what)?.try_into().expect("4"),
        ))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, Short> {
        Ok(i64::from_be_bytes(
            self.take(8, what)?.try_into().expect("8"),
        ))
    }
    /// A count that a list cannot have a negative of.
    fn count(&mut self, what: &'static str) -> Result<usize, Short> {
        let offset = self.pos;
        let n = self.i32(what)?;
        if n < 0 {
            return Err(DbError::Negative {
                offset,
                what,
                value: n as i64,
            }
            .into());
        }
        Ok(n as usize)
    }
    /// `int(len) byte{len}`, -1: `None`.
    fn bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, Short> {
        let offset = self.pos;
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DbError::Negative {
                offset,
                what,
                value: len as i64,
            }
            .into());
        }
        if len as usize > self.max_field {
            return Err(DbError::TooLarge {
                offset,
                what,
                len: len as usize,
                max: self.max_field,
            }
            .into());
        }
        self.take(len as usize, what).map(Some)
    }
    /// A ustring; null reads as "" (as `BinaryInputArchive` does).
    fn str(&mut self, what: &'static str) -> Result<&'a str, Short> {
        let offset = self.pos;
        match self.bytes(what)? {
            None => Ok(""),
            Some(b) => std::str::from_utf8(b)
                .map_err(|_| Short::Bad(DbError::InvalidUtf8 { offset, what })),
        }
    }
    fn stat(&mut self) -> Result<StatPersisted, Short> {
        let b = self.take(STAT_LEN, "stat")?;
        let mut r = jute::JuteReader::new(b);
        Ok(<StatPersisted as jute::Record>::read(&mut r).expect("60 bytes hold a stat"))
    }
    fn acl_row(&mut self) -> Result<(i64, Vec<Acl>), Short> {
        let acl_ref = self.i64("acl ref")?;
        let start = self.pos;
        let n = self.count("acl vector")?;
        let mut acls = Vec::new();
        for _ in 0..n {
            let perms = self.i32("acl")?;
            let scheme = self.str("acl scheme")?.to_owned();
            let id = self.str("acl id")?.to_owned();
            acls.push(Acl {
                perms,
                id: Id { scheme, id },
            });
            if self.pos - start > self.max_field {
                return Err(DbError::TooLarge {
                    offset: start,
                    what: "acl row",
                    len: self.pos - start,
                    max: self.max_field,
                }
                .into());
            }
        }
        Ok((acl_ref, acls))
    }
}

/// Where in the database the next byte belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    SessionCount,
    Sessions(usize),
    AclCount,
    Acls(usize),
    Nodes,
    Signature,
    Done,
}

/// One step: the next entry (if the step yields one) and the part after it.
fn step<'a>(
    cur: &mut Cur<'a>,
    part: Part,
    signature: bool,
) -> Result<(Option<DbEntry<'a>>, Part), Short> {
    Ok(match part {
        Part::SessionCount => (None, Part::Sessions(cur.count("session count")?)),
        Part::Sessions(0) => (None, Part::AclCount),
        Part::Sessions(n) => {
            let session_id = cur.i64("session")?;
            let timeout_ms = cur.i32("session")?;
            (
                Some(DbEntry::Session {
                    session_id,
                    timeout_ms,
                }),
                Part::Sessions(n - 1),
            )
        }
        Part::AclCount => (None, Part::Acls(cur.count("acl count")?)),
        Part::Acls(0) => (None, Part::Nodes),
        Part::Acls(n) => {
            let (acl_ref, acls) = cur.acl_row()?;
            (Some(DbEntry::Acl { acl_ref, acls }), Part::Acls(n - 1))
        }
        Part::Nodes => {
            let path = cur.str("path")?;
            if path == "/" {
                (
                    None,
                    if signature {
                        Part::Signature
                    } else {
                        Part::Done
                    },
                )
            } else {
                let data = cur.bytes("data")?;
                let acl_ref = cur.i64("node")?;
                let stat = cur.stat()?;
                let path = if path.is_empty() { "/" } else { path };
                (
                    Some(DbEntry::Node {
                        path,
                        data,
                        acl_ref,
                        stat,
                    }),
                    Part::Nodes,
                )
            }
        }
        Part::Signature => {
            let s = cur.str("signature")?;
            if s != SIGNATURE {
                return Err(DbError::BadSignature {
                    found: s.chars().take(64).collect(),
                }
                .into());
            }
            (None, Part::Done)
        }
        Part::Done => (None, Part::Done),
    })
}

/// The entries of a complete serialized database (without the signature), in order.
/// Bytes after its end are left alone ([`DbReader::position`]: where it ended).
pub struct DbReader<'a> {
    cur: Cur<'a>,
    part: Part,
    failed: bool,
}

impl<'a> DbReader<'a> {
    /// `max_field`: the largest path, data or ACL row accepted.
    pub fn new(body: &'a [u8], max_field: usize) -> DbReader<'a> {
        DbReader {
            cur: Cur {
                b: body,
                pos: 0,
                max_field,
            },
            part: Part::SessionCount,
            failed: false,
        }
    }

    /// Bytes read so far (after the last entry: the length of the database).
    pub fn position(&self) -> usize {
        self.cur.pos
    }

    /// Whether the end marker has been read.
    pub fn finished(&self) -> bool {
        self.part == Part::Done
    }

    /// The next entry, `None` after the end marker. After an error, `None` too.
    pub fn next_entry(&mut self) -> Result<Option<DbEntry<'a>>, DbError> {
        while self.part != Part::Done && !self.failed {
            let at = self.cur.pos;
            match step(&mut self.cur, self.part, false) {
                Ok((e, part)) => {
                    self.part = part;
                    if e.is_some() {
                        return Ok(e);
                    }
                }
                Err(Short::Need(what)) => {
                    self.cur.pos = at;
                    self.failed = true;
                    return Err(DbError::Truncated { offset: at, what });
                }
                Err(Short::Bad(e)) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for DbReader<'a> {
    type Item = Result<DbEntry<'a>, DbError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// Finds the end of a serialized database and its signature in bytes that are still
/// arriving: feed it the whole buffer so far each time (it remembers how far it got).
#[derive(Debug, Clone)]
pub struct DbScanner {
    part: Part,
    pos: usize,
    /// Where the database ends (before the signature), once known.
    db_end: usize,
    max_field: usize,
}

impl DbScanner {
    pub fn new(max_field: usize) -> DbScanner {
        DbScanner {
            part: Part::SessionCount,
            pos: 0,
            db_end: 0,
            max_field,
        }
    }

    /// `Ok(Some((db_len, total_len)))` once `buf` holds the database and the signature:
    /// the database is `buf[..db_len]`, the signature ends at `total_len`. `Ok(None)`:
    /// more bytes are needed.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<(usize, usize)>, DbError> {
        let mut cur = Cur {
            b: buf,
            pos: self.pos,
            max_field: self.max_field,
        };
        while self.part != Part::Done {
            if self.part == Part::Signature && self.db_end == 0 {
                self.db_end = cur.pos;
            }
            match step(&mut cur, self.part, true) {
                Ok((_, part)) => {
                    self.part = part;
                    self.pos = cur.pos;
                }
                Err(Short::Need(_)) => return Ok(None),
                Err(Short::Bad(e)) => return Err(e),
            }
        }
        Ok(Some((self.db_end, self.pos)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stat(n: i64) -> StatPersisted {
        StatPersisted {
            czxid: n,
            mzxid: n + 1,
            ctime: n * 1000,
            mtime: n * 1000 + 1,
            version: 1,
            cversion: 2,
            aversion: 3,
            ephemeral_owner: 0,
            pzxid: n + 2,
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        write_sessions(&mut b, &[(0x100, 30000), (-5, 4000)]);
        write_acl_count(&mut b, 1);
        write_acl_row(&mut b, 1, &Acl::open_unsafe());
        write_node(&mut b, "/", Some(b""), OPEN_UNSAFE_ACL_REF, &stat(0));
        write_node(&mut b, "/a", None, 1, &stat(5));
        write_node(&mut b, "/a/b", Some(b"xyz"), 1, &stat(6));
        write_end(&mut b);
        b
    }

    #[test]
    fn root_is_written_as_empty_path_and_read_back_as_slash() {
        let b = sample();
        // int(2) + 2 sessions (24) + int(1) + acl row: long(1) int(1) int(31) "world" "anyone"
        let root_at = 4 + 24 + 4 + 8 + 4 + 4 + 9 + 10;
        assert_eq!(&b[root_at..root_at + 4], &0i32.to_be_bytes());
        let e: Vec<_> = DbReader::new(&b, 1 << 20)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(e.len(), 6);
        assert!(matches!(e[3], DbEntry::Node { path: "/", .. }));
        assert!(matches!(
            e[4],
            DbEntry::Node {
                path: "/a",
                data: None,
                ..
            }
        ));
    }

    #[test]
    fn scanner_finds_the_end_at_every_split() {
        let mut b = sample();
        let db_len = b.len();
        write_signature(&mut b);
        b.extend_from_slice(b"next packet");
        let total = db_len + 4 + SIGNATURE.len();
        for cut in 0..b.len() {
            let mut s = DbScanner::new(1 << 20);
            let first = s.scan(&b[..cut]).unwrap();
            if cut < total {
                assert_eq!(first, None, "cut {cut}");
            }
            assert_eq!(s.scan(&b).unwrap(), Some((db_len, total)));
        }
    }

    #[test]
    fn wrong_signature_and_huge_lengths_are_refused() {
        let mut b = sample();
        jute::write_string(&mut b, "BenWasNotHere");
        assert!(matches!(
            DbScanner::new(1 << 20).scan(&b),
            Err(DbError::BadSignature { .. })
        ));
        let mut b = Vec::new();
        write_sessions(&mut b, &[]);
        write_acl_count(&mut b, 0);
        jute::write_i32(&mut b, i32::MAX);
        assert!(matches!(
            DbScanner::new(1 << 20).scan(&b),
            Err(DbError::TooLarge { .. })
        ));
        assert!(matches!(
            DbReader::new(&b, 1 << 20).last(),
            Some(Err(DbError::TooLarge { .. }))
        ));
    }

    proptest! {
        #[test]
        fn truncated_input_never_panics(cut in 0usize..200, junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = sample();
            b.truncate(cut.min(b.len()));
            b.extend_from_slice(&junk);
            for e in DbReader::new(&b, 1 << 16) {
                if e.is_err() { break; }
            }
            let _ = DbScanner::new(1 << 16).scan(&b);
        }
    }
}
