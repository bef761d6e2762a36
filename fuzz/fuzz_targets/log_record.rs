//! Transaction-log bytes, record by record: zab-storage's `decode_record`
//! walked over the input as recovery walks a segment, the file header decoder,
//! and each record's payload decoded as the `Txn` ZooKeeper serializes.
//!
//! The first input byte is a mode: bit 0 recomputes the record checksums (so
//! mutated lengths and payloads get past the crcs to the later rules and to the
//! `Txn` decoder), bit 1 decodes the rest as one bare `Txn`.
//!
//! Asserts: a decoded record re-encodes to exactly the bytes it was decoded
//! from and the walk always moves forward; a decoded file header re-encodes to
//! its bytes; a decoded `Txn` re-encodes to bytes that decode to the same
//! value; memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zab_core::txn::Txn;
use zab_storage::record::{decode_record, encode_record, Decoded, FileHeader, FILE_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = zk_fuzz::measure(|| {
        if mode & 2 != 0 {
            zk_fuzz::round_trip::<Txn>("Txn", rest);
            return;
        }
        let mut file = rest.to_vec();
        if let Ok(h) = FileHeader::decode(&file) {
            assert_eq!(&h.encode()[..], &file[..FILE_HEADER_LEN]);
        }
        if mode & 1 != 0 {
            zk_fuzz::fix_record_crcs(&mut file, 0);
        }
        let mut off = 0;
        while let Ok(Decoded::Record {
            zxid,
            payload,
            next,
        }) = decode_record(&file, off)
        {
            assert!(next > off && next <= file.len());
            let mut again = Vec::new();
            encode_record(&mut again, zxid, payload);
            assert_eq!(&again[..], &file[off..next], "record at {off}");
            zk_fuzz::round_trip::<Txn>("Txn in a log record", payload);
            off = next;
        }
    });
    zk_fuzz::assert_bounded("log records", stats, rest.len(), 0, 32);
});
