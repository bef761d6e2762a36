//! snappy-java's stream format (`zab_storage::snappy_stream`), which Apache ZooKeeper's
//! `snapshot.<zxid>.snappy` files are written in. The input is a file's bytes, with
//! snappy-java's header put in front when the first byte is odd.
//!
//! Asserts: decoding never panics and memory stays linear in the input (a chunk's
//! declared lengths are checked against the bytes there); what decodes, encoded again,
//! decodes to the same bytes.

use zab_storage::snappy_stream::{decode, encode, MAGIC};

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = crate::measure(|| {
        let file = if mode & 1 != 0 {
            let mut f = MAGIC.to_vec();
            f.extend([0, 0, 0, 1, 0, 0, 0, 1]);
            f.extend_from_slice(rest);
            f
        } else {
            rest.to_vec()
        };
        if let Ok(out) = decode(&file) {
            assert_eq!(decode(&encode(&out)).unwrap(), out);
        }
    });
    crate::assert_bounded("snappy stream", stats, rest.len(), 1 << 16, 128);
}
