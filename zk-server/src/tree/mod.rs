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
//! # Storage
//! A million znodes must fit in well under 250 bytes each (ZooKeeper 3.8 needs
//! about 430), so the tree does not keep a map from full paths to nodes:
//!
//! ```text
//! nodes    := Vec<Node>, indexed by NodeId (u32); freed slots are reused
//! Node     := bytes: varint(name length) name data      ; one allocation
//!             acl: slot in the ACL table                ; shared, reference counted
//!             parent, first_child, next, prev: NodeId   ; children as a linked list
//!             child_count, Stat without ephemeralOwner  ; packed, 96 bytes in all
//!             owner: none | container | other           ; "other" owners in a side map
//!             data_null: bool                            ; null data (stored as empty)
//! index    := open-addressing table of NodeIds keyed by hash(parent id, name)
//! ```
//!
//! Only the last path component is stored; a path is resolved one component
//! at a time through the index, and a full path is rebuilt only when someone
//! iterates the tree. The index keeps one control byte (7 bits of the hash)
//! and one `u32` per slot, so a probe touches a node only when the tag
//! matches. The hash is a folded multiply with per-tree random keys, so
//! clients cannot choose names that collide. Children are listed in the order they
//! were created (ZooKeeper promises no order).
//!
//! The digest, the ephemeral, container and TTL sets and the data size are
//! kept up to date on every change, so none of them needs a walk of the tree.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::TreeDigest;

mod acl;
mod apply;
mod arena;
mod index;
mod load;
mod node;
mod quota;
#[cfg(test)]
mod testutil;

