//! Durability for the server: recovery at start-up (newest valid snapshot,
//! then the log replayed over it), the log as the pipeline's [`TxnSink`], and
//! fuzzy snapshots taken while writes go on.
//!
//! A fuzzy snapshot is named by the last zxid applied when it starts. The core
//! walks the tree a slice at a time between requests ([`FuzzySnapshot::step`])
//! and a writer thread streams the slices to disk, so nodes are captured at
//! different moments. Replaying the log from the snapshot's zxid fixes that up:
//! applying a transaction the snapshot already reflects is harmless (see
//! `tree.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::records::{Acl, StatPersisted};
use zab_core::txn::{Txn, TxnBody};
use zab_core::Zxid;
use zab_storage::{
    latest_valid_snapshot, LogOptions, SnapEntry, SnapshotWriter, StorageError, TreeDigest, TxnLog,
};

use crate::config::Config;
use crate::replicate::TxnSink;
use crate::tree::DataTree;

/// Why the server could not recover its state.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{file}: transaction {zxid} does not decode: {why}; wipe this node's data directory and let it resync, or restore a backup")]
    BadTxn {
        file: PathBuf,
        zxid: Zxid,
        why: String,
    },
    #[error("{file}: {why}; an older snapshot may be used by moving this one away")]
    BadSnapshot { file: PathBuf, why: String },
    #[error("cannot create {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Where ZooKeeper keeps snapshots and logs: `<dir>/version-2`.
pub fn snap_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("version-2")
}

pub fn log_dir(cfg: &Config) -> PathBuf {
    cfg.data_log_dir.join("version-2")
}

/// What start-up found on disk.
pub struct Recovered {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    pub log: TxnLog,
    pub snapshot_zxid: Zxid,
    pub replayed: u64,
}

fn mkdir(dir: &Path) -> Result<(), PersistError> {
    std::fs::create_dir_all(dir).map_err(|source| PersistError::Dir {
        dir: dir.to_owned(),
        source,
    })
}

pub fn log_options(cfg: &Config) -> LogOptions {
    LogOptions {
        prealloc_bytes: cfg.pre_alloc_size,
        force_sync: cfg.force_sync,
        max_txn_bytes: cfg.jute_max_buffer + (1 << 16),
    }
}

/// Load the newest valid snapshot and replay the log over it.
pub fn recover(cfg: &Config) -> Result<Recovered, PersistError> {
    let sdir = snap_dir(cfg);
    let ldir = log_dir(cfg);
    mkdir(&sdir)?;
    mkdir(&ldir)?;
    let mut sessions = HashMap::new();
    let (mut tree, snapshot_zxid) = match latest_valid_snapshot(&sdir)? {
        None => (DataTree::new(cfg.extended_types_enabled), Zxid::ZERO),
        Some(mut r) => {
            let file = r.path().to_owned();
            let zxid = r.zxid();
            let mut tree = DataTree::empty(cfg.extended_types_enabled);
            while let Some(e) = r.next_entry()? {
                match e {
                    SnapEntry::Session {
                        session_id,
                        timeout_ms,
                    } => {
                        sessions.insert(session_id, timeout_ms);
                    }
                    SnapEntry::Acl { acl_ref, acls } => tree.load_acl(acl_ref, acls),
                    SnapEntry::Node {
                        path,
                        data,
                        acl_ref,
                        stat,
                    } => tree.load_node(path, data, acl_ref, stat).map_err(|why| {
                        PersistError::BadSnapshot {
                            file: file.clone(),
                            why,
                        }
                    })?,
                }
            }
            tree.finish_load(zxid)
                .map_err(|why| PersistError::BadSnapshot { file, why })?;
            tracing::info!(
                "loaded snapshot at zxid {zxid}: {} nodes",
                tree.node_count()
            );
            (tree, zxid)
        }
    };
    let (mut log, info) = TxnLog::open(&ldir, log_options(cfg))?;
    if log.last_zxid() < snapshot_zxid {
        // The log ends before the snapshot (purged or wiped): continue after it.
        log.restart_at(snapshot_zxid)?;
    }
    if let Some((file, offset, why)) = &info.torn_tail {
        tracing::warn!(
            "{}: the last record at byte offset {offset} was torn ({why}); the log ends before it",
            file.display()
        );
    }
    let mut replayed = 0;
    let mut scratch = Vec::new();
    for e in log.iter_from(snapshot_zxid.next()) {
        let e = e?;
        let txn = Txn::from_bytes(e.txn).map_err(|err| PersistError::BadTxn {
            file: ldir.clone(),
            zxid: e.zxid,
            why: err.to_string(),
        })?;
        match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                sessions.insert(txn.header.client_id, *timeout_ms);
            }
            TxnBody::CloseSession { .. } => {
                sessions.remove(&txn.header.client_id);
            }
            _ => {}
        }
        tree.apply(&txn, &mut scratch);
        scratch.clear();
        replayed += 1;
    }
    tracing::info!(
        "recovered to zxid {} ({} transactions replayed after the snapshot, {} sessions)",
        tree.last_processed_zxid(),
        replayed,
        sessions.len()
    );
    Ok(Recovered {
        tree,
        sessions,
        log,
        snapshot_zxid,
        replayed,
    })
}

