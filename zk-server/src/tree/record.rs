//! A node's record: its name, its data and the part of its Stat that changes
//! only with its data or its ACL ([`Cold`]), in one allocation of exactly the
//! size they need, reached through a thin (one-word) pointer.
//!
//! ```text
//! record := varint(name_len) name varint(data_len) u8(stat_len) stat data
//! stat   := czxid zz(mzxid - czxid) ctime zz(mtime - ctime) zz(version) zz(aversion)
//! varint := LEB128, 7 bits a byte, low bits first
//! zz(x)  := the zigzag of x (0, -1, 1, -2 ... as 0, 1, 2, 3 ...), differences wrapping;
//!           czxid and ctime, never negative in practice, as plain u64 (10 bytes if negative)
//! ```
//!
//! Why: with 100-byte values a million znodes must fit in 200 bytes each.
//! Kept as fixed fields of `Node`, these six values take 40 bytes, and a
//! `Box<[u8]>` takes 16; as varints they take about 18 bytes in the record
//! (a real zxid is 5 bytes, a time in milliseconds 6, the differences and
//! versions mostly 1), and the pointer 8. Setting the data rebuilds the
//! record anyway, so keeping mzxid, mtime and version in it costs nothing
//! more; a setACL rebuilds it too (rare). What changes when children come
//! and go (cversion, pzxid, links) stays in `Node`, so that creating a child
//! never copies its parent's data.
//!
//! The record is well formed by construction ([`Record::new`] is the only
//! way to make one), which is what the raw reads below rely on.

use std::ptr::NonNull;

/// The part of a node's Stat kept in its record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cold {
    pub(super) czxid: i64,
    pub(super) mzxid: i64,
    pub(super) ctime: i64,
    pub(super) mtime: i64,
    pub(super) version: i32,
    pub(super) aversion: i32,
}

/// An owned record (see the module's grammar): a thin pointer to a boxed
/// byte slice whose length is read from its own prefix.
pub(super) struct Record(NonNull<u8>);

// SAFETY: a Record owns its allocation like a Box<[u8]> does and hands out
// only shared borrows of it through `&self`.
unsafe impl Send for Record {}
// SAFETY: as above; nothing mutates through `&Record`.
unsafe impl Sync for Record {}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Append a varint to `buf[*n..]`; moves `*n` past it.
fn put_varint(buf: &mut [u8], n: &mut usize, mut v: u64) {
    while v >= 0x80 {
        buf[*n] = (v as u8) | 0x80;
        *n += 1;
        v >>= 7;
    }
    buf[*n] = v as u8;
    *n += 1;
}

