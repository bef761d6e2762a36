//! The data tree: znodes with their data, ACLs and Stat, and the application
//! of committed transactions to it (ZooKeeper's `DataTree.processTxn`).
//!
//! The tree knows nothing of sessions' connections or watches: applying a
//! transaction returns the result the client sees and the watch triggers it
//! causes, and the caller delivers them. Applying is deterministic (times come
//! from the transaction header), so every replica and every replay of the log
//! reaches the same tree; applying a transaction that the tree already
//! reflects (a fuzzy snapshot's overlap with the log) is harmless.
//!
//! # Rooms
//! ```text
//! mod.rs      DataTree: its fields, new/empty, the public read API (get, iter,
//!             counts, digest, ephemeral/container/TTL sets), path helpers
//! node.rs     Node (48 bytes), Owner, EphemeralKind, the read-only NodeRef
//!             and Children
//! record.rs   Record: a node's name, data and cold Stat in one allocation
//! arena.rs    the arena's operations: lookup, place, insert, remove, link,
//!             track; each keeps index, digest, data size, sets in step
//! index.rs    ChildIndex: open addressing keyed by (parent, name), keyed hash,
//!             any number of slots
//! acl.rs      AclTable: interned, reference-counted ACL lists; AclRef
//! apply.rs    DataTree::apply, TxnResult, Trigger
//! deferred.rs the digests' hashing written down for another thread while a
//!             log is replayed (defer_digests, DigestWork, DigestSums)
//! quota.rs    zookeeper_limits / zookeeper_stats bookkeeping
//! load.rs     building from a snapshot: NodePreparer, load_prepared, with_capacity,
//!             FreshMemory
//! ```
//! Tests sit beside what they test; `model_test.rs` checks the whole tree
//! against a plain map, and `testutil.rs` holds the tests' transactions.
//! Other code reaches everything through this module's re-exports.
//!
//! # Storage
//! A million znodes with 100-byte values must fit in 200 bytes each (ZooKeeper
//! 3.8 needs about 430), so the tree does not keep a map from full paths to nodes:
//!
//! ```text
//! nodes    := Vec<Node>, indexed by NodeId (u32); freed slots are reused
//! Node     := rec: thin pointer to the record            ; one exact-size allocation
//!             acl: slot in the ACL table                ; shared, reference counted
//!             parent, first_child, next, prev: NodeId   ; children as a linked list
//!             child_count, cversion, pzxid              ; what a child's create moves
//!             owner: none | container | other           ; "other" owners in a side map
//!             data_null: bool                            ; null data (stored as empty)
//!                                                        ; 48 bytes in all
//! record   := name, data, and czxid mzxid ctime mtime version aversion as varints
//!             (about 18 bytes; `record.rs`)
//! index    := open-addressing table of NodeIds keyed by hash(parent id, name),
//!             1/8 larger than needed after a snapshot's load
//! ```
//!
//! With a 14-byte name and 100 bytes of data that is 48 bytes of `Node`, a
//! 144-byte malloc chunk for the 132-byte record and ~6.5 bytes of index.
//!
//! Only the last path component is stored; a path is resolved one component
//! at a time through the index, and a full path is rebuilt only when someone
//! iterates the tree. The index keeps one control byte (7 bits of the hash)
//! and one `u32` per slot, so a probe touches a node only when the tag
//! matches. The hash is a folded multiply with per-tree random keys, so
//! clients cannot choose names that collide. Children are listed in the order they
//! were created (ZooKeeper promises no order).
//!
//! The digests (ours, which our snapshots carry, and Apache's, which
//! transactions carry), the ephemeral, container and TTL sets and the data
//! size are kept up to date on every change, so none of them needs a walk of
//! the tree.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::apache_snapshot::apache_node_digest;
use zab_storage::TreeDigest;

mod acl;
mod apply;
mod arena;
mod deferred;
mod index;
mod load;
#[cfg(test)]
mod model_test;
mod node;
mod quota;
mod record;
#[cfg(test)]
mod testutil;

