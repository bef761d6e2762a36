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

/// Bytes of `v` as a varint: 1 to 10.
fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 still takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The stat's six values as they are written, in order (see the grammar).
fn stat_values(c: &Cold) -> [u64; 6] {
    [
        c.czxid as u64,
        zigzag(c.mzxid.wrapping_sub(c.czxid)),
        c.ctime as u64,
        zigzag(c.mtime.wrapping_sub(c.ctime)),
        zigzag(c.version as i64),
        zigzag(c.aversion as i64),
    ]
}

/// Write `v` as a varint at `p`; returns `p` just past it.
///
/// # Safety
/// `p` has room for [`varint_len`]`(v)` bytes.
unsafe fn write_varint(mut p: *mut u8, mut v: u64) -> *mut u8 {
    while v >= 0x80 {
        // SAFETY: the caller's promise: room for every byte of the varint.
        unsafe {
            p.write((v as u8) | 0x80);
            p = p.add(1);
        }
        v >>= 7;
    }
    // SAFETY: as above, the last byte.
    unsafe {
        p.write(v as u8);
        p.add(1)
    }
}

impl Record {
    /// One allocation of exactly the record's size, written in place: the
    /// varints straight into it and one copy each of the name and the data
    /// (a snapshot's load makes a million of these on its critical path).
    pub(super) fn new(name: &[u8], data: &[u8], cold: &Cold) -> Record {
        let stat = stat_values(cold);
        let stat_len: usize = stat.iter().map(|&v| varint_len(v)).sum();
        let len = varint_len(name.len() as u64)
            + name.len()
            + varint_len(data.len() as u64)
            + 1
            + stat_len
            + data.len();
        // The layout of a Box<[u8]> of `len` bytes, which `drop` rebuilds
        // (never zero-sized: the lengths take at least three bytes).
        let layout = std::alloc::Layout::array::<u8>(len).expect("a record fits in memory");
        // SAFETY: the layout is not zero-sized (above).
        let start = unsafe { std::alloc::alloc(layout) };
        let Some(start) = NonNull::new(start) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: the writes below add up to exactly `len` bytes (the sum
        // above, part by part), so each lies inside the allocation, and the
        // sources are slices that cannot overlap a fresh allocation.
        unsafe {
            let mut p = write_varint(start.as_ptr(), name.len() as u64);
            std::ptr::copy_nonoverlapping(name.as_ptr(), p, name.len());
            p = write_varint(p.add(name.len()), data.len() as u64);
            p.write(stat_len as u8);
            p = p.add(1);
            for v in stat {
                p = write_varint(p, v);
            }
            std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
            debug_assert_eq!(p.add(data.len()), start.as_ptr().add(len));
        }
        Record(start)
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

    /// `new` sizes the allocation from `varint_len` before writing: each
    /// length must be the number of bytes the varint takes, at every step
    /// of 7 bits (a wrong one writes past the allocation or leaves a gap).
    #[test]
    fn varint_len_is_the_bytes_written() {
        let mut values = vec![0u64, 1, u64::MAX];
        for bits in 1..64 {
            values.extend([(1u64 << bits) - 1, 1u64 << bits, (1u64 << bits) + 1]);
        }
        for v in values {
            let mut written = 1;
            let mut w = v;
            while w >= 0x80 {
                written += 1;
                w >>= 7;
            }
            assert_eq!(varint_len(v), written, "{v:#x}");
            let mut buf = [0u8; 10];
            // SAFETY: ten bytes hold any varint of a u64.
            let end = unsafe { write_varint(buf.as_mut_ptr(), v) };
            let n = end as usize - buf.as_ptr() as usize;
            assert_eq!(n, written, "{v:#x}");
            let mut i = 0;
            assert_eq!((get_varint(&buf, &mut i), i), (v, n), "{v:#x}");
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
