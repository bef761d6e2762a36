//! Apache ZooKeeper's log files: `zab_storage::apache_log::decode_segment` over
//! arbitrary bytes, each transaction it yields decoded as our `Txn`.
//!
//! The first input byte is a mode: bit 0 puts a valid file header ("ZKLG",
//! version 2) in front of the rest and recomputes each record's Adler-32 (so
//! mutated lengths and payloads reach the later rules and the `Txn` decoder).
//!
//! Asserts: each decoded record re-encodes to exactly the bytes it was read
//! from, in order from the header on; a torn or clean end lies within the
//! input; a decoded `Txn` re-encodes to bytes that decode to the same value;
//! memory stays linear in the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zab_core::txn::Txn;
use zab_storage::apache_log::{adler32, decode_segment, encode_record, SegmentEnd};

/// Recomputes the checksum of each record that fits, walking as the reader does.
fn fix_crcs(file: &mut [u8]) {
    let mut off = 16;
    while off + 12 <= file.len() {
        let len = i32::from_be_bytes(file[off + 8..off + 12].try_into().unwrap());
        if len <= 0 || off + 12 + len as usize + 1 > file.len() {
            return;
        }
        let len = len as usize;
        let crc = adler32(&file[off + 12..off + 12 + len]) as u64;
        file[off..off + 8].copy_from_slice(&crc.to_be_bytes());
        off += 12 + len + 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = zk_fuzz::measure(|| {
        let mut file = Vec::new();
        if mode & 1 != 0 {
            file.extend_from_slice(b"ZKLG");
            file.extend_from_slice(&2i32.to_be_bytes());
            file.extend_from_slice(&0i64.to_be_bytes());
        }
        file.extend_from_slice(rest);
        if mode & 1 != 0 {
            fix_crcs(&mut file);
        }
        if let Ok((entries, end)) = decode_segment(Path::new("log.fuzz"), &file) {
            let mut off = 16;
            for e in &entries {
                let r = encode_record(&e.txn);
                assert_eq!(&r[..], &file[off..off + r.len()], "record at {off}");
                off += r.len();
                zk_fuzz::round_trip::<Txn>("Txn in an Apache log record", &e.txn);
            }
            let (SegmentEnd::Clean { offset } | SegmentEnd::Torn { offset }) = end;
            assert_eq!(offset as usize, off);
            assert!(offset as usize <= file.len());
        }
    });
    zk_fuzz::assert_bounded("apache log", stats, rest.len(), 0, 32);
});
