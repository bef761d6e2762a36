//! The tree digest stored in a snapshot and checked when it is loaded.
//!
//! ```text
//! node_hash(path, data, stat) = fmix64(h) where
//!   h = K0
//!   h = absorb(h, path bytes); h = absorb(h, data bytes)
//!   h = round(h, x) for x in czxid, mzxid, ctime, mtime, version, cversion,
//!                            aversion, ephemeral_owner, pzxid   (each as u64)
//! absorb(h, b)  = round over the little-endian 8-byte words of b (the last one
//!                 zero-padded), then round(h, len(b))
//! round(h, x)   = rotl64((h ^ x) * M, 29)             ; wrapping multiply
//! fmix64        = the MurmurHash3 64-bit finalizer
//! K0 = 0x5a42_5f54_5245_4531, M = 0x9e37_79b9_7f4a_7c15
//!
//! tree_digest   = sum of node_hash over all nodes, wrapping mod 2^64
//! ```
//!
//! A wrapping sum is order-independent (the snapshot is written while the tree
//! changes, and children are in no particular order) and incremental: the tree
//! adds a node's hash when the node appears and subtracts it when the node goes
//! or changes, so it always knows its digest without a full walk. This is a
//! consistency check against bugs and corruption, not a cryptographic hash.

use zab_core::records::StatPersisted;

const K0: u64 = 0x5a42_5f54_5245_4531;
const M: u64 = 0x9e37_79b9_7f4a_7c15;

/// An order-independent digest of a data tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TreeDigest(pub u64);

impl TreeDigest {
    pub fn new() -> TreeDigest {
        TreeDigest(0)
    }

    /// The hash one node contributes.
    pub fn node_hash(path: &str, data: &[u8], stat: &StatPersisted) -> u64 {
        let mut h = absorb(K0, path.as_bytes());
        h = absorb(h, data);
        for x in stat_words(stat) {
            h = round(h, x);
        }
        fmix64(h)
    }

    /// [`TreeDigest::node_hash`] of `N` nodes at once. Each node's hash is
    /// one chain of dependent multiplies (27 for a 17-byte path and 100 bytes
    /// of data, 5 cycles each), which the CPU cannot overlap with itself;
    /// stepping `N` chains side by side lets it work on all of them (a
    /// multiply can start every cycle), so a loader hashing a million nodes
    /// four at a time pays for about a quarter of them.
    pub fn node_hashes<const N: usize>(nodes: [(&str, &[u8], &StatPersisted); N]) -> [u64; N] {
        let h = absorb_n([K0; N], nodes.map(|n| n.0.as_bytes()));
        let mut h = absorb_n(h, nodes.map(|n| n.1));
        let stats = nodes.map(|n| stat_words(n.2));
        for i in 0..9 {
            for (h, s) in h.iter_mut().zip(&stats) {
                *h = round(*h, s[i]);
            }
        }
        h.map(fmix64)
    }

    pub fn add(&mut self, path: &str, data: &[u8], stat: &StatPersisted) {
        self.add_hash(Self::node_hash(path, data, stat));
    }

    pub fn remove(&mut self, path: &str, data: &[u8], stat: &StatPersisted) {
        self.remove_hash(Self::node_hash(path, data, stat));
    }

    pub fn add_hash(&mut self, h: u64) {
        self.0 = self.0.wrapping_add(h);
    }

    pub fn remove_hash(&mut self, h: u64) {
        self.0 = self.0.wrapping_sub(h);
    }

    pub fn value(self) -> u64 {
        self.0
    }
}

#[inline]
fn round(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(M).rotate_left(29)
}

/// The Stat's fields in the order the hash takes them.
#[inline]
fn stat_words(stat: &StatPersisted) -> [u64; 9] {
    [
        stat.czxid as u64,
        stat.mzxid as u64,
        stat.ctime as u64,
        stat.mtime as u64,
        stat.version as i64 as u64,
        stat.cversion as i64 as u64,
        stat.aversion as i64 as u64,
        stat.ephemeral_owner as u64,
        stat.pzxid as u64,
    ]
}

#[inline]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap())
}

