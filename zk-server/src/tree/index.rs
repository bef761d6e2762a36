//! The path index: an open-addressing hash table of node ids keyed by
//! `(parent id, name)`, and its keyed hash.
//!
//! ```text
//! index := ctrl: [u8; slots]     ; EMPTY | DELETED | 0x80 | 7 bits of the hash
//!          ids:  [NodeId; slots] ; the node whose key hashed here
//! ```
//!
//! The key is read from the node itself (its `parent` and name), so the
//! index stores no names; a probe touches a node only when the control byte's
//! tag matches. The name is hashed on its own ([`name_hash`]) so that a
//! snapshot's loader can do that part on another thread (`load.rs`).
//!
//! The index does not own the nodes: the arena (`arena.rs`) passes them in
//! and keeps the index in step with every insert and removal.

use std::hash::{BuildHasher, RandomState};

use super::node::{Node, NodeId, NIL};

fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = (x as u128) * (y as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The name's part of [`ChildIndex::hash`], under the index's keys.
pub(super) fn name_hash(keys: &[u64; 3], name: &[u8]) -> u64 {
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

/// A hint that `x` is about to be read; no effect on what the program does.
/// Ask the CPU to bring the cache line at `p` into the cache; `p` need not
/// point at anything (a prefetch never faults and reads nothing the program sees).
#[inline(always)]
pub(super) fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint to the cache; it never faults,
    // whatever the address, and changes no memory.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline(always)]
pub(super) fn prefetch_read<T>(x: &T) {
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

/// The slot after `i` in a table of `slots`, wrapping.
fn next(i: usize, slots: usize) -> usize {
    if i + 1 == slots {
        0
    } else {
        i + 1
    }
}
const DELETED: u8 = 1;

/// The tag is the hash's low 7 bits: the slot comes from its high bits
/// ([`ChildIndex::start`]), so neighbours in the table still differ in tags.
fn tag_of(h: u64) -> u8 {
    0x80 | (h & 0x7f) as u8
}

/// The path index: an open-addressing hash table (linear probing, tombstones)
/// of node ids keyed by `(parent id, name)`, the key being read from the node
/// itself. At most 7/8 full, counting tombstones. Any number of slots, not
/// only a power of two (a slot is picked by multiplying, not masking): a
/// million nodes need 1.3 million slots (6.4 bytes a node) rather than two
/// million (10.5).
pub(super) struct ChildIndex {
    pub(super) ctrl: Vec<u8>,
    pub(super) ids: Vec<NodeId>,
    items: usize,
    deleted: usize,
    /// Per-tree random keys of the hash.
    pub(super) keys: [u64; 3],
}

impl ChildIndex {
    pub(super) fn new() -> ChildIndex {
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
    pub(super) fn hash(&self, parent: NodeId, name: &[u8]) -> u64 {
        self.combine(parent, name_hash(&self.keys, name))
    }

    /// The hash of `(parent, name)` from the name's [`name_hash`].
    pub(super) fn combine(&self, parent: NodeId, name_hash: u64) -> u64 {
        folded_multiply(name_hash ^ parent as u64, self.keys[2])
    }

    /// The first slot a probe for `h` looks at: `h` scaled to the table
    /// (Lemire's multiply-shift), from the hash's high bits.
    fn start(&self, h: u64) -> usize {
        ((h as u128 * self.ids.len() as u128) >> 64) as usize
    }

    pub(super) fn find(
        &self,
        nodes: &[Node],
        parent: NodeId,
        name: &[u8],
        h: u64,
    ) -> Option<NodeId> {
        if self.ids.is_empty() {
            return None;
        }
        let slots = self.ids.len();
        let tag = tag_of(h);
        let mut i = self.start(h);
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
            i = next(i, slots);
        }
    }

    /// Ask the CPU to bring the slots that a probe for `h` starts at into
    /// the cache. Loading a snapshot looks up each node's slot once, at
    /// random in a table of megabytes: one cache miss per node, which the
    /// loader hides by announcing a node several entries ahead.
    pub(super) fn prefetch(&self, h: u64) {
        if self.ids.is_empty() {
            return;
        }
        let i = self.start(h);
        prefetch_read(&self.ctrl[i]);
        prefetch_read(&self.ids[i]);
    }

    /// Add `id`, whose `(parent, name)` hashes to `h` and is not in the index yet.
    /// The first node whose slot's tag matches `h` (the one `find` would
    /// compare first), without reading any node: for a prefetch once the
    /// slot is in the cache.
    pub(super) fn first_candidate(&self, h: u64) -> Option<NodeId> {
        if self.ids.is_empty() {
            return None;
        }
        let (slots, tag) = (self.ids.len(), tag_of(h));
        let mut i = self.start(h);
        loop {
            match self.ctrl[i] {
                EMPTY => return None,
                c if c == tag => return Some(self.ids[i]),
                _ => i = next(i, slots),
            }
        }
    }

    pub(super) fn insert(&mut self, nodes: &[Node], id: NodeId, h: u64) {
        if (self.items + self.deleted + 1) * 8 > self.ids.len() * 7 {
            // Grow by half of what is live: amortised, and tombstones go.
            self.rehash(nodes, (self.items + 1) * 3 / 2);
        }
        let slots = self.ids.len();
        let mut i = self.start(h);
        loop {
            match self.ctrl[i] {
                EMPTY => break,
                DELETED => {
                    self.deleted -= 1;
                    break;
                }
                _ => i = next(i, slots),
            }
        }
        self.ctrl[i] = tag_of(h);
        self.ids[i] = id;
        self.items += 1;
    }

    /// Remove `id`, whose key hashes to `h`.
    pub(super) fn remove(&mut self, id: NodeId, h: u64) {
        let slots = self.ids.len();
        let tag = tag_of(h);
        let mut i = self.start(h);
        loop {
            let c = self.ctrl[i];
            assert!(c != EMPTY, "node {id} is missing from the path index");
            if c == tag && self.ids[i] == id {
                break;
            }
            i = next(i, slots);
        }
        // A probe that reaches this slot goes on to the next one; if that one
        // is empty, no probe needs this slot any more.
        if self.ctrl[next(i, slots)] == EMPTY {
            self.ctrl[i] = EMPTY;
        } else {
            self.ctrl[i] = DELETED;
            self.deleted += 1;
        }
        self.items -= 1;
    }

    /// Make room for `want` entries without tombstones.
    fn rehash(&mut self, nodes: &[Node], want: usize) {
        let slots = (want * 8 / 7 + 1).max(16);
        let mut ctrl = vec![EMPTY; slots];
        let mut ids = vec![NIL; slots];
        // Walk the arena in order (not the old table) so that reading the
        // keys streams through memory.
        for (id, n) in nodes.iter().enumerate() {
            if n.parent == NIL {
                continue; // the root, or a free slot
            }
            let id = id as NodeId;
            let h = self.hash(n.parent, n.name());
            let mut i = ((h as u128 * slots as u128) >> 64) as usize;
            while ctrl[i] != EMPTY {
                i = next(i, slots);
            }
            ctrl[i] = tag_of(h);
            ids[i] = id;
        }
        self.ctrl = ctrl;
        self.ids = ids;
        self.deleted = 0;
    }

    /// Room for `additional` more entries (a snapshot's count), and an
    /// eighth more so that the creates after a load do not rehash at once.
    pub(super) fn reserve(&mut self, nodes: &[Node], additional: usize) {
        let want = self.items + additional;
        if (want + self.deleted) * 8 > self.ids.len() * 7 {
            self.rehash(nodes, want + want / 8);
        }
    }
}
