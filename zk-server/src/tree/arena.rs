//! The arena: where the tree's nodes live and how they hang together.
//!
//! ```text
//! nodes    := Vec<Node>, indexed by NodeId (u32); freed slots are reused,
//!             linked through Node::next from DataTree::free
//! children := a doubly linked list per parent (first_child, next, prev);
//!             the first child's prev is the last child
//! ```
//!
//! These are the only functions that add a node to the arena or take one
//! out, and each keeps what is derived from the nodes in step: the path
//! index (`index.rs`), the digest, the data size and the ephemeral,
//! container and TTL sets. Removing a node releases its ACL slot (`acl.rs`);
//! inserting one leaves counting it to the caller. Resolving a path goes
//! through here too (`lookup`). What a change means for a parent's Stat,
//! quotas or watches is left to the callers (`apply.rs`, `load.rs`).

use zab_core::records::StatPersisted;

use super::node::{name_str, owner_kind, Node, NodeId, Owner, NIL, ROOT_ID};
use super::{
    child_path, name_of, parent_of, split, DataTree, EphemeralKind, CONTAINER_EPHEMERAL_OWNER, ROOT,
};

/// Where a node at some path goes.
pub(super) enum Place {
    /// Under `parent` (`NIL`: the root of an empty tree); `h` hashes its index key.
    New { parent: NodeId, h: u64 },
    /// The node is there already.
    Exists(NodeId),
}

/// What [`DataTree::prefetch_path`] learnt of a path a replay comes to
/// soon, for the later stages of its prefetch.
#[derive(Clone, Copy, Debug)]
pub struct PathPrefetch {
    /// The path's index hash, when its parent was found.
    h: Option<u64>,
    /// The node the index slot names (from [`DataTree::prefetch_node`]).
    id: NodeId,
}

impl DataTree {
    /// The first of three prefetch stages for a log's replay, which reaches
    /// nodes at random, each a chain of cache misses (index slot, node,
    /// record): `path` is a few transactions ahead. Resolves its parent
    /// (near the root, so in the cache) and fetches the index slot of the
    /// name. Later stages: [`DataTree::prefetch_node`], then
    /// [`DataTree::prefetch_record`]. Only hints: the transactions between
    /// may change the tree, which makes a stage fetch the wrong line, never
    /// read a wrong value.
    pub fn prefetch_path(&self, path: &str) -> PathPrefetch {
        let mut p = PathPrefetch { h: None, id: NIL };
        if path == ROOT || !path.starts_with('/') {
            return p;
        }
        let (parent, name) = split(path);
        if let Some(parent) = self.lookup(parent) {
            let h = self.index.hash(parent, name.as_bytes());
            self.index.prefetch(h);
            p.h = Some(h);
        }
        p
    }

    /// The second stage: the index slot is in the cache; fetch the node it names.
    pub fn prefetch_node(&self, p: &mut PathPrefetch) {
        if let Some(id) = p.h.and_then(|h| self.index.first_candidate(h)) {
            if let Some(n) = self.nodes.get(id as usize) {
                super::index::prefetch_read(n);
                p.id = id;
            }
        }
    }

    /// The third stage: the node is in the cache; fetch its record (name,
    /// Stat and the first 128 bytes or so of its data).
    pub fn prefetch_record(&self, p: &PathPrefetch) {
        if let Some(Some(r)) = self.nodes.get(p.id as usize).map(|n| &n.rec) {
            r.prefetch_lines(3);
        }
    }

    /// The node at `path`, resolved one component at a time.
    pub(super) fn lookup(&self, path: &str) -> Option<NodeId> {
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

    pub(super) fn child(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        let h = self.index.hash(parent, name);
        self.index.find(&self.nodes, parent, name, h)
    }

    pub(super) fn path_of(&self, id: NodeId) -> String {
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

    pub(super) fn set_owner(&mut self, id: NodeId, owner: i64) {
        let kind = owner_kind(owner);
        self.nodes[id as usize].owner = kind;
        if kind == Owner::Other {
            self.owners.insert(id, owner);
        } else {
            self.owners.remove(&id);
        }
    }

    pub(super) fn persisted(&self, id: NodeId) -> StatPersisted {
        let n = &self.nodes[id as usize];
        let c = n.cold();
        StatPersisted {
            czxid: c.czxid,
            mzxid: c.mzxid,
            ctime: c.ctime,
            mtime: c.mtime,
            version: c.version,
            cversion: n.cversion,
            aversion: c.aversion,
            ephemeral_owner: self.owner(id),
            pzxid: n.pzxid,
        }
    }

    /// Where a node at `path` goes; `Err` if its parent is missing.
    pub(super) fn place(&self, path: &str) -> Result<Place, ()> {
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

    pub(super) fn place_under(&self, parent: NodeId, name: &str) -> Place {
        self.place_hashed(parent, name, self.index.hash(parent, name.as_bytes()))
    }

    /// [`DataTree::place_under`] where `h` is the index hash of `(parent, name)`.
    pub(super) fn place_hashed(&self, parent: NodeId, name: &str, h: u64) -> Place {
        match self.index.find(&self.nodes, parent, name.as_bytes(), h) {
            Some(id) => Place::Exists(id),
            None => Place::New { parent, h },
        }
    }

    /// Add a node under `parent` (`NIL` for the root of an empty tree);
    /// `h` is the index hash of `(parent, name)` and the node is not there
    /// yet. The caller has counted the node as a user of ACL `acl` and passes
    /// its digest hash. Keeps the index, digest, data size and ephemeral sets;
    /// does not touch the parent's Stat.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_node(
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
        let data_len = data.map_or(0, <[u8]>::len);
        self.insert_built(
            path,
            parent,
            h,
            node,
            data_len,
            stat.ephemeral_owner,
            node_hash,
        )
    }

    /// [`DataTree::insert_node`] of a node already built; `data_len` is its
    /// data's length (known to the caller: reading it back from the record
    /// would be a cache miss per node while loading a snapshot), `owner` its
    /// ephemeral owner (the session id, or ZooKeeper's marks).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_built(
        &mut self,
        path: &str,
        parent: NodeId,
        h: u64,
        node: Node,
        data_len: usize,
        owner: i64,
        node_hash: u64,
    ) -> NodeId {
        debug_assert_eq!(data_len, node.data().len());
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
        if !self.apache_preset {
            let stat = self.persisted(id);
            self.digest
                .add_apache(path, self.nodes[id as usize].data(), &stat);
        }
        self.data_size += (path.len() + data_len) as u64;
        self.track(path, owner);
        id
    }

    /// Remove a node that has no children: index, parent's list, ACL user,
    /// digest, data size, ephemeral sets. Does not touch the parent's Stat.
    pub(super) fn remove_leaf(&mut self, path: &str, id: NodeId) {
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
        n.rec = None;
        n.owner = Owner::Free;
        n.parent = NIL;
        n.next = self.free;
        self.free = id;
        self.live -= 1;
    }

    /// Remove the descendants of `id` (never while serving: see `delete_node`).
    pub(super) fn remove_descendants(&mut self, path: &str, id: NodeId) {
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
    pub(super) fn track(&mut self, path: &str, owner: i64) {
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

    pub(super) fn untrack(&mut self, path: &str, id: NodeId) {
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
    pub(super) fn update_stat(&mut self, path: &str, id: NodeId, f: impl FnOnce(&mut Node)) {
        let before = self.persisted(id);
        self.digest
            .remove(path, self.nodes[id as usize].data(), &before);
        f(&mut self.nodes[id as usize]);
        let after = self.persisted(id);
        self.digest
            .add(path, self.nodes[id as usize].data(), &after);
    }
}
