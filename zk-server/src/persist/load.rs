//! Loading one snapshot file into a fresh tree, on two threads.
//!
//! ```text
//! parser thread:  mapped file -> entries -> digest hash per node -> prepared
//!                 node (path split, name hashed, name+data allocated) -> crc
//! builder thread: batches of prepared entries -> sessions, ACLs, nodes into
//!                 the tree (index and links), prefetching a few entries ahead
//! ```
//!
//! The threads meet in bounded batches of entries that borrow the map.
//! Whatever fails, the tree is dropped. The file format and its checks are
//! `zab-storage`'s; building the tree is `tree/load.rs`'s; choosing which
//! snapshot to load is `recover.rs`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use zab_core::records::Acl;
use zab_core::Zxid;
use zab_storage::{SnapEntry, SnapshotReader, StorageError};

use super::PersistError;
use crate::config::Config;
use crate::tree::{DataTree, LoadingNode};

/// A snapshot loaded into a tree.
pub struct LoadedSnapshot {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    pub zxid: Zxid,
    pub file: PathBuf,
}

/// Load one snapshot file into a fresh tree: crc, entries, digest, and the
/// tree's own checks (every node's parent and ACL present).
///
/// Two threads: one parses the mapped file, hashes each node (the digest
/// check) and then checks the crc, the other builds the tree; they meet in
/// batches of entries that borrow the map. Whatever fails, the tree is
/// dropped.
pub fn load_snapshot(cfg: &Config, file: &Path) -> Result<LoadedSnapshot, PersistError> {
    // The crc is checked on the parser thread once it has parsed everything
    // (it is idle then, waiting for the builder); until it passes, the tree
    // is only a candidate.
    let r = SnapshotReader::open_unverified(file)?;
    let zxid = r.zxid();
    if Some(zxid) != zab_storage::snapshot::zxid_of_name(file) {
        return Err(PersistError::BadSnapshot {
            file: file.to_owned(),
            why: format!("its header says zxid {zxid}, its name does not"),
        });
    }
    // The trailer's count passed the crc; still, never reserve more than the
    // file could hold (a node entry takes at least 78 bytes).
    let nodes = (r.summary().nodes as usize).min(r.len() as usize / 78);
    let mut tree = DataTree::with_capacity(cfg.extended_types_enabled, nodes);
    let mut sessions = HashMap::new();
    let bad = |why: String| PersistError::BadSnapshot {
        file: file.to_owned(),
        why,
    };
    const BATCH: usize = 2048;
    // The parser thread also prepares each node for the tree (its
    // allocation, its path split and hashed), which leaves the builder the
    // index and the links.
    enum Prepared<'a> {
        Session { session_id: i64, timeout_ms: i32 },
        Acl { acl_ref: i64, acls: Vec<Acl> },
        Node(LoadingNode<'a>),
    }
    let preparer = tree.node_preparer();
    std::thread::scope(|scope| -> Result<(), PersistError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Prepared<'_>>>(16);
        let parser = std::thread::Builder::new()
            .name("snapshot-parse".into())
            .spawn_scoped(scope, || -> Result<(), StorageError> {
                let tx = tx;
                let mut batch = Vec::with_capacity(BATCH);
                let mut prev_parent: Option<&str> = None;
                for item in r.entries() {
                    // A file that fails its crc is reported as that, rather
                    // than as whatever its damage looks like.
                    let (entry, hash) = item.or_else(|e| r.verify_crc().and(Err(e)))?;
                    batch.push(match entry {
                        SnapEntry::Session {
                            session_id,
                            timeout_ms,
                        } => Prepared::Session {
                            session_id,
                            timeout_ms,
                        },
                        SnapEntry::Acl { acl_ref, acls } => Prepared::Acl { acl_ref, acls },
                        SnapEntry::Node {
                            path,
                            data,
                            acl_ref,
                            stat,
                        } => {
                            let n = preparer.prepare(path, data, acl_ref, stat, hash, prev_parent);
                            prev_parent = Some(n.parent());
                            Prepared::Node(n)
                        }
                    });
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() {
                            // The builder gave up; its error may be the crc's doing.
                            return r.verify_crc();
                        }
                    }
                }
                let _ = tx.send(batch);
                drop(tx);
                r.verify_crc()
            })
            .expect("spawn snapshot parser");
        let built = (|| {
            // How many entries ahead the builder announces a node to the
            // tree, so that its index slot is in the cache when it comes
            // (see `DataTree::prefetch_loading`).
            const AHEAD: usize = 12;
            for batch in rx {
                let mut batch = std::collections::VecDeque::from(batch);
                for e in batch.iter().take(AHEAD) {
                    if let Prepared::Node(n) = e {
                        tree.prefetch_loading(n);
                    }
                }
                while let Some(e) = batch.pop_front() {
                    if let Some(Prepared::Node(n)) = batch.get(AHEAD - 1) {
                        tree.prefetch_loading(n);
                    }
                    match e {
                        Prepared::Session {
                            session_id,
                            timeout_ms,
                        } => {
                            sessions.insert(session_id, timeout_ms);
                        }
                        Prepared::Acl { acl_ref, acls } => tree.load_acl(acl_ref, acls),
                        Prepared::Node(n) => tree.load_prepared(n).map_err(bad)?,
                    }
                }
            }
            Ok(())
        })();
        // The parser's error (crc, digest, a malformed entry) explains a
        // builder's error too, so it comes first.
        parser.join().expect("snapshot parser panicked")?;
        built
    })?;
    tree.finish_load(zxid).map_err(bad)?;
    Ok(LoadedSnapshot {
        tree,
        sessions,
        zxid,
        file: file.to_owned(),
    })
}
