//! The data tree: znodes with their data, ACLs and Stat, and the application
//! of committed transactions to it (ZooKeeper's `DataTree.processTxn`).
//!
//! The tree knows nothing of sessions' connections or watches: applying a
//! transaction returns the result the client sees and the watch triggers it
//! causes, and the caller delivers them. Applying is deterministic (times come
//! from the transaction header), so every replica and every replay of the log
//! reaches the same tree; applying a transaction that the tree already
//! reflects (a fuzzy snapshot's overlap with the log) is harmless.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use zab_core::records::{Acl, ErrorCode, Stat, StatPersisted};
use zab_core::txn::{Txn, TxnBody};
use zab_core::Zxid;
use zab_storage::TreeDigest;

use crate::proto::{event_type, op};

/// `ephemeralOwner` of container nodes.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// High byte of `ephemeralOwner` marking a TTL node (the low 56 bits are the TTL).
const TTL_MASK: i64 = 0xff << 56;
/// The largest TTL ZooKeeper accepts.
pub const MAX_TTL: i64 = 0x00ff_ffff_ffff_ffff;

/// What kind of node an `ephemeralOwner` denotes (ZooKeeper's `EphemeralType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EphemeralKind {
    Persistent,
    Ephemeral,
    Container,
    Ttl(i64),
}

impl EphemeralKind {
    pub fn of(owner: i64, extended_types: bool) -> EphemeralKind {
        if owner == 0 {
            EphemeralKind::Persistent
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralKind::Container
        } else if extended_types && (owner & TTL_MASK) == TTL_MASK {
            EphemeralKind::Ttl(owner & MAX_TTL)
        } else {
            EphemeralKind::Ephemeral
        }
    }

    pub fn ttl_owner(ttl: i64) -> i64 {
        TTL_MASK | (ttl & MAX_TTL)
    }
}

/// One znode (the tree's storage; read it through [`NodeRef`]).
#[derive(Clone, Debug)]
pub struct Node {
    data: Bytes,
    acl: AclRef,
    stat: StatPersisted,
    children: HashSet<Box<str>>,
}

/// A read-only view of one znode.
#[derive(Clone, Copy, Debug)]
pub struct NodeRef<'a>(&'a Node);

impl<'a> NodeRef<'a> {
    pub fn data(&self) -> &'a [u8] {
        &self.0.data
    }

    pub fn acl(&self) -> &'a AclRef {
        &self.0.acl
    }

    /// The Stat as snapshots keep it.
    pub fn persisted(&self) -> StatPersisted {
        self.0.stat
    }

    /// The Stat a client sees.
    pub fn stat(&self) -> Stat {
        self.0.stat()
    }

    pub fn child_count(&self) -> usize {
        self.0.children.len()
    }

    /// Child names, in no particular order (as ZooKeeper's).
    pub fn children(&self) -> impl Iterator<Item = &'a str> {
        self.0.children.iter().map(|c| &**c)
    }
}

impl Node {
    pub(crate) fn new(data: Bytes, acl: AclRef, stat: StatPersisted) -> Node {
        Node {
            data,
            acl,
            stat,
            children: HashSet::new(),
        }
    }

    /// The Stat a client sees.
    pub fn stat(&self) -> Stat {
        let s = &self.stat;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: self.data.len() as i32,
            num_children: self.children.len() as i32,
            pzxid: s.pzxid,
        }
    }
}

/// A change that fires watches, with the ACLs that decide who may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `path` was created under `parent`.
    Created {
        path: String,
        acl: AclRef,
        parent: String,
        parent_acl: AclRef,
    },
    /// `path` was deleted from `parent`.
    Deleted {
        path: String,
        acl: AclRef,
        parent: String,
        parent_acl: AclRef,
    },
    /// `path`'s data changed.
    DataChanged { path: String, acl: AclRef },
}

/// The outcome of applying one transaction (ZooKeeper's `ProcessTxnResult`).
#[derive(Clone, Debug, Default)]
pub struct TxnResult {
    pub txn_type: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<TxnResult>,
}

/// An interned ACL list with the id snapshots refer to it by.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    pub id: i64,
    pub acl: Vec<Acl>,
}

impl std::ops::Deref for AclEntry {
    type Target = Vec<Acl>;
    fn deref(&self) -> &Vec<Acl> {
        &self.acl
    }
}

/// A shared ACL list.
pub type AclRef = Arc<AclEntry>;

