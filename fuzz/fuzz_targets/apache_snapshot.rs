//! Apache ZooKeeper's snapshot files: `zab_storage::apache_snapshot::decode_apache_snapshot`
//! over arbitrary bytes, the body it yields loaded into our tree (`zk_server::persist::load_db`).
//!
//! The first input byte is a mode: bit 0 wraps the rest in a valid file ("ZKSN" header,
//! the rest as the body, the Adler-32 seal), so mutated bodies reach the database reader
//! and the loader.
//!
//! Asserts: a body that decodes lies right after the header, and the file re-encoded
//! around it is the input up to its first seal; memory stays linear in the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zab_core::Zxid;
use zab_storage::apache_snapshot::{decode_apache_snapshot, encode_apache_snapshot};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = zk_fuzz::measure(|| {
        let file = if mode & 1 != 0 {
            encode_apache_snapshot(rest)
        } else {
            rest.to_vec()
        };
        if let Ok(body) = decode_apache_snapshot(Path::new("snapshot.fuzz"), &file, 1 << 16) {
            assert_eq!(body, &file[16..16 + body.len()]);
            // The same bytes up to the first seal, but for the dbid (ours is FileSnap's -1).
            let again = encode_apache_snapshot(body);
            assert_eq!(&again[..8], &file[..8]);
            assert_eq!(&again[16..], &file[16..again.len()]);
            let _ = zk_server::persist::load_db(body, mode & 2 != 0, Zxid(1), 1 << 16);
        }
    });
    zk_fuzz::assert_bounded("apache snapshot", stats, rest.len(), 1 << 16, 64);
});
