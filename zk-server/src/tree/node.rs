//! One znode in memory: the packed [`Node`] (48 bytes) with its name, data
//! and most of its Stat in one record (`record.rs`), how its
//! `ephemeralOwner` is kept ([`Owner`], [`EphemeralKind`]), and the
//! read-only view the rest of the server gets ([`NodeRef`], [`Children`]).
//!
//! Where nodes live, how they are linked to their parents and found by path
//! is the arena's business (`arena.rs`, `index.rs`); the ACL a node holds a
//! slot of is `acl.rs`'s.

use std::fmt;

use zab_core::records::{Stat, StatPersisted};

use super::record::{Cold, Record};
use super::{AclRef, DataTree};

/// `ephemeralOwner` of container nodes.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// High byte of `ephemeralOwner` marking a TTL node; 16 reserved bits (0 for
/// a TTL) follow, then the TTL in the low 40 bits (ZooKeeper's `EphemeralType`).
const TTL_MASK: i64 = 0xff << 56;
/// The largest TTL ZooKeeper accepts: 40 bits.
pub const MAX_TTL: i64 = (1 << 40) - 1;

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

/// Index of a node in the tree's arena.
pub(super) type NodeId = u32;
/// No node: the end of a list, the root's parent.
pub(super) const NIL: NodeId = u32::MAX;
pub(super) const ROOT_ID: NodeId = 0;

/// How a node's `ephemeralOwner` is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// 0: a persistent node, the common case.
    None,
    /// `CONTAINER_EPHEMERAL_OWNER`.
    Container,
    /// Anything else (a session, a TTL): in `DataTree::owners`.
    Other,
    /// Not a node: a free slot of the arena.
    Free,
}

/// One znode (read it through [`NodeRef`]).
pub(super) struct Node {
    /// The name, the data and the Stat fields that change only with them
    /// or the ACL (`record.rs`); `None` in a free slot.
    pub(super) rec: Option<Record>,
    /// Slot in the ACL table.
    pub(super) acl: u32,
    pub(super) parent: NodeId,
    pub(super) first_child: NodeId,
    /// Next sibling (`NIL` after the last child); in a free slot, the next free slot.
    pub(super) next: NodeId,
    /// Previous sibling; the first child's `prev` is the last child, so that
    /// appending a child needs no extra field.
    pub(super) prev: NodeId,
    pub(super) child_count: u32,
    /// cversion and pzxid change whenever a child comes or goes, so they
    /// stay here rather than in the record with the data.
    pub(super) cversion: i32,
    pub(super) pzxid: i64,
    pub(super) owner: Owner,
    /// The data is null, not empty (created or set with a null buffer); it
    /// is stored as empty. Fits in the padding after `owner`.
    pub(super) data_null: bool,
}

// The footprint target (docs/performance.md) is budgeted on this.
const _: () = assert!(std::mem::size_of::<Node>() <= 48);

/// The part of `s` a record keeps.
pub(super) fn cold_of(s: &StatPersisted) -> Cold {
    Cold {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        aversion: s.aversion,
    }
}

impl Node {
    pub(super) fn new(
        name: &[u8],
        data: Option<&[u8]>,
        acl: u32,
        stat: &StatPersisted,
        owner: Owner,
    ) -> Node {
        Node::with_record(
            Record::new(name, data.unwrap_or_default(), &cold_of(stat)),
            data.is_none(),
            acl,
            stat,
            owner,
        )
    }

    /// A node whose record is built already (its cold Stat from `stat`).
    pub(super) fn with_record(
        rec: Record,
        data_null: bool,
        acl: u32,
        stat: &StatPersisted,
        owner: Owner,
    ) -> Node {
        Node {
            rec: Some(rec),
            acl,
            parent: NIL,
            first_child: NIL,
            next: NIL,
            prev: NIL,
            child_count: 0,
            cversion: stat.cversion,
            pzxid: stat.pzxid,
            owner,
            data_null,
        }
    }

    fn rec(&self) -> &Record {
        self.rec.as_ref().expect("a live node has a record")
    }

    pub(super) fn name(&self) -> &[u8] {
        self.rec().name()
    }

    /// The data; null reads as empty (as its length, its digest and quotas count it).
    pub(super) fn data(&self) -> &[u8] {
        self.rec().data()
    }

    pub(super) fn data_opt(&self) -> Option<&[u8]> {
        (!self.data_null).then(|| self.data())
    }

    pub(super) fn cold(&self) -> Cold {
        self.rec().cold()
    }