/// An ACL list that is not (yet) in the tree's table.
pub fn detached_acl(acl: Vec<Acl>) -> AclRef {
    Arc::new(AclEntry { id: -1, acl })
}

/// Deduplicates ACL lists so that a million nodes share a handful of them
/// (ZooKeeper's `ReferenceCountedACLCache`).
#[derive(Default, Debug)]
struct AclCache {
    by_value: HashMap<Vec<Acl>, AclRef>,
    next_id: i64,
}

impl AclCache {
    fn intern(&mut self, acl: &[Acl]) -> AclRef {
        if let Some(a) = self.by_value.get(acl) {
            return a.clone();
        }
        self.next_id += 1;
        let a = Arc::new(AclEntry {
            id: self.next_id,
            acl: acl.to_vec(),
        });
        self.by_value.insert(acl.to_vec(), a.clone());
        a
    }

    /// Add a list with a known id (loading a snapshot).
    fn insert(&mut self, id: i64, acl: Vec<Acl>) -> AclRef {
        self.next_id = self.next_id.max(id);
        let a = Arc::new(AclEntry {
            id,
            acl: acl.clone(),
        });
        self.by_value.insert(acl, a.clone());
        a
    }

    /// Drop lists no node uses any more.
    fn release(&mut self, acl: AclRef) {
        // One reference held by the cache, one by `acl`.
        if Arc::strong_count(&acl) == 2 {
            self.by_value.remove(acl.acl.as_slice());
        }
    }

    fn len(&self) -> usize {
        self.by_value.len()
    }

    fn entries(&self) -> impl Iterator<Item = &AclRef> {
        self.by_value.values()
    }
}

/// The znode tree.
#[derive(Debug)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    last_processed_zxid: Zxid,
    extended_types: bool,
    digest: TreeDigest,
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

/// The last component of an absolute path.
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

