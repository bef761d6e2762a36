//! Building a tree from a snapshot.
//!
//! A snapshot loads on three threads (`persist/load.rs` runs them): the parser
//! (and, for a share of the entries, the builder itself) prepares each node
//! with the tree's [`NodePreparer`] (its path split, its
//! name hashed under the index's keys, its name and data already in the
//! allocation the tree keeps) and hashes them for the digest, four at a
//! time ([`LoadingNode::hash_together`]); the builder hands them to
//! [`DataTree::load_prepared`], which is left only the parent lookup, the
//! index and the links. [`DataTree::with_capacity`] sizes the arena and the
//! index from the snapshot's count, on transparent huge pages, and
//! [`DataTree::prefetch_loading`] brings a coming node's index slot into the
//! cache. [`DataTree::finish_load`] ends the load: quotas are counted afresh
//! (`quota.rs`) and the tree takes the snapshot's zxid.
//!
//! Reading and checking the file (crc, digest, entries) is `persist`'s and
//! `zab-storage`'s; placing and inserting a node is the arena's (`arena.rs`).

use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::TreeDigest;

use super::index::name_hash;
use super::node::{cold_of, owner_kind, Node};
use super::record::Record;
use super::{parent_of, split, DataTree, Place, ROOT};

/// A snapshot's node made ready for [`DataTree::load_prepared`], by a
/// [`NodePreparer`] on another thread than the one building the tree: its
/// path split, the name's part of the index hash, and the name and data
/// already in the record the tree keeps.
pub struct LoadingNode<'a> {
    path: &'a str,
    /// The data as the snapshot holds it (empty for null), for the digest hash.
    data: &'a [u8],
    parent: &'a str,
    name: &'a str,
    name_hash: u64,
    /// Its parent is the previous node's parent (as snapshots list siblings
    /// together): the builder reuses that parent without comparing paths.
    same_parent: bool,
    rec: Record,
    data_len: usize,
    data_null: bool,
    acl_id: i64,
    stat: StatPersisted,
    /// Its digest hash, once [`LoadingNode::hash`] or
    /// [`LoadingNode::hash_together`] computed it.
    node_hash: Option<u64>,
}

/// Prepares snapshot nodes for one tree ([`DataTree::node_preparer`]).
#[derive(Clone)]
pub struct NodePreparer {
    keys: [u64; 3],
}

impl<'a> LoadingNode<'a> {
    /// The parent's path ("" for the root).
    pub fn parent(&self) -> &'a str {
        self.parent
    }

    /// Compute the node's digest hash ([`TreeDigest::node_hash`]) and return it.
    pub fn hash(&mut self) -> u64 {
        let h = TreeDigest::node_hash(self.path, self.data, &self.stat);
        self.node_hash = Some(h);
        h
    }

    /// [`LoadingNode::hash`] of `N` nodes at once
    /// ([`TreeDigest::node_hashes`]: four cost about as much as one).
    pub fn hash_together<const N: usize>(nodes: [&mut LoadingNode<'_>; N]) -> [u64; N] {
        let h = TreeDigest::node_hashes(std::array::from_fn(|k| {
            let n = &nodes[k];
            (n.path, n.data, &n.stat)
        }));
        for (n, h) in nodes.into_iter().zip(h) {
            n.node_hash = Some(h);
        }
        h
    }
}

impl NodePreparer {
    /// `prev_parent` is the parent path of the node prepared before this
    /// one, if any (its [`LoadingNode::parent`]): comparing them here, where
    /// the path was just read, spares the builder. The node is yet to be
    /// hashed ([`LoadingNode::hash`]) before it is loaded.
    pub fn prepare<'a>(
        &self,
        path: &'a str,
        data: Option<&'a [u8]>,
        acl_id: i64,
        stat: StatPersisted,
        prev_parent: Option<&str>,
    ) -> LoadingNode<'a> {
        let (parent, name) = if path == ROOT { ("", "") } else { split(path) };
        LoadingNode {
            path,
            data: data.unwrap_or_default(),
            parent,
            name,
            name_hash: name_hash(&self.keys, name.as_bytes()),
            same_parent: path != ROOT && prev_parent == Some(parent),
            rec: Record::new(name.as_bytes(), data.unwrap_or_default(), &cold_of(&stat)),
            data_len: data.map_or(0, <[u8]>::len),
            data_null: data.is_none(),
            acl_id,
            stat,
            node_hash: None,
        }
    }
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

/// Address ranges of the memory a tree sized for a snapshot is still to fill
/// ([`DataTree::fresh_memory`]): the arena's spare capacity and the index's
/// control bytes. Plain numbers, so another thread can fault the pages in
/// ([`FreshMemory::populate`]) while the builder fills them.
pub struct FreshMemory(Vec<(usize, usize)>);

