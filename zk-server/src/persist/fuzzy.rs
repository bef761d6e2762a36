//! Taking a snapshot while writes go on: [`FuzzySnapshot`] captures the tree
//! a slice at a time, [`write_snapshot`] streams the slices to a file on a
//! writer thread, and a [`SnapshotJob`] is one such snapshot in progress.
//!
//! A fuzzy snapshot is named by the last zxid applied when it starts. The core
//! walks the tree a slice at a time between requests ([`FuzzySnapshot::step`])
//! and the writer thread streams the slices to disk, so nodes are captured at
//! different moments. Replaying the log from the snapshot's zxid fixes that up:
//! applying a transaction the snapshot already reflects is harmless (see
//! `tree/apply.rs`).
//!
//! When to take a snapshot and what to do with the file is the core's
//! business; the file format is `zab-storage`'s ([`SnapshotWriter`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;
use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::{SnapshotWriter, StorageError, TreeDigest};

use crate::tree::DataTree;

/// One piece of a snapshot on its way to the writer thread.
pub enum SnapItem {
    Session {
        id: i64,
        timeout_ms: i32,
    },
    Acl {
        id: i64,
        acl: Vec<Acl>,
    },
    Node {
        path: String,
        /// `None`: null data.
        data: Option<Bytes>,
        acl_id: i64,
        stat: StatPersisted,
    },
    /// The end, with the digest over every node written.
    Finish {
        digest: u64,
    },
}

/// A snapshot being taken: which paths are left to write.
pub struct FuzzySnapshot {
    pub zxid: Zxid,
    /// Paths still to visit: a depth-first walk from the root that lists a
    /// node's children when it writes the node, as ZooKeeper's serializer
    /// does, so a child is never written without its parent.
    stack: Vec<String>,
    written_acls: HashSet<i64>,
    digest: TreeDigest,
    started: bool,
    sessions: Vec<(i64, i32)>,
}

impl FuzzySnapshot {
    /// Begin a snapshot of `tree` as of its last applied zxid.
    pub fn start(tree: &DataTree, sessions: Vec<(i64, i32)>) -> FuzzySnapshot {
        FuzzySnapshot {
            zxid: tree.last_processed_zxid(),
            stack: vec![crate::tree::ROOT.to_owned()],
            written_acls: HashSet::new(),
            digest: TreeDigest::new(),
            started: false,
            sessions,
        }
    }

    pub fn done(&self) -> bool {
        self.started && self.stack.is_empty()
    }

    /// The digest over the nodes written so far (complete once `done`).
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }

    /// Capture up to `budget` nodes as the tree is now.
    pub fn step(&mut self, tree: &DataTree, budget: usize) -> Vec<SnapItem> {
        let mut out = Vec::with_capacity(budget + 8);
        if !self.started {
            self.started = true;
            for (id, timeout_ms) in self.sessions.drain(..) {
                out.push(SnapItem::Session { id, timeout_ms });
            }
        }
        let mut n_written = 0;
        while n_written < budget {
            let Some(path) = self.stack.pop() else { break };
            // A node deleted since the start is simply not in the snapshot.
            let Some(n) = tree.get(&path) else { continue };
            n_written += 1;
            for c in n.children() {
                let child = if path == crate::tree::ROOT {
                    format!("/{c}")
                } else {
                    format!("{path}/{c}")
                };
                self.stack.push(child);
            }
            let acl = n.acl();
            if self.written_acls.insert(acl.id) {
                out.push(SnapItem::Acl {
                    id: acl.id,
                    acl: acl.acl.clone(),
                });
            }
            let stat = n.persisted();
            self.digest.add(&path, n.data(), &stat);
            out.push(SnapItem::Node {
                path,
                data: n.data_opt().map(Bytes::copy_from_slice),
                acl_id: acl.id,
                stat,
            });
        }
        if self.done() {
            out.push(SnapItem::Finish {
                digest: self.digest.value(),
            });
        }
        out
    }
}

/// Write a snapshot from the items the core sends; returns the file written.
pub fn write_snapshot(
    dir: &Path,
    zxid: Zxid,
    rx: Receiver<Vec<SnapItem>>,
) -> Result<PathBuf, StorageError> {
    let mut w = SnapshotWriter::create(dir, zxid)?;
    while let Ok(batch) = rx.recv() {
        for item in batch {
            match item {
                SnapItem::Session { id, timeout_ms } => w.write_session(id, timeout_ms)?,
                SnapItem::Acl { id, acl } => w.write_acl(id, &acl)?,
                SnapItem::Node {
                    path,
                    data,
                    acl_id,
                    stat,
                } => w.write_node(&path, data.as_deref(), acl_id, &stat)?,
                SnapItem::Finish { digest } => return w.finish(digest),
            }
        }
    }
    Err(StorageError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other("snapshot abandoned before it was finished"),
    })
}