fn new_stat(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner,
        pzxid: zxid,
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new(extended_types: bool) -> DataTree {
        let mut t = DataTree {
            nodes: HashMap::new(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            last_processed_zxid: Zxid::ZERO,
            extended_types,
            digest: TreeDigest::new(),
        };
        let open = t.acls.intern(&Acl::open_unsafe());
        let read = t.acls.intern(&Acl::read_unsafe());
        let empty = StatPersisted::default();
        t.nodes
            .insert(ROOT.into(), Node::new(Bytes::new(), open.clone(), empty));
        for (path, acl) in [
            (PROC_ZOOKEEPER, open.clone()),
            (QUOTA_ZOOKEEPER, open),
            (CONFIG_ZOOKEEPER, read),
        ] {
            t.nodes
                .insert(path.into(), Node::new(Bytes::new(), acl, empty));
            let parent = parent_of(path).to_owned();
            t.nodes
                .get_mut(&parent)
                .expect("system parents exist")
                .children
                .insert(name_of(path).into());
        }
        for (p, n) in &t.nodes {
            t.digest.add(p, &n.data, &n.stat);
        }
        t
    }

    /// A tree with no nodes at all, to be filled from a snapshot with
    /// [`DataTree::load_acl`] and [`DataTree::load_node`], then [`DataTree::finish_load`].
    pub fn empty(extended_types: bool) -> DataTree {
        DataTree {
            nodes: HashMap::new(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            last_processed_zxid: Zxid::ZERO,
            extended_types,
            digest: TreeDigest::new(),
        }
    }

    pub fn load_acl(&mut self, id: i64, acl: Vec<Acl>) {
        self.acls.insert(id, acl);
    }

    /// Add a node read from a snapshot. Its ACL id must have been loaded.
    pub fn load_node(
        &mut self,
        path: &str,
        data: &[u8],
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), String> {
        let acl = self
            .acls
            .entries()
            .find(|a| a.id == acl_id)
            .cloned()
            .ok_or_else(|| format!("node {path} refers to unknown ACL {acl_id}"))?;
        self.digest.add(path, data, &stat);
        if let Some(old) = self.nodes.insert(
            path.to_owned(),
            Node::new(Bytes::copy_from_slice(data), acl, stat),
        ) {
            self.digest.remove(path, &old.data, &old.stat);
        }
        Ok(())
    }

    /// Link children to parents and rebuild the ephemeral, container and TTL
    /// sets once every node of a snapshot is loaded.
    pub fn finish_load(&mut self, zxid: Zxid) -> Result<(), String> {
        let paths: Vec<String> = self.nodes.keys().cloned().collect();
        for p in &paths {
            if p == ROOT {
                continue;
            }
            let parent = parent_of(p);
            let Some(pn) = self.nodes.get_mut(parent) else {
                return Err(format!("node {p} has no parent {parent}"));
            };
            pn.children.insert(name_of(p).into());
        }
        for p in paths {
            let owner = self.nodes[&p].stat.ephemeral_owner;
            match EphemeralKind::of(owner, self.extended_types) {
                EphemeralKind::Container => {
                    self.containers.insert(p);
                }
                EphemeralKind::Ttl(_) => {
                    self.ttls.insert(p);
                }
                EphemeralKind::Ephemeral => {
                    self.ephemerals.entry(owner).or_default().insert(p);
                }
                EphemeralKind::Persistent => {}
            }
        }
        if !self.nodes.contains_key(ROOT) {
            return Err("snapshot has no root node".into());
        }
        self.last_processed_zxid = zxid;
        Ok(())
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
        self.nodes.get(path).map(NodeRef)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn acl_count(&self) -> usize {
        self.acls.len()
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.last_processed_zxid
    }

    /// Total bytes of paths and data (mntr's `zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.nodes
            .iter()
            .map(|(p, n)| (p.len() + n.data.len()) as u64)
            .sum()
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
            return self.nodes.len() as i32 - 1;
        }
        let prefix = format!("{path}/");
        self.nodes.keys().filter(|k| k.starts_with(&prefix)).count() as i32
    }

    /// Every node with its path, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, NodeRef<'_>)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), NodeRef(n)))
    }

    /// Apply a committed transaction. Returns the result and the watch triggers.
    pub fn apply(&mut self, txn: &Txn, triggers: &mut Vec<Trigger>) -> TxnResult {
        let h = &txn.header;
        let mut rc = self.apply_body(
            h.txn_type,
            &txn.body,
            h.zxid.0,
            h.time,
            h.client_id,
            triggers,
        );
        rc.txn_type = h.txn_type;
        if h.zxid > self.last_processed_zxid {
            self.last_processed_zxid = h.zxid;
        }
        rc
    }

    fn apply_body(
        &mut self,
        txn_type: i32,
        body: &TxnBody,
        zxid: i64,
        time: i64,
        session_id: i64,
        triggers: &mut Vec<Trigger>,
    ) -> TxnResult {
        let mut rc = TxnResult {
            txn_type,
            ..Default::default()
        };
        let res: Result<(), ErrorCode> = match body {
            TxnBody::Create(t) => {
                rc.path = t.path.clone();
                let owner = if t.ephemeral { session_id } else { 0 };
                self.create_node(
                    &t.path,
                    &t.data,
                    &t.acl,
                    owner,
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::CreateContainer(t) => {
                rc.path = t.path.clone();
                self.create_node(
                    &t.path,
                    &t.data,
                    &t.acl,
                    CONTAINER_EPHEMERAL_OWNER,
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::CreateTtl(t) => {
                rc.path = t.path.clone();
                self.create_node(
                    &t.path,
                    &t.data,
                    &t.acl,
                    EphemeralKind::ttl_owner(t.ttl),
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::Delete { path } => {
                rc.path = path.clone();
                self.delete_node(path, zxid, triggers)
            }
            TxnBody::SetData(t) => {
                rc.path = t.path.clone();
                self.set_data(&t.path, &t.data, t.version, zxid, time, triggers)
                    .map(|s| rc.stat = Some(s))
            }
            TxnBody::SetAcl(t) => {
                rc.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version)
                    .map(|s| rc.stat = Some(s))
            }
            TxnBody::CheckVersion { path, .. } => {
                rc.path = path.clone();
                Ok(())
            }
            TxnBody::CreateSession { .. } => Ok(()),
            TxnBody::CloseSession { paths_to_delete } => {
                let mut paths: Vec<String> = paths_to_delete.clone();
                if let Some(own) = self.ephemerals.remove(&session_id) {
                    // Servers that write no list delete every ephemeral of the session.
                    if paths.is_empty() {
                        paths.extend(own);
                    }
                }
                for p in paths {
                    let _ = self.delete_node(&p, zxid, triggers);
                }
                Ok(())
            }
            TxnBody::Error { err } => {
                rc.err = *err;
                Ok(())
            }
            TxnBody::Multi(subs) => {
                let failed = subs.iter().any(|s| s.txn_type == op::ERROR);
                let mut post_failed = false;
                for s in subs {
                    let sub = if failed {
                        // A failed multi applies nothing: ops before the failing one
                        // report Ok, the failing one its error, the rest
                        // RuntimeInconsistency, exactly as ZooKeeper reports them.
                        let err = match &s.body {
                            TxnBody::Error { err } => {
                                post_failed = true;
                                *err
                            }
                            _ if post_failed => ErrorCode::RuntimeInconsistency.code(),
                            _ => 0,
                        };
                        TxnResult {
                            txn_type: op::ERROR,
                            err,
                            ..Default::default()
                        }
                    } else {
                        self.apply_body(s.txn_type, &s.body, zxid, time, session_id, triggers)
                    };
                    rc.multi.push(sub);
                }
                Ok(())
            }
        };
        if let Err(e) = res {
            rc.err = e.code();
        }
        rc
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: &Bytes,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let parent_path = parent_of(path);
        let name = name_of(path);
        let acl = self.acls.intern(acl);
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        if parent.children.contains(name) {
            // Only possible when replaying the log over a fuzzy snapshot that
            // already holds this node: bring the parent's cversion and pzxid
            // up to what the create set, as ZooKeeper does on restore.
            if parent_cversion > parent.stat.cversion {
                self.digest.remove(parent_path, &parent.data, &parent.stat);
                parent.stat.cversion = parent_cversion;
                parent.stat.pzxid = zxid;
                self.digest.add(parent_path, &parent.data, &parent.stat);
            }
            return Err(ErrorCode::NodeExists);
        }
        self.digest.remove(parent_path, &parent.data, &parent.stat);
        let cversion = if parent_cversion == -1 {
            parent.stat.cversion + 1
        } else {
            parent_cversion
        };
        // A replayed create of a node that a fuzzy snapshot saw created and
        // deleted again must not move the parent's cversion backwards.
        if cversion > parent.stat.cversion {
            parent.stat.cversion = cversion;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(name.into());
        self.digest.add(parent_path, &parent.data, &parent.stat);
        let parent_acl = parent.acl.clone();
        let node = Node::new(
            data.clone(),
            acl.clone(),
            new_stat(zxid, time, ephemeral_owner),
        );
        self.digest.add(path, &node.data, &node.stat);
        let stat = node.stat();
        self.nodes.insert(path.to_owned(), node);
        match EphemeralKind::of(ephemeral_owner, self.extended_types) {
            EphemeralKind::Container => {
                self.containers.insert(path.to_owned());
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
            EphemeralKind::Ephemeral => {
                self.ephemerals
                    .entry(ephemeral_owner)
                    .or_default()
                    .insert(path.to_owned());
            }
            EphemeralKind::Persistent => {}
        }
        triggers.push(Trigger::Created {
            path: path.to_owned(),
            acl,
            parent: parent_path.to_owned(),
            parent_acl,
        });
        Ok(stat)
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        let parent_path = parent_of(path);
        let name = name_of(path);
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        self.digest.remove(parent_path, &parent.data, &parent.stat);
        parent.children.remove(name);
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        self.digest.add(parent_path, &parent.data, &parent.stat);
        let parent_acl = parent.acl.clone();
        let node = self.nodes.remove(path).ok_or(ErrorCode::NoNode)?;
        self.digest.remove(path, &node.data, &node.stat);
        let owner = node.stat.ephemeral_owner;
        match EphemeralKind::of(owner, self.extended_types) {
            EphemeralKind::Container => {
                self.containers.remove(path);
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            EphemeralKind::Ephemeral => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            EphemeralKind::Persistent => {}
        }
        let acl = node.acl.clone();
        drop(node);
        self.acls.release(acl.clone());
        triggers.push(Trigger::Deleted {
            path: path.to_owned(),
            acl,
            parent: parent_path.to_owned(),
            parent_acl,
        });
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &Bytes,
        version: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        self.digest.remove(path, &n.data, &n.stat);
        n.data = data.clone();
        n.stat.mtime = time;
        n.stat.mzxid = zxid;
        n.stat.version = version;
        self.digest.add(path, &n.data, &n.stat);
        triggers.push(Trigger::DataChanged {
            path: path.to_owned(),
            acl: n.acl.clone(),
        });
        Ok(n.stat())
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let new = self.acls.intern(acl);
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let old = std::mem::replace(&mut n.acl, new);
        self.digest.remove(path, &n.data, &n.stat);
        n.stat.aversion = version;
        self.digest.add(path, &n.data, &n.stat);
        let stat = n.stat();
        self.acls.release(old);
        Ok(stat)
    }
}

/// The event type and path a trigger delivers to one kind of watch table.
pub fn trigger_event_type(t: &Trigger) -> i32 {
    match t {
        Trigger::Created { .. } => event_type::NODE_CREATED,
        Trigger::Deleted { .. } => event_type::NODE_DELETED,
        Trigger::DataChanged { .. } => event_type::NODE_DATA_CHANGED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_core::txn::{CreateTxn, SetDataTxn, SubTxn, TxnHeader};

    fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
        Txn {
            header: TxnHeader {
                client_id: 5,
                cxid: 1,
                zxid: Zxid(zxid),
                time: 1000 + zxid,
                txn_type: t,
            },
            body,
            digest: None,
        }
    }

    fn create(path: &str, cv: i32, eph: bool) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Bytes::from_static(b"d"),
            acl: Acl::open_unsafe(),
            ephemeral: eph,
            parent_cversion: cv,
        })
    }

    #[test]
    fn system_nodes_exist_with_zero_stats() {
        let t = DataTree::new(false);
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert!(t.get(p).is_some(), "{p}");
        }
        assert_eq!(t.get("/").unwrap().stat().num_children, 1);
        assert_eq!(t.get("/").unwrap().stat().cversion, 0);
        assert_eq!(t.all_children_number("/"), 3);
    }

    #[test]
    fn create_sets_stat_and_parent_cversion_and_pzxid() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let rc = t.apply(&txn(2, op::CREATE, create("/a", 1, false)), &mut tr);
        assert_eq!(rc.err, 0);
        let s = rc.stat.unwrap();
        assert_eq!(
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
            (2, 2, 2, 1002, 1002)
        );
        assert_eq!((s.version, s.cversion, s.data_length), (0, 0, 1));
        let root = t.get("/").unwrap().stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 2, 2));
        assert_eq!(tr.len(), 1);
        // Delete moves pzxid but not cversion.
        t.apply(
            &txn(3, op::DELETE, TxnBody::Delete { path: "/a".into() }),
            &mut tr,
        );
        let root = t.get("/").unwrap().stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 3, 1));
    }

    #[test]
    fn replaying_a_create_is_harmless() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let c = txn(2, op::CREATE, create("/a", 1, false));
        t.apply(&c, &mut tr);
        let rc = t.apply(&c, &mut tr);
        assert_eq!(rc.err, ErrorCode::NodeExists.code());
        assert_eq!(t.get("/").unwrap().stat().cversion, 1);
    }

    #[test]
    fn failed_multi_applies_nothing_and_reports_like_zookeeper() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let m = TxnBody::Multi(vec![
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: 0 },
            },
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: -101 },
            },
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: -2 },
            },
        ]);
        let rc = t.apply(&txn(2, op::MULTI, m), &mut tr);
        let errs: Vec<i32> = rc.multi.iter().map(|r| r.err).collect();
        assert_eq!(errs, vec![0, -101, -2]);
        assert!(tr.is_empty());
    }

    #[test]
    fn close_session_deletes_its_ephemerals() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        t.apply(&txn(2, op::CREATE, create("/e", 1, true)), &mut tr);
        assert_eq!(t.ephemerals(5).count(), 1);
        t.apply(
            &txn(
                3,
                op::CLOSE_SESSION,
                TxnBody::CloseSession {
                    paths_to_delete: vec!["/e".into()],
                },
            ),
            &mut tr,
        );
        assert!(t.get("/e").is_none());
        assert_eq!(t.ephemerals(5).count(), 0);
    }

    #[test]
    fn set_data_bumps_version_and_mzxid() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        t.apply(&txn(2, op::CREATE, create("/a", 1, false)), &mut tr);
        let rc = t.apply(
            &txn(
                3,
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: "/a".into(),
                    data: Bytes::from_static(b"xyz"),
                    version: 1,
                }),
            ),
            &mut tr,
        );
        let s = rc.stat.unwrap();
        assert_eq!(
            (s.version, s.mzxid, s.czxid, s.data_length, s.mtime),
            (1, 3, 2, 3, 1003)
        );
    }
}