impl FreshMemory {
    /// Fault the ranges' pages in now, writable, in one call per range
    /// (`MADV_POPULATE_WRITE`, Linux 5.14 and later): the kernel zeroes and
    /// maps them here instead of one fault at a time in the thread that
    /// writes them first. Changes no byte of the memory (pages already
    /// present are left as they are), so it may run while another thread
    /// writes there; only a hint: an older kernel says no and nothing changes.
    pub fn populate(&self) {
        #[cfg(target_os = "linux")]
        for &(from, to) in &self.0 {
            // SAFETY: MADV_POPULATE_WRITE only prefaults pages of the range,
            // never changes their contents; on a range no longer mapped it
            // fails, which is ignored.
            unsafe {
                libc::madvise(
                    from as *mut libc::c_void,
                    to - from,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
}

/// The whole pages inside `buf`, as an address range (empty if none).
fn whole_pages<T>(buf: &[T]) -> (usize, usize) {
    const PAGE: usize = 4096;
    let start = buf.as_ptr() as usize;
    let end = start + std::mem::size_of_val(buf);
    let (from, to) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    (from, to.max(from))
}

impl DataTree {
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

    /// The memory this tree, just made by [`DataTree::with_capacity`], is
    /// yet to fill while loading.
    pub fn fresh_memory(&mut self) -> FreshMemory {
        FreshMemory(vec![
            whole_pages(self.nodes.spare_capacity_mut()),
            whole_pages(&self.index.ctrl[..]),
        ])
    }

    /// Take Apache's digest of the nodes to be loaded from the snapshot
    /// (its trailer's `apache_digest`, version 3 on: the writer's sum over
    /// exactly the node entries of the file) instead of computing each
    /// node's CRC while loading. Before the first node; until
    /// [`DataTree::finish_load`], a node loaded adds nothing to Apache's
    /// digest, and a node listed twice takes its earlier entry's part out.
    pub fn preset_apache_digest(&mut self, sum: u64) {
        assert!(
            self.nodes.is_empty(),
            "Apache's digest is preset before the first node"
        );
        self.digest.apache = sum;
        self.apache_preset = true;
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
        let mut n = self.node_preparer().prepare(path, data, acl_id, stat, None);
        n.node_hash = Some(node_hash);
        self.load_prepared(n)
    }

    /// What prepares snapshot nodes for this tree on another thread.
    pub fn node_preparer(&self) -> NodePreparer {
        NodePreparer {
            keys: self.index.keys,
        }
    }

    /// [`DataTree::load_hashed_node`] of a node prepared by this tree's
    /// [`NodePreparer`] and hashed.
    pub fn load_prepared(&mut self, n: LoadingNode<'_>) -> Result<(), String> {
        let LoadingNode {
            path,
            data: _,
            parent: parent_path,
            name,
            name_hash,
            same_parent,
            rec,
            data_len,
            data_null,
            acl_id,
            stat,
            node_hash,
        } = n;
        let node_hash = node_hash.expect("a snapshot's node is hashed before it is loaded");
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
                Some((_, id)) if same_parent => Ok(*id),
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
                let kind = owner_kind(stat.ephemeral_owner);
                let node = Node::with_record(rec, data_null, slot, &stat, kind);
                let owner = stat.ephemeral_owner;
                self.insert_built(path, parent, h, node, data_len, owner, node_hash);
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
                n.replace(rec, data_null, &stat);
                let data_len = n.data().len() as u64;
                self.set_owner(id, stat.ephemeral_owner);
                self.digest.add_hash(node_hash);
                // A preset digest counts both entries: the earlier one's
                // part went with `remove` above, the later one's is in it.
                if !self.apache_preset {
                    self.digest
                        .add_apache(path, self.nodes[id as usize].data(), &stat);
                }
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
        self.apache_preset = false;
        if self.nodes.is_empty() {
            return Err("snapshot has no root node".into());
        }
        self.setup_quotas();
        self.last_processed_zxid = zxid;
        Ok(())
    }

    /// A hint, while loading a snapshot, that node `n` comes soon: when its
    /// parent is the last parent resolved (siblings come together in a
    /// snapshot), its index slot is fetched into the cache.
    pub fn prefetch_loading(&self, n: &LoadingNode<'_>) {
        if let (Some((_, id)), true) = (&self.last_parent, n.same_parent) {
            self.index.prefetch(self.index.combine(*id, n.name_hash));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::testutil::{create, txn};
    use zab_core::proto::op;

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
        // `preset`: Apache's digest given as a version 3 file's writer sums
        // it, over every entry, the earlier of the two included.
        let load = |twice: bool, preset: bool| {
            let mut entries = Vec::new();
            for (p, data, acl, stat) in &nodes {
                if twice && p == "/a" {
                    let mut older = *stat;
                    older.version = 7;
                    entries.push((p, Some(&b"older and longer"[..]), *acl, older));
                }
                entries.push((p, data.as_deref(), *acl, *stat));
            }
            let mut back = DataTree::with_capacity(false, 8);
            if preset {
                back.preset_apache_digest(entries.iter().fold(0u64, |sum, (p, d, _, st)| {
                    sum.wrapping_add(zab_storage::apache_snapshot::apache_node_digest(
                        p,
                        d.unwrap_or_default(),
                        st,
                    ))
                }));
            }
            for a in &acls {
                back.load_acl(a.id, a.acl.clone());
            }
            for (p, data, acl, stat) in entries {
                back.load_node(p, data, acl, stat).unwrap();
            }
            back.finish_load(t.last_processed_zxid()).unwrap();
            back
        };
        let (once, twice) = (load(false, false), load(true, false));
        assert_eq!(twice.node_count(), once.node_count());
        assert_eq!(twice.digest(), once.digest());
        assert_eq!(twice.digest(), t.digest());
        assert_eq!(twice.apache_digest(), t.apache_digest());
        for tw in [false, true] {
            assert_eq!(
                load(tw, true).apache_digest(),
                t.apache_digest(),
                "twice {tw}"
            );
        }
        let a = twice.get("/a").unwrap();
        assert_eq!((a.data(), a.stat().version), (&b"d"[..], 0));
        assert_eq!(twice.get("/a/b").unwrap().stat().version, 0);
        assert_eq!(
            twice.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            once.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
}
