//! The digests' hashing handed to another thread while a log is replayed.
//!
//! Each change to a node moves both digests (ours, `TreeDigest`, and Apache's
//! CRC): the node's hash under its old Stat comes out, under its new one goes
//! in. Both are sums, so when the hashes are computed does not matter, only
//! which: while a replay runs with [`DataTree::defer_digests`], each change
//! is written down instead ([`DigestWork`]: the path, the data and the Stat,
//! copied, for the old data is gone once the transaction is applied), the
//! replay hands the work to a thread of its own ([`DataTree::take_digest_work`]),
//! which hashes it ([`DigestWork::sum_into`], in the order written, for
//! Apache's digest log) while the next transactions apply, and
//! [`DataTree::finish_deferred_digests`] adds the sums to the tree. Copying
//! a node's 130 bytes costs the applying thread a tenth of hashing them four
//! times.
//!
//! While deferred, the digests are not readable ([`DataTree::digest`] and
//! [`DataTree::apache_digest`] assert it): nothing reads them during a replay
//! but Apache's digest log, which is written down as a marker and filled in
//! by the hashing thread with the digest as it stood at that point.

use zab_core::records::StatPersisted;
use zab_core::Zxid;
use zab_storage::apache_snapshot::apache_node_digest;
use zab_storage::TreeDigest;

use super::{DataTree, DIGEST_LOG_LIMIT};

/// What one change to a node does to the digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The node's hash goes into both digests.
    Add,
    /// Into Apache's only (ours was added from a hash computed ahead).
    AddApache,
    /// Out of both.
    Remove,
    /// Not a change: Apache's digest log takes the digest as it stands here.
    Log(Zxid),
}

#[derive(Clone, Copy, Debug)]
struct Op {
    kind: Kind,
    /// The path and then the data, in [`DigestWork::bytes`] after the
    /// previous op's.
    path_len: u32,
    data_len: u32,
    stat: StatPersisted,
}

/// Changes to the digests written down in the order they happened, for
/// another thread to hash ([`DigestWork::sum_into`]).
#[derive(Debug, Default)]
pub struct DigestWork {
    bytes: Vec<u8>,
    ops: Vec<Op>,
}

/// What hashing [`DigestWork`] added up: the change to each digest since
/// [`DataTree::defer_digests`], and Apache's digest log's entries as changes
/// since then.
#[derive(Debug, Default)]
pub struct DigestSums {
    ours: u64,
    apache: u64,
    log: Vec<(Zxid, u64)>,
}

impl DigestWork {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Forget the changes, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ops.clear();
    }

    fn push(&mut self, kind: Kind, path: &str, data: &[u8], stat: &StatPersisted) {
        self.bytes.extend_from_slice(path.as_bytes());
        self.bytes.extend_from_slice(data);
        self.ops.push(Op {
            kind,
            path_len: u32::try_from(path.len()).expect("a path under 4 GiB"),
            data_len: u32::try_from(data.len()).expect("data under 4 GiB"),
            stat: *stat,
        });
    }

    fn log(&mut self, zxid: Zxid) {
        self.ops.push(Op {
            kind: Kind::Log(zxid),
            path_len: 0,
            data_len: 0,
            stat: StatPersisted::default(),
        });
    }

    /// Hash the changes, in the order written, into `sums`.
    pub fn sum_into(&self, sums: &mut DigestSums) {
        let mut at = 0;
        for op in &self.ops {
            let path = &self.bytes[at..at + op.path_len as usize];
            at += op.path_len as usize;
            let data = &self.bytes[at..at + op.data_len as usize];
            at += op.data_len as usize;
            // Written from a &str: the bytes are its UTF-8.
            let path = std::str::from_utf8(path).expect("a path written from a str");
            let ours = || TreeDigest::node_hash(path, data, &op.stat);
            let apache = || apache_node_digest(path, data, &op.stat);
            match op.kind {
                Kind::Add => {
                    sums.ours = sums.ours.wrapping_add(ours());
                    sums.apache = sums.apache.wrapping_add(apache());
                }
                Kind::AddApache => sums.apache = sums.apache.wrapping_add(apache()),
                Kind::Remove => {
                    sums.ours = sums.ours.wrapping_sub(ours());
                    sums.apache = sums.apache.wrapping_sub(apache());
                }
                Kind::Log(zxid) => sums.log.push((zxid, sums.apache)),
            }
        }
    }
}

/// Where the digests' changes go: into the sums at once, or written down.
#[derive(Debug)]
pub(super) enum DigestChanges {
    Now,
    Deferred(Box<DigestWork>),
}

impl super::Digests {
    /// Write the change down instead of hashing it, if deferred.
    pub(super) fn defer(
        &mut self,
        kind_add: bool,
        path: &str,
        data: &[u8],
        stat: &StatPersisted,
    ) -> bool {
        match &mut self.changes {
            DigestChanges::Now => false,
            DigestChanges::Deferred(w) => {
                w.push(
                    if kind_add { Kind::Add } else { Kind::Remove },
                    path,
                    data,
                    stat,
                );
                true
            }
        }
    }