use acl::AclTable;
pub use acl::{detached_acl, AclEntry, AclRef};
pub use apply::{trigger_event_type, Trigger, TxnResult};
use arena::Place;
use index::ChildIndex;
pub use load::{LoadingNode, NodePreparer};
use node::{name_str, Node, NodeId, NIL, ROOT_ID};
pub use node::{Children, EphemeralKind, NodeRef, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};

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
    digest: TreeDigest,
    /// While loading a snapshot: the last parent path resolved and its node
    /// (consecutive entries mostly share a parent).
    last_parent: Option<(String, NodeId)>,
    /// While loading: the last ACL id resolved and its slot.
    last_acl: Option<(i64, u32)>,
    /// Paths with a quota: a `zookeeper_limits` node under `/zookeeper/quota`
    /// (ZooKeeper's `PathTrie`).
    quotas: BTreeSet<String>,
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
            digest: TreeDigest::new(),
            last_parent: None,
            last_acl: None,
            quotas: BTreeSet::new(),
        }
    }

    /// The digest of the whole tree, kept up to date on every change.
    pub fn digest(&self) -> u64 {
        self.digest.value()
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
    use super::testutil::txn;
    use super::*;
    use bytes::Bytes;
    use zab_core::records::ErrorCode;
    use zab_core::txn::{CreateTxn, SetDataTxn, TxnBody};

    use super::apply::new_stat;
    use crate::proto::op;

    /// The tree as a plain map from paths, with ZooKeeper's rules spelled out
    /// one by one: the reference the compact tree is checked against.
    /// Data (`None`: null), Stat, ACL.
    type ModelNode = (Option<Vec<u8>>, StatPersisted, Vec<Acl>);

    #[derive(Default)]
    struct Model {
        nodes: std::collections::BTreeMap<String, ModelNode>,
    }

    impl Model {
        fn of(t: &DataTree) -> Model {
            let mut m = Model::default();
            for (p, n) in t.iter() {
                m.nodes.insert(
                    p,
                    (
                        n.data_opt().map(<[u8]>::to_vec),
                        n.persisted(),
                        n.acl().acl.clone(),
                    ),
                );
            }
            m
        }

        fn children(&self, path: &str) -> BTreeSet<String> {
            self.nodes
                .keys()
                .filter(|k| k.as_str() != ROOT && parent_of(k) == path)
                .map(|k| name_of(k).to_owned())
                .collect()
        }

        fn create(
            &mut self,
            path: &str,
            data: Option<&[u8]>,
            owner: i64,
            cv: i32,
            zxid: i64,
        ) -> i32 {
            if path == ROOT {
                return ErrorCode::NodeExists.code();
            }
            let parent = parent_of(path).to_owned();
            if !self.nodes.contains_key(&parent) {
                return ErrorCode::NoNode.code();
            }
            if self.nodes.contains_key(path) {
                let p = self.nodes.get_mut(&parent).unwrap();
                if cv > p.1.cversion {
                    p.1.cversion = cv;
                    p.1.pzxid = zxid;
                }
                return ErrorCode::NodeExists.code();
            }
            let p = self.nodes.get_mut(&parent).unwrap();
            let c = if cv == -1 { p.1.cversion + 1 } else { cv };
            if c > p.1.cversion {
                p.1.cversion = c;
                p.1.pzxid = zxid;
            }
            let stat = new_stat(zxid, 1000 + zxid, owner);
            self.nodes.insert(
                path.to_owned(),
                (data.map(<[u8]>::to_vec), stat, Acl::open_unsafe()),
            );
            0
        }

        fn delete(&mut self, path: &str, zxid: i64) -> i32 {
            let Some(p) = self.nodes.get_mut(parent_of(path)) else {
                return ErrorCode::NoNode.code();
            };
            if zxid > p.1.pzxid {
                p.1.pzxid = zxid;
            }
            if path == ROOT || !self.nodes.contains_key(path) {
                return ErrorCode::NoNode.code();
            }
            let below = format!("{path}/");
            self.nodes
                .retain(|k, _| k.as_str() != path && !k.starts_with(&below));
            0
        }
    }

    fn check_same(t: &DataTree, m: &Model, step: usize) {
        assert_eq!(t.node_count(), m.nodes.len(), "step {step}");
        let mut digest = TreeDigest::new();
        let mut size = 0u64;
        let mut acls = std::collections::HashSet::new();
        for (p, (data, stat, acl)) in &m.nodes {
            let n = t
                .get(p)
                .unwrap_or_else(|| panic!("step {step}: {p} missing"));
            assert_eq!(n.data_opt(), data.as_deref(), "step {step}: {p}");
            let data = data.as_deref().unwrap_or_default();
            assert_eq!(n.data(), data, "step {step}: {p}");
            assert_eq!(
                n.stat().data_length as usize,
                data.len(),
                "step {step}: {p}"
            );
            assert_eq!(n.persisted(), *stat, "step {step}: {p}");
            assert_eq!(&n.acl().acl, acl, "step {step}: {p}");
            let kids: BTreeSet<String> = n.children().map(str::to_owned).collect();
            assert_eq!(kids, m.children(p), "step {step}: children of {p}");
            assert_eq!(n.child_count(), kids.len(), "step {step}: {p}");
            assert_eq!(n.stat().num_children as usize, kids.len());
            let below = m
                .nodes
                .keys()
                .filter(|k| *k != p && (p == ROOT || k.starts_with(&format!("{p}/"))))
                .count();
            assert_eq!(t.all_children_number(p) as usize, below, "step {step}: {p}");
            digest.add(p, data, stat);
            size += (p.len() + data.len()) as u64;
            acls.insert(acl.clone());
        }
        let listed: BTreeSet<String> = t.iter().map(|(p, _)| p).collect();
        assert_eq!(listed.len(), m.nodes.len(), "step {step}: iter");
        assert_eq!(t.digest(), digest.value(), "step {step}: digest");
        assert_eq!(t.approximate_data_size(), size, "step {step}: data size");
        // Lists no node uses any more are gone.
        let interned: std::collections::HashSet<Vec<Acl>> =
            t.acl_entries().map(|a| a.acl.clone()).collect();
        assert_eq!(interned, acls, "step {step}: ACL table");
        let mut eph: BTreeSet<(i64, String)> = BTreeSet::new();
        for (s, paths) in t.ephemeral_sessions() {
            eph.extend(paths.iter().map(|p| (*s, p.clone())));
        }
        let want: BTreeSet<(i64, String)> = m
            .nodes
            .iter()
            .filter(|(_, v)| {
                EphemeralKind::of(v.1.ephemeral_owner, true) == EphemeralKind::Ephemeral
            })
            .map(|(p, v)| (v.1.ephemeral_owner, p.clone()))
            .collect();
        assert_eq!(eph, want, "step {step}: ephemerals");
        let containers: BTreeSet<&String> = t.containers().collect();
        let want: BTreeSet<&String> = m
            .nodes
            .iter()
            .filter(|(_, v)| v.1.ephemeral_owner == CONTAINER_EPHEMERAL_OWNER)
            .map(|(p, _)| p)
            .collect();
        assert_eq!(containers, want, "step {step}: containers");
    }

    /// Random creates, deletes (also of non-empty nodes, as a replay over a
    /// fuzzy snapshot may do), sets (some with null or empty data), ACL
    /// changes and session closes on a
    /// small name space, so that slots and index entries are reused many
    /// times; after every step the tree matches the model.
    #[test]
    fn compact_tree_matches_a_plain_map_model() {
        for seed0 in 1..=6u64 {
            let mut seed = seed0;
            let mut rnd = |n: u64| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n
            };
            let mut t = DataTree::new(true);
            let mut m = Model::of(&t);
            let mut tr = Vec::new();
            for step in 0..1200usize {
                let zxid = step as i64 + 2;
                let depth = 1 + rnd(3);
                let path: String = (0..depth)
                    .map(|_| format!("/{}", (b'a' + rnd(4) as u8) as char))
                    .collect();
                let (body, t_type, want) = match rnd(10) {
                    0..=4 => {
                        let (owner, ty) = match rnd(6) {
                            0 => (CONTAINER_EPHEMERAL_OWNER, op::CREATE_CONTAINER),
                            1 => (EphemeralKind::ttl_owner(5000), op::CREATE_TTL),
                            2 => (5, op::CREATE),
                            _ => (0, op::CREATE),
                        };
                        let cv = if rnd(8) == 0 { rnd(5) as i32 } else { -1 };
                        let data = match rnd(6) {
                            0 => None,
                            1 => Some(Bytes::new()),
                            _ => Some(Bytes::from(format!("d{zxid}"))),
                        };
                        let want = m.create(&path, data.as_deref(), owner, cv, zxid);
                        let acl = Acl::open_unsafe();
                        let body = match ty {
                            op::CREATE_CONTAINER => {
                                TxnBody::CreateContainer(zab_core::txn::CreateContainerTxn {
                                    path: path.clone(),
                                    data,
                                    acl,
                                    parent_cversion: cv,
                                })
                            }
                            op::CREATE_TTL => TxnBody::CreateTtl(zab_core::txn::CreateTtlTxn {
                                path: path.clone(),
                                data,
                                acl,
                                parent_cversion: cv,
                                ttl: 5000,
                            }),
                            _ => TxnBody::Create(CreateTxn {
                                path: path.clone(),
                                data,
                                acl,
                                ephemeral: owner == 5,
                                parent_cversion: cv,
                            }),
                        };
                        (body, ty, want)
                    }
                    5..=6 => {
                        let want = m.delete(&path, zxid);
                        (TxnBody::Delete { path: path.clone() }, op::DELETE, want)
                    }
                    7 => {
                        let data = match rnd(4) {
                            0 => None,
                            1 => Some(Bytes::new()),
                            _ => Some(Bytes::from(format!("s{zxid}"))),
                        };
                        let want = match m.nodes.get_mut(&path) {
                            Some(n) => {
                                n.0 = data.as_deref().map(<[u8]>::to_vec);
                                (n.1.mtime, n.1.mzxid, n.1.version) = (1000 + zxid, zxid, 7);
                                0
                            }
                            None => ErrorCode::NoNode.code(),
                        };
                        let body = TxnBody::SetData(SetDataTxn {
                            path: path.clone(),
                            data,
                            version: 7,
                        });
                        (body, op::SET_DATA, want)
                    }
                    8 => {
                        let acl = if rnd(2) == 0 {
                            Acl::read_unsafe()
                        } else {
                            Acl::open_unsafe()
                        };
                        let want = match m.nodes.get_mut(&path) {
                            Some(n) => {
                                n.2 = acl.clone();
                                n.1.aversion = 3;
                                0
                            }
                            None => ErrorCode::NoNode.code(),
                        };
                        let body = TxnBody::SetAcl(zab_core::txn::SetAclTxn {
                            path: path.clone(),
                            acl,
                            version: 3,
                        });
                        (body, op::SET_ACL, want)
                    }
                    _ => {
                        let doomed: Vec<String> = m
                            .nodes
                            .iter()
                            .filter(|(_, v)| v.1.ephemeral_owner == 5)
                            .map(|(p, _)| p.clone())
                            .collect();
                        for p in &doomed {
                            m.delete(p, zxid);
                        }
                        let body = TxnBody::CloseSession {
                            paths_to_delete: vec![],
                        };
                        (body, op::CLOSE_SESSION, 0)
                    }
                };
                let rc = t.apply(&txn(zxid, t_type, body), &mut tr);
                tr.clear();
                assert_eq!(rc.err, want, "seed {seed0} step {step}: {path}");
                check_same(&t, &m, step);
            }
        }
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
}