impl TxnSink for TxnLog {
    fn append(&mut self, zxid: Zxid, txn: &[u8]) -> std::io::Result<()> {
        TxnLog::append(self, zxid, txn).map_err(std::io::Error::other)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        TxnLog::flush(self)
            .map(|_| ())
            .map_err(std::io::Error::other)
    }
    fn roll(&mut self) -> std::io::Result<()> {
        TxnLog::roll(self).map_err(std::io::Error::other)
    }
}

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
        data: Bytes,
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
                data: Bytes::copy_from_slice(n.data()),
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
                } => w.write_node(&path, &data, acl_id, &stat)?,
                SnapItem::Finish { digest } => return w.finish(digest),
            }
        }
    }
    Err(StorageError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other("snapshot abandoned before it was finished"),
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
    use super::*;
    use zab_core::records::{op, Acl};
    use zab_core::txn::{CreateTxn, SetDataTxn, TxnHeader};

    fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
        Txn {
            header: TxnHeader {
                client_id: 7,
                cxid: 0,
                zxid: Zxid(zxid),
                time: 1000 + zxid,
                txn_type: t,
            },
            body,
            digest: None,
        }
    }

    /// A deterministic mix of creates (some ephemeral), sets and deletes.
    fn workload(tree: &DataTree, zxid: i64, seed: &mut u64) -> Txn {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = (*seed >> 33) % 40;
        let path = format!("/k{k}");
        let child = format!("/k{k}/c");
        match (*seed >> 20) % 4 {
            0 | 1 if tree.get(&path).is_none() => txn(
                zxid,
                op::CREATE,
                TxnBody::Create(CreateTxn {
                    path,
                    data: Bytes::from(format!("v{zxid}")),
                    acl: if k.is_multiple_of(3) {
                        Acl::read_unsafe()
                    } else {
                        Acl::open_unsafe()
                    },
                    ephemeral: k.is_multiple_of(5),
                    parent_cversion: tree.get("/").unwrap().persisted().cversion + 1,
                }),
            ),
            0 if tree.get(&child).is_none()
                && tree
                    .get(&path)
                    .is_some_and(|n| n.persisted().ephemeral_owner == 0) =>
            {
                txn(
                    zxid,
                    op::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: child,
                        data: Bytes::new(),
                        acl: Acl::open_unsafe(),
                        ephemeral: false,
                        parent_cversion: tree.get(&path).unwrap().persisted().cversion + 1,
                    }),
                )
            }
            2 if tree.get(&path).is_some() => txn(
                zxid,
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: path.clone(),
                    data: Bytes::from(format!("s{zxid}")),
                    version: tree.get(&path).unwrap().persisted().version + 1,
                }),
            ),
            _ if tree.get(&child).is_some() => {
                txn(zxid, op::DELETE, TxnBody::Delete { path: child })
            }
            _ if tree.get(&path).is_some() => txn(zxid, op::DELETE, TxnBody::Delete { path }),
            _ => txn(zxid, op::ERROR, TxnBody::Error { err: -101 }),
        }
    }

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
                    .get(p)
                    .unwrap_or_else(|| panic!("seed {seed0}: {p} missing"));
                assert_eq!(
                    (b.data(), b.persisted(), b.acl().id),
                    (n.data(), n.persisted(), n.acl().id),
                    "seed {seed0}: {p} differs"
                );
            }
            let full = |t: &DataTree| {
                let mut d = TreeDigest::new();
                for (p, n) in t.iter() {
                    d.add(p, n.data(), &n.persisted());
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
