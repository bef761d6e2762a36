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
        for x in [
            stat.czxid as u64,
            stat.mzxid as u64,
            stat.ctime as u64,
            stat.mtime as u64,
            stat.version as i64 as u64,
            stat.cversion as i64 as u64,
            stat.aversion as i64 as u64,
            stat.ephemeral_owner as u64,
            stat.pzxid as u64,
        ] {
            h = round(h, x);
        }
        fmix64(h)
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

#[inline]
fn absorb(mut h: u64, b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
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

    #[test]
    fn digest_sees_path_data_boundary_and_stat() {
        let s = StatPersisted::default();
        let h = TreeDigest::node_hash;
        assert_ne!(h("/ab", b"c", &s), h("/a", b"bc", &s));
        let s2 = StatPersisted { version: 1, ..s };
        assert_ne!(h("/a", b"", &s), h("/a", b"", &s2));
    }
}
