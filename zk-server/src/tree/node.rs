//! One znode in memory: the packed [`Node`] (96 bytes) with its name and data
//! in one allocation, how its `ephemeralOwner` is kept ([`Owner`],
//! [`EphemeralKind`]), and the read-only view the rest of the server gets
//! ([`NodeRef`], [`Children`]).
//!
//! ```text
//! Node.bytes := varint(name length) name data   ; one allocation, exact size
//! ```
//!
//! Where nodes live, how they are linked to their parents and found by path
//! is the arena's business (`arena.rs`, `index.rs`); the ACL a node holds a
//! slot of is `acl.rs`'s.

use std::fmt;

use zab_core::records::{Stat, StatPersisted};

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
    /// `varint(name length) ++ name ++ data`: the last path component and the
    /// data in one allocation.
    pub(super) bytes: Box<[u8]>,
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
    pub(super) czxid: i64,
    pub(super) mzxid: i64,
    pub(super) ctime: i64,
    pub(super) mtime: i64,
    pub(super) pzxid: i64,
    pub(super) version: i32,
    pub(super) cversion: i32,
    pub(super) aversion: i32,
    pub(super) owner: Owner,
    /// The data is null, not empty (created or set with a null buffer); it
    /// is stored as empty. Fits in the padding after `owner`.
    pub(super) data_null: bool,
}

// The footprint target (docs/performance.md) is budgeted on this.
const _: () = assert!(std::mem::size_of::<Node>() <= 96);

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// The name and the data of a node as one boxed slice, allocated at its exact size.
pub(super) fn encode_bytes(name: &[u8], data: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(varint_len(name.len()) + name.len() + data.len());
    let mut n = name.len();
    while n >= 0x80 {
        v.push((n as u8) | 0x80);
        n >>= 7;
    }
    v.push(n as u8);
    v.extend_from_slice(name);
    v.extend_from_slice(data);
    debug_assert_eq!(v.len(), v.capacity());
    v.into_boxed_slice()
}

/// Split [`encode_bytes`]'s output into name and data.
fn decode_bytes(b: &[u8]) -> (&[u8], &[u8]) {
    let (mut len, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let byte = b[i];
        len |= ((byte & 0x7f) as usize) << shift;
        i += 1;
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    b[i..].split_at(len)
}

impl Node {
    pub(super) fn new(
        name: &[u8],
        data: Option<&[u8]>,
        acl: u32,
        stat: &StatPersisted,
        owner: Owner,
    ) -> Node {
        Node::with_bytes(
            encode_bytes(name, data.unwrap_or_default()),
            data.is_none(),
            acl,
            stat,
            owner,
        )
    }

    /// A node whose name and data are already encoded (by [`encode_bytes`]).
    pub(super) fn with_bytes(
        bytes: Box<[u8]>,
        data_null: bool,
        acl: u32,
        stat: &StatPersisted,
        owner: Owner,
    ) -> Node {
        Node {
            bytes,
            acl,
            parent: NIL,
            first_child: NIL,
            next: NIL,
            prev: NIL,
            child_count: 0,
            czxid: stat.czxid,
            mzxid: stat.mzxid,
            ctime: stat.ctime,
            mtime: stat.mtime,
            pzxid: stat.pzxid,
            version: stat.version,
            cversion: stat.cversion,
            aversion: stat.aversion,
            owner,
            data_null,
        }
    }

    pub(super) fn name(&self) -> &[u8] {
        decode_bytes(&self.bytes).0
    }

    /// The data; null reads as empty (as its length, its digest and quotas count it).
    pub(super) fn data(&self) -> &[u8] {
        decode_bytes(&self.bytes).1
    }

    pub(super) fn data_opt(&self) -> Option<&[u8]> {
        (!self.data_null).then(|| self.data())
    }

    pub(super) fn set_data(&mut self, data: Option<&[u8]>) {
        let bytes = encode_bytes(self.name(), data.unwrap_or_default());
        self.bytes = bytes;
        self.data_null = data.is_none();
    }

    pub(super) fn set_stat(&mut self, s: &StatPersisted) {
        self.czxid = s.czxid;
        self.mzxid = s.mzxid;
        self.ctime = s.ctime;
        self.mtime = s.mtime;
        self.pzxid = s.pzxid;
        self.version = s.version;
        self.cversion = s.cversion;
        self.aversion = s.aversion;
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