/// Write a snapshot of a tree that holds still (a learner's tree after SNAP) on this
/// thread; returns the file written.
pub fn write_tree_snapshot(
    dir: &Path,
    tree: &DataTree,
    sessions: Vec<(i64, i32)>,
) -> Result<PathBuf, StorageError> {
    let mut snap = FuzzySnapshot::start(tree, sessions);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let zxid = snap.zxid;
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_snapshot(dir, zxid, rx));
        while !snap.done() {
            if tx.send(snap.step(tree, 4096)).is_err() {
                break;
            }
        }
        drop(tx);
        writer.join().expect("snapshot writer panicked")
    })
}

/// A snapshot job running in the background: the core feeds `tx`.
pub struct SnapshotJob {
    pub snap: FuzzySnapshot,
    pub tx: SyncSender<Vec<SnapItem>>,
    /// Items captured but not yet accepted by the writer.
    pub pending: Option<Vec<SnapItem>>,
}

#[cfg(test)]
mod tests {
    use zab_core::txn::Txn;
    use zab_storage::SnapEntry;

    use super::*;
    use crate::persist::testutil::workload;

    #[test]
    fn fuzzy_snapshot_under_writes_then_replay_gives_the_live_digest() {
        for seed0 in 1..20u64 {
            let dir = tempfile::tempdir().unwrap();
            let mut seed = seed0;
            let mut live = DataTree::new(false);
            let mut log: Vec<Txn> = Vec::new();
            let mut tr = Vec::new();
            let mut zxid = 1;
            for _ in 0..200 {
                let t = workload(&live, zxid, &mut seed);
                live.apply(&t, &mut tr);
                log.push(t);
                zxid += 1;
            }
            let mut snap = FuzzySnapshot::start(&live, vec![(7, 30000)]);
            let (tx, rx) = std::sync::mpsc::sync_channel(1 << 16);
            // Writes go on between every slice of the snapshot.
            while !snap.done() {
                tx.send(snap.step(&live, 3)).unwrap();
                for _ in 0..5 {
                    let t = workload(&live, zxid, &mut seed);
                    live.apply(&t, &mut tr);
                    log.push(t);
                    zxid += 1;
                }
            }
            drop(tx);
            let path = write_snapshot(dir.path(), snap.zxid, rx).unwrap();
            // Recover: snapshot, then the log from the snapshot's zxid.
            let mut r = zab_storage::SnapshotReader::open(&path).unwrap();
            let mut back = DataTree::empty(false);
            while let Some(e) = r.next_entry().unwrap() {
                match e {
                    SnapEntry::Acl { acl_ref, acls } => back.load_acl(acl_ref, acls),
                    SnapEntry::Node {
                        path,
                        data,
                        acl_ref,
                        stat,
                    } => back.load_node(path, data, acl_ref, stat).unwrap(),
                    SnapEntry::Session { .. } => {}
                }
            }
            back.finish_load(r.zxid()).unwrap();
            for t in log.iter().filter(|t| t.header.zxid > snap.zxid) {
                back.apply(t, &mut tr);
            }
            assert_eq!(back.node_count(), live.node_count(), "seed {seed0}");
            for (p, n) in live.iter() {
                let b = back
                    .get(&p)
                    .unwrap_or_else(|| panic!("seed {seed0}: {p} missing"));
                assert_eq!(
                    (b.data_opt(), b.persisted(), b.acl().id),
                    (n.data_opt(), n.persisted(), n.acl().id),
                    "seed {seed0}: {p} differs"
                );
            }
            let full = |t: &DataTree| {
                let mut d = TreeDigest::new();
                for (p, n) in t.iter() {
                    d.add(&p, n.data(), &n.persisted());
                }
                d.value()
            };
            assert_eq!(
                full(&live),
                live.digest(),
                "seed {seed0}: live digest drifted"
            );
            assert_eq!(
                full(&back),
                back.digest(),
                "seed {seed0}: recovered digest drifted"
            );
            assert_eq!(back.digest(), live.digest(), "seed {seed0}");
        }
    }
}