    /// New data, with the Stat fields a setData moves.
    pub(super) fn set_data(&mut self, data: Option<&[u8]>, mzxid: i64, mtime: i64, version: i32) {
        let cold = Cold {
            mzxid,
            mtime,
            version,
            ..self.cold()
        };
        let rec = self.rec().with(data.unwrap_or_default(), &cold);
        self.rec = Some(rec);
        self.data_null = data.is_none();
    }

    pub(super) fn set_aversion(&mut self, aversion: i32) {
        let cold = Cold {
            aversion,
            ..self.cold()
        };
        let rec = self.rec().with(self.data(), &cold);
        self.rec = Some(rec);
    }

    /// Replace the record and the Stat (a snapshot listing a node twice).
    pub(super) fn replace(&mut self, rec: Record, data_null: bool, s: &StatPersisted) {
        self.rec = Some(rec);
        self.data_null = data_null;
        self.cversion = s.cversion;
        self.pzxid = s.pzxid;
    }
}

pub(super) fn owner_kind(owner: i64) -> Owner {
    match owner {
        0 => Owner::None,
        CONTAINER_EPHEMERAL_OWNER => Owner::Container,
        _ => Owner::Other,
    }
}

/// A read-only view of one znode.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    pub(super) tree: &'a DataTree,
    pub(super) id: NodeId,
}

impl<'a> NodeRef<'a> {
    fn node(&self) -> &'a Node {
        &self.tree.nodes[self.id as usize]
    }

    /// The data; null data reads as empty.
    pub fn data(&self) -> &'a [u8] {
        self.node().data()
    }

    /// The data, `None` if it is null (what getData answers).
    pub fn data_opt(&self) -> Option<&'a [u8]> {
        self.node().data_opt()
    }

    pub fn acl(&self) -> &'a AclRef {
        self.tree.acls.get(self.node().acl)
    }

    /// The Stat as snapshots keep it.
    pub fn persisted(&self) -> StatPersisted {
        self.tree.persisted(self.id)
    }

    /// The Stat a client sees, as ZooKeeper's `DataNode.copyStat` makes it:
    /// the stored cversion counts creates only, the client's counts creates and
    /// deletes (`2 * creates - children`); ephemeralOwner is 0 for containers
    /// and TTL nodes, whose stored owner is a marker.
    pub fn stat(&self) -> Stat {
        let s = self.persisted();
        let n = self.node();
        let owner = match EphemeralKind::of(s.ephemeral_owner, self.tree.extended_types) {
            EphemeralKind::Ephemeral => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion * 2 - n.child_count as i32,
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: n.data().len() as i32,
            num_children: n.child_count as i32,
            pzxid: s.pzxid,
        }
    }

    pub fn child_count(&self) -> usize {
        self.node().child_count as usize
    }

    /// Append the children's names as jute's `vector<ustring>` (the count,
    /// then each name's length and bytes), in [`NodeRef::children`]'s order;
    /// returns the names' total length. getChildren's reply for a node with
    /// 100,000s of children: no String and no UTF-8 check per name, and the
    /// next child's record is fetched into the cache while this one is copied.
    pub fn write_children(&self, out: &mut Vec<u8>) -> usize {
        let nodes = &self.tree.nodes;
        out.extend_from_slice(&(self.node().child_count as i32).to_be_bytes());
        let mut names = 0;
        let mut c = self.node().first_child;
        while c != NIL {
            let n = &nodes[c as usize];
            if n.next != NIL {
                if let Some(r) = &nodes[n.next as usize].rec {
                    r.prefetch();
                }
            }
            let name = n.name();
            out.extend_from_slice(&(name.len() as i32).to_be_bytes());
            out.extend_from_slice(name);
            names += name.len();
            c = n.next;
        }
        names
    }

    /// Child names, in no particular order (as ZooKeeper's; here: the order
    /// they were created in).
    pub fn children(&self) -> Children<'a> {
        Children {
            tree: self.tree,
            next: self.node().first_child,
        }
    }
}

impl fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeRef")
            .field("path", &self.tree.path_of(self.id))
            .field("data_len", &self.data().len())
            .field("stat", &self.persisted())
            .finish()
    }
}

/// The names of a node's children.
pub struct Children<'a> {
    tree: &'a DataTree,
    next: NodeId,
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.next == NIL {
            return None;
        }
        let n = &self.tree.nodes[self.next as usize];
        self.next = n.next;
        Some(name_str(n.name()))
    }
}

/// Names come from `&str` paths, so they are UTF-8.
pub(super) fn name_str(name: &[u8]) -> &str {
    std::str::from_utf8(name).expect("znode names are utf-8")
}