use acl::AclTable;
pub use acl::{detached_acl, AclEntry, AclRef};
pub use apply::{trigger_event_type, Trigger, TxnResult};
pub use arena::PathPrefetch;
use arena::Place;
use deferred::DigestChanges;
pub use deferred::{DigestSums, DigestWork};
use index::ChildIndex;
pub use load::{FreshMemory, LoadingNode, NodePreparer};
use node::{name_str, Node, NodeId, NIL, ROOT_ID};
pub use node::{Children, EphemeralKind, NodeRef, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};
pub use quota::QuotaFigures;

/// The znode tree.
pub struct DataTree {
    /// The arena; `ROOT_ID` is the root once the tree has one.
    nodes: Vec<Node>,
    /// Head of the list of free slots (linked through `Node::next`).
    free: NodeId,
    live: usize,
    index: ChildIndex,
    acls: AclTable,
    /// `ephemeralOwner` of the nodes whose `owner` is `Owner::Other`.
    owners: HashMap<NodeId, i64>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum of path and data lengths (mntr's `zk_approximate_data_size`).
    data_size: u64,
    last_processed_zxid: Zxid,
    extended_types: bool,
    digest: Digests,
    /// While loading a snapshot: the last parent path resolved and its node
    /// (consecutive entries mostly share a parent).
    last_parent: Option<(String, NodeId)>,
    /// While loading: the last ACL id resolved and its slot.
    last_acl: Option<(i64, u32)>,
    /// While loading a snapshot that carries Apache's digest of its nodes
    /// ([`DataTree::preset_apache_digest`]): the digest holds that sum
    /// already, so a node loaded does not add its own.
    apache_preset: bool,
    /// Paths with a quota: a `zookeeper_limits` node under `/zookeeper/quota`
    /// (ZooKeeper's `PathTrie`).
    quotas: BTreeSet<String>,
    /// Apache's digest log (`DataTree.digestLog`): (zxid, [`DataTree::apache_digest`])
    /// after every transaction whose zxid is a multiple of [`DIGEST_LOG_INTERVAL`],
    /// the newest [`DIGEST_LOG_LIMIT`]; the AdminServer's `hash` answers it.
    digest_log: VecDeque<(Zxid, u64)>,
}

impl fmt::Debug for DataTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTree")
            .field("nodes", &self.live)
            .field("acls", &self.acls.len())
            .field("last_processed_zxid", &self.last_processed_zxid)
            .field("digest", &self.digest)
            .finish()
    }
}

/// The version of Apache's digest (`DigestCalculator.DIGEST_VERSION`) that
/// [`DataTree::apache_digest`] computes; a `TxnDigest` of another version is
/// not compared.
pub const APACHE_DIGEST_VERSION: i32 = 2;

/// Apache's `DataTree.DIGEST_LOG_INTERVAL`: a transaction whose zxid is a
/// multiple of it has the tree's digest after it logged.
pub const DIGEST_LOG_INTERVAL: i64 = 128;

/// Apache's `DataTree.DIGEST_LOG_LIMIT`: how many digests the log keeps (the oldest go).
pub const DIGEST_LOG_LIMIT: usize = 1024;

/// The tree's two digests, moved together: ours (the one our snapshots carry,
/// `zab_storage::TreeDigest`) and Apache's (`zab_storage::apache_snapshot::
/// apache_node_digest` summed, as Apache's `NodeHashMapImpl` keeps it).
///
/// While a log is replayed the hashing may be deferred to another thread
/// (`deferred.rs`): `changes` then writes each change down instead.
#[derive(Debug)]
struct Digests {
    ours: TreeDigest,
    apache: u64,
    changes: DigestChanges,
}

impl Default for Digests {
    fn default() -> Self {
        Digests {
            ours: TreeDigest::default(),
            apache: 0,
            changes: DigestChanges::Now,
        }
    }
}

impl Digests {
    fn add(&mut self, path: &str, data: &[u8], stat: &StatPersisted) {
        if self.defer(true, path, data, stat) {
            return;
        }
        self.ours.add(path, data, stat);
        self.add_apache(path, data, stat);
    }

    fn remove(&mut self, path: &str, data: &[u8], stat: &StatPersisted) {
        if self.defer(false, path, data, stat) {
            return;
        }
        self.ours.remove(path, data, stat);
        self.apache = self
            .apache
            .wrapping_sub(apache_node_digest(path, data, stat));
    }