#[inline]
fn absorb(h: u64, b: &[u8]) -> u64 {
    absorb_from(h, b, 0)
}

/// `absorb` of `N` byte strings into `h`, the words they all have stepped
/// side by side; the rest also side by side when they are the same shape
/// (as many whole words, a last part word or not), as siblings' names and
/// values often are, else each alone.
#[inline(always)]
fn absorb_n<const N: usize>(mut h: [u64; N], b: [&[u8]; N]) -> [u64; N] {
    let common = b.iter().map(|b| b.len() / 8).min().unwrap_or(0);
    for i in 0..common {
        for k in 0..N {
            h[k] = round(h[k], word(b[k], i));
        }
    }
    let shape = |b: &[u8]| (b.len() / 8, !b.len().is_multiple_of(8));
    if N == 0 || b.iter().any(|x| shape(x) != shape(b[0])) {
        for k in 0..N {
            h[k] = absorb_from(h[k], b[k], common);
        }
        return h;
    }
    if !b[0].len().is_multiple_of(8) {
        for k in 0..N {
            let rest = &b[k][8 * common..];
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h[k] = round(h[k], u64::from_le_bytes(w));
        }
    }
    for k in 0..N {
        h[k] = round(h[k], b[k].len() as u64);
    }
    h
}

/// `absorb` of `b` whose first `words` 8-byte words are already in `h`.
#[inline]
fn absorb_from(mut h: u64, b: &[u8], words: usize) -> u64 {
    let mut chunks = b[8 * words..].chunks_exact(8);
    for c in &mut chunks {
        h = round(h, u64::from_le_bytes(c.try_into().unwrap()));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = round(h, u64::from_le_bytes(w));
    }
    round(h, b.len() as u64)
}

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_order_independent_and_removable() {
        let s = StatPersisted::default();
        let mut a = TreeDigest::new();
        a.add("/a", b"1", &s);
        a.add("/b", b"2", &s);
        let mut b = TreeDigest::new();
        b.add("/b", b"2", &s);
        b.add("/a", b"1", &s);
        assert_eq!(a, b);
        b.remove("/b", b"2", &s);
        let mut c = TreeDigest::new();
        c.add("/a", b"1", &s);
        assert_eq!(b, c);
    }

    /// Nodes hashed side by side give each its own `node_hash`, whatever
    /// their lengths: equal, either longer, words whole or not, empty.
    #[test]
    fn node_hashes_are_node_hash_of_each() {
        let bytes: Vec<u8> = (0..128u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let text = "/abcdefghijklmnopqrstuvwxyz0123456789/ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let s1 = StatPersisted::default();
        let s2 = StatPersisted {
            czxid: 0x5_0000_0001,
            mzxid: -1,
            ctime: 1_765_000_000_000,
            version: 7,
            ephemeral_owner: 0x1234,
            ..s1
        };
        for (pa, pb) in [(0, 0), (1, 17), (17, 17), (24, 8), (9, 40), (64, 3)] {
            for (da, db) in [(0, 0), (100, 100), (100, 7), (16, 64), (0, 33)] {
                let a = (&text[..pa], &bytes[..da], &s1);
                let b = (&text[64 - pb..], &bytes[128 - db..], &s2);
                let one = |n: (&str, &[u8], &StatPersisted)| TreeDigest::node_hash(n.0, n.1, n.2);
                let why = format!("paths of {pa} and {pb} bytes, data of {da} and {db}");
                assert_eq!(TreeDigest::node_hashes([a, b]), [one(a), one(b)], "{why}");
                assert_eq!(
                    TreeDigest::node_hashes([a, b, a, a]),
                    [one(a), one(b), one(a), one(a)],
                    "{why}"
                );
                assert_eq!(TreeDigest::node_hashes([b]), [one(b)], "{why}");
            }
        }
    }

    #[test]
    fn digest_sees_path_data_boundary_and_stat() {
        let s = StatPersisted::default();
        let h = TreeDigest::node_hash;
        assert_ne!(h("/ab", b"c", &s), h("/a", b"bc", &s));
        let s2 = StatPersisted { version: 1, ..s };
        assert_ne!(h("/a", b"", &s), h("/a", b"", &s2));
    }
}