/// A varint at `b[*i..]`; moves `*i` past it.
fn get_varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// A varint at `p + *i` of a record; moves `*i` past it.
///
/// # Safety
/// `p` points at a record built by [`Record::new`] and `*i` at one of its varints.
unsafe fn raw_varint(p: *const u8, i: &mut usize) -> usize {
    let (mut v, mut shift) = (0usize, 0);
    loop {
        // SAFETY: the caller's promise: the varint lies inside the record.
        let byte = unsafe { *p.add(*i) };
        *i += 1;
        v |= ((byte & 0x7f) as usize) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// The stat's varints: six of at most 10 bytes each.
fn encode_stat(c: &Cold) -> ([u8; 60], usize) {
    let (mut out, mut n) = ([0u8; 60], 0);
    put_varint(&mut out, &mut n, c.czxid as u64);
    put_varint(&mut out, &mut n, zigzag(c.mzxid.wrapping_sub(c.czxid)));
    put_varint(&mut out, &mut n, c.ctime as u64);
    put_varint(&mut out, &mut n, zigzag(c.mtime.wrapping_sub(c.ctime)));
    put_varint(&mut out, &mut n, zigzag(c.version as i64));
    put_varint(&mut out, &mut n, zigzag(c.aversion as i64));
    (out, n)
}

impl Record {
    pub(super) fn new(name: &[u8], data: &[u8], cold: &Cold) -> Record {
        let (stat, stat_len) = encode_stat(cold);
        let (mut head, mut h) = ([0u8; 10], 0);
        put_varint(&mut head, &mut h, name.len() as u64);
        let (mut mid, mut m) = ([0u8; 11], 0);
        put_varint(&mut mid, &mut m, data.len() as u64);
        mid[m] = stat_len as u8;
        m += 1;
        let mut v = Vec::with_capacity(h + name.len() + m + stat_len + data.len());
        v.extend_from_slice(&head[..h]);
        v.extend_from_slice(name);
        v.extend_from_slice(&mid[..m]);
        v.extend_from_slice(&stat[..stat_len]);
        v.extend_from_slice(data);
        debug_assert_eq!(v.len(), v.capacity());
        // Exact size: the allocation is what the footprint counts.
        let b: Box<[u8]> = v.into_boxed_slice();
        let p = Box::into_raw(b).cast::<u8>();
        Record(NonNull::new(p).expect("a box is never null"))
    }

    /// The whole record.
    fn bytes(&self) -> &[u8] {
        let p = self.0.as_ptr();
        let mut i = 0;
        // SAFETY: `p` is a record built by `new`; the reads follow its
        // grammar, so each lies inside it, and the length computed is the
        // boxed slice's, which lives as long as `self`.
        unsafe {
            let name_len = raw_varint(p, &mut i);
            i += name_len;
            let data_len = raw_varint(p, &mut i);
            let stat_len = *p.add(i) as usize;
            std::slice::from_raw_parts(p, i + 1 + stat_len + data_len)
        }
    }

    /// The name: on the path index's probe, so read without the rest.
    pub(super) fn name(&self) -> &[u8] {
        let p = self.0.as_ptr();
        let mut i = 0;
        // SAFETY: as in `bytes`: the name follows its length inside the record.
        unsafe {
            let name_len = raw_varint(p, &mut i);
            std::slice::from_raw_parts(p.add(i), name_len)
        }
    }

    /// Ask the CPU to bring the record's start (its name) into the cache.
    pub(super) fn prefetch(&self) {
        // SAFETY: the pointer is to a live record, never empty.
        super::index::prefetch_read(unsafe { &*self.0.as_ptr() });
    }

    /// Ask the CPU to bring the record's first `lines` cache lines into the
    /// cache, without reading it (its length is unknown until its start is
    /// in the cache): lines past its end are only wasted hints.
    pub(super) fn prefetch_lines(&self, lines: usize) {
        let p = self.0.as_ptr();
        for l in 0..lines {
            super::index::prefetch_addr(p.wrapping_add(64 * l));
        }
    }

    /// Name, data and the stat's bytes, split.
    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        let b = self.bytes();
        let mut i = 0;
        let name_len = get_varint(b, &mut i) as usize;
        let name = &b[i..i + name_len];
        i += name_len;
        let data_len = get_varint(b, &mut i) as usize;
        let stat_len = b[i] as usize;
        let stat = &b[i + 1..i + 1 + stat_len];
        let data = &b[i + 1 + stat_len..];
        debug_assert_eq!(data.len(), data_len);
        (name, data, stat)
    }

    pub(super) fn data(&self) -> &[u8] {
        self.parts().1
    }

    pub(super) fn cold(&self) -> Cold {
        let s = self.parts().2;
        let mut i = 0;
        let czxid = get_varint(s, &mut i) as i64;
        let mzxid = czxid.wrapping_add(unzigzag(get_varint(s, &mut i)));
        let ctime = get_varint(s, &mut i) as i64;
        let mtime = ctime.wrapping_add(unzigzag(get_varint(s, &mut i)));
        let version = unzigzag(get_varint(s, &mut i)) as i32;
        let aversion = unzigzag(get_varint(s, &mut i)) as i32;
        Cold {
            czxid,
            mzxid,
            ctime,
            mtime,
            version,
            aversion,
        }
    }

    /// This record with other data and cold Stat (the name kept).
    pub(super) fn with(&self, data: &[u8], cold: &Cold) -> Record {
        Record::new(self.name(), data, cold)
    }

    /// Bytes the record's allocation asks for (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.bytes().len()
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let len = self.bytes().len();
        // SAFETY: the pointer and length are those of the Box<[u8]> that
        // `new` leaked, and this is the only place it is taken back.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.0.as_ptr(),
                len,
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        let colds = [
            Cold::default(),
            Cold {
                czxid: 0x1_0000_0001,
                mzxid: 0x1_0000_0005,
                ctime: 1_765_000_000_000,
                mtime: 1_765_000_000_250,
                version: 3,
                aversion: -1,
            },
            Cold {
                czxid: i64::MAX,
                mzxid: i64::MIN,
                ctime: i64::MIN,
                mtime: i64::MAX,
                version: i32::MIN,
                aversion: i32::MAX,
            },
        ];
        let long_name = vec![b'n'; 300];
        let big = vec![7u8; 70_000];
        for c in &colds {
            for (name, data) in [
                (&b""[..], &b""[..]),
                (&b"k00000000000001"[..], &[b'v'; 100][..]),
                (&long_name[..], &big[..]),
            ] {
                let r = Record::new(name, data, c);
                assert_eq!(r.name(), name);
                assert_eq!(r.data(), data);
                assert_eq!(r.cold(), *c);
                let r2 = r.with(b"x", c);
                assert_eq!((r2.name(), r2.data(), r2.cold()), (name, &b"x"[..], *c));
            }
        }
    }

    /// What the footprint is budgeted on: a 14-byte name, 100 bytes of
    /// data and a real zxid and time take 18 bytes besides them.
    #[test]
    fn typical_record_size() {
        let c = Cold {
            czxid: 0x5_0012_3456,
            mzxid: 0x5_0012_3456,
            ctime: 1_765_000_000_000,
            mtime: 1_765_000_000_000,
            version: 0,
            aversion: 0,
        };
        let r = Record::new(&[b'n'; 14], &[b'v'; 100], &c);
        assert_eq!(r.len(), 114 + 18);
    }
}