    pub(super) fn defer_apache(&mut self, path: &str, data: &[u8], stat: &StatPersisted) -> bool {
        match &mut self.changes {
            DigestChanges::Now => false,
            DigestChanges::Deferred(w) => {
                w.push(Kind::AddApache, path, data, stat);
                true
            }
        }
    }

    pub(super) fn deferred(&self) -> bool {
        matches!(self.changes, DigestChanges::Deferred(_))
    }
}

impl DataTree {
    /// From now on, write the digests' changes down for another thread to
    /// hash instead of hashing them (see the module's header), until
    /// [`DataTree::finish_deferred_digests`].
    pub fn defer_digests(&mut self) {
        assert!(!self.digest.deferred(), "digests deferred twice");
        self.digest.changes = DigestChanges::Deferred(Box::default());
    }

    /// The changes written down since the last call, for
    /// [`DigestWork::sum_into`]; each must be summed, in the order taken, into
    /// the [`DigestSums`] given to [`DataTree::finish_deferred_digests`].
    pub fn take_digest_work(&mut self) -> DigestWork {
        self.swap_digest_work(DigestWork::default())
    }

    /// [`DataTree::take_digest_work`], writing the next changes into `empty`
    /// (a [`DigestWork`] summed and [`DigestWork::clear`]ed): its memory is
    /// reused rather than grown again, which left holes among the records
    /// the replay allocates (1-2 anonymous bytes per znode after a restart).
    pub fn swap_digest_work(&mut self, empty: DigestWork) -> DigestWork {
        assert!(empty.is_empty(), "work swapped in must be empty");
        match &mut self.digest.changes {
            DigestChanges::Deferred(w) => std::mem::replace(&mut **w, empty),
            DigestChanges::Now => panic!("digests are not deferred"),
        }
    }

    /// Add what the deferred changes summed to (every [`DigestWork`] taken,
    /// and the rest, summed here) and hash changes at once again.
    pub fn finish_deferred_digests(&mut self, mut sums: DigestSums) {
        let rest = self.take_digest_work();
        rest.sum_into(&mut sums);
        self.digest.changes = DigestChanges::Now;
        let apache_before = self.digest.apache;
        self.digest.ours.add_hash(sums.ours);
        self.digest.apache = self.digest.apache.wrapping_add(sums.apache);
        for (zxid, apache) in sums.log {
            self.digest_log
                .push_back((zxid, apache_before.wrapping_add(apache)));
            if self.digest_log.len() > DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
        }
    }

    /// Apache's digest log while deferred: a marker the hashing fills in.
    pub(super) fn defer_log(&mut self, zxid: Zxid) -> bool {
        match &mut self.digest.changes {
            DigestChanges::Now => false,
            DigestChanges::Deferred(w) => {
                w.log(zxid);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zab_core::proto::op;
    use zab_core::txn::{SetDataTxn, TxnBody};

    use super::*;
    use crate::tree::testutil::{create, txn};
    use crate::tree::DIGEST_LOG_INTERVAL;

    /// Creates, setData, deletes (a parent's Stat moves with each) and a
    /// digest-log zxid every [`DIGEST_LOG_INTERVAL`]: applied with the
    /// digests deferred, the work taken at uneven points and summed in
    /// order, the tree ends with the same digests and digest log as applying
    /// them directly.
    #[test]
    fn deferred_digests_sum_to_the_direct_ones() {
        let txns: Vec<_> = (2..1200i64)
            .map(|z| {
                let k = z % 37;
                match z % 5 {
                    0 | 1 => txn(z, op::CREATE, create(&format!("/d{k}"), -1, z % 3 == 0)),
                    2 | 3 => txn(
                        z,
                        op::SET_DATA,
                        TxnBody::SetData(SetDataTxn {
                            path: format!("/d{k}"),
                            data: Some(Bytes::from(format!("value {z}"))),
                            version: -1,
                        }),
                    ),
                    _ => txn(
                        z,
                        op::DELETE,
                        TxnBody::Delete {
                            path: format!("/d{k}"),
                        },
                    ),
                }
            })
            .collect();
        assert!(txns.len() as i64 > 3 * DIGEST_LOG_INTERVAL);
        let mut direct = DataTree::new(false);
        let mut tr = Vec::new();
        for t in &txns {
            direct.apply(t, &mut tr);
        }
        let mut deferred = DataTree::new(false);
        deferred.defer_digests();
        let mut sums = DigestSums::default();
        for (i, t) in txns.iter().enumerate() {
            deferred.apply(t, &mut tr);
            if i % 97 == 13 {
                deferred.take_digest_work().sum_into(&mut sums);
            }
        }
        deferred.finish_deferred_digests(sums);
        assert_eq!(deferred.digest(), direct.digest());
        assert_eq!(deferred.apache_digest(), direct.apache_digest());
        assert!(direct.digest_log().len() >= 3);
        assert!(deferred.digest_log().eq(direct.digest_log()));
        assert_eq!(deferred.node_count(), direct.node_count());
    }

    #[test]
    #[should_panic(expected = "deferred")]
    fn deferred_digests_are_not_readable() {
        let mut t = DataTree::new(false);
        t.defer_digests();
        t.apache_digest();
    }
}