    /// Ours from a hash computed ahead (a snapshot's loader); Apache's is
    /// [`Digests::add_apache`]'s.
    fn add_hash(&mut self, node_hash: u64) {
        self.ours.add_hash(node_hash);
    }

    fn add_apache(&mut self, path: &str, data: &[u8], stat: &StatPersisted) {
        if self.defer_apache(path, data, stat) {
            return;
        }
        self.apache = self
            .apache
            .wrapping_add(apache_node_digest(path, data, stat));
    }
}

pub const ROOT: &str = "/";
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";

/// The parent of an absolute path ("/" for top-level nodes).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// [`parent_of`] and [`name_of`] with one search.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

/// The last component of an absolute path.
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new(extended_types: bool) -> DataTree {
        let mut t = DataTree::empty(extended_types);
        let open = Acl::open_unsafe();
        let read = Acl::read_unsafe();
        for (path, acl) in [
            (ROOT, &open),
            (PROC_ZOOKEEPER, &open),
            (QUOTA_ZOOKEEPER, &open),
            (CONFIG_ZOOKEEPER, &read),
        ] {
            let Ok(Place::New { parent, h }) = t.place(path) else {
                unreachable!("system nodes are new and their parents exist")
            };
            // ZooKeeper gives /zookeeper/config its read-only ACL with
            // setACL(.., version -1), which leaves aversion at -1.
            let stat = StatPersisted {
                aversion: if path == CONFIG_ZOOKEEPER { -1 } else { 0 },
                ..StatPersisted::default()
            };
            let slot = t.acls.acquire(acl);
            let hash = TreeDigest::node_hash(path, &[], &stat);
            t.insert_node(path, parent, h, Some(&[]), slot, &stat, hash);
        }
        t
    }

    /// A tree with no nodes at all, to be filled from a snapshot with
    /// [`DataTree::load_acl`] and [`DataTree::load_node`], then [`DataTree::finish_load`].
    pub fn empty(extended_types: bool) -> DataTree {
        DataTree {
            nodes: Vec::new(),
            free: NIL,
            live: 0,
            index: ChildIndex::new(),
            acls: AclTable::default(),
            owners: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            last_processed_zxid: Zxid::ZERO,
            extended_types,
            digest: Digests::default(),
            last_parent: None,
            last_acl: None,
            apache_preset: false,
            quotas: BTreeSet::new(),
            digest_log: VecDeque::new(),
        }
    }

    /// The digest of the whole tree, kept up to date on every change.
    pub fn digest(&self) -> u64 {
        assert!(!self.digest.deferred(), "the digests are deferred");
        self.digest.ours.value()
    }

    /// Apache ZooKeeper's digest of the whole tree (`DataTree.getTreeDigest`,
    /// version [`APACHE_DIGEST_VERSION`]), kept up to date on every change: what
    /// a transaction's `TxnDigest` is compared with.
    pub fn apache_digest(&self) -> u64 {
        assert!(!self.digest.deferred(), "the digests are deferred");
        self.digest.apache
    }

    /// Apache's digest log, oldest first (`DataTree.getDigestLog`): see
    /// [`DataTree::log_zxid_digest`].
    pub fn digest_log(&self) -> impl ExactSizeIterator<Item = (Zxid, u64)> + '_ {
        self.digest_log.iter().copied()
    }

    /// Apache's `logZxidDigest`, after each whole transaction (not a multi's
    /// parts): the digest after a zxid that is a multiple of
    /// [`DIGEST_LOG_INTERVAL`] (the whole 64-bit zxid, epoch included, as
    /// Apache tests it) joins the log, which keeps the newest [`DIGEST_LOG_LIMIT`].
    /// Apache logs whether or not digests are enabled (its digest stays 0 when
    /// they are not: the `hash` command says so).
    fn log_zxid_digest(&mut self, zxid: Zxid) {
        if zxid.0 % DIGEST_LOG_INTERVAL == 0 && !self.defer_log(zxid) {
            self.digest_log.push_back((zxid, self.apache_digest()));
            if self.digest_log.len() > DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
        }
    }

    /// Every interned ACL list (for snapshots).
    pub fn acl_entries(&self) -> impl Iterator<Item = &AclRef> {
        self.acls.entries()
    }

    pub fn extended_types(&self) -> bool {
        self.extended_types
    }

    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        self.lookup(path).map(|id| NodeRef { tree: self, id })
    }

    pub fn node_count(&self) -> usize {
        self.live
    }

    pub fn acl_count(&self) -> usize {
        self.acls.len()
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.last_processed_zxid
    }

    /// Total bytes of paths and data (mntr's `zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The ephemeral nodes of a session.
    pub fn ephemerals(&self, session_id: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session_id).into_iter().flatten()
    }

    pub fn ephemeral_sessions(&self) -> impl Iterator<Item = (&i64, &BTreeSet<String>)> {
        self.ephemerals.iter()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    pub fn ttls(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// Number of nodes below `path` (ZooKeeper's getAllChildrenNumber).
    pub fn all_children_number(&self, path: &str) -> i32 {
        if path == ROOT {
            return self.live as i32 - 1;
        }
        let Some(id) = self.lookup(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let mut c = self.nodes[id as usize].first_child;
            while c != NIL {
                count += 1;
                stack.push(c);
                c = self.nodes[c as usize].next;
            }
        }
        count
    }

    /// Every node with its path, parents before their children.
    pub fn iter(&self) -> impl Iterator<Item = (String, NodeRef<'_>)> {
        let mut stack: Vec<(NodeId, String)> = Vec::new();
        if !self.nodes.is_empty() {
            stack.push((ROOT_ID, ROOT.to_owned()));
        }
        std::iter::from_fn(move || {
            let (id, path) = stack.pop()?;
            let mut c = self.nodes[id as usize].first_child;
            while c != NIL {
                stack.push((c, child_path(&path, self.nodes[c as usize].name())));
                c = self.nodes[c as usize].next;
            }
            Some((path, NodeRef { tree: self, id }))
        })
    }
}

/// `parent`'s path joined with a child's name.
fn child_path(parent: &str, name: &[u8]) -> String {
    let name = name_str(name);
    let mut p = String::with_capacity(parent.len() + 1 + name.len());
    if parent != ROOT {
        p.push_str(parent);
    }
    p.push('/');
    p.push_str(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::testutil::{create, txn};
    use zab_core::proto::op;

    /// A replay's prefetch stages are hints only: taken before the tree
    /// changes under them (the node deleted, its slot reused, the index
    /// grown), for paths with no node or no parent, they read nothing
    /// wrong and change nothing.
    #[test]
    fn replay_prefetch_hints_survive_changes_between_their_stages() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let mut zxid = 1;
        let mut apply = |t: &mut DataTree, body| {
            zxid += 1;
            assert_eq!(t.apply(&txn(zxid, op::CREATE, body), &mut tr).err, 0);
        };
        apply(&mut t, create("/a", -1, false));
        apply(&mut t, create("/a/b", -1, false));
        let paths = ["/a/b", "/a/c", "/x/y", "/", "/a", "a/b"];
        let mut hints: Vec<_> = paths.iter().map(|p| t.prefetch_path(p)).collect();
        let del = zab_core::txn::TxnBody::Delete {
            path: "/a/b".into(),
        };
        assert_eq!(t.apply(&txn(10, op::DELETE, del), &mut Vec::new()).err, 0);
        for h in &mut hints {
            t.prefetch_node(h);
        }
        for i in 0..100 {
            apply(&mut t, create(&format!("/a/n{i}"), -1, false));
        }
        for h in &hints {
            t.prefetch_record(h);
        }
        let before = (t.node_count(), t.digest());
        let fresh: Vec<_> = paths.iter().map(|p| t.prefetch_path(p)).collect();
        for mut h in fresh {
            t.prefetch_node(&mut h);
            t.prefetch_record(&h);
        }
        assert_eq!((t.node_count(), t.digest()), before);
        assert!(t.get("/a/b").is_none());
        assert!(t.get("/a/n99").is_some());
    }

    /// getChildren's encoding straight from the tree lists what `children`
    /// does, after a delete in the middle of the list too.
    #[test]
    fn write_children_encodes_the_child_list() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let names = ["a", "bb", "ccc", "d-é", "e"];
        for (z, name) in names.iter().enumerate() {
            let path = format!("/{name}");
            let rc = t.apply(
                &txn(z as i64 + 2, op::CREATE, create(&path, -1, false)),
                &mut tr,
            );
            assert_eq!(rc.err, 0);
        }
        let del = zab_core::txn::TxnBody::Delete {
            path: "/ccc".into(),
        };
        assert_eq!(t.apply(&txn(9, op::DELETE, del), &mut tr).err, 0);
        let root = t.get("/").unwrap();
        let mut out = Vec::new();
        let len = root.write_children(&mut out);
        let mut want = Vec::new();
        let listed: Vec<&str> = root.children().collect();
        zab_core::jute::write_string_vec(&mut want, &listed);
        assert_eq!(out, want);
        assert_eq!(len, listed.iter().map(|n| n.len()).sum::<usize>());
        assert_eq!(listed.len(), 5);
    }

    #[test]
    fn system_nodes_exist_with_zero_stats() {
        let t = DataTree::new(false);
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert!(t.get(p).is_some(), "{p}");
        }
        assert_eq!(t.get("/").unwrap().stat().num_children, 1);
        // As Apache ZooKeeper's: no create counted yet, one child.
        assert_eq!(t.get("/").unwrap().stat().cversion, -1);
        assert_eq!(t.get("/zookeeper").unwrap().stat().cversion, -2);
        assert_eq!(t.get("/zookeeper/config").unwrap().stat().aversion, -1);
        assert_eq!(t.all_children_number("/"), 3);
    }

    /// Apache's `logZxidDigest`: the digest after every zxid that is a multiple
    /// of 128 (epoch bits included), the newest 1024 kept.
    #[test]
    fn digest_log_keeps_every_128th_zxid_newest_1024() {
        let mut t = DataTree::new(false);
        let mut expected = Vec::new();
        // An epoch's first zxid is not a multiple; its counter's 128th is.
        let epoch = 3i64 << 32;
        for zxid in (1..=300).chain(epoch + 1..=epoch + 130) {
            let rc = t.apply(
                &txn(zxid, op::CREATE, create(&format!("/n{zxid}"), -1, false)),
                &mut Vec::new(),
            );
            assert_eq!(rc.err, 0);
            if zxid % 128 == 0 {
                expected.push((Zxid(zxid), t.apache_digest()));
            }
        }
        assert_eq!(t.digest_log().collect::<Vec<_>>(), expected);
        assert_eq!(
            expected.iter().map(|e| e.0 .0).collect::<Vec<_>>(),
            [128, 256, epoch + 128]
        );
        // A failed transaction is logged too: Apache logs every zxid it processes.
        let z = epoch + 256;
        assert_ne!(
            t.apply(
                &txn(
                    z,
                    op::DELETE,
                    zab_core::txn::TxnBody::Delete {
                        path: "/none".into()
                    }
                ),
                &mut Vec::new()
            )
            .err,
            0
        );
        assert_eq!(t.digest_log().last(), Some((Zxid(z), t.apache_digest())));

        // Past the limit the oldest go.
        for i in 0..DIGEST_LOG_LIMIT as i64 + 5 {
            let z = epoch + 512 + i * DIGEST_LOG_INTERVAL;
            let set = zab_core::txn::TxnBody::SetData(zab_core::txn::SetDataTxn {
                path: "/n1".into(),
                data: None,
                version: i as i32 + 1,
            });
            assert_eq!(t.apply(&txn(z, op::SET_DATA, set), &mut Vec::new()).err, 0);
        }
        let log: Vec<_> = t.digest_log().collect();
        assert_eq!(log.len(), DIGEST_LOG_LIMIT);
        assert_eq!(log[0].0, Zxid(epoch + 512 + 5 * DIGEST_LOG_INTERVAL));
        assert_eq!(
            log[DIGEST_LOG_LIMIT - 1],
            (
                Zxid(epoch + 512 + (DIGEST_LOG_LIMIT as i64 + 4) * DIGEST_LOG_INTERVAL),
                t.apache_digest()
            )
        );
    }
}
