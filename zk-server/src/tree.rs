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
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use zab_core::proto::{event_type, op};
use zab_core::records::{Acl, ErrorCode, Stat, StatPersisted};
use zab_core::txn::{Txn, TxnBody};
use zab_core::Zxid;
use zab_storage::TreeDigest;

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
type NodeId = u32;
/// No node: the end of a list, the root's parent.
const NIL: NodeId = u32::MAX;
const ROOT_ID: NodeId = 0;

/// How a node's `ephemeralOwner` is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
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
struct Node {
    /// `varint(name length) ++ name ++ data`: the last path component and the
    /// data in one allocation.
    bytes: Box<[u8]>,
    /// Slot in the ACL table.
    acl: u32,
    parent: NodeId,
    first_child: NodeId,
    /// Next sibling (`NIL` after the last child); in a free slot, the next free slot.
    next: NodeId,
    /// Previous sibling; the first child's `prev` is the last child, so that
    /// appending a child needs no extra field.
    prev: NodeId,
    child_count: u32,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    pzxid: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    owner: Owner,
    /// The data is null, not empty (created or set with a null buffer); it
    /// is stored as empty. Fits in the padding after `owner`.
    data_null: bool,
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
fn encode_bytes(name: &[u8], data: &[u8]) -> Box<[u8]> {
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
    fn new(name: &[u8], data: Option<&[u8]>, acl: u32, stat: &StatPersisted, owner: Owner) -> Node {
        Node::with_bytes(
            encode_bytes(name, data.unwrap_or_default()),
            data.is_none(),
            acl,
            stat,
            owner,
        )
    }

    /// A node whose name and data are already encoded (by [`encode_bytes`]).
    fn with_bytes(
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

    fn name(&self) -> &[u8] {
        decode_bytes(&self.bytes).0
    }

    /// The data; null reads as empty (as its length, its digest and quotas count it).
    fn data(&self) -> &[u8] {
        decode_bytes(&self.bytes).1
    }

    fn data_opt(&self) -> Option<&[u8]> {
        (!self.data_null).then(|| self.data())
    }

    fn set_data(&mut self, data: Option<&[u8]>) {
        let bytes = encode_bytes(self.name(), data.unwrap_or_default());
        self.bytes = bytes;
        self.data_null = data.is_none();
    }

    fn set_stat(&mut self, s: &StatPersisted) {
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

/// A snapshot's node made ready for [`DataTree::load_prepared`], by a
/// [`NodePreparer`] on another thread than the one building the tree: its
/// path split, the name's part of the index hash, and the name and data
/// already in the allocation the tree keeps.
pub struct LoadingNode<'a> {
    path: &'a str,
    parent: &'a str,
    name: &'a str,
    name_hash: u64,
    bytes: Box<[u8]>,
    data_null: bool,
    acl_id: i64,
    stat: StatPersisted,
    node_hash: u64,
}

/// Prepares snapshot nodes for one tree ([`DataTree::node_preparer`]).
#[derive(Clone)]
pub struct NodePreparer {
    keys: [u64; 3],
}

impl NodePreparer {
    /// `node_hash` is the node's digest hash.
    pub fn prepare<'a>(
        &self,
        path: &'a str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: StatPersisted,
        node_hash: u64,
    ) -> LoadingNode<'a> {
        let (parent, name) = if path == ROOT { ("", "") } else { split(path) };
        LoadingNode {
            path,
            parent,
            name,
            name_hash: name_hash(&self.keys, name.as_bytes()),
            bytes: encode_bytes(name.as_bytes(), data.unwrap_or_default()),
            data_null: data.is_none(),
            acl_id,
            stat,
            node_hash,
        }
    }
}

fn owner_kind(owner: i64) -> Owner {
    match owner {
        0 => Owner::None,
        CONTAINER_EPHEMERAL_OWNER => Owner::Container,
        _ => Owner::Other,
    }
}

fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = (x as u128) * (y as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The name's part of [`ChildIndex::hash`], under the index's keys.
fn name_hash(keys: &[u64; 3], name: &[u8]) -> u64 {
    let [k0, k1, _] = *keys;
    let mut h = k0 ^ ((name.len() as u64) << 32);
    let mut words = name.chunks_exact(8);
    for w in &mut words {
        h = folded_multiply(h ^ u64::from_le_bytes(w.try_into().unwrap()), k1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = folded_multiply(h ^ u64::from_le_bytes(w), k1);
    }
    h
}

/// Ask the kernel to back `buf` with transparent huge pages where it can
/// (where THP is in `madvise` mode, as on most distributions). A snapshot's
/// load fills the arena and the index at random: with 2 MiB pages it takes
/// a fault per 2 MiB instead of per 4 KiB and far fewer TLB misses. Only a
/// hint; nothing changes when the kernel says no.
fn advise_huge_pages<T>(buf: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(buf);
        // Whole huge pages inside the buffer only: the advice must not reach
        // memory the buffer does not own.
        let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if from < to {
            // SAFETY: madvise with MADV_HUGEPAGE changes how the kernel backs
            // this range, never its contents, and the range lies inside
            // `buf`, which we hold mutably.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// A hint that `x` is about to be read; no effect on what the program does.
#[inline(always)]
fn prefetch_read<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint to the cache; it never faults and
    // reads nothing the program sees, and `x` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Control bytes of [`ChildIndex`]: empty, deleted, or `0x80 | 7 bits of hash`.
const EMPTY: u8 = 0;
const DELETED: u8 = 1;

fn tag_of(h: u64) -> u8 {
    0x80 | (h >> 57) as u8
}

/// The path index: an open-addressing hash table (linear probing, tombstones)
/// of node ids keyed by `(parent id, name)`, the key being read from the node
/// itself. At most 7/8 full, counting tombstones.
struct ChildIndex {
    ctrl: Vec<u8>,
    ids: Vec<NodeId>,
    items: usize,
    deleted: usize,
    /// Per-tree random keys of the hash.
    keys: [u64; 3],
}

impl ChildIndex {
    fn new() -> ChildIndex {
        ChildIndex {
            ctrl: Vec::new(),
            ids: Vec::new(),
            items: 0,
            deleted: 0,
            keys: {
                let r = RandomState::new();
                [r.hash_one(1u8), r.hash_one(2u8), r.hash_one(3u8) | 1]
            },
        }
    }

    /// A keyed folded-multiply hash (the construction of foldhash and
    /// ahash's fallback): several times faster than SipHash on short names,
    /// and with per-tree random keys a client cannot aim names at one slot.
    /// The name is hashed on its own ([`name_hash`]), so that a snapshot's
    /// loader can do that part on another thread, then mixed with the parent.
    fn hash(&self, parent: NodeId, name: &[u8]) -> u64 {
        self.combine(parent, name_hash(&self.keys, name))
    }

    /// The hash of `(parent, name)` from the name's [`name_hash`].
    fn combine(&self, parent: NodeId, name_hash: u64) -> u64 {
        folded_multiply(name_hash ^ parent as u64, self.keys[2])
    }

    fn find(&self, nodes: &[Node], parent: NodeId, name: &[u8], h: u64) -> Option<NodeId> {
        if self.ids.is_empty() {
            return None;
        }
        let mask = self.ids.len() - 1;
        let tag = tag_of(h);
        let mut i = h as usize & mask;
        loop {
            match self.ctrl[i] {
                EMPTY => return None,
                c if c == tag => {
                    let id = self.ids[i];
                    let n = &nodes[id as usize];
                    if n.parent == parent && n.name() == name {
                        return Some(id);
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// Ask the CPU to bring the slots that a probe for `h` starts at into
    /// the cache. Loading a snapshot looks up each node's slot once, at
    /// random in a table of megabytes: one cache miss per node, which the
    /// loader hides by announcing a node several entries ahead.
    fn prefetch(&self, h: u64) {
        if self.ids.is_empty() {
            return;
        }
        let i = h as usize & (self.ids.len() - 1);
        prefetch_read(&self.ctrl[i]);
        prefetch_read(&self.ids[i]);
    }

    /// Add `id`, whose `(parent, name)` hashes to `h` and is not in the index yet.
    fn insert(&mut self, nodes: &[Node], id: NodeId, h: u64) {
        if (self.items + self.deleted + 1) * 8 > self.ids.len() * 7 {
            self.rehash(nodes, self.items + 1);
        }
        let mask = self.ids.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match self.ctrl[i] {
                EMPTY => break,
                DELETED => {
                    self.deleted -= 1;
                    break;
                }
                _ => i = (i + 1) & mask,
            }
        }
        self.ctrl[i] = tag_of(h);
        self.ids[i] = id;
        self.items += 1;
    }

    /// Remove `id`, whose key hashes to `h`.
    fn remove(&mut self, id: NodeId, h: u64) {
        let mask = self.ids.len() - 1;
        let tag = tag_of(h);
        let mut i = h as usize & mask;
        loop {
            let c = self.ctrl[i];
            assert!(c != EMPTY, "node {id} is missing from the path index");
            if c == tag && self.ids[i] == id {
                break;
            }
            i = (i + 1) & mask;
        }
        // A probe that reaches this slot goes on to the next one; if that one
        // is empty, no probe needs this slot any more.
        if self.ctrl[(i + 1) & mask] == EMPTY {
            self.ctrl[i] = EMPTY;
        } else {
            self.ctrl[i] = DELETED;
            self.deleted += 1;
        }
        self.items -= 1;
    }

    /// Make room for `want` entries without tombstones.
    fn rehash(&mut self, nodes: &[Node], want: usize) {
        let slots = (want * 8 / 7 + 1).next_power_of_two().max(16);
        let mut ctrl = vec![EMPTY; slots];
        let mut ids = vec![NIL; slots];
        let mask = slots - 1;
        // Walk the arena in order (not the old table) so that reading the
        // keys streams through memory.
        for (id, n) in nodes.iter().enumerate() {
            if n.parent == NIL {
                continue; // the root, or a free slot
            }
            let id = id as NodeId;
            let h = self.hash(n.parent, n.name());
            let mut i = h as usize & mask;
            while ctrl[i] != EMPTY {
                i = (i + 1) & mask;
            }
            ctrl[i] = tag_of(h);
            ids[i] = id;
        }
        self.ctrl = ctrl;
        self.ids = ids;
        self.deleted = 0;
    }

    fn reserve(&mut self, nodes: &[Node], additional: usize) {
        let want = self.items + additional;
        if (want + self.deleted) * 8 > self.ids.len() * 7 {
            self.rehash(nodes, want);
        }
    }
}

/// A read-only view of one znode.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    tree: &'a DataTree,
    id: NodeId,
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
fn name_str(name: &[u8]) -> &str {
    std::str::from_utf8(name).expect("znode names are utf-8")
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

struct AclSlot {
    acl: AclRef,
    /// Nodes that use this list.
    users: u64,
}

/// Deduplicates ACL lists so that a million nodes share a handful of them
/// (ZooKeeper's `ReferenceCountedACLCache`). A node holds a slot number; a
/// list no node uses any more is dropped.
#[derive(Default)]
struct AclTable {
    slots: Vec<Option<AclSlot>>,
    free: Vec<u32>,
    by_value: HashMap<Vec<Acl>, u32>,
    by_id: HashMap<i64, u32>,
    next_id: i64,
}

impl AclTable {
    fn put(&mut self, id: i64, acl: Vec<Acl>) -> u32 {
        let entry = AclSlot {
            acl: Arc::new(AclEntry {
                id,
                acl: acl.clone(),
            }),
            users: 0,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_value.insert(acl, slot);
        self.by_id.insert(id, slot);
        slot
    }

    /// The slot of `acl` (added if new), with one more user.
    fn acquire(&mut self, acl: &[Acl]) -> u32 {
        let slot = match self.by_value.get(acl) {
            Some(&s) => s,
            None => {
                self.next_id += 1;
                self.put(self.next_id, acl.to_vec())
            }
        };
        self.add_user(slot);
        slot
    }

    fn add_user(&mut self, slot: u32) {
        self.slots[slot as usize]
            .as_mut()
            .expect("live ACL slot")
            .users += 1;
    }

    /// One user fewer; the list goes when nobody uses it.
    fn release(&mut self, slot: u32) {
        let s = self.slots[slot as usize].as_mut().expect("live ACL slot");
        s.users -= 1;
        if s.users == 0 {
            let s = self.slots[slot as usize].take().unwrap();
            if self.by_value.get(s.acl.acl.as_slice()) == Some(&slot) {
                self.by_value.remove(s.acl.acl.as_slice());
            }
            self.by_id.remove(&s.acl.id);
            self.free.push(slot);
        }
    }

    /// Add a list with a known id (loading a snapshot).
    fn load(&mut self, id: i64, acl: Vec<Acl>) {
        self.next_id = self.next_id.max(id);
        if let Some(&old) = self.by_id.get(&id) {
            if self.slots[old as usize]
                .as_ref()
                .is_some_and(|s| s.users == 0)
            {
                self.slots[old as usize] = None;
                self.free.push(old);
            }
        }
        self.put(id, acl);
    }

    fn get(&self, slot: u32) -> &AclRef {
        &self.slots[slot as usize]
            .as_ref()
            .expect("live ACL slot")
            .acl
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn entries(&self) -> impl Iterator<Item = &AclRef> {
        self.slots.iter().flatten().map(|s| &s.acl)
    }
}

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

/// The node under `/zookeeper/quota/<path>` that sets a quota.
const QUOTA_LIMITS: &str = "zookeeper_limits";
/// The node under `/zookeeper/quota/<path>` the server keeps the usage in.
const QUOTA_STATS: &str = "zookeeper_stats";

/// The path a quota node's parent stands for: `/zookeeper/quota/a/b` -> `/a/b`.
fn quota_target(parent: &str) -> Option<&str> {
    parent
        .strip_prefix(QUOTA_ZOOKEEPER)
        .filter(|p| p.starts_with('/'))
}

/// `count` and `bytes` of a StatsTrack string (`count=2,bytes=5`, maybe
/// followed by limits); what is missing or malformed counts as 0.
fn parse_stats(data: &[u8]) -> (i64, i64) {
    let text = String::from_utf8_lossy(data);
    let mut count = 0;
    let mut bytes = 0;
    for field in text.split([',', ';']) {
        let mut kv = field.split('=');
        let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
            continue;
        };
        match k.trim() {
            "count" => count = v.trim().parse().unwrap_or(0),
            "bytes" => bytes = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    (count, bytes)
}

/// Where a node at some path goes.
enum Place {
    /// Under `parent` (`NIL`: the root of an empty tree); `h` hashes its index key.
    New { parent: NodeId, h: u64 },
    /// The node is there already.
    Exists(NodeId),
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

    /// Like [`DataTree::empty`], with room for `nodes` nodes (a snapshot's
    /// count), so that loading never grows the arena or the index.
    pub fn with_capacity(extended_types: bool, nodes: usize) -> DataTree {
        let mut t = DataTree::empty(extended_types);
        t.nodes.reserve_exact(nodes);
        t.index.reserve(&t.nodes, nodes);
        advise_huge_pages(t.nodes.spare_capacity_mut());
        advise_huge_pages(&mut t.index.ctrl[..]);
        advise_huge_pages(&mut t.index.ids[..]);
        t
    }

    pub fn load_acl(&mut self, id: i64, acl: Vec<Acl>) {
        self.last_acl = None;
        self.acls.load(id, acl);
    }

    /// Add a node read from a snapshot. Its ACL id must have been loaded and
    /// its parent too (snapshots list parents first, as ZooKeeper's do).
    pub fn load_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), String> {
        let hash = TreeDigest::node_hash(path, data.unwrap_or_default(), &stat);
        self.load_hashed_node(path, data, acl_id, stat, hash)
    }

    /// [`DataTree::load_node`] with the node's digest hash already computed
    /// (the snapshot reader computes it to check the file's digest).
    pub fn load_hashed_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: StatPersisted,
        node_hash: u64,
    ) -> Result<(), String> {
        let n = self
            .node_preparer()
            .prepare(path, data, acl_id, stat, node_hash);
        self.load_prepared(n)
    }

    /// What prepares snapshot nodes for this tree on another thread.
    pub fn node_preparer(&self) -> NodePreparer {
        NodePreparer {
            keys: self.index.keys,
        }
    }

    /// [`DataTree::load_hashed_node`] of a node prepared by this tree's
    /// [`NodePreparer`].
    pub fn load_prepared(&mut self, n: LoadingNode<'_>) -> Result<(), String> {
        let LoadingNode {
            path,
            parent: parent_path,
            name,
            name_hash,
            bytes,
            data_null,
            acl_id,
            stat,
            node_hash,
        } = n;
        let slot = match self.last_acl {
            Some((id, slot)) if id == acl_id => slot,
            _ => {
                let slot = *self
                    .acls
                    .by_id
                    .get(&acl_id)
                    .ok_or_else(|| format!("node {path} refers to unknown ACL {acl_id}"))?;
                self.last_acl = Some((acl_id, slot));
                slot
            }
        };
        let place = if path == ROOT {
            self.place(path)
        } else {
            let parent = match &self.last_parent {
                Some((p, id)) if p == parent_path => Ok(*id),
                _ => match self.lookup(parent_path) {
                    Some(id) => {
                        self.last_parent = Some((parent_path.to_owned(), id));
                        Ok(id)
                    }
                    None => Err(()),
                },
            };
            parent.map(|parent| {
                self.place_hashed(parent, name, self.index.combine(parent, name_hash))
            })
        }
        .map_err(|()| format!("node {path} has no parent {}", parent_of(path)))?;
        match place {
            Place::New { parent, h } => {
                let owner = owner_kind(stat.ephemeral_owner);
                let node = Node::with_bytes(bytes, data_null, slot, &stat, owner);
                self.insert_built(path, parent, h, node, stat.ephemeral_owner, node_hash);
                self.acls.add_user(slot);
            }
            Place::Exists(id) => {
                // Listed twice: the later entry wins, as it would in a map.
                let old = self.persisted(id);
                let n = &self.nodes[id as usize];
                self.digest.remove(path, n.data(), &old);
                self.data_size -= n.data().len() as u64;
                let old_acl = n.acl;
                self.untrack(path, id);
                self.acls.add_user(slot);
                self.acls.release(old_acl);
                self.last_acl = None;
                let n = &mut self.nodes[id as usize];
                n.acl = slot;
                n.bytes = bytes;
                n.data_null = data_null;
                n.set_stat(&stat);
                let data_len = n.data().len() as u64;
                self.set_owner(id, stat.ephemeral_owner);
                self.digest.add_hash(node_hash);
                self.data_size += data_len;
                self.track(path, stat.ephemeral_owner);
            }
        }
        Ok(())
    }

    /// Finish loading a snapshot taken at `zxid`.
    pub fn finish_load(&mut self, zxid: Zxid) -> Result<(), String> {
        self.last_parent = None;
        self.last_acl = None;
        if self.nodes.is_empty() {
            return Err("snapshot has no root node".into());
        }
        self.setup_quotas();
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

    // ---- storage ----

    /// The node at `path`, resolved one component at a time.
    fn lookup(&self, path: &str) -> Option<NodeId> {
        if self.nodes.is_empty() {
            return None;
        }
        if path == ROOT {
            return Some(ROOT_ID);
        }
        let rest = path.strip_prefix('/')?;
        let mut id = ROOT_ID;
        for name in rest.split('/') {
            id = self.child(id, name.as_bytes())?;
        }
        Some(id)
    }

    fn child(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        let h = self.index.hash(parent, name);
        self.index.find(&self.nodes, parent, name, h)
    }

    fn path_of(&self, id: NodeId) -> String {
        if id == ROOT_ID {
            return ROOT.to_owned();
        }
        let mut names = Vec::new();
        let mut c = id;
        while c != ROOT_ID && c != NIL {
            let n = &self.nodes[c as usize];
            names.push(name_str(n.name()));
            c = n.parent;
        }
        names.iter().rev().fold(String::new(), |mut p, n| {
            p.push('/');
            p.push_str(n);
            p
        })
    }

    fn owner(&self, id: NodeId) -> i64 {
        match self.nodes[id as usize].owner {
            Owner::None | Owner::Free => 0,
            Owner::Container => CONTAINER_EPHEMERAL_OWNER,
            Owner::Other => self.owners[&id],
        }
    }

    fn set_owner(&mut self, id: NodeId, owner: i64) {
        let kind = owner_kind(owner);
        self.nodes[id as usize].owner = kind;
        if kind == Owner::Other {
            self.owners.insert(id, owner);
        } else {
            self.owners.remove(&id);
        }
    }

    fn persisted(&self, id: NodeId) -> StatPersisted {
        let n = &self.nodes[id as usize];
        StatPersisted {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.cversion,
            aversion: n.aversion,
            ephemeral_owner: self.owner(id),
            pzxid: n.pzxid,
        }
    }

    /// Where a node at `path` goes; `Err` if its parent is missing.
    fn place(&self, path: &str) -> Result<Place, ()> {
        if path == ROOT {
            return Ok(if self.nodes.is_empty() {
                Place::New { parent: NIL, h: 0 }
            } else {
                Place::Exists(ROOT_ID)
            });
        }
        let parent = self.lookup(parent_of(path)).ok_or(())?;
        Ok(self.place_under(parent, name_of(path)))
    }

    fn place_under(&self, parent: NodeId, name: &str) -> Place {
        self.place_hashed(parent, name, self.index.hash(parent, name.as_bytes()))
    }

    /// [`DataTree::place_under`] where `h` is the index hash of `(parent, name)`.
    fn place_hashed(&self, parent: NodeId, name: &str, h: u64) -> Place {
        match self.index.find(&self.nodes, parent, name.as_bytes(), h) {
            Some(id) => Place::Exists(id),
            None => Place::New { parent, h },
        }
    }

    /// A hint, while loading a snapshot, that node `n` comes soon: when its
    /// parent is the last parent resolved (siblings come together in a
    /// snapshot), its index slot is fetched into the cache.
    pub fn prefetch_loading(&self, n: &LoadingNode<'_>) {
        if let Some((p, id)) = &self.last_parent {
            if p == n.parent {
                self.index.prefetch(self.index.combine(*id, n.name_hash));
            }
        }
    }

    /// Add a node under `parent` (`NIL` for the root of an empty tree);
    /// `h` is the index hash of `(parent, name)` and the node is not there
    /// yet. The caller has counted the node as a user of ACL `acl` and passes
    /// its digest hash. Keeps the index, digest, data size and ephemeral sets;
    /// does not touch the parent's Stat.
    #[allow(clippy::too_many_arguments)]
    fn insert_node(
        &mut self,
        path: &str,
        parent: NodeId,
        h: u64,
        data: Option<&[u8]>,
        acl: u32,
        stat: &StatPersisted,
        node_hash: u64,
    ) -> NodeId {
        let name = if parent == NIL { "" } else { split(path).1 };
        let node = Node::new(
            name.as_bytes(),
            data,
            acl,
            stat,
            owner_kind(stat.ephemeral_owner),
        );
        self.insert_built(path, parent, h, node, stat.ephemeral_owner, node_hash)
    }

    /// [`DataTree::insert_node`] of a node already built; `owner` is its
    /// ephemeral owner (the session id, or ZooKeeper's marks).
    fn insert_built(
        &mut self,
        path: &str,
        parent: NodeId,
        h: u64,
        node: Node,
        owner: i64,
        node_hash: u64,
    ) -> NodeId {
        let data_len = node.data().len();
        let id = if parent == NIL {
            assert!(self.nodes.is_empty(), "the root goes into an empty tree");
            self.nodes.push(node);
            ROOT_ID
        } else if self.free != NIL {
            let id = self.free;
            self.free = self.nodes[id as usize].next;
            self.nodes[id as usize] = node;
            id
        } else {
            assert!(self.nodes.len() < NIL as usize, "too many znodes");
            self.nodes.push(node);
            (self.nodes.len() - 1) as NodeId
        };
        if owner != 0 && owner != CONTAINER_EPHEMERAL_OWNER {
            self.owners.insert(id, owner);
        }
        if parent != NIL {
            // Index first: a rehash walks the arena and skips this node while
            // its parent is still unset.
            self.index.insert(&self.nodes, id, h);
            self.link(parent, id);
        }
        self.live += 1;
        self.digest.add_hash(node_hash);
        self.data_size += (path.len() + data_len) as u64;
        self.track(path, owner);
        id
    }

    /// Remove a node that has no children: index, parent's list, ACL user,
    /// digest, data size, ephemeral sets. Does not touch the parent's Stat.
    fn remove_leaf(&mut self, path: &str, id: NodeId) {
        self.last_parent = None;
        self.last_acl = None;
        let n = &self.nodes[id as usize];
        debug_assert_eq!(n.child_count, 0);
        let stat = self.persisted(id);
        self.digest.remove(path, n.data(), &stat);
        self.data_size -= (path.len() + n.data().len()) as u64;
        let h = self.index.hash(n.parent, n.name());
        let acl = n.acl;
        self.index.remove(id, h);
        self.unlink(id);
        self.untrack(path, id);
        self.owners.remove(&id);
        self.acls.release(acl);
        let n = &mut self.nodes[id as usize];
        n.bytes = Box::new([]);
        n.owner = Owner::Free;
        n.parent = NIL;
        n.next = self.free;
        self.free = id;
        self.live -= 1;
    }

    /// Remove the descendants of `id` (never while serving: see `delete_node`).
    fn remove_descendants(&mut self, path: &str, id: NodeId) {
        while self.nodes[id as usize].first_child != NIL {
            let c = self.nodes[id as usize].first_child;
            let p = child_path(path, self.nodes[c as usize].name());
            self.remove_descendants(&p, c);
            self.remove_leaf(&p, c);
        }
    }

    fn link(&mut self, parent: NodeId, id: NodeId) {
        let first = self.nodes[parent as usize].first_child;
        if first == NIL {
            self.nodes[parent as usize].first_child = id;
            self.nodes[id as usize].prev = id;
        } else {
            let last = self.nodes[first as usize].prev;
            self.nodes[last as usize].next = id;
            self.nodes[id as usize].prev = last;
            self.nodes[first as usize].prev = id;
        }
        self.nodes[id as usize].next = NIL;
        self.nodes[id as usize].parent = parent;
        self.nodes[parent as usize].child_count += 1;
    }

    fn unlink(&mut self, id: NodeId) {
        let (parent, prev, next) = {
            let n = &self.nodes[id as usize];
            (n.parent, n.prev, n.next)
        };
        let first = self.nodes[parent as usize].first_child;
        if first == id {
            self.nodes[parent as usize].first_child = next;
            if next != NIL {
                self.nodes[next as usize].prev = prev;
            }
        } else {
            self.nodes[prev as usize].next = next;
            let fix = if next == NIL { first } else { next };
            self.nodes[fix as usize].prev = prev;
        }
        self.nodes[parent as usize].child_count -= 1;
    }

    /// Add `path` to the ephemeral, container or TTL set its owner puts it in.
    fn track(&mut self, path: &str, owner: i64) {
        match EphemeralKind::of(owner, self.extended_types) {
            EphemeralKind::Container => {
                self.containers.insert(path.to_owned());
            }
            EphemeralKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
            EphemeralKind::Ephemeral => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(path.to_owned());
            }
            EphemeralKind::Persistent => {}
        }
    }

    fn untrack(&mut self, path: &str, id: NodeId) {
        let owner = self.owner(id);
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
    }

    /// Change a node's Stat (and nothing else), keeping the digest.
    fn update_stat(&mut self, path: &str, id: NodeId, f: impl FnOnce(&mut Node)) {
        let before = self.persisted(id);
        self.digest
            .remove(path, self.nodes[id as usize].data(), &before);
        f(&mut self.nodes[id as usize]);
        let after = self.persisted(id);
        self.digest
            .add(path, self.nodes[id as usize].data(), &after);
    }

    // ---- applying transactions ----
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
                    t.data.as_deref(),
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
                    t.data.as_deref(),
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
                    t.data.as_deref(),
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
                self.set_data(&t.path, t.data.as_deref(), t.version, zxid, time, triggers)
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
        data: Option<&[u8]>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        if path == ROOT {
            return Err(ErrorCode::NodeExists);
        }
        let parent_path = parent_of(path);
        let name = name_of(path);
        let pid = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        let Place::New { h, .. } = self.place_under(pid, name) else {
            // Only possible when replaying the log over a fuzzy snapshot that
            // already holds this node: bring the parent's cversion and pzxid
            // up to what the create set, as ZooKeeper does on restore.
            if parent_cversion > self.nodes[pid as usize].cversion {
                self.update_stat(parent_path, pid, |p| {
                    p.cversion = parent_cversion;
                    p.pzxid = zxid;
                });
            }
            return Err(ErrorCode::NodeExists);
        };
        self.update_stat(parent_path, pid, |p| {
            let cversion = if parent_cversion == -1 {
                p.cversion + 1
            } else {
                parent_cversion
            };
            // A replayed create of a node that a fuzzy snapshot saw created and
            // deleted again must not move the parent's cversion backwards.
            if cversion > p.cversion {
                p.cversion = cversion;
                p.pzxid = zxid;
            }
        });
        let slot = self.acls.acquire(acl);
        let stat = new_stat(zxid, time, ephemeral_owner);
        let hash = TreeDigest::node_hash(path, data.unwrap_or_default(), &stat);
        let id = self.insert_node(path, pid, h, data, slot, &stat, hash);
        if let Some(target) = quota_target(parent_path) {
            if name == QUOTA_LIMITS {
                self.quotas.insert(target.to_owned());
            } else if name == QUOTA_STATS {
                self.update_quota_for_path(target);
            }
        }
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, data.map_or(0, <[u8]>::len) as i64, 1);
        }
        let parent_acl = self.acls.get(self.nodes[pid as usize].acl).clone();
        triggers.push(Trigger::Created {
            path: path.to_owned(),
            acl: self.acls.get(slot).clone(),
            parent: parent_path.to_owned(),
            parent_acl,
        });
        Ok(NodeRef { tree: self, id }.stat())
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        let parent_path = parent_of(path);
        let name = name_of(path);
        let pid = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        // As in ZooKeeper, the parent's pzxid moves even if the child is gone
        // already (a fuzzy snapshot may not hold it).
        if zxid > self.nodes[pid as usize].pzxid {
            self.update_stat(parent_path, pid, |p| p.pzxid = zxid);
        }
        let id = match self.child(pid, name.as_bytes()) {
            Some(id) if path != ROOT => id,
            _ => return Err(ErrorCode::NoNode),
        };
        if self.nodes[id as usize].child_count > 0 {
            // Never while serving (prep refuses NotEmpty). Replaying over a
            // fuzzy snapshot can meet a node that the snapshot caught with
            // children created after this delete; the log creates them again
            // later, so they go with it (ZooKeeper leaves them orphaned in its
            // path map until then).
            self.remove_descendants(path, id);
        }
        if name == QUOTA_LIMITS {
            if let Some(target) = quota_target(parent_path) {
                self.quotas.remove(target);
            }
        }
        let len = self.nodes[id as usize].data().len() as i64;
        let acl = self.acls.get(self.nodes[id as usize].acl).clone();
        self.remove_leaf(path, id);
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, -len, -1);
        }
        let parent_acl = self.acls.get(self.nodes[pid as usize].acl).clone();
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
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        let before = self.persisted(id);
        let n = &mut self.nodes[id as usize];
        let len = data.map_or(0, <[u8]>::len);
        let growth = len as i64 - n.data().len() as i64;
        self.digest.remove(path, n.data(), &before);
        self.data_size = self.data_size - n.data().len() as u64 + len as u64;
        n.set_data(data);
        n.mtime = time;
        n.mzxid = zxid;
        n.version = version;
        let after = self.persisted(id);
        self.digest
            .add(path, self.nodes[id as usize].data(), &after);
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, growth, 0);
        }
        triggers.push(Trigger::DataChanged {
            path: path.to_owned(),
            acl: self.acls.get(self.nodes[id as usize].acl).clone(),
        });
        Ok(NodeRef { tree: self, id }.stat())
    }

    // ---- quotas (ZooKeeper's updateQuotaStat, updateQuotaForPath, setupQuota) ----

    /// The quota `path` counts toward: the longest path with a quota that is
    /// `path` or one of its ancestors (a quota on `/` counts for nothing).
    fn quota_of(&self, path: &str) -> Option<String> {
        if self.quotas.is_empty() {
            return None;
        }
        let mut p = path;
        while p != ROOT {
            if self.quotas.contains(p) {
                return Some(p.to_owned());
            }
            p = parent_of(p);
        }
        None
    }

    /// Replace a node's data without a transaction (the server's own
    /// bookkeeping): its Stat stays, the digest and data size follow.
    fn set_data_in_place(&mut self, path: &str, id: NodeId, data: &[u8]) {
        let stat = self.persisted(id);
        let n = &mut self.nodes[id as usize];
        self.digest.remove(path, n.data(), &stat);
        self.data_size = self.data_size - n.data().len() as u64 + data.len() as u64;
        n.set_data(Some(data));
        self.digest.add(path, data, &stat);
    }

    /// Add to the usage `zookeeper_stats` of `quota` records; nothing if that
    /// node is missing (ZooKeeper logs and goes on).
    fn update_quota_stat(&mut self, quota: &str, bytes: i64, count: i64) {
        let stats = format!("{QUOTA_ZOOKEEPER}{quota}/{QUOTA_STATS}");
        let Some(id) = self.lookup(&stats) else {
            tracing::debug!("quota of {quota} has no {stats}");
            return;
        };
        let (c, b) = parse_stats(self.nodes[id as usize].data());
        let data = format!("count={},bytes={}", c + count, b + bytes);
        self.set_data_in_place(&stats, id, data.as_bytes());
    }

    /// Count the nodes and data bytes of `target`'s subtree into its
    /// `zookeeper_stats`, as ZooKeeper does when that node is created.
    fn update_quota_for_path(&mut self, target: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(id) = self.lookup(target) {
            let mut stack = vec![id];
            while let Some(id) = stack.pop() {
                let n = &self.nodes[id as usize];
                count += 1;
                bytes += n.data().len() as i64;
                let mut c = n.first_child;
                while c != NIL {
                    stack.push(c);
                    c = self.nodes[c as usize].next;
                }
            }
        }
        let stats = format!("{QUOTA_ZOOKEEPER}{target}/{QUOTA_STATS}");
        if let Some(id) = self.lookup(&stats) {
            let data = format!("count={count},bytes={bytes}");
            self.set_data_in_place(&stats, id, data.as_bytes());
        }
    }

    /// After loading a snapshot: every leaf `zookeeper_limits` under
    /// `/zookeeper/quota` sets a quota, whose usage is counted afresh.
    fn setup_quotas(&mut self) {
        let Some(qid) = self.lookup(QUOTA_ZOOKEEPER) else {
            return;
        };
        let mut targets = Vec::new();
        let mut stack = vec![(qid, QUOTA_ZOOKEEPER.to_owned())];
        while let Some((id, path)) = stack.pop() {
            let n = &self.nodes[id as usize];
            if n.child_count == 0 && n.name() == QUOTA_LIMITS.as_bytes() {
                if let Some(t) = quota_target(parent_of(&path)) {
                    targets.push(t.to_owned());
                }
            }
            let mut c = n.first_child;
            while c != NIL {
                stack.push((c, child_path(&path, self.nodes[c as usize].name())));
                c = self.nodes[c as usize].next;
            }
        }
        for t in targets {
            self.update_quota_for_path(&t);
            self.quotas.insert(t);
        }
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        let new = self.acls.acquire(acl);
        let old = std::mem::replace(&mut self.nodes[id as usize].acl, new);
        self.acls.release(old);
        self.update_stat(path, id, |n| n.aversion = version);
        Ok(NodeRef { tree: self, id }.stat())
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
    use bytes::Bytes;
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
            data: Some(Bytes::from_static(b"d")),
            acl: Acl::open_unsafe(),
            ephemeral: eph,
            parent_cversion: cv,
        })
    }

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
        let root = t.get("/").unwrap();
        assert_eq!(root.persisted().cversion, 1);
        let root = root.stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 2, 2));
        assert_eq!(tr.len(), 1);
        // Delete moves pzxid; the stored cversion counts creates only, the
        // client's goes up with the delete too.
        t.apply(
            &txn(3, op::DELETE, TxnBody::Delete { path: "/a".into() }),
            &mut tr,
        );
        let root = t.get("/").unwrap();
        assert_eq!(root.persisted().cversion, 1);
        let root = root.stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 3, 1));
    }

    fn set(path: &str, data: &'static [u8]) -> TxnBody {
        TxnBody::SetData(SetDataTxn {
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            version: 1,
        })
    }

    fn stats_of(t: &DataTree, path: &str) -> String {
        let p = format!("{QUOTA_ZOOKEEPER}{path}/{QUOTA_STATS}");
        String::from_utf8(t.get(&p).unwrap().data().to_vec()).unwrap()
    }

    #[test]
    fn quota_stats_follow_the_subtree_as_zookeeper_keeps_them() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let mut z = 1;
        let mut apply = |t: &mut DataTree, ty: i32, b: TxnBody| {
            z += 1;
            let rc = t.apply(&txn(z, ty, b), &mut tr);
            assert_eq!(rc.err, 0, "zxid {z}");
        };
        apply(&mut t, op::CREATE, create("/q", -1, false)); // data "d"
        apply(&mut t, op::CREATE, create("/q/a", -1, false));
        // zkCli's setquota: the limits node, then the stats node (count=0).
        for p in ["/zookeeper/quota/q", "/zookeeper/quota/q/zookeeper_limits"] {
            apply(&mut t, op::CREATE, create(p, -1, false));
        }
        let stats = TxnBody::Create(CreateTxn {
            path: "/zookeeper/quota/q/zookeeper_stats".into(),
            data: Some(Bytes::from_static(b"count=0,bytes=0")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        });
        apply(&mut t, op::CREATE, stats);
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=2");
        apply(&mut t, op::CREATE, create("/q/a/b", -1, false));
        apply(&mut t, op::SET_DATA, set("/q/a", b"12345"));
        assert_eq!(stats_of(&t, "/q"), "count=3,bytes=7");
        apply(
            &mut t,
            op::DELETE,
            TxnBody::Delete {
                path: "/q/a/b".into(),
            },
        );
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
        // Outside the quota: nothing changes.
        apply(&mut t, op::CREATE, create("/qq", -1, false));
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
        // The stats node keeps its Stat; the digest follows its data.
        let n = t.get("/zookeeper/quota/q/zookeeper_stats").unwrap();
        assert_eq!((n.stat().version, n.stat().data_length), (0, 15));
        let mut d = TreeDigest::new();
        for (p, n) in t.iter() {
            d.add(&p, n.data(), &n.persisted());
        }
        assert_eq!(d.value(), t.digest());
        // A tree loaded from these nodes counts the usage afresh.
        let mut back = DataTree::empty(false);
        for a in t.acl_entries() {
            back.load_acl(a.id, a.acl.clone());
        }
        let nodes: Vec<(String, Vec<u8>, i64, StatPersisted)> = t
            .iter()
            .map(|(p, n)| (p, n.data().to_vec(), n.acl().id, n.persisted()))
            .collect();
        for (p, data, acl, stat) in &nodes {
            let data = if p.ends_with(QUOTA_STATS) {
                &b"count=9,bytes=9"[..]
            } else {
                data
            };
            back.load_node(p, Some(data), *acl, *stat).unwrap();
        }
        back.finish_load(t.last_processed_zxid()).unwrap();
        assert_eq!(stats_of(&back, "/q"), "count=2,bytes=6");
        // Deleting the limits node ends the quota.
        apply(
            &mut t,
            op::DELETE,
            TxnBody::Delete {
                path: "/zookeeper/quota/q/zookeeper_limits".into(),
            },
        );
        apply(&mut t, op::CREATE, create("/q/c", -1, false));
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
    }

    #[test]
    fn replaying_a_create_is_harmless() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let c = txn(2, op::CREATE, create("/a", 1, false));
        t.apply(&c, &mut tr);
        let rc = t.apply(&c, &mut tr);
        assert_eq!(rc.err, ErrorCode::NodeExists.code());
        assert_eq!(t.get("/").unwrap().persisted().cversion, 1);
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
                    data: Some(Bytes::from_static(b"xyz")),
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

    /// A node a snapshot lists twice takes the later entry, as a map would:
    /// data, Stat, ACL, digest and counts as if only that one were listed.
    #[test]
    fn snapshot_node_listed_twice_takes_the_later_entry() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        for (z, p) in [(2, "/a"), (3, "/a/b")] {
            let rc = t.apply(&txn(z, op::CREATE, create(p, -1, false)), &mut tr);
            assert_eq!(rc.err, 0);
        }
        let nodes: Vec<(String, Option<Vec<u8>>, i64, StatPersisted)> = t
            .iter()
            .map(|(p, n)| {
                (
                    p,
                    n.data_opt().map(<[u8]>::to_vec),
                    n.acl().id,
                    n.persisted(),
                )
            })
            .collect();
        let acls: Vec<_> = t.acl_entries().cloned().collect();
        let load = |twice: bool| {
            let mut back = DataTree::with_capacity(false, 8);
            for a in &acls {
                back.load_acl(a.id, a.acl.clone());
            }
            for (p, data, acl, stat) in &nodes {
                if twice && p == "/a" {
                    let mut older = *stat;
                    older.version = 7;
                    back.load_node(p, Some(b"older and longer"), *acl, older)
                        .unwrap();
                }
                back.load_node(p, data.as_deref(), *acl, *stat).unwrap();
            }
            back.finish_load(t.last_processed_zxid()).unwrap();
            back
        };
        let (once, twice) = (load(false), load(true));
        assert_eq!(twice.node_count(), once.node_count());
        assert_eq!(twice.digest(), once.digest());
        assert_eq!(twice.digest(), t.digest());
        let a = twice.get("/a").unwrap();
        assert_eq!((a.data(), a.stat().version), (&b"d"[..], 0));
        assert_eq!(twice.get("/a/b").unwrap().stat().version, 0);
        assert_eq!(
            twice.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            once.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
}
